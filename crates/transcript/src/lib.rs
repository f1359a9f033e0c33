//! What `/api/transcribe/` accepts and answers, independent of HTTP and WebAssembly: the
//! request options (validated, each error naming its field), the `whisper` graph's result, and
//! its renderings as plain text, SubRip and WebVTT.

use songforge_inference::contract::whisper;

/// How the transcript is returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ResponseFormat {
    /// The seed's JSON envelope, with segments.
    #[default]
    Json,
    /// The text alone, `text/plain`.
    Text,
    /// SubRip subtitles.
    Srt,
    /// WebVTT subtitles.
    Vtt,
}

impl ResponseFormat {
    /// Parses `json`, `text`, `srt` or `vtt`.
    pub fn parse(value: &str) -> Option<Self> {
        Some(match value.trim().to_ascii_lowercase().as_str() {
            "json" => Self::Json,
            "text" | "txt" => Self::Text,
            "srt" => Self::Srt,
            "vtt" | "webvtt" => Self::Vtt,
            _ => return None,
        })
    }
}

pub use songforge_field_error::FieldError;

/// Options a client may send as form fields, query parameters or JSON members.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TranscribeOptions {
    /// ISO 639-1 code; `None` detects the language.
    pub language: Option<String>,
    /// Transcribe, or translate to English.
    pub task: Task,
    pub response_format: ResponseFormat,
    /// Predict timestamps (finer segments); on by default.
    pub timestamps: bool,
    pub initial_prompt: Option<String>,
    pub beam_size: Option<u32>,
    pub temperature: Option<f32>,
    /// The wasi-nn graph to use (`whisper`, `whisper-tiny-en`); checked by the component
    /// against the graphs it is configured with.
    pub model: Option<String>,
    /// Leave silence out (on by default): text decoded over silence goes to the response's
    /// `skipped_segments` instead of the transcript.
    pub skip_silence: bool,
    /// Leave a window out as "no speech" above this no-speech probability (when its text is
    /// also unlikely); 1 never does. `None`: the graph's default, 0.6.
    pub no_speech_threshold: Option<f64>,
}

/// Longest accepted initial prompt, characters.
pub const MAX_PROMPT_CHARS: usize = 1000;

/// A JSON body's members as the `(name, value)` pairs [`TranscribeOptions::from_pairs`]
/// reads, the way a form would send them: strings as they are, other values as JSON text,
/// `null` left out (not given).
pub fn json_pairs(members: &serde_json::Map<String, serde_json::Value>) -> Vec<(String, String)> {
    members
        .iter()
        .filter_map(|(name, value)| {
            let text = match value {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Null => return None,
                other => other.to_string(),
            };
            Some((name.clone(), text))
        })
        .collect()
}

impl TranscribeOptions {
    /// Builds options from `(name, value)` pairs; unknown names are ignored (forms often carry
    /// extra fields), bad values are refused naming the field.
    pub fn from_pairs<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, FieldError> {
        let mut o = Self {
            task: Task::Transcribe,
            timestamps: true,
            skip_silence: true,
            ..Self::default()
        };
        for (name, value) in pairs {
            let v = value.trim();
            let bad = |field: &str, message: String| FieldError::malformed(field, message);
            match name {
                "language" => {
                    let code = v.to_ascii_lowercase();
                    if code.is_empty() || code == "auto" {
                        o.language = None;
                    } else if (2..=3).contains(&code.len())
                        && code.chars().all(|c| c.is_ascii_lowercase())
                    {
                        o.language = Some(code);
                    } else {
                        return Err(bad(
                            "language",
                            format!(
                                "{v:?} is not a language code such as \"en\" or \"de\" (or \"auto\")"
                            ),
                        ));
                    }
                }
                "task" => match v {
                    "transcribe" => o.task = Task::Transcribe,
                    "translate" => o.task = Task::Translate,
                    _ => {
                        return Err(bad(
                            "task",
                            format!("{v:?} is not one of \"transcribe\", \"translate\""),
                        ));
                    }
                },
                "response_format" => {
                    o.response_format = ResponseFormat::parse(v).ok_or_else(|| {
                        bad(
                            "response_format",
                            format!("{v:?} is not one of json, text, srt, vtt"),
                        )
                    })?;
                }
                "timestamps" => o.timestamps = flag(v).ok_or_else(|| not_flag("timestamps", v))?,
                "skip_silence" => {
                    o.skip_silence = flag(v).ok_or_else(|| not_flag("skip_silence", v))?;
                }
                "initial_prompt" | "prompt" => {
                    if v.chars().count() > MAX_PROMPT_CHARS {
                        return Err(bad(
                            "initial_prompt",
                            format!("longer than {MAX_PROMPT_CHARS} characters"),
                        ));
                    }
                    o.initial_prompt = (!v.is_empty()).then(|| v.to_string());
                }
                "beam_size" => {
                    let n: u32 =
                        v.parse()
                            .ok()
                            .filter(|n| (1..=10).contains(n))
                            .ok_or_else(|| {
                                bad(
                                    "beam_size",
                                    format!("{v:?} is not a whole number from 1 to 10"),
                                )
                            })?;
                    o.beam_size = Some(n);
                }
                "no_speech_threshold" => {
                    o.no_speech_threshold = Some(fraction(v, "no_speech_threshold")?);
                }
                "temperature" => o.temperature = Some(fraction(v, "temperature")? as f32),
                "model" => {
                    let ok = !v.is_empty()
                        && v.len() <= 64
                        && v.chars()
                            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
                    if !ok {
                        return Err(bad("model", format!("{v:?} is not a model name")));
                    }
                    o.model = Some(v.to_string());
                }
                _ => {}
            }
        }
        Ok(o)
    }

