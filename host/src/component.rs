//! Loading components: precompiled once and cached on disk, pre-instantiated at start-up, so a
//! request only pays for a fresh instance.

use crate::manifest::ComponentSpec;
use crate::outbound::OutboundRule;
use crate::state::HostState;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use wasmtime::Engine;
use wasmtime::component::{Component, Linker};
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxBuilder};
use wasmtime_wasi_http::p3::bindings::ServicePre;

/// Why a component could not be prepared, naming it.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The `.wasm` file is missing or unreadable.
    #[error(
        "component `{id}`: cannot read {path}: {source} (build the components first: `make build` or `songforge build`)"
    )]
    Read {
        /// Component id.
        id: String,
        /// Path from `component.<id>.source`.
        path: PathBuf,
        /// Underlying error.
        source: std::io::Error,
    },
    /// Compilation or linking failed.
    #[error("component `{id}`: {message}")]
    Invalid {
        /// Component id.
        id: String,
        /// What failed.
        message: String,
    },
}

/// A component ready to serve: its pre-instance and everything an instance is built from.
pub struct LoadedComponent {
    /// Component id.
    pub id: String,
    /// Pre-instantiated `wasi:http/service`.
    pub pre: ServicePre<HostState>,
    env: Vec<(String, String)>,
    files: Vec<(PathBuf, String)>,
    /// Labels the component may open.
    pub key_value_stores: Arc<[String]>,
    /// Outbound HTTP rules.
    pub outbound: Arc<[OutboundRule]>,
    /// Rendered variables.
    pub variables: Arc<BTreeMap<String, String>>,
    /// Whether this load came from the on-disk cache.
    pub cached: bool,
}

/// Who provides wasi-nn to components that import it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WasiNnProvider {
    /// The host's own graphs; a `wasi:nn` dependency in the manifest is not composed.
    #[default]
    Native,
    /// The component's `wasi:nn` dependency (wasi-nn over HTTP), composed in as Spin does.
    Dependency,
}

/// What a component is served with besides its manifest entry.
pub struct ComponentSetup<'a> {
    /// Facts only the host knows, as environment variables.
    pub host_env: &'a [(String, String)],
    /// The component's rendered variables.
    pub variables: Arc<BTreeMap<String, String>>,
    /// Its `allowed_outbound_hosts` written with variables, rendered and parsed.
    pub templated_outbound: Vec<OutboundRule>,
    /// Who provides wasi-nn.
    pub wasi_nn: WasiNnProvider,
}

/// The wasi-nn package a dependency may stand in for.
const WASI_NN: &str = "wasi:nn";

