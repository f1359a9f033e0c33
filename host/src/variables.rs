//! `spin:variables/variables@3.0.0` (and Spin 2's synchronous `fermyon:spin/variables`):
//! application variables with manifest defaults and
//! `SPIN_VARIABLE_<NAME>` environment overrides, resolved once at start-up as Spin does.

use crate::manifest::{Manifest, Template, TemplatePart, is_variable_name};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use wasmtime::component::HasData;

mod bindings {
    wasmtime::component::bindgen!({
        path: "../wit/spin/spin-variables@3.0.0",
        inline: "package songforge:host-variables; world variables { import spin:variables/variables@3.0.0; }",
        imports: { default: trappable },
    });
}

use bindings::spin::variables::variables::{self as vars, Error as VarError};

/// Spin 2's synchronous interface, for components whose exports cannot await (the wasi-nn
/// over HTTP dependency reads its service's URL with it).
mod sync_bindings {
    wasmtime::component::bindgen!({
        path: "../wit/spin/fermyon-spin-variables@2.0.0",
        inline: "package songforge:host-variables-sync; world variables { import fermyon:spin/variables@2.0.0; }",
        imports: { default: trappable },
    });
}

use sync_bindings::fermyon::spin::variables::{self as sync_vars, Error as SyncVarError};

/// A variable that has no value: a required one without a provider value.
#[derive(Debug, thiserror::Error)]
#[error("variable `{0}` is required but has no value: set SPIN_VARIABLE_{upper}", upper = .0.to_uppercase())]
pub struct MissingVariable(pub String);

/// Every component's variables, already rendered.
#[derive(Debug, Default)]
pub struct ResolvedVariables {
    app: HashMap<String, String>,
    by_component: HashMap<String, Arc<BTreeMap<String, String>>>,
}

impl ResolvedVariables {
    /// Resolves application variables from `lookup` (the process environment in production),
    /// then renders each component's templates.
    pub fn resolve(
        manifest: &Manifest,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, MissingVariable> {
        let mut app = HashMap::new();
        for (name, spec) in &manifest.variables {
            let value = lookup(&format!("SPIN_VARIABLE_{}", name.to_uppercase()))
                .or_else(|| spec.default.clone());
            match value {
                Some(v) => {
                    app.insert(name.clone(), v);
                }
                None if spec.required => return Err(MissingVariable(name.clone())),
                None => {}
            }
        }
        let mut by_component = HashMap::new();
        for (id, component) in &manifest.components {
            let rendered = component
                .variables
                .iter()
                .filter_map(|(name, template)| Some((name.clone(), render(&app, template)?)))
                .collect();
            by_component.insert(id.clone(), Arc::new(rendered));
        }
        Ok(Self { app, by_component })
    }

    /// An application variable's value, for the settings the host itself reads (`api_keys`,
    /// the per-key limits).
    pub fn app(&self, name: &str) -> Option<&str> {
        self.app.get(name).map(String::as_str)
    }

    /// A template over application variables, rendered; `None` when one it reads has no
    /// value.
    pub fn render(&self, template: &Template) -> Option<String> {
        render(&self.app, template)
    }

    /// The rendered variables of one component.
    pub fn for_component(&self, id: &str) -> Arc<BTreeMap<String, String>> {
        self.by_component.get(id).cloned().unwrap_or_default()
    }
}

fn render(app: &HashMap<String, String>, template: &Template) -> Option<String> {
    let mut value = String::new();
    for part in &template.0 {
        match part {
            TemplatePart::Literal(s) => value.push_str(s),
            TemplatePart::Variable(v) => value.push_str(app.get(v)?),
        }
    }
    Some(value)
}

/// Per-instance view: the component's own variables.
pub struct VariablesView<'a>(pub &'a BTreeMap<String, String>);

/// Marker tying the bindings to [`VariablesView`].
pub struct Variables;

impl HasData for Variables {
    type Data<'a> = VariablesView<'a>;
}

/// Adds the interface to a linker.
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut wasmtime::component::Linker<T>,
    view: fn(&mut T) -> VariablesView<'_>,
) -> wasmtime::Result<()> {
    vars::add_to_linker::<T, Variables>(linker, view)?;
    sync_vars::add_to_linker::<T, Variables>(linker, view)
}

impl sync_vars::Host for VariablesView<'_> {
    fn get(&mut self, name: String) -> wasmtime::Result<Result<String, SyncVarError>> {
        if !is_variable_name(&name) {
            return Ok(Err(SyncVarError::InvalidName(name)));
        }
        Ok(self
            .0
            .get(&name)
            .cloned()
            .ok_or(SyncVarError::Undefined(name)))
    }
}

impl vars::Host for VariablesView<'_> {}

impl<T> vars::HostWithStore<T> for Variables {
    async fn get(
        accessor: &wasmtime::component::Accessor<T, Self>,
        name: String,
    ) -> wasmtime::Result<Result<String, VarError>> {
        Ok(accessor.with(|mut access| {
            let view = access.get();
            if !is_variable_name(&name) {
                return Err(VarError::InvalidName(name));
            }
            view.0.get(&name).cloned().ok_or(VarError::Undefined(name))
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn environment_overrides_defaults_and_required_ones_must_be_set() {
        let text = r#"
spin_manifest_version = 2
[application]
name = "demo"
[variables]
greeting = { default = "hello" }
token = { required = true, secret = true }
[[trigger.http]]
route = "/x"
component = "x"
[component.x]
source = "x.wasm"
[component.x.variables]
greeting = "{{ greeting }}!"
token = "{{ token }}"
"#;
        let m = Manifest::parse(Path::new("spin.toml"), text).unwrap();
        let err = ResolvedVariables::resolve(&m, |_| None).unwrap_err();
        assert!(err.to_string().contains("SPIN_VARIABLE_TOKEN"), "{err}");

        let env = |k: &str| match k {
            "SPIN_VARIABLE_TOKEN" => Some("t0k".to_string()),
            "SPIN_VARIABLE_GREETING" => Some("hi".to_string()),
            _ => None,
        };
        let r = ResolvedVariables::resolve(&m, env).unwrap();
        let x = r.for_component("x");
        assert_eq!(x["greeting"], "hi!");
        assert_eq!(x["token"], "t0k");

        let r =
            ResolvedVariables::resolve(&m, |k| (k == "SPIN_VARIABLE_TOKEN").then(|| "t".into()))
                .unwrap();
        assert_eq!(r.for_component("x")["greeting"], "hello!");
    }
}
