//! Pronunciation knowledge for songwriting and singing, from the CMU Pronouncing Dictionary
//! (`word  P1 P2 …`, ARPAbet phones, vowels carrying stress 0/1/2, alternates as `word(2)`),
//! with letter-to-sound rules for words it lacks: syllables, stress and rhyme.
//!
//! The dictionary keeps its text and a sorted index of byte ranges instead of a map of
//! strings, because components parse it per request: 135k entries index in milliseconds.

#![forbid(unsafe_code)]

mod guess;

use std::path::Path;

/// Where every component's manifest entry mounts CMUdict (`models/store/cmudict`).
pub const MOUNTED_CMUDICT: &str = "/cmudict/cmudict.dict";

/// The 39 ARPAbet phones CMUdict uses.
const PHONES: &[&str] = &[
    "AA", "AE", "AH", "AO", "AW", "AY", "B", "CH", "D", "DH", "EH", "ER", "EY", "F", "G", "HH",
    "IH", "IY", "JH", "K", "L", "M", "N", "NG", "OW", "OY", "P", "R", "S", "SH", "T", "TH", "UH",
    "UW", "V", "W", "Y", "Z", "ZH",
];

/// Why dictionary text could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ProsodyError {
    /// A line is not `word PHONES…`.
    #[error("line {line}: {reason}")]
    Malformed {
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// The file could not be read.
    #[error("{path}: {reason}")]
    Read {
        /// The path.
        path: String,
        /// The I/O error.
        reason: String,
    },
}

/// Vowel stress.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stress {
    /// 0.
    Unstressed,
    /// 1.
    Primary,
    /// 2.
    Secondary,
}

/// One phone: an ARPAbet symbol, with stress when it is a vowel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Phone {
    symbol: &'static str,
    /// Stress of a vowel; `None` for consonants.
    pub stress: Option<Stress>,
}

impl Phone {
    /// Parses `AH0`, `K`, …; `None` for a symbol CMUdict does not use.
    pub fn parse(text: &str) -> Option<Self> {
        let (base, stress) = match text.as_bytes().last() {
            Some(b'0') => (&text[..text.len() - 1], Some(Stress::Unstressed)),
            Some(b'1') => (&text[..text.len() - 1], Some(Stress::Primary)),
            Some(b'2') => (&text[..text.len() - 1], Some(Stress::Secondary)),
            _ => (text, None),
        };
        let symbol = PHONES.iter().find(|p| **p == base)?;
        let vowel = is_vowel_symbol(symbol);
        match (vowel, stress) {
            (true, None) => Some(Self {
                symbol,
                stress: Some(Stress::Unstressed),
            }),
            (false, Some(_)) => None,
            _ => Some(Self { symbol, stress }),
        }
    }

    /// The ARPAbet symbol without stress.
    pub fn as_str(&self) -> &'static str {
        self.symbol
    }

    /// Whether it is a vowel (a syllable nucleus).
    pub fn is_vowel(&self) -> bool {
        is_vowel_symbol(self.symbol)
    }
}

fn is_vowel_symbol(s: &str) -> bool {
    matches!(s.as_bytes().first(), Some(b'A' | b'E' | b'I' | b'O' | b'U'))
}

/// One way to say a word.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Pronunciation {
    /// The phones in order.
    pub phones: Vec<Phone>,
}

/// One syllable: consonants before the vowel, the vowel, consonants after.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Syllable {
    /// Leading consonants.
    pub onset: Vec<Phone>,
    /// The vowel.
    pub nucleus: Phone,
    /// Trailing consonants.
    pub coda: Vec<Phone>,
}

impl Syllable {
    /// The vowel's stress.
    pub fn stress(&self) -> Stress {
        self.nucleus.stress.unwrap_or(Stress::Unstressed)
    }
}

/// Consonant clusters English allows at the start of a syllable (beyond single consonants).
const ONSETS: &[&[&str]] = &[
    &["P", "L"],
    &["P", "R"],
    &["B", "L"],
    &["B", "R"],
    &["T", "R"],
    &["D", "R"],
    &["K", "L"],
    &["K", "R"],
    &["G", "L"],
    &["G", "R"],
    &["F", "L"],
    &["F", "R"],
    &["TH", "R"],
    &["SH", "R"],
    &["S", "L"],
    &["S", "M"],
    &["S", "N"],
    &["S", "P"],
    &["S", "T"],
    &["S", "K"],
    &["S", "W"],
    &["T", "W"],
    &["D", "W"],
    &["K", "W"],
    &["G", "W"],
    &["P", "Y"],
    &["B", "Y"],
    &["K", "Y"],
    &["F", "Y"],
    &["M", "Y"],
    &["HH", "Y"],
    &["S", "P", "L"],
    &["S", "P", "R"],
    &["S", "T", "R"],
    &["S", "K", "R"],
    &["S", "K", "W"],
    &["S", "K", "Y"],
];

