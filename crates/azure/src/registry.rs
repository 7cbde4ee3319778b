//! A container registry resource: read it, list its child resources, delete it.

use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde_json::Value;

use crate::api;
use crate::arm::ArmClient;
use crate::error::{AzureError, Result};
use crate::resource_id::ResourceId;

/// The child resource collections of a registry that a relocation recreates.
pub const CHILD_COLLECTIONS: [&str; 4] = ["replications", "webhooks", "scopeMaps", "tokens"];

/// What a registry may hold that `azure export` does not export: each member found is named in
/// an `export-incomplete` warning with what to do.
pub struct NotExported {
    /// The path under the registry's ID (`tasks`, `providers/Microsoft.Insights/diagnosticSettings`).
    pub path: &'static str,
    /// The api-version it is listed with.
    pub api_version: &'static str,
    /// What one member is, in words.
    pub what: &'static str,
    /// What to do about it.
    pub fix: &'static str,
}

/// The child collections and settings of a registry that a relocation does not export (the
/// resource group's exportTemplate leaves them out, or they hold state a template cannot carry).
pub const NOT_EXPORTED: [NotExported; 11] = [
    NotExported {
        path: "cacheRules",
        api_version: api::CONTAINER_REGISTRY,
        what: "cache rule",
        fix: "recreate it in the new registry (az acr cache create), with its credential set",
    },
    NotExported {
        path: "credentialSets",
        api_version: api::CONTAINER_REGISTRY,
        what: "credential set",
        fix: "recreate it (az acr credential-set create) and grant its new identity get on the Key Vault secrets",
    },
    NotExported {
        path: "privateEndpointConnections",
        api_version: api::CONTAINER_REGISTRY,
        what: "private endpoint connection",
        fix: "create a private endpoint for the new registry in a subnet of the target region, and its private DNS records",
    },
    NotExported {
        path: "tasks",
        api_version: "2019-06-01-preview",
        what: "task",
        fix: "recreate it (az acr task create) with the new login server in its steps, roles for its new identity and its trigger credentials",
    },
    NotExported {
        path: "taskRuns",
        api_version: "2019-06-01-preview",
        what: "task run",
        fix: "run it again against the new registry if it is still needed",
    },
    NotExported {
        path: "agentPools",
        api_version: "2019-06-01-preview",
        what: "agent pool",
        fix: "recreate it (az acr agentpool create) in a subnet of the target region",
    },
    NotExported {
        path: "connectedRegistries",
        api_version: "2023-11-01-preview",
        what: "connected registry",
        fix: "recreate it against the new registry and redeploy its on-premises side with the new connection string",
    },
    NotExported {
        path: "importPipelines",
        api_version: "2023-11-01-preview",
        what: "import pipeline",
        fix: "recreate it (az acr import-pipeline create) with access to its storage and Key Vault",
    },
    NotExported {
        path: "exportPipelines",
        api_version: "2023-11-01-preview",
        what: "export pipeline",
        fix: "recreate it (az acr export-pipeline create) with access to its storage and Key Vault",
    },
    NotExported {
        path: "providers/Microsoft.Insights/diagnosticSettings",
        api_version: "2021-05-01-preview",
        what: "diagnostic setting",
        fix: "recreate it on the new registry (az monitor diagnostic-settings create) with the same destinations",
    },
    NotExported {
        path: "providers/Microsoft.Authorization/locks",
        api_version: "2020-05-01",
        what: "lock",
        fix: "put it on the new registry (az lock create) once the relocation is done; the source's lock stops azure delete",
    },
];

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

