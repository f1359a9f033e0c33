//! CPU kernels for the two element-wise hot spots of the encoder: softmax over 1500-wide
//! attention rows and the erf GELU of the feed-forward layers. candle's CPU versions call
//! scalar `libm` `expf`/`erff` per element; these use polynomial approximations accurate to a
//! few float32 ulps that the compiler vectorises, and split rows across the rayon pool. Other
//! devices and dtypes fall back to candle's own ops.

use candle_core::{CpuStorage, DType, InplaceOp1, Layout, Result, Tensor};
use rayon::prelude::*;

/// `e^x` for float32 by range reduction (`x = n·ln2 + r`) and a degree-6 polynomial; relative
/// error below 2e-7 on the range where `e^x` is a normal float, 0 below it.
#[inline(always)]
fn exp_approx(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // Round to nearest without `round()`, which baseline x86-64 cannot vectorise.
    const SHIFT: f32 = 12_582_912.0; // 1.5 · 2^23
    let x = x.clamp(-87.3, 88.7);
    let n = (x * LOG2E + SHIFT) - SHIFT;
    let r = x - n * LN2_HI - n * LN2_LO;
    let p = 1.0
        + r * (1.0
            + r * (0.5
                + r * (0.166_666_67
                    + r * (0.041_666_668 + r * (0.008_333_334 + r * 0.001_388_889)))));
    let scale = f32::from_bits(((n as i32 + 127) << 23) as u32);
    p * scale
}

/// `erf(x)` (Abramowitz & Stegun 7.1.26 with the exponential above): absolute error < 2e-7.
#[inline(always)]
fn erf_approx(x: f32) -> f32 {
    let a = x.abs();
    let t = 1.0 / (1.0 + 0.327_591_1 * a);
    let y = 1.0
        - t * (0.254_829_6
            + t * (-0.284_496_74 + t * (1.421_413_7 + t * (-1.453_152_1 + t * 1.061_405_4))))
            * exp_approx(-a * a);
    if x < 0.0 { -y } else { y }
}

fn contiguous_f32<'a>(
    storage: &'a mut CpuStorage,
    layout: &Layout,
    op: &str,
) -> Result<&'a mut [f32]> {
    let CpuStorage::F32(data) = storage else {
        candle_core::bail!("{op}: expected f32");
    };
    let Some((start, end)) = layout.contiguous_offsets() else {
        candle_core::bail!("{op}: expected a contiguous tensor");
    };
    Ok(&mut data[start..end])
}

struct SoftmaxLastDim;

impl InplaceOp1 for SoftmaxLastDim {
    fn name(&self) -> &'static str {
        "softmax-last-dim-approx"
    }

    fn cpu_fwd(&self, storage: &mut CpuStorage, layout: &Layout) -> Result<()> {
        let dim = layout.dims().last().copied().unwrap_or(1).max(1);
        let data = contiguous_f32(storage, layout, self.name())?;
        data.par_chunks_mut(dim).with_min_len(64).for_each(|row| {
            let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let mut sum = 0.0;
            for v in row.iter_mut() {
                *v = exp_approx(*v - max);
                sum += *v;
            }
            let inv = 1.0 / sum;
            row.iter_mut().for_each(|v| *v *= inv);
        });
        Ok(())
    }
}

struct GeluErf;

impl InplaceOp1 for GeluErf {
    fn name(&self) -> &'static str {
        "gelu-erf-approx"
    }

    fn cpu_fwd(&self, storage: &mut CpuStorage, layout: &Layout) -> Result<()> {
        let data = contiguous_f32(storage, layout, self.name())?;
        data.par_chunks_mut(4096).for_each(|chunk| {
            for v in chunk.iter_mut() {
                let x = *v;
                *v = 0.5 * x * (1.0 + erf_approx(x * std::f32::consts::FRAC_1_SQRT_2));
            }
        });
        Ok(())
    }
}

fn fast_path(t: &Tensor) -> bool {
    t.device().is_cpu() && t.dtype() == DType::F32
}

/// Softmax over the last dimension. Takes `t` by value: on the CPU it is overwritten, so it
/// must be a temporary no other tensor shares (a matmul output).
pub fn softmax_last_dim(t: Tensor) -> Result<Tensor> {
    if fast_path(&t) {
        let t = t.contiguous()?;
        t.inplace_op1(&SoftmaxLastDim)?;
        Ok(t)
    } else {
        candle_nn::ops::softmax_last_dim(&t)
    }
}

/// GELU with the exact (erf) form Whisper was trained with; like [`softmax_last_dim`], it
/// overwrites a CPU temporary.
pub fn gelu_erf(t: Tensor) -> Result<Tensor> {
    if fast_path(&t) {
        let t = t.contiguous()?;
        t.inplace_op1(&GeluErf)?;
        Ok(t)
    } else {
        t.gelu_erf()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_and_erf_match_libm() {
        let mut worst_exp = 0f64;
        let mut worst_erf = 0f64;
        for i in -20_000..=20_000 {
            let x = i as f32 * 0.004; // −80 … 80
            let e = f64::from(exp_approx(x));
            let want = f64::from(x).exp();
            if want > 1e-30 {
                worst_exp = worst_exp.max(((e - want) / want).abs());
            }
            let y = x / 16.0;
            worst_erf = worst_erf.max((f64::from(erf_approx(y)) - libm_erf(f64::from(y))).abs());
        }
        assert!(worst_exp < 3e-7, "exp relative error {worst_exp}");
        assert!(worst_erf < 1e-6, "erf absolute error {worst_erf}");
    }

    /// erf by its Taylor series (|x| < 3) or its asymptotic tail, in f64, for reference.
    fn libm_erf(x: f64) -> f64 {
        if x.abs() > 3.0 {
            let t = 1.0 / (x * x);
            let tail = (-x * x).exp() / (x.abs() * std::f64::consts::PI.sqrt())
                * (1.0 - 0.5 * t + 0.75 * t * t);
            return x.signum() * (1.0 - tail);
        }
        let mut term = x;
        let mut sum = x;
        for n in 1..200 {
            term *= -x * x / n as f64;
            sum += term / (2 * n + 1) as f64;
        }
        sum * 2.0 / std::f64::consts::PI.sqrt()
    }

    fn values(t: candle_core::Result<Tensor>) -> Vec<f32> {
        t.and_then(|t| t.flatten_all())
            .and_then(|t| t.to_vec1::<f32>())
            .expect("tensor values")
    }

    fn max_diff(a: &[f32], b: &[f32]) -> f32 {
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0f32, f32::max)
    }

    #[test]
    fn ops_match_candle() {
        let dev = candle_core::Device::Cpu;
        let v: Vec<f32> = (0..3000)
            .map(|i| ((i * 7919) % 1000) as f32 / 100.0 - 5.0)
            .collect();
        let t = Tensor::from_vec(v, (2, 1500), &dev).expect("tensor");
        let ours = values(t.copy().and_then(softmax_last_dim));
        let theirs = values(candle_nn::ops::softmax_last_dim(&t));
        assert!(max_diff(&ours, &theirs) < 1e-7, "softmax");
        let ours = values(t.copy().and_then(gelu_erf));
        let theirs = values(t.gelu_erf());
        assert!(max_diff(&ours, &theirs) < 2e-6, "gelu");
    }
}
