//! The llama-family decoder (Llama, Mistral, SmolLM2) over GGUF quantized weights.
//!
//! Written for generation rather than taken from a model zoo: the key/value cache is
//! preallocated and written in place (no per-token concatenation), grouped-query heads attend
//! without repeating keys, Q/K/V and gate/up projections are fused into one product each, and
//! a batch of sequences that share a prompt shares its prefill (several lyric candidates cost
//! one prompt pass). On the CPU the serving path computes every step as llama.cpp's CPU
//! backend does ([`crate::numerics`]), so greedy output is llama.cpp's, token for token, and a
//! sequence's tokens do not depend on how many candidates run beside it.

use crate::numerics::{self, SumOrder};
use crate::quant::{Q41Matrix, Q80Matrix, QuantMatrix, WeightBlock};
use candle_core::quantized::gguf_file::Content;
use candle_core::quantized::{GgmlDType, QMatMul, QStorage, QTensor};
use candle_core::{D, DType, Device, Module, Result, Tensor};
use rayon::prelude::*;
use std::borrow::Cow;
use std::io::{Read, Seek};
use std::sync::Arc;

/// Shape of the network, from the GGUF metadata (`<arch>.*`).
#[derive(Debug, Clone, PartialEq)]
pub struct LlamaConfig {
    /// Transformer blocks.
    pub layers: usize,
    /// Hidden size.
    pub hidden: usize,
    /// Query heads.
    pub heads: usize,
    /// Key/value heads (fewer than `heads` for grouped-query attention).
    pub kv_heads: usize,
    /// Size of one head.
    pub head_dim: usize,
    /// RoPE base frequency.
    pub rope_base: f32,
    /// RMSNorm epsilon.
    pub eps: f64,
    /// Longest context the model was trained for.
    pub context: usize,
    /// Vocabulary size (rows of the output head).
    pub vocab: usize,
}

impl LlamaConfig {
    /// Reads the hyper-parameters for architecture `arch` (`llama`, `mistral`).
    pub fn from_gguf(content: &Content, arch: &str) -> Result<Self> {
        let get = |key: &str| {
            content
                .metadata
                .get(&format!("{arch}.{key}"))
                .ok_or_else(|| {
                    candle_core::Error::msg(format!("GGUF metadata lacks `{arch}.{key}`"))
                })
        };
        let hidden = get("embedding_length")?.to_u32()? as usize;
        let heads = get("attention.head_count")?.to_u32()? as usize;
        let kv_heads = match get("attention.head_count_kv") {
            Ok(v) => v.to_u32()? as usize,
            Err(_) => heads,
        };
        if heads == 0
            || kv_heads == 0
            || !heads.is_multiple_of(kv_heads)
            || !hidden.is_multiple_of(heads)
        {
            candle_core::bail!("GGUF heads {heads}/{kv_heads} do not divide hidden size {hidden}");
        }
        let head_dim = match get("rope.dimension_count") {
            Ok(v) => v.to_u32()? as usize,
            Err(_) => hidden / heads,
        };
        let vocab = match content.tensor_infos.get("token_embd.weight") {
            Some(t) => t.shape.dims()[0].max(*t.shape.dims().last().unwrap_or(&0)),
            None => candle_core::bail!("GGUF lacks tensor `token_embd.weight`"),
        };
        Ok(Self {
            layers: get("block_count")?.to_u32()? as usize,
            hidden,
            heads,
            kv_heads,
            head_dim,
            rope_base: get("rope.freq_base")
                .and_then(|v| v.to_f32())
                .unwrap_or(10_000.0),
            eps: get("attention.layer_norm_rms_epsilon")
                .and_then(|v| v.to_f32())
                .unwrap_or(1e-5) as f64,
            context: get("context_length")
                .and_then(|v| v.to_u32())
                .unwrap_or(4096) as usize,
            vocab,
        })
    }
}

/// A projection: our AVX2 kernels for `Q4_1` and `Q8_0` on the CPU (candle's `Q4_1` is
/// scalar, and its `Q8_0` quantizes activations in 256-value blocks, which moves logits away
/// from llama.cpp's), candle's quantized product otherwise.
#[derive(Debug, Clone)]
enum Linear {
    Q41(Arc<Q41Matrix>),
    Q80(Arc<Q80Matrix>),
    Candle(QMatMul),
}

