//! The inference service (`songforge serve-nn`) over HTTP: the paths, the binary body that
//! carries named tensors, and the JSON that carries a failure. The service writes it and the
//! wasi-nn-over-HTTP component reads it, so both ends share this one definition.
//!
//! Tensors travel as raw little-endian bytes behind a small header, never as JSON numbers: a
//! three-minute stereo `f32` track is 63 MB of payload and costs one copy each way.
//!
//! ```text
//! "SFNT" | version u8 (1) | count u32 | count × tensor
//! tensor: name-len u16 | name (UTF-8) | type u8 | rank u8 | rank × dim u32 | data-len u64 | data
//! ```
//! All integers are little-endian.

use super::error::ErrorKind;
use crate::{NamedTensor, Tensor, TensorType};
use serde::{Deserialize, Serialize};

/// The media type of a tensor body.
pub const CONTENT_TYPE: &str = "application/vnd.songforge.tensors";
/// The service's health route (no token needed).
pub const HEALTH_PATH: &str = "/v1/health";
/// The prefix of a graph's routes: `GET /v1/graphs/{name}` reports it,
/// `POST /v1/graphs/{name}/compute` runs it.
pub const GRAPHS_PATH: &str = "/v1/graphs/";
/// The suffix of the compute route.
pub const COMPUTE_SUFFIX: &str = "/compute";

const MAGIC: &[u8; 4] = b"SFNT";
const VERSION: u8 = 1;
/// Most tensors one body may carry (graphs take a handful).
pub const MAX_TENSORS: u32 = 64;
/// Most dimensions one tensor may have.
pub const MAX_RANK: u8 = 8;
/// The longest a tensor's framing can be: name length, name, type, rank, dimensions, length.
const MAX_FRAMING: usize = 2 + u16::MAX as usize + 1 + 1 + 4 * MAX_RANK as usize + 8;

/// Why a body could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// The body ended inside a field.
    #[error("the tensor body ends early, inside {0}")]
    Truncated(&'static str),
    /// The body is not a tensor body of a version this side reads.
    #[error("not a tensor body (expected `SFNT` version {VERSION})")]
    NotTensors,
    /// A field holds a value outside what the format allows.
    #[error("{0}")]
    Invalid(String),
}

/// The route that runs `graph`.
pub fn compute_path(graph: &str) -> String {
    format!("{GRAPHS_PATH}{graph}{COMPUTE_SUFFIX}")
}

/// The route that reports `graph`.
pub fn graph_path(graph: &str) -> String {
    format!("{GRAPHS_PATH}{graph}")
}

fn type_code(ty: TensorType) -> u8 {
    match ty {
        TensorType::F16 => 0,
        TensorType::F32 => 1,
        TensorType::F64 => 2,
        TensorType::Bf16 => 3,
        TensorType::U8 => 4,
        TensorType::I32 => 5,
        TensorType::I64 => 6,
    }
}

fn type_of(code: u8) -> Option<TensorType> {
    Some(match code {
        0 => TensorType::F16,
        1 => TensorType::F32,
        2 => TensorType::F64,
        3 => TensorType::Bf16,
        4 => TensorType::U8,
        5 => TensorType::I32,
        6 => TensorType::I64,
        _ => return None,
    })
}

/// The framing before each tensor's data: the first also carries the body's own header, and
/// a body of no tensors is that header alone. A writer sends `framing[i]`, then tensor `i`'s
/// data from where it lies, so a large tensor is never copied into a body first.
pub fn framing<'a>(
    tensors: impl Iterator<Item = (&'a str, &'a Tensor)>,
) -> Result<Vec<Vec<u8>>, WireError> {
    let mut head = Vec::with_capacity(9);
    head.extend_from_slice(MAGIC);
    head.push(VERSION);
    head.extend_from_slice(&0u32.to_le_bytes());
    let mut out = vec![head];
    let mut count = 0u32;
    for (name, t) in tensors {
        count += 1;
        if count > MAX_TENSORS {
            return Err(WireError::Invalid(format!(
                "more than {MAX_TENSORS} tensors in one body"
            )));
        }
        let name_len = u16::try_from(name.len())
            .map_err(|_| WireError::Invalid("a tensor name is longer than 65,535 bytes".into()))?;
        let rank = u8::try_from(t.dimensions.len())
            .ok()
            .filter(|&r| r <= MAX_RANK)
            .ok_or_else(|| {
                WireError::Invalid(format!(
                    "tensor `{name}` has more than {MAX_RANK} dimensions"
                ))
            })?;
        if count > 1 {
            out.push(Vec::with_capacity(
                2 + name.len() + 2 + 4 * t.dimensions.len() + 8,
            ));
        }
        let f = out.last_mut().expect("one framing per tensor");
        f.extend_from_slice(&name_len.to_le_bytes());
        f.extend_from_slice(name.as_bytes());
        f.push(type_code(t.ty));
        f.push(rank);
        for d in &t.dimensions {
            f.extend_from_slice(&d.to_le_bytes());
        }
        f.extend_from_slice(&(t.data.len() as u64).to_le_bytes());
    }
    out[0][5..9].copy_from_slice(&count.to_le_bytes());
    Ok(out)
}

