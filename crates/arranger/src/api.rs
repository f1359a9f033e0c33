//! The `/api/generate-instrumental/` request: its JSON shape (the seed's `lyrics` and `genre`
//! plus the extended fields) and validation, every problem naming its field.

use crate::compose::Plan;
use crate::theory::{Key, Mode};
use serde::Deserialize;
use songforge_genre::{Genre, GenreMatch};

pub use songforge_song::MAX_LYRICS_CHARS;
/// Shortest and longest song, seconds.
pub const DURATION_RANGE: (f64, f64) = (5.0, crate::compose::MAX_SONG_S);
/// Slowest and fastest tempo, BPM.
pub const BPM_RANGE: (f64, f64) = (40.0, 240.0);

pub use songforge_field_error::FieldError;

fn invalid(field: &str, message: impl Into<String>) -> FieldError {
    FieldError::unacceptable(field, message)
}

/// The request body as sent.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstrumentalRequest {
    /// Seed field: the song's lyrics (sections as the lyrics endpoint writes them, or plain text).
    pub lyrics: Option<String>,
    /// Seed field: free-text genre.
    pub genre: Option<String>,
    /// Mood words (`sad`, `uplifting`…): pick the mode when no key is given.
    pub mood: Option<String>,
    /// Tempo, BPM.
    pub bpm: Option<f64>,
    /// Key, e.g. `A minor`, `F#`, `Bbm`.
    pub key: Option<String>,
    /// Target length, seconds.
    pub duration: Option<f64>,
    /// Seed for every random choice.
    pub seed: Option<u64>,
    /// `auto`, `arranger` or `musicgen`.
    pub engine: Option<String>,
    /// `wav` (default) or `flac`.
    pub format: Option<String>,
    /// Store the stems too (default true).
    pub stems: Option<bool>,
    /// A stored recording (`/media/...`) whose melody MusicGen Melody follows.
    pub melody_url: Option<String>,
}

/// Which engine makes the audio.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EngineChoice {
    /// MusicGen when its graph is installed, else the arranger.
    Auto,
    /// The built-in arranger.
    Arranger,
    /// MusicGen (host graph).
    MusicGen,
}

/// Output container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    /// 16-bit PCM WAV.
    Wav,
    /// 16-bit FLAC.
    Flac,
}

impl OutputFormat {
    /// File extension.
    pub fn extension(self) -> &'static str {
        match self {
            OutputFormat::Wav => "wav",
            OutputFormat::Flac => "flac",
        }
    }

    /// MIME type.
    pub fn content_type(self) -> &'static str {
        match self {
            OutputFormat::Wav => "audio/wav",
            OutputFormat::Flac => "audio/flac",
        }
    }
}

/// A validated request.
#[derive(Debug, Clone, PartialEq)]
pub struct Validated {
    /// Lyrics text.
    pub lyrics: String,
    /// Genre as sent.
    pub genre_input: String,
    /// Preset it maps to.
    pub genre: GenreMatch,
    /// Tempo override.
    pub bpm: Option<u32>,
    /// Key override (or the mood's mode on the preset's tonic).
    pub key: Option<Key>,
    /// Target length.
    pub duration_s: Option<f64>,
    /// Seed, when given.
    pub seed: Option<u64>,
    /// Engine.
    pub engine: EngineChoice,
    /// Container.
    pub format: OutputFormat,
    /// The mood as sent (trimmed; empty when none).
    pub mood: String,
    /// Store stems.
    pub stems: bool,
    /// The request asked for stems in so many words (MusicGen, which has none, then steps
    /// aside or refuses).
    pub stems_asked: bool,
    /// The stored media name of a melody to follow (MusicGen Melody only).
    pub melody: Option<String>,
}

impl Validated {
    /// The arranger's plan with `seed`.
    pub fn plan(&self, seed: u64) -> Plan {
        Plan {
            genre: self.genre.preset,
            bpm: self.bpm,
            key: self.key,
            duration_s: self.duration_s,
            seed,
        }
    }
}

/// The mode a mood asks for, if its words say.
fn mood_mode(mood: &str) -> Option<Mode> {
    let m = mood.to_lowercase();
    let has = |words: &[&str]| words.iter().any(|w| m.contains(w));
    if has(&[
        "sad", "dark", "melanch", "moody", "somber", "sombre", "angry", "haunt", "lonely", "grief",
        "tense",
    ]) {
        Some(Mode::Minor)
    } else if has(&[
        "happy", "bright", "uplift", "joy", "cheer", "hopeful", "sunny", "romantic", "triumph",
    ]) {
        Some(Mode::Major)
    } else {
        None
    }
}

