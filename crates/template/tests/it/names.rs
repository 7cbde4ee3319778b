//! What the rename touches: the registry and its children, nothing that only shares the name.

use crate::util::*;
use acr_template::{rewrite_template, rules, RewriteOptions, Severity, TemplateInput};

fn east() -> RewriteOptions {
    RewriteOptions {
        name: "contosoeast01".into(),
        location: "eastus".into(),
        ..Default::default()
    }
}

#[test]
fn only_values_that_name_the_registry_or_its_children_are_renamed() {
    let out = rewrite("shared-name.json", &east());
    let v = json(&out.template);
    // The registry, its children and its login server follow the new name.
    assert_eq!(
        v["parameters"]["registries_contosoeast01_name"]["defaultValue"],
        "contosoeast01"
    );
    assert_eq!(
        v["resources"][1]["name"],
        "[concat(parameters('registries_contosoeast01_name'), '/ci-push')]"
    );
    assert_eq!(
        v["outputs"]["loginServer"]["value"],
        "contosoeast01.azurecr.io"
    );
    // Key vault, identity, workspace, credentials and tags are other resources: untouched.
    for kept in [
        "https://contosowest-kv.vault.azure.net/keys/acrkey/0123456789abcdef",
        "https://contosowest-kv.vault.azure.net/secrets/hub-password",
        "/subscriptions/1111/resourceGroups/rg-west/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-contosowest",
        "/subscriptions/1111/resourceGroups/rg-west/providers/Microsoft.OperationalInsights/workspaces/law-contosowest",
        "\"workspaces_law_contosowest_externalid\"",
        "\"team-contosowest\"",
    ] {
        assert!(out.template.contains(kept), "{kept} changed:\n{}", out.template);
    }
    assert!(
        !out.template.contains("contosoeast01-kv") && !out.template.contains("id-contosoeast01")
    );
    // One finding lists where the old name is left.
    let f = with_rule(&out, rules::OLD_NAME_KEPT);
    assert_eq!(f.len(), 1, "{:?}", out.findings);
    for p in [
        "/resources/0/tags/owner",
        "/resources/2/properties/authCredentials/0/passwordSecretIdentifier",
        "/resources/3/properties/workspaceId",
    ] {
        assert!(f[0].message.contains(p), "{p} not in {}", f[0].message);
    }
}

#[test]
fn findings_describe_what_the_file_contains() {
    let out = rewrite("shared-name.json", &east());
    let v = json(&out.template);
    let key = "https://contosowest-kv.vault.azure.net/keys/acrkey/0123456789abcdef";
    assert_eq!(v["parameters"]["encryptionKeyUri"]["defaultValue"], key);
    let f = with_rule(&out, rules::CMK_KEY_FROM_SOURCE);
    assert!(f.iter().any(|f| f.message.contains(key)), "{f:?}");
    let id = "/subscriptions/1111/resourceGroups/rg-west/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-contosowest";
    assert_eq!(v["parameters"]["encryptionIdentityId"]["defaultValue"], id);
    assert!(f.iter().any(|f| f.message.contains(id)), "{f:?}");
}

#[test]
fn option_values_are_written_as_given() {
    let mut o = east();
    o.key_uri = Some("https://contosowest-east-kv.vault.azure.net/keys/acrkey".into());
    o.identity = Some(
        "/subscriptions/2222/resourceGroups/rg-contosowest-east/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-contosowest-east".into(),
    );
    o.add_replications = vec!["westus".into()];
    let out = rewrite("shared-name.json", &o);
    let v = json(&out.template);
    assert_eq!(
        v["parameters"]["encryptionKeyUri"]["defaultValue"],
        o.key_uri.as_deref().unwrap()
    );
    assert_eq!(
        v["parameters"]["encryptionIdentityId"]["defaultValue"],
        o.identity.as_deref().unwrap()
    );
    // The added replication follows the renamed name parameter.
    let rep = v["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["type"].as_str().unwrap().ends_with("replications"))
        .unwrap();
    assert_eq!(
        rep["name"],
        "[concat(parameters('registries_contosoeast01_name'), '/westus')]"
    );
}

#[test]
fn subnets_given_as_options_are_written_as_given() {
    let mut o = east();
    let subnet = "/subscriptions/2222/resourceGroups/rg-contosowest-east/providers/Microsoft.Network/virtualNetworks/v/subnets/contosowest";
    o.subnets = vec![subnet.into()];
    let out = rewrite_template(
        &TemplateInput::new(
            "t.json",
            fixture("premium-features-on-standard.json").replace("oldacr01", "contosowest"),
        ),
        &o,
    )
    .unwrap();
    let v = json(&out.template);
    assert_eq!(
        v.pointer("/resources/0/properties/networkRuleSet/virtualNetworkRules/0/id")
            .unwrap(),
        subnet
    );
}

#[test]
fn a_registry_named_like_its_sku_keeps_its_sku() {
    let t = r#"{"$schema": "x", "resources": [
        {"type": "Microsoft.ContainerRegistry/registries", "apiVersion": "2023-07-01", "name": "premium",
         "location": "westus", "sku": {"name": "Premium", "tier": "Premium"}, "properties": {}},
        {"type": "Microsoft.ContainerRegistry/registries/webhooks", "apiVersion": "2023-07-01", "name": "premium/hook",
         "location": "westus", "dependsOn": ["premium"], "properties": {"serviceUri": "https://h", "actions": ["push"]}}]}"#;
    let out = rewrite_template(&TemplateInput::new("t", t), &east()).unwrap();
    let v = json(&out.template);
    assert_eq!(v["resources"][0]["name"], "contosoeast01");
    assert_eq!(
        v["resources"][0]["sku"],
        serde_json::json!({"name": "Premium", "tier": "Premium"})
    );
    assert_eq!(v["resources"][1]["name"], "contosoeast01/hook");
    assert_eq!(v["resources"][1]["dependsOn"][0], "contosoeast01");
}

