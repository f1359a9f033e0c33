//! One `[component.<id>]` table: its source, file mounts, key-value labels, outbound rules,
//! variables and build step, each checked by its own function.

use super::raw::{RawBuild, RawComponent, RawFileMount};
use super::template::is_variable_name;
use super::{
    BuildSpec, ComponentSpec, DependencySpec, MODELS_PREFIX, ManifestError, Origin, Template,
    VariableSpec,
};
use crate::outbound::OutboundRule;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Validates `[component.<id>]`; `variables` are the application's, which its templates may
/// refer to.
pub(super) fn parse(
    at: &Origin<'_>,
    id: String,
    c: RawComponent,
    variables: &BTreeMap<String, VariableSpec>,
) -> Result<ComponentSpec, ManifestError> {
    let field = |f: &str| format!("component.{id}.{f}");
    if !is_component_id(&id) {
        return Err(at.error(
            format!("component.{id}"),
            "component ids use lowercase letters, digits, `-` and `_`",
        ));
    }
    let source = source(at, &field("source"), &c.source)?;
    if !c.exclude_files.is_empty() {
        return Err(at.error(field("exclude_files"), "is not supported"));
    }
    let files = c
        .files
        .iter()
        .enumerate()
        .map(|(i, mount)| file_mount(at, &format!("{}[{i}]", field("files")), mount))
        .collect::<Result<_, _>>()?;
    key_value_labels(at, &field("key_value_stores"), &c.key_value_stores)?;
    let (templated, literal): (Vec<String>, Vec<String>) = c
        .allowed_outbound_hosts
        .into_iter()
        .partition(|rule| rule.contains("{{"));
    let allowed_outbound_hosts = outbound_rules(at, &field("allowed_outbound_hosts"), &literal)?;
    let outbound_templates = templated
        .iter()
        .map(|t| app_template(at, &field("allowed_outbound_hosts"), t, variables))
        .collect::<Result<_, _>>()?;
    let dependencies = c
        .dependencies
        .iter()
        .map(|(key, value)| dependency(at, &field("dependencies"), key, value))
        .collect::<Result<_, _>>()?;
    let component_variables =
        component_variables(at, &field("variables"), &c.variables, variables)?;
    let build = c.build.map(|b| build(at, b));
    Ok(ComponentSpec {
        id,
        source,
        files,
        key_value_stores: c.key_value_stores,
        allowed_outbound_hosts,
        outbound_templates,
        dependencies,
        dependencies_inherit_configuration: c.dependencies_inherit_configuration,
        environment: c.environment,
        variables: component_variables,
        build,
    })
}

