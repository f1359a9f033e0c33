//! The `llm` graph: llama-family GGUF models (SmolLM2, Mistral, Llama) on candle's quantized
//! tensors, with the tokenizer and chat template read from the GGUF itself.
//!
//! Contract: input `request`, u8 JSON `{messages: [{role, content}] | prompt, assistant_prefix,
//! max_tokens, temperature, top_p, top_k, repeat_penalty, seed, stop, max_lines, n}`; output
//! `result`, u8 JSON `{text, finish_reason, prompt_tokens, cached_prompt_tokens,
//! completion_tokens, seed, model, choices, timings}`.
//! The model stays loaded; each request owns its key/value cache. Only a conversation's
//! opening turns are kept between requests ([`prefix`]), computed so that a reply is the same
//! whether they were kept or not.

pub mod chat;
pub mod generate;
pub mod model;
pub mod numerics;
pub mod prefix;
pub mod quant;
pub mod sampler;
pub mod tokenizer;

use candle_core::quantized::gguf_file::Content;
use chat::ChatTemplate;
use generate::Generation;
use model::Llama;
use prefix::PrefixCache;
use sampler::SamplingParams;
use songforge_inference::contract::llm;
use songforge_inference::{Device, Engine, EngineError, NamedTensor, Tensor, input};
use std::path::{Path, PathBuf};
use tokenizer::GgufTokenizer;

/// Most candidates one request may ask for.
pub const MAX_CANDIDATES: usize = llm::MAX_CHOICES;
/// Token budget when the request names none.
pub const DEFAULT_MAX_TOKENS: usize = 256;

/// Texts of tokens that end an assistant turn in the common chat formats.
const END_OF_TURN: &[&str] = &[
    "<|im_end|>",
    "<|eot_id|>",
    "<|end_of_text|>",
    "<|endoftext|>",
    "<end_of_turn>",
    "<|end|>",
    "</s>",
];

pub use songforge_inference::contract::llm::{Choice, FinishReason, Request, Response, Timings};

/// A GGUF model loaded for generation.
pub struct LlmEngine {
    model_id: String,
    model: Llama,
    tokenizer: GgufTokenizer,
    template: ChatTemplate,
    end_tokens: Vec<u32>,
    pool: rayon::ThreadPool,
    prefixes: PrefixCache,
}

/// The GGUF file in a model directory: `model.gguf`, else the only `*.gguf` there.
pub fn gguf_path(dir: &Path) -> Result<PathBuf, EngineError> {
    let canonical = dir.join("model.gguf");
    if canonical.is_file() {
        return Ok(canonical);
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| EngineError::Unavailable(format!("{}: {e}", dir.display())))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "gguf"))
        .collect();
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => Err(EngineError::Unavailable(format!(
            "no .gguf file in {}",
            dir.display()
        ))),
        _ => Err(EngineError::Unavailable(format!(
            "several .gguf files in {}; name the one to use model.gguf",
            dir.display()
        ))),
    }
}

