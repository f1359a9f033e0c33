//! How each genre preset is played: tempo, key, progressions, drum grooves, bass and comping
//! styles, and the General MIDI instruments. The README documents these tables.

use crate::theory::{Key, Mode};
use songforge_genre::Genre;
use songforge_song::form::SectionKind;

/// One bar of a drum voice on a 16th-note grid: `X` accent, `x` normal, `o` soft, `g` ghost,
/// `.` rest.
pub type Grid = &'static str;

/// A drum groove: which General MIDI percussion key plays which grid.
#[derive(Debug, Clone, Copy)]
pub struct Groove {
    /// (GM percussion key, grid) pairs.
    pub voices: &'static [(u8, Grid)],
}

/// How the bass plays each bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BassStyle {
    /// Driving 8th notes on the root, an approach note into the next chord.
    Eighths,
    /// Root on 1, fifth on 3 (country, folk).
    RootFifth,
    /// Octaves on the off-beats (dance).
    OffbeatOctaves,
    /// Long notes that follow the kick (hip-hop 808).
    FollowKick,
    /// Quarter-note walking line with chromatic approach (jazz).
    Walking,
    /// Half notes, root then fifth (ballad).
    Halves,
    /// Syncopated root/octave figure (R&B, lo-fi).
    Syncopated,
}

/// How the harmony instrument plays each bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompStyle {
    /// Chords on every beat.
    Quarters,
    /// Strummed 8ths, down/up accents.
    Strum,
    /// Power chords chugging in 8ths.
    PowerEighths,
    /// One sustained chord per bar.
    Sustain,
    /// Sustained chord re-struck on the "and" of 2.
    Push,
    /// Charleston rhythm: beat 1 and the "and" of 2, short.
    Charleston,
    /// Broken chord in 8ths (piano arpeggio, finger-picking).
    Arpeggio,
    /// Short stabs on the off-beats.
    OffbeatStabs,
}

/// A genre's playing instructions.
#[derive(Debug, Clone, Copy)]
pub struct Style {
    /// Default tempo.
    pub bpm: u32,
    /// Default key.
    pub key: Key,
    /// Swing, 0 (straight) to 1/3 (triplet feel), applied to off-beat 8ths and 16ths.
    pub swing: f32,
    /// Progressions (Roman numerals) in the default mode: verse, chorus, bridge.
    pub verse: &'static str,
    /// Chorus progression.
    pub chorus: &'static str,
    /// Bridge and pre-chorus progression.
    pub bridge: &'static str,
    /// Groove in intros, verses, bridges, outros.
    pub groove: Groove,
    /// Groove in choruses and instrumental sections.
    pub chorus_groove: Groove,
    /// Bass style and GM program.
    pub bass: (BassStyle, u8),
    /// Comping style and GM program.
    pub comp: (CompStyle, u8),
    /// Sustained pad under choruses (GM program), if any.
    pub pad: Option<u8>,
    /// Counter-melody GM program.
    pub lead: u8,
}

// General MIDI percussion keys.
/// Bass drum.
pub const KICK: u8 = 36;
/// Side stick.
pub const SIDE_STICK: u8 = 37;
/// Acoustic snare.
pub const SNARE: u8 = 38;
/// Hand clap.
pub const CLAP: u8 = 39;
/// Closed hi-hat.
pub const HAT: u8 = 42;
/// Pedal hi-hat.
pub const PEDAL_HAT: u8 = 44;
/// Open hi-hat.
pub const OPEN_HAT: u8 = 46;
/// Crash cymbal.
pub const CRASH: u8 = 49;
/// Ride cymbal.
pub const RIDE: u8 = 51;
/// Toms, high to low.
pub const TOMS: [u8; 4] = [50, 48, 47, 45];

/// Progressions used when a request asks for the other mode than the preset's.
const MAJOR_FALLBACK: (&str, &str, &str) = ("I V vi IV", "IV I V vi", "vi IV I V");
const MINOR_FALLBACK: (&str, &str, &str) = ("i bVI bIII bVII", "bVI bVII i i", "iv bVI bVII v");

