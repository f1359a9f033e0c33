//! Conditional and partial GETs (RFC 9110 §13–14): `If-None-Match`, `If-Range` and a single
//! `Range: bytes=...`, for serving stored media to players that seek and caches that
//! revalidate.

/// What to send for a `Range` request against a resource of known length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeDecision {
    /// Send the whole resource with 200: no `Range`, one we ignore (malformed, another unit,
    /// several ranges, a stale `If-Range`), or a method without range semantics.
    Full,
    /// Send bytes `start..=end` with 206.
    Partial {
        /// First byte, inclusive.
        start: u64,
        /// Last byte, inclusive.
        end: u64,
    },
    /// The range lies entirely outside the resource: 416 with `Content-Range: bytes */len`.
    Unsatisfiable,
}

/// Decides how to answer a `Range` header for a resource of `len` bytes.
///
/// Only one `bytes` range is served; RFC 9110 lets a server ignore a `Range` it does not
/// want to honour, so anything else gets the full 200. Invalid syntax is ignored too, as the
/// RFC requires; only a well-formed range that misses the resource is a 416.
pub fn decide_range(range: Option<&str>, len: u64) -> RangeDecision {
    let Some(range) = range else {
        return RangeDecision::Full;
    };
    let Some((unit, spec)) = range.trim().split_once('=') else {
        return RangeDecision::Full;
    };
    if !unit.trim().eq_ignore_ascii_case("bytes") || spec.contains(',') {
        return RangeDecision::Full;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return RangeDecision::Full;
    };
    let (first, last) = (first.trim(), last.trim());
    match (parse_pos(first), parse_pos(last)) {
        // bytes=a-b
        (Some(start), Some(end)) => {
            if start > end {
                RangeDecision::Full
            } else if start >= len {
                RangeDecision::Unsatisfiable
            } else {
                RangeDecision::Partial {
                    start,
                    end: end.min(len - 1),
                }
            }
        }
        // bytes=a-
        (Some(start), None) if last.is_empty() => {
            if start >= len {
                RangeDecision::Unsatisfiable
            } else {
                RangeDecision::Partial {
                    start,
                    end: len - 1,
                }
            }
        }
        // bytes=-n: the last n bytes
        (None, Some(suffix)) if first.is_empty() => {
            if suffix == 0 || len == 0 {
                RangeDecision::Unsatisfiable
            } else {
                RangeDecision::Partial {
                    start: len.saturating_sub(suffix),
                    end: len - 1,
                }
            }
        }
        _ => RangeDecision::Full,
    }
}

/// A byte position: ASCII digits only (no sign, no spaces); too many digits saturate, which
/// is always past the end of a real resource.
fn parse_pos(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(s.parse().unwrap_or(u64::MAX))
}

/// Whether an `If-None-Match` value matches `etag` (weak comparison, as RFC 9110 §13.1.2
/// prescribes for this header; `*` matches any existing resource).
pub fn if_none_match(header: &str, etag: &str) -> bool {
    let etag = etag.trim_start_matches("W/");
    header
        .split(',')
        .map(str::trim)
        .any(|candidate| candidate == "*" || candidate.trim_start_matches("W/") == etag)
}

/// Whether an `If-Range` value still allows a partial response: only a strong ETag equal to
/// the current one. Dates are not honoured (we do not send `Last-Modified`), so they mean
/// "send everything", which is always safe.
pub fn if_range_allows(header: &str, etag: &str) -> bool {
    let header = header.trim();
    !header.starts_with("W/") && header == etag
}

/// The `Content-Range` value of a partial response.
pub fn content_range(start: u64, end: u64, len: u64) -> String {
    format!("bytes {start}-{end}/{len}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use RangeDecision::*;

    #[test]
    fn single_ranges() {
        let d = |r| decide_range(Some(r), 100);
        assert_eq!(d("bytes=0-43"), Partial { start: 0, end: 43 });
        assert_eq!(d("bytes=10-"), Partial { start: 10, end: 99 });
        assert_eq!(d("bytes=-10"), Partial { start: 90, end: 99 });
        assert_eq!(d("bytes=-1000"), Partial { start: 0, end: 99 });
        assert_eq!(d("bytes=50-5000"), Partial { start: 50, end: 99 });
        assert_eq!(d("bytes=99-99"), Partial { start: 99, end: 99 });
        assert_eq!(d("Bytes = 1 - 2"), Partial { start: 1, end: 2 });
        assert_eq!(
            d("bytes=0-99999999999999999999999"),
            Partial { start: 0, end: 99 }
        );
    }

    #[test]
    fn unsatisfiable_ranges() {
        let d = |r| decide_range(Some(r), 100);
        assert_eq!(d("bytes=100-"), Unsatisfiable);
        assert_eq!(d("bytes=999999-"), Unsatisfiable);
        assert_eq!(d("bytes=100-200"), Unsatisfiable);
        assert_eq!(d("bytes=-0"), Unsatisfiable);
        assert_eq!(d("bytes=99999999999999999999999-"), Unsatisfiable);
        assert_eq!(decide_range(Some("bytes=0-"), 0), Unsatisfiable);
        assert_eq!(decide_range(Some("bytes=-5"), 0), Unsatisfiable);
    }

    #[test]
    fn malformed_or_unsupported_ranges_are_ignored() {
        for r in [
            "bytes=5-1",
            "bytes=abc",
            "bytes=-",
            "bytes=1-2,4-5",
            "items=0-1",
            "bytes 0-1",
            "bytes=+1-2",
            "bytes=0x1-2",
            "",
        ] {
            assert_eq!(decide_range(Some(r), 100), Full, "{r}");
        }
        assert_eq!(decide_range(None, 100), Full);
    }

    #[test]
    fn etag_conditions() {
        let tag = "\"abc\"";
        assert!(if_none_match("\"abc\"", tag));
        assert!(if_none_match("\"x\", W/\"abc\"", tag));
        assert!(if_none_match("*", tag));
        assert!(!if_none_match("\"abd\"", tag));
        assert!(if_range_allows("\"abc\"", tag));
        assert!(!if_range_allows("W/\"abc\"", tag));
        assert!(!if_range_allows("Wed, 21 Oct 2015 07:28:00 GMT", tag));
        assert_eq!(content_range(0, 43, 100), "bytes 0-43/100");
    }
}
