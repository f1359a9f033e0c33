//! Mixing and mastering, in pure Rust.
//!
//! The chain, in order: every track resampled to the session rate and made stereo → per-track
//! gain, constant-power pan and offset (with short edge fades so offsets never click) → vocal
//! high-pass, presence and compression → side-chain ducking of the instrumental under the vocal
//! → sum → master EQ and bus compression (genre preset) → loudness normalised to the target
//! (BS.1770 integrated) → true-peak limiter → measured again. A second pass corrects the small
//! loudness loss the limiter causes, so the result lands within ±0.5 LU of the target.

pub mod api;

use serde::Serialize;
use songforge_audio::dsp::{
    Biquad, Compressor, FilterKind, TruePeakLimiter, apply_gain_curve, fade_edges, pan,
};
use songforge_audio::resample::resample;
use songforge_audio::{Audio, db_to_gain, gain_to_db};
use songforge_genre::{Band, Dynamics, MixPreset};

/// What a track is, which decides its processing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// A sung or spoken part: cleaned, pushed forward, and the key for ducking.
    Vocals,
    /// The backing: ducked under the vocals.
    Instrumental,
    /// Anything else: gain, pan and offset only.
    Other,
}

/// Where and how loud a track sits in the mix.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Placement {
    /// Role.
    pub role: Role,
    /// Gain, dB.
    pub gain_db: f32,
    /// −1 (left) … +1 (right).
    pub pan: f32,
    /// Start time in the mix, ms (≥ 0).
    pub offset_ms: f64,
    /// Excluded from the sum (still aligned in stems).
    pub mute: bool,
}

impl Placement {
    /// Unity gain, centred, from the start, audible.
    pub fn new(role: Role) -> Self {
        Self {
            role,
            gain_db: 0.0,
            pan: 0.0,
            offset_ms: 0.0,
            mute: false,
        }
    }
}

/// One input track.
#[derive(Debug, Clone)]
pub struct Track {
    /// Name used for its stem.
    pub name: String,
    /// Decoded audio at any rate and channel count.
    pub audio: Audio,
    /// Where it sits.
    pub placement: Placement,
}

/// Session settings; [`MixSettings::for_preset`] fills them from a genre preset.
#[derive(Debug, Clone)]
pub struct MixSettings {
    /// Output rate.
    pub sample_rate: u32,
    /// Integrated loudness target, LUFS.
    pub target_lufs: f64,
    /// True-peak ceiling, dBTP.
    pub ceiling_dbtp: f64,
    /// Ducking depth in dB; `None` disables ducking (and the speech-band carve).
    pub ducking_db: Option<f64>,
    /// How deep the backing's speech band dips under the vocal, dB, on top of the ducking;
    /// `None` or 0 leaves the band alone.
    pub carve_db: Option<f64>,
    /// Master EQ bands.
    pub eq: MasterEq,
    /// Master bus compressor; `None` bypasses it.
    pub compression: Option<Dynamics>,
    /// The vocal chain's settings.
    pub vocal: VocalChain,
    /// How far the vocal sits above the backing where it sings (speech band, dB); `None`
    /// leaves the tracks' levels as sent.
    pub vocal_lead_db: Option<f64>,
    /// `false`: only gain, pan, offsets and summing (no processing, no normalisation).
    pub master: bool,
}

/// Master EQ.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct MasterEq {
    /// Low shelf.
    pub low_shelf: Band,
    /// High shelf.
    pub high_shelf: Band,
}

/// Vocal chain.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct VocalChain {
    /// High-pass corner, Hz.
    pub highpass_hz: f64,
    /// Presence bell.
    pub presence: Band,
    /// Vocal compressor.
    pub compressor: Dynamics,
}

