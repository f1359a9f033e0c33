//! Prompt prefixes kept between requests. Callers that send many requests opening with the
//! same turns (the lyrics writer: one system turn and one worked example, then a brief per
//! section) pay for those turns once. A prompt with a prefix is always computed in two
//! passes, prefix then rest, whether the prefix was kept or not, so a request's text never
//! depends on what ran before it.

use crate::model::Cache;
use std::sync::{Arc, Mutex};

/// Prefixes kept: a handful of distinct openings in use at once.
pub const KEPT: usize = 8;

/// The computed keys and values of recent prompt prefixes, most recent first.
#[derive(Default)]
pub struct PrefixCache {
    entries: Mutex<Vec<(Vec<u32>, Arc<Cache>)>>,
}

impl PrefixCache {
    /// The cache computed for exactly `tokens`, if kept; it becomes the most recent.
    pub fn get(&self, tokens: &[u32]) -> Option<Arc<Cache>> {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let at = entries.iter().position(|(t, _)| t == tokens)?;
        let entry = entries.remove(at);
        let cache = entry.1.clone();
        entries.insert(0, entry);
        Some(cache)
    }

    /// Keeps `cache` as computed for `tokens`, dropping the least recent past [`KEPT`].
    pub fn put(&self, tokens: Vec<u32>, cache: Cache) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.retain(|(t, _)| *t != tokens);
        entries.insert(0, (tokens, Arc::new(cache)));
        entries.truncate(KEPT);
    }

    /// Prefixes kept now.
    pub fn len(&self) -> usize {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Whether none is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
