//! Azure resource IDs: `/subscriptions/{sub}/resourceGroups/{group}/providers/{ns}/{type}/{name}`.
//! Parsed once, checked for the type a command expects, and printed back with the path casing of
//! each provider's spec (ARM itself ignores case; the specs, and mock servers built from them, do
//! not).

use std::fmt;

use crate::error::{AzureError, Result};

const SHAPE_REGISTRY: &str =
    "/subscriptions/<id>/resourceGroups/<group>/providers/Microsoft.ContainerRegistry/registries/<name>";
const SHAPE_CLUSTER: &str =
    "/subscriptions/<id>/resourceGroups/<group>/providers/Microsoft.ContainerService/managedClusters/<name>";

/// A top-level resource in a resource group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourceId {
    /// Subscription ID.
    pub subscription: String,
    /// Resource group name.
    pub resource_group: String,
    /// Provider namespace, as ARM spells it (`Microsoft.ContainerRegistry`).
    pub provider: String,
    /// Resource type within the provider (`registries`).
    pub resource_type: String,
    /// Resource name.
    pub name: String,
}

impl ResourceId {
    /// Parses a container registry's ID. The name must be 5 to 50 letters and digits.
    pub fn registry(text: &str) -> Result<Self> {
        let id = Self::parse(text, "container registry", SHAPE_REGISTRY)?;
        let bad = |reason: String| AzureError::BadResourceId {
            input: text.into(),
            expected: "container registry",
            reason,
            shape: SHAPE_REGISTRY,
        };
        if !id
            .provider
            .eq_ignore_ascii_case("Microsoft.ContainerRegistry")
            || !id.resource_type.eq_ignore_ascii_case("registries")
        {
            return Err(bad(format!(
                "it names a {}/{}",
                id.provider, id.resource_type
            )));
        }
        if !(5..=50).contains(&id.name.len()) || !id.name.chars().all(|c| c.is_ascii_alphanumeric())
        {
            return Err(bad(format!(
                "registry name {:?} must be 5 to 50 letters and digits",
                id.name
            )));
        }
        Ok(ResourceId {
            provider: "Microsoft.ContainerRegistry".into(),
            resource_type: "registries".into(),
            ..id
        })
    }

    /// Parses an AKS cluster's ID.
    pub fn cluster(text: &str) -> Result<Self> {
        let id = Self::parse(text, "AKS cluster", SHAPE_CLUSTER)?;
        if !id
            .provider
            .eq_ignore_ascii_case("Microsoft.ContainerService")
            || !id.resource_type.eq_ignore_ascii_case("managedClusters")
        {
            return Err(AzureError::BadResourceId {
                input: text.into(),
                expected: "AKS cluster",
                reason: format!("it names a {}/{}", id.provider, id.resource_type),
                shape: SHAPE_CLUSTER,
            });
        }
        Ok(ResourceId {
            provider: "Microsoft.ContainerService".into(),
            resource_type: "managedClusters".into(),
            ..id
        })
    }

    fn parse(text: &str, expected: &'static str, shape: &'static str) -> Result<Self> {
        let bad = |reason: &str| AzureError::BadResourceId {
            input: text.into(),
            expected,
            reason: reason.into(),
            shape,
        };
        let trimmed = text.trim();
        let rest = trimmed
            .strip_prefix('/')
            .ok_or_else(|| bad("it does not start with /subscriptions/"))?;
        let parts: Vec<&str> = rest.trim_end_matches('/').split('/').collect();
        if parts.len() != 8 {
            return Err(bad(&format!(
                "it has {} path segments where a top-level resource has 8",
                parts.len()
            )));
        }
        let keyword = |i: usize, word: &str| parts[i].eq_ignore_ascii_case(word);
        if !keyword(0, "subscriptions") || !keyword(2, "resourceGroups") || !keyword(4, "providers")
        {
            return Err(bad(
                "segments 1, 3 and 5 must be subscriptions, resourceGroups and providers",
            ));
        }
        if let Some(empty) = [1, 3, 5, 6, 7].into_iter().find(|&i| parts[i].is_empty()) {
            return Err(bad(&format!("segment {} is empty", empty + 1)));
        }
        if let Some(part) = parts.iter().find(|p| check_name("segment", p).is_err()) {
            return Err(bad(&format!(
                "{part:?} holds characters ARM does not allow"
            )));
        }
        Ok(ResourceId {
            subscription: parts[1].into(),
            resource_group: parts[3].into(),
            provider: parts[5].into(),
            resource_type: parts[6].into(),
            name: parts[7].into(),
        })
    }

