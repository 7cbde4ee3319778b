//! The rewrite, rule by rule, on fixtures written for it.

use crate::util::*;
use acr_template::{rules, RewriteOptions, Severity};

#[test]
fn name_is_set_where_defined_and_every_reference_follows() {
    let out = rewrite("premium-features-on-standard.json", &opts());
    assert_eq!(out.old_name.as_deref(), Some("oldacr01"));
    // The identity oldacr01-id is another resource: kept (as the encryption parameter's default).
    let without_identity = out.template.replace("/oldacr01-id", "/x");
    assert!(
        !contains_word(&without_identity, "oldacr01"),
        "{}",
        out.template
    );
    assert!(out
        .template
        .contains("\"registries_newacr01_name\": {\n      \"defaultValue\": \"newacr01\""));
    assert!(out.template.contains("\"name\": \"newacr01/hook1\""));
    assert!(out
        .template
        .contains("resourceId('Microsoft.ContainerRegistry/registries', 'newacr01')"));
}

#[test]
fn untouched_text_keeps_its_bytes_including_comments() {
    let src = fixture("premium-features-on-standard.json");
    let out = rewrite("premium-features-on-standard.json", &opts());
    assert!(out
        .template
        .starts_with("{\n  // Hand-written: every risky feature at once, on a Standard SKU.\n"));
    assert!(out.template.contains("        /* source network */\n"));
    // The first 300 bytes differ only by the parameter rename.
    assert_eq!(src[..180], out.template[..180]);
}

#[test]
fn literal_locations_of_registry_and_children_become_the_target() {
    let out = rewrite("premium-features-on-standard.json", &opts());
    let locs = registry_locations(&json(&out.template));
    assert_eq!(locs, vec!["westeurope", "westeurope"]);
}

#[test]
fn replication_in_the_new_home_region_is_removed_and_its_dependants_follow() {
    let out = rewrite("premium-features-on-standard.json", &opts());
    let v = json(&out.template);
    let reps: Vec<_> = v["resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["type"].as_str().unwrap().ends_with("replications"))
        .collect();
    assert_eq!(reps.len(), 1);
    assert_eq!(reps[0]["location"], "northeurope");
    assert_eq!(reps[0]["dependsOn"].as_array().unwrap().len(), 1);
    assert_eq!(with_rule(&out, rules::REPLICATION_HOME_REMOVED).len(), 1);
}

#[test]
fn replications_can_be_added_and_dropped() {
    let mut o = opts();
    o.add_replications = vec!["Japan East".into(), "westeurope".into()];
    o.drop_replications = vec!["northeurope".into()];
    let out = rewrite("premium-features-on-standard.json", &o);
    let v = json(&out.template);
    let reps: Vec<_> = v["resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["type"].as_str().unwrap().ends_with("replications"))
        .collect();
    assert_eq!(reps.len(), 1);
    assert_eq!(reps[0]["location"], "japaneast");
    assert_eq!(
        reps[0]["name"],
        "[concat(parameters('registries_newacr01_name'), '/japaneast')]"
    );
    assert_eq!(with_rule(&out, rules::REPLICATION_DROPPED).len(), 1);
    assert!(with_rule(&out, rules::REPLICATION_ADDED)
        .iter()
        .any(|f| f.severity == Severity::Warning));
}

#[test]
fn private_endpoint_connections_are_removed_with_a_dns_reminder() {
    let out = rewrite("premium-features-on-standard.json", &opts());
    assert!(!out.template.contains("privateEndpointConnections"));
    let f = with_rule(&out, rules::PRIVATE_ENDPOINT_RECREATE);
    assert_eq!(f.len(), 2);
    assert!(
        f[0].fix.contains("privatelink.azurecr.io")
            && f[0].fix.contains("newacr01.<region>.data.azurecr.io")
    );
}

/// A private endpoint resource of the template that connects to the registry stays on its subnet
/// in the old region while its connection now names the new registry: blocking, with what to
/// change; private endpoints of other services are not the registry's business.
#[test]
fn a_private_endpoint_resource_of_the_registry_blocks_with_its_region_and_subnet() {
    let options = RewriteOptions {
        location: "eastus".into(),
        ..opts()
    };
    let out = rewrite("private-endpoint-resource.json", &options);
    let f = with_rule(&out, rules::PRIVATE_ENDPOINT_IN_TEMPLATE);
    assert_eq!(f.len(), 1, "{:#?}", out.findings);
    assert_eq!(f[0].severity, Severity::Blocking);
    assert_eq!(f[0].path, "/resources/1");
    assert!(f[0].message.contains("westeurope"), "{}", f[0].message);
    assert!(
        f[0].message.contains("/subnets/snet-pe"),
        "{}",
        f[0].message
    );
    assert!(f[0].fix.contains("eastus") && f[0].fix.contains("newacr01.azurecr.io"));
    // The location of the endpoint is not moved without a subnet there.
    let v = json(&out.template);
    assert_eq!(v["resources"][1]["location"], "westeurope");

    let other = fixture("private-endpoint-resource.json").replace(
        "Microsoft.ContainerRegistry/registries', parameters",
        "Microsoft.KeyVault/vaults', parameters",
    );
    let out = acr_template::rewrite_template(
        &acr_template::TemplateInput::new("t.json", other),
        &options,
    )
    .unwrap();
    assert!(with_rule(&out, rules::PRIVATE_ENDPOINT_IN_TEMPLATE).is_empty());
}

#[test]
fn premium_features_on_standard_block() {
    let out = rewrite("premium-features-on-standard.json", &opts());
    let f = with_rule(&out, rules::PREMIUM_REQUIRED);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].severity, Severity::Blocking);
    for feature in [
        "geo-replication",
        "private endpoints",
        "network rules",
        "dedicated data endpoint",
        "customer-managed keys",
    ] {
        assert!(
            f[0].message.contains(feature),
            "{feature} missing in {}",
            f[0].message
        );
    }
    // Zone redundancy is on by default for every SKU in a region with zones: not Premium's.
    assert!(!f[0].message.contains("zone"), "{}", f[0].message);
    assert!(out.has_blocking());
}

