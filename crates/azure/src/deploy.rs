//! `azure deploy`: create the resource group when it is missing, validate the template (ARM's
//! `validate` action), deploy it in Incremental mode and follow the deployment to its end. When it
//! fails, the failing operation's own error is reported, not only "deployment failed".
//!
//! A `secureString`/`secureObject` parameter's `defaultValue` (the webhook callbacks `azure
//! export` reads) never reaches ARM inside the template: ARM keeps a deployment's template, and
//! Microsoft warns that a secure parameter's default "is discoverable by anyone who can access the
//! template or the deployment history" (Bicep linter rule `secure-parameter-default`). Before
//! validate and deploy, each such default is moved into the deployment's `properties.parameters`
//! (a value the parameters file gives wins) and removed from the template sent, whose parameter
//! values ARM does not return. The files on disk are not changed.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::api;
use crate::arm::ArmClient;
use crate::error::{AzureError, Result};
use crate::resource_id::resource_group_path;

/// What to deploy where.
#[derive(Debug, Clone)]
pub struct Deployment {
    /// Subscription ID.
    pub subscription: String,
    /// Resource group (created in `location` when missing).
    pub resource_group: String,
    /// Region of a new resource group.
    pub location: String,
    /// Deployment name.
    pub name: String,
    /// The ARM template.
    pub template: Value,
    /// Parameter values (`{"name": {"value": ...}}`).
    pub parameters: Value,
}

/// How a deployment went.
#[derive(Debug)]
pub struct Deployed {
    /// True when the resource group was created by this run.
    pub created_resource_group: bool,
    /// The deployment's final provisioning state.
    pub provisioning_state: String,
    /// Its outputs.
    pub outputs: Value,
}

/// Reads a template file and an optional ARM parameters file: the template and the parameter
/// values, or a one-line error naming the file and what is wrong with it.
pub fn read_inputs(
    template: &std::path::Path,
    parameters: Option<&std::path::Path>,
) -> Result<(Value, Value)> {
    let read = |path: &std::path::Path, what: &str| -> Result<Value> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            AzureError::Invalid(format!("{what} {}: cannot read it: {e}", path.display()))
        })?;
        serde_json::from_str(&text)
            .map_err(|e| AzureError::Invalid(format!("{what} {}: not JSON: {e}", path.display())))
    };
    let document = read(template, "template")?;
    if !document.is_object() || document.get("resources").is_none() {
        return Err(AzureError::Invalid(format!(
            "template {}: not an ARM template (no \"resources\"); give the file `acr-relocate template` wrote",
            template.display()
        )));
    }
    let values = match parameters {
        Some(p) => parameters_from(&read(p, "parameters file")?)?,
        None => Value::Object(Default::default()),
    };
    Ok((document, values))
}

/// Parameter values from an ARM parameters file (`{"parameters": {...}}`) or a plain object.
pub fn parameters_from(document: &Value) -> Result<Value> {
    let parameters = match document.get("parameters") {
        Some(p)
            if document.get("$schema").is_some() || document.get("contentVersion").is_some() =>
        {
            p
        }
        _ => document,
    };
    if !parameters.is_object() {
        return Err(AzureError::Invalid(
            "the parameters file must hold a JSON object (an ARM parameters file or {\"name\": {\"value\": ...}})".into(),
        ));
    }
    Ok(parameters.clone())
}

/// The template and parameter values to send for `template` and `parameters`: every
/// `secureString`/`secureObject` parameter's literal `defaultValue` is taken out of the template
/// and given as the parameter's value, unless `parameters` already gives one (a `value` or a Key
/// Vault `reference`: it wins). A default that is an expression (`[...]`) is not a secret written
/// out and stays, since a parameter value would not be evaluated. Returns the two, and the names
/// of the parameters whose default was moved.
pub fn secure_defaults_as_parameters(
    template: &Value,
    parameters: &Value,
) -> (Value, Value, Vec<String>) {
    let mut template = template.clone();
    let mut parameters = match parameters {
        Value::Object(_) => parameters.clone(),
        _ => Value::Object(Default::default()),
    };
    let mut moved = Vec::new();
    let Some(declared) = template
        .get_mut("parameters")
        .and_then(Value::as_object_mut)
    else {
        return (template, parameters, moved);
    };
    for (name, declaration) in declared.iter_mut() {
        let secure = declaration["type"].as_str().is_some_and(|t| {
            t.eq_ignore_ascii_case("securestring") || t.eq_ignore_ascii_case("secureobject")
        });
        let Some(fields) = declaration.as_object_mut().filter(|_| secure) else {
            continue;
        };
        if fields
            .get("defaultValue")
            .and_then(Value::as_str)
            .is_some_and(is_expression)
        {
            continue;
        }
        let Some(default) = fields.remove("defaultValue") else {
            continue;
        };
        moved.push(name.clone());
        // ARM matches parameter names without regard to case.
        let given = parameters
            .as_object()
            .into_iter()
            .flatten()
            .any(|(k, v)| k.eq_ignore_ascii_case(name) && v.is_object());
        if !given {
            parameters[name.as_str()] = json!({ "value": default });
        }
    }
    (template, parameters, moved)
}

