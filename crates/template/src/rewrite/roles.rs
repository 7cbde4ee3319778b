//! Role assignments on the relocated registry, and those of its own identity elsewhere.
//!
//! A role assignment's name is a GUID that must be unique in the whole Microsoft Entra tenant,
//! whatever its scope, and an existing assignment cannot change its scope or principal: deploying
//! the source's literal GUID for the new registry fails with `RoleAssignmentUpdateNotPermitted`
//! while the source's assignment exists. Microsoft recommends a deterministic name built with
//! `guid()` from the scope, the principal and the role, so that a redeployment finds the same
//! assignment. A literal GUID name of an assignment whose scope is the registry
//! (`Microsoft.Authorization/roleAssignments` with a `scope`, or the older
//! `registries/providers/roleAssignments` named `<registry>/Microsoft.Authorization/<guid>`)
//! therefore becomes `guid(<new registry's resourceId>, <principalId>, <roleDefinitionId>)`.
//!
//! The same holds for an assignment on anything else (a key vault, a storage account, the
//! resource group) whose principal is the registry's own identity
//! (`reference(<registry id>, <apiVersion>, 'Full').identity.principalId`): its literal GUID is
//! the source's assignment, which gives the role to the source registry's identity and cannot
//! take another principal. It becomes `guid(<scope>, <registry id>, '.identity.principalId',
//! <roleDefinitionId>)` (the older top-level `<type>/providers/roleAssignments` keeps its
//! `<resource>/Microsoft.Authorization/` prefix). Assignments elsewhere of any other principal
//! keep their bytes.
//!
//! A name must be known when the deployment starts, so `reference()` and `list*()` cannot be
//! used in it: a principal read with `reference(<id>).<path>` enters the GUID as `<id>` and the
//! path. A literal principal id that belongs to a managed identity this deployment creates anew
//! (the registry's own system-assigned identity, a user-assigned identity resource) is reported:
//! the new identity gets a new object id.

use std::ptr;

use super::{is_guid, json_str, Ctx, CHILD_PREFIX};
use crate::findings::Severity;
use crate::jsonc::Node;
use crate::model::{expression_body, is_expression, resolve, single_call, Resource};
use crate::{rename, rules};

/// What the role assignments need to know about the relocated registry.
pub(super) struct Target<'a> {
    /// The template in which `name_expr` can be used (where the registry's name is defined).
    pub template: Option<&'a Node>,
    /// The new name as an expression argument valid in `template`: `parameters('x')`,
    /// `variables('y')` or `'newname'`.
    pub name_expr: String,
    /// The new name as a string literal of the expression language (`'newname'`).
    pub name_literal: String,
    /// The registry's old name, when the template states it.
    pub old: Option<String>,
    /// The registry's name as written when it is one `parameters('x')` / `variables('y')` call,
    /// lower case without spaces (how a scope expression refers to it).
    pub name_ref: Option<String>,
    /// The registry's symbolic name (languageVersion 2.0).
    pub symbol: Option<String>,
    /// True when the template holds no other registry: a registry named in a scope by an
    /// expression is this one.
    pub only_one: bool,
}

/// Where a role assignment applies, seen from the relocated registry.
#[derive(Debug, PartialEq, Eq)]
enum Scope {
    /// The registry itself.
    Registry,
    /// A child of the registry (a replication, a scope map...).
    UnderRegistry,
    /// Anything else.
    Other,
}

