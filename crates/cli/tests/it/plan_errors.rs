//! `plan`, `apply` and `delete-source` given what they cannot use: one line naming what is wrong
//! and what to do, a distinct exit code, nothing written; and the help that says so.

use std::path::Path;

use crate::plan::{config, plan, plan_with_steps_that_cannot_run};
use crate::util::*;

/// A small layout, a scratch directory and a config from the layout to a layout in it.
fn layout_and_config(extra: &str) -> (tempfile::TempDir, tempfile::TempDir, std::path::PathBuf) {
    let (layout, _) = sample_layout(2, 5);
    let dir = tempfile::tempdir().unwrap();
    let target = oci(&dir.path().join("target"));
    let cfg = config(dir.path(), &oci(layout.path()), &target, extra);
    (layout, dir, cfg)
}

/// Asserts exit code `code`, one line on stderr, and that it holds every needle.
fn assert_one_line(out: &std::process::Output, code: i32, needles: &[&str]) {
    assert_exit_code(out, code);
    let err = stderr(out);
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    for needle in needles {
        assert!(err.contains(needle), "{needle}: {err}");
    }
}

#[test]
fn plan_names_the_output_it_cannot_write_says_what_to_give_and_leaves_no_temporary_file() {
    let (_layout, dir, cfg) = layout_and_config("");
    let cfg = cfg.to_str().unwrap();
    let plan_at = |output: &Path| run(&["plan", "-c", cfg, "-o", output.to_str().unwrap()]);
    let before = names_in(dir.path());

    let out = plan_at(Path::new("/nonexistent/p.json"));
    assert_one_line(
        &out,
        2,
        &[
            "-o /nonexistent/p.json: No such file or directory",
            "the directory /nonexistent does not exist: create it, or give a path in a directory that exists",
            "nothing was written",
        ],
    );
    assert!(!stderr(&out).contains(".tmp"), "{}", stderr(&out));

    let a_directory = dir.path().join("plans");
    std::fs::create_dir(&a_directory).unwrap();
    let out = plan_at(&a_directory);
    assert_one_line(
        &out,
        2,
        &[
            &format!("-o {}: it is a directory", a_directory.display()),
            "give the path of a file",
        ],
    );
    assert!(names_in(&a_directory).is_empty());

    let under_a_file = cfg.to_string() + "/p.json";
    let out = plan_at(Path::new(&under_a_file));
    assert_one_line(
        &out,
        2,
        &[
            &format!("-o {under_a_file}: Not a directory"),
            &format!("{cfg} is not a directory"),
        ],
    );
    let mut after = before.clone();
    after.push("plans".into());
    after.sort();
    assert_eq!(names_in(dir.path()), after, "nothing else written");
}

#[test]
fn apply_refuses_a_plan_with_steps_that_cannot_run_in_one_line_naming_each() {
    let (_layout, dir, cfg) = layout_and_config(
        "[copy]\nmode = \"import\"\n\n[deploy]\nresource_group = \"rg-target\"\n",
    );
    let plan_path = plan_with_steps_that_cannot_run(dir.path(), &cfg, &["2-deploy", "3-copy"]);
    let out = run(&["apply", plan_path.to_str().unwrap()]);
    assert_one_line(
        &out,
        2,
        &[
            "step 2-deploy cannot run ([deploy] needs subscription",
            "step 3-copy cannot run (ACR server-side import needs [target] azure_resource_id",
            "nothing was done (complete",
            "relocation.toml and plan again)",
        ],
    );
    assert!(!dir.path().join("target").exists(), "nothing copied");
    assert!(!dir.path().join("plan.json.journal").exists());
}

#[test]
fn a_journal_that_is_a_directory_or_has_no_directory_names_the_flag_and_what_to_give() {
    let (_layout, dir, cfg) = layout_and_config("");
    let plan_path = plan(dir.path(), &cfg);
    let plan_text = plan_path.to_str().unwrap();
    let journals = dir.path().join("journals");
    std::fs::create_dir(&journals).unwrap();
    let journals_text = journals.to_str().unwrap();

    let out = run(&["apply", "-q", plan_text, "--journal", journals_text]);
    assert_one_line(
        &out,
        2,
        &[
            &format!("--journal {journals_text} is a directory"),
            &format!(
                "give --journal the path of a file (for example {journals_text}/plan.json.journal)"
            ),
            "nothing was done",
        ],
    );
    assert!(names_in(&journals).is_empty());

    let nowhere = dir.path().join("missing/apply.journal");
    let out = run(&[
        "apply",
        "-q",
        plan_text,
        "--journal",
        nowhere.to_str().unwrap(),
    ]);
    assert_one_line(
        &out,
        2,
        &[
            &format!("--journal {}: No such file or directory", nowhere.display()),
            &format!(
                "{} is not an existing directory: give --journal the path of a file in one",
                dir.path().join("missing").display()
            ),
        ],
    );

    // The default journal, beside the plan, in the way: named as the default, and what to do.
    std::fs::create_dir(dir.path().join("plan.json.journal")).unwrap();
    let out = run(&["apply", "-q", plan_text]);
    assert_one_line(
        &out,
        2,
        &[
            "(the default beside the plan) is a directory: move it away, or give --journal the path of a file",
        ],
    );
    assert!(!dir.path().join("target").exists(), "nothing copied");
}

#[test]
fn a_scope_entry_that_matches_nothing_beside_others_is_named_and_the_plan_written() {
    let (_layout, dir, cfg) = layout_and_config("[scope]\nrepos = [\"team/*\", \"infar/*\"]\n");
    let plan_path = dir.path().join("plan.json");
    let out = run_plan(&cfg, &plan_path);
    assert_success(&out);
    let err = stderr(&out);
    assert!(
        err.contains("plan: warning: [scope] repos entry 'infar/*' matched nothing in the source"),
        "{err}"
    );
    assert!(!err.contains("team/*"), "{err}");
    assert!(plan_path.exists());
}

