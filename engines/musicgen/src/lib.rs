//! The `musicgen` graph: MusicGen from a Hugging Face checkpoint folder (`config.json`,
//! `model.safetensors`, the T5 `tokenizer.json`), on candle.
//!
//! A prompt goes through the T5 encoder and `enc_to_dec_proj`; the decoder then writes
//! EnCodec codes one position at a time under the delay pattern ([`delay`]), with
//! classifier-free guidance (a second, unconditioned row) and top-k sampling from a seeded
//! SplitMix64, and EnCodec turns the codes into audio. Songs longer than the decoder's
//! window are written in windows that each continue from the last third of the one before.
//!
//! MusicGen Melody checkpoints (`model_type` `musicgen_melody`) also take a `melody`: its
//! chroma ([`chroma`]) and the text are a prefix of the decoder's sequence, and each window
//! follows the melody from the time it starts.
//!
//! Contract: `request` u8 JSON `{prompt, duration_s, seed, guidance, top_k, temperature}`
//! and, for a melody checkpoint, an optional `melody` f32 [channels, N] at 32 kHz →
//! `audio` f32 [channels, N] and `meta` u8 JSON
//! `{sample_rate, frames, windows, codebooks, conditioning}`.

pub mod checkpoint;
pub mod chroma;
mod config;
pub mod decoder;
pub mod delay;
mod generate;
pub mod proj;

pub use config::{AudioConfig, MusicgenConfig};

use candle_core::{DType, Device, Module, Tensor};
use candle_nn::{Linear, VarBuilder};
use candle_transformers::models::{encodec, t5};
use chroma::ChromaSettings;
use config::{DEFAULT_CHROMA_LENGTH, DEFAULT_NUM_CHROMA};
use decoder::Decoder;
use songforge_inference::{Engine, EngineError, NamedTensor, required_json};
use std::path::Path;
use std::sync::Mutex;

/// Longest piece, seconds.
pub const MAX_SECONDS: f64 = 600.0;
/// Longest prompt, tokens.
pub const MAX_PROMPT_TOKENS: usize = 512;
/// Frames a window holds at most (30 s at EnCodec 32 kHz's 50 Hz), as MusicGen was trained.
const WINDOW_FRAMES: usize = 1500;

/// How a melody checkpoint turns chroma into the decoder's prefix.
struct MelodyCondition {
    /// `audio_enc_to_dec_proj` (absent when the chroma is already the decoder's width).
    proj: Option<Linear>,
    num_chroma: usize,
    /// Chroma frames in the prefix.
    length: usize,
    settings: ChromaSettings,
}

use songforge_inference::contract::musicgen;
pub use songforge_inference::contract::musicgen::{Meta, Request};

/// A loaded MusicGen.
pub struct MusicGenEngine {
    model: String,
    device: Device,
    tokenizer: tokenizers::Tokenizer,
    text: Mutex<t5::T5EncoderModel>,
    proj: Option<Linear>,
    /// MusicGen Melody's chroma prefix.
    melody: Option<MelodyCondition>,
    decoder: Decoder,
    codec: encodec::Model,
    audio: AudioConfig,
    /// Frames per window (the decoder's positions allow no more).
    window: usize,
}

fn unavailable(path: &Path, e: impl std::fmt::Display) -> EngineError {
    EngineError::Unavailable(format!("{}: {e}", path.display()))
}

fn runtime(e: candle_core::Error) -> EngineError {
    EngineError::Runtime(e.to_string())
}

