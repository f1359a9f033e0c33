//! `/api/songs/` end to end with the packaged models: a theme or the user's lyrics to a
//! mastered song as a job, through every stage component over local service chaining.
//! Checked as a user would: the events arrive in order, every URL answers with the right
//! type, the mix is as long as asked, and Whisper base hears the words on the mix about as
//! well as on the vocal alone.

use bytes::Bytes;
use http::{Method, StatusCode};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use songforge_e2e::*;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const LYRICS: &str = "Intro:\nHere we go tonight\n\nVerse 1:\nI walk along the river in the rain\n\
The city lights are calling out my name\n\nChorus:\nSummer rain, wash it all away\n\
Summer rain, I want you here to stay\n\nVerse 2:\nThe night is long and I am on my own\n\
I find the road that always leads me home\n\nChorus:\nSummer rain, wash it all away\n\
Summer rain, I want you here to stay\n\nOutro:\nSummer rain";

/// Polls a job until it ends (or `limit` passes).
async fn finished(http: &Http, id: &str, limit: Duration) -> Value {
    let t = Instant::now();
    loop {
        let r = http.get(&format!("/api/songs/{id}")).await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        let j = r.json();
        if matches!(
            j["status"].as_str(),
            Some("succeeded" | "failed" | "canceled")
        ) {
            return j;
        }
        assert!(t.elapsed() < limit, "job {id} still {j}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// The words Whisper base hears in a stored file.
async fn heard(http: &Http, url: &str) -> String {
    let r = http
        .post_json("/api/transcribe/", &json!({"audio_url": url}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    r.json()["transcribed_text"]
        .as_str()
        .unwrap_or_default()
        .to_lowercase()
}

/// The Server-Sent Events of a stream, as (event name, data JSON).
fn events(body: &[u8]) -> Vec<(String, Value)> {
    String::from_utf8_lossy(body)
        .split("\n\n")
        .filter_map(|block| {
            let mut name = None;
            let mut data = None;
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("event: ") {
                    name = Some(v.to_string());
                } else if let Some(v) = line.strip_prefix("data: ") {
                    data = serde_json::from_str(v).ok();
                }
            }
            Some((name?, data?))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_theme_becomes_a_song_with_ordered_events_every_url_and_an_audible_vocal() {
    let state = scratch_dir("songs-theme");
    let server = start(song_config(&state)).await;
    let http = Http::new(server.addr);
    let r = http
        .post_json(
            "/api/songs/",
            &json!({"input_text": "a long drive home after a summer festival",
                    "genre": "country", "duration": 30, "seed": 8}),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{:?}", r.body);
    let accepted = r.json();
    let id = accepted["job_id"].as_str().expect("job_id").to_string();
    assert_eq!(accepted["status_url"], format!("/api/songs/{id}"));
    // The event stream, read while the job runs; it ends with the job.
    let stream = {
        let http = http.clone();
        let url = accepted["events_url"]
            .as_str()
            .expect("events_url")
            .to_string();
        tokio::spawn(async move { http.get(&url).await })
    };
    let job = finished(&http, &id, Duration::from_secs(600)).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let stream = stream.await.expect("events task");
    assert_eq!(stream.header("content-type"), Some("text/event-stream"));
    let evs = events(&stream.body);
    assert_eq!(
        evs.last().map(|e| e.0.as_str()),
        Some("succeeded"),
        "{evs:?}"
    );
    let progress: Vec<f64> = evs
        .iter()
        .map(|e| e.1["progress"].as_f64().unwrap_or(0.0))
        .collect();
    assert!(progress.windows(2).all(|w| w[0] <= w[1]), "{progress:?}");
    let order = ["lyrics", "instrumental", "vocals", "mix"];
    let mut seen: Vec<String> = evs
        .iter()
        .filter_map(|e| e.1["stage"].as_str().map(str::to_string))
        .collect();
    seen.dedup();
    assert_eq!(seen, order, "stages in order");
    let stages: Vec<&str> = job["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(stages, order);
    let out = &job["output"];
    let d = out["duration"].as_f64().expect("duration");
    assert!((d - 30.0).abs() < 1.5, "{d}");
    for (key, kind) in [
        ("mix_url", "audio/wav"),
        ("vocals_url", "audio/wav"),
        ("instrumental_url", "audio/wav"),
        ("midi_url", "audio/midi"),
        ("arrangement_url", "application/json"),
        ("score_url", "audio/midi"),
        ("lyrics_url", "text/plain"),
    ] {
        let url = out[key]
            .as_str()
            .unwrap_or_else(|| panic!("{key} in {out}"));
        let r = http.get(url).await;
        assert_eq!(r.status, StatusCode::OK, "{key}");
        assert!(
            r.header("content-type").unwrap_or("").starts_with(kind),
            "{key}"
        );
    }
    // The vocal sits on top: Whisper hears the words on the mix about as well as alone.
    // Word recall: the share of the sung words (headings left out) each transcript contains.
    let sung = sung_lyrics(out["lyrics"].as_str().expect("lyrics"));
    let stem = word_recall(
        &sung,
        &heard(&http, out["vocals_url"].as_str().unwrap()).await,
    );
    let mix = word_recall(&sung, &heard(&http, out["mix_url"].as_str().unwrap()).await);
    eprintln!("word recall: vocal stem {stem:.2}, mix {mix:.2}");
    assert!(stem > 0.3, "the vocal alone is intelligible: {stem}");
    assert!(mix >= 0.8 * stem, "mix {mix} vs stem {stem}");
    let title = out["title"].as_str().unwrap_or("");
    let last = title.rsplit(' ').next().unwrap_or("").to_lowercase();
    assert!(
        !["the", "a", "and", "of", "that", "to"].contains(&last.as_str()),
        "{title}"
    );
    let list = http.get("/api/songs/").await.json();
    assert_eq!(list["jobs"][0]["id"], id.as_str());
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seed_endpoints_chain_for_every_genre_and_duration() {
    let state = scratch_dir("songs-chain");
    let server = start(song_config(&state)).await;
    let http = Http::new(server.addr);
    let cases = [
        ("pop", 30.0),
        ("rock", 30.0),
        ("hip hop", 30.0),
        ("electronic", 30.0),
        ("lo-fi", 30.0),
        ("jazz", 30.0),
        ("country", 60.0),
        ("ballad", 30.0),
        ("r&b", 30.0),
        ("folk", 180.0),
    ];
    for (genre, duration) in cases {
        let l = http
            .post_json(
                "/api/generate-lyrics/",
                &json!({"input_text": "finding your way home", "genre": genre,
                        "duration": duration, "seed": 3}),
            )
            .await;
        assert_eq!(l.status, StatusCode::OK, "{genre}: {:?}", l.body);
        let lyrics = l.json()["lyrics"].as_str().expect("lyrics").to_string();
        let i = http
            .post_json(
                "/api/generate-instrumental/",
                &json!({"lyrics": lyrics, "genre": genre, "duration": duration, "seed": 3}),
            )
            .await;
        assert_eq!(i.status, StatusCode::OK, "{genre}: {:?}\n{lyrics}", i.body);
        let ij = i.json();
        let got = ij["duration"].as_f64().unwrap();
        let bar = 240.0 / ij["bpm"].as_f64().unwrap();
        assert!(
            (got - duration).abs() <= bar / 2.0 + 0.01,
            "{genre}: {got} vs {duration}"
        );
        let v = http
            .post_json(
                "/api/generate-vocals/",
                &json!({"lyrics": lyrics, "genre": genre, "seed": 3,
                        "instrumental_url": ij["url"]}),
            )
            .await;
        assert_eq!(v.status, StatusCode::OK, "{genre}: {:?}\n{lyrics}", v.body);
        let m = http
            .post_json(
                "/api/mix-audio/",
                &json!({"instrumental_url": ij["url"], "vocals_url": v.json()["url"], "genre": genre}),
            )
            .await;
        assert_eq!(m.status, StatusCode::OK, "{genre}: {:?}", m.body);
        eprintln!("{genre} {duration} s: ok");
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_lyrics_are_cached_canceled_and_bad_input_is_refused() {
    let state = scratch_dir("songs-lyrics");
    let server = start(song_config(&state)).await;
    let http = Http::new(server.addr);
    // Prefer: wait answers with the finished job.
    let body = json!({"lyrics": LYRICS, "genre": "pop", "duration": 45, "seed": 11});
    let r = http
        .send(
            Method::POST,
            "/api/songs/",
            &[("content-type", "application/json"), ("prefer", "wait=300")],
            body.to_string(),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let first = r.json();
    assert_eq!(first["status"], "succeeded", "{first}");
    let stages: Vec<&str> = first["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(stages, ["instrumental", "vocals", "mix"], "no lyrics stage");
    let d = first["output"]["duration"].as_f64().unwrap();
    assert!((d - 45.0).abs() < 1.5, "{d}");
    // The same request again is the same song, at once.
    let t = Instant::now();
    let again = http.post_json("/api/songs/", &body).await;
    let took = t.elapsed();
    assert_eq!(again.status, StatusCode::OK);
    let again = again.json();
    assert_eq!(again["cached"], true);
    assert_eq!(again["output"]["mix_url"], first["output"]["mix_url"]);
    eprintln!("cache hit answered in {took:?}");
    // Under 100 ms on an idle machine; the bound leaves room for the suite's other tests.
    assert!(took < Duration::from_secs(1), "{took:?}");

    // A spoken (here: sung) idea is transcribed first, and its words become the theme.
    let r = http
        .send(
            Method::POST,
            "/api/songs/",
            &[("content-type", "application/json"), ("prefer", "wait=300")],
            json!({"audio_url": first["output"]["vocals_url"], "genre": "folk",
                   "duration": 30, "seed": 12})
            .to_string(),
        )
        .await;
    let spoken = r.json();
    assert_eq!(spoken["status"], "succeeded", "{spoken}");
    assert_eq!(spoken["stages"][0]["name"], "transcribe");
    let transcript = spoken["output"]["transcript"].as_str().unwrap_or("");
    assert!(transcript.to_lowercase().contains("rain"), "{transcript}");

    // A song from a hum: the vocal follows the hummed tune (A3 C4 D4 E4 D4), an octave down
    // where it is above the baritone's range, every interval kept.
    let tune = HUM_TUNE;
    let hum = http.upload_wav(hum_wav(&tune, 4.0)).await;
    let r = http
        .send(
            Method::POST,
            "/api/songs/",
            &[("content-type", "application/json"), ("prefer", "wait=300")],
            json!({"lyrics": "Hold me close and stay", "melody_audio": hum, "genre": "folk",
                   "seed": 13})
            .to_string(),
        )
        .await;
    let hummed = r.json();
    assert_eq!(hummed["status"], "succeeded", "{hummed}");
    let score = http
        .get(
            hummed["output"]["score_json_url"]
                .as_str()
                .expect("score_json_url"),
        )
        .await
        .json();
    let sung: Vec<f64> = score["notes"]
        .as_array()
        .expect("the score's notes")
        .iter()
        .map(|n| n["midi"].as_f64().unwrap_or(0.0))
        .collect();
    let shift = sung.first().copied().unwrap_or(0.0) - tune[0].0;
    assert!(shift == 0.0 || shift == -12.0, "{sung:?}");
    assert_eq!(
        sung,
        tune.iter().map(|t| t.0 + shift).collect::<Vec<_>>(),
        "the vocal sings the hummed tune"
    );
    let mix = http
        .get(hummed["output"]["mix_url"].as_str().unwrap())
        .await;
    assert_eq!(mix.status, StatusCode::OK);

    // Cancel a running job: it stays canceled and makes no song.
    let r = http
        .post_json(
            "/api/songs/",
            &json!({"input_text": "a quiet morning", "genre": "folk", "duration": 30}),
        )
        .await;
    let id = r.json()["job_id"].as_str().unwrap().to_string();
    let c = http
        .send(
            Method::POST,
            &format!("/api/songs/{id}/cancel"),
            &[],
            Bytes::new(),
        )
        .await;
    assert_eq!(c.status, StatusCode::OK, "{:?}", c.body);
    assert_eq!(c.json()["status"], "canceled");
    tokio::time::sleep(Duration::from_secs(40)).await;
    let j = finished(&http, &id, Duration::from_secs(5)).await;
    assert_eq!(j["status"], "canceled", "{j}");
    assert!(j["output"].is_null());
    let c = http
        .send(
            Method::POST,
            &format!("/api/songs/{id}/cancel"),
            &[],
            Bytes::new(),
        )
        .await;
    expect_error(&c, StatusCode::CONFLICT, None);

    // Bad input: the status and the field, and no job written.
    let before = http.get("/api/songs/").await.json()["jobs"]
        .as_array()
        .unwrap()
        .len();
    for (body, status, field) in [
        (
            json!({"genre": "pop"}),
            StatusCode::BAD_REQUEST,
            "input_text",
        ),
        (
            json!({"input_text": "x", "duration": 2}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "duration",
        ),
        (
            json!({"input_text": "x", "webhook_url": "http://example.com/hook"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "webhook_url",
        ),
        (
            json!({"lyrics": LYRICS, "duration": 10}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "duration",
        ),
        (
            json!({"input_text": "x", "lyrics": "y"}),
            StatusCode::BAD_REQUEST,
            "lyrics",
        ),
    ] {
        let r = http.post_json("/api/songs/", &body).await;
        expect_error(&r, status, Some(field));
    }
    let after = http.get("/api/songs/").await.json()["jobs"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(before, after, "a refused request leaves no job");
    expect_error(
        &http.get("/api/songs/0123456789abcdef").await,
        StatusCode::NOT_FOUND,
        None,
    );
    let r = http
        .send(Method::PUT, "/api/songs/", &[], Bytes::new())
        .await;
    expect_error(&r, StatusCode::METHOD_NOT_ALLOWED, None);
    server.shutdown().await;
}

/// HMAC-SHA256, to check the webhook's signature independently.
fn hmac(key: &[u8], body: &[u8]) -> String {
    let mut k = [0u8; 64];
    k[..key.len()].copy_from_slice(key);
    let inner = Sha256::new()
        .chain_update(k.map(|b| b ^ 0x36))
        .chain_update(body)
        .finalize();
    let outer = Sha256::new()
        .chain_update(k.map(|b| b ^ 0x5c))
        .chain_update(inner)
        .finalize();
    outer.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_is_signed_and_retried_until_delivered() {
    // A receiver on loopback that fails the first delivery and takes the second.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let got: Arc<Mutex<Vec<(String, Bytes)>>> = Arc::default();
    let seen = got.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let seen = seen.clone();
            tokio::spawn(async move {
                let svc =
                    hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
                        let seen = seen.clone();
                        async move {
                            use http_body_util::BodyExt;
                            let sig = req
                                .headers()
                                .get("x-songforge-signature")
                                .and_then(|v| v.to_str().ok())
                                .unwrap_or("")
                                .to_string();
                            let body = req.into_body().collect().await.unwrap().to_bytes();
                            let n = {
                                let mut g = seen.lock().unwrap();
                                g.push((sig, body));
                                g.len()
                            };
                            let status = if n == 1 { 500 } else { 200 };
                            Ok::<_, std::convert::Infallible>(
                                http::Response::builder()
                                    .status(status)
                                    .body(http_body_util::Full::new(Bytes::new()))
                                    .unwrap(),
                            )
                        }
                    });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    let state = scratch_dir("songs-webhook");
    let mut config = song_config(&state);
    config.env = Arc::new(|k| (k == "SPIN_VARIABLE_WEBHOOK_SECRET").then(|| "s3cret".to_string()));
    let server = start(config).await;
    let http = Http::new(server.addr);
    let r = http
        .post_json(
            "/api/songs/",
            &json!({"lyrics": LYRICS, "genre": "rock", "seed": 5,
                    "webhook_url": format!("http://127.0.0.1:{port}/hook")}),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{:?}", r.body);
    let id = r.json()["job_id"].as_str().unwrap().to_string();
    let job = finished(&http, &id, Duration::from_secs(300)).await;
    assert_eq!(job["status"], "succeeded");
    let t = Instant::now();
    while got.lock().unwrap().len() < 2 {
        assert!(t.elapsed() < Duration::from_secs(30), "no retry arrived");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for (sig, body) in got.lock().unwrap().iter() {
        assert_eq!(sig, &format!("sha256={}", hmac(b"s3cret", body)));
        let j: Value = serde_json::from_slice(body).unwrap();
        assert_eq!(j["id"], id.as_str());
        assert_eq!(j["status"], "succeeded");
    }
    server.shutdown().await;
}

#[test]
fn a_host_killed_mid_job_reports_it_interrupted_after_a_restart() {
    let state = scratch_dir("songs-kill");
    let port = free_port();
    let up = || {
        spawn_host(
            &state,
            port,
            "[wasi_nn.graphs.llm]\nengine = \"llm\"\nmodel = \"smollm2-135m-instruct\"\ntarget = \"cpu\"\n",
            &[("SPIN_VARIABLE_JOB_STALE_SECONDS", "6")],
        )
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let http = Http::new(std::net::SocketAddr::from(([127, 0, 0, 1], port)));
    let ready = |http: &Http| rt.block_on(wait_until_ok(http, "/api/songs/"));
    let mut child = up();
    ready(&http);
    let id = rt.block_on(async {
        let r = http
            .post_json(
                "/api/songs/",
                &json!({"input_text": "rain on the roof", "genre": "pop"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{:?}", r.body);
        let id = r.json()["job_id"].as_str().unwrap().to_string();
        // Running (writing lyrics) when the host dies.
        let t = Instant::now();
        loop {
            let j = http.get(&format!("/api/songs/{id}")).await.json();
            if j["status"] == "running" {
                break;
            }
            assert!(t.elapsed() < Duration::from_secs(120), "never ran: {j}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        id
    });
    child.kill().expect("kill the host");
    let _ = child.wait();
    let mut child = up();
    ready(&http);
    let job = rt.block_on(async {
        let t = Instant::now();
        loop {
            let j = http.get(&format!("/api/songs/{id}")).await.json();
            if j["status"] != "running" && j["status"] != "queued" {
                return j;
            }
            assert!(t.elapsed() < Duration::from_secs(30), "still {j}");
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    });
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(job["status"], "failed", "{job}");
    assert_eq!(job["error"]["code"], "interrupted", "{job}");
    assert_eq!(job["error"]["stage"], "lyrics", "{job}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_started_on_one_host_is_followed_to_its_song_on_another_sharing_redis_and_serve_nn() {
    let state = scratch_dir("songs-redis");
    let port = free_port();
    let mut redis = redis_server(&state, port);
    wait_for_port(port).await;
    // One inference service for both hosts, as a deployment shares one GPU: neither host
    // loads a model.
    let nn = serve_nn(&state, SONG_GRAPHS).await;
    let host = |name: &str| {
        let dir = state.join(name);
        std::fs::create_dir_all(&dir).expect("host dir");
        let rc = dir.join("runtime-config.toml");
        std::fs::write(&rc, redis_store(port)).expect("runtime config");
        let mut c = app_on_nn(&dir, nn.addr, NN_TOKEN);
        c.runtime_config = Some(rc);
        c
    };
    let a = start(host("a")).await;
    let b = start(host("b")).await;
    let (ha, hb) = (Http::new(a.addr), Http::new(b.addr));
    // A file uploaded through one is served by the other.
    let wav = wav_tone(16_000);
    let url = ha.upload_wav(wav.clone()).await;
    assert_eq!(hb.get(&url).await.body, wav);
    let r = ha
        .post_json(
            "/api/songs/",
            &json!({"lyrics": LYRICS, "genre": "pop", "seed": 4}),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{:?}", r.body);
    let id = r.json()["job_id"].as_str().expect("job_id").to_string();
    // The other host lists it, follows it while it runs, and serves what it made.
    let listed = hb.get("/api/songs/").await;
    assert_eq!(listed.status, StatusCode::OK);
    assert!(listed.json().to_string().contains(&id), "{:?}", listed.body);
    let job = finished(&hb, &id, Duration::from_secs(600)).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    for key in ["mix_url", "vocals_url", "instrumental_url"] {
        let url = job["output"][key].as_str().expect(key);
        let r = hb.send(Method::GET, url, &[], Bytes::new()).await;
        assert_eq!(r.status, StatusCode::OK, "{key}");
        assert_eq!(r.header("content-type"), Some("audio/wav"), "{key}");
        assert!(r.body.len() > 44 + 44_100, "{key}: {} bytes", r.body.len());
    }
    a.shutdown().await;
    b.shutdown().await;
    nn.shutdown().await;
    let _ = redis.kill();
    let _ = redis.wait();
}
