//! `wasi:nn@0.2.0-rc-2024-10-28` for guests, backed by a registry of named graphs.
//!
//! The WIT is the one shipped in `wasmtime-wasi-nn` 48.0.8 (vendored in `wit/wasi-nn`, pinned
//! with wasmtime). We bind it ourselves instead of using that crate's host implementation for
//! two reasons: its `compute` is synchronous, so a long inference would block a thread that
//! serves HTTP; and it reports every backend failure as `runtime-error` with the same fixed
//! message, so a guest could not tell a busy queue (503) from a bad input (422). Here `compute`
//! is asynchronous: the job goes to the graph's device queue, bounded for back-pressure, and
//! runs on that device's worker threads while the guest's task waits.

use songforge_inference::contract::error::ErrorKind;
pub use songforge_inference::contract::status::GraphStatus;
use songforge_inference::{Device, Engine, EngineError, NamedTensor, Tensor, TensorType};
use std::collections::HashMap;
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};
use wasmtime::component::{Access, HasData, Resource, ResourceTable};

mod bindings {
    wasmtime::component::bindgen!({
        path: "../wit/wasi-nn",
        world: "ml",
        imports: {
            "wasi:nn/inference.[method]graph-execution-context.compute": async | store | trappable,
            default: trappable,
        },
        with: {
            "wasi:nn/graph.graph": super::GraphHandle,
            "wasi:nn/tensor.tensor": songforge_inference::Tensor,
            "wasi:nn/inference.graph-execution-context": super::ContextHandle,
            "wasi:nn/errors.error": super::NnError,
        },
    });
}

use bindings::wasi::nn::{errors, graph, inference, tensor};

/// A registered graph: an engine, the device it runs on and that device's queue.
pub struct RegisteredGraph {
    engine: Arc<dyn Engine>,
    device: Device,
    queue: Arc<DeviceQueue>,
    /// Something an operator should know (e.g. a `gpu` target running on the CPU).
    warning: Option<String>,
}

/// What a guest learns about a graph name.
enum GraphEntry {
    Ready(Arc<RegisteredGraph>),
    /// Configured but not loadable (e.g. the model is not installed); the reason is returned
    /// to guests as a `not-found` error and shown in logs.
    Unavailable(String),
}

/// Graph names → engines, shared (behind an `Arc`) by every instance.
#[derive(Default)]
pub struct GraphRegistry {
    graphs: HashMap<String, GraphEntry>,
    queues: HashMap<Device, Arc<DeviceQueue>>,
    queue_depth: usize,
    threads_per_device: usize,
}

impl GraphRegistry {
    /// An empty registry whose device queues hold at most `queue_depth` waiting jobs and run
    /// `threads_per_device` jobs at once.
    pub fn new(queue_depth: usize, threads_per_device: usize) -> Self {
        Self {
            graphs: HashMap::new(),
            queues: HashMap::new(),
            queue_depth: queue_depth.max(1),
            threads_per_device: threads_per_device.max(1),
        }
    }

    /// Registers an engine under a graph name, replacing any earlier entry.
    pub fn register(&mut self, name: impl Into<String>, engine: Arc<dyn Engine>, device: Device) {
        self.register_with_warning(name, engine, device, None);
    }

    /// Registers an engine and a warning to show in logs and health.
    pub fn register_with_warning(
        &mut self,
        name: impl Into<String>,
        engine: Arc<dyn Engine>,
        device: Device,
        warning: Option<String>,
    ) {
        let queue = self
            .queues
            .entry(device)
            .or_insert_with(|| {
                DeviceQueue::start(device, self.queue_depth, self.threads_per_device)
            })
            .clone();
        self.graphs.insert(
            name.into(),
            GraphEntry::Ready(Arc::new(RegisteredGraph {
                engine,
                device,
                queue,
                warning,
            })),
        );
    }

    /// Records a configured graph that cannot be served, and why.
    pub fn register_unavailable(&mut self, name: impl Into<String>, reason: impl Into<String>) {
        self.graphs
            .insert(name.into(), GraphEntry::Unavailable(reason.into()));
    }

    /// The graph named `name`, ready to run, or why it cannot be.
    pub fn lookup(&self, name: &str) -> Result<Arc<RegisteredGraph>, GraphFailure> {
        match self.graphs.get(name) {
            Some(GraphEntry::Ready(graph)) => Ok(graph.clone()),
            // The caller names the graph; the reason says what to install.
            Some(GraphEntry::Unavailable(reason)) => {
                Err(GraphFailure::new(ErrorKind::Unavailable, reason.clone()))
            }
            None => Err(GraphFailure::new(
                ErrorKind::Unavailable,
                format!("no graph named `{name}` is configured on this host"),
            )),
        }
    }

