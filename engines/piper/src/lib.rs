//! The `tts` graph: a Piper VITS voice run by ONNX Runtime.
//!
//! Piper voices are an ONNX file plus a JSON config whose `phoneme_id_map` turns espeak-style
//! IPA symbols into the ids the model was trained on. Guests send IPA (`phonemes`: one list of
//! symbols per utterance) or raw ids; the engine adds the voice's begin, pad and end ids the way
//! Piper does, runs each utterance, and returns them padded into one `audio` tensor with their
//! true lengths in `meta`. One call carries a whole song's syllables, so the wasi-nn round trip
//! is paid once.
//!
//! The VITS noise scales default to zero, which makes a voice deterministic (ONNX Runtime's
//! random ops take no seed from the caller), so an utterance repeated in one call (a chorus
//! sung again) is spoken once.

use serde::Deserialize;
use songforge_inference::contract::tts::{self, Meta, Options};
use songforge_inference::{
    Device, Engine, EngineError, NamedTensor, Tensor, TensorType, input, optional_json,
};
use songforge_onnx::ort;
use songforge_onnx::ort::session::Session;
use songforge_onnx::ort::value::Tensor as OrtTensor;
use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;

/// Longest utterance in phonemes; Piper's positional encodings are not the limit, memory is.
pub const MAX_PHONEMES: usize = 2_000;
/// Most utterances in one call.
pub const MAX_UTTERANCES: usize = 4_096;
/// The ids Piper wraps an utterance in.
const PAD: &str = "_";
const BOS: &str = "^";
const EOS: &str = "$";

/// The parts of a Piper voice config the engine uses.
#[derive(Debug, Clone, Deserialize)]
pub struct VoiceConfig {
    /// Output rate.
    pub audio: AudioConfig,
    /// IPA symbol → ids.
    pub phoneme_id_map: HashMap<String, Vec<i64>>,
    /// Default scales.
    #[serde(default)]
    pub inference: InferenceConfig,
    /// Speakers in a multi-speaker voice.
    #[serde(default)]
    pub num_speakers: u32,
}

/// `audio` of a voice config.
#[derive(Debug, Clone, Deserialize)]
pub struct AudioConfig {
    /// Hz.
    pub sample_rate: u32,
}

/// `inference` of a voice config: the scales the voice was tuned with.
#[derive(Debug, Clone, Deserialize)]
pub struct InferenceConfig {
    /// Variation of the acoustic latent.
    pub noise_scale: f32,
    /// Speaking rate: >1 is slower.
    pub length_scale: f32,
    /// Variation of phoneme durations.
    pub noise_w: f32,
}

impl Default for InferenceConfig {
    fn default() -> Self {
        InferenceConfig {
            noise_scale: 0.667,
            length_scale: 1.0,
            noise_w: 0.8,
        }
    }
}

impl VoiceConfig {
    /// Reads `model.onnx.json`.
    pub fn load(path: &Path) -> Result<Self, EngineError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| EngineError::Unavailable(format!("{}: {e}", path.display())))?;
        serde_json::from_str(&text)
            .map_err(|e| EngineError::Unavailable(format!("{}: {e}", path.display())))
    }

    fn id(&self, symbol: &str) -> Option<i64> {
        self.phoneme_id_map
            .get(symbol)
            .and_then(|ids| ids.first().copied())
    }

    /// Piper's id sequence for IPA symbols: BOS, then each symbol followed by the pad, then
    /// EOS. A symbol of several characters (`aɪ`) is looked up whole first, then per character.
    pub fn encode(&self, symbols: &[String]) -> Result<Vec<i64>, String> {
        let (Some(pad), Some(bos), Some(eos)) = (self.id(PAD), self.id(BOS), self.id(EOS)) else {
            return Err("the voice's phoneme_id_map lacks `_`, `^` or `$`".into());
        };
        let mut ids = vec![bos, pad];
        for symbol in symbols {
            if let Some(id) = self.id(symbol) {
                ids.extend([id, pad]);
                continue;
            }
            for ch in symbol.chars() {
                let id = self
                    .id(ch.encode_utf8(&mut [0; 4]))
                    .ok_or_else(|| format!("phoneme {ch:?} (in {symbol:?}) is not in the voice"))?;
                ids.extend([id, pad]);
            }
        }
        ids.push(eos);
        Ok(ids)
    }
}

/// A loaded voice.
pub struct PiperEngine {
    model: String,
    config: VoiceConfig,
    session: Mutex<Session>,
    has_speaker_input: bool,
}

impl PiperEngine {
    /// Loads `model.onnx` and `model.onnx.json` from `dir`, with ONNX Runtime from `runtime`.
    pub fn load_on(
        model_id: &str,
        dir: &Path,
        runtime: &Path,
        device: Device,
        threads: usize,
    ) -> Result<Self, EngineError> {
        let config = VoiceConfig::load(&dir.join("model.onnx.json"))?;
        let session = songforge_onnx::session(runtime, &dir.join("model.onnx"), device, threads)?;
        let has_speaker_input = session.inputs().iter().any(|i| i.name() == "sid");
        Ok(PiperEngine {
            model: model_id.to_string(),
            config,
            session: Mutex::new(session),
            has_speaker_input,
        })
    }

