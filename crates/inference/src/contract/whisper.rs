//! The `whisper` graph: 16 kHz mono audio and decoding options in, a transcript out.

use serde::{Deserialize, Serialize};

/// Input: `f32 [1, N]`, mono at [`SAMPLE_RATE`].
pub const AUDIO: &str = "audio";
/// Input: [`Options`] as JSON, optional.
pub const OPTIONS: &str = "options";
/// Output: [`Transcript`] as JSON.
pub const RESULT: &str = "result";
/// The rate the graph reads.
pub const SAMPLE_RATE: u32 = 16_000;

/// What to do with the speech.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Task {
    /// Text in the spoken language.
    #[default]
    Transcribe,
    /// English text.
    Translate,
}

/// Decoding options. The defaults follow faster-whisper, so results can be compared word for
/// word with that peer on the same weights.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Options {
    /// ISO 639-1 code; detected from the first window when absent.
    pub language: Option<String>,
    /// Transcribe or translate.
    pub task: Task,
    /// Predict segment timestamps (segments follow the speech rather than the 30 s windows).
    pub timestamps: bool,
    /// Text that primes spelling and style.
    pub initial_prompt: Option<String>,
    /// Beams at temperature 0; 1 is greedy decoding.
    pub beam_size: usize,
    /// Samples drawn at each non-zero temperature; the most likely is kept.
    pub best_of: usize,
    /// One fixed temperature instead of the fallback ladder.
    pub temperature: Option<f32>,
    /// Give the previous window's text as the prompt of the next.
    pub condition_on_previous_text: bool,
    /// Seed for sampling at non-zero temperature.
    pub seed: u64,
    /// Leave silence out: windows with no sound are not decoded, and a segment whose span
    /// holds no sound goes to [`Transcript::skipped`] instead of the text. Whisper invents
    /// text for silence (most often a repeat of the previous segment).
    pub skip_silence: bool,
    /// A window is left out (and listed in [`Transcript::skipped`]) when Whisper's
    /// no-speech probability is above this and its text unlikely (average log-probability
    /// under −1). Over music a sung window can look like no speech: 1 never leaves one out.
    pub no_speech_threshold: f64,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            language: None,
            task: Task::Transcribe,
            timestamps: true,
            initial_prompt: None,
            beam_size: 5,
            best_of: 5,
            temperature: None,
            condition_on_previous_text: true,
            seed: 0,
            skip_silence: true,
            no_speech_threshold: 0.6,
        }
    }
}

/// One stretch of speech with its text.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Segment {
    /// Start, seconds.
    pub start: f64,
    /// End, seconds.
    pub end: f64,
    /// The words.
    pub text: String,
    /// Mean log-probability of the tokens.
    pub avg_logprob: f64,
    /// Probability that the window held no speech.
    pub no_speech_prob: f64,
    /// The temperature the text was decoded at.
    pub temperature: f32,
    /// Text length over its gzip length (high: repetitive).
    pub compression_ratio: f64,
}

/// A segment decoded but left out of the text, and why.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Skipped {
    /// Start, seconds.
    pub start: f64,
    /// End, seconds.
    pub end: f64,
    /// What was decoded.
    pub text: String,
    /// Why it was left out (e.g. `silence`).
    pub reason: String,
}

/// The graph's result.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Transcript {
    /// All segments' text.
    pub text: String,
    /// ISO 639-1 code, detected or given.
    pub language: String,
    /// How sure the detection was (1 when given).
    pub language_probability: f64,
    /// Length of the audio, seconds.
    pub duration: f64,
    /// The text, stretch by stretch.
    pub segments: Vec<Segment>,
    /// Decoded segments left out of `text` and `segments` (see [`Options::skip_silence`]).
    pub skipped: Vec<Skipped>,
    /// The model that listened (catalog id).
    pub model: String,
}