/// Rewrites and reports the role assignments on the relocated registry; `children` are the
/// indexes (in `res`) of the registry's own child resources.
pub(super) fn role_assignments(
    ctx: &mut Ctx<'_>,
    res: &[Resource<'_>],
    target: &Target<'_>,
    children: &[usize],
) {
    let identities = created_identities(res);
    for (i, r) in res.iter().enumerate() {
        let scope = scope_of(r, i, target, children);
        if scope == Scope::Other {
            if let Some(principal) = registry_identity(r, target) {
                identity_elsewhere(ctx, r, target, &principal);
            }
            // Elsewhere too, a role given to an identity this deployment recreates goes to the
            // old identity; only a principal known to be one is reported there.
            principal_recreated(ctx, r, target, &identities, false);
            continue;
        }
        principal_recreated(ctx, r, target, &identities, true);
        role_definition_literal(ctx, r);
        let Some((guid, prefix, from)) = literal_guid_name(ctx, r) else {
            if scope == Scope::Registry {
                unscoped_guid(ctx, r, target, Grant::OnRegistry);
            }
            continue;
        };
        let new_name = (scope == Scope::Registry)
            .then(|| new_name(r, target, &prefix))
            .flatten();
        rename_literal_guid(
            ctx,
            r,
            target,
            (&guid, &from),
            new_name,
            &Wording {
                whose: "",
                why: "role assignment names are unique in the whole tenant and an assignment cannot move to another scope (RoleAssignmentUpdateNotPermitted)",
                blocked_fix: "name it with a GUID derived from the new scope, e.g. [guid(<new scope's resource id>, <principal id>, <role definition id>)]; its principalId and roleDefinitionId must be known when the deployment starts (no reference() or list*())",
                made_of: "the new registry's id, the principal and the role",
                source_kept: format!("the source's assignment {guid} stays on the source registry until that is deleted"),
            },
        );
    }
}

/// The `guid()` arguments (`<new registry's id>, '.identity.principalId'`) of a role
/// assignment's principal when it is the relocated registry's own system-assigned identity, read
/// with `reference(<registry id, name or symbolic name>[, <apiVersion>, 'Full'])
/// .identity.principalId`.
fn registry_identity(r: &Resource<'_>, target: &Target<'_>) -> Option<String> {
    if !r.full_type.ends_with("/roleassignments") {
        return None;
    }
    let value = r.node.get("properties")?.get_str("principalId")?;
    if !is_expression(value) {
        return None;
    }
    let body = expression_body(value);
    let open = body.find('(')?;
    if !body[..open].trim().eq_ignore_ascii_case("reference") {
        return None;
    }
    let close = closing_paren(body, open)?;
    if compact(&body[close + 1..]) != ".identity.principalid" {
        return None;
    }
    let first = top_level_args(&body[open + 1..close]).into_iter().next()?;
    if first.is_empty() || runtime_only(first) {
        return None;
    }
    let literal = first
        .strip_prefix('\'')
        .and_then(|f| f.strip_suffix('\''))
        .filter(|f| !f.contains('\''));
    // A symbolic name or a plain name is not the registry's id in a `guid()`: it becomes
    // `resourceId()`; an id (literal or built) enters as written (the renaming follows).
    let by_name = match literal {
        Some(text) => {
            target.symbol.as_deref() == Some(text)
                || target
                    .old
                    .as_deref()
                    .is_some_and(|o| text.eq_ignore_ascii_case(o))
        }
        None => target.name_ref.as_deref() == Some(compact(first).as_str()),
    };
    let id = if by_name {
        format!(
            "resourceId('Microsoft.ContainerRegistry/registries', {})",
            registry_name_expr(r, target)
        )
    } else {
        let scope = match literal {
            Some(text) => classify_scope(text, target),
            None => classify_scope(&format!("[{first}]"), target),
        };
        if scope != Scope::Registry {
            return None;
        }
        first.to_string()
    };
    Some(format!("{id}, '.identity.principalId'"))
}

/// The scope of a `Microsoft.Authorization/roleAssignments` without a `scope`, as a `guid()`
/// argument: the resource group or the subscription the template is deployed to (None for a
/// management group or tenant template).
fn deployment_scope(r: &Resource<'_>) -> Option<&'static str> {
    let schema = r
        .template
        .get_str("$schema")
        .unwrap_or("")
        .to_ascii_lowercase();
    if schema.contains("subscriptiondeploymenttemplate") {
        Some("subscription().id")
    } else if schema.contains("managementgroupdeploymenttemplate")
        || schema.contains("tenantdeploymenttemplate")
    {
        None
    } else {
        Some("resourceGroup().id")
    }
}

/// A role assignment on anything but the registry whose principal is the registry's own
/// identity (`principal`: its `guid()` arguments). A literal GUID name is the source's
/// assignment, which gives the role to the source registry's identity and cannot change its
/// principal: it becomes `guid(<scope>, <registry id>, '.identity.principalId', <role>)`. A
/// `guid()` name of values that do not name the registry gets the new registry's id.
fn identity_elsewhere(ctx: &mut Ctx<'_>, r: &Resource<'_>, target: &Target<'_>, principal: &str) {
    let Some((guid, prefix, from)) = literal_guid_name(ctx, r) else {
        unscoped_guid(ctx, r, target, Grant::ToRegistryIdentity);
        return;
    };
    let new_name = identity_elsewhere_name(r, principal, &prefix);
    rename_literal_guid(
        ctx,
        r,
        target,
        (&guid, &from),
        new_name,
        &Wording {
            whose: ", which gives the role to the source registry's identity",
            why: "role assignment names are unique in the whole tenant and an existing assignment cannot change its principal (RoleAssignmentUpdateNotPermitted)",
            blocked_fix: "name it with a GUID derived from the new registry, e.g. [guid(<scope's resource id>, <registry's resource id>, '.identity.principalId', <role definition id>)]; its roleDefinitionId and scope must be known when the deployment starts (no reference() or list*())",
            made_of: "its scope, the new registry's identity and the role",
            source_kept: format!("remove the source's assignment {guid} when the source registry is deleted (an assignment of a deleted identity stays, shown as Unknown)"),
        },
    );
}

/// What a finding on a literal-GUID role assignment name says: whose assignment the source's
/// is, why the name must change, the fix when no name can be built, what the new `guid()` is
/// made of, and what becomes of the source's assignment.
struct Wording<'a> {
    whose: &'a str,
    why: &'a str,
    blocked_fix: &'a str,
    made_of: &'a str,
    source_kept: String,
}

/// Gives a role assignment named by the literal GUID `guid` (`from`: where that GUID was
/// written) its `new_name` with an info finding, or, when no name could be built, a blocking
/// finding with what to write.
fn rename_literal_guid(
    ctx: &mut Ctx<'_>,
    r: &Resource<'_>,
    target: &Target<'_>,
    (guid, from): (&str, &str),
    new_name: Option<String>,
    words: &Wording<'_>,
) {
    let path = format!("{}/name", r.path);
    let (whose, why) = (words.whose, words.why);
    let Some(new_name) = new_name else {
        ctx.find(
            Severity::Blocking,
            rules::ROLE_ASSIGNMENT_NAME_LITERAL,
            &path,
            format!("the role assignment's name is the literal GUID {guid}{from} of the source's assignment{whose}; {why}"),
            words.blocked_fix.into(),
        );
        return;
    };
    let name_node = r.node.get("name").expect("the name was read above");
    let raw = name_node.as_str().unwrap_or("");
    if set_name(ctx, name_node, &new_name, target) {
        let unused = single_call(raw, "parameters")
            .map(|p| format!("; parameter {p} no longer names it"))
            .unwrap_or_default();
        ctx.find(
            Severity::Info,
            rules::ROLE_ASSIGNMENT_NAME_LITERAL,
            &path,
            format!("the role assignment's name was the literal GUID {guid}{from} of the source's assignment{whose}; {why}, so it is now guid() of {}: new, and the same on every deployment of this template", words.made_of),
            format!("nothing to do{unused}; {}", words.source_kept),
        );
    }
}

/// The deterministic name of a role assignment of the registry's identity elsewhere, whose
/// literal name ended with `<prefix>/<guid>`: `[guid(<scope>, <principal>, <role>)]` for
/// `Microsoft.Authorization/roleAssignments`, and for the older top-level
/// `<type>/providers/roleAssignments` named `<resource>/Microsoft.Authorization/<guid>`,
/// `[concat('<resource>/Microsoft.Authorization/', guid(resourceId('<type>', '<resource>'),
/// <principal>, <role>))]`. None when the scope or the role cannot enter a name.
fn identity_elsewhere_name(r: &Resource<'_>, principal: &str, prefix: &str) -> Option<String> {
    let role = name_argument(r.node.get("properties")?.get_str("roleDefinitionId")?)?;
    if r.full_type == "microsoft.authorization/roleassignments" {
        let scope = match r.node.get_str("scope") {
            Some(s) => Some(name_argument(s)?),
            None => deployment_scope(r).map(str::to_string),
        };
        let args: Vec<String> = scope
            .into_iter()
            .chain([principal.to_string(), role])
            .collect();
        return Some(format!("[guid({})]", args.join(", ")));
    }
    // The older form, at the top level only: nested in the resource, the name does not say
    // which resource.
    const PROVIDERS: &str = "/providers/roleassignments";
    let written_type = r.node.get_str("type")?;
    if r.parent.is_some()
        || !r.full_type.ends_with(PROVIDERS)
        || !written_type.eq_ignore_ascii_case(&r.full_type)
    {
        return None;
    }
    let resource_type = &written_type[..written_type.len() - PROVIDERS.len()];
    let (resource, provider) = prefix.rsplit_once('/')?;
    if !provider.eq_ignore_ascii_case("Microsoft.Authorization")
        || resource.is_empty()
        || resource.split('/').any(str::is_empty)
        || resource.contains('\'')
        || resource_type.contains('\'')
    {
        return None;
    }
    let segments: Vec<String> = resource.split('/').map(quote).collect();
    Some(format!(
        "[concat({}, guid(resourceId('{resource_type}', {}), {principal}, {role}))]",
        quote(&format!("{prefix}/")),
        segments.join(", ")
    ))
}

/// Where `r` (the resource at index `i`) applies, if it is a role assignment.
fn scope_of(r: &Resource<'_>, i: usize, target: &Target<'_>, children: &[usize]) -> Scope {
    let t = r.full_type.as_str();
    if !t.ends_with("/roleassignments") {
        return Scope::Other;
    }
    if t == format!("{CHILD_PREFIX}providers/roleassignments") {
        return if children.contains(&i) {
            Scope::Registry
        } else {
            Scope::Other
        };
    }
    if t.starts_with(CHILD_PREFIX) {
        return if children.contains(&i) {
            Scope::UnderRegistry
        } else {
            Scope::Other
        };
    }
    if t != "microsoft.authorization/roleassignments" {
        return Scope::Other;
    }
    match r.node.get_str("scope") {
        Some(s) => classify_scope(s, target),
        None => Scope::Other,
    }
}

const REGISTRIES: &str = "microsoft.containerregistry/registries";

/// Where a `scope` value points: `Microsoft.ContainerRegistry/registries/<name>`, a full
/// resource id, an expression that builds one, or the registry's symbolic name.
fn classify_scope(scope: &str, target: &Target<'_>) -> Scope {
    if target.symbol.as_deref() == Some(scope) {
        return Scope::Registry;
    }
    let lower = scope.to_ascii_lowercase();
    let Some(at) = lower.find(REGISTRIES) else {
        return Scope::Other;
    };
    let after = &lower[at + REGISTRIES.len()..];
    if !is_expression(scope) {
        // `.../registries/<name>[/<child type>/<child name>...]`
        let mut segs = after.trim_start_matches('/').split('/');
        let name = segs.next().unwrap_or("");
        let ours = match &target.old {
            Some(old) => name.eq_ignore_ascii_case(old),
            None => target.only_one,
        };
        return match (ours, segs.any(|s| !s.is_empty())) {
            (false, _) => Scope::Other,
            (true, false) => Scope::Registry,
            (true, true) => Scope::UnderRegistry,
        };
    }
    let compact: String = lower.chars().filter(|c| !c.is_whitespace()).collect();
    let by_name = target
        .name_ref
        .as_deref()
        .is_some_and(|n| compact.contains(n))
        || target.old.as_deref().is_some_and(|o| {
            let o = o.to_ascii_lowercase();
            [format!("'{o}'"), format!("/{o}'"), format!("/{o}/")]
                .iter()
                .any(|p| compact.contains(p.as_str()))
        });
    // `'sharedacr'` in `[resourceId('Microsoft.ContainerRegistry/registries', 'sharedacr')]`:
    // some other registry, named by a literal.
    let other_literal = compact
        .split('\'')
        .skip(1)
        .step_by(2)
        .any(super::name_is_valid);
    if !by_name && (other_literal || !target.only_one) {
        return Scope::Other;
    }
    // `registries/scopeMaps`, `registries/replications`...: a child type follows.
    if after
        .strip_prefix('/')
        .and_then(|s| s.chars().next())
        .is_some_and(|c| c.is_ascii_alphabetic())
    {
        Scope::UnderRegistry
    } else {
        Scope::Registry
    }
}

/// The literal GUID that ends the role assignment's name, what comes before it
/// (`<registry>/Microsoft.Authorization`, or nothing), and where it came from (for messages:
/// empty for a literal name, ` (parameter x)` or ` (variable y)` otherwise).
fn literal_guid_name(ctx: &Ctx<'_>, r: &Resource<'_>) -> Option<(String, String, String)> {
    let node = r.node.get("name")?;
    let raw = node.as_str()?;
    let (value, from) = if is_expression(raw) {
        let params = if r.deployment.is_none() {
            ctx.params_obj
        } else {
            None
        };
        let source = resolve(node, r.template, r.deployment, params);
        let from = if let Some(p) = single_call(raw, "parameters") {
            format!(" (the value of parameter {p})")
        } else if let Some(v) = single_call(raw, "variables") {
            format!(" (the value of variable {v})")
        } else {
            return guid_in_expression(r, raw);
        };
        (source.literal()?.to_string(), from)
    } else {
        (raw.to_string(), String::new())
    };
    let (prefix, last) = match value.rsplit_once('/') {
        Some((p, l)) => (p.to_string(), l.to_string()),
        None => (String::new(), value.clone()),
    };
    is_guid(&last).then_some((last, prefix, from))
}

/// How a role assignment involves the relocated registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Grant {
    /// It grants a role on the registry.
    OnRegistry,
    /// It grants the registry's own identity a role on something else.
    ToRegistryIdentity,
}

