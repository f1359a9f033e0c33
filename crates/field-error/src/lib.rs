//! The one error a request parser returns: the field (a JSON path such as `tracks[1].pan`),
//! what is wrong with it, and whether it is malformed (400) or well formed but unacceptable
//! (422). Domain crates build it without knowing HTTP; `songforge-guest` turns it into the
//! JSON error envelope, so every route names the offending field the same way.

/// Which status class a bad field gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Problem {
    /// Missing, of the wrong type, or unparsable (400).
    Malformed,
    /// Well formed but out of range or inconsistent with the rest (422).
    Unacceptable,
}

/// A request field that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    /// JSON path of the offending member, or the form field's name.
    pub field: String,
    /// What is wrong, for the caller.
    pub message: String,
    /// 400 or 422.
    pub problem: Problem,
}

impl FieldError {
    /// A missing or malformed field (400).
    pub fn malformed(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
            problem: Problem::Malformed,
        }
    }

    /// A well-formed value that cannot be used (422).
    pub fn unacceptable(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
            problem: Problem::Unacceptable,
        }
    }

    /// The HTTP status the problem maps to.
    pub fn status(&self) -> u16 {
        match self.problem {
            Problem::Malformed => 400,
            Problem::Unacceptable => 422,
        }
    }

    /// Whether the value was well formed but unacceptable (422).
    pub fn is_unacceptable(&self) -> bool {
        self.problem == Problem::Unacceptable
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problems_map_to_statuses_and_name_the_field() {
        let e = FieldError::malformed("tracks[0].url", "`url` is required");
        assert_eq!((e.status(), e.is_unacceptable()), (400, false));
        assert_eq!(e.to_string(), "tracks[0].url: `url` is required");
        assert_eq!(FieldError::unacceptable("bpm", "too fast").status(), 422);
    }
}
