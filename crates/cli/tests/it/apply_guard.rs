//! `apply` deletes the source only after every earlier step of the plan is recorded done in the
//! journal, whichever steps are asked for with `--step`.

use std::path::Path;

use crate::plan::{config, plan};
use crate::util::*;

/// An export whose webhook has no `serviceUri` (ARM never exports it): a blocking finding.
pub const EXPORT_WITH_A_WEBHOOK: &str = r#"{
  "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
  "contentVersion": "1.0.0.0",
  "parameters": { "registries_oldacr_name": { "defaultValue": "oldacr", "type": "String" } },
  "resources": [
    {
      "type": "Microsoft.ContainerRegistry/registries",
      "apiVersion": "2023-07-01",
      "name": "[parameters('registries_oldacr_name')]",
      "location": "eastus",
      "sku": { "name": "Premium" },
      "properties": { "adminUserEnabled": false }
    },
    {
      "type": "Microsoft.ContainerRegistry/registries/webhooks",
      "apiVersion": "2023-07-01",
      "name": "[concat(parameters('registries_oldacr_name'), '/hookeast')]",
      "location": "eastus",
      "dependsOn": [ "[resourceId('Microsoft.ContainerRegistry/registries', parameters('registries_oldacr_name'))]" ],
      "properties": { "status": "enabled", "scope": "", "actions": [ "push" ] }
    }
  ]
}
"#;

fn apply(plan: &Path, steps: &[&str]) -> std::process::Output {
    let mut args = vec!["apply", plan.to_str().unwrap()];
    for step in steps {
        args.extend(["--step", step]);
    }
    run(&args)
}

/// A plan in `dir` from `source` to `dst` that deletes the source at its end (the content check
/// skipped: these tests are about the guard).
fn plan_deleting(dir: &Path, source: &str, dst: &Registry) -> std::path::PathBuf {
    let cfg = config(
        dir,
        source,
        &dst.url(),
        &format!("[delete_source]\nconfirm = \"{source}\"\nskip_content_check = true\n"),
    );
    plan(dir, &cfg)
}

fn journal(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("plan.json.journal")).unwrap_or_default()
}

/// The reviewer's run: the template step fails on a blocking finding, so neither the rewrite nor
/// the verify ran; asking for the copy and the deletion alone deletes nothing, and says which
/// steps are not done and how to run them, in one line, exit 5.
#[test]
fn a_failed_template_step_keeps_the_source_whatever_steps_are_asked_for() {
    let (src, expected) = sample_registry(2);
    let dst = Registry::start();
    let dir = tempfile::tempdir().unwrap();
    let repo = expected.tags.keys().next().unwrap().clone();
    let tag = expected.tags[&repo].keys().next().unwrap().clone();
    std::fs::write(dir.path().join("export.json"), EXPORT_WITH_A_WEBHOOK).unwrap();
    std::fs::create_dir(dir.path().join("deploy")).unwrap();
    let manifest = dir.path().join("deploy/app.yaml");
    let image = format!("image: 127.0.0.1:{}/{repo}:{tag}\n", src.port);
    std::fs::write(&manifest, &image).unwrap();
    let source = src.url();
    let cfg = config(
        dir.path(),
        &source,
        &dst.url(),
        &format!(
            "[template]\ninput = \"export.json\"\nname = \"newacr\"\nlocation = \"westeurope\"\noutput = \"template.out.json\"\n\n[rewrite]\npaths = [\"deploy\"]\n\n[delete_source]\nconfirm = \"{source}\"\n"
        ),
    );
    let out = run(&[
        "plan",
        "--config",
        cfg.to_str().unwrap(),
        "-o",
        dir.path().join("plan.json").to_str().unwrap(),
    ]);
    let plan_path = dir.path().join("plan.json");
    assert!(plan_path.exists(), "{}", stderr(&out));

    let out = apply(&plan_path, &[]);
    assert_exit_code(&out, 1);
    assert!(
        stderr(&out).contains("template: failed: blocking findings"),
        "{}",
        stderr(&out)
    );

    let out = apply(&plan_path, &["copy", "delete_source"]);
    assert_exit_code(&out, 5);
    let err = stderr(&out);
    let refusal: Vec<&str> = err.lines().filter(|l| l.starts_with("error: ")).collect();
    assert_eq!(refusal.len(), 1, "{err}");
    for named in [
        "step 6-delete_source refused",
        "2-template, 4-rewrite, 5-verify",
        "--step template --step rewrite --step verify",
        "blocking template finding",
        "nothing deleted",
    ] {
        assert!(refusal[0].contains(named), "{named}: {err}");
    }
    assert!(!journal(dir.path()).contains("manifest_deleted"));
    assert!(
        !journal(dir.path()).contains("\"3-copy\""),
        "nothing was done"
    );
    assert_holds(&open(&source), &expected.tags, None);
    assert_eq!(std::fs::read_to_string(&manifest).unwrap(), image);

    // Asked alone, or with every other step but the failed one: refused the same way.
    for steps in [
        &["delete_source"][..],
        &["copy", "rewrite", "verify", "delete_source"][..],
    ] {
        let out = apply(&plan_path, steps);
        assert_exit_code(&out, 5);
        assert!(stderr(&out).contains("2-template"), "{}", stderr(&out));
    }
    assert_holds(&open(&source), &expected.tags, None);
}