impl InstrumentalRequest {
    /// Checks every field.
    pub fn validate(self) -> Result<Validated, FieldError> {
        let lyrics = self.lyrics.unwrap_or_default();
        if lyrics.trim().is_empty() {
            return Err(FieldError::malformed(
                "lyrics",
                "`lyrics` is required: the song's lyrics, or a line describing it",
            ));
        }
        if lyrics.chars().count() > MAX_LYRICS_CHARS {
            return Err(invalid(
                "lyrics",
                format!("`lyrics` is longer than {MAX_LYRICS_CHARS} characters"),
            ));
        }
        let genre_input = self.genre.unwrap_or_else(|| "pop".to_string());
        let genre = Genre::from_text(&genre_input);
        let bpm = match self.bpm {
            None => None,
            Some(b) if b.is_finite() && (BPM_RANGE.0..=BPM_RANGE.1).contains(&b) => {
                Some(b.round() as u32)
            }
            Some(b) => {
                return Err(invalid(
                    "bpm",
                    format!(
                        "`bpm` must be between {} and {}, not {b}",
                        BPM_RANGE.0, BPM_RANGE.1
                    ),
                ));
            }
        };
        let key = match self.key.as_deref().map(str::trim).filter(|k| !k.is_empty()) {
            Some(k) => Some(Key::parse(k).map_err(|e| invalid("key", e.to_string()))?),
            None => self.mood.as_deref().and_then(mood_mode).and_then(|mode| {
                let preset = crate::style::Style::for_genre(genre.preset).key;
                (preset.mode != mode).then(|| match mode {
                    // The relative key: same notes, the other mode's home.
                    Mode::Minor => Key::new(preset.tonic + 9, Mode::Minor),
                    Mode::Major => Key::new(preset.tonic + 3, Mode::Major),
                })
            }),
        };
        let duration_s = match self.duration {
            None => None,
            Some(d) if d.is_finite() && (DURATION_RANGE.0..=DURATION_RANGE.1).contains(&d) => {
                Some(d)
            }
            Some(d) => {
                return Err(invalid(
                    "duration",
                    format!(
                        "`duration` must be between {} and {} seconds, not {d}",
                        DURATION_RANGE.0, DURATION_RANGE.1
                    ),
                ));
            }
        };
        let engine = match self
            .engine
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None | Some("auto") => EngineChoice::Auto,
            Some("arranger") => EngineChoice::Arranger,
            Some("musicgen") => EngineChoice::MusicGen,
            Some(other) => {
                return Err(invalid(
                    "engine",
                    format!("unknown engine `{other}`; use `auto`, `arranger` or `musicgen`"),
                ));
            }
        };
        let format = match self
            .format
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None | Some("wav") => OutputFormat::Wav,
            Some("flac") => OutputFormat::Flac,
            Some(other) => {
                return Err(invalid(
                    "format",
                    format!("unknown format `{other}`; use `wav` or `flac`"),
                ));
            }
        };
        let melody = match self.melody_url.as_deref() {
            None => None,
            Some(url) => {
                let name = url
                    .strip_prefix("/media/")
                    .filter(|n| !n.is_empty() && !n.contains('/'))
                    .ok_or_else(|| {
                        invalid(
                            "melody_url",
                            format!("{url:?} is not a /media/... URL (upload with POST /media/)"),
                        )
                    })?;
                if engine == EngineChoice::Arranger {
                    return Err(invalid(
                        "melody_url",
                        "the arranger writes its own melody; a recorded melody is followed by \
                         MusicGen Melody (`\"engine\": \"musicgen\"` or `auto`)",
                    ));
                }
                Some(name.to_string())
            }
        };
        Ok(Validated {
            lyrics,
            genre_input,
            genre,
            bpm,
            key,
            duration_s,
            seed: self.seed,
            engine,
            format,
            mood: self.mood.as_deref().unwrap_or("").trim().to_string(),
            stems: self.stems.unwrap_or(true),
            stems_asked: self.stems == Some(true),
            melody,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(json: &str) -> Result<Validated, FieldError> {
        serde_json::from_str::<InstrumentalRequest>(json)
            .unwrap()
            .validate()
    }

    #[test]
    fn the_seed_request_validates_with_defaults() {
        let v = req(r#"{"lyrics": "Song lyrics", "genre": "pop"}"#).unwrap();
        assert_eq!(v.genre.preset, Genre::Pop);
        assert_eq!((v.bpm, v.key, v.duration_s), (None, None, None));
        assert_eq!(v.engine, EngineChoice::Auto);
        assert!(v.stems);
    }

    #[test]
    fn every_bad_field_is_named() {
        let field = |j: &str| req(j).unwrap_err();
        assert_eq!(field(r#"{"genre": "pop"}"#).field, "lyrics");
        assert_eq!(field(r#"{"lyrics": "  "}"#).status(), 400);
        let e = field(r#"{"lyrics": "x", "bpm": 300}"#);
        assert_eq!((e.field.as_str(), e.status()), ("bpm", 422));
        assert_eq!(field(r#"{"lyrics": "x", "bpm": 39.4}"#).field, "bpm");
        assert_eq!(field(r#"{"lyrics": "x", "duration": 4}"#).field, "duration");
        assert_eq!(
            field(r#"{"lyrics": "x", "duration": 601}"#).field,
            "duration"
        );
        assert_eq!(field(r#"{"lyrics": "x", "key": "H minor"}"#).field, "key");
        assert_eq!(
            field(r#"{"lyrics": "x", "engine": "magic"}"#).field,
            "engine"
        );
        assert_eq!(field(r#"{"lyrics": "x", "format": "mp3"}"#).field, "format");
        assert_eq!(
            field(r#"{"lyrics": "x", "melody_url": "tune.wav"}"#).field,
            "melody_url"
        );
        let e = field(r#"{"lyrics": "x", "engine": "arranger", "melody_url": "/media/a.wav"}"#);
        assert_eq!((e.field.as_str(), e.status()), ("melody_url", 422));
        let v = req(r#"{"lyrics": "x", "melody_url": "/media/a.wav"}"#).unwrap();
        assert_eq!(v.melody.as_deref(), Some("a.wav"));
        let long = format!(r#"{{"lyrics": "{}"}}"#, "a".repeat(MAX_LYRICS_CHARS + 1));
        assert_eq!(field(&long).status(), 422);
    }

    #[test]
    fn a_mood_picks_the_mode_when_no_key_is_given() {
        let v = req(r#"{"lyrics": "x", "genre": "pop", "mood": "sad and lonely"}"#).unwrap();
        // Pop's preset is G major; sad → its relative minor.
        assert_eq!(v.key, Some(Key::new(4, Mode::Minor)));
        let v = req(r#"{"lyrics": "x", "genre": "pop", "mood": "sad", "key": "C"}"#).unwrap();
        assert_eq!(v.key, Some(Key::new(0, Mode::Major)));
    }
}
