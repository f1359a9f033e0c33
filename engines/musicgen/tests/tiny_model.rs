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
    run_inputs(e, request, None)
}

/// Runs a request, with a `melody` of `dims` when given: (audio dimensions, samples, meta).
fn run_inputs(
    e: &MusicGenEngine,
    request: serde_json::Value,
    melody: Option<(Vec<u32>, &[f32])>,
) -> Result<(Vec<u32>, Vec<f32>, serde_json::Value), EngineError> {
    let mut inputs = vec![NamedTensor::new(
        "request",
        songforge_inference::Tensor::json(&request).unwrap(),
    )];
    if let Some((dims, samples)) = melody {
        inputs.push(NamedTensor::new(
            "melody",
            songforge_inference::Tensor::from_f32(dims, samples).unwrap(),
        ));
    }
    let out = e.compute(inputs)?;
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
fn an_unknown_model_type_is_refused_by_name() {
    let dir = tiny_checkpoint("kind");
    let config = checkpoint::TINY_CONFIG.replace("\"musicgen\"", "\"musicgen_stereo_beta\"");
    std::fs::write(dir.join("config.json"), config).unwrap();
    match MusicGenEngine::load_on("tiny", &dir, EngineDevice::Cpu) {
        Err(EngineError::Unavailable(m)) => assert!(m.contains("musicgen_stereo_beta"), "{m}"),
        Err(other) => panic!("{other}"),
        Ok(_) => panic!("loaded an unknown model type"),
    }
}

#[test]
fn sharded_weights_load_through_their_index() {
    let dir = tiny_checkpoint("shards");
    let req = serde_json::json!({"prompt": "calm piano song", "duration_s": 0.3, "seed": 9});
    let whole = run(&engine(&dir), req.clone()).unwrap().1;
    // Split the one file into two shards and an index, as the larger checkpoints ship.
    let tensors =
        candle_core::safetensors::load(dir.join("model.safetensors"), &candle_core::Device::Cpu)
            .unwrap();
    let mut names: Vec<&String> = tensors.keys().collect();
    names.sort();
    let mut shards = [
        std::collections::HashMap::new(),
        std::collections::HashMap::new(),
    ];
    let mut map = serde_json::Map::new();
    for (i, name) in names.iter().enumerate() {
        let file = format!("model-0000{}-of-00002.safetensors", i % 2 + 1);
        shards[i % 2].insert((*name).clone(), tensors[*name].clone());
        map.insert((*name).clone(), file.into());
    }
    for (i, shard) in shards.iter().enumerate() {
        candle_core::safetensors::save(
            shard,
            dir.join(format!("model-0000{}-of-00002.safetensors", i + 1)),
        )
        .unwrap();
    }
    std::fs::write(
        dir.join("model.safetensors.index.json"),
        serde_json::json!({"metadata": {}, "weight_map": map}).to_string(),
    )
    .unwrap();
    std::fs::remove_file(dir.join("model.safetensors")).unwrap();
    assert_eq!(run(&engine(&dir), req).unwrap().1, whole);
    // A listed shard that is missing names itself.
    std::fs::remove_file(dir.join("model-00002-of-00002.safetensors")).unwrap();
    match MusicGenEngine::load_on("tiny", &dir, EngineDevice::Cpu) {
        Err(EngineError::Unavailable(m)) => assert!(m.contains("model-00002-of-00002"), "{m}"),
        Err(other) => panic!("{other}"),
        Ok(_) => panic!("loaded without a shard"),
    }
}

/// A tiny random-weight MusicGen Melody checkpoint in a fresh folder.
fn tiny_melody_checkpoint(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "songforge-musicgen-melody-{name}-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    checkpoint::write_random(
        &dir,
        &checkpoint::tiny_melody_config(),
        checkpoint::TINY_TOKENIZER,
        2025,
    )
    .unwrap();
    dir
}

/// `seconds` of a tune at 32 kHz: one note per half second, cycling through `notes` (Hz).
fn tune(notes: &[f64], seconds: f64) -> Vec<f32> {
    let rate = 32_000.0;
    (0..(seconds * rate) as usize)
        .map(|i| {
            let t = i as f64 / rate;
            let hz = notes[(t / 0.5) as usize % notes.len()];
            (0.4 * (2.0 * std::f64::consts::PI * hz * t).sin()) as f32
        })
        .collect()
}

