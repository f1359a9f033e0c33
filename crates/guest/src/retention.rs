//! How long stored media and song jobs are kept, how much each API key may store, and the
//! sweep that deletes what has expired.
//!
//! Expiry is exact for readers: a file or job older than `retention_days` reads as absent at
//! once. The space comes back when a sweep runs: a request to `/media/` or `/api/songs/`
//! starts one, after its response, when the last was longer ago than a quarter of the
//! retention (at most every 15 minutes). A sweep also recounts what each key stores, so the
//! quota's running count, which concurrent writers can miss, cannot drift.

use crate::media::{BLOB_PREFIX, META_PREFIX, MediaMeta, STORE_LABEL};
use spin_sdk::key_value::Store;
use std::collections::{BTreeMap, HashSet};
use std::sync::OnceLock;

/// Days media and jobs are kept, unless the `retention_days` variable says otherwise.
pub const DEFAULT_RETENTION_DAYS: f64 = 7.0;
/// MiB each API key may store, unless the `storage_quota_mib` variable says otherwise.
pub const DEFAULT_QUOTA_MIB: f64 = 2048.0;
/// Key prefix of each key's stored-bytes count.
pub const USAGE_PREFIX: &str = "usage/";
/// When the last sweep started (Unix seconds, as text).
const LAST_SWEEP_KEY: &str = "retention:last-sweep";
/// Blobs without a record at the last sweep (JSON list of names).
const ORPHANS_KEY: &str = "retention:orphans";
/// The longest pause between sweeps.
const MAX_SWEEP_INTERVAL_S: f64 = 900.0;
/// Key prefixes of what `/api/songs/` stores, which the sweep also reads: a job's record, its
/// cancel flag, a finished song by request, and a stage's answer by request.
pub const JOB_PREFIX: &str = "songs:job:";
pub const CANCEL_PREFIX: &str = "songs:cancel:";
pub const SONG_CACHE_PREFIX: &str = "songs:cache:";
pub const STAGE_CACHE_PREFIX: &str = "songs:stage:";

static RETENTION_S: OnceLock<f64> = OnceLock::new();
static QUOTA_BYTES: OnceLock<u64> = OnceLock::new();

/// Seconds a file or job is kept (the `retention_days` variable), read once per instance.
pub async fn retention_s() -> f64 {
    if let Some(s) = RETENTION_S.get() {
        return *s;
    }
    let days = crate::settings::positive_or("retention_days", DEFAULT_RETENTION_DAYS).await;
    *RETENTION_S.get_or_init(|| days * 86_400.0)
}

/// Bytes each API key may store (the `storage_quota_mib` variable), read once per instance.
pub async fn quota_bytes() -> u64 {
    if let Some(q) = QUOTA_BYTES.get() {
        return *q;
    }
    let mib = crate::settings::positive_or("storage_quota_mib", DEFAULT_QUOTA_MIB).await;
    *QUOTA_BYTES.get_or_init(|| (mib * 1024.0 * 1024.0) as u64)
}

/// Unix time now, seconds.
pub fn now_unix() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Whether something created at `created_unix` is past its retention at `now`.
pub fn is_expired(created_unix: f64, now: f64, retention_s: f64) -> bool {
    now - created_unix > retention_s
}

/// The key of `owner`'s stored-bytes count.
pub fn usage_key(owner: &str) -> String {
    format!("{USAGE_PREFIX}{owner}")
}

/// What `owner` stores now, by the running count.
pub async fn usage(store: &Store, owner: &str) -> u64 {
    match store.get(usage_key(owner)).await {
        Ok(Some(b)) => std::str::from_utf8(&b)
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0),
        _ => 0,
    }
}

/// Adds `delta` bytes (negative when freed) to `owner`'s count.
pub async fn add_usage(store: &Store, owner: &str, delta: i64) {
    let now = usage(store, owner).await;
    let next = now.saturating_add_signed(delta);
    // The count is advisory between sweeps, so a failed write only delays the quota.
    let _ = store
        .set(usage_key(owner), next.to_string().as_bytes())
        .await;
}

/// What one sweep removed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Swept {
    /// Media files deleted.
    pub files: usize,
    /// Their bytes.
    pub bytes: u64,
    /// Song jobs deleted.
    pub jobs: usize,
    /// Cache entries that named deleted jobs or files.
    pub cache_entries: usize,
    /// Blobs whose record was never written (a host killed between the two writes).
    pub orphans: usize,
}