    /// Every configured graph, sorted by name.
    pub fn status(&self) -> Vec<GraphStatus> {
        let mut out: Vec<GraphStatus> = self
            .graphs
            .iter()
            .map(|(name, entry)| match entry {
                GraphEntry::Ready(g) => GraphStatus {
                    name: name.clone(),
                    available: true,
                    model: Some(g.engine.model().to_string()),
                    device: Some(g.device.to_string()),
                    task: Some(g.engine.task().to_string()),
                    reason: None,
                    warning: g.warning.clone(),
                },
                GraphEntry::Unavailable(reason) => GraphStatus {
                    name: name.clone(),
                    available: false,
                    model: None,
                    device: None,
                    task: None,
                    reason: Some(reason.clone()),
                    warning: None,
                },
            })
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }
}

impl RegisteredGraph {
    /// Runs one inference on the graph's device queue; `name` is how failures name it.
    pub async fn run(
        &self,
        name: &str,
        inputs: Vec<NamedTensor>,
    ) -> Result<Vec<NamedTensor>, GraphFailure> {
        let rx = self.queue.submit(self.engine.clone(), inputs)?;
        rx.await
            .unwrap_or_else(|_| Err(EngineError::Runtime("the inference worker stopped".into())))
            .map_err(|e| GraphFailure::from_engine(name, e))
    }
}

/// Why a graph could not run, by kind (what the caller should do about it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphFailure {
    /// The kind.
    pub kind: ErrorKind,
    /// The explanation.
    pub message: String,
}

impl GraphFailure {
    fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    /// An engine's failure, naming the graph.
    pub fn from_engine(graph: &str, e: EngineError) -> Self {
        Self::new(e.kind(), format!("graph `{graph}`: {e}"))
    }
}

type Job = Box<dyn FnOnce() + Send>;

/// A bounded job queue with worker threads for one device. Engines block; these threads are
/// where they do it.
struct DeviceQueue {
    device: Device,
    sender: SyncSender<Job>,
    depth: usize,
}

impl DeviceQueue {
    fn start(device: Device, depth: usize, threads: usize) -> Arc<Self> {
        let (sender, receiver) = sync_channel::<Job>(depth);
        let receiver = Arc::new(Mutex::new(receiver));
        for i in 0..threads {
            let receiver: Arc<Mutex<Receiver<Job>>> = receiver.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("nn-{device}-{i}"))
                .spawn(move || {
                    loop {
                        let job = match receiver.lock() {
                            Ok(rx) => rx.recv(),
                            Err(_) => return,
                        };
                        match job {
                            Ok(job) => job(),
                            Err(_) => return,
                        }
                    }
                });
            if let Err(e) = spawned {
                tracing::error!(%device, "cannot start an inference worker thread: {e}");
            }
        }
        Arc::new(Self {
            device,
            sender,
            depth,
        })
    }

    /// Queues one inference; `Err` when the queue is full.
    fn submit(
        &self,
        engine: Arc<dyn Engine>,
        inputs: Vec<NamedTensor>,
    ) -> Result<tokio::sync::oneshot::Receiver<Result<Vec<NamedTensor>, EngineError>>, GraphFailure>
    {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            // The request may have timed out or been cancelled while this job waited.
            if tx.is_closed() {
                return;
            }
            let result =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| engine.compute(inputs)))
                    .unwrap_or_else(|_| Err(EngineError::Runtime("the engine panicked".into())));
            let _ = tx.send(result);
        });
        match self.sender.try_send(job) {
            Ok(()) => Ok(rx),
            Err(TrySendError::Full(_)) => Err(GraphFailure::new(
                ErrorKind::Busy,
                format!(
                    "the {} inference queue is full ({} waiting); retry shortly",
                    self.device, self.depth
                ),
            )),
            Err(TrySendError::Disconnected(_)) => Err(GraphFailure::new(
                ErrorKind::Runtime,
                format!("the {} inference workers are not running", self.device),
            )),
        }
    }
}

/// The guest's `graph` resource.
pub struct GraphHandle {
    name: String,
    graph: Arc<RegisteredGraph>,
}

/// The guest's `graph-execution-context` resource.
pub struct ContextHandle {
    name: String,
    graph: Arc<RegisteredGraph>,
}

/// Error codes as the WIT defines them.
pub use errors::ErrorCode;

/// The guest's `error` resource: a code and a human message.
#[derive(Debug)]
pub struct NnError {
    code: ErrorCode,
    message: String,
}

