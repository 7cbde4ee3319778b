//! The plan's `[template]` section takes what the `template` command's options offer for a
//! relocation (subnets, a key, an identity, replications, `only`), and `plan` says up front when
//! the template step would stop `apply`.

use std::path::{Path, PathBuf};

use crate::plan::config;
use crate::util::*;

const OLD_SUBNET: &str = "/subscriptions/11111111-1111-1111-1111-111111111111/resourceGroups/rg-old/providers/Microsoft.Network/virtualNetworks/vnet-east/subnets/aks";
const NEW_SUBNET: &str = "/subscriptions/22222222-2222-2222-2222-222222222222/resourceGroups/rg-eu/providers/Microsoft.Network/virtualNetworks/vnet-eu/subnets/acr";
const PE_SUBNET: &str = "/subscriptions/22222222-2222-2222-2222-222222222222/resourceGroups/rg-eu/providers/Microsoft.Network/virtualNetworks/vnet-eu/subnets/endpoints";
const ZONE: &str = "/subscriptions/22222222-2222-2222-2222-222222222222/resourceGroups/rg-dns/providers/Microsoft.Network/privateDnsZones/privatelink.azurecr.io";
const OLD_KEY: &str =
    "https://kv-east.vault.azure.net/keys/acrkey/00000000000000000000000000000001";
const NEW_KEY: &str = "https://kv-eu.vault.azure.net/keys/acrkey/00000000000000000000000000000002";
const OLD_IDENTITY: &str = "/subscriptions/11111111-1111-1111-1111-111111111111/resourceGroups/rg-old/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-east";
const NEW_IDENTITY: &str = "/subscriptions/22222222-2222-2222-2222-222222222222/resourceGroups/rg-eu/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-eu";

/// An export of a Premium registry in eastus with a network rule on an eastus subnet, a
/// customer-managed key read by a user-assigned identity, and replicas in eastus and japaneast.
fn export() -> String {
    format!(
        r#"{{
  "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
  "contentVersion": "1.0.0.0",
  "parameters": {{ "registries_oldacr_name": {{ "defaultValue": "oldacr", "type": "String" }} }},
  "resources": [
    {{
      "type": "Microsoft.ContainerRegistry/registries",
      "apiVersion": "2021-12-01-preview",
      "name": "[parameters('registries_oldacr_name')]",
      "location": "eastus",
      "sku": {{ "name": "Premium" }},
      "identity": {{
        "type": "UserAssigned",
        "userAssignedIdentities": {{ "{OLD_IDENTITY}": {{}} }}
      }},
      "properties": {{
        "adminUserEnabled": false,
        "networkRuleSet": {{
          "defaultAction": "Deny",
          "virtualNetworkRules": [ {{ "action": "Allow", "id": "{OLD_SUBNET}" }} ]
        }},
        "encryption": {{
          "status": "enabled",
          "keyVaultProperties": {{
            "keyIdentifier": "{OLD_KEY}",
            "identity": "33333333-3333-3333-3333-333333333333"
          }}
        }}
      }}
    }},
    {{
      "type": "Microsoft.ContainerRegistry/registries/replications",
      "apiVersion": "2021-12-01-preview",
      "name": "[concat(parameters('registries_oldacr_name'), '/japaneast')]",
      "location": "japaneast",
      "dependsOn": [ "[resourceId('Microsoft.ContainerRegistry/registries', parameters('registries_oldacr_name'))]" ],
      "properties": {{ "regionEndpointEnabled": true }}
    }}
  ]
}}
"#
    )
}

/// A layout source and target in `dir`, the export beside them, and `relocation.toml` with
/// `[template]` holding `keys` besides its input, name, location and output.
fn layout_plan_config(dir: &Path, keys: &str) -> PathBuf {
    let source = dir.join("source");
    if !source.exists() {
        let layout =
            acr_relocate::transport::layout::Layout::create(&source.join("sample")).unwrap();
        block_on(acr_relocate::sample::write(&layout, 1, 3)).unwrap();
    }
    std::fs::write(dir.join("export.json"), export()).unwrap();
    config(
        dir,
        &oci(&source),
        &format!("oci:{}", dir.join("target").display()),
        &format!(
            "[template]\ninput = \"export.json\"\nname = \"newacr\"\nlocation = \"westeurope\"\noutput = \"template.out.json\"\n{keys}"
        ),
    )
}

fn plan_run(dir: &Path, cfg: &Path) -> std::process::Output {
    run(&[
        "plan",
        "--config",
        cfg.to_str().unwrap(),
        "-o",
        dir.join("plan.json").to_str().unwrap(),
    ])
}

