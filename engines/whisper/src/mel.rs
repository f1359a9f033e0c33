//! Whisper's log-mel front end: 25 ms Hann frames every 10 ms at 16 kHz, a Slaney mel filter
//! bank, `log10`, an 8-decade floor under the loudest bin and `(x + 4) / 4` scaling.
//!
//! It follows faster-whisper's feature extractor step for step (160 samples of trailing zero
//! padding, centred frames with reflect padding, the last frame dropped), so the same audio
//! gives the same features the peer decodes from.

use rayon::prelude::*;
use rustfft::{FftPlanner, num_complex::Complex};

/// Input sample rate.
pub const SAMPLE_RATE: usize = 16_000;
/// FFT size and window length (25 ms).
pub const N_FFT: usize = 400;
/// Hop between frames (10 ms).
pub const HOP: usize = 160;
/// Frames in one 30 s decoding window.
pub const WINDOW_FRAMES: usize = 3000;

/// A Slaney-normalised mel filter bank over `N_FFT / 2 + 1` bins, row-major `[n_mels][bins]`,
/// as librosa's `filters.mel(sr=16000, n_fft=400, n_mels)` computes it.
pub fn mel_filters(n_mels: usize) -> Vec<f32> {
    let bins = N_FFT / 2 + 1;
    let f_sp = 200.0 / 3.0;
    let min_log_hz = 1000.0;
    let min_log_mel = min_log_hz / f_sp;
    let logstep = 6.4f64.ln() / 27.0;
    let hz_to_mel = |hz: f64| {
        if hz >= min_log_hz {
            min_log_mel + (hz / min_log_hz).ln() / logstep
        } else {
            hz / f_sp
        }
    };
    let mel_to_hz = |mel: f64| {
        if mel >= min_log_mel {
            min_log_hz * (logstep * (mel - min_log_mel)).exp()
        } else {
            f_sp * mel
        }
    };
    let max_mel = hz_to_mel(SAMPLE_RATE as f64 / 2.0);
    let freqs: Vec<f64> = (0..n_mels + 2)
        .map(|i| mel_to_hz(max_mel * i as f64 / (n_mels + 1) as f64))
        .collect();
    let mut out = vec![0f32; n_mels * bins];
    for m in 0..n_mels {
        let enorm = 2.0 / (freqs[m + 2] - freqs[m]);
        for b in 0..bins {
            let f = b as f64 * SAMPLE_RATE as f64 / N_FFT as f64;
            let lower = (f - freqs[m]) / (freqs[m + 1] - freqs[m]);
            let upper = (freqs[m + 2] - f) / (freqs[m + 2] - freqs[m + 1]);
            out[m * bins + b] = (lower.min(upper).max(0.0) * enorm) as f32;
        }
    }
    out
}

