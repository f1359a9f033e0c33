//! Spin route syntax: exact routes (`/api/health`) and trailing wildcards (`/media/...`).
//!
//! Matching ignores one trailing slash on both sides, so every route answers with and without
//! it, as the original Django API did. Exact routes win over wildcards, and longer wildcard
//! prefixes over shorter ones, independent of manifest order.

/// A parsed route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoutePattern {
    /// Matches one path (trailing slash optional).
    Exact(String),
    /// Matches the prefix and everything below it.
    Wildcard(String),
}

impl RoutePattern {
    /// Parses a route as written in the manifest.
    pub fn parse(route: &str) -> Result<Self, String> {
        if !route.starts_with('/') {
            return Err(format!("route {route:?} must start with `/`"));
        }
        if route.contains(['?', '#', '*']) || route.split('/').any(|s| s.starts_with(':')) {
            return Err(format!(
                "route {route:?}: only exact routes and trailing `/...` wildcards are supported"
            ));
        }
        if let Some(prefix) = route.strip_suffix("/...") {
            if prefix.contains("...") {
                return Err(format!("route {route:?}: `...` may only end a route"));
            }
            return Ok(Self::Wildcard(normalise(prefix).to_string()));
        }
        if route.contains("...") {
            return Err(format!("route {route:?}: `...` may only end a route"));
        }
        Ok(Self::Exact(normalise(route).to_string()))
    }
}

fn normalise(path: &str) -> &str {
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() { "" } else { trimmed }
}

/// The result of routing a request path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteMatch<'a> {
    /// Index of the route in the router.
    pub index: usize,
    /// The route as written in the manifest (`spin-matched-route`).
    pub route: &'a str,
    /// The path below a wildcard's prefix, with its leading slash; empty for exact routes
    /// (`spin-path-info`).
    pub path_info: String,
}

/// Routes in match order.
#[derive(Debug, Clone, Default)]
pub struct Router {
    entries: Vec<(RoutePattern, String)>,
}

impl Router {
    /// Builds a router; fails on an unparsable or duplicated route.
    pub fn new<'a>(routes: impl IntoIterator<Item = &'a str>) -> Result<Self, String> {
        let mut entries: Vec<(RoutePattern, String)> = Vec::new();
        for route in routes {
            let pattern = RoutePattern::parse(route)?;
            if entries.iter().any(|(p, _)| *p == pattern) {
                return Err(format!("route {route:?} is defined twice"));
            }
            entries.push((pattern, route.to_string()));
        }
        Ok(Self { entries })
    }

    /// Finds the route serving `path` (no query string).
    pub fn route(&self, path: &str) -> Option<RouteMatch<'_>> {
        let path = normalise(path);
        let mut best: Option<(usize, usize)> = None; // (index, prefix length)
        for (index, (pattern, _)) in self.entries.iter().enumerate() {
            match pattern {
                RoutePattern::Exact(p) if p == path => {
                    return Some(self.matched(index, String::new()));
                }
                RoutePattern::Wildcard(prefix)
                    if (path == prefix
                        || (path.starts_with(prefix.as_str())
                            && path.as_bytes().get(prefix.len()) == Some(&b'/')))
                        && best.is_none_or(|(_, len)| prefix.len() > len) =>
                {
                    best = Some((index, prefix.len()));
                }
                _ => {}
            }
        }
        best.map(|(index, len)| self.matched(index, path[len..].to_string()))
    }

    fn matched(&self, index: usize, path_info: String) -> RouteMatch<'_> {
        RouteMatch {
            index,
            route: &self.entries[index].1,
            path_info,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router() -> Router {
        Router::new([
            "/api/health",
            "/media/...",
            "/media/special",
            "/...",
            "/api/x/...",
        ])
        .unwrap()
    }

    #[test]
    fn exact_routes_match_with_and_without_trailing_slash() {
        let r = router();
        assert_eq!(r.route("/api/health").unwrap().index, 0);
        assert_eq!(r.route("/api/health/").unwrap().index, 0);
        assert_eq!(r.route("/api/health").unwrap().path_info, "");
    }

    #[test]
    fn wildcards_give_path_info_and_prefer_longer_prefixes() {
        let r = router();
        let m = r.route("/media/mix_1.wav").unwrap();
        assert_eq!((m.index, m.path_info.as_str()), (1, "/mix_1.wav"));
        assert_eq!(r.route("/media/").unwrap().index, 1);
        assert_eq!(r.route("/media/special").unwrap().index, 2);
        assert_eq!(r.route("/api/x/y/z").unwrap().path_info, "/y/z");
        assert_eq!(
            r.route("/mediax").unwrap().index,
            3,
            "prefix must end at a segment"
        );
        assert_eq!(r.route("/").unwrap().index, 3);
    }

    #[test]
    fn no_match_without_catch_all() {
        let r = Router::new(["/api/health"]).unwrap();
        assert!(r.route("/api/healthz").is_none());
        assert!(r.route("/").is_none());
    }

    #[test]
    fn bad_routes_are_refused() {
        assert!(RoutePattern::parse("api").is_err());
        assert!(RoutePattern::parse("/a/:id").is_err());
        assert!(RoutePattern::parse("/a/.../b").is_err());
        assert!(Router::new(["/a", "/a/"]).is_err());
    }
}
