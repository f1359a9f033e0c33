//! Whisper's special tokens, looked up by name in the checkpoint's own `tokenizer.json` so that
//! English-only (`tiny.en`) and multilingual vocabularies, whose ids differ, both work.

use std::path::Path;
use tokenizers::Tokenizer;

/// Language codes in Whisper's order; a checkpoint knows those its vocabulary has tokens for.
pub const LANGUAGES: &[&str] = &[
    "en", "zh", "de", "es", "ru", "ko", "fr", "ja", "pt", "tr", "pl", "ca", "nl", "ar", "sv", "it",
    "id", "hi", "fi", "vi", "he", "uk", "el", "ms", "cs", "ro", "da", "hu", "ta", "no", "th", "ur",
    "hr", "bg", "lt", "la", "mi", "ml", "cy", "sk", "te", "fa", "lv", "bn", "sr", "az", "sl", "kn",
    "et", "mk", "br", "eu", "is", "hy", "ne", "mn", "bs", "kk", "sq", "sw", "gl", "mr", "pa", "si",
    "km", "sn", "yo", "so", "af", "oc", "ka", "be", "tg", "sd", "gu", "am", "yi", "lo", "uz", "fo",
    "ht", "ps", "tk", "nn", "mt", "sa", "lb", "my", "bo", "tl", "mg", "as", "tt", "haw", "ln",
    "ha", "ba", "jw", "su", "yue",
];

/// The tokenizer plus the ids of the control tokens decoding needs.
pub struct WhisperTokens {
    pub tokenizer: Tokenizer,
    pub eot: u32,
    pub sot: u32,
    pub sot_prev: u32,
    pub sot_lm: Option<u32>,
    pub transcribe: Option<u32>,
    pub translate: Option<u32>,
    pub no_timestamps: u32,
    pub no_speech: Option<u32>,
    /// `<|0.00|>`: timestamp tokens follow, one per 20 ms.
    pub timestamp_begin: u32,
    /// (code, token id) of every language the model can be told to transcribe.
    pub languages: Vec<(&'static str, u32)>,
    /// Trained on many languages; English-only models (`*.en`) take no language or task
    /// tokens even though their vocabulary lists them.
    multilingual: bool,
}

impl WhisperTokens {
    /// Reads `tokenizer.json` and resolves the control tokens. `vocab_size` is the model's:
    /// multilingual checkpoints have 51865 or more entries, English-only ones 51864.
    pub fn load(path: &Path, vocab_size: usize) -> Result<Self, String> {
        let tokenizer =
            Tokenizer::from_file(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let id = |t: &str| tokenizer.token_to_id(t);
        let need = |t: &str| id(t).ok_or_else(|| format!("{}: lacks {t}", path.display()));
        let no_timestamps = need("<|notimestamps|>")?;
        let multilingual = vocab_size >= 51_865;
        let languages = LANGUAGES
            .iter()
            .filter(|&&code| multilingual || code == "en")
            .filter_map(|&code| id(&format!("<|{code}|>")).map(|i| (code, i)))
            .collect();
        Ok(Self {
            eot: need("<|endoftext|>")?,
            sot: need("<|startoftranscript|>")?,
            sot_prev: need("<|startofprev|>")?,
            sot_lm: id("<|startoflm|>"),
            transcribe: id("<|transcribe|>"),
            translate: id("<|translate|>"),
            no_speech: id("<|nospeech|>").or_else(|| id("<|nocaptions|>")),
            timestamp_begin: no_timestamps + 1,
            no_timestamps,
            languages,
            multilingual,
            tokenizer,
        })
    }

    /// Whether the model was trained on many languages (it has `<|de|>` etc., not just English).
    pub fn multilingual(&self) -> bool {
        self.multilingual
    }

    /// Text tokens for a prompt; a leading space as Whisper's prompts use.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, String> {
        self.tokenizer
            .encode(format!(" {}", text.trim()), false)
            .map(|e| e.get_ids().to_vec())
            .map_err(|e| e.to_string())
    }

    /// Text of `ids`, control and timestamp tokens dropped.
    pub fn decode(&self, ids: &[u32]) -> String {
        let text: Vec<u32> = ids.iter().copied().filter(|&t| t < self.eot).collect();
        without_broken_bytes(self.tokenizer.decode(&text, false).unwrap_or_default())
    }
}

/// Drops the replacement characters the byte-level decoder writes for a character whose
/// bytes a window boundary split (a "♪" over music, say): they never stand for anything
/// said, and "door path\u{FFFD}" reached transcripts.
fn without_broken_bytes(text: String) -> String {
    if text.contains('\u{FFFD}') {
        text.replace('\u{FFFD}', "")
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_characters_leave_no_replacement_marks() {
        assert_eq!(
            without_broken_bytes("the door path\u{FFFD} I'll sit".to_string()),
            "the door path I'll sit"
        );
        assert_eq!(without_broken_bytes("♪ la la".to_string()), "♪ la la");
    }
}