/// Row-stacks `parts` into one matrix for our CPU kernels.
fn own_kernel<B: WeightBlock>(parts: &[QTensor]) -> Result<QuantMatrix<B>> {
    let mats = parts
        .iter()
        .map(|p| {
            let (rows, cols) = p.shape().dims2()?;
            QuantMatrix::<B>::from_gguf_bytes(rows, cols, &p.data()?)
                .map_err(candle_core::Error::wrap)
        })
        .collect::<Result<Vec<_>>>()?;
    let refs: Vec<&QuantMatrix<B>> = mats.iter().collect();
    QuantMatrix::concat_rows(&refs).map_err(candle_core::Error::wrap)
}

/// Flattens `x` to `[batch, cols]` values for our kernels and shapes their output back.
fn run_kernel(
    x: &Tensor,
    rows: usize,
    kernel: impl Fn(&[f32], usize) -> std::result::Result<Vec<f32>, crate::quant::QuantError>,
) -> Result<Tensor> {
    let mut dims = x.dims().to_vec();
    dims.pop();
    let batch = dims.iter().product::<usize>();
    let values = x.flatten_all()?.to_vec1::<f32>()?;
    let y = kernel(&values, batch).map_err(candle_core::Error::wrap)?;
    dims.push(rows);
    Tensor::from_vec(y, dims, x.device())
}

/// The token embedding table: our `Q8_0` rows on the CPU, candle's lookup otherwise.
#[derive(Debug, Clone)]
enum Embedding {
    Q80(Arc<Q80Matrix>),
    Candle(Arc<QTensor>),
}

impl Embedding {
    fn lookup(&self, ids: &[u32], device: &Device) -> Result<Tensor> {
        match self {
            Self::Q80(m) => {
                let mut values = Vec::with_capacity(ids.len() * m.cols());
                for &id in ids {
                    if id as usize >= m.rows() {
                        candle_core::bail!("token id {id} is outside the vocabulary");
                    }
                    values.extend(m.dequantize_row(id as usize));
                }
                Tensor::from_vec(values, (ids.len(), m.cols()), device)
            }
            Self::Candle(t) => t.embedding(&Tensor::new(ids, device)?),
        }
    }
}

impl Linear {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        match self {
            Self::Q41(w) => run_kernel(x, w.rows(), |v, b| w.matmul(v, b)),
            Self::Q80(w) => run_kernel(x, w.rows(), |v, b| w.matmul(v, b)),
            Self::Candle(m) => m.forward(x),
        }
    }

    /// Builds the projection from one or more row-stacked tensors of the same width.
    /// The row-stacked matrices dequantized to f32 (reference evaluations).
    fn dense(parts: &[QTensor], device: &Device) -> Result<Self> {
        let rows = parts
            .iter()
            .map(|p| p.dequantize(device))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self::Candle(QMatMul::Tensor(Tensor::cat(&rows, 0)?)))
    }

    /// The projection for `parts` at `precision`.
    fn load(parts: Vec<QTensor>, device: &Device, precision: Precision) -> Result<Self> {
        match precision {
            Precision::Quantized => Self::stacked(parts, device),
            Precision::Dequantized => Self::dense(&parts, device),
        }
    }

    fn stacked(parts: Vec<QTensor>, device: &Device) -> Result<Self> {
        let dtype = parts[0].dtype();
        if parts.iter().any(|p| p.dtype() != dtype) {
            candle_core::bail!("cannot fuse projections of different quantization types");
        }
        if device.is_cpu() {
            match dtype {
                GgmlDType::Q4_1 => return Ok(Self::Q41(Arc::new(own_kernel(&parts)?))),
                GgmlDType::Q8_0 if parts.len() == 1 => {
                    return Ok(Self::Q80(Arc::new(own_kernel(&parts)?)));
                }
                _ => {}
            }
        }
        if parts.len() == 1 {
            let part = parts
                .into_iter()
                .next()
                .ok_or_else(|| candle_core::Error::msg("empty"))?;
            return Ok(Self::Candle(QMatMul::from_qtensor(part)?));
        }
        // Quantized rows are independent, so stacking the raw row bytes stacks the matrices.
        let cols = parts[0].shape().dims2()?.1;
        let mut rows = 0;
        let mut bytes = Vec::new();
        for p in &parts {
            let (r, c) = p.shape().dims2()?;
            if c != cols {
                candle_core::bail!("cannot fuse projections of widths {cols} and {c}");
            }
            rows += r;
            bytes.extend_from_slice(&p.data()?);
        }
        let storage = QStorage::from_data(Cow::Owned(bytes), device, dtype)?;
        Ok(Self::Candle(QMatMul::from_qtensor(QTensor::new(
            storage,
            (rows, cols),
        )?)?))
    }
}

