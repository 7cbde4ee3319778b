//! Role assignments on the relocated registry: a literal GUID name (the source's assignment)
//! becomes a deterministic `guid()` of the new registry, the principal and the role; a literal
//! principal that is a managed identity created anew is a risk.

use crate::util::*;
use acr_template::{rewrite_template, rules, RewriteOptions, Rewritten, Severity, TemplateInput};

const FIXTURE: &str = "role-assignments.json";
const NEW_REGISTRY_ID: &str =
    "resourceId('Microsoft.ContainerRegistry/registries', parameters('registryName'))";

fn rewrite_text(text: &str, options: &RewriteOptions) -> Rewritten {
    rewrite_template(&TemplateInput::new("t.json", text), options).unwrap()
}

/// The finding of `rule` at `path`, which must be the only one there.
fn finding_at<'a>(out: &'a Rewritten, rule: &str, path: &str) -> &'a acr_template::Finding {
    let at: Vec<_> = with_rule(out, rule)
        .into_iter()
        .filter(|f| f.path == path)
        .collect();
    assert_eq!(at.len(), 1, "{rule} at {path}: {:#?}", out.findings);
    at[0]
}

/// A registry `contosowest` (or what `registry` says) and the resources after it.
fn template(registry: &str, resources: &str) -> String {
    format!(
        r#"{{"$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#", "contentVersion": "1.0.0.0",
          "resources": [{registry}, {resources}]}}"#
    )
}

const REGISTRY: &str = r#"{"type": "Microsoft.ContainerRegistry/registries", "apiVersion": "2023-07-01", "name": "contosowest", "location": "westus", "sku": {"name": "Standard"}, "properties": {}}"#;

#[test]
fn a_literal_guid_name_on_the_registry_becomes_a_guid_of_the_new_registry_principal_and_role() {
    let out = rewrite(FIXTURE, &opts());
    let v = json(&out.template);
    assert_eq!(
        v["resources"][1]["name"],
        format!("[guid({NEW_REGISTRY_ID}, '99999999-8888-7777-6666-555555555555', variables('acrPull'))]")
    );
    let f = finding_at(
        &out,
        rules::ROLE_ASSIGNMENT_NAME_LITERAL,
        "/resources/1/name",
    );
    assert_eq!(f.severity, Severity::Info);
    assert!(
        f.message.contains("3f1c2a4e-5b6d-4e7f-8a9b-0c1d2e3f4a5b"),
        "{}",
        f.message
    );
    assert!(f.message.contains("RoleAssignmentUpdateNotPermitted"));
    assert!(f.fix.starts_with("nothing to do"));
    // A User principal is nobody the deployment recreates.
    assert!(with_rule(&out, rules::ROLE_ASSIGNMENT_PRINCIPAL_RECREATED)
        .iter()
        .all(|f| !f.path.starts_with("/resources/1/")));
}

#[test]
fn the_old_style_names_keep_their_registry_and_provider_prefix() {
    let out = rewrite(FIXTURE, &opts());
    let v = json(&out.template);
    // Nested in the registry: `Microsoft.Authorization/<guid>`.
    assert_eq!(
        v["resources"][0]["resources"][0]["name"],
        format!("[concat('Microsoft.Authorization/', guid({NEW_REGISTRY_ID}, parameters('buildersGroupId'), variables('acrPush')))]")
    );
    // Top level: `<registry>/Microsoft.Authorization/<guid>`, literal or built with concat().
    let reference = "resourceId('Microsoft.ManagedIdentity/userAssignedIdentities', 'ci-builder'), '.principalId'";
    assert_eq!(
        v["resources"][3]["name"],
        format!("[concat(parameters('registryName'), '/Microsoft.Authorization/', guid({NEW_REGISTRY_ID}, {reference}, variables('acrPull')))]")
    );
    assert_eq!(
        v["resources"][4]["name"],
        format!("[concat(parameters('registryName'), '/Microsoft.Authorization/', guid({NEW_REGISTRY_ID}, {reference}, variables('acrPush')))]")
    );
    for path in [
        "/resources/0/resources/0/name",
        "/resources/3/name",
        "/resources/4/name",
    ] {
        assert_eq!(
            finding_at(&out, rules::ROLE_ASSIGNMENT_NAME_LITERAL, path).severity,
            Severity::Info
        );
    }
}