#[test]
fn a_scope_that_selects_nothing_is_warned_in_one_line_and_exits_4_from_plan_and_apply() {
    let (_layout, dir, cfg) = layout_and_config("[scope]\nrepos = [\"nomatch/*\"]\n");
    let plan_path = dir.path().join("plan.json");
    let out = run_plan(&cfg, &plan_path);
    assert_one_line(
        &out,
        4,
        &[
            "[scope] repos = [\"nomatch/*\"] selected nothing in the source, so no plan was written",
            "check the spelling in --config",
        ],
    );
    assert!(!plan_path.exists(), "no plan written");

    // A prefix of the source registry that names nothing narrows as a scope does.
    let (registry, _) = sample_registry(1);
    let dir = tempfile::tempdir().unwrap();
    let target = oci(&dir.path().join("target"));
    let cfg = config(dir.path(), &format!("{}/tea", registry.url()), &target, "");
    let out = run_plan(&cfg, &plan_path);
    assert_one_line(
        &out,
        4,
        &["[source] prefix 'tea' selected nothing in the source, so no plan was written"],
    );
    assert!(!plan_path.exists(), "no plan written");

    // Repositories the scope names that hold nothing (emptied by a deletion) are no misspelt
    // scope: a rerun after the deletion has nothing to do, as copy says too.
    let (registry, expected) = sample_registry(3);
    let emptied = expected.tags.keys().find(|r| r.starts_with("svc")).unwrap();
    for digest in expected.tags[emptied]
        .values()
        .collect::<std::collections::BTreeSet<_>>()
    {
        delete(registry.port, &format!("/v2/{emptied}/manifests/{digest}"));
    }
    let out = run(&["copy", "--repo", "svc*", &registry.url(), &target]);
    assert_success(&out);
    assert!(
        stderr(&out)
            .contains("copy: the selected repositories of SOURCE hold no tags: nothing to do"),
        "{}",
        stderr(&out)
    );
    let cfg = config(
        dir.path(),
        &registry.url(),
        &target,
        "[scope]\nrepos = [\"svc*\"]\n",
    );
    assert_success(&run_plan(&cfg, &plan_path));
    assert!(plan_path.exists(), "a plan written");

    // A plan written before plan refused such a scope (or edited by hand): apply refuses it too.
    let (_layout, dir, cfg) = layout_and_config("");
    let plan_path = plan(dir.path(), &cfg);
    let mut written: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&plan_path).unwrap()).unwrap();
    written["scope"] = serde_json::json!({ "repos": [], "tag": "v9\\..*" });
    written["repositories"] = serde_json::json!([]);
    written["totals"]["repositories"] = 0.into();
    written["totals"]["tags"] = 0.into();
    std::fs::write(&plan_path, serde_json::to_vec_pretty(&written).unwrap()).unwrap();
    let out = run(&["apply", "-q", plan_path.to_str().unwrap()]);
    assert_one_line(
        &out,
        4,
        &[
            "([scope] tag = 'v9\\..*') selected nothing in the source, so nothing was done",
            "fix [scope] or the [source] prefix in",
        ],
    );
    assert!(!dir.path().join("plan.json.journal").exists(), "no journal");
    assert!(!dir.path().join("target").exists(), "nothing copied");
}

/// The gaps that stop the deletion explain the failure: `apply -q` lists them instead of
/// pointing at a verify it did not print.
#[test]
fn quiet_apply_lists_the_gaps_that_stop_the_deletion_of_the_source() {
    let (src, expected) = sample_registry(2);
    let dst = Registry::start();
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        dir.path(),
        &src.url(),
        &dst.url(),
        &format!("[delete_source]\nconfirm = \"{}\"\n", src.url()),
    );
    let plan_path = plan(dir.path(), &cfg);
    // Copied and verified (blobs by existence and size); then a layer is damaged in the target,
    // which the deletion's own fresh verify reads.
    assert_success(&run(&[
        "apply",
        "-q",
        "--step",
        "copy",
        "--step",
        "verify",
        plan_path.to_str().unwrap(),
    ]));
    let (_, layer) = an_image_layer(&open(&dst.url()), &expected);
    flip_a_byte(&dst.blob_data(&layer));
    let out = run(&[
        "apply",
        "-q",
        "--step",
        "delete_source",
        plan_path.to_str().unwrap(),
    ]);
    assert_exit_code(&out, 1);
    let err = stderr(&out);
    let broken = err.lines().filter(|l| l.starts_with("broken ")).count();
    assert!(broken > 0, "{err}");
    assert!(
        err.contains("the target does not hold everything selected (listed above)"),
        "{err}"
    );
    assert!(!err.contains("see the verify above"), "{err}");
    assert!(err.contains("error: step 4-delete_source:"), "{err}");
    // A copy cannot replace a damaged blob (it finds it present): the failure says what can.
    assert!(
        err.contains("1 blob is damaged in the target's storage")
            && err.contains("then copy again with --deep"),
        "{err}"
    );
    assert!(
        stdout(&out).starts_with("apply: stopped"),
        "{}",
        stdout(&out)
    );
    assert_holds(&open(&src.url()), &expected.tags, None);
}

/// Every argument and option of `plan`, `apply` and `delete-source` says what it is for, and
/// the help lists the exit codes.
#[test]
fn the_relocation_commands_describe_every_argument_and_list_their_exit_codes() {
    for command in ["plan", "apply", "delete-source"] {
        let help = stdout(&run(&[command, "-h"]));
        let described = |line: &str| {
            let entry = line.trim_start();
            entry.contains("  ") && !entry.trim_end().ends_with("...")
        };
        for line in help.lines() {
            let entry = line.trim_start();
            if line.starts_with("  ") && (entry.starts_with('<') || entry.starts_with('-')) {
                assert!(described(line), "{command}: `{line}` has no description");
            }
        }
        let help = stdout(&run(&[command, "--help"]));
        let words = help.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(words.contains("Exit codes: 0 "), "{command}: {help}");
        assert!(words.contains("; 4 "), "{command}: {help}");
    }
    let help = stdout(&run(&["delete-source", "-h"]));
    assert!(
        help.contains("<SOURCE>  The registry to delete from"),
        "{help}"
    );
}

/// A run that deleted the whole scope but stopped before recording the step's end: the next run
/// finds nothing left to delete, which is the step done, not a scope that selects nothing.
#[test]
fn a_deletion_that_left_nothing_of_its_scope_is_done_on_the_next_run() {
    let (src, _) = sample_registry(3);
    let dst = Registry::start();
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        dir.path(),
        &src.url(),
        &dst.url(),
        &format!(
            "[scope]\nrepos = [\"team/**\"]\n\n[delete_source]\nconfirm = \"{}\"\n",
            src.url()
        ),
    );
    let plan_path = plan(dir.path(), &cfg);
    assert_success(&run(&["apply", "-q", plan_path.to_str().unwrap()]));
    let journal = dir.path().join("plan.json.journal");
    let recorded = std::fs::read_to_string(&journal).unwrap();
    assert!(recorded.contains("\"manifest_deleted\""), "{recorded}");
    let without_end: String = recorded
        .split_inclusive('\n')
        .filter(|l| !l.contains("\"step_done\",\"step\":\"4-delete_source\""))
        .collect();
    assert_ne!(without_end, recorded, "{recorded}");
    std::fs::write(&journal, without_end).unwrap();

    let out = run(&["apply", "-q", "--json", plan_path.to_str().unwrap()]);
    assert_success(&out);
    let step = &json(&out)["steps"][3];
    assert_eq!(step["status"], "done", "{step}");
    assert!(
        step["detail"]
            .as_str()
            .unwrap()
            .contains("source manifests deleted in all (recorded in the journal)"),
        "{step}"
    );
}

