//! Matrix-vector products against GGUF `Q4_1` and `Q8_0` weights on the CPU.
//!
//! candle's CPU path for `Q4_1` is the scalar reference loop, and SmolLM2 (the default lyrics
//! model) is 80 % `Q4_1`, so token generation would be several times slower than llama.cpp on
//! the same file. This module keeps the weights in their GGUF bytes (5 bits a weight, so the
//! memory traffic per token stays what the file implies), quantizes each activation row to
//! 8 bits per 32-value block the way ggml does (`Q8_1`: scale and scaled sum; `Q8_0` for
//! `Q8_0` weights), and runs an AVX2 dot product where the CPU has one, the portable loop
//! otherwise. One matrix type serves both formats through [`WeightBlock`].

use crate::numerics::hsum_tiled;
use half::f16;
use rayon::prelude::*;
#[cfg(target_arch = "x86_64")]
use songforge_inference::has_avx2_fma;

/// Values per quantization block.
pub const BLOCK: usize = 32;
/// Bytes per `Q4_1` block: f16 scale, f16 minimum, 16 bytes of nibbles.
pub const BLOCK_BYTES: usize = 20;
/// Bytes per `Q8_0` block: f16 scale, 32 signed bytes.
pub const Q8_0_BLOCK_BYTES: usize = 34;

/// A GGUF weight format our kernels multiply: how a block is read from the file, which
/// activation quantization it pairs with, and their dot product.
pub trait WeightBlock: Copy + Send + Sync + std::fmt::Debug {
    /// Bytes per block in the file.
    const BYTES: usize;
    /// An activation block as the product wants it.
    type Activation: Copy + Send + Sync;
    /// Reads one block from its `BYTES` file bytes.
    fn parse(bytes: &[u8]) -> Self;
    /// The block's 32 weights as f32.
    fn dequantize(&self) -> [f32; BLOCK];
    /// Quantizes 32 activations for the product.
    fn quantize(x: &[f32]) -> Self::Activation;
    /// Σ w·x over a row of blocks.
    fn dot(w: &[Self], x: &[Self::Activation]) -> f32;
    /// [`WeightBlock::dot`] for four weight rows against one activation row, each to the bit.
    /// A kernel overriding it runs the four sums side by side: one sum is a chain of dependent
    /// multiply-adds that leaves the vector unit waiting, four keep it busy.
    fn dot4(w: [&[Self]; 4], x: &[Self::Activation]) -> [f32; 4] {
        w.map(|row| Self::dot(row, x))
    }
    /// [`WeightBlock::dot4`] against two activation rows, each result to the bit. A kernel
    /// overriding it unpacks each weight block once for both rows: in batched decoding and
    /// in prompts, unpacking and loading weights was as much work as the products.
    fn dot4x2(w: [&[Self]; 4], x: [&[Self::Activation]; 2]) -> [[f32; 4]; 2] {
        x.map(|x| Self::dot4(w, x))
    }
}

/// A `[rows, cols]` weight matrix in a GGUF block format, row-major.
#[derive(Debug, Clone)]
pub struct QuantMatrix<B> {
    rows: usize,
    cols: usize,
    blocks: Vec<B>,
}

/// `Q4_1` weights (most of SmolLM2).
pub type Q41Matrix = QuantMatrix<Q41Block>;
/// `Q8_0` weights (SmolLM2's tied embedding and output head), multiplied the way ggml does:
/// activations quantized to `Q8_0` blocks, so logits stay close to llama.cpp's.
pub type Q80Matrix = QuantMatrix<Q80Block>;

/// One `Q4_1` block, unpacked from the file's 20 bytes: scale and minimum as f32 so the inner
/// loop does no conversions.
#[derive(Debug, Clone, Copy)]
pub struct Q41Block {
    d: f32,
    m: f32,
    qs: [u8; 16],
}

/// One activation block quantized to 8 bits: `d` scale, `s = d * Σq` for the minimum term.
#[derive(Debug, Clone, Copy)]
pub struct Q81Block {
    d: f32,
    s: f32,
    qs: [i8; 32],
}

/// One `Q8_0` block (weights, or activations paired with them).
#[derive(Debug, Clone, Copy)]
pub struct Q80Block {
    d: f32,
    qs: [i8; 32],
}

impl WeightBlock for Q41Block {
    const BYTES: usize = BLOCK_BYTES;
    type Activation = Q81Block;

