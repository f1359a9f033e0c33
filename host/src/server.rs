//! The HTTP front: routing, limits, CORS, access log, graceful shutdown, and one fresh
//! component instance per request.

use crate::component::{LoadError, LoadedComponent};
use crate::config_file::ConfigFileError;
use crate::key_value::{KeyValueCtx, KeyValueStores};
use crate::manifest::{Manifest, ManifestError};
use crate::router::Router;
use crate::runtime_config::RuntimeConfig;
use crate::state::{HostBody, HostState, LocalResponse, LocalServices};
use crate::variables::{MissingVariable, ResolvedVariables};
use crate::wasi_nn::{GraphRegistry, WasiNnCtx};
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use wasmtime::component::Linker;
use wasmtime::{
    Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store, UpdateDeadline,
};

/// Tunable limits; every one has a CLI flag and an environment variable.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest request body accepted (413 above it).
    pub max_body_bytes: u64,
    /// Linear memory one instance may grow to.
    pub max_memory_bytes: usize,
    /// Wall-clock time a request may take (504 after it).
    pub request_timeout: Duration,
    /// Requests served at once; more wait up to `queue_timeout`, then get 503.
    pub max_concurrent: usize,
    /// How long a request waits for a free slot.
    pub queue_timeout: Duration,
    /// How long an instance may go on after its response has started: a streamed body
    /// (Server-Sent Events) or work after returning (a song job). A fresh instance per
    /// request all the same; the client may have gone.
    pub background_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body_bytes: 100 * 1024 * 1024,
            max_memory_bytes: 2 * 1024 * 1024 * 1024,
            request_timeout: Duration::from_secs(600),
            max_concurrent: 256,
            queue_timeout: Duration::from_secs(10),
            background_timeout: Duration::from_secs(30 * 60),
        }
    }
}

/// Which browser origins may call the API.
#[derive(Debug, Clone, Default)]
pub enum CorsPolicy {
    /// No CORS headers.
    #[default]
    Off,
    /// Any origin (`*`).
    Any,
    /// These exact origins.
    Origins(Vec<String>),
}

impl CorsPolicy {
    /// Parses `CORS_ALLOWED_ORIGINS`: empty → off, `*` → any, else a comma-separated list.
    pub fn parse(value: &str) -> Self {
        let origins: Vec<String> = value
            .split(',')
            .map(|s| s.trim().trim_end_matches('/').to_string())
            .filter(|s| !s.is_empty())
            .collect();
        if origins.is_empty() {
            Self::Off
        } else if origins.iter().any(|o| o == "*") {
            Self::Any
        } else {
            Self::Origins(origins)
        }
    }

    fn allow_origin(&self, origin: Option<&HeaderValue>) -> Option<HeaderValue> {
        match self {
            Self::Off => None,
            Self::Any => Some(HeaderValue::from_static("*")),
            Self::Origins(list) => {
                let origin = origin?;
                let s = origin.to_str().ok()?;
                list.iter().any(|o| o == s).then(|| origin.clone())
            }
        }
    }
}

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
    /// A component could not be loaded.
    #[error(transparent)]
    Component(#[from] LoadError),
    /// Anything else (engine, key-value store, socket), with context.
    #[error("{0}")]
    Other(String),
}

fn other(context: &str) -> impl Fn(wasmtime::Error) -> StartError + '_ {
    move |e| StartError::Other(format!("{context}: {e:#}"))
}

/// Marker error for a request that ran out of time inside the guest.
#[derive(Debug, thiserror::Error)]
#[error("the request exceeded its time limit")]
struct RequestTimedOut;

