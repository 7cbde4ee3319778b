//! What `plan` checks in the rewrite and copy steps before anything runs, and what `apply` does
//! when they would not work: mentions of the old registry the rewrite leaves alone (listed, and
//! holding back a plan that deletes the source), files that name neither registry (refused),
//! references to images the target will not hold (refused, and a remedy that is not "run the
//! same command again"), target tags the copy would overwrite (named; `[copy] no_overwrite`
//! keeps them), and a `[rewrite] to` that follows a copy into a prefix.

use std::fs;
use std::path::{Path, PathBuf};

use acr_relocate::digest::Digest;

use crate::plan::config;
use crate::support::oci_push::push_image_as;
use crate::util::*;

/// The digest `repository:tag` points at in the registry at `url`, if any.
fn digest_at(url: &str, repository: &str, tag: &str) -> Option<Digest> {
    block_on(open(url).manifest_digest(repository, tag)).unwrap()
}

/// A source holding `team/web:1.0`, `team/web:2.0` and `team/api:1.0` (small images of their
/// own), and an empty target.
fn registries() -> (Registry, Registry) {
    let src = Registry::start();
    for (repository, tag) in [
        ("team/web", "1.0"),
        ("team/web", "2.0"),
        ("team/api", "1.0"),
    ] {
        push_image_as(
            src.port,
            repository,
            tag,
            "amd64",
            format!("the layer of {repository}:{tag}").as_bytes(),
        );
    }
    (src, Registry::start())
}

/// The host of a registry, as references name it.
fn host(registry: &Registry) -> String {
    format!("127.0.0.1:{}", registry.port)
}

/// Writes `files` (path relative to `dir`, text) into `dir`.
fn write_files(dir: &Path, files: &[(&str, String)]) {
    for (name, text) in files {
        let path = dir.join(name);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }
}

/// Runs `plan --config CONFIG -o DIR/plan.json [EXTRA...]`: its output, and the plan's path.
fn run_plan(dir: &Path, config: &Path, extra: &[&str]) -> (std::process::Output, PathBuf) {
    let plan = dir.join("plan.json");
    let mut args = vec![
        "plan",
        "--config",
        config.to_str().unwrap(),
        "-o",
        plan.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    (run(&args), plan)
}

/// The plan file, parsed.
fn read_plan(plan: &Path) -> serde_json::Value {
    serde_json::from_slice(&fs::read(plan).unwrap()).unwrap()
}

/// The plan's step of `kind`.
fn planned(plan: &Path, kind: &str) -> serde_json::Value {
    read_plan(plan)["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind} step"))
        .clone()
}

/// Runs `apply -q --json [EXTRA...] PLAN`: its output, exit code and summary.
fn apply(plan: &Path, extra: &[&str]) -> (std::process::Output, serde_json::Value) {
    let mut args = vec!["apply", "-q", "--json"];
    args.extend_from_slice(extra);
    args.push(plan.to_str().unwrap());
    let out = run(&args);
    let summary = json(&out);
    (out, summary)
}

