//! The `/api/generate-vocals/` request and its validation, every problem naming its field.

use serde::Deserialize;
use songforge_arranger::theory::Key;
pub use songforge_field_error::FieldError;
use songforge_genre::{Genre, GenreMatch};
use songforge_melody::ArrangementMap;
use songforge_song::MAX_LYRICS_CHARS;

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

fn invalid(field: &str, message: impl Into<String>) -> FieldError {
    FieldError::unacceptable(field, message)
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
            return Err(FieldError::malformed(
                "lyrics",
                "`lyrics` is required: the words to sing",
            ));
        }
        if lyrics.chars().count() > MAX_LYRICS_CHARS {
            return Err(invalid(
                "lyrics",
                format!("`lyrics` is longer than {MAX_LYRICS_CHARS} characters"),
            ));
        }
        let genre = Genre::from_text(self.genre.as_deref().unwrap_or("pop"));
        if self.arrangement.is_some() && self.instrumental_url.is_some() {
            return Err(FieldError::malformed(
                "arrangement",
                "give `arrangement` or `instrumental_url`, not both",
            ));
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
                return Err(FieldError::malformed("melody_audio", "a hummed melody sets its own timing; give `melody_audio` or an \
                              arrangement (`arrangement`, `instrumental_url`), not both"));
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

/// A `multipart/form-data` request's text fields as the JSON body: numbers read as such,
/// `arrangement` as JSON, the rest as strings. (A `melody_audio` file part is the recording
/// itself and is passed to [`VocalsRequest::validate`].)
pub fn from_form_fields<'a>(
    fields: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Result<VocalsRequest, FieldError> {
    let mut map = serde_json::Map::new();
    for (name, text) in fields {
        let value = match name {
            "seed" | "bpm" => serde_json::from_str(text.trim())
                .unwrap_or_else(|_| serde_json::Value::String(text.to_string())),
            "arrangement" => serde_json::from_str(text)
                .map_err(|e| FieldError::malformed("arrangement", format!("not JSON: {e}")))?,
            _ => serde_json::Value::String(text.to_string()),
        };
        map.insert(name.to_string(), value);
    }
    serde_json::from_value(serde_json::Value::Object(map)).map_err(|e| {
        let message = e.to_string();
        let field = message.split('`').nth(1).unwrap_or("form").to_string();
        FieldError::malformed(field, message)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(json: serde_json::Value) -> VocalsRequest {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn lyrics_are_required_and_bounded() {
        let e = request(serde_json::json!({})).validate(None).unwrap_err();
        assert_eq!((e.field.as_str(), e.status()), ("lyrics", 400));
        let long = "la ".repeat(MAX_LYRICS_CHARS);
        let e = request(serde_json::json!({"lyrics": long}))
            .validate(None)
            .unwrap_err();
        assert_eq!((e.field.as_str(), e.status()), ("lyrics", 422));
    }

    #[test]
    fn an_arrangement_pins_tempo_key_and_melody() {
        let pinned = |extra: serde_json::Value| {
            let mut body = serde_json::json!({"lyrics": "la la", "instrumental_url": "/media/instrumental_1.wav"});
            body.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            request(body).validate(None).unwrap_err()
        };
        assert_eq!(pinned(serde_json::json!({"bpm": 100})).field, "bpm");
        assert_eq!(pinned(serde_json::json!({"key": "A minor"})).field, "key");
        assert_eq!(
            pinned(serde_json::json!({"melody_audio": "/media/hum.wav"})).field,
            "melody_audio"
        );
        let v = request(
            serde_json::json!({"lyrics": "la la", "instrumental_url": "/media/instrumental_1.wav"}),
        )
        .validate(None)
        .unwrap();
        assert_eq!(v.instrumental_map.as_deref(), Some("instrumental_1.json"));
    }

    #[test]
    fn fields_are_checked_by_name() {
        let bad = |body: serde_json::Value| request(body).validate(None).unwrap_err().field;
        assert_eq!(bad(serde_json::json!({"lyrics": "la", "bpm": 300})), "bpm");
        assert_eq!(
            bad(serde_json::json!({"lyrics": "la", "engine": "opera"})),
            "engine"
        );
        assert_eq!(
            bad(serde_json::json!({"lyrics": "la", "instrumental_url": "x.wav"})),
            "instrumental_url"
        );
        assert_eq!(
            bad(serde_json::json!({"lyrics": "la", "melody_audio": "/media/a/b"})),
            "melody_audio"
        );
        let v = request(serde_json::json!({"lyrics": "la", "engine": "DiffSinger", "bpm": 99.6}))
            .validate(Some(vec![1, 2]))
            .unwrap();
        assert_eq!((v.engine, v.bpm), (Engine::DiffSinger, Some(100)));
        assert!(matches!(v.melody, Some(MelodySource::Uploaded(_))));
    }

    #[test]
    fn form_fields_read_numbers_and_name_unknown_fields() {
        let r = from_form_fields([("lyrics", "la la"), ("seed", "7"), ("bpm", "90")]).unwrap();
        let v = r.validate(None).unwrap();
        assert_eq!((v.seed, v.bpm), (Some(7), Some(90)));
        let e = from_form_fields([("lyrics", "la"), ("tempo", "90")]).unwrap_err();
        assert_eq!((e.field.as_str(), e.status()), ("tempo", 400));
        let e = from_form_fields([("arrangement", "{")]).unwrap_err();
        assert_eq!(e.field, "arrangement");
    }
}
