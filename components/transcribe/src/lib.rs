//! `POST /api/transcribe/`: speech in, text out.
//!
//! Accepts the seed's multipart form (`audio_file`), a raw `audio/*` body, or JSON naming a
//! stored file (`{"audio_url": "/media/..."}`). Decodes any supported format here, folds to
//! mono, resamples to 16 kHz, and asks the host's `whisper` graph for the transcript.

use serde::Serialize;
use songforge_guest::envelope::bytes_reply;
use songforge_guest::input::{decode_mono, is_form, load_stored, read_form};
use songforge_guest::request::{
    decode_json, is_json_media_type, media_type, query_pairs, read_body, require_method,
};
use songforge_guest::settings;
use songforge_guest::{ApiError, Reply, nn, success};
use songforge_inference::Tensor;
use songforge_inference::contract::whisper;
use songforge_transcript::{
    GraphTranscript, ResponseFormat, Segment, Task, TranscribeOptions, to_srt, to_vtt,
};
use spin_sdk::http::{Method, Request};
use spin_sdk::http_service;

/// Longest audio accepted, seconds (override with the `transcribe_max_seconds` variable).
const DEFAULT_MAX_SECONDS: f64 = 30.0 * 60.0;

#[derive(Serialize)]
struct SegmentOut<'a> {
    id: usize,
    start: f64,
    end: f64,
    text: &'a str,
}

#[derive(Serialize)]
struct TranscribeResponse<'a> {
    transcribed_text: &'a str,
    language: &'a str,
    language_probability: f64,
    duration: f64,
    task: Task,
    segments: Vec<SegmentOut<'a>>,
    /// Text Whisper decoded over silence, left out of the transcript (`skip_silence`).
    skipped_segments: &'a [songforge_transcript::SkippedSegment],
    engine: &'static str,
    graph: &'a str,
    model: &'a str,
}

/// Where the audio came from and the options sent with it.
struct Upload {
    bytes: Vec<u8>,
    field: &'static str,
    options: TranscribeOptions,
}

async fn read_upload(req: Request) -> Result<Upload, ApiError> {
    let query = req.uri().query().unwrap_or("").to_string();
    let (parts, body) = read_body(req).await?;
    let query = query_pairs(&query);
    let mt = media_type(&parts.headers).unwrap_or_default();
    if is_form(&parts.headers) {
        let form = read_form(&parts.headers, &body)?;
        let file = form
            .iter()
            .find(|p| p.name == "audio_file")
            .or_else(|| form.iter().find(|p| p.name == "file"))
            .ok_or_else(|| {
                ApiError::bad_request(
                    "the form has no `audio_file` part; attach the audio as audio_file",
                )
                .with_field("audio_file")
            })?;
        let mut pairs: Vec<(String, String)> = query;
        for p in form
            .iter()
            .filter(|p| p.filename.is_none() && p.name != file.name)
        {
            let text = p.text()?;
            pairs.push((p.name.clone(), text.to_string()));
        }
        let options =
            TranscribeOptions::from_pairs(pairs.iter().map(|(a, b)| (a.as_str(), b.as_str())))?;
        return Ok(Upload {
            bytes: file.data.to_vec(),
            field: "audio_file",
            options,
        });
    }
    if is_json_media_type(&mt) {
        let json: serde_json::Map<String, serde_json::Value> = decode_json(&body)?;
        let url = json
            .get("audio_url")
            .and_then(|v| v.as_str())
            .ok_or_else(|| {
                ApiError::bad_request("send `audio_url` naming a stored file (/media/...)")
                    .with_field("audio_url")
            })?;
        let bytes = load_stored(url, "audio_url").await?;
        let mut pairs = query;
        pairs.extend(songforge_transcript::json_pairs(&json));
        let options =
            TranscribeOptions::from_pairs(pairs.iter().map(|(a, b)| (a.as_str(), b.as_str())))?;
        return Ok(Upload {
            bytes,
            field: "audio_url",
            options,
        });
    }
    if mt.starts_with("audio/") || mt == "application/octet-stream" || mt == "video/mp4" {
        let options =
            TranscribeOptions::from_pairs(query.iter().map(|(a, b)| (a.as_str(), b.as_str())))?;
        return Ok(Upload {
            bytes: body.to_vec(),
            field: "body",
            options,
        });
    }
    Err(ApiError::unsupported_media_type(format!(
        "send multipart/form-data with an audio_file part, a raw audio/* body, or JSON with audio_url; got {}",
        if mt.is_empty() {
            "no Content-Type"
        } else {
            mt.as_str()
        }
    )))
}

/// Transcribes the request's audio with the `whisper` graph.
#[http_service]
async fn handle(req: Request) -> Result<Reply, ApiError> {
    songforge_guest::access::authenticate(&req).await?;
    require_method(&req, &[Method::POST])?;
    let upload = read_upload(req).await?;
    let max_seconds = settings::positive_or("transcribe_max_seconds", DEFAULT_MAX_SECONDS).await;
    let default_graph = settings::text_or("whisper_graph", "whisper").await;
    let graph = match &upload.options.model {
        None => default_graph,
        Some(m) => {
            let mut allowed = settings::list_or("transcribe_graphs", "").await;
            // The default is always allowed; named once in the refusal's list.
            if !allowed.contains(&default_graph) {
                allowed.push(default_graph.clone());
            }
            if !allowed.contains(m) {
                return Err(ApiError::bad_request(format!(
                    "model {m:?} is not one of {}",
                    allowed.join(", ")
                ))
                .with_field("model"));
            }
            m.clone()
        }
    };

    let mono = decode_mono(
        &upload.bytes,
        max_seconds,
        whisper::SAMPLE_RATE,
        upload.field,
    )?;
    let audio = Tensor::from_f32(vec![1, mono.samples.len() as u32], &mono.samples)
        .map_err(ApiError::internal_from)?;
    let options = nn::json_input(&upload.options.graph_options())?;
    let transcript: GraphTranscript = nn::compute(
        &graph,
        vec![(whisper::AUDIO, audio), (whisper::OPTIONS, options)],
    )?
    .json(whisper::RESULT)?;

    let text_reply = |content_type: &'static str, body: String| {
        Ok(bytes_reply(
            http::StatusCode::OK,
            &http::HeaderValue::from_static(content_type),
            body.into(),
        ))
    };
    match upload.options.response_format {
        ResponseFormat::Text => text_reply(
            "text/plain; charset=utf-8",
            format!("{}\n", transcript.text),
        ),
        ResponseFormat::Srt => text_reply(
            "application/x-subrip; charset=utf-8",
            to_srt(&transcript.segments),
        ),
        ResponseFormat::Vtt => text_reply("text/vtt; charset=utf-8", to_vtt(&transcript.segments)),
        ResponseFormat::Json => Ok(success(&TranscribeResponse {
            transcribed_text: &transcript.text,
            language: &transcript.language,
            language_probability: transcript.language_probability,
            duration: (transcript.duration * 1000.0).round() / 1000.0,
            task: upload.options.task,
            segments: transcript
                .segments
                .iter()
                .enumerate()
                .map(|(id, s): (usize, &Segment)| SegmentOut {
                    id,
                    start: s.start,
                    end: s.end,
                    text: s.text.trim(),
                })
                .collect(),
            skipped_segments: &transcript.skipped,
            engine: "whisper",
            graph: &graph,
            model: &transcript.model,
        })),
    }
}
