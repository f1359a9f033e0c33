//! The DSP blocks a mix is built from: biquad filters (RBJ cookbook), an envelope follower,
//! a feed-forward compressor, side-chain ducking, constant-power panning, edge fades and a
//! look-ahead true-peak limiter. Each processes whole buffers (offline), in `f64` state.

use crate::{Audio, db_to_gain, gain_to_db};
use std::collections::VecDeque;
use std::f64::consts::PI;

/// Filter shapes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FilterKind {
    /// 12 dB/octave high-pass.
    HighPass,
    /// 12 dB/octave low-pass.
    LowPass,
    /// Band-pass with 0 dB at the centre (subtracting a share of it is a bell cut).
    BandPass,
    /// Bell boost or cut.
    Peak {
        /// Gain at the centre, dB.
        gain_db: f64,
    },
    /// Low shelf.
    LowShelf {
        /// Shelf gain, dB.
        gain_db: f64,
    },
    /// High shelf.
    HighShelf {
        /// Shelf gain, dB.
        gain_db: f64,
    },
}

/// A second-order IIR section (transposed direct form II).
#[derive(Debug, Clone)]
pub struct Biquad {
    b: [f64; 3],
    a: [f64; 2],
}

/// A [`Biquad`] with its delay line (transposed direct form II, in f64).
#[derive(Debug, Clone, Copy)]
pub struct BiquadState {
    b: [f64; 3],
    a: [f64; 2],
    z1: f64,
    z2: f64,
}

impl BiquadState {
    /// Filters the next sample. Every filtering loop in this module goes through here, so
    /// fused and separate passes give the same samples.
    #[inline(always)]
    pub fn next(&mut self, x: f64) -> f64 {
        let y = self.b[0] * x + self.z1;
        self.z1 = self.b[1] * x - self.a[0] * y + self.z2;
        self.z2 = self.b[2] * x - self.a[1] * y;
        y
    }
}

impl Biquad {
    /// Designs a filter at `freq` Hz with quality `q` for `rate`.
    pub fn new(kind: FilterKind, freq: f64, q: f64, rate: u32) -> Self {
        let rate = f64::from(rate);
        let freq = freq.clamp(1.0, rate * 0.49);
        let w0 = 2.0 * PI * freq / rate;
        let (sin, cos) = w0.sin_cos();
        let alpha = sin / (2.0 * q.max(0.05));
        let (b0, b1, b2, a0, a1, a2) = match kind {
            FilterKind::HighPass => (
                (1.0 + cos) / 2.0,
                -(1.0 + cos),
                (1.0 + cos) / 2.0,
                1.0 + alpha,
                -2.0 * cos,
                1.0 - alpha,
            ),
            FilterKind::LowPass => (
                (1.0 - cos) / 2.0,
                1.0 - cos,
                (1.0 - cos) / 2.0,
                1.0 + alpha,
                -2.0 * cos,
                1.0 - alpha,
            ),
            FilterKind::BandPass => (alpha, 0.0, -alpha, 1.0 + alpha, -2.0 * cos, 1.0 - alpha),
            FilterKind::Peak { gain_db } => {
                let a = 10f64.powf(gain_db / 40.0);
                (
                    1.0 + alpha * a,
                    -2.0 * cos,
                    1.0 - alpha * a,
                    1.0 + alpha / a,
                    -2.0 * cos,
                    1.0 - alpha / a,
                )
            }
            FilterKind::LowShelf { gain_db } | FilterKind::HighShelf { gain_db } => {
                let a = 10f64.powf(gain_db / 40.0);
                let s = 2.0 * a.sqrt() * alpha;
                if matches!(kind, FilterKind::LowShelf { .. }) {
                    (
                        a * ((a + 1.0) - (a - 1.0) * cos + s),
                        2.0 * a * ((a - 1.0) - (a + 1.0) * cos),
                        a * ((a + 1.0) - (a - 1.0) * cos - s),
                        (a + 1.0) + (a - 1.0) * cos + s,
                        -2.0 * ((a - 1.0) + (a + 1.0) * cos),
                        (a + 1.0) + (a - 1.0) * cos - s,
                    )
                } else {
                    (
                        a * ((a + 1.0) + (a - 1.0) * cos + s),
                        -2.0 * a * ((a - 1.0) + (a + 1.0) * cos),
                        a * ((a + 1.0) + (a - 1.0) * cos - s),
                        (a + 1.0) - (a - 1.0) * cos + s,
                        2.0 * ((a - 1.0) - (a + 1.0) * cos),
                        (a + 1.0) - (a - 1.0) * cos - s,
                    )
                }
            }
        };
        Self {
            b: [b0 / a0, b1 / a0, b2 / a0],
            a: [a1 / a0, a2 / a0],
        }
    }

