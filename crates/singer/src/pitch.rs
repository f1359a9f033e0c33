//! A YIN pitch tracker (de Cheveigné & Kawahara 2002): fundamental frequency per 10 ms frame.

/// Lowest pitch looked for, Hz (below a bass's speaking voice).
pub const F0_MIN: f32 = 60.0;
/// Highest pitch looked for, Hz.
pub const F0_MAX: f32 = 500.0;
/// Cumulative-mean-normalised difference below which a frame counts as voiced.
const THRESHOLD: f32 = 0.2;

/// Pitch of each frame; frame `i` is centred on sample `i × hop`.
#[derive(Debug, Clone)]
pub struct Track {
    /// Samples between frames.
    pub hop: usize,
    /// Hz, `None` where unvoiced.
    pub f0: Vec<Option<f32>>,
    /// Signal length in samples.
    pub len: usize,
    rate: u32,
}

/// Tracks `x` (mono, `rate` Hz).
pub fn track(x: &[f32], rate: u32) -> Track {
    let hop = (rate / 100) as usize;
    let tau_max = (rate as f32 / F0_MIN).ceil() as usize;
    let tau_min = (rate as f32 / F0_MAX).floor().max(2.0) as usize;
    let window = (rate as f32 * 0.02) as usize;
    let frames = x.len().div_ceil(hop.max(1));
    let peak = x.iter().fold(0f32, |m, s| m.max(s.abs()));
    let mut d = vec![0f32; tau_max + 1];
    let f0 = (0..frames)
        .map(|i| {
            let centre = i * hop;
            let start = centre as i64 - ((window + tau_max) / 2) as i64;
            let at = |j: i64| -> f32 {
                if j < 0 {
                    0.0
                } else {
                    x.get(j as usize).copied().unwrap_or(0.0)
                }
            };
            let frame: Vec<f32> = (0..window + tau_max)
                .map(|j| at(start + j as i64))
                .collect();
            let energy = frame[..window].iter().map(|s| s * s).sum::<f32>() / window as f32;
            // Quieter than −40 dB of the take's peak: not worth a pitch.
            if energy.sqrt() < peak * 0.01 {
                return None;
            }
            for (tau, dv) in d.iter_mut().enumerate().skip(1) {
                *dv = squared_distance(&frame[..window], &frame[tau..tau + window]);
            }
            let mut running = 0f32;
            let mut cmnd = vec![1f32; tau_max + 1];
            for tau in 1..=tau_max {
                running += d[tau];
                cmnd[tau] = if running > 0.0 {
                    d[tau] * tau as f32 / running
                } else {
                    1.0
                };
            }
            let mut tau = tau_min;
            while tau < tau_max {
                if cmnd[tau] < THRESHOLD {
                    while tau + 1 < tau_max && cmnd[tau + 1] < cmnd[tau] {
                        tau += 1;
                    }
                    // Parabolic interpolation around the minimum.
                    let (a, b, c) = (cmnd[tau - 1], cmnd[tau], cmnd[tau + 1]);
                    let denom = a - 2.0 * b + c;
                    let shift = if denom.abs() > 1e-9 {
                        0.5 * (a - c) / denom
                    } else {
                        0.0
                    };
                    return Some(rate as f32 / (tau as f32 + shift.clamp(-0.5, 0.5)));
                }
                tau += 1;
            }
            None
        })
        .collect();
    Track {
        hop,
        f0,
        len: x.len(),
        rate,
    }
}

/// Σ (a - b)² in eight running sums: a single running sum is one long chain of dependent
/// additions the compiler may not reorder, eight independent ones become SIMD lanes (this
/// loop is most of a sung vocal's time in the component).
fn squared_distance(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| (x - y) * (x - y))
        .sum();
    for (xa, xb) in ca.zip(cb) {
        for l in 0..8 {
            let diff = xa[l] - xb[l];
            lanes[l] += diff * diff;
        }
    }
    lanes.iter().sum::<f32>() + tail
}

impl Track {
    /// Samples from the first to the last voiced frame of the longest voiced stretch group
    /// (voiced runs of at least 3 frames, gaps of up to 3 frames bridged); `None` if none.
    pub fn voiced_span(&self) -> Option<(usize, usize)> {
        let voiced: Vec<bool> = self.f0.iter().map(Option::is_some).collect();
        let mut first = None;
        let mut last = None;
        let mut i = 0;
        while i < voiced.len() {
            if voiced[i] {
                let run_end = (i..voiced.len())
                    .find(|&j| !voiced[j])
                    .unwrap_or(voiced.len());
                if run_end - i >= 3 {
                    first.get_or_insert(i);
                    last = Some(run_end - 1);
                }
                i = run_end;
            } else {
                i += 1;
            }
        }
        let (a, b) = (first?, last?);
        let half = self.hop / 2;
        let start = (a * self.hop).saturating_sub(half);
        let end = (b * self.hop + half).min(self.len);
        (end > start + self.hop).then_some((start, end))
    }

    /// Sample rate of the tracked signal.
    pub fn rate(&self) -> u32 {
        self.rate
    }

    /// The pitch period (samples) near sample `t`: the nearest voiced frame's.
    pub fn period_at(&self, t: usize) -> Option<f32> {
        let i = (t / self.hop.max(1)).min(self.f0.len().saturating_sub(1));
        (0..self.f0.len()).find_map(|k| {
            let left = i.checked_sub(k).and_then(|j| self.f0[j]);
            let right = self.f0.get(i + k).copied().flatten();
            left.or(right).map(|f| self.rate as f32 / f)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pulse_train_is_found_at_its_pitch_and_silence_is_unvoiced() {
        let rate = 22050;
        let mut x = vec![0f32; rate as usize / 2];
        let period = rate as f32 / 147.0;
        let mut phase = 0f32;
        for s in x.iter_mut().skip(rate as usize / 10) {
            phase += 1.0;
            if phase >= period {
                phase -= period;
            }
            *s = (-phase / 12.0).exp() * 0.5 - 0.04;
        }
        let t = track(&x, rate);
        let mid = t.f0[30].expect("voiced");
        assert!((mid - 147.0).abs() < 1.5, "{mid}");
        assert!(t.f0[2].is_none());
        let (a, _) = t.voiced_span().unwrap();
        assert!((a as i64 - 2205).abs() < 400, "{a}");
    }
}
