//! CPU kernels for the two element-wise hot spots of the encoder: softmax over 1500-wide
//! attention rows and the erf GELU of the feed-forward layers. candle's CPU versions call
//! scalar `libm` `expf`/`erff` per element; these use polynomial approximations accurate to a
//! few float32 ulps that the compiler vectorises, and split rows across the rayon pool. Other
//! devices and dtypes fall back to candle's own ops.

use candle_core::{CpuStorage, CustomOp2, DType, InplaceOp1, Layout, Result, Shape, Tensor};
use half::slice::HalfFloatSliceExt;
use rayon::prelude::*;
use songforge_inference::dot_f32 as dot;

/// `e^x` for float32 by range reduction (`x = n·ln2 + r`) and a degree-6 polynomial; relative
/// error below 2e-7 on the range where `e^x` is a normal float, 0 below it.
#[inline(always)]
fn exp_approx(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // Round to nearest without `round()`, which baseline x86-64 cannot vectorise.
    const SHIFT: f32 = 12_582_912.0; // 1.5 · 2^23
    // `max`/`min` rather than `clamp`, and the integer read from the shifted value's bits
    // rather than `as i32`: both keep the loop free of branches, so it vectorises.
    #[allow(clippy::manual_clamp)] // clamp's NaN branch is what stops vectorisation
    let x = x.max(-87.3).min(88.7);
    let z = x * LOG2E + SHIFT;
    let n = z - SHIFT;
    let r = x - n * LN2_HI - n * LN2_LO;
    let p = 1.0
        + r * (1.0
            + r * (0.5
                + r * (0.166_666_67
                    + r * (0.041_666_668 + r * (0.008_333_334 + r * 0.001_388_889)))));
    // z = SHIFT + n exactly (its ulp is 1), so the low bits of z are n.
    let n = z.to_bits().wrapping_sub(SHIFT.to_bits());
    let scale = f32::from_bits(n.wrapping_add(127).wrapping_shl(23));
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
        let wide = songforge_inference::has_avx2_fma();
        data.par_chunks_mut(dim).with_min_len(64).for_each(|row| {
            #[cfg(target_arch = "x86_64")]
            if wide {
                // SAFETY: the CPU reports AVX2 and FMA, all `softmax_row_avx2` is built for.
                return unsafe { softmax_row_avx2(row) };
            }
            softmax_row(row)
        });
        Ok(())
    }
}

/// One softmax row. The sum runs in eight lanes so the loop vectorises (a single running f32
/// sum has to be added in order, one value at a time).
#[inline(always)]
fn softmax_row(row: &mut [f32]) {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    for v in row.iter_mut() {
        *v = exp_approx(*v - max);
    }
    let mut lanes = [0f32; 8];
    let mut chunks = row.chunks_exact(8);
    for c in &mut chunks {
        for l in 0..8 {
            lanes[l] += c[l];
        }
    }
    let sum = lanes.iter().sum::<f32>() + chunks.remainder().iter().sum::<f32>();
    let inv = 1.0 / sum;
    for v in row.iter_mut() {
        *v *= inv;
    }
}

/// [`softmax_row`] compiled for AVX2: eight exponentials per instruction instead of four.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn softmax_row_avx2(row: &mut [f32]) {
    softmax_row(row)
}

/// GELU over a chunk, in place.
#[inline(always)]
fn gelu_chunk(chunk: &mut [f32]) {
    for v in chunk.iter_mut() {
        let x = *v;
        *v = 0.5 * x * (1.0 + erf_approx(x * std::f32::consts::FRAC_1_SQRT_2));
    }
}

/// [`gelu_chunk`] compiled for AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn gelu_chunk_avx2(chunk: &mut [f32]) {
    gelu_chunk(chunk)
}

struct GeluErf;

