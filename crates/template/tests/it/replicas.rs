//! Replications and the webhooks of replica regions when the home region moves.

use crate::util::*;
use acr_template::{rules, RewriteOptions, Severity};

/// fabrikamweu01 (home westeurope; replicas westeurope, swedencentral, eastus) moves to eastus.
fn to_east() -> RewriteOptions {
    RewriteOptions {
        name: "fabrikameus01".into(),
        location: "eastus".into(),
        ..Default::default()
    }
}

/// The resources of a rewritten array template whose type ends with `kind`.
fn of_kind(template: &serde_json::Value, kind: &str) -> Vec<serde_json::Value> {
    template["resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["type"].as_str().unwrap().ends_with(kind))
        .cloned()
        .collect()
}

fn hook<'a>(hooks: &'a [serde_json::Value], name: &str) -> &'a serde_json::Value {
    hooks
        .iter()
        .find(|h| h["name"].as_str().unwrap().contains(&format!("'/{name}'")))
        .unwrap()
}

#[test]
fn the_replication_of_the_old_home_region_is_removed_with_a_finding() {
    let out = rewrite("replica-webhooks.json", &to_east());
    let v = json(&out.template);
    let regions: Vec<_> = of_kind(&v, "replications")
        .iter()
        .map(|r| r["location"].as_str().unwrap().to_string())
        .collect();
    // westeurope: the old home; eastus: the new home.
    assert_eq!(regions, ["swedencentral"]);
    let f = with_rule(&out, rules::REPLICATION_OLD_HOME_REMOVED);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].severity, Severity::Info);
    assert_eq!(f[0].path, "/resources/1");
    assert!(
        f[0].fix.contains("--replication westeurope"),
        "{}",
        f[0].fix
    );
    // One finding says it: not also old-region-not-served.
    assert!(with_rule(&out, rules::OLD_REGION_NOT_SERVED).is_empty());
}

#[test]
fn replication_of_the_old_home_region_stays_a_replica_with_replication_option() {
    let mut o = to_east();
    o.add_replications = vec!["West Europe".into()];
    let out = rewrite("replica-webhooks.json", &o);
    let v = json(&out.template);
    let reps = of_kind(&v, "replications");
    let regions: Vec<_> = reps
        .iter()
        .map(|r| r["location"].as_str().unwrap())
        .collect();
    // Kept as it was, not added a second time.
    assert_eq!(regions, ["westeurope", "swedencentral"]);
    assert!(with_rule(&out, rules::REPLICATION_OLD_HOME_REMOVED).is_empty());
    assert!(with_rule(&out, rules::OLD_REGION_NOT_SERVED).is_empty());
    assert!(with_rule(&out, rules::REPLICATION_ADDED).is_empty());
}

#[test]
fn webhooks_of_kept_replicas_keep_their_region_and_the_home_one_moves() {
    let out = rewrite("replica-webhooks.json", &to_east());
    let hooks = of_kind(&json(&out.template), "webhooks");
    assert_eq!(hook(&hooks, "homehook")["location"], "eastus");
    assert_eq!(hook(&hooks, "swedenhook")["location"], "swedencentral");
    assert_eq!(hook(&hooks, "easthook")["location"], "eastus");
    assert!(with_rule(&out, rules::WEBHOOK_REGION_MOVED).is_empty());
    // Its replica stays: so does its dependency.
    assert_eq!(
        hook(&hooks, "swedenhook")["dependsOn"],
        serde_json::json!(["[resourceId('Microsoft.ContainerRegistry/registries/replications', parameters('registries_fabrikameus01_name'), 'swedencentral')]"])
    );
}

#[test]
fn a_webhook_of_a_dropped_replica_moves_home_with_a_warning_and_depends_on_the_registry() {
    let mut o = to_east();
    o.drop_replications = vec!["swedencentral".into()];
    let out = rewrite("replica-webhooks.json", &o);
    let hooks = of_kind(&json(&out.template), "webhooks");
    let sweden = hook(&hooks, "swedenhook");
    assert_eq!(sweden["location"], "eastus");
    assert_eq!(
        sweden["dependsOn"],
        serde_json::json!(["[resourceId('Microsoft.ContainerRegistry/registries', parameters('registries_fabrikameus01_name'))]"])
    );
    let f = with_rule(&out, rules::WEBHOOK_REGION_MOVED);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].severity, Severity::Warning);
    assert_eq!(f[0].path, "/resources/5/location");
    assert!(f[0].message.contains("swedenhook") && f[0].message.contains("swedencentral"));
    // A webhook that depended on the registry as well keeps that one entry only.
    assert_eq!(
        hook(&hooks, "easthook")["dependsOn"],
        serde_json::json!(["[resourceId('Microsoft.ContainerRegistry/registries', parameters('registries_fabrikameus01_name'))]"])
    );
}

