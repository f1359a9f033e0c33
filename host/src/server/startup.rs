//! Start-up: read the manifest and runtime config, open the key-value stores, register the
//! wasi-nn graphs, load every component, start the epoch ticker and bind the listener. Each
//! step is a function; any failure is a [`StartError`] naming the file and field at fault.

use super::access::{Access, KeyLimits};
use super::front::accept_loop;
use super::{App, Limits, RunningServer, ServerConfig, StartError};
use crate::component::{ComponentSetup, LoadedComponent, WasiNnProvider};
use crate::key_value::KeyValueStores;
use crate::manifest::{Manifest, ManifestError};
use crate::router::Router;
use crate::runtime_config::RuntimeConfig;
use crate::state::HostState;
use crate::variables::ResolvedVariables;
use crate::wasi_nn::GraphRegistry;
use songforge_access::ApiKeys;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use wasmtime::component::Linker;
use wasmtime::{Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// How often the epoch advances: the granularity of request deadlines, and the slice after
/// which a busy guest yields to other requests.
const EPOCH_TICK: Duration = Duration::from_millis(10);

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
    // ... and reset only the pages the instance wrote, found with Linux's PAGEMAP_SCAN where
    // the kernel has it (6.7+): without it every request zeroed the whole 2 MiB, a sixth of
    // the host's CPU per request (measured with perf on the hello component).
    pool.pagemap_scan(Enabled::Auto);
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    config
}

