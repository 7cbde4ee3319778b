//! The relocation of the chosen registry ([`relocate`]): its name, which resources are its own,
//! its location, replications and private endpoint, the `dependsOn` entries of removed
//! resources, its properties (network rules, policies, encryption), diagnostic settings, the SKU
//! its features need, literal ids and role assignments, each through its module; and the nested
//! deployments around it ([`nested_deployment_scope`]).

use std::collections::HashSet;

use serde_json::json;

use super::api_version::check_api_version;
use super::children::{children_pass, parent_key};
use super::definitions::{
    chain_references, definition, name_reference, scalar_value, shared_setting, where_set,
};
use super::encryption::encryption;
use super::literal_ids::literal_ids;
use super::location::set_location;
use super::naming::{apply_name, registry_copy_loop};
use super::network::network_rules;
use super::private_endpoints::{add_private_endpoint, private_endpoint_fix, recreate_severity};
use super::recreated::{recreate_tasks, system_identity};
use super::removed::{drop_dangling_depends, removed_references, RegistryDependency, Removed};
use super::replications::zone_redundancy;
use super::roles;
use super::{add_beside, norm_region, str_ci_eq, Ctx, CHILD_PREFIX, REGISTRY};
use crate::edit;
use crate::findings::Severity;
use crate::jsonc::Node;
use crate::model::{self, is_expression, pointer_key, resolve, Env, Resource, Source};
use crate::rename;
use crate::rules;

