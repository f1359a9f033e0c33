//! Mixes audio files from the command line and prints timings: a quick way to hear and
//! measure the mixer outside the server.
//!
//! `cargo run --release -p songforge-mixer --example mix_files -- GENRE OUT.wav inst.wav vocals.wav`

use songforge_audio::{SampleFormat, decode, encode_wav};
use songforge_genre::Genre;
use songforge_mixer::{MixSettings, Placement, Role, Track, mix};
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [genre, out, inst, vocals] = args.as_slice() else {
        return Err("usage: mix_files GENRE OUT.wav INSTRUMENTAL VOCALS".into());
    };
    let t = Instant::now();
    let inst_audio = decode(&std::fs::read(inst)?, None)?;
    let vocal_audio = decode(&std::fs::read(vocals)?, None)?;
    let decoded = t.elapsed();
    let settings = MixSettings::for_preset(&Genre::from_text(genre).preset.mix_preset());
    let track = |name: &str, audio, role| Track {
        name: name.into(),
        audio,
        placement: Placement::new(role),
    };
    let t2 = Instant::now();
    let result = mix(
        vec![
            track("instrumental", inst_audio, Role::Instrumental),
            track("vocals", vocal_audio, Role::Vocals),
        ],
        &settings,
    )?;
    let mixed = t2.elapsed();
    let t3 = Instant::now();
    std::fs::write(out, encode_wav(&result.mix, SampleFormat::Int16)?)?;
    let encoded = t3.elapsed();
    println!(
        "decode {:.0} ms, mix {:.0} ms, encode {:.0} ms; {}",
        decoded.as_secs_f64() * 1e3,
        mixed.as_secs_f64() * 1e3,
        encoded.as_secs_f64() * 1e3,
        serde_json_like(&result.report)
    );
    Ok(())
}

fn serde_json_like(r: &songforge_mixer::MixReport) -> String {
    format!(
        "{:.2} LUFS, {:.2} dBTP, {:.1} s, ducking {:.1} dB, bus {:.1} dB, limiter {:.1} dB",
        r.loudness_lufs.unwrap_or(f64::NEG_INFINITY),
        r.true_peak_dbtp,
        r.duration_s,
        r.ducking_max_db,
        r.bus_reduction_max_db,
        r.limiter_reduction_max_db
    )
}