impl Style {
    /// The preset for a genre.
    pub fn for_genre(genre: Genre) -> Style {
        match genre {
            Genre::Pop => Style {
                bpm: Genre::Pop.tempo(),
                key: Key::new(7, Mode::Major),
                swing: 0.0,
                verse: "I V vi IV",
                chorus: "vi IV I V",
                bridge: "IV V iii vi",
                groove: Groove {
                    voices: &[
                        (KICK, "X.......x.x....."),
                        (SNARE, "....X.......X..."),
                        (HAT, "x.o.x.o.x.o.x.o."),
                    ],
                },
                chorus_groove: Groove {
                    voices: &[
                        (KICK, "X.....x.X.x....."),
                        (SNARE, "....X.......X..."),
                        (CLAP, "....x.......x..."),
                        (HAT, "x.x.x.x.x.x.x.x."),
                        (OPEN_HAT, "..............o."),
                    ],
                },
                bass: (BassStyle::Eighths, 33),
                comp: (CompStyle::Quarters, 0),
                pad: Some(89),
                lead: 80,
            },
            Genre::Rock => Style {
                bpm: Genre::Rock.tempo(),
                key: Key::new(4, Mode::Minor),
                swing: 0.0,
                verse: "i bVI bIII bVII",
                chorus: "bIII bVII i bVI",
                bridge: "iv bVI bVII bVII",
                groove: Groove {
                    voices: &[
                        (KICK, "X.......X.x....."),
                        (SNARE, "....X.......X..."),
                        (HAT, "x.x.x.x.x.x.x.x."),
                    ],
                },
                chorus_groove: Groove {
                    voices: &[
                        (KICK, "X.x.....X.x....."),
                        (SNARE, "....X.......X..."),
                        (RIDE, "x.x.x.x.x.x.x.x."),
                    ],
                },
                bass: (BassStyle::Eighths, 34),
                comp: (CompStyle::PowerEighths, 29),
                pad: None,
                lead: 30,
            },
            Genre::HipHop => Style {
                bpm: Genre::HipHop.tempo(),
                key: Key::new(0, Mode::Minor),
                swing: 0.12,
                verse: "i bVI iv v",
                chorus: "bVI bVII i i",
                bridge: "iv iv bVI bVII",
                groove: Groove {
                    voices: &[
                        (KICK, "X.....x...X....."),
                        (SNARE, "....X.......X..."),
                        (HAT, "x.o.x.o.x.o.x.o."),
                    ],
                },
                chorus_groove: Groove {
                    voices: &[
                        (KICK, "X.....x...X..x.."),
                        (SNARE, "....X.......X..."),
                        (CLAP, "....x.......x..."),
                        (HAT, "x.xox.xox.xox.xo"),
                    ],
                },
                bass: (BassStyle::FollowKick, 38),
                comp: (CompStyle::Push, 4),
                pad: Some(89),
                lead: 10,
            },
            Genre::Electronic => Style {
                bpm: Genre::Electronic.tempo(),
                key: Key::new(9, Mode::Minor),
                swing: 0.0,
                verse: "i bVI bIII bVII",
                chorus: "bVI bVII i i",
                bridge: "iv bVI bIII bVII",
                groove: Groove {
                    voices: &[
                        (KICK, "X...X...X...X..."),
                        (CLAP, "....x.......x..."),
                        (HAT, "..o...o...o...o."),
                    ],
                },
                chorus_groove: Groove {
                    voices: &[
                        (KICK, "X...X...X...X..."),
                        (CLAP, "....X.......X..."),
                        (SNARE, "....o.......o..."),
                        (OPEN_HAT, "..x...x...x...x."),
                        (HAT, "o.o.o.o.o.o.o.o."),
                    ],
                },
                bass: (BassStyle::OffbeatOctaves, 38),
                comp: (CompStyle::OffbeatStabs, 81),
                pad: Some(90),
                lead: 80,
            },
            Genre::LoFi => Style {
                bpm: Genre::LoFi.tempo(),
                key: Key::new(5, Mode::Major),
                swing: 0.2,
                verse: "ii7 V7 Imaj7 vi7",
                chorus: "IVmaj7 iii7 ii7 Imaj7",
                bridge: "IVmaj7 V7 iii7 vi7",
                groove: Groove {
                    voices: &[
                        (KICK, "X......x..x....."),
                        (SNARE, "....x.......x..."),
                        (HAT, "o.g.o.g.o.g.o.g."),
                    ],
                },
                chorus_groove: Groove {
                    voices: &[
                        (KICK, "X......x..x...o."),
                        (SNARE, "....x.......x..."),
                        (HAT, "o.ogo.ogo.ogo.og"),
                    ],
                },
                bass: (BassStyle::Syncopated, 33),
                comp: (CompStyle::Push, 4),
                pad: None,
                lead: 11,
            },
            Genre::Jazz => Style {
                bpm: Genre::Jazz.tempo(),
                key: Key::new(10, Mode::Major),
                swing: 0.33,
                verse: "ii7 V7 Imaj7 vi7",
                chorus: "IVmaj7 iii7 ii7 V7",
                bridge: "iii7 vi7 ii7 V7",
                groove: Groove {
                    voices: &[
                        (RIDE, "x...x.o.x...x.o."),
                        (PEDAL_HAT, "....x.......x..."),
                        (KICK, "o...g...o...g..."),
                    ],
                },
                chorus_groove: Groove {
                    voices: &[
                        (RIDE, "X...x.o.X...x.o."),
                        (PEDAL_HAT, "....x.......x..."),
                        (KICK, "o...g...o...g..."),
                        (SNARE, "......g.......g."),
                    ],
                },
                bass: (BassStyle::Walking, 32),
                comp: (CompStyle::Charleston, 0),
                pad: None,
                lead: 66,
            },
            Genre::Country => Style {
                bpm: Genre::Country.tempo(),
                key: Key::new(7, Mode::Major),
                swing: 0.0,
                verse: "I IV V I",
                chorus: "IV I V I",
                bridge: "vi IV I V",
                groove: Groove {
                    voices: &[
                        (KICK, "X.......X......."),
                        (SNARE, "....x.......x..."),
                        (HAT, "x.o.x.o.x.o.x.o."),
                    ],
                },
                chorus_groove: Groove {
                    voices: &[
                        (KICK, "X.......X.x....."),
                        (SNARE, "....X.......X..."),
                        (HAT, "x.x.x.x.x.x.x.x."),
                    ],
                },
                bass: (BassStyle::RootFifth, 32),
                comp: (CompStyle::Strum, 25),
                pad: None,
                lead: 110,
            },
            Genre::Ballad => Style {
                bpm: Genre::Ballad.tempo(),
                key: Key::new(2, Mode::Major),
                swing: 0.0,
                verse: "I vi IV V",
                chorus: "IV V iii vi",
                bridge: "vi IV I V",
                groove: Groove {
                    voices: &[
                        (KICK, "x.......o......."),
                        (SIDE_STICK, "....o.......o..."),
                        (HAT, "o.g.o.g.o.g.o.g."),
                    ],
                },
                chorus_groove: Groove {
                    voices: &[
                        (KICK, "x.......x.o....."),
                        (SNARE, "....x.......x..."),
                        (RIDE, "o.o.o.o.o.o.o.o."),
                    ],
                },
                bass: (BassStyle::Halves, 32),
                comp: (CompStyle::Arpeggio, 0),
                pad: Some(48),
                lead: 40,
            },
            Genre::RnB => Style {
                bpm: Genre::RnB.tempo(),
                key: Key::new(3, Mode::Major),
                swing: 0.1,
                verse: "IVmaj7 iii7 vi7 V",
                chorus: "ii7 V7 iii7 vi7",
                bridge: "IVmaj7 V7 iii7 vi7",
                groove: Groove {
                    voices: &[
                        (KICK, "X......x..X....."),
                        (SNARE, "....X.......X..."),
                        (HAT, "x.o.x.ooxoo.x.o."),
                    ],
                },
                chorus_groove: Groove {
                    voices: &[
                        (KICK, "X......x..X..x.."),
                        (SNARE, "....X.......X..."),
                        (CLAP, "....x.......x..."),
                        (HAT, "xoxoxoxoxoxoxoxo"),
                    ],
                },
                bass: (BassStyle::Syncopated, 38),
                comp: (CompStyle::Sustain, 4),
                pad: Some(89),
                lead: 27,
            },
            Genre::Folk => Style {
                bpm: Genre::Folk.tempo(),
                key: Key::new(2, Mode::Major),
                swing: 0.0,
                verse: "I IV I V",
                chorus: "IV I V vi",
                bridge: "vi IV V V",
                groove: Groove {
                    voices: &[
                        (KICK, "X.......x......."),
                        (SIDE_STICK, "....x.......x..."),
                        (HAT, "o...o...o...o..."),
                    ],
                },
                chorus_groove: Groove {
                    voices: &[
                        (KICK, "X.......X.x....."),
                        (SNARE, "....x.......x..."),
                        (HAT, "o.o.o.o.o.o.o.o."),
                    ],
                },
                bass: (BassStyle::RootFifth, 32),
                comp: (CompStyle::Arpeggio, 25),
                pad: None,
                lead: 73,
            },
        }
    }

