//! `POST /api/generate-instrumental/`: lyrics and a genre in, an instrumental with stems, MIDI
//! and an arrangement map out.
//!
//! The seed's `{"lyrics", "genre"}` gives `{"success", "url", "duration", "format"}`; the
//! response adds the engine, tempo, key, stems, the MIDI file and the arrangement map the
//! vocals endpoint sings to. The arranger (`songforge-arranger`) composes and renders in this
//! component with the General MIDI soundfont mounted from the model store, or its built-in
//! synthesiser when none is installed. Every output of one request shares one id
//! (`instrumental_<id>.wav`, `…-drums.wav`, `….mid`, `….json`) and the mix is stored last,
//! after everything else, so a failure leaves nothing behind.

use serde::Serialize;
use songforge_arranger::api::{EngineChoice, InstrumentalRequest, OutputFormat, Validated};
use songforge_arranger::compose::{ChordAt, PlacedSection};
use songforge_arranger::{Arrangement, Instruments, Part, arrange, render, write_midi};
use songforge_audio::resample::resample;
use songforge_audio::{Audio, SampleFormat, db_to_gain, encode_flac, encode_wav};
use songforge_guest::input::{decode_mono, load_stored, new_seed, pronunciation};
use songforge_guest::media::{StoredMedia, new_name, put_media_group};
use songforge_guest::nn::{self, Graph, json_input};
use songforge_guest::request::{parse_json, read_body, require_method};
use songforge_guest::timing::StageTimes;
use songforge_guest::{ApiError, Reply, success};
use songforge_inference::contract::musicgen;
use spin_sdk::http::{Method, Request};
use spin_sdk::http_service;
use std::collections::BTreeMap;
use std::time::Instant;

/// Where the manifest mounts the soundfonts of the model store (`@models/<id>`).
const SOUNDFONT_DIR: &str = "/soundfonts";
/// Soundfonts tried in order when the `soundfont` variable names none that is installed.
const SOUNDFONTS: [&str; 2] = ["timgm6mb", "fluidr3-gm"];

/// The arrangement map: what the vocals endpoint needs to sing in time and in key.
#[derive(Serialize)]
struct ArrangementMap<'a> {
    bpm: u32,
    key: String,
    time_signature: String,
    duration: f64,
    sections: &'a [PlacedSection],
    chords: &'a [ChordAt],
    genre_preset: &'static str,
    seed: u64,
}

impl<'a> ArrangementMap<'a> {
    fn new(a: &'a Arrangement) -> Self {
        ArrangementMap {
            bpm: a.bpm,
            key: a.key.to_string(),
            time_signature: format!("{}/{}", a.time_signature[0], a.time_signature[1]),
            duration: round3(a.duration_s()),
            sections: &a.sections,
            chords: &a.chords,
            genre_preset: a.genre.name(),
            seed: a.seed,
        }
    }
}

#[derive(Serialize)]
struct PartInfo {
    notes: usize,
    programs: Vec<u8>,
}

#[derive(Serialize)]
struct InstrumentalResponse<'a> {
    url: String,
    duration: f64,
    format: &'static str,
    sample_rate: u32,
    channels: usize,
    engine: &'static str,
    /// What MusicGen was asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    prompt: Option<String>,
    /// What MusicGen was conditioned on: `text`, or `text+melody`.
    #[serde(skip_serializing_if = "Option::is_none")]
    conditioning: Option<String>,
    instruments: String,
    bpm: u32,
    key: String,
    time_signature: String,
    genre: &'a str,
    genre_preset: &'static str,
    genre_recognised: bool,
    seed: u64,
    form_source: songforge_song::FormSource,
    #[serde(skip_serializing_if = "Option::is_none")]
    stems: Option<BTreeMap<&'static str, String>>,
    midi_url: String,
    arrangement_url: String,
    arrangement: ArrangementMap<'a>,
    parts: BTreeMap<&'static str, PartInfo>,
    peak_dbfs: f64,
    timings_ms: &'a StageTimes,
}

fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

/// Composes and renders an instrumental for the request's lyrics and genre.
#[http_service]
async fn handle(req: Request) -> Result<Reply, ApiError> {
    songforge_guest::access::authenticate(&req).await?;
    require_method(&req, &[Method::POST])?;
    let (parts, body) = read_body(req).await?;
    let request: InstrumentalRequest = parse_json(&parts.headers, &body)?;
    let v = request.validate()?;
    // A melody to follow is MusicGen Melody's work, whatever `auto` would pick.
    let wants_musicgen = v.engine == EngineChoice::MusicGen || v.melody.is_some();
    let musicgen_graph = if wants_musicgen {
        let field = if v.engine == EngineChoice::MusicGen {
            "engine"
        } else {
            "melody_url"
        };
        let graph = nn::load(MUSICGEN).map_err(|e| {
            ApiError::service_unavailable(format!(
                "engine `musicgen` needs the host's `musicgen` graph: {e}; use \
                 `\"engine\": \"arranger\"` or `auto` without `melody_url`"
            ))
            .with_field(field)
        })?;
        if v.stems_asked {
            return Err(ApiError::unprocessable(
                "MusicGen renders one mix, no stems; leave out `stems` or use the arranger",
            )
            .with_field("stems"));
        }
        Some(graph)
    } else if v.engine == EngineChoice::Auto && !v.stems_asked {
        // MusicGen when the host serves it, unless stems are asked for.
        nn::load(MUSICGEN).ok()
    } else {
        None
    };
    let use_musicgen = musicgen_graph.is_some();
    let melody = match &v.melody {
        Some(name) => Some(load_melody(name).await?),
        None => None,
    };
    let seed = match v.seed {
        Some(s) => s,
        None => new_seed()?,
    };
    let mut timings = StageTimes::default();
    let t = Instant::now();
    let (dict, _) = pronunciation()?;
    let arrangement =
        arrange(&v.lyrics, &v.plan(seed), &dict).map_err(|e| ApiError::song_fit(&e))?;
    timings.add("compose", t);
    let mut prompt = None;
    let mut conditioning = None;
    let (mix, stems, instruments_name, engine) = if let Some(graph) = &musicgen_graph {
        let t = Instant::now();
        let (mix, asked, conditioned) = generate(graph, &v, &arrangement, seed, melody)?;
        timings.add("render", t);
        prompt = Some(asked);
        conditioning = Some(conditioned);
        (mix, Vec::new(), "musicgen".to_string(), "musicgen")
    } else {
        let t = Instant::now();
        let instruments = instruments().await?;
        timings.add("load_soundfont", t);
        let t = Instant::now();
        let rendered = render(&arrangement, &instruments).map_err(ApiError::internal_from)?;
        timings.add("render", t);
        let name = instruments.name().to_string();
        (rendered.mix, rendered.stems, name, "arranger")
    };
    let t = Instant::now();
    let midi = write_midi(&arrangement).map_err(ApiError::internal_from)?;
    let map = ArrangementMap::new(&arrangement);
    let map_json = serde_json::to_vec_pretty(&map).map_err(ApiError::internal_from)?;

    // Encode everything before storing anything, freeing each float buffer once encoded: a
    // ten-minute song is 212 MB of f32 per track.
    let (duration, sample_rate, channels, peak) = (
        mix.duration_s(),
        mix.sample_rate,
        mix.channel_count(),
        mix.sample_peak(),
    );
    let mix_bytes = encode(&mix, v.format)?;
    drop(mix);
    let mut stem_bytes = Vec::new();
    for (part, audio) in stems {
        if v.stems {
            stem_bytes.push((part, encode(&audio, v.format)?));
        }
    }
    timings.add("encode", t);
    let t = Instant::now();
    let (mix, stems, midi_media, map_media) =
        store(&v, mix_bytes, stem_bytes, &midi, &map_json).await?;
    timings.add("store", t);

    let mut part_info = BTreeMap::new();
    for part in Part::ALL {
        part_info.insert(
            part.name(),
            PartInfo {
                notes: arrangement.notes.iter().filter(|n| n.part == part).count(),
                programs: arrangement
                    .channels
                    .iter()
                    .filter(|c| c.part == part && c.channel != 9)
                    .map(|c| c.program)
                    .collect(),
            },
        );
    }
    let reply = success(&InstrumentalResponse {
        url: mix.url,
        duration: round3(duration),
        format: v.format.extension(),
        sample_rate,
        channels,
        engine,
        prompt,
        conditioning,
        instruments: instruments_name,
        bpm: arrangement.bpm,
        key: arrangement.key.to_string(),
        time_signature: map.time_signature.clone(),
        genre: &v.genre_input,
        genre_preset: v.genre.preset.name(),
        genre_recognised: v.genre.recognised,
        seed,
        form_source: arrangement.form_source,
        stems: (v.stems && !use_musicgen)
            .then(|| stems.into_iter().map(|(p, m)| (p.name(), m.url)).collect()),
        midi_url: midi_media.url,
        arrangement_url: map_media.url,
        arrangement: map,
        parts: part_info,
        peak_dbfs: (f64::from(20.0 * peak.max(1e-9).log10()) * 100.0).round() / 100.0,
        timings_ms: &timings,
    });
    Ok(timings.on(reply))
}

