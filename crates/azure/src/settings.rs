//! `azure settings`: the seed's "verify registry settings": two registries side by side, field by
//! field, with the differences that matter for a relocation flagged. Besides the registry
//! resource's own settings, the members a relocation must carry over (replications, webhooks,
//! scope maps, tokens, cache rules, credential sets, diagnostic settings, private endpoint
//! connections, tasks and their agent pools, connected registries, export and import pipelines)
//! are compared collection by collection, and the target's tasks are searched for the source's
//! login server (a task that still builds from or pushes to the registry being left).

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
    /// Why a difference is expected or what it means, when there is more to say.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
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
const FIELDS: [(&str, &str); 23] = [
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
    // Read with its own api-version by [`read`] (2023-07-01 does not return it).
    ("roleAssignmentMode", "/properties/roleAssignmentMode"),
];

/// The note of a `policies.trustPolicy` row whose source has Docker Content Trust enabled and
/// whose target has it off: that difference is expected.
const TRUST_POLICY_NOTE: &str = "Docker Content Trust cannot be enabled on new registries since 2026-05-31 (Microsoft's DCT deprecation; it is removed on 2028-03-31): the target keeps it off. Notation (Notary Project) signatures are OCI artifacts and are copied with the images; DCT signatures are not";

/// The note of a `zoneRedundancy` row that differs: informational, not a failure.
const ZONE_REDUNDANCY_NOTE: &str = "informational: zone redundancy is on by default for registries of every tier in regions with availability zones, and the zoneRedundancy property may not show it (Microsoft, container-registry zone-redundancy)";

/// The note of a `roleAssignmentMode` row that differs.
const ROLE_MODE_NOTE: &str = "the registries honour different roles: AcrPull, AcrPush and AcrDelete give nothing on a registry with ABAC repository permissions, and the Container Registry Repository roles give nothing on one with legacy registry permissions; make the modes match (`az acr update --role-assignment-mode`), and see the warnings of `azure roles`";

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

/// The API version of ACR Tasks and agent pools (not in the registry's stable versions).
const TASKS_API: &str = "2019-06-01-preview";
/// The API version of connected registries and transfer pipelines (preview only).
const PREVIEW_API: &str = "2023-11-01-preview";

/// The collections compared, in the order of [`Registry::members`].
pub const MEMBERS: [Members; 11] = [
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
    Members {
        setting: "tasks",
        path: "tasks",
        api_version: TASKS_API,
        describe: describe_task,
    },
    Members {
        setting: "agentPools",
        path: "agentPools",
        api_version: TASKS_API,
        describe: describe_agent_pool,
    },
    Members {
        setting: "connectedRegistries",
        path: "connectedRegistries",
        api_version: PREVIEW_API,
        describe: describe_connected_registry,
    },
    Members {
        setting: "exportPipelines",
        path: "exportPipelines",
        api_version: PREVIEW_API,
        describe: describe_pipeline,
    },
    Members {
        setting: "importPipelines",
        path: "importPipelines",
        api_version: PREVIEW_API,
        describe: describe_pipeline,
    },
];

/// Where [`MEMBERS`] holds the tasks.
const TASKS: usize = 6;

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

/// `list` as one sorted, comma-separated text (`-` when empty).
fn joined(mut list: Vec<String>) -> String {
    list.sort();
    match list.is_empty() {
        true => "-".into(),
        false => list.join(","),
    }
}

/// A task: its status, what kind of step it runs on which platform and agent pool, when it runs
/// (timer schedules, base image updates, source triggers), and as which identity. System tasks
/// (ACR's own) are left out.
fn describe_task(member: &Value) -> Option<String> {
    let p = &member["properties"];
    if p["isSystemTask"].as_bool() == Some(true) {
        return None;
    }
    let platform: Vec<&str> = ["os", "architecture", "variant"]
        .iter()
        .filter_map(|k| p["platform"][*k].as_str())
        .collect();
    let trigger = &p["trigger"];
    let timers = trigger["timerTriggers"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| format!("{} {}", text(&t["schedule"]), text(&t["status"])))
        .collect();
    let sources = trigger["sourceTriggers"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| {
            format!(
                "{} {}",
                text(&t["sourceRepository"]["repositoryUrl"]),
                text(&t["status"])
            )
        })
        .collect();
    let base_image = match trigger["baseImageTrigger"].is_object() {
        true => format!(
            "{} {}",
            text(&trigger["baseImageTrigger"]["baseImageTriggerType"]),
            text(&trigger["baseImageTrigger"]["status"])
        ),
        false => "-".into(),
    };
    Some(format!(
        "{}({}; step={}; platform={}; agentPool={}; timers={}; baseImage={}; sources={}; identity={})",
        text(&member["name"]),
        text(&p["status"]),
        text(&p["step"]["type"]),
        if platform.is_empty() { "-".into() } else { platform.join("/") },
        text(&p["agentPoolName"]),
        joined(timers),
        base_image,
        joined(sources),
        text(&member["identity"]["type"]),
    ))
}