/// A name computed by `guid(...)` from values that do not name the registry (the resource
/// group, the role): deployed where the source's assignment was made, it is the source's name
/// again. The new registry's id becomes the first argument of that `guid()`.
fn unscoped_guid(ctx: &mut Ctx<'_>, r: &Resource<'_>, target: &Target<'_>, grant: Grant) {
    let Some(node) = r.node.get("name") else {
        return;
    };
    let Some(raw) = node.as_str().filter(|s| is_expression(s)) else {
        return;
    };
    let lower = raw.to_ascii_lowercase();
    let Some(at) = lower.find("guid(") else {
        return;
    };
    let open = at + "guid".len();
    let Some(close) = closing_paren(raw, open) else {
        return;
    };
    let args = compact(&raw[open + 1..close]);
    if runtime_only(raw) || args.is_empty() {
        return;
    }
    // What names the registry here: its name reference, its old name, and for an assignment on
    // the registry the parameters and variables of the scope or of the name's `<registry>/`
    // part (elsewhere, those name the other resource).
    let mut needles = vec!["registries".to_string()];
    needles.extend(target.name_ref.clone());
    if let Some(old) = &target.old {
        needles.push(format!("'{}'", old.to_ascii_lowercase()));
    }
    if let Some(sym) = &target.symbol {
        needles.push(format!("('{}')", sym.to_ascii_lowercase()));
    }
    if grant == Grant::OnRegistry {
        needles.extend(calls(&compact(&raw[..at])));
        needles.extend(
            r.node
                .get_str("scope")
                .map(|s| calls(&compact(s)))
                .unwrap_or_default(),
        );
    }
    if needles.iter().any(|n| args.contains(n.as_str())) {
        return;
    }
    let registry = format!(
        "resourceId('Microsoft.ContainerRegistry/registries', {})",
        registry_name_expr(r, target)
    );
    let renamed = format!("{}{registry}, {}", &raw[..open + 1], &raw[open + 1..]);
    let (whose, cannot) = match grant {
        Grant::OnRegistry => (
            "the source's assignment, which",
            "cannot move to the new registry",
        ),
        Grant::ToRegistryIdentity => (
            "the source's assignment, which gives the role to the source registry's identity and",
            "cannot change its principal to the new registry's identity",
        ),
    };
    if set_name(ctx, node, &renamed, target) {
        ctx.find(
            Severity::Info,
            rules::ROLE_ASSIGNMENT_NAME_UNSCOPED,
            &format!("{}/name", r.path),
            format!("the role assignment's name is a guid() of values that do not name the registry ({}): deployed in the source's resource group it is the name of {whose} {cannot} (RoleAssignmentUpdateNotPermitted); the new registry's id is now its first argument", raw[open + 1..close].trim()),
            "nothing to do: the name stays the same on every deployment of this template".into(),
        );
    }
}

