//! Role assignments elsewhere (a key vault, a storage account, the resource group) whose
//! principal is the relocated registry's own identity: a literal GUID name is the source's
//! assignment, which gives the role to the source registry's identity and cannot take another
//! principal, so it becomes a deterministic `guid()` of the scope, the new registry's identity
//! and the role. Assignments elsewhere of any other principal keep every byte.

use crate::util::*;
use acr_template::{rewrite_template, rules, Finding, Rewritten, Severity, TemplateInput};

const FIXTURE: &str = "registry-identity-role-assignments.json";
/// The new registry's identity as `guid()` arguments.
const IDENTITY: &str =
    "resourceId('Microsoft.ContainerRegistry/registries', parameters('acrName')), '.identity.principalId'";
const VAULT: &str = "resourceId('Microsoft.KeyVault/vaults', parameters('kvName'))";

/// The finding of `rule` at `path`, which must be the only one there.
fn finding_at<'a>(out: &'a Rewritten, rule: &str, path: &str) -> &'a Finding {
    let at: Vec<_> = with_rule(out, rule)
        .into_iter()
        .filter(|f| f.path == path)
        .collect();
    assert_eq!(at.len(), 1, "{rule} at {path}: {:#?}", out.findings);
    at[0]
}

#[test]
fn a_literal_guid_name_of_the_registry_identitys_assignment_on_a_key_vault_gets_a_guid_of_scope_identity_and_role(
) {
    let out = rewrite(FIXTURE, &opts());
    let v = json(&out.template);
    assert_eq!(
        v["resources"][1]["name"],
        format!("[guid({VAULT}, {IDENTITY}, variables('secretsUser'))]")
    );
    let f = finding_at(
        &out,
        rules::ROLE_ASSIGNMENT_NAME_LITERAL,
        "/resources/1/name",
    );
    assert_eq!(f.severity, Severity::Info);
    for part in [
        "3e3e3e3e-0000-4000-8000-000000000004",
        "the source registry's identity",
        "RoleAssignmentUpdateNotPermitted",
    ] {
        assert!(f.message.contains(part), "{part}: {}", f.message);
    }
    assert!(f.fix.starts_with("nothing to do"), "{}", f.fix);
    // Nothing else of the assignment changes.
    let src = json(&fixture(FIXTURE));
    for key in ["scope", "properties", "dependsOn"] {
        assert_eq!(v["resources"][1][key], src["resources"][1][key], "{key}");
    }
}

#[test]
fn a_name_from_a_parameter_or_a_variable_and_the_short_reference_form_are_rewritten_too() {
    let out = rewrite(FIXTURE, &opts());
    let v = json(&out.template);
    // `reference(<registry id>).identity.principalId`, a literal scope, the name a parameter's
    // default.
    assert_eq!(
        v["resources"][2]["name"],
        format!("[guid('Microsoft.Storage/storageAccounts/stwest', {IDENTITY}, variables('blobReader'))]")
    );
    let f = finding_at(
        &out,
        rules::ROLE_ASSIGNMENT_NAME_LITERAL,
        "/resources/2/name",
    );
    assert!(
        f.message.contains(
            "4b4b4b4b-0000-4000-8000-000000000005 (the value of parameter blobAssignmentName)"
        ),
        "{}",
        f.message
    );
    assert!(
        f.fix
            .contains("parameter blobAssignmentName no longer names it"),
        "{}",
        f.fix
    );
    let f = finding_at(
        &out,
        rules::ROLE_ASSIGNMENT_NAME_LITERAL,
        "/resources/3/name",
    );
    assert!(
        f.message
            .contains("(the value of variable queueAssignment)"),
        "{}",
        f.message
    );
}

#[test]
fn without_a_scope_the_assignment_is_on_the_resource_group_and_the_identity_enters_by_its_id() {
    // `reference(parameters('acrName'), ...)` reads the registry by its name: the name's GUID
    // takes its resource id.
    let out = rewrite(FIXTURE, &opts());
    assert_eq!(
        json(&out.template)["resources"][3]["name"],
        format!("[guid(resourceGroup().id, {IDENTITY}, variables('blobReader'))]")
    );
}

