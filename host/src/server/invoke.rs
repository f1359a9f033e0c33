//! One fresh instance per request: build it, run the guest's handler, stream its response,
//! and let it live on for work after returning. Host failures become JSON errors that name
//! the component.

use super::App;
use super::access::Admitted;
use super::front::{json_error, json_error_retry, whole};
use super::lanes::Lane;
use super::spin_headers::guest_request;
use crate::component::LoadedComponent;
use crate::key_value::KeyValueCtx;
use crate::memory_budget::BudgetExhausted;
use crate::router::RouteMatch;
use crate::state::{HostBody, HostState, LocalServices, MemoryLimit};
use crate::wasi_nn::WasiNnCtx;
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use std::sync::{Arc, Mutex, Weak};
use std::time::Instant;
use tokio::sync::OwnedSemaphorePermit;
use wasmtime::{Store, UpdateDeadline};

/// What a 503 for a full memory budget suggests waiting: about one mix.
const BUDGET_RETRY_AFTER_S: u64 = 2;

/// Marker error for a request that ran out of time inside the guest.
#[derive(Debug, thiserror::Error)]
#[error("the request exceeded its time limit")]
struct RequestTimedOut;

/// An instance asked for more linear memory than its limit and then failed.
#[derive(Debug, thiserror::Error)]
#[error(
    "ran out of memory: it asked for {} MiB, over the {} MiB each instance may use \
     (--max-memory-mib / SONGFORGE_MAX_MEMORY_MIB)",
    .asked.div_ceil(1 << 20),
    .limit >> 20
)]
struct OutOfMemory {
    asked: usize,
    limit: usize,
}

impl App {
    /// Calls a routed component with a read body: Spin's request headers, then a fresh
    /// instance; host failures become JSON errors. `admitted` says which lane it runs in and
    /// holds the key's running slot until the instance ends, background work included.
    pub(super) async fn call_component(
        &self,
        component: &LoadedComponent,
        parts: http::request::Parts,
        body: Bytes,
        matched: &RouteMatch<'_>,
        client_addr: &str,
        admitted: Admitted,
    ) -> Response<HostBody> {
        let req = match guest_request(parts, body, matched, client_addr) {
            Ok(req) => req,
            Err(e) => {
                return whole(json_error(
                    StatusCode::BAD_REQUEST,
                    "bad_request",
                    &e.to_string(),
                ));
            }
        };
        match self
            .invoke(component, req, admitted.hold, admitted.lane)
            .await
        {
            Ok(res) => res,
            Err(e) => whole(self.error_response(&component.id, &e)),
        }
    }

