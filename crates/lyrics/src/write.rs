//! Writing a whole song section by section with a language model: a brief per section with
//! one worked example (so even a 135M-parameter model answers in lines), several sampled
//! candidates, the best kept by score, more attempts with new seeds for the weakest sections
//! within a budget per song, and repeats (choruses) copied word for word.

use crate::clean::lyric_lines;
use crate::request::LyricsRequest;
use crate::score::{Score, Scorer};
use crate::structure::SectionKind;
use crate::style::style_for;
use serde::Serialize;
use songforge_inference::contract::llm;
use songforge_prosody::Dictionary;

/// Candidates sampled per attempt.
pub const CANDIDATES: usize = 4;
/// Most model calls one section gets, each with fresh seeds.
pub const ATTEMPTS: usize = 3;
/// Calls a whole song may spend beyond one per section, on sections not good enough yet.
pub const EXTRA_ATTEMPTS: usize = 1;
/// A section scoring at least this (and rhyming, in English) is kept without further attempts.
pub const GOOD_ENOUGH: f32 = 0.6;
/// The rhyme score a kept-early English section needs: at least one true rhyme pair.
pub const RHYMES_ENOUGH: f32 = 0.5;
/// What a whole candidate's own line order is worth over lines pooled from several
/// candidates (which rhyme better but hold together less).
const COHERENCE_BONUS: f32 = 0.08;

/// Asks the language model for completions.
pub trait Complete {
    /// Why a call failed (the component keeps the HTTP status it implies).
    type Error;
    /// Sends one `llm` graph request and returns the candidates.
    fn complete(&mut self, request: &llm::Request) -> Result<Vec<Candidate>, Self::Error>;
}

/// One completion.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// What the model wrote.
    pub text: String,
    /// Whether it ended by itself (false: cut off by the token budget, so its last line is
    /// unfinished).
    pub finished: bool,
}

/// Why a song could not be written.
#[derive(Debug, thiserror::Error)]
pub enum WriteError<E> {
    /// The model call failed.
    #[error("the language model failed")]
    Model(E),
    /// Even pooled across every candidate, the model gave too few usable lines.
    #[error(
        "the model wrote only {got} usable lines for {section} (needs {needed}) in {attempts} attempts; try another seed or a larger model"
    )]
    TooFewLines {
        /// Section name.
        section: String,
        /// Lines found.
        got: usize,
        /// Lines needed.
        needed: usize,
        /// Attempts made.
        attempts: usize,
    },
}

/// One written section.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Section {
    /// Heading without the colon (`Verse 1`, `Chorus`).
    pub name: String,
    /// Section kind.
    pub kind: SectionKind,
    /// The lines.
    pub lines: Vec<String>,
}

/// A written song.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Song {
    /// A title taken from the chorus (or the first section).
    pub title: String,
    /// Sections in order, repeats included.
    pub sections: Vec<Section>,
    /// How each newly written section scored.
    pub scores: Vec<SectionScore>,
    /// Model calls made.
    pub model_calls: usize,
}

/// The score of one newly written section.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SectionScore {
    /// Section name.
    pub section: String,
    /// The chosen lines' score.
    #[serde(flatten)]
    pub score: Score,
    /// `candidate` (one candidate kept whole) or `pooled` (best lines across candidates).
    pub source: &'static str,
}

impl Song {
    /// The lyrics in the seed's text format: `Verse 1:\n…\n\nChorus:\n…`.
    pub fn text(&self) -> String {
        self.sections
            .iter()
            .map(|s| format!("{}:\n{}", s.name, s.lines.join("\n")))
            .collect::<Vec<_>>()
            .join("\n\n")
    }
}

// One worked example teaches a small model the answer's shape. Its images leak into what
// the model writes, so it is about something plain that fits most songs.
const EXAMPLE_REQUEST: &str =
    "Write 4 short lines (6 to 9 words each) for the verse of a song about a new morning.";
const EXAMPLE_ANSWER: &str = "I open up the window wide\nAnd let the morning come inside\nThe coffee's warm, the sky is clear\nAnd every road begins right here";

/// Words a finished lyric line does not end on: the line was cut off.
const DANGLING: &[&str] = &[
    "a", "an", "the", "and", "or", "but", "of", "to", "with", "from", "my", "your", "his", "its",
    "their", "our", "which", "is", "was", "are", "were",
];

