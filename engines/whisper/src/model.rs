//! The Whisper network: a convolutional audio encoder and a text decoder whose self-attention
//! keys and values are cached per step, with the batch dimension carrying beams.
//!
//! Weights arrive as named tensors in CTranslate2's naming (`encoder/layer_0/...`), whatever
//! file they came from; see `checkpoint.rs`. Query/key/value projections are fused as
//! CTranslate2 stores them, so each attention block runs one matmul for all three.

use candle_core::{D, DType, Device, IndexOp, Module, Result, Tensor};
use candle_nn::{Conv1d, Conv1dConfig, LayerNorm, Linear};
use std::collections::HashMap;

/// Sizes read from the checkpoint itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub n_mels: usize,
    pub d_model: usize,
    pub encoder_layers: usize,
    pub encoder_heads: usize,
    pub audio_ctx: usize,
    pub decoder_layers: usize,
    pub decoder_heads: usize,
    pub text_ctx: usize,
    pub vocab: usize,
}

/// Named tensors keyed by CTranslate2 variable names.
pub type Weights = HashMap<String, Tensor>;

fn get(w: &Weights, name: &str) -> Result<Tensor> {
    w.get(name)
        .cloned()
        .ok_or_else(|| candle_core::Error::Msg(format!("checkpoint lacks `{name}`")))
}

fn linear(w: &Weights, prefix: &str) -> Result<Linear> {
    Ok(Linear::new(
        get(w, &format!("{prefix}/weight"))?,
        w.get(&format!("{prefix}/bias")).cloned(),
    ))
}

fn layer_norm(w: &Weights, prefix: &str) -> Result<LayerNorm> {
    Ok(LayerNorm::new(
        get(w, &format!("{prefix}/gamma"))?,
        get(w, &format!("{prefix}/beta"))?,
        1e-5,
    ))
}

/// Splits `[B, T, H·d]` into heads `[B, H, T, d]`.
fn heads(x: &Tensor, n_head: usize) -> Result<Tensor> {
    let (b, t, c) = x.dims3()?;
    x.reshape((b, t, n_head, c / n_head))?.transpose(1, 2)
}

/// `softmax(q·kᵀ/√d + mask)·v` over heads, back to `[B, T, H·d]`. Keys come transposed,
/// `[B, H, d, S]`, and contiguous: a transposed view would be copied by every matmul, which
/// for the cross-attention keys meant copying them on every decoding step.
fn attention(q: &Tensor, k_t: &Tensor, v: &Tensor, mask: Option<&Tensor>) -> Result<Tensor> {
    let d = q.dim(D::Minus1)? as f64;
    if mask.is_none() && crate::ops::step_attention_fits(q, MATVEC_ROWS) {
        // A decoding step: a few rows per head, every head on the rayon pool.
        let out = crate::ops::step_attention(q, k_t, v, d.powf(-0.5) as f32)?;
        return out.transpose(1, 2)?.flatten_from(2);
    }
    let q = (q * d.powf(-0.5))?.contiguous()?;
    let mut w = q.broadcast_matmul(k_t)?;
    if let Some(mask) = mask {
        w = w.broadcast_add(mask)?;
    }
    let w = crate::ops::softmax_last_dim(w)?;
    let out = w.broadcast_matmul(v)?;
    out.transpose(1, 2)?.flatten_from(2)
}

/// Attention of `[B, T, H·d]` queries over keys `[1, H, d, S]` and values `[1, H, S, d]` that every row shares
/// (all beams attend to one encoded window): the beams are folded into the query axis, so it
/// is one matmul per head against the keys, without copying them per beam.
fn shared_attention(q: &Tensor, k: &Tensor, v: &Tensor, n_head: usize) -> Result<Tensor> {
    let (b, t, c) = q.dims3()?;
    let d = c / n_head;
    // [B, T, H, d] → [H, B·T, d] → [1, H, B·T, d]
    let q = q
        .reshape((b * t, n_head, d))?
        .transpose(0, 1)?
        .contiguous()?
        .unsqueeze(0)?;
    let out = attention(&q, k, v, None)?; // [1, B·T, H·d]
    out.reshape((b, t, c))
}

/// Decoding steps feed at most this many rows (beams) through a projection; up to here the
/// f16 matrix-vector kernel is used, beyond it (prompts, encoded windows) gemm.
const MATVEC_ROWS: usize = 8;

