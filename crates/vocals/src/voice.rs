//! Between the score and the voice: what the graphs are sent and how the result is levelled.

use songforge_inference::contract::{singer, tts};
use songforge_melody::Score;
use std::ops::Range;

/// Active level of the vocal, dBFS RMS over sung samples; the mixer sets the final balance.
pub const VOCAL_RMS_DB: f32 = -18.0;
/// Highest sample peak, dBFS.
pub const PEAK_DB: f32 = -1.0;
/// Samples quieter than this are not singing (they do not count toward the level).
const SUNG_THRESHOLD: f32 = 1e-3;

/// The notes of each word, in order: consecutive notes of one word form one utterance, so
/// the voice says the word whole and the takes are cut at its syllables afterwards.
pub fn words(score: &Score) -> Vec<Range<usize>> {
    let mut words: Vec<Range<usize>> = Vec::new();
    for (i, n) in score.notes.iter().enumerate() {
        match words.last_mut() {
            Some(w) if score.notes[w.start].word_index == n.word_index => w.end = i + 1,
            _ => words.push(i..i + 1),
        }
    }
    words
}

/// The `phonemes` input of the `tts` graph: each word's IPA, all its syllables together.
pub fn utterances(score: &Score, words: &[Range<usize>]) -> tts::Utterances {
    words
        .iter()
        .map(|w| {
            score.notes[w.clone()]
                .iter()
                .flat_map(|n| n.ipa.iter().cloned())
                .collect()
        })
        .collect()
}

/// The `notes` input of the `singer` graph.
pub fn sung_notes(score: &Score) -> Vec<singer::SungNote> {
    score
        .notes
        .iter()
        .map(|n| singer::SungNote {
            phonemes: n.phonemes.clone(),
            midi: f32::from(n.midi),
            start_s: n.start_s,
            dur_s: n.dur_s,
        })
        .collect()
}

fn db_to_gain(db: f32) -> f32 {
    10f32.powf(db / 20.0)
}

/// Brings the sung parts to [`VOCAL_RMS_DB`], never past [`PEAK_DB`]; returns the peak.
/// Silence between phrases does not count, so a sparse vocal is as loud as a dense one.
pub fn level(x: &mut [f32]) -> f32 {
    let (sum, count) = x
        .iter()
        .filter(|s| s.abs() > SUNG_THRESHOLD)
        .fold((0f64, 0usize), |(sum, n), s| {
            (sum + f64::from(s * s), n + 1)
        });
    if count == 0 {
        return 0.0;
    }
    let rms = (sum / count as f64).sqrt() as f32;
    let peak = x.iter().fold(0f32, |m, s| m.max(s.abs()));
    let gain = (db_to_gain(VOCAL_RMS_DB) / rms).min(db_to_gain(PEAK_DB) / peak);
    for s in x.iter_mut() {
        *s *= gain;
    }
    peak * gain
}

#[cfg(test)]
mod tests {
    use super::*;
    use songforge_melody::{ScoreNote, Voice};

    fn note(word_index: usize, ipa: &[&str], midi: u8, start_s: f64) -> ScoreNote {
        ScoreNote {
            syllable: "la".into(),
            word: "la".into(),
            phonemes: vec!["L".into(), "AA1".into()],
            ipa: ipa.iter().map(|s| s.to_string()).collect(),
            word_index,
            weight: 1,
            midi,
            start_s,
            dur_s: 0.5,
            stressed: true,
            phrase_start: start_s == 0.0,
            section: "Verse 1".into(),
        }
    }

    fn score(notes: Vec<ScoreNote>) -> Score {
        Score {
            bpm: 120.0,
            key: "C major".into(),
            duration_s: 4.0,
            notes,
            voice: Voice::BARITONE,
        }
    }

    #[test]
    fn a_words_syllables_are_spoken_as_one_utterance() {
        let s = score(vec![
            note(0, &["h", "ɛ"], 60, 0.0),
            note(0, &["l", "oʊ"], 62, 0.5),
            note(1, &["j", "u"], 64, 1.0),
        ]);
        let w = words(&s);
        assert_eq!(w, vec![0..2, 2..3]);
        assert_eq!(
            utterances(&s, &w),
            vec![vec!["h", "ɛ", "l", "oʊ"], vec!["j", "u"]]
        );
        let sung = sung_notes(&s);
        assert_eq!(sung.len(), 3);
        assert_eq!((sung[1].midi, sung[1].start_s), (62.0, 0.5));
    }

    #[test]
    fn the_level_counts_only_sung_samples_and_keeps_the_peak() {
        // Half silence, half a steady tone: the tone alone decides the gain.
        let mut x: Vec<f32> = (0..2000)
            .map(|i| {
                if i < 1000 {
                    0.0
                } else {
                    0.05 * if i % 2 == 0 { 1.0 } else { -1.0 }
                }
            })
            .collect();
        let peak = level(&mut x);
        let rms = (x[1000..].iter().map(|s| s * s).sum::<f32>() / 1000.0).sqrt();
        assert!((20.0 * rms.log10() - VOCAL_RMS_DB).abs() < 0.01, "{rms}");
        assert!(x[..1000].iter().all(|s| *s == 0.0));
        // A spike is held at the ceiling instead.
        let mut spiky = vec![0.01f32; 1000];
        spiky[10] = 1.0;
        let peak_spiky = level(&mut spiky);
        assert!((20.0 * peak_spiky.log10() - PEAK_DB).abs() < 0.01);
        assert!(peak <= db_to_gain(PEAK_DB) + 1e-6);
        assert_eq!(level(&mut [0.0; 10]), 0.0);
    }
}
