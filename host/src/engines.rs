//! Builds the engines the runtime config names and registers them as wasi-nn graphs.
//!
//! Each engine kind lives in its own crate under `engines/`; this is the one place that maps a
//! kind to a constructor. The runtime config has already refused kinds this build lacks, so
//! registering cannot fail: a graph whose model is not installed (or will not load) is
//! registered as unavailable, with the command that installs it, so the routes that need it
//! answer 503 and everything else keeps working.

use crate::runtime_config::{EngineKind, GraphConfig, RuntimeConfig, Target};
use crate::wasi_nn::GraphRegistry;
use songforge_inference::{Device, Engine, EngineError};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

/// Where graphs find their models.
pub struct ModelSource {
    /// Installed models (`songforge models pull`), one directory per catalog id.
    pub store: songforge_models::ModelStore,
}

/// Registers every graph of the runtime config: loaded, or unavailable with the reason.
pub fn register_configured(
    registry: &mut GraphRegistry,
    config: &RuntimeConfig,
    models: &ModelSource,
) {
    for (name, graph) in &config.wasi_nn.graphs {
        let Some(dir) = model_dir(graph, models) else {
            registry.register_unavailable(name, missing_model(name, graph));
            continue;
        };
        let (device, mut warning) = resolve_target(graph.target);
        let started = Instant::now();
        let loaded = match load(graph, &dir, device, models) {
            Ok(engine) => Ok((engine, device)),
            // A GPU that is absent or fails to initialise: serve from the CPU and say so.
            Err(e) if matches!(device, Device::Cuda(_)) => {
                warning = Some(format!("GPU unavailable ({e}); running on cpu"));
                load(graph, &dir, Device::Cpu, models).map(|engine| (engine, Device::Cpu))
            }
            Err(e) => Err(e),
        };
        match loaded {
            Ok((engine, device)) => {
                tracing::info!(
                    graph = %name,
                    model = %graph.model,
                    %device,
                    seconds = started.elapsed().as_secs_f64(),
                    "model loaded"
                );
                if let Some(w) = &warning {
                    tracing::warn!(graph = %name, "{w}");
                }
                registry.register_with_warning(name, engine, device, warning);
            }
            Err(e) => {
                tracing::error!(graph = %name, model = %graph.model, "cannot load: {e}");
                registry.register_unavailable(name, e.to_string());
            }
        }
    }
}

/// The wasi-nn graphs: those registered in code (tests), then the runtime config's. A graph
/// whose model is missing is registered as unavailable, so only the routes that need it fail.
pub fn build_registry(
    in_code: Vec<(String, Arc<dyn songforge_inference::Engine>)>,
    runtime: &RuntimeConfig,
    models_dir: &Path,
) -> GraphRegistry {
    let mut registry = GraphRegistry::new(
        runtime.wasi_nn.queue_depth,
        runtime.wasi_nn.threads_per_device,
    );
    for (name, engine) in in_code {
        registry.register(name, engine, songforge_inference::Device::Cpu);
    }
    let models = ModelSource {
        store: songforge_models::ModelStore::new(models_dir.to_path_buf()),
    };
    register_configured(&mut registry, runtime, &models);
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
    registry
}

/// Why a graph has no model, and how to give it one.
fn missing_model(name: &str, graph: &GraphConfig) -> String {
    match &graph.path {
        Some(path) if graph.engine == EngineKind::DiffSinger => format!(
            "no DiffSinger voicebank at {}; put an OpenUtau DiffSinger voicebank folder \
             (dsconfig.yaml, acoustic and vocoder ONNX) there or point \
             `wasi_nn.graphs.{name}.path` at one",
            path.display()
        ),
        Some(path) => format!(
            "no model folder at {}; point `wasi_nn.graphs.{name}.path` at one",
            path.display()
        ),
        None => format!(
            "model `{}` is not installed; run `songforge models pull {}`",
            graph.model, graph.model
        ),
    }
}

fn model_dir(graph: &GraphConfig, models: &ModelSource) -> Option<PathBuf> {
    match &graph.path {
        Some(p) => p.is_dir().then(|| p.clone()),
        None => models.store.installed(&graph.model),
    }
}

/// The device a target asks for, and a warning when the build cannot honour it.
fn resolve_target(target: Target) -> (Device, Option<String>) {
    let cuda = cfg!(feature = "cuda");
    match target {
        Target::Gpu | Target::Auto if cuda => (Device::Cuda(0), None),
        Target::Gpu => (
            Device::Cpu,
            Some(
                "target `gpu` requested, but this host was built without the `cuda` feature; running on cpu"
                    .into(),
            ),
        ),
        Target::Auto | Target::Cpu => (Device::Cpu, None),
    }
}

/// Loads `graph`'s engine from `dir` on `device`.
fn load(
    graph: &GraphConfig,
    dir: &Path,
    device: Device,
    models: &ModelSource,
) -> Result<Arc<dyn Engine>, EngineError> {
    let (model, threads) = (graph.model.as_str(), graph.threads);
    Ok(match graph.engine {
        EngineKind::Whisper => Arc::new(songforge_whisper::WhisperEngine::load_on(
            model, dir, device, threads,
        )?),
        EngineKind::Llm => Arc::new(songforge_llm::LlmEngine::load_on(
            model, dir, device, threads,
        )?),
        EngineKind::MusicGen => Arc::new(songforge_musicgen::MusicGenEngine::load_on(
            model, dir, device,
        )?),
        EngineKind::Piper => Arc::new(songforge_piper::PiperEngine::load_on(
            model,
            dir,
            &onnx_runtime(models)?,
            device,
            threads,
        )?),
        EngineKind::BasicPitch => Arc::new(songforge_basic_pitch::BasicPitchEngine::load_on(
            model,
            dir,
            &onnx_runtime(models)?,
            device,
            threads,
        )?),
        EngineKind::DiffSinger => Arc::new(songforge_diffsinger::DiffSingerEngine::load_on(
            model,
            dir,
            &onnx_runtime(models)?,
            device,
            threads,
        )?),
    })
}

/// The ONNX Runtime library: `SONGFORGE_ONNXRUNTIME` when set, else the store's `onnxruntime`.
fn onnx_runtime(models: &ModelSource) -> Result<PathBuf, EngineError> {
    if let Some(path) = std::env::var_os("SONGFORGE_ONNXRUNTIME") {
        return Ok(PathBuf::from(path));
    }
    models
        .store
        .installed("onnxruntime")
        .map(|dir| dir.join("libonnxruntime.so"))
        .ok_or_else(|| {
            EngineError::Unavailable(
                "ONNX Runtime is not installed; run `songforge models pull onnxruntime`".into(),
            )
        })
}

/// What the host computes on, for health reports: `cpu`, or `cuda` when built for it.
pub fn device_summary() -> String {
    if cfg!(feature = "cuda") {
        "cuda".to_string()
    } else {
        "cpu".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gpu_without_cuda_runs_on_cpu_and_says_so() {
        let (device, warning) = resolve_target(Target::Gpu);
        if cfg!(feature = "cuda") {
            assert_eq!(device, Device::Cuda(0));
        } else {
            assert_eq!(device, Device::Cpu);
            assert!(warning.is_some_and(|w| w.contains("without the `cuda` feature")));
        }
        assert_eq!(resolve_target(Target::Cpu), (Device::Cpu, None));
    }
}
