//! `/api/mix-audio/` end to end: real uploads, the real mixer component, the output decoded
//! and measured.

use http::{Method, StatusCode};
use songforge_audio::loudness::measure;
use songforge_audio::{Audio, SampleFormat, decode, encode_wav};
use songforge_e2e::*;

fn tone(rate: u32, channels: usize, hz: f32, seconds: f32, amp: f32) -> Audio {
    let s: Vec<f32> = (0..(rate as f32 * seconds) as usize)
        .map(|i| amp * (i as f32 * hz * std::f32::consts::TAU / rate as f32).sin())
        .collect();
    Audio {
        sample_rate: rate,
        channels: vec![s; channels],
    }
}

/// A vocal-like part: a gliding tone that sings every other second.
fn phrases(rate: u32, seconds: f32) -> Audio {
    let mut a = tone(rate, 1, 300.0, seconds, 0.3);
    for (i, s) in a.channels[0].iter_mut().enumerate() {
        if (i / rate as usize) % 2 == 1 {
            *s = 0.0;
        }
    }
    a
}

async fn upload(http: &Http, audio: &Audio) -> String {
    http.upload_wav(encode_wav(audio, SampleFormat::Int16).expect("encode"))
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seed_request_returns_a_mastered_mix() {
    let state = scratch_dir("mix-seed");
    let server = start(config(app_manifest(), &state)).await;
    let http = Http::new(server.addr);
    let inst = upload(&http, &tone(48000, 2, 110.0, 6.0, 0.5)).await;
    let voc = upload(&http, &phrases(22050, 5.0)).await;

    let r = http
        .post_json(
            "/api/mix-audio/",
            &serde_json::json!({"instrumental_url": inst, "vocals_url": voc, "genre": "pop"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let j = r.json();
    assert_eq!(j["success"], true);
    assert_eq!(j["format"], "wav");
    assert_eq!(j["sample_rate"], 44100);
    assert_eq!(j["channels"], 2);
    assert_eq!(j["engine"], "songforge-mixer");
    assert!((j["duration"].as_f64().unwrap() - 6.0).abs() < 0.01, "{j}");
    assert!(
        (j["loudness_lufs"].as_f64().unwrap() + 14.0).abs() <= 0.5,
        "{j}"
    );
    assert!(j["true_peak_dbtp"].as_f64().unwrap() <= -1.0, "{j}");
    // Where the time went, per stage, for clients and browser dev tools.
    let timing = r.header("server-timing").expect("a Server-Timing header");
    for stage in ["fetch", "decode", "mix", "encode", "store"] {
        assert!(
            timing
                .split(", ")
                .any(|t| t.starts_with(&format!("{stage};dur="))),
            "{stage} missing from {timing}"
        );
    }
    let url = j["url"].as_str().unwrap();
    assert!(
        url.starts_with("/media/mix_") && url.ends_with(".wav"),
        "{url}"
    );

    // Measure what was stored, independently of what the response claims.
    let file = http.get(url).await;
    assert_eq!(file.status, StatusCode::OK);
    assert_eq!(file.header("content-type"), Some("audio/wav"));
    let audio = decode(&file.body, None).expect("decodes");
    assert_eq!((audio.sample_rate, audio.channel_count()), (44100, 2));
    assert!((audio.duration_s() - 6.0).abs() < 0.01);
    let m = measure(&audio).unwrap();
    assert!((m.integrated_lufs.unwrap() + 14.0).abs() <= 0.5, "{m:?}");
    assert!(
        m.true_peak_dbtp <= -0.9,
        "{m:?} (16-bit dither adds a hair)"
    );
    assert!(audio.is_finite());
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extended_tracks_offsets_flac_and_stems() {
    let state = scratch_dir("mix-extended");
    let server = start(config(app_manifest(), &state)).await;
    let http = Http::new(server.addr);
    let a = upload(&http, &tone(44100, 2, 220.0, 3.0, 0.4)).await;
    let b = upload(&http, &phrases(44100, 2.0)).await;
    let r = http
        .post_json(
            "/api/mix-audio/",
            &serde_json::json!({
                "tracks": [
                    {"url": a, "role": "instrumental"},
                    {"url": b, "role": "vocals", "offset_ms": 2000, "pan": -0.3, "gain_db": -2}
                ],
                "target_lufs": -16, "format": "flac", "bit_depth": 24, "sample_rate": 48000,
                "stems": true, "genre": "lofi hip hop"
            }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let j = r.json();
    assert_eq!(j["format"], "flac");
    assert_eq!(j["genre"]["preset"], "lo-fi");
    assert!(
        (j["duration"].as_f64().unwrap() - 4.0).abs() < 0.01,
        "longest track plus offset: {j}"
    );
    assert!(
        (j["loudness_lufs"].as_f64().unwrap() + 16.0).abs() <= 0.5,
        "{j}"
    );
    let mix = decode(&http.get(j["url"].as_str().unwrap()).await.body, None).unwrap();
    assert_eq!(mix.sample_rate, 48000);
    assert_eq!(mix.frames(), 192000);
    let stems = j["stems"].as_object().expect("stems");
    assert_eq!(stems.len(), 2);
    for url in stems.values() {
        let stem = decode(&http.get(url.as_str().unwrap()).await.body, None).unwrap();
        assert_eq!(
            stem.frames(),
            mix.frames(),
            "stems are aligned and equal in length"
        );
    }
    let vocal = decode(
        &http.get(stems["vocals"].as_str().unwrap()).await.body,
        None,
    )
    .unwrap();
    assert!(
        vocal.channels[0][..95000].iter().all(|s| s.abs() < 1e-3),
        "silent before its offset"
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_inputs_fail_cleanly_and_write_nothing() {
    let state = scratch_dir("mix-errors");
    let server = start(config(app_manifest(), &state)).await;
    let http = Http::new(server.addr);
    let good = upload(&http, &tone(44100, 1, 440.0, 1.0, 0.3)).await;
    let junk = http.upload_wav(b"RIFF....WAVEjunkjunk".to_vec()).await;

    let cases = [
        (
            serde_json::json!({"vocals_url": "/media/vocals_0000000000000000.wav"}),
            StatusCode::NOT_FOUND,
            "vocals_url",
        ),
        (
            serde_json::json!({"vocals_url": good, "instrumental_url": junk}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "instrumental_url",
        ),
        (
            serde_json::json!({"tracks": [{"url": good, "pan": 2}]}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "tracks[0].pan",
        ),
        (
            serde_json::json!({"vocals_url": good, "format": "ogg"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "format",
        ),
        (
            serde_json::json!({"vocals_url": good, "bit_depth": 20}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "bit_depth",
        ),
        (
            serde_json::json!({"genre": "pop"}),
            StatusCode::BAD_REQUEST,
            "tracks",
        ),
        (
            serde_json::json!({"vocals_url": 7}),
            StatusCode::BAD_REQUEST,
            "vocals_url",
        ),
    ];
    for (body, status, field) in cases {
        let r = http.post_json("/api/mix-audio/", &body).await;
        assert_eq!(r.status, status, "{body}: {:?}", r.body);
        assert_eq!(r.json()["success"], false);
        assert_eq!(r.json()["error"]["field"], field, "{body}");
    }
    let r = http
        .send(
            Method::POST,
            "/api/mix-audio/",
            &[("content-type", "text/plain")],
            "hi",
        )
        .await;
    assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let r = http
        .send(
            Method::POST,
            "/api/mix-audio/",
            &[("content-type", "application/json")],
            "{not json",
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    server.shutdown().await;

    // Only the two uploads are stored (blob + metadata each): no partial mix, no stems.
    let keys = stored_keys(&state);
    assert_eq!(keys.len(), 4, "{keys:?}");
    assert!(keys.iter().all(|k| k.contains("upload_")), "{keys:?}");
}

/// Serves one file on loopback, as a remote storage bucket would.
async fn serve_file(bytes: Vec<u8>) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let bytes = bytes::Bytes::from(bytes);
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let bytes = bytes.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |_req| {
                    let body = http_body_util::Full::new(bytes.clone());
                    async move { Ok::<_, std::convert::Infallible>(http::Response::new(body)) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn absolute_urls_are_fetched_only_from_allowed_hosts() {
    let wav = encode_wav(&tone(44100, 2, 440.0, 2.0, 0.3), SampleFormat::Int16).expect("encode");
    let remote = serve_file(wav).await;
    let dir = scratch_dir("mix-remote");
    let manifest = std::fs::read_to_string(app_manifest())
        .expect("read spin.toml")
        .replace("target/", "../../../target/")
        .replace(
            "[component.mixer.variables]",
            &format!("allowed_outbound_hosts = [\"http://{remote}\"]\n[component.mixer.variables]"),
        );
    let path = dir.join("spin.toml");
    std::fs::write(&path, manifest).expect("write manifest");
    let server = start(config(path, &dir)).await;
    let http = Http::new(server.addr);

    let allowed = format!("http://{remote}/take.wav");
    let r = http
        .post_json(
            "/api/mix-audio/",
            &serde_json::json!({"vocals_url": allowed}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert!((r.json()["duration"].as_f64().unwrap() - 2.0).abs() < 0.01);

    // Same server, another port spelling the host does not allow: refused, naming the field.
    let denied = format!("http://localhost:{}/take.wav", remote.port());
    let r = http
        .post_json(
            "/api/mix-audio/",
            &serde_json::json!({"tracks": [{"url": denied}]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", r.body);
    assert_eq!(r.json()["error"]["field"], "tracks[0].url");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mixes_past_the_memory_budget_get_503_with_retry_after_and_store_nothing() {
    let state = scratch_dir("mix-budget");
    let mut c = config(app_manifest(), &state);
    // 32 MiB: less than two decoded 60 s stereo tracks.
    c.limits.memory_budget_mib = 32;
    c.limits.queue_timeout = std::time::Duration::from_millis(500);
    let server = start(c).await;
    let http = Http::new(server.addr);
    let inst = upload(&http, &tone(44100, 2, 110.0, 60.0, 0.5)).await;
    let voc = upload(&http, &phrases(44100, 60.0)).await;
    let body = serde_json::json!({"instrumental_url": inst, "vocals_url": voc});
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let http = http.clone();
            let body = body.clone();
            tokio::spawn(async move { http.post_json("/api/mix-audio/", &body).await })
        })
        .collect();
    // Health is not in the budget's queue.
    assert_eq!(http.get("/api/health/").await.status, StatusCode::OK);
    for c in clients {
        let r = c.await.expect("client");
        expect_error(&r, StatusCode::SERVICE_UNAVAILABLE, None);
        assert!(r.header("retry-after").is_some(), "{:?}", r.headers);
        let message = r.json()["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert!(message.contains("--memory-budget-mib"), "{message}");
    }
    server.shutdown().await;
    // Only the two uploads are stored (blob and record each).
    let keys = stored_keys(&state);
    let media = keys.iter().filter(|k| k.starts_with("media")).count();
    assert_eq!(media, 4, "{keys:?}");

    // The same mixes under a budget that fits them all succeed.
    let mut c = config(app_manifest(), &state);
    c.limits.memory_budget_mib = 4096;
    let server = start(c).await;
    let http = Http::new(server.addr);
    let r = http.post_json("/api/mix-audio/", &body).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    server.shutdown().await;
}
