//! `azure roles`: the role assignments of the source registry, given again on the target. A
//! registry recreated elsewhere starts with none: every pipeline's service principal, App
//! Service or Container Apps identity and kubelet identity that pulled from (or pushed to) the
//! source loses its access on the day of the switch. Each assignment made on the source registry
//! itself is created on the target for the same principal and role (condition kept), under a
//! name derived from scope, principal and role, so a second run finds it (ARM's 409
//! `RoleAssignmentExists` included). Assignments inherited from a resource group, subscription or
//! management group apply to the target as they are when it is under the same scope; when it is
//! not, they are listed, and given on the target registry only when asked.

use std::fmt;

use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde_json::{json, Value};

use crate::aks::{assignment_name, existing_assignment_name};
use crate::api;
use crate::arm::{error_of, ArmClient};
use crate::error::{AzureError, Result};
use crate::registry::RoleMode;
use crate::resource_id::ResourceId;

/// One role assignment, as ARM lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Assignment {
    /// Its name (a GUID).
    pub name: String,
    /// The role definition's GUID, in lower case (the same in every subscription for built-in
    /// roles).
    pub role: String,
    /// The principal's object ID.
    pub principal_id: String,
    /// `User`, `Group`, `ServicePrincipal`, `ForeignGroup`, `Device`.
    pub principal_type: String,
    /// The scope it is made at.
    pub scope: String,
    /// An ABAC condition, kept as it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
    /// The condition's version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub condition_version: Option<String>,
}

impl Assignment {
    /// Reads one item of a role assignment listing; `None` when it lacks a principal or role.
    pub fn from_arm(item: &Value) -> Option<Self> {
        let p = &item["properties"];
        let text = |v: &Value| v.as_str().map(str::to_string);
        let role = p["roleDefinitionId"]
            .as_str()?
            .rsplit('/')
            .next()?
            .to_ascii_lowercase();
        Some(Assignment {
            name: text(&item["name"]).unwrap_or_default(),
            role,
            principal_id: text(&p["principalId"])?,
            principal_type: text(&p["principalType"]).unwrap_or_else(|| "ServicePrincipal".into()),
            scope: text(&p["scope"]).unwrap_or_default(),
            condition: text(&p["condition"]),
            condition_version: text(&p["conditionVersion"]),
        })
    }

    /// The role's name for the built-in roles a registry's users hold, else its GUID.
    pub fn role_name(&self) -> &str {
        built_in_role_name(&self.role).unwrap_or(&self.role)
    }

    /// True when `other` gives the same principal the same role (and condition).
    fn grants_as(&self, other: &Assignment) -> bool {
        self.role == other.role
            && self.principal_id.eq_ignore_ascii_case(&other.principal_id)
            && self.condition == other.condition
    }
}

/// `Container Registry Repository Reader` (Microsoft's Azure built-in roles for Containers).
const REPOSITORY_READER: &str = crate::aks::REPOSITORY_READER_ROLE;
/// `Container Registry Repository Writer`.
const REPOSITORY_WRITER: &str = "2a1e307c-b015-4ebd-883e-5b7698a07328";
/// `Container Registry Repository Contributor`.
const REPOSITORY_CONTRIBUTOR: &str = "2efddaa5-3f1f-4df3-97df-af3f13818f4c";

/// The roles a registry with ABAC repository permissions does not honour (Microsoft: "the
/// `AcrPull`, `AcrPush`, and `AcrDelete` roles aren't honored in an ABAC-enabled registry").
const LEGACY_DATA_ROLES: [&str; 3] = [
    crate::aks::ACR_PULL_ROLE,
    "8311e382-0749-4cb8-b61a-304f252e45ec",
    "c2f4ef07-c644-48eb-af81-4b1b4947fb11",
];

/// The ABAC-enabled repository roles, which give repository access on registries with ABAC
/// repository permissions only.
const ABAC_DATA_ROLES: [&str; 3] = [REPOSITORY_READER, REPOSITORY_WRITER, REPOSITORY_CONTRIBUTOR];

