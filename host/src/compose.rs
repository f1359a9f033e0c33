//! Spin component dependencies: a component's imports satisfied by another component's
//! exports, composed into one component before it is compiled, as Spin does.
//!
//! A dependency key names a package (`wasi:nn@0.2.0-rc-2024-10-28`: every interface of it the
//! component imports) or one interface (`wasi:nn/graph@…`); each matching import is wired to
//! the dependency's export of the same name. The dependency's own imports (outgoing HTTP,
//! variables) become imports of the composition, served under the parent's configuration
//! (`dependencies_inherit_configuration = true`).

use crate::manifest::DependencySpec;
use wac_graph::types::Package;
use wac_graph::{CompositionGraph, EncodeOptions};

/// Why a composition failed, in words that name the import or the dependency.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ComposeError(String);

/// Whether import `name` (`ns:pkg/iface@version`) is one `dependency` satisfies.
pub fn matches(dependency: &DependencySpec, name: &str) -> bool {
    let (path, version) = match name.split_once('@') {
        Some((p, v)) => (p, Some(v)),
        None => (name, None),
    };
    let (package, interface) = match path.split_once('/') {
        Some((p, i)) => (p, Some(i)),
        None => (path, None),
    };
    package == dependency.package
        && dependency
            .interface
            .as_deref()
            .is_none_or(|i| interface == Some(i))
        && dependency
            .version
            .as_deref()
            .is_none_or(|v| version == Some(v))
}

/// Composes `main` with each dependency (its key and component bytes) and returns the bytes
/// of one component that no longer imports what the dependencies export.
pub fn compose(
    main: &[u8],
    dependencies: &[(&DependencySpec, Vec<u8>)],
) -> Result<Vec<u8>, ComposeError> {
    let err = |context: &str, e: &dyn std::fmt::Display| ComposeError(format!("{context}: {e:#}"));
    let mut graph = CompositionGraph::new();
    let root = Package::from_bytes("songforge:root", None, main.to_vec(), graph.types_mut())
        .map_err(|e| err("the component", &e))?;
    let (imports, exports) = {
        let world = &graph.types()[root.ty()];
        (
            world.imports.keys().cloned().collect::<Vec<_>>(),
            world.exports.keys().cloned().collect::<Vec<_>>(),
        )
    };
    let root = graph
        .register_package(root)
        .map_err(|e| err("the component", &e))?;
    let root_instance = graph.instantiate(root);
    for (i, (dependency, bytes)) in dependencies.iter().enumerate() {
        let wanted: Vec<&String> = imports.iter().filter(|n| matches(dependency, n)).collect();
        if wanted.is_empty() {
            return Err(ComposeError(format!(
                "dependency `{}` matches nothing the component imports",
                dependency.key
            )));
        }
        let package = Package::from_bytes(
            &format!("songforge:dependency{i}"),
            None,
            bytes.clone(),
            graph.types_mut(),
        )
        .map_err(|e| err(&format!("dependency `{}`", dependency.key), &e))?;
        let package = graph
            .register_package(package)
            .map_err(|e| err(&format!("dependency `{}`", dependency.key), &e))?;
        let instance = graph.instantiate(package);
        for name in wanted {
            let export = graph.alias_instance_export(instance, name).map_err(|e| {
                err(
                    &format!("dependency `{}` does not export `{name}`", dependency.key),
                    &e,
                )
            })?;
            graph
                .set_instantiation_argument(root_instance, name, export)
                .map_err(|e| {
                    err(
                        &format!(
                            "dependency `{}`'s `{name}` does not fit the import",
                            dependency.key
                        ),
                        &e,
                    )
                })?;
        }
    }
    for name in exports {
        let export = graph
            .alias_instance_export(root_instance, &name)
            .map_err(|e| err(&format!("export `{name}`"), &e))?;
        graph
            .export(export, &name)
            .map_err(|e| err(&format!("export `{name}`"), &e))?;
    }
    graph
        .encode(EncodeOptions::default())
        .map_err(|e| err("encoding the composition", &e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn key(package: &str, interface: Option<&str>, version: Option<&str>) -> DependencySpec {
        DependencySpec {
            key: "k".into(),
            package: package.into(),
            interface: interface.map(Into::into),
            version: version.map(Into::into),
            path: PathBuf::new(),
        }
    }

    #[test]
    fn a_package_key_takes_every_interface_and_a_version_must_agree() {
        let nn = key("wasi:nn", None, Some("0.2.0-rc-2024-10-28"));
        assert!(matches(&nn, "wasi:nn/graph@0.2.0-rc-2024-10-28"));
        assert!(matches(&nn, "wasi:nn/tensor@0.2.0-rc-2024-10-28"));
        assert!(!matches(&nn, "wasi:nn/graph@0.2.0"));
        assert!(!matches(&nn, "wasi:http/types@0.2.0"));
        let graph_only = key("wasi:nn", Some("graph"), None);
        assert!(matches(&graph_only, "wasi:nn/graph@0.2.0-rc-2024-10-28"));
        assert!(!matches(&graph_only, "wasi:nn/tensor@0.2.0-rc-2024-10-28"));
    }
}
