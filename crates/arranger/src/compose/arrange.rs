//! The entry points: lyrics and a [`Plan`] to a song plan, and a song plan to a whole
//! [`Arrangement`].

use super::{Arrangement, Channel, Composer, Part, PlacedSection, Plan};
use crate::style::Style;
use songforge_prosody::Dictionary;
use songforge_song::form::{FormSource, read_form};
use songforge_song::plan::{FitError, SongPlan, Tempo, plan_song};

/// The song plan's sections with their start times.
fn place_sections(song: &SongPlan) -> Vec<PlacedSection> {
    let bar_s = song.bar_seconds();
    song.sections
        .iter()
        .map(|s| PlacedSection {
            name: s.name.clone(),
            kind: s.kind,
            start_bar: s.start_bar,
            bars: s.bars,
            start_s: (f64::from(s.start_bar) * bar_s * 1000.0).round() / 1000.0,
            lines: s.lines.len(),
            lyric_section: s.lyric_section,
            sung_lines: s.lines.clone(),
        })
        .collect()
}

/// The song plan for `lyrics` under `plan`: the form read from the lyrics, every sung line
/// on the bar grid, the tempo within the genre's range, fitted to `duration_s` when given.
pub fn plan_for(
    lyrics: &str,
    plan: &Plan,
    dict: &Dictionary,
) -> Result<(SongPlan, FormSource), FitError> {
    let style = Style::for_genre(plan.genre);
    let tempo = plan.bpm.map_or(Tempo::around(style.bpm), Tempo::fixed);
    let (sections, form_source) = read_form(lyrics);
    Ok((
        plan_song(&sections, dict, tempo, plan.duration_s)?,
        form_source,
    ))
}

/// Composes a whole song for `lyrics` under `plan`; `dict` counts the syllables that decide
/// each line's bars.
pub fn arrange(lyrics: &str, plan: &Plan, dict: &Dictionary) -> Result<Arrangement, FitError> {
    let (song, form_source) = plan_for(lyrics, plan, dict)?;
    Ok(arrange_plan(&song, form_source, plan))
}

