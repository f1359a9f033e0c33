//! `POST /api/generate-vocals/`: lyrics in, a sung vocal track out.
//!
//! The seed's `{"lyrics", "genre"}` gives `{"success", "url", "duration", "format"}`. The
//! melody writer (`songforge-melody`) puts the syllables on the grid of an arrangement: the
//! map a request sends, the one stored beside `instrumental_url`, or one composed here from the
//! genre preset with the arranger (same lyrics, genre and seed as the instrumental endpoint
//! gives the same grid). The `tts` graph (a Piper voice on the host) speaks every word in one
//! call; the singer (`songforge-singer`) stretches and re-pitches each onto its note. The
//! vocal is aligned to the song's timeline, so it mixes with the instrumental at offset 0.

mod request;

use request::{Engine, MelodySource, VocalsRequest};
use serde::{Deserialize, Serialize};
use songforge_arranger::{Plan, arrange};
use songforge_audio::{Audio, SampleFormat, db_to_gain, encode_wav, resample::resample};
use songforge_guest::media::{StoredMedia, get_media, new_name, put_media_group};
use songforge_guest::nn::{self, Tensor};
use songforge_guest::request::{
    header_str, media_type, multipart_boundary, parse_json, parse_multipart, read_body,
    require_method,
};
use songforge_guest::{ApiError, Reply, success};
use songforge_melody::{
    ArrangementMap, Grid, HeardNote, Score, ScoreError, ScoreNote, Voice, fit_to_melody,
    write_score,
};
use songforge_prosody::Dictionary;
use songforge_singer::split::split_word;
use songforge_singer::{Note, Style, sing};
use songforge_song::form::{LyricSection, read_form};
use spin_sdk::http::{Method, Request};
use spin_sdk::http_service;
use std::time::Instant;

/// Where the manifest mounts CMUdict (`models/store/cmudict`).
const CMUDICT: &str = "/cmudict/cmudict.dict";
/// Output rate.
const OUTPUT_RATE: u32 = 44_100;
/// Active level of the vocal, dBFS RMS over sung samples; the mixer sets the final balance.
const VOCAL_RMS_DB: f32 = -18.0;
/// Highest sample peak, dBFS.
const PEAK_DB: f32 = -1.0;

#[derive(Default, Serialize)]
struct Timings {
    hear: u64,
    score: u64,
    speak: u64,
    sing: u64,
    encode: u64,
    store: u64,
}

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
    timings_ms: Timings,
}

/// What `meta` of the `tts` graph says.
#[derive(Deserialize)]
struct SpeechMeta {
    sample_rate: u32,
    lengths: Vec<usize>,
}

fn ms_since(t: Instant) -> u64 {
    t.elapsed().as_millis() as u64
}

