//! The media store: generated and uploaded files in key-value, served under `/media/<name>`.
//!
//! Each file is two keys in store `default`: `media/<name>` holds the bytes and
//! `media-meta/<name>` a JSON [`MediaMeta`]. The blob is written first and the meta record
//! last, so the meta record is the commit marker: a name without meta does not exist, and a
//! failed meta write deletes the blob. Readers never see half a file.

use serde::{Deserialize, Serialize};
use songforge_store_errors::StoreFailure;
use spin_sdk::key_value::Store;

use crate::envelope::ApiError;
use crate::request::HeaderParams;

/// The key-value store label media lives in.
pub const STORE_LABEL: &str = "default";
/// Key prefix of media bytes.
pub const BLOB_PREFIX: &str = "media/";
/// Key prefix of media metadata records (the commit markers).
pub const META_PREFIX: &str = "media-meta/";
/// The URL prefix media is served under.
pub const URL_PREFIX: &str = "/media/";
/// The longest media name accepted.
pub const MAX_NAME_LEN: usize = 128;

/// What the store records about one file, next to its bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MediaMeta {
    /// The `Content-Type` the file is served with.
    pub content_type: String,
    /// The file's length in bytes.
    pub bytes: u64,
    /// The strong ETag, quotes included (see [`etag_for`]).
    pub etag: String,
    /// When the file was stored, in seconds since the Unix epoch.
    pub created_unix: u64,
    /// The API key it belongs to (its owner id); none for files stored while keys were off,
    /// which every caller may read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
}

/// A stored file as API responses describe it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredMedia {
    /// The file's name in the store (`instrumental_0123456789abcdef.wav`).
    pub name: String,
    /// Where the file is served (`/media/<name>`), as the seed API's `url` fields are.
    pub url: String,
    /// The file's length in bytes.
    pub bytes: u64,
    /// The `Content-Type` the file is served with.
    pub content_type: String,
    /// The strong ETag, quotes included.
    pub etag: String,
}

impl StoredMedia {
    /// Describes the file `name` from its metadata.
    pub fn new(name: &str, meta: &MediaMeta) -> Self {
        Self {
            name: name.to_string(),
            url: media_url(name),
            bytes: meta.bytes,
            content_type: meta.content_type.clone(),
            etag: meta.etag.clone(),
        }
    }
}

/// One kind of file the store accepts: its extension and the `Content-Type` it is served
/// with, plus the other spellings clients send for the same type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MediaFormat {
    /// The file extension, without the dot.
    pub extension: &'static str,
    /// The canonical `Content-Type`.
    pub content_type: &'static str,
    aliases: &'static [&'static str],
}

/// Every format the store accepts. Audio for the pipeline, MIDI for arrangements, JSON for
/// arrangement maps and text for lyrics; nothing executable or renderable as a page.
pub const FORMATS: &[MediaFormat] = &[
    MediaFormat {
        extension: "wav",
        content_type: "audio/wav",
        aliases: &["audio/x-wav", "audio/wave", "audio/vnd.wave"],
    },
    MediaFormat {
        extension: "mp3",
        content_type: "audio/mpeg",
        aliases: &["audio/mp3", "audio/mpeg3", "audio/x-mpeg-3"],
    },
    MediaFormat {
        extension: "flac",
        content_type: "audio/flac",
        aliases: &["audio/x-flac"],
    },
    MediaFormat {
        extension: "ogg",
        content_type: "audio/ogg",
        aliases: &["application/ogg", "audio/vorbis", "audio/opus"],
    },
    MediaFormat {
        extension: "m4a",
        content_type: "audio/mp4",
        aliases: &["audio/x-m4a", "audio/m4a"],
    },
    MediaFormat {
        extension: "mid",
        content_type: "audio/midi",
        aliases: &["audio/x-midi", "audio/mid"],
    },
    MediaFormat {
        extension: "json",
        content_type: "application/json",
        aliases: &[],
    },
    MediaFormat {
        extension: "txt",
        content_type: "text/plain; charset=utf-8",
        aliases: &[],
    },
];

