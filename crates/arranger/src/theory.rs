//! Keys, scales and chords: just enough music theory to write and name a progression.

use serde::Serialize;
use std::fmt;

/// Major or (natural) minor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Ionian.
    Major,
    /// Aeolian.
    Minor,
}

/// A key: tonic pitch class (0 = C) and mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key {
    /// Tonic pitch class, 0..12.
    pub tonic: u8,
    /// Major or minor.
    pub mode: Mode,
}

const SHARP_NAMES: [&str; 12] = [
    "C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B",
];
const FLAT_NAMES: [&str; 12] = [
    "C", "Db", "D", "Eb", "E", "F", "Gb", "G", "Ab", "A", "Bb", "B",
];

/// Why a key name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a key; write a tonic and an optional mode, e.g. `C`, `F# minor`, `Bbm`")]
pub struct KeyError(pub String);

impl Key {
    /// A key from its tonic and mode.
    pub const fn new(tonic: u8, mode: Mode) -> Self {
        Key {
            tonic: tonic % 12,
            mode,
        }
    }

    /// The key a tune is most likely in: its pitch classes, weighted by how long each sounds,
    /// correlated with the Krumhansl-Kessler major and minor key profiles in all twelve
    /// transpositions (the standard key-finding method). `None` for silence.
    pub fn estimate(notes: &[(u8, f32)]) -> Option<Key> {
        const MAJOR: [f32; 12] = [
            6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88,
        ];
        const MINOR: [f32; 12] = [
            6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17,
        ];
        let mut weight = [0f32; 12];
        for &(midi, seconds) in notes {
            weight[usize::from(midi % 12)] += seconds.max(0.0);
        }
        if weight.iter().sum::<f32>() <= 0.0 {
            return None;
        }
        let correlation = |profile: &[f32; 12], tonic: usize| {
            let n = 12.0;
            let (mw, mp) = (
                weight.iter().sum::<f32>() / n,
                profile.iter().sum::<f32>() / n,
            );
            let (mut num, mut dw, mut dp) = (0f32, 0f32, 0f32);
            for pc in 0..12 {
                let (w, p) = (weight[pc] - mw, profile[(pc + 12 - tonic) % 12] - mp);
                num += w * p;
                dw += w * w;
                dp += p * p;
            }
            num / (dw * dp).sqrt().max(f32::MIN_POSITIVE)
        };
        (0..12)
            .flat_map(|t| [(t, Mode::Major), (t, Mode::Minor)])
            .map(|(t, mode)| {
                let profile = if mode == Mode::Major { &MAJOR } else { &MINOR };
                (Key::new(t as u8, mode), correlation(profile, t))
            })
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(key, _)| key)
    }

    /// Parses `C`, `C major`, `Cmaj`, `A minor`, `Am`, `F#m`, `Bb`, `E♭ min`, `c#` (lowercase
    /// tonic alone means minor only when spelled with `m`/`minor`: `c` is C major).
    pub fn parse(text: &str) -> Result<Key, KeyError> {
        let err = || KeyError(text.to_string());
        let t = text.trim().replace('♭', "b").replace('♯', "#");
        let mut chars = t.chars();
        let letter = chars.next().ok_or_else(err)?.to_ascii_uppercase();
        let base = natural_pitch_class(letter).ok_or_else(err)?;
        let rest: String = chars.collect();
        let (shift, rest) = if let Some(r) = rest.strip_prefix('#') {
            (1, r)
        } else if let Some(r) = rest.strip_prefix('b') {
            (-1, r)
        } else {
            (0, rest.as_str())
        };
        let mode = match rest.trim().to_ascii_lowercase().as_str() {
            "" | "maj" | "major" | "ionian" => Mode::Major,
            "m" | "min" | "minor" | "aeolian" => Mode::Minor,
            _ => return Err(err()),
        };
        Ok(Key::new((base + shift).rem_euclid(12) as u8, mode))
    }

    /// Whether this key is written with flats.
    fn uses_flats(self) -> bool {
        // Major keys F, Bb, Eb, Ab, Db, Gb; minor keys d, g, c, f, bb, eb.
        let major_tonic = match self.mode {
            Mode::Major => self.tonic,
            Mode::Minor => (self.tonic + 3) % 12,
        };
        matches!(major_tonic, 5 | 10 | 3 | 8 | 1 | 6)
    }

    /// The name of a pitch class as this key spells it.
    pub fn spell(self, pitch_class: u8) -> &'static str {
        let pc = (pitch_class % 12) as usize;
        if self.uses_flats() {
            FLAT_NAMES[pc]
        } else {
            SHARP_NAMES[pc]
        }
    }

    /// The seven scale degrees as semitones above the tonic.
    pub fn scale(self) -> [u8; 7] {
        match self.mode {
            Mode::Major => [0, 2, 4, 5, 7, 9, 11],
            Mode::Minor => [0, 2, 3, 5, 7, 8, 10],
        }
    }

    /// Whether a MIDI note is in the scale.
    pub fn contains(self, midi: u8) -> bool {
        let rel = (midi + 12 - self.tonic % 12) % 12;
        self.scale().contains(&rel)
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mode = match self.mode {
            Mode::Major => "major",
            Mode::Minor => "minor",
        };
        write!(f, "{} {mode}", self.spell(self.tonic))
    }
}