/// The names of built-in roles by definition GUID (Azure's built-in roles for containers, and the
/// general ones): shown instead of the GUID.
pub fn built_in_role_name(role: &str) -> Option<&'static str> {
    Some(match role {
        "7f951dda-4ed3-4680-a7ca-43fe172d538d" => "AcrPull",
        "8311e382-0749-4cb8-b61a-304f252e45ec" => "AcrPush",
        "c2f4ef07-c644-48eb-af81-4b1b4947fb11" => "AcrDelete",
        "6cef56e8-d556-48e5-a04f-b8e64114680f" => "AcrImageSigner",
        REPOSITORY_READER => "Container Registry Repository Reader",
        REPOSITORY_WRITER => "Container Registry Repository Writer",
        REPOSITORY_CONTRIBUTOR => "Container Registry Repository Contributor",
        "bfdb9389-c9a5-478a-bb2f-ba9ca092c3c7" => "Container Registry Repository Catalog Lister",
        "8e3af657-a8ff-443c-a75c-2fe8c4bcb635" => "Owner",
        "b24988ac-6180-42a0-ab88-20f7382dd24c" => "Contributor",
        "acdd72a7-3385-48ef-bd42-f606fba81ae7" => "Reader",
        "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9" => "User Access Administrator",
        _ => return None,
    })
}

/// Where a source assignment stands for the target.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Standing {
    /// Made on the source registry, and the target already grants the same.
    OnTarget,
    /// Made on the source registry, missing on the target: to create.
    Missing,
    /// Inherited from a scope above both registries: it applies to the target as it is.
    InheritedByBoth,
    /// Inherited from a scope above the source that the target is not under: the principal
    /// loses it on the target unless it is given there.
    InheritedBySourceOnly,
    /// The principal is the source registry's own managed identity, deleted with it.
    SourceIdentity,
}

/// One source assignment and where it stands.
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    /// The source's assignment.
    pub assignment: Assignment,
    /// Where it stands for the target.
    pub standing: Standing,
}

/// The source's assignments (at the registry and inherited) compared with the target's: one row
/// each, missing ones first. `source_identity` is the source registry's own principal.
pub fn compare(
    source: &[Assignment],
    target: &[Assignment],
    source_id: &ResourceId,
    target_id: &ResourceId,
    source_identity: Option<&str>,
) -> Vec<Row> {
    let source_scope = source_id.to_string().to_ascii_lowercase();
    let target_scope = target_id.to_string().to_ascii_lowercase();
    let mut rows: Vec<Row> = source
        .iter()
        .map(|a| {
            let scope = a.scope.to_ascii_lowercase();
            let standing =
                if source_identity.is_some_and(|p| p.eq_ignore_ascii_case(&a.principal_id)) {
                    Standing::SourceIdentity
                } else if scope == source_scope {
                    match target.iter().any(|t| t.grants_as(a)) {
                        true => Standing::OnTarget,
                        false => Standing::Missing,
                    }
                } else if covers(&scope, &target_scope)
                    // A management group holds subscriptions: one that holds the source's holds
                    // the target's when it is the same one (other hierarchies are not read).
                    || (scope.starts_with("/providers/microsoft.management/managementgroups/")
                        && source_id.subscription.eq_ignore_ascii_case(&target_id.subscription))
                {
                    Standing::InheritedByBoth
                } else {
                    Standing::InheritedBySourceOnly
                };
            Row {
                assignment: a.clone(),
                standing,
            }
        })
        .collect();
    rows.sort_by_key(|r| match r.standing {
        Standing::Missing => 0,
        Standing::InheritedBySourceOnly => 1,
        Standing::OnTarget => 2,
        Standing::InheritedByBoth => 3,
        Standing::SourceIdentity => 4,
    });
    rows
}

