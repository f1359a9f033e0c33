//! The runtime issue's end-to-end suite: the real host, the real components, HTTP on loopback.

use bytes::Bytes;
use http::{Method, StatusCode};
use songforge_e2e::*;
use songforge_inference::{Engine, EngineError, NamedTensor, Tensor, input};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A graph that echoes its `input` tensor as `output` after a delay: stands in for a slow model.
struct EchoGraph {
    delay: Duration,
}

impl Engine for EchoGraph {
    fn model(&self) -> &str {
        "echo"
    }
    fn task(&self) -> &str {
        "test"
    }
    fn compute(&self, inputs: Vec<NamedTensor>) -> Result<Vec<NamedTensor>, EngineError> {
        std::thread::sleep(self.delay);
        let data = input(&inputs, "input")?.data.clone();
        if data == b"fail" {
            return Err(EngineError::InvalidInput(
                "the probe asked for a failure".into(),
            ));
        }
        Ok(vec![NamedTensor::new("output", Tensor::bytes(data))])
    }
}

fn probe_config(name: &str) -> songforge::ServerConfig {
    // Small, and needed after this returns: kept.
    let state = scratch_dir(name).keep();
    let mut c = config(probe_manifest(), &state);
    c.graphs = vec![
        (
            "slow".into(),
            Arc::new(EchoGraph {
                delay: Duration::from_millis(1500),
            }) as Arc<dyn Engine>,
        ),
        (
            "echo".into(),
            Arc::new(EchoGraph {
                delay: Duration::ZERO,
            }) as Arc<dyn Engine>,
        ),
    ];
    c
}

/// The app's manifest, as the host reads it.
fn app() -> songforge::manifest::Manifest {
    songforge::manifest::Manifest::load(&app_manifest()).expect("spin.toml loads")
}

/// The graphs the app's health endpoint asks wasi-nn about: spin.toml's `nn_graphs`
/// variable (`name:task,name:task`), as (name, task).
fn declared_graphs() -> Vec<(String, String)> {
    let spec = app()
        .variables
        .get("nn_graphs")
        .and_then(|v| v.default.clone())
        .expect("spin.toml gives `nn_graphs` a default");
    let graphs: Vec<(String, String)> = spec
        .split(',')
        .filter_map(|pair| pair.split_once(':'))
        .map(|(name, task)| (name.trim().to_string(), task.trim().to_string()))
        .collect();
    assert!(!graphs.is_empty(), "no graphs in {spec:?}");
    graphs
}

