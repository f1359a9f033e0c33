//! Everything one request's store holds, built in one place.

use crate::key_value::{KeyValueCtx, KeyValueView};
use crate::memory_budget::SharedLease;
use crate::outbound::OutboundRule;
use crate::variables::VariablesView;
use crate::wasi_nn::{WasiNnCtx, WasiNnView};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use std::collections::BTreeMap;
use std::pin::Pin;
use std::sync::{Arc, Weak};
use wasmtime::ResourceLimiterAsync;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks, WasiHttpView};

/// Per-request store data.
pub struct HostState {
    table: ResourceTable,
    wasi: WasiCtx,
    http: WasiHttpCtx,
    hooks: OutboundPolicy,
    kv: KeyValueCtx,
    nn: WasiNnCtx,
    variables: Arc<BTreeMap<String, String>>,
    /// The per-instance memory limit, enforced by wasmtime through this limiter.
    pub limits: MemoryLimit,
}

impl HostState {
    /// Assembles the state for one instance.
    pub fn new(
        wasi: WasiCtx,
        outbound: Arc<[OutboundRule]>,
        kv: KeyValueCtx,
        nn: WasiNnCtx,
        variables: Arc<BTreeMap<String, String>>,
        limits: MemoryLimit,
        local: Weak<dyn LocalServices>,
    ) -> Self {
        let lease = limits.lease.clone();
        Self {
            table: ResourceTable::new(),
            wasi,
            http: WasiHttpCtx::new(),
            hooks: OutboundPolicy {
                rules: outbound,
                local,
                lease: lease.clone(),
            },
            kv,
            nn,
            variables,
            limits,
        }
    }

    /// View for the key-value bindings.
    pub fn key_value(&mut self) -> KeyValueView<'_> {
        KeyValueView::new(&self.kv, &mut self.table)
    }

    /// View for the wasi-nn bindings.
    pub fn wasi_nn(&mut self) -> WasiNnView<'_> {
        WasiNnView::new(&self.nn, &mut self.table)
    }

    /// View for the variables bindings.
    pub fn variables(&mut self) -> VariablesView<'_> {
        VariablesView(&self.variables)
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for HostState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            hooks: &mut self.hooks,
            table: &mut self.table,
            ctx: &mut self.http,
        }
    }
}

/// Linear memory an instance may grow to. A refused growth is remembered, so a guest that
/// then aborts is reported as out of memory rather than as a bare trap.
pub struct MemoryLimit {
    max_bytes: usize,
    /// The size a refused growth asked for.
    pub denied: Option<usize>,
    /// The instance's share of the host's memory budget (work requests only).
    lease: Option<SharedLease>,
}

impl MemoryLimit {
    /// A limit of `max_bytes` per instance, and the instance's share of the host's budget.
    pub fn new(max_bytes: usize, lease: Option<SharedLease>) -> Self {
        Self {
            max_bytes,
            denied: None,
            lease,
        }
    }

    /// The limit, bytes.
    pub fn max_bytes(&self) -> usize {
        self.max_bytes
    }
}

#[async_trait::async_trait]
impl ResourceLimiterAsync for MemoryLimit {
    async fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.max_bytes {
            self.denied = Some(desired);
            return Ok(false);
        }
        if let Some(lease) = &self.lease {
            // Over the budget the instance stops here, and the error is its 503.
            lease
                .lock()
                .await
                .grow(desired.saturating_sub(current))
                .await?;
        }
        Ok(true)
    }

    async fn table_growing(
        &mut self,
        _current: usize,
        _desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(true)
    }
}

/// A response body the host hands on: whole, or streamed from a guest as it writes it.
pub type HostBody = wasmtime_wasi_http::WasiBody;

/// A boxed future of a local call's response.
pub type LocalResponse = Pin<Box<dyn Future<Output = http::Response<HostBody>> + Send>>;

/// The app's own components, reachable from a component at `http://<id>.spin.internal/...`
/// (Spin's local service chaining): the request never leaves the process.
pub trait LocalServices: Send + Sync {
    /// Sends `request` to component `id`; `None` when the app has no such component.
    fn call(&self, id: &str, request: http::Request<Full<Bytes>>) -> Option<LocalResponse>;
}

/// The host name suffix of local service chaining.
pub const LOCAL_SUFFIX: &str = ".spin.internal";

/// Outbound HTTP hooks: requests go out only to the component's `allowed_outbound_hosts`;
/// `*.spin.internal` ones go to the app's own components.
pub struct OutboundPolicy {
    rules: Arc<[OutboundRule]>,
    local: Weak<dyn LocalServices>,
    /// The instance's memory lease, shrunk to what it uses while it waits on a local call.
    lease: Option<SharedLease>,
}

type ErrorFuture = Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>;

impl WasiHttpHooks for OutboundPolicy {
    fn send_request(
        &mut self,
        request: http::Request<wasmtime_wasi_http::WasiBody>,
        options: Option<wasmtime_wasi_http::RequestOptions>,
        fut: ErrorFuture,
    ) -> Box<
        dyn Future<
                Output = Result<
                    (http::Response<wasmtime_wasi_http::WasiBody>, ErrorFuture),
                    wasmtime_wasi_http::Error,
                >,
            > + Send,
    > {
        let allowed = self.rules.iter().any(|r| r.allows(request.uri()));
        if !allowed {
            tracing::warn!(uri = %request.uri(), "outbound request denied by allowed_outbound_hosts");
            return Box::new(async { Err(wasmtime_wasi_http::Error::HttpRequestDenied) });
        }
        drop(fut);
        let local = request
            .uri()
            .host()
            .and_then(|h| h.strip_suffix(LOCAL_SUFFIX))
            .map(str::to_string);
        if let Some(id) = local {
            crate::memory_budget::give_back_unused(self.lease.as_ref());
            let services = self.local.clone();
            return Box::new(async move {
                let (parts, body) = request.into_parts();
                let body = body
                    .collect()
                    .await
                    .map_err(|_| wasmtime_wasi_http::Error::HttpRequestBodySize(None))?
                    .to_bytes();
                let request = http::Request::from_parts(parts, Full::new(body));
                let call = services
                    .upgrade()
                    .and_then(|s| s.call(&id, request))
                    .ok_or(wasmtime_wasi_http::Error::DestinationNotFound)?;
                let response = call.await;
                let done: ErrorFuture = Box::new(async { Ok(()) });
                Ok((response, done))
            });
        }
        Box::new(async move {
            use http_body_util::BodyExt;
            let (res, io) = wasmtime_wasi_http::default_send_request(request, options).await?;
            Ok((res.map(BodyExt::boxed_unsync), Box::new(io) as ErrorFuture))
        })
    }
}
