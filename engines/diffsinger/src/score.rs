//! From sung notes to what the acoustic model reads: phones on a timeline, phrases split at
//! rests, token durations in frames and an f0 curve.
//!
//! Timing follows how singers place words: consonants before a vowel are sung ahead of the
//! beat (borrowing from the previous note when the notes touch), the vowel starts on the beat
//! and carries the note, consonants after it close the note. Pitch glides into each note and
//! long notes get a gentle vibrato.

pub use songforge_inference::contract::singer::{SungNote, TimedPhone};

/// A phoneme of the voicebank and whether it carries the note.
#[derive(Debug, Clone, PartialEq)]
pub struct Phone {
    pub symbol: String,
    pub vowel: bool,
}

/// The time a consonant takes when there is room.
pub const CONSONANT_S: f64 = 0.07;
/// Most time onset consonants take before the beat.
pub const MAX_ONSET_S: f64 = 0.25;
/// Share of a note its closing consonants may take.
pub const MAX_CODA_SHARE: f64 = 0.3;
/// Share of a note's vowel the next note's onset may not take.
pub const KEEP_VOWEL_SHARE: f64 = 0.4;
/// A rest at least this long starts a new phrase (rendered separately).
pub const PHRASE_GAP_S: f64 = 0.3;
/// Silence rendered before and after a phrase.
pub const HEAD_S: f64 = 0.1;
pub const TAIL_S: f64 = 0.1;
/// The silence token every voicebank has.
pub const SILENCE: &str = "SP";

/// How the pitch moves.
#[derive(Debug, Clone, Copy)]
pub struct PitchStyle {
    /// Vibrato depth, semitones (peak).
    pub vibrato_st: f32,
    pub vibrato_hz: f32,
    /// Time a glide between notes takes, seconds.
    pub glide_s: f64,
}

impl Default for PitchStyle {
    fn default() -> Self {
        PitchStyle {
            vibrato_st: 0.2,
            vibrato_hz: 5.5,
            glide_s: 0.08,
        }
    }
}

/// Places every note's phones; `phones[i]` are note `i`'s. Notes must be in order and not
/// overlap (the engine checks).
pub fn place(notes: &[SungNote], phones: &[Vec<Phone>]) -> Vec<Vec<TimedPhone>> {
    let split = |p: &[Phone]| match p.iter().position(|p| p.vowel) {
        Some(v) => (v, p.len() - v - 1),
        None => (0, 0),
    };
    let coda_total = |i: usize| {
        let (_, coda) = split(&phones[i]);
        (coda as f64 * CONSONANT_S).min(MAX_CODA_SHARE * notes[i].dur_s)
    };
    // When each note's onset begins.
    let onset_start: Vec<f64> = (0..notes.len())
        .map(|i| {
            let (onset, _) = split(&phones[i]);
            let want = (onset as f64 * CONSONANT_S).min(MAX_ONSET_S);
            let room = match i.checked_sub(1) {
                Some(p) => {
                    notes[i].start_s
                        - (notes[p].start_s + KEEP_VOWEL_SHARE * notes[p].dur_s + coda_total(p))
                }
                None => f64::INFINITY,
            };
            notes[i].start_s - want.min(room.max(0.0))
        })
        .collect();
    (0..notes.len())
        .map(|i| {
            let note = &notes[i];
            let end = onset_start
                .get(i + 1)
                .map_or(note.end_s(), |&next| next.min(note.end_s()));
            let p = &phones[i];
            let timed = |phone: &Phone, start_s: f64, end_s: f64| TimedPhone {
                symbol: phone.symbol.clone(),
                start_s,
                end_s,
            };
            let Some(v) = p.iter().position(|p| p.vowel) else {
                // No vowel: the phones share the note.
                let step = (end - note.start_s) / p.len().max(1) as f64;
                return p
                    .iter()
                    .enumerate()
                    .map(|(k, ph)| {
                        let s = note.start_s + k as f64 * step;
                        timed(ph, s, s + step)
                    })
                    .collect();
            };
            let mut out = Vec::with_capacity(p.len());
            let onset = (note.start_s - onset_start[i]) / v.max(1) as f64;
            for (k, ph) in p[..v].iter().enumerate() {
                let s = onset_start[i] + k as f64 * onset;
                out.push(timed(ph, s, s + onset));
            }
            let coda_n = p.len() - v - 1;
            let coda = coda_total(i).min((end - note.start_s) * MAX_CODA_SHARE);
            let vowel_end = end - coda;
            out.push(timed(&p[v], note.start_s, vowel_end));
            for (k, ph) in p[v + 1..].iter().enumerate() {
                let step = coda / coda_n as f64;
                let s = vowel_end + k as f64 * step;
                out.push(timed(ph, s, s + step));
            }
            out
        })
        .collect()
}

