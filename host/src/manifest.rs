//! Spin manifest v2 (`spin.toml`): parsing and validation.
//!
//! The host honours the subset of the format that SongForge needs (HTTP triggers, components
//! with files, key-value stores, variables, environment, outbound hosts and build commands) and
//! refuses anything else with an error that names the file and the field, so a manifest never
//! silently means less than it says.

use crate::outbound::OutboundRule;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use crate::config_file::ConfigFileError as ManifestError;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    spin_manifest_version: toml::Value,
    application: RawApplication,
    #[serde(default)]
    variables: BTreeMap<String, RawVariable>,
    #[serde(default)]
    trigger: RawTriggers,
    #[serde(default)]
    component: BTreeMap<String, RawComponent>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawApplication {
    name: String,
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    authors: Vec<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawTriggers {
    #[serde(default)]
    http: Vec<RawHttpTrigger>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHttpTrigger {
    route: toml::Value,
    component: toml::Value,
    #[serde(default)]
    id: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVariable {
    #[serde(default)]
    default: Option<String>,
    #[serde(default)]
    required: bool,
    #[serde(default)]
    secret: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawComponent {
    source: toml::Value,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    files: Vec<RawFileMount>,
    #[serde(default)]
    exclude_files: Vec<String>,
    #[serde(default)]
    key_value_stores: Vec<String>,
    #[serde(default)]
    allowed_outbound_hosts: Vec<String>,
    #[serde(default)]
    environment: BTreeMap<String, String>,
    #[serde(default)]
    variables: BTreeMap<String, String>,
    #[serde(default)]
    build: Option<RawBuild>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum RawFileMount {
    Path(String),
    Mapped { source: String, destination: String },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBuild {
    command: String,
    #[serde(default)]
    workdir: Option<String>,
    #[serde(default)]
    watch: Vec<String>,
}

/// A validated application manifest with paths resolved against its directory.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// Path of the manifest file.
    pub file: PathBuf,
    /// Directory relative paths are resolved against.
    pub dir: PathBuf,
    /// `[application] name`.
    pub name: String,
    /// `[application] version`, if given.
    pub version: Option<String>,
    /// Application variables (`[variables]`).
    pub variables: BTreeMap<String, VariableSpec>,
    /// HTTP routes in manifest order.
    pub routes: Vec<HttpRoute>,
    /// Components by id.
    pub components: BTreeMap<String, ComponentSpec>,
}

/// One application variable.
#[derive(Debug, Clone)]
pub struct VariableSpec {
    /// Value used when no provider supplies one.
    pub default: Option<String>,
    /// Start-up fails when no value is found.
    pub required: bool,
    /// Never logged.
    pub secret: bool,
}

/// One `[[trigger.http]]` entry.
#[derive(Debug, Clone)]
pub struct HttpRoute {
    /// The route as written (`/api/health`, `/media/...`).
    pub route: String,
    /// Component id serving it.
    pub component: String,
}

/// A `files` source starting with this names a directory of the model store.
pub const MODELS_PREFIX: &str = "@models/";

/// One `[component.<id>]` table.
#[derive(Debug, Clone)]
pub struct ComponentSpec {
    /// Component id.
    pub id: String,
    /// Absolute path of the `.wasm` file.
    pub source: PathBuf,
    /// Host directories mounted read-only into the guest: (host path, guest path).
    pub files: Vec<(PathBuf, String)>,
    /// Key-value store labels the component may open.
    pub key_value_stores: Vec<String>,
    /// Outbound HTTP destinations (`https://host:port`, `*` wildcards as in Spin), parsed.
    pub allowed_outbound_hosts: Vec<OutboundRule>,
    /// Extra environment variables.
    pub environment: BTreeMap<String, String>,
    /// Component variables: name → template referring to application variables.
    pub variables: BTreeMap<String, Template>,
    /// `[component.<id>.build]`, if any.
    pub build: Option<BuildSpec>,
}

/// A build step run by `songforge build`.
#[derive(Debug, Clone)]
pub struct BuildSpec {
    /// Shell command.
    pub command: String,
    /// Working directory (absolute).
    pub workdir: PathBuf,
}

/// A component variable value: literal text with `{{ app_variable }}` references.
#[derive(Debug, Clone, PartialEq)]
pub struct Template(pub Vec<TemplatePart>);

/// Piece of a [`Template`].
#[derive(Debug, Clone, PartialEq)]
pub enum TemplatePart {
    /// Text copied as is.
    Literal(String),
    /// The value of an application variable.
    Variable(String),
}

impl Template {
    /// Parses `text {{ name }} text`; `None` describes a malformed reference.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(start) = rest.find("{{") {
            if start > 0 {
                parts.push(TemplatePart::Literal(rest[..start].to_string()));
            }
            let after = &rest[start + 2..];
            let end = after
                .find("}}")
                .ok_or_else(|| format!("unclosed `{{{{` in {text:?}"))?;
            let name = after[..end].trim();
            if !is_variable_name(name) {
                return Err(format!(
                    "{name:?} is not a variable name (lowercase letters, digits and `_`)"
                ));
            }
            parts.push(TemplatePart::Variable(name.to_string()));
            rest = &after[end + 2..];
        }
        if !rest.is_empty() {
            parts.push(TemplatePart::Literal(rest.to_string()));
        }
        Ok(Self(parts))
    }

    /// Application variables this template reads.
    pub fn references(&self) -> impl Iterator<Item = &str> {
        self.0.iter().filter_map(|p| match p {
            TemplatePart::Variable(v) => Some(v.as_str()),
            TemplatePart::Literal(_) => None,
        })
    }
}

/// Spin's rule for variable names: lowercase ASCII letters, digits and underscores, starting
/// with a letter.
pub fn is_variable_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some('a'..='z'))
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

fn is_component_id(id: &str) -> bool {
    !id.is_empty()
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

impl Manifest {
    /// Points `files` mounts written `@models/<id>` at `models_dir/<id>`.
    pub fn resolve_model_mounts(&mut self, models_dir: &Path) {
        for c in self.components.values_mut() {
            for (host, _) in &mut c.files {
                if let Ok(rest) = host.strip_prefix(MODELS_PREFIX) {
                    *host = models_dir.join(rest);
                }
            }
        }
    }

    /// Reads and validates a manifest file.
    pub fn load(file: &Path) -> Result<Self, ManifestError> {
        Self::parse(file, &crate::config_file::read(file)?)
    }

    /// Validates manifest text; `file` names it in errors and anchors relative paths.
    pub fn parse(file: &Path, text: &str) -> Result<Self, ManifestError> {
        let raw: RawManifest = crate::config_file::parse(file, text)?;
        let dir = file
            .parent()
            .map(|p| {
                if p.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    p
                }
            })
            .unwrap_or(Path::new("."))
            .to_path_buf();
        let dir = std::path::absolute(&dir).unwrap_or(dir);
        let field = |field: &str, problem: String| ManifestError::field(file, field, problem);

        if raw.spin_manifest_version.as_integer() != Some(2) {
            return Err(field(
                "spin_manifest_version",
                format!(
                    "must be 2 (found {}); version 1 manifests are not supported",
                    raw.spin_manifest_version
                ),
            ));
        }
        let _ = (&raw.application.description, &raw.application.authors);

        let mut variables = BTreeMap::new();
        for (name, v) in raw.variables {
            if !is_variable_name(&name) {
                return Err(field(
                    &format!("variables.{name}"),
                    "variable names use lowercase letters, digits and `_`, starting with a letter"
                        .into(),
                ));
            }
            if v.required && v.default.is_some() {
                return Err(field(
                    &format!("variables.{name}"),
                    "a variable cannot be both `required` and have a `default`".into(),
                ));
            }
            variables.insert(
                name,
                VariableSpec {
                    default: v.default,
                    required: v.required,
                    secret: v.secret,
                },
            );
        }

        let mut components = BTreeMap::new();
        for (id, c) in raw.component {
            let at = |f: &str| format!("component.{id}.{f}");
            if !is_component_id(&id) {
                return Err(field(
                    &format!("component.{id}"),
                    "component ids use lowercase letters, digits, `-` and `_`".into(),
                ));
            }
            let source = match &c.source {
                toml::Value::String(s) => dir.join(s),
                _ => {
                    return Err(field(
                        &at("source"),
                        "only a local file path is supported (not a URL or registry reference)"
                            .into(),
                    ));
                }
            };
            if !c.exclude_files.is_empty() {
                return Err(field(&at("exclude_files"), "is not supported".into()));
            }
            let mut files = Vec::new();
            for (i, mount) in c.files.iter().enumerate() {
                let (src, dest) = match mount {
                    RawFileMount::Path(p) => {
                        (p.clone(), format!("/{}", p.trim_start_matches("./")))
                    }
                    RawFileMount::Mapped {
                        source,
                        destination,
                    } => (source.clone(), destination.clone()),
                };
                if src.contains(['*', '?', '[']) {
                    return Err(field(
                        &format!("{}[{i}]", at("files")),
                        format!("glob patterns ({src:?}) are not supported; name a directory"),
                    ));
                }
                if !dest.starts_with('/') {
                    return Err(field(
                        &format!("{}[{i}].destination", at("files")),
                        format!("{dest:?} must be an absolute guest path"),
                    ));
                }
                // `@models/<id>` names a directory of the model store, wherever
                // `--models` / SONGFORGE_MODELS puts it (resolved by the server).
                let host = match src.strip_prefix(MODELS_PREFIX) {
                    Some(rest) => Path::new(MODELS_PREFIX).join(rest),
                    None => dir.join(src),
                };
                files.push((host, dest));
            }
            for label in &c.key_value_stores {
                if label.is_empty() {
                    return Err(field(
                        &at("key_value_stores"),
                        "labels cannot be empty".into(),
                    ));
                }
            }
            let allowed_outbound_hosts = c
                .allowed_outbound_hosts
                .iter()
                .map(|rule| OutboundRule::parse(rule))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|problem| field(&at("allowed_outbound_hosts"), problem))?;
            let mut vars = BTreeMap::new();
            for (name, value) in &c.variables {
                let f = format!("{}.{name}", at("variables"));
                if !is_variable_name(name) {
                    return Err(field(
                        &f,
                        "variable names use lowercase letters, digits and `_`".into(),
                    ));
                }
                let template = Template::parse(value).map_err(|p| field(&f, p))?;
                for r in template.references() {
                    if !variables.contains_key(r) {
                        return Err(field(
                            &f,
                            format!("refers to `{r}`, which `[variables]` does not define"),
                        ));
                    }
                }
                vars.insert(name.clone(), template);
            }
            let build = c.build.map(|b| {
                let _ = &b.watch;
                BuildSpec {
                    command: b.command,
                    workdir: b
                        .workdir
                        .map(|w| dir.join(w))
                        .unwrap_or_else(|| dir.clone()),
                }
            });
            let _ = &c.description;
            components.insert(
                id.clone(),
                ComponentSpec {
                    id,
                    source,
                    files,
                    key_value_stores: c.key_value_stores,
                    allowed_outbound_hosts,
                    environment: c.environment,
                    variables: vars,
                    build,
                },
            );
        }

        let mut routes = Vec::new();
        for (i, t) in raw.trigger.http.into_iter().enumerate() {
            let at = |f: &str| format!("trigger.http[{i}].{f}");
            let _ = &t.id;
            let route = match t.route {
                toml::Value::String(r) => r,
                _ => {
                    return Err(field(
                        &at("route"),
                        "only string routes are supported (not private routes)".into(),
                    ));
                }
            };
            crate::router::RoutePattern::parse(&route).map_err(|p| field(&at("route"), p))?;
            let component = match t.component {
                toml::Value::String(c) => c,
                _ => {
                    return Err(field(
                        &at("component"),
                        "must name a `[component.<id>]` table; inline components are not supported"
                            .into(),
                    ));
                }
            };
            if !components.contains_key(&component) {
                return Err(field(
                    &at("component"),
                    format!("no `[component.{component}]` table defines `{component}`"),
                ));
            }
            routes.push(HttpRoute { route, component });
        }
        if routes.is_empty() {
            return Err(field(
                "trigger.http",
                "the manifest defines no HTTP routes".into(),
            ));
        }

        Ok(Self {
            file: file.to_path_buf(),
            dir,
            name: raw.application.name,
            version: raw.application.version,
            variables,
            routes,
            components,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
spin_manifest_version = 2
[application]
name = "demo"
[variables]
greeting = { default = "hi" }
[[trigger.http]]
route = "/api/health"
component = "health"
[component.health]
source = "health.wasm"
key_value_stores = ["default"]
[component.health.variables]
greeting = "{{ greeting }}, world"
"#;

    fn parse(text: &str) -> Result<Manifest, ManifestError> {
        Manifest::parse(Path::new("/app/spin.toml"), text)
    }

    #[test]
    fn parses_a_minimal_app() {
        let m = parse(GOOD).unwrap();
        assert_eq!(m.routes.len(), 1);
        let c = &m.components["health"];
        assert_eq!(c.source, Path::new("/app/health.wasm"));
        assert_eq!(
            c.variables["greeting"],
            Template(vec![
                TemplatePart::Variable("greeting".into()),
                TemplatePart::Literal(", world".into())
            ])
        );
    }

    #[test]
    fn model_store_mounts_follow_the_configured_store() {
        let text = GOOD.replace(
            "key_value_stores = [\"default\"]",
            "files = [{ source = \"@models/cmudict\", destination = \"/cmudict\" }, { source = \"data\", destination = \"/data\" }]",
        );
        let mut m = parse(&text).unwrap();
        m.resolve_model_mounts(Path::new("/srv/models"));
        let files = &m.components["health"].files;
        assert_eq!(
            files[0],
            (PathBuf::from("/srv/models/cmudict"), "/cmudict".to_string())
        );
        assert_eq!(files[1], (PathBuf::from("/app/data"), "/data".to_string()));
    }

    #[test]
    fn outbound_rules_are_parsed_once_here() {
        let text = GOOD.replace(
            "key_value_stores = [\"default\"]",
            "allowed_outbound_hosts = [\"http://*.spin.internal\", \"https://api.example.com\"]",
        );
        let m = parse(&text).unwrap();
        let rules = &m.components["health"].allowed_outbound_hosts;
        assert_eq!(rules.len(), 2);
        assert!(rules[0].allows(&"http://media.spin.internal/x".parse().unwrap()));
        assert!(rules[1].allows(&"https://api.example.com/v1".parse().unwrap()));

        let err = parse(&text.replace("https://api.example.com", "api.example.com"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("field `component.health.allowed_outbound_hosts`: \"api.example.com\" needs a scheme"),
            "{err}"
        );
    }

    #[test]
    fn errors_name_the_field() {
        let err = parse(&GOOD.replace("spin_manifest_version = 2", "spin_manifest_version = 1"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("/app/spin.toml: field `spin_manifest_version`"),
            "{err}"
        );

        let err = parse(&GOOD.replace("component = \"health\"", "component = \"nope\""))
            .unwrap_err()
            .to_string();
        assert!(err.contains("field `trigger.http[0].component`"), "{err}");

        let err = parse(&GOOD.replace("{{ greeting }}", "{{ missing }}"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("field `component.health.variables.greeting`"),
            "{err}"
        );

        let err = parse(&GOOD.replace("key_value_stores", "sqlite_databases"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("sqlite_databases"), "{err}");

        let err = parse(&GOOD.replace("/api/health", "api/health"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("field `trigger.http[0].route`"), "{err}");
    }
}
