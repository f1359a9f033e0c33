//! A small wasi-nn client: run a named graph on named tensors.
//!
//! Graphs are whole tasks living in the host (a transcription, a generation loop), loaded by
//! name with `load-by-name`; the guest sends its inputs once and gets the outputs back.
//! Bindings come from the WIT vendored in `wit/wasi-nn`, the same file the host's pinned
//! `wasmtime-wasi-nn` implements, so both sides agree on every type.

use serde::Serialize;
use songforge_inference::contract::error::ErrorKind;

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

/// Why an inference failed, by what the client should do about it (the contract's
/// [`ErrorKind`]), with the graph's name and the host's explanation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.describe())]
pub struct NnError {
    /// The graph name.
    pub graph: String,
    /// What kind of failure it is.
    pub kind: ErrorKind,
    /// The host's explanation.
    pub message: String,
}

impl NnError {
    /// Reads a wasi-nn error code and its `data()` message from the host.
    fn classify(graph: &str, code: errors::ErrorCode, data: String) -> Self {
        let (kind, message) = ErrorKind::from_wire(spelled(code), &data);
        let message = if message.is_empty() {
            match kind {
                ErrorKind::Unavailable => "no such graph is installed on this host",
                ErrorKind::TooLarge => "the input exceeds the graph's limits",
                ErrorKind::InvalidInput => "the input was rejected",
                ErrorKind::Timeout => "the inference time limit was reached",
                ErrorKind::Busy => "the inference queue is full; retry shortly",
                ErrorKind::Runtime => "no details",
            }
            .to_string()
        } else {
            message
        };
        Self {
            graph: graph.to_string(),
            kind,
            message,
        }
    }

    fn from_wasi(graph: &str, error: errors::Error) -> Self {
        Self::classify(graph, error.code(), error.data())
    }

    /// A graph that answered without what its contract promises: the graph is broken, not
    /// the request.
    fn broken(graph: &str, message: String) -> Self {
        Self {
            graph: graph.to_string(),
            kind: ErrorKind::Runtime,
            message,
        }
    }

    fn describe(&self) -> String {
        let (graph, message) = (&self.graph, &self.message);
        match self.kind {
            ErrorKind::Unavailable => format!("model `{graph}` is not available: {message}"),
            ErrorKind::TooLarge => format!("the input is too large for `{graph}`: {message}"),
            ErrorKind::InvalidInput => format!("`{graph}` cannot use this input: {message}"),
            ErrorKind::Timeout => format!("`{graph}` did not finish in time: {message}"),
            ErrorKind::Busy => format!("`{graph}` is busy: {message}"),
            ErrorKind::Runtime => format!("`{graph}` failed: {message}"),
        }
    }
}

/// A code as the WIT spells it, which is how the contract reads it.
fn spelled(code: errors::ErrorCode) -> &'static str {
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
        match error.kind {
            ErrorKind::Unavailable => ApiError::service_unavailable(message),
            ErrorKind::TooLarge => ApiError::payload_too_large(message),
            ErrorKind::InvalidInput => ApiError::unprocessable(message),
            ErrorKind::Timeout => ApiError::timeout(message),
            ErrorKind::Busy => ApiError::service_unavailable(message).with_retry_after(1),
            ErrorKind::Runtime => ApiError::internal(message),
        }
    }
}

/// A loaded graph: the one handle a component needs to know a model is installed and to run
/// it, so checking costs no extra round trip.
pub struct Graph {
    name: String,
    graph: graph::Graph,
}

/// Loads graph `name`; [`ErrorKind::Unavailable`] (with the host's words, which name the pull
/// command or the folder to fill) when its model is not installed.
pub fn load(name: &str) -> Result<Graph, NnError> {
    let graph = graph::load_by_name(name).map_err(|e| NnError::from_wasi(name, e))?;
    Ok(Graph {
        name: name.to_string(),
        graph,
    })
}