/// What the config names besides the sides is checked before anything is read: a password
/// written into `[rewrite] check_against` (refused, never shown), and a `[template] output` in a
/// directory that does not exist.
#[test]
fn a_password_in_check_against_and_an_unwritable_template_output_are_refused_by_plan() {
    let secret = "Hunter2PW";
    let (_layout, dir, cfg) = layout_and_config(&format!(
        "[rewrite]\npaths = [\"deploy\"]\ncheck_against = \"http://bob:{secret}@127.0.0.1:5000\"\n"
    ));
    std::fs::create_dir(dir.path().join("deploy")).unwrap();
    let plan_path = dir.path().join("plan.json");
    let out = run_plan(&cfg, &plan_path);
    assert_one_line(&out, 2, &["[rewrite] check_against"]);
    crate::support::assert_no_secret(&out, &[secret.to_string()]);
    assert!(!plan_path.exists(), "no plan written");

    let template = dir.path().join("template.json");
    std::fs::write(&template, "{}").unwrap();
    let (_layout, dir, cfg) = layout_and_config(&format!(
        "[template]\ninput = \"{}\"\nname = \"newreg01\"\nlocation = \"westeurope\"\noutput = \"out/template.json\"\n",
        template.display()
    ));
    let plan_path = dir.path().join("plan.json");
    let out = run_plan(&cfg, &plan_path);
    assert_one_line(
        &out,
        2,
        &[
            "[template] output out/template.json",
            "does not exist: create it",
        ],
    );
    assert!(!plan_path.exists(), "no plan written");
}

/// A plan edited by hand in ways `plan` never writes is not run: steps reordered or repeated,
/// repositories outside its scope; `--step` naming a step the plan lacks is refused too.
#[test]
fn a_plan_reordered_or_out_of_scope_by_hand_and_a_step_it_lacks_are_refused() {
    let (_layout, dir, cfg) = layout_and_config("");
    let plan_path = plan(dir.path(), &cfg);
    let plan_text = plan_path.to_str().unwrap();
    let written: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&plan_path).unwrap()).unwrap();
    let edit = |change: &dyn Fn(&mut serde_json::Value)| {
        let mut edited = written.clone();
        change(&mut edited);
        std::fs::write(&plan_path, serde_json::to_vec_pretty(&edited).unwrap()).unwrap();
    };

    let out = run(&["apply", "-q", "--step", "template", plan_text]);
    assert_one_line(
        &out,
        2,
        &[
            "--step `template`: PLAN",
            "has no template step (its steps: inventory, copy, verify)",
        ],
    );

    edit(&|p| p["steps"].as_array_mut().unwrap().reverse());
    let out = run(&["apply", "-q", plan_text]);
    assert_one_line(
        &out,
        2,
        &[
            "are not in the order plan writes them",
            "a plan edited by hand",
        ],
    );

    edit(&|p| p["scope"]["repos"] = serde_json::json!(["nothing/**"]));
    let out = run(&["apply", "-q", plan_text]);
    assert_one_line(
        &out,
        2,
        &[
            "are outside its [scope] (repos = [\"nothing/**\"])",
            "a plan edited by hand",
        ],
    );

    edit(&|p| {
        p["scope"]["repos"] = serde_json::json!(["nothing/**"]);
        p["repositories"] = serde_json::json!([]);
    });
    let out = run(&["apply", "-q", plan_text]);
    assert_one_line(
        &out,
        4,
        &["selected nothing in the source, so nothing was done"],
    );
    assert!(!dir.path().join("plan.json.journal").exists(), "no journal");
    assert!(!dir.path().join("target").exists(), "nothing copied");
}

/// An exported template, copied into `dir/tp/t.json`; its bytes.
fn an_export(dir: &Path) -> Vec<u8> {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../template/tests/fixtures/cmk-client-id-only.json");
    std::fs::create_dir_all(dir.join("tp")).unwrap();
    std::fs::copy(fixture, dir.join("tp/t.json")).unwrap();
    std::fs::read(dir.join("tp/t.json")).unwrap()
}

/// `[template]` writing `output`, from `tp/t.json`, with the target's key (in a plan, a
/// customer-managed key left the source's is blocking).
fn template_section(output: &str) -> String {
    format!("[template]\ninput = \"tp/t.json\"\nname = \"newreg01\"\nlocation = \"westeurope\"\noutput = \"{output}\"\nkey_uri = \"https://new-kv.vault.azure.net/keys/acr\"\n")
}

#[test]
fn a_template_output_that_is_its_input_is_refused_by_plan_and_apply_and_the_export_is_kept() {
    let (layout, _) = sample_layout(2, 5);
    let dir = tempfile::tempdir().unwrap();
    let export = an_export(dir.path());
    std::os::unix::fs::symlink("t.json", dir.path().join("tp/link.json")).unwrap();
    let target = oci(&dir.path().join("target"));
    let plan_path = dir.path().join("plan.json");
    for output in ["tp/t.json", "./tp/../tp/t.json", "tp/link.json"] {
        let cfg = config(
            dir.path(),
            &oci(layout.path()),
            &target,
            &template_section(output),
        );
        let out = run_plan(&cfg, &plan_path);
        assert_one_line(
            &out,
            2,
            &[
                &format!("[template] output {output} is [template] input tp/t.json: choose another output (the export is the record of the source's settings)"),
                "nothing was written",
            ],
        );
        assert!(!plan_path.exists(), "no plan written");
        assert_eq!(std::fs::read(dir.path().join("tp/t.json")).unwrap(), export);
    }

    // A plan edited by hand to write over the export is refused by apply, before anything.
    let cfg = config(
        dir.path(),
        &oci(layout.path()),
        &target,
        &template_section("out/t.json"),
    );
    std::fs::create_dir(dir.path().join("out")).unwrap();
    let plan_path = plan(dir.path(), &cfg);
    let mut edited: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&plan_path).unwrap()).unwrap();
    let input = dir.path().join("tp/t.json");
    edited["steps"][1]["output"] = serde_json::json!(input);
    std::fs::write(&plan_path, serde_json::to_vec_pretty(&edited).unwrap()).unwrap();
    let out = run(&["apply", "-q", plan_path.to_str().unwrap()]);
    assert_one_line(
        &out,
        2,
        &[
            &format!(
                "[template] output {} is [template] input {}: choose another output",
                input.display(),
                input.display()
            ),
            "plan again; nothing was done",
        ],
    );
    assert_eq!(std::fs::read(&input).unwrap(), export);
    assert!(!dir.path().join("plan.json.journal").exists(), "no journal");
    assert!(!dir.path().join("target").exists(), "nothing copied");
}

