//! The `POST /api/songs/` request, validated before any work: every error names its field.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use songforge_genre::Genre;
use songforge_guest::ApiError;
use songforge_guest::request::FormPart;
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
    audio_url: Option<String>,
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

fn bad(field: &str, message: impl Into<String>) -> ApiError {
    ApiError::bad_request(message).with_field(field)
}

fn invalid(field: &str, message: impl Into<String>) -> ApiError {
    ApiError::unprocessable(message).with_field(field)
}

/// The text fields of a multipart form, as JSON would give them.
pub fn fields_from_form(parts: &[FormPart]) -> Result<Fields, ApiError> {
    let mut obj = Map::new();
    for p in parts.iter().filter(|p| p.filename.is_none()) {
        if matches!(p.name.as_str(), "audio" | "melody_audio") {
            continue;
        }
        let text = p
            .text()
            .map_err(|e| bad(&p.name, e.to_string()))?
            .trim()
            .to_string();
        let value = match p.name.as_str() {
            "duration" | "bpm" | "seed" => serde_json::from_str(&text)
                .map_err(|_| bad(&p.name, format!("`{text}` is not a number")))?,
            "stems" | "cache" => Value::Bool(matches!(text.as_str(), "true" | "1" | "yes")),
            "engines" => serde_json::from_str(&text)
                .map_err(|e| bad("engines", format!("must be a JSON object: {e}")))?,
            _ => Value::String(text),
        };
        obj.insert(p.name.clone(), value);
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
    pub fn validate(
        self,
        seed: u64,
        dict: impl FnOnce() -> Result<Dictionary, ApiError>,
        webhook_hosts: &[String],
    ) -> Result<SongRequest, ApiError> {
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
                ));
            }
            [(name, Some(v))] => match *name {
                "input_text" => Source::InputText(v.clone()),
                "lyrics" => Source::Lyrics(v.clone()),
                _ => Source::Audio(v.clone()),
            },
            more => {
                let names: Vec<&str> = more.iter().map(|(n, _)| *n).collect();
                return Err(bad(
                    names[1],
                    format!("send only one of {}", names.join(", ")),
                ));
            }
        };
        match &source {
            Source::InputText(t) if t.chars().count() > MAX_THEME_CHARS => {
                return Err(invalid(
                    "input_text",
                    format!("is longer than {MAX_THEME_CHARS} characters"),
                ));
            }
            Source::Lyrics(l) if l.chars().count() > MAX_LYRICS_CHARS => {
                return Err(invalid(
                    "lyrics",
                    format!("is longer than {MAX_LYRICS_CHARS} characters"),
                ));
            }
            Source::Audio(u) | Source::InputText(u) if u.is_empty() => {
                return Err(bad("input_text", "must not be empty"));
            }
            _ => {}
        }
        if let Some(d) = self.duration
            && !(d.is_finite() && (MIN_DURATION_S..=MAX_SONG_S).contains(&d))
        {
            return Err(invalid(
                "duration",
                format!("must be between {MIN_DURATION_S} and {MAX_SONG_S} seconds, not {d}"),
            ));
        }
        if let Some(b) = self.bpm
            && !(40..=240).contains(&b)
        {
            return Err(invalid("bpm", "must be between 40 and 240"));
        }
        let genre = text(self.genre).unwrap_or_else(|| "pop".into());
        let preset = Genre::from_text(&genre).preset;
        // The user's lyrics must fit the duration: refused now, not after minutes of work.
        if let Source::Lyrics(l) = &source {
            let (sections, _) = read_form(l);
            let tempo = self.bpm.map_or(Tempo::around(preset.tempo()), Tempo::fixed);
            plan_song(&sections, &dict()?, tempo, self.duration)
                .map_err(|e| ApiError::song_fit(&e))?;
        }
        let engines = self.engines.unwrap_or_default();
        for (stage, engine) in &engines {
            if !matches!(stage.as_str(), "lyrics" | "instrumental" | "vocals") {
                return Err(invalid(
                    &format!("engines.{stage}"),
                    "stages with a choice of engine are lyrics, instrumental and vocals",
                ));
            }
            if !engine.is_string() {
                return Err(bad(&format!("engines.{stage}"), "must be an engine name"));
            }
        }
        let format = text(self.format).unwrap_or_else(|| "wav".into());
        if !matches!(format.as_str(), "wav" | "flac") {
            return Err(invalid("format", "must be `wav` or `flac`"));
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
pub fn check_webhook(url: &str, allowed: &[String]) -> Result<(), ApiError> {
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
