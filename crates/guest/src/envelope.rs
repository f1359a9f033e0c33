//! The JSON envelope every SongForge response uses.
//!
//! Success bodies are `{"success": true, ...}`; failures are
//! `{"success": false, "error": {"code", "message", "field"?}}`. The host answers its own
//! errors (routing, body limits, traps, timeouts) with the same shape, so a client needs one
//! decoder for the whole API.

use bytes::Bytes;
use http::header::{self, HeaderName, HeaderValue};
use http::{Method, StatusCode};
use serde::Serialize;
use spin_sdk::http::{FullBody, IntoResponse};

/// The response type every component handler returns: a fully buffered body.
///
/// Buffered rather than streamed because every body we send (JSON, stored media) is already
/// in memory, and a known length lets us send `Content-Length`, which wasi-http checks
/// against the bytes actually written.
pub type Reply = http::Response<FullBody<Bytes>>;

/// The `Content-Type` of every envelope body.
pub const JSON_CONTENT_TYPE: &str = "application/json";

/// The machine-readable error codes of the API, one per HTTP status we use.
///
/// Clients branch on the code, not on the message, so the set is closed and each code always
/// travels with the same status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// 400: the request is malformed (bad JSON, bad field, bad name).
    BadRequest,
    /// 401: no API key, or one the server does not accept; carries `WWW-Authenticate`.
    Unauthorized,
    /// 404: the thing asked for does not exist (or belongs to another key).
    NotFound,
    /// 405: the route exists but not for this method; carries `Allow`.
    MethodNotAllowed,
    /// 413: the input is bigger than the service accepts.
    PayloadTooLarge,
    /// 415: the body's media type is not one this route reads.
    UnsupportedMediaType,
    /// 409: the thing is in a state that forbids this (a finished job canceled).
    Conflict,
    /// 416: the requested byte range lies outside the resource; carries `Content-Range`.
    RangeNotSatisfiable,
    /// 422: well-formed input that the model or engine cannot work with.
    Unprocessable,
    /// 500: something on our side failed.
    Internal,
    /// 501: the route is planned but not built yet.
    NotImplemented,
    /// 503: a dependency (model, queue) is unavailable right now; may carry `Retry-After`.
    ServiceUnavailable,
    /// 507: the caller's storage quota is full.
    InsufficientStorage,
    /// 504: the work did not finish in time.
    Timeout,
}

impl ErrorCode {
    /// The HTTP status this code is always sent with.
    pub fn status(self) -> StatusCode {
        match self {
            Self::BadRequest => StatusCode::BAD_REQUEST,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Conflict => StatusCode::CONFLICT,
            Self::RangeNotSatisfiable => StatusCode::RANGE_NOT_SATISFIABLE,
            Self::Unprocessable => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            Self::NotImplemented => StatusCode::NOT_IMPLEMENTED,
            Self::ServiceUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::InsufficientStorage => StatusCode::INSUFFICIENT_STORAGE,
            Self::Timeout => StatusCode::GATEWAY_TIMEOUT,
        }
    }

    /// The snake_case name clients see in `error.code`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BadRequest => "bad_request",
            Self::Unauthorized => "unauthorized",
            Self::NotFound => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::PayloadTooLarge => "payload_too_large",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::Conflict => "conflict",
            Self::RangeNotSatisfiable => "range_not_satisfiable",
            Self::Unprocessable => "unprocessable",
            Self::Internal => "internal",
            Self::NotImplemented => "not_implemented",
            Self::ServiceUnavailable => "service_unavailable",
            Self::InsufficientStorage => "insufficient_storage",
            Self::Timeout => "timeout",
        }
    }
}

/// An error a handler answers with: status, code, a human message, and optionally the one
/// input field at fault plus extra headers (`Allow`, `Retry-After`, `Content-Range`).
///
/// Handlers return `Result<Reply, ApiError>` and use `?` everywhere; the conversion into an
/// HTTP response happens once, here, so every error has the same shape.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    code: ErrorCode,
    message: String,
    field: Option<String>,
    headers: Vec<(HeaderName, HeaderValue)>,
}

