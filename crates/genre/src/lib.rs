//! Genre presets shared by every stage of a song.
//!
//! Users type genres as free text ("hip hop", "lofi beats", "EDM"); [`Genre::from_text`] maps
//! them onto the built-in presets, and the response says which one was used. The mixer's
//! settings per genre live here ([`MixPreset`]) so the lyricist, arranger and mixer agree on
//! what "rock" means.

use serde::Serialize;

/// A built-in genre preset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Genre {
    /// Pop.
    Pop,
    /// Rock.
    Rock,
    /// Hip-hop / rap.
    HipHop,
    /// Electronic / EDM / dance.
    Electronic,
    /// Lo-fi.
    LoFi,
    /// Jazz.
    Jazz,
    /// Country.
    Country,
    /// Ballad / piano.
    Ballad,
    /// R&B / soul.
    RnB,
    /// Folk / acoustic.
    Folk,
}

/// How a free-text genre was understood.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GenreMatch {
    /// The preset used.
    pub preset: Genre,
    /// Whether the text named a known genre (false: the default preset was used).
    pub recognised: bool,
}

impl Genre {
    /// Every preset.
    pub const ALL: [Genre; 10] = [
        Genre::Pop,
        Genre::Rock,
        Genre::HipHop,
        Genre::Electronic,
        Genre::LoFi,
        Genre::Jazz,
        Genre::Country,
        Genre::Ballad,
        Genre::RnB,
        Genre::Folk,
    ];