#[test]
fn a_plan_written_over_its_own_config_or_an_inventory_over_the_plan_is_refused_before_anything() {
    let (_layout, dir, cfg) = layout_and_config("");
    let config_text = std::fs::read(&cfg).unwrap();
    let cfg_text = cfg.to_str().unwrap();
    std::os::unix::fs::symlink(&cfg, dir.path().join("alias.toml")).unwrap();
    for output in [
        cfg_text.to_string(),
        format!("{}/./relocation.toml", dir.path().display()),
        dir.path().join("alias.toml").display().to_string(),
    ] {
        let out = run(&["plan", "-c", cfg_text, "-o", &output]);
        assert_one_line(
            &out,
            2,
            &[
                &format!("-o {output} is --config {cfg_text}: give each its own path"),
                "nothing was written",
            ],
        );
        assert_eq!(std::fs::read(&cfg).unwrap(), config_text, "the config kept");
    }

    // The inventory step writes beside the journal, named after it: never over the plan.
    let plan_path = plan(dir.path(), &cfg);
    let named_like_an_inventory = dir.path().join("run.inventory.json");
    std::fs::copy(&plan_path, &named_like_an_inventory).unwrap();
    let plan_text = std::fs::read(&named_like_an_inventory).unwrap();
    let journal = dir.path().join("run.log");
    let out = run(&[
        "apply",
        "-q",
        named_like_an_inventory.to_str().unwrap(),
        "--journal",
        journal.to_str().unwrap(),
    ]);
    assert_one_line(
        &out,
        2,
        &[
            &format!(
                "the inventory {} (named after --journal {}) is PLAN {}: give --journal another name",
                named_like_an_inventory.display(),
                journal.display(),
                named_like_an_inventory.display()
            ),
            "nothing was done",
        ],
    );
    assert_eq!(std::fs::read(&named_like_an_inventory).unwrap(), plan_text);
    assert!(!journal.exists(), "no journal");
    assert!(!dir.path().join("target").exists(), "nothing copied");
}

#[test]
fn a_journal_that_is_the_plan_or_its_config_is_named_as_such_and_not_advised_away() {
    let (_layout, dir, cfg) = layout_and_config("");
    let plan_path = plan(dir.path(), &cfg);
    let plan_text = plan_path.to_str().unwrap();
    let plan_bytes = std::fs::read(&plan_path).unwrap();
    let config_bytes = std::fs::read(&cfg).unwrap();
    for (journal, what) in [
        (plan_text.to_string(), "the plan itself"),
        (
            format!("{}/./plan.json", dir.path().display()),
            "the plan itself",
        ),
        (cfg.display().to_string(), "the plan's config"),
    ] {
        let out = run(&["apply", "-q", plan_text, "--journal", &journal]);
        assert_one_line(
            &out,
            2,
            &[
                &format!("--journal {journal} is {what}"),
                &format!("give the journal a path of its own (default {plan_text}.journal)"),
                "nothing was done",
            ],
        );
        assert!(!stderr(&out).contains("move it away"), "{}", stderr(&out));
        assert!(!stderr(&out).contains("damaged"), "{}", stderr(&out));
    }
    assert_eq!(std::fs::read(&plan_path).unwrap(), plan_bytes);
    assert_eq!(std::fs::read(&cfg).unwrap(), config_bytes);
    assert!(!dir.path().join("target").exists(), "nothing copied");
}

/// A change made to a plan by hand.
type Edit = dyn Fn(&mut serde_json::Value);

/// A plan carries no checksum: what `plan` never writes is refused by `apply` every run.
#[test]
fn a_plan_emptied_or_stripped_by_hand_or_with_jobs_0_is_refused_before_anything() {
    let (_layout, dir, cfg) = layout_and_config("");
    let plan_path = plan(dir.path(), &cfg);
    let plan_text = plan_path.to_str().unwrap();
    let written: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&plan_path).unwrap()).unwrap();
    let edit = |change: &dyn Fn(&mut serde_json::Value)| {
        let mut edited = written.clone();
        change(&mut edited);
        std::fs::write(&plan_path, serde_json::to_vec_pretty(&edited).unwrap()).unwrap();
    };
    let (repositories, tags) = (
        written["totals"]["repositories"].as_u64().unwrap(),
        written["totals"]["tags"].as_u64().unwrap(),
    );
    let cases: [(&Edit, String); 5] = [
        (
            &|p| p["repositories"] = serde_json::json!([]),
            format!("it lists 0 repositories with 0 tags, but its totals say {repositories} repositories with {tags} tags"),
        ),
        (
            &|p| p["steps"] = serde_json::json!([]),
            "it has no inventory, no copy, no verify step (every plan has inventory, copy and verify)".into(),
        ),
        (
            &|p| {
                p["steps"].as_array_mut().unwrap().remove(2);
            },
            "it has no verify step".into(),
        ),
        (
            &|p| p["steps"][1]["jobs"] = serde_json::json!(0),
            "step 2-copy has jobs = 0, which would copy nothing".into(),
        ),
        (
            &|p| p["steps"][1]["max_jobs"] = serde_json::json!(2),
            "step 2-copy has max_jobs 2 below jobs 8".into(),
        ),
    ];
    for (change, needle) in cases {
        edit(change);
        let out = run(&["apply", "-q", plan_text]);
        assert_one_line(
            &out,
            2,
            &[
                &needle,
                "a plan edited by hand; plan again from",
                "nothing was done",
            ],
        );
    }
    assert!(!dir.path().join("plan.json.journal").exists(), "no journal");
    assert!(!dir.path().join("target").exists(), "nothing copied");
}

