//! `allowed_outbound_hosts`: which destinations a component may call over HTTP.
//!
//! Components get no network by default; a rule such as `https://api.example.com`,
//! `http://127.0.0.1:8080` or `https://*.example.com:*` opens one destination, as in Spin.

use http::Uri;

/// One allowed destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundRule {
    scheme: String,
    host: String,
    port: Option<u16>,
    any_port: bool,
}

impl OutboundRule {
    /// Parses `scheme://host[:port]` with `*` allowed for scheme, host (or a `*.` subdomain
    /// prefix) and port.
    pub fn parse(rule: &str) -> Result<Self, String> {
        let (scheme, rest) = rule
            .split_once("://")
            .ok_or_else(|| format!("{rule:?} needs a scheme, e.g. `https://{rule}`"))?;
        if !matches!(scheme, "http" | "https" | "*") {
            return Err(format!(
                "{rule:?}: only http, https or * schemes are supported"
            ));
        }
        let rest = rest.trim_end_matches('/');
        if rest.contains('/') {
            return Err(format!("{rule:?}: a rule names a host, not a path"));
        }
        let (host, port) = match rest.rsplit_once(':') {
            Some((h, "*")) => (h, None),
            Some((h, p)) => (
                h,
                Some(
                    p.parse::<u16>()
                        .map_err(|_| format!("{rule:?}: bad port {p:?}"))?,
                ),
            ),
            None => (rest, None),
        };
        if host.is_empty() {
            return Err(format!("{rule:?}: the host is empty"));
        }
        Ok(Self {
            scheme: scheme.to_string(),
            host: host.to_ascii_lowercase(),
            any_port: rest.ends_with(":*"),
            port,
        })
    }

    /// Whether a request to `uri` is allowed by this rule.
    pub fn allows(&self, uri: &Uri) -> bool {
        let scheme = uri.scheme_str().unwrap_or("http");
        let Some(host) = uri.host().map(str::to_ascii_lowercase) else {
            return false;
        };
        let default_port = if scheme == "https" { 443 } else { 80 };
        let port = uri.port_u16().unwrap_or(default_port);
        let scheme_ok = self.scheme == "*" || self.scheme == scheme;
        let host_ok = self.host == "*"
            || self.host == host
            || self
                .host
                .strip_prefix("*.")
                .is_some_and(|domain| host.ends_with(&format!(".{domain}")));
        let port_ok = self.any_port
            || match self.port {
                Some(p) => p == port,
                None => port == default_port,
            };
        scheme_ok && host_ok && port_ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allows(rule: &str, uri: &str) -> bool {
        OutboundRule::parse(rule)
            .unwrap()
            .allows(&uri.parse().unwrap())
    }

    #[test]
    fn rules_match_scheme_host_and_port() {
        assert!(allows(
            "https://api.example.com",
            "https://api.example.com/x"
        ));
        assert!(!allows(
            "https://api.example.com",
            "http://api.example.com/x"
        ));
        assert!(!allows(
            "https://api.example.com",
            "https://api.example.com:8443/"
        ));
        assert!(allows(
            "https://api.example.com:*",
            "https://api.example.com:8443/"
        ));
        assert!(allows("http://127.0.0.1:8080", "http://127.0.0.1:8080/a"));
        assert!(allows("https://*.example.com", "https://a.b.example.com/"));
        assert!(!allows("https://*.example.com", "https://example.org/"));
        assert!(allows("*://*:*", "http://anything:1/"));
    }

    #[test]
    fn malformed_rules_are_refused() {
        assert!(OutboundRule::parse("example.com").is_err());
        assert!(OutboundRule::parse("ftp://example.com").is_err());
        assert!(OutboundRule::parse("https://example.com:http").is_err());
        assert!(OutboundRule::parse("https://example.com/path").is_err());
    }
}
