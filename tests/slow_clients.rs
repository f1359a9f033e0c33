//! Clients that hold the server's resources without using them: a connection that sends
//! nothing, a request head sent a byte at a time, a kept-alive connection left idle, a body
//! that never finishes, and more connections than the server keeps open. Each is cut off on
//! its timer while other clients are served.

use http::StatusCode;
use songforge_e2e::*;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const TIMEOUT: Duration = Duration::from_secs(1);

/// Reads until the server closes the connection (or `limit` passes); what it sent, and when
/// it closed.
async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> (String, Option<Duration>) {
    let t = Instant::now();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(limit.saturating_sub(t.elapsed()), stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {
                return (String::from_utf8_lossy(&got).into(), Some(t.elapsed()));
            }
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Err(_) => return (String::from_utf8_lossy(&got).into(), None),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_idle_connections_are_cut_off_and_others_are_served() {
    let state = scratch_dir("slow-clients");
    let mut c = config(probe_manifest(), &state);
    c.limits.header_read_timeout = TIMEOUT;
    c.limits.body_read_timeout = TIMEOUT;
    let server = start(c).await;
    let addr = server.addr;
    let http = Http::new(addr);

    // Connects and sends nothing.
    let mut silent = TcpStream::connect(addr).await.expect("connect");
    // Sends half a request head, then stalls.
    let mut half_head = TcpStream::connect(addr).await.expect("connect");
    half_head
        .write_all(b"GET /api/health/ HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("write");
    // Sends a whole request, then keeps the connection idle.
    let mut idle = TcpStream::connect(addr).await.expect("connect");
    idle.write_all(b"GET /api/health/ HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("write");
    // Promises a body and sends a little of it.
    let mut slow_body = TcpStream::connect(addr).await.expect("connect");
    slow_body
        .write_all(
            b"POST /media/ HTTP/1.1\r\nHost: x\r\nContent-Type: audio/wav\r\nContent-Length: 100000\r\n\r\nRIFF",
        )
        .await
        .expect("write");

    // Meanwhile everyone else is served at once.
    let t = Instant::now();
    assert_eq!(http.get("/api/health/").await.status, StatusCode::OK);
    assert!(t.elapsed() < TIMEOUT, "{:?}", t.elapsed());

    let limit = TIMEOUT * 6;
    let (sent, closed) = read_until_closed(&mut silent, limit).await;
    assert!(
        sent.is_empty() && closed.is_some(),
        "silent: {sent:?} {closed:?}"
    );
    let (_, closed) = read_until_closed(&mut half_head, limit).await;
    assert!(closed.is_some(), "a half-sent head is cut off");
    let (sent, closed) = read_until_closed(&mut idle, limit).await;
    assert!(sent.starts_with("HTTP/1.1 200"), "{sent}");
    assert!(closed.is_some(), "an idle kept-alive connection is closed");
    let (sent, closed) = read_until_closed(&mut slow_body, limit).await;
    assert!(sent.starts_with("HTTP/1.1 408"), "{sent}");
    assert!(sent.contains("\"request_timeout\""), "{sent}");
    assert!(closed.is_some());
    server.shutdown().await;
    // The slow upload left nothing behind.
    assert!(
        stored_keys(&state).iter().all(|k| !k.starts_with("media")),
        "{:?}",
        stored_keys(&state)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_limit_are_closed_and_freed_slots_are_reused() {
    let state = scratch_dir("max-connections");
    let mut c = config(probe_manifest(), &state);
    c.limits.max_connections = 3;
    c.limits.header_read_timeout = TIMEOUT;
    let server = start(c).await;
    let addr = server.addr;
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(TcpStream::connect(addr).await.expect("connect"));
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut extra = TcpStream::connect(addr).await.expect("the kernel accepts");
    let _ = extra
        .write_all(b"GET /api/health/ HTTP/1.1\r\nHost: x\r\n\r\n")
        .await;
    let (sent, closed) = read_until_closed(&mut extra, Duration::from_millis(500)).await;
    assert!(sent.is_empty() && closed.is_some(), "{sent:?} {closed:?}");
    // Closing the held connections frees their slots, and new ones are served again.
    drop(held);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let r = Http::new(addr).get("/api/health/").await;
    assert_eq!(r.status, StatusCode::OK);
    server.shutdown().await;
}
