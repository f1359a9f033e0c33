//! `songforge`: build and serve the SongForge app, and install its models.

mod models_cli;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use songforge::manifest::Manifest;
use songforge::{CorsPolicy, Limits, ServerConfig};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "songforge",
    version,
    about = "Serve the SongForge Spin app on wasmtime"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run each component's `[component.<id>.build] command`, like `spin build`.
    Build {
        /// The Spin manifest.
        #[arg(
            short = 'f',
            long,
            default_value = "spin.toml",
            env = "SONGFORGE_MANIFEST"
        )]
        manifest: PathBuf,
    },
    /// Serve the app.
    Up(UpArgs),
    /// Serve the runtime config's wasi-nn graphs over HTTP, for app hosts elsewhere.
    ServeNn(ServeNnArgs),
    /// The model catalog: list, pull and verify models.
    Models(models_cli::ModelsArgs),
}

#[derive(clap::Args)]
struct UpArgs {
    /// The Spin manifest.
    #[arg(
        short = 'f',
        long,
        default_value = "spin.toml",
        env = "SONGFORGE_MANIFEST"
    )]
    manifest: PathBuf,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:3000", env = "LISTEN")]
    listen: SocketAddr,
    /// Runtime config (key-value stores, wasi-nn graphs).
    #[arg(long, env = "SONGFORGE_RUNTIME_CONFIG")]
    runtime_config: Option<PathBuf>,
    /// Key-value data directory (default: `.songforge/` beside the manifest).
    #[arg(long, env = "SONGFORGE_STATE_DIR")]
    state_dir: Option<PathBuf>,
    /// Precompiled component cache (default: `<state dir>/cache`).
    #[arg(long, env = "SONGFORGE_CACHE_DIR")]
    cache_dir: Option<PathBuf>,
    /// Installed models (default: `models/store` beside the manifest).
    #[arg(long = "models", env = "SONGFORGE_MODELS")]
    models_dir: Option<PathBuf>,
    /// Largest request body in bytes (413 above).
    #[arg(long, env = "SONGFORGE_MAX_BODY_BYTES", default_value_t = Limits::DEFAULT_MAX_BODY_BYTES)]
    max_body_bytes: u64,
    /// Linear memory per instance, MiB.
    #[arg(long, env = "SONGFORGE_MAX_MEMORY_MIB", default_value_t = Limits::DEFAULT_MAX_MEMORY_BYTES >> 20)]
    max_memory_mib: usize,
    /// Request time limit in seconds (504 after).
    #[arg(long, env = "SONGFORGE_REQUEST_TIMEOUT_SECS", default_value_t = Limits::DEFAULT_REQUEST_TIMEOUT.as_secs_f64())]
    request_timeout_secs: f64,
    /// Requests served at once.
    #[arg(long, env = "SONGFORGE_MAX_CONCURRENT", default_value_t = Limits::DEFAULT_MAX_CONCURRENT)]
    max_concurrent: usize,
    /// Seconds a request waits for a free slot when all are taken (503 after; 0: no wait).
    #[arg(long, env = "SONGFORGE_QUEUE_TIMEOUT_SECS", default_value_t = Limits::DEFAULT_QUEUE_TIMEOUT.as_secs_f64())]
    queue_timeout_secs: f64,
    /// Seconds an instance may go on after its response has started (a streamed body, a song
    /// job).
    #[arg(long, env = "SONGFORGE_BACKGROUND_TIMEOUT_SECS", default_value_t = Limits::DEFAULT_BACKGROUND_TIMEOUT.as_secs_f64())]
    background_timeout_secs: f64,
    /// Seconds a connection may take to send its headers, and may sit idle between requests.
    #[arg(long, env = "SONGFORGE_HEADER_READ_TIMEOUT_SECS", default_value_t = Limits::DEFAULT_HEADER_READ_TIMEOUT.as_secs_f64())]
    header_read_timeout_secs: f64,
    /// Seconds a request may take to send its body (408 after).
    #[arg(long, env = "SONGFORGE_BODY_READ_TIMEOUT_SECS", default_value_t = Limits::DEFAULT_BODY_READ_TIMEOUT.as_secs_f64())]
    body_read_timeout_secs: f64,
    /// Connections open at once (more are closed as they arrive).
    #[arg(long, env = "SONGFORGE_MAX_CONNECTIONS", default_value_t = Limits::DEFAULT_MAX_CONNECTIONS)]
    max_connections: usize,
    /// Linear memory all work requests together may hold, MiB (default: half the machine's);
    /// past it they wait, then get 503.
    #[arg(long, env = "SONGFORGE_MEMORY_BUDGET_MIB", default_value_t = Limits::default_memory_budget_mib())]
    memory_budget_mib: u32,
    /// Free disk a key-value write must leave, MiB; past it writes get 507 and nothing is
    /// half-written.
    #[arg(long, env = "SONGFORGE_MIN_FREE_DISK_MIB", default_value_t = Limits::DEFAULT_MIN_FREE_DISK_MIB)]
    min_free_disk_mib: u64,
    /// Browser origins allowed by CORS: comma-separated, or `*`.
    #[arg(long, env = "CORS_ALLOWED_ORIGINS", default_value = "")]
    cors_allowed_origins: String,
    /// Serve without API keys on an address other than loopback (without keys, anyone who
    /// can reach the port can use every route).
    #[arg(long, env = "SONGFORGE_ALLOW_ANONYMOUS")]
    allow_anonymous: bool,
    /// Who provides wasi-nn: `native` (this host's graphs from the runtime config) or
    /// `dependency` (each component's declared `wasi:nn` dependency: wasi-nn over HTTP to
    /// `songforge serve-nn` at the `nn_url` variable, as on stock Spin).
    #[arg(long, env = "SONGFORGE_WASI_NN", value_enum, default_value = "native")]
    wasi_nn: WasiNnArg,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum WasiNnArg {
    Native,
    Dependency,
}

