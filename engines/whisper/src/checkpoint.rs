//! Turns a model directory into named tensors for [`crate::model::Whisper`].
//!
//! Two layouts are understood:
//! - faster-whisper / CTranslate2: `model.bin`, `config.json` (suppress lists), `tokenizer.json`;
//! - Hugging Face `openai/whisper-*`: `model.safetensors`, `config.json`, `tokenizer.json`.
//!
//! Both end up in CTranslate2's naming with fused attention projections.

use crate::ct2::{Ct2DType, Ct2Model};
use crate::model::{Config, Weights};
use candle_core::{DType, Device, Tensor};
use std::path::{Path, PathBuf};

/// Why a model directory could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Ct2(#[from] crate::ct2::Ct2Error),
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error("tensor error: {0}")]
    Tensor(#[from] candle_core::Error),
}

/// Token lists the checkpoint asks to suppress while decoding.
#[derive(Debug, Clone, Default)]
pub struct SuppressLists {
    /// Never generated (non-speech symbols).
    pub always: Vec<u32>,
    /// Not allowed as the first generated token (a bare space, end of text).
    pub at_begin: Vec<u32>,
}

/// What a model directory holds, ready to build the network.
pub struct Checkpoint {
    pub weights: Weights,
    pub config: Config,
    pub suppress: SuppressLists,
    pub format: &'static str,
}

fn read(path: &Path) -> Result<Vec<u8>, CheckpointError> {
    std::fs::read(path).map_err(|source| CheckpointError::Io {
        path: path.to_path_buf(),
        source,
    })
}

fn invalid(path: &Path, message: impl Into<String>) -> CheckpointError {
    CheckpointError::Invalid {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

/// Loads whichever layout `dir` holds onto `device` as `dtype`.
pub fn load(dir: &Path, device: &Device, dtype: DType) -> Result<Checkpoint, CheckpointError> {
    if dir.join("model.bin").exists() {
        load_ct2(dir, device, dtype)
    } else if dir.join("model.safetensors").exists() {
        load_hf(dir, device, dtype)
    } else {
        Err(invalid(
            dir,
            "holds neither model.bin (CTranslate2) nor model.safetensors (Hugging Face)",
        ))
    }
}

fn json_ids(value: &serde_json::Value, key: &str) -> Vec<u32> {
    value
        .get(key)
        .and_then(|v| v.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_i64())
                .filter(|&x| x >= 0)
                .map(|x| x as u32)
                .collect()
        })
        .unwrap_or_default()
}

fn read_json(path: &Path) -> Result<serde_json::Value, CheckpointError> {
    serde_json::from_slice(&read(path)?).map_err(|e| invalid(path, e.to_string()))
}

fn count_layers<'a>(names: impl Iterator<Item = &'a String>, prefix: &str) -> usize {
    names
        .filter_map(|n| n.strip_prefix(prefix))
        .filter_map(|rest| rest.split('/').next()?.parse::<usize>().ok())
        .max()
        .map_or(0, |m| m + 1)
}