/// Sings the request's lyrics.
#[http_service]
async fn handle(req: Request) -> Result<Reply, ApiError> {
    require_method(&req, &[Method::POST])?;
    let (parts, body) = read_body(req).await?;
    let field_error =
        |e: request::FieldError| ApiError::invalid_field(e.unprocessable, e.field, e.message);
    let v = if media_type(&parts.headers).as_deref() == Some("multipart/form-data") {
        let content_type = header_str(&parts.headers, "content-type").unwrap_or_default();
        let boundary =
            multipart_boundary(content_type).map_err(|e| ApiError::bad_request(e.to_string()))?;
        let form =
            parse_multipart(&body, &boundary).map_err(|e| ApiError::bad_request(e.to_string()))?;
        let (request, upload) = request::from_form(&form).map_err(field_error)?;
        request.validate(upload).map_err(field_error)?
    } else {
        let request: VocalsRequest = parse_json(&parts.headers, &body)?;
        request.validate(None).map_err(field_error)?
    };
    let singer_graph = spin_sdk::variables::get("singer_graph")
        .await
        .unwrap_or_else(|_| "singer".into());
    // `auto` sings with a DiffSinger voicebank when the host has one, else with the voice.
    let engine = match v.engine {
        Engine::Auto if nn::graph_available(&singer_graph) => Engine::DiffSinger,
        Engine::Auto => Engine::PiperSinger,
        chosen => chosen,
    };
    let voice = match engine {
        Engine::DiffSinger => {
            if !nn::graph_available(&singer_graph) {
                return Err(ApiError::service_unavailable(format!(
                    "engine `diffsinger` needs a DiffSinger voicebank: {}; or use \
                     `\"engine\": \"piper-singer\"`",
                    nn::unavailable_reason(&singer_graph)
                ))
                .with_field("engine"));
            }
            singer_graph.clone()
        }
        _ => piper_voice(&v).await?,
    };
    let seed = match v.seed {
        Some(s) => s,
        None => getrandom::u64().map_err(|e| ApiError::internal(e.to_string()))? >> 11,
    };
    let mut timings = Timings::default();
    let t = Instant::now();
    let (dict, pronunciation) = dictionary()?;
    let (sections, _) = read_form(&v.lyrics);
    let score_error = |e: ScoreError| match e {
        ScoreError::TooLong { .. } => ApiError::unprocessable(e.to_string()).with_field("lyrics"),
        ScoreError::Empty => ApiError::bad_request(e.to_string()).with_field("lyrics"),
        ScoreError::NoMelody => ApiError::unprocessable(e.to_string()).with_field("melody_audio"),
        ScoreError::OtherLyrics(_) => ApiError::unprocessable(e.to_string()).with_field("lyrics"),
    };
    let (score, grid, arrangement_source, heard) = match &v.melody {
        Some(source) => {
            let (heard, recording_s) = hear(source).await?;
            timings.hear = ms_since(t);
            let lines: Vec<&str> = sections.iter().flat_map(LyricSection::sung_lines).collect();
            let score = fit_to_melody(&lines, &dict, &heard, Voice::BARITONE, recording_s)
                .map_err(score_error)?;
            (score, None, "melody_audio", Some(heard))
        }
        None => {
            let (grid, source) = grid_for(&v, seed, &dict).await?;
            let score =
                write_score(&grid, &sections, &dict, Voice::BARITONE, seed).map_err(score_error)?;
            (score, Some(grid), source, None)
        }
    };
    timings.score = ms_since(t) - timings.hear;

    let t = Instant::now();
    let (sung, voice_rate, voice_name) = if engine == Engine::DiffSinger {
        let (audio, rate, name) = diffsinger(&voice, &score, v.voice.as_deref())?;
        timings.speak = ms_since(t);
        (audio, rate, name)
    } else {
        let (takes, voice_rate) = speak(&voice, &score)?;
        timings.speak = ms_since(t);
        let t = Instant::now();
        let sung = piper_sing(&takes, &score, voice_rate, seed)?;
        timings.sing = ms_since(t);
        (sung, voice_rate, voice.clone())
    };
    let mut sung = sung;
    let t = Instant::now();
    let peak = level(&mut sung);
    let audio = resample(
        Audio {
            sample_rate: voice_rate,
            channels: vec![sung],
        },
        OUTPUT_RATE,
    )
    .map_err(|e| ApiError::internal(e.to_string()))?;
    timings.sing += ms_since(t);

    let t = Instant::now();
    let wav = encode_wav(&audio, SampleFormat::Int16)
        .map_err(|e| ApiError::internal(format!("the vocal could not be encoded: {e}")))?;
    let midi = score.to_midi().map_err(ApiError::internal)?;
    let score_json =
        serde_json::to_vec_pretty(&score).map_err(|e| ApiError::internal(e.to_string()))?;
    timings.encode = ms_since(t);
    let t = Instant::now();
    let (track, midi_media, json_media) = store(wav, &midi, &score_json).await?;
    timings.store = ms_since(t);

    Ok(success(&VocalsResponse {
        url: track.url,
        duration: (audio.duration_s() * 1000.0).round() / 1000.0,
        format: "wav",
        sample_rate: OUTPUT_RATE,
        channels: 1,
        engine: if engine == Engine::DiffSinger {
            "diffsinger"
        } else {
            "piper-singer"
        },
        voice: &voice_name,
        pronunciation,
        arrangement_source,
        bpm: grid.as_ref().map(|g| g.bpm),
        key: grid.as_ref().map(|g| g.key.to_string()),
        heard_notes: heard.as_deref(),
        seed,
        range: score.voice,
        score_url: midi_media.url,
        score_json_url: json_media.url,
        notes: &score.notes,
        peak_dbfs: (f64::from(20.0 * peak.max(1e-9).log10()) * 100.0).round() / 100.0,
        timings_ms: timings,
    }))
}

