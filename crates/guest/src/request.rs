//! Reading requests: method checks, the path below a wildcard route, query strings, JSON and
//! `multipart/form-data` bodies.
//!
//! Every failure is an [`ApiError`] that says what was wrong and, where one input field is
//! at fault, names it, so handlers can use `?` and clients get actionable 4xx answers.

mod multipart;

pub use multipart::{FormPart, MultipartError, multipart_boundary, parse_multipart};

use bytes::Bytes;
use http::header::{self, HeaderMap};
use http::{Method, Request as HttpRequest, Uri};
use serde::de::DeserializeOwned;
use spin_sdk::http::Request;
use spin_sdk::http::body::IncomingBodyExt;
use spin_sdk::wasip3::http::types::ErrorCode as WasiErrorCode;

use crate::envelope::ApiError;

/// The header Spin (and our host) sets to the path below the matched route's `/...` prefix.
pub const PATH_INFO_HEADER: &str = "spin-path-info";
/// The header naming the manifest route that matched, e.g. `/media/...`.
pub const MATCHED_ROUTE_HEADER: &str = "spin-matched-route";

/// Refuses a method the route does not serve with 405 and an `Allow` header.
pub fn require_method<B>(req: &HttpRequest<B>, allowed: &[Method]) -> Result<(), ApiError> {
    if allowed.contains(req.method()) {
        Ok(())
    } else {
        Err(ApiError::method_not_allowed(req.method(), allowed))
    }
}

/// The request path below the matched wildcard route (`/instrumental_ab.wav` for
/// `/media/instrumental_ab.wav` on `/media/...`), still percent-encoded.
///
/// Prefers `spin-path-info`; without it (a host that does not set it) derives the same from
/// `spin-matched-route` and the URI, and as a last resort answers the whole URI path.
pub fn path_info<B>(req: &HttpRequest<B>) -> String {
    path_info_from(req.headers(), req.uri())
}

fn path_info_from(headers: &HeaderMap, uri: &Uri) -> String {
    if let Some(info) = header_str(headers, PATH_INFO_HEADER) {
        return info.to_string();
    }
    let path = uri.path();
    if let Some(rest) = header_str(headers, MATCHED_ROUTE_HEADER)
        .and_then(|route| route.strip_suffix("/..."))
        .and_then(|prefix| path.strip_prefix(prefix))
        && (rest.is_empty() || rest.starts_with('/'))
    {
        return rest.to_string();
    }
    path.to_string()
}

/// A header's value as text, if present and visible ASCII.
pub fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The request's media type without parameters, lower-cased (`application/json` for
/// `Application/JSON; charset=utf-8`); `None` when there is no readable `Content-Type`.
pub fn media_type(headers: &HeaderMap) -> Option<String> {
    header_str(headers, header::CONTENT_TYPE.as_str())
        .map(|ct| HeaderParams::parse(ct).value)
        .filter(|v| !v.is_empty())
}

/// Reads the whole request body (the host has already buffered it and enforced the limit).
pub async fn read_body(req: Request) -> Result<(http::request::Parts, Bytes), ApiError> {
    let (parts, body) = req.into_parts();
    let bytes = body.bytes().await.map_err(|e| match e {
        WasiErrorCode::HttpRequestBodySize(_) => {
            ApiError::payload_too_large("the request body is larger than this service accepts")
        }
        other => ApiError::bad_request(format!("the request body could not be read: {other}")),
    })?;
    Ok((parts, bytes))
}

/// Whether a media type is JSON (`application/json` or any `+json` type).
pub fn is_json_media_type(media_type: &str) -> bool {
    media_type == "application/json"
        || (media_type.starts_with("application/") && media_type.ends_with("+json"))
}

/// Parses a JSON body into `T`: 415 unless the `Content-Type` is JSON, 400 naming the field
/// when the body does not fit `T`.
pub fn parse_json<T: DeserializeOwned>(headers: &HeaderMap, body: &[u8]) -> Result<T, ApiError> {
    match media_type(headers) {
        Some(mt) if is_json_media_type(&mt) => decode_json(body),
        Some(mt) => Err(ApiError::unsupported_media_type(format!(
            "this route reads application/json, not {mt}"
        ))),
        None => Err(ApiError::unsupported_media_type(
            "this route reads application/json; set the Content-Type header",
        )),
    }
}

