//! Every wasi-nn graph's contract, written once and used on both sides: the engines in the
//! host deserialize the same types the components serialize, so a renamed field fails to
//! compile instead of failing at run time.
//!
//! Each graph module names its input and output tensors (`AUDIO`, `OPTIONS`, …) and types
//! the JSON that travels in `u8` tensors. [`error`] types the failures (including the busy
//! signal, which wasi-nn has no code for), and [`status`] the host's per-graph report.

pub mod error;
pub mod llm;
pub mod musicgen;
pub mod pitch;
pub mod service;
pub mod singer;
pub mod status;
pub mod tts;
pub mod whisper;