#[test]
fn a_principal_read_with_reference_enters_the_name_by_its_resource_id() {
    // A resource name must be known when the deployment starts: reference() cannot be in it.
    let out = rewrite(FIXTURE, &opts());
    let v = json(&out.template);
    let name = v["resources"][3]["name"].as_str().unwrap();
    assert!(!name.to_ascii_lowercase().contains("reference("), "{name}");
    assert!(name
        .contains("resourceId('Microsoft.ManagedIdentity/userAssignedIdentities', 'ci-builder')"));
}

/// Exports write `roleDefinitionId` as the literal id of the role in the source's subscription,
/// which fails in another subscription: it becomes `subscriptionResourceId()` of the same GUID.
#[test]
fn a_literal_role_definition_id_of_the_source_subscription_follows_the_deployment() {
    let out = rewrite(FIXTURE, &opts());
    let v = json(&out.template);
    assert_eq!(
        v["resources"][2]["properties"]["roleDefinitionId"],
        "[subscriptionResourceId('Microsoft.Authorization/roleDefinitions', '7f951dda-4ed3-4680-a7ca-43fe172d538d')]"
    );
    let f = finding_at(
        &out,
        rules::ROLE_DEFINITION_ID_LITERAL,
        "/resources/2/properties/roleDefinitionId",
    );
    assert_eq!(f.severity, Severity::Info);
    assert!(f.message.contains("/subscriptions/1111/"), "{}", f.message);
    // Already an expression, or on another resource: as written.
    assert_eq!(
        v["resources"][1]["properties"]["roleDefinitionId"],
        "[variables('acrPull')]"
    );
    assert_eq!(with_rule(&out, rules::ROLE_DEFINITION_ID_LITERAL).len(), 1);
    let elsewhere = template(
        REGISTRY,
        r#"{"type": "Microsoft.Authorization/roleAssignments", "apiVersion": "2022-04-01",
            "name": "[guid(resourceGroup().id, 'kv')]", "scope": "Microsoft.KeyVault/vaults/kv1",
            "properties": {"roleDefinitionId": "/subscriptions/1111/providers/Microsoft.Authorization/roleDefinitions/7f951dda-4ed3-4680-a7ca-43fe172d538d", "principalId": "aaaaaaaa-1111-2222-3333-444444444444"}}"#,
    );
    let out = rewrite_text(&elsewhere, &opts());
    assert!(with_rule(&out, rules::ROLE_DEFINITION_ID_LITERAL).is_empty());
    assert!(out.template.contains(
        "\"/subscriptions/1111/providers/Microsoft.Authorization/roleDefinitions/7f951dda"
    ));
}

#[test]
fn a_name_given_by_a_parameter_default_is_replaced_and_the_parameter_no_longer_names_it() {
    let out = rewrite(FIXTURE, &opts());
    let v = json(&out.template);
    assert_eq!(
        v["resources"][2]["name"],
        format!("[guid({NEW_REGISTRY_ID}, 'aaaaaaaa-1111-2222-3333-444444444444', '/subscriptions/1111/providers/Microsoft.Authorization/roleDefinitions/7f951dda-4ed3-4680-a7ca-43fe172d538d')]")
    );
    // The scope in the `registries/<name>` form follows the new name.
    assert_eq!(
        v["resources"][2]["scope"],
        "Microsoft.ContainerRegistry/registries/newacr01"
    );
    let f = finding_at(
        &out,
        rules::ROLE_ASSIGNMENT_NAME_LITERAL,
        "/resources/2/name",
    );
    assert!(
        f.message.contains(
            "5d0a8e53-3c5b-4e2f-9a61-7f0e2b4c9d10 (the value of parameter pullerAssignmentName)"
        ),
        "{}",
        f.message
    );
    assert!(
        f.fix
            .contains("parameter pullerAssignmentName no longer names it"),
        "{}",
        f.fix
    );
}

