//! The runtime config file (`--runtime-config`, TOML): key-value stores and wasi-nn graphs.
//!
//! ```toml
//! [key_value_store.default]
//! type = "redb"
//! path = ".songforge/key-value/default.redb"
//!
//! # or, shared by every host of a scaled-out app (Spin's own keys):
//! # [key_value_store.default]
//! # type = "redis"
//! # url = "redis://127.0.0.1:6379"
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
    /// Backend: `redb` (an embedded file) or `redis` (a server several hosts share).
    #[serde(rename = "type")]
    pub kind: String,
    /// Database file, relative to the config file's directory (`redb` only).
    pub path: Option<PathBuf>,
    /// Server address, `redis://[user:password@]host[:port][/db]` (`redis` only).
    pub url: Option<String>,
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

/// The engine kinds built into this host, one crate each under `engines/`. A kind not listed
/// here is refused when the runtime config is read, naming the field and the known kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EngineKind {
    /// Speech to text (`songforge-whisper`).
    Whisper,
    /// Text generation from a GGUF model (`songforge-llm`).
    Llm,
    /// Text to speech (`songforge-piper`, ONNX).
    Piper,
    /// Audio to notes (`songforge-basic-pitch`, ONNX).
    BasicPitch,
    /// Singing voice from an OpenUtau voicebank (`songforge-diffsinger`, ONNX).
    #[serde(rename = "diffsinger")]
    DiffSinger,
    /// Music from text (`songforge-musicgen`).
    #[serde(rename = "musicgen")]
    MusicGen,
}

/// Where a graph should run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Target {
    /// Always the CPU.
    Cpu,
    /// A GPU; CPU with a warning when this build has none.
    Gpu,
    /// A GPU when this build has one, else the CPU.
    #[default]
    Auto,
}

/// One graph: which engine serves it with which model, where.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GraphConfig {
    /// Engine kind.
    pub engine: EngineKind,
    /// Model id from `models/catalog.toml`.
    pub model: String,
    /// Where it runs.
    #[serde(default)]
    pub target: Target,
    /// Engine threads (CPU); 0 lets the engine decide.
    #[serde(default)]
    pub threads: usize,
    /// A model directory to load instead of the installed catalog model (e.g. a Hugging Face
    /// checkpoint); relative to this file.
    #[serde(default)]
    pub path: Option<PathBuf>,
}

impl RuntimeConfig {
    /// Reads a config file; relative paths in it are resolved against its directory.
    pub fn load(file: &Path) -> Result<Self, RuntimeConfigError> {
        Self::parse(file, &crate::config_file::read(file)?)
    }

