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
    toml::from_str(text).map_err(|e| syntax(file, &e))
}

/// Parses TOML `text` from `file` into `T` like [`parse`], but a value `T` refuses (an unknown
/// field or variant, a wrong type) is a [`ConfigFileError::Field`] naming its dotted path
/// (`wasi_nn.graphs.whisper.engine`) and line, so an unknown choice is reported where it
/// was written rather than as a parser message.
pub fn parse_fields<T: DeserializeOwned>(file: &Path, text: &str) -> Result<T, ConfigFileError> {
    let de = toml::Deserializer::parse(text).map_err(|e| syntax(file, &e))?;
    serde_path_to_error::deserialize(de).map_err(|e| {
        let field = e.path().to_string();
        let inner = e.into_inner();
        if field == "." {
            return syntax(file, &inner);
        }
        let problem = match inner.span() {
            Some(span) => format!(
                "{} (line {})",
                inner.message().trim_end(),
                line_of(text, span.start)
            ),
            None => inner.message().trim_end().to_string(),
        };
        ConfigFileError::Field {
            file: file.to_path_buf(),
            field,
            problem,
        }
    })
}

fn syntax(file: &Path, e: &toml::de::Error) -> ConfigFileError {
    ConfigFileError::Syntax {
        file: file.to_path_buf(),
        message: e.to_string().trim_end().replace('\n', " "),
    }
}

/// The 1-based line of byte `offset` in `text`.
fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Config {
        table: Table,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Table {
        choice: Choice,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(rename_all = "kebab-case")]
    enum Choice {
        One,
        TwoWords,
    }

    fn parse(text: &str) -> Result<Config, ConfigFileError> {
        parse_fields(Path::new("/etc/c.toml"), text)
    }

    #[test]
    fn a_good_file_parses() {
        let c = parse("[table]\nchoice = \"two-words\"\n").unwrap();
        assert_eq!(c.table.choice, Choice::TwoWords);
    }

    #[test]
    fn an_unknown_variant_names_the_field_its_line_and_the_choices() {
        let err = parse("\n[table]\nchoice = \"three\"\n")
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "/etc/c.toml: field `table.choice`: unknown variant `three`, expected `one` or \
             `two-words` (line 3)"
        );
    }

    #[test]
    fn unknown_fields_and_broken_toml_name_the_file() {
        let err = parse("[table]\nchoice = \"one\"\nextra = 1\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("/etc/c.toml: field `table.extra`: unknown field"),
            "{err}"
        );
        let err = parse("[table\n").unwrap_err();
        assert!(matches!(err, ConfigFileError::Syntax { .. }), "{err}");
    }
}
