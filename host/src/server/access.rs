//! Who may call, and how much: API keys (the Spin variable `api_keys`), then each key's rate
//! and concurrency limits. Checked before a request waits for a slot or sends its body, so a
//! caller without a key costs a hash and nothing more.
//!
//! Which routes need a key is said in `spin.toml`: a component that maps the `api_keys`
//! variable checks keys itself (it files what it stores under the caller), and the host
//! checks them for it first. Health and the static front map nothing and stay open.

use super::front::{json_error, json_error_retry};
use super::lanes::Lane;
use crate::variables::ResolvedVariables;
use bytes::Bytes;
use http::{HeaderValue, Method, Response, StatusCode, header};
use http_body_util::Full;
use songforge_access::{ApiKeys, KeyId};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The per-key limits, from Spin variables; every one has a documented default.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KeyLimits {
    /// Work requests a key may start per minute, on average (`rate_limit_per_minute`).
    pub per_minute: f64,
    /// How many it may start at once after a quiet spell (`rate_limit_burst`).
    pub burst: f64,
    /// Work requests and jobs a key may have running at once (`max_running_per_key`).
    pub max_running: usize,
}

impl KeyLimits {
    /// 30 a minute: a song every two seconds, far more than a person makes.
    pub const DEFAULT_PER_MINUTE: f64 = 30.0;
    /// 10 at once: a song's stages called one by one, with room to spare.
    pub const DEFAULT_BURST: f64 = 10.0;
    /// 4 at once: enough to keep this machine busy, not enough for one key to fill it.
    pub const DEFAULT_MAX_RUNNING: usize = 4;

    /// Reads the variables, each optional; a value that is not a positive number is refused
    /// at start-up, naming the variable.
    pub fn from_variables(vars: &ResolvedVariables) -> Result<Self, String> {
        let number = |name: &str, default: f64| -> Result<f64, String> {
            match vars.app(name).map(str::trim).filter(|v| !v.is_empty()) {
                None => Ok(default),
                Some(v) => match v.parse::<f64>() {
                    Ok(n) if n.is_finite() && n > 0.0 => Ok(n),
                    _ => Err(format!(
                        "variable `{name}` must be a positive number, not `{v}`"
                    )),
                },
            }
        };
        let max_running = number("max_running_per_key", Self::DEFAULT_MAX_RUNNING as f64)?;
        Ok(Self {
            per_minute: number("rate_limit_per_minute", Self::DEFAULT_PER_MINUTE)?,
            burst: number("rate_limit_burst", Self::DEFAULT_BURST)?.max(1.0),
            max_running: (max_running as usize).max(1),
        })
    }
}

impl Default for KeyLimits {
    fn default() -> Self {
        Self {
            per_minute: Self::DEFAULT_PER_MINUTE,
            burst: Self::DEFAULT_BURST,
            max_running: Self::DEFAULT_MAX_RUNNING,
        }
    }
}

/// A token bucket: `burst` tokens, refilled at `per_minute / 60` a second.
#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// One key's counters: its token bucket and its running slots.
#[derive(Debug)]
struct KeyState {
    bucket: Bucket,
    running: Arc<Semaphore>,
}

/// The keys and every key's counters.
pub(super) struct Access {
    keys: ApiKeys,
    limits: KeyLimits,
    per_key: Mutex<HashMap<KeyId, KeyState>>,
}

/// A request let through: the lane it runs in, and (for a key's work) the slot it holds
/// until its instance, background work included, has finished.
pub(super) struct Admitted {
    pub hold: Option<OwnedSemaphorePermit>,
    pub lane: Lane,
}

impl Admitted {
    /// A stage call from another component: work, counted against its caller's key already.
    pub(super) fn local_call() -> Self {
        Self {
            hold: None,
            lane: Lane::Work,
        }
    }
}

impl Access {
    pub(super) fn new(keys: ApiKeys, limits: KeyLimits) -> Self {
        Self {
            keys,
            limits,
            per_key: Mutex::new(HashMap::new()),
        }
    }

    /// Whether no keys are configured (everyone is served).
    pub(super) fn is_open(&self) -> bool {
        self.keys.is_open()
    }