    fn parse(b: &[u8]) -> Self {
        let mut qs = [0u8; 16];
        qs.copy_from_slice(&b[4..20]);
        Self {
            d: f16::from_le_bytes([b[0], b[1]]).to_f32(),
            m: f16::from_le_bytes([b[2], b[3]]).to_f32(),
            qs,
        }
    }

    fn dequantize(&self) -> [f32; BLOCK] {
        let mut vals = [0f32; BLOCK];
        for j in 0..16 {
            vals[j] = f32::from(self.qs[j] & 0x0f) * self.d + self.m;
            vals[j + 16] = f32::from(self.qs[j] >> 4) * self.d + self.m;
        }
        vals
    }

    fn quantize(x: &[f32]) -> Q81Block {
        quantize_q8_1(x)
    }

    fn dot(w: &[Self], x: &[Q81Block]) -> f32 {
        dot(w, x)
    }

    fn dot4(w: [&[Self]; 4], x: &[Q81Block]) -> [f32; 4] {
        #[cfg(target_arch = "x86_64")]
        {
            if has_avx2_fma() && w.iter().all(|row| row.len() == x.len()) {
                // SAFETY: the CPU reports AVX2 and FMA, which is all `dot4_avx2` uses, and
                // every row is as long as `x`.
                return unsafe { dot4_avx2(w, x) };
            }
        }
        w.map(|row| dot(row, x))
    }

    fn dot4x2(w: [&[Self]; 4], x: [&[Q81Block]; 2]) -> [[f32; 4]; 2] {
        #[cfg(target_arch = "x86_64")]
        {
            if has_avx2_fma()
                && w.iter()
                    .all(|row| row.len() == x[0].len() && row.len() == x[1].len())
            {
                // SAFETY: as for `dot4`, with both activation rows as long as every weight row.
                return unsafe { dot4x2_avx2(w, x) };
            }
        }
        x.map(|x| Self::dot4(w, x))
    }
}

impl WeightBlock for Q80Block {
    const BYTES: usize = Q8_0_BLOCK_BYTES;
    type Activation = Q80Block;

    fn parse(b: &[u8]) -> Self {
        let mut qs = [0i8; 32];
        for (q, v) in qs.iter_mut().zip(&b[2..34]) {
            *q = *v as i8;
        }
        Self {
            d: f16::from_le_bytes([b[0], b[1]]).to_f32(),
            qs,
        }
    }

    fn dequantize(&self) -> [f32; BLOCK] {
        self.qs.map(|q| f32::from(q) * self.d)
    }

    fn quantize(x: &[f32]) -> Q80Block {
        quantize_q8_0(x)
    }

    fn dot(w: &[Self], x: &[Q80Block]) -> f32 {
        dot_q8_0(w, x)
    }

    fn dot4(w: [&[Self]; 4], x: &[Q80Block]) -> [f32; 4] {
        #[cfg(target_arch = "x86_64")]
        {
            if has_avx2_fma() && w.iter().all(|row| row.len() == x.len()) {
                // SAFETY: as for `Q41Block::dot4`.
                return unsafe { dot4_q8_0_avx2(w, x) };
            }
        }
        w.map(|row| dot_q8_0(row, x))
    }

    fn dot4x2(w: [&[Self]; 4], x: [&[Q80Block]; 2]) -> [[f32; 4]; 2] {
        #[cfg(target_arch = "x86_64")]
        {
            if has_avx2_fma()
                && w.iter()
                    .all(|row| row.len() == x[0].len() && row.len() == x[1].len())
            {
                // SAFETY: as for `Q41Block::dot4x2`.
                return unsafe { dot4x2_q8_0_avx2(w, x) };
            }
        }
        x.map(|x| Self::dot4(w, x))
    }
}

/// Why raw bytes are not a quantized matrix of the given shape.
#[derive(Debug, thiserror::Error)]
pub enum QuantError {
    /// Columns must fill whole blocks.
    #[error("rows of {0} values do not split into {BLOCK}-value blocks")]
    Ragged(usize),
    /// The byte count does not match the shape.
    #[error("quantized [{rows}, {cols}] needs {expected} bytes, got {got}")]
    Size {
        /// Rows asked for.
        rows: usize,
        /// Columns asked for.
        cols: usize,
        /// Bytes the shape implies.
        expected: usize,
        /// Bytes given.
        got: usize,
    },
    /// The activation's width differs from the matrix's.
    #[error("input has {got} values per row, the matrix {expected}")]
    Width {
        /// Matrix columns.
        expected: usize,
        /// Input row width.
        got: usize,
    },
}

