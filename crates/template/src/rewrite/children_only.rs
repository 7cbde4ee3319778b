//! A template with only children of an existing registry (a module for webhooks or scope maps,
//! import pipelines, task runs; an `"existing": true` registry at most), see
//! [`relocate_children`]: the parent's name is set where it is defined, the children are treated
//! as beside a registry, and the `children-only` finding says to deploy the relocated registry
//! first.

use super::children::{children_pass, parent_reference};
use super::definitions::name_reference;
use super::naming::apply_name;
use super::recreated::recreate_tasks;
use super::removed::{drop_dangling_depends, removed_references};
use super::roles;
use super::{name_is_valid, norm_region, Ctx, CHILD_PREFIX, REGISTRY};
use crate::findings::Severity;
use crate::jsonc::Node;
use crate::model::{is_expression, resolve, Env, Resource};
use crate::rename;
use crate::rules;

/// A template that holds only children of an existing registry (no registry resource, or one
/// with `"existing": true`): the parent's name is set to the new name where it is defined (the
/// `existing` resource's name, else the parameter or variable that the first child's name starts
/// with), and the children get the same treatment as beside a registry.
pub(super) fn relocate_children(
    ctx: &mut Ctx<'_>,
    root: &Node,
    res: &[Resource<'_>],
) -> Option<String> {
    let opts = ctx.opts;
    let children: Vec<usize> = (0..res.len())
        .filter(|&i| res[i].full_type.starts_with(CHILD_PREFIX))
        .collect();
    for &i in &children {
        if let Some(n) = res[i].node.get("name") {
            ctx.whole_names.insert(n.span.start);
        }
    }
    let first = &res[children[0]];
    let pf = |r: &Resource<'_>| {
        if r.deployment.is_none() {
            ctx.params_obj
        } else {
            None
        }
    };
    let existing = res.iter().find(|r| r.full_type == REGISTRY);
    // Where the parent's name is defined.
    let (source, owner, rp) = match existing.and_then(|r| r.node.get("name").map(|n| (r, n))) {
        Some((r, n)) => (
            Some(resolve(n, r.template, r.deployment, pf(r))),
            r,
            r.path.clone(),
        ),
        None => {
            let name = first.node.get_str("name").unwrap_or("");
            let source = if is_expression(name) {
                parent_reference(name)
                    .and_then(|(func, arg)| Env::of(first, ctx.params_obj).lookup(func, arg))
            } else {
                None
            };
            (source, first, first.path.clone())
        }
    };
    let template = owner.template;
    let mut old_name = None;
    let mut name_expr = format!("'{}'", opts.name);
    let found = source.is_some();
    let mut name_set = false;
    match source {
        Some(source) => {
            let steps = ctx.scopes.follow(source, Env::of(owner, ctx.params_obj));
            let named = apply_name(ctx, &steps, &rp);
            (old_name, name_expr, name_set) = (named.old, named.expr, named.set);
        }
        None => {
            // A literal `old/child` name: the old name is its first segment, replaced with every
            // other occurrence at the end.
            let name = first.node.get_str("name").unwrap_or("");
            if !is_expression(name) {
                old_name = name
                    .split('/')
                    .next()
                    .filter(|s| name_is_valid(s))
                    .map(str::to_string);
            }
        }
    }
    let mut ignored: Vec<&str> = Vec::new();
    if !opts.subnets.is_empty() {
        ignored.push("--subnet");
    }
    if !opts.add_replications.is_empty() {
        ignored.push("--replication");
    }
    if opts.key_uri.is_some() {
        ignored.push("--key-uri");
    }
    if opts.identity.is_some() {
        ignored.push("--identity");
    }
    let mut message = format!(
        "the template holds only child resources of an existing registry ({}); they now point at {}",
        children
            .iter()
            .map(|&i| res[i].full_type.trim_start_matches(CHILD_PREFIX))
            .collect::<Vec<_>>()
            .join(", "),
        opts.name
    );
    if !ignored.is_empty() {
        message.push_str(&format!(
            "; {} ignored: they apply to the registry itself",
            ignored.join(", ")
        ));
    }
    if !found && old_name.is_none() {
        message.push_str(&format!(
            "; the parent's name was not found defined in the template: check that it resolves to {}",
            opts.name
        ));
    } else if old_name.is_none() && name_set {
        message.push_str(
            "; the parent's name had no value in the template and now defaults to the new name (a value given at deployment still wins)",
        );
    }
    ctx.find(
        Severity::Warning,
        rules::CHILDREN_ONLY,
        &rp,
        message,
        format!(
            "deploy the relocated registry {} first (from its own rewritten template), then this template into its resource group",
            opts.name
        ),
    );
    ctx.old_name = old_name.clone();
    // The registry's regions are not in the template: a data endpoint is kept and reported.
    ctx.data_regions = Some(rename::DataRegions {
        old_home: None,
        target: norm_region(&opts.location),
        replicas: Vec::new(),
    });
    let mut removed = Vec::new();
    children_pass(ctx, res, &children, &mut removed, None);
    recreate_tasks(ctx, res);
    drop_dangling_depends(ctx, res, &removed, None);
    removed_references(ctx, root, res, &removed);
    let parent_name = existing
        .and_then(|r| r.node.get_str("name"))
        .or_else(|| first.node.get_str("name"));
    let target = roles::Target {
        template: Some(template),
        name_expr,
        name_literal: format!("'{}'", opts.name),
        old: old_name.clone(),
        name_ref: parent_name.and_then(|n| {
            name_reference(n).or_else(|| {
                parent_reference(n).map(|(f, a)| format!("{f}('{}')", a.to_ascii_lowercase()))
            })
        }),
        symbol: existing.and_then(|r| r.slot.symbol.clone()),
        only_one: true,
    };
    roles::role_assignments(ctx, res, &target, &children);
    old_name
}
