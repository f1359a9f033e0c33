//! The packaged CMUdict (`songforge models pull cmudict`; `make test` installs it).

use songforge_prosody::{Dictionary, Rhyme};
use std::path::PathBuf;
use std::time::Instant;

fn dictionary() -> Dictionary {
    let store = std::env::var_os("SONGFORGE_MODELS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models/store"));
    let path = store.join("cmudict/cmudict.dict");
    assert!(
        path.is_file(),
        "{} is missing: run `songforge models pull cmudict` (make test does)",
        path.display()
    );
    let started = Instant::now();
    let d = Dictionary::load(&path).expect("CMUdict parses");
    eprintln!("indexed {} entries in {:?}", d.len(), started.elapsed());
    d
}

#[test]
fn the_whole_dictionary_parses_and_answers_songwriting_questions() {
    let d = dictionary();
    assert!(d.len() > 130_000, "{} entries", d.len());
    assert_eq!(d.pronunciations("tomato").len(), 2);
    assert_eq!(d.pronounce("beautiful").syllable_count(), 3);
    assert_eq!(d.rhyme("heart", "apart"), Rhyme::Perfect);
    assert_eq!(d.rhyme("moon", "june"), Rhyme::Perfect);
    assert_eq!(d.rhyme("fire", "desire"), Rhyme::Perfect);
    assert_eq!(d.rhyme("love", "above"), Rhyme::Perfect);
    assert_eq!(d.rhyme("love", "move"), Rhyme::None);
    assert_eq!(d.rhyme("time", "mine"), Rhyme::Slant);
    assert_eq!(d.line_syllables("Summer rain on the window pane"), 8);
}

#[test]
fn letter_to_sound_usually_counts_syllables_like_the_dictionary() {
    let d = dictionary();
    let text = std::fs::read_to_string(
        std::env::var_os("SONGFORGE_MODELS")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models/store"))
            .join("cmudict/cmudict.dict"),
    )
    .unwrap();
    let empty = Dictionary::parse(String::new()).unwrap();
    let words: Vec<&str> = text
        .lines()
        .step_by(60)
        .filter_map(|l| l.split_whitespace().next())
        .filter(|w| w.chars().all(|c| c.is_ascii_lowercase()))
        .take(2000)
        .collect();
    let agree = words
        .iter()
        .filter(|w| empty.pronounce(w).syllable_count() == d.pronounce(w).syllable_count())
        .count();
    let share = agree as f64 / words.len() as f64;
    eprintln!(
        "letter-to-sound syllable counts agree on {agree} of {} words ({share:.2})",
        words.len()
    );
    assert!(share > 0.7, "{share}");
}
