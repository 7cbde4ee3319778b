//! `plan` and `apply` against real registries: a reviewed plan, a journal that survives kills, a
//! changed plan refused.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use acr_relocate::sample::Expected;

use crate::util::*;

/// Writes `relocation.toml` in `dir`.
pub fn config(dir: &Path, source: &str, target: &str, extra: &str) -> PathBuf {
    let path = dir.join("relocation.toml");
    std::fs::write(
        &path,
        format!(
            "[source]\nregistry = \"{source}\"\n\n[target]\nregistry = \"{target}\"\n\n{extra}"
        ),
    )
    .unwrap();
    path
}

/// Runs `plan` and returns the plan file.
pub fn plan(dir: &Path, config: &Path) -> PathBuf {
    let (out, out_path) = plan_into(dir, config);
    assert_success(&out);
    out_path
}

/// Runs `plan --config CONFIG -o DIR/plan.json`: its output, and the plan's path.
fn plan_into(dir: &Path, config: &Path) -> (std::process::Output, PathBuf) {
    let out_path = dir.join("plan.json");
    let out = run(&[
        "plan",
        "--config",
        config.to_str().unwrap(),
        "-o",
        out_path.to_str().unwrap(),
    ]);
    (out, out_path)
}

/// Runs `plan` on a config some of whose steps cannot run (their inputs missing): the plan is
/// written for review, and `plan` names those steps and exits 1, as `apply` refuses the plan.
pub fn plan_with_steps_that_cannot_run(dir: &Path, config: &Path, steps: &[&str]) -> PathBuf {
    let (out, out_path) = plan_into(dir, config);
    assert_exit_code(&out, 1);
    let err = stderr(&out);
    let named = match steps {
        [one] => format!("plan: step {one} cannot run"),
        _ => format!("plan: steps {} cannot run", steps.join(", ")),
    };
    assert!(
        err.contains(&named) && err.contains("apply refuses this plan") && out_path.exists(),
        "{err}"
    );
    out_path
}

/// A sample registry of `repositories` repositories, an empty target registry, and a scratch
/// directory holding `relocation.toml` from one to the other with `extra` appended.
fn registries_and_config(
    repositories: usize,
    extra: &str,
) -> (Registry, Expected, Registry, tempfile::TempDir, PathBuf) {
    let (src, expected) = sample_registry(repositories);
    let dst = Registry::start();
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), &src.url(), &dst.url(), extra);
    (src, expected, dst, dir, cfg)
}

/// The plan file, parsed.
fn read_plan(plan: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(plan).unwrap()).unwrap()
}

/// Runs `apply -q --json PLAN`, asserts it succeeds, and returns its summary.
fn apply_json(plan: &Path) -> serde_json::Value {
    let out = run(&["apply", "-q", "--json", plan.to_str().unwrap()]);
    assert_success(&out);
    json(&out)
}

/// Asserts that every step of an `apply --json` summary has `status`.
fn assert_every_step(summary: &serde_json::Value, status: &str) {
    assert!(
        summary["steps"]
            .as_array()
            .unwrap()
            .iter()
            .all(|st| st["status"] == status),
        "{summary}"
    );
}

