//! The registry's new name, written where the name is defined ([`apply_name`]): the literal, or the
//! parameter default, given value or variable it is followed to (a computed name becomes the
//! literal). The old name is read there, or from the portal's `registries_<old>_name` parameter,
//! which is renamed after the new name. A registry `copy` loop keeps its name (blocking).

use serde_json::json;

use super::definitions::{chain_references, check_chain_constraints, definition, Setting};
use super::{name_is_valid, Ctx};
use crate::findings::Severity;
use crate::jsonc::{self, Node};
use crate::model::{expression_body, is_expression, pointer_key, Source, Step};
use crate::rename;
use crate::rules;

/// The registry is a `copy` loop: it defines several registries, and writing one new name would
/// make every copy the same registry. Reported as blocking (rule `REGISTRY_COPY_LOOP`); the name
/// is left as it is.
pub(super) fn registry_copy_loop(ctx: &mut Ctx<'_>, copy: &Node, rp: &str) {
    let loop_name = copy.get_str("name").unwrap_or("?");
    let count = match copy.get("count").map(|c| &c.value) {
        Some(jsonc::Value::String(s) | jsonc::Value::Number(s)) => s.clone(),
        _ => "?".into(),
    };
    ctx.find(
        Severity::Blocking,
        rules::REGISTRY_COPY_LOOP,
        &format!("{rp}/copy"),
        format!("the registry is the copy loop {loop_name} (count {count}): it defines several registries, and one new name cannot be written for all of them; the name was left as it is"),
        "relocate one registry at a time: replace the loop by one registry resource per source registry (literal or parameter name, no copy) and run template on it with --only".into(),
    );
}

/// The registry name in a portal export's parameter name `registries_<name>_name`.
fn portal_parameter_name(param: &str) -> Option<String> {
    let lower = param.to_ascii_lowercase();
    if !lower.starts_with("registries_") || !lower.ends_with("_name") {
        return None;
    }
    let inner = param.get("registries_".len()..param.len() - "_name".len())?;
    name_is_valid(inner).then(|| inner.to_string())
}

/// Reports (rule `NAME_EXPRESSION_REPLACED`) that the registry name at `path`, computed by
/// `expression`, is now the literal new name; `what` names the thing that changed ("it", "the
/// variable").
fn report_name_expression_replaced(
    ctx: &mut Ctx<'_>,
    path: &str,
    expression: &str,
    what: &str,
    fix: &str,
) {
    let message = format!(
        "the registry name was computed by {expression}; {what} is now the literal {}",
        ctx.opts.name
    );
    ctx.find(
        Severity::Info,
        rules::NAME_EXPRESSION_REPLACED,
        path,
        message,
        fix.into(),
    );
}

/// Writes the new registry name as a literal into `node` (a parameter's default or given value,
/// or a variable, in the template or the parameters file; named `what` in the finding),
/// reporting when it replaces an expression.
fn set_literal_name(ctx: &mut Ctx<'_>, node: &Node, what: &str) {
    if let Some(expression) = node.as_str().filter(|s| is_expression(s)) {
        let path = ctx.path_of(node);
        report_name_expression_replaced(
            ctx,
            &path,
            expression,
            what,
            "keep the literal name: the relocated registry must have a known name",
        );
    }
    ctx.set_value(node, &ctx.opts.name);
}

/// What [`apply_name`] found and did.
pub(super) struct Named<'a> {
    /// The old name, when the template states it.
    pub(super) old: Option<String>,
    /// The new name as children and references write it (`'new'`, `parameters('p')`...).
    pub(super) expr: String,
    /// The new name was written where the name is defined.
    pub(super) set: bool,
    /// The parameters and variables the name was followed through (`parameters('p')`, as written),
    /// each with the template it belongs to: others that read them change with the name.
    pub(super) references: Vec<(String, &'a Node)>,
}