impl InplaceOp1 for GeluErf {
    fn name(&self) -> &'static str {
        "gelu-erf-approx"
    }

    fn cpu_fwd(&self, storage: &mut CpuStorage, layout: &Layout) -> Result<()> {
        let data = contiguous_f32(storage, layout, self.name())?;
        let wide = songforge_inference::has_avx2_fma();
        data.par_chunks_mut(4096).for_each(|chunk| {
            #[cfg(target_arch = "x86_64")]
            if wide {
                // SAFETY: the CPU reports AVX2 and FMA, all `gelu_chunk_avx2` is built for.
                return unsafe { gelu_chunk_avx2(chunk) };
            }
            gelu_chunk(chunk)
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

/// `w · x` for one f16 weight row, with AVX2/FMA/F16C: 16 weights widened and multiplied per
/// iteration, never materialising the f32 row.
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C, and `x` must be at least as long as `w`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn dot_f16_avx2(w: &[half::f16], x: &[f32]) -> f32 {
    use std::arch::x86_64::*;
    let n = w.len().min(x.len());
    let (wp, xp) = (w.as_ptr(), x.as_ptr());
    // Four independent FMA chains hide the FMA latency.
    let mut acc = [_mm256_setzero_ps(); 4];
    let mut i = 0;
    // SAFETY: every load reads 32 elements at i < n - 31 of slices at least n long.
    unsafe {
        while i + 32 <= n {
            for (j, a) in acc.iter_mut().enumerate() {
                let wv = _mm256_cvtph_ps(_mm_loadu_si128(wp.add(i + 8 * j).cast::<__m128i>()));
                *a = _mm256_fmadd_ps(wv, _mm256_loadu_ps(xp.add(i + 8 * j)), *a);
            }
            i += 32;
        }
    }
    let sum = _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]));
    let mut lanes = [0f32; 8];
    // SAFETY: `lanes` holds exactly 8 floats.
    unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), sum) };
    lanes.iter().sum::<f32>() + (i..n).map(|j| w[j].to_f32() * x[j]).sum::<f32>()
}

/// `w · x_i` for `R` rows `x_i` (row-major in `xs`, `k` long each) in one pass over the f16
/// weight row: each widened weight vector feeds one FMA chain per row. `R` is a constant so
/// the accumulators live in registers.
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C; `w` must be `k` long, `xs` `R·k`, `out` `R`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn dots_f16_avx2<const R: usize>(w: &[half::f16], xs: &[f32], k: usize, out: &mut [f32]) {
    use std::arch::x86_64::*;
    let mut acc = [_mm256_setzero_ps(); R];
    let mut i = 0;
    // SAFETY: every load reads 8 elements at i < k - 7 of rows k long.
    unsafe {
        while i + 8 <= k {
            let wv = _mm256_cvtph_ps(_mm_loadu_si128(w.as_ptr().add(i).cast::<__m128i>()));
            for (r, a) in acc.iter_mut().enumerate() {
                *a = _mm256_fmadd_ps(wv, _mm256_loadu_ps(xs.as_ptr().add(r * k + i)), *a);
            }
            i += 8;
        }
    }
    for r in 0..R {
        let mut lanes = [0f32; 8];
        // SAFETY: `lanes` holds exactly 8 floats.
        unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), acc[r]) };
        out[r] =
            lanes.iter().sum::<f32>() + (i..k).map(|j| w[j].to_f32() * xs[r * k + j]).sum::<f32>();
    }
}

/// [`dots_f16_avx2`] for two weight rows at once: each 8 inputs of every row of `xs` are loaded
/// once for both, so a step with beams does about 0.7 loads per multiply-add instead of 1.2
/// (the kernel is bound by loads, not arithmetic). Same sums in the same order as two calls of
/// [`dots_f16_avx2`].
///
/// # Safety
/// As for [`dots_f16_avx2`], for both rows `w0` and `w1`; `out` is `2·R` long (row 0's `R`
/// results, then row 1's).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn dots2_f16_avx2<const R: usize>(
    w0: &[half::f16],
    w1: &[half::f16],
    xs: &[f32],
    k: usize,
    out: &mut [f32],
) {
    use std::arch::x86_64::*;
    let mut acc0 = [_mm256_setzero_ps(); R];
    let mut acc1 = [_mm256_setzero_ps(); R];
    let mut i = 0;
    // SAFETY: every load reads 8 elements at i < k - 7 of rows k long.
    unsafe {
        while i + 8 <= k {
            let a = _mm256_cvtph_ps(_mm_loadu_si128(w0.as_ptr().add(i).cast::<__m128i>()));
            let b = _mm256_cvtph_ps(_mm_loadu_si128(w1.as_ptr().add(i).cast::<__m128i>()));
            for r in 0..R {
                let x = _mm256_loadu_ps(xs.as_ptr().add(r * k + i));
                acc0[r] = _mm256_fmadd_ps(a, x, acc0[r]);
                acc1[r] = _mm256_fmadd_ps(b, x, acc1[r]);
            }
            i += 8;
        }
    }
    for (half, (w, acc)) in [(w0, &acc0), (w1, &acc1)].into_iter().enumerate() {
        for r in 0..R {
            let mut lanes = [0f32; 8];
            // SAFETY: `lanes` holds exactly 8 floats.
            unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), acc[r]) };
            out[half * R + r] = lanes.iter().sum::<f32>()
                + (i..k).map(|j| w[j].to_f32() * xs[r * k + j]).sum::<f32>();
        }
    }
}