#[test]
fn only_compares_the_registry_segment_of_child_names_exactly() {
    let mut o = east();
    o.only = Some("acrone01".into());
    let out = rewrite("prefix-registries.json", &o);
    let v = json(&out.template);
    let res = v["resources"].as_array().unwrap();
    assert_eq!(res.len(), 5, "acrone01dev's replication is kept");
    assert_eq!(res[0]["name"], "contosoeast01");
    assert_eq!(res[0]["location"], "eastus");
    // acrone01dev and its children are untouched.
    assert_eq!(res[1]["name"], "acrone01dev");
    assert_eq!(res[1]["location"], "westus");
    assert_eq!(res[2]["name"], "acrone01dev/eastus");
    assert_eq!(res[3]["location"], "westus");
    assert_eq!(
        res[3]["dependsOn"][0],
        "[resourceId('Microsoft.ContainerRegistry/registries', 'acrone01dev')]"
    );
    // acrone01's own webhook follows it.
    assert_eq!(res[4]["name"], "contosoeast01/hook");
    assert_eq!(res[4]["location"], "eastus");
    assert!(with_rule(&out, rules::REPLICATION_HOME_REMOVED).is_empty());
    let f = with_rule(&out, rules::OTHER_REGISTRIES_KEPT);
    assert_eq!(f.len(), 1);
    assert!(f[0].message.contains("acrone01dev"));
}

#[test]
fn literal_ids_of_the_source_registry_become_resource_id_expressions() {
    let out = rewrite("literal-ids.json", &east());
    let v = json(&out.template);
    let reg = "[resourceId('Microsoft.ContainerRegistry/registries', 'contosoeast01')]";
    let map = "[resourceId('Microsoft.ContainerRegistry/registries/scopeMaps', 'contosoeast01', 'ci-push')]";
    assert_eq!(v["resources"][1]["dependsOn"][0], reg);
    assert_eq!(v["resources"][2]["dependsOn"][0], map);
    assert_eq!(v["resources"][2]["properties"]["scopeMapId"], map);
    assert_eq!(v["resources"][3]["scope"], reg);
    assert!(!out
        .template
        .contains("rg-west/providers/Microsoft.ContainerRegistry/registries/contosoeast01"));
    let f = with_rule(&out, rules::RESOURCE_ID_LITERAL);
    let info: Vec<_> = f.iter().filter(|f| f.severity == Severity::Info).collect();
    assert_eq!(info.len(), 4, "{f:?}");
    assert!(info.iter().any(|f| f.path == "/resources/3/scope"));
    // An extension resource's id cannot be converted: blocking, with its pointer.
    let blocking: Vec<_> = f
        .iter()
        .filter(|f| f.severity == Severity::Blocking)
        .collect();
    assert_eq!(blocking.len(), 1);
    assert_eq!(blocking[0].path, "/outputs/diagnostics/value");
}

