//! Judges candidate sections the way a songwriter would: do the line ends rhyme, do the
//! lines scan evenly at the genre's length, do they stay on the theme, and do they avoid
//! repeating themselves or earlier sections.

use crate::style::LyricStyle;
use songforge_prosody::Dictionary;

/// Words too common to count as the theme.
const STOPWORDS: &[&str] = &[
    "about", "after", "again", "along", "also", "because", "been", "before", "being", "between",
    "could", "does", "doing", "down", "each", "from", "have", "having", "here", "into", "just",
    "like", "make", "more", "most", "only", "other", "over", "same", "should", "some", "song",
    "such", "than", "that", "their", "them", "then", "there", "these", "they", "this", "those",
    "through", "very", "want", "were", "what", "when", "where", "which", "while", "will", "with",
    "would", "your", "yours", "write", "lyrics", "genre", "called", "makes", "feel", "feeling",
];

/// A section's score and its parts, each in 0..=1.
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize)]
pub struct Score {
    /// Weighted total.
    pub total: f32,
    /// How well line ends rhyme in the best of the usual schemes (AABB, ABAB, XAXA).
    pub rhyme: f32,
    /// Lines at a comfortable, even length.
    pub metre: f32,
    /// Theme words present.
    pub theme: f32,
    /// Freedom from repetition (1: none).
    pub freshness: f32,
}

/// Scores sections against one request's theme.
pub struct Scorer<'a> {
    dict: &'a Dictionary,
    style: LyricStyle,
    theme_stems: Vec<String>,
    rhymes_count: bool,
}

/// A word reduced to a crude stem for theme matching ("raining" ~ "rain").
fn stem(word: &str) -> String {
    let w: String = word
        .chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect();
    let cut = ["ing", "ed", "es", "s", "ly", "y"]
        .iter()
        .find(|s| w.len() > s.len() + 3 && w.ends_with(*s))
        .map_or(w.len(), |s| w.len() - s.len());
    w[..cut].to_string()
}

/// Content words of a text, stemmed.
pub fn content_stems(text: &str) -> Vec<String> {
    let mut out: Vec<String> = text
        .split(|c: char| !c.is_alphanumeric() && c != '\'')
        .filter(|w| w.chars().count() >= 4)
        .filter(|w| !STOPWORDS.contains(&w.to_lowercase().as_str()))
        .map(stem)
        .collect();
    out.sort();
    out.dedup();
    out
}

impl<'a> Scorer<'a> {
    /// A scorer for a theme (plus mood words); `rhymes_count` is false for languages the
    /// English dictionary cannot judge.
    pub fn new(dict: &'a Dictionary, style: LyricStyle, theme: &str, rhymes_count: bool) -> Self {
        Self {
            dict,
            style,
            theme_stems: content_stems(theme),
            rhymes_count,
        }
    }

    fn pair(&self, a: &str, b: &str) -> f32 {
        match (
            songforge_prosody::last_word(a),
            songforge_prosody::last_word(b),
        ) {
            (Some(x), Some(y)) => self.dict.rhyme(x, y).score(),
            _ => 0.0,
        }
    }

    /// Rhyme of the line ends under the best common scheme.
    pub fn rhyme(&self, lines: &[String]) -> f32 {
        let n = lines.len();
        if n < 2 {
            return 0.0;
        }
        let mean = |pairs: &[(usize, usize)]| {
            let valid: Vec<&(usize, usize)> =
                pairs.iter().filter(|(a, b)| *a < n && *b < n).collect();
            if valid.is_empty() {
                return 0.0;
            }
            valid
                .iter()
                .map(|(a, b)| self.pair(&lines[*a], &lines[*b]))
                .sum::<f32>()
                / valid.len() as f32
        };
        let couplets: Vec<(usize, usize)> = (0..n - 1).step_by(2).map(|i| (i, i + 1)).collect();
        let alternate: Vec<(usize, usize)> = (0..n.saturating_sub(2))
            .filter(|i| i % 4 < 2)
            .map(|i| (i, i + 2))
            .collect();
        let even_lines: Vec<(usize, usize)> = (1..n.saturating_sub(2))
            .step_by(4)
            .map(|i| (i, i + 2))
            .collect();
        [mean(&couplets), mean(&alternate), mean(&even_lines) * 0.8]
            .into_iter()
            .fold(0.0, f32::max)
    }

