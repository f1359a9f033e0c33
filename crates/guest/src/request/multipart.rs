//! A `multipart/form-data` parser (RFC 7578 on RFC 2046) for fully buffered bodies.
//!
//! The host hands components the whole body at once (it has already enforced the size limit),
//! so the parser works on one `Bytes` and gives out zero-copy slices of it: an uploaded song
//! is never copied just to be split from its form. Streaming parsers such as `multer` pull in
//! an async runtime that does not fit a wasm guest.

use bytes::Bytes;

use super::{HeaderParams, percent_decode_text};
use crate::envelope::ApiError;

/// The longest boundary RFC 2046 allows.
const MAX_BOUNDARY_LEN: usize = 70;

/// The most header bytes one part may carry; real forms send two short headers, so anything
/// far bigger is a malformed or hostile body, not a form.
const MAX_PART_HEADER_BYTES: usize = 16 * 1024;

/// One part of a form: a named field, with a file name when it is a file upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormPart {
    /// The field name from `Content-Disposition: form-data; name="..."`.
    pub name: String,
    /// The client's file name, when the part is a file (`filename=` or RFC 5987 `filename*=`).
    pub filename: Option<String>,
    /// The part's own `Content-Type`, lower-cased, parameters included; `None` when absent,
    /// which RFC 7578 says means `text/plain`.
    pub content_type: Option<String>,
    /// The part's bytes, exactly as sent (binary-safe; a slice of the request body).
    pub data: Bytes,
}

impl FormPart {
    /// The part's media type without parameters (`audio/wav` for `audio/wav; rate=16000`).
    pub fn media_type(&self) -> Option<&str> {
        self.content_type
            .as_deref()
            .map(|ct| ct.split(';').next().unwrap_or(ct).trim())
    }

    /// The part's data as text, for plain form fields.
    pub fn text(&self) -> Result<&str, MultipartError> {
        std::str::from_utf8(&self.data).map_err(|_| MultipartError::NotText {
            field: self.name.clone(),
        })
    }
}

/// Why a body is not a well-formed `multipart/form-data` form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MultipartError {
    /// The `Content-Type` has no `boundary` parameter.
    #[error("the multipart Content-Type has no boundary parameter")]
    MissingBoundary,
    /// The boundary is empty, too long or has characters RFC 2046 forbids.
    #[error("the multipart boundary is not valid (1 to 70 characters, no trailing space)")]
    InvalidBoundary,
    /// No delimiter line opens the body.
    #[error("the multipart body does not start with its boundary")]
    MissingFirstBoundary,
    /// A delimiter line is followed by something other than a line end or `--`.
    #[error("a multipart boundary line is malformed")]
    MalformedBoundaryLine,
    /// A part's headers never end, or are too big.
    #[error("a multipart part's headers are malformed or too long")]
    MalformedHeaders,
    /// A part has no `Content-Disposition: form-data` header.
    #[error("a multipart part has no Content-Disposition: form-data header")]
    MissingDisposition,
    /// A part's `Content-Disposition` has no `name`.
    #[error("a multipart part has no field name")]
    MissingName,
    /// The closing delimiter (`--boundary--`) is missing: the body was cut short.
    #[error("the multipart body ends before its closing boundary")]
    Unterminated,
    /// A field that should hold text is not UTF-8.
    #[error("form field `{field}` is not UTF-8 text")]
    NotText {
        /// The field's name.
        field: String,
    },
}

impl From<MultipartError> for ApiError {
    fn from(error: MultipartError) -> Self {
        let api = ApiError::bad_request(error.to_string());
        match error {
            MultipartError::NotText { field } => api.with_field(field),
            _ => api,
        }
    }
}

/// The boundary from a `multipart/form-data` `Content-Type` value, quoted or not.
pub fn multipart_boundary(content_type: &str) -> Result<String, MultipartError> {
    let parsed = HeaderParams::parse(content_type);
    let boundary = parsed
        .param("boundary")
        .ok_or(MultipartError::MissingBoundary)?;
    if boundary.is_empty()
        || boundary.len() > MAX_BOUNDARY_LEN
        || boundary.ends_with(' ')
        || !boundary.bytes().all(is_boundary_char)
    {
        return Err(MultipartError::InvalidBoundary);
    }
    Ok(boundary.to_string())
}