#[test]
fn a_guid_name_elsewhere_of_values_that_do_not_name_the_registry_gets_the_new_registry_id() {
    // In the source's resource group, guid(resourceGroup().id, 'kv') is the source's name again.
    let out = rewrite(FIXTURE, &opts());
    assert_eq!(
        json(&out.template)["resources"][4]["name"],
        "[guid(resourceId('Microsoft.ContainerRegistry/registries', parameters('acrName')), resourceGroup().id, 'kv')]"
    );
    let f = finding_at(
        &out,
        rules::ROLE_ASSIGNMENT_NAME_UNSCOPED,
        "/resources/4/name",
    );
    assert_eq!(f.severity, Severity::Info);
    assert!(
        f.message.contains("the source registry's identity")
            && f.message.contains("RoleAssignmentUpdateNotPermitted"),
        "{}",
        f.message
    );
    // The vault's parameter in the scope does not name the registry; only one finding of the
    // rule: the one at /resources/4.
    assert_eq!(
        with_rule(&out, rules::ROLE_ASSIGNMENT_NAME_UNSCOPED).len(),
        1
    );
}

#[test]
fn assignments_elsewhere_of_other_principals_or_with_a_guid_naming_the_registry_keep_every_byte() {
    let out = rewrite(FIXTURE, &opts());
    let src = json(&fixture(FIXTURE));
    let v = json(&out.template);
    for i in [5, 6, 7] {
        assert_eq!(v["resources"][i], src["resources"][i], "/resources/{i}");
        assert!(
            out.findings
                .iter()
                .all(|f| !f.path.starts_with(&format!("/resources/{i}/"))),
            "{:#?}",
            out.findings
        );
    }
}

#[test]
fn the_older_form_on_a_key_vault_keeps_its_resource_and_provider_prefix() {
    let out = rewrite(FIXTURE, &opts());
    assert_eq!(
        json(&out.template)["resources"][8]["name"],
        format!("[concat('kv-west/Microsoft.Authorization/', guid(resourceId('Microsoft.KeyVault/vaults', 'kv-west'), {IDENTITY}, variables('secretsUser')))]")
    );
    let f = finding_at(
        &out,
        rules::ROLE_ASSIGNMENT_NAME_LITERAL,
        "/resources/8/name",
    );
    assert_eq!(f.severity, Severity::Info);
    assert!(
        f.message.contains("7e7e7e7e-0000-4000-8000-000000000008"),
        "{}",
        f.message
    );
}

#[test]
fn the_older_form_nested_in_a_key_vault_is_blocking_with_the_guid_to_use() {
    // `Microsoft.Authorization/<guid>` inside the vault: the name alone does not say which
    // resource, so it is named by hand.
    let out = rewrite(FIXTURE, &opts());
    let f = finding_at(
        &out,
        rules::ROLE_ASSIGNMENT_NAME_LITERAL,
        "/resources/9/resources/0/name",
    );
    assert_eq!(f.severity, Severity::Blocking);
    assert!(
        f.message.contains("8f8f8f8f-0000-4000-8000-000000000009")
            && f.message.contains("the source registry's identity"),
        "{}",
        f.message
    );
    assert!(f.fix.contains("'.identity.principalId'"), "{}", f.fix);
    assert_eq!(
        json(&out.template)["resources"][9]["resources"][0]["name"],
        "Microsoft.Authorization/8f8f8f8f-0000-4000-8000-000000000009"
    );
}

#[test]
fn only_the_names_change_every_other_byte_is_kept() {
    let src = fixture(FIXTURE);
    let out = rewrite(FIXTURE, &opts());
    assert_eq!(src.lines().count(), out.template.lines().count());
    let changed: Vec<(&str, &str)> = src
        .lines()
        .zip(out.template.lines())
        .filter(|(a, b)| a != b)
        .collect();
    // The registry's name default and location, five role assignment names.
    assert_eq!(changed.len(), 7, "{changed:#?}");
    for (before, after) in changed {
        let key = |l: &str| l.trim_start().split(':').next().unwrap().to_string();
        assert_eq!(key(before), key(after));
    }
}