#[test]
fn a_role_assignment_on_a_child_of_the_registry_stays_blocking() {
    let out = rewrite(FIXTURE, &opts());
    let f = finding_at(
        &out,
        rules::ROLE_ASSIGNMENT_NAME_LITERAL,
        "/resources/5/name",
    );
    assert_eq!(f.severity, Severity::Blocking);
    assert!(f.message.contains("c0ffee00-1111-4222-8333-944444444444"));
    assert!(f.fix.contains("guid("));
    assert_eq!(
        json(&out.template)["resources"][5]["name"],
        "c0ffee00-1111-4222-8333-944444444444"
    );
}

/// An assignment on another resource keeps its bytes; its literal principal being the registry's
/// own identity, which the deployment recreates, is a warning there too: the role would go to
/// the old identity.
#[test]
fn role_assignments_on_other_resources_keep_their_bytes_and_a_recreated_identity_is_a_warning() {
    let src = fixture(FIXTURE);
    let out = rewrite(FIXTURE, &opts());
    let vault = |t: &str| {
        let at = t.find("\"name\": \"d00dfeed").unwrap();
        t[at..at + 600.min(t.len() - at)].to_string()
    };
    assert_eq!(vault(&src), vault(&out.template));
    let f = finding_at(
        &out,
        rules::ROLE_ASSIGNMENT_PRINCIPAL_RECREATED,
        "/resources/6/properties/principalId",
    );
    assert_eq!(f.severity, Severity::Warning);
    assert!(
        f.message
            .contains("the registry's system-assigned identity"),
        "{}",
        f.message
    );
}

#[test]
fn only_names_and_a_literal_role_id_change_every_other_byte_is_kept() {
    let src = fixture(FIXTURE);
    let out = rewrite(FIXTURE, &opts());
    let changed: Vec<(&str, &str)> = src
        .lines()
        .zip(out.template.lines())
        .filter(|(a, b)| a != b)
        .collect();
    assert_eq!(src.lines().count(), out.template.lines().count());
    // The registry's name default and location, five role assignment names, one scope, one
    // literal roleDefinitionId of the source's subscription.
    assert_eq!(changed.len(), 9, "{changed:#?}");
    for (before, after) in changed {
        let key = |l: &str| l.trim_start().split(':').next().unwrap().to_string();
        assert_eq!(key(before), key(after));
    }
}

#[test]
fn a_principal_that_is_the_registrys_own_identity_is_a_risk_with_the_expression_to_use() {
    let out = rewrite(FIXTURE, &opts());
    let f = finding_at(
        &out,
        rules::ROLE_ASSIGNMENT_PRINCIPAL_RECREATED,
        "/resources/2/properties/principalId",
    );
    assert_eq!(f.severity, Severity::Warning);
    assert!(f.message.contains("aaaaaaaa-1111-2222-3333-444444444444"));
    assert!(f
        .message
        .contains("the registry's system-assigned identity"));
    assert!(
        f.fix.contains(&format!(
            "[reference({NEW_REGISTRY_ID}, '2023-07-01', 'Full').identity.principalId]"
        )),
        "{}",
        f.fix
    );
}

