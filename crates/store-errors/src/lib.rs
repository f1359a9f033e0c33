//! Key-value failures the host names to components. `spin:key-value` has one catch-all error
//! case (`other(string)`), so the host starts its text with a marker and the component finds
//! it: a full disk becomes 507, an unreachable server 503. Both sides use this crate, so the
//! two spellings cannot drift apart.

/// A write would leave the store's disk short of `--min-free-disk-mib`.
pub const STORAGE_FULL: &str = "storage_full";

/// The store's server (Redis) did not answer.
pub const STORE_UNAVAILABLE: &str = "store_unavailable";

/// What a store error says, once read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreFailure {
    /// The disk is (nearly) full; the host's words.
    Full(String),
    /// The server did not answer; the host's words.
    Unavailable(String),
}

/// The host's error text for `marker`: `storage_full: <words>`.
pub fn marked(marker: &str, words: impl std::fmt::Display) -> String {
    format!("{marker}: {words}")
}

/// Reads a store error as the component sees it (the SDK prints it as
/// `Other("storage_full: ...")`): the failure and the host's words without the SDK's
/// wrapping, or `None` for any other error.
pub fn classify(text: &str) -> Option<StoreFailure> {
    // One closing `")` to drop and no more: the host's words may end in a parenthesis.
    let words = |marker: &str| {
        text.split_once(marker).map(|(_, why)| {
            let why = why.trim_start_matches(':').trim();
            why.strip_suffix("\")").unwrap_or(why).to_string()
        })
    };
    if let Some(w) = words(STORAGE_FULL) {
        Some(StoreFailure::Full(w))
    } else {
        words(STORE_UNAVAILABLE).map(StoreFailure::Unavailable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hosts_words_come_back_without_the_sdks_wrapping() {
        let host = marked(STORAGE_FULL, "260 MiB free (--min-free-disk-mib)");
        assert_eq!(
            classify(&format!("Other({host:?})")),
            Some(StoreFailure::Full(
                "260 MiB free (--min-free-disk-mib)".into()
            ))
        );
        let host = marked(STORE_UNAVAILABLE, "redis://127.0.0.1:6379 refused");
        assert_eq!(
            classify(&host),
            Some(StoreFailure::Unavailable(
                "redis://127.0.0.1:6379 refused".into()
            ))
        );
        assert_eq!(classify("Other(\"disk I/O error\")"), None);
    }
}