/// Whether a line stops mid-phrase ("We laughed and cried under its").
fn trails_off(line: &str) -> bool {
    line.trim_end().ends_with("...") && songforge_prosody::words(line).count() < 4
        || songforge_prosody::last_word(line)
            .map(songforge_prosody::normalize_word)
            .is_some_and(|w| DANGLING.contains(&w.as_str()))
}

/// Which verse (1-based) a section name is, for verse-specific briefs.
fn verse_number(name: &str) -> usize {
    name.rsplit(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1)
}

fn brief(request: &LyricsRequest, kind: SectionKind, name: &str, lines: usize) -> String {
    let genre = request.preset.preset.name();
    let mut text = format!(
        "Write {lines} short lines (6 to 9 words each) for the {} of a {genre} song about {}.",
        name.to_lowercase(),
        request.theme.trim_end_matches('.')
    );
    // Verses get different jobs so their briefs (and so their lines) differ.
    let purpose = match (kind, verse_number(name)) {
        (SectionKind::Verse, 1) => "sets the scene",
        (SectionKind::Verse, 2) => "tells what happens next",
        (SectionKind::Verse, _) => "brings the story to its end",
        (k, _) => k.purpose(),
    };
    text.push_str(&format!(" It {purpose}."));
    if let Some(mood) = &request.mood {
        text.push_str(&format!(" Mood: {mood}."));
    }
    if let Some(language) = request.language.as_ref().filter(|_| !request.is_english()) {
        text.push_str(&format!(" Write it in {language}."));
    }
    text
}

/// The `llm` request for one attempt at a section. Earlier sections are deliberately not in
/// the prompt: a small model shown them copies them instead of continuing the story. Later
/// attempts sample a little hotter, to get away from what failed.
pub fn section_request(
    request: &LyricsRequest,
    kind: SectionKind,
    name: &str,
    lines: usize,
    attempt: usize,
    seed: u64,
) -> llm::Request {
    let style = style_for(request.preset.preset);
    let messages = vec![
        llm::Message::new(
            "system",
            format!(
                "You are a songwriter. You write song lyrics: {}. Short lines that rhyme, one per line. You reply with the lyric lines only.",
                style.guidance
            ),
        ),
        llm::Message::new("user", EXAMPLE_REQUEST),
        llm::Message::new("assistant", EXAMPLE_ANSWER),
        llm::Message::new("user", brief(request, kind, name, lines)),
    ];
    let temperature = (request.temperature + 0.15 * attempt as f32).min(1.5);
    llm::Request {
        messages: Some(messages),
        max_tokens: Some(14 * lines + 10),
        temperature: Some(temperature),
        top_p: Some(0.95),
        top_k: Some(50),
        repeat_penalty: Some(1.15),
        seed: Some(seed),
        stop: vec!["\n\n".to_string()],
        // Not a token on lines past the section's: a candidate one line short still gives
        // its lines to the pool.
        max_lines: Some(lines),
        n: Some(CANDIDATES),
        ..llm::Request::default()
    }
}

/// One sung section being written: what it needs, its best lines so far and every usable
/// line the model offered for it.
struct Draft {
    /// Index of its slot in the structure.
    slot: usize,
    /// Lines it needs.
    needed: usize,
    /// Model calls spent on it.
    attempts: usize,
    /// The best lines yet, their score and where they came from.
    best: Option<(Score, Vec<String>, &'static str)>,
    /// Usable lines across every candidate.
    pool: Vec<String>,
}

impl Draft {
    fn good_enough(&self, english: bool) -> bool {
        self.best.as_ref().is_some_and(|(b, _, _)| {
            b.total >= GOOD_ENOUGH && (b.rhyme >= RHYMES_ENOUGH || !english)
        })
    }

