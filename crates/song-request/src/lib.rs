//! The `POST /api/songs/` request, validated before any work: every refusal names its field,
//! and lyrics that cannot fit the asked duration are refused before a minute is spent on them.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
pub use songforge_field_error::FieldError;
use songforge_genre::Genre;
use songforge_prosody::Dictionary;
use songforge_song::plan::{MAX_SONG_S, Tempo, plan_song};
use songforge_song::{MAX_LYRICS_CHARS, read_form};

/// Shortest song a request may ask for, seconds.
pub const MIN_DURATION_S: f64 = 10.0;
/// Longest theme, characters.
const MAX_THEME_CHARS: usize = 2000;

/// What the song starts from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// A theme for the lyrics writer.
    InputText(String),
    /// The user's own lyrics.
    Lyrics(String),
    /// A stored recording of a spoken idea (`/media/...`), transcribed first.
    Audio(String),
}

/// A validated song request; what the job record keeps and the cache key is made of.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SongRequest {
    /// Where the song starts.
    pub source: Source,
    /// A stored hum (`/media/...`) the vocal follows.
    pub melody_audio: Option<String>,
    /// Genre as written.
    pub genre: String,
    /// Mood words.
    pub mood: Option<String>,
    /// Length, seconds.
    pub duration: Option<f64>,
    /// Tempo.
    pub bpm: Option<u32>,
    /// Key (`A minor`).
    pub key: Option<String>,
    /// Seed for every stage; drawn when absent.
    pub seed: u64,
    /// Whether the client gave the seed (only then can a result be reused).
    pub seed_given: bool,
    /// Engine per stage (`lyrics`, `instrumental`, `vocals`).
    pub engines: Map<String, Value>,
    /// Stems of the instrumental and the mix.
    pub stems: bool,
    /// `wav` or `flac`, for the mix.
    pub format: String,
    /// Where to POST the finished job.
    pub webhook_url: Option<String>,
    /// Reuse a stored song or stage for the same request.
    pub cache: bool,
}

/// Fields as a client sends them (JSON, or the text parts of a multipart form).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fields {
    input_text: Option<String>,
    lyrics: Option<String>,
    /// A stored recording's URL; `audio` is the name `/api/transcribe/` clients know.
    #[serde(alias = "audio")]
    audio_url: Option<String>,
    /// A stored hum's URL; `melody_audio` is the name `/api/generate-vocals/` takes.
    #[serde(alias = "melody_audio")]
    melody_url: Option<String>,
    genre: Option<String>,
    mood: Option<String>,
    duration: Option<f64>,
    bpm: Option<u32>,
    key: Option<String>,
    seed: Option<u64>,
    engines: Option<Map<String, Value>>,
    stems: Option<bool>,
    format: Option<String>,
    webhook_url: Option<String>,
    cache: Option<bool>,
}

fn bad(field: &str, message: impl Into<String>) -> FieldError {
    FieldError::malformed(field, message)
}

fn invalid(field: &str, message: impl Into<String>) -> FieldError {
    FieldError::unacceptable(field, message)
}

/// Why a request was refused.
#[derive(Debug)]
pub enum Refusal<E> {
    /// A field cannot be used.
    Field(FieldError),
    /// The dictionary that counts the lyrics' syllables could not be read (not the client's
    /// fault).
    Dictionary(E),
}

impl<E> From<FieldError> for Refusal<E> {
    fn from(e: FieldError) -> Self {
        Self::Field(e)
    }
}

/// The text fields of a multipart form (`audio` and `melody_audio` are files and are not
/// among them), as JSON would give them.
pub fn fields_from_form<'a>(
    parts: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Result<Fields, FieldError> {
    let mut obj = Map::new();
    for (name, text) in parts {
        let text = text.trim().to_string();
        let value = match name {
            "duration" | "bpm" | "seed" => serde_json::from_str(&text)
                .map_err(|_| bad(name, format!("`{text}` is not a number")))?,
            "stems" | "cache" => Value::Bool(matches!(text.as_str(), "true" | "1" | "yes")),
            "engines" => serde_json::from_str(&text)
                .map_err(|e| bad("engines", format!("must be a JSON object: {e}")))?,
            _ => Value::String(text),
        };
        obj.insert(name.to_string(), value);
    }
    serde_json::from_value(Value::Object(obj)).map_err(|e| bad("body", e.to_string()))
}

impl Fields {
    /// Sets where an uploaded recording was stored.
    pub fn set_upload(&mut self, field: &str, url: String) {
        match field {
            "audio" => self.audio_url = Some(url),
            _ => self.melody_url = Some(url),
        }
    }