/// Writes a new name; the old registry name inside it (copied from the template: the
/// `<registry>/` part, a principal read from the registry) is renamed like everywhere else,
/// since the renaming pass skips what is already edited.
fn set_name(ctx: &mut Ctx<'_>, node: &Node, value: &str, target: &Target<'_>) -> bool {
    let mut text = json_str(value);
    if let Some(old) = &target.old {
        if let Some(renamed) = rename::rename_refs(&text, old, &ctx.opts.name, false) {
            text = renamed;
        }
    }
    ctx.tpl.edits.replace(node.span.clone(), text)
}

/// The text lower case without white space (to compare expressions).
fn compact(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_lowercase()
}

/// The `parameters('x')` and `variables('y')` calls in a compact expression.
fn calls(compact: &str) -> Vec<String> {
    let mut out = Vec::new();
    for func in ["parameters('", "variables('"] {
        let mut rest = compact;
        while let Some(at) = rest.find(func) {
            let tail = &rest[at + func.len()..];
            let Some(end) = tail.find("')") else {
                break;
            };
            out.push(format!("{func}{}')", &tail[..end]));
            rest = &tail[end..];
        }
    }
    out
}

/// A literal GUID written as the last argument of a `concat(...)` or `format(...)` name, such as
/// `[concat(parameters('r'), '/Microsoft.Authorization/', '<guid>')]`.
fn guid_in_expression(r: &Resource<'_>, raw: &str) -> Option<(String, String, String)> {
    let body = expression_body(raw);
    let open = body.find('(')?;
    let func = body[..open].trim().to_ascii_lowercase();
    if func != "concat" && func != "format" {
        return None;
    }
    let close = closing_paren(body, open)?;
    if !body[close + 1..].trim().is_empty() {
        return None;
    }
    let last = top_level_args(&body[open + 1..close]).pop()?;
    let text = last.strip_prefix('\'')?.strip_suffix('\'')?;
    let guid = text.rsplit('/').next()?;
    if !is_guid(guid) {
        return None;
    }
    let prefix = match (r.full_type.starts_with(CHILD_PREFIX), r.parent) {
        (true, None) => "<registry>/Microsoft.Authorization",
        (true, Some(_)) => "Microsoft.Authorization",
        (false, _) => "",
    };
    Some((
        guid.to_string(),
        prefix.to_string(),
        " (in the name expression)".to_string(),
    ))
}