    /// How much another attempt is worth: a section with nothing usable comes first, then
    /// the lowest score.
    fn weakness(&self) -> f32 {
        self.best
            .as_ref()
            .map_or(f32::INFINITY, |(b, _, _)| -b.total)
    }
}

/// Writes the song. `seed` makes it reproducible with the same model and build.
///
/// Every sung section gets one model call first; then the song's [`EXTRA_ATTEMPTS`] go to
/// the weakest sections that are not good enough yet, and a section with nothing usable gets
/// up to [`ATTEMPTS`] whatever the budget. The time a song takes is then bounded by its
/// sections, not by how often a small model misses.
pub fn write_song<M: Complete>(
    request: &LyricsRequest,
    seed: u64,
    dict: &Dictionary,
    model: &mut M,
) -> Result<Song, WriteError<M::Error>> {
    let style = style_for(request.preset.preset);
    let theme = match &request.mood {
        Some(m) => format!("{} {m}", request.theme),
        None => request.theme.clone(),
    };
    let scorer = Scorer::new(dict, style, &theme, request.is_english());
    let slots = request.structure.sections();
    let mut drafts: Vec<Draft> = slots
        .iter()
        .enumerate()
        .filter(|(_, s)| s.repeat_of.is_none() && s.sung)
        .map(|(slot, s)| Draft {
            slot,
            needed: request.lines_for(s.kind),
            attempts: 0,
            best: None,
            pool: Vec::new(),
        })
        .collect();
    let mut calls = 0;
    for d in 0..drafts.len() {
        attempt(request, seed, &scorer, &mut drafts, d, model)?;
        calls += 1;
    }
    let mut extra = 0;
    loop {
        let next = drafts
            .iter()
            .enumerate()
            .filter(|(_, d)| d.attempts < ATTEMPTS && !d.good_enough(request.is_english()))
            .filter(|(_, d)| d.best.is_none() || extra < EXTRA_ATTEMPTS)
            .max_by(|(_, a), (_, b)| a.weakness().total_cmp(&b.weakness()))
            .map(|(d, _)| d);
        let Some(d) = next else { break };
        if drafts[d].best.is_some() {
            extra += 1;
        }
        attempt(request, seed, &scorer, &mut drafts, d, model)?;
        calls += 1;
    }
    let mut sections: Vec<Section> = Vec::with_capacity(slots.len());
    let mut scores = Vec::new();
    for (index, slot) in slots.iter().enumerate() {
        let lines = if let Some(first) = slot.repeat_of {
            sections[first].lines.clone()
        } else if let Some(draft) = drafts.iter_mut().find(|d| d.slot == index) {
            let (score, lines, source) =
                draft.best.take().ok_or_else(|| WriteError::TooFewLines {
                    section: slot.name.clone(),
                    got: draft.pool.len(),
                    needed: draft.needed,
                    attempts: draft.attempts,
                })?;
            scores.push(SectionScore {
                section: slot.name.clone(),
                score,
                source,
            });
            lines
        } else {
            // A break in the form: a heading with no lines, played by the band.
            Vec::new()
        };
        sections.push(Section {
            name: slot.name.clone(),
            kind: slot.kind,
            lines,
        });
    }
    Ok(Song {
        title: title(&sections),
        sections,
        scores,
        model_calls: calls,
    })
}

/// One model call for `drafts[d]`: its candidates' usable lines join its pool, and the best
/// whole candidate or pooled set replaces its best when it scores higher.
fn attempt<M: Complete>(
    request: &LyricsRequest,
    seed: u64,
    scorer: &Scorer,
    drafts: &mut [Draft],
    d: usize,
    model: &mut M,
) -> Result<(), WriteError<M::Error>> {
    // The other sections' lines so far: freshness is scored against them, and a candidate
    // copying them (or the brief's worked example) is refused.
    let others: Vec<String> = drafts
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != d)
        .filter_map(|(_, o)| o.best.as_ref())
        .flat_map(|(_, lines, _)| lines.clone())
        .collect();
    let copied: Vec<String> = others
        .iter()
        .cloned()
        .chain(EXAMPLE_ANSWER.lines().map(str::to_string))
        .collect();
    let slot = &request.structure.sections()[drafts[d].slot];
    let draft = &mut drafts[d];
    let needed = draft.needed;
    // The lines kept so far were scored beside other sections than there are now.
    if let Some((score, lines, _)) = &mut draft.best {
        *score = scorer.score(lines, &others);
    }
    // The user's seed is scrambled first: candidate i draws from seed + i, and unscrambled
    // seeds 11 and 12 would share four of their five candidates.
    let attempt_seed = songforge_rng::Rng::new(seed)
        .next_u64()
        .wrapping_add(draft.slot as u64 * 7919)
        .wrapping_add(draft.attempts as u64 * 1_000_003);
    let req = section_request(
        request,
        slot.kind,
        &slot.name,
        needed,
        draft.attempts,
        attempt_seed,
    );
    draft.attempts += 1;
    for candidate in model.complete(&req).map_err(WriteError::Model)? {
        let mut lines = lyric_lines(&candidate.text);
        if !candidate.finished {
            lines.pop();
        }
        // Prose-length lines are broken at their clauses (which also drops pieces too long or
        // too short to sing); lines that trail off or copy another section are dropped.
        let lines: Vec<String> = scorer
            .fit_lines(lines)
            .into_iter()
            .filter(|l| !trails_off(l) && !scorer.echoes(l, &copied))
            .collect();
        for l in &lines {
            if !draft.pool.contains(l) {
                draft.pool.push(l.clone());
            }
        }
        if lines.len() < needed {
            continue;
        }
        let chosen = lines[..needed].to_vec();
        let score = scorer.score(&chosen, &others);
        if draft
            .best
            .as_ref()
            .is_none_or(|(b, _, _)| score.total > b.total)
        {
            draft.best = Some((score, chosen, "candidate"));
        }
    }
    // Lines pooled across the candidates, paired by rhyme, compete with the best whole
    // candidate.
    if let Some(lines) = pool_lines(scorer, &draft.pool, needed, &others) {
        let score = scorer.score(&lines, &others);
        let beats = draft
            .best
            .as_ref()
            .is_none_or(|(b, _, _)| score.total > b.total + COHERENCE_BONUS);
        if beats {
            draft.best = Some((score, lines, "pooled"));
        }
    }
    Ok(())
}