#[test]
fn a_role_assignment_scoped_by_a_literal_id_gets_a_guid_of_the_new_registry() {
    let out = rewrite("literal-ids.json", &east());
    let v = json(&out.template);
    assert_eq!(
        v["resources"][3]["name"],
        "[guid(resourceId('Microsoft.ContainerRegistry/registries', 'contosoeast01'), '99999999-8888-7777-6666-555555555555', '/subscriptions/1111/providers/Microsoft.Authorization/roleDefinitions/7f951dda-4ed3-4680-a7ca-43fe172d538d')]"
    );
    let f = with_rule(&out, rules::ROLE_ASSIGNMENT_NAME_LITERAL);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].severity, Severity::Info);
    assert_eq!(f[0].path, "/resources/3/name");
    assert!(f[0]
        .message
        .contains("3f1c2a4e-5b6d-4e7f-8a9b-0c1d2e3f4a5b"));
}

#[test]
fn literal_ids_in_a_symbolic_depends_on_become_the_symbolic_name() {
    let t = r#"{"$schema": "x", "languageVersion": "2.0", "resources": {
        "acr": {"type": "Microsoft.ContainerRegistry/registries", "apiVersion": "2023-07-01", "name": "contosowest", "location": "westus", "sku": {"name": "Basic"}, "properties": {}},
        "map": {"type": "Microsoft.ContainerRegistry/registries/scopeMaps", "apiVersion": "2023-07-01", "name": "contosowest/m",
          "dependsOn": ["/subscriptions/1/resourceGroups/g/providers/Microsoft.ContainerRegistry/registries/contosowest"], "properties": {"actions": []}}}}"#;
    let out = rewrite_template(&TemplateInput::new("t", t), &east()).unwrap();
    let v = json(&out.template);
    assert_eq!(
        v["resources"]["map"]["dependsOn"],
        serde_json::json!(["acr"])
    );
    assert_eq!(v["resources"]["map"]["name"], "contosoeast01/m");
}

#[test]
fn outputs_reading_a_removed_replication_are_removed_and_other_references_block() {
    let out = rewrite("removed-references.json", &east());
    let v = json(&out.template);
    assert_eq!(v["resources"].as_array().unwrap().len(), 2);
    // The webhook waited for the removed replication: it waits for the registry instead.
    assert_eq!(
        v["resources"][1]["dependsOn"],
        serde_json::json!([
            "[resourceId('Microsoft.ContainerRegistry/registries', parameters('registryName'))]"
        ])
    );
    assert!(v["outputs"].get("eastState").is_none());
    assert!(v["outputs"].get("loginServer").is_some());
    let f = with_rule(&out, rules::REMOVED_RESOURCE_REFERENCED);
    assert_eq!(f.len(), 2, "{f:?}");
    assert_eq!(f[0].severity, Severity::Blocking);
    assert_eq!(f[0].path, "/resources/2/tags/replica");
    assert_eq!(f[1].severity, Severity::Warning);
    assert_eq!(f[1].path, "/outputs/eastState");
}

#[test]
fn symbolic_references_to_a_removed_replication_are_found() {
    let t = r#"{"$schema": "x", "languageVersion": "2.0", "resources": {
        "acr": {"type": "Microsoft.ContainerRegistry/registries", "apiVersion": "2023-07-01", "name": "contosowest", "location": "westus", "sku": {"name": "Premium"}, "properties": {}},
        "repEast": {"type": "Microsoft.ContainerRegistry/registries/replications", "apiVersion": "2023-07-01", "name": "contosowest/eastus", "location": "eastus", "dependsOn": ["acr"], "properties": {}}},
      "outputs": {"eastEndpoint": {"type": "string", "value": "[reference('repEast').provisioningState]"}}}"#;
    let out = rewrite_template(&TemplateInput::new("t", t), &east()).unwrap();
    let v = json(&out.template);
    assert!(v["resources"].get("repEast").is_none());
    assert_eq!(v["outputs"], serde_json::json!({}));
    assert_eq!(
        with_rule(&out, rules::REMOVED_RESOURCE_REFERENCED)[0].path,
        "/outputs/eastEndpoint"
    );
}

