//! `POST /api/generate-vocals/`: lyrics in, a sung vocal track out.
//!
//! The seed's `{"lyrics", "genre"}` gives `{"success", "url", "duration", "format"}`. The
//! melody writer (`songforge-melody`) puts the syllables on the grid of an arrangement: the
//! map a request sends, the one stored beside `instrumental_url`, or one composed here from the
//! genre preset with the arranger (same lyrics, genre and seed as the instrumental endpoint
//! gives the same grid). The `tts` graph (a Piper voice on the host) speaks every word in one
//! call; the singer (`songforge-singer`) stretches and re-pitches each onto its note. The
//! vocal is aligned to the song's timeline, so it mixes with the instrumental at offset 0.

use serde::Serialize;
use songforge_arranger::{Plan, arrange};
use songforge_audio::{Audio, SampleFormat, encode_wav, resample::resample};
use songforge_guest::input::{
    decode_mono, is_form, load_stored, new_seed, pronunciation, read_form,
};
use songforge_guest::media::{StoredMedia, get_media, new_name, put_media_group};
use songforge_guest::nn::{self, Graph, json_input};
use songforge_guest::request::{parse_json, read_body, require_method};
use songforge_guest::settings;
use songforge_guest::timing::StageTimes;
use songforge_guest::{ApiError, Reply, success};
use songforge_inference::Tensor;
use songforge_inference::contract::{pitch, singer, tts};
use songforge_melody::{
    ArrangementMap, Grid, HeardNote, Score, ScoreError, ScoreNote, Voice, fit_to_melody,
    write_score,
};
use songforge_prosody::Dictionary;
use songforge_singer::split::split_word;
use songforge_singer::{Note, Style, sing};
use songforge_song::form::{LyricSection, read_form as read_lyric_form};
use songforge_vocals::request::from_form_fields;
use songforge_vocals::voice::{level, sung_notes, utterances, words};
use songforge_vocals::{Engine, MelodySource, Validated, VocalsRequest};
use spin_sdk::http::{Method, Request};
use spin_sdk::http_service;
use std::time::Instant;

/// Output rate.
const OUTPUT_RATE: u32 = 44_100;

#[derive(Serialize)]
struct VocalsResponse<'a> {
    url: String,
    duration: f64,
    format: &'static str,
    sample_rate: u32,
    channels: usize,
    engine: &'static str,
    voice: &'a str,
    pronunciation: &'static str,
    arrangement_source: &'static str,
    /// The grid's tempo and key; absent when the melody came from a recording.
    bpm: Option<f64>,
    key: Option<String>,
    /// Notes the `pitch` graph read from `melody_audio`.
    #[serde(skip_serializing_if = "Option::is_none")]
    heard_notes: Option<&'a [HeardNote]>,
    seed: u64,
    range: Voice,
    score_url: String,
    score_json_url: String,
    notes: &'a [ScoreNote],
    peak_dbfs: f64,
    timings_ms: &'a StageTimes,
}

/// The request, from JSON or a multipart form (whose `melody_audio` file is the recording).
async fn read_request(req: Request) -> Result<Validated, ApiError> {
    let (parts, body) = read_body(req).await?;
    if !is_form(&parts.headers) {
        let request: VocalsRequest = parse_json(&parts.headers, &body)?;
        return Ok(request.validate(None)?);
    }
    let form = read_form(&parts.headers, &body)?;
    let mut melody = None;
    let mut fields = Vec::new();
    for p in &form {
        if p.name == "melody_audio" && p.filename.is_some() {
            melody = Some(p.data.to_vec());
        } else {
            fields.push((p.name.as_str(), p.text()?));
        }
    }
    Ok(from_form_fields(fields)?.validate(melody)?)
}

/// The singer: DiffSinger's graph, or a Piper voice, loaded once (the load is the check).
enum Singer {
    DiffSinger(Graph),
    Piper(Graph),
}

