//! `copy` loops the rewriter cannot write one value into: a registry loop, and network rules
//! built by a property `copy` (Bicep `for`).

use crate::util::*;
use acr_template::{rules, RewriteOptions, Severity};

const TARGET_SUBNET: &str = "/subscriptions/22222222-2222-2222-2222-222222222222/resourceGroups/rg-weu/providers/Microsoft.Network/virtualNetworks/vnet-weu/subnets/build";

#[test]
fn a_registry_copy_loop_is_blocking_and_keeps_its_names() {
    let out = rewrite("registry-copy-loop.json", &opts());
    let f = with_rule(&out, rules::REGISTRY_COPY_LOOP);
    assert_eq!(f.len(), 1, "{:?}", out.findings);
    assert_eq!(f[0].severity, Severity::Blocking);
    assert_eq!(f[0].path, "/resources/0/copy");
    assert!(f[0].fix.contains("one registry at a time"), "{}", f[0].fix);
    // No single literal name repeated by the loop.
    let v = json(&out.template);
    assert_eq!(
        v["resources"][0]["name"],
        "[parameters('names')[copyIndex()]]"
    );
    assert!(with_rule(&out, rules::NAME_EXPRESSION_REPLACED).is_empty());
}

#[test]
fn network_rules_built_by_a_property_copy_are_reported_with_the_values_they_read() {
    let out = rewrite("network-rules-copy.json", &opts());
    let vnet = with_rule(&out, rules::VNET_RULES_SOURCE_SUBNET);
    assert_eq!(vnet.len(), 1, "{:?}", out.findings);
    assert_eq!(vnet[0].severity, Severity::Blocking);
    assert!(
        vnet[0].message.contains("parameter subnetIds")
            && vnet[0].message.contains("vnet-neu/subnets/build"),
        "{}",
        vnet[0].message
    );
    let ip = with_rule(&out, rules::IP_RULES_CARRIED);
    assert_eq!(ip.len(), 1, "{:?}", out.findings);
    assert!(ip[0].message.contains("203.0.113.10"), "{}", ip[0].message);
}

#[test]
fn subnet_replaces_a_virtual_network_rules_copy_instead_of_adding_a_second_definition() {
    let o = RewriteOptions {
        subnets: vec![TARGET_SUBNET.into()],
        ..opts()
    };
    let out = rewrite("network-rules-copy.json", &o);
    let v = json(&out.template);
    let nrs = &v["resources"][0]["properties"]["networkRuleSet"];
    assert_eq!(
        nrs["virtualNetworkRules"],
        serde_json::json!([{"action": "Allow", "id": TARGET_SUBNET}])
    );
    // Only the ipRules loop is left in the copy array.
    let copies = nrs["copy"].as_array().unwrap();
    assert_eq!(copies.len(), 1);
    assert_eq!(copies[0]["name"], "ipRules");
    assert!(with_rule(&out, rules::VNET_RULES_SOURCE_SUBNET).is_empty());
    let set = with_rule(&out, rules::VNET_RULES_SET);
    assert!(
        set.iter()
            .any(|f| f.message.contains("parameter subnetIds")),
        "{set:?}"
    );
}
