//! Nested deployments: a nested template of the default (outer) scope reads the outer template's
//! parameters, as ARM evaluates it; one of inner scope reads its own.

use crate::util::*;
use acr_template::{rules, RewriteOptions, Severity, TemplateInput};

fn east() -> RewriteOptions {
    RewriteOptions {
        name: "fabrikameus01".into(),
        location: "eastus".into(),
        ..Default::default()
    }
}

#[test]
fn a_registry_in_a_nested_template_of_outer_scope_is_renamed_through_the_outer_parameters() {
    let out = rewrite("nested-outer-scope.json", &east());
    assert_eq!(out.old_name.as_deref(), Some("fabrikamweu01"));
    let v = json(&out.template);
    assert_eq!(
        v["parameters"]["registryName"]["defaultValue"],
        "fabrikameus01"
    );
    assert_eq!(v["parameters"]["registryRegion"]["defaultValue"], "eastus");
    // The nested resources keep their expressions: they read the outer parameters.
    let inner = &v["resources"][0]["properties"]["template"]["resources"];
    assert_eq!(inner[0]["name"], "[parameters('registryName')]");
    assert_eq!(
        inner[1]["name"],
        "[concat(parameters('registryName'), '/release')]"
    );
    // The login server elsewhere follows.
    assert_eq!(
        v["resources"][1]["properties"]["DOCKER_REGISTRY_SERVER_URL"],
        "https://fabrikameus01.azurecr.io"
    );
    assert!(!contains_word(&out.template, "fabrikamweu01"));
    let nested = with_rule(&out, rules::NESTED_DEPLOYMENT);
    assert_eq!(nested.len(), 1);
    assert!(
        nested[0].message.contains("outer scope")
            && nested[0].message.contains("rewritten in place"),
        "{}",
        nested[0].message
    );
    assert!(with_rule(&out, rules::NAME_NOT_SET).is_empty());
    assert!(!out.has_blocking(), "{:#?}", out.findings);
}

#[test]
fn the_parameters_file_gives_the_outer_parameters_of_a_nested_template_of_outer_scope() {
    let input = TemplateInput::new("t.json", fixture("nested-outer-scope.json")).with_parameters(
        "p.json",
        r#"{"parameters": {"registryName": {"value": "fabrikamweu01"}, "registryRegion": {"value": "westeurope"}}}"#,
    );
    let out = acr_template::rewrite_template(&input, &east()).unwrap();
    let params = json(out.parameters.as_deref().unwrap());
    assert_eq!(
        params["parameters"]["registryName"]["value"],
        "fabrikameus01"
    );
    assert_eq!(params["parameters"]["registryRegion"]["value"], "eastus");
}

#[test]
fn a_name_parameter_nothing_declares_is_blocking_and_not_claimed_as_rewritten() {
    let out = rewrite("nested-inner-undeclared.json", &east());
    assert_eq!(out.old_name, None);
    let f = with_rule(&out, rules::NAME_NOT_SET);
    assert_eq!(f.len(), 1, "{:#?}", out.findings);
    assert_eq!(f[0].severity, Severity::Blocking);
    assert_eq!(
        f[0].path,
        "/resources/0/properties/template/resources/0/name"
    );
    assert!(
        f[0].fix.contains("registryName=fabrikameus01"),
        "{}",
        f[0].fix
    );
    let nested = with_rule(&out, rules::NESTED_DEPLOYMENT);
    assert!(
        nested[0].message.contains("inner scope")
            && nested[0].message.contains("its name was not rewritten")
            && !nested[0].message.contains("rewritten in place"),
        "{}",
        nested[0].message
    );
    // The outer parameter of the same name is someone else's: untouched.
    assert_eq!(
        json(&out.template)["parameters"]["registryName"]["defaultValue"],
        "fabrikamweu01"
    );
}

/// A registry whose location is `location`, in a nested template of inner scope whose own
/// parameters and variables are `declarations`, deployed with `given` as its `parameters`.
fn inner_registry(location: &str, declarations: &str, given: &str) -> String {
    format!(
        r#"{{"$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#", "contentVersion": "1.0.0.0",
  "parameters": {{"region": {{"type": "string", "defaultValue": "[resourceGroup().location]"}}}},
  "resources": [{{"type": "Microsoft.Resources/deployments", "apiVersion": "2022-09-01", "name": "registry",
    "properties": {{"mode": "Incremental", "expressionEvaluationOptions": {{"scope": "inner"}}, "parameters": {{{given}}},
      "template": {{"$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#", "contentVersion": "1.0.0.0", {declarations},
        "resources": [{{"type": "Microsoft.ContainerRegistry/registries", "apiVersion": "2023-07-01", "name": "fabrikamweu01", "location": "{location}", "sku": {{"name": "Standard"}}, "properties": {{}}}}]}}}}}}]}}"#
    )
}

