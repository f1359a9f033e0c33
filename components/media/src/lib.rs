//! `/media/...`: uploads in, stored media out.
//!
//! - `POST /media/` stores a file sent as multipart field `file` or as a raw body with its
//!   own `Content-Type`, and answers 201 with its URL.
//! - `GET|HEAD /media/<name>` serves it with `ETag`, `If-None-Match` → 304, and a single
//!   `Range` → 206 (or 416), so audio players can seek and caches can revalidate.
//! - `DELETE /media/<name>` removes the caller's own file.
//!
//! With API keys on, every file belongs to the key that stored it: another key gets 404.

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use songforge_guest::conditional::{
    RangeDecision, content_range, decide_range, if_none_match, if_range_allows,
};
use songforge_guest::envelope::bytes_reply;
use songforge_guest::media::{self, MediaFormat, MediaMeta, validate_name};
use songforge_guest::request::{
    self, header_str, multipart_boundary, parse_multipart, path_info, percent_decode_text,
    require_method,
};
use songforge_guest::{ApiError, Reply, success_with_status};
use spin_sdk::http::{Method, Request, StatusCode};
use spin_sdk::http_service;

/// The name prefix of uploaded files (`upload_<id>.<ext>`).
const UPLOAD_KIND: &str = "upload";
/// The multipart field holding the upload.
const FILE_FIELD: &str = "file";
/// Names are random and a name's bytes never change, so a copy may be kept forever.
const CACHE_CONTROL: &str = "public, max-age=31536000, immutable";
/// The same for a file that belongs to an API key.
const PRIVATE_CACHE_CONTROL: &str = "private, max-age=31536000, immutable";

/// Routes on the path below `/media`: empty means the collection (POST), anything else a
/// file name (GET, HEAD).
#[http_service]
async fn handle(req: Request) -> Result<Reply, ApiError> {
    songforge_guest::access::authenticate(&req).await?;
    // Expired media and jobs are deleted after this response, when a sweep is due.
    spin_sdk::wasip3::spawn(songforge_guest::retention::sweep_if_due());
    let info = path_info(&req);
    let raw_name = info.strip_prefix('/').unwrap_or(&info);
    if raw_name.is_empty() {
        require_method(&req, &[Method::POST])?;
        return upload(req).await;
    }
    require_method(&req, &[Method::GET, Method::HEAD, Method::DELETE])?;
    let name = decode_name(raw_name)?;
    if req.method() == Method::DELETE {
        return delete(&name).await;
    }
    serve(&req, &name).await
}

/// `DELETE /media/<name>`: the file is gone for readers at once (its record goes first).
async fn delete(name: &str) -> Result<Reply, ApiError> {
    let meta = media::get_media_meta(name)
        .await?
        .ok_or_else(|| not_found(name))?;
    media::delete_media(name).await?;
    Ok(songforge_guest::success(&Deleted {
        deleted: name,
        bytes: meta.bytes,
    }))
}

/// The answer to a delete: which file, and the bytes it freed.
#[derive(serde::Serialize)]
struct Deleted<'a> {
    deleted: &'a str,
    bytes: u64,
}

fn not_found(name: &str) -> ApiError {
    ApiError::not_found(format!("there is no media called `{name}`")).with_field("name")
}

/// The media name from its URL segment: percent-decoded strictly, then validated, so that
/// `..%2F` and friends are refused however they are spelled.
fn decode_name(raw: &str) -> Result<String, ApiError> {
    let invalid = |why: &str| {
        ApiError::bad_request(format!(
            "`{}` is not a valid media name: {why}",
            raw.escape_default()
        ))
        .with_field("name")
    };
    let name = percent_decode_text(raw).map_err(|e| invalid(&e.to_string()))?;
    validate_name(&name)?;
    Ok(name)
}

/// `POST /media/`: stores the upload as `upload_<id>.<ext>`.
async fn upload(req: Request) -> Result<Reply, ApiError> {
    let (parts, body) = request::read_body(req).await?;
    let (format, data) = if request::media_type(&parts.headers).as_deref()
        == Some("multipart/form-data")
    {
        let content_type = header_str(&parts.headers, header::CONTENT_TYPE.as_str()).unwrap_or("");
        let boundary = multipart_boundary(content_type)?;
        let file = parse_multipart(&body, &boundary)?
            .into_iter()
            .find(|part| part.name == FILE_FIELD)
            .ok_or_else(|| {
                ApiError::bad_request(format!(
                    "the form has no `{FILE_FIELD}` field; send the upload in it"
                ))
                .with_field(FILE_FIELD)
            })?;
        if file.data.is_empty() {
            return Err(ApiError::bad_request("the uploaded file is empty").with_field(FILE_FIELD));
        }
        let format = resolve_format(file.media_type(), file.filename.as_deref(), &file.data)?;
        (format, file.data)
    } else {
        if body.is_empty() {
            return Err(ApiError::bad_request(
                "the request body is empty; send the file's bytes or a multipart form",
            ));
        }
        let declared = request::media_type(&parts.headers);
        (resolve_format(declared.as_deref(), None, &body)?, body)
    };
    let stored =
        media::put_media(UPLOAD_KIND, format.extension, format.content_type, &data).await?;
    let mut reply = success_with_status(StatusCode::CREATED, &stored);
    if let Ok(location) = HeaderValue::from_str(&stored.url) {
        reply.headers_mut().insert(header::LOCATION, location);
    }
    Ok(reply)
}