/// Every option of the rewrite a relocation needs is a key of `[template]`, recorded in the plan
/// and given to the rewrite by `apply`: the target's subnet, key and identity replace the
/// source's, a replica is added and one dropped. The plan is clean (exit 0).
#[test]
fn the_template_keys_reach_the_rewrite_that_apply_runs() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = layout_plan_config(
        dir.path(),
        &format!(
            "subnets = [\"{NEW_SUBNET}\"]\nkey_uri = \"{NEW_KEY}\"\nidentity = \"{NEW_IDENTITY}\"\nreplications = [\"northeurope\"]\ndrop_replications = [\"japaneast\"]\nonly = \"oldacr\"\nprivate_endpoint_subnet = \"{PE_SUBNET}\"\nprivate_dns_zone = \"{ZONE}\"\n"
        ),
    );
    let out = plan_run(dir.path(), &cfg);
    assert_success(&out);
    assert!(!stderr(&out).contains("blocking"), "{}", stderr(&out));
    let plan: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("plan.json")).unwrap()).unwrap();
    let step = &plan["steps"][1];
    assert_eq!(step["kind"], "template");
    assert_eq!(step["subnets"][0], NEW_SUBNET);
    assert_eq!(step["key_uri"], NEW_KEY);
    assert_eq!(step["identity"], NEW_IDENTITY);
    assert_eq!(step["replications"][0], "northeurope");
    assert_eq!(step["drop_replications"][0], "japaneast");
    assert_eq!(step["only"], "oldacr");
    assert_eq!(step["private_endpoint_subnet"], PE_SUBNET);
    assert_eq!(step["private_dns_zone"], ZONE);

    let out = run(&[
        "apply",
        "-q",
        "--step",
        "template",
        dir.path().join("plan.json").to_str().unwrap(),
    ]);
    assert_success(&out);
    let mut written = std::fs::read_to_string(dir.path().join("template.out.json")).unwrap();
    if let Ok(p) = std::fs::read_to_string(dir.path().join("template.out.parameters.json")) {
        written.push_str(&p);
    }
    for present in [
        NEW_SUBNET,
        NEW_KEY,
        NEW_IDENTITY,
        "northeurope",
        PE_SUBNET,
        ZONE,
        "newacr-pe",
    ] {
        assert!(written.contains(present), "{present}: {written}");
    }
    for gone in [OLD_SUBNET, OLD_KEY, OLD_IDENTITY, "japaneast"] {
        assert!(!written.contains(gone), "{gone}: {written}");
    }
}

/// Without the target's subnet and key, the template step has blocking findings: `plan` writes
/// the plan, says each on stderr with what to do, and exits 1; the key that stays the source's
/// is blocking in a plan (it can only be set at creation) and its fix names `key_uri`. `apply`
/// stops at the template step, writing nothing.
#[test]
fn plan_says_up_front_when_the_template_step_would_stop_apply() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = layout_plan_config(dir.path(), "");
    let out = plan_run(dir.path(), &cfg);
    assert_exit_code(&out, 1);
    let err = stderr(&out);
    assert!(dir.path().join("plan.json").exists(), "{err}");
    for said in [
        "plan: blocking: step 2-template: vnet-rules-source-subnet",
        "plan: blocking: step 2-template: cmk-key-from-source",
        "set key_uri (and identity) under [template] in",
        "apply would stop at it and never delete the source",
    ] {
        assert!(err.contains(said), "{said}: {err}");
    }
    let out = run(&[
        "apply",
        "-q",
        "--step",
        "template",
        dir.path().join("plan.json").to_str().unwrap(),
    ]);
    assert_exit_code(&out, 1);
    assert!(
        stderr(&out).contains("cmk-key-from-source"),
        "{}",
        stderr(&out)
    );
    assert!(!dir.path().join("template.out.json").exists());

    // The subnet given, the key still the source's: still blocking, on the key alone.
    let cfg = layout_plan_config(dir.path(), &format!("subnet = [\"{NEW_SUBNET}\"]\n"));
    let out = plan_run(dir.path(), &cfg);
    assert_exit_code(&out, 1);
    let err = stderr(&out);
    assert!(!err.contains("vnet-rules-source-subnet"), "{err}");
    assert!(err.contains("cmk-key-from-source"), "{err}");
}

/// A key `[template]` does not know is refused, naming the known ones.
#[test]
fn an_unknown_template_key_is_refused_with_the_known_ones() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = layout_plan_config(dir.path(), "subnet_ids = [\"x\"]\n");
    let out = plan_run(dir.path(), &cfg);
    assert_exit_code(&out, 2);
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    for key in [
        "unknown field `subnet_ids`",
        "subnets",
        "key_uri",
        "identity",
        "replications",
        "drop_replications",
        "only",
        "private_endpoint_subnet",
        "private_dns_zone",
    ] {
        assert!(err.contains(key), "{key}: {err}");
    }
    assert!(!dir.path().join("plan.json").exists());
}
