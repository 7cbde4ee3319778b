//! The registry's children, one by one ([`children_pass`]): replications (the new home region's,
//! dropped ones and the old home region's removed, the others kept and counted), private endpoint
//! connections and system scope maps removed, the locations and apiVersions of the rest set and
//! checked (a webhook of a kept replica keeps its region). Also how a child's name names its
//! parent ([`parent_key`], [`parent_reference`]).

use std::collections::HashSet;

use super::api_version::check_api_version;
use super::definitions::scalar_value;
use super::location::set_location;
use super::private_endpoints::{private_endpoint_fix, recreate_severity};
use super::recreated::what_an_export_cannot_carry;
use super::removed::{remove_resource, Removed};
use super::replications::{loop_regions, replication_loop, zone_redundancy, LoopRegions};
use super::{compact, last_segment, norm_region, str_ci_eq, Ctx, CHILD_PREFIX};
use crate::findings::Severity;
use crate::model::{expression_body, is_expression, resolve, Resource};
use crate::rules;

/// Replications (new home region removed, dropped ones removed, the old home region's removed
/// unless `--replication` keeps it, the rest counted), private endpoint connections and system
/// scope maps removed, locations and apiVersions of the other children (a webhook of a kept
/// replica keeps its region). `old_home` is the source's home region (normalised), when known.
/// Returns the regions of the replications kept and their count.
pub(super) fn children_pass(
    ctx: &mut Ctx<'_>,
    res: &[Resource<'_>],
    children: &[usize],
    removed: &mut Vec<Removed>,
    old_home: Option<&str>,
) -> (Vec<String>, usize) {
    let opts = ctx.opts;
    let params_obj = ctx.params_obj;
    let pf = |r: &Resource<'_>| {
        if r.deployment.is_none() {
            params_obj
        } else {
            None
        }
    };
    let target = norm_region(&opts.location);
    let drops: HashSet<String> = opts
        .drop_replications
        .iter()
        .map(|r| norm_region(r))
        .collect();
    let keep_old_home =
        old_home.is_some_and(|o| opts.add_replications.iter().any(|r| norm_region(r) == o));
    let mut kept_replications: Vec<String> = Vec::new();
    let mut dropped_regions: HashSet<String> = HashSet::new();
    let mut webhooks: Vec<usize> = Vec::new();
    let mut replication_count = 0;
    let mut tokens: Vec<(String, String)> = Vec::new();
    let mut system_maps: Vec<(String, String)> = Vec::new();
    // Replication regions seen, and whether one was an expression.
    let mut seen_locations: (HashSet<String>, bool) = (HashSet::new(), false);
    for &ci in children {
        let c = &res[ci];
        let short = c.full_type.trim_start_matches(CHILD_PREFIX);
        let cpath = c.path.clone();
        what_an_export_cannot_carry(ctx, c, short, &mut tokens);
        match short {
            "replications" => {
                let loc = c.node.get("location").and_then(|n| {
                    resolve(n, c.template, c.deployment, pf(c))
                        .literal()
                        .map(norm_region)
                });
                match &loc {
                    Some(l) => {
                        seen_locations.0.insert(l.clone());
                    }
                    None => seen_locations.1 = true,
                }
                // A region given by a parameter or variable is only its value here (a default,
                // the parameters file): the deployment may pass another.
                let written = c
                    .node
                    .get_str("location")
                    .filter(|l| is_expression(l))
                    .map(str::to_string);
                match loc {
                    Some(l) if l == target => {
                        remove_resource(ctx, removed, c);
                        match written {
                            None => ctx.find(
                                Severity::Info,
                                rules::REPLICATION_HOME_REMOVED,
                                &cpath,
                                format!("replication in {l} removed: it is the new home region"),
                                "nothing to do: the home region holds the registry itself".into(),
                            ),
                            Some(expr) => ctx.find(
                                Severity::Warning,
                                rules::REPLICATION_HOME_REMOVED,
                                &cpath,
                                format!("replication removed: its region is {expr}, which is {l} here, the new home region (a replication there fails the deployment)"),
                                format!("if the deployment gives {expr} another region than {target}, add that region with --replication instead"),
                            ),
                        }
                    }
                    Some(l) if drops.contains(&l) => {
                        remove_resource(ctx, removed, c);
                        ctx.find(
                            Severity::Info,
                            rules::REPLICATION_DROPPED,
                            &cpath,
                            format!("replication in {l} removed (--drop-replication)"),
                            "nothing to do".into(),
                        );
                        dropped_regions.insert(l);
                    }
                    Some(l) if old_home == Some(l.as_str()) && !keep_old_home => {
                        remove_resource(ctx, removed, c);
                        ctx.find(
                            Severity::Info,
                            rules::REPLICATION_OLD_HOME_REMOVED,
                            &cpath,
                            format!("replication in {l} removed: it is the source's home region (an export always lists the home region as a replication), not a replica; the registry's home is now {target}, and {l} keeps no endpoint"),
                            format!("add --replication {l} to keep a replica (a regional endpoint) in the old home region (Premium)"),
                        );
                    }
                    Some(l) => {
                        let zoned = c
                            .node
                            .at(&["properties", "zoneRedundancy"])
                            .and_then(|n| scalar_value(n, c, pf(c)));
                        if str_ci_eq(zoned, "Enabled") {
                            let what = format!("the replication in {l}");
                            zone_redundancy(
                                ctx,
                                &format!("{cpath}/properties/zoneRedundancy"),
                                &what,
                                &l,
                            );
                        }
                        kept_replications.push(l);
                        replication_count += 1;
                    }
                    None => {
                        let written = c.node.get_str("location").unwrap_or("").to_string();
                        if is_expression(&written) {
                            ctx.replica_exprs
                                .insert((c.template.span.start, compact(&written)));
                        }
                        match loop_regions(ctx, res, c, &written) {
                            LoopRegions::Resolved(list) => {
                                for item in list.array.items().unwrap_or(&[]) {
                                    seen_locations
                                        .0
                                        .insert(norm_region(item.as_str().unwrap_or("")));
                                }
                                for l in replication_loop(ctx, &written, &list, &drops) {
                                    seen_locations.0.insert(l.clone());
                                    if !kept_replications.contains(&l) {
                                        kept_replications.push(l);
                                    }
                                    replication_count += 1;
                                }
                            }
                            LoopRegions::Unknown(why) => {
                                // Possibly none (a copy loop over an empty array): not counted.
                                seen_locations.1 = true;
                                ctx.find(
                                    Severity::Warning,
                                    rules::REPLICATION_LOCATION_UNKNOWN,
                                    &format!("{cpath}/location"),
                                    format!("the replication's region is {written}: {why}"),
                                    format!(
                                        "make sure it never gives {} (the new home region, where a replication fails the deployment); add the regions to keep with --replication instead",
                                        opts.location
                                    ),
                                );
                            }
                        }
                    }
                }
            }
            "privateendpointconnections" => {
                remove_resource(ctx, removed, c);
                ctx.find(
                    recreate_severity(opts),
                    rules::PRIVATE_ENDPOINT_RECREATE,
                    &cpath,
                    "private endpoint connection removed: it belongs to the source registry's private endpoint".into(),
                    private_endpoint_fix(opts),
                );
            }
            "scopemaps" => {
                let seg = c.node.get_str("name").and_then(last_segment);
                if seg.as_deref().is_some_and(|s| s.starts_with('_')) {
                    remove_resource(ctx, removed, c);
                    system_maps.push((cpath.clone(), seg.unwrap_or_default()));
                } else {
                    set_location(ctx, c, &cpath);
                }
            }
            // After the replications: a webhook may belong to one.
            "webhooks" => webhooks.push(ci),
            _ => {
                if c.node.get("location").is_some() {
                    set_location(ctx, c, &cpath);
                }
            }
        }
        if !removed.iter().any(|r| r.path == cpath) {
            check_api_version(ctx, c);
        }
    }
    // A webhook responds to the events of one region: the home region's moves with it, a kept
    // replica's stays, a dropped replica's falls back to the home region.
    for ci in webhooks {
        let c = &res[ci];
        let loc = c.node.get("location").and_then(|n| {
            resolve(n, c.template, c.deployment, pf(c))
                .literal()
                .map(norm_region)
        });
        match loc {
            Some(l) if old_home != Some(l.as_str()) && kept_replications.contains(&l) => {}
            Some(l) if dropped_regions.contains(&l) => {
                set_location(ctx, c, &c.path);
                let hook = c
                    .node
                    .get_str("name")
                    .and_then(last_segment)
                    .unwrap_or_else(|| "?".into());
                ctx.find(
                    Severity::Warning,
                    rules::WEBHOOK_REGION_MOVED,
                    &format!("{}/location", c.path),
                    format!("webhook {hook} responded to events of the replica in {l}, which --drop-replication removes: it now responds to events of the home region {}", opts.location),
                    format!("nothing to do if the home region's events are wanted; to keep the webhook on {l}'s events, keep that replica (leave out --drop-replication {l})"),
                );
            }
            _ => {
                if c.node.get("location").is_some() {
                    set_location(ctx, c, &c.path);
                }
            }
        }
    }

    if !seen_locations.1 {
        for d in &opts.drop_replications {
            let n = norm_region(d);
            if !seen_locations.0.contains(&n) {
                ctx.find(
                    Severity::Warning,
                    rules::OPTION_IGNORED,
                    "",
                    format!("--drop-replication {d}: the template has no replication in {n}"),
                    "check the region name (the replications' regions are their location values)"
                        .into(),
                );
            }
        }
    }
    if let Some((first, _)) = system_maps.first() {
        let names: Vec<&str> = system_maps.iter().map(|(_, n)| n.as_str()).collect();
        ctx.find(
            Severity::Info,
            rules::SYSTEM_SCOPE_MAP_REMOVED,
            first,
            format!(
                "system scope maps {} removed: every registry gets them automatically and they cannot be deployed",
                names.join(", ")
            ),
            "nothing to do; tokens that use them keep working".into(),
        );
    }
    if let Some((first, _)) = tokens.first() {
        let names: Vec<&str> = tokens.iter().map(|(_, n)| n.as_str()).collect();
        ctx.find(
            Severity::Info,
            rules::TOKEN_PASSWORDS,
            first,
            format!(
                "tokens {} are created without passwords: a token's passwords are never exported",
                names.join(", ")
            ),
            format!(
                "after the deployment, generate passwords (az acr token credential generate --registry {} --name <token>) and update every client that uses them",
                ctx.opts.name
            ),
        );
    }
    (kept_replications, replication_count)
}

