//! What components take in, read one way everywhere: stored media named by URL, audio
//! decoded with one rule for length, the multipart form, and fresh seeds.

use crate::envelope::ApiError;
use crate::media::{get_media, validate_name};
use crate::request::{FormPart, multipart_boundary, parse_multipart};
use crate::request::{header_str, media_type};
use bytes::Bytes;
use http::HeaderMap;
use songforge_audio::resample::resample;
use songforge_audio::{Audio, DecodeError, decode};
use songforge_prosody::Dictionary;

/// The bytes of the stored file `url` names (`/media/<name>` or the bare name). A bad name
/// is 400, a missing file 404, a store failure 500; every error names `field`.
pub async fn load_stored(url: &str, field: &str) -> Result<Vec<u8>, ApiError> {
    let name = url.strip_prefix("/media/").unwrap_or(url);
    validate_name(name).map_err(|e| ApiError::from(e).with_field(field))?;
    match get_media(name).await {
        Ok(Some((_, bytes))) => Ok(bytes),
        Ok(None) => {
            Err(ApiError::not_found(format!("no stored media named `{name}`")).with_field(field))
        }
        Err(e) => Err(ApiError::from(e).with_field(field)),
    }
}

/// Decodes an upload or a stored file, refusing it past `max_s` seconds. The one rule for
/// every component: too long is 413 (the request is too big for this route), anything the
/// decoder cannot read is 422; both name `field`.
pub fn decode_audio(bytes: &[u8], max_s: f64, field: &str) -> Result<Audio, ApiError> {
    decode(bytes, Some(max_s)).map_err(|e| decode_error(e, field))
}

/// Decoded audio folded to mono and resampled to `rate`, as the models read it.
pub struct MonoAudio {
    /// Samples at `rate`.
    pub samples: Vec<f32>,
    /// Length of the original, seconds.
    pub seconds: f64,
}

/// [`decode_audio`], then mono at `rate`; a file with no samples is 422.
pub fn decode_mono(
    bytes: &[u8],
    max_s: f64,
    rate: u32,
    field: &str,
) -> Result<MonoAudio, ApiError> {
    let audio = decode_audio(bytes, max_s, field)?;
    let seconds = audio.duration_s();
    let mono = resample(audio.with_channels(1), rate)
        .map_err(|e| ApiError::unprocessable(e.to_string()).with_field(field))?;
    let samples = mono.channels.into_iter().next().unwrap_or_default();
    if samples.is_empty() {
        return Err(decode_error(DecodeError::NoSamples, field));
    }
    Ok(MonoAudio { samples, seconds })
}

fn decode_error(e: DecodeError, field: &str) -> ApiError {
    let api = match e {
        DecodeError::TooLong { .. } => ApiError::payload_too_large(e.to_string()),
        _ => ApiError::unprocessable(e.to_string()),
    };
    api.with_field(field)
}

/// Whether the body is `multipart/form-data`.
pub fn is_form(headers: &HeaderMap) -> bool {
    media_type(headers).as_deref() == Some("multipart/form-data")
}

/// The parts of a `multipart/form-data` body; errors are 400 and name the field they concern.
pub fn read_form(headers: &HeaderMap, body: &Bytes) -> Result<Vec<FormPart>, ApiError> {
    let content_type = header_str(headers, "content-type").unwrap_or_default();
    let boundary = multipart_boundary(content_type)?;
    Ok(parse_multipart(body, &boundary)?)
}

/// CMUdict where the manifest mounts it, or letter-to-sound rules alone when it is not
/// mounted, with the name of what was used; a mounted file that does not parse is 500.
pub fn pronunciation() -> Result<(Dictionary, &'static str), ApiError> {
    Dictionary::mounted().map_err(|e| ApiError::internal(format!("CMUdict: {e}")))
}

/// A fresh random seed, kept under 2^53 so JavaScript clients can send it back unchanged.
pub fn new_seed() -> Result<u64, ApiError> {
    getrandom::u64()
        .map(|s| s >> 11)
        .map_err(|e| ApiError::internal(format!("no random source for a seed: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::StatusCode;

    fn wav(seconds: f64) -> Vec<u8> {
        let rate = 8_000u32;
        let n = (seconds * f64::from(rate)) as usize;
        let audio = Audio {
            sample_rate: rate,
            channels: vec![vec![0.1; n], vec![-0.1; n]],
        };
        songforge_audio::encode_wav(&audio, songforge_audio::SampleFormat::Int16).unwrap()
    }

    #[test]
    fn too_long_is_413_and_unreadable_is_422_naming_the_field() {
        let e = decode_audio(&wav(3.0), 2.0, "audio_file").unwrap_err();
        assert_eq!(e.status(), StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(e.field(), Some("audio_file"));
        let e = decode_audio(b"not audio at all", 2.0, "tracks[0].url").unwrap_err();
        assert_eq!(e.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(e.field(), Some("tracks[0].url"));
    }

    #[test]
    fn mono_is_folded_and_resampled() {
        let m = decode_mono(&wav(1.0), 2.0, 16_000, "audio").unwrap();
        assert!((m.seconds - 1.0).abs() < 1e-6);
        assert!(
            (m.samples.len() as i64 - 16_000).abs() <= 2,
            "{}",
            m.samples.len()
        );
        assert!(
            m.samples[8_000].abs() < 1e-3,
            "the channels cancel when folded"
        );
    }

    #[test]
    fn seeds_fit_javascript_numbers() {
        assert!(new_seed().unwrap() < 1 << 53);
    }
}
