//! The app with the host's wasi-nn turned off (`--wasi-nn dependency`): every graph runs on
//! `songforge serve-nn`, reached through each component's `wasi:nn` dependency
//! (components/wasi-nn-http), which the host composes in as stock Spin does. The app host
//! loads no model at all here, so every answer that needs one crossed HTTP.
//!
//! Needs the default models installed (`make test` pulls them first).

use http::{Method, StatusCode};
use songforge::nn_service::{NnServiceConfig, start as start_nn};
use songforge::wasi_nn::GraphRegistry;
use songforge_e2e::*;
use songforge_inference::{Device, Engine, EngineError, NamedTensor};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn clip() -> Vec<u8> {
    std::fs::read(repo().join("tests/fixtures/speech/clip1.wav")).expect("fixture")
}

/// The keys of a JSON object, sorted.
fn keys(j: &serde_json::Value) -> Vec<String> {
    let mut k: Vec<String> = j
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default();
    k.sort();
    k
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_endpoints_answer_through_serve_nn_as_they_do_natively_and_a_song_comes_out() {
    let state = scratch_dir("serve-nn-seed");
    let nn = serve_nn(&state, SONG_GRAPHS).await;
    let native_state = state.join("native");
    let remote_state = state.join("remote");
    std::fs::create_dir_all(&native_state).unwrap();
    std::fs::create_dir_all(&remote_state).unwrap();
    let native = start(song_config(&native_state)).await;
    let remote = start(app_on_nn(&remote_state, nn.addr, NN_TOKEN)).await;
    let (n, r) = (Http::new(native.addr), Http::new(remote.addr));

    // Health loads each graph through the dependency: the same answers as natively.
    let available = |j: serde_json::Value| -> Vec<(String, bool)> {
        j["models"]
            .as_array()
            .expect("models")
            .iter()
            .map(|g| {
                (
                    g["name"].as_str().unwrap_or("").to_string(),
                    g["available"].as_bool().unwrap_or(false),
                )
            })
            .collect()
    };
    let remote_graphs = available(r.get("/api/health/").await.json());
    assert_eq!(remote_graphs, available(n.get("/api/health/").await.json()));
    assert!(
        remote_graphs.contains(&("whisper".into(), true)),
        "{remote_graphs:?}"
    );

    // Transcription: the same text and fields.
    let (a, b) = (
        transcribe(&n, &clip(), "clip1.wav", &[]).await,
        transcribe(&r, &clip(), "clip1.wav", &[]).await,
    );
    assert_eq!(b.status, StatusCode::OK, "{:?}", b.body);
    let (a, b) = (a.json(), b.json());
    assert_eq!(keys(&a), keys(&b));
    assert_eq!(a["transcribed_text"], b["transcribed_text"]);
    assert!(
        b["transcribed_text"]
            .as_str()
            .unwrap_or("")
            .to_lowercase()
            .contains("brown fox"),
        "{b}"
    );

    // Singing: the voice graph runs on the service; the same fields and the same length.
    let body = serde_json::json!({
        "lyrics": "Verse 1:\nI walk along the river in the rain\nThe city lights are calling out my name",
        "genre": "pop", "seed": 8
    });
    let (a, b) = (
        n.post_json("/api/generate-vocals/", &body).await,
        r.post_json("/api/generate-vocals/", &body).await,
    );
    assert_eq!(b.status, StatusCode::OK, "{:?}", b.body);
    let (a, b) = (a.json(), b.json());
    assert_eq!(keys(&a), keys(&b));
    assert_eq!(a["duration"], b["duration"]);
    assert_eq!(b["engine"], "piper-singer");

    // A whole song: lyrics, instrumental, vocals and mix, every model call over HTTP.
    let song = r
        .send(
            Method::POST,
            "/api/songs/",
            &[("content-type", "application/json"), ("prefer", "wait=300")],
            serde_json::json!({"input_text": "a lighthouse keeper at dawn", "genre": "folk",
                               "duration": 30, "seed": 3})
            .to_string(),
        )
        .await;
    assert_eq!(song.status, StatusCode::OK, "{:?}", song.body);
    let job = song.json();
    assert_eq!(job["status"], "succeeded", "{job}");
    let d = job["output"]["duration"].as_f64().expect("duration");
    assert!((d - 30.0).abs() < 1.5, "{d}");
    let mix = r
        .get(job["output"]["mix_url"].as_str().expect("mix_url"))
        .await;
    assert_eq!(mix.status, StatusCode::OK);
    let audio = songforge_audio::decode(&mix.body, None).expect("a WAV mix");
    assert!((audio.duration_s() - d).abs() < 0.05);

    remote.shutdown().await;
    native.shutdown().await;
    nn.shutdown().await;
}

/// A graph that takes its time and then refuses its input, standing in for `whisper` on the
/// service, so a queue fills and a bad input is reported.
struct SlowRefusal;

impl Engine for SlowRefusal {
    fn model(&self) -> &str {
        "slow-refusal"
    }
    fn task(&self) -> &str {
        "speech-to-text"
    }
    fn compute(&self, _inputs: Vec<NamedTensor>) -> Result<Vec<NamedTensor>, EngineError> {
        std::thread::sleep(Duration::from_millis(1500));
        Err(EngineError::InvalidInput("the audio is not speech".into()))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_keep_their_kind_across_the_trip_and_a_lost_service_is_a_quick_503() {
    let state = scratch_dir("serve-nn-faults");
    // One worker and one waiting place: a third request at once finds the queue full.
    let mut registry = GraphRegistry::new(1, 1);
    registry.register("whisper", Arc::new(SlowRefusal), Device::Cpu);
    let registry = Arc::new(registry);
    let nn = start_nn(nn_service_config(NN_TOKEN), registry.clone())
        .await
        .expect("serve-nn starts");
    let app = start(app_on_nn(&state, nn.addr, NN_TOKEN)).await;
    let http = Http::new(app.addr);

    let calls: Vec<_> = (0..3)
        .map(|_| {
            let http = http.clone();
            tokio::spawn(async move { transcribe(&http, &clip(), "clip1.wav", &[]).await })
        })
        .collect();
    let mut replies = Vec::new();
    for c in calls {
        replies.push(c.await.expect("request task"));
    }
    let refused: Vec<&Reply> = replies
        .iter()
        .filter(|r| r.status == StatusCode::UNPROCESSABLE_ENTITY)
        .collect();
    let busy: Vec<&Reply> = replies
        .iter()
        .filter(|r| r.status == StatusCode::SERVICE_UNAVAILABLE)
        .collect();
    assert!(!refused.is_empty() && !busy.is_empty(), "{replies:?}");
    assert!(
        refused[0].json()["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("the audio is not speech"),
        "{:?}",
        refused[0].body
    );
    assert!(busy[0].header("retry-after").is_some(), "{:?}", busy[0]);
    assert!(
        busy[0].json()["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("queue is full"),
        "{:?}",
        busy[0].body
    );

    // The service itself: health is open, graphs need the token, bodies are checked.
    let direct = Http::new(nn.addr);
    let health = direct.get("/v1/health").await;
    assert_eq!(health.status, StatusCode::OK);
    assert_eq!(health.json()["graphs"][0]["name"], "whisper");
    let anonymous = direct.get("/v1/graphs/whisper").await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    assert_eq!(anonymous.header("www-authenticate"), Some("Bearer"));
    let auth = format!("Bearer {NN_TOKEN}");
    let json_body = direct
        .send(
            Method::POST,
            "/v1/graphs/whisper/compute",
            &[("authorization", &auth)],
            "{\"audio\": [0.1, 0.2]}",
        )
        .await;
    assert_eq!(json_body.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(json_body.json()["error"]["kind"], "invalid-input");
    let unknown = direct
        .send(
            Method::GET,
            "/v1/graphs/nope",
            &[("authorization", &auth)],
            "",
        )
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(unknown.json()["error"]["kind"], "unavailable");
    let small = start_nn(
        NnServiceConfig {
            max_body_bytes: 1024,
            ..nn_service_config(NN_TOKEN)
        },
        registry.clone(),
    )
    .await
    .expect("a second service");
    let big = Http::new(small.addr)
        .send(
            Method::POST,
            "/v1/graphs/whisper/compute",
            &[("authorization", &auth)],
            vec![0u8; 4096],
        )
        .await;
    assert_eq!(big.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(big.json()["error"]["kind"], "too-large");
    small.shutdown().await;

    // A wrong token: a clear 503 for the caller.
    let wrong_state = state.join("wrong-token");
    std::fs::create_dir_all(&wrong_state).unwrap();
    let wrong = start(app_on_nn(&wrong_state, nn.addr, "not-the-token")).await;
    let r = transcribe(&Http::new(wrong.addr), &clip(), "clip1.wav", &[]).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{:?}", r.body);
    let message = r.json()["error"]["message"]
        .as_str()
        .unwrap_or("")
        .to_string();
    assert!(message.contains("refused the token"), "{message}");
    wrong.shutdown().await;

    // The service gone: a 503 naming the graph and the URL, at once rather than a hang.
    let url = format!("http://{}", nn.addr);
    nn.shutdown().await;
    let t = Instant::now();
    let r = transcribe(&http, &clip(), "clip1.wav", &[]).await;
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{:?}", r.body);
    let message = r.json()["error"]["message"]
        .as_str()
        .unwrap_or("")
        .to_string();
    assert!(
        message.contains("graph `whisper`") && message.contains(&url),
        "{message}"
    );
    app.shutdown().await;
}
