//! `azure deploy`: create the resource group when it is missing, validate the template (ARM's
//! `validate` action), deploy it in Incremental mode and follow the deployment to its end. When it
//! fails, the failing operation's own error is reported, not only "deployment failed".

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
    let body = json!({
        "properties": {
            "mode": "Incremental",
            "template": deployment.template,
            "parameters": deployment.parameters,
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
