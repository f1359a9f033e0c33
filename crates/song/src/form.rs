//! The song's form: section kinds, headings as people write them, and the sections read from
//! lyrics text. A section is sung when it has lyric lines, whatever its heading: an `Intro:`
//! with lines is sung, an intro without lines is instrumental.

use serde::{Deserialize, Serialize};
use songforge_genre::Genre;

/// A kind of song section.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SectionKind {
    /// An opening.
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
    /// A break, solo or drop: instrumental unless the lyrics give it lines.
    Instrumental,
    /// A close.
    Outro,
}

impl SectionKind {
    /// Every kind.
    pub const ALL: [SectionKind; 8] = [
        Self::Intro,
        Self::Verse,
        Self::PreChorus,
        Self::Chorus,
        Self::Bridge,
        Self::Hook,
        Self::Instrumental,
        Self::Outro,
    ];

    /// Parses a section name as people write it: `verse`, `Verse 2:`, `[Chorus]`, `(Hook)`,
    /// `PRE-CHORUS`, `chorus x2`, `middle eight`, `solo`.
    pub fn parse(name: &str) -> Option<Self> {
        heading(name).map(|(kind, _)| kind)
    }

    fn from_word(word: &str) -> Option<Self> {
        Some(match word {
            "intro" => Self::Intro,
            "verse" => Self::Verse,
            "prechorus" | "build" | "lift" => Self::PreChorus,
            "chorus" | "refrain" => Self::Chorus,
            "bridge" | "middle" | "middleeight" => Self::Bridge,
            "hook" => Self::Hook,
            "instrumental" | "interlude" | "solo" | "break" | "breakdown" | "drop" => {
                Self::Instrumental
            }
            "outro" | "coda" | "ending" => Self::Outro,
            _ => return None,
        })
    }

    /// The heading word (`Verse`, `Pre-Chorus`).
    pub fn title(self) -> &'static str {
        match self {
            Self::Intro => "Intro",
            Self::Verse => "Verse",
            Self::PreChorus => "Pre-Chorus",
            Self::Chorus => "Chorus",
            Self::Bridge => "Bridge",
            Self::Hook => "Hook",
            Self::Instrumental => "Instrumental",
            Self::Outro => "Outro",
        }
    }

    /// Whether every occurrence is sung with the same words.
    pub fn repeats(self) -> bool {
        matches!(self, Self::Chorus | Self::PreChorus | Self::Hook)
    }

    /// Whether this is the song's refrain (a chorus or a hook).
    pub fn is_refrain(self) -> bool {
        matches!(self, Self::Chorus | Self::Hook)
    }

    /// Lines a section of this kind usually has.
    pub fn default_lines(self) -> usize {
        match self {
            Self::Verse | Self::Chorus | Self::Bridge => 4,
            Self::Intro | Self::Outro | Self::PreChorus | Self::Hook | Self::Instrumental => 2,
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
            Self::Instrumental => "carries the mood between sung parts",
            Self::Outro => "closes the song, echoing the main idea",
        }
    }

    /// How full the arrangement is here, 0..1.
    pub fn energy(self) -> f32 {
        match self {
            Self::Intro | Self::Outro => 0.5,
            Self::Verse => 0.65,
            Self::PreChorus | Self::Bridge => 0.8,
            Self::Chorus | Self::Hook | Self::Instrumental => 1.0,
        }
    }

    /// Whether the arrangement opens up here: the busier groove, a wider voicing, the pad.
    pub fn lifts(self) -> bool {
        matches!(self, Self::Chorus | Self::Hook | Self::Instrumental)
    }
}