/// RFC 2046 `bchars`: digits, letters and `'()+_,-./:=? ` (space only inside).
fn is_boundary_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"'()+_,-./:=? ".contains(&b)
}

/// Splits a buffered `multipart/form-data` body into its parts, in order.
///
/// Accepts a preamble before the first delimiter and an epilogue after the last, transport
/// padding (spaces/tabs) after delimiters, and bare `\n` line ends from sloppy clients; part
/// data is kept byte-for-byte.
pub fn parse_multipart(body: &Bytes, boundary: &str) -> Result<Vec<FormPart>, MultipartError> {
    let dash_boundary = format!("--{boundary}");
    let dash_boundary = dash_boundary.as_bytes();
    // Delimiters inside the body are always preceded by a line end.
    let delimiter = format!("\r\n--{boundary}");
    let delimiter = delimiter.as_bytes();

    let mut pos = if body.starts_with(dash_boundary) {
        dash_boundary.len()
    } else {
        find_delimiter(body, delimiter, 0)
            .map(|at| at + delimiter.len())
            .or_else(|| find_lf_delimiter(body, dash_boundary, 0).map(|(_, end)| end))
            .ok_or(MultipartError::MissingFirstBoundary)?
    };

    let mut parts = Vec::new();
    loop {
        // After a delimiter: `--` closes the form, otherwise a line end opens the next part.
        if body[pos..].starts_with(b"--") {
            return Ok(parts);
        }
        pos = skip_padding_and_line_end(body, pos)?;

        let (headers_end, data_start) =
            find_headers_end(body, pos).ok_or(MultipartError::MalformedHeaders)?;
        if headers_end - pos > MAX_PART_HEADER_BYTES {
            return Err(MultipartError::MalformedHeaders);
        }
        let head = parse_part_headers(&body[pos..headers_end])?;

        // The delimiter's line end may be the one that closed the headers: the data is empty.
        let (data_end, next) = match find_delimiter(body, delimiter, data_start.saturating_sub(2)) {
            Some(at) => (at.max(data_start), at + delimiter.len()),
            None => find_lf_delimiter(body, dash_boundary, data_start)
                .ok_or(MultipartError::Unterminated)?,
        };
        parts.push(FormPart {
            name: head.name,
            filename: head.filename,
            content_type: head.content_type,
            data: body.slice(data_start..data_end),
        });
        pos = next;
    }
}

/// The headers of one part that a form needs.
struct PartHead {
    name: String,
    filename: Option<String>,
    content_type: Option<String>,
}

fn parse_part_headers(raw: &[u8]) -> Result<PartHead, MultipartError> {
    // Header values are ASCII in practice; browsers send UTF-8 file names raw, so decode
    // lossily rather than refusing the upload.
    let text = String::from_utf8_lossy(raw);
    let mut disposition = None;
    let mut content_type = None;
    for line in text.split('\n') {
        let line = line.trim_end_matches('\r');
        if line.is_empty() {
            continue;
        }
        let (name, value) = line
            .split_once(':')
            .ok_or(MultipartError::MalformedHeaders)?;
        let name = name.trim();
        if name.eq_ignore_ascii_case("content-disposition") {
            disposition = Some(HeaderParams::parse(value));
        } else if name.eq_ignore_ascii_case("content-type") {
            content_type = Some(value.trim().to_ascii_lowercase());
        }
    }
    let disposition = disposition.ok_or(MultipartError::MissingDisposition)?;
    if disposition.value != "form-data" {
        return Err(MultipartError::MissingDisposition);
    }
    let name = disposition
        .param("name")
        .ok_or(MultipartError::MissingName)?
        .to_string();
    let filename = disposition
        .param("filename*")
        .and_then(decode_ext_value)
        .or_else(|| disposition.param("filename").map(str::to_string));
    Ok(PartHead {
        name,
        filename,
        content_type,
    })
}