    /// A section from normalised coefficients: `b` numerator, `a` denominator without its
    /// leading 1.
    pub fn from_coefficients(b: [f64; 3], a: [f64; 2]) -> Self {
        Self { b, a }
    }

    /// A running instance of this section, fed one sample at a time (for fusing filters
    /// into a caller's own loop).
    pub fn state(&self) -> BiquadState {
        BiquadState {
            b: self.b,
            a: self.a,
            z1: 0.0,
            z2: 0.0,
        }
    }

    /// Filters one channel in place.
    pub fn process(&self, samples: &mut [f32]) {
        let mut state = self.state();
        for s in samples {
            *s = state.next(f64::from(*s)) as f32;
        }
    }

    /// Filters every channel of `audio`. Stereo runs both channels in one loop: the two
    /// recursions are independent, so the CPU overlaps them.
    pub fn process_audio(&self, audio: &mut Audio) {
        if let [left, right] = audio.channels.as_mut_slice() {
            let (mut l, mut r) = (self.state(), self.state());
            for (xl, xr) in left.iter_mut().zip(right.iter_mut()) {
                *xl = l.next(f64::from(*xl)) as f32;
                *xr = r.next(f64::from(*xr)) as f32;
            }
            return;
        }
        for ch in &mut audio.channels {
            self.process(ch);
        }
    }

    /// Filters every channel of `audio` through `self` and then `next`, in one pass: the
    /// same samples as two [`Self::process_audio`] calls, read and written once.
    pub fn process_audio_then(&self, next: &Biquad, audio: &mut Audio) {
        if let [left, right] = audio.channels.as_mut_slice() {
            let (mut l1, mut l2) = (self.state(), next.state());
            let (mut r1, mut r2) = (self.state(), next.state());
            for (l, r) in left.iter_mut().zip(right.iter_mut()) {
                *l = l2.next(f64::from(l1.next(f64::from(*l)) as f32)) as f32;
                *r = r2.next(f64::from(r1.next(f64::from(*r)) as f32)) as f32;
            }
            return;
        }
        for ch in &mut audio.channels {
            let (mut first, mut second) = (self.state(), next.state());
            for s in ch.iter_mut() {
                *s = second.next(f64::from(first.next(f64::from(*s)) as f32)) as f32;
            }
        }
    }

    /// Magnitude response at `freq`, dB (for tests and documentation).
    pub fn response_db(&self, freq: f64, rate: u32) -> f64 {
        let w = 2.0 * PI * freq / f64::from(rate);
        let (z1r, z1i) = (w.cos(), -w.sin());
        let (z2r, z2i) = ((2.0 * w).cos(), -(2.0 * w).sin());
        let nr = self.b[0] + self.b[1] * z1r + self.b[2] * z2r;
        let ni = self.b[1] * z1i + self.b[2] * z2i;
        let dr = 1.0 + self.a[0] * z1r + self.a[1] * z2r;
        let di = self.a[0] * z1i + self.a[1] * z2i;
        10.0 * ((nr * nr + ni * ni) / (dr * dr + di * di)).log10()
    }
}