    /// How many keys are configured.
    pub(super) fn key_count(&self) -> usize {
        self.keys.len()
    }

    /// Lets a request to a route through, or answers it: 401 without a valid key on a
    /// protected route, 429 over the key's rate or running limit. `work` says whether the
    /// request starts work (a POST with a body), which the limits count.
    pub(super) fn admit(
        &self,
        protected: bool,
        headers: &http::HeaderMap,
        work: bool,
    ) -> Result<Admitted, Refusal> {
        let lane = if work { Lane::Work } else { Lane::Front };
        if !protected {
            return Ok(Admitted { hold: None, lane });
        }
        let auth = headers
            .get(header::AUTHORIZATION)
            .map(HeaderValue::as_bytes);
        let key = match self.keys.check(auth) {
            Ok(Some(key)) => key,
            Ok(None) => return Ok(Admitted { hold: None, lane }),
            Err(denied) => return Err(Refusal::Unauthorized(denied)),
        };
        if !work {
            return Ok(Admitted { hold: None, lane });
        }
        let now = Instant::now();
        let mut per_key = self.per_key.lock().unwrap_or_else(|e| e.into_inner());
        let state = self.state_of(&mut per_key, &key, now);
        let Ok(hold) = state.running.clone().try_acquire_owned() else {
            return Err(Refusal::Running {
                max: self.limits.max_running,
            });
        };
        take_token(&mut state.bucket, &self.limits, now).map_err(|wait_s| Refusal::Rate {
            limits: self.limits,
            wait_s,
        })?;
        Ok(Admitted {
            hold: Some(hold),
            lane,
        })
    }

    /// The key's counters, made on its first work request with a full bucket.
    fn state_of<'a>(
        &self,
        per_key: &'a mut HashMap<KeyId, KeyState>,
        key: &KeyId,
        now: Instant,
    ) -> &'a mut KeyState {
        per_key.entry(key.clone()).or_insert_with(|| KeyState {
            bucket: Bucket {
                tokens: self.limits.burst,
                at: now,
            },
            running: Arc::new(Semaphore::new(self.limits.max_running)),
        })
    }
}

/// Takes one token from `bucket`, or says how many whole seconds until one is there.
fn take_token(bucket: &mut Bucket, limits: &KeyLimits, now: Instant) -> Result<(), u64> {
    let rate = limits.per_minute / 60.0;
    let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
    bucket.tokens = (bucket.tokens + elapsed * rate).min(limits.burst);
    bucket.at = now;
    if bucket.tokens >= 1.0 {
        bucket.tokens -= 1.0;
        Ok(())
    } else {
        Err((((1.0 - bucket.tokens) / rate).ceil() as u64).max(1))
    }
}

/// What a 429 for too many running requests suggests waiting: a stage's usual length.
const RUNNING_RETRY_S: u64 = 5;

/// Why a request was turned away before it reached its component.
#[derive(Debug)]
pub(super) enum Refusal {
    /// 401: no key, or an unknown one.
    Unauthorized(songforge_access::Denied),
    /// 429: the key's bucket is empty for `wait_s` more seconds.
    Rate { limits: KeyLimits, wait_s: u64 },
    /// 429: the key already runs its `max` requests and jobs.
    Running { max: usize },
}

impl Refusal {
    /// The JSON error, with `WWW-Authenticate` or `Retry-After`.
    pub(super) fn response(&self) -> Response<Full<Bytes>> {
        match self {
            Self::Unauthorized(denied) => unauthorized(&denied.to_string()),
            Self::Rate { limits, wait_s } => too_many(
                &format!(
                    "this API key has started more than {} requests a minute \
                     (rate_limit_per_minute, bursts of {}); retry in {wait_s} s",
                    limits.per_minute, limits.burst
                ),
                *wait_s,
            ),
            Self::Running { max } => too_many(
                &format!(
                    "this API key already has {max} requests or song jobs running \
                     (max_running_per_key); retry when one finishes"
                ),
                RUNNING_RETRY_S,
            ),
        }
    }
}

