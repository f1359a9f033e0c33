//! How long a three-minute stereo `f32` track (44.1 kHz, 63.5 MB) takes to cross loopback to
//! `serve-nn` and back in its binary tensor body, against JSON arrays of the same floats (the
//! usual body of inference HTTP APIs), in one run. `make bench-nn` runs it.
//!
//! The service runs an echo graph, so the figures are the transport's: framing, POST, the
//! service's decode and encode, the response, decode; both directions.

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use songforge::nn_service::{Chunks, NnServiceConfig, start};
use songforge::wasi_nn::GraphRegistry;
use songforge_inference::contract::service::{CONTENT_TYPE, Decoder, compute_path, encode_chunks};
use songforge_inference::{Device, Engine, EngineError, NamedTensor, Tensor};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Returns its inputs.
struct Echo;

impl Engine for Echo {
    fn model(&self) -> &str {
        "echo"
    }
    fn task(&self) -> &str {
        "echo"
    }
    fn compute(&self, inputs: Vec<NamedTensor>) -> Result<Vec<NamedTensor>, EngineError> {
        Ok(inputs)
    }
}

const ROUNDS: usize = 7;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let frames = 180 * 44_100;
    let samples: Vec<f32> = (0..frames * 2)
        .map(|i| ((i as f32) * 0.001).sin())
        .collect();
    let track = Tensor::from_f32(vec![2, frames as u32], &samples)?;
    let inputs = vec![NamedTensor::new("audio", track)];

    let mut registry = GraphRegistry::new(4, 1);
    registry.register("echo", Arc::new(Echo), Device::Cpu);
    let service = start(
        NnServiceConfig {
            listen: "127.0.0.1:0".parse()?,
            token: Some("bench".into()),
            allow_anonymous: false,
            max_body_bytes: 512 << 20,
            request_timeout: Duration::from_secs(60),
        },
        Arc::new(registry),
    )
    .await?;
    let client: Client<_, Chunks> = Client::builder(TokioExecutor::new()).build_http();
    let uri = format!("http://{}{}", service.addr, compute_path("echo"));

    // As the wasi-nn-http component does it: the framing, then the data from where it lies;
    // the answer read chunk by chunk into the tensors' own buffers.
    let mut binary = Vec::new();
    for _ in 0..ROUNDS {
        let owned = inputs.clone();
        let t = Instant::now();
        let chunks = encode_chunks(owned)?.into_iter().map(Bytes::from).collect();
        let req = http::Request::post(&uri)
            .header("authorization", "Bearer bench")
            .header("content-type", CONTENT_TYPE)
            .body(Chunks(chunks))?;
        let res = client.request(req).await?;
        anyhow::ensure!(res.status() == 200, "echo answered {}", res.status());
        let mut body = res.into_body();
        let mut decoder = Decoder::new(usize::MAX);
        while let Some(frame) = body.frame().await {
            if let Ok(data) = frame?.into_data() {
                decoder.feed(&data)?;
            }
        }
        let back = decoder.finish()?;
        binary.push(t.elapsed().as_secs_f64() * 1e3);
        anyhow::ensure!(back == inputs, "the track came back different");
    }
    // The peer: the same floats as a JSON array, written and read once (no HTTP at all).
    let mut json = Vec::new();
    for _ in 0..3 {
        let t = Instant::now();
        let text = serde_json::to_vec(&samples)?;
        let back: Vec<f32> = serde_json::from_slice(&text)?;
        anyhow::ensure!(back.len() == samples.len());
        json.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let (b, j) = (median(binary), median(json));
    println!(
        "three-minute stereo f32 track, {:.1} MB, median of {ROUNDS}:",
        samples.len() as f64 * 4.0 / 1e6
    );
    println!(
        "  binary body, POST to serve-nn and back over loopback: {b:.1} ms (each way about {:.1} ms)",
        b / 2.0
    );
    println!("  JSON array of the same floats, serialise + parse only:  {j:.1} ms");
    println!("  ratio: JSON / binary round trip = {:.1}x", j / b);
    service.shutdown().await;
    Ok(())
}