    /// The preset's API name.
    pub fn name(self) -> &'static str {
        match self {
            Genre::Pop => "pop",
            Genre::Rock => "rock",
            Genre::HipHop => "hip-hop",
            Genre::Electronic => "electronic",
            Genre::LoFi => "lo-fi",
            Genre::Jazz => "jazz",
            Genre::Country => "country",
            Genre::Ballad => "ballad",
            Genre::RnB => "r&b",
            Genre::Folk => "folk",
        }
    }

    /// The preset's usual tempo, beats a minute: the arranger plays it, and the song plan
    /// moves it at most 15 % to fit a duration.
    pub fn tempo(self) -> u32 {
        match self {
            Genre::Pop => 112,
            Genre::Rock => 124,
            Genre::HipHop => 90,
            Genre::Electronic => 126,
            Genre::LoFi => 80,
            Genre::Jazz => 132,
            Genre::Country => 108,
            Genre::Ballad => 72,
            Genre::RnB => 94,
            Genre::Folk => 100,
        }
    }

    /// Maps free text onto a preset by keywords; unknown text falls back to pop.
    pub fn from_text(text: &str) -> GenreMatch {
        let t: String = text
            .to_lowercase()
            .chars()
            .map(|c| {
                if c.is_alphanumeric() || c == '&' {
                    c
                } else {
                    ' '
                }
            })
            .collect();
        let words: Vec<&str> = t.split_whitespace().collect();
        let joined = words.join("");
        let has = |k: &str| words.contains(&k) || joined.contains(k);
        // Order matters: more specific names first ("lofi hip hop" is lo-fi, "pop punk" rock).
        let table: [(Genre, &[&str]); 10] = [
            (Genre::LoFi, &["lofi", "lo fi", "chillhop", "chill"]),
            (
                Genre::RnB,
                &["r&b", "rnb", "randb", "soul", "neosoul", "motown"],
            ),
            (
                Genre::HipHop,
                &["hiphop", "rap", "trap", "drill", "boombap", "grime"],
            ),
            (
                Genre::Electronic,
                &[
                    "edm",
                    "electronic",
                    "electro",
                    "house",
                    "techno",
                    "trance",
                    "dance",
                    "dubstep",
                    "synthwave",
                    "disco",
                    "dnb",
                    "drumandbass",
                ],
            ),
            (
                Genre::Rock,
                &[
                    "rock",
                    "punk",
                    "metal",
                    "grunge",
                    "indie",
                    "alternative",
                    "emo",
                ],
            ),
            (
                Genre::Jazz,
                &["jazz", "swing", "bebop", "bossa", "blues", "lounge"],
            ),
            (
                Genre::Country,
                &["country", "bluegrass", "americana", "western"],
            ),
            (
                Genre::Ballad,
                &["ballad", "piano", "orchestral", "cinematic", "classical"],
            ),
            (
                Genre::Folk,
                &[
                    "folk",
                    "acoustic",
                    "singer songwriter",
                    "singersongwriter",
                    "celtic",
                ],
            ),
            (Genre::Pop, &["pop", "kpop", "jpop", "synthpop"]),
        ];
        for (genre, keys) in table {
            if keys.iter().any(|k| has(&k.replace(' ', ""))) {
                return GenreMatch {
                    preset: genre,
                    recognised: true,
                };
            }
        }
        GenreMatch {
            preset: Genre::Pop,
            recognised: false,
        }
    }

    /// The mix and master settings for this genre.
    pub fn mix_preset(self) -> MixPreset {
        // Values follow common mixing practice for each style: how much the vocal is pushed
        // forward, how hard the bus is glued, and the tonal tilt of the master.
        let base = MixPreset {
            vocal_highpass_hz: 90.0,
            vocal_presence: band(4000.0, 2.5, 1.0),
            vocal_compressor: dynamics(-20.0, 3.0, 8.0, 120.0, 6.0),
            bus_low_shelf: band(100.0, 1.0, 0.7),
            bus_high_shelf: band(10000.0, 1.5, 0.7),
            bus_compressor: dynamics(-16.0, 2.0, 20.0, 200.0, 6.0),
            ducking_depth_db: 3.0,
            vocal_lead_db: 9.0,
            speech_carve_db: 6.0,
        };
        match self {
            Genre::Pop => base,
            Genre::Rock => MixPreset {
                vocal_presence: band(3000.0, 3.0, 1.0),
                bus_low_shelf: band(90.0, 1.5, 0.7),
                bus_high_shelf: band(8000.0, 1.0, 0.7),
                bus_compressor: dynamics(-14.0, 3.0, 10.0, 150.0, 4.0),
                ducking_depth_db: 4.0,
                vocal_lead_db: 12.0,
                ..base
            },
            Genre::HipHop => MixPreset {
                vocal_highpass_hz: 100.0,
                vocal_presence: band(5000.0, 3.0, 1.2),
                vocal_compressor: dynamics(-22.0, 4.0, 5.0, 100.0, 4.0),
                bus_low_shelf: band(70.0, 3.0, 0.7),
                bus_compressor: dynamics(-15.0, 3.0, 15.0, 120.0, 4.0),
                ducking_depth_db: 4.0,
                vocal_lead_db: 10.0,
                ..base
            },
            Genre::Electronic => MixPreset {
                vocal_presence: band(5000.0, 2.0, 1.0),
                bus_low_shelf: band(60.0, 2.5, 0.7),
                bus_high_shelf: band(12000.0, 2.0, 0.7),
                bus_compressor: dynamics(-14.0, 4.0, 10.0, 100.0, 3.0),
                ducking_depth_db: 5.0,
                vocal_lead_db: 12.0,
                ..base
            },
            Genre::LoFi => MixPreset {
                vocal_presence: band(3000.0, 1.0, 0.8),
                bus_low_shelf: band(120.0, 2.0, 0.7),
                bus_high_shelf: band(7000.0, -3.0, 0.7),
                bus_compressor: dynamics(-18.0, 2.5, 30.0, 250.0, 8.0),
                ducking_depth_db: 2.0,
                ..base
            },
            Genre::Jazz | Genre::Folk => MixPreset {
                vocal_highpass_hz: 80.0,
                vocal_presence: band(3500.0, 1.5, 0.8),
                vocal_compressor: dynamics(-18.0, 2.0, 15.0, 200.0, 8.0),
                bus_low_shelf: band(100.0, 0.0, 0.7),
                bus_high_shelf: band(10000.0, 0.5, 0.7),
                bus_compressor: dynamics(-20.0, 1.5, 30.0, 300.0, 10.0),
                ducking_depth_db: 1.5,
                vocal_lead_db: 9.0,
                speech_carve_db: 6.0,
            },
            Genre::Country => MixPreset {
                vocal_presence: band(3500.0, 2.5, 1.0),
                bus_compressor: dynamics(-16.0, 2.0, 20.0, 200.0, 6.0),
                ..base
            },
            Genre::Ballad => MixPreset {
                vocal_highpass_hz: 80.0,
                vocal_presence: band(3000.0, 2.0, 0.8),
                vocal_compressor: dynamics(-20.0, 2.5, 12.0, 180.0, 8.0),
                bus_low_shelf: band(100.0, 0.5, 0.7),
                bus_compressor: dynamics(-20.0, 1.5, 30.0, 300.0, 10.0),
                ducking_depth_db: 2.0,
                ..base
            },
            Genre::RnB => MixPreset {
                vocal_presence: band(4500.0, 2.5, 1.0),
                bus_low_shelf: band(80.0, 2.5, 0.7),
                bus_high_shelf: band(11000.0, 1.5, 0.7),
                ducking_depth_db: 3.5,
                ..base
            },
        }
    }
}