/// Runs `apply -q PLAN`: its output (the closing line on stdout).
fn apply_text(plan: &Path) -> std::process::Output {
    run(&["apply", "-q", plan.to_str().unwrap()])
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

/// A relocation that deletes the source, whose deployment files hold a reference (rewritten)
/// and two mentions the rewrite leaves alone: a script's `docker pull` and a Job's command.
/// Returns the registries, the directory, the config, and the script.
fn deleting_relocation_with_mentions(
    extra: &str,
) -> (Registry, Registry, tempfile::TempDir, PathBuf, PathBuf) {
    let (src, dst) = registries();
    let (old, source) = (host(&src), src.url());
    let dir = tempfile::tempdir().unwrap();
    write_files(
        dir.path(),
        &[
            ("deploy/web.yaml", format!("image: {old}/team/web:1.0\n")),
            (
                "deploy/pull.sh",
                format!("#!/bin/sh\ndocker pull {old}/team/api:1.0\n"),
            ),
            (
                "deploy/job.yaml",
                format!(
                    "kind: Job\nspec:\n  template:\n    spec:\n      containers:\n      - name: warm\n        image: busybox:1.36\n        command: [\"sh\", \"-c\", \"crane pull {old}/team/web:1.0 /tmp/web.tar\"]\n"
                ),
            ),
        ],
    );
    let cfg = config(
        dir.path(),
        &source,
        &dst.url(),
        &format!(
            "[scope]\ntag = '1\\.0'\n\n[rewrite]\npaths = [\"deploy\"]\n{extra}\n[delete_source]\nconfirm = \"{source}\"\n"
        ),
    );
    let script = dir.path().join("deploy/pull.sh");
    (src, dst, dir, cfg, script)
}

/// Mentions of the source that the rewrite cannot change are listed by `plan` (JSON, Markdown,
/// stderr), and hold the rewrite step back while the plan deletes the source: `apply` rewrites
/// what it can, fails the step naming them, deletes nothing, and says what to do; once they are
/// fixed by hand the same command finishes (the files it rewrote are left as they are).
#[test]
fn mentions_of_a_source_the_plan_deletes_hold_back_the_rewrite_until_they_are_fixed() {
    let (src, dst, dir, cfg, script) = deleting_relocation_with_mentions("");
    let (old, new) = (host(&src), host(&dst));
    let (out, plan_path) = run_plan(dir.path(), &cfg, &["--markdown"]);
    assert_exit_code(&out, 1);
    let err = stderr(&out);
    assert!(
        err.contains(
            "plan: step 3-rewrite would fail as things are now: the files still mention the source"
        ) && err.contains("accept_mentions = true")
            && err.contains("never delete the source; exit code 1"),
        "{err}"
    );
    let md = stdout(&out);
    let script_line = format!("{}:2: docker pull {old}/team/api:1.0", script.display());
    let job_line = format!("{}:8:", dir.path().join("deploy/job.yaml").display());
    assert!(
        md.contains(&format!("## Mentions of `{old}` the rewrite leaves alone"))
            && md.contains(&format!("- {script_line}"))
            && md.contains(&job_line),
        "{md}"
    );
    let rewrite = planned(&plan_path, "rewrite");
    let mentions = rewrite["mentions"].as_array().unwrap();
    assert_eq!(mentions.len(), 2, "{rewrite}");
    assert_eq!(mentions[1]["path"], script.display().to_string());
    assert_eq!(mentions[1]["line"], 2);
    let changes = rewrite["changes"].as_str().unwrap();
    assert!(
        changes.contains("leaves 2 mentions of") && changes.contains(&script_line),
        "{changes}"
    );

    let (out, summary) = apply(&plan_path, &[]);
    assert_exit_code(&out, 1);
    let (status, detail) = step(&summary, "rewrite");
    assert_eq!(status, "failed", "{summary}");
    assert!(
        detail.starts_with("rewrote 1 references in 1 files; but 2 mentions of the source")
            && detail.contains(&script_line),
        "{detail}"
    );
    assert_eq!(step(&summary, "delete_source").0, "not run");
    assert!(digest_at(&src.url(), "team/api", "1.0").is_some());
    assert_eq!(
        fs::read_to_string(dir.path().join("deploy/web.yaml")).unwrap(),
        format!("image: {new}/team/web:1.0\n")
    );
    let out = apply_text(&plan_path);
    assert_exit_code(&out, 1);
    let closing = stdout(&out);
    assert!(
        closing.contains("apply: stopped: the deployment files still mention the source")
            && closing.contains("point them at")
            && closing.contains("by hand (or delete them), then run the same command again")
            && closing.contains("accept_mentions = true"),
        "{closing}"
    );
    assert!(
        stderr(&out)
            .contains("error: step 3-rewrite: rewrote 0 references in 0 files; but 2 mentions"),
        "the rewrite is idempotent: {}",
        stderr(&out)
    );

    // Fixed by hand: the same command rewrites nothing more, and goes on to the deletion.
    for path in [script.clone(), dir.path().join("deploy/job.yaml")] {
        let text = fs::read_to_string(&path).unwrap();
        fs::write(&path, text.replace(&old, &new)).unwrap();
    }
    let (out, summary) = apply(&plan_path, &[]);
    assert_exit_code(&out, 0);
    assert_eq!(
        step(&summary, "rewrite"),
        ("done".into(), "rewrote 0 references in 0 files".into())
    );
    assert_eq!(step(&summary, "delete_source").0, "done");
    assert_eq!(digest_at(&src.url(), "team/api", "1.0"), None);
    assert_eq!(
        fs::read_to_string(dir.path().join("deploy/web.yaml")).unwrap(),
        format!("image: {new}/team/web:1.0\n")
    );
}

/// `accept_mentions = true` lets the plan delete the source while the mentions remain: they are
/// still listed, by `plan` and by the step.
#[test]
fn accept_mentions_lets_the_source_go_with_the_mentions_listed() {
    let (src, _dst, dir, cfg, script) =
        deleting_relocation_with_mentions("accept_mentions = true\n");
    let old = host(&src);
    let (out, plan_path) = run_plan(dir.path(), &cfg, &[]);
    assert_success(&out);
    let rewrite = planned(&plan_path, "rewrite");
    assert_eq!(rewrite["accept_mentions"], true);
    assert_eq!(rewrite["mentions"].as_array().unwrap().len(), 2);

    let out = run(&["apply", "--json", plan_path.to_str().unwrap()]);
    assert_exit_code(&out, 0);
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "apply: rewrite: left alone (2 mentions of {old} that are not image fields; check them by hand):"
        )) && err.contains(&format!("  {}:2: docker pull {old}/team/api:1.0", script.display())),
        "{err}"
    );
    let summary = json(&out);
    let (status, detail) = step(&summary, "rewrite");
    assert_eq!(status, "done");
    assert!(
        detail.contains("2 mentions of")
            && detail.contains("(accept_mentions): check them by hand"),
        "{detail}"
    );
    assert_eq!(step(&summary, "delete_source").0, "done");
    assert_eq!(digest_at(&src.url(), "team/api", "1.0"), None);
}

