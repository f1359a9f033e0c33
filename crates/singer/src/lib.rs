//! The singer: spoken syllables (from the `tts` graph) turned into sung notes.
//!
//! Each syllable is split at its voiced part. Consonants before it are kept as spoken and
//! placed just ahead of the beat, so the vowel lands on it; the voiced part is stretched to the
//! note's length and moved onto the note's pitch by TD-PSOLA (pitch-synchronous overlap-add of
//! two-period grains cut at the speaker's own pitch marks, so formants stay where the voice
//! had them); consonants after it close the note. Long notes get a light vibrato, joined notes
//! a short glide, and phrases a breath before them.

pub mod pitch;
pub mod psola;
pub mod split;

use psola::{Marks, synthesize};

/// A note to sing, in seconds on the song's timeline.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Note {
    /// MIDI note.
    pub midi: f32,
    /// Start of the vowel (the beat), seconds.
    pub start_s: f64,
    /// Length, seconds.
    pub dur_s: f64,
    /// A breath goes before it.
    pub phrase_start: bool,
}

/// Frequency of a MIDI note.
pub fn midi_hz(midi: f32) -> f32 {
    440.0 * 2f32.powf((midi - 69.0) / 12.0)
}

/// Settings of the performance.
#[derive(Debug, Clone, Copy)]
pub struct Style {
    /// Vibrato depth, semitones either side.
    pub vibrato_semitones: f32,
    /// Vibrato rate, Hz.
    pub vibrato_hz: f32,
    /// Notes longer than this get vibrato, seconds.
    pub vibrato_after_s: f32,
    /// Glide into a joined note, seconds.
    pub glide_s: f32,
    /// Breath level, dBFS RMS.
    pub breath_db: f32,
    /// Longest stretch of onset consonants sung before the beat, seconds.
    pub max_lead_s: f32,
}

impl Default for Style {
    fn default() -> Self {
        Style {
            vibrato_semitones: 0.2,
            vibrato_hz: 5.5,
            vibrato_after_s: 0.3,
            glide_s: 0.04,
            breath_db: -42.0,
            max_lead_s: 0.035,
        }
    }
}

/// Why a take could not be sung.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SingError {
    /// Takes and notes differ in number.
    Mismatch {
        /// Takes given.
        takes: usize,
        /// Notes given.
        notes: usize,
    },
}

impl std::fmt::Display for SingError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SingError::Mismatch { takes, notes } => {
                write!(f, "{takes} spoken syllables for {notes} notes")
            }
        }
    }
}

impl std::error::Error for SingError {}

