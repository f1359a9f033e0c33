//! What the host tells every instance about itself through environment variables.
//!
//! Our host sets `SONGFORGE_VERSION`, `SONGFORGE_DEVICE` and `SONGFORGE_COMPONENTS`; stock
//! Spin sets none of them, so each falls back to a value that says "unknown" instead of
//! failing the request.

use serde::Serialize;

/// The host version variable.
pub const VERSION_VAR: &str = "SONGFORGE_VERSION";
/// The inference device variable (`cpu`, `cuda:0`).
pub const DEVICE_VAR: &str = "SONGFORGE_DEVICE";
/// The routed components variable: a JSON array of `{"id", "route"}`.
pub const COMPONENTS_VAR: &str = "SONGFORGE_COMPONENTS";

/// The host's self-description as an instance sees it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HostInfo {
    /// The host version, or `unknown`.
    pub version: String,
    /// The inference device, or `unknown`.
    pub device: String,
    /// The routed components as the host lists them, or `[]`.
    pub components: serde_json::Value,
}

impl HostInfo {
    /// Reads the variables of this instance's environment.
    pub fn from_env() -> Self {
        Self::from_values(
            std::env::var(VERSION_VAR).ok(),
            std::env::var(DEVICE_VAR).ok(),
            std::env::var(COMPONENTS_VAR).ok(),
        )
    }

    /// Builds the description from raw variable values; a components value that is not a
    /// JSON array counts as absent rather than leaking a malformed value to clients.
    pub fn from_values(
        version: Option<String>,
        device: Option<String>,
        components: Option<String>,
    ) -> Self {
        let or_unknown = |v: Option<String>| {
            v.map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| "unknown".to_string())
        };
        let components = components
            .and_then(|raw| serde_json::from_str::<serde_json::Value>(&raw).ok())
            .filter(serde_json::Value::is_array)
            .unwrap_or_else(|| serde_json::Value::Array(Vec::new()));
        Self {
            version: or_unknown(version),
            device: or_unknown(device),
            components,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_pass_through() {
        let info = HostInfo::from_values(
            Some("0.1.0".into()),
            Some("cpu".into()),
            Some(r#"[{"id":"health","route":"/api/health/"}]"#.into()),
        );
        assert_eq!(info.version, "0.1.0");
        assert_eq!(info.device, "cpu");
        assert_eq!(info.components[0]["id"], "health");
    }

    #[test]
    fn absent_or_malformed_values_fall_back() {
        let info = HostInfo::from_values(None, Some("  ".into()), Some("{not json".into()));
        assert_eq!(info.version, "unknown");
        assert_eq!(info.device, "unknown");
        assert_eq!(info.components, serde_json::json!([]));
        let info = HostInfo::from_values(None, None, Some(r#"{"id":"x"}"#.into()));
        assert_eq!(info.components, serde_json::json!([]));
    }
}
