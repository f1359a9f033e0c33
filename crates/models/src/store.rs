//! The model store: one directory per installed model, filled atomically.
//!
//! ```text
//! <root>/<id>/                 a complete, verified install (only ever created by a rename)
//! <root>/.partial/<id>/        files being fetched; `<file>.part` while a download runs
//! <root>/.partial/<id>.pip/    wheels, <id>.apt/ packages (removed after an install)
//! <root>/.partial/<id>.lock    held while one process pulls <id>
//! ```

use crate::catalog::ModelEntry;
use crate::digest::{FileDigest, digest_file};
use std::io;
use std::path::{Path, PathBuf};

/// Environment variable that overrides the store's root.
pub const STORE_ENV: &str = "SONGFORGE_MODELS";
/// The root used when nothing else is given, relative to the working directory.
pub const DEFAULT_STORE: &str = "models/store";
/// Directory under the root where installs are assembled.
pub(crate) const PARTIAL_DIR: &str = ".partial";

/// Where models are installed.
#[derive(Debug, Clone)]
pub struct ModelStore {
    root: PathBuf,
}

impl ModelStore {
    /// A store at `root` (created when something is first installed).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// A store at `$SONGFORGE_MODELS` if set and non-empty, else at `default`.
    pub fn from_env_or(default: impl Into<PathBuf>) -> Self {
        match std::env::var_os(STORE_ENV) {
            Some(root) if !root.is_empty() => Self::new(root),
            _ => Self::new(default),
        }
    }

    /// The store's root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The directory of model `id`, if its installation completed.
    ///
    /// Installs are assembled elsewhere and renamed into place whole, so a directory here is
    /// always a finished one.
    pub fn installed(&self, id: &str) -> Option<PathBuf> {
        let dir = self.model_dir(id);
        dir.is_dir().then_some(dir)
    }

    /// Where model `id` is (or would be) installed.
    pub fn model_dir(&self, id: &str) -> PathBuf {
        self.root.join(id)
    }

    pub(crate) fn partial_root(&self) -> PathBuf {
        self.root.join(PARTIAL_DIR)
    }

    /// The installed directory of `entry` if every file is there with its catalog size (a
    /// cheap check; [`ModelStore::verify`] rehashes).
    pub fn installed_intact(&self, entry: &ModelEntry) -> Option<PathBuf> {
        let dir = self.installed(&entry.id)?;
        let intact = entry.files.iter().all(|f| {
            std::fs::metadata(dir.join(&f.path))
                .is_ok_and(|m| m.is_file() && f.size.is_none_or(|s| s == m.len()))
        });
        intact.then_some(dir)
    }

    /// Rehashes every installed file of `entry` and compares it with the catalog.
    pub fn verify(&self, entry: &ModelEntry) -> Verification {
        let Some(dir) = self.installed(&entry.id) else {
            return Verification {
                id: entry.id.clone(),
                dir: None,
                files: Vec::new(),
            };
        };
        let files = entry
            .files
            .iter()
            .map(|f| {
                let status = match digest_file(&dir.join(&f.path)) {
                    Err(e) if e.kind() == io::ErrorKind::NotFound => FileStatus::Missing,
                    Err(e) => FileStatus::Unreadable(e.to_string()),
                    Ok(got) => {
                        let size_ok = f.size.is_none_or(|s| s == got.size);
                        match &f.sha256 {
                            Some(want) if size_ok && *want == got.sha256 => FileStatus::Ok,
                            None if size_ok => FileStatus::Unpinned(got),
                            _ => FileStatus::Mismatch {
                                expected_size: f.size,
                                expected_sha256: f.sha256.clone(),
                                actual: got,
                            },
                        }
                    }
                };
                FileReport {
                    path: f.path.clone(),
                    status,
                }
            })
            .collect();
        Verification {
            id: entry.id.clone(),
            dir: Some(dir),
            files,
        }
    }

    /// Moves a fully fetched and checked `staging` directory into place as `<root>/<id>`,
    /// replacing a damaged install if there is one. Anything in `staging` that is not one of
    /// the model's files (a stale `.part`) is dropped first.
    pub(crate) fn install(&self, entry: &ModelEntry, staging: &Path) -> io::Result<PathBuf> {
        for item in std::fs::read_dir(staging)? {
            let item = item?;
            let keep = item
                .file_name()
                .to_str()
                .is_some_and(|n| entry.files.iter().any(|f| f.path == n));
            if !keep {
                if item.file_type()?.is_dir() {
                    std::fs::remove_dir_all(item.path())?;
                } else {
                    std::fs::remove_file(item.path())?;
                }
            }
        }
        sync_dir(staging)?;
        let target = self.model_dir(&entry.id);
        // A damaged install is moved aside first: rename cannot replace a non-empty directory,
        // and the store must never show a half-replaced one.
        let old = self.partial_root().join(format!("{}.old", entry.id));
        let had_old = target.exists();
        if had_old {
            if old.exists() {
                std::fs::remove_dir_all(&old)?;
            }
            std::fs::rename(&target, &old)?;
        }
        std::fs::rename(staging, &target)?;
        sync_dir(&self.root)?;
        if had_old {
            std::fs::remove_dir_all(&old)?;
        }
        Ok(target)
    }
}

/// Makes a rename or new entries in `dir` durable.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

/// The result of [`ModelStore::verify`] for one model.
#[derive(Debug, Clone)]
pub struct Verification {
    /// Model id.
    pub id: String,
    /// The install directory, `None` when the model is not installed.
    pub dir: Option<PathBuf>,
    /// One report per catalog file (empty when not installed).
    pub files: Vec<FileReport>,
}

/// One file's state.
#[derive(Debug, Clone)]
pub struct FileReport {
    /// File name inside the model's directory.
    pub path: String,
    /// What verification found.
    pub status: FileStatus,
}

/// What verification found for one file.
#[derive(Debug, Clone)]
pub enum FileStatus {
    /// Size and sha256 match the catalog.
    Ok,
    /// The catalog pins no sha256 for this file; here is what is installed.
    Unpinned(FileDigest),
    /// Size or sha256 differ from the catalog.
    Mismatch {
        /// The catalog's size, if pinned.
        expected_size: Option<u64>,
        /// The catalog's sha256, if pinned.
        expected_sha256: Option<String>,
        /// What is installed.
        actual: FileDigest,
    },
    /// The file is not in the install directory.
    Missing,
    /// The file is there but could not be read.
    Unreadable(String),
}

/// A model's overall state, worst file first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelState {
    /// Every file matches its pin.
    Ok,
    /// Every pinned file matches, but some files have no pin.
    Unpinned,
    /// A file is missing, unreadable or differs from its pin.
    Damaged,
    /// The model is not installed.
    NotInstalled,
}

impl Verification {
    /// The model's overall state.
    pub fn state(&self) -> ModelState {
        if self.dir.is_none() {
            return ModelState::NotInstalled;
        }
        let mut state = ModelState::Ok;
        for f in &self.files {
            match f.status {
                FileStatus::Ok => {}
                FileStatus::Unpinned(_) => state = ModelState::Unpinned,
                _ => return ModelState::Damaged,
            }
        }
        state
    }
}
