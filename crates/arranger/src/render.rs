//! Rendering: each stem played separately (a General MIDI soundfont through rustysynth, or the
//! built-in synthesiser), levelled against the others, and summed into the mix. The stems get
//! the same final gain as the mix, so they add up to it sample for sample.

use crate::compose::{Arrangement, Part};
use crate::synth;
use rustysynth::{SoundFont, Synthesizer, SynthesizerSettings};
use songforge_audio::Audio;
use std::sync::Arc;

/// Output sample rate.
pub const SAMPLE_RATE: u32 = 44_100;
/// Voices the drum stem may hold at once.
const DRUM_VOICES: usize = 12;
/// Peak of the finished mix, dBFS.
const MIX_PEAK_DB: f32 = -1.0;

/// What plays the notes.
#[derive(Clone)]
pub enum Instruments {
    /// A General MIDI soundfont, and a name for it.
    SoundFont(Arc<SoundFont>, String),
    /// The built-in synthesiser (no soundfont installed).
    BuiltIn,
}

impl Instruments {
    /// Loads a soundfont from SF2 bytes.
    pub fn load_sf2(bytes: &[u8], name: &str) -> Result<Instruments, RenderError> {
        let mut reader = bytes;
        let sf = SoundFont::new(&mut reader).map_err(|e| RenderError(format!("{name}: {e:?}")))?;
        Ok(Instruments::SoundFont(Arc::new(sf), name.to_string()))
    }

    /// The name the response reports.
    pub fn name(&self) -> &str {
        match self {
            Instruments::SoundFont(_, name) => name,
            Instruments::BuiltIn => "built-in",
        }
    }
}

/// Why rendering failed.
#[derive(Debug, thiserror::Error)]
#[error("rendering failed: {0}")]
pub struct RenderError(pub String);

/// The rendered song.
#[derive(Debug, Clone)]
pub struct Rendered {
    /// Each part alone, aligned and as long as the mix.
    pub stems: Vec<(Part, Audio)>,
    /// The sum of the stems.
    pub mix: Audio,
}

/// Relative level of each stem in the mix (RMS over the parts where it plays), dB.
fn stem_level_db(part: Part) -> f32 {
    match part {
        Part::Drums => -16.0,
        Part::Bass => -18.0,
        Part::Harmony => -20.0,
        Part::Melody => -23.0,
    }
}

/// The room each stem plays in: decay (s) and wet level. The chords get space; drums and bass
/// stay dry and tight, and so does the counter-melody: a room on a second stem cost 0.25 s of a
/// 3-minute render in wasm, which the 5 s budget does not have (measured: 4.1-4.3 s dry, 4.7-5.0 s
/// with both rooms).
fn room(part: Part) -> Option<(f32, f32)> {
    match part {
        Part::Harmony => Some((1.6, 0.25)),
        Part::Drums | Part::Bass | Part::Melody => None,
    }
}

/// Renders every stem and the mix.
pub fn render(a: &Arrangement, instruments: &Instruments) -> Result<Rendered, RenderError> {
    let frames = (a.duration_s() * f64::from(SAMPLE_RATE)).round() as usize;
    let mut stems = Vec::with_capacity(Part::ALL.len());
    let mut levels = Vec::with_capacity(Part::ALL.len());
    for part in Part::ALL {
        let mut audio = match instruments {
            Instruments::SoundFont(sf, _) => render_soundfont(a, part, sf, frames)?,
            Instruments::BuiltIn => synth::render_part(a, part, SAMPLE_RATE, frames),
        };
        if let Some((rt60, wet)) = room(part)
            && let [l, r] = audio.channels.as_mut_slice()
        {
            crate::reverb::add_room(l, r, SAMPLE_RATE, rt60, wet);
        }
        let want = 10f32.powf(stem_level_db(part) / 20.0);
        levels.push(active_rms(&audio).map_or(1.0, |rms| want / rms));
        stems.push((part, audio));
    }
    // One pass sums the levelled stems and finds the peak; a second scales everything to it.
    let mut mix = Audio::silence(SAMPLE_RATE, 2, frames);
    for ((_, s), level) in stems.iter().zip(&levels) {
        for (m, c) in mix.channels.iter_mut().zip(&s.channels) {
            for (x, y) in m.iter_mut().zip(c) {
                *x += y * level;
            }
        }
    }
    let peak = mix.sample_peak();
    if !peak.is_finite() {
        return Err(RenderError(
            "the synthesiser produced non-finite samples".into(),
        ));
    }
    let gain = if peak > 0.0 {
        10f32.powf(MIX_PEAK_DB / 20.0) / peak
    } else {
        1.0
    };
    mix.apply_gain(gain);
    for ((_, s), level) in stems.iter_mut().zip(&levels) {
        s.apply_gain(level * gain);
    }
    Ok(Rendered { stems, mix })
}