/// The Piper voice a request asks for (`voice`), checked against the host's voices.
async fn piper_voice(v: &request::Validated) -> Result<String, ApiError> {
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
    if !nn::graph_available(&voice) {
        return Err(ApiError::service_unavailable(format!(
            "the singing voice is not installed: {}",
            nn::unavailable_reason(&voice)
        ))
        .with_field("voice"));
    }
    Ok(voice)
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
    .map_err(|e| ApiError::internal(e.to_string()))
}

/// A note as the `singer` graph reads it.
#[derive(Serialize)]
struct SingerNote<'a> {
    phonemes: &'a [String],
    midi: f32,
    start_s: f64,
    dur_s: f64,
}

/// What `meta` of the `singer` graph says.
#[derive(Deserialize)]
struct SingerMeta {
    sample_rate: u32,
    voicebank: String,
    speaker: Option<String>,
}

/// The whole score sung by the DiffSinger voicebank in one graph call; `speaker` picks a
/// sub-bank. Returns the samples, their rate and the voice's name.
fn diffsinger(
    graph: &str,
    score: &Score,
    speaker: Option<&str>,
) -> Result<(Vec<f32>, u32, String), ApiError> {
    let notes: Vec<SingerNote> = score
        .notes
        .iter()
        .map(|n| SingerNote {
            phonemes: &n.phonemes,
            midi: f32::from(n.midi),
            start_s: n.start_s,
            dur_s: n.dur_s,
        })
        .collect();
    let notes = Tensor::json(&notes).map_err(|e| ApiError::internal(e.to_string()))?;
    let options = Tensor::json(&serde_json::json!({
        "duration_s": score.duration_s,
        "speaker": speaker,
    }))
    .map_err(|e| ApiError::internal(e.to_string()))?;
    let outputs = nn::compute(
        graph,
        vec![("notes".into(), notes), ("options".into(), options)],
    )
    .map_err(|e| {
        let e = ApiError::from(e);
        if e.message().contains("options.speaker") {
            e.with_field("voice")
        } else {
            e.with_field("engine")
        }
    })?;
    let nn::AudioOutput { samples, meta, .. } = nn::audio_output::<SingerMeta>(graph, &outputs)?;
    let name = match meta.speaker {
        Some(s) => format!("{}/{s}", meta.voicebank),
        None => meta.voicebank,
    };
    Ok((samples, meta.sample_rate, name))
}

