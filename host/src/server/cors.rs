//! CORS: which browser origins may call the API. The host answers preflights itself and adds
//! the response headers, so components never deal with it.

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Response, StatusCode, header};
use http_body_util::Full;

/// Which browser origins may call the API.
#[derive(Debug, Clone, Default)]
pub enum CorsPolicy {
    /// No CORS headers.
    #[default]
    Off,
    /// Any origin (`*`).
    Any,
    /// These exact origins.
    Origins(Vec<String>),
}

/// Methods a preflight allows: everything the API routes use.
const ALLOW_METHODS: &str = "GET, HEAD, POST, PUT, DELETE, OPTIONS";
/// Headers allowed when a preflight does not list the ones it wants.
const DEFAULT_ALLOW_HEADERS: &str = "Content-Type, Range";
/// Response headers a browser script may read: sizes, ranges, caching, retries, jobs.
const EXPOSE_HEADERS: &str = "Content-Length, Content-Range, ETag, Retry-After, Location";
/// Seconds a browser may cache a preflight.
const MAX_AGE: &str = "600";

impl CorsPolicy {
    /// Parses `CORS_ALLOWED_ORIGINS`: empty → off, `*` → any, else a comma-separated list.
    pub fn parse(value: &str) -> Self {
        let origins: Vec<String> = value
            .split(',')
            .map(|s| s.trim().trim_end_matches('/').to_string())
            .filter(|s| !s.is_empty())
            .collect();
        if origins.is_empty() {
            Self::Off
        } else if origins.iter().any(|o| o == "*") {
            Self::Any
        } else {
            Self::Origins(origins)
        }
    }

    /// The `Access-Control-Allow-Origin` value for a request from `origin`, if allowed.
    fn allow_origin(&self, origin: Option<&HeaderValue>) -> Option<HeaderValue> {
        match self {
            Self::Off => None,
            Self::Any => Some(HeaderValue::from_static("*")),
            Self::Origins(list) => {
                let origin = origin?;
                let s = origin.to_str().ok()?;
                list.iter().any(|o| o == s).then(|| origin.clone())
            }
        }
    }

    /// Whether the host answers this request as a preflight (only when CORS is on, so with it
    /// off an `OPTIONS` reaches the component like any other request).
    pub(super) fn is_preflight(&self, method: &Method, headers: &HeaderMap) -> bool {
        method == Method::OPTIONS
            && headers.contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
            && !matches!(self, Self::Off)
    }

