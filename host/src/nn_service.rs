//! `songforge serve-nn`: the host's inference engines behind HTTP, for app hosts on other
//! machines (or on stock Spin, through the wasi-nn-over-HTTP component).
//!
//! It serves the same [`GraphRegistry`] `songforge up` builds from `runtime-config.toml`, with
//! the same per-device queues, so a full queue is `503` + `Retry-After` here too. Tensors
//! travel in the binary body of [`songforge_inference::contract::service`]; failures as
//! `{"error": {"kind", "message"}}` with the kind's status. A bearer token guards every route
//! but health; without one the service listens only on loopback.

use crate::wasi_nn::{GraphFailure, GraphRegistry};
use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Either, Full};
use hyper::body::{Frame, Incoming, SizeHint};
use sha2::{Digest, Sha256};
use songforge_inference::contract::error::ErrorKind;
use songforge_inference::contract::service::{
    self, COMPUTE_SUFFIX, CONTENT_TYPE, FailureBody, GRAPHS_PATH, HEALTH_PATH,
};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Seconds a busy client is told to wait.
const RETRY_AFTER_SECS: &str = "2";
/// How long a request head may take to arrive, and a kept-alive connection may sit idle.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// How long shutdown waits for in-flight inferences.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// How the service runs.
pub struct NnServiceConfig {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// The bearer token clients must send; `None` serves anyone (loopback only, unless
    /// `allow_anonymous`).
    pub token: Option<String>,
    /// Serve without a token on an address other than loopback.
    pub allow_anonymous: bool,
    /// Largest request body (413 above).
    pub max_body_bytes: u64,
    /// Longest one inference may take, queue wait included (504 after).
    pub request_timeout: Duration,
}

/// Why the service did not start.
#[derive(Debug, thiserror::Error)]
pub enum NnServiceError {
    /// No token on a non-loopback address.
    #[error(
        "serve-nn on {0} without a token would let anyone who can reach it run the models; \
         set SONGFORGE_NN_TOKEN, listen on 127.0.0.1, or pass --allow-anonymous"
    )]
    Anonymous(SocketAddr),
    /// The socket could not be bound.
    #[error("cannot listen on {0}: {1}")]
    Bind(SocketAddr, std::io::Error),
}

/// A running service.
pub struct RunningNnService {
    /// The bound address.
    pub addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl RunningNnService {
    /// Stops accepting, lets in-flight inferences finish (up to 30 s), then returns.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        let _ = self.task.await;
    }
}

struct Service {
    registry: Arc<GraphRegistry>,
    /// SHA-256 of the token: compared digest to digest, so the time taken says nothing
    /// about how much of a guess was right.
    token_digest: Option<[u8; 32]>,
    max_body_bytes: u64,
    request_timeout: Duration,
}

/// Binds and serves `registry` until [`RunningNnService::shutdown`].
pub async fn start(
    config: NnServiceConfig,
    registry: Arc<GraphRegistry>,
) -> Result<RunningNnService, NnServiceError> {
    let token = config.token.filter(|t| !t.is_empty());
    if token.is_none() && !config.listen.ip().is_loopback() && !config.allow_anonymous {
        return Err(NnServiceError::Anonymous(config.listen));
    }
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|e| NnServiceError::Bind(config.listen, e))?;
    let addr = listener
        .local_addr()
        .map_err(|e| NnServiceError::Bind(config.listen, e))?;
    let service = Arc::new(Service {
        registry,
        token_digest: token.map(|t| Sha256::digest(t.as_bytes()).into()),
        max_body_bytes: config.max_body_bytes,
        request_timeout: config.request_timeout,
    });
    let (shutdown, stop) = watch::channel(false);
    let task = tokio::spawn(accept_loop(listener, service, stop));
    Ok(RunningNnService {
        addr,
        shutdown,
        task,
    })
}