    /// Even, comfortable line lengths.
    pub fn metre(&self, lines: &[String]) -> f32 {
        if lines.is_empty() {
            return 0.0;
        }
        let counts: Vec<f32> = lines
            .iter()
            .map(|l| self.dict.line_syllables(l) as f32)
            .collect();
        let (lo, hi) = (self.style.syllables.0 as f32, self.style.syllables.1 as f32);
        let in_range =
            counts.iter().filter(|c| **c >= lo && **c <= hi).count() as f32 / counts.len() as f32;
        let mean = counts.iter().sum::<f32>() / counts.len() as f32;
        let var = counts.iter().map(|c| (c - mean).powi(2)).sum::<f32>() / counts.len() as f32;
        let evenness = 1.0 - (var.sqrt() / mean.max(1.0)).min(1.0);
        0.6 * in_range + 0.4 * evenness
    }

    /// Theme words present: two distinct hits count as fully on theme.
    pub fn theme(&self, lines: &[String]) -> f32 {
        if self.theme_stems.is_empty() {
            return 1.0;
        }
        let stems = content_stems(&lines.join(" "));
        let hits = self
            .theme_stems
            .iter()
            .filter(|t| stems.iter().any(|s| s == *t))
            .count();
        (hits as f32 / 2.0).min(1.0)
    }

    /// 1 minus penalties for lines that repeat earlier sections or each other, and for words
    /// stuttered within a line.
    pub fn freshness(&self, lines: &[String], earlier: &[String]) -> f32 {
        let norm = |l: &str| -> String {
            l.chars()
                .filter(|c| c.is_alphanumeric() || c.is_whitespace())
                .flat_map(char::to_lowercase)
                .collect::<String>()
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
        };
        let mut penalty = 0.0f32;
        let seen: Vec<String> = earlier.iter().map(|l| norm(l)).collect();
        for (i, line) in lines.iter().enumerate() {
            let n = norm(line);
            if seen.contains(&n) || lines[..i].iter().any(|l| norm(l) == n) {
                penalty += 0.5;
            }
            let words: Vec<&str> = n.split_whitespace().collect();
            let most = words
                .iter()
                .map(|w| words.iter().filter(|x| *x == w).count())
                .max()
                .unwrap_or(0);
            if most >= 3 {
                penalty += 0.3;
            }
        }
        (1.0 - penalty).max(0.0)
    }

    /// The weighted total.
    pub fn score(&self, lines: &[String], earlier: &[String]) -> Score {
        let rhyme = if self.rhymes_count {
            self.rhyme(lines)
        } else {
            0.0
        };
        let metre = self.metre(lines);
        let theme = self.theme(lines);
        let freshness = self.freshness(lines, earlier);
        let total = if self.rhymes_count {
            0.4 * rhyme + 0.25 * metre + 0.2 * theme + 0.15 * freshness
        } else {
            0.45 * metre + 0.3 * theme + 0.25 * freshness
        };
        Score {
            total,
            rhyme,
            metre,
            theme,
            freshness,
        }
    }

    /// Whether a line says nearly the same as one of `earlier` (most of its words shared):
    /// small models like to copy the previous section, which a verse must not do.
    pub fn echoes(&self, line: &str, earlier: &[String]) -> bool {
        let set = |l: &str| -> Vec<String> {
            let mut w: Vec<String> = songforge_prosody::words(l)
                .map(songforge_prosody::normalize_word)
                .filter(|w| !w.is_empty())
                .collect();
            w.sort();
            w.dedup();
            w
        };
        let a = set(line);
        if a.is_empty() {
            return false;
        }
        earlier.iter().any(|e| {
            let b = set(e);
            let shared = a.iter().filter(|w| b.contains(w)).count();
            let union = a.len() + b.len() - shared;
            union > 0 && shared as f32 / union as f32 >= 0.6
        })
    }

