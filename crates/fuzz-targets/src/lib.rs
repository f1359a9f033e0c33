//! The fuzz targets: each function takes arbitrary bytes, feeds them to one parser the way a
//! request (or the host's start-up) does, and asserts what must hold for any input. A panic
//! is a finding: libFuzzer saves the input, and it then joins `fuzz/regressions/<target>/`,
//! which `tests/replay.rs` replays on every `cargo test`.
//!
//! The cargo-fuzz binaries in `fuzz/` are one line each around these functions, so the same
//! code runs under coverage-guided fuzzing (nightly) and in the regression tests (stable).

pub mod alloc_cap;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, header::CONTENT_TYPE};
use songforge_guest::ApiError;
use songforge_guest::conditional::{
    RangeDecision, content_range, decide_range, if_none_match, if_range_allows,
};
use songforge_guest::request::{decode_json, multipart_boundary, parse_json, parse_multipart};
use songforge_prosody::Dictionary;
use std::path::Path;

/// A fuzz target: bytes in, a panic on a broken property.
pub type Target = fn(&[u8]);

/// Every target by the name its cargo-fuzz binary, corpus and regression folders carry.
pub const TARGETS: &[(&str, Target)] = &[
    ("multipart", multipart),
    ("audio_decode", audio_decode),
    ("lyrics_request", lyrics_request),
    ("instrumental_request", instrumental_request),
    ("vocals_request", vocals_request),
    ("mix_request", mix_request),
    ("song_request", song_request),
    ("transcribe_request", transcribe_request),
    ("spin_toml", spin_toml),
    ("runtime_config", runtime_config),
    ("range", range),
    ("tensor_body", tensor_body),
];

/// The longest audio the decode target accepts: the routes pass their own limit (minutes);
/// a shorter one reaches the same early stop with less memory per input.
pub const AUDIO_MAX_SECONDS: f64 = 30.0;

/// A request error must be the client's (4xx): a 5xx from bad input would tell a user the
/// server failed when their request did.
fn client_error(e: &ApiError, what: &str) {
    let status = e.status();
    assert!(
        status.is_client_error(),
        "{what}: bad input answered {status}: {}",
        e.message()
    );
}

/// A few words with pronunciations; every other word goes through the letter-to-sound rules,
/// as words missing from CMUdict do in the routes.
fn dictionary() -> Dictionary {
    const WORDS: &str = "again AH0 G EY1 N\nday D EY1\nfire F AY1 ER0\nheart HH AA1 R T\n\
        light L AY1 T\nlove L AH1 V\nnight N AY1 T\nrain R EY1 N\nsky S K AY1\nstay S T EY1\n";
    Dictionary::parse(WORDS.to_string()).expect("the fuzz dictionary parses")
}

fn json_headers() -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers
}

/// `multipart/form-data` as /media/, /api/transcribe/, /api/vocals/ and /api/songs/ read it.
/// The first line is the `Content-Type` header (with its boundary), the rest the body.
pub fn multipart(data: &[u8]) {
    let split = data.iter().position(|&b| b == b'\n').unwrap_or(data.len());
    let Ok(content_type) = std::str::from_utf8(&data[..split]) else {
        return;
    };
    let body = Bytes::copy_from_slice(data.get(split + 1..).unwrap_or_default());
    let Ok(boundary) = multipart_boundary(content_type) else {
        return;
    };
    let Ok(parts) = parse_multipart(&body, &boundary) else {
        return;
    };
    let mut total = 0;
    for part in &parts {
        // Parts are slices of the body, in order, never overlapping.
        total += part.data.len();
        assert!(total <= body.len(), "parts hold more bytes than the body");
        let _ = part.text();
        let _ = part.media_type();
    }
}