/// Dispatches [`dots2_f16_avx2`] on the row count.
///
/// # Safety
/// As for [`dots2_f16_avx2`], with `2 ≤ rows ≤ 6` (two rows' accumulators must fit the 16
/// vector registers).
#[cfg(target_arch = "x86_64")]
unsafe fn dots2_rows(
    w0: &[half::f16],
    w1: &[half::f16],
    xs: &[f32],
    k: usize,
    rows: usize,
    out: &mut [f32],
) {
    // SAFETY: forwarded from the caller.
    unsafe {
        match rows {
            2 => dots2_f16_avx2::<2>(w0, w1, xs, k, out),
            3 => dots2_f16_avx2::<3>(w0, w1, xs, k, out),
            4 => dots2_f16_avx2::<4>(w0, w1, xs, k, out),
            5 => dots2_f16_avx2::<5>(w0, w1, xs, k, out),
            _ => dots2_f16_avx2::<6>(w0, w1, xs, k, out),
        }
    }
}

/// Dispatches [`dots_f16_avx2`] on the row count.
///
/// # Safety
/// As for [`dots_f16_avx2`], with `2 ≤ rows ≤ 8`.
#[cfg(target_arch = "x86_64")]
unsafe fn dots_rows(w: &[half::f16], xs: &[f32], k: usize, rows: usize, out: &mut [f32]) {
    // SAFETY: forwarded from the caller.
    unsafe {
        match rows {
            2 => dots_f16_avx2::<2>(w, xs, k, out),
            3 => dots_f16_avx2::<3>(w, xs, k, out),
            4 => dots_f16_avx2::<4>(w, xs, k, out),
            5 => dots_f16_avx2::<5>(w, xs, k, out),
            6 => dots_f16_avx2::<6>(w, xs, k, out),
            7 => dots_f16_avx2::<7>(w, xs, k, out),
            _ => dots_f16_avx2::<8>(w, xs, k, out),
        }
    }
}

/// Whether the CPU has AVX2, FMA and F16C (asked once).
fn has_avx2_f16c() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        use std::sync::OnceLock;
        static F16C: OnceLock<bool> = OnceLock::new();
        songforge_inference::has_avx2_fma()
            && *F16C.get_or_init(|| std::is_x86_feature_detected!("f16c"))
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// `x · wᵀ` for a few rows of `x` (`[M, K]` f32) against f16 weights `[N, K]`: each weight row
/// is widened once into a small buffer and dotted with every row of `x`. Decoding steps are
/// matrix-vector products bound by how many weight bytes they stream; f16 halves that.
struct MatVecF16;

/// Rows of weights per parallel task.
const ROWS_PER_TASK: usize = 64;

impl CustomOp2 for MatVecF16 {
    fn name(&self) -> &'static str {
        "matvec-f16"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (CpuStorage::F32(x), CpuStorage::F16(w)) = (s1, s2) else {
            candle_core::bail!("matvec-f16: expected f32 inputs and f16 weights");
        };
        let (Some((x0, x1)), Some((w0, w1))) = (l1.contiguous_offsets(), l2.contiguous_offsets())
        else {
            candle_core::bail!("matvec-f16: expected contiguous tensors");
        };
        let (x, w) = (&x[x0..x1], &w[w0..w1]);
        let (&[m, k], &[n, k2]) = (l1.dims(), l2.dims()) else {
            candle_core::bail!("matvec-f16: expected 2-D tensors");
        };
        if k != k2 {
            candle_core::bail!("matvec-f16: inner sizes {k} and {k2} differ");
        }
        let simd = has_avx2_f16c();
        let mut out_t = vec![0f32; n * m];
        out_t
            .par_chunks_mut(m * ROWS_PER_TASK)
            .enumerate()
            .for_each(|(task, chunk)| {
                #[cfg(target_arch = "x86_64")]
                if simd && (2..=6).contains(&m) {
                    // Beams: weight rows in pairs (an odd last row alone).
                    let mut pairs = chunk.chunks_mut(2 * m);
                    for (j, out) in (&mut pairs).enumerate() {
                        let r = task * ROWS_PER_TASK + 2 * j;
                        let w0 = &w[r * k..(r + 1) * k];
                        if out.len() == 2 * m {
                            let w1 = &w[(r + 1) * k..(r + 2) * k];
                            // SAFETY: features detected above; rows are k long, x holds m
                            // rows of k, `out` 2·m.
                            unsafe { dots2_rows(w0, w1, x, k, m, out) };
                        } else {
                            // SAFETY: as above, one row.
                            unsafe { dots_rows(w0, x, k, m, out) };
                        }
                    }
                    return;
                }
                let mut row = vec![0f32; k];
                for (j, out) in chunk.chunks_mut(m).enumerate() {
                    let r = task * ROWS_PER_TASK + j;
                    let wr = &w[r * k..(r + 1) * k];
                    if simd && m == 1 {
                        // SAFETY: the features were detected above; both rows are k long.
                        #[cfg(target_arch = "x86_64")]
                        {
                            out[0] = unsafe { dot_f16_avx2(wr, &x[..k]) };
                        }
                    } else if simd && m <= 8 {
                        // Several rows (beams): one pass over the weight row for all of them.
                        #[cfg(target_arch = "x86_64")]
                        // SAFETY: as above; `x` holds m rows of k, 1 < m ≤ 8.
                        unsafe {
                            dots_rows(wr, x, k, m, out);
                        }
                    } else {
                        wr.convert_to_f32_slice(&mut row);
                        for (i, o) in out.iter_mut().enumerate() {
                            *o = dot(&row, &x[i * k..(i + 1) * k]);
                        }
                    }
                }
            });
        let mut out = vec![0f32; m * n];
        for r in 0..n {
            for i in 0..m {
                out[i * n + r] = out_t[r * m + i];
            }
        }
        Ok((CpuStorage::F32(out), Shape::from((m, n))))
    }
}

