//! `/api/generate-lyrics/` end to end with the packaged SmolLM2-135M-Instruct GGUF and CMUdict:
//! the seed request for several genres and themes, custom structures, reproducible seeds, and
//! every bad-input case.
//!
//! Needs the default models installed (`make test` pulls them first).

use http::{Method, StatusCode};
use serde_json::{Value, json};
use songforge_e2e::*;
use std::path::{Path, PathBuf};

/// The `llm` graph on the CPU.
fn llm_config(state: &Path, models: PathBuf) -> songforge::ServerConfig {
    config_with_graphs(
        state,
        "[wasi_nn.graphs.llm]\nengine = \"llm\"\nmodel = \"smollm2-135m-instruct\"\ntarget = \"cpu\"\n",
        models,
    )
}

async fn lyrics(http: &Http, body: Value) -> Reply {
    http.post_json("/api/generate-lyrics/", &body).await
}

/// Checks what every successful answer must hold, and returns its sections.
fn check_song(j: &Value, expected: &[(&str, usize)]) -> Vec<(String, Vec<String>)> {
    assert_eq!(j["success"], true, "{j}");
    let sections: Vec<(String, Vec<String>)> = j["sections"]
        .as_array()
        .expect("sections")
        .iter()
        .map(|s| {
            let lines = s["lines"]
                .as_array()
                .expect("lines")
                .iter()
                .map(|l| l.as_str().expect("line").to_string())
                .collect();
            (s["name"].as_str().expect("name").to_string(), lines)
        })
        .collect();
    let names: Vec<&str> = sections.iter().map(|(n, _)| n.as_str()).collect();
    let want: Vec<&str> = expected.iter().map(|(n, _)| *n).collect();
    assert_eq!(names, want, "{j}");
    for ((name, lines), (_, count)) in sections.iter().zip(expected) {
        assert_eq!(lines.len(), *count, "{name}: {lines:?}");
        for l in lines {
            assert!(!l.trim().is_empty(), "{name} has an empty line");
            assert!(!l.ends_with(':'), "{name} has a heading-like line {l:?}");
            let lower = l.to_lowercase();
            for chatter in ["here are", "here is", "sure!", "i hope", "as an ai", "<|im"] {
                assert!(!lower.contains(chatter), "{name} has chatter: {l:?}");
            }
        }
    }
    // The seed's text format: `Name:` headings, one blank line between sections.
    let text: String = sections
        .iter()
        .map(|(n, l)| format!("{n}:\n{}", l.join("\n")))
        .collect::<Vec<_>>()
        .join("\n\n");
    assert_eq!(j["lyrics"].as_str(), Some(text.as_str()));
    // Every chorus and hook is sung with the same words; verses never copy each other.
    for kind in ["Chorus", "Hook", "Pre-Chorus"] {
        let repeats: Vec<&Vec<String>> = sections
            .iter()
            .filter(|(n, _)| n == kind)
            .map(|(_, l)| l)
            .collect();
        assert!(repeats.windows(2).all(|w| w[0] == w[1]), "{kind} differs");
    }
    let verses: Vec<&Vec<String>> = sections
        .iter()
        .filter(|(n, _)| n.starts_with("Verse"))
        .map(|(_, l)| l)
        .collect();
    for (i, a) in verses.iter().enumerate() {
        for b in &verses[i + 1..] {
            assert!(a.iter().all(|l| !b.contains(l)), "a verse repeats a line");
        }
    }
    assert!(!j["title"].as_str().unwrap_or_default().is_empty(), "{j}");
    assert_eq!(j["engine"], "llm");
    assert_eq!(j["model"], "smollm2-135m-instruct");
    assert_eq!(j["rhyme_dictionary"], "cmudict");
    sections
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_requests_get_each_genres_song_form() {
    let state = scratch_dir("lyrics-genres");
    let server = start(llm_config(&state, models_dir())).await;
    let http = Http::new(server.addr);
    let health = http.get("/api/health/").await.json();
    let llm = health["models"]
        .as_array()
        .and_then(|m| m.iter().find(|g| g["name"] == "llm"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(llm["available"], true, "{llm}");
    assert_eq!(llm["model"], "smollm2-135m-instruct", "{llm}");

    let pop = [
        ("Verse 1", 4),
        ("Chorus", 4),
        ("Verse 2", 4),
        ("Chorus", 4),
        ("Bridge", 4),
        ("Chorus", 4),
    ];
    let r = lyrics(
        &http,
        json!({"input_text": "summer rain and first love", "genre": "pop", "seed": 42}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let j = r.json();
    check_song(&j, &pop);
    assert_eq!(
        (j["genre"].as_str(), j["genre_preset"].as_str()),
        (Some("pop"), Some("pop"))
    );
    assert_eq!(j["seed"], 42);
    // Free-text genres map onto presets, and the response says which.
    let hip_hop = [
        ("Intro", 2),
        ("Verse 1", 4),
        ("Hook", 2),
        ("Verse 2", 4),
        ("Hook", 2),
        ("Verse 3", 4),
        ("Hook", 2),
    ];
    let r = lyrics(
        &http,
        json!({"input_text": "city lights after midnight", "genre": "boom bap rap", "seed": 5}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let j = r.json();
    check_song(&j, &hip_hop);
    assert_eq!(j["genre"], "boom bap rap");
    assert_eq!(j["genre_preset"], "hip-hop");
    // The scores say how the lines were judged; a chorus that the scorer chose rhymes.
    let scores = j["scores"].as_array().expect("scores");
    assert_eq!(scores.len(), 5, "one per newly written section: {j}");
    let best_rhyme = scores
        .iter()
        .filter_map(|s| s["rhyme"].as_f64())
        .fold(0.0, f64::max);
    assert!(best_rhyme >= 0.5, "no section rhymes at all: {scores:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seed_reproduces_lyrics_and_structure_is_honoured() {
    let state = scratch_dir("lyrics-seed");
    let server = start(llm_config(&state, models_dir())).await;
    let http = Http::new(server.addr);
    let body = |seed: u64| {
        json!({
            "input_text": "leaving my small home town",
            "genre": "country",
            "structure": ["verse", "chorus", "verse", "chorus"],
            "max_lines": 2,
            "mood": "hopeful",
            "seed": seed,
        })
    };
    let form = [("Verse 1", 2), ("Chorus", 2), ("Verse 2", 2), ("Chorus", 2)];
    let a = lyrics(&http, body(7)).await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
    let a = a.json();
    check_song(&a, &form);
    assert_eq!(a["genre_preset"], "country");
    let b = lyrics(&http, body(7)).await.json();
    assert_eq!(a["lyrics"], b["lyrics"], "same seed, same lyrics");
    let c = lyrics(&http, body(8)).await.json();
    check_song(&c, &form);
    assert_ne!(a["lyrics"], c["lyrics"], "another seed, other lyrics");
    // Without a seed the response names the one it drew.
    let mut unseeded = body(0);
    unseeded.as_object_mut().map(|o| o.remove("seed"));
    unseeded["structure"] = json!(["chorus"]);
    let d = lyrics(&http, unseeded).await.json();
    check_song(&d, &[("Chorus", 2)]);
    assert!(d["seed"].as_u64().is_some(), "{d}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_inputs_get_clear_errors() {
    let state = scratch_dir("lyrics-bad");
    let server = start(llm_config(&state, models_dir())).await;
    let http = Http::new(server.addr);
    let expect = expect_error;
    expect(
        &lyrics(&http, json!({"genre": "pop"})).await,
        StatusCode::BAD_REQUEST,
        Some("input_text"),
    );
    expect(
        &lyrics(&http, json!({"input_text": "   "})).await,
        StatusCode::BAD_REQUEST,
        Some("input_text"),
    );
    expect(
        &lyrics(&http, json!({"input_text": 12})).await,
        StatusCode::BAD_REQUEST,
        Some("input_text"),
    );
    let long = "la ".repeat(700);
    expect(
        &lyrics(&http, json!({"input_text": long})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        Some("input_text"),
    );
    expect(
        &lyrics(
            &http,
            json!({"input_text": "x", "structure": ["verse", "guitar solo"]}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        Some("structure[1]"),
    );
    expect(
        &lyrics(&http, json!({"input_text": "x", "structure": "verse"})).await,
        StatusCode::BAD_REQUEST,
        Some("structure"),
    );
    expect(
        &lyrics(&http, json!({"input_text": "x", "max_lines": 40})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        Some("max_lines"),
    );
    expect(
        &lyrics(&http, json!({"input_text": "x", "temperature": "hot"})).await,
        StatusCode::BAD_REQUEST,
        Some("temperature"),
    );
    let r = http
        .send(
            Method::POST,
            "/api/generate-lyrics/",
            &[("content-type", "text/plain")],
            "summer rain",
        )
        .await;
    expect(&r, StatusCode::UNSUPPORTED_MEDIA_TYPE, None);
    let r = http
        .send(
            Method::POST,
            "/api/generate-lyrics/",
            &[("content-type", "application/json")],
            "{\"input_text\": ",
        )
        .await;
    expect(&r, StatusCode::BAD_REQUEST, None);
    let r = http.get("/api/generate-lyrics/").await;
    expect(&r, StatusCode::METHOD_NOT_ALLOWED, None);

    // A host without the model answers 503 with the command that installs it.
    let empty = state.join("no-models");
    std::fs::create_dir_all(&empty).expect("empty store");
    let state2 = scratch_dir("lyrics-no-model");
    let server2 = start(llm_config(&state2, empty)).await;
    let http2 = Http::new(server2.addr);
    let r = lyrics(&http2, json!({"input_text": "summer rain"})).await;
    expect(&r, StatusCode::SERVICE_UNAVAILABLE, None);
    let message = r.json()["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        message.contains("songforge models pull smollm2-135m-instruct"),
        "{message}"
    );
}
