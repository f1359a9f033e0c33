//! Drums: the section's groove with swing, a fill into the next section (a big one with
//! toms before a chorus), and a crash where a lifting section starts.

use super::{BAR, CH_DRUMS, Composer, Part, STEP};
use crate::style::{self, Groove};
use songforge_song::form::SectionKind;

impl Composer {
    pub(super) fn drums(
        &mut self,
        t0: u32,
        kind: SectionKind,
        energy: f32,
        fill: bool,
        big_fill: bool,
        crash: bool,
    ) {
        let groove = self.groove(kind);
        let fill_from = if big_fill {
            8
        } else if fill {
            12
        } else {
            16
        };
        let scale = 0.8 + 0.2 * energy;
        for &(key, grid) in groove.voices {
            for (step, c) in grid.bytes().enumerate() {
                let step = step as u32;
                let vel = match c {
                    b'X' => 118.0,
                    b'x' => 100.0,
                    b'o' => 76.0,
                    b'g' => 48.0,
                    _ => continue,
                };
                // The fill replaces snare and hats; the kick keeps the downbeat of its half.
                if step >= fill_from && !(key == style::KICK && step.is_multiple_of(8)) {
                    continue;
                }
                let at = t0 + step * STEP + self.swing(step);
                self.push(Part::Drums, CH_DRUMS, key, vel * scale, at, STEP);
            }
        }
        if crash {
            self.push(Part::Drums, CH_DRUMS, style::CRASH, 108.0, t0, BAR);
        }
        for step in fill_from..16 {
            let at = t0 + step * STEP;
            let rise = (step - fill_from) as f32 / (16 - fill_from) as f32;
            let key = if big_fill && step % 2 == 0 {
                style::TOMS[((step - 8) / 2) as usize % 4]
            } else {
                style::SNARE
            };
            self.push(
                Part::Drums,
                CH_DRUMS,
                key,
                (70.0 + 45.0 * rise) * scale,
                at,
                STEP,
            );
        }
    }

    /// The groove a section plays.
    fn groove(&self, kind: SectionKind) -> Groove {
        if kind.lifts() {
            self.style.chorus_groove
        } else {
            self.style.groove
        }
    }

    pub(super) fn kick_steps(&self, kind: SectionKind) -> Vec<u32> {
        self.groove(kind)
            .voices
            .iter()
            .find(|(k, _)| *k == style::KICK)
            .map(|(_, grid)| {
                grid.bytes()
                    .enumerate()
                    .filter(|(_, c)| *c != b'.')
                    .map(|(i, _)| i as u32)
                    .collect()
            })
            .filter(|v: &Vec<u32>| !v.is_empty())
            .unwrap_or_else(|| vec![0, 8])
    }
}

#[cfg(test)]
mod tests {
    use crate::compose::test_support::{LYRICS, dict, plan};
    use crate::compose::{BAR, Part, arrange};
    use songforge_genre::Genre;

    #[test]
    fn choruses_are_busier_than_verses() {
        let a = arrange(LYRICS, &plan(Genre::Rock, 5), &dict()).unwrap();
        let count = |name: &str| {
            let s = a.sections.iter().find(|s| s.name == name).unwrap();
            let (from, to) = (s.start_bar * BAR, (s.start_bar + s.bars) * BAR);
            a.notes
                .iter()
                .filter(|n| n.part == Part::Drums && n.start >= from && n.start < to)
                .count() as f64
                / f64::from(s.bars)
        };
        assert!(count("Chorus") > count("Verse 1"));
    }
}
