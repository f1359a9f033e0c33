//! The contract every inference engine implements, and the tensors components send: the
//! same types on both sides of wasi-nn (this crate builds for the host and for wasm).
//!
//! Engines (Whisper, the LLM, MusicGen, …) know nothing of HTTP, WebAssembly or wasi-nn: they
//! take named tensors and return named tensors. The host's wasi-nn registry maps graph names to
//! engines and runs them on its own worker threads, so an engine may block for as long as the
//! work takes.

pub mod contract;

use std::fmt;

/// Element type of a tensor, mirroring `wasi:nn/tensor.tensor-type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TensorType {
    /// IEEE 754 half precision.
    F16,
    /// IEEE 754 single precision.
    F32,
    /// IEEE 754 double precision.
    F64,
    /// bfloat16.
    Bf16,
    /// Unsigned bytes; also how JSON options and results travel.
    U8,
    /// 32-bit signed integers.
    I32,
    /// 64-bit signed integers (token and phoneme ids).
    I64,
}

impl TensorType {
    /// Size of one element in bytes.
    pub fn element_size(self) -> usize {
        match self {
            Self::U8 => 1,
            Self::F16 | Self::Bf16 => 2,
            Self::F32 | Self::I32 => 4,
            Self::F64 | Self::I64 => 8,
        }
    }

    /// The lowercase name used in wasi-nn and in error messages.
    pub fn name(self) -> &'static str {
        match self {
            Self::F16 => "fp16",
            Self::F32 => "fp32",
            Self::F64 => "fp64",
            Self::Bf16 => "bf16",
            Self::U8 => "u8",
            Self::I32 => "i32",
            Self::I64 => "i64",
        }
    }
}

impl serde::Serialize for TensorType {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

/// A dense tensor with little-endian element bytes, as wasi-nn carries it.
#[derive(Clone, PartialEq)]
pub struct Tensor {
    /// Extent of each dimension.
    pub dimensions: Vec<u32>,
    /// Element type.
    pub ty: TensorType,
    /// Little-endian element bytes, row-major.
    pub data: Vec<u8>,
}

impl fmt::Debug for Tensor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tensor")
            .field("dimensions", &self.dimensions)
            .field("ty", &self.ty)
            .field("bytes", &self.data.len())
            .finish()
    }
}

impl Tensor {
    /// Builds a tensor after checking that `data` holds exactly the elements `dimensions` imply.
    pub fn new(dimensions: Vec<u32>, ty: TensorType, data: Vec<u8>) -> Result<Self, EngineError> {
        let elements = dimensions
            .iter()
            .try_fold(1usize, |acc, &d| acc.checked_mul(d as usize))
            .ok_or_else(|| EngineError::InvalidInput("tensor dimensions overflow".into()))?;
        let expected = elements
            .checked_mul(ty.element_size())
            .ok_or_else(|| EngineError::InvalidInput("tensor size overflows".into()))?;
        if expected != data.len() {
            return Err(EngineError::InvalidInput(format!(
                "tensor of {dimensions:?} {} needs {expected} bytes, got {}",
                ty.name(),
                data.len()
            )));
        }
        Ok(Self {
            dimensions,
            ty,
            data,
        })
    }

    /// A one-dimensional `u8` tensor: how JSON requests and results travel.
    pub fn bytes(data: Vec<u8>) -> Self {
        Self {
            dimensions: vec![u32::try_from(data.len()).unwrap_or(u32::MAX)],
            ty: TensorType::U8,
            data,
        }
    }

    /// A tensor of `f32` values with the given shape.
    pub fn from_f32(dimensions: Vec<u32>, values: &[f32]) -> Result<Self, EngineError> {
        let data = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        Self::new(dimensions, TensorType::F32, data)
    }

    /// A `u8` tensor holding `value` as JSON: how graph options and requests travel.
    pub fn json<T: serde::Serialize>(value: &T) -> Result<Self, serde_json::Error> {
        serde_json::to_vec(value).map(Self::bytes)
    }

    /// The data as text, invalid UTF-8 replaced: for JSON results and diagnostics.
    pub fn text_lossy(&self) -> String {
        String::from_utf8_lossy(&self.data).into_owned()
    }

    /// Whether the data length matches the dimensions and element type.
    pub fn is_consistent(&self) -> bool {
        self.dimensions
            .iter()
            .try_fold(self.ty.element_size(), |acc, &d| {
                acc.checked_mul(d as usize)
            })
            .is_some_and(|len| len == self.data.len())
    }

    /// The elements as `f32`, or an error naming the actual type.
    pub fn to_f32(&self) -> Result<Vec<f32>, EngineError> {
        if self.ty != TensorType::F32 {
            return Err(EngineError::InvalidInput(format!(
                "expected an fp32 tensor, got {}",
                self.ty.name()
            )));
        }
        Ok(self
            .data
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect())
    }
}

/// A tensor with the name the graph contract gives it (`audio`, `options`, `result`, …).
#[derive(Debug, Clone, PartialEq)]
pub struct NamedTensor {
    /// Name from the graph's contract.
    pub name: String,
    /// The tensor itself.
    pub tensor: Tensor,
}

impl NamedTensor {
    /// Pairs a name with a tensor.
    pub fn new(name: impl Into<String>, tensor: Tensor) -> Self {
        Self {
            name: name.into(),
            tensor,
        }
    }
}

