//! Audio for SongForge, in one internal representation: planar `f32` at a known rate.
//!
//! Decoding and encoding happen at the edges ([`decode`], [`encode`]); everything between
//! (resampling, gain, filters, dynamics, loudness) works on [`Audio`]. Pure Rust, so the same
//! code runs natively and inside the wasm components.

pub mod decode;
pub mod dsp;
pub mod encode;
pub mod loudness;
pub mod resample;

pub use decode::{DecodeError, decode};
pub use encode::{EncodeError, SampleFormat, encode_flac, encode_wav};

/// Planar audio: one `Vec<f32>` per channel, all the same length, nominally within ±1.0.
#[derive(Debug, Clone, PartialEq)]
pub struct Audio {
    /// Frames per second.
    pub sample_rate: u32,
    /// One buffer per channel.
    pub channels: Vec<Vec<f32>>,
}

impl Audio {
    /// Silence of `frames` frames.
    pub fn silence(sample_rate: u32, channels: usize, frames: usize) -> Self {
        Self {
            sample_rate,
            channels: vec![vec![0.0; frames]; channels],
        }
    }

    /// Frames (samples per channel).
    pub fn frames(&self) -> usize {
        self.channels.first().map_or(0, Vec::len)
    }

    /// Duration in seconds.
    pub fn duration_s(&self) -> f64 {
        if self.sample_rate == 0 {
            return 0.0;
        }
        self.frames() as f64 / f64::from(self.sample_rate)
    }

    /// Number of channels.
    pub fn channel_count(&self) -> usize {
        self.channels.len()
    }

    /// Maps to `n` channels: mono is copied to every channel; stereo to mono averages (−6 dB
    /// per channel, so a centred source keeps its level); more channels fold front L/R.
    pub fn with_channels(mut self, n: usize) -> Self {
        let have = self.channels.len();
        if have == n || have == 0 || n == 0 {
            return self;
        }
        let frames = self.frames();
        self.channels = match (have, n) {
            (1, _) => vec![self.channels[0].clone(); n],
            (_, 1) => {
                let mut mono = vec![0.0f32; frames];
                for ch in &self.channels {
                    for (m, s) in mono.iter_mut().zip(ch) {
                        *m += s;
                    }
                }
                let scale = 1.0 / have as f32;
                mono.iter_mut().for_each(|m| *m *= scale);
                vec![mono]
            }
            (_, _) => (0..n).map(|i| self.channels[i % have].clone()).collect(),
        };
        self
    }

    /// Largest absolute sample value (sample peak, not true peak).
    pub fn sample_peak(&self) -> f32 {
        self.channels
            .iter()
            .flat_map(|c| c.iter())
            .fold(0.0f32, |m, s| m.max(s.abs()))
    }

    /// Whether every sample is a finite number.
    pub fn is_finite(&self) -> bool {
        self.channels
            .iter()
            .all(|c| c.iter().all(|s| s.is_finite()))
    }

    /// Multiplies every sample by a linear gain.
    pub fn apply_gain(&mut self, gain: f32) {
        for ch in &mut self.channels {
            ch.iter_mut().for_each(|s| *s *= gain);
        }
    }

    /// Pads with silence (or truncates) to `frames`.
    pub fn set_frames(&mut self, frames: usize) {
        for ch in &mut self.channels {
            ch.resize(frames, 0.0);
        }
    }
}

/// Decibels to a linear amplitude factor.
pub fn db_to_gain(db: f32) -> f32 {
    10f32.powf(db / 20.0)
}

/// A linear amplitude factor to decibels (−inf for 0).
pub fn gain_to_db(gain: f32) -> f32 {
    20.0 * gain.log10()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_mapping_keeps_centred_level() {
        let mono = Audio {
            sample_rate: 8000,
            channels: vec![vec![0.5, -0.5]],
        };
        let stereo = mono.clone().with_channels(2);
        assert_eq!(stereo.channels, vec![vec![0.5, -0.5], vec![0.5, -0.5]]);
        assert_eq!(stereo.with_channels(1), mono);
    }

    #[test]
    fn db_conversions_round_trip() {
        assert!((db_to_gain(-6.0206) - 0.5).abs() < 1e-4);
        assert!((gain_to_db(db_to_gain(-14.0)) + 14.0).abs() < 1e-4);
    }
}
