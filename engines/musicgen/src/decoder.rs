//! The MusicGen decoder (Hugging Face `MusicgenForCausalLM` layout under `decoder.`): the
//! codebooks' embeddings summed, sinusoidal positions, pre-norm layers of causal
//! self-attention (KV cache), cross-attention to the projected text and a GELU MLP, then one
//! head per codebook. It decodes one position at a time for a batch whose rows are the
//! conditional and (with guidance) the unconditional stream.
//!
//! MusicGen Melody's decoder (`MusicgenMelodyForCausalLM`) has no cross-attention: the
//! condition (projected chroma, then projected text) is a prefix of the sequence, run once
//! through the causal layers into the KV cache before the first code.

use crate::proj::Proj;
use candle_core::{DType, Device, Module, Result, Tensor};
use candle_nn::kv_cache::KvCache;
use candle_nn::{Embedding, LayerNorm, VarBuilder};
use serde::Deserialize;

/// `decoder` of a MusicGen `config.json`.
#[derive(Debug, Clone, Deserialize)]
pub struct DecoderConfig {
    pub vocab_size: usize,
    pub max_position_embeddings: usize,
    pub num_hidden_layers: usize,
    pub ffn_dim: usize,
    pub num_attention_heads: usize,
    pub hidden_size: usize,
    pub num_codebooks: usize,
    #[serde(default)]
    pub scale_embedding: bool,
    #[serde(default = "special")]
    pub pad_token_id: u32,
    #[serde(default = "special")]
    pub bos_token_id: u32,
}

fn special() -> u32 {
    2048
}

struct Attention {
    q: Proj,
    k: Proj,
    v: Proj,
    out: Proj,
    heads: usize,
    head_dim: usize,
}

impl Attention {
    fn load(cfg: &DecoderConfig, vb: VarBuilder) -> Result<Self> {
        let d = cfg.hidden_size;
        Ok(Attention {
            q: Proj::load(d, d, vb.pp("q_proj"))?,
            k: Proj::load(d, d, vb.pp("k_proj"))?,
            v: Proj::load(d, d, vb.pp("v_proj"))?,
            out: Proj::load(d, d, vb.pp("out_proj"))?,
            heads: cfg.num_attention_heads,
            head_dim: d / cfg.num_attention_heads,
        })
    }

    /// [B, T, d] → [B, H, T, hd].
    fn split(&self, x: &Tensor) -> Result<Tensor> {
        let (b, t, _) = x.dims3()?;
        x.reshape((b, t, self.heads, self.head_dim))?
            .transpose(1, 2)?
            .contiguous()
    }

    /// Attention of `q` over `k`/`v`, with `mask` [T, S] (0 or −∞) added to the scores.
    fn attend(&self, q: &Tensor, k: &Tensor, v: &Tensor, mask: Option<&Tensor>) -> Result<Tensor> {
        let (b, _, t, _) = q.dims4()?;
        let scale = 1.0 / (self.head_dim as f64).sqrt();
        let mut scores = (q.matmul(&k.t()?)? * scale)?;
        if let Some(mask) = mask {
            scores = scores.broadcast_add(mask)?;
        }
        let weights = candle_nn::ops::softmax_last_dim(&scores)?;
        let y = weights.matmul(v)?;
        let y = y
            .transpose(1, 2)?
            .reshape((b, t, self.heads * self.head_dim))?;
        self.out.forward(&y)
    }
}

struct Layer {
    self_attn: Attention,
    self_norm: LayerNorm,
    /// Cross-attention to the text and its norm (absent in MusicGen Melody).
    cross: Option<(Attention, LayerNorm)>,
    fc1: Proj,
    fc2: Proj,
    final_norm: LayerNorm,
}

/// Keys and values of the text for one layer's cross-attention.
pub struct CrossKv {
    k: Tensor,
    v: Tensor,
}

/// A decoding session: the self-attention caches of one generation window.
pub struct Session {
    caches: Vec<KvCache>,
    /// One per layer with cross-attention; empty for a prefix-conditioned decoder.
    cross: Vec<CrossKv>,
    /// Rows decoded together (2 with guidance).
    rows: usize,
    /// Next position.
    pub position: usize,
}