/// The deterministic name for a role assignment on the relocated registry, or None when its
/// principal or role cannot enter a name (missing, or only known during the deployment).
fn new_name(r: &Resource<'_>, target: &Target<'_>, prefix: &str) -> Option<String> {
    let props = r.node.get("properties")?;
    let principal = name_argument(props.get_str("principalId")?)?;
    let role = name_argument(props.get_str("roleDefinitionId")?)?;
    let registry = registry_name_expr(r, target);
    let guid = format!(
        "guid(resourceId('Microsoft.ContainerRegistry/registries', {registry}), {principal}, {role})"
    );
    if prefix.is_empty() {
        return Some(format!("[{guid}]"));
    }
    // `<registry>/Microsoft.Authorization/<guid>` (top level) or `Microsoft.Authorization/<guid>`
    // (nested in the registry).
    let (first, rest) = prefix.split_once('/').unwrap_or((prefix, ""));
    let names_registry = r.parent.is_none()
        || target
            .old
            .as_deref()
            .is_some_and(|o| first.eq_ignore_ascii_case(o));
    Some(if names_registry && !rest.is_empty() {
        format!(
            "[concat({registry}, {}, {guid})]",
            quote(&format!("/{rest}/"))
        )
    } else {
        format!("[concat({}, {guid})]", quote(&format!("{prefix}/")))
    })
}

