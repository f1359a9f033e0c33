//! Composes and renders a song to WAV files (mix, stems, MIDI, map), printing timings:
//! `cargo run --release -p songforge-arranger --example render -- GENRE OUT_DIR [SF2] [SEED] [DURATION]`.

use songforge_arranger::{Instruments, Plan, arrange, render, write_midi};
use songforge_audio::{SampleFormat, encode_wav};
use songforge_genre::Genre;
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let genre = Genre::from_text(args.get(1).map_or("pop", String::as_str)).preset;
    let out = std::path::PathBuf::from(args.get(2).map_or("/tmp/arranger", String::as_str));
    std::fs::create_dir_all(&out)?;
    let t = Instant::now();
    let instruments = match args.get(3).filter(|s| s.as_str() != "built-in") {
        Some(path) => Instruments::load_sf2(&std::fs::read(path)?, path)?,
        None => Instruments::BuiltIn,
    };
    let load = t.elapsed();
    let seed = args.get(4).and_then(|s| s.parse().ok()).unwrap_or(1);
    let duration_s = args.get(5).and_then(|s| s.parse().ok());
    let lyrics = "Verse 1:\na\nb\nc\nd\n\nChorus:\ne\nf\ng\nh\n\nVerse 2:\ni\nj\nk\nl\n\nChorus:\ne\nf\ng\nh\n\nBridge:\nm\nn\no\np\n\nChorus:\ne\nf\ng\nh";
    let t = Instant::now();
    let a = arrange(
        lyrics,
        &Plan {
            genre,
            bpm: None,
            key: None,
            duration_s,
            seed,
        },
        &songforge_prosody::Dictionary::parse(String::new())?,
    )?;
    let compose = t.elapsed();
    let t = Instant::now();
    let r = render(&a, &instruments)?;
    let synth = t.elapsed();
    std::fs::write(
        out.join("mix.wav"),
        encode_wav(&r.mix, SampleFormat::Int16)?,
    )?;
    for (p, s) in &r.stems {
        std::fs::write(
            out.join(format!("{}.wav", p.name())),
            encode_wav(s, SampleFormat::Int16)?,
        )?;
    }
    std::fs::write(out.join("song.mid"), write_midi(&a)?)?;
    println!(
        "{genre:?} {} bpm {} | {} bars, {:.1} s audio, {} notes | load {:.2?} compose {:.2?} render {:.2?}",
        a.bpm,
        a.key,
        a.bars,
        r.mix.duration_s(),
        a.notes.len(),
        load,
        compose,
        synth
    );
    Ok(())
}
