//! The staging directory (`<store>/.partial/<id>/`): each file is written as `<file>.part`,
//! checked against the catalog's size and sha256, and only then given its name, so a file
//! under its own name there is always a checked one; `pull` installs the directory whole.

use crate::catalog::FileEntry;
use crate::digest::{FileDigest, HashingWriter, digest_file};
use crate::fetch_error::FetchError;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// Refuses `got` unless it has `file`'s catalog size and sha256 (where pinned).
pub(crate) fn check(file: &FileEntry, got: &FileDigest, origin: &str) -> Result<(), FetchError> {
    let size_ok = file.size.is_none_or(|s| s == got.size);
    let sha_ok = file.sha256.as_ref().is_none_or(|h| *h == got.sha256);
    if size_ok && sha_ok {
        Ok(())
    } else {
        Err(FetchError::Mismatch {
            file: file.path.clone(),
            origin: origin.into(),
            expected_size: file.size,
            expected_sha256: file.sha256.clone(),
            actual: got.clone(),
        })
    }
}

/// `<staging>/<file>.part`, where a file is written until it has been checked.
pub(crate) fn part_path(staging: &Path, file: &FileEntry) -> PathBuf {
    staging.join(format!("{}.part", file.path))
}

/// Gives a fully written `<file>.part` its name if it matches the catalog. A mismatch is
/// deleted: a complete but wrong file cannot be resumed into a right one.
pub(crate) fn accept_part(
    staging: &Path,
    file: &FileEntry,
    digest: &FileDigest,
    origin: &str,
) -> Result<(), FetchError> {
    let part = part_path(staging, file);
    if let Err(e) = check(file, digest, origin) {
        let _ = std::fs::remove_file(&part);
        return Err(e);
    }
    let dest = staging.join(&file.path);
    std::fs::rename(&part, &dest).map_err(FetchError::io(&dest))
}

/// Writes one file into `staging` through `fill`, checks it against the catalog, and only
/// then gives it its name. A refused file is deleted.
pub(crate) fn stage_file(
    staging: &Path,
    file: &FileEntry,
    origin: &str,
    fill: impl FnOnce(&mut dyn Write) -> Result<(), FetchError>,
) -> Result<FileDigest, FetchError> {
    let part = part_path(staging, file);
    let result = (|| {
        let out = File::create(&part).map_err(FetchError::io(&part))?;
        let mut w = HashingWriter::new(BufWriter::with_capacity(1 << 20, out));
        fill(&mut w)?;
        w.flush().map_err(FetchError::io(&part))?;
        let (out, digest) = w.finish();
        out.get_ref().sync_all().map_err(FetchError::io(&part))?;
        Ok(digest)
    })();
    match result {
        Ok(digest) => {
            accept_part(staging, file, &digest, origin)?;
            Ok(digest)
        }
        Err(e) => {
            let _ = std::fs::remove_file(&part);
            Err(e)
        }
    }
}

/// The digest of a file a previous attempt already fetched and checked, if it still matches
/// the catalog (which may have changed since); a stale one is deleted.
pub(crate) fn staged_digest(staging: &Path, file: &FileEntry) -> Option<FileDigest> {
    let path = staging.join(&file.path);
    let digest = digest_file(&path).ok()?;
    if check(file, &digest, "").is_ok() {
        Some(digest)
    } else {
        let _ = std::fs::remove_file(&path);
        None
    }
}