fn load_ct2(dir: &Path, device: &Device, dtype: DType) -> Result<Checkpoint, CheckpointError> {
    let bin_path = dir.join("model.bin");
    let model = Ct2Model::parse(&read(&bin_path)?)?;
    if model.spec != "WhisperSpec" {
        return Err(invalid(
            &bin_path,
            format!("is a {} model, not Whisper", model.spec),
        ));
    }
    let mut weights = Weights::new();
    for (name, v) in &model.variables {
        if v.shape.is_empty() {
            continue;
        }
        let src = match v.dtype {
            Ct2DType::F32 => DType::F32,
            Ct2DType::F16 => DType::F16,
            Ct2DType::Bf16 => DType::BF16,
            other => {
                return Err(invalid(
                    &bin_path,
                    format!(
                        "variable {name} is {other:?}; quantised (int8/int16) checkpoints are not supported, convert with --quantization float16"
                    ),
                ));
            }
        };
        let t = Tensor::from_raw_buffer(&v.data, src, &v.shape, &Device::Cpu)?
            .to_dtype(dtype)?
            .to_device(device)?;
        weights.insert(name.clone(), t);
    }
    let shape = |name: &str| -> Result<Vec<usize>, CheckpointError> {
        model
            .variables
            .get(name)
            .map(|v| v.shape.clone())
            .ok_or_else(|| invalid(&bin_path, format!("lacks {name}")))
    };
    let conv1 = shape("encoder/conv1/weight")?;
    let embed = shape("decoder/embeddings/weight")?;
    let config = Config {
        n_mels: conv1[1],
        d_model: conv1[0],
        encoder_layers: count_layers(model.variables.keys(), "encoder/layer_"),
        encoder_heads: model.scalar("encoder/num_heads").unwrap_or(0) as usize,
        audio_ctx: shape("encoder/position_encodings/encodings")?[0],
        decoder_layers: count_layers(model.variables.keys(), "decoder/layer_"),
        decoder_heads: model.scalar("decoder/num_heads").unwrap_or(0) as usize,
        text_ctx: shape("decoder/position_encodings/encodings")?[0],
        vocab: embed[0],
    };
    if config.encoder_heads == 0 || config.decoder_heads == 0 || config.encoder_layers == 0 {
        return Err(invalid(&bin_path, "lacks head or layer counts"));
    }
    let cfg_path = dir.join("config.json");
    let suppress = if cfg_path.exists() {
        let c = read_json(&cfg_path)?;
        SuppressLists {
            always: json_ids(&c, "suppress_ids"),
            at_begin: json_ids(&c, "suppress_ids_begin"),
        }
    } else {
        SuppressLists::default()
    };
    Ok(Checkpoint {
        weights,
        config,
        suppress,
        format: "ctranslate2",
    })
}

