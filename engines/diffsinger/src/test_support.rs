//! What tests of the `singer` graph need: a tiny voicebank of the real layout, and the
//! installed ONNX Runtime. The end-to-end suite gets it with the `test-support` feature; this
//! crate's own tests (`tests/engine.rs`) compile the file in directly.

use std::path::{Path, PathBuf};

/// The repository root (this crate lives in `engines/diffsinger`).
fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A tiny DiffSinger voicebank written into `dir` by
/// `engines/diffsinger/tests/fixtures/make_tiny_voicebank.py` (the same layout and ONNX
/// interfaces as a real bank; its vocoder sings a sine at f0, loud on vowels, silent on `SP`).
/// The script needs the `onnx` Python package, which `make test` installs into
/// `target/pytools`; panics with that hint when it fails. Returns `dir`.
pub fn tiny_voicebank(dir: &Path) -> PathBuf {
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/make_tiny_voicebank.py");
    let pytools = repo().join("target/pytools");
    let path = match std::env::var_os("PYTHONPATH") {
        Some(p) => {
            let mut all = vec![pytools];
            all.extend(std::env::split_paths(&p));
            std::env::join_paths(all).expect("PYTHONPATH")
        }
        None => pytools.into_os_string(),
    };
    let out = std::process::Command::new("python3")
        .arg(&script)
        .arg(dir)
        .env("PYTHONPATH", path)
        .output()
        .expect("python3 runs (a fresh machine has it)");
    assert!(
        out.status.success(),
        "writing the tiny voicebank failed (`make test` installs the onnx package): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    dir.to_path_buf()
}

/// The installed ONNX Runtime library: `$SONGFORGE_ONNXRUNTIME`, else `libonnxruntime.so` of
/// the model store's `onnxruntime` (the store is `$SONGFORGE_MODELS`, else `models/store`),
/// as the host finds it. `make test` pulls it.
pub fn onnx_runtime_library() -> PathBuf {
    if let Some(path) = std::env::var_os("SONGFORGE_ONNXRUNTIME") {
        return PathBuf::from(path);
    }
    std::env::var_os("SONGFORGE_MODELS")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("models/store"))
        .join("onnxruntime/libonnxruntime.so")
}