/// A Standard (or Basic) registry with `zoneRedundancy: Enabled` moved to a region with
/// availability zones: no Premium needed, nothing blocking; a note that it is zone redundant
/// there by default.
#[test]
fn zone_redundancy_on_standard_needs_no_premium() {
    let template = r#"{"$schema":"https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#","contentVersion":"1.0.0.0","resources":[
        {"type":"Microsoft.ContainerRegistry/registries","apiVersion":"2023-07-01","name":"stdacr01","location":"westus","sku":{"name":"Standard"},
         "properties":{"zoneRedundancy":"Enabled"}}]}"#;
    for sku in ["Standard", "Basic"] {
        let out = acr_template::rewrite_template(
            &acr_template::TemplateInput::new("t.json", template.replace("Standard", sku)),
            &opts(),
        )
        .unwrap();
        assert!(
            with_rule(&out, rules::PREMIUM_REQUIRED).is_empty(),
            "{sku}: {:#?}",
            out.findings
        );
        assert!(!out.has_blocking(), "{sku}: {:#?}", out.findings);
        let z = with_rule(&out, rules::ZONE_REDUNDANCY);
        assert_eq!(z.len(), 1);
        assert_eq!(z[0].severity, Severity::Info);
        assert!(
            z[0].message.contains("zone redundant by default"),
            "{}",
            z[0].message
        );
        assert!(!z[0].message.contains("Premium"), "{}", z[0].message);
        assert!(json(&out.template)["resources"][0]["properties"]["zoneRedundancy"] == "Enabled");
    }
}

#[test]
fn a_sku_given_by_a_parameter_is_raised_where_the_parameter_is_set() {
    let out = rewrite("sku-parameter.json", &opts());
    let f = with_rule(&out, rules::PREMIUM_REQUIRED);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].severity, Severity::Blocking);
    assert_eq!(f[0].path, "/parameters/acrSku/defaultValue");
    assert!(f[0]
        .message
        .starts_with("SKU Standard does not support: dedicated data endpoint"));
    assert_eq!(f[0].fix, "set parameter acrSku to Premium");
    // A value in the parameters file wins over the default: the finding points at it.
    let with_value = |sku: &str| {
        let input = acr_template::TemplateInput::new("t.json", fixture("sku-parameter.json"))
            .with_parameters(
                "p.json",
                format!(r#"{{"parameters": {{"acrSku": {{"value": "{sku}"}}}}}}"#),
            );
        acr_template::rewrite_template(&input, &opts()).unwrap()
    };
    let out = with_value("Basic");
    let f = with_rule(&out, rules::PREMIUM_REQUIRED);
    assert_eq!(f[0].path, "(parameters file)/parameters/acrSku/value");
    assert!(f[0].message.starts_with("SKU Basic does not support"));
    assert_eq!(f[0].fix, "set parameter acrSku to Premium");
    assert!(with_rule(&with_value("Premium"), rules::PREMIUM_REQUIRED).is_empty());
}

#[test]
fn every_policy_risk_is_reported() {
    let out = rewrite("premium-features-on-standard.json", &opts());
    let expect = [
        (rules::PUBLIC_ACCESS_NO_BYPASS, Severity::Blocking),
        (rules::RETENTION_POLICY_ENABLED, Severity::Warning),
        (rules::SOFT_DELETE_WITH_REPLICATION, Severity::Blocking),
        (rules::ADMIN_USER_ENABLED, Severity::Warning),
        (rules::ANONYMOUS_PULL_ENABLED, Severity::Warning),
        (rules::IP_RULES_CARRIED, Severity::Warning),
        (rules::VNET_RULES_SOURCE_SUBNET, Severity::Blocking),
        (rules::API_VERSION_PREVIEW, Severity::Warning),
        (rules::CMK_CREATION_ONLY, Severity::Warning),
        (rules::ZONE_REDUNDANCY, Severity::Info),
    ];
    for (rule, sev) in expect {
        let f = with_rule(&out, rule);
        assert_eq!(f.len(), 1, "{rule}");
        assert_eq!(f[0].severity, sev, "{rule}");
        assert!(
            f[0].path.starts_with("/resources/0"),
            "{rule}: {}",
            f[0].path
        );
        assert!(!f[0].fix.is_empty());
    }
    // Findings are sorted: blocking first.
    assert!(out
        .findings
        .windows(2)
        .all(|w| w[0].severity <= w[1].severity));
}

#[test]
fn subnets_are_written_in_the_shape_of_the_api_version_and_the_service_endpoint_is_a_warning() {
    let mut o = opts();
    let subnet = "/subscriptions/s/resourceGroups/t/providers/Microsoft.Network/virtualNetworks/v/subnets/acr";
    o.subnets = vec![subnet.into()];
    let out = rewrite("premium-features-on-standard.json", &o);
    let v = json(&out.template);
    assert_eq!(
        v.pointer("/resources/0/properties/networkRuleSet/virtualNetworkRules")
            .unwrap(),
        &serde_json::json!([{"action": "Allow", "id": subnet}])
    );
    assert!(with_rule(&out, rules::VNET_RULES_SOURCE_SUBNET).is_empty());
    let f = with_rule(&out, rules::SERVICE_ENDPOINT_REQUIRED);
    assert_eq!(f.len(), 1);
    assert!(f[0].message.contains(subnet) && f[0].message.contains("Microsoft.ContainerRegistry"));
    // A warning: the subnet may have the endpoint already, and `template --subnet` can exit 0.
    assert_eq!(f[0].severity, Severity::Warning);
}

