//! `POST /api/mix-audio/`: tracks in, a mastered mix out.
//!
//! Thin by design: parse and validate the request (`songforge_mixer::api`), fetch and decode
//! each track, run the mixer, encode, store. Outputs are stored only after everything else has
//! succeeded, stems before the mix, and anything stored is removed again if a later write
//! fails, so a failed request leaves nothing behind.

use serde::Serialize;
use songforge_audio::{Audio, encode_flac, encode_wav};
use songforge_guest::input::{decode_audio, load_stored};
use songforge_guest::media::{StoredMedia, new_name, put_media_group};
use songforge_guest::request::{parse_json, read_body, require_method};
use songforge_guest::settings;
use songforge_guest::timing::StageTimes;
use songforge_guest::{ApiError, Reply, success};
use songforge_mixer::api::{MixPlan, MixRequest, OutputFormat, TrackPlan};
use songforge_mixer::{MixReport, Track, mix};
use spin_sdk::http::body::IncomingBodyExt;
use spin_sdk::http::{Method, Request};
use spin_sdk::http_service;
use std::collections::BTreeMap;
use std::time::Instant;

/// Default longest track, seconds (override with the `mix_max_track_seconds` variable).
const DEFAULT_MAX_TRACK_SECONDS: f64 = 15.0 * 60.0;

#[derive(Serialize)]
struct GenreInfo<'a> {
    input: &'a str,
    preset: &'static str,
    recognised: bool,
}

#[derive(Serialize)]
struct TrackInfo<'a> {
    name: &'a str,
    role: songforge_mixer::Role,
    url: &'a str,
}

#[derive(Serialize)]
struct MixResponse<'a> {
    url: String,
    duration: f64,
    format: &'static str,
    sample_rate: u32,
    channels: usize,
    bit_depth: &'static str,
    loudness_lufs: Option<f64>,
    true_peak_dbtp: f64,
    target_lufs: f64,
    master: bool,
    engine: &'static str,
    genre: GenreInfo<'a>,
    tracks: Vec<TrackInfo<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stems: Option<BTreeMap<String, String>>,
    report: &'a MixReport,
    timings_ms: &'a StageTimes,
}

fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

/// Mixes and masters the request's tracks.
#[http_service]
async fn handle(req: Request) -> Result<Reply, ApiError> {
    songforge_guest::access::authenticate(&req).await?;
    require_method(&req, &[Method::POST])?;
    let (parts, body) = read_body(req).await?;
    let request: MixRequest = parse_json(&parts.headers, &body)?;
    let plan = request.plan()?;
    let max_seconds =
        settings::positive_or("mix_max_track_seconds", DEFAULT_MAX_TRACK_SECONDS).await;

    let mut timings = StageTimes::default();
    let mut tracks = Vec::with_capacity(plan.tracks.len());
    for t in &plan.tracks {
        let audio = load_track(t, max_seconds, &mut timings).await?;
        tracks.push(Track {
            name: t.name.clone(),
            audio,
            placement: t.placement,
        });
    }
    let started = Instant::now();
    let out = mix(tracks, &plan.settings).map_err(|e| ApiError::unprocessable(e.to_string()))?;
    timings.add("mix", started);

    // Encode everything before storing anything.
    let started = Instant::now();
    let mix_bytes = encode(&out.mix, &plan)?;
    let mut stem_bytes = Vec::new();
    if plan.stems {
        for (name, audio) in &out.stems {
            stem_bytes.push((name.clone(), encode(audio, &plan)?));
        }
    }
    timings.add("encode", started);
    let started = Instant::now();
    let stored = store_outputs(&plan, mix_bytes, stem_bytes).await?;
    timings.add("store", started);
    let (mix_media, stems) = stored;

    let response = MixResponse {
        url: mix_media.url,
        duration: (out.report.duration_s * 1000.0).round() / 1000.0,
        format: plan.format.extension(),
        sample_rate: out.mix.sample_rate,
        channels: out.mix.channel_count(),
        bit_depth: plan.sample_format.name(),
        loudness_lufs: out.report.loudness_lufs.map(round2),
        true_peak_dbtp: round2(out.report.true_peak_dbtp),
        target_lufs: plan.settings.target_lufs,
        master: plan.settings.master,
        engine: "songforge-mixer",
        genre: GenreInfo {
            input: &plan.genre_input,
            preset: plan.genre.preset.name(),
            recognised: plan.genre.recognised,
        },
        tracks: plan
            .tracks
            .iter()
            .map(|t| TrackInfo {
                name: &t.name,
                role: t.placement.role,
                url: &t.url,
            })
            .collect(),
        stems: plan
            .stems
            .then(|| stems.into_iter().map(|(n, m)| (n, m.url)).collect()),
        report: &out.report,
        timings_ms: &timings,
    };
    Ok(timings.on(success(&response)))
}

