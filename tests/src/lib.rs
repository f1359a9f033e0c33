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

/// A fresh, empty directory under `target/e2e/` for one test's state, removed again when the
/// test passes (a failed test keeps it to look at). A whole run's songs, stems and stores
/// would otherwise stay on disk: gigabytes on a CI machine that may have little to spare.
pub fn scratch_dir(name: &str) -> Scratch {
    static N: AtomicU64 = AtomicU64::new(0);
    let dir = repo().join("target/e2e").join(format!(
        "{name}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    Scratch(dir)
}

/// A test's state directory: a path, deleted on drop unless the test is failing.
#[derive(Debug)]
pub struct Scratch(PathBuf);

impl Scratch {
    /// The path, kept on disk after all: for state a helper hands on past its own scope.
    pub fn keep(self) -> PathBuf {
        let me = std::mem::ManuallyDrop::new(self);
        me.0.clone()
    }
}

impl std::ops::Deref for Scratch {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<Path> for Scratch {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
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

/// A tiny DiffSinger voicebank of the real layout, written into a directory (the engine
/// crate's test support, shared with its own tests).
pub use songforge_diffsinger::test_support::tiny_voicebank;

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

/// A free port on loopback, for a host started as a child process.
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    l.local_addr().expect("its address").port()
}

/// `songforge up` (the binary `make build` builds) as a child process on loopback `port`:
/// the app's manifest, state in `state`, `runtime_config` written there, the installed
/// models and the shared component cache, plus `env`. For tests that kill the host.
pub fn spawn_host(
    state: &Path,
    port: u16,
    runtime_config: &str,
    env: &[(&str, &str)],
) -> std::process::Child {
    let rc = state.join("runtime-config.toml");
    std::fs::write(&rc, runtime_config).expect("write the runtime config");
    std::process::Command::new(repo().join("target/debug/songforge"))
        .args(["up", "--manifest"])
        .arg(app_manifest())
        .arg("--runtime-config")
        .arg(&rc)
        .arg("--state-dir")
        .arg(state)
        .arg("--models")
        .arg(models_dir())
        .arg("--cache-dir")
        .arg(repo().join("target/e2e/component-cache"))
        .env("LISTEN", format!("127.0.0.1:{port}"))
        .envs(env.iter().copied())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start songforge (`make build` builds it)")
}

/// Waits until `path` answers 200 (a host coming up), or fails the test after about two
/// minutes.
pub async fn wait_until_ok(http: &Http, path: &str) {
    for _ in 0..600 {
        let probe = tokio::spawn({
            let http = http.clone();
            let path = path.to_string();
            async move { http.get(&path).await.status }
        });
        if let Ok(Ok(StatusCode::OK)) =
            tokio::time::timeout(std::time::Duration::from_millis(500), probe).await
        {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    panic!("the host did not come up");
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

    /// `POST /media/` with `wav` as a raw `audio/wav` body, whatever the answer.
    pub async fn post_wav(&self, wav: impl Into<Bytes>) -> Reply {
        self.send(
            Method::POST,
            "/media/",
            &[("content-type", "audio/wav")],
            wav,
        )
        .await
    }

    /// Stores `wav` through `POST /media/` as a raw `audio/wav` body; expects 201 and returns
    /// the stored file's URL.
    pub async fn upload_wav(&self, wav: impl Into<Bytes>) -> String {
        let r = self.post_wav(wav).await;
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

/// A multipart form with the audio as `audio_file` and the given text fields.
pub fn audio_form(audio: &[u8], filename: &str, fields: &[(&str, &str)]) -> (String, Vec<u8>) {
    let boundary = "songforge-test-boundary-7d1f";
    let mut body = Vec::new();
    for (k, v) in fields {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n")
                .as_bytes(),
        );
    }
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"audio_file\"; filename=\"{filename}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(audio);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// `POST /api/transcribe/` with `audio` as the form's `audio_file` and the given fields.
pub async fn transcribe(
    http: &Http,
    audio: &[u8],
    filename: &str,
    fields: &[(&str, &str)],
) -> Reply {
    let (ct, body) = audio_form(audio, filename, fields);
    http.send(
        Method::POST,
        "/api/transcribe/",
        &[("content-type", &ct)],
        body,
    )
    .await
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

/// Keys in the `default` key-value store of a stopped server's state directory, less the
/// retention sweep's own bookkeeping (`retention:*`: when it last ran, what it saw).
pub fn stored_keys(state_dir: &Path) -> Vec<String> {
    let path = songforge::key_value::KeyValueStores::default_path(state_dir, "default");
    let stores = songforge::key_value::KeyValueStores::open(
        &[("default".to_string(), path)].into_iter().collect(),
    )
    .expect("open the key-value store");
    let mut keys = stores.keys("default").expect("list keys");
    keys.retain(|k| !k.starts_with("retention:"));
    keys
}

/// The words of `text` as the transcript checks compare them: lower-cased and split at
/// anything that is not a letter, digit or apostrophe, so punctuation (hyphens too) separates
/// words and is dropped; apostrophes at a word's edges (quotes) are dropped, inner ones
/// ("don't") kept.
pub fn normalised_words(text: &str) -> Vec<String> {
    text.to_lowercase()
        .split(|c: char| !(c.is_alphanumeric() || c == '\''))
        .map(|w| w.trim_matches('\''))
        .filter(|w| !w.is_empty())
        .map(String::from)
        .collect()
}

/// Word-level Levenshtein distance: the fewest word substitutions, insertions and deletions
/// that turn `hypothesis` into `reference`.
pub fn word_edits(reference: &[String], hypothesis: &[String]) -> usize {
    let mut row: Vec<usize> = (0..=hypothesis.len()).collect();
    for (i, r) in reference.iter().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, h) in hypothesis.iter().enumerate() {
            let here = (diagonal + usize::from(r != h))
                .min(row[j] + 1)
                .min(row[j + 1] + 1);
            diagonal = row[j + 1];
            row[j + 1] = here;
        }
    }
    row[hypothesis.len()]
}

/// Word error rate of `hypothesis` against `reference`, both taken as [`normalised_words`]:
/// word-level edit distance ([`word_edits`]) as a **fraction of the reference's words**, so
/// 0.0 is a perfect transcript and 0.25 one edit per four reference words (insertions can
/// take it above 1.0). Panics when the reference has no words (a mistake in the test).
pub fn word_error_rate(reference: &str, hypothesis: &str) -> f64 {
    corpus_word_error_rate(&[(reference, hypothesis)])
}

/// Corpus word error rate over `(reference, hypothesis)` pairs, on the same scale as
/// [`word_error_rate`] (a fraction of reference words): the edits of every pair summed over
/// the reference words of every pair, so a long clip weighs more than a short one. Panics
/// when the references have no words between them.
pub fn corpus_word_error_rate(pairs: &[(impl AsRef<str>, impl AsRef<str>)]) -> f64 {
    let (mut edits, mut words) = (0, 0);
    for (reference, hypothesis) in pairs {
        let reference = normalised_words(reference.as_ref());
        edits += word_edits(&reference, &normalised_words(hypothesis.as_ref()));
        words += reference.len();
    }
    assert!(words > 0, "a word error rate needs reference words");
    edits as f64 / words as f64
}

/// Share (0.0 to 1.0) of the reference's [`normalised_words`] that `transcript` contains,
/// counted with multiplicity and in any order: unlike [`word_error_rate`] it forgives order and
/// extra words, for checks where only "were the words heard" matters. Panics when the
/// reference has no words.
pub fn word_recall(reference: &str, transcript: &str) -> f64 {
    let reference = normalised_words(reference);
    assert!(!reference.is_empty(), "a word recall needs reference words");
    let mut pool = normalised_words(transcript);
    let mut hits = 0;
    for w in &reference {
        if let Some(i) = pool.iter().position(|p| p == w) {
            pool.swap_remove(i);
            hits += 1;
        }
    }
    hits as f64 / reference.len() as f64
}

/// The words that are sung in `lyrics`: its lines without the section headings (`Verse 1:`,
/// `Chorus:`), joined with spaces.
pub fn sung_lyrics(lyrics: &str) -> String {
    lyrics
        .lines()
        .filter(|l| !l.trim_end().ends_with(':'))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A WAV for [`aubio`]: its bytes (written to a scratch file first) or a file on disk.
#[derive(Clone, Copy, Debug)]
pub enum Wav<'a> {
    /// WAV bytes, e.g. a response body.
    Bytes(&'a [u8]),
    /// A WAV file.
    File(&'a Path),
}

impl<'a> From<&'a [u8]> for Wav<'a> {
    fn from(bytes: &'a [u8]) -> Self {
        Wav::Bytes(bytes)
    }
}

impl<'a> From<&'a Vec<u8>> for Wav<'a> {
    fn from(bytes: &'a Vec<u8>) -> Self {
        Wav::Bytes(bytes)
    }
}

impl<'a> From<&'a Bytes> for Wav<'a> {
    fn from(bytes: &'a Bytes) -> Self {
        Wav::Bytes(bytes)
    }
}

impl<'a> From<&'a Path> for Wav<'a> {
    fn from(path: &'a Path) -> Self {
        Wav::File(path)
    }
}

impl<'a> From<&'a PathBuf> for Wav<'a> {
    fn from(path: &'a PathBuf) -> Self {
        Wav::File(path)
    }
}

/// Runs aubio, the tests' independent ear, on a WAV and returns what it prints: `tool` is
/// the program (`aubiopitch`, `aubioonset`, or `aubio` with the subcommand first in `args`),
/// `args` its options, and the WAV goes last as `-i FILE`. Panics when the tool is missing
/// (`make test` installs the Debian package aubio-tools with apt-get) or fails.
pub fn aubio<'a>(tool: &str, args: &[&str], wav: impl Into<Wav<'a>>) -> String {
    let (scratch, written);
    let path = match wav.into() {
        Wav::File(path) => path,
        Wav::Bytes(bytes) => {
            scratch = scratch_dir("aubio");
            written = scratch.join("input.wav");
            std::fs::write(&written, bytes).expect("write the WAV for aubio");
            written.as_path()
        }
    };
    let out = std::process::Command::new(tool)
        .args(args)
        .arg("-i")
        .arg(path)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run {tool} ({e}): `make test` installs aubio-tools with apt-get")
        });
    assert!(
        out.status.success(),
        "{tool} {args:?} on {} failed: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The tempo in BPM that aubio's beat tracker (`aubio tempo`) finds in a WAV.
pub fn aubio_tempo<'a>(wav: impl Into<Wav<'a>>) -> f64 {
    let text = aubio("aubio", &["tempo"], wav);
    parse_aubio_tempo(&text).unwrap_or_else(|| panic!("aubio printed no tempo: {text:?}"))
}

/// The last `N bpm` line of `aubio tempo`'s output (it prints `unknown bpm` when it finds no
/// beat).
fn parse_aubio_tempo(text: &str) -> Option<f64> {
    text.lines()
        .filter_map(|l| l.strip_suffix(" bpm")?.trim().parse::<f64>().ok())
        .next_back()
}

/// The LLM, the voice, Whisper base and the note reader (for hums), on the CPU, with the host's default memory per
/// instance (a three-minute instrumental renders its mix and four stems in memory).
pub fn song_config(state: &Path) -> ServerConfig {
    song_config_with(state, "")
}

/// The graphs a whole song needs: the default models of each stage.
pub const SONG_GRAPHS: &str = "[wasi_nn.graphs.llm]\nengine = \"llm\"\nmodel = \"smollm2-135m-instruct\"\ntarget = \"cpu\"\n\n\
     [wasi_nn.graphs.tts]\nengine = \"piper\"\nmodel = \"piper-en-us-joe-medium\"\ntarget = \"cpu\"\n\n\
     [wasi_nn.graphs.whisper]\nengine = \"whisper\"\nmodel = \"whisper-base\"\ntarget = \"cpu\"\n\n\
     [wasi_nn.graphs.pitch]\nengine = \"basic-pitch\"\nmodel = \"basic-pitch\"\ntarget = \"cpu\"\n";

/// [`song_config`] with more runtime config after the graphs (e.g. a Redis store).
pub fn song_config_with(state: &Path, more: &str) -> ServerConfig {
    let mut c = config_with_graphs(state, &format!("{SONG_GRAPHS}\n{more}"), models_dir());
    c.limits.max_memory_bytes = songforge::Limits::default().max_memory_bytes;
    c
}

/// A real `redis-server` (Debian's package; `make test` installs it) on loopback `port`,
/// keeping its data in `dir` with an fsync per write, so a restart keeps what it
/// acknowledged.
pub fn redis_server(dir: &Path, port: u16) -> std::process::Child {
    std::process::Command::new("redis-server")
        .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
        .args([
            "--save",
            "",
            "--appendonly",
            "yes",
            "--appendfsync",
            "always",
        ])
        .arg("--dir")
        .arg(dir)
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("start redis-server (`make test` installs it)")
}

/// Waits until something listens on loopback `port` (a server coming up), or fails the test
/// after about five seconds.
pub async fn wait_for_port(port: u16) {
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("nothing came up on port {port}");
}

/// The runtime config of a default store on the Redis server at loopback `port`.
pub fn redis_store(port: u16) -> String {
    format!("[key_value_store.default]\ntype = \"redis\"\nurl = \"redis://127.0.0.1:{port}\"\n")
}

/// The bearer token the tests' inference services want.
pub const NN_TOKEN: &str = "nn-token-for-tests";

/// serve-nn on a free loopback port wanting `token`.
pub fn nn_service_config(token: &str) -> songforge::nn_service::NnServiceConfig {
    songforge::nn_service::NnServiceConfig {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        token: Some(token.to_string()),
        allow_anonymous: false,
        max_body_bytes: 512 << 20,
        request_timeout: std::time::Duration::from_secs(600),
    }
}

/// serve-nn with the runtime config `graphs` (written into `state`) and the installed models.
pub async fn serve_nn(state: &Path, graphs: &str) -> songforge::nn_service::RunningNnService {
    let file = state.join("serve-nn.toml");
    std::fs::write(&file, graphs).expect("write the service's runtime config");
    let runtime =
        songforge::runtime_config::RuntimeConfig::load(&file).expect("a valid runtime config");
    let registry = songforge::engines::build_registry(Vec::new(), &runtime, &models_dir());
    songforge::nn_service::start(nn_service_config(NN_TOKEN), std::sync::Arc::new(registry))
        .await
        .expect("serve-nn starts")
}

/// The app, its wasi-nn from the dependency, pointed at the service at `nn` with `token`.
pub fn app_on_nn(state: &Path, nn: SocketAddr, token: &str) -> songforge::ServerConfig {
    let mut c = config(app_manifest(), state);
    c.wasi_nn = songforge::component::WasiNnProvider::Dependency;
    c.limits.max_memory_bytes = songforge::Limits::default().max_memory_bytes;
    let (url, token) = (format!("http://{nn}"), token.to_string());
    c.env = std::sync::Arc::new(move |k| match k {
        "SPIN_VARIABLE_NN_URL" => Some(url.clone()),
        "SPIN_VARIABLE_NN_TOKEN" => Some(token.clone()),
        _ => None,
    });
    c
}

/// A tune as a baritone might hum it, A3 C4 D4 E4 D4, as `(midi, start_s, end_s)`; 4 s long.
pub const HUM_TUNE: [(f64, f64, f64); 5] = [
    (57.0, 0.5, 0.9),
    (60.0, 1.0, 1.4),
    (62.0, 1.5, 1.9),
    (64.0, 2.0, 2.4),
    (62.0, 2.5, 3.3),
];

/// A hum of `(midi, start_s, end_s)` notes: each note a few harmonics under a soft attack and release, silence between.
pub fn hum_wav(notes: &[(f64, f64, f64)], seconds: f64) -> Vec<u8> {
    let rate = 44_100.0;
    let mut x = vec![0f32; (seconds * rate) as usize];
    for &(midi, start, end) in notes {
        let f = 440.0 * 2f64.powf((midi - 69.0) / 12.0);
        let (a, b) = ((start * rate) as usize, (end * rate) as usize);
        for (i, s) in x[a..b].iter_mut().enumerate() {
            let t = i as f64 / rate;
            let env = (t / 0.03).min(1.0).min((end - start - t) / 0.05).max(0.0);
            let w = std::f64::consts::TAU * f * t;
            *s = (env * (0.5 * w.sin() + 0.25 * (2.0 * w).sin() + 0.12 * (3.0 * w).sin()) * 0.6)
                as f32;
        }
    }
    let audio = songforge_audio::Audio {
        sample_rate: 44_100,
        channels: vec![x],
    };
    songforge_audio::encode_wav(&audio, songforge_audio::SampleFormat::Int16)
        .expect("encode the hum")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_normalised_before_they_are_compared() {
        assert_eq!(
            normalised_words("Don't STOP, the rock-and-roll 'til 3 a.m.!"),
            [
                "don't", "stop", "the", "rock", "and", "roll", "til", "3", "a", "m"
            ]
        );
        assert!(normalised_words(" ,.; ").is_empty());
    }

    #[test]
    fn word_error_rate_is_edits_over_reference_words() {
        assert_eq!(word_error_rate("Hold me close.", "hold me, close"), 0.0);
        // One substitution ("old") and one deletion ("close") in three words.
        assert!((word_error_rate("hold me close", "old me") - 2.0 / 3.0).abs() < 1e-9);
        // Insertions count: two extra words on a one-word reference.
        assert_eq!(word_error_rate("go", "go go go"), 2.0);
        assert_eq!(word_error_rate("a b c d", ""), 1.0);
    }

    #[test]
    fn corpus_word_error_rate_pools_edits_and_words() {
        // One edit in a four-word clip, none in a one-word clip: 1 / 5, not the mean of 1/4 and 0.
        let pairs = [("a b c d", "a b x d"), ("e", "e")];
        assert!((corpus_word_error_rate(&pairs) - 0.2).abs() < 1e-9);
        assert_eq!(
            corpus_word_error_rate(&[("the lazy dog", "the lazy dog")]),
            word_error_rate("the lazy dog", "the lazy dog")
        );
    }

    #[test]
    #[should_panic(expected = "needs reference words")]
    fn an_empty_reference_is_a_mistake() {
        word_error_rate("", "anything");
    }

    #[test]
    fn word_recall_forgives_order_and_extra_words_but_counts_repeats() {
        assert_eq!(
            word_recall("hold me close", "close, hold me, uh, yeah"),
            1.0
        );
        assert!((word_recall("go go home", "go home") - 2.0 / 3.0).abs() < 1e-9);
    }

    #[test]
    fn aubio_tempo_output_is_parsed() {
        assert_eq!(parse_aubio_tempo("120.05 bpm\n"), Some(120.05));
        assert_eq!(parse_aubio_tempo("unknown bpm\n"), None);
        assert_eq!(parse_aubio_tempo(""), None);
    }

    #[test]
    fn aubio_runs_on_wav_bytes_and_files() {
        let wav = wav_tone(16_000);
        let from_bytes = aubio("aubiopitch", &["-p", "yin"], &wav);
        let dir = scratch_dir("aubio-test");
        let path = dir.join("tone.wav");
        std::fs::write(&path, &wav).unwrap();
        assert_eq!(aubio("aubiopitch", &["-p", "yin"], &path), from_bytes);
        // The 440 Hz tone, heard as such once the tracker has settled.
        let hz: Vec<f64> = from_bytes
            .lines()
            .filter_map(|l| l.split_whitespace().nth(1)?.parse().ok())
            .collect();
        let settled = &hz[hz.len() / 2];
        assert!((settled - 440.0).abs() < 5.0, "{from_bytes}");
    }

    #[test]
    fn sung_lyrics_leave_the_headings_out() {
        assert_eq!(
            sung_lyrics("Verse 1:\nI walked along\n\nChorus: \nHold me close"),
            "I walked along  Hold me close"
        );
    }
}