#[derive(Debug, Clone)]
struct Block {
    attn_norm: Tensor,
    qkv: Linear,
    out: Linear,
    ffn_norm: Tensor,
    gate_up: Linear,
    down: Linear,
    ffn: usize,
}

/// How the weights are computed with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Precision {
    /// As stored, with 8-bit activations and an f16-rounded cache, as llama.cpp computes:
    /// the serving mode.
    #[default]
    Quantized,
    /// Dequantized to f32 at load and computed in f32 throughout: a reference that an
    /// independent evaluation of the same file must reproduce (slow, four to eight times the
    /// memory).
    Dequantized,
}

/// A loaded network. Immutable: each generation owns its [`Cache`], so requests can share it.
#[derive(Debug, Clone)]
pub struct Llama {
    /// Hyper-parameters.
    pub config: LlamaConfig,
    precision: Precision,
    embed: Embedding,
    blocks: Vec<Block>,
    norm: Tensor,
    output: Linear,
    /// RoPE tables as tensors, for the candle attention path.
    cos: Tensor,
    sin: Tensor,
    /// The same tables as values, for the CPU serving path ([`rope_tables`]).
    rope_cos: Vec<f32>,
    rope_sin: Vec<f32>,
    device: Device,
}

/// Keys and values of every layer for a batch of sequences of equal length.
pub struct Cache {
    store: Store,
    /// Positions filled.
    pub len: usize,
    /// Positions available.
    pub capacity: usize,
    batch: usize,
}

/// Where a cache keeps its keys and values.
enum Store {
    /// candle tensors (GPU, and the dequantized reference): keys transposed,
    /// `[batch, kv_heads, head_dim, capacity]`, values `[batch, kv_heads, capacity, head_dim]`.
    Tensors {
        keys: Vec<Tensor>,
        values: Vec<Tensor>,
    },
    /// The CPU serving path: per layer, f16-rounded rows `[batch, kv_heads, capacity,
    /// head_dim]` that [`numerics::attend`] reads in place.
    Rows {
        keys: Vec<Vec<f32>>,
        values: Vec<Vec<f32>>,
        /// Values per batch row (`kv_heads * capacity * head_dim`).
        stride: usize,
    },
}

impl Llama {
    /// Loads the network from a GGUF file onto `device`, quantized as stored.
    pub fn from_gguf<R: Read + Seek>(
        content: &Content,
        reader: &mut R,
        device: &Device,
    ) -> Result<Self> {
        Self::from_gguf_with(content, reader, device, Precision::Quantized)
    }