impl MixSettings {
    /// Settings from a genre preset at the streaming norm (−14 LUFS, −1 dBTP, 44.1 kHz).
    pub fn for_preset(preset: &MixPreset) -> Self {
        Self {
            sample_rate: 44100,
            target_lufs: -14.0,
            ceiling_dbtp: -1.0,
            ducking_db: Some(preset.ducking_depth_db),
            carve_db: Some(preset.speech_carve_db),
            eq: MasterEq {
                low_shelf: preset.bus_low_shelf,
                high_shelf: preset.bus_high_shelf,
            },
            compression: Some(preset.bus_compressor),
            vocal: VocalChain {
                highpass_hz: preset.vocal_highpass_hz,
                presence: preset.vocal_presence,
                compressor: preset.vocal_compressor,
            },
            vocal_lead_db: Some(preset.vocal_lead_db),
            master: true,
        }
    }
}

/// Tracks placed for summing: name, role, muted, audio.
type Placed = Vec<(String, Role, bool, Audio)>;

/// Mid signal (L+R)/2 of the unmuted tracks of `role`, in the speech band (above 250 Hz,
/// where a backing masks the words); `None` when there are none.
fn speech_band_mid(placed: &Placed, role: Role, rate: u32) -> Option<Vec<f32>> {
    let mut mid: Option<Vec<f32>> = None;
    for (_, r, mute, a) in placed {
        if *r != role || *mute {
            continue;
        }
        let m = mid.get_or_insert_with(|| vec![0.0; a.frames()]);
        for c in &a.channels {
            for (x, y) in m.iter_mut().zip(c) {
                *x += 0.5 * y;
            }
        }
    }
    let mut m = mid?;
    Biquad::new(
        FilterKind::HighPass,
        250.0,
        std::f64::consts::FRAC_1_SQRT_2,
        rate,
    )
    .process(&mut m);
    Some(m)
}

/// Sets the backing so the vocal is `lead_db` above it in the speech band, over the 50 ms
/// blocks where the vocal sings (within 30 dB of its loudest block). Returns the backing's
/// gain in dB (limited to −24…+6), or `None` without both a vocal and a backing.
fn balance_vocals(placed: &mut Placed, rate: u32, lead_db: f64) -> Option<f64> {
    let vocal = speech_band_mid(placed, Role::Vocals, rate)?;
    let backing = speech_band_mid(placed, Role::Instrumental, rate)?;
    let block = (rate as usize / 20).max(1);
    let power = |x: &[f32]| {
        x.iter().map(|s| f64::from(*s) * f64::from(*s)).sum::<f64>() / x.len().max(1) as f64
    };
    let blocks: Vec<(f64, f64)> = vocal
        .chunks(block)
        .zip(backing.chunks(block))
        .map(|(v, b)| (power(v), power(b)))
        .collect();
    let loudest = blocks.iter().map(|b| b.0).fold(0.0, f64::max);
    if loudest <= 1e-12 {
        return None;
    }
    let sung: Vec<&(f64, f64)> = blocks.iter().filter(|b| b.0 >= loudest * 1e-3).collect();
    let v = sung.iter().map(|b| b.0).sum::<f64>() / sung.len() as f64;
    let b = sung.iter().map(|b| b.1).sum::<f64>() / sung.len() as f64;
    if b <= 1e-12 {
        return None;
    }
    let gain_db = ((10.0 * (v / b).log10()) - lead_db).clamp(-24.0, 6.0);
    let gain = db_to_gain(gain_db as f32);
    for (_, role, _, a) in placed.iter_mut() {
        if *role == Role::Instrumental {
            a.apply_gain(gain);
        }
    }
    Some((gain_db * 100.0).round() / 100.0)
}

/// A dynamic bell cut around 2 kHz: each sample loses `1 - gain` of the band-passed signal,
/// so the cut at the centre is `gain` and the band is untouched where the gain is 1.
fn carve_speech_band(a: &mut Audio, gains: &[f32], rate: u32) {
    let band = Biquad::new(FilterKind::BandPass, 2000.0, 0.7, rate);
    for c in &mut a.channels {
        let mut bp = band.state();
        for (x, g) in c.iter_mut().zip(gains) {
            let b = bp.next(f64::from(*x));
            *x -= ((1.0 - g) as f64 * b) as f32;
        }
    }
}