/// Decodes an RFC 8187 `ext-value` (`UTF-8''na%C3%AFve.wav`); `None` if malformed or not UTF-8.
fn decode_ext_value(value: &str) -> Option<String> {
    let mut pieces = value.splitn(3, '\'');
    let charset = pieces.next()?;
    let _language = pieces.next()?;
    let encoded = pieces.next()?;
    if !charset.eq_ignore_ascii_case("utf-8") {
        return None;
    }
    percent_decode_text(encoded).ok()
}

/// Skips transport padding and one line end (`\r\n` or `\n`) after a delimiter.
fn skip_padding_and_line_end(body: &[u8], mut pos: usize) -> Result<usize, MultipartError> {
    while matches!(body.get(pos), Some(b' ' | b'\t')) {
        pos += 1;
    }
    if body[pos..].starts_with(b"\r\n") {
        Ok(pos + 2)
    } else if body[pos..].starts_with(b"\n") {
        Ok(pos + 1)
    } else if pos >= body.len() {
        Err(MultipartError::Unterminated)
    } else {
        Err(MultipartError::MalformedBoundaryLine)
    }
}

/// Where a part's headers end and its data starts: after the first empty line. A part with
/// no headers at all starts directly with the empty line.
fn find_headers_end(body: &[u8], pos: usize) -> Option<(usize, usize)> {
    let rest = &body[pos..];
    if rest.starts_with(b"\r\n") {
        return Some((pos, pos + 2));
    }
    if rest.starts_with(b"\n") {
        return Some((pos, pos + 1));
    }
    let crlf = find(body, b"\r\n\r\n", pos).map(|at| (at, at + 4));
    let lf = find(body, b"\n\n", pos).map(|at| (at, at + 2));
    match (crlf, lf) {
        (Some(a), Some(b)) => Some(if a.0 <= b.0 { a } else { b }),
        (a, b) => a.or(b),
    }
}

/// A delimiter preceded by a bare `\n`, for clients that do not send `\r\n`; returns the
/// data end (before the `\n`) and the position after the delimiter.
fn find_lf_delimiter(body: &[u8], dash_boundary: &[u8], from: usize) -> Option<(usize, usize)> {
    let mut at = from;
    while let Some(found) = find_delimiter(body, dash_boundary, at) {
        if found > 0 && body[found - 1] == b'\n' {
            // A `\n` before `from` ended the part's headers: the data is empty.
            return Some(((found - 1).max(from), found + dash_boundary.len()));
        }
        at = found + 1;
    }
    None
}

/// The next `delimiter` at or after `from` that really ends a part: followed by `--`,
/// padding, a line end or the end of the body. Data that merely contains the boundary as a
/// prefix of something longer is not cut.
fn find_delimiter(body: &[u8], delimiter: &[u8], from: usize) -> Option<usize> {
    let mut at = from;
    while let Some(found) = find(body, delimiter, at) {
        match body.get(found + delimiter.len()) {
            None | Some(b'-' | b'\r' | b'\n' | b' ' | b'\t') => return Some(found),
            Some(_) => at = found + 1,
        }
    }
    None
}