/// Files that name neither registry (here the source under another of its names) would make a
/// rewrite step that changes nothing and is recorded done, before the source is deleted:
/// refused as `rewrite` refuses it, exit 4, no plan written.
#[test]
fn files_that_name_neither_registry_are_refused_by_plan_with_exit_4() {
    let (src, dst) = registries();
    let dir = tempfile::tempdir().unwrap();
    write_files(
        dir.path(),
        &[(
            "deploy/web.yaml",
            format!("image: localhost:{}/team/web:1.0\n", src.port),
        )],
    );
    let source = src.url();
    let cfg = config(
        dir.path(),
        &source,
        &dst.url(),
        &format!("[rewrite]\npaths = [\"deploy\"]\n\n[delete_source]\nconfirm = \"{source}\"\n"),
    );
    let (out, plan_path) = run_plan(dir.path(), &cfg, &[]);
    assert_exit_code(&out, 4);
    let err = stderr(&out);
    let line = err
        .lines()
        .find(|l| l.starts_with("plan: warning: the 1 file(s) of [rewrite] paths name neither"))
        .unwrap_or_else(|| panic!("{err}"));
    assert!(
        line.contains(&format!(
            "their image references name localhost:{} (1)",
            src.port
        )) && line.contains("check the spelling of [rewrite] from")
            && line.ends_with("no plan was written; exit code 4"),
        "{line}"
    );
    assert!(!plan_path.exists());
}

/// A reference to a tag the copy will not bring (left out by `[scope]`, or not in the source)
/// and the target does not hold is refused by `plan`, naming the file, the line and why.
#[test]
fn references_to_images_the_copy_does_not_bring_are_refused_by_plan() {
    let (src, dst) = registries();
    let old = host(&src);
    let dir = tempfile::tempdir().unwrap();
    write_files(
        dir.path(),
        &[(
            "deploy/web.yaml",
            format!(
                "image: {old}/team/web:1.0\n---\nimage: {old}/team/web:2.0\n---\nimage: {old}/team/api:9.9\n"
            ),
        )],
    );
    let cfg = config(
        dir.path(),
        &src.url(),
        &dst.url(),
        "[scope]\ntag = '1\\.0'\n\n[rewrite]\npaths = [\"deploy\"]\n",
    );
    let (out, plan_path) = run_plan(dir.path(), &cfg, &[]);
    assert_exit_code(&out, 2);
    let err = stderr(&out);
    let file = dir.path().join("deploy/web.yaml");
    let new = host(&dst);
    for needle in [
        "error: [rewrite] would point 2 references at images the target will not hold after the copy: ".to_string(),
        format!(
            "{}:3: {new}/team/web:2.0: [scope] tag = '1\\.0' leaves this tag of `team/web` out of the copy, and the target does not hold it",
            file.display()
        ),
        format!(
            "{}:5: {new}/team/api:9.9: the source has no tag `9.9` in `team/api`, and the target does not hold it",
            file.display()
        ),
        "widen [scope] in --config".to_string(),
        "or edit those files to name images the copy brings; nothing was written".to_string(),
    ] {
        assert!(err.contains(&needle), "{needle}: {err}");
    }
    assert!(!plan_path.exists());
    assert!(repositories(&open(&dst.url())).is_empty());
}