/// Sweeps when the last sweep is older than a quarter of the retention (at most 15
/// minutes); meant to run after the response, off the request's time.
pub async fn sweep_if_due() {
    let Ok(store) = Store::open(STORE_LABEL).await else {
        return;
    };
    let retention = retention_s().await;
    let now = now_unix();
    let last = match store.get(LAST_SWEEP_KEY).await {
        Ok(Some(b)) => std::str::from_utf8(&b)
            .ok()
            .and_then(|s| s.parse::<f64>().ok())
            .unwrap_or(0.0),
        _ => 0.0,
    };
    if now - last < (retention / 4.0).min(MAX_SWEEP_INTERVAL_S) {
        return;
    }
    if store
        .set(LAST_SWEEP_KEY, now.to_string().as_bytes())
        .await
        .is_err()
    {
        return;
    }
    match sweep(&store, now, retention).await {
        Ok(s) if s == Swept::default() => {}
        Ok(s) => eprintln!(
            "retention: deleted {} media files ({} bytes), {} song jobs and {} cache entries \
             older than {}, and {} blobs a stopped host left without a record",
            s.files,
            s.bytes,
            s.jobs,
            s.cache_entries,
            span(retention),
            s.orphans
        ),
        Err(e) => eprintln!("retention: the sweep stopped: {e}"),
    }
}

/// A retention as people say it: days, hours or seconds.
fn span(seconds: f64) -> String {
    if seconds >= 86_400.0 {
        format!("{} days", (seconds / 86_400.0 * 100.0).round() / 100.0)
    } else if seconds >= 3_600.0 {
        format!("{} hours", (seconds / 3_600.0 * 10.0).round() / 10.0)
    } else {
        format!("{} s", seconds.round())
    }
}

/// Deletes every file and job past `retention_s`, the cache entries that name them, and
/// rewrites each key's stored-bytes count from what is left.
pub async fn sweep(store: &Store, now: f64, retention_s: f64) -> Result<Swept, String> {
    let keys = store
        .get_keys()
        .await
        .collect()
        .await
        .map_err(|e| e.to_string())?;
    let mut swept = Swept::default();
    // Every name with a record, expired or not: a blob without one is an orphan.
    let recorded: HashSet<&str> = keys
        .iter()
        .filter_map(|k| k.strip_prefix(META_PREFIX))
        .collect();
    let mut live_media = HashSet::new();
    let mut usage: BTreeMap<String, u64> = BTreeMap::new();
    for &name in &recorded {
        let Ok(Some(raw)) = store.get(format!("{META_PREFIX}{name}")).await else {
            continue;
        };
        let Ok(meta) = serde_json::from_slice::<MediaMeta>(&raw) else {
            continue;
        };
        if is_expired(meta.created_unix as f64, now, retention_s) {
            crate::media::remove(store, name)
                .await
                .map_err(|e| e.to_string())?;
            swept.files += 1;
            swept.bytes += meta.bytes;
        } else {
            live_media.insert(name.to_string());
            if let Some(owner) = meta.owner {
                *usage.entry(owner).or_default() += meta.bytes;
            }
        }
    }
    let mut live_jobs = HashSet::new();
    for key in &keys {
        let Some(id) = key.strip_prefix(JOB_PREFIX) else {
            continue;
        };
        let created = match store.get(key).await {
            Ok(Some(raw)) => serde_json::from_slice::<serde_json::Value>(&raw)
                .ok()
                .and_then(|v| v.get("created_unix").and_then(serde_json::Value::as_f64)),
            _ => continue,
        };
        match created {
            Some(c) if is_expired(c, now, retention_s) => {
                store.delete(key).await.map_err(|e| e.to_string())?;
                let _ = store.delete(format!("{CANCEL_PREFIX}{id}")).await;
                swept.jobs += 1;
            }
            _ => {
                live_jobs.insert(id.to_string());
            }
        }
    }
    for key in &keys {
        let stale = if key.starts_with(SONG_CACHE_PREFIX) {
            // The value is the id of the job that made the song.
            match store.get(key).await {
                Ok(Some(id)) => !live_jobs.contains(&*String::from_utf8_lossy(&id)),
                _ => false,
            }
        } else if key.starts_with(STAGE_CACHE_PREFIX) {
            // The value is a stage's answer; stale once a file it names is gone.
            match store.get(key).await {
                Ok(Some(raw)) => names_missing_media(&raw, &live_media),
                _ => false,
            }
        } else {
            false
        };
        if stale && store.delete(key).await.is_ok() {
            swept.cache_entries += 1;
        }
    }
    swept.orphans = sweep_orphan_blobs(store, &keys, &recorded).await;
    for key in &keys {
        if let Some(owner) = key.strip_prefix(USAGE_PREFIX)
            && !usage.contains_key(owner)
        {
            let _ = store.delete(key).await;
        }
    }
    for (owner, bytes) in usage {
        let _ = store
            .set(usage_key(&owner), bytes.to_string().as_bytes())
            .await;
    }
    Ok(swept)
}

