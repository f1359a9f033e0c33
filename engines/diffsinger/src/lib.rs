//! The `singer` graph: an OpenUtau-format DiffSinger voicebank singing a score.
//!
//! Guests send notes (`notes`: u8 JSON `[{phonemes, midi, start_s, dur_s}]`, phonemes in
//! ARPAbet or the bank's own symbols) and optional `options`. The engine places the phones on
//! the timeline ([`score`]), renders each phrase between rests with the acoustic model
//! (tokens, durations, f0 → mel) and the vocoder (mel, f0 → waveform), and returns the whole
//! vocal as `audio` f32 [1, N] aligned to time 0, with `meta` (sample rate, phones as sung,
//! speaker). Inputs a model declares beyond those (speaker embedding, language, gender,
//! velocity, variance curves) are filled from the bank or with neutral values, and `meta`
//! says which were neutral.

pub mod score;
#[cfg(feature = "test-support")]
pub mod test_support;
pub mod voicebank;

use score::{Phone, PitchStyle, SungNote};
use songforge_inference::contract::singer::{self, Meta, Options};
use songforge_inference::{
    Device, Engine, EngineError, NamedTensor, Tensor, optional_json, required_json,
};
use songforge_onnx::ort::session::Session;
use songforge_onnx::ort::value::{DynValue, Tensor as OrtTensor, TensorElementType, ValueType};
use songforge_onnx::runtime_error;
use std::path::Path;
use std::sync::Mutex;
use voicebank::Voicebank;

/// Most notes in one call.
pub const MAX_NOTES: usize = 8_192;
/// Longest song, seconds.
pub const MAX_SECONDS: f64 = 900.0;
/// Longest note, seconds.
pub const MAX_NOTE_S: f64 = 30.0;
/// Vowels of ARPAbet, for banks whose dictionary marks none.
const ARPABET_VOWELS: &[&str] = &[
    "aa", "ae", "ah", "ao", "aw", "ax", "ay", "eh", "er", "ey", "ih", "iy", "ow", "oy", "uh", "uw",
];

/// Neutral variance curves (DiffSinger's dB scales) for banks whose acoustic model wants
/// them when no variance model is run: sung level on phones, the floor in silence.
const NEUTRAL_ENERGY_DB: f32 = -24.0;
const NEUTRAL_BREATHINESS_DB: f32 = -60.0;
const NEUTRAL_VOICING_DB: f32 = -18.0;
const SILENT_DB: f32 = -96.0;

/// What the acoustic model is fed, by input name.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Feed {
    Tokens,
    Durations,
    F0,
    Speedup,
    Depth,
    Steps,
    Languages,
    SpeakerEmbedding,
    Gender,
    Velocity,
    Energy,
    Breathiness,
    Voicing,
    Tension,
}

impl Feed {
    fn of(name: &str) -> Option<Feed> {
        Some(match name {
            "tokens" => Feed::Tokens,
            "durations" => Feed::Durations,
            "f0" => Feed::F0,
            "speedup" => Feed::Speedup,
            "depth" => Feed::Depth,
            "steps" => Feed::Steps,
            "languages" => Feed::Languages,
            "spk_embed" => Feed::SpeakerEmbedding,
            "gender" => Feed::Gender,
            "velocity" => Feed::Velocity,
            "energy" => Feed::Energy,
            "breathiness" => Feed::Breathiness,
            "voicing" => Feed::Voicing,
            "tension" => Feed::Tension,
            _ => return None,
        })
    }

    fn is_variance(self) -> bool {
        matches!(
            self,
            Feed::Energy | Feed::Breathiness | Feed::Voicing | Feed::Tension
        )
    }
}

/// An acoustic input: what goes in, its element type and whether it is a scalar.
#[derive(Debug, Clone)]
struct AcousticInput {
    name: String,
    feed: Feed,
    float: bool,
    scalar: bool,
}

/// A loaded voicebank.
pub struct DiffSingerEngine {
    model: String,
    bank: Voicebank,
    acoustic: Mutex<Session>,
    vocoder: Mutex<Session>,
    inputs: Vec<AcousticInput>,
}

