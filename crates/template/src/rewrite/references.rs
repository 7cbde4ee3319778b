//! Parameters that name the registry without being its name: `acrName` in
//! `[resourceId('Microsoft.ContainerRegistry/registries', parameters('acrName'))]` (a role
//! assignment's scope, an AKS attachment, a diagnostic setting), while the registry itself is
//! named by a literal or another parameter. A default or a parameters-file value that is exactly
//! the old name still points there after the rename: it is set to the new name. Without any value,
//! the caller must pass it: reported.

use super::{in_doc, Ctx};
use crate::findings::Severity;
use crate::jsonc::Node;
use crate::model::{is_expression, pointer_key, Resource};
use crate::rules;

const REGISTRIES: &str = "microsoft.containerregistry/registries";

/// Sets the parameters of `template` (the root template) that name the registry in a
/// `Microsoft.ContainerRegistry/registries` expression and hold the old name `old`.
pub(super) fn registry_parameters(
    ctx: &mut Ctx<'_>,
    template: &Node,
    res: &[Resource<'_>],
    old: &str,
) {
    let Some(declared) = template.get("parameters").and_then(Node::members) else {
        return;
    };
    // The registries' own names (in a template of children only: the children's names, which
    // start with the parent's): those parameters are set where the name is handled.
    let creates_registry = res.iter().any(|r| {
        r.full_type == REGISTRIES && r.node.get("existing").and_then(Node::as_bool) != Some(true)
    });
    let own_names: Vec<String> = res
        .iter()
        .filter(|r| {
            r.full_type == REGISTRIES || (!creates_registry && r.full_type.starts_with(REGISTRIES))
        })
        .filter_map(|r| r.node.get_str("name"))
        .map(compact)
        .collect();
    let mut strings = Vec::new();
    template.walk_strings(&mut strings);
    // (as written, compact lower case)
    let expressions: Vec<(&str, String)> = strings
        .iter()
        .filter_map(|n| n.as_str())
        .filter(|s| is_expression(s))
        .map(|s| (s, compact(s)))
        .filter(|(_, c)| c.contains(REGISTRIES))
        .collect();
    let new = ctx.opts.name.clone();
    for m in declared {
        let call = format!("parameters('{}')", m.key.to_ascii_lowercase());
        if own_names.iter().any(|n| n.contains(&call)) {
            continue;
        }
        // After the type: `resourceId(<group>, '...registries', <name>)` names a resource group
        // first, `format('.../registries/{0}', <name>)` the registry.
        let Some(used_in) = expressions
            .iter()
            .find(|(_, e)| {
                let (Some(ty), Some(at)) = (e.find(REGISTRIES), e.find(&call)) else {
                    return false;
                };
                at > ty
            })
            .map(|(written, _)| shorten(written))
        else {
            continue;
        };
        let key = pointer_key(&m.key);
        let given = ctx
            .params_obj
            .and_then(|p| p.get(&m.key))
            .and_then(|p| p.get("value"));
        let default = m.value.get("defaultValue");
        let mut set = Vec::new();
        for (node, path, what) in [
            (
                given,
                format!("(parameters file)/parameters/{key}/value"),
                "the parameters file's value",
            ),
            (
                default,
                format!("/parameters/{key}/defaultValue"),
                "its default",
            ),
        ] {
            let Some(node) = node else {
                continue;
            };
            let holds_old = node.as_str().is_some_and(|v| v.eq_ignore_ascii_case(old));
            if holds_old && !edited(ctx, node) && ctx.set_value(node, &new) {
                set.push((path, what));
            }
        }
        for (path, what) in set {
            ctx.find(
                Severity::Info,
                rules::REGISTRY_PARAMETER_SET,
                &path,
                format!("parameter {} names the registry in {used_in} and {what} was the old name {old}; it is now {new}", m.key),
                format!("callers that pass {} must pass {new}", m.key),
            );
        }
        if given.is_none() && default.is_none() {
            ctx.find(
                Severity::Info,
                rules::REGISTRY_PARAMETER_SET,
                &format!("/parameters/{key}"),
                format!(
                    "parameter {} names a registry in {used_in} and has no value in the template",
                    m.key
                ),
                format!(
                    "if it is the relocated registry, pass {} = {new} when deploying",
                    m.key
                ),
            );
        }
    }
}

/// True when the value node already has an edit (the registry's own name parameter).
fn edited(ctx: &Ctx<'_>, node: &Node) -> bool {
    match &ctx.params {
        Some((doc, root)) if in_doc(root, node) => doc.edits.overlaps(&node.span),
        _ => ctx.tpl.edits.overlaps(&node.span),
    }
}

/// An expression for a message: at most 120 characters.
fn shorten(s: &str) -> String {
    match s.char_indices().nth(120) {
        Some((at, _)) => format!("{}...", &s[..at]),
        None => s.to_string(),
    }
}

/// The text lower case without white space.
fn compact(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_lowercase()
}
