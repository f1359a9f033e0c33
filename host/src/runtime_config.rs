//! The runtime config file (`--runtime-config`, TOML): key-value stores and wasi-nn graphs.
//!
//! ```toml
//! [key_value_store.default]
//! type = "redb"
//! path = ".songforge/key-value/default.redb"
//!
//! [wasi_nn]
//! queue_depth = 16
//! threads_per_device = 1
//!
//! [wasi_nn.graphs.whisper]
//! engine = "whisper"
//! model = "whisper-tiny-en"
//! target = "auto"
//! ```

use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use crate::config_file::ConfigFileError as RuntimeConfigError;

/// Parsed runtime config; everything has a default so the file is optional.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuntimeConfig {
    /// Key-value stores by label.
    #[serde(default)]
    pub key_value_store: BTreeMap<String, KeyValueStoreConfig>,
    /// wasi-nn settings and graphs.
    #[serde(default)]
    pub wasi_nn: WasiNnConfig,
}

/// One key-value store.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyValueStoreConfig {
    /// Backend; only `redb` (embedded) for now.
    #[serde(rename = "type")]
    pub kind: String,
    /// Database file, relative to the config file's directory.
    pub path: Option<PathBuf>,
}

/// wasi-nn settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WasiNnConfig {
    /// Waiting jobs per device before `compute` answers busy.
    #[serde(default = "default_queue_depth")]
    pub queue_depth: usize,
    /// Jobs each device runs at once.
    #[serde(default = "default_threads")]
    pub threads_per_device: usize,
    /// Graphs by name.
    #[serde(default)]
    pub graphs: BTreeMap<String, GraphConfig>,
}

impl Default for WasiNnConfig {
    fn default() -> Self {
        Self {
            queue_depth: default_queue_depth(),
            threads_per_device: default_threads(),
            graphs: BTreeMap::new(),
        }
    }
}

fn default_queue_depth() -> usize {
    16
}

fn default_threads() -> usize {
    1
}

/// One graph: which engine serves it with which model, where.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GraphConfig {
    /// Engine kind (`whisper`, `llm`, …).
    pub engine: String,
    /// Model id from `models/catalog.toml`.
    pub model: String,
    /// `cpu`, `gpu` or `auto`.
    #[serde(default = "default_target")]
    pub target: String,
    /// Engine threads (CPU); 0 lets the engine decide.
    #[serde(default)]
    pub threads: usize,
    /// A model directory to load instead of the installed catalog model (e.g. a Hugging Face
    /// checkpoint); relative to this file.
    #[serde(default)]
    pub path: Option<PathBuf>,
}

fn default_target() -> String {
    "auto".into()
}

impl RuntimeConfig {
    /// Reads a config file; relative paths in it are resolved against its directory.
    pub fn load(file: &Path) -> Result<Self, RuntimeConfigError> {
        let text = crate::config_file::read(file)?;
        let mut config: Self = crate::config_file::parse(file, &text)?;
        let dir = file.parent().unwrap_or(Path::new("."));
        for (label, store) in &mut config.key_value_store {
            if store.kind != "redb" {
                return Err(RuntimeConfigError::Field {
                    file: file.to_path_buf(),
                    field: format!("key_value_store.{label}.type"),
                    problem: format!("unknown store type {:?}; supported: \"redb\"", store.kind),
                });
            }
            if let Some(p) = &store.path {
                store.path = Some(dir.join(p));
            }
        }
        for graph in config.wasi_nn.graphs.values_mut() {
            if let Some(p) = &graph.path {
                graph.path = Some(dir.join(p));
            }
        }
        for (name, graph) in &config.wasi_nn.graphs {
            if !matches!(graph.target.as_str(), "cpu" | "gpu" | "auto") {
                return Err(RuntimeConfigError::field(
                    file,
                    format!("wasi_nn.graphs.{name}.target"),
                    format!("{:?} is not one of cpu, gpu, auto", graph.target),
                ));
            }
        }
        Ok(config)
    }
}