impl MediaFormat {
    /// The format with this extension (case-insensitive, no dot).
    pub fn from_extension(extension: &str) -> Option<&'static MediaFormat> {
        FORMATS
            .iter()
            .find(|f| f.extension.eq_ignore_ascii_case(extension))
    }

    /// The format a `Content-Type` value names, parameters ignored (`audio/x-wav` → wav).
    pub fn from_content_type(content_type: &str) -> Option<&'static MediaFormat> {
        let essence = HeaderParams::parse(content_type).value;
        FORMATS
            .iter()
            .find(|f| f.essence() == essence || f.aliases.contains(&essence.as_str()))
    }

    /// The format of a file name's extension (`take.WAV` → wav).
    pub fn from_file_name(name: &str) -> Option<&'static MediaFormat> {
        let (_, extension) = name.rsplit_once('.')?;
        Self::from_extension(extension)
    }

    /// Recognises binary audio formats by their magic bytes, for uploads sent as
    /// `application/octet-stream` or with no type. Text formats are never guessed.
    pub fn sniff(bytes: &[u8]) -> Option<&'static MediaFormat> {
        let extension = match bytes {
            [
                b'R',
                b'I',
                b'F',
                b'F',
                _,
                _,
                _,
                _,
                b'W',
                b'A',
                b'V',
                b'E',
                ..,
            ]
            | [
                b'R',
                b'F',
                b'6',
                b'4',
                _,
                _,
                _,
                _,
                b'W',
                b'A',
                b'V',
                b'E',
                ..,
            ] => "wav",
            [b'f', b'L', b'a', b'C', ..] => "flac",
            [b'O', b'g', b'g', b'S', ..] => "ogg",
            [b'M', b'T', b'h', b'd', ..] => "mid",
            [
                _,
                _,
                _,
                _,
                b'f',
                b't',
                b'y',
                b'p',
                b'M',
                b'4',
                b'A' | b'B',
                ..,
            ] => "m4a",
            [b'I', b'D', b'3', ..] => "mp3",
            // An MPEG audio frame sync with a valid layer.
            [0xFF, b1, ..] if b1 & 0xE0 == 0xE0 && b1 & 0x06 != 0 => "mp3",
            _ => return None,
        };
        Self::from_extension(extension)
    }

    /// The canonical media type without parameters.
    fn essence(&self) -> &'static str {
        self.content_type
            .split(';')
            .next()
            .unwrap_or(self.content_type)
    }
}

/// Why a string is not a media name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{name}` is not a valid media name: {reason}")]
pub struct NameError {
    /// The refused name, escaped for display.
    pub name: String,
    /// What rule it breaks.
    pub reason: &'static str,
}

impl From<NameError> for ApiError {
    fn from(error: NameError) -> Self {
        ApiError::bad_request(error.to_string()).with_field("name")
    }
}

/// Checks a media name: `^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$` with no `..`.
///
/// Names become key-value keys and URL path segments, so anything that could mean a path
/// (slashes, dot-dot, a leading dot, control characters) is refused outright.
pub fn validate_name(name: &str) -> Result<(), NameError> {
    let refuse = |reason| {
        Err(NameError {
            name: name.escape_default().to_string(),
            reason,
        })
    };
    let Some(first) = name.bytes().next() else {
        return refuse("it is empty");
    };
    if name.len() > MAX_NAME_LEN {
        return refuse("it is longer than 128 characters");
    }
    if !first.is_ascii_alphanumeric() {
        return refuse("it must start with a letter or digit");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    {
        return refuse("only letters, digits, '.', '_' and '-' are allowed");
    }
    if name.contains("..") {
        return refuse("it must not contain '..'");
    }
    Ok(())
}

/// The strong ETag of a stored file: its name and length, in quotes.
///
/// Stored files are immutable (every write gets a fresh random name and nothing is ever
/// rewritten in place), so the name already identifies the exact bytes; hashing the content
/// instead cost a quarter of a second per 30 MB upload inside wasm for no extra guarantee.
pub fn etag_for(name: &str, len: u64) -> String {
    format!("\"{name}-{len:x}\"")
}

/// Where the file `name` is served.
pub fn media_url(name: &str) -> String {
    format!("{URL_PREFIX}{name}")
}

/// A fresh name `<kind>_<16 lowercase hex>.<extension>`, 64 bits from WASI randomness.
pub fn new_name(kind: &str, extension: &str) -> Result<String, MediaError> {
    let id = getrandom::u64().map_err(|e| MediaError::Random(e.to_string()))?;
    let name = format!("{kind}_{id:016x}.{extension}");
    validate_name(&name)?;
    Ok(name)
}

/// Why a media store operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MediaError {
    /// The name breaks the naming rules.
    #[error(transparent)]
    Name(#[from] NameError),
    /// The caller asked to store a format the store does not know.
    #[error("`{0}` is not a media extension the store accepts")]
    UnknownExtension(String),
    /// The key-value store failed.
    #[error("the media store failed: {0}")]
    Store(String),
    /// A meta record that is not valid JSON, or whose blob is missing or the wrong length.
    #[error("stored media `{name}` is damaged: {reason}")]
    Damaged {
        /// The media name.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// WASI randomness was unavailable, so no fresh name could be made.
    #[error("no random source for a media name: {0}")]
    Random(String),
    /// The disk holding the store is (nearly) full.
    #[error("the media store is full: {0}")]
    DiskFull(String),
    /// The store's server (Redis) did not answer; the request may be retried.
    #[error("the media store is unavailable: {0}")]
    Unavailable(String),
    /// The caller's API key would store more than its quota.
    #[error(
        "this API key's storage is full: it stores {used_mib:.1} MiB of its {quota_mib:.0} MiB \
         (storage_quota_mib) and this needs {needed_mib:.1} MiB more; delete files \
         (DELETE /media/<name>) or wait for old ones to expire",
        used_mib = mib(*.used),
        quota_mib = mib(*.quota),
        needed_mib = mib(*.needed)
    )]
    QuotaFull {
        /// Bytes stored now.
        used: u64,
        /// The quota, bytes.
        quota: u64,
        /// Bytes the write needs.
        needed: u64,
    },
}