struct App {
    /// This app, for the local calls its components make.
    me: Weak<App>,
    engine: Engine,
    router: Router,
    route_components: Vec<usize>,
    components: Vec<LoadedComponent>,
    by_id: HashMap<String, usize>,
    kv: Arc<KeyValueStores>,
    nn: Arc<GraphRegistry>,
    limits: Limits,
    cors: CorsPolicy,
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

async fn wait_for_signal() {
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

/// The engine configuration every component is compiled for.
pub fn engine_config(limits: &Limits) -> Config {
    let mut config = Config::new();
    config.wasm_component_model(true);
    config.wasm_component_model_async(true);
    config.concurrency_support(true);
    config.epoch_interruption(true);
    let instances = (limits.max_concurrent as u32).saturating_mul(2).max(64);
    let mut pool = PoolingAllocationConfig::default();
    pool.total_component_instances(instances)
        .total_core_instances(instances.saturating_mul(8))
        .total_memories(instances.saturating_mul(2))
        .total_tables(instances.saturating_mul(8))
        .total_stacks(instances)
        .max_memory_size(limits.max_memory_bytes)
        .max_core_instances_per_component(64)
        .max_memories_per_component(8)
        .max_tables_per_component(64)
        // Reset the first pages of a freed instance's memory by writing zeros instead of
        // returning them to the kernel: the next request would otherwise fault them all in
        // again (a Rust guest touches about a megabyte for its stack and heap).
        .linear_memory_keep_resident(2 << 20)
        .table_keep_resident(64 << 10);
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    config
}

/// Loads everything and starts serving. Errors name the file and field at fault.
pub async fn start(config: ServerConfig) -> Result<RunningServer, StartError> {
    let started = Instant::now();
    let mut manifest = Manifest::load(&config.manifest)?;
    manifest.resolve_model_mounts(&config.models_dir);
    let runtime = match &config.runtime_config {
        Some(p) => RuntimeConfig::load(p)?,
        None => RuntimeConfig::default(),
    };
    let env = config.env.clone();
    let variables = ResolvedVariables::resolve(&manifest, |k| env(k))?;

    // Key-value: every label a component uses must be configured; `default` is implicit.
    let mut kv_paths: HashMap<String, PathBuf> = HashMap::new();
    for (label, store) in &runtime.key_value_store {
        let path = store
            .path
            .clone()
            .unwrap_or_else(|| KeyValueStores::default_path(&config.state_dir, label));
        kv_paths.insert(label.clone(), path);
    }
    for c in manifest.components.values() {
        for label in &c.key_value_stores {
            if label == "default" {
                kv_paths
                    .entry(label.clone())
                    .or_insert_with(|| KeyValueStores::default_path(&config.state_dir, label));
            } else if !kv_paths.contains_key(label) {
                return Err(ManifestError::Field {
                    file: manifest.file.clone(),
                    field: format!("component.{}.key_value_stores", c.id),
                    problem: format!(
                        "store `{label}` is not defined in the runtime config (`[key_value_store.{label}]`)"
                    ),
                }
                .into());
            }
        }
    }
    let kv =
        Arc::new(KeyValueStores::open(&kv_paths).map_err(|e| StartError::Other(e.to_string()))?);

    let mut registry = GraphRegistry::new(
        runtime.wasi_nn.queue_depth,
        runtime.wasi_nn.threads_per_device,
    );
    for (name, engine) in config.graphs {
        registry.register(name, engine, songforge_inference::Device::Cpu);
    }
    let models = crate::engines::ModelSource {
        store: songforge_models::ModelStore::new(config.models_dir.clone()),
    };
    crate::engines::register_configured(
        &mut registry,
        &runtime,
        config.runtime_config.as_deref(),
        &models,
    )?;
    for g in registry.status() {
        match g.available {
            true => {
                tracing::info!(graph = %g.name, model = ?g.model, device = ?g.device, "wasi-nn graph ready")
            }
            false => {
                tracing::warn!(graph = %g.name, reason = ?g.reason, "wasi-nn graph unavailable")
            }
        }
    }
    let nn = Arc::new(registry);

    let engine = Engine::new(&engine_config(&config.limits))
        .map_err(other("cannot create the wasm engine"))?;
    let mut linker: Linker<HostState> = Linker::new(&engine);
    add_host_interfaces(&mut linker).map_err(other("cannot link host interfaces"))?;

    let host_env = host_environment(&manifest, &nn);
    let mut components = Vec::new();
    let mut index_of = HashMap::new();
    for (id, spec) in &manifest.components {
        let loaded = LoadedComponent::load(
            &engine,
            &linker,
            spec,
            &config.cache_dir,
            &host_env,
            variables.for_component(id),
        )?;
        tracing::info!(component = %id, cached = loaded.cached, "component ready");
        index_of.insert(id.clone(), components.len());
        components.push(loaded);
    }
    let router =
        Router::new(manifest.routes.iter().map(|r| r.route.as_str())).map_err(|problem| {
            ManifestError::Field {
                file: manifest.file.clone(),
                field: "trigger.http".into(),
                problem,
            }
        })?;
    let route_components = manifest
        .routes
        .iter()
        .map(|r| index_of[&r.component])
        .collect();
    let loaded = components
        .iter()
        .map(|c| (c.id.clone(), c.cached))
        .collect();

    // Epoch ticks drive both request deadlines and cooperative yielding of busy guests.
    let ticker = engine.weak();
    std::thread::Builder::new()
        .name("epoch-ticker".into())
        .spawn(move || {
            while let Some(engine) = ticker.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        })
        .map_err(|e| StartError::Other(format!("cannot start the epoch thread: {e}")))?;

    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|e| StartError::Other(format!("cannot listen on {}: {e}", config.listen)))?;
    let addr = listener
        .local_addr()
        .map_err(|e| StartError::Other(format!("no local address: {e}")))?;
    let app = Arc::new_cyclic(|me| App {
        me: me.clone(),
        by_id: index_of,
        engine,
        router,
        route_components,
        components,
        kv,
        nn,
        slots: Semaphore::new(config.limits.max_concurrent.max(1)),
        limits: config.limits,
        cors: config.cors,
    });
    tracing::info!(%addr, ms = started.elapsed().as_millis() as u64, "serving {}", manifest.file.display());
    let (shutdown, rx) = watch::channel(false);
    let task = tokio::spawn(accept_loop(listener, app, rx));
    Ok(RunningServer {
        addr,
        loaded,
        shutdown,
        task,
    })
}

const EPOCH_TICK: Duration = Duration::from_millis(10);

fn add_host_interfaces(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    wasmtime_wasi::p2::add_to_linker_async(linker)?;
    wasmtime_wasi::p3::add_to_linker(linker)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(linker)?;
    wasmtime_wasi_http::p3::add_to_linker(linker)?;
    crate::key_value::add_to_linker(linker, HostState::key_value)?;
    crate::variables::add_to_linker(linker, HostState::variables)?;
    crate::wasi_nn::add_to_linker(linker, HostState::wasi_nn)?;
    Ok(())
}

/// Facts only the host knows, handed to every component as environment variables.
fn host_environment(manifest: &Manifest, registry: &GraphRegistry) -> Vec<(String, String)> {
    let components: Vec<serde_json::Value> = manifest
        .routes
        .iter()
        .map(|r| serde_json::json!({"id": r.component, "route": r.route}))
        .collect();
    vec![
        ("SONGFORGE_VERSION".into(), env!("CARGO_PKG_VERSION").into()),
        ("SONGFORGE_DEVICE".into(), crate::engines::device_summary()),
        (
            "SONGFORGE_COMPONENTS".into(),
            serde_json::Value::Array(components).to_string(),
        ),
        (
            songforge_inference::contract::status::GRAPHS_ENV.into(),
            serde_json::to_string(&registry.status()).unwrap_or_else(|_| "[]".into()),
        ),
    ]
}

async fn accept_loop(listener: TcpListener, app: Arc<App>, mut shutdown: watch::Receiver<bool>) {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let builder =
        hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, remote) = match accepted {
                    Ok(v) => v,
                    Err(e) => {
                        tracing::warn!("accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let app = app.clone();
                let service = hyper::service::service_fn(move |req| {
                    let app = app.clone();
                    async move { Ok::<_, std::convert::Infallible>(app.handle(req, remote).await) }
                });
                let conn = builder.serve_connection_with_upgrades(hyper_util::rt::TokioIo::new(stream), service);
                let conn = graceful.watch(conn.into_owned());
                tokio::spawn(async move {
                    if let Err(e) = conn.await {
                        tracing::debug!("connection error: {e}");
                    }
                });
            }
            _ = shutdown.changed() => break,
        }
    }
    drop(listener);
    if tokio::time::timeout(Duration::from_secs(30), graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("some connections were still open after 30 s; closing them");
    }
}