#[test]
fn a_rewritten_template_rewritten_again_keeps_its_names() {
    let first = rewrite(FIXTURE, &opts());
    let mut again = opts();
    again.name = "newacr02".into();
    let second = rewrite_template(&TemplateInput::new("t.json", &first.template), &again).unwrap();
    let names = |t: &str| {
        json(t)["resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(names(&first.template), names(&second.template));
    assert!(with_rule(&second, rules::ROLE_ASSIGNMENT_NAME_UNSCOPED).is_empty());
    assert!(with_rule(&second, rules::ROLE_ASSIGNMENT_NAME_LITERAL)
        .iter()
        .all(|f| f.severity == Severity::Blocking));
}

#[test]
fn a_registry_identity_read_by_its_symbolic_name_enters_the_name_by_the_new_registry_id() {
    let t = r#"{"$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#", "languageVersion": "2.0", "contentVersion": "1.0.0.0",
      "resources": {
        "acr": {"type": "Microsoft.ContainerRegistry/registries", "apiVersion": "2023-07-01", "name": "contosowest", "location": "westus", "sku": {"name": "Standard"}, "identity": {"type": "SystemAssigned"}, "properties": {}},
        "kvGrant": {"type": "Microsoft.Authorization/roleAssignments", "apiVersion": "2022-04-01", "name": "3e3e3e3e-0000-4000-8000-000000000004",
          "scope": "[format('Microsoft.KeyVault/vaults/{0}', 'kv-west')]",
          "properties": {"roleDefinitionId": "[subscriptionResourceId('Microsoft.Authorization/roleDefinitions', '4633458b-17de-408a-b874-0445c86b69e6')]",
            "principalId": "[reference('acr', '2023-07-01', 'full').identity.principalId]"}}}}"#;
    let out = rewrite_template(&TemplateInput::new("t.json", t), &opts()).unwrap();
    assert_eq!(
        json(&out.template)["resources"]["kvGrant"]["name"],
        "[guid(format('Microsoft.KeyVault/vaults/{0}', 'kv-west'), resourceId('Microsoft.ContainerRegistry/registries', 'newacr01'), '.identity.principalId', subscriptionResourceId('Microsoft.Authorization/roleDefinitions', '4633458b-17de-408a-b874-0445c86b69e6'))]"
    );
}

#[test]
fn a_subscription_template_names_an_unscoped_assignment_by_the_subscription() {
    // The registry's id enters as the reference wrote it, the old name renamed.
    let t = r#"{"$schema": "https://schema.management.azure.com/schemas/2018-05-01/subscriptionDeploymentTemplate.json#", "contentVersion": "1.0.0.0",
      "resources": [
        {"type": "Microsoft.Resources/deployments", "apiVersion": "2022-09-01", "name": "registry", "resourceGroup": "rg-acr",
         "properties": {"mode": "Incremental", "template": {"$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#", "contentVersion": "1.0.0.0",
           "resources": [{"type": "Microsoft.ContainerRegistry/registries", "apiVersion": "2023-07-01", "name": "contosowest", "location": "westus", "sku": {"name": "Standard"}, "identity": {"type": "SystemAssigned"}, "properties": {}}]}}},
        {"type": "Microsoft.Authorization/roleAssignments", "apiVersion": "2022-04-01", "name": "3e3e3e3e-0000-4000-8000-000000000004",
         "properties": {"roleDefinitionId": "[subscriptionResourceId('Microsoft.Authorization/roleDefinitions', 'acdd72a7-3385-48ef-bd42-f606fba81ae7')]",
           "principalId": "[reference(resourceId('rg-acr', 'Microsoft.ContainerRegistry/registries', 'contosowest'), '2023-07-01', 'Full').identity.principalId]"}}]}"#;
    let out = rewrite_template(&TemplateInput::new("t.json", t), &opts()).unwrap();
    let name = json(&out.template)["resources"][1]["name"].clone();
    assert_eq!(
        name,
        "[guid(subscription().id, resourceId('rg-acr', 'Microsoft.ContainerRegistry/registries', 'newacr01'), '.identity.principalId', subscriptionResourceId('Microsoft.Authorization/roleDefinitions', 'acdd72a7-3385-48ef-bd42-f606fba81ae7'))]"
    );
}
