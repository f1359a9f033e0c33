//! The HTTP server: one file per concept, in the order a request meets them.
//!
//! - [`limits`]: the limits every request runs under, with their defaults.
//! - [`access`]: API keys, and each key's rate and concurrency limits.
//! - [`cors`]: which browser origins may call, preflights and response headers.
//! - [`startup`]: reading the configs, opening stores and graphs, loading components, binding.
//! - [`front`]: the accept loop, routing, the concurrency gate and body reading.
//! - [`spin_headers`]: the request a guest sees, with Spin's `spin-*` headers.
//! - [`lanes`]: work on a runtime of its own, so light requests are never queued behind it.
//! - [`invoke`]: one fresh instance per request, and host failures as JSON errors.
//! - [`local`]: Spin's local service chaining (`http://<id>.spin.internal/…`).

mod access;
mod cors;
mod front;
mod invoke;
mod lanes;
mod limits;
mod local;
mod spin_headers;
mod startup;

pub use access::KeyLimits;
pub use cors::CorsPolicy;
pub use front::json_error;
pub use limits::Limits;
pub use startup::{engine_config, start};

use crate::component::{LoadError, LoadedComponent};
use crate::config_file::ConfigFileError;
use crate::key_value::{KeyValueError, KeyValueStores};
use crate::router::Router;
use crate::variables::MissingVariable;
use crate::wasi_nn::GraphRegistry;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};
use tokio::sync::{Semaphore, watch};
use wasmtime::Engine;

/// Looks up an environment variable (a closure in tests, the process environment otherwise).
pub type EnvLookup = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// Everything needed to start a server.
pub struct ServerConfig {
    /// The Spin manifest.
    pub manifest: PathBuf,
    /// Address to listen on (port 0 picks a free one).
    pub listen: SocketAddr,
    /// Runtime config file, if any.
    pub runtime_config: Option<PathBuf>,
    /// Where key-value data lives by default.
    pub state_dir: PathBuf,
    /// Where precompiled components are cached.
    pub cache_dir: PathBuf,
    /// Installed models (`songforge models pull`), one directory per catalog id.
    pub models_dir: PathBuf,
    /// Limits.
    pub limits: Limits,
    /// CORS policy.
    pub cors: CorsPolicy,
    /// Environment lookup for `SPIN_VARIABLE_*` (the process environment in production).
    pub env: EnvLookup,
    /// Graphs registered in code before the config's (tests use this for probe graphs).
    pub graphs: Vec<(String, Arc<dyn songforge_inference::Engine>)>,
    /// Serve without API keys on an address other than loopback (`--allow-anonymous`).
    pub allow_anonymous: bool,
    /// Who provides wasi-nn: the host's graphs, or each component's declared dependency.
    pub wasi_nn: crate::component::WasiNnProvider,
}

impl ServerConfig {
    /// Defaults for serving `manifest` on `listen`, with state beside the manifest in
    /// `.songforge/`.
    pub fn new(manifest: impl Into<PathBuf>, listen: SocketAddr) -> Self {
        let manifest = manifest.into();
        let dir = manifest.parent().map(Path::to_path_buf).unwrap_or_default();
        let state_dir = dir.join(".songforge");
        Self {
            manifest,
            listen,
            runtime_config: None,
            cache_dir: state_dir.join("cache"),
            models_dir: dir.join("models").join("store"),
            state_dir,
            limits: Limits::default(),
            cors: CorsPolicy::Off,
            env: Arc::new(|k| std::env::var(k).ok()),
            graphs: Vec::new(),
            allow_anonymous: false,
            wasi_nn: crate::component::WasiNnProvider::Native,
        }
    }
}

/// Why the server refused to start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The manifest or the runtime config is invalid.
    #[error(transparent)]
    Config(#[from] ConfigFileError),
    /// A required variable has no value.
    #[error(transparent)]
    Variable(#[from] MissingVariable),
    /// A component uses an undefined key-value store, or a store cannot be opened.
    #[error(transparent)]
    KeyValue(#[from] KeyValueError),
    /// A component could not be loaded.
    #[error(transparent)]
    Component(#[from] LoadError),
    /// Anything else (the wasm engine, a thread, the socket), with context.
    #[error("{0}")]
    Other(String),
}

/// The app being served: shared by every connection, and by the local calls its components
/// make (through `me`).
struct App {
    /// This app, for the local calls its components make.
    me: Weak<App>,
    engine: Engine,
    router: Router,
    /// The component index of each route, in the router's order.
    route_components: Vec<usize>,
    components: Vec<LoadedComponent>,
    by_id: HashMap<String, usize>,
    kv: Arc<KeyValueStores>,
    nn: Arc<GraphRegistry>,
    limits: Limits,
    cors: CorsPolicy,
    /// API keys and the per-key limits.
    access: access::Access,
    /// Whether each component (by index) maps `api_keys`, so its routes need a key.
    protected: Vec<bool>,
    /// The runtime work requests' instances run on.
    work: lanes::WorkLane,
    /// The instances alive, for shutdown to wait on.
    instances: Arc<lanes::Instances>,
    /// The linear memory work instances may hold together.
    memory: Arc<crate::memory_budget::MemoryBudget>,
    /// One permit per request served at once (`Limits::max_concurrent`).
    slots: Semaphore,
}

/// A running server.
pub struct RunningServer {
    /// The bound address.
    pub addr: SocketAddr,
    /// Each component id and whether it came precompiled from the cache.
    pub loaded: Vec<(String, bool)>,
    shutdown: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl RunningServer {
    /// Stops accepting, lets in-flight requests finish (up to 30 s), then returns.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        let _ = self.task.await;
    }

    /// Serves until SIGINT or SIGTERM, then shuts down gracefully.
    pub async fn run_until_signal(self) {
        wait_for_signal().await;
        tracing::info!("shutting down: finishing in-flight requests");
        self.shutdown().await;
    }
}

/// Waits for SIGINT or SIGTERM.
pub async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
