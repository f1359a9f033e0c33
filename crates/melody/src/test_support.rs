//! Fixtures the melody tests share: a small dictionary, a C major grid with two verses and
//! two choruses, and lyrics that fit it.

use crate::grid::{ArrangementMap, Grid};
use songforge_prosody::Dictionary;

pub(crate) fn dict() -> Dictionary {
    Dictionary::parse(
        "hello HH AH0 L OW1\nworld W ER1 L D\nsing S IH1 NG\nto T UW1\nme M IY1\nthe DH AH0\nnight N AY1 T\n"
            .to_string(),
    )
    .unwrap()
}

pub(crate) fn grid() -> Grid {
    let map: ArrangementMap = serde_json::from_str(
        r#"{"bpm": 120, "key": "C major", "duration": 40,
            "sections": [{"name": "Intro", "start_bar": 0, "bars": 2},
                         {"name": "Verse 1", "kind": "verse", "start_bar": 2, "bars": 4, "lines": 2},
                         {"name": "Chorus", "kind": "chorus", "start_bar": 6, "bars": 4, "lines": 2},
                         {"name": "Verse 2", "kind": "verse", "start_bar": 10, "bars": 4, "lines": 2},
                         {"name": "Chorus", "kind": "chorus", "start_bar": 14, "bars": 4, "lines": 2}],
            "chords": [{"bar": 0, "symbol": "C"}, {"bar": 1, "symbol": "G"}, {"bar": 2, "symbol": "Am"},
                       {"bar": 3, "symbol": "F"}, {"bar": 6, "symbol": "F"}, {"bar": 7, "symbol": "G"},
                       {"bar": 10, "symbol": "Am"}, {"bar": 14, "symbol": "F"}, {"bar": 15, "symbol": "G"}]}"#,
    )
    .unwrap();
    Grid::from_map(&map).unwrap()
}

pub(crate) const LYRICS: &str = "Verse 1:\nhello world\nsing to me\n\nChorus:\nsing the night\nhello hello\n\nVerse 2:\nto me\nthe world\n\nChorus:\nsing the night\nhello hello";