/// Does all the work on the chosen registry; returns the old name when it is known.
pub(super) fn relocate<'r>(
    ctx: &mut Ctx<'_>,
    root: &'r Node,
    res: &[Resource<'r>],
    reg_i: usize,
    registry_count: usize,
) -> Option<String> {
    let opts = ctx.opts;
    let reg = &res[reg_i];
    let rp = reg.path.clone();
    let api = reg.api_version().to_string();
    let params_obj = ctx.params_obj;
    let pfile = |r: &Resource<'_>| {
        if r.deployment.is_none() {
            params_obj
        } else {
            None
        }
    };

    // --- Name -------------------------------------------------------------------------------
    let name_node = reg.node.get("name");
    let mut old_name = None;
    let mut name_expr_for_children = format!("'{}'", opts.name);
    let mut name_set = false;
    let mut name_references = Vec::new();
    let copy_loop = reg.node.get("copy");
    if let Some(copy) = copy_loop {
        registry_copy_loop(ctx, copy, &rp);
    } else if let Some(name_node) = name_node {
        let steps = ctx.scopes.chain(name_node, Env::of(reg, params_obj));
        let named = apply_name(ctx, &steps, &rp);
        (old_name, name_expr_for_children, name_set) = (named.old, named.expr, named.set);
        name_references = named.references;
    }
    ctx.old_name = old_name.clone();

    if let Some(holder) = reg.holder {
        let scope = if model::is_inner_scope(holder) {
            "inner scope: its parameters() are its own, given by the deployment's parameters"
        } else {
            "outer scope: its parameters() and variables() are those of the template around it"
        };
        let message = if name_set {
            format!("the registry is defined inside a nested deployment ({scope}); it was rewritten in place")
        } else {
            let rule = if copy_loop.is_some() {
                rules::REGISTRY_COPY_LOOP
            } else {
                rules::NAME_NOT_SET
            };
            format!("the registry is defined inside a nested deployment ({scope}); its name was not rewritten (see {rule})")
        };
        ctx.find(
            Severity::Info,
            rules::NESTED_DEPLOYMENT,
            &rp,
            message,
            "check the nested deployment's parameters and scope (resource group, subscription) for the target".into(),
        );
        nested_deployment_scope(ctx, res, reg);
    }

    // --- Which resources belong to this registry --------------------------------------------
    let name_key = name_node.and_then(Node::as_str).map(|s| {
        model::single_call(s, "parameters")
            .or_else(|| model::single_call(s, "variables"))
            .map(str::to_string)
            .unwrap_or_else(|| s.to_string())
            .to_ascii_lowercase()
    });
    let belongs = |i: usize| -> bool {
        let r = &res[i];
        let mut p = r.parent;
        while let Some(pi) = p {
            if res[pi].full_type == REGISTRY {
                return pi == reg_i;
            }
            p = res[pi].parent;
        }
        if registry_count == 1 {
            return true;
        }
        // The parent named by the child's first name segment, compared exactly: `acrone01` is
        // not the parent of `acrone01dev/eastus`.
        let Some(parent) = r.node.get_str("name").and_then(parent_key) else {
            return false;
        };
        name_key.as_deref() == Some(parent.as_str())
            || old_name
                .as_deref()
                .is_some_and(|o| o.eq_ignore_ascii_case(&parent))
    };
    let children: Vec<usize> = (0..res.len())
        .filter(|&i| res[i].full_type.starts_with(CHILD_PREFIX) && belongs(i))
        .collect();
    for &i in children.iter().chain([&reg_i]) {
        if let Some(n) = res[i].node.get("name") {
            ctx.whole_names.insert(n.span.start);
        }
    }

    let mut removed: Vec<Removed> = Vec::new();

    check_api_version(ctx, reg);

    // --- Location -----------------------------------------------------------------------------
    let location_steps = reg
        .node
        .get("location")
        .map(|n| ctx.scopes.chain(n, Env::of(reg, params_obj)))
        .unwrap_or_default();
    let old_location = location_steps
        .last()
        .map(|_| definition(&location_steps))
        .and_then(|d| d.source.literal())
        .map(str::to_string);
    set_location(ctx, reg, &rp);

    // --- Replications, private endpoint connections, system scope maps ----------------------
    let target = norm_region(&opts.location);
    let old_home = old_location
        .as_deref()
        .filter(|l| !is_expression(l))
        .map(norm_region);
    let (kept_replications, mut replication_count) =
        children_pass(ctx, res, &children, &mut removed, old_home.as_deref());

    // --- Added replications --------------------------------------------------------------
    let mut seen_add = HashSet::new();
    for region in &opts.add_replications {
        let n = norm_region(region);
        if n == target {
            ctx.find(
                Severity::Warning,
                rules::REPLICATION_ADDED,
                &rp,
                format!("--replication {region} ignored: it is the new home region"),
                "leave the home region out of --replication".into(),
            );
            continue;
        }
        if kept_replications.contains(&n) || !seen_add.insert(n.clone()) {
            continue;
        }
        let new_res = json!({
            "type": "Microsoft.ContainerRegistry/registries/replications",
            "apiVersion": api,
            "name": format!("[concat({name_expr_for_children}, '/{n}')]"),
            "location": n,
            "properties": {},
            "dependsOn": [match &reg.slot.symbol {
                Some(s) => s.clone(),
                None => format!("[resourceId('Microsoft.ContainerRegistry/registries', {name_expr_for_children})]"),
            }],
        });
        add_beside(ctx, reg, &format!("replication_{n}"), &new_res);
        replication_count += 1;
        ctx.find(
            Severity::Info,
            rules::REPLICATION_ADDED,
            &rp,
            format!("replication in {n} added (--replication)"),
            "nothing to do".into(),
        );
    }

    let endpoint_added = add_private_endpoint(ctx, reg, &name_expr_for_children);

    // The regions the new registry serves: its data endpoints.
    let mut replicas = kept_replications.clone();
    for r in &opts.add_replications {
        let n = norm_region(r);
        if n != target && !replicas.contains(&n) {
            replicas.push(n);
        }
    }
    ctx.data_regions = Some(rename::DataRegions {
        old_home: old_home.clone(),
        target: target.clone(),
        replicas,
    });
    recreate_tasks(ctx, res);

    // --- dependsOn entries that point at removed resources -------------------------------------
    let dependency = RegistryDependency {
        index: reg_i,
        symbol: reg.slot.symbol.clone(),
        name_expr: name_expr_for_children.clone(),
        template: reg.template,
        old: old_name.clone(),
    };
    drop_dangling_depends(ctx, res, &removed, Some(&dependency));
    removed_references(ctx, root, res, &removed);

    // --- Registry properties -------------------------------------------------------------------
    let props = reg.node.get("properties");
    if let Some(p) = props {
        if p.as_str().is_some() {
            ctx.find(
                Severity::Warning,
                rules::EXPRESSION_NOT_INSPECTED,
                &format!("{rp}/properties"),
                "the registry's properties are one expression; network rules, policies and encryption were not inspected".into(),
                "review the expression by hand for the target region".into(),
            );
        }
    }
    for key in ["identity", "sku"] {
        if reg.node.get(key).and_then(Node::as_str).is_some() {
            ctx.find(
                Severity::Warning,
                rules::EXPRESSION_NOT_INSPECTED,
                &format!("{rp}/{key}"),
                format!("the registry's {key} is one expression and was not inspected"),
                "review the expression by hand for the target region".into(),
            );
        }
    }
    let prop = |k: &str| props.and_then(|p| p.get(k));
    // A scalar setting written as `[parameters('x')]` or `[variables('y')]` counts with the
    // value the deployment would use (given value or default), like the SKU.
    let pf = if reg.deployment.is_none() {
        params_obj
    } else {
        None
    };
    let val = |n: Option<&'r Node>| n.and_then(|n| scalar_value(n, reg, pf));
    for (k, sub) in [
        ("networkRuleSet", None),
        ("policies", None),
        ("encryption", None),
    ] {
        let _: Option<()> = sub;
        if prop(k).and_then(Node::as_str).is_some() {
            ctx.find(
                Severity::Warning,
                rules::EXPRESSION_NOT_INSPECTED,
                &format!("{rp}/properties/{k}"),
                format!("properties.{k} is one expression and was not inspected"),
                "review the expression by hand for the target region".into(),
            );
        }
    }

    let mut premium: Vec<&str> = Vec::new();
    if replication_count > 0 {
        premium.push("geo-replication");
    }
    if endpoint_added {
        premium.push("private endpoints");
    }

    // Private endpoint connections inline.
    if let (Some(p), Some(pec)) = (props, prop("privateEndpointConnections")) {
        let has = pec.items().is_some_and(|i| !i.is_empty());
        if let Some(idx) = p.members().and_then(|ms| {
            ms.iter()
                .position(|m| m.key.eq_ignore_ascii_case("privateEndpointConnections"))
        }) {
            edit::remove_members(&mut ctx.tpl.edits, p, &[idx]);
        }
        if has {
            premium.push("private endpoints");
            ctx.find(
                recreate_severity(opts),
                rules::PRIVATE_ENDPOINT_RECREATE,
                &format!("{rp}/properties/privateEndpointConnections"),
                "private endpoint connections removed: they belong to the source registry's private endpoints".into(),
                private_endpoint_fix(opts),
            );
        }
    }
    if children
        .iter()
        .any(|&c| res[c].full_type.ends_with("/privateendpointconnections"))
    {
        premium.push("private endpoints");
    }

    if children
        .iter()
        .any(|&c| res[c].full_type.ends_with("/connectedregistries"))
    {
        premium.push("connected registries");
    }

    // Public access and bypass.
    let public_disabled = str_ci_eq(val(prop("publicNetworkAccess")), "Disabled");
    if public_disabled {
        premium.push("disabled public network access");
        ctx.public_disabled = Some(format!("{rp}/properties/publicNetworkAccess"));
    }
    let bypass = val(prop("networkRuleBypassOptions")).and_then(Node::as_str);
    if public_disabled && bypass.is_some_and(|b| b.eq_ignore_ascii_case("None")) {
        ctx.find(
            Severity::Blocking,
            rules::PUBLIC_ACCESS_NO_BYPASS,
            &format!("{rp}/properties/networkRuleBypassOptions"),
            "public network access is disabled and trusted Azure services are not allowed: server-side import (az acr import) into the new registry will be refused".into(),
            "set networkRuleBypassOptions to AzureServices at least until the import is done".into(),
        );
    }

    // Network rules.
    network_rules(ctx, reg, prop("networkRuleSet"), &api, &mut premium);

    // Data endpoint, zone redundancy.
    if val(prop("dataEndpointEnabled")).and_then(Node::as_bool) == Some(true) {
        premium.push("dedicated data endpoint");
    }
    // Zone redundancy is not a Premium feature (any SKU is zone redundant by default in a region
    // with availability zones); what an explicit `Enabled` still needs is a region with zones.
    if str_ci_eq(val(prop("zoneRedundancy")), "Enabled") {
        zone_redundancy(
            ctx,
            &format!("{rp}/properties/zoneRedundancy"),
            "the registry",
            &target,
        );
    }

    // Policies.
    let pol = |k: &str| prop("policies").and_then(|p| p.get(k));
    if str_ci_eq(
        val(pol("quarantinePolicy").and_then(|r| r.get("status"))),
        "enabled",
    ) {
        ctx.find(
            Severity::Warning,
            rules::QUARANTINE_POLICY_ENABLED,
            &format!("{rp}/properties/policies/quarantinePolicy"),
            "the quarantine policy is enabled: every image copied or imported into the new registry is held in quarantine until a scanner approves it, so verify, the rewrite's reference check and clients fail to pull it".into(),
            "set quarantinePolicy.status to disabled for the deployment and enable it after the copy is verified (az resource update --ids <registry id> --set properties.policies.quarantinePolicy.status=enabled)".into(),
        );
    }
    if let Some(status) = pol("trustPolicy").and_then(|r| r.get("status")) {
        if str_ci_eq(val(Some(status)), "enabled") {
            trust_policy_disabled(
                ctx,
                status,
                &format!("{rp}/properties/policies/trustPolicy"),
            );
        }
    }
    if str_ci_eq(
        val(pol("exportPolicy").and_then(|r| r.get("status"))),
        "disabled",
    ) {
        premium.push("disabled export policy");
        ctx.find(
            Severity::Warning,
            rules::EXPORT_POLICY_DISABLED,
            &format!("{rp}/properties/policies/exportPolicy"),
            "the export policy is disabled (the source's data-exfiltration setting): az acr import out of the source registry is refused, so copy --mode import fails".into(),
            "copy in client mode (the default), or enable the source's export policy until the copy is done (az acr update --name <source> --allow-exports true)".into(),
        );
    }
    if str_ci_eq(
        val(pol("retentionPolicy").and_then(|r| r.get("status"))),
        "enabled",
    ) {
        premium.push("retention policy");
        ctx.find(
            Severity::Warning,
            rules::RETENTION_POLICY_ENABLED,
            &format!("{rp}/properties/policies/retentionPolicy"),
            "the retention policy is enabled: untagged manifests copied during the import are purged after the retention period".into(),
            "import tagged images only, or disable the retention policy until the copy is verified".into(),
        );
    }
    if str_ci_eq(
        val(pol("softDeletePolicy").and_then(|r| r.get("status"))),
        "enabled",
    ) && replication_count > 0
    {
        ctx.find(
            Severity::Blocking,
            rules::SOFT_DELETE_WITH_REPLICATION,
            &format!("{rp}/properties/policies/softDeletePolicy"),
            "soft delete is enabled on a geo-replicated registry; the two cannot be combined"
                .into(),
            "disable softDeletePolicy or drop the replications (--drop-replication)".into(),
        );
    }
    if val(prop("adminUserEnabled")).and_then(Node::as_bool) == Some(true) {
        ctx.find(
            Severity::Warning,
            rules::ADMIN_USER_ENABLED,
            &format!("{rp}/properties/adminUserEnabled"),
            "the admin user is enabled; the new registry gets new admin passwords".into(),
            "prefer Microsoft Entra identities; if kept, update every client with the new credentials".into(),
        );
    }
    if val(prop("anonymousPullEnabled")).and_then(Node::as_bool) == Some(true) {
        ctx.find(
            Severity::Warning,
            rules::ANONYMOUS_PULL_ENABLED,
            &format!("{rp}/properties/anonymousPullEnabled"),
            "anonymous pull is enabled: anyone can pull from the new registry".into(),
            "confirm that this is wanted, or set anonymousPullEnabled to false".into(),
        );
    }

    // A system-assigned identity: a new principal without the source's role assignments.
    system_identity(
        ctx,
        reg,
        "the registry",
        &format!("az acr show --name {} --query identity.principalId -o tsv", old_name.as_deref().unwrap_or("<source>")),
        &format!("[reference(resourceId('Microsoft.ContainerRegistry/registries', {name_expr_for_children}), '{api}', 'Full').identity.principalId]"),
    );

    // Encryption (CMK).
    let cmk = encryption(ctx, reg, prop("encryption"), &mut premium);
    if let (Some(id), false) = (&opts.identity, cmk) {
        ctx.find(
            Severity::Warning,
            rules::OPTION_IGNORED,
            &format!("{rp}/properties/encryption"),
            format!("--identity {id} was not applied: the registry has no customer-managed key for it to read"),
            "leave out --identity, or set properties.encryption and the identity by hand if the new registry must use a customer-managed key (it can only be set at creation)".into(),
        );
    }
    if let (Some(uri), false) = (&opts.key_uri, ctx.key_uri_used) {
        ctx.find(
            Severity::Warning,
            rules::OPTION_IGNORED,
            &format!("{rp}/properties/encryption"),
            format!("--key-uri {uri} was not applied: the registry has no customer-managed key given by a literal, parameter or variable"),
            "set properties.encryption by hand if the new registry must use that key (CMK can only be set at creation)".into(),
        );
    }

    // The old home region: clients there lose their regional endpoint.
    if let Some(old) = old_location.as_deref().filter(|l| !is_expression(l)) {
        let o = norm_region(old);
        let added = opts.add_replications.iter().any(|r| norm_region(r) == o);
        // A removed replication of the old home region says the same in its own finding.
        let said = ctx
            .findings
            .iter()
            .any(|f| f.rule_id == rules::REPLICATION_OLD_HOME_REMOVED);
        if o != target && !kept_replications.contains(&o) && !added && !said {
            ctx.find(
                Severity::Info,
                rules::OLD_REGION_NOT_SERVED,
                &format!("{rp}/location"),
                format!("{o} (the source's home region) is no longer served by the registry: clients there pull across regions"),
                format!("add --replication {o} to keep a regional endpoint there (Premium)"),
            );
        }
    }

    // Diagnostic settings and other resources scoped to the registry.
    for (i, r) in res.iter().enumerate() {
        let is_diag = r.full_type.ends_with("diagnosticsettings")
            && (r.full_type.starts_with(CHILD_PREFIX)
                || r.node
                    .get_str("scope")
                    .is_some_and(|s| s.to_ascii_lowercase().contains("registries")));
        if !is_diag || !(registry_count == 1 || belongs(i)) {
            continue;
        }
        // Azure Monitor needs a storage account or Event Hubs namespace destination in the
        // region of the (regional) resource it monitors; a workspace may be anywhere. Counted
        // when the id is known (a literal, or a parameter or variable holding one): an
        // expression may well give none.
        let env = Env::of(r, params_obj);
        let regional: Vec<&str> = [
            ("storageAccountId", "storage account"),
            ("eventHubAuthorizationRuleId", "Event Hubs namespace"),
        ]
        .into_iter()
        .filter(|(k, _)| {
            r.node.at(&["properties", k]).is_some_and(|n| {
                let steps = ctx.scopes.chain(n, env);
                definition(&steps)
                    .source
                    .literal()
                    .is_some_and(|s| !s.is_empty())
            })
        })
        .map(|(_, what)| what)
        .collect();
        if regional.is_empty() {
            ctx.find(
                Severity::Info,
                rules::DIAGNOSTIC_SETTINGS_KEPT,
                &r.path,
                "diagnostic settings of the registry kept; their destinations (workspace, storage, event hub) are unchanged".into(),
                format!("point them at destinations in {} if data must stay in the region", opts.location),
            );
        } else {
            let list = regional.join(" and ");
            ctx.find(
                Severity::Warning,
                rules::DIAGNOSTIC_SETTINGS_KEPT,
                &r.path,
                format!("diagnostic settings of the registry kept with their {list} destination: Azure Monitor requires it in the registry's region, so the setting fails unless it is in {}", opts.location),
                format!("use a {list} in {} (or send the logs to a Log Analytics workspace, which may be in any region)", opts.location),
            );
        }
    }

    // SKU.
    let sku = reg
        .node
        .at(&["sku", "name"])
        .map(|n| resolve(n, reg.template, reg.deployment, pfile(reg)));
    let sku_lit = sku.as_ref().and_then(Source::literal).map(str::to_string);
    if sku_lit
        .as_deref()
        .is_some_and(|s| s.eq_ignore_ascii_case("Classic"))
    {
        ctx.find(
            Severity::Blocking,
            rules::SKU_CLASSIC,
            &format!("{rp}/sku/name"),
            "the Classic SKU is retired: no new Classic registry can be created".into(),
            "use Basic, Standard or Premium with a current apiVersion".into(),
        );
    }
    premium.dedup();
    if !premium.is_empty() {
        let list = premium.join(", ");
        match &sku_lit {
            Some(s) if s.eq_ignore_ascii_case("Premium") => {}
            Some(s) => {
                let (path, fix) = sku
                    .as_ref()
                    .and_then(|src| where_set(ctx, res, reg, src))
                    .map(|(path, what)| (path, format!("set {what} to Premium")))
                    .unwrap_or_else(|| {
                        (format!("{rp}/sku/name"), "set sku.name to Premium".into())
                    });
                ctx.find(
                    Severity::Blocking,
                    rules::PREMIUM_REQUIRED,
                    &path,
                    format!("SKU {s} does not support: {list}"),
                    fix,
                );
            }
            None => ctx.find(
                Severity::Warning,
                rules::PREMIUM_REQUIRED,
                &format!("{rp}/sku"),
                format!("the SKU is not a literal; these features need Premium: {list}"),
                "make sure the SKU resolves to Premium".into(),
            ),
        }
    }
    // Parameters and variables the rewrite changed that other resources read as well.
    let moved = old_home.as_deref().is_some_and(|o| o != target);
    let renamed = name_set && old_name.as_deref() != Some(opts.name.as_str());
    for (references, what) in [
        (chain_references(&location_steps), "region"),
        (name_references, "name"),
    ] {
        let changed = if what == "region" { moved } else { renamed };
        for (reference, template) in references.iter().filter(|_| changed) {
            shared_setting(ctx, res, reg_i, &children, reference, template, what);
        }
    }
    if let Some(old) = &old_name {
        literal_ids(ctx, root, res, reg, old, &name_expr_for_children);
    }
    let target = roles::Target {
        template: Some(reg.template),
        name_expr: name_expr_for_children,
        name_literal: format!("'{}'", opts.name),
        old: old_name.clone(),
        name_ref: name_node.and_then(Node::as_str).and_then(name_reference),
        symbol: reg.slot.symbol.clone(),
        only_one: registry_count == 1,
    };
    roles::role_assignments(ctx, res, &target, &children);
    old_name
}

