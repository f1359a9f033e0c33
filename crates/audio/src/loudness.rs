//! Loudness and true peak per ITU-R BS.1770 / EBU R128 (the ebur128 crate).

use crate::Audio;
use ebur128::{EbuR128, Mode};

/// Integrated loudness and true peak of a whole programme.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LoudnessReport {
    /// Integrated loudness in LUFS; `None` for silence (below the absolute gate).
    pub integrated_lufs: Option<f64>,
    /// Highest true peak over all channels in dBTP (−inf for silence).
    pub true_peak_dbtp: f64,
}

/// Measures `audio`. Channel weighting follows BS.1770 for mono and stereo.
pub fn measure(audio: &Audio) -> Result<LoudnessReport, String> {
    let channels = audio.channel_count() as u32;
    let mut meter = EbuR128::new(channels, audio.sample_rate, Mode::I | Mode::TRUE_PEAK)
        .map_err(|e| format!("loudness meter: {e:?}"))?;
    let planes: Vec<&[f32]> = audio.channels.iter().map(Vec::as_slice).collect();
    meter
        .add_frames_planar_f32(&planes)
        .map_err(|e| format!("loudness meter: {e:?}"))?;
    let integrated = meter
        .loudness_global()
        .map_err(|e| format!("loudness meter: {e:?}"))?;
    let mut peak = 0.0f64;
    for c in 0..channels {
        peak = peak.max(meter.true_peak(c).map_err(|e| format!("loudness meter: {e:?}"))?);
    }
    Ok(LoudnessReport {
        integrated_lufs: integrated.is_finite().then_some(integrated),
        true_peak_dbtp: 20.0 * peak.log10(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_scale_1khz_sine_reads_about_minus_3_lufs() {
        // BS.1770: a 0 dBFS 1 kHz sine in one channel of stereo reads −3.01 LUFS.
        let rate = 48000;
        let s: Vec<f32> = (0..rate * 5)
            .map(|i| (i as f32 * 1000.0 * std::f32::consts::TAU / rate as f32).sin())
            .collect();
        let a = Audio {
            sample_rate: rate,
            channels: vec![s, vec![0.0; (rate * 5) as usize]],
        };
        let r = measure(&a).unwrap();
        let lufs = r.integrated_lufs.unwrap();
        assert!((lufs + 3.01).abs() < 0.1, "{lufs}");
        assert!(r.true_peak_dbtp.abs() < 0.1, "{}", r.true_peak_dbtp);
        assert_eq!(measure(&Audio::silence(48000, 2, 48000)).unwrap().integrated_lufs, None);
    }
}
