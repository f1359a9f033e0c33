//! The `whisper` graph: speech to text with OpenAI's Whisper on candle.
//!
//! Contract (ARCHITECTURE §4): inputs `audio` f32 `[1, N]` 16 kHz mono and `options` u8 JSON
//! ([`Options`]); output `result` u8 JSON ([`Transcript`]). Loads faster-whisper (CTranslate2
//! `model.bin`) and Hugging Face (`model.safetensors`) checkpoints.

pub mod checkpoint;
pub mod ct2;
pub mod decode;
pub mod mel;
pub mod model;
mod ops;
pub mod tokens;

pub use decode::{Options, Segment, Silence, Skipped, Task, Transcript};

use candle_core::{DType, Device};
use songforge_inference::contract::whisper;
use songforge_inference::{
    Engine, EngineError, NamedTensor, Tensor, TensorType, input, optional_json,
};
use std::path::Path;

/// Longest audio one request may carry (4 hours at 16 kHz); longer is `TooLarge`.
pub const MAX_SAMPLES: usize = 4 * 3600 * mel::SAMPLE_RATE;

/// A loaded Whisper model serving the `whisper` graph.
pub struct WhisperEngine {
    model_id: String,
    model: model::Whisper,
    tokens: tokens::WhisperTokens,
    suppress: checkpoint::SuppressLists,
    pool: rayon::ThreadPool,
    /// `ctranslate2` or `safetensors`.
    pub format: &'static str,
}

impl WhisperEngine {
    /// Loads the model in `dir` onto `device` (f32 on CPU, f16 on CUDA), computing with
    /// `threads` CPU threads (0: one per core).
    pub fn load(
        model_id: &str,
        dir: &Path,
        device: &Device,
        threads: usize,
    ) -> Result<Self, EngineError> {
        let dtype = if device.is_cuda() {
            DType::F16
        } else {
            DType::F32
        };
        let unavailable = |e: String| EngineError::Unavailable(format!("{model_id}: {e}"));
        let ckpt = checkpoint::load(dir, device, dtype).map_err(|e| unavailable(first_line(&e)))?;
        let tokens = tokens::WhisperTokens::load(&dir.join("tokenizer.json"), ckpt.config.vocab)
            .map_err(unavailable)?;
        let model = model::Whisper::new(&ckpt.weights, ckpt.config, device.clone(), dtype)
            .map_err(|e| unavailable(first_line(&e)))?;
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("whisper-{i}"))
            .build()
            .map_err(|e| EngineError::Runtime(e.to_string()))?;
        Ok(Self {
            model_id: model_id.to_string(),
            model,
            tokens,
            suppress: ckpt.suppress,
            pool,
            format: ckpt.format,
        })
    }

    /// [`Self::load`] on a device named the way the host names devices.
    pub fn load_on(
        model_id: &str,
        dir: &Path,
        device: songforge_inference::Device,
        threads: usize,
    ) -> Result<Self, EngineError> {
        let device = match device {
            songforge_inference::Device::Cpu => Device::Cpu,
            songforge_inference::Device::Cuda(i) => Device::new_cuda(i)
                .map_err(|e| EngineError::Unavailable(format!("CUDA device {i}: {e}")))?,
        };
        Self::load(model_id, dir, &device, threads)
    }

    /// Transcribes 16 kHz mono samples.
    pub fn transcribe(&self, audio: &[f32], opts: &Options) -> Result<Transcript, EngineError> {
        if audio.is_empty() {
            return Err(EngineError::InvalidInput("audio is empty".into()));
        }
        if audio.len() > MAX_SAMPLES {
            return Err(EngineError::TooLarge(format!(
                "{:.0} s of audio; the limit is {} s",
                audio.len() as f64 / mel::SAMPLE_RATE as f64,
                MAX_SAMPLES / mel::SAMPLE_RATE
            )));
        }
        if !audio.iter().all(|x| x.is_finite()) {
            return Err(EngineError::InvalidInput(
                "audio holds NaN or infinite samples".into(),
            ));
        }
        if let Some(lang) = &opts.language
            && !self.tokens.languages.iter().any(|(c, _)| c == lang)
        {
            return Err(EngineError::InvalidInput(format!(
                "language `{lang}` is not one this model knows ({})",
                self.languages().join(", ")
            )));
        }
        if opts.task == Task::Translate && !self.tokens.multilingual() {
            return Err(EngineError::InvalidInput(
                "this English-only model cannot translate".into(),
            ));
        }
        let decoder = decode::Decoder {
            model_id: &self.model_id,
            model: &self.model,
            tokens: &self.tokens,
            suppress: &self.suppress,
        };
        self.pool
            .install(|| decoder.run(audio, opts))
            .map_err(|e| EngineError::Runtime(first_line(&e)))
    }

    /// Language codes the model can transcribe.
    pub fn languages(&self) -> Vec<&'static str> {
        self.tokens.languages.iter().map(|(c, _)| *c).collect()
    }
}

impl Engine for WhisperEngine {
    fn model(&self) -> &str {
        &self.model_id
    }

    fn task(&self) -> &str {
        "speech-to-text"
    }

    fn compute(&self, inputs: Vec<NamedTensor>) -> Result<Vec<NamedTensor>, EngineError> {
        let audio = input(&inputs, whisper::AUDIO)?;
        if audio.ty != TensorType::F32 {
            return Err(EngineError::InvalidInput(format!(
                "`audio` must be fp32, got {}",
                audio.ty.name()
            )));
        }
        let samples = audio.to_f32()?;
        let opts: Options = optional_json(&inputs, whisper::OPTIONS)?;
        let transcript = self.transcribe(&samples, &opts)?;
        let json = Tensor::json(&transcript).map_err(|e| EngineError::Runtime(e.to_string()))?;
        Ok(vec![NamedTensor::new(whisper::RESULT, json)])
    }
}

/// An error's message without the backtrace candle appends when `RUST_BACKTRACE` is set.
fn first_line(e: &dyn std::fmt::Display) -> String {
    let s = e.to_string();
    s.lines().next().unwrap_or_default().trim().to_string()
}
