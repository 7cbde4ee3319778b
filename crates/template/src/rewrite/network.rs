//! The registry's `networkRuleSet` ([`network_rules`]): IP rules carried over and virtual network
//! rules that still name the source's subnets are reported; the `--subnet` rules are written in
//! the shape of the resource's apiVersion (`{action, id}` or `{action,
//! virtualNetworkSubnetResourceId}`), each with a warning about the service endpoint its subnet
//! needs.

use serde_json::json;

use super::definitions::definition;
use super::{str_ci_eq, Ctx};
use crate::edit;
use crate::findings::Severity;
use crate::jsonc::Node;
use crate::model::{Env, Resource, Source};
use crate::rules;

/// API versions whose `VirtualNetworkRule` is `{action, id}` (checked against the official
/// schemas in `specs/arm-schemas/<version>/Microsoft.ContainerRegistry.json`).
const VNET_ACTION_ID: &[&str] = &[
    "2017-10-01",
    "2019-05-01",
    "2019-12-01-preview",
    "2020-11-01-preview",
    "2021-06-01-preview",
    "2021-08-01-preview",
    "2021-12-01-preview",
];
/// API versions whose `VirtualNetworkRule` is `{action, virtualNetworkSubnetResourceId}`.
const VNET_ACTION_SUBNET_ID: &[&str] = &["2026-03-01-preview"];

