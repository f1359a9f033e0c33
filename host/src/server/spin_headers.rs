//! The request a guest sees: the client's method, headers and body at the full URL, plus the
//! `spin-*` headers Spin's HTTP trigger sets to describe the route that matched. Pure, so each
//! header is tested here rather than through a running server.

use crate::router::RouteMatch;
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Request, header};
use http_body_util::Full;

/// The client's URI cannot be made into an absolute one (a `Host` header no URI accepts).
#[derive(Debug, thiserror::Error)]
#[error("the request URI is malformed")]
pub(super) struct MalformedUri;

/// Builds the guest's request from the client's: the URI made absolute from the `Host` header
/// (`localhost` without one), and Spin's headers set, replacing any the client sent.
pub(super) fn guest_request(
    parts: http::request::Parts,
    body: Bytes,
    matched: &RouteMatch<'_>,
    client_addr: &str,
) -> Result<Request<Full<Bytes>>, MalformedUri> {
    let mut headers = parts.headers;
    let full_url = full_url(&headers, &parts.uri);
    for (name, value) in spin_headers(&full_url, matched, client_addr) {
        // A value no header can carry (a control character in a path) is left out, as Spin
        // does, rather than failing the request.
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.insert(HeaderName::from_static(name), v);
        }
    }
    let uri = full_url.parse::<http::Uri>().map_err(|_| MalformedUri)?;
    let mut req = Request::new(Full::new(body));
    *req.method_mut() = parts.method;
    *req.uri_mut() = uri;
    *req.headers_mut() = headers;
    Ok(req)
}

/// `http://<host><path and query>`: what the client asked for, as an absolute URL.
fn full_url(headers: &HeaderMap, uri: &http::Uri) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let path_and_query = uri.path_and_query().map_or("/", |p| p.as_str());
    format!("http://{host}{path_and_query}")
}

/// Spin's request headers, by name.
fn spin_headers(
    full_url: &str,
    matched: &RouteMatch<'_>,
    client_addr: &str,
) -> [(&'static str, String); 7] {
    [
        ("spin-full-url", full_url.to_string()),
        ("spin-path-info", matched.path_info.clone()),
        ("spin-matched-route", matched.route.to_string()),
        ("spin-raw-component-route", matched.route.to_string()),
        (
            "spin-component-route",
            matched.route.trim_end_matches("/...").to_string(),
        ),
        ("spin-base-path", "/".into()),
        ("spin-client-addr", client_addr.to_string()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::Method;
    use http_body_util::BodyExt;

    fn parts(uri: &str, host: Option<&str>) -> http::request::Parts {
        let mut b = Request::builder().method(Method::POST).uri(uri);
        if let Some(h) = host {
            b = b.header(header::HOST, h);
        }
        b.header("x-client", "kept")
            .body(())
            .unwrap()
            .into_parts()
            .0
    }

    fn matched<'a>(route: &'a str, path_info: &str) -> RouteMatch<'a> {
        RouteMatch {
            index: 0,
            route,
            path_info: path_info.into(),
        }
    }

    /// The guest request for `uri` on `route`, from `127.0.0.1:5000`.
    fn guest(uri: &str, host: Option<&str>, route: &str, path_info: &str) -> Request<Full<Bytes>> {
        guest_request(
            parts(uri, host),
            Bytes::from_static(b"body"),
            &matched(route, path_info),
            "127.0.0.1:5000",
        )
        .unwrap()
    }

    fn header<'a>(req: &'a Request<Full<Bytes>>, name: &str) -> &'a str {
        req.headers()[name].to_str().unwrap()
    }

    #[test]
    fn full_url_keeps_host_path_and_query() {
        let req = guest(
            "/media/a.wav?download=1&x=%20",
            Some("example.com:3000"),
            "/media/...",
            "/a.wav",
        );
        let url = "http://example.com:3000/media/a.wav?download=1&x=%20";
        assert_eq!(header(&req, "spin-full-url"), url);
        assert_eq!(req.uri(), url);
    }

    #[test]
    fn full_url_defaults_to_localhost() {
        let req = guest("/api/health", None, "/api/health", "");
        assert_eq!(header(&req, "spin-full-url"), "http://localhost/api/health");
    }

    #[test]
    fn path_info_is_the_part_below_a_wildcard_without_the_query() {
        let req = guest("/media/a/b.wav?x=1", Some("h"), "/media/...", "/a/b.wav");
        assert_eq!(header(&req, "spin-path-info"), "/a/b.wav");
        let req = guest("/api/health?x=1", Some("h"), "/api/health", "");
        assert_eq!(header(&req, "spin-path-info"), "");
    }

    #[test]
    fn matched_and_raw_component_route_are_the_route_as_written() {
        let req = guest("/media/a.wav", Some("h"), "/media/...", "/a.wav");
        assert_eq!(header(&req, "spin-matched-route"), "/media/...");
        assert_eq!(header(&req, "spin-raw-component-route"), "/media/...");
    }

    #[test]
    fn component_route_drops_the_wildcard() {
        let req = guest("/media/a.wav", Some("h"), "/media/...", "/a.wav");
        assert_eq!(header(&req, "spin-component-route"), "/media");
        let req = guest("/api/health", Some("h"), "/api/health", "");
        assert_eq!(header(&req, "spin-component-route"), "/api/health");
        let req = guest("/anything/else", Some("h"), "/...", "/anything/else");
        assert_eq!(header(&req, "spin-component-route"), "");
        assert_eq!(header(&req, "spin-matched-route"), "/...");
        assert_eq!(header(&req, "spin-path-info"), "/anything/else");
    }

    #[test]
    fn base_path_is_the_root() {
        let req = guest("/api/health", Some("h"), "/api/health", "");
        assert_eq!(header(&req, "spin-base-path"), "/");
    }

    #[test]
    fn client_addr_is_passed_through() {
        let req = guest("/api/health", Some("h"), "/api/health", "");
        assert_eq!(header(&req, "spin-client-addr"), "127.0.0.1:5000");
    }

    #[test]
    fn method_body_and_client_headers_are_kept_and_spin_headers_replaced() {
        let mut p = parts("/api/health", Some("h"));
        p.headers
            .insert("spin-client-addr", HeaderValue::from_static("10.0.0.1:1"));
        let req = guest_request(
            p,
            Bytes::from_static(b"body"),
            &matched("/api/health", ""),
            "local",
        )
        .unwrap();
        assert_eq!(req.method(), Method::POST);
        assert_eq!(header(&req, "x-client"), "kept");
        assert_eq!(header(&req, "host"), "h");
        let spoofed: Vec<_> = req.headers().get_all("spin-client-addr").iter().collect();
        assert_eq!(spoofed, ["local"], "a client cannot set its own address");
        let body = body_of(req);
        assert_eq!(body, "body");
    }

    #[test]
    fn a_host_no_uri_accepts_is_refused() {
        let err = guest_request(
            parts("/api/health", Some("bad host")),
            Bytes::new(),
            &matched("/api/health", ""),
            "127.0.0.1:5000",
        );
        assert!(matches!(err, Err(MalformedUri)));
    }

    fn body_of(req: Request<Full<Bytes>>) -> Bytes {
        let collected = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(req.into_body().collect());
        match collected {
            Ok(c) => c.to_bytes(),
            Err(e) => match e {},
        }
    }
}