impl MusicGenEngine {
    /// Loads `config.json`, `model.safetensors` and `tokenizer.json` from `dir`.
    pub fn load_on(
        model_id: &str,
        dir: &Path,
        device: songforge_inference::Device,
    ) -> Result<Self, EngineError> {
        let device = match device {
            songforge_inference::Device::Cpu => Device::Cpu,
            songforge_inference::Device::Cuda(i) => {
                Device::new_cuda(i).map_err(|e| EngineError::Unavailable(e.to_string()))?
            }
        };
        let config_path = dir.join("config.json");
        let text =
            std::fs::read_to_string(&config_path).map_err(|e| unavailable(&config_path, e))?;
        let cfg: MusicgenConfig =
            serde_json::from_str(&text).map_err(|e| unavailable(&config_path, e))?;
        let is_melody = cfg.is_melody().map_err(|e| unavailable(&config_path, e))?;
        let tokenizer_path = dir.join("tokenizer.json");
        let tokenizer = tokenizers::Tokenizer::from_file(&tokenizer_path)
            .map_err(|e| unavailable(&tokenizer_path, e))?;
        let files = checkpoint::weight_files(dir).map_err(EngineError::Unavailable)?;
        let weights = dir.join("model.safetensors");
        // SAFETY: the files are memory-mapped read-only; the store never rewrites an installed
        // file in place (pulls rename whole directories into place).
        let vb = unsafe { VarBuilder::from_mmaped_safetensors(&files, DType::F32, &device) }
            .map_err(|e| unavailable(&weights, e))?;
        let load = |e: candle_core::Error| unavailable(&weights, e);
        let text_model =
            t5::T5EncoderModel::load(vb.pp("text_encoder"), &cfg.text_encoder).map_err(load)?;
        let proj = if vb.contains_tensor("enc_to_dec_proj.weight") {
            Some(
                candle_nn::linear(
                    cfg.text_encoder.d_model,
                    cfg.decoder.hidden_size,
                    vb.pp("enc_to_dec_proj"),
                )
                .map_err(load)?,
            )
        } else if cfg.text_encoder.d_model == cfg.decoder.hidden_size {
            None
        } else {
            return Err(unavailable(&weights, "enc_to_dec_proj is missing"));
        };
        let melody = if is_melody {
            let num_chroma = cfg.num_chroma.unwrap_or(DEFAULT_NUM_CHROMA);
            let proj = if num_chroma == cfg.decoder.hidden_size {
                None
            } else {
                Some(
                    candle_nn::linear(
                        num_chroma,
                        cfg.decoder.hidden_size,
                        vb.pp("audio_enc_to_dec_proj"),
                    )
                    .map_err(load)?,
                )
            };
            Some(MelodyCondition {
                proj,
                num_chroma,
                length: cfg.chroma_length.unwrap_or(DEFAULT_CHROMA_LENGTH).max(1),
                settings: ChromaSettings {
                    num_chroma,
                    ..ChromaSettings::MUSICGEN_MELODY
                },
            })
        } else {
            None
        };
        // A melody checkpoint's prefix: the chroma frames and at most a prompt's tokens.
        let prefix_room = melody.as_ref().map_or(0, |m| m.length + MAX_PROMPT_TOKENS);
        let decoder =
            Decoder::load(&cfg.decoder, vb.pp("decoder"), !is_melody, prefix_room).map_err(load)?;
        let encodec_cfg = cfg
            .audio_encoder
            .to_encodec()
            .map_err(|e| unavailable(&config_path, e))?;
        let codec = encodec::Model::new(&encodec_cfg, vb.pp("audio_encoder")).map_err(load)?;
        let window = WINDOW_FRAMES.min(
            cfg.decoder
                .max_position_embeddings
                .saturating_sub(cfg.decoder.num_codebooks),
        );
        if window < 3 {
            return Err(unavailable(
                &config_path,
                "the decoder has too few positions",
            ));
        }
        Ok(MusicGenEngine {
            model: model_id.to_string(),
            device,
            tokenizer,
            text: Mutex::new(text_model),
            proj,
            melody,
            decoder,
            codec,
            audio: cfg.audio_encoder,
            window,
        })
    }

    /// EnCodec frames per second.
    pub fn frame_rate(&self) -> f64 {
        self.audio.sampling_rate as f64 / self.audio.hop() as f64
    }

    /// Whether the checkpoint takes a melody (MusicGen Melody).
    pub fn takes_melody(&self) -> bool {
        self.melody.is_some()
    }

    /// The projected text: [rows, S, d], the second row (with guidance) all zeros, as
    /// Hugging Face masks the unconditional stream.
    fn condition(&self, prompt: &str, guided: bool) -> Result<Tensor, EngineError> {
        let encoding = self
            .tokenizer
            .encode(prompt, true)
            .map_err(|e| EngineError::InvalidInput(format!("prompt: {e}")))?;
        let ids = encoding.get_ids();
        if ids.len() > MAX_PROMPT_TOKENS {
            return Err(EngineError::TooLarge(format!(
                "prompt: {} tokens; at most {MAX_PROMPT_TOKENS}",
                ids.len()
            )));
        }
        let ids = Tensor::new(ids, &self.device)
            .and_then(|t| t.unsqueeze(0))
            .map_err(runtime)?;
        let mut text = self
            .text
            .lock()
            .map_err(|_| EngineError::Runtime("the text encoder was poisoned".into()))?;
        let hidden = text.forward(&ids).map_err(runtime)?;
        let hidden = match &self.proj {
            Some(p) => p.forward(&hidden).map_err(runtime)?,
            None => hidden,
        };
        if guided {
            let zeros = hidden.zeros_like().map_err(runtime)?;
            Tensor::cat(&[&hidden, &zeros], 0).map_err(runtime)
        } else {
            Ok(hidden)
        }
    }
}