#[test]
fn a_literal_service_principal_may_be_an_identity_the_template_creates() {
    let t = template(
        REGISTRY,
        r#"{"type": "Microsoft.ManagedIdentity/userAssignedIdentities", "apiVersion": "2023-01-31", "name": "ci-builder", "location": "westus"},
           {"type": "Microsoft.Authorization/roleAssignments", "apiVersion": "2022-04-01", "name": "[guid(resourceId('Microsoft.ContainerRegistry/registries', 'contosowest'), 'pull')]",
            "scope": "Microsoft.ContainerRegistry/registries/contosowest",
            "properties": {"roleDefinitionId": "[subscriptionResourceId('Microsoft.Authorization/roleDefinitions', '7f951dda-4ed3-4680-a7ca-43fe172d538d')]",
              "principalId": "12345678-1234-1234-1234-123456789abc", "principalType": "ServicePrincipal"}}"#,
    );
    let out = rewrite_text(&t, &opts());
    let f = finding_at(
        &out,
        rules::ROLE_ASSIGNMENT_PRINCIPAL_RECREATED,
        "/resources/2/properties/principalId",
    );
    assert_eq!(f.severity, Severity::Warning);
    assert!(
        f.message
            .contains("if it belongs to the user-assigned identity ci-builder"),
        "{}",
        f.message
    );
    // A name computed from the registry is not the source's literal: only renamed.
    assert_eq!(
        json(&out.template)["resources"][2]["name"],
        "[guid(resourceId('Microsoft.ContainerRegistry/registries', 'newacr01'), 'pull')]"
    );
    assert!(with_rule(&out, rules::ROLE_ASSIGNMENT_NAME_LITERAL).is_empty());
    assert!(with_rule(&out, rules::ROLE_ASSIGNMENT_NAME_UNSCOPED).is_empty());
}

#[test]
fn a_principal_known_only_during_the_deployment_cannot_enter_a_name() {
    let t = template(
        REGISTRY,
        r#"{"type": "Microsoft.Authorization/roleAssignments", "apiVersion": "2022-04-01", "name": "3f1c2a4e-5b6d-4e7f-8a9b-0c1d2e3f4a5b",
            "scope": "Microsoft.ContainerRegistry/registries/contosowest",
            "properties": {"roleDefinitionId": "[subscriptionResourceId('Microsoft.Authorization/roleDefinitions', '7f951dda-4ed3-4680-a7ca-43fe172d538d')]",
              "principalId": "[if(equals(1, 1), reference('ci-builder').principalId, '')]"}}"#,
    );
    let out = rewrite_text(&t, &opts());
    let f = finding_at(
        &out,
        rules::ROLE_ASSIGNMENT_NAME_LITERAL,
        "/resources/1/name",
    );
    assert_eq!(f.severity, Severity::Blocking);
    assert!(f.fix.contains("no reference()"), "{}", f.fix);
    assert_eq!(
        json(&out.template)["resources"][1]["name"],
        "3f1c2a4e-5b6d-4e7f-8a9b-0c1d2e3f4a5b"
    );
}

#[test]
fn a_role_assignment_in_a_nested_template_names_the_registry_by_its_new_literal_name() {
    let t = r#"{"$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#", "contentVersion": "1.0.0.0",
      "parameters": {"acrName": {"type": "string", "defaultValue": "contosowest"}},
      "resources": [
        {"type": "Microsoft.ContainerRegistry/registries", "apiVersion": "2023-07-01", "name": "[parameters('acrName')]", "location": "westus", "sku": {"name": "Standard"}, "properties": {}},
        {"type": "Microsoft.Resources/deployments", "apiVersion": "2022-09-01", "name": "grants",
         "properties": {"mode": "Incremental", "expressionEvaluationOptions": {"scope": "inner"}, "template": {
           "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#", "contentVersion": "1.0.0.0",
           "resources": [{"type": "Microsoft.Authorization/roleAssignments", "apiVersion": "2022-04-01", "name": "3f1c2a4e-5b6d-4e7f-8a9b-0c1d2e3f4a5b",
             "scope": "Microsoft.ContainerRegistry/registries/contosowest",
             "properties": {"roleDefinitionId": "[subscriptionResourceId('Microsoft.Authorization/roleDefinitions', '7f951dda-4ed3-4680-a7ca-43fe172d538d')]",
               "principalId": "99999999-8888-7777-6666-555555555555", "principalType": "Group"}}]}}}]}"#;
    let out = rewrite_text(t, &opts());
    let v = json(&out.template);
    let inner = &v["resources"][1]["properties"]["template"]["resources"][0];
    assert_eq!(
        inner["name"],
        "[guid(resourceId('Microsoft.ContainerRegistry/registries', 'newacr01'), '99999999-8888-7777-6666-555555555555', subscriptionResourceId('Microsoft.Authorization/roleDefinitions', '7f951dda-4ed3-4680-a7ca-43fe172d538d'))]"
    );
    assert_eq!(
        inner["scope"],
        "Microsoft.ContainerRegistry/registries/newacr01"
    );
}

