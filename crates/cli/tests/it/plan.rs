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
    let out_path = dir.join("plan.json");
    let out = run(&[
        "plan",
        "--config",
        config.to_str().unwrap(),
        "-o",
        out_path.to_str().unwrap(),
    ]);
    assert_success(&out);
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
    let plan_path = plan(dir.path(), &cfg);
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
