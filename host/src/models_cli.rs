//! `songforge models list | pull | verify`: the command line over `songforge-models`.

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use songforge_models::{
    Catalog, FileStatus, ModelEntry, ModelState, ModelStore, PullOptions, PullOutcome, SourceKind,
};
use std::path::PathBuf;

/// `songforge models …`.
#[derive(clap::Args)]
pub struct ModelsArgs {
    /// The model catalog.
    #[arg(
        long,
        global = true,
        default_value = "models/catalog.toml",
        env = "SONGFORGE_CATALOG"
    )]
    catalog: PathBuf,
    /// Where models are installed.
    #[arg(
        long,
        global = true,
        default_value = "models/store",
        env = "SONGFORGE_MODELS"
    )]
    store: PathBuf,
    #[command(subcommand)]
    command: ModelsCommand,
}

#[derive(Subcommand)]
enum ModelsCommand {
    /// Every catalog model: id, task, size, default set, installed, licence.
    List,
    /// Download, check and install models; installed ones are skipped.
    Pull {
        /// Model ids (see `songforge models list`).
        #[arg(required_unless_present = "defaults", conflicts_with = "defaults")]
        ids: Vec<String>,
        /// Every model of the default set.
        #[arg(long)]
        defaults: bool,
        /// Use only this source (default: pip, then apt, then hf).
        #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(["hf", "pip", "apt"]))]
        source: Option<String>,
    },
    /// Rehash installed files and compare them with the catalog (default: every installed
    /// model).
    Verify {
        /// Model ids.
        ids: Vec<String>,
    },
}

/// Runs a `models` subcommand; an error means at least one model failed.
pub fn run(args: ModelsArgs) -> Result<()> {
    let catalog = Catalog::load(&args.catalog)?;
    let store = ModelStore::new(&args.store);
    match args.command {
        ModelsCommand::List => {
            list(&catalog, &store);
            Ok(())
        }
        ModelsCommand::Pull {
            ids,
            defaults,
            source,
        } => {
            let entries = if defaults {
                catalog.defaults().collect()
            } else {
                lookup(&catalog, &ids)?
            };
            let mut options = PullOptions::from_env();
            options.source = source
                .map(|s| s.parse::<SourceKind>())
                .transpose()
                .map_err(anyhow::Error::msg)?;
            pull(&store, &entries, &options)
        }
        ModelsCommand::Verify { ids } => {
            let entries = if ids.is_empty() {
                let installed: Vec<_> = catalog
                    .models()
                    .iter()
                    .filter(|m| store.installed(&m.id).is_some())
                    .collect();
                if installed.is_empty() {
                    println!("no models installed in {}", store.root().display());
                }
                installed
            } else {
                lookup(&catalog, &ids)?
            };
            verify(&store, &entries)
        }
    }
}

fn lookup<'a>(catalog: &'a Catalog, ids: &[String]) -> Result<Vec<&'a ModelEntry>> {
    ids.iter()
        .map(|id| {
            catalog.get(id).with_context(|| {
                format!(
                    "unknown model `{id}` in {}; `songforge models list` shows the catalog",
                    catalog.path().display()
                )
            })
        })
        .collect()
}

/// Decimal megabytes, as package indexes and MODELS.md give sizes.
fn megabytes(bytes: Option<u64>) -> String {
    match bytes {
        Some(b) if b >= 100_000 => format!("{:.1} MB", b as f64 / 1e6),
        Some(b) => format!("{:.2} MB", b as f64 / 1e6),
        None => "?".into(),
    }
}

fn list(catalog: &Catalog, store: &ModelStore) {
    let yes_no = |b: bool| if b { "yes" } else { "no" };
    let rows: Vec<[String; 6]> = catalog
        .models()
        .iter()
        .map(|m| {
            let installed = match (store.installed(&m.id), store.installed_intact(m)) {
                (_, Some(_)) => "yes",
                (Some(_), None) => "damaged",
                (None, _) => "no",
            };
            [
                m.id.clone(),
                m.task.clone(),
                megabytes(m.size()),
                yes_no(m.default).into(),
                installed.into(),
                m.licence.clone(),
            ]
        })
        .collect();
    let header = ["ID", "TASK", "SIZE", "DEFAULT", "INSTALLED", "LICENCE"].map(String::from);
    let mut widths = [0usize; 6];
    for row in std::iter::once(&header).chain(&rows) {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    for row in std::iter::once(&header).chain(&rows) {
        let line: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(cell, w)| format!("{cell:w$}"))
            .collect();
        println!("{}", line.join("  ").trim_end());
    }
    let notes: Vec<_> = catalog
        .models()
        .iter()
        .filter_map(|m| Some((&m.id, m.licence_note.as_ref()?)))
        .collect();
    if !notes.is_empty() {
        println!();
        for (id, note) in notes {
            println!("{id}: {note}");
        }
    }
    println!("\nstore: {}", store.root().display());
}

fn pull(store: &ModelStore, entries: &[&ModelEntry], options: &PullOptions) -> Result<()> {
    let mut failed = Vec::new();
    for entry in entries {
        match store.pull(entry, options) {
            Ok(PullOutcome::AlreadyInstalled { dir }) => {
                eprintln!("{}: installed ({})", entry.id, dir.display());
            }
            Ok(PullOutcome::Installed {
                dir,
                source,
                unpinned,
            }) => {
                eprintln!(
                    "{}: installed from {source} into {}",
                    entry.id,
                    dir.display()
                );
                for (file, got) in unpinned {
                    eprintln!(
                        "warning: {}/{file} is unpinned in the catalog, so it was not checked: \
                         {} bytes, sha256 {}",
                        entry.id, got.size, got.sha256
                    );
                }
            }
            Err(e) => {
                eprintln!("error: {e}");
                failed.push(entry.id.as_str());
            }
        }
    }
    if !failed.is_empty() {
        bail!("could not pull: {}", failed.join(", "));
    }
    Ok(())
}

fn verify(store: &ModelStore, entries: &[&ModelEntry]) -> Result<()> {
    let mut failed = Vec::new();
    for entry in entries {
        let report = store.verify(entry);
        let state = report.state();
        let word = match state {
            ModelState::Ok => "ok",
            ModelState::Unpinned => "unpinned",
            ModelState::Damaged => "mismatch",
            ModelState::NotInstalled => "missing (not installed)",
        };
        println!("{}: {word}", entry.id);
        for file in &report.files {
            let detail = match &file.status {
                FileStatus::Ok => continue,
                FileStatus::Unpinned(got) => {
                    format!("unpinned: {} bytes, sha256 {}", got.size, got.sha256)
                }
                FileStatus::Missing => "missing".into(),
                FileStatus::Unreadable(e) => format!("unreadable: {e}"),
                FileStatus::Mismatch {
                    expected_size,
                    expected_sha256,
                    actual,
                } => format!(
                    "mismatch: expected {} sha256 {}, found {} bytes sha256 {}",
                    expected_size.map_or("any size".into(), |s| format!("{s} bytes")),
                    expected_sha256.as_deref().unwrap_or("(unpinned)"),
                    actual.size,
                    actual.sha256
                ),
            };
            println!("  {}: {detail}", file.path);
        }
        if matches!(state, ModelState::Damaged | ModelState::NotInstalled) {
            failed.push(entry.id.as_str());
        }
    }
    if !failed.is_empty() {
        bail!("verification failed: {}", failed.join(", "));
    }
    Ok(())
}
