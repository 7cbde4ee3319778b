//! `azure attach-aks`: what `az aks update --attach-acr` / `Set-AzAksCluster -AcrNameToAttach` do:
//! give the cluster's kubelet identity a role that lets it pull from the registry. Which role
//! depends on the registry's role assignment mode: `AcrPull` on a registry with legacy registry
//! permissions; `Container Registry Repository Reader`, without a condition (every repository), on
//! one with ABAC repository permissions, where AcrPull is not honoured (Microsoft: "The AKS-ACR
//! integration through `az aks --attach-acr` isn't supported for ABAC-enabled ACR registries"; the
//! kubelet identity needs the Container Registry Repository Reader role there,
//! aks/cluster-container-registry-integration). Idempotent: an existing assignment of that role is
//! reported, not duplicated (found in the listing, or named by ARM's 409 `RoleAssignmentExists`
//! when the listing lags behind).

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};

use crate::api;
use crate::arm::{error_of, ArmClient};
use crate::error::{AzureError, Result};
use crate::registry::{self, RoleMode};
use crate::resource_id::ResourceId;

/// The built-in `AcrPull` role definition's ID.
pub const ACR_PULL_ROLE: &str = "7f951dda-4ed3-4680-a7ca-43fe172d538d";

/// The built-in `Container Registry Repository Reader` role definition's ID (Microsoft's Azure
/// built-in roles for Containers: read of repositories' content and metadata, catalog listing
/// excluded; honoured on registries with ABAC repository permissions).
pub const REPOSITORY_READER_ROLE: &str = "b93aa761-3e63-49ed-ac28-beffa264f7ac";

/// The role that lets a kubelet identity pull from a registry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PullRole {
    /// `AcrPull`, on a registry with legacy registry permissions.
    AcrPull,
    /// `Container Registry Repository Reader`, on a registry with ABAC repository permissions.
    RepositoryReader,
}

impl PullRole {
    /// The role that gives pull in `mode`.
    pub fn for_mode(mode: RoleMode) -> Self {
        match mode {
            RoleMode::Legacy => PullRole::AcrPull,
            RoleMode::Abac => PullRole::RepositoryReader,
        }
    }

    /// Its role definition GUID.
    pub fn id(self) -> &'static str {
        match self {
            PullRole::AcrPull => ACR_PULL_ROLE,
            PullRole::RepositoryReader => REPOSITORY_READER_ROLE,
        }
    }

    /// Its name.
    pub fn name(self) -> &'static str {
        match self {
            PullRole::AcrPull => "AcrPull",
            PullRole::RepositoryReader => "Container Registry Repository Reader",
        }
    }
}

/// One role assignment that lets the kubelet identity pull.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    /// The assignment's name (a GUID).
    pub assignment: String,
    /// Its role.
    pub role: PullRole,
}

