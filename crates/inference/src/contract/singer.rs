//! The `singer` graph (a DiffSinger voicebank): a score in, the sung track out.

use serde::{Deserialize, Serialize};

/// Input: the notes, JSON `[SungNote, …]` in order, not overlapping.
pub const NOTES: &str = "notes";
/// Input: [`Options`] as JSON, optional.
pub const OPTIONS: &str = "options";
/// Output: `f32 [1, samples]`.
pub const AUDIO: &str = "audio";
/// Output: [`Meta`] as JSON.
pub const META: &str = "meta";

/// One sung note.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SungNote {
    /// Phonemes (ARPAbet, stress digits allowed, or the voicebank's own symbols).
    pub phonemes: Vec<String>,
    /// MIDI pitch (fractions allowed).
    pub midi: f32,
    /// Start, seconds.
    pub start_s: f64,
    /// Length, seconds.
    pub dur_s: f64,
}

impl SungNote {
    /// End, seconds.
    pub fn end_s(&self) -> f64 {
        self.start_s + self.dur_s
    }
}

/// Rendering settings; absent ones take the voicebank's.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Options {
    /// Diffusion acceleration (PNDM speedup; steps = depth / speedup).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub speedup: Option<i64>,
    /// Shallow-diffusion depth.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub depth: Option<i64>,
    /// Sampling steps for models that take `steps`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub steps: Option<i64>,
    /// Speaker (sub-bank) by name; the first when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub speaker: Option<String>,
    /// Language for multilingual banks (`en` when absent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// Formant shift, -1..1 (0: the voice as recorded).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gender: Option<f32>,
    /// Consonant speed, 0.5..2.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub velocity: Option<f32>,
    /// Vibrato depth, semitones.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vibrato_semitones: Option<f32>,
    /// Vibrato rate, Hz.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vibrato_hz: Option<f32>,
    /// Pitch glide into a note, seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub glide_s: Option<f64>,
    /// Length of the returned audio, seconds (default: the last note plus a tail).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_s: Option<f64>,
}

/// A phone placed in time.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct TimedPhone {
    /// The voicebank's symbol.
    pub symbol: String,
    /// Start, seconds.
    pub start_s: f64,
    /// End, seconds.
    pub end_s: f64,
}

/// What was sung, and how.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Meta {
    /// Samples per second.
    pub sample_rate: u32,
    /// The voicebank's name.
    pub voicebank: String,
    /// The sub-bank that sang, if the bank has several.
    pub speaker: Option<String>,
    /// Phrases rendered (a long rest starts a new one).
    pub phrases: usize,
    /// Acoustic frames rendered.
    pub frames: usize,
    /// Inputs fed neutral values because no predictor was run for them.
    pub neutral_inputs: Vec<String>,
    /// Every phone, placed.
    pub phones: Vec<TimedPhone>,
}