impl Singer {
    /// `auto` sings with a DiffSinger voicebank when the host has one, else with the voice.
    async fn choose(v: &Validated) -> Result<Self, ApiError> {
        let singer_graph = settings::text_or("singer_graph", "singer").await;
        match v.engine {
            Engine::Auto => match nn::load(&singer_graph) {
                Ok(graph) => Ok(Self::DiffSinger(graph)),
                Err(_) => Ok(Self::Piper(piper_voice(v).await?)),
            },
            Engine::DiffSinger => nn::load(&singer_graph).map(Self::DiffSinger).map_err(|e| {
                ApiError::service_unavailable(format!(
                    "engine `diffsinger` needs a DiffSinger voicebank: {e}; or use \
                     `\"engine\": \"piper-singer\"`"
                ))
                .with_field("engine")
            }),
            Engine::PiperSinger => Ok(Self::Piper(piper_voice(v).await?)),
        }
    }

    fn engine(&self) -> &'static str {
        match self {
            Self::DiffSinger(_) => "diffsinger",
            Self::Piper(_) => "piper-singer",
        }
    }
}

/// Sings the request's lyrics.
#[http_service]
async fn handle(req: Request) -> Result<Reply, ApiError> {
    songforge_guest::access::authenticate(&req).await?;
    require_method(&req, &[Method::POST])?;
    let v = read_request(req).await?;
    let singer = Singer::choose(&v).await?;
    let seed = match v.seed {
        Some(s) => s,
        None => new_seed()?,
    };
    let mut timings = StageTimes::default();
    let (dict, pronunciation) = pronunciation()?;
    let (sections, _) = read_lyric_form(&v.lyrics);
    let score_error = |e: ScoreError| match e {
        ScoreError::TooLong { .. } => ApiError::unprocessable(e.to_string()).with_field("lyrics"),
        ScoreError::Empty => ApiError::bad_request(e.to_string()).with_field("lyrics"),
        ScoreError::NoMelody => ApiError::unprocessable(e.to_string()).with_field("melody_audio"),
        ScoreError::OtherLyrics(_) => ApiError::unprocessable(e.to_string()).with_field("lyrics"),
    };
    let (score, grid, arrangement_source, heard) = match &v.melody {
        Some(source) => {
            let t = Instant::now();
            let (heard, recording_s) = hear(source).await?;
            timings.add("hear", t);
            let t = Instant::now();
            let lines: Vec<&str> = sections.iter().flat_map(LyricSection::sung_lines).collect();
            let score = fit_to_melody(&lines, &dict, &heard, Voice::BARITONE, recording_s)
                .map_err(score_error)?;
            timings.add("score", t);
            (score, None, "melody_audio", Some(heard))
        }
        None => {
            let t = Instant::now();
            let (grid, source) = grid_for(&v, seed, &dict).await?;
            let score =
                write_score(&grid, &sections, &dict, Voice::BARITONE, seed).map_err(score_error)?;
            timings.add("score", t);
            (score, Some(grid), source, None)
        }
    };

    let (mut sung, voice_rate, voice_name) = match &singer {
        Singer::DiffSinger(graph) => {
            let t = Instant::now();
            let sung = diffsinger(graph, &score, v.voice.as_deref())?;
            timings.add("speak", t);
            sung
        }
        Singer::Piper(graph) => {
            let t = Instant::now();
            let (takes, voice_rate) = speak(graph, &score)?;
            timings.add("speak", t);
            let t = Instant::now();
            let sung = piper_sing(&takes, &score, voice_rate, seed)?;
            timings.add("sing", t);
            (sung, voice_rate, graph.name().to_string())
        }
    };
    let t = Instant::now();
    let peak = level(&mut sung);
    let audio = resample(
        Audio {
            sample_rate: voice_rate,
            channels: vec![sung],
        },
        OUTPUT_RATE,
    )
    .map_err(ApiError::internal_from)?;
    timings.add("sing", t);

    let t = Instant::now();
    let wav = encode_wav(&audio, SampleFormat::Int16)
        .map_err(|e| ApiError::internal(format!("the vocal could not be encoded: {e}")))?;
    let midi = score.to_midi().map_err(ApiError::internal)?;
    let score_json = serde_json::to_vec_pretty(&score).map_err(ApiError::internal_from)?;
    timings.add("encode", t);
    let t = Instant::now();
    let (track, midi_media, json_media) = store(wav, &midi, &score_json).await?;
    timings.add("store", t);

    let reply = success(&VocalsResponse {
        url: track.url,
        duration: (audio.duration_s() * 1000.0).round() / 1000.0,
        format: "wav",
        sample_rate: OUTPUT_RATE,
        channels: 1,
        engine: singer.engine(),
        voice: &voice_name,
        pronunciation,
        arrangement_source,
        bpm: grid.as_ref().map(|g| g.bpm),
        // A hum has no arrangement: its key is read from the notes heard, so a band can be
        // put under it in the same key.
        key: match (&grid, &heard) {
            (Some(g), _) => Some(g.key.to_string()),
            (None, Some(notes)) => songforge_arranger::theory::Key::estimate(
                &notes
                    .iter()
                    .map(|n| (n.midi, (n.end_s - n.start_s) as f32))
                    .collect::<Vec<_>>(),
            )
            .map(|k| k.to_string()),
            (None, None) => None,
        },
        heard_notes: heard.as_deref(),
        seed,
        range: score.voice,
        score_url: midi_media.url,
        score_json_url: json_media.url,
        notes: &score.notes,
        peak_dbfs: (f64::from(20.0 * peak.max(1e-9).log10()) * 100.0).round() / 100.0,
        timings_ms: &timings,
    });
    Ok(timings.on(reply))
}