#[test]
fn a_dependency_on_a_removed_replication_becomes_the_registry_symbol_in_language_version_2() {
    let out = rewrite("symbolic-replica-hook.json", &to_east());
    let v = json(&out.template);
    assert!(v["resources"].get("eastReplica").is_none());
    assert_eq!(
        v["resources"]["eastHook"]["dependsOn"],
        serde_json::json!(["registry"])
    );
    assert_eq!(v["resources"]["eastHook"]["location"], "eastus");
    // Already depending on the registry: the entry is only removed.
    assert_eq!(
        v["resources"]["eastScopeMap"]["dependsOn"],
        serde_json::json!(["registry"])
    );
    // The home replication was the new home's; the old home had none: not served any more.
    assert_eq!(with_rule(&out, rules::REPLICATION_HOME_REMOVED).len(), 1);
    assert_eq!(with_rule(&out, rules::OLD_REGION_NOT_SERVED).len(), 1);
}

/// A replication whose region is a parameter defaulting to the new home region is removed, as
/// one written out would be, but with a warning: the deployment may pass another region.
#[test]
fn a_replication_in_the_new_home_by_a_parameter_default_is_removed_with_a_warning() {
    let text = r#"{"$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#", "contentVersion": "1.0.0.0",
      "parameters": {"geoRedundancyLocation": {"type": "string", "defaultValue": "eastus"}},
      "resources": [
        {"type": "Microsoft.ContainerRegistry/registries", "apiVersion": "2023-07-01", "name": "fabrikamweu01", "location": "westeurope", "sku": {"name": "Premium"}, "properties": {}},
        {"type": "Microsoft.ContainerRegistry/registries/replications", "apiVersion": "2023-07-01", "name": "[concat('fabrikamweu01', '/', parameters('geoRedundancyLocation'))]", "location": "[parameters('geoRedundancyLocation')]",
         "dependsOn": ["[resourceId('Microsoft.ContainerRegistry/registries', 'fabrikamweu01')]"], "properties": {}}]}"#;
    let out = acr_template::rewrite_template(
        &acr_template::TemplateInput::new("t.json", text),
        &to_east(),
    )
    .unwrap();
    assert!(of_kind(&json(&out.template), "replications").is_empty());
    let f = with_rule(&out, rules::REPLICATION_HOME_REMOVED);
    assert_eq!(f.len(), 1, "{:#?}", out.findings);
    assert_eq!(f[0].severity, Severity::Warning);
    assert!(
        f[0].message
            .contains("[parameters('geoRedundancyLocation')]"),
        "{}",
        f[0].message
    );
    assert!(f[0].fix.contains("--replication"), "{}", f[0].fix);
}

/// The zone-redundant registry (and its replications) moved: zone redundancy needs availability
/// zones in the region, where every registry is zone redundant by default.
fn zones_to(location: &str) -> Vec<(Severity, String, String)> {
    let options = RewriteOptions {
        name: "newacr01".into(),
        location: location.into(),
        ..Default::default()
    };
    let out = rewrite("zone-redundant.json", &options);
    with_rule(&out, rules::ZONE_REDUNDANCY)
        .iter()
        .map(|f| (f.severity, f.path.clone(), f.message.clone()))
        .collect()
}

#[test]
fn zone_redundancy_into_a_region_without_availability_zones_is_blocking() {
    let f = zones_to("westcentralus");
    let registry = f
        .iter()
        .find(|(_, p, _)| p == "/resources/0/properties/zoneRedundancy")
        .unwrap();
    assert_eq!(registry.0, Severity::Blocking);
    assert!(registry
        .2
        .contains("westcentralus has no availability zones"));
    // A kept replication without zones is blocking too; one with zones is a note, one without
    // zone redundancy says nothing.
    let ukwest = f
        .iter()
        .find(|(_, p, _)| p == "/resources/2/properties/zoneRedundancy")
        .unwrap();
    assert_eq!(ukwest.0, Severity::Blocking);
    let north = f
        .iter()
        .find(|(_, p, _)| p == "/resources/1/properties/zoneRedundancy")
        .unwrap();
    assert_eq!(north.0, Severity::Info);
    assert_eq!(f.len(), 3, "{f:#?}");
}

#[test]
fn zone_redundancy_into_a_region_with_zones_is_a_note_and_into_an_unknown_one_a_warning() {
    let f = zones_to("swedencentral");
    let registry = f
        .iter()
        .find(|(_, p, _)| p == "/resources/0/properties/zoneRedundancy")
        .unwrap();
    assert_eq!(registry.0, Severity::Info);
    assert!(registry.2.contains("swedencentral has availability zones"));
    // Neither opt-in nor Premium's: every registry there is zone redundant by default.
    assert!(
        registry
            .2
            .contains("of any SKU is zone redundant by default"),
        "{}",
        registry.2
    );
    assert!(!registry.2.contains("set at creation"), "{}", registry.2);
    let f = zones_to("marsnorth");
    let registry = f
        .iter()
        .find(|(_, p, _)| p == "/resources/0/properties/zoneRedundancy")
        .unwrap();
    assert_eq!(registry.0, Severity::Warning);
}