/// Builds a section from the best lines of every candidate: lines in pairs, each pair chosen
/// for its rhyme, when no single candidate had enough lines.
fn pool_lines(
    scorer: &Scorer,
    pool: &[String],
    needed: usize,
    earlier: &[String],
) -> Option<Vec<String>> {
    let fresh: Vec<&String> = pool
        .iter()
        .filter(|l| scorer.freshness(std::slice::from_ref(*l), earlier) > 0.9)
        .filter(|l| !scorer.echoes(l, earlier))
        .collect();
    if fresh.len() < needed {
        return None;
    }
    let mut chosen: Vec<String> = Vec::new();
    let mut used = vec![false; fresh.len()];
    while chosen.len() < needed {
        if needed - chosen.len() >= 2 {
            // The pair that rhymes best among unused lines.
            let mut best: Option<(f32, usize, usize)> = None;
            for i in 0..fresh.len() {
                for j in i + 1..fresh.len() {
                    if used[i] || used[j] {
                        continue;
                    }
                    // Rhyme first: a pair is there to rhyme; the rest breaks ties.
                    let pair = [fresh[i].clone(), fresh[j].clone()];
                    let score = scorer.score(&pair, earlier);
                    let s = 2.0 * scorer.rhyme(&pair) + score.total;
                    if best.is_none_or(|(b, _, _)| s > b) {
                        best = Some((s, i, j));
                    }
                }
            }
            let (_, i, j) = best?;
            used[i] = true;
            used[j] = true;
            chosen.push(fresh[i].clone());
            chosen.push(fresh[j].clone());
        } else {
            let i = used.iter().position(|u| !u)?;
            used[i] = true;
            chosen.push(fresh[i].clone());
        }
    }
    Some(chosen)
}