fn legal_onset(cluster: &[Phone]) -> bool {
    match cluster.len() {
        0 => true,
        1 => cluster[0].symbol != "NG",
        _ => ONSETS.iter().any(|o| {
            o.len() == cluster.len() && o.iter().zip(cluster).all(|(a, b)| *a == b.symbol)
        }),
    }
}

impl Pronunciation {
    /// Parses space-separated ARPAbet.
    pub fn parse(text: &str) -> Option<Self> {
        let phones = text
            .split_whitespace()
            .map(Phone::parse)
            .collect::<Option<Vec<_>>>()?;
        (!phones.is_empty()).then_some(Self { phones })
    }

    /// Syllables by maximal onset: between two vowels, the longest legal onset goes right.
    pub fn syllables(&self) -> Vec<Syllable> {
        let vowels: Vec<usize> = (0..self.phones.len())
            .filter(|&i| self.phones[i].is_vowel())
            .collect();
        let mut out = Vec::with_capacity(vowels.len());
        let mut start = 0;
        for (n, &v) in vowels.iter().enumerate() {
            let end = match vowels.get(n + 1) {
                Some(&next) => {
                    let between = &self.phones[v + 1..next];
                    let split = (0..=between.len())
                        .find(|&k| legal_onset(&between[k..]))
                        .unwrap_or(between.len());
                    v + 1 + split
                }
                None => self.phones.len(),
            };
            out.push(Syllable {
                onset: self.phones[start..v].to_vec(),
                nucleus: self.phones[v],
                coda: self.phones[v + 1..end].to_vec(),
            });
            start = end;
        }
        out
    }

    /// Number of syllables (vowels).
    pub fn syllable_count(&self) -> usize {
        self.phones.iter().filter(|p| p.is_vowel()).count()
    }

    /// Stress of each syllable.
    pub fn stress_pattern(&self) -> Vec<Stress> {
        self.phones
            .iter()
            .filter(|p| p.is_vowel())
            .map(|p| p.stress.unwrap_or(Stress::Unstressed))
            .collect()
    }

    /// Phone symbols from the last stressed vowel (primary, else secondary, else the last
    /// vowel) to the end: what must match for a perfect rhyme.
    pub fn rhyme_tail(&self) -> Vec<&'static str> {
        let find = |s: Stress| self.phones.iter().rposition(|p| p.stress == Some(s));
        let at = find(Stress::Primary)
            .or_else(|| find(Stress::Secondary))
            .or_else(|| self.phones.iter().rposition(Phone::is_vowel))
            .unwrap_or(0);
        self.phones[at..].iter().map(Phone::as_str).collect()
    }
}

/// How two words rhyme, weakest last.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rhyme {
    /// Same rhyme tail, different words (rain / pain).
    Perfect,
    /// Same stressed vowel, or an open final vowel, or codas of one consonant class
    /// (time / line, home / alone).
    Slant,
    /// The same word: rhymes trivially, weak in a lyric.
    Identical,
    /// No rhyme.
    None,
}

impl Rhyme {
    /// Strength for scoring, 0..=1.
    pub fn score(self) -> f32 {
        match self {
            Self::Perfect => 1.0,
            Self::Slant => 0.55,
            Self::Identical => 0.3,
            Self::None => 0.0,
        }
    }
}

/// Consonant classes whose members make slant rhymes with each other.
fn consonant_class(symbol: &str) -> u8 {
    match symbol {
        "M" | "N" | "NG" => 1,
        "P" | "B" => 2,
        "T" | "D" => 3,
        "K" | "G" => 4,
        "F" | "V" | "TH" | "DH" => 5,
        "S" | "Z" | "SH" | "ZH" | "CH" | "JH" => 6,
        "L" | "R" => 7,
        _ => 0,
    }
}

fn slant(a: &[&str], b: &[&str]) -> bool {
    let (Some(va), Some(vb)) = (a.first(), b.first()) else {
        return false;
    };
    if va != vb {
        return false;
    }
    let (ca, cb) = (&a[1..], &b[1..]);
    if ca.is_empty() || cb.is_empty() {
        return ca.len() + cb.len() <= 1 || ca == cb;
    }
    let class = |c: &[&str]| c.last().map(|s| consonant_class(s)).unwrap_or(0);
    class(ca) != 0 && class(ca) == class(cb)
}