/// A networkRuleSet given as an expression has nothing to add the rules to: `--subnet` is said
/// not applied (blocking), and no finding claims the rules were written.
#[test]
fn subnets_are_not_applied_to_a_network_rule_set_given_as_an_expression() {
    let mut o = opts();
    let subnet = "/subscriptions/s/resourceGroups/t/providers/Microsoft.Network/virtualNetworks/v/subnets/acr";
    o.subnets = vec![subnet.into()];
    let t = r#"{"$schema": "x", "parameters": {"rules": {"type": "object"}}, "resources": [
        {"type": "Microsoft.ContainerRegistry/registries", "apiVersion": "2021-12-01-preview", "name": "oldacr01", "location": "eastus",
         "sku": {"name": "Premium"}, "properties": {"networkRuleSet": "[parameters('rules')]"}}]}"#;
    let out =
        acr_template::rewrite_template(&acr_template::TemplateInput::new("t", t), &o).unwrap();
    let f = with_rule(&out, rules::OPTION_IGNORED);
    assert_eq!(f.len(), 1, "{:?}", out.findings);
    assert_eq!(f[0].severity, Severity::Blocking);
    assert_eq!(f[0].path, "/resources/0/properties/networkRuleSet");
    assert!(
        f[0].message.contains("--subnet was not applied")
            && f[0].message.contains("[parameters('rules')]")
            && f[0].fix.contains(subnet),
        "{:?}",
        f[0]
    );
    assert!(with_rule(&out, rules::SERVICE_ENDPOINT_REQUIRED).is_empty());
    assert!(json(&out.template)["resources"][0]["properties"]["networkRuleSet"].is_string());
}

#[test]
fn api_versions_without_virtual_network_rules_cannot_take_subnets() {
    let mut o = opts();
    o.subnets = vec![
        "/subscriptions/s/resourceGroups/t/providers/Microsoft.Network/virtualNetworks/v/subnets/a"
            .into(),
    ];
    let out = rewrite("symbolic-names.json", &o);
    assert_eq!(with_rule(&out, rules::VNET_RULES_UNSUPPORTED).len(), 1);
    assert!(!out.template.contains("virtualNetworkRules"));
}

#[test]
fn cmk_key_and_identity_become_parameters() {
    let mut o = opts();
    o.key_uri = Some("https://new-kv.vault.azure.net/keys/acr".into());
    o.identity = Some("/subscriptions/s/resourceGroups/t/providers/Microsoft.ManagedIdentity/userAssignedIdentities/new-id".into());
    let out = rewrite("premium-features-on-standard.json", &o);
    let v = json(&out.template);
    assert_eq!(
        v["parameters"]["encryptionKeyUri"]["defaultValue"],
        "https://new-kv.vault.azure.net/keys/acr"
    );
    assert_eq!(
        v.pointer("/resources/0/properties/encryption/keyVaultProperties/keyIdentifier")
            .unwrap(),
        "[parameters('encryptionKeyUri')]"
    );
    assert_eq!(
        v.pointer("/resources/0/properties/encryption/keyVaultProperties/identity")
            .unwrap(),
        "[reference(parameters('encryptionIdentityId'), '2023-01-31').clientId]"
    );
    assert!(v
        .pointer("/resources/0/identity/userAssignedIdentities")
        .unwrap()
        .get("[parameters('encryptionIdentityId')]")
        .is_some());
    assert!(with_rule(&out, rules::CMK_KEY_FROM_SOURCE).is_empty());
    // Without the options the source's values stay as defaults, with a warning each.
    let out = rewrite("premium-features-on-standard.json", &opts());
    assert_eq!(with_rule(&out, rules::CMK_KEY_FROM_SOURCE).len(), 2);
}

#[test]
fn symbolic_names_variables_and_location_expressions() {
    let out = rewrite("symbolic-names.json", &opts());
    let v = json(&out.template);
    assert_eq!(v["variables"]["acrName"], "newacr01");
    assert!(
        v["resources"].get("home").is_none(),
        "home-region replication removed"
    );
    assert_eq!(
        v["resources"]["hook"]["dependsOn"],
        serde_json::json!(["acr"])
    );
    let f = with_rule(&out, rules::LOCATION_EXPRESSION_KEPT);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].path, "/parameters/location/defaultValue");
    assert!(!out.has_blocking());
}

#[test]
fn registries_inside_nested_deployments_are_rewritten() {
    let out = rewrite("nested-deployment.json", &opts());
    assert!(!contains_word(&out.template, "nestedacr01"));
    let v = json(&out.template);
    assert_eq!(registry_locations(&v), vec!["westeurope", "westeurope"]);
    assert_eq!(v["outputs"]["loginServer"]["value"], "newacr01.azurecr.io");
    assert_eq!(with_rule(&out, rules::NESTED_DEPLOYMENT).len(), 1);
}

#[test]
fn a_nested_deployment_pinning_a_literal_resource_group_or_subscription_is_a_warning() {
    let out = rewrite("nested-deployment-scope.json", &opts());
    let f = with_rule(&out, rules::NESTED_DEPLOYMENT_SCOPE);
    let at: Vec<&str> = f.iter().map(|f| f.path.as_str()).collect();
    // Innermost deployment first; its resourceGroup is an expression and is not flagged.
    assert_eq!(
        at,
        vec![
            "/resources/0/properties/template/resources/0/subscriptionId",
            "/resources/0/resourceGroup",
            "/resources/0/subscriptionId",
        ]
    );
    assert!(f.iter().all(|f| f.severity == Severity::Warning));
    assert!(f[1].message.contains("acr-in-source-rg") && f[1].message.contains("src-rg"));
    assert!(f[0].message.contains("acr-inner"));
    assert!(f[1].fix.contains("[resourceGroup().name]"));
    // The literal is the user's decision: left as it was.
    assert!(out.template.contains("\"resourceGroup\": \"src-rg\""));
    assert!(with_rule(
        &rewrite("nested-deployment.json", &opts()),
        rules::NESTED_DEPLOYMENT_SCOPE
    )
    .is_empty());
}

