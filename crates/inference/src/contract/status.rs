//! What the host reports about each configured graph (logs, `GET /api/health/`).

use serde::{Deserialize, Serialize};

/// The environment variable the host hands every component its graphs' status in, as a JSON
/// array of [`GraphStatus`].
pub const GRAPHS_ENV: &str = "SONGFORGE_GRAPHS";

/// One configured graph.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GraphStatus {
    /// The name guests load.
    pub name: String,
    /// Whether `load-by-name` succeeds.
    pub available: bool,
    /// Model id, when loaded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Device, when loaded (`cpu`, `cuda:0`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    /// The task the engine performs, when loaded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<String>,
    /// Why it is unavailable (e.g. the pull command that installs it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// A degraded but working set-up (e.g. GPU requested, CPU used).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
}