/// One-pole smoothing coefficient for a time constant.
fn coefficient(ms: f64, rate: u32) -> f64 {
    if ms <= 0.0 {
        return 0.0;
    }
    (-1.0 / (ms / 1000.0 * f64::from(rate))).exp()
}

/// Peak envelope (linked across channels) with separate attack and release, in dBFS.
pub fn envelope_db(audio: &Audio, attack_ms: f64, release_ms: f64) -> Vec<f32> {
    let (att, rel) = (
        coefficient(attack_ms, audio.sample_rate),
        coefficient(release_ms, audio.sample_rate),
    );
    let mut env = 0.0f64;
    (0..audio.frames())
        .map(|i| {
            let x = audio
                .channels
                .iter()
                .fold(0.0f64, |m, c| m.max(f64::from(c[i].abs())));
            let coef = if x > env { att } else { rel };
            env = coef * env + (1.0 - coef) * x;
            (20.0 * env.max(1e-9).log10()) as f32
        })
        .collect()
}

/// Compressor settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Compressor {
    /// Level above which gain is reduced, dBFS.
    pub threshold_db: f64,
    /// Input:output slope above the threshold.
    pub ratio: f64,
    /// Attack, ms.
    pub attack_ms: f64,
    /// Release, ms.
    pub release_ms: f64,
    /// Soft-knee width, dB.
    pub knee_db: f64,
    /// Gain added after compression, dB.
    pub makeup_db: f64,
}

impl Compressor {
    /// Static gain reduction (≤ 0 dB) for a detector level.
    fn reduction_db(&self, level_db: f64) -> f64 {
        let over = level_db - self.threshold_db;
        let slope = 1.0 / self.ratio.max(1.0) - 1.0;
        if 2.0 * over < -self.knee_db {
            0.0
        } else if self.knee_db > 0.0 && 2.0 * over.abs() <= self.knee_db {
            slope * (over + self.knee_db / 2.0).powi(2) / (2.0 * self.knee_db)
        } else {
            slope * over
        }
    }

    /// Compresses `audio` in place (stereo-linked); returns the largest reduction in dB.
    pub fn process(&self, audio: &mut Audio) -> f64 {
        let (gains, deepest) = self.gain_curve(audio);
        apply_gain_curve(audio, &gains);
        deepest
    }

    /// Compresses `audio` driven by the level of `key` (side-chain); returns the largest
    /// reduction in dB (a positive number).
    pub fn process_keyed(&self, audio: &mut Audio, key: &Audio) -> f64 {
        let (gains, deepest) = self.gain_curve(key);
        apply_gain_curve(audio, &gains);
        deepest
    }

    /// The per-frame linear gain (make-up included) this compressor applies for a detector
    /// signal, and the deepest reduction in dB.
    ///
    /// Level detection and the gain computer run at a control rate of one value per
    /// [`CONTROL_BLOCK`] frames (0.36 ms at 44.1 kHz, well under any attack time), and the gain
    /// is interpolated linearly between blocks: the logarithms per sample were most of the cost.
    pub fn gain_curve(&self, key: &Audio) -> (Vec<f32>, f64) {
        let frames = key.frames();
        let block_rate = (key.sample_rate as usize).div_ceil(CONTROL_BLOCK).max(1) as u32;
        let (att, rel) = (
            coefficient(self.attack_ms, block_rate),
            coefficient(self.release_ms, block_rate),
        );
        let makeup = db_to_gain(self.makeup_db as f32);
        let blocks = frames.div_ceil(CONTROL_BLOCK);
        let mut gr = 0.0f64;
        let mut deepest = 0.0f64;
        let mut block_gain = Vec::with_capacity(blocks + 1);
        block_gain.push(makeup);
        for b in 0..blocks {
            let range = b * CONTROL_BLOCK..((b + 1) * CONTROL_BLOCK).min(frames);
            let peak = key
                .channels
                .iter()
                .map(|c| c[range.clone()].iter().fold(0.0f32, |m, s| m.max(s.abs())))
                .fold(0.0f32, f32::max);
            let target = self.reduction_db(f64::from(gain_to_db(peak.max(1e-9))));
            let coef = if target < gr { att } else { rel };
            gr = coef * gr + (1.0 - coef) * target;
            deepest = deepest.min(gr);
            block_gain.push(db_to_gain(gr as f32) * makeup);
        }
        let mut gains = Vec::with_capacity(frames);
        for b in 0..blocks {
            let (g0, g1) = (block_gain[b], block_gain[b + 1]);
            let n = (frames - b * CONTROL_BLOCK).min(CONTROL_BLOCK);
            let step = (g1 - g0) / CONTROL_BLOCK as f32;
            gains.extend((0..n).map(|i| g0 + step * (i + 1) as f32));
        }
        (gains, -deepest)
    }
}

