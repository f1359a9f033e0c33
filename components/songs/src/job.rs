//! The job record: what a client polls, streams and gets in a webhook; kept in key-value so
//! any host sharing the store can answer for it.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use songforge_guest::ApiError;
use songforge_guest::retention::{CANCEL_PREFIX, JOB_PREFIX};
use songforge_song_request::SongRequest;
use spin_sdk::key_value::Store;

/// Key-value keys.
pub const INDEX_KEY: &str = "songs:index";
/// Most jobs `GET /api/songs/` lists.
pub const INDEX_LEN: usize = 50;
/// A running job whose heartbeat is older than this was interrupted (its host stopped);
/// the `job_stale_seconds` variable overrides it.
pub const STALE_AFTER_S: f64 = 30.0;

/// Seconds without a heartbeat after which a running job counts as interrupted.
pub async fn stale_after_s() -> f64 {
    songforge_guest::settings::positive_or("job_stale_seconds", STALE_AFTER_S).await
}

/// Where a job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Accepted, not started.
    Queued,
    /// A stage is running.
    Running,
    /// Every stage finished; `output` holds the song.
    Succeeded,
    /// A stage failed; `error` says which and why.
    Failed,
    /// Canceled by the client.
    Canceled,
}

impl Status {
    /// Whether the job will not change again.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed | Self::Canceled)
    }
}

/// One stage's record.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StageRecord {
    /// `transcribe`, `lyrics`, `instrumental`, `vocals`, `mix`.
    pub name: String,
    /// `pending`, `running`, `succeeded`, `failed`, `skipped`.
    pub status: String,
    /// Wall time, milliseconds.
    pub ms: Option<u64>,
    /// Reused from an identical earlier request.
    pub cached: bool,
}

/// Links a client follows.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Urls {
    /// This record.
    pub get: String,
    /// Server-Sent Events.
    pub stream: String,
    /// POST to cancel.
    pub cancel: String,
}

/// A song job.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Job {
    /// Id.
    pub id: String,
    /// Same as `id` (the name the 202 answer uses).
    pub job_id: String,
    /// Where it is.
    pub status: Status,
    /// The stage running (or the last one).
    pub stage: Option<String>,
    /// 0–1.
    pub progress: f64,
    /// Jobs ahead of this one (every job starts at once here; see the README).
    pub queue_position: u32,
    /// Seconds left, estimated from the time spent per unit of progress so far.
    pub eta_s: Option<f64>,
    /// ISO 8601.
    pub created_at: String,
    /// ISO 8601.
    pub started_at: Option<String>,
    /// ISO 8601.
    pub completed_at: Option<String>,
    /// Unix seconds of the last sign of life from the running instance.
    pub heartbeat_at: f64,
    /// Unix seconds of creation.
    pub created_unix: f64,
    /// Stages in order.
    pub stages: Vec<StageRecord>,
    /// The request, validated.
    pub input: SongRequest,
    /// The song, when done.
    pub output: Option<Value>,
    /// The failing stage and its error JSON, or why the job stopped.
    pub error: Option<Value>,
    /// Whether the answer came from the cache.
    pub cached: bool,
    /// Links.
    pub urls: Urls,
    /// `urls.get`, as the 202 answer names it.
    pub status_url: String,
    /// `urls.stream`, as the 202 answer names it.
    pub events_url: String,
    /// The API key the job belongs to (none while keys are off); other keys get 404.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
}

/// Unix time now, seconds.
pub fn now() -> f64 {
    songforge_guest::retention::now_unix()
}

