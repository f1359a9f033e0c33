//! Who is calling this instance. A component that maps the `api_keys` variable calls
//! [`authenticate`] first; everything it then stores is filed under the caller, and stored
//! media and jobs of another key look absent (404, never 403, so names do not leak).
//!
//! The caller is kept for the instance: Spin (and the SongForge host) make a fresh instance
//! per request, so it is this request's caller, and a song job's work after its 202 runs in
//! the same instance, as the same caller.

use crate::envelope::{ApiError, ErrorCode};
use http::header::{self, HeaderValue};
use songforge_access::ApiKeys;
use spin_sdk::http::Request;
use std::sync::OnceLock;

/// This instance's caller, `None` while keys are off (everyone is anonymous): its owner id,
/// and its `Authorization` to pass on to the components a song job calls. Kept in memory
/// only: a key is never written to the store.
static CALLER: OnceLock<Option<(String, HeaderValue)>> = OnceLock::new();

/// Checks the request's `Authorization` against the `api_keys` variable and remembers the
/// caller. A component without the variable mapped, or with it blank, serves everyone.
pub async fn authenticate(req: &Request) -> Result<(), ApiError> {
    let configured = spin_sdk::variables::get(songforge_access::VARIABLE)
        .await
        .unwrap_or_default();
    let keys = ApiKeys::parse(&configured).map_err(|e| ApiError::internal(e.to_string()))?;
    let auth = req.headers().get(header::AUTHORIZATION);
    let caller = keys
        .check(auth.map(HeaderValue::as_bytes))
        .map_err(|denied| {
            ApiError::new(ErrorCode::Unauthorized, denied.to_string()).with_header(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(songforge_access::CHALLENGE),
            )
        })?;
    let _ = CALLER.set(
        caller
            .zip(auth.cloned())
            .map(|(k, a)| (k.as_str().to_string(), a)),
    );
    Ok(())
}

/// The caller's owner id, `None` when keys are off.
pub fn caller() -> Option<&'static str> {
    CALLER.get()?.as_ref().map(|(owner, _)| owner.as_str())
}

/// Whether the caller may see something filed under `owner`: everything is visible while
/// keys are off, and what was stored before they were turned on belongs to everyone.
pub fn may_see(owner: Option<&str>) -> bool {
    match (caller(), owner) {
        (None, _) | (_, None) => true,
        (Some(me), Some(o)) => me == o,
    }
}

/// The `Authorization` header to pass on when calling another component for the caller
/// (a song job's stages), so that what they store is the caller's too.
pub fn forwarded_authorization() -> Option<&'static HeaderValue> {
    CALLER.get()?.as_ref().map(|(_, auth)| auth)
}
