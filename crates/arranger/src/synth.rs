//! The built-in synthesiser: plays an arrangement without a soundfont. Plucked strings by
//! Karplus-Strong (guitars, bass), two-operator FM (pianos, electric piano, bells), band-limited
//! (polyBLEP) saws and squares (pads, strings, leads, brass), and synthesised drums. Plainer
//! than a sampled General MIDI set, but every part is recognisable and in tune.

use crate::compose::{Arrangement, Part, Rng};
use crate::style;
use songforge_audio::Audio;
use std::f32::consts::TAU;

/// Voice families the GM programs map to.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Voice {
    /// Karplus-Strong string; `drive` > 0 adds overdrive.
    Pluck { drive: f32 },
    /// FM: modulator ratio, decay time constant (s).
    Fm { ratio: f32, decay: f32 },
    /// Detuned saws, slow attack, low-passed.
    Pad,
    /// Saw (true) or square lead with a little vibrato.
    Lead { saw: bool },
}

fn voice_for(program: u8) -> Voice {
    match program {
        0..=7 => Voice::Fm {
            ratio: 1.0,
            decay: 1.2,
        },
        8..=15 => Voice::Fm {
            ratio: 3.5,
            decay: 0.6,
        },
        29 | 30 => Voice::Pluck { drive: 4.0 },
        24..=39 | 105..=107 => Voice::Pluck { drive: 0.0 },
        40..=55 | 88..=95 => Voice::Pad,
        80 => Voice::Lead { saw: false },
        56..=87 | 108..=111 => Voice::Lead { saw: true },
        _ => Voice::Pad,
    }
}

/// Stereo position per channel, -1 (left) to 1 (right).
fn pan_for(channel: u8) -> f32 {
    match channel {
        1 => -0.3,
        2 => 0.3,
        3 => 0.2,
        _ => 0.0,
    }
}

fn midi_hz(key: u8) -> f32 {
    440.0 * 2f32.powf((f32::from(key) - 69.0) / 12.0)
}

/// Renders one part.
pub fn render_part(a: &Arrangement, part: Part, sample_rate: u32, frames: usize) -> Audio {
    let sr = sample_rate as f32;
    let mut left = vec![0f32; frames];
    let mut right = vec![0f32; frames];
    let mut rng = Rng::new(a.seed ^ (0xD1B5_4A32_D192_ED03u64.wrapping_mul(part as u64 + 1)));
    let tick_s = a.tick_seconds() as f32;
    let mut buf: Vec<f32> = Vec::new();
    for n in a.notes.iter().filter(|n| n.part == part) {
        let start = (n.start as f32 * tick_s * sr) as usize;
        if start >= frames {
            continue;
        }
        let held = ((n.duration as f32 * tick_s * sr) as usize).max(1);
        let amp = (f32::from(n.velocity) / 127.0).powf(1.6);
        buf.clear();
        if part == Part::Drums {
            drum(&mut buf, n.key, sr, &mut rng);
        } else {
            let program = a
                .channels
                .iter()
                .find(|c| c.channel == n.channel)
                .map_or(0, |c| c.program);
            tone(
                &mut buf,
                voice_for(program),
                midi_hz(n.key),
                held,
                sr,
                &mut rng,
            );
        }
        let pan = if part == Part::Drums {
            match n.key {
                style::HAT | style::PEDAL_HAT | style::OPEN_HAT => 0.25,
                style::RIDE => -0.25,
                _ => 0.0,
            }
        } else {
            pan_for(n.channel)
        };
        // Constant-power pan.
        let angle = (pan + 1.0) * std::f32::consts::FRAC_PI_4;
        let (gl, gr) = (angle.cos() * amp, angle.sin() * amp);
        let end = (start + buf.len()).min(frames);
        for (i, s) in buf[..end - start].iter().enumerate() {
            left[start + i] += s * gl;
            right[start + i] += s * gr;
        }
    }
    Audio {
        sample_rate,
        channels: vec![left, right],
    }
}

/// Polynomial band-limited step correction for a phase in [0, 1).
fn poly_blep(t: f32, dt: f32) -> f32 {
    if t < dt {
        let x = t / dt;
        x + x - x * x - 1.0
    } else if t > 1.0 - dt {
        let x = (t - 1.0) / dt;
        x * x + x + x + 1.0
    } else {
        0.0
    }
}

