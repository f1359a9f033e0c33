//! Everything one request's store holds, built in one place.

use crate::key_value::{KeyValueCtx, KeyValueView};
use crate::outbound::OutboundRule;
use crate::variables::VariablesView;
use crate::wasi_nn::{WasiNnCtx, WasiNnView};
use std::collections::BTreeMap;
use std::sync::Arc;
use wasmtime::component::ResourceTable;
use wasmtime::{StoreLimits, StoreLimitsBuilder};
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
    /// Memory and instance limits enforced by wasmtime.
    pub limits: StoreLimits,
}

impl HostState {
    /// Assembles the state for one instance.
    pub fn new(
        wasi: WasiCtx,
        outbound: Arc<[OutboundRule]>,
        kv: KeyValueCtx,
        nn: WasiNnCtx,
        variables: Arc<BTreeMap<String, String>>,
        max_memory_bytes: usize,
    ) -> Self {
        Self {
            table: ResourceTable::new(),
            wasi,
            http: WasiHttpCtx::new(),
            hooks: OutboundPolicy { rules: outbound },
            kv,
            nn,
            variables,
            limits: StoreLimitsBuilder::new()
                .memory_size(max_memory_bytes)
                .trap_on_grow_failure(false)
                .build(),
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

/// Outbound HTTP hooks: requests go out only to the component's `allowed_outbound_hosts`.
pub struct OutboundPolicy {
    rules: Arc<[OutboundRule]>,
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
        Box::new(async move {
            use http_body_util::BodyExt;
            let (res, io) = wasmtime_wasi_http::default_send_request(request, options).await?;
            Ok((res.map(BodyExt::boxed_unsync), Box::new(io) as ErrorFuture))
        })
    }
}
