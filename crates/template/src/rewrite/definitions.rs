//! Values followed through parameters and variables ([`model::Scopes::chain`]) to where they are
//! defined: that place ([`definition`], [`where_set`]), a new value written there
//! ([`set_definition`]), the constraints of each parameter the value passes
//! ([`check_chain_constraints`]), the value a scalar setting takes ([`scalar_value`]), and other
//! resources that read a parameter or variable the rewrite changed ([`shared_setting`]).

use serde_json::json;

use super::{in_doc, Ctx};
use crate::edit;
use crate::findings::Severity;
use crate::jsonc::{self, Node};
use crate::model::{
    self, is_expression, pointer_key, resolve, single_call, Resource, Source, Step,
};
use crate::rules;

/// `[parameters('x')]` or `[variables('y')]` as a scope expression would refer to it: the call,
/// lower case without spaces.
pub(super) fn name_reference(name: &str) -> Option<String> {
    ["parameters", "variables"].iter().find_map(|f| {
        single_call(name, f).map(|arg| format!("{f}('{}')", arg.to_ascii_lowercase()))
    })
}

/// Where the value of `src` (a setting of `reg` given by a parameter or variable) is set, and
/// what to call it: the parameters file's or the nested deployment's value, else the default.
pub(super) fn where_set(
    ctx: &Ctx<'_>,
    res: &[Resource<'_>],
    reg: &Resource<'_>,
    src: &Source<'_>,
) -> Option<(String, String)> {
    let dep_path = reg
        .deployment
        .and_then(|d| res.iter().find(|r| std::ptr::eq(r.node, d)))
        .map(|d| d.path.as_str());
    let template_path = dep_path.map_or(String::new(), |p| format!("{p}/properties/template"));
    match src {
        Source::Parameter { name, decl, value } => {
            let key = pointer_key(name);
            let path = match (value, dep_path) {
                (Some(_), Some(dp)) => format!("{dp}/properties/parameters/{key}/value"),
                (Some(v), None) if ctx.params.as_ref().is_some_and(|(_, r)| in_doc(r, v)) => {
                    format!("(parameters file)/parameters/{key}/value")
                }
                _ => {
                    decl.and_then(|d| d.get("defaultValue"))?;
                    format!("{template_path}/parameters/{key}/defaultValue")
                }
            };
            Some((path, format!("parameter {name}")))
        }
        Source::Variable { name, .. } => Some((
            format!("{template_path}/variables/{}", pointer_key(name)),
            format!("variable {name}"),
        )),
        _ => None,
    }
}

/// The value a scalar setting takes: the literal itself, or the given value, default or variable
/// behind `[parameters('x')]` / `[variables('y')]` when that is not an expression.
pub(super) fn scalar_value<'a>(
    node: &'a Node,
    r: &Resource<'a>,
    params_file: Option<&'a Node>,
) -> Option<&'a Node> {
    let s = match node.as_str() {
        Some(s) if is_expression(s) => s,
        _ => return Some(node),
    };
    let found = if model::single_call(s, "parameters").is_some() {
        resolve(node, r.template, r.deployment, params_file).effective()
    } else if let Some(v) = model::single_call(s, "variables") {
        r.template.get("variables").and_then(|vs| vs.get(v))
    } else {
        None
    };
    found.filter(|n| !n.as_str().is_some_and(is_expression))
}

/// The setting a parameter receives, for the words of [`check_constraints`].
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Setting {
    Name,
    Location,
}

