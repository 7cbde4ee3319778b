//! `azure settings`: the seed's "verify registry settings": two registries side by side, field by
//! field, with the differences that matter for a relocation flagged. Besides the registry
//! resource's own settings, the members a relocation must carry over (replications, webhooks,
//! scope maps, tokens, cache rules, credential sets, diagnostic settings, private endpoint
//! connections) are compared collection by collection.

use serde::Serialize;
use serde_json::Value;

use crate::api;
use crate::arm::ArmClient;
use crate::error::{AzureError, Result};
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
    /// `same`, `expected` (differs by design or by `--expect`), `differs`, or `unread` (a
    /// collection ARM did not list for one of the two: the values say why).
    pub verdict: &'static str,
}

/// What [`compare`] reads of one registry.
#[derive(Clone, Debug, Default)]
pub struct Registry {
    /// The registry resource (`GET registries/{name}`).
    pub resource: Value,
    /// Its replications.
    pub replications: Vec<Value>,
    /// Each collection of [`MEMBERS`], in that order: its members, or why it was not listed.
    pub members: Vec<std::result::Result<Vec<Value>, String>>,
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

/// A collection of a registry's members compared by [`rows`]: where ARM lists it, and what of each
/// member must match (`None` leaves a member out, as the built-in scope maps every registry has).
pub struct Members {
    /// The row's name.
    pub setting: &'static str,
    /// The collection under the registry's ID.
    pub path: &'static str,
    /// The API version to list it with.
    pub api_version: &'static str,
    /// One member as compared: its name and the settings a relocation must keep.
    pub describe: fn(&Value) -> Option<String>,
}

/// The collections compared, in the order of [`Registry::members`].
pub const MEMBERS: [Members; 6] = [
    Members {
        setting: "webhooks",
        path: "webhooks",
        api_version: api::CONTAINER_REGISTRY,
        describe: describe_webhook,
    },
    Members {
        setting: "scopeMaps",
        path: "scopeMaps",
        api_version: api::CONTAINER_REGISTRY,
        describe: describe_scope_map,
    },
    Members {
        setting: "tokens",
        path: "tokens",
        api_version: api::CONTAINER_REGISTRY,
        describe: describe_token,
    },
    Members {
        setting: "cacheRules",
        path: "cacheRules",
        api_version: api::CONTAINER_REGISTRY,
        describe: describe_cache_rule,
    },
    Members {
        setting: "credentialSets",
        path: "credentialSets",
        api_version: api::CONTAINER_REGISTRY,
        describe: describe_credential_set,
    },
    Members {
        setting: "diagnosticSettings",
        path: "providers/Microsoft.Insights/diagnosticSettings",
        api_version: "2021-05-01-preview",
        describe: describe_diagnostic_setting,
    },
];

/// The last segment of a resource ID (`…/scopeMaps/pull-only` → `pull-only`).
fn last_segment(id: &str) -> &str {
    id.trim_end_matches('/').rsplit('/').next().unwrap_or(id)
}

/// The strings of a JSON array, sorted and joined with `,` (`-` for none).
fn sorted_list(value: &Value) -> String {
    let mut items: Vec<String> = value
        .as_array()
        .map(|a| {
            a.iter()
                .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
                .collect()
        })
        .unwrap_or_default();
    items.sort();
    if items.is_empty() {
        "-".into()
    } else {
        items.join(",")
    }
}

/// The text of a JSON string field, or `-`.
fn text(value: &Value) -> &str {
    value.as_str().unwrap_or("-")
}

/// A webhook: its actions, scope and status (its callback is a secret ARM does not show).
fn describe_webhook(member: &Value) -> Option<String> {
    let p = &member["properties"];
    Some(format!(
        "{}(actions={}; scope={}; {})",
        text(&member["name"]),
        sorted_list(&p["actions"]),
        text(&p["scope"]),
        text(&p["status"])
    ))
}

/// A user-defined scope map and its actions; the built-in ones (`_repositories_pull`, …) are
/// left out: every registry has them.
fn describe_scope_map(member: &Value) -> Option<String> {
    let p = &member["properties"];
    if p["type"].as_str() == Some("SystemDefined") {
        return None;
    }
    Some(format!(
        "{}(actions={})",
        text(&member["name"]),
        sorted_list(&p["actions"])
    ))
}

/// A token: its scope map and status (its passwords cannot be carried: new ones are made).
fn describe_token(member: &Value) -> Option<String> {
    let p = &member["properties"];
    Some(format!(
        "{}(scopeMap={}; {})",
        text(&member["name"]),
        p["scopeMapId"].as_str().map_or("-", last_segment),
        text(&p["status"])
    ))
}

/// A cache rule: what it caches where, and with which credential set.
fn describe_cache_rule(member: &Value) -> Option<String> {
    let p = &member["properties"];
    Some(format!(
        "{}({}->{}; credentialSet={})",
        text(&member["name"]),
        text(&p["sourceRepository"]),
        text(&p["targetRepository"]),
        p["credentialSetResourceId"]
            .as_str()
            .map_or("-", last_segment)
    ))
}

/// A credential set: the registry it signs in to.
fn describe_credential_set(member: &Value) -> Option<String> {
    Some(format!(
        "{}(loginServer={})",
        text(&member["name"]),
        text(&member["properties"]["loginServer"])
    ))
}

/// A diagnostic setting: the log categories and metrics it sends, and where to.
fn describe_diagnostic_setting(member: &Value) -> Option<String> {
    let p = &member["properties"];
    let enabled = |list: &Value| -> String {
        let mut names: Vec<&str> = list
            .as_array()
            .map(|a| {
                a.iter()
                    .filter(|e| e["enabled"].as_bool().unwrap_or(false))
                    .filter_map(|e| e["category"].as_str().or(e["categoryGroup"].as_str()))
                    .collect()
            })
            .unwrap_or_default();
        names.sort_unstable();
        if names.is_empty() {
            "-".into()
        } else {
            names.join(",")
        }
    };
    // A storage account or an event hub must be in the monitored resource's region, so a
    // relocated registry sends to another one: its kind is compared, not its name. A Log
    // Analytics workspace (any region) and a partner solution are compared by their full IDs.
    let mut to: Vec<String> = [
        ("workspace", "workspaceId", true),
        ("storage", "storageAccountId", false),
        ("eventHub", "eventHubAuthorizationRuleId", false),
        ("partner", "marketplacePartnerId", true),
    ]
    .iter()
    .filter_map(|(kind, key, by_id)| {
        p[*key].as_str().map(|id| match by_id {
            true => format!("{kind}:{}", id.to_ascii_lowercase()),
            false => kind.to_string(),
        })
    })
    .collect();
    to.sort();
    Some(format!(
        "{}(logs={}; metrics={}; to={})",
        text(&member["name"]),
        enabled(&p["logs"]),
        enabled(&p["metrics"]),
        if to.is_empty() {
            "-".into()
        } else {
            to.join(",")
        }
    ))
}

/// The approved private endpoint connections a registry resource lists, counted (`2 approved`;
/// `-` for none): pending, rejected or disconnected ones serve no client.
fn private_endpoints(resource: &Value) -> String {
    let approved = resource["properties"]["privateEndpointConnections"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| {
            c["properties"]["privateLinkServiceConnectionState"]["status"]
                .as_str()
                .is_some_and(|s| s.eq_ignore_ascii_case("Approved"))
        })
        .count();
    match approved {
        0 => "-".into(),
        n => format!("{n} approved"),
    }
}

/// Reads what [`rows`] compares of one registry: the resource, its replications (an error ends
/// the comparison) and each collection of [`MEMBERS`] (an error is shown in its row).
pub async fn read(arm: &ArmClient, id: &ResourceId) -> Result<Registry> {
    let (resource, replications) = futures::try_join!(
        registry::get(arm, id),
        registry::children(arm, id, "replications")
    )?;
    // A collection this sign-in may not read (403), or that ARM does not know here (404: a
    // provider not registered in the subscription), is shown unread; any other failure (a 5xx
    // after the retries, a throttled or broken connection) ends the comparison: a step that
    // compares settings must not pass on what it could not read.
    let members = futures::future::try_join_all(MEMBERS.iter().map(|m| async move {
        let url = arm.url(&format!("{id}/{}", m.path), m.api_version, &[]);
        match arm
            .list(url, &format!("list {} of {}", m.setting, id.name))
            .await
        {
            Ok(list) => Ok(Ok(list)),
            Err(
                e @ AzureError::Arm {
                    status: 403 | 404, ..
                },
            ) => Ok(Err(e.to_string())),
            Err(e) => Err(e),
        }
    }))
    .await?;
    Ok(Registry {
        resource,
        replications,
        members,
    })
}

/// Compares two registries (their resources, replications and the members of [`MEMBERS`]).
/// `expected` names settings allowed to differ (as a plan expects: a new SKU, ...).
pub async fn compare(
    arm: &ArmClient,
    source: &ResourceId,
    target: &ResourceId,
    expected: &[String],
) -> Result<Vec<Row>> {
    let (a, b) = futures::try_join!(read(arm, source), read(arm, target))?;
    Ok(rows(&a, &b, expected))
}

/// The comparison of two registries as [`read`] gives them.
pub fn rows(source: &Registry, target: &Registry, expected: &[String]) -> Vec<Row> {
    let show = |v: Option<&Value>| match v {
        None | Some(Value::Null) => "-".to_string(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    };
    let row = |setting: &'static str, s: String, t: String, also_expected: bool| {
        let verdict = if s == t {
            "same"
        } else if also_expected
            || ALWAYS_EXPECTED.contains(&setting)
            || expected.iter().any(|e| e.eq_ignore_ascii_case(setting))
        {
            "expected"
        } else {
            "differs"
        };
        Row {
            setting,
            source: s,
            target: t,
            verdict,
        }
    };
    let mut out: Vec<Row> = FIELDS
        .iter()
        .map(|(name, pointer)| {
            let (s, t) = (
                show(source.resource.pointer(pointer)),
                show(target.resource.pointer(pointer)),
            );
            let both_set = s != "-" && t != "-";
            row(
                name,
                s,
                t,
                both_set && EXPECTED_WHEN_BOTH_SET.contains(name),
            )
        })
        .collect();
    // Replications: the regions each registry serves besides the two home regions. In a
    // relocation the target's home is often a replica of the source (eastus with a westeurope
    // replica moves to westeurope: the target serves westeurope as its home), and the source's
    // home is the region left (its replication is dropped by `template`): neither is a
    // difference. Every other region must be served by both.
    let homes: Vec<String> = [source, target]
        .iter()
        .filter_map(|r| r.resource["location"].as_str())
        .map(str::to_ascii_lowercase)
        .collect();
    let regions = |r: &Registry| {
        let mut regions: Vec<String> = r
            .replications
            .iter()
            .filter_map(|v| v["location"].as_str())
            .map(str::to_ascii_lowercase)
            .filter(|l| !homes.contains(l))
            .collect();
        regions.sort();
        regions.dedup();
        if regions.is_empty() {
            "-".to_string()
        } else {
            regions.join(",")
        }
    };
    out.push(row("replications", regions(source), regions(target), false));
    // A private endpoint belongs to a virtual network of its region: the target needs its own,
    // made after the registry (its connections are in no template).
    out.push(row(
        "privateEndpointConnections",
        private_endpoints(&source.resource),
        private_endpoints(&target.resource),
        false,
    ));
    for (i, members) in MEMBERS.iter().enumerate() {
        let listed = |r: &Registry| -> std::result::Result<String, String> {
            match r.members.get(i) {
                None => Ok("-".into()),
                Some(Err(e)) => Err(format!("unread: {e}")),
                Some(Ok(list)) => {
                    let mut described: Vec<String> =
                        list.iter().filter_map(members.describe).collect();
                    described.sort();
                    Ok(if described.is_empty() {
                        "-".into()
                    } else {
                        described.join(", ")
                    })
                }
            }
        };
        match (listed(source), listed(target)) {
            (Ok(s), Ok(t)) => out.push(row(members.setting, s, t, false)),
            (s, t) => out.push(Row {
                setting: members.setting,
                source: s.unwrap_or_else(|e| e),
                target: t.unwrap_or_else(|e| e),
                verdict: "unread",
            }),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A registry resource with replications in `regions` and no members.
    fn registry(resource: Value, regions: &[&str]) -> Registry {
        Registry {
            resource,
            replications: regions.iter().map(|r| json!({"location": r})).collect(),
            members: Vec::new(),
        }
    }

    #[test]
    fn location_is_expected_to_differ_and_sku_is_flagged() {
        let a = json!({"location":"westus","sku":{"name":"Premium"},"properties":{"publicNetworkAccess":"Disabled"}});
        let b = json!({"location":"eastus","sku":{"name":"Standard"},"properties":{"publicNetworkAccess":"Disabled"}});
        let (a, b) = (
            registry(a, &["westus", "northeurope"]),
            registry(b, &["eastus"]),
        );
        let rows = rows(&a, &b, &[]);
        let verdict = |n: &str| rows.iter().find(|r| r.setting == n).unwrap().verdict;
        assert_eq!(verdict("location"), "expected");
        assert_eq!(verdict("sku"), "differs");
        assert_eq!(verdict("publicNetworkAccess"), "same");
        // westus's northeurope replica is not in the target.
        assert_eq!(verdict("replications"), "differs");
        let rows2 = super::rows(&a, &b, &["SKU".into()]);
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
        let a = registry(
            json!({"location":"eastus"}),
            &["eastus", "westeurope", "northeurope"],
        );
        let b = registry(
            json!({"location":"westeurope"}),
            &["westeurope", "northeurope"],
        );
        let r = rows(&a, &b, &[]);
        let row = r.iter().find(|r| r.setting == "replications").unwrap();
        assert_eq!(
            (row.verdict, row.source.as_str(), row.target.as_str()),
            ("same", "northeurope", "northeurope")
        );
        // A replica left out of the target differs.
        let b = registry(json!({"location":"westeurope"}), &["westeurope"]);
        let r = rows(&a, &b, &[]);
        let row = r.iter().find(|r| r.setting == "replications").unwrap();
        assert_eq!((row.verdict, row.target.as_str()), ("differs", "-"));
    }

    /// Identity type, the key and its identity, soft delete and the Entra ARM-token policy are
    /// compared; a key of another vault (the target region's) is expected, a key on one side only
    /// differs.
    #[test]
    fn identity_key_and_the_newer_policies_are_compared() {
        let resource = |identity: &str, key: Option<&str>, soft_delete: &str| {
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
        let a = registry(
            resource("UserAssigned", Some("https://kv-east/keys/k"), "enabled"),
            &[],
        );
        let b = registry(
            resource("SystemAssigned", Some("https://kv-eu/keys/k"), "disabled"),
            &[],
        );
        let r = rows(&a, &b, &[]);
        let verdict = |n: &str| r.iter().find(|r| r.setting == n).unwrap().verdict;
        assert_eq!(verdict("identity.type"), "differs");
        assert_eq!(verdict("encryption.keyIdentifier"), "expected");
        assert_eq!(verdict("encryption.identity"), "expected");
        assert_eq!(verdict("policies.softDeletePolicy"), "differs");
        assert_eq!(verdict("policies.softDeletePolicy.retentionDays"), "same");
        assert_eq!(verdict("policies.azureADAuthenticationAsArmPolicy"), "same");
        let c = registry(resource("UserAssigned", None, "enabled"), &[]);
        let r = rows(&a, &c, &[]);
        let verdict = |n: &str| r.iter().find(|r| r.setting == n).unwrap().verdict;
        assert_eq!(verdict("encryption.keyIdentifier"), "differs");
    }

    /// The members a relocation must carry over are compared by what matters of each: a webhook
    /// with other actions, a missing user-defined scope map or token differ; the built-in scope
    /// maps and the order of the listing do not count.
    #[test]
    fn webhooks_scope_maps_tokens_and_diagnostic_settings_are_compared_member_by_member() {
        let members = |hook_actions: Value, user_map: bool, diag_to: &str| -> Registry {
            let mut maps = vec![
                json!({"name": "_repositories_pull", "properties": {"type": "SystemDefined", "actions": ["repositories/*/content/read"]}}),
            ];
            if user_map {
                maps.insert(0, json!({"name": "ci", "properties": {"type": "UserDefined", "actions": ["repositories/app/content/write", "repositories/app/content/read"]}}));
            }
            Registry {
                resource: json!({"location": "eastus"}),
                replications: Vec::new(),
                members: vec![
                    Ok(vec![
                        json!({"name": "hook", "properties": {"actions": hook_actions, "scope": "app:*", "status": "enabled"}}),
                    ]),
                    Ok(maps),
                    Ok(vec![
                        json!({"name": "ci-token", "properties": {"scopeMapId": "/subscriptions/s/resourceGroups/g/providers/Microsoft.ContainerRegistry/registries/r/scopeMaps/ci", "status": "enabled"}}),
                    ]),
                    Ok(Vec::new()),
                    Ok(Vec::new()),
                    Ok(vec![json!({"name": "logs", "properties": {
                        "workspaceId": format!("/subscriptions/s/resourceGroups/g/providers/Microsoft.OperationalInsights/workspaces/{diag_to}"),
                        "logs": [{"category": "ContainerRegistryLoginEvents", "enabled": true}, {"category": "ContainerRegistryRepositoryEvents", "enabled": false}],
                        "metrics": [{"category": "AllMetrics", "enabled": true}]
                    }})]),
                ],
            }
        };
        let a = members(json!(["push", "delete"]), true, "ws");
        let same = members(json!(["delete", "push"]), true, "ws");
        let verdicts = |r: &[Row]| -> Vec<(&'static str, &'static str)> {
            r.iter()
                .filter(|r| MEMBERS.iter().any(|m| m.setting == r.setting))
                .map(|r| (r.setting, r.verdict))
                .collect()
        };
        let r = rows(&a, &same, &[]);
        assert!(
            verdicts(&r).iter().all(|(_, v)| *v == "same"),
            "{:?}",
            verdicts(&r)
        );
        let hook = r.iter().find(|r| r.setting == "webhooks").unwrap();
        assert_eq!(
            hook.source,
            "hook(actions=delete,push; scope=app:*; enabled)"
        );
        let diag = r
            .iter()
            .find(|r| r.setting == "diagnosticSettings")
            .unwrap();
        assert_eq!(
            diag.source,
            "logs(logs=ContainerRegistryLoginEvents; metrics=AllMetrics; to=workspace:/subscriptions/s/resourcegroups/g/providers/microsoft.operationalinsights/workspaces/ws)"
        );
        let scope_maps = r.iter().find(|r| r.setting == "scopeMaps").unwrap();
        assert_eq!(
            scope_maps.source,
            "ci(actions=repositories/app/content/read,repositories/app/content/write)"
        );

        let other = members(json!(["push"]), false, "ws-eu");
        let r = rows(&a, &other, &["diagnosticSettings".into()]);
        let verdict = |n: &str| r.iter().find(|r| r.setting == n).unwrap().verdict;
        assert_eq!(verdict("webhooks"), "differs");
        assert_eq!(verdict("scopeMaps"), "differs");
        assert_eq!(verdict("tokens"), "same");
        assert_eq!(verdict("diagnosticSettings"), "expected");
    }

    /// A collection ARM would not list for one side is `unread`, with the reason in its value;
    /// private endpoint connections are counted by state from the registry resource.
    #[test]
    fn an_unlisted_collection_is_unread_and_private_endpoints_are_counted() {
        let with_endpoints = |states: &[&str]| Registry {
            resource: json!({"location": "eastus", "properties": {"privateEndpointConnections": states
                .iter()
                .map(|s| json!({"properties": {"privateLinkServiceConnectionState": {"status": s}}}))
                .collect::<Vec<_>>()}}),
            replications: Vec::new(),
            members: vec![Ok(Vec::new()); MEMBERS.len()],
        };
        let a = with_endpoints(&["Approved", "Approved", "Pending"]);
        let mut b = with_endpoints(&[]);
        b.members[5] = Err("AuthorizationFailed: no read on Microsoft.Insights".into());
        let r = rows(&a, &b, &[]);
        let pe = r
            .iter()
            .find(|r| r.setting == "privateEndpointConnections")
            .unwrap();
        assert_eq!(
            (pe.source.as_str(), pe.target.as_str(), pe.verdict),
            ("2 approved", "-", "differs")
        );
        let diag = r
            .iter()
            .find(|r| r.setting == "diagnosticSettings")
            .unwrap();
        assert_eq!(diag.verdict, "unread");
        assert!(diag.target.contains("AuthorizationFailed"), "{diag:?}");
    }

    /// A storage account or event hub of a diagnostic setting is in the registry's own region,
    /// so each registry has its own: compared by kind. Two workspaces of one name in two
    /// resource groups are two workspaces.
    #[test]
    fn diagnostic_destinations_in_the_registrys_region_compare_by_kind() {
        let setting = |storage: &str, workspace_group: &str| {
            json!({"name": "audit", "properties": {
                "storageAccountId": format!("/subscriptions/s/resourceGroups/g/providers/Microsoft.Storage/storageAccounts/{storage}"),
                "workspaceId": format!("/subscriptions/s/resourceGroups/{workspace_group}/providers/Microsoft.OperationalInsights/workspaces/logs"),
                "logs": [{"categoryGroup": "audit", "enabled": true}]
            }})
        };
        let described = |v: &Value| describe_diagnostic_setting(v).unwrap();
        assert_eq!(
            described(&setting("acreastlogs", "g")),
            described(&setting("acrwestlogs", "g"))
        );
        assert_ne!(
            described(&setting("acreastlogs", "g")),
            described(&setting("acreastlogs", "other"))
        );
    }
}
