//! The tokenizer a GGUF file describes in its own metadata (`tokenizer.ggml.*`), so any
//! standard GGUF works without side files.
//!
//! Two families cover the llama-style models: byte-level BPE with merge ranks (`gpt2`:
//! SmolLM2, Llama 3, Qwen) built on the `tokenizers` crate, and SentencePiece-style BPE with
//! merge scores and byte fallback (`llama`: Mistral, Llama 2), which the metadata describes by
//! scores instead of merges and which is implemented here. Control tokens (`<|im_start|>`,
//! `[INST]`) in the text are recognised as single tokens, as chat templates need.

use candle_core::quantized::gguf_file::{Content, Value};
use std::collections::HashMap;
use tokenizers::models::bpe::BPE;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::digits::Digits;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::{AddedToken, PreTokenizerWrapper, SplitDelimiterBehavior, Tokenizer};

/// GGUF token types (`tokenizer.ggml.token_type`).
const TYPE_CONTROL: i32 = 3;
const TYPE_USER_DEFINED: i32 = 4;
const TYPE_BYTE: i32 = 6;

/// Why a GGUF's tokenizer metadata cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TokenizerError {
    /// A required key is missing or has the wrong type.
    #[error("GGUF tokenizer metadata `{key}`: {problem}")]
    Metadata {
        /// The metadata key.
        key: String,
        /// What is wrong with it.
        problem: String,
    },
    /// The tokenizer model kind is not one this engine implements.
    #[error("GGUF tokenizer model `{0}` is not supported (supported: gpt2, llama)")]
    Unsupported(String),
    /// The `tokenizers` crate refused the vocabulary or merges.
    #[error("cannot build the BPE tokenizer: {0}")]
    Build(String),
}

/// Text ↔ token ids for one model.
pub struct GgufTokenizer {
    tokens: Vec<String>,
    ids: HashMap<String, u32>,
    specials: Vec<(String, u32)>,
    kind: Kind,
    /// Beginning-of-sequence token, prepended when the model asks for it.
    pub bos: Option<u32>,
    /// End-of-sequence token.
    pub eos: Option<u32>,
    /// Whether prompts start with `bos` (`tokenizer.ggml.add_bos_token`).
    pub add_bos: bool,
}

enum Kind {
    ByteBpe(Box<Tokenizer>),
    SentencePiece {
        scores: Vec<f32>,
        byte_tokens: Box<[Option<u32>; 256]>,
        add_space_prefix: bool,
        unknown: Option<u32>,
    },
}

fn meta<'a>(content: &'a Content, key: &str) -> Result<&'a Value, TokenizerError> {
    content
        .metadata
        .get(key)
        .ok_or_else(|| TokenizerError::Metadata {
            key: key.into(),
            problem: "missing".into(),
        })
}

fn bad(key: &str, e: impl std::fmt::Display) -> TokenizerError {
    TokenizerError::Metadata {
        key: key.into(),
        problem: e.to_string(),
    }
}

fn strings(content: &Content, key: &str) -> Result<Vec<String>, TokenizerError> {
    meta(content, key)?
        .to_vec()
        .map_err(|e| bad(key, e))?
        .iter()
        .map(|v| v.to_string().cloned().map_err(|e| bad(key, e)))
        .collect()
}

fn optional_u32(content: &Content, key: &str) -> Option<u32> {
    content.metadata.get(key).and_then(|v| v.to_u32().ok())
}

fn optional_bool(content: &Content, key: &str) -> Option<bool> {
    content.metadata.get(key).and_then(|v| v.to_bool().ok())
}