/// Frames per control-rate step of the dynamics processors.
pub const CONTROL_BLOCK: usize = 16;

/// Multiplies every channel by a per-frame gain.
pub fn apply_gain_curve(audio: &mut Audio, gains: &[f32]) {
    for ch in &mut audio.channels {
        for (s, g) in ch.iter_mut().zip(gains) {
            *s *= g;
        }
    }
}

/// Constant-power pan of a stereo (or mono, first made stereo) signal: −1 left, 0 centre
/// (−3 dB each side), +1 right.
pub fn pan(audio: Audio, position: f32) -> Audio {
    let mut audio = audio.with_channels(2);
    let theta = (position.clamp(-1.0, 1.0) + 1.0) * std::f32::consts::FRAC_PI_4;
    let (l, r) = (
        theta.cos() * std::f32::consts::SQRT_2,
        theta.sin() * std::f32::consts::SQRT_2,
    );
    audio.channels[0].iter_mut().for_each(|s| *s *= l);
    audio.channels[1].iter_mut().for_each(|s| *s *= r);
    audio
}

/// Raised-cosine fade-in and fade-out of `ms` at the edges, so a track that starts or ends
/// mid-waveform does not click.
pub fn fade_edges(audio: &mut Audio, ms: f64) {
    let n = ((ms / 1000.0) * f64::from(audio.sample_rate)) as usize;
    let frames = audio.frames();
    let n = n.min(frames / 2);
    for ch in &mut audio.channels {
        for i in 0..n {
            let g = (0.5 - 0.5 * (PI * i as f64 / n as f64).cos()) as f32;
            ch[i] *= g;
            ch[frames - 1 - i] *= g;
        }
    }
}

/// Windowed-sinc 4× interpolator, the estimate of inter-sample peaks BS.1770 true peak uses.
struct Oversampler {
    phases: [[f32; TAPS]; 3],
}

const TAPS: usize = 12;

impl Oversampler {
    fn new() -> Self {
        let mut phases = [[0.0f32; TAPS]; 3];
        for (p, phase) in phases.iter_mut().enumerate() {
            let frac = (p + 1) as f64 / 4.0;
            for (k, tap) in phase.iter_mut().enumerate() {
                let x = k as f64 - (TAPS / 2 - 1) as f64 - frac;
                let sinc = if x.abs() < 1e-12 {
                    1.0
                } else {
                    (PI * x).sin() / (PI * x)
                };
                let w = 0.42
                    + 0.5 * (PI * x / (TAPS as f64 / 2.0)).cos()
                    + 0.08 * (2.0 * PI * x / (TAPS as f64 / 2.0)).cos();
                *tap = (sinc * w.max(0.0)) as f32;
            }
        }
        Self { phases }
    }