fn load_hf(dir: &Path, device: &Device, dtype: DType) -> Result<Checkpoint, CheckpointError> {
    let st_path = dir.join("model.safetensors");
    let cfg_path = dir.join("config.json");
    let cfg = read_json(&cfg_path)?;
    let num = |key: &str| -> Result<usize, CheckpointError> {
        cfg.get(key)
            .and_then(|v| v.as_u64())
            .map(|v| v as usize)
            .ok_or_else(|| invalid(&cfg_path, format!("lacks {key}")))
    };
    let config = Config {
        n_mels: num("num_mel_bins")?,
        d_model: num("d_model")?,
        encoder_layers: num("encoder_layers")?,
        encoder_heads: num("encoder_attention_heads")?,
        audio_ctx: num("max_source_positions")?,
        decoder_layers: num("decoder_layers")?,
        decoder_heads: num("decoder_attention_heads")?,
        text_ctx: num("max_target_positions")?,
        vocab: num("vocab_size")?,
    };
    let hf = candle_core::safetensors::load(&st_path, &Device::Cpu)?;
    let take = |name: &str| -> Result<Tensor, CheckpointError> {
        hf.get(name)
            .cloned()
            .ok_or_else(|| invalid(&st_path, format!("lacks {name}")))
    };
    let mut w = Weights::new();
    let mut put = |name: String, t: Tensor| -> Result<(), CheckpointError> {
        w.insert(name, t.to_dtype(dtype)?.to_device(device)?);
        Ok(())
    };
    let ln = |put: &mut dyn FnMut(String, Tensor) -> Result<(), CheckpointError>,
              src: &str,
              dst: &str|
     -> Result<(), CheckpointError> {
        put(format!("{dst}/gamma"), take(&format!("{src}.weight"))?)?;
        put(format!("{dst}/beta"), take(&format!("{src}.bias"))?)
    };
    let lin = |put: &mut dyn FnMut(String, Tensor) -> Result<(), CheckpointError>,
               src: &str,
               dst: &str|
     -> Result<(), CheckpointError> {
        put(format!("{dst}/weight"), take(&format!("{src}.weight"))?)?;
        put(format!("{dst}/bias"), take(&format!("{src}.bias"))?)
    };
    // Fuses projections; key projections have no bias in Whisper, so theirs is zero.
    let fused = |put: &mut dyn FnMut(String, Tensor) -> Result<(), CheckpointError>,
                 srcs: &[&str],
                 dst: &str|
     -> Result<(), CheckpointError> {
        let mut ws = Vec::new();
        let mut bs = Vec::new();
        for s in srcs {
            let wt = take(&format!("{s}.weight"))?;
            let b = match hf.get(&format!("{s}.bias")) {
                Some(b) => b.clone(),
                None => Tensor::zeros(wt.dim(0)?, wt.dtype(), &Device::Cpu)?,
            };
            ws.push(wt);
            bs.push(b);
        }
        put(format!("{dst}/weight"), Tensor::cat(&ws, 0)?)?;
        put(format!("{dst}/bias"), Tensor::cat(&bs, 0)?)
    };
    for conv in ["conv1", "conv2"] {
        lin(
            &mut put,
            &format!("model.encoder.{conv}"),
            &format!("encoder/{conv}"),
        )?;
    }
    put(
        "encoder/position_encodings/encodings".into(),
        take("model.encoder.embed_positions.weight")?,
    )?;
    ln(&mut put, "model.encoder.layer_norm", "encoder/layer_norm")?;
    put(
        "decoder/embeddings/weight".into(),
        take("model.decoder.embed_tokens.weight")?,
    )?;
    put(
        "decoder/position_encodings/encodings".into(),
        take("model.decoder.embed_positions.weight")?,
    )?;
    ln(&mut put, "model.decoder.layer_norm", "decoder/layer_norm")?;
    // Encoder and decoder layers share self-attention and feed-forward; decoder layers add
    // cross-attention over the encoded audio.
    for (side, layers) in [
        ("encoder", config.encoder_layers),
        ("decoder", config.decoder_layers),
    ] {
        for i in 0..layers {
            let s = format!("model.{side}.layers.{i}");
            let d = format!("{side}/layer_{i}");
            let sa = |p: &str| format!("{s}.self_attn.{p}");
            fused(
                &mut put,
                &[&sa("q_proj"), &sa("k_proj"), &sa("v_proj")],
                &format!("{d}/self_attention/linear_0"),
            )?;
            lin(
                &mut put,
                &sa("out_proj"),
                &format!("{d}/self_attention/linear_1"),
            )?;
            ln(
                &mut put,
                &format!("{s}.self_attn_layer_norm"),
                &format!("{d}/self_attention/layer_norm"),
            )?;
            lin(&mut put, &format!("{s}.fc1"), &format!("{d}/ffn/linear_0"))?;
            lin(&mut put, &format!("{s}.fc2"), &format!("{d}/ffn/linear_1"))?;
            ln(
                &mut put,
                &format!("{s}.final_layer_norm"),
                &format!("{d}/ffn/layer_norm"),
            )?;
            if side == "decoder" {
                let ca = |p: &str| format!("{s}.encoder_attn.{p}");
                lin(&mut put, &ca("q_proj"), &format!("{d}/attention/linear_0"))?;
                fused(
                    &mut put,
                    &[&ca("k_proj"), &ca("v_proj")],
                    &format!("{d}/attention/linear_1"),
                )?;
                lin(
                    &mut put,
                    &ca("out_proj"),
                    &format!("{d}/attention/linear_2"),
                )?;
                ln(
                    &mut put,
                    &format!("{s}.encoder_attn_layer_norm"),
                    &format!("{d}/attention/layer_norm"),
                )?;
            }
        }
    }
    let suppress = SuppressLists {
        always: json_ids(&cfg, "suppress_tokens"),
        at_begin: json_ids(&cfg, "begin_suppress_tokens"),
    };
    Ok(Checkpoint {
        weights: w,
        config,
        suppress,
        format: "safetensors",
    })
}