/// Figures about a finished mix.
#[derive(Debug, Clone, Serialize)]
pub struct MixReport {
    /// Integrated loudness, LUFS (`None` for silence).
    pub loudness_lufs: Option<f64>,
    /// True peak, dBTP.
    pub true_peak_dbtp: f64,
    /// Length, seconds.
    pub duration_s: f64,
    /// Deepest ducking of the instrumental, dB.
    pub ducking_max_db: f64,
    /// Deepest dip of the instrumental's speech band, on top of the ducking, dB.
    pub carve_max_db: f64,
    /// Gain the backing got so the vocal sits on top, dB (`None`: no balance was made).
    pub vocal_balance_db: Option<f64>,
    /// Deepest bus compression, dB.
    pub bus_reduction_max_db: f64,
    /// Deepest limiting, dB.
    pub limiter_reduction_max_db: f64,
    /// Gain applied to reach the loudness target, dB.
    pub normalisation_gain_db: f64,
}

/// A finished mix and, aligned and equal in length, each processed track.
#[derive(Debug, Clone)]
pub struct MixOutput {
    /// The master.
    pub mix: Audio,
    /// Processed tracks by name, before the master bus (for DAW import).
    pub stems: Vec<(String, Audio)>,
    /// Measurements.
    pub report: MixReport,
}

/// Why a mix failed.
#[derive(Debug, thiserror::Error)]
pub enum MixError {
    /// Nothing to mix.
    #[error("no tracks to mix")]
    NoTracks,
    /// A track is unusable.
    #[error("track `{track}`: {problem}")]
    Track {
        /// Track name.
        track: String,
        /// What is wrong.
        problem: String,
    },
    /// Measurement failed.
    #[error("{0}")]
    Measure(String),
}

fn integrated(audio: &Audio) -> Result<Option<f64>, MixError> {
    songforge_audio::loudness::integrated_lufs(audio).map_err(MixError::Measure)
}

fn compressor(d: &Dynamics, makeup_db: f64) -> Compressor {
    Compressor {
        threshold_db: d.threshold_db,
        ratio: d.ratio,
        attack_ms: d.attack_ms,
        release_ms: d.release_ms,
        knee_db: d.knee_db,
        makeup_db,
    }
}

