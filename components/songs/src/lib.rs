//! `/api/songs/`: one call from a theme, lyrics or a spoken idea to a mastered song.
//!
//! - `POST /api/songs/` (JSON, or multipart with `audio` / `melody_audio` files) answers
//!   `202 {job_id, status_url, events_url}` and the job goes on in this instance after the
//!   answer (the component model's work after returning; the host keeps the instance until
//!   its tasks exit). `Prefer: wait=N` or `?wait=true` answers with the finished job.
//! - `GET /api/songs/{id}` polls, `GET /api/songs/{id}/events` streams Server-Sent Events,
//!   `POST /api/songs/{id}/cancel` cancels, `GET /api/songs/` lists recent jobs.
//!
//! The stages are the other components, called over Spin's local service chaining. The
//! record lives in key-value; a job whose instance stopped (a host restart) stops sending
//! heartbeats and is reported `failed` with code `interrupted`.

mod job;
mod run;

use bytes::Bytes;
use http_body_util::BodyExt;
use http_body_util::combinators::UnsyncBoxBody;
use job::{Job, Status, cancel_key, recent, store};
use serde_json::json;
use sha2::{Digest, Sha256};
use songforge_guest::input::{is_form, new_seed, pronunciation, read_form};
use songforge_guest::media::{MediaFormat, put_media};
use songforge_guest::request::{
    FormPart, header_str, parse_json, path_info, query_param, read_body,
};
use songforge_guest::settings;
use songforge_guest::{ApiError, Reply, success, success_with_status};
use songforge_song_request::{Fields, Refusal, Source, fields_from_form};
use spin_sdk::http::{IntoResponse, Method, Request, StatusCode};
use spin_sdk::http_service;
use std::time::Duration;

/// How often the event stream looks at the record.
const EVENT_POLL: Duration = Duration::from_millis(250);
/// A comment line keeps idle event streams open through proxies.
const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// Longest `Prefer: wait`, seconds.
const MAX_WAIT_S: u64 = 600;
/// Largest uploaded recording.
const MAX_UPLOAD_BYTES: usize = 50 * 1024 * 1024;

/// A JSON reply or an event stream.
enum Answer {
    Json(Reply),
    Events(http::Response<UnsyncBoxBody<Bytes, anyhow_free::Error>>),
}

mod anyhow_free {
    /// The event stream's error type (the stream never fails; the client may go).
    pub type Error = Box<dyn std::error::Error + Send + Sync>;
}

impl IntoResponse for Answer {
    fn into_response(
        self,
    ) -> Result<spin_sdk::wasip3::http::types::Response, spin_sdk::wasip3::http::types::ErrorCode>
    {
        match self {
            Answer::Json(r) => r.into_response(),
            Answer::Events(r) => r.into_response(),
        }
    }
}

#[http_service]
async fn handle(req: Request) -> Result<Answer, ApiError> {
    songforge_guest::access::authenticate(&req).await?;
    // Expired media and jobs are deleted after this response, when a sweep is due.
    spin_sdk::wasip3::spawn(songforge_guest::retention::sweep_if_due());
    let info = path_info(&req);
    let parts: Vec<&str> = info
        .trim_matches('/')
        .split('/')
        .filter(|p| !p.is_empty())
        .collect();
    let method = req.method().clone();
    match (parts.as_slice(), method) {
        ([], Method::POST) => create(req).await.map(Answer::Json),
        ([], Method::GET) => list().await.map(Answer::Json),
        ([id], Method::GET) => get(id).await.map(Answer::Json),
        ([id, "events"], Method::GET) => events(id).await,
        ([id, "cancel"], Method::POST) => cancel(id).await.map(Answer::Json),
        ([] | [_], m) => Err(ApiError::method_not_allowed(
            &m,
            if parts.is_empty() {
                &[Method::GET, Method::POST]
            } else {
                &[Method::GET]
            },
        )),
        ([_, "events"], m) => Err(ApiError::method_not_allowed(&m, &[Method::GET])),
        ([_, "cancel"], m) => Err(ApiError::method_not_allowed(&m, &[Method::POST])),
        _ => Err(ApiError::not_found(format!("no songs resource at {info}"))),
    }
}

/// Where an upload stands in the fields until the request is valid and the file is stored.
const PENDING_UPLOAD: &str = "/media/pending-upload";

/// A recording from the form: its field, the format its bytes say it is (anything but audio
/// is refused) and the bytes.
fn upload(p: &FormPart) -> Result<(String, &'static MediaFormat, &[u8]), ApiError> {
    if p.data.is_empty() || p.data.len() > MAX_UPLOAD_BYTES {
        return Err(ApiError::unprocessable(format!(
            "the recording must hold 1 to {MAX_UPLOAD_BYTES} bytes"
        ))
        .with_field(&p.name));
    }
    let format = MediaFormat::sniff(&p.data)
        .filter(|f| f.content_type.starts_with("audio/") && f.extension != "mid")
        .ok_or_else(|| {
            ApiError::unsupported_media_type("the recording is not WAV, FLAC, OGG, MP3 or M4A")
                .with_field(&p.name)
        })?;
    Ok((p.name.clone(), format, &p.data))
}

