//! API keys end to end: which routes need one, what another key sees of your media and song
//! jobs (404, as if absent), the per-key rate and running limits, and the rule that a server
//! without keys serves only loopback.

use bytes::Bytes;
use http::{Method, StatusCode};
use serde_json::{Value, json};
use songforge::ServerConfig;
use songforge_e2e::*;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

const ALICE: &str = "alice-key-7f3a";
const BOB: &str = "bob-key-91c2";

/// `config` with the two keys configured, plus any other `SPIN_VARIABLE_*` values.
fn with_keys(mut c: ServerConfig, extra: &[(&str, &str)]) -> ServerConfig {
    let keys = format!(
        "{},{}",
        songforge_access::digest_hex(ALICE),
        songforge_access::digest_hex(BOB)
    );
    let mut vars: Vec<(String, String)> = vec![("SPIN_VARIABLE_API_KEYS".into(), keys)];
    vars.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    c.env = Arc::new(move |k| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()));
    c
}

fn bearer(key: &str) -> (&'static str, String) {
    ("authorization", format!("Bearer {key}"))
}

/// Sends with one key (or none).
async fn send_as(
    http: &Http,
    key: Option<&str>,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
) -> Reply {
    let auth = key.map(bearer);
    let mut all: Vec<(&str, &str)> = headers.to_vec();
    if let Some((k, v)) = &auth {
        all.push((k, v.as_str()));
    }
    http.send(method, path, &all, body).await
}

async fn get_as(http: &Http, key: &str, path: &str) -> Reply {
    send_as(http, Some(key), Method::GET, path, &[], Bytes::new()).await
}

async fn delete_as(http: &Http, key: &str, path: &str) -> Reply {
    send_as(http, Some(key), Method::DELETE, path, &[], Bytes::new()).await
}

/// A POST with a body: work, which the per-key limits count.
async fn post_work_as(http: &Http, key: &str, path: &str) -> Reply {
    send_as(http, Some(key), Method::POST, path, &[], "work").await
}

