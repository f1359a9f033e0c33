//! The deployment recipes in `deploy/`: no container engine or cluster runs here, so the
//! Kubernetes and runtime-config files are parsed and checked against the app, and the
//! container recipe's layout is rebuilt in a directory (its binary, models and runtime
//! config where its `COPY` lines put them, its `ENV`) and served from, as the image would.

use http::{Method, StatusCode};
use songforge_e2e::*;
use std::path::{Path, PathBuf};

fn deploy(file: &str) -> String {
    std::fs::read_to_string(repo().join("deploy").join(file)).expect("a recipe file")
}

/// Every YAML document of a file.
fn documents(text: &str) -> Vec<serde_yaml_ng::Value> {
    serde_yaml_ng::Deserializer::from_str(text)
        .map(|d| serde::Deserialize::deserialize(d).expect("valid YAML"))
        .collect()
}

fn app_variables() -> toml::Table {
    let manifest: toml::Table = std::fs::read_to_string(app_manifest())
        .expect("spin.toml")
        .parse()
        .expect("spin.toml parses");
    manifest["variables"]
        .as_table()
        .expect("[variables]")
        .clone()
}

#[test]
fn the_kubernetes_recipes_parse_and_agree_with_the_app() {
    let docs = documents(&deploy("kubernetes/serve-nn.yaml"));
    let deployment = docs
        .iter()
        .find(|d| d["kind"] == "Deployment")
        .expect("a Deployment");
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(container["resources"]["limits"]["nvidia.com/gpu"], 1);
    assert_eq!(container["ports"][0]["containerPort"], 3100);
    assert_eq!(
        container["readinessProbe"]["httpGet"]["path"],
        songforge_inference::contract::service::HEALTH_PATH
    );
    assert_eq!(container["env"][0]["name"], "SONGFORGE_NN_TOKEN");
    let service = docs
        .iter()
        .find(|d| d["kind"] == "Service")
        .expect("a Service");
    assert_eq!(service["spec"]["ports"][0]["port"], 3100);
    let service_name = service["metadata"]["name"].as_str().expect("a name");

    let app = &documents(&deploy("kubernetes/spinapp.yaml"))[0];
    assert_eq!(app["kind"], "SpinApp");
    let declared = app_variables();
    let variables = app["spec"]["variables"].as_sequence().expect("variables");
    for v in variables {
        let name = v["name"].as_str().expect("a variable name");
        assert!(declared.contains_key(name), "`{name}` is not in spin.toml");
    }
    let nn_url = variables
        .iter()
        .find(|v| v["name"] == "nn_url")
        .and_then(|v| v["value"].as_str())
        .expect("nn_url");
    assert_eq!(nn_url, format!("http://{service_name}:3100"));
    let store = &app["spec"]["runtimeConfig"]["keyValueStores"][0];
    assert_eq!(
        (store["name"].as_str(), store["type"].as_str()),
        (Some("default"), Some("redis"))
    );

    // The Redis runtime config is one the host accepts.
    let redis = repo().join("deploy/runtime-config.redis.toml");
    let config = songforge::runtime_config::RuntimeConfig::load(&redis).expect("valid");
    assert!(format!("{config:?}").contains("redis://"), "{config:?}");
}

type Pairs = Vec<(String, String)>;

/// The final stage's `COPY` lines as (source, destination), and its `ENV` as (name, value).
fn recipe() -> (Pairs, Pairs) {
    let text = deploy("serve-nn.Dockerfile");
    let mut copies = Vec::new();
    let mut env = Vec::new();
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            // Only the last stage is the image.
            ["FROM", ..] => {
                copies.clear();
                env.clear();
            }
            ["COPY", rest @ ..] => {
                let rest: Vec<&str> = rest
                    .iter()
                    .copied()
                    .filter(|w| !w.starts_with("--"))
                    .collect();
                if let [src, dest] = rest.as_slice() {
                    copies.push((src.to_string(), dest.to_string()));
                }
            }
            ["ENV", pair] => {
                let (k, v) = pair.split_once('=').expect("ENV NAME=value");
                env.push((k.to_string(), v.to_string()));
            }
            _ => {}
        }
    }
    (copies, env)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_container_layout_serves_the_default_models() {
    let (copies, env) = recipe();
    let root = scratch_dir("deploy-layout");
    let inside = |dest: &str| root.join(dest.trim_start_matches('/'));
    // The binary, models and runtime config the image holds, at the image's paths.
    for (src, dest) in &copies {
        let dest = inside(dest);
        std::fs::create_dir_all(dest.parent().expect("a parent")).unwrap();
        let from: PathBuf = match src.strip_prefix("/src/") {
            // This build's binary stands in for the release one the image builds.
            Some("target/release/songforge") => repo().join("target/debug/songforge"),
            Some("models/store") => models_dir(),
            Some(other) => repo().join(other),
            None => repo().join(src),
        };
        assert!(
            from.exists(),
            "the recipe copies {src}, which is not built here"
        );
        if from.is_dir() {
            std::os::unix::fs::symlink(&from, &dest).unwrap();
        } else {
            std::fs::copy(&from, &dest).unwrap();
        }
    }
    let port = free_port();
    let mut command = std::process::Command::new(inside("/usr/local/bin/songforge"));
    command
        .arg("serve-nn")
        .env_clear()
        .env("PATH", "/usr/bin:/bin");
    for (k, v) in &env {
        let v = match k.as_str() {
            "NN_LISTEN" => {
                assert!(v.starts_with("0.0.0.0:3100"), "{v}");
                format!("127.0.0.1:{port}")
            }
            _ if v.starts_with('/') => inside(v).display().to_string(),
            _ => v.clone(),
        };
        command.env(k, v);
    }
    // On 0.0.0.0 it refuses to start without a token; with one it serves.
    command.env("SONGFORGE_NN_TOKEN", "layout-token");
    let mut child = command
        .current_dir(Path::new("/"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start the image's binary");
    let http = Http::new(([127, 0, 0, 1], port).into());
    wait_until_ok(&http, "/v1/health").await;
    let health = http.get("/v1/health").await.json();
    let ready: Vec<&str> = health["graphs"]
        .as_array()
        .expect("graphs")
        .iter()
        .filter(|g| g["available"] == true)
        .filter_map(|g| g["name"].as_str())
        .collect();
    for graph in ["whisper", "llm", "tts", "pitch"] {
        assert!(ready.contains(&graph), "{graph} not ready: {health}");
    }
    let r = http
        .send(
            Method::GET,
            "/v1/graphs/whisper",
            &[("authorization", "Bearer layout-token")],
            "",
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let _ = child.kill();
    let _ = child.wait();
}
