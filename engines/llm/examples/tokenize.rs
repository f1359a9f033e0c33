//! Prints the token ids of each text argument with a model directory's GGUF tokenizer, as JSON
//! (for recording reference evaluations).
//! `cargo run -p songforge-llm --example tokenize -- MODEL_DIR TEXT...`

use songforge_inference::Device;
use songforge_llm::LlmEngine;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, dir, texts @ ..] = args.as_slice() else {
        return Err("usage: tokenize MODEL_DIR TEXT...".into());
    };
    let engine = LlmEngine::load_on("cli", dir.as_ref(), Device::Cpu, 1)?;
    let ids = texts
        .iter()
        .map(|t| engine.tokenizer().encode(t, true))
        .collect::<Result<Vec<_>, _>>()?;
    println!("{}", serde_json::to_string(&ids)?);
    Ok(())
}
