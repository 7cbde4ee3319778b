//! Secure parameters that hold a value in the input (the webhook callbacks `azure export` writes
//! as secureString defaults): named for the command, never shown in findings.

use crate::util::*;
use acr_template::{rewrite_template, rules, TemplateInput};

/// A registry in eastus with a webhook whose callback is a secureString default, and a
/// replication whose region comes from a secureString parameter (an odd template, but one whose
/// finding quotes the parameter's default).
const TEMPLATE: &str = r#"{
  "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
  "contentVersion": "1.0.0.0",
  "parameters": {
    "webhooks_hook_serviceUri": { "type": "secureString", "defaultValue": "https://hooks.example/hook?code=S3CRETVALUE" },
    "webhooks_hook_customHeaders": { "type": "secureObject", "defaultValue": { "Authorization": "Bearer T0KENVALUE" } },
    "replicaRegion": { "type": "secureString", "defaultValue": "[concat('north', 'europe-S3CRETREGION')]" },
    "emptySecret": { "type": "secureString" },
    "plain": { "type": "string", "defaultValue": "not secret" }
  },
  "resources": [
    { "type": "Microsoft.ContainerRegistry/registries", "apiVersion": "2023-07-01", "name": "oldacr01",
      "location": "eastus", "sku": { "name": "Premium" }, "properties": {} },
    { "type": "Microsoft.ContainerRegistry/registries/replications", "apiVersion": "2023-07-01",
      "name": "oldacr01/replica", "location": "[parameters('replicaRegion')]", "properties": {},
      "dependsOn": ["[resourceId('Microsoft.ContainerRegistry/registries', 'oldacr01')]"] },
    { "type": "Microsoft.ContainerRegistry/registries/webhooks", "apiVersion": "2023-07-01",
      "name": "oldacr01/hook", "location": "eastus",
      "properties": { "serviceUri": "[parameters('webhooks_hook_serviceUri')]",
        "customHeaders": "[parameters('webhooks_hook_customHeaders')]", "actions": ["push"] },
      "dependsOn": ["[resourceId('Microsoft.ContainerRegistry/registries', 'oldacr01')]"] }
  ]
}"#;

#[test]
fn secure_parameters_holding_a_default_are_named_for_the_outputs_permissions() {
    let out = rewrite_template(&TemplateInput::new("t.json", TEMPLATE), &opts()).unwrap();
    // The declared-only one holds nothing; a plain string is no secret.
    assert_eq!(
        out.secure_parameters,
        [
            "webhooks_hook_serviceUri",
            "webhooks_hook_customHeaders",
            "replicaRegion"
        ]
    );
    // The outputs carry them: that is why they must be written for their owner only.
    assert!(out.template.contains("S3CRETVALUE"));
}

#[test]
fn a_value_given_in_the_parameters_file_for_a_secure_parameter_is_a_secret_too() {
    let params = r#"{ "parameters": { "emptySecret": { "value": "p4ssw0rd-from-file" } } }"#;
    let input = TemplateInput::new("t.json", TEMPLATE).with_parameters("p.json", params);
    let out = rewrite_template(&input, &opts()).unwrap();
    assert!(out.secure_parameters.contains(&"emptySecret".to_string()));
}

#[test]
fn a_finding_that_quotes_a_secure_parameters_default_shows_it_redacted() {
    let out = rewrite_template(&TemplateInput::new("t.json", TEMPLATE), &opts()).unwrap();
    let f = with_rule(&out, rules::REPLICATION_LOCATION_UNKNOWN);
    assert_eq!(f.len(), 1, "{:#?}", out.findings);
    assert!(
        f[0].message
            .contains("parameter replicaRegion's default is <redacted> (at /parameters/replicaRegion/defaultValue)"),
        "{}",
        f[0].message
    );
    for f in &out.findings {
        for secret in ["S3CRET", "T0KENVALUE", "europe-S3CRETREGION"] {
            assert!(
                !f.message.contains(secret) && !f.fix.contains(secret),
                "{f:#?}"
            );
        }
    }
}