/// True for an ARM template expression (`[concat(...)]`); `[[` starts a literal `[`.
fn is_expression(text: &str) -> bool {
    let text = text.trim();
    text.starts_with('[') && !text.starts_with("[[") && text.ends_with(']')
}

/// Deploys and waits; `progress` hears each step.
pub async fn deploy(
    arm: &ArmClient,
    deployment: &Deployment,
    progress: impl Fn(&str),
) -> Result<Deployed> {
    crate::resource_id::check_name("subscription", &deployment.subscription)?;
    crate::resource_id::check_name("resource group", &deployment.resource_group)?;
    crate::resource_id::check_name("deployment name", &deployment.name)?;
    let group = resource_group_path(&deployment.subscription, &deployment.resource_group);
    let group_url = arm.url(&group, api::RESOURCES, &[]);
    let exists = arm
        .send(
            Method::HEAD,
            group_url.clone(),
            None,
            "resource group check",
        )
        .await?;
    let created_resource_group = match exists.status {
        StatusCode::NOT_FOUND => {
            progress(&format!(
                "creating resource group {} in {}",
                deployment.resource_group, deployment.location
            ));
            arm.call(
                Method::PUT,
                group_url,
                Some(&json!({ "location": deployment.location })),
                &format!("create resource group {}", deployment.resource_group),
            )
            .await?;
            true
        }
        s if s.is_success() => false,
        _ => return Err(crate::arm::error_of(&exists, "resource group check")),
    };

    let base = format!(
        "{group}/providers/Microsoft.Resources/deployments/{}",
        deployment.name
    );
    let (template, parameters, moved) =
        secure_defaults_as_parameters(&deployment.template, &deployment.parameters);
    if !moved.is_empty() {
        acr_relocate::log::emit(1, || {
            format!(
                "deploy: the defaults of secure parameter{} {} are sent as deployment parameters, not in the template (ARM keeps templates in the deployment history)",
                if moved.len() == 1 { "" } else { "s" },
                moved.join(", ")
            )
        });
    }
    let body = json!({
        "properties": {
            "mode": "Incremental",
            "template": template,
            "parameters": parameters,
        }
    });

    progress("validating the template");
    let validate = "template validation";
    let url = arm.url(&format!("{base}/validate"), api::RESOURCES, &[]);
    let first = arm.send(Method::POST, url, Some(&body), validate).await?;
    if !first.status.is_success() {
        return Err(crate::arm::error_of(&first, validate));
    }
    let result = arm.complete(first, None, validate).await?;
    if result["error"].is_object() {
        return Err(AzureError::Arm {
            operation: validate.into(),
            status: 400,
            code: result["error"]["code"]
                .as_str()
                .unwrap_or("InvalidTemplate")
                .into(),
            message: result["error"]["message"].as_str().unwrap_or("").into(),
        });
    }

    progress(&format!("deploying {}", deployment.name));
    let operation = format!("deployment {}", deployment.name);
    let url = arm.url(&base, api::RESOURCES, &[]);
    let first = arm
        .call(Method::PUT, url.clone(), Some(&body), &operation)
        .await?;
    let outcome = arm.complete(first, Some(&url), &operation).await;
    let state = match &outcome {
        Ok(v) => v["properties"]["provisioningState"]
            .as_str()
            .unwrap_or("Succeeded")
            .to_string(),
        Err(AzureError::OperationFailed { status, .. }) => status.clone(),
        Err(_) => String::new(),
    };
    if matches!(state.as_str(), "Failed" | "Canceled") {
        if let Some(cause) = failing_operation(arm, deployment, &group).await {
            return Err(cause);
        }
    }
    let value = outcome?;
    if state != "Succeeded" {
        return Err(AzureError::OperationFailed {
            operation,
            status: state,
            code: value["properties"]["error"]["code"]
                .as_str()
                .unwrap_or("DeploymentFailed")
                .into(),
            message: value["properties"]["error"]["message"]
                .as_str()
                .unwrap_or("no message")
                .into(),
        });
    }
    Ok(Deployed {
        created_resource_group,
        provisioning_state: state,
        outputs: value["properties"]["outputs"].clone(),
    })
}

