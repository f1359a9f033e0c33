//! Spin manifest v2 (`spin.toml`): parsing and validation.
//!
//! The host honours the subset of the format that SongForge needs (HTTP triggers, components
//! with files, key-value stores, variables, environment, outbound hosts and build commands) and
//! refuses anything else with an error that names the file and the field, so a manifest never
//! silently means less than it says. [`Manifest::parse`] reads the TOML ([`raw`]), then checks
//! one table at a time: the version, `[variables]`, each `[component.<id>]` ([`component`]),
//! then `[[trigger.http]]`.

mod component;
mod raw;
mod template;

pub use template::{Template, TemplatePart, is_variable_name};

use crate::outbound::OutboundRule;
use raw::{RawManifest, RawTriggers, RawVariable};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use crate::config_file::ConfigFileError as ManifestError;

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
    /// Outbound destinations written with application variables (`{{ nn_url }}`), parsed
    /// once the variables have values.
    pub outbound_templates: Vec<Template>,
    /// `[component.<id>.dependencies]`: imports satisfied by other components.
    pub dependencies: Vec<DependencySpec>,
    /// Whether dependencies use this component's variables, outbound hosts and stores.
    pub dependencies_inherit_configuration: bool,
    /// Extra environment variables.
    pub environment: BTreeMap<String, String>,
    /// Component variables: name → template referring to application variables.
    pub variables: BTreeMap<String, Template>,
    /// `[component.<id>.build]`, if any.
    pub build: Option<BuildSpec>,
}

/// One `[component.<id>.dependencies]` entry: `"wasi:nn@0.2.0-rc-2024-10-28" = { path = "…" }`.
#[derive(Debug, Clone, PartialEq)]
pub struct DependencySpec {
    /// The key as written, for messages.
    pub key: String,
    /// `namespace:package`.
    pub package: String,
    /// One interface of the package, or all of them.
    pub interface: Option<String>,
    /// The version imports must have, if the key gives one.
    pub version: Option<String>,
    /// Absolute path of the dependency's `.wasm`.
    pub path: PathBuf,
}

/// A build step run by `songforge build`.
#[derive(Debug, Clone)]
pub struct BuildSpec {
    /// Shell command.
    pub command: String,
    /// Working directory (absolute).
    pub workdir: PathBuf,
}

/// Where a manifest came from: its file, named in errors, and the directory relative paths
/// start from.
struct Origin<'a> {
    file: &'a Path,
    dir: &'a Path,
}

impl Origin<'_> {
    /// An error in field `field` of this manifest.
    fn error(&self, field: impl Into<String>, problem: impl Into<String>) -> ManifestError {
        ManifestError::field(self.file, field, problem)
    }
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
        let dir = manifest_dir(file);
        let at = Origin { file, dir: &dir };
        check_version(&at, &raw.spin_manifest_version)?;
        let variables = variables(&at, raw.variables)?;
        let components = raw
            .component
            .into_iter()
            .map(|(id, c)| Ok((id.clone(), component::parse(&at, id, c, &variables)?)))
            .collect::<Result<BTreeMap<_, _>, ManifestError>>()?;
        let routes = routes(&at, raw.trigger, &components)?;
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

/// The manifest's directory, absolute (`.` for a bare file name).
fn manifest_dir(file: &Path) -> PathBuf {
    let dir = match file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf())
}

/// `spin_manifest_version`: only 2.
fn check_version(at: &Origin<'_>, version: &toml::Value) -> Result<(), ManifestError> {
    if version.as_integer() == Some(2) {
        return Ok(());
    }
    Err(at.error(
        "spin_manifest_version",
        format!("must be 2 (found {version}); version 1 manifests are not supported"),
    ))
}