/// A tag the target holds already counts, though the scope leaves it out; if the target loses it
/// before `apply`, the rewrite step fails, and the closing line says to widen the scope or edit
/// the file, not to run the same command again.
#[test]
fn a_reference_the_target_no_longer_holds_at_apply_says_what_to_do() {
    let (src, dst) = registries();
    let old = host(&src);
    let (held, _) = push_image_as(
        dst.port,
        "team/web",
        "2.0",
        "amd64",
        b"the target's own 2.0",
    );
    let dir = tempfile::tempdir().unwrap();
    write_files(
        dir.path(),
        &[(
            "deploy/web.yaml",
            format!("image: {old}/team/web:1.0\n---\nimage: {old}/team/web:2.0\n"),
        )],
    );
    let cfg = config(
        dir.path(),
        &src.url(),
        &dst.url(),
        "[scope]\ntag = '1\\.0'\n\n[rewrite]\npaths = [\"deploy\"]\n",
    );
    let (out, plan_path) = run_plan(dir.path(), &cfg, &[]);
    assert_success(&out);
    delete(dst.port, &format!("/v2/team/web/manifests/{held}"));

    let out = apply_text(&plan_path);
    assert_exit_code(&out, 1);
    let closing = stdout(&out);
    assert!(
        closing.contains(
            "apply: stopped: the rewrite step's references name images the target does not hold"
        ) && closing.contains("widen [scope] in")
            && closing.contains("--replan")
            && closing.contains("or edit those files"),
        "{closing}"
    );
    assert!(
        !closing.contains("fix what is listed and run the same command again"),
        "{closing}"
    );
    assert!(
        stderr(&out).contains("team/web:2.0: the target has no such tag"),
        "{}",
        stderr(&out)
    );
}

/// The plan names the target's tags the copy would overwrite, as `copy --dry-run` names them;
/// `[copy] no_overwrite = true` keeps them: the copy step fails on them (the rest copied), and
/// once the target's tag is gone the same command finishes.
#[test]
fn the_plan_names_the_tags_the_copy_overwrites_and_no_overwrite_keeps_them() {
    let (src, dst) = registries();
    let (theirs, _) = push_image_as(
        dst.port,
        "team/api",
        "1.0",
        "arm64",
        b"the target's own api",
    );
    let ours = digest_at(&src.url(), "team/api", "1.0").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let line = format!("team/api:1.0: the target has {theirs}, the source {ours}");

    let cfg = config(dir.path(), &src.url(), &dst.url(), "");
    let (out, plan_path) = run_plan(dir.path(), &cfg, &["--markdown"]);
    assert_success(&out);
    let md = stdout(&out);
    assert!(
        md.contains("## Target tags the copy overwrites")
            && md.contains(&format!("- would overwrite {line}")),
        "{md}"
    );
    let copy = planned(&plan_path, "copy");
    assert_eq!(
        copy["overwrites"],
        serde_json::json!([{"item": "team/api:1.0", "target_has": theirs.to_string(), "source": ours.to_string()}])
    );
    assert!(copy.get("no_overwrite").is_none(), "{copy}");
    assert!(
        copy["changes"]
            .as_str()
            .unwrap()
            .contains(&format!("would overwrite {line}")),
        "{copy}"
    );

    let cfg = config(
        dir.path(),
        &src.url(),
        &dst.url(),
        "[copy]\nno_overwrite = true\n",
    );
    let (out, plan_path) = run_plan(dir.path(), &cfg, &[]);
    assert_exit_code(&out, 1);
    assert!(
        stderr(&out).contains("plan: step 2-copy would fail as things are now: no_overwrite keeps 1 tag of the target"),
        "{}",
        stderr(&out)
    );
    let copy = planned(&plan_path, "copy");
    assert_eq!(copy["no_overwrite"], true);
    assert!(
        copy["changes"]
            .as_str()
            .unwrap()
            .contains(&format!("would keep {line}")),
        "{copy}"
    );

    let out = apply_text(&plan_path);
    assert_exit_code(&out, 1);
    assert!(
        stderr(&out).contains(&format!("kept {line} (no_overwrite)")),
        "{}",
        stderr(&out)
    );
    assert!(
        stdout(&out).contains(
            "apply: stopped: [copy] no_overwrite kept target tags that hold other images"
        ) && stdout(&out)
            .contains("rename or remove them in the target, then run the same command again"),
        "{}",
        stdout(&out)
    );
    assert_eq!(
        digest_at(&dst.url(), "team/api", "1.0"),
        Some(theirs.clone())
    );
    assert_eq!(
        digest_at(&dst.url(), "team/web", "2.0"),
        digest_at(&src.url(), "team/web", "2.0"),
        "the rest is copied"
    );

    delete(dst.port, &format!("/v2/team/api/manifests/{theirs}"));
    let (out, summary) = apply(&plan_path, &[]);
    assert_exit_code(&out, 0);
    assert_eq!(step(&summary, "verify").0, "done", "{summary}");
    assert_eq!(digest_at(&dst.url(), "team/api", "1.0"), Some(ours));
}