fn run_with_melody(
    e: &MusicGenEngine,
    request: serde_json::Value,
    melody: &[f32],
) -> Result<(Vec<u32>, Vec<f32>, serde_json::Value), EngineError> {
    run_inputs(e, request, Some((vec![1, melody.len() as u32], melody)))
}

#[test]
fn a_melody_checkpoint_follows_the_melody_it_is_given() {
    let e = engine(&tiny_melody_checkpoint("follows"));
    assert!(e.takes_melody());
    let req =
        serde_json::json!({"prompt": "calm piano song", "duration_s": 0.5, "seed": 4, "top_k": 20});
    // Text alone: the prefix holds the model's null chroma.
    let (dims, text_only, meta) = run(&e, req.clone()).unwrap();
    assert_eq!(dims, [1, 16_000]);
    assert_eq!(meta["conditioning"], "text");
    assert!(text_only.iter().all(|s| s.is_finite()));
    let c_major = tune(&[261.63, 329.63, 392.0, 523.25], 4.0);
    let (dims, with_melody, meta) = run_with_melody(&e, req.clone(), &c_major).unwrap();
    assert_eq!(dims, [1, 16_000]);
    assert_eq!(meta["conditioning"], "text+melody");
    assert!(with_melody.iter().all(|s| s.is_finite()));
    assert_ne!(with_melody, text_only, "the melody changes the piece");
    // Same melody and seed, same piece; another melody, another piece.
    assert_eq!(
        run_with_melody(&e, req.clone(), &c_major).unwrap().1,
        with_melody
    );
    let other = tune(&[293.66, 349.23, 440.0, 277.18], 4.0);
    assert_ne!(
        run_with_melody(&e, req.clone(), &other).unwrap().1,
        with_melody
    );
    // Stereo is averaged to mono.
    let stereo: Vec<f32> = c_major.iter().chain(&c_major).copied().collect();
    let (_, audio, _) = run_inputs(
        &e,
        req.clone(),
        Some((vec![2, c_major.len() as u32], &stereo)),
    )
    .unwrap();
    assert_eq!(audio, with_melody);
}

#[test]
fn a_melody_checkpoint_writes_long_pieces_window_by_window() {
    let e = engine(&tiny_melody_checkpoint("windows"));
    // 64 positions: windows of 60 frames as for the text-only model (the prefix has its own
    // room), each one conditioned on the melody from where it starts.
    let (dims, audio, meta) = run_with_melody(
        &e,
        serde_json::json!({"prompt": "rock song with drums", "duration_s": 3.0, "seed": 1}),
        &tune(&[440.0, 392.0], 1.0),
    )
    .unwrap();
    assert_eq!(meta["frames"], 150);
    assert_eq!(meta["windows"], 4);
    assert_eq!(dims, [1, 150 * 640]);
    assert!(audio.iter().all(|s| s.is_finite()));
}

#[test]
fn a_melody_is_refused_by_a_text_only_checkpoint_and_bad_melodies_name_it() {
    let e = engine(&tiny_checkpoint("no-melody"));
    assert!(!e.takes_melody());
    let req = serde_json::json!({"prompt": "pop", "duration_s": 0.2});
    match run_with_melody(&e, req.clone(), &tune(&[440.0], 1.0)) {
        Err(EngineError::InvalidInput(m)) => {
            assert!(
                m.starts_with("melody:") && m.contains("musicgen_melody"),
                "{m}"
            )
        }
        Err(other) => panic!("{other}"),
        Ok(_) => panic!("a text-only checkpoint took a melody"),
    }
    let e = engine(&tiny_melody_checkpoint("bad-melody"));
    for melody in [vec![], vec![0.1, f32::NAN, 0.2]] {
        match run_with_melody(&e, req.clone(), &melody) {
            Err(EngineError::InvalidInput(m)) => assert!(m.starts_with("melody:"), "{m}"),
            Err(other) => panic!("{other}"),
            Ok(_) => panic!("accepted a bad melody"),
        }
    }
}