fn check(request: &Request, vocab: usize) -> Result<(), EngineError> {
    let invalid = |m: String| Err(EngineError::InvalidInput(m));
    if request.prompt.trim().is_empty() {
        return invalid("request.prompt: empty".into());
    }
    if !(request.duration_s.is_finite() && request.duration_s > 0.0) {
        return invalid(format!(
            "request.duration_s: {} is not positive",
            request.duration_s
        ));
    }
    if request.duration_s > MAX_SECONDS {
        return Err(EngineError::TooLarge(format!(
            "request.duration_s: {} s; at most {MAX_SECONDS} s",
            request.duration_s
        )));
    }
    if !(request.guidance.is_finite() && (1.0..=20.0).contains(&request.guidance)) {
        return invalid(format!(
            "request.guidance: {} is not 1..20",
            request.guidance
        ));
    }
    if let Some(k) = request.top_k
        && (k == 0 || k > vocab)
    {
        return invalid(format!("request.top_k: {k} is not 1..{vocab}"));
    }
    if !(request.temperature.is_finite() && (0.0..=5.0).contains(&request.temperature)) {
        return invalid(format!(
            "request.temperature: {} is not 0..5",
            request.temperature
        ));
    }
    Ok(())
}

impl MusicGenEngine {
    /// The optional `melody` input: f32 [N] or [channels, N] at 32 kHz, averaged to mono.
    fn melody_input(&self, inputs: &[NamedTensor]) -> Result<Option<Vec<f32>>, EngineError> {
        let Some(t) = inputs.iter().find(|t| t.name == musicgen::MELODY) else {
            return Ok(None);
        };
        let invalid = |m: String| EngineError::InvalidInput(format!("melody: {m}"));
        let Some(m) = &self.melody else {
            return Err(invalid(format!(
                "`{}` is a text-only MusicGen; a melody needs a MusicGen Melody checkpoint \
                 (`model_type` `musicgen_melody`)",
                self.model
            )));
        };
        let values = t.tensor.to_f32().map_err(|e| invalid(e.to_string()))?;
        let channels = match t.tensor.dimensions.as_slice() {
            [_] => 1,
            [c, _] if *c >= 1 => *c as usize,
            other => {
                return Err(invalid(format!(
                    "dimensions {other:?}; expected [channels, N]"
                )));
            }
        };
        let n = values.len() / channels;
        if n == 0 {
            return Err(invalid("no samples".into()));
        }
        if n as f64 > MAX_SECONDS * m.settings.sample_rate as f64 {
            return Err(EngineError::TooLarge(format!(
                "melody: {:.1} s; at most {MAX_SECONDS} s",
                n as f64 / m.settings.sample_rate as f64
            )));
        }
        if values.iter().any(|v| !v.is_finite()) {
            return Err(invalid("a sample is not finite".into()));
        }
        Ok(Some(
            (0..n)
                .map(|i| (0..channels).map(|c| values[c * n + i]).sum::<f32>() / channels as f32)
                .collect(),
        ))
    }
}

impl Engine for MusicGenEngine {
    fn model(&self) -> &str {
        &self.model
    }

    fn task(&self) -> &str {
        "instrumental"
    }

    fn compute(&self, inputs: Vec<NamedTensor>) -> Result<Vec<NamedTensor>, EngineError> {
        let request: Request = required_json(&inputs, musicgen::REQUEST)?;
        let k_count = self.decoder.config().num_codebooks;
        check(&request, self.decoder.config().vocab_size)?;
        let frames = ((request.duration_s * self.frame_rate()).round() as usize).max(1);
        let melody = self.melody_input(&inputs)?;
        let text = self.condition(&request.prompt, request.guidance > 1.0)?;
        let (codes, windows) = self.codes(&text, melody.as_deref(), frames, &request)?;
        let flat: Vec<u32> = codes.iter().flatten().copied().collect();
        let codes_t =
            Tensor::from_vec(flat, (1, k_count, frames), &self.device).map_err(runtime)?;
        let audio = self.codec.decode(&codes_t).map_err(runtime)?;
        // [1, C, N] → [C, N], trimmed to the frames asked for.
        let audio = audio.squeeze(0).map_err(runtime)?;
        let (channels, n) = audio.dims2().map_err(runtime)?;
        let want = (frames * self.audio.hop()).min(n);
        let samples: Vec<f32> = audio
            .narrow(1, 0, want)
            .and_then(|a| a.to_dtype(DType::F32))
            .and_then(|a| a.flatten_all())
            .and_then(|a| a.to_vec1())
            .map_err(runtime)?;
        let audio =
            songforge_inference::Tensor::from_f32(vec![channels as u32, want as u32], &samples)?;
        let meta = songforge_inference::Tensor::json(&Meta {
            sample_rate: u32::try_from(self.audio.sampling_rate)
                .map_err(|e| EngineError::Runtime(format!("sample rate: {e}")))?,
            frames,
            windows,
            codebooks: k_count,
            conditioning: if melody.is_some() {
                "text+melody"
            } else {
                "text"
            }
            .to_string(),
        })
        .map_err(|e| EngineError::Runtime(e.to_string()))?;
        Ok(vec![
            NamedTensor::new(musicgen::AUDIO, audio),
            NamedTensor::new(musicgen::META, meta),
        ])
    }
}