fn is_float(ty: &ValueType) -> bool {
    ty.tensor_type() == Some(TensorElementType::Float32)
}

impl DiffSingerEngine {
    /// Opens the voicebank at `dir` and its two models, with ONNX Runtime from `runtime`.
    pub fn load_on(
        model_id: &str,
        dir: &Path,
        runtime: &Path,
        device: Device,
        threads: usize,
    ) -> Result<Self, EngineError> {
        let bank = Voicebank::open(dir, None)?;
        let acoustic = songforge_onnx::session(runtime, &bank.acoustic_path, device, threads)?;
        let vocoder = songforge_onnx::session(runtime, &bank.vocoder_path, device, threads)?;
        let mut inputs = Vec::new();
        for i in acoustic.inputs() {
            let feed = Feed::of(i.name()).ok_or_else(|| {
                EngineError::Unavailable(format!(
                    "{}: acoustic input `{}` is not one this engine can feed",
                    bank.acoustic_path.display(),
                    i.name()
                ))
            })?;
            inputs.push(AcousticInput {
                name: i.name().to_string(),
                feed,
                float: is_float(i.dtype()),
                scalar: i.dtype().tensor_shape().is_some_and(|s| s.is_empty()),
            });
        }
        for needed in [Feed::Tokens, Feed::Durations, Feed::F0] {
            if !inputs.iter().any(|i| i.feed == needed) {
                return Err(EngineError::Unavailable(format!(
                    "{}: the acoustic model lacks the `{needed:?}` input",
                    bank.acoustic_path.display()
                )));
            }
        }
        if inputs.iter().any(|i| i.feed == Feed::SpeakerEmbedding) && bank.speakers.is_empty() {
            return Err(EngineError::Unavailable(format!(
                "{}: the acoustic model takes a speaker embedding but dsconfig.yaml lists no speakers",
                bank.acoustic_path.display()
            )));
        }
        let names: Vec<&str> = vocoder.inputs().iter().map(|i| i.name()).collect();
        if !names.contains(&"mel") || !names.contains(&"f0") {
            return Err(EngineError::Unavailable(format!(
                "{}: a DiffSinger vocoder takes `mel` and `f0`, this one takes {names:?}",
                bank.vocoder_path.display()
            )));
        }
        Ok(DiffSingerEngine {
            model: model_id.to_string(),
            bank,
            acoustic: Mutex::new(acoustic),
            vocoder: Mutex::new(vocoder),
            inputs,
        })
    }

    /// The voicebank's sample rate.
    pub fn sample_rate(&self) -> u32 {
        self.bank.config.sample_rate
    }

    /// The bank's symbol for a phoneme: its replacement, the symbol itself, lower case without
    /// stress digits, or with the `en/` prefix of multilingual banks.
    fn phone(&self, phoneme: &str) -> Option<Phone> {
        let plain = phoneme
            .trim_end_matches(|c: char| c.is_ascii_digit())
            .to_ascii_lowercase();
        let candidates = [
            self.bank.replacements.get(phoneme).cloned(),
            self.bank.replacements.get(&plain).cloned(),
            Some(phoneme.to_string()),
            Some(plain.clone()),
            Some(format!("en/{plain}")),
        ];
        let symbol = candidates
            .into_iter()
            .flatten()
            .find(|c| self.bank.phonemes.contains_key(c))?;
        let vowel = if self.bank.vowels.is_empty() {
            let bare = symbol.rsplit('/').next().unwrap_or(&symbol);
            ARPABET_VOWELS.contains(&bare) || ARPABET_VOWELS.contains(&plain.as_str())
        } else {
            self.bank.vowels.contains(&symbol)
        };
        Some(Phone { symbol, vowel })
    }

