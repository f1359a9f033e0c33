//! `spin:key-value/key-value@3.0.0` on redb, an embedded, crash-safe (ACID, fsync on commit)
//! store in pure Rust, or on a Redis server that several hosts share (`type = "redis"`, as in
//! Spin's runtime config).
//!
//! Each `redb` label from the runtime config is one file. Guests may open only the labels their
//! manifest lists. Database work is blocking I/O, so it runs on tokio's blocking pool and never
//! on the threads that serve HTTP. redb serialises write transactions, so concurrent writers
//! from many instances are safe. A `redis` label is one multiplexed connection, made on first
//! use and remade after an outage; keys are stored as they are, as Spin stores them.

use crate::config_file::ConfigFileError;
use crate::manifest::Manifest;
use crate::runtime_config::RuntimeConfig;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use songforge_store_errors::{STORAGE_FULL, STORE_UNAVAILABLE, marked};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use wasmtime::component::{Accessor, FutureReader, HasData, Resource, ResourceTable, StreamReader};

mod bindings {
    wasmtime::component::bindgen!({
        path: "../wit/spin/spin-key-value@3.0.0",
        inline: "package songforge:host-kv; world key-value { import spin:key-value/key-value@3.0.0; }",
        imports: { default: trappable },
        with: {
            "spin:key-value/key-value.store": super::StoreHandle,
        },
    });
}

use bindings::spin::key_value::key_value::{self as kv, Error as KvError};

const TABLE: TableDefinition<&str, &[u8]> = TableDefinition::new("key_value");

/// A failure opening the configured stores at start-up.
#[derive(Debug, thiserror::Error)]
#[error("key-value store `{label}` at {path}: {message}")]
pub struct OpenError {
    label: String,
    path: PathBuf,
    message: String,
}

/// Why the app's stores could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum KeyValueError {
    /// A component uses a label the runtime config does not define.
    #[error(transparent)]
    Undefined(#[from] ConfigFileError),
    /// A database file could not be opened or created.
    #[error(transparent)]
    Open(#[from] OpenError),
}

/// The label every app may use without configuring it, as in Spin.
pub const DEFAULT_LABEL: &str = "default";

/// redb's page cache per store.
const PAGE_CACHE_BYTES: usize = 64 << 20;

/// Where a label's data lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreLocation {
    /// An embedded redb file.
    File(PathBuf),
    /// A Redis server (`redis://...`).
    Redis(String),
}

/// One opened store.
#[derive(Clone)]
enum Backend {
    /// A redb database and its file (for the free-space check).
    Redb(Arc<Database>, Arc<PathBuf>),
    Redis(Arc<RedisStore>),
}

/// All stores the runtime config defines, opened once at start-up and shared by every instance.
#[derive(Default)]
pub struct KeyValueStores {
    stores: HashMap<String, Backend>,
    /// Free disk a write must leave (`--min-free-disk-mib`).
    min_free_bytes: u64,
}

impl KeyValueStores {
    /// Opens every store `runtime` defines, and `default` when a component uses it without
    /// defining it. Checked here, before anything is opened, so a typo in a manifest's label
    /// fails start-up instead of failing each request that opens the store.
    pub fn open_for(
        manifest: &Manifest,
        runtime: &RuntimeConfig,
        state_dir: &Path,
    ) -> Result<Self, KeyValueError> {
        let locations = Self::locations_for(manifest, runtime, state_dir)?;
        Ok(Self::open_locations(&locations)?)
    }

    /// Each store's location: a `redis` store's URL, or a `redb` store's file (the runtime
    /// config's `path`, else the default layout under `state_dir`). Refuses a label a component
    /// uses that the runtime config does not define, naming `component.<id>.key_value_stores`.
    fn locations_for(
        manifest: &Manifest,
        runtime: &RuntimeConfig,
        state_dir: &Path,
    ) -> Result<HashMap<String, StoreLocation>, ConfigFileError> {
        let mut locations: HashMap<String, StoreLocation> = runtime
            .key_value_store
            .iter()
            .map(|(label, store)| {
                let location = match (&store.url, store.kind.as_str()) {
                    (Some(url), "redis") => StoreLocation::Redis(url.clone()),
                    _ => StoreLocation::File(
                        store
                            .path
                            .clone()
                            .unwrap_or_else(|| Self::default_path(state_dir, label)),
                    ),
                };
                (label.clone(), location)
            })
            .collect();
        for c in manifest.components.values() {
            for label in &c.key_value_stores {
                if label == DEFAULT_LABEL {
                    locations.entry(label.clone()).or_insert_with(|| {
                        StoreLocation::File(Self::default_path(state_dir, label))
                    });
                } else if !locations.contains_key(label) {
                    return Err(ConfigFileError::field(
                        &manifest.file,
                        format!("component.{}.key_value_stores", c.id),
                        format!(
                            "store `{label}` is not defined in the runtime config (`[key_value_store.{label}]`)"
                        ),
                    ));
                }
            }
        }
        Ok(locations)
    }

