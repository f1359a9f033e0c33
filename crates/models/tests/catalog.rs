//! Catalog errors name the file and the field at fault.

use songforge_models::{Catalog, CatalogError};
use std::path::Path;

const GOOD_FILE: &str = r#"{ path = "model.bin", size = 3, sha256 = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" }"#;

fn model(fields: &str) -> String {
    format!(
        "[[model]]\nid = \"m\"\ntask = \"t\"\nformat = \"gguf\"\ngraph = \"llm\"\nlicence = \"MIT\"\n{fields}"
    )
}

fn field_error(text: &str) -> (String, String) {
    match Catalog::parse(Path::new("models/test-catalog.toml"), text) {
        Err(e @ CatalogError::Field { .. }) => {
            let message = e.to_string();
            assert!(
                message.starts_with("models/test-catalog.toml: field `"),
                "{message}"
            );
            let CatalogError::Field { field, problem, .. } = e else {
                unreachable!()
            };
            (field, problem)
        }
        other => panic!("expected a field error, got {other:?}"),
    }
}

#[test]
fn a_default_model_without_a_pinned_hash_is_refused() {
    let text = model(
        "default = true\nfiles = [{ path = \"model.bin\", size = 3 }]\n\
         [model.sources.hf]\nrepo = \"o/r\"\n",
    );
    let (field, problem) = field_error(&text);
    assert_eq!(field, "model[0].files[0].sha256");
    assert!(problem.contains("pinned"), "{problem}");
}

#[test]
fn a_wrong_type_names_its_field_and_line() {
    let text = model(
        "default = false\nfiles = [\n  { path = \"model.bin\", size = \"big\" },\n]\n\
         [model.sources.hf]\nrepo = \"o/r\"\n",
    );
    let (field, problem) = field_error(&text);
    assert_eq!(field, "model[0].files[0].size");
    assert!(problem.contains("line 9"), "{problem}");
}

#[test]
fn an_unknown_format_names_the_format_field() {
    let text = model(&format!("default = true\nfiles = [{GOOD_FILE}]\n")).replace("gguf", "pickle");
    let (field, problem) = field_error(&text);
    assert_eq!(field, "model[0].format");
    assert!(problem.contains("pickle"), "{problem}");
}

#[test]
fn a_misspelt_field_is_named() {
    let text = model(&format!(
        "default = true\nlicense = \"MIT\"\nfiles = [{GOOD_FILE}]\n"
    ));
    let (field, problem) = field_error(&text);
    assert_eq!(field, "model[0].license");
    assert!(problem.contains("unknown field"), "{problem}");
}

#[test]
fn a_missing_field_is_named() {
    let text = "[[model]]\nid = \"m\"\ntask = \"t\"\nformat = \"gguf\"\ngraph = \"llm\"\n\
                default = true\nfiles = []\n";
    let (field, problem) = field_error(text);
    assert_eq!(field, "model[0]");
    assert!(problem.contains("licence"), "{problem}");
}

#[test]
fn a_package_source_must_cover_every_file() {
    let text = model(&format!(
        "default = true\nfiles = [{GOOD_FILE}]\n[model.sources.pip]\npackage = \"p\"\n\
         version = \"1\"\nmembers = {{ \"other.bin\" = \"p/other.bin\" }}\n"
    ));
    let (field, problem) = field_error(&text);
    assert_eq!(field, "model[0].sources.pip.members");
    assert!(problem.contains("model.bin"), "{problem}");
}

#[test]
fn ids_and_file_names_must_be_plain_names() {
    let text = model(&format!(
        "default = true\nfiles = [{GOOD_FILE}]\n[model.sources.hf]\nrepo = \"o/r\"\n"
    ));
    let (field, _) = field_error(&text.replace("id = \"m\"", "id = \"../m\""));
    assert_eq!(field, "model[0].id");
    let (field, _) = field_error(&text.replace("\"model.bin\"", "\"sub/model.bin\""));
    assert_eq!(field, "model[0].files[0].path");
    let (field, problem) = field_error(&text.replace("ba7816bf", "BA7816BF"));
    assert_eq!(field, "model[0].files[0].sha256");
    assert!(problem.contains("hex"), "{problem}");
}

#[test]
fn a_syntax_error_names_the_file_and_line() {
    let err = Catalog::parse(Path::new("c.toml"), "[[model]]\nid = \n").unwrap_err();
    assert!(matches!(err, CatalogError::Syntax { .. }), "{err:?}");
    let message = err.to_string();
    assert!(message.starts_with("c.toml: "), "{message}");
    assert!(message.contains("line 2"), "{message}");
}

#[test]
fn an_unreadable_file_is_named() {
    let err = Catalog::load(Path::new("/nonexistent/catalog.toml")).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("/nonexistent/catalog.toml: cannot read it")
    );
}