    /// Checks every field. `dict` gives the dictionary that counts syllables for the early
    /// fit check of the user's lyrics (called only for them); `webhook_hosts` are the
    /// `scheme://host[:port]` patterns webhooks may go to.
    pub fn validate<E>(
        self,
        seed: u64,
        dict: impl FnOnce() -> Result<Dictionary, E>,
        webhook_hosts: &[String],
    ) -> Result<SongRequest, Refusal<E>> {
        let text = |v: Option<String>| v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
        let given = [
            ("input_text", text(self.input_text)),
            ("lyrics", text(self.lyrics)),
            ("audio", text(self.audio_url)),
        ];
        let present: Vec<&(&str, Option<String>)> =
            given.iter().filter(|(_, v)| v.is_some()).collect();
        let source = match present.as_slice() {
            [] => {
                return Err(bad(
                    "input_text",
                    "send one of `input_text` (a theme), `lyrics` (your own) or `audio` (a spoken idea)",
                )
                .into());
            }
            [(name, Some(v))] => match *name {
                "input_text" => Source::InputText(v.clone()),
                "lyrics" => Source::Lyrics(v.clone()),
                _ => Source::Audio(v.clone()),
            },
            more => {
                let names: Vec<&str> = more.iter().map(|(n, _)| *n).collect();
                return Err(bad(names[1], format!("send only one of {}", names.join(", "))).into());
            }
        };
        match &source {
            Source::InputText(t) if t.chars().count() > MAX_THEME_CHARS => {
                return Err(invalid(
                    "input_text",
                    format!("is longer than {MAX_THEME_CHARS} characters"),
                )
                .into());
            }
            Source::Lyrics(l) if l.chars().count() > MAX_LYRICS_CHARS => {
                return Err(invalid(
                    "lyrics",
                    format!("is longer than {MAX_LYRICS_CHARS} characters"),
                )
                .into());
            }
            Source::Audio(u) | Source::InputText(u) if u.is_empty() => {
                return Err(bad("input_text", "must not be empty").into());
            }
            _ => {}
        }
        if let Some(d) = self.duration
            && !(d.is_finite() && (MIN_DURATION_S..=MAX_SONG_S).contains(&d))
        {
            return Err(invalid(
                "duration",
                format!("must be between {MIN_DURATION_S} and {MAX_SONG_S} seconds, not {d}"),
            )
            .into());
        }
        if let Some(b) = self.bpm
            && !(40..=240).contains(&b)
        {
            return Err(invalid("bpm", "must be between 40 and 240").into());
        }
        if self.duration.is_some() && self.melody_url.is_some() {
            return Err(bad(
                "duration",
                "a hummed melody sets the song's length; leave `duration` out",
            )
            .into());
        }
        let genre = text(self.genre).unwrap_or_else(|| "pop".into());
        let preset = Genre::from_text(&genre).preset;
        // The user's lyrics must fit the duration: refused now, not after minutes of work.
        if let Source::Lyrics(l) = &source {
            let (sections, _) = read_form(l);
            let tempo = self.bpm.map_or(Tempo::around(preset.tempo()), Tempo::fixed);
            let dict = dict().map_err(Refusal::Dictionary)?;
            plan_song(&sections, &dict, tempo, self.duration).map_err(|e| e.field_error())?;
        }
        let engines = self.engines.unwrap_or_default();
        for (stage, engine) in &engines {
            if !matches!(stage.as_str(), "lyrics" | "instrumental" | "vocals") {
                return Err(invalid(
                    &format!("engines.{stage}"),
                    "stages with a choice of engine are lyrics, instrumental and vocals",
                )
                .into());
            }
            if !engine.is_string() {
                return Err(bad(&format!("engines.{stage}"), "must be an engine name").into());
            }
        }
        let format = text(self.format).unwrap_or_else(|| "wav".into());
        if !matches!(format.as_str(), "wav" | "flac") {
            return Err(invalid("format", "must be `wav` or `flac`").into());
        }
        let webhook_url = text(self.webhook_url);
        if let Some(url) = &webhook_url {
            check_webhook(url, webhook_hosts)?;
        }
        Ok(SongRequest {
            source,
            melody_audio: text(self.melody_url),
            genre,
            mood: text(self.mood),
            duration: self.duration,
            bpm: self.bpm,
            key: text(self.key),
            seed: self.seed.unwrap_or(seed),
            seed_given: self.seed.is_some(),
            engines,
            stems: self.stems.unwrap_or(false),
            format,
            webhook_url,
            cache: self.cache.unwrap_or(true),
        })
    }
}