/// A chord's quality (the intervals above its root).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quality {
    /// 0 4 7.
    Major,
    /// 0 3 7.
    Minor,
    /// 0 3 6.
    Diminished,
    /// 0 5 7.
    Sus4,
    /// 0 4 7 10.
    Dominant7,
    /// 0 3 7 10.
    Minor7,
    /// 0 4 7 11.
    Major7,
    /// 0 4 7 14.
    Add9,
}

impl Quality {
    /// Intervals above the root, semitones.
    pub fn intervals(self) -> &'static [u8] {
        match self {
            Quality::Major => &[0, 4, 7],
            Quality::Minor => &[0, 3, 7],
            Quality::Diminished => &[0, 3, 6],
            Quality::Sus4 => &[0, 5, 7],
            Quality::Dominant7 => &[0, 4, 7, 10],
            Quality::Minor7 => &[0, 3, 7, 10],
            Quality::Major7 => &[0, 4, 7, 11],
            Quality::Add9 => &[0, 4, 7, 14],
        }
    }

    fn suffix(self) -> &'static str {
        match self {
            Quality::Major => "",
            Quality::Minor => "m",
            Quality::Diminished => "dim",
            Quality::Sus4 => "sus4",
            Quality::Dominant7 => "7",
            Quality::Minor7 => "m7",
            Quality::Major7 => "maj7",
            Quality::Add9 => "add9",
        }
    }
}

/// A chord written relative to a key: root as semitones above the tonic, and quality.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chord {
    /// Root, semitones above the tonic.
    pub root: u8,
    /// Quality.
    pub quality: Quality,
}

