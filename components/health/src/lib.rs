//! `GET /api/health/`: is the service up, which host and device serve it, which routes it
//! has, and which wasi-nn graphs can be loaded right now.

use serde::Serialize;
use songforge_guest::host_info::HostInfo;
use songforge_guest::nn::{self, GraphSpec};
use songforge_guest::request::require_method;
use songforge_guest::{ApiError, Reply, success};
use songforge_inference::contract::status::{GRAPHS_ENV, GraphStatus};
use spin_sdk::http::{Method, Request};
use spin_sdk::http_service;

/// The Spin variable listing the graphs to report, as `name:task,name:task`.
const GRAPHS_VARIABLE: &str = "nn_graphs";

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
    // The host's facts about each graph (model, device, warnings), as the contract types them.
    let host_graphs: Vec<GraphStatus> = std::env::var(GRAPHS_ENV)
        .ok()
        .and_then(|raw| serde_json::from_str(&raw).ok())
        .unwrap_or_default();
    let models = graphs()
        .await?
        .into_iter()
        .map(|GraphSpec { name, task }| {
            let host = host_graphs.iter().find(|g| g.name == name);
            let fact = |get: fn(&GraphStatus) -> &Option<String>| host.and_then(|g| get(g).clone());
            ModelStatus {
                available: nn::load(&name).is_ok(),
                model: fact(|g| &g.model),
                device: fact(|g| &g.device),
                reason: fact(|g| &g.reason),
                warning: fact(|g| &g.warning),
                name,
                task,
            }
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