/// A webhook URL must be absolute http(s) and match one of the allowed host patterns
/// (`http://127.0.0.1:*`, `https://hooks.example.com`, `https://*.example.com`).
pub fn check_webhook(url: &str, allowed: &[String]) -> Result<(), FieldError> {
    let uri: http::Uri = url
        .parse()
        .map_err(|_| invalid("webhook_url", format!("`{url}` is not a URL")))?;
    let (Some(scheme), Some(host)) = (uri.scheme_str(), uri.host()) else {
        return Err(invalid("webhook_url", "must be an absolute http(s) URL"));
    };
    let port = uri
        .port_u16()
        .unwrap_or(if scheme == "https" { 443 } else { 80 });
    let ok = allowed.iter().any(|rule| {
        let Some((s, rest)) = rule.trim().split_once("://") else {
            return false;
        };
        let (h, p) = rest.rsplit_once(':').unwrap_or((rest, ""));
        let port_ok = match p {
            "*" => true,
            "" => port == if s == "https" { 443 } else { 80 },
            n => n.parse::<u16>().is_ok_and(|n| n == port),
        };
        let host_ok = h == "*"
            || h.eq_ignore_ascii_case(host)
            || h.strip_prefix("*.")
                .is_some_and(|d| host.ends_with(&format!(".{d}")));
        (s == "*" || s == scheme) && host_ok && port_ok
    });
    if ok {
        Ok(())
    } else {
        Err(invalid(
            "webhook_url",
            format!(
                "`{host}` is not a host this app may call; allowed: {}",
                allowed.join(", ")
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(json: serde_json::Value) -> Fields {
        serde_json::from_value(json).unwrap()
    }

    fn refuse(json: serde_json::Value) -> FieldError {
        match fields(json).validate(
            7,
            || Dictionary::parse(String::new()).map_err(|_| ()),
            &hosts(),
        ) {
            Err(Refusal::Field(e)) => e,
            other => panic!("expected a field refusal, got {other:?}"),
        }
    }

    fn hosts() -> Vec<String> {
        vec!["http://127.0.0.1:*".into(), "https://*.example.com".into()]
    }

    #[test]
    fn exactly_one_source() {
        let e = refuse(serde_json::json!({}));
        assert_eq!((e.field.as_str(), e.status()), ("input_text", 400));
        let e = refuse(serde_json::json!({"input_text": "rain", "lyrics": "la la"}));
        assert_eq!((e.field.as_str(), e.status()), ("lyrics", 400));
        let r = fields(serde_json::json!({"input_text": " rain ", "genre": "folk"}))
            .validate(
                7,
                || Dictionary::parse(String::new()).map_err(|_| ()),
                &hosts(),
            )
            .unwrap();
        assert_eq!(r.source, Source::InputText("rain".into()));
        assert_eq!((r.seed, r.seed_given, r.format.as_str()), (7, false, "wav"));
    }

    #[test]
    fn lyrics_that_cannot_fit_are_refused_on_duration() {
        let lyrics =
            "Verse 1:\n".to_string() + &"we sing a very long line of words again\n".repeat(16);
        let e = refuse(serde_json::json!({"lyrics": lyrics, "duration": 10}));
        assert_eq!((e.field.as_str(), e.status()), ("duration", 422));
        assert!(e.message.contains("too short"), "{}", e.message);
    }

    #[test]
    fn ranges_engines_format_and_webhooks_are_checked() {
        let base = |extra: serde_json::Value| {
            let mut v = serde_json::json!({"input_text": "rain"});
            v.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            refuse(v)
        };
        assert_eq!(base(serde_json::json!({"duration": 5})).field, "duration");
        let hum_and_length = refuse(
            serde_json::json!({"lyrics": "la la", "melody_audio": "/media/h.wav", "duration": 30}),
        );
        assert_eq!(
            (hum_and_length.field.as_str(), hum_and_length.status()),
            ("duration", 400)
        );
        assert_eq!(base(serde_json::json!({"bpm": 300})).field, "bpm");
        assert_eq!(
            base(serde_json::json!({"engines": {"mix": "x"}})).field,
            "engines.mix"
        );
        assert_eq!(base(serde_json::json!({"format": "ogg"})).field, "format");
        assert_eq!(
            base(serde_json::json!({"webhook_url": "https://evil.test/hook"})).field,
            "webhook_url"
        );
        assert!(check_webhook("https://hooks.example.com/a", &hosts()).is_ok());
        assert!(check_webhook("http://127.0.0.1:9000/a", &hosts()).is_ok());
        assert!(check_webhook("http://example.com/a", &hosts()).is_err());
    }

    #[test]
    fn form_fields_read_numbers_and_flags() {
        let f = fields_from_form([("input_text", "rain"), ("duration", "60"), ("stems", "yes")])
            .unwrap();
        let r = f
            .validate(
                1,
                || Dictionary::parse(String::new()).map_err(|_| ()),
                &hosts(),
            )
            .unwrap();
        assert_eq!((r.duration, r.stems), (Some(60.0), true));
        let e = fields_from_form([("duration", "a minute")]).unwrap_err();
        assert_eq!((e.field.as_str(), e.status()), ("duration", 400));
    }
}
