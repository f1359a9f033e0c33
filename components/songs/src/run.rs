//! Running a job: each stage is its own component, called over Spin's local service chaining
//! (`http://<component>.spin.internal/...`) with the JSON a client would send it, so the
//! stages stay the seed endpoints and can be scaled or replaced one by one.

use crate::job::{Job, Status, cancel_key, iso, now};
use bytes::Bytes;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use songforge_song_request::{SongRequest, Source};
use spin_sdk::http::FullBody;
use spin_sdk::http::body::IncomingBodyExt;
use spin_sdk::key_value::Store;
use std::cell::RefCell;
use std::time::{Duration, Instant};

/// How often a running job writes its heartbeat.
const HEARTBEAT: Duration = Duration::from_secs(5);
/// How long a job keeps asking a busy stage (503) before it fails, and the pauses between.
const BUSY_PATIENCE: Duration = Duration::from_secs(180);
const BUSY_FIRST_PAUSE: Duration = Duration::from_millis(500);
const BUSY_MAX_PAUSE: Duration = Duration::from_secs(5);

/// A stage of the chain: its name in the job, the component that runs it, and its route.
struct Stage {
    name: &'static str,
    component: &'static str,
    path: &'static str,
}

const TRANSCRIBE: Stage = Stage {
    name: "transcribe",
    component: "transcribe",
    path: "/api/transcribe/",
};
const LYRICS: Stage = Stage {
    name: "lyrics",
    component: "lyrics",
    path: "/api/generate-lyrics/",
};
const INSTRUMENTAL: Stage = Stage {
    name: "instrumental",
    component: "instrumental",
    path: "/api/generate-instrumental/",
};
const VOCALS: Stage = Stage {
    name: "vocals",
    component: "vocals",
    path: "/api/generate-vocals/",
};
const MIX: Stage = Stage {
    name: "mix",
    component: "mixer",
    path: "/api/mix-audio/",
};

/// The share of the whole job each stage usually takes (measured on a 2-core CPU host).
fn weight(stage: &str) -> f64 {
    match stage {
        "transcribe" => 0.05,
        "lyrics" => 0.45,
        "instrumental" => 0.12,
        "vocals" => 0.28,
        _ => 0.10,
    }
}

/// The stages a request runs, in order.
pub fn stages(request: &SongRequest) -> Vec<&'static str> {
    let mut s = Vec::new();
    if matches!(request.source, Source::Audio(_)) {
        s.push(TRANSCRIBE.name);
    }
    if !matches!(request.source, Source::Lyrics(_)) {
        s.push(LYRICS.name);
    }
    // A hum sets the song's timing: the vocal is sung to it first, then the band is fitted
    // to the vocal's length and key.
    if request.melody_audio.is_some() {
        s.extend([VOCALS.name, INSTRUMENTAL.name, MIX.name]);
    } else {
        s.extend([INSTRUMENTAL.name, VOCALS.name, MIX.name]);
    }
    s
}

/// The shortest instrumental the arranger writes, in seconds.
const MIN_INSTRUMENTAL_S: f64 = 5.0;
/// The form of a band under a hummed vocal: sections without lines are played, not sung.
const BAND_ONLY_FORM: &str = "Intro:\n\nOutro:";

/// A stage that answered with an error.
struct StageFailure {
    status: u16,
    body: Value,
}

/// Why a job stopped early.
enum Stop {
    Failed(Value),
    Canceled,
}

