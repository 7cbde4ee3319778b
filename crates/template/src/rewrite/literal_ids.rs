//! Literal resource ids of the source registry (its subscription and resource group) or of its
//! children ([`literal_ids`]): in the template they become `resourceId(...)` expressions of the
//! relocated registry (its symbolic name in a languageVersion 2.0 `dependsOn`); those that cannot
//! (extension resources, values of the parameters file) are blocking findings.

use super::removed::depends_on_starts;
use super::{walk_with_paths, Ctx};
use crate::findings::Severity;
use crate::jsonc::Node;
use crate::model::Resource;
use crate::rules;

/// A literal resource id of the source registry or of one of its children, split up: the
/// segments after `registries/<old>` as (type, name) pairs, or None when the rest is not a
/// chain of ACR children (an extension resource under `/providers/`).
struct LiteralId {
    children: Option<Vec<(String, String)>>,
}

/// Parses `/subscriptions/{s}/resourceGroups/{g}/providers/Microsoft.ContainerRegistry/registries/{old}...`.
fn parse_literal_id(s: &str, old: &str) -> Option<LiteralId> {
    let segs: Vec<&str> = s.strip_prefix('/')?.split('/').collect();
    let eq = |a: &str, b: &str| a.eq_ignore_ascii_case(b);
    if segs.len() < 8
        || !eq(segs[0], "subscriptions")
        || !eq(segs[2], "resourceGroups")
        || !eq(segs[4], "providers")
        || !eq(segs[5], "Microsoft.ContainerRegistry")
        || !eq(segs[6], "registries")
        || !eq(segs[7], old)
    {
        return None;
    }
    let rest = &segs[8..];
    let children = (rest.chunks_exact(2).remainder().is_empty()
        && rest
            .chunks(2)
            .all(|c| !c[0].is_empty() && !c[1].is_empty() && !eq(c[0], "providers")))
    .then(|| {
        rest.chunks(2)
            .map(|c| (c[0].to_string(), c[1].to_string()))
            .collect()
    });
    Some(LiteralId { children })
}

/// Literal resource ids that name the source registry (its subscription and resource group) or
/// its children become `resourceId(...)` expressions of the relocated registry (in a
/// languageVersion 2.0 `dependsOn`, the registry's symbolic name); those that cannot (extension
/// resources, parameters file values) are blocking findings.
pub(super) fn literal_ids(
    ctx: &mut Ctx<'_>,
    root: &Node,
    res: &[Resource<'_>],
    reg: &Resource<'_>,
    old: &str,
    name_expr: &str,
) {
    let new = ctx.opts.name.clone();
    // Each template (the root, inline templates of nested deployments) by span: an id inside a
    // nested template cannot use the outer template's parameters.
    let mut templates: Vec<&Node> = vec![root];
    templates.extend(res.iter().map(|r| r.template));
    let depends = depends_on_starts(res);
    let mut found = Vec::new();
    walk_with_paths(root, "", &mut found);
    for (path, span, is_key) in found {
        if is_key || ctx.tpl.edits.overlaps(&span) {
            continue;
        }
        let raw = &ctx.tpl.text[span.clone()];
        let Ok(value) = serde_json::from_str::<String>(raw) else {
            continue;
        };
        let Some(id) = parse_literal_id(&value, old) else {
            continue;
        };
        let Some(children) = id.children else {
            // Kept as the source's id (not half renamed), so that it matches the finding.
            ctx.tpl.edits.replace(span, raw.to_string());
            ctx.find(
                Severity::Blocking,
                rules::RESOURCE_ID_LITERAL,
                &path,
                format!("{value} names the source registry in its source resource group and subscription"),
                format!("write it as an expression of the new registry, e.g. [extensionResourceId(resourceId('Microsoft.ContainerRegistry/registries', '{new}'), ...)], deployed in the target resource group"),
            );
            continue;
        };
        let home = templates
            .iter()
            .filter(|t| t.span.start <= span.start && span.end <= t.span.end)
            .min_by_key(|t| t.span.len())
            .copied();
        let same_template = home.is_some_and(|t| std::ptr::eq(t, reg.template));
        let expr = if same_template {
            name_expr.to_string()
        } else {
            format!("'{new}'")
        };
        let replacement = match (&reg.slot.symbol, children.is_empty()) {
            (Some(sym), true) if same_template && depends.contains(&span.start) => sym.clone(),
            _ => {
                let mut ty = String::from("Microsoft.ContainerRegistry/registries");
                let mut args = vec![expr];
                for (t, n) in &children {
                    ty.push('/');
                    ty.push_str(t);
                    args.push(format!("'{}'", n.replace('\'', "''")));
                }
                format!("[resourceId('{ty}', {})]", args.join(", "))
            }
        };
        if ctx.tpl.set_string_at(span, &replacement) {
            ctx.find(
                Severity::Info,
                rules::RESOURCE_ID_LITERAL,
                &path,
                format!("the literal id {value} named the source registry in its source resource group; it is now {replacement}"),
                "nothing to do: the id now follows the registry into the target resource group".into(),
            );
        }
    }
    // Values of the parameters file cannot be expressions: reported.
    if let Some((doc, proot)) = &ctx.params {
        let mut found = Vec::new();
        walk_with_paths(proot, "", &mut found);
        let hits: Vec<(String, String)> = found
            .into_iter()
            .filter(|(_, _, is_key)| !is_key)
            .filter_map(|(path, span, _)| {
                let value = serde_json::from_str::<String>(&doc.text[span]).ok()?;
                parse_literal_id(&value, old).map(|_| (path, value))
            })
            .collect();
        for (path, value) in hits {
            ctx.find(
                Severity::Blocking,
                rules::RESOURCE_ID_LITERAL,
                &format!("(parameters file){path}"),
                format!("{value} names the source registry in its source resource group and subscription"),
                "give the id of the relocated registry (target subscription and resource group) in the parameters file".into(),
            );
        }
    }
}