/// Log-mel features of 16 kHz mono audio, row-major `[n_mels][frames]` with
/// `frames = samples / 160 + 1`.
pub fn log_mel(samples: &[f32], n_mels: usize) -> (Vec<f32>, usize) {
    let filters = mel_filters(n_mels);
    let bins = N_FFT / 2 + 1;
    // Trailing zeros, then reflect padding of half a window on both sides (centred frames).
    let mut padded_src = samples.to_vec();
    padded_src.extend(std::iter::repeat_n(0.0, HOP));
    let half = N_FFT / 2;
    let n = padded_src.len();
    let reflect = |i: isize| -> f32 {
        let mut j = i;
        if n == 1 {
            return padded_src[0];
        }
        let period = 2 * (n as isize - 1);
        j = j.rem_euclid(period);
        if j >= n as isize {
            j = period - j;
        }
        padded_src[j as usize]
    };
    let padded: Vec<f32> = (-(half as isize)..(n + half) as isize)
        .map(reflect)
        .collect();
    let stft_frames = 1 + (padded.len() - N_FFT) / HOP;
    let frames = stft_frames - 1;
    let window: Vec<f32> = (0..N_FFT)
        .map(|i| (0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / N_FFT as f64).cos()) as f32)
        .collect();
    let fft = FftPlanner::<f32>::new().plan_fft_forward(N_FFT);

    // Frame-major mel energies, computed in parallel chunks of frames.
    let mut mel = vec![0f32; frames * n_mels];
    mel.par_chunks_mut(n_mels * 64)
        .enumerate()
        .for_each(|(chunk, out)| {
            let mut buf = vec![Complex::new(0f32, 0f32); N_FFT];
            let mut scratch = vec![Complex::new(0f32, 0f32); fft.get_inplace_scratch_len()];
            let mut power = vec![0f32; bins];
            for (k, row) in out.chunks_mut(n_mels).enumerate() {
                let f = chunk * 64 + k;
                let start = f * HOP;
                for (i, c) in buf.iter_mut().enumerate() {
                    *c = Complex::new(padded[start + i] * window[i], 0.0);
                }
                fft.process_with_scratch(&mut buf, &mut scratch);
                for (p, c) in power.iter_mut().zip(&buf[..bins]) {
                    *p = c.norm_sqr();
                }
                for (m, v) in row.iter_mut().enumerate() {
                    let fb = &filters[m * bins..(m + 1) * bins];
                    *v = fb.iter().zip(&power).map(|(a, b)| a * b).sum();
                }
            }
        });
    let mut out = vec![0f32; n_mels * frames];
    let mut max = f32::NEG_INFINITY;
    for f in 0..frames {
        for m in 0..n_mels {
            let v = mel[f * n_mels + m].max(1e-10).log10();
            max = max.max(v);
            out[m * frames + f] = v;
        }
    }
    let floor = max - 8.0;
    for v in &mut out {
        *v = (v.max(floor) + 4.0) / 4.0;
    }
    (out, frames)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// faster-whisper's reference values (`FeatureExtractor(80)`, numpy), recorded once.
    #[test]
    fn filter_bank_matches_reference() {
        let f = mel_filters(80);
        let bins = 201;
        assert!((f[1] - 0.024_862_595).abs() < 1e-7, "{}", f[1]);
        assert!(
            (f[bins + 2] - 0.022_871_772).abs() < 1e-7,
            "{}",
            f[bins + 2]
        );
        let row = |m: usize| f[m * bins..(m + 1) * bins].iter().sum::<f32>();
        assert!((row(40) - 0.026_664_86).abs() < 1e-6, "{}", row(40));
        assert!((row(79) - 0.024_925_34).abs() < 1e-6, "{}", row(79));
    }

    /// A tone plus a chirp, 1.5 s; reference features from faster-whisper's extractor.
    #[test]
    fn features_match_reference() {
        let x: Vec<f32> = (0..24_000)
            .map(|n| {
                let n = n as f64;
                let tau = 2.0 * std::f64::consts::PI;
                (0.5 * (tau * 440.0 * n / 16_000.0).sin()
                    + 0.25 * (tau * (200.0 + 1000.0 * n / 24_000.0) * n / 16_000.0).sin())
                    as f32
            })
            .collect();
        let (mel, frames) = log_mel(&x, 80);
        assert_eq!(frames, 151);
        let at = |m: usize, f: usize| mel[m * frames + f];
        for (m, f, want) in [
            (0, 0, 1.152_045_4),
            (10, 20, 1.326_271_3),
            (11, 75, 1.438_203_6),
            (40, 100, 0.096_310_38),
            (79, 150, 0.049_749_196),
            (5, 149, 0.366_436_24),
            (30, 10, -0.507_725_5),
        ] {
            assert!(
                (at(m, f) - want).abs() < 2e-4,
                "mel[{m}][{f}] = {} want {want}",
                at(m, f)
            );
        }
        let mean = mel.iter().sum::<f32>() / mel.len() as f32;
        assert!((mean - -0.274_150_85).abs() < 1e-4, "mean {mean}");
    }
}