    /// Loads the network at the given precision.
    pub fn from_gguf_with<R: Read + Seek>(
        content: &Content,
        reader: &mut R,
        device: &Device,
        precision: Precision,
    ) -> Result<Self> {
        let arch = content
            .metadata
            .get("general.architecture")
            .and_then(|v| v.to_string().ok())
            .cloned()
            .unwrap_or_else(|| "llama".into());
        if !matches!(arch.as_str(), "llama" | "mistral") {
            candle_core::bail!("GGUF architecture `{arch}` is not llama-family (llama, mistral)");
        }
        let config = LlamaConfig::from_gguf(content, &arch)?;
        let mut tensor = |name: &str| content.tensor(reader, name, device);
        let table = tensor("token_embd.weight")?;
        let norm = tensor("output_norm.weight")?.dequantize(device)?;
        let quantized = precision == Precision::Quantized;
        let (embed, tied) = if quantized && device.is_cpu() && table.dtype() == GgmlDType::Q8_0 {
            let m: Arc<Q80Matrix> = Arc::new(own_kernel(std::slice::from_ref(&table))?);
            (Embedding::Q80(m.clone()), Linear::Q80(m))
        } else {
            let head = if quantized {
                None
            } else {
                Some(Linear::dense(std::slice::from_ref(&table), device)?)
            };
            let t = Arc::new(table);
            let head = match head {
                Some(h) => h,
                None => Linear::Candle(QMatMul::from_arc(t.clone())?),
            };
            (Embedding::Candle(t), head)
        };
        let output = match tensor("output.weight") {
            Ok(t) => Linear::load(vec![t], device, precision)?,
            // Tied embeddings (SmolLM2): the output head is the embedding table.
            Err(_) => tied,
        };
        let mut blocks = Vec::with_capacity(config.layers);
        for i in 0..config.layers {
            let p = format!("blk.{i}");
            let gate = tensor(&format!("{p}.ffn_gate.weight"))?;
            let ffn = gate.shape().dims2()?.0;
            blocks.push(Block {
                attn_norm: tensor(&format!("{p}.attn_norm.weight"))?.dequantize(device)?,
                qkv: Linear::load(
                    vec![
                        tensor(&format!("{p}.attn_q.weight"))?,
                        tensor(&format!("{p}.attn_k.weight"))?,
                        tensor(&format!("{p}.attn_v.weight"))?,
                    ],
                    device,
                    precision,
                )?,
                out: Linear::load(
                    vec![tensor(&format!("{p}.attn_output.weight"))?],
                    device,
                    precision,
                )?,
                ffn_norm: tensor(&format!("{p}.ffn_norm.weight"))?.dequantize(device)?,
                gate_up: Linear::load(
                    vec![gate, tensor(&format!("{p}.ffn_up.weight"))?],
                    device,
                    precision,
                )?,
                down: Linear::load(
                    vec![tensor(&format!("{p}.ffn_down.weight"))?],
                    device,
                    precision,
                )?,
                ffn,
            });
        }
        let (rope_cos, rope_sin) = rope_tables(&config);
        let shape = (config.context, config.head_dim / 2);
        let cos = Tensor::from_slice(&rope_cos, shape, device)?;
        let sin = Tensor::from_slice(&rope_sin, shape, device)?;
        Ok(Self {
            config,
            precision,
            embed,
            blocks,
            norm,
            output,
            cos,
            sin,
            rope_cos,
            rope_sin,
            device: device.clone(),
        })
    }

    /// An empty cache for `batch` sequences of up to `capacity` positions.
    pub fn cache(&self, batch: usize, capacity: usize) -> Result<Cache> {
        let c = &self.config;
        let capacity = capacity.min(c.context).max(1);
        if self.ggml_numerics() {
            let stride = c.kv_heads * capacity * c.head_dim;
            return Ok(Cache {
                store: Store::Rows {
                    keys: vec![vec![0.0; batch * stride]; c.layers],
                    values: vec![vec![0.0; batch * stride]; c.layers],
                    stride,
                },
                len: 0,
                capacity,
                batch,
            });
        }
        let mut keys = Vec::with_capacity(c.layers);
        let mut values = Vec::with_capacity(c.layers);
        for _ in 0..c.layers {
            keys.push(Tensor::zeros(
                (batch, c.kv_heads, c.head_dim, capacity),
                DType::F32,
                &self.device,
            )?);
            values.push(Tensor::zeros(
                (batch, c.kv_heads, capacity, c.head_dim),
                DType::F32,
                &self.device,
            )?);
        }
        Ok(Cache {
            store: Store::Tensors { keys, values },
            len: 0,
            capacity,
            batch,
        })
    }

