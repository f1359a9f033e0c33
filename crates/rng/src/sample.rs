//! Picks a token from a model's logits: temperature, top-k, top-p, then one draw from the
//! seeded generator, so a seed gives the same tokens on every platform. The LLM and MusicGen
//! share it. Their samplers used to round and break ties differently; [`TemperatureAt`] and
//! [`Greedy`] keep each engine drawing exactly the tokens it drew before.

use crate::Rng;

/// Where the temperature divides. Both give softmax(logit / T) in exact arithmetic, but they
/// round differently and can rank near-ties differently, and a seed must keep its tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TemperatureAt {
    /// Each logit is divided by T before ranking; weights are exp(l/T - best) (the LLM).
    Logits,
    /// Logits are ranked as they are; weights are exp((l - best) / T) (MusicGen).
    Differences,
}

/// When the most likely token is taken without a draw, which leaves the generator as it was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Greedy {
    /// Decided from the settings alone (T <= 0 or top-k 1): the [`argmax`] of all the logits,
    /// as llama.cpp's greedy sampler; also when no logit is finite (the LLM).
    FromSettings,
    /// Decided after top-k (T <= 0 or a single candidate left): the best finite logit, the
    /// lowest id on ties; token 0 when no logit is finite (MusicGen).
    AfterTopK,
}

/// How one token is drawn.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sampler {
    /// 0 or less picks the most likely token.
    pub temperature: f32,
    /// Keep only the k most likely tokens (0: all).
    pub top_k: usize,
    /// Keep the smallest set whose probability reaches p (1: all).
    pub top_p: f32,
    /// Where the temperature divides.
    pub temperature_at: TemperatureAt,
    /// When the choice is greedy.
    pub greedy: Greedy,
}

impl Sampler {
    /// A token from `logits`; `rng` advances by one draw unless the choice is greedy.
    pub fn draw(&self, logits: &[f32], rng: &mut Rng) -> u32 {
        // T <= 0 asks for the most likely token; every other value, NaN included, samples.
        let greedy_temperature = self.temperature <= 0.0;
        if self.greedy == Greedy::FromSettings && (greedy_temperature || self.top_k == 1) {
            return argmax(logits);
        }
        let scale = self.temperature_at == TemperatureAt::Logits && !greedy_temperature;
        let mut candidates: Vec<(u32, f32)> = logits
            .iter()
            .enumerate()
            .filter(|(_, l)| l.is_finite())
            .map(|(i, &l)| (i as u32, if scale { l / self.temperature } else { l }))
            .collect();
        if candidates.is_empty() {
            return match self.greedy {
                Greedy::FromSettings => argmax(logits),
                Greedy::AfterTopK => 0,
            };
        }
        // Most likely first, lower id first on ties: a total order, so selecting the top k and
        // sorting only those gives exactly what sorting the whole vocabulary would, without
        // sorting 50k logits per token.
        let order = |a: &(u32, f32), b: &(u32, f32)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
        if self.top_k > 0 && self.top_k < candidates.len() {
            candidates.select_nth_unstable_by(self.top_k - 1, order);
            candidates.truncate(self.top_k);
        }
        candidates.sort_unstable_by(order);
        if self.greedy == Greedy::AfterTopK && (greedy_temperature || candidates.len() == 1) {
            return candidates[0].0;
        }
        let best = candidates[0].1;
        let mut total = 0f32;
        for c in &mut candidates {
            c.1 = match self.temperature_at {
                TemperatureAt::Logits => (c.1 - best).exp(),
                TemperatureAt::Differences => ((c.1 - best) / self.temperature).exp(),
            };
            total += c.1;
        }
        if self.top_p < 1.0 {
            let mut cumulative = 0f32;
            let mut keep = candidates.len();
            for (i, c) in candidates.iter().enumerate() {
                cumulative += c.1 / total;
                if cumulative >= self.top_p {
                    keep = i + 1;
                    break;
                }
            }
            candidates.truncate(keep);
            total = candidates.iter().map(|c| c.1).sum();
        }
        let mut target = rng.unit() * total;
        for &(id, weight) in &candidates {
            if target < weight {
                return id;
            }
            target -= weight;
        }
        candidates[candidates.len() - 1].0
    }
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

    /// The LLM's settings: temperature on the logits, greedy from the settings.
    fn llm(temperature: f32, top_k: usize, top_p: f32) -> Sampler {
        Sampler {
            temperature,
            top_k,
            top_p,
            temperature_at: TemperatureAt::Logits,
            greedy: Greedy::FromSettings,
        }
    }

    /// MusicGen's settings: temperature on the differences, greedy after top-k, no top-p.
    fn musicgen(temperature: f32, top_k: usize) -> Sampler {
        Sampler {
            temperature,
            top_k,
            top_p: 1.0,
            temperature_at: TemperatureAt::Differences,
            greedy: Greedy::AfterTopK,
        }
    }

    #[test]
    fn same_seed_same_draws_and_top_k_limits_choice() {
        let sampler = llm(1.0, 2, 1.0);
        let logits = vec![1.0, 1.0, 0.9, -5.0];
        let draw = |seed| {
            let mut rng = Rng::new(seed);
            (0..50)
                .map(|_| sampler.draw(&logits, &mut rng))
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
        let sampler = llm(1.0, 0, 0.5);
        let mut rng = Rng::new(3);
        for _ in 0..50 {
            assert_eq!(sampler.draw(&[5.0, 0.0, 0.0, 0.0], &mut rng), 0);
        }
    }

    #[test]
    fn top_k_keeps_only_the_k_best() {
        let logits = [0.0, 5.0, 4.9, -1.0, 4.8];
        let mut rng = Rng::new(1);
        for _ in 0..200 {
            let t = musicgen(1.0, 2).draw(&logits, &mut rng);
            assert!(t == 1 || t == 2, "{t}");
        }
        assert_eq!(musicgen(0.0, 250).draw(&logits, &mut rng), 1);
    }

    #[test]
    fn greedy_choices_leave_the_generator_alone() {
        let logits = [0.5, f32::NEG_INFINITY, 2.0];
        let untouched = Rng::new(4).next_u64();
        for sampler in [llm(0.0, 40, 0.9), llm(0.8, 1, 0.9), musicgen(0.0, 250)] {
            let mut rng = Rng::new(4);
            assert_eq!(sampler.draw(&logits, &mut rng), 2);
            assert_eq!(rng.next_u64(), untouched);
        }
        // MusicGen takes a lone finite logit without a draw; the LLM draws it.
        let lone = [f32::NEG_INFINITY, 1.0, f32::NEG_INFINITY];
        let mut rng = Rng::new(4);
        assert_eq!(musicgen(1.0, 250).draw(&lone, &mut rng), 1);
        assert_eq!(rng.next_u64(), untouched);
        let mut rng = Rng::new(4);
        assert_eq!(llm(1.0, 40, 1.0).draw(&lone, &mut rng), 1);
        assert_ne!(rng.next_u64(), untouched);
    }

    #[test]
    fn without_a_finite_logit_each_engine_falls_back_as_before() {
        let none = [f32::NEG_INFINITY, f32::INFINITY, f32::NAN];
        assert_eq!(llm(1.0, 40, 0.9).draw(&none, &mut Rng::new(1)), 1);
        assert_eq!(musicgen(1.0, 250).draw(&none, &mut Rng::new(1)), 0);
    }
}
