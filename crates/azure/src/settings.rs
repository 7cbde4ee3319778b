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

/// What is compared: name and a JSON pointer into the registry resource.
const FIELDS: [(&str, &str); 16] = [
    ("location", "/location"),
    ("sku", "/sku/name"),
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
            let verdict = if s == t {
                "same"
            } else if is_expected(name) {
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
    // Replications: compare the set of regions other than each registry's home region (the home
    // region's replication moves with the registry).
    let regions = |home: &Value, list: &[Value]| {
        let home = home["location"].as_str().unwrap_or("").to_ascii_lowercase();
        let mut r: Vec<String> = list
            .iter()
            .filter_map(|v| v["location"].as_str())
            .map(str::to_ascii_lowercase)
            .filter(|l| *l != home)
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
        assert_eq!(verdict("replications"), "differs");
        let rows2 = super::rows(&a, &b, &[], &[], &["SKU".into()]);
        assert_eq!(
            rows2.iter().find(|r| r.setting == "sku").unwrap().verdict,
            "expected"
        );
    }
}
