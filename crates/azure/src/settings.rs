//! `azure settings`: the seed's "verify registry settings": two registries side by side, field by
//! field, with the differences that matter for a relocation flagged.

use serde::Serialize;
use serde_json::Value;

use crate::arm::ArmClient;
use crate::error::Result;
use crate::registry;
use crate::resource_id::ResourceId;

/// One compared setting.
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    /// The setting (`sku`, `publicNetworkAccess`, ...).
    pub setting: &'static str,
    /// Its value in the source.
    pub source: String,
    /// Its value in the target.
    pub target: String,
    /// `same`, `expected` (differs by design or by `--expect`) or `differs`.
    pub verdict: &'static str,
}

/// Settings expected to differ in any relocation.
const ALWAYS_EXPECTED: [&str; 1] = ["location"];

/// Settings expected to differ when both registries have one: a customer-managed key and the
/// identity that reads it belong to the region (a Key Vault of the target region); one registry
/// with a key and the other without differs (the `encryption` row says so too).
const EXPECTED_WHEN_BOTH_SET: [&str; 2] = ["encryption.keyIdentifier", "encryption.identity"];

/// What is compared: name and a JSON pointer into the registry resource.
const FIELDS: [(&str, &str); 22] = [
    ("location", "/location"),
    ("sku", "/sku/name"),
    ("identity.type", "/identity/type"),
    ("adminUserEnabled", "/properties/adminUserEnabled"),
    ("publicNetworkAccess", "/properties/publicNetworkAccess"),
    (
        "networkRuleBypassOptions",
        "/properties/networkRuleBypassOptions",
    ),
    (
        "networkRuleSet.defaultAction",
        "/properties/networkRuleSet/defaultAction",
    ),
    (
        "networkRuleSet.ipRules",
        "/properties/networkRuleSet/ipRules",
    ),
    ("zoneRedundancy", "/properties/zoneRedundancy"),
    ("dataEndpointEnabled", "/properties/dataEndpointEnabled"),
    ("anonymousPullEnabled", "/properties/anonymousPullEnabled"),
    ("encryption", "/properties/encryption/status"),
    (
        "encryption.keyIdentifier",
        "/properties/encryption/keyVaultProperties/keyIdentifier",
    ),
    (
        "encryption.identity",
        "/properties/encryption/keyVaultProperties/identity",
    ),
    (
        "policies.quarantinePolicy",
        "/properties/policies/quarantinePolicy/status",
    ),
    (
        "policies.trustPolicy",
        "/properties/policies/trustPolicy/status",
    ),
    // Status and days only: `lastUpdatedTime` is read-only and differs between any two registries.
    (
        "policies.retentionPolicy",
        "/properties/policies/retentionPolicy/status",
    ),
    (
        "policies.retentionPolicy.days",
        "/properties/policies/retentionPolicy/days",
    ),
    (
        "policies.exportPolicy",
        "/properties/policies/exportPolicy/status",
    ),
    (
        "policies.softDeletePolicy",
        "/properties/policies/softDeletePolicy/status",
    ),
    (
        "policies.softDeletePolicy.retentionDays",
        "/properties/policies/softDeletePolicy/retentionDays",
    ),
    (
        "policies.azureADAuthenticationAsArmPolicy",
        "/properties/policies/azureADAuthenticationAsArmPolicy/status",
    ),
];

/// Compares two registries (their resources and replications). `expected` names settings allowed
/// to differ (as a plan expects: a new SKU, ...).
pub async fn compare(
    arm: &ArmClient,
    source: &ResourceId,
    target: &ResourceId,
    expected: &[String],
) -> Result<Vec<Row>> {
    let (a, b) = futures::try_join!(registry::get(arm, source), registry::get(arm, target))?;
    let (ra, rb) = futures::try_join!(
        registry::children(arm, source, "replications"),
        registry::children(arm, target, "replications")
    )?;
    Ok(rows(&a, &b, &ra, &rb, expected))
}

