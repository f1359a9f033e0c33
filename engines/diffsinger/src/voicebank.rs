//! An OpenUtau-format DiffSinger voicebank folder, read the way OpenUtau reads it.
//!
//! `dsconfig.yaml` names the phoneme list, the acoustic ONNX and the vocoder; the vocoder
//! lives in `dsvocoder/` (with `vocoder.yaml`) or in a dependency folder named by
//! `vocoder`. `dsdict.yaml` (in the root or `dsdur/`) says which symbols are vowels and how
//! to rename phonemes. Speakers are `<path>.emb` files of `hidden_size` little-endian floats.

use serde::Deserialize;
use songforge_inference::EngineError;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// `dsconfig.yaml`, the fields the renderer uses.
#[derive(Debug, Clone, Deserialize)]
pub struct DsConfig {
    /// Phoneme inventory: `phonemes.txt` (one per line, id = line) or `.json` (symbol → id).
    #[serde(default = "default_phonemes")]
    pub phonemes: String,
    /// Acoustic model, relative to the folder.
    pub acoustic: Option<String>,
    /// Vocoder dependency name (a folder holding `vocoder.yaml`).
    pub vocoder: Option<String>,
    /// Language ids (`languages.json`, language → id) for multilingual banks.
    pub languages: Option<String>,
    /// Speaker embedding paths without the `.emb` suffix.
    pub speakers: Option<Vec<String>>,
    /// Width of a speaker embedding.
    #[serde(default = "default_hidden", alias = "hiddenSize")]
    pub hidden_size: usize,
    /// Shallow diffusion: `depth` must not exceed `max_depth`.
    #[serde(default, alias = "useShallowDiffusion")]
    pub use_shallow_diffusion: bool,
    #[serde(default = "default_max_depth", alias = "maxDepth")]
    pub max_depth: i64,
    #[serde(default = "default_hop")]
    pub hop_size: u32,
    #[serde(default = "default_rate")]
    pub sample_rate: u32,
}

fn default_phonemes() -> String {
    "phonemes.txt".into()
}
fn default_hidden() -> usize {
    256
}
fn default_max_depth() -> i64 {
    -1
}
fn default_hop() -> u32 {
    512
}
fn default_rate() -> u32 {
    44_100
}

/// `vocoder.yaml`.
#[derive(Debug, Clone, Deserialize)]
pub struct VocoderConfig {
    #[serde(default = "default_vocoder_model")]
    pub model: String,
    #[serde(default = "default_rate")]
    pub sample_rate: u32,
    #[serde(default = "default_hop")]
    pub hop_size: u32,
    #[serde(default = "default_mel_bins")]
    pub num_mel_bins: usize,
}

fn default_vocoder_model() -> String {
    "model.onnx".into()
}
fn default_mel_bins() -> usize {
    128
}

/// `dsdict.yaml`: symbol kinds and renames.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct DsDict {
    #[serde(default)]
    pub symbols: Vec<DictSymbol>,
    #[serde(default)]
    pub replacements: Vec<Replacement>,
}

/// One symbol of the dictionary.
#[derive(Debug, Clone, Deserialize)]
pub struct DictSymbol {
    pub symbol: String,
    #[serde(rename = "type")]
    pub kind: String,
}

/// A phoneme renamed before lookup.
#[derive(Debug, Clone, Deserialize)]
pub struct Replacement {
    pub from: String,
    pub to: String,
}

/// A speaker (sub-bank): its name and embedding.
#[derive(Debug, Clone)]
pub struct Speaker {
    pub name: String,
    pub embedding: Vec<f32>,
}

/// Everything of a voicebank folder except the ONNX sessions.
#[derive(Debug, Clone)]
pub struct Voicebank {
    /// The singer's name (`character.yaml`/`character.txt` `name`, else the folder name).
    pub name: String,
    pub config: DsConfig,
    pub vocoder: VocoderConfig,
    pub acoustic_path: PathBuf,
    pub vocoder_path: PathBuf,
    /// Symbol → token id.
    pub phonemes: HashMap<String, i64>,
    /// Symbols the dictionary marks as vowels (empty: none marked).
    pub vowels: Vec<String>,
    pub replacements: HashMap<String, String>,
    pub languages: HashMap<String, i64>,
    pub speakers: Vec<Speaker>,
}

