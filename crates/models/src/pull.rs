//! `pull`: fetch a model's files from its sources in order of preference, check every size
//! and sha256, and install the whole directory at once.

use crate::catalog::{ModelEntry, SourceKind};
use crate::digest::FileDigest;
use crate::fetch_error::FetchError;
use crate::options::PullOptions;
use crate::sources::{self, Job};
use crate::staging::staged_digest;
use crate::store::ModelStore;
use std::collections::BTreeMap;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

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
            let fetched = sources::fetch(kind, &job);
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