    /// Breaks lines too long to sing at their commas, semicolons, dashes and sentence ends
    /// into lines of a singable length (a small model writes prose-length lines whose
    /// clauses are often good lyric lines); pieces too short to stand alone are dropped.
    pub fn fit_lines(&self, lines: Vec<String>) -> Vec<String> {
        let (lo, hi) = self.style.syllables;
        let mut out = Vec::new();
        for line in lines {
            if !self.too_long(&line) {
                out.push(line);
                continue;
            }
            let mut pieces = Vec::new();
            let mut current = String::new();
            let clauses = line
                .split_inclusive([',', ';', '.', '!', '?', '…', '—', ':'])
                .flat_map(|p| p.split_inclusive(" - "));
            for clause in clauses {
                let joined = format!("{current}{clause}");
                if !current.is_empty() && self.dict.line_syllables(&joined) > hi {
                    pieces.push(std::mem::replace(
                        &mut current,
                        clause.trim_start().to_string(),
                    ));
                } else {
                    current = joined;
                }
            }
            pieces.push(current);
            out.extend(
                pieces
                    .iter()
                    .map(|p| {
                        let p = p
                            .trim()
                            .trim_end_matches([',', ';', ':', '-', '—', '.', '…', ' '])
                            .trim_start_matches(['-', '—', '.', '…', ' ']);
                        // A clause that starts a line starts with a capital.
                        let mut chars = p.chars();
                        chars
                            .next()
                            .map(|c| c.to_uppercase().chain(chars).collect::<String>())
                            .unwrap_or_default()
                    })
                    .filter(|p| {
                        self.dict.line_syllables(p) >= lo.saturating_sub(2).max(3)
                            && !self.too_long(p)
                    }),
            );
        }
        out
    }

    /// Whether a line is too long to sing as one line of this genre.
    pub fn too_long(&self, line: &str) -> bool {
        self.dict.line_syllables(line) > self.style.syllables.1 + self.style.syllables.1 / 2
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::style::style_for;
    use songforge_genre::Genre;

    fn lines(text: &str) -> Vec<String> {
        text.lines().map(str::to_string).collect()
    }

    #[test]
    fn rhyming_even_on_theme_lines_beat_the_rest() {
        let dict = Dictionary::parse(
            "rain R EY1 N\npane P EY1 N\nnight N AY1 T\nlight L AY1 T\ncar K AA1 R\ncold K OW1 L D\n".into(),
        )
        .unwrap();
        let s = Scorer::new(&dict, style_for(Genre::Pop), "summer rain at night", true);
        let good = lines(
            "I hear the summer rain\nAgainst the window pane\nIt falls all through the night\nUntil the morning light",
        );
        let bad = lines(
            "A car\nMy coffee is very cold and I do not know what to do about it today\nYes\nThe bus",
        );
        let (g, b) = (s.score(&good, &[]), s.score(&bad, &[]));
        assert!(g.rhyme > 0.9 && b.rhyme < 0.1, "{g:?} {b:?}");
        assert!(g.metre > b.metre && g.theme > b.theme && g.total > b.total + 0.4);
        // ABAB is recognised too.
        let abab = lines(
            "I hear the summer rain\nIt falls all through the night\nAgainst the window pane\nUntil the morning light",
        );
        assert!(s.rhyme(&abab) > 0.9);
    }

    #[test]
    fn repetition_is_penalised() {
        let dict = Dictionary::parse(String::new()).unwrap();
        let s = Scorer::new(&dict, style_for(Genre::Pop), "rain", true);
        let earlier = lines("Walking in the rain");
        assert!(s.freshness(&lines("Walking in the rain!\nSomething new"), &earlier) < 0.6);
        assert!(s.freshness(&lines("Oh oh oh oh\nSomething new"), &[]) < 0.8);
        assert_eq!(
            s.freshness(&lines("Something new\nSomething blue"), &earlier),
            1.0
        );
    }

    #[test]
    fn echoes_of_earlier_lines_are_caught() {
        let dict = Dictionary::parse(String::new()).unwrap();
        let s = Scorer::new(&dict, style_for(Genre::Pop), "rain", true);
        let earlier = lines("As I sit down on the couch, sipping on a warm summer night");
        assert!(s.echoes(
            "As I sit on my couch, sipping on a warm summer night,",
            &earlier
        ));
        assert!(!s.echoes("The river carries every word I said", &earlier));
    }

    #[test]
    fn prose_lines_are_broken_at_clauses() {
        let dict = Dictionary::parse(String::new()).unwrap();
        let s = Scorer::new(&dict, style_for(Genre::Pop), "rain", true);
        let fitted = s.fit_lines(lines(
            "She walked into my backyard, the morning air was electric, filled with memories of laughter\nShort line here today",
        ));
        assert_eq!(
            fitted,
            [
                "She walked into my backyard",
                "The morning air was electric",
                "Filled with memories of laughter",
                "Short line here today"
            ]
        );
    }

    #[test]
    fn theme_words_are_stemmed() {
        assert_eq!(content_stems("Raining nights"), ["night", "rain"]);
    }
}
