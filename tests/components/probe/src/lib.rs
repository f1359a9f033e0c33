//! `/probe/...`: a component only the host's end-to-end suite uses. Each route provokes one
//! host behaviour on request (a trap, a CPU hog, a sleep) or exercises one host capability
//! (wasi-nn, key-value, variables, environment) so the suite can check it over HTTP.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::HeaderValue;
use serde::Serialize;
use songforge_guest::nn::{self, Tensor, TensorType};
use songforge_guest::request::{self, path_info, query_param, require_method};
use songforge_guest::{ApiError, Reply, success};
use spin_sdk::http::{Method, Request, StatusCode};
use spin_sdk::http_service;
use spin_sdk::key_value::Store;

/// The longest spin or sleep a request may ask for; longer is a typo, not a test.
const MAX_MS: u64 = 10 * 60 * 1000;

/// Dispatches on the path below `/probe`.
#[http_service]
async fn handle(req: Request) -> Result<Reply, ApiError> {
    let info = path_info(&req);
    let path = info.trim_end_matches('/');
    match path {
        "/trap" => {
            require_method(&req, &[Method::GET])?;
            panic!("probe: trap requested");
        }
        "/spin" => {
            require_method(&req, &[Method::GET])?;
            spin(&req)
        }
        "/sleep" => {
            // POST too: a request that sends work, for the per-key limits.
            require_method(&req, &[Method::GET, Method::POST])?;
            sleep(&req).await
        }
        "/alloc" => {
            require_method(&req, &[Method::GET])?;
            let mib: usize = query_param(&req, "mib")
                .and_then(|v| v.parse().ok())
                .unwrap_or(1);
            // Touch every page so the memory is really used.
            let block = vec![1u8; mib.min(4096) << 20];
            Ok(success(
                &serde_json::json!({ "bytes": block.iter().map(|b| *b as usize).sum::<usize>() }),
            ))
        }
        "/nn" => {
            require_method(&req, &[Method::POST])?;
            infer(req).await
        }
        "/kv" => {
            require_method(&req, &[Method::GET])?;
            list_keys().await
        }
        "/var" => {
            require_method(&req, &[Method::GET])?;
            variable(&req).await
        }
        "/env" => {
            require_method(&req, &[Method::GET])?;
            Ok(success(&Env {
                // Lossy: a non-UTF-8 variable must not panic the probe.
                env: std::env::vars_os()
                    .map(|(k, v)| {
                        (
                            k.to_string_lossy().into_owned(),
                            v.to_string_lossy().into_owned(),
                        )
                    })
                    .collect(),
            }))
        }
        other => match other.strip_prefix("/kv/") {
            Some(key) if !key.is_empty() => {
                require_method(&req, &[Method::GET, Method::PUT])?;
                let key = key.to_string();
                if req.method() == Method::PUT {
                    put_key(req, &key).await
                } else {
                    get_key(&key).await
                }
            }
            _ => Err(ApiError::not_found(format!(
                "the probe has no route `{}`",
                other.escape_default()
            ))),
        },
    }
}

/// The `ms` query parameter, bounded.
fn millis(req: &Request) -> Result<u64, ApiError> {
    let raw = query_param(req, "ms")
        .ok_or_else(|| ApiError::bad_request("give a duration as ?ms=N").with_field("ms"))?;
    raw.parse::<u64>()
        .ok()
        .filter(|ms| *ms <= MAX_MS)
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "`{raw}` is not a duration in milliseconds up to {MAX_MS}"
            ))
            .with_field("ms")
        })
}

#[derive(Serialize)]
struct Spun {
    spun_ms: u64,
}

/// Burns CPU for `ms` milliseconds without yielding: what a runaway guest looks like to the
/// host's epoch-based timeout.
fn spin(req: &Request) -> Result<Reply, ApiError> {
    let ms = millis(req)?;
    let deadline = Duration::from_millis(ms);
    let started = Instant::now();
    let mut acc: u64 = 0;
    while started.elapsed() < deadline {
        for i in 0..10_000u64 {
            acc = std::hint::black_box(acc.wrapping_mul(6364136223846793005).wrapping_add(i));
        }
    }
    std::hint::black_box(acc);
    Ok(success(&Spun { spun_ms: ms }))
}

