//! The SongForge app's configuration as the host reads it: the Spin manifest (`spin.toml`)
//! and the runtime config (`runtime-config.toml`). Parsing only: no wasmtime, no I/O beyond
//! reading the file, so the same code is fuzzed on its own (fuzz/).

pub mod manifest;
pub mod outbound;
pub mod router;
pub mod runtime_config;

pub use songforge_config_file as config_file;
