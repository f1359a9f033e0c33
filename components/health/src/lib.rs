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

/// One model line of the report.
#[derive(Serialize)]
struct ModelStatus {
    name: String,
    task: String,
    available: bool,
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
    let models = graphs()
        .await?
        .into_iter()
        .map(|GraphSpec { name, task }| ModelStatus {
            available: nn::graph_available(&name),
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
