//! The smallest spin-sdk HTTP handler: what a host costs per request when the component
//! does nothing. bench/http.sh serves it from songforge and from `wasmtime serve`.

use spin_sdk::http::{IntoResponse, Request};
use spin_sdk::http_service;

/// Answers every request with a short plain-text body.
#[http_service]
async fn handle(_req: Request) -> impl IntoResponse {
    "hello from songforge\n"
}