impl NnError {
    fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    /// An error of a shared kind, coded and worded as the guest's side of the contract
    /// reads it back.
    fn of_kind(kind: ErrorKind, message: impl AsRef<str>) -> Self {
        Self::new(wit_code(kind), kind.wire_message(message.as_ref()))
    }

    fn from_failure(f: GraphFailure) -> Self {
        Self::of_kind(f.kind, f.message)
    }
}

/// The WIT code a kind travels as (the contract spells it [`ErrorKind::wire_code`]).
fn wit_code(kind: ErrorKind) -> ErrorCode {
    match kind {
        ErrorKind::InvalidInput => ErrorCode::InvalidArgument,
        ErrorKind::TooLarge => ErrorCode::TooLarge,
        ErrorKind::Unavailable => ErrorCode::NotFound,
        ErrorKind::Busy | ErrorKind::Runtime => ErrorCode::RuntimeError,
        ErrorKind::Timeout => ErrorCode::Timeout,
    }
}

/// Per-instance wasi-nn state.
#[derive(Clone)]
pub struct WasiNnCtx {
    registry: Arc<GraphRegistry>,
    /// The instance's memory lease, shrunk to what it uses while it waits on inference.
    lease: Option<crate::memory_budget::SharedLease>,
}

impl WasiNnCtx {
    /// Context sharing `registry`.
    pub fn new(registry: Arc<GraphRegistry>) -> Self {
        Self {
            registry,
            lease: None,
        }
    }

    /// The same, giving back the instance's unused memory reservation at each inference.
    pub fn with_lease(mut self, lease: Option<crate::memory_budget::SharedLease>) -> Self {
        self.lease = lease;
        self
    }
}

/// Borrowed view the generated bindings work on.
pub struct WasiNnView<'a> {
    ctx: &'a WasiNnCtx,
    table: &'a mut ResourceTable,
}

impl<'a> WasiNnView<'a> {
    /// Pairs the context with the store's resource table.
    pub fn new(ctx: &'a WasiNnCtx, table: &'a mut ResourceTable) -> Self {
        Self { ctx, table }
    }

    fn fail<T>(&mut self, error: NnError) -> wasmtime::Result<Result<T, Resource<NnError>>> {
        tracing::debug!(code = ?error.code, "wasi-nn: {}", error.message);
        Ok(Err(self.table.push(error)?))
    }
}

/// Marker tying the bindings to [`WasiNnView`].
pub struct WasiNn;

impl HasData for WasiNn {
    type Data<'a> = WasiNnView<'a>;
}

/// Adds wasi-nn to a linker.
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut wasmtime::component::Linker<T>,
    view: fn(&mut T) -> WasiNnView<'_>,
) -> wasmtime::Result<()> {
    graph::add_to_linker::<T, WasiNn>(linker, view)?;
    tensor::add_to_linker::<T, WasiNn>(linker, view)?;
    inference::add_to_linker::<T, WasiNn>(linker, view)?;
    errors::add_to_linker::<T, WasiNn>(linker, view)?;
    Ok(())
}

fn to_inference_type(ty: tensor::TensorType) -> TensorType {
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

impl graph::Host for WasiNnView<'_> {
    fn load(
        &mut self,
        _builder: Vec<graph::GraphBuilder>,
        _encoding: graph::GraphEncoding,
        _target: graph::ExecutionTarget,
    ) -> wasmtime::Result<Result<Resource<GraphHandle>, Resource<NnError>>> {
        self.fail(NnError::new(
            ErrorCode::UnsupportedOperation,
            "this host serves installed models by name: use load-by-name",
        ))
    }

    fn load_by_name(
        &mut self,
        name: String,
    ) -> wasmtime::Result<Result<Resource<GraphHandle>, Resource<NnError>>> {
        match self.ctx.registry.lookup(&name) {
            Ok(graph) => Ok(Ok(self.table.push(GraphHandle { name, graph })?)),
            Err(failure) => self.fail(NnError::from_failure(failure)),
        }
    }
}

impl graph::HostGraph for WasiNnView<'_> {
    fn init_execution_context(
        &mut self,
        graph: Resource<GraphHandle>,
    ) -> wasmtime::Result<Result<Resource<ContextHandle>, Resource<NnError>>> {
        let g = self.table.get(&graph)?;
        let ctx = ContextHandle {
            name: g.name.clone(),
            graph: g.graph.clone(),
        };
        Ok(Ok(self.table.push(ctx)?))
    }

    fn drop(&mut self, graph: Resource<GraphHandle>) -> wasmtime::Result<()> {
        self.table.delete(graph)?;
        Ok(())
    }
}

impl tensor::Host for WasiNnView<'_> {}

