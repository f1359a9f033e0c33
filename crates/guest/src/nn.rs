//! A small wasi-nn client: run a named graph on named tensors.
//!
//! Graphs are whole tasks living in the host (a transcription, a generation loop), loaded by
//! name with `load-by-name`; the guest sends its inputs once and gets the outputs back.
//! Bindings come from the WIT vendored in `wit/wasi-nn`, the same file the host's pinned
//! `wasmtime-wasi-nn` implements, so both sides agree on every type.

use serde::Serialize;

use crate::envelope::ApiError;

#[allow(missing_docs, clippy::all)]
mod bindings {
    spin_sdk::wit_bindgen::generate!({
        path: "../../wit/wasi-nn",
        world: "ml",
        runtime_path: "spin_sdk::wit_bindgen::rt",
    });
}

use bindings::wasi::nn::{errors, graph, tensor};

pub use songforge_inference::{Tensor, TensorType};

impl From<TensorType> for tensor::TensorType {
    fn from(ty: TensorType) -> Self {
        match ty {
            TensorType::F16 => Self::Fp16,
            TensorType::F32 => Self::Fp32,
            TensorType::F64 => Self::Fp64,
            TensorType::Bf16 => Self::Bf16,
            TensorType::U8 => Self::U8,
            TensorType::I32 => Self::I32,
            TensorType::I64 => Self::I64,
        }
    }
}

impl From<tensor::TensorType> for TensorType {
    fn from(ty: tensor::TensorType) -> Self {
        match ty {
            tensor::TensorType::Fp16 => Self::F16,
            tensor::TensorType::Fp32 => Self::F32,
            tensor::TensorType::Fp64 => Self::F64,
            tensor::TensorType::Bf16 => Self::Bf16,
            tensor::TensorType::U8 => Self::U8,
            tensor::TensorType::I32 => Self::I32,
            tensor::TensorType::I64 => Self::I64,
        }
    }
}

/// A graph that the health report lists: its wasi-nn name and the task it serves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GraphSpec {
    /// The name passed to `load-by-name`.
    pub name: String,
    /// What the graph does (`speech-to-text`).
    pub task: String,
}

/// Parses a graph list `name:task,name:task` (the `nn_graphs` variable). Blank entries are
/// skipped; an entry without a task gets task `unknown`.
pub fn parse_graph_list(spec: &str) -> Vec<GraphSpec> {
    spec.split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .filter_map(|entry| {
            let (name, task) = entry.split_once(':').unwrap_or((entry, "unknown"));
            let name = name.trim();
            let task = task.trim();
            (!name.is_empty()).then(|| GraphSpec {
                name: name.to_string(),
                task: if task.is_empty() { "unknown" } else { task }.to_string(),
            })
        })
        .collect()
}

/// Why an inference failed, classified by what the client should do about it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NnError {
    /// No such graph, or its model is not installed (wasi-nn `not-found`): 503.
    #[error("model `{graph}` is not available: {message}")]
    GraphUnavailable {
        /// The graph name.
        graph: String,
        /// The host's explanation.
        message: String,
    },
    /// The input is too big for the graph (`too-large`): 413.
    #[error("the input is too large for `{graph}`: {message}")]
    TooLarge {
        /// The graph name.
        graph: String,
        /// The host's explanation.
        message: String,
    },
    /// The graph cannot work with this input (`invalid-argument`): 422.
    #[error("`{graph}` cannot use this input: {message}")]
    InvalidInput {
        /// The graph name.
        graph: String,
        /// The host's explanation.
        message: String,
    },
    /// The inference ran out of time (`timeout`): 504.
    #[error("`{graph}` did not finish in time: {message}")]
    Timeout {
        /// The graph name.
        graph: String,
        /// The host's explanation.
        message: String,
    },
    /// The device queue is full (`runtime-error` with a `busy:` message): 503, retry soon.
    #[error("`{graph}` is busy: {message}")]
    Busy {
        /// The graph name.
        graph: String,
        /// The host's explanation, without the `busy:` marker.
        message: String,
    },
    /// Anything else: 500.
    #[error("`{graph}` failed ({code}): {message}")]
    Failed {
        /// The graph name.
        graph: String,
        /// The wasi-nn error code, as the WIT spells it.
        code: &'static str,
        /// The host's explanation.
        message: String,
    },
}