impl<B: WeightBlock> QuantMatrix<B> {
    /// Wraps the GGUF bytes of a `[rows, cols]` tensor in this format.
    pub fn from_gguf_bytes(rows: usize, cols: usize, bytes: &[u8]) -> Result<Self, QuantError> {
        check_shape(rows, cols, bytes.len(), B::BYTES)?;
        let blocks = bytes.chunks_exact(B::BYTES).map(B::parse).collect();
        Ok(Self { rows, cols, blocks })
    }

    /// Output features.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Input features.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Stacks matrices with the same width into one (for fused Q/K/V and gate/up products).
    pub fn concat_rows(parts: &[&Self]) -> Result<Self, QuantError> {
        let cols = parts.first().map_or(0, |p| p.cols);
        let mut blocks = Vec::new();
        let mut rows = 0;
        for p in parts {
            if p.cols != cols {
                return Err(QuantError::Width {
                    expected: cols,
                    got: p.cols,
                });
            }
            blocks.extend_from_slice(&p.blocks);
            rows += p.rows;
        }
        Ok(Self { rows, cols, blocks })
    }

    /// Row `row` as f32: for embedding lookups and tests.
    pub fn dequantize_row(&self, row: usize) -> Vec<f32> {
        let per_row = self.cols / BLOCK;
        self.blocks[row * per_row..(row + 1) * per_row]
            .iter()
            .flat_map(B::dequantize)
            .collect()
    }

    /// `y = x · Wᵀ` for `x` of `batch` rows of `cols` values; returns `batch` rows of `rows`.
    pub fn matmul(&self, x: &[f32], batch: usize) -> Result<Vec<f32>, QuantError> {
        check_width(self.cols, x.len(), batch)?;
        let xq: Vec<B::Activation> = x.chunks_exact(BLOCK).map(B::quantize).collect();
        let per_row = self.cols / BLOCK;
        let row = |r: usize| &self.blocks[r * per_row..(r + 1) * per_row];
        let act = |b: usize| &xq[b * per_row..(b + 1) * per_row];
        Ok(matmul_rows(
            self.rows,
            batch,
            |r, b| B::dot(row(r), act(b)),
            |r, b| B::dot4([row(r), row(r + 1), row(r + 2), row(r + 3)], act(b)),
            |r, b| {
                B::dot4x2(
                    [row(r), row(r + 1), row(r + 2), row(r + 3)],
                    [act(b), act(b + 1)],
                )
            },
        ))
    }
}

/// Checks that `len` bytes of `block_bytes`-byte blocks make a `[rows, cols]` matrix.
fn check_shape(rows: usize, cols: usize, len: usize, block_bytes: usize) -> Result<(), QuantError> {
    if !cols.is_multiple_of(BLOCK) {
        return Err(QuantError::Ragged(cols));
    }
    let expected = rows * cols / BLOCK * block_bytes;
    if len != expected {
        return Err(QuantError::Size {
            rows,
            cols,
            expected,
            got: len,
        });
    }
    Ok(())
}

/// Checks that `len` activations are `batch` rows of `cols`.
fn check_width(cols: usize, len: usize, batch: usize) -> Result<(), QuantError> {
    if len != batch * cols {
        return Err(QuantError::Width {
            expected: cols,
            got: len / batch.max(1),
        });
    }
    Ok(())
}