impl From<MediaError> for ApiError {
    fn from(error: MediaError) -> Self {
        match error {
            MediaError::Name(e) => e.into(),
            e @ (MediaError::QuotaFull { .. } | MediaError::DiskFull(_)) => {
                ApiError::new(crate::ErrorCode::InsufficientStorage, e.to_string())
            }
            e @ MediaError::Unavailable(_) => {
                ApiError::service_unavailable(e.to_string()).with_retry_after(5)
            }
            other => ApiError::internal(other.to_string()),
        }
    }
}

/// Bytes as MiB, for messages.
fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn store_error(error: impl std::fmt::Display) -> MediaError {
    let text = error.to_string();
    match songforge_store_errors::classify(&text) {
        Some(StoreFailure::Full(why)) => MediaError::DiskFull(why),
        Some(StoreFailure::Unavailable(why)) => MediaError::Unavailable(why),
        None => MediaError::Store(text),
    }
}

async fn open_store() -> Result<Store, MediaError> {
    Store::open(STORE_LABEL).await.map_err(store_error)
}

/// Stores `bytes` under a fresh name `<kind>_<id>.<extension>` and describes the result.
///
/// Complete-or-absent: the blob goes in first, then the meta record that makes it visible;
/// if the meta write fails the blob is deleted again.
pub async fn put_media(
    kind: &str,
    extension: &str,
    content_type: &str,
    bytes: &[u8],
) -> Result<StoredMedia, MediaError> {
    if MediaFormat::from_extension(extension).is_none() {
        return Err(MediaError::UnknownExtension(extension.to_string()));
    }
    let store = open_store().await?;
    // 64 random bits make a collision all but impossible; checking anyway keeps an existing
    // file from ever being replaced under its URL.
    let mut name = new_name(kind, extension)?;
    for _ in 0..3 {
        if !store
            .exists(format!("{META_PREFIX}{name}"))
            .await
            .map_err(store_error)?
        {
            break;
        }
        name = new_name(kind, extension)?;
    }
    write_new(&store, &name, content_type, bytes).await
}

/// Stores `bytes` under exactly `name` (e.g. a sibling `instrumental_<id>.mid` of a fresh
/// `instrumental_<id>.wav`, so related outputs share an id). Refuses a name already taken:
/// stored files are never replaced. Complete-or-absent like [`put_media`].
pub async fn put_media_named(
    name: &str,
    content_type: &str,
    bytes: &[u8],
) -> Result<StoredMedia, MediaError> {
    validate_name(name)?;
    let extension = name.rsplit('.').next().unwrap_or_default();
    if MediaFormat::from_extension(extension).is_none() {
        return Err(MediaError::UnknownExtension(extension.to_string()));
    }
    let store = open_store().await?;
    if store
        .exists(format!("{META_PREFIX}{name}"))
        .await
        .map_err(store_error)?
    {
        return Err(MediaError::Store(format!("`{name}` already exists")));
    }
    write_new(&store, name, content_type, bytes).await
}

