//! Decoding any supported file into [`Audio`]: WAV through hound (8/16/24/32-bit integer and
//! 32-bit float, any channel count), everything else (FLAC, MP3, OGG/Vorbis, M4A/AAC, and WAV
//! variants hound does not read) through symphonia.

use crate::Audio;
use std::io::Cursor;
use symphonia::core::codecs::audio::AudioDecoderOptions;
use symphonia::core::errors::Error as SymphoniaError;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{FormatOptions, TrackType};
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;

/// Why bytes could not be decoded; the message is meant for the API caller.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// No bytes.
    #[error("the audio is empty")]
    Empty,
    /// The container or codec is not one we read.
    #[error("unsupported or unrecognised audio format: {0}")]
    Unsupported(String),
    /// The file is damaged or truncated.
    #[error("the audio could not be decoded: {0}")]
    Corrupt(String),
    /// Decoded fine but holds no samples.
    #[error("the audio contains no samples")]
    NoSamples,
    /// Longer than the caller allows.
    #[error("the audio is {seconds:.1} s long; the limit is {limit:.0} s")]
    TooLong {
        /// Actual duration.
        seconds: f64,
        /// The limit.
        limit: f64,
    },
}

/// Decodes a whole file. `max_seconds` stops early (with [`DecodeError::TooLong`]) instead of
/// decoding an hour of audio only to refuse it.
pub fn decode(bytes: &[u8], max_seconds: Option<f64>) -> Result<Audio, DecodeError> {
    if bytes.is_empty() {
        return Err(DecodeError::Empty);
    }
    let audio = if bytes.starts_with(b"RIFF") && bytes.get(8..12) == Some(b"WAVE") {
        if let Some(audio) = decode_plain_pcm(bytes, max_seconds)? {
            audio
        } else {
            match decode_wav(bytes, max_seconds) {
                Ok(a) => a,
                // hound reads PCM and float; other WAV codecs (ADPCM, A-law…) go to symphonia.
                Err(DecodeError::Unsupported(_)) => decode_any(bytes, max_seconds)?,
                Err(e) => return Err(e),
            }
        }
    } else {
        decode_any(bytes, max_seconds)?
    };
    if audio.frames() == 0 {
        return Err(DecodeError::NoSamples);
    }
    // A float file can hold NaN or infinity; passed on, one such sample turns a whole mix or
    // a transcription's features into NaN.
    if audio.channels.iter().flatten().any(|s| !s.is_finite()) {
        return Err(DecodeError::Corrupt(
            "it holds samples that are not numbers (NaN or infinite)".into(),
        ));
    }
    Ok(audio)
}

fn check_length(frames: usize, rate: u32, max_seconds: Option<f64>) -> Result<(), DecodeError> {
    if let Some(limit) = max_seconds {
        let seconds = frames as f64 / f64::from(rate.max(1));
        if seconds > limit {
            return Err(DecodeError::TooLong { seconds, limit });
        }
    }
    Ok(())
}

