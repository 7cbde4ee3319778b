//! The last pass ([`rename_everywhere`]): the old name is replaced where a string or key names the
//! registry or its children, in the template and in the parameters file, skipping what is
//! already edited; then the data endpoints it leaves are reported: a source endpoint of a region
//! the new registry does not serve ([`data_endpoints_kept`]), and lists that lack the new home's
//! endpoint ([`data_endpoints_to_add`]).

use std::collections::HashSet;

use super::{walk_with_paths, Ctx, Doc};
use crate::findings::Severity;
use crate::jsonc::Node;
use crate::model::Resource;
use crate::rename;
use crate::rules;

/// Renames `old` where a string or key names the registry or its children (see
/// [`rename::rename_refs`]); `whole` holds the span starts of resource names and `dependsOn`
/// entries that may be the bare name. Returns the pointers of strings that still contain the
/// old name as a word (someone else's resources), in document order.
pub(super) fn rename_everywhere(
    doc: &mut Doc<'_>,
    root: &Node,
    old: &str,
    new: &str,
    whole: &HashSet<usize>,
    regions: Option<&rename::DataRegions>,
) -> Renamed {
    let mut found: Vec<(String, std::ops::Range<usize>, bool)> = Vec::new();
    walk_with_paths(root, "", &mut found);
    let mut result = Renamed::default();
    for (path, span, is_key) in found {
        let raw = &doc.text[span.clone()];
        if !rename::contains_word(raw, old) || doc.edits.overlaps(&span) {
            continue;
        }
        let r = rename::rename_refs_counted(
            raw,
            old,
            new,
            !is_key && whole.contains(&span.start),
            regions,
        );
        let (renamed, hosts) = (r.text, r.kept_hosts);
        if !r.data_regions.is_empty() {
            result
                .data_written
                .push((path.clone(), span.start, r.data_regions));
        }
        // Still there after the rename (or not renamed at all): someone else's value.
        let still = match renamed.as_deref() {
            Some(t) => rename::contains_word(t, old),
            None => true,
        };
        if let Some(t) = renamed {
            doc.edits.replace(span.clone(), t);
        }
        if !hosts.is_empty() {
            result.data_hosts.push((path, span.start, hosts));
        } else if still {
            result.kept.push(path);
        }
    }
    result
}

/// What [`rename_everywhere`] left.
#[derive(Default)]
pub(super) struct Renamed {
    /// Pointers of strings that still contain the old name as a word (someone else's values).
    pub(super) kept: Vec<String>,
    /// Data endpoints of regions the new registry does not serve, kept: pointer, span start of
    /// the string, hosts.
    pub(super) data_hosts: Vec<(String, usize, Vec<String>)>,
    /// The regions of the new registry's data endpoints written: pointer, span start of the
    /// string, regions.
    pub(super) data_written: Vec<(String, usize, Vec<String>)>,
}

/// The innermost resource of `res` that holds the text at `start`.
fn owner_of<'r, 'a>(res: &'r [Resource<'a>], start: usize) -> Option<&'r Resource<'a>> {
    res.iter()
        .filter(|r| r.node.span.start <= start && start < r.node.span.end)
        .min_by_key(|r| r.node.span.len())
}

/// The source's home region stays a replica (`--replication <old home>`), so its data endpoint
/// keeps its region: a resource (or an output, a parameter) that listed it now lacks the new
/// home's endpoint. An info finding per resource names the endpoints to add.
pub(super) fn data_endpoints_to_add(
    ctx: &mut Ctx<'_>,
    res: &[Resource<'_>],
    written: &[(String, usize, Vec<String>)],
    in_params_file: bool,
) {
    let Some(regions) = ctx.data_regions.clone().filter(|r| r.old_home_kept()) else {
        return;
    };
    let old_home = regions.old_home.clone().unwrap_or_default();
    // Grouped by the innermost resource holding the strings (else by the string itself).
    let mut groups: Vec<(String, Option<usize>, Vec<String>)> = Vec::new();
    for (path, start, list) in written {
        let owner = (!in_params_file)
            .then(|| owner_of(res, *start))
            .flatten()
            .map(|r| r.node.span.start);
        match groups
            .iter_mut()
            .find(|(_, o, _)| owner.is_some() && *o == owner)
        {
            Some((_, _, all)) => all.extend(list.iter().cloned()),
            None => groups.push((path.clone(), owner, list.clone())),
        }
    }
    let new = ctx.opts.name.to_ascii_lowercase();
    for (path, owner, list) in groups {
        if !list.contains(&old_home) || list.contains(&regions.target) {
            continue;
        }
        let missing: Vec<String> = regions
            .endpoints(&new)
            .into_iter()
            .filter(|e| {
                !list
                    .iter()
                    .any(|r| *e == format!("{new}.{r}.data.azurecr.io"))
            })
            .collect();
        let shown = if in_params_file {
            format!("(parameters file){path}")
        } else {
            owner
                .and_then(|o| res.iter().find(|r| r.node.span.start == o))
                .map(|r| r.path.clone())
                .unwrap_or(path)
        };
        ctx.find(
            Severity::Info,
            rules::DATA_ENDPOINT_TO_ADD,
            &shown,
            format!(
                "{new}.{old_home}.data.azurecr.io stays (the source's home region {old_home} is kept as a replica), but the new home's data endpoint is not listed here"
            ),
            format!("add {} where the data endpoints are listed (a firewall that lacks it refuses the layer downloads served from {})", missing.join(", "), regions.target),
        );
    }
}

/// A data endpoint of the source kept (a region the new registry does not serve): blocking in a
/// firewall or DNS resource (it lets through or resolves a host that stops working, while the
/// new registry's hosts are missing), a warning elsewhere.
pub(super) fn data_endpoints_kept(
    ctx: &mut Ctx<'_>,
    res: &[Resource<'_>],
    hosts: &[(String, usize, Vec<String>)],
    in_params_file: bool,
) {
    let Some(regions) = ctx.data_regions.clone() else {
        return;
    };
    let endpoints = regions.endpoints(&ctx.opts.name).join(", ");
    for (path, start, list) in hosts {
        // The innermost resource holding the string.
        let owner = (!in_params_file)
            .then(|| {
                res.iter()
                    .filter(|r| r.node.span.start <= *start && *start < r.node.span.end)
                    .min_by_key(|r| r.node.span.len())
            })
            .flatten();
        let kind = owner.map(|r| r.full_type.as_str()).unwrap_or("");
        let network = [
            "firewall",
            "dnszones",
            "dnsresolvers",
            "applicationgateways",
        ]
        .iter()
        .any(|k| kind.contains(k));
        let (severity, why) = if network {
            (Severity::Blocking, format!(" in {}: it lets through (or resolves) a host that stops working with the source, while the new registry's data endpoints are missing", owner.and_then(|r| r.node.get_str("type")).unwrap_or("a network resource")))
        } else {
            (Severity::Warning, String::new())
        };
        let shown = if in_params_file {
            format!("(parameters file){path}")
        } else {
            path.clone()
        };
        ctx.find(
            severity,
            rules::DATA_ENDPOINT_KEPT,
            &shown,
            format!("{} is a data endpoint of the source in a region the new registry does not serve, kept as it was{why}", list.join(", ")),
            format!("use the new registry's data endpoints instead: {endpoints} (one per region it serves; add --replication <region> to serve that region)"),
        );
    }
}
