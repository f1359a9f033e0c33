//! wasi-nn over HTTP: this component **exports** `wasi:nn@0.2.0-rc-2024-10-28` and runs every
//! graph on an inference service (`songforge serve-nn`) with outgoing HTTP.
//!
//! Composed into a component that imports wasi-nn (a Spin component dependency), it lets that
//! component run on a host with no wasi-nn of its own (stock Spin), and lets many app hosts
//! share one GPU. Where the service lives comes from Spin variables the parent component
//! declares: `nn_url` (e.g. `http://127.0.0.1:3100`), `nn_token` (its bearer token, may be
//! blank) and, optionally, `nn_timeout_seconds` (default 600).
//!
//! Failures keep their kind across the trip: the service's `busy` comes back as wasi-nn's
//! busy signal (the caller's 503 with `Retry-After`), bad input as `invalid-argument` (422),
//! and a service that cannot be reached, or refuses the token, as `not-found` naming the URL
//! (503), after at most the connect timeout, never a hang.

#[allow(missing_docs, clippy::all)]
mod bindings {
    wit_bindgen::generate!({
        path: [
            "../../wit/wasi-nn",
            "../../wit/spin/fermyon-spin-variables@2.0.0",
            "../../wit/wasi-nn-http",
        ],
        world: "songforge:wasi-nn-http/wasi-nn-http",
        generate_all,
    });
}

use bindings::exports::wasi::nn::{errors, graph, inference, tensor};
use bindings::fermyon::spin::variables;
use songforge_inference::contract::error::ErrorKind;
use songforge_inference::contract::service::{self as wire, CONTENT_TYPE, FailureBody};
use songforge_inference::{NamedTensor, Tensor, TensorType};
use wasip2::http::outgoing_handler;
use wasip2::http::types::{
    ErrorCode as HttpError, Fields, IncomingBody, Method, OutgoingBody, OutgoingRequest,
    RequestOptions, Scheme,
};
use wasip2::io::streams::{InputStream, OutputStream, StreamError};

/// How long connecting to the service may take before the graph counts as unreachable.
const CONNECT_TIMEOUT_NS: u64 = 2_000_000_000;
/// The default for `nn_timeout_seconds`: the longest one inference may take.
const DEFAULT_TIMEOUT_SECS: u64 = 600;
/// Bytes read from the response per call.
const READ_CHUNK: u64 = 1 << 20;

struct Component;

bindings::export!(Component with_types_in bindings);

/// A tensor held in this component until it is sent.
pub struct HeldTensor(Tensor);

/// A wasi-nn error: its code and message.
pub struct Failure {
    code: errors::ErrorCode,
    message: String,
}

impl Failure {
    /// A failure of `kind`, coded and worded as the importing side reads it back.
    fn of_kind(kind: ErrorKind, message: impl AsRef<str>) -> Self {
        let code = match kind {
            ErrorKind::InvalidInput => errors::ErrorCode::InvalidArgument,
            ErrorKind::TooLarge => errors::ErrorCode::TooLarge,
            ErrorKind::Unavailable => errors::ErrorCode::NotFound,
            ErrorKind::Busy | ErrorKind::Runtime => errors::ErrorCode::RuntimeError,
            ErrorKind::Timeout => errors::ErrorCode::Timeout,
        };
        Self {
            code,
            message: kind.wire_message(message.as_ref()),
        }
    }

    fn into_error(self) -> errors::Error {
        errors::Error::new(self)
    }
}

/// Where the inference service is and how to reach it.
#[derive(Clone)]
struct Service {
    /// `http` or `https`.
    scheme: Scheme,
    /// `host:port`.
    authority: String,
    /// Any path the URL has, without a trailing `/`.
    prefix: String,
    /// The URL as configured, for messages.
    url: String,
    token: String,
    timeout_ns: u64,
}

fn variable(name: &str) -> Result<String, Failure> {
    variables::get(name).map_err(|e| {
        let why = match e {
            variables::Error::InvalidName(m)
            | variables::Error::Undefined(m)
            | variables::Error::Provider(m)
            | variables::Error::Other(m) => m,
        };
        Failure::of_kind(
            ErrorKind::Unavailable,
            format!(
                "wasi-nn over HTTP needs the `{name}` variable (declare `{name} = \"{{{{ {name} }}}}\"` \
                 in the component's [variables]): {why}"
            ),
        )
    })
}