/// A copy into a prefix of the target: `[rewrite] to = "HOST/PREFIX"` follows it (as `rewrite
/// --to HOST/PREFIX` does); without `to`, or with another prefix, `plan` refuses it and names
/// the `to` to write.
#[test]
fn a_rewrite_to_with_the_prefix_of_the_copy_follows_it() {
    let (src, dst) = registries();
    let (old, new) = (host(&src), host(&dst));
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("deploy/web.yaml");
    write_files(
        dir.path(),
        &[("deploy/web.yaml", format!("image: {old}/team/web:1.0\n"))],
    );
    let target = format!("{}/moved", dst.url());
    for (to, says) in [
        (
            String::new(),
            format!("[rewrite] points references at {new} (no `to` given: the target's host, without a prefix), and the copy moves repositories from no prefix of [source] to the prefix `moved` of [target]"),
        ),
        (
            format!("to = \"{new}/other\"\n"),
            format!("[rewrite] to = \"{new}/other\" points references at the prefix `other` of {new}, and the copy moves"),
        ),
    ] {
        let cfg = config(
            dir.path(),
            &src.url(),
            &target,
            &format!("[rewrite]\npaths = [\"deploy\"]\n{to}"),
        );
        let (out, plan_path) = run_plan(dir.path(), &cfg, &[]);
        assert_exit_code(&out, 2);
        let err = stderr(&out);
        assert!(
            err.contains(&says)
                && err.contains(&format!("write to = \"{new}/moved\" under [rewrite]")),
            "{err}"
        );
        assert!(!plan_path.exists());
    }

    let cfg = config(
        dir.path(),
        &src.url(),
        &target,
        &format!("[rewrite]\npaths = [\"deploy\"]\nto = \"{new}/moved\"\n"),
    );
    let (out, plan_path) = run_plan(dir.path(), &cfg, &[]);
    assert_success(&out);
    assert_eq!(planned(&plan_path, "rewrite")["to"], format!("{new}/moved"));
    let (out, summary) = apply(&plan_path, &[]);
    assert_exit_code(&out, 0);
    assert_eq!(step(&summary, "rewrite").0, "done", "{summary}");
    assert_eq!(
        fs::read_to_string(&manifest).unwrap(),
        format!("image: {new}/moved/team/web:1.0\n")
    );
    assert!(digest_at(&dst.url(), "moved/team/web", "1.0").is_some());
}

