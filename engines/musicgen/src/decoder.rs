//! The MusicGen decoder (Hugging Face `MusicgenForCausalLM` layout under `decoder.`): the
//! codebooks' embeddings summed, sinusoidal positions, pre-norm layers of causal
//! self-attention (KV cache), cross-attention to the projected text and a GELU MLP, then one
//! head per codebook. It decodes one position at a time for a batch whose rows are the
//! conditional and (with guidance) the unconditional stream.

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

    fn attend(&self, q: &Tensor, k: &Tensor, v: &Tensor) -> Result<Tensor> {
        let (b, _, t, _) = q.dims4()?;
        let scale = 1.0 / (self.head_dim as f64).sqrt();
        let scores = (q.matmul(&k.t()?)? * scale)?;
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
    cross_attn: Attention,
    cross_norm: LayerNorm,
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
    cross: Vec<CrossKv>,
    /// Next position.
    pub position: usize,
}

/// The decoder's weights.
pub struct Decoder {
    cfg: DecoderConfig,
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
    /// Loads from `vb` at `decoder.` of a MusicGen checkpoint.
    pub fn load(cfg: &DecoderConfig, vb: VarBuilder) -> Result<Self> {
        let d = cfg.hidden_size;
        let m = vb.pp("model").pp("decoder");
        let embed = (0..cfg.num_codebooks)
            .map(|k| candle_nn::embedding(cfg.vocab_size + 1, d, m.pp("embed_tokens").pp(k)))
            .collect::<Result<Vec<_>>>()?;
        let norm = |vb: VarBuilder| candle_nn::layer_norm(d, 1e-5, vb);
        let layers = (0..cfg.num_hidden_layers)
            .map(|i| {
                let l = m.pp("layers").pp(i);
                Ok(Layer {
                    self_attn: Attention::load(cfg, l.pp("self_attn"))?,
                    self_norm: norm(l.pp("self_attn_layer_norm"))?,
                    cross_attn: Attention::load(cfg, l.pp("encoder_attn"))?,
                    cross_norm: norm(l.pp("encoder_attn_layer_norm"))?,
                    fc1: Proj::load(d, cfg.ffn_dim, l.pp("fc1"))?,
                    fc2: Proj::load(cfg.ffn_dim, d, l.pp("fc2"))?,
                    final_norm: norm(l.pp("final_layer_norm"))?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let heads = (0..cfg.num_codebooks)
            .map(|k| Proj::load(d, cfg.vocab_size, vb.pp("lm_heads").pp(k)))
            .collect::<Result<Vec<_>>>()?;
        Ok(Decoder {
            positions: sinusoids(cfg.max_position_embeddings, d, vb.device())?,
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

    /// A session over `text` [B, S, d] (already projected; the unconditional row all zeros).
    pub fn start(&self, text: &Tensor) -> Result<Session> {
        let cross = self
            .layers
            .iter()
            .map(|l| {
                let a = &l.cross_attn;
                Ok(CrossKv {
                    k: a.split(&a.k.forward(text)?)?,
                    v: a.split(&a.v.forward(text)?)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Session {
            caches: (0..self.layers.len())
                .map(|_| KvCache::new(2, self.cfg.max_position_embeddings))
                .collect(),
            cross,
            position: 0,
        })
    }

    /// Feeds one position (`tokens[k]` for each codebook, the same for every row) and
    /// returns the logits [B, K, vocab].
    pub fn step(&self, session: &mut Session, tokens: &[u32]) -> Result<Tensor> {
        let device = self.positions.device();
        let rows = session.cross.first().map_or(1, |c| c.k.dim(0).unwrap_or(1));
        if session.position >= self.cfg.max_position_embeddings {
            candle_core::bail!(
                "position {} is past the decoder's {} positions",
                session.position,
                self.cfg.max_position_embeddings
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
        let mut h = x;
        for (i, layer) in self.layers.iter().enumerate() {
            let a = &layer.self_attn;
            let n = layer.self_norm.forward(&h)?;
            let q = a.split(&a.q.forward(&n)?)?;
            let k = a.split(&a.k.forward(&n)?)?;
            let v = a.split(&a.v.forward(&n)?)?;
            let (k, v) = session.caches[i].append(&k, &v)?;
            h = (h + a.attend(&q, &k, &v)?)?;
            let c = &layer.cross_attn;
            let n = layer.cross_norm.forward(&h)?;
            let q = c.split(&c.q.forward(&n)?)?;
            let kv = &session.cross[i];
            h = (h + c.attend(&q, &kv.k, &kv.v)?)?;
            let n = layer.final_norm.forward(&h)?;
            let y = layer.fc2.forward(&layer.fc1.forward(&n)?.gelu_erf()?)?;
            h = (h + y)?;
        }
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