/// A host-made JSON error in the same envelope the components use.
pub fn json_error(status: StatusCode, code: &str, message: &str) -> Response<Full<Bytes>> {
    let body = serde_json::json!({
        "success": false,
        "error": {"code": code, "message": message},
    });
    let mut res = Response::new(Full::new(Bytes::from(body.to_string())));
    *res.status_mut() = status;
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    res
}

impl App {
    async fn handle(&self, req: Request<Incoming>, remote: SocketAddr) -> Response<HostBody> {
        let started = Instant::now();
        let method = req.method().clone();
        let path = req.uri().path().to_string();
        let origin = req.headers().get(header::ORIGIN).cloned();
        let (mut res, component) = self.dispatch(req, remote).await;
        if let Some(allowed) = self.cors.allow_origin(origin.as_ref()) {
            let h = res.headers_mut();
            h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, allowed);
            h.insert(
                header::ACCESS_CONTROL_EXPOSE_HEADERS,
                HeaderValue::from_static(
                    "Content-Length, Content-Range, ETag, Retry-After, Location",
                ),
            );
            h.append(header::VARY, HeaderValue::from_static("Origin"));
        }
        tracing::info!(
            target: "songforge::access",
            "{method} {path} {} {:.1}ms {}",
            res.status().as_u16(),
            started.elapsed().as_secs_f64() * 1000.0,
            component.unwrap_or("-"),
        );
        res
    }

    async fn dispatch(
        &self,
        req: Request<Incoming>,
        remote: SocketAddr,
    ) -> (Response<HostBody>, Option<&str>) {
        if req.method() == Method::OPTIONS
            && req
                .headers()
                .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
            && !matches!(self.cors, CorsPolicy::Off)
        {
            return (whole(self.preflight(req.headers())), None);
        }
        let path = req.uri().path().to_string();
        let Some(matched) = self.router.route(&path) else {
            return (
                whole(json_error(
                    StatusCode::NOT_FOUND,
                    "not_found",
                    &format!("no route matches {path}"),
                )),
                None,
            );
        };
        let component = &self.components[self.route_components[matched.index]];
        let id = Some(component.id.as_str());

        let permit =
            match tokio::time::timeout(self.limits.queue_timeout, self.slots.acquire()).await {
                Ok(Ok(p)) => p,
                _ => {
                    let mut res = json_error(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "service_unavailable",
                        "the server is at its concurrent request limit; retry shortly",
                    );
                    res.headers_mut()
                        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
                    return (whole(res), id);
                }
            };

        let too_large = || {
            json_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                &format!(
                    "the request body is larger than {} bytes",
                    self.limits.max_body_bytes
                ),
            )
        };
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > self.limits.max_body_bytes) {
            return (whole(too_large()), id);
        }
        let (parts, body) = req.into_parts();
        let limit = usize::try_from(self.limits.max_body_bytes).unwrap_or(usize::MAX);
        let body = match Limited::new(body, limit).collect().await {
            Ok(b) => b.to_bytes(),
            Err(e)
                if e.downcast_ref::<http_body_util::LengthLimitError>()
                    .is_some() =>
            {
                return (whole(too_large()), id);
            }
            Err(e) => {
                return (
                    whole(json_error(
                        StatusCode::BAD_REQUEST,
                        "bad_request",
                        &format!("could not read the request body: {e}"),
                    )),
                    id,
                );
            }
        };
        let res = self
            .call_component(component, parts, body, &matched, &remote.to_string())
            .await;
        drop(permit);
        (res, id)
    }

    /// Calls a routed component with a read body: Spin's request headers, then a fresh
    /// instance; host failures become JSON errors.
    async fn call_component(
        &self,
        component: &LoadedComponent,
        parts: http::request::Parts,
        body: Bytes,
        matched: &crate::router::RouteMatch<'_>,
        remote: &str,
    ) -> Response<HostBody> {
        let mut headers = parts.headers.clone();
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("localhost")
            .to_string();
        let path_and_query = parts
            .uri
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .unwrap_or_else(|| "/".into());
        let full_url = format!("http://{host}{path_and_query}");
        let spin_headers = [
            ("spin-full-url", full_url.clone()),
            ("spin-path-info", matched.path_info.clone()),
            ("spin-matched-route", matched.route.to_string()),
            ("spin-raw-component-route", matched.route.to_string()),
            (
                "spin-component-route",
                matched.route.trim_end_matches("/...").to_string(),
            ),
            ("spin-base-path", "/".into()),
            ("spin-client-addr", remote.to_string()),
        ];
        for (name, value) in spin_headers {
            if let Ok(v) = HeaderValue::from_str(&value) {
                headers.insert(HeaderName::from_static(name), v);
            }
        }
        let uri = match full_url.parse::<http::Uri>() {
            Ok(u) => u,
            Err(_) => {
                return whole(json_error(
                    StatusCode::BAD_REQUEST,
                    "bad_request",
                    "the request URI is malformed",
                ));
            }
        };
        let mut guest_req = Request::new(Full::new(body));
        *guest_req.method_mut() = parts.method.clone();
        *guest_req.uri_mut() = uri;
        *guest_req.headers_mut() = headers;

        match self.invoke(component, guest_req).await {
            Ok(res) => res,
            Err(e) if is_timeout(&e) => {
                tracing::warn!(component = %component.id, "request timed out");
                whole(json_error(
                    StatusCode::GATEWAY_TIMEOUT,
                    "timeout",
                    &format!(
                        "the request took longer than {} s and was stopped",
                        self.limits.request_timeout.as_secs_f64()
                    ),
                ))
            }
            Err(e) if e.downcast_ref::<OutOfMemory>().is_some() => {
                tracing::warn!(component = %component.id, "{e:#}");
                let first = format!("{e}");
                whole(json_error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "out_of_memory",
                    &format!("component `{}` {first}", component.id),
                ))
            }
            Err(e) => {
                tracing::error!(component = %component.id, "request failed: {e:?}");
                let first = format!("{e:#}");
                let first = first.lines().next().unwrap_or("unknown error");
                whole(json_error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    &format!("component `{}` failed: {first}", component.id),
                ))
            }
        }
    }

    fn preflight(&self, headers: &HeaderMap) -> Response<Full<Bytes>> {
        let mut res = Response::new(Full::new(Bytes::new()));
        *res.status_mut() = StatusCode::NO_CONTENT;
        if let Some(allowed) = self.cors.allow_origin(headers.get(header::ORIGIN)) {
            let h = res.headers_mut();
            h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, allowed);
            h.insert(
                header::ACCESS_CONTROL_ALLOW_METHODS,
                HeaderValue::from_static("GET, HEAD, POST, PUT, DELETE, OPTIONS"),
            );
            let requested = headers
                .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
                .cloned()
                .unwrap_or_else(|| HeaderValue::from_static("Content-Type, Range"));
            h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, requested);
            h.insert(
                header::ACCESS_CONTROL_MAX_AGE,
                HeaderValue::from_static("600"),
            );
        }
        res
    }

    /// Runs one fresh instance of `component` on `req`. Answers as soon as the guest returns
    /// its response; the body then streams as the guest writes it, and the instance lives on
    /// (up to `background_timeout`) until its tasks have exited: work after returning, as
    /// the component model allows, is how a song job goes on after its 202.
    async fn invoke(
        &self,
        component: &LoadedComponent,
        req: Request<Full<Bytes>>,
    ) -> wasmtime::Result<Response<HostBody>> {
        let local: Weak<dyn LocalServices> = self.me.clone();
        let state = HostState::new(
            component.wasi_ctx()?,
            component.outbound.clone(),
            KeyValueCtx::new(self.kv.clone(), component.key_value_stores.clone()),
            WasiNnCtx::new(self.nn.clone()),
            component.variables.clone(),
            self.limits.max_memory_bytes,
            local,
        );
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limits);
        let deadline = Arc::new(Mutex::new(Instant::now() + self.limits.request_timeout));
        store.set_epoch_deadline(1);
        let until = deadline.clone();
        store.epoch_deadline_callback(move |_| {
            let over = until.lock().map(|d| Instant::now() >= *d).unwrap_or(true);
            if over {
                Err(RequestTimedOut.into())
            } else {
                // Let other requests run on this thread between slices of a busy guest.
                Ok(UpdateDeadline::Yield(1))
            }
        });
        let (head_tx, head_rx) = tokio::sync::oneshot::channel();
        let head_tx = Arc::new(Mutex::new(Some(head_tx)));
        let pre = component.pre.clone();
        let id = component.id.clone();
        let background = self.limits.background_timeout;
        let lifetime = self.limits.request_timeout + background;
        let head = head_tx.clone();
        tokio::spawn(async move {
            let work = async {
                let service = pre.instantiate_async(&mut store).await?;
                let (request, _body_result) = wasmtime_wasi_http::p3::Request::from_http(
                    wasmtime_wasi_http::default_hooks(),
                    req,
                );
                store
                    .run_concurrent(async |accessor| -> wasmtime::Result<()> {
                        let res = match service.handle(accessor, request).await? {
                            Ok(res) => res,
                            Err(code) => {
                                wasmtime::bail!("the component returned error code {code:?}")
                            }
                        };
                        let res =
                            accessor.with(|access| res.into_http(access, async { Ok(()) }))?;
                        let (parts, mut body) = res.into_parts();
                        let (mut tx, channel) = http_body_util::channel::Channel::<Bytes>::new(4);
                        if let Some(h) = head.lock().ok().and_then(|mut h| h.take()) {
                            let _ = h.send(Ok(Response::from_parts(parts, channel.boxed_unsync())));
                        }
                        if let Ok(mut d) = deadline.lock() {
                            *d = Instant::now() + background;
                        }
                        // Forward the body while the client reads; once it has gone, the
                        // guest's body is dropped so its writes fail and it can stop.
                        while let Some(frame) = body.frame().await {
                            let frame = frame.map_err(|e| {
                                wasmtime::format_err!("the response body failed: {e:?}")
                            })?;
                            if tx.send(frame).await.is_err() {
                                break;
                            }
                        }
                        drop(body);
                        drop(tx);
                        std::future::poll_fn(|cx| accessor.poll_no_interesting_tasks(cx)).await;
                        Ok(())
                    })
                    .await?
            };
            let result = match tokio::time::timeout(lifetime, work).await {
                Ok(r) => r,
                Err(_) => Err(RequestTimedOut.into()),
            };
            let limit = &store.data().limits;
            let result = match (result, limit.denied) {
                (Err(e), Some(asked)) => Err(e.context(OutOfMemory {
                    asked,
                    limit: limit.max_bytes(),
                })),
                (r, _) => r,
            };
            if let Err(e) = result {
                match head.lock().ok().and_then(|mut h| h.take()) {
                    Some(h) => {
                        let _ = h.send(Err(e));
                    }
                    None => {
                        tracing::warn!(component = %id, "work after the response failed: {e:#}")
                    }
                }
            }
        });
        let answer = tokio::time::timeout(self.limits.request_timeout, head_rx).await;
        drop(head_tx);
        match answer {
            Ok(Ok(r)) => r,
            Ok(Err(_)) => Err(wasmtime::format_err!(
                "the instance ended without a response"
            )),
            Err(_) => Err(RequestTimedOut.into()),
        }
    }

    /// The routed component of a local call, checked to be the one the call names.
    fn local_route(
        &self,
        id: &str,
        path: &str,
    ) -> Result<(usize, crate::router::RouteMatch<'_>), String> {
        let index = *self
            .by_id
            .get(id)
            .ok_or_else(|| format!("the app has no component `{id}`"))?;
        let matched = self
            .router
            .route(path)
            .filter(|m| self.route_components[m.index] == index)
            .ok_or_else(|| format!("no route of component `{id}` matches {path}"))?;
        Ok((index, matched))
    }
}