impl LoadedComponent {
    /// Compiles (or loads from `cache_dir`) and pre-instantiates one component.
    pub fn load(
        engine: &Engine,
        linker: &Linker<HostState>,
        spec: &ComponentSpec,
        cache_dir: &Path,
        setup: ComponentSetup<'_>,
    ) -> Result<Self, LoadError> {
        let invalid = |message: String| LoadError::Invalid {
            id: spec.id.clone(),
            message,
        };
        let read = |path: &Path| {
            std::fs::read(path).map_err(|source| LoadError::Read {
                id: spec.id.clone(),
                path: path.to_path_buf(),
                source,
            })
        };
        let mut bytes = read(&spec.source)?;
        // Natively, the host's wasi-nn stands in for a declared wasi-nn dependency.
        let composed: Vec<_> = spec
            .dependencies
            .iter()
            .filter(|d| setup.wasi_nn == WasiNnProvider::Dependency || d.package != WASI_NN)
            .collect();
        if !composed.is_empty() {
            if !spec.dependencies_inherit_configuration {
                return Err(invalid(
                    "its dependencies need its variables and outbound hosts: set \
                     `dependencies_inherit_configuration = true`"
                        .into(),
                ));
            }
            let deps = composed
                .iter()
                .map(|d| read(&d.path).map(|b| (*d, b)))
                .collect::<Result<Vec<_>, _>>()?;
            let started = std::time::Instant::now();
            bytes = crate::compose::compose(&bytes, &deps)
                .map_err(|e| invalid(format!("cannot compose its dependencies: {e}")))?;
            tracing::info!(
                component = %spec.id,
                dependencies = ?composed.iter().map(|d| d.key.as_str()).collect::<Vec<_>>(),
                ms = started.elapsed().as_secs_f64() * 1e3,
                "composed with its dependencies"
            );
        }
        let (component, cached) = compile_cached(engine, &bytes, cache_dir).map_err(|e| {
            invalid(format!(
                "{} is not a usable component: {e:#}",
                spec.source.display()
            ))
        })?;
        let instance_pre = linker.instantiate_pre(&component).map_err(|e| {
            invalid(format!(
                "imports something this host does not provide: {e:#}"
            ))
        })?;
        let pre = ServicePre::new(instance_pre).map_err(|e| {
            invalid(format!(
                "does not export wasi:http/handler@0.3.0 (build it with spin-sdk 7): {e:#}"
            ))
        })?;
        // A mount whose directory is missing (say, a model not pulled yet) is left out with a
        // warning rather than failing the whole app: the component sees no directory and
        // says in its responses what it did without it.
        let files: Vec<(PathBuf, String)> = spec
            .files
            .iter()
            .filter(|(host, guest)| {
                let present = host.is_dir();
                if !present {
                    tracing::warn!(
                        component = %spec.id,
                        "`files` entry {} is not a directory on this machine; {guest} is not mounted",
                        host.display()
                    );
                }
                present
            })
            .cloned()
            .collect();
        let mut env: Vec<(String, String)> = setup.host_env.to_vec();
        env.extend(spec.environment.iter().map(|(k, v)| (k.clone(), v.clone())));
        Ok(Self {
            id: spec.id.clone(),
            pre,
            env,
            files,
            key_value_stores: spec.key_value_stores.clone().into(),
            outbound: spec
                .allowed_outbound_hosts
                .iter()
                .cloned()
                .chain(setup.templated_outbound)
                .collect(),
            variables: setup.variables,
            cached,
        })
    }

    /// A fresh WASI context: environment, read-only file mounts, inherited stdout/stderr.
    pub fn wasi_ctx(&self) -> wasmtime::Result<WasiCtx> {
        let mut b = WasiCtxBuilder::new();
        b.inherit_stdout().inherit_stderr().envs(&self.env);
        for (host, guest) in &self.files {
            b.preopened_dir(host, guest, FsPerms::ReadOnly)?;
        }
        Ok(b.build())
    }
}

/// Compiles `bytes`, reusing a precompiled artefact keyed by the wasm's hash and the engine's
/// compatibility hash (wasmtime version and settings), so a restart skips compilation.
fn compile_cached(
    engine: &Engine,
    bytes: &[u8],
    cache_dir: &Path,
) -> wasmtime::Result<(Component, bool)> {
    let mut engine_hash = std::collections::hash_map::DefaultHasher::new();
    engine
        .precompile_compatibility_hash()
        .hash(&mut engine_hash);
    let key = format!(
        "{}-{:016x}",
        hex::encode(&Sha256::digest(bytes)[..16]),
        engine_hash.finish()
    );
    let path = cache_dir.join(format!("{key}.cwasm"));
    if path.is_file() {
        // SAFETY: the file was written by `precompile_component` of an engine with the same
        // compatibility hash (it is part of the name) and is only ever replaced atomically.
        match unsafe { Component::deserialize_file(engine, &path) } {
            Ok(c) => return Ok((c, true)),
            Err(e) => {
                tracing::warn!(path = %path.display(), "ignoring a bad cached component: {e:#}")
            }
        }
    }
    let compiled = engine.precompile_component(bytes)?;
    if let Err(e) = write_atomically(&path, &compiled) {
        tracing::warn!(path = %path.display(), "cannot cache the compiled component: {e}");
    }
    // SAFETY: `compiled` was produced just now by this engine.
    let component = unsafe { Component::deserialize(engine, &compiled)? };
    Ok((component, false))
}

fn write_atomically(path: &Path, data: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, data)?;
    std::fs::rename(&tmp, path)
}