impl Service {
    /// Reads the service's URL, token and timeout from the component's variables.
    fn from_variables() -> Result<Self, Failure> {
        let url = variable("nn_url")?.trim().trim_end_matches('/').to_string();
        let token = variable("nn_token")?.trim().to_string();
        let timeout_secs = match variables::get("nn_timeout_seconds") {
            Ok(v) if !v.trim().is_empty() => v.trim().parse::<u64>().map_err(|_| {
                Failure::of_kind(
                    ErrorKind::Unavailable,
                    format!("`nn_timeout_seconds` must be a whole number of seconds, not `{v}`"),
                )
            })?,
            _ => DEFAULT_TIMEOUT_SECS,
        };
        let bad = || {
            Failure::of_kind(
                ErrorKind::Unavailable,
                format!(
                    "`nn_url` must be an http:// or https:// URL of `songforge serve-nn`, not `{url}`"
                ),
            )
        };
        let (scheme, rest) = match url.split_once("://") {
            Some(("http", rest)) => (Scheme::Http, rest),
            Some(("https", rest)) => (Scheme::Https, rest),
            _ => return Err(bad()),
        };
        let (authority, prefix) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        if authority.is_empty() {
            return Err(bad());
        }
        Ok(Self {
            scheme,
            authority: authority.to_string(),
            prefix: prefix.to_string(),
            url: url.clone(),
            token,
            timeout_ns: timeout_secs.saturating_mul(1_000_000_000),
        })
    }

    /// Sends one request and reads the whole response: its status and body.
    fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&[&[u8]]>,
        graph: &str,
    ) -> Result<(u16, Answer), Failure> {
        let unreachable = |why: String| {
            Failure::of_kind(
                ErrorKind::Unavailable,
                format!(
                    "graph `{graph}`: cannot reach the inference service at {}: {why}",
                    self.url
                ),
            )
        };
        let mut headers: Vec<(String, Vec<u8>)> = Vec::new();
        if !self.token.is_empty() {
            headers.push((
                "authorization".into(),
                format!("Bearer {}", self.token).into_bytes(),
            ));
        }
        if let Some(parts) = body {
            let len: usize = parts.iter().map(|p| p.len()).sum();
            headers.push(("content-type".into(), CONTENT_TYPE.as_bytes().to_vec()));
            headers.push(("content-length".into(), len.to_string().into_bytes()));
        }
        let fields =
            Fields::from_list(&headers).map_err(|e| unreachable(format!("bad header: {e:?}")))?;
        let request = OutgoingRequest::new(fields);
        let path = format!("{}{path}", self.prefix);
        let set = request.set_method(&method).is_ok()
            && request.set_scheme(Some(&self.scheme)).is_ok()
            && request.set_authority(Some(&self.authority)).is_ok()
            && request.set_path_with_query(Some(&path)).is_ok();
        if !set {
            return Err(unreachable("the URL is not a valid request target".into()));
        }
        let outgoing = request
            .body()
            .map_err(|_| unreachable("no request body".into()))?;
        let options = RequestOptions::new();
        // Hosts that do not support a timeout say so; the other timeouts still apply.
        let _ = options.set_connect_timeout(Some(CONNECT_TIMEOUT_NS));
        let _ = options.set_first_byte_timeout(Some(self.timeout_ns));
        let _ = options.set_between_bytes_timeout(Some(self.timeout_ns));
        let pending = outgoing_handler::handle(request, Some(options))
            .map_err(|e| self.http_failure(graph, e))?;
        // A service that answers before reading everything (a 413) closes the stream; its
        // answer is read below.
        if let (Some(parts), Ok(stream)) = (body, outgoing.write()) {
            let _ = parts.iter().try_for_each(|p| write_all(&stream, p));
            let _ = flush(&stream);
        }
        let _ = OutgoingBody::finish(outgoing, None);
        pending.subscribe().block();
        let response = match pending.get() {
            Some(Ok(Ok(r))) => r,
            Some(Ok(Err(e))) => return Err(self.http_failure(graph, e)),
            _ => return Err(unreachable("the response never arrived".into())),
        };
        let status = response.status();
        let incoming = response
            .consume()
            .map_err(|_| unreachable("the response has no body".into()))?;
        let stream = incoming
            .stream()
            .map_err(|_| unreachable("the response body cannot be read".into()))?;
        let tensors = status == 200
            && response
                .headers()
                .get("content-type")
                .iter()
                .any(|v| v.as_slice() == CONTENT_TYPE.as_bytes());
        let answer = read_answer(&stream, tensors).map_err(|e| {
            Failure::of_kind(
                ErrorKind::Runtime,
                format!(
                    "graph `{graph}`: the inference service at {} broke off its answer: {e}",
                    self.url
                ),
            )
        })?;
        drop(stream);
        drop(IncomingBody::finish(incoming));
        Ok((status, answer))
    }

    /// What a failed exchange means for the caller.
    fn http_failure(&self, graph: &str, e: HttpError) -> Failure {
        match e {
            HttpError::HttpRequestDenied => Failure::of_kind(
                ErrorKind::Unavailable,
                format!(
                    "graph `{graph}`: this component may not call the inference service at {}; \
                     add it to `allowed_outbound_hosts`",
                    self.url
                ),
            ),
            HttpError::HttpResponseTimeout => Failure::of_kind(
                ErrorKind::Timeout,
                format!(
                    "graph `{graph}`: the inference service at {} did not answer within {} s",
                    self.url,
                    self.timeout_ns / 1_000_000_000
                ),
            ),
            other => Failure::of_kind(
                ErrorKind::Unavailable,
                format!(
                    "graph `{graph}`: cannot reach the inference service at {}: {other:?}",
                    self.url
                ),
            ),
        }
    }

    /// A non-200 answer as a failure of its kind.
    fn refused(&self, graph: &str, status: u16, answer: &Answer) -> Failure {
        let body = match answer {
            Answer::Bytes(b) => b.as_slice(),
            Answer::Tensors(_) => &[],
        };
        if status == 401 {
            return Failure::of_kind(
                ErrorKind::Unavailable,
                format!(
                    "graph `{graph}`: the inference service at {} refused the token (401); set \
                     the `nn_token` variable (SPIN_VARIABLE_NN_TOKEN) to its SONGFORGE_NN_TOKEN",
                    self.url
                ),
            );
        }
        match serde_json::from_slice::<FailureBody>(body) {
            Ok(f) => Failure::of_kind(f.kind(), f.error.message),
            Err(_) => Failure::of_kind(
                ErrorKind::Runtime,
                format!(
                    "graph `{graph}`: the inference service at {} answered {status}: {}",
                    self.url,
                    String::from_utf8_lossy(&body[..body.len().min(200)])
                ),
            ),
        }
    }
}