    /// A copy of `cache` with room for `capacity` positions (at least its filled ones): a
    /// kept prompt prefix is stored tight and grown again for the request that reuses it.
    pub fn resized(&self, cache: &Cache, capacity: usize) -> Result<Cache> {
        let c = &self.config;
        let capacity = capacity.min(c.context).max(1);
        if capacity < cache.len {
            candle_core::bail!(
                "a cache of {} positions does not fit in {capacity}",
                cache.len
            );
        }
        let store = match &cache.store {
            Store::Rows {
                keys,
                values,
                stride,
            } => {
                let old_capacity = stride / (c.kv_heads * c.head_dim);
                let new_stride = c.kv_heads * capacity * c.head_dim;
                let filled = cache.len * c.head_dim;
                let copy = |layer: &Vec<f32>| {
                    let mut out = vec![0.0; cache.batch * new_stride];
                    for b in 0..cache.batch {
                        for kh in 0..c.kv_heads {
                            let from = b * stride + kh * old_capacity * c.head_dim;
                            let to = b * new_stride + kh * capacity * c.head_dim;
                            out[to..to + filled].copy_from_slice(&layer[from..from + filled]);
                        }
                    }
                    out
                };
                Store::Rows {
                    keys: keys.iter().map(copy).collect(),
                    values: values.iter().map(copy).collect(),
                    stride: new_stride,
                }
            }
            Store::Tensors { keys, values } => {
                let (b, kvh, hd) = (cache.batch, c.kv_heads, c.head_dim);
                let mut new_keys = Vec::with_capacity(keys.len());
                let mut new_values = Vec::with_capacity(values.len());
                for (k, v) in keys.iter().zip(values) {
                    let nk = Tensor::zeros((b, kvh, hd, capacity), DType::F32, &self.device)?;
                    let nv = Tensor::zeros((b, kvh, capacity, hd), DType::F32, &self.device)?;
                    if cache.len > 0 {
                        nk.slice_set(&k.narrow(3, 0, cache.len)?.contiguous()?, 3, 0)?;
                        nv.slice_set(&v.narrow(2, 0, cache.len)?.contiguous()?, 2, 0)?;
                    }
                    new_keys.push(nk);
                    new_values.push(nv);
                }
                Store::Tensors {
                    keys: new_keys,
                    values: new_values,
                }
            }
        };
        Ok(Cache {
            store,
            len: cache.len,
            capacity,
            batch: cache.batch,
        })
    }

    /// Runs `tokens` (`[batch, t]`, all rows at the same positions) through the network,
    /// appending to `cache`; returns the logits of the last position, `[batch, vocab]`.
    pub fn forward(&self, tokens: &[Vec<u32>], cache: &mut Cache) -> Result<Tensor> {
        let batch = tokens.len();
        let t = tokens.first().map_or(0, Vec::len);
        if batch != cache.batch || t == 0 || tokens.iter().any(|r| r.len() != t) {
            candle_core::bail!(
                "forward needs {} rows of equal, non-zero length",
                cache.batch
            );
        }
        if cache.len + t > cache.capacity {
            candle_core::bail!(
                "context full: {} + {t} tokens exceed {} positions",
                cache.len,
                cache.capacity
            );
        }
        let c = &self.config;
        let (h, kvh, hd) = (c.heads, c.kv_heads, c.head_dim);
        let groups = h / kvh;
        let pos = cache.len;
        let ids: Vec<u32> = tokens.iter().flatten().copied().collect();
        let mut x = self
            .embed
            .lookup(&ids, &self.device)?
            .reshape((batch, t, c.hidden))?;
        let cos = self.cos.narrow(0, pos, t)?;
        let sin = self.sin.narrow(0, pos, t)?;
        let mask = if t > 1 && !self.ggml_numerics() {
            Some(causal_mask(t, pos, groups, &self.device)?)
        } else {
            None
        };
        let scale = 1.0 / (hd as f64).sqrt();
        for (i, b) in self.blocks.iter().enumerate() {
            let normed = self.rms_norm(&x, &b.attn_norm)?;
            let qkv = b.qkv.forward(&normed)?;
            let attended = match &mut cache.store {
                Store::Rows {
                    keys,
                    values,
                    stride,
                } => self.attend_rows(
                    &qkv,
                    (&mut keys[i], &mut values[i], *stride),
                    batch,
                    pos,
                    scale as f32,
                )?,
                Store::Tensors { keys, values } => {
                    let tensors = (&mut keys[i], &mut values[i]);
                    self.attend_tensors(&qkv, tensors, (batch, t, pos), (&cos, &sin), &mask)?
                }
            };
            x = (x + b.out.forward(&attended)?)?;
            let normed = self.rms_norm(&x, &b.ffn_norm)?;
            let gate_up = b.gate_up.forward(&normed)?;
            let act = self.swiglu(&gate_up, b.ffn)?;
            x = (x + b.down.forward(&act)?)?;
        }
        cache.len += t;
        let last = x.narrow(1, t - 1, 1)?;
        let last = self.rms_norm(&last, &self.norm)?;
        self.output.forward(&last)?.reshape((batch, c.vocab))
    }

