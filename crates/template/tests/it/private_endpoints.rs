//! `--private-endpoint` and `--private-dns-zone`: the new registry's own private endpoint, and the
//! DNS zone group that writes its records, added to the template.

use crate::util::*;
use acr_template::{rewrite_template, rules, RewriteOptions, Severity, TemplateInput};

const SUBNET: &str =
    "/subscriptions/1111/resourceGroups/net-we/providers/Microsoft.Network/virtualNetworks/vnet-we/subnets/endpoints";
const ZONE: &str =
    "/subscriptions/1111/resourceGroups/dns/providers/Microsoft.Network/privateDnsZones/privatelink.azurecr.io";

fn with_endpoint(zone: Option<&str>) -> RewriteOptions {
    RewriteOptions {
        private_endpoint_subnet: Some(SUBNET.into()),
        private_dns_zone: zone.map(str::to_string),
        ..opts()
    }
}

/// The resources of this type in a rewritten template (an array or, in languageVersion 2.0, an
/// object of symbolic names).
fn of_type(template: &serde_json::Value, kind: &str) -> Vec<serde_json::Value> {
    let resources: Vec<&serde_json::Value> = match &template["resources"] {
        serde_json::Value::Array(items) => items.iter().collect(),
        serde_json::Value::Object(members) => members.values().collect(),
        _ => Vec::new(),
    };
    resources
        .into_iter()
        .filter(|r| r["type"] == kind)
        .cloned()
        .collect()
}

#[test]
fn a_registry_reached_only_privately_gets_its_own_endpoint_in_the_target_subnet_and_zone() {
    let out = rewrite("private-access-only.json", &with_endpoint(Some(ZONE)));
    let v = json(&out.template);
    let endpoints = of_type(&v, "Microsoft.Network/privateEndpoints");
    assert_eq!(endpoints.len(), 1, "{}", out.template);
    let pe = &endpoints[0];
    assert_eq!(pe["name"], "newacr01-pe");
    assert_eq!(pe["location"], "westeurope");
    assert_eq!(pe["properties"]["subnet"]["id"], SUBNET);
    let connection = &pe["properties"]["privateLinkServiceConnections"][0]["properties"];
    assert_eq!(connection["groupIds"], serde_json::json!(["registry"]));
    assert_eq!(
        connection["privateLinkServiceId"],
        "[resourceId('Microsoft.ContainerRegistry/registries', parameters('registries_newacr01_name'))]"
    );
    assert_eq!(
        pe["dependsOn"][0],
        "[resourceId('Microsoft.ContainerRegistry/registries', parameters('registries_newacr01_name'))]"
    );
    let groups = of_type(
        &v,
        "Microsoft.Network/privateEndpoints/privateDnsZoneGroups",
    );
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0]["name"], "newacr01-pe/default");
    assert_eq!(
        groups[0]["properties"]["privateDnsZoneConfigs"][0]["properties"]["privateDnsZoneId"],
        ZONE
    );
    assert_eq!(
        groups[0]["dependsOn"][0],
        "[resourceId('Microsoft.Network/privateEndpoints', 'newacr01-pe')]"
    );
    // The source's connection goes, the new endpoint replaces it: nothing left to do by hand.
    let added = with_rule(&out, rules::PRIVATE_ENDPOINT_ADDED);
    assert_eq!(added.len(), 1);
    assert_eq!(added[0].severity, Severity::Info);
    assert!(added[0].message.contains(ZONE), "{}", added[0].message);
    let recreate = with_rule(&out, rules::PRIVATE_ENDPOINT_RECREATE);
    assert_eq!(recreate.len(), 1);
    assert_eq!(recreate[0].severity, Severity::Info);
    assert!(recreate[0].fix.contains("--private-endpoint adds"));
    assert!(with_rule(&out, rules::PUBLIC_ACCESS_NO_PRIVATE_ENDPOINT).is_empty());
    assert!(with_rule(&out, rules::PRIVATE_ENDPOINT_NO_DNS).is_empty());
    assert!(!out.has_blocking(), "{:#?}", out.findings);
    assert!(!out.template.contains("contosoprivate"));
}