#[test]
fn a_rewrite_path_that_does_not_exist_is_refused_by_plan_and_by_apply_before_the_copy() {
    let (_layout, dir, cfg) = layout_and_config("[rewrite]\npaths = [\"nonexist/\"]\nfrom = \"myreg.azurecr.io\"\nto = \"newreg.azurecr.io\"\n");
    let plan_path = dir.path().join("plan.json");
    let out = run_plan(&cfg, &plan_path);
    assert_one_line(
        &out,
        2,
        &[
            "[rewrite] paths: nonexist/: No such file or directory",
            "give files or directories that exist",
            "nothing was written",
        ],
    );
    assert!(!plan_path.exists(), "no plan written");

    // Gone between plan and apply: refused before the copy, with exit 2 (unusable input).
    let (_layout, dir, cfg) = layout_and_config("[rewrite]\npaths = [\"deploy\"]\nfrom = \"myreg.azurecr.io\"\nto = \"newreg.azurecr.io\"\n");
    std::fs::create_dir(dir.path().join("deploy")).unwrap();
    // Files already pointed at the new registry: nothing to rewrite, and no misspelt `from`.
    std::fs::write(
        dir.path().join("deploy/app.yaml"),
        "image: newreg.azurecr.io/app:v1\n",
    )
    .unwrap();
    let plan_path = plan(dir.path(), &cfg);
    std::fs::remove_dir_all(dir.path().join("deploy")).unwrap();
    let out = run(&["apply", "-q", plan_path.to_str().unwrap()]);
    assert_one_line(
        &out,
        2,
        &[
            &format!(
                "step 3-rewrite rewrites {}, which cannot be read",
                dir.path().join("deploy").display()
            ),
            "put it back, or fix [rewrite] paths",
            "nothing was done",
        ],
    );
    assert!(!dir.path().join("target").exists(), "nothing copied");
    // A run that does not rewrite (a copy worker) does not need the files.
    let out = run(&["apply", "-q", "--step", "copy", plan_path.to_str().unwrap()]);
    assert_success(&out);
}

#[test]
fn repositories_plan_could_not_read_are_said_on_stderr_and_exit_1_with_the_plan_written() {
    let (registry, expected) = sample_registry(3);
    let unreadable = expected.tags.keys().next().unwrap().clone();
    // Its tag listing fails in the registry's storage (a file where the directory was).
    let tags = registry.repository_dir(&unreadable).join("_manifests/tags");
    std::fs::remove_dir_all(&tags).unwrap();
    std::fs::write(&tags, b"").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        dir.path(),
        &registry.url(),
        &oci(&dir.path().join("target")),
        "",
    );
    let plan_path = dir.path().join("plan.json");
    let out = run_plan(&cfg, &plan_path);
    assert_exit_code(&out, 1);
    let err = stderr(&out);
    assert!(
        err.lines().any(|l| l.starts_with(&format!(
            "plan: warning: could not read {unreadable}: cannot list tags"
        ))),
        "{err}"
    );
    assert!(
        err.contains("1 repository could not be read and is left out of the plan (warnings above): fix that and plan again"),
        "{err}"
    );
    let written: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&plan_path).unwrap()).unwrap();
    assert_eq!(written["warnings"].as_array().unwrap().len(), 1);
}

/// A `[scope]` value the selection refuses is named as the config names it, not as the flag
/// the command line would take.
#[test]
fn a_bad_scope_in_the_config_is_named_by_its_key_not_by_a_flag() {
    let (_layout, dir, config) = layout_and_config("[scope]\ntag = \"([\"\n");
    let out = run_plan(&config, &dir.path().join("plan.json"));
    assert_one_line(
        &out,
        2,
        &["[scope] tag `([`: not a valid regular expression"],
    );
    assert!(!stderr(&out).contains("--tag"), "{}", stderr(&out));
    let (_layout, dir, config) = layout_and_config("[scope]\nexclude_tags = [\"(\"]\n");
    let out = run_plan(&config, &dir.path().join("plan.json"));
    assert_one_line(
        &out,
        2,
        &["[scope] exclude_tags `(`: not a valid regular expression"],
    );
}

/// `[scope] exclude_tags` leaves tags out of the plan as `--exclude-tag` does, the review
/// document names them, and an exclusion that leaves every tag out is no plan (exit 4).
#[test]
fn a_scope_excluding_tags_plans_without_them_and_one_excluding_all_is_refused() {
    let planned_tags = |scope: &str| {
        let (_layout, dir, config) = layout_and_config(scope);
        let plan_path = dir.path().join("plan.json");
        let out = run_plan(&config, &plan_path);
        assert_success(&out);
        let plan: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&plan_path).unwrap()).unwrap();
        let review = run(&[
            "plan",
            "--markdown",
            "-c",
            config.to_str().unwrap(),
            "-o",
            plan_path.to_str().unwrap(),
        ]);
        (
            plan["totals"]["tags"].as_u64().unwrap(),
            plan,
            stdout(&review),
        )
    };
    let (all, _, _) = planned_tags("");
    let (some, plan, review) = planned_tags("[scope]\nexclude_tags = ['v1\\.0\\..*']\n");
    assert!(0 < some && some < all, "{some} of {all}");
    assert_eq!(plan["scope"]["exclude_tags"][0], "v1\\.0\\..*");
    assert!(
        review.contains("- tags: all, except v1\\.0\\..*"),
        "{review}"
    );

    let (_layout, dir, config) = layout_and_config("[scope]\nexclude_tags = ['.*']\n");
    let out = run_plan(&config, &dir.path().join("plan.json"));
    assert_exit_code(&out, 4);
    assert!(
        stderr(&out).contains("[scope] exclude_tags = [\".*\"]"),
        "{}",
        stderr(&out)
    );
}

/// `[copy] jobs` or `max_jobs` above what any registry serves is refused by `plan` (it passed
/// and made `apply` panic), as `--jobs` is.
#[test]
fn a_config_asking_for_more_transfers_than_any_registry_serves_is_refused() {
    for key in ["jobs = 4611686018427387904", "max_jobs = 5000"] {
        let (_layout, dir, config) = layout_and_config(&format!("[copy]\n{key}\n"));
        let out = run_plan(&config, &dir.path().join("plan.json"));
        assert_exit_code(&out, 2);
        assert!(
            stderr(&out).contains("more than any registry serves one client: give at most 4096"),
            "{key}: {}",
            stderr(&out)
        );
    }
}

/// A `--journal` that is the exported template the plan reads is named as that file, not called
/// a damaged journal to move away (which would move the export).
#[test]
fn a_journal_that_is_the_exported_template_is_named_as_such() {
    let (layout, _) = sample_layout(2, 5);
    let dir = tempfile::tempdir().unwrap();
    let export = an_export(dir.path());
    let cfg = config(
        dir.path(),
        &oci(layout.path()),
        &oci(&dir.path().join("target")),
        &template_section("tp/new.json"),
    );
    let plan_path = plan(dir.path(), &cfg);
    let journal = dir.path().join("tp/t.json");
    let out = run(&[
        "apply",
        "-q",
        plan_path.to_str().unwrap(),
        "--journal",
        journal.to_str().unwrap(),
    ]);
    assert_exit_code(&out, 2);
    let err = stderr(&out);
    assert!(
        err.contains("is [template] input") || err.contains("template"),
        "{err}"
    );
    assert!(err.contains("give the journal a path of its own"), "{err}");
    assert!(
        !err.contains("damaged") && !err.contains("move it away"),
        "{err}"
    );
    assert_eq!(std::fs::read(&journal).unwrap(), export);
}