/// What names the parent in a child's name, lower case: the first segment of a literal
/// (`reg/hook` → `reg`), else the parameter or variable of the expression
/// (`[concat(parameters('r'), '/hook')]` → `r`), else the first segment of its first quoted text
/// (`[concat('reg', '/hook')]` → `reg`).
pub(super) fn parent_key(name: &str) -> Option<String> {
    if !is_expression(name) {
        return name.split('/').next().map(str::to_ascii_lowercase);
    }
    if let Some((_, arg)) = parent_reference(name) {
        return Some(arg.to_ascii_lowercase());
    }
    let body = expression_body(name);
    let first = body.split('\'').nth(1)?;
    let seg = first.split('/').next()?;
    (!seg.is_empty() && !seg.contains('{')).then(|| seg.to_ascii_lowercase())
}

/// The `parameters('x')` or `variables('x')` that names the parent in a child name expression
/// such as `[concat(parameters('r'), '/', ...)]` or `[format('{0}/{1}', parameters('r'), ...)]`:
/// the first such call.
pub(super) fn parent_reference(name: &str) -> Option<(&'static str, &str)> {
    let body = expression_body(name);
    let lower = body.to_ascii_lowercase();
    let hit = ["parameters('", "variables('"]
        .iter()
        .filter_map(|f| lower.find(f).map(|i| (i, *f)))
        .min()?;
    let start = hit.0 + hit.1.len();
    let end = start + body[start..].find('\'')?;
    let func = if hit.1.starts_with('p') {
        "parameters"
    } else {
        "variables"
    };
    Some((func, &body[start..end]))
}
