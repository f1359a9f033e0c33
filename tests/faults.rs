//! A host killed with SIGKILL in the middle of an upload, a mix, an instrumental and a vocal:
//! after a restart nothing half-written is visible. Every stored file is whole (its record
//! and its bytes agree), and no killed request left a record behind. A full disk is 507, and
//! a Redis store that goes away is 503 until it is back, with nothing lost.

use bytes::Bytes;
use http::{Method, StatusCode};
use serde_json::json;
use songforge_e2e::*;
use std::process::Child;
use std::time::Duration;
use tokio::io::AsyncWriteExt;

/// `songforge up` as a child process on `port`, with the Piper voice for vocals.
fn up(state: &std::path::Path, port: u16) -> Child {
    spawn_host(
        state,
        port,
        "[wasi_nn.graphs.tts]\nengine = \"piper\"\nmodel = \"piper-en-us-joe-medium\"\ntarget = \"cpu\"\n",
        &[],
    )
}

async fn ready(http: &Http) {
    wait_until_ok(http, "/api/health/").await;
}

fn kill(child: &mut Child) {
    // `Child::kill` is SIGKILL: no shutdown, no draining, no flushing.
    child.kill().expect("kill the host");
    let _ = child.wait();
}

/// A stereo 44.1 kHz 16-bit WAV of `seconds`, a chord, so there is real work to mix.
fn stereo(seconds: f64, hz: f64) -> Vec<u8> {
    let n = (seconds * 44_100.0) as usize;
    let mut v = Vec::with_capacity(44 + n * 4);
    let data = (n * 4) as u32;
    v.extend_from_slice(b"RIFF");
    v.extend_from_slice(&(36 + data).to_le_bytes());
    v.extend_from_slice(b"WAVEfmt ");
    for x in [
        16u32.to_le_bytes().as_slice(),
        &1u16.to_le_bytes(),
        &2u16.to_le_bytes(),
    ] {
        v.extend_from_slice(x);
    }
    v.extend_from_slice(&44_100u32.to_le_bytes());
    v.extend_from_slice(&(44_100u32 * 4).to_le_bytes());
    v.extend_from_slice(&4u16.to_le_bytes());
    v.extend_from_slice(&16u16.to_le_bytes());
    v.extend_from_slice(b"data");
    v.extend_from_slice(&data.to_le_bytes());
    for i in 0..n {
        let t = i as f64 / 44_100.0;
        let s = [1.0, 1.25, 1.5]
            .iter()
            .map(|r| (t * hz * r * std::f64::consts::TAU).sin())
            .sum::<f64>()
            * 6_000.0;
        v.extend_from_slice(&(s as i16).to_le_bytes());
        v.extend_from_slice(&((s * 0.9) as i16).to_le_bytes());
    }
    v
}

