//! The grid a melody is written on: tempo, metre, key, sections and chords, read from the
//! instrumental endpoint's arrangement map or taken from a composed arrangement.

use serde::Deserialize;
use songforge_arranger::Arrangement;
use songforge_arranger::theory::{Key, symbol_pitch_classes};
use songforge_song::form::SectionKind;
use songforge_song::plan::LinePlan;

/// The arrangement map as `/api/generate-instrumental/` writes it (extra fields ignored).
#[derive(Debug, Clone, Deserialize)]
pub struct ArrangementMap {
    /// Beats a minute.
    pub bpm: f64,
    /// `A minor`, `C major`, `F#m`.
    pub key: String,
    /// `4/4`.
    #[serde(default = "four_four")]
    pub time_signature: String,
    /// Seconds, ring-out included.
    pub duration: Option<f64>,
    /// Sections in order.
    pub sections: Vec<MapSection>,
    /// Chord changes.
    #[serde(default)]
    pub chords: Vec<MapChord>,
}

fn four_four() -> String {
    "4/4".into()
}

/// One section of the map.
#[derive(Debug, Clone, Deserialize)]
pub struct MapSection {
    /// `Verse 1`.
    pub name: String,
    /// Kind; read from the name when absent.
    pub kind: Option<SectionKind>,
    /// First bar, 0-based.
    pub start_bar: u32,
    /// Length in bars.
    pub bars: u32,
    /// Lines the arranger planned for it.
    #[serde(default)]
    pub lines: usize,
    /// The lyric section sung here (index into the lyrics' sections).
    #[serde(default)]
    pub lyric_section: Option<usize>,
    /// Where each sung line falls.
    #[serde(default)]
    pub sung_lines: Vec<MapLine>,
}

/// A sung line of the map.
#[derive(Debug, Clone, Copy, Deserialize)]
pub struct MapLine {
    /// First bar, 0-based from the top of the song.
    pub start_bar: u32,
    /// Bars.
    pub bars: u32,
}

/// One chord change of the map.
#[derive(Debug, Clone, Deserialize)]
pub struct MapChord {
    /// Bar, 0-based.
    pub bar: u32,
    /// Beat, 1-based.
    #[serde(default = "one")]
    pub beat: u32,
    /// `Am`, `F#7`.
    pub symbol: String,
}

fn one() -> u32 {
    1
}

/// Why a map cannot be sung to; `field` names the part of it that is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct GridError {
    /// JSON path inside the map (`sections[2].bars`).
    pub field: String,
    /// What is wrong.
    pub message: String,
}

fn err(field: impl Into<String>, message: impl Into<String>) -> GridError {
    GridError {
        field: field.into(),
        message: message.into(),
    }
}

/// A section of the grid.
#[derive(Debug, Clone, PartialEq)]
pub struct GridSection {
    /// Display name.
    pub name: String,
    /// Kind.
    pub kind: SectionKind,
    /// First bar.
    pub start_bar: u32,
    /// Bars.
    pub bars: u32,
    /// Lines planned (0: unknown).
    pub lines: usize,
    /// The lyric section sung here, when the map says.
    pub lyric_section: Option<usize>,
    /// (first bar, bars) of each sung line, when the map says.
    pub sung_lines: Vec<(u32, u32)>,
}

/// Tempo, metre, key, sections and one chord (as pitch classes) per beat.
#[derive(Debug, Clone)]
pub struct Grid {
    /// Beats a minute.
    pub bpm: f64,
    /// Beats in a bar.
    pub beats_per_bar: u32,
    /// Key.
    pub key: Key,
    /// Sections in order.
    pub sections: Vec<GridSection>,
    /// Chord changes: (beat index from the start, pitch classes), sorted.
    pub chords: Vec<(u32, Vec<u8>)>,
    /// Song length in seconds.
    pub duration_s: f64,
}

impl Grid {
    /// Seconds per beat.
    pub fn beat_s(&self) -> f64 {
        60.0 / self.bpm
    }

    /// Pitch classes sounding at `beat` (the key's tonic triad before the first chord).
    pub fn chord_at(&self, beat: u32) -> Vec<u8> {
        let idx = self.chords.partition_point(|(b, _)| *b <= beat);
        match idx.checked_sub(1) {
            Some(i) => self.chords[i].1.clone(),
            None => {
                let scale = self.scale();
                vec![scale[0], scale[2], scale[4]]
            }
        }
    }

    /// The key's seven pitch classes, tonic first.
    pub fn scale(&self) -> [u8; 7] {
        self.key.scale().map(|step| (self.key.tonic + step) % 12)
    }

    /// The grid of a composed arrangement.
    pub fn from_arrangement(a: &Arrangement) -> Grid {
        let beats_per_bar = u32::from(a.time_signature[0]);
        Grid {
            bpm: f64::from(a.bpm),
            beats_per_bar,
            key: a.key,
            sections: a
                .sections
                .iter()
                .map(|s| GridSection {
                    name: s.name.clone(),
                    kind: s.kind,
                    start_bar: s.start_bar,
                    bars: s.bars,
                    lines: s.lines,
                    lyric_section: s.lyric_section,
                    sung_lines: s
                        .sung_lines
                        .iter()
                        .map(|l: &LinePlan| (l.start_bar, l.bars))
                        .collect(),
                })
                .collect(),
            chords: a
                .chords
                .iter()
                .map(|c| {
                    (
                        c.bar * beats_per_bar + c.beat.saturating_sub(1),
                        c.chord.pitch_classes(a.key),
                    )
                })
                .collect(),
            duration_s: a.duration_s(),
        }
    }

