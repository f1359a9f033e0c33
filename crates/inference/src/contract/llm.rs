//! The `llm` graph: a conversation or a prompt in, completions out.

use serde::{Deserialize, Serialize};

/// Input: [`Request`] as JSON.
pub const REQUEST: &str = "request";
/// Output: [`Response`] as JSON.
pub const RESULT: &str = "result";
/// Most completions one request may ask for.
pub const MAX_CHOICES: usize = 8;

/// One turn of a conversation.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct Message {
    /// `system`, `user` or `assistant`.
    pub role: String,
    /// What was said.
    pub content: String,
}

impl Message {
    /// A turn by `role`.
    pub fn new(role: &str, content: impl Into<String>) -> Self {
        Self {
            role: role.to_string(),
            content: content.into(),
        }
    }
}

/// A generation request.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Request {
    /// A conversation, rendered with the model's chat template.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub messages: Option<Vec<Message>>,
    /// Raw text, used as is (no template).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
    /// Text the assistant's turn starts with (after the template's generation prompt): the
    /// completion continues it, which steers small models toward a format.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assistant_prefix: Option<String>,
    /// Most new tokens (default 256).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<usize>,
    /// 0 = greedy (default 0.8).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f32>,
    /// Nucleus sampling threshold (default 0.95).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f32>,
    /// Keep the k most likely tokens (default 40; 0 = all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_k: Option<usize>,
    /// Penalty for recently used tokens (default 1.1; 1 = off).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repeat_penalty: Option<f32>,
    /// Seed; the same seed, request and build give the same text. Random when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Strings that end the completion.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stop: Vec<String>,
    /// A completion ends once it has written this many non-empty lines (finish reason
    /// `stop`, the last line's newline left out): no tokens are spent on lines nobody reads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_lines: Option<usize>,
    /// Independent completions sharing one prompt pass (default 1, at most [`MAX_CHOICES`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<usize>,
}

/// Why a completion ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FinishReason {
    /// An end token or a stop string.
    Stop,
    /// The token budget was spent.
    Length,
}

/// One completion.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Choice {
    /// The generated text, without the stop string or end token.
    pub text: String,
    /// Why it ended.
    pub finish_reason: FinishReason,
    /// Tokens generated.
    pub completion_tokens: usize,
}

/// Speed figures for one request.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Timings {
    /// Seconds for the prompt pass.
    pub prompt_seconds: f64,
    /// Seconds generating.
    pub generation_seconds: f64,
    /// Prompt tokens per second.
    pub prompt_tokens_per_second: f64,
    /// Generated tokens per second, all candidates together.
    pub generation_tokens_per_second: f64,
}

/// The graph's result.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Response {
    /// The first completion's text.
    pub text: String,
    /// Why the first completion ended.
    pub finish_reason: FinishReason,
    /// Tokens in the prompt.
    pub prompt_tokens: usize,
    /// Prompt tokens not computed again: the conversation before its last turn, kept from an
    /// earlier request that opened the same way.
    #[serde(default)]
    pub cached_prompt_tokens: usize,
    /// Tokens the first completion generated.
    pub completion_tokens: usize,
    /// The seed used (choice `i` used `seed + i`).
    pub seed: u64,
    /// The model's catalog id.
    pub model: String,
    /// Every completion, first one included.
    pub choices: Vec<Choice>,
    /// Where the time went.
    pub timings: Timings,
}