/// `plan -c CONFIG -o OUTPUT`.
fn run_plan(config: &Path, output: &Path) -> std::process::Output {
    run(&[
        "plan",
        "-c",
        config.to_str().unwrap(),
        "-o",
        output.to_str().unwrap(),
    ])
}

/// `[delete_source] registry_resource = true` deletes the whole Azure resource: the plan refuses
/// it without the source's resource ID, and when the source names a part of the registry (a
/// `[scope]` filter); `[attach_aks]` without the target's resource ID is planned unavailable and
/// apply refuses that plan before anything.
#[test]
fn a_registry_resource_deletion_needs_the_source_id_and_the_whole_registry() {
    let (layout, _) = sample_layout(2, 5);
    let dir = tempfile::tempdir().unwrap();
    let src = Registry::start();
    assert_success(&run(&["copy", "-q", &oci(layout.path()), &src.url()]));
    let target = oci(&dir.path().join("target"));
    let id = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.ContainerRegistry/registries/old";
    let write = |source_id: bool, extra: &str| {
        let path = dir.path().join("relocation.toml");
        std::fs::write(
            &path,
            format!(
                "[source]\nregistry = \"{}\"\n{}\n[target]\nregistry = \"{target}\"\n\n{extra}",
                src.url(),
                if source_id {
                    format!("azure_resource_id = \"{id}\"\n")
                } else {
                    String::new()
                }
            ),
        )
        .unwrap();
        path
    };
    let delete_confirming = |confirm: &str| {
        format!("[delete_source]\nconfirm = \"{confirm}\"\nregistry_resource = true\n")
    };
    let delete = delete_confirming("old");
    let output = dir.path().join("plan.json");

    let out = run_plan(&write(false, &delete), &output);
    assert_one_line(
        &out,
        2,
        &[
            "registry_resource = true",
            "[source] has no azure_resource_id",
            "nothing was written",
        ],
    );
    assert!(!output.exists());

    // The resource deleted is confirmed by its name, not by the endpoint the verify reads.
    let out = run_plan(&write(true, &delete_confirming(&src.url())), &output);
    assert_one_line(
        &out,
        2,
        &[
            "deletes the Azure registry `old`",
            "write confirm = \"old\"",
        ],
    );
    assert!(!output.exists());

    let scoped = format!("[scope]\nrepos = [\"repo-0\"]\n\n{delete}");
    let out = run_plan(&write(true, &scoped), &output);
    assert_one_line(
        &out,
        2,
        &[
            "deletes every repository of the source",
            "[scope] repos = [\"repo-0\"] selects a part of it",
            "take registry_resource out",
        ],
    );
    assert!(!output.exists());

    // The whole registry: planned, with the resource named in what the step changes.
    assert_success(&run_plan(&write(true, &delete), &output));
    let planned: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&output).unwrap()).unwrap();
    let last = planned["steps"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["kind"], "delete_source", "{planned:#}");
    assert_eq!(last["registry_resource"], id, "{planned:#}");
    assert!(
        last["changes"]
            .as_str()
            .unwrap()
            .contains("deletes the Azure resource"),
        "{last:#}"
    );

    let aks = "[attach_aks]\nclusters = [\"/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.ContainerService/managedClusters/aks\"]\n";
    std::fs::remove_file(&output).unwrap();
    let out = run_plan(&write(false, aks), &output);
    assert_exit_code(&out, 1);
    assert!(
        stderr(&out).contains("cannot run") && output.exists(),
        "{}",
        stderr(&out)
    );
    let out = run(&["apply", output.to_str().unwrap()]);
    assert_one_line(&out, 2, &["attach_aks", "[target] azure_resource_id"]);
}

/// skopeo's `docker://HOST/PATH` in a config is refused with the config's own words (`registry`
/// and `[scope] repos`), not with a command-line flag a config does not have.
#[test]
fn a_skopeo_registry_in_a_config_is_refused_with_the_config_keys_to_write() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        dir.path(),
        "docker://127.0.0.1:5000/team/app:v1",
        &oci(&dir.path().join("target")),
        "",
    );
    let out = run(&[
        "plan",
        "--config",
        cfg.to_str().unwrap(),
        "-o",
        dir.path().join("plan.json").to_str().unwrap(),
    ]);
    assert_one_line(
        &out,
        2,
        &[
            "[source] registry `docker://127.0.0.1:5000/team/app:v1`",
            "write registry = \"127.0.0.1:5000\"",
            "[scope]: repos = [\"team/app\"]",
        ],
    );
    assert!(!stderr(&out).contains("--repo"));
    assert!(!dir.path().join("plan.json").exists());
}

/// A verify run with a journal that records no copy (the final verify Job of the Kubernetes
/// flow, a fresh journal) cannot be passed by running it again: its failure says what can.
#[test]
fn a_failing_verify_with_a_journal_that_copied_nothing_says_to_run_the_copy() {
    let (src, _) = sample_registry(1);
    let dst = Registry::start();
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), &src.url(), &dst.url(), "");
    let plan_path = plan(dir.path(), &cfg);
    let out = run(&[
        "apply",
        "-q",
        "--step",
        "verify",
        "--journal",
        dir.path().join("final.journal").to_str().unwrap(),
        plan_path.to_str().unwrap(),
    ]);
    assert_exit_code(&out, 1);
    let err = stderr(&out);
    assert!(
        err.contains(
            "this journal records no copy of the repositories with gaps: run the copy step"
        ),
        "{err}"
    );
}

/// `[roles]` needs both registries' Azure resource IDs: without them the plan has no roles step,
/// and says so instead of leaving it out without a word.
#[test]
fn roles_without_both_resource_ids_are_warned_about_and_left_out() {
    let (_layout, dir, cfg) = layout_and_config("[roles]\ninclude_inherited = true\n");
    let plan_path = dir.path().join("plan.json");
    let out = run(&[
        "plan",
        "--config",
        cfg.to_str().unwrap(),
        "-o",
        plan_path.to_str().unwrap(),
    ]);
    assert_success(&out);
    assert!(
        stderr(&out).contains("plan: warning: [roles] gives the target the source registry's role assignments, and needs azure_resource_id in both [source] and [target]"),
        "{}",
        stderr(&out)
    );
    let plan: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&plan_path).unwrap()).unwrap();
    assert!(plan["steps"]
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s["kind"] != "roles"));
}

