//! Harmony: each chord voiced close to the last one, played in the style's comping pattern,
//! with a pad under choruses and bridges.

use super::{BAR, CH_COMP, CH_PAD, Composer, Part, STEP};
use crate::style::CompStyle;
use crate::theory::Chord;
use songforge_song::form::SectionKind;

impl Composer {
    /// The chord voiced in E3..E5 as close as possible to the last voicing.
    pub(super) fn voice_lead(&mut self, chord: Chord) -> Vec<u8> {
        let pcs = chord.pitch_classes(self.key);
        let mut best: Option<(i32, Vec<u8>)> = None;
        // Every inversion in close position, with its lowest note anywhere in E3..E4.
        for inv in 0..pcs.len() {
            for low in 52u8..64 {
                if low % 12 != pcs[inv] {
                    continue;
                }
                let mut v = vec![low];
                for j in 1..pcs.len() {
                    let pc = pcs[(inv + j) % pcs.len()];
                    let prev = *v.last().unwrap_or(&low);
                    let mut k = prev + 1;
                    while k % 12 != pc {
                        k += 1;
                    }
                    v.push(k);
                }
                let cost = if self.voicing.is_empty() {
                    // Start near the middle of the range.
                    (i32::from(v[0]) - 57).abs()
                } else {
                    v.iter()
                        .map(|&n| {
                            self.voicing
                                .iter()
                                .map(|&p| (i32::from(n) - i32::from(p)).abs())
                                .min()
                                .unwrap_or(0)
                        })
                        .sum::<i32>()
                        + (i32::from(v[0]) - i32::from(self.voicing[0])).abs() / 2
                };
                if best.as_ref().is_none_or(|(c, _)| cost < *c) {
                    best = Some((cost, v));
                }
            }
        }
        let v = best.map(|(_, v)| v).unwrap_or_default();
        self.voicing = v.clone();
        v
    }

    pub(super) fn harmony(&mut self, t0: u32, kind: SectionKind, energy: f32, chord: Chord) {
        let mut voicing = self.voice_lead(chord);
        let lift = kind.lifts();
        if lift {
            // Choruses open up: the root doubled above the top voice.
            let top = *voicing.last().unwrap_or(&64);
            let root_pc = chord.root_pc(self.key);
            let mut k = top + 1;
            while k % 12 != root_pc {
                k += 1;
            }
            if k <= 84 {
                voicing.push(k);
            }
        }
        let vel = 70.0 + 24.0 * energy;
        let root_low = {
            let pc = chord.root_pc(self.key);
            40 + (pc + 12 - 4) % 12
        };
        let hits: Vec<(u32, u32, f32)> = match self.style.comp.0 {
            _ if kind == SectionKind::Intro => vec![(0, 16, 0.0)],
            CompStyle::Quarters => vec![(0, 4, 0.0), (4, 4, -14.0), (8, 4, -6.0), (12, 4, -14.0)],
            CompStyle::Strum => vec![
                (0, 4, 0.0),
                (4, 2, -10.0),
                (6, 4, -16.0),
                (10, 2, -16.0),
                (12, 2, -6.0),
                (14, 2, -16.0),
            ],
            CompStyle::PowerEighths => (0..8)
                .map(|i| (i * 2, 2, if i % 2 == 0 { 0.0 } else { -10.0 }))
                .collect(),
            CompStyle::Sustain => vec![(0, 16, 0.0)],
            CompStyle::Push => vec![(0, 6, 0.0), (6, 10, -8.0)],
            CompStyle::Charleston => {
                let mut h = vec![(0, 3, 0.0), (6, 2, -6.0)];
                if lift {
                    h.push((10, 2, -10.0));
                }
                h
            }
            CompStyle::Arpeggio => (0..8)
                .map(|i| (i * 2, 4, if i == 0 { 0.0 } else { -12.0 }))
                .collect(),
            CompStyle::OffbeatStabs => [2u32, 6, 10, 14].map(|s| (s, 1, 0.0)).to_vec(),
        };
        for (i, (step, len, accent)) in hits.into_iter().enumerate() {
            let at = t0 + step * STEP + self.swing(step);
            let dur = len * STEP - if len >= 16 { 0 } else { 30 };
            match self.style.comp.0 {
                CompStyle::PowerEighths if kind != SectionKind::Intro => {
                    for k in [root_low, root_low + 7, root_low + 12] {
                        let d = if lift { dur } else { dur * 2 / 3 };
                        self.push(Part::Harmony, CH_COMP, k, vel + accent, at, d);
                    }
                }
                CompStyle::Arpeggio if kind != SectionKind::Intro => {
                    let cycle: Vec<u8> = std::iter::once(root_low)
                        .chain(voicing.iter().copied())
                        .chain(
                            voicing
                                .iter()
                                .rev()
                                .skip(1)
                                .take(voicing.len().saturating_sub(2))
                                .copied(),
                        )
                        .collect();
                    let k = cycle[i % cycle.len()];
                    self.push(Part::Harmony, CH_COMP, k, vel + accent, at, dur);
                }
                CompStyle::Strum if kind != SectionKind::Intro => {
                    // Down-strokes low to high, up-strokes high to low, 12 ticks apart.
                    let up = accent <= -16.0;
                    let order: Vec<u8> = if up {
                        voicing.iter().rev().copied().collect()
                    } else {
                        voicing.clone()
                    };
                    for (j, k) in order.into_iter().enumerate() {
                        self.push(
                            Part::Harmony,
                            CH_COMP,
                            k,
                            vel + accent,
                            at + j as u32 * 12,
                            dur - (j as u32 * 12).min(dur / 2),
                        );
                    }
                }
                _ => {
                    for &k in &voicing {
                        self.push(Part::Harmony, CH_COMP, k, vel + accent, at, dur);
                    }
                }
            }
        }
        if (lift || kind == SectionKind::Bridge) && self.style.pad.is_some() {
            for &k in &voicing {
                self.push(Part::Harmony, CH_PAD, k, 58.0 + 10.0 * energy, t0, BAR);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::compose::test_support::{LYRICS, dict, plan};
    use crate::compose::{BAR, arrange};
    use songforge_genre::Genre;

    #[test]
    fn voice_leading_moves_little() {
        let a = arrange(LYRICS, &plan(Genre::Pop, 2), &dict()).unwrap();
        // Harmony notes on each bar's downbeat, channel 1.
        let mut prev: Option<Vec<u8>> = None;
        let mut total = 0i32;
        let mut n = 0;
        for bar in 4..40 {
            let mut v: Vec<u8> = a
                .notes
                .iter()
                .filter(|x| x.channel == 1 && x.start == bar * BAR)
                .map(|x| x.key)
                .collect();
            v.sort_unstable();
            v.truncate(3);
            if let Some(p) = &prev
                && p.len() == 3
                && v.len() == 3
            {
                total += p
                    .iter()
                    .zip(&v)
                    .map(|(a, b)| (i32::from(*a) - i32::from(*b)).abs())
                    .sum::<i32>();
                n += 1;
            }
            prev = Some(v);
        }
        // Close voice leading: on average under 3 semitones per voice between chords.
        assert!(
            n > 10 && total as f64 / (n as f64 * 3.0) < 3.0,
            "{total} over {n}"
        );
    }
}
