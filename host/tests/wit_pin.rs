//! The vendored `wit/wasi-nn/wasi-nn.wit` must be the very file shipped in the pinned
//! `wasmtime-wasi-nn` crate, so guests and host agree on `wasi:nn@0.2.0-rc-2024-10-28` and a
//! wasmtime upgrade cannot silently leave the WIT behind.

use std::path::Path;
use std::process::Command;

#[test]
fn vendored_wasi_nn_wit_matches_the_pinned_wasmtime_wasi_nn() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let out = Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1"])
        .current_dir(&root)
        .output()
        .expect("run cargo metadata");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).expect("metadata JSON");
    let wasmtime_version = meta["packages"]
        .as_array()
        .and_then(|p| p.iter().find(|p| p["name"] == "wasmtime"))
        .and_then(|p| p["version"].as_str())
        .expect("wasmtime in the graph")
        .to_string();
    let nn = meta["packages"]
        .as_array()
        .and_then(|p| p.iter().find(|p| p["name"] == "wasmtime-wasi-nn"))
        .expect("wasmtime-wasi-nn in the graph");
    assert_eq!(
        nn["version"],
        wasmtime_version.as_str(),
        "wasmtime-wasi-nn follows wasmtime"
    );
    let crate_dir = Path::new(nn["manifest_path"].as_str().expect("path"))
        .parent()
        .expect("crate dir")
        .to_path_buf();
    let theirs = std::fs::read_to_string(crate_dir.join("wit/wasi-nn.wit")).expect("crate WIT");
    let ours = std::fs::read_to_string(root.join("wit/wasi-nn/wasi-nn.wit")).expect("vendored WIT");
    assert!(
        ours == theirs,
        "wit/wasi-nn/wasi-nn.wit differs from wasmtime-wasi-nn {wasmtime_version}'s"
    );
    assert!(ours.starts_with("package wasi:nn@0.2.0-rc-2024-10-28;"));
}
