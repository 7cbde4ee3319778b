//! What a resource created anew lacks because an export cannot carry it: a webhook's `serviceUri`,
//! token passwords, a credential set's access to its Key Vault secrets, a connected registry's
//! connection ([`what_an_export_cannot_carry`]), a task's secrets (its content is rewritten for the
//! new login server, [`task_recreated`]), and the role assignments of a system-assigned identity
//! ([`system_identity`]).

use super::{is_guid, last_segment, Ctx};
use crate::findings::Severity;
use crate::jsonc::Node;
use crate::model::{is_expression, Resource};
use crate::rename;
use crate::rules;

/// Children whose export lacks what they need: webhooks without `serviceUri` (never returned by
/// ARM), tokens without passwords (collected in `tokens`: path, name), credential sets whose new
/// identity must read the Key Vault secrets, connected registries to reactivate.
pub(super) fn what_an_export_cannot_carry(
    ctx: &mut Ctx<'_>,
    c: &Resource<'_>,
    short: &str,
    tokens: &mut Vec<(String, String)>,
) {
    let cpath = &c.path;
    let child = c
        .node
        .get_str("name")
        .and_then(last_segment)
        .unwrap_or_else(|| "?".into());
    let props = c.node.get("properties");
    match short {
        "webhooks" => {
            let missing = match props {
                None => true,
                Some(p) => p.members().is_some() && p.get("serviceUri").is_none(),
            };
            if missing {
                ctx.find(
                    Severity::Blocking,
                    rules::WEBHOOK_SERVICE_URI,
                    &format!("{cpath}/properties"),
                    format!("webhook {child} has no serviceUri: an export never returns it (it may hold a secret), and a webhook cannot be created without it"),
                    "add properties.serviceUri, preferably from a secureString parameter (az acr webhook get-config shows the source's)".into(),
                );
            }
        }
        "tokens" => tokens.push((cpath.clone(), child)),
        "tasks" => ctx.tasks.push((c.path.clone(), child)),
        "credentialsets" => {
            let mut strings = Vec::new();
            if let Some(p) = props {
                p.walk_strings(&mut strings);
            }
            let secrets: Vec<&str> = strings
                .iter()
                .filter_map(|n| n.as_str())
                .filter(|s| s.to_ascii_lowercase().contains("/secrets/"))
                .collect();
            ctx.find(
                Severity::Warning,
                rules::CREDENTIAL_SET_ACCESS,
                cpath,
                format!(
                    "credential set {child} gets a new system-assigned identity in the new registry; it cannot read its Key Vault secrets{}",
                    if secrets.is_empty() {
                        String::new()
                    } else {
                        format!(" ({})", secrets.join(", "))
                    }
                ),
                "after the deployment, grant the credential set's identity (az acr credential-set show --query identity.principalId) the Key Vault Secrets User role or get permission on those secrets".into(),
            );
        }
        "connectedregistries" => ctx.find(
            Severity::Warning,
            rules::CONNECTED_REGISTRY_RESYNC,
            cpath,
            format!("connected registry {child} is created anew: its on-premises instance still talks to the source registry"),
            format!("after the deployment, generate a new connection string (az acr connected-registry get-settings --registry {} --name {child} --generate-password 1) and redeploy the on-premises instance with it; it re-syncs from the new registry", ctx.opts.name),
        ),
        _ => {}
    }
}

/// A system-assigned identity on `r` (`what`: "the registry", "task nightly"): the new resource
/// gets a new principal, and an export never holds the source principal's role assignments.
/// `show` is the command that prints the source's principal id (when the template does not), and
/// `principal` the expression of the new one.
pub(super) fn system_identity(
    ctx: &mut Ctx<'_>,
    r: &Resource<'_>,
    what: &str,
    show: &str,
    principal: &str,
) {
    let Some(kind) = r.node.at(&["identity", "type"]).and_then(Node::as_str) else {
        return;
    };
    if !kind.to_ascii_lowercase().contains("systemassigned") {
        return;
    }
    let source = r
        .node
        .at(&["identity", "principalId"])
        .and_then(Node::as_str)
        .filter(|p| is_guid(p))
        .map(str::to_string);
    let list = match &source {
        Some(p) => format!("az role assignment list --assignee {p} --all -o table"),
        None => format!("az role assignment list --assignee $({show}) --all -o table"),
    };
    ctx.find(
        Severity::Warning,
        rules::SYSTEM_IDENTITY_RECREATED,
        &format!("{}/identity", r.path),
        format!("{what} has a system-assigned identity: the new one is another principal with none of the source's role assignments (an export never holds them), so its access to key vaults, storage and other registries is lost"),
        format!("list the source's grants ({list}) and grant each role to the new principal after the deployment, or in this template with principalId {principal}"),
    );
}