#[derive(clap::Args)]
struct ServeNnArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:3100", env = "NN_LISTEN")]
    listen: SocketAddr,
    /// Runtime config: its `[wasi_nn]` graphs are the ones served.
    #[arg(long, env = "SONGFORGE_RUNTIME_CONFIG")]
    runtime_config: Option<PathBuf>,
    /// Installed models (default: `models/store`).
    #[arg(
        long = "models",
        env = "SONGFORGE_MODELS",
        default_value = "models/store"
    )]
    models_dir: PathBuf,
    /// The bearer token clients must send (`Authorization: Bearer <token>`).
    #[arg(long, env = "SONGFORGE_NN_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Serve without a token on an address other than loopback.
    #[arg(long, env = "SONGFORGE_ALLOW_ANONYMOUS")]
    allow_anonymous: bool,
    /// Largest request body, MiB (413 above).
    #[arg(long, env = "SONGFORGE_NN_MAX_BODY_MIB", default_value_t = 512)]
    max_body_mib: u64,
    /// Longest one inference may take, queue wait included, in seconds (504 after).
    #[arg(
        long,
        env = "SONGFORGE_NN_REQUEST_TIMEOUT_SECS",
        default_value_t = 600.0
    )]
    request_timeout_secs: f64,
}

fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,wasmtime=warn,cranelift=warn".into()),
        )
        .with_target(false)
        .init();
    match Cli::parse().command {
        Command::Build { manifest } => build(&manifest),
        Command::Up(args) => up(args),
        Command::ServeNn(args) => serve_nn(args),
        Command::Models(args) => models_cli::run(args),
    }
}

fn build(manifest: &std::path::Path) -> Result<()> {
    let m = Manifest::load(manifest)?;
    let mut done = std::collections::HashSet::new();
    for (id, c) in &m.components {
        let Some(b) = &c.build else { continue };
        // Components sharing one command (a workspace build) are built once.
        if !done.insert((b.command.clone(), b.workdir.clone())) {
            continue;
        }
        eprintln!("building {id}: {}", b.command);
        let status = std::process::Command::new("sh")
            .arg("-c")
            .arg(&b.command)
            .current_dir(&b.workdir)
            .status()
            .with_context(|| format!("cannot run the build command of `{id}`"))?;
        if !status.success() {
            bail!("building `{id}` failed ({status}): {}", b.command);
        }
    }
    Ok(())
}

