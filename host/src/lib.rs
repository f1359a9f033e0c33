//! SongForge host: serves a Spin manifest's HTTP components on wasmtime, with key-value,
//! variables and wasi-nn inference.

pub mod component;
pub mod config_file;
pub mod engines;
pub mod key_value;
pub mod manifest;
pub mod memory_budget;
pub mod outbound;
pub mod router;
pub mod runtime_config;
pub mod server;
pub mod state;
pub mod variables;
pub mod wasi_nn;

pub use server::{CorsPolicy, KeyLimits, Limits, RunningServer, ServerConfig, StartError, start};
