//! The `singer` graph's DiffSinger engine on a voicebank of the real OpenUtau layout and ONNX
//! interfaces (written by the tests; see `tiny_voicebank`), run by the installed ONNX
//! Runtime: the phones land where singers put them, the pitch is the score's, rests are
//! silent, and bad notes or banks are refused by name.
//!
//! Needs ONNX Runtime in the model store and the `onnx` Python package in `target/pytools`
//! (`make test` installs both).

// The crate's `test-support` module, compiled in here directly so these tests need no feature.
#[path = "../src/test_support.rs"]
mod test_support;

use songforge_diffsinger::DiffSingerEngine;
use songforge_inference::{Device, Engine, EngineError, NamedTensor, Tensor};
use std::path::PathBuf;
use test_support::{onnx_runtime_library, tiny_voicebank};

/// A fresh, empty directory for one test, under Cargo's temporary directory for
/// integration tests (in `target/`).
fn scratch_dir(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("diffsinger-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

fn engine(bank: &std::path::Path) -> DiffSingerEngine {
    DiffSingerEngine::load_on("tiny", bank, &onnx_runtime_library(), Device::Cpu, 1)
        .unwrap_or_else(|e| panic!("load the tiny voicebank: {e}"))
}

fn sing(
    e: &DiffSingerEngine,
    notes: serde_json::Value,
    options: serde_json::Value,
) -> Result<(Vec<f32>, serde_json::Value), EngineError> {
    let out = e.compute(vec![
        NamedTensor::new("notes", Tensor::json(&notes).unwrap()),
        NamedTensor::new("options", Tensor::json(&options).unwrap()),
    ])?;
    let audio = out.iter().find(|t| t.name == "audio").expect("audio");
    let meta = out.iter().find(|t| t.name == "meta").expect("meta");
    assert_eq!(audio.tensor.dimensions[0], 1);
    Ok((
        audio.tensor.to_f32().unwrap(),
        serde_json::from_slice(&meta.tensor.data).unwrap(),
    ))
}

/// Pitch of a stretch by counting rising zero crossings (the tiny vocoder sings a sine).
fn hz(x: &[f32], rate: f64) -> f64 {
    let ups: Vec<usize> = (1..x.len())
        .filter(|&i| x[i - 1] < 0.0 && x[i] >= 0.0)
        .collect();
    let (first, last) = (ups[0], ups[ups.len() - 1]);
    (ups.len() - 1) as f64 * rate / (last - first) as f64
}

fn peak(x: &[f32]) -> f32 {
    x.iter().fold(0f32, |m, s| m.max(s.abs()))
}

fn cents(hz: f64, midi: f64) -> f64 {
    1200.0 * (hz / (440.0 * 2f64.powf((midi - 69.0) / 12.0))).log2()
}

#[test]
fn a_score_is_sung_on_its_pitches_with_vowels_on_the_beat() {
    let dir = scratch_dir("bank");
    let e = engine(&tiny_voicebank(&dir));
    let notes = serde_json::json!([
        {"phonemes": ["S", "T", "AA1", "P"], "midi": 57, "start_s": 1.0, "dur_s": 0.5},
        {"phonemes": ["G", "OW1"], "midi": 61, "start_s": 1.5, "dur_s": 0.5},
        {"phonemes": ["M", "AY1"], "midi": 64, "start_s": 3.0, "dur_s": 1.0},
    ]);
    let (audio, meta) = sing(
        &e,
        notes,
        serde_json::json!({"vibrato_semitones": 0.0, "duration_s": 4.5}),
    )
    .unwrap();
    let rate = 44_100.0;
    assert_eq!(meta["sample_rate"], 44_100);
    assert_eq!(meta["voicebank"], "Tiny Test Singer");
    assert_eq!(meta["speaker"], "tiny");
    assert_eq!(meta["phrases"], 2, "the 1 s rest splits the song: {meta}");
    assert_eq!(audio.len(), (4.5 * rate) as usize);
    let at = |t: f64| (t * rate) as usize;
    // Each note's vowel at the score's pitch.
    for (from, to, midi) in [(1.05, 1.35, 57.0), (1.6, 1.95, 61.0), (3.1, 3.9, 64.0)] {
        let c = cents(hz(&audio[at(from)..at(to)], rate), midi);
        assert!(c.abs() < 5.0, "{c:.1} cents off at {from} s");
    }
    // Silence before the first consonant and in the rest; loud vowels.
    assert!(peak(&audio[..at(0.7)]) < 1e-3);
    assert!(peak(&audio[at(2.3)..at(2.7)]) < 1e-3);
    let vowel = peak(&audio[at(1.1)..at(1.3)]);
    assert!(vowel > 0.4, "vowel level {vowel}");
    // The onset consonants "s t" come before the beat, quieter than the vowel; the vowel
    // starts on the beat (within a frame of 11.6 ms).
    let consonant = peak(&audio[at(0.9)..at(0.98)]);
    assert!(
        consonant > 0.05 && consonant < 0.5 * vowel,
        "consonant {consonant}"
    );
    let loud_from = (at(0.8)..at(1.2))
        .find(|&i| audio[i].abs() > 0.8 * vowel)
        .unwrap() as f64
        / rate;
    assert!(
        (loud_from - 1.0).abs() < 0.015,
        "vowel starts at {loud_from}"
    );
    // The phones as sung, in order.
    let phones: Vec<&str> = meta["phones"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["symbol"].as_str().unwrap())
        .collect();
    assert_eq!(phones, ["s", "t", "aa", "p", "g", "ow", "m", "ay"]);
}

#[test]
fn the_same_score_sings_the_same() {
    let dir = scratch_dir("same");
    let e = engine(&tiny_voicebank(&dir));
    let notes = serde_json::json!([{"phonemes": ["HH", "EH1", "L"], "midi": 60, "start_s": 0.2, "dur_s": 0.8}]);
    let a = sing(&e, notes.clone(), serde_json::json!({})).unwrap().0;
    let b = sing(&e, notes, serde_json::json!({})).unwrap().0;
    assert_eq!(a, b);
}

#[test]
fn bad_notes_and_names_are_refused_by_name() {
    let dir = scratch_dir("bad");
    let e = engine(&tiny_voicebank(&dir));
    let bad = |notes: serde_json::Value, options: serde_json::Value, says: &str| match sing(
        &e, notes, options,
    ) {
        Err(EngineError::InvalidInput(m)) => assert!(m.contains(says), "{m}"),
        Err(other) => panic!("{other}"),
        Ok(_) => panic!("accepted; expected {says}"),
    };
    let ok = serde_json::json!([{"phonemes": ["AA1"], "midi": 60, "start_s": 0.0, "dur_s": 0.5}]);
    bad(
        serde_json::json!([{"phonemes": ["Q"], "midi": 60, "start_s": 0.0, "dur_s": 0.5}]),
        serde_json::json!({}),
        "notes[0].phonemes: `Q`",
    );
    bad(
        serde_json::json!([
            {"phonemes": ["AA1"], "midi": 60, "start_s": 0.0, "dur_s": 1.0},
            {"phonemes": ["AA1"], "midi": 62, "start_s": 0.5, "dur_s": 1.0},
        ]),
        serde_json::json!({}),
        "notes[1].start_s",
    );
    bad(
        serde_json::json!([{"phonemes": ["AA1"], "midi": 200, "start_s": 0.0, "dur_s": 0.5}]),
        serde_json::json!({}),
        "notes[0].midi",
    );
    bad(
        ok.clone(),
        serde_json::json!({"speaker": "nobody"}),
        "options.speaker",
    );
    bad(ok, serde_json::json!({"loudness": 3}), "options");
}

#[test]
fn a_bank_without_its_vocoder_is_unavailable_and_says_why() {
    let dir = scratch_dir("novocoder");
    let bank = tiny_voicebank(&dir);
    std::fs::remove_dir_all(bank.join("dsvocoder")).unwrap();
    match DiffSingerEngine::load_on("tiny", &bank, &onnx_runtime_library(), Device::Cpu, 1) {
        Err(EngineError::Unavailable(m)) => {
            assert!(m.contains("vocoder `tiny_vocoder` is not installed"), "{m}")
        }
        Err(other) => panic!("{other}"),
        Ok(_) => panic!("loaded a bank without its vocoder"),
    }
    let not_a_bank = scratch_dir("empty");
    match DiffSingerEngine::load_on("x", &not_a_bank, &onnx_runtime_library(), Device::Cpu, 1) {
        Err(EngineError::Unavailable(m)) => assert!(m.contains("no dsconfig.yaml"), "{m}"),
        Err(other) => panic!("{other}"),
        Ok(_) => panic!("loaded an empty folder"),
    }
}