/// Fetches and decodes one track; errors name the request field it came from.
async fn load_track(
    t: &TrackPlan,
    max_seconds: f64,
    timing: &mut StageTimes,
) -> Result<Audio, ApiError> {
    let started = Instant::now();
    let bytes = if t.url.starts_with("/media/") {
        load_stored(&t.url, &t.field).await?
    } else {
        fetch(&t.url)
            .await
            .map_err(|e| e.with_field(t.field.clone()))?
    };
    timing.add("fetch", started);
    let started = Instant::now();
    let audio = decode_audio(&bytes, max_seconds, &t.field);
    timing.add("decode", started);
    audio
}

/// Fetches an absolute URL; the host refuses any destination not in `allowed_outbound_hosts`.
async fn fetch(url: &str) -> Result<Vec<u8>, ApiError> {
    let response = spin_sdk::http::get(url).await.map_err(|e| {
        ApiError::unprocessable(format!(
            "{url} could not be fetched ({e:?}); absolute URLs work only for hosts in the mixer's allowed_outbound_hosts"
        ))
    })?;
    let status = response.status();
    if !status.is_success() {
        return Err(ApiError::unprocessable(format!(
            "{url} answered HTTP {status}"
        )));
    }
    let (_, body) = response.into_parts();
    let bytes = body.bytes().await.map_err(|e| {
        ApiError::unprocessable(format!("{url}: the body could not be read ({e:?})"))
    })?;
    Ok(bytes.to_vec())
}

fn encode(audio: &Audio, plan: &MixPlan) -> Result<Vec<u8>, ApiError> {
    let result = match plan.format {
        OutputFormat::Wav => encode_wav(audio, plan.sample_format),
        OutputFormat::Flac => encode_flac(
            audio,
            if plan.sample_format == songforge_audio::SampleFormat::Int24 {
                24
            } else {
                16
            },
        ),
    };
    result.map_err(|e| ApiError::internal(format!("the mix could not be encoded: {e}")))
}

/// Stores stems, then the mix (the file that announces the result); all or nothing.
async fn store_outputs(
    plan: &MixPlan,
    mix_bytes: Vec<u8>,
    stems: Vec<(String, Vec<u8>)>,
) -> Result<(StoredMedia, Vec<(String, StoredMedia)>), ApiError> {
    let (ext, content_type) = (plan.format.extension(), plan.format.content_type());
    let mut names = Vec::with_capacity(stems.len() + 1);
    for (stem, _) in &stems {
        names.push(new_name(&format!("stem-{stem}"), ext)?);
    }
    names.push(new_name("mix", ext)?);
    let files: Vec<(&str, &str, &[u8])> = stems
        .iter()
        .map(|(_, bytes)| bytes.as_slice())
        .chain(std::iter::once(mix_bytes.as_slice()))
        .zip(&names)
        .map(|(bytes, name)| (name.as_str(), content_type, bytes))
        .collect();
    let mut stored = put_media_group(&files).await?;
    let mix = stored
        .pop()
        .ok_or_else(|| ApiError::internal("the store answered for a different set of files"))?;
    let stems = stems
        .into_iter()
        .map(|(name, _)| name)
        .zip(stored)
        .collect();
    Ok((mix, stems))
}
