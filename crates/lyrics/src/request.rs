//! The `/api/generate-lyrics/` request, validated: every error names its field.

use crate::structure::{SectionKind, Structure};
use crate::style::style_for;
use serde_json::{Map, Value};
use songforge_genre::{Genre, GenreMatch};
use songforge_prosody::Dictionary;
use songforge_song::plan::{MAX_SONG_S, Tempo};

/// Longest theme accepted, characters.
pub const MAX_INPUT_CHARS: usize = 2000;
/// Most sections a song may have.
pub const MAX_SECTIONS: usize = 16;
/// Most lines a section may have.
pub const MAX_LINES: usize = 16;
/// Shortest song a duration may ask for, seconds.
pub const MIN_DURATION_S: f64 = 10.0;

pub use songforge_field_error::FieldError;

/// A malformed field (400). The lyrics writer's messages start with the field
/// (`input_text: must not be empty`), as its clients have always read them.
fn bad(field: impl Into<String>, message: impl Into<String>) -> FieldError {
    let field = field.into();
    let message = format!("{field}: {}", message.into());
    FieldError::malformed(field, message)
}

/// A well-formed but unusable field (422), worded as [`bad`].
fn unprocessable(field: impl Into<String>, message: impl Into<String>) -> FieldError {
    let field = field.into();
    let message = format!("{field}: {}", message.into());
    FieldError::unacceptable(field, message)
}

/// A validated lyrics request.
#[derive(Debug, Clone, PartialEq)]
pub struct LyricsRequest {
    /// The song's theme or description.
    pub theme: String,
    /// The genre as the client wrote it (echoed back, as the seed API does).
    pub genre: String,
    /// The built-in preset that genre maps to.
    pub preset: GenreMatch,
    /// Sections in order.
    pub structure: Structure,
    /// Whether the user chose the structure (a fit to `duration` then drops no section).
    pub structure_given: bool,
    /// Optional mood words.
    pub mood: Option<String>,
    /// Language to write in (English when absent).
    pub language: Option<String>,
    /// Lines per section cap.
    pub max_lines: Option<usize>,
    /// Seed; the same seed and request give the same lyrics on the same build.
    pub seed: Option<u64>,
    /// Sampling temperature.
    pub temperature: f32,
    /// The song's length the lyrics must fit, seconds: fewer lines and sections when short.
    pub duration: Option<f64>,
    /// The tempo the song will be played at (else the genre's, free to move 15 %).
    pub bpm: Option<u32>,
}

fn string_field(obj: &Map<String, Value>, name: &str) -> Result<Option<String>, FieldError> {
    match obj.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.trim().to_string()).filter(|s| !s.is_empty())),
        Some(_) => Err(bad(name, "must be a string")),
    }
}