    /// The answer to a preflight: 204, with the allow headers when the origin is allowed.
    pub(super) fn preflight(&self, headers: &HeaderMap) -> Response<Full<Bytes>> {
        let mut res = Response::new(Full::new(Bytes::new()));
        *res.status_mut() = StatusCode::NO_CONTENT;
        if let Some(allowed) = self.allow_origin(headers.get(header::ORIGIN)) {
            let h = res.headers_mut();
            h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, allowed);
            h.insert(
                header::ACCESS_CONTROL_ALLOW_METHODS,
                HeaderValue::from_static(ALLOW_METHODS),
            );
            let requested = headers
                .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
                .cloned()
                .unwrap_or_else(|| HeaderValue::from_static(DEFAULT_ALLOW_HEADERS));
            h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, requested);
            h.insert(
                header::ACCESS_CONTROL_MAX_AGE,
                HeaderValue::from_static(MAX_AGE),
            );
        }
        res
    }

    /// Adds the CORS headers to a response for a request from `origin`, if it is allowed.
    pub(super) fn add_response_headers(&self, origin: Option<&HeaderValue>, h: &mut HeaderMap) {
        if let Some(allowed) = self.allow_origin(origin) {
            h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, allowed);
            h.insert(
                header::ACCESS_CONTROL_EXPOSE_HEADERS,
                HeaderValue::from_static(EXPOSE_HEADERS),
            );
            h.append(header::VARY, HeaderValue::from_static("Origin"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const APP: &str = "https://app.example.com";

    fn preflight_headers(origin: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::ORIGIN, HeaderValue::from_str(origin).unwrap());
        h.insert(
            header::ACCESS_CONTROL_REQUEST_METHOD,
            HeaderValue::from_static("POST"),
        );
        h
    }

    fn origin(s: &'static str) -> Option<HeaderValue> {
        Some(HeaderValue::from_static(s))
    }

    #[test]
    fn parse_reads_off_any_and_lists() {
        assert!(matches!(CorsPolicy::parse(""), CorsPolicy::Off));
        assert!(matches!(CorsPolicy::parse(" , "), CorsPolicy::Off));
        assert!(matches!(CorsPolicy::parse("*"), CorsPolicy::Any));
        assert!(matches!(CorsPolicy::parse("http://a, *"), CorsPolicy::Any));
        let CorsPolicy::Origins(list) =
            CorsPolicy::parse("http://localhost:3001, https://app.example.com/")
        else {
            panic!("a list");
        };
        assert_eq!(list, ["http://localhost:3001", APP]);
    }

    #[test]
    fn only_listed_origins_are_allowed() {
        let cors = CorsPolicy::parse(APP);
        assert_eq!(cors.allow_origin(origin(APP).as_ref()), origin(APP));
        assert_eq!(
            cors.allow_origin(origin("https://evil.example").as_ref()),
            None
        );
        assert_eq!(cors.allow_origin(None), None);
        assert_eq!(
            CorsPolicy::Any.allow_origin(None),
            origin("*"),
            "any origin, even without an Origin header"
        );
        assert_eq!(CorsPolicy::Off.allow_origin(origin(APP).as_ref()), None);
    }

    #[test]
    fn a_preflight_needs_options_a_requested_method_and_cors_on() {
        let cors = CorsPolicy::parse(APP);
        let h = preflight_headers(APP);
        assert!(cors.is_preflight(&Method::OPTIONS, &h));
        assert!(!cors.is_preflight(&Method::POST, &h));
        assert!(!cors.is_preflight(&Method::OPTIONS, &HeaderMap::new()));
        assert!(!CorsPolicy::Off.is_preflight(&Method::OPTIONS, &h));
    }

    #[test]
    fn preflight_allows_an_allowed_origin() {
        let res = CorsPolicy::parse(APP).preflight(&preflight_headers(APP));
        assert_eq!(res.status(), StatusCode::NO_CONTENT);
        let h = res.headers();
        assert_eq!(h[header::ACCESS_CONTROL_ALLOW_ORIGIN], APP);
        assert_eq!(h[header::ACCESS_CONTROL_ALLOW_METHODS], ALLOW_METHODS);
        assert_eq!(
            h[header::ACCESS_CONTROL_ALLOW_HEADERS],
            DEFAULT_ALLOW_HEADERS
        );
        assert_eq!(h[header::ACCESS_CONTROL_MAX_AGE], "600");
    }

    #[test]
    fn preflight_echoes_the_requested_headers() {
        let mut headers = preflight_headers(APP);
        headers.insert(
            header::ACCESS_CONTROL_REQUEST_HEADERS,
            HeaderValue::from_static("X-Custom"),
        );
        let res = CorsPolicy::Any.preflight(&headers);
        assert_eq!(res.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
        assert_eq!(
            res.headers()[header::ACCESS_CONTROL_ALLOW_HEADERS],
            "X-Custom"
        );
    }

    #[test]
    fn preflight_from_another_origin_gets_no_allow_headers() {
        let res = CorsPolicy::parse(APP).preflight(&preflight_headers("https://evil.example"));
        assert_eq!(res.status(), StatusCode::NO_CONTENT);
        assert!(res.headers().is_empty());
    }

    #[test]
    fn responses_expose_headers_and_vary_on_origin() {
        let cors = CorsPolicy::parse(APP);
        let mut h = HeaderMap::new();
        h.insert(header::VARY, HeaderValue::from_static("Accept"));
        cors.add_response_headers(origin(APP).as_ref(), &mut h);
        assert_eq!(h[header::ACCESS_CONTROL_ALLOW_ORIGIN], APP);
        assert_eq!(h[header::ACCESS_CONTROL_EXPOSE_HEADERS], EXPOSE_HEADERS);
        let vary: Vec<_> = h.get_all(header::VARY).iter().collect();
        assert_eq!(vary, ["Accept", "Origin"], "Vary is added to, not replaced");

        let mut h = HeaderMap::new();
        cors.add_response_headers(origin("https://evil.example").as_ref(), &mut h);
        assert!(h.is_empty());
        CorsPolicy::Off.add_response_headers(origin(APP).as_ref(), &mut h);
        assert!(h.is_empty());
    }
}
