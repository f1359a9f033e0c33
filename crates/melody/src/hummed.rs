//! Voice to song: the lyrics sung to a melody someone hummed or sang, as notes read from the
//! recording (the `pitch` graph), instead of a melody written on a grid.

use crate::score::{Score, ScoreError, ScoreNote, Voice, line_syllables};
use songforge_prosody::Dictionary;

/// A note heard in the recording, as the `pitch` graph reports it.
pub use songforge_inference::contract::pitch::HeardNote;

/// A rest at least this long before a note starts a new phrase, seconds.
const PHRASE_GAP_S: f64 = 0.25;

/// Sings `lines` to `heard`: one syllable a note, in order, the melody moved by whole octaves
/// into the voice's range where it does not fit. More syllables than notes: the longest notes are halved
/// until each syllable has one; fewer: the shortest note is joined to its neighbour until
/// none is left over. The score keeps the recording's timing, so the vocal lines up with it.
pub fn fit_to_melody(
    lines: &[&str],
    dict: &Dictionary,
    heard: &[HeardNote],
    voice: Voice,
    duration_s: f64,
) -> Result<Score, ScoreError> {
    // Word indices run on across lines, so every word of the song is spoken once.
    let mut syllables: Vec<(usize, crate::score::Syl)> = Vec::new();
    let mut words_before = 0;
    for (li, line) in lines.iter().enumerate() {
        let line_syls = line_syllables(line, dict);
        syllables.extend(line_syls.into_iter().map(|mut s| {
            s.word_index += words_before;
            (li, s)
        }));
        words_before += songforge_prosody::words(line).count();
    }
    if syllables.is_empty() {
        return Err(ScoreError::Empty);
    }
    let mut notes: Vec<HeardNote> = heard
        .iter()
        .filter(|n| n.end_s > n.start_s)
        .cloned()
        .collect();
    if notes.is_empty() {
        return Err(ScoreError::NoMelody);
    }
    while notes.len() < syllables.len() {
        let (i, _) = notes
            .iter()
            .enumerate()
            .max_by(|a, b| (a.1.end_s - a.1.start_s).total_cmp(&(b.1.end_s - b.1.start_s)))
            .ok_or(ScoreError::NoMelody)?;
        let n = notes[i].clone();
        let mid = (n.start_s + n.end_s) / 2.0;
        notes[i].end_s = mid;
        notes.insert(i + 1, HeardNote { start_s: mid, ..n });
    }
    while notes.len() > syllables.len() {
        let (i, _) = notes
            .iter()
            .enumerate()
            .min_by(|a, b| (a.1.end_s - a.1.start_s).total_cmp(&(b.1.end_s - b.1.start_s)))
            .ok_or(ScoreError::NoMelody)?;
        // Join it to the neighbour it is closest to in time; the longer note keeps its pitch.
        let join_left = i > 0
            && (i + 1 == notes.len()
                || notes[i].start_s - notes[i - 1].end_s <= notes[i + 1].start_s - notes[i].end_s);
        let j = if join_left { i - 1 } else { i + 1 };
        let (a, b) = (i.min(j), i.max(j));
        let longer = if notes[a].end_s - notes[a].start_s >= notes[b].end_s - notes[b].start_s {
            a
        } else {
            b
        };
        let joined = HeardNote {
            start_s: notes[a].start_s,
            end_s: notes[b].end_s,
            midi: notes[longer].midi,
            confidence: notes[a].confidence.min(notes[b].confidence),
        };
        notes[a] = joined;
        notes.remove(b);
    }
    // The fewest whole octaves that leave the fewest notes outside the range (a melody that
    // fits is sung where it was hummed), then the one nearest the range's middle.
    let mut sorted: Vec<i32> = notes.iter().map(|n| i32::from(n.midi)).collect();
    sorted.sort_unstable();
    let median = sorted[sorted.len() / 2];
    let centre = (i32::from(voice.low) + i32::from(voice.high)) / 2;
    let range = i32::from(voice.low)..=i32::from(voice.high);
    let shift = (-6..=6)
        .map(|k| k * 12)
        .min_by_key(|s| {
            let outside = sorted.iter().filter(|m| !range.contains(&(*m + s))).count();
            (outside, s.abs(), (median + s - centre).abs())
        })
        .unwrap_or(0);
    let mut out = Vec::with_capacity(notes.len());
    let mut last_line = usize::MAX;
    let mut prev_end = f64::NEG_INFINITY;
    for (note, (line, syl)) in notes.iter().zip(&syllables) {
        let mut midi = i32::from(note.midi) + shift;
        while midi < i32::from(voice.low) {
            midi += 12;
        }
        while midi > i32::from(voice.high) {
            midi -= 12;
        }
        let phrase_start = *line != last_line || note.start_s - prev_end >= PHRASE_GAP_S;
        last_line = *line;
        prev_end = note.end_s;
        out.push(ScoreNote {
            syllable: syl.text.clone(),
            word: syl.word.clone(),
            phonemes: syl.arpabet.clone(),
            ipa: syl.ipa.clone(),
            word_index: syl.word_index,
            weight: syl.weight,
            midi: midi.clamp(0, 127) as u8,
            start_s: round4(note.start_s),
            dur_s: round4(note.end_s - note.start_s),
            stressed: syl.stressed,
            phrase_start,
            section: "Melody".into(),
        });
    }
    let end = out.last().map_or(0.0, |n| n.start_s + n.dur_s);
    Ok(Score {
        bpm: 120.0,
        key: String::new(),
        duration_s: duration_s.max(end + 0.5),
        notes: out,
        voice,
    })
}