    /// The most any interpolated point can exceed its window's largest sample by: the
    /// largest Σ|taps| of a phase (at least 1, for the samples themselves).
    fn gain_bound(&self) -> f32 {
        self.phases
            .iter()
            .map(|p| p.iter().map(|t| t.abs()).sum::<f32>())
            .fold(1.0f32, f32::max)
    }

    /// Like [`Self::peaks`], but interpolates only stretches that could reach above `floor`
    /// (|interpolated| ≤ window maximum × Σ|taps|); elsewhere the sample's own magnitude
    /// stands in, which is all a caller comparing against `floor` needs. Quiet passages then
    /// cost a single pass.
    fn peaks_above(&self, ch: &[f32], floor: f32) -> Vec<f32> {
        let gain_bound = self.gain_bound();
        const STRETCH: usize = 4096;
        let mut out: Vec<f32> = ch.iter().map(|s| s.abs()).collect();
        for start in (0..ch.len()).step_by(STRETCH) {
            let lo = start.saturating_sub(TAPS);
            let hi = (start + STRETCH + TAPS).min(ch.len());
            let local = out[lo..hi].iter().fold(0.0f32, |m, s| m.max(*s));
            if local * gain_bound <= floor {
                continue;
            }
            let peaks = self.peaks(&ch[lo..hi]);
            let from = start - lo;
            let to = (from + STRETCH).min(peaks.len());
            out[start..start + (to - from)].copy_from_slice(&peaks[from..to]);
        }
        out
    }

    /// Per-sample peak of the signal and its three interpolated points after it.
    fn peaks(&self, ch: &[f32]) -> Vec<f32> {
        let n = ch.len();
        let half = TAPS / 2 - 1;
        // Zero-padded copy so every output index has a full window.
        let mut padded = vec![0.0f32; n + TAPS + LANES];
        padded[half..half + n].copy_from_slice(ch);
        let mut peak: Vec<f32> = ch.iter().map(|s| s.abs()).collect();
        for (i, out) in (0..n).step_by(LANES).zip(peak.chunks_mut(LANES)) {
            for (p, m) in out.iter_mut().zip(self.interpolated_max(&padded[i..])) {
                *p = p.max(m);
            }
        }
        peak
    }

    /// For `LANES` consecutive outputs, the largest magnitude of the three points the
    /// interpolator places after each; `window[j]` is the sample `half` before output `j`.
    ///
    /// The sixteen sums stay in registers across all taps (a block-wide accumulator went
    /// through memory on every tap), and the fixed-width inner loop vectorises (SSE/AVX
    /// natively, simd128 in wasm).
    #[inline(always)]
    fn interpolated_max(&self, window: &[f32]) -> [f32; LANES] {
        let window = &window[..TAPS + LANES];
        let mut peak = [0.0f32; LANES];
        for phase in &self.phases {
            let mut acc = [0.0f32; LANES];
            for (k, &tap) in phase.iter().enumerate() {
                for (a, &x) in acc.iter_mut().zip(&window[k..k + LANES]) {
                    *a += x * tap;
                }
            }
            for (p, a) in peak.iter_mut().zip(acc) {
                *p = p.max(a.abs());
            }
        }
        peak
    }
}