/// Runs `dot(row, batch_row)` for every output in parallel over weight rows, four weight
/// rows at a time through `dot4x2(first_row, first_batch_row)` for two activation rows and
/// `dot4(first_row, batch_row)` for an odd last one, returning `[batch, rows]`.
fn matmul_rows<F, G, H>(rows: usize, batch: usize, dot: F, dot4: G, dot4x2: H) -> Vec<f32>
where
    F: Fn(usize, usize) -> f32 + Sync,
    G: Fn(usize, usize) -> [f32; 4] + Sync,
    H: Fn(usize, usize) -> [[f32; 4]; 2] + Sync,
{
    const ROWS_PER_TASK: usize = 32;
    let mut yt = vec![0f32; rows * batch];
    yt.par_chunks_mut(ROWS_PER_TASK * batch)
        .enumerate()
        .for_each(|(task, out)| {
            let first = task * ROWS_PER_TASK;
            let n = out.len() / batch;
            let fours = n / 4 * 4;
            let pairs = batch / 2 * 2;
            for i in (0..fours).step_by(4) {
                for b in (0..pairs).step_by(2) {
                    for (j, four) in dot4x2(first + i, b).into_iter().enumerate() {
                        for (k, v) in four.into_iter().enumerate() {
                            out[(i + k) * batch + b + j] = v;
                        }
                    }
                }
                for b in pairs..batch {
                    for (k, v) in dot4(first + i, b).into_iter().enumerate() {
                        out[(i + k) * batch + b] = v;
                    }
                }
            }
            for i in fours..n {
                for b in 0..batch {
                    out[i * batch + b] = dot(first + i, b);
                }
            }
        });
    if batch == 1 {
        return yt;
    }
    let mut y = vec![0f32; rows * batch];
    for r in 0..rows {
        for b in 0..batch {
            y[b * rows + r] = yt[r * batch + b];
        }
    }
    y
}

/// Rounds to the nearest integer, ties to even, for |x| ≤ 2^22 (scaled activations are within
/// ±127): adding and removing 1.5·2^23 leaves no fraction bits, so the FPU's own
/// round-to-nearest-even does the rounding, with no libm call on CPUs without SSE4.1's
/// `roundss` in the baseline.
fn round_half_even(x: f32) -> f32 {
    const MAGIC: f32 = 12_582_912.0;
    (x + MAGIC) - MAGIC
}

/// Quantizes 32 activations as ggml's `Q8_0` does.
fn quantize_q8_0(x: &[f32]) -> Q80Block {
    let amax = x.iter().fold(0f32, |a, v| a.max(v.abs()));
    let d = amax / 127.0;
    let id = if amax != 0.0 { 127.0 / amax } else { 0.0 };
    let mut qs = [0i8; 32];
    for (q, v) in qs.iter_mut().zip(x) {
        *q = (round_half_even(v * id) as i32).clamp(-127, 127) as i8;
    }
    Q80Block {
        d: f16::from_f32(d).to_f32(),
        qs,
    }
}

fn dot_q8_0(w: &[Q80Block], x: &[Q80Block]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    {
        if has_avx2_fma() {
            // SAFETY: the CPU reports AVX2 and FMA, which is all `dot_q8_0_avx2` uses.
            return unsafe { dot_q8_0_avx2(w, x) };
        }
    }
    dot_q8_0_portable(w, x)
}

/// The AVX2 kernel's arithmetic without AVX2, to the bit (see [`dot_portable`]).
fn dot_q8_0_portable(w: &[Q80Block], x: &[Q80Block]) -> f32 {
    let mut acc = [0f32; 8];
    for (wb, xb) in w.iter().zip(x) {
        let dd = wb.d * xb.d;
        for (l, lane) in acc.iter_mut().enumerate() {
            let q: i32 = (4 * l..4 * l + 4)
                .map(|j| i32::from(wb.qs[j]) * i32::from(xb.qs[j]))
                .sum();
            *lane = (q as f32).mul_add(dd, *lane);
        }
    }
    hsum_tiled(&acc)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn dot_q8_0_avx2(w: &[Q80Block], x: &[Q80Block]) -> f32 {
    use std::arch::x86_64::*;
    let ones = _mm256_set1_epi16(1);
    let mut acc = _mm256_setzero_ps();
    for (wb, xb) in w.iter().zip(x) {
        // SAFETY: both `qs` arrays are 32 bytes.
        let wq = unsafe { _mm256_loadu_si256(wb.qs.as_ptr().cast()) };
        let xq = unsafe { _mm256_loadu_si256(xb.qs.as_ptr().cast()) };
        // maddubs needs an unsigned operand: |w| times x carrying w's sign.
        let pairs = _mm256_maddubs_epi16(_mm256_sign_epi8(wq, wq), _mm256_sign_epi8(xq, wq));
        let quads = _mm256_madd_epi16(pairs, ones);
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(quads), _mm256_set1_ps(wb.d * xb.d), acc);
    }
    // SAFETY: same features as this function.
    unsafe { hsum_lanes(acc) }
}