/// A pitched note: `held` samples of sustain, then its release.
fn tone(out: &mut Vec<f32>, voice: Voice, hz: f32, held: usize, sr: f32, rng: &mut Rng) {
    let release = (0.12 * sr) as usize;
    let total = held + release;
    let rel_gain = |i: usize| {
        if i < held {
            1.0
        } else {
            1.0 - (i - held) as f32 / release as f32
        }
    };
    match voice {
        Voice::Pluck { drive } => {
            let period = (sr / hz).max(2.0);
            let len = period as usize;
            let frac = period - len as f32;
            let mut line: Vec<f32> = (0..len + 1).map(|_| rng.unit() * 2.0 - 1.0).collect();
            // Brighter attack for higher notes, a slower decay for low strings.
            let decay = 0.996f32.powf(hz / 220.0).max(0.97);
            let mut idx = 0;
            let mut prev = 0.0;
            for i in 0..total {
                let a = line[idx];
                let b = line[(idx + 1) % line.len()];
                let s = a + (b - a) * frac;
                let next = decay * 0.5 * (s + prev);
                prev = s;
                line[idx] = next;
                idx = (idx + 1) % line.len();
                let mut y = s;
                if drive > 0.0 {
                    y = (y * drive).tanh() * 0.6;
                }
                out.push(y * 0.8 * rel_gain(i));
            }
        }
        Voice::Fm { ratio, decay } => {
            let (w, wm) = (TAU * hz / sr, TAU * hz * ratio / sr);
            for i in 0..total {
                let t = i as f32 / sr;
                let env = (-t / decay).exp();
                let index = 1.5 * (-t / (decay * 0.3)).exp();
                let s = (w * i as f32 + index * (wm * i as f32).sin()).sin();
                let attack = (t / 0.004).min(1.0);
                out.push(s * env * attack * 0.7 * rel_gain(i));
            }
        }
        Voice::Pad | Voice::Lead { .. } => {
            let pad = voice == Voice::Pad;
            let saw = matches!(voice, Voice::Pad | Voice::Lead { saw: true });
            let attack = if pad { 0.12 * sr } else { 0.015 * sr };
            let detune = if pad { [0.996f32, 1.004] } else { [1.0, 1.0] };
            let mut phases = [rng.unit(), rng.unit()];
            let cutoff = (hz * if pad { 3.0 } else { 5.0 }).min(5000.0);
            let k = 1.0 - (-TAU * cutoff / sr).exp();
            let mut lp = 0.0;
            for i in 0..total {
                let t = i as f32 / sr;
                let vib = if pad {
                    1.0
                } else {
                    1.0 + 0.003 * (TAU * 5.5 * t).sin() * (t / 0.4).min(1.0)
                };
                let mut s = 0.0;
                for (ph, d) in phases.iter_mut().zip(detune) {
                    let dt = hz * d * vib / sr;
                    let v = if saw {
                        2.0 * *ph - 1.0 - poly_blep(*ph, dt)
                    } else {
                        let sq = if *ph < 0.5 { 1.0 } else { -1.0 };
                        sq + poly_blep(*ph, dt) - poly_blep((*ph + 0.5) % 1.0, dt)
                    };
                    s += v * 0.5;
                    *ph = (*ph + dt) % 1.0;
                }
                lp += k * (s - lp);
                let env = (i as f32 / attack).min(1.0);
                out.push(lp * env * 0.5 * rel_gain(i));
            }
        }
    }
}

/// A drum hit by GM percussion key.
fn drum(out: &mut Vec<f32>, key: u8, sr: f32, rng: &mut Rng) {
    let n = |secs: f32| (secs * sr) as usize;
    let mut last = 0.0f32;
    let mut hp_noise = |rng: &mut Rng| {
        let x = rng.unit() * 2.0 - 1.0;
        let y = x - last;
        last = x;
        y * 0.5
    };
    match key {
        style::KICK => {
            let mut phase = 0.0f32;
            for i in 0..n(0.45) {
                let t = i as f32 / sr;
                let f = 45.0 + 75.0 * (-t / 0.035).exp();
                phase += TAU * f / sr;
                let click = if i < n(0.003) { 0.3 } else { 0.0 };
                out.push((phase.sin() + click) * (-t / 0.18).exp());
            }
        }
        style::SNARE | style::SIDE_STICK => {
            let (len, tone_hz, noise_decay) = if key == style::SNARE {
                (0.3, 190.0, 0.09)
            } else {
                (0.08, 800.0, 0.015)
            };
            for i in 0..n(len) {
                let t = i as f32 / sr;
                let body = (TAU * tone_hz * t).sin() * (-t / 0.05).exp() * 0.5;
                out.push(body + hp_noise(rng) * 1.6 * (-t / noise_decay).exp());
            }
        }
        style::CLAP => {
            for i in 0..n(0.25) {
                let t = i as f32 / sr;
                let burst = [0.0f32, 0.01, 0.02]
                    .iter()
                    .map(|b| {
                        if t >= *b {
                            (-(t - b) / 0.012).exp()
                        } else {
                            0.0
                        }
                    })
                    .sum::<f32>()
                    + 0.6 * (-(t - 0.02).max(0.0) / 0.1).exp();
                out.push(hp_noise(rng) * 1.4 * burst.min(1.5));
            }
        }
        style::HAT | style::PEDAL_HAT | style::OPEN_HAT | style::CRASH | style::RIDE => {
            let (len, decay, gain) = match key {
                style::HAT => (0.08, 0.025, 0.7),
                style::PEDAL_HAT => (0.06, 0.018, 0.5),
                style::OPEN_HAT => (0.5, 0.22, 0.6),
                style::CRASH => (2.0, 0.9, 0.7),
                _ => (0.9, 0.35, 0.45),
            };
            let mut prev = 0.0;
            for i in 0..n(len) {
                let t = i as f32 / sr;
                // Second difference: most energy above 5 kHz.
                let x = hp_noise(rng);
                let y = x - prev;
                prev = x;
                let ping = if key == style::RIDE {
                    0.15 * ((TAU * 3100.0 * t).sin() + (TAU * 4550.0 * t).sin())
                } else {
                    0.0
                };
                out.push((y + ping) * gain * (-t / decay).exp());
            }
        }
        _ => {
            // Toms, and anything else: a pitched thump.
            let f0 = match key {
                50 => 160.0,
                48 => 130.0,
                47 => 110.0,
                _ => 90.0,
            };
            let mut phase = 0.0f32;
            for i in 0..n(0.4) {
                let t = i as f32 / sr;
                let f = f0 * (1.0 + 0.5 * (-t / 0.03).exp());
                phase += TAU * f / sr;
                out.push(phase.sin() * (-t / 0.2).exp() * 0.9);
            }
        }
    }
}