#[test]
fn a_host_killed_mid_request_leaves_nothing_half_written() {
    let state = scratch_dir("faults-kill");
    let port = free_port();
    let rt = tokio::runtime::Runtime::new().expect("a runtime");
    let http = Http::new(std::net::SocketAddr::from(([127, 0, 0, 1], port)));
    let mut child = up(&state, port);
    rt.block_on(ready(&http));
    let (instrumental, vocals) = rt.block_on(async {
        (
            http.upload_wav(stereo(60.0, 220.0)).await,
            http.upload_wav(stereo(60.0, 330.0)).await,
        )
    });
    let lyrics = "Verse:\nI walk along the river in the rain\nThe city lights are calling out my name\n\n\
                  Chorus:\nSummer rain, wash it all away\nSummer rain, I want you here to stay";
    let killed: [(&str, serde_json::Value, u64); 3] = [
        (
            "/api/mix-audio/",
            json!({"instrumental_url": instrumental, "vocals_url": vocals}),
            150,
        ),
        (
            "/api/generate-instrumental/",
            json!({"lyrics": lyrics, "genre": "pop"}),
            300,
        ),
        (
            "/api/generate-vocals/",
            json!({"lyrics": lyrics, "genre": "pop"}),
            600,
        ),
    ];
    for (path, body, after_ms) in killed {
        let pending = rt.spawn({
            let http = http.clone();
            async move { http.post_json(path, &body).await.status }
        });
        std::thread::sleep(Duration::from_millis(after_ms));
        kill(&mut child);
        // No answer came: the request was cut off in the middle.
        assert!(
            rt.block_on(pending).is_err(),
            "{path} finished before the kill"
        );
        child = up(&state, port);
        rt.block_on(ready(&http));
    }
    // An upload cut off halfway through its body.
    rt.block_on(async {
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .expect("connect");
        let wav = stereo(30.0, 440.0);
        let head = format!(
            "POST /media/ HTTP/1.1\r\nHost: x\r\nContent-Type: audio/wav\r\nContent-Length: {}\r\n\r\n",
            wav.len()
        );
        s.write_all(head.as_bytes()).await.expect("head");
        s.write_all(&wav[..wav.len() / 2]).await.expect("half a body");
        tokio::time::sleep(Duration::from_millis(200)).await;
    });
    kill(&mut child);
    let mut child = up(&state, port);
    rt.block_on(ready(&http));
    // Every file a reader can find is whole, and they are only the two uploads.
    kill(&mut child);
    let keys = stored_keys(&state);
    let records: Vec<&str> = keys
        .iter()
        .filter_map(|k| k.strip_prefix("media-meta/"))
        .collect();
    let uploads = [&instrumental, &vocals].map(|u| u.trim_start_matches("/media/").to_string());
    assert_eq!(records.len(), 2, "{keys:?}");
    assert!(
        records.iter().all(|r| uploads.iter().any(|u| u == r)),
        "{keys:?}"
    );
    let mut child = up(&state, port);
    rt.block_on(async {
        ready(&http).await;
        for url in [&instrumental, &vocals] {
            let r = http.send(Method::GET, url, &[], Bytes::new()).await;
            assert_eq!(r.status, StatusCode::OK);
            assert_eq!(r.body.len(), 44 + 60 * 44_100 * 4, "{url}");
        }
    });
    kill(&mut child);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_gives_507_writes_nothing_and_recovers() {
    let state = scratch_dir("faults-disk-full");
    let server = start(config(probe_manifest(), &state)).await;
    let http = Http::new(server.addr);
    let kept = http.upload_wav(wav_tone(16_000)).await;
    server.shutdown().await;

    // A disk that would be past `--min-free-disk-mib` after any write: the same as full.
    let mut c = config(probe_manifest(), &state);
    c.limits.min_free_disk_mib = 1 << 40;
    let server = start(c).await;
    let http = Http::new(server.addr);
    let r = http.post_wav(wav_tone(16_000)).await;
    expect_error(&r, StatusCode::INSUFFICIENT_STORAGE, None);
    assert_eq!(r.json()["error"]["code"], "insufficient_storage");
    let message = r.json()["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(message.ends_with("(--min-free-disk-mib)"), "{message}");
    // What was stored before is still served.
    let r = http.send(Method::GET, &kept, &[], Bytes::new()).await;
    assert_eq!(r.status, StatusCode::OK);
    server.shutdown().await;
    let keys = stored_keys(&state);
    assert_eq!(
        keys.iter().filter(|k| k.starts_with("media")).count(),
        2,
        "only the first upload, blob and record: {keys:?}"
    );

    // With room again, writes work again.
    let server = start(config(probe_manifest(), &state)).await;
    let http = Http::new(server.addr);
    http.upload_wav(wav_tone(16_000)).await;
    server.shutdown().await;
}

/// The media keys (records and bytes) in the Redis store, by `redis-cli --scan`.
fn redis_keys(port: u16) -> Vec<String> {
    let out = std::process::Command::new("redis-cli")
        .args(["-p", &port.to_string(), "--scan", "--pattern", "media*"])
        .output()
        .expect("redis-cli");
    let mut keys: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    keys.sort();
    keys
}

/// A host of the probe app whose default store is the Redis server on `port`.
async fn redis_host(state: &std::path::Path, name: &str, port: u16) -> songforge::RunningServer {
    let dir = state.join(name);
    std::fs::create_dir_all(&dir).expect("host dir");
    let rc = dir.join("runtime-config.toml");
    std::fs::write(
        &rc,
        format!(
            "[key_value_store.default]\ntype = \"redis\"\nurl = \"redis://127.0.0.1:{port}\"\n"
        ),
    )
    .expect("write the runtime config");
    let mut c = config(probe_manifest(), &dir);
    c.runtime_config = Some(rc);
    start(c).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hosts_share_a_redis_store_and_an_outage_is_503_then_recovers() {
    let state = scratch_dir("faults-redis");
    let port = free_port();
    let mut redis = redis_server(&state, port);
    wait_for_port(port).await;
    let a = redis_host(&state, "a", port).await;
    let b = redis_host(&state, "b", port).await;
    let (ha, hb) = (Http::new(a.addr), Http::new(b.addr));

    // Stored through one host, served by the other, byte for byte; 31 MB too (three minutes
    // of CD-quality stereo), timed for the README against a redb store.
    let small = wav_tone(16_000);
    let url = ha.upload_wav(small.clone()).await;
    let r = hb.send(Method::GET, &url, &[], Bytes::new()).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body, small);
    let big = stereo(180.0, 220.0);
    let t = std::time::Instant::now();
    let big_url = ha.upload_wav(big.clone()).await;
    let stored = t.elapsed();
    let t = std::time::Instant::now();
    let r = hb.send(Method::GET, &big_url, &[], Bytes::new()).await;
    let fetched = t.elapsed();
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body == big, "the 31 MB file came back different");
    let redb = start(config(probe_manifest(), &state.join("redb"))).await;
    let hr = Http::new(redb.addr);
    let t = std::time::Instant::now();
    let redb_url = hr.upload_wav(big.clone()).await;
    let redb_stored = t.elapsed();
    let t = std::time::Instant::now();
    assert_eq!(
        hr.send(Method::GET, &redb_url, &[], Bytes::new())
            .await
            .status,
        StatusCode::OK
    );
    let redb_fetched = t.elapsed();
    eprintln!(
        "31 MB WAV: redis store {stored:.2?} fetch {fetched:.2?}; \
         redb store {redb_stored:.2?} fetch {redb_fetched:.2?}"
    );
    let keys = redis_keys(port);
    assert_eq!(
        keys.len(),
        4,
        "two files, each a record and its bytes: {keys:?}"
    );

    // Redis goes away: a clear 503 with Retry-After, quickly, never a hang.
    kill(&mut redis);
    for (what, r) in [
        ("upload", ha.post_wav(wav_tone(16_000)).await),
        ("fetch", hb.send(Method::GET, &url, &[], Bytes::new()).await),
    ] {
        expect_error(&r, StatusCode::SERVICE_UNAVAILABLE, None);
        let message = r.json()["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert!(
            message.contains(&format!("redis://127.0.0.1:{port}")),
            "{what}: {message}"
        );
        assert!(r.header("retry-after").is_some(), "{what}");
    }
    let t = std::time::Instant::now();
    let r = ha.post_wav(wav_tone(16_000)).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());

    // Back again: both hosts reconnect, everything stored before is there, the refused
    // upload left nothing, and new uploads work.
    let mut redis = redis_server(&state, port);
    wait_for_port(port).await;
    let r = hb.send(Method::GET, &url, &[], Bytes::new()).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body, small);
    assert_eq!(redis_keys(port), keys, "the refused uploads wrote nothing");
    let again = ha.upload_wav(wav_tone(8_000)).await;
    assert_eq!(
        hb.send(Method::GET, &again, &[], Bytes::new()).await.status,
        StatusCode::OK
    );
    a.shutdown().await;
    b.shutdown().await;
    redb.shutdown().await;
    kill(&mut redis);
}
