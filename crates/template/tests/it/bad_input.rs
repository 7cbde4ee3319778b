//! Input the rewriter refuses: one error each, naming the file and what to do.

use crate::util::*;
use acr_template::{rewrite_template, RewriteOptions, TemplateError, TemplateInput};

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

#[test]
fn a_parameters_file_that_is_not_json_is_named_as_the_parameters_file() {
    let input = TemplateInput::new("t.json", fixture("standard-export.json"))
        .with_parameters("p.json", "{ \"parameters\": ");
    let e = rewrite_template(&input, &opts()).unwrap_err();
    assert!(matches!(e, TemplateError::BadParameters { .. }), "{e}");
    let text = e.to_string();
    assert!(
        text.starts_with("p.json is not a deployment parameters file (not JSON: line 1"),
        "{text}"
    );
    assert!(
        text.ends_with("give the parameters.json of the export"),
        "{text}"
    );
    assert!(!text.contains("template.json"), "{text}");
}

#[test]
fn an_invalid_new_name_is_refused_before_anything_is_rewritten() {
    for name in ["new-acr01", "acr", "newacr01_x", &"a".repeat(51)] {
        let o = RewriteOptions {
            name: name.to_string(),
            ..opts()
        };
        let e = rewrite_template(&TemplateInput::new("t", fixture("symbolic-names.json")), &o)
            .unwrap_err();
        assert!(matches!(
            e,
            TemplateError::BadOption {
                option: "--name",
                ..
            }
        ));
        assert!(e.to_string().contains("5 to 50 letters and digits"), "{e}");
    }
}

#[test]
fn a_subnet_that_is_not_a_subnet_resource_id_is_refused() {
    let good = "/subscriptions/2222/resourceGroups/net-east/providers/Microsoft.Network/virtualNetworks/vnet-east/subnets/snet-build";
    for bad in [
        "snet-build",
        "/subscriptions/2222/resourceGroups/net-east/providers/Microsoft.Network/virtualNetworks/vnet-east",
        "/subscriptions/2222/resourceGroups/net-east/providers/Microsoft.Network/networkSecurityGroups/nsg/subnets/x",
        "/subscriptions/2222/resourceGroups//providers/Microsoft.Network/virtualNetworks/vnet-east/subnets/snet-build",
    ] {
        let o = RewriteOptions {
            subnets: vec![good.into(), bad.into()],
            ..opts()
        };
        let e = rewrite_template(&TemplateInput::new("t", fixture("standard-export.json")), &o)
            .unwrap_err();
        assert!(matches!(e, TemplateError::BadOption { option: "--subnet", .. }), "{bad}");
        assert!(e.to_string().contains("is not a subnet resource id"), "{e}");
    }
    // Keywords in any case are the same id.
    let o = RewriteOptions {
        subnets: vec![good.to_ascii_lowercase()],
        ..opts()
    };
    assert!(rewrite_template(
        &TemplateInput::new("t", fixture("standard-export.json")),
        &o
    )
    .is_ok());
}

#[test]
fn a_parameters_file_in_a_zip_that_is_not_text_is_named_as_the_parameters_file() {
    let bytes = std::fs::read(fixture_path("parameters-not-utf8.zip")).unwrap();
    let e = TemplateInput::from_bytes("export.zip", &bytes).unwrap_err();
    assert!(matches!(e, TemplateError::BadParameters { .. }), "{e}");
    assert!(
        e.to_string().starts_with(
            "export.zip:export/parameters.json is not a deployment parameters file (not UTF-8 text)"
        ),
        "{e}"
    );
}