/// Every nested deployment around the registry (innermost first) that pins a literal
/// `resourceGroup` or `subscriptionId`: deployed as is, the new registry lands there.
fn nested_deployment_scope(ctx: &mut Ctx<'_>, res: &[Resource<'_>], reg: &Resource<'_>) {
    let mut around = reg.holder;
    while let Some(dep) = around {
        let Some(d) = res.iter().find(|r| std::ptr::eq(r.node, dep)) else {
            break;
        };
        let name = d.node.get_str("name").unwrap_or("?");
        for (key, what, fix) in [
            (
                "resourceGroup",
                "resource group",
                "point it at the target resource group, e.g. \"[resourceGroup().name]\" or a parameter, or remove it to deploy into the resource group of the deployment",
            ),
            (
                "subscriptionId",
                "subscription",
                "point it at the target subscription, e.g. \"[subscription().subscriptionId]\" or a parameter, or remove it to deploy into the subscription of the deployment",
            ),
        ] {
            let Some(m) = d.node.member(key) else {
                continue;
            };
            let Some(v) = m.value.as_str().filter(|v| !is_expression(v)) else {
                continue;
            };
            ctx.find(
                Severity::Warning,
                rules::NESTED_DEPLOYMENT_SCOPE,
                &format!("{}/{}", d.path, pointer_key(&m.key)),
                format!("the nested deployment {name} holding the registry pins {key} {v}: the new registry would be created in that {what} (the source's)"),
                fix.into(),
            );
        }
        around = d.holder;
    }
}