impl GgufTokenizer {
    /// Builds the tokenizer from a GGUF file's metadata.
    pub fn from_gguf(content: &Content) -> Result<Self, TokenizerError> {
        let model = meta(content, "tokenizer.ggml.model")?
            .to_string()
            .map_err(|e| bad("tokenizer.ggml.model", e))?
            .clone();
        let tokens = strings(content, "tokenizer.ggml.tokens")?;
        let types: Vec<i32> = match content.metadata.get("tokenizer.ggml.token_type") {
            Some(v) => v
                .to_vec()
                .map_err(|e| bad("tokenizer.ggml.token_type", e))?
                .iter()
                .map(|t| t.to_i32().map_err(|e| bad("tokenizer.ggml.token_type", e)))
                .collect::<Result<_, _>>()?,
            None => vec![1; tokens.len()],
        };
        let ids: HashMap<String, u32> = tokens
            .iter()
            .enumerate()
            .map(|(i, t)| (t.clone(), i as u32))
            .collect();
        let specials: Vec<(String, u32)> = tokens
            .iter()
            .zip(&types)
            .enumerate()
            .filter(|(_, (t, ty))| {
                (**ty == TYPE_CONTROL || **ty == TYPE_USER_DEFINED) && !t.is_empty()
            })
            .map(|(i, (t, _))| (t.clone(), i as u32))
            .collect();
        let bos = optional_u32(content, "tokenizer.ggml.bos_token_id");
        let eos = optional_u32(content, "tokenizer.ggml.eos_token_id");
        let (kind, default_bos) = match model.as_str() {
            "gpt2" => {
                let merges: Vec<(String, String)> = strings(content, "tokenizer.ggml.merges")?
                    .into_iter()
                    .map(|m| {
                        m.split_once(' ')
                            .map(|(a, b)| (a.to_string(), b.to_string()))
                            .ok_or_else(|| bad("tokenizer.ggml.merges", format!("entry `{m}`")))
                    })
                    .collect::<Result<_, _>>()?;
                let pre = content
                    .metadata
                    .get("tokenizer.ggml.pre")
                    .and_then(|v| v.to_string().ok())
                    .map_or("default", String::as_str);
                (
                    Kind::ByteBpe(Box::new(byte_bpe(&ids, merges, pre, &specials)?)),
                    false,
                )
            }
            "llama" => {
                let scores: Vec<f32> = match content.metadata.get("tokenizer.ggml.scores") {
                    Some(v) => v
                        .to_vec()
                        .map_err(|e| bad("tokenizer.ggml.scores", e))?
                        .iter()
                        .map(|s| s.to_f32().map_err(|e| bad("tokenizer.ggml.scores", e)))
                        .collect::<Result<_, _>>()?,
                    None => vec![0.0; tokens.len()],
                };
                let mut byte_tokens = Box::new([None; 256]);
                for (i, (t, ty)) in tokens.iter().zip(&types).enumerate() {
                    let byte = t
                        .strip_prefix("<0x")
                        .and_then(|h| h.strip_suffix('>'))
                        .and_then(|h| u8::from_str_radix(h, 16).ok());
                    if let (TYPE_BYTE, Some(b)) = (*ty, byte) {
                        byte_tokens[b as usize] = Some(i as u32);
                    }
                }
                (
                    Kind::SentencePiece {
                        scores,
                        byte_tokens,
                        add_space_prefix: optional_bool(content, "tokenizer.ggml.add_space_prefix")
                            .unwrap_or(true),
                        unknown: optional_u32(content, "tokenizer.ggml.unknown_token_id"),
                    },
                    true,
                )
            }
            other => return Err(TokenizerError::Unsupported(other.to_string())),
        };
        Ok(Self {
            add_bos: optional_bool(content, "tokenizer.ggml.add_bos_token").unwrap_or(default_bos),
            tokens,
            ids,
            specials,
            kind,
            bos,
            eos,
        })
    }

    /// Vocabulary size.
    pub fn vocab_size(&self) -> usize {
        self.tokens.len()
    }

    /// The id of a token's exact text, if the vocabulary has it.
    pub fn token_id(&self, token: &str) -> Option<u32> {
        self.ids.get(token).copied()
    }

    /// The token's text as stored in the vocabulary.
    pub fn token_text(&self, id: u32) -> Option<&str> {
        self.tokens.get(id as usize).map(String::as_str)
    }

    /// Encodes text; control tokens written in the text become their single ids.
    pub fn encode(&self, text: &str, with_bos: bool) -> Result<Vec<u32>, TokenizerError> {
        let mut out = Vec::new();
        if with_bos && self.add_bos {
            out.extend(self.bos);
        }
        match &self.kind {
            Kind::ByteBpe(tok) => {
                let enc = tok
                    .encode(text, false)
                    .map_err(|e| TokenizerError::Build(e.to_string()))?;
                out.extend_from_slice(enc.get_ids());
            }
            Kind::SentencePiece { .. } => {
                let mut first = true;
                for (piece, special) in self.split_specials(text) {
                    match special {
                        Some(id) => out.push(id),
                        None => self.encode_spm(piece, first, &mut out),
                    }
                    first = false;
                }
            }
        }
        Ok(out)
    }

    /// Decodes ids to text; control tokens are kept as their text when `keep_special`.
    pub fn decode(&self, ids: &[u32], keep_special: bool) -> String {
        match &self.kind {
            Kind::ByteBpe(tok) => tok.decode(ids, !keep_special).unwrap_or_default(),
            Kind::SentencePiece {
                byte_tokens,
                add_space_prefix,
                ..
            } => {
                let mut bytes = Vec::new();
                for &id in ids {
                    let Some(text) = self.tokens.get(id as usize) else {
                        continue;
                    };
                    if let Some(b) = byte_tokens.iter().position(|t| *t == Some(id)) {
                        bytes.push(b as u8);
                    } else if self.specials.iter().any(|(_, s)| *s == id) {
                        if keep_special {
                            bytes.extend_from_slice(text.as_bytes());
                        }
                    } else {
                        bytes.extend_from_slice(text.replace('\u{2581}', " ").as_bytes());
                    }
                }
                let text = String::from_utf8_lossy(&bytes).into_owned();
                match (add_space_prefix, text.strip_prefix(' ')) {
                    (true, Some(rest)) => rest.to_string(),
                    _ => text,
                }
            }
        }
    }