/// Finds the input called `name`, or says which one is missing.
pub fn input<'a>(inputs: &'a [NamedTensor], name: &str) -> Result<&'a Tensor, EngineError> {
    inputs
        .iter()
        .find(|t| t.name == name)
        .map(|t| &t.tensor)
        .ok_or_else(|| EngineError::InvalidInput(format!("missing input tensor `{name}`")))
}

/// The optional u8 JSON input called `name` (e.g. `options`), or `T::default()` when it is
/// absent or empty; malformed JSON is the caller's fault and names the input.
pub fn optional_json<T: serde::de::DeserializeOwned + Default>(
    inputs: &[NamedTensor],
    name: &str,
) -> Result<T, EngineError> {
    match inputs.iter().find(|t| t.name == name) {
        Some(t) if !t.tensor.data.is_empty() => serde_json::from_slice(&t.tensor.data)
            .map_err(|e| EngineError::InvalidInput(format!("`{name}`: {e}"))),
        _ => Ok(T::default()),
    }
}

/// Whether the CPU has AVX2 and FMA (asked once): the engines' kernels that are compiled for
/// them check this before they run.
pub fn has_avx2_fma() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        use std::sync::OnceLock;
        static AVX2_FMA: OnceLock<bool> = OnceLock::new();
        *AVX2_FMA.get_or_init(|| {
            std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
        })
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Dot product of two equally long rows with 16 independent accumulators, so it vectorises
/// on baseline x86-64; the hot loop of the engines' own row-by-row products.
#[inline]
pub fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 16];
    let (ca, cb) = (a.chunks_exact(16), b.chunks_exact(16));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for i in 0..16 {
            acc[i] += x[i] * y[i];
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// The required u8 JSON input called `name` (e.g. `request`); absent or malformed JSON is the
/// caller's fault and names the input.
pub fn required_json<T: serde::de::DeserializeOwned>(
    inputs: &[NamedTensor],
    name: &str,
) -> Result<T, EngineError> {
    serde_json::from_slice(&input(inputs, name)?.data)
        .map_err(|e| EngineError::InvalidInput(format!("`{name}`: {e}")))
}

/// Why an engine could not produce outputs. The host maps each kind onto a wasi-nn error code,
/// and components map those onto HTTP statuses, so the kinds are chosen by who is at fault.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The caller sent something the graph cannot use (→ 422).
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// The input exceeds what the graph accepts (→ 413).
    #[error("input too large: {0}")]
    TooLarge(String),
    /// The model's files are missing or unusable (→ 503).
    #[error("model unavailable: {0}")]
    Unavailable(String),
    /// The engine failed while running (→ 500).
    #[error("inference failed: {0}")]
    Runtime(String),
}

impl EngineError {
    /// How the failure travels over wasi-nn and which status it becomes.
    pub fn kind(&self) -> contract::error::ErrorKind {
        use contract::error::ErrorKind;
        match self {
            Self::InvalidInput(_) => ErrorKind::InvalidInput,
            Self::TooLarge(_) => ErrorKind::TooLarge,
            Self::Unavailable(_) => ErrorKind::Unavailable,
            Self::Runtime(_) => ErrorKind::Runtime,
        }
    }
}

/// Where a graph runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Device {
    /// The host CPU.
    Cpu,
    /// An NVIDIA GPU through CUDA, by ordinal.
    Cuda(usize),
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Cpu => f.write_str("cpu"),
            Self::Cuda(i) => write!(f, "cuda:{i}"),
        }
    }
}

/// One loaded model serving one graph contract. `compute` may block: the host calls it from its
/// own worker threads, never from the threads that serve HTTP.
pub trait Engine: Send + Sync {
    /// The model behind this graph (catalog id), for health reports and logs.
    fn model(&self) -> &str;
    /// The task it performs (`speech-to-text`, `lyrics`, …).
    fn task(&self) -> &str;
    /// Runs one inference.
    fn compute(&self, inputs: Vec<NamedTensor>) -> Result<Vec<NamedTensor>, EngineError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tensor_size_is_checked_against_its_shape() {
        assert!(Tensor::new(vec![2, 3], TensorType::F32, vec![0; 24]).is_ok());
        let err = Tensor::new(vec![2, 3], TensorType::F32, vec![0; 23]).unwrap_err();
        assert!(err.to_string().contains("needs 24 bytes, got 23"), "{err}");
    }

    #[test]
    fn f32_round_trip() {
        let t = Tensor::from_f32(vec![1, 3], &[0.5, -1.0, 3.25]).unwrap();
        assert_eq!(t.to_f32().unwrap(), vec![0.5, -1.0, 3.25]);
        assert!(Tensor::bytes(vec![1, 2]).to_f32().is_err());
    }

    #[test]
    fn optional_json_defaults_when_absent_and_names_bad_json() {
        let absent: Vec<u32> = optional_json(&[], "options").unwrap();
        assert!(absent.is_empty());
        let good = [NamedTensor::new(
            "options",
            Tensor::bytes(b"[1, 2]".to_vec()),
        )];
        assert_eq!(
            optional_json::<Vec<u32>>(&good, "options").unwrap(),
            vec![1, 2]
        );
        let bad = [NamedTensor::new("options", Tensor::bytes(b"{".to_vec()))];
        let err = optional_json::<Vec<u32>>(&bad, "options").unwrap_err();
        assert!(
            err.to_string().starts_with("invalid input: `options`:"),
            "{err}"
        );
    }

    #[test]
    fn missing_input_is_named() {
        let err = input(&[], "audio").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid input: missing input tensor `audio`"
        );
    }
}
