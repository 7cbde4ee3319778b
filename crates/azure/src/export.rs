//! `azure export`: the registry and its child resources as an ARM template, through the resource
//! group's `exportTemplate` action (a long-running operation when ARM needs time).

use reqwest::Method;
use serde_json::{json, Value};

use crate::api;
use crate::arm::ArmClient;
use crate::error::{AzureError, Result};
use crate::registry;
use crate::resource_id::ResourceId;

/// An exported template and what went into it.
#[derive(Debug)]
pub struct Export {
    /// The ARM template, as ARM wrote it.
    pub template: Value,
    /// The resource IDs asked for: the registry, then its children.
    pub resources: Vec<String>,
    /// What ARM could not export (its `error.details`), one line each.
    pub warnings: Vec<String>,
}

/// Exports `id` and its replications, webhooks, scope maps and tokens (system-defined scope maps
/// are left out: Azure creates them with every registry). Each webhook's callback (its
/// `serviceUri` and `customHeaders`, which exportTemplate never returns) is read with
/// `getCallbackConfig` and put in the template as `secureString`/`secureObject` parameters whose
/// defaults hold them: secrets, never logged nor put in a warning. What the registry holds and
/// this does not export ([`registry::NOT_EXPORTED`]) is named in an `export-incomplete` warning.
pub async fn export(arm: &ArmClient, id: &ResourceId) -> Result<Export> {
    registry::get(arm, id).await?;
    let mut resources = vec![id.to_string()];
    let mut webhooks = Vec::new();
    for collection in registry::CHILD_COLLECTIONS {
        for child in registry::children(arm, id, collection).await? {
            if child["properties"]["type"].as_str() == Some("SystemDefined") {
                continue;
            }
            if let Some(child_id) = child["id"].as_str() {
                resources.push(child_id.to_string());
                if collection == "webhooks" {
                    webhooks.push(child_id.to_string());
                }
            }
        }
    }
    let mut callbacks = Vec::new();
    let mut unread = Vec::new();
    for webhook in &webhooks {
        let name = webhook.rsplit('/').next().unwrap_or_default().to_string();
        let operation = format!("read the callback of webhook {name} of {}", id.name);
        let url = arm.url(
            &format!("{webhook}/getCallbackConfig"),
            api::CONTAINER_REGISTRY,
            &[],
        );
        // A role that may export but not read callbacks (without
        // `webhooks/getCallbackConfig/action`) still gets its export: that webhook is then as
        // exportTemplate gives it, without its URI, and said.
        let read = match arm.call(Method::POST, url, None, &operation).await {
            Ok(answer) => answer.json(&operation),
            Err(e) => Err(e),
        };
        match read {
            Ok(config) => callbacks.push((name, config)),
            Err(e) => unread.push(format!(
                "export-incomplete: the callback of webhook {name} could not be read ({e}): the template has no serviceUri for it, so `template` finds it blocking; give the identity `Microsoft.ContainerRegistry/registries/webhooks/getCallbackConfig/action` and export again, or set the URI in the parameters"
            )),
        }
    }
    let not_exported = not_exported(arm, id).await;
    let operation = format!("export template of {}", id.name);
    let url = arm.url(
        &format!("{}/exportTemplate", id.resource_group_path()),
        api::RESOURCES,
        &[],
    );
    let body = json!({ "resources": resources, "options": "IncludeParameterDefaultValue" });
    let first = arm.call(Method::POST, url, Some(&body), &operation).await?;
    let result = arm.complete(first, None, &operation).await?;
    let mut template = result
        .get("template")
        .cloned()
        .filter(Value::is_object)
        .ok_or_else(|| AzureError::Protocol {
            operation: operation.clone(),
            message: "the answer holds no template".into(),
        })?;
    let mut warnings = Vec::new();
    if let Some(error) = result.get("error").filter(|e| e.is_object()) {
        let details = error["details"].as_array().cloned().unwrap_or_default();
        if details.is_empty() {
            warnings.push(format!(
                "{}: {}",
                error["code"].as_str().unwrap_or("Warning"),
                error["message"].as_str().unwrap_or("")
            ));
        }
        for d in details {
            warnings.push(format!(
                "{}: {}",
                d["code"].as_str().unwrap_or("Warning"),
                d["message"].as_str().unwrap_or("")
            ));
        }
    }
    let given = with_callbacks(&mut template, &callbacks);
    if given > 0 {
        warnings.push(format!(
            "the template holds the callback URI and headers of {given} webhook{} as secureString/secureObject parameter defaults (secrets, never printed): the file is readable by this user only (0600); keep it so, and delete it once the new registry is deployed",
            if given == 1 { "" } else { "s" }
        ));
    }
    warnings.extend(unread);
    warnings.extend(not_exported);
    Ok(Export {
        template,
        resources,
        warnings,
    })
}

