//! `POST /api/transcribe/`: speech or humming in, text (and notes) out.
//!
//! Not built yet: until its issue lands the route answers 501 with a message saying so,
//! rather than a made-up result that a client might take for real output.

use songforge_guest::request::require_method;
use songforge_guest::{ApiError, Reply};
use spin_sdk::http::{Method, Request};
use spin_sdk::http_service;

/// 405 for anything but POST, otherwise 501 `not_implemented`.
#[http_service]
async fn handle(req: Request) -> Result<Reply, ApiError> {
    require_method(&req, &[Method::POST])?;
    Err(ApiError::not_implemented("speech-to-text", "transcription"))
}
