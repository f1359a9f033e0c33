//! Files from Hugging Face over HTTP, resumable: a download keeps `<file>.part`, and the next
//! attempt asks for the rest with `Range: bytes=N-`.

use super::Job;
use crate::catalog::FileEntry;
use crate::digest::{FileDigest, HashingWriter, digest_file};
use crate::fetch_error::FetchError;
use crate::staging::{accept_part, part_path};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Read, Write};
use std::path::Path;
use std::time::Duration;
use ureq::Agent;
use ureq::config::RedirectAuthHeaders;

/// Fetches `job.todo` from the model's Hugging Face source.
pub(crate) fn fetch(job: &Job<'_>) -> Result<Vec<(String, FileDigest)>, FetchError> {
    let hf = job
        .entry
        .sources
        .hf
        .as_ref()
        .expect("the caller picked a source the model has");
    let agent: Agent = Agent::config_builder()
        .http_status_as_error(false)
        .timeout_connect(Some(Duration::from_secs(30)))
        .timeout_recv_response(Some(Duration::from_secs(60)))
        // Per read, not per body: big files take as long as they take, a stalled one does not.
        .timeout_per_read(Some(Duration::from_secs(60)))
        // Hugging Face redirects within its host for renamed repos; the token may follow those.
        .redirect_auth_headers(RedirectAuthHeaders::SameHost)
        .build()
        .into();
    let endpoint = job.options.hf_endpoint.trim_end_matches('/');
    let mut done = Vec::new();
    for file in &job.todo {
        let at = hf.locate(&file.path);
        let url = format!("{endpoint}/{}/resolve/{}/{}", at.repo, at.revision, at.path);
        let part = part_path(&job.staging, file);
        let digest = download(&agent, &url, &part, file, job)?;
        accept_part(&job.staging, file, &digest, &url)?;
        done.push((file.path.clone(), digest));
    }
    Ok(done)
}

/// Downloads `url` into `part`, continuing what is there, and returns the digest of the whole
/// file. Leaves `part` in place when the connection breaks.
fn download(
    agent: &Agent,
    url: &str,
    part: &Path,
    file: &FileEntry,
    job: &Job<'_>,
) -> Result<FileDigest, FetchError> {
    let mut have = std::fs::metadata(part).map_or(0, |m| m.len());
    if file.size.is_some_and(|size| have > size) {
        std::fs::remove_file(part).map_err(FetchError::io(part))?;
        have = 0;
    }
    if have > 0 && file.size == Some(have) {
        // Complete already; an earlier attempt stopped between download and check.
        return digest_file(part).map_err(FetchError::io(part));
    }
    let mut request = agent.get(url);
    if have > 0 {
        request = request.header("Range", format!("bytes={have}-"));
    }
    if let Some(token) = &job.options.hf_token {
        request = request.header("Authorization", format!("Bearer {token}"));
    }
    let response = request.call().map_err(|e| FetchError::Http {
        url: url.into(),
        problem: e.to_string(),
    })?;
    let status = response.status().as_u16();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let content_range = header("content-range");
    let content_length = header("content-length").and_then(|v| v.parse::<u64>().ok());
    let append = match status {
        206 if have > 0 => {
            let start = content_range.as_deref().and_then(range_start);
            if start != Some(have) {
                return Err(FetchError::Http {
                    url: url.into(),
                    problem: format!(
                        "asked for bytes {have}- and got Content-Range {:?}",
                        content_range.as_deref().unwrap_or("")
                    ),
                });
            }
            true
        }
        // The server ignored the range: start again.
        200 => false,
        416 if have > 0 => {
            // Nothing after `have`: the part may already be the whole file.
            let total = content_range.as_deref().and_then(range_total);
            if total == Some(have) {
                return digest_file(part).map_err(FetchError::io(part));
            }
            std::fs::remove_file(part).map_err(FetchError::io(part))?;
            return Err(FetchError::Http {
                url: url.into(),
                problem: format!(
                    "server refused bytes={have}- (Content-Range {:?}); dropped the partial \
                     file, pull again",
                    content_range.as_deref().unwrap_or("")
                ),
            });
        }
        _ => {
            return Err(FetchError::Status {
                url: url.into(),
                status,
            });
        }
    };
    let start = if append { have } else { 0 };
    let total = content_length.map(|n| start + n).or(file.size);

    let out = OpenOptions::new()
        .create(true)
        .write(true)
        .append(append)
        .truncate(!append)
        .open(part)
        .map_err(FetchError::io(part))?;
    let mut w = HashingWriter::new(BufWriter::with_capacity(1 << 20, out));
    if append {
        w.absorb(File::open(part).map_err(FetchError::io(part))?)
            .map_err(FetchError::io(part))?;
    }
    let bar = progress_bar(job, &file.path, total, start);
    let mut body = response.into_body().into_reader();
    let mut buf = vec![0u8; 256 * 1024];
    let outcome = loop {
        let n = match body.read(&mut buf) {
            Ok(0) => break Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => break Err(e.to_string()),
        };
        w.write_all(&buf[..n]).map_err(FetchError::io(part))?;
        bar.inc(n as u64);
        if let Some(size) = file.size
            && w.size() > size
        {
            drop(w);
            let _ = std::fs::remove_file(part);
            bar.finish_and_clear();
            return Err(FetchError::Oversize {
                file: file.path.clone(),
                origin: url.into(),
                expected_size: size,
            });
        }
    };
    bar.finish_and_clear();
    // Whatever arrived stays on disk, whole, for the next attempt to continue from.
    w.flush().map_err(FetchError::io(part))?;
    let (out, digest) = w.finish();
    out.get_ref().sync_all().map_err(FetchError::io(part))?;
    let short = total.is_some_and(|t| digest.size < t);
    match outcome {
        Err(problem) => Err(FetchError::Interrupted {
            url: url.into(),
            part: part.to_path_buf(),
            have: digest.size,
            problem,
        }),
        Ok(()) if short => Err(FetchError::Interrupted {
            url: url.into(),
            part: part.to_path_buf(),
            have: digest.size,
            problem: format!("the body ended before byte {}", total.unwrap_or(0)),
        }),
        Ok(()) => Ok(digest),
    }
}

fn progress_bar(job: &Job<'_>, name: &str, total: Option<u64>, start: u64) -> ProgressBar {
    if !job.options.progress {
        return ProgressBar::hidden();
    }
    let bar = match total {
        Some(total) => ProgressBar::new(total),
        None => ProgressBar::new_spinner(),
    };
    bar.set_draw_target(ProgressDrawTarget::stderr());
    let template = "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}";
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(format!("{}/{name}", job.entry.id));
    bar.set_position(start);
    bar
}

/// `N` from `bytes N-M/T`.
fn range_start(content_range: &str) -> Option<u64> {
    let spec = content_range.trim().strip_prefix("bytes ")?;
    spec.split('-').next()?.trim().parse().ok()
}

/// `T` from `bytes N-M/T` or `bytes */T`.
fn range_total(content_range: &str) -> Option<u64> {
    content_range.rsplit('/').next()?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_range_parts() {
        assert_eq!(range_start("bytes 100-199/200"), Some(100));
        assert_eq!(range_total("bytes 100-199/200"), Some(200));
        assert_eq!(range_total("bytes */200"), Some(200));
        assert_eq!(range_start("bytes */200"), None);
        assert_eq!(range_total("bytes 0-1/*"), None);
    }
}
