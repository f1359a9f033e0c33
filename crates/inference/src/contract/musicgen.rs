//! The `musicgen` graph: a text prompt (and optionally a melody) in, music out.

use serde::{Deserialize, Serialize};

/// Input: [`Request`] as JSON.
pub const REQUEST: &str = "request";
/// Input: `f32 [channels, N]` at [`MELODY_RATE`], a tune to follow; MusicGen Melody only.
pub const MELODY: &str = "melody";
/// Output: `f32 [channels, samples]`.
pub const AUDIO: &str = "audio";
/// Output: [`Meta`] as JSON.
pub const META: &str = "meta";
/// The rate [`MELODY`] is read at (MusicGen Melody's chroma extractor).
pub const MELODY_RATE: u32 = 32_000;

/// What to generate.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Request {
    /// The text conditioning.
    pub prompt: String,
    /// Length, seconds.
    #[serde(default = "default_duration")]
    pub duration_s: f64,
    /// Seed; the same seed, request and build give the same audio.
    #[serde(default)]
    pub seed: u64,
    /// Classifier-free guidance scale; 1 turns guidance off.
    #[serde(default = "default_guidance")]
    pub guidance: f64,
    /// Tokens sampled from at each step (default 250, or the whole vocabulary if smaller).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_k: Option<usize>,
    /// Sampling temperature.
    #[serde(default = "default_temperature")]
    pub temperature: f32,
}

impl Request {
    /// A request with the graph's defaults for everything but the prompt, length and seed.
    pub fn new(prompt: impl Into<String>, duration_s: f64, seed: u64) -> Self {
        Self {
            prompt: prompt.into(),
            duration_s,
            seed,
            guidance: default_guidance(),
            top_k: None,
            temperature: default_temperature(),
        }
    }
}

fn default_duration() -> f64 {
    10.0
}
fn default_guidance() -> f64 {
    3.0
}
fn default_temperature() -> f32 {
    1.0
}

/// What was generated.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Meta {
    /// Samples per second.
    pub sample_rate: u32,
    /// Codec frames generated.
    pub frames: usize,
    /// Decoder windows (long pieces are generated window by window).
    pub windows: usize,
    /// Codebooks per frame.
    pub codebooks: usize,
    /// `text`, or `text+melody`.
    pub conditioning: String,
}