fn unusable(path: &Path, why: impl std::fmt::Display) -> EngineError {
    EngineError::Unavailable(format!("{}: {why}", path.display()))
}

fn read_text(path: &Path) -> Result<String, EngineError> {
    std::fs::read_to_string(path).map_err(|e| unusable(path, e))
}

impl Voicebank {
    /// Reads the folder; `vocoders` is where named vocoder dependencies live (OpenUtau's
    /// `Dependencies` folder), searched after the bank's own `dsvocoder/`.
    pub fn open(dir: &Path, vocoders: Option<&Path>) -> Result<Self, EngineError> {
        let config_path = dir.join("dsconfig.yaml");
        if !config_path.is_file() {
            return Err(unusable(
                dir,
                "not a DiffSinger voicebank (no dsconfig.yaml); give the folder OpenUtau installs",
            ));
        }
        let config: DsConfig = serde_yaml_ng::from_str(&read_text(&config_path)?)
            .map_err(|e| unusable(&config_path, e))?;
        let acoustic = config
            .acoustic
            .as_deref()
            .ok_or_else(|| unusable(&config_path, "`acoustic` is missing"))?;
        let acoustic_path = dir.join(acoustic);
        if !acoustic_path.is_file() {
            return Err(unusable(&acoustic_path, "the acoustic model is missing"));
        }
        let vocoder_dir = {
            let own = dir.join("dsvocoder");
            if own.join("vocoder.yaml").is_file() {
                own
            } else {
                let name = config.vocoder.as_deref().ok_or_else(|| {
                    unusable(&config_path, "no dsvocoder/ folder and no `vocoder` named")
                })?;
                let candidates: Vec<PathBuf> = [Some(dir), vocoders, dir.parent()]
                    .into_iter()
                    .flatten()
                    .map(|base| base.join(name))
                    .collect();
                candidates
                    .iter()
                    .find(|c| c.join("vocoder.yaml").is_file())
                    .cloned()
                    .ok_or_else(|| {
                        unusable(
                            &config_path,
                            format!(
                                "vocoder `{name}` is not installed; put its folder (with \
                                 vocoder.yaml) beside the voicebank or in the vocoders folder"
                            ),
                        )
                    })?
            }
        };
        let vocoder_yaml = vocoder_dir.join("vocoder.yaml");
        let vocoder: VocoderConfig = serde_yaml_ng::from_str(&read_text(&vocoder_yaml)?)
            .map_err(|e| unusable(&vocoder_yaml, e))?;
        if vocoder.hop_size != config.hop_size || vocoder.sample_rate != config.sample_rate {
            return Err(unusable(
                &vocoder_yaml,
                format!(
                    "the vocoder runs at {} Hz with hop {}, the acoustic model at {} Hz with hop {}",
                    vocoder.sample_rate, vocoder.hop_size, config.sample_rate, config.hop_size
                ),
            ));
        }
        let vocoder_path = vocoder_dir.join(&vocoder.model);
        if !vocoder_path.is_file() {
            return Err(unusable(&vocoder_path, "the vocoder model is missing"));
        }
        let phonemes_path = dir.join(&config.phonemes);
        let phonemes = parse_phonemes(&read_text(&phonemes_path)?, &phonemes_path)?;
        let dict = [
            dir.join("dsdict.yaml"),
            dir.join("dsdur").join("dsdict.yaml"),
        ]
        .into_iter()
        .find(|p| p.is_file());
        let dict: DsDict = match dict {
            Some(path) => {
                serde_yaml_ng::from_str(&read_text(&path)?).map_err(|e| unusable(&path, e))?
            }
            None => DsDict::default(),
        };
        let languages = match &config.languages {
            Some(file) => {
                let path = dir.join(file);
                serde_json::from_str(&read_text(&path)?).map_err(|e| unusable(&path, e))?
            }
            None => HashMap::new(),
        };
        let mut speakers = Vec::new();
        for stem in config.speakers.iter().flatten() {
            let path = dir.join(format!("{stem}.emb"));
            let bytes = std::fs::read(&path).map_err(|e| unusable(&path, e))?;
            if bytes.len() != config.hidden_size * 4 {
                return Err(unusable(
                    &path,
                    format!(
                        "{} bytes; a speaker embedding is {} floats",
                        bytes.len(),
                        config.hidden_size
                    ),
                ));
            }
            let embedding = bytes
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            let name = Path::new(stem)
                .file_name()
                .map_or_else(|| stem.clone(), |n| n.to_string_lossy().into_owned());
            speakers.push(Speaker { name, embedding });
        }
        Ok(Voicebank {
            name: singer_name(dir),
            vowels: dict
                .symbols
                .iter()
                .filter(|s| s.kind == "vowel")
                .map(|s| s.symbol.clone())
                .collect(),
            replacements: dict
                .replacements
                .into_iter()
                .map(|r| (r.from, r.to))
                .collect(),
            config,
            vocoder,
            acoustic_path,
            vocoder_path,
            phonemes,
            languages,
            speakers,
        })
    }

