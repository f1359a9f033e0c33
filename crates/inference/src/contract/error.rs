//! Why a graph call failed, as both sides of wasi-nn classify it.
//!
//! wasi-nn carries an error code and a message. Its codes have no "busy", so a full device
//! queue travels as `runtime-error` with a marker at the start of the message; the marker is
//! written and read only here.

/// The marker a busy queue's message starts with.
const BUSY_MARKER: &str = "busy:";

/// What went wrong, by who can fix it; each kind has one HTTP status on the guest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The caller sent something the graph cannot use (422).
    InvalidInput,
    /// The input exceeds what the graph accepts (413).
    TooLarge,
    /// No such graph, or its model is not installed (503).
    Unavailable,
    /// The device queue is full (503 with `Retry-After`).
    Busy,
    /// The inference ran out of time (504).
    Timeout,
    /// The engine failed (500).
    Runtime,
}

impl ErrorKind {
    /// Every kind, for tables and tests.
    pub const ALL: [Self; 6] = [
        Self::InvalidInput,
        Self::TooLarge,
        Self::Unavailable,
        Self::Busy,
        Self::Timeout,
        Self::Runtime,
    ];

    /// The kind's name where it travels by itself (the inference service's JSON).
    pub fn name(self) -> &'static str {
        match self {
            Self::InvalidInput => "invalid-input",
            Self::TooLarge => "too-large",
            Self::Unavailable => "unavailable",
            Self::Busy => "busy",
            Self::Timeout => "timeout",
            Self::Runtime => "runtime",
        }
    }

    /// The kind a [`ErrorKind::name`] names.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }

    /// The wasi-nn error code this kind travels as, spelled as the WIT spells it.
    pub fn wire_code(self) -> &'static str {
        match self {
            Self::InvalidInput => "invalid-argument",
            Self::TooLarge => "too-large",
            Self::Unavailable => "not-found",
            Self::Busy | Self::Runtime => "runtime-error",
            Self::Timeout => "timeout",
        }
    }

    /// The message as it travels: a busy one gets the marker.
    pub fn wire_message(self, message: &str) -> String {
        match self {
            Self::Busy => format!("{BUSY_MARKER} {message}"),
            _ => message.to_string(),
        }
    }

    /// Reads a wasi-nn error code (WIT spelling) and message back into a kind and the message
    /// without any marker. Codes with no kind of their own (`security`, `unknown`, …) are
    /// [`ErrorKind::Runtime`].
    pub fn from_wire(code: &str, message: &str) -> (Self, String) {
        let trimmed = message.trim();
        let kind = match code {
            "invalid-argument" | "invalid-encoding" => Self::InvalidInput,
            "too-large" => Self::TooLarge,
            "not-found" => Self::Unavailable,
            "timeout" => Self::Timeout,
            "runtime-error" if trimmed.starts_with(BUSY_MARKER) => {
                let rest = trimmed[BUSY_MARKER.len()..].trim();
                return (Self::Busy, rest.to_string());
            }
            _ => Self::Runtime,
        };
        (kind, trimmed.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_survives_the_wire() {
        for kind in ErrorKind::ALL {
            let message = kind.wire_message("the cpu queue is full (16 waiting)");
            let (back, text) = ErrorKind::from_wire(kind.wire_code(), &message);
            assert_eq!(back, kind);
            assert_eq!(text, "the cpu queue is full (16 waiting)");
        }
    }

    #[test]
    fn unknown_codes_are_runtime_failures() {
        assert_eq!(ErrorKind::from_wire("security", "no").0, ErrorKind::Runtime);
        assert_eq!(
            ErrorKind::from_wire("runtime-error", "cuda: out of memory").0,
            ErrorKind::Runtime
        );
    }
}
