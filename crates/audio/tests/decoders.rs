//! The decoder matrix on committed MP3, OGG/Vorbis and M4A/AAC fixtures (see
//! `fixtures/README.md`): each must decode to about half a second of a 440 Hz tone.

use songforge_audio::decode;

fn dominant_hz(x: &[f32], rate: u32) -> f32 {
    // Count zero crossings over the steady middle of the signal.
    let mid = &x[x.len() / 4..3 * x.len() / 4];
    let crossings = mid.windows(2).filter(|w| w[0] <= 0.0 && w[1] > 0.0).count();
    crossings as f32 * rate as f32 / mid.len() as f32
}

#[test]
fn lossy_formats_decode_to_the_right_tone() {
    for file in ["tone440.mp3", "tone440.ogg", "tone440.m4a"] {
        let path = format!("{}/tests/fixtures/{file}", env!("CARGO_MANIFEST_DIR"));
        let bytes = std::fs::read(&path).expect("fixture");
        let audio = decode(&bytes, None).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(audio.sample_rate, 44100, "{file}");
        assert_eq!(audio.channel_count(), 2, "{file}");
        // Encoders add priming and padding: allow 0.45–0.6 s.
        assert!(
            (0.45..0.6).contains(&audio.duration_s()),
            "{file}: {} s",
            audio.duration_s()
        );
        let hz = dominant_hz(&audio.channels[0], audio.sample_rate);
        assert!((hz - 440.0).abs() < 5.0, "{file}: {hz} Hz");
        let peak = audio.sample_peak();
        assert!((0.08..0.2).contains(&peak), "{file}: peak {peak}");
    }
}
