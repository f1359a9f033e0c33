//! Bass: the style's figure on the chord's root, with an approach note into the next chord.

use super::{CH_BASS, Composer, Part, STEP, TICKS_PER_BEAT};
use crate::style::BassStyle;
use crate::theory::{Chord, Key};
use songforge_song::form::SectionKind;

impl Composer {
    pub(super) fn bass(
        &mut self,
        t0: u32,
        kind: SectionKind,
        energy: f32,
        chord: Chord,
        next: Chord,
    ) {
        let root = bass_note(chord.root_pc(self.key));
        let next_root = bass_note(next.root_pc(self.key));
        let fifth = if root + 7 > 45 { root - 5 } else { root + 7 };
        // Into the next chord: a scale step (the walking line makes its own chromatic one), the
        // fifth when the chord does not change.
        let approach = if next_root == root {
            fifth
        } else {
            scale_neighbour(self.key, next_root, next_root < root)
        };
        let vel = 92.0 + 12.0 * energy;
        let sparse = matches!(kind, SectionKind::Intro | SectionKind::Outro);
        match self.style.bass.0 {
            _ if sparse => {
                self.push(Part::Bass, CH_BASS, root, vel, t0, 2 * TICKS_PER_BEAT - 20);
                self.push(
                    Part::Bass,
                    CH_BASS,
                    fifth,
                    vel - 8.0,
                    t0 + 2 * TICKS_PER_BEAT,
                    2 * TICKS_PER_BEAT - 20,
                );
            }
            BassStyle::Eighths => {
                for i in 0..8 {
                    let key = if i == 7 && next_root != root {
                        approach
                    } else {
                        root
                    };
                    let accent = if i % 2 == 0 { 0.0 } else { -12.0 };
                    self.push(
                        Part::Bass,
                        CH_BASS,
                        key,
                        vel + accent,
                        t0 + i * 2 * STEP,
                        2 * STEP - 24,
                    );
                }
            }
            BassStyle::RootFifth => {
                self.push(Part::Bass, CH_BASS, root, vel, t0, 2 * TICKS_PER_BEAT - 30);
                self.push(
                    Part::Bass,
                    CH_BASS,
                    fifth,
                    vel - 6.0,
                    t0 + 2 * TICKS_PER_BEAT,
                    TICKS_PER_BEAT + 2 * STEP,
                );
                if next_root != root {
                    self.push(
                        Part::Bass,
                        CH_BASS,
                        approach,
                        vel - 10.0,
                        t0 + 14 * STEP,
                        2 * STEP - 20,
                    );
                }
            }
            BassStyle::OffbeatOctaves => {
                for (i, step) in [2u32, 6, 10, 14].into_iter().enumerate() {
                    let key = if i % 2 == 1 { root + 12 } else { root };
                    self.push(
                        Part::Bass,
                        CH_BASS,
                        key,
                        vel,
                        t0 + step * STEP,
                        2 * STEP - 30,
                    );
                }
                if energy >= 1.0 {
                    self.push(Part::Bass, CH_BASS, root, vel - 10.0, t0, STEP);
                }
            }
            BassStyle::FollowKick => {
                let kicks: Vec<u32> = self.kick_steps(kind);
                for (i, &step) in kicks.iter().enumerate() {
                    let end = kicks.get(i + 1).copied().unwrap_or(16);
                    let key = if step >= 12 && i > 0 { root + 12 } else { root };
                    self.push(
                        Part::Bass,
                        CH_BASS,
                        key,
                        vel,
                        t0 + step * STEP + self.swing(step),
                        (end - step) * STEP - 20,
                    );
                }
            }
            BassStyle::Walking => {
                // Root, two other chord tones, then a chromatic step into the next root
                // (taken in the octave nearest the third beat).
                let iv = chord.quality.intervals();
                let (third, five) = (root + iv[1], root + iv[2]);
                let top = iv.get(3).map_or(root + 12, |s| root + s);
                let second = self.rng.pick(&[third, five]);
                let third_beat = if second == third {
                    self.rng.pick(&[five, top])
                } else {
                    self.rng.pick(&[top, third])
                };
                let mut target = next_root;
                while target + 6 < third_beat {
                    target += 12;
                }
                let step_in = if target >= third_beat {
                    target - 1
                } else {
                    target + 1
                };
                let line = [root, second, third_beat, step_in];
                for (i, k) in line.into_iter().enumerate() {
                    self.push(
                        Part::Bass,
                        CH_BASS,
                        k,
                        vel - (i % 2) as f32 * 8.0,
                        t0 + i as u32 * TICKS_PER_BEAT,
                        TICKS_PER_BEAT - 30,
                    );
                }
            }
            BassStyle::Halves => {
                self.push(Part::Bass, CH_BASS, root, vel, t0, 2 * TICKS_PER_BEAT - 20);
                let second = if energy >= 1.0 { fifth } else { root };
                self.push(
                    Part::Bass,
                    CH_BASS,
                    second,
                    vel - 8.0,
                    t0 + 2 * TICKS_PER_BEAT,
                    2 * TICKS_PER_BEAT - 20,
                );
            }
            BassStyle::Syncopated => {
                let figure = [
                    (0u32, 6u32, root),
                    (7, 2, root),
                    (10, 3, root + 12),
                    (14, 2, approach),
                ];
                for (step, len, key) in figure {
                    self.push(
                        Part::Bass,
                        CH_BASS,
                        key,
                        vel,
                        t0 + step * STEP + self.swing(step),
                        len * STEP - 20,
                    );
                }
            }
        }
    }
}

/// A bass note for a pitch class, E1..D#2.
pub(super) fn bass_note(pc: u8) -> u8 {
    28 + (pc + 12 - 4) % 12
}

/// The nearest note of the key above (`up`) or below `note`.
fn scale_neighbour(key: Key, note: u8, up: bool) -> u8 {
    let mut k = note;
    loop {
        k = if up { k + 1 } else { k - 1 };
        if key.contains(k) {
            return k;
        }
    }
}
