//! Picks the next token from the logits: the repetition penalty here, then temperature, top-k,
//! top-p and a draw from a seeded generator in the sampler shared with MusicGen
//! (`songforge_rng::sample`), so a seed reproduces a completion on the same build.

pub use songforge_rng::Rng;
pub use songforge_rng::sample::argmax;
use songforge_rng::sample::{Greedy, Sampler, TemperatureAt};

/// Sampling settings for one completion.
#[derive(Debug, Clone, PartialEq)]
pub struct SamplingParams {
    /// 0 picks the most likely token (greedy).
    pub temperature: f32,
    /// Keep only the k most likely tokens (0: all).
    pub top_k: usize,
    /// Keep the smallest set whose probability reaches p (1: all).
    pub top_p: f32,
    /// Divides positive logits (multiplies negative ones) of recently seen tokens; 1: off.
    pub repeat_penalty: f32,
    /// How many recent tokens the penalty looks at.
    pub repeat_last_n: usize,
}

impl Default for SamplingParams {
    fn default() -> Self {
        Self {
            temperature: 0.8,
            top_k: 40,
            top_p: 0.95,
            repeat_penalty: 1.1,
            repeat_last_n: 64,
        }
    }
}

impl SamplingParams {
    /// The shared draw as this engine has always made it: temperature on the logits, greedy
    /// decided from the settings, as llama.cpp does.
    fn sampler(&self) -> Sampler {
        Sampler {
            temperature: self.temperature,
            top_k: self.top_k,
            top_p: self.top_p,
            temperature_at: TemperatureAt::Logits,
            greedy: Greedy::FromSettings,
        }
    }
}

/// Chooses a token from `logits` (modified in place) given the tokens produced so far.
pub fn sample(logits: &mut [f32], history: &[u32], params: &SamplingParams, rng: &mut Rng) -> u32 {
    penalize_repeats(logits, history, params);
    params.sampler().draw(logits, rng)
}

/// Demotes the tokens of the last `repeat_last_n`, each once however often it was seen.
fn penalize_repeats(logits: &mut [f32], history: &[u32], params: &SamplingParams) {
    if params.repeat_penalty != 1.0 && params.repeat_penalty > 0.0 {
        let start = history.len().saturating_sub(params.repeat_last_n);
        let mut seen: Vec<u32> = history[start..].to_vec();
        seen.sort_unstable();
        seen.dedup();
        for t in seen {
            if let Some(l) = logits.get_mut(t as usize) {
                *l = if *l > 0.0 {
                    *l / params.repeat_penalty
                } else {
                    *l * params.repeat_penalty
                };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greedy_takes_the_maximum() {
        let mut l = vec![0.1, 2.0, 1.9];
        let p = SamplingParams {
            temperature: 0.0,
            repeat_penalty: 1.0,
            ..Default::default()
        };
        assert_eq!(sample(&mut l, &[], &p, &mut Rng::new(1)), 1);
    }

    #[test]
    fn repeat_penalty_demotes_seen_tokens() {
        let p = SamplingParams {
            temperature: 0.0,
            repeat_penalty: 1.5,
            ..Default::default()
        };
        let mut l = vec![0.1, 2.0, 1.9];
        assert_eq!(sample(&mut l, &[1], &p, &mut Rng::new(1)), 2);
    }
}