#[test]
fn only_picks_one_of_several_registries() {
    let mut o = opts();
    o.only = Some("secondacr01".into());
    let out = rewrite("two-registries.json", &o);
    let v = json(&out.template);
    assert_eq!(v["resources"][0]["name"], "firstacr01");
    assert_eq!(
        v["resources"][0]["location"], "eastus",
        "the other registry is untouched"
    );
    assert_eq!(v["resources"][1]["name"], "newacr01");
    assert_eq!(v["resources"][2]["name"], "newacr01/hook");
    assert_eq!(v["resources"][2]["location"], "westeurope");
}

#[test]
fn classic_registries_computed_names_and_expression_blocks() {
    let out = rewrite("classic-expression-blocks.json", &opts());
    for rule in [rules::API_VERSION_RETIRED, rules::SKU_CLASSIC] {
        assert_eq!(
            with_rule(&out, rule)[0].severity,
            Severity::Blocking,
            "{rule}"
        );
    }
    assert_eq!(
        with_rule(&out, rules::EXPRESSION_NOT_INSPECTED)[0].path,
        "/resources/0/properties"
    );
    assert_eq!(with_rule(&out, rules::NAME_EXPRESSION_REPLACED).len(), 1);
    let v = json(&out.template);
    assert_eq!(v["resources"][0]["name"], "newacr01");
    assert_eq!(
        v["outputs"]["server"]["value"],
        "[reference(resourceId('Microsoft.ContainerRegistry/registries', 'newacr01')).loginServer]"
    );
}

#[test]
fn the_portal_zip_and_its_parameters_file() {
    let bytes = std::fs::read(fixture_path("portal-export.zip")).unwrap();
    let input = acr_template::TemplateInput::from_bytes("portal-export.zip", &bytes).unwrap();
    let out = acr_template::rewrite_template(&input, &opts()).unwrap();
    assert_eq!(out.old_name.as_deref(), Some("zipacr01"));
    let params = json(out.parameters.as_deref().unwrap());
    assert_eq!(
        params["parameters"]["registries_newacr01_name"]["value"],
        "newacr01"
    );
    assert!(out
        .template
        .contains("\"registries_newacr01_name\": {\n            \"type\": \"String\"\n        }"));
    assert!(!out.findings.iter().any(|f| f.severity != Severity::Info));
}

#[test]
fn an_export_template_response_yields_the_template_inside() {
    let inner = fixture("two-registries.json");
    let wrapped = format!("{{\"template\": {inner}, \"error\": null}}");
    let mut o = opts();
    o.only = Some("firstacr01".into());
    let out =
        acr_template::rewrite_template(&acr_template::TemplateInput::new("resp.json", wrapped), &o)
            .unwrap();
    let v = json(&out.template);
    assert!(v.get("error").is_none() && v["resources"][0]["name"] == "newacr01");
}

#[test]
fn every_rule_id_is_documented_and_unique() {
    let doc = include_str!("../../src/lib.rs");
    let mut seen = std::collections::HashSet::new();
    for r in rules::ALL {
        assert!(seen.insert(r), "{r} twice");
        assert!(
            doc.contains(&format!("| `{r}` |")),
            "{r} not in the crate docs"
        );
    }
}

#[test]
fn a_portal_name_parameter_without_value_still_states_the_old_name() {
    let out = rewrite("portal-export-no-default.json", &opts());
    assert_eq!(out.old_name.as_deref(), Some("oldacr77"));
    assert!(
        !contains_word(&out.template, "oldacr77"),
        "{}",
        out.template
    );
    let v = json(&out.template);
    assert_eq!(
        v["parameters"]["registries_newacr01_name"]["defaultValue"],
        "newacr01"
    );
    assert_eq!(
        v["resources"][1]["name"],
        "[concat(parameters('registries_newacr01_name'), '/hook1')]"
    );
}

#[test]
fn the_renamed_portal_name_parameter_is_reported_for_its_callers() {
    let out = rewrite("premium-features-on-standard.json", &opts());
    let f = with_rule(&out, rules::NAME_PARAMETER_RENAMED);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].severity, Severity::Info);
    assert_eq!(f[0].path, "/parameters/registries_oldacr01_name");
    assert!(f[0]
        .message
        .contains("registries_oldacr01_name is now registries_newacr01_name"));
    assert!(f[0].fix.contains("--parameters registries_oldacr01_name="));
    // A name parameter that does not state the old name keeps its name: nothing to report.
    assert!(with_rule(
        &rewrite("sku-parameter.json", &opts()),
        rules::NAME_PARAMETER_RENAMED
    )
    .is_empty());
}

#[test]
fn settings_given_by_parameters_or_variables_are_judged_by_their_values() {
    let out = rewrite("portal-export-no-default.json", &opts());
    assert_eq!(with_rule(&out, rules::ADMIN_USER_ENABLED).len(), 1);
    assert_eq!(with_rule(&out, rules::ANONYMOUS_PULL_ENABLED).len(), 1);
    assert_eq!(with_rule(&out, rules::RETENTION_POLICY_ENABLED).len(), 1);
    // A value given in the parameters file wins over the default.
    let input = acr_template::TemplateInput::new(
        "t.json",
        fixture("portal-export-no-default.json"),
    )
    .with_parameters(
        "p.json",
        r#"{"parameters": {"adminUser": {"value": false}, "retention": {"value": "disabled"}}}"#,
    );
    let out = acr_template::rewrite_template(&input, &opts()).unwrap();
    assert!(with_rule(&out, rules::ADMIN_USER_ENABLED).is_empty());
    assert!(with_rule(&out, rules::RETENTION_POLICY_ENABLED).is_empty());
}

