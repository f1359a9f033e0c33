//! ARPAbet (CMUdict) to the espeak-style IPA Piper voices are trained on.

use songforge_prosody::{Phone, Stress, Syllable};

/// IPA for one ARPAbet phone; vowels depend on stress the way espeak writes American English
/// (stressed `AH` is `ʌ`, unstressed `ə`; `ER` is `ɜː` or `ɚ`).
pub fn ipa(phone: &Phone) -> &'static str {
    let stressed = matches!(phone.stress, Some(Stress::Primary | Stress::Secondary));
    match phone.as_str() {
        "AA" => "ɑː",
        "AE" => "æ",
        "AH" if stressed => "ʌ",
        "AH" => "ə",
        "AO" => "ɔː",
        "AW" => "aʊ",
        "AY" => "aɪ",
        "EH" => "ɛ",
        "ER" if stressed => "ɜː",
        "ER" => "ɚ",
        "EY" => "eɪ",
        "IH" => "ɪ",
        "IY" => "iː",
        "OW" => "oʊ",
        "OY" => "ɔɪ",
        "UH" => "ʊ",
        "UW" => "uː",
        "B" => "b",
        "CH" => "tʃ",
        "D" => "d",
        "DH" => "ð",
        "F" => "f",
        "G" => "ɡ",
        "HH" => "h",
        "JH" => "dʒ",
        "K" => "k",
        "L" => "l",
        "M" => "m",
        "N" => "n",
        "NG" => "ŋ",
        "P" => "p",
        "R" => "ɹ",
        "S" => "s",
        "SH" => "ʃ",
        "T" => "t",
        "TH" => "θ",
        "V" => "v",
        "W" => "w",
        "Y" => "j",
        "Z" => "z",
        "ZH" => "ʒ",
        _ => "ə",
    }
}

/// A sung syllable as IPA symbols, as espeak would write it inside its word: `ˈ` before a
/// primary-stressed vowel (always in a one-syllable word), `ˌ` before a secondary one.
/// Stressed or not, the vowel keeps its full quality except an unstressed `AH` (a schwa).
pub fn sung_ipa(syllable: &Syllable, alone: bool) -> Vec<String> {
    let mut out: Vec<String> = syllable.onset.iter().map(|p| ipa(p).to_string()).collect();
    match (syllable.stress(), alone) {
        (_, true) | (Stress::Primary, _) => out.push("ˈ".into()),
        (Stress::Secondary, _) => out.push("ˌ".into()),
        (Stress::Unstressed, _) => {}
    }
    let mut nucleus = syllable.nucleus;
    if syllable.nucleus.as_str() != "AH" {
        nucleus.stress = Some(Stress::Primary);
    }
    out.push(ipa(&nucleus).to_string());
    out.extend(syllable.coda.iter().map(|p| ipa(p).to_string()));
    out
}

/// ARPAbet symbols of a syllable with stress digits on the vowel, as CMUdict writes them.
pub fn arpabet(syllable: &Syllable) -> Vec<String> {
    let digit = |p: &Phone| match p.stress {
        Some(Stress::Primary) => "1",
        Some(Stress::Secondary) => "2",
        Some(Stress::Unstressed) => "0",
        None => "",
    };
    syllable
        .onset
        .iter()
        .chain(std::iter::once(&syllable.nucleus))
        .chain(&syllable.coda)
        .map(|p| format!("{}{}", p.as_str(), digit(p)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use songforge_prosody::Pronunciation;

    #[test]
    fn hello_is_sung_as_espeak_would_write_it() {
        let p = Pronunciation::parse("HH AH0 L OW1").unwrap();
        let s = p.syllables();
        assert_eq!(sung_ipa(&s[0], false), ["h", "ə"]);
        assert_eq!(sung_ipa(&s[1], false), ["l", "ˈ", "oʊ"]);
        let the = Pronunciation::parse("DH AH0").unwrap().syllables();
        assert_eq!(sung_ipa(&the[0], true), ["ð", "ˈ", "ə"]);
        let sister = Pronunciation::parse("S IH1 S T ER0").unwrap().syllables();
        assert_eq!(sung_ipa(&sister[1], false), ["s", "t", "ɜː"]);
        assert_eq!(arpabet(&s[1]), ["L", "OW1"]);
    }
}
