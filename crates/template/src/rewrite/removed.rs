//! Resources the rewrite removes (replications, private endpoint connections, system scope maps)
//! and what pointed at them: `dependsOn` entries are dropped, a resource thereby left without a
//! path to the registry depends on the registry instead ([`drop_dangling_depends`]); an output
//! that reads one is removed, any other reference is blocking ([`removed_references`]).

use std::collections::HashSet;

use super::{last_segment, walk_with_paths, Ctx};
use crate::edit;
use crate::findings::Severity;
use crate::jsonc::Node;
use crate::model::{is_expression, pointer_key, Resource};
use crate::rules;

pub(super) fn remove_resource(ctx: &mut Ctx<'_>, removed: &mut Vec<Removed>, r: &Resource<'_>) {
    let idx = [r.slot.index];
    if r.slot.symbol.is_some() {
        edit::remove_members(&mut ctx.tpl.edits, r.slot.container, &idx);
    } else {
        edit::remove_items(&mut ctx.tpl.edits, r.slot.container, &idx);
    }
    removed.push(Removed {
        path: r.path.clone(),
        short_type: r.full_type.rsplit('/').next().unwrap_or("").to_string(),
        segment: r.node.get_str("name").and_then(last_segment),
        symbol: r.slot.symbol.clone(),
    });
}

pub(super) struct Removed {
    pub(super) path: String,
    short_type: String,
    segment: Option<String>,
    symbol: Option<String>,
}

/// Where each `dependsOn` entry of the resources starts (byte offsets): references there are
/// handled by the dependsOn rules, not by the ones for other places.
pub(super) fn depends_on_starts(res: &[Resource<'_>]) -> HashSet<usize> {
    res.iter()
        .filter_map(|r| r.node.get("dependsOn").and_then(Node::items))
        .flat_map(|items| items.iter().map(|n| n.span.start))
        .collect()
}

/// True when the string `s` (lower case) refers to the removed resource `rm`: its symbolic name
/// quoted in an expression, or its type with its last name segment (`resourceId(...,
/// 'eastus')`, `.../replications/eastus`).
fn refers_to(s: &str, rm: &Removed) -> bool {
    rm.symbol.as_deref().is_some_and(|sym| {
        is_expression(s) && s.contains(&format!("'{}'", sym.to_ascii_lowercase()))
    }) || (s.contains(&rm.short_type)
        && rm.segment.as_ref().is_some_and(|seg| {
            let seg = seg.to_ascii_lowercase();
            s.contains(&format!("'{seg}'"))
                || s.contains(&format!("/{seg}'"))
                || s.ends_with(&format!("/{seg}"))
        }))
}

/// References to removed replications and private endpoint connections outside `dependsOn`: an
/// output that reads one is removed (warning), any other reference is blocking.
pub(super) fn removed_references(
    ctx: &mut Ctx<'_>,
    root: &Node,
    res: &[Resource<'_>],
    removed: &[Removed],
) {
    let removed: Vec<&Removed> = removed
        .iter()
        .filter(|r| r.short_type == "replications" || r.short_type == "privateendpointconnections")
        .collect();
    if removed.is_empty() {
        return;
    }
    let hit = |raw: &str| {
        let s = raw.to_ascii_lowercase();
        removed.iter().copied().find(|rm| refers_to(&s, rm))
    };
    let describe = |rm: &Removed| {
        format!(
            "{} {}",
            rm.short_type.trim_end_matches('s'),
            rm.symbol
                .clone()
                .or_else(|| rm.segment.clone())
                .unwrap_or_default()
        )
    };
    // Outputs (of the root and of nested templates) that read a removed resource.
    let mut templates: Vec<(&Node, String)> = vec![(root, String::new())];
    for r in res {
        if r.full_type == "microsoft.resources/deployments" {
            if let Some(t) = r.node.at(&["properties", "template"]) {
                templates.push((t, format!("{}/properties/template", r.path)));
            }
        }
    }
    for (t, tpath) in templates {
        let Some(outputs) = t.get("outputs") else {
            continue;
        };
        let Some(members) = outputs.members() else {
            continue;
        };
        let mut gone = Vec::new();
        for (i, m) in members.iter().enumerate() {
            let mut strings = Vec::new();
            m.value.walk_strings(&mut strings);
            if let Some(rm) = strings.iter().find_map(|n| n.as_str().and_then(hit)) {
                gone.push(i);
                ctx.find(
                    Severity::Warning,
                    rules::REMOVED_RESOURCE_REFERENCED,
                    &format!("{tpath}/outputs/{}", pointer_key(&m.key)),
                    format!(
                        "output {} removed: it read the removed {}",
                        m.key,
                        describe(rm)
                    ),
                    "update whatever consumed this output (pipelines, parent templates)".into(),
                );
            }
        }
        if !gone.is_empty() {
            edit::remove_items_or_members(&mut ctx.tpl.edits, outputs, &gone);
        }
    }
    // Anything else (properties, names, conditions): blocking.
    let depends = depends_on_starts(res);
    let mut found = Vec::new();
    walk_with_paths(root, "", &mut found);
    for (path, span, is_key) in found {
        if is_key || depends.contains(&span.start) || ctx.tpl.edits.overlaps(&span) {
            continue;
        }
        let Ok(value) = serde_json::from_str::<String>(&ctx.tpl.text[span]) else {
            continue;
        };
        if let Some(rm) = hit(&value) {
            ctx.find(
                Severity::Blocking,
                rules::REMOVED_RESOURCE_REFERENCED,
                &path,
                format!("{value} refers to the removed {}", describe(rm)),
                "remove the reference, or point it at the registry itself (its home region is the removed replication's)".into(),
            );
        }
    }
}

/// The relocated registry as a `dependsOn` entry is written, for resources that lose their
/// dependency on one of its removed children.
pub(super) struct RegistryDependency<'a> {
    /// The registry resource's index.
    pub(super) index: usize,
    /// Its symbolic name (languageVersion 2.0), which `dependsOn` uses.
    pub(super) symbol: Option<String>,
    /// The new name as an argument in the registry's template (`parameters('p')`, `'new'`).
    pub(super) name_expr: String,
    /// The template whose parameters `name_expr` reads.
    pub(super) template: &'a Node,
    /// The old name, to recognise a literal entry naming the registry.
    pub(super) old: Option<String>,
}

impl RegistryDependency<'_> {
    /// The entry for a resource whose expressions read `template`: the symbolic name, else
    /// `resourceId(...)` (with the literal new name outside the registry's template).
    fn entry(&self, template: &Node, new: &str) -> String {
        match &self.symbol {
            Some(sym) => sym.clone(),
            None => {
                let name = if std::ptr::eq(template, self.template) {
                    self.name_expr.clone()
                } else {
                    format!("'{new}'")
                };
                format!("[resourceId('Microsoft.ContainerRegistry/registries', {name})]")
            }
        }
    }

    /// True when the `dependsOn` entry `entry` names the registry.
    fn is_named_by(&self, entry: &str) -> bool {
        let s = entry.trim().to_ascii_lowercase();
        self.symbol
            .as_deref()
            .is_some_and(|sym| sym.eq_ignore_ascii_case(&s))
            || s.contains("'microsoft.containerregistry/registries'")
            || (!is_expression(&s)
                && self.old.as_deref().is_some_and(|o| {
                    let o = o.to_ascii_lowercase();
                    s == o || s.ends_with(&format!("/registries/{o}"))
                }))
    }
}