/// Warnings for carrying `rows` from a registry in role assignment mode `source` to one in mode
/// `target` (named `target_name`): none when the modes are the same. When they differ, what the source grants does not
/// give the same access on the target: AcrPull, AcrPush and AcrDelete are not honoured on a
/// registry with ABAC repository permissions, and the Container Registry Repository roles (and
/// ABAC conditions) give nothing on one with legacy registry permissions. The assignments so
/// concerned are named.
pub fn mode_warnings(
    source: RoleMode,
    target: RoleMode,
    target_name: &str,
    rows: &[Row],
) -> Vec<String> {
    if source == target {
        return Vec::new();
    }
    let mut warnings = vec![format!(
        "the source registry uses {} and the target {}: the same role assignments do not give the same access; set the target's mode to the source's (`az acr update --name {target_name} --role-assignment-mode {}`) before the switch, or give the target the roles of its own mode",
        source.describe(),
        target.describe(),
        source.az_value()
    )];
    let (unhonoured, instead): (&[&str], &str) = match target {
        RoleMode::Abac => (
            &LEGACY_DATA_ROLES,
            "Container Registry Repository Reader for AcrPull, Writer for AcrPush, Contributor for AcrDelete",
        ),
        RoleMode::Legacy => (
            &ABAC_DATA_ROLES,
            "AcrPull for Container Registry Repository Reader, AcrPush for Writer, AcrDelete for Contributor, without conditions",
        ),
    };
    let mut concerned: Vec<String> = rows
        .iter()
        .filter(|r| r.standing != Standing::SourceIdentity)
        .map(|r| &r.assignment)
        .filter(|a| {
            unhonoured.contains(&a.role.as_str())
                || (target == RoleMode::Legacy && a.condition.is_some())
        })
        .map(|a| {
            format!(
                "{} for {} {}",
                a.role_name(),
                a.principal_type,
                a.principal_id
            )
        })
        .collect();
    concerned.sort();
    concerned.dedup();
    if !concerned.is_empty() {
        warnings.push(format!(
            "not honoured on the target ({}): {}; give instead {instead}",
            target.as_str(),
            concerned.join(", ")
        ));
    }
    warnings
}

/// True when an assignment at `scope` applies at `inner` (the same scope, or one below it).
fn covers(scope: &str, inner: &str) -> bool {
    let scope = scope.trim_end_matches('/');
    scope.is_empty() || inner == scope || inner.starts_with(&format!("{scope}/"))
}

/// The role assignments that apply at a registry: made on it, or inherited from above
/// (`$filter=atScope()`).
pub async fn at_registry(arm: &ArmClient, registry: &ResourceId) -> Result<Vec<Assignment>> {
    let url = arm.url(
        &format!("{registry}/providers/Microsoft.Authorization/roleAssignments"),
        api::AUTHORIZATION,
        &[("$filter", "atScope()")],
    );
    let items = arm
        .list(url, &format!("list role assignments of {}", registry.name))
        .await?;
    Ok(items.iter().filter_map(Assignment::from_arm).collect())
}

/// What [`give`] did.
#[derive(Debug, PartialEq, Eq)]
pub enum Given {
    /// A new assignment on the target (its name).
    Created(String),
    /// ARM has an equivalent one (its name, when ARM says).
    Existed(Option<String>),
    /// The principal no longer exists in the directory (a deleted identity): nothing to give.
    PrincipalGone,
}

impl fmt::Display for Given {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Given::Created(name) => write!(f, "created (role assignment {name})"),
            Given::Existed(Some(name)) => write!(f, "already there (role assignment {name})"),
            Given::Existed(None) => write!(f, "already there"),
            Given::PrincipalGone => write!(
                f,
                "not given: the principal no longer exists in the directory"
            ),
        }
    }
}