/// contosoold01 (eastus; replicas northeurope, japaneast) moves to westeurope without japaneast.
fn data_endpoints() -> acr_template::Rewritten {
    let options = RewriteOptions {
        name: "NewAcr01".into(),
        location: "westeurope".into(),
        drop_replications: vec!["japaneast".into()],
        ..Default::default()
    };
    rewrite("data-endpoints.json", &options)
}

#[test]
fn data_endpoints_move_with_the_home_region_and_stay_with_kept_replicas() {
    let out = data_endpoints();
    let v = json(&out.template);
    // The japaneast replication is dropped: the firewall rules are the third resource now.
    let fqdns = &v["resources"][2]["properties"]["ruleCollections"][0]["rules"][0]["targetFqdns"];
    assert_eq!(
        fqdns,
        &serde_json::json!([
            "newacr01.azurecr.io",
            "newacr01.westeurope.data.azurecr.io",
            "newacr01.northeurope.data.azurecr.io",
            "contosoold01.japaneast.data.azurecr.io"
        ])
    );
    assert_eq!(
        v["outputs"]["homeDataEndpoint"]["value"],
        "newacr01.westeurope.data.azurecr.io"
    );
    // Never a host the new registry will not have.
    assert!(
        !out.template.contains("newacr01.eastus.data")
            && !out.template.contains("newacr01.japaneast")
    );
}

#[test]
fn a_data_endpoint_of_a_region_no_longer_served_is_kept_and_blocking_in_a_firewall() {
    let out = data_endpoints();
    let f = with_rule(&out, rules::DATA_ENDPOINT_KEPT);
    assert_eq!(f.len(), 2, "{:#?}", out.findings);
    let firewall = f
        .iter()
        .find(|f| f.path.starts_with("/resources/3/"))
        .unwrap();
    assert_eq!(firewall.severity, Severity::Blocking);
    assert!(firewall
        .message
        .starts_with("contosoold01.japaneast.data.azurecr.io is a data endpoint of the source"));
    assert!(firewall
        .message
        .contains("Microsoft.Network/firewallPolicies/ruleCollectionGroups"));
    assert_eq!(
        firewall.fix,
        "use the new registry's data endpoints instead: newacr01.westeurope.data.azurecr.io, newacr01.northeurope.data.azurecr.io (one per region it serves; add --replication <region> to serve that region)"
    );
    let output = f
        .iter()
        .find(|f| f.path == "/outputs/japanDataEndpoint/value")
        .unwrap();
    assert_eq!(output.severity, Severity::Warning);
}

#[test]
fn with_the_old_home_kept_as_a_replica_its_data_endpoint_stays_and_the_new_homes_is_named_to_add() {
    // --replication eastus: eastus (the old home) is still served, by a replica.
    let options = RewriteOptions {
        name: "NewAcr01".into(),
        location: "westeurope".into(),
        add_replications: vec!["eastus".into()],
        drop_replications: vec!["japaneast".into()],
        ..Default::default()
    };
    let out = rewrite("data-endpoints.json", &options);
    let v = json(&out.template);
    let fqdns = &v["resources"][2]["properties"]["ruleCollections"][0]["rules"][0]["targetFqdns"];
    // Clients in eastus reach the eastus replica: the firewall still lets its endpoint through.
    assert_eq!(
        fqdns,
        &serde_json::json!([
            "newacr01.azurecr.io",
            "newacr01.eastus.data.azurecr.io",
            "newacr01.northeurope.data.azurecr.io",
            "contosoold01.japaneast.data.azurecr.io"
        ])
    );
    assert_eq!(
        v["outputs"]["homeDataEndpoint"]["value"],
        "newacr01.eastus.data.azurecr.io"
    );
    // The new home's endpoint is in no list: one note per place, naming what to add.
    let f = with_rule(&out, rules::DATA_ENDPOINT_TO_ADD);
    assert_eq!(f.len(), 2, "{:#?}", out.findings);
    let firewall = f.iter().find(|f| f.path == "/resources/3").unwrap();
    assert_eq!(firewall.severity, Severity::Info);
    assert!(
        firewall
            .message
            .starts_with("newacr01.eastus.data.azurecr.io stays (the source's home region eastus is kept as a replica)"),
        "{}",
        firewall.message
    );
    assert!(
        firewall
            .fix
            .starts_with("add newacr01.westeurope.data.azurecr.io where"),
        "{}",
        firewall.fix
    );
    assert!(f
        .iter()
        .any(|f| f.path == "/outputs/homeDataEndpoint/value"));
    // Without --replication eastus, the home's endpoint moves to westeurope: nothing to add.
    assert!(with_rule(&data_endpoints(), rules::DATA_ENDPOINT_TO_ADD).is_empty());
}