    /// Opens (creating if needed) one database file per label.
    pub fn open(labels: &HashMap<String, PathBuf>) -> Result<Self, OpenError> {
        Self::open_locations(
            &labels
                .iter()
                .map(|(label, path)| (label.clone(), StoreLocation::File(path.clone())))
                .collect(),
        )
    }

    /// Opens each store: a redb file is created if needed; a Redis URL is checked here and
    /// connected on first use (a server that is down at start-up fails requests with 503,
    /// not the host's start).
    pub fn open_locations(labels: &HashMap<String, StoreLocation>) -> Result<Self, OpenError> {
        let mut stores = HashMap::new();
        for (label, location) in labels {
            let path = match location {
                StoreLocation::File(path) => path.clone(),
                StoreLocation::Redis(url) => PathBuf::from(RedisStore::shown(url)),
            };
            let err = |message: String| OpenError {
                label: label.clone(),
                path: path.clone(),
                message,
            };
            let backend = match location {
                StoreLocation::Redis(url) => {
                    Backend::Redis(Arc::new(RedisStore::new(url).map_err(err)?))
                }
                StoreLocation::File(path) => {
                    if let Some(parent) = path.parent() {
                        std::fs::create_dir_all(parent).map_err(|e| err(e.to_string()))?;
                    }
                    // redb's own page cache would otherwise grow to 1 GiB as media passes
                    // through it; the blobs are read once per request, and the kernel's page
                    // cache keeps them too.
                    let db = Database::builder()
                        .set_cache_size(PAGE_CACHE_BYTES)
                        .create(path)
                        .map_err(|e| err(e.to_string()))?;
                    // Create the table up front so readers never see "table does not exist".
                    let tx = db.begin_write().map_err(|e| err(e.to_string()))?;
                    tx.open_table(TABLE).map_err(|e| err(e.to_string()))?;
                    tx.commit().map_err(|e| err(e.to_string()))?;
                    Backend::Redb(Arc::new(db), Arc::new(path.clone()))
                }
            };
            stores.insert(label.clone(), backend);
        }
        Ok(Self {
            stores,
            min_free_bytes: 0,
        })
    }

    /// Refuses writes that would leave less than `bytes` free on a store's disk: a disk run
    /// full fails redb's write, and redb then refuses everything until it is reopened, so the
    /// host stops short of it and answers `storage_full` instead.
    pub fn with_min_free_bytes(mut self, bytes: u64) -> Self {
        self.min_free_bytes = bytes;
        self
    }

    /// Whether a label is configured.
    pub fn has(&self, label: &str) -> bool {
        self.stores.contains_key(label)
    }

    /// Every key of one `redb` store, in order (for tools and tests; components use
    /// `get-keys`).
    pub fn keys(&self, label: &str) -> Result<Vec<String>, String> {
        let Some(Backend::Redb(db, _)) = self.stores.get(label) else {
            return Err(format!("no redb store `{label}`"));
        };
        redb_keys(db).map_err(|e| format!("{e:?}"))
    }

    /// Database path for the default layout: `<state dir>/key-value/<label>.redb`.
    pub fn default_path(state_dir: &Path, label: &str) -> PathBuf {
        state_dir.join("key-value").join(format!("{label}.redb"))
    }
}

/// Per-instance key-value state: which labels this component may open.
#[derive(Clone)]
pub struct KeyValueCtx {
    stores: Arc<KeyValueStores>,
    allowed: Arc<[String]>,
}

impl KeyValueCtx {
    /// Context for a component allowed to open `allowed` labels.
    pub fn new(stores: Arc<KeyValueStores>, allowed: Arc<[String]>) -> Self {
        Self { stores, allowed }
    }
}