fn step_kinds(plan: &Path) -> Vec<String> {
    read_plan(plan)["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["kind"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn plan_writes_nothing_then_apply_relocates_rewrites_and_verifies() {
    let (src, expected, dst, dir, cfg) =
        registries_and_config(6, "[rewrite]\npaths = [\"deploy\"]\n");
    let repo = expected
        .tags
        .iter()
        .find(|(_, t)| t.contains_key("v1.0.0"))
        .map(|(r, _)| r.clone())
        .unwrap();
    let src_host = format!("127.0.0.1:{}", src.port);
    let dst_host = format!("127.0.0.1:{}", dst.port);
    std::fs::create_dir(dir.path().join("deploy")).unwrap();
    let manifest = dir.path().join("deploy/app.yaml");
    std::fs::write(&manifest, format!("image: {src_host}/{repo}:v1.0.0\n")).unwrap();
    let plan_path = dir.path().join("plan.json");
    let out = run(&[
        "plan",
        "--config",
        cfg.to_str().unwrap(),
        "-o",
        plan_path.to_str().unwrap(),
        "--markdown",
    ]);
    assert_success(&out);
    let md = stdout(&out);
    assert!(md.starts_with("# Relocation plan"), "{md}");
    assert!(md.contains("| repositories | tags |"), "{md}");
    assert_eq!(
        step_kinds(&plan_path),
        ["inventory", "copy", "rewrite", "verify"]
    );
    let v = read_plan(&plan_path);
    assert_eq!(v["totals"]["tags"], expected.tag_count() as u64);
    assert_eq!(v["totals"]["repositories"], expected.tags.len() as u64);
    assert!(v["totals"]["estimated_seconds"].as_f64().is_some());
    assert!(
        repositories(&open(&dst.url())).is_empty(),
        "plan wrote nothing"
    );
    assert_eq!(
        std::fs::read_to_string(&manifest).unwrap(),
        format!("image: {src_host}/{repo}:v1.0.0\n")
    );

    assert_every_step(&apply_json(&plan_path), "done");
    assert_holds(&open(&dst.url()), &expected.tags, None);
    assert_eq!(
        std::fs::read_to_string(&manifest).unwrap(),
        format!("image: {dst_host}/{repo}:v1.0.0\n")
    );
    // A second apply finds everything done in the journal.
    assert_every_step(&apply_json(&plan_path), "already done");
}

#[test]
fn a_plan_whose_azure_steps_lack_their_inputs_is_refused_by_apply() {
    let (_src, _, dst, dir, cfg) = registries_and_config(
        2,
        "[copy]\nmode = \"import\"\n\n[deploy]\nresource_group = \"rg-target\"\n",
    );
    let plan_path = plan_with_steps_that_cannot_run(dir.path(), &cfg, &["2-deploy", "3-copy"]);
    let v = read_plan(&plan_path);
    let unavailable: Vec<&str> = v["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["available"] == false)
        .map(|s| s["kind"].as_str().unwrap())
        .collect();
    assert_eq!(unavailable, ["deploy", "copy"]);
    assert_eq!(step_kinds(&plan_path).last().unwrap(), "verify");
    let out = run(&["apply", plan_path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    for needle in [
        "[deploy] needs subscription (or [target] azure_resource_id), location (or [template]), template (or [template])",
        "import needs [target] azure_resource_id",
        "nothing was done",
    ] {
        assert!(stderr(&out).contains(needle), "{needle}: {}", stderr(&out));
    }
    assert!(repositories(&open(&dst.url())).is_empty());
}

#[test]
fn a_changed_plan_is_refused_unless_replan() {
    let (src, expected, dst, dir, cfg) =
        registries_and_config(3, "[scope]\nrepos = [\"team/**\"]\n");
    let plan_path = plan(dir.path(), &cfg);
    assert_success(&run(&["apply", "-q", plan_path.to_str().unwrap()]));
    // Plan again with a wider scope: the plan file changes under the journal.
    let cfg = config(dir.path(), &src.url(), &dst.url(), "");
    plan(dir.path(), &cfg);
    let out = run(&["apply", "-q", plan_path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("changed since apply started"),
        "{}",
        stderr(&out)
    );
    let out = run(&["apply", "-q", "--replan", plan_path.to_str().unwrap()]);
    assert_success(&out);
    assert_holds(&open(&dst.url()), &expected.tags, None);
}

#[test]
fn apply_killed_at_random_points_resumes_from_the_journal_to_a_verified_target() {
    let (src, expected, dst, dir, cfg) = registries_and_config(40, "[copy]\njobs = 2\n");
    let plan_path = plan(dir.path(), &cfg);
    // Kill points spread over the run (a fixed pseudo-random sequence, so failures replay): each
    // run is killed once the journal has grown by a few records, a few milliseconds later.
    let journal_path = dir.path().join("plan.json.journal");
    let records = || {
        std::fs::read_to_string(&journal_path)
            .map(|t| t.lines().count())
            .unwrap_or(0)
    };
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut kills = 0;
    for _ in 0..6 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let grow = 2 + (seed % 70) as usize;
        let delay = (seed >> 8) % 120;
        let before = records();
        let mut child = Command::new(env!("CARGO_BIN_EXE_acr-relocate"))
            .args(["apply", "-q", plan_path.to_str().unwrap()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while records() < before + grow
            && child.try_wait().unwrap().is_none()
            && std::time::Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(2));
        }
        std::thread::sleep(Duration::from_millis(delay));
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap();
            kills += 1;
        }
        child.wait().unwrap();
    }
    let journal = std::fs::read_to_string(&journal_path).unwrap();
    assert!(journal.lines().filter(|l| l.contains("\"start\"")).count() >= kills);
    let done_before = journal
        .lines()
        .filter(|l| l.contains("\"repository_done\""))
        .count();
    assert!(
        journal.contains("\"repository_started\""),
        "no run got as far as the copy: {journal}"
    );
    let s = apply_json(&plan_path);
    let last = &s["steps"].as_array().unwrap().last().unwrap()["status"];
    assert!(last == "done" || last == "already done", "{s}");
    assert_holds(&open(&dst.url()), &expected.tags, None);
    let out = run(&["verify", "--deep", &src.url(), &dst.url()]);
    assert_success(&out);
    let copied_last = s["copied"].as_array().unwrap().len();
    eprintln!("{kills} runs killed; {done_before} repositories recorded done before the last run, which copied {copied_last}");
    assert!(copied_last < expected.tags.len() || done_before == 0);
}

#[test]
fn a_layout_to_layout_plan_with_a_template_runs_every_step() {
    let (src_dir, expected) = sample_layout(3, 11);
    let dir = tempfile::tempdir().unwrap();
    let target = format!("oci:{}", dir.path().join("target").display());
    let fixture = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../template/tests/fixtures/portal-export.zip"
    );
    let cfg = config(
        dir.path(),
        &oci(src_dir.path()),
        &target,
        &format!(
            "[template]\ninput = \"{fixture}\"\nname = \"newreg12345\"\nlocation = \"westeurope\"\noutput = \"out/template.json\"\n"
        ),
    );
    std::fs::create_dir(dir.path().join("out")).unwrap();
    let plan_path = plan(dir.path(), &cfg);
    assert_eq!(
        step_kinds(&plan_path),
        ["inventory", "template", "copy", "verify"]
    );
    // Each finding keeps where it is, what is the matter and what to do apart, as `template`
    // gives them; the review document shows the three.
    let planned = read_plan(&plan_path);
    let finding = &planned["steps"][1]["findings"][0];
    assert!(
        finding["path"].as_str().is_some_and(|p| p.starts_with('/'))
            && finding["message"].is_string()
            && finding["fix"].is_string(),
        "{planned:#}"
    );
    let review = stdout(&run(&[
        "plan",
        "-c",
        cfg.to_str().unwrap(),
        "-o",
        plan_path.to_str().unwrap(),
        "--markdown",
    ]));
    assert!(
        review.contains(&format!("at `{}`", finding["path"].as_str().unwrap()))
            && review.contains(" — fix: "),
        "{review}"
    );
    assert!(!dir.path().join("target").exists(), "plan wrote nothing");
    let out = run(&["apply", "-q", "--json", plan_path.to_str().unwrap()]);
    assert_success(&out);
    let written = std::fs::read_to_string(dir.path().join("out/template.json")).unwrap();
    assert!(written.contains("newreg12345"), "{written}");
    assert_holds(&open(&target), &expected.tags, None);
    assert!(dir.path().join("plan.json.inventory.json").exists());
}

/// `[copy] max_jobs` travels into the plan's copy step (absent when not given, so older plans
/// read the same); one below `jobs` is refused before anything is planned, naming both keys.
#[test]
fn the_transfer_ceiling_of_the_copy_step_is_planned_and_checked() {
    let dir = tempfile::tempdir().unwrap();
    let layout = sample_layout(1, 3).0;
    let source = oci(layout.path());
    let target = oci(&dir.path().join("target"));
    let copy_step = |extra: &str| {
        let cfg = config(dir.path(), &source, &target, extra);
        let plan = read_plan(&plan(dir.path(), &cfg));
        plan["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["kind"]["copy"].is_object() || s["kind"] == "copy")
            .cloned()
            .unwrap_or_else(|| panic!("no copy step in {plan:#}"))
    };
    let pinned = copy_step("[copy]\njobs = 2\nmax_jobs = 2\n");
    assert!(pinned.to_string().contains("\"max_jobs\":2"), "{pinned:#}");
    let default = copy_step("[copy]\njobs = 2\n");
    assert!(!default.to_string().contains("max_jobs"), "{default:#}");

    let cfg = config(
        dir.path(),
        &source,
        &target,
        "[copy]\njobs = 8\nmax_jobs = 4\n",
    );
    let out = run(&["plan", "--config", cfg.to_str().unwrap(), "-o", "/dev/null"]);
    assert_exit_code(&out, 2);
    assert!(
        stderr(&out).contains("[copy] max_jobs 4 is below jobs 8"),
        "{}",
        stderr(&out)
    );
}

/// The reviewer's scenario: a repository recorded as copied changes in the source before the
/// verify; the verify finds it, says so, and the same command copies it again and passes (it
/// used to fail the same way for ever).
#[test]
fn a_repository_changed_in_the_source_after_its_copy_is_copied_again_by_the_same_command() {
    let (src, mut expected, dst, dir, cfg) = registries_and_config(6, "");
    let plan_path = plan(dir.path(), &cfg);
    // The copy alone, as a run stopped after it leaves the journal.
    assert_success(&run(&[
        "apply",
        "-q",
        "--step",
        "copy",
        plan_path.to_str().unwrap(),
    ]));
    let (repo, tags) = expected
        .tags
        .iter()
        .find(|(_, t)| {
            t.contains_key("v1.0.0") && t.contains_key("latest") && t["v1.0.0"] != t["latest"]
        })
        .map(|(r, t)| (r.clone(), t.clone()))
        .unwrap();
    let moved = retag(src.port, &repo, "latest", "v1.0.0");
    assert_eq!(moved, tags["latest"].as_str());

    let out = run(&["apply", "-q", plan_path.to_str().unwrap()]);
    assert_exit_code(&out, 1);
    let err = stderr(&out);
    assert!(
        err.contains("run the same command again: 1 repository will be copied again"),
        "{err}"
    );
    let journal = std::fs::read_to_string(dir.path().join("plan.json.journal")).unwrap();
    assert!(
        journal.contains(&format!(
            "\"event\":\"repository_reopened\",\"step\":\"2-copy\",\"repository\":\"{repo}\""
        )),
        "{journal}"
    );

    let summary = apply_json(&plan_path);
    assert_eq!(summary["copied"], serde_json::json!([repo]), "{summary}");
    let statuses: Vec<&str> = summary["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["already done", "done", "done"], "{summary}");
    expected
        .tags
        .get_mut(&repo)
        .unwrap()
        .insert("v1.0.0".into(), tags["latest"].clone());
    assert_holds(&open(&dst.url()), &expected.tags, None);
}

/// The reviewer's scenario: the target loses a platform manifest of an index after the copy
/// step; the verify step finds it and reopens the repository, and the same command walks that
/// repository deep, puts the manifest back and passes (a plain copy trusted the tag, so every
/// re-run used to fail the same way).
#[test]
fn a_manifest_the_target_lost_after_the_copy_is_put_back_by_the_same_command() {
    let (_src, _, dst, dir, cfg) = registries_and_config(6, "");
    let plan_path = plan(dir.path(), &cfg);
    let plan_arg = plan_path.to_str().unwrap();
    assert_success(&run(&["apply", "-q", "--step", "copy", plan_arg]));
    let repo = "team/svc-1";
    let index = block_on(open(&dst.url()).manifest(repo, "v1.0.0")).unwrap();
    let platform = index.view().unwrap().children()[0].digest.clone();
    delete(dst.port, &format!("/v2/{repo}/manifests/{platform}"));

    let out = run(&["apply", "-q", plan_arg]);
    assert_exit_code(&out, 1);
    let err = stderr(&out);
    assert!(
        err.contains("run the same command again: 1 repository will be copied again"),
        "{err}"
    );

    let out = run(&["apply", "--json", plan_arg]);
    assert_success(&out);
    let summary = json(&out);
    assert_eq!(summary["copied"], serde_json::json!([repo]), "{summary}");
    let copy_step = &summary["steps"][1];
    assert!(
        copy_step["detail"]
            .as_str()
            .unwrap()
            .contains("1 reopened by the verify walked deep: 1 manifest and 0 blobs put back"),
        "{summary}"
    );
    let journal = std::fs::read_to_string(dir.path().join("plan.json.journal")).unwrap();
    assert!(
        journal.contains(&format!(
            "\"event\":\"repository_started\",\"step\":\"2-copy\",\"repository\":\"{repo}\",\"deep\":true"
        )),
        "{journal}"
    );
    assert!(
        block_on(open(&dst.url()).manifest_digest(repo, platform.as_str()))
            .unwrap()
            .is_some()
    );
}

/// The target loses a manifest after the verify step, before the deletion: the delete step's own
/// fresh verify finds it and deletes nothing, and reopens the repository as the verify step
/// does, so the same command copies it again and then deletes (it used to fail the same way for
/// ever, `--replan` included).
#[test]
fn a_manifest_the_target_lost_before_the_deletion_is_copied_again_and_the_source_then_deleted() {
    let (src, expected, dst, dir, cfg) = registries_and_config(4, "");
    let source = src.url();
    let cfg_text = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(
        &cfg,
        format!("{cfg_text}\n[delete_source]\nconfirm = \"{source}\"\nskip_content_check = true\n"),
    )
    .unwrap();
    let plan_path = plan(dir.path(), &cfg);
    let plan_arg = plan_path.to_str().unwrap();
    for step in ["inventory", "copy", "verify"] {
        assert_success(&run(&["apply", "-q", "--step", step, plan_arg]));
    }
    let repo = "team/svc-1";
    let index = block_on(open(&dst.url()).manifest(repo, "v1.0.0")).unwrap();
    let platform = index.view().unwrap().children()[0].digest.clone();
    delete(dst.port, &format!("/v2/{repo}/manifests/{platform}"));

    let out = run(&["apply", "-q", plan_arg]);
    assert_exit_code(&out, 1);
    let err = stderr(&out);
    assert!(
        err.contains("nothing was deleted: its fresh verify found gaps (listed above); run the same command again: 1 repository will be copied again first"),
        "{err}"
    );
    assert_holds(&open(&source), &expected.tags, None);

    let out = run(&["apply", "--json", plan_arg]);
    assert_success(&out);
    let summary = json(&out);
    assert_eq!(summary["copied"], serde_json::json!([repo]), "{summary}");
    assert_eq!(
        summary["steps"].as_array().unwrap().last().unwrap()["status"],
        "done",
        "{summary}"
    );
    for (repository, tags) in &expected.tags {
        for tag in tags.keys() {
            let left = block_on(open(&source).manifest_digest(repository, tag)).unwrap();
            assert!(left.is_none(), "{repository}:{tag} still in the source");
        }
    }
    assert_holds(&open(&dst.url()), &expected.tags, None);
}

/// `oci:` endpoints are stored absolute, taken from the config file's directory as every other
/// path of the config: the plan means the same from any working directory.
#[test]
fn layout_paths_of_the_config_are_taken_from_its_directory_and_stored_absolute() {
    let (layout, expected) = sample_layout(2, 5);
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("conf");
    let elsewhere = dir.path().join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    std::fs::create_dir_all(&conf).unwrap();
    std::fs::rename(layout.path().join("sample"), conf.join("src")).unwrap();
    std::fs::write(
        conf.join("r2.toml"),
        "[source]\nregistry = \"oci:src\"\n\n[target]\nregistry = \"oci:out2\"\n",
    )
    .unwrap();
    let in_dir = |cwd: &Path, args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_acr-relocate"))
            .args(args)
            .current_dir(cwd)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    assert_success(&in_dir(
        dir.path(),
        &["plan", "-c", "conf/r2.toml", "-o", "conf/p2.json"],
    ));
    let v = read_plan(&conf.join("p2.json"));
    let conf_abs = conf.canonicalize().unwrap();
    assert_eq!(
        v["source"],
        format!("oci:{}", conf_abs.join("src").display())
    );
    assert_eq!(
        v["target"],
        format!("oci:{}", conf_abs.join("out2").display())
    );
    assert_eq!(v["config"], conf_abs.join("r2.toml").display().to_string());
    assert_success(&in_dir(&elsewhere, &["apply", "-q", "../conf/p2.json"]));
    assert!(!elsewhere.join("out2").exists());
    assert_holds(
        &open(&format!("oci:{}", conf.join("out2").display())),
        &expected.tags,
        None,
    );
}

/// A `[delete_source] confirm` that does not repeat the source, and a target that is the source,
/// are refused by `plan` before anything is read or written (exit 2); a plan edited to such a
/// confirm is refused by `apply` before any step, naming the config key (not a flag).
#[test]
fn plan_and_apply_refuse_a_confirm_that_differs_and_a_source_that_is_the_target() {
    let (src, _, dst, dir, _) = registries_and_config(1, "");
    let host = format!("127.0.0.1:{}", src.port);
    let output = dir.path().join("refused.json");
    for (target, extra, needle) in [
        (
            dst.url(),
            format!("[delete_source]\nconfirm = \"{host}\"\n"),
            format!(
                "[delete_source] confirm `{host}`: does not repeat the source `{}` exactly",
                src.url()
            ),
        ),
        (
            format!("{}/mirror", src.url()),
            String::new(),
            "they name the same registry".to_string(),
        ),
    ] {
        let cfg = config(dir.path(), &src.url(), &target, &extra);
        let out = run(&[
            "plan",
            "--config",
            cfg.to_str().unwrap(),
            "-o",
            output.to_str().unwrap(),
        ]);
        assert_exit_code(&out, 2);
        let err = stderr(&out);
        assert!(err.contains(&needle), "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(!output.exists(), "nothing written");
    }

    let cfg = config(
        dir.path(),
        &src.url(),
        &dst.url(),
        &format!("[delete_source]\nconfirm = \"{}\"\n", src.url()),
    );
    let plan_path = plan(dir.path(), &cfg);
    let text = std::fs::read_to_string(&plan_path).unwrap();
    let edited = text.replace(
        &format!("\"confirm\": \"{}\"", src.url()),
        &format!("\"confirm\": \"{host}\""),
    );
    assert_ne!(text, edited);
    std::fs::write(&plan_path, edited).unwrap();
    let out = run(&["apply", "-q", plan_path.to_str().unwrap()]);
    assert_exit_code(&out, 2);
    let err = stderr(&out);
    assert!(
        err.contains(&format!("[delete_source] confirm `{host}`"))
            && err.contains("nothing was done"),
        "{err}"
    );
    assert!(!err.contains("--confirm"), "{err}");
    assert!(repositories(&open(&dst.url())).is_empty(), "no step ran");
}

/// A journal answers for one shard: another shard, or the unsharded run, is refused instead of
/// finding everything "already done"; a journal that lost its start line is refused as damaged.
#[test]
fn a_journal_of_another_shard_or_without_its_start_line_is_refused() {
    let (layout, _) = sample_layout(4, 9);
    let dir = tempfile::tempdir().unwrap();
    let target = oci(&dir.path().join("target"));
    let cfg = config(dir.path(), &oci(layout.path()), &target, "");
    let plan_path = plan(dir.path(), &cfg);
    let journal = dir.path().join("shared.journal");
    let apply = |extra: &[&str]| {
        let mut args = vec![
            "apply",
            "-q",
            plan_path.to_str().unwrap(),
            "--journal",
            journal.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        run(&args)
    };
    assert_success(&apply(&["--shard", "1/4"]));
    let recorded = std::fs::read_to_string(&journal).unwrap();
    assert!(
        recorded
            .lines()
            .next()
            .unwrap()
            .contains("\"shard\":\"1/4\""),
        "{recorded}"
    );
    for (extra, needle) in [
        (
            &["--shard", "2/4"][..],
            "belongs to `apply --shard 1/4`, not to `apply --shard 2/4`",
        ),
        (
            &["--step", "verify"][..],
            "belongs to `apply --shard 1/4`, not to an unsharded `apply`",
        ),
    ] {
        let out = apply(extra);
        assert_exit_code(&out, 2);
        let err = stderr(&out);
        assert!(err.contains(needle), "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert_eq!(std::fs::read_to_string(&journal).unwrap(), recorded);
    }
    let without_start: String = recorded.split_inclusive('\n').skip(1).collect();
    std::fs::write(&journal, &without_start).unwrap();
    let out = apply(&["--shard", "1/4"]);
    assert_exit_code(&out, 2);
    assert!(
        stderr(&out).contains("is damaged (its first line is not a `start` record"),
        "{}",
        stderr(&out)
    );
}

/// `apply -q` prints the closing line and nothing else when every step passes; `--help` lists
/// every step kind `--step` takes.
#[test]
fn quiet_apply_prints_only_its_closing_line_and_the_help_lists_every_step() {
    let (layout, _) = sample_layout(1, 2);
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        dir.path(),
        &oci(layout.path()),
        &oci(&dir.path().join("target")),
        "",
    );
    let plan_path = plan(dir.path(), &cfg);
    let out = run(&["apply", "-q", plan_path.to_str().unwrap()]);
    assert_success(&out);
    assert_eq!(stderr(&out), "");
    let text = stdout(&out);
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(text.starts_with("apply: done; journal "), "{text}");

    let help = stdout(&run(&["apply", "--help"]));
    for kind in [
        "inventory",
        "template",
        "deploy",
        "copy",
        "rewrite",
        "verify",
        "delete_source",
    ] {
        assert!(help.contains(&format!("`{kind}`")), "{kind}: {help}");
    }
}

/// A target tag that held another digest is made the source's by the copy step, and the step's
/// line names it (as `copy` lists it).
#[test]
fn the_copy_step_names_the_target_tags_it_overwrote() {
    let (src, _, dst, dir, cfg) = registries_and_config(2, "");
    assert_success(&run(&["copy", "-q", &src.url(), &dst.url()]));
    let repo = "team/svc-1";
    retag(dst.port, repo, "v1.1.0", "v1.0.0");
    let plan_path = plan(dir.path(), &cfg);
    let summary = apply_json(&plan_path);
    let copy_step = summary["steps"][1]["detail"].as_str().unwrap().to_string();
    assert!(
        copy_step.contains(&format!(
            "1 target tags that held another digest overwritten ({repo}:v1.0.0)"
        )),
        "{summary}"
    );
    // The verify step's line is the verdict, without the step's name again.
    let verify_step = summary["steps"][2]["detail"].as_str().unwrap();
    assert!(
        verify_step.contains(" tags ok, ") && !verify_step.starts_with("verify: "),
        "{summary}"
    );
}

/// `[copy] referrers = false` is `copy --no-referrers` for the whole plan: the copy leaves the
/// referrers behind (listed untagged by a layout, or in `sha256-<hex>` fallback tags by a
/// registry without the referrers API), the verify steps do not ask for them, so the first
/// `apply` finishes and a second has nothing to do. With `[delete_source]` it is refused: the
/// source's deletion would lose them.
#[test]
fn a_plan_without_referrers_finishes_and_cannot_delete_the_source() {
    let (layout, expected) = sample_layout(3, 6);
    let (fallback_tags, _) = sample_registry(3);
    for source in [oci(layout.path()), fallback_tags.url()] {
        let dst = Registry::start();
        let dir = tempfile::tempdir().unwrap();
        let cfg = config(
            dir.path(),
            &source,
            &dst.url(),
            "[copy]\nreferrers = false\n",
        );
        let plan_path = plan(dir.path(), &cfg);
        let plan_arg = plan_path.to_str().unwrap();
        assert_success(&run(&["apply", "-q", plan_arg]));
        assert_success(&run(&["apply", "-q", plan_arg]));
        let target = open(&dst.url());
        for (repo, subject, referrer) in &expected.referrers {
            let held = block_on(target.manifest_digest(repo, referrer.as_str())).unwrap();
            assert_eq!(held, None, "{source}: {repo}@{referrer}");
            let tag = subject.as_str().replacen(':', "-", 1);
            let held = block_on(target.manifest_digest(repo, &tag)).unwrap();
            assert_eq!(held, None, "{source}: {repo}:{tag}");
        }
        assert_success(&run(&["verify", "--no-referrers", &source, &dst.url()]));
        if source.starts_with("oci:") {
            continue; // only a registry is deleted from
        }

        let deleting =
            format!("[copy]\nreferrers = false\n\n[delete_source]\nconfirm = \"{source}\"\n");
        let cfg = config(dir.path(), &source, &dst.url(), &deleting);
        std::fs::remove_file(&plan_path).unwrap();
        let out = run(&["plan", "--config", cfg.to_str().unwrap(), "-o", plan_arg]);
        assert_exit_code(&out, 2);
        assert!(
            stderr(&out).contains("[copy] referrers = false leaves the source's referrers"),
            "{}",
            stderr(&out)
        );
        assert!(!plan_path.exists());
    }
}