    /// The `options` tensor for the `whisper` graph: the graph's defaults, with what the
    /// client chose.
    pub fn graph_options(&self) -> whisper::Options {
        let defaults = whisper::Options::default();
        whisper::Options {
            language: self.language.clone(),
            task: self.task,
            timestamps: self.timestamps,
            initial_prompt: self.initial_prompt.clone(),
            beam_size: self.beam_size.map_or(defaults.beam_size, |b| b as usize),
            temperature: self.temperature,
            skip_silence: self.skip_silence,
            no_speech_threshold: self
                .no_speech_threshold
                .unwrap_or(defaults.no_speech_threshold),
            ..defaults
        }
    }
}

/// A number from 0 to 1, or a 400 naming `field`.
fn fraction(v: &str, field: &str) -> Result<f64, FieldError> {
    v.parse()
        .ok()
        .filter(|t: &f64| (0.0..=1.0).contains(t))
        .ok_or_else(|| FieldError::malformed(field, format!("{v:?} is not a number from 0 to 1")))
}

/// A boolean form value.
fn flag(v: &str) -> Option<bool> {
    match v {
        "true" | "1" | "yes" => Some(true),
        "false" | "0" | "no" => Some(false),
        _ => None,
    }
}

fn not_flag(field: &str, v: &str) -> FieldError {
    FieldError::malformed(field, format!("{v:?} is not true or false"))
}

pub use songforge_inference::contract::whisper::{
    Segment, Skipped as SkippedSegment, Task, Transcript as GraphTranscript,
};

fn clock(seconds: f64, decimal: char) -> String {
    let ms = (seconds.max(0.0) * 1000.0).round() as u64;
    format!(
        "{:02}:{:02}:{:02}{decimal}{:03}",
        ms / 3_600_000,
        ms / 60_000 % 60,
        ms / 1000 % 60,
        ms % 1000
    )
}

/// SubRip: numbered cues, `HH:MM:SS,mmm`.
pub fn to_srt(segments: &[Segment]) -> String {
    let mut out = String::new();
    for (i, s) in segments.iter().enumerate() {
        out.push_str(&format!(
            "{}\n{} --> {}\n{}\n\n",
            i + 1,
            clock(s.start, ','),
            clock(s.end, ','),
            s.text.trim()
        ));
    }
    out
}

/// WebVTT: a header, then cues with `HH:MM:SS.mmm`.
pub fn to_vtt(segments: &[Segment]) -> String {
    let mut out = String::from("WEBVTT\n\n");
    for s in segments {
        out.push_str(&format!(
            "{} --> {}\n{}\n\n",
            clock(s.start, '.'),
            clock(s.end, '.'),
            s.text.trim()
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_members_read_as_a_form_would_send_them() {
        let members = serde_json::json!({"language": "de", "temperature": 0.2,
            "timestamps": false, "prompt": null});
        let pairs = json_pairs(members.as_object().unwrap());
        assert_eq!(
            pairs,
            [
                ("language".to_string(), "de".to_string()),
                ("temperature".to_string(), "0.2".to_string()),
                ("timestamps".to_string(), "false".to_string()),
            ]
        );
    }

    fn segment(start: f64, end: f64, text: &str) -> Segment {
        Segment {
            start,
            end,
            text: text.into(),
            avg_logprob: -0.2,
            no_speech_prob: 0.01,
            temperature: 0.0,
            compression_ratio: 1.2,
        }
    }

    fn segs() -> Vec<Segment> {
        vec![
            segment(0.0, 2.5, " Hello there."),
            segment(3661.25, 3662.0, " Bye."),
        ]
    }

    #[test]
    fn subtitles_have_standard_clocks() {
        assert_eq!(
            to_srt(&segs()),
            "1\n00:00:00,000 --> 00:00:02,500\nHello there.\n\n2\n01:01:01,250 --> 01:01:02,000\nBye.\n\n"
        );
        assert_eq!(
            to_vtt(&segs()),
            "WEBVTT\n\n00:00:00.000 --> 00:00:02.500\nHello there.\n\n01:01:01.250 --> 01:01:02.000\nBye.\n\n"
        );
    }

    #[test]
    fn options_are_validated_by_field() {
        let o = TranscribeOptions::from_pairs([
            ("language", "DE"),
            ("response_format", "srt"),
            ("beam_size", "1"),
            ("no_speech_threshold", "1"),
            ("other", "ignored"),
        ])
        .unwrap();
        assert_eq!(o.language.as_deref(), Some("de"));
        assert_eq!(o.response_format, ResponseFormat::Srt);
        assert_eq!(o.graph_options().beam_size, 1);
        assert_eq!(o.graph_options().no_speech_threshold, 1.0);
        let defaults = TranscribeOptions::from_pairs([]).unwrap().graph_options();
        assert_eq!(defaults.no_speech_threshold, 0.6);
        for (field, value) in [
            ("language", "english!"),
            ("task", "summarise"),
            ("response_format", "docx"),
            ("beam_size", "0"),
            ("temperature", "3"),
            ("no_speech_threshold", "-0.1"),
            ("no_speech_threshold", "often"),
            ("timestamps", "maybe"),
        ] {
            let err = TranscribeOptions::from_pairs([(field, value)]).unwrap_err();
            assert_eq!(err.field, field, "{err:?}");
        }
        let long = "x".repeat(MAX_PROMPT_CHARS + 1);
        let err = TranscribeOptions::from_pairs([("prompt", long.as_str())]).unwrap_err();
        assert_eq!(err.field, "initial_prompt");
    }
}
