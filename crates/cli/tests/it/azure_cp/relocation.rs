//! `plan` + `apply` with the Azure steps (issue #11 with #9): `[deploy]` deploys the template
//! through ARM and `[copy] mode = "import"` has the target ACR import server-side; the final
//! deep verify runs on the real data planes.

use std::path::Path;

use serde_json::json;

use super::fake::Recorded;
use super::harness::{show, AzureEnv};
use crate::util::{assert_success, oci, run, sample_layout, Registry};

/// Runs `plan` on `config` into `plan` and returns its steps' kinds, each with `available`.
fn plan_steps(env: &AzureEnv, config: &Path, plan: &Path) -> Vec<(String, bool)> {
    let out = env.run_with(
        &[
            "plan",
            "-c",
            config.to_str().unwrap(),
            "-o",
            plan.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let written: serde_json::Value = serde_json::from_slice(&std::fs::read(plan).unwrap()).unwrap();
    written["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["kind"].as_str().unwrap().to_string(),
                s["available"].as_bool().unwrap(),
            )
        })
        .collect()
}

fn count(requests: &[Recorded], method: &str, suffix: &str) -> usize {
    requests
        .iter()
        .filter(|r| r.method == method && r.path.ends_with(suffix))
        .count()
}

#[test]
#[ignore = "extra tier: needs Prism and ../shared/specs"]
fn apply_runs_the_deploy_and_import_steps_and_resumes_from_its_journal() {
    let (layout, expected) = sample_layout(2, 21);
    let (src, dst) = (Registry::start(), Registry::start());
    assert_success(&run(&["copy", "-q", &oci(layout.path()), &src.url()]));

    let env = AzureEnv::start();
    env.fake.knobs(|k| k.running_polls = 1);
    let (source_id, target_id) = env.fake.add_relocation(&src.url(), &dst.url(), |_| {});

    let template = env.path("target.json");
    std::fs::write(
        &template,
        serde_json::to_vec_pretty(&json!({
            "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
            "contentVersion": "1.0.0.0",
            "resources": [{
                "type": "Microsoft.ContainerRegistry/registries",
                "apiVersion": "2023-07-01",
                "name": "targetRegistry",
                "location": "eastus",
                "sku": {"name": "Premium"},
                "properties": {"adminUserEnabled": false}
            }]
        }))
        .unwrap(),
    )
    .unwrap();
    let config = env.path("relocation.toml");
    std::fs::write(
        &config,
        format!(
            "[source]\nregistry = \"{}\"\nazure_resource_id = \"{source_id}\"\n\n\
             [target]\nregistry = \"{}\"\nazure_resource_id = \"{target_id}\"\n\n\
             [copy]\nmode = \"import\"\n\n\
             [deploy]\nresource_group = \"targetGroup\"\nlocation = \"eastus\"\ntemplate = \"target.json\"\n",
            src.url(),
            dst.url()
        ),
    )
    .unwrap();
    let plan = env.path("plan.json");
    let kinds = plan_steps(&env, &config, &plan);
    assert_eq!(
        kinds,
        [
            ("inventory".to_string(), true),
            ("deploy".to_string(), true),
            ("copy".to_string(), true),
            ("roles".to_string(), true),
            ("verify".to_string(), true),
            ("settings".to_string(), true)
        ]
    );
    // Nothing was asked of ARM while planning.
    assert!(env
        .fake
        .requests()
        .iter()
        .all(|r| r.method == "GET" || r.method == "HEAD" || r.is_poll()));

    let out = env.run(&["apply", plan.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let requests = env.fake.requests();
    assert_eq!(
        count(&requests, "POST", "/deployments/acr-relocate/validate"),
        1,
        "{requests:#?}"
    );
    assert_eq!(count(&requests, "PUT", "/deployments/acr-relocate"), 1);
    let tags: usize = expected.tags.values().map(|t| t.len()).sum();
    let imports = count(&requests, "POST", "/importImage");
    assert!(imports >= tags, "{imports} imports for {tags} tags");
    // The imports really happened (the fake performs them): the deep verify of the plan passed,
    // and our own verify agrees.
    assert_success(&run(&["verify", "--deep", &src.url(), &dst.url()]));

    // A second apply continues from the journal: every step is already done, nothing is sent.
    let before = env.fake.requests().len();
    let out = env.run(&["apply", plan.to_str().unwrap(), "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        summary["steps"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["status"] == "already done"),
        "{summary:#}"
    );
    let after = &env.fake.requests()[before..];
    assert_eq!(
        count(after, "POST", "/importImage") + count(after, "PUT", "/deployments/acr-relocate"),
        0
    );
    env.finish();
}

/// The checklist's last steps in a plan: `[attach_aks]` gives the cluster AcrPull on the target,
/// the settings comparison runs after the verify (both sides name an Azure resource) and a
/// difference stops the run before the deletion; once the target matches, `[delete_source]
/// registry_resource = true` deletes the source's Azure resource after its own deep verify.
#[test]
#[ignore = "extra tier: needs Prism and ../shared/specs"]
fn apply_attaches_aks_compares_settings_and_deletes_the_source_registry_resource_last() {
    let (layout, _) = sample_layout(2, 7);
    let (src, dst) = (Registry::start(), Registry::start());
    assert_success(&run(&["copy", "-q", &oci(layout.path()), &src.url()]));

    let env = AzureEnv::start();
    let (source_id, target_id) = env.fake.add_relocation(&src.url(), &dst.url(), |r| {
        r["properties"]["publicNetworkAccess"] = json!("Disabled");
    });
    let cluster = env
        .fake
        .add_cluster("aksGroup", "aks", &super::aad::random_guid());
    let config = env.path("relocation.toml");
    std::fs::write(
        &config,
        format!(
            "[source]\nregistry = \"{src}\"\nazure_resource_id = \"{source_id}\"\n\n\
             [target]\nregistry = \"{dst}\"\nazure_resource_id = \"{target_id}\"\n\n\
             [attach_aks]\nclusters = [\"{cluster}\"]\n\n\
             [delete_source]\nconfirm = \"sourceRegistry\"\nregistry_resource = true\n",
            src = src.url(),
            dst = dst.url()
        ),
    )
    .unwrap();
    let plan = env.path("plan.json");
    let kinds: Vec<String> = plan_steps(&env, &config, &plan)
        .into_iter()
        .map(|(kind, available)| {
            assert!(available, "{kind} unavailable");
            kind
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "inventory",
            "copy",
            "attach_aks",
            "roles",
            "verify",
            "settings",
            "delete_source"
        ]
    );

    // The target differs in publicNetworkAccess: the settings step fails, naming it, and the
    // source registry is kept.
    let out = env.run(&["apply", plan.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let said = show(&out);
    assert!(
        said.contains("1 difference(s) not expected: publicNetworkAccess"),
        "{said}"
    );
    assert!(said.contains("[settings] expect"), "{said}");
    let assignments = format!("{target_id}/providers/Microsoft.Authorization/roleAssignments/");
    let granted = |requests: &[Recorded]| {
        requests
            .iter()
            .filter(|r| {
                r.method == "PUT"
                    && r.path
                        .to_ascii_lowercase()
                        .starts_with(&assignments.to_ascii_lowercase())
            })
            .count()
    };
    assert_eq!(granted(&env.fake.requests()), 1, "{said}");
    assert_eq!(count(&env.fake.requests(), "DELETE", "/sourceRegistry"), 0);
    assert_eq!(env.fake.with(|s| s.registries.len()), 2);

    // The target matches, but this sign-in may not read diagnostic settings: the plan deletes
    // the source registry resource, which would delete them unread, so the step fails.
    env.fake.with(|s| {
        let source = s.registries[&source_id.to_ascii_lowercase()]["properties"]
            ["publicNetworkAccess"]
            .clone();
        s.registries
            .get_mut(&target_id.to_ascii_lowercase())
            .unwrap()["properties"]["publicNetworkAccess"] = source;
    });
    env.fake.knobs(|k| k.diagnostics_forbidden = true);
    let out = env.run(&["apply", plan.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let said = show(&out);
    assert!(
        said.contains("diagnosticSettings not compared")
            && said.contains("diagnosticSettings could not be read")
            && said.contains("deletes the source registry resource with them"),
        "{said}"
    );
    assert_eq!(env.fake.with(|s| s.registries.len()), 2);
    env.fake.knobs(|k| k.diagnostics_forbidden = false);

    // The target is made to match: the next run goes on from the settings step and deletes the
    // source resource after its own deep verify; the cluster is not asked again.
    env.fake.with(|s| {
        let source = s.registries[&source_id.to_ascii_lowercase()]["properties"]
            ["publicNetworkAccess"]
            .clone();
        s.registries
            .get_mut(&target_id.to_ascii_lowercase())
            .unwrap()["properties"]["publicNetworkAccess"] = source;
    });
    let before = env.fake.requests().len();
    let out = env.run(&["apply", plan.to_str().unwrap(), "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let statuses: Vec<(&str, &str)> = summary["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["step"].as_str().unwrap(), s["status"].as_str().unwrap()))
        .collect();
    assert_eq!(
        statuses,
        [
            ("1-inventory", "already done"),
            ("2-copy", "already done"),
            ("3-attach_aks", "already done"),
            ("4-roles", "already done"),
            ("5-verify", "already done"),
            ("6-settings", "done"),
            ("7-delete_source", "done")
        ],
        "{summary:#}"
    );
    let after = &env.fake.requests()[before..];
    assert_eq!(granted(after), 0);
    assert_eq!(count(after, "DELETE", "/sourceRegistry"), 1, "{after:#?}");
    assert_eq!(env.fake.with(|s| s.registries.len()), 1);
    // The verify read a data plane that is not the registry's login server: said in a note.
    assert!(
        show(&out).contains("which is not the login server (sourceregistry.azurecr.io)"),
        "{}",
        show(&out)
    );

    // A run stopped after ARM was asked to delete it (its step not recorded done): the next
    // run finds the registry gone, after the request its journal records, and is done.
    let journal = env.path("plan.json.journal");
    let lines: Vec<String> = std::fs::read_to_string(&journal)
        .unwrap()
        .lines()
        .filter(|l| !(l.contains("step_done") && l.contains("7-delete_source")))
        .map(str::to_string)
        .collect();
    assert!(
        lines
            .iter()
            .any(|l| l.contains("registry_delete_requested")),
        "{lines:#?}"
    );
    std::fs::write(&journal, lines.join("\n") + "\n").unwrap();
    let out = env.run(&["apply", plan.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(
        show(&out).contains("asked by an earlier run; ARM no longer knows it"),
        "{}",
        show(&out)
    );
    env.finish();
}

/// An import never overwrites (NoForce): a target tag holding another image stops the import
/// step on every run, so the step names the tag and says what to do instead of "run the same
/// command again" (w2rev finding 3).
#[test]
#[ignore = "extra tier: needs Prism and ../shared/specs"]
fn an_import_step_that_meets_a_target_tag_of_another_image_names_it_and_what_to_do() {
    let (layout, expected) = sample_layout(2, 23);
    let (src, dst) = (Registry::start(), Registry::start());
    assert_success(&run(&["copy", "-q", &oci(layout.path()), &src.url()]));
    // The target holds one of the source's tags with an image of its own.
    let (repo, tags) = expected.tags.iter().next().unwrap();
    let tag = tags.keys().next().unwrap();
    crate::support::oci_push::push_image_as(dst.port, repo, tag, "amd64", b"the target's own");

    let env = AzureEnv::start();
    let (source_id, target_id) = env.fake.add_relocation(&src.url(), &dst.url(), |_| {});
    let config = env.path("relocation.toml");
    std::fs::write(
        &config,
        format!(
            "[source]\nregistry = \"{}\"\nazure_resource_id = \"{source_id}\"\n\n\
             [target]\nregistry = \"{}\"\nazure_resource_id = \"{target_id}\"\n\n\
             [copy]\nmode = \"import\"\n",
            src.url(),
            dst.url()
        ),
    )
    .unwrap();
    let plan = env.path("plan.json");
    plan_steps(&env, &config, &plan);
    for _ in 0..2 {
        let out = env.run(&["apply", plan.to_str().unwrap()]);
        assert_ne!(out.status.code(), Some(0), "{}", show(&out));
        let text = show(&out);
        assert!(
            text.contains(&format!("{repo}:{tag}"))
                && text.contains("an import never overwrites them")
                && text.contains("[scope] exclude_repos"),
            "{text}"
        );
    }
    env.finish();
}