/// RMS over 50 ms blocks louder than -60 dBFS: the level of a part where it plays. Reads
/// every fourth frame, which is plenty for a level and a quarter of the work.
fn active_rms(audio: &Audio) -> Option<f32> {
    let block = (SAMPLE_RATE / 20) as usize;
    let (mut sum, mut n) = (0f64, 0usize);
    for ch in &audio.channels {
        for chunk in ch.chunks(block) {
            let (e, count) = chunk
                .iter()
                .step_by(4)
                .fold((0f32, 0usize), |(e, c), s| (e + s * s, c + 1));
            if count > 0 && e / count as f32 > 1e-6 {
                sum += f64::from(e);
                n += count;
            }
        }
    }
    (n > 0 && sum > 0.0).then(|| (sum / n as f64).sqrt() as f32)
}

/// One part through rustysynth: program changes, then note on/offs at their sample times.
fn render_soundfont(
    a: &Arrangement,
    part: Part,
    sf: &Arc<SoundFont>,
    frames: usize,
) -> Result<Audio, RenderError> {
    let mut settings = SynthesizerSettings::new(SAMPLE_RATE as i32);
    // The synthesiser's reverb and chorus run per instance, on every sample: with four stems
    // they tripled the render time (measured); `reverb` adds a cheaper room afterwards.
    settings.enable_reverb_and_chorus = false;
    // Cymbal samples ring for seconds after each hit; with a ride on every 8th note the jazz
    // kit held all 64 voices and cost three times the other stems (measured). Twelve voices
    // keep every hit and let the oldest tails go.
    if part == Part::Drums {
        settings.maximum_polyphony = DRUM_VOICES;
    }
    let mut synth = Synthesizer::new(sf, &settings).map_err(|e| RenderError(format!("{e:?}")))?;
    let channels: Vec<_> = a.channels.iter().filter(|c| c.part == part).collect();
    for c in &channels {
        if c.channel != 9 {
            synth.process_midi_message(i32::from(c.channel), 0xC0, i32::from(c.program), 0);
        }
    }
    let tick_s = a.tick_seconds();
    let at = |tick: u32| {
        ((f64::from(tick) * tick_s * f64::from(SAMPLE_RATE)).round() as usize).min(frames)
    };
    // (frame, on?, channel, key, velocity); offs first at equal frames.
    let mut events: Vec<(usize, bool, u8, u8, u8)> = Vec::new();
    for n in a.notes.iter().filter(|n| n.part == part) {
        events.push((at(n.start), true, n.channel, n.key, n.velocity));
        events.push((at(n.start + n.duration), false, n.channel, n.key, 0));
    }
    events.sort_by_key(|e| (e.0, e.1));
    let mut left = vec![0f32; frames];
    let mut right = vec![0f32; frames];
    let mut pos = 0;
    for (frame, on, ch, key, vel) in events {
        if frame > pos {
            synth.render(&mut left[pos..frame], &mut right[pos..frame]);
            pos = frame;
        }
        if on {
            synth.note_on(i32::from(ch), i32::from(key), i32::from(vel));
        } else {
            synth.note_off(i32::from(ch), i32::from(key));
        }
    }
    if pos < frames {
        synth.render(&mut left[pos..], &mut right[pos..]);
    }
    Ok(Audio {
        sample_rate: SAMPLE_RATE,
        channels: vec![left, right],
    })
}
