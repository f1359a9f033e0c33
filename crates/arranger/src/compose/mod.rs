//! Composition: the form placed on a bar grid, a chord per bar, and every part's notes.
//!
//! One file per seam: `arrangement` holds what goes in and comes out, `arrange` the entry
//! points, `sections` the walk through the form bar by bar, and one file per part writes its
//! notes into the shared `Composer`: `drums` (grooves, fills, crashes), `bass`, `harmony`
//! (voice-led comping and pad) and `counter_melody`.

mod arrange;
mod arrangement;
mod bass;
mod counter_melody;
mod drums;
mod harmony;
mod sections;
#[cfg(test)]
mod test_support;

use crate::style::Style;
use crate::theory::Key;
use counter_melody::Motif;
use songforge_song::form::SectionKind;
use std::collections::HashMap;

pub use arrange::{arrange, arrange_plan, plan_for};
pub use arrangement::{Arrangement, Channel, ChordAt, Note, Part, PlacedSection, Plan};
pub use songforge_rng::Rng;

/// MIDI ticks per quarter note.
pub const TICKS_PER_BEAT: u32 = 480;
/// One 16th note.
pub const STEP: u32 = TICKS_PER_BEAT / 4;
/// One 4/4 bar.
pub const BAR: u32 = TICKS_PER_BEAT * 4;
pub use songforge_song::plan::{MAX_SONG_S, TAIL_BARS};

const CH_BASS: u8 = 0;
const CH_COMP: u8 = 1;
const CH_PAD: u8 = 2;
const CH_LEAD: u8 = 3;
const CH_DRUMS: u8 = 9;

/// The state every part writes into while the form is walked: one generator, so a seed
/// reproduces the whole song, and what later bars continue from (voicing, motifs, lead).
struct Composer {
    style: Style,
    key: Key,
    rng: Rng,
    notes: Vec<Note>,
    chords: Vec<ChordAt>,
    /// The last harmony voicing, for voice leading.
    voicing: Vec<u8>,
    /// One motif per section kind, so repeats of a chorus play the same figure.
    motifs: HashMap<SectionKind, Motif>,
    /// Where the counter-melody last was.
    lead_pitch: u8,
}

impl Composer {
    /// A composer at the top of the song.
    fn new(style: Style, key: Key, seed: u64) -> Self {
        Composer {
            style,
            key,
            rng: Rng::new(seed),
            notes: Vec::new(),
            chords: Vec::new(),
            voicing: Vec::new(),
            motifs: HashMap::new(),
            lead_pitch: 74,
        }
    }

    fn push(&mut self, part: Part, channel: u8, key: u8, velocity: f32, start: u32, duration: u32) {
        let jitter = self.rng.below(7) as f32 - 3.0;
        let velocity = (velocity + jitter).round().clamp(1.0, 127.0) as u8;
        self.notes.push(Note {
            part,
            channel,
            key: key.min(127),
            velocity,
            start,
            duration: duration.max(1),
        });
    }

    /// Swing delay of a 16th step within its beat.
    fn swing(&self, step: u32) -> u32 {
        let s = self.style.swing;
        match step % 4 {
            2 => (s * 2.0 * STEP as f32) as u32,
            1 | 3 => (s * STEP as f32) as u32,
            _ => 0,
        }
    }
}