#[test]
fn a_symbolic_name_scope_is_the_registry() {
    let t = r#"{"$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#", "languageVersion": "2.0", "contentVersion": "1.0.0.0",
      "resources": {
        "acr": {"type": "Microsoft.ContainerRegistry/registries", "apiVersion": "2023-07-01", "name": "contosowest", "location": "westus", "sku": {"name": "Standard"}, "properties": {}},
        "pull": {"type": "Microsoft.Authorization/roleAssignments", "apiVersion": "2022-04-01", "name": "3f1c2a4e-5b6d-4e7f-8a9b-0c1d2e3f4a5b",
          "scope": "[format('Microsoft.ContainerRegistry/registries/{0}', 'contosowest')]", "dependsOn": ["acr"],
          "properties": {"roleDefinitionId": "[subscriptionResourceId('Microsoft.Authorization/roleDefinitions', '7f951dda-4ed3-4680-a7ca-43fe172d538d')]",
            "principalId": "99999999-8888-7777-6666-555555555555", "principalType": "User"}}}}"#;
    let out = rewrite_text(t, &opts());
    let v = json(&out.template);
    assert_eq!(
        v["resources"]["pull"]["name"],
        "[guid(resourceId('Microsoft.ContainerRegistry/registries', 'newacr01'), '99999999-8888-7777-6666-555555555555', subscriptionResourceId('Microsoft.Authorization/roleDefinitions', '7f951dda-4ed3-4680-a7ca-43fe172d538d'))]"
    );
    assert_eq!(
        v["resources"]["pull"]["scope"],
        "[format('Microsoft.ContainerRegistry/registries/{0}', 'newacr01')]"
    );
}

#[test]
fn a_role_assignment_on_another_registry_of_the_template_is_not_touched() {
    let other = r#"{"type": "Microsoft.ContainerRegistry/registries", "apiVersion": "2023-07-01", "name": "contosodev", "location": "westus", "sku": {"name": "Standard"}, "properties": {}},
        {"type": "Microsoft.Authorization/roleAssignments", "apiVersion": "2022-04-01", "name": "3f1c2a4e-5b6d-4e7f-8a9b-0c1d2e3f4a5b",
          "scope": "[resourceId('Microsoft.ContainerRegistry/registries', 'contosodev')]",
          "properties": {"roleDefinitionId": "[subscriptionResourceId('Microsoft.Authorization/roleDefinitions', '7f951dda-4ed3-4680-a7ca-43fe172d538d')]",
            "principalId": "99999999-8888-7777-6666-555555555555"}}"#;
    let mut o = opts();
    o.only = Some("contosowest".into());
    let out = rewrite_text(&template(REGISTRY, other), &o);
    let v = json(&out.template);
    assert_eq!(
        v["resources"][2]["name"],
        "3f1c2a4e-5b6d-4e7f-8a9b-0c1d2e3f4a5b"
    );
    assert!(with_rule(&out, rules::ROLE_ASSIGNMENT_NAME_LITERAL).is_empty());
}