async fn accept_loop(
    listener: TcpListener,
    service: Arc<Service>,
    mut stop: watch::Receiver<bool>,
) {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut builder =
        hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
    // A client that opens a connection and sends no request head is closed, not kept.
    builder
        .http1()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, remote) = match accepted {
                    Ok(v) => v,
                    Err(e) => {
                        tracing::warn!("serve-nn: accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let service = service.clone();
                let conn_builder = builder.clone();
                let watcher = graceful.watcher();
                tokio::spawn(async move {
                    let handler = hyper::service::service_fn(move |req| {
                        let service = service.clone();
                        async move { Ok::<_, std::convert::Infallible>(service.handle(req, remote).await) }
                    });
                    let conn = conn_builder.serve_connection(hyper_util::rt::TokioIo::new(stream), handler);
                    if let Err(e) = watcher.watch(conn.into_owned()).await {
                        tracing::debug!("serve-nn: connection error: {e}");
                    }
                });
            }
            _ = stop.changed() => break,
        }
    }
    drop(listener);
    if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("serve-nn: inferences still running after 30 s; closing them");
    }
}

type Reply = Response<Either<Full<Bytes>, Chunks>>;

/// A body sent as the chunks it already is: a tensor's data goes out without being copied
/// into one buffer first.
pub struct Chunks(pub VecDeque<Bytes>);

impl hyper::body::Body for Chunks {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut TaskContext<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        Poll::Ready(self.0.pop_front().map(|b| Ok(Frame::data(b))))
    }

    fn is_end_stream(&self) -> bool {
        self.0.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.0.iter().map(|b| b.len() as u64).sum())
    }
}

fn failure(kind: ErrorKind, message: impl Into<String>) -> Reply {
    let status =
        StatusCode::from_u16(service::status_of(kind)).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = serde_json::to_value(FailureBody::new(kind, message)).unwrap_or_default();
    let mut res = json(status, &body);
    if kind == ErrorKind::Busy {
        res.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from_static(RETRY_AFTER_SECS),
        );
    }
    res
}

/// A refusal that is not a graph's failure (a token, a route, a method), with its status.
fn refusal(status: StatusCode, message: &str) -> Reply {
    let mut res = failure(ErrorKind::InvalidInput, message);
    *res.status_mut() = status;
    res
}

fn json(status: StatusCode, value: &serde_json::Value) -> Reply {
    let mut res = Response::new(Either::Left(Full::new(Bytes::from(value.to_string()))));
    *res.status_mut() = status;
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    res
}

impl Service {
    async fn handle(&self, req: Request<Incoming>, remote: SocketAddr) -> Reply {
        let started = Instant::now();
        let (method, path) = (req.method().clone(), req.uri().path().to_string());
        let res = self.route(req, remote).await;
        tracing::info!(
            %method,
            %path,
            status = res.status().as_u16(),
            ms = started.elapsed().as_secs_f64() * 1e3,
            "serve-nn"
        );
        res
    }

    async fn route(&self, req: Request<Incoming>, remote: SocketAddr) -> Reply {
        let path = req.uri().path().to_string();
        if path == HEALTH_PATH {
            return match *req.method() {
                Method::GET | Method::HEAD => self.health(),
                _ => refusal(StatusCode::METHOD_NOT_ALLOWED, "health takes GET"),
            };
        }
        let Some(rest) = path.strip_prefix(GRAPHS_PATH) else {
            return refusal(StatusCode::NOT_FOUND, &format!("no route {path}"));
        };
        if !self.authorized(&req) {
            tracing::warn!(%remote, %path, "serve-nn: 401, missing or wrong bearer token");
            let mut res = refusal(
                StatusCode::UNAUTHORIZED,
                "missing or wrong bearer token (Authorization: Bearer <SONGFORGE_NN_TOKEN>)",
            );
            res.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            return res;
        }
        match rest.strip_suffix(COMPUTE_SUFFIX) {
            Some(graph) if !graph.is_empty() && !graph.contains('/') => {
                if req.method() != Method::POST {
                    return refusal(StatusCode::METHOD_NOT_ALLOWED, "compute takes POST");
                }
                let graph = graph.to_string();
                self.compute(&graph, req).await
            }
            None if !rest.is_empty() && !rest.contains('/') => match *req.method() {
                Method::GET | Method::HEAD => self.describe(rest),
                _ => refusal(StatusCode::METHOD_NOT_ALLOWED, "a graph's report takes GET"),
            },
            _ => refusal(StatusCode::NOT_FOUND, &format!("no route {path}")),
        }
    }