#[test]
fn a_literal_cmk_client_id_without_identity_block_becomes_a_parameter() {
    let out = rewrite("cmk-client-id-only.json", &opts());
    let v = json(&out.template);
    assert_eq!(
        v.pointer("/resources/0/properties/encryption/keyVaultProperties/identity")
            .unwrap(),
        "[parameters('encryptionIdentityClientId')]"
    );
    assert_eq!(
        v["parameters"]["encryptionIdentityClientId"]["defaultValue"],
        "00000000-1111-2222-3333-444444444444"
    );
    let f = with_rule(&out, rules::CMK_KEY_FROM_SOURCE);
    assert_eq!(f.len(), 2, "{f:?}");
    assert!(f
        .iter()
        .any(|f| f.path == "/resources/0/properties/encryption/keyVaultProperties/identity"));
}

#[test]
fn children_of_an_existing_registry_are_pointed_at_the_new_one() {
    let out = rewrite("children-only.json", &opts());
    let v = json(&out.template);
    assert_eq!(v["parameters"]["registryName"]["defaultValue"], "newacr01");
    assert_eq!(v["parameters"]["location"]["defaultValue"], "westeurope");
    let types: Vec<_> = v["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        vec!["Microsoft.ContainerRegistry/registries/webhooks"]
    );
    let f = with_rule(&out, rules::CHILDREN_ONLY);
    assert_eq!(f.len(), 1);
    assert!(f[0]
        .fix
        .contains("deploy the relocated registry newacr01 first"));
    assert_eq!(with_rule(&out, rules::REPLICATION_HOME_REMOVED).len(), 1);
    assert_eq!(with_rule(&out, rules::SYSTEM_SCOPE_MAP_REMOVED).len(), 1);
    assert!(!out.has_blocking());
    // A literal parent name is replaced everywhere; `existing` registries (languageVersion 2.0)
    // are the parent too.
    let t = r#"{"$schema": "x", "languageVersion": "2.0", "resources": {
        "registry": {"existing": true, "type": "Microsoft.ContainerRegistry/registries", "apiVersion": "2023-07-01", "name": "oldacr01"},
        "hook": {"type": "Microsoft.ContainerRegistry/registries/webhooks", "apiVersion": "2023-07-01", "name": "oldacr01/hook", "location": "eastus", "dependsOn": ["registry"], "properties": {}}}}"#;
    let out =
        acr_template::rewrite_template(&acr_template::TemplateInput::new("t", t), &opts()).unwrap();
    assert_eq!(out.old_name.as_deref(), Some("oldacr01"));
    let v = json(&out.template);
    assert_eq!(v["resources"]["registry"]["name"], "newacr01");
    assert_eq!(v["resources"]["hook"]["name"], "newacr01/hook");
    assert_eq!(v["resources"]["hook"]["location"], "westeurope");
}

#[test]
fn what_an_export_cannot_carry_is_reported() {
    let out = rewrite("standard-export.json", &opts());
    let f = with_rule(&out, rules::WEBHOOK_SERVICE_URI);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].severity, Severity::Blocking);
    assert_eq!(f[0].path, "/resources/1/properties");
    assert!(f[0].message.contains("deployhook") && f[0].fix.contains("serviceUri"));
    let f = with_rule(&out, rules::TOKEN_PASSWORDS);
    assert_eq!(f.len(), 1, "one line for all tokens");
    assert_eq!(f[0].severity, Severity::Info);
    assert!(f[0].message.contains("ci-token, edge-token"));
    assert!(f[0].fix.contains("--registry newacr01"));
    let f = with_rule(&out, rules::CREDENTIAL_SET_ACCESS);
    assert_eq!(f.len(), 1);
    assert!(f[0]
        .message
        .contains("https://stdkv.vault.azure.net/secrets/hub-password"));
    let f = with_rule(&out, rules::CONNECTED_REGISTRY_RESYNC);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].path, "/resources/5");
    // A webhook that has its serviceUri is fine.
    let out = rewrite(
        "two-registries.json",
        &RewriteOptions {
            only: Some("secondacr01".into()),
            ..opts()
        },
    );
    assert!(with_rule(&out, rules::WEBHOOK_SERVICE_URI).is_empty());
}

#[test]
fn premium_only_policies_and_connected_registries_on_standard_block() {
    let out = rewrite("standard-export.json", &opts());
    let f = with_rule(&out, rules::PREMIUM_REQUIRED);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].severity, Severity::Blocking);
    for feature in [
        "retention policy",
        "disabled export policy",
        "disabled public network access",
        "connected registries",
    ] {
        assert!(
            f[0].message.contains(feature),
            "{feature} missing in {}",
            f[0].message
        );
    }
    // Content trust is written disabled (trust-policy-enabled): it needs no Premium any more.
    assert!(!f[0].message.contains("content trust"), "{}", f[0].message);
}

const CMK_BY_PARAMETER: &str = r#"{"$schema": "x", "parameters": {
    "kek_id": {"type": "string", "defaultValue": "https://old-kv.vault.azure.net/keys/k"},
    "uai": {"type": "string"}},
  "resources": [{"type": "Microsoft.ContainerRegistry/registries", "apiVersion": "2023-07-01", "name": "cmkacr01",
    "location": "westus", "sku": {"name": "Premium"},
    "identity": {"type": "UserAssigned", "userAssignedIdentities": {"[parameters('uai')]": {}}},
    "properties": {"encryption": {"status": "enabled", "keyVaultProperties": {"keyIdentifier": "[parameters('kek_id')]"}}}}]}"#;