#[test]
fn a_module_of_role_assignments_on_an_existing_registry_is_rewritten_too() {
    let t = r#"{"$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#", "contentVersion": "1.0.0.0",
      "parameters": {"registryName": {"type": "string", "defaultValue": "contosowest"}, "principalId": {"type": "string"}},
      "resources": [{"type": "Microsoft.ContainerRegistry/registries/providers/roleAssignments", "apiVersion": "2022-04-01",
        "name": "[concat(parameters('registryName'), '/Microsoft.Authorization/3f1c2a4e-5b6d-4e7f-8a9b-0c1d2e3f4a5b')]",
        "properties": {"roleDefinitionId": "[subscriptionResourceId('Microsoft.Authorization/roleDefinitions', '7f951dda-4ed3-4680-a7ca-43fe172d538d')]",
          "principalId": "[parameters('principalId')]"}}]}"#;
    let out = rewrite_text(t, &opts());
    assert_eq!(with_rule(&out, rules::CHILDREN_ONLY).len(), 1);
    let v = json(&out.template);
    assert_eq!(
        v["resources"][0]["name"],
        "[concat(parameters('registryName'), '/Microsoft.Authorization/', guid(resourceId('Microsoft.ContainerRegistry/registries', parameters('registryName')), parameters('principalId'), subscriptionResourceId('Microsoft.Authorization/roleDefinitions', '7f951dda-4ed3-4680-a7ca-43fe172d538d')))]"
    );
    assert_eq!(v["parameters"]["registryName"]["defaultValue"], "newacr01");
}

#[test]
fn a_rewritten_template_rewritten_again_keeps_its_guid_names() {
    let first = rewrite(FIXTURE, &opts());
    let mut again = opts();
    again.name = "newacr02".into();
    let second = rewrite_text(&first.template, &again);
    let names = |t: &str| {
        let v = json(t);
        v["resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(names(&first.template), names(&second.template));
    assert!(with_rule(&second, rules::ROLE_ASSIGNMENT_NAME_LITERAL)
        .iter()
        .all(|f| f.severity == Severity::Blocking));
}

#[test]
fn a_guid_name_of_values_that_do_not_name_the_registry_gets_the_new_registry_id() {
    // In the source's resource group, guid(resourceGroup().id, role) is the source's name again.
    let t = template(
        REGISTRY,
        r#"{"type": "Microsoft.ContainerRegistry/registries/providers/roleAssignments", "apiVersion": "2022-04-01",
            "name": "[concat('contosowest', '/Microsoft.Authorization/', guid(concat(resourceGroup().id), 'acrpull'))]",
            "properties": {"roleDefinitionId": "[subscriptionResourceId('Microsoft.Authorization/roleDefinitions', '7f951dda-4ed3-4680-a7ca-43fe172d538d')]",
              "principalId": "[reference(resourceId('Microsoft.ContainerService/managedClusters', 'aks'), '2024-02-01').identityProfile.kubeletidentity.objectId]"}}"#,
    );
    let out = rewrite_text(&t, &opts());
    assert_eq!(
        json(&out.template)["resources"][1]["name"],
        "[concat('newacr01', '/Microsoft.Authorization/', guid(resourceId('Microsoft.ContainerRegistry/registries', 'newacr01'), concat(resourceGroup().id), 'acrpull'))]"
    );
    let f = finding_at(
        &out,
        rules::ROLE_ASSIGNMENT_NAME_UNSCOPED,
        "/resources/1/name",
    );
    assert_eq!(f.severity, Severity::Info);
    assert!(
        f.message.contains("RoleAssignmentUpdateNotPermitted"),
        "{}",
        f.message
    );
}

#[test]
fn a_guid_name_that_already_names_the_registry_is_kept() {
    let role = r#""properties": {"roleDefinitionId": "[variables('role')]", "principalId": "[parameters('principalId')]"}"#;
    let t = format!(
        r#"{{"$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#", "contentVersion": "1.0.0.0",
          "parameters": {{"acrName": {{"type": "string", "defaultValue": "contosowest"}}, "principalId": {{"type": "string"}}}},
          "variables": {{"role": "[subscriptionResourceId('Microsoft.Authorization/roleDefinitions', '7f951dda-4ed3-4680-a7ca-43fe172d538d')]"}},
          "resources": [
            {{"type": "Microsoft.ContainerRegistry/registries", "apiVersion": "2023-07-01", "name": "[parameters('acrName')]", "location": "westus", "sku": {{"name": "Standard"}}, "properties": {{}}}},
            {{"type": "Microsoft.Authorization/roleAssignments", "apiVersion": "2022-04-01", "scope": "[format('Microsoft.ContainerRegistry/registries/{{0}}', parameters('acrName'))]",
              "name": "[guid(resourceId('Microsoft.ContainerRegistry/registries', parameters('acrName')), parameters('principalId'), variables('role'))]", {role}}},
            {{"type": "Microsoft.Authorization/roleAssignments", "apiVersion": "2022-04-01", "scope": "[format('Microsoft.ContainerRegistry/registries/{{0}}', parameters('acrName'))]",
              "name": "[guid(parameters('acrName'), 'push')]", {role}}},
            {{"type": "Microsoft.ContainerRegistry/registries/providers/roleAssignments", "apiVersion": "2022-04-01",
              "name": "[concat(parameters('acrName'), '/Microsoft.Authorization/', guid(parameters( 'acrName' ), 'pull'))]", {role}}}
          ]}}"#
    );
    let out = rewrite_text(&t, &opts());
    let src = json(&t);
    let v = json(&out.template);
    for i in 1..4 {
        assert_eq!(v["resources"][i]["name"], src["resources"][i]["name"]);
    }
    assert!(with_rule(&out, rules::ROLE_ASSIGNMENT_NAME_UNSCOPED).is_empty());
}

