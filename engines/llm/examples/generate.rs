//! Runs one `llm` graph request against a model directory: the engine alone, for debugging
//! and the benchmark.
//! `cargo run --release -p songforge-llm --example generate -- MODEL_DIR 'REQUEST_JSON'`
//! (`THREADS=n` sets the CPU threads; the response JSON, with timings, goes to stdout).

use songforge_inference::Device;
use songforge_llm::{LlmEngine, Request};
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let args: Vec<String> = std::env::args().collect();
    let [_, dir, request] = args.as_slice() else {
        return Err("usage: generate MODEL_DIR REQUEST_JSON".into());
    };
    let request: Request = serde_json::from_str(request)?;
    let threads: usize = std::env::var("THREADS")
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or(0);
    let t0 = Instant::now();
    let engine = LlmEngine::load_on("cli", dir.as_ref(), Device::Cpu, threads)?;
    eprintln!("load {:.2}s", t0.elapsed().as_secs_f64());
    let response = engine.run(&request)?;
    println!("{}", serde_json::to_string_pretty(&response)?);
    Ok(())
}
