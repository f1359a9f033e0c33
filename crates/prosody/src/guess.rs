//! Letter-to-sound rules for words CMUdict lacks (names, coinages, misspellings): English
//! spelling patterns mapped to ARPAbet, longest pattern first, with a silent final `e` and
//! the primary stress on the first syllable. Good enough for syllable counts and rhyme
//! tails; the dictionary is used whenever it knows the word.

use crate::{Phone, Stress};

/// Spelling patterns → phones; vowels get their stress later. Longest match wins.
const RULES: &[(&str, &[&str])] = &[
    ("tion", &["SH", "AH", "N"]),
    ("sion", &["ZH", "AH", "N"]),
    ("ough", &["AO"]),
    ("augh", &["AO"]),
    ("eigh", &["EY"]),
    ("igh", &["AY"]),
    ("tch", &["CH"]),
    ("dge", &["JH"]),
    ("sch", &["S", "K"]),
    ("ck", &["K"]),
    ("ch", &["CH"]),
    ("sh", &["SH"]),
    ("th", &["TH"]),
    ("ph", &["F"]),
    ("wh", &["W"]),
    ("qu", &["K", "W"]),
    ("ng", &["NG"]),
    ("kn", &["N"]),
    ("wr", &["R"]),
    ("ee", &["IY"]),
    ("ea", &["IY"]),
    ("ie", &["IY"]),
    ("oo", &["UW"]),
    ("ou", &["AW"]),
    ("ow", &["OW"]),
    ("oi", &["OY"]),
    ("oy", &["OY"]),
    ("ai", &["EY"]),
    ("ay", &["EY"]),
    ("oa", &["OW"]),
    ("au", &["AO"]),
    ("aw", &["AO"]),
    ("ew", &["UW"]),
    ("ey", &["IY"]),
    ("ue", &["UW"]),
    ("er", &["ER"]),
    ("ir", &["ER"]),
    ("ur", &["ER"]),
    ("ar", &["AA", "R"]),
    ("or", &["AO", "R"]),
    ("a", &["AE"]),
    ("e", &["EH"]),
    ("i", &["IH"]),
    ("o", &["AA"]),
    ("u", &["AH"]),
    ("b", &["B"]),
    ("c", &["K"]),
    ("d", &["D"]),
    ("f", &["F"]),
    ("g", &["G"]),
    ("h", &["HH"]),
    ("j", &["JH"]),
    ("k", &["K"]),
    ("l", &["L"]),
    ("m", &["M"]),
    ("n", &["N"]),
    ("p", &["P"]),
    ("r", &["R"]),
    ("s", &["S"]),
    ("t", &["T"]),
    ("v", &["V"]),
    ("w", &["W"]),
    ("x", &["K", "S"]),
    ("z", &["Z"]),
];

/// Long vowels for a vowel followed by one consonant and a silent final `e` (`shine`).
fn long_vowel(v: char) -> Option<&'static str> {
    Some(match v {
        'a' => "EY",
        'e' => "IY",
        'i' => "AY",
        'o' => "OW",
        'u' => "UW",
        _ => return None,
    })
}

fn is_vowel_letter(c: char) -> bool {
    matches!(c, 'a' | 'e' | 'i' | 'o' | 'u')
}

/// Phones for a lowercase word; letters outside a–z are skipped.
pub fn letters_to_phones(word: &str) -> Vec<Phone> {
    let mut w: Vec<char> = word.chars().filter(|c| c.is_ascii_alphabetic()).collect();
    if w.is_empty() {
        return Vec::new();
    }
    // Silent final e after a consonant (not "-le", which is a syllable of its own: "table").
    let mut magic = None;
    if w.len() > 2 && w[w.len() - 1] == 'e' && !is_vowel_letter(w[w.len() - 2]) {
        let le = w[w.len() - 2] == 'l' && w.len() > 3 && !is_vowel_letter(w[w.len() - 3]);
        if !le {
            w.pop();
            if w.len() >= 2 && is_vowel_letter(w[w.len() - 2]) {
                magic = Some(w.len() - 2);
            }
        }
    }
    let text: String = w.iter().collect();
    let mut symbols: Vec<&'static str> = Vec::new();
    let mut i = 0;
    while i < text.len() {
        let rest = &text[i..];
        // `y` is a vowel after a consonant or at the end ("happy", "sky"), else a consonant.
        if rest.starts_with('y') {
            let after_consonant = i > 0 && !is_vowel_letter(text.as_bytes()[i - 1] as char);
            symbols.push(match (after_consonant, i + 1 == text.len(), i == 1) {
                (true, true, true) => "AY",
                (true, true, false) => "IY",
                (true, false, _) => "IH",
                _ => "Y",
            });
            i += 1;
            continue;
        }
        if let (true, Some(v)) = (Some(i) == magic, long_vowel(text.as_bytes()[i] as char)) {
            symbols.push(v);
            i += 1;
            continue;
        }
        // "-ed" after t/d is a syllable; otherwise a bare consonant ("rained").
        if rest == "ed" && i > 0 {
            let prev = text.as_bytes()[i - 1];
            symbols.extend(if prev == b't' || prev == b'd' {
                &["IH", "D"][..]
            } else {
                &["D"][..]
            });
            break;
        }
        if rest == "es" && i > 1 && !matches!(text.as_bytes()[i - 1], b's' | b'x' | b'z' | b'h') {
            symbols.push("Z");
            break;
        }
        let (pattern, phones) = RULES
            .iter()
            .find(|(p, _)| rest.starts_with(p))
            .copied()
            .unwrap_or(("", &[]));
        if pattern.is_empty() {
            i += rest.chars().next().map_or(1, char::len_utf8);
            continue;
        }
        // A doubled consonant is one sound ("summer").
        let doubled = pattern.len() == 1
            && !is_vowel_letter(pattern.as_bytes()[0] as char)
            && i > 0
            && text.as_bytes()[i - 1] == pattern.as_bytes()[0];
        if !doubled {
            symbols.extend_from_slice(phones);
        }
        i += pattern.len();
    }
    // "-le" after a consonant adds a syllable: "table" → T EY B AH L.
    if word.ends_with("le") && word.len() > 3 && symbols.last() == Some(&"EH") {
        symbols.pop();
        symbols.pop();
        symbols.extend(["AH", "L"]);
    }
    let mut first_vowel = true;
    symbols
        .into_iter()
        .filter_map(Phone::parse)
        .map(|mut p| {
            if p.is_vowel() {
                p.stress = Some(if first_vowel {
                    Stress::Primary
                } else {
                    Stress::Unstressed
                });
                first_vowel = false;
            }
            p
        })
        .collect()
}