/// Sings `notes`, one spoken take each (mono, `rate` Hz), into a mono track `duration_s` long.
pub fn sing(
    takes: &[Vec<f32>],
    notes: &[Note],
    rate: u32,
    duration_s: f64,
    style: Style,
    seed: u64,
) -> Result<Vec<f32>, SingError> {
    if takes.len() != notes.len() {
        return Err(SingError::Mismatch {
            takes: takes.len(),
            notes: notes.len(),
        });
    }
    let sr = rate as f32;
    let total = ((duration_s * f64::from(rate)).ceil() as usize).max(1);
    let mut out = vec![0f32; total];
    let mut noise = Noise(seed | 1);
    let mut prev_midi: Option<(f32, f64)> = None;
    for (take, note) in takes.iter().zip(notes) {
        let x = trim(take, rate);
        if x.is_empty() {
            continue;
        }
        let track = pitch::track(x, rate);
        let span = track.voiced_span();
        let start = (note.start_s * f64::from(rate)).round() as i64;
        let dur = (note.dur_s * f64::from(rate)).round() as usize;
        let max_lead = (style.max_lead_s * sr) as usize;
        if note.phrase_start {
            let lead = span.map_or(0, |(a, _)| a.min(max_lead)) as i64;
            breath(
                &mut out,
                start - lead - (0.05 * sr) as i64,
                rate,
                style.breath_db,
                &mut noise,
            );
        }
        let Some((v0, v1)) = span else {
            // Nothing voiced (a whispered or all-consonant take): place it as spoken.
            add(&mut out, start, x, 1.0);
            prev_midi = None;
            continue;
        };
        let marks = Marks::find(x, &track, v0, v1);
        let min_len = (0.06 * sr) as usize;
        // The onset consonants start at most `max_lead` before the beat; a longer cluster
        // delays the vowel instead, so the syllable's attack is heard on time.
        let lead = v0.min(max_lead);
        let vowel_at = start - lead as i64 + v0 as i64;
        let voiced_len = (dur + lead)
            .saturating_sub(v0 + (x.len() - v1))
            .max(min_len);
        let glide_from = prev_midi
            .filter(|(_, end)| (note.start_s - end).abs() < 0.06)
            .map(|(m, _)| m);
        let target = |t: f32| -> f32 {
            let mut m = note.midi;
            if let Some(from) = glide_from
                && t < style.glide_s
            {
                m = from + (note.midi - from) * (t / style.glide_s);
            }
            let long = note.dur_s as f32 > style.vibrato_after_s + 0.15;
            if long && t > style.vibrato_after_s {
                let ramp = ((t - style.vibrato_after_s) / 0.2).min(1.0);
                m += ramp
                    * style.vibrato_semitones
                    * (2.0 * std::f32::consts::PI * style.vibrato_hz * t).sin();
            }
            midi_hz(m)
        };
        let gain = level(x, v0, v1);
        // Too few cycles to find marks in (a clipped vowel): even marks at the tracked period
        // still put one grain down per target period, so the note is sung at its pitch.
        let marks = marks.unwrap_or_else(|| Marks::even(&track, v0, v1));
        let mut voiced = synthesize(x, &marks, voiced_len, rate, &target);
        // Joins: the spoken onset runs 10 ms into the vowel under the sung part's fade-in; the
        // sung part fades out into the spoken coda, which starts 5 ms before it ends. Only
        // unvoiced or closing sounds are heard at the speaker's own pitch, never a vowel.
        let attack = ((ATTACK_S * sr) as usize).min(voiced_len / 2);
        let release = ((RELEASE_S * sr) as usize).min(voiced_len / 2);
        fade(&mut voiced, attack, release);
        let overlap_in = ((0.01 * sr) as usize).min(attack);
        let mut head = x[..(v0 + overlap_in).min(x.len())].to_vec();
        let head_len = head.len();
        fade(&mut head, (0.003 * sr) as usize, head_len - v0);
        add(&mut out, start - lead as i64, &head, gain);
        add(&mut out, vowel_at, &voiced, gain);
        let overlap_out = ((0.005 * sr) as usize).min(release);
        let mut tail = x[v1..].to_vec();
        let tail_len = tail.len();
        fade(
            &mut tail,
            overlap_out.min(tail_len / 2),
            ((0.02 * sr) as usize).min(tail_len / 2),
        );
        let tail_at = vowel_at + (voiced_len - overlap_out) as i64;
        add(&mut out, tail_at, &tail, gain);
        prev_midi = Some((note.midi, note.start_s + note.dur_s));
    }
    Ok(out)
}

/// Gain that brings a take's voiced part to a common loudness.
fn level(x: &[f32], v0: usize, v1: usize) -> f32 {
    let part = &x[v0..v1.max(v0 + 1).min(x.len())];
    let rms = (part.iter().map(|s| s * s).sum::<f32>() / part.len().max(1) as f32).sqrt();
    if rms < 1e-5 {
        1.0
    } else {
        (0.12 / rms).min(8.0)
    }
}

/// Drops leading and trailing near-silence (below −45 dB of the peak), keeping 5 ms.
pub(crate) fn trim(x: &[f32], rate: u32) -> &[f32] {
    let peak = x.iter().fold(0f32, |m, s| m.max(s.abs()));
    if peak <= 0.0 {
        return &[];
    }
    let floor = peak * 0.0056;
    let keep = (rate / 200) as usize;
    let first = x.iter().position(|s| s.abs() > floor).unwrap_or(0);
    let last = x
        .iter()
        .rposition(|s| s.abs() > floor)
        .unwrap_or(x.len() - 1);
    &x[first.saturating_sub(keep)..(last + keep + 1).min(x.len())]
}

/// Fade-in of a sung part, seconds.
const ATTACK_S: f32 = 0.02;
/// Fade-out of a sung part, seconds.
const RELEASE_S: f32 = 0.04;

/// Linear fades over the first `a` and last `r` samples.
fn fade(x: &mut [f32], a: usize, r: usize) {
    let n = x.len();
    let (a, r) = (a.min(n), r.min(n));
    for (i, v) in x[..a].iter_mut().enumerate() {
        *v *= i as f32 / a as f32;
    }
    for (i, v) in x[n - r..].iter_mut().rev().enumerate() {
        *v *= i as f32 / r as f32;
    }
}

/// Mixes `x × gain` into `out` at `at` (clipped to the buffer).
fn add(out: &mut [f32], at: i64, x: &[f32], gain: f32) {
    for (i, s) in x.iter().enumerate() {
        let j = at + i as i64;
        if j >= 0
            && let Some(o) = out.get_mut(j as usize)
        {
            *o += s * gain;
        }
    }
}