/// An agent pool: its size, tier and OS, and whether it runs in a virtual network (whose
/// subnet belongs to the region, so only its presence is compared).
fn describe_agent_pool(member: &Value) -> Option<String> {
    let p = &member["properties"];
    Some(format!(
        "{}(count={}; tier={}; os={}; subnet={})",
        text(&member["name"]),
        p["count"].as_u64().map_or("-".into(), |n| n.to_string()),
        text(&p["tier"]),
        text(&p["os"]),
        if p["virtualNetworkSubnetResourceId"].is_string() {
            "yes"
        } else {
            "-"
        }
    ))
}

/// A connected registry: its mode, its parent (another connected registry, or none for the
/// cloud registry itself), how many client tokens it serves and which repositories it syncs
/// (through its sync token's scope map).
fn describe_connected_registry(member: &Value) -> Option<String> {
    let p = &member["properties"];
    Some(format!(
        "{}(mode={}; parent={}; clientTokens={}; syncToken={})",
        text(&member["name"]),
        text(&p["mode"]),
        p["parent"]["id"].as_str().map_or("-", last_segment),
        p["clientTokenIds"].as_array().map_or(0, Vec::len),
        p["parent"]["syncProperties"]["tokenId"]
            .as_str()
            .map_or("-", last_segment),
    ))
}

/// An export or import pipeline: the kind of storage it moves through (the storage account is
/// the relocation's choice), its options and, for an import, whether it triggers itself.
fn describe_pipeline(member: &Value) -> Option<String> {
    let p = &member["properties"];
    let end = match p["target"].is_object() {
        true => &p["target"],
        false => &p["source"],
    };
    let options = p["options"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|o| o.as_str().map(str::to_string))
        .collect();
    Some(format!(
        "{}(storage={}; options={}; trigger={}; identity={})",
        text(&member["name"]),
        text(&end["type"]),
        joined(options),
        text(&p["trigger"]["sourceTrigger"]["status"]),
        text(&member["identity"]["type"]),
    ))
}

/// The names of `tasks` whose step names `login_server` (a Docker step's image names, context
/// or arguments, or the base64 content and values of an encoded or file task): a relocated task
/// that would still build from or push to the registry left behind. Sorted.
fn tasks_naming(tasks: &[Value], login_server: &str) -> Vec<String> {
    use base64::Engine as _;
    let server = login_server.to_ascii_lowercase();
    let mut naming: Vec<String> = tasks
        .iter()
        .filter(|task| {
            let step = &task["properties"]["step"];
            let mut texts = vec![step.to_string()];
            for key in ["encodedTaskContent", "encodedValuesContent"] {
                if let Some(decoded) = step[key]
                    .as_str()
                    .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
                {
                    texts.push(String::from_utf8_lossy(&decoded).into_owned());
                }
            }
            texts
                .iter()
                .any(|t| names_host(&t.to_ascii_lowercase(), &server))
        })
        .map(|task| text(&task["name"]).to_string())
        .collect();
    naming.sort();
    naming
}

/// True when `text` holds `host` as a host of its own (not the end of a longer name:
/// `prodoldreg.azurecr.io` does not name `oldreg.azurecr.io`).
fn names_host(text: &str, host: &str) -> bool {
    let name_char = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '.';
    text.match_indices(host).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let mut after = text[at + host.len()..].chars();
        let continues = match after.next() {
            Some('.') => after.next().is_some_and(|c| c.is_ascii_alphanumeric()),
            Some(c) => c.is_ascii_alphanumeric() || c == '-',
            None => false,
        };
        !before.is_some_and(name_char) && !continues
    })
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
    let (mut resource, replications, mode) = futures::try_join!(
        registry::get(arm, id),
        registry::children(arm, id, "replications"),
        registry::role_mode(arm, id)
    )?;
    if let Some(properties) = resource
        .as_object_mut()
        .map(|r| {
            r.entry("properties")
                .or_insert_with(|| Value::Object(Default::default()))
        })
        .and_then(Value::as_object_mut)
    {
        properties.insert("roleAssignmentMode".into(), mode.as_str().into());
    }
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

