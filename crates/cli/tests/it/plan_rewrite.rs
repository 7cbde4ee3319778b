//! The rewrite step of `plan` and `apply`: files it would refuse (hard-linked, read-only) are
//! named at plan time and refuse the step before anything is written, with a remedy naming the
//! config key (`[rewrite] in_place_hard_links`), not a `rewrite` flag; unknown keys stay errors.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::plan::{config, plan};
use crate::util::*;

/// A one-repository sample registry, an empty target, and a scratch directory whose
/// `deploy/app.yaml` and `deploy/web.yaml` name one of the source's tags, with
/// `relocation.toml` rewriting `deploy/` (`extra` appended to its `[rewrite]` section). Returns
/// the registries (kept running), the directory, the config, the files' text and what they
/// become.
fn relocation_with_deploy_files(
    extra: &str,
) -> (
    Registry,
    Registry,
    tempfile::TempDir,
    std::path::PathBuf,
    String,
    String,
) {
    let (src, expected) = sample_registry(1);
    let dst = Registry::start();
    let (repo, tag) = expected
        .tags
        .iter()
        .flat_map(|(r, tags)| tags.keys().map(move |t| (r.clone(), t.clone())))
        .find(|(_, t)| !t.starts_with("sha256-"))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let old = format!("image: 127.0.0.1:{}/{repo}:{tag}\n", src.port);
    let new = format!("image: 127.0.0.1:{}/{repo}:{tag}\n", dst.port);
    fs::create_dir(dir.path().join("deploy")).unwrap();
    for name in ["deploy/app.yaml", "deploy/web.yaml"] {
        fs::write(dir.path().join(name), &old).unwrap();
    }
    let cfg = config(
        dir.path(),
        &src.url(),
        &dst.url(),
        &format!("[rewrite]\npaths = [\"deploy\"]\n{extra}"),
    );
    (src, dst, dir, cfg, old, new)
}

/// Runs `apply -q --json [EXTRA...] PLAN` and returns its exit code and summary.
fn apply(plan: &Path, extra: &[&str]) -> (Option<i32>, serde_json::Value) {
    let mut args = vec!["apply", "-q", "--json"];
    args.extend_from_slice(extra);
    args.push(plan.to_str().unwrap());
    let out = run(&args);
    (out.status.code(), json(&out))
}

