//! Azure for acr-relocate: signing in with the official `azure_identity` crate, and the Azure
//! Resource Manager (ARM) calls a registry relocation needs.
//!
//! | module | what |
//! |---|---|
//! | [`credential`] | Azure AD sign-in (service principal, workload identity, managed identity, Azure CLI) |
//! | [`arm`] | the ARM client: api-version, retries, error envelopes, long-running operations |
//! | [`resource_id`] | parsing and checking resource IDs |
//! | [`export`], [`deploy`], [`import`], [`settings`], [`aks`], [`roles`], [`registry`] | the operations |
//!
//! Every HTTP request, sign-in included, goes through one reqwest client of ours ([`http`]), so
//! the binary has one TLS stack and `SSL_CERT_FILE` / system roots apply everywhere.

pub mod aks;
pub mod arm;
pub mod credential;
pub mod deploy;
pub mod error;
pub mod export;
pub mod http;
pub mod import;
pub mod registry;
pub mod resource_id;
pub mod roles;
pub mod settings;

pub use arm::ArmClient;
pub use credential::{AzureSignIn, CredentialKind};
pub use error::{AzureError, Result};
pub use resource_id::ResourceId;

/// The api-versions used, one per resource provider (each matches a spec in Microsoft's
/// azure-rest-api-specs).
pub mod api {
    /// `Microsoft.ContainerRegistry` (registries, replications, importImage, ...).
    pub const CONTAINER_REGISTRY: &str = "2023-07-01";
    /// `Microsoft.ContainerRegistry`, for the one read that needs a registry's
    /// `properties.roleAssignmentMode` (ABAC repository permissions), which 2023-07-01 does not
    /// return. Source: Microsoft's azure-rest-api-specs,
    /// `specification/containerregistry/resource-manager/Microsoft.ContainerRegistry/Registry/stable/2025-11-01`
    /// (`RegistryProperties.roleAssignmentMode`: `AbacRepositoryPermissions` or
    /// `LegacyRegistryPermissions`, the default; its `RegistryGet.json` example answers it).
    /// Every other call keeps [`CONTAINER_REGISTRY`].
    pub const CONTAINER_REGISTRY_ROLE_MODE: &str = "2025-11-01";
    /// `Microsoft.Resources` (resource groups, deployments, exportTemplate).
    pub const RESOURCES: &str = "2024-03-01";
    /// `Microsoft.Authorization` role assignments.
    pub const AUTHORIZATION: &str = "2022-04-01";
    /// `Microsoft.ContainerService` managed clusters.
    pub const CONTAINER_SERVICE: &str = "2024-02-01";
}