/// A band: frequency (Hz), gain (dB), Q.
const fn band(freq_hz: f64, gain_db: f64, q: f64) -> Band {
    Band {
        freq_hz,
        gain_db,
        q,
    }
}

/// Compressor settings: threshold (dBFS), ratio, attack (ms), release (ms), knee (dB).
const fn dynamics(
    threshold_db: f64,
    ratio: f64,
    attack_ms: f64,
    release_ms: f64,
    knee_db: f64,
) -> Dynamics {
    Dynamics {
        threshold_db,
        ratio,
        attack_ms,
        release_ms,
        knee_db,
    }
}

/// One EQ band.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Band {
    /// Centre or corner frequency, Hz.
    pub freq_hz: f64,
    /// Gain, dB.
    pub gain_db: f64,
    /// Quality factor.
    pub q: f64,
}

/// Compressor settings of a preset.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Dynamics {
    /// Threshold, dBFS.
    pub threshold_db: f64,
    /// Ratio.
    pub ratio: f64,
    /// Attack, ms.
    pub attack_ms: f64,
    /// Release, ms.
    pub release_ms: f64,
    /// Knee width, dB.
    pub knee_db: f64,
}

/// How a genre is mixed and mastered.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct MixPreset {
    /// Vocal high-pass corner (removes rumble and plosives).
    pub vocal_highpass_hz: f64,
    /// Vocal presence bell.
    pub vocal_presence: Band,
    /// Vocal compressor.
    pub vocal_compressor: Dynamics,
    /// Master low shelf.
    pub bus_low_shelf: Band,
    /// Master high shelf.
    pub bus_high_shelf: Band,
    /// Master bus compressor ("glue").
    pub bus_compressor: Dynamics,
    /// How far the instrumental dips under the vocal, dB.
    pub ducking_depth_db: f64,
    /// How far the vocal sits above the backing where it sings, in the speech band, dB.
    pub vocal_lead_db: f64,
    /// How deep the backing's speech band (a bell around 2 kHz) dips while the vocal sings,
    /// on top of the ducking, dB: the words' consonants live there.
    pub speech_carve_db: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_text_maps_to_presets() {
        let g = |t: &str| Genre::from_text(t).preset;
        assert_eq!(g("pop"), Genre::Pop);
        assert_eq!(g("Hip Hop"), Genre::HipHop);
        assert_eq!(g("hip-hop"), Genre::HipHop);
        assert_eq!(g("lofi hip hop beats"), Genre::LoFi);
        assert_eq!(g("EDM"), Genre::Electronic);
        assert_eq!(g("deep house"), Genre::Electronic);
        assert_eq!(g("R&B"), Genre::RnB);
        assert_eq!(g("pop punk"), Genre::Rock);
        assert_eq!(g("piano ballad"), Genre::Ballad);
        assert_eq!(g("acoustic folk"), Genre::Folk);
        let unknown = Genre::from_text("gregorian chant");
        assert_eq!((unknown.preset, unknown.recognised), (Genre::Pop, false));
    }

    #[test]
    fn every_preset_is_sane() {
        for g in Genre::ALL {
            let p = g.mix_preset();
            assert!(
                p.bus_compressor.ratio >= 1.0 && p.vocal_compressor.ratio >= 1.0,
                "{g:?}"
            );
            assert!((0.0..=8.0).contains(&p.ducking_depth_db), "{g:?}");
            assert_eq!(
                Genre::from_text(g.name()).preset,
                g,
                "{g:?} round-trips by name"
            );
        }
    }
}
