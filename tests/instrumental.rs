//! `/api/generate-instrumental/` end to end: the real component composing and rendering with
//! the installed soundfont, the outputs fetched back and checked by independent tools: aubio's
//! beat tracker for the tempo, a chroma key estimate, midly for the MIDI, and sums of the stems.

use http::{Method, StatusCode};
use midly::{MetaMessage, MidiMessage, Smf, TrackEventKind};
use realfft::RealFftPlanner;
use songforge_audio::{Audio, decode};
use songforge_e2e::*;

const LYRICS: &str = "Verse 1:\nCity lights are calling out my name\nEvery window glowing like a flame\nI walk the avenue alone tonight\nChasing every shadow into light\n\n\
Chorus:\nWe are the fire in the rain\nWe are the music in the pain\nHold on, hold on, we rise again\nWe are the fire in the rain\n\n\
Verse 2:\nMorning comes and paints the sky in gold\nEvery story waiting to be told\nI hear the rhythm underneath my feet\nThe city has a heart, a steady beat\n\n\
Chorus:\nWe are the fire in the rain\nWe are the music in the pain\nHold on, hold on, we rise again\nWe are the fire in the rain";

fn app(state: &std::path::Path, models: std::path::PathBuf) -> songforge::ServerConfig {
    let mut c = config(app_manifest(), state);
    c.models_dir = models;
    c
}

async fn fetch_audio(http: &Http, url: &str) -> (Vec<u8>, Audio) {
    let r = http.get(url).await;
    assert_eq!(r.status, StatusCode::OK, "{url}");
    let bytes = r.body.to_vec();
    let audio = decode(&bytes, None).expect("decode the rendered audio");
    (bytes, audio)
}

/// Key from the audio alone: a chroma vector (FFT magnitudes folded onto pitch classes,
/// 55 Hz to 2 kHz) correlated with the Krumhansl-Kessler profiles. Returns (tonic, minor?).
fn estimate_key(audio: &Audio) -> (usize, bool) {
    let mono: Vec<f32> = (0..audio.frames())
        .map(|i| audio.channels.iter().map(|c| c[i]).sum::<f32>())
        .collect();
    let n = 8192;
    let mut fft = RealFftPlanner::<f32>::new();
    let plan = fft.plan_fft_forward(n);
    let mut spectrum = plan.make_output_vec();
    let window: Vec<f32> = (0..n)
        .map(|i| 0.5 - 0.5 * (std::f32::consts::TAU * i as f32 / n as f32).cos())
        .collect();
    let mut chroma = [0f64; 12];
    let rate = audio.sample_rate as f32;
    let mut start = 0;
    while start + n <= mono.len() {
        let mut frame: Vec<f32> = mono[start..start + n]
            .iter()
            .zip(&window)
            .map(|(s, w)| s * w)
            .collect();
        plan.process(&mut frame, &mut spectrum).expect("fft");
        for (bin, c) in spectrum.iter().enumerate().skip(1) {
            let hz = bin as f32 * rate / n as f32;
            if !(55.0..=2000.0).contains(&hz) {
                continue;
            }
            let pc = ((12.0 * (hz / 440.0).log2() + 69.0).round() as i64).rem_euclid(12) as usize;
            chroma[pc] += f64::from(c.norm());
        }
        start += n / 2;
    }
    let major = [
        6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88,
    ];
    let minor = [
        6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17,
    ];
    let corr = |profile: &[f64; 12], tonic: usize| {
        let p: Vec<f64> = (0..12).map(|i| profile[(i + 12 - tonic) % 12]).collect();
        let (mp, mc) = (
            p.iter().sum::<f64>() / 12.0,
            chroma.iter().sum::<f64>() / 12.0,
        );
        let num: f64 = (0..12).map(|i| (p[i] - mp) * (chroma[i] - mc)).sum();
        let den = (p.iter().map(|x| (x - mp).powi(2)).sum::<f64>()
            * chroma.iter().map(|x| (x - mc).powi(2)).sum::<f64>())
        .sqrt();
        num / den
    };
    let mut best = (0, false, f64::MIN);
    for tonic in 0..12 {
        for (minor_mode, profile) in [(false, &major), (true, &minor)] {
            let c = corr(profile, tonic);
            if c > best.2 {
                best = (tonic, minor_mode, c);
            }
        }
    }
    (best.0, best.1)
}

