//! Picks the next token from the logits: repetition penalty, temperature, top-k, top-p, then
//! a draw from a seeded generator, so a seed reproduces a completion on the same build.

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

pub use songforge_rng::Rng;

/// Chooses a token from `logits` (modified in place) given the tokens produced so far.
pub fn sample(logits: &mut [f32], history: &[u32], params: &SamplingParams, rng: &mut Rng) -> u32 {
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
    if params.temperature <= 0.0 || params.top_k == 1 {
        return argmax(logits);
    }
    let mut candidates: Vec<(u32, f32)> = logits
        .iter()
        .enumerate()
        .filter(|(_, l)| l.is_finite())
        .map(|(i, &l)| (i as u32, l / params.temperature))
        .collect();
    if candidates.is_empty() {
        return argmax(logits);
    }
    // Most likely first, lower id first on ties: a total order, so selecting the top k and
    // sorting only those gives exactly what sorting the whole vocabulary would, without
    // sorting 50k logits per token.
    let order = |a: &(u32, f32), b: &(u32, f32)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
    if params.top_k > 0 && params.top_k < candidates.len() {
        candidates.select_nth_unstable_by(params.top_k - 1, order);
        candidates.truncate(params.top_k);
    }
    candidates.sort_unstable_by(order);
    let max = candidates[0].1;
    let mut total = 0f32;
    for c in &mut candidates {
        c.1 = (c.1 - max).exp();
        total += c.1;
    }
    if params.top_p < 1.0 {
        let mut cumulative = 0f32;
        let mut keep = candidates.len();
        for (i, c) in candidates.iter().enumerate() {
            cumulative += c.1 / total;
            if cumulative >= params.top_p {
                keep = i + 1;
                break;
            }
        }
        candidates.truncate(keep);
        total = candidates.iter().map(|c| c.1).sum();
    }
    let mut target = rng.unit() * total;
    for &(id, p) in &candidates {
        if target < p {
            return id;
        }
        target -= p;
    }
    candidates[candidates.len() - 1].0
}

/// Index of the largest logit (the first on ties, as llama.cpp's greedy sampler).
pub fn argmax(logits: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &l) in logits.iter().enumerate() {
        if l > logits[best] {
            best = i;
        }
    }
    best as u32
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

    #[test]
    fn same_seed_same_draws_and_top_k_limits_choice() {
        let p = SamplingParams {
            temperature: 1.0,
            top_k: 2,
            top_p: 1.0,
            repeat_penalty: 1.0,
            ..Default::default()
        };
        let logits = vec![1.0, 1.0, 0.9, -5.0];
        let draw = |seed| {
            let mut rng = Rng::new(seed);
            (0..50)
                .map(|_| sample(&mut logits.clone(), &[], &p, &mut rng))
                .collect::<Vec<_>>()
        };
        assert_eq!(draw(7), draw(7));
        assert_ne!(draw(7), draw(8));
        let d = draw(7);
        assert!(
            d.iter().all(|&t| t < 2),
            "top-k 2 kept only ids 0 and 1: {d:?}"
        );
        assert!(d.contains(&0) && d.contains(&1));
    }

    #[test]
    fn top_p_keeps_the_head() {
        let p = SamplingParams {
            temperature: 1.0,
            top_k: 0,
            top_p: 0.5,
            repeat_penalty: 1.0,
            ..Default::default()
        };
        let mut rng = Rng::new(3);
        for _ in 0..50 {
            assert_eq!(sample(&mut [5.0, 0.0, 0.0, 0.0], &[], &p, &mut rng), 0);
        }
    }
}