    /// Seconds per frame.
    pub fn frame_s(&self) -> f64 {
        f64::from(self.config.hop_size) / f64::from(self.config.sample_rate)
    }
}

/// `phonemes.txt` (id = line number) or a JSON object of symbol → id.
pub fn parse_phonemes(text: &str, path: &Path) -> Result<HashMap<String, i64>, EngineError> {
    let map: HashMap<String, i64> = if text.trim_start().starts_with('{') {
        serde_json::from_str(text).map_err(|e| unusable(path, e))?
    } else {
        text.lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(i, l)| (l.trim().to_string(), i as i64))
            .collect()
    };
    if !map.contains_key("SP") {
        return Err(unusable(path, "the phoneme list has no `SP` (silence)"));
    }
    Ok(map)
}

/// The singer's display name: `character.yaml`'s or `character.txt`'s `name`, else the folder.
fn singer_name(dir: &Path) -> String {
    for file in ["character.yaml", "character.txt"] {
        if let Ok(text) = std::fs::read_to_string(dir.join(file)) {
            let name = text.lines().find_map(|l| {
                let (key, value) = l.split_once([':', '='])?;
                (key.trim() == "name").then(|| value.trim().trim_matches('"').to_string())
            });
            if let Some(n) = name.filter(|n| !n.is_empty()) {
                return n;
            }
        }
    }
    dir.file_name()
        .map_or_else(|| "diffsinger".into(), |n| n.to_string_lossy().into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phoneme_lists_read_as_text_or_json() {
        let p = Path::new("phonemes.txt");
        let txt = parse_phonemes("SP\nAP\naa\n", p).unwrap();
        assert_eq!(txt["aa"], 2);
        let json = parse_phonemes(r#"{"SP": 0, "en/aa": 7}"#, p).unwrap();
        assert_eq!(json["en/aa"], 7);
        assert!(parse_phonemes("aa\nbb\n", p).is_err());
    }

    #[test]
    fn dsconfig_reads_openutau_fields() {
        let c: DsConfig = serde_yaml_ng::from_str(
            "phonemes: dsmain/phonemes.txt\nacoustic: dsmain/acoustic.onnx\nvocoder: nsf_hifigan\n\
             speakers:\n  - dsmain/embeds/soft\nuse_shallow_diffusion: true\nmax_depth: 400\n\
             hop_size: 512\nsample_rate: 44100\nuse_key_shift_embed: true\n",
        )
        .unwrap();
        assert_eq!(c.acoustic.as_deref(), Some("dsmain/acoustic.onnx"));
        assert_eq!(c.speakers.unwrap(), ["dsmain/embeds/soft"]);
        assert!(c.use_shallow_diffusion);
        assert_eq!(c.max_depth, 400);
    }
}