/// Mixes and (unless `settings.master` is false) masters the tracks.
pub fn mix(tracks: Vec<Track>, settings: &MixSettings) -> Result<MixOutput, MixError> {
    if tracks.is_empty() {
        return Err(MixError::NoTracks);
    }
    let rate = settings.sample_rate;
    // 1. Per track: rate, stereo, gain, pan, vocal chain, offset.
    let mut placed: Placed = Vec::with_capacity(tracks.len());
    for t in tracks {
        let p = t.placement;
        if !t.audio.is_finite() {
            return Err(MixError::Track {
                track: t.name,
                problem: "contains NaN or infinite samples".into(),
            });
        }
        let mut a = resample(t.audio, rate).map_err(|e| MixError::Track {
            track: t.name.clone(),
            problem: e.to_string(),
        })?;
        // The vocal chain runs before panning, on the source's own channels (usually mono).
        if settings.master && p.role == Role::Vocals {
            let v = &settings.vocal;
            Biquad::new(
                FilterKind::HighPass,
                v.highpass_hz,
                std::f64::consts::FRAC_1_SQRT_2,
                rate,
            )
            .process_audio_then(
                &Biquad::new(
                    FilterKind::Peak {
                        gain_db: v.presence.gain_db,
                    },
                    v.presence.freq_hz,
                    v.presence.q,
                    rate,
                ),
                &mut a,
            );
            compressor(&v.compressor, 0.0).process(&mut a);
        }
        a = a.with_channels(2);
        if p.pan != 0.0 {
            a = pan(a, p.pan);
        }
        if p.gain_db != 0.0 {
            a.apply_gain(db_to_gain(p.gain_db));
        }
        fade_edges(&mut a, 3.0);
        let offset = ((p.offset_ms.max(0.0) / 1000.0) * f64::from(rate)).round() as usize;
        if offset > 0 {
            for ch in &mut a.channels {
                ch.splice(0..0, std::iter::repeat_n(0.0, offset));
            }
        }
        placed.push((t.name, p.role, p.mute, a));
    }
    let frames = placed
        .iter()
        .map(|(_, _, _, a)| a.frames())
        .max()
        .unwrap_or(0);
    for (_, _, _, a) in &mut placed {
        a.set_frames(frames);
    }

    // 2. Balance, then ducking: the instrumental dips under the (unmuted) vocals.
    let vocal_balance_db = match settings.vocal_lead_db.filter(|_| settings.master) {
        Some(lead) => balance_vocals(&mut placed, rate, lead),
        None => None,
    };
    let mut ducking_max_db = 0.0;
    let mut carve_max_db = 0.0;
    if settings.master
        && let Some(depth) = settings.ducking_db.filter(|d| *d > 0.0)
    {
        // The detector listens to the vocals' mid signal (L+R)/2.
        let mut key = Audio::silence(rate, 1, frames);
        let mut any_vocal = false;
        for (_, role, mute, a) in &placed {
            if *role == Role::Vocals && !mute {
                any_vocal = true;
                for c in &a.channels {
                    for (x, y) in key.channels[0].iter_mut().zip(c) {
                        *x += 0.5 * y;
                    }
                }
            }
        }
        if any_vocal {
            // A side-chain compressor whose ratio is steep enough that an ordinary vocal
            // level reaches the requested depth, with speech-like attack and release.
            let ducker = Compressor {
                threshold_db: -36.0,
                ratio: 20.0,
                attack_ms: 15.0,
                release_ms: 300.0,
                knee_db: 12.0,
                makeup_db: 0.0,
            };
            let (raw, _) = ducker.gain_curve(&key);
            // Never deeper than requested.
            let floor = db_to_gain(-(depth as f32));
            let gains: Vec<f32> = raw.iter().map(|g| g.max(floor)).collect();
            let deepest = gains.iter().copied().fold(1.0f32, f32::min);
            // The speech band follows the same detector to its own depth.
            let carve = settings.carve_db.filter(|c| *c > 0.0).map(|c| {
                let floor = db_to_gain(-(c as f32));
                let curve: Vec<f32> = raw.iter().map(|g| g.max(floor)).collect();
                let deepest = curve.iter().copied().fold(1.0f32, f32::min);
                (curve, -f64::from(gain_to_db(deepest)))
            });
            for (_, role, _, a) in &mut placed {
                if *role == Role::Instrumental {
                    if let Some((curve, deepest)) = &carve {
                        carve_speech_band(a, curve, rate);
                        carve_max_db = *deepest;
                    }
                    apply_gain_curve(a, &gains);
                    ducking_max_db = -f64::from(gain_to_db(deepest));
                }
            }
        }
    }

    // 3. Sum.
    let mut bus = Audio::silence(rate, 2, frames);
    for (_, _, mute, a) in &placed {
        if *mute {
            continue;
        }
        for (b, c) in bus.channels.iter_mut().zip(&a.channels) {
            for (x, y) in b.iter_mut().zip(c) {
                *x += y;
            }
        }
    }

    let mut report = MixReport {
        loudness_lufs: None,
        true_peak_dbtp: f64::NEG_INFINITY,
        duration_s: bus.duration_s(),
        ducking_max_db,
        carve_max_db,
        vocal_balance_db,
        bus_reduction_max_db: 0.0,
        limiter_reduction_max_db: 0.0,
        normalisation_gain_db: 0.0,
    };

    // 4. Master: EQ, glue, loudness, true-peak limit.
    if settings.master {
        let eq = &settings.eq;
        Biquad::new(
            FilterKind::LowShelf {
                gain_db: eq.low_shelf.gain_db,
            },
            eq.low_shelf.freq_hz,
            eq.low_shelf.q,
            rate,
        )
        .process_audio_then(
            &Biquad::new(
                FilterKind::HighShelf {
                    gain_db: eq.high_shelf.gain_db,
                },
                eq.high_shelf.freq_hz,
                eq.high_shelf.q,
                rate,
            ),
            &mut bus,
        );
        if let Some(c) = &settings.compression {
            report.bus_reduction_max_db = compressor(c, 0.0).process(&mut bus);
        }
        let limiter = TruePeakLimiter {
            ceiling_db: settings.ceiling_dbtp - 0.2,
            lookahead_ms: 1.5,
            release_ms: 80.0,
        };
        // Gain is linear, so the pre-limiter loudness predicts the result exactly (the
        // block energies are measured once and re-gated per gain); only a limiter that
        // actually reduced something needs a fresh measurement.
        let pre = bus;
        let blocks =
            songforge_audio::loudness::BlockLoudness::measure(&pre).map_err(MixError::Measure)?;
        let mut gain_db = 0.0;
        let mut current = blocks.integrated_lufs(1.0);
        let mut limited: Option<Audio> = None;
        // Gain scales the true peak too. When the gain that reaches the target keeps every
        // interpolated peak under the limiter's ceiling (with a margin for rounding), the
        // limiter has nothing to do: apply the gain in place and derive both figures.
        let pre_peak = songforge_audio::loudness::true_peak(&pre);
        if let Some(lufs) = current {
            let gain = db_to_gain((settings.target_lufs - lufs) as f32);
            let ceiling = db_to_gain(limiter.ceiling_db as f32);
            if pre_peak * gain <= ceiling * 0.9999 {
                let mut out = pre;
                out.apply_gain(gain);
                report.normalisation_gain_db = settings.target_lufs - lufs;
                report.loudness_lufs = blocks.integrated_lufs(f64::from(gain));
                report.true_peak_dbtp = 20.0 * f64::from(pre_peak * gain).log10();
                return Ok(finish(out, placed, report));
            }
        }
        for _ in 0..3 {
            let Some(lufs) = current else { break };
            let error = settings.target_lufs - lufs;
            if limited.is_some() && error.abs() < 0.15 {
                break;
            }
            gain_db += error;
            let gain = db_to_gain(gain_db as f32);
            let mut attempt = Audio {
                sample_rate: pre.sample_rate,
                channels: pre
                    .channels
                    .iter()
                    .map(|c| c.iter().map(|s| s * gain).collect())
                    .collect(),
            };
            report.limiter_reduction_max_db = limiter.process(&mut attempt);
            current = if report.limiter_reduction_max_db > 0.0 {
                integrated(&attempt)?
            } else {
                blocks.integrated_lufs(f64::from(gain))
            };
            limited = Some(attempt);
            if report.limiter_reduction_max_db < 0.05 {
                break;
            }
        }
        report.normalisation_gain_db = gain_db;
        // `current` is always the measurement of the signal kept.
        bus = limited.unwrap_or(pre);
        report.loudness_lufs = current;
    } else {
        report.loudness_lufs = integrated(&bus)?;
    }
    report.true_peak_dbtp = songforge_audio::loudness::true_peak_dbtp(&bus);
    Ok(finish(bus, placed, report))
}

