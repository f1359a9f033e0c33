//! Reading SongForge's TOML files (the Spin manifest, the runtime config, the model catalog)
//! with errors that always name the file and, where one is at fault, the field.

use serde::de::DeserializeOwned;
use std::path::{Path, PathBuf};

/// A problem with a configuration file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigFileError {
    /// The file could not be read.
    #[error("{file}: cannot read it: {source}")]
    Read {
        /// File path.
        file: PathBuf,
        /// Underlying I/O error.
        source: std::io::Error,
    },
    /// TOML syntax, or a field of the wrong shape (the parser's message names the field).
    #[error("{file}: {message}")]
    Syntax {
        /// File path.
        file: PathBuf,
        /// The parser's message, with the field and line.
        message: String,
    },
    /// A field has a value the host cannot honour.
    #[error("{file}: field `{field}`: {problem}")]
    Field {
        /// File path.
        file: PathBuf,
        /// Dotted path of the field, e.g. `component.health.source`.
        field: String,
        /// What is wrong with it.
        problem: String,
    },
}

impl ConfigFileError {
    /// A field error in `file`.
    pub fn field(file: &Path, field: impl Into<String>, problem: impl Into<String>) -> Self {
        Self::Field {
            file: file.to_path_buf(),
            field: field.into(),
            problem: problem.into(),
        }
    }
}

/// Reads `file` as text.
pub fn read(file: &Path) -> Result<String, ConfigFileError> {
    std::fs::read_to_string(file).map_err(|source| ConfigFileError::Read {
        file: file.to_path_buf(),
        source,
    })
}

/// Parses TOML `text` from `file` into `T`.
pub fn parse<T: DeserializeOwned>(file: &Path, text: &str) -> Result<T, ConfigFileError> {
    toml::from_str(text).map_err(|e| ConfigFileError::Syntax {
        file: file.to_path_buf(),
        message: e.to_string().trim_end().replace('\n', " "),
    })
}
