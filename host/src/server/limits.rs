//! The limits every request runs under. Each default is a named constant, which the CLI
//! flags show as theirs, so `--help` and `Limits::default()` cannot drift apart.

use std::time::Duration;

/// Tunable limits; every one has a CLI flag and an environment variable.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest request body accepted (413 above it).
    pub max_body_bytes: u64,
    /// Linear memory one instance may grow to.
    pub max_memory_bytes: usize,
    /// Wall-clock time a request may take (504 after it).
    pub request_timeout: Duration,
    /// Requests served at once; more wait up to `queue_timeout`, then get 503.
    pub max_concurrent: usize,
    /// How long a request waits for a free slot.
    pub queue_timeout: Duration,
    /// How long an instance may go on after its response has started: a streamed body
    /// (Server-Sent Events) or work after returning (a song job). A fresh instance per
    /// request all the same; the client may have gone.
    pub background_timeout: Duration,
    /// How long a connection may take to send a request's headers, and how long a kept-alive
    /// connection may sit idle between requests (slowloris, idle sockets).
    pub header_read_timeout: Duration,
    /// How long a request may take to send its body (408 after it).
    pub body_read_timeout: Duration,
    /// Connections open at once; more are closed as they arrive.
    pub max_connections: usize,
    /// Linear memory all work instances together may hold, MiB (see `memory_budget`).
    pub memory_budget_mib: u32,
    /// Free disk a key-value write must leave, MiB (less: 507 `insufficient_storage`).
    pub min_free_disk_mib: u64,
}

impl Limits {
    /// 100 MiB: a few minutes of uncompressed audio.
    pub const DEFAULT_MAX_BODY_BYTES: u64 = 100 * 1024 * 1024;
    /// 2 GiB: enough for a song job's mixing buffers.
    pub const DEFAULT_MAX_MEMORY_BYTES: usize = 2 * 1024 * 1024 * 1024;
    /// 10 minutes: a long transcription on a slow CPU.
    pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(600);
    /// 256 requests at once.
    pub const DEFAULT_MAX_CONCURRENT: usize = 256;
    /// 10 seconds in the queue before 503: a client retries sooner than it would wait.
    pub const DEFAULT_QUEUE_TIMEOUT: Duration = Duration::from_secs(10);
    /// 30 minutes after the response: the longest song job.
    pub const DEFAULT_BACKGROUND_TIMEOUT: Duration = Duration::from_secs(30 * 60);
    /// 30 seconds: a real client sends its headers at once.
    pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
    /// 2 minutes: a 100 MiB upload at 7 Mbit/s.
    pub const DEFAULT_BODY_READ_TIMEOUT: Duration = Duration::from_secs(120);
    /// 1024 connections: four per request slot.
    pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;
    /// 256 MiB: room for the logs, the compiled-component cache and a final commit.
    pub const DEFAULT_MIN_FREE_DISK_MIB: u64 = 256;

    /// Half the machine's memory (4 GiB where it cannot be read): room for the models, the
    /// host and the page cache beside the instances.
    pub fn default_memory_budget_mib() -> u32 {
        std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|m| {
                m.lines()
                    .find_map(|l| l.strip_prefix("MemTotal:"))
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            })
            .map_or(4096, |kib| {
                u32::try_from(kib / 1024 / 2).unwrap_or(u32::MAX)
            })
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body_bytes: Self::DEFAULT_MAX_BODY_BYTES,
            max_memory_bytes: Self::DEFAULT_MAX_MEMORY_BYTES,
            request_timeout: Self::DEFAULT_REQUEST_TIMEOUT,
            max_concurrent: Self::DEFAULT_MAX_CONCURRENT,
            queue_timeout: Self::DEFAULT_QUEUE_TIMEOUT,
            background_timeout: Self::DEFAULT_BACKGROUND_TIMEOUT,
            header_read_timeout: Self::DEFAULT_HEADER_READ_TIMEOUT,
            body_read_timeout: Self::DEFAULT_BODY_READ_TIMEOUT,
            max_connections: Self::DEFAULT_MAX_CONNECTIONS,
            memory_budget_mib: Self::default_memory_budget_mib(),
            min_free_disk_mib: Self::DEFAULT_MIN_FREE_DISK_MIB,
        }
    }
}
