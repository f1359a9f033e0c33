//! Band-limited sample-rate conversion (rubato's FFT resampler), trimmed so the output lines up
//! with the input sample for sample.

use crate::Audio;
use rubato::{FftFixedIn, Resampler};

/// Why resampling failed.
#[derive(Debug, thiserror::Error)]
#[error("cannot resample from {from} Hz to {to} Hz: {message}")]
pub struct ResampleError {
    from: u32,
    to: u32,
    message: String,
}

/// Converts `audio` to `rate` Hz. Equal rates return the input unchanged.
pub fn resample(audio: Audio, rate: u32) -> Result<Audio, ResampleError> {
    if audio.sample_rate == rate || audio.frames() == 0 {
        return Ok(Audio {
            sample_rate: rate,
            ..audio
        });
    }
    let err = |message: String| ResampleError {
        from: audio.sample_rate,
        to: rate,
        message,
    };
    let channels = audio.channel_count();
    let mut resampler =
        FftFixedIn::<f32>::new(audio.sample_rate as usize, rate as usize, 1024, 2, channels)
            .map_err(|e| err(e.to_string()))?;
    let frames = audio.frames();
    let expected =
        (frames as u64 * u64::from(rate)).div_ceil(u64::from(audio.sample_rate)) as usize;
    let delay = resampler.output_delay();
    let mut out: Vec<Vec<f32>> = vec![Vec::with_capacity(expected + delay + 2048); channels];
    let mut pos = 0;
    while pos < frames {
        let need = resampler.input_frames_next();
        let chunk: Vec<&[f32]> = audio
            .channels
            .iter()
            .map(|c| &c[pos..(pos + need).min(frames)])
            .collect();
        let produced = if pos + need <= frames {
            resampler.process(&chunk, None)
        } else {
            resampler.process_partial(Some(&chunk), None)
        }
        .map_err(|e| err(e.to_string()))?;
        for (o, p) in out.iter_mut().zip(produced) {
            o.extend_from_slice(&p);
        }
        pos += need;
    }
    // Flush the filter's tail until the delayed output is complete.
    while out[0].len() < expected + delay {
        let produced = resampler
            .process_partial::<&[f32]>(None, None)
            .map_err(|e| err(e.to_string()))?;
        if produced[0].is_empty() {
            break;
        }
        for (o, p) in out.iter_mut().zip(produced) {
            o.extend_from_slice(&p);
        }
    }
    for o in &mut out {
        o.drain(..delay.min(o.len()));
        o.resize(expected, 0.0);
    }
    Ok(Audio {
        sample_rate: rate,
        channels: out,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(rate: u32, hz: f32, frames: usize) -> Vec<f32> {
        (0..frames)
            .map(|i| (i as f32 * hz * std::f32::consts::TAU / rate as f32).sin())
            .collect()
    }

    #[test]
    fn a_tone_keeps_its_pitch_level_and_timing() {
        let a = Audio {
            sample_rate: 48000,
            channels: vec![sine(48000, 1000.0, 48000)],
        };
        let b = resample(a, 44100).unwrap();
        assert_eq!(b.frames(), 44100);
        let reference = sine(44100, 1000.0, 44100);
        // Away from the edges the output matches an ideal 1 kHz tone at the new rate.
        let err = b.channels[0][2000..42000]
            .iter()
            .zip(&reference[2000..42000])
            .fold(0.0f32, |m, (x, y)| m.max((x - y).abs()));
        assert!(err < 0.01, "max error {err}");
    }

    #[test]
    fn content_above_the_new_nyquist_is_removed() {
        // 20 kHz at 48 kHz must not alias into the 16 kHz output.
        let a = Audio {
            sample_rate: 48000,
            channels: vec![sine(48000, 20000.0, 48000)],
        };
        let b = resample(a, 16000).unwrap();
        let rms = (b.channels[0][1000..15000]
            .iter()
            .map(|s| s * s)
            .sum::<f32>()
            / 14000.0)
            .sqrt();
        assert!(rms < 0.01, "alias rms {rms}");
    }
}