/// The `musicgen` graph's name.
const MUSICGEN: &str = "musicgen";
/// The mix's rate, as the arranger renders it.
const OUTPUT_RATE: u32 = 44_100;
/// Highest sample peak of a MusicGen mix, dBFS.
const PEAK_DB: f32 = -1.0;

/// What MusicGen is asked for: the mood and genre as the user wrote them, the plan's key
/// and tempo (`"sad pop instrumental in E minor, 112 bpm"`).
fn musicgen_prompt(v: &Validated, a: &Arrangement) -> String {
    let genre = v.genre_input.trim();
    let genre = if genre.is_empty() {
        v.genre.preset.name()
    } else {
        genre
    };
    let mood = if v.mood.is_empty() {
        String::new()
    } else {
        format!("{} ", v.mood)
    };
    format!("{mood}{genre} instrumental in {}, {} bpm", a.key, a.bpm)
}

/// Longest melody recording, seconds (as long as the longest piece).
const MAX_MELODY_S: f64 = 600.0;

/// The stored recording `name` as mono samples at MusicGen Melody's rate.
async fn load_melody(name: &str) -> Result<Vec<f32>, ApiError> {
    let field = "melody_url";
    let bytes = load_stored(name, field).await?;
    Ok(decode_mono(&bytes, MAX_MELODY_S, musicgen::MELODY_RATE, field)?.samples)
}

/// The plan's length of music from the `musicgen` graph, following `melody` when given, as a
/// 44.1 kHz stereo mix with the peak at or under −1 dBFS; with the prompt and what the
/// model was conditioned on.
fn generate(
    graph: &Graph,
    v: &Validated,
    a: &Arrangement,
    seed: u64,
    melody: Option<Vec<f32>>,
) -> Result<(Audio, String, String), ApiError> {
    let prompt = musicgen_prompt(v, a);
    let request = json_input(&musicgen::Request::new(
        prompt.clone(),
        a.duration_s().min(600.0),
        seed,
    ))?;
    let mut inputs = vec![(musicgen::REQUEST, request)];
    if let Some(samples) = &melody {
        let tensor = nn::Tensor::from_f32(vec![1, samples.len() as u32], samples)
            .map_err(ApiError::internal_from)?;
        inputs.push((musicgen::MELODY, tensor));
    }
    let outputs = graph.compute(inputs).map_err(|e| {
        let e = ApiError::from(e);
        // The engine names a melody it cannot take (a text-only checkpoint).
        if e.message().contains("melody:") {
            e.with_field("melody_url")
        } else {
            e.with_field("engine")
        }
    })?;
    let nn::AudioOutput {
        samples,
        dimensions,
        meta,
    } = outputs.audio::<musicgen::Meta>(musicgen::AUDIO, musicgen::META)?;
    let rows = dimensions.first().copied().unwrap_or(1).max(1) as usize;
    let width = samples.len() / rows;
    let channels: Vec<Vec<f32>> = samples.chunks(width.max(1)).map(<[f32]>::to_vec).collect();
    let mix = Audio {
        sample_rate: meta.sample_rate,
        channels,
    }
    .with_channels(2);
    let mut mix = resample(mix, OUTPUT_RATE).map_err(ApiError::internal_from)?;
    let peak = mix.sample_peak();
    let ceiling = db_to_gain(PEAK_DB);
    if peak > ceiling {
        mix.apply_gain(ceiling / peak);
    }
    Ok((mix, prompt, meta.conditioning))
}

