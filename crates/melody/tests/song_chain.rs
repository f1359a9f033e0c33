//! The stages compose: lyrics shaped as `/api/generate-lyrics/` shapes them (every genre's
//! form, fitted to durations from 30 to 600 s, lines up to the longest the writer keeps) go
//! through the arranger at that duration and its arrangement map (as JSON, the way the
//! instrumental endpoint stores it), then the melody writer sings every line on that map.

use serde_json::json;
use songforge_arranger::{Plan, arrange};
use songforge_genre::Genre;
use songforge_lyrics::LyricsRequest;
use songforge_melody::{ArrangementMap, Grid, Voice, write_score};
use songforge_prosody::Dictionary;
use songforge_rng::Rng;
use songforge_song::read_form;

const WORDS: [&str; 16] = [
    "love",
    "river",
    "city",
    "tonight",
    "remember",
    "electric",
    "beautiful",
    "go",
    "higher",
    "we",
    "are",
    "dancing",
    "forever",
    "rain",
    "home",
    "light",
];

/// Lyrics in the lyrics endpoint's text format for a fitted request: each section's lines of
/// random words, at most `max_syllables` each, repeats copied word for word.
fn written(request: &LyricsRequest, dict: &Dictionary, rng: &mut Rng) -> String {
    let mut sections: Vec<(String, Vec<String>)> = Vec::new();
    for slot in request.structure.sections() {
        let lines = match slot.repeat_of {
            Some(first) => sections[first].1.clone(),
            None if !slot.sung => Vec::new(),
            None => (0..request.lines_for(slot.kind))
                .map(|_| {
                    let target = 3 + rng.below(request.max_line_syllables() - 2);
                    let mut line = String::new();
                    loop {
                        let w = WORDS[rng.below(WORDS.len())];
                        let next = format!("{line} {w}");
                        if dict.line_syllables(&next) > target && !line.is_empty() {
                            break;
                        }
                        line = next;
                    }
                    line.trim().to_string()
                })
                .collect(),
        };
        sections.push((slot.name.clone(), lines));
    }
    sections
        .iter()
        .map(|(name, lines)| format!("{name}:\n{}", lines.join("\n")))
        .collect::<Vec<_>>()
        .join("\n\n")
}

#[test]
fn lyrics_for_every_genre_and_duration_are_sung_on_the_instrumental_they_make() {
    let dict = Dictionary::parse(String::new()).expect("letter rules");
    let mut rng = Rng::new(2026);
    let mut songs = 0;
    for genre in Genre::ALL {
        for duration in [30.0, 45.0, 60.0, 90.0, 180.0, 300.0, 600.0] {
            for _ in 0..3 {
                let mut request = LyricsRequest::from_json(&json!({
                    "input_text": "a theme", "genre": genre.name(), "duration": duration,
                }))
                .expect("valid request");
                request
                    .fit_duration(&dict)
                    .expect("the genre's form shrinks to fit");
                let lyrics = written(&request, &dict, &mut rng);
                let seed = rng.next_u64();
                let plan = Plan {
                    genre,
                    bpm: None,
                    key: None,
                    duration_s: Some(duration),
                    seed,
                };
                let a = arrange(&lyrics, &plan, &dict)
                    .unwrap_or_else(|e| panic!("{genre:?} {duration}: {e}\n{lyrics}"));
                assert!(
                    (a.duration_s() - duration).abs() <= a.bar_seconds() / 2.0 + 1e-9,
                    "{genre:?} {duration}: {}",
                    a.duration_s()
                );
                // The map as the instrumental endpoint stores it.
                let map = json!({
                    "bpm": a.bpm, "key": a.key.to_string(), "time_signature": "4/4",
                    "duration": a.duration_s(), "sections": a.sections, "chords": a.chords,
                });
                let map: ArrangementMap = serde_json::from_value(map).expect("map");
                let grid = Grid::from_map(&map).expect("grid");
                let (sections, _) = read_form(&lyrics);
                let score = write_score(&grid, &sections, &dict, Voice::BARITONE, seed)
                    .unwrap_or_else(|e| panic!("{genre:?} {duration}: {e}\n{lyrics}"));
                // Every sung section of the plan is sung: as many phrases as planned lines.
                let planned: usize = a.sections.iter().map(|s| s.sung_lines.len()).sum();
                let phrases = score.notes.iter().filter(|n| n.phrase_start).count();
                assert_eq!(phrases, planned, "{genre:?} {duration}");
                assert!(planned > 0);
                for n in &score.notes {
                    assert!(n.start_s >= 0.0 && n.start_s + n.dur_s <= a.duration_s() + 1e-6);
                    // No syllable shorter than the plan allows (0.15 s, rounded).
                    assert!(n.dur_s >= 0.149, "{genre:?} {duration}: {n:?}");
                }
                songs += 1;
            }
        }
    }
    assert_eq!(songs, Genre::ALL.len() * 7 * 3);
}
