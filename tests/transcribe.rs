//! `/api/transcribe/` end to end with the real packaged Whisper weights: espeak-ng speech
//! (tests/fixtures/speech) through the host's `whisper` graph, compared with what
//! faster-whisper gives on the same weights, plus every bad-input case.
//!
//! Needs the default models installed (`make test` pulls them first).

use http::{Method, StatusCode};
use songforge_audio::{decode, encode_flac};
use songforge_e2e::*;
use std::path::{Path, PathBuf};

fn fixture(name: &str) -> PathBuf {
    repo().join("tests/fixtures/speech").join(name)
}

fn read(name: &str) -> Vec<u8> {
    std::fs::read(fixture(name)).expect("fixture")
}

/// Both Whisper graphs on the CPU.
fn whisper_config(state: &Path, models: PathBuf) -> songforge::ServerConfig {
    config_with_graphs(
        state,
        "[wasi_nn.graphs.whisper]\nengine = \"whisper\"\nmodel = \"whisper-base\"\ntarget = \"cpu\"\n\n\
         [wasi_nn.graphs.whisper-tiny-en]\nengine = \"whisper\"\nmodel = \"whisper-tiny-en\"\ntarget = \"cpu\"\n",
        models,
    )
}

/// The response's `transcribed_text`, lower-cased (empty when absent).
fn lower_text(j: &serde_json::Value) -> String {
    j["transcribed_text"]
        .as_str()
        .unwrap_or_default()
        .to_lowercase()
}

