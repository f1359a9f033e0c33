//! The generation loop: one prompt pass shared by every candidate (its opening turns reused
//! from earlier requests when kept), then token by token until an end token, a stop string,
//! the line limit or the token budget.

use crate::model::{Cache, Llama};
use crate::prefix::PrefixCache;
use crate::sampler::{Rng, SamplingParams, sample};
use crate::tokenizer::GgufTokenizer;
use candle_core::{Result, Tensor};
use songforge_inference::contract::llm::FinishReason;
use std::time::Instant;

/// What to generate.
#[derive(Debug, Clone)]
pub struct Generation {
    /// Prompt token ids.
    pub prompt: Vec<u32>,
    /// Most new tokens per candidate.
    pub max_tokens: usize,
    /// Sampling settings.
    pub sampling: SamplingParams,
    /// Candidate `i` draws from `Rng::new(seed + i)`.
    pub seed: u64,
    /// Texts that end a candidate (not included in its text).
    pub stop: Vec<String>,
    /// A candidate ends once it has written this many non-empty lines.
    pub max_lines: Option<usize>,
    /// Independent completions of the same prompt.
    pub candidates: usize,
    /// Leading prompt tokens computed as a pass of their own and kept for later requests
    /// (0: none). At most the prompt's length less two, so the rest is computed as a prompt
    /// pass (a single token would be summed as a generation step and round differently).
    pub prefix: usize,
}

/// One finished completion.
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    /// The generated text, without the stop string or end token.
    pub text: String,
    /// End token or stop string, or the token budget spent.
    pub finish_reason: FinishReason,
    /// Tokens generated.
    pub completion_tokens: usize,
    /// The token ids generated (the end token excluded).
    pub tokens: Vec<u32>,
}

/// Completions plus how long each phase took.
#[derive(Debug, Clone)]
pub struct Output {
    /// One per candidate, in seed order.
    pub completions: Vec<Completion>,
    /// Seconds spent on the prompt pass.
    pub prompt_seconds: f64,
    /// Prompt tokens whose keys and values came from an earlier request.
    pub cached_prompt_tokens: usize,
    /// Seconds spent generating.
    pub generation_seconds: f64,
    /// Forward steps taken after the prompt (each advances every live candidate).
    pub steps: usize,
}

struct Live {
    index: usize,
    rng: Rng,
    tokens: Vec<u32>,
    history: Vec<u32>,
}

/// The prompt pass: the prefix from `prefixes` or computed (and kept), then the rest.
/// Returns the last position's logits, the cache and how many tokens came from `prefixes`.
fn prompt_pass(
    model: &Llama,
    request: &Generation,
    prefixes: &PrefixCache,
) -> Result<(Tensor, Cache, usize)> {
    let capacity = request.prompt.len() + request.max_tokens;
    let split = request.prefix;
    if split == 0 || split + 2 > request.prompt.len() {
        let mut cache = model.cache(1, capacity)?;
        let logits = model.forward(std::slice::from_ref(&request.prompt), &mut cache)?;
        return Ok((logits, cache, 0));
    }
    let (head, rest) = request.prompt.split_at(split);
    let (mut cache, cached) = match prefixes.get(head) {
        Some(kept) => (model.resized(&kept, capacity)?, split),
        None => {
            let mut cache = model.cache(1, capacity)?;
            model.forward(&[head.to_vec()], &mut cache)?;
            prefixes.put(head.to_vec(), model.resized(&cache, split)?);
            (cache, 0)
        }
    };
    let logits = model.forward(&[rest.to_vec()], &mut cache)?;
    Ok((logits, cache, cached))
}

/// Where `text` ends after its `lines`-th non-empty line (the newline excluded).
fn end_of_lines(text: &str, lines: usize) -> Option<usize> {
    let mut seen = 0;
    let mut start = 0;
    for (at, _) in text.match_indices('\n') {
        if !text[start..at].trim().is_empty() {
            seen += 1;
            if seen == lines {
                return Some(at);
            }
        }
        start = at + 1;
    }
    None
}