/// Sets the new registry name where the name (the registry's `name`, or the parent name of child
/// resources, followed through parameters and variables into `steps`) is defined: the outer
/// default or given value the chain ends at, from which the old name is also read; `rp` is the
/// resource's path.
pub(super) fn apply_name<'a>(ctx: &mut Ctx<'_>, steps: &[Step<'a>], rp: &str) -> Named<'a> {
    let opts = ctx.opts;
    let def = definition(steps);
    let template_path = ctx.path_of(def.env.template);
    let mut name_expr_for_children = match &steps[0].source {
        Source::Parameter { name, .. } => format!("parameters('{name}')"),
        Source::Variable { name, .. } => format!("variables('{name}')"),
        _ => format!("'{}'", opts.name),
    };
    let mut set = true;
    let mut old_name = def
        .source
        .literal()
        .filter(|s| !s.is_empty())
        .map(str::to_string);
    if let (None, Source::Parameter { name, .. }) = (&old_name, &def.source) {
        // The portal names the parameter `registries_<name>_name`: without a value, that is
        // where the old name is stated (and the parameter name must follow the new one).
        old_name = portal_parameter_name(name);
    }
    match &def.source {
        Source::Literal(n) => {
            ctx.tpl.set_string(n, &opts.name);
        }
        Source::Parameter { name, decl, value } => {
            // The portal's `registries_<old>_name` is renamed with every reference to it.
            let renamed = match &old_name {
                Some(old) => rename::rename_portal_parameter(name, old, &opts.name),
                None => name.clone(),
            };
            if !renamed.eq_ignore_ascii_case(name) {
                let path = match decl {
                    Some(_) => format!("{template_path}/parameters/{}", pointer_key(name)),
                    None => format!("{rp}/name"),
                };
                ctx.find(
                    Severity::Info,
                    rules::NAME_PARAMETER_RENAMED,
                    &path,
                    format!("the name parameter {name} is now {renamed}, after the new name"),
                    format!("pipelines and scripts that pass {name} (--parameters {name}=..., parameters files) must pass {renamed} instead"),
                );
                if steps.len() == 1 {
                    name_expr_for_children = format!("parameters('{renamed}')");
                }
            }
            let mut done = false;
            if let Some(v) = value {
                set_literal_name(ctx, v, "its value");
                done = true;
            }
            if let Some(d) = decl {
                match d.get("defaultValue") {
                    Some(dv) => set_literal_name(ctx, dv, "its default"),
                    None if !done => ctx.tpl.insert_member(d, "defaultValue", &json!(opts.name)),
                    None => {}
                }
                done = true;
            }
            if !done {
                set = false;
                ctx.find(
                    Severity::Blocking,
                    rules::NAME_NOT_SET,
                    &format!("{rp}/name"),
                    format!("the registry's name is parameter {name}, which the template that holds the registry does not declare and nothing gives a value: the name was not rewritten"),
                    format!("declare parameter {name} (\"defaultValue\": \"{}\") in the template whose parameters() the registry reads (for a nested deployment of outer scope, the template around it), or pass {name}={} when deploying", opts.name, opts.name),
                );
            }
        }
        Source::Variable { node, .. } => set_literal_name(ctx, node, "the variable"),
        Source::Expression(n) => {
            let expr = expression_body(n.as_str().unwrap_or("[]")).to_string();
            ctx.tpl.set_string(n, &opts.name);
            report_name_expression_replaced(
                ctx,
                &format!("{rp}/name"),
                &format!("[{expr}]"),
                "it",
                "check that every reference to the registry now uses the new name",
            );
            // The same expression used elsewhere (child names, resourceId) becomes the literal.
            let mut strings = Vec::new();
            def.env.template.walk_strings(&mut strings);
            let lit = format!("'{}'", opts.name);
            for s in strings {
                let raw = &ctx.tpl.text[s.span.clone()];
                if raw.contains(&expr) && !std::ptr::eq(s, *n) {
                    ctx.tpl
                        .edits
                        .replace(s.span.clone(), raw.replace(&expr, &lit));
                }
            }
        }
    }
    if set {
        check_chain_constraints(ctx, steps, &opts.name, Setting::Name);
    }
    Named {
        old: old_name,
        expr: name_expr_for_children,
        set,
        references: chain_references(steps),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn portal_parameter_names_state_the_old_name() {
        assert_eq!(
            portal_parameter_name("registries_Mrr78soft_name").as_deref(),
            Some("Mrr78soft")
        );
        assert_eq!(portal_parameter_name("registryName"), None);
        assert_eq!(portal_parameter_name("registries__name"), None);
    }
}