/// The tasks met in the children pass, now that the regions the new registry serves are known.
pub(super) fn recreate_tasks(ctx: &mut Ctx<'_>, res: &[Resource<'_>]) {
    for (path, child) in std::mem::take(&mut ctx.tasks) {
        if let Some(c) = res.iter().find(|r| r.path == path) {
            task_recreated(ctx, c, &child);
        }
    }
}

/// A task is created anew: its system-assigned identity, the old login server in its content
/// (base64 `encodedTaskContent` / `encodedValuesContent` are decoded, and written back with the
/// new login server), and the credentials an export never carries (source-trigger tokens,
/// custom registry passwords).
fn task_recreated(ctx: &mut Ctx<'_>, c: &Resource<'_>, child: &str) {
    let api = c.api_version().to_string();
    let new = ctx.opts.name.clone();
    let old = ctx.old_name.clone();
    system_identity(
        ctx,
        c,
        &format!("task {child}"),
        &format!(
            "az acr task show --registry {} --name {child} --query identity.principalId -o tsv",
            old.as_deref().unwrap_or("<source>")
        ),
        &format!("[reference(resourceId('Microsoft.ContainerRegistry/registries/tasks', '{new}', '{child}'), '{api}', 'Full').identity.principalId]"),
    );
    let mut notes: Vec<String> = Vec::new();
    let props = c.node.get("properties");
    if let (Some(step), Some(old)) = (props.and_then(|p| p.get("step")), old.as_deref()) {
        let old_server = format!("{}.azurecr.io", old.to_ascii_lowercase());
        let new_server = format!("{}.azurecr.io", new.to_ascii_lowercase());
        for key in ["encodedTaskContent", "encodedValuesContent"] {
            let Some(node) = step.get(key) else { continue };
            let Some(text) = node.as_str().filter(|t| !is_expression(t)) else {
                continue;
            };
            let Some(decoded) = crate::base64::decode(text).and_then(|b| String::from_utf8(b).ok())
            else {
                continue;
            };
            // The registry's references as everywhere else: word-bounded (a registry
            // `prod<old>` is someone else's), data endpoints following the regions served.
            let renamed =
                rename::rename_refs_counted(&decoded, old, &new, false, ctx.data_regions.as_ref());
            if !renamed.kept_hosts.is_empty() {
                notes.push(format!(
                    "its base64 {key} names {}, a data endpoint of the source in a region the new registry does not serve, kept",
                    renamed.kept_hosts.join(", ")
                ));
            }
            let (Some(out), count) = (renamed.text, renamed.edits) else {
                continue;
            };
            if ctx
                .tpl
                .set_string(node, &crate::base64::encode(out.as_bytes()))
            {
                notes.push(format!(
                    "its base64 {key} named {old_server} (or a data endpoint of it) {count} time(s), now {new_server}"
                ));
            }
        }
    }
    let triggers = props
        .and_then(|p| p.at(&["trigger", "sourceTriggers"]))
        .and_then(Node::items)
        .is_some_and(|t| !t.is_empty());
    if triggers {
        notes.push("its source triggers need a repository token (sourceControlAuthProperties), which is never exported".into());
    }
    if props
        .and_then(|p| p.at(&["credentials", "customRegistries"]))
        .and_then(Node::members)
        .is_some_and(|m| !m.is_empty())
    {
        notes.push("its custom registry credentials hold secrets that are never exported".into());
    }
    let identity = c.node.get("identity").is_some();
    let fix = format!(
        "after the deployment, check the task's content for other references to the source (az acr task show --registry {new} --name {child}), {}{}run it once (az acr task run --registry {new} --name {child})",
        if triggers {
            format!("give the source trigger a token again (az acr task update --registry {new} --name {child} --git-access-token <token>), ")
        } else {
            String::new()
        },
        if identity {
            "grant its identity what it needs (see system-identity-recreated), "
        } else {
            ""
        },
    );
    let message = if notes.is_empty() {
        format!("task {child} is created anew in the new registry")
    } else {
        format!(
            "task {child} is created anew in the new registry: {}",
            notes.join("; ")
        )
    };
    ctx.find(
        Severity::Warning,
        rules::TASK_RECREATED,
        &c.path,
        message,
        fix,
    );
}