pub(super) fn network_rules(
    ctx: &mut Ctx<'_>,
    reg: &Resource<'_>,
    nrs: Option<&Node>,
    api: &str,
    premium: &mut Vec<&str>,
) {
    let rp = &reg.path;
    let opts = ctx.opts;
    let nrs_obj = nrs.filter(|n| n.members().is_some());
    let vnet_copy = nrs_obj.and_then(|n| property_copy(n, "virtualNetworkRules"));
    if let Some((_, entry)) = nrs_obj.and_then(|n| property_copy(n, "ipRules")) {
        premium.push("network rules");
        ctx.find(
            Severity::Warning,
            rules::IP_RULES_CARRIED,
            &format!("{rp}/properties/networkRuleSet/copy"),
            format!("IP rules carried over as they were: {}", copy_source(ctx, reg, entry)),
            "check that these addresses are still the clients of the new registry (new egress IPs in the target region?)".into(),
        );
    }
    if let Some(n) = nrs_obj {
        if let Some(ip) = n.get("ipRules").and_then(Node::items) {
            if !ip.is_empty() {
                premium.push("network rules");
                let list: Vec<&str> = ip.iter().filter_map(|r| r.get_str("value")).collect();
                ctx.find(
                    Severity::Warning,
                    rules::IP_RULES_CARRIED,
                    &format!("{rp}/properties/networkRuleSet/ipRules"),
                    format!("IP rules carried over as they were: {}", list.join(", ")),
                    "check that these addresses are still the clients of the new registry (new egress IPs in the target region?)".into(),
                );
            }
        }
        if str_ci_eq(n.get("defaultAction"), "Deny") {
            premium.push("network rules");
        }
    }
    let old_rules = nrs_obj.and_then(|n| n.get("virtualNetworkRules"));
    let old_nonempty = old_rules
        .and_then(Node::items)
        .is_some_and(|i| !i.is_empty());
    let shape = if VNET_ACTION_ID.contains(&api) {
        Some("id")
    } else if VNET_ACTION_SUBNET_ID.contains(&api) {
        Some("virtualNetworkSubnetResourceId")
    } else {
        None
    };
    if let (true, Some((_, entry))) = (opts.subnets.is_empty(), vnet_copy) {
        premium.push("network rules");
        ctx.find(
            Severity::Blocking,
            rules::VNET_RULES_SOURCE_SUBNET,
            &format!("{rp}/properties/networkRuleSet/copy"),
            format!(
                "virtual network rules still point at the source subnets: {}",
                copy_source(ctx, reg, entry)
            ),
            "give the target subnet(s) with --subnet ID (or set the array the loop reads to subnets in the target region)".into(),
        );
    }
    if opts.subnets.is_empty() {
        if old_nonempty {
            premium.push("network rules");
            let ids: Vec<String> = old_rules
                .and_then(Node::items)
                .unwrap_or(&[])
                .iter()
                .filter_map(|r| {
                    [
                        "id",
                        "virtualNetworkSubnetResourceId",
                        "virtualNetworkResourceId",
                    ]
                    .iter()
                    .find_map(|k| r.get(k).filter(|n| n.as_str().is_some()))
                })
                .map(|n| {
                    // A parameter or variable: the subnet it holds.
                    let steps = ctx.scopes.chain(n, Env::of(reg, ctx.params_obj));
                    let raw = n.as_str().unwrap_or_default();
                    match definition(&steps).source.literal() {
                        Some(id) if id != raw => format!("{id} ({raw})"),
                        _ => raw.to_string(),
                    }
                })
                .collect();
            ctx.find(
                Severity::Blocking,
                rules::VNET_RULES_SOURCE_SUBNET,
                &format!("{rp}/properties/networkRuleSet/virtualNetworkRules"),
                format!(
                    "virtual network rules still point at the source subnets: {}",
                    ids.join(", ")
                ),
                "give the target subnet(s) with --subnet ID".into(),
            );
        }
        return;
    }
    premium.push("network rules");
    let Some(field) = shape else {
        ctx.find(
            Severity::Blocking,
            rules::VNET_RULES_UNSUPPORTED,
            &format!("{rp}/apiVersion"),
            format!("apiVersion {api} has no networkRuleSet.virtualNetworkRules; the --subnet rules cannot be expressed"),
            "use a private endpoint in the target subnet instead, or an apiVersion that has virtualNetworkRules (2021-12-01-preview, 2026-03-01-preview)".into(),
        );
        return;
    };
    let new_rules: Vec<serde_json::Value> = opts
        .subnets
        .iter()
        .map(|s| {
            let mut m = serde_json::Map::new();
            m.insert("action".into(), json!("Allow"));
            m.insert(field.into(), json!(s));
            serde_json::Value::Object(m)
        })
        .collect();
    let layout = ctx.tpl.layout.clone();
    let text = ctx.tpl.text;
    if let (Some(n), Some((index, entry))) = (nrs_obj, vnet_copy) {
        // The rules come from a property copy loop: replaced by the literal rules (a property
        // cannot be both a copy entry and a member).
        let was = copy_source(ctx, reg, entry);
        let copy = n.get("copy").unwrap_or(n);
        if copy.items().is_some_and(|i| i.len() == 1) {
            let at = n
                .members()
                .and_then(|ms| ms.iter().position(|m| m.key.eq_ignore_ascii_case("copy")));
            edit::remove_members(&mut ctx.tpl.edits, n, &at.into_iter().collect::<Vec<_>>());
        } else {
            edit::remove_items(&mut ctx.tpl.edits, copy, &[index]);
        }
        ctx.find(
            Severity::Info,
            rules::VNET_RULES_SET,
            &format!("{rp}/properties/networkRuleSet/copy"),
            format!("virtualNetworkRules was built by {was}; it is now the --subnet rules"),
            "nothing to do (what the loop read is no longer used by the registry)".into(),
        );
    }
    match (nrs, old_rules) {
        (_, Some(old)) => {
            let indent = edit::indent_at(text, old.span.start);
            ctx.tpl.edits.replace(
                old.span.clone(),
                edit::render(&json!(new_rules), &indent, &layout),
            );
        }
        (Some(n), None) if n.members().is_some() => {
            edit::insert_member(
                &mut ctx.tpl.edits,
                text,
                &layout,
                n,
                "virtualNetworkRules",
                &json!(new_rules),
            );
        }
        (Some(n), None) => {
            // An expression (a parameter, a variable): nothing to add the rules to.
            let written = n.as_str().unwrap_or("a value that is not an object");
            ctx.find(
                Severity::Blocking,
                rules::OPTION_IGNORED,
                &format!("{rp}/properties/networkRuleSet"),
                format!("--subnet was not applied: networkRuleSet is {written}, not an object its virtualNetworkRules can be added to"),
                format!("add virtualNetworkRules allowing {} where that value is built (its parameter or variable), or write networkRuleSet out as an object and run template again", opts.subnets.join(", ")),
            );
            return;
        }
        (None, None) => {
            if let Some(p) = reg.node.get("properties").filter(|p| p.members().is_some()) {
                edit::insert_member(
                    &mut ctx.tpl.edits,
                    text,
                    &layout,
                    p,
                    "networkRuleSet",
                    &json!({"defaultAction": "Deny", "virtualNetworkRules": new_rules}),
                );
                ctx.find(
                    Severity::Info,
                    rules::VNET_RULES_SET,
                    &format!("{rp}/properties/networkRuleSet"),
                    "networkRuleSet added with defaultAction Deny and the --subnet rules".into(),
                    "nothing to do".into(),
                );
            }
        }
    }
    for s in &opts.subnets {
        // No ACR schema version has ignoreMissingVnetServiceEndpoint (checked 2017-10-01 to
        // 2026-03-01-preview), so the risk is always reported: a warning, since the subnet may
        // have the endpoint already.
        ctx.find(
            Severity::Warning,
            rules::SERVICE_ENDPOINT_REQUIRED,
            &format!("{rp}/properties/networkRuleSet/virtualNetworkRules"),
            format!("subnet {s} must have the Microsoft.ContainerRegistry service endpoint; apiVersion {api} has no ignoreMissingVnetServiceEndpoint to make the deployment check it"),
            format!("az network vnet subnet update --ids {s} --service-endpoints Microsoft.ContainerRegistry (before deploying)"),
        );
    }
}

