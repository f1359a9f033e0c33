//! A score as a Standard MIDI File, for editors and DAWs: format 0, the tempo, each
//! syllable as a lyric event on its note.

use crate::score::Score;
use midly::num::{u4, u7, u15, u24, u28};
use midly::{Format, Header, MetaMessage, MidiMessage, Smf, Timing, TrackEvent, TrackEventKind};

impl Score {
    /// The score as a Standard MIDI File (format 0: tempo, lyrics as lyric events, notes).
    pub fn to_midi(&self) -> Result<Vec<u8>, String> {
        const TPB: f64 = 480.0;
        let mut smf = Smf::new(Header::new(
            Format::SingleTrack,
            Timing::Metrical(u15::new(480)),
        ));
        let tick = |s: f64| (s / (60.0 / self.bpm) * TPB).round().max(0.0) as u32;
        let micros = (60_000_000.0 / self.bpm).round() as u32;
        let mut events: Vec<(u32, u8, TrackEventKind<'_>)> = vec![
            (
                0,
                0,
                TrackEventKind::Meta(MetaMessage::TrackName(b"SongForge vocal")),
            ),
            (
                0,
                0,
                TrackEventKind::Meta(MetaMessage::Tempo(u24::new(micros))),
            ),
        ];
        let channel = u4::new(0);
        for n in &self.notes {
            let start = tick(n.start_s);
            let end = tick(n.start_s + n.dur_s).max(start + 1);
            events.push((
                start,
                1,
                TrackEventKind::Meta(MetaMessage::Lyric(n.syllable.as_bytes())),
            ));
            events.push((
                start,
                2,
                TrackEventKind::Midi {
                    channel,
                    message: MidiMessage::NoteOn {
                        key: u7::new(n.midi.min(127)),
                        vel: u7::new(96),
                    },
                },
            ));
            events.push((
                end,
                0,
                TrackEventKind::Midi {
                    channel,
                    message: MidiMessage::NoteOff {
                        key: u7::new(n.midi.min(127)),
                        vel: u7::new(64),
                    },
                },
            ));
        }
        // Offs before lyrics before ons at the same tick.
        events.sort_by_key(|(t, order, _)| (*t, *order));
        let mut now = 0;
        let mut track: Vec<TrackEvent<'_>> = Vec::with_capacity(events.len() + 1);
        for (t, _, kind) in events {
            track.push(TrackEvent {
                delta: u28::new(t - now),
                kind,
            });
            now = t;
        }
        track.push(TrackEvent {
            delta: u28::new(0),
            kind: TrackEventKind::Meta(MetaMessage::EndOfTrack),
        });
        smf.tracks.push(track);
        let mut out = Vec::new();
        smf.write_std(&mut out).map_err(|e| e.to_string())?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::score::{Voice, write_score};
    use crate::test_support::{LYRICS, dict, grid};
    use songforge_song::form::read_form as read_sections;

    #[test]
    fn the_midi_file_holds_every_note() {
        let (sections, _) = read_sections(LYRICS);
        let score = write_score(&grid(), &sections, &dict(), Voice::BARITONE, 5).unwrap();
        let bytes = score.to_midi().unwrap();
        let smf = Smf::parse(&bytes).unwrap();
        let ons = smf.tracks[0]
            .iter()
            .filter(|e| {
                matches!(
                    e.kind,
                    TrackEventKind::Midi {
                        message: MidiMessage::NoteOn { .. },
                        ..
                    }
                )
            })
            .count();
        assert_eq!(ons, score.notes.len());
    }
}
