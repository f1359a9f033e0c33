//! Builds the engines the runtime config names and registers them as wasi-nn graphs.
//!
//! Each engine kind lives in its own crate under `engines/`; this is the one place that maps a
//! kind name to a constructor. A config naming a kind this build lacks is refused at start-up;
//! a graph whose model is not installed is registered as unavailable, with the command that
//! installs it, so the routes that need it answer 503 and everything else keeps working.

use crate::runtime_config::{GraphConfig, RuntimeConfig};
use crate::server::StartError;
use crate::wasi_nn::GraphRegistry;
use songforge_inference::{Device, Engine, EngineError};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

/// Engine kinds compiled into this host.
pub const KNOWN_ENGINES: &[&str] = &[
    "whisper",
    "llm",
    "piper",
    "basic-pitch",
    "diffsinger",
    "musicgen",
];

/// Where graphs find their models.
pub struct ModelSource {
    /// Installed models (`songforge models pull`), one directory per catalog id.
    pub store: songforge_models::ModelStore,
}

/// Registers every graph of the runtime config, or explains which field is wrong.
pub fn register_configured(
    registry: &mut GraphRegistry,
    config: &RuntimeConfig,
    file: Option<&Path>,
    models: &ModelSource,
) -> Result<(), StartError> {
    for (name, graph) in &config.wasi_nn.graphs {
        if !KNOWN_ENGINES.contains(&graph.engine.as_str()) {
            return Err(crate::config_file::ConfigFileError::field(
                file.unwrap_or(Path::new("runtime config")),
                format!("wasi_nn.graphs.{name}.engine"),
                format!(
                    "engine {:?} is not built into this host (known: {})",
                    graph.engine,
                    KNOWN_ENGINES.join(", ")
                ),
            )
            .into());
        }
        let Some(dir) = model_dir(graph, models) else {
            let reason = match &graph.path {
                Some(path) if graph.engine == "diffsinger" => format!(
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
            };
            registry.register_unavailable(name, reason);
            continue;
        };
        let (device, mut warning) = resolve_target(&graph.target);
        let started = Instant::now();
        let loaded = load(graph, &dir, device, models).or_else(|e| match device {
            // A GPU that is absent or fails to initialise: serve from the CPU and say so.
            Device::Cuda(_) => {
                warning = Some(format!("GPU unavailable ({e}); running on cpu"));
                load(graph, &dir, Device::Cpu, models).map(|(e, _)| (e, Device::Cpu))
            }
            Device::Cpu => Err(e),
        });
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
    Ok(())
}

fn model_dir(graph: &GraphConfig, models: &ModelSource) -> Option<PathBuf> {
    match &graph.path {
        Some(p) => p.is_dir().then(|| p.clone()),
        None => models.store.installed(&graph.model),
    }
}

/// The device a target asks for, and a warning when the build cannot honour it.
fn resolve_target(target: &str) -> (Device, Option<String>) {
    let cuda = cfg!(feature = "cuda");
    match target {
        "gpu" if cuda => (Device::Cuda(0), None),
        "gpu" => (
            Device::Cpu,
            Some(
                "target `gpu` requested, but this host was built without the `cuda` feature; running on cpu"
                    .into(),
            ),
        ),
        "auto" if cuda => (Device::Cuda(0), None),
        _ => (Device::Cpu, None),
    }
}

fn load(
    graph: &GraphConfig,
    dir: &Path,
    device: Device,
    models: &ModelSource,
) -> Result<(Arc<dyn Engine>, Device), EngineError> {
    match graph.engine.as_str() {
        "whisper" => {
            let engine = songforge_whisper::WhisperEngine::load_on(
                &graph.model,
                dir,
                device,
                graph.threads,
            )?;
            Ok((Arc::new(engine), device))
        }
        "llm" => {
            let engine =
                songforge_llm::LlmEngine::load_on(&graph.model, dir, device, graph.threads)?;
            Ok((Arc::new(engine), device))
        }
        "musicgen" => {
            let engine = songforge_musicgen::MusicGenEngine::load_on(&graph.model, dir, device)?;
            Ok((Arc::new(engine), device))
        }
        "piper" | "basic-pitch" | "diffsinger" => {
            let runtime = onnx_runtime(models)?;
            let (model, threads) = (graph.model.as_str(), graph.threads);
            let engine: Arc<dyn Engine> = match graph.engine.as_str() {
                "piper" => Arc::new(songforge_piper::PiperEngine::load_on(
                    model, dir, &runtime, device, threads,
                )?),
                "basic-pitch" => Arc::new(songforge_basic_pitch::BasicPitchEngine::load_on(
                    model, dir, &runtime, device, threads,
                )?),
                _ => Arc::new(songforge_diffsinger::DiffSingerEngine::load_on(
                    model, dir, &runtime, device, threads,
                )?),
            };
            Ok((engine, device))
        }
        other => Err(EngineError::Unavailable(format!(
            "engine `{other}` is not built into this host"
        ))),
    }
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
        let (device, warning) = resolve_target("gpu");
        if cfg!(feature = "cuda") {
            assert_eq!(device, Device::Cuda(0));
        } else {
            assert_eq!(device, Device::Cpu);
            assert!(warning.is_some_and(|w| w.contains("without the `cuda` feature")));
        }
        assert_eq!(resolve_target("cpu"), (Device::Cpu, None));
    }
}