/// Audio decoding (WAV through hound, FLAC/MP3/OGG/M4A and other WAVs through symphonia), as
/// every route that reads a recording or a track calls it.
pub fn audio_decode(data: &[u8]) {
    let Ok(audio) = songforge_audio::decode(data, Some(AUDIO_MAX_SECONDS)) else {
        return;
    };
    assert!(audio.sample_rate > 0, "decoded audio with sample rate 0");
    assert!(!audio.channels.is_empty(), "decoded audio without channels");
    let frames = audio.frames();
    assert!(frames > 0, "decoded audio without samples");
    assert!(
        audio.channels.iter().all(|c| c.len() == frames),
        "channels of different lengths"
    );
    assert!(
        audio.duration_s() <= AUDIO_MAX_SECONDS + 1.0,
        "decoded {} s past the {AUDIO_MAX_SECONDS} s limit",
        audio.duration_s()
    );
    assert!(
        audio.channels.iter().flatten().all(|s| s.is_finite()),
        "decoded samples that are not finite numbers"
    );
}

/// `POST /api/generate-lyrics/`: the JSON body, then the fit to a duration (before any model).
pub fn lyrics_request(data: &[u8]) {
    let body: serde_json::Value = match parse_json(&json_headers(), data) {
        Ok(v) => v,
        Err(e) => return client_error(&e, "lyrics JSON"),
    };
    let Ok(mut request) = songforge_lyrics::LyricsRequest::from_json(&body) else {
        return;
    };
    let _ = request.fit_duration(&dictionary());
}

/// `POST /api/generate-instrumental/`: the JSON body, its checks, then the arrangement the
/// lyrics and the plan make (the song form, before any audio).
pub fn instrumental_request(data: &[u8]) {
    let request: songforge_arranger::api::InstrumentalRequest =
        match parse_json(&json_headers(), data) {
            Ok(r) => r,
            Err(e) => return client_error(&e, "instrumental JSON"),
        };
    let Ok(valid) = request.validate() else {
        return;
    };
    let seed = valid.seed.unwrap_or(7);
    let plan = valid.plan(seed);
    if let Ok(arrangement) = songforge_arranger::arrange(&valid.lyrics, &plan, &dictionary()) {
        assert!(
            arrangement
                .notes
                .iter()
                .all(|n| n.duration > 0 && (1..=127).contains(&n.velocity) && n.key <= 127),
            "a note the MIDI file cannot hold"
        );
        songforge_arranger::write_midi(&arrangement).expect("the arrangement's MIDI file");
    }
}

/// `POST /api/generate-vocals/`: the JSON body, or a form's text fields (first byte odd).
pub fn vocals_request(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let request = if mode % 2 == 0 {
        match parse_json::<songforge_vocals::VocalsRequest>(&json_headers(), rest) {
            Ok(r) => r,
            Err(e) => return client_error(&e, "vocals JSON"),
        }
    } else {
        let text = String::from_utf8_lossy(rest);
        let fields = form_fields(&text);
        match songforge_vocals::request::from_form_fields(fields) {
            Ok(r) => r,
            Err(_) => return,
        }
    };
    let _ = request.validate(None);
}

/// `POST /api/mix-audio/`: the JSON body, then the mix plan (every track, level and effect
/// checked before any audio is fetched).
pub fn mix_request(data: &[u8]) {
    let request: songforge_mixer::api::MixRequest = match parse_json(&json_headers(), data) {
        Ok(r) => r,
        Err(e) => return client_error(&e, "mix JSON"),
    };
    if let Ok(plan) = request.plan() {
        assert!(!plan.tracks.is_empty(), "a mix plan without tracks");
    }
}

/// `POST /api/songs/`: the JSON body, or a form's text fields (first byte odd), then every
/// field's check (the user's lyrics against a duration included).
pub fn song_request(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let fields = if mode % 2 == 0 {
        match decode_json::<songforge_song_request::Fields>(rest) {
            Ok(f) => f,
            Err(e) => return client_error(&e, "song JSON"),
        }
    } else {
        let text = String::from_utf8_lossy(rest);
        match songforge_song_request::fields_from_form(form_fields(&text)) {
            Ok(f) => f,
            Err(_) => return,
        }
    };
    let hosts = ["http://127.0.0.1:*".to_string()];
    let _ = fields.validate(7, || Ok::<_, ()>(dictionary()), &hosts);
}