impl tensor::HostTensor for WasiNnView<'_> {
    fn new(
        &mut self,
        dimensions: tensor::TensorDimensions,
        ty: tensor::TensorType,
        data: tensor::TensorData,
    ) -> wasmtime::Result<Resource<Tensor>> {
        // The size is checked at compute time, where a mismatch can be reported as an error
        // rather than a trap.
        let t = Tensor {
            dimensions,
            ty: to_inference_type(ty),
            data,
        };
        Ok(self.table.push(t)?)
    }

    fn dimensions(&mut self, t: Resource<Tensor>) -> wasmtime::Result<tensor::TensorDimensions> {
        Ok(self.table.get(&t)?.dimensions.clone())
    }

    fn ty(&mut self, t: Resource<Tensor>) -> wasmtime::Result<tensor::TensorType> {
        Ok(to_wit_type(self.table.get(&t)?.ty))
    }

    fn data(&mut self, t: Resource<Tensor>) -> wasmtime::Result<tensor::TensorData> {
        Ok(self.table.get(&t)?.data.clone())
    }

    fn drop(&mut self, t: Resource<Tensor>) -> wasmtime::Result<()> {
        self.table.delete(t)?;
        Ok(())
    }
}

impl inference::Host for WasiNnView<'_> {}

impl inference::HostGraphExecutionContext for WasiNnView<'_> {
    fn drop(&mut self, ctx: Resource<ContextHandle>) -> wasmtime::Result<()> {
        self.table.delete(ctx)?;
        Ok(())
    }
}

impl<T: Send> inference::HostGraphExecutionContextWithStore<T> for WasiNn {
    async fn compute(
        mut store: Access<'_, T, Self>,
        ctx: Resource<ContextHandle>,
        inputs: Vec<inference::NamedTensor>,
    ) -> wasmtime::Result<Result<Vec<inference::NamedTensor>, Resource<NnError>>> {
        let (name, graph, named) = {
            let view = store.get();
            crate::memory_budget::give_back_unused(view.ctx.lease.as_ref());
            let handle = view.table.get(&ctx)?;
            let (name, graph) = (handle.name.clone(), handle.graph.clone());
            let mut named = Vec::with_capacity(inputs.len());
            for (tensor_name, resource) in inputs {
                let t = view.table.delete(resource)?;
                match Tensor::new(t.dimensions, t.ty, t.data) {
                    Ok(t) => named.push(NamedTensor::new(tensor_name, t)),
                    Err(e) => {
                        let e = NnError::from_failure(GraphFailure::from_engine(&name, e));
                        return Ok(Err(view.table.push(e)?));
                    }
                }
            }
            (name, graph, named)
        };
        let result = graph.run(&name, named).await;
        let view = store.get();
        match result {
            Ok(outputs) => {
                let mut out = Vec::with_capacity(outputs.len());
                for o in outputs {
                    out.push((o.name, view.table.push(o.tensor)?));
                }
                Ok(Ok(out))
            }
            Err(f) => Ok(Err(view.table.push(NnError::from_failure(f))?)),
        }
    }
}

impl errors::Host for WasiNnView<'_> {}

impl errors::HostError for WasiNnView<'_> {
    fn code(&mut self, e: Resource<NnError>) -> wasmtime::Result<ErrorCode> {
        Ok(self.table.get(&e)?.code)
    }

    fn data(&mut self, e: Resource<NnError>) -> wasmtime::Result<String> {
        Ok(self.table.get(&e)?.message.clone())
    }

    fn drop(&mut self, e: Resource<NnError>) -> wasmtime::Result<()> {
        self.table.delete(e)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The WIT's spelling of a code.
    fn spelled(code: ErrorCode) -> &'static str {
        match code {
            ErrorCode::InvalidArgument => "invalid-argument",
            ErrorCode::InvalidEncoding => "invalid-encoding",
            ErrorCode::Timeout => "timeout",
            ErrorCode::RuntimeError => "runtime-error",
            ErrorCode::UnsupportedOperation => "unsupported-operation",
            ErrorCode::TooLarge => "too-large",
            ErrorCode::NotFound => "not-found",
            ErrorCode::Security => "security",
            ErrorCode::Unknown => "unknown",
        }
    }

    #[test]
    fn kinds_travel_as_the_contract_spells_them() {
        for kind in ErrorKind::ALL {
            let e = NnError::of_kind(kind, "the cpu queue is full");
            assert_eq!(spelled(e.code), kind.wire_code());
            let (back, message) = ErrorKind::from_wire(spelled(e.code), &e.message);
            assert_eq!((back, message.as_str()), (kind, "the cpu queue is full"));
        }
    }
}
