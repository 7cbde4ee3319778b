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

/// A registry named by parameter `registryName`, granted roles on a key vault and the resource
/// group through `variables('acrId')` (its id), parameter `acrResourceId` (its id, as a
/// default) and `variables('registry')` (its name); `otherId` holds another registry's id.
const THROUGH_VARIABLES: &str = r#"{"$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#", "contentVersion": "1.0.0.0",
  "parameters": {
    "registryName": {"type": "string", "defaultValue": "contosowest"},
    "acrResourceId": {"type": "string", "defaultValue": "[resourceId('Microsoft.ContainerRegistry/registries', parameters('registryName'))]"}},
  "variables": {
    "acrId": "[resourceId('Microsoft.ContainerRegistry/registries', parameters('registryName'))]",
    "registry": "[parameters('registryName')]",
    "otherId": "[resourceId('Microsoft.ContainerRegistry/registries', 'sharedacr')]",
    "vault": "[resourceId('Microsoft.KeyVault/vaults', 'kv-west')]",
    "secretsUser": "[subscriptionResourceId('Microsoft.Authorization/roleDefinitions', '4633458b-17de-408a-b874-0445c86b69e6')]"},
  "resources": [
    {"type": "Microsoft.ContainerRegistry/registries", "apiVersion": "2023-07-01", "name": "[parameters('registryName')]", "location": "westus", "sku": {"name": "Premium"}, "identity": {"type": "SystemAssigned"}, "properties": {}},
    {"type": "Microsoft.Authorization/roleAssignments", "apiVersion": "2022-04-01", "name": "3e3e3e3e-0000-4000-8000-000000000004", "scope": "[variables('vault')]",
     "properties": {"roleDefinitionId": "[variables('secretsUser')]", "principalId": "[reference(variables('acrId'), '2023-07-01', 'Full').identity.principalId]"}},
    {"type": "Microsoft.Authorization/roleAssignments", "apiVersion": "2022-04-01", "name": "4b4b4b4b-0000-4000-8000-000000000005",
     "properties": {"roleDefinitionId": "[variables('secretsUser')]", "principalId": "[reference(parameters('acrResourceId')).identity.principalId]"}},
    {"type": "Microsoft.Authorization/roleAssignments", "apiVersion": "2022-04-01", "name": "5c5c5c5c-0000-4000-8000-000000000006", "scope": "[variables('vault')]",
     "properties": {"roleDefinitionId": "[variables('secretsUser')]", "principalId": "[reference(variables('registry'), '2023-07-01', 'Full').identity.principalId]"}},
    {"type": "Microsoft.Authorization/roleAssignments", "apiVersion": "2022-04-01", "name": "[guid(resourceGroup().id, 'kv')]", "scope": "[variables('vault')]",
     "properties": {"roleDefinitionId": "[variables('secretsUser')]", "principalId": "[reference(variables('acrId'), '2023-07-01', 'Full').identity.principalId]"}},
    {"type": "Microsoft.Authorization/roleAssignments", "apiVersion": "2022-04-01", "name": "[guid(variables('vault'), variables('acrId'), variables('secretsUser'))]", "scope": "[variables('vault')]",
     "properties": {"roleDefinitionId": "[variables('secretsUser')]", "principalId": "[reference(variables('acrId'), '2023-07-01', 'Full').identity.principalId]"}},
    {"type": "Microsoft.Authorization/roleAssignments", "apiVersion": "2022-04-01", "name": "6d6d6d6d-0000-4000-8000-000000000007", "scope": "[variables('vault')]",
     "properties": {"roleDefinitionId": "[variables('secretsUser')]", "principalId": "[reference(variables('otherId'), '2023-07-01', 'Full').identity.principalId]"}}]}"#;

