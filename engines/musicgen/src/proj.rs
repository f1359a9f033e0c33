//! Bias-free projections for the decoder. A decoding step multiplies one or two rows (the
//! guidance rows) by every weight matrix; on the CPU a general matrix product first packs the
//! whole weight, which triples the memory traffic that bounds the step. So small batches on
//! the CPU stream each weight row once through a dot-product kernel split across the cores;
//! everything else (the text's keys and values, GPUs) goes through candle.

use candle_core::{DType, Device, Module, Result, Storage, Tensor};
use candle_nn::{Linear, VarBuilder};
use songforge_inference::dot_f32 as dot;

/// Rows up to which the streaming kernel is used.
const STREAM_ROWS: usize = 8;

/// `y = x Wᵀ` with `W` [out, in] as checkpoints store it.
pub struct Proj {
    linear: Linear,
    out_dim: usize,
    in_dim: usize,
}

impl Proj {
    /// Loads `weight` [out, in] from `vb`.
    pub fn load(in_dim: usize, out_dim: usize, vb: VarBuilder) -> Result<Self> {
        Ok(Proj {
            linear: candle_nn::linear_no_bias(in_dim, out_dim, vb)?,
            out_dim,
            in_dim,
        })
    }

    fn stream(&self, x: &Tensor) -> Result<Option<Tensor>> {
        let w = self.linear.weight();
        let rows = x.elem_count() / self.in_dim.max(1);
        if !matches!(x.device(), Device::Cpu)
            || x.dtype() != DType::F32
            || w.dtype() != DType::F32
            || rows == 0
            || rows > STREAM_ROWS
        {
            return Ok(None);
        }
        let (storage, layout) = w.storage_and_layout();
        let Storage::Cpu(cpu) = &*storage else {
            return Ok(None);
        };
        let Some((start, end)) = layout.contiguous_offsets() else {
            return Ok(None);
        };
        let weights = &cpu.as_slice::<f32>()?[start..end];
        let input = x.flatten_all()?.to_vec1::<f32>()?;
        let y = matvec(&input, rows, weights, self.out_dim, self.in_dim);
        let mut dims = x.dims().to_vec();
        if let Some(last) = dims.last_mut() {
            *last = self.out_dim;
        }
        Ok(Some(Tensor::from_vec(y, dims, x.device())?))
    }
}

impl Module for Proj {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        match self.stream(x)? {
            Some(y) => Ok(y),
            None => self.linear.forward(x),
        }
    }
}

/// `rows` rows of `x` [rows, in] times `w` [out, in]ᵀ → [rows, out], output features split
/// across the cores.
pub fn matvec(x: &[f32], rows: usize, w: &[f32], out_dim: usize, in_dim: usize) -> Vec<f32> {
    let threads = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .min(out_dim.div_ceil(64))
        .max(1);
    let chunk = out_dim.div_ceil(threads);
    // Output features o0..o1 for every row: (o0, width, [rows, width]).
    let part = |t: usize| {
        let (o0, o1) = (t * chunk, ((t + 1) * chunk).min(out_dim));
        let width = o1.saturating_sub(o0);
        let mut local = vec![0f32; rows * width];
        for o in o0..o1 {
            let wr = &w[o * in_dim..(o + 1) * in_dim];
            for r in 0..rows {
                local[r * width + (o - o0)] = dot(&x[r * in_dim..(r + 1) * in_dim], wr);
            }
        }
        (o0, width, local)
    };
    let parts: Vec<(usize, usize, Vec<f32>)> = if threads == 1 {
        vec![part(0)]
    } else {
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads).map(|t| s.spawn(move || part(t))).collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
                .collect()
        })
    };
    let mut y = vec![0f32; rows * out_dim];
    for (o0, width, local) in parts {
        for r in 0..rows {
            y[r * out_dim + o0..r * out_dim + o0 + width]
                .copy_from_slice(&local[r * width..(r + 1) * width]);
        }
    }
    y
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streaming_matches_candles_product() {
        let (rows, in_dim, out_dim) = (2, 37, 131);
        let w: Vec<f32> = (0..in_dim * out_dim)
            .map(|i| ((i * 7919) % 1000) as f32 / 1000.0 - 0.5)
            .collect();
        let x: Vec<f32> = (0..rows * in_dim)
            .map(|i| ((i * 104_729) % 997) as f32 / 997.0 - 0.5)
            .collect();
        let wt = Tensor::from_vec(w.clone(), (out_dim, in_dim), &Device::Cpu).unwrap();
        let xt = Tensor::from_vec(x.clone(), (rows, 1, in_dim), &Device::Cpu).unwrap();
        let reference = Linear::new(wt, None).forward(&xt).unwrap();
        let reference: Vec<f32> = reference.flatten_all().unwrap().to_vec1().unwrap();
        let ours = matvec(&x, rows, &w, out_dim, in_dim);
        for (a, b) in ours.iter().zip(&reference) {
            assert!((a - b).abs() < 1e-4, "{a} vs {b}");
        }
    }
}