impl Graph {
    /// The name it was loaded by.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs the graph once on named inputs and returns its named outputs; each step's error
    /// is classified into an [`NnError`] naming the graph.
    pub fn compute(&self, inputs: Vec<(&str, Tensor)>) -> Result<Outputs, NnError> {
        let context = self
            .graph
            .init_execution_context()
            .map_err(|e| NnError::from_wasi(&self.name, e))?;
        let inputs = inputs
            .into_iter()
            .map(|(name, t)| {
                (
                    name.to_string(),
                    tensor::Tensor::new(&t.dimensions, t.ty.into(), &t.data),
                )
            })
            .collect();
        let outputs = context
            .compute(inputs)
            .map_err(|e| NnError::from_wasi(&self.name, e))?;
        Ok(Outputs {
            graph: self.name.clone(),
            tensors: outputs
                .into_iter()
                .map(|(name, t)| {
                    let tensor = Tensor {
                        dimensions: t.dimensions(),
                        ty: t.ty().into(),
                        data: t.data(),
                    };
                    (name, tensor)
                })
                .collect(),
        })
    }
}

/// Loads graph `name` and runs it once.
pub fn compute(name: &str, inputs: Vec<(&str, Tensor)>) -> Result<Outputs, NnError> {
    load(name)?.compute(inputs)
}

/// A JSON input tensor; a value that cannot be serialised is this component's bug (500).
pub fn json_input<T: Serialize>(value: &T) -> Result<Tensor, ApiError> {
    Tensor::json(value).map_err(ApiError::internal_from)
}

/// A graph's named outputs.
pub struct Outputs {
    graph: String,
    tensors: Vec<(String, Tensor)>,
}

/// Every output, for callers that pass whatever a graph answered along (e.g. the test probe).
impl IntoIterator for Outputs {
    type Item = (String, Tensor);
    type IntoIter = std::vec::IntoIter<(String, Tensor)>;

    fn into_iter(self) -> Self::IntoIter {
        self.tensors.into_iter()
    }
}

impl Outputs {
    /// The output called `name`; missing, it is the graph's fault (500), not the client's.
    pub fn get(&self, name: &str) -> Result<&Tensor, NnError> {
        self.tensors
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, t)| t)
            .ok_or_else(|| {
                NnError::broken(
                    &self.graph,
                    format!("the graph returned no `{name}` output"),
                )
            })
    }

    /// The output called `name`, read as the contract's JSON type.
    pub fn json<T: serde::de::DeserializeOwned>(&self, name: &str) -> Result<T, NnError> {
        serde_json::from_slice(&self.get(name)?.data).map_err(|e| {
            NnError::broken(
                &self.graph,
                format!("`{name}` is not what the contract says: {e}"),
            )
        })
    }

    /// The `audio` output and the `meta` JSON beside it, as the `tts`, `singer` and
    /// `musicgen` graphs answer.
    pub fn audio<M: serde::de::DeserializeOwned>(
        &self,
        audio: &str,
        meta: &str,
    ) -> Result<AudioOutput<M>, NnError> {
        let meta = self.json(meta)?;
        let tensor = self.get(audio)?;
        let samples = tensor
            .to_f32()
            .map_err(|e| NnError::broken(&self.graph, format!("`{audio}`: {e}")))?;
        Ok(AudioOutput {
            samples,
            dimensions: tensor.dimensions.clone(),
            meta,
        })
    }
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
    fn missing_or_unreadable_outputs_are_internal_errors() {
        let outputs = Outputs {
            graph: "llm".into(),
            tensors: vec![("result".to_string(), Tensor::bytes(b"{}".to_vec()))],
        };
        assert!(outputs.get("result").is_ok());
        let e: ApiError = outputs.get("audio").unwrap_err().into();
        assert_eq!(e.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(e.message().contains("audio"));
        let e: ApiError = outputs.json::<Vec<u32>>("result").unwrap_err().into();
        assert_eq!(e.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(e.message().contains("`llm`"), "{}", e.message());
    }
}
