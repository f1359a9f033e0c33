//! Fixtures the compose tests share: an empty dictionary (every word one syllable), a plan,
//! and lyrics with verses, choruses and a bridge.

use super::Plan;
use songforge_genre::Genre;
use songforge_prosody::Dictionary;

pub(super) fn dict() -> Dictionary {
    Dictionary::parse(String::new()).unwrap()
}

pub(super) fn plan(genre: Genre, seed: u64) -> Plan {
    Plan {
        genre,
        bpm: None,
        key: None,
        duration_s: None,
        seed,
    }
}

pub(super) const LYRICS: &str = "Verse 1:\na\nb\nc\nd\n\nChorus:\ne\nf\ng\nh\n\nVerse 2:\ni\nj\nk\nl\n\nChorus:\ne\nf\ng\nh\n\nBridge:\nm\nn\n\nChorus:\ne\nf\ng\nh";
