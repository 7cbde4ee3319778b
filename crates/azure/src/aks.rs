//! `azure attach-aks`: what `az aks update --attach-acr` / `Set-AzAksCluster -AcrNameToAttach` do:
//! give the cluster's kubelet identity the `AcrPull` role on the registry. Idempotent: an existing
//! assignment is reported, not duplicated.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};

use crate::api;
use crate::arm::{error_of, ArmClient};
use crate::error::{AzureError, Result};
use crate::resource_id::ResourceId;

/// The built-in `AcrPull` role definition's ID.
pub const ACR_PULL_ROLE: &str = "7f951dda-4ed3-4680-a7ca-43fe172d538d";

/// What `attach` did.
#[derive(Debug, PartialEq, Eq)]
pub enum Attached {
    /// A new role assignment (its name).
    Created(String),
    /// The kubelet identity already had `AcrPull` on the registry (the assignment's name).
    AlreadyAssigned(String),
}

/// The kubelet identity's object ID from a managed cluster resource.
pub fn kubelet_object_id(cluster: &Value) -> Option<&str> {
    cluster["properties"]["identityProfile"]["kubeletidentity"]["objectId"].as_str()
}

/// A role assignment name (a GUID) derived from scope, principal and role, so that two runs
/// name the same assignment and ARM refuses the second as existing.
pub fn assignment_name(scope: &str, principal: &str, role: &str) -> String {
    let hash = Sha256::digest(format!("{}|{principal}|{role}", scope.to_ascii_lowercase()));
    let mut b: [u8; 16] = hash[..16].try_into().expect("16 bytes");
    b[6] = (b[6] & 0x0f) | 0x80; // version 8: custom (RFC 9562)
    b[8] = (b[8] & 0x3f) | 0x80; // variant 10
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// Grants the cluster's kubelet identity `AcrPull` on the registry.
pub async fn attach(
    arm: &ArmClient,
    cluster: &ResourceId,
    registry: &ResourceId,
) -> Result<Attached> {
    let operation = format!("GET cluster {}", cluster.name);
    let url = arm.url(&cluster.to_string(), api::CONTAINER_SERVICE, &[]);
    let resource = arm.get(url, &operation).await?;
    let principal = kubelet_object_id(&resource).ok_or_else(|| {
        AzureError::Invalid(format!(
            "cluster {} has no kubelet identity (properties.identityProfile.kubeletidentity): it uses a service principal; grant AcrPull to that principal instead",
            cluster.name
        ))
    })?;
    let role_definition = format!(
        "/subscriptions/{}/providers/Microsoft.Authorization/roleDefinitions/{ACR_PULL_ROLE}",
        registry.subscription
    );
    let scope = registry.to_string();
    let filter = format!("principalId eq '{principal}'");
    let list_url = arm.url(
        &format!("{scope}/providers/Microsoft.Authorization/roleAssignments"),
        api::AUTHORIZATION,
        &[("$filter", &filter)],
    );
    let existing = arm.get(list_url, "list role assignments").await?;
    let same_scope = |v: &Value| {
        v["properties"]["scope"]
            .as_str()
            .is_none_or(|s| s.eq_ignore_ascii_case(&scope))
    };
    if let Some(found) = existing["value"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|a| {
            a["properties"]["roleDefinitionId"]
                .as_str()
                .is_some_and(|r| r.to_ascii_lowercase().ends_with(ACR_PULL_ROLE))
                && same_scope(a)
        })
    {
        return Ok(Attached::AlreadyAssigned(
            found["name"].as_str().unwrap_or("").to_string(),
        ));
    }
    let name = assignment_name(&scope, principal, ACR_PULL_ROLE);
    let url = arm.url(
        &format!("{scope}/providers/Microsoft.Authorization/roleAssignments/{name}"),
        api::AUTHORIZATION,
        &[],
    );
    let body = json!({
        "properties": {
            "roleDefinitionId": role_definition,
            "principalId": principal,
            "principalType": "ServicePrincipal",
        }
    });
    let operation = "create AcrPull role assignment";
    let answer = arm.send(Method::PUT, url, Some(&body), operation).await?;
    if answer.status.is_success() {
        return Ok(Attached::Created(name));
    }
    let error = error_of(&answer, operation);
    match &error {
        AzureError::Arm { code, .. }
            if answer.status == StatusCode::CONFLICT && code == "RoleAssignmentExists" =>
        {
            Ok(Attached::AlreadyAssigned(name))
        }
        _ => Err(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assignment_names_are_stable_guids() {
        let a = assignment_name(
            "/subscriptions/s/resourceGroups/g/providers/Microsoft.ContainerRegistry/registries/r",
            "p",
            ACR_PULL_ROLE,
        );
        let b = assignment_name(
            "/SUBSCRIPTIONS/s/resourcegroups/g/providers/Microsoft.ContainerRegistry/registries/r",
            "p",
            ACR_PULL_ROLE,
        );
        assert_eq!(a, b);
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "8");
        assert_ne!(a, assignment_name("x", "p", ACR_PULL_ROLE));
    }
}
