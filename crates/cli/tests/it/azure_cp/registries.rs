//! `azure settings`, `azure attach-aks` and `azure delete` against the ACR, AKS and role
//! assignment specs.

use serde_json::{json, Value};

use super::aad::random_guid;
use super::fake::{ACR_PULL, RG, SUB};
use super::harness::{show, AzureEnv};
use crate::util::{
    an_image_layer, assert_success, flip_a_byte, oci, open, run, sample_layout, Registry,
};

#[test]
#[ignore = "extra tier: needs Prism and ../shared/specs"]
fn settings_names_each_difference_and_passes_identical_registries() {
    let env = AzureEnv::start();
    let source = env.fake.add_registry(RG, "myRegistry", |_| {});
    let different = env.fake.add_registry("targetGroup", "otherRegistry", |r| {
        r["sku"] = json!({"name": "Premium", "tier": "Premium"});
        r["properties"]["publicNetworkAccess"] = json!("Disabled");
        r["properties"]["zoneRedundancy"] = json!("Enabled");
    });
    let same = env.fake.add_registry("targetGroup", "sameRegistry", |_| {});

    let out = env.run(&["azure", "settings", &source, &different]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let table = String::from_utf8_lossy(&out.stdout).to_ascii_lowercase();
    for name in ["sku", "publicnetworkaccess", "zoneredundancy"] {
        assert!(table.contains(name), "{name} not named: {}", show(&out));
    }
    for id in [&source, &different] {
        for suffix in ["", "/replications"] {
            let found = env.fake.find("GET", &format!("{id}{suffix}"));
            assert!(
                found
                    .iter()
                    .any(|r| r.param("api-version").as_deref() == Some("2023-07-01")),
                "no GET {id}{suffix}: {found:#?}"
            );
        }
        // The role assignment mode is read with the api-version that returns it.
        let modes: Vec<_> = env
            .fake
            .find("GET", id)
            .into_iter()
            .filter(|r| r.param("api-version").as_deref() == Some("2025-11-01"))
            .collect();
        assert_eq!(modes.len(), 1, "{:#?}", env.fake.requests());
    }

    let out = env.run(&["azure", "settings", &source, &different, "--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let parsed: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", show(&out)));
    let text = parsed.to_string().to_ascii_lowercase();
    assert!(text.contains("zoneredundancy"), "{parsed}");
    // Zone redundancy is informational (on by default where the region has zones, whatever the
    // property says): expected, with its note; SKU and network access are the differences.
    let row = |name: &str| {
        parsed["settings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["setting"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no {name} row: {parsed}"))
    };
    assert_eq!(row("zoneRedundancy")["verdict"], "expected", "{parsed}");
    assert!(row("zoneRedundancy")["note"]
        .as_str()
        .unwrap()
        .starts_with("informational"));
    assert_eq!(parsed["differences"], 2, "{parsed}");

    let out = env.run(&["azure", "settings", &source, &same]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    env.finish();
}

#[test]
#[ignore = "extra tier: needs Prism and ../shared/specs"]
fn attach_aks_grants_acr_pull_once() {
    let env = AzureEnv::start();
    let registry = env.fake.add_registry(RG, "myRegistry", |_| {});
    let kubelet = random_guid();
    let cluster = env.fake.add_cluster("aksGroup", "myCluster", &kubelet);
    let assignments = format!("{registry}/providers/Microsoft.Authorization/roleAssignments");
    let put_count = || {
        env.fake
            .requests()
            .iter()
            .filter(|r| r.method == "PUT")
            .count()
    };

    let out = env.run(&["azure", "attach-aks", &cluster, "--registry", &registry]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let read = env.fake.find("GET", &cluster);
    assert_eq!(read.len(), 1);
    assert_eq!(read[0].param("api-version").as_deref(), Some("2024-02-01"));
    let listed = env.fake.find("GET", &assignments);
    assert_eq!(listed.len(), 1, "{:#?}", env.fake.requests());
    assert_eq!(
        listed[0].param("api-version").as_deref(),
        Some("2022-04-01")
    );
    assert_eq!(
        listed[0].param("$filter"),
        Some(format!("principalId eq '{kubelet}'"))
    );
    let puts: Vec<_> = env
        .fake
        .requests()
        .into_iter()
        .filter(|r| {
            r.method == "PUT"
                && r.path
                    .to_ascii_lowercase()
                    .starts_with(&format!("{assignments}/").to_ascii_lowercase())
        })
        .collect();
    assert_eq!(puts.len(), 1, "{:#?}", env.fake.requests());
    let properties = &puts[0].body["properties"];
    assert_eq!(
        properties["roleDefinitionId"],
        format!(
            "/subscriptions/{SUB}/providers/Microsoft.Authorization/roleDefinitions/{ACR_PULL}"
        )
    );
    assert_eq!(properties["principalId"], kubelet.as_str());
    assert_eq!(properties["principalType"], "ServicePrincipal");
    assert_eq!(puts[0].param("api-version").as_deref(), Some("2022-04-01"));
    assert_eq!(env.fake.with(|s| s.role_assignments.len()), 1);

    // Second run: the listing shows the assignment, nothing is written.
    let out = env.run(&["azure", "attach-aks", &cluster, "--registry", &registry]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(env.fake.find("GET", &assignments).len(), 2);
    assert_eq!(put_count(), 1);

    // Third run with a listing that lags behind, and the assignment made by another tool (under
    // another name): the PUT meets 409 RoleAssignmentExists, which means done, and the report
    // names the assignment ARM says exists.
    let elsewhere = random_guid();
    env.fake
        .with(|s| s.role_assignments[0]["name"] = serde_json::json!(elsewhere.clone()));
    env.fake.knobs(|k| k.stale_role_list = true);
    let out = env.run(&["azure", "attach-aks", &cluster, "--registry", &registry]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains("already had AcrPull") && said.contains(&elsewhere),
        "{}",
        show(&out)
    );
    assert_eq!(put_count(), 2);
    assert_eq!(env.fake.with(|s| s.role_assignments.len()), 1);

    // Fourth run with one assignment a page and another role of the kubelet listed first: the
    // AcrPull one is on the second page, which is read (nextLink), and nothing is written.
    env.fake.knobs(|k| {
        k.stale_role_list = false;
        k.role_page_size = 1;
    });
    env.fake.with(|s| {
        let mut reader = s.role_assignments[0].clone();
        reader["name"] = serde_json::json!(random_guid());
        reader["properties"]["roleDefinitionId"] = serde_json::json!(format!(
            "/subscriptions/{SUB}/providers/Microsoft.Authorization/roleDefinitions/acdd72a7-3385-48ef-bd42-f606fba81ae7"
        ));
        s.role_assignments.insert(0, reader);
    });
    let listed_before = env.fake.find("GET", &assignments).len();
    let out = env.run(&["azure", "attach-aks", &cluster, "--registry", &registry]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let pages: Vec<_> = env.fake.find("GET", &assignments)[listed_before..].to_vec();
    assert_eq!(pages.len(), 2, "{:#?}", env.fake.requests());
    assert_eq!(pages[1].param("$skipToken").as_deref(), Some("1"));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(&elsewhere),
        "{}",
        show(&out)
    );
    assert_eq!(put_count(), 2);
    env.finish();
}

#[test]
#[ignore = "extra tier: needs Prism and ../shared/specs"]
fn delete_needs_the_name_and_a_verified_copy() {
    let (layout, expected) = sample_layout(1, 7);
    let (src, dst) = (Registry::start(), Registry::start());
    assert_success(&run(&["copy", "-q", &oci(layout.path()), &src.url()]));
    assert_success(&run(&[
        "copy",
        "-q",
        "--repo",
        "team/**",
        &src.url(),
        &dst.url(),
    ]));
    let env = AzureEnv::start();
    let registry = env.fake.add_registry(RG, "myRegistry", |_| {});
    env.fake.knobs(|k| k.running_polls = 2);
    let delete = |confirm: &str| {
        env.run(&[
            "azure",
            "delete",
            &registry,
            "--verified-against",
            &dst.url(),
            "--confirm",
            confirm,
            "--source-endpoint",
            &src.url(),
        ])
    };
    let deletes = || env.fake.find("DELETE", &registry).len();

    // The wrong name: refused.
    let out = delete("myRegistry2");
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert_eq!(deletes(), 0);

    // Verified against itself, under any spelling: refused, whatever the verify would say.
    for itself in [src.url(), format!("http://localhost:{}/team", src.port)] {
        let out = env.run(&[
            "azure",
            "delete",
            &registry,
            "--verified-against",
            &itself,
            "--confirm",
            "myRegistry",
            "--source-endpoint",
            &src.url(),
        ]);
        assert_eq!(out.status.code(), Some(2), "{}", show(&out));
        assert!(String::from_utf8_lossy(&out.stderr).contains("is the registry to delete"));
        assert_eq!(deletes(), 0);
    }

    // A --source-endpoint that names some other, empty registry: its verify passes with no tag
    // at all, which proves nothing about the registry to delete.
    let empty = Registry::start();
    let out = env.run(&[
        "azure",
        "delete",
        &registry,
        "--verified-against",
        &dst.url(),
        "--confirm",
        "myRegistry",
        "--source-endpoint",
        &empty.url(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--allow-empty"));
    assert_eq!(deletes(), 0);

    // The target lacks the chart repositories: refused, nothing deleted.
    let out = delete("myRegistry");
    assert!(
        matches!(out.status.code(), Some(1) | Some(2)),
        "{}",
        show(&out)
    );
    assert_eq!(deletes(), 0, "{}", show(&out));
    assert!(env.fake.with(|s| !s.registries.is_empty()));

    // After a full copy whose one layer is damaged in the target's storage (same size): the
    // verify reads it and refuses; --skip-content-check would trust the storage.
    assert_success(&run(&["copy", "-q", &src.url(), &dst.url()]));
    let (_, layer) = an_image_layer(&open(&dst.url()), &expected);
    let stored = dst.blob_data(&layer);
    let intact = std::fs::read(&stored).unwrap();
    flip_a_byte(&stored);
    let out = delete("myRegistry");
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert_eq!(deletes(), 0, "{}", show(&out));
    std::fs::write(&stored, intact).unwrap();

    // Intact: deleted, and the operation polled to its end.
    let out = delete("myRegistry");
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let done = env.fake.find("DELETE", &registry);
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].param("api-version").as_deref(), Some("2023-07-01"));
    let polls = env.fake.requests().iter().filter(|r| r.is_poll()).count();
    assert_eq!(polls, 3, "two 202s then 200");
    assert!(env.fake.with(|s| s.registries.is_empty()));
    env.finish();
}

/// One role assignment as ARM lists it.
fn role_assignment(scope: &str, principal: &str, principal_type: &str, role: &str) -> Value {
    let name = random_guid();
    json!({
        "id": format!("{scope}/providers/Microsoft.Authorization/roleAssignments/{name}"),
        "name": name,
        "type": "Microsoft.Authorization/roleAssignments",
        "properties": {
            "roleDefinitionId": format!("/subscriptions/{SUB}/providers/Microsoft.Authorization/roleDefinitions/{role}"),
            "principalId": principal,
            "principalType": principal_type,
            "scope": scope,
        }
    })
}

/// `azure roles`: what the source registry grants is given on the target once (a pipeline's
/// AcrPush, a kubelet's AcrPull), what the target grants already and what both inherit are left
/// alone, the source's own identity is not carried, and roles inherited from the source's
/// resource group are given on the target only when asked.
#[test]
#[ignore = "extra tier: needs Prism and ../shared/specs"]
fn roles_gives_the_target_what_the_source_grants_once() {
    const ACR_PUSH: &str = "8311e382-0749-4cb8-b61a-304f252e45ec";
    const READER: &str = "acdd72a7-3385-48ef-bd42-f606fba81ae7";
    const CONTRIBUTOR: &str = "b24988ac-6180-42a0-ab88-20f7382dd24c";
    let env = AzureEnv::start();
    let own_identity = random_guid();
    let source = env.fake.add_registry(RG, "myRegistry", |r| {
        r["identity"] = json!({"type": "SystemAssigned", "principalId": own_identity.clone(), "tenantId": random_guid()});
    });
    let target = env.fake.add_registry("targetGroup", "newRegistry", |_| {});
    let (kubelet, pipeline, readers, ops) =
        (random_guid(), random_guid(), random_guid(), random_guid());
    let source_group = format!("/subscriptions/{SUB}/resourceGroups/{RG}");
    env.fake.with(|s| {
        s.role_assignments.extend([
            role_assignment(&source, &kubelet, "ServicePrincipal", ACR_PULL),
            role_assignment(&source, &pipeline, "ServicePrincipal", ACR_PUSH),
            role_assignment(&target, &pipeline, "ServicePrincipal", ACR_PUSH),
            role_assignment(&source, &own_identity, "ServicePrincipal", ACR_PULL),
            role_assignment(&source_group, &readers, "Group", READER),
            role_assignment(&format!("/subscriptions/{SUB}"), &ops, "User", CONTRIBUTOR),
        ]);
    });
    let assignments = format!("{target}/providers/Microsoft.Authorization/roleAssignments");
    let puts = || {
        env.fake
            .requests()
            .into_iter()
            .filter(|r| {
                r.method == "PUT"
                    && r.path
                        .to_ascii_lowercase()
                        .starts_with(&format!("{assignments}/").to_ascii_lowercase())
            })
            .collect::<Vec<_>>()
    };

    let out = env.run(&["azure", "roles", &source, &target, "--dry-run"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(puts().is_empty(), "a dry run wrote");
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains(&format!(
            "AcrPull for ServicePrincipal {kubelet}: missing on the target: would be given"
        )),
        "{}",
        show(&out)
    );

    let out = env.run(&["azure", "roles", &source, &target]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let said = String::from_utf8_lossy(&out.stdout).to_string();
    let given = puts();
    assert_eq!(given.len(), 1, "{:#?}", env.fake.requests());
    let properties = &given[0].body["properties"];
    assert_eq!(properties["principalId"], kubelet.as_str());
    assert_eq!(
        properties["roleDefinitionId"],
        format!(
            "/subscriptions/{SUB}/providers/Microsoft.Authorization/roleDefinitions/{ACR_PULL}"
        )
    );
    assert_eq!(given[0].param("api-version").as_deref(), Some("2022-04-01"));
    for line in [
        format!("AcrPull for ServicePrincipal {kubelet}: missing on the target: created"),
        format!("AcrPush for ServicePrincipal {pipeline}: already on the target"),
        format!("AcrPull for ServicePrincipal {own_identity}: the source registry's own identity"),
        format!("Reader for Group {readers}: inherited from {source_group}, which the target is not under: not given (--include-inherited"),
        format!("Contributor for User {ops}: inherited from /subscriptions/{SUB}, which holds the target too"),
        "roles: 1 given on the target, 1 already there, 1 inherited by both, 1 inherited by the source only, 0 failed".to_string(),
    ] {
        assert!(said.contains(&line), "{line}: {said}");
    }
    let listed = env.fake.find("GET", &assignments);
    assert_eq!(listed[0].param("$filter").as_deref(), Some("atScope()"));

    // Again: nothing to give. With --include-inherited: the resource group's Reader, on the
    // target registry.
    let out = env.run(&["azure", "roles", &source, &target]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(puts().len(), 1);
    let out = env.run(&[
        "azure",
        "roles",
        &source,
        &target,
        "--include-inherited",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let given = puts();
    assert_eq!(given.len(), 2, "{:#?}", env.fake.requests());
    assert_eq!(given[1].body["properties"]["principalId"], readers.as_str());
    assert_eq!(given[1].body["properties"]["principalType"], "Group");
    let parsed: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", show(&out)));
    assert_eq!(parsed["given"], 1, "{parsed}");
    env.finish();
}

/// `Container Registry Repository Reader` (Microsoft's built-in roles for Containers).
const REPOSITORY_READER: &str = "b93aa761-3e63-49ed-ac28-beffa264f7ac";

/// A registry with ABAC repository permissions (`roleAssignmentMode`, which the registry GET
/// returns from api-version 2025-11-01 on) does not honour AcrPull: `attach-aks` gives the
/// kubelet identity Container Registry Repository Reader there, and an AcrPull it already has
/// does not count. `settings` compares the two registries' modes, and `roles` warns when they
/// differ, naming the assignments the target would not honour.
#[test]
#[ignore = "extra tier: needs Prism and ../shared/specs"]
fn an_abac_registry_gets_the_repository_reader_role_and_its_mode_is_compared() {
    let env = AzureEnv::start();
    let legacy = env.fake.add_registry(RG, "myRegistry", |_| {});
    let abac = env.fake.add_registry("targetGroup", "abacRegistry", |r| {
        r["properties"]["roleAssignmentMode"] = json!("AbacRepositoryPermissions");
    });
    let (kubelet, puller) = (random_guid(), random_guid());
    let cluster = env.fake.add_cluster("aksGroup", "myCluster", &kubelet);
    env.fake.with(|s| {
        s.role_assignments.extend([
            role_assignment(&abac, &kubelet, "ServicePrincipal", ACR_PULL),
            role_assignment(&legacy, &puller, "ServicePrincipal", ACR_PULL),
        ])
    });
    let puts = || {
        env.fake
            .requests()
            .into_iter()
            .filter(|r| r.method == "PUT" && r.path.contains("roleAssignments/"))
            .collect::<Vec<_>>()
    };

    let out = env.run(&["azure", "attach-aks", &cluster, "--registry", &abac]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains("myCluster can now pull from abacRegistry (Container Registry Repository Reader role assignment")
            && said.contains("ABAC repository permissions, which do not honour AcrPull")
            && !said.contains("AcrPull role assignment"),
        "{}",
        show(&out)
    );
    assert!(
        env.fake
            .find("GET", &abac)
            .iter()
            .any(|r| r.param("api-version").as_deref() == Some("2025-11-01")),
        "{:#?}",
        env.fake.requests()
    );
    let given = puts();
    assert_eq!(given.len(), 1, "{:#?}", env.fake.requests());
    assert_eq!(
        given[0].body["properties"]["roleDefinitionId"],
        format!("/subscriptions/{SUB}/providers/Microsoft.Authorization/roleDefinitions/{REPOSITORY_READER}")
    );
    assert_eq!(given[0].body["properties"]["principalId"], kubelet.as_str());
    assert!(given[0].body["properties"].get("condition").is_none());
    // Again: the Reader is there, nothing is written.
    let out = env.run(&["azure", "attach-aks", &cluster, "--registry", &abac]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains("already had Container Registry Repository Reader on abacRegistry"),
        "{}",
        show(&out)
    );
    assert_eq!(puts().len(), 1);

    // settings: a row for the mode, which differs.
    let out = env.run(&["azure", "settings", &legacy, &abac, "--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let parsed: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", show(&out)));
    let row = parsed["settings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["setting"] == "roleAssignmentMode")
        .cloned()
        .unwrap_or_else(|| panic!("no roleAssignmentMode row: {parsed}"));
    assert_eq!(
        (&row["source"], &row["target"], &row["verdict"]),
        (
            &json!("LegacyRegistryPermissions"),
            &json!("AbacRepositoryPermissions"),
            &json!("differs")
        ),
        "{parsed}"
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("roleAssignmentMode"),
        "{}",
        show(&out)
    );

    // roles: warned, with the assignment the target would not honour named.
    let out = env.run(&["azure", "roles", &legacy, &abac, "--dry-run"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let warned = String::from_utf8_lossy(&out.stderr);
    assert!(
        warned.contains("roles: warning: the source registry uses legacy registry permissions")
            && warned.contains("--name abacRegistry --role-assignment-mode rbac`")
            && warned.contains(&format!(
                "not honoured on the target (AbacRepositoryPermissions): AcrPull for ServicePrincipal {puller}"
            )),
        "{}",
        show(&out)
    );
    env.finish();
}
