//! The CPU serving path's elementwise steps, computed the way llama.cpp's CPU backend computes
//! them on x86 with AVX2 and FMA.
//!
//! Every product quantizes its input to 8 bits, so a last-bit difference in a norm or an
//! activation moves some values across a rounding boundary, and from there the difference
//! grows through the layers: on SmolLM2 that alone moved next-token log-probabilities by a few
//! hundredths of a nat, enough to change greedy choices at near-ties. Computing the same steps
//! in the same order makes greedy output reproduce llama.cpp's on the same GGUF file.
//! - RMSNorm: squares summed in f64, one f32 scale multiplied in, then the weight.
//! - SiLU: `x / (1 + exp(-x))` with the vectorised `exp` below (Arm's optimized-routines
//!   algorithm: a degree-5 polynomial on the reduced argument, maximum error about 1.5 ulp).
//! - Softmax: the same `exp`, the sum in f64 by 8-lane groups, one reciprocal multiplied in.
//! - RoPE: angles by repeated multiplication from the position, rotations as fused
//!   multiply-adds.
//! - Attention: the query and the probabilities rounded to f16 (the cache is f16), and the
//!   sums ordered as the tiled matrix product orders them for a prompt and as the vector dot
//!   product does for a generation step ([`SumOrder`]).
//!
//! The quantized products (`quant.rs`) follow the same rule. Checked by the SmolLM2 tests:
//! every log-probability of three greedy continuations recorded from llama.cpp (32, 32 and
//! 160 tokens) is reproduced to the reference's four decimals.

/// Defines `pub fn $name` that runs `$body` compiled with AVX2 and FMA where the CPU has them
/// (so `mul_add` is one instruction and the loops vectorise), and the same body otherwise:
/// the results are the same either way, only the speed differs.
macro_rules! with_fma {
    ($(#[$m:meta])* pub fn $name:ident($($a:ident: $t:ty),*) $(-> $r:ty)? = $body:ident;) => {
        $(#[$m])*
        pub fn $name($($a: $t),*) $(-> $r)? {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx2,fma")]
                unsafe fn fast($($a: $t),*) $(-> $r)? {
                    $body($($a),*)
                }
                if songforge_inference::has_avx2_fma() {
                    // SAFETY: the CPU reports AVX2 and FMA, all `fast` is compiled for.
                    return unsafe { fast($($a),*) };
                }
            }
            $body($($a),*)
        }
    };
}

/// RMSNorm of each `width`-value row of `x` in place, times `weight`.
pub fn rms_norm(x: &mut [f32], weight: &[f32], eps: f32) {
    let width = weight.len();
    for row in x.chunks_exact_mut(width) {
        let sum: f64 = row.iter().map(|v| f64::from(v * v)).sum();
        let mean = (sum / width as f64) as f32;
        let scale = 1.0 / (mean + eps).sqrt();
        for (v, w) in row.iter_mut().zip(weight) {
            *v = (*v * scale) * w;
        }
    }
}

with_fma! {
    /// `silu(gate) * up`, elementwise.
    pub fn swiglu(gate: &[f32], up: &[f32]) -> Vec<f32> = swiglu_body;
}

#[inline(always)]
fn swiglu_body(gate: &[f32], up: &[f32]) -> Vec<f32> {
    // Plain loops, not iterator closures, in every `with_fma!` body: a closure is compiled
    // without the caller's target features, and its `mul_add` would become a libm call.
    let mut out = vec![0f32; gate.len().min(up.len())];
    for i in 0..out.len() {
        let g = gate[i];
        out[i] = g / (1.0 + exp(-g)) * up[i];
    }
    out
}

/// `exp(x)` by range reduction to `x = n·ln 2 + b`, |b| ≤ ln 2 / 2, and a polynomial in `b`;
/// fused multiply-adds where the algorithm has them (`f32::mul_add` is exactly one rounding).
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    const SHIFT: f32 = 12_582_912.0; // 1.5 · 2^23: adding it rounds to an integer
    const LOG2_E: f32 = f32::from_bits(0x3fb8_aa3b);
    const LN2_HI: f32 = f32::from_bits(0x3f31_7200);
    const LN2_LO: f32 = f32::from_bits(0x35bf_be8e);
    const C1: f32 = f32::from_bits(0x3f7f_fff6);
    const C2: f32 = f32::from_bits(0x3eff_fedb);
    const C3: f32 = f32::from_bits(0x3e2a_af33);
    const C4: f32 = f32::from_bits(0x3d2b_9f17);
    const C5: f32 = f32::from_bits(0x3c07_2010);
    let z = x.mul_add(LOG2_E, SHIFT);
    let n = z - SHIFT;
    let b = (-n).mul_add(LN2_LO, (-n).mul_add(LN2_HI, x));
    let e = z.to_bits().wrapping_shl(23);
    let k = f32::from_bits(e.wrapping_add(1.0f32.to_bits()));
    let u = b * b;
    let j = C5
        .mul_add(b, C4)
        .mul_add(u, C3.mul_add(b, C2))
        .mul_add(u, C1 * b);
    // NaN takes this path too, as the vector compare (false on NaN) sends it.
    if n.abs() <= 126.0 || n.is_nan() {
        return j.mul_add(k, k);
    }
    let g: u32 = if n <= 0.0 { 0x8200_0000 } else { 0 };
    let s1 = f32::from_bits(g.wrapping_add(0x7f00_0000));
    let s2 = f32::from_bits(e.wrapping_sub(g));
    if n.abs() > 192.0 {
        s1 * s1
    } else {
        s2.mul_add(j, s2) * s1
    }
}