/// Unix seconds as ISO 8601 UTC (`2026-12-03T09:30:00.123Z`).
pub fn iso(unix: f64) -> String {
    let ms = (unix * 1000.0) as i64;
    let (secs, milli) = (ms.div_euclid(1000), ms.rem_euclid(1000));
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{milli:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn job_key(id: &str) -> String {
    format!("{JOB_PREFIX}{id}")
}

/// The key that asks a running job to stop.
pub fn cancel_key(id: &str) -> String {
    format!("{CANCEL_PREFIX}{id}")
}

fn store_error(e: impl std::fmt::Display) -> ApiError {
    ApiError::service_unavailable(format!("the job store is unavailable: {e}"))
}

/// The app's default store.
pub async fn store() -> Result<Store, ApiError> {
    Store::open("default").await.map_err(store_error)
}

impl Job {
    /// A queued job for `input`, with the stages it will run.
    pub fn new(id: String, input: SongRequest, stages: &[&str]) -> Self {
        let t = now();
        let get = format!("/api/songs/{id}");
        let urls = Urls {
            stream: format!("{get}/events"),
            cancel: format!("{get}/cancel"),
            get: get.clone(),
        };
        Self {
            job_id: id.clone(),
            id,
            status: Status::Queued,
            stage: None,
            progress: 0.0,
            queue_position: 0,
            eta_s: None,
            created_at: iso(t),
            started_at: None,
            completed_at: None,
            heartbeat_at: t,
            created_unix: t,
            stages: stages
                .iter()
                .map(|s| StageRecord {
                    name: (*s).into(),
                    status: "pending".into(),
                    ms: None,
                    cached: false,
                })
                .collect(),
            input,
            output: None,
            error: None,
            cached: false,
            status_url: urls.get.clone(),
            events_url: urls.stream.clone(),
            urls,
            owner: songforge_guest::access::caller().map(str::to_string),
        }
    }

    /// Writes the record.
    pub async fn save(&self, store: &Store) -> Result<(), ApiError> {
        let bytes = serde_json::to_vec(self).map_err(ApiError::internal_from)?;
        store
            .set(job_key(&self.id), bytes)
            .await
            .map_err(store_error)
    }

    /// Reads a record; a running job whose instance stopped answering is marked failed with
    /// reason `interrupted` (and written back), so no job stays running for ever.
    pub async fn load(store: &Store, id: &str) -> Result<Option<Job>, ApiError> {
        if id.is_empty() || id.len() > 64 || !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Ok(None);
        }
        let Some(bytes) = store.get(job_key(id)).await.map_err(store_error)? else {
            return Ok(None);
        };
        let mut job: Job = serde_json::from_slice(&bytes)
            .map_err(|e| ApiError::internal(format!("job {id} is unreadable: {e}")))?;
        let retention = songforge_guest::retention::retention_s().await;
        if !songforge_guest::access::may_see(job.owner.as_deref())
            || songforge_guest::retention::is_expired(job.created_unix, now(), retention)
        {
            return Ok(None);
        }
        if !job.status.is_final() && now() - job.heartbeat_at > stale_after_s().await {
            job.finish_failed(serde_json::json!({
                "code": "interrupted",
                "message": "the host running this job stopped before it finished; send the request again (finished stages are reused when a seed was given)",
                "stage": job.stage,
            }));
            job.save(store).await?;
        }
        Ok(Some(job))
    }

    /// Marks the job failed with `error`.
    pub fn finish_failed(&mut self, error: Value) {
        self.status = Status::Failed;
        self.error = Some(error);
        self.eta_s = None;
        self.completed_at = Some(iso(now()));
        for s in &mut self.stages {
            if s.status == "running" {
                s.status = "failed".into();
            }
        }
    }

    /// Adds the job to the front of its owner's recent list.
    pub async fn index(&self, store: &Store) -> Result<(), ApiError> {
        let mut ids = recent(store).await?;
        ids.retain(|i| i != &self.id);
        ids.insert(0, self.id.clone());
        ids.truncate(INDEX_LEN);
        let bytes = serde_json::to_vec(&ids).map_err(ApiError::internal_from)?;
        store.set(index_key(), bytes).await.map_err(store_error)
    }
}

/// The caller's recent list: one per API key, so one key's jobs never push out another's.
fn index_key() -> String {
    match songforge_guest::access::caller() {
        Some(owner) => format!("{INDEX_KEY}:{owner}"),
        None => INDEX_KEY.to_string(),
    }
}

/// Ids of the caller's recent jobs, newest first.
pub async fn recent(store: &Store) -> Result<Vec<String>, ApiError> {
    Ok(match store.get(index_key()).await.map_err(store_error)? {
        Some(b) => serde_json::from_slice(&b).unwrap_or_default(),
        None => Vec::new(),
    })
}
