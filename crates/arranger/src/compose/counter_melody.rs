//! The counter-melody: a sustained line over choruses, and elsewhere a two-bar motif per
//! section kind that answers the singer or fills the gaps between lines.

use super::{BAR, CH_LEAD, Composer, Part, PlacedSection, STEP};
use crate::theory::{Chord, Key};
use songforge_song::form::SectionKind;

/// A two-bar figure: (start step 0..32, length in steps, scale steps from the last note).
pub(super) type Motif = Vec<(u32, u32, i32)>;

impl Composer {
    fn motif(&mut self, kind: SectionKind) -> Motif {
        if let Some(m) = self.motifs.get(&kind) {
            return m.clone();
        }
        const CELLS: [&[u32]; 6] = [
            &[0, 4, 8, 12],
            &[0, 2, 4, 8, 12],
            &[0, 3, 6, 8, 12],
            &[0, 4, 6, 8, 10, 12],
            &[0, 6, 8, 12, 14],
            &[0, 2, 4, 6, 8],
        ];
        let first = self.rng.pick(&CELLS);
        let second: Vec<u32> = self
            .rng
            .pick(&CELLS)
            .iter()
            .copied()
            .filter(|s| *s <= 8)
            .collect();
        let onsets: Vec<u32> = first
            .iter()
            .copied()
            .chain(second.iter().map(|s| s + 16))
            .collect();
        let moves = [-2, -1, -1, 1, 1, 2, 0, -3, 3];
        let m: Motif = onsets
            .iter()
            .enumerate()
            .map(|(i, &on)| {
                let end = onsets.get(i + 1).copied().unwrap_or(32);
                let mv = if i == 0 { 0 } else { self.rng.pick(&moves) };
                (on, end - on, mv)
            })
            .collect();
        self.motifs.insert(kind, m.clone());
        m
    }

    pub(super) fn melody(
        &mut self,
        t0: u32,
        s: &PlacedSection,
        b: u32,
        chord: Chord,
        next_chord: Chord,
    ) {
        let (lo, hi) = (64u8, 81u8);
        match s.kind {
            SectionKind::Chorus | SectionKind::Hook => {
                // A sustained counter-line above the harmony: one chord tone per bar.
                let pcs = chord.pitch_classes(self.key);
                let target = pcs[1.min(pcs.len() - 1)];
                let k = nearest_pc(self.lead_pitch, target, lo, hi);
                self.lead_pitch = k;
                self.push(Part::Melody, CH_LEAD, k, 64.0, t0, BAR - 40);
            }
            _ => {
                let pair_start = b.is_multiple_of(2);
                // Sung sections other than verses get the motif every other line;
                // verses answer the singer at the end of each line.
                let sung = s.lyric_section.is_some();
                let answers =
                    sung && !matches!(s.kind, SectionKind::PreChorus | SectionKind::Bridge);
                let play = !sung || answers || (b / 2) % 2 == 1;
                if !play || !pair_start || b + 1 >= s.bars {
                    return;
                }
                let motif = self.motif(s.kind);
                let next_chord_pcs = next_chord.pitch_classes(self.key);
                let pcs0 = chord.pitch_classes(self.key);
                let mut p = nearest_of(self.lead_pitch, &pcs0, lo, hi);
                // Verses answer the singer at the end of each line: the motif's second half
                // bar, moved into the last two beats of the phrase.
                let notes: Vec<(u32, u32, i32)> = if answers {
                    motif
                        .iter()
                        .filter(|n| (8..16).contains(&n.0))
                        .map(|&(step, len, mv)| (step + 16, len.min(16 - step), mv))
                        .collect()
                } else {
                    motif
                };
                for (i, &(step, len, mv)) in notes.iter().enumerate() {
                    if i > 0 {
                        p = scale_step(self.key, p, mv, lo, hi);
                    }
                    if step % 8 == 0 {
                        let pcs = if step >= 16 { &next_chord_pcs } else { &pcs0 };
                        p = nearest_of(p, pcs, lo, hi);
                    }
                    let vel = if answers { 66.0 } else { 80.0 };
                    self.push(
                        Part::Melody,
                        CH_LEAD,
                        p,
                        vel,
                        t0 + step * STEP + self.swing(step),
                        len * STEP - 20,
                    );
                }
                self.lead_pitch = p;
            }
        }
    }
}

/// The note of pitch class `pc` nearest to `near`, within `lo..=hi`.
pub(super) fn nearest_pc(near: u8, pc: u8, lo: u8, hi: u8) -> u8 {
    (lo..=hi)
        .filter(|k| k % 12 == pc % 12)
        .min_by_key(|k| (i32::from(*k) - i32::from(near)).abs())
        .unwrap_or(near)
}

/// The chord tone nearest to `near`, within range.
fn nearest_of(near: u8, pcs: &[u8], lo: u8, hi: u8) -> u8 {
    pcs.iter()
        .map(|&pc| nearest_pc(near, pc, lo, hi))
        .min_by_key(|k| (i32::from(*k) - i32::from(near)).abs())
        .unwrap_or(near)
}

/// Moves `steps` scale degrees from `from` (snapped into the key), turning back at the range.
fn scale_step(key: Key, from: u8, steps: i32, lo: u8, hi: u8) -> u8 {
    let mut k = i32::from(from);
    while !key.contains(k as u8) {
        k -= 1;
    }
    let dir = steps.signum();
    let mut left = steps.abs();
    let mut dir = if (k >= i32::from(hi) - 2 && dir > 0) || (k <= i32::from(lo) + 2 && dir < 0) {
        -dir
    } else {
        dir
    };
    while left > 0 {
        k += dir;
        if k > i32::from(hi) || k < i32::from(lo) {
            dir = -dir;
            k += 2 * dir;
        }
        if key.contains(k as u8) {
            left -= 1;
        }
    }
    k.clamp(i32::from(lo), i32::from(hi)) as u8
}