/// Calls a stage component with a JSON body; its JSON answer, or its error.
async fn call(component: &str, path: &str, body: &Value) -> Result<Value, StageFailure> {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let request = http::Request::builder()
        .method("POST")
        .uri(format!("http://{component}.spin.internal{path}"))
        .header("content-type", "application/json");
    // The stages store what they make under the caller's key, as if it had called them.
    let request = match songforge_guest::access::forwarded_authorization() {
        Some(auth) => request.header(http::header::AUTHORIZATION, auth),
        None => request,
    }
    .body(FullBody::new(Bytes::from(bytes)));
    let request = request.map_err(|e| StageFailure {
        status: 500,
        body: json!({"code": "internal", "message": e.to_string()}),
    })?;
    let response = spin_sdk::http::send(request).await.map_err(|e| StageFailure {
        status: 503,
        body: json!({"code": "service_unavailable", "message": format!("`{component}` could not be reached: {e}")}),
    })?;
    let status = response.status().as_u16();
    let bytes = response.into_body().bytes().await.map_err(|e| StageFailure {
        status: 502,
        body: json!({"code": "bad_gateway", "message": format!("`{component}` broke off its answer: {e}")}),
    })?;
    let value: Value = serde_json::from_slice(&bytes).unwrap_or_else(
        |_| json!({"code": "bad_gateway", "message": String::from_utf8_lossy(&bytes)}),
    );
    if (200..300).contains(&status) {
        Ok(value)
    } else {
        Err(StageFailure {
            status,
            body: value.get("error").cloned().unwrap_or(value),
        })
    }
}

/// A stage's answer for `body`, reused when the same stage got the same request before.
async fn cached_call(
    store: &Store,
    reuse: bool,
    component: &str,
    path: &str,
    body: &Value,
) -> Result<(Value, bool), StageFailure> {
    // Per key: another key's stage results name files this caller cannot read.
    let owner = songforge_guest::access::caller().unwrap_or("");
    let key = format!(
        "{}{}",
        songforge_guest::retention::STAGE_CACHE_PREFIX,
        hex::encode(Sha256::digest(format!("{owner}{component}{path}{body}")))
    );
    if reuse
        && let Ok(Some(bytes)) = store.get(&key).await
        && let Ok(v) = serde_json::from_slice::<Value>(&bytes)
        && still_stored(&v).await
    {
        return Ok((v, true));
    }
    let v = call(component, path, body).await?;
    if reuse && let Ok(bytes) = serde_json::to_vec(&v) {
        let _ = store.set(&key, bytes).await;
    }
    Ok((v, false))
}

/// Whether every file an earlier answer names is still stored (media can be deleted).
async fn still_stored(answer: &Value) -> bool {
    for key in ["url", "midi_url", "arrangement_url", "score_url"] {
        if let Some(name) = answer
            .get(key)
            .and_then(Value::as_str)
            .and_then(|u| u.strip_prefix("/media/"))
            && !matches!(
                songforge_guest::media::get_media_meta(name).await,
                Ok(Some(_))
            )
        {
            return false;
        }
    }
    true
}

/// The job as it runs: one copy in memory, written whole after every change so the
/// heartbeat and the stages never write over each other with stale reads.
pub struct Runner {
    store: Store,
    job: RefCell<Job>,
    started: Instant,
}

impl Runner {
    /// A runner for a saved job.
    pub fn new(store: Store, job: Job) -> Self {
        Self {
            store,
            job: RefCell::new(job),
            started: Instant::now(),
        }
    }

    async fn save(&self) -> Result<(), Stop> {
        let cancel = cancel_key(&self.job.borrow().id);
        if matches!(self.store.exists(cancel).await, Ok(true)) {
            return Err(Stop::Canceled);
        }
        let job = self.job.borrow().clone();
        job.save(&self.store)
            .await
            .map_err(|e| Stop::Failed(json!({"code": "store", "message": e.message()})))
    }

    fn update(&self, f: impl FnOnce(&mut Job)) {
        let mut job = self.job.borrow_mut();
        f(&mut job);
        job.heartbeat_at = now();
        let done: f64 = job
            .stages
            .iter()
            .filter(|s| s.status == "succeeded")
            .map(|s| weight(&s.name))
            // An empty f64 sum is -0.0: a job that failed in its first stage reported
            // `"progress": -0.0`.
            .fold(0.0, |a, w| a + w);
        let total: f64 = job.stages.iter().map(|s| weight(&s.name)).sum();
        job.progress = if job.status == Status::Succeeded {
            1.0
        } else {
            (done / total.max(1e-9)).min(0.99)
        };
        let elapsed = self.started.elapsed().as_secs_f64();
        job.eta_s = (job.progress > 0.0 && !job.status.is_final())
            .then(|| (elapsed * (1.0 - job.progress) / job.progress).round());
    }

