//! The `pitch` graph (Basic Pitch): a recorded melody in, its notes out.

use serde::{Deserialize, Serialize};

/// Input: `f32 [1, N]`, mono at [`SAMPLE_RATE`].
pub const AUDIO: &str = "audio";
/// Input: [`Options`] as JSON, optional.
pub const OPTIONS: &str = "options";
/// Output: [`Heard`] as JSON.
pub const NOTES: &str = "notes";
/// The rate the graph reads.
pub const SAMPLE_RATE: u32 = 22_050;
/// Longest recording the graph accepts, seconds.
pub const MAX_SECONDS: usize = 600;

/// Thresholds of the note reader.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Options {
    /// Note likelihood a frame needs to sound.
    pub frame_threshold: f32,
    /// Onset likelihood that splits a held key into two notes.
    pub onset_threshold: f32,
    /// Shortest note kept, milliseconds.
    pub min_note_ms: f32,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            frame_threshold: 0.3,
            onset_threshold: 0.5,
            min_note_ms: 100.0,
        }
    }
}

/// A note heard in the recording.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct HeardNote {
    /// Start, seconds.
    pub start_s: f64,
    /// End, seconds.
    pub end_s: f64,
    /// MIDI key.
    pub midi: u8,
    /// How sure the reader was, 0..1 (mean note likelihood over the note).
    #[serde(default)]
    pub confidence: f32,
}

/// The graph's result.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Heard {
    /// The notes, in order.
    pub notes: Vec<HeardNote>,
    /// Analysis frames read.
    pub frames: usize,
    /// Frames per second.
    pub fps: f64,
}
