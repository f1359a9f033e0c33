//! ONNX Runtime for the ONNX engines (`piper`, `basic-pitch`).
//!
//! The runtime is a native library loaded at start-up from the model store (`ort` with
//! `load-dynamic`), so the build links nothing and a host without it still starts: its ONNX
//! graphs are then unavailable with the command that installs it. ONNX Runtime allows one
//! environment per process, shared here by every session.

pub use ort;

use ort::environment::Environment;
use ort::session::Session;
use ort::session::builder::{GraphOptimizationLevel, SessionBuilder};
use songforge_inference::{Device, EngineError};
use std::path::Path;
use std::sync::OnceLock;

/// The environment, from the first library path given.
static RUNTIME: OnceLock<Result<Environment, String>> = OnceLock::new();

/// Loads ONNX Runtime from `library` (once per process).
pub fn init_runtime(library: &Path) -> Result<&'static Environment, EngineError> {
    RUNTIME
        .get_or_init(|| {
            ort::init_from(library)
                .map_err(|e| format!("cannot load ONNX Runtime from {}: {e}", library.display()))?
                .with_name("songforge")
                .build()
                .map_err(|e| format!("cannot start ONNX Runtime: {e}"))
        })
        .as_ref()
        .map_err(|e| EngineError::Unavailable(e.clone()))
}

/// A session for the graph at `onnx`, fully optimised, on `threads` threads (0: one a core),
/// on the CPU or a CUDA device.
pub fn session(
    runtime: &Path,
    onnx: &Path,
    device: Device,
    threads: usize,
) -> Result<Session, EngineError> {
    let environment = init_runtime(runtime)?;
    let unavailable =
        |e: &dyn std::fmt::Display| EngineError::Unavailable(format!("{}: {e}", onnx.display()));
    let threads = if threads == 0 {
        std::thread::available_parallelism().map_or(1, usize::from)
    } else {
        threads
    };
    let mut builder = Session::builder(environment)
        .map_err(|e| unavailable(&e))?
        .with_optimization_level(GraphOptimizationLevel::Level3)
        .map_err(|e| unavailable(&e))?
        .with_intra_threads(threads)
        .map_err(|e| unavailable(&e))?;
    if let Device::Cuda(ordinal) = device {
        builder = with_cuda(builder, ordinal).map_err(|e| unavailable(&e))?;
    }
    builder.commit_from_file(onnx).map_err(|e| unavailable(&e))
}

#[cfg(feature = "cuda")]
fn with_cuda(builder: SessionBuilder, ordinal: usize) -> Result<SessionBuilder, String> {
    builder
        .with_execution_providers([ort::ep::CUDA::default()
            .with_device_id(ordinal as i32)
            .build()
            .error_on_failure()])
        .map_err(|e| e.to_string())
}

#[cfg(not(feature = "cuda"))]
fn with_cuda(_builder: SessionBuilder, _ordinal: usize) -> Result<SessionBuilder, String> {
    Err("this host was built without the `cuda` feature".into())
}

/// Turns an ONNX Runtime error into a run-time engine error.
pub fn runtime_error(e: impl std::fmt::Display) -> EngineError {
    EngineError::Runtime(e.to_string())
}