/// Quantizes 32 activations as ggml's `Q8_1` does: scale from the absolute maximum, rounded
/// to f16 for the product, values rounded to nearest.
fn quantize_q8_1(x: &[f32]) -> Q81Block {
    let amax = x.iter().fold(0f32, |a, v| a.max(v.abs()));
    let d = amax / 127.0;
    let id = if amax != 0.0 { 127.0 / amax } else { 0.0 };
    let mut qs = [0i8; 32];
    let mut sum = 0i32;
    for (q, v) in qs.iter_mut().zip(x) {
        let r = round_half_even(v * id) as i32;
        *q = r.clamp(-127, 127) as i8;
        sum += i32::from(*q);
    }
    let d16 = f16::from_f32(d).to_f32();
    Q81Block {
        d: d16,
        s: f16::from_f32(d * sum as f32).to_f32(),
        qs,
    }
}

fn dot(w: &[Q41Block], x: &[Q81Block]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    {
        if has_avx2_fma() {
            // SAFETY: the CPU reports AVX2 and FMA, which is all `dot_avx2` uses.
            return unsafe { dot_avx2(w, x) };
        }
    }
    dot_portable(w, x)
}

/// The AVX2 kernel's arithmetic without AVX2: eight lanes of four products each, one fused
/// multiply-add per lane and block, lanes reduced in the same order, so the result is the
/// same to the bit (and the same as llama.cpp's on the same file).
fn dot_portable(w: &[Q41Block], x: &[Q81Block]) -> f32 {
    let mut acc = [0f32; 8];
    let mut mins = 0f32;
    for (wb, xb) in w.iter().zip(x) {
        let dd = wb.d * xb.d;
        for (l, lane) in acc.iter_mut().enumerate() {
            let q: i32 = (4 * l..4 * l + 4)
                .map(|j| {
                    let nibble = if j < 16 {
                        wb.qs[j] & 0x0f
                    } else {
                        wb.qs[j - 16] >> 4
                    };
                    i32::from(nibble) * i32::from(xb.qs[j])
                })
                .sum();
            *lane = (q as f32).mul_add(dd, *lane);
        }
        mins += wb.m * xb.s;
    }
    hsum_tiled(&acc) + mins
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn dot_avx2(w: &[Q41Block], x: &[Q81Block]) -> f32 {
    use std::arch::x86_64::*;
    let low = _mm_set1_epi8(0x0f);
    let ones = _mm256_set1_epi16(1);
    let mut acc = _mm256_setzero_ps();
    let mut mins = 0f32;
    for (wb, xb) in w.iter().zip(x) {
        // SAFETY: `qs` arrays are 16 and 32 bytes; unaligned loads read exactly those.
        let packed = unsafe { _mm_loadu_si128(wb.qs.as_ptr().cast()) };
        let lo = _mm_and_si128(packed, low);
        let hi = _mm_and_si128(_mm_srli_epi16(packed, 4), low);
        let wq = _mm256_set_m128i(hi, lo);
        let xq = unsafe { _mm256_loadu_si256(xb.qs.as_ptr().cast()) };
        let pairs = _mm256_maddubs_epi16(wq, xq);
        let quads = _mm256_madd_epi16(pairs, ones);
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(quads), _mm256_set1_ps(wb.d * xb.d), acc);
        mins += wb.m * xb.s;
    }
    // SAFETY: same features as this function.
    (unsafe { hsum_lanes(acc) }) + mins
}

/// Sums a vector accumulator's lanes in the order the one-row kernels do.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn hsum_lanes(acc: std::arch::x86_64::__m256) -> f32 {
    use std::arch::x86_64::*;
    let half = _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1));
    let quarter = _mm_add_ps(half, _mm_movehl_ps(half, half));
    let single = _mm_add_ss(quarter, _mm_shuffle_ps(quarter, quarter, 1));
    _mm_cvtss_f32(single)
}