fn finish(mix: Audio, placed: Vec<(String, Role, bool, Audio)>, report: MixReport) -> MixOutput {
    MixOutput {
        mix,
        stems: placed
            .into_iter()
            .map(|(name, _, _, a)| (name, a))
            .collect(),
        report,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use songforge_genre::Genre;

    fn tone(rate: u32, hz: f32, seconds: f32, amp: f32) -> Audio {
        let s: Vec<f32> = (0..(rate as f32 * seconds) as usize)
            .map(|i| amp * (i as f32 * hz * std::f32::consts::TAU / rate as f32).sin())
            .collect();
        Audio {
            sample_rate: rate,
            channels: vec![s],
        }
    }

    /// A "vocal" that sings for a second, rests for a second, repeatedly.
    fn phrases(rate: u32, seconds: f32) -> Audio {
        let mut a = tone(rate, 330.0, seconds, 0.3);
        for (i, s) in a.channels[0].iter_mut().enumerate() {
            if (i / rate as usize) % 2 == 1 {
                *s = 0.0;
            }
        }
        a
    }

    fn track(name: &str, audio: Audio, role: Role) -> Track {
        Track {
            name: name.into(),
            audio,
            placement: Placement::new(role),
        }
    }

    fn rms(x: &[f32]) -> f32 {
        (x.iter().map(|s| s * s).sum::<f32>() / x.len().max(1) as f32).sqrt()
    }

    #[test]
    fn a_mastered_mix_meets_loudness_and_true_peak_targets() {
        for genre in [Genre::Pop, Genre::Rock, Genre::HipHop, Genre::Jazz] {
            let settings = MixSettings::for_preset(&genre.mix_preset());
            let out = mix(
                vec![
                    track(
                        "instrumental",
                        tone(48000, 110.0, 8.0, 0.6),
                        Role::Instrumental,
                    ),
                    track("vocals", phrases(22050, 8.0), Role::Vocals),
                ],
                &settings,
            )
            .unwrap();
            let lufs = out.report.loudness_lufs.unwrap();
            assert!((lufs + 14.0).abs() <= 0.5, "{genre:?}: {lufs} LUFS");
            assert!(
                out.report.true_peak_dbtp <= -1.0,
                "{genre:?}: {} dBTP",
                out.report.true_peak_dbtp
            );
            // The reported figures are those of the stored mix, whether measured or derived
            // from the normalisation gain.
            let measured = songforge_audio::loudness::measure(&out.mix).unwrap();
            assert!((measured.integrated_lufs.unwrap() - lufs).abs() < 0.01);
            assert!((measured.true_peak_dbtp - out.report.true_peak_dbtp).abs() < 0.01);
            assert!(out.mix.is_finite());
            assert_eq!(out.mix.sample_rate, 44100);
            assert_eq!(out.mix.channel_count(), 2);
            assert!((out.report.duration_s - 8.0).abs() < 0.01);
        }
    }

    #[test]
    fn a_peaky_mix_is_limited_and_its_figures_measured() {
        // Sparse clicks over a quiet bed: reaching −14 LUFS pushes the clicks far over the
        // ceiling, so the limiter must act (the gain-only shortcut must not be taken).
        let mut bed = tone(44100, 220.0, 6.0, 0.05);
        for (i, s) in bed.channels[0].iter_mut().enumerate() {
            if i % 22050 < 40 {
                *s = 0.95;
            }
        }
        let settings = MixSettings::for_preset(&Genre::Pop.mix_preset());
        let out = mix(vec![track("bed", bed, Role::Other)], &settings).unwrap();
        assert!(
            out.report.limiter_reduction_max_db > 1.0,
            "{:?}",
            out.report
        );
        let measured = songforge_audio::loudness::measure(&out.mix).unwrap();
        assert!(measured.true_peak_dbtp <= -1.0, "{measured:?}");
        assert!((measured.true_peak_dbtp - out.report.true_peak_dbtp).abs() < 0.01);
        assert!(
            (measured.integrated_lufs.unwrap() - out.report.loudness_lufs.unwrap()).abs() < 0.01
        );
    }

    #[test]
    fn a_buried_vocal_is_brought_to_sit_on_top_of_the_backing() {
        // A loud, bright backing and a vocal 20 dB under it.
        let bright: Vec<f32> = (0..44100 * 4)
            .map(|i| 0.5 * (i as f32 * 2.0 * std::f32::consts::PI * 1000.0 / 44100.0).sin())
            .collect();
        let mut vocal = phrases(44100, 4.0);
        for x in &mut vocal.channels[0] {
            *x *= 0.05;
        }
        let backing = Audio {
            sample_rate: 44100,
            channels: vec![bright.clone(), bright],
        };
        let settings = MixSettings::for_preset(&Genre::Pop.mix_preset());
        let out = mix(
            vec![
                track("instrumental", backing, Role::Instrumental),
                track("vocals", vocal, Role::Vocals),
            ],
            &settings,
        )
        .unwrap();
        let gain = out.report.vocal_balance_db.expect("balanced");
        assert!(gain < -10.0, "the backing came down: {gain} dB");
        let mut none = settings.clone();
        none.vocal_lead_db = None;
        let quiet = vec![track("vocals", phrases(44100, 1.0), Role::Vocals)];
        assert_eq!(mix(quiet, &none).unwrap().report.vocal_balance_db, None);
    }

    #[test]
    fn the_instrumental_ducks_while_the_vocal_sings() {
        let settings = MixSettings::for_preset(&Genre::HipHop.mix_preset());
        let out = mix(
            vec![
                track(
                    "instrumental",
                    tone(44100, 110.0, 6.0, 0.5),
                    Role::Instrumental,
                ),
                track("vocals", phrases(44100, 6.0), Role::Vocals),
            ],
            &settings,
        )
        .unwrap();
        let inst = &out.stems[0].1.channels[0];
        // Second 2 (vocal singing) vs second 3 (vocal resting), away from the transitions.
        let singing = rms(&inst[2 * 44100 + 8000..3 * 44100 - 2000]);
        let resting = rms(&inst[3 * 44100 + 20000..4 * 44100 - 2000]);
        let dip = 20.0 * (singing / resting).log10();
        let depth = Genre::HipHop.mix_preset().ducking_depth_db as f32;
        assert!(
            dip < -1.5 && dip >= -depth - 0.1,
            "dip {dip} dB (depth {depth})"
        );
    }

    #[test]
    fn the_backings_speech_band_dips_further_than_its_bass() {
        // Two backing tracks, a bass note and a 2 kHz line: while the vocal sings, the line
        // (in the speech band) dips by the carve on top of the ducking, the bass by the
        // ducking alone. With the carve off both dip alike.
        let dips = |carve: Option<f64>| {
            let mut settings = MixSettings::for_preset(&Genre::HipHop.mix_preset());
            settings.carve_db = carve;
            let out = mix(
                vec![
                    track("bass", tone(44100, 150.0, 6.0, 0.3), Role::Instrumental),
                    track("line", tone(44100, 2000.0, 6.0, 0.3), Role::Instrumental),
                    track("vocals", phrases(44100, 6.0), Role::Vocals),
                ],
                &settings,
            )
            .unwrap();
            let dip = |stem: &Audio| {
                let c = &stem.channels[0];
                let singing = rms(&c[2 * 44100 + 8000..3 * 44100 - 2000]);
                let resting = rms(&c[3 * 44100 + 20000..4 * 44100 - 2000]);
                20.0 * (singing / resting).log10()
            };
            (dip(&out.stems[0].1), dip(&out.stems[1].1), out.report)
        };
        let depth = Genre::HipHop.mix_preset().ducking_depth_db as f32;
        let (bass, line, report) = dips(Some(6.0));
        assert!(bass < -1.5 && bass >= -depth - 0.5, "bass dip {bass} dB");
        assert!(line < bass - 3.0, "line {line} dB vs bass {bass} dB");
        assert!(report.carve_max_db > 3.0 && report.carve_max_db <= 6.0 + 1e-6);
        let (bass, line, report) = dips(None);
        assert!(
            (line - bass).abs() < 0.5,
            "line {line} dB vs bass {bass} dB"
        );
        assert_eq!(report.carve_max_db, 0.0);
    }

    #[test]
    fn offsets_gain_pan_and_stems_line_up() {
        let mut settings = MixSettings::for_preset(&Genre::Pop.mix_preset());
        settings.master = false;
        let mut late = track("late", tone(44100, 440.0, 1.0, 0.5), Role::Other);
        late.placement.offset_ms = 500.0;
        late.placement.pan = -1.0;
        late.placement.gain_db = -6.0;
        let out = mix(
            vec![track("a", tone(44100, 220.0, 1.0, 0.5), Role::Other), late],
            &settings,
        )
        .unwrap();
        assert_eq!(out.mix.frames(), 66150, "longest track plus its offset");
        for (_, s) in &out.stems {
            assert_eq!(s.frames(), 66150);
        }
        let late = &out.stems[1].1;
        assert!(
            late.channels[0][..22050].iter().all(|s| *s == 0.0),
            "silent before its offset"
        );
        assert!(rms(&late.channels[1]) < 1e-6, "hard left");
        let left = rms(&late.channels[0][30000..60000]);
        let expected = 0.5 / std::f32::consts::SQRT_2 * std::f32::consts::SQRT_2 * 0.5012;
        assert!((left - expected).abs() < 0.01, "{left} vs {expected}");
        // No click: the first sample after the offset starts from silence.
        assert!(late.channels[0][22050].abs() < 1e-3);
    }

    #[test]
    fn without_mastering_the_stems_sum_to_the_mix() {
        let mut settings = MixSettings::for_preset(&Genre::Rock.mix_preset());
        settings.master = false;
        let mut v = track("vocals", phrases(44100, 2.0), Role::Vocals);
        v.placement.pan = 0.4;
        let out = mix(
            vec![
                track(
                    "instrumental",
                    tone(44100, 110.0, 2.0, 0.4),
                    Role::Instrumental,
                ),
                v,
            ],
            &settings,
        )
        .unwrap();
        for c in 0..2 {
            for i in (0..out.mix.frames()).step_by(97) {
                let sum: f32 = out.stems.iter().map(|(_, s)| s.channels[c][i]).sum();
                assert!(
                    (sum - out.mix.channels[c][i]).abs() < 1e-6,
                    "channel {c} frame {i}"
                );
            }
        }
    }

    #[test]
    fn two_sines_sum_as_expected() {
        let mut settings = MixSettings::for_preset(&Genre::Pop.mix_preset());
        settings.master = false;
        let out = mix(
            vec![
                track("a", tone(44100, 440.0, 1.0, 0.25), Role::Other),
                track("b", tone(44100, 660.0, 1.0, 0.25), Role::Other),
            ],
            &settings,
        )
        .unwrap();
        // Mono sources panned centre keep their level in each channel (constant power, ×√2·cos45°).
        let i = 10000;
        let expected = 0.25
            * ((i as f32 * 440.0 * std::f32::consts::TAU / 44100.0).sin()
                + (i as f32 * 660.0 * std::f32::consts::TAU / 44100.0).sin());
        assert!((out.mix.channels[0][i] - expected).abs() < 1e-4);
    }

    #[test]
    fn muted_tracks_stay_out_of_the_sum_and_silence_is_reported() {
        let settings = MixSettings::for_preset(&Genre::Pop.mix_preset());
        let mut t = track("x", tone(44100, 440.0, 1.0, 0.5), Role::Other);
        t.placement.mute = true;
        let out = mix(vec![t], &settings).unwrap();
        assert_eq!(out.report.loudness_lufs, None);
        assert_eq!(out.mix.sample_peak(), 0.0);
        assert!(matches!(mix(vec![], &settings), Err(MixError::NoTracks)));
    }
}