/// The status and detail of the step of `kind` in an `apply --json` summary.
fn step(summary: &serde_json::Value, kind: &str) -> (String, String) {
    let step = summary["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["step"].as_str().unwrap().ends_with(&format!("-{kind}")))
        .unwrap_or_else(|| panic!("no {kind} step: {summary}"));
    (
        step["status"].as_str().unwrap().to_string(),
        step["detail"].as_str().unwrap().to_string(),
    )
}

/// The `changes` sentence of the plan's rewrite step, and the step.
fn planned_rewrite(plan: &Path) -> serde_json::Value {
    let plan: serde_json::Value = serde_json::from_slice(&fs::read(plan).unwrap()).unwrap();
    plan["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["kind"] == "rewrite")
        .unwrap()
        .clone()
}

#[test]
fn a_hard_linked_file_fails_the_rewrite_step_naming_the_config_key_until_in_place_hard_links_is_set(
) {
    let (_src, _dst, dir, cfg, old, new) = relocation_with_deploy_files("");
    let linked = dir.path().join("deploy/web.yaml");
    let other_name = dir.path().join("web-for-ci.yaml");
    fs::hard_link(&linked, &other_name).unwrap();
    let plan_path = plan(dir.path(), &cfg);
    let planned = planned_rewrite(&plan_path);
    assert_eq!(planned["in_place_hard_links"], false);
    let changes = planned["changes"].as_str().unwrap();
    assert!(
        changes.contains("as the files are now, apply would refuse them")
            && changes.contains("web.yaml has 2 hard links"),
        "plan says so: {changes}"
    );

    let (code, summary) = apply(&plan_path, &[]);
    assert_eq!(code, Some(1), "{summary}");
    let (status, detail) = step(&summary, "rewrite");
    assert_eq!(status, "failed");
    assert!(
        detail.starts_with("nothing written: ")
            && detail.contains(&format!(
                "{} has 2 hard links: replacing it would leave its other names with the old content",
                linked.display()
            ))
            && detail.contains(&format!(
                "set `in_place_hard_links = true` under [rewrite] in {}, plan again and apply with --replan to write hard-linked files in place (or break their links with `cp` first)",
                cfg.display()
            )),
        "{detail}"
    );
    assert!(
        !detail.contains("--in-place-hard-links"),
        "apply has no such flag: {detail}"
    );
    assert_eq!(step(&summary, "verify").0, "not run");
    for path in [dir.path().join("deploy/app.yaml"), linked.clone()] {
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            old,
            "nothing written: {}",
            path.display()
        );
    }

    let text = fs::read_to_string(&cfg).unwrap();
    fs::write(
        &cfg,
        text.replace(
            "paths = [\"deploy\"]\n",
            "paths = [\"deploy\"]\nin_place_hard_links = true\n",
        ),
    )
    .unwrap();
    let plan_path = plan(dir.path(), &cfg);
    let planned = planned_rewrite(&plan_path);
    assert_eq!(planned["in_place_hard_links"], true);
    let changes = planned["changes"].as_str().unwrap();
    assert!(
        changes.contains("hard-linked files written in place") && !changes.contains("refuse"),
        "{changes}"
    );
    let (code, summary) = apply(&plan_path, &["--replan"]);
    assert_eq!(code, Some(0), "{summary}");
    let (status, detail) = step(&summary, "rewrite");
    assert_eq!(
        (status.as_str(), detail.as_str()),
        (
            "done",
            "rewrote 2 references in 2 files (1 written in place: they have other hard links)"
        )
    );
    for path in [dir.path().join("deploy/app.yaml"), linked, other_name] {
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            new,
            "{}",
            path.display()
        );
    }
}

#[test]
fn a_read_only_file_fails_the_rewrite_step_with_nothing_written_and_apply_again_finishes_once_it_is_writable(
) {
    let (_src, _dst, dir, cfg, old, new) = relocation_with_deploy_files("");
    let locked = dir.path().join("deploy/web.yaml");
    fs::set_permissions(&locked, fs::Permissions::from_mode(0o444)).unwrap();
    let plan_path = plan(dir.path(), &cfg);

    let (code, summary) = apply(&plan_path, &[]);
    assert_eq!(code, Some(1), "{summary}");
    let (status, detail) = step(&summary, "rewrite");
    assert_eq!(status, "failed");
    assert_eq!(
        detail,
        format!(
            "nothing written: {} is read-only: not rewritten (make it writable and run again); make the read-only files and directories writable and run apply again",
            locked.display()
        )
    );
    assert_eq!(
        fs::read_to_string(dir.path().join("deploy/app.yaml")).unwrap(),
        old,
        "the writable file is not written either"
    );

    fs::set_permissions(&locked, fs::Permissions::from_mode(0o644)).unwrap();
    let (code, summary) = apply(&plan_path, &[]);
    assert_eq!(code, Some(0), "{summary}");
    assert_eq!(step(&summary, "copy").0, "already done");
    assert_eq!(step(&summary, "rewrite").0, "done");
    for name in ["deploy/app.yaml", "deploy/web.yaml"] {
        assert_eq!(
            fs::read_to_string(dir.path().join(name)).unwrap(),
            new,
            "{name}"
        );
    }
}