/// [`dot_avx2`] for four weight rows at once: each row's operations, in its order, so every
/// result is the one-row kernel's to the bit. Rows must be as long as `x`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn dot4_avx2(w: [&[Q41Block]; 4], x: &[Q81Block]) -> [f32; 4] {
    use std::arch::x86_64::*;
    let low = _mm_set1_epi8(0x0f);
    let ones = _mm256_set1_epi16(1);
    let mut acc = [_mm256_setzero_ps(); 4];
    let mut mins = [0f32; 4];
    for (i, xb) in x.iter().enumerate() {
        // SAFETY: `qs` is 32 bytes.
        let xq = unsafe { _mm256_loadu_si256(xb.qs.as_ptr().cast()) };
        for k in 0..4 {
            let wb = &w[k][i];
            // SAFETY: `qs` is 16 bytes.
            let packed = unsafe { _mm_loadu_si128(wb.qs.as_ptr().cast()) };
            let lo = _mm_and_si128(packed, low);
            let hi = _mm_and_si128(_mm_srli_epi16(packed, 4), low);
            let pairs = _mm256_maddubs_epi16(_mm256_set_m128i(hi, lo), xq);
            let quads = _mm256_madd_epi16(pairs, ones);
            acc[k] = _mm256_fmadd_ps(
                _mm256_cvtepi32_ps(quads),
                _mm256_set1_ps(wb.d * xb.d),
                acc[k],
            );
            mins[k] += wb.m * xb.s;
        }
    }
    // SAFETY: same features as this function.
    std::array::from_fn(|k| unsafe { hsum_lanes(acc[k]) } + mins[k])
}

/// [`dot_q8_0_avx2`] for four weight rows at once, each to the bit. Rows must be as long as
/// `x`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn dot4_q8_0_avx2(w: [&[Q80Block]; 4], x: &[Q80Block]) -> [f32; 4] {
    use std::arch::x86_64::*;
    let ones = _mm256_set1_epi16(1);
    let mut acc = [_mm256_setzero_ps(); 4];
    for (i, xb) in x.iter().enumerate() {
        // SAFETY: `qs` is 32 bytes.
        let xq = unsafe { _mm256_loadu_si256(xb.qs.as_ptr().cast()) };
        for k in 0..4 {
            let wb = &w[k][i];
            // SAFETY: `qs` is 32 bytes.
            let wq = unsafe { _mm256_loadu_si256(wb.qs.as_ptr().cast()) };
            let pairs = _mm256_maddubs_epi16(_mm256_sign_epi8(wq, wq), _mm256_sign_epi8(xq, wq));
            let quads = _mm256_madd_epi16(pairs, ones);
            acc[k] = _mm256_fmadd_ps(
                _mm256_cvtepi32_ps(quads),
                _mm256_set1_ps(wb.d * xb.d),
                acc[k],
            );
        }
    }
    // SAFETY: same features as this function.
    std::array::from_fn(|k| unsafe { hsum_lanes(acc[k]) })
}

/// [`dot4_avx2`] against two activation rows: each weight block is unpacked once and
/// multiplied into both, every result still the one-row kernel's to the bit. Rows must be as
/// long as the activations.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn dot4x2_avx2(w: [&[Q41Block]; 4], x: [&[Q81Block]; 2]) -> [[f32; 4]; 2] {
    use std::arch::x86_64::*;
    let low = _mm_set1_epi8(0x0f);
    let ones = _mm256_set1_epi16(1);
    let mut acc = [[_mm256_setzero_ps(); 4]; 2];
    let mut mins = [[0f32; 4]; 2];
    for (i, (xa, xb)) in x[0].iter().zip(x[1]).enumerate() {
        // SAFETY: `qs` is 32 bytes.
        let xq = unsafe {
            [
                _mm256_loadu_si256(xa.qs.as_ptr().cast()),
                _mm256_loadu_si256(xb.qs.as_ptr().cast()),
            ]
        };
        let xs = [xa, xb];
        for k in 0..4 {
            let wb = &w[k][i];
            // SAFETY: `qs` is 16 bytes.
            let packed = unsafe { _mm_loadu_si128(wb.qs.as_ptr().cast()) };
            let lo = _mm_and_si128(packed, low);
            let hi = _mm_and_si128(_mm_srli_epi16(packed, 4), low);
            let wq = _mm256_set_m128i(hi, lo);
            for j in 0..2 {
                let pairs = _mm256_maddubs_epi16(wq, xq[j]);
                let quads = _mm256_madd_epi16(pairs, ones);
                acc[j][k] = _mm256_fmadd_ps(
                    _mm256_cvtepi32_ps(quads),
                    _mm256_set1_ps(wb.d * xs[j].d),
                    acc[j][k],
                );
                mins[j][k] += wb.m * xs[j].s;
            }
        }
    }
    // SAFETY: same features as this function.
    std::array::from_fn(|j| std::array::from_fn(|k| unsafe { hsum_lanes(acc[j][k]) } + mins[j][k]))
}