/// Fast path for the common WAV layouts (16/24/32-bit PCM, 32-bit float, plain or
/// extensible): reads the `data` chunk in bulk instead of sample by sample, about twenty times
/// faster than the generic reader. `None` hands anything else to hound.
fn decode_plain_pcm(bytes: &[u8], max_seconds: Option<f64>) -> Result<Option<Audio>, DecodeError> {
    let mut pos = 12;
    let mut fmt: Option<(u16, usize, u32, u16)> = None;
    while pos + 8 <= bytes.len() {
        let id = &bytes[pos..pos + 4];
        let size = u32::from_le_bytes([
            bytes[pos + 4],
            bytes[pos + 5],
            bytes[pos + 6],
            bytes[pos + 7],
        ]) as usize;
        let body = pos + 8;
        if id == b"fmt " {
            let Some(f) = bytes.get(body..body + size.min(40)) else {
                return Ok(None);
            };
            if f.len() < 16 {
                return Ok(None);
            }
            let mut tag = u16::from_le_bytes([f[0], f[1]]);
            if tag == 0xFFFE && f.len() >= 26 {
                tag = u16::from_le_bytes([f[24], f[25]]); // sub-format GUID's first two bytes
            }
            let channels = usize::from(u16::from_le_bytes([f[2], f[3]]));
            let rate = u32::from_le_bytes([f[4], f[5], f[6], f[7]]);
            let bits = u16::from_le_bytes([f[14], f[15]]);
            fmt = Some((tag, channels, rate, bits));
        } else if id == b"data" {
            let Some((tag, channels, rate, bits)) = fmt else {
                return Ok(None);
            };
            let width = match (tag, bits) {
                (1, 16) => 2,
                (1, 24) => 3,
                (1, 32) | (3, 32) => 4,
                _ => return Ok(None),
            };
            if channels == 0 || rate == 0 {
                return Err(DecodeError::Corrupt(
                    "WAV header has no channels or no sample rate".into(),
                ));
            }
            // Recorders that crash leave the size unset or too large: keep what is there.
            let end = body.saturating_add(size).min(bytes.len());
            let data = &bytes[body.min(end)..end];
            let frames = data.len() / (width * channels);
            check_length(frames, rate, max_seconds)?;
            let planar = match (tag, width) {
                (1, 2) => deinterleave::<2>(data, channels, |s| {
                    f32::from(i16::from_le_bytes(s)) / 32768.0
                }),
                (1, 3) => deinterleave::<3>(data, channels, |s| {
                    (i32::from_le_bytes([0, s[0], s[1], s[2]]) >> 8) as f32 / 8_388_608.0
                }),
                (1, _) => deinterleave::<4>(data, channels, |s| {
                    i32::from_le_bytes(s) as f32 / 2_147_483_648.0
                }),
                _ => deinterleave::<4>(data, channels, f32::from_le_bytes),
            };
            return Ok(Some(Audio {
                sample_rate: rate,
                channels: planar,
            }));
        }
        pos = body.saturating_add(size + (size & 1));
    }
    Ok(None)
}

/// Splits interleaved `W`-byte samples into one `Vec` per channel. One pass per channel with
/// the conversion known at compile time, so each pass is a tight loop the compiler unrolls
/// (a per-sample `match` on the format and a `push` per sample made decoding ~5× slower).
fn deinterleave<const W: usize>(
    data: &[u8],
    channels: usize,
    convert: impl Fn([u8; W]) -> f32,
) -> Vec<Vec<f32>> {
    let stride = W * channels;
    (0..channels)
        .map(|c| {
            data.chunks_exact(stride)
                .map(|frame| {
                    let mut sample = [0u8; W];
                    sample.copy_from_slice(&frame[c * W..c * W + W]);
                    convert(sample)
                })
                .collect()
        })
        .collect()
}

fn decode_wav(bytes: &[u8], max_seconds: Option<f64>) -> Result<Audio, DecodeError> {
    let reader = hound::WavReader::new(Cursor::new(bytes)).map_err(|e| match e {
        hound::Error::Unsupported => DecodeError::Unsupported("this WAV encoding".into()),
        other => DecodeError::Corrupt(format!("WAV: {other}")),
    })?;
    let spec = reader.spec();
    let channels = usize::from(spec.channels);
    if channels == 0 || spec.sample_rate == 0 {
        return Err(DecodeError::Corrupt(
            "WAV header has no channels or no sample rate".into(),
        ));
    }
    check_length(reader.duration() as usize, spec.sample_rate, max_seconds)?;
    // The header's length is a claim: reserve no more than the bytes can hold.
    let sample_bytes = usize::from(spec.bits_per_sample.div_ceil(8).max(1));
    let frames = (reader.duration() as usize).min(bytes.len() / (channels * sample_bytes));
    let mut planar = vec![Vec::with_capacity(frames); channels];
    let mut push = |i: usize, v: f32| planar[i % channels].push(v);
    match spec.sample_format {
        hound::SampleFormat::Float => {
            for (i, s) in reader.into_samples::<f32>().enumerate() {
                match s {
                    Ok(s) => push(i, s),
                    Err(e) if truncated(&e) => break,
                    Err(e) => return Err(DecodeError::Corrupt(format!("WAV: {e}"))),
                }
            }
        }
        hound::SampleFormat::Int => {
            if !(8..=32).contains(&spec.bits_per_sample) {
                return Err(DecodeError::Unsupported(format!(
                    "{}-bit integer WAV",
                    spec.bits_per_sample
                )));
            }
            let scale = 1.0 / (1u64 << (spec.bits_per_sample - 1)) as f32;
            for (i, s) in reader.into_samples::<i32>().enumerate() {
                match s {
                    Ok(s) => push(i, s as f32 * scale),
                    Err(e) if truncated(&e) => break,
                    Err(e) => return Err(DecodeError::Corrupt(format!("WAV: {e}"))),
                }
            }
        }
    }
    // A truncated file can leave the last frame partial; keep channels equal.
    let frames = planar.iter().map(Vec::len).min().unwrap_or(0);
    planar.iter_mut().for_each(|c| c.truncate(frames));
    Ok(Audio {
        sample_rate: spec.sample_rate,
        channels: planar,
    })
}