/// Reads a heading (`Verse 1:`, `[Chorus]`, `PRE-CHORUS`, `Bridge (x2)`) into its kind and
/// display name (`Verse 1`, `Chorus`); `None` for a lyric line.
pub fn heading(line: &str) -> Option<(SectionKind, String)> {
    let t = line.trim();
    let t = t
        .strip_prefix('[')
        .and_then(|s| s.strip_suffix(']'))
        .or_else(|| t.strip_prefix('(').and_then(|s| s.strip_suffix(')')))
        .unwrap_or(t);
    let t = t.trim().trim_end_matches(':').trim();
    if t.is_empty() || t.chars().count() > 30 {
        return None;
    }
    let lower = t.to_lowercase();
    // Drop a number or a repeat mark: "verse 2", "chorus x2", "hook (x2)".
    let is_mark = |w: &str| {
        let w = w.trim_matches(|c| c == '(' || c == ')');
        w.chars().all(|c| c.is_ascii_digit())
            || (w.len() > 1 && w.starts_with('x') && w[1..].chars().all(|c| c.is_ascii_digit()))
    };
    let word: String = lower
        .split_whitespace()
        .filter(|w| !is_mark(w))
        .flat_map(str::chars)
        .filter(|c| c.is_alphanumeric())
        .collect();
    let kind = SectionKind::from_word(&word)?;
    // Keep the writer's number: "verse 2" → "Verse 2".
    let number = lower
        .split_whitespace()
        .find(|w| w.chars().all(|c| c.is_ascii_digit()));
    let name = match number {
        Some(n) => format!("{} {n}", kind.title()),
        None => kind.title().to_string(),
    };
    Some((kind, name))
}

/// One section as the lyrics give it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LyricSection {
    /// Display name (`Verse 1`, `Chorus`).
    pub name: String,
    /// Kind.
    pub kind: SectionKind,
    /// Lyric lines; none for an instrumental section.
    pub lines: Vec<String>,
}

impl LyricSection {
    /// Whether a voice sings here: the section has at least one line with a word in it.
    pub fn sung(&self) -> bool {
        self.sung_lines().next().is_some()
    }

    /// The lines that have words to sing, trimmed.
    pub fn sung_lines(&self) -> impl Iterator<Item = &str> {
        self.lines
            .iter()
            .map(|l| l.trim())
            .filter(|l| songforge_prosody::words(l).next().is_some())
    }
}

/// Where the form came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FormSource {
    /// Headings in the lyrics.
    Headings,
    /// Paragraphs of plain text, labelled in the usual order.
    Paragraphs,
    /// A few plain lines: one verse.
    OneVerse,
    /// No words at all: the genre's usual form, instrumental.
    GenreDefault,
}

/// The usual order of sections for paragraphs without headings.
const PARAGRAPH_ORDER: [SectionKind; 6] = [
    SectionKind::Verse,
    SectionKind::Chorus,
    SectionKind::Verse,
    SectionKind::Chorus,
    SectionKind::Bridge,
    SectionKind::Chorus,
];

/// Fewer lines than this without headings are sung as one verse.
const MIN_LINES_FOR_FORM: usize = 8;

