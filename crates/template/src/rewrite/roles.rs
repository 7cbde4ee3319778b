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
use crate::model::{
    expression_body, is_expression, is_inner_scope, resolve, single_call, Resource,
};
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
        let scope = scope_of(r, i, target, children, ctx.params_obj);
        if scope == Scope::Other {
            if let Some(principal) = registry_identity(r, target, ctx.params_obj) {
                identity_elsewhere(ctx, r, res, target, &principal);
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
                unscoped_guid(ctx, r, target, Grant::OnRegistry, None);
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
                blocked_fix: "name it with a GUID derived from the new scope, e.g. [guid(<new scope's resource id>, <principal id>, <role definition id>)]; its principalId and roleDefinitionId must be known when the deployment starts (no reference() or list*())".into(),
                made_of: "the new registry's id, the principal and the role",
                source_kept: format!("the source's assignment {guid} stays on the source registry until that is deleted"),
            },
        );
    }
}

/// The relocated registry's own system-assigned identity as the principal of a role assignment.
struct RegistryIdentity {
    /// Its `guid()` arguments: `<new registry's id>, '.identity.principalId'`.
    args: String,
    /// The `variables('x')` / `parameters('x')` call (compact, lower case) that held the
    /// registry's id or name, when the principal read it through one: it names the registry too.
    through: Option<String>,
}

/// The principal of a role assignment when it is the relocated registry's own system-assigned
/// identity, read with `reference(<registry>[, <apiVersion>, 'Full']).identity.principalId`
/// where `<registry>` is its id, its name or its symbolic name, written out or held by a
/// variable or parameter (`variables('acrId')` valued `[resourceId(...registries...)]`).
/// `params_file` gives the parameters' values at the top level.
fn registry_identity(
    r: &Resource<'_>,
    target: &Target<'_>,
    params_file: Option<&Node>,
) -> Option<RegistryIdentity> {
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
    // What the first argument stands for: itself, or the value of the variable or parameter it
    // reads; a literal text, or an expression's body.
    let held = held_value(first, r, params_file);
    let (literal, expression) = match held {
        Some(v) if is_expression(v) => (None, Some(expression_body(v))),
        Some(v) => (Some(v), None),
        None => {
            let quoted = first
                .strip_prefix('\'')
                .and_then(|f| f.strip_suffix('\''))
                .filter(|f| !f.contains('\''));
            (quoted, quoted.is_none().then_some(first))
        }
    };
    if expression.is_some_and(runtime_only) {
        return None;
    }
    // A symbolic name or a plain name is not the registry's id in a `guid()`: it becomes
    // `resourceId()`; an id (literal or built, or the variable or parameter that holds it)
    // enters as written (the renaming follows).
    let by_name = match (literal, expression) {
        (Some(text), _) => {
            target.symbol.as_deref() == Some(text)
                || target
                    .old
                    .as_deref()
                    .is_some_and(|o| text.eq_ignore_ascii_case(o))
        }
        (None, Some(expr)) => target.name_ref.as_deref() == Some(compact(expr).as_str()),
        (None, None) => false,
    };
    let id = if by_name {
        format!(
            "resourceId('Microsoft.ContainerRegistry/registries', {})",
            registry_name_expr(r, target)
        )
    } else {
        let scope = match (literal, expression) {
            (Some(text), _) => classify_scope(text, target),
            (None, Some(expr)) => classify_scope(&format!("[{expr}]"), target),
            (None, None) => Scope::Other,
        };
        if scope != Scope::Registry {
            return None;
        }
        first.to_string()
    };
    Some(RegistryIdentity {
        args: format!("{id}, '.identity.principalId'"),
        through: held.map(|_| compact(first)),
    })
}

/// The string value of `call` when it is `variables('x')` or `parameters('x')` read where `r`
/// is: the variable's value, or the parameter's given value (the nested deployment's, or the
/// parameters file's at the top level), else its default.
fn held_value<'a>(call: &str, r: &Resource<'a>, params_file: Option<&'a Node>) -> Option<&'a str> {
    let wrapped = format!("[{call}]");
    if let Some(name) = single_call(&wrapped, "variables") {
        return r.template.get("variables")?.get(name)?.as_str();
    }
    let name = single_call(&wrapped, "parameters")?;
    let given = match r.deployment {
        Some(d) => d.at(&["properties", "parameters", name, "value"]),
        None => params_file.and_then(|f| f.at(&[name, "value"])),
    };
    given
        .or_else(|| r.template.get("parameters")?.get(name)?.get("defaultValue"))?
        .as_str()
}

/// The kind of scope the resources of a template are deployed at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DeployedAt {
    /// A resource group (`deploymentTemplate.json`).
    ResourceGroup,
    /// A subscription (`subscriptionDeploymentTemplate.json`).
    Subscription,
    /// A management group (`managementGroupDeploymentTemplate.json`).
    ManagementGroup,
    /// The tenant (`tenantDeploymentTemplate.json`).
    Tenant,
}