async fn write_new(
    store: &Store,
    name: &str,
    content_type: &str,
    bytes: &[u8],
) -> Result<StoredMedia, MediaError> {
    let meta = MediaMeta {
        content_type: content_type.to_string(),
        bytes: bytes.len() as u64,
        etag: etag_for(name, bytes.len() as u64),
        created_unix: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
        owner: crate::access::caller().map(str::to_string),
    };
    let meta_json = serde_json::to_vec(&meta).map_err(|e| MediaError::Damaged {
        name: name.to_string(),
        reason: e.to_string(),
    })?;
    if let Some(owner) = &meta.owner {
        let used = crate::retention::usage(store, owner).await;
        let quota = crate::retention::quota_bytes().await;
        if used.saturating_add(meta.bytes) > quota {
            return Err(MediaError::QuotaFull {
                used,
                quota,
                needed: meta.bytes,
            });
        }
    }
    let blob_key = format!("{BLOB_PREFIX}{name}");
    store.set(&blob_key, bytes).await.map_err(store_error)?;
    if let Err(e) = store.set(format!("{META_PREFIX}{name}"), meta_json).await {
        // Without its meta record the blob is invisible; deleting it only reclaims space, so
        // a failure here does not change the answer.
        let _ = store.delete(&blob_key).await;
        return Err(store_error(e));
    }
    if let Some(owner) = &meta.owner {
        crate::retention::add_usage(store, owner, meta.bytes as i64).await;
    }
    Ok(StoredMedia::new(name, &meta))
}

/// Stores related files under their exact names, in order (put the file that announces the
/// result, e.g. the mix, last). All or nothing: on any failure the files already written are
/// removed again and the error is returned.
pub async fn put_media_group(
    files: &[(&str, &str, &[u8])],
) -> Result<Vec<StoredMedia>, MediaError> {
    let mut stored = Vec::with_capacity(files.len());
    for (name, content_type, bytes) in files {
        match put_media_named(name, content_type, bytes).await {
            Ok(m) => stored.push(m),
            Err(e) => {
                for (written, _, _) in &files[..stored.len()] {
                    // Best effort: the request fails with `e` either way.
                    let _ = delete_media(written).await;
                }
                return Err(e);
            }
        }
    }
    Ok(stored)
}

/// The metadata of `name`, or `None` when no such file is committed.
pub async fn get_media_meta(name: &str) -> Result<Option<MediaMeta>, MediaError> {
    validate_name(name)?;
    let store = open_store().await?;
    read_meta(&store, name).await
}

/// The metadata and bytes of `name`, or `None` when no such file is committed.
pub async fn get_media(name: &str) -> Result<Option<(MediaMeta, Vec<u8>)>, MediaError> {
    validate_name(name)?;
    let store = open_store().await?;
    let Some(meta) = read_meta(&store, name).await? else {
        return Ok(None);
    };
    let bytes = read_blob(&store, name, &meta).await?;
    Ok(Some((meta, bytes)))
}

/// The bytes of `name` whose metadata the caller already holds (from [`get_media_meta`]),
/// so a conditional request can be answered from the small record alone and the blob is
/// read only when it is sent.
pub async fn get_media_bytes(name: &str, meta: &MediaMeta) -> Result<Vec<u8>, MediaError> {
    validate_name(name)?;
    let store = open_store().await?;
    read_blob(&store, name, meta).await
}

/// Removes `name`: the meta record first, so the file disappears for readers at once, then
/// the blob. Removing a name that does not exist succeeds: callers use this to roll back a
/// partly stored result, where "already gone" is the goal.
pub async fn delete_media(name: &str) -> Result<(), MediaError> {
    validate_name(name)?;
    let store = open_store().await?;
    let meta_key = format!("{META_PREFIX}{name}");
    let owned = match store.get(&meta_key).await.map_err(store_error)? {
        Some(raw) => serde_json::from_slice::<MediaMeta>(&raw)
            .ok()
            .and_then(|m| Some((m.owner?, m.bytes))),
        None => None,
    };
    remove(&store, name).await.map_err(store_error)?;
    if let Some((owner, bytes)) = owned {
        crate::retention::add_usage(&store, &owner, -(bytes as i64)).await;
    }
    Ok(())
}