#[test]
fn key_uri_becomes_the_value_of_the_key_parameter() {
    let mut o = opts();
    o.key_uri = Some("https://new-kv.vault.azure.net/keys/k".into());
    let input = acr_template::TemplateInput::new("t.json", CMK_BY_PARAMETER).with_parameters(
        "p.json",
        r#"{"parameters": {"kek_id": {"value": "https://old-kv.vault.azure.net/keys/k"}}}"#,
    );
    let out = acr_template::rewrite_template(&input, &o).unwrap();
    let v = json(&out.template);
    assert_eq!(
        v["parameters"]["kek_id"]["defaultValue"],
        "https://new-kv.vault.azure.net/keys/k"
    );
    let p = json(out.parameters.as_deref().unwrap());
    assert_eq!(
        p["parameters"]["kek_id"]["value"],
        "https://new-kv.vault.azure.net/keys/k"
    );
    let f = with_rule(&out, rules::KEY_URI_SET);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].path, "/parameters/kek_id");
    assert!(with_rule(&out, rules::OPTION_IGNORED).is_empty());
    // A registry without customer-managed key: --key-uri has nowhere to go.
    let out = rewrite("symbolic-names.json", &o);
    let f = with_rule(&out, rules::OPTION_IGNORED);
    assert_eq!(f.len(), 1);
    assert!(f[0].message.contains("--key-uri"));
}

#[test]
fn identity_for_a_registry_without_customer_managed_key_is_reported_as_ignored() {
    let mut o = opts();
    o.identity = Some("/subscriptions/s/resourceGroups/t/providers/Microsoft.ManagedIdentity/userAssignedIdentities/new-id".into());
    let out = rewrite("symbolic-names.json", &o);
    let f = with_rule(&out, rules::OPTION_IGNORED);
    assert_eq!(f.len(), 1, "{:#?}", out.findings);
    assert_eq!(f[0].severity, Severity::Warning);
    assert!(
        f[0].message.starts_with("--identity /subscriptions/s/"),
        "{}",
        f[0].message
    );
    assert!(!out.template.contains("new-id"));
}

#[test]
fn a_drop_replication_region_without_replication_is_reported() {
    let mut o = opts();
    o.drop_replications = vec!["northpole".into(), "North Europe".into()];
    let out = rewrite("premium-features-on-standard.json", &o);
    let f = with_rule(&out, rules::OPTION_IGNORED);
    assert_eq!(f.len(), 1, "{f:?}");
    assert!(f[0].message.contains("--drop-replication northpole"));
    assert_eq!(with_rule(&out, rules::REPLICATION_DROPPED).len(), 1);
}

#[test]
fn an_unknown_region_gets_the_closest_known_one() {
    let mut o = opts();
    o.location = "eastsus".into();
    o.add_replications = vec!["japaneast".into(), "westeurop".into()];
    let out = rewrite("symbolic-names.json", &o);
    let f = with_rule(&out, rules::LOCATION_UNKNOWN);
    assert_eq!(f.len(), 2, "{f:?}");
    assert_eq!(f[0].severity, Severity::Warning);
    assert!(f[0].message.contains("--location eastsus") && f[0].message.contains("eastus?"));
    assert!(
        f[1].message.contains("--replication westeurop") && f[1].message.contains("westeurope?")
    );
    // Display names are known too.
    o.location = "West Europe".into();
    o.add_replications.clear();
    assert!(with_rule(&rewrite("symbolic-names.json", &o), rules::LOCATION_UNKNOWN).is_empty());
}

#[test]
fn the_source_name_as_new_name_is_a_warning() {
    let o = RewriteOptions {
        name: "oldacr01".into(),
        ..opts()
    };
    let out = rewrite("premium-features-on-standard.json", &o);
    let f = with_rule(&out, rules::NAME_UNCHANGED);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].severity, Severity::Warning);
    assert!(f[0].message.contains("AlreadyInUse"));
}

#[test]
fn the_old_home_region_is_offered_as_a_replication() {
    let out = rewrite("standard-export.json", &opts());
    let f = with_rule(&out, rules::OLD_REGION_NOT_SERVED);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].severity, Severity::Info);
    assert!(f[0].fix.contains("--replication westus"));
    // Not when it is kept or added as a replication.
    let mut o = opts();
    o.add_replications = vec!["westus".into()];
    let out = rewrite("standard-export.json", &o);
    assert!(with_rule(&out, rules::OLD_REGION_NOT_SERVED).is_empty());
}

#[test]
fn errors_of_an_export_template_response_name_what_is_missing() {
    let inner = fixture("symbolic-names.json");
    let wrapped = format!(
        r#"{{"template": {inner}, "error": {{"code": "ExportTemplateCompletedWithErrors", "message": "Export template operation completed with errors.",
        "details": [
          {{"code": "ExportTemplateProviderError", "target": "Microsoft.ContainerRegistry/registries/tokens", "message": "Could not get resources of the type 'Microsoft.ContainerRegistry/registries/tokens'."}},
          {{"code": "ExportTemplateProviderError", "target": "/subscriptions/1/resourceGroups/g/providers/Microsoft.ContainerRegistry/registries/symacr01/cacheRules/hub", "message": "Resource could not be exported."}}]}}}}"#
    );
    let out = acr_template::rewrite_template(
        &acr_template::TemplateInput::new("resp.json", wrapped),
        &opts(),
    )
    .unwrap();
    let f = with_rule(&out, rules::EXPORT_INCOMPLETE);
    assert_eq!(f.len(), 2);
    assert_eq!(f[0].severity, Severity::Warning);
    assert_eq!(f[0].path, "/error/details/0");
    assert!(f[0]
        .message
        .starts_with("Microsoft.ContainerRegistry/registries/tokens is missing from the template"));
    assert!(f[1].message.contains("cacheRules/hub"));
    // The response without error: nothing.
    let wrapped = format!(
        "{{\"template\": {}, \"error\": null}}",
        fixture("symbolic-names.json")
    );
    let out = acr_template::rewrite_template(
        &acr_template::TemplateInput::new("resp.json", wrapped),
        &opts(),
    )
    .unwrap();
    assert!(with_rule(&out, rules::EXPORT_INCOMPLETE).is_empty());
}