/// The grid to sing on, and where it came from.
async fn grid_for(
    v: &request::Validated,
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

/// Longest melody recording, seconds (as the `pitch` graph accepts).
const MAX_MELODY_S: f64 = 600.0;
/// The rate the `pitch` graph reads.
const PITCH_RATE: u32 = 22_050;

/// What the `pitch` graph answers.
#[derive(Deserialize)]
struct HeardMelody {
    notes: Vec<HeardNote>,
}

/// Notes of a hummed or sung recording, and its length in seconds.
async fn hear(source: &MelodySource) -> Result<(Vec<HeardNote>, f64), ApiError> {
    let field = "melody_audio";
    let bytes = match source {
        MelodySource::Uploaded(b) => std::borrow::Cow::Borrowed(b.as_slice()),
        MelodySource::Stored(name) => match get_media(name).await? {
            Some((_, b)) => std::borrow::Cow::Owned(b),
            None => {
                return Err(
                    ApiError::not_found(format!("no stored media named {name}")).with_field(field)
                );
            }
        },
    };
    let audio = songforge_audio::decode(&bytes, Some(MAX_MELODY_S)).map_err(|e| {
        ApiError::unprocessable(format!("the melody recording: {e}")).with_field(field)
    })?;
    let seconds = audio.duration_s();
    let mono = resample(audio.with_channels(1), PITCH_RATE)
        .map_err(|e| ApiError::internal(e.to_string()))?;
    let samples = &mono.channels[0];
    let tensor = Tensor::from_f32(vec![1, samples.len() as u32], samples)
        .map_err(|e| ApiError::internal(e.to_string()))?;
    let outputs = nn::compute("pitch", vec![("audio".into(), tensor)])
        .map_err(|e| ApiError::from(e).with_field(field))?;
    let notes = nn::output("pitch", &outputs, "notes")?;
    let heard: HeardMelody = serde_json::from_slice(&notes.data)
        .map_err(|e| ApiError::internal(format!("`pitch` notes: {e}")))?;
    if heard.notes.is_empty() {
        return Err(ApiError::unprocessable(
            "no notes were heard in the melody recording; hum or sing louder and steadier",
        )
        .with_field(field));
    }
    Ok((heard.notes, seconds))
}

/// CMUdict, or letter-to-sound rules alone when it is not mounted (said in the response).
fn dictionary() -> Result<(Dictionary, &'static str), ApiError> {
    Dictionary::load_or_letter_rules(std::path::Path::new(CMUDICT))
        .map_err(|e| ApiError::internal(format!("{CMUDICT}: {e}")))
}

/// Every word spoken by the voice in one graph call, then cut into its syllables: one take
/// per note.
fn speak(voice: &str, score: &Score) -> Result<(Vec<Vec<f32>>, u32), ApiError> {
    // Consecutive notes of one word form one utterance.
    let mut words: Vec<std::ops::Range<usize>> = Vec::new();
    for (i, n) in score.notes.iter().enumerate() {
        match words.last_mut() {
            Some(w) if score.notes[w.start].word_index == n.word_index => w.end = i + 1,
            _ => words.push(i..i + 1),
        }
    }
    let phonemes: Vec<Vec<&str>> = words
        .iter()
        .map(|w| {
            score.notes[w.clone()]
                .iter()
                .flat_map(|n| n.ipa.iter().map(String::as_str))
                .collect()
        })
        .collect();
    let request = Tensor::json(&phonemes).map_err(|e| ApiError::internal(e.to_string()))?;
    let outputs = nn::compute(voice, vec![("phonemes".into(), request)])?;
    let nn::AudioOutput {
        samples,
        dimensions,
        meta,
    } = nn::audio_output::<SpeechMeta>(voice, &outputs)?;
    let width = dimensions.get(1).copied().unwrap_or(0) as usize;
    if meta.lengths.len() != words.len() || samples.len() != width * meta.lengths.len() {
        return Err(ApiError::internal(format!(
            "`{voice}` returned {} takes for {} words",
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

/// Brings the sung parts to the vocal level, peak-limited; returns the peak.
fn level(x: &mut [f32]) -> f32 {
    let active: Vec<f32> = x.iter().copied().filter(|s| s.abs() > 1e-3).collect();
    if active.is_empty() {
        return 0.0;
    }
    let rms = (active.iter().map(|s| s * s).sum::<f32>() / active.len() as f32).sqrt();
    let peak = x.iter().fold(0f32, |m, s| m.max(s.abs()));
    let want = db_to_gain(VOCAL_RMS_DB) / rms;
    let gain = want.min(db_to_gain(PEAK_DB) / peak);
    for s in x.iter_mut() {
        *s *= gain;
    }
    peak * gain
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