    fn authorized(&self, req: &Request<Incoming>) -> bool {
        let Some(expected) = &self.token_digest else {
            return true;
        };
        let given = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(|t| Sha256::digest(t.trim().as_bytes()));
        given.is_some_and(|g| g.as_slice() == expected.as_slice())
    }

    fn health(&self) -> Reply {
        let graphs = self.registry.status();
        let all = graphs.iter().all(|g| g.available);
        json(
            StatusCode::OK,
            &serde_json::json!({
                "status": if all { "ok" } else { "degraded" },
                "version": env!("CARGO_PKG_VERSION"),
                "device": crate::engines::device_summary(),
                "graphs": graphs,
            }),
        )
    }

    fn describe(&self, graph: &str) -> Reply {
        match self.registry.lookup(graph) {
            Ok(_) => {
                let status = self.registry.status().into_iter().find(|g| g.name == graph);
                json(StatusCode::OK, &serde_json::json!(status))
            }
            Err(f) => failure(f.kind, f.message),
        }
    }

    async fn compute(&self, name: &str, req: Request<Incoming>) -> Reply {
        let graph = match self.registry.lookup(name) {
            Ok(g) => g,
            Err(f) => return failure(f.kind, f.message),
        };
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > self.max_body_bytes) {
            return self.too_large();
        }
        let limit = usize::try_from(self.max_body_bytes).unwrap_or(usize::MAX);
        // Each tensor's data goes from the socket's chunks straight into its own buffer.
        let mut decoder = service::Decoder::new(limit);
        let mut body = req.into_body();
        let mut read = 0usize;
        while let Some(frame) = body.frame().await {
            let frame = match frame {
                Ok(f) => f,
                Err(e) => {
                    return refusal(
                        StatusCode::BAD_REQUEST,
                        &format!("the request body could not be read: {e}"),
                    );
                }
            };
            let Ok(chunk) = frame.into_data() else {
                continue;
            };
            read += chunk.len();
            if read > limit {
                return self.too_large();
            }
            if let Err(e) = decoder.feed(&chunk) {
                return failure(ErrorKind::InvalidInput, format!("graph `{name}`: {e}"));
            }
        }
        let inputs = match decoder.finish() {
            Ok(t) => t,
            Err(e) => return failure(ErrorKind::InvalidInput, format!("graph `{name}`: {e}")),
        };
        let ran = tokio::time::timeout(self.request_timeout, graph.run(name, inputs)).await;
        let outputs = match ran {
            Ok(Ok(outputs)) => outputs,
            Ok(Err(GraphFailure { kind, message })) => return failure(kind, message),
            Err(_) => {
                return failure(
                    ErrorKind::Timeout,
                    format!(
                        "graph `{name}` took longer than {} s",
                        self.request_timeout.as_secs_f64()
                    ),
                );
            }
        };
        match service::encode_chunks(outputs) {
            Ok(chunks) => {
                let chunks: VecDeque<Bytes> = chunks.into_iter().map(Bytes::from).collect();
                let mut res = Response::new(Either::Right(Chunks(chunks)));
                res.headers_mut()
                    .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
                res
            }
            Err(e) => failure(
                ErrorKind::Runtime,
                format!("graph `{name}`: its outputs cannot be sent: {e}"),
            ),
        }
    }

    fn too_large(&self) -> Reply {
        failure(
            ErrorKind::TooLarge,
            format!(
                "the tensors are larger than this service takes ({} MiB, --max-body-mib)",
                self.max_body_bytes >> 20
            ),
        )
    }
}