impl ApiError {
    /// An error with the given code and human-readable message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            field: None,
            headers: Vec::new(),
        }
    }

    /// 400 `bad_request`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::BadRequest, message)
    }

    /// 404 `not_found`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::NotFound, message)
    }

    /// 413 `payload_too_large`.
    pub fn payload_too_large(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::PayloadTooLarge, message)
    }

    /// 415 `unsupported_media_type`.
    pub fn unsupported_media_type(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::UnsupportedMediaType, message)
    }

    /// 422 `unprocessable`.
    pub fn unprocessable(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unprocessable, message)
    }

    /// 500 `internal`.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Internal, message)
    }

    /// 500 `internal_error` from an error this component did not expect (encoding its own
    /// output, a resampler it configured): `.map_err(ApiError::internal_from)`.
    pub fn internal_from(error: impl std::fmt::Display) -> Self {
        Self::internal(error.to_string())
    }

    /// 503 `service_unavailable`.
    pub fn service_unavailable(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::ServiceUnavailable, message)
    }

    /// 504 `timeout`.
    pub fn timeout(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Timeout, message)
    }

    /// 405 `method_not_allowed` with the `Allow` header listing `allowed`.
    pub fn method_not_allowed(method: &Method, allowed: &[Method]) -> Self {
        let list = allowed
            .iter()
            .map(Method::as_str)
            .collect::<Vec<_>>()
            .join(", ");
        let error = Self::new(
            ErrorCode::MethodNotAllowed,
            format!("{method} is not allowed on this route; use {list}"),
        );
        match HeaderValue::from_str(&list) {
            Ok(value) => error.with_header(header::ALLOW, value),
            // Method names are tokens, so this cannot happen; the 405 still goes out without
            // the header rather than failing the request.
            Err(_) => error,
        }
    }

    /// 416 `range_not_satisfiable` with `Content-Range: bytes */len`, as RFC 9110 asks, so
    /// the client learns the real length.
    pub fn range_not_satisfiable(len: u64) -> Self {
        let error = Self::new(
            ErrorCode::RangeNotSatisfiable,
            format!("the requested range lies outside the {len} bytes of this resource"),
        );
        match HeaderValue::from_str(&format!("bytes */{len}")) {
            Ok(value) => error.with_header(header::CONTENT_RANGE, value),
            // Digits and ASCII only, so this cannot happen.
            Err(_) => error,
        }
    }

    /// 501 `not_implemented` for a feature that has its own issue: says what is coming and
    /// where to follow it, instead of faking a result.
    pub fn not_implemented(feature: &str, issue: &str) -> Self {
        Self::new(
            ErrorCode::NotImplemented,
            format!("{feature} is not implemented yet; see the {issue} issue"),
        )
    }

    /// A request field that failed validation: 422 when the value is well formed but out of
    /// range or unusable, 400 when it is missing or malformed; names the field.
    pub fn invalid_field(
        unprocessable: bool,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        let err = if unprocessable {
            Self::unprocessable(message)
        } else {
            Self::bad_request(message)
        };
        err.with_field(field)
    }

    /// Lyrics that cannot make a song of the asked length: 422 on `duration` (saying the
    /// shortest that fits) or on `lyrics` (longer than the longest song).
    pub fn song_fit(e: &songforge_song::FitError) -> Self {
        e.field_error().into()
    }

    /// Names the single input field at fault (`error.field`).
    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    /// Adds a response header (e.g. `Retry-After`).
    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }

    /// Adds `Retry-After: <seconds>`, for 503s caused by a momentarily full queue.
    pub fn with_retry_after(self, seconds: u32) -> Self {
        self.with_header(header::RETRY_AFTER, HeaderValue::from(seconds))
    }

    /// The error's code.
    pub fn code(&self) -> ErrorCode {
        self.code
    }

    /// The HTTP status the error is sent with.
    pub fn status(&self) -> StatusCode {
        self.code.status()
    }

    /// The human-readable message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The input field at fault, if exactly one is.
    pub fn field(&self) -> Option<&str> {
        self.field.as_deref()
    }

    /// The extra headers this error is sent with.
    pub fn headers(&self) -> &[(HeaderName, HeaderValue)] {
        &self.headers
    }

    /// The JSON body of this error.
    pub fn body(&self) -> serde_json::Value {
        let mut error = serde_json::json!({
            "code": self.code.as_str(),
            "message": self.message,
        });
        if let (Some(field), Some(map)) = (&self.field, error.as_object_mut()) {
            map.insert("field".into(), field.clone().into());
        }
        serde_json::json!({ "success": false, "error": error })
    }

    /// The complete HTTP response for this error.
    pub fn to_reply(&self) -> Reply {
        let mut reply = raw_json(self.status(), self.body().to_string().into_bytes());
        for (name, value) in &self.headers {
            reply.headers_mut().append(name.clone(), value.clone());
        }
        reply
    }
}

impl IntoResponse for ApiError {
    fn into_response(
        self,
    ) -> Result<spin_sdk::wasip3::http::types::Response, spin_sdk::wasip3::http::types::ErrorCode>
    {
        self.to_reply().into_response()
    }
}

/// Lets handlers return `Result<Reply, ApiError>` straight from `#[http_service]`: spin-sdk
/// sends an `Error::Response` as the response itself rather than as a transport failure.
/// A request field that cannot be used: 400 or 422, naming the field.
impl From<songforge_field_error::FieldError> for ApiError {
    fn from(e: songforge_field_error::FieldError) -> Self {
        ApiError::invalid_field(e.is_unacceptable(), e.field, e.message)
    }
}

impl From<ApiError> for spin_sdk::http::Error {
    fn from(error: ApiError) -> Self {
        match error.into_response() {
            Ok(response) => spin_sdk::http::Error::Response(response),
            Err(code) => spin_sdk::http::Error::ErrorCode(code),
        }
    }
}

/// Wraps a success body so it serialises as `{"success": true, ...fields of body}`.
#[derive(Serialize)]
struct Success<'a, T: Serialize> {
    success: bool,
    #[serde(flatten)]
    body: &'a T,
}

