//! The front door: static files from the directory mounted at [`ROOT`] (the repository's
//! `studio/`), the way Spin apps serve their front ends.
//!
//! - `GET /` is `index.html`; `GET /api/openapi.json` is the API description; any other
//!   path is the file of that name below the root.
//! - Each answer has the file's `Content-Type` and an `ETag` from its bytes; a matching
//!   `If-None-Match` gets 304. `Cache-Control: no-cache` makes browsers revalidate, so a new
//!   release is seen at once and an unchanged file costs no download.
//! - Paths are percent-decoded strictly and may not climb out of the root.

use bytes::Bytes;
use http::header::{self, HeaderValue};
use sha2::{Digest, Sha256};
use songforge_guest::conditional::if_none_match;
use songforge_guest::envelope::bytes_reply;
use songforge_guest::request::{header_str, percent_decode_text, require_method};
use songforge_guest::{ApiError, Reply};
use spin_sdk::http::{Method, Request, StatusCode};
use spin_sdk::http_service;

/// Where `spin.toml` mounts the files.
const ROOT: &str = "/studio";
/// The API description's route and file.
const OPENAPI_ROUTE: &str = "/api/openapi.json";

/// Serves one file.
#[http_service]
async fn handle(req: Request) -> Result<Reply, ApiError> {
    require_method(&req, &[Method::GET, Method::HEAD])?;
    let name = file_name(req.uri().path())?;
    let bytes = std::fs::read(format!("{ROOT}/{name}")).map_err(|_| {
        ApiError::not_found(format!(
            "there is no page or file at `{}`",
            req.uri().path()
        ))
        .with_field("path")
    })?;
    let etag = format!("\"{}\"", &hex::encode(Sha256::digest(&bytes))[..20]);
    let fresh = header_str(req.headers(), header::IF_NONE_MATCH.as_str())
        .is_some_and(|h| if_none_match(h, &etag));
    let (status, body) = if fresh {
        (StatusCode::NOT_MODIFIED, Bytes::new())
    } else {
        (StatusCode::OK, Bytes::from(bytes))
    };
    let mut reply = bytes_reply(status, &HeaderValue::from_static(content_type(&name)), body);
    let headers = reply.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, v);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    Ok(reply)
}

/// The file below the root that `path` names: `index.html` for `/` (and for a directory's
/// trailing slash), `openapi.json` for the API description.
fn file_name(path: &str) -> Result<String, ApiError> {
    if path == OPENAPI_ROUTE {
        return Ok("openapi.json".into());
    }
    let invalid = |why: &str| {
        ApiError::bad_request(format!(
            "`{}` is not a file path: {why}",
            path.escape_default()
        ))
        .with_field("path")
    };
    let decoded = percent_decode_text(path).map_err(|e| invalid(&e.to_string()))?;
    let mut segments = Vec::new();
    for segment in decoded.trim_start_matches('/').split('/') {
        match segment {
            "" => {}
            "." | ".." => return Err(invalid("it may not climb directories")),
            s if s.contains(['\\', '\0']) || s.starts_with('.') => {
                return Err(invalid("hidden and escaped names are not served"));
            }
            s => segments.push(s),
        }
    }
    if segments.is_empty() || decoded.ends_with('/') {
        segments.push("index.html");
    }
    Ok(segments.join("/"))
}

/// The `Content-Type` of a file, from its extension.
fn content_type(name: &str) -> &'static str {
    match name
        .rsplit_once('.')
        .map(|(_, ext)| ext.to_ascii_lowercase())
    {
        Some(ext) => match ext.as_str() {
            "html" => "text/html; charset=utf-8",
            "js" | "mjs" => "text/javascript; charset=utf-8",
            "css" => "text/css; charset=utf-8",
            "json" => "application/json",
            "svg" => "image/svg+xml",
            "png" => "image/png",
            "ico" => "image/x-icon",
            "webmanifest" => "application/manifest+json",
            "txt" => "text/plain; charset=utf-8",
            "wav" => "audio/wav",
            _ => "application/octet-stream",
        },
        None => "application/octet-stream",
    }
}