/// The comparison of two registry resources and their replications.
pub fn rows(
    source: &Value,
    target: &Value,
    source_replications: &[Value],
    target_replications: &[Value],
    expected: &[String],
) -> Vec<Row> {
    let show = |v: Option<&Value>| match v {
        None | Some(Value::Null) => "-".to_string(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    };
    let is_expected = |name: &str| {
        ALWAYS_EXPECTED.contains(&name) || expected.iter().any(|e| e.eq_ignore_ascii_case(name))
    };
    let mut out: Vec<Row> = FIELDS
        .iter()
        .map(|(name, pointer)| {
            let (s, t) = (show(source.pointer(pointer)), show(target.pointer(pointer)));
            let both_set = s != "-" && t != "-";
            let verdict = if s == t {
                "same"
            } else if is_expected(name) || (both_set && EXPECTED_WHEN_BOTH_SET.contains(name)) {
                "expected"
            } else {
                "differs"
            };
            Row {
                setting: name,
                source: s,
                target: t,
                verdict,
            }
        })
        .collect();
    // Replications: the regions each registry serves besides the two home regions. In a
    // relocation the target's home is often a replica of the source (eastus with a westeurope
    // replica moves to westeurope: the target serves westeurope as its home), and the source's
    // home is the region left (its replication is dropped by `template`): neither is a
    // difference. Every other region must be served by both.
    let homes: Vec<String> = [source, target]
        .iter()
        .filter_map(|r| r["location"].as_str())
        .map(str::to_ascii_lowercase)
        .collect();
    let regions = |_: &Value, list: &[Value]| {
        let mut r: Vec<String> = list
            .iter()
            .filter_map(|v| v["location"].as_str())
            .map(str::to_ascii_lowercase)
            .filter(|l| !homes.contains(l))
            .collect();
        r.sort();
        r.dedup();
        if r.is_empty() {
            "-".to_string()
        } else {
            r.join(",")
        }
    };
    let (s, t) = (
        regions(source, source_replications),
        regions(target, target_replications),
    );
    let verdict = if s == t {
        "same"
    } else if is_expected("replications") {
        "expected"
    } else {
        "differs"
    };
    out.push(Row {
        setting: "replications",
        source: s,
        target: t,
        verdict,
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn location_is_expected_to_differ_and_sku_is_flagged() {
        let a = json!({"location":"westus","sku":{"name":"Premium"},"properties":{"publicNetworkAccess":"Disabled"}});
        let b = json!({"location":"eastus","sku":{"name":"Standard"},"properties":{"publicNetworkAccess":"Disabled"}});
        let rows = rows(
            &a,
            &b,
            &[
                json!({"location":"westus"}),
                json!({"location":"northeurope"}),
            ],
            &[json!({"location":"eastus"})],
            &[],
        );
        let verdict = |n: &str| rows.iter().find(|r| r.setting == n).unwrap().verdict;
        assert_eq!(verdict("location"), "expected");
        assert_eq!(verdict("sku"), "differs");
        assert_eq!(verdict("publicNetworkAccess"), "same");
        // westus's northeurope replica is not in the target.
        assert_eq!(verdict("replications"), "differs");
        let rows2 = super::rows(&a, &b, &[], &[], &["SKU".into()]);
        assert_eq!(
            rows2.iter().find(|r| r.setting == "sku").unwrap().verdict,
            "expected"
        );
    }

    /// The normal relocation: eastus with replicas in westeurope and northeurope moves to
    /// westeurope, keeping northeurope. The source lists the new home as a replica and its own
    /// home's replication; the target lists its home's: the same regions are served.
    #[test]
    fn replications_are_the_same_when_the_new_home_was_a_replica_of_the_source() {
        let a = json!({"location":"eastus"});
        let b = json!({"location":"westeurope"});
        let source = [
            json!({"location":"eastus"}),
            json!({"location":"westeurope"}),
            json!({"location":"northeurope"}),
        ];
        let target = [
            json!({"location":"westeurope"}),
            json!({"location":"northeurope"}),
        ];
        let r = rows(&a, &b, &source, &target, &[]);
        let row = r.iter().find(|r| r.setting == "replications").unwrap();
        assert_eq!(
            (row.verdict, row.source.as_str(), row.target.as_str()),
            ("same", "northeurope", "northeurope")
        );
        // A replica left out of the target differs.
        let r = rows(&a, &b, &source, &target[..1], &[]);
        let row = r.iter().find(|r| r.setting == "replications").unwrap();
        assert_eq!((row.verdict, row.target.as_str()), ("differs", "-"));
    }

    /// Identity type, the key and its identity, soft delete and the Entra ARM-token policy are
    /// compared; a key of another vault (the target region's) is expected, a key on one side only
    /// differs.
    #[test]
    fn identity_key_and_the_newer_policies_are_compared() {
        let registry = |identity: &str, key: Option<&str>, soft_delete: &str| {
            let mut r = json!({
                "location": "eastus",
                "identity": {"type": identity},
                "properties": {"policies": {
                    "softDeletePolicy": {"status": soft_delete, "retentionDays": 7},
                    "azureADAuthenticationAsArmPolicy": {"status": "enabled"}
                }}
            });
            if let Some(k) = key {
                r["properties"]["encryption"] = json!({"status": "enabled", "keyVaultProperties": {"keyIdentifier": k, "identity": format!("client-of-{k}")}});
            }
            r
        };
        let a = registry("UserAssigned", Some("https://kv-east/keys/k"), "enabled");
        let b = registry("SystemAssigned", Some("https://kv-eu/keys/k"), "disabled");
        let r = rows(&a, &b, &[], &[], &[]);
        let verdict = |n: &str| r.iter().find(|r| r.setting == n).unwrap().verdict;
        assert_eq!(verdict("identity.type"), "differs");
        assert_eq!(verdict("encryption.keyIdentifier"), "expected");
        assert_eq!(verdict("encryption.identity"), "expected");
        assert_eq!(verdict("policies.softDeletePolicy"), "differs");
        assert_eq!(verdict("policies.softDeletePolicy.retentionDays"), "same");
        assert_eq!(verdict("policies.azureADAuthenticationAsArmPolicy"), "same");
        let c = registry("UserAssigned", None, "enabled");
        let r = rows(&a, &c, &[], &[], &[]);
        let verdict = |n: &str| r.iter().find(|r| r.setting == n).unwrap().verdict;
        assert_eq!(verdict("encryption.keyIdentifier"), "differs");
    }
}