/// The new registry name as an argument valid where `r` is: the registry's own expression in
/// the registry's template, the literal elsewhere (a nested template has its own parameters).
fn registry_name_expr(r: &Resource<'_>, target: &Target<'_>) -> String {
    match target.template {
        Some(t) if ptr::eq(t, r.template) => target.name_expr.clone(),
        _ => target.name_literal.clone(),
    }
}

/// A value (`principalId`, `roleDefinitionId`) as arguments of `guid()` in a resource name:
/// a literal quoted, an expression as is, and `reference(<id>, ...).<path>` as `<id>, '<path>'`
/// since a name cannot wait for `reference()`. None when that is not possible.
fn name_argument(value: &str) -> Option<String> {
    if !is_expression(value) {
        return (!value.is_empty()).then(|| quote(value));
    }
    let body = expression_body(value);
    if !runtime_only(body) {
        return Some(body.to_string());
    }
    let open = body.find('(')?;
    if !body[..open].trim().eq_ignore_ascii_case("reference") {
        return None;
    }
    let close = closing_paren(body, open)?;
    let first = top_level_args(&body[open + 1..close]).into_iter().next()?;
    let path = body[close + 1..].trim();
    if runtime_only(first) || first.is_empty() || runtime_only(path) {
        return None;
    }
    Some(if path.is_empty() {
        first.to_string()
    } else {
        format!("{first}, {}", quote(path))
    })
}

/// True when an expression calls a function whose value is only known during the deployment.
fn runtime_only(expr: &str) -> bool {
    let lower = expr.to_ascii_lowercase();
    let mut rest = lower.as_str();
    while let Some(at) = rest.find('(') {
        let word: String = rest[..at]
            .chars()
            .rev()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        if word == "reference" || word.starts_with("list") || word == "newguid" {
            return true;
        }
        rest = &rest[at + 1..];
    }
    false
}

