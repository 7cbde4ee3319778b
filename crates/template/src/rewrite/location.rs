//! A resource's `location` ([`set_location`]): the target region is written where the value is
//! defined (the literal, a parameter's default or given value, a variable) and added to a
//! parameter's `allowedValues` that lacks it; an expression is kept and reported.

use serde_json::json;

use super::definitions::{check_chain_constraints, definition, Setting};
use super::{compact, norm_region, Ctx};
use crate::findings::Severity;
use crate::jsonc::Node;
use crate::model::{is_expression, Env, Resource, Source};
use crate::rules;

/// Sets a resource's `location` to the target region where its value is defined: the literal, or
/// the parameter default, given value or variable it is followed to
/// ([`model::Scopes::chain`](crate::model::Scopes::chain)); reports expressions, which are kept,
/// at the place the expression is.
pub(super) fn set_location(ctx: &mut Ctx<'_>, r: &Resource<'_>, rpath: &str) {
    let Some(node) = r.node.get("location") else {
        return;
    };
    let steps = ctx.scopes.chain(node, Env::of(r, ctx.params_obj));
    let target = ctx.opts.location.clone();
    let lpath = format!("{rpath}/location");
    let written = node.as_str().map(|w| (r.template.span.start, compact(w)));
    let expression_kept = |ctx: &mut Ctx<'_>, expr: &str, path: &str| {
        // The replications' own region expression: the resource follows a replica region.
        let replica = written
            .as_ref()
            .is_some_and(|w| ctx.replica_exprs.contains(w));
        let fix = if replica {
            format!("nothing to do if {expr} gives the regions of kept replicas (a webhook there responds to that replica's events); it must never give {target}, the new home region, for the replications that use it")
        } else if compact(expr).contains("resourcegroup().location") {
            format!("deploy into a resource group in {target}, or set the location to {target}")
        } else {
            format!("make it give {target}, or set the location to {target} (the region of the resource group deployed into does not change it)")
        };
        ctx.find(
            Severity::Warning,
            rules::LOCATION_EXPRESSION_KEPT,
            path,
            format!("the location is the expression {expr}, kept as it is"),
            fix,
        );
    };
    // Writes the target region into a literal value node, once.
    let write = |ctx: &mut Ctx<'_>, n: &Node| {
        let s = n.as_str().unwrap_or("");
        norm_region(s) != norm_region(&target)
            && ctx.edited_locations.insert(n.span.start)
            && ctx.set_value(n, &target)
    };
    let def = definition(&steps);
    let mut wrote = false;
    match &def.source {
        Source::Literal(n) => wrote = n.as_str().is_some() && write(ctx, n),
        Source::Expression(n) => expression_kept(ctx, n.as_str().unwrap_or(""), &lpath),
        Source::Variable { node, .. } => {
            let s = node.as_str().unwrap_or("");
            if is_expression(s) {
                let path = ctx.path_of(node);
                expression_kept(ctx, s, &path);
            } else {
                wrote = write(ctx, node);
            }
        }
        Source::Parameter { name, decl, value } => {
            let mut handled = false;
            // The nested deployment may give the whole parameter as one expression
            // (`"location": "[createObject('value', ...)]"`): that is where the value is.
            let whole = def
                .env
                .deployment
                .and_then(|d| d.at(&["properties", "parameters", name]))
                .filter(|n| n.as_str().is_some_and(is_expression));
            if let (None, Some(expr)) = (value, whole) {
                let path = ctx.path_of(expr);
                expression_kept(ctx, expr.as_str().unwrap_or(""), &path);
                handled = true;
            }
            if let Some(v) = value {
                let s = v.as_str().unwrap_or("");
                if is_expression(s) {
                    let path = ctx.path_of(v);
                    expression_kept(ctx, s, &path);
                } else {
                    wrote |= write(ctx, v);
                }
                handled = true;
            }
            match decl.and_then(|d| d.get("defaultValue")) {
                Some(dv) => {
                    let s = dv.as_str().unwrap_or("");
                    if !is_expression(s) {
                        wrote |= write(ctx, dv);
                    } else if !handled {
                        let path = ctx.path_of(dv);
                        expression_kept(ctx, s, &path);
                    }
                }
                None if !handled => {
                    if let Some(d) = decl {
                        if ctx.edited_locations.insert(d.span.start) {
                            ctx.tpl.insert_member(d, "defaultValue", &json!(target));
                            wrote = true;
                        }
                    }
                }
                None => {}
            }
        }
    }
    if wrote {
        check_chain_constraints(ctx, &steps, &target, Setting::Location);
    }
}
