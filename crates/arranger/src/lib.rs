//! The arranger: composes a whole song from lyric sections and a genre preset (form, chords
//! with voice leading, drums with fills, bass, comping and pad, a counter-melody that leaves
//! room for the singer), writes it as MIDI, and renders it to stems and a mix.

pub mod api;
pub mod compose;
pub mod midi;
pub mod render;
mod reverb;
pub mod style;
mod synth;
pub mod theory;

pub use compose::{Arrangement, Part, Plan, arrange, arrange_plan, plan_for};
pub use midi::write_midi;
pub use render::{Instruments, Rendered, render};
