//! Sings one spoken take onto one note: `sing_raw IN.f32 OUT.f32 RATE MIDI SECONDS`
//! (raw little-endian f32 mono files), for listening to and measuring the singer alone.

use songforge_singer::{Note, Style, sing};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, input, output, rate, midi, seconds] = args.as_slice() else {
        return Err("usage: sing_raw IN.f32 OUT.f32 RATE MIDI SECONDS".into());
    };
    let bytes = std::fs::read(input)?;
    let take: Vec<f32> = bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    let rate: u32 = rate.parse()?;
    let dur: f64 = seconds.parse()?;
    let note = Note {
        midi: midi.parse()?,
        start_s: 0.3,
        dur_s: dur,
        phrase_start: false,
    };
    let out = sing(&[take], &[note], rate, dur + 0.6, Style::default(), 1)?;
    let bytes: Vec<u8> = out.iter().flat_map(|s| s.to_le_bytes()).collect();
    std::fs::write(output, bytes)?;
    Ok(())
}