/// `x · wᵀ` with f16 weights on the CPU (`x`: `[M, K]` f32, `w`: `[N, K]` f16) → `[M, N]` f32.
pub fn matvec_f16(x: &Tensor, w: &Tensor) -> Result<Tensor> {
    x.contiguous()?.apply_op2_no_bwd(w, &MatVecF16)
}

/// `softmax(q·kᵀ·scale)·v` for the few query rows of a decoding step, one rayon task per
/// key/value slice (head, or head of one beam). candle ran these as small batched matmuls, one
/// head after another on one thread; here every head's keys are read once for all its rows.
struct StepAttention {
    scale: f32,
}

/// The scores of query rows (`q`, `[r, d]`) over `s` keys stored transposed (`kt`, `[d, s]`),
/// softmaxed, then the weighted sum of the values (`v`, `[s, d]`) into `out` (`[r, d]`). `w`
/// is scratch of `r·s`.
#[inline(always)]
fn attend_slice(
    q: &[f32],
    kt: &[f32],
    v: &[f32],
    (d, s): (usize, usize),
    scale: f32,
    w: &mut [f32],
    out: &mut [f32],
) {
    w.fill(0.0);
    for (dd, krow) in kt.chunks_exact(s).enumerate().take(d) {
        for (i, wi) in w.chunks_exact_mut(s).enumerate() {
            let qv = q[i * d + dd] * scale;
            for (a, &k) in wi.iter_mut().zip(krow) {
                *a += qv * k;
            }
        }
    }
    for (wi, oi) in w.chunks_exact_mut(s).zip(out.chunks_exact_mut(d)) {
        softmax_row(wi);
        oi.fill(0.0);
        for (&p, vrow) in wi.iter().zip(v.chunks_exact(d)) {
            for (o, &x) in oi.iter_mut().zip(vrow) {
                *o += p * x;
            }
        }
    }
}

/// [`attend_slice`] compiled for AVX2 and FMA.
///
/// # Safety
/// The CPU must support AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn attend_slice_avx2(
    q: &[f32],
    kt: &[f32],
    v: &[f32],
    dims: (usize, usize),
    scale: f32,
    w: &mut [f32],
    out: &mut [f32],
) {
    attend_slice(q, kt, v, dims, scale, w, out)
}

