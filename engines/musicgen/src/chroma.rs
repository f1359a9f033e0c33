//! The melody condition of MusicGen Melody: the dominant pitch class of each frame of a
//! recording, as Hugging Face's `MusicgenMelodyFeatureExtractor` computes it (a power
//! spectrogram with a periodic Hann window, centred frames with reflect padding, librosa's
//! chroma filter bank, then the loudest of the twelve classes). The model was trained on
//! these one-hot frames, so the numbers must follow that recipe, not any chromagram.

use rustfft::FftPlanner;
use rustfft::num_complex::Complex;

/// How the extractor frames a recording (its `preprocessor_config.json` defaults).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ChromaSettings {
    /// Rate the recording must be at, Hz.
    pub sample_rate: usize,
    pub n_fft: usize,
    pub hop: usize,
    pub num_chroma: usize,
}

impl ChromaSettings {
    /// MusicGen Melody's extractor: 32 kHz, 16384-point frames every 4096 samples, 12 classes.
    pub const MUSICGEN_MELODY: ChromaSettings = ChromaSettings {
        sample_rate: 32_000,
        n_fft: 16_384,
        hop: 4_096,
        num_chroma: 12,
    };
}

/// librosa's chroma filter bank (`tuning` 0, columns L2-normalised, then weighted by a
/// Gaussian over octaves centred 5 octaves above A0 (880 Hz), 2 octaves wide; first row C):
/// `[num_chroma][n_fft / 2 + 1]`.
pub fn filter_bank(sample_rate: f64, n_fft: usize, num_chroma: usize) -> Vec<Vec<f64>> {
    let nc = num_chroma as f64;
    // Fractional chroma bin of each FFT bin; the DC bin is placed 1.5 octaves below bin 1.
    let mut bins: Vec<f64> = (1..n_fft)
        .map(|k| {
            let hz = k as f64 * sample_rate / n_fft as f64;
            nc * (hz / (440.0 / 16.0)).log2()
        })
        .collect();
    bins.insert(0, bins[0] - 1.5 * nc);
    let widths: Vec<f64> = (0..n_fft)
        .map(|i| {
            if i + 1 < n_fft {
                (bins[i + 1] - bins[i]).max(1.0)
            } else {
                1.0
            }
        })
        .collect();
    let half = nc / 2.0;
    let half = half.round();
    let mut bank = vec![vec![0f64; n_fft]; num_chroma];
    for (c, row) in bank.iter_mut().enumerate() {
        for i in 0..n_fft {
            let d = (bins[i] - c as f64 + half + 10.0 * nc).rem_euclid(nc) - half;
            row[i] = (-0.5 * (2.0 * d / widths[i]).powi(2)).exp();
        }
    }
    for i in 0..n_fft {
        let norm = bank.iter().map(|r| r[i] * r[i]).sum::<f64>().sqrt();
        let weight = (-0.5 * ((bins[i] / nc - 5.0) / 2.0).powi(2)).exp();
        for row in bank.iter_mut() {
            row[i] = row[i] / norm * weight;
        }
    }
    // Rows start at A; rotate so the first is C.
    let shift = 3 * (num_chroma / 12);
    bank.rotate_left(shift);
    for row in bank.iter_mut() {
        row.truncate(n_fft / 2 + 1);
    }
    bank
}

/// Per-frame chroma energies `[frames][num_chroma]` of mono `samples` at
/// `settings.sample_rate`, before the one-hot step.
pub fn chroma_energies(samples: &[f32], settings: &ChromaSettings) -> Vec<Vec<f64>> {
    let n_fft = settings.n_fft;
    // Shorter than one frame: zero-padded to a frame, centred.
    let mut x: Vec<f64> = samples.iter().map(|&s| f64::from(s)).collect();
    if x.len() < n_fft {
        let pad = n_fft - x.len();
        let left = pad / 2;
        let mut padded = vec![0.0; left];
        padded.extend_from_slice(&x);
        padded.resize(n_fft, 0.0);
        x = padded;
    }
    // Centred frames: reflect padding of half a frame on each side.
    let half = n_fft / 2;
    let n = x.len();
    let mut padded = Vec::with_capacity(n + 2 * half);
    padded.extend((1..=half).rev().map(|j| x[j.min(n - 1)]));
    padded.extend_from_slice(&x);
    padded.extend((0..half).map(|j| x[n.saturating_sub(2 + j)]));
    let frames = 1 + n / settings.hop;
    // Periodic Hann window.
    let window: Vec<f64> = (0..n_fft)
        .map(|i| 0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / n_fft as f64).cos())
        .collect();
    let bank = filter_bank(settings.sample_rate as f64, n_fft, settings.num_chroma);
    let fft = FftPlanner::<f64>::new().plan_fft_forward(n_fft);
    let mut buffer = vec![Complex::new(0.0, 0.0); n_fft];
    let mut power = vec![0f64; n_fft / 2 + 1];
    (0..frames)
        .map(|t| {
            let start = t * settings.hop;
            for (i, b) in buffer.iter_mut().enumerate() {
                *b = Complex::new(padded[start + i] * window[i], 0.0);
            }
            fft.process(&mut buffer);
            for (p, b) in power.iter_mut().zip(&buffer) {
                *p = b.norm_sqr();
            }
            bank.iter()
                .map(|row| row.iter().zip(&power).map(|(w, p)| w * p).sum())
                .collect()
        })
        .collect()
}