/// Deletes blobs that had no record at the last sweep and still have none: a write puts its
/// record milliseconds after its blob, so a blob without one across two sweeps was left by a
/// host that died between the two. Returns how many went.
async fn sweep_orphan_blobs(store: &Store, keys: &[String], recorded: &HashSet<&str>) -> usize {
    let orphans: Vec<&str> = keys
        .iter()
        .filter_map(|k| k.strip_prefix(BLOB_PREFIX))
        .filter(|name| !recorded.contains(name))
        .collect();
    let seen_before: HashSet<String> = match store.get(ORPHANS_KEY).await {
        Ok(Some(raw)) => serde_json::from_slice(&raw).unwrap_or_default(),
        _ => HashSet::new(),
    };
    let mut deleted = 0;
    let mut still = Vec::new();
    for name in orphans {
        // A record written since the listing means the blob is a file after all.
        let has_record = matches!(store.exists(format!("{META_PREFIX}{name}")).await, Ok(true));
        if has_record {
            continue;
        }
        if seen_before.contains(name) {
            if store.delete(format!("{BLOB_PREFIX}{name}")).await.is_ok() {
                deleted += 1;
            }
        } else {
            still.push(name);
        }
    }
    let _ = match serde_json::to_vec(&still) {
        Ok(bytes) if !still.is_empty() => store.set(ORPHANS_KEY, bytes).await,
        _ => store.delete(ORPHANS_KEY).await,
    };
    deleted
}

/// Whether a JSON answer names a `/media/<name>` that is not in `live`.
fn names_missing_media(raw: &[u8], live: &HashSet<String>) -> bool {
    fn walk(v: &serde_json::Value, live: &HashSet<String>) -> bool {
        match v {
            serde_json::Value::String(s) => s
                .strip_prefix(crate::media::URL_PREFIX)
                .is_some_and(|name| !live.contains(name)),
            serde_json::Value::Array(a) => a.iter().any(|x| walk(x, live)),
            serde_json::Value::Object(o) => o.values().any(|x| walk(x, live)),
            _ => false,
        }
    }
    serde_json::from_slice::<serde_json::Value>(raw).is_ok_and(|v| walk(&v, live))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retentions_read_as_people_say_them() {
        assert_eq!(span(7.0 * 86_400.0), "7 days");
        assert_eq!(span(1.5 * 86_400.0), "1.5 days");
        assert_eq!(span(7_200.0), "2 hours");
        assert_eq!(span(2.0), "2 s");
    }

    #[test]
    fn expiry_is_strictly_after_the_retention() {
        assert!(!is_expired(1000.0, 1000.0 + 86_400.0, 86_400.0));
        assert!(is_expired(1000.0, 1000.5 + 86_400.0, 86_400.0));
    }

    #[test]
    fn a_stage_answer_is_stale_once_a_file_it_names_is_gone() {
        let live: HashSet<String> = ["vocals_1.wav".to_string()].into();
        let ok = br#"{"success":true,"url":"/media/vocals_1.wav","meta":{"n":1}}"#;
        let gone = br#"{"success":true,"url":"/media/vocals_1.wav","stems":["/media/s_2.wav"]}"#;
        assert!(!names_missing_media(ok, &live));
        assert!(names_missing_media(gone, &live));
        assert!(!names_missing_media(b"not json", &live));
    }
}