    /// Attention through candle tensors: `[batch, t, heads * head_dim]`.
    fn attend_tensors(
        &self,
        qkv: &Tensor,
        (keys, values): (&mut Tensor, &mut Tensor),
        (batch, t, pos): (usize, usize, usize),
        (cos, sin): (&Tensor, &Tensor),
        mask: &Option<Tensor>,
    ) -> Result<Tensor> {
        let c = &self.config;
        let (h, kvh, hd) = (c.heads, c.kv_heads, c.head_dim);
        let groups = h / kvh;
        let kv_len = pos + t;
        let scale = 1.0 / (hd as f64).sqrt();
        let q = qkv
            .narrow(D::Minus1, 0, h * hd)?
            .reshape((batch, t, h, hd))?
            .transpose(1, 2)?
            .contiguous()?;
        let k = qkv
            .narrow(D::Minus1, h * hd, kvh * hd)?
            .reshape((batch, t, kvh, hd))?
            .transpose(1, 2)?
            .contiguous()?;
        let v = qkv
            .narrow(D::Minus1, (h + kvh) * hd, kvh * hd)?
            .reshape((batch, t, kvh, hd))?
            .transpose(1, 2)?
            .contiguous()?;
        let q = candle_nn::rotary_emb::rope_i(&q, cos, sin)?;
        let k = candle_nn::rotary_emb::rope_i(&k, cos, sin)?;
        // Keys and values are rounded to f16 as they enter the cache, as llama.cpp's
        // default cache stores them: greedy output then matches it token for token.
        let (k, v) = match self.precision {
            Precision::Quantized => (
                k.to_dtype(DType::F16)?.to_dtype(DType::F32)?,
                v.to_dtype(DType::F16)?.to_dtype(DType::F32)?,
            ),
            Precision::Dequantized => (k, v),
        };
        keys.slice_set(&k.transpose(2, 3)?.contiguous()?, 3, pos)?;
        values.slice_set(&v, 2, pos)?;
        let keys = keys.narrow(3, 0, kv_len)?;
        let values = values.narrow(2, 0, kv_len)?;
        // Grouped-query attention without repeating keys: the query heads sharing a key
        // head become extra rows, `[batch, kv_heads, groups * t, head_dim]`.
        let q = q.reshape((batch, kvh, groups * t, hd))?;
        let q = self.as_cached(q)?;
        let mut scores = (q.matmul(&keys)? * scale)?;
        if let Some(m) = mask {
            scores = scores.broadcast_add(m)?;
        }
        let probs = self.as_cached(candle_nn::ops::softmax_last_dim(&scores)?)?;
        probs
            .matmul(&values)?
            .reshape((batch, h, t, hd))?
            .transpose(1, 2)?
            .reshape((batch, t, h * hd))
    }