/// Gives `assignment`'s principal its role (and condition) on `target`, the role definition taken
/// from the target's subscription (built-in roles and custom roles assignable there have the same
/// GUID).
pub async fn give(arm: &ArmClient, target: &ResourceId, assignment: &Assignment) -> Result<Given> {
    let scope = target.to_string();
    let name = assignment_name(&scope, &assignment.principal_id, &assignment.role);
    let url = arm.url(
        &format!("{scope}/providers/Microsoft.Authorization/roleAssignments/{name}"),
        api::AUTHORIZATION,
        &[],
    );
    let mut properties = json!({
        "roleDefinitionId": format!(
            "/subscriptions/{}/providers/Microsoft.Authorization/roleDefinitions/{}",
            target.subscription, assignment.role
        ),
        "principalId": assignment.principal_id,
        "principalType": assignment.principal_type,
        "description": format!("carried from registry role assignment {} by acr-relocate", assignment.name),
    });
    if let Some(condition) = &assignment.condition {
        properties["condition"] = json!(condition);
        properties["conditionVersion"] =
            json!(assignment.condition_version.as_deref().unwrap_or("2.0"));
    }
    let operation = format!(
        "give {} {} on {}",
        assignment.principal_id,
        assignment.role_name(),
        target.name
    );
    let answer = arm
        .send(
            Method::PUT,
            url,
            Some(&json!({ "properties": properties })),
            &operation,
        )
        .await?;
    if answer.status.is_success() {
        return Ok(Given::Created(name));
    }
    let error = error_of(&answer, &operation);
    match &error {
        AzureError::Arm { code, message, .. }
            if answer.status == StatusCode::CONFLICT && code == "RoleAssignmentExists" =>
        {
            Ok(Given::Existed(existing_assignment_name(message)))
        }
        AzureError::Arm { code, .. } if code == "PrincipalNotFound" => Ok(Given::PrincipalGone),
        _ => Err(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registry(group: &str, name: &str) -> ResourceId {
        ResourceId::registry(&format!(
            "/subscriptions/0000/resourceGroups/{group}/providers/Microsoft.ContainerRegistry/registries/{name}"
        ))
        .unwrap()
    }

    fn assignment(principal: &str, role: &str, scope: &str) -> Assignment {
        Assignment {
            name: format!("{principal}-{role}"),
            role: role.into(),
            principal_id: principal.into(),
            principal_type: "ServicePrincipal".into(),
            scope: scope.into(),
            condition: None,
            condition_version: None,
        }
    }

    #[test]
    fn each_source_assignment_is_placed_by_where_it_is_made_and_what_the_target_has() {
        let (old, new) = (
            registry("rg-old", "oldacr01"),
            registry("rg-new", "newacr01"),
        );
        let pull = "7f951dda-4ed3-4680-a7ca-43fe172d538d";
        let push = "8311e382-0749-4cb8-b61a-304f252e45ec";
        let source = [
            assignment("aks-kubelet", pull, &old.to_string()),
            assignment("ci", push, &old.to_string().to_ascii_lowercase()),
            assignment(
                "team",
                "acdd72a7-3385-48ef-bd42-f606fba81ae7",
                "/subscriptions/0000/resourceGroups/rg-old",
            ),
            assignment(
                "ops",
                "b24988ac-6180-42a0-ab88-20f7382dd24c",
                "/subscriptions/0000",
            ),
            assignment("old-identity", pull, &old.to_string()),
            assignment(
                "platform",
                "acdd72a7-3385-48ef-bd42-f606fba81ae7",
                "/providers/Microsoft.Management/managementGroups/corp",
            ),
        ];
        let target = [assignment("ci", push, &new.to_string())];
        let rows = compare(&source, &target, &old, &new, Some("OLD-IDENTITY"));
        let standing = |p: &str| {
            rows.iter()
                .find(|r| r.assignment.principal_id == p)
                .map(|r| r.standing.clone())
                .unwrap()
        };
        assert_eq!(standing("aks-kubelet"), Standing::Missing);
        assert_eq!(standing("ci"), Standing::OnTarget);
        assert_eq!(standing("team"), Standing::InheritedBySourceOnly);
        assert_eq!(standing("ops"), Standing::InheritedByBoth);
        assert_eq!(standing("old-identity"), Standing::SourceIdentity);
        assert_eq!(
            standing("platform"),
            Standing::InheritedByBoth,
            "one subscription"
        );
        assert_eq!(rows[0].standing, Standing::Missing, "missing ones first");
        assert_eq!(rows[0].assignment.role_name(), "AcrPull");
    }

    #[test]
    fn another_condition_is_another_grant() {
        let (old, new) = (registry("rg", "oldacr01"), registry("rg", "newacr01"));
        let mut limited = assignment(
            "ci",
            "7f951dda-4ed3-4680-a7ca-43fe172d538d",
            &old.to_string(),
        );
        limited.condition = Some("@Resource[Microsoft.ContainerRegistry/registries/repositories:name] StringStartsWith 'team/'".into());
        let plain = assignment(
            "ci",
            "7f951dda-4ed3-4680-a7ca-43fe172d538d",
            &new.to_string(),
        );
        let rows = compare(&[limited], &[plain], &old, &new, None);
        assert_eq!(rows[0].standing, Standing::Missing);
    }

    /// Source and target in different role assignment modes: a warning says so, and names the
    /// assignments whose roles the target does not honour; the same modes give none.
    #[test]
    fn a_move_between_role_assignment_modes_is_warned_with_the_roles_concerned() {
        let (old, new) = (registry("rg", "oldacr01"), registry("rg", "newacr01"));
        let pull = "7f951dda-4ed3-4680-a7ca-43fe172d538d";
        let mut narrowed = assignment("team", REPOSITORY_READER, &old.to_string());
        narrowed.condition = Some("@Request[Microsoft.ContainerRegistry/registries/repositories:name] StringStartsWithIgnoreCase 'team/'".into());
        let source = [
            assignment("aks-kubelet", pull, &old.to_string()),
            assignment("ci-pipeline", REPOSITORY_WRITER, &old.to_string()),
            narrowed,
        ];
        let rows = compare(&source, &[], &old, &new, None);
        assert!(mode_warnings(RoleMode::Abac, RoleMode::Abac, "newacr01", &rows).is_empty());
        assert!(mode_warnings(RoleMode::Legacy, RoleMode::Legacy, "newacr01", &rows).is_empty());

        let to_abac = mode_warnings(RoleMode::Legacy, RoleMode::Abac, "newacr01", &rows);
        assert_eq!(to_abac.len(), 2, "{to_abac:?}");
        assert!(
            to_abac[0].contains("az acr update --name newacr01 --role-assignment-mode rbac`"),
            "{to_abac:?}"
        );
        assert!(
            to_abac[1].contains("AcrPull for ServicePrincipal aks-kubelet")
                && !to_abac[1].contains("ci-pipeline")
                && to_abac[1].contains("Container Registry Repository Reader for AcrPull"),
            "{to_abac:?}"
        );

        let to_legacy = mode_warnings(RoleMode::Abac, RoleMode::Legacy, "newacr01", &rows);
        assert!(
            to_legacy[0].contains("--role-assignment-mode rbac-abac`"),
            "{to_legacy:?}"
        );
        assert!(
            to_legacy[1]
                .contains("Container Registry Repository Writer for ServicePrincipal ci-pipeline")
                && to_legacy[1]
                    .contains("Container Registry Repository Reader for ServicePrincipal team")
                && !to_legacy[1].contains("aks-kubelet"),
            "{to_legacy:?}"
        );
    }

    #[test]
    fn an_arm_item_is_read_with_its_role_guid_in_lower_case() {
        let a = Assignment::from_arm(&json!({
            "name": "b1",
            "properties": {
                "roleDefinitionId": "/subscriptions/0000/providers/Microsoft.Authorization/roleDefinitions/7F951DDA-4ED3-4680-A7CA-43FE172D538D",
                "principalId": "p1",
                "principalType": "Group",
                "scope": "/subscriptions/0000"
            }
        }))
        .unwrap();
        assert_eq!(a.role, "7f951dda-4ed3-4680-a7ca-43fe172d538d");
        assert_eq!(a.principal_type, "Group");
        assert!(Assignment::from_arm(&json!({"properties": {}})).is_none());
    }
}