impl NnError {
    /// Classifies a wasi-nn error code and its `data()` message from the host.
    fn classify(graph: &str, code: errors::ErrorCode, data: String) -> Self {
        let graph = graph.to_string();
        let message = |fallback: &str| {
            let trimmed = data.trim();
            if trimmed.is_empty() {
                fallback.to_string()
            } else {
                trimmed.to_string()
            }
        };
        match code {
            errors::ErrorCode::NotFound => Self::GraphUnavailable {
                graph,
                message: message("no such graph is installed on this host"),
            },
            errors::ErrorCode::TooLarge => Self::TooLarge {
                graph,
                message: message("the input exceeds the graph's limits"),
            },
            errors::ErrorCode::InvalidArgument => Self::InvalidInput {
                graph,
                message: message("the input was rejected"),
            },
            errors::ErrorCode::Timeout => Self::Timeout {
                graph,
                message: message("the inference time limit was reached"),
            },
            errors::ErrorCode::RuntimeError if data.trim_start().starts_with("busy:") => {
                let rest = data.trim_start().trim_start_matches("busy:").trim();
                Self::Busy {
                    graph,
                    message: if rest.is_empty() {
                        "the inference queue is full; retry shortly".to_string()
                    } else {
                        rest.to_string()
                    },
                }
            }
            other => Self::Failed {
                graph,
                code: code_name(other),
                message: message("no details"),
            },
        }
    }

    fn from_wasi(graph: &str, error: errors::Error) -> Self {
        Self::classify(graph, error.code(), error.data())
    }
}

fn code_name(code: errors::ErrorCode) -> &'static str {
    match code {
        errors::ErrorCode::InvalidArgument => "invalid-argument",
        errors::ErrorCode::InvalidEncoding => "invalid-encoding",
        errors::ErrorCode::Timeout => "timeout",
        errors::ErrorCode::RuntimeError => "runtime-error",
        errors::ErrorCode::UnsupportedOperation => "unsupported-operation",
        errors::ErrorCode::TooLarge => "too-large",
        errors::ErrorCode::NotFound => "not-found",
        errors::ErrorCode::Security => "security",
        errors::ErrorCode::Unknown => "unknown",
    }
}

impl From<NnError> for ApiError {
    fn from(error: NnError) -> Self {
        let message = error.to_string();
        match error {
            NnError::GraphUnavailable { .. } => ApiError::service_unavailable(message),
            NnError::TooLarge { .. } => ApiError::payload_too_large(message),
            NnError::InvalidInput { .. } => ApiError::unprocessable(message),
            NnError::Timeout { .. } => ApiError::timeout(message),
            NnError::Busy { .. } => ApiError::service_unavailable(message).with_retry_after(1),
            NnError::Failed { .. } => ApiError::internal(message),
        }
    }
}

/// Runs graph `graph_name` on `inputs` and returns its named outputs.
///
/// Loads the graph by name, opens an execution context and computes once; each step's error
/// is classified into an [`NnError`] naming the graph.
pub fn compute(
    graph_name: &str,
    inputs: Vec<(String, Tensor)>,
) -> Result<Vec<(String, Tensor)>, NnError> {
    let graph = graph::load_by_name(graph_name).map_err(|e| NnError::from_wasi(graph_name, e))?;
    let context = graph
        .init_execution_context()
        .map_err(|e| NnError::from_wasi(graph_name, e))?;
    let inputs = inputs
        .into_iter()
        .map(|(name, t)| {
            (
                name,
                tensor::Tensor::new(&t.dimensions, t.ty.into(), &t.data),
            )
        })
        .collect();
    let outputs = context
        .compute(inputs)
        .map_err(|e| NnError::from_wasi(graph_name, e))?;
    Ok(outputs
        .into_iter()
        .map(|(name, t)| {
            let tensor = Tensor {
                dimensions: t.dimensions(),
                ty: t.ty().into(),
                data: t.data(),
            };
            (name, tensor)
        })
        .collect())
}

/// The output called `name`, or a 500-class error naming the graph when it is missing:
/// a graph that answers without its documented output is broken, not the client.
pub fn output<'a>(
    graph_name: &str,
    outputs: &'a [(String, Tensor)],
    name: &str,
) -> Result<&'a Tensor, NnError> {
    outputs
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, t)| t)
        .ok_or_else(|| NnError::Failed {
            graph: graph_name.to_string(),
            code: "runtime-error",
            message: format!("the graph returned no `{name}` output"),
        })
}

/// Whether the host can load graph `name` right now (its model is installed).
pub fn graph_available(name: &str) -> bool {
    graph::load_by_name(name).is_ok()
}

/// Why graph `name` is unavailable, in the host's words (they name the pull command or the
/// folder to fill), for a 503 that tells the user what to do.
pub fn unavailable_reason(name: &str) -> String {
    compute(name, vec![])
        .err()
        .map(|e| e.to_string())
        .unwrap_or_else(|| format!("graph `{name}` is unavailable"))
}

/// An `audio` output and the `meta` JSON beside it, as the `tts`, `singer` and `musicgen`
/// graphs answer: the samples row after row, the tensor's dimensions, and the meta.
pub struct AudioOutput<M> {
    /// Samples, row after row.
    pub samples: Vec<f32>,
    /// `audio`'s dimensions (rows, samples per row).
    pub dimensions: Vec<u32>,
    /// The parsed `meta`.
    pub meta: M,
}

