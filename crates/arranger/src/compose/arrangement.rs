//! The data of a composition: what the arranger is asked for ([`Plan`]) and what it writes
//! ([`Arrangement`]: sections, chords, notes, channels).

use super::{TAIL_BARS, TICKS_PER_BEAT};
use crate::theory::{Chord, Key};
use serde::Serialize;
use songforge_genre::Genre;
use songforge_song::form::{FormSource, SectionKind};
use songforge_song::plan::LinePlan;

/// The four stems.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Part {
    /// Drum kit (GM channel 10).
    Drums,
    /// Bass.
    Bass,
    /// Chords: comping instrument and pad.
    Harmony,
    /// Counter-melody.
    Melody,
}

impl Part {
    /// Every part, in stem order.
    pub const ALL: [Part; 4] = [Part::Drums, Part::Bass, Part::Harmony, Part::Melody];

    /// The stem's name.
    pub fn name(self) -> &'static str {
        match self {
            Part::Drums => "drums",
            Part::Bass => "bass",
            Part::Harmony => "harmony",
            Part::Melody => "melody",
        }
    }
}

/// One note on the tick grid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Note {
    /// The stem it belongs to.
    pub part: Part,
    /// MIDI channel, 0-based (9 = drums).
    pub channel: u8,
    /// MIDI key.
    pub key: u8,
    /// MIDI velocity, 1..=127.
    pub velocity: u8,
    /// Start, ticks.
    pub start: u32,
    /// Length, ticks (> 0).
    pub duration: u32,
}

/// A MIDI channel and the GM program on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Channel {
    /// Stem.
    pub part: Part,
    /// MIDI channel, 0-based.
    pub channel: u8,
    /// GM program, 0-based (ignored on the drum channel).
    pub program: u8,
}

/// A section placed on the bar grid.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlacedSection {
    /// `Verse 1`, `Chorus`, `Intro`…
    pub name: String,
    /// Kind.
    pub kind: SectionKind,
    /// First bar, 0-based.
    pub start_bar: u32,
    /// Length in bars.
    pub bars: u32,
    /// Start time, seconds.
    pub start_s: f64,
    /// Sung lines (0: instrumental).
    pub lines: usize,
    /// The lyric section sung here (index into the lyrics' sections); absent: instrumental.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lyric_section: Option<usize>,
    /// Where each sung line falls: the vocal sings exactly these bars.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sung_lines: Vec<LinePlan>,
}

/// A chord change.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChordAt {
    /// Bar, 0-based.
    pub bar: u32,
    /// Beat in the bar, 1-based.
    pub beat: u32,
    /// Chord symbol (`Am`, `Fmaj7`).
    pub symbol: String,
    /// The chord.
    #[serde(skip)]
    pub chord: Chord,
}

/// What the arranger is asked for; every field already validated.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// Genre preset.
    pub genre: Genre,
    /// Tempo override.
    pub bpm: Option<u32>,
    /// Key override.
    pub key: Option<Key>,
    /// Target length, seconds.
    pub duration_s: Option<f64>,
    /// Seed for every random choice.
    pub seed: u64,
}

/// A composed song.
#[derive(Debug, Clone)]
pub struct Arrangement {
    /// Genre preset.
    pub genre: Genre,
    /// Tempo.
    pub bpm: u32,
    /// Key.
    pub key: Key,
    /// Always 4/4 for now: every preset groove is written in it.
    pub time_signature: [u8; 2],
    /// Seed used.
    pub seed: u64,
    /// Where the form came from.
    pub form_source: FormSource,
    /// Sections in order.
    pub sections: Vec<PlacedSection>,
    /// One chord per bar.
    pub chords: Vec<ChordAt>,
    /// Every note, sorted by start.
    pub notes: Vec<Note>,
    /// Channels and their programs.
    pub channels: Vec<Channel>,
    /// Length in bars (without the ring-out).
    pub bars: u32,
    /// Swing applied to off-beats (0..1/3), for the record.
    pub swing: f32,
}

impl Arrangement {
    /// Seconds per bar.
    pub fn bar_seconds(&self) -> f64 {
        240.0 / f64::from(self.bpm)
    }

    /// Seconds per tick.
    pub fn tick_seconds(&self) -> f64 {
        60.0 / f64::from(self.bpm) / f64::from(TICKS_PER_BEAT)
    }

    /// Length of the audio: every bar plus the ring-out.
    pub fn duration_s(&self) -> f64 {
        (f64::from(self.bars) + TAIL_BARS) * self.bar_seconds()
    }
}
