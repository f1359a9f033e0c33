//! `POST /api/generate-lyrics/`: a theme and a genre in, structured lyrics out.
//!
//! The seed's `{"input_text", "genre"}` gives `{"success", "lyrics": "Verse 1:\n…", "genre"}`;
//! the response adds the title, the sections as lists of lines, the genre preset used, the
//! seed (send it back to get the same lyrics) and how each section scored. The song is written
//! section by section with the host's `llm` graph; the songwriting (briefs, candidates,
//! scoring by rhyme with CMUdict, metre, theme and repetition) is `songforge-lyrics`.

use serde::Serialize;
use serde_json::Value;
use songforge_guest::input::{new_seed, pronunciation};
use songforge_guest::nn::{self, Graph, json_input};
use songforge_guest::request::{parse_json, read_body, require_method};
use songforge_guest::settings;
use songforge_guest::timing::StageTimes;
use songforge_guest::{ApiError, Reply, success};
use songforge_inference::contract::llm;
use songforge_lyrics::write::SectionScore;
use songforge_lyrics::{Candidate, Complete, LyricsRequest, WriteError, write_song};
use spin_sdk::http::{Method, Request};
use spin_sdk::http_service;

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
    /// Tokens the model read and wrote over all calls.
    usage: Usage,
    /// The model's time: prompt passes and generation.
    timings_ms: &'a StageTimes,
}

/// Token counts over every model call, as OpenAI-style APIs report them.
#[derive(Serialize, Default, Clone, Copy)]
struct Usage {
    prompt_tokens: usize,
    /// Prompt tokens whose computation was kept from an earlier call.
    cached_prompt_tokens: usize,
    completion_tokens: usize,
}

/// The `llm` graph, loaded once, remembering which model answered and what it cost.
struct Writer {
    graph: Graph,
    model: Option<String>,
    usage: Usage,
    times: StageTimes,
}

impl Complete for Writer {
    type Error = ApiError;

    fn complete(&mut self, request: &llm::Request) -> Result<Vec<Candidate>, ApiError> {
        let response: llm::Response = self
            .graph
            .compute(vec![(llm::REQUEST, json_input(request)?)])?
            .json(llm::RESULT)?;
        self.model = Some(response.model);
        self.usage.prompt_tokens += response.prompt_tokens;
        self.usage.cached_prompt_tokens += response.cached_prompt_tokens;
        self.usage.completion_tokens += response
            .choices
            .iter()
            .map(|c| c.completion_tokens)
            .sum::<usize>();
        let t = &response.timings;
        self.times.add_ms("model_prompt", t.prompt_seconds * 1000.0);
        self.times
            .add_ms("model_generation", t.generation_seconds * 1000.0);
        Ok(response
            .choices
            .into_iter()
            .map(|c| Candidate {
                text: c.text,
                finished: c.finish_reason == llm::FinishReason::Stop,
            })
            .collect())
    }
}

/// Writes lyrics for the request's theme and genre.
#[http_service]
async fn handle(req: Request) -> Result<Reply, ApiError> {
    songforge_guest::access::authenticate(&req).await?;
    require_method(&req, &[Method::POST])?;
    let (parts, body) = read_body(req).await?;
    let body: Value = parse_json(&parts.headers, &body)?;
    let mut request = LyricsRequest::from_json(&body)?;
    let graph_name = settings::text_or("lyrics_graph", "llm").await;
    let seed = match request.seed {
        Some(s) => s,
        None => new_seed()?,
    };
    let (dict, rhyme_dictionary) = pronunciation()?;
    // Fewer lines and sections for a short song, decided before any model call.
    request.fit_duration(&dict)?;
    let mut writer = Writer {
        graph: nn::load(&graph_name)?,
        model: None,
        usage: Usage::default(),
        times: StageTimes::default(),
    };
    let song = write_song(&request, seed, &dict, &mut writer).map_err(|e| match e {
        WriteError::Model(api) => api,
        other => ApiError::service_unavailable(other.to_string()),
    })?;
    let lyrics = song.text();
    Ok(writer.times.on(success(&LyricsResponse {
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
        model: writer.model.clone(),
        rhyme_dictionary,
        scores: &song.scores,
        model_calls: song.model_calls,
        usage: writer.usage,
        timings_ms: &writer.times,
    })))
}