/// Decodes JSON into `T` without looking at headers. A value of the wrong type, or a missing
/// or unknown field, is a 400 whose `field` is the path to it (`tracks[1].gain`).
pub fn decode_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request(
            "the request body is empty; send a JSON object",
        ));
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(json_error)?;
    de.end().map_err(|e| {
        ApiError::bad_request(format!(
            "the request body has data after the JSON value: {e}"
        ))
    })?;
    Ok(value)
}

fn json_error(error: serde_path_to_error::Error<serde_json::Error>) -> ApiError {
    let path = error.path().to_string();
    let inner = error.into_inner();
    if !inner.is_data() {
        return ApiError::bad_request(format!("the request body is not valid JSON: {inner}"));
    }
    let message = inner.to_string();
    // serde reports a missing field at the object that lacks it, so append its name; an
    // unknown field is already the last step of the path.
    let missing = message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split('`').next());
    let field = match (path.as_str(), missing) {
        (".", Some(name)) => Some(name.to_string()),
        (".", None) => None,
        (parent, Some(name)) => Some(format!("{parent}.{name}")),
        (path, None) => Some(path.to_string()),
    };
    match field {
        Some(field) => ApiError::bad_request(format!("field `{field}` is invalid: {message}"))
            .with_field(field),
        None => ApiError::bad_request(format!("the request body is invalid: {message}")),
    }
}

/// The decoded `name=value` pairs of a query string, in order (`+` is a space; malformed
/// `%` escapes are kept literally, as browsers do).
pub fn query_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (form_decode(name), form_decode(value))
        })
        .collect()
}

/// The first value of query parameter `name`, decoded.
pub fn query_param<B>(req: &HttpRequest<B>, name: &str) -> Option<String> {
    query_pairs(req.uri().query().unwrap_or(""))
        .into_iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v)
}