    fn speaker(&self, options: &Options) -> Result<Option<&voicebank::Speaker>, EngineError> {
        match &options.speaker {
            None => Ok(self.bank.speakers.first()),
            Some(name) => self
                .bank
                .speakers
                .iter()
                .find(|s| &s.name == name)
                .map(Some)
                .ok_or_else(|| {
                    let known: Vec<&str> =
                        self.bank.speakers.iter().map(|s| s.name.as_str()).collect();
                    EngineError::InvalidInput(format!(
                        "options.speaker: `{name}` is not one of the voicebank's speakers ({})",
                        known.join(", ")
                    ))
                }),
        }
    }

    /// Renders one phrase to samples.
    fn render(
        &self,
        phrase: &score::Phrase,
        options: &Options,
        speaker: Option<&voicebank::Speaker>,
    ) -> Result<Vec<f32>, EngineError> {
        let frames = phrase.frames();
        let tokens: Vec<i64> = phrase
            .symbols
            .iter()
            .map(|s| self.bank.phonemes.get(s).copied().unwrap_or(0))
            .collect();
        let n = tokens.len();
        // Per-frame mask: is a phone (not silence) sounding?
        let mut sounding = Vec::with_capacity(frames);
        for (s, &d) in phrase.symbols.iter().zip(&phrase.durations) {
            sounding.extend(std::iter::repeat_n(s != score::SILENCE, d as usize));
        }
        let curve = |on: f32, off: f32| -> Vec<f32> {
            sounding.iter().map(|&s| if s { on } else { off }).collect()
        };
        let speedup = options.speedup.unwrap_or(50).max(1);
        let depth = {
            let d = options.depth.unwrap_or(1000);
            let d = if self.bank.config.use_shallow_diffusion && self.bank.config.max_depth >= 0 {
                d.min(self.bank.config.max_depth)
            } else {
                d
            };
            (d / speedup * speedup).max(speedup)
        };
        let language = options.language.as_deref().unwrap_or("en");
        let language_id = self.bank.languages.get(language).copied().unwrap_or(0);
        let err = runtime_error;
        let mut feeds: Vec<(String, DynValue)> = Vec::with_capacity(self.inputs.len());
        for input in &self.inputs {
            let scalar = |v: f64| -> Result<DynValue, EngineError> {
                let shape: Vec<usize> = if input.scalar { vec![] } else { vec![1] };
                Ok(if input.float {
                    OrtTensor::from_array((shape, vec![v as f32]))
                        .map_err(err)?
                        .into_dyn()
                } else {
                    OrtTensor::from_array((shape, vec![v as i64]))
                        .map_err(err)?
                        .into_dyn()
                })
            };
            let frames_f32 = |v: Vec<f32>| -> Result<DynValue, EngineError> {
                Ok(OrtTensor::from_array(([1usize, frames], v))
                    .map_err(err)?
                    .into_dyn())
            };
            let value = match input.feed {
                Feed::Tokens => OrtTensor::from_array(([1usize, n], tokens.clone()))
                    .map_err(err)?
                    .into_dyn(),
                Feed::Durations => OrtTensor::from_array(([1usize, n], phrase.durations.clone()))
                    .map_err(err)?
                    .into_dyn(),
                Feed::Languages => OrtTensor::from_array(([1usize, n], vec![language_id; n]))
                    .map_err(err)?
                    .into_dyn(),
                Feed::F0 => frames_f32(phrase.f0.clone())?,
                Feed::Speedup => scalar(speedup as f64)?,
                Feed::Depth => scalar(depth as f64)?,
                Feed::Steps => scalar(options.steps.unwrap_or(20).clamp(1, 1000) as f64)?,
                Feed::SpeakerEmbedding => {
                    let e = speaker.map(|s| s.embedding.as_slice()).unwrap_or(&[]);
                    let width = e.len();
                    let data: Vec<f32> = (0..frames).flat_map(|_| e.iter().copied()).collect();
                    OrtTensor::from_array(([1usize, frames, width], data))
                        .map_err(err)?
                        .into_dyn()
                }
                Feed::Gender => frames_f32(vec![options.gender.unwrap_or(0.0); frames])?,
                Feed::Velocity => frames_f32(vec![options.velocity.unwrap_or(1.0); frames])?,
                Feed::Energy => frames_f32(curve(NEUTRAL_ENERGY_DB, SILENT_DB))?,
                Feed::Breathiness => frames_f32(curve(NEUTRAL_BREATHINESS_DB, SILENT_DB))?,
                Feed::Voicing => frames_f32(curve(NEUTRAL_VOICING_DB, SILENT_DB))?,
                Feed::Tension => frames_f32(vec![0.0; frames])?,
            };
            feeds.push((input.name.clone(), value));
        }
        let mel = {
            let mut acoustic = self
                .acoustic
                .lock()
                .map_err(|_| EngineError::Runtime("the acoustic session was poisoned".into()))?;
            let outputs = acoustic.run(feeds).map_err(err)?;
            let (shape, mel) = outputs[0].try_extract_tensor::<f32>().map_err(err)?;
            (shape.to_vec(), mel.to_vec())
        };
        let (mel_shape, mel) = mel;
        if mel_shape.len() != 3 || mel_shape[1] as usize != frames {
            return Err(EngineError::Runtime(format!(
                "the acoustic model returned mel {mel_shape:?} for {frames} frames"
            )));
        }
        let dims: Vec<usize> = mel_shape.iter().map(|&d| d as usize).collect();
        let mel = OrtTensor::from_array((dims, mel)).map_err(err)?;
        let f0 = OrtTensor::from_array(([1usize, frames], phrase.f0.clone())).map_err(err)?;
        let mut vocoder = self
            .vocoder
            .lock()
            .map_err(|_| EngineError::Runtime("the vocoder session was poisoned".into()))?;
        let outputs = vocoder
            .run(songforge_onnx::ort::inputs!["mel" => mel, "f0" => f0])
            .map_err(err)?;
        let (shape, wave) = outputs[0].try_extract_tensor::<f32>().map_err(err)?;
        if shape.len() != 2 || shape[0] != 1 {
            return Err(EngineError::Runtime(format!(
                "the vocoder returned shape {:?}; expected [1, samples]",
                shape.to_vec()
            )));
        }
        Ok(wave.to_vec())
    }
}

