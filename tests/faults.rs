//! A host killed with SIGKILL in the middle of an upload, a mix, an instrumental and a vocal:
//! after a restart nothing half-written is visible. Every stored file is whole (its record
//! and its bytes agree), and no killed request left a record behind.

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