#[test]
fn a_name_given_in_the_parameters_file_or_by_a_variable_is_replaced_too() {
    let t = r#"{"$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#", "contentVersion": "1.0.0.0",
      "parameters": {"assignmentName": {"type": "string"}},
      "variables": {"pushAssignment": "0e6f2a7b-9c4d-4b8e-8f3a-2d1c0b9a8e7f"},
      "resources": [
        {"type": "Microsoft.ContainerRegistry/registries", "apiVersion": "2023-07-01", "name": "contosowest", "location": "westus", "sku": {"name": "Standard"}, "properties": {}},
        {"type": "Microsoft.Authorization/roleAssignments", "apiVersion": "2022-04-01", "name": "[parameters('assignmentName')]",
         "scope": "Microsoft.ContainerRegistry/registries/contosowest",
         "properties": {"roleDefinitionId": "[subscriptionResourceId('Microsoft.Authorization/roleDefinitions', '7f951dda-4ed3-4680-a7ca-43fe172d538d')]", "principalId": "99999999-8888-7777-6666-555555555555"}},
        {"type": "Microsoft.Authorization/roleAssignments", "apiVersion": "2022-04-01", "name": "[variables('pushAssignment')]",
         "scope": "Microsoft.ContainerRegistry/registries/contosowest",
         "properties": {"roleDefinitionId": "[subscriptionResourceId('Microsoft.Authorization/roleDefinitions', '8311e382-0749-4cb8-b61a-304f252e45ec')]", "principalId": "99999999-8888-7777-6666-555555555555"}}]}"#;
    let p = r#"{"$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentParameters.json#", "contentVersion": "1.0.0.0",
      "parameters": {"assignmentName": {"value": "3f1c2a4e-5b6d-4e7f-8a9b-0c1d2e3f4a5b"}}}"#;
    let input = TemplateInput::new("t.json", t).with_parameters("p.json", p);
    let out = rewrite_template(&input, &opts()).unwrap();
    let v = json(&out.template);
    for (i, role) in [(1, "7f951dda"), (2, "8311e382")] {
        let name = v["resources"][i]["name"].as_str().unwrap();
        assert!(name.starts_with("[guid(resourceId('Microsoft.ContainerRegistry/registries', 'newacr01'), '99999999-8888-7777-6666-555555555555', subscriptionResourceId("), "{name}");
        assert!(name.contains(role), "{name}");
    }
    let f = finding_at(
        &out,
        rules::ROLE_ASSIGNMENT_NAME_LITERAL,
        "/resources/1/name",
    );
    assert!(
        f.message.contains(
            "3f1c2a4e-5b6d-4e7f-8a9b-0c1d2e3f4a5b (the value of parameter assignmentName)"
        ),
        "{}",
        f.message
    );
    let f = finding_at(
        &out,
        rules::ROLE_ASSIGNMENT_NAME_LITERAL,
        "/resources/2/name",
    );
    assert!(
        f.message.contains("(the value of variable pushAssignment)"),
        "{}",
        f.message
    );
    // The parameters file still declares a value for the (still declared) parameter: valid.
    assert_eq!(out.parameters.as_deref(), Some(p));
}