/// True peak of one channel as a linear amplitude: the highest of the samples and the three
/// points a 4× windowed-sinc interpolator places between each pair (as BS.1770-4 Annex 2).
///
/// Only the maximum is kept, and a block is interpolated only if it could beat the highest
/// peak found so far (|interpolated| ≤ window maximum × Σ|taps|): the same answer as
/// interpolating everything, at a fraction of the work on sustained music.
pub fn true_peak(ch: &[f32]) -> f32 {
    const BLOCK: usize = 1024;
    let os = Oversampler::new();
    let bound = os.gain_bound();
    let half = TAPS / 2 - 1;
    let mut best = ch.iter().fold(0.0f32, |m, s| m.max(s.abs()));
    let mut window = [0.0f32; BLOCK + TAPS + LANES];
    for start in (0..ch.len()).step_by(BLOCK) {
        let len = BLOCK.min(ch.len() - start);
        // window[j] = ch[start − half + j], zero outside the signal.
        let from = start.saturating_sub(half);
        let to = (start + len + TAPS - half).min(ch.len());
        let local = ch[from..to].iter().fold(0.0f32, |m, s| m.max(s.abs()));
        if local * bound <= best {
            continue;
        }
        window.fill(0.0);
        let offset = from + half - start;
        window[offset..offset + (to - from)].copy_from_slice(&ch[from..to]);
        for i in (0..len).step_by(LANES) {
            let mut peak = os.interpolated_max(&window[i..]);
            // Points past the signal's end are not part of it.
            peak[LANES.min(len - i)..].fill(0.0);
            best = peak.iter().fold(best, |m, p| m.max(*p));
        }
    }
    best
}

/// Outputs the interpolation kernel computes together.
const LANES: usize = 16;

/// Look-ahead limiter that keeps the true (inter-sample) peak under a ceiling.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TruePeakLimiter {
    /// Ceiling, dBTP.
    pub ceiling_db: f64,
    /// Look-ahead (and attack), ms.
    pub lookahead_ms: f64,
    /// Release, ms.
    pub release_ms: f64,
}

impl TruePeakLimiter {
    /// Limits `audio` in place; returns the deepest gain reduction in dB.
    ///
    /// The required gain at each sample (ceiling ÷ oversampled peak) is spread backwards and
    /// forwards by a sliding minimum over ±look-ahead, then averaged over the look-ahead, so
    /// the gain is already down when a peak arrives and never above what any peak needs;
    /// recovery is then slowed by the release.
    pub fn process(&self, audio: &mut Audio) -> f64 {
        let frames = audio.frames();
        if frames == 0 {
            return 0.0;
        }
        let ceiling = db_to_gain(self.ceiling_db as f32);
        let os = Oversampler::new();
        let mut required = vec![1.0f32; frames];
        for ch in &audio.channels {
            for (r, p) in required.iter_mut().zip(os.peaks_above(ch, ceiling)) {
                if p > ceiling {
                    *r = r.min(ceiling / p);
                }
            }
        }
        // Nothing reaches the ceiling: every gain would be exactly 1, so skip the smoothing.
        if required.iter().all(|&r| r >= 1.0) {
            return 0.0;
        }
        let look = ((self.lookahead_ms / 1000.0) * f64::from(audio.sample_rate)).max(1.0) as usize;
        let held = sliding_min(&required, look);
        let smoothed = moving_average(&held, look / 2);
        let rel = coefficient(self.release_ms, audio.sample_rate) as f32;
        let mut g = 1.0f32;
        let mut deepest = 1.0f32;
        let gains: Vec<f32> = smoothed
            .iter()
            .map(|&target| {
                g = if target < g {
                    target
                } else {
                    target + (g - target) * rel
                };
                deepest = deepest.min(g);
                g
            })
            .collect();
        for ch in &mut audio.channels {
            for (s, g) in ch.iter_mut().zip(&gains) {
                *s *= g;
            }
        }
        -f64::from(gain_to_db(deepest))
    }
}

/// Minimum over the window `[i − radius, i + radius]`, by a monotonic deque.
fn sliding_min(x: &[f32], radius: usize) -> Vec<f32> {
    let n = x.len();
    let mut out = vec![0.0; n];
    let mut q: VecDeque<usize> = VecDeque::new();
    let mut next = 0;
    for (i, o) in out.iter_mut().enumerate() {
        let hi = (i + radius).min(n - 1);
        while next <= hi {
            while q.back().is_some_and(|&b| x[b] >= x[next]) {
                q.pop_back();
            }
            q.push_back(next);
            next += 1;
        }
        while q.front().is_some_and(|&f| f + radius < i) {
            q.pop_front();
        }
        *o = q.front().map_or(1.0, |&f| x[f]);
    }
    out
}