/// The first failed operation of a deployment, as an error naming its resource, code and message.
async fn failing_operation(
    arm: &ArmClient,
    deployment: &Deployment,
    group: &str,
) -> Option<AzureError> {
    let operation = format!("deployment {}", deployment.name);
    let url = arm.url(
        &format!("{group}/deployments/{}/operations", deployment.name),
        api::RESOURCES,
        &[],
    );
    let list = arm.get(url, "list deployment operations").await.ok()?;
    list["value"].as_array()?.iter().find_map(|op| {
        let p = &op["properties"];
        if p["provisioningState"].as_str() != Some("Failed") {
            return None;
        }
        let error = &p["statusMessage"]["error"];
        let resource = p["targetResource"]["resourceName"]
            .as_str()
            .unwrap_or("a resource");
        Some(AzureError::OperationFailed {
            operation: format!("{operation} ({resource})"),
            status: "Failed".into(),
            code: error["code"].as_str().unwrap_or("DeploymentFailed").into(),
            message: error["message"]
                .as_str()
                .or_else(|| p["statusMessage"].as_str())
                .unwrap_or("no message")
                .into(),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The webhook secrets `azure export` writes as secure parameter defaults leave the template
    /// and travel as parameter values; a value of the parameters file wins, an expression default
    /// and an ordinary parameter's default stay where they are.
    #[test]
    fn secure_defaults_move_from_the_template_to_the_parameters() {
        let template = json!({
            "parameters": {
                "registries_old_name": {"type": "String", "defaultValue": "old"},
                "webhooks_hook_serviceUri": {"type": "secureString", "defaultValue": "https://h.example/x?code=s3cret"},
                "webhooks_hook_customHeaders": {"type": "SecureObject", "defaultValue": {"Authorization": "Bearer t0ken"}, "metadata": {"description": "d"}},
                "webhooks_given_serviceUri": {"type": "securestring", "defaultValue": "https://g.example/?code=old"},
                "derived": {"type": "secureString", "defaultValue": "[parameters('registries_old_name')]"},
                "no_default": {"type": "secureString"}
            },
            "resources": []
        });
        let parameters =
            json!({"WEBHOOKS_GIVEN_SERVICEURI": {"value": "https://g.example/?code=new"}});
        let (sent, values, moved) = secure_defaults_as_parameters(&template, &parameters);
        let p = &sent["parameters"];
        for name in [
            "webhooks_hook_serviceUri",
            "webhooks_hook_customHeaders",
            "webhooks_given_serviceUri",
        ] {
            assert!(p[name].get("defaultValue").is_none(), "{name}: {p}");
            assert!(p[name]["type"].is_string());
        }
        assert_eq!(
            p["webhooks_hook_customHeaders"]["metadata"]["description"],
            "d"
        );
        assert_eq!(p["registries_old_name"]["defaultValue"], "old");
        assert_eq!(
            p["derived"]["defaultValue"],
            "[parameters('registries_old_name')]"
        );
        let text = sent.to_string();
        assert!(
            !text.contains("s3cret") && !text.contains("t0ken"),
            "{text}"
        );
        assert_eq!(
            values,
            json!({
                "WEBHOOKS_GIVEN_SERVICEURI": {"value": "https://g.example/?code=new"},
                "webhooks_hook_serviceUri": {"value": "https://h.example/x?code=s3cret"},
                "webhooks_hook_customHeaders": {"value": {"Authorization": "Bearer t0ken"}}
            })
        );
        assert_eq!(moved.len(), 3, "{moved:?}");
        // The inputs are not changed.
        assert_eq!(
            template["parameters"]["webhooks_hook_serviceUri"]["defaultValue"],
            "https://h.example/x?code=s3cret"
        );
        // A template without parameters goes as it is.
        let bare = json!({"resources": []});
        let (sent, values, moved) = secure_defaults_as_parameters(&bare, &json!({}));
        assert_eq!((sent, values, moved.len()), (bare, json!({}), 0));
    }
}
