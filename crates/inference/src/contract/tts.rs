//! The `tts` graphs (Piper voices): phonemes in, one row of speech per utterance out.

use serde::{Deserialize, Serialize};

/// Input: utterances as lists of phoneme symbols (IPA, as the voice's map spells them), JSON
/// `[[symbol, …], …]`. Either this or [`PHONEME_IDS`].
pub const PHONEMES: &str = "phonemes";
/// Input: `i64 [utterances, ids]`, the voice's own ids, rows padded.
pub const PHONEME_IDS: &str = "phoneme_ids";
/// Input: `i64 [utterances]`, the used length of each [`PHONEME_IDS`] row; optional.
pub const LENGTHS: &str = "lengths";
/// Input: [`Options`] as JSON, optional.
pub const OPTIONS: &str = "options";
/// Output: `f32 [utterances, samples]`, each row zero-padded to the longest.
pub const AUDIO: &str = "audio";
/// Output: [`Meta`] as JSON.
pub const META: &str = "meta";

/// The utterances of [`PHONEMES`].
pub type Utterances = Vec<Vec<String>>;

/// Voice settings; absent ones take the voice's own.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Options {
    /// Variation of the voice.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub noise_scale: Option<f32>,
    /// Speaking rate: above 1 is slower.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub length_scale: Option<f32>,
    /// Variation of phoneme lengths.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub noise_w: Option<f32>,
    /// Speaker id of a multi-speaker voice.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub speaker: Option<i64>,
}

/// What the audio is.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Meta {
    /// Samples per second.
    pub sample_rate: u32,
    /// Samples of each utterance; the rest of its row is zero padding.
    pub lengths: Vec<usize>,
}