/// The first index of `needle` in `haystack` at or after `from`.
fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    let first = *needle.first()?;
    let mut start = from;
    while start + needle.len() <= haystack.len() {
        let offset = haystack[start..=haystack.len() - needle.len()]
            .iter()
            .position(|&b| b == first)?;
        let at = start + offset;
        if &haystack[at..at + needle.len()] == needle {
            return Some(at);
        }
        start = at + 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A test part: name, file name, content type, data.
    type TestPart<'a> = (&'a str, Option<&'a str>, Option<&'a str>, &'a [u8]);

    fn form(boundary: &str, parts: &[TestPart<'_>]) -> Bytes {
        let mut out = Vec::new();
        for (name, filename, ct, data) in parts {
            out.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
            let mut cd = format!("Content-Disposition: form-data; name=\"{name}\"");
            if let Some(f) = filename {
                cd.push_str(&format!("; filename=\"{f}\""));
            }
            out.extend_from_slice(cd.as_bytes());
            out.extend_from_slice(b"\r\n");
            if let Some(ct) = ct {
                out.extend_from_slice(format!("Content-Type: {ct}\r\n").as_bytes());
            }
            out.extend_from_slice(b"\r\n");
            out.extend_from_slice(data);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
        Bytes::from(out)
    }

    #[test]
    fn an_empty_part_right_after_its_headers_is_empty_not_a_panic() {
        // The `\n` before the delimiter is the one that ends the headers (found by fuzzing).
        for body in [
            &b"--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n--XyZ\r\n\
               Content-Disposition: form-data; name=\"b\"\r\n\r\npop\r\n--XyZ--"[..],
            &b"--XyZ\nContent-Disposition: form-data; name=\"a\"\n\n--XyZ--"[..],
        ] {
            let parts = parse_multipart(&Bytes::copy_from_slice(body), "XyZ").unwrap();
            assert_eq!(parts[0].name, "a");
            assert!(parts[0].data.is_empty());
        }
    }

    #[test]
    fn boundary_plain_and_quoted() {
        assert_eq!(
            multipart_boundary("multipart/form-data; boundary=XyZ").unwrap(),
            "XyZ"
        );
        assert_eq!(
            multipart_boundary("multipart/form-data; charset=utf-8; BOUNDARY=\"a b:c\"").unwrap(),
            "a b:c"
        );
        assert_eq!(
            multipart_boundary("multipart/form-data"),
            Err(MultipartError::MissingBoundary)
        );
        assert_eq!(
            multipart_boundary("multipart/form-data; boundary=\"\""),
            Err(MultipartError::InvalidBoundary)
        );
        let long = "b".repeat(71);
        assert_eq!(
            multipart_boundary(&format!("multipart/form-data; boundary={long}")),
            Err(MultipartError::InvalidBoundary)
        );
    }

    #[test]
    fn text_and_binary_parts() {
        // Binary data containing CR, LF, NUL and a near-miss of the delimiter.
        let binary: Vec<u8> = b"RIFF\x00\x01\r\n--XyZ\r\x00\xff\xfe\r\n-"
            .iter()
            .copied()
            .chain((0..=255u8).cycle().take(3000))
            .collect();
        let body = form(
            "XyZb0undary",
            &[
                ("genre", None, None, b"pop"),
                ("file", Some("take.wav"), Some("audio/wav"), &binary),
            ],
        );
        let parts = parse_multipart(&body, "XyZb0undary").unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].name, "genre");
        assert_eq!(parts[0].text().unwrap(), "pop");
        assert_eq!(parts[0].filename, None);
        assert_eq!(parts[0].content_type, None);
        assert_eq!(parts[1].name, "file");
        assert_eq!(parts[1].filename.as_deref(), Some("take.wav"));
        assert_eq!(parts[1].media_type(), Some("audio/wav"));
        assert_eq!(parts[1].data.as_ref(), binary.as_slice());
    }

    #[test]
    fn quoted_boundary_with_space_round_trips() {
        let boundary = multipart_boundary("multipart/form-data; boundary=\"with space\"").unwrap();
        let body = form(&boundary, &[("a", None, None, b"1")]);
        let parts = parse_multipart(&body, &boundary).unwrap();
        assert_eq!(parts[0].data.as_ref(), b"1");
    }

    #[test]
    fn empty_part_and_empty_form() {
        let body = form("b", &[("empty", Some("e.wav"), None, b"")]);
        let parts = parse_multipart(&body, "b").unwrap();
        assert_eq!(parts.len(), 1);
        assert!(parts[0].data.is_empty());
        let parts = parse_multipart(&Bytes::from_static(b"--b--\r\n"), "b").unwrap();
        assert!(parts.is_empty());
    }

    #[test]
    fn preamble_epilogue_padding_and_bare_lf() {
        let body = Bytes::from_static(
            b"ignored preamble\r\n--b \t\r\nContent-Disposition: form-data; name=x\r\n\r\nv1\r\n--b\n\
              content-disposition: form-data; name=\"y\"\n\nv2\n--b--\r\nepilogue",
        );
        let parts = parse_multipart(&body, "b").unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(
            (parts[0].name.as_str(), parts[0].data.as_ref()),
            ("x", &b"v1"[..])
        );
        assert_eq!(
            (parts[1].name.as_str(), parts[1].data.as_ref()),
            ("y", &b"v2"[..])
        );
    }

    #[test]
    fn rfc5987_filename_wins() {
        let body = Bytes::from(
            "--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"naive.wav\"; \
             filename*=UTF-8''na%C3%AFve.wav\r\n\r\nx\r\n--b--"
                .to_string(),
        );
        let parts = parse_multipart(&body, "b").unwrap();
        assert_eq!(parts[0].filename.as_deref(), Some("naïve.wav"));
    }

    #[test]
    fn escaped_quotes_in_names() {
        let body = Bytes::from_static(
            b"--b\r\nContent-Disposition: form-data; name=\"a\\\"b\"; filename=\"x;y.wav\"\r\n\r\nx\r\n--b--",
        );
        let parts = parse_multipart(&body, "b").unwrap();
        assert_eq!(parts[0].name, "a\"b");
        assert_eq!(parts[0].filename.as_deref(), Some("x;y.wav"));
    }

    #[test]
    fn malformed_bodies_are_refused() {
        let cases: &[(&[u8], MultipartError)] = &[
            (b"no boundary here", MultipartError::MissingFirstBoundary),
            (
                b"--b\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\ncut short",
                MultipartError::Unterminated,
            ),
            (b"--bxyz\r\n\r\n", MultipartError::MalformedBoundaryLine),
            (
                b"--b\r\nContent-Type: text/plain\r\n\r\nx\r\n--b--",
                MultipartError::MissingDisposition,
            ),
            (
                b"--b\r\nContent-Disposition: attachment; name=a\r\n\r\nx\r\n--b--",
                MultipartError::MissingDisposition,
            ),
            (
                b"--b\r\nContent-Disposition: form-data\r\n\r\nx\r\n--b--",
                MultipartError::MissingName,
            ),
            (
                b"--b\r\nContent-Disposition form-data\r\n\r\nx\r\n--b--",
                MultipartError::MalformedHeaders,
            ),
            (
                b"--b\r\nContent-Disposition: form-data; name=a",
                MultipartError::MalformedHeaders,
            ),
            (b"--b", MultipartError::Unterminated),
        ];
        for (body, want) in cases {
            let got = parse_multipart(&Bytes::copy_from_slice(body), "b");
            assert_eq!(
                got.as_ref().err(),
                Some(want),
                "{:?}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn oversized_headers_are_refused() {
        let mut body = b"--b\r\nContent-Disposition: form-data; name=a\r\nX-Pad: ".to_vec();
        body.extend(std::iter::repeat_n(b'p', MAX_PART_HEADER_BYTES));
        body.extend_from_slice(b"\r\n\r\nx\r\n--b--");
        assert_eq!(
            parse_multipart(&Bytes::from(body), "b"),
            Err(MultipartError::MalformedHeaders)
        );
    }

    #[test]
    fn not_text_names_the_field() {
        let part = FormPart {
            name: "lyrics".into(),
            filename: None,
            content_type: None,
            data: Bytes::from_static(b"\xff\xfe"),
        };
        let error = ApiError::from(part.text().unwrap_err());
        assert_eq!(error.field(), Some("lyrics"));
    }

    #[test]
    fn boundary_prefix_inside_data_is_not_a_delimiter() {
        let body = Bytes::from_static(
            b"--b\r\nContent-Disposition: form-data; name=a\r\n\r\nx\r\n--bb\r\ny\r\n--b--",
        );
        let parts = parse_multipart(&body, "b").unwrap();
        assert_eq!(parts[0].data.as_ref(), b"x\r\n--bb\r\ny");
    }

    #[test]
    fn find_handles_edges() {
        assert_eq!(find(b"abcabc", b"cab", 0), Some(2));
        assert_eq!(find(b"abcabc", b"abc", 1), Some(3));
        assert_eq!(find(b"ab", b"abc", 0), None);
        assert_eq!(find(b"abc", b"", 0), None);
        assert_eq!(find(b"abc", b"c", 3), None);
    }
}
