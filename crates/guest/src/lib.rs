//! What every SongForge component shares, so that components stay thin.
//!
//! - [`access`]: the caller's API key, and which stored things it may see.
//! - [`envelope`]: the `{"success": ...}` JSON envelope and [`ApiError`], the one error type
//!   handlers return.
//! - [`request`]: method checks, path and query, JSON and `multipart/form-data` bodies.
//! - [`media`]: the key-value media store behind `/media/<name>`.
//! - [`input`]: stored media by URL, audio decoding with one length rule, forms, seeds, the
//!   mounted pronunciation dictionary.
//! - [`retention`]: how long media and jobs are kept, each key's storage quota, the sweep.
//! - [`settings`]: Spin variables with defaults for blank or unusable values.
//! - [`timing`]: where a request's time went, as `timings_ms` and `Server-Timing`.
//! - [`conditional`]: `Range`, `If-None-Match` and `If-Range` decisions for serving media.
//! - [`nn`]: the wasi-nn client and its error mapping.
//! - [`host_info`]: what the host says about itself (version, device, components).
//!
//! Handlers look like
//! `async fn handle(req: Request) -> Result<Reply, ApiError>`: spin-sdk turns the error side
//! into its JSON response, so `?` works everywhere.

pub mod access;
pub mod conditional;
pub mod envelope;
pub mod host_info;
pub mod input;
pub mod media;
pub mod nn;
pub mod request;
pub mod retention;
pub mod settings;
pub mod timing;

pub use envelope::{ApiError, ErrorCode, Reply, success, success_with_status};
