//! Shared plumbing for the end-to-end tests: start a real host on an ephemeral loopback port
//! and talk HTTP to it.

use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use songforge::{RunningServer, ServerConfig, StartError};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The app's real manifest.
pub fn app_manifest() -> PathBuf {
    repo().join("spin.toml")
}

/// The test-only manifest with the probe component.
pub fn probe_manifest() -> PathBuf {
    repo().join("tests/probe.toml")
}

/// A fresh, empty directory under `target/e2e/` for one test's state.
pub fn scratch_dir(name: &str) -> PathBuf {
    static N: AtomicU64 = AtomicU64::new(0);
    let dir = repo().join("target/e2e").join(format!(
        "{name}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

/// Config for `manifest` on a free loopback port, with its own state dir and the shared
/// compiled-component cache (so only the first test compiles).
pub fn config(manifest: PathBuf, state_dir: &Path) -> ServerConfig {
    let mut c = ServerConfig::new(manifest, SocketAddr::from(([127, 0, 0, 1], 0)));
    c.state_dir = state_dir.to_path_buf();
    c.cache_dir = repo().join("target/e2e/component-cache");
    c.limits.max_concurrent = 256;
    c.limits.max_memory_bytes = 256 * 1024 * 1024;
    c.env = std::sync::Arc::new(|_| None);
    c
}

/// Where the installed models are: `$SONGFORGE_MODELS`, else `models/store`.
pub fn models_dir() -> PathBuf {
    std::env::var_os("SONGFORGE_MODELS")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("models/store"))
}

/// A tiny DiffSinger voicebank written by `tests/fixtures/diffsinger/make_tiny_voicebank.py`
/// into `dir` (same layout and ONNX interfaces as a real one; see the script). The script
/// needs the `onnx` Python package, which `make test` installs into `target/pytools`.
pub fn tiny_voicebank(dir: &Path) -> PathBuf {
    let script = repo().join("tests/fixtures/diffsinger/make_tiny_voicebank.py");
    let pytools = repo().join("target/pytools");
    let path = match std::env::var_os("PYTHONPATH") {
        Some(p) => {
            let mut all = vec![pytools];
            all.extend(std::env::split_paths(&p));
            std::env::join_paths(all).expect("PYTHONPATH")
        }
        None => pytools.into_os_string(),
    };
    let out = std::process::Command::new("python3")
        .arg(&script)
        .arg(dir)
        .env("PYTHONPATH", path)
        .output()
        .expect("python3 runs (a fresh machine has it)");
    assert!(
        out.status.success(),
        "writing the tiny voicebank failed (`make test` installs the onnx package): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    dir.to_path_buf()
}

/// ONNX Runtime for engine-level tests: `$SONGFORGE_ONNXRUNTIME`, else the store's.
pub fn onnx_runtime_library() -> PathBuf {
    std::env::var_os("SONGFORGE_ONNXRUNTIME")
        .map(PathBuf::from)
        .unwrap_or_else(|| models_dir().join("onnxruntime/libonnxruntime.so"))
}

/// The app's config with a runtime config (written into the state dir) holding `graphs`, the
/// `[wasi_nn.graphs.*]` tables a test needs, and models from `models`.
pub fn config_with_graphs(state_dir: &Path, graphs: &str, models: PathBuf) -> ServerConfig {
    let rc = state_dir.join("runtime-config.toml");
    std::fs::write(&rc, graphs).expect("write runtime config");
    let mut c = config(app_manifest(), state_dir);
    c.runtime_config = Some(rc);
    c.models_dir = models;
    c
}

/// Asserts an error answer: the status, `"success": false`, and the field it names.
pub fn expect_error(r: &Reply, status: StatusCode, field: Option<&str>) {
    assert_eq!(r.status, status, "{:?}", r.body);
    let j = r.json();
    assert_eq!(j["success"], false);
    if let Some(f) = field {
        assert_eq!(j["error"]["field"], f, "{j}");
    }
}

/// Starts a server or fails the test with the host's message.
pub async fn start(config: ServerConfig) -> RunningServer {
    match songforge::start(config).await {
        Ok(s) => s,
        Err(e) => panic!("host refused to start: {e}"),
    }
}

/// Starts a server, returning the refusal for tests that expect one.
pub async fn try_start(config: ServerConfig) -> Result<RunningServer, StartError> {
    songforge::start(config).await
}

/// A response, fully read.
#[derive(Debug)]
pub struct Reply {
    /// Status.
    pub status: StatusCode,
    /// Headers.
    pub headers: HeaderMap,
    /// Body.
    pub body: Bytes,
}

impl Reply {
    /// The body as JSON, or a panic showing what came back.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {:?}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// A keep-alive HTTP/1.1 client.
#[derive(Clone)]
pub struct Http {
    client: Client<HttpConnector, Full<Bytes>>,
    base: String,
}

impl Http {
    /// A client for the server at `addr`.
    pub fn new(addr: SocketAddr) -> Self {
        Self {
            client: Client::builder(TokioExecutor::new()).build_http(),
            base: format!("http://{addr}"),
        }
    }

    /// Sends a request and reads the whole response.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> Reply {
        let mut req = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = req.body(Full::new(body.into())).expect("request");
        let res = self.client.request(req).await.expect("HTTP request failed");
        let (parts, body) = res.into_parts();
        let body = body.collect().await.expect("read body").to_bytes();
        Reply {
            status: parts.status,
            headers: parts.headers,
            body,
        }
    }

    /// GET.
    pub async fn get(&self, path: &str) -> Reply {
        self.send(Method::GET, path, &[], Bytes::new()).await
    }

    /// Stores `wav` through `POST /media/` as a raw `audio/wav` body; expects 201 and returns
    /// the stored file's URL.
    pub async fn upload_wav(&self, wav: impl Into<Bytes>) -> String {
        let r = self
            .send(
                Method::POST,
                "/media/",
                &[("content-type", "audio/wav")],
                wav,
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
        r.json()["url"].as_str().expect("url").to_string()
    }

    /// POST with a JSON body.
    pub async fn post_json(&self, path: &str, body: &serde_json::Value) -> Reply {
        self.send(
            Method::POST,
            path,
            &[("content-type", "application/json")],
            body.to_string(),
        )
        .await
    }
}

/// A minimal valid 16-bit mono WAV of `samples` samples of a 440 Hz tone at 16 kHz.
pub fn wav_tone(samples: usize) -> Vec<u8> {
    let data_len = (samples * 2) as u32;
    let mut v = Vec::with_capacity(44 + samples * 2);
    v.extend_from_slice(b"RIFF");
    v.extend_from_slice(&(36 + data_len).to_le_bytes());
    v.extend_from_slice(b"WAVEfmt ");
    v.extend_from_slice(&16u32.to_le_bytes());
    v.extend_from_slice(&1u16.to_le_bytes());
    v.extend_from_slice(&1u16.to_le_bytes());
    v.extend_from_slice(&16000u32.to_le_bytes());
    v.extend_from_slice(&32000u32.to_le_bytes());
    v.extend_from_slice(&2u16.to_le_bytes());
    v.extend_from_slice(&16u16.to_le_bytes());
    v.extend_from_slice(b"data");
    v.extend_from_slice(&data_len.to_le_bytes());
    for i in 0..samples {
        let s = (f32::sin(i as f32 * 440.0 * std::f32::consts::TAU / 16000.0) * 12000.0) as i16;
        v.extend_from_slice(&s.to_le_bytes());
    }
    v
}

/// Keys in the `default` key-value store of a stopped server's state directory.
pub fn stored_keys(state_dir: &Path) -> Vec<String> {
    let path = songforge::key_value::KeyValueStores::default_path(state_dir, "default");
    let stores = songforge::key_value::KeyValueStores::open(
        &[("default".to_string(), path)].into_iter().collect(),
    )
    .expect("open the key-value store");
    stores.keys("default").expect("list keys")
}
