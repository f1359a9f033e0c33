//! Song form: which sections, in what order, and which ones repeat word for word.

use serde::Serialize;
use songforge_genre::Genre;

/// A kind of song section.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SectionKind {
    /// A short opening.
    Intro,
    /// Tells the story; new words each time.
    Verse,
    /// Builds toward the chorus; repeats.
    PreChorus,
    /// The refrain; repeats word for word.
    Chorus,
    /// A contrasting passage, once.
    Bridge,
    /// A short catchy refrain; repeats.
    Hook,
    /// A short close.
    Outro,
}

impl SectionKind {
    /// Parses a section name as clients write it (`verse`, `Verse 2`, `pre-chorus`, …).
    pub fn parse(name: &str) -> Option<Self> {
        let lower = name.trim().to_ascii_lowercase();
        let word: String = lower
            .trim_end_matches(|c: char| c.is_ascii_digit() || c.is_whitespace() || c == ':')
            .chars()
            .filter(|c| c.is_ascii_alphabetic())
            .collect();
        Some(match word.as_str() {
            "intro" => Self::Intro,
            "verse" => Self::Verse,
            "prechorus" | "build" | "lift" => Self::PreChorus,
            "chorus" | "refrain" => Self::Chorus,
            "bridge" | "middleeight" => Self::Bridge,
            "hook" => Self::Hook,
            "outro" | "coda" => Self::Outro,
            _ => return None,
        })
    }

    /// The heading word in the seed's format (`Verse 1:`, `Chorus:`).
    pub fn title(self) -> &'static str {
        match self {
            Self::Intro => "Intro",
            Self::Verse => "Verse",
            Self::PreChorus => "Pre-Chorus",
            Self::Chorus => "Chorus",
            Self::Bridge => "Bridge",
            Self::Hook => "Hook",
            Self::Outro => "Outro",
        }
    }

    /// Whether every occurrence is sung with the same words.
    pub fn repeats(self) -> bool {
        matches!(self, Self::Chorus | Self::PreChorus | Self::Hook)
    }

    /// Lines a section of this kind usually has.
    pub fn default_lines(self) -> usize {
        match self {
            Self::Verse | Self::Chorus | Self::Bridge => 4,
            Self::Intro | Self::Outro | Self::PreChorus | Self::Hook => 2,
        }
    }

    /// What the section does, for the writer's brief.
    pub fn purpose(self) -> &'static str {
        match self {
            Self::Intro => "sets the scene in a few words",
            Self::Verse => "tells the story with concrete images",
            Self::PreChorus => "builds tension toward the chorus",
            Self::Chorus => "states the song's main idea in a catchy, singable way",
            Self::Bridge => "brings a new angle or a turn in the story",
            Self::Hook => "is a short catchy phrase to repeat",
            Self::Outro => "closes the song, echoing the main idea",
        }
    }
}

/// One section in the song's order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SectionSlot {
    /// Kind of section.
    pub kind: SectionKind,
    /// Heading without the colon (`Verse 2`, `Chorus`).
    pub name: String,
    /// For a repeat (second chorus, …), the index of the slot whose lines it reuses.
    pub repeat_of: Option<usize>,
}

/// The ordered sections of a song.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Structure {
    slots: Vec<SectionSlot>,
}

impl Structure {
    /// Numbers verses (`Verse 1`, `Verse 2`), and links repeats of choruses, pre-choruses and
    /// hooks to their first occurrence.
    pub fn new(kinds: Vec<SectionKind>) -> Self {
        let verses = kinds.iter().filter(|k| **k == SectionKind::Verse).count();
        let mut verse_no = 0;
        let mut slots: Vec<SectionSlot> = Vec::with_capacity(kinds.len());
        for kind in kinds {
            let name = if kind == SectionKind::Verse && verses > 1 {
                verse_no += 1;
                format!("Verse {verse_no}")
            } else if kind == SectionKind::Verse {
                "Verse 1".to_string()
            } else {
                kind.title().to_string()
            };
            let repeat_of = if kind.repeats() {
                slots
                    .iter()
                    .position(|s| s.kind == kind && s.repeat_of.is_none())
            } else {
                None
            };
            slots.push(SectionSlot {
                kind,
                name,
                repeat_of,
            });
        }
        Self { slots }
    }

    /// The usual form for a genre.
    pub fn default_for(genre: Genre) -> Self {
        use SectionKind::*;
        Self::new(match genre {
            Genre::HipHop => vec![Intro, Verse, Hook, Verse, Hook, Verse, Hook],
            Genre::Ballad | Genre::Folk => vec![Verse, Verse, Chorus, Verse, Chorus, Outro],
            Genre::Jazz => vec![Verse, Chorus, Verse, Bridge, Chorus],
            Genre::LoFi => vec![Verse, Chorus, Verse, Chorus],
            Genre::Electronic => vec![
                Intro, Verse, PreChorus, Chorus, Verse, PreChorus, Chorus, Outro,
            ],
            Genre::Pop | Genre::Rock | Genre::Country | Genre::RnB => {
                vec![Verse, Chorus, Verse, Chorus, Bridge, Chorus]
            }
        })
    }

    /// The sections in order.
    pub fn sections(&self) -> &[SectionSlot] {
        &self.slots
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verses_are_numbered_and_choruses_repeat_the_first() {
        use SectionKind::*;
        let s = Structure::new(vec![Verse, Chorus, Verse, Chorus, Bridge, Chorus]);
        let names: Vec<&str> = s.sections().iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names,
            ["Verse 1", "Chorus", "Verse 2", "Chorus", "Bridge", "Chorus"]
        );
        let repeats: Vec<Option<usize>> = s.sections().iter().map(|s| s.repeat_of).collect();
        assert_eq!(repeats, [None, None, None, Some(1), None, Some(1)]);
    }

    #[test]
    fn section_names_parse_loosely() {
        assert_eq!(SectionKind::parse("Verse 2:"), Some(SectionKind::Verse));
        assert_eq!(
            SectionKind::parse("pre-chorus"),
            Some(SectionKind::PreChorus)
        );
        assert_eq!(
            SectionKind::parse("Pre Chorus"),
            Some(SectionKind::PreChorus)
        );
        assert_eq!(SectionKind::parse("CHORUS"), Some(SectionKind::Chorus));
        assert_eq!(SectionKind::parse("solo"), None);
    }

    #[test]
    fn every_genre_has_a_form_with_a_refrain() {
        for g in Genre::ALL {
            let s = Structure::default_for(g);
            assert!(s.sections().iter().any(|x| x.kind.repeats()), "{g:?}");
            assert!(
                s.sections().iter().any(|x| x.kind == SectionKind::Verse),
                "{g:?}"
            );
        }
    }
}