/// Puts each webhook's callback (`callbacks`: its name and the `getCallbackConfig` answer) into
/// the webhook resource of `template` as parameters `webhooks_NAME_serviceUri` (secureString)
/// and `webhooks_NAME_customHeaders` (secureObject, when it has headers), with the values as
/// defaults. Returns how many webhooks were given their callback.
fn with_callbacks(template: &mut Value, callbacks: &[(String, Value)]) -> usize {
    let mut given = 0;
    for (name, config) in callbacks {
        let Some(uri) = config["serviceUri"].as_str().filter(|u| !u.is_empty()) else {
            continue;
        };
        let headers = config["customHeaders"]
            .as_object()
            .filter(|h| !h.is_empty())
            .cloned();
        let Some(resource) = template["resources"]
            .as_array_mut()
            .into_iter()
            .flatten()
            .find(|r| is_webhook_named(r, name))
        else {
            continue;
        };
        let stem = format!(
            "webhooks_{}",
            name.chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                .collect::<String>()
        );
        let uri_parameter = format!("{stem}_serviceUri");
        let properties = &mut resource["properties"];
        if !properties.is_object() {
            *properties = json!({});
        }
        properties["serviceUri"] = json!(format!("[parameters('{uri_parameter}')]"));
        let mut parameters = vec![(
            uri_parameter,
            json!({
                "type": "secureString",
                "defaultValue": uri,
                "metadata": {"description": format!("The callback URI of webhook {name} (read from the source with getCallbackConfig; a secret)")}
            }),
        )];
        if let Some(headers) = headers {
            let headers_parameter = format!("{stem}_customHeaders");
            properties["customHeaders"] = json!(format!("[parameters('{headers_parameter}')]"));
            parameters.push((
                headers_parameter,
                json!({
                    "type": "secureObject",
                    "defaultValue": headers,
                    "metadata": {"description": format!("The custom headers of webhook {name} (read from the source with getCallbackConfig; secrets)")}
                }),
            ));
        }
        if !template["parameters"].is_object() {
            template["parameters"] = json!({});
        }
        for (key, declaration) in parameters {
            template["parameters"][key] = declaration;
        }
        given += 1;
    }
    given
}

/// True when `resource` is the webhook `name`: a `registries/webhooks` resource whose name (a
/// literal `REGISTRY/NAME` or an expression such as `[concat(parameters('…'), '/NAME')]`) ends
/// with it.
fn is_webhook_named(resource: &Value, name: &str) -> bool {
    let is_webhook = resource["type"]
        .as_str()
        .is_some_and(|t| t.eq_ignore_ascii_case("Microsoft.ContainerRegistry/registries/webhooks"));
    let Some(full) = resource["name"].as_str() else {
        return false;
    };
    let last = full
        .trim_end_matches([']', ')', '\''])
        .rsplit('/')
        .next()
        .unwrap_or_default();
    is_webhook && last.eq_ignore_ascii_case(name)
}

/// The `export-incomplete` warnings: each member of [`registry::NOT_EXPORTED`] the registry
/// holds, named with what to do, and each collection that could not be listed.
async fn not_exported(arm: &ArmClient, id: &ResourceId) -> Vec<String> {
    let mut warnings = Vec::new();
    for kind in &registry::NOT_EXPORTED {
        let operation = format!("list the {}s of {}", kind.what, id.name);
        let url = arm.url(&format!("{id}/{}", kind.path), kind.api_version, &[]);
        match arm.list(url, &operation).await {
            Ok(members) => {
                for member in members {
                    let name = member["name"].as_str().unwrap_or("(no name)");
                    warnings.push(format!(
                        "export-incomplete: {} {name} of {} is not exported: {}",
                        kind.what, id.name, kind.fix
                    ));
                }
            }
            Err(e) => warnings.push(format!(
                "export-incomplete: the {}s of {} could not be listed ({e}): check them by hand (`{}` under the registry) and {}",
                kind.what, id.name, kind.path, kind.fix
            )),
        }
    }
    warnings
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_webhooks_callback_becomes_secure_parameters_of_its_resource() {
        let mut template = json!({
            "parameters": {"registries_old_name": {"type": "String", "defaultValue": "old"}},
            "resources": [
                {"type": "Microsoft.ContainerRegistry/registries", "name": "[parameters('registries_old_name')]"},
                {"type": "Microsoft.ContainerRegistry/registries/webhooks", "name": "[concat(parameters('registries_old_name'), '/hook-1')]", "properties": {"actions": ["push"]}},
                {"type": "Microsoft.ContainerRegistry/registries/webhooks", "name": "old/plain", "properties": {}}
            ]
        });
        let callbacks = vec![
            (
                "hook-1".to_string(),
                json!({"serviceUri": "https://h.example/x?code=s3cret", "customHeaders": {"Authorization": "Bearer t0ken"}}),
            ),
            (
                "plain".to_string(),
                json!({"serviceUri": "https://p.example/"}),
            ),
            (
                "gone".to_string(),
                json!({"serviceUri": "https://g.example/"}),
            ),
        ];
        assert_eq!(with_callbacks(&mut template, &callbacks), 2);
        let hook = &template["resources"][1]["properties"];
        assert_eq!(
            hook["serviceUri"],
            "[parameters('webhooks_hook_1_serviceUri')]"
        );
        assert_eq!(
            hook["customHeaders"],
            "[parameters('webhooks_hook_1_customHeaders')]"
        );
        assert_eq!(hook["actions"][0], "push");
        let p = &template["parameters"];
        assert_eq!(p["webhooks_hook_1_serviceUri"]["type"], "secureString");
        assert_eq!(
            p["webhooks_hook_1_serviceUri"]["defaultValue"],
            "https://h.example/x?code=s3cret"
        );
        assert_eq!(p["webhooks_hook_1_customHeaders"]["type"], "secureObject");
        assert_eq!(
            template["resources"][2]["properties"]["serviceUri"],
            "[parameters('webhooks_plain_serviceUri')]"
        );
        assert!(p.get("webhooks_plain_customHeaders").is_none());
    }
}
