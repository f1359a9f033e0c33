//! Encoding [`Audio`] to WAV (hound) or FLAC (flacenc), in memory, whole or not at all.

use crate::Audio;

/// Output sample format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SampleFormat {
    /// 16-bit integer, TPDF-dithered.
    Int16,
    /// 24-bit integer.
    Int24,
    /// 32-bit IEEE float (WAV only).
    Float32,
}

impl SampleFormat {
    /// Parses the API's `bit_depth` value: `16`, `24` or `32f`/`32`.
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "16" => Some(Self::Int16),
            "24" => Some(Self::Int24),
            "32f" | "32" | "float" => Some(Self::Float32),
            _ => None,
        }
    }

    /// The API's name for it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Int16 => "16",
            Self::Int24 => "24",
            Self::Float32 => "32f",
        }
    }
}

/// Why encoding failed.
#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    /// The audio has no channels or no rate.
    #[error("cannot encode audio with {channels} channels at {rate} Hz")]
    Shape {
        /// Channel count.
        channels: usize,
        /// Sample rate.
        rate: u32,
    },
    /// The format cannot hold this audio (e.g. float FLAC).
    #[error("{0}")]
    Unsupported(String),
    /// The encoder failed.
    #[error("encoding failed: {0}")]
    Encoder(String),
}

fn check(audio: &Audio) -> Result<(), EncodeError> {
    if audio.channels.is_empty() || audio.channels.len() > 8 || audio.sample_rate == 0 {
        return Err(EncodeError::Shape {
            channels: audio.channels.len(),
            rate: audio.sample_rate,
        });
    }
    Ok(())
}

/// Triangular (TPDF) dither of ±1 LSB for interleaved sample `n`: the difference of two
/// 16-bit uniform values from a hash of the sample's index. Deterministic, and with no state
/// carried from sample to sample, so the quantising loops run in parallel lanes (a serial
/// generator held 16-bit encoding to one sample per dependency chain).
#[inline(always)]
fn tpdf(n: u32) -> f32 {
    let mut h = n.wrapping_add(0x9E37_79B9).wrapping_mul(0x85EB_CA6B);
    h ^= h >> 13;
    h = h.wrapping_mul(0xC2B2_AE35);
    h ^= h >> 16;
    ((h >> 16) as f32 - (h & 0xFFFF) as f32) * (1.0 / 65535.0)
}

/// Converts to integers of `bits`, dithering 16-bit output, clipping at full scale.
fn quantise(audio: &Audio, bits: u32) -> Vec<i32> {
    let max = ((1i64 << (bits - 1)) - 1) as f32;
    let min = -((1i64 << (bits - 1)) as f32);
    let frames = audio.frames();
    let mut out = Vec::with_capacity(frames * audio.channels.len());
    for i in 0..frames {
        for ch in &audio.channels {
            let mut v = ch[i] * max;
            if bits <= 16 {
                v += tpdf(out.len() as u32);
            }
            out.push(v.round_ties_even().clamp(min, max) as i32);
        }
    }
    out
}