    /// The progression a section plays, in `mode` (the preset's own, or a fallback set).
    pub fn progression_for(&self, kind: SectionKind, mode: Mode) -> &'static str {
        let (verse, chorus, bridge) = if mode == self.key.mode {
            (self.verse, self.chorus, self.bridge)
        } else if mode == Mode::Major {
            MAJOR_FALLBACK
        } else {
            MINOR_FALLBACK
        };
        match kind {
            SectionKind::Intro | SectionKind::Verse => verse,
            SectionKind::Chorus
            | SectionKind::Hook
            | SectionKind::Instrumental
            | SectionKind::Outro => chorus,
            SectionKind::Bridge | SectionKind::PreChorus => bridge,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::theory::progression;

    #[test]
    fn every_preset_is_well_formed() {
        for g in Genre::ALL {
            let s = Style::for_genre(g);
            assert!((40..=240).contains(&s.bpm), "{g:?}");
            for p in [s.verse, s.chorus, s.bridge] {
                assert!(!progression(p).is_empty(), "{g:?}");
            }
            for groove in [s.groove, s.chorus_groove] {
                for (_, grid) in groove.voices {
                    assert_eq!(grid.len(), 16, "{g:?} {grid}");
                    assert!(grid.chars().all(|c| "Xxog.".contains(c)), "{g:?}");
                }
            }
        }
        for (v, c, b) in [MAJOR_FALLBACK, MINOR_FALLBACK] {
            assert!(!progression(v).is_empty() && !progression(c).is_empty());
            assert!(!progression(b).is_empty());
        }
    }
}