/// Lowercase word with surrounding punctuation removed and curly apostrophes made straight.
pub fn normalize_word(word: &str) -> String {
    word.trim_matches(|c: char| !c.is_alphanumeric() && c != '\'' && c != '’')
        .trim_matches(|c| c == '\'' || c == '’')
        .replace('’', "'")
        .to_lowercase()
}

/// The words of a lyric line, split on whitespace and dashes, apostrophes kept.
pub fn words(line: &str) -> impl Iterator<Item = &str> {
    line.split(|c: char| c.is_whitespace() || c == '-' || c == '—' || c == '–')
        .filter(|w| w.chars().any(char::is_alphanumeric))
}

/// The last word of a line, ignoring trailing punctuation and parenthetical ad-libs like
/// `(oh)`; the word keeps its own punctuation (callers compare with [`normalize_word`]).
pub fn last_word(line: &str) -> Option<&str> {
    let mut line = line.trim_end();
    loop {
        let stripped = line.trim_end_matches(|c: char| c.is_ascii_punctuation() && c != ')');
        match stripped
            .strip_suffix(')')
            .and_then(|rest| rest.rfind('(').map(|o| &rest[..o]))
        {
            Some(before) if !before.trim().is_empty() => line = before.trim_end(),
            _ => break,
        }
    }
    words(line).last()
}

/// A parsed CMUdict.
pub struct Dictionary {
    text: String,
    /// (word start, word end, phones start, phones end), sorted by word.
    index: Vec<(u32, u32, u32, u32)>,
}

impl Dictionary {
    /// Indexes dictionary text; `;;;` comment lines and blank lines are skipped.
    pub fn parse(text: String) -> Result<Self, ProsodyError> {
        let mut index = Vec::with_capacity(text.len() / 26);
        let mut offset = 0usize;
        for (n, raw) in text.split_inclusive('\n').enumerate() {
            let start = offset;
            offset += raw.len();
            let line = raw.split('#').next().unwrap_or("").trim_end();
            if line.trim().is_empty() || line.starts_with(";;;") {
                continue;
            }
            let malformed = |reason: String| ProsodyError::Malformed {
                line: n + 1,
                reason,
            };
            let word_len = line
                .find(char::is_whitespace)
                .filter(|&at| at > 0)
                .ok_or_else(|| malformed("expected `word PHONES…`".to_string()))?;
            let rest = &line[word_len..];
            let phones_start = start + word_len + (rest.len() - rest.trim_start().len());
            let phones = rest.trim();
            if let Some(bad) = phones
                .split_whitespace()
                .find(|p| Phone::parse(p).is_none())
            {
                return Err(malformed(format!("unknown phone {bad:?}")));
            }
            let mut word_end = start + word_len;
            // `word(2)`: index the alternate under the plain word.
            if let (Some(open), true) =
                (line[..word_len].rfind('('), line[..word_len].ends_with(')'))
            {
                word_end = start + open;
            }
            index.push((
                start as u32,
                word_end as u32,
                phones_start as u32,
                (phones_start + phones.len()) as u32,
            ));
        }
        index.sort_by(|a, b| {
            text[a.0 as usize..a.1 as usize]
                .cmp(&text[b.0 as usize..b.1 as usize])
                .then(a.0.cmp(&b.0))
        });
        Ok(Self { text, index })
    }

