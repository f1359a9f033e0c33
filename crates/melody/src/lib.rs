//! The melody writer: a lyric's syllables placed on an arrangement's beat grid and given notes
//! from its chords and key, within a voice's range.
//!
//! Rhythm: each sung line gets the bars the arranger gave it (two a line, one below 88 BPM);
//! syllables fall on eighth notes (sixteenths when a line is crowded), stressed syllables get
//! the longer notes, the line's last syllable is held, and the line ends with a breath.
//! Pitch: stressed and long syllables take chord tones, the rest scale steps, in an arch that
//! rises then falls; a line ends on a chord tone and a section on the tonic. Every choice comes
//! from a generator seeded by the song's seed, the section kind and the line's place in the
//! section, so each chorus is sung to the same melody.

pub mod grid;
pub mod hummed;
mod midi;
pub mod phonemes;
pub mod score;
#[cfg(test)]
mod test_support;

pub use grid::{ArrangementMap, Grid, GridError};
pub use hummed::{HeardNote, fit_to_melody};
pub use score::{Score, ScoreError, ScoreNote, Voice, write_score};
