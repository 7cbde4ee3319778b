//! Customer-managed key encryption ([`encryption`]): a literal key URI and user-assigned identity
//! of the source become parameters (`encryptionKeyUri`, `encryptionIdentityId`,
//! `encryptionIdentityClientId`) with `--key-uri` / `--identity` as their values, else the
//! source's as defaults (reported); a key or identity given by a parameter or variable gets the
//! option's value where it is defined.

use serde_json::json;

use super::definitions::{definable, definition, set_definition};
use super::{json_str, str_ci_eq, Ctx};
use crate::edit;
use crate::findings::Severity;
use crate::jsonc::Node;
use crate::model::{expression_body, is_expression, single_call, Env, Resource, Source, Step};
use crate::rules;

/// The registry's one user-assigned identity is the key `m`, a parameter or variable followed by
/// `steps` (an export writes it `[parameters('userAssignedIdentities_<name>_externalid')]`, with
/// the source's identity as default): `--identity` becomes its value, and the key's
/// `keyVaultProperties.identity` reads that identity's client id instead of the source's. Without
/// `--identity`, the source's identity is reported.
fn identity_held(
    ctx: &mut Ctx<'_>,
    rp: &str,
    m: &crate::jsonc::Member,
    steps: &[Step<'_>],
    kvp: Option<&Node>,
) {
    let client_id = format!(
        "[reference({}, '2023-01-31').clientId]",
        expression_body(&m.key)
    );
    let was = match kvp.filter(|k| k.members().is_some()) {
        Some(kvp) => match kvp.member("identity") {
            Some(c) if c.value.as_str().is_some_and(|s| !is_expression(s)) => {
                ctx.tpl.set_string(&c.value, &client_id);
                format!(" (it was {})", c.value.as_str().unwrap_or_default())
            }
            Some(_) => String::new(),
            None => {
                ctx.tpl.insert_member(kvp, "identity", &json!(client_id));
                String::new()
            }
        },
        None => String::new(),
    };
    let path = format!("{rp}/identity/userAssignedIdentities");
    let def = definition(steps);
    let what = match &def.source {
        Source::Parameter { name, .. } => format!("parameter {name}"),
        Source::Variable { name, .. } => format!("variable {name}"),
        _ => m.key.clone(),
    };
    match ctx.opts.identity.clone() {
        Some(id) => {
            let Some(d) = set_definition(ctx, steps, &id) else {
                return;
            };
            let source = d.old.map(|o| format!(" (it was {o})")).unwrap_or_default();
            ctx.find(
                Severity::Info,
                rules::CMK_IDENTITY_SET,
                &d.path,
                format!("the registry's user-assigned identity is {what}: it is now --identity {id}{source}, and encryption.keyVaultProperties.identity reads its client id{was}"),
                "nothing to do if that identity has get, wrapKey and unwrapKey on the key (Key Vault Crypto Service Encryption User) before the deployment (a value given at deployment still wins)".into(),
            );
        }
        None => {
            let Some(old) = def.source.literal() else {
                return;
            };
            ctx.find(
                Severity::Warning,
                rules::CMK_KEY_FROM_SOURCE,
                &path,
                format!("the identity {old} ({what}) is the source registry's; encryption.keyVaultProperties.identity now reads its client id{was}"),
                "give the user-assigned identity to use with --identity (resource id)".into(),
            );
        }
    }
}

/// `--identity` that the registry's identity block leaves no place for (several or no literal
/// user-assigned identities, an expression, a system-assigned identity only).
fn identity_ignored(ctx: &mut Ctx<'_>, rp: &str, id: &str) {
    ctx.find(
        Severity::Warning,
        rules::OPTION_IGNORED,
        &format!("{rp}/identity"),
        format!("--identity {id} was not applied: the registry's identity is not one literal user-assigned identity to replace"),
        format!("add {id} to the registry's identity.userAssignedIdentities (type UserAssigned, or SystemAssigned, UserAssigned) and set encryption.keyVaultProperties.identity to [reference('{id}', '2023-01-31').clientId] by hand"),
    );
}

/// Customer-managed key: findings, and the key and identity as parameters (with `--key-uri` /
/// `--identity` as values). Returns whether the registry has one (or may: an expression).
pub(super) fn encryption(
    ctx: &mut Ctx<'_>,
    reg: &Resource<'_>,
    enc: Option<&Node>,
    premium: &mut Vec<&str>,
) -> bool {
    let rp = reg.path.clone();
    let Some(enc) = enc.filter(|e| e.members().is_some()) else {
        // An expression may hold a key: not known to be without one.
        return enc.is_some_and(|e| e.as_str().is_some());
    };
    let kvp = enc.get("keyVaultProperties");
    let key = kvp.and_then(|k| k.member("keyIdentifier"));
    let enabled = str_ci_eq(enc.get("status"), "enabled")
        || key.is_some_and(|k| k.value.as_str().is_some_and(|s| !s.is_empty()));
    if !enabled {
        return false;
    }
    premium.push("customer-managed keys");
    let epath = format!("{rp}/properties/encryption");
    ctx.find(
        Severity::Warning,
        rules::CMK_CREATION_ONLY,
        &epath,
        "customer-managed key encryption can only be enabled when the registry is created".into(),
        "deploy this template to create the registry (do not create it first without encryption); the identity must already have get, wrapKey and unwrapKey on the key".into(),
    );
    let opts = ctx.opts;
    let layout = ctx.tpl.layout.clone();
    let text = ctx.tpl.text;
    let mut new_params: Vec<(String, serde_json::Value)> = Vec::new();
    let existing_params: Vec<String> = reg
        .template
        .get("parameters")
        .and_then(Node::members)
        .map(|m| m.iter().map(|m| m.key.to_ascii_lowercase()).collect())
        .unwrap_or_default();
    let pname = |base: &str| {
        let mut n = base.to_string();
        let mut i = 2;
        while existing_params.contains(&n.to_ascii_lowercase()) {
            n = format!("{base}{i}");
            i += 1;
        }
        n
    };
    if let Some(k) = key {
        if let Some(v) = k.value.as_str().filter(|s| !is_expression(s)) {
            let p = pname("encryptionKeyUri");
            ctx.tpl
                .set_string(&k.value, &format!("[parameters('{p}')]"));
            new_params.push((p.clone(), json!({"type": "string", "defaultValue": opts.key_uri.clone().unwrap_or_else(|| v.to_string()), "metadata": {"description": "Key Vault key URI for the registry's customer-managed key"}})));
            if opts.key_uri.is_none() {
                ctx.find(
                    Severity::Warning,
                    rules::CMK_KEY_FROM_SOURCE,
                    &format!("{epath}/keyVaultProperties/{}", k.key),
                    format!("the key {v} is the source registry's; it is now parameter {p} with that default"),
                    "give the key to use in the target region with --key-uri (or set the parameter at deployment)".into(),
                );
            } else {
                ctx.key_uri_used = true;
            }
        } else if let Some(uri) = &opts.key_uri {
            // The key is a parameter or variable already: --key-uri becomes its value.
            let steps = ctx.scopes.chain(&k.value, Env::of(reg, ctx.params_obj));
            let set_at = set_definition(ctx, &steps, uri).map(|d| (d.path, d.what));
            if let Some((path, what)) = set_at {
                ctx.key_uri_used = true;
                ctx.find(
                    Severity::Info,
                    rules::KEY_URI_SET,
                    &path,
                    format!("the key is given by {what}; it now has the --key-uri value {uri}"),
                    "nothing to do (a value given at deployment still wins)".into(),
                );
            }
        }
    }
    // User-assigned identity given as a literal resource id.
    let ua = reg.node.at(&["identity", "userAssignedIdentities"]);
    let ua_members = ua.and_then(Node::members).unwrap_or(&[]);
    let literal_ids: Vec<&crate::jsonc::Member> = ua_members
        .iter()
        .filter(|m| !is_expression(&m.key))
        .collect();
    // The one identity written as a parameter or variable (an export's `<...>_externalid`),
    // followed to where its value is set.
    let env = Env::of(reg, ctx.params_obj);
    let held = match ua_members {
        [m] => ["parameters", "variables"]
            .iter()
            .find_map(|f| single_call(&m.key, f).and_then(|arg| env.lookup(f, arg)))
            .map(|src| (m, ctx.scopes.follow(src, env)))
            .filter(|(_, steps)| definable(steps)),
        _ => None,
    };
    // The one identity written as another expression (`resourceId(...)`): replaced by --identity.
    let computed = match ua_members {
        [m] if is_expression(&m.key) && held.is_none() && opts.identity.is_some() => Some(m),
        _ => None,
    };
    if let Some(m) = literal_ids
        .first()
        .filter(|_| literal_ids.len() == 1)
        .or(computed.as_ref())
    {
        let p = pname("encryptionIdentityId");
        ctx.tpl.edits.replace(
            m.key_span.clone(),
            json_str(&format!("[parameters('{p}')]")),
        );
        if let Some(id) = kvp.and_then(|k| k.get("identity")) {
            if id.as_str().is_some_and(|s| !is_expression(s)) {
                ctx.tpl.set_string(
                    id,
                    &format!("[reference(parameters('{p}'), '2023-01-31').clientId]"),
                );
            }
        }
        new_params.push((p.clone(), json!({"type": "string", "defaultValue": opts.identity.clone().unwrap_or_else(|| m.key.clone()), "metadata": {"description": "Resource id of the user-assigned identity that reads the customer-managed key"}})));
        match &opts.identity {
            None => ctx.find(
                Severity::Warning,
                rules::CMK_KEY_FROM_SOURCE,
                &format!("{rp}/identity/userAssignedIdentities"),
                format!("the identity {} is the source registry's; it is now parameter {p} with that default", m.key),
                "give the user-assigned identity to use with --identity (resource id)".into(),
            ),
            Some(id) if is_expression(&m.key) => ctx.find(
                Severity::Info,
                rules::CMK_IDENTITY_SET,
                &format!("{rp}/identity/userAssignedIdentities"),
                format!("the registry's user-assigned identity {} is now parameter {p}, --identity {id}, and encryption.keyVaultProperties.identity reads its client id", m.key),
                "nothing to do if that identity has get, wrapKey and unwrapKey on the key (Key Vault Crypto Service Encryption User) before the deployment".into(),
            ),
            Some(_) => {}
        }
    } else if let Some((m, steps)) = held {
        identity_held(ctx, &rp, m, &steps, kvp);
    } else if let (Some(id), None, Some(kvp)) = (
        opts.identity.as_ref(),
        reg.node.get("identity"),
        kvp.filter(|k| k.members().is_some()),
    ) {
        // No identity block: --identity becomes the registry's user-assigned identity and the
        // one that reads the key.
        let p = pname("encryptionIdentityId");
        let layout = ctx.tpl.layout.clone();
        edit::insert_member(
            &mut ctx.tpl.edits,
            text,
            &layout,
            reg.node,
            "identity",
            &json!({"type": "UserAssigned", "userAssignedIdentities": {format!("[parameters('{p}')]"): {}}}),
        );
        let client_id = format!("[reference(parameters('{p}'), '2023-01-31').clientId]");
        let was = match kvp.member("identity") {
            Some(m) => {
                let was = m.value.as_str().unwrap_or("").to_string();
                ctx.tpl.set_string(&m.value, &client_id);
                format!(" (it was {was})")
            }
            None => {
                ctx.tpl.insert_member(kvp, "identity", &json!(client_id));
                String::new()
            }
        };
        new_params.push((p.clone(), json!({"type": "string", "defaultValue": id, "metadata": {"description": "Resource id of the user-assigned identity that reads the customer-managed key"}})));
        ctx.find(
            Severity::Info,
            rules::CMK_IDENTITY_SET,
            &format!("{rp}/identity"),
            format!("the registry had no identity: --identity {id} is now its user-assigned identity (parameter {p}) and encryption.keyVaultProperties.identity its client id{was}"),
            "nothing to do if that identity has get, wrapKey and unwrapKey on the key (Key Vault Crypto Service Encryption User) before the deployment".into(),
        );
    } else if let Some(id) = kvp.and_then(|k| k.member("identity")).filter(|m| {
        m.value
            .as_str()
            .is_some_and(|s| !s.is_empty() && !is_expression(s))
    }) {
        // A literal client id with no literal identity to tie it to: still the source's.
        let v = id.value.as_str().unwrap_or_default().to_string();
        let p = pname("encryptionIdentityClientId");
        ctx.tpl
            .set_string(&id.value, &format!("[parameters('{p}')]"));
        new_params.push((p.clone(), json!({"type": "string", "defaultValue": v, "metadata": {"description": "Client id of the user-assigned identity that reads the customer-managed key"}})));
        ctx.find(
            Severity::Warning,
            rules::CMK_KEY_FROM_SOURCE,
            &format!("{epath}/keyVaultProperties/{}", id.key),
            format!("the identity client id {v} is the source registry's; it is now parameter {p} with that default"),
            "set the parameter to the client id of the user-assigned identity that reads the key in the target, and add that identity to the registry's identity.userAssignedIdentities".into(),
        );
        if let Some(given) = opts.identity.as_ref() {
            identity_ignored(ctx, &rp, given);
        }
    } else if let Some(id) = opts.identity.as_ref() {
        identity_ignored(ctx, &rp, id);
    }
    if new_params.is_empty() {
        return true;
    }
    match reg
        .template
        .get("parameters")
        .filter(|p| p.members().is_some())
    {
        Some(params) => {
            for (name, value) in new_params {
                edit::insert_member(&mut ctx.tpl.edits, text, &layout, params, &name, &value);
            }
        }
        None => {
            let obj: serde_json::Map<String, serde_json::Value> = new_params.into_iter().collect();
            edit::insert_member(
                &mut ctx.tpl.edits,
                text,
                &layout,
                reg.template,
                "parameters",
                &serde_json::Value::Object(obj),
            );
        }
    }
    true
}