/// Runs `request` on `model`. `end_tokens` end a candidate when sampled; `prefixes` keeps
/// prompt openings between requests.
pub fn generate(
    model: &Llama,
    tokenizer: &GgufTokenizer,
    request: &Generation,
    end_tokens: &[u32],
    prefixes: &PrefixCache,
) -> Result<Output> {
    let started = Instant::now();
    let n = request.candidates.max(1);
    let (logits, cache, cached_prompt_tokens) = prompt_pass(model, request, prefixes)?;
    let prompt_seconds = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let mut cache = if n > 1 { cache.fork(n)? } else { cache };
    let first: Vec<f32> = logits.squeeze(0)?.to_vec1()?;
    let mut row_logits: Vec<Vec<f32>> = vec![first; n];
    let mut live: Vec<Live> = (0..n)
        .map(|i| Live {
            index: i,
            rng: Rng::new(request.seed.wrapping_add(i as u64)),
            tokens: Vec::new(),
            history: request.prompt.clone(),
        })
        .collect();
    let mut done: Vec<Option<Completion>> = vec![None; n];
    let watch_stops = request.stop.iter().any(|s| !s.is_empty()) || request.max_lines.is_some();
    let mut steps = 0;
    while !live.is_empty() {
        let mut next_tokens = Vec::with_capacity(live.len());
        let mut keep = Vec::with_capacity(live.len());
        for (row, seq) in live.iter_mut().enumerate() {
            let token = sample(
                &mut row_logits[row],
                &seq.history,
                &request.sampling,
                &mut seq.rng,
            );
            let finish = if end_tokens.contains(&token) {
                Some(FinishReason::Stop)
            } else {
                seq.tokens.push(token);
                seq.history.push(token);
                if seq.tokens.len() >= request.max_tokens {
                    Some(FinishReason::Length)
                } else {
                    None
                }
            };
            // Decoding the whole completion is only needed to look for stop strings, or once
            // the candidate has finished.
            let text = if watch_stops || finish.is_some() {
                tokenizer.decode(&seq.tokens, false)
            } else {
                String::new()
            };
            let stop_at = request
                .stop
                .iter()
                .filter(|s| !s.is_empty())
                .filter_map(|s| text.find(s.as_str()))
                .chain(request.max_lines.and_then(|k| end_of_lines(&text, k)))
                .min();
            let ended = match (stop_at, finish) {
                (Some(at), _) => Some((FinishReason::Stop, text[..at].to_string())),
                (None, Some(reason)) => Some((reason, text)),
                (None, None) => None,
            };
            match ended {
                Some((finish_reason, text)) => {
                    done[seq.index] = Some(Completion {
                        text,
                        finish_reason,
                        completion_tokens: seq.tokens.len(),
                        tokens: seq.tokens.clone(),
                    })
                }
                None => {
                    keep.push(row);
                    next_tokens.push(vec![token]);
                }
            }
        }
        if keep.len() < live.len() {
            let mut kept = Vec::with_capacity(keep.len());
            for (row, seq) in live.into_iter().enumerate() {
                if keep.contains(&row) {
                    kept.push(seq);
                }
            }
            live = kept;
            if live.is_empty() {
                break;
            }
            cache.retain(&keep)?;
        }
        let logits = model.forward(&next_tokens, &mut cache)?;
        steps += 1;
        row_logits = rows(&logits)?;
    }
    Ok(Output {
        completions: done
            .into_iter()
            .map(|c| {
                c.unwrap_or(Completion {
                    text: String::new(),
                    finish_reason: FinishReason::Length,
                    completion_tokens: 0,
                    tokens: Vec::new(),
                })
            })
            .collect(),
        prompt_seconds,
        cached_prompt_tokens,
        generation_seconds: started.elapsed().as_secs_f64(),
        steps,
    })
}

fn rows(logits: &Tensor) -> Result<Vec<Vec<f32>>> {
    logits.to_vec2()
}

#[cfg(test)]
mod tests {
    use super::end_of_lines;

    #[test]
    fn lines_are_counted_when_finished_and_blank_ones_skipped() {
        assert_eq!(end_of_lines("one\ntwo\nthr", 2), Some(7));
        assert_eq!(end_of_lines("\none\n  \ntwo\n", 2), Some(11));
        assert_eq!(end_of_lines("one\ntwo", 2), None);
        assert_eq!(end_of_lines("", 1), None);
    }
}