#[test]
fn a_location_kept_as_an_expression_in_a_nested_template_is_reported_where_its_value_is() {
    let cases = [
        // The nested template's own parameter, its default an expression.
        (
            inner_registry(
                "[parameters('location')]",
                r#""parameters": {"location": {"type": "string", "defaultValue": "[resourceGroup().location]"}}"#,
                "",
            ),
            "/resources/0/properties/template/parameters/location/defaultValue",
        ),
        // The value the deployment gives it, the outer template's parameter: followed to that
        // parameter's default, where the expression is.
        (
            inner_registry(
                "[parameters('location')]",
                r#""parameters": {"location": {"type": "string"}}"#,
                r#""location": {"value": "[parameters('region')]"}"#,
            ),
            "/parameters/region/defaultValue",
        ),
        // The value the deployment gives it, an expression of the outer template.
        (
            inner_registry(
                "[parameters('location')]",
                r#""parameters": {"location": {"type": "string"}}"#,
                r#""location": {"value": "[resourceGroup().location]"}"#,
            ),
            "/resources/0/properties/parameters/location/value",
        ),
        // The whole parameter given as one expression by the deployment.
        (
            inner_registry(
                "[parameters('location')]",
                r#""parameters": {"location": {"type": "string", "defaultValue": "[resourceGroup().location]"}}"#,
                r#""location": "[createObject('value', parameters('region'))]""#,
            ),
            "/resources/0/properties/parameters/location",
        ),
        // The nested template's own variable.
        (
            inner_registry(
                "[variables('loc')]",
                r#""variables": {"loc": "[resourceGroup().location]"}"#,
                "",
            ),
            "/resources/0/properties/template/variables/loc",
        ),
    ];
    for (template, path) in cases {
        let out = acr_template::rewrite_template(&TemplateInput::new("t.json", template), &east())
            .unwrap();
        let kept = with_rule(&out, rules::LOCATION_EXPRESSION_KEPT);
        let paths: Vec<&str> = kept.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(paths, [path], "{:#?}", out.findings);
        // The path points at the expression the finding names.
        let v = json(&out.template);
        let value = v.pointer(path).and_then(|v| v.as_str()).unwrap();
        assert!(kept[0].message.contains(value), "{}", kept[0].message);
    }
}

#[test]
fn a_key_parameter_or_variable_of_a_nested_template_set_by_key_uri_is_reported_where_it_is() {
    let key_uri = "https://kv-east.vault.azure.net/keys/acr/0123456789abcdef0123456789abcdef";
    let options = RewriteOptions {
        key_uri: Some(key_uri.into()),
        ..east()
    };
    for (declarations, key, path) in [
        (
            r#""parameters": {"keyUri": {"type": "string", "defaultValue": "https://kv-west.vault.azure.net/keys/acr/1"}}"#,
            "[parameters('keyUri')]",
            "/resources/0/properties/template/parameters/keyUri",
        ),
        (
            r#""variables": {"keyUri": "https://kv-west.vault.azure.net/keys/acr/1"}"#,
            "[variables('keyUri')]",
            "/resources/0/properties/template/variables/keyUri",
        ),
    ] {
        let template = inner_registry("westeurope", declarations, "").replace(
            r#""properties": {}}]"#,
            &format!(
                r#""properties": {{"encryption": {{"status": "enabled", "keyVaultProperties": {{"keyIdentifier": "{key}"}}}}}}}}]"#
            ),
        );
        let out = acr_template::rewrite_template(&TemplateInput::new("t.json", template), &options)
            .unwrap();
        let set = with_rule(&out, rules::KEY_URI_SET);
        let paths: Vec<&str> = set.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(paths, [path], "{:#?}", out.findings);
        assert_eq!(
            json(&out.template)
                .pointer(path)
                .map(|v| v.get("defaultValue").unwrap_or(v).clone()),
            Some(serde_json::Value::String(key_uri.into()))
        );
    }
}
