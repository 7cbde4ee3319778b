//! Replications whose region is not one literal: a `copy` loop over a parameter or variable array
//! of regions ([`loop_regions`]), whose elements in the new home region or given with
//! `--drop-replication` are removed from a literal array nothing else reads and reported
//! otherwise ([`replication_loop`]); and zone redundancy, which needs a region with availability
//! zones ([`zone_redundancy`]).

use std::collections::HashSet;

use super::{compact, norm_region, Ctx};
use crate::edit;
use crate::findings::Severity;
use crate::jsonc::Node;
use crate::model::{expression_body, is_expression, pointer_key, Resource};
use crate::regions;
use crate::rules;

/// The regions a replication `copy` loop runs over, as far as the rewriter can tell.
pub(super) enum LoopRegions<'a> {
    /// `[parameters('x')[copyIndex()]]` or `[variables('x')[copyIndex()]]` over a literal array.
    Resolved(RegionList<'a>),
    /// Why not: the end of a sentence for `replication-location-unknown`.
    Unknown(String),
}

/// A literal array of regions a replication loop reads.
pub(super) struct RegionList<'a> {
    /// The array.
    pub(super) array: &'a Node,
    /// Where it is set (a JSON pointer, `(parameters file)/...` for the parameters file).
    path: String,
    /// "parameter x's default", "parameter x's value in the parameters file", "variable x".
    what: String,
    /// The reference as written in expressions (`parameters('x')`, lower case).
    reference: String,
    /// It is in the template (a default or a variable) and nothing else reads it: elements may
    /// be removed.
    editable: bool,
}

/// Reads the region array behind a replication's `location` written as `[parameters('x')
/// [copyIndex()]]` or `[variables('x')[copyIndex()]]`: the nested deployment's value or the
/// parameters file's, else the default; a variable's value.
pub(super) fn loop_regions<'a>(
    ctx: &Ctx<'a>,
    res: &[Resource<'a>],
    c: &Resource<'a>,
    written: &str,
) -> LoopRegions<'a> {
    let unknown = |why: &str| LoopRegions::Unknown(why.to_string());
    if !is_expression(written) {
        return unknown("a value the rewriter does not read");
    }
    let body = compact(expression_body(written));
    let parsed = ["parameters", "variables"].iter().find_map(|f| {
        let rest = body.strip_prefix(&format!("{f}('"))?;
        let end = rest.find('\'')?;
        let tail = &rest[end..];
        let looped = tail.starts_with("')[copyindex(") && tail.ends_with(")]");
        (looped || tail == "')").then(|| (*f, &rest[..end], looped))
    });
    let Some((func, name_lower, looped)) = parsed else {
        return unknown("an expression the rewriter does not evaluate (only parameters('x')[copyIndex()] and variables('x')[copyIndex()] over a literal array are)");
    };
    // The name as declared (case preserved).
    let find = |n: Option<&'a Node>| -> Option<(&'a str, &'a Node)> {
        n?.members()?
            .iter()
            .find(|m| m.key.eq_ignore_ascii_case(name_lower))
            .map(|m| (m.key.as_str(), &m.value))
    };
    let tpath = c.template_path.as_str();
    let (array, path, what, in_template) = if func == "parameters" {
        let Some((name, decl)) = find(c.template.get("parameters")) else {
            return unknown(&format!("parameter {name_lower} is not declared"));
        };
        let key = pointer_key(name);
        let given = match c.deployment {
            Some(d) => d.at(&["properties", "parameters", name, "value"]).map(|v| {
                let dp = res
                    .iter()
                    .find(|r| std::ptr::eq(r.node, d))
                    .map_or(String::new(), |r| r.path.clone());
                (
                    v,
                    format!("{dp}/properties/parameters/{key}/value"),
                    format!("parameter {name}'s value given by the nested deployment"),
                )
            }),
            None => ctx
                .params_obj
                .and_then(|f| f.at(&[name, "value"]))
                .map(|v| {
                    (
                        v,
                        format!("(parameters file)/parameters/{key}/value"),
                        format!("parameter {name}'s value in the parameters file"),
                    )
                }),
        };
        match (given, decl.get("defaultValue")) {
            (Some((v, path, what)), _) => (v, path, what, false),
            (None, Some(dv)) => (
                dv,
                format!("{tpath}/parameters/{key}/defaultValue"),
                format!("parameter {name}'s default"),
                true,
            ),
            (None, None) => {
                return unknown(&format!(
                    "parameter {name} has no value in the template: the deployment gives it"
                ))
            }
        }
    } else {
        let Some((name, v)) = find(c.template.get("variables")) else {
            return unknown(&format!("variable {name_lower} is not declared"));
        };
        (
            v,
            format!("{tpath}/variables/{}", pointer_key(name)),
            format!("variable {name}"),
            true,
        )
    };
    if !looped {
        // A single region whose value is not a literal (a literal is resolved before).
        let value = array.as_str().unwrap_or("a value that is not a region");
        return LoopRegions::Unknown(format!(
            "{what} is {value} (at {path}), which the rewriter does not evaluate"
        ));
    }
    let literal = array.items().is_some_and(|items| {
        items
            .iter()
            .all(|i| i.as_str().is_some_and(|s| !is_expression(s)))
    });
    if !literal {
        return LoopRegions::Unknown(format!(
            "{what} (at {path}) is not a literal array of regions the rewriter can read"
        ));
    }
    // Safe to edit only when nothing but this replication reads the array (a webhook loop over
    // the same array would lose its pairing).
    let reference = format!("{func}('{name_lower}')");
    let mut strings = Vec::new();
    c.template.walk_strings(&mut strings);
    let read_elsewhere = strings.iter().any(|n| {
        !(c.node.span.start <= n.span.start && n.span.end <= c.node.span.end)
            && n.as_str().is_some_and(|s| compact(s).contains(&reference))
    });
    LoopRegions::Resolved(RegionList {
        array,
        path,
        what,
        reference,
        editable: in_template && !read_elsewhere,
    })
}