with_fma! {
    /// Rotates one head's pairs `(x[2i], x[2i+1])` by the angles whose cosines and sines are
    /// given (ggml's normal RoPE mode), each output one fused multiply-add as GCC contracts
    /// ggml's `x0*cos - x1*sin` and `x0*sin + x1*cos`.
    pub fn rope(head: &mut [f32], cos: &[f32], sin: &[f32]) = rope_body;
}

#[inline(always)]
fn rope_body(head: &mut [f32], cos: &[f32], sin: &[f32]) {
    for ((pair, c), s) in head.chunks_exact_mut(2).zip(cos).zip(sin) {
        let (x0, x1) = (pair[0], pair[1]);
        pair[0] = x0.mul_add(*c, -(x1 * s));
        pair[1] = x0.mul_add(*s, x1 * c);
    }
}

/// How llama.cpp orders the sums of its f16 attention products, which depends on the step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SumOrder {
    /// Several positions at once (the prompt): the tiled matrix product, one 8-lane fused
    /// accumulator per output, lanes summed high half onto low, then in pairs.
    Tiled,
    /// One new position (a generation step): the vector dot product, four 8-lane fused
    /// accumulators over 32-value steps, added pairwise, lanes summed by horizontal adds.
    Stepwise,
}

/// Sums 8 lanes as an AVX register is reduced: high half onto low, then in pairs (the tiled
/// product's order, and the quantized kernels').
pub(crate) fn hsum_tiled(l: &[f32; 8]) -> f32 {
    ((l[0] + l[4]) + (l[2] + l[6])) + ((l[1] + l[5]) + (l[3] + l[7]))
}

/// Sums 32 partial sums (4 accumulators × 8 lanes) as the vector dot product reduces them.
fn hsum_stepwise(acc: &[f32; 32]) -> f32 {
    let x: [f32; 8] = std::array::from_fn(|l| (acc[l] + acc[16 + l]) + (acc[8 + l] + acc[24 + l]));
    let t = [x[0] + x[4], x[1] + x[5], x[2] + x[6], x[3] + x[7]];
    (t[0] + t[1]) + (t[2] + t[3])
}

/// Rounds to the nearest f16 and back (what entering an f16 cache or product does).
pub fn to_half(x: f32) -> f32 {
    half::f16::from_f32(x).to_f32()
}

with_fma! {
    /// One query row's attention over `len` cached positions, written to `out`: scores `q·k`
    /// with `q` rounded to f16, times `scale`, [`softmax`], probabilities rounded to f16, and
    /// their weighted sum of the values, every sum in `order`. `keys` and `values` are rows of
    /// `q.len()` f16-rounded values, one per position; `q.len()` must be a multiple of 32.
    pub fn attend(
        q: &[f32],
        keys: &[f32],
        values: &[f32],
        scale: f32,
        order: SumOrder,
        out: &mut [f32]
    ) = attend_one;
}

with_fma! {
    /// [`attend`] for the query heads that share one key/value head (grouped-query
    /// attention): `q` and `out` hold `q.len() / keys_width` heads side by side. Each key and
    /// value row is read once for all of them, and each head's result is [`attend`]'s to the
    /// bit.
    pub fn attend_group(
        q: &[f32],
        keys: &[f32],
        values: &[f32],
        head_dim: usize,
        scale: f32,
        order: SumOrder,
        out: &mut [f32]
    ) = attend_body;
}