/// A response body: tensors, read as they arrived, or anything else as bytes (a failure).
enum Answer {
    Tensors(Result<Vec<NamedTensor>, wire::WireError>),
    Bytes(Vec<u8>),
}

fn write_all(stream: &OutputStream, mut bytes: &[u8]) -> Result<(), StreamError> {
    while !bytes.is_empty() {
        let room = stream.check_write()?;
        if room == 0 {
            stream.subscribe().block();
            continue;
        }
        let n = bytes.len().min(usize::try_from(room).unwrap_or(usize::MAX));
        stream.write(&bytes[..n])?;
        bytes = &bytes[n..];
    }
    Ok(())
}

fn flush(stream: &OutputStream) -> Result<(), StreamError> {
    stream.flush()?;
    stream.subscribe().block();
    stream.check_write().map(drop)
}

/// Reads the response: tensors go chunk by chunk into their own buffers.
fn read_answer(stream: &InputStream, tensors: bool) -> Result<Answer, String> {
    let mut decoder = tensors.then(|| wire::Decoder::new(usize::MAX));
    let mut bytes = Vec::new();
    let mut bad = None;
    loop {
        match stream.blocking_read(READ_CHUNK) {
            Ok(chunk) => match &mut decoder {
                Some(d) if bad.is_none() => bad = d.feed(&chunk).err(),
                Some(_) => {}
                None => bytes.extend_from_slice(&chunk),
            },
            Err(StreamError::Closed) => break,
            Err(StreamError::LastOperationFailed(e)) => return Err(e.to_debug_string()),
        }
    }
    Ok(match decoder {
        Some(d) => Answer::Tensors(match bad {
            Some(e) => Err(e),
            None => d.finish(),
        }),
        None => Answer::Bytes(bytes),
    })
}

/// A graph name as a path segment: the names the runtime config allows, nothing to escape.
fn checked_name(name: &str) -> Result<&str, Failure> {
    let ok = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(name)
    } else {
        Err(Failure::of_kind(
            ErrorKind::Unavailable,
            format!("no graph named `{name}` (names are letters, digits, `-`, `_` and `.`)"),
        ))
    }
}

impl tensor::Guest for Component {
    type Tensor = HeldTensor;
}

fn to_type(ty: tensor::TensorType) -> TensorType {
    match ty {
        tensor::TensorType::Fp16 => TensorType::F16,
        tensor::TensorType::Fp32 => TensorType::F32,
        tensor::TensorType::Fp64 => TensorType::F64,
        tensor::TensorType::Bf16 => TensorType::Bf16,
        tensor::TensorType::U8 => TensorType::U8,
        tensor::TensorType::I32 => TensorType::I32,
        tensor::TensorType::I64 => TensorType::I64,
    }
}

fn to_wit_type(ty: TensorType) -> tensor::TensorType {
    match ty {
        TensorType::F16 => tensor::TensorType::Fp16,
        TensorType::F32 => tensor::TensorType::Fp32,
        TensorType::F64 => tensor::TensorType::Fp64,
        TensorType::Bf16 => tensor::TensorType::Bf16,
        TensorType::U8 => tensor::TensorType::U8,
        TensorType::I32 => tensor::TensorType::I32,
        TensorType::I64 => tensor::TensorType::I64,
    }
}

