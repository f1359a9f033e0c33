//! Times each stage of the mixer on local files (a profiling aid).
use songforge_audio::{SampleFormat, decode, encode_wav};
use std::time::Instant;
fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let bytes = std::fs::read(&args[0]).unwrap();
    let t = Instant::now();
    let a = decode(&bytes, None).unwrap();
    eprintln!("decode {:?}", t.elapsed());
    let t = Instant::now();
    let l = songforge_audio::loudness::integrated_lufs(&a).unwrap();
    eprintln!("integrated {:?} {l:?}", t.elapsed());
    let t = Instant::now();
    let p = songforge_audio::dsp::true_peak(&a.channels[0]);
    eprintln!("true peak ch0 {:?} {p}", t.elapsed());
    let t = Instant::now();
    let w = encode_wav(&a, SampleFormat::Int16).unwrap();
    eprintln!("encode {:?} {}", t.elapsed(), w.len());
}
