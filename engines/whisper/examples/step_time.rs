//! Times one decoder step and its output projection on a real checkpoint (profiling aid).
use candle_core::{DType, Device, Tensor};
use songforge_whisper::{checkpoint, model::Whisper};
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args()
        .nth(1)
        .ok_or("usage: step_time MODEL_DIR")?;
    let ck = checkpoint::load(dir.as_ref(), &Device::Cpu, DType::F32)?;
    let m = Whisper::new(&ck.weights, ck.config.clone(), Device::Cpu, DType::F32)?;
    let enc = Tensor::zeros(
        (1, ck.config.audio_ctx, ck.config.d_model),
        DType::F32,
        &Device::Cpu,
    )?;
    let cross = m.cross_cache(&enc)?;
    let mut st = m.start(&cross);
    let tok = Tensor::new(&[[50257u32]], &Device::Cpu)?;
    let h = m.decode(&tok, &mut st)?;
    let t = Instant::now();
    let n: usize = std::env::var("STEPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(40);
    for _ in 0..n {
        let h = m.decode(&tok, &mut st)?;
        let _ = m.logits(&h, 0)?;
    }
    eprintln!(
        "step+logits {:.2} ms",
        t.elapsed().as_secs_f64() * 1e3 / n as f64
    );
    let t = Instant::now();
    for _ in 0..n {
        let _ = m.logits(&h, 0)?;
    }
    eprintln!(
        "logits {:.2} ms",
        t.elapsed().as_secs_f64() * 1e3 / n as f64
    );
    Ok(())
}
