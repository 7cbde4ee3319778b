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
            assert!(!found.is_empty(), "no GET {id}{suffix}");
            assert_eq!(found[0].param("api-version").as_deref(), Some("2023-07-01"));
        }
    }

    let out = env.run(&["azure", "settings", &source, &different, "--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let parsed: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", show(&out)));
    let text = parsed.to_string().to_ascii_lowercase();
    assert!(text.contains("zoneredundancy"), "{parsed}");

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