/// A file cut short (a partial upload, a recorder that crashed): keep what arrived, as
/// players do.
fn truncated(e: &hound::Error) -> bool {
    match e {
        hound::Error::IoError(io) => {
            io.kind() == std::io::ErrorKind::UnexpectedEof
                || io.to_string().contains("enough bytes")
        }
        _ => false,
    }
}

fn decode_any(bytes: &[u8], max_seconds: Option<f64>) -> Result<Audio, DecodeError> {
    let source = MediaSourceStream::new(Box::new(Cursor::new(bytes.to_vec())), Default::default());
    // Encoder delay and padding (LAME/iTunes tags) are trimmed by symphonia's decoders, so an
    // MP3 or AAC file lines up with its source sample for sample, as FFmpeg decodes it.
    let mut format = symphonia::default::get_probe()
        .probe(
            &Hint::new(),
            source,
            FormatOptions::default(),
            MetadataOptions::default(),
        )
        .map_err(|e| DecodeError::Unsupported(e.to_string()))?;
    let (track_id, params) = format
        .default_track(TrackType::Audio)
        .and_then(|t| Some((t.id, t.codec_params.as_ref()?.audio()?)))
        .ok_or_else(|| DecodeError::Unsupported("no audio track".into()))?;
    let mut rate = params.sample_rate.unwrap_or(0);
    let mut decoder = symphonia::default::get_codecs()
        .make_audio_decoder(params, &AudioDecoderOptions::default())
        .map_err(|e| DecodeError::Unsupported(e.to_string()))?;
    let mut planar: Vec<Vec<f32>> = Vec::new();
    let mut packet_planes: Vec<Vec<f32>> = Vec::new();
    loop {
        let packet = match format.next_packet() {
            Ok(Some(p)) => p,
            Ok(None) => break,
            Err(SymphoniaError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                break;
            }
            Err(SymphoniaError::ResetRequired) => break,
            Err(e) => return Err(DecodeError::Corrupt(e.to_string())),
        };
        if packet.track_id != track_id {
            continue;
        }
        let decoded = match decoder.decode(&packet) {
            Ok(d) => d,
            // A damaged packet in a lossy stream: skip it, as players do.
            Err(SymphoniaError::DecodeError(_)) => continue,
            Err(e) => return Err(DecodeError::Corrupt(e.to_string())),
        };
        rate = decoded.spec().rate();
        let channels = decoded.spec().channels().count();
        if planar.is_empty() {
            planar = vec![Vec::new(); channels];
        }
        if channels != planar.len() {
            return Err(DecodeError::Corrupt(
                "the channel count changes mid-stream".into(),
            ));
        }
        decoded.copy_to_vecs_planar(&mut packet_planes);
        for (all, new) in planar.iter_mut().zip(&packet_planes) {
            all.extend_from_slice(new);
        }
        check_length(planar[0].len(), rate, max_seconds)?;
    }
    if planar.is_empty() || rate == 0 {
        return Err(DecodeError::NoSamples);
    }
    Ok(Audio {
        sample_rate: rate,
        channels: planar,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encode::{SampleFormat, encode_flac, encode_wav};

    fn tone(rate: u32, channels: usize, seconds: f32) -> Audio {
        let frames = (rate as f32 * seconds) as usize;
        let ch: Vec<f32> = (0..frames)
            .map(|i| 0.5 * (i as f32 * 440.0 * std::f32::consts::TAU / rate as f32).sin())
            .collect();
        Audio {
            sample_rate: rate,
            channels: vec![ch; channels],
        }
    }

    #[test]
    fn a_flac_tag_longer_than_the_file_is_an_error_not_an_allocation() {
        let a = tone(8000, 1, 0.1);
        let plain = encode_flac(&a, 16).unwrap();
        // A VORBIS_COMMENT block after STREAMINFO whose comment claims 4 GiB - 1 bytes.
        let mut comment = Vec::new();
        comment.extend_from_slice(&0u32.to_le_bytes()); // vendor string length
        comment.extend_from_slice(&1u32.to_le_bytes()); // one comment
        comment.extend_from_slice(&u32::MAX.to_le_bytes()); // of this length
        let info_end = 4 + 4 + 34;
        let mut tagged = plain[..info_end].to_vec();
        tagged[4] &= 0x7f; // STREAMINFO is no longer last
        tagged.extend_from_slice(&[0x84, 0, 0, comment.len() as u8]);
        tagged.extend_from_slice(&comment);
        tagged.extend_from_slice(&plain[info_end..]);
        // symphonia 0.5 reserved the 4 GiB before reading (found by fuzzing); 0.6 checks the
        // length against what is left first.
        assert!(decode(&tagged, None).is_err());
        assert_eq!(decode(&plain, None).unwrap().frames(), a.frames());
    }

    #[test]
    fn float_samples_that_are_not_numbers_are_refused() {
        for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
            let mut a = tone(8000, 1, 0.1);
            a.channels[0][17] = bad;
            let bytes = encode_wav(&a, SampleFormat::Float32).unwrap();
            let err = decode(&bytes, None).unwrap_err();
            assert!(matches!(err, DecodeError::Corrupt(_)), "{bad}: {err}");
            assert!(err.to_string().contains("not numbers"), "{err}");
        }
        // Loud but finite float samples are fine.
        let mut a = tone(8000, 1, 0.1);
        a.channels[0][17] = 4.0;
        let bytes = encode_wav(&a, SampleFormat::Float32).unwrap();
        assert_eq!(decode(&bytes, None).unwrap().channels[0][17], 4.0);
    }

    #[test]
    fn wav_round_trips_at_every_depth() {
        let a = tone(22050, 2, 0.2);
        for (fmt, tol) in [
            (SampleFormat::Int16, 1e-4),
            (SampleFormat::Int24, 1e-6),
            (SampleFormat::Float32, 0.0),
        ] {
            let bytes = encode_wav(&a, fmt).unwrap();
            let b = decode(&bytes, None).unwrap();
            assert_eq!(b.sample_rate, 22050);
            assert_eq!(b.channel_count(), 2);
            assert_eq!(b.frames(), a.frames());
            let err = a.channels[0]
                .iter()
                .zip(&b.channels[0])
                .fold(0.0f32, |m, (x, y)| m.max((x - y).abs()));
            assert!(err <= tol, "{fmt:?}: error {err}");
        }
    }

    #[test]
    fn flac_decodes_through_symphonia() {
        let a = tone(44100, 1, 0.3);
        let bytes = encode_flac(&a, 16).unwrap();
        assert!(bytes.starts_with(b"fLaC"));
        let b = decode(&bytes, None).unwrap();
        assert_eq!(
            (b.sample_rate, b.channel_count(), b.frames()),
            (44100, 1, a.frames())
        );
        let err = a.channels[0]
            .iter()
            .zip(&b.channels[0])
            .fold(0.0f32, |m, (x, y)| m.max((x - y).abs()));
        assert!(err < 1e-4, "error {err}");
    }

    #[test]
    fn garbage_and_limits_are_reported() {
        assert!(matches!(decode(b"", None), Err(DecodeError::Empty)));
        assert!(matches!(
            decode(b"definitely not audio, just text", None),
            Err(DecodeError::Unsupported(_))
        ));
        let bytes = encode_wav(&tone(8000, 1, 2.0), SampleFormat::Int16).unwrap();
        assert!(matches!(
            decode(&bytes, Some(1.0)),
            Err(DecodeError::TooLong { .. })
        ));
        let cut = decode(&bytes[..bytes.len() / 2], None);
        assert!(cut.is_ok(), "a truncated WAV still decodes: {cut:?}");
    }
}
