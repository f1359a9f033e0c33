//! The `/api/generate-vocals/` request and its validation, every problem naming its field.

use serde::Deserialize;
use songforge_arranger::theory::Key;
use songforge_genre::{Genre, GenreMatch};
use songforge_melody::ArrangementMap;

/// Longest lyrics accepted, in characters (as the instrumental endpoint).
const MAX_LYRICS_CHARS: usize = 20_000;

/// The JSON body: the seed's `lyrics` and `genre`, and the extended fields.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VocalsRequest {
    lyrics: Option<String>,
    genre: Option<String>,
    /// Accepted for symmetry with the instrumental request; the arrangement carries the mood.
    #[allow(dead_code)]
    mood: Option<String>,
    arrangement: Option<serde_json::Value>,
    instrumental_url: Option<String>,
    voice: Option<String>,
    engine: Option<String>,
    seed: Option<u64>,
    key: Option<String>,
    bpm: Option<f64>,
    melody_audio: Option<String>,
}

/// Which singer renders the score.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// DiffSinger when the host serves a voicebank, else the Piper singer.
    Auto,
    /// Piper speech made to sing.
    PiperSinger,
    /// A DiffSinger voicebank (host graph `singer`).
    DiffSinger,
}

/// A field that failed validation.
#[derive(Debug)]
pub struct FieldError {
    /// 422 when well formed but unusable, else 400.
    pub unprocessable: bool,
    /// The field.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

fn invalid(field: &str, message: impl Into<String>) -> FieldError {
    FieldError {
        unprocessable: true,
        field: field.into(),
        message: message.into(),
    }
}

/// Where a hummed melody comes from.
#[derive(Debug)]
pub enum MelodySource {
    /// A stored file, by media name.
    Stored(String),
    /// The bytes of a multipart file part.
    Uploaded(Vec<u8>),
}

/// A checked request.
#[derive(Debug)]
pub struct Validated {
    pub lyrics: String,
    pub genre: GenreMatch,
    pub arrangement: Option<ArrangementMap>,
    /// The `.json` map stored beside `instrumental_url`.
    pub instrumental_map: Option<String>,
    pub voice: Option<String>,
    /// A hummed or sung melody to fit the lyrics to.
    pub melody: Option<MelodySource>,
    pub engine: Engine,
    pub seed: Option<u64>,
    pub key: Option<Key>,
    pub bpm: Option<u32>,
}

impl VocalsRequest {
    /// Checks every field; `upload` is a `melody_audio` file sent in a multipart form.
    pub fn validate(self, upload: Option<Vec<u8>>) -> Result<Validated, FieldError> {
        let lyrics = self.lyrics.unwrap_or_default();
        if lyrics.trim().is_empty() {
            return Err(FieldError {
                unprocessable: false,
                field: "lyrics".into(),
                message: "`lyrics` is required: the words to sing".into(),
            });
        }
        if lyrics.chars().count() > MAX_LYRICS_CHARS {
            return Err(invalid(
                "lyrics",
                format!("`lyrics` is longer than {MAX_LYRICS_CHARS} characters"),
            ));
        }
        let genre = Genre::from_text(self.genre.as_deref().unwrap_or("pop"));
        if self.arrangement.is_some() && self.instrumental_url.is_some() {
            return Err(FieldError {
                unprocessable: false,
                field: "arrangement".into(),
                message: "give `arrangement` or `instrumental_url`, not both".into(),
            });
        }
        let arrangement = match self.arrangement {
            Some(value) => Some(
                serde_json::from_value::<ArrangementMap>(value)
                    .map_err(|e| invalid("arrangement", format!("not an arrangement map: {e}")))?,
            ),
            None => None,
        };
        let instrumental_map = match self.instrumental_url.as_deref() {
            None => None,
            Some(url) => {
                let name = url.strip_prefix("/media/").ok_or_else(|| {
                    invalid(
                        "instrumental_url",
                        format!("{url:?} is not a /media/... URL"),
                    )
                })?;
                let stem = name
                    .rsplit_once('.')
                    .map_or(name, |(stem, _)| stem)
                    .to_string();
                if stem.is_empty() || stem.contains('/') {
                    return Err(invalid(
                        "instrumental_url",
                        format!("{url:?} names no file"),
                    ));
                }
                Some(format!("{stem}.json"))
            }
        };
        let wants_melody = upload.is_some() || self.melody_audio.is_some();
        let melody = match (upload, self.melody_audio.as_deref()) {
            _ if wants_melody && (arrangement.is_some() || instrumental_map.is_some()) => {
                return Err(FieldError {
                    unprocessable: false,
                    field: "melody_audio".into(),
                    message: "a hummed melody sets its own timing; give `melody_audio` or an \
                              arrangement (`arrangement`, `instrumental_url`), not both"
                        .into(),
                });
            }
            (Some(bytes), _) => Some(MelodySource::Uploaded(bytes)),
            (None, None) => None,
            (None, Some(url)) => Some(MelodySource::Stored(
                url.strip_prefix("/media/")
                    .filter(|n| !n.is_empty() && !n.contains('/'))
                    .ok_or_else(|| {
                        invalid(
                            "melody_audio",
                            format!("{url:?} is not a /media/... URL (upload with POST /media/, or send the form as multipart)"),
                        )
                    })?
                    .to_string(),
            )),
        };
        let pinned = arrangement.is_some() || instrumental_map.is_some();
        let bpm = match self.bpm {
            None => None,
            Some(_) if pinned => {
                return Err(invalid(
                    "bpm",
                    "the arrangement sets the tempo; leave `bpm` out",
                ));
            }
            Some(b) if b.is_finite() && (40.0..=240.0).contains(&b) => Some(b.round() as u32),
            Some(b) => {
                return Err(invalid(
                    "bpm",
                    format!("`bpm` must be between 40 and 240, not {b}"),
                ));
            }
        };
        let key = match self.key.as_deref().map(str::trim).filter(|k| !k.is_empty()) {
            None => None,
            Some(_) if pinned => {
                return Err(invalid(
                    "key",
                    "the arrangement sets the key; leave `key` out",
                ));
            }
            Some(k) => Some(Key::parse(k).map_err(|e| invalid("key", e.to_string()))?),
        };
        let engine = match self
            .engine
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None | Some("auto") => Engine::Auto,
            Some("piper-singer") => Engine::PiperSinger,
            Some("diffsinger") => Engine::DiffSinger,
            Some(other) => {
                return Err(invalid(
                    "engine",
                    format!("unknown engine `{other}`; use `auto`, `piper-singer` or `diffsinger`"),
                ));
            }
        };
        let voice = self
            .voice
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty());
        Ok(Validated {
            lyrics,
            genre,
            arrangement,
            instrumental_map,
            voice,
            melody,
            engine,
            seed: self.seed,
            key,
            bpm,
        })
    }
}