    /// The voice's sample rate.
    pub fn sample_rate(&self) -> u32 {
        self.config.audio.sample_rate
    }

    /// Speaks one id sequence.
    fn speak_ids(&self, ids: &[i64], options: &Options) -> Result<Vec<f32>, EngineError> {
        let defaults = &self.config.inference;
        // Zero noise by default: deterministic output (see the module doc).
        let scales = [
            options.noise_scale.unwrap_or(0.0),
            options.length_scale.unwrap_or(defaults.length_scale),
            options.noise_w.unwrap_or(0.0),
        ];
        let runtime = |e: &dyn std::fmt::Display| EngineError::Runtime(e.to_string());
        let input =
            OrtTensor::from_array(([1usize, ids.len()], ids.to_vec())).map_err(|e| runtime(&e))?;
        let lengths =
            OrtTensor::from_array(([1usize], vec![ids.len() as i64])).map_err(|e| runtime(&e))?;
        let scales = OrtTensor::from_array(([3usize], scales.to_vec())).map_err(|e| runtime(&e))?;
        let mut session = self
            .session
            .lock()
            .map_err(|_| EngineError::Runtime("the voice session was poisoned".into()))?;
        let outputs = if self.has_speaker_input {
            let speaker = options.speaker.unwrap_or(0);
            if speaker < 0 || speaker >= i64::from(self.config.num_speakers.max(1)) {
                return Err(EngineError::InvalidInput(format!(
                    "options.speaker: {speaker} is not one of the voice's {} speakers",
                    self.config.num_speakers
                )));
            }
            let sid = OrtTensor::from_array(([1usize], vec![speaker])).map_err(|e| runtime(&e))?;
            session.run(ort::inputs![
                "input" => input, "input_lengths" => lengths, "scales" => scales, "sid" => sid
            ])
        } else {
            session.run(ort::inputs![
                "input" => input, "input_lengths" => lengths, "scales" => scales
            ])
        }
        .map_err(|e| runtime(&e))?;
        let (_, audio) = outputs[0]
            .try_extract_tensor::<f32>()
            .map_err(|e| runtime(&e))?;
        Ok(audio.to_vec())
    }
}