impl Chord {
    /// Parses one Roman numeral relative to the tonic's major scale: `I`, `vi`, `bVII`,
    /// `ii7`, `V7`, `Imaj7`, `viidim`, `IVsus4`, `Iadd9`. Case gives the third (upper major,
    /// lower minor). Preset tables only: a bad numeral is a programming error, reported.
    pub fn numeral(text: &str) -> Option<Chord> {
        let (shift, rest) = match text.as_bytes().first()? {
            b'b' => (-1i32, &text[1..]),
            b'#' => (1, &text[1..]),
            _ => (0, text),
        };
        let numerals = ["VII", "VI", "IV", "V", "III", "II", "I"];
        let degrees = [6usize, 5, 3, 4, 2, 1, 0];
        let (idx, len) = numerals.iter().enumerate().find_map(|(i, n)| {
            rest.get(..n.len())
                .filter(|p| p.eq_ignore_ascii_case(n))
                .map(|_| (i, n.len()))
        })?;
        let upper = rest.as_bytes()[0].is_ascii_uppercase();
        let major_scale = [0, 2, 4, 5, 7, 9, 11];
        let root = (major_scale[degrees[idx]] + shift).rem_euclid(12) as u8;
        let quality = match (&rest[len..], upper) {
            ("", true) => Quality::Major,
            ("", false) => Quality::Minor,
            ("7", true) => Quality::Dominant7,
            ("7", false) => Quality::Minor7,
            ("maj7", _) => Quality::Major7,
            ("dim", _) => Quality::Diminished,
            ("sus4", _) => Quality::Sus4,
            ("add9", _) => Quality::Add9,
            _ => return None,
        };
        Some(Chord { root, quality })
    }

    /// Pitch classes of the chord in `key`.
    pub fn pitch_classes(self, key: Key) -> Vec<u8> {
        self.quality
            .intervals()
            .iter()
            .map(|i| (key.tonic + self.root + i) % 12)
            .collect()
    }

    /// Root pitch class in `key`.
    pub fn root_pc(self, key: Key) -> u8 {
        (key.tonic + self.root) % 12
    }

    /// The chord symbol as `key` spells it: `Am`, `F#7`, `Bbmaj7`.
    pub fn symbol(self, key: Key) -> String {
        format!("{}{}", key.spell(self.root_pc(key)), self.quality.suffix())
    }
}

/// The pitch class of a note letter `C`…`B` (upper case).
fn natural_pitch_class(letter: char) -> Option<i32> {
    Some(match letter {
        'C' => 0,
        'D' => 2,
        'E' => 4,
        'F' => 5,
        'G' => 7,
        'A' => 9,
        'B' => 11,
        _ => return None,
    })
}

/// Pitch classes of a chord symbol as the arrangement map writes it (`Am`, `F#7`, `Bbmaj7`,
/// `Gsus4`, `Cadd9`, `Bdim`), plus the common `sus2`, `6`, `m6`, `9`, `aug`; `None` otherwise.
pub fn symbol_pitch_classes(symbol: &str) -> Option<Vec<u8>> {
    let s = symbol.trim().replace('♭', "b").replace('♯', "#");
    let mut chars = s.chars();
    let base = natural_pitch_class(chars.next()?)?;
    let rest = chars.as_str();
    let (shift, suffix) = match rest.as_bytes().first() {
        Some(b'#') => (1, &rest[1..]),
        Some(b'b') => (-1, &rest[1..]),
        _ => (0, rest),
    };
    // A slash bass adds no pitch class the melody needs.
    let suffix = suffix.split('/').next().unwrap_or("");
    let intervals: &[u8] = match suffix {
        "" | "maj" => &[0, 4, 7],
        "m" | "min" => &[0, 3, 7],
        "dim" => &[0, 3, 6],
        "aug" | "+" => &[0, 4, 8],
        "sus4" | "sus" => &[0, 5, 7],
        "sus2" => &[0, 2, 7],
        "7" => &[0, 4, 7, 10],
        "m7" | "min7" => &[0, 3, 7, 10],
        "maj7" => &[0, 4, 7, 11],
        "add9" => &[0, 4, 7, 2],
        "6" => &[0, 4, 7, 9],
        "m6" => &[0, 3, 7, 9],
        "9" => &[0, 4, 7, 10, 2],
        _ => return None,
    };
    let root = (base + shift).rem_euclid(12) as u8;
    Some(intervals.iter().map(|i| (root + i) % 12).collect())
}