    /// Runs one stage: marks it, calls it, times it.
    async fn stage(&self, stage: &Stage, body: Value) -> Result<Value, Stop> {
        let name = stage.name;
        let reuse = {
            let j = self.job.borrow();
            j.input.cache && j.input.seed_given
        };
        self.update(|j| {
            j.status = Status::Running;
            j.stage = Some(name.into());
            if let Some(s) = j.stages.iter_mut().find(|s| s.name == name) {
                s.status = "running".into();
            }
        });
        self.save().await?;
        let t = Instant::now();
        let mut result = cached_call(&self.store, reuse, stage.component, stage.path, &body).await;
        // A stage that is busy (a full inference queue, the host's memory budget) is asked
        // again after a pause, as a client would, rather than failing the whole song.
        let mut pause = BUSY_FIRST_PAUSE;
        while let Err(f) = &result
            && f.status == 503
            && t.elapsed() + pause < BUSY_PATIENCE
        {
            spin_sdk::time::sleep(pause).await;
            // Saving beats the heart and notices a cancel.
            self.update(|_| {});
            self.save().await?;
            pause = (pause * 2).min(BUSY_MAX_PAUSE);
            result = cached_call(&self.store, reuse, stage.component, stage.path, &body).await;
        }
        let ms = t.elapsed().as_millis() as u64;
        match result {
            Ok((value, cached)) => {
                self.update(|j| {
                    if let Some(s) = j.stages.iter_mut().find(|s| s.name == name) {
                        s.status = "succeeded".into();
                        s.ms = Some(ms);
                        s.cached = cached;
                    }
                });
                self.save().await?;
                Ok(value)
            }
            Err(f) => Err(Stop::Failed(json!({
                "stage": name,
                "status": f.status,
                "code": f.body.get("code").cloned().unwrap_or(Value::Null),
                "message": f.body.get("message").cloned().unwrap_or(Value::Null),
                "field": f.body.get("field").cloned().unwrap_or(Value::Null),
            }))),
        }
    }