impl LyricsRequest {
    /// Validates a parsed JSON body.
    pub fn from_json(body: &Value) -> Result<Self, FieldError> {
        let obj = body
            .as_object()
            .ok_or_else(|| bad("body", "must be a JSON object"))?;
        let theme = match obj.get("input_text") {
            None | Some(Value::Null) => {
                return Err(bad("input_text", "is required: the song's theme"));
            }
            Some(Value::String(s)) if s.trim().is_empty() => {
                return Err(bad("input_text", "must not be empty"));
            }
            Some(Value::String(s)) => s.trim().to_string(),
            Some(_) => return Err(bad("input_text", "must be a string")),
        };
        let chars = theme.chars().count();
        if chars > MAX_INPUT_CHARS {
            return Err(unprocessable(
                "input_text",
                format!("is {chars} characters; the limit is {MAX_INPUT_CHARS}"),
            ));
        }
        let genre = string_field(obj, "genre")?.unwrap_or_else(|| "pop".to_string());
        let preset = Genre::from_text(&genre);
        let structure = match obj.get("structure") {
            None | Some(Value::Null) => Structure::default_for(preset.preset),
            Some(Value::Array(items)) => {
                if items.is_empty() {
                    return Err(bad("structure", "must name at least one section"));
                }
                if items.len() > MAX_SECTIONS {
                    return Err(unprocessable(
                        "structure",
                        format!("has {} sections; the limit is {MAX_SECTIONS}", items.len()),
                    ));
                }
                let mut kinds = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    let field = format!("structure[{i}]");
                    let name = item
                        .as_str()
                        .ok_or_else(|| bad(&field, "must be a string"))?;
                    let kind = SectionKind::parse(name).ok_or_else(|| {
                        unprocessable(
                            &field,
                            format!(
                                "{name:?} is not a section kind (intro, verse, pre-chorus, chorus, bridge, hook, instrumental, outro)"
                            ),
                        )
                    })?;
                    kinds.push(kind);
                }
                Structure::new(kinds)
            }
            Some(_) => {
                return Err(bad(
                    "structure",
                    "must be an array of section names, e.g. [\"verse\", \"chorus\"]",
                ));
            }
        };
        let max_lines = match obj.get("max_lines") {
            None | Some(Value::Null) => None,
            Some(v) => match v.as_u64() {
                Some(n) if (1..=MAX_LINES as u64).contains(&n) => Some(n as usize),
                Some(_) => {
                    return Err(unprocessable(
                        "max_lines",
                        format!("must be between 1 and {MAX_LINES}"),
                    ));
                }
                None => return Err(bad("max_lines", "must be a whole number")),
            },
        };
        let seed = match obj.get("seed") {
            None | Some(Value::Null) => None,
            Some(v) => Some(
                v.as_u64()
                    .ok_or_else(|| bad("seed", "must be a whole number from 0 to 2^64-1"))?,
            ),
        };
        let temperature = match obj.get("temperature") {
            None | Some(Value::Null) => 0.8,
            Some(v) => match v.as_f64() {
                Some(t) if (0.0..=2.0).contains(&t) => t as f32,
                Some(_) => {
                    return Err(unprocessable("temperature", "must be between 0 and 2"));
                }
                None => return Err(bad("temperature", "must be a number")),
            },
        };
        let mood = string_field(obj, "mood")?;
        if mood.as_ref().is_some_and(|m| m.chars().count() > 200) {
            return Err(unprocessable("mood", "is longer than 200 characters"));
        }
        let duration = match obj.get("duration") {
            None | Some(Value::Null) => None,
            Some(v) => match v.as_f64() {
                Some(d) if (MIN_DURATION_S..=MAX_SONG_S).contains(&d) => Some(d),
                Some(d) => {
                    return Err(unprocessable(
                        "duration",
                        format!(
                            "must be between {MIN_DURATION_S} and {MAX_SONG_S} seconds, not {d}"
                        ),
                    ));
                }
                None => return Err(bad("duration", "must be a number of seconds")),
            },
        };
        let bpm = match obj.get("bpm") {
            None | Some(Value::Null) => None,
            Some(v) => match v.as_u64() {
                Some(b @ 40..=240) => Some(b as u32),
                Some(_) => {
                    return Err(unprocessable("bpm", "must be between 40 and 240"));
                }
                None => return Err(bad("bpm", "must be a whole number")),
            },
        };
        let language = string_field(obj, "language")?;
        if language.as_ref().is_some_and(|m| m.chars().count() > 40) {
            return Err(unprocessable("language", "is longer than 40 characters"));
        }
        Ok(Self {
            theme,
            genre,
            preset,
            structure_given: obj.get("structure").is_some_and(|v| !v.is_null()),
            structure,
            mood,
            language,
            max_lines,
            seed,
            temperature,
            duration,
            bpm,
        })
    }

    /// The longest line the writer keeps, syllables (longer ones are split or dropped).
    pub fn max_line_syllables(&self) -> usize {
        let hi = style_for(self.preset.preset).syllables.1;
        hi + hi / 2
    }

    /// Shapes the form to `duration`: three lines a section at most, then, for the genre's own
    /// form, no bridge, then two lines a section, then fewer sections, until the longest lines
    /// the writer keeps are sung unhurried in that time (every line at its preferred bars,
    /// every chorus repeated). Sections go before lines below three: a short song of whole
    /// verses and choruses is what people write, and every section dropped is one model call
    /// fewer. Past that the arranger may squeeze lines to their fewest bars, and one line a
    /// section is the last resort. A structure the user chose loses no section: if it cannot
    /// fit, the request is refused on `duration` with the shortest length that fits.
    pub fn fit_duration(&mut self, dict: &Dictionary) -> Result<(), FieldError> {
        let Some(duration) = self.duration else {
            return Ok(());
        };
        let tempo = self
            .bpm
            .map_or(Tempo::around(self.preset.preset.tempo()), Tempo::fixed);
        let syllables = self.max_line_syllables();
        loop {
            let unhurried =
                self.structure
                    .unhurried_s(|k| self.lines_for(k), syllables, dict, tempo);
            if unhurried <= duration {
                return Ok(());
            }
            let most = self
                .structure
                .sections()
                .iter()
                .filter(|s| s.sung)
                .map(|s| self.lines_for(s.kind))
                .max()
                .unwrap_or(1);
            let own_form = !self.structure_given;
            if most > 3 {
                self.max_lines = Some(3);
                continue;
            }
            if let Some(shorter) = self.structure.without_bridge().filter(|_| own_form) {
                self.structure = shorter;
                continue;
            }
            if most > 2 {
                self.max_lines = Some(2);
                continue;
            }
            if let Some(shorter) = self.structure.without_last_optional().filter(|_| own_form) {
                self.structure = shorter;
                continue;
            }
            let shortest = self
                .structure
                .shortest_s(|k| self.lines_for(k), syllables, dict, tempo);
            if shortest <= duration {
                return Ok(());
            }
            if most > 1 {
                self.max_lines = Some(1);
                continue;
            }
            return Err(unprocessable(
                "duration",
                format!(
                    "{duration} s is too short for this form: it needs at least {} s",
                    shortest.ceil()
                ),
            ));
        }
    }

    /// Whether the lyrics are in English (rhymes are scored with the English dictionary).
    pub fn is_english(&self) -> bool {
        self.language.as_deref().is_none_or(|l| {
            let l = l.to_ascii_lowercase();
            l == "en" || l.starts_with("en-") || l.starts_with("english")
        })
    }

    /// Lines to write for a section of this kind.
    pub fn lines_for(&self, kind: SectionKind) -> usize {
        let n = kind.default_lines();
        self.max_lines.map_or(n, |m| m.min(n).max(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn seed_request_gets_defaults() {
        let r = LyricsRequest::from_json(&json!({"input_text": "summer rain", "genre": "pop"}))
            .unwrap();
        assert_eq!(r.theme, "summer rain");
        assert_eq!(r.preset.preset, Genre::Pop);
        assert!(r.structure.sections().len() >= 4);
        assert!(r.is_english());
    }

    #[test]
    fn errors_name_fields_and_status_class() {
        let e = LyricsRequest::from_json(&json!({"genre": "pop"})).unwrap_err();
        assert_eq!(
            (e.field.as_str(), e.is_unacceptable()),
            ("input_text", false)
        );
        let e = LyricsRequest::from_json(&json!({"input_text": "  "})).unwrap_err();
        assert_eq!(e.field, "input_text");
        let long = "a".repeat(2001);
        let e = LyricsRequest::from_json(&json!({ "input_text": long })).unwrap_err();
        assert_eq!(
            (e.field.as_str(), e.is_unacceptable()),
            ("input_text", true)
        );
        let e =
            LyricsRequest::from_json(&json!({"input_text": "x", "structure": ["verse", "kazoo"]}))
                .unwrap_err();
        assert_eq!(e.field, "structure[1]");
        let e = LyricsRequest::from_json(&json!({"input_text": "x", "max_lines": 0})).unwrap_err();
        assert_eq!(e.field, "max_lines");
        let e = LyricsRequest::from_json(&json!({"input_text": "x", "seed": -1})).unwrap_err();
        assert_eq!(e.field, "seed");
        let e =
            LyricsRequest::from_json(&json!({"input_text": "x", "temperature": 3})).unwrap_err();
        assert_eq!(e.field, "temperature");
        let e = LyricsRequest::from_json(&json!({"input_text": 5})).unwrap_err();
        assert_eq!(e.field, "input_text");
    }

    #[test]
    fn a_short_duration_shortens_the_genre_form_and_refuses_a_chosen_one() {
        let dict = Dictionary::parse(String::new()).unwrap();
        let mut r = LyricsRequest::from_json(&json!({"input_text": "x", "duration": 30})).unwrap();
        let before = r.structure.sections().len();
        r.fit_duration(&dict).unwrap();
        assert!(r.structure.sections().len() < before || r.max_lines.is_some());
        let tempo = Tempo::around(r.preset.preset.tempo());
        let shortest =
            r.structure
                .shortest_s(|k| r.lines_for(k), r.max_line_syllables(), &dict, tempo);
        assert!(shortest <= 30.0, "{shortest}");
        let mut r = LyricsRequest::from_json(&json!({
            "input_text": "x", "duration": 10,
            "structure": ["verse", "chorus", "verse", "chorus", "bridge", "chorus"]
        }))
        .unwrap();
        let e = r.fit_duration(&dict).unwrap_err();
        assert_eq!((e.field.as_str(), e.is_unacceptable()), ("duration", true));
        assert!(e.message.contains("at least"), "{}", e.message);
        let e = LyricsRequest::from_json(&json!({"input_text": "x", "duration": 5})).unwrap_err();
        assert_eq!(e.field, "duration");
    }

    #[test]
    fn a_minute_long_song_loses_its_bridge_first_and_ends_on_its_refrain() {
        let dict = Dictionary::parse(String::new()).unwrap();
        for genre in ["pop", "rock", "country"] {
            let mut r = LyricsRequest::from_json(
                &json!({"input_text": "x", "genre": genre, "duration": 60}),
            )
            .unwrap();
            r.fit_duration(&dict).unwrap();
            let kinds = r.structure.kinds();
            assert!(!kinds.contains(&SectionKind::Bridge), "{genre}: {kinds:?}");
            assert_eq!(
                kinds.iter().filter(|k| **k == SectionKind::Verse).count(),
                2,
                "{genre}: {kinds:?}"
            );
            // At their natural length the bridge stays.
            let mut r =
                LyricsRequest::from_json(&json!({"input_text": "x", "genre": genre})).unwrap();
            r.fit_duration(&dict).unwrap();
            assert!(
                r.structure.kinds().contains(&SectionKind::Bridge),
                "{genre}"
            );
        }
        // Whatever is taken out, the last verse is still followed by a refrain.
        for genre in Genre::ALL {
            for duration in [30, 45, 60, 90, 120, 180, 300] {
                let mut r = LyricsRequest::from_json(
                    &json!({"input_text": "x", "genre": genre.name(), "duration": duration}),
                )
                .unwrap();
                r.fit_duration(&dict).unwrap();
                let kinds = r.structure.kinds();
                let last_verse = kinds.iter().rposition(|k| *k == SectionKind::Verse);
                let last_refrain = kinds.iter().rposition(|k| k.is_refrain());
                assert!(last_refrain > last_verse, "{genre:?} {duration}: {kinds:?}");
            }
        }
    }

    #[test]
    fn lines_are_written_for_an_unhurried_pace_not_the_tightest_squeeze() {
        // Pop at 60 s: three-line sections could be squeezed in at a line a bar; two lines at
        // two bars each is what the writer writes.
        let dict = Dictionary::parse(String::new()).unwrap();
        let mut r =
            LyricsRequest::from_json(&json!({"input_text": "x", "genre": "pop", "duration": 60}))
                .unwrap();
        r.fit_duration(&dict).unwrap();
        let tempo = Tempo::around(r.preset.preset.tempo());
        let syllables = r.max_line_syllables();
        let unhurried = r
            .structure
            .unhurried_s(|k| r.lines_for(k), syllables, &dict, tempo);
        assert!(unhurried <= 60.0, "{unhurried}");
        let shortest = r
            .structure
            .shortest_s(|k| r.lines_for(k), syllables, &dict, tempo);
        assert!(shortest < unhurried, "{shortest} {unhurried}");
    }

    #[test]
    fn max_lines_caps_sections() {
        let r = LyricsRequest::from_json(&json!({"input_text": "x", "max_lines": 2})).unwrap();
        assert_eq!(r.lines_for(SectionKind::Verse), 2);
        assert_eq!(r.lines_for(SectionKind::Chorus), 2);
    }
}