/// A registry's role assignment permissions mode (`properties.roleAssignmentMode`), which decides
/// which roles give access to its content. Microsoft: "the `AcrPull`, `AcrPush`, and `AcrDelete`
/// roles aren't honored in an ABAC-enabled registry"; there the `Container Registry Repository
/// Reader`, `Writer` and `Contributor` roles (optionally with ABAC conditions) give it
/// (container-registry-rbac-abac-repository-permissions).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum RoleMode {
    /// `LegacyRegistryPermissions` ("RBAC Registry Permissions"): AcrPull, AcrPush, AcrDelete.
    Legacy,
    /// `AbacRepositoryPermissions` ("RBAC Registry + ABAC Repository Permissions"): the
    /// Container Registry Repository roles.
    Abac,
}

impl RoleMode {
    /// The mode a `roleAssignmentMode` value names; none is the default, legacy.
    pub fn from_property(value: Option<&str>) -> RoleMode {
        match value {
            Some(v) if v.eq_ignore_ascii_case("AbacRepositoryPermissions") => RoleMode::Abac,
            _ => RoleMode::Legacy,
        }
    }

    /// ARM's name of the mode.
    pub fn as_str(self) -> &'static str {
        match self {
            RoleMode::Legacy => "LegacyRegistryPermissions",
            RoleMode::Abac => "AbacRepositoryPermissions",
        }
    }

    /// The mode in words.
    pub fn describe(self) -> &'static str {
        match self {
            RoleMode::Legacy => "legacy registry permissions (AcrPull, AcrPush, AcrDelete)",
            RoleMode::Abac => "ABAC repository permissions (Container Registry Repository Reader, Writer, Contributor)",
        }
    }

    /// The `az acr update` value that sets this mode.
    pub fn az_value(self) -> &'static str {
        match self {
            RoleMode::Legacy => "rbac",
            RoleMode::Abac => "rbac-abac",
        }
    }
}

/// The role assignment permissions mode of a registry, read with
/// [`api::CONTAINER_REGISTRY_ROLE_MODE`] (a stable api-version that returns it). Where ARM does
/// not serve that api-version (a cloud behind the public one) the mode cannot be read: it is
/// taken as legacy, the default, and `-v` says so.
pub async fn role_mode(arm: &ArmClient, id: &ResourceId) -> Result<RoleMode> {
    let operation = format!("GET role assignment mode of registry {}", id.name);
    let url = arm.url(&id.to_string(), api::CONTAINER_REGISTRY_ROLE_MODE, &[]);
    let answer = arm.send(Method::GET, url, None, &operation).await?;
    if answer.status.is_success() {
        let body = answer.json(&operation)?;
        return Ok(RoleMode::from_property(
            body["properties"]["roleAssignmentMode"].as_str(),
        ));
    }
    let error = crate::arm::error_of(&answer, &operation);
    match &error {
        AzureError::Arm { code, .. }
            if answer.status == StatusCode::BAD_REQUEST
                && matches!(
                    code.as_str(),
                    "InvalidApiVersionParameter" | "NoRegisteredProviderFound"
                ) =>
        {
            acr_relocate::log::emit(1, || {
                format!("{error}: the registry's role assignment mode is taken as legacy registry permissions (this ARM does not serve api-version {})", api::CONTAINER_REGISTRY_ROLE_MODE)
            });
            Ok(RoleMode::Legacy)
        }
        AzureError::Arm { status: 404, .. } => Err(AzureError::Arm {
            operation,
            status: 404,
            code: "ResourceNotFound".into(),
            message: format!("no registry {id}: check the subscription, resource group and name"),
        }),
        _ => Err(error),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_role_assignment_mode_is_legacy_unless_arm_says_abac() {
        assert_eq!(
            RoleMode::from_property(Some("AbacRepositoryPermissions")),
            RoleMode::Abac
        );
        assert_eq!(
            RoleMode::from_property(Some("abacrepositorypermissions")),
            RoleMode::Abac
        );
        assert_eq!(
            RoleMode::from_property(Some("LegacyRegistryPermissions")),
            RoleMode::Legacy
        );
        assert_eq!(RoleMode::from_property(None), RoleMode::Legacy);
    }
}