    /// The whole chain; the song's output on success.
    async fn chain(&self) -> Result<Value, Stop> {
        let r = self.job.borrow().input.clone();
        let engine = |stage: &str| r.engines.get(stage).cloned();
        let mut theme = match &r.source {
            Source::InputText(t) => Some(t.clone()),
            _ => None,
        };
        let mut transcript = None;
        if let Source::Audio(url) = &r.source {
            let heard = self.stage(&TRANSCRIBE, json!({"audio_url": url})).await?;
            let text = heard
                .get("transcribed_text")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .trim()
                .to_string();
            if text.is_empty() {
                return Err(Stop::Failed(json!({
                    "stage": "transcribe", "status": 422, "code": "unprocessable",
                    "field": "audio", "message": "no words were heard in the recording",
                })));
            }
            theme = Some(text.clone());
            transcript = Some(text);
        }
        let (lyrics, title, lyrics_answer) = match (&r.source, theme) {
            (Source::Lyrics(l), _) => (l.clone(), None, Value::Null),
            (_, Some(theme)) => {
                let mut body = json!({
                    "input_text": theme, "genre": r.genre, "mood": r.mood,
                    "duration": r.duration, "bpm": r.bpm, "seed": r.seed,
                });
                if let Some(e) = engine("lyrics") {
                    body["engine"] = e;
                }
                let a = self.stage(&LYRICS, body).await?;
                let text = a
                    .get("lyrics")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                let title = a.get("title").and_then(Value::as_str).map(str::to_string);
                (text, title, a)
            }
            (_, None) => unreachable_source()?,
        };
        let instrumental_body = |lyrics: &str, duration: Option<f64>, key: Option<Value>| {
            let mut body = json!({
                "lyrics": lyrics, "genre": r.genre, "mood": r.mood, "duration": duration,
                "bpm": r.bpm, "key": key, "seed": r.seed, "stems": r.stems,
            });
            if let Some(e) = engine("instrumental") {
                body["engine"] = e;
            }
            body
        };
        let vocals_body = |instrumental_url: Option<&Value>| {
            let mut body = json!({"lyrics": lyrics, "genre": r.genre, "seed": r.seed});
            if let Some(url) = instrumental_url {
                body["instrumental_url"] = url.clone();
            }
            if let Some(m) = &r.melody_audio {
                body["melody_audio"] = json!(m);
            }
            if let Some(e) = engine("vocals") {
                body["engine"] = e;
            }
            body
        };
        let (instrumental, vocals) = if r.melody_audio.is_some() {
            // The hum is the timing: the vocal first, then a band as long as it (at least the
            // arranger's shortest), in the key the hum is in unless the request names one.
            let vocals = self.stage(&VOCALS, vocals_body(None)).await?;
            let length = vocals.get("duration").and_then(Value::as_f64);
            let key = r
                .key
                .clone()
                .map(Value::from)
                .or_else(|| vocals.get("key").cloned().filter(|k| !k.is_null()));
            // The vocal follows the hum's own timing, not a bar grid, so the band plays a form
            // with no sung lines (two instrumental sections) of the vocal's length.
            let body = instrumental_body(
                BAND_ONLY_FORM,
                length.map(|d| d.max(MIN_INSTRUMENTAL_S)),
                key,
            );
            (self.stage(&INSTRUMENTAL, body).await?, vocals)
        } else {
            let body = instrumental_body(&lyrics, r.duration, r.key.clone().map(Value::from));
            let instrumental = self.stage(&INSTRUMENTAL, body).await?;
            let url = instrumental.get("url").cloned().unwrap_or(Value::Null);
            let vocals = self.stage(&VOCALS, vocals_body(Some(&url))).await?;
            (instrumental, vocals)
        };
        let instrumental_url = instrumental.get("url").cloned().unwrap_or(Value::Null);
        let vocals_url = vocals.get("url").cloned().unwrap_or(Value::Null);
        let mix = self
            .stage(
                &MIX,
                json!({
                    "instrumental_url": instrumental_url, "vocals_url": vocals_url,
                    "genre": r.genre, "format": r.format, "stems": r.stems,
                }),
            )
            .await?;
        let pick = |v: &Value, k: &str| v.get(k).cloned().unwrap_or(Value::Null);
        let mut out = Map::new();
        out.insert("mix_url".into(), pick(&mix, "url"));
        out.insert("url".into(), pick(&mix, "url"));
        out.insert("duration".into(), pick(&mix, "duration"));
        out.insert("loudness_lufs".into(), pick(&mix, "loudness_lufs"));
        out.insert("vocals_url".into(), vocals_url);
        out.insert("instrumental_url".into(), instrumental_url);
        out.insert("stems".into(), pick(&instrumental, "stems"));
        out.insert("mix_stems".into(), pick(&mix, "stems"));
        out.insert("midi_url".into(), pick(&instrumental, "midi_url"));
        out.insert(
            "arrangement_url".into(),
            pick(&instrumental, "arrangement_url"),
        );
        out.insert("score_url".into(), pick(&vocals, "score_url"));
        out.insert("score_json_url".into(), pick(&vocals, "score_json_url"));
        out.insert("lyrics".into(), json!(lyrics));
        out.insert("title".into(), json!(title));
        out.insert("sections".into(), pick(&lyrics_answer, "sections"));
        out.insert("transcript".into(), json!(transcript));
        out.insert("bpm".into(), pick(&instrumental, "bpm"));
        out.insert("key".into(), pick(&instrumental, "key"));
        out.insert("seed".into(), json!(r.seed));
        out.insert(
            "engines".into(),
            json!({
                "lyrics": lyrics_answer.get("engine").cloned().unwrap_or(json!("user")),
                "instrumental": pick(&instrumental, "engine"),
                "vocals": pick(&vocals, "engine"),
                "mix": pick(&mix, "engine"),
            }),
        );
        // The lyrics text as a file, beside the audio.
        if let Ok(stored) = songforge_guest::media::put_media(
            "lyrics",
            "txt",
            "text/plain; charset=utf-8",
            lyrics.as_bytes(),
        )
        .await
        {
            out.insert("lyrics_url".into(), json!(stored.url));
        }
        Ok(Value::Object(out))
    }