/// Vowel letters beyond a–z, for counting syllables of words the rules cannot read.
const OTHER_VOWELS: &str = "àáâãäåæèéêëìíîïòóôõöøùúûüýÿœ";

/// A pronunciation with vowels for a word whose guess has none: one `AH` per vowel-letter
/// group (accented vowels count), one per character for scripts without spaces between
/// syllables (CJK), else one after the first consonant ("hmm" → HH AH M).
pub fn with_vowels(word: &str, consonants: Vec<Phone>) -> Vec<Phone> {
    let is_vowel = |c: char| "aeiouy".contains(c) || OTHER_VOWELS.contains(c);
    let mut groups = 0;
    let mut in_group = false;
    for c in word.chars() {
        if (c as u32) >= 0x2e80 && c.is_alphabetic() {
            groups += 1;
            in_group = false;
        } else if is_vowel(c) {
            groups += usize::from(!in_group);
            in_group = true;
        } else {
            in_group = false;
        }
    }
    let vowel = |primary: bool| Phone {
        symbol: "AH",
        stress: Some(if primary {
            Stress::Primary
        } else {
            Stress::Unstressed
        }),
    };
    if groups == 0 {
        let mut out = consonants;
        out.insert(out.len().min(1), vowel(true));
        return out;
    }
    (0..groups).map(|i| vowel(i == 0)).collect()
}

const ONES: [&str; 20] = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
];
const TENS: [&str; 10] = [
    "", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety",
];

/// Digits as English words ("21" → "twenty one"); long numbers digit by digit.
pub fn spell_number(digits: &str) -> String {
    let Ok(n) = digits.parse::<u32>() else {
        return digits
            .chars()
            .filter_map(|c| c.to_digit(10))
            .map(|d| ONES[d as usize])
            .collect::<Vec<_>>()
            .join(" ");
    };
    if n >= 1_000_000 {
        return spell_number(&format!("{n}x"));
    }
    let mut parts = Vec::new();
    let say = |n: u32, parts: &mut Vec<String>| {
        if n >= 100 {
            parts.push(format!("{} hundred", ONES[(n / 100) as usize]));
        }
        let r = n % 100;
        if r >= 20 {
            parts.push(TENS[(r / 10) as usize].to_string());
            if !r.is_multiple_of(10) {
                parts.push(ONES[(r % 10) as usize].to_string());
            }
        } else if r > 0 || n == 0 {
            parts.push(ONES[r as usize].to_string());
        }
    };
    if n >= 1000 {
        say(n / 1000, &mut parts);
        parts.push("thousand".into());
        if n % 1000 != 0 {
            say(n % 1000, &mut parts);
        }
    } else {
        say(n, &mut parts);
    }
    parts.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn syllables(w: &str) -> usize {
        letters_to_phones(w).iter().filter(|p| p.is_vowel()).count()
    }

    #[test]
    fn common_patterns() {
        assert_eq!(syllables("shine"), 1);
        assert_eq!(syllables("starlight"), 2);
        assert_eq!(syllables("rained"), 1);
        assert_eq!(syllables("faded"), 2);
        assert_eq!(syllables("nation"), 2);
        assert_eq!(syllables("happy"), 2);
        assert_eq!(syllables("sky"), 1);
        assert_eq!(syllables("table"), 2);
        let p: Vec<&str> = letters_to_phones("shine")
            .iter()
            .map(Phone::as_str)
            .collect();
        assert_eq!(p, ["SH", "AY", "N"]);
    }

    #[test]
    fn numbers_are_spelled() {
        assert_eq!(spell_number("21"), "twenty one");
        assert_eq!(
            spell_number("1999"),
            "one thousand nine hundred ninety nine"
        );
        assert_eq!(spell_number("0"), "zero");
        assert_eq!(spell_number("40"), "forty");
    }
}
