//! The songwriting around a language model for `/api/generate-lyrics/`, independent of HTTP
//! and WebAssembly: the request and its field errors, song forms per genre, the brief each
//! section gets, cleaning what the model writes, and choosing among candidates by rhyme,
//! metre, theme and repetition (CMUdict through `songforge-prosody`).

pub mod clean;
pub mod request;
pub mod score;
pub mod structure;
pub mod style;
pub mod write;

pub use request::{FieldError, LyricsRequest};
pub use structure::{SectionKind, Structure};
pub use write::{Candidate, Complete, Section, Song, WriteError, write_song};