    /// The resource group's path as the Resources spec spells it (`/resourcegroups/`).
    pub fn resource_group_path(&self) -> String {
        resource_group_path(&self.subscription, &self.resource_group)
    }
}

/// Checks a name that goes into an ARM path (subscription, resource group, deployment): letters,
/// digits, `-_.()`, not empty, not `.` or `..`.
pub fn check_name(what: &str, name: &str) -> Result<()> {
    let allowed = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_.()".contains(c));
    if name.is_empty() || name == "." || name == ".." || !allowed {
        return Err(AzureError::Invalid(format!(
            "{what} {name:?} is not a valid Azure name: use letters, digits and - _ . ( )"
        )));
    }
    Ok(())
}

/// `/subscriptions/{sub}/resourcegroups/{group}`, the Resources provider's casing.
pub fn resource_group_path(subscription: &str, resource_group: &str) -> String {
    format!("/subscriptions/{subscription}/resourcegroups/{resource_group}")
}

impl fmt::Display for ResourceId {
    /// The ID with the provider spec's casing (`/resourceGroups/`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "/subscriptions/{}/resourceGroups/{}/providers/{}/{}/{}",
            self.subscription, self.resource_group, self.provider, self.resource_type, self.name
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REG: &str = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/myResourceGroup/providers/Microsoft.ContainerRegistry/registries/myRegistry";

    #[test]
    fn a_registry_id_round_trips_with_the_spec_casing() {
        let lower = REG.to_lowercase().replace("myregistry", "myRegistry");
        let id = ResourceId::registry(&lower).unwrap();
        assert_eq!(id.name, "myRegistry");
        assert_eq!(id.resource_group, "myresourcegroup");
        assert!(id.to_string().contains("/resourceGroups/myresourcegroup/providers/Microsoft.ContainerRegistry/registries/myRegistry"));
        assert!(id
            .resource_group_path()
            .ends_with("/resourcegroups/myresourcegroup"));
    }

    #[test]
    fn malformed_ids_are_refused_with_the_reason() {
        for (text, needle) in [
            ("subscriptions/x", "does not start with"),
            ("/subscriptions/x/resourceGroups", "3 path segments"),
            ("/subscriptions/x/resourceGroups/g/providers/Microsoft.Storage/storageAccounts/abcde", "Microsoft.Storage/storageAccounts"),
            ("/subscriptions/x/resourceGroups/g/providers/Microsoft.ContainerRegistry/registries/ab", "5 to 50"),
            ("/subscriptions/x/resourceGroups/g/providers/Microsoft.ContainerRegistry/registries/my-reg", "5 to 50 letters"),
            ("/subscriptions/x/resourcegroup/g/providers/Microsoft.ContainerRegistry/registries/myreg1", "segments 1, 3 and 5"),
            ("/subscriptions/x/resourceGroups/g?x/providers/Microsoft.ContainerRegistry/registries/myreg1", "characters"),
        ] {
            let e = ResourceId::registry(text).unwrap_err().to_string();
            assert!(e.contains(needle), "{text}: {e}");
            assert!(!e.contains('\n'));
        }
        assert!(ResourceId::cluster(REG)
            .unwrap_err()
            .to_string()
            .contains("AKS cluster"));
        for bad in ["", ".", "..", "rg/..", "a?b", "a#b"] {
            assert!(check_name("resource group", bad).is_err(), "{bad}");
        }
        check_name("resource group", "rg-east_1.(prod)").unwrap();
    }
}