/// For a field whose values differ (`source`, `target`): whether that difference is expected
/// by what it is, and the note that says why or what it means.
/// - `policies.trustPolicy` enabled in the source, off in the target: expected, since Docker
///   Content Trust cannot be enabled on a new registry any more.
/// - `zoneRedundancy`: informational (expected): zone redundancy is on by default where the
///   region has zones, whatever the property says.
/// - `roleAssignmentMode`: a difference that fails, with what it means.
fn field_note(setting: &str, source: &str, target: &str) -> (bool, Option<&'static str>) {
    match setting {
        "policies.trustPolicy"
            if source.eq_ignore_ascii_case("enabled")
                && !target.eq_ignore_ascii_case("enabled") =>
        {
            (true, Some(TRUST_POLICY_NOTE))
        }
        "zoneRedundancy" => (true, Some(ZONE_REDUNDANCY_NOTE)),
        "roleAssignmentMode" => (false, Some(ROLE_MODE_NOTE)),
        _ => (false, None),
    }
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
            note: None,
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
            let (also_expected, note) = field_note(name, &s, &t);
            let mut r = row(
                name,
                s,
                t,
                also_expected || (both_set && EXPECTED_WHEN_BOTH_SET.contains(name)),
            );
            if r.verdict != "same" {
                r.note = note.map(str::to_string);
            }
            r
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
                note: None,
            }),
        }
    }
    // The target's tasks that still name the source's login server.
    if let (Some(server), Some(Ok(tasks))) = (
        source.resource["properties"]["loginServer"].as_str(),
        target.members.get(TASKS),
    ) {
        let naming = tasks_naming(tasks, server);
        out.push(Row {
            setting: "tasksNamingTheSource",
            source: server.to_string(),
            target: joined(naming.clone()),
            verdict: if naming.is_empty() { "same" } else { "differs" },
            note: None,
        });
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

    /// Tasks, agent pools, connected registries and pipelines are compared member by member,
    /// and a target task whose step still names the source's login server (in plain text or in
    /// its base64 content) is flagged: it would push to, or build from, the registry being left.
    #[test]
    fn tasks_and_their_pools_connected_registries_and_pipelines_are_compared() {
        use base64::Engine as _;
        let encoded = |yaml: &str| base64::engine::general_purpose::STANDARD.encode(yaml);
        let side = |location: &str, login: &str, build_yaml: &str, timer: &str| -> Registry {
            let mut members: Vec<std::result::Result<Vec<Value>, String>> =
                vec![Ok(Vec::new()); MEMBERS.len()];
            members[TASKS] = Ok(vec![
                json!({"name": "build", "identity": {"type": "SystemAssigned"}, "properties": {
                    "status": "Enabled", "platform": {"os": "Linux", "architecture": "amd64"},
                    "agentPoolName": "pool",
                    "step": {"type": "EncodedTask", "encodedTaskContent": encoded(build_yaml)},
                    "trigger": {"baseImageTrigger": {"baseImageTriggerType": "Runtime", "status": "Enabled"}}}}),
                json!({"name": "purge", "properties": {
                    "status": "Enabled", "platform": {"os": "Linux"},
                    "step": {"type": "EncodedTask", "encodedTaskContent": encoded("steps:\n  - cmd: acr purge --ago 30d\n")},
                    "trigger": {"timerTriggers": [{"name": "t", "schedule": timer, "status": "Enabled"}]}}}),
                json!({"name": "quarantine", "properties": {"isSystemTask": true, "status": "Enabled"}}),
            ]);
            members[TASKS + 1] = Ok(vec![json!({"name": "pool", "properties": {
                "count": 2, "tier": "S2", "os": "Linux",
                "virtualNetworkSubnetResourceId": format!("/subscriptions/s/resourceGroups/g/providers/Microsoft.Network/virtualNetworks/{location}/subnets/acr")}})]);
            members[TASKS + 2] = Ok(vec![json!({"name": "factory", "properties": {
                "mode": "ReadOnly", "clientTokenIds": ["/x/tokens/a"],
                "parent": {"syncProperties": {"tokenId": "/x/tokens/factory-sync"}}}})]);
            members[TASKS + 3] = Ok(vec![
                json!({"name": "out", "identity": {"type": "SystemAssigned"}, "properties": {
                "target": {"type": "AzureStorageBlobContainer", "uri": format!("https://{location}.blob.core.windows.net/c")},
                "options": ["OverwriteBlobs"]}}),
            ]);
            Registry {
                resource: json!({"location": location, "properties": {"loginServer": login}}),
                replications: Vec::new(),
                members,
            }
        };
        let build = "steps:\n  - build: -t {{.Run.Registry}}/app:{{.Run.ID}} .\n";
        let source = side("eastus", "old.azurecr.io", build, "0 1 * * *");
        let target = side("westeurope", "new.azurecr.io", build, "0 1 * * *");
        let r = rows(&source, &target, &[]);
        let verdict = |r: &[Row], n: &str| r.iter().find(|r| r.setting == n).unwrap().verdict;
        for setting in [
            "tasks",
            "agentPools",
            "connectedRegistries",
            "exportPipelines",
            "importPipelines",
            "tasksNamingTheSource",
        ] {
            assert_eq!(verdict(&r, setting), "same", "{setting}: {r:?}");
        }
        let tasks = r.iter().find(|r| r.setting == "tasks").unwrap();
        assert_eq!(
            tasks.source,
            "build(Enabled; step=EncodedTask; platform=Linux/amd64; agentPool=pool; timers=-; baseImage=Runtime Enabled; sources=-; identity=SystemAssigned), purge(Enabled; step=EncodedTask; platform=Linux; agentPool=-; timers=0 1 * * * Enabled; baseImage=-; sources=-; identity=-)"
        );

        // The relocated build task still pushes to the old registry, and the purge runs at
        // another hour.
        let pushing_back = "steps:\n  - push: [\"old.azurecr.io/app:{{.Run.ID}}\"]\n";
        let target = side("westeurope", "new.azurecr.io", pushing_back, "0 3 * * *");
        let r = rows(&source, &target, &[]);
        assert_eq!(verdict(&r, "tasks"), "differs");
        let naming = r
            .iter()
            .find(|r| r.setting == "tasksNamingTheSource")
            .unwrap();
        assert_eq!(
            (naming.target.as_str(), naming.verdict),
            ("build", "differs")
        );
    }

    /// Docker Content Trust on in the source and off in the target is expected (it cannot be
    /// enabled on a new registry), with the reason; zone redundancy is informational; a
    /// difference of role assignment mode fails, with what it means.
    #[test]
    fn trust_policy_zone_redundancy_and_role_assignment_mode_have_their_notes() {
        let resource = |trust: &str, zones: &str, mode: &str| {
            json!({"location": "eastus", "properties": {
                "zoneRedundancy": zones,
                "roleAssignmentMode": mode,
                "policies": {"trustPolicy": {"type": "Notary", "status": trust}}
            }})
        };
        let a = registry(
            resource("enabled", "Enabled", "AbacRepositoryPermissions"),
            &[],
        );
        let b = registry(
            resource("disabled", "Disabled", "LegacyRegistryPermissions"),
            &[],
        );
        let r = rows(&a, &b, &[]);
        let find = |n: &str| r.iter().find(|r| r.setting == n).unwrap().clone();
        let trust = find("policies.trustPolicy");
        assert_eq!(trust.verdict, "expected");
        let note = trust.note.unwrap();
        assert!(
            note.contains("2026-05-31") && note.contains("Notation"),
            "{note}"
        );
        let zones = find("zoneRedundancy");
        assert_eq!(zones.verdict, "expected");
        assert!(zones.note.unwrap().starts_with("informational"));
        let mode = find("roleAssignmentMode");
        assert_eq!(
            (mode.verdict, mode.source.as_str(), mode.target.as_str()),
            (
                "differs",
                "AbacRepositoryPermissions",
                "LegacyRegistryPermissions"
            )
        );
        assert!(mode.note.unwrap().contains("AcrPull"));
        // The other way round, DCT off in the source and on in the target, is a difference.
        let r = rows(&b, &a, &[]);
        let trust = r
            .iter()
            .find(|r| r.setting == "policies.trustPolicy")
            .unwrap();
        assert_eq!(trust.verdict, "differs");
        // The same values carry no note.
        let r = rows(&a, &a, &[]);
        assert!(r.iter().all(|r| r.verdict == "same" && r.note.is_none()));
    }

    #[test]
    fn a_host_is_named_only_as_a_name_of_its_own() {
        for (text, named) in [
            ("push old.azurecr.io/app", true),
            ("\"old.azurecr.io\"", true),
            ("old.azurecr.io.", true),
            ("prodold.azurecr.io/app", false),
            ("x.old.azurecr.io/app", false),
            ("old.azurecr.io.evil.example", false),
            ("old.azurecr.io-2", false),
        ] {
            assert_eq!(names_host(text, "old.azurecr.io"), named, "{text}");
        }
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