/// The body in sending order, borrowed: `framing[0]`, tensor 0's data, `framing[1]`, …
pub fn parts<'a>(frames: &'a [Vec<u8>], data: impl Iterator<Item = &'a [u8]>) -> Vec<&'a [u8]> {
    let mut out: Vec<&[u8]> = frames.first().map(Vec::as_slice).into_iter().collect();
    for (i, d) in data.enumerate() {
        if i > 0 {
            out.extend(frames.get(i).map(Vec::as_slice));
        }
        out.push(d);
    }
    out
}

/// Writes named tensors as one body.
pub fn encode<'a>(
    tensors: impl Iterator<Item = (&'a str, &'a Tensor)> + Clone,
) -> Result<Vec<u8>, WireError> {
    let frames = framing(tensors.clone())?;
    Ok(parts(&frames, tensors.map(|(_, t)| t.data.as_slice())).concat())
}

/// Writes [`NamedTensor`]s as one body.
pub fn encode_named(tensors: &[NamedTensor]) -> Result<Vec<u8>, WireError> {
    encode(tensors.iter().map(|t| (t.name.as_str(), &t.tensor)))
}

/// The body as chunks to send in order: each framing, then each tensor's data moved in, not
/// copied.
pub fn encode_chunks(tensors: Vec<NamedTensor>) -> Result<Vec<Vec<u8>>, WireError> {
    let frames = framing(tensors.iter().map(|t| (t.name.as_str(), &t.tensor)))?;
    let mut out = Vec::with_capacity(frames.len() + tensors.len());
    let mut frames = frames.into_iter();
    for t in tensors {
        out.extend(frames.next());
        out.push(t.tensor.data);
    }
    out.extend(frames);
    Ok(out)
}

/// A cursor over a body that reports which field ran out.
struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], WireError> {
        if self.bytes.len() < n {
            return Err(WireError::Truncated(field));
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(head)
    }

    fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], WireError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N, field)?);
        Ok(a)
    }
}

/// A tensor whose framing has been read and whose data is arriving.
struct Arriving {
    name: String,
    ty: TensorType,
    dimensions: Vec<u32>,
    data: Vec<u8>,
    len: usize,
}

/// Reads a body as it arrives, chunk by chunk, writing each tensor's data straight into its
/// own buffer (one copy from the network, none after). Every length is checked against the
/// bytes the body may still hold before anything is reserved.
pub struct Decoder {
    /// Bytes the body may still hold.
    allowance: usize,
    /// Framing bytes not yet parsed.
    pending: Vec<u8>,
    /// Tensors still to come, once the body's header is read.
    remaining: Option<u32>,
    arriving: Option<Arriving>,
    done: Vec<NamedTensor>,
}

impl Decoder {
    /// A decoder for a body of at most `limit` bytes.
    pub fn new(limit: usize) -> Self {
        Self {
            allowance: limit,
            pending: Vec::new(),
            remaining: None,
            arriving: None,
            done: Vec::new(),
        }
    }