#[derive(Serialize)]
struct Slept {
    slept_ms: u64,
}

/// Waits `ms` milliseconds on the WASI 0.3 monotonic clock: an idle guest the host must not
/// let hold a worker thread.
async fn sleep(req: &Request) -> Result<Reply, ApiError> {
    let ms = millis(req)?;
    spin_sdk::time::sleep(Duration::from_millis(ms)).await;
    Ok(success(&Slept { slept_ms: ms }))
}

#[derive(Serialize)]
struct Output {
    name: String,
    dims: Vec<u32>,
    #[serde(rename = "type")]
    ty: TensorType,
    text: String,
}

#[derive(Serialize)]
struct Outputs {
    outputs: Vec<Output>,
}

/// Runs graph `?graph=` on one `u8` tensor `input` holding the request body.
async fn infer(req: Request) -> Result<Reply, ApiError> {
    let graph = query_param(&req, "graph")
        .filter(|g| !g.is_empty())
        .ok_or_else(|| ApiError::bad_request("name a graph as ?graph=NAME").with_field("graph"))?;
    let (_, body) = request::read_body(req).await?;
    let outputs = nn::compute(&graph, vec![("input", Tensor::bytes(body.to_vec()))])?;
    Ok(success(&Outputs {
        outputs: outputs
            .into_iter()
            .map(|(name, t)| Output {
                text: t.text_lossy(),
                name,
                dims: t.dimensions,
                ty: t.ty,
            })
            .collect(),
    }))
}

async fn store() -> Result<Store, ApiError> {
    Store::open_default()
        .await
        .map_err(|e| ApiError::internal(format!("key-value store `default` failed: {e}")))
}

fn kv_error(e: impl std::fmt::Display) -> ApiError {
    ApiError::internal(format!("key-value store `default` failed: {e}"))
}

#[derive(Serialize)]
struct Stored {
    key: String,
    bytes: usize,
}

/// `PUT /probe/kv/<key>`: stores the body under `<key>`.
async fn put_key(req: Request, key: &str) -> Result<Reply, ApiError> {
    let (_, body) = request::read_body(req).await?;
    store().await?.set(key, &body).await.map_err(kv_error)?;
    Ok(success(&Stored {
        key: key.to_string(),
        bytes: body.len(),
    }))
}

/// `GET /probe/kv/<key>`: the stored bytes, raw.
async fn get_key(key: &str) -> Result<Reply, ApiError> {
    let value = store()
        .await?
        .get(key)
        .await
        .map_err(kv_error)?
        .ok_or_else(|| ApiError::not_found(format!("no key `{key}`")).with_field("key"))?;
    Ok(songforge_guest::envelope::bytes_reply(
        StatusCode::OK,
        &HeaderValue::from_static("application/octet-stream"),
        Bytes::from(value),
    ))
}

#[derive(Serialize)]
struct Keys {
    keys: Vec<String>,
}

/// `GET /probe/kv`: every key in the store.
async fn list_keys() -> Result<Reply, ApiError> {
    let keys = store()
        .await?
        .get_keys()
        .await
        .collect()
        .await
        .map_err(kv_error)?;
    Ok(success(&Keys { keys }))
}

#[derive(Serialize)]
struct Variable {
    value: String,
}

/// `GET /probe/var?name=X`: the component's Spin variable `X`.
async fn variable(req: &Request) -> Result<Reply, ApiError> {
    let name = query_param(req, "name")
        .ok_or_else(|| ApiError::bad_request("name a variable as ?name=X").with_field("name"))?;
    match spin_sdk::variables::get(&name).await {
        Ok(value) => Ok(success(&Variable { value })),
        Err(spin_sdk::variables::Error::Undefined(_)) => Err(ApiError::not_found(format!(
            "variable `{name}` is not defined for this component"
        ))
        .with_field("name")),
        Err(spin_sdk::variables::Error::InvalidName(why)) => Err(ApiError::bad_request(format!(
            "`{name}` is not a variable name: {why}"
        ))
        .with_field("name")),
        Err(e) => Err(ApiError::internal(format!(
            "variable `{name}` could not be read: {e}"
        ))),
    }
}

#[derive(Serialize)]
struct Env {
    env: std::collections::BTreeMap<String, String>,
}
