//! `azure attach-aks`: what `az aks update --attach-acr` / `Set-AzAksCluster -AcrNameToAttach` do:
//! give the cluster's kubelet identity the `AcrPull` role on the registry. Idempotent: an existing
//! assignment is reported, not duplicated (found in the listing, or named by ARM's 409
//! `RoleAssignmentExists` when the listing lags behind).

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
    /// The kubelet identity already had `AcrPull` on the registry (the existing assignment's
    /// name).
    AlreadyAssigned(String),
    /// ARM refused the new assignment because an equivalent one (same scope, principal and role)
    /// exists, without saying which.
    EquivalentExists,
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
    guid(&hex::encode(b))
}

/// 32 hex digits written as a GUID (8-4-4-4-12).
fn guid(hex: &str) -> String {
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
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
    let existing = arm.list(list_url, "list role assignments").await?;
    if let Some(found) = acr_pull_at(&existing, &scope) {
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
        AzureError::Arm { code, message, .. }
            if answer.status == StatusCode::CONFLICT && code == "RoleAssignmentExists" =>
        {
            // The assignment ARM found is not necessarily the one named here: report its own.
            Ok(match existing_assignment_name(message) {
                Some(existing) => Attached::AlreadyAssigned(existing),
                None => Attached::EquivalentExists,
            })
        }
        _ => Err(error),
    }
}

/// The `AcrPull` assignment among `assignments` (a listing filtered by principal) that applies
/// at `scope` itself; one without a `scope` property counts as being there.
fn acr_pull_at<'a>(assignments: &'a [Value], scope: &str) -> Option<&'a Value> {
    assignments.iter().find(|a| {
        a["properties"]["roleDefinitionId"]
            .as_str()
            .is_some_and(|r| r.to_ascii_lowercase().ends_with(ACR_PULL_ROLE))
            && a["properties"]["scope"]
                .as_str()
                .is_none_or(|s| s.eq_ignore_ascii_case(scope))
    })
}

/// The name of the assignment a 409 `RoleAssignmentExists` points at: ARM's message says "The ID
/// of the existing role assignment is <32 hex digits>." (a GUID without its hyphens), given back
/// as a GUID. `None` when the message does not say.
pub fn existing_assignment_name(message: &str) -> Option<String> {
    const MARK: &str = "the id of the existing role assignment is ";
    let at = message.to_ascii_lowercase().find(MARK)? + MARK.len();
    let id: String = message[at..]
        .chars()
        .take_while(|c| c.is_ascii_hexdigit() || *c == '-')
        .filter(|c| *c != '-')
        .collect::<String>()
        .to_ascii_lowercase();
    (id.len() == 32).then(|| guid(&id))
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

    #[test]
    fn a_conflict_names_the_assignment_that_exists() {
        // As ARM words it (error_of has already joined the lines).
        assert_eq!(
            existing_assignment_name(
                "The role assignment already exists. The ID of the existing role assignment is 716C4D159bc8476da3c16ccb70082517."
            )
            .as_deref(),
            Some("716c4d15-9bc8-476d-a3c1-6ccb70082517")
        );
        assert_eq!(
            existing_assignment_name(
                "The role assignment already exists. The ID of the existing role assignment is 716c4d15-9bc8-476d-a3c1-6ccb70082517"
            )
            .as_deref(),
            Some("716c4d15-9bc8-476d-a3c1-6ccb70082517")
        );
        assert_eq!(
            existing_assignment_name("The role assignment already exists."),
            None
        );
        assert_eq!(
            existing_assignment_name("The ID of the existing role assignment is 716c4d."),
            None
        );
    }

    #[test]
    fn only_acr_pull_at_the_registry_itself_counts_as_assigned() {
        let registry =
            "/subscriptions/s/resourceGroups/g/providers/Microsoft.ContainerRegistry/registries/r";
        let assignment = |name: &str, role: &str, scope: Option<&str>| {
            let mut a = serde_json::json!({
                "name": name,
                "properties": {
                    "roleDefinitionId": format!("/subscriptions/s/providers/Microsoft.Authorization/roleDefinitions/{role}"),
                }
            });
            if let Some(scope) = scope {
                a["properties"]["scope"] = scope.into();
            }
            a
        };
        let reader = "acdd72a7-3385-48ef-bd42-f606fba81ae7";
        let listed = [
            assignment("other-role", reader, Some(registry)),
            assignment("inherited", ACR_PULL_ROLE, Some("/subscriptions/s")),
            assignment("here", ACR_PULL_ROLE, Some(&registry.to_ascii_uppercase())),
        ];
        let found = acr_pull_at(&listed, registry).map(|a| a["name"].clone());
        assert_eq!(found, Some("here".into()));
        assert!(acr_pull_at(&listed[..2], registry).is_none());
        let unscoped = [assignment("unscoped", ACR_PULL_ROLE, None)];
        assert!(acr_pull_at(&unscoped, registry).is_some());
    }
}