    /// Reads and indexes a dictionary file.
    pub fn load(path: &Path) -> Result<Self, ProsodyError> {
        let text = std::fs::read_to_string(path).map_err(|e| ProsodyError::Read {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        Self::parse(text)
    }

    /// CMUdict where the manifest mounts it into components (`@models/cmudict` at
    /// `/cmudict`), or letter-to-sound rules alone when it is not mounted; with the name of
    /// what was used.
    pub fn mounted() -> Result<(Self, &'static str), ProsodyError> {
        Self::load_or_letter_rules(Path::new(MOUNTED_CMUDICT))
    }

    /// The dictionary at `path`, or an empty one (letter-to-sound rules only) when the file is
    /// absent, with the name of what was used: `cmudict` or `letter-to-sound`.
    pub fn load_or_letter_rules(path: &Path) -> Result<(Self, &'static str), ProsodyError> {
        match std::fs::read_to_string(path) {
            Ok(text) => Ok((Self::parse(text)?, "cmudict")),
            Err(_) => Ok((Self::parse(String::new())?, "letter-to-sound")),
        }
    }

    /// Entries, alternates included.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// Whether there are no entries (letter-to-sound rules only).
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    fn word_at(&self, e: &(u32, u32, u32, u32)) -> &str {
        &self.text[e.0 as usize..e.1 as usize]
    }

    /// Every dictionary pronunciation of a word (case and surrounding punctuation ignored).
    pub fn pronunciations(&self, word: &str) -> Vec<Pronunciation> {
        let w = normalize_word(word);
        let first = self.index.partition_point(|e| self.word_at(e) < w.as_str());
        self.index[first..]
            .iter()
            .take_while(|e| self.word_at(e) == w)
            .filter_map(|e| Pronunciation::parse(&self.text[e.2 as usize..e.3 as usize]))
            .collect()
    }

    /// Whether the dictionary knows the word.
    pub fn contains(&self, word: &str) -> bool {
        !self.pronunciations(word).is_empty()
    }

    /// The first dictionary pronunciation, else a letter-to-sound guess (numbers spelled out,
    /// hyphenated parts joined). Empty only for a word without letters or digits.
    pub fn pronounce(&self, word: &str) -> Pronunciation {
        if let Some(p) = self.pronunciations(word).into_iter().next() {
            return p;
        }
        let w = normalize_word(word).replace([',', '.'], "");
        let mut phones = Vec::new();
        let has_digit = w.chars().any(|c| c.is_ascii_digit());
        let has_letter = w.chars().any(char::is_alphabetic);
        if has_digit && !has_letter {
            for part in guess::spell_number(&w).split_whitespace() {
                phones.extend(self.pronounce(part).phones);
            }
        } else if has_digit || w.contains('-') {
            // "90s", "21st", "heart-shaped": digit runs, letter runs and hyphenated parts.
            let mut run = String::new();
            let mut parts = Vec::new();
            for c in w.chars() {
                let boundary = run
                    .chars()
                    .last()
                    .is_some_and(|l| l.is_ascii_digit() != c.is_ascii_digit());
                if c == '-' || boundary {
                    parts.push(std::mem::take(&mut run));
                }
                if c != '-' {
                    run.push(c);
                }
            }
            parts.push(run);
            for part in parts.iter().filter(|p| !p.is_empty()) {
                // A bare ordinal or plural suffix after digits adds sounds, not a syllable.
                if matches!(part.as_str(), "s" | "st" | "nd" | "rd" | "th") {
                    phones.extend(
                        guess::letters_to_phones(part)
                            .into_iter()
                            .filter(|p| !p.is_vowel()),
                    );
                } else {
                    phones.extend(self.pronounce(part).phones);
                }
            }
        } else {
            phones = guess::letters_to_phones(&w);
        }
        if !phones.iter().any(Phone::is_vowel) && has_letter {
            phones = guess::with_vowels(&w, phones);
        }
        Pronunciation { phones }
    }

    /// Syllables in a line of lyrics.
    pub fn line_syllables(&self, line: &str) -> usize {
        words(line)
            .map(|w| self.pronounce(w).syllable_count())
            .sum()
    }

    /// How two words rhyme, over every pair of their pronunciations.
    pub fn rhyme(&self, a: &str, b: &str) -> Rhyme {
        let (na, nb) = (normalize_word(a), normalize_word(b));
        if na.is_empty() || nb.is_empty() {
            return Rhyme::None;
        }
        if na == nb {
            return Rhyme::Identical;
        }
        let all = |w: &str| {
            let p = self.pronunciations(w);
            if p.is_empty() {
                vec![self.pronounce(w)]
            } else {
                p
            }
        };
        let (pa, pb) = (all(&na), all(&nb));
        let mut best = Rhyme::None;
        for x in &pa {
            for y in &pb {
                let (tx, ty) = (x.rhyme_tail(), y.rhyme_tail());
                if tx == ty && !tx.is_empty() {
                    return Rhyme::Perfect;
                }
                if slant(&tx, &ty) {
                    best = Rhyme::Slant;
                }
            }
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_dictionary_falls_back_to_letter_rules_and_says_so() {
        let (dict, used) =
            Dictionary::load_or_letter_rules(Path::new("/nonexistent/cmudict.dict")).unwrap();
        assert_eq!(used, "letter-to-sound");
        assert!(dict.is_empty());
        assert!(dict.pronounce("hello").syllable_count() >= 2);
    }

    const FIXTURE: &str = ";;; a comment\nagain AH0 G EH1 N\nagain(2) AH0 G EY1 N\nalone AH0 L OW1 N\nextra EH1 K S T R AH0\nhome HH OW1 M\nlight L AY1 T\nline L AY1 N\nnight N AY1 T\npain P EY1 N\nrain R EY1 N\nrainbow R EY1 N B OW2\nstrength S T R EH1 NG K TH\ntime T AY1 M\ntomato T AH0 M EY1 T OW2\ntomato(2) T AH0 M AA1 T OW2\n";

    fn dict() -> Dictionary {
        Dictionary::parse(FIXTURE.to_string()).unwrap()
    }

    #[test]
    fn parses_alternates_and_ignores_case_and_punctuation() {
        let d = dict();
        assert_eq!(d.len(), 15);
        assert_eq!(d.pronunciations("Tomato,").len(), 2);
        assert_eq!(d.pronunciations("\"RAIN!\"").len(), 1);
        assert!(!d.contains("zebra"));
    }

    #[test]
    fn malformed_lines_name_their_number() {
        let e = Dictionary::parse("rain R EY1 N\nbad XX1\n".into())
            .err()
            .unwrap();
        assert_eq!(e.to_string(), "line 2: unknown phone \"XX1\"");
        let e = Dictionary::parse("lonely\n".into()).err().unwrap();
        assert!(e.to_string().starts_with("line 1:"));
    }

    #[test]
    fn syllables_take_the_longest_legal_onset() {
        let d = dict();
        let s = d.pronounce("extra").syllables();
        assert_eq!(s.len(), 2);
        let second: Vec<&str> = s[1].onset.iter().map(Phone::as_str).collect();
        assert_eq!(second, ["S", "T", "R"]);
        assert_eq!(
            s[0].coda.iter().map(Phone::as_str).collect::<Vec<_>>(),
            ["K"]
        );
        assert_eq!(d.pronounce("rainbow").syllable_count(), 2);
        assert_eq!(d.pronounce("strength").syllable_count(), 1);
        assert_eq!(
            d.pronounce("tomato").stress_pattern(),
            [Stress::Unstressed, Stress::Primary, Stress::Secondary]
        );
    }

    #[test]
    fn rhymes_are_classified() {
        let d = dict();
        assert_eq!(d.rhyme("rain", "pain"), Rhyme::Perfect);
        assert_eq!(d.rhyme("night", "light."), Rhyme::Perfect);
        assert_eq!(d.rhyme("rain", "again"), Rhyme::Perfect, "via again(2)");
        assert_eq!(d.rhyme("time", "line"), Rhyme::Slant);
        assert_eq!(d.rhyme("home", "alone"), Rhyme::Slant);
        assert_eq!(d.rhyme("rain", "Rain"), Rhyme::Identical);
        assert_eq!(d.rhyme("rain", "light"), Rhyme::None);
        assert!(Rhyme::Perfect.score() > Rhyme::Slant.score());
        assert!(Rhyme::Slant.score() > Rhyme::Identical.score());
    }

    #[test]
    fn unknown_words_and_numbers_are_guessed() {
        let d = dict();
        let p = d.pronounce("blorptastic");
        assert!(p.syllable_count() >= 3, "{p:?}");
        assert_eq!(d.pronounce("shine").syllable_count(), 1);
        assert_eq!(d.pronounce("21").syllable_count(), 3, "twenty one");
        assert!(d.pronounce("...").phones.is_empty());
        assert_eq!(d.line_syllables("Rain, rain, rainbow"), 4);
        // Never silent: mixed digits, consonant-only words, other scripts.
        assert_eq!(d.pronounce("20s").syllable_count(), 2);
        assert_eq!(d.pronounce("21st").syllable_count(), 3);
        assert_eq!(d.pronounce("1,000").syllable_count(), 3);
        assert!(d.pronounce("hmm").syllable_count() >= 1);
        assert_eq!(d.pronounce("mañana").syllable_count(), 3);
        assert_eq!(d.pronounce("日本").syllable_count(), 2);
        assert!(Dictionary::parse(" AH0\n".into()).is_err());
    }

    #[test]
    fn last_word_skips_punctuation_and_ad_libs() {
        assert_eq!(last_word("Dancing in the rain (oh)"), Some("rain"));
        assert_eq!(last_word("Don't stop now!"), Some("now!"));
        assert_eq!(last_word("rain (oh)."), Some("rain"));
        assert_eq!(last_word("fine (yeah) (yeah)"), Some("fine"));
        assert_eq!(normalize_word("now!"), "now");
        assert_eq!(normalize_word("Don’t"), "don't");
        assert_eq!(words("heart-shaped box").count(), 3);
    }
}