/// [`dot4_q8_0_avx2`] against two activation rows, each result to the bit. Rows must be as
/// long as the activations.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn dot4x2_q8_0_avx2(w: [&[Q80Block]; 4], x: [&[Q80Block]; 2]) -> [[f32; 4]; 2] {
    use std::arch::x86_64::*;
    let ones = _mm256_set1_epi16(1);
    let mut acc = [[_mm256_setzero_ps(); 4]; 2];
    for (i, (xa, xb)) in x[0].iter().zip(x[1]).enumerate() {
        // SAFETY: `qs` is 32 bytes.
        let xq = unsafe {
            [
                _mm256_loadu_si256(xa.qs.as_ptr().cast()),
                _mm256_loadu_si256(xb.qs.as_ptr().cast()),
            ]
        };
        let xs = [xa, xb];
        for k in 0..4 {
            let wb = &w[k][i];
            // SAFETY: `qs` is 32 bytes.
            let wq = unsafe { _mm256_loadu_si256(wb.qs.as_ptr().cast()) };
            let magnitude = _mm256_sign_epi8(wq, wq);
            for j in 0..2 {
                let pairs = _mm256_maddubs_epi16(magnitude, _mm256_sign_epi8(xq[j], wq));
                let quads = _mm256_madd_epi16(pairs, ones);
                acc[j][k] = _mm256_fmadd_ps(
                    _mm256_cvtepi32_ps(quads),
                    _mm256_set1_ps(wb.d * xs[j].d),
                    acc[j][k],
                );
            }
        }
    }
    // SAFETY: same features as this function.
    std::array::from_fn(|j| std::array::from_fn(|k| unsafe { hsum_lanes(acc[j][k]) }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Quantizes f32 rows to Q8_0 bytes (f16 scale, 32 signed bytes per block).
    fn q8_0_bytes(values: &[f32]) -> Vec<u8> {
        let mut out = Vec::new();
        for block in values.chunks_exact(BLOCK) {
            let q = quantize_q8_0(block);
            out.extend_from_slice(&f16::from_f32(q.d).to_le_bytes());
            out.extend(q.qs.iter().map(|v| *v as u8));
        }
        out
    }

    /// Quantizes f32 rows to Q4_1 bytes the way ggml does, to build test matrices.
    fn q4_1_bytes(values: &[f32]) -> Vec<u8> {
        let mut out = Vec::new();
        for block in values.chunks_exact(BLOCK) {
            let min = block.iter().copied().fold(f32::INFINITY, f32::min);
            let max = block.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let d = (max - min) / 15.0;
            let id = if d != 0.0 { 1.0 / d } else { 0.0 };
            out.extend_from_slice(&f16::from_f32(d).to_le_bytes());
            out.extend_from_slice(&f16::from_f32(min).to_le_bytes());
            for j in 0..16 {
                let a = (((block[j] - min) * id + 0.5) as u8).min(15);
                let b = (((block[j + 16] - min) * id + 0.5) as u8).min(15);
                out.push(a | (b << 4));
            }
        }
        out
    }

    fn pseudo_random(n: usize, seed: u32) -> Vec<f32> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (s >> 8) as f32 / (1u32 << 24) as f32 * 2.0 - 1.0
            })
            .collect()
    }

    #[test]
    fn matmul_matches_dequantized_reference() {
        let (rows, cols, batch) = (70, 128, 3);
        let w = Q41Matrix::from_gguf_bytes(rows, cols, &q4_1_bytes(&pseudo_random(rows * cols, 1)))
            .unwrap();
        let x = pseudo_random(batch * cols, 2);
        let y = w.matmul(&x, batch).unwrap();
        for b in 0..batch {
            for r in 0..rows {
                let wr = w.dequantize_row(r);
                let exact: f32 = wr.iter().zip(&x[b * cols..]).map(|(a, b)| a * b).sum();
                let got = y[b * rows + r];
                // 8-bit activations: error well under 1 % of the row's magnitude.
                let scale: f32 = wr.iter().map(|v| v.abs()).sum::<f32>() / 50.0;
                assert!(
                    (got - exact).abs() < scale,
                    "row {r} batch {b}: {got} vs {exact}"
                );
            }
        }
    }

    #[test]
    fn simd_and_portable_dots_agree() {
        let cols = 256;
        let w = Q41Matrix::from_gguf_bytes(1, cols, &q4_1_bytes(&pseudo_random(cols, 3))).unwrap();
        let xq: Vec<Q81Block> = pseudo_random(cols, 4)
            .chunks_exact(BLOCK)
            .map(quantize_q8_1)
            .collect();
        let a = dot(&w.blocks, &xq);
        let b = dot_portable(&w.blocks, &xq);
        assert_eq!(a.to_bits(), b.to_bits(), "{a} vs {b}");
    }

    #[test]
    fn q8_0_matmul_matches_dequantized_reference() {
        let (rows, cols) = (40, 96);
        let w = Q80Matrix::from_gguf_bytes(rows, cols, &q8_0_bytes(&pseudo_random(rows * cols, 5)))
            .unwrap();
        let x = pseudo_random(2 * cols, 6);
        let y = w.matmul(&x, 2).unwrap();
        for b in 0..2 {
            for r in 0..rows {
                let wr = w.dequantize_row(r);
                let exact: f32 = wr.iter().zip(&x[b * cols..]).map(|(a, b)| a * b).sum();
                assert!(
                    (y[b * rows + r] - exact).abs() < 0.05,
                    "{} vs {exact}",
                    y[b * rows + r]
                );
            }
        }
        let xq: Vec<Q80Block> = x[..cols].chunks_exact(BLOCK).map(quantize_q8_0).collect();
        let a = dot_q8_0(&w.blocks[..3], &xq);
        let p = dot_q8_0_portable(&w.blocks[..3], &xq);
        assert_eq!(a.to_bits(), p.to_bits(), "{a} vs {p}");
    }

    #[test]
    fn four_row_kernels_give_each_rows_sum_to_the_bit() {
        // 7 rows: one group of four and three single rows, in every task; 3 activation rows:
        // a pair (the four-by-two kernels) and an odd one (the four-row kernels).
        let (rows, cols, batch) = (7, 160, 3);
        let w = Q41Matrix::from_gguf_bytes(rows, cols, &q4_1_bytes(&pseudo_random(rows * cols, 8)))
            .unwrap();
        let x = pseudo_random(batch * cols, 9);
        let y = w.matmul(&x, batch).unwrap();
        let per_row = cols / BLOCK;
        for b in 0..batch {
            let xq: Vec<Q81Block> = x[b * cols..(b + 1) * cols]
                .chunks_exact(BLOCK)
                .map(quantize_q8_1)
                .collect();
            for r in 0..rows {
                let one = dot_portable(&w.blocks[r * per_row..(r + 1) * per_row], &xq);
                assert_eq!(
                    y[b * rows + r].to_bits(),
                    one.to_bits(),
                    "row {r} batch {b}"
                );
            }
        }
        let w =
            Q80Matrix::from_gguf_bytes(rows, cols, &q8_0_bytes(&pseudo_random(rows * cols, 10)))
                .unwrap();
        let y = w.matmul(&x, batch).unwrap();
        for b in 0..batch {
            let xq: Vec<Q80Block> = x[b * cols..(b + 1) * cols]
                .chunks_exact(BLOCK)
                .map(quantize_q8_0)
                .collect();
            for r in 0..rows {
                let one = dot_q8_0_portable(&w.blocks[r * per_row..(r + 1) * per_row], &xq);
                assert_eq!(
                    y[b * rows + r].to_bits(),
                    one.to_bits(),
                    "row {r} batch {b}"
                );
            }
        }
    }

    #[test]
    fn rounding_is_half_to_even_like_the_vector_unit() {
        for (x, r) in [
            (0.5, 0.0),
            (1.5, 2.0),
            (2.5, 2.0),
            (-0.5, -0.0),
            (-1.5, -2.0),
            (126.6, 127.0),
        ] {
            assert_eq!(round_half_even(x), r, "{x}");
        }
        for i in -20_000..20_000 {
            let x = i as f32 * 0.00731;
            assert_eq!(round_half_even(x), x.round_ties_even(), "{x}");
        }
    }

    #[test]
    fn shape_errors_are_reported() {
        assert!(matches!(
            Q41Matrix::from_gguf_bytes(2, 30, &[]),
            Err(QuantError::Ragged(30))
        ));
        assert!(matches!(
            Q41Matrix::from_gguf_bytes(2, 32, &[0; 39]),
            Err(QuantError::Size { expected: 40, .. })
        ));
        let w = Q41Matrix::from_gguf_bytes(1, 32, &[0; 20]).unwrap();
        assert!(w.matmul(&[0.0; 31], 1).is_err());
    }
}