/// With a `[source]` prefix, `[scope] map` is relative to it, in the rewrite as in the copy:
/// `SOURCE/team/web:1.0` becomes `TARGET/team/frontend/web:1.0` (w2rev finding 2: the plan
/// was refused, blaming `[scope]`).
#[test]
fn a_rename_under_a_source_prefix_is_followed_by_the_rewrite() {
    let (src, dst) = registries();
    let (old, new) = (host(&src), host(&dst));
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("deploy/web.yaml");
    write_files(
        dir.path(),
        &[("deploy/web.yaml", format!("image: {old}/team/web:1.0\n"))],
    );
    let cfg = config(
        dir.path(),
        &format!("{}/team", src.url()),
        &format!("{}/team", dst.url()),
        "[scope]\nmap = [\"web=frontend/web\"]\n\n[rewrite]\npaths = [\"deploy\"]\n",
    );
    let (out, plan_path) = run_plan(dir.path(), &cfg, &[]);
    assert_success(&out);
    let (out, _) = apply(&plan_path, &[]);
    assert_exit_code(&out, 0);
    assert_eq!(
        fs::read_to_string(&manifest).unwrap(),
        format!("image: {new}/team/frontend/web:1.0\n")
    );
    assert!(digest_at(&dst.url(), "team/frontend/web", "1.0").is_some());
}

/// A plan that deletes the source checks the files for the source's own name: a `[rewrite]
/// from` naming it otherwise (an alias, a misspelling) would leave the files that use its own
/// name pointing at a deleted registry, unchecked; refused, nothing written (w2rev finding 1).
#[test]
fn a_plan_that_deletes_the_source_refuses_a_rewrite_from_another_name_of_it() {
    let (src, dst) = registries();
    let dir = tempfile::tempdir().unwrap();
    write_files(
        dir.path(),
        &[(
            "deploy/web.yaml",
            format!("image: localhost:{}/team/web:1.0\n", src.port),
        )],
    );
    let cfg = config(
        dir.path(),
        &src.url(),
        &dst.url(),
        &format!(
            "[rewrite]\npaths = [\"deploy\"]\nfrom = \"localhost:{}\"\n\n[delete_source]\nconfirm = \"{}\"\n",
            src.port,
            src.url()
        ),
    );
    let (out, plan_path) = run_plan(dir.path(), &cfg, &[]);
    assert_exit_code(&out, 2);
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "[rewrite] from = \"localhost:{}\" is not the source's own name",
            src.port
        )) && err.contains("take `from` out"),
        "{err}"
    );
    assert!(!plan_path.exists());
}

/// A target whose tags of a repository cannot be read leaves the overwrites there unchecked:
/// said on stderr, not taken for "nothing overwritten" (w2rev finding 5).
#[test]
fn overwrites_the_plan_could_not_check_are_warned_about() {
    use crate::support::http::{Request, Response, Server};
    let (src, dst) = registries();
    assert_success(&run(&[
        "copy",
        "-q",
        "--repo",
        "team/web",
        &src.url(),
        &dst.url(),
    ]));
    let upstream = dst.port;
    let proxy = Server::start_raw(move |r: &Request| {
        if r.method == "GET" && r.path.starts_with("/v2/team/web/tags/list") {
            let denied =
                serde_json::json!({"errors": [{"code": "DENIED", "message": "no listing here"}]});
            return Response::json(403, &denied);
        }
        crate::support::mount_proxy::forward_as_sent(upstream, r)
    });
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), &src.url(), &proxy.url(), "");
    let (out, _) = run_plan(dir.path(), &cfg, &[]);
    let err = stderr(&out);
    assert!(
        err.contains("plan: warning: the target could not be read for the tags the copy would overwrite in 1 place: team/web"),
        "{err}"
    );
}

/// A reference the plan refuses says what really leaves it out: a repository outside the
/// `[source]` prefix, a referrers fallback tag under `[copy] referrers = false`, not "[scope]"
/// (w2rev finding 4).
#[test]
fn a_refused_reference_names_what_leaves_it_out() {
    let (src, dst) = registries();
    push_image_as(src.port, "other/x", "1", "amd64", b"outside the prefix");
    let (old, new) = (host(&src), host(&dst));
    let dir = tempfile::tempdir().unwrap();
    write_files(
        dir.path(),
        &[("deploy/x.yaml", format!("image: {old}/other/x:1\n"))],
    );
    let cfg = config(
        dir.path(),
        &format!("{}/team", src.url()),
        &format!("{}/team", dst.url()),
        "[rewrite]\npaths = [\"deploy\"]\n",
    );
    let (out, plan_path) = run_plan(dir.path(), &cfg, &[]);
    assert_exit_code(&out, 2);
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "{new}/other/x:1: `other/x` is outside the prefix `team` of [source]"
        )),
        "{err}"
    );
    assert!(!plan_path.exists());
}