/// The Piper voice a request asks for (`voice`), checked against the host's voices.
async fn piper_voice(v: &Validated) -> Result<Graph, ApiError> {
    let voices = spin_sdk::variables::get("voice_graphs")
        .await
        .unwrap_or_else(|_| "tts".into());
    let offered: Vec<&str> = voices.split(',').map(str::trim).collect();
    let voice = v
        .voice
        .clone()
        .unwrap_or_else(|| offered.first().copied().unwrap_or("tts").to_string());
    if !offered.contains(&voice.as_str()) {
        return Err(ApiError::unprocessable(format!(
            "voice `{voice}` is not one of this host's voices ({voices})"
        ))
        .with_field("voice"));
    }
    nn::load(&voice).map_err(|e| {
        ApiError::service_unavailable(format!("the singing voice is not installed: {e}"))
            .with_field("voice")
    })
}

/// The Piper takes stretched and re-pitched onto the score.
fn piper_sing(
    takes: &[Vec<f32>],
    score: &Score,
    voice_rate: u32,
    seed: u64,
) -> Result<Vec<f32>, ApiError> {
    let notes: Vec<Note> = score
        .notes
        .iter()
        .map(|n| Note {
            midi: f32::from(n.midi),
            start_s: n.start_s,
            dur_s: n.dur_s,
            phrase_start: n.phrase_start,
        })
        .collect();
    sing(
        takes,
        &notes,
        voice_rate,
        score.duration_s,
        Style::default(),
        seed,
    )
    .map_err(ApiError::internal_from)
}

/// The whole score sung by the DiffSinger voicebank in one graph call; `speaker` picks a
/// sub-bank. Returns the samples, their rate and the voice's name.
fn diffsinger(
    graph: &Graph,
    score: &Score,
    speaker: Option<&str>,
) -> Result<(Vec<f32>, u32, String), ApiError> {
    let notes = json_input(&sung_notes(score))?;
    let options = json_input(&singer::Options {
        duration_s: Some(score.duration_s),
        speaker: speaker.map(str::to_string),
        ..singer::Options::default()
    })?;
    let outputs = graph
        .compute(vec![(singer::NOTES, notes), (singer::OPTIONS, options)])
        .map_err(|e| {
            let e = ApiError::from(e);
            if e.message().contains("options.speaker") {
                e.with_field("voice")
            } else {
                e.with_field("engine")
            }
        })?;
    let nn::AudioOutput { samples, meta, .. } =
        outputs.audio::<singer::Meta>(singer::AUDIO, singer::META)?;
    let name = match meta.speaker {
        Some(s) => format!("{}/{s}", meta.voicebank),
        None => meta.voicebank,
    };
    Ok((samples, meta.sample_rate, name))
}

