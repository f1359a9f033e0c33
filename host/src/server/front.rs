//! The HTTP front: accepting connections, the access log and CORS, routing, the concurrency
//! gate and reading the body, up to the point a component is called.

use super::App;
use crate::state::HostBody;
use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Body, Incoming};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};

/// How long shutdown waits for open connections to finish.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);
/// Pause after a failed `accept` (out of file descriptors), so the loop does not spin.
const ACCEPT_RETRY: Duration = Duration::from_millis(50);

/// Serves connections until `shutdown` changes, then drains them.
pub(super) async fn accept_loop(
    listener: TcpListener,
    app: Arc<App>,
    mut shutdown: watch::Receiver<bool>,
) {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut builder =
        hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
    // hyper's header timer bounds both a slow request head and an idle kept-alive connection.
    builder
        .http1()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(app.limits.header_read_timeout);
    let open = Arc::new(Semaphore::new(app.limits.max_connections.max(1)));
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, remote) = match accepted {
                    Ok(v) => v,
                    Err(e) => {
                        tracing::warn!("accept failed: {e}");
                        tokio::time::sleep(ACCEPT_RETRY).await;
                        continue;
                    }
                };
                let Ok(slot) = open.clone().try_acquire_owned() else {
                    tracing::warn!(%remote, "closing a new connection: {} are open (--max-connections)", app.limits.max_connections);
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let app = app.clone();
                let builder = builder.clone();
                let watcher = graceful.watcher();
                let first_byte = app.limits.header_read_timeout;
                let mut stopping = shutdown.clone();
                tokio::spawn(async move {
                    let _slot = slot;
                    // hyper-util picks HTTP/1 or 2 from the first bytes with no timer of its
                    // own: a peer that connects and sends nothing is closed here instead
                    // (and at once on shutdown, as hyper closes an idle connection).
                    let mut peek = [0u8; 1];
                    tokio::select! {
                        r = tokio::time::timeout(first_byte, stream.peek(&mut peek)) => match r {
                            Ok(Ok(n)) if n > 0 => {}
                            _ => return,
                        },
                        _ = stopping.changed() => return,
                    }
                    let service = hyper::service::service_fn(move |req| {
                        let app = app.clone();
                        async move { Ok::<_, std::convert::Infallible>(app.handle(req, remote).await) }
                    });
                    let conn = builder.serve_connection_with_upgrades(hyper_util::rt::TokioIo::new(stream), service);
                    if let Err(e) = watcher.watch(conn.into_owned()).await {
                        tracing::debug!("connection error: {e}");
                    }
                });
            }
            _ = shutdown.changed() => break,
        }
    }
    drop(listener);
    if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("some connections were still open after 30 s; closing them");
    }
    // Work after a response (a song job, a sweep) gets the same time to finish.
    if tokio::time::timeout(DRAIN_TIMEOUT, app.instances.all_done())
        .await
        .is_err()
    {
        tracing::warn!("some instances were still working after 30 s; stopping them");
    }
}

/// A host-made JSON error in the same envelope the components use.
pub fn json_error(status: StatusCode, code: &str, message: &str) -> Response<Full<Bytes>> {
    let body = serde_json::json!({
        "success": false,
        "error": {"code": code, "message": message},
    });
    let mut res = Response::new(Full::new(Bytes::from(body.to_string())));
    *res.status_mut() = status;
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    res
}

/// A whole body as the host's body type.
pub(super) fn whole(res: Response<Full<Bytes>>) -> Response<HostBody> {
    res.map(|b| b.map_err(|e| match e {}).boxed_unsync())
}

/// Why a request body was not read.
enum BodyError {
    /// Larger than `max_body_bytes` (declared or as it arrived).
    TooLarge,
    /// The connection failed while it was read.
    Unreadable(String),
    /// It did not arrive within `body_read_timeout`.
    TooSlow,
}

impl App {
    /// One request from the network: dispatch it, add CORS headers, log it.
    async fn handle(&self, req: Request<Incoming>, remote: SocketAddr) -> Response<HostBody> {
        let started = Instant::now();
        let method = req.method().clone();
        let path = req.uri().path().to_string();
        let origin = req.headers().get(header::ORIGIN).cloned();
        let (mut res, component) = self.dispatch(req, remote).await;
        self.cors
            .add_response_headers(origin.as_ref(), res.headers_mut());
        tracing::info!(
            target: "songforge::access",
            "{method} {path} {} {:.1}ms {}",
            res.status().as_u16(),
            started.elapsed().as_secs_f64() * 1000.0,
            component.unwrap_or("-"),
        );
        res
    }

