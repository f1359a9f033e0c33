//! Transcribes a 16 kHz mono WAV with a model directory: the engine alone, for debugging and
//! the benchmark. `cargo run --release -p songforge-whisper --example transcribe -- DIR FILE.wav [OPTIONS_JSON]`

use songforge_whisper::{Options, WhisperEngine};
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let args: Vec<String> = std::env::args().collect();
    let [_, dir, wav, rest @ ..] = args.as_slice() else {
        return Err("usage: transcribe MODEL_DIR FILE.wav [OPTIONS_JSON]".into());
    };
    let opts: Options = match rest.first() {
        Some(j) => serde_json::from_str(j)?,
        None => Options::default(),
    };
    let threads: usize = std::env::var("THREADS")
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or(0);
    let t0 = Instant::now();
    let engine = WhisperEngine::load("cli", dir.as_ref(), &candle_core::Device::Cpu, threads)?;
    eprintln!(
        "load {:.2}s ({})",
        t0.elapsed().as_secs_f64(),
        engine.format
    );
    let bytes = std::fs::read(wav)?;
    let samples = pcm16_mono(&bytes).ok_or("expected a 16-bit PCM mono WAV")?;
    let t1 = Instant::now();
    let tr = engine.transcribe(&samples, &opts)?;
    let secs = t1.elapsed().as_secs_f64();
    eprintln!("transcribe {secs:.3}s, RTF {:.4}", secs / tr.duration);
    println!("{}", serde_json::to_string_pretty(&tr)?);
    Ok(())
}

/// The data chunk of a canonical 16-bit mono WAV as f32.
fn pcm16_mono(b: &[u8]) -> Option<Vec<f32>> {
    let mut at = 12;
    while at + 8 <= b.len() {
        let id = &b[at..at + 4];
        let len = u32::from_le_bytes(b[at + 4..at + 8].try_into().ok()?) as usize;
        if id == b"data" {
            let data = b.get(at + 8..at + 8 + len)?;
            return Some(
                data.chunks_exact(2)
                    .map(|c| f32::from(i16::from_le_bytes([c[0], c[1]])) / 32768.0)
                    .collect(),
            );
        }
        at += 8 + len + (len & 1);
    }
    None
}
