//! `GET /api/health/`: is the service up, which host and device serve it, which routes it
//! has, and which wasi-nn graphs can be loaded right now.

use serde::Serialize;
use songforge_guest::host_info::HostInfo;
use songforge_guest::nn::{self, GraphSpec};
use songforge_guest::request::require_method;
use songforge_guest::{ApiError, Reply, success};
use spin_sdk::http::{Method, Request};
use spin_sdk::http_service;

/// The Spin variable listing the graphs to report, as `name:task,name:task`.
const GRAPHS_VARIABLE: &str = "nn_graphs";

/// The host's per-graph facts (`SONGFORGE_GRAPHS`, a JSON array): model, device, warnings.
const GRAPHS_ENV: &str = "SONGFORGE_GRAPHS";

/// One model line of the report.
#[derive(Serialize)]
struct ModelStatus {
    name: String,
    task: String,
    available: bool,
    /// Catalog id of the loaded model.
    #[serde(skip_serializing_if = "Option::is_none")]
    model: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    device: Option<String>,
    /// Why it is unavailable (e.g. the pull command that installs it).
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    /// A degraded set-up, e.g. a `gpu` target served by the CPU.
    #[serde(skip_serializing_if = "Option::is_none")]
    warning: Option<String>,
}

/// The host's facts about graph `name`, if it reported any.
fn host_graph(graphs: &serde_json::Value, name: &str, key: &str) -> Option<String> {
    graphs
        .as_array()?
        .iter()
        .find(|g| g["name"] == name)?
        .get(key)?
        .as_str()
        .map(str::to_string)
}

/// The health report (inside the success envelope).
#[derive(Serialize)]
struct Health {
    status: &'static str,
    version: String,
    components: serde_json::Value,
    models: Vec<ModelStatus>,
    device: String,
}

/// Answers GET and HEAD; HEAD gets the same response, and the HTTP server drops the body.
#[http_service]
async fn handle(req: Request) -> Result<Reply, ApiError> {
    require_method(&req, &[Method::GET, Method::HEAD])?;
    let host = HostInfo::from_env();
    let host_graphs: serde_json::Value = std::env::var(GRAPHS_ENV)
        .ok()
        .and_then(|raw| serde_json::from_str(&raw).ok())
        .unwrap_or_default();
    let models = graphs()
        .await?
        .into_iter()
        .map(|GraphSpec { name, task }| ModelStatus {
            available: nn::graph_available(&name),
            model: host_graph(&host_graphs, &name, "model"),
            device: host_graph(&host_graphs, &name, "device"),
            reason: host_graph(&host_graphs, &name, "reason"),
            warning: host_graph(&host_graphs, &name, "warning"),
            name,
            task,
        })
        .collect();
    Ok(success(&Health {
        status: "ok",
        version: host.version,
        components: host.components,
        models,
        device: host.device,
    }))
}

/// The graphs to check; none when the manifest does not give this component the variable.
async fn graphs() -> Result<Vec<GraphSpec>, ApiError> {
    match spin_sdk::variables::get(GRAPHS_VARIABLE).await {
        Ok(spec) => Ok(nn::parse_graph_list(&spec)),
        Err(spin_sdk::variables::Error::Undefined(_)) => Ok(Vec::new()),
        Err(e) => Err(ApiError::internal(format!(
            "the `{GRAPHS_VARIABLE}` variable could not be read: {e}"
        ))),
    }
}