/// Encodes a RIFF/WAVE file (PCM 16/24-bit or IEEE float 32-bit; WAVE_FORMAT_EXTENSIBLE
/// above two channels, as the format requires). Written in bulk: the sample loop is the only
/// per-sample work.
pub fn encode_wav(audio: &Audio, format: SampleFormat) -> Result<Vec<u8>, EncodeError> {
    check(audio)?;
    let channels = audio.channels.len();
    let (bits, tag): (u16, u16) = match format {
        SampleFormat::Int16 => (16, 1),
        SampleFormat::Int24 => (24, 1),
        SampleFormat::Float32 => (32, 3),
    };
    let width = usize::from(bits / 8);
    let data_len = audio.frames() * channels * width;
    let data_len32 = u32::try_from(data_len)
        .ok()
        .filter(|n| *n <= u32::MAX - 80)
        .ok_or_else(|| {
            EncodeError::Unsupported("the audio is over 4 GiB, too long for WAV".into())
        })?;
    let extensible = channels > 2;
    let fmt_len: u32 = if extensible { 40 } else { 16 };
    let mut out = Vec::with_capacity(data_len + 80);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(4 + 8 + fmt_len + 8 + data_len32).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&fmt_len.to_le_bytes());
    out.extend_from_slice(&(if extensible { 0xFFFEu16 } else { tag }).to_le_bytes());
    out.extend_from_slice(&(channels as u16).to_le_bytes());
    out.extend_from_slice(&audio.sample_rate.to_le_bytes());
    out.extend_from_slice(&(audio.sample_rate * (channels * width) as u32).to_le_bytes());
    out.extend_from_slice(&((channels * width) as u16).to_le_bytes());
    out.extend_from_slice(&bits.to_le_bytes());
    if extensible {
        out.extend_from_slice(&22u16.to_le_bytes());
        out.extend_from_slice(&bits.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes()); // channel mask: unspecified
        out.extend_from_slice(&tag.to_le_bytes());
        out.extend_from_slice(&[
            0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71,
        ]);
    }
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data_len32.to_le_bytes());
    match format {
        SampleFormat::Float32 => {
            for i in 0..audio.frames() {
                for ch in &audio.channels {
                    out.extend_from_slice(&ch[i].to_le_bytes());
                }
            }
        }
        SampleFormat::Int16 => {
            // The common case: written in place into the sized buffer. Rounds with the
            // 1.5 × 2²³ trick: adding it leaves the nearest integer in the low mantissa bits,
            // so quantising is add, clamp and a bit cast, with no branchy float-to-int
            // conversion or `round()` library call per sample (x86-64 and wasm alike).
            let header = out.len();
            out.resize(header + data_len, 0);
            let quantise = |x: f32, n: usize| {
                let v = (x * 32767.0 + tpdf(n as u32)).clamp(-32768.0, 32767.0);
                ((v + 12_582_912.0).to_bits() as u16).to_le_bytes()
            };
            if let [left, right] = audio.channels.as_slice() {
                for (i, ((frame, &l), &r)) in out[header..]
                    .chunks_exact_mut(4)
                    .zip(left)
                    .zip(right)
                    .enumerate()
                {
                    let [l0, l1] = quantise(l, 2 * i);
                    let [r0, r1] = quantise(r, 2 * i + 1);
                    frame.copy_from_slice(&[l0, l1, r0, r1]);
                }
            } else {
                let channels = audio.channels.as_slice();
                for (i, frame) in out[header..]
                    .chunks_exact_mut(2 * channels.len())
                    .enumerate()
                {
                    for (c, (ch, bytes)) in
                        channels.iter().zip(frame.chunks_exact_mut(2)).enumerate()
                    {
                        bytes.copy_from_slice(&quantise(ch[i], i * channels.len() + c));
                    }
                }
            }
        }
        SampleFormat::Int24 => {
            for s in quantise(audio, 24) {
                out.extend_from_slice(&s.to_le_bytes()[..3]);
            }
        }
    }
    Ok(out)
}

/// Encodes a FLAC file at 16 or 24 bits.
pub fn encode_flac(audio: &Audio, bits: u32) -> Result<Vec<u8>, EncodeError> {
    check(audio)?;
    if bits != 16 && bits != 24 {
        return Err(EncodeError::Unsupported(format!(
            "FLAC holds 16- or 24-bit integers, not {bits}-bit"
        )));
    }
    let samples = quantise(audio, bits);
    use flacenc::error::Verify;
    let config = flacenc::config::Encoder::default()
        .into_verified()
        .map_err(|(_, e)| EncodeError::Encoder(format!("{e:?}")))?;
    let source = flacenc::source::MemSource::from_samples(
        &samples,
        audio.channels.len(),
        bits as usize,
        audio.sample_rate as usize,
    );
    let stream = flacenc::encode_with_fixed_block_size(&config, source, config.block_size)
        .map_err(|e| EncodeError::Encoder(format!("{e:?}")))?;
    let mut sink = flacenc::bitsink::ByteSink::new();
    use flacenc::component::BitRepr;
    stream
        .write(&mut sink)
        .map_err(|e| EncodeError::Encoder(format!("{e:?}")))?;
    let mut bytes = sink.into_inner();
    // STREAMINFO's minimum block size must exclude the last (short) block; flacenc counts it,
    // which makes decoders such as symphonia treat the stream as variable-block-size and fail
    // to find its frames. Bytes 8..10 (min) take the value of 10..12 (max).
    if bytes.len() > 12 && bytes.starts_with(b"fLaC") {
        let (min, max) = (8, 10);
        bytes.copy_within(max..max + 2, min);
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wav_files_are_read_by_hound_too() {
        // Our writer must produce files any WAV reader accepts; hound is the strict one.
        for (fmt, channels) in [
            (SampleFormat::Int16, 1),
            (SampleFormat::Int24, 2),
            (SampleFormat::Float32, 6),
        ] {
            let a = Audio {
                sample_rate: 32000,
                channels: vec![vec![0.25, -0.5, 0.125]; channels],
            };
            let bytes = encode_wav(&a, fmt).unwrap();
            let r = hound::WavReader::new(std::io::Cursor::new(bytes)).unwrap();
            assert_eq!(r.spec().channels as usize, channels, "{fmt:?}");
            assert_eq!(r.spec().sample_rate, 32000);
            assert_eq!(r.duration(), 3);
        }
    }
}