/// One stretch of singing between long rests, ready for the acoustic model.
#[derive(Debug, Clone, PartialEq)]
pub struct Phrase {
    /// Time of frame 0, seconds (may be before 0 when the song starts with a consonant).
    pub origin_s: f64,
    /// Symbols, `SP` first and last.
    pub symbols: Vec<String>,
    /// Frames of each symbol.
    pub durations: Vec<i64>,
    /// Hz, one per frame.
    pub f0: Vec<f32>,
    /// The phones as sung (for the response).
    pub phones: Vec<TimedPhone>,
}

impl Phrase {
    pub fn frames(&self) -> usize {
        self.f0.len()
    }
}

/// Splits the placed phones into phrases and converts them to frames of `frame_s` seconds.
pub fn phrases(
    notes: &[SungNote],
    placed: &[Vec<TimedPhone>],
    frame_s: f64,
    style: PitchStyle,
) -> Vec<Phrase> {
    let all: Vec<&TimedPhone> = placed.iter().flatten().collect();
    let mut groups: Vec<Vec<&TimedPhone>> = Vec::new();
    for t in all {
        match groups.last_mut() {
            Some(g) if t.start_s - g.last().map_or(t.start_s, |l| l.end_s) < PHRASE_GAP_S => {
                g.push(t)
            }
            _ => groups.push(vec![t]),
        }
    }
    groups
        .into_iter()
        .map(|g| {
            let first = g.first().map_or(0.0, |t| t.start_s);
            let last = g.last().map_or(0.0, |t| t.end_s);
            let origin_s = first - HEAD_S;
            // Symbols with their start times; short gaps inside a phrase are silence.
            let mut marks: Vec<(String, f64)> = vec![(SILENCE.into(), origin_s)];
            let mut cursor = first;
            for t in &g {
                if t.start_s - cursor >= frame_s {
                    marks.push((SILENCE.into(), cursor));
                }
                marks.push((t.symbol.clone(), t.start_s.max(cursor)));
                cursor = t.end_s.max(t.start_s.max(cursor));
            }
            marks.push((SILENCE.into(), last));
            let end = last + TAIL_S;
            // Frame boundaries, rounded from absolute times (no drift), at least one each.
            let mut bounds: Vec<i64> = marks
                .iter()
                .map(|(_, s)| ((s - origin_s) / frame_s).round() as i64)
                .chain(std::iter::once(((end - origin_s) / frame_s).round() as i64))
                .collect();
            for k in 1..bounds.len() {
                bounds[k] = bounds[k].max(bounds[k - 1] + 1);
            }
            let durations: Vec<i64> = bounds.windows(2).map(|w| w[1] - w[0]).collect();
            let frames = bounds.last().copied().unwrap_or(0) as usize;
            let f0 = (0..frames)
                .map(|k| {
                    let t = origin_s + (k as f64 + 0.5) * frame_s;
                    midi_to_hz(pitch_at(notes, t, style))
                })
                .collect();
            Phrase {
                origin_s,
                symbols: marks.into_iter().map(|(s, _)| s).collect(),
                durations,
                f0,
                phones: g.into_iter().cloned().collect(),
            }
        })
        .collect()
}

fn midi_to_hz(m: f32) -> f32 {
    440.0 * 2f32.powf((m - 69.0) / 12.0)
}

/// The sung pitch at `t` (MIDI): each note held, a raised-cosine glide into the next that
/// lands just after its start, vibrato on long notes; rests hold the nearer note.
pub fn pitch_at(notes: &[SungNote], t: f64, style: PitchStyle) -> f32 {
    let Some(first) = notes.first() else {
        return 60.0;
    };
    // The note whose territory holds t: changes at the next note's start (touching notes) or
    // in the middle of a rest.
    let next = notes.partition_point(|n| n.start_s <= t);
    let i = next.saturating_sub(1);
    let mut idx = i;
    if t < first.start_s {
        idx = 0;
    } else if let Some(n) = notes.get(next) {
        let gap = n.start_s - notes[i].end_s();
        if gap > 2.0 * style.glide_s && t > notes[i].end_s() + gap / 2.0 {
            idx = next;
        }
    }
    // Touching notes: the glide into the next one starts just before its beat.
    if let Some(n) = notes.get(idx + 1)
        && n.start_s - notes[idx].end_s() <= 2.0 * style.glide_s
        && t >= n.start_s - 0.75 * style.glide_s
    {
        idx += 1;
    }
    let note = &notes[idx];
    let mut midi = note.midi;
    // Glide in from the previous note when they are close.
    if let Some(prev) = idx.checked_sub(1).map(|p| &notes[p]) {
        let gap = note.start_s - prev.end_s();
        let (from, to) = (
            note.start_s - 0.75 * style.glide_s,
            note.start_s + 0.25 * style.glide_s,
        );
        if gap <= 2.0 * style.glide_s && t < to {
            let x = ((t - from) / (to - from)).clamp(0.0, 1.0);
            let w = 0.5 - 0.5 * (std::f64::consts::PI * x).cos();
            midi = prev.midi + (note.midi - prev.midi) * w as f32;
        }
    }
    // Vibrato after the note settles.
    let (delay, ramp) = (0.25, 0.2);
    let into = t - note.start_s;
    if note.dur_s >= 0.4 && into > delay && t < note.end_s() {
        let depth = style.vibrato_st * ((into - delay) / ramp).min(1.0) as f32;
        let phase = 2.0 * std::f64::consts::PI * f64::from(style.vibrato_hz) * (into - delay);
        midi += depth * phase.sin() as f32;
    }
    midi
}

