//! Decoding speed of the `musicgen` engine on random-weight checkpoints: the tiny test model
//! and musicgen-small's real configuration (T5-base, 24 × 1024 decoder, EnCodec 32 kHz).
//! Prints steps per second (one step = one position of all four codebooks, both guidance
//! rows) and the real-time factor (50 steps make a second of audio).
//!
//! The melody models run with a 10-second tune as their melody (its chroma is a 235-frame
//! prefix of the decoder's sequence).
//!
//! `cargo run -p songforge-musicgen --example musicgen_steps -- [seconds] [small] [melody]`
//! (the dev profile builds the engine and candle optimised; `melody` writes a 6 GB checkpoint).

use songforge_inference::{Device, Engine, NamedTensor, Tensor};
use songforge_musicgen::{MusicGenEngine, checkpoint};
use std::time::Instant;

/// facebook/musicgen-small's config.json, the parts the engine reads.
const SMALL_CONFIG: &str = r#"{
  "model_type": "musicgen",
  "text_encoder": {
    "vocab_size": 32128, "d_model": 768, "d_kv": 64, "d_ff": 3072, "num_layers": 12,
    "num_heads": 12, "relative_attention_num_buckets": 32, "relative_attention_max_distance": 128,
    "dropout_rate": 0.1, "layer_norm_epsilon": 1e-6, "initializer_factor": 1.0,
    "feed_forward_proj": "relu", "is_encoder_decoder": true, "pad_token_id": 0,
    "eos_token_id": 1, "decoder_start_token_id": 0
  },
  "audio_encoder": {
    "sampling_rate": 32000, "audio_channels": 1, "target_bandwidths": [2.2], "normalize": false,
    "hidden_size": 128, "num_filters": 64, "num_residual_layers": 1,
    "upsampling_ratios": [8, 5, 4, 4], "norm_type": "weight_norm", "kernel_size": 7,
    "last_kernel_size": 7, "residual_kernel_size": 3, "dilation_growth_rate": 2,
    "use_causal_conv": false, "pad_mode": "reflect", "compress": 2, "num_lstm_layers": 2,
    "trim_right_ratio": 1.0, "codebook_size": 2048, "codebook_dim": 128, "use_conv_shortcut": false
  },
  "decoder": {
    "vocab_size": 2048, "max_position_embeddings": 2048, "num_hidden_layers": 24,
    "ffn_dim": 4096, "num_attention_heads": 16, "hidden_size": 1024, "num_codebooks": 4,
    "pad_token_id": 2048, "bos_token_id": 2048, "activation_function": "gelu",
    "scale_embedding": false
  }
}"#;

/// facebook/musicgen-melody's configuration: musicgen-small's text encoder and codec, a
/// 48 × 1536 decoder without cross-attention, 235 chroma frames.
fn melody_config() -> String {
    SMALL_CONFIG
        .replace(
            r#""model_type": "musicgen","#,
            r#""model_type": "musicgen_melody", "num_chroma": 12, "chroma_length": 235,"#,
        )
        .replace(r#""num_hidden_layers": 24"#, r#""num_hidden_layers": 48"#)
        .replace(
            r#""ffn_dim": 4096, "num_attention_heads": 16, "hidden_size": 1024"#,
            r#""ffn_dim": 6144, "num_attention_heads": 24, "hidden_size": 1536"#,
        )
}

/// Ten seconds of a tune at 32 kHz, a note every half second.
fn tune() -> Vec<f32> {
    let notes = [261.63, 329.63, 392.0, 523.25, 440.0, 349.23];
    (0..320_000)
        .map(|i| {
            let t = f64::from(i) / 32_000.0;
            let hz = notes[(t / 0.5) as usize % notes.len()];
            (0.4 * (2.0 * std::f64::consts::PI * hz * t).sin()) as f32
        })
        .collect()
}

fn measure(name: &str, config: &str, seconds: f64) -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("songforge-musicgen-bench-{name}"));
    let t = Instant::now();
    checkpoint::write_random(&dir, config, checkpoint::TINY_TOKENIZER, 1)?;
    let written = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let engine = MusicGenEngine::load_on(name, &dir, Device::Cpu)?;
    let loaded = t.elapsed().as_secs_f64();
    let request = serde_json::json!({"prompt": "pop song with drums at 120 bpm", "duration_s": seconds, "seed": 1});
    let mut inputs = vec![NamedTensor::new("request", Tensor::json(&request)?)];
    if engine.takes_melody() {
        let melody = tune();
        inputs.push(NamedTensor::new(
            "melody",
            Tensor::from_f32(vec![1, melody.len() as u32], &melody)?,
        ));
    }
    let t = Instant::now();
    engine.compute(inputs)?;
    let total = t.elapsed().as_secs_f64();
    let steps = (seconds * engine.frame_rate()).round() + 3.0;
    println!(
        "{name}: {seconds} s of audio, {steps} steps in {total:.2} s end to end \
         ({:.1} steps/s, real-time factor {:.2}); checkpoint written in {written:.1} s, loaded in {loaded:.2} s",
        steps / total,
        total / seconds
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let seconds: f64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(2.0);
    measure("tiny", checkpoint::TINY_CONFIG, seconds)?;
    measure("tiny-melody", &checkpoint::tiny_melody_config(), seconds)?;
    if args.iter().any(|a| a == "small") {
        measure("musicgen-small", SMALL_CONFIG, seconds)?;
    }
    if args.iter().any(|a| a == "melody") {
        measure("musicgen-melody", &melody_config(), seconds)?;
    }
    Ok(())
}