#[inline(always)]
fn attend_one(
    q: &[f32],
    keys: &[f32],
    values: &[f32],
    scale: f32,
    order: SumOrder,
    out: &mut [f32],
) {
    attend_body(q, keys, values, q.len(), scale, order, out);
}

#[inline(always)]
fn attend_body(
    q: &[f32],
    keys: &[f32],
    values: &[f32],
    hd: usize,
    scale: f32,
    order: SumOrder,
    out: &mut [f32],
) {
    let heads = q.len() / hd;
    let qh: Vec<f32> = q.iter().map(|&v| to_half(v)).collect();
    let len = keys.len() / hd;
    let mut probs = vec![0f32; heads * len];
    for p in 0..len {
        let k = &keys[p * hd..(p + 1) * hd];
        for g in 0..heads {
            probs[g * len + p] = dot(k, &qh[g * hd..(g + 1) * hd], order) * scale;
        }
    }
    for g in 0..heads {
        softmax_body(&mut probs[g * len..(g + 1) * len]);
    }
    // One accumulator row per summation slot: position p goes to slot p % 8 in the tiled
    // order and p % 32 in the stepwise one, the same slot its lane would be in.
    let slots = match order {
        SumOrder::Tiled => 8,
        SumOrder::Stepwise => 32,
    };
    let mut acc = vec![0f32; heads * slots * hd];
    for p in 0..len {
        let v = &values[p * hd..(p + 1) * hd];
        for g in 0..heads {
            let w = to_half(probs[g * len + p]);
            let at = (g * slots + p % slots) * hd;
            let row = &mut acc[at..at + hd];
            for d in 0..hd {
                row[d] = v[d].mul_add(w, row[d]);
            }
        }
    }
    for g in 0..heads {
        let acc = &acc[g * slots * hd..(g + 1) * slots * hd];
        for (d, o) in out[g * hd..(g + 1) * hd].iter_mut().enumerate() {
            *o = match order {
                SumOrder::Tiled => hsum_tiled(&std::array::from_fn(|s| acc[s * hd + d])),
                SumOrder::Stepwise => hsum_stepwise(&std::array::from_fn(|s| acc[s * hd + d])),
            };
        }
    }
}

/// Σ a·b over rows whose length is a multiple of 32, in `order`.
#[inline(always)]
fn dot(a: &[f32], b: &[f32], order: SumOrder) -> f32 {
    let mut acc = [0f32; 32];
    match order {
        SumOrder::Tiled => {
            for (ca, cb) in a.chunks_exact(8).zip(b.chunks_exact(8)) {
                for l in 0..8 {
                    acc[l] = ca[l].mul_add(cb[l], acc[l]);
                }
            }
            hsum_tiled(&std::array::from_fn(|l| acc[l]))
        }
        SumOrder::Stepwise => {
            for (ca, cb) in a.chunks_exact(32).zip(b.chunks_exact(32)) {
                for l in 0..32 {
                    acc[l] = ca[l].mul_add(cb[l], acc[l]);
                }
            }
            hsum_stepwise(&acc)
        }
    }
}

with_fma! {
    /// Softmax in place: the maximum subtracted, [`exp`] per value, the sum in f64 over
    /// 8-value groups (each group's lanes summed as the tiled order does), one reciprocal
    /// multiplied in.
    pub fn softmax(x: &mut [f32]) = softmax_body;
}