#[test]
fn api_version_advice_names_the_resource_type_outside_acr() {
    let out = rewrite("shared-name.json", &opts());
    let f = with_rule(&out, rules::API_VERSION_PREVIEW);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].path, "/resources/3/apiVersion");
    assert!(!f[0].fix.contains("2023-07-01"), "{}", f[0].fix);
    assert!(f[0]
        .fix
        .contains("Microsoft.ContainerRegistry/registries/providers/diagnosticSettings"));
}

#[test]
fn system_scope_maps_are_reported_in_one_line() {
    let t = r#"{"$schema": "x", "resources": [
        {"type": "Microsoft.ContainerRegistry/registries", "apiVersion": "2023-07-01", "name": "sysacr01", "location": "westus", "sku": {"name": "Basic"}, "properties": {}},
        {"type": "Microsoft.ContainerRegistry/registries/scopeMaps", "apiVersion": "2023-07-01", "name": "sysacr01/_repositories_admin", "properties": {"actions": []}},
        {"type": "Microsoft.ContainerRegistry/registries/scopeMaps", "apiVersion": "2023-07-01", "name": "sysacr01/_repositories_pull", "properties": {"actions": []}},
        {"type": "Microsoft.ContainerRegistry/registries/scopeMaps", "apiVersion": "2023-07-01", "name": "sysacr01/_repositories_push", "properties": {"actions": []}},
        {"type": "Microsoft.ContainerRegistry/registries/scopeMaps", "apiVersion": "2023-07-01", "name": "sysacr01/ci", "properties": {"actions": []}}]}"#;
    let out =
        acr_template::rewrite_template(&acr_template::TemplateInput::new("t", t), &opts()).unwrap();
    let f = with_rule(&out, rules::SYSTEM_SCOPE_MAP_REMOVED);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].path, "/resources/1");
    assert!(f[0]
        .message
        .contains("_repositories_admin, _repositories_pull, _repositories_push"));
    assert_eq!(
        json(&out.template)["resources"].as_array().unwrap().len(),
        2
    );
}

#[test]
fn a_changed_region_or_name_parameter_that_other_resources_read_is_a_warning_naming_them() {
    let o = RewriteOptions {
        name: "fabrikameus01".into(),
        location: "eastus".into(),
        ..Default::default()
    };
    let out = rewrite("shared-settings.json", &o);
    let f = with_rule(&out, rules::SHARED_SETTING_CHANGED);
    assert_eq!(f.len(), 2, "{:#?}", out.findings);
    assert!(f.iter().all(|f| f.severity == Severity::Warning));
    let region = f
        .iter()
        .find(|f| f.path == "/resources/0/location")
        .unwrap();
    assert!(
        region.message.starts_with("parameters('location') sets the registry's region")
            && region.message.contains("fabrikamlogs (Microsoft.Storage/storageAccounts), aks-weu (Microsoft.ContainerService/managedClusters)")
            && !region.message.contains("kv"),
        "{}",
        region.message
    );
    let name = f.iter().find(|f| f.path == "/resources/0/name").unwrap();
    // Named after the registry: the key vault. The web app points at the registry (as it should)
    // and the role assignment is the registry's.
    assert!(
        name.message
            .contains("[concat(parameters('acrName'), 'kv')] (Microsoft.KeyVault/vaults)")
            && !name.message.contains("shop-weu")
            && !name.message.contains("roleAssignments"),
        "{}",
        name.message
    );
    // Kept when the region does not change.
    let same = RewriteOptions {
        location: "westeurope".into(),
        ..o
    };
    let out = rewrite("shared-settings.json", &same);
    assert_eq!(with_rule(&out, rules::SHARED_SETTING_CHANGED).len(), 1);
}

/// A module's private endpoint (a nested deployment of inner scope) connects to the registry
/// through the deployment's parameters: the subnet value it is given must be in the target region.
#[test]
fn a_private_endpoint_in_a_nested_deployment_names_the_subnet_value_it_is_given() {
    let out = rewrite("private-endpoint-nested.json", &opts());
    let f = with_rule(&out, rules::PRIVATE_ENDPOINT_IN_TEMPLATE);
    assert_eq!(f.len(), 1, "{:#?}", out.findings);
    assert_eq!(f[0].severity, Severity::Warning);
    assert_eq!(f[0].path, "/resources/1/properties/template/resources/0");
    assert!(
        f[0].message.contains(
            "its subnet is parameter subnetResourceId, given [parameters('privateEndpoints')[copyIndex()].subnetResourceId] at /resources/1/properties/parameters/subnetResourceId/value"
        ),
        "{}",
        f[0].message
    );
    assert!(f[0]
        .fix
        .contains("a subnet of a virtual network in westeurope"));
    // The endpoint is there: disabled public access is not reported as unreachable.
    assert!(with_rule(&out, rules::PUBLIC_ACCESS_NO_PRIVATE_ENDPOINT).is_empty());
}