/// Tonic pitch class and mode of a key the response names, e.g. `F# minor`.
fn parse_key(name: &str) -> (usize, bool) {
    let (tonic, mode) = name.split_once(' ').expect("key has a mode");
    let base = [
        "C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B",
    ];
    let flats = [
        "C", "Db", "D", "Eb", "E", "F", "Gb", "G", "Ab", "A", "Bb", "B",
    ];
    let pc = base
        .iter()
        .position(|n| *n == tonic)
        .or_else(|| flats.iter().position(|n| *n == tonic))
        .expect("known tonic");
    (pc, mode == "minor")
}

/// Same key, or its relative major/minor.
fn keys_agree(a: (usize, bool), b: (usize, bool)) -> bool {
    let relative_major = |(t, minor): (usize, bool)| if minor { (t + 3) % 12 } else { t };
    relative_major(a) == relative_major(b)
}

/// (tempo µs/beat, notes per channel) from a MIDI file.
fn read_midi(bytes: &[u8]) -> (u32, std::collections::BTreeMap<u8, usize>) {
    let smf = Smf::parse(bytes).expect("the MIDI file parses");
    let mut tempo = 0;
    let mut notes = std::collections::BTreeMap::new();
    for track in &smf.tracks {
        for ev in track {
            match ev.kind {
                TrackEventKind::Meta(MetaMessage::Tempo(t)) => tempo = t.as_int(),
                TrackEventKind::Midi {
                    channel,
                    message: MidiMessage::NoteOn { vel, .. },
                } if vel.as_int() > 0 => *notes.entry(channel.as_int()).or_default() += 1,
                _ => {}
            }
        }
    }
    (tempo, notes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seed_request_gives_a_song_with_stems_midi_and_a_map() {
    let state = scratch_dir("instrumental-seed");
    let server = start(app(&state, models_dir())).await;
    let http = Http::new(server.addr);
    let r = http
        .post_json(
            "/api/generate-instrumental/",
            &serde_json::json!({"lyrics": LYRICS, "genre": "pop", "seed": 42}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let j = r.json();
    assert_eq!(j["success"], true);
    assert_eq!(j["format"], "wav");
    assert_eq!(j["engine"], "arranger");
    assert_eq!(
        j["instruments"], "timgm6mb",
        "the default soundfont is installed by make"
    );
    assert_eq!(j["genre_preset"], "pop");
    assert_eq!(j["form_source"], "headings");
    let url = j["url"].as_str().expect("url");
    assert!(
        url.starts_with("/media/instrumental_") && url.ends_with(".wav"),
        "{url}"
    );

    // The map: sections from the lyrics in order, with an intro and outro, tiling the bars.
    let map = &j["arrangement"];
    let names: Vec<&str> = map["sections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["Intro", "Verse 1", "Chorus", "Verse 2", "Chorus", "Outro"]
    );
    let bpm = j["bpm"].as_f64().unwrap();
    let bar_s = 240.0 / bpm;
    let bars: f64 = map["sections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["bars"].as_f64().unwrap())
        .sum();
    let duration = j["duration"].as_f64().unwrap();
    assert!(
        (duration - bars * bar_s).abs() <= bar_s,
        "{duration} vs {bars} bars"
    );
    assert_eq!(map["chords"].as_array().unwrap().len() as f64, bars);
    // The stored map is the one in the response.
    let stored = http.get(j["arrangement_url"].as_str().unwrap()).await;
    let stored: serde_json::Value = serde_json::from_slice(&stored.body).expect("map JSON");
    assert_eq!(&stored, map);

    // The mix: 44.1 kHz stereo, as long as it says, no clipping.
    let (mix_bytes, mix) = fetch_audio(&http, url).await;
    assert_eq!((mix.sample_rate, mix.channel_count()), (44100, 2));
    assert!((mix.duration_s() - duration).abs() < 0.01);
    let peak = mix.sample_peak();
    assert!(peak < 0.95 && peak > 0.5, "peak {peak}");

    // Stems: aligned, as long as the mix, and they add up to it. Each of the five files carries
    // its own ±1 LSB 16-bit dither, so the sum may differ by a few LSB and no more.
    let mut sum = Audio::silence(44100, 2, mix.frames());
    for stem in ["drums", "bass", "harmony", "melody"] {
        let (_, s) = fetch_audio(&http, j["stems"][stem].as_str().unwrap()).await;
        assert_eq!(s.frames(), mix.frames(), "{stem}");
        assert!(s.sample_peak() > 0.01, "{stem} is silent");
        for (acc, ch) in sum.channels.iter_mut().zip(&s.channels) {
            acc.iter_mut().zip(ch).for_each(|(a, b)| *a += b);
        }
    }
    let lsb = 1.0 / 32768.0;
    let diffs: Vec<f32> = sum
        .channels
        .iter()
        .zip(&mix.channels)
        .flat_map(|(a, b)| a.iter().zip(b).map(|(x, y)| x - y))
        .collect();
    let worst = diffs.iter().fold(0f32, |m, d| m.max(d.abs()));
    let rms = (diffs.iter().map(|d| f64::from(d * d)).sum::<f64>() / diffs.len() as f64).sqrt();
    assert!(
        worst <= 6.0 * lsb,
        "stems differ from the mix by up to {worst}"
    );
    assert!(
        rms <= 2.0 * f64::from(lsb),
        "stems differ from the mix by {rms} RMS"
    );

    // The MIDI holds the same notes and tempo the response reports.
    let midi = http.get(j["midi_url"].as_str().unwrap()).await;
    assert_eq!(midi.header("content-type"), Some("audio/midi"));
    let (tempo, per_channel) = read_midi(&midi.body);
    assert_eq!(f64::from(tempo), (60_000_000.0 / bpm).floor());
    let total: usize = per_channel.values().sum();
    let reported: u64 = ["drums", "bass", "harmony", "melody"]
        .iter()
        .map(|p| j["parts"][p]["notes"].as_u64().unwrap())
        .sum();
    assert_eq!(total as u64, reported);
    assert_eq!(
        per_channel.get(&9).copied().unwrap_or(0) as u64,
        j["parts"]["drums"]["notes"].as_u64().unwrap()
    );

    // The same seed renders the same bytes.
    let again = http
        .post_json(
            "/api/generate-instrumental/",
            &serde_json::json!({"lyrics": LYRICS, "genre": "pop", "seed": 42}),
        )
        .await;
    assert_eq!(again.status, StatusCode::OK);
    let (again_bytes, _) = fetch_audio(&http, again.json()["url"].as_str().unwrap()).await;
    assert!(again_bytes == mix_bytes, "same seed, different audio");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_beat_tracker_and_a_key_finder_hear_what_was_asked_for() {
    let state = scratch_dir("instrumental-tempo");
    let server = start(app(&state, models_dir())).await;
    let http = Http::new(server.addr);
    let cases = [
        ("pop", None, None),
        ("rock", Some(132), None),
        ("hip hop", None, Some("D minor")),
        ("EDM", None, None),
        ("pop", Some(100), Some("Eb major")),
    ];
    for (genre, bpm, key) in cases {
        let mut body =
            serde_json::json!({"lyrics": LYRICS, "genre": genre, "seed": 7, "stems": false});
        if let Some(b) = bpm {
            body["bpm"] = b.into();
        }
        if let Some(k) = key {
            body["key"] = k.into();
        }
        let r = http.post_json("/api/generate-instrumental/", &body).await;
        assert_eq!(r.status, StatusCode::OK, "{genre}: {:?}", r.body);
        let j = r.json();
        assert!(j.get("stems").is_none());
        let want_bpm = j["bpm"].as_f64().unwrap();
        if let Some(b) = bpm {
            assert_eq!(want_bpm, f64::from(b));
        }
        if let Some(k) = key {
            assert_eq!(j["key"], k);
        }
        let (bytes, audio) = fetch_audio(&http, j["url"].as_str().unwrap()).await;
        let peak = audio.sample_peak();
        assert!(audio.is_finite() && peak < 0.95, "{genre}: peak {peak}");
        let found = aubio_tempo(&bytes);
        assert!(
            (found - want_bpm).abs() / want_bpm <= 0.02,
            "{genre}: aubio found {found} bpm, asked {want_bpm}"
        );
        let heard = estimate_key(&audio);
        let asked = parse_key(j["key"].as_str().unwrap());
        assert!(
            keys_agree(heard, asked),
            "{genre}: heard {heard:?}, asked {asked:?}"
        );
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_soundfont_the_built_in_synthesiser_plays_and_says_so() {
    let state = scratch_dir("instrumental-builtin");
    // An empty model store: no soundfont to mount.
    let empty = scratch_dir("instrumental-no-models");
    let server = start(app(&state, empty.to_path_buf())).await;
    let http = Http::new(server.addr);
    let r = http
        .post_json(
            "/api/generate-instrumental/",
            &serde_json::json!({"lyrics": "A short song about the sea", "genre": "folk", "duration": 30, "seed": 3}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let j = r.json();
    assert_eq!(j["instruments"], "built-in");
    // A line of plain text is sung as one verse (the vocals endpoint reads it the same way).
    assert_eq!(j["form_source"], "one-verse");
    let duration = j["duration"].as_f64().unwrap();
    let bar_s = 240.0 / j["bpm"].as_f64().unwrap();
    assert!((duration - 30.0).abs() <= bar_s, "{duration}");
    let (bytes, audio) = fetch_audio(&http, j["url"].as_str().unwrap()).await;
    assert!(audio.is_finite() && audio.sample_peak() > 0.5 && audio.sample_peak() < 0.95);
    let found = aubio_tempo(&bytes);
    let want = j["bpm"].as_f64().unwrap();
    assert!(
        (found - want).abs() / want <= 0.02,
        "aubio found {found}, asked {want}"
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_inputs_fail_cleanly_and_write_nothing() {
    let state = scratch_dir("instrumental-errors");
    let server = start(app(&state, models_dir())).await;
    let http = Http::new(server.addr);
    let cases = [
        (
            serde_json::json!({"genre": "pop"}),
            StatusCode::BAD_REQUEST,
            "lyrics",
        ),
        (
            serde_json::json!({"lyrics": ""}),
            StatusCode::BAD_REQUEST,
            "lyrics",
        ),
        (
            serde_json::json!({"lyrics": 5}),
            StatusCode::BAD_REQUEST,
            "lyrics",
        ),
        (
            serde_json::json!({"lyrics": "x", "duration": 4}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "duration",
        ),
        (
            serde_json::json!({"lyrics": "x", "duration": 900}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "duration",
        ),
        (
            serde_json::json!({"lyrics": "x", "bpm": 30}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "bpm",
        ),
        (
            serde_json::json!({"lyrics": "x", "bpm": "fast"}),
            StatusCode::BAD_REQUEST,
            "bpm",
        ),
        (
            serde_json::json!({"lyrics": "x", "key": "H minor"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "key",
        ),
        (
            serde_json::json!({"lyrics": "x", "engine": "orchestra"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "engine",
        ),
        (
            serde_json::json!({"lyrics": "x", "engine": "musicgen"}),
            StatusCode::SERVICE_UNAVAILABLE,
            "engine",
        ),
        (
            serde_json::json!({"lyrics": "x", "melody_url": "/media/tune.wav"}),
            StatusCode::SERVICE_UNAVAILABLE,
            "melody_url",
        ),
        (
            serde_json::json!({"lyrics": "x", "format": "mp3"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "format",
        ),
        (
            serde_json::json!({"lyrics": "x", "tempo": 120}),
            StatusCode::BAD_REQUEST,
            "tempo",
        ),
    ];
    for (body, status, field) in cases {
        let r = http.post_json("/api/generate-instrumental/", &body).await;
        expect_error(&r, status, Some(field));
    }
    let r = http.get("/api/generate-instrumental/").await;
    expect_error(&r, StatusCode::METHOD_NOT_ALLOWED, None);
    let r = http
        .send(
            Method::POST,
            "/api/generate-instrumental/",
            &[("content-type", "text/plain")],
            "lyrics",
        )
        .await;
    expect_error(&r, StatusCode::UNSUPPORTED_MEDIA_TYPE, None);
    server.shutdown().await;
    let keys = stored_keys(&state);
    assert!(keys.is_empty(), "{keys:?}");
}

/// The host's `musicgen` graph on a tiny random-weight checkpoint in the Hugging Face layout
/// (random weights make noise, not music: this checks the plumbing, lengths and seeds).
fn musicgen_app(state: &std::path::Path) -> songforge::ServerConfig {
    musicgen_app_with(state, songforge_musicgen::checkpoint::TINY_CONFIG, 7)
}

/// The host's `musicgen` graph on a random-weight checkpoint of `config` from `seed`.
fn musicgen_app_with(state: &std::path::Path, config: &str, seed: u64) -> songforge::ServerConfig {
    // Inside the test's state dir, so it lives (and goes) with it.
    let model = state.join("musicgen-model");
    std::fs::create_dir_all(&model).expect("model dir");
    songforge_musicgen::checkpoint::write_random(
        &model,
        config,
        songforge_musicgen::checkpoint::TINY_TOKENIZER,
        seed,
    )
    .expect("write the tiny checkpoint");
    config_with_graphs(
        state,
        &format!(
            "[wasi_nn.graphs.musicgen]\nengine = \"musicgen\"\nmodel = \"tiny\"\npath = {:?}\ntarget = \"cpu\"\n",
            model.display().to_string()
        ),
        models_dir(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn musicgen_plays_the_plans_length_when_the_host_serves_it() {
    let state = scratch_dir("instrumental-musicgen");
    let server = start(musicgen_app(&state)).await;
    let http = Http::new(server.addr);
    let body = serde_json::json!({"lyrics": "A short song about the sea", "genre": "pop", "duration": 8, "seed": 5});
    // `auto` picks MusicGen when it is served.
    let r = http.post_json("/api/generate-instrumental/", &body).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let j = r.json();
    assert_eq!(j["engine"], "musicgen");
    assert_eq!(j["instruments"], "musicgen");
    let key = j["key"].as_str().unwrap();
    assert_eq!(
        j["prompt"],
        format!("pop instrumental in {key}, {} bpm", j["bpm"]),
        "the prompt carries the genre, key and tempo"
    );
    assert!(j.get("stems").is_none());
    let duration = j["duration"].as_f64().unwrap();
    let planned = j["arrangement"]["duration"].as_f64().unwrap();
    assert!(
        (duration - planned).abs() < 0.03,
        "{duration} vs plan {planned}"
    );
    let (bytes, audio) = fetch_audio(&http, j["url"].as_str().unwrap()).await;
    assert_eq!((audio.sample_rate, audio.channel_count()), (44_100, 2));
    assert!((audio.duration_s() - duration).abs() < 0.01);
    assert!(audio.is_finite() && audio.sample_peak() > 0.0 && audio.sample_peak() <= 0.9);
    // The map the vocals endpoint sings to is stored beside it.
    let map = http.get(j["arrangement_url"].as_str().unwrap()).await;
    assert_eq!(map.status, StatusCode::OK);

    // Same seed, same audio; stems are the arranger's.
    let again = http.post_json("/api/generate-instrumental/", &body).await;
    let (bytes2, _) = fetch_audio(&http, again.json()["url"].as_str().unwrap()).await;
    assert_eq!(bytes, bytes2);
    let r = http
        .post_json(
            "/api/generate-instrumental/",
            &serde_json::json!({"lyrics": "x", "engine": "musicgen", "stems": true}),
        )
        .await;
    expect_error(&r, StatusCode::UNPROCESSABLE_ENTITY, Some("stems"));
    let r = http
        .post_json(
            "/api/generate-instrumental/",
            &serde_json::json!({"lyrics": "A short song about the sea", "duration": 8, "seed": 5, "stems": true}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.json()["engine"], "arranger");
    server.shutdown().await;
}

/// The host's `musicgen` graph on a tiny random-weight MusicGen Melody checkpoint.
fn musicgen_melody_app(state: &std::path::Path) -> songforge::ServerConfig {
    musicgen_app_with(
        state,
        &songforge_musicgen::checkpoint::tiny_melody_config(),
        8,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn musicgen_melody_follows_a_stored_recording() {
    let state = scratch_dir("instrumental-musicgen-melody");
    let server = start(musicgen_melody_app(&state)).await;
    let http = Http::new(server.addr);
    // Three seconds of A (440 Hz) at 16 kHz, stored as a user would upload it.
    let melody_url = http.upload_wav(wav_tone(48_000)).await;
    let body = serde_json::json!({"lyrics": "A short song about the sea", "genre": "pop",
        "duration": 8, "seed": 5, "melody_url": melody_url});
    let r = http.post_json("/api/generate-instrumental/", &body).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let j = r.json();
    assert_eq!(j["engine"], "musicgen");
    assert_eq!(j["conditioning"], "text+melody");
    let (with_melody, audio) = fetch_audio(&http, j["url"].as_str().unwrap()).await;
    assert_eq!((audio.sample_rate, audio.channel_count()), (44_100, 2));
    assert!((audio.duration_s() - j["duration"].as_f64().unwrap()).abs() < 0.01);
    assert!(audio.is_finite() && audio.sample_peak() > 0.0);

    // The same request without the melody: text alone, another piece.
    let mut text_only = body.clone();
    text_only.as_object_mut().unwrap().remove("melody_url");
    let r = http
        .post_json("/api/generate-instrumental/", &text_only)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.json()["conditioning"], "text");
    let (without, _) = fetch_audio(&http, r.json()["url"].as_str().unwrap()).await;
    assert_ne!(with_melody, without, "the melody changes the piece");

    // Bad melodies name `melody_url`.
    let empty_url = http.upload_wav(wav_tone(0)).await;
    for (melody, status) in [
        (
            "/media/upload_0000000000000000.wav".to_string(),
            StatusCode::NOT_FOUND,
        ),
        (empty_url, StatusCode::UNPROCESSABLE_ENTITY),
        ("tune.wav".to_string(), StatusCode::UNPROCESSABLE_ENTITY),
    ] {
        let r = http
            .post_json(
                "/api/generate-instrumental/",
                &serde_json::json!({"lyrics": "x", "melody_url": melody}),
            )
            .await;
        expect_error(&r, status, Some("melody_url"));
    }
    let r = http
        .post_json(
            "/api/generate-instrumental/",
            &serde_json::json!({"lyrics": "x", "engine": "arranger", "melody_url": melody_url}),
        )
        .await;
    expect_error(&r, StatusCode::UNPROCESSABLE_ENTITY, Some("melody_url"));
    server.shutdown().await;

    // A text-only checkpoint refuses the melody, naming the field.
    let state = scratch_dir("instrumental-musicgen-text-melody");
    let server = start(musicgen_app(&state)).await;
    let http = Http::new(server.addr);
    let melody_url = http.upload_wav(wav_tone(16_000)).await;
    let r = http
        .post_json(
            "/api/generate-instrumental/",
            &serde_json::json!({"lyrics": "x", "duration": 8, "melody_url": melody_url}),
        )
        .await;
    expect_error(&r, StatusCode::UNPROCESSABLE_ENTITY, Some("melody_url"));
    assert!(
        r.json()["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("musicgen_melody")),
        "{:?}",
        r.body
    );
    server.shutdown().await;
}