/// `POST /api/transcribe/`: the query string's options (as a raw-audio upload sends them),
/// then a JSON body's members as `audio_url` requests send them.
pub fn transcribe_request(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let (query, json) = text.split_once('\n').unwrap_or((&text, ""));
    let mut pairs = songforge_guest::request::query_pairs(query);
    if let Ok(serde_json::Value::Object(members)) = serde_json::from_str(json) {
        pairs.extend(songforge_transcript::json_pairs(&members));
    }
    let _ = songforge_transcript::TranscribeOptions::from_pairs(
        pairs.iter().map(|(a, b)| (a.as_str(), b.as_str())),
    );
}

/// `spin.toml`, as `songforge up --manifest` reads it.
pub fn spin_toml(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(e) = songforge_app_config::manifest::Manifest::parse(Path::new("spin.toml"), text) {
        assert!(
            !e.to_string().is_empty(),
            "a manifest error without a message"
        );
    }
}

/// `runtime-config.toml`, as `songforge up --runtime-config` reads it.
pub fn runtime_config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let file = Path::new("runtime-config.toml");
    match songforge_app_config::runtime_config::RuntimeConfig::parse(file, text) {
        // Every accepted store is one the host can open: a redb file, or a Redis URL.
        Ok(config) => {
            for (label, store) in &config.key_value_store {
                let ok = match store.kind.as_str() {
                    "redb" => store.url.is_none(),
                    "redis" => {
                        store.path.is_none()
                            && store
                                .url
                                .as_deref()
                                .is_some_and(|u| u.starts_with("redis://"))
                    }
                    _ => false,
                };
                assert!(ok, "store `{label}` accepted as {store:?}");
            }
        }
        Err(e) => assert!(
            !e.to_string().is_empty(),
            "a runtime config error without a message"
        ),
    }
}

/// `Range`, `If-Range` and `If-None-Match` on GET /media/: the first 8 bytes are the stored
/// file's length, the rest three header values, one per line.
pub fn range(data: &[u8]) {
    let Some((len, rest)) = data.split_first_chunk::<8>() else {
        return;
    };
    // Lengths up to the body limit and a little past, with the edges 0 and 1 common.
    let len = u64::from_le_bytes(*len) % (1 << 28);
    let text = String::from_utf8_lossy(rest);
    let mut lines = text.split('\n');
    let range = lines.next();
    let etag = "\"3f2a\"";
    let _ = lines.next().map(|h| if_none_match(h, etag));
    let _ = lines.next().map(|h| if_range_allows(h, etag));
    match decide_range(range, len) {
        RangeDecision::Partial { start, end } => {
            assert!(
                start <= end && end < len,
                "range {range:?} on {len} bytes gave {start}-{end}"
            );
            let header = content_range(start, end, len);
            assert!(header.starts_with("bytes "), "Content-Range {header}");
        }
        RangeDecision::Unsatisfiable => {
            // 416 only for a well-formed byte range that misses the file.
            let r = range.unwrap_or_default().to_ascii_lowercase();
            assert!(r.contains("bytes"), "416 for {range:?}");
        }
        RangeDecision::Full => {}
    }
}

/// The inference service's binary tensor body (serve-nn reads it from app hosts, the wasi-nn
/// over HTTP component from the service): whatever is accepted has consistent tensors and
/// is written back byte for byte.
pub fn tensor_body(data: &[u8]) {
    use songforge_inference::contract::service::{decode, encode_named};
    if let Ok(tensors) = decode(data) {
        assert!(tensors.iter().all(|t| t.tensor.is_consistent()));
        let again = encode_named(&tensors).expect("a decoded body encodes");
        assert_eq!(again, data, "the body does not round-trip");
    }
}

/// `name=value` lines, as the text parts of a form reach the request builders.
fn form_fields(text: &str) -> Vec<(&str, &str)> {
    text.lines()
        .filter_map(|line| line.split_once('='))
        .collect()
}
