//! The front door over real HTTP: the studio's files (types, ETags, 304, no path escapes)
//! and the OpenAPI document, which must describe every route of `spin.toml` and be what the
//! running app does. Schemathesis (installed by `make test`) checks that last part against
//! the live host: the document's examples, then generated requests on the routes that answer
//! at once, with no 5xx and no response that departs from the schema.

use http::{Method, StatusCode};
use serde_json::Value;
use songforge_e2e::*;
use std::process::Command;

/// The routes `spin.toml` declares, as written (`/api/health`, `/media/...`).
fn manifest_routes() -> Vec<String> {
    let text = std::fs::read_to_string(app_manifest()).expect("read spin.toml");
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("route = \""))
        .filter_map(|r| r.strip_suffix('"'))
        .map(str::to_string)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_studio_files_are_served_with_types_etags_and_no_escapes() {
    let state = scratch_dir("front-files");
    let server = start(config(app_manifest(), &state)).await;
    let http = Http::new(server.addr);
    let page = http.get("/").await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    let on_disk = std::fs::read(repo().join("studio/index.html")).expect("studio/index.html");
    assert_eq!(page.body.as_ref(), on_disk.as_slice());
    let etag = page.header("etag").expect("an ETag").to_string();
    assert_eq!(page.header("cache-control"), Some("no-cache"));
    let again = http
        .send(Method::GET, "/", &[("if-none-match", etag.as_str())], "")
        .await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);
    assert!(again.body.is_empty());
    for escape in [
        "/../spin.toml",
        "/%2e%2e/spin.toml",
        "/a/../../Cargo.toml",
        "/.git/config",
    ] {
        let r = http.get(escape).await;
        expect_error(&r, StatusCode::BAD_REQUEST, Some("path"));
    }
    expect_error(
        &http.get("/no-such-page.html").await,
        StatusCode::NOT_FOUND,
        Some("path"),
    );
    let script = http.get("/studio.js").await;
    assert_eq!(script.status, StatusCode::OK);
    assert_eq!(
        script.header("content-type"),
        Some("text/javascript; charset=utf-8")
    );
    assert_eq!(script.header("x-content-type-options"), Some("nosniff"));
    let r = http.send(Method::POST, "/", &[], "x").await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    // The routes of the API are not shadowed by the front's catch-all.
    assert_eq!(http.get("/api/health/").await.json()["status"], "ok");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_covers_every_route_and_matches_the_running_app() {
    let state = scratch_dir("front-openapi");
    let server = start(song_config(&state)).await;
    let http = Http::new(server.addr);
    let r = http.get("/api/openapi.json").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("content-type"), Some("application/json"));
    let doc: Value = r.json();
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().expect("paths");
    for route in manifest_routes() {
        let prefix = route.trim_end_matches("...").trim_end_matches('/');
        let documented = paths.keys().any(|p| {
            p == &route
                || p.trim_end_matches('/') == prefix
                || (route.ends_with("...") && p.starts_with(prefix))
        });
        assert!(
            documented,
            "spin.toml route {route} is not in the OpenAPI document"
        );
    }
    // Every operation names its error answers with the shared error envelope.
    for (path, item) in paths {
        for (method, op) in item.as_object().expect("path item") {
            if method == "parameters" {
                continue;
            }
            assert!(
                op["operationId"].is_string(),
                "{method} {path} has no operationId"
            );
            assert!(
                op["responses"].as_object().is_some_and(|r| !r.is_empty()),
                "{method} {path}"
            );
        }
    }

    // Schemathesis against the live host.
    let base = format!("http://{}", server.addr);
    let schema = format!("{base}/api/openapi.json");
    let pytools = repo().join("target/pytools");
    let hooks = repo().join("tests/openapi/hooks.py").display().to_string();
    let settings = repo()
        .join("tests/openapi/schemathesis.toml")
        .display()
        .to_string();
    let schemathesis = |args: &[&str]| {
        let out = Command::new("python3")
            .env("PYTHONPATH", &pytools)
            .env("SCHEMATHESIS_HOOKS", &hooks)
            .args([
                "-c",
                "import sys; from schemathesis.cli import schemathesis; sys.argv[0] = 'schemathesis'; sys.exit(schemathesis())",
                "--config-file",
                &settings,
                "run",
                &schema,
                "--url",
                &base,
                "--request-timeout",
                "180",
                "--max-response-time",
                "180",
                "--no-color",
            ])
            .args(args)
            .current_dir(&state)
            .output()
            .expect("run schemathesis (make test installs it into target/pytools)");
        let text = String::from_utf8_lossy(&out.stdout).to_string()
            + &String::from_utf8_lossy(&out.stderr);
        eprintln!("{text}");
        assert!(
            out.status.success(),
            "schemathesis {args:?} found failures:\n{text}"
        );
    };
    // Every example in the document, on every route (a whole song included).
    schemathesis(&["--phases", "examples"]);
    // Generated requests, valid and not, on the routes that answer without model work.
    schemathesis(&[
        "--phases",
        "coverage,fuzzing",
        "-n",
        "40",
        "--include-operation-id",
        "health",
        "--include-operation-id",
        "openapi",
        "--include-operation-id",
        "uploadMedia",
        "--include-operation-id",
        "getMedia",
        "--include-operation-id",
        "listSongs",
        "--include-operation-id",
        "getSong",
        "--include-operation-id",
        "cancelSong",
        "--include-operation-id",
        "studio",
    ]);
    server.shutdown().await;
}

