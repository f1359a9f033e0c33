//! The arrangement as a Standard MIDI File (format 1: a conductor track, then one track per
//! channel), so a DAW opens it with tempo, key, instruments and parts in place.

use crate::compose::{Arrangement, TICKS_PER_BEAT};
use crate::theory::Mode;
use midly::num::{u4, u7, u15, u24, u28};
use midly::{Format, Header, MetaMessage, MidiMessage, Smf, Timing, TrackEvent, TrackEventKind};

/// Why the MIDI file could not be written.
#[derive(Debug, thiserror::Error)]
#[error("the MIDI file could not be written: {0}")]
pub struct MidiError(String);

/// Sharps (positive) or flats (negative) in the key signature.
fn key_signature_fifths(tonic: u8, mode: Mode) -> i8 {
    let major = match mode {
        Mode::Major => tonic,
        Mode::Minor => (tonic + 3) % 12,
    };
    // Position on the circle of fifths, flats for the keys usually written with them.
    match major % 12 {
        0 => 0,
        7 => 1,
        2 => 2,
        9 => 3,
        4 => 4,
        11 => 5,
        6 => 6,
        1 => -5,
        8 => -4,
        3 => -3,
        10 => -2,
        _ => -1,
    }
}

fn event(delta: u32, kind: TrackEventKind<'_>) -> TrackEvent<'_> {
    TrackEvent {
        delta: u28::new(delta.min(0x0FFF_FFFF)),
        kind,
    }
}

/// Writes the arrangement as an SMF.
pub fn write_midi(a: &Arrangement) -> Result<Vec<u8>, MidiError> {
    let mut smf = Smf::new(Header::new(
        Format::Parallel,
        Timing::Metrical(u15::new(TICKS_PER_BEAT as u16)),
    ));
    let micros_per_beat = 60_000_000 / a.bpm.max(1);
    let end = a.bars * crate::compose::BAR;
    smf.tracks.push(vec![
        event(
            0,
            TrackEventKind::Meta(MetaMessage::TrackName(b"SongForge arrangement")),
        ),
        event(
            0,
            TrackEventKind::Meta(MetaMessage::Tempo(u24::new(micros_per_beat))),
        ),
        event(
            0,
            TrackEventKind::Meta(MetaMessage::TimeSignature(4, 2, 24, 8)),
        ),
        event(
            0,
            TrackEventKind::Meta(MetaMessage::KeySignature(
                key_signature_fifths(a.key.tonic, a.key.mode),
                a.key.mode == Mode::Minor,
            )),
        ),
        event(end, TrackEventKind::Meta(MetaMessage::EndOfTrack)),
    ]);
    for ch in &a.channels {
        let channel = u4::new(ch.channel);
        let mut track = vec![event(
            0,
            TrackEventKind::Meta(MetaMessage::TrackName(ch.part.name().as_bytes())),
        )];
        if ch.channel != 9 {
            track.push(event(
                0,
                TrackEventKind::Midi {
                    channel,
                    message: MidiMessage::ProgramChange {
                        program: u7::new(ch.program),
                    },
                },
            ));
        }
        // (tick, on?, key, velocity); offs sort before ons at the same tick.
        let mut evs: Vec<(u32, bool, u8, u8)> = Vec::new();
        for n in a.notes.iter().filter(|n| n.channel == ch.channel) {
            evs.push((n.start, true, n.key, n.velocity));
            evs.push((n.start + n.duration, false, n.key, 0));
        }
        evs.sort_by_key(|&(t, on, k, _)| (t, on, k));
        let mut now = 0;
        for (t, on, key, vel) in evs {
            let message = if on {
                MidiMessage::NoteOn {
                    key: u7::new(key.min(127)),
                    vel: u7::new(vel.min(127)),
                }
            } else {
                MidiMessage::NoteOff {
                    key: u7::new(key.min(127)),
                    vel: u7::new(64),
                }
            };
            track.push(event(t - now, TrackEventKind::Midi { channel, message }));
            now = t;
        }
        track.push(event(0, TrackEventKind::Meta(MetaMessage::EndOfTrack)));
        smf.tracks.push(track);
    }
    let mut out = Vec::new();
    smf.write_std(&mut out)
        .map_err(|e| MidiError(e.to_string()))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compose::{Plan, arrange};
    use songforge_genre::Genre;

    #[test]
    fn the_file_parses_back_with_every_note_tempo_and_key() {
        let a = arrange(
            "Verse:\na\nb\n\nChorus:\nc\nd",
            &Plan {
                genre: Genre::Rock,
                bpm: Some(120),
                key: None,
                duration_s: None,
                seed: 9,
            },
            &songforge_prosody::Dictionary::parse(String::new()).unwrap(),
        )
        .unwrap();
        let bytes = write_midi(&a).unwrap();
        let smf = Smf::parse(&bytes).unwrap();
        assert_eq!(smf.tracks.len(), 1 + a.channels.len());
        let mut tempo = None;
        let mut key_sig = None;
        let mut notes = Vec::new();
        for track in &smf.tracks {
            let mut t = 0u32;
            for ev in track {
                t += ev.delta.as_int();
                match ev.kind {
                    TrackEventKind::Meta(MetaMessage::Tempo(us)) => tempo = Some(us.as_int()),
                    TrackEventKind::Meta(MetaMessage::KeySignature(s, m)) => key_sig = Some((s, m)),
                    TrackEventKind::Midi {
                        channel,
                        message: MidiMessage::NoteOn { key, vel },
                    } if vel.as_int() > 0 => notes.push((t, channel.as_int(), key.as_int())),
                    _ => {}
                }
            }
        }
        assert_eq!(tempo, Some(500_000));
        // E minor: one sharp.
        assert_eq!(key_sig, Some((1, true)));
        notes.sort_unstable();
        let mut expected: Vec<(u32, u8, u8)> = a
            .notes
            .iter()
            .map(|n| (n.start, n.channel, n.key))
            .collect();
        expected.sort_unstable();
        assert_eq!(notes, expected);
    }
}