/// Mean over `[i − radius, i + radius]` (edges use the part inside the buffer).
fn moving_average(x: &[f32], radius: usize) -> Vec<f32> {
    let n = x.len();
    let mut prefix = vec![0.0f64; n + 1];
    for i in 0..n {
        prefix[i + 1] = prefix[i] + f64::from(x[i]);
    }
    (0..n)
        .map(|i| {
            let lo = i.saturating_sub(radius);
            let hi = (i + radius + 1).min(n);
            ((prefix[hi] - prefix[lo]) / (hi - lo) as f64) as f32
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loudness::measure;

    fn sine(rate: u32, hz: f32, seconds: f32, amp: f32) -> Vec<f32> {
        (0..(rate as f32 * seconds) as usize)
            .map(|i| amp * (i as f32 * hz * std::f32::consts::TAU / rate as f32).sin())
            .collect()
    }

    fn rms(x: &[f32]) -> f32 {
        (x.iter().map(|s| s * s).sum::<f32>() / x.len() as f32).sqrt()
    }

    #[test]
    fn filters_have_the_designed_response() {
        let hp = Biquad::new(
            FilterKind::HighPass,
            100.0,
            std::f64::consts::FRAC_1_SQRT_2,
            48000,
        );
        assert!((hp.response_db(100.0, 48000) + 3.01).abs() < 0.1);
        assert!(
            hp.response_db(25.0, 48000) < -23.0,
            "12 dB/oct: two octaves down ≈ −24 dB"
        );
        assert!(hp.response_db(5000.0, 48000).abs() < 0.05);
        let peak = Biquad::new(FilterKind::Peak { gain_db: 3.0 }, 4000.0, 1.0, 48000);
        assert!((peak.response_db(4000.0, 48000) - 3.0).abs() < 0.05);
        let shelf = Biquad::new(FilterKind::HighShelf { gain_db: 2.0 }, 8000.0, 0.7, 48000);
        assert!((shelf.response_db(18000.0, 48000) - 2.0).abs() < 0.3);
        assert!(shelf.response_db(200.0, 48000).abs() < 0.1);
        // And the processed signal agrees with the formula.
        let mut s = sine(48000, 25.0, 1.0, 1.0);
        hp.process(&mut s);
        assert!(rms(&s[24000..]) < 0.07, "{}", rms(&s[24000..]));
    }

    #[test]
    fn compressor_reduces_by_the_ratio_above_threshold() {
        let c = Compressor {
            threshold_db: -20.0,
            ratio: 4.0,
            attack_ms: 1.0,
            release_ms: 50.0,
            knee_db: 0.0,
            makeup_db: 0.0,
        };
        assert_eq!(c.reduction_db(-30.0), 0.0);
        assert!(
            (c.reduction_db(-8.0) + 9.0).abs() < 1e-9,
            "12 dB over at 4:1 → −9 dB"
        );
        let mut a = Audio {
            sample_rate: 48000,
            channels: vec![vec![0.5; 48000]],
        };
        let deepest = c.process(&mut a);
        // 0.5 is −6 dBFS: 14 dB over → 10.5 dB reduction once settled.
        assert!((deepest - 10.5).abs() < 0.1, "{deepest}");
        assert!((gain_to_db(a.channels[0][47999]) - (-16.5)).abs() < 0.1);
    }

    #[test]
    fn pan_is_constant_power() {
        let a = Audio {
            sample_rate: 8000,
            channels: vec![vec![1.0; 10]],
        };
        let centre = pan(a.clone(), 0.0);
        assert!(
            (centre.channels[0][0] - 1.0).abs() < 1e-6
                && (centre.channels[1][0] - 1.0).abs() < 1e-6
        );
        let left = pan(a, -1.0);
        let power = left.channels[0][0].powi(2) + left.channels[1][0].powi(2);
        assert!((power - 2.0).abs() < 1e-5 && left.channels[1][0].abs() < 1e-6);
    }

    #[test]
    fn limiter_holds_true_peak_under_the_ceiling() {
        // A loud 1 kHz tone with inter-sample overs, driven 6 dB into the ceiling.
        let rate = 44100;
        let s = sine(rate, 11025.0 / 2.0 + 37.0, 2.0, 1.9);
        let mut a = Audio {
            sample_rate: rate,
            channels: vec![s.clone(), s],
        };
        let lim = TruePeakLimiter {
            ceiling_db: -1.0,
            lookahead_ms: 1.5,
            release_ms: 60.0,
        };
        let deepest = lim.process(&mut a);
        assert!(deepest > 5.0, "{deepest}");
        let tp = measure(&a).unwrap().true_peak_dbtp;
        assert!(tp <= -0.95, "true peak {tp} dBTP");
        assert!(a.is_finite());
    }

    #[test]
    fn fades_remove_edge_discontinuities() {
        let mut a = Audio {
            sample_rate: 48000,
            channels: vec![vec![1.0; 4800]],
        };
        fade_edges(&mut a, 5.0);
        assert_eq!(a.channels[0][0], 0.0);
        assert!(a.channels[0][4799].abs() < 1e-3);
        assert_eq!(a.channels[0][2400], 1.0);
    }

    #[test]
    fn a_fused_pair_of_filters_equals_two_passes() {
        let rate = 44100;
        let low = Biquad::new(FilterKind::LowShelf { gain_db: 3.0 }, 120.0, 0.7, rate);
        let high = Biquad::new(FilterKind::HighShelf { gain_db: -2.0 }, 8000.0, 0.7, rate);
        for channels in [1usize, 2, 3] {
            let input = Audio {
                sample_rate: rate,
                channels: (0..channels)
                    .map(|c| {
                        (0..5000)
                            .map(|i| (i as f32 * (0.01 + 0.2 * c as f32)).sin() * 0.7)
                            .collect()
                    })
                    .collect(),
            };
            let mut two = input.clone();
            low.process_audio(&mut two);
            high.process_audio(&mut two);
            let mut fused = input;
            low.process_audio_then(&high, &mut fused);
            assert_eq!(fused.channels, two.channels, "{channels} channels");
        }
    }

    #[test]
    fn pruned_true_peak_equals_interpolating_everything() {
        // Quiet and loud passages, a near-Nyquist burst whose peaks fall between samples, and
        // lengths that end mid-block and mid-group.
        let mut seed = 7u32;
        for len in [5usize, 1000, 1037, 40_000, 44_101] {
            let x: Vec<f32> = (0..len)
                .map(|i| {
                    seed ^= seed << 13;
                    seed ^= seed >> 17;
                    seed ^= seed << 5;
                    let noise = (seed as f32 / u32::MAX as f32 - 0.5) * 0.05;
                    let loud = if (i / 3000) % 3 == 1 { 0.9 } else { 0.1 };
                    loud * (i as f32 * 0.47 * std::f32::consts::PI + 0.8).sin() + noise
                })
                .collect();
            let everything = Oversampler::new()
                .peaks(&x)
                .into_iter()
                .fold(0.0f32, f32::max);
            assert_eq!(true_peak(&x), everything, "{len} samples");
        }
        assert_eq!(true_peak(&[]), 0.0);
    }

    #[test]
    fn sliding_min_and_average_windows() {
        let x = [1.0, 1.0, 0.2, 1.0, 1.0, 1.0];
        assert_eq!(sliding_min(&x, 1), vec![1.0, 0.2, 0.2, 0.2, 1.0, 1.0]);
        let avg = moving_average(&[0.0, 3.0, 0.0], 1);
        assert_eq!(avg, vec![1.5, 1.0, 1.5]);
    }
}