/// A registry `contosowest` and a role assignment on the registry named by parameter `acrName`
/// (`acrGroup` names its resource group).
const REFERENCED_BY_PARAMETER: &str = r#"{"$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#", "contentVersion": "1.0.0.0",
  "parameters": {"acrName": {"type": "string", "defaultValue": "contosowest"}, "acrGroup": {"type": "string", "defaultValue": "contosowest"}, "otherAcr": {"type": "string", "defaultValue": "contosodev"}},
  "resources": [
    {"type": "Microsoft.ContainerRegistry/registries", "apiVersion": "2023-07-01", "name": "contosowest", "location": "westus", "sku": {"name": "Standard"}, "properties": {}},
    {"type": "Microsoft.Authorization/roleAssignments", "apiVersion": "2022-04-01", "name": "[guid(parameters('acrName'), 'pull')]",
     "scope": "[resourceId(parameters('acrGroup'), 'Microsoft.ContainerRegistry/registries', parameters('acrName'))]",
     "properties": {"roleDefinitionId": "[subscriptionResourceId('Microsoft.Authorization/roleDefinitions', '7f951dda-4ed3-4680-a7ca-43fe172d538d')]", "principalId": "99999999-8888-7777-6666-555555555555"}},
    {"type": "Microsoft.Authorization/roleAssignments", "apiVersion": "2022-04-01", "name": "[guid(parameters('otherAcr'), 'pull')]",
     "scope": "[format('Microsoft.ContainerRegistry/registries/{0}', parameters('otherAcr'))]",
     "properties": {"roleDefinitionId": "[subscriptionResourceId('Microsoft.Authorization/roleDefinitions', '7f951dda-4ed3-4680-a7ca-43fe172d538d')]", "principalId": "99999999-8888-7777-6666-555555555555"}}]}"#;

#[test]
fn a_parameter_that_names_the_registry_in_an_expression_follows_the_new_name() {
    let out = rewrite_template(&TemplateInput::new("t", REFERENCED_BY_PARAMETER), &east()).unwrap();
    let v = json(&out.template);
    assert_eq!(v["parameters"]["acrName"]["defaultValue"], "contosoeast01");
    // The resource group comes before the type: not the registry's name, kept.
    assert_eq!(v["parameters"]["acrGroup"]["defaultValue"], "contosowest");
    // Another registry's parameter holds another name: kept.
    assert_eq!(v["parameters"]["otherAcr"]["defaultValue"], "contosodev");
    let f = with_rule(&out, rules::REGISTRY_PARAMETER_SET);
    assert_eq!(f.len(), 1, "{f:#?}");
    assert_eq!(f[0].path, "/parameters/acrName/defaultValue");
    assert!(f[0].message.contains("contosowest"), "{}", f[0].message);
}

#[test]
fn a_parameters_file_value_that_names_the_registry_follows_the_new_name() {
    let t = REFERENCED_BY_PARAMETER.replace(
        r#""defaultValue": "contosowest"}, "acrGroup""#,
        r#""metadata": {}}, "acrGroup""#,
    );
    let p = r#"{"$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentParameters.json#", "contentVersion": "1.0.0.0",
      "parameters": {"acrName": {"value": "contosowest"}}}"#;
    let input = TemplateInput::new("t", t).with_parameters("p", p);
    let out = rewrite_template(&input, &east()).unwrap();
    assert_eq!(
        json(out.parameters.as_deref().unwrap())["parameters"]["acrName"]["value"],
        "contosoeast01"
    );
    let f = with_rule(&out, rules::REGISTRY_PARAMETER_SET);
    assert_eq!(f.len(), 1, "{f:#?}");
    assert_eq!(f[0].path, "(parameters file)/parameters/acrName/value");
}

#[test]
fn a_parameter_that_names_a_registry_without_any_value_is_pointed_out() {
    let t = REFERENCED_BY_PARAMETER.replace(
        r#""defaultValue": "contosowest"}, "acrGroup""#,
        r#""metadata": {}}, "acrGroup""#,
    );
    let out = rewrite_template(&TemplateInput::new("t", t), &east()).unwrap();
    let f = with_rule(&out, rules::REGISTRY_PARAMETER_SET);
    assert_eq!(f.len(), 1, "{f:#?}");
    assert_eq!(f[0].severity, Severity::Info);
    assert_eq!(f[0].path, "/parameters/acrName");
    assert!(f[0].fix.contains("acrName = contosoeast01"), "{}", f[0].fix);
}

#[test]
fn login_servers_are_written_in_lower_case_whatever_the_case_of_the_new_name() {
    let o = RewriteOptions {
        name: "ContosoEast01".into(),
        ..east()
    };
    let out = rewrite("shared-name.json", &o);
    let v = json(&out.template);
    assert_eq!(
        v["outputs"]["loginServer"]["value"],
        "contosoeast01.azurecr.io"
    );
    // The name itself is as given.
    assert_eq!(
        v["parameters"]["registries_ContosoEast01_name"]["defaultValue"],
        "ContosoEast01"
    );
    // The DNS records to create for a private endpoint too.
    let out = rewrite("premium-features-on-standard.json", &o);
    let f = with_rule(&out, rules::PRIVATE_ENDPOINT_RECREATE);
    assert!(
        f[0].fix.contains("contosoeast01.azurecr.io")
            && f[0].fix.contains("contosoeast01.<region>.data.azurecr.io"),
        "{}",
        f[0].fix
    );
}