/// Removes a file's two keys in the order that keeps readers safe: the record first, so the
/// file is gone at once, then the bytes.
pub(crate) async fn remove(store: &Store, name: &str) -> Result<(), spin_sdk::key_value::Error> {
    store.delete(format!("{META_PREFIX}{name}")).await?;
    store.delete(format!("{BLOB_PREFIX}{name}")).await
}

async fn read_blob(store: &Store, name: &str, meta: &MediaMeta) -> Result<Vec<u8>, MediaError> {
    let bytes = store
        .get(format!("{BLOB_PREFIX}{name}"))
        .await
        .map_err(store_error)?
        .ok_or_else(|| MediaError::Damaged {
            name: name.to_string(),
            reason: "its bytes are missing".into(),
        })?;
    if bytes.len() as u64 != meta.bytes {
        return Err(MediaError::Damaged {
            name: name.to_string(),
            reason: format!(
                "it has {} bytes but its record says {}",
                bytes.len(),
                meta.bytes
            ),
        });
    }
    Ok(bytes)
}

async fn read_meta(store: &Store, name: &str) -> Result<Option<MediaMeta>, MediaError> {
    let Some(raw) = store
        .get(format!("{META_PREFIX}{name}"))
        .await
        .map_err(store_error)?
    else {
        return Ok(None);
    };
    let meta: MediaMeta = serde_json::from_slice(&raw).map_err(|e| MediaError::Damaged {
        name: name.to_string(),
        reason: format!("its record is not valid: {e}"),
    })?;
    // Another key's file is absent for this caller, exactly like a name never stored; so is
    // an expired one, whether or not a sweep has removed it yet.
    let retention = crate::retention::retention_s().await;
    let expired = crate::retention::is_expired(
        meta.created_unix as f64,
        crate::retention::now_unix(),
        retention,
    );
    Ok((!expired && crate::access::may_see(meta.owner.as_deref())).then_some(meta))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hosts_store_errors_become_507_and_503_with_its_words() {
        let full = store_error(
            "Other(\"storage_full: 260 MiB free, writes stop 256 MiB short (--min-free-disk-mib)\")",
        );
        assert!(
            matches!(&full, MediaError::DiskFull(w) if w.ends_with("(--min-free-disk-mib)")),
            "{full:?}"
        );
        assert_eq!(ApiError::from(full).status(), 507);
        let down = store_error(
            "Other(\"store_unavailable: the Redis server at redis://127.0.0.1:6379 did not answer: refused\")",
        );
        assert!(
            matches!(&down, MediaError::Unavailable(w) if w.ends_with("did not answer: refused")),
            "{down:?}"
        );
        let api = ApiError::from(down);
        assert_eq!(api.status(), 503);
        assert!(matches!(
            store_error("Other(\"disk I/O\")"),
            MediaError::Store(_)
        ));
    }

    #[test]
    fn good_names_pass() {
        for name in [
            "a",
            "upload_0123456789abcdef.wav",
            "A-b.c_d",
            "9",
            &"x".repeat(128),
        ] {
            assert_eq!(validate_name(name), Ok(()), "{name}");
        }
    }

    #[test]
    fn bad_names_fail() {
        for name in [
            "",
            ".hidden",
            "..",
            "a..b",
            "a/b.wav",
            "../etc/passwd",
            "\0x",
            "-dash",
            "_under",
            "sp ace",
            "ü.wav",
            "a\\b",
            &"x".repeat(129),
        ] {
            let e = validate_name(name).unwrap_err();
            let api = ApiError::from(e);
            assert_eq!(api.field(), Some("name"), "{name}");
            assert_eq!(api.status(), http::StatusCode::BAD_REQUEST);
        }
    }

    #[test]
    fn etag_is_the_quoted_name_and_length() {
        assert_eq!(
            etag_for("mix_0123456789abcdef.wav", 4096),
            "\"mix_0123456789abcdef.wav-1000\""
        );
        assert_ne!(etag_for("a.wav", 1), etag_for("b.wav", 1));
    }

    #[test]
    fn content_types_map_to_extensions() {
        let ext = |ct| MediaFormat::from_content_type(ct).map(|f| f.extension);
        assert_eq!(ext("audio/wav"), Some("wav"));
        assert_eq!(ext("Audio/X-WAV; codec=1"), Some("wav"));
        assert_eq!(ext("audio/mpeg"), Some("mp3"));
        assert_eq!(ext("audio/flac"), Some("flac"));
        assert_eq!(ext("audio/ogg"), Some("ogg"));
        assert_eq!(ext("audio/x-m4a"), Some("m4a"));
        assert_eq!(ext("audio/midi"), Some("mid"));
        assert_eq!(ext("application/json"), Some("json"));
        assert_eq!(ext("text/plain; charset=utf-8"), Some("txt"));
        assert_eq!(ext("text/plain"), Some("txt"));
        assert_eq!(ext("application/x-msdownload"), None);
        assert_eq!(ext("text/html"), None);
        assert_eq!(ext(""), None);
        for f in FORMATS {
            assert_eq!(MediaFormat::from_extension(f.extension), Some(f));
            assert_eq!(MediaFormat::from_content_type(f.content_type), Some(f));
        }
        assert_eq!(
            MediaFormat::from_file_name("Take.WAV").map(|f| f.extension),
            Some("wav")
        );
        assert_eq!(MediaFormat::from_file_name("noext"), None);
    }

    #[test]
    fn sniffing_recognises_audio() {
        let sniff = |b: &[u8]| MediaFormat::sniff(b).map(|f| f.extension);
        assert_eq!(sniff(b"RIFF\x24\0\0\0WAVEfmt "), Some("wav"));
        assert_eq!(sniff(b"fLaC\0\0\0\x22"), Some("flac"));
        assert_eq!(sniff(b"OggS\0\x02"), Some("ogg"));
        assert_eq!(sniff(b"MThd\0\0\0\x06"), Some("mid"));
        assert_eq!(sniff(b"\0\0\0\x20ftypM4A \0"), Some("m4a"));
        assert_eq!(sniff(b"ID3\x04\0"), Some("mp3"));
        assert_eq!(sniff(&[0xFF, 0xFB, 0x90, 0x00]), Some("mp3"));
        assert_eq!(sniff(&[0xFF, 0xE0]), None);
        assert_eq!(sniff(b"MZ\x90\0"), None);
        assert_eq!(sniff(b"{\"a\":1}"), None);
        assert_eq!(sniff(b""), None);
    }

    #[test]
    fn new_names_are_kind_random_hex_extension() {
        let a = new_name("upload", "wav").unwrap();
        let b = new_name("upload", "wav").unwrap();
        assert_ne!(a, b);
        let id = a
            .strip_prefix("upload_")
            .and_then(|r| r.strip_suffix(".wav"))
            .unwrap();
        assert_eq!(id.len(), 16);
        assert!(
            id.bytes()
                .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
        );
        assert!(new_name("../x", "wav").is_err());
    }

    #[test]
    fn stored_media_points_at_its_url() {
        let meta = MediaMeta {
            content_type: "audio/wav".into(),
            bytes: 3,
            etag: etag_for("a.wav", 3),
            created_unix: 1,
            owner: None,
        };
        let s = StoredMedia::new("upload_00.wav", &meta);
        assert_eq!(s.url, "/media/upload_00.wav");
        assert_eq!(s.bytes, 3);
    }

    #[test]
    fn meta_round_trips_as_json() {
        let meta = MediaMeta {
            content_type: "audio/wav".into(),
            bytes: 3,
            etag: etag_for("a.wav", 3),
            created_unix: 1_700_000_000,
            owner: None,
        };
        let json = serde_json::to_value(&meta).unwrap();
        let mut keys: Vec<_> = json.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        // Records written before keys existed have no owner and still read.
        assert_eq!(keys, ["bytes", "content_type", "created_unix", "etag"]);
        assert_eq!(serde_json::from_value::<MediaMeta>(json).unwrap(), meta);
        let owned = MediaMeta {
            owner: Some("key-0123456789abcdef".into()),
            ..meta
        };
        let json = serde_json::to_value(&owned).unwrap();
        assert_eq!(json["owner"], "key-0123456789abcdef");
        assert_eq!(serde_json::from_value::<MediaMeta>(json).unwrap(), owned);
    }
}