/// Loads everything and starts serving. Errors name the file and field at fault.
pub async fn start(config: ServerConfig) -> Result<RunningServer, StartError> {
    let started = Instant::now();
    let (manifest, runtime) = read_configs(&config)?;
    let env = config.env.clone();
    let variables = ResolvedVariables::resolve(&manifest, |k| env(k))?;
    // Before anything slow: an open server on a public address is refused at once.
    let access = access_policy(&variables, config.listen, config.allow_anonymous)?;
    let kv = Arc::new(
        KeyValueStores::open_for(&manifest, &runtime, &config.state_dir)?
            .with_min_free_bytes(config.limits.min_free_disk_mib.saturating_mul(1 << 20)),
    );
    // With wasi-nn provided by each component's dependency, this host loads no models: every
    // graph runs on the inference service.
    let no_graphs = RuntimeConfig::default();
    let graphs_from = match config.wasi_nn {
        WasiNnProvider::Native => &runtime,
        WasiNnProvider::Dependency => {
            tracing::info!(
                "wasi-nn: each component's `wasi:nn` dependency (no models loaded here)"
            );
            &no_graphs
        }
    };
    let nn = Arc::new(crate::engines::build_registry(
        config.graphs,
        graphs_from,
        &config.models_dir,
    ));

    let (engine, linker) = wasm_engine(&config.limits)?;
    let host_env = host_environment(&manifest, &nn);
    let (components, by_id) = load_components(
        &engine,
        &linker,
        &manifest,
        &config.cache_dir,
        &host_env,
        &variables,
        config.wasi_nn,
    )?;
    let (router, route_components) = route(&manifest, &by_id)?;
    let loaded = components
        .iter()
        .map(|c| (c.id.clone(), c.cached))
        .collect();
    let protected = manifest
        .components
        .values()
        .map(|c| c.variables.contains_key(songforge_access::VARIABLE))
        .collect();
    start_epoch_ticker(&engine)?;
    let work = super::lanes::WorkLane::new()?;
    let (listener, addr) = bind(config.listen).await?;

    let app = Arc::new_cyclic(|me| App {
        me: me.clone(),
        by_id,
        engine,
        router,
        route_components,
        components,
        kv,
        nn,
        access,
        protected,
        work,
        instances: Arc::default(),
        memory: crate::memory_budget::MemoryBudget::new(
            config.limits.memory_budget_mib,
            config.limits.queue_timeout,
        ),
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

/// The API keys and per-key limits from the app's variables. Without keys the server serves
/// everyone, so it listens only on loopback unless told `--allow-anonymous`.
fn access_policy(
    variables: &ResolvedVariables,
    listen: SocketAddr,
    allow_anonymous: bool,
) -> Result<Access, StartError> {
    let keys = ApiKeys::parse(variables.app(songforge_access::VARIABLE).unwrap_or(""))
        .map_err(|e| StartError::Other(e.to_string()))?;
    let limits = KeyLimits::from_variables(variables).map_err(StartError::Other)?;
    let access = Access::new(keys, limits);
    if access.is_open() {
        if !listen.ip().is_loopback() && !allow_anonymous {
            return Err(StartError::Other(format!(
                "no API keys are set, so anyone who can reach {listen} could use every route: \
                 set SPIN_VARIABLE_API_KEYS to the sha256 digests of your keys, listen on \
                 127.0.0.1, or start with --allow-anonymous"
            )));
        }
        tracing::warn!(
            "no API keys (SPIN_VARIABLE_API_KEYS): every route is open to anyone who can reach {listen}"
        );
    } else {
        tracing::info!(
            keys = access.key_count(),
            per_minute = limits.per_minute,
            burst = limits.burst,
            max_running = limits.max_running,
            "API keys required"
        );
    }
    Ok(access)
}

/// The manifest, with `@models/` mounts pointed at the model store, and the runtime config
/// (all defaults without one).
fn read_configs(config: &ServerConfig) -> Result<(Manifest, RuntimeConfig), StartError> {
    let mut manifest = Manifest::load(&config.manifest)?;
    manifest.resolve_model_mounts(&config.models_dir);
    let runtime = match &config.runtime_config {
        Some(p) => RuntimeConfig::load(p)?,
        None => RuntimeConfig::default(),
    };
    Ok((manifest, runtime))
}

/// The wasm engine, and a linker with every host interface a component may import.
fn wasm_engine(limits: &Limits) -> Result<(Engine, Linker<HostState>), StartError> {
    let engine =
        Engine::new(&engine_config(limits)).map_err(other("cannot create the wasm engine"))?;
    let mut linker: Linker<HostState> = Linker::new(&engine);
    add_host_interfaces(&mut linker).map_err(other("cannot link host interfaces"))?;
    Ok((engine, linker))
}

fn other(context: &str) -> impl Fn(wasmtime::Error) -> StartError + '_ {
    move |e| StartError::Other(format!("{context}: {e:#}"))
}

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

/// Compiles (or loads from the cache) and pre-instantiates every component, in manifest
/// order; also returns each id's index.
fn load_components(
    engine: &Engine,
    linker: &Linker<HostState>,
    manifest: &Manifest,
    cache_dir: &Path,
    host_env: &[(String, String)],
    variables: &ResolvedVariables,
    wasi_nn: WasiNnProvider,
) -> Result<(Vec<LoadedComponent>, HashMap<String, usize>), StartError> {
    let mut components = Vec::new();
    let mut by_id = HashMap::new();
    for (id, spec) in &manifest.components {
        let templated_outbound = spec
            .outbound_templates
            .iter()
            .map(|t| {
                let rule = variables
                    .render(t)
                    .ok_or_else(|| format!("{t:?} refers to a variable without a value"))?;
                crate::outbound::OutboundRule::parse(&rule)
                    .map_err(|problem| format!("{rule:?} (from its variables): {problem}"))
            })
            .collect::<Result<Vec<_>, String>>()
            .map_err(|problem| ManifestError::Field {
                file: manifest.file.clone(),
                field: format!("component.{id}.allowed_outbound_hosts"),
                problem,
            })?;
        let setup = ComponentSetup {
            host_env,
            variables: variables.for_component(id),
            templated_outbound,
            wasi_nn,
        };
        let loaded = LoadedComponent::load(engine, linker, spec, cache_dir, setup)?;
        tracing::info!(component = %id, cached = loaded.cached, "component ready");
        by_id.insert(id.clone(), components.len());
        components.push(loaded);
    }
    Ok((components, by_id))
}

/// The router over the manifest's routes, and the component index each route serves.
fn route(
    manifest: &Manifest,
    by_id: &HashMap<String, usize>,
) -> Result<(Router, Vec<usize>), StartError> {
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
        .map(|r| by_id[&r.component])
        .collect();
    Ok((router, route_components))
}

/// Epoch ticks drive both request deadlines and cooperative yielding of busy guests. The
/// thread ends once the engine is dropped.
fn start_epoch_ticker(engine: &Engine) -> Result<(), StartError> {
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
    Ok(())
}

/// Binds the listener; port 0 picks a free port, hence the address returned.
async fn bind(listen: SocketAddr) -> Result<(TcpListener, SocketAddr), StartError> {
    let listener = TcpListener::bind(listen)
        .await
        .map_err(|e| StartError::Other(format!("cannot listen on {listen}: {e}")))?;
    let addr = listener
        .local_addr()
        .map_err(|e| StartError::Other(format!("no local address: {e}")))?;
    Ok((listener, addr))
}