    /// Attention on the CPU serving path, in llama.cpp's numerics: RoPE from
    /// [`Llama::rope_rows`], keys and values rounded to f16 into the cache rows, then
    /// [`numerics::attend`] per query row. Returns `[batch, t, heads * head_dim]`.
    fn attend_rows(
        &self,
        qkv: &Tensor,
        (keys, values, stride): (&mut [f32], &mut [f32], usize),
        batch: usize,
        pos: usize,
        scale: f32,
    ) -> Result<Tensor> {
        let c = &self.config;
        let (h, kvh, hd) = (c.heads, c.kv_heads, c.head_dim);
        let groups = h / kvh;
        let width = (h + 2 * kvh) * hd;
        let mut qkv_rows = qkv.flatten_all()?.to_vec1::<f32>()?;
        let t = qkv_rows.len() / (batch * width);
        let capacity = stride / (kvh * hd);
        for (r, row) in qkv_rows.chunks_exact_mut(width).enumerate() {
            let (b, i) = (r / t, r % t);
            let p = pos + i;
            for head in row[..(h + kvh) * hd].chunks_exact_mut(hd) {
                self.rope_rows(head, p);
            }
            for kh in 0..kvh {
                let at = b * stride + (kh * capacity + p) * hd;
                let k = &row[(h + kh) * hd..(h + kh + 1) * hd];
                let v = &row[(h + kvh + kh) * hd..(h + kvh + kh + 1) * hd];
                for d in 0..hd {
                    keys[at + d] = numerics::to_half(k[d]);
                    values[at + d] = numerics::to_half(v[d]);
                }
            }
        }
        let order = if t == 1 {
            SumOrder::Stepwise
        } else {
            SumOrder::Tiled
        };
        let (keys, values) = (&*keys, &*values);
        // One task per query row and key/value head (its group of query heads read each
        // cached row once), spread over the threads once there are enough of them: a
        // prompt's rows, or several candidates' steps; one sequence's single step (a few
        // heads) is too little work to hand out.
        let group = |(n, o): (usize, &mut [f32])| {
            let (r, kh) = (n / kvh, n % kvh);
            let (b, i) = (r / t, r % t);
            let len = pos + i + 1;
            let at = b * stride + kh * capacity * hd;
            let first = r * width + kh * groups * hd;
            numerics::attend_group(
                &qkv_rows[first..first + groups * hd],
                &keys[at..at + len * hd],
                &values[at..at + len * hd],
                hd,
                scale,
                order,
                o,
            );
        };
        let mut out = vec![0f32; batch * t * h * hd];
        if t > 1 || batch > 1 {
            out.par_chunks_exact_mut(groups * hd)
                .enumerate()
                .for_each(group);
        } else {
            out.chunks_exact_mut(groups * hd)
                .enumerate()
                .for_each(group);
        }
        Tensor::from_vec(out, (batch, t, h * hd), qkv.device())
    }

    /// Rotates one head for position `p` with ggml's angles.
    fn rope_rows(&self, head: &mut [f32], p: usize) {
        let half = self.config.head_dim / 2;
        let at = p * half..(p + 1) * half;
        numerics::rope(head, &self.rope_cos[at.clone()], &self.rope_sin[at]);
    }
}

impl Llama {
    /// Whether the elementwise steps follow llama.cpp's CPU numerics ([`crate::numerics`]):
    /// the quantized CPU path, for heads whose width the attention sums divide (every
    /// llama-family size in use: 64, 96, 128).
    fn ggml_numerics(&self) -> bool {
        self.precision == Precision::Quantized
            && self.device.is_cpu()
            && self.config.head_dim.is_multiple_of(32)
    }

    /// RMSNorm over the last dimension, times `weight`.
    fn rms_norm(&self, x: &Tensor, weight: &Tensor) -> Result<Tensor> {
        let eps = self.config.eps as f32;
        if !self.ggml_numerics() {
            return candle_nn::ops::rms_norm(x, weight, eps);
        }
        let mut values = x.flatten_all()?.to_vec1::<f32>()?;
        numerics::rms_norm(&mut values, &weight.to_vec1::<f32>()?, eps);
        Tensor::from_vec(values, x.dims(), x.device())
    }

    /// `silu(gate) * up` from the fused gate/up product (`[.., 2 * ffn]`).
    fn swiglu(&self, gate_up: &Tensor, ffn: usize) -> Result<Tensor> {
        let gate = gate_up.narrow(D::Minus1, 0, ffn)?;
        let up = gate_up.narrow(D::Minus1, ffn, ffn)?;
        if !self.ggml_numerics() {
            return candle_nn::ops::silu(&gate)? * up;
        }
        let (gate, up) = (gate.contiguous()?, up.contiguous()?);
        let values = numerics::swiglu(
            &gate.flatten_all()?.to_vec1::<f32>()?,
            &up.flatten_all()?.to_vec1::<f32>()?,
        );
        Tensor::from_vec(values, gate.dims(), gate.device())
    }

