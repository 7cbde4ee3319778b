//! Input the rewriter refuses: one error each, naming the file and what to do.

use crate::util::*;
use acr_template::{rewrite_template, TemplateError, TemplateInput};

fn err(text: &str) -> TemplateError {
    rewrite_template(&TemplateInput::new("in.json", text), &opts()).unwrap_err()
}

#[test]
fn not_json() {
    let e = err("{ \"a\": ");
    assert!(matches!(e, TemplateError::NotJson { .. }));
    assert!(e.to_string().starts_with("in.json is not JSON (line 1"));
}

#[test]
fn json_that_is_not_a_template() {
    assert!(matches!(err("[1, 2]"), TemplateError::NotTemplate { .. }));
    assert!(matches!(
        err(r#"{"parameters": {"registryName": "x"}, "responses": {}}"#),
        TemplateError::NotTemplate { .. }
    ));
}

#[test]
fn a_template_without_a_registry() {
    let e = err(
        r#"{"$schema": "x", "resources": [{"type": "Microsoft.Storage/storageAccounts", "name": "a"}]}"#,
    );
    assert!(matches!(e, TemplateError::NoRegistry { .. }));
    assert!(e
        .to_string()
        .contains("give the template that creates the registry"));
}

#[test]
fn two_registries_without_only() {
    let e = err(&fixture("two-registries.json"));
    assert!(e
        .to_string()
        .contains("defines 2 registries (firstacr01, secondacr01); choose one with --only NAME"));
    let mut o = opts();
    o.only = Some("third".into());
    let e =
        rewrite_template(&TemplateInput::new("t", fixture("two-registries.json")), &o).unwrap_err();
    assert!(matches!(e, TemplateError::OnlyNotFound { .. }));
}

#[test]
fn a_zip_without_template_json() {
    let bytes = std::fs::read(fixture_path("no-template.zip")).unwrap();
    let e = TemplateInput::from_bytes("x.zip", &bytes).unwrap_err();
    assert!(e.to_string().contains("holds no template.json"));
}

#[test]
fn errors_are_one_line() {
    for e in [err("nope"), err("{}"), err(&fixture("two-registries.json"))] {
        assert!(!e.to_string().contains('\n'));
    }
}