/// A YAML file that cannot be parsed (a helmfile's templating) is left as it is: the step still
/// rewrites the others and says, once, which file it did not read.
#[test]
fn yaml_that_cannot_be_parsed_is_left_as_it_is_and_named_by_the_rewrite_step() {
    let (_src, _dst, dir, cfg, _old, new) = relocation_with_deploy_files("");
    let templated = dir.path().join("deploy/helmfile.yaml");
    let text = "releases:\n{{- range .Values.apps }}\n  - name: x\n{{- end }}\n";
    fs::write(&templated, text).unwrap();
    let plan_path = plan(dir.path(), &cfg);

    let out = run(&["apply", "-q", "--json", plan_path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let (status, detail) = step(&json(&out), "rewrite");
    assert_eq!(status, "done");
    assert!(
        detail.contains("1 file that could not be parsed (YAML, a Dockerfile)"),
        "{detail}"
    );
    let warnings: Vec<String> = stderr(&out)
        .lines()
        .filter(|l| l.contains("helmfile.yaml"))
        .map(str::to_string)
        .collect();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].starts_with("apply: rewrite: warning: "),
        "{warnings:?}"
    );
    assert_eq!(fs::read_to_string(&templated).unwrap(), text);
    assert_eq!(
        fs::read_to_string(dir.path().join("deploy/app.yaml")).unwrap(),
        new
    );
}

#[test]
fn a_misspelt_key_in_the_rewrite_section_is_refused_by_plan_naming_it() {
    let (_src, _dst, dir, cfg, _, _) = relocation_with_deploy_files("in_place_hardlinks = true\n");
    let out = run(&[
        "plan",
        "--config",
        cfg.to_str().unwrap(),
        "-o",
        dir.path().join("plan.json").to_str().unwrap(),
    ]);
    assert_exit_code(&out, 2);
    assert!(
        stderr(&out).contains("unknown field `in_place_hardlinks`")
            && stderr(&out).contains("in_place_hard_links"),
        "{}",
        stderr(&out)
    );
    assert!(!dir.path().join("plan.json").exists());
}

/// The rewrite maps login servers: a copy into another prefix of the target would leave the
/// rewritten references naming repositories it did not write, so `plan` refuses the pair.
#[test]
fn a_rewrite_with_a_copy_into_another_prefix_is_refused_by_plan() {
    let (src, _) = sample_registry(1);
    let dst = Registry::start();
    let dir = tempfile::tempdir().unwrap();
    let deploy = dir.path().join("deploy");
    fs::create_dir_all(&deploy).unwrap();
    fs::write(
        deploy.join("pod.yaml"),
        "kind: Pod\nspec:\n  containers:\n  - name: c\n    image: 127.0.0.1:5000/svc:1\n",
    )
    .unwrap();
    let cfg = config(
        dir.path(),
        &src.url(),
        &format!("{}/mirror", dst.url()),
        &format!("[rewrite]\npaths = [\"{}\"]\n", deploy.display()),
    );
    let out = run(&[
        "plan",
        "--config",
        cfg.to_str().unwrap(),
        "-o",
        dir.path().join("plan.json").to_str().unwrap(),
    ]);
    assert_exit_code(&out, 2);
    assert!(
        stderr(&out).contains("from no prefix of [source] to the prefix `mirror` of [target]"),
        "{}",
        stderr(&out)
    );
    assert!(!dir.path().join("plan.json").exists());
}

/// Files that name neither the source nor the target (the config's `[rewrite] from` misspelt,
/// or its paths wrong) would make a rewrite step that changes nothing and is recorded done:
/// `plan` refuses them as `rewrite` does (exit 4), naming the registries the files do name, and
/// writes no plan.
#[test]
fn a_rewrite_whose_files_name_neither_registry_is_refused_by_plan() {
    let (_src, _dst, dir, cfg, _, _) = relocation_with_deploy_files("");
    for name in ["deploy/app.yaml", "deploy/web.yaml"] {
        fs::write(
            dir.path().join(name),
            "image: registry.example:5000/app:v1\n",
        )
        .unwrap();
    }
    let plan_path = dir.path().join("plan.json");
    let out = run(&[
        "plan",
        "--config",
        cfg.to_str().unwrap(),
        "-o",
        plan_path.to_str().unwrap(),
    ]);
    assert_exit_code(&out, 4);
    let err = stderr(&out);
    let warning = err
        .lines()
        .find(|l| l.starts_with("plan: warning: the 2 file(s) of [rewrite] paths name neither"))
        .unwrap_or_else(|| panic!("{err}"));
    assert!(
        warning.contains("their image references name registry.example:5000 (2)")
            && warning.ends_with("no plan was written; exit code 4"),
        "{warning}"
    );
    assert!(!plan_path.exists());
}