/// The grid to sing on, and where it came from.
async fn grid_for(
    v: &Validated,
    seed: u64,
    dict: &Dictionary,
) -> Result<(Grid, &'static str), ApiError> {
    if let Some(map) = &v.arrangement {
        let grid = Grid::from_map(map).map_err(|e| {
            ApiError::unprocessable(e.to_string()).with_field(format!("arrangement.{}", e.field))
        })?;
        return Ok((grid, "request"));
    }
    if let Some(name) = &v.instrumental_map {
        let Some((_, bytes)) = get_media(name).await? else {
            return Err(ApiError::not_found(format!(
                "no arrangement map `{name}` is stored beside the instrumental; give `arrangement` \
                 or an instrumental made by /api/generate-instrumental/"
            ))
            .with_field("instrumental_url"));
        };
        let map: ArrangementMap = serde_json::from_slice(&bytes).map_err(|e| {
            ApiError::unprocessable(format!("`{name}` is not an arrangement map: {e}"))
                .with_field("instrumental_url")
        })?;
        let grid = Grid::from_map(&map).map_err(|e| {
            ApiError::unprocessable(format!("`{name}`: {e}")).with_field("instrumental_url")
        })?;
        return Ok((grid, "instrumental"));
    }
    let arrangement = arrange(
        &v.lyrics,
        &Plan {
            genre: v.genre.preset,
            bpm: v.bpm,
            key: v.key,
            duration_s: None,
            seed,
        },
        dict,
    )
    .map_err(|e| ApiError::song_fit(&e))?;
    Ok((Grid::from_arrangement(&arrangement), "genre-preset"))
}

/// Notes of a hummed or sung recording, and its length in seconds.
async fn hear(source: &MelodySource) -> Result<(Vec<HeardNote>, f64), ApiError> {
    let field = "melody_audio";
    let stored;
    let bytes = match source {
        MelodySource::Uploaded(b) => b.as_slice(),
        MelodySource::Stored(name) => {
            stored = load_stored(name, field).await?;
            stored.as_slice()
        }
    };
    let mono = decode_mono(bytes, pitch::MAX_SECONDS as f64, pitch::SAMPLE_RATE, field)?;
    let tensor = Tensor::from_f32(vec![1, mono.samples.len() as u32], &mono.samples)
        .map_err(ApiError::internal_from)?;
    let heard: pitch::Heard = nn::compute("pitch", vec![(pitch::AUDIO, tensor)])
        .map_err(|e| ApiError::from(e).with_field(field))?
        .json(pitch::NOTES)?;
    if heard.notes.is_empty() {
        return Err(ApiError::unprocessable(
            "no notes were heard in the melody recording; hum or sing louder and steadier",
        )
        .with_field(field));
    }
    Ok((heard.notes, mono.seconds))
}

/// Every word spoken by the voice in one graph call, then cut into its syllables: one take
/// per note.
fn speak(voice: &Graph, score: &Score) -> Result<(Vec<Vec<f32>>, u32), ApiError> {
    let words = words(score);
    let request = json_input(&utterances(score, &words))?;
    let nn::AudioOutput {
        samples,
        dimensions,
        meta,
    } = voice
        .compute(vec![(tts::PHONEMES, request)])?
        .audio::<tts::Meta>(tts::AUDIO, tts::META)?;
    let width = dimensions.get(1).copied().unwrap_or(0) as usize;
    if meta.lengths.len() != words.len() || samples.len() != width * meta.lengths.len() {
        return Err(ApiError::internal(format!(
            "`{}` returned {} takes for {} words",
            voice.name(),
            meta.lengths.len(),
            words.len()
        )));
    }
    let mut takes = Vec::with_capacity(score.notes.len());
    for (i, (w, &len)) in words.iter().zip(&meta.lengths).enumerate() {
        let take = &samples[i * width..i * width + len.min(width)];
        let weights: Vec<usize> = score.notes[w.clone()].iter().map(|n| n.weight).collect();
        takes.extend(split_word(take, &weights, meta.sample_rate));
    }
    Ok((takes, meta.sample_rate))
}

/// Stores the score (MIDI, JSON) under the vocal's id, then the vocal; removes all on failure.
async fn store(
    wav: Vec<u8>,
    midi: &[u8],
    json: &[u8],
) -> Result<(StoredMedia, StoredMedia, StoredMedia), ApiError> {
    let wav_name = new_name("vocals", "wav")?;
    let base = wav_name.trim_end_matches(".wav");
    let (midi_name, json_name) = (format!("{base}.mid"), format!("{base}.json"));
    let stored = put_media_group(&[
        (midi_name.as_str(), "audio/midi", midi),
        (json_name.as_str(), "application/json", json),
        (wav_name.as_str(), "audio/wav", &wav),
    ])
    .await?;
    let [midi, json, track]: [StoredMedia; 3] = stored
        .try_into()
        .map_err(|_| ApiError::internal("the store answered for a different set of files"))?;
    Ok((track, midi, json))
}