/// Which stored format an upload is. A declared type must be one the store accepts; only
/// an absent or generic (`application/octet-stream`) type is inferred, from the file name
/// and then the magic bytes.
fn resolve_format(
    declared: Option<&str>,
    filename: Option<&str>,
    data: &[u8],
) -> Result<&'static MediaFormat, ApiError> {
    let accepted = || {
        media::FORMATS
            .iter()
            .map(|f| f.content_type.split(';').next().unwrap_or(f.content_type))
            .collect::<Vec<_>>()
            .join(", ")
    };
    match declared {
        Some(ct) if ct != "application/octet-stream" => MediaFormat::from_content_type(ct)
            .ok_or_else(|| {
                ApiError::unsupported_media_type(format!(
                    "`{ct}` is not a media type the store accepts; use one of {}",
                    accepted()
                ))
                .with_field("content_type")
            }),
        _ => filename
            .and_then(MediaFormat::from_file_name)
            .or_else(|| MediaFormat::sniff(data))
            .ok_or_else(|| {
                ApiError::unsupported_media_type(format!(
                    "the upload's type could not be recognised; send a Content-Type, one of {}",
                    accepted()
                ))
                .with_field("content_type")
            }),
    }
}

/// `GET|HEAD /media/<name>`.
///
/// HEAD is answered exactly like GET, body included: wasi-http checks `Content-Length`
/// against the bytes the guest writes, and the HTTP server drops a HEAD body on the wire.
async fn serve(req: &Request, name: &str) -> Result<Reply, ApiError> {
    let meta = media::get_media_meta(name)
        .await?
        .ok_or_else(|| not_found(name))?;
    let headers = req.headers();

    if header_str(headers, header::IF_NONE_MATCH.as_str())
        .is_some_and(|h| if_none_match(h, &meta.etag))
    {
        let mut reply = bytes_reply(StatusCode::NOT_MODIFIED, &content_type(&meta), Bytes::new());
        add_cache_headers(reply.headers_mut(), &meta);
        return Ok(reply);
    }

    let len = meta.bytes;
    let decision = if req.method() == Method::GET
        && header_str(headers, header::IF_RANGE.as_str())
            .is_none_or(|h| if_range_allows(h, &meta.etag))
    {
        decide_range(header_str(headers, header::RANGE.as_str()), len)
    } else {
        RangeDecision::Full
    };
    if decision == RangeDecision::Unsatisfiable {
        return Err(ApiError::range_not_satisfiable(len));
    }

    let bytes = Bytes::from(media::get_media_bytes(name, &meta).await?);
    let mut reply = match decision {
        RangeDecision::Partial { start, end } => {
            let slice = usize::try_from(start)
                .ok()
                .zip(usize::try_from(end).ok())
                .and_then(|(s, e)| (e < bytes.len()).then(|| bytes.slice(s..=e)))
                .ok_or_else(|| ApiError::internal("the stored media changed while being read"))?;
            let mut reply = bytes_reply(StatusCode::PARTIAL_CONTENT, &content_type(&meta), slice);
            if let Ok(value) = HeaderValue::from_str(&content_range(start, end, len)) {
                reply.headers_mut().insert(header::CONTENT_RANGE, value);
            }
            reply
        }
        _ => bytes_reply(StatusCode::OK, &content_type(&meta), bytes),
    };
    add_cache_headers(reply.headers_mut(), &meta);
    Ok(reply)
}

fn content_type(meta: &MediaMeta) -> HeaderValue {
    HeaderValue::from_str(&meta.content_type)
        .unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream"))
}

fn add_cache_headers(headers: &mut HeaderMap, meta: &MediaMeta) {
    if let Ok(etag) = HeaderValue::from_str(&meta.etag) {
        headers.insert(header::ETAG, etag);
    }
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    // A key's own file may be kept by the browser that fetched it, never by a shared cache.
    let cache = match meta.owner {
        Some(_) => PRIVATE_CACHE_CONTROL,
        None => CACHE_CONTROL,
    };
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    // Uploads are user content: never let a browser reinterpret them as something runnable.
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
}