impl DeployedAt {
    /// The kind a template's `$schema` states (a resource group when it states no other).
    fn of_schema(template: &Node) -> Self {
        let schema = template
            .get_str("$schema")
            .unwrap_or("")
            .to_ascii_lowercase();
        if schema.contains("subscriptiondeploymenttemplate") {
            Self::Subscription
        } else if schema.contains("managementgroupdeploymenttemplate") {
            Self::ManagementGroup
        } else if schema.contains("tenantdeploymenttemplate") {
            Self::Tenant
        } else {
            Self::ResourceGroup
        }
    }

    /// The id of the scope of this kind a deployment runs at, as a `guid()` argument.
    fn current_id(self) -> &'static str {
        match self {
            Self::ResourceGroup => "resourceGroup().id",
            Self::Subscription => "subscription().id",
            Self::ManagementGroup => "managementGroup().id",
            Self::Tenant => "tenant().id",
        }
    }
}

/// The members of a nested deployment that send it to another scope than the template's.
const SCOPE_PINS: [&str; 3] = ["scope", "subscriptionId", "resourceGroup"];

/// Where the resources of the template that `holder` deploys (None: the root template) are
/// deployed; None when a nested deployment's `scope` is neither the tenant nor a management
/// group.
fn deployed_at(holder: Option<&Node>, res: &[Resource<'_>]) -> Option<DeployedAt> {
    let Some(deployment) = holder else {
        let root = res.iter().find(|x| x.holder.is_none())?.template;
        return Some(DeployedAt::of_schema(root));
    };
    let around = res.iter().find(|x| ptr::eq(x.node, deployment))?;
    let outer = deployed_at(around.holder, res)?;
    if let Some(scope) = deployment.get_str("scope") {
        return if scope.trim() == "/" {
            Some(DeployedAt::Tenant)
        } else if scope
            .to_ascii_lowercase()
            .contains("microsoft.management/managementgroups/")
        {
            Some(DeployedAt::ManagementGroup)
        } else {
            None
        };
    }
    Some(if deployment.get("resourceGroup").is_some() {
        DeployedAt::ResourceGroup
    } else if deployment.get("subscriptionId").is_some() {
        // Also from a resource group's template: a deployment that names a subscription and no
        // resource group goes to the subscription ("Scope to subscription" in Azure's
        // resource-group deployment docs).
        DeployedAt::Subscription
    } else {
        outer
    })
}

/// The scope a `Microsoft.Authorization/roleAssignments` without a `scope` is deployed at, as a
/// `guid()` argument valid where its expressions are evaluated: the resource group, the
/// subscription, the management group or the tenant of the template that holds it (for a nested
/// deployment that sends it elsewhere with the default outer expression scope, where those
/// functions name the outer template's scope, the id is built from the deployment's
/// `resourceGroup`, `subscriptionId` or `scope`). Err: what to do when no expression names it.
fn deployment_scope(r: &Resource<'_>, res: &[Resource<'_>]) -> Result<String, String> {
    let Some(deployment) = r.holder else {
        // In the root template.
        return Ok(DeployedAt::of_schema(r.template).current_id().to_string());
    };
    let name = deployment.get_str("name").unwrap_or("?");
    let by_hand = "name it [guid(<that scope's id>, <registry's resource id>, '.identity.principalId', <role definition id>)], or give the role assignment a scope";
    let Some(around) = res.iter().find(|x| ptr::eq(x.node, deployment)) else {
        return Err(by_hand.to_string());
    };
    if !SCOPE_PINS.iter().any(|k| deployment.get(k).is_some()) {
        // Deployed where the deployment itself is.
        return deployment_scope(around, res);
    }
    let Some(at) = deployed_at(r.holder, res) else {
        return Err(format!(
            "nested deployment {name} deploys it to the scope {}, which is neither the tenant (\"/\") nor a management group: {by_hand}",
            deployment.get_str("scope").unwrap_or("?")
        ));
    };
    if is_inner_scope(deployment) {
        return Ok(at.current_id().to_string());
    }
    // The default outer scope: the functions name the scope of the template around the
    // deployment, whose expressions the deployment's own members are evaluated in too.
    // A member only known during the deployment cannot enter a name (not even as the
    // `reference()` id that `name_argument` makes of a principal).
    let member = |key: &str| {
        deployment.get_str(key).map(|value| {
            let known = !is_expression(value) || !runtime_only(expression_body(value));
            known.then(|| name_argument(value)).flatten()
        })
    };
    let built = match at {
        DeployedAt::Tenant => Some(Some(DeployedAt::Tenant.current_id().to_string())),
        DeployedAt::ManagementGroup => member("scope"),
        DeployedAt::Subscription => member("subscriptionId")
            .map(|sub| sub.map(|sub| format!("format('/subscriptions/{{0}}', {sub})"))),
        // Without a `resourceGroup`, one of the same name as the outer template's.
        DeployedAt::ResourceGroup => Some(
            member("resourceGroup")
                .unwrap_or_else(|| Some("resourceGroup().name".into()))
                .and_then(|group| match member("subscriptionId") {
                    Some(sub) => Some(format!(
                        "subscriptionResourceId({}, 'Microsoft.Resources/resourceGroups', {group})",
                        sub?
                    )),
                    None => Some(format!(
                        "subscriptionResourceId('Microsoft.Resources/resourceGroups', {group})"
                    )),
                }),
        ),
    };
    match built.flatten() {
        Some(id) => Ok(id),
        None => Err(format!(
            "nested deployment {name} deploys it to a scope only known during the deployment: {by_hand}"
        )),
    }
}