impl candle_core::CustomOp3 for StepAttention {
    fn name(&self) -> &'static str {
        "step-attention"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (CpuStorage::F32(q), CpuStorage::F32(kt), CpuStorage::F32(v)) = (s1, s2, s3) else {
            candle_core::bail!("step-attention: expected f32 tensors");
        };
        let (Some(q0), Some(k0), Some(v0)) = (
            l1.contiguous_offsets(),
            l2.contiguous_offsets(),
            l3.contiguous_offsets(),
        ) else {
            candle_core::bail!("step-attention: expected contiguous tensors");
        };
        let (q, kt, v) = (&q[q0.0..q0.1], &kt[k0.0..k0.1], &v[v0.0..v0.1]);
        let (Ok((qb, qh, r, d)), Ok((kb, kh, d2, s)), Ok((vb, vh, s2, d3))) =
            (l1.shape().dims4(), l2.shape().dims4(), l3.shape().dims4())
        else {
            candle_core::bail!("step-attention: expected 4-D tensors");
        };
        if (qb, qh) != (kb, kh) || (kb, kh) != (vb, vh) || d != d2 || d != d3 || s != s2 {
            candle_core::bail!("step-attention: shapes {l1:?}, {l2:?}, {l3:?} do not match");
        }
        let wide = songforge_inference::has_avx2_fma();
        let mut out = vec![0f32; q.len()];
        out.par_chunks_mut(r * d)
            .zip(q.par_chunks(r * d))
            .zip(kt.par_chunks(d * s).zip(v.par_chunks(s * d)))
            .for_each(|((o, q), (kt, v))| {
                let mut w = vec![0f32; r * s];
                #[cfg(target_arch = "x86_64")]
                if wide {
                    // SAFETY: the CPU reports AVX2 and FMA, all `attend_slice_avx2` needs.
                    return unsafe { attend_slice_avx2(q, kt, v, (d, s), self.scale, &mut w, o) };
                }
                attend_slice(q, kt, v, (d, s), self.scale, &mut w, o)
            });
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }
}

/// Whether [`step_attention`] takes `q` (`[B, H, R, d]`) with at most `max_rows` rows.
pub fn step_attention_fits(q: &Tensor, max_rows: usize) -> bool {
    fast_path(q) && q.dim(2).is_ok_and(|r| r <= max_rows)
}

/// `softmax(q·kᵀ·scale)·v` without a mask: `q` `[B, H, R, d]`, keys transposed `[B, H, d, S]`,
/// values `[B, H, S, d]`, all f32 on the CPU (see [`step_attention_fits`]) → `[B, H, R, d]`.
pub fn step_attention(q: &Tensor, k_t: &Tensor, v: &Tensor, scale: f32) -> Result<Tensor> {
    q.contiguous()?.apply_op3_no_bwd(
        &k_t.contiguous()?,
        &v.contiguous()?,
        &StepAttention { scale },
    )
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

    #[test]
    fn step_attention_matches_softmax_of_matmuls() {
        let dev = candle_core::Device::Cpu;
        // Shared keys (one slice per head, several beam rows) and per-beam keys (one row),
        // with key counts that are not multiples of the vector width.
        for (b, h, r, d, s) in [(1, 8, 5, 64, 1500), (5, 8, 1, 64, 37), (2, 3, 8, 16, 9)] {
            let q = Tensor::randn(0f32, 1.0, (b, h, r, d), &dev).expect("q");
            let kt = Tensor::randn(0f32, 1.0, (b, h, d, s), &dev).expect("k");
            let v = Tensor::randn(0f32, 1.0, (b, h, s, d), &dev).expect("v");
            let scale = (d as f32).powf(-0.5);
            let ours = values(step_attention(&q, &kt, &v, scale));
            let theirs = values(
                (&q * f64::from(scale))
                    .and_then(|q| q.matmul(&kt))
                    .and_then(|w| candle_nn::ops::softmax_last_dim(&w))
                    .and_then(|w| w.matmul(&v)),
            );
            assert_eq!(ours.len(), b * h * r * d);
            let diff = max_diff(&ours, &theirs);
            assert!(diff < 1e-5, "{b}×{h}×{r}×{d} over {s}: {diff}");
        }
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
    fn f16_matvec_matches_a_widened_matmul() {
        let dev = candle_core::Device::Cpu;
        // An odd row count (a weight row left over from the pairs) and a width with a tail
        // past the last 8, for every beam count the kernels specialise.
        let w = Tensor::randn(0f32, 1.0, (201, 100), &dev)
            .and_then(|t| t.to_dtype(DType::F16))
            .expect("w");
        for m in [1, 2, 3, 5, 6, 7, 8, 9] {
            let x = Tensor::randn(0f32, 1.0, (m, 100), &dev).expect("x");
            let ours = values(matvec_f16(&x, &w));
            let theirs = values(
                w.to_dtype(DType::F32)
                    .and_then(|w| x.matmul(&w.t().expect("t"))),
            );
            assert_eq!(ours.len(), 201 * m);
            assert!(
                max_diff(&ours, &theirs) < 1e-4,
                "{m} rows: {}",
                max_diff(&ours, &theirs)
            );
        }
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