    /// Runs the job to its end, writing every change; a heartbeat runs beside it.
    pub async fn run(self) -> Job {
        self.update(|j| {
            j.started_at = Some(iso(now()));
        });
        let done = RefCell::new(false);
        let work = async {
            let r = self.chain().await;
            *done.borrow_mut() = true;
            r
        };
        let beat = async {
            loop {
                spin_sdk::time::sleep(HEARTBEAT).await;
                if *done.borrow() {
                    break;
                }
                self.update(|_| {});
                let _ = self.save().await;
            }
        };
        // The heartbeat stops with the work: waiting for its sleep to end (a join) held every
        // finished song back by up to one heartbeat.
        let result = match futures::future::select(std::pin::pin!(work), std::pin::pin!(beat)).await
        {
            futures::future::Either::Left((result, _)) => result,
            futures::future::Either::Right(((), work)) => work.await,
        };
        match result {
            Ok(output) => {
                self.update(|j| {
                    j.status = Status::Succeeded;
                    j.stage = None;
                    j.output = Some(output);
                    j.completed_at = Some(iso(now()));
                });
                let _ = self.save().await;
            }
            Err(Stop::Failed(error)) => {
                self.job.borrow_mut().finish_failed(error);
                let _ = self.save().await;
            }
            Err(Stop::Canceled) => {}
        }
        // A cancel wrote its own record: read it back so the webhook says so.
        let id = self.job.borrow().id.clone();
        match Job::load(&self.store, &id).await {
            Ok(Some(j)) => j,
            _ => self.job.into_inner(),
        }
    }
}

fn unreachable_source<T>() -> Result<T, Stop> {
    Err(Stop::Failed(json!({
        "code": "internal", "message": "the request has no theme, lyrics or audio",
    })))
}

/// HMAC-SHA256 (RFC 2104) of `body` under `secret`, hex.
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    const BLOCK: usize = 64;
    let mut key = [0u8; BLOCK];
    if secret.len() > BLOCK {
        key[..32].copy_from_slice(&Sha256::digest(secret));
    } else {
        key[..secret.len()].copy_from_slice(secret);
    }
    let pad = |byte: u8| key.map(|k| k ^ byte);
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(body)
        .finalize();
    hex::encode(
        Sha256::new()
            .chain_update(pad(0x5c))
            .chain_update(inner)
            .finalize(),
    )
}

/// POSTs the finished job to its webhook, signed, retried with backoff (1, 2, 4, 8 s); the
/// job itself is already saved, so delivery never delays it.
pub async fn deliver_webhook(url: &str, secret: &str, job: &Job) {
    let Ok(body) = serde_json::to_vec(job) else {
        return;
    };
    let signature = format!("sha256={}", sign(secret.as_bytes(), &body));
    for attempt in 0..5u32 {
        if attempt > 0 {
            spin_sdk::time::sleep(Duration::from_secs(1 << (attempt - 1))).await;
        }
        let request = http::Request::builder()
            .method("POST")
            .uri(url)
            .header("content-type", "application/json")
            .header("x-songforge-signature", signature.as_str())
            .header(
                "x-songforge-event",
                format!("song.{:?}", job.status).to_lowercase(),
            )
            .header("x-songforge-delivery", format!("{}-{attempt}", job.id))
            .body(FullBody::new(Bytes::from(body.clone())));
        let Ok(request) = request else {
            return;
        };
        if let Ok(r) = spin_sdk::http::send(request).await
            && r.status().is_success()
        {
            return;
        }
    }
}