#[cfg(test)]
mod tests {
    use super::*;

    fn note(ph: &[&str], midi: f32, start_s: f64, dur_s: f64) -> SungNote {
        SungNote {
            phonemes: ph.iter().map(|s| s.to_string()).collect(),
            midi,
            start_s,
            dur_s,
        }
    }

    fn phones(list: &[&str]) -> Vec<Phone> {
        list.iter()
            .map(|s| Phone {
                symbol: s.to_string(),
                vowel: ["aa", "ah", "eh", "ow"].contains(s),
            })
            .collect()
    }

    #[test]
    fn vowels_start_on_the_beat_and_onsets_come_before_it() {
        let notes = [
            note(&["s", "t", "aa", "p"], 60.0, 1.0, 0.5),
            note(&["g", "ow"], 62.0, 2.0, 0.5),
        ];
        let placed = place(
            &notes,
            &[phones(&["s", "t", "aa", "p"]), phones(&["g", "ow"])],
        );
        let a = &placed[0];
        assert_eq!(a[2].symbol, "aa");
        assert!((a[2].start_s - 1.0).abs() < 1e-9);
        assert!((a[0].start_s - (1.0 - 2.0 * CONSONANT_S)).abs() < 1e-9);
        assert!((a[3].end_s - 1.5).abs() < 1e-9, "the coda closes the note");
        assert!((placed[1][1].start_s - 2.0).abs() < 1e-9);
    }

    #[test]
    fn touching_notes_lend_time_to_the_next_onset() {
        let notes = [
            note(&["aa"], 60.0, 0.5, 0.5),
            note(&["s", "t", "aa"], 62.0, 1.0, 0.5),
        ];
        let placed = place(&notes, &[phones(&["aa"]), phones(&["s", "t", "aa"])]);
        let first_vowel = &placed[0][0];
        let onset = &placed[1][0];
        assert!((first_vowel.end_s - onset.start_s).abs() < 1e-9);
        assert!(onset.start_s < 1.0 && first_vowel.end_s - 0.5 >= KEEP_VOWEL_SHARE * 0.5);
    }

    #[test]
    fn rests_split_phrases_and_frames_add_up() {
        let frame = 512.0 / 44_100.0;
        let notes = [
            note(&["aa"], 60.0, 0.5, 0.5),
            note(&["eh"], 64.0, 1.0, 0.5),
            note(&["ow"], 67.0, 3.0, 1.0),
        ];
        let placed = place(&notes, &[phones(&["aa"]), phones(&["eh"]), phones(&["ow"])]);
        let p = phrases(&notes, &placed, frame, PitchStyle::default());
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].symbols, ["SP", "aa", "eh", "SP"]);
        let total: i64 = p[0].durations.iter().sum();
        assert_eq!(total as usize, p[0].frames());
        // 0.1 s head + 1 s of notes + 0.1 s tail.
        assert!((p[0].frames() as f64 * frame - 1.2).abs() < frame);
        // Frame 0 is HEAD_S before the first vowel.
        assert!((p[1].origin_s - 2.9).abs() < 1e-9);
        assert!(p.iter().all(|p| p.durations.iter().all(|&d| d >= 1)));
    }

    #[test]
    fn pitch_holds_notes_glides_between_and_rests_hold_the_nearer_note() {
        let style = PitchStyle {
            vibrato_st: 0.0,
            ..PitchStyle::default()
        };
        let notes = [note(&["aa"], 60.0, 0.0, 0.5), note(&["eh"], 64.0, 0.5, 0.5)];
        assert_eq!(pitch_at(&notes, 0.2, style), 60.0);
        assert_eq!(pitch_at(&notes, 0.7, style), 64.0);
        let mid = pitch_at(&notes, 0.5 - 0.25 * style.glide_s, style);
        assert!(mid > 60.5 && mid < 63.5, "{mid}");
        let apart = [note(&["aa"], 60.0, 0.0, 0.5), note(&["eh"], 67.0, 2.0, 0.5)];
        assert_eq!(pitch_at(&apart, 1.0, style), 60.0);
        assert_eq!(pitch_at(&apart, 1.5, style), 67.0);
    }

    #[test]
    fn vibrato_stays_within_its_depth() {
        let notes = [note(&["aa"], 60.0, 0.0, 2.0)];
        let style = PitchStyle::default();
        let max = (0..200)
            .map(|k| (pitch_at(&notes, k as f64 * 0.01, style) - 60.0).abs())
            .fold(0f32, f32::max);
        assert!(max > 0.15 && max <= style.vibrato_st + 1e-4, "{max}");
    }
}