/// The sections of `lyrics` in order, and where the form came from. Every stage reads lyrics
/// through this one function.
pub fn read_form(lyrics: &str) -> (Vec<LyricSection>, FormSource) {
    let mut sections: Vec<LyricSection> = Vec::new();
    let mut saw_heading = false;
    for line in lyrics.lines() {
        if let Some((kind, name)) = heading(line) {
            saw_heading = true;
            sections.push(LyricSection {
                name,
                kind,
                lines: Vec::new(),
            });
        } else if !line.trim().is_empty() {
            if sections.is_empty() {
                sections.push(LyricSection {
                    name: String::new(),
                    kind: SectionKind::Verse,
                    lines: Vec::new(),
                });
            }
            if let Some(last) = sections.last_mut() {
                last.lines.push(line.trim().to_string());
            }
        }
    }
    if saw_heading {
        name_sections(&mut sections);
        return (sections, FormSource::Headings);
    }
    let paragraphs: Vec<Vec<String>> = lyrics
        .split("\n\n")
        .map(|p| {
            p.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .filter(|p| !p.is_empty())
        .collect();
    let total: usize = paragraphs.iter().map(Vec::len).sum();
    let has_words = paragraphs
        .iter()
        .flatten()
        .any(|l| songforge_prosody::words(l).next().is_some());
    if !has_words {
        let mut s: Vec<LyricSection> = PARAGRAPH_ORDER
            .iter()
            .map(|&kind| LyricSection {
                name: String::new(),
                kind,
                lines: Vec::new(),
            })
            .collect();
        name_sections(&mut s);
        return (s, FormSource::GenreDefault);
    }
    if total < MIN_LINES_FOR_FORM {
        let lines = paragraphs.into_iter().flatten().collect();
        let s = vec![LyricSection {
            name: "Verse 1".into(),
            kind: SectionKind::Verse,
            lines,
        }];
        return (s, FormSource::OneVerse);
    }
    // One long paragraph: four-line sections.
    let chunks: Vec<Vec<String>> = if paragraphs.len() == 1 {
        paragraphs[0].chunks(4).map(<[String]>::to_vec).collect()
    } else {
        paragraphs
    };
    let mut s: Vec<LyricSection> = chunks
        .into_iter()
        .enumerate()
        .map(|(i, lines)| LyricSection {
            name: String::new(),
            kind: PARAGRAPH_ORDER[i % PARAGRAPH_ORDER.len()],
            lines,
        })
        .collect();
    name_sections(&mut s);
    (s, FormSource::Paragraphs)
}

/// Names unnamed sections: verses numbered in order, the rest by kind.
fn name_sections(sections: &mut [LyricSection]) {
    let mut verses = 0;
    for s in sections.iter_mut() {
        if s.kind == SectionKind::Verse {
            verses += 1;
        }
        if s.name.is_empty() {
            s.name = if s.kind == SectionKind::Verse {
                format!("Verse {verses}")
            } else {
                s.kind.title().to_string()
            };
        }
    }
}

/// Whether a genre's own form leaves a section of this kind to the band: an electronic
/// track builds in and out without the voice (a DJ mixes over its intro and outro).
pub fn band_only(genre: Genre, kind: SectionKind) -> bool {
    genre == Genre::Electronic && matches!(kind, SectionKind::Intro | SectionKind::Outro)
}

/// The usual form of a genre, as section kinds in order.
pub fn genre_form(genre: Genre) -> Vec<SectionKind> {
    use SectionKind::*;
    match genre {
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
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headings_in_every_written_form_are_read() {
        let text =
            "Verse 1:\na\nb\nc\nd\n\nChorus:\ne\nf\n\n[Bridge]\ng\n\nCHORUS x2\ne\nf\n\n(Hook)\nh";
        let (s, src) = read_form(text);
        assert_eq!(src, FormSource::Headings);
        let names: Vec<&str> = s.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["Verse 1", "Chorus", "Bridge", "Chorus", "Hook"]);
        assert_eq!(s[0].lines.len(), 4);
        assert_eq!(s[2].kind, SectionKind::Bridge);
        assert_eq!(s[4].kind, SectionKind::Hook);
        assert_eq!(
            SectionKind::parse("pre-chorus"),
            Some(SectionKind::PreChorus)
        );
        assert_eq!(
            SectionKind::parse("Pre Chorus"),
            Some(SectionKind::PreChorus)
        );
        assert_eq!(SectionKind::parse("Middle 8"), Some(SectionKind::Bridge));
        assert_eq!(SectionKind::parse("solo"), Some(SectionKind::Instrumental));
        assert_eq!(SectionKind::parse("I chorus my love to you"), None);
    }

    #[test]
    fn a_section_with_lines_is_sung_whatever_its_heading() {
        let (s, _) = read_form("Intro:\nHere we go tonight\n\nVerse 1:\nla la la\n\nOutro:\n");
        assert!(s[0].sung(), "an intro with a line is sung");
        assert!(s[1].sung());
        assert!(!s[2].sung(), "an outro without lines is instrumental");
        let (s, _) = read_form("Intro:\n...\n\nVerse:\nsing it");
        assert!(!s[0].sung(), "punctuation alone is not sung");
    }

    #[test]
    fn plain_text_becomes_paragraph_sections_or_one_verse() {
        let para = "l1 a\nl2 b\nl3 c\nl4 d";
        let (s, src) = read_form(&[para; 3].join("\n\n"));
        assert_eq!(src, FormSource::Paragraphs);
        let kinds: Vec<SectionKind> = s.iter().map(|s| s.kind).collect();
        assert_eq!(
            kinds,
            [SectionKind::Verse, SectionKind::Chorus, SectionKind::Verse]
        );
        assert_eq!(s[2].name, "Verse 2");
        let (s, src) = read_form("Song lyrics\nthat are short");
        assert_eq!(src, FormSource::OneVerse);
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].lines.len(), 2);
        let (s, src) = read_form("   ");
        assert_eq!(src, FormSource::GenreDefault);
        assert!(s.iter().all(|s| !s.sung()));
    }

    #[test]
    fn every_genre_form_has_a_verse_and_a_refrain() {
        for g in Genre::ALL {
            let f = genre_form(g);
            assert!(f.iter().any(|k| k.is_refrain()), "{g:?}");
            assert!(f.contains(&SectionKind::Verse), "{g:?}");
        }
    }
}