/// `[variables]`: Spin's names, and never both `required` and a `default`.
fn variables(
    at: &Origin<'_>,
    raw: BTreeMap<String, RawVariable>,
) -> Result<BTreeMap<String, VariableSpec>, ManifestError> {
    let mut variables = BTreeMap::new();
    for (name, v) in raw {
        let field = format!("variables.{name}");
        if !is_variable_name(&name) {
            return Err(at.error(
                field,
                "variable names use lowercase letters, digits and `_`, starting with a letter",
            ));
        }
        if v.required && v.default.is_some() {
            return Err(at.error(
                field,
                "a variable cannot be both `required` and have a `default`",
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
    Ok(variables)
}

/// `[[trigger.http]]`: string routes Spin's syntax allows, each naming a component table; at
/// least one.
fn routes(
    at: &Origin<'_>,
    triggers: RawTriggers,
    components: &BTreeMap<String, ComponentSpec>,
) -> Result<Vec<HttpRoute>, ManifestError> {
    let mut routes = Vec::new();
    for (i, t) in triggers.http.into_iter().enumerate() {
        let field = |f: &str| format!("trigger.http[{i}].{f}");
        let toml::Value::String(route) = t.route else {
            return Err(at.error(
                field("route"),
                "only string routes are supported (not private routes)",
            ));
        };
        crate::router::RoutePattern::parse(&route).map_err(|p| at.error(field("route"), p))?;
        let toml::Value::String(component) = t.component else {
            return Err(at.error(
                field("component"),
                "must name a `[component.<id>]` table; inline components are not supported",
            ));
        };
        if !components.contains_key(&component) {
            return Err(at.error(
                field("component"),
                format!("no `[component.{component}]` table defines `{component}`"),
            ));
        }
        routes.push(HttpRoute { route, component });
    }
    if routes.is_empty() {
        return Err(at.error("trigger.http", "the manifest defines no HTTP routes"));
    }
    Ok(routes)
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
    fn dependencies_name_a_package_or_interface_and_a_local_file() {
        let text = format!(
            "{GOOD}dependencies_inherit_configuration = true\n\
             [component.health.dependencies]\n\
             \"wasi:nn@0.2.0-rc-2024-10-28\" = {{ path = \"nn.wasm\" }}\n\
             \"acme:kv/store\" = {{ path = \"kv.wasm\" }}\n"
        )
        .replace(
            "[component.health.variables]\ngreeting = \"{{ greeting }}, world\"\n",
            "",
        );
        let m = parse(&text).unwrap();
        let c = &m.components["health"];
        assert!(c.dependencies_inherit_configuration);
        let nn = c
            .dependencies
            .iter()
            .find(|d| d.package == "wasi:nn")
            .unwrap();
        assert_eq!(
            (nn.interface.as_deref(), nn.version.as_deref()),
            (None, Some("0.2.0-rc-2024-10-28"))
        );
        assert_eq!(nn.path, Path::new("/app/nn.wasm"));
        let kv = c
            .dependencies
            .iter()
            .find(|d| d.package == "acme:kv")
            .unwrap();
        assert_eq!(
            (kv.interface.as_deref(), kv.version.as_deref()),
            (Some("store"), None)
        );

        for (entry, problem) in [
            ("\"nn\" = { path = \"nn.wasm\" }", "namespace:package"),
            (
                "\"wasi:nn@\" = { path = \"nn.wasm\" }",
                "version after `@` is empty",
            ),
            ("\"wasi:nn\" = \"0.2.0\"", "only a local component"),
            (
                "\"wasi:nn\" = { url = \"https://x/nn.wasm\" }",
                "only a local component",
            ),
        ] {
            let text = format!("{GOOD}[component.health.dependencies]\n{entry}\n");
            let err = parse(&text).unwrap_err().to_string();
            assert!(
                err.contains("component.health.dependencies") && err.contains(problem),
                "{entry}: {err}"
            );
        }
    }

    #[test]
    fn outbound_hosts_may_use_application_variables() {
        let text = GOOD.replace(
            "key_value_stores = [\"default\"]",
            "allowed_outbound_hosts = [\"{{ greeting }}\", \"https://api.example.com\"]",
        );
        let m = parse(&text).unwrap();
        let c = &m.components["health"];
        assert_eq!(c.allowed_outbound_hosts.len(), 1);
        assert_eq!(
            c.outbound_templates,
            vec![Template(vec![TemplatePart::Variable("greeting".into())])]
        );
        let err = parse(&text.replace("{{ greeting }}", "{{ nope }}"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("allowed_outbound_hosts") && err.contains("`nope`"),
            "{err}"
        );
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
    fn fields_spin_defines_but_the_host_does_not_use_are_accepted() {
        let text = GOOD
            .replace(
                "name = \"demo\"",
                "name = \"demo\"\ndescription = \"d\"\nauthors = [\"a\"]\nversion = \"1.0.0\"",
            )
            .replace("component = \"health\"", "component = \"health\"\nid = \"t\"")
            .replace(
                "[component.health.variables]",
                "description = \"c\"\n[component.health.build]\ncommand = \"make\"\nworkdir = \"sub\"\nwatch = [\"src/**\"]\n[component.health.variables]",
            );
        let m = parse(&text).unwrap();
        assert_eq!(m.version.as_deref(), Some("1.0.0"));
        let build = m.components["health"].build.as_ref().unwrap();
        assert_eq!(build.workdir, Path::new("/app/sub"));
        assert!(parse(&GOOD.replace("name = \"demo\"", "name = \"demo\"\nbogus = 1")).is_err());
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
