//! The generation loop: a piece written window by window, each window conditioned on the
//! text (and for MusicGen Melody on the melody from where the window starts) and decoded one
//! position at a time under the delay pattern, with guidance and a seeded draw per code.

use crate::{MusicGenEngine, Request, chroma, decoder, delay, runtime};
use candle_core::{Module, Tensor};
use songforge_inference::EngineError;
use songforge_rng::Rng;
use songforge_rng::sample::{Greedy, Sampler, TemperatureAt};

/// Tokens sampled from at each step unless the request says otherwise (as MusicGen ships).
const DEFAULT_TOP_K: usize = 250;
/// Seconds of melody one window is conditioned on (the extractor's `chunk_length`).
const MELODY_CHUNK_S: usize = 30;

/// The shared sampler as MusicGen has always drawn: top-k only, temperature on the
/// differences from the best logit, greedy when one candidate is left.
fn sampler(request: &Request, vocab: usize) -> Sampler {
    Sampler {
        temperature: request.temperature,
        top_k: request.top_k.unwrap_or(DEFAULT_TOP_K.min(vocab)),
        top_p: 1.0,
        temperature_at: TemperatureAt::Differences,
        greedy: Greedy::AfterTopK,
    }
}

impl MusicGenEngine {
    /// What the decoder is conditioned on for a window that starts `start` samples into the
    /// piece: the text, or for MusicGen Melody the chroma prefix then the text. The chroma
    /// is that of the melody's 30 s from `start` (the melody looping when the piece is
    /// longer), tiled to the prefix's length as Hugging Face repeats a short melody;
    /// without a melody, and in the unconditional row, it is the model's null chroma (every
    /// frame class 0).
    fn window_condition(
        &self,
        text: &Tensor,
        melody: Option<&[f32]>,
        start: usize,
    ) -> Result<Tensor, EngineError> {
        let Some(m) = &self.melody else {
            return Ok(text.clone());
        };
        let rows = text.dim(0).map_err(runtime)?;
        let classes = match melody {
            Some(samples) if !samples.is_empty() => {
                let len = samples.len();
                let take = len.min(MELODY_CHUNK_S * m.settings.sample_rate);
                let chunk: Vec<f32> = (0..take).map(|i| samples[(start + i) % len]).collect();
                chroma::dominant_classes(&chunk, &m.settings)
            }
            _ => vec![0],
        };
        let frames = classes.len();
        let mut one_hot = vec![0f32; rows * frames * m.num_chroma];
        for (t, &c) in classes.iter().enumerate() {
            one_hot[t * m.num_chroma + c] = 1.0;
        }
        for r in 1..rows {
            for t in 0..frames {
                one_hot[(r * frames + t) * m.num_chroma] = 1.0;
            }
        }
        let chroma = Tensor::from_vec(one_hot, (rows, frames, m.num_chroma), &self.device)
            .map_err(runtime)?;
        let chroma = match &m.proj {
            Some(p) => p.forward(&chroma).map_err(runtime)?,
            None => chroma,
        };
        let repeats = m.length.div_ceil(frames);
        let chroma = Tensor::cat(&vec![&chroma; repeats], 1)
            .and_then(|c| c.narrow(1, 0, m.length))
            .map_err(runtime)?;
        Tensor::cat(&[&chroma, text], 1).map_err(runtime)
    }

    /// Writes `frames` frames continuing `prefix` (codes[k][j], all codebooks equally long):
    /// returns the new frames only.
    fn window(
        &self,
        text: &Tensor,
        prefix: &[Vec<u32>],
        frames: usize,
        request: &Request,
        rng: &mut Rng,
    ) -> Result<Vec<Vec<u32>>, EngineError> {
        let cfg = self.decoder.config();
        let k_count = cfg.num_codebooks;
        let known = prefix.first().map_or(0, Vec::len);
        let total = known + frames;
        let steps = delay::positions(total, k_count) + 1;
        let mut session = self.decoder.start(text, steps).map_err(runtime)?;
        let sampler = sampler(request, cfg.vocab_size);
        let mut grid: Vec<Vec<u32>> = vec![vec![cfg.bos_token_id; k_count]];
        for p in 1..=delay::positions(total, k_count) {
            let logits = self
                .decoder
                .step(&mut session, &grid[p - 1])
                .map_err(runtime)?;
            let logits: Vec<Vec<f32>> = decoder::guide(&logits, request.guidance)
                .and_then(|l| l.to_vec2())
                .map_err(runtime)?;
            let mut row = Vec::with_capacity(k_count);
            for (k, l) in logits.iter().enumerate() {
                row.push(match delay::slot(k, p, total) {
                    delay::Slot::Bos => cfg.bos_token_id,
                    delay::Slot::Pad => cfg.pad_token_id,
                    delay::Slot::Frame(j) if j < known => prefix[k][j],
                    delay::Slot::Frame(_) => sampler.draw(l, rng),
                });
            }
            grid.push(row);
        }
        let codes = delay::undelay(&grid, k_count, total);
        Ok(codes.into_iter().map(|c| c[known..].to_vec()).collect())
    }

    /// All frames of a piece, window by window.
    pub(crate) fn codes(
        &self,
        text: &Tensor,
        melody: Option<&[f32]>,
        frames: usize,
        request: &Request,
    ) -> Result<(Vec<Vec<u32>>, usize), EngineError> {
        let k_count = self.decoder.config().num_codebooks;
        let mut rng = Rng::new(request.seed);
        let mut codes: Vec<Vec<u32>> = vec![Vec::with_capacity(frames); k_count];
        let mut windows = 0;
        while codes[0].len() < frames {
            let have = codes[0].len();
            // Later windows continue from the last third of what is written.
            let keep = if have == 0 {
                0
            } else {
                (self.window / 3).min(have)
            };
            let new = (frames - have).min(self.window - keep);
            let prefix: Vec<Vec<u32>> = codes.iter().map(|c| c[have - keep..].to_vec()).collect();
            let condition =
                self.window_condition(text, melody, (have - keep) * self.audio.hop())?;
            let written = self.window(&condition, &prefix, new, request, &mut rng)?;
            for (c, w) in codes.iter_mut().zip(written) {
                c.extend(w);
            }
            windows += 1;
        }
        Ok((codes, windows))
    }
}