    /// In the serving mode, rounds an attention operand to f16 as llama.cpp's f16 cache
    /// products do (the query for the scores, the probabilities for the values).
    fn as_cached(&self, x: Tensor) -> Result<Tensor> {
        match self.precision {
            Precision::Quantized => x.to_dtype(DType::F16)?.to_dtype(DType::F32),
            Precision::Dequantized => Ok(x),
        }
    }
}

impl Cache {
    /// Keeps the listed sequences (rows of the batch), dropping the rest.
    pub fn retain(&mut self, rows: &[usize]) -> Result<()> {
        if let Some(&bad) = rows.iter().find(|&&r| r >= self.batch) {
            candle_core::bail!("row {bad} is outside a batch of {}", self.batch);
        }
        match &mut self.store {
            Store::Tensors { keys, values } => {
                let device = keys
                    .first()
                    .map(|k| k.device().clone())
                    .unwrap_or(Device::Cpu);
                let index = Tensor::from_vec(
                    rows.iter().map(|&r| r as u32).collect::<Vec<_>>(),
                    rows.len(),
                    &device,
                )?;
                for t in keys.iter_mut().chain(values.iter_mut()) {
                    *t = t.index_select(&index, 0)?.contiguous()?;
                }
            }
            Store::Rows {
                keys,
                values,
                stride,
            } => {
                let stride = *stride;
                for layer in keys.iter_mut().chain(values.iter_mut()) {
                    *layer = rows
                        .iter()
                        .flat_map(|&r| layer[r * stride..(r + 1) * stride].iter().copied())
                        .collect();
                }
            }
        }
        self.batch = rows.len();
        Ok(())
    }

    /// A cache for `batch` sequences that all start from this one's single sequence.
    pub fn fork(&self, batch: usize) -> Result<Cache> {
        if self.batch != 1 {
            candle_core::bail!("only a single-sequence cache can be forked");
        }
        let store = match &self.store {
            Store::Tensors { keys, values } => {
                let grow = |t: &Tensor| -> Result<Tensor> {
                    let dims = t.dims().to_vec();
                    t.broadcast_as((batch, dims[1], dims[2], dims[3]))?
                        .contiguous()
                };
                Store::Tensors {
                    keys: keys.iter().map(grow).collect::<Result<_>>()?,
                    values: values.iter().map(grow).collect::<Result<_>>()?,
                }
            }
            Store::Rows {
                keys,
                values,
                stride,
            } => Store::Rows {
                keys: keys.iter().map(|l| l.repeat(batch)).collect(),
                values: values.iter().map(|l| l.repeat(batch)).collect(),
                stride: *stride,
            },
        };
        Ok(Cache {
            store,
            len: self.len,
            capacity: self.capacity,
            batch,
        })
    }
}

/// Interleaved-pair RoPE tables `[context, head_dim / 2]` (GGUF llama weights are laid out
/// for ggml's normal mode), with the angles as ggml's rope cache computes them: `θ` starts at
/// the position and is multiplied by `base^(-2 / head_dim)` for each next pair, in f32.
fn rope_tables(c: &LlamaConfig) -> (Vec<f32>, Vec<f32>) {
    let half = c.head_dim / 2;
    let step = c.rope_base.powf(-2.0 / c.head_dim as f32);
    let mut cos = Vec::with_capacity(c.context * half);
    let mut sin = Vec::with_capacity(c.context * half);
    for p in 0..c.context {
        let mut theta = p as f32;
        for _ in 0..half {
            cos.push(theta.cos());
            sin.push(theta.sin());
            theta *= step;
        }
    }
    (cos, sin)
}

/// Additive causal mask for `t` new positions after `past` cached ones, tiled for the query
/// rows of every head in a group: `[groups * t, past + t]`.
fn causal_mask(t: usize, past: usize, groups: usize, device: &Device) -> Result<Tensor> {
    let cols = past + t;
    let mut m = Vec::with_capacity(groups * t * cols);
    for _ in 0..groups {
        for i in 0..t {
            m.extend((0..cols).map(|j| if j > past + i { f32::NEG_INFINITY } else { 0.0 }));
        }
    }
    Tensor::from_vec(m, (groups * t, cols), device)
}