/// A decoder projection. On the CPU its weights stay f16, as checkpoints ship them, and
/// decoding steps multiply with [`crate::ops::matvec_f16`]: a step streams every decoder weight
/// once, so half the bytes is most of the time saved. Longer inputs widen them for gemm.
struct Dense {
    weight: Tensor,
    bias: Option<Tensor>,
    half: bool,
}

impl Dense {
    fn load(w: &Weights, prefix: &str, half: bool) -> Result<Self> {
        let weight = get(w, &format!("{prefix}/weight"))?;
        Ok(Self {
            weight: if half {
                weight.to_dtype(DType::F16)?
            } else {
                weight
            },
            bias: w.get(&format!("{prefix}/bias")).cloned(),
            half,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let mut dims = x.dims().to_vec();
        let k = dims.last().copied().unwrap_or(1);
        let rows = x.elem_count() / k.max(1);
        let x2 = x.reshape((rows, k))?;
        let out = if self.half && rows <= MATVEC_ROWS {
            crate::ops::matvec_f16(&x2, &self.weight)?
        } else if self.half {
            x2.matmul(&self.weight.to_dtype(DType::F32)?.t()?)?
        } else {
            x2.matmul(&self.weight.t()?)?
        };
        let out = match &self.bias {
            Some(b) => out.broadcast_add(b)?,
            None => out,
        };
        if let Some(last) = dims.last_mut() {
            *last = self.weight.dim(0)?;
        }
        out.reshape(dims)
    }
}

struct EncoderLayer {
    attn_ln: LayerNorm,
    qkv: Linear,
    out: Linear,
    ffn_ln: LayerNorm,
    fc1: Linear,
    fc2: Linear,
}

struct DecoderLayer {
    self_ln: LayerNorm,
    self_qkv: Dense,
    self_out: Dense,
    cross_ln: LayerNorm,
    cross_q: Dense,
    cross_kv: Dense,
    cross_out: Dense,
    ffn_ln: LayerNorm,
    fc1: Dense,
    fc2: Dense,
}

fn mlp(x: &Tensor, ln: &LayerNorm, fc1: &Linear, fc2: &Linear) -> Result<Tensor> {
    fc2.forward(&crate::ops::gelu_erf(fc1.forward(&ln.forward(x)?)?)?)
}

fn dense_mlp(x: &Tensor, ln: &LayerNorm, fc1: &Dense, fc2: &Dense) -> Result<Tensor> {
    fc2.forward(&crate::ops::gelu_erf(fc1.forward(&ln.forward(x)?)?)?)
}

/// A loaded Whisper model on one device.
pub struct Whisper {
    pub config: Config,
    pub device: Device,
    pub dtype: DType,
    conv1: Conv1d,
    conv2: Conv1d,
    enc_pos: Tensor,
    enc_layers: Vec<EncoderLayer>,
    enc_ln: LayerNorm,
    /// Token embeddings `[vocab, d_model]`, f16 on the CPU like the decoder projections: the
    /// output projection reads all of it every step, the largest read of a step.
    embed: Tensor,
    /// Whether `embed` and the decoder projections are f16 (CPU) rather than `dtype`.
    half_decoder: bool,
    dec_pos: Tensor,
    dec_layers: Vec<DecoderLayer>,
    dec_ln: LayerNorm,
}

/// Cross-attention keys and values of one encoded window, per decoder layer: computed once
/// and shared by language detection, every beam and every fallback temperature.
#[derive(Clone)]
pub struct CrossCache(Vec<(Tensor, Tensor)>);

/// Per-sequence decoder state: the window's cross-attention cache and the growing
/// self-attention cache (one row per beam).
pub struct DecoderState {
    cross: CrossCache,
    past: Vec<Option<(Tensor, Tensor)>>,
    /// Tokens already fed.
    pub len: usize,
}

impl DecoderState {
    /// Keeps only the beams at `rows`, in that order (beam search reordering).
    pub fn select(&mut self, rows: &[u32]) -> Result<()> {
        let Some(Some((k, _))) = self.past.first() else {
            return Ok(());
        };
        let idx = Tensor::new(rows, k.device())?;
        for p in self.past.iter_mut().flatten() {
            *p = (p.0.index_select(&idx, 0)?, p.1.index_select(&idx, 0)?);
        }
        Ok(())
    }
}

impl Whisper {
    /// Builds the network from CTranslate2-named tensors already on `device` in `dtype`.
    pub fn new(w: &Weights, config: Config, device: Device, dtype: DType) -> Result<Self> {
        let conv = |name: &str, stride| -> Result<Conv1d> {
            Ok(Conv1d::new(
                get(w, &format!("encoder/{name}/weight"))?,
                Some(get(w, &format!("encoder/{name}/bias"))?),
                Conv1dConfig {
                    padding: 1,
                    stride,
                    dilation: 1,
                    groups: 1,
                    cudnn_fwd_algo: None,
                },
            ))
        };
        let enc_layers = (0..config.encoder_layers)
            .map(|i| {
                let p = format!("encoder/layer_{i}");
                Ok(EncoderLayer {
                    attn_ln: layer_norm(w, &format!("{p}/self_attention/layer_norm"))?,
                    qkv: linear(w, &format!("{p}/self_attention/linear_0"))?,
                    out: linear(w, &format!("{p}/self_attention/linear_1"))?,
                    ffn_ln: layer_norm(w, &format!("{p}/ffn/layer_norm"))?,
                    fc1: linear(w, &format!("{p}/ffn/linear_0"))?,
                    fc2: linear(w, &format!("{p}/ffn/linear_1"))?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        // f16 decoder weights with the matrix-vector kernel: CPU, f32 compute.
        let half = device.is_cpu() && dtype == DType::F32;
        let dec_layers = (0..config.decoder_layers)
            .map(|i| {
                let p = format!("decoder/layer_{i}");
                let dense = |name: &str| Dense::load(w, &format!("{p}/{name}"), half);
                Ok(DecoderLayer {
                    self_ln: layer_norm(w, &format!("{p}/self_attention/layer_norm"))?,
                    self_qkv: dense("self_attention/linear_0")?,
                    self_out: dense("self_attention/linear_1")?,
                    cross_ln: layer_norm(w, &format!("{p}/attention/layer_norm"))?,
                    cross_q: dense("attention/linear_0")?,
                    cross_kv: dense("attention/linear_1")?,
                    cross_out: dense("attention/linear_2")?,
                    ffn_ln: layer_norm(w, &format!("{p}/ffn/layer_norm"))?,
                    fc1: dense("ffn/linear_0")?,
                    fc2: dense("ffn/linear_1")?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            conv1: conv("conv1", 1)?,
            conv2: conv("conv2", 2)?,
            enc_pos: get(w, "encoder/position_encodings/encodings")?,
            enc_layers,
            enc_ln: layer_norm(w, "encoder/layer_norm")?,
            embed: {
                let e = get(w, "decoder/embeddings/weight")?;
                if half { e.to_dtype(DType::F16)? } else { e }
            },
            half_decoder: half,
            dec_pos: get(w, "decoder/position_encodings/encodings")?,
            dec_layers,
            dec_ln: layer_norm(w, "decoder/layer_norm")?,
            config,
            device,
            dtype,
        })
    }

    /// Encodes log-mel features `[1, n_mels, 3000]` into `[1, audio_ctx, d_model]`.
    pub fn encode(&self, mel: &Tensor) -> Result<Tensor> {
        let mel = mel.to_dtype(self.dtype)?;
        let x = crate::ops::gelu_erf(self.conv1.forward(&mel)?)?;
        let x = crate::ops::gelu_erf(self.conv2.forward(&x)?)?;
        let x = x.transpose(1, 2)?;
        let t = x.dim(1)?;
        let mut x = x.broadcast_add(&self.enc_pos.narrow(0, 0, t)?)?;
        let h = self.config.encoder_heads;
        let d = self.config.d_model;
        for l in &self.enc_layers {
            let qkv = l.qkv.forward(&l.attn_ln.forward(&x)?)?;
            let q = heads(&qkv.narrow(2, 0, d)?, h)?;
            let k = heads(&qkv.narrow(2, d, d)?, h)?;
            let v = heads(&qkv.narrow(2, 2 * d, d)?, h)?;
            let k_t = k.t()?.contiguous()?;
            let a = l.out.forward(&attention(&q, &k_t, &v, None)?)?;
            x = (x + a)?;
            x = (&x + mlp(&x, &l.ffn_ln, &l.fc1, &l.fc2)?)?;
        }
        self.enc_ln.forward(&x)
    }

    /// Projects an encoded window into the decoder layers' cross-attention keys/values.
    pub fn cross_cache(&self, encoded: &Tensor) -> Result<CrossCache> {
        let h = self.config.decoder_heads;
        let d = self.config.d_model;
        let cross = self
            .dec_layers
            .iter()
            .map(|l| {
                let kv = l.cross_kv.forward(encoded)?;
                Ok((
                    heads(&kv.narrow(2, 0, d)?, h)?.t()?.contiguous()?,
                    heads(&kv.narrow(2, d, d)?, h)?.contiguous()?,
                ))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(CrossCache(cross))
    }

    /// A fresh decoding pass over a window.
    pub fn start(&self, cross: &CrossCache) -> DecoderState {
        DecoderState {
            past: vec![None; self.dec_layers.len()],
            cross: cross.clone(),
            len: 0,
        }
    }

    /// Feeds `tokens` `[B, T]` after the cached ones; returns the final hidden states
    /// `[B, T, d_model]` (turn positions into logits with [`Self::logits`]).
    pub fn decode(&self, tokens: &Tensor, state: &mut DecoderState) -> Result<Tensor> {
        let (_, t) = tokens.dims2()?;
        let offset = state.len;
        if offset + t > self.config.text_ctx {
            return Err(candle_core::Error::Msg(format!(
                "decoder context of {} tokens exceeded",
                self.config.text_ctx
            )));
        }
        let emb = self
            .embed
            .index_select(&tokens.flatten_all()?, 0)?
            .to_dtype(self.dtype)?;
        let emb = emb.reshape((tokens.dim(0)?, t, self.config.d_model))?;
        let mut x = emb.broadcast_add(&self.dec_pos.narrow(0, offset, t)?)?;
        let mask = if t > 1 {
            let m: Vec<f32> = (0..t)
                .flat_map(|i| {
                    (0..offset + t).map(move |j| {
                        if j > offset + i {
                            f32::NEG_INFINITY
                        } else {
                            0.0
                        }
                    })
                })
                .collect();
            Some(Tensor::from_vec(m, (t, offset + t), &self.device)?.to_dtype(self.dtype)?)
        } else {
            None
        };
        let h = self.config.decoder_heads;
        let d = self.config.d_model;
        for (i, l) in self.dec_layers.iter().enumerate() {
            let qkv = l.self_qkv.forward(&l.self_ln.forward(&x)?)?;
            let q = heads(&qkv.narrow(2, 0, d)?, h)?;
            // The self-attention cache keeps keys transposed, `[B, H, d, T]`, growing along T.
            let mut k = heads(&qkv.narrow(2, d, d)?, h)?.t()?.contiguous()?;
            let mut v = heads(&qkv.narrow(2, 2 * d, d)?, h)?.contiguous()?;
            if let Some((pk, pv)) = &state.past[i] {
                k = Tensor::cat(&[pk, &k], 3)?;
                v = Tensor::cat(&[pv, &v], 2)?;
            }
            let a = attention(&q, &k, &v, mask.as_ref())?;
            state.past[i] = Some((k, v));
            x = (x + l.self_out.forward(&a)?)?;
            let q = l.cross_q.forward(&l.cross_ln.forward(&x)?)?;
            let (ck, cv) = &state.cross.0[i];
            x = (&x + l.cross_out.forward(&shared_attention(&q, ck, cv, h)?)?)?;
            x = (&x + dense_mlp(&x, &l.ffn_ln, &l.fc1, &l.fc2)?)?;
        }
        state.len += t;
        self.dec_ln.forward(&x)
    }

    /// Logits `[B, vocab]` (f32) at position `pos` of hidden states from [`Self::decode`].
    pub fn logits(&self, hidden: &Tensor, pos: usize) -> Result<Tensor> {
        let x = hidden.i((.., pos, ..))?.contiguous()?;
        if self.half_decoder {
            crate::ops::matvec_f16(&x, &self.embed)
        } else {
            x.matmul(&self.embed.t()?)?.to_dtype(DType::F32)
        }
    }
}
