//! Compressed files decode to their source's length: the encoder's delay and padding are
//! dropped (LAME's gapless tag in MP3, the granule positions in Ogg), so a vocal stem sent as
//! MP3 or OGG stays in time with its instrumental. The fixtures are a 440 Hz sine at 8 kHz
//! encoded by FFmpeg (libmp3lame, libvorbis) and SoX (FLAC). M4A is not in the list: symphonia
//! does not apply MP4 edit lists, so AAC keeps its 1,024 frames of priming and its padding.

use std::path::Path;

fn frames(name: &str) -> usize {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/seeds/audio_decode")
        .join(name);
    let bytes = std::fs::read(&path).expect("read the fixture");
    songforge_audio::decode(&bytes, None)
        .expect("decode")
        .frames()
}

#[test]
fn compressed_files_decode_to_their_source_length() {
    // symphonia 0.5 gave 1,792 for the Ogg file: the end-of-stream padding stayed.
    for (name, source_frames) in [("tone.mp3", 1600), ("tone.ogg", 1600), ("tone.flac", 800)] {
        assert_eq!(frames(name), source_frames, "{name}");
    }
}