impl tensor::GuestTensor for HeldTensor {
    fn new(dimensions: Vec<u32>, ty: tensor::TensorType, data: Vec<u8>) -> Self {
        // Checked against its shape when sent, where a mismatch is an error, not a trap.
        Self(Tensor {
            dimensions,
            ty: to_type(ty),
            data,
        })
    }

    fn dimensions(&self) -> Vec<u32> {
        self.0.dimensions.clone()
    }

    fn ty(&self) -> tensor::TensorType {
        to_wit_type(self.0.ty)
    }

    fn data(&self) -> Vec<u8> {
        self.0.data.clone()
    }
}

impl errors::Guest for Component {
    type Error = Failure;
}

impl errors::GuestError for Failure {
    fn code(&self) -> errors::ErrorCode {
        self.code
    }

    fn data(&self) -> String {
        self.message.clone()
    }
}

/// A graph the service has: its name and where the service is.
pub struct RemoteGraph {
    name: String,
    service: Service,
}

impl graph::Guest for Component {
    type Graph = RemoteGraph;

    fn load(
        _builder: Vec<graph::GraphBuilder>,
        _encoding: graph::GraphEncoding,
        _target: graph::ExecutionTarget,
    ) -> Result<graph::Graph, errors::Error> {
        Err(Failure {
            code: errors::ErrorCode::UnsupportedOperation,
            message: "the inference service serves installed models by name: use load-by-name"
                .into(),
        }
        .into_error())
    }

    fn load_by_name(name: String) -> Result<graph::Graph, errors::Error> {
        let loaded = (|| {
            let service = Service::from_variables()?;
            let path = wire::graph_path(checked_name(&name)?);
            match service.call(Method::Get, &path, None, &name)? {
                (200, _) => {}
                (status, answer) => return Err(service.refused(&name, status, &answer)),
            }
            Ok(RemoteGraph {
                name: name.clone(),
                service,
            })
        })();
        loaded.map(graph::Graph::new).map_err(Failure::into_error)
    }
}

impl graph::GuestGraph for RemoteGraph {
    fn init_execution_context(&self) -> Result<graph::GraphExecutionContext, errors::Error> {
        Ok(inference::GraphExecutionContext::new(RemoteContext {
            name: self.name.clone(),
            service: self.service.clone(),
        }))
    }
}

/// An execution context: each `compute` is one request to the service.
pub struct RemoteContext {
    name: String,
    service: Service,
}

impl inference::Guest for Component {
    type GraphExecutionContext = RemoteContext;
}

impl inference::GuestGraphExecutionContext for RemoteContext {
    fn compute(
        &self,
        inputs: Vec<inference::NamedTensor>,
    ) -> Result<Vec<inference::NamedTensor>, errors::Error> {
        self.run(inputs).map_err(Failure::into_error)
    }
}

impl RemoteContext {
    fn run(
        &self,
        inputs: Vec<inference::NamedTensor>,
    ) -> Result<Vec<inference::NamedTensor>, Failure> {
        let name = &self.name;
        let held: Vec<(String, Tensor)> = inputs
            .into_iter()
            .map(|(n, t)| (n, t.into_inner::<HeldTensor>().0))
            .collect();
        for (tensor_name, t) in &held {
            if !t.is_consistent() {
                return Err(Failure::of_kind(
                    ErrorKind::InvalidInput,
                    format!(
                        "graph `{name}`: tensor `{tensor_name}` of {:?} {} does not hold {} bytes",
                        t.dimensions,
                        t.ty.name(),
                        t.data.len()
                    ),
                ));
            }
        }
        let frames = wire::framing(held.iter().map(|(n, t)| (n.as_str(), t))).map_err(|e| {
            Failure::of_kind(ErrorKind::InvalidInput, format!("graph `{name}`: {e}"))
        })?;
        // The framing and each tensor's data, sent from where they lie.
        let parts = wire::parts(&frames, held.iter().map(|(_, t)| t.data.as_slice()));
        let (status, answer) =
            self.service
                .call(Method::Post, &wire::compute_path(name), Some(&parts), name)?;
        let outputs = match (status, answer) {
            (200, Answer::Tensors(t)) => t.map_err(|e| {
                Failure::of_kind(
                    ErrorKind::Runtime,
                    format!(
                        "graph `{name}`: the inference service at {} sent an unreadable answer: {e}",
                        self.service.url
                    ),
                )
            })?,
            (status, answer) => return Err(self.service.refused(name, status, &answer)),
        };
        Ok(outputs
            .into_iter()
            .map(|o| (o.name, tensor::Tensor::new(HeldTensor(o.tensor))))
            .collect())
    }
}