/// An open store, as the guest's `store` resource.
pub struct StoreHandle {
    backend: Backend,
    min_free_bytes: u64,
}

/// Borrowed view the generated bindings work on.
pub struct KeyValueView<'a> {
    ctx: &'a KeyValueCtx,
    table: &'a mut ResourceTable,
}

impl<'a> KeyValueView<'a> {
    /// Pairs the context with the store's resource table.
    pub fn new(ctx: &'a KeyValueCtx, table: &'a mut ResourceTable) -> Self {
        Self { ctx, table }
    }
}

/// Marker tying the bindings to [`KeyValueView`].
pub struct KeyValue;

impl HasData for KeyValue {
    type Data<'a> = KeyValueView<'a>;
}

/// Adds the interface to a linker.
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut wasmtime::component::Linker<T>,
    view: fn(&mut T) -> KeyValueView<'_>,
) -> wasmtime::Result<()> {
    kv::add_to_linker::<T, KeyValue>(linker, view)
}

fn other(e: impl std::fmt::Display) -> KvError {
    KvError::Other(e.to_string())
}

/// Refuses a write of `len` bytes that would leave less than `min_free` on the store's disk.
fn check_room(file: &Path, len: u64, min_free: u64) -> Result<(), KvError> {
    if min_free == 0 {
        return Ok(());
    }
    let dir = file.parent().unwrap_or(file);
    let Ok(stat) = rustix::fs::statvfs(dir) else {
        return Ok(());
    };
    let free = stat.f_bavail.saturating_mul(stat.f_frsize);
    // redb writes a value more than once (its pages, then the commit), so twice its size.
    if free < min_free.saturating_add(len.saturating_mul(2)) {
        return Err(KvError::Other(marked(
            STORAGE_FULL,
            format_args!(
                "the disk holding the store has {} MiB free, and writes stop {} MiB short of \
                 full (--min-free-disk-mib)",
                free >> 20,
                min_free >> 20
            ),
        )));
    }
    Ok(())
}

async fn blocking<R: Send + 'static>(
    f: impl FnOnce() -> Result<R, KvError> + Send + 'static,
) -> wasmtime::Result<Result<R, KvError>> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => Ok(r),
        Err(e) => Ok(Err(other(format!("key-value task failed: {e}")))),
    }
}

fn backend_of<T>(
    accessor: &Accessor<T, KeyValue>,
    store: &Resource<StoreHandle>,
) -> wasmtime::Result<Backend> {
    accessor.with(|mut access| {
        let view = access.get();
        Ok(view.table.get(store)?.backend.clone())
    })
}

fn redb_keys(db: &Database) -> Result<Vec<String>, KvError> {
    let tx = db.begin_read().map_err(other)?;
    let table = tx.open_table(TABLE).map_err(other)?;
    let mut keys = Vec::new();
    for entry in table.iter().map_err(other)? {
        let (k, _) = entry.map_err(other)?;
        keys.push(k.value().to_string());
    }
    Ok(keys)
}

/// A Redis server as a store: one multiplexed connection, made on first use. A failed
/// command drops it, so the next request connects afresh (after an outage, the first request
/// once the server is back succeeds).
pub struct RedisStore {
    client: redis::Client,
    /// `host:port/db`, without credentials, for messages.
    shown: String,
    conn: tokio::sync::Mutex<Option<redis::aio::MultiplexedConnection>>,
}

/// A connection attempt gives up after this: an unreachable server is a quick 503, not a hang.
const REDIS_CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);
/// A command gives up after this (a 100 MiB value crosses a LAN in about a second).
const REDIS_RESPONSE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

impl RedisStore {
    fn new(url: &str) -> Result<Self, String> {
        let client = redis::Client::open(url).map_err(|e| e.to_string())?;
        Ok(Self {
            client,
            shown: Self::shown(url),
            conn: tokio::sync::Mutex::new(None),
        })
    }

    /// The URL without its credentials.
    fn shown(url: &str) -> String {
        let rest = url.strip_prefix("redis://").unwrap_or(url);
        let rest = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
        format!("redis://{rest}")
    }

    fn unavailable(&self, e: impl std::fmt::Display) -> KvError {
        KvError::Other(marked(
            STORE_UNAVAILABLE,
            format_args!("the Redis server at {} did not answer: {e}", self.shown),
        ))
    }