/// The parts of a health report that hold whatever the build, the config and the installed
/// models are: the envelope, the host's device, every routed component of spin.toml, and
/// every declared graph once, with its task and whether it is available. Returns the graph
/// lines by name.
fn check_health(j: &serde_json::Value) -> std::collections::BTreeMap<String, serde_json::Value> {
    assert_eq!(j["success"], true, "{j}");
    assert_eq!(j["status"], "ok");
    assert_eq!(j["version"], env!("CARGO_PKG_VERSION"));
    let device = j["device"].as_str().unwrap_or_default();
    assert!(!device.is_empty(), "no device reported: {j}");
    let components = j["components"].as_array().expect("components");
    for route in app().routes {
        assert!(
            components
                .iter()
                .any(|c| c["id"] == route.component && c["route"] == route.route),
            "{} at {} missing from {components:?}",
            route.component,
            route.route
        );
    }
    let models = j["models"].as_array().expect("models");
    let declared = declared_graphs();
    assert_eq!(models.len(), declared.len(), "{models:?}");
    let mut by_name = std::collections::BTreeMap::new();
    for (name, task) in declared {
        let line = models
            .iter()
            .find(|m| m["name"] == name)
            .unwrap_or_else(|| panic!("graph {name} missing from {models:?}"))
            .clone();
        assert_eq!(line["task"], task, "{line}");
        assert!(line["available"].is_boolean(), "{line}");
        by_name.insert(name, line);
    }
    by_name
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_reports_status_components_and_models() {
    let state = scratch_dir("health");
    let server = start(config(app_manifest(), &state)).await;
    let http = Http::new(server.addr);
    for path in ["/api/health/", "/api/health"] {
        let r = http.get(path).await;
        assert_eq!(r.status, StatusCode::OK, "{path}: {:?}", r.body);
        assert_eq!(r.header("content-type"), Some("application/json"));
        for (name, line) in check_health(&r.json()) {
            assert_eq!(
                line["available"], false,
                "{name}: no runtime config, so no graph is configured: {line}"
            );
        }
    }
    server.shutdown().await;
}

/// With the repository's runtime-config.toml (what `make up` serves) and the installed
/// models, every declared graph reports its state in a way a user can act on: an available
/// one the configured model and the device it runs on, an unavailable one why. Which graphs
/// are available and on which device depends on the machine and the build, so neither is
/// fixed here.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_reports_each_configured_graphs_model_device_or_reason() {
    let file = repo().join("runtime-config.toml");
    let configured = songforge::runtime_config::RuntimeConfig::load(&file)
        .expect("runtime-config.toml loads")
        .wasi_nn
        .graphs;
    // Written into the state dir, so its relative paths (key-value data, a voicebank folder)
    // land there and not in the repository.
    let state = scratch_dir("health-configured");
    let text = std::fs::read_to_string(&file).expect("read runtime-config.toml");
    let server = start(config_with_graphs(&state, &text, models_dir())).await;
    let j = Http::new(server.addr).get("/api/health/").await.json();
    let lines = check_health(&j);
    assert!(
        lines.keys().any(|name| configured.contains_key(name)),
        "runtime-config.toml configures none of the declared graphs"
    );
    for (name, line) in lines {
        eprintln!("{name}: {line}");
        let Some(graph) = configured.get(&name) else {
            assert_eq!(line["available"], false, "{name} is not configured: {line}");
            continue;
        };
        if line["available"] == true {
            assert_eq!(line["model"], graph.model.as_str(), "{line}");
            let device = line["device"].as_str().unwrap_or_default();
            assert!(!device.is_empty(), "{name}: no device: {line}");
            // A degraded set-up (e.g. a GPU asked for, the CPU used) is said in words.
            if let Some(warning) = line.get("warning") {
                assert!(
                    warning.as_str().is_some_and(|w| !w.is_empty()),
                    "{name}: {line}"
                );
            }
        } else {
            let reason = line["reason"].as_str().unwrap_or_default();
            assert!(
                !reason.is_empty(),
                "{name} is unavailable without a reason: {line}"
            );
        }
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routing_errors_are_json_with_the_right_status() {
    let state = scratch_dir("routing");
    let server = start(config(app_manifest(), &state)).await;
    let http = Http::new(server.addr);

    let r = http.get("/api/nope/").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.json()["success"], false);
    assert_eq!(r.json()["error"]["code"], "not_found");

    let r = http.get("/api/generate-lyrics/").await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(r.json()["error"]["code"], "method_not_allowed");
    assert!(
        r.header("allow").is_some_and(|a| a.contains("POST")),
        "{:?}",
        r.headers
    );

    let r = http
        .send(Method::DELETE, "/api/health", &[], Bytes::new())
        .await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);

    // A route whose model this host does not serve says so (503), rather than faking a result.
    let r = http
        .post_json(
            "/api/generate-vocals",
            &serde_json::json!({"lyrics": "x", "genre": "pop"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{:?}", r.body);
    assert_eq!(r.json()["error"]["field"], "voice");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_round_trip_with_range_and_etag() {
    let state = scratch_dir("media");
    let server = start(config(app_manifest(), &state)).await;
    let http = Http::new(server.addr);
    let wav = wav_tone(16000);

    let r = http.post_wav(wav.clone()).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let j = r.json();
    assert_eq!(j["success"], true);
    assert_eq!(j["bytes"], wav.len());
    assert_eq!(j["content_type"], "audio/wav");
    let url = j["url"].as_str().expect("url").to_string();
    assert!(
        url.starts_with("/media/upload_") && url.ends_with(".wav"),
        "{url}"
    );

    let r = http.get(&url).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body.as_ref(), wav.as_slice());
    assert_eq!(r.header("content-type"), Some("audio/wav"));
    assert_eq!(
        r.header("content-length"),
        Some(wav.len().to_string().as_str())
    );
    let etag = r.header("etag").expect("etag").to_string();

    let r = http
        .send(Method::GET, &url, &[("if-none-match", &etag)], Bytes::new())
        .await;
    assert_eq!(r.status, StatusCode::NOT_MODIFIED);
    assert!(r.body.is_empty());

    let r = http
        .send(Method::GET, &url, &[("range", "bytes=0-43")], Bytes::new())
        .await;
    assert_eq!(r.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(r.body.as_ref(), &wav[..44]);
    assert_eq!(
        r.header("content-range"),
        Some(format!("bytes 0-43/{}", wav.len()).as_str())
    );

    let r = http
        .send(Method::GET, &url, &[("range", "bytes=-10")], Bytes::new())
        .await;
    assert_eq!(r.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(r.body.as_ref(), &wav[wav.len() - 10..]);

    let r = http
        .send(
            Method::GET,
            &url,
            &[("range", "bytes=999999-")],
            Bytes::new(),
        )
        .await;
    assert_eq!(r.status, StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(
        r.header("content-range"),
        Some(format!("bytes */{}", wav.len()).as_str())
    );

    let r = http.send(Method::HEAD, &url, &[], Bytes::new()).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.is_empty());

    // Multipart upload, the seed's form style.
    let boundary = "XyZb0undary";
    let mut form = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"take.wav\"\r\nContent-Type: audio/wav\r\n\r\n"
    )
    .into_bytes();
    form.extend_from_slice(&wav);
    form.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let ct = format!("multipart/form-data; boundary={boundary}");
    let r = http
        .send(Method::POST, "/media", &[("content-type", &ct)], form)
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let url2 = r.json()["url"].as_str().expect("url").to_string();
    assert_ne!(url, url2);
    assert_eq!(http.get(&url2).await.body.as_ref(), wav.as_slice());

    let r = http.get("/media/upload_0000000000000000.wav").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.json()["error"]["code"], "not_found");

    let r = http
        .send(
            Method::POST,
            "/media/",
            &[("content-type", "application/x-msdownload")],
            "MZ",
        )
        .await;
    assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traversal_and_odd_media_names_are_rejected() {
    let state = scratch_dir("traversal");
    let server = start(config(app_manifest(), &state)).await;
    let http = Http::new(server.addr);
    for name in [
        "/media/..%2F..%2Fetc%2Fpasswd",
        "/media/a/b.wav",
        "/media/..",
        "/media/%00x",
        "/media/.hidden",
    ] {
        let r = http.get(name).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{name}: {:?}", r.body);
        assert_eq!(r.json()["error"]["field"], "name", "{name}");
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversize_bodies_get_413_before_reaching_a_component() {
    let state = scratch_dir("oversize");
    let mut c = config(app_manifest(), &state);
    c.limits.max_body_bytes = 1024;
    let server = start(c).await;
    let http = Http::new(server.addr);
    let r = http.post_wav(vec![0u8; 4096]).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(r.json()["error"]["code"], "payload_too_large");
    // Nothing was stored, and the server still serves.
    let r = http.post_wav(vec![0u8; 512]).await;
    assert_eq!(r.status, StatusCode::CREATED);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_over_its_memory_limit_fails_saying_so() {
    // The suite's instances may use 256 MiB each.
    let server = start(probe_config("memory")).await;
    let http = Http::new(server.addr);
    let r = http.get("/probe/alloc?mib=8").await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let r = http.get("/probe/alloc?mib=400").await;
    assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR);
    let j = r.json();
    assert_eq!(j["error"]["code"], "out_of_memory", "{j}");
    let message = j["error"]["message"].as_str().unwrap_or("");
    assert!(
        message.contains("probe") && message.contains("256 MiB"),
        "{message}"
    );
    // The next request gets a fresh instance.
    assert_eq!(http.get("/probe/alloc?mib=8").await.status, StatusCode::OK);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trap_fails_one_request_only() {
    let server = start(probe_config("trap")).await;
    let http = Http::new(server.addr);
    let r = http.get("/probe/trap").await;
    assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(r.json()["error"]["code"], "internal");
    assert!(
        r.json()["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("probe")
    );
    let r = http.get("/api/health").await;
    assert_eq!(r.status, StatusCode::OK);
    let r = http.get("/probe/spin?ms=1").await;
    assert_eq!(r.status, StatusCode::OK);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_over_its_time_limit_gets_504_and_others_keep_flowing() {
    let mut c = probe_config("timeout");
    c.limits.request_timeout = Duration::from_millis(800);
    let server = start(c).await;
    let http = Http::new(server.addr);
    let started = Instant::now();
    let busy = {
        let http = http.clone();
        tokio::spawn(async move { http.get("/probe/spin?ms=5000").await })
    };
    // While a guest burns CPU, other requests are still served (the guest yields on epochs).
    tokio::time::sleep(Duration::from_millis(100)).await;
    let t = Instant::now();
    assert_eq!(http.get("/api/health").await.status, StatusCode::OK);
    assert!(
        t.elapsed() < Duration::from_millis(300),
        "health took {:?}",
        t.elapsed()
    );
    let r = busy.await.expect("join");
    assert_eq!(r.status, StatusCode::GATEWAY_TIMEOUT, "{:?}", r.body);
    assert_eq!(r.json()["error"]["code"], "timeout");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "stopped after {:?}",
        started.elapsed()
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_concurrent_requests_all_succeed() {
    let state = scratch_dir("concurrent");
    let server = start(config(app_manifest(), &state)).await;
    let http = Http::new(server.addr);
    let mut tasks = Vec::new();
    for _ in 0..200 {
        let http = http.clone();
        tasks.push(tokio::spawn(async move {
            http.get("/api/health/").await.status
        }));
    }
    for t in tasks {
        assert_eq!(t.await.expect("join"), StatusCode::OK);
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_value_data_survives_a_restart() {
    let state = scratch_dir("restart");
    let server = start(config(app_manifest(), &state)).await;
    let http = Http::new(server.addr);
    let wav = wav_tone(8000);
    let url = http.upload_wav(wav.clone()).await;
    server.shutdown().await;

    let server = start(config(app_manifest(), &state)).await;
    let http = Http::new(server.addr);
    let r = http.get(&url).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body.as_ref(), wav.as_slice());
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_key_value_writers_are_all_kept() {
    let server = start(probe_config("kv")).await;
    let http = Http::new(server.addr);
    let mut tasks = Vec::new();
    for i in 0..40 {
        let http = http.clone();
        tasks.push(tokio::spawn(async move {
            http.send(
                Method::PUT,
                &format!("/probe/kv/key{i}"),
                &[],
                format!("value {i}"),
            )
            .await
            .status
        }));
    }
    for t in tasks {
        assert_eq!(t.await.expect("join"), StatusCode::OK);
    }
    for i in [0, 17, 39] {
        let r = http.get(&format!("/probe/kv/key{i}")).await;
        assert_eq!(r.body.as_ref(), format!("value {i}").as_bytes());
    }
    let keys = http.get("/probe/kv").await.json();
    let keys = keys["keys"].as_array().expect("keys");
    assert_eq!(
        keys.iter()
            .filter(|k| k.as_str().is_some_and(|k| k.starts_with("key")))
            .count(),
        40
    );
    assert_eq!(
        http.get("/probe/kv/absent").await.status,
        StatusCode::NOT_FOUND
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn variables_come_from_defaults_and_spin_variable_env() {
    let server = start(probe_config("vars")).await;
    let r = Http::new(server.addr).get("/probe/var?name=greeting").await;
    assert_eq!(r.json()["value"], "hello");
    server.shutdown().await;

    let mut c = probe_config("vars-env");
    c.env = Arc::new(|k| (k == "SPIN_VARIABLE_GREETING").then(|| "bonjour".to_string()));
    let server = start(c).await;
    let http = Http::new(server.addr);
    assert_eq!(
        http.get("/probe/var?name=greeting").await.json()["value"],
        "bonjour"
    );
    let r = http.get("/probe/var?name=nn_graphs").await;
    assert_eq!(
        r.status,
        StatusCode::NOT_FOUND,
        "components only see their own variables"
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wasi_nn_graphs_run_off_the_http_threads() {
    let server = start(probe_config("nn")).await;
    let http = Http::new(server.addr);

    let r = http
        .send(Method::POST, "/probe/nn?graph=echo", &[], "la la la")
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let j = r.json();
    assert_eq!(j["outputs"][0]["name"], "output");
    assert_eq!(j["outputs"][0]["text"], "la la la");

    let health = http.get("/api/health").await.json();
    let models = health["models"].as_array().expect("models");
    let available = |n: &str| {
        models
            .iter()
            .find(|m| m["name"] == n)
            .map(|m| m["available"].clone())
    };
    assert_eq!(available("slow"), Some(serde_json::json!(true)));
    assert_eq!(available("missing"), Some(serde_json::json!(false)));

    // A slow inference must not hold up a concurrent health request: compare the median of
    // health latencies while the graph runs with the median just before.
    async fn median_health(http: &Http) -> Duration {
        let mut times = Vec::new();
        for _ in 0..7 {
            let t = Instant::now();
            assert_eq!(http.get("/api/health/").await.status, StatusCode::OK);
            times.push(t.elapsed());
        }
        times.sort();
        times[times.len() / 2]
    }
    let before = median_health(&http).await;
    let slow = {
        let http = http.clone();
        tokio::spawn(async move {
            http.send(Method::POST, "/probe/nn?graph=slow", &[], "x")
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let during = median_health(&http).await;
    assert!(
        !slow.is_finished(),
        "the slow graph is still running while health is measured"
    );
    assert!(
        during < before + Duration::from_millis(50),
        "health took {during:?} during inference vs {before:?} before"
    );
    let r = slow.await.expect("join");
    assert_eq!(r.status, StatusCode::OK);

    // Errors carry the right status: unknown graph → 503, bad input → 422.
    let r = http
        .send(Method::POST, "/probe/nn?graph=missing", &[], "x")
        .await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{:?}", r.body);
    let r = http
        .send(Method::POST, "/probe/nn?graph=echo", &[], "fail")
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", r.body);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_inference_queue_answers_503_with_retry_after() {
    let dir = scratch_dir("busy");
    let rc = dir.join("runtime-config.toml");
    std::fs::write(&rc, "[wasi_nn]\nqueue_depth = 1\nthreads_per_device = 1\n").expect("write");
    let mut c = probe_config("busy");
    c.runtime_config = Some(rc);
    let server = start(c).await;
    let http = Http::new(server.addr);
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let http = http.clone();
        tasks.push(tokio::spawn(async move {
            http.send(Method::POST, "/probe/nn?graph=slow", &[], "x")
                .await
        }));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut statuses = Vec::new();
    for t in tasks {
        let r = t.await.expect("join");
        if r.status == StatusCode::SERVICE_UNAVAILABLE {
            assert_eq!(r.header("retry-after"), Some("1"));
            assert!(
                r.json()["error"]["message"]
                    .as_str()
                    .unwrap_or("")
                    .contains("busy")
            );
        }
        statuses.push(r.status);
    }
    assert!(statuses.contains(&StatusCode::OK), "{statuses:?}");
    assert!(
        statuses.contains(&StatusCode::SERVICE_UNAVAILABLE),
        "{statuses:?}"
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_preflight_and_headers_follow_the_allowed_origins() {
    let state = scratch_dir("cors");
    let mut c = config(app_manifest(), &state);
    c.cors = songforge::CorsPolicy::parse("http://localhost:3001, https://app.example.com");
    let server = start(c).await;
    let http = Http::new(server.addr);
    let r = http
        .send(
            Method::OPTIONS,
            "/api/generate-lyrics/",
            &[
                ("origin", "http://localhost:3001"),
                ("access-control-request-method", "POST"),
                ("access-control-request-headers", "content-type"),
            ],
            Bytes::new(),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("http://localhost:3001")
    );
    assert!(
        r.header("access-control-allow-methods")
            .is_some_and(|m| m.contains("POST"))
    );
    assert_eq!(
        r.header("access-control-allow-headers"),
        Some("content-type")
    );

    let r = http
        .send(
            Method::GET,
            "/api/health",
            &[("origin", "https://app.example.com")],
            Bytes::new(),
        )
        .await;
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://app.example.com")
    );
    let r = http
        .send(
            Method::GET,
            "/api/health",
            &[("origin", "https://evil.example")],
            Bytes::new(),
        )
        .await;
    assert_eq!(r.header("access-control-allow-origin"), None);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_manifest_is_refused_naming_the_field() {
    let dir = scratch_dir("bad-manifest");
    let text = std::fs::read_to_string(app_manifest())
        .expect("read spin.toml")
        .replace("target/", "../../../target/")
        .replace("component = \"mixer\"", "component = \"mixr\"");
    let path = dir.join("spin.toml");
    std::fs::write(&path, text).expect("write");
    let err = try_start(config(path.clone(), &dir))
        .await
        .err()
        .expect("must refuse");
    let msg = err.to_string();
    assert!(msg.contains(&path.display().to_string()), "{msg}");
    assert!(msg.contains("trigger.http[5].component"), "{msg}");
    assert!(msg.contains("mixr"), "{msg}");

    let missing = dir.join("missing.toml");
    std::fs::write(
        &missing,
        "spin_manifest_version = 2\n[application]\nname = \"x\"\n[[trigger.http]]\nroute = \"/x\"\ncomponent = \"x\"\n[component.x]\nsource = \"nope.wasm\"\n",
    )
    .expect("write");
    let msg = try_start(config(missing, &dir))
        .await
        .err()
        .expect("must refuse")
        .to_string();
    assert!(
        msg.contains("component `x`") && msg.contains("nope.wasm"),
        "{msg}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_loads_precompiled_components_from_the_cache() {
    let state = scratch_dir("warm");
    let mut c = config(app_manifest(), &state);
    c.cache_dir = state.join("cache");
    let server = start(c).await;
    assert!(
        server.loaded.iter().all(|(_, cached)| !cached),
        "{:?}",
        server.loaded
    );
    server.shutdown().await;
    let mut c = config(app_manifest(), &state);
    c.cache_dir = state.join("cache");
    let server = start(c).await;
    let components = std::fs::read_to_string(app_manifest())
        .expect("spin.toml")
        .lines()
        .filter(|l| l.starts_with("[component.") && l.matches('.').count() == 1)
        .count();
    assert_eq!(server.loaded.len(), components);
    assert!(
        server.loaded.iter().all(|(_, cached)| *cached),
        "{:?}",
        server.loaded
    );
    assert_eq!(
        Http::new(server.addr).get("/api/health").await.status,
        StatusCode::OK
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_lets_in_flight_requests_finish_and_stops_accepting() {
    let server = start(probe_config("shutdown")).await;
    let addr = server.addr;
    let http = Http::new(addr);
    let in_flight = {
        let http = http.clone();
        tokio::spawn(async move { http.get("/probe/spin?ms=600").await })
    };
    tokio::time::sleep(Duration::from_millis(150)).await;
    let started = Instant::now();
    server.shutdown().await;
    let r = in_flight.await.expect("join");
    assert_eq!(
        r.status,
        StatusCode::OK,
        "the in-flight request completed: {:?}",
        r.body
    );
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "shutdown waited for it"
    );
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "no longer accepting connections"
    );
}