fn is_component_id(id: &str) -> bool {
    !id.is_empty()
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

/// `source`: a local `.wasm` path, made absolute.
fn source(at: &Origin<'_>, field: &str, source: &toml::Value) -> Result<PathBuf, ManifestError> {
    match source {
        toml::Value::String(s) => Ok(at.dir.join(s)),
        _ => Err(at.error(
            field,
            "only a local file path is supported (not a URL or registry reference)",
        )),
    }
}

/// One `files` entry: (host directory, absolute guest path). `@models/<id>` names a directory
/// of the model store, wherever `--models` / SONGFORGE_MODELS puts it (resolved by the
/// server through [`super::Manifest::resolve_model_mounts`]).
fn file_mount(
    at: &Origin<'_>,
    field: &str,
    mount: &RawFileMount,
) -> Result<(PathBuf, String), ManifestError> {
    let (src, dest) = match mount {
        RawFileMount::Path(p) => (p.clone(), format!("/{}", p.trim_start_matches("./"))),
        RawFileMount::Mapped {
            source,
            destination,
        } => (source.clone(), destination.clone()),
    };
    if src.contains(['*', '?', '[']) {
        return Err(at.error(
            field,
            format!("glob patterns ({src:?}) are not supported; name a directory"),
        ));
    }
    if !dest.starts_with('/') {
        return Err(at.error(
            format!("{field}.destination"),
            format!("{dest:?} must be an absolute guest path"),
        ));
    }
    let host = match src.strip_prefix(MODELS_PREFIX) {
        Some(rest) => Path::new(MODELS_PREFIX).join(rest),
        None => at.dir.join(src),
    };
    Ok((host, dest))
}

/// `key_value_stores`: non-empty labels. Whether each is configured is the key-value store's
/// check at start-up, against the runtime config.
fn key_value_labels(at: &Origin<'_>, field: &str, labels: &[String]) -> Result<(), ManifestError> {
    if labels.iter().any(String::is_empty) {
        return Err(at.error(field, "labels cannot be empty"));
    }
    Ok(())
}

/// `allowed_outbound_hosts`, parsed once here into the rules the component is served with.
fn outbound_rules(
    at: &Origin<'_>,
    field: &str,
    rules: &[String],
) -> Result<Vec<OutboundRule>, ManifestError> {
    rules
        .iter()
        .map(|rule| OutboundRule::parse(rule).map_err(|problem| at.error(field, problem)))
        .collect()
}

/// A template that may refer only to application variables that exist.
fn app_template(
    at: &Origin<'_>,
    field: &str,
    text: &str,
    variables: &BTreeMap<String, VariableSpec>,
) -> Result<Template, ManifestError> {
    let template = Template::parse(text).map_err(|problem| at.error(field, problem))?;
    if let Some(missing) = template.references().find(|v| !variables.contains_key(*v)) {
        return Err(at.error(
            field,
            format!("{text:?} refers to `{missing}`, which is not in [variables]"),
        ));
    }
    Ok(template)
}

/// One dependency: a package or interface name, and a local component file.
fn dependency(
    at: &Origin<'_>,
    field: &str,
    key: &str,
    value: &toml::Value,
) -> Result<DependencySpec, ManifestError> {
    let field = format!("{field}.\"{key}\"");
    let (path_part, version) = match key.split_once('@') {
        Some((p, v)) if !v.is_empty() => (p, Some(v.to_string())),
        Some(_) => return Err(at.error(field, "the version after `@` is empty")),
        None => (key, None),
    };
    let (package, interface) = match path_part.split_once('/') {
        Some((p, i)) => (p, Some(i.to_string())),
        None => (path_part, None),
    };
    let kebab = |s: &str| {
        !s.is_empty()
            && s.split('-').all(|w| {
                !w.is_empty()
                    && w.chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
            })
    };
    let named = package
        .split_once(':')
        .is_some_and(|(ns, name)| kebab(ns) && kebab(name))
        && interface.as_deref().is_none_or(kebab);
    if !named {
        return Err(at.error(
            field,
            "name a package or an interface: `namespace:package[/interface][@version]`",
        ));
    }
    let path = match value {
        toml::Value::Table(t) if t.len() == 1 => t.get("path").and_then(toml::Value::as_str),
        _ => None,
    };
    let Some(path) = path else {
        return Err(at.error(
            field,
            "only a local component is supported: `{ path = \"dependency.wasm\" }`",
        ));
    };
    Ok(DependencySpec {
        key: key.to_string(),
        package: package.to_string(),
        interface,
        version,
        path: at.dir.join(path),
    })
}

/// `[component.<id>.variables]`: templates that may only refer to application variables.
fn component_variables(
    at: &Origin<'_>,
    field: &str,
    raw: &BTreeMap<String, String>,
    app: &BTreeMap<String, VariableSpec>,
) -> Result<BTreeMap<String, Template>, ManifestError> {
    let mut vars = BTreeMap::new();
    for (name, value) in raw {
        let f = format!("{field}.{name}");
        if !is_variable_name(name) {
            return Err(at.error(f, "variable names use lowercase letters, digits and `_`"));
        }
        let template = Template::parse(value).map_err(|p| at.error(&f, p))?;
        if let Some(r) = template.references().find(|r| !app.contains_key(*r)) {
            return Err(at.error(
                &f,
                format!("refers to `{r}`, which `[variables]` does not define"),
            ));
        }
        vars.insert(name.clone(), template);
    }
    Ok(vars)
}

/// `[component.<id>.build]`, its working directory made absolute (the manifest's by default).
fn build(at: &Origin<'_>, b: RawBuild) -> BuildSpec {
    BuildSpec {
        command: b.command,
        workdir: b
            .workdir
            .map(|w| at.dir.join(w))
            .unwrap_or_else(|| at.dir.to_path_buf()),
    }
}