/// The health report's line for graph `name`.
async fn health_graph(http: &Http, name: &str) -> serde_json::Value {
    let health = http.get("/api/health/").await.json();
    health["models"]
        .as_array()
        .and_then(|m| m.iter().find(|g| g["name"] == name))
        .cloned()
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn speech_is_transcribed_as_faster_whisper_does() {
    let state = scratch_dir("transcribe-speech");
    let server = start(whisper_config(&state, models_dir())).await;
    let http = Http::new(server.addr);
    let peer: serde_json::Value =
        serde_json::from_slice(&read("faster-whisper-base.json")).expect("peer json");
    let truth: Vec<(String, String)> = std::fs::read_to_string(fixture("texts.tsv"))
        .expect("texts")
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .map(|(a, b)| (format!("{a}.wav"), b.to_string()))
        .collect();

    let whisper = health_graph(&http, "whisper").await;
    assert_eq!(whisper["available"], true, "{whisper}");
    assert_eq!(whisper["model"], "whisper-base", "{whisper}");
    assert_eq!(whisper["device"], "cpu", "{whisper}");

    let (mut ours_vs_peer, mut ours_vs_truth, mut peer_vs_truth) = (vec![], vec![], vec![]);
    for (clip, text) in &truth {
        let r = transcribe(&http, &read(clip), clip, &[("beam_size", "1")]).await;
        assert_eq!(r.status, StatusCode::OK, "{clip}: {:?}", r.body);
        let j = r.json();
        assert_eq!(j["success"], true);
        assert_eq!(j["language"], "en", "{clip}: {j}");
        assert_eq!(j["engine"], "whisper");
        assert_eq!(j["model"], "whisper-base");
        let ours = j["transcribed_text"].as_str().expect("text").to_string();
        let duration = j["duration"].as_f64().expect("duration");
        assert!((3.0..5.0).contains(&duration), "{clip}: {duration}");
        let segs = j["segments"].as_array().expect("segments");
        assert!(!segs.is_empty());
        let end = segs.last().and_then(|s| s["end"].as_f64()).expect("end");
        assert!(
            end > 2.0 && end <= duration + 0.01,
            "{clip}: last segment ends at {end}"
        );
        let theirs = peer["greedy"][clip]
            .as_str()
            .expect("peer text")
            .to_string();
        ours_vs_peer.push((theirs.clone(), ours.clone()));
        ours_vs_truth.push((text.clone(), ours));
        peer_vs_truth.push((text.clone(), theirs));
    }
    // Corpus word error rates, as fractions of the reference words.
    let agreement = corpus_word_error_rate(&ours_vs_peer);
    let (ours, theirs) = (
        corpus_word_error_rate(&ours_vs_truth),
        corpus_word_error_rate(&peer_vs_truth),
    );
    eprintln!(
        "WER ours↔faster-whisper {:.1}%, vs truth: ours {:.1}%, faster-whisper {:.1}%",
        agreement * 100.0,
        ours * 100.0,
        theirs * 100.0
    );
    assert!(agreement <= 0.02, "{ours_vs_peer:?}");
    assert!(
        ours <= theirs + 1e-9,
        "ours {ours} vs faster-whisper {theirs}"
    );

    // Beam search (the default) on the same clips, against the peer's beam-5 output.
    let r = transcribe(&http, &read("clip4.wav"), "clip4.wav", &[]).await;
    assert_eq!(r.status, StatusCode::OK);
    let beam = r.json()["transcribed_text"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let peer_beam = peer["beam5"]["clip4.wav"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        word_error_rate(&peer_beam, &beam) <= 0.02,
        "{beam} vs {peer_beam}"
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wav_mp3_and_flac_of_one_clip_give_the_same_text_in_every_format() {
    let state = scratch_dir("transcribe-formats");
    let server = start(whisper_config(&state, models_dir())).await;
    let http = Http::new(server.addr);
    let wav = read("clip1.wav");
    let flac = encode_flac(&decode(&wav, None).expect("decode"), 16).expect("flac");
    let greedy = [("beam_size", "1")];
    let mut texts = Vec::new();
    for (bytes, name) in [
        (wav.clone(), "clip1.wav"),
        (read("clip1.mp3"), "clip1.mp3"),
        (flac, "clip1.flac"),
    ] {
        let r = transcribe(&http, &bytes, name, &greedy).await;
        assert_eq!(r.status, StatusCode::OK, "{name}: {:?}", r.body);
        texts.push(
            r.json()["transcribed_text"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        );
    }
    assert_eq!(texts[0], texts[1], "mp3");
    assert_eq!(texts[0], texts[2], "flac");

    // The English-only tiny model, picked per request.
    let r = transcribe(
        &http,
        &wav,
        "clip1.wav",
        &[("model", "whisper-tiny-en"), ("beam_size", "1")],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let j = r.json();
    assert_eq!(j["model"], "whisper-tiny-en");
    assert_eq!(j["language"], "en");
    let tiny = j["transcribed_text"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(tiny.to_lowercase().contains("lazy dog"), "{tiny}");

    // A raw body with options in the query, plain text out.
    let r = http
        .send(
            Method::POST,
            "/api/transcribe?response_format=text&beam_size=1",
            &[("content-type", "audio/wav")],
            wav.clone(),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        r.header("content-type")
            .unwrap_or_default()
            .starts_with("text/plain")
    );
    assert_eq!(String::from_utf8_lossy(&r.body).trim(), texts[0]);

    let r = transcribe(
        &http,
        &wav,
        "clip1.wav",
        &[("response_format", "srt"), ("beam_size", "1")],
    )
    .await;
    let srt = String::from_utf8_lossy(&r.body).to_string();
    assert!(srt.starts_with("1\n00:00:00,000 --> 00:00:0"), "{srt}");
    assert!(srt.contains(texts[0].as_str()), "{srt}");
    let r = transcribe(
        &http,
        &wav,
        "clip1.wav",
        &[("response_format", "vtt"), ("beam_size", "1")],
    )
    .await;
    let vtt = String::from_utf8_lossy(&r.body).to_string();
    assert!(vtt.starts_with("WEBVTT\n\n00:00:00.000 --> "), "{vtt}");

    // A stored upload, by URL, in JSON.
    let url = http.upload_wav(wav).await;
    let r = http
        .post_json(
            "/api/transcribe/",
            &serde_json::json!({"audio_url": url, "beam_size": 1}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(
        r.json()["transcribed_text"].as_str(),
        Some(texts[0].as_str())
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_inputs_get_clear_errors() {
    let state = scratch_dir("transcribe-bad");
    let mut cfg = whisper_config(&state, models_dir());
    cfg.env = std::sync::Arc::new(|k| {
        (k == "SPIN_VARIABLE_TRANSCRIBE_MAX_SECONDS").then(|| "2".to_string())
    });
    let server = start(cfg).await;
    let http = Http::new(server.addr);
    let expect = expect_error;
    let (ct, body) = (
        "multipart/form-data; boundary=b1",
        "--b1\r\nContent-Disposition: form-data; name=\"language\"\r\n\r\nen\r\n--b1--\r\n",
    );
    let r = http
        .send(
            Method::POST,
            "/api/transcribe/",
            &[("content-type", ct)],
            body,
        )
        .await;
    expect(&r, StatusCode::BAD_REQUEST, Some("audio_file"));
    let r = transcribe(&http, b"", "empty.wav", &[]).await;
    expect(&r, StatusCode::UNPROCESSABLE_ENTITY, Some("audio_file"));
    let r = transcribe(&http, b"this is not audio at all", "x.wav", &[]).await;
    expect(&r, StatusCode::UNPROCESSABLE_ENTITY, Some("audio_file"));
    let r = transcribe(&http, &read("clip1.wav"), "clip1.wav", &[]).await;
    expect(&r, StatusCode::PAYLOAD_TOO_LARGE, Some("audio_file"));
    let short = wav_tone(8000);
    for (field, value) in [
        ("language", "klingon!"),
        ("task", "summarise"),
        ("response_format", "docx"),
        ("beam_size", "99"),
        ("model", "gpt-4"),
        ("skip_silence", "maybe"),
    ] {
        let r = transcribe(&http, &short, "tone.wav", &[(field, value)]).await;
        expect(&r, StatusCode::BAD_REQUEST, Some(field));
    }
    let r = http
        .post_json(
            "/api/transcribe/",
            &serde_json::json!({"audio_url": "/media/nothing_here.wav"}),
        )
        .await;
    expect(&r, StatusCode::NOT_FOUND, Some("audio_url"));
    let r = http
        .send(
            Method::POST,
            "/api/transcribe/",
            &[("content-type", "text/plain")],
            "hello",
        )
        .await;
    expect(&r, StatusCode::UNSUPPORTED_MEDIA_TYPE, None);
    let r = http.get("/api/transcribe/").await;
    expect(&r, StatusCode::METHOD_NOT_ALLOWED, None);
    // A well-formed code the model has no token for is the graph's 422; a known one works.
    let raw = |lang: &'static str| {
        let http = &http;
        let short = short.clone();
        async move {
            http.send(
                Method::POST,
                &format!("/api/transcribe?language={lang}"),
                &[("content-type", "audio/wav")],
                short,
            )
            .await
        }
    };
    let r = raw("xx").await;
    expect(&r, StatusCode::UNPROCESSABLE_ENTITY, None);
    assert!(
        r.json()["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("xx")
    );
    let r = raw("de").await;
    assert_eq!(r.status, StatusCode::OK, "base knows German: {:?}", r.body);
    server.shutdown().await;
    assert!(
        stored_keys(&state).is_empty(),
        "nothing is stored by transcription"
    );

    // Models not installed: 503 naming the model and the command that installs it.
    let state = scratch_dir("transcribe-no-model");
    let server = start(whisper_config(&state, state.join("empty-store"))).await;
    let http = Http::new(server.addr);
    let r = transcribe(&http, &short, "tone.wav", &[]).await;
    expect(&r, StatusCode::SERVICE_UNAVAILABLE, None);
    let msg = r.json()["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        msg.contains("whisper-base") && msg.contains("songforge models pull whisper-base"),
        "{msg}"
    );
    let whisper = health_graph(&http, "whisper").await;
    assert_eq!(whisper["available"], false, "{whisper}");
    let reason = whisper["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("songforge models pull whisper-base"),
        "{whisper}"
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn languages_are_detected_translation_works_and_long_audio_is_stitched() {
    let state = scratch_dir("transcribe-long");
    let server = start(whisper_config(&state, models_dir())).await;
    let http = Http::new(server.addr);

    // German speech: detected, transcribed, and translated into English.
    let de = read("de1.wav");
    let r = transcribe(&http, &de, "de1.wav", &[("beam_size", "1")]).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let j = r.json();
    assert_eq!(j["language"], "de", "{j}");
    let text = lower_text(&j);
    assert!(
        text.contains("guten morgen") && text.contains("sonne"),
        "{text}"
    );
    let r = transcribe(
        &http,
        &de,
        "de1.wav",
        &[("beam_size", "1"), ("task", "translate")],
    )
    .await;
    let j = r.json();
    assert_eq!(j["task"], "translate");
    let text = lower_text(&j);
    assert!(text.contains("good morning"), "{text}");

    // 39 s: the four sentences twice with pauses, so two 30 s windows must be stitched.
    let mut long = Vec::new();
    for _ in 0..2 {
        for i in 1..=4 {
            let a = decode(&read(&format!("clip{i}.wav")), None).expect("decode");
            long.extend_from_slice(&a.channels[0]);
            long.extend(std::iter::repeat_n(0.0, 16_000));
        }
    }
    let audio = songforge_audio::Audio {
        sample_rate: 16_000,
        channels: vec![long],
    };
    let wav =
        songforge_audio::encode_wav(&audio, songforge_audio::SampleFormat::Int16).expect("wav");
    let r = transcribe(
        &http,
        &wav,
        "long.wav",
        &[("model", "whisper-tiny-en"), ("beam_size", "1")],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let j = r.json();
    let text = lower_text(&j);
    for word in ["lazy", "store", "universe", "river"] {
        assert_eq!(text.matches(word).count(), 2, "{word} twice in {text}");
    }
    let segs = j["segments"].as_array().cloned().unwrap_or_default();
    let starts: Vec<f64> = segs.iter().filter_map(|s| s["start"].as_f64()).collect();
    assert!(starts.windows(2).all(|w| w[0] <= w[1]), "{starts:?}");
    let last_end = segs
        .last()
        .and_then(|s| s["end"].as_f64())
        .unwrap_or_default();
    let duration = j["duration"].as_f64().unwrap_or_default();
    assert!(
        last_end > 30.0 && last_end <= duration + 0.01,
        "{last_end} of {duration}"
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn long_silences_are_left_out_and_segments_start_with_the_speech() {
    let state = scratch_dir("transcribe-silence");
    let server = start(whisper_config(&state, models_dir())).await;
    let http = Http::new(server.addr);

    // 20 s of silence, a sentence, 40 s of silence, a sentence, 20 s of silence.
    let clip1 = decode(&read("clip1.wav"), None).expect("decode").channels[0].clone();
    let clip2 = decode(&read("clip2.wav"), None).expect("decode").channels[0].clone();
    let mut samples = vec![0.0; 20 * 16_000];
    samples.extend_from_slice(&clip1);
    samples.extend(std::iter::repeat_n(0.0, 40 * 16_000));
    let second = samples.len() as f64 / 16_000.0;
    samples.extend_from_slice(&clip2);
    samples.extend(std::iter::repeat_n(0.0, 20 * 16_000));
    let audio = songforge_audio::Audio {
        sample_rate: 16_000,
        channels: vec![samples],
    };
    let wav =
        songforge_audio::encode_wav(&audio, songforge_audio::SampleFormat::Int16).expect("wav");
    let fields = [("model", "whisper-tiny-en"), ("beam_size", "1")];

    let r = transcribe(&http, &wav, "padded.wav", &fields).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let j = r.json();
    let text = lower_text(&j);
    assert_eq!(text.matches("lazy").count(), 1, "{text}");
    assert_eq!(text.matches("store").count(), 1, "{text}");
    let segs = j["segments"].as_array().cloned().unwrap_or_default();
    let span = |s: &serde_json::Value| {
        (
            s["start"].as_f64().unwrap_or(-1.0),
            s["end"].as_f64().unwrap_or(-1.0),
        )
    };
    // Segments start with the speech (Whisper alone cannot put a window's first timestamp
    // later than 1 s, so without the skip the first segment starts at 0).
    let (first_start, _) = span(&segs[0]);
    assert!((19.5..=20.3).contains(&first_start), "{segs:?}");
    let store = segs
        .iter()
        .find(|s| {
            s["text"]
                .as_str()
                .unwrap_or_default()
                .to_lowercase()
                .contains("store")
        })
        .expect("a segment with the second sentence");
    assert!((span(store).0 - second).abs() < 0.6, "{store} vs {second}");
    // No segment lies wholly in the silences.
    let speech = [
        (20.0, 20.0 + clip1.len() as f64 / 16_000.0),
        (second, second + clip2.len() as f64 / 16_000.0),
    ];
    for s in &segs {
        let (a, b) = span(s);
        assert!(
            speech.iter().any(|&(x, y)| a < y && b > x),
            "{s} is in silence"
        );
    }
    assert!(j["skipped_segments"].is_array(), "{j}");

    // Asked not to skip, the engine decodes the silence as Whisper does.
    let mut off = fields.to_vec();
    off.push(("skip_silence", "false"));
    let r = transcribe(&http, &wav, "padded.wav", &off).await;
    let j = r.json();
    let first = j["segments"][0]["start"].as_f64().unwrap_or(-1.0);
    assert!(first < 1.5, "{j}");
}