/// Reads `audio` and `meta` from a graph's outputs.
pub fn audio_output<M: serde::de::DeserializeOwned>(
    graph_name: &str,
    outputs: &[(String, Tensor)],
) -> Result<AudioOutput<M>, NnError> {
    let failed = |message: String| NnError::Failed {
        graph: graph_name.to_string(),
        code: "runtime-error",
        message,
    };
    let audio = output(graph_name, outputs, "audio")?;
    let meta = output(graph_name, outputs, "meta")?;
    let meta = serde_json::from_slice(&meta.data).map_err(|e| failed(format!("meta: {e}")))?;
    let samples = audio.to_f32().map_err(|e| failed(format!("audio: {e}")))?;
    Ok(AudioOutput {
        samples,
        dimensions: audio.dimensions.clone(),
        meta,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::StatusCode;

    fn api(code: errors::ErrorCode, data: &str) -> ApiError {
        NnError::classify("whisper", code, data.to_string()).into()
    }

    #[test]
    fn error_codes_map_to_statuses() {
        let e = api(errors::ErrorCode::NotFound, "");
        assert_eq!(e.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(e.message().contains("whisper"));
        assert!(e.headers().is_empty());

        assert_eq!(
            api(errors::ErrorCode::TooLarge, "30 s max").status(),
            StatusCode::PAYLOAD_TOO_LARGE
        );
        let e = api(
            errors::ErrorCode::InvalidArgument,
            "the probe asked for a failure",
        );
        assert_eq!(e.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(e.message().contains("the probe asked for a failure"));
        assert_eq!(
            api(errors::ErrorCode::Timeout, "").status(),
            StatusCode::GATEWAY_TIMEOUT
        );
        assert_eq!(
            api(errors::ErrorCode::RuntimeError, "cuda oom").status(),
            StatusCode::INTERNAL_SERVER_ERROR
        );
        assert_eq!(
            api(errors::ErrorCode::Security, "").status(),
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }

    #[test]
    fn busy_runtime_errors_ask_for_a_retry() {
        let e = api(
            errors::ErrorCode::RuntimeError,
            "busy: cpu queue is full (16)",
        );
        assert_eq!(e.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(e.message().contains("busy"));
        assert!(e.message().contains("cpu queue is full (16)"));
        assert_eq!(e.headers()[0].0, http::header::RETRY_AFTER);
        assert_eq!(e.headers()[0].1, "1");
    }

    #[test]
    fn graph_lists_parse() {
        let graphs =
            parse_graph_list("whisper:speech-to-text, llm:lyrics,,musicgen:instrumental ,bare, :x");
        let pairs: Vec<_> = graphs
            .iter()
            .map(|g| (g.name.as_str(), g.task.as_str()))
            .collect();
        assert_eq!(
            pairs,
            [
                ("whisper", "speech-to-text"),
                ("llm", "lyrics"),
                ("musicgen", "instrumental"),
                ("bare", "unknown"),
            ]
        );
        assert!(parse_graph_list("").is_empty());
    }

    #[test]
    fn tensors_round_trip() {
        let t = Tensor::from_f32(vec![1, 3], &[0.5, -1.0, 2.25]).unwrap();
        assert!(t.is_consistent());
        assert_eq!(t.to_f32().unwrap(), vec![0.5, -1.0, 2.25]);
        let b = Tensor::bytes(b"la la".to_vec());
        assert_eq!(b.dimensions, [5]);
        assert!(b.is_consistent());
        assert!(b.to_f32().is_err());
        assert_eq!(b.text_lossy(), "la la");
        let j = Tensor::json(&serde_json::json!({"task": "transcribe"})).unwrap();
        assert_eq!(j.ty, TensorType::U8);
        assert!(Tensor::new(vec![2], TensorType::I64, vec![0; 8]).is_err());
        assert!(Tensor::new(vec![u32::MAX, u32::MAX, u32::MAX], TensorType::U8, vec![]).is_err());
    }

    #[test]
    fn tensor_types_convert_both_ways() {
        for ty in [
            TensorType::F16,
            TensorType::F32,
            TensorType::F64,
            TensorType::Bf16,
            TensorType::U8,
            TensorType::I32,
            TensorType::I64,
        ] {
            assert_eq!(TensorType::from(tensor::TensorType::from(ty)), ty);
        }
        assert_eq!(serde_json::to_value(TensorType::U8).unwrap(), "u8");
    }

    #[test]
    fn missing_outputs_are_internal_errors() {
        let outputs = vec![("result".to_string(), Tensor::bytes(vec![]))];
        assert!(output("llm", &outputs, "result").is_ok());
        let e: ApiError = output("llm", &outputs, "audio").unwrap_err().into();
        assert_eq!(e.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(e.message().contains("audio"));
    }
}