/// What `attach` did.
#[derive(Debug, PartialEq, Eq)]
pub enum Attached {
    /// A new role assignment.
    Created(Grant),
    /// The kubelet identity already had the pull role on the registry (the existing assignment).
    AlreadyAssigned(Grant),
    /// ARM refused the new assignment because an equivalent one (same scope, principal and role)
    /// exists, without saying which.
    EquivalentExists(PullRole),
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

/// Grants the cluster's kubelet identity the role that lets it pull from the registry
/// ([`PullRole::for_mode`] of the registry's role assignment mode).
pub async fn attach(
    arm: &ArmClient,
    cluster: &ResourceId,
    registry: &ResourceId,
) -> Result<Attached> {
    let operation = format!("GET cluster {}", cluster.name);
    let url = arm.url(&cluster.to_string(), api::CONTAINER_SERVICE, &[]);
    let resource = arm.get(url, &operation).await?;
    let role = PullRole::for_mode(registry::role_mode(arm, registry).await?);
    let principal = kubelet_object_id(&resource).ok_or_else(|| {
        AzureError::Invalid(format!(
            "cluster {} has no kubelet identity (properties.identityProfile.kubeletidentity): it uses a service principal; grant {} on {} to that principal instead",
            cluster.name,
            role.name(),
            registry.name
        ))
    })?;
    let role_definition = format!(
        "/subscriptions/{}/providers/Microsoft.Authorization/roleDefinitions/{}",
        registry.subscription,
        role.id()
    );
    let scope = registry.to_string();
    let filter = format!("principalId eq '{principal}'");
    let list_url = arm.url(
        &format!("{scope}/providers/Microsoft.Authorization/roleAssignments"),
        api::AUTHORIZATION,
        &[("$filter", &filter)],
    );
    let existing = arm.list(list_url, "list role assignments").await?;
    if let Some(found) = role_at(&existing, &scope, role) {
        return Ok(Attached::AlreadyAssigned(Grant {
            assignment: found["name"].as_str().unwrap_or("").to_string(),
            role,
        }));
    }
    let name = assignment_name(&scope, principal, role.id());
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
    let operation = format!("create {} role assignment", role.name());
    let answer = arm.send(Method::PUT, url, Some(&body), &operation).await?;
    if answer.status.is_success() {
        return Ok(Attached::Created(Grant {
            assignment: name,
            role,
        }));
    }
    let error = error_of(&answer, &operation);
    match &error {
        AzureError::Arm { code, message, .. }
            if answer.status == StatusCode::CONFLICT && code == "RoleAssignmentExists" =>
        {
            // The assignment ARM found is not necessarily the one named here: report its own.
            Ok(match existing_assignment_name(message) {
                Some(existing) => Attached::AlreadyAssigned(Grant {
                    assignment: existing,
                    role,
                }),
                None => Attached::EquivalentExists(role),
            })
        }
        _ => Err(error),
    }
}

/// The assignment of `role` among `assignments` (a listing filtered by principal) that applies
/// at `scope` itself, without a condition (a condition narrows it to some repositories); one
/// without a `scope` property counts as being there.
fn role_at<'a>(assignments: &'a [Value], scope: &str, role: PullRole) -> Option<&'a Value> {
    assignments.iter().find(|a| {
        let p = &a["properties"];
        p["roleDefinitionId"]
            .as_str()
            .is_some_and(|r| r.to_ascii_lowercase().ends_with(role.id()))
            && p["scope"]
                .as_str()
                .is_none_or(|s| s.eq_ignore_ascii_case(scope))
            && p["condition"].as_str().is_none_or(str::is_empty)
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
        let found = role_at(&listed, registry, PullRole::AcrPull).map(|a| a["name"].clone());
        assert_eq!(found, Some("here".into()));
        assert!(role_at(&listed[..2], registry, PullRole::AcrPull).is_none());
        let unscoped = [assignment("unscoped", ACR_PULL_ROLE, None)];
        assert!(role_at(&unscoped, registry, PullRole::AcrPull).is_some());
        // On an ABAC registry AcrPull does not count; the Repository Reader does, unless a
        // condition narrows it to some repositories.
        assert!(role_at(&listed, registry, PullRole::RepositoryReader).is_none());
        let mut narrowed = assignment("narrowed", REPOSITORY_READER_ROLE, Some(registry));
        narrowed["properties"]["condition"] = "@Request[Microsoft.ContainerRegistry/registries/repositories:name] StringStartsWithIgnoreCase 'team/'".into();
        let whole = assignment("whole", REPOSITORY_READER_ROLE, Some(registry));
        let found = role_at(&[narrowed, whole], registry, PullRole::RepositoryReader)
            .map(|a| a["name"].clone());
        assert_eq!(found, Some("whole".into()));
    }

    #[test]
    fn the_pull_role_follows_the_registrys_role_assignment_mode() {
        assert_eq!(PullRole::for_mode(RoleMode::Legacy), PullRole::AcrPull);
        assert_eq!(
            PullRole::for_mode(RoleMode::Abac),
            PullRole::RepositoryReader
        );
        assert_eq!(
            PullRole::RepositoryReader.id(),
            "b93aa761-3e63-49ed-ac28-beffa264f7ac"
        );
    }
}