/// Checks the new `value` against the declaration of every parameter `steps` pass through (each
/// one receives it at deployment); see [`check_constraints`].
pub(super) fn check_chain_constraints(
    ctx: &mut Ctx<'_>,
    steps: &[Step<'_>],
    value: &str,
    what: Setting,
) {
    for step in steps {
        if let Source::Parameter {
            name,
            decl: Some(d),
            ..
        } = &step.source
        {
            let path = format!(
                "{}/parameters/{}",
                ctx.path_of(step.env.template),
                pointer_key(name)
            );
            check_constraints(ctx, d, &path, name, value, what);
        }
    }
}

/// The parameter `name` (declared by `decl`, at `path`) now receives `value`: a new region
/// missing from its `allowedValues` is added there (info); a value outside its `allowedValues`,
/// `minLength` or `maxLength` otherwise is blocking (rule `PARAMETER_CONSTRAINT`), since ARM
/// refuses the whole deployment.
fn check_constraints(
    ctx: &mut Ctx<'_>,
    decl: &Node,
    path: &str,
    name: &str,
    value: &str,
    what: Setting,
) {
    let label = match what {
        Setting::Name => "name",
        Setting::Location => "region",
    };
    if let Some(allowed) = decl.get("allowedValues").and_then(Node::items) {
        let list: Vec<&str> = allowed.iter().filter_map(Node::as_str).collect();
        if !list.contains(&value) {
            let shown = list.join(", ");
            let av_path = format!("{path}/allowedValues");
            let node = decl.get("allowedValues").unwrap_or(decl);
            if what == Setting::Location {
                if !ctx.edited_locations.insert(node.span.start) {
                    return;
                }
                let layout = ctx.tpl.layout.clone();
                edit::append_item(
                    &mut ctx.tpl.edits,
                    ctx.tpl.text,
                    &layout,
                    node,
                    &json!(value),
                );
                ctx.find(
                    Severity::Info,
                    rules::PARAMETER_CONSTRAINT,
                    &av_path,
                    format!("parameter {name} allowed only {shown}: the new {label} {value} was added to its allowedValues"),
                    "nothing to do (remove the old regions from allowedValues if they must no longer be chosen)".into(),
                );
            } else {
                ctx.find(
                    Severity::Blocking,
                    rules::PARAMETER_CONSTRAINT,
                    &av_path,
                    format!("parameter {name} allows only {shown}: ARM refuses the deployment with the new {label} {value}"),
                    format!("add {value} to the allowedValues of parameter {name}"),
                );
            }
        }
    }
    let len = value.chars().count();
    let limit = |key: &str| {
        decl.get(key).and_then(|n| match &n.value {
            jsonc::Value::Number(s) => s.parse::<usize>().ok(),
            _ => None,
        })
    };
    if let Some(max) = limit("maxLength").filter(|&m| len > m) {
        ctx.find(
            Severity::Blocking,
            rules::PARAMETER_CONSTRAINT,
            &format!("{path}/maxLength"),
            format!("the new {label} {value} has {len} characters, more than the maxLength {max} of parameter {name}: ARM refuses the deployment"),
            format!("choose a {label} of at most {max} characters, or raise the maxLength of parameter {name} to {len}"),
        );
    }
    if let Some(min) = limit("minLength").filter(|&m| len < m) {
        ctx.find(
            Severity::Blocking,
            rules::PARAMETER_CONSTRAINT,
            &format!("{path}/minLength"),
            format!("the new {label} {value} has {len} characters, fewer than the minLength {min} of parameter {name}: ARM refuses the deployment"),
            format!("choose a {label} of at least {min} characters, or lower the minLength of parameter {name} to {len}"),
        );
    }
}

/// The step of `steps` (see [`model::Scopes::chain`]) where the value is defined: the last one,
/// or the one before when the last is an expression that its value node holds.
pub(super) fn definition<'s, 'a>(steps: &'s [Step<'a>]) -> &'s Step<'a> {
    match steps {
        [.., def, last] if matches!(last.source, Source::Expression(_)) => def,
        [.., last] => last,
        [] => unreachable!("a chain has at least one step"),
    }
}

/// The parameters and variables `steps` go through, as written (`parameters('p')`), each with the
/// template it belongs to.
pub(super) fn chain_references<'a>(steps: &[Step<'a>]) -> Vec<(String, &'a Node)> {
    steps
        .iter()
        .filter_map(|s| match &s.source {
            Source::Parameter { name, .. } => {
                Some((format!("parameters('{name}')"), s.env.template))
            }
            Source::Variable { name, .. } => Some((format!("variables('{name}')"), s.env.template)),
            _ => None,
        })
        .collect()
}