/// A replication `copy` loop over `list`: an element in the new home region (or given with
/// `--drop-replication`) is removed from a literal default nothing else reads (info), or
/// reported where it is set (blocking for the home region). Returns the regions that stay.
pub(super) fn replication_loop(
    ctx: &mut Ctx<'_>,
    written: &str,
    list: &RegionList<'_>,
    drops: &HashSet<String>,
) -> Vec<String> {
    let target = norm_region(&ctx.opts.location);
    let items = list.array.items().unwrap_or(&[]);
    let mut kept = Vec::new();
    let mut gone = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let region = norm_region(item.as_str().unwrap_or(""));
        let home = region == target;
        if !home && !drops.contains(&region) {
            kept.push(region);
            continue;
        }
        let at = format!("{}/{i}", list.path);
        if list.editable {
            gone.push(i);
            let (rule, why) = if home {
                (
                    rules::REPLICATION_HOME_REMOVED,
                    "it is the new home region".to_string(),
                )
            } else {
                (rules::REPLICATION_DROPPED, "--drop-replication".to_string())
            };
            ctx.find(
                Severity::Info,
                rule,
                &at,
                format!(
                    "{region} removed from {} ({why}): the replication loop {written} runs over it",
                    list.what
                ),
                "nothing to do: no other resource reads that array".into(),
            );
        } else if home {
            ctx.find(
                Severity::Blocking,
                rules::REPLICATION_HOME_IN_LOOP,
                &at,
                format!("the replication loop {written} runs over {}, whose element {i} ({at}) is {region}, the new home region: ARM refuses a replication in the registry's own region", list.what),
                format!("remove {region} from {} (other resources read {} too: check that they still get the regions they need)", list.what, list.reference),
            );
        } else {
            ctx.find(
                Severity::Warning,
                rules::OPTION_IGNORED,
                &at,
                format!("--drop-replication {region} was not applied: it is element {i} of {}, which the replication loop {written} runs over", list.what),
                format!("remove {region} from {} ({at})", list.what),
            );
            kept.push(region);
        }
    }
    if !gone.is_empty() {
        edit::remove_items(&mut ctx.tpl.edits, list.array, &gone);
    }
    kept
}

/// Zone redundancy of `what` (the registry, a replication) in `region`, written `Enabled`. It is
/// no Premium feature and no longer opt-in: in a region with availability zones every registry
/// and replica is zone redundant by default, whatever its SKU (a note); a region without zones
/// has none to offer (blocking for a known region without, a warning for a region this version
/// does not know).
pub(super) fn zone_redundancy(ctx: &mut Ctx<'_>, path: &str, what: &str, region: &str) {
    let (severity, message, fix) = match regions::has_zones(region) {
        Some(true) => (
            Severity::Info,
            format!("zone redundancy of {what} is enabled; {region} has availability zones, where every registry and replica of any SKU is zone redundant by default"),
            "nothing to do".to_string(),
        ),
        Some(false) => (
            Severity::Blocking,
            format!("zone redundancy of {what} is enabled but {region} has no availability zones: nothing there is zone redundant, and the deployment fails"),
            format!("set zoneRedundancy to Disabled for {region}, or choose a region with availability zones"),
        ),
        None => (
            Severity::Warning,
            format!("zone redundancy of {what} is enabled and {region} is a region this version does not know: it needs availability zones, without which nothing there is zone redundant"),
            format!("check that {region} has availability zones (az account list-locations --query \"[?name=='{region}'].availabilityZoneMappings\"), or set zoneRedundancy to Disabled"),
        ),
    };
    ctx.find(severity, rules::ZONE_REDUNDANCY, path, message, fix);
}
