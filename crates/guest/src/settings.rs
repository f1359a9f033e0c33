//! The app's settings, from Spin variables, read one way: a blank or unusable value means the
//! default, so an operator's typo never takes a route down.

/// Variable `name` when set to something other than blank, else `default`.
pub async fn text_or(name: &str, default: &str) -> String {
    spin_sdk::variables::get(name)
        .await
        .ok()
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_string())
}

/// Variable `name` as a positive number (seconds, a limit), else `default`.
pub async fn positive_or(name: &str, default: f64) -> f64 {
    positive(spin_sdk::variables::get(name).await.ok().as_deref()).unwrap_or(default)
}

/// Variable `name` (else `default`, as [`text_or`]) as a comma-separated list, blanks dropped.
pub async fn list_or(name: &str, default: &str) -> Vec<String> {
    split_list(&text_or(name, default).await)
}

fn positive(value: Option<&str>) -> Option<f64> {
    value
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|v| v.is_finite() && *v > 0.0)
}

fn split_list(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unusable_values_fall_back() {
        assert_eq!(positive(Some(" 90 ")), Some(90.0));
        for bad in [
            Some("0"),
            Some("-3"),
            Some("NaN"),
            Some("inf"),
            Some("ten"),
            None,
        ] {
            assert_eq!(positive(bad), None, "{bad:?}");
        }
        assert_eq!(split_list(" tts, ,joe ,"), ["tts", "joe"]);
        assert!(split_list("").is_empty());
    }
}