/// The index of the parenthesis closing the one at `open`, skipping quoted text.
fn closing_paren(s: &str, open: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut quoted = false;
    for (i, c) in s.char_indices().skip_while(|(i, _)| *i < open) {
        match c {
            '\'' => quoted = !quoted,
            '(' if !quoted => depth += 1,
            ')' if !quoted => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

/// The comma-separated arguments of a call, split at top level only.
fn top_level_args(s: &str) -> Vec<&str> {
    let (mut out, mut depth, mut quoted, mut start) = (Vec::new(), 0i32, false, 0);
    for (i, c) in s.char_indices() {
        match c {
            '\'' => quoted = !quoted,
            '(' | '[' if !quoted => depth += 1,
            ')' | ']' if !quoted => depth -= 1,
            ',' if !quoted && depth == 0 => {
                out.push(s[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(s[start..].trim());
    out
}

/// A string literal of the expression language.
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// A managed identity this deployment creates anew.
struct Identity {
    /// Its object id, when the template states it.
    principal_id: Option<String>,
    /// What it is, for messages.
    what: String,
    /// The registry's own identity: (its apiVersion) to read the new object id with.
    registry_api: Option<String>,
}

/// The managed identities the template creates: system-assigned identities of the resources it
/// deploys (the registry's included) and user-assigned identity resources.
fn created_identities(res: &[Resource<'_>]) -> Vec<Identity> {
    let mut out = Vec::new();
    for r in res {
        if r.node.get("existing").and_then(Node::as_bool) == Some(true) {
            continue;
        }
        let name = r.node.get_str("name").unwrap_or("?");
        let short = r.full_type.rsplit('/').next().unwrap_or("");
        let is_registry = r.full_type == REGISTRIES;
        if let Some(identity) = r.node.get("identity").filter(|n| n.members().is_some()) {
            let ty = identity.get_str("type").unwrap_or("").to_ascii_lowercase();
            if ty.contains("systemassigned") {
                let what = if is_registry {
                    "the registry's system-assigned identity".to_string()
                } else {
                    format!("the system-assigned identity of {short} {name}")
                };
                out.push(Identity {
                    principal_id: literal(identity.get("principalId")),
                    what,
                    registry_api: is_registry.then(|| r.api_version().to_string()),
                });
            }
            for m in identity
                .get("userAssignedIdentities")
                .and_then(Node::members)
                .unwrap_or(&[])
            {
                if let Some(p) = literal(m.value.get("principalId")) {
                    out.push(Identity {
                        principal_id: Some(p),
                        what: format!("the user-assigned identity {}", m.key),
                        registry_api: None,
                    });
                }
            }
        }
        if r.full_type == "microsoft.managedidentity/userassignedidentities" {
            out.push(Identity {
                principal_id: r
                    .node
                    .at(&["properties", "principalId"])
                    .and_then(|n| literal(Some(n))),
                what: format!("the user-assigned identity {name}"),
                registry_api: None,
            });
        }
    }
    out
}

fn literal(n: Option<&Node>) -> Option<String> {
    n.and_then(Node::as_str)
        .filter(|s| !is_expression(s) && !s.is_empty())
        .map(str::to_string)
}

/// A `roleDefinitionId` written as the literal id of a role definition in the source's subscription
/// (`/subscriptions/<id>/providers/Microsoft.Authorization/roleDefinitions/<guid>`, as exports write
/// it) becomes `subscriptionResourceId()` of the same GUID: the same role in the subscription the
/// template is deployed to (a built-in role has one GUID everywhere), where the literal fails in
/// another subscription. The name built from it (see [`new_name`]) keeps the literal: it only has
/// to be stable.
fn role_definition_literal(ctx: &mut Ctx<'_>, r: &Resource<'_>) {
    let Some(node) = r
        .node
        .get("properties")
        .and_then(|p| p.get("roleDefinitionId"))
    else {
        return;
    };
    let Some(value) = literal(Some(node)) else {
        return;
    };
    let Some(guid) = role_definition_guid(&value) else {
        return;
    };
    let replacement =
        format!("[subscriptionResourceId('Microsoft.Authorization/roleDefinitions', '{guid}')]");
    if ctx.tpl.set_string_at(node.span.clone(), &replacement) {
        ctx.find(
            Severity::Info,
            rules::ROLE_DEFINITION_ID_LITERAL,
            &format!("{}/properties/roleDefinitionId", r.path),
            format!("the roleDefinitionId was {value}, a role definition of the source's subscription; it is now {replacement}, the same role in the subscription the template is deployed to"),
            "nothing to do for a built-in role; a custom role must list the target subscription among its assignableScopes".into(),
        );
    }
}

/// The GUID of `/subscriptions/<id>/providers/Microsoft.Authorization/roleDefinitions/<guid>`.
fn role_definition_guid(value: &str) -> Option<&str> {
    let segments: Vec<&str> = value.strip_prefix('/')?.split('/').collect();
    let [subscriptions, _, providers, namespace, kind, guid] = segments[..] else {
        return None;
    };
    let expected = [
        (subscriptions, "subscriptions"),
        (providers, "providers"),
        (namespace, "Microsoft.Authorization"),
        (kind, "roleDefinitions"),
    ];
    (expected.iter().all(|(s, e)| s.eq_ignore_ascii_case(e)) && is_guid(guid)).then_some(guid)
}

/// A literal principal id of a role assignment that is a managed identity this deployment
/// creates anew, or (`maybe_too`, for assignments on the registry) may be one.
fn principal_recreated(
    ctx: &mut Ctx<'_>,
    r: &Resource<'_>,
    target: &Target<'_>,
    identities: &[Identity],
    maybe_too: bool,
) {
    let Some(props) = r.node.get("properties") else {
        return;
    };
    let Some(principal) = literal(props.get("principalId")).filter(|p| is_guid(p)) else {
        return;
    };
    let path = format!("{}/properties/principalId", r.path);
    let generic_fix = "read the new identity's object id instead, e.g. [reference(<identity's resource id>, '<apiVersion>', 'Full').identity.principalId] for a system-assigned identity or [reference(<user-assigned identity's id>).principalId], and set principalType to ServicePrincipal (a new identity may not have replicated yet)";
    if let Some(id) = identities.iter().find(|i| {
        i.principal_id
            .as_deref()
            .is_some_and(|p| p.eq_ignore_ascii_case(&principal))
    }) {
        let fix = match &id.registry_api {
            Some(api) => format!(
                "set principalId to [reference(resourceId('Microsoft.ContainerRegistry/registries', {}), '{api}', 'Full').identity.principalId] and principalType to ServicePrincipal",
                registry_name_expr(r, target)
            ),
            None => generic_fix.to_string(),
        };
        ctx.find(
            Severity::Warning,
            rules::ROLE_ASSIGNMENT_PRINCIPAL_RECREATED,
            &path,
            format!("the role assignment's principalId {principal} is the object id of {}, which this deployment creates anew with another object id: the role would go to the old identity", id.what),
            fix,
        );
        return;
    }
    let service_principal = props
        .get_str("principalType")
        .is_none_or(|t| t.eq_ignore_ascii_case("ServicePrincipal") || is_expression(t));
    if !maybe_too || !service_principal || identities.is_empty() {
        return;
    }
    let list: Vec<&str> = identities.iter().map(|i| i.what.as_str()).collect();
    ctx.find(
        Severity::Warning,
        rules::ROLE_ASSIGNMENT_PRINCIPAL_RECREATED,
        &path,
        format!("the role assignment's principalId {principal} is a literal object id; if it belongs to {}, which this deployment creates anew, the new identity has another object id and the role would go to the old one", list.join(" or ")),
        generic_fix.into(),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(old: &str) -> Target<'static> {
        Target {
            template: None,
            name_expr: "'newacr01'".into(),
            name_literal: "'newacr01'".into(),
            old: Some(old.into()),
            name_ref: Some("parameters('acrname')".into()),
            symbol: Some("acr".into()),
            only_one: false,
        }
    }

    #[test]
    fn scopes_are_told_apart() {
        let t = target("contosowest");
        let cases = [
            ("acr", Scope::Registry),
            ("Microsoft.ContainerRegistry/registries/contosowest", Scope::Registry),
            ("/subscriptions/1/resourceGroups/g/providers/Microsoft.ContainerRegistry/registries/ContosoWest", Scope::Registry),
            ("/subscriptions/1/resourceGroups/g/providers/Microsoft.ContainerRegistry/registries/contosowest/scopeMaps/m", Scope::UnderRegistry),
            ("Microsoft.ContainerRegistry/registries/otheracr", Scope::Other),
            ("[resourceId('Microsoft.ContainerRegistry/registries', parameters('acrName'))]", Scope::Registry),
            ("[format('Microsoft.ContainerRegistry/registries/{0}', parameters( 'acrName' ))]", Scope::Registry),
            ("[resourceId('Microsoft.ContainerRegistry/registries', 'contosowest')]", Scope::Registry),
            ("[resourceId('Microsoft.ContainerRegistry/registries/scopeMaps', 'contosowest', 'm')]", Scope::UnderRegistry),
            ("[resourceId('Microsoft.ContainerRegistry/registries', parameters('otherName'))]", Scope::Other),
            ("[resourceId('Microsoft.KeyVault/vaults', 'contosowest')]", Scope::Other),
        ];
        for (scope, want) in cases {
            assert_eq!(classify_scope(scope, &t), want, "{scope}");
        }
        // With one registry in the template, a registry named by an unknown parameter is this
        // one; one named by another literal is not.
        let t = Target {
            only_one: true,
            ..target("contosowest")
        };
        let cases = [
            ("[resourceId('Microsoft.ContainerRegistry/registries', parameters('acr'))]", Scope::Registry),
            ("[resourceId('sharedrg', 'Microsoft.ContainerRegistry/registries', parameters('acr'))]", Scope::Other),
            ("[resourceId('Microsoft.ContainerRegistry/registries', 'sharedacr')]", Scope::Other),
            ("[resourceId('shared-rg', 'Microsoft.ContainerRegistry/registries', 'contosowest')]", Scope::Registry),
        ];
        for (scope, want) in cases {
            assert_eq!(classify_scope(scope, &t), want, "{scope}");
        }
    }

    #[test]
    fn values_become_guid_arguments_known_at_the_start() {
        assert_eq!(name_argument("1234").as_deref(), Some("'1234'"));
        assert_eq!(
            name_argument("[parameters('principalId')]").as_deref(),
            Some("parameters('principalId')")
        );
        assert_eq!(
            name_argument("[reference(resourceId('Microsoft.ContainerService/managedClusters', variables('c')), '2020-03-01').identityProfile.kubeletidentity.objectId]").as_deref(),
            Some("resourceId('Microsoft.ContainerService/managedClusters', variables('c')), '.identityProfile.kubeletidentity.objectId'")
        );
        assert_eq!(name_argument("[listKeys('x', '1').keys[0]]"), None);
        assert_eq!(
            name_argument("[reference(reference('x').id).principalId]"),
            None
        );
        assert_eq!(name_argument(""), None);
    }

    #[test]
    fn guids_are_recognised() {
        assert!(is_guid("3f1c2a4e-5b6d-4e7f-8a9b-0c1d2e3f4a5b"));
        assert!(!is_guid("3f1c2a4e-5b6d-4e7f-8a9b"));
    }
}