#[test]
fn without_the_option_the_disabled_public_access_is_reported_as_unreachable() {
    let out = rewrite("private-access-only.json", &opts());
    assert!(of_type(&json(&out.template), "Microsoft.Network/privateEndpoints").is_empty());
    assert_eq!(
        with_rule(&out, rules::PRIVATE_ENDPOINT_RECREATE)[0].severity,
        Severity::Warning
    );
    assert_eq!(
        with_rule(&out, rules::PUBLIC_ACCESS_NO_PRIVATE_ENDPOINT).len(),
        1
    );
}

#[test]
fn an_endpoint_without_a_zone_is_added_and_its_missing_records_are_a_warning() {
    let out = rewrite("private-access-only.json", &with_endpoint(None));
    let v = json(&out.template);
    assert_eq!(of_type(&v, "Microsoft.Network/privateEndpoints").len(), 1);
    assert!(of_type(
        &v,
        "Microsoft.Network/privateEndpoints/privateDnsZoneGroups"
    )
    .is_empty());
    let f = with_rule(&out, rules::PRIVATE_ENDPOINT_NO_DNS);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].severity, Severity::Warning);
    assert!(f[0].fix.contains("--private-dns-zone"), "{}", f[0].fix);
}

#[test]
fn symbolic_name_templates_get_symbolic_members_and_dependencies() {
    let out = rewrite("symbolic-names.json", &with_endpoint(Some(ZONE)));
    let v = json(&out.template);
    let pe = &v["resources"]["privateEndpoint_newacr01"];
    assert_eq!(pe["type"], "Microsoft.Network/privateEndpoints");
    assert_eq!(pe["dependsOn"], serde_json::json!(["acr"]));
    let group = &v["resources"]["privateEndpoint_newacr01_dnsZoneGroup"];
    assert_eq!(
        group["dependsOn"],
        serde_json::json!(["privateEndpoint_newacr01"])
    );
}

#[test]
fn an_endpoint_on_a_standard_registry_needs_premium() {
    let template = r#"{"contentVersion": "1.0.0.0", "resources": [{"type": "Microsoft.ContainerRegistry/registries", "apiVersion": "2023-07-01", "name": "oldacr01", "location": "eastus", "sku": {"name": "Standard"}, "properties": {}}]}"#;
    let out = rewrite_template(
        &TemplateInput::new("t.json", template),
        &with_endpoint(Some(ZONE)),
    )
    .unwrap();
    let f = with_rule(&out, rules::PREMIUM_REQUIRED);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].severity, Severity::Blocking);
    assert!(
        f[0].message.contains("private endpoints"),
        "{}",
        f[0].message
    );
}

#[test]
fn a_template_of_children_only_leaves_the_option_unapplied_and_says_so() {
    let out = rewrite("children-only.json", &with_endpoint(None));
    assert!(of_type(&json(&out.template), "Microsoft.Network/privateEndpoints").is_empty());
    let ignored = with_rule(&out, rules::OPTION_IGNORED);
    assert!(
        ignored
            .iter()
            .any(|f| f.message.contains("--private-endpoint")),
        "{:#?}",
        out.findings
    );
}

#[test]
fn a_subnet_or_zone_that_is_not_one_is_refused_before_anything_is_written() {
    let input = TemplateInput::new("t.json", fixture("private-access-only.json"));
    let refused =
        |options: RewriteOptions| rewrite_template(&input, &options).unwrap_err().to_string();
    let e = refused(RewriteOptions {
        private_endpoint_subnet: Some("/subscriptions/1111/resourceGroups/net".into()),
        ..opts()
    });
    assert!(
        e.contains("--private-endpoint") && e.contains("is not a subnet resource id"),
        "{e}"
    );
    let e = refused(RewriteOptions {
        private_dns_zone: Some(ZONE.into()),
        ..opts()
    });
    assert!(
        e.contains("--private-dns-zone") && e.contains("--private-endpoint"),
        "{e}"
    );
    let other_zone = ZONE.replace("privatelink.azurecr.io", "privatelink.vaultcore.azure.net");
    let e = refused(with_endpoint(Some(&other_zone)));
    assert!(
        e.contains("is not the resource id of a privatelink.azurecr.io zone"),
        "{e}"
    );
}