impl LlmEngine {
    /// Loads the GGUF in `dir` for `device`, computing on `threads` CPU threads (0: all).
    pub fn load_on(
        model_id: &str,
        dir: &Path,
        device: Device,
        threads: usize,
    ) -> Result<Self, EngineError> {
        let path = gguf_path(dir)?;
        let unavailable = |e: &dyn std::fmt::Display| {
            EngineError::Unavailable(format!("{}: {e}", path.display()))
        };
        let device = match device {
            Device::Cpu => candle_core::Device::Cpu,
            Device::Cuda(i) => candle_core::Device::new_cuda(i).map_err(|e| unavailable(&e))?,
        };
        let mut file = std::fs::File::open(&path).map_err(|e| unavailable(&e))?;
        let content = Content::read(&mut file).map_err(|e| unavailable(&e))?;
        let tokenizer = GgufTokenizer::from_gguf(&content).map_err(|e| unavailable(&e))?;
        let model = Llama::from_gguf(&content, &mut file, &device).map_err(|e| unavailable(&e))?;
        let text_of = |id: Option<u32>| {
            id.and_then(|i| tokenizer.token_text(i))
                .unwrap_or_default()
                .to_string()
        };
        let source = content
            .metadata
            .get("tokenizer.chat_template")
            .and_then(|v| v.to_string().ok())
            .map_or(chat::CHATML, String::as_str);
        let template = ChatTemplate::new(source, &text_of(tokenizer.bos), &text_of(tokenizer.eos))
            .map_err(|e| unavailable(&e))?;
        let mut end_tokens: Vec<u32> = END_OF_TURN
            .iter()
            .filter_map(|t| tokenizer.token_id(t))
            .chain(tokenizer.eos)
            .collect();
        end_tokens.sort_unstable();
        end_tokens.dedup();
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("llm-{i}"))
            .build()
            .map_err(|e| EngineError::Runtime(e.to_string()))?;
        Ok(Self {
            model_id: model_id.to_string(),
            model,
            tokenizer,
            template,
            end_tokens,
            pool,
            prefixes: PrefixCache::default(),
        })
    }

    /// The tokenizer, for tools and tests.
    pub fn tokenizer(&self) -> &GgufTokenizer {
        &self.tokenizer
    }

    /// The chat template, for tools and tests.
    pub fn template(&self) -> &ChatTemplate {
        &self.template
    }

    /// The network, for tools and tests.
    pub fn model(&self) -> &Llama {
        &self.model
    }

    /// Token ids that end a completion.
    pub fn end_tokens(&self) -> &[u32] {
        &self.end_tokens
    }

    /// The prompt text a request stands for.
    pub fn prompt_text(&self, request: &Request) -> Result<String, EngineError> {
        match (&request.messages, &request.prompt) {
            (Some(m), None) if !m.is_empty() => {
                let mut text = self
                    .template
                    .render(m)
                    .map_err(|e| EngineError::InvalidInput(format!("messages: {e}")))?;
                text.push_str(request.assistant_prefix.as_deref().unwrap_or_default());
                Ok(text)
            }
            (None, Some(p)) if !p.is_empty() => Ok(p.clone()),
            (Some(_), Some(_)) => Err(EngineError::InvalidInput(
                "give either `messages` or `prompt`, not both".into(),
            )),
            _ => Err(EngineError::InvalidInput(
                "`messages` (non-empty) or `prompt` is required".into(),
            )),
        }
    }

    /// How many of `prompt`'s leading tokens are the conversation before its last turn, worth
    /// keeping for the next request that opens the same way (0: no such split). Only a split
    /// the tokenizer also makes counts, and the last turn must be two tokens or more.
    fn prefix_len(&self, request: &Request, prompt: &[u32]) -> usize {
        let Some(messages) = request.messages.as_deref().filter(|m| m.len() >= 2) else {
            return 0;
        };
        let Ok(opening) = self
            .template
            .render_turns(&messages[..messages.len() - 1], false)
        else {
            return 0;
        };
        let Ok(tokens) = self.tokenizer.encode(&opening, false) else {
            return 0;
        };
        let fits =
            !tokens.is_empty() && tokens.len() + 2 <= prompt.len() && prompt.starts_with(&tokens);
        if fits { tokens.len() } else { 0 }
    }

    /// Runs one request.
    pub fn run(&self, request: &Request) -> Result<Response, EngineError> {
        self.run_with_tokens(request).map(|(response, _)| response)
    }

    /// Runs one request; also returns each choice's token ids (the end token excluded), which
    /// the contract leaves out, for comparisons with other implementations.
    pub fn run_with_tokens(
        &self,
        request: &Request,
    ) -> Result<(Response, Vec<Vec<u32>>), EngineError> {
        let text = self.prompt_text(request)?;
        let prompt = self
            .tokenizer
            .encode(&text, request.prompt.is_some())
            .map_err(|e| EngineError::InvalidInput(e.to_string()))?;
        let max_tokens = request.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS);
        let context = self.model.config.context;
        if max_tokens == 0 {
            return Err(EngineError::InvalidInput(
                "max_tokens must be at least 1".into(),
            ));
        }
        if prompt.len() + max_tokens > context {
            return Err(EngineError::TooLarge(format!(
                "prompt ({} tokens) plus max_tokens ({max_tokens}) exceed the model's context of {context}",
                prompt.len()
            )));
        }
        let candidates = request.n.unwrap_or(1);
        if !(1..=MAX_CANDIDATES).contains(&candidates) {
            return Err(EngineError::InvalidInput(format!(
                "n must be between 1 and {MAX_CANDIDATES}"
            )));
        }
        let defaults = SamplingParams::default();
        let sampling = SamplingParams {
            temperature: request.temperature.unwrap_or(defaults.temperature),
            top_k: request.top_k.unwrap_or(defaults.top_k),
            top_p: request.top_p.unwrap_or(defaults.top_p),
            repeat_penalty: request.repeat_penalty.unwrap_or(defaults.repeat_penalty),
            repeat_last_n: defaults.repeat_last_n,
        };
        if !(sampling.temperature.is_finite() && sampling.temperature >= 0.0) {
            return Err(EngineError::InvalidInput(
                "temperature must be 0 or more".into(),
            ));
        }
        if !(sampling.top_p > 0.0 && sampling.top_p <= 1.0) {
            return Err(EngineError::InvalidInput("top_p must be in (0, 1]".into()));
        }
        if !(sampling.repeat_penalty.is_finite() && sampling.repeat_penalty > 0.0) {
            return Err(EngineError::InvalidInput(
                "repeat_penalty must be positive".into(),
            ));
        }
        if request.max_lines == Some(0) {
            return Err(EngineError::InvalidInput(
                "max_lines must be at least 1".into(),
            ));
        }
        let seed = request.seed.unwrap_or_else(random_seed);
        let generation = Generation {
            prefix: self.prefix_len(request, &prompt),
            prompt,
            max_tokens,
            sampling,
            seed,
            stop: request.stop.clone(),
            max_lines: request.max_lines,
            candidates,
        };
        let out = self
            .pool
            .install(|| {
                generate::generate(
                    &self.model,
                    &self.tokenizer,
                    &generation,
                    &self.end_tokens,
                    &self.prefixes,
                )
            })
            .map_err(|e| EngineError::Runtime(e.to_string()))?;
        let generated: usize = out.completions.iter().map(|c| c.completion_tokens).sum();
        let first = out.completions[0].clone();
        let prompt_tokens = generation.prompt.len();
        let tokens = out.completions.iter().map(|c| c.tokens.clone()).collect();
        let response = Response {
            text: first.text,
            finish_reason: first.finish_reason,
            prompt_tokens,
            cached_prompt_tokens: out.cached_prompt_tokens,
            completion_tokens: first.completion_tokens,
            seed,
            model: self.model_id.clone(),
            choices: out
                .completions
                .into_iter()
                .map(|c| Choice {
                    text: c.text,
                    finish_reason: c.finish_reason,
                    completion_tokens: c.completion_tokens,
                })
                .collect(),
            timings: Timings {
                prompt_seconds: out.prompt_seconds,
                generation_seconds: out.generation_seconds,
                prompt_tokens_per_second: prompt_tokens as f64 / out.prompt_seconds.max(1e-9),
                generation_tokens_per_second: generated as f64 / out.generation_seconds.max(1e-9),
            },
        };
        Ok((response, tokens))
    }
}

/// A seed from the clock, for requests that do not fix one (the response reports it).
fn random_seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
        .wrapping_mul(0x9e37_79b9_7f4a_7c15)
        >> 11
}

impl Engine for LlmEngine {
    fn model(&self) -> &str {
        &self.model_id
    }

    fn task(&self) -> &str {
        "lyrics"
    }

    fn compute(&self, inputs: Vec<NamedTensor>) -> Result<Vec<NamedTensor>, EngineError> {
        let raw = input(&inputs, llm::REQUEST)?;
        let request: Request = serde_json::from_slice(&raw.data)
            .map_err(|e| EngineError::InvalidInput(format!("request: {e}")))?;
        let response = self.run(&request)?;
        let json = Tensor::json(&response).map_err(|e| EngineError::Runtime(e.to_string()))?;
        Ok(vec![NamedTensor::new(llm::RESULT, json)])
    }
}
