//! SongForge host: serves a Spin manifest's HTTP components on wasmtime, with key-value,
//! variables and wasi-nn inference.

pub mod component;
pub mod compose;
pub mod config_file;
pub mod engines;
pub mod key_value;
pub mod memory_budget;
pub mod nn_service;
pub mod server;
pub mod state;
pub mod variables;
pub mod wasi_nn;

pub use songforge_app_config::{manifest, outbound, router, runtime_config};

pub use server::{CorsPolicy, KeyLimits, Limits, RunningServer, ServerConfig, StartError, start};