/// Checks the notes a guest sent.
fn check(notes: &[SungNote]) -> Result<(), EngineError> {
    let invalid = EngineError::InvalidInput;
    if notes.is_empty() {
        return Err(invalid("notes: no notes to sing".into()));
    }
    if notes.len() > MAX_NOTES {
        return Err(EngineError::TooLarge(format!(
            "notes: {} notes; at most {MAX_NOTES} per call",
            notes.len()
        )));
    }
    for (i, n) in notes.iter().enumerate() {
        if !(n.midi.is_finite() && (0.0..=127.0).contains(&n.midi)) {
            return Err(invalid(format!(
                "notes[{i}].midi: {} is not 0..127",
                n.midi
            )));
        }
        if !(n.start_s.is_finite() && n.start_s >= 0.0) {
            return Err(invalid(format!("notes[{i}].start_s: must be ≥ 0")));
        }
        if !(n.dur_s.is_finite() && n.dur_s > 0.0 && n.dur_s <= MAX_NOTE_S) {
            return Err(invalid(format!(
                "notes[{i}].dur_s: must be above 0 and at most {MAX_NOTE_S} s"
            )));
        }
        if n.phonemes.is_empty() {
            return Err(invalid(format!("notes[{i}].phonemes: empty")));
        }
        if let Some(prev) = i.checked_sub(1).map(|p| &notes[p])
            && n.start_s < prev.start_s + prev.dur_s - 1e-3
        {
            return Err(invalid(format!(
                "notes[{i}].start_s: overlaps the note before (notes must be in order, one at a time)"
            )));
        }
    }
    let end = notes.last().map_or(0.0, |n| n.start_s + n.dur_s);
    if end > MAX_SECONDS {
        return Err(EngineError::TooLarge(format!(
            "notes: the song runs {end:.0} s; at most {MAX_SECONDS} s"
        )));
    }
    Ok(())
}

impl Engine for DiffSingerEngine {
    fn model(&self) -> &str {
        &self.model
    }