fn round4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dict() -> Dictionary {
        Dictionary::parse(
            "hold HH OW1 L D\nme M IY1\nclose K L OW1 S\nhello HH AH0 L OW1\n".to_string(),
        )
        .unwrap()
    }

    fn hum(spec: &[(u8, f64, f64)]) -> Vec<HeardNote> {
        spec.iter()
            .map(|&(midi, start_s, end_s)| HeardNote {
                start_s,
                end_s,
                midi,
                confidence: 0.9,
            })
            .collect()
    }

    #[test]
    fn syllables_take_the_hummed_notes_moved_by_octaves_into_range() {
        let heard = hum(&[(69, 0.5, 0.9), (72, 1.0, 1.4), (74, 1.5, 2.4)]);
        let s = fit_to_melody(&["hold me close"], &dict(), &heard, Voice::BARITONE, 3.0).unwrap();
        assert_eq!(
            s.notes.iter().map(|n| n.midi).collect::<Vec<_>>(),
            vec![45, 48, 50]
        );
        assert_eq!(
            s.notes.iter().map(|n| n.start_s).collect::<Vec<_>>(),
            vec![0.5, 1.0, 1.5]
        );
        assert!(s.notes[0].phrase_start && !s.notes[1].phrase_start);
        assert_eq!(s.duration_s, 3.0);
    }

    #[test]
    fn counts_are_matched_by_halving_or_joining_notes() {
        // Four syllables, two notes: the longer note is halved, then the longest again.
        let heard = hum(&[(57, 0.0, 1.0), (60, 1.0, 1.4)]);
        let s = fit_to_melody(&["hello hello"], &dict(), &heard, Voice::BARITONE, 2.0).unwrap();
        assert_eq!(s.notes.len(), 4);
        assert_eq!(
            s.notes.iter().map(|n| n.start_s).collect::<Vec<_>>(),
            vec![0.0, 0.5, 0.75, 1.0]
        );
        // One syllable, three notes: all joined, the longest note's pitch kept.
        let heard = hum(&[(57, 0.0, 0.2), (59, 0.25, 1.0), (60, 1.05, 1.2)]);
        let s = fit_to_melody(&["me"], &dict(), &heard, Voice::BARITONE, 2.0).unwrap();
        assert_eq!(s.notes.len(), 1);
        assert_eq!(
            (s.notes[0].midi, s.notes[0].start_s, s.notes[0].dur_s),
            (59, 0.0, 1.2)
        );
        assert!(matches!(
            fit_to_melody(&["me"], &dict(), &[], Voice::BARITONE, 1.0),
            Err(ScoreError::NoMelody)
        ));
    }
}
