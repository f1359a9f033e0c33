//! The two checkpoint layouts give the same model: the packaged CTranslate2 tiny.en is
//! rewritten in the Hugging Face `openai/whisper-*` layout (separate q/k/v projections, no
//! key bias, `model.encoder.layers.N.*` names, transformers' `config.json`), loaded through
//! the safetensors path, and must transcribe a clip exactly as the original does.
//!
//! Needs `whisper-tiny-en` installed (`make test` pulls it).

use candle_core::{DType, Device, Tensor};
use songforge_whisper::{Options, WhisperEngine, checkpoint};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn store() -> PathBuf {
    std::env::var_os("SONGFORGE_MODELS")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("models/store"))
}

fn clip(name: &str) -> Vec<f32> {
    let mut r =
        hound::WavReader::open(repo().join("tests/fixtures/speech").join(name)).expect("fixture");
    r.samples::<i16>()
        .map(|s| f32::from(s.expect("sample")) / 32768.0)
        .collect()
}

/// Splits a fused `[n·d, …]` tensor into `n` equal parts along the first axis.
fn split(t: &Tensor, n: usize) -> Vec<Tensor> {
    let d = t.dim(0).expect("dim") / n;
    (0..n)
        .map(|i| t.narrow(0, i * d, d).expect("narrow"))
        .collect()
}

fn to_hf(w: &HashMap<String, Tensor>, cfg: &checkpoint::Checkpoint) -> HashMap<String, Tensor> {
    let mut hf = HashMap::new();
    let g = |k: &str| w.get(k).unwrap_or_else(|| panic!("{k}")).clone();
    let mut put = |k: String, t: Tensor| {
        hf.insert(k, t);
    };
    for conv in ["conv1", "conv2"] {
        put(
            format!("model.encoder.{conv}.weight"),
            g(&format!("encoder/{conv}/weight")),
        );
        put(
            format!("model.encoder.{conv}.bias"),
            g(&format!("encoder/{conv}/bias")),
        );
    }
    put(
        "model.encoder.embed_positions.weight".into(),
        g("encoder/position_encodings/encodings"),
    );
    put(
        "model.decoder.embed_positions.weight".into(),
        g("decoder/position_encodings/encodings"),
    );
    put(
        "model.decoder.embed_tokens.weight".into(),
        g("decoder/embeddings/weight"),
    );
    for side in ["encoder", "decoder"] {
        put(
            format!("model.{side}.layer_norm.weight"),
            g(&format!("{side}/layer_norm/gamma")),
        );
        put(
            format!("model.{side}.layer_norm.bias"),
            g(&format!("{side}/layer_norm/beta")),
        );
    }
    let layers = |side: &str| {
        if side == "encoder" {
            cfg.config.encoder_layers
        } else {
            cfg.config.decoder_layers
        }
    };
    for side in ["encoder", "decoder"] {
        for i in 0..layers(side) {
            let s = format!("{side}/layer_{i}");
            let d = format!("model.{side}.layers.{i}");
            let ws = split(&g(&format!("{s}/self_attention/linear_0/weight")), 3);
            let bs = split(&g(&format!("{s}/self_attention/linear_0/bias")), 3);
            for (j, p) in ["q_proj", "k_proj", "v_proj"].iter().enumerate() {
                put(format!("{d}.self_attn.{p}.weight"), ws[j].clone());
                if *p != "k_proj" {
                    put(format!("{d}.self_attn.{p}.bias"), bs[j].clone());
                }
            }
            put(
                format!("{d}.self_attn.out_proj.weight"),
                g(&format!("{s}/self_attention/linear_1/weight")),
            );
            put(
                format!("{d}.self_attn.out_proj.bias"),
                g(&format!("{s}/self_attention/linear_1/bias")),
            );
            put(
                format!("{d}.self_attn_layer_norm.weight"),
                g(&format!("{s}/self_attention/layer_norm/gamma")),
            );
            put(
                format!("{d}.self_attn_layer_norm.bias"),
                g(&format!("{s}/self_attention/layer_norm/beta")),
            );
            put(
                format!("{d}.fc1.weight"),
                g(&format!("{s}/ffn/linear_0/weight")),
            );
            put(
                format!("{d}.fc1.bias"),
                g(&format!("{s}/ffn/linear_0/bias")),
            );
            put(
                format!("{d}.fc2.weight"),
                g(&format!("{s}/ffn/linear_1/weight")),
            );
            put(
                format!("{d}.fc2.bias"),
                g(&format!("{s}/ffn/linear_1/bias")),
            );
            put(
                format!("{d}.final_layer_norm.weight"),
                g(&format!("{s}/ffn/layer_norm/gamma")),
            );
            put(
                format!("{d}.final_layer_norm.bias"),
                g(&format!("{s}/ffn/layer_norm/beta")),
            );
            if side == "decoder" {
                put(
                    format!("{d}.encoder_attn.q_proj.weight"),
                    g(&format!("{s}/attention/linear_0/weight")),
                );
                put(
                    format!("{d}.encoder_attn.q_proj.bias"),
                    g(&format!("{s}/attention/linear_0/bias")),
                );
                let kv = split(&g(&format!("{s}/attention/linear_1/weight")), 2);
                let kvb = split(&g(&format!("{s}/attention/linear_1/bias")), 2);
                put(format!("{d}.encoder_attn.k_proj.weight"), kv[0].clone());
                put(format!("{d}.encoder_attn.v_proj.weight"), kv[1].clone());
                put(format!("{d}.encoder_attn.v_proj.bias"), kvb[1].clone());
                put(
                    format!("{d}.encoder_attn.out_proj.weight"),
                    g(&format!("{s}/attention/linear_2/weight")),
                );
                put(
                    format!("{d}.encoder_attn.out_proj.bias"),
                    g(&format!("{s}/attention/linear_2/bias")),
                );
                put(
                    format!("{d}.encoder_attn_layer_norm.weight"),
                    g(&format!("{s}/attention/layer_norm/gamma")),
                );
                put(
                    format!("{d}.encoder_attn_layer_norm.bias"),
                    g(&format!("{s}/attention/layer_norm/beta")),
                );
            }
        }
    }
    hf
}