/// The utterances of a request: IPA symbol lists (`phonemes`, u8 JSON) or raw ids
/// (`phoneme_ids` i64 [B, T] with optional `lengths` i64 [B]).
fn utterances(config: &VoiceConfig, inputs: &[NamedTensor]) -> Result<Vec<Vec<i64>>, EngineError> {
    let invalid = EngineError::InvalidInput;
    let list = if let Some(t) = inputs.iter().find(|t| t.name == tts::PHONEMES) {
        let lists: tts::Utterances = serde_json::from_slice(&t.tensor.data)
            .map_err(|e| invalid(format!("phonemes: {e}")))?;
        lists
            .iter()
            .enumerate()
            .map(|(i, symbols)| {
                config
                    .encode(symbols)
                    .map_err(|e| invalid(format!("phonemes[{i}]: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?
    } else {
        let t = input(inputs, tts::PHONEME_IDS)?;
        if t.ty != TensorType::I64 || t.dimensions.len() != 2 {
            return Err(invalid(
                "phoneme_ids: expected i64 [utterances, ids]".into(),
            ));
        }
        let (rows, cols) = (t.dimensions[0] as usize, t.dimensions[1] as usize);
        let ids = i64s(&t.data);
        let lengths: Vec<usize> = match inputs.iter().find(|t| t.name == tts::LENGTHS) {
            Some(l) if l.tensor.ty == TensorType::I64 && l.tensor.data.len() == rows * 8 => {
                i64s(&l.tensor.data)
                    .into_iter()
                    .map(|v| v.clamp(0, cols as i64) as usize)
                    .collect()
            }
            Some(_) => return Err(invalid("lengths: expected i64 [utterances]".into())),
            None => vec![cols; rows],
        };
        let symbols = config.phoneme_id_map.len() as i64;
        let mut out = Vec::with_capacity(rows);
        for (row, len) in lengths.iter().enumerate() {
            let utterance = ids[row * cols..row * cols + len].to_vec();
            if let Some(bad) = utterance
                .iter()
                .find(|&&id| id < 0 || id >= symbols.max(256))
            {
                return Err(invalid(format!(
                    "phoneme_ids[{row}]: id {bad} is out of range"
                )));
            }
            out.push(utterance);
        }
        out
    };
    if list.is_empty() {
        return Err(invalid("no utterances to speak".into()));
    }
    if list.len() > MAX_UTTERANCES {
        return Err(EngineError::TooLarge(format!(
            "{} utterances; at most {MAX_UTTERANCES} per call",
            list.len()
        )));
    }
    if let Some((i, u)) = list
        .iter()
        .enumerate()
        .find(|(_, u)| u.len() > MAX_PHONEMES)
    {
        return Err(EngineError::TooLarge(format!(
            "utterance {i} has {} ids; at most {MAX_PHONEMES}",
            u.len()
        )));
    }
    if let Some(i) = list.iter().position(|u| u.len() < 3) {
        return Err(invalid(format!("utterance {i} is empty")));
    }
    Ok(list)
}

/// Little-endian i64 elements of a tensor's bytes.
fn i64s(bytes: &[u8]) -> Vec<i64> {
    bytes
        .chunks_exact(8)
        .map(|b| i64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))
        .collect()
}

impl Engine for PiperEngine {
    fn model(&self) -> &str {
        &self.model
    }

    fn task(&self) -> &str {
        "voice"
    }

    fn compute(&self, inputs: Vec<NamedTensor>) -> Result<Vec<NamedTensor>, EngineError> {
        let options: Options = optional_json(&inputs, tts::OPTIONS)?;
        let list = utterances(&self.config, &inputs)?;
        // With no noise an utterance always sounds the same, so each distinct one is spoken
        // once: a song repeats its chorus and its common words ("I", "the") many times.
        let deterministic =
            options.noise_scale.unwrap_or(0.0) == 0.0 && options.noise_w.unwrap_or(0.0) == 0.0;
        let mut first: HashMap<&[i64], usize> = HashMap::new();
        let mut unique: Vec<Vec<f32>> = Vec::new();
        let mut which = Vec::with_capacity(list.len());
        for ids in &list {
            let index = match first.get(ids.as_slice()) {
                Some(&i) if deterministic => i,
                _ => {
                    unique.push(self.speak_ids(ids, &options)?);
                    first.insert(ids, unique.len() - 1);
                    unique.len() - 1
                }
            };
            which.push(index);
        }
        let spoken: Vec<&Vec<f32>> = which.iter().map(|&i| &unique[i]).collect();
        let lengths: Vec<usize> = spoken.iter().map(|a| a.len()).collect();
        let width = lengths.iter().copied().max().unwrap_or(0);
        let mut padded = vec![0f32; width * spoken.len()];
        for (row, audio) in spoken.iter().enumerate() {
            padded[row * width..row * width + audio.len()].copy_from_slice(audio);
        }
        let audio = Tensor::from_f32(vec![spoken.len() as u32, width as u32], &padded)?;
        let meta = Tensor::json(&Meta {
            sample_rate: self.sample_rate(),
            lengths,
        })
        .map_err(|e| EngineError::Runtime(e.to_string()))?;
        Ok(vec![
            NamedTensor::new(tts::AUDIO, audio),
            NamedTensor::new(tts::META, meta),
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> VoiceConfig {
        serde_json::from_str(
            r#"{"audio": {"sample_rate": 22050},
                "phoneme_id_map": {"_": [0], "^": [1], "$": [2], "a": [14], "ɪ": [74], "h": [20], "aɪ": [99]},
                "num_speakers": 1}"#,
        )
        .unwrap()
    }

    #[test]
    fn ids_are_wrapped_and_padded_like_piper() {
        let c = config();
        assert_eq!(
            c.encode(&["h".into(), "a".into()]).unwrap(),
            vec![1, 0, 20, 0, 14, 0, 2]
        );
        // A whole multi-character symbol wins over its characters.
        assert_eq!(c.encode(&["aɪ".into()]).unwrap(), vec![1, 0, 99, 0, 2]);
    }

    #[test]
    fn unknown_symbols_are_named() {
        let err = config().encode(&["ʒ".into()]).unwrap_err();
        assert!(err.contains("'ʒ'"), "{err}");
    }

    #[test]
    fn raw_id_rows_respect_lengths() {
        let ids: Vec<u8> = [1i64, 0, 14, 0, 2, 1, 0, 20, 0, 14, 0, 2]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let lengths: Vec<u8> = [5i64, 7].iter().flat_map(|v| v.to_le_bytes()).collect();
        let padded: Vec<u8> = ids[..5 * 8]
            .iter()
            .copied()
            .chain([0u8; 16])
            .chain(ids[5 * 8..].iter().copied())
            .collect();
        let inputs = vec![
            NamedTensor::new(
                "phoneme_ids",
                Tensor::new(vec![2, 7], TensorType::I64, padded).unwrap(),
            ),
            NamedTensor::new(
                "lengths",
                Tensor::new(vec![2], TensorType::I64, lengths).unwrap(),
            ),
        ];
        let list = utterances(&config(), &inputs).unwrap();
        assert_eq!(
            list,
            vec![vec![1, 0, 14, 0, 2], vec![1, 0, 20, 0, 14, 0, 2]]
        );
    }
}
