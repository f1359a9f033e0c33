//! Turns a raw completion into lyric lines: headings, numbering, quotes and chat chatter
//! ("Sure! Here are…") removed, and the completion judged usable or not.

/// Words that mark a line as talk about the song rather than the song.
const CHATTER: &[&str] = &[
    "here is",
    "here are",
    "here's",
    "sure",
    "certainly",
    "i hope",
    "this song",
    "these lyrics",
    "the lyrics",
    "lyrics:",
    "verse:",
    "chorus:",
    "as an ai",
    "let me know",
    "feel free",
    "in this song",
    "the song is",
    "rhyme scheme",
    "syllable",
    "title:",
    "note:",
];

/// The line without its bracketed asides: a small model writes stage directions ("[looks at
/// mirror]", "(trailing off)") that must not be sung. A bracket left open runs to the end.
fn without_asides(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut depth = 0usize;
    for c in line.chars() {
        match c {
            '(' | '[' => depth += 1,
            ')' | ']' if depth > 0 => depth -= 1,
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Strips asides, list markers, quotes and stray punctuation from the start and end of a
/// line.
pub fn tidy_line(line: &str) -> String {
    let line = without_asides(line);
    let mut s = line.trim();
    // Numbering and bullets: "1.", "2)", "-", "*", "•".
    let digits = s.chars().take_while(|c| c.is_ascii_digit()).count();
    if digits > 0 && s[digits..].starts_with(['.', ')', ':']) {
        s = s[digits + 1..].trim_start();
    }
    s = s.trim_start_matches(['-', '*', '•', '>', '#', '~']).trim();
    let mut s = s
        .trim_matches(|c: char| c == '"' || c == '“' || c == '”' || c == '*' || c == '_')
        .trim();
    // Repeat marks: "(2)", "(x2)", "x2".
    if let Some(open) = s.rfind('(') {
        let mark = s[open..]
            .trim_matches(|c| c == '(' || c == ')')
            .trim_start_matches('x');
        if s.ends_with(')') && !mark.is_empty() && mark.chars().all(|c| c.is_ascii_digit()) {
            s = s[..open].trim_end();
        }
    }
    s.trim_end_matches([' ', '.']).trim().to_string()
}

/// Whether a line is a section heading (`Verse 1:`, `[Chorus]`, `(Bridge)`).
pub fn is_heading(line: &str) -> bool {
    let t = line
        .trim()
        .trim_matches(|c: char| matches!(c, '[' | ']' | '(' | ')' | '*' | ':' | '#'))
        .trim();
    if t.is_empty() || t.split_whitespace().count() > 3 {
        return false;
    }
    songforge_song::form::SectionKind::parse(t).is_some()
        || t.to_ascii_lowercase().starts_with("title")
}

/// Whether a line talks about the song instead of being part of it.
pub fn is_chatter(line: &str) -> bool {
    let lower = line.to_lowercase();
    CHATTER.iter().any(|c| lower.contains(c)) || lower.ends_with(':')
}

/// The lyric lines of a completion, in order.
pub fn lyric_lines(completion: &str) -> Vec<String> {
    completion
        .lines()
        .map(tidy_line)
        .filter(|l| !l.is_empty() && !is_heading(l) && !is_chatter(l))
        .filter(|l| l.chars().any(char::is_alphabetic))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chatter_headings_and_markers_are_removed() {
        let raw = "Sure! Here are the lyrics:\n\nVerse 1:\n1. \"Rain on the window\"\n- Dancing in the street\n[Chorus]\nI hope you like it!\n\nWe sing all night";
        assert_eq!(
            lyric_lines(raw),
            [
                "Rain on the window",
                "Dancing in the street",
                "We sing all night"
            ]
        );
    }

    #[test]
    fn ordinary_lines_survive() {
        assert!(!is_heading("Verse of the river runs deep tonight"));
        assert!(!is_chatter("Here we go again tonight"));
        assert_eq!(tidy_line("  2) *Hold on*  "), "Hold on");
        assert_eq!(
            tidy_line("To the earth forever more . (2)"),
            "To the earth forever more"
        );
        assert_eq!(tidy_line("Oh (x2)"), "Oh");
        assert_eq!(
            tidy_line("[looks at mirror] But we both loved the same thing"),
            "But we both loved the same thing"
        );
        assert_eq!(
            tidy_line("It must have been (trailing off)"),
            "It must have been"
        );
        assert_eq!(tidy_line("(the line continues) So what"), "So what");
        assert_eq!(tidy_line("Hold me (and never let"), "Hold me");
        assert_eq!(tidy_line("Wait for me..."), "Wait for me");
    }
}