    /// Splits text around control tokens, longest match first.
    fn split_specials<'a>(&self, text: &'a str) -> Vec<(&'a str, Option<u32>)> {
        let mut out = Vec::new();
        let mut rest = text;
        'outer: while !rest.is_empty() {
            for (at, _) in rest.char_indices() {
                let tail = &rest[at..];
                if let Some((tok, id)) = self
                    .specials
                    .iter()
                    .filter(|(t, _)| tail.starts_with(t.as_str()))
                    .max_by_key(|(t, _)| t.len())
                {
                    if at > 0 {
                        out.push((&rest[..at], None));
                    }
                    out.push((&tail[..tok.len()], Some(*id)));
                    rest = &tail[tok.len()..];
                    continue 'outer;
                }
            }
            out.push((rest, None));
            break;
        }
        out
    }

    /// SentencePiece BPE: start from characters, merge the adjacent pair whose joined text
    /// has the best score until none is in the vocabulary; unknown characters fall back to
    /// byte tokens.
    fn encode_spm(&self, text: &str, first: bool, out: &mut Vec<u32>) {
        let Kind::SentencePiece {
            scores,
            byte_tokens,
            add_space_prefix,
            unknown,
        } = &self.kind
        else {
            return;
        };
        let mut normalized = String::with_capacity(text.len() + 3);
        if first && *add_space_prefix && !text.starts_with(' ') {
            normalized.push('\u{2581}');
        }
        normalized.extend(text.chars().map(|c| if c == ' ' { '\u{2581}' } else { c }));
        let mut symbols: Vec<String> = normalized.chars().map(String::from).collect();
        loop {
            let mut best: Option<(usize, f32)> = None;
            for i in 0..symbols.len().saturating_sub(1) {
                let joined = format!("{}{}", symbols[i], symbols[i + 1]);
                if let Some(&id) = self.ids.get(&joined) {
                    let score = scores.get(id as usize).copied().unwrap_or(0.0);
                    if best.is_none_or(|(_, s)| score > s) {
                        best = Some((i, score));
                    }
                }
            }
            let Some((i, _)) = best else { break };
            let right = symbols.remove(i + 1);
            symbols[i].push_str(&right);
        }
        for s in symbols {
            match self.ids.get(&s) {
                Some(&id) => out.push(id),
                None => {
                    for b in s.bytes() {
                        if let Some(id) = byte_tokens[b as usize].or(*unknown) {
                            out.push(id);
                        }
                    }
                }
            }
        }
    }
}

/// Byte-level BPE with the pre-tokenizer `tokenizer.ggml.pre` names.
fn byte_bpe(
    ids: &HashMap<String, u32>,
    merges: Vec<(String, String)>,
    pre: &str,
    specials: &[(String, u32)],
) -> Result<Tokenizer, TokenizerError> {
    let vocab: tokenizers::models::bpe::Vocab = ids.iter().map(|(k, v)| (k.clone(), *v)).collect();
    let bpe = BPE::builder()
        .vocab_and_merges(vocab, merges)
        .build()
        .map_err(|e| TokenizerError::Build(e.to_string()))?;
    let mut tokenizer = Tokenizer::new(bpe);
    let split = |regex: &str| -> Result<PreTokenizerWrapper, TokenizerError> {
        Ok(Split::new(
            SplitPattern::Regex(regex.to_string()),
            SplitDelimiterBehavior::Isolated,
            false,
        )
        .map_err(|e| TokenizerError::Build(e.to_string()))?
        .into())
    };
    // Llama 3 and Qwen 2 split words, numbers (up to three digits, or one) and punctuation
    // before byte-level mapping; GPT-2-style models let ByteLevel's own regex split.
    const LLAMA3: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
    const QWEN2: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
    let pre_tokenizer: PreTokenizerWrapper = match pre {
        "llama-bpe" | "llama3" | "smaug-bpe" => Sequence::new(vec![
            split(LLAMA3)?,
            ByteLevel::new(false, true, false).into(),
        ])
        .into(),
        "qwen2" => Sequence::new(vec![
            split(QWEN2)?,
            ByteLevel::new(false, true, false).into(),
        ])
        .into(),
        // SmolLM splits every digit on its own, then GPT-2's regex.
        "smollm" => Sequence::new(vec![
            Digits::new(true).into(),
            ByteLevel::new(false, true, true).into(),
        ])
        .into(),
        _ => ByteLevel::new(false, true, true).into(),
    };
    tokenizer.with_pre_tokenizer(Some(pre_tokenizer));
    tokenizer.with_decoder(Some(ByteLevel::new(false, true, true)));
    let added: Vec<AddedToken> = specials
        .iter()
        .map(|(t, _)| AddedToken::from(t.clone(), true))
        .collect();
    tokenizer.add_special_tokens(&added);
    Ok(tokenizer)
}