/// Parses a space-separated progression of Roman numerals (preset tables).
pub fn progression(text: &str) -> Vec<Chord> {
    text.split_whitespace()
        .map(|n| Chord::numeral(n).unwrap_or_else(|| panic!("bad numeral `{n}` in a preset")))
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_tune_is_placed_in_its_key() {
        let long = |midis: &[u8]| midis.iter().map(|&m| (m, 0.5)).collect::<Vec<_>>();
        // A D major scale and arpeggio, and an A minor one (with its tonic held).
        let d_major = long(&[62, 64, 66, 67, 69, 71, 73, 74, 66, 69, 62, 62]);
        assert_eq!(Key::estimate(&d_major), Some(Key::new(2, Mode::Major)));
        let a_minor = long(&[57, 59, 60, 62, 64, 65, 67, 69, 60, 64, 57, 57]);
        assert_eq!(Key::estimate(&a_minor), Some(Key::new(9, Mode::Minor)));
        assert_eq!(Key::estimate(&[]), None);
    }

    use super::*;

    #[test]
    fn chord_symbols_the_map_writes_parse_back() {
        let key = Key::parse("Bb").unwrap();
        for numeral in [
            "I", "ii7", "IVmaj7", "V7", "vi", "viidim", "IVsus4", "Iadd9", "bVII",
        ] {
            let chord = Chord::numeral(numeral).unwrap();
            let mut parsed = symbol_pitch_classes(&chord.symbol(key)).unwrap();
            let mut expected = chord.pitch_classes(key);
            parsed.sort_unstable();
            expected.sort_unstable();
            assert_eq!(parsed, expected, "{numeral} = {}", chord.symbol(key));
        }
        assert_eq!(symbol_pitch_classes("F#m"), Some(vec![6, 9, 1]));
        assert_eq!(symbol_pitch_classes("H7"), None);
        assert_eq!(symbol_pitch_classes("Cxyz"), None);
    }

    #[test]
    fn keys_parse_in_the_usual_spellings() {
        assert_eq!(Key::parse("C").unwrap(), Key::new(0, Mode::Major));
        assert_eq!(Key::parse("A minor").unwrap(), Key::new(9, Mode::Minor));
        assert_eq!(Key::parse("F#m").unwrap(), Key::new(6, Mode::Minor));
        assert_eq!(Key::parse("Bb").unwrap(), Key::new(10, Mode::Major));
        assert_eq!(Key::parse("e♭ min").unwrap(), Key::new(3, Mode::Minor));
        assert_eq!(Key::parse("Cb major").unwrap(), Key::new(11, Mode::Major));
        for bad in ["", "H", "C lydian", "X#", "7"] {
            assert!(Key::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn numerals_name_the_right_chords() {
        let c = Key::new(0, Mode::Major);
        let sym = |n: &str, k: Key| Chord::numeral(n).unwrap().symbol(k);
        assert_eq!(sym("I", c), "C");
        assert_eq!(sym("vi", c), "Am");
        assert_eq!(sym("V7", c), "G7");
        assert_eq!(sym("ii7", c), "Dm7");
        assert_eq!(sym("Imaj7", c), "Cmaj7");
        let em = Key::new(4, Mode::Minor);
        assert_eq!(sym("bVI", em), "C");
        assert_eq!(sym("bVII", em), "D");
        assert_eq!(sym("i", em), "Em");
        let f = Key::new(5, Mode::Major);
        assert_eq!(sym("IV", f), "Bb");
        assert!(Chord::numeral("VIII").is_none());
        assert!(Chord::numeral("Ix").is_none());
    }

    #[test]
    fn diatonic_chords_stay_in_the_key() {
        let g = Key::new(7, Mode::Major);
        for ch in progression("I ii iii IV V vi") {
            assert!(ch.pitch_classes(g).iter().all(|&pc| g.contains(pc)));
        }
        let am = Key::new(9, Mode::Minor);
        for ch in progression("i iv v bVI bIII bVII") {
            assert!(ch.pitch_classes(am).iter().all(|&pc| am.contains(pc)));
        }
    }
}
