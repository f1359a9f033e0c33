//! `POST /api/generate-lyrics/`: a theme and a genre in, structured lyrics out.
//!
//! The seed's `{"input_text", "genre"}` gives `{"success", "lyrics": "Verse 1:\n…", "genre"}`;
//! the response adds the title, the sections as lists of lines, the genre preset used, the
//! seed (send it back to get the same lyrics) and how each section scored. The song is written
//! section by section with the host's `llm` graph; the songwriting (briefs, candidates,
//! scoring by rhyme with CMUdict, metre, theme and repetition) is `songforge-lyrics`.

use serde::Serialize;
use serde_json::Value;
use songforge_guest::request::{parse_json, read_body, require_method};
use songforge_guest::{ApiError, Reply, nn, success};
use songforge_inference::Tensor;
use songforge_lyrics::write::SectionScore;
use songforge_lyrics::{Candidate, Complete, LyricsRequest, WriteError, write_song};
use songforge_prosody::Dictionary;
use spin_sdk::http::{Method, Request};
use spin_sdk::http_service;

/// Where the manifest mounts CMUdict (`models/store/cmudict`).
const CMUDICT: &str = "/cmudict/cmudict.dict";

#[derive(Serialize)]
struct SectionOut<'a> {
    name: &'a str,
    lines: &'a [String],
}

#[derive(Serialize)]
struct LyricsResponse<'a> {
    lyrics: String,
    genre: &'a str,
    genre_preset: &'static str,
    genre_recognised: bool,
    title: &'a str,
    sections: Vec<SectionOut<'a>>,
    structure: Vec<&'a str>,
    seed: u64,
    engine: &'static str,
    graph: &'a str,
    model: Option<String>,
    rhyme_dictionary: &'static str,
    scores: &'a [SectionScore],
    model_calls: usize,
}

/// Calls the `llm` graph, remembering which model answered.
struct Graph<'a> {
    name: &'a str,
    model: Option<String>,
}

impl Complete for Graph<'_> {
    type Error = ApiError;

    fn complete(&mut self, request: &Value) -> Result<Vec<Candidate>, ApiError> {
        let input = Tensor::json(request).map_err(|e| ApiError::internal(e.to_string()))?;
        let outputs = nn::compute(self.name, vec![("request".into(), input)])?;
        let result = nn::output(self.name, &outputs, "result")?;
        let value: Value = serde_json::from_slice(&result.data).map_err(|e| {
            ApiError::internal(format!(
                "graph `{}` returned unreadable JSON: {e}",
                self.name
            ))
        })?;
        if let Some(m) = value.get("model").and_then(Value::as_str) {
            self.model = Some(m.to_string());
        }
        let choices = value
            .get("choices")
            .and_then(Value::as_array)
            .ok_or_else(|| {
                ApiError::internal(format!("graph `{}` returned no choices", self.name))
            })?;
        Ok(choices
            .iter()
            .filter_map(|c| {
                Some(Candidate {
                    text: c.get("text")?.as_str()?.to_string(),
                    finished: c.get("finish_reason").and_then(Value::as_str) == Some("stop"),
                })
            })
            .collect())
    }
}

/// The pronunciation dictionary, or an empty one (letter-to-sound rules only) when CMUdict is
/// not mounted; the response names which was used.
fn dictionary() -> Result<(Dictionary, &'static str), ApiError> {
    Dictionary::load_or_letter_rules(std::path::Path::new(CMUDICT))
        .map_err(|e| ApiError::internal(format!("{CMUDICT}: {e}")))
}

/// Writes lyrics for the request's theme and genre.
#[http_service]
async fn handle(req: Request) -> Result<Reply, ApiError> {
    require_method(&req, &[Method::POST])?;
    let (parts, body) = read_body(req).await?;
    let body: Value = parse_json(&parts.headers, &body)?;
    let field_error = |e: songforge_lyrics::FieldError| {
        ApiError::invalid_field(e.unprocessable, e.field.clone(), e.to_string())
    };
    let mut request = LyricsRequest::from_json(&body).map_err(field_error)?;
    let graph_name = spin_sdk::variables::get("lyrics_graph")
        .await
        .ok()
        .filter(|g| !g.is_empty())
        .unwrap_or_else(|| "llm".to_string());
    let seed = match request.seed {
        Some(s) => s,
        // Kept to 2^53 so JavaScript clients can send it back unchanged.
        None => getrandom::u64().map_err(|e| ApiError::internal(e.to_string()))? >> 11,
    };
    let (dict, rhyme_dictionary) = dictionary()?;
    // Fewer lines and sections for a short song, decided before any model call.
    request.fit_duration(&dict).map_err(field_error)?;
    let mut graph = Graph {
        name: &graph_name,
        model: None,
    };
    let song = write_song(&request, seed, &dict, &mut graph).map_err(|e| match e {
        WriteError::Model(api) => api,
        other => ApiError::service_unavailable(other.to_string()),
    })?;
    let lyrics = song.text();
    Ok(success(&LyricsResponse {
        lyrics,
        genre: &request.genre,
        genre_preset: request.preset.preset.name(),
        genre_recognised: request.preset.recognised,
        title: &song.title,
        sections: song
            .sections
            .iter()
            .map(|s| SectionOut {
                name: &s.name,
                lines: &s.lines,
            })
            .collect(),
        structure: song.sections.iter().map(|s| s.name.as_str()).collect(),
        seed,
        engine: "llm",
        graph: &graph_name,
        model: graph.model.clone(),
        rhyme_dictionary,
        scores: &song.scores,
        model_calls: song.model_calls,
    }))
}