fn form_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => match decode_hex_pair(bytes.get(i + 1..i + 3)) {
                Some(b) => {
                    out.push(b);
                    i += 2;
                }
                None => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A `%` escape in a path segment that is not followed by two hex digits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` has a malformed percent escape")]
pub struct InvalidPercentEncoding(pub String);

/// Strictly percent-decodes `s` (a path segment or RFC 8187 value) into raw bytes.
///
/// Strict because a path that decodes two ways is how traversal tricks slip past checks.
pub fn percent_decode(s: &str) -> Result<Vec<u8>, InvalidPercentEncoding> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let b = decode_hex_pair(bytes.get(i + 1..i + 3))
                .ok_or_else(|| InvalidPercentEncoding(s.to_string()))?;
            out.push(b);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Ok(out)
}

/// Why a percent-encoded name or path is not text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TextDecodeError {
    #[error("it has a malformed % escape")]
    MalformedEscape,
    #[error("it is not UTF-8")]
    NotUtf8,
}

/// Strictly percent-decodes `s` into UTF-8 text: media names, file paths and RFC 8187 values,
/// whose bytes must be text.
pub fn percent_decode_text(s: &str) -> Result<String, TextDecodeError> {
    let bytes = percent_decode(s).map_err(|_| TextDecodeError::MalformedEscape)?;
    String::from_utf8(bytes).map_err(|_| TextDecodeError::NotUtf8)
}

fn decode_hex_pair(pair: Option<&[u8]>) -> Option<u8> {
    let &[hi, lo] = pair? else {
        return None;
    };
    Some(hex_digit(hi)? << 4 | hex_digit(lo)?)
}

fn hex_digit(c: u8) -> Option<u8> {
    (c as char).to_digit(16).and_then(|d| u8::try_from(d).ok())
}

/// A header value with `;`-separated parameters, as in `Content-Type` and
/// `Content-Disposition` (RFC 9110 §5.6.6): `value; name=token; name="quoted \" string"`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HeaderParams {
    /// The main value, trimmed and lower-cased (`multipart/form-data`, `form-data`).
    pub value: String,
    /// The parameters in order, names lower-cased, values unquoted and unescaped.
    pub params: Vec<(String, String)>,
}

impl HeaderParams {
    /// Parses leniently: a missing closing quote ends the value at the end of the header, and
    /// parameters without `=` are skipped, so one odd client does not lose its whole upload.
    pub fn parse(header: &str) -> Self {
        let mut chars = header.char_indices().peekable();
        let value_end = header.find(';').unwrap_or(header.len());
        let value = header[..value_end].trim().to_ascii_lowercase();
        while chars.next_if(|&(i, _)| i < value_end).is_some() {}
        let mut params = Vec::new();
        loop {
            // Skip separators and whitespace before a parameter name.
            while chars
                .next_if(|&(_, c)| c == ';' || c.is_ascii_whitespace())
                .is_some()
            {}
            let Some(&(start, _)) = chars.peek() else {
                break;
            };
            let mut end = header.len();
            let mut has_value = false;
            while let Some(&(i, c)) = chars.peek() {
                if c == '=' || c == ';' {
                    end = i;
                    has_value = c == '=';
                    break;
                }
                chars.next();
            }
            let name = header[start..end].trim().to_ascii_lowercase();
            if !has_value {
                continue;
            }
            chars.next(); // '='
            while chars.next_if(|&(_, c)| c == ' ' || c == '\t').is_some() {}
            let mut val = String::new();
            if chars.next_if(|&(_, c)| c == '"').is_some() {
                loop {
                    match chars.next() {
                        Some((_, '"')) | None => break,
                        Some((_, '\\')) => {
                            if let Some((_, escaped)) = chars.next() {
                                val.push(escaped);
                            }
                        }
                        Some((_, c)) => val.push(c),
                    }
                }
                // Anything between the closing quote and the next `;` is ignored.
                while chars.next_if(|&(_, c)| c != ';').is_some() {}
            } else {
                while let Some((_, c)) = chars.next_if(|&(_, c)| c != ';') {
                    val.push(c);
                }
                val = val.trim().to_string();
            }
            if !name.is_empty() {
                params.push((name, val));
            }
        }
        Self { value, params }
    }

    /// The first parameter called `name` (case-insensitive).
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    fn req(method: Method, uri: &str, headers: &[(&str, &str)]) -> HttpRequest<()> {
        let mut b = HttpRequest::builder().method(method).uri(uri);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(()).expect("test request")
    }

    fn json_headers() -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/json; charset=utf-8"),
        );
        h
    }

    #[test]
    fn methods_outside_the_list_get_405() {
        let r = req(Method::DELETE, "/api/health", &[]);
        let e = require_method(&r, &[Method::GET, Method::HEAD]).unwrap_err();
        assert_eq!(e.status(), http::StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(e.headers()[0].1, "GET, HEAD");
        assert!(require_method(&req(Method::HEAD, "/", &[]), &[Method::GET, Method::HEAD]).is_ok());
    }

    #[test]
    fn path_info_prefers_the_header_then_the_route() {
        let r = req(
            Method::GET,
            "/media/a.wav",
            &[
                ("spin-path-info", "/a.wav"),
                ("spin-matched-route", "/media/..."),
            ],
        );
        assert_eq!(path_info(&r), "/a.wav");
        let r = req(
            Method::GET,
            "/media/b.wav",
            &[("spin-matched-route", "/media/...")],
        );
        assert_eq!(path_info(&r), "/b.wav");
        let r = req(
            Method::GET,
            "/media",
            &[("spin-matched-route", "/media/...")],
        );
        assert_eq!(path_info(&r), "");
        let r = req(
            Method::GET,
            "/mediax/b.wav",
            &[("spin-matched-route", "/media/...")],
        );
        assert_eq!(path_info(&r), "/mediax/b.wav");
        let r = req(Method::GET, "/other/c.wav?x=1", &[]);
        assert_eq!(path_info(&r), "/other/c.wav");
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Track {
        url: String,
        gain: f32,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Mix {
        genre: String,
        #[serde(default)]
        tracks: Vec<Track>,
    }

    #[test]
    fn json_parses_and_names_bad_fields() {
        let ok: Mix = parse_json(&json_headers(), br#"{"genre":"pop"}"#).unwrap();
        assert_eq!(ok.genre, "pop");

        let e = parse_json::<Mix>(&json_headers(), br#"{"genre": 3}"#).unwrap_err();
        assert_eq!(e.field(), Some("genre"));
        assert_eq!(e.status(), http::StatusCode::BAD_REQUEST);

        let e = parse_json::<Mix>(&json_headers(), br#"{}"#).unwrap_err();
        assert_eq!(e.field(), Some("genre"));

        let e = parse_json::<Mix>(
            &json_headers(),
            br#"{"genre":"pop","tracks":[{"url":"a","gain":1},{"url":"b","gain":"x"}]}"#,
        )
        .unwrap_err();
        assert_eq!(e.field(), Some("tracks[1].gain"));

        let e = parse_json::<Mix>(
            &json_headers(),
            br#"{"genre":"pop","tracks":[{"url":"a"}]}"#,
        )
        .unwrap_err();
        assert_eq!(e.field(), Some("tracks[0].gain"));

        let e = parse_json::<Mix>(&json_headers(), br#"{"genre":"pop","colour":1}"#).unwrap_err();
        assert_eq!(e.field(), Some("colour"));

        let e = parse_json::<Mix>(
            &json_headers(),
            br#"{"genre":"pop","tracks":[{"url":"a","gain":1,"pan":0}]}"#,
        )
        .unwrap_err();
        assert_eq!(e.field(), Some("tracks[0].pan"));
    }

    #[test]
    fn json_syntax_errors_and_empty_bodies_have_no_field() {
        for body in [
            &b"{\"genre\": "[..],
            b"",
            b"  ",
            b"{\"genre\":\"pop\"} x",
            b"nope",
        ] {
            let e = parse_json::<Mix>(&json_headers(), body).unwrap_err();
            assert_eq!(e.status(), http::StatusCode::BAD_REQUEST, "{body:?}");
            assert_eq!(e.field(), None, "{body:?}: {}", e.message());
        }
    }

    #[test]
    fn json_needs_a_json_content_type() {
        let mut h = HeaderMap::new();
        let e = parse_json::<Mix>(&h, br#"{"genre":"pop"}"#).unwrap_err();
        assert_eq!(e.status(), http::StatusCode::UNSUPPORTED_MEDIA_TYPE);
        h.insert(
            header::CONTENT_TYPE,
            http::HeaderValue::from_static("text/plain"),
        );
        let e = parse_json::<Mix>(&h, br#"{"genre":"pop"}"#).unwrap_err();
        assert_eq!(e.status(), http::StatusCode::UNSUPPORTED_MEDIA_TYPE);
        h.insert(
            header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/vnd.songforge+json"),
        );
        assert!(parse_json::<Mix>(&h, br#"{"genre":"pop"}"#).is_ok());
    }

    #[test]
    fn query_strings_decode() {
        assert_eq!(
            query_pairs("ms=20&graph=echo%20x&flag&name=a+b&bad=%zz&&e="),
            vec![
                ("ms".into(), "20".into()),
                ("graph".into(), "echo x".into()),
                ("flag".into(), "".into()),
                ("name".into(), "a b".into()),
                ("bad".into(), "%zz".into()),
                ("e".into(), "".into()),
            ]
        );
        let r = req(Method::GET, "/probe/var?name=greeting&name=other", &[]);
        assert_eq!(query_param(&r, "name").as_deref(), Some("greeting"));
        assert_eq!(query_param(&r, "missing"), None);
        assert_eq!(query_param(&req(Method::GET, "/x", &[]), "name"), None);
    }

    #[test]
    fn percent_decoding_is_strict() {
        assert_eq!(percent_decode("a%2Fb%2e").unwrap(), b"a/b.");
        assert_eq!(percent_decode("%00x").unwrap(), b"\0x");
        assert!(percent_decode("%").is_err());
        assert!(percent_decode("%4").is_err());
        assert!(percent_decode("%g0").is_err());
        assert_eq!(percent_decode("plain").unwrap(), b"plain");
        assert_eq!(percent_decode_text("caf%C3%A9").unwrap(), "café");
        assert_eq!(
            percent_decode_text("%4"),
            Err(TextDecodeError::MalformedEscape)
        );
        assert_eq!(percent_decode_text("%FF"), Err(TextDecodeError::NotUtf8));
    }

    #[test]
    fn header_params_parse() {
        let p = HeaderParams::parse("Multipart/Form-Data; Boundary=\"a;b\\\"c\"; charset=utf-8");
        assert_eq!(p.value, "multipart/form-data");
        assert_eq!(p.param("boundary"), Some("a;b\"c"));
        assert_eq!(p.param("CHARSET"), Some("utf-8"));
        let p = HeaderParams::parse("form-data; name=file ; filename=\"x.wav\"junk; lonely");
        assert_eq!(p.value, "form-data");
        assert_eq!(p.param("name"), Some("file"));
        assert_eq!(p.param("filename"), Some("x.wav"));
        assert_eq!(p.param("lonely"), None);
        let p = HeaderParams::parse("audio/wav");
        assert_eq!(p.value, "audio/wav");
        assert!(p.params.is_empty());
        let p = HeaderParams::parse("text/plain; name=\"unterminated");
        assert_eq!(p.param("name"), Some("unterminated"));
    }

    #[test]
    fn media_type_drops_parameters() {
        let mut h = HeaderMap::new();
        assert_eq!(media_type(&h), None);
        h.insert(
            header::CONTENT_TYPE,
            http::HeaderValue::from_static("Audio/WAV; rate=16000"),
        );
        assert_eq!(media_type(&h).as_deref(), Some("audio/wav"));
    }
}
