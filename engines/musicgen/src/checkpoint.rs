//! Random-weight checkpoints in the Hugging Face MusicGen layout, for tests and benchmarks:
//! every tensor the loaders read, under the names the real `model.safetensors` uses, filled
//! from a seeded generator, beside a `config.json` and a word-level `tokenizer.json`.

use crate::MusicgenConfig;
use crate::decoder::Decoder;
use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use candle_transformers::models::{encodec, t5};
use songforge_rng::Rng;
use std::path::{Path, PathBuf};

/// The safetensors files of a checkpoint folder: `model.safetensors`, or the shards that
/// `model.safetensors.index.json` lists (medium, large and the melody models ship sharded).
pub fn weight_files(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let single = dir.join("model.safetensors");
    if single.is_file() {
        return Ok(vec![single]);
    }
    let index = dir.join("model.safetensors.index.json");
    let text = std::fs::read_to_string(&index).map_err(|_| {
        format!(
            "{}: missing (and no model.safetensors.index.json lists shards)",
            single.display()
        )
    })?;
    let bad = |e: String| format!("{}: {e}", index.display());
    let json: serde_json::Value = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
    let map = json
        .get("weight_map")
        .and_then(|m| m.as_object())
        .ok_or_else(|| bad("no `weight_map`".into()))?;
    let mut files: Vec<PathBuf> = Vec::new();
    for shard in map.values() {
        let name = shard
            .as_str()
            .filter(|n| !n.is_empty() && !n.contains('/') && !n.contains('\\') && *n != "..")
            .ok_or_else(|| bad(format!("`{shard}` is not a file name")))?;
        let path = dir.join(name);
        if !files.contains(&path) {
            if !path.is_file() {
                return Err(format!("{}: missing (listed in the index)", path.display()));
            }
            files.push(path);
        }
    }
    if files.is_empty() {
        return Err(bad("`weight_map` is empty".into()));
    }
    files.sort();
    Ok(files)
}

/// A tiny MusicGen (64-code vocabulary, 64 positions, 2 layers each): milliseconds a step.
pub const TINY_CONFIG: &str = r#"{
  "model_type": "musicgen",
  "text_encoder": {
    "vocab_size": 32, "d_model": 16, "d_kv": 4, "d_ff": 32, "num_layers": 2, "num_heads": 4,
    "relative_attention_num_buckets": 8, "relative_attention_max_distance": 16,
    "dropout_rate": 0.0, "layer_norm_epsilon": 1e-6, "initializer_factor": 1.0,
    "feed_forward_proj": "relu", "is_encoder_decoder": true, "pad_token_id": 0,
    "eos_token_id": 1, "decoder_start_token_id": 0
  },
  "audio_encoder": {
    "sampling_rate": 32000, "audio_channels": 1, "target_bandwidths": [2.2], "normalize": false,
    "hidden_size": 16, "num_filters": 4, "num_residual_layers": 1,
    "upsampling_ratios": [8, 5, 4, 4], "norm_type": "weight_norm", "kernel_size": 7,
    "last_kernel_size": 7, "residual_kernel_size": 3, "dilation_growth_rate": 2,
    "use_causal_conv": false, "pad_mode": "reflect", "compress": 2, "num_lstm_layers": 2,
    "trim_right_ratio": 1.0, "codebook_size": 64, "codebook_dim": 16, "use_conv_shortcut": false
  },
  "decoder": {
    "vocab_size": 64, "max_position_embeddings": 64, "num_hidden_layers": 2, "ffn_dim": 32,
    "num_attention_heads": 4, "hidden_size": 24, "num_codebooks": 4, "pad_token_id": 64,
    "bos_token_id": 64, "activation_function": "gelu", "scale_embedding": false
  }
}"#;

/// A tiny MusicGen Melody: the tiny model with a decoder without cross-attention and an
/// 8-frame chroma prefix.
pub fn tiny_melody_config() -> String {
    TINY_CONFIG.replace(
        r#""model_type": "musicgen","#,
        r#""model_type": "musicgen_melody", "num_chroma": 12, "chroma_length": 8,"#,
    )
}

/// A word-level tokenizer for prompts made of these words (others read as `<unk>`).
pub const TINY_TOKENIZER: &str = r#"{"version": "1.0", "truncation": null, "padding": null, "added_tokens": [],
 "normalizer": {"type": "Lowercase"}, "pre_tokenizer": {"type": "Whitespace"},
 "post_processor": null, "decoder": null,
 "model": {"type": "WordLevel", "unk_token": "<unk>",
   "vocab": {"<pad>": 0, "</s>": 1, "<unk>": 2, "pop": 3, "song": 4, "rock": 5, "with": 6,
             "drums": 7, "bpm": 8, "120": 9, "calm": 10, "piano": 11, "instrumental": 12,
             "at": 13, "in": 14, "major": 15, "minor": 16}}}"#;

/// Writes `config.json`, `tokenizer.json` and a `model.safetensors` of weights uniform in
/// ±0.2 from `seed` into `dir`.
pub fn write_random(
    dir: &Path,
    config: &str,
    tokenizer: &str,
    seed: u64,
) -> candle_core::Result<()> {
    let io = |e: std::io::Error| candle_core::Error::Msg(format!("{}: {e}", dir.display()));
    std::fs::create_dir_all(dir).map_err(io)?;
    std::fs::write(dir.join("config.json"), config).map_err(io)?;
    std::fs::write(dir.join("tokenizer.json"), tokenizer).map_err(io)?;
    let cfg: MusicgenConfig =
        serde_json::from_str(config).map_err(|e| candle_core::Error::Msg(e.to_string()))?;
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
    let t5_cfg = &cfg.text_encoder;
    vb.pp("text_encoder")
        .get((t5_cfg.vocab_size, t5_cfg.d_model), "shared.weight")?;
    t5::T5EncoderModel::load(vb.pp("text_encoder"), t5_cfg)?;
    if t5_cfg.d_model != cfg.decoder.hidden_size {
        candle_nn::linear(
            t5_cfg.d_model,
            cfg.decoder.hidden_size,
            vb.pp("enc_to_dec_proj"),
        )?;
    }
    let melody = cfg.is_melody().map_err(candle_core::Error::Msg)?;
    if melody {
        candle_nn::linear(
            cfg.num_chroma.unwrap_or(12),
            cfg.decoder.hidden_size,
            vb.pp("audio_enc_to_dec_proj"),
        )?;
    }
    Decoder::load(&cfg.decoder, vb.pp("decoder"), !melody, 0)?;
    let codec: encodec::Config = cfg
        .audio_encoder
        .to_encodec()
        .map_err(candle_core::Error::Msg)?;
    encodec::Model::new(&codec, vb.pp("audio_encoder"))?;
    let mut rng = Rng::new(seed);
    {
        let data = varmap
            .data()
            .lock()
            .map_err(|_| candle_core::Error::Msg("poisoned".into()))?;
        let mut names: Vec<&String> = data.keys().collect();
        names.sort();
        for name in names {
            let var = &data[name];
            let values: Vec<f32> = (0..var.elem_count())
                .map(|_| (rng.unit() - 0.5) * 0.4)
                .collect();
            var.set(&Tensor::from_vec(values, var.shape(), &Device::Cpu)?)?;
        }
    }
    varmap.save(dir.join("model.safetensors"))
}