/// Reads the request (JSON or multipart), validates it, stores its recordings, answers from
/// the cache or starts the job.
async fn create(req: Request) -> Result<Reply, ApiError> {
    let wait = wait_seconds(&req);
    let (parts, body) = read_body(req).await?;
    // Recordings are checked here but stored only once the whole request is valid, so a
    // refused request leaves nothing behind.
    let mut uploads = Vec::new();
    let sent_as_form = is_form(&parts.headers);
    let form = if sent_as_form {
        read_form(&parts.headers, &body)?
    } else {
        Vec::new()
    };
    let mut fields: Fields = if sent_as_form {
        let mut text = Vec::new();
        for p in &form {
            match (&p.filename, p.name.as_str()) {
                (None, "audio" | "melody_audio") => {}
                (None, name) => text.push((name, p.text()?)),
                (Some(_), "audio" | "melody_audio") => uploads.push(upload(p)?),
                (Some(_), name) => {
                    return Err(ApiError::bad_request(
                        "only `audio` and `melody_audio` may be files",
                    )
                    .with_field(name));
                }
            }
        }
        fields_from_form(text)?
    } else {
        parse_json(&parts.headers, &body)?
    };
    for (field, _, _) in &uploads {
        fields.set_upload(field, PENDING_UPLOAD.to_string());
    }
    let seed = new_seed()?;
    // Syllables matter only for the user's own lyrics: CMUdict is read only for them.
    let dict = || pronunciation().map(|(d, _)| d);
    let hosts = settings::list_or("webhook_hosts", "http://127.0.0.1:*,http://localhost:*").await;
    let mut request = fields.validate(seed, dict, &hosts).map_err(|r| match r {
        Refusal::Field(e) => ApiError::from(e),
        Refusal::Dictionary(e) => e,
    })?;
    for (field, format, data) in uploads {
        let stored = put_media(&field, format.extension, format.content_type, data).await?;
        match field.as_str() {
            "audio" => request.source = Source::Audio(stored.url),
            _ => request.melody_audio = Some(stored.url),
        }
    }
    let store = store().await?;

    // The same request with the same seed is the same song: answer with it.
    let cache_key = format!(
        "{}{}",
        songforge_guest::retention::SONG_CACHE_PREFIX,
        hex::encode(Sha256::digest(
            serde_json::to_vec(&json!({
                "source": request.source, "melody": request.melody_audio, "genre": request.genre,
                "mood": request.mood, "duration": request.duration, "bpm": request.bpm,
                "key": request.key, "seed": request.seed, "engines": request.engines,
                "stems": request.stems, "format": request.format,
                "owner": songforge_guest::access::caller(),
            }))
            .unwrap_or_default()
        ))
    );
    if request.cache
        && request.seed_given
        && let Ok(Some(id)) = store.get(&cache_key).await
        && let Ok(id) = String::from_utf8(id)
        && let Some(mut done) = Job::load(&store, &id).await?
        && done.status == Status::Succeeded
    {
        done.cached = true;
        return Ok(success_with_status(StatusCode::OK, &done));
    }

    let id = format!(
        "{:016x}",
        getrandom::u64().map_err(ApiError::internal_from)?
    );
    let job = Job::new(id.clone(), request.clone(), &run::stages(&request));
    job.save(&store).await?;
    job.index(&store).await?;
    let accepted = json!({
        "job_id": job.id, "id": job.id, "status": job.status,
        "status_url": job.status_url, "events_url": job.events_url,
        "cancel_url": job.urls.cancel, "urls": job.urls,
    });
    let secret = settings::text_or("webhook_secret", "").await;
    let runner = run::Runner::new(store, job);
    // Work after returning: the job runs on in this instance after the 202.
    spin_sdk::wasip3::spawn(async move {
        let finished = runner.run().await;
        if finished.status == Status::Succeeded
            && finished.input.seed_given
            && let Ok(s) = job::store().await
        {
            let _ = s.set(&cache_key, finished.id.as_bytes()).await;
        }
        if let Some(url) = &finished.input.webhook_url {
            run::deliver_webhook(url, &secret, &finished).await;
        }
    });
    if let Some(limit) = wait {
        let store = job::store().await?;
        let deadline = std::time::Instant::now() + Duration::from_secs(limit);
        while std::time::Instant::now() < deadline {
            spin_sdk::time::sleep(EVENT_POLL).await;
            if let Some(j) = Job::load(&store, &id).await?
                && j.status.is_final()
            {
                return Ok(success(&j));
            }
        }
    }
    Ok(success_with_status(StatusCode::ACCEPTED, &accepted))
}

