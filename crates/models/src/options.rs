//! How to pull: which source, where Hugging Face is, which Python runs pip, whether to show
//! progress. Read by `pull` and by every source.

use crate::catalog::SourceKind;
use std::fmt;

/// Hugging Face's address; `HF_ENDPOINT` overrides it (a mirror, or a test server).
pub const DEFAULT_HF_ENDPOINT: &str = "https://huggingface.co";

/// How to pull.
#[derive(Debug, Clone)]
pub struct PullOptions {
    /// Use only this kind of source; `None` tries pip, apt, then hf.
    pub source: Option<SourceKind>,
    /// Base address of Hugging Face; files are `{endpoint}/{repo}/resolve/{revision}/{path}`.
    pub hf_endpoint: String,
    /// Bearer token for Hugging Face (gated repositories).
    pub hf_token: Option<String>,
    /// The Python that runs `-m pip download`.
    pub python: String,
    /// Extra arguments for `pip download` (e.g. `--index-url` of a mirror).
    pub pip_args: Vec<String>,
    /// Progress bars and status lines on stderr.
    pub progress: bool,
}

impl Default for PullOptions {
    fn default() -> Self {
        Self {
            source: None,
            hf_endpoint: DEFAULT_HF_ENDPOINT.into(),
            hf_token: None,
            python: "python3".into(),
            pip_args: Vec::new(),
            progress: false,
        }
    }
}

impl PullOptions {
    /// Defaults, with `HF_ENDPOINT`, `HF_TOKEN` and `PYTHON` from the environment, and progress
    /// shown.
    pub fn from_env() -> Self {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let defaults = Self::default();
        Self {
            hf_endpoint: var("HF_ENDPOINT").unwrap_or(defaults.hf_endpoint),
            hf_token: var("HF_TOKEN"),
            python: var("PYTHON").unwrap_or(defaults.python),
            progress: true,
            ..defaults
        }
    }

    /// Prints a status line when progress is shown.
    pub(crate) fn note(&self, line: impl fmt::Display) {
        if self.progress {
            eprintln!("{line}");
        }
    }
}