async fn upload_as(http: &Http, key: &str) -> Reply {
    send_as(
        http,
        Some(key),
        Method::POST,
        "/media/",
        &[("content-type", "audio/wav")],
        wav_tone(16_000),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_but_health_and_the_front_needs_a_key() {
    let state = scratch_dir("access-routes");
    let server = start(with_keys(config(app_manifest(), &state), &[])).await;
    let http = Http::new(server.addr);
    let json_ct = [("content-type", "application/json")];
    for path in [
        "/api/transcribe/",
        "/api/generate-lyrics/",
        "/api/generate-instrumental/",
        "/api/generate-vocals/",
        "/api/mix-audio/",
        "/api/songs/",
        "/media/",
    ] {
        for key in [
            None,
            Some("not-a-key"),
            Some(&*songforge_access::digest_hex(ALICE)),
        ] {
            let r = send_as(&http, key, Method::POST, path, &json_ct, "{}").await;
            expect_error(&r, StatusCode::UNAUTHORIZED, None);
            assert_eq!(r.json()["error"]["code"], "unauthorized", "{path}");
            assert_eq!(
                r.header("www-authenticate"),
                Some("Bearer realm=\"songforge\""),
                "{path}"
            );
        }
        // Reading needs a key too: job lists and stored media are the caller's own.
        let r = http.get(path).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "GET {path}");
        // With a key the request reaches the component, which judges the body (the media
        // store takes `{}` as a JSON file; the others refuse it).
        let r = send_as(&http, Some(ALICE), Method::POST, path, &json_ct, "{}").await;
        let expected = match path {
            "/media/" => r.status == StatusCode::CREATED,
            _ => r.status.is_client_error() && r.status != StatusCode::UNAUTHORIZED,
        };
        assert!(expected, "{path}: {} {:?}", r.status, r.body);
    }
    assert_eq!(http.get("/api/health/").await.status, StatusCode::OK);
    assert_eq!(http.get("/api/openapi.json").await.status, StatusCode::OK);
    server.shutdown().await;
    // The refused requests stored nothing: the one file is Alice's upload (blob and record).
    let keys = stored_keys(&state);
    let media: Vec<_> = keys.iter().filter(|k| k.starts_with("media")).collect();
    assert_eq!(media.len(), 2, "{keys:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_belongs_to_the_key_that_stored_it() {
    let state = scratch_dir("access-media");
    let server = start(with_keys(config(app_manifest(), &state), &[])).await;
    let http = Http::new(server.addr);
    let r = upload_as(&http, ALICE).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let url = r.json()["url"].as_str().expect("url").to_string();

    let mine = get_as(&http, ALICE, &url).await;
    assert_eq!(mine.status, StatusCode::OK);
    assert_eq!(mine.body.len(), 44 + 16_000 * 2);
    assert!(
        mine.header("cache-control")
            .is_some_and(|c| c.starts_with("private")),
        "{:?}",
        mine.headers
    );
    // Bob sees nothing: not the file, not its size, not that it exists.
    for method in [Method::GET, Method::HEAD, Method::DELETE] {
        let r = send_as(&http, Some(BOB), method.clone(), &url, &[], Bytes::new()).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{method} {:?}", r.body);
    }
    // ... nor can he make the mixer read it.
    let r = send_as(
        &http,
        Some(BOB),
        Method::POST,
        "/api/mix-audio/",
        &[("content-type", "application/json")],
        json!({"instrumental_url": url, "vocals_url": url}).to_string(),
    )
    .await;
    expect_error(&r, StatusCode::NOT_FOUND, Some("instrumental_url"));
    // Alice can mix it, and the mix is hers alone too.
    let r = send_as(
        &http,
        Some(ALICE),
        Method::POST,
        "/api/mix-audio/",
        &[("content-type", "application/json")],
        json!({"instrumental_url": url, "vocals_url": url}).to_string(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let mix = r.json()["url"].as_str().expect("mix url").to_string();
    let r = get_as(&http, BOB, &mix).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    // Alice deletes her upload: gone for her, and its bytes are gone from the store.
    let r = delete_as(&http, ALICE, &url).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let name = url.trim_start_matches("/media/");
    assert_eq!(r.json()["deleted"], name);
    let r = get_as(&http, ALICE, &url).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    server.shutdown().await;
    let keys = stored_keys(&state);
    assert!(!keys.iter().any(|k| k.ends_with(name)), "{keys:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_song_job_and_everything_its_stages_store_belong_to_its_key() {
    let state = scratch_dir("access-songs");
    let server = start(with_keys(song_config(&state), &[])).await;
    let http = Http::new(server.addr);
    let body = json!({"lyrics": "Hold me close and stay\nUntil the morning light", "genre": "folk",
                      "duration": 30, "seed": 4});
    let r = send_as(
        &http,
        Some(ALICE),
        Method::POST,
        "/api/songs/",
        &[("content-type", "application/json"), ("prefer", "wait=300")],
        body.to_string(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let job = r.json();
    assert_eq!(job["status"], "succeeded", "{job}");
    let id = job["id"].as_str().expect("id");
    let output = &job["output"];
    // The stages were called with Alice's key, so their files are hers.
    for field in ["mix_url", "vocals_url", "instrumental_url"] {
        let url = output[field]
            .as_str()
            .unwrap_or_else(|| panic!("{field}: {job}"));
        let r = get_as(&http, ALICE, url).await;
        assert_eq!(r.status, StatusCode::OK, "{field}");
        let r = get_as(&http, BOB, url).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{field}");
    }
    let job_url = format!("/api/songs/{id}");
    let r = get_as(&http, BOB, &job_url).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = send_as(
        &http,
        Some(BOB),
        Method::POST,
        &format!("{job_url}/cancel"),
        &[],
        Bytes::new(),
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let ids = |r: &Reply| -> Vec<Value> {
        r.json()["jobs"]
            .as_array()
            .expect("jobs")
            .iter()
            .map(|j| j["id"].clone())
            .collect()
    };
    let r = get_as(&http, BOB, "/api/songs/").await;
    assert!(ids(&r).is_empty(), "{:?}", r.body);
    let r = get_as(&http, ALICE, "/api/songs/").await;
    assert_eq!(ids(&r), [json!(id)]);
    // The same request from Bob is not answered from Alice's cache: a new job, all his own.
    let r = send_as(
        &http,
        Some(BOB),
        Method::POST,
        "/api/songs/",
        &[("content-type", "application/json")],
        body.to_string(),
    )
    .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{:?}", r.body);
    assert_ne!(r.json()["job_id"], json!(id));
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_over_its_rate_gets_429_with_retry_after_and_others_go_on() {
    let state = scratch_dir("access-rate");
    let c = with_keys(
        config(probe_manifest(), &state),
        &[
            ("SPIN_VARIABLE_RATE_LIMIT_BURST", "2"),
            ("SPIN_VARIABLE_RATE_LIMIT_PER_MINUTE", "1"),
        ],
    );
    let server = start(c).await;
    let http = Http::new(server.addr);
    for _ in 0..2 {
        assert_eq!(upload_as(&http, ALICE).await.status, StatusCode::CREATED);
    }
    let r = upload_as(&http, ALICE).await;
    expect_error(&r, StatusCode::TOO_MANY_REQUESTS, None);
    assert_eq!(r.json()["error"]["code"], "rate_limited");
    let wait: u64 = r
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .expect("seconds");
    assert!((50..=60).contains(&wait), "{wait}");
    // Reading is not limited, and Bob has his own bucket.
    let r = get_as(&http, ALICE, "/probe/sleep?ms=1").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(upload_as(&http, BOB).await.status, StatusCode::CREATED);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_may_run_only_so_much_at_once() {
    let state = scratch_dir("access-running");
    let c = with_keys(
        config(probe_manifest(), &state),
        &[("SPIN_VARIABLE_MAX_RUNNING_PER_KEY", "1")],
    );
    let server = start(c).await;
    let http = Http::new(server.addr);
    let slow = {
        let http = http.clone();
        tokio::spawn(async move { post_work_as(&http, ALICE, "/probe/sleep?ms=1500").await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let r = post_work_as(&http, ALICE, "/probe/sleep?ms=1").await;
    expect_error(&r, StatusCode::TOO_MANY_REQUESTS, None);
    assert!(r.header("retry-after").is_some());
    // Bob, and Alice's reads, are not held up.
    let r = post_work_as(&http, BOB, "/probe/sleep?ms=1").await;
    assert_eq!(r.status, StatusCode::OK);
    let r = get_as(&http, ALICE, "/probe/sleep?ms=1").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(slow.await.expect("slow request").status, StatusCode::OK);
    // The slot frees when the instance ends, a moment after its response (later on a busy
    // machine): retried for up to 2 s.
    let mut freed = false;
    for _ in 0..20 {
        let r = post_work_as(&http, ALICE, "/probe/sleep?ms=1").await;
        if r.status == StatusCode::OK {
            freed = true;
            break;
        }
        assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{:?}", r.body);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(freed, "the slot is free again");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_keys_the_host_serves_only_loopback_unless_allowed() {
    let state = scratch_dir("access-listen");
    let everywhere = SocketAddr::from(([0, 0, 0, 0], 0));
    let mut c = config(probe_manifest(), &state);
    c.listen = everywhere;
    let refused = match try_start(c).await {
        Ok(_) => panic!("an open server on every address must be refused"),
        Err(e) => e.to_string(),
    };
    assert!(
        refused.contains("--allow-anonymous") && refused.contains("SPIN_VARIABLE_API_KEYS"),
        "{refused}"
    );

    let mut c = config(probe_manifest(), &state);
    c.listen = everywhere;
    c.allow_anonymous = true;
    start(c).await.shutdown().await;

    let mut c = with_keys(config(probe_manifest(), &state), &[]);
    c.listen = everywhere;
    let server = start(c).await;
    let t = Instant::now();
    let http = Http::new(SocketAddr::from(([127, 0, 0, 1], server.addr.port())));
    assert_eq!(upload_as(&http, ALICE).await.status, StatusCode::CREATED);
    assert!(t.elapsed() < Duration::from_secs(10));
    server.shutdown().await;

    // A key where a digest belongs is refused, naming the variable and the entry.
    let mut c = config(probe_manifest(), &state);
    c.env = Arc::new(|k| (k == "SPIN_VARIABLE_API_KEYS").then(|| ALICE.to_string()));
    let refused = match try_start(c).await {
        Ok(_) => panic!("a plain key in api_keys must be refused"),
        Err(e) => e.to_string(),
    };
    assert!(
        refused.contains("`api_keys`") && refused.contains("entry 1"),
        "{refused}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_past_its_storage_quota_gets_507_and_deleting_frees_it() {
    let state = scratch_dir("access-quota");
    // 0.1 MiB: three 32 KB uploads fit, a fourth does not.
    let c = with_keys(
        config(probe_manifest(), &state),
        &[("SPIN_VARIABLE_STORAGE_QUOTA_MIB", "0.1")],
    );
    let server = start(c).await;
    let http = Http::new(server.addr);
    let mut urls = Vec::new();
    for _ in 0..3 {
        let r = upload_as(&http, ALICE).await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
        urls.push(r.json()["url"].as_str().expect("url").to_string());
    }
    let r = upload_as(&http, ALICE).await;
    expect_error(&r, StatusCode::INSUFFICIENT_STORAGE, None);
    let message = r.json()["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert_eq!(r.json()["error"]["code"], "insufficient_storage");
    assert!(message.contains("storage_quota_mib"), "{message}");
    // Bob's quota is his own.
    assert_eq!(upload_as(&http, BOB).await.status, StatusCode::CREATED);
    // Deleting a file frees its bytes.
    let r = delete_as(&http, ALICE, &urls[0]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(upload_as(&http, ALICE).await.status, StatusCode::CREATED);
    server.shutdown().await;
    // The refused upload left nothing: Alice's three files and Bob's one, blob and record.
    let keys = stored_keys(&state);
    let media = keys.iter().filter(|k| k.starts_with("media")).count();
    assert_eq!(media, 2 * 4, "{keys:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_media_reads_as_absent_and_sweeps_delete_it_and_orphan_blobs() {
    let state = scratch_dir("access-retention");
    // Two seconds, in days.
    let retention = format!("{}", 2.0 / 86_400.0);
    let c = with_keys(
        config(probe_manifest(), &state),
        &[("SPIN_VARIABLE_RETENTION_DAYS", retention.as_str())],
    );
    let server = start(c).await;
    let http = Http::new(server.addr);
    // A blob whose record was never written, as a host killed between the two writes leaves.
    let orphan = "media/upload_0123456789abcdef.wav";
    let r = send_as(
        &http,
        Some(ALICE),
        Method::PUT,
        &format!("/probe/kv/{orphan}"),
        &[],
        wav_tone(100),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let r = upload_as(&http, ALICE).await;
    assert_eq!(r.status, StatusCode::CREATED);
    let old = r.json()["url"].as_str().expect("url").to_string();
    let r = get_as(&http, ALICE, &old).await;
    assert_eq!(r.status, StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    // Past its retention the file is gone for readers at once...
    let r = get_as(&http, ALICE, &old).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    // ... and this request's sweep deletes its bytes; the new file stays.
    let r = upload_as(&http, ALICE).await;
    assert_eq!(r.status, StatusCode::CREATED);
    let new = r.json()["url"].as_str().expect("url").to_string();
    tokio::time::sleep(Duration::from_millis(500)).await;
    server.shutdown().await;
    let keys = stored_keys(&state);
    let old_name = old.trim_start_matches("/media/");
    let new_name = new.trim_start_matches("/media/");
    assert!(!keys.iter().any(|k| k.ends_with(old_name)), "{keys:?}");
    // The orphan blob, seen by two sweeps, is gone too.
    assert!(!keys.iter().any(|k| k == orphan), "{keys:?}");
    assert_eq!(
        keys.iter().filter(|k| k.ends_with(new_name)).count(),
        2,
        "{keys:?}"
    );
}