#[test]
fn safetensors_layout_transcribes_like_the_ctranslate2_original() {
    let ct2_dir = store().join("whisper-tiny-en");
    assert!(
        ct2_dir.join("model.bin").exists(),
        "whisper-tiny-en is not installed; run `songforge models pull whisper-tiny-en`"
    );
    let ckpt = checkpoint::load(&ct2_dir, &Device::Cpu, DType::F32).expect("load CT2");
    let c = &ckpt.config;
    assert_eq!(
        (
            c.n_mels,
            c.d_model,
            c.encoder_layers,
            c.encoder_heads,
            c.audio_ctx
        ),
        (80, 384, 4, 6, 1500),
        "tiny.en's published encoder shape"
    );
    assert_eq!(
        (c.decoder_layers, c.decoder_heads, c.text_ctx, c.vocab),
        (4, 6, 448, 51864),
        "tiny.en's published decoder shape"
    );

    let hf_dir = repo().join("target/test-models/whisper-tiny-en-hf");
    let _ = std::fs::remove_dir_all(&hf_dir);
    std::fs::create_dir_all(&hf_dir).expect("dir");
    let hf = to_hf(&ckpt.weights, &ckpt);
    candle_core::safetensors::save(&hf, hf_dir.join("model.safetensors")).expect("save");
    let config = serde_json::json!({
        "num_mel_bins": c.n_mels, "d_model": c.d_model,
        "encoder_layers": c.encoder_layers, "encoder_attention_heads": c.encoder_heads,
        "max_source_positions": c.audio_ctx, "decoder_layers": c.decoder_layers,
        "decoder_attention_heads": c.decoder_heads, "max_target_positions": c.text_ctx,
        "vocab_size": c.vocab, "suppress_tokens": ckpt.suppress.always,
        "begin_suppress_tokens": ckpt.suppress.at_begin,
    });
    std::fs::write(hf_dir.join("config.json"), config.to_string()).expect("config");
    std::fs::copy(
        ct2_dir.join("tokenizer.json"),
        hf_dir.join("tokenizer.json"),
    )
    .expect("tok");

    let ct2 = WhisperEngine::load("tiny-ct2", &ct2_dir, &Device::Cpu, 0).expect("ct2 engine");
    let st = WhisperEngine::load("tiny-hf", &hf_dir, &Device::Cpu, 0).expect("hf engine");
    assert_eq!(ct2.format, "ctranslate2");
    assert_eq!(st.format, "safetensors");
    let opts = Options {
        beam_size: 1,
        ..Options::default()
    };
    let audio = clip("clip2.wav");
    let a = ct2.transcribe(&audio, &opts).expect("ct2");
    let b = st.transcribe(&audio, &opts).expect("hf");
    assert_eq!(a.text, b.text);
    assert_eq!(a.segments, b.segments);
    assert!(
        a.text.to_lowercase().contains("from the store"),
        "{}",
        a.text
    );
}