/// `plan` opens the target as the copy step will (unless the plan deploys it): a target named
/// as HTTPS where the registry answers plain HTTP, or where nothing listens, is refused in the
/// copy's one line (exit 2), and no plan is written, instead of a plan that `apply` could only
/// stop on. Named as it answers, the same registry is planned, and nothing is written to it.
#[test]
fn plan_refuses_a_target_named_with_the_wrong_scheme_or_where_nothing_listens() {
    let (layout, _) = sample_layout(2, 5);
    let target = Registry::start();
    let dir = tempfile::tempdir().unwrap();
    let plan_path = dir.path().join("plan.json");
    let host = format!("127.0.0.1:{}", target.port);
    let cfg = config(dir.path(), &oci(layout.path()), &host, "");
    let out = run_plan(&cfg, &plan_path);
    assert_one_line(
        &out,
        2,
        &[&format!(
            "error: [target]: TARGET {host}: the registry answers plain HTTP, not HTTPS: write `http://{host}`"
        )],
    );
    assert!(!plan_path.exists(), "no plan written");

    let nowhere = format!("127.0.0.1:{}", free_port());
    let cfg = config(
        dir.path(),
        &oci(layout.path()),
        &format!("http://{nowhere}"),
        "",
    );
    let out = run_plan(&cfg, &plan_path);
    assert_one_line(
        &out,
        2,
        &[&format!(
            "[target]: TARGET {nowhere}: connection refused: nothing listens on {nowhere}"
        )],
    );
    assert!(!plan_path.exists(), "no plan written");

    let cfg = config(dir.path(), &oci(layout.path()), &target.url(), "");
    assert_success(&run_plan(&cfg, &plan_path));
    assert!(plan_path.exists(), "a plan written");
    assert!(
        repositories(&open(&target.url())).is_empty(),
        "plan wrote nothing to the target"
    );
}

/// A relocation config in `home` from a sample layout to a registry over TLS (its CA in
/// `home/tls`) whose user `bob` has the password `pw-Right7Kq2`: the CA, the registry, the
/// layout's directory and the config.
fn layout_to_a_tls_target_with_a_password(
    home: &std::path::Path,
) -> (
    crate::support::pki::Tls,
    crate::support::registry::AuthRegistry,
    tempfile::TempDir,
    std::path::PathBuf,
) {
    use crate::support::pki::Tls;
    use crate::support::registry::{htpasswd, Auth, AuthRegistry};
    let tls = Tls::generate(&home.join("tls"));
    let registry = AuthRegistry::start(
        &Auth::Htpasswd(htpasswd(home, "bob", "pw-Right7Kq2")),
        Some(&tls),
    );
    let (layout, _) = sample_layout(2, 5);
    let cfg = config(home, &oci(layout.path()), &registry.endpoint(), "");
    (tls, registry, layout, cfg)
}

/// The target's credentials and TLS options are checked by `plan` as the copy will use them: a
/// password the registry refuses, or a private CA not given, is refused in one line (exit 2)
/// naming the target and what to pass, no plan written and no password shown.
#[test]
fn plan_refuses_target_credentials_or_a_certificate_the_copy_could_not_use() {
    use crate::support::{assert_no_secret, assert_one_line_error, run_in};
    let home = tempfile::tempdir().unwrap();
    let (tls, registry, _layout, cfg) = layout_to_a_tls_target_with_a_password(home.path());
    let plan_path = home.path().join("plan.json");
    let ca = tls.ca.to_str().unwrap();
    let plan = |flags: &[&str]| {
        let mut args = vec![
            "plan",
            "--config",
            cfg.to_str().unwrap(),
            "-o",
            plan_path.to_str().unwrap(),
        ];
        args.extend_from_slice(flags);
        run_in(home.path(), &args, &[], None)
    };
    let host = registry.host();

    let out = plan(&["--dst-creds", "bob:pw-Wrong3Xz8", "--dst-ca-cert", ca]);
    assert_one_line_error(
        &out,
        &[&format!("[target]: TARGET {host}"), "authentication failed"],
    );
    assert_no_secret(&out, &["pw-Wrong3Xz8".to_string()]);
    assert!(!plan_path.exists(), "no plan written");

    let out = plan(&["--dst-creds", "bob:pw-Right7Kq2"]);
    assert_one_line_error(
        &out,
        &[
            &format!("[target]: TARGET {host}: its TLS certificate is not trusted"),
            "pass --dst-ca-cert FILE",
        ],
    );
    assert!(!plan_path.exists(), "no plan written");

    let out = plan(&["--dst-creds", "bob:pw-Right7Kq2", "--dst-ca-cert", ca]);
    assert_success(&out);
    assert!(plan_path.exists(), "a plan written");
}

/// A target that is not there yet is no mistake when the plan makes it: a `[deploy]` creates the
/// registry (the plan does not open it), and a layout is created by the copy (the plan does not
/// create it either).
#[test]
fn a_target_the_plan_deploys_or_a_layout_not_made_yet_is_planned() {
    let (layout, _) = sample_layout(2, 5);
    let dir = tempfile::tempdir().unwrap();
    let plan_path = dir.path().join("plan.json");
    let cfg = config(
        dir.path(),
        &oci(layout.path()),
        &format!("127.0.0.1:{}", free_port()),
        DEPLOY,
    );
    assert_success(&run_plan(&cfg, &plan_path));
    let written: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&plan_path).unwrap()).unwrap();
    assert_eq!(written["steps"][1]["kind"], "deploy", "{written}");

    std::fs::remove_file(&plan_path).unwrap();
    let new_layout = dir.path().join("new");
    let cfg = config(
        dir.path(),
        &oci(layout.path()),
        &format!("oci:{}", new_layout.display()),
        "",
    );
    assert_success(&run_plan(&cfg, &plan_path));
    assert!(plan_path.exists(), "a plan written");
    assert!(!new_layout.exists(), "plan created no layout");
}

/// A `[deploy]` section `apply` accepts (its step is skipped with `--step copy` here).
const DEPLOY: &str = "[deploy]\nresource_group = \"rg-target\"\nsubscription = \"00000000-0000-0000-0000-000000000000\"\nlocation = \"westeurope\"\ntemplate = \"target.json\"\n";

/// The closing line of `apply` (stdout).
fn closing_line(out: &std::process::Output) -> String {
    stdout(out)
        .trim_end()
        .lines()
        .last()
        .unwrap_or("")
        .to_string()
}