    /// Takes the next chunk of the body.
    pub fn feed(&mut self, mut chunk: &[u8]) -> Result<(), WireError> {
        loop {
            if let Some(a) = &mut self.arriving {
                let take = (a.len - a.data.len()).min(chunk.len());
                a.data.extend_from_slice(&chunk[..take]);
                chunk = &chunk[take..];
                if a.data.len() == a.len {
                    self.complete()?;
                }
                if chunk.is_empty() {
                    return Ok(());
                }
                continue;
            }
            if self.remaining == Some(0) {
                if chunk.is_empty() {
                    return Ok(());
                }
                return Err(WireError::Invalid(format!(
                    "{} bytes follow the last tensor",
                    chunk.len()
                )));
            }
            if chunk.is_empty() {
                return Ok(());
            }
            if self.pending.is_empty() {
                // The usual case: the framing is read where it lies in the chunk.
                match self.parse_framing(chunk) {
                    Ok(used) => chunk = &chunk[used..],
                    Err(WireError::Truncated(_)) => {
                        self.pending.extend_from_slice(chunk);
                        return Ok(());
                    }
                    Err(e) => return Err(e),
                }
                continue;
            }
            // A framing split across chunks: join at most one framing's worth.
            let mut joined = std::mem::take(&mut self.pending);
            let before = joined.len();
            let add = chunk.len().min(MAX_FRAMING.saturating_sub(before).max(1));
            joined.extend_from_slice(&chunk[..add]);
            match self.parse_framing(&joined) {
                Ok(used) => chunk = &chunk[used.saturating_sub(before)..],
                Err(WireError::Truncated(_)) if add == chunk.len() => {
                    self.pending = joined;
                    return Ok(());
                }
                Err(WireError::Truncated(_)) => {
                    return Err(WireError::Invalid("a tensor's framing is too long".into()));
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Parses the body's header or the next tensor's framing at the start of `bytes`; the
    /// bytes used.
    fn parse_framing(&mut self, bytes: &[u8]) -> Result<usize, WireError> {
        let mut r = Reader { bytes };
        let Some(remaining) = self.remaining else {
            let magic = r.take(4, "the magic")?;
            if magic != MAGIC.as_slice() || r.array::<1>("the version")?[0] != VERSION {
                return Err(WireError::NotTensors);
            }
            let count = u32::from_le_bytes(r.array("the tensor count")?);
            if count > MAX_TENSORS {
                return Err(WireError::Invalid(format!(
                    "{count} tensors in one body; at most {MAX_TENSORS}"
                )));
            }
            self.remaining = Some(count);
            return self.used(9);
        };
        debug_assert!(remaining > 0);
        let name_len = u16::from_le_bytes(r.array("a tensor name's length")?) as usize;
        let name = std::str::from_utf8(r.take(name_len, "a tensor name")?)
            .map_err(|_| WireError::Invalid("a tensor name is not UTF-8".into()))?
            .to_string();
        let [code] = r.array::<1>("a tensor type")?;
        let ty = type_of(code).ok_or_else(|| {
            WireError::Invalid(format!("tensor `{name}` has an unknown type code {code}"))
        })?;
        let [rank] = r.array::<1>("a tensor rank")?;
        if rank > MAX_RANK {
            return Err(WireError::Invalid(format!(
                "tensor `{name}` has {rank} dimensions; at most {MAX_RANK}"
            )));
        }
        let mut dimensions = Vec::with_capacity(rank as usize);
        for _ in 0..rank {
            dimensions.push(u32::from_le_bytes(r.array("a tensor dimension")?));
        }
        let len = u64::from_le_bytes(r.array("a tensor's data length")?);
        let used = bytes.len() - r.bytes.len();
        self.used(used)?;
        let len = usize::try_from(len)
            .ok()
            .filter(|&l| l <= self.allowance)
            .ok_or_else(|| {
                WireError::Invalid(format!(
                    "tensor `{name}` declares {len} bytes, more than the body holds"
                ))
            })?;
        self.allowance -= len;
        self.arriving = Some(Arriving {
            name,
            ty,
            dimensions,
            data: Vec::with_capacity(len),
            len,
        });
        if len == 0 {
            self.complete()?;
        }
        Ok(used)
    }

    /// Counts `n` framing bytes against the body's allowance.
    fn used(&mut self, n: usize) -> Result<usize, WireError> {
        self.allowance = self
            .allowance
            .checked_sub(n)
            .ok_or_else(|| WireError::Invalid("the body is larger than its limit".into()))?;
        Ok(n)
    }

    fn complete(&mut self) -> Result<(), WireError> {
        let Some(a) = self.arriving.take() else {
            return Ok(());
        };
        let tensor = Tensor::new(a.dimensions, a.ty, a.data)
            .map_err(|e| WireError::Invalid(format!("tensor `{}`: {e}", a.name)))?;
        self.done.push(NamedTensor::new(a.name, tensor));
        self.remaining = self.remaining.map(|n| n.saturating_sub(1));
        Ok(())
    }

    /// The tensors, once the body has ended.
    pub fn finish(self) -> Result<Vec<NamedTensor>, WireError> {
        match (self.remaining, &self.arriving) {
            (_, Some(_)) => Err(WireError::Truncated("a tensor's data")),
            (None, None) if self.pending.len() < 4 => Err(WireError::Truncated("the magic")),
            (None, None) => Err(WireError::Truncated("the tensor count")),
            (Some(0), None) => Ok(self.done),
            (Some(_), None) => Err(WireError::Truncated("a tensor's framing")),
        }
    }
}

/// Reads a whole body back into named tensors, checking every length against the bytes
/// present and every tensor's data against its shape.
pub fn decode(body: &[u8]) -> Result<Vec<NamedTensor>, WireError> {
    let mut d = Decoder::new(body.len());
    d.feed(body)?;
    d.finish()
}

/// A failure as the service sends it: `{"error": {"kind": "busy", "message": "…"}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailureBody {
    /// The failure.
    pub error: Failure,
}

/// One failure: its kind (`invalid-input`, `too-large`, `unavailable`, `busy`, `timeout`,
/// `runtime`) and the explanation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    /// The kind's name ([`ErrorKind::name`]).
    pub kind: String,
    /// What went wrong.
    pub message: String,
}

impl FailureBody {
    /// A failure of `kind`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            error: Failure {
                kind: kind.name().to_string(),
                message: message.into(),
            },
        }
    }

    /// The kind, or [`ErrorKind::Runtime`] for a name this side does not know.
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::from_name(&self.error.kind).unwrap_or(ErrorKind::Runtime)
    }
}

