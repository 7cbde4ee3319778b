//! Replications made by a `copy` loop over an array of regions (`parameters('x')[copyIndex()]`):
//! the array is read where the deployment takes it from, and the new home region in it is
//! removed or reported.

use crate::util::*;
use acr_template::{rewrite_template, rules, RewriteOptions, Rewritten, Severity, TemplateInput};

/// contosoold01 (eastus; replica loop over westeurope, northeurope) moves to westeurope.
fn to_west(template: &str, parameters: Option<&str>) -> Rewritten {
    let mut input = TemplateInput::new("replica-loop.json", template);
    if let Some(p) = parameters {
        input = input.with_parameters("replica-loop.parameters.json", p);
    }
    rewrite_template(&input, &opts()).unwrap()
}

/// The fixture without the webhook loop that reads the same array.
fn replications_only() -> String {
    let text = fixture("replica-loop.json");
    let start = text
        .find(",\n    {\n      \"type\": \"Microsoft.ContainerRegistry/registries/webhooks\"")
        .unwrap();
    let end = text.rfind("\n  ]\n}").unwrap();
    format!("{}{}", &text[..start], &text[end..])
}

#[test]
fn the_new_home_region_in_a_loop_array_that_other_resources_read_is_blocking_where_it_is_set() {
    let out = to_west(&fixture("replica-loop.json"), None);
    let f = with_rule(&out, rules::REPLICATION_HOME_IN_LOOP);
    assert_eq!(f.len(), 1, "{:#?}", out.findings);
    assert_eq!(f[0].severity, Severity::Blocking);
    assert_eq!(f[0].path, "/parameters/replicaLocations/defaultValue/0");
    assert!(f[0].message.contains("parameter replicaLocations's default, whose element 0 (/parameters/replicaLocations/defaultValue/0) is westeurope, the new home region"), "{}", f[0].message);
    assert!(f[0]
        .fix
        .starts_with("remove westeurope from parameter replicaLocations's default"));
    // Left as it was for the hand edit, and no generic warning besides.
    assert!(out.template.contains("[ \"westeurope\", \"northeurope\" ]"));
    assert!(with_rule(&out, rules::REPLICATION_LOCATION_UNKNOWN).is_empty());
}

#[test]
fn the_new_home_region_in_the_parameters_file_array_is_blocking_there() {
    let params = fixture("replica-loop.parameters.json");
    let out = to_west(&fixture("replica-loop.json"), Some(&params));
    let f = with_rule(&out, rules::REPLICATION_HOME_IN_LOOP);
    assert_eq!(f.len(), 1, "{:#?}", out.findings);
    assert_eq!(
        f[0].path,
        "(parameters file)/parameters/replicaLocations/value/1"
    );
    assert!(f[0]
        .message
        .contains("parameter replicaLocations's value in the parameters file"));
}

#[test]
fn the_new_home_region_is_removed_from_a_literal_default_only_the_loop_reads() {
    let out = to_west(&replications_only(), None);
    assert!(with_rule(&out, rules::REPLICATION_HOME_IN_LOOP).is_empty());
    let f = with_rule(&out, rules::REPLICATION_HOME_REMOVED);
    assert_eq!(f.len(), 1, "{:#?}", out.findings);
    assert_eq!(f[0].severity, Severity::Info);
    assert_eq!(f[0].path, "/parameters/replicaLocations/defaultValue/0");
    let v = json(&out.template);
    assert_eq!(
        v["parameters"]["replicaLocations"]["defaultValue"],
        serde_json::json!(["northeurope"])
    );
}

#[test]
fn a_dropped_region_is_removed_from_the_loop_array_too() {
    let options = RewriteOptions {
        drop_replications: vec!["northeurope".into()],
        ..opts()
    };
    let out = rewrite_template(&TemplateInput::new("t", replications_only()), &options).unwrap();
    let v = json(&out.template);
    assert_eq!(
        v["parameters"]["replicaLocations"]["defaultValue"],
        serde_json::json!([])
    );
    assert_eq!(with_rule(&out, rules::REPLICATION_DROPPED).len(), 1);
    assert!(
        with_rule(&out, rules::OPTION_IGNORED).is_empty(),
        "{:#?}",
        out.findings
    );
}

#[test]
fn a_region_list_given_only_at_deployment_says_so_and_what_to_check() {
    let text = fixture("replica-loop.json").replace(
        "\"replicaLocations\": { \"type\": \"array\", \"defaultValue\": [ \"westeurope\", \"northeurope\" ] }",
        "\"replicaLocations\": { \"type\": \"array\" }",
    );
    let out = to_west(&text, None);
    let f = with_rule(&out, rules::REPLICATION_LOCATION_UNKNOWN);
    assert_eq!(f.len(), 1, "{:#?}", out.findings);
    assert_eq!(
        f[0].message,
        "the replication's region is [parameters('replicaLocations')[copyIndex()]]: parameter replicaLocations has no value in the template: the deployment gives it"
    );
    assert!(f[0]
        .fix
        .starts_with("make sure it never gives westeurope (the new home region"));
}

/// A webhook loop over the replicas' regions is in replica regions: the fix does not tell it to
/// move to the home region.
#[test]
fn a_webhook_in_the_replicas_regions_is_not_told_to_move_to_the_home_region() {
    let out = to_west(&fixture("replica-loop.json"), None);
    let f = with_rule(&out, rules::LOCATION_EXPRESSION_KEPT);
    let hook = f
        .iter()
        .find(|f| f.path == "/resources/2/location")
        .unwrap();
    assert!(hook.fix.starts_with("nothing to do if [parameters('replicaLocations')[copyIndex()]] gives the regions of kept replicas"), "{}", hook.fix);
    assert!(!hook.fix.contains("deploy into a resource group"));
}
