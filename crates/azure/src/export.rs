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
/// are left out: Azure creates them with every registry).
pub async fn export(arm: &ArmClient, id: &ResourceId) -> Result<Export> {
    registry::get(arm, id).await?;
    let mut resources = vec![id.to_string()];
    for collection in registry::CHILD_COLLECTIONS {
        for child in registry::children(arm, id, collection).await? {
            if child["properties"]["type"].as_str() == Some("SystemDefined") {
                continue;
            }
            if let Some(child_id) = child["id"].as_str() {
                resources.push(child_id.to_string());
            }
        }
    }
    let operation = format!("export template of {}", id.name);
    let url = arm.url(
        &format!("{}/exportTemplate", id.resource_group_path()),
        api::RESOURCES,
        &[],
    );
    let body = json!({ "resources": resources, "options": "IncludeParameterDefaultValue" });
    let first = arm.call(Method::POST, url, Some(&body), &operation).await?;
    let result = arm.complete(first, None, &operation).await?;
    let template = result
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
    Ok(Export {
        template,
        resources,
        warnings,
    })
}