/// A copy stopped by a target endpoint the plan names wrongly (a plan with `[deploy]` does not
/// open its target) cannot pass on a rerun: the endpoint is in the plan. The closing line says
/// to fix the config, plan again and apply with `--replan`, and doing so relocates; `--json`
/// stays one JSON document.
#[test]
fn apply_stopped_by_a_wrong_target_endpoint_says_to_plan_again_and_replan() {
    let (layout, expected) = sample_layout(2, 5);
    let target = Registry::start();
    let dir = tempfile::tempdir().unwrap();
    let host = format!("127.0.0.1:{}", target.port);
    let cfg = config(dir.path(), &oci(layout.path()), &host, DEPLOY);
    let plan_path = plan(dir.path(), &cfg);
    let plan_arg = plan_path.to_str().unwrap();

    let out = run(&["apply", plan_arg, "--step", "copy"]);
    assert_exit_code(&out, 2);
    assert!(
        stderr(&out).contains(&format!(
            "the plan's target: TARGET {host}: the registry answers plain HTTP, not HTTPS"
        )),
        "{}",
        stderr(&out)
    );
    let closing = closing_line(&out);
    let config_path = cfg.canonicalize().unwrap();
    for needle in [
        "apply: stopped: the plan's target endpoint is wrong (listed above), and running the same command again will not change it".to_string(),
        format!("fix [target] in {}", config_path.display()),
        format!(
            "run `acr-relocate plan --config {} -o {plan_arg}` again, then `acr-relocate apply {plan_arg} --replan`",
            config_path.display()
        ),
    ] {
        assert!(closing.contains(&needle), "{needle}: {closing}");
    }
    assert!(
        !closing.contains("run the same command again;"),
        "{closing}"
    );

    let out = run(&["apply", "-q", "--json", plan_arg, "--step", "copy"]);
    assert_exit_code(&out, 2);
    let summary = json(&out);
    assert_eq!(summary["steps"][2]["status"], "failed", "{summary}");

    // What the closing line says to do.
    let cfg = config(dir.path(), &oci(layout.path()), &target.url(), DEPLOY);
    plan(dir.path(), &cfg);
    assert_success(&run(&[
        "apply", "-q", plan_arg, "--replan", "--step", "copy",
    ]));
    assert_holds(&open(&target.url()), &expected.tags, None);
}

/// Credentials and TLS options are given to each run, never kept in the plan: an `apply` without
/// the private CA given to `plan`, or with a password the target refuses, stops on the copy,
/// and its closing line says to give apply those flags (not to run the same command again);
/// with them, the same plan is applied (no new plan needed).
#[test]
fn apply_without_the_tls_options_or_credentials_given_to_plan_says_to_give_them() {
    use crate::support::run_in;
    let home = tempfile::tempdir().unwrap();
    let (tls, registry, _layout, cfg) = layout_to_a_tls_target_with_a_password(home.path());
    let plan_path = home.path().join("plan.json");
    let plan_arg = plan_path.to_str().unwrap();
    let ca = tls.ca.to_str().unwrap();
    let creds = ["--dst-creds", "bob:pw-Right7Kq2"];
    let with = |verb: &[&str], flags: &[&str]| {
        let mut args = verb.to_vec();
        args.extend_from_slice(flags);
        run_in(home.path(), &args, &[], None)
    };
    let planned = with(
        &["plan", "--config", cfg.to_str().unwrap(), "-o", plan_arg],
        &[creds[0], creds[1], "--dst-ca-cert", ca],
    );
    assert_success(&planned);
    let host = registry.host();
    let flags_remedy = "apply: stopped: the plan's target cannot be used with the flags this run was given (listed above), and running the same command again will not change that: run apply again with the --dst-* flags the error names (credentials and TLS options are never kept in the plan: give apply those given to plan)";

    let out = with(&["apply", "-q", plan_arg], &creds);
    assert_exit_code(&out, 2);
    assert!(
        stderr(&out).contains(&format!(
            "error: step 2-copy: the plan's target: TARGET {host}: its TLS certificate is not trusted"
        )),
        "{}",
        stderr(&out)
    );
    let closing = closing_line(&out);
    assert!(closing.contains(flags_remedy), "{closing}");
    assert!(
        closing.contains("; if [target] itself is wrong, fix [target] in"),
        "{closing}"
    );
    assert!(
        !closing.contains("run the same command again;"),
        "{closing}"
    );

    let out = with(
        &["apply", "-q", plan_arg],
        &["--dst-creds", "bob:pw-Wrong3Xz8", "--dst-ca-cert", ca],
    );
    assert_exit_code(&out, 2);
    assert!(
        stderr(&out).contains("authentication failed"),
        "{}",
        stderr(&out)
    );
    assert!(
        closing_line(&out).contains(flags_remedy),
        "{}",
        stdout(&out)
    );

    let out = with(
        &["apply", "-q", "--json", plan_arg],
        &[creds[0], creds[1], "--dst-ca-cert", ca],
    );
    assert_success(&out);
    let summary = json(&out);
    let statuses: Vec<&str> = summary["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|step| step["status"].as_str().unwrap())
        .collect();
    // The inventory was done by the first run; the copy and the verify by this one.
    assert_eq!(statuses, ["already done", "done", "done"], "{summary}");
}

/// An import-mode plan from an ACR named by its host, with no `[source] azure_resource_id` and
/// no source credentials: importImage would pull anonymously and every import would fail after
/// the planning, so `plan` refuses before it reads anything (no request leaves this machine).
#[test]
fn an_import_plan_from_an_acr_host_without_a_resource_id_or_credentials_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let target_id = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.ContainerRegistry/registries/newreg";
    let cfg = crate::plan::config(
        dir.path(),
        "oldreg.azurecr.io",
        "newreg.azurecr.io",
        "[copy]\nmode = \"import\"\n",
    );
    let text = std::fs::read_to_string(&cfg).unwrap().replacen(
        "registry = \"newreg.azurecr.io\"",
        &format!("registry = \"newreg.azurecr.io\"\nazure_resource_id = \"{target_id}\""),
        1,
    );
    std::fs::write(&cfg, text).unwrap();
    let plan = dir.path().join("plan.json");
    let out = run(&[
        "plan",
        "--config",
        cfg.to_str().unwrap(),
        "-o",
        plan.to_str().unwrap(),
    ]);
    assert_exit_code(&out, 2);
    assert!(
        stderr(&out).contains("[source] oldreg.azurecr.io is an Azure container registry and importImage would pull from it without credentials: set [source] azure_resource_id"),
        "{}",
        stderr(&out)
    );
    assert!(!plan.exists());
}