    fn task(&self) -> &str {
        "singing-voice"
    }

    fn compute(&self, inputs: Vec<NamedTensor>) -> Result<Vec<NamedTensor>, EngineError> {
        let options: Options = optional_json(&inputs, singer::OPTIONS)?;
        let notes: Vec<SungNote> = required_json(&inputs, singer::NOTES)?;
        check(&notes)?;
        let phones = notes
            .iter()
            .enumerate()
            .map(|(i, n)| {
                n.phonemes
                    .iter()
                    .map(|p| {
                        self.phone(p).ok_or_else(|| {
                            EngineError::InvalidInput(format!(
                                "notes[{i}].phonemes: `{p}` is not in voicebank {}'s phoneme set",
                                self.bank.name
                            ))
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()
            })
            .collect::<Result<Vec<_>, _>>()?;
        let style = PitchStyle {
            vibrato_st: options.vibrato_semitones.unwrap_or(0.2).clamp(0.0, 2.0),
            vibrato_hz: options.vibrato_hz.unwrap_or(5.5).clamp(0.1, 12.0),
            glide_s: options.glide_s.unwrap_or(0.08).clamp(0.0, 0.5),
        };
        let speaker = self.speaker(&options)?;
        let placed = score::place(&notes, &phones);
        let phrases = score::phrases(&notes, &placed, self.bank.frame_s(), style);
        let rate = f64::from(self.sample_rate());
        let last = notes.last().map_or(0.0, |n| n.start_s + n.dur_s) + score::TAIL_S;
        let duration = match options.duration_s {
            Some(d) if d.is_finite() && d > 0.0 && d <= MAX_SECONDS => d,
            Some(d) => {
                return Err(EngineError::InvalidInput(format!(
                    "options.duration_s: {d} is not 0..{MAX_SECONDS}"
                )));
            }
            None => last,
        };
        let mut out = vec![0f32; (duration * rate).round() as usize];
        for phrase in &phrases {
            let wave = self.render(phrase, &options, speaker)?;
            let at = (phrase.origin_s * rate).round() as i64;
            for (k, s) in wave.iter().enumerate() {
                let i = at + k as i64;
                if i >= 0
                    && let Some(o) = out.get_mut(i as usize)
                {
                    *o += s;
                }
            }
        }
        let neutral_inputs = self
            .inputs
            .iter()
            .filter(|i| {
                i.feed.is_variance() || (i.feed == Feed::Gender && options.gender.is_none())
            })
            .map(|i| i.name.clone())
            .collect();
        let meta = Meta {
            sample_rate: self.sample_rate(),
            voicebank: self.bank.name.clone(),
            speaker: speaker.map(|s| s.name.clone()),
            phrases: phrases.len(),
            frames: phrases.iter().map(score::Phrase::frames).sum(),
            neutral_inputs,
            phones: placed.into_iter().flatten().collect(),
        };
        let audio = Tensor::from_f32(vec![1, out.len() as u32], &out)?;
        let meta = Tensor::json(&meta).map_err(|e| EngineError::Runtime(e.to_string()))?;
        Ok(vec![
            NamedTensor::new(singer::AUDIO, audio),
            NamedTensor::new(singer::META, meta),
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn note(start_s: f64, dur_s: f64) -> SungNote {
        SungNote {
            phonemes: vec!["AA1".into()],
            midi: 60.0,
            start_s,
            dur_s,
        }
    }

    #[test]
    fn bad_notes_are_named() {
        let e = check(&[note(0.0, 1.0), note(0.5, 1.0)]).unwrap_err();
        assert!(e.to_string().contains("notes[1].start_s"), "{e}");
        let e = check(&[note(0.0, -1.0)]).unwrap_err();
        assert!(e.to_string().contains("notes[0].dur_s"), "{e}");
        assert!(matches!(
            check(&[note(1000.0, 1.0)]),
            Err(EngineError::TooLarge(_))
        ));
        assert!(check(&[note(0.0, 1.0), note(1.0, 1.0)]).is_ok());
    }
}
