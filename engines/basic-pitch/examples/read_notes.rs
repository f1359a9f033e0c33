//! Reads notes from raw 22.05 kHz mono f32 audio: `read_notes MODEL_DIR LIBONNXRUNTIME IN.f32`
//! (`OPTIONS='{"onset_threshold": 0.6}'` sets the thresholds).

use songforge_basic_pitch::BasicPitchEngine;
use songforge_inference::{Device, Engine, NamedTensor, Tensor};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, dir, lib, input] = args.as_slice() else {
        return Err("usage: read_notes MODEL_DIR LIBONNXRUNTIME IN.f32".into());
    };
    let bytes = std::fs::read(input)?;
    let audio: Vec<f32> = bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    let engine =
        BasicPitchEngine::load_on("basic-pitch", dir.as_ref(), lib.as_ref(), Device::Cpu, 0)?;
    let mut inputs = vec![NamedTensor::new(
        "audio",
        Tensor::from_f32(vec![1, audio.len() as u32], &audio)?,
    )];
    if let Ok(options) = std::env::var("OPTIONS") {
        inputs.push(NamedTensor::new(
            "options",
            Tensor::bytes(options.into_bytes()),
        ));
    }
    let out = engine.compute(inputs)?;
    println!("{}", out[0].tensor.text_lossy());
    Ok(())
}