#[test]
fn the_registry_identity_read_through_a_variable_or_parameter_holding_its_id_is_named_anew_like_the_direct_forms(
) {
    let src = json(THROUGH_VARIABLES);
    let out = rewrite_template(&TemplateInput::new("t.json", THROUGH_VARIABLES), &opts()).unwrap();
    let v = json(&out.template);
    let role = "variables('secretsUser')";
    // The id enters the name as the reference wrote it: the variable or parameter that holds it.
    assert_eq!(
        v["resources"][1]["name"],
        format!("[guid(variables('vault'), variables('acrId'), '.identity.principalId', {role})]")
    );
    assert_eq!(
        v["resources"][2]["name"],
        format!("[guid(resourceGroup().id, parameters('acrResourceId'), '.identity.principalId', {role})]")
    );
    // A variable that holds the registry's name: its id is built, as for the name written out.
    assert_eq!(
        v["resources"][3]["name"],
        format!("[guid(variables('vault'), resourceId('Microsoft.ContainerRegistry/registries', parameters('registryName')), '.identity.principalId', {role})]")
    );
    for (i, old) in [
        (1, "3e3e3e3e-0000-4000-8000-000000000004"),
        (2, "4b4b4b4b-0000-4000-8000-000000000005"),
        (3, "5c5c5c5c-0000-4000-8000-000000000006"),
    ] {
        let f = finding_at(
            &out,
            rules::ROLE_ASSIGNMENT_NAME_LITERAL,
            &format!("/resources/{i}/name"),
        );
        assert_eq!(f.severity, Severity::Info);
        assert!(
            f.message.contains(old) && f.message.contains("the source registry's identity"),
            "{}",
            f.message
        );
    }
    // A guid() name of values that do not name the registry gets its id; one that names it
    // through the variable is kept, as one naming it through resourceId() would be.
    assert_eq!(
        v["resources"][4]["name"],
        "[guid(resourceId('Microsoft.ContainerRegistry/registries', parameters('registryName')), resourceGroup().id, 'kv')]"
    );
    finding_at(
        &out,
        rules::ROLE_ASSIGNMENT_NAME_UNSCOPED,
        "/resources/4/name",
    );
    assert_eq!(v["resources"][5], src["resources"][5]);
    // Another registry's identity, held by a variable, is not this one's.
    assert_eq!(v["resources"][6], src["resources"][6]);
    assert!(
        out.findings
            .iter()
            .all(|f| !f.path.starts_with("/resources/5/") && !f.path.starts_with("/resources/6/")),
        "{:#?}",
        out.findings
    );
}

/// The registry `contosowest` in a nested deployment to resource group `rg-acr`, and beside it
/// `grants`, role assignments of its identity (JSON text of resources), in a template of `schema`.
fn scoped_template(schema: &str, grants: &str) -> String {
    format!(
        r#"{{"$schema": "https://schema.management.azure.com/schemas/2019-08-01/{schema}.json#", "contentVersion": "1.0.0.0",
  "resources": [
    {{"type": "Microsoft.Resources/deployments", "apiVersion": "2022-09-01", "name": "registry", "location": "westus", "subscriptionId": "00000000-0000-0000-0000-000000000001", "resourceGroup": "rg-acr",
     "properties": {{"mode": "Incremental", "template": {{"$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#", "contentVersion": "1.0.0.0",
       "resources": [{{"type": "Microsoft.ContainerRegistry/registries", "apiVersion": "2023-07-01", "name": "contosowest", "location": "westus", "sku": {{"name": "Standard"}}, "identity": {{"type": "SystemAssigned"}}, "properties": {{}}}}]}}}}}},
    {grants}]}}"#
    )
}

/// A role assignment without a scope, named by a literal GUID, of the registry's identity.
fn grant(guid: &str) -> String {
    format!(
        r#"{{"type": "Microsoft.Authorization/roleAssignments", "apiVersion": "2022-04-01", "name": "{guid}",
     "properties": {{"roleDefinitionId": "{ROLE}", "principalId": "[reference(resourceId('00000000-0000-0000-0000-000000000001', 'rg-acr', 'Microsoft.ContainerRegistry/registries', 'contosowest'), '2023-07-01', 'Full').identity.principalId]"}}}}"#
    )
}

/// A nested deployment (its members `pins`, with `"scope": "inner"` when `inner`) holding `grant`.
fn nested(pins: &str, inner: bool, grant: &str) -> String {
    let evaluation = if inner {
        r#""expressionEvaluationOptions": {"scope": "inner"}, "#
    } else {
        ""
    };
    format!(
        r#"{{"type": "Microsoft.Resources/deployments", "apiVersion": "2022-09-01", "name": "grants", "location": "westus", {pins}
     "properties": {{"mode": "Incremental", {evaluation}"template": {{"$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#", "contentVersion": "1.0.0.0",
       "resources": [{grant}]}}}}}}"#
    )
}

const ROLE: &str =
    "[tenantResourceId('Microsoft.Authorization/roleDefinitions', 'acdd72a7-3385-48ef-bd42-f606fba81ae7')]";
/// The new registry's identity and the role, as the last `guid()` arguments.
const NEW_IDENTITY_AND_ROLE: &str = "resourceId('00000000-0000-0000-0000-000000000001', 'rg-acr', 'Microsoft.ContainerRegistry/registries', 'newacr01'), '.identity.principalId', tenantResourceId('Microsoft.Authorization/roleDefinitions', 'acdd72a7-3385-48ef-bd42-f606fba81ae7')";

#[test]
fn a_management_group_or_tenant_template_names_an_unscoped_assignment_by_its_own_scope() {
    for (schema, scope) in [
        ("managementGroupDeploymentTemplate", "managementGroup().id"),
        ("tenantDeploymentTemplate", "tenant().id"),
    ] {
        let t = scoped_template(schema, &grant("3e3e3e3e-0000-4000-8000-000000000004"));
        let out = rewrite_template(&TemplateInput::new("t.json", t), &opts()).unwrap();
        assert_eq!(
            json(&out.template)["resources"][1]["name"],
            format!("[guid({scope}, {NEW_IDENTITY_AND_ROLE})]"),
            "{schema}"
        );
        let f = finding_at(
            &out,
            rules::ROLE_ASSIGNMENT_NAME_LITERAL,
            "/resources/1/name",
        );
        assert_eq!(f.severity, Severity::Info, "{schema}");
    }
}

