//! A container registry resource: read it, list its child resources, delete it.

use reqwest::Method;
use serde_json::Value;

use crate::api;
use crate::arm::ArmClient;
use crate::error::{AzureError, Result};
use crate::resource_id::ResourceId;

/// The child resource collections of a registry that a relocation recreates.
pub const CHILD_COLLECTIONS: [&str; 4] = ["replications", "webhooks", "scopeMaps", "tokens"];

/// A registry as ARM describes it (`GET registries/{name}`).
pub async fn get(arm: &ArmClient, id: &ResourceId) -> Result<Value> {
    let url = arm.url(&id.to_string(), api::CONTAINER_REGISTRY, &[]);
    arm.get_optional(url, &format!("GET registry {}", id.name))
        .await?
        .ok_or_else(|| AzureError::Arm {
            operation: format!("GET registry {}", id.name),
            status: 404,
            code: "ResourceNotFound".into(),
            message: format!("no registry {id}: check the subscription, resource group and name"),
        })
}

/// The login server (`myregistry.azurecr.io`) of a registry read with [`get`].
pub fn login_server(registry: &Value) -> Option<&str> {
    registry["properties"]["loginServer"].as_str()
}

/// The members of one child collection (`replications`, ...), as ARM lists them (all pages; an
/// error rather than a partial list past [`crate::arm::MAX_LIST_PAGES`] pages).
pub async fn children(arm: &ArmClient, id: &ResourceId, collection: &str) -> Result<Vec<Value>> {
    let operation = format!("list {collection} of {}", id.name);
    let url = arm.url(&format!("{id}/{collection}"), api::CONTAINER_REGISTRY, &[]);
    arm.list(url, &operation).await
}

/// Deletes the registry resource and waits until ARM says it is gone.
pub async fn delete(arm: &ArmClient, id: &ResourceId) -> Result<()> {
    let operation = format!("DELETE registry {}", id.name);
    let url = arm.url(&id.to_string(), api::CONTAINER_REGISTRY, &[]);
    let first = arm.call(Method::DELETE, url, None, &operation).await?;
    arm.complete(first, None, &operation).await?;
    Ok(())
}