/// The property `copy` entry of `object` (Bicep `for`) that builds the property `key`, with its
/// index in the `copy` array.
fn property_copy<'n>(object: &'n Node, key: &str) -> Option<(usize, &'n Node)> {
    object
        .get("copy")
        .and_then(Node::items)?
        .iter()
        .enumerate()
        .find(|(_, e)| str_ci_eq(e.get("name"), key))
}

/// What a property `copy` entry of `reg` iterates over, for a finding: the parameter or variable
/// its `input` reads, with the items of its value when they are strings (the value followed
/// through the deployment's parameters), else the loop's count.
fn copy_source(ctx: &Ctx<'_>, reg: &Resource<'_>, entry: &Node) -> String {
    let count = entry.get_str("count").unwrap_or("?");
    let mut strings = Vec::new();
    if let Some(input) = entry.get("input") {
        input.walk_strings(&mut strings);
    }
    let env = Env::of(reg, ctx.params_obj);
    let found = strings.iter().filter_map(|n| n.as_str()).find_map(|s| {
        let body: String = s.chars().filter(|c| !c.is_whitespace()).collect();
        let lower = body.to_ascii_lowercase();
        ["parameters", "variables"].iter().find_map(|f| {
            let start = lower.find(&format!("{f}('"))? + f.len() + 2;
            let arg = &body[start..start + body[start..].find('\'')?];
            let value = match env.lookup(f, arg) {
                Some(src @ Source::Parameter { .. }) => {
                    definition(&ctx.scopes.follow(src, env)).source.effective()
                }
                _ => env.template.get("variables").and_then(|vs| vs.get(arg)),
            };
            let what = if *f == "parameters" {
                "parameter"
            } else {
                "variable"
            };
            Some((format!("{what} {arg}"), value))
        })
    });
    match found {
        Some((what, Some(value))) if value.items().is_some() => {
            let items: Vec<&str> = value
                .items()
                .unwrap_or(&[])
                .iter()
                .filter_map(Node::as_str)
                .collect();
            format!("a copy loop over {what}, which holds {}", items.join(", "))
        }
        Some((what, _)) => format!("a copy loop over {what} (count {count})"),
        None => format!("a copy loop (count {count})"),
    }
}