/// Where a browser test leaves its screenshots (kept after the run, for people to look at).
fn artefacts(name: &str) -> std::path::PathBuf {
    let dir = repo().join("target/artefacts").join(name);
    // Only this run's pictures: a failure's screenshot from an earlier run would mislead.
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create target/artefacts/studio");
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_studio_makes_songs_in_a_real_browser() {
    let state = scratch_dir("front-browser");
    let server = start(song_config(&state)).await;
    // Chromium's fake microphone plays this hum over and over.
    let hum = state.join("hum.wav");
    std::fs::write(&hum, hum_wav(&HUM_TUNE, 4.0)).expect("write the hum");
    // Chromium plays silence from a path with `..` in it.
    let hum = hum.canonicalize().expect("the hum's path");
    // …then a spoken idea: "Music gives a soul to the universe and wings to the mind."
    let speech = repo()
        .join("tests/fixtures/speech/clip3.wav")
        .canonicalize()
        .expect("the speech clip's path");
    let seen = run_studio_script(&[
        format!("http://{}", server.addr),
        hum.display().to_string(),
        speech.display().to_string(),
        artefacts("studio").display().to_string(),
    ]);
    assert!(
        seen["theme"]["duration_s"].as_f64().unwrap_or(0.0) > 20.0,
        "{seen}"
    );
    assert!(
        seen["hum"]["duration_s"].as_f64().unwrap_or(0.0) > 2.0,
        "{seen}"
    );
    server.shutdown().await;
}

/// Runs tests/browser/studio.py with `args`; its JSON summary of what it saw.
fn run_studio_script(args: &[String]) -> Value {
    let out = Command::new("python3")
        .env("PYTHONPATH", repo().join("target/pytools"))
        .arg(repo().join("tests/browser/studio.py"))
        .args(args)
        .output()
        .expect("run tests/browser/studio.py (make test installs playwright and chromium)");
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    eprintln!("{text}");
    assert!(out.status.success(), "the studio test failed:\n{text}");
    serde_json::from_str(
        text.lines()
            .rev()
            .find(|l| l.starts_with('{'))
            .expect("the browser test's summary"),
    )
    .expect("a JSON summary")
}

/// With API keys on, the page asks for a key, sends it, and plays what it stored through it:
/// an <audio> element cannot send `Authorization`, so the page fetches the bytes itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_studio_sends_its_key_for_stored_files() {
    const KEY: &str = "studio-key-5e1d";
    let state = scratch_dir("front-browser-keyed");
    let mut c = config(app_manifest(), &state);
    let digest = songforge_access::digest_hex(KEY);
    c.env =
        std::sync::Arc::new(move |name| (name == "SPIN_VARIABLE_API_KEYS").then(|| digest.clone()));
    let server = start(c).await;
    let hum = state.join("hum.wav");
    std::fs::write(&hum, hum_wav(&HUM_TUNE, 4.0)).expect("write the hum");
    let hum = hum.canonicalize().expect("the hum's path");
    let seen = run_studio_script(&[
        format!("http://{}", server.addr),
        hum.display().to_string(),
        "-".into(),
        artefacts("studio-keyed").display().to_string(),
        KEY.into(),
    ]);
    let played = seen["keyed"]["duration_s"].as_f64().unwrap_or(0.0);
    assert!((2.0..=3.5).contains(&played), "{seen}");
    server.shutdown().await;
}