/// A `{"success": true, ...}` response with the given status; `body` must serialise to a JSON
/// object (a struct or a map), whose fields sit beside `success`.
///
/// A body that cannot be serialised is a bug on our side, so it becomes a 500 envelope rather
/// than a panic.
pub fn success_with_status<T: Serialize>(status: StatusCode, body: &T) -> Reply {
    match serde_json::to_vec(&Success {
        success: true,
        body,
    }) {
        Ok(bytes) => raw_json(status, bytes),
        Err(e) => ApiError::internal(format!("the response could not be encoded: {e}")).to_reply(),
    }
}

/// A 200 `{"success": true, ...}` response; see [`success_with_status`].
pub fn success<T: Serialize>(body: &T) -> Reply {
    success_with_status(StatusCode::OK, body)
}

/// A response with an arbitrary body, its `Content-Type` and an exact `Content-Length`.
///
/// 204 and 304 responses get neither header: they have no body, and for a 304 a length would
/// describe the representation the client already holds.
pub fn bytes_reply(status: StatusCode, content_type: &HeaderValue, body: Bytes) -> Reply {
    let no_body = matches!(status, StatusCode::NO_CONTENT | StatusCode::NOT_MODIFIED);
    let len = body.len();
    let mut reply = http::Response::new(FullBody::new(if no_body { Bytes::new() } else { body }));
    *reply.status_mut() = status;
    if !no_body {
        let headers = reply.headers_mut();
        headers.insert(header::CONTENT_TYPE, content_type.clone());
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    }
    reply
}

fn raw_json(status: StatusCode, body: Vec<u8>) -> Reply {
    bytes_reply(
        status,
        &HeaderValue::from_static(JSON_CONTENT_TYPE),
        Bytes::from(body),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_keeps_its_status() {
        let pairs = [
            (ErrorCode::BadRequest, 400, "bad_request"),
            (ErrorCode::NotFound, 404, "not_found"),
            (ErrorCode::MethodNotAllowed, 405, "method_not_allowed"),
            (ErrorCode::PayloadTooLarge, 413, "payload_too_large"),
            (
                ErrorCode::UnsupportedMediaType,
                415,
                "unsupported_media_type",
            ),
            (ErrorCode::Conflict, 409, "conflict"),
            (ErrorCode::RangeNotSatisfiable, 416, "range_not_satisfiable"),
            (ErrorCode::Unprocessable, 422, "unprocessable"),
            (ErrorCode::Internal, 500, "internal"),
            (ErrorCode::NotImplemented, 501, "not_implemented"),
            (ErrorCode::ServiceUnavailable, 503, "service_unavailable"),
            (ErrorCode::Timeout, 504, "timeout"),
        ];
        for (code, status, name) in pairs {
            assert_eq!(code.status().as_u16(), status);
            assert_eq!(code.as_str(), name);
        }
    }

    #[test]
    fn error_body_has_field_only_when_set() {
        let plain = ApiError::bad_request("nope").body();
        assert_eq!(plain["success"], false);
        assert_eq!(plain["error"]["code"], "bad_request");
        assert_eq!(plain["error"]["message"], "nope");
        assert!(plain["error"].get("field").is_none());
        let with = ApiError::bad_request("bad name").with_field("name").body();
        assert_eq!(with["error"]["field"], "name");
    }

    #[test]
    fn method_not_allowed_lists_allow() {
        let e = ApiError::method_not_allowed(&Method::DELETE, &[Method::GET, Method::HEAD]);
        let reply = e.to_reply();
        assert_eq!(reply.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(reply.headers()[header::ALLOW], "GET, HEAD");
        assert_eq!(reply.headers()[header::CONTENT_TYPE], JSON_CONTENT_TYPE);
        assert!(e.message().contains("DELETE"));
    }

    #[test]
    fn range_not_satisfiable_names_the_length() {
        let reply = ApiError::range_not_satisfiable(1234).to_reply();
        assert_eq!(reply.status(), StatusCode::RANGE_NOT_SATISFIABLE);
        assert_eq!(reply.headers()[header::CONTENT_RANGE], "bytes */1234");
    }

    #[test]
    fn retry_after_is_a_header() {
        let reply = ApiError::service_unavailable("busy: queue full")
            .with_retry_after(1)
            .to_reply();
        assert_eq!(reply.headers()[header::RETRY_AFTER], "1");
    }

    #[test]
    fn success_flattens_the_body() {
        #[derive(Serialize)]
        struct Body {
            status: &'static str,
        }
        let reply = success_with_status(StatusCode::CREATED, &Body { status: "ok" });
        assert_eq!(reply.status(), StatusCode::CREATED);
        assert_eq!(reply.headers()[header::CONTENT_TYPE], JSON_CONTENT_TYPE);
        assert_eq!(reply.headers()[header::CONTENT_LENGTH], "30");
    }

    #[test]
    fn not_modified_has_no_length() {
        let reply = bytes_reply(
            StatusCode::NOT_MODIFIED,
            &HeaderValue::from_static("audio/wav"),
            Bytes::from_static(b"abc"),
        );
        assert!(reply.headers().get(header::CONTENT_LENGTH).is_none());
    }
}