    /// Validates config text; `file` names it in errors and anchors relative paths. A value
    /// outside its set (an engine kind, a target) is refused naming its field.
    pub fn parse(file: &Path, text: &str) -> Result<Self, RuntimeConfigError> {
        let mut config: Self = crate::config_file::parse_fields(file, text)?;
        let dir = file.parent().unwrap_or(Path::new("."));
        for (label, store) in &mut config.key_value_store {
            let field = |key: &str, problem: String| RuntimeConfigError::Field {
                file: file.to_path_buf(),
                field: format!("key_value_store.{label}.{key}"),
                problem,
            };
            match store.kind.as_str() {
                "redb" => {
                    if store.url.is_some() {
                        return Err(field("url", "a `redb` store is a file: give `path`".into()));
                    }
                }
                "redis" => {
                    if store.path.is_some() {
                        return Err(field(
                            "path",
                            "a `redis` store is a server: give `url`".into(),
                        ));
                    }
                    match &store.url {
                        Some(url) if url.starts_with("redis://") => {}
                        Some(_) => {
                            return Err(field(
                                "url",
                                "must start with redis:// (redis://host:port, optionally \
                                 user:password@ before the host and /db after it)"
                                    .into(),
                            ));
                        }
                        None => return Err(field("url", "required for a `redis` store".into())),
                    }
                }
                other => {
                    return Err(field(
                        "type",
                        format!("unknown store type {other:?}; supported: \"redb\", \"redis\""),
                    ));
                }
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
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<RuntimeConfig, RuntimeConfigError> {
        RuntimeConfig::parse(Path::new("/app/runtime-config.toml"), text)
    }

    fn graph(engine: &str, target: &str) -> String {
        format!("[wasi_nn.graphs.g]\nengine = \"{engine}\"\nmodel = \"m\"\n{target}")
    }

    #[test]
    fn every_engine_kind_is_read() {
        for (name, kind) in [
            ("whisper", EngineKind::Whisper),
            ("llm", EngineKind::Llm),
            ("piper", EngineKind::Piper),
            ("basic-pitch", EngineKind::BasicPitch),
            ("diffsinger", EngineKind::DiffSinger),
            ("musicgen", EngineKind::MusicGen),
        ] {
            let config = parse(&graph(name, "")).unwrap();
            assert_eq!(config.wasi_nn.graphs["g"].engine, kind, "{name}");
        }
    }

    #[test]
    fn an_unknown_engine_kind_is_refused_naming_the_field_and_the_kinds() {
        let err = parse(&graph("whisperx", "")).unwrap_err().to_string();
        assert_eq!(
            err,
            "/app/runtime-config.toml: field `wasi_nn.graphs.g.engine`: unknown variant \
             `whisperx`, expected one of `whisper`, `llm`, `piper`, `basic-pitch`, `diffsinger`, \
             `musicgen` (line 2)"
        );
    }

    #[test]
    fn target_defaults_to_auto_and_refuses_others() {
        let config = parse(&graph("llm", "")).unwrap();
        assert_eq!(config.wasi_nn.graphs["g"].target, Target::Auto);
        let config = parse(&graph("llm", "target = \"gpu\"")).unwrap();
        assert_eq!(config.wasi_nn.graphs["g"].target, Target::Gpu);
        let err = parse(&graph("llm", "target = \"tpu\""))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("field `wasi_nn.graphs.g.target`: unknown variant `tpu`, expected one of `cpu`, `gpu`, `auto`"),
            "{err}"
        );
    }

    #[test]
    fn relative_paths_are_resolved_against_the_file() {
        let config = parse(
            "[key_value_store.default]\ntype = \"redb\"\npath = \"kv/d.redb\"\n\
             [wasi_nn.graphs.g]\nengine = \"whisper\"\nmodel = \"m\"\npath = \"ckpt\"\n",
        )
        .unwrap();
        assert_eq!(
            config.key_value_store["default"].path.as_deref(),
            Some(Path::new("/app/kv/d.redb"))
        );
        assert_eq!(
            config.wasi_nn.graphs["g"].path.as_deref(),
            Some(Path::new("/app/ckpt"))
        );
        let err = parse("[key_value_store.default]\ntype = \"sqlite\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("field `key_value_store.default.type`"),
            "{err}"
        );
    }

    #[test]
    fn a_redis_store_needs_a_redis_url_and_no_path() {
        let config = parse(
            "[key_value_store.default]\ntype = \"redis\"\nurl = \"redis://127.0.0.1:6379/2\"\n",
        )
        .unwrap();
        let store = &config.key_value_store["default"];
        assert_eq!(
            (store.kind.as_str(), store.url.as_deref()),
            ("redis", Some("redis://127.0.0.1:6379/2"))
        );
        for (text, field) in [
            ("type = \"redis\"\n", "url"),
            ("type = \"redis\"\nurl = \"http://x:6379\"\n", "url"),
            (
                "type = \"redis\"\nurl = \"redis://x\"\npath = \"d.redb\"\n",
                "path",
            ),
            ("type = \"redb\"\nurl = \"redis://x\"\n", "url"),
        ] {
            let err = parse(&format!("[key_value_store.default]\n{text}"))
                .unwrap_err()
                .to_string();
            assert!(
                err.contains(&format!("field `key_value_store.default.{field}`")),
                "{text}: {err}"
            );
        }
    }
}