/// Warns (rule `SHARED_SETTING_CHANGED`) when `reference` (`parameters('x')` or
/// `variables('y')` of `template`, matched in any case), which sets the registry's `what`
/// ("region", "name") and which the rewrite changed, is read by resources of that template other
/// than the registry's own: a storage account, a
/// cluster or a key vault that reads the registry's region moves with it, one whose name is made
/// from the registry's name is renamed. The registry's children, role assignments, diagnostic
/// settings, extension resources scoped to it (locks) and references to the registry
/// (`resourceId('Microsoft.ContainerRegistry/registries', ...)`) are the registry's and not
/// counted.
pub(super) fn shared_setting(
    ctx: &mut Ctx<'_>,
    res: &[Resource<'_>],
    reg_i: usize,
    children: &[usize],
    reference: &str,
    template: &Node,
    what: &str,
) {
    let reg = &res[reg_i];
    let needle = reference.to_ascii_lowercase();
    let reads = |s: &str| {
        let compact: String = s
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect::<String>()
            .to_ascii_lowercase();
        compact.contains(&needle) && !compact.contains("microsoft.containerregistry/registries")
    };
    let mut users = Vec::new();
    for (i, r) in res.iter().enumerate() {
        let own = i == reg_i
            || children.contains(&i)
            || r.full_type.starts_with("microsoft.containerregistry/")
            || r.full_type.contains("/providers/")
            || r.full_type == "microsoft.authorization/roleassignments"
            || r.full_type.ends_with("diagnosticsettings")
            // An extension resource of the registry (a lock, a role assignment).
            || r.node.get_str("scope").is_some_and(|s| {
                s.to_ascii_lowercase()
                    .contains("microsoft.containerregistry/registries")
            });
        // The deployment that holds the registry, and resources in another scope.
        let holds_registry =
            r.node.span.start <= reg.node.span.start && reg.node.span.end <= r.node.span.end;
        if own || holds_registry || !std::ptr::eq(r.template, template) {
            continue;
        }
        let Some(members) = r.node.members() else {
            continue;
        };
        let mut strings = Vec::new();
        // A resource named after the registry is renamed with it; one that reads its region
        // anywhere moves with it.
        let read = members.iter().filter(|m| {
            !m.key.eq_ignore_ascii_case("resources")
                && (what != "name" || m.key.eq_ignore_ascii_case("name"))
        });
        for m in read {
            if r.full_type == "microsoft.resources/deployments" && m.key == "properties" {
                // Its inline template's resources are listed on their own.
                for pm in m.value.members().unwrap_or(&[]) {
                    if !pm.key.eq_ignore_ascii_case("template") {
                        pm.value.walk_strings(&mut strings);
                    }
                }
            } else {
                m.value.walk_strings(&mut strings);
            }
        }
        if strings.iter().any(|n| n.as_str().is_some_and(reads)) {
            let label = r
                .slot
                .symbol
                .clone()
                .or_else(|| r.node.get_str("name").map(str::to_string))
                .unwrap_or_else(|| "?".into());
            users.push(format!(
                "{label} ({})",
                r.node.get_str("type").unwrap_or("?")
            ));
        }
    }
    if users.is_empty() {
        return;
    }
    let (path, fix) = match what {
        "region" => (
            format!("{}/location", reg.path),
            "if they must stay where they are, give them a parameter or variable of their own with the old region; otherwise make sure they can move (a storage account, cluster or key vault is recreated empty in the new region)",
        ),
        _ => (
            format!("{}/name", reg.path),
            "if their names must not change, give them a parameter or variable of their own with the old value",
        ),
    };
    ctx.find(
        Severity::Warning,
        rules::SHARED_SETTING_CHANGED,
        &path,
        format!(
            "{reference} sets the registry's {what}, which the rewrite changed, and is also read by {}: they change with it",
            users.join(", ")
        ),
        fix.into(),
    );
}

/// Where [`set_definition`] wrote a value.
pub(super) struct Defined {
    /// Pointer of the parameter or variable.
    pub(super) path: String,
    /// `parameter p` or `variable v`.
    pub(super) what: String,
    /// The literal value it had.
    pub(super) old: Option<String>,
}

/// True when the value `steps` follow is defined by a parameter (declared or given a value) or a
/// variable holding a literal, which [`set_definition`] can set.
pub(super) fn definable(steps: &[Step<'_>]) -> bool {
    match &definition(steps).source {
        Source::Parameter { decl, value, .. } => decl.is_some() || value.is_some(),
        Source::Variable { node, .. } => !node.as_str().is_some_and(is_expression),
        _ => false,
    }
}

/// Writes `value` where the value `steps` follow is defined: a parameter's given value and its
/// default (added when it has none), or a variable holding a literal. None when it is defined
/// otherwise (see [`definable`]).
pub(super) fn set_definition(
    ctx: &mut Ctx<'_>,
    steps: &[Step<'_>],
    value: &str,
) -> Option<Defined> {
    if !definable(steps) {
        return None;
    }
    let def = definition(steps);
    let template_path = ctx.path_of(def.env.template);
    let old = def.source.literal().map(str::to_string);
    match &def.source {
        Source::Parameter {
            name,
            decl,
            value: given,
        } => {
            if let Some(v) = given {
                ctx.set_value(v, value);
            }
            if let Some(d) = decl {
                match d.get("defaultValue") {
                    Some(dv) => {
                        ctx.tpl.set_string(dv, value);
                    }
                    None => ctx.tpl.insert_member(d, "defaultValue", &json!(value)),
                }
            }
            Some(Defined {
                path: format!("{template_path}/parameters/{}", pointer_key(name)),
                what: format!("parameter {name}"),
                old,
            })
        }
        Source::Variable { name, node } => {
            ctx.tpl.set_string(node, value);
            Some(Defined {
                path: format!("{template_path}/variables/{}", pointer_key(name)),
                what: format!("variable {name}"),
                old,
            })
        }
        _ => None,
    }
}