    /// Answers a preflight, routes, waits for a slot, reads the body and calls the component.
    /// Also returns the id of the component that served it, for the access log.
    async fn dispatch(
        &self,
        req: Request<Incoming>,
        remote: SocketAddr,
    ) -> (Response<HostBody>, Option<&str>) {
        if self.cors.is_preflight(req.method(), req.headers()) {
            return (whole(self.cors.preflight(req.headers())), None);
        }
        let path = req.uri().path().to_string();
        let Some(matched) = self.router.route(&path) else {
            return (
                whole(json_error(
                    StatusCode::NOT_FOUND,
                    "not_found",
                    &format!("no route matches {path}"),
                )),
                None,
            );
        };
        let index = self.route_components[matched.index];
        let component = &self.components[index];
        let id = Some(component.id.as_str());
        let work = super::access::is_work(req.method(), req.body().is_end_stream());
        let admitted = match self
            .access
            .admit(self.protected[index], req.headers(), work)
        {
            Ok(a) => a,
            Err(refused) => return (whole(refused.response()), id),
        };

        let Ok(Ok(permit)) =
            tokio::time::timeout(self.limits.queue_timeout, self.slots.acquire()).await
        else {
            return (whole(busy()), id);
        };
        let (parts, body) = req.into_parts();
        let body = match self.read_body(&parts.headers, body).await {
            Ok(body) => body,
            Err(BodyError::TooLarge) => return (whole(self.too_large()), id),
            Err(BodyError::TooSlow) => {
                return (
                    whole(json_error(
                        StatusCode::REQUEST_TIMEOUT,
                        "request_timeout",
                        &format!(
                            "the request body did not arrive within {} s \
                             (--body-read-timeout-secs)",
                            self.limits.body_read_timeout.as_secs_f64()
                        ),
                    )),
                    id,
                );
            }
            Err(BodyError::Unreadable(problem)) => {
                return (
                    whole(json_error(
                        StatusCode::BAD_REQUEST,
                        "bad_request",
                        &format!("could not read the request body: {problem}"),
                    )),
                    id,
                );
            }
        };
        let res = self
            .call_component(
                component,
                parts,
                body,
                &matched,
                &remote.to_string(),
                admitted,
            )
            .await;
        drop(permit);
        (res, id)
    }

    /// Reads the whole body, refusing one over `max_body_bytes` before reading it when its
    /// `Content-Length` says so, and as soon as it grows past it otherwise.
    async fn read_body(
        &self,
        headers: &http::HeaderMap,
        body: Incoming,
    ) -> Result<Bytes, BodyError> {
        let max = self.limits.max_body_bytes;
        let declared = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > max) {
            return Err(BodyError::TooLarge);
        }
        let limit = usize::try_from(max).unwrap_or(usize::MAX);
        let read = Limited::new(body, limit).collect();
        let Ok(read) = tokio::time::timeout(self.limits.body_read_timeout, read).await else {
            return Err(BodyError::TooSlow);
        };
        match read {
            Ok(b) => Ok(b.to_bytes()),
            Err(e)
                if e.downcast_ref::<http_body_util::LengthLimitError>()
                    .is_some() =>
            {
                Err(BodyError::TooLarge)
            }
            Err(e) => Err(BodyError::Unreadable(e.to_string())),
        }
    }

    fn too_large(&self) -> Response<Full<Bytes>> {
        json_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            &format!(
                "the request body is larger than {} bytes",
                self.limits.max_body_bytes
            ),
        )
    }
}

/// 503 with `Retry-After`: every slot stayed taken for the whole queue timeout.
fn busy() -> Response<Full<Bytes>> {
    json_error_retry(
        StatusCode::SERVICE_UNAVAILABLE,
        "service_unavailable",
        "the server is at its concurrent request limit; retry shortly",
        1,
    )
}

/// A host-made JSON error that says when to try again (`Retry-After`, seconds): 429s and 503s.
pub(super) fn json_error_retry(
    status: StatusCode,
    code: &str,
    message: &str,
    retry_after_s: u64,
) -> Response<Full<Bytes>> {
    let mut res = json_error(status, code, message);
    res.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_s));
    res
}
