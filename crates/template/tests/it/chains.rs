//! Names and regions followed through parameters and variables to where their value is set
//! (a Bicep module's parameters, variables over parameters), and the constraints of the
//! parameters that receive them.

use crate::util::*;
use acr_template::{rules, RewriteOptions, Severity};

/// The Bicep module shape: the registry reads its own parameters, which the deployment gives as
/// `[parameters('registryName')]` and `[parameters('region')]` of the outer template.
#[test]
fn a_module_parameter_given_by_an_outer_parameter_is_set_at_the_outer_default() {
    let out = rewrite("module-parameters.json", &opts());
    let v = json(&out.template);
    assert_eq!(v["parameters"]["registryName"]["defaultValue"], "newacr01");
    assert_eq!(v["parameters"]["region"]["defaultValue"], "westeurope");
    // The deployment still passes the outer parameters: a pipeline's value still counts.
    let given = &v["resources"][1]["properties"]["parameters"];
    assert_eq!(given["name"]["value"], "[parameters('registryName')]");
    assert_eq!(given["location"]["value"], "[parameters('region')]");
    // The old name is known from the outer default: literal login servers follow the new name.
    assert_eq!(out.old_name.as_deref(), Some("contosoneu01"));
    assert_eq!(v["outputs"]["loginServer"]["value"], "newacr01.azurecr.io");
    assert_eq!(
        v["resources"][1]["properties"]["template"]["outputs"]["dataEndpoint"]["value"],
        "newacr01.westeurope.data.azurecr.io"
    );
    // The role assignment reads the outer parameter, so it now scopes the new registry.
    assert_eq!(
        v["resources"][0]["scope"],
        "[format('Microsoft.ContainerRegistry/registries/{0}', parameters('registryName'))]"
    );
    for rule in [
        rules::LOCATION_EXPRESSION_KEPT,
        rules::NAME_EXPRESSION_REPLACED,
    ] {
        assert!(
            with_rule(&out, rule).is_empty(),
            "{rule}: {:?}",
            out.findings
        );
    }
}

#[test]
fn a_variable_over_a_variable_over_a_parameter_is_set_at_the_parameter() {
    let out = rewrite("variable-over-parameter.json", &opts());
    let v = json(&out.template);
    assert_eq!(v["parameters"]["baseName"]["defaultValue"], "newacr01");
    assert_eq!(v["parameters"]["region"]["defaultValue"], "westeurope");
    assert_eq!(v["variables"]["registryName"], "[variables('chosenName')]");
    assert_eq!(v["variables"]["chosenName"], "[parameters('baseName')]");
    assert_eq!(out.old_name.as_deref(), Some("contosoneu01"));
    assert_eq!(v["outputs"]["written"]["value"], "newacr01.azurecr.io");
    // The storage account reads the same parameters: named, for name and region.
    let shared = with_rule(&out, rules::SHARED_SETTING_CHANGED);
    for reference in ["parameters('baseName')", "parameters('region')"] {
        assert!(
            shared
                .iter()
                .any(|f| f.message.starts_with(reference) && f.message.contains("storageAccounts")),
            "{reference}: {shared:?}"
        );
    }
}

#[test]
fn a_cycle_of_variables_is_reported_where_it_is_not_followed_forever() {
    let out = rewrite("variable-over-parameter.json", &opts());
    let kept = with_rule(&out, rules::LOCATION_EXPRESSION_KEPT);
    assert_eq!(kept.len(), 1, "{:?}", out.findings);
    assert!(kept[0].path.starts_with("/variables/loop"), "{kept:?}");
    assert_eq!(kept[0].severity, Severity::Warning);
}

#[test]
fn a_new_region_missing_from_allowed_values_is_added_to_every_parameter_that_receives_it() {
    let out = rewrite("module-parameters.json", &opts());
    let v = json(&out.template);
    let inner = &v["resources"][1]["properties"]["template"]["parameters"];
    for allowed in [&v["parameters"]["region"], &inner["location"]] {
        assert_eq!(
            allowed["allowedValues"],
            serde_json::json!(["northeurope", "eastus", "westeurope"])
        );
    }
    let f = with_rule(&out, rules::PARAMETER_CONSTRAINT);
    assert_eq!(f.len(), 2, "{f:?}");
    assert!(f.iter().all(|f| f.severity == Severity::Info
        && f.message
            .contains("westeurope was added to its allowedValues")));
    // On one line, as it was written.
    assert!(out
        .template
        .contains(r#""allowedValues": ["northeurope", "eastus", "westeurope"]"#));
}

#[test]
fn a_new_name_longer_than_the_parameters_max_length_is_blocking() {
    let o = RewriteOptions {
        name: "contosowesteurope0001".into(),
        ..opts()
    };
    let out = rewrite("module-parameters.json", &o);
    let f = with_rule(&out, rules::PARAMETER_CONSTRAINT);
    let long: Vec<_> = f
        .iter()
        .filter(|f| f.severity == Severity::Blocking)
        .collect();
    assert_eq!(long.len(), 1, "{f:?}");
    assert_eq!(long[0].path, "/parameters/registryName/maxLength");
    assert!(
        long[0].message.contains("21 characters") && long[0].message.contains("maxLength 20"),
        "{}",
        long[0].message
    );
    assert!(long[0]
        .fix
        .contains("raise the maxLength of parameter registryName to 21"));
    assert!(out.has_blocking());
}