#[inline(always)]
fn softmax_body(x: &mut [f32]) {
    let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0f64;
    for chunk in x.chunks_mut(8) {
        let mut lanes = [0f32; 8];
        for (lane, v) in lanes.iter_mut().zip(chunk.iter_mut()) {
            *v = exp(*v - max);
            *lane = *v;
        }
        sum += f64::from(hsum_tiled(&lanes));
    }
    let inv = (1.0 / sum) as f32;
    for v in x.iter_mut() {
        *v *= inv;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ulps(a: f32, b: f32) -> u32 {
        a.to_bits().abs_diff(b.to_bits())
    }

    #[test]
    fn exp_is_within_two_ulps_and_handles_the_ends() {
        let mut worst = 0;
        for i in -87_000..88_000 {
            let x = i as f32 / 1000.0;
            let exact = (f64::from(x)).exp() as f32;
            worst = worst.max(ulps(exp(x), exact));
        }
        assert!(worst <= 2, "worst error {worst} ulps");
        assert_eq!(exp(0.0), 1.0);
        assert_eq!(exp(f32::NEG_INFINITY), 0.0);
        assert_eq!(exp(-120.0), 0.0);
        assert_eq!(exp(100.0), f32::INFINITY);
        // Subnormal results keep their value.
        let tiny = exp(-100.0);
        assert!(ulps(tiny, (-100f64).exp() as f32) <= 2, "{tiny}");
    }

    #[test]
    fn fast_and_portable_bodies_agree_to_the_bit() {
        let x: Vec<f32> = (0..200).map(|i| (i as f32 * 0.37).sin() * 9.0).collect();
        let y: Vec<f32> = (0..200).map(|i| (i as f32 * 0.11).cos()).collect();
        let a = swiglu(&x, &y);
        let b = swiglu_body(&x, &y);
        assert!(a.iter().zip(&b).all(|(p, q)| p.to_bits() == q.to_bits()));
        let (mut s1, mut s2) = (x.clone(), x.clone());
        softmax(&mut s1);
        softmax_body(&mut s2);
        assert!(s1.iter().zip(&s2).all(|(p, q)| p.to_bits() == q.to_bits()));
    }

    #[test]
    fn softmax_is_a_distribution_and_masked_entries_vanish() {
        let mut x = vec![1.0, 2.0, 3.0, f32::NEG_INFINITY, 0.5];
        softmax(&mut x);
        let sum: f32 = x.iter().sum();
        assert!((sum - 1.0).abs() < 1e-6, "{sum}");
        assert_eq!(x[3], 0.0);
        assert!(x[2] > x[1] && x[1] > x[0] && x[0] > x[4]);
    }

    #[test]
    fn attention_matches_a_plain_evaluation_in_both_orders() {
        let (hd, len) = (64, 37);
        let q: Vec<f32> = (0..hd).map(|i| ((i * 7) as f32 * 0.13).sin()).collect();
        let keys: Vec<f32> = (0..len * hd)
            .map(|i| to_half(((i * 3) as f32 * 0.07).cos()))
            .collect();
        let values: Vec<f32> = (0..len * hd)
            .map(|i| to_half(((i * 5) as f32 * 0.05).sin()))
            .collect();
        let scale = 0.125;
        // f64 reference of the same rounded operands.
        let qh: Vec<f64> = q.iter().map(|&v| f64::from(to_half(v))).collect();
        let scores: Vec<f64> = keys
            .chunks_exact(hd)
            .map(|k| {
                k.iter()
                    .zip(&qh)
                    .map(|(a, b)| f64::from(*a) * b)
                    .sum::<f64>()
                    * scale
            })
            .collect();
        let max = scores.iter().copied().fold(f64::MIN, f64::max);
        let z: f64 = scores.iter().map(|s| (s - max).exp()).sum();
        let reference: Vec<f64> = (0..hd)
            .map(|d| {
                (0..len)
                    .map(|p| (scores[p] - max).exp() / z * f64::from(values[p * hd + d]))
                    .sum()
            })
            .collect();
        let mut tiled = vec![0f32; hd];
        let mut stepwise = vec![0f32; hd];
        attend(
            &q,
            &keys,
            &values,
            scale as f32,
            SumOrder::Tiled,
            &mut tiled,
        );
        attend(
            &q,
            &keys,
            &values,
            scale as f32,
            SumOrder::Stepwise,
            &mut stepwise,
        );
        for d in 0..hd {
            // f16 probabilities: relative 2^-11 per weight.
            assert!((f64::from(tiled[d]) - reference[d]).abs() < 2e-3, "{d}");
            assert!((f64::from(stepwise[d]) - reference[d]).abs() < 2e-3, "{d}");
        }
        assert_ne!(
            tiled, stepwise,
            "the two orders should round differently somewhere"
        );
        // Three heads sharing these keys and values, in one pass: each head's result is the
        // single-head one to the bit, in both orders.
        let heads: Vec<f32> = (0..3 * hd)
            .map(|i| ((i * 11) as f32 * 0.07).cos())
            .collect();
        for order in [SumOrder::Tiled, SumOrder::Stepwise] {
            let mut grouped = vec![0f32; 3 * hd];
            attend_group(
                &heads,
                &keys,
                &values,
                hd,
                scale as f32,
                order,
                &mut grouped,
            );
            for g in 0..3 {
                let mut one = vec![0f32; hd];
                attend(
                    &heads[g * hd..(g + 1) * hd],
                    &keys,
                    &values,
                    scale as f32,
                    order,
                    &mut one,
                );
                let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&grouped[g * hd..(g + 1) * hd]), bits(&one), "head {g}");
            }
        }
    }
}