/// A `multipart/form-data` request: text parts become the JSON fields (numbers and booleans
/// read as such), a `melody_audio` file part is the recording itself.
pub fn from_form(
    parts: &[songforge_guest::request::FormPart],
) -> Result<(VocalsRequest, Option<Vec<u8>>), FieldError> {
    let mut map = serde_json::Map::new();
    let mut melody = None;
    for part in parts {
        if part.name == "melody_audio" && part.filename.is_some() {
            melody = Some(part.data.to_vec());
            continue;
        }
        let text = part.text().map_err(|e| FieldError {
            unprocessable: false,
            field: part.name.clone(),
            message: e.to_string(),
        })?;
        let value = match part.name.as_str() {
            "seed" | "bpm" => serde_json::from_str(text.trim())
                .unwrap_or_else(|_| serde_json::Value::String(text.to_string())),
            "arrangement" => serde_json::from_str(text).map_err(|e| FieldError {
                unprocessable: false,
                field: "arrangement".into(),
                message: format!("not JSON: {e}"),
            })?,
            _ => serde_json::Value::String(text.to_string()),
        };
        map.insert(part.name.clone(), value);
    }
    let request = serde_json::from_value(serde_json::Value::Object(map)).map_err(|e| {
        let message = e.to_string();
        let field = message.split('`').nth(1).unwrap_or("form").to_string();
        FieldError {
            unprocessable: false,
            field,
            message,
        }
    })?;
    Ok((request, melody))
}
