//! Builds the engines the runtime config names and registers them as wasi-nn graphs.
//!
//! Each engine kind lives in its own crate under `engines/`; this is the one place that maps a
//! kind name to a constructor. Kinds arrive with their issues (whisper, llm, musicgen, tts,
//! pitch, singer); a config naming a kind this build lacks is refused at start-up.

use crate::runtime_config::RuntimeConfig;
use crate::server::StartError;
use crate::wasi_nn::GraphRegistry;
use std::path::Path;

/// Engine kinds compiled into this host.
pub const KNOWN_ENGINES: &[&str] = &[];

/// Registers every graph of the runtime config, or explains which field is wrong.
pub fn register_configured(
    registry: &mut GraphRegistry,
    config: &RuntimeConfig,
    file: Option<&Path>,
) -> Result<(), StartError> {
    for (name, graph) in &config.wasi_nn.graphs {
        if !KNOWN_ENGINES.contains(&graph.engine.as_str()) {
            return Err(crate::config_file::ConfigFileError::field(
                file.unwrap_or(Path::new("runtime config")),
                format!("wasi_nn.graphs.{name}.engine"),
                format!(
                    "engine {:?} is not built into this host (known: {})",
                    graph.engine,
                    if KNOWN_ENGINES.is_empty() {
                        "none yet".to_string()
                    } else {
                        KNOWN_ENGINES.join(", ")
                    }
                ),
            )
            .into());
        }
        registry.register_unavailable(name, format!("model `{}` is not installed", graph.model));
    }
    Ok(())
}

/// What the host computes on, for health reports: `cpu` unless built with GPU support.
pub fn device_summary() -> String {
    "cpu".to_string()
}
