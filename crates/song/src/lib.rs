//! What a song is, defined once for every stage: the lyrics writer, the arranger, the melody
//! writer, the vocals endpoint and the songs endpoint all read the form, the sung lines and
//! their bars from here, so the stages cannot disagree about the song.
//!
//! - [`form`]: section kinds, headings, and the form read from lyrics text.
//! - [`plan`]: syllables and bars per line, and the fit of a form to a duration and a tempo.

pub mod form;
pub mod plan;

/// Longest lyrics any route accepts, characters (a 600 s song holds far fewer).
pub const MAX_LYRICS_CHARS: usize = 20_000;

pub use form::{FormSource, LyricSection, SectionKind, read_form};
pub use plan::{FitError, LinePlan, SectionPlan, SongPlan, Tempo, plan_song};
