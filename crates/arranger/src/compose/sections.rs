//! The section walker: bar by bar through the form, a chord for each bar (the tonic on the
//! last), then every part for that bar, or the ending on the final one.

use super::bass::bass_note;
use super::counter_melody::nearest_pc;
use super::{
    BAR, CH_BASS, CH_COMP, CH_DRUMS, CH_LEAD, ChordAt, Composer, Part, PlacedSection, STEP,
};
use crate::style;
use crate::theory::{Chord, Mode, Quality, progression};
use songforge_song::form::SectionKind;

impl Composer {
    fn tonic_chord(&self) -> Chord {
        Chord {
            root: 0,
            quality: match self.key.mode {
                Mode::Major => Quality::Major,
                Mode::Minor => Quality::Minor,
            },
        }
    }

    pub(super) fn section(&mut self, s: &PlacedSection, next: Option<SectionKind>, last: bool) {
        let prog = progression(self.style.progression_for(s.kind, self.key.mode));
        let chord_at = |b: u32| prog[(b as usize) % prog.len()];
        for b in 0..s.bars {
            let bar = s.start_bar + b;
            let t0 = bar * BAR;
            let final_bar = last && b + 1 == s.bars;
            let chord = if final_bar {
                self.tonic_chord()
            } else {
                chord_at(b)
            };
            let next_chord = if b + 1 < s.bars {
                chord_at(b + 1)
            } else {
                // The next section starts on its own first chord; approach its root.
                next.map(|k| progression(self.style.progression_for(k, self.key.mode))[0])
                    .unwrap_or_else(|| self.tonic_chord())
            };
            self.chords.push(ChordAt {
                bar,
                beat: 1,
                symbol: chord.symbol(self.key),
                chord,
            });
            let energy = s.kind.energy();
            if final_bar {
                self.ending(t0, chord);
                continue;
            }
            let fill = b + 1 == s.bars && next.is_some();
            let big_fill = fill && next.is_some_and(SectionKind::lifts);
            let crash =
                b == 0 && s.start_bar > 0 && (s.kind.lifts() || s.kind == SectionKind::Outro);
            self.drums(t0, s.kind, energy, fill, big_fill, crash);
            self.bass(t0, s.kind, energy, chord, next_chord);
            self.harmony(t0, s.kind, energy, chord);
            self.melody(t0, s, b, chord, next_chord);
        }
    }

    fn ending(&mut self, t0: u32, chord: Chord) {
        self.push(Part::Drums, CH_DRUMS, style::KICK, 110.0, t0, STEP);
        self.push(Part::Drums, CH_DRUMS, style::CRASH, 105.0, t0, BAR);
        let root = bass_note(chord.root_pc(self.key));
        self.push(Part::Bass, CH_BASS, root, 100.0, t0, BAR);
        let v = self.voice_lead(chord);
        for k in v {
            self.push(Part::Harmony, CH_COMP, k, 80.0, t0, BAR);
        }
        let tonic = nearest_pc(self.lead_pitch, self.key.tonic, 65, 86);
        self.push(Part::Melody, CH_LEAD, tonic, 70.0, t0, BAR);
    }
}
