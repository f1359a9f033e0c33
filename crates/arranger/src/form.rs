//! The song's form: sections read from the lyrics (the headings the lyrics endpoint writes,
//! `Verse 1:`, `[Chorus]`…, or paragraphs of plain text), bars per section, intro and outro.

use serde::Serialize;

/// What a section does in the song; decides its chords, energy and how busy the parts are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SectionKind {
    /// Instrumental opening.
    Intro,
    /// Verse.
    Verse,
    /// Pre-chorus (build-up).
    PreChorus,
    /// Chorus / hook / refrain.
    Chorus,
    /// Bridge / middle eight.
    Bridge,
    /// Instrumental break, solo, drop.
    Instrumental,
    /// Ending.
    Outro,
}

impl SectionKind {
    /// How full the arrangement is, 0..1.
    pub fn energy(self) -> f32 {
        match self {
            SectionKind::Intro | SectionKind::Outro => 0.5,
            SectionKind::Verse => 0.65,
            SectionKind::PreChorus | SectionKind::Bridge => 0.8,
            SectionKind::Chorus | SectionKind::Instrumental => 1.0,
        }
    }

    /// Whether the arrangement opens up here: the busier groove, a wider voicing, the pad.
    pub fn lifts(self) -> bool {
        matches!(self, SectionKind::Chorus | SectionKind::Instrumental)
    }

    /// Whether a vocal sings here (the counter-melody leaves room when it does).
    pub fn sung(self) -> bool {
        !matches!(
            self,
            SectionKind::Intro | SectionKind::Outro | SectionKind::Instrumental
        )
    }

    fn from_heading(word: &str) -> Option<SectionKind> {
        Some(match word {
            "intro" => SectionKind::Intro,
            "verse" => SectionKind::Verse,
            "pre-chorus" | "prechorus" | "pre chorus" | "build" => SectionKind::PreChorus,
            "chorus" | "hook" | "refrain" => SectionKind::Chorus,
            "bridge" | "middle 8" | "middle eight" => SectionKind::Bridge,
            "instrumental" | "interlude" | "solo" | "break" | "breakdown" | "drop" => {
                SectionKind::Instrumental
            }
            "outro" | "coda" | "ending" => SectionKind::Outro,
            _ => return None,
        })
    }

    fn title(self) -> &'static str {
        match self {
            SectionKind::Intro => "Intro",
            SectionKind::Verse => "Verse",
            SectionKind::PreChorus => "Pre-Chorus",
            SectionKind::Chorus => "Chorus",
            SectionKind::Bridge => "Bridge",
            SectionKind::Instrumental => "Instrumental",
            SectionKind::Outro => "Outro",
        }
    }
}

/// One section as the lyrics give it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LyricSection {
    /// Display name (`Verse 1`, `Chorus`).
    pub name: String,
    /// Kind.
    pub kind: SectionKind,
    /// Sung lines.
    pub lines: Vec<String>,
}

/// Where the form came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FormSource {
    /// Headings in the lyrics.
    Headings,
    /// Paragraphs of plain text, labelled in the genre's usual order.
    Paragraphs,
    /// Too little text to shape a song: the genre's default structure.
    GenreDefault,
}

/// Reads a heading line (`Verse 1:`, `[Chorus]`, `PRE-CHORUS`, `Bridge (x2)`); `None` for a lyric.
fn heading(line: &str) -> Option<(SectionKind, String)> {
    let t = line.trim();
    let t = t
        .strip_prefix('[')
        .and_then(|s| s.strip_suffix(']'))
        .or_else(|| t.strip_prefix('(').and_then(|s| s.strip_suffix(')')))
        .unwrap_or(t);
    let t = t.trim().trim_end_matches(':').trim();
    if t.is_empty() || t.len() > 30 {
        return None;
    }
    let lower = t.to_lowercase();
    // Drop a trailing number or repeat mark: "verse 2", "chorus x2", "hook (x2)".
    let words: Vec<&str> = lower
        .split_whitespace()
        .filter(|w| {
            let w = w.trim_matches(|c| c == '(' || c == ')');
            !(w.chars().all(|c| c.is_ascii_digit())
                || w.starts_with('x') && w[1..].chars().all(|c| c.is_ascii_digit()) && w.len() > 1)
        })
        .collect();
    let kind = SectionKind::from_heading(&words.join(" "))?;
    // Keep the user's number, normalise the word: "verse 2" → "Verse 2".
    let number = lower
        .split_whitespace()
        .find(|w| !w.is_empty() && w.chars().all(|c| c.is_ascii_digit()));
    let name = match number {
        Some(n) => format!("{} {n}", kind.title()),
        None => kind.title().to_string(),
    };
    Some((kind, name))
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

/// Fewer sung lines than this without headings: the genre's default form is used.
const MIN_LINES_FOR_FORM: usize = 8;

/// Sections of `lyrics`, and where the form came from.
pub fn read_sections(lyrics: &str) -> (Vec<LyricSection>, FormSource) {
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
        number_sections(&mut sections);
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
    if total < MIN_LINES_FOR_FORM {
        let mut s = default_form();
        number_sections(&mut s);
        return (s, FormSource::GenreDefault);
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
    number_sections(&mut s);
    (s, FormSource::Paragraphs)
}

/// Verse, chorus, verse, chorus, bridge, chorus with four lines each, as placeholders.
fn default_form() -> Vec<LyricSection> {
    PARAGRAPH_ORDER
        .iter()
        .map(|&kind| LyricSection {
            name: String::new(),
            kind,
            lines: vec![String::new(); 4],
        })
        .collect()
}

/// Names unnamed sections: verses numbered in order, the rest by kind.
fn number_sections(sections: &mut [LyricSection]) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headings_in_the_lyrics_endpoint_format_are_read() {
        let text = "Verse 1:\na\nb\nc\nd\n\nChorus:\ne\nf\n\n[Bridge]\ng\n\nCHORUS x2\ne\nf";
        let (s, src) = read_sections(text);
        assert_eq!(src, FormSource::Headings);
        let names: Vec<&str> = s.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["Verse 1", "Chorus", "Bridge", "Chorus"]);
        assert_eq!(s[0].lines.len(), 4);
        assert_eq!(s[2].kind, SectionKind::Bridge);
    }

    #[test]
    fn paragraphs_follow_the_usual_order_and_short_text_gets_the_default_form() {
        let para = "l1\nl2\nl3\nl4";
        let text = [para; 3].join("\n\n");
        let (s, src) = read_sections(&text);
        assert_eq!(src, FormSource::Paragraphs);
        let kinds: Vec<SectionKind> = s.iter().map(|s| s.kind).collect();
        assert_eq!(
            kinds,
            [SectionKind::Verse, SectionKind::Chorus, SectionKind::Verse]
        );
        assert_eq!(s[2].name, "Verse 2");
        let (s, src) = read_sections("Song lyrics");
        assert_eq!(src, FormSource::GenreDefault);
        assert_eq!(s.len(), 6);
    }

    #[test]
    fn a_lyric_line_is_not_taken_for_a_heading() {
        assert!(heading("I chorus my love to you").is_none());
        assert!(heading("Verse 2:").is_some());
        assert!(heading("(Hook)").is_some());
    }
}