/// `Prefer: wait=N` (RFC 7240) or `?wait=true` / `?wait=N`: seconds to wait for the end.
fn wait_seconds(req: &Request) -> Option<u64> {
    let from_header = header_str(req.headers(), "prefer").and_then(|p| {
        p.split([',', ';'])
            .filter_map(|t| t.trim().strip_prefix("wait="))
            .find_map(|n| n.trim().parse::<u64>().ok())
    });
    let from_query = query_param(req, "wait").and_then(|w| match w.as_str() {
        "true" | "1" | "yes" => Some(MAX_WAIT_S),
        n => n.parse().ok(),
    });
    from_header.or(from_query).map(|s| s.min(MAX_WAIT_S))
}

async fn get(id: &str) -> Result<Reply, ApiError> {
    let store = store().await?;
    match Job::load(&store, id).await? {
        Some(job) => Ok(success(&job)),
        None => Err(ApiError::not_found(format!("no song job `{id}`"))),
    }
}

async fn list() -> Result<Reply, ApiError> {
    let store = store().await?;
    let mut jobs = Vec::new();
    for id in recent(&store).await? {
        if let Some(j) = Job::load(&store, &id).await? {
            jobs.push(json!({
                "id": j.id, "status": j.status, "stage": j.stage, "progress": j.progress,
                "created_at": j.created_at, "completed_at": j.completed_at,
                "title": j.output.as_ref().and_then(|o| o.get("title")).cloned(),
                "mix_url": j.output.as_ref().and_then(|o| o.get("mix_url")).cloned(),
                "urls": j.urls,
            }));
        }
    }
    Ok(success(&json!({ "jobs": jobs })))
}

async fn cancel(id: &str) -> Result<Reply, ApiError> {
    let store = store().await?;
    let Some(mut job) = Job::load(&store, id).await? else {
        return Err(ApiError::not_found(format!("no song job `{id}`")));
    };
    if job.status.is_final() {
        return Err(ApiError::new(
            songforge_guest::ErrorCode::Conflict,
            format!(
                "the job has already {}",
                serde_json::to_value(job.status)
                    .unwrap_or_default()
                    .as_str()
                    .unwrap_or("ended")
            ),
        ));
    }
    store
        .set(cancel_key(id), b"1")
        .await
        .map_err(|e| ApiError::service_unavailable(e.to_string()))?;
    job.status = Status::Canceled;
    job.eta_s = None;
    job.completed_at = Some(job::iso(job::now()));
    job.save(&store).await?;
    Ok(success(&job))
}

/// Server-Sent Events: a `progress` event for every change of status, stage or progress,
/// then one final event named after the end (`succeeded`, `failed`, `canceled`).
async fn events(id: &str) -> Result<Answer, ApiError> {
    let store = store().await?;
    let Some(first) = Job::load(&store, id).await? else {
        return Err(ApiError::not_found(format!("no song job `{id}`")));
    };
    let (mut tx, body) = spin_sdk::http::body::stream::<String>();
    let id = id.to_string();
    spin_sdk::wasip3::spawn(async move {
        use futures::SinkExt;
        let mut last: Option<(Status, Option<String>, u64)> = None;
        let mut job = Some(first);
        let mut quiet = std::time::Instant::now();
        let mut n = 0u64;
        loop {
            if let Some(j) = job.take() {
                let key = (j.status, j.stage.clone(), (j.progress * 1000.0) as u64);
                if last.as_ref() != Some(&key) {
                    n += 1;
                    let name = if j.status.is_final() {
                        serde_json::to_value(j.status)
                            .ok()
                            .and_then(|v| v.as_str().map(str::to_string))
                            .unwrap_or_else(|| "done".into())
                    } else {
                        "progress".into()
                    };
                    let data = serde_json::to_string(&j).unwrap_or_default();
                    if tx
                        .send(format!("id: {n}\nevent: {name}\ndata: {data}\n\n"))
                        .await
                        .is_err()
                    {
                        return;
                    }
                    quiet = std::time::Instant::now();
                    last = Some(key);
                }
                if j.status.is_final() {
                    return;
                }
            }
            if quiet.elapsed() >= KEEP_ALIVE {
                if tx.send(": keep-alive\n\n".to_string()).await.is_err() {
                    return;
                }
                quiet = std::time::Instant::now();
            }
            spin_sdk::time::sleep(EVENT_POLL).await;
            job = Job::load(&store, &id).await.unwrap_or_default();
        }
    });
    let response = http::Response::builder()
        .status(200)
        .header("content-type", "text/event-stream")
        .header("cache-control", "no-cache")
        .body(
            body.map_err(|e| -> anyhow_free::Error { e.into() })
                .boxed_unsync(),
        )
        .map_err(ApiError::internal_from)?;
    Ok(Answer::Events(response))
}