/// Without a template: the verify is what stands between the copy and the deletion. A run that
/// asks for the deletion after a copy alone is refused; one that runs the verify first deletes.
#[test]
fn the_source_is_deleted_once_the_journal_records_the_verify_or_the_same_run_makes_it() {
    let (src, expected) = sample_registry(2);
    let dst = Registry::start();
    let (dir, source) = (tempfile::tempdir().unwrap(), src.url());
    let plan_path = plan_deleting(dir.path(), &source, &dst);
    assert_success(&apply(&plan_path, &["copy"]));
    let out = apply(&plan_path, &["delete_source"]);
    assert_exit_code(&out, 5);
    let err = stderr(&out);
    assert!(
        err.contains("does not record 3-verify as done") && err.contains("--step verify"),
        "{err}"
    );
    assert_holds(&open(&source), &expected.tags, None);

    let out = apply(&plan_path, &["verify", "delete_source"]);
    assert_success(&out);
    for repo in expected.tags.keys() {
        assert!(
            block_on(open(&source).tags(repo))
                .unwrap_or_default()
                .is_empty(),
            "{repo} was not deleted"
        );
    }
}

/// A source that does not allow deleting manifests (Distribution without
/// `storage.delete.enabled`): the delete step fails saying so, not that deletions failed, and
/// the source keeps everything.
#[test]
fn a_source_that_refuses_deletion_fails_the_step_saying_so_not_that_deletions_failed() {
    use crate::support::http::{Response, Server};
    use crate::support::mount_proxy::forward_as_sent;

    let (src, expected) = sample_registry(1);
    let dst = Registry::start();
    let port = src.port;
    let proxy = Server::start_raw(move |request| {
        if request.method == "DELETE" {
            return Response::json(
                405,
                &serde_json::json!({"errors": [{"code": "UNSUPPORTED", "message": "The operation is unsupported."}]}),
            );
        }
        forward_as_sent(port, request)
    });
    let dir = tempfile::tempdir().unwrap();
    let plan_path = plan_deleting(dir.path(), &proxy.url(), &dst);
    let out = apply(&plan_path, &[]);
    assert_exit_code(&out, 1);
    let said = format!("{}{}", stdout(&out), stderr(&out));
    assert!(
        said.contains("does not allow deleting manifests")
            && said.contains("the source registry does not allow deletion (said above): nothing was verified or deleted")
            && !said.contains("deletions failed"),
        "{said}"
    );
    assert_holds(&open(&src.url()), &expected.tags, None);
}
