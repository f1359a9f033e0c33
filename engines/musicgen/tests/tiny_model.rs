//! MusicGen end to end on a tiny random-weight checkpoint written here in the Hugging Face
//! layout (`config.json` with text_encoder / audio_encoder / decoder, one
//! `model.safetensors` with `text_encoder.*`, `enc_to_dec_proj.*`, `decoder.*`,
//! `audio_encoder.*`, and a `tokenizer.json`): shapes, lengths, windows, seeds, refusals.

use songforge_inference::{Device as EngineDevice, Engine, EngineError, NamedTensor};
use songforge_musicgen::{MusicGenEngine, checkpoint};
use std::path::{Path, PathBuf};

/// A tiny random-weight checkpoint in a fresh folder.
fn tiny_checkpoint(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("songforge-musicgen-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    checkpoint::write_random(
        &dir,
        checkpoint::TINY_CONFIG,
        checkpoint::TINY_TOKENIZER,
        2024,
    )
    .unwrap();
    dir
}

fn engine(dir: &Path) -> MusicGenEngine {
    MusicGenEngine::load_on("tiny", dir, EngineDevice::Cpu).unwrap_or_else(|e| panic!("{e}"))
}

fn run(
    e: &MusicGenEngine,
    request: serde_json::Value,
) -> Result<(Vec<u32>, Vec<f32>, serde_json::Value), EngineError> {
    let out = e.compute(vec![NamedTensor::new(
        "request",
        songforge_inference::Tensor::json(&request).unwrap(),
    )])?;
    let audio = &out.iter().find(|t| t.name == "audio").unwrap().tensor;
    let meta = &out.iter().find(|t| t.name == "meta").unwrap().tensor;
    Ok((
        audio.dimensions.clone(),
        audio.to_f32().unwrap(),
        serde_json::from_slice(&meta.data).unwrap(),
    ))
}

#[test]
fn a_prompt_becomes_audio_of_the_asked_length_the_same_for_a_seed() {
    let e = engine(&tiny_checkpoint("length"));
    let req =
        serde_json::json!({"prompt": "calm piano song", "duration_s": 0.5, "seed": 3, "top_k": 20});
    let (dims, audio, meta) = run(&e, req.clone()).unwrap();
    // 0.5 s at EnCodec 32 kHz: 25 frames of 640 samples, mono.
    assert_eq!(dims, [1, 16_000]);
    assert_eq!(meta["sample_rate"], 32_000);
    assert_eq!(meta["frames"], 25);
    assert_eq!(meta["windows"], 1);
    assert!(audio.iter().all(|s| s.is_finite()));
    assert!(
        audio.iter().any(|s| *s != 0.0),
        "silence from random weights"
    );
    let (_, again, _) = run(&e, req).unwrap();
    assert_eq!(audio, again, "same seed, same audio");
    let (_, other, _) = run(
        &e,
        serde_json::json!({"prompt": "calm piano song", "duration_s": 0.5, "seed": 4, "top_k": 20}),
    )
    .unwrap();
    assert_ne!(audio, other, "another seed, other audio");
    let (_, unguided, _) = run(
        &e,
        serde_json::json!({"prompt": "calm piano song", "duration_s": 0.5, "seed": 3, "top_k": 20, "guidance": 1.0}),
    )
    .unwrap();
    assert_ne!(audio, unguided, "guidance changes the choice");
}

#[test]
fn pieces_longer_than_the_window_are_continued_window_by_window() {
    let e = engine(&tiny_checkpoint("windows"));
    // The tiny decoder has 64 positions: windows of 60 frames, each later one continuing
    // from the last 20 → 60 + 40 + 40 + 10 frames for 3 s (150 frames).
    let (dims, audio, meta) = run(
        &e,
        serde_json::json!({"prompt": "rock song with drums", "duration_s": 3.0, "seed": 1}),
    )
    .unwrap();
    assert_eq!(meta["frames"], 150);
    assert_eq!(meta["windows"], 4);
    assert_eq!(dims, [1, 150 * 640]);
    assert_eq!(audio.len(), 150 * 640);
}

#[test]
fn bad_requests_name_their_field() {
    let e = engine(&tiny_checkpoint("bad"));
    for (req, says) in [
        (serde_json::json!({"prompt": " "}), "request.prompt"),
        (
            serde_json::json!({"prompt": "pop", "duration_s": 0}),
            "request.duration_s",
        ),
        (
            serde_json::json!({"prompt": "pop", "top_k": 0}),
            "request.top_k",
        ),
        (
            serde_json::json!({"prompt": "pop", "guidance": 0.5}),
            "request.guidance",
        ),
        (serde_json::json!({"prompt": "pop", "loud": true}), "loud"),
    ] {
        match run(&e, req) {
            Err(EngineError::InvalidInput(m)) => assert!(m.contains(says), "{m}"),
            Err(other) => panic!("{other}"),
            Ok(_) => panic!("accepted; expected {says}"),
        }
    }
    assert!(matches!(
        run(&e, serde_json::json!({"prompt": "pop", "duration_s": 601})),
        Err(EngineError::TooLarge(_))
    ));
}

#[test]
fn a_folder_without_weights_is_unavailable() {
    let dir = tiny_checkpoint("missing");
    std::fs::remove_file(dir.join("model.safetensors")).unwrap();
    match MusicGenEngine::load_on("tiny", &dir, EngineDevice::Cpu) {
        Err(EngineError::Unavailable(m)) => assert!(m.contains("model.safetensors"), "{m}"),
        Err(other) => panic!("{other}"),
        Ok(_) => panic!("loaded without weights"),
    }
}

#[test]
fn a_melody_checkpoint_is_refused_by_its_model_type() {
    let dir = tiny_checkpoint("melody");
    let config = checkpoint::TINY_CONFIG.replace("\"musicgen\"", "\"musicgen_melody\"");
    std::fs::write(dir.join("config.json"), config).unwrap();
    match MusicGenEngine::load_on("tiny", &dir, EngineDevice::Cpu) {
        Err(EngineError::Unavailable(m)) => assert!(m.contains("musicgen_melody"), "{m}"),
        Err(other) => panic!("{other}"),
        Ok(_) => panic!("loaded a melody checkpoint"),
    }
}