/// Whether a request starts work: a method that changes things, with a body.
pub(super) fn is_work(method: &Method, body_is_empty: bool) -> bool {
    matches!(*method, Method::POST | Method::PUT | Method::PATCH) && !body_is_empty
}

fn unauthorized(message: &str) -> Response<Full<Bytes>> {
    let mut res = json_error(StatusCode::UNAUTHORIZED, "unauthorized", message);
    res.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static(songforge_access::CHALLENGE),
    );
    res
}

fn too_many(message: &str, retry_after_s: u64) -> Response<Full<Bytes>> {
    json_error_retry(
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        message,
        retry_after_s,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn access(per_minute: f64, burst: f64, max_running: usize) -> Access {
        let keys = ApiKeys::parse(&songforge_access::digest_hex("k1")).expect("digest");
        Access::new(
            keys,
            KeyLimits {
                per_minute,
                burst,
                max_running,
            },
        )
    }

    fn bearer(key: &str) -> http::HeaderMap {
        let mut h = http::HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&format!("Bearer {key}")).expect("header"),
        );
        h
    }

    /// A full bucket for `limits` at `t0`.
    fn full(limits: &KeyLimits, t0: Instant) -> Bucket {
        Bucket {
            tokens: limits.burst,
            at: t0,
        }
    }

    #[test]
    fn the_bucket_allows_a_burst_then_refills_at_the_rate() {
        let limits = access(60.0, 3.0, 100).limits;
        let t0 = Instant::now();
        let mut b = full(&limits, t0);
        for _ in 0..3 {
            assert_eq!(take_token(&mut b, &limits, t0), Ok(()));
        }
        assert_eq!(take_token(&mut b, &limits, t0), Err(1));
        // One a second at 60 a minute.
        let at = |ms| t0 + Duration::from_millis(ms);
        assert_eq!(take_token(&mut b, &limits, at(1000)), Ok(()));
        assert_eq!(take_token(&mut b, &limits, at(1100)), Err(1));
        // A long quiet spell refills to the burst, no more.
        let later = t0 + Duration::from_secs(3600);
        for _ in 0..3 {
            assert_eq!(take_token(&mut b, &limits, later), Ok(()));
        }
        assert!(take_token(&mut b, &limits, later).is_err());
    }

    #[test]
    fn a_slow_rate_says_how_long_to_wait() {
        let limits = access(2.0, 1.0, 100).limits;
        let t0 = Instant::now();
        let mut b = full(&limits, t0);
        assert_eq!(take_token(&mut b, &limits, t0), Ok(()));
        assert_eq!(take_token(&mut b, &limits, t0), Err(30));
    }

    #[test]
    fn running_work_is_capped_per_key_and_freed_when_done() {
        let a = access(1000.0, 1000.0, 2);
        let h = bearer("k1");
        let one = a.admit(true, &h, true).expect("first");
        let _two = a.admit(true, &h, true).expect("second");
        let third = a
            .admit(true, &h, true)
            .err()
            .expect("third is refused")
            .response();
        assert_eq!(third.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(third.headers()[header::RETRY_AFTER], "5");
        // Reading is not work and is never capped.
        assert!(a.admit(true, &h, false).is_ok());
        drop(one);
        assert!(a.admit(true, &h, true).is_ok());
    }

    #[test]
    fn keys_are_checked_only_on_protected_routes() {
        let a = access(1000.0, 1000.0, 2);
        assert!(a.admit(false, &http::HeaderMap::new(), true).is_ok());
        let denied = a
            .admit(true, &http::HeaderMap::new(), false)
            .err()
            .expect("no key")
            .response();
        assert_eq!(denied.status(), StatusCode::UNAUTHORIZED);
        assert!(denied.headers().contains_key(header::WWW_AUTHENTICATE));
        let wrong = a
            .admit(true, &bearer("k2"), false)
            .err()
            .expect("wrong key")
            .response();
        assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    }

    #[test]
    fn only_a_post_with_a_body_is_work() {
        assert!(is_work(&Method::POST, false));
        assert!(!is_work(&Method::POST, true));
        assert!(!is_work(&Method::GET, false));
        assert!(!is_work(&Method::DELETE, true));
    }
}