    async fn connection(&self) -> Result<redis::aio::MultiplexedConnection, KvError> {
        let mut slot = self.conn.lock().await;
        if let Some(c) = slot.as_ref() {
            return Ok(c.clone());
        }
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(REDIS_CONNECT_TIMEOUT))
            .set_response_timeout(Some(REDIS_RESPONSE_TIMEOUT));
        let c = self
            .client
            .get_multiplexed_async_connection_with_config(&config)
            .await
            .map_err(|e| self.unavailable(e))?;
        *slot = Some(c.clone());
        Ok(c)
    }

    /// Runs one command; an I/O failure or timeout forgets the connection and is 503.
    async fn query<V: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> Result<V, KvError> {
        let mut c = self.connection().await?;
        match cmd.query_async(&mut c).await {
            Ok(v) => Ok(v),
            Err(e) if e.is_io_error() || e.is_timeout() || e.is_connection_dropped() => {
                *self.conn.lock().await = None;
                Err(self.unavailable(e))
            }
            Err(e) => Err(other(format!("redis at {}: {e}", self.shown))),
        }
    }

    async fn keys(&self) -> Result<Vec<String>, KvError> {
        // SCAN, not KEYS: a large store is walked in steps without blocking the server.
        let mut keys = Vec::new();
        let mut cursor = 0u64;
        loop {
            let (next, page): (u64, Vec<String>) = self
                .query(redis::cmd("SCAN").arg(cursor).arg("COUNT").arg(1000))
                .await?;
            keys.extend(page);
            if next == 0 {
                break;
            }
            cursor = next;
        }
        keys.sort();
        keys.dedup();
        Ok(keys)
    }
}

impl kv::Host for KeyValueView<'_> {}

impl kv::HostStore for KeyValueView<'_> {
    fn drop(&mut self, store: Resource<StoreHandle>) -> wasmtime::Result<()> {
        self.table.delete(store)?;
        Ok(())
    }
}

impl<T> kv::HostStoreWithStore<T> for KeyValue {
    async fn open(
        accessor: &Accessor<T, Self>,
        label: String,
    ) -> wasmtime::Result<Result<Resource<StoreHandle>, KvError>> {
        accessor.with(|mut access| {
            let view = access.get();
            if !view.ctx.allowed.contains(&label) {
                return Ok(Err(KvError::AccessDenied));
            }
            let Some(backend) = view.ctx.stores.stores.get(&label) else {
                return Ok(Err(KvError::NoSuchStore));
            };
            let handle = StoreHandle {
                backend: backend.clone(),
                min_free_bytes: view.ctx.stores.min_free_bytes,
            };
            Ok(Ok(view.table.push(handle)?))
        })
    }