/// A CMK registry without an identity block and `--identity`: the identity is wired in (its
/// user-assigned identity, and the client id that reads the key), never left unused.
#[test]
fn identity_is_wired_into_a_cmk_registry_that_has_no_identity_block() {
    let mut o = opts();
    let id = "/subscriptions/s/resourceGroups/t/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-eu";
    o.identity = Some(id.into());
    let out = rewrite("cmk-client-id-only.json", &o);
    let v = json(&out.template);
    assert_eq!(v["parameters"]["encryptionIdentityId"]["defaultValue"], id);
    assert_eq!(v["resources"][0]["identity"]["type"], "UserAssigned");
    assert!(v["resources"][0]["identity"]["userAssignedIdentities"]
        .get("[parameters('encryptionIdentityId')]")
        .is_some());
    assert_eq!(
        v.pointer("/resources/0/properties/encryption/keyVaultProperties/identity")
            .unwrap(),
        "[reference(parameters('encryptionIdentityId'), '2023-01-31').clientId]"
    );
    // The source's client id is gone, and said so.
    assert!(v["parameters"].get("encryptionIdentityClientId").is_none());
    let f = with_rule(&out, rules::CMK_IDENTITY_SET);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].severity, Severity::Info);
    assert!(f[0]
        .message
        .contains("00000000-1111-2222-3333-444444444444"));
    assert!(with_rule(&out, rules::OPTION_IGNORED).is_empty());
}

/// A CMK registry whose identity block leaves no place for `--identity` (system-assigned only):
/// `option-ignored`, saying what to set by hand.
#[test]
fn identity_that_cannot_be_wired_in_is_reported_as_ignored() {
    let mut o = opts();
    o.identity = Some("/subscriptions/s/resourceGroups/t/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-eu".into());
    let text = fixture("cmk-client-id-only.json").replace(
        "\"sku\": {",
        "\"identity\": { \"type\": \"SystemAssigned\" },\n      \"sku\": {",
    );
    let out =
        acr_template::rewrite_template(&acr_template::TemplateInput::new("t", text), &o).unwrap();
    let f = with_rule(&out, rules::OPTION_IGNORED);
    assert_eq!(f.len(), 1, "{:#?}", out.findings);
    assert_eq!(f[0].path, "/resources/0/identity");
    assert!(f[0].message.starts_with("--identity /subscriptions/s/"));
    assert!(f[0].fix.contains("keyVaultProperties.identity"));
    assert!(!out.template.contains("id-eu"));
}

const TARGET_IDENTITY: &str = "/subscriptions/22222222-2222-2222-2222-222222222222/resourceGroups/rg-weu/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-acr-weu";

/// An export writes the registry's identity as `[parameters('userAssignedIdentities_<name>_externalid')]`.
#[test]
fn identity_sets_the_exports_identity_parameter_and_the_key_reads_its_client_id() {
    let o = RewriteOptions {
        key_uri: Some("https://kv-weu.vault.azure.net/keys/acr/1".into()),
        identity: Some(TARGET_IDENTITY.into()),
        ..opts()
    };
    let out = rewrite("cmk-identity-parameter.json", &o);
    let v = json(&out.template);
    let p = "userAssignedIdentities_id_acr_externalid";
    assert_eq!(v["parameters"][p]["defaultValue"], TARGET_IDENTITY);
    let reg = &v["resources"][0];
    assert!(reg["identity"]["userAssignedIdentities"]
        .get(format!("[parameters('{p}')]"))
        .is_some());
    assert_eq!(
        reg["properties"]["encryption"]["keyVaultProperties"]["identity"],
        format!("[reference(parameters('{p}'), '2023-01-31').clientId]")
    );
    // Neither the source's identity nor its client id is left beside the new key.
    assert!(!out
        .template
        .contains("rg-neu/providers/Microsoft.ManagedIdentity"));
    assert!(!out
        .template
        .contains("44444444-4444-4444-4444-444444444444"));
    let set = with_rule(&out, rules::CMK_IDENTITY_SET);
    assert_eq!(set.len(), 1, "{:?}", out.findings);
    assert_eq!(set[0].path, format!("/parameters/{p}"));
    assert!(
        with_rule(&out, rules::OPTION_IGNORED).is_empty(),
        "{:?}",
        out.findings
    );
    assert!(
        with_rule(&out, rules::CMK_KEY_FROM_SOURCE).is_empty(),
        "{:?}",
        out.findings
    );
}

#[test]
fn without_identity_the_exports_identity_parameter_is_reported_as_the_sources() {
    let out = rewrite("cmk-identity-parameter.json", &opts());
    let f = with_rule(&out, rules::CMK_KEY_FROM_SOURCE);
    assert!(
        f.iter()
            .any(|f| f.path == "/resources/0/identity/userAssignedIdentities"
                && f.message.contains("userAssignedIdentities/id-acr")),
        "{f:?}"
    );
    // The key's client id follows the identity instead of naming the source's.
    let v = json(&out.template);
    assert_eq!(
        v["resources"][0]["properties"]["encryption"]["keyVaultProperties"]["identity"],
        "[reference(parameters('userAssignedIdentities_id_acr_externalid'), '2023-01-31').clientId]"
    );
}

#[test]
fn diagnostic_settings_with_a_known_storage_destination_warn_and_other_destinations_inform() {
    let out = rewrite("diagnostics-storage.json", &opts());
    let f = with_rule(&out, rules::DIAGNOSTIC_SETTINGS_KEPT);
    assert_eq!(f.len(), 2, "{f:?}");
    let storage = f.iter().find(|f| f.path == "/resources/1").unwrap();
    assert_eq!(storage.severity, Severity::Warning);
    assert!(
        storage.fix.contains("storage account in westeurope"),
        "{}",
        storage.fix
    );
    // A workspace may be in any region (and this one may give none).
    let workspace = f.iter().find(|f| f.path == "/resources/2").unwrap();
    assert_eq!(workspace.severity, Severity::Info);
}
