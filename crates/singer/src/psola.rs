//! TD-PSOLA: time-domain pitch-synchronous overlap-add.
//!
//! Grains two pitch periods long are cut around the speaker's pitch marks (one per glottal
//! cycle) and laid down again one *target* period apart. The grains keep their own spectral
//! envelope, so the vowel's formants stay put while the pitch moves; repeating or skipping
//! grains changes the length without changing the pitch.

use crate::pitch::Track;

/// Pitch marks of a voiced stretch and the local period at each.
#[derive(Debug, Clone)]
pub struct Marks {
    /// Sample positions, increasing.
    pub at: Vec<usize>,
    /// Period around each mark, samples.
    pub period: Vec<f32>,
}

impl Marks {
    /// Marks in `x[v0..v1]`: the largest positive peak in the first period, then each next
    /// mark one cycle on, at the lag (within ±20% of the tracked period) where the waveform
    /// best matches the cycle around the previous mark. Following the waveform's own
    /// self-similarity keeps the marks on the same point of every cycle, so grains laid down
    /// again add up coherently (peak picking alone can hop between two peaks of a cycle, and
    /// the hops come out as a subharmonic). `None` with fewer than 3 marks.
    pub fn find(x: &[f32], track: &Track, v0: usize, v1: usize) -> Option<Marks> {
        let v1 = v1.min(x.len());
        let t0 = track.period_at(v0)?.round() as usize;
        let first = (v0..(v0 + t0.max(2)).min(v1)).max_by(|&i, &j| x[i].total_cmp(&x[j]))?;
        let mut at = vec![first];
        loop {
            let m = *at.last()?;
            let t = track.period_at(m)?;
            let half = (t / 2.0).round() as usize;
            let lo = (0.8 * t).floor().max(2.0) as usize;
            let hi = (1.2 * t).ceil() as usize;
            if m < half || m + hi + half >= v1 {
                break;
            }
            let reference = &x[m - half..m + half];
            let best = (lo..=hi).max_by(|&a, &b| {
                let score = |lag: usize| -> f32 {
                    let other = &x[m + lag - half..m + lag + half];
                    let (mut dot, mut energy) = (0f32, 1e-12f32);
                    for (r, o) in reference.iter().zip(other) {
                        dot += r * o;
                        energy += o * o;
                    }
                    dot / energy.sqrt()
                };
                score(a).total_cmp(&score(b))
            })?;
            at.push(m + best);
        }
        if at.len() < 3 {
            return None;
        }
        let n = at.len();
        let period = (0..n)
            .map(|k| {
                let (a, b) = match k {
                    0 => (at[0], at[1]),
                    k if k == n - 1 => (at[n - 2], at[n - 1]),
                    k => return (at[k + 1] - at[k - 1]) as f32 / 2.0,
                };
                (b - a) as f32
            })
            .collect();
        Some(Marks { at, period })
    }

    /// Marks every tracked period (120 Hz where nothing was tracked) from `v0` to `v1`, for a
    /// voiced stretch too short to search; at least two.
    pub fn even(track: &Track, v0: usize, v1: usize) -> Marks {
        let period = track
            .period_at(v0)
            .unwrap_or(track.rate() as f32 / 120.0)
            .max(2.0);
        let mut at = Vec::new();
        let mut t = v0 as f32;
        while (t as usize) < v1.max(v0 + 1) || at.len() < 2 {
            at.push(t as usize);
            t += period;
        }
        let n = at.len();
        Marks {
            at,
            period: vec![period; n],
        }
    }

    fn nearest(&self, t: f32) -> usize {
        let i = self.at.partition_point(|&m| (m as f32) < t);
        match i {
            0 => 0,
            i if i >= self.at.len() => self.at.len() - 1,
            i if t - self.at[i - 1] as f32 <= self.at[i] as f32 - t => i - 1,
            i => i,
        }
    }
}

/// `len` samples of the voiced stretch between the first and last marks, stretched evenly and
/// sung at `target(seconds into the note)` Hz.
pub fn synthesize(
    x: &[f32],
    marks: &Marks,
    len: usize,
    rate: u32,
    target: &dyn Fn(f32) -> f32,
) -> Vec<f32> {
    let mut out = vec![0f32; len];
    let first = marks.at[0] as f32;
    let span = (marks.at[marks.at.len() - 1] as f32 - first).max(1.0);
    let mut t = 0f32;
    while (t as usize) < len {
        let k = marks.nearest(first + span * t / len as f32);
        let (m, ta) = (marks.at[k], marks.period[k].max(2.0));
        let p = (rate as f32 / target(t / rate as f32).max(1.0)).max(2.0);
        // Hann grains of length 2·ta at hop p overlap to ta/p on average: undo it.
        let gain = (p / ta).clamp(0.3, 2.5);
        let half = ta.round() as i64;
        let centre = t.round() as i64;
        for j in -half..half {
            let src = m as i64 + j;
            let dst = centre + j;
            if src < 0 || dst < 0 || src as usize >= x.len() || dst as usize >= len {
                continue;
            }
            let w = 0.5 - 0.5 * (std::f32::consts::PI * (j + half) as f32 / half as f32).cos();
            out[dst as usize] += x[src as usize] * w * gain;
        }
        t += p;
    }
    out
}