/// The title: the chorus's (or hook's, or first section's) shortest line when it is short,
/// else the opening words of its first line, in title case.
pub fn title(sections: &[Section]) -> String {
    let source = sections
        .iter()
        .find(|s| matches!(s.kind, SectionKind::Chorus | SectionKind::Hook))
        .or_else(|| sections.first());
    let Some(lines) = source.map(|s| &s.lines) else {
        return String::new();
    };
    let clean = |l: &str| -> Vec<String> {
        l.split([',', ';', '.', '!', '?', ':'])
            .next()
            .unwrap_or(l)
            .split_whitespace()
            .map(str::to_string)
            .collect()
    };
    let whole = lines
        .iter()
        .map(|l| clean(l))
        .filter(|w| (2..=6).contains(&w.len()))
        .min_by_key(Vec::len);
    // Else the first line's opening words, cut: the cut must not leave a word that wants
    // more after it ("The sun sets behind").
    let cut = whole.is_none();
    let words = whole
        .or_else(|| {
            lines
                .first()
                .map(|l| clean(l).into_iter().take(4).collect())
        })
        .unwrap_or_default();
    // A title is a whole phrase: it does not stop on "the", "and", "that", "of".
    const OPEN_ENDED: &[&str] = &[
        "that", "when", "where", "as", "in", "on", "at", "for", "by", "into", "if", "so",
    ];
    // Words that end a whole line well ("left behind", "never before") but leave a cut one
    // hanging.
    const WANTS_MORE: &[&str] = &[
        "behind", "beyond", "under", "over", "through", "across", "like", "about", "around",
        "before", "after", "without", "within", "upon", "toward", "towards", "against", "between",
        "beneath", "above", "below", "near", "than", "because", "while", "until", "inside",
        "along", "past", "among", "onto", "i", "you", "we", "they", "he", "she", "her",
    ];
    let mut words = words;
    while words.len() > 1
        && words.last().is_some_and(|w| {
            let w = songforge_prosody::normalize_word(w);
            DANGLING.contains(&w.as_str())
                || OPEN_ENDED.contains(&w.as_str())
                || (cut && WANTS_MORE.contains(&w.as_str()))
        })
    {
        words.pop();
    }
    words
        .iter()
        .map(|w| {
            let mut c = w.chars();
            match c.next() {
                Some(f) => f.to_uppercase().chain(c).collect(),
                None => String::new(),
            }
        })
        .collect::<Vec<String>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const DICT: &str = "again AH0 G EY1 N\nday D EY1\nfall F AO1 L\ngray G R EY1\nlight L AY1 T\nnight N AY1 T\npain P EY1 N\nrain R EY1 N\nsky S K AY1\nstay S T EY1\ntall T AO1 L\nwall W AO1 L\nwhy W AY1\n";

    /// Answers each brief from a script keyed by the section word it asks for, and records
    /// the requests it was sent.
    struct Scripted {
        answers: Vec<(&'static str, Vec<&'static str>)>,
        seen: Vec<llm::Request>,
        /// Candidates for calls after the first, when set.
        later: Option<Vec<&'static str>>,
    }

    impl Complete for Scripted {
        type Error = String;

        fn complete(&mut self, request: &llm::Request) -> Result<Vec<Candidate>, String> {
            self.seen.push(request.clone());
            let done = |s: &&str| Candidate {
                text: s.to_string(),
                finished: true,
            };
            if let (true, Some(later)) = (self.seen.len() > 1, &self.later) {
                return Ok(later.iter().map(done).collect());
            }
            let brief = request
                .messages
                .as_ref()
                .and_then(|m| m.last())
                .map(|m| m.content.clone())
                .unwrap_or_default();
            self.answers
                .iter()
                .find(|(key, _)| brief.contains(key))
                .map(|(_, c)| c.iter().map(done).collect())
                .ok_or_else(|| format!("no script for {brief:?}"))
        }
    }

    fn request(structure: &[&str]) -> LyricsRequest {
        LyricsRequest::from_json(&json!({
            "input_text": "rain at night",
            "genre": "pop",
            "structure": structure,
        }))
        .unwrap()
    }

    #[test]
    fn best_candidate_wins_and_the_chorus_repeats_word_for_word() {
        let dict = Dictionary::parse(DICT.to_string()).unwrap();
        let mut model = Scripted {
            answers: vec![
                (
                    "verse",
                    vec![
                        "Sure! Here are the lines:\nThe cars go by\nA dog is barking loud\nMy coffee is cold\nThe bus is very late",
                        "I hear the rain\nAgainst the window pane\nIt falls all through the night\nUntil the morning light",
                    ],
                ),
                (
                    "chorus",
                    vec!["Rain, rain, stay\nDon't go away\nWe dance in the night\nUnder the light"],
                ),
            ],
            seen: Vec::new(),
            later: None,
        };
        let song = write_song(
            &request(&["verse", "chorus", "verse", "chorus"]),
            7,
            &dict,
            &mut model,
        )
        .unwrap();
        assert_eq!(song.sections.len(), 4);
        assert_eq!(song.sections[0].lines[1], "Against the window pane");
        assert_eq!(song.sections[1].lines, song.sections[3].lines);
        assert!(song.text().starts_with("Verse 1:\nI hear the rain\n"));
        assert!(song.text().contains("\n\nChorus:\nRain, rain, stay\n"));
        assert_eq!(song.title, "Don't Go Away");
        let cut = vec![Section {
            name: "Chorus".into(),
            kind: SectionKind::Chorus,
            lines: vec!["Summer rain kisses the ground again and again tonight".into()],
        }];
        assert_eq!(title(&cut), "Summer Rain Kisses");
        let cut = vec![Section {
            name: "Chorus".into(),
            kind: SectionKind::Chorus,
            lines: vec!["On every ride that comes my way tonight and always".into()],
        }];
        assert_eq!(title(&cut), "On Every Ride");
        let cut = vec![Section {
            name: "Chorus".into(),
            kind: SectionKind::Chorus,
            lines: vec!["The sun sets behind the ocean blue I am home now with you".into()],
        }];
        assert_eq!(title(&cut), "The Sun Sets");
        let cut = vec![Section {
            name: "Chorus".into(),
            kind: SectionKind::Chorus,
            lines: vec!["The light was her last breath before she turned to you".into()],
        }];
        assert_eq!(title(&cut), "The Light");
        // A whole short line keeps its last word.
        let whole = vec![Section {
            name: "Chorus".into(),
            kind: SectionKind::Chorus,
            lines: vec![
                "I left it all behind".into(),
                "and the night goes on and on".into(),
            ],
        }];
        assert_eq!(title(&whole), "I Left It All Behind");
        // Verse 2 gets the same script: the copy of verse 1 is refused, the other one is used.
        assert_eq!(song.sections[2].lines[0], "The cars go by");
        // Seeds differ per section.
        let seeds: Vec<u64> = model.seen.iter().filter_map(|r| r.seed).collect();
        let mut unique = seeds.clone();
        unique.dedup();
        assert_eq!(seeds.len(), unique.len(), "{seeds:?}");
    }

    #[test]
    fn short_candidates_are_retried_then_pooled() {
        let dict = Dictionary::parse(DICT.to_string()).unwrap();
        let mut model = Scripted {
            answers: vec![("bridge", vec!["Why do you stay", "Here we fall"])],
            seen: Vec::new(),
            later: Some(vec!["Under the gray\nThe walls are tall"]),
        };
        let song = write_song(&request(&["bridge"]), 1, &dict, &mut model).unwrap();
        // Two lines after the first attempt are not a section; the second brings two more.
        assert_eq!(model.seen.len(), 2);
        assert_eq!(song.scores[0].source, "pooled");
        assert_eq!(song.sections[0].lines.len(), 4);
    }

    #[test]
    fn extra_attempts_stop_at_the_songs_budget() {
        let dict = Dictionary::parse(DICT.to_string()).unwrap();
        // Usable but rhymeless everywhere: never good enough, so only the budget stops it.
        let mut model = Scripted {
            answers: vec![
                (
                    "verse 2",
                    vec!["The bus is late\nMy shoes are wet\nThe town is gray\nI wait for you"],
                ),
                (
                    "verse",
                    vec!["The cars go by\nA dog is loud\nMy coffee is cold\nThe road is long"],
                ),
                (
                    "chorus",
                    vec!["We run tonight\nThe night is young\nWe hold the wheel\nThe sky is red"],
                ),
                (
                    "bridge",
                    vec!["A door is open\nThe wind is cold\nI hear a song\nThe lights go down"],
                ),
            ],
            seen: Vec::new(),
            later: None,
        };
        let song = write_song(
            &request(&["verse", "chorus", "verse", "chorus", "bridge"]),
            3,
            &dict,
            &mut model,
        )
        .unwrap();
        assert_eq!(song.model_calls, 4 + EXTRA_ATTEMPTS);
        assert_eq!(model.seen.len(), 4 + EXTRA_ATTEMPTS);
        assert_eq!(song.scores.len(), 4);
        assert_eq!(song.sections[1].lines, song.sections[3].lines);
        assert_eq!(song.sections[2].lines[0], "The bus is late");
        // Every call asked for the lines it needed, no more.
        assert!(model.seen.iter().all(|r| r.max_lines == Some(4)));
    }

    #[test]
    fn unfinished_lines_are_dropped() {
        assert!(trails_off("We laughed and cried under its"));
        assert!(trails_off("With those wisps of silk that seemed to"));
        assert!(!trails_off("Until the morning light"));
    }

    #[test]
    fn hopeless_output_and_model_errors_are_reported() {
        let dict = Dictionary::parse(DICT.to_string()).unwrap();
        let mut model = Scripted {
            answers: vec![("verse", vec!["Sure! Here are the lyrics:"])],
            seen: Vec::new(),
            later: None,
        };
        let err = write_song(&request(&["verse"]), 1, &dict, &mut model).unwrap_err();
        assert!(
            matches!(
                err,
                WriteError::TooFewLines {
                    needed: 4,
                    got: 0,
                    ..
                }
            ),
            "{err}"
        );
        let err = write_song(&request(&["outro"]), 1, &dict, &mut model).unwrap_err();
        assert!(matches!(err, WriteError::Model(ref m) if m.contains("no script")));
    }
}