/// A role assignment on anything but the registry whose principal is the registry's own
/// identity (`principal`). A literal GUID name is the source's
/// assignment, which gives the role to the source registry's identity and cannot change its
/// principal: it becomes `guid(<scope>, <registry id>, '.identity.principalId', <role>)`. A
/// `guid()` name of values that do not name the registry gets the new registry's id.
fn identity_elsewhere(
    ctx: &mut Ctx<'_>,
    r: &Resource<'_>,
    res: &[Resource<'_>],
    target: &Target<'_>,
    principal: &RegistryIdentity,
) {
    let Some((guid, prefix, from)) = literal_guid_name(ctx, r) else {
        unscoped_guid(
            ctx,
            r,
            target,
            Grant::ToRegistryIdentity,
            principal.through.as_deref(),
        );
        return;
    };
    // Without a `scope`, the assignment is on the scope it is deployed at.
    let unscoped = r.full_type == "microsoft.authorization/roleassignments"
        && r.node.get_str("scope").is_none();
    let generic_fix = "name it with a GUID derived from the new registry, e.g. [guid(<scope's resource id>, <registry's resource id>, '.identity.principalId', <role definition id>)]; its roleDefinitionId and scope must be known when the deployment starts (no reference() or list*())";
    let (new_name, blocked_fix) = match unscoped.then(|| deployment_scope(r, res)) {
        Some(Err(fix)) => (None, fix),
        Some(Ok(scope)) => (
            identity_elsewhere_name(r, &principal.args, &prefix, Some(&scope)),
            generic_fix.to_string(),
        ),
        None => (
            identity_elsewhere_name(r, &principal.args, &prefix, None),
            generic_fix.to_string(),
        ),
    };
    rename_literal_guid(
        ctx,
        r,
        target,
        (&guid, &from),
        new_name,
        &Wording {
            whose: ", which gives the role to the source registry's identity",
            why: "role assignment names are unique in the whole tenant and an existing assignment cannot change its principal (RoleAssignmentUpdateNotPermitted)",
            blocked_fix,
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
    blocked_fix: String,
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
            words.blocked_fix.clone(),
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
/// `Microsoft.Authorization/roleAssignments` (`<scope>`: its `scope`, else `deployed`, the scope
/// it is deployed at), and for the older top-level
/// `<type>/providers/roleAssignments` named `<resource>/Microsoft.Authorization/<guid>`,
/// `[concat('<resource>/Microsoft.Authorization/', guid(resourceId('<type>', '<resource>'),
/// <principal>, <role>))]`. None when the scope or the role cannot enter a name.
fn identity_elsewhere_name(
    r: &Resource<'_>,
    principal: &str,
    prefix: &str,
    deployed: Option<&str>,
) -> Option<String> {
    let role = name_argument(r.node.get("properties")?.get_str("roleDefinitionId")?)?;
    if r.full_type == "microsoft.authorization/roleassignments" {
        let scope = match r.node.get_str("scope") {
            Some(s) => name_argument(s)?,
            None => deployed?.to_string(),
        };
        return Some(format!("[guid({scope}, {principal}, {role})]"));
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

/// Where `r` (the resource at index `i`) applies, if it is a role assignment; a `scope` that
/// reads a variable or parameter is where its value points (`params_file`: the parameters'
/// values at the top level).
fn scope_of(
    r: &Resource<'_>,
    i: usize,
    target: &Target<'_>,
    children: &[usize],
    params_file: Option<&Node>,
) -> Scope {
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
        Some(s) if is_expression(s) => match held_value(expression_body(s), r, params_file) {
            Some(value) => classify_scope(value, target),
            None => classify_scope(s, target),
        },
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
/// again. The new registry's id becomes the first argument of that `guid()`. `registry_holder`
/// is the variable or parameter call that holds the registry's id (see [`RegistryIdentity`]),
/// which names the registry in a `guid()` as well.
fn unscoped_guid(
    ctx: &mut Ctx<'_>,
    r: &Resource<'_>,
    target: &Target<'_>,
    grant: Grant,
    registry_holder: Option<&str>,
) {
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
    // The variable or parameter that holds the registry's id, read by the principal.
    needles.extend(registry_holder.map(str::to_string));
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