/// The configured soundfont (variable `soundfont`), else the first installed one, else the
/// built-in synthesiser.
async fn instruments() -> Result<Instruments, ApiError> {
    let wanted = spin_sdk::variables::get("soundfont")
        .await
        .ok()
        .filter(|s| !s.is_empty());
    let order = wanted.iter().map(String::as_str).chain(SOUNDFONTS);
    for id in order {
        if id == "built-in" {
            return Ok(Instruments::BuiltIn);
        }
        let path = format!("{SOUNDFONT_DIR}/{id}/soundfont.sf2");
        let Ok(bytes) = std::fs::read(&path) else {
            continue;
        };
        return Instruments::load_sf2(&bytes, id).map_err(ApiError::internal_from);
    }
    Ok(Instruments::BuiltIn)
}

fn encode(audio: &Audio, format: OutputFormat) -> Result<Vec<u8>, ApiError> {
    match format {
        OutputFormat::Wav => encode_wav(audio, SampleFormat::Int16),
        OutputFormat::Flac => encode_flac(audio, 16),
    }
    .map_err(|e| ApiError::internal(format!("the instrumental could not be encoded: {e}")))
}

type Stored = (
    StoredMedia,
    Vec<(Part, StoredMedia)>,
    StoredMedia,
    StoredMedia,
);

/// Stores stems, MIDI and map under one id, then the mix; all or nothing.
async fn store(
    v: &Validated,
    mix: Vec<u8>,
    stems: Vec<(Part, Vec<u8>)>,
    midi: &[u8],
    map: &[u8],
) -> Result<Stored, ApiError> {
    let ext = v.format.extension();
    let mix_name = new_name("instrumental", ext)?;
    let base = mix_name.trim_end_matches(&format!(".{ext}")).to_string();
    let stem_names: Vec<String> = stems
        .iter()
        .map(|(part, _)| format!("{base}-{}.{ext}", part.name()))
        .collect();
    let (midi_name, map_name) = (format!("{base}.mid"), format!("{base}.json"));
    let mut files: Vec<(&str, &str, &[u8])> = stems
        .iter()
        .zip(&stem_names)
        .map(|((_, bytes), name)| (name.as_str(), v.format.content_type(), bytes.as_slice()))
        .collect();
    files.extend([
        (midi_name.as_str(), "audio/midi", midi),
        (map_name.as_str(), "application/json", map),
        (mix_name.as_str(), v.format.content_type(), mix.as_slice()),
    ]);
    let mut stored = put_media_group(&files).await?;
    let missing = || ApiError::internal("the store answered for a different set of files");
    let mix_media = stored.pop().ok_or_else(missing)?;
    let map_media = stored.pop().ok_or_else(missing)?;
    let midi_media = stored.pop().ok_or_else(missing)?;
    let stored_stems = stems.iter().map(|(part, _)| *part).zip(stored).collect();
    Ok((mix_media, stored_stems, midi_media, map_media))
}