/// Docker Content Trust (`policies.trustPolicy`) enabled: ACR deprecated it, and since 2026-05-31
/// it cannot be enabled on a registry that never had it, so a new registry cannot get it. The
/// status is written `disabled` (a literal, also where it read a parameter or variable), and the
/// finding points to Notary Project signatures, which are OCI artifacts and are copied.
fn trust_policy_disabled(ctx: &mut Ctx<'_>, status: &Node, path: &str) {
    let read = status
        .as_str()
        .filter(|s| is_expression(s))
        .map(|s| format!(" (its status read {s}, which is no longer read there)"))
        .unwrap_or_default();
    let set = ctx.tpl.set_string(status, "disabled");
    let (severity, done) = if set {
        (
            Severity::Warning,
            format!("trustPolicy.status is now disabled{read}"),
        )
    } else {
        (
            Severity::Blocking,
            "trustPolicy.status could not be rewritten: set it to disabled".to_string(),
        )
    };
    ctx.find(
        severity,
        rules::TRUST_POLICY_ENABLED,
        path,
        format!("content trust (Docker Content Trust) is enabled, which a new registry cannot have: Azure Container Registry deprecated it, and since 2026-05-31 it cannot be enabled on a registry that never had it (it is removed on 2028-03-31); {done}. Its Notary v1 signatures are not OCI artifacts and are not copied"),
        "sign with Notation instead (Notary Project signatures are OCI artifacts stored beside the image, which acr-relocate copies with it): images signed only with Docker Content Trust must be signed again with Notation, and clients that set DOCKER_CONTENT_TRUST=1 must verify with Notation instead (https://aka.ms/acr/dctdeprecation)".into(),
    );
}