/// The HTTP status the service answers a kind with.
pub fn status_of(kind: ErrorKind) -> u16 {
    match kind {
        ErrorKind::InvalidInput => 422,
        ErrorKind::TooLarge => 413,
        ErrorKind::Unavailable => 404,
        ErrorKind::Busy => 503,
        ErrorKind::Timeout => 504,
        ErrorKind::Runtime => 500,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<NamedTensor> {
        vec![
            NamedTensor::new("audio", Tensor::from_f32(vec![2, 3], &[0.5; 6]).unwrap()),
            NamedTensor::new("options", Tensor::bytes(br#"{"language":"en"}"#.to_vec())),
            NamedTensor::new(
                "ids",
                Tensor::new(vec![0], TensorType::I64, vec![]).unwrap(),
            ),
        ]
    }

    #[test]
    fn tensors_come_back_as_they_went() {
        let body = encode_named(&sample()).unwrap();
        assert_eq!(decode(&body).unwrap(), sample());
        assert_eq!(decode(&encode_named(&[]).unwrap()).unwrap(), vec![]);
    }

    #[test]
    fn a_body_fed_in_any_pieces_reads_as_a_whole_and_chunks_join_to_the_body() {
        let body = encode_named(&sample()).unwrap();
        for size in [1, 2, 3, 7, 16, 40, body.len()] {
            let mut d = Decoder::new(body.len());
            for piece in body.chunks(size) {
                d.feed(piece).unwrap();
            }
            assert_eq!(d.finish().unwrap(), sample(), "pieces of {size}");
        }
        assert_eq!(encode_chunks(sample()).unwrap().concat(), body);
        assert_eq!(
            encode_chunks(vec![]).unwrap().concat(),
            encode_named(&[]).unwrap()
        );
        // A limit smaller than the body is an error, not a truncated read.
        let mut d = Decoder::new(body.len() - 1);
        assert!(d.feed(&body).is_err());
    }

    #[test]
    fn every_cut_of_a_body_is_refused_as_truncated() {
        let body = encode_named(&sample()).unwrap();
        for cut in 5..body.len() {
            // Ending inside a field, or declaring data past the end.
            let refused = match decode(&body[..cut]) {
                Err(WireError::Truncated(_)) => true,
                Err(WireError::Invalid(m)) => m.contains("more than the body holds"),
                _ => false,
            };
            assert!(refused, "cut at {cut}");
        }
    }

    #[test]
    fn bad_bodies_say_what_is_wrong() {
        assert_eq!(decode(b"{\"a\":1}"), Err(WireError::NotTensors));
        let mut body = encode_named(&sample()).unwrap();
        body.push(0);
        assert!(
            matches!(decode(&body), Err(WireError::Invalid(m)) if m.contains("1 bytes follow"))
        );
        // A data length that disagrees with the shape.
        let t = Tensor {
            dimensions: vec![4],
            ty: TensorType::F32,
            data: vec![0; 8],
        };
        let body = encode([("x", &t)].into_iter()).unwrap();
        assert!(matches!(decode(&body), Err(WireError::Invalid(m)) if m.contains("tensor `x`")));
        // A huge declared length is refused before anything is reserved.
        let mut body = encode_named(&sample()[1..2]).unwrap();
        let at = body.len() - 17 - 8;
        body[at..at + 8].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(
            matches!(decode(&body), Err(WireError::Invalid(m)) if m.contains("more than the body holds"))
        );
    }

    #[test]
    fn failures_keep_their_kind() {
        for kind in ErrorKind::ALL {
            let body = serde_json::to_string(&FailureBody::new(kind, "no")).unwrap();
            let back: FailureBody = serde_json::from_str(&body).unwrap();
            assert_eq!(back.kind(), kind);
        }
        assert_eq!(status_of(ErrorKind::Busy), 503);
    }
}