/// The dominant pitch class of each frame (0 = C; a silent frame reads as C, as in the
/// extractor).
pub fn dominant_classes(samples: &[f32], settings: &ChromaSettings) -> Vec<usize> {
    chroma_energies(samples, settings)
        .iter()
        .map(|frame| {
            let mut best = 0;
            for (c, &e) in frame.iter().enumerate() {
                if e > frame[best] {
                    best = c;
                }
            }
            best
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(hz: f64, seconds: f64) -> Vec<f32> {
        let rate = 32_000.0;
        (0..(seconds * rate) as usize)
            .map(|i| (0.5 * (2.0 * std::f64::consts::PI * hz * i as f64 / rate).sin()) as f32)
            .collect()
    }

    #[test]
    fn a_tone_reads_as_its_pitch_class_in_every_octave() {
        let s = ChromaSettings::MUSICGEN_MELODY;
        // C4, E4, G4, A4, B3 and F#5: classes 0, 4, 7, 9, 11, 6.
        for (hz, class) in [
            (261.63, 0),
            (329.63, 4),
            (392.0, 7),
            (440.0, 9),
            (246.94, 11),
            (739.99, 6),
        ] {
            let classes = dominant_classes(&tone(hz, 2.0), &s);
            // 2 s: 1 + 64000 / 4096 frames.
            assert_eq!(classes.len(), 16);
            assert!(classes.iter().all(|&c| c == class), "{hz} Hz: {classes:?}");
        }
    }

    #[test]
    fn frames_follow_the_melody_and_silence_reads_as_c() {
        let s = ChromaSettings::MUSICGEN_MELODY;
        let mut melody = tone(440.0, 1.0);
        melody.extend(vec![0.0; 32_000]);
        melody.extend(tone(392.0, 1.0));
        let classes = dominant_classes(&melody, &s);
        assert_eq!(classes.len(), 1 + 96_000 / 4096);
        // Frames wholly inside each second (a frame spans ±8192 samples around t·4096).
        assert!(classes[2..5].iter().all(|&c| c == 9), "{classes:?}");
        assert!(classes[18..21].iter().all(|&c| c == 7), "{classes:?}");
        // Shorter than a frame: padded to one frame, which is 5 hops long.
        assert_eq!(dominant_classes(&[0.0; 100], &s), vec![0; 5]);
    }

    #[test]
    fn the_filter_bank_matches_the_feature_extractors() {
        // Entries of `transformers.audio_utils.chroma_filter_bank(num_frequency_bins=16384,
        // num_chroma=12, sampling_rate=32000, tuning=0)` (transformers 4.46.3), which
        // MusicGen Melody's feature extractor builds.
        let bank = filter_bank(32_000.0, 16_384, 12);
        for (c, i, want) in [
            (0, 1, 2.000768926597588e-05),
            (0, 268, 0.9155539789819376),
            (3, 450, 8.85703509202774e-32),
            (9, 901, 0.866803271224458),
            (11, 8192, 0.10665264174038112),
            (5, 0, 5.174712152870615e-07),
            (7, 40, 9.12872586979692e-15),
            (2, 2000, 7.642149799643203e-10),
        ] {
            let got = bank[c][i];
            assert!(
                (got - want).abs() <= 1e-9 * want.abs(),
                "[{c}][{i}]: {got} vs {want}"
            );
        }
        let total: f64 = bank.iter().flatten().map(|v| v.abs()).sum();
        assert!((total - 4159.942826115046).abs() < 1e-6, "{total}");
    }

    #[test]
    fn the_filter_bank_has_librosas_shape_and_column_norms() {
        let bank = filter_bank(32_000.0, 16_384, 12);
        assert_eq!((bank.len(), bank[0].len()), (12, 8193));
        // Before the octave weighting every column has unit L2 norm, so a column's norm is
        // its weighting: 1 at A5 (880 Hz), e^(-1/8) an octave away, small at the extremes.
        let norm = |i: usize| bank.iter().map(|r| r[i] * r[i]).sum::<f64>().sqrt();
        let bin = |hz: f64| (hz * 16_384.0 / 32_000.0).round() as usize;
        assert!(norm(bin(880.0)) > 0.999, "{}", norm(bin(880.0)));
        assert!((norm(bin(440.0)) - (-0.125f64).exp()).abs() < 0.01);
        assert!(norm(8000) < 0.12 && norm(10) < 0.03);
    }
}