fn up(args: UpArgs) -> Result<()> {
    let mut config = ServerConfig::new(args.manifest, args.listen);
    config.runtime_config = args.runtime_config;
    if let Some(dir) = args.models_dir {
        config.models_dir = dir;
    }
    if let Some(dir) = args.state_dir {
        config.cache_dir = dir.join("cache");
        config.state_dir = dir;
    }
    if let Some(dir) = args.cache_dir {
        config.cache_dir = dir;
    }
    config.limits = Limits {
        max_body_bytes: args.max_body_bytes,
        max_memory_bytes: args.max_memory_mib.saturating_mul(1024 * 1024),
        request_timeout: seconds("--request-timeout-secs", args.request_timeout_secs, false)?,
        max_concurrent: args.max_concurrent.max(1),
        queue_timeout: seconds("--queue-timeout-secs", args.queue_timeout_secs, true)?,
        background_timeout: seconds(
            "--background-timeout-secs",
            args.background_timeout_secs,
            false,
        )?,
        header_read_timeout: seconds(
            "--header-read-timeout-secs",
            args.header_read_timeout_secs,
            false,
        )?,
        body_read_timeout: seconds(
            "--body-read-timeout-secs",
            args.body_read_timeout_secs,
            false,
        )?,
        max_connections: args.max_connections.max(1),
        memory_budget_mib: args.memory_budget_mib.max(1),
        min_free_disk_mib: args.min_free_disk_mib,
    };
    config.cors = CorsPolicy::parse(&args.cors_allowed_origins);
    config.allow_anonymous = args.allow_anonymous;
    config.wasi_nn = match args.wasi_nn {
        WasiNnArg::Native => songforge::component::WasiNnProvider::Native,
        WasiNnArg::Dependency => songforge::component::WasiNnProvider::Dependency,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let server = songforge::start(config).await?;
        eprintln!("songforge listening on http://{}", server.addr);
        server.run_until_signal().await;
        anyhow::Ok(())
    })
}

fn serve_nn(args: ServeNnArgs) -> Result<()> {
    let runtime_config = match &args.runtime_config {
        Some(p) => songforge::runtime_config::RuntimeConfig::load(p)?,
        None => songforge::runtime_config::RuntimeConfig::default(),
    };
    let config = songforge::nn_service::NnServiceConfig {
        listen: args.listen,
        token: args.token,
        allow_anonymous: args.allow_anonymous,
        max_body_bytes: args.max_body_mib.saturating_mul(1 << 20),
        request_timeout: seconds("--request-timeout-secs", args.request_timeout_secs, false)?,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let registry =
            songforge::engines::build_registry(Vec::new(), &runtime_config, &args.models_dir);
        let service = songforge::nn_service::start(config, std::sync::Arc::new(registry)).await?;
        eprintln!("songforge serve-nn listening on http://{}", service.addr);
        songforge::server::wait_for_signal().await;
        tracing::info!("shutting down: finishing in-flight inferences");
        service.shutdown().await;
        anyhow::Ok(())
    })
}

/// A duration flag: a finite number of seconds, positive (or zero when `zero_ok`).
fn seconds(flag: &str, value: f64, zero_ok: bool) -> Result<Duration> {
    let allowed = value > 0.0 || (zero_ok && value == 0.0);
    match Duration::try_from_secs_f64(value) {
        Ok(d) if allowed => Ok(d),
        Err(_) if value > 0.0 && value.is_finite() => bail!("{flag}: {value} s is too long"),
        _ if zero_ok => bail!("{flag} must be zero or a positive number of seconds"),
        _ => bail!("{flag} must be a positive number of seconds"),
    }
}