#[test]
fn an_unscoped_assignment_of_a_nested_deployment_is_named_by_the_scope_that_deployment_targets() {
    let at = "/resources/1/properties/template/resources/0/name";
    let cases = [
        // Inner scope: the functions name the nested deployment's own scope.
        (
            r#""resourceGroup": "rg-grants","#,
            true,
            "resourceGroup().id".to_string(),
        ),
        (
            r#""subscriptionId": "00000000-0000-0000-0000-000000000002","#,
            true,
            "subscription().id".to_string(),
        ),
        // Outer scope: they name the template around it, so the id is built from the
        // deployment's own members, evaluated there too.
        (
            r#""subscriptionId": "[parameters('grantsSubscription')]", "resourceGroup": "rg-grants","#,
            false,
            "subscriptionResourceId(parameters('grantsSubscription'), 'Microsoft.Resources/resourceGroups', 'rg-grants')".to_string(),
        ),
        (
            r#""subscriptionId": "00000000-0000-0000-0000-000000000002","#,
            false,
            "format('/subscriptions/{0}', '00000000-0000-0000-0000-000000000002')".to_string(),
        ),
        (
            r#""scope": "[concat('Microsoft.Management/managementGroups/', 'mg-platform')]","#,
            false,
            "concat('Microsoft.Management/managementGroups/', 'mg-platform')".to_string(),
        ),
        // Without members of its own, it deploys where it is: the management group.
        ("", true, "managementGroup().id".to_string()),
    ];
    for (pins, inner, scope) in cases {
        let t = scoped_template(
            "managementGroupDeploymentTemplate",
            &nested(pins, inner, &grant("3e3e3e3e-0000-4000-8000-000000000004")),
        );
        let out = rewrite_template(&TemplateInput::new("t.json", t), &opts()).unwrap();
        let v = json(&out.template);
        assert_eq!(
            v.pointer(at).unwrap(),
            &serde_json::Value::String(format!("[guid({scope}, {NEW_IDENTITY_AND_ROLE})]")),
            "{pins} inner: {inner}"
        );
        assert_eq!(
            finding_at(&out, rules::ROLE_ASSIGNMENT_NAME_LITERAL, at).severity,
            Severity::Info
        );
    }
}

/// From a resource group's template, a nested deployment that names a subscription and no
/// resource group deploys to that subscription (Azure's "Scope to subscription").
#[test]
fn a_nested_deployment_naming_only_a_subscription_from_a_resource_group_goes_to_the_subscription() {
    let at = "/resources/1/properties/template/resources/0/name";
    let t = scoped_template(
        "deploymentTemplate",
        &nested(
            r#""subscriptionId": "00000000-0000-0000-0000-000000000002", "location": "westeurope","#,
            false,
            &grant("3e3e3e3e-0000-4000-8000-000000000004"),
        ),
    );
    let out = rewrite_template(&TemplateInput::new("t.json", t), &opts()).unwrap();
    assert_eq!(
        json(&out.template).pointer(at).unwrap(),
        &serde_json::Value::String(format!(
            "[guid(format('/subscriptions/{{0}}', '00000000-0000-0000-0000-000000000002'), {NEW_IDENTITY_AND_ROLE})]"
        ))
    );
}

#[test]
fn an_unscoped_assignment_deployed_to_a_scope_no_expression_names_is_blocking_with_what_to_do() {
    let at = "/resources/1/properties/template/resources/0/name";
    for (pins, why) in [
        (
            r#""scope": "[parameters('somewhere')]","#,
            "neither the tenant (\"/\") nor a management group",
        ),
        (
            r#""subscriptionId": "[reference('sub').outputs.id.value]", "resourceGroup": "rg-grants","#,
            "only known during the deployment",
        ),
    ] {
        let t = scoped_template(
            "managementGroupDeploymentTemplate",
            &nested(pins, false, &grant("3e3e3e3e-0000-4000-8000-000000000004")),
        );
        let out = rewrite_template(&TemplateInput::new("t.json", t), &opts()).unwrap();
        let f = finding_at(&out, rules::ROLE_ASSIGNMENT_NAME_LITERAL, at);
        assert_eq!(f.severity, Severity::Blocking, "{pins}");
        assert!(
            f.fix.contains("nested deployment grants") && f.fix.contains(why),
            "{}",
            f.fix
        );
        assert!(f.fix.contains("'.identity.principalId'"), "{}", f.fix);
        assert_eq!(
            json(&out.template).pointer(at).unwrap(),
            "3e3e3e3e-0000-4000-8000-000000000004"
        );
    }
}