#[test]
fn a_scope_read_through_a_variable_or_parameter_holding_the_registry_id_is_the_registry() {
    let t = r#"{"$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#", "contentVersion": "1.0.0.0",
      "parameters": {"registryName": {"type": "string", "defaultValue": "contosowest"},
        "registryId": {"type": "string", "defaultValue": "[resourceId('Microsoft.ContainerRegistry/registries', parameters('registryName'))]"}},
      "variables": {"acrId": "[resourceId('Microsoft.ContainerRegistry/registries', parameters('registryName'))]",
        "otherId": "[resourceId('Microsoft.ContainerRegistry/registries', 'sharedacr')]"},
      "resources": [
        {"type": "Microsoft.ContainerRegistry/registries", "apiVersion": "2023-07-01", "name": "[parameters('registryName')]", "location": "westus", "sku": {"name": "Standard"}, "properties": {}},
        {"type": "Microsoft.Authorization/roleAssignments", "apiVersion": "2022-04-01", "name": "3f1c2a4e-5b6d-4e7f-8a9b-0c1d2e3f4a5b", "scope": "[variables('acrId')]",
         "properties": {"roleDefinitionId": "[subscriptionResourceId('Microsoft.Authorization/roleDefinitions', '7f951dda-4ed3-4680-a7ca-43fe172d538d')]", "principalId": "99999999-8888-7777-6666-555555555555", "principalType": "User"}},
        {"type": "Microsoft.Authorization/roleAssignments", "apiVersion": "2022-04-01", "name": "4a4a4a4a-5b6d-4e7f-8a9b-0c1d2e3f4a5b", "scope": "[parameters('registryId')]",
         "properties": {"roleDefinitionId": "[subscriptionResourceId('Microsoft.Authorization/roleDefinitions', '7f951dda-4ed3-4680-a7ca-43fe172d538d')]", "principalId": "99999999-8888-7777-6666-555555555555", "principalType": "User"}},
        {"type": "Microsoft.Authorization/roleAssignments", "apiVersion": "2022-04-01", "name": "5b5b5b5b-5b6d-4e7f-8a9b-0c1d2e3f4a5b", "scope": "[variables('otherId')]",
         "properties": {"roleDefinitionId": "[subscriptionResourceId('Microsoft.Authorization/roleDefinitions', '7f951dda-4ed3-4680-a7ca-43fe172d538d')]", "principalId": "99999999-8888-7777-6666-555555555555", "principalType": "User"}}]}"#;
    let out = rewrite_text(t, &opts());
    let v = json(&out.template);
    for i in [1, 2] {
        assert_eq!(
            v["resources"][i]["name"],
            format!("[guid({NEW_REGISTRY_ID}, '99999999-8888-7777-6666-555555555555', subscriptionResourceId('Microsoft.Authorization/roleDefinitions', '7f951dda-4ed3-4680-a7ca-43fe172d538d'))]")
        );
        finding_at(
            &out,
            rules::ROLE_ASSIGNMENT_NAME_LITERAL,
            &format!("/resources/{i}/name"),
        );
    }
    // Another registry's id in a variable: not this registry's assignment.
    assert_eq!(
        v["resources"][3]["name"],
        "5b5b5b5b-5b6d-4e7f-8a9b-0c1d2e3f4a5b"
    );
    assert!(out
        .findings
        .iter()
        .all(|f| !f.path.starts_with("/resources/3/")));
}