/// True when `rm` is what the `dependsOn` entry `entry` (lower case) points at.
fn depends_on_removed(entry: &str, rm: &Removed) -> bool {
    rm.symbol
        .as_deref()
        .is_some_and(|sym| sym.eq_ignore_ascii_case(entry))
        || (entry.contains(&rm.short_type)
            && rm.segment.as_ref().is_some_and(|seg| {
                let seg = seg.to_ascii_lowercase();
                entry.contains(&format!("'{seg}'"))
                    || entry.contains(&format!("/{seg}'"))
                    || entry.ends_with(&format!("/{seg}"))
            }))
}

/// Removes `dependsOn` entries that point at removed resources. A resource that thereby loses
/// its only path to the registry (a webhook that waited for a replication) depends on the
/// registry instead: the first such entry becomes the registry's, in the template's own style.
pub(super) fn drop_dangling_depends(
    ctx: &mut Ctx<'_>,
    res: &[Resource<'_>],
    removed: &[Removed],
    registry: Option<&RegistryDependency<'_>>,
) {
    if removed.is_empty() {
        return;
    }
    for (ri, r) in res.iter().enumerate() {
        let Some(deps) = r.node.get("dependsOn") else {
            continue;
        };
        let Some(items) = deps.items() else { continue };
        let mut gone: Vec<usize> = items
            .iter()
            .enumerate()
            .filter(|(_, d)| {
                let s = d.as_str().unwrap_or("").to_ascii_lowercase();
                removed.iter().any(|rm| depends_on_removed(&s, rm))
            })
            .map(|(i, _)| i)
            .collect();
        if gone.is_empty() {
            continue;
        }
        if let Some(reg) = registry {
            // Nested in the registry, a resource depends on it already.
            let mut nested_in_registry = false;
            let mut p = r.parent;
            while let Some(pi) = p {
                nested_in_registry |= pi == reg.index;
                p = res[pi].parent;
            }
            let still_named = items
                .iter()
                .enumerate()
                .any(|(i, d)| !gone.contains(&i) && d.as_str().is_some_and(|s| reg.is_named_by(s)));
            if ri != reg.index && !nested_in_registry && !still_named {
                let entry = reg.entry(r.template, &ctx.opts.name);
                if ctx.tpl.set_string(&items[gone[0]], &entry) {
                    gone.remove(0);
                }
            }
        }
        if !gone.is_empty() {
            edit::remove_items(&mut ctx.tpl.edits, deps, &gone);
        }
    }
}