/// The decoder's weights.
pub struct Decoder {
    cfg: DecoderConfig,
    /// Positions the table and caches hold: the checkpoint's, plus room for a prefix.
    capacity: usize,
    embed: Vec<Embedding>,
    positions: Tensor,
    layers: Vec<Layer>,
    norm: LayerNorm,
    heads: Vec<Proj>,
}

/// MusicGen's sinusoidal table: cosines then sines, [positions, dim].
fn sinusoids(positions: usize, dim: usize, device: &Device) -> Result<Tensor> {
    let half = dim / 2;
    let step = (10_000f64).ln() / (half.max(2) - 1) as f64;
    let mut table = vec![0f32; positions * dim];
    for p in 0..positions {
        for i in 0..half {
            let a = p as f64 * (-(i as f64) * step).exp();
            table[p * dim + i] = a.cos() as f32;
            table[p * dim + half + i] = a.sin() as f32;
        }
    }
    Tensor::from_vec(table, (positions, dim), device)
}

impl Decoder {
    /// Loads from `vb` at `decoder.` of a MusicGen checkpoint: with cross-attention
    /// (`musicgen`, `prefix` 0), or without it and with room for `prefix` more positions
    /// (`musicgen_melody`, whose condition is a prefix; Hugging Face extends its sinusoid
    /// table the same way).
    pub fn load(
        cfg: &DecoderConfig,
        vb: VarBuilder,
        cross_attention: bool,
        prefix: usize,
    ) -> Result<Self> {
        let d = cfg.hidden_size;
        let m = vb.pp("model").pp("decoder");
        let embed = (0..cfg.num_codebooks)
            .map(|k| candle_nn::embedding(cfg.vocab_size + 1, d, m.pp("embed_tokens").pp(k)))
            .collect::<Result<Vec<_>>>()?;
        let norm = |vb: VarBuilder| candle_nn::layer_norm(d, 1e-5, vb);
        let layers = (0..cfg.num_hidden_layers)
            .map(|i| {
                let l = m.pp("layers").pp(i);
                let cross = if cross_attention {
                    Some((
                        Attention::load(cfg, l.pp("encoder_attn"))?,
                        norm(l.pp("encoder_attn_layer_norm"))?,
                    ))
                } else {
                    None
                };
                Ok(Layer {
                    self_attn: Attention::load(cfg, l.pp("self_attn"))?,
                    self_norm: norm(l.pp("self_attn_layer_norm"))?,
                    cross,
                    fc1: Proj::load(d, cfg.ffn_dim, l.pp("fc1"))?,
                    fc2: Proj::load(cfg.ffn_dim, d, l.pp("fc2"))?,
                    final_norm: norm(l.pp("final_layer_norm"))?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let heads = (0..cfg.num_codebooks)
            .map(|k| Proj::load(d, cfg.vocab_size, vb.pp("lm_heads").pp(k)))
            .collect::<Result<Vec<_>>>()?;
        let capacity = cfg.max_position_embeddings + prefix;
        Ok(Decoder {
            positions: sinusoids(capacity, d, vb.device())?,
            capacity,
            norm: norm(m.pp("layer_norm"))?,
            embed,
            layers,
            heads,
            cfg: cfg.clone(),
        })
    }

    pub fn config(&self) -> &DecoderConfig {
        &self.cfg
    }

    /// Whether the condition is attended to (`musicgen`) rather than prefixed (`musicgen_melody`).
    pub fn has_cross_attention(&self) -> bool {
        self.layers.iter().any(|l| l.cross.is_some())
    }

    /// A session over the condition [B, S, d] (already projected; the unconditional row as
    /// the model masks it): the cross-attention's keys and values, or, for a decoder without
    /// cross-attention, the condition run through the layers as the sequence's first S
    /// positions. The caches hold `steps` more positions.
    pub fn start(&self, condition: &Tensor, steps: usize) -> Result<Session> {
        let (rows, prefix, _) = condition.dims3()?;
        let prefix = if self.has_cross_attention() {
            0
        } else {
            prefix
        };
        if prefix + steps > self.capacity {
            candle_core::bail!(
                "{} positions (a condition of {prefix}, then {steps}) are past the decoder's {}",
                prefix + steps,
                self.capacity
            );
        }
        let cross = self
            .layers
            .iter()
            .filter_map(|l| l.cross.as_ref())
            .map(|(a, _)| {
                Ok(CrossKv {
                    k: a.split(&a.k.forward(condition)?)?,
                    v: a.split(&a.v.forward(condition)?)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let mut session = Session {
            caches: (0..self.layers.len())
                .map(|_| KvCache::new(2, prefix + steps))
                .collect(),
            cross,
            rows,
            position: 0,
        };
        if prefix > 0 {
            let pos = self.positions.narrow(0, 0, prefix)?;
            let x = condition.broadcast_add(&pos)?.contiguous()?;
            // Causal over the prefix, as the model reads it.
            let mask: Vec<f32> = (0..prefix)
                .flat_map(|i| (0..prefix).map(move |j| if j > i { f32::NEG_INFINITY } else { 0.0 }))
                .collect();
            let mask = Tensor::from_vec(mask, (prefix, prefix), condition.device())?
                .to_dtype(condition.dtype())?;
            self.layers_forward(&mut session, x, Some(&mask))?;
            session.position = prefix;
        }
        Ok(session)
    }

    /// Runs `x` [B, T, d] through every layer, appending to the session's caches.
    fn layers_forward(
        &self,
        session: &mut Session,
        x: Tensor,
        mask: Option<&Tensor>,
    ) -> Result<Tensor> {
        let mut h = x;
        for (i, layer) in self.layers.iter().enumerate() {
            let a = &layer.self_attn;
            let n = layer.self_norm.forward(&h)?;
            let q = a.split(&a.q.forward(&n)?)?;
            let k = a.split(&a.k.forward(&n)?)?;
            let v = a.split(&a.v.forward(&n)?)?;
            let (k, v) = session.caches[i].append(&k, &v)?;
            h = (h + a.attend(&q, &k, &v, mask)?)?;
            if let (Some((c, norm)), Some(kv)) = (&layer.cross, session.cross.get(i)) {
                let n = norm.forward(&h)?;
                let q = c.split(&c.q.forward(&n)?)?;
                h = (h + c.attend(&q, &kv.k, &kv.v, None)?)?;
            }
            let n = layer.final_norm.forward(&h)?;
            let y = layer.fc2.forward(&layer.fc1.forward(&n)?.gelu_erf()?)?;
            h = (h + y)?;
        }
        Ok(h)
    }

    /// Feeds one position (`tokens[k]` for each codebook, the same for every row) and
    /// returns the logits [B, K, vocab].
    pub fn step(&self, session: &mut Session, tokens: &[u32]) -> Result<Tensor> {
        let device = self.positions.device();
        let rows = session.rows;
        if session.position >= self.capacity {
            candle_core::bail!(
                "position {} is past the decoder's {} positions",
                session.position,
                self.capacity
            );
        }
        let mut x: Option<Tensor> = None;
        for (k, &t) in tokens.iter().enumerate() {
            let e = self.embed[k].forward(&Tensor::new(&[t], device)?)?;
            x = Some(match x {
                Some(acc) => (acc + e)?,
                None => e,
            });
        }
        let mut x = x.ok_or_else(|| candle_core::Error::Msg("no codebooks".into()))?;
        if self.cfg.scale_embedding {
            x = (x * (self.cfg.hidden_size as f64).sqrt())?;
        }
        let pos = self.positions.narrow(0, session.position, 1)?;
        let x = (x + pos)?
            .unsqueeze(0)?
            .broadcast_as((rows, 1, self.cfg.hidden_size))?
            .contiguous()?;
        let h = self.layers_forward(session, x, None)?;
        let h = self.norm.forward(&h)?;
        let logits = self
            .heads
            .iter()
            .map(|head| head.forward(&h))
            .collect::<Result<Vec<_>>>()?;
        session.position += 1;
        // [B, 1, V] each → [B, K, V].
        Tensor::cat(&logits, 1)?.to_dtype(DType::F32)
    }
}

/// Classifier-free guidance over logits [2, K, V] (conditional row first): the unconditional
/// logits plus `scale` times the difference. One row passes through.
pub fn guide(logits: &Tensor, scale: f64) -> Result<Tensor> {
    if logits.dim(0)? == 1 {
        return logits.squeeze(0);
    }
    let cond = logits.get(0)?;
    let uncond = logits.get(1)?;
    &uncond + ((&cond - &uncond)? * scale)?
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_nn::VarMap;

    /// A tiny decoder without cross-attention, 8 positions of room for a prefix.
    fn tiny() -> (Decoder, VarMap) {
        let cfg: DecoderConfig = serde_json::from_str(
            r#"{"vocab_size": 16, "max_position_embeddings": 32, "num_hidden_layers": 2,
                "ffn_dim": 16, "num_attention_heads": 2, "hidden_size": 8, "num_codebooks": 2,
                "pad_token_id": 16, "bos_token_id": 16}"#,
        )
        .unwrap();
        let varmap = VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
        let d = Decoder::load(&cfg, vb.pp("decoder"), false, 8).unwrap();
        // Weights away from candle's initialisation, so every path matters.
        let mut rng = songforge_rng::Rng::new(5);
        for var in varmap.all_vars() {
            let v: Vec<f32> = (0..var.elem_count()).map(|_| rng.unit() - 0.5).collect();
            var.set(&Tensor::from_vec(v, var.shape(), &Device::Cpu).unwrap())
                .unwrap();
        }
        (d, varmap)
    }

    #[test]
    fn a_prefix_run_as_one_block_equals_it_fed_position_by_position() {
        let (d, _vars) = tiny();
        assert!(!d.has_cross_attention());
        let mut rng = songforge_rng::Rng::new(9);
        let values: Vec<f32> = (0..2 * 5 * 8).map(|_| rng.unit() - 0.5).collect();
        let condition = Tensor::from_vec(values, (2, 5, 8), &Device::Cpu).unwrap();
        // One causal block, then two codes.
        let mut block = d.start(&condition, 3).unwrap();
        assert_eq!(block.position, 5);
        let a1 = d.step(&mut block, &[16, 16]).unwrap();
        let a2 = d.step(&mut block, &[3, 16]).unwrap();
        // The same prefix one position at a time (no mask needed), then the same codes.
        let mut single = Session {
            caches: (0..d.layers.len()).map(|_| KvCache::new(2, 8)).collect(),
            cross: Vec::new(),
            rows: 2,
            position: 0,
        };
        for p in 0..5 {
            let x = condition
                .narrow(1, p, 1)
                .unwrap()
                .broadcast_add(&d.positions.narrow(0, p, 1).unwrap())
                .unwrap();
            d.layers_forward(&mut single, x, None).unwrap();
            single.position += 1;
        }
        let b1 = d.step(&mut single, &[16, 16]).unwrap();
        let b2 = d.step(&mut single, &[3, 16]).unwrap();
        for (a, b) in [(a1, b1), (a2, b2)] {
            let diff = (a - b)
                .unwrap()
                .abs()
                .unwrap()
                .max_all()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap();
            assert!(diff < 1e-5, "{diff}");
        }
    }

    #[test]
    fn a_prefix_changes_what_follows_and_the_caches_are_bounded() {
        let (d, _vars) = tiny();
        let zeros = Tensor::zeros((1, 4, 8), DType::F32, &Device::Cpu).unwrap();
        // (A constant shift would vanish in the layer norms.)
        let varied = Tensor::arange(0f32, 32.0, &Device::Cpu)
            .unwrap()
            .reshape((1, 4, 8))
            .unwrap()
            .sin()
            .unwrap();
        let a = d.step(&mut d.start(&zeros, 1).unwrap(), &[16, 16]).unwrap();
        let b = d
            .step(&mut d.start(&varied, 1).unwrap(), &[16, 16])
            .unwrap();
        let diff = (a - b).unwrap().abs().unwrap().max_all().unwrap();
        assert!(diff.to_scalar::<f32>().unwrap() > 1e-3);
        // 32 positions plus 8 of room: a 9-position prefix with 32 steps does not fit.
        let long = Tensor::zeros((1, 9, 8), DType::F32, &Device::Cpu).unwrap();
        assert!(d.start(&long, 32).is_err());
        assert!(d.start(&long, 31).is_ok());
    }
}