    /// Checks a map and reads it into a grid.
    pub fn from_map(map: &ArrangementMap) -> Result<Grid, GridError> {
        if !(map.bpm.is_finite() && (40.0..=240.0).contains(&map.bpm)) {
            return Err(err("bpm", format!("{} is outside 40–240", map.bpm)));
        }
        let key = Key::parse(&map.key).map_err(|e| err("key", e.to_string()))?;
        let beats_per_bar = match map.time_signature.split_once('/') {
            Some((n, d)) => match (n.trim().parse::<u32>(), d.trim().parse::<u32>()) {
                (Ok(n @ 2..=12), Ok(4 | 8)) => n,
                _ => {
                    return Err(err(
                        "time_signature",
                        format!(
                            "`{}` is not a metre this writer sings (2/4–12/8)",
                            map.time_signature
                        ),
                    ));
                }
            },
            None => {
                return Err(err(
                    "time_signature",
                    format!("`{}` is not `beats/unit`", map.time_signature),
                ));
            }
        };
        if map.sections.is_empty() {
            return Err(err("sections", "the map has no sections"));
        }
        let mut sections = Vec::with_capacity(map.sections.len());
        let mut end = 0;
        for (i, s) in map.sections.iter().enumerate() {
            if s.bars == 0 || s.bars > 512 {
                return Err(err(
                    format!("sections[{i}].bars"),
                    format!("{} is outside 1–512", s.bars),
                ));
            }
            if s.start_bar < end {
                return Err(err(
                    format!("sections[{i}].start_bar"),
                    "sections overlap or are out of order",
                ));
            }
            end = s.start_bar + s.bars;
            let kind = match s.kind {
                Some(k) => k,
                None => kind_from_name(&s.name),
            };
            for (j, l) in s.sung_lines.iter().enumerate() {
                if l.bars == 0 || l.start_bar < s.start_bar || l.start_bar + l.bars > end {
                    return Err(err(
                        format!("sections[{i}].sung_lines[{j}]"),
                        "a sung line must lie inside its section",
                    ));
                }
            }
            sections.push(GridSection {
                name: s.name.clone(),
                kind,
                start_bar: s.start_bar,
                bars: s.bars,
                lines: s.lines,
                lyric_section: s.lyric_section,
                sung_lines: s.sung_lines.iter().map(|l| (l.start_bar, l.bars)).collect(),
            });
        }
        let mut chords = Vec::with_capacity(map.chords.len());
        for (i, c) in map.chords.iter().enumerate() {
            let pcs = symbol_pitch_classes(&c.symbol).ok_or_else(|| {
                err(
                    format!("chords[{i}].symbol"),
                    format!("`{}` is not a chord symbol", c.symbol),
                )
            })?;
            if c.beat == 0 || c.beat > beats_per_bar {
                return Err(err(
                    format!("chords[{i}].beat"),
                    format!("{} is outside 1–{beats_per_bar}", c.beat),
                ));
            }
            chords.push((c.bar * beats_per_bar + c.beat - 1, pcs));
        }
        chords.sort_by_key(|(b, _)| *b);
        let bars_s = f64::from(end) * f64::from(beats_per_bar) * 60.0 / map.bpm;
        let duration_s = map
            .duration
            .filter(|d| d.is_finite() && *d > 0.0)
            .unwrap_or(bars_s)
            .max(bars_s);
        Ok(Grid {
            bpm: map.bpm,
            beats_per_bar,
            key,
            sections,
            chords,
            duration_s,
        })
    }
}

fn kind_from_name(name: &str) -> SectionKind {
    if let Some(kind) = SectionKind::parse(name) {
        return kind;
    }
    let lower = name.to_lowercase();
    let has = |w: &str| lower.contains(w);
    if has("pre") && has("chorus") {
        SectionKind::PreChorus
    } else if has("chorus") || has("hook") || has("refrain") {
        SectionKind::Chorus
    } else if has("bridge") {
        SectionKind::Bridge
    } else if has("intro") {
        SectionKind::Intro
    } else if has("outro") || has("ending") {
        SectionKind::Outro
    } else if has("instrumental") || has("solo") || has("break") {
        SectionKind::Instrumental
    } else {
        SectionKind::Verse
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_map_reads_into_a_grid_and_bad_fields_are_named() {
        let json = r#"{"bpm": 120, "key": "A minor", "time_signature": "4/4", "duration": 20,
            "sections": [{"name": "Intro", "start_bar": 0, "bars": 2},
                         {"name": "Chorus", "kind": "chorus", "start_bar": 2, "bars": 4, "lines": 2}],
            "chords": [{"bar": 0, "beat": 1, "symbol": "Am"}, {"bar": 2, "beat": 1, "symbol": "F"}]}"#;
        let map: ArrangementMap = serde_json::from_str(json).unwrap();
        let grid = Grid::from_map(&map).unwrap();
        assert_eq!(grid.sections[1].kind, SectionKind::Chorus);
        assert_eq!(grid.chord_at(9), vec![5, 9, 0]);
        assert_eq!(grid.chord_at(3), vec![9, 0, 4]);
        let mut bad = map.clone();
        bad.chords[1].symbol = "Q7".into();
        assert_eq!(Grid::from_map(&bad).unwrap_err().field, "chords[1].symbol");
        let mut bad = map;
        bad.sections[1].start_bar = 1;
        assert_eq!(
            Grid::from_map(&bad).unwrap_err().field,
            "sections[1].start_bar"
        );
    }
}