    /// A failed instance as a JSON error: 504 past the time limit, 500 `out_of_memory` over
    /// the memory limit, else 500 `internal` with the first line of the cause.
    fn error_response(&self, id: &str, e: &wasmtime::Error) -> Response<Full<Bytes>> {
        if is_timeout(e) {
            tracing::warn!(component = %id, "request timed out");
            json_error(
                StatusCode::GATEWAY_TIMEOUT,
                "timeout",
                &format!(
                    "the request took longer than {} s and was stopped",
                    self.limits.request_timeout.as_secs_f64()
                ),
            )
        } else if let Some(b) = e.chain().find_map(|c| c.downcast_ref::<BudgetExhausted>()) {
            tracing::warn!(component = %id, "{b}");
            json_error_retry(
                StatusCode::SERVICE_UNAVAILABLE,
                "service_unavailable",
                &b.to_string(),
                BUDGET_RETRY_AFTER_S,
            )
        } else if e.downcast_ref::<OutOfMemory>().is_some() {
            tracing::warn!(component = %id, "{e:#}");
            json_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "out_of_memory",
                &format!("component `{id}` {e}"),
            )
        } else {
            tracing::error!(component = %id, "request failed: {e:?}");
            let all = format!("{e:#}");
            let first = all.lines().next().unwrap_or("unknown error");
            json_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                &format!("component `{id}` failed: {first}"),
            )
        }
    }

    /// Runs one fresh instance of `component` on `req`. Answers as soon as the guest returns
    /// its response; the body then streams as the guest writes it, and the instance lives on
    /// (up to `background_timeout`) until its tasks have exited: work after returning, as
    /// the component model allows, is how a song job goes on after its 202.
    async fn invoke(
        &self,
        component: &LoadedComponent,
        req: Request<Full<Bytes>>,
        hold: Option<OwnedSemaphorePermit>,
        lane: Lane,
    ) -> wasmtime::Result<Response<HostBody>> {
        let local: Weak<dyn LocalServices> = self.me.clone();
        // Work waits for its share of the memory budget; reads run as they come.
        let lease = match lane {
            Lane::Work => Some(Arc::new(tokio::sync::Mutex::new(
                self.memory.admit(&component.id).await?,
            ))),
            Lane::Front => None,
        };
        let state = HostState::new(
            component.wasi_ctx()?,
            component.outbound.clone(),
            KeyValueCtx::new(self.kv.clone(), component.key_value_stores.clone()),
            WasiNnCtx::new(self.nn.clone()).with_lease(lease.clone()),
            component.variables.clone(),
            MemoryLimit::new(self.limits.max_memory_bytes, lease),
            local,
        );
        let mut store = Store::new(&self.engine, state);
        store.limiter_async(|s| &mut s.limits);
        let deadline = Arc::new(Mutex::new(Instant::now() + self.limits.request_timeout));
        store.set_epoch_deadline(1);
        let until = deadline.clone();
        store.epoch_deadline_callback(move |_| {
            let over = until.lock().map(|d| Instant::now() >= *d).unwrap_or(true);
            if over {
                Err(RequestTimedOut.into())
            } else {
                // Let other requests run on this thread between slices of a busy guest.
                Ok(UpdateDeadline::Yield(1))
            }
        });
        let (head_tx, head_rx) = tokio::sync::oneshot::channel();
        let head_tx = Arc::new(Mutex::new(Some(head_tx)));
        let pre = component.pre.clone();
        let id = component.id.clone();
        let background = self.limits.background_timeout;
        let lifetime = self.limits.request_timeout + background;
        let head = head_tx.clone();
        let alive = self.instances.enter();
        self.work.handle(lane).spawn(async move {
            let _hold = hold;
            let work = async {
                let service = pre.instantiate_async(&mut store).await?;
                let (request, _body_result) = wasmtime_wasi_http::p3::Request::from_http(
                    wasmtime_wasi_http::default_hooks(),
                    req,
                );
                store
                    .run_concurrent(async |accessor| -> wasmtime::Result<()> {
                        let res = match service.handle(accessor, request).await? {
                            Ok(res) => res,
                            Err(code) => {
                                wasmtime::bail!("the component returned error code {code:?}")
                            }
                        };
                        let res =
                            accessor.with(|access| res.into_http(access, async { Ok(()) }))?;
                        // The guest's body goes to the client as it is written; when the
                        // client goes away it is dropped, so the guest's writes fail and it
                        // can stop.
                        if let Some(h) = head.lock().ok().and_then(|mut h| h.take()) {
                            let _ = h.send(Ok(res));
                        }
                        if let Ok(mut d) = deadline.lock() {
                            *d = Instant::now() + background;
                        }
                        std::future::poll_fn(|cx| accessor.poll_no_interesting_tasks(cx)).await;
                        Ok(())
                    })
                    .await?
            };
            let result = match tokio::time::timeout(lifetime, work).await {
                Ok(r) => r,
                Err(_) => Err(RequestTimedOut.into()),
            };
            let limit = &store.data().limits;
            let result = match (result, limit.denied) {
                (Err(e), Some(asked)) => Err(e.context(OutOfMemory {
                    asked,
                    limit: limit.max_bytes(),
                })),
                (r, _) => r,
            };
            if let Err(e) = result {
                match head.lock().ok().and_then(|mut h| h.take()) {
                    Some(h) => {
                        let _ = h.send(Err(e));
                    }
                    None => {
                        tracing::warn!(component = %id, "work after the response failed: {e:#}")
                    }
                }
            }
            // The store (and the key-value stores it holds open) goes before the instance
            // counts as done, so a shutdown waiting on it finds the stores released.
            drop(store);
            drop(alive);
        });
        let answer = tokio::time::timeout(self.limits.request_timeout, head_rx).await;
        drop(head_tx);
        match answer {
            Ok(Ok(r)) => r,
            Ok(Err(_)) => Err(wasmtime::format_err!(
                "the instance ended without a response"
            )),
            Err(_) => Err(RequestTimedOut.into()),
        }
    }
}

fn is_timeout(e: &wasmtime::Error) -> bool {
    e.chain()
        .any(|c| c.downcast_ref::<RequestTimedOut>().is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_memory_names_the_size_the_limit_and_the_flag() {
        let e = OutOfMemory {
            asked: (300 << 20) + 1,
            limit: 256 << 20,
        };
        assert_eq!(
            e.to_string(),
            "ran out of memory: it asked for 301 MiB, over the 256 MiB each instance may use \
             (--max-memory-mib / SONGFORGE_MAX_MEMORY_MIB)"
        );
    }

    #[test]
    fn a_timeout_is_found_under_context() {
        let e = wasmtime::Error::from(RequestTimedOut).context("while handling");
        assert!(is_timeout(&e));
        assert!(!is_timeout(&wasmtime::format_err!("a trap")));
    }
}