/// Composes every part over a song plan.
pub fn arrange_plan(song: &SongPlan, form_source: FormSource, plan: &Plan) -> Arrangement {
    let style = Style::for_genre(plan.genre);
    let bpm = song.bpm;
    let key = plan.key.unwrap_or(style.key);
    let placed = place_sections(song);
    let bars = placed.iter().map(|s| s.bars).sum();
    let mut c = Composer::new(style, key, plan.seed);
    for (i, s) in placed.iter().enumerate() {
        c.section(s, placed.get(i + 1).map(|n| n.kind), i == placed.len() - 1);
    }
    let mut notes = c.notes;
    notes.sort_by_key(|n| (n.start, n.channel, n.key));
    let mut channels = vec![
        Channel {
            part: Part::Drums,
            channel: 9,
            program: 0,
        },
        Channel {
            part: Part::Bass,
            channel: 0,
            program: style.bass.1,
        },
        Channel {
            part: Part::Harmony,
            channel: 1,
            program: style.comp.1,
        },
        Channel {
            part: Part::Melody,
            channel: 3,
            program: style.lead,
        },
    ];
    if let Some(pad) = style.pad {
        channels.insert(
            3,
            Channel {
                part: Part::Harmony,
                channel: 2,
                program: pad,
            },
        );
    }
    Arrangement {
        genre: plan.genre,
        bpm,
        key,
        time_signature: [4, 4],
        seed: plan.seed,
        form_source,
        sections: placed,
        chords: c.chords,
        notes,
        channels,
        bars,
        swing: style.swing,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compose::test_support::{LYRICS, dict, plan};
    use crate::compose::{BAR, MAX_SONG_S, Note};
    use songforge_genre::Genre;

    #[test]
    fn sections_get_bars_from_their_lines_with_intro_and_outro() {
        let a = arrange(LYRICS, &plan(Genre::Pop, 1), &dict()).unwrap();
        let names: Vec<(&str, u32)> = a
            .sections
            .iter()
            .map(|s| (s.name.as_str(), s.bars))
            .collect();
        assert_eq!(
            names,
            [
                ("Intro", 4),
                ("Verse 1", 8),
                ("Chorus", 8),
                ("Verse 2", 8),
                ("Chorus", 8),
                ("Bridge", 4),
                ("Chorus", 8),
                ("Outro", 4)
            ]
        );
        assert_eq!(a.bars, 52);
        assert_eq!(a.chords.len(), 52);
        // Sections tile the grid.
        let mut bar = 0;
        for s in &a.sections {
            assert_eq!(s.start_bar, bar);
            bar += s.bars;
        }
        // Ends on the tonic.
        assert_eq!(a.chords.last().map(|c| c.symbol.as_str()), Some("G"));
    }

    #[test]
    fn a_requested_duration_is_met_within_half_a_bar() {
        for d in [40.0, 95.0, 180.0, 600.0] {
            for g in [Genre::Pop, Genre::Ballad, Genre::Electronic] {
                let mut p = plan(g, 3);
                p.duration_s = Some(d);
                match arrange(LYRICS, &p, &dict()) {
                    Ok(a) => assert!(
                        (a.duration_s() - d).abs() <= a.bar_seconds() / 2.0 + 1e-9,
                        "{g:?} {d}: {} at {} BPM, {} bars",
                        a.duration_s(),
                        a.bpm,
                        a.bars
                    ),
                    Err(FitError::TooShort { min_duration_s, .. }) => {
                        assert!(d < min_duration_s, "{g:?} {d}")
                    }
                    Err(e) => panic!("{g:?} {d}: {e}"),
                }
            }
        }
    }

    #[test]
    fn a_duration_too_short_for_the_lines_is_refused_with_the_one_that_fits() {
        let mut p = plan(Genre::Pop, 3);
        p.duration_s = Some(20.0);
        match arrange(LYRICS, &p, &dict()) {
            Err(FitError::TooShort { min_duration_s, .. }) => {
                assert!(min_duration_s > 20.0);
                p.duration_s = Some(min_duration_s);
                assert!(arrange(LYRICS, &p, &dict()).is_ok());
            }
            other => panic!("{:?}", other.map(|a| a.duration_s())),
        }
    }

    #[test]
    fn endless_lyrics_still_make_a_song_of_at_most_ten_minutes() {
        let lyrics = "Chorus:\nla\n".repeat(1500);
        let a = arrange(&lyrics, &plan(Genre::Ballad, 1), &dict()).unwrap();
        assert!(
            a.duration_s() <= MAX_SONG_S + a.bar_seconds(),
            "{}",
            a.duration_s()
        );
    }

    #[test]
    fn pitched_notes_stay_in_the_key_and_notes_inside_the_song() {
        for g in Genre::ALL {
            let a = arrange(LYRICS, &plan(g, 7), &dict()).unwrap();
            let end = a.bars * BAR;
            let pitched: Vec<&Note> = a.notes.iter().filter(|n| n.part != Part::Drums).collect();
            let in_key = pitched.iter().filter(|n| a.key.contains(n.key)).count();
            // Approach notes in the bass are chromatic on purpose; everything else is diatonic.
            assert!(
                in_key as f64 >= 0.9 * pitched.len() as f64,
                "{g:?}: {in_key}/{}",
                pitched.len()
            );
            assert!(
                a.notes.iter().all(|n| n.start + n.duration <= end + BAR),
                "{g:?}"
            );
            for p in Part::ALL {
                assert!(a.notes.iter().any(|n| n.part == p), "{g:?} has no {p:?}");
            }
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_song_and_another_seed_another() {
        let a = arrange(LYRICS, &plan(Genre::Jazz, 11), &dict()).unwrap();
        let b = arrange(LYRICS, &plan(Genre::Jazz, 11), &dict()).unwrap();
        let c = arrange(LYRICS, &plan(Genre::Jazz, 12), &dict()).unwrap();
        assert_eq!(a.notes, b.notes);
        assert_ne!(a.notes, c.notes);
    }
}