/// A soft in-breath: band-limited noise with a rounded envelope, 180 ms, ending at `end`.
fn breath(out: &mut [f32], end: i64, rate: u32, db: f32, noise: &mut Noise) {
    let len = (0.18 * rate as f32) as usize;
    let start = end - len as i64;
    let amp = 10f32.powf(db / 20.0) * std::f32::consts::SQRT_2;
    let (mut lp, mut prev) = (0f32, 0f32);
    let lp_k = 1.0 - (-2.0 * std::f32::consts::PI * 5000.0 / rate as f32).exp();
    let buf: Vec<f32> = (0..len)
        .map(|i| {
            let w = noise.next();
            lp += lp_k * (w - lp);
            // A first difference after the low-pass: energy between ~1 and 5 kHz.
            let band = lp - prev;
            prev = lp;
            let env = (std::f32::consts::PI * i as f32 / len as f32).sin().powi(2);
            band * env * amp * 2.0
        })
        .collect();
    add(out, start, &buf, 1.0);
}

/// A small deterministic noise source (xorshift).
struct Noise(u64);

impl Noise {
    fn next(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A "spoken" syllable: a burst of noise (a consonant), then a glottal-pulse vowel at
    /// `f0` with a formant-like resonance, then silence.
    fn syllable(f0: f32, rate: u32) -> Vec<f32> {
        let mut noise = Noise(7);
        let mut x: Vec<f32> = (0..(0.05 * rate as f32) as usize)
            .map(|_| noise.next() * 0.05)
            .collect();
        let n = (0.25 * rate as f32) as usize;
        let mut phase = 0f32;
        for i in 0..n {
            let t = i as f32 / rate as f32;
            phase += f0 / rate as f32;
            let saw = 2.0 * (phase - phase.floor()) - 1.0;
            let res = (2.0 * std::f32::consts::PI * 700.0 * t).sin() * 0.3;
            x.push((saw * 0.4 + res * saw.abs()) * 0.5);
        }
        x
    }

    #[test]
    fn a_spoken_vowel_comes_out_at_the_notes_pitch_and_length() {
        let rate = 22050;
        let take = syllable(120.0, rate);
        let notes = [Note {
            midi: 57.0,
            start_s: 0.5,
            dur_s: 0.8,
            phrase_start: true,
        }];
        let style = Style {
            vibrato_semitones: 0.0,
            ..Style::default()
        };
        let out = sing(&[take], &notes, rate, 2.0, style, 1).unwrap();
        let t = pitch::track(&out, rate);
        // Frames inside the note (away from its edges) are at A3 = 220 Hz.
        let hop = t.hop as f64 / f64::from(rate);
        let inside: Vec<f32> =
            t.f0.iter()
                .enumerate()
                .filter(|(i, _)| {
                    let s = *i as f64 * hop;
                    s > 0.6 && s < 1.2
                })
                .filter_map(|(_, f)| *f)
                .collect();
        assert!(inside.len() > 50, "{} voiced frames", inside.len());
        let off: Vec<f32> = inside.iter().map(|f| 1200.0 * (f / 220.0).log2()).collect();
        let good = off.iter().filter(|c| c.abs() < 50.0).count();
        assert!(good as f32 / off.len() as f32 > 0.9, "{off:?}");
        // Silent before the breath and after the note.
        let energy = |a: f64, b: f64| {
            let s = &out[(a * f64::from(rate)) as usize..(b * f64::from(rate)) as usize];
            s.iter().map(|v| v * v).sum::<f32>() / s.len() as f32
        };
        assert!(energy(0.0, 0.15) < 1e-8);
        assert!(energy(1.45, 2.0) < 1e-8);
        assert!(energy(0.6, 1.2) > 1e-3);
    }

    #[test]
    fn the_same_seed_sings_the_same_samples() {
        let rate = 22050;
        let takes = vec![syllable(110.0, rate), syllable(130.0, rate)];
        let notes = [
            Note {
                midi: 50.0,
                start_s: 0.3,
                dur_s: 0.4,
                phrase_start: true,
            },
            Note {
                midi: 53.0,
                start_s: 0.7,
                dur_s: 0.9,
                phrase_start: false,
            },
        ];
        let a = sing(&takes, &notes, rate, 2.0, Style::default(), 5).unwrap();
        let b = sing(&takes, &notes, rate, 2.0, Style::default(), 5).unwrap();
        assert_eq!(a, b);
        assert!(a.iter().all(|s| s.is_finite()));
        assert!(sing(&takes[..1], &notes, rate, 2.0, Style::default(), 5).is_err());
    }
}