impl LocalServices for App {
    fn call(&self, id: &str, request: Request<Full<Bytes>>) -> Option<LocalResponse> {
        let app = self.me.upgrade()?;
        self.by_id.get(id)?;
        let id = id.to_string();
        Some(Box::pin(async move {
            let (parts, body) = request.into_parts();
            let body = match body.collect().await {
                Ok(b) => b.to_bytes(),
                Err(e) => match e {},
            };
            let path = parts.uri.path().to_string();
            match app.local_route(&id, &path) {
                Ok((index, matched)) => {
                    let component = &app.components[index];
                    app.call_component(component, parts, body, &matched, "local")
                        .await
                }
                Err(problem) => whole(json_error(StatusCode::NOT_FOUND, "not_found", &problem)),
            }
        }))
    }
}

/// A whole body as the host's body type.
fn whole(res: Response<Full<Bytes>>) -> Response<HostBody> {
    res.map(|b| b.boxed_unsync())
}

/// An instance asked for more linear memory than its limit and then failed.
#[derive(Debug)]
struct OutOfMemory {
    asked: usize,
    limit: usize,
}

impl std::fmt::Display for OutOfMemory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "ran out of memory: it asked for {} MiB, over the {} MiB each instance may use \
             (--max-memory-mib / SONGFORGE_MAX_MEMORY_MIB)",
            self.asked.div_ceil(1 << 20),
            self.limit >> 20
        )
    }
}

impl std::error::Error for OutOfMemory {}

fn is_timeout(e: &wasmtime::Error) -> bool {
    e.chain()
        .any(|c| c.downcast_ref::<RequestTimedOut>().is_some())
}
