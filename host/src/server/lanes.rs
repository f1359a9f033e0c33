//! Two lanes for instances. Work (a POST with a body: generation, mixing, uploads, and the
//! stage calls a song job makes) runs on a runtime of its own, so the runtime that accepts
//! connections, reads requests and runs light ones (health, polling, media reads, event
//! streams) is never queued behind it: 64 mixes in 10 ms slices would otherwise keep a health
//! check waiting most of a second. The operating system shares the cores between the two.

use super::StartError;
use tokio::runtime::{Handle, Runtime};

/// Where an instance runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Lane {
    /// The runtime serving connections: requests that only read.
    Front,
    /// The work runtime.
    Work,
}

/// The work runtime, shut down without waiting when the app is dropped (in-flight work is
/// abandoned, as on a restart: a song job is then marked interrupted).
pub(super) struct WorkLane {
    runtime: Option<Runtime>,
    handle: Handle,
}

impl WorkLane {
    /// A runtime with one worker per core.
    pub(super) fn new() -> Result<Self, StartError> {
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .thread_name("work")
            .enable_all()
            .build()
            .map_err(|e| StartError::Other(format!("cannot start the work runtime: {e}")))?;
        let handle = runtime.handle().clone();
        Ok(Self {
            runtime: Some(runtime),
            handle,
        })
    }

    /// The runtime a lane's instances are spawned on.
    pub(super) fn handle(&self, lane: Lane) -> Handle {
        match lane {
            Lane::Work => self.handle.clone(),
            Lane::Front => Handle::current(),
        }
    }
}

impl Drop for WorkLane {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// Counts the instances alive, background work included, so shutdown can wait for them to
/// finish (and release the stores) before the app goes.
#[derive(Debug, Default)]
pub(super) struct Instances {
    alive: std::sync::atomic::AtomicUsize,
    idle: tokio::sync::Notify,
}

/// One live instance; dropping it counts it out.
pub(super) struct Alive(std::sync::Arc<Instances>);

impl Instances {
    /// Counts an instance in.
    pub(super) fn enter(self: &std::sync::Arc<Self>) -> Alive {
        self.alive.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Alive(self.clone())
    }

    /// Waits until no instance is alive.
    pub(super) async fn all_done(&self) {
        loop {
            let idle = self.idle.notified();
            if self.alive.load(std::sync::atomic::Ordering::SeqCst) == 0 {
                return;
            }
            idle.await;
        }
    }
}

impl Drop for Alive {
    fn drop(&mut self) {
        if self
            .0
            .alive
            .fetch_sub(1, std::sync::atomic::Ordering::SeqCst)
            == 1
        {
            self.0.idle.notify_waiters();
        }
    }
}