    async fn get(
        accessor: &Accessor<T, Self>,
        store: Resource<StoreHandle>,
        key: String,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, KvError>> {
        match backend_of(accessor, &store)? {
            Backend::Redis(r) => Ok(r.query(redis::cmd("GET").arg(&key)).await),
            Backend::Redb(db, _) => {
                blocking(move || {
                    let tx = db.begin_read().map_err(other)?;
                    let table = tx.open_table(TABLE).map_err(other)?;
                    Ok(table
                        .get(key.as_str())
                        .map_err(other)?
                        .map(|v| v.value().to_vec()))
                })
                .await
            }
        }
    }

    async fn set(
        accessor: &Accessor<T, Self>,
        store: Resource<StoreHandle>,
        key: String,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), KvError>> {
        let (backend, min_free) =
            accessor.with(|mut access| -> wasmtime::Result<(Backend, u64)> {
                let view = access.get();
                let h = view.table.get(&store)?;
                Ok((h.backend.clone(), h.min_free_bytes))
            })?;
        match backend {
            // The server minds its own memory and disk (maxmemory): it refuses a write
            // itself, and that refusal reaches the guest as the store's error.
            Backend::Redis(r) => Ok(r.query(redis::cmd("SET").arg(&key).arg(value)).await),
            Backend::Redb(db, file) => {
                blocking(move || {
                    check_room(&file, value.len() as u64, min_free)?;
                    let tx = db.begin_write().map_err(other)?;
                    {
                        let mut table = tx.open_table(TABLE).map_err(other)?;
                        table
                            .insert(key.as_str(), value.as_slice())
                            .map_err(other)?;
                    }
                    tx.commit().map_err(other)
                })
                .await
            }
        }
    }

    async fn delete(
        accessor: &Accessor<T, Self>,
        store: Resource<StoreHandle>,
        key: String,
    ) -> wasmtime::Result<Result<(), KvError>> {
        match backend_of(accessor, &store)? {
            Backend::Redis(r) => Ok(r.query::<()>(redis::cmd("DEL").arg(&key)).await),
            Backend::Redb(db, _) => {
                blocking(move || {
                    let tx = db.begin_write().map_err(other)?;
                    {
                        let mut table = tx.open_table(TABLE).map_err(other)?;
                        table.remove(key.as_str()).map_err(other)?;
                    }
                    tx.commit().map_err(other)
                })
                .await
            }
        }
    }

    async fn exists(
        accessor: &Accessor<T, Self>,
        store: Resource<StoreHandle>,
        key: String,
    ) -> wasmtime::Result<Result<bool, KvError>> {
        match backend_of(accessor, &store)? {
            Backend::Redis(r) => Ok(r
                .query::<i64>(redis::cmd("EXISTS").arg(&key))
                .await
                .map(|n| n > 0)),
            Backend::Redb(db, _) => {
                blocking(move || {
                    let tx = db.begin_read().map_err(other)?;
                    let table = tx.open_table(TABLE).map_err(other)?;
                    Ok(table.get(key.as_str()).map_err(other)?.is_some())
                })
                .await
            }
        }
    }

    async fn get_keys(
        accessor: &Accessor<T, Self>,
        store: Resource<StoreHandle>,
    ) -> wasmtime::Result<(StreamReader<String>, FutureReader<Result<(), KvError>>)> {
        let keys = match backend_of(accessor, &store)? {
            Backend::Redis(r) => r.keys().await,
            Backend::Redb(db, _) => blocking(move || redb_keys(&db)).await?,
        };
        accessor.with(|mut access| {
            let (keys, result) = match keys {
                Ok(keys) => (keys, Ok(())),
                Err(e) => (Vec::new(), Err(e)),
            };
            let stream = StreamReader::new(&mut access, keys)?;
            let future =
                FutureReader::new(&mut access, async move { Ok::<_, wasmtime::Error>(result) })?;
            Ok((stream, future))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime_config::KeyValueStoreConfig;

    fn manifest(labels: &str) -> Manifest {
        let text = format!(
            "spin_manifest_version = 2\n[application]\nname = \"x\"\n\
             [[trigger.http]]\nroute = \"/x\"\ncomponent = \"x\"\n\
             [component.x]\nsource = \"x.wasm\"\nkey_value_stores = [{labels}]\n"
        );
        Manifest::parse(Path::new("/app/spin.toml"), &text).unwrap()
    }

    fn runtime(labels: &[(&str, Option<&str>)]) -> RuntimeConfig {
        let mut config = RuntimeConfig::default();
        for (label, path) in labels {
            config.key_value_store.insert(
                label.to_string(),
                KeyValueStoreConfig {
                    kind: "redb".into(),
                    path: path.map(PathBuf::from),
                    url: None,
                },
            );
        }
        config
    }

    #[test]
    fn default_is_implicit() {
        let paths =
            KeyValueStores::locations_for(&manifest("\"default\""), &runtime(&[]), Path::new("/s"))
                .unwrap();
        assert_eq!(
            paths,
            HashMap::from([(
                "default".to_string(),
                StoreLocation::File(PathBuf::from("/s/key-value/default.redb"))
            )])
        );
    }

    #[test]
    fn configured_stores_open_at_their_path_even_when_unused() {
        let config = runtime(&[("default", Some("/data/d.redb")), ("cache", None)]);
        let paths =
            KeyValueStores::locations_for(&manifest("\"default\""), &config, Path::new("/s"))
                .unwrap();
        let file = |p: &str| StoreLocation::File(PathBuf::from(p));
        assert_eq!(paths["default"], file("/data/d.redb"));
        assert_eq!(paths["cache"], file("/s/key-value/cache.redb"));
    }

    #[test]
    fn an_undefined_label_is_refused_naming_the_component_field() {
        let err = KeyValueStores::locations_for(
            &manifest("\"default\", \"cache\""),
            &runtime(&[]),
            Path::new("/s"),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with("/app/spin.toml: field `component.x.key_value_stores`:"),
            "{err}"
        );
        assert!(err.contains("`[key_value_store.cache]`"), "{err}");
    }
}
