//! `--map FROM=TO`: repositories get other names in the target (one repository, or a namespace
//! with a trailing `/`), as regsync's per-repository targets and `az acr import --image NEW:TAG`
//! allow. `copy`, `verify` and `delete-source` follow the same renames; filters match the
//! source's names.

use acr_relocate::digest::Digest;

use crate::support::oci_push::push_image_as;
use crate::util::*;

/// The digest `repository:tag` has in the registry `url`, if any.
fn digest_at(url: &str, repository: &str, tag: &str) -> Option<Digest> {
    block_on(open(url).manifest_digest(repository, tag)).unwrap()
}

/// A source holding `app:v1`, `team/a:v1`, `team/b:v2` and `other:v1`.
fn source() -> (Registry, Vec<(&'static str, &'static str, Digest)>) {
    let src = Registry::start();
    let images = [
        ("app", "v1"),
        ("team/a", "v1"),
        ("team/b", "v2"),
        ("other", "v1"),
    ];
    let pushed = images
        .iter()
        .map(|(repository, tag)| {
            let layer = format!("the layer of {repository}:{tag}");
            let (digest, _) = push_image_as(src.port, repository, tag, "amd64", layer.as_bytes());
            (*repository, *tag, digest)
        })
        .collect();
    (src, pushed)
}

const MAP: [&str; 4] = ["--map", "app=apps/app", "--map", "team/=platform/team/"];

/// Runs `command` (with its options), the renames of [`MAP`], then `operands`.
fn run_mapped(command: &[&str], operands: &[&str]) -> std::process::Output {
    let mut args = command.to_vec();
    args.extend(MAP);
    args.extend(operands);
    run(&args)
}

#[test]
fn a_renamed_repository_and_namespace_arrive_under_their_new_names_and_verify() {
    let (src, pushed) = source();
    let dst = Registry::start();
    let out = run_mapped(&["copy", "--json"], &[&src.url(), &dst.url()]);
    assert_success(&out);
    let mut copied: Vec<String> = json(&out)["copied"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["item"].as_str().unwrap().to_string())
        .collect();
    copied.sort();
    assert_eq!(
        copied,
        [
            "apps/app:v1",
            "other:v1",
            "platform/team/a:v1",
            "platform/team/b:v2"
        ]
    );
    for (repository, tag, digest) in &pushed {
        let renamed = match *repository {
            "app" => "apps/app".to_string(),
            "other" => "other".to_string(),
            team => format!("platform/{team}"),
        };
        assert_eq!(digest_at(&dst.url(), &renamed, tag).as_ref(), Some(digest));
    }
    assert_eq!(digest_at(&dst.url(), "app", "v1"), None);
    assert_eq!(digest_at(&dst.url(), "team/a", "v1"), None);

    let out = run_mapped(&["verify", "--deep"], &[&src.url(), &dst.url()]);
    assert_success(&out);

    // Without the renames, the target lacks the source's names.
    let out = run(&["verify", &src.url(), &dst.url()]);
    assert_exit_code(&out, 1);
    assert!(stdout(&out).contains("app:v1"), "{}", stdout(&out));

    // Filters match the source's names, on both sides.
    let out = run(&[
        "verify",
        "--repo",
        "team/*",
        "--map",
        "team/=platform/team/",
        &src.url(),
        &dst.url(),
    ]);
    assert_success(&out);
}

#[test]
fn renames_go_under_the_targets_prefix() {
    let (src, pushed) = source();
    let dst = Registry::start();
    let target = format!("{}/moved", dst.url());
    let out = run(&[
        "copy",
        "-q",
        "--repo",
        "app",
        "--map",
        "app=apps/app",
        &src.url(),
        &target,
    ]);
    assert_success(&out);
    assert_eq!(
        digest_at(&dst.url(), "moved/apps/app", "v1").as_ref(),
        Some(&pushed[0].2)
    );
    let out = run(&[
        "verify",
        "--repo",
        "app",
        "--map",
        "app=apps/app",
        &src.url(),
        &target,
    ]);
    assert_success(&out);
}

#[test]
fn a_repository_that_stayed_under_its_old_name_in_the_target_is_not_taken_for_the_renamed_one() {
    let (src, _) = source();
    let dst = Registry::start();
    // An old copy under the source's name, with another image.
    push_image_as(dst.port, "app", "v1", "arm64", b"an older app");
    assert_success(&run_mapped(&["copy", "-q"], &[&src.url(), &dst.url()]));
    let out = run_mapped(&["verify"], &[&src.url(), &dst.url()]);
    assert_success(&out);
}

#[test]
fn delete_source_follows_the_renames_and_refuses_without_them() {
    let (src, pushed) = source();
    let dst = Registry::start();
    assert_success(&run_mapped(&["copy", "-q"], &[&src.url(), &dst.url()]));

    let (source, target) = (src.url(), dst.url());
    let out = run(&[
        "delete-source",
        &source,
        "--verified-against",
        &target,
        "--confirm",
        &source,
    ]);
    assert_ne!(out.status.code(), Some(0), "{}", stdout(&out));
    assert_eq!(digest_at(&source, "app", "v1").as_ref(), Some(&pushed[0].2));

    let out = run_mapped(
        &[
            "delete-source",
            "--confirm",
            &source,
            "--verified-against",
            &target,
        ],
        &[&source],
    );
    assert_success(&out);
    for (repository, tag, _) in &pushed {
        assert_eq!(digest_at(&source, repository, tag), None, "{repository}");
    }
}

#[test]
fn two_repositories_given_one_name_are_refused_before_anything_is_written() {
    let (src, _) = source();
    let dst = Registry::start();
    let out = run(&["copy", "--map", "app=other", &src.url(), &dst.url()]);
    assert_exit_code(&out, 2);
    assert!(
        stderr(&out).contains(
            "the source's `app` and `other` would both be `other` in the target: rename the other one too, or leave one out with --exclude-repo"
        ),
        "{}",
        stderr(&out)
    );
    assert_eq!(digest_at(&dst.url(), "other", "v1"), None);
}

#[test]
fn a_malformed_rename_is_a_usage_error_that_says_what_to_write() {
    for (spec, says) in [
        ("app", "expected FROM=TO"),
        ("team/=platform", "end both sides with /"),
        ("app=Apps", "TO:"),
    ] {
        let out = run(&[
            "copy",
            "--map",
            spec,
            "http://127.0.0.1:9",
            "http://127.0.0.1:9",
        ]);
        assert_exit_code(&out, 2);
        assert!(stderr(&out).contains(says), "{spec}: {}", stderr(&out));
        assert_eq!(stderr(&out).trim().lines().count(), 1, "{}", stderr(&out));
    }
}

/// A relocation whose `[scope] map` renames a repository and a namespace: `apply` copies under
/// the new names, verifies them, points the files at them, and deletes the source.
#[test]
fn a_planned_relocation_follows_the_scopes_renames_through_every_step() {
    let (src, pushed) = source();
    let dst = Registry::start();
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("deploy")).unwrap();
    let manifest = dir.path().join("deploy/app.yaml");
    std::fs::write(
        &manifest,
        format!(
            "image: 127.0.0.1:{0}/app:v1\n---\nimage: 127.0.0.1:{0}/team/a:v1\n",
            src.port
        ),
    )
    .unwrap();
    let source = src.url();
    let cfg = crate::plan::config(
        dir.path(),
        &source,
        &dst.url(),
        &format!(
            "[scope]\nmap = [\"app=apps/app\", \"team/=platform/team/\"]\n\n[rewrite]\npaths = [\"deploy\"]\n\n[delete_source]\nconfirm = \"{source}\"\n"
        ),
    );
    let plan_path = crate::plan::plan(dir.path(), &cfg);
    let out = run(&["apply", "-q", plan_path.to_str().unwrap()]);
    assert_success(&out);
    assert_eq!(
        std::fs::read_to_string(&manifest).unwrap(),
        format!(
            "image: 127.0.0.1:{0}/apps/app:v1\n---\nimage: 127.0.0.1:{0}/platform/team/a:v1\n",
            dst.port
        )
    );
    assert_eq!(
        digest_at(&dst.url(), "platform/team/b", "v2").as_ref(),
        Some(&pushed[2].2)
    );
    for (repository, tag, _) in &pushed {
        assert_eq!(digest_at(&source, repository, tag), None, "{repository}");
    }
}

/// Two repositories renamed to one name are refused in every shard, though each shard takes
/// only one of them: two workers would otherwise overwrite each other's tags.
#[test]
fn two_repositories_given_one_name_are_refused_in_every_shard() {
    let (src, _) = source();
    let dst = Registry::start();
    for shard in ["0/2", "1/2", "0/3", "1/3", "2/3"] {
        let out = run(&[
            "copy",
            "--map",
            "app=other",
            "--shard",
            shard,
            &src.url(),
            &dst.url(),
        ]);
        assert_exit_code(&out, 2);
        assert!(
            stderr(&out).contains("the source's `app` and `other` would both be `other`"),
            "{shard}: {}",
            stderr(&out)
        );
    }
    assert_eq!(digest_at(&dst.url(), "other", "v1"), None);
}

/// Namespaces that overlap in the target (`team/` and `charts/` both under `n/`): verify takes
/// each target name back to the source name the source lists, not to the longest namespace.
#[test]
fn overlapping_namespaces_verify_without_false_extras() {
    let (src, _) = source();
    push_image_as(
        src.port,
        "team/b/deep",
        "v1",
        "amd64",
        b"a deeper repository",
    );
    let dst = Registry::start();
    // `team/b/deep` becomes `n/b/deep`, which the second namespace's form (`charts/deep`)
    // also fits: the source lists no `charts/deep`.
    let map = ["--map", "team/=n/", "--map", "charts/=n/b/"];
    let mut copy = vec!["copy", "-q"];
    copy.extend(map);
    let (source, target) = (src.url(), dst.url());
    copy.extend([source.as_str(), target.as_str()]);
    assert_success(&run(&copy));
    assert!(digest_at(&target, "n/b/deep", "v1").is_some());
    let mut verify = vec!["verify", "--json"];
    verify.extend(map);
    verify.extend([source.as_str(), target.as_str()]);
    let out = run(&verify);
    assert_success(&out);
    let report = json(&out);
    assert_eq!(report["extra"], serde_json::json!([]), "{report}");

    // Filtered or sharded alike: the target's `n/b/deep` is `team/b/deep`'s, which the source
    // lists (with `--repo other` the target's `n/b/deep` was an extra `charts/deep`).
    for narrowing in [
        ["--repo", "other"],
        ["--shard", "0/3"],
        ["--exclude-repo", "team/**"],
    ] {
        let mut verify = vec!["verify", "--json"];
        verify.extend(map);
        verify.extend(narrowing);
        verify.extend([source.as_str(), target.as_str()]);
        let out = run(&verify);
        assert_success(&out);
        let report = json(&out);
        assert_eq!(
            report["extra"],
            serde_json::json!([]),
            "{narrowing:?}: {report}"
        );
    }
}

/// The plan's review document shows where each repository goes.
#[test]
fn the_plan_shows_the_renames_and_each_repositorys_name_in_the_target() {
    let (src, _) = source();
    let dst = Registry::start();
    let dir = tempfile::tempdir().unwrap();
    let cfg = crate::plan::config(
        dir.path(),
        &src.url(),
        &dst.url(),
        "[scope]\nmap = [\"app=apps/app\", \"team/=platform/team/\"]\n",
    );
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
    let review = stdout(&out);
    assert!(
        review
            .contains("- renamed in the target: `app` → `apps/app`, `team/` → `platform/team/`\n"),
        "{review}"
    );
    assert!(review.contains("| `app` | `apps/app` | 1 |"), "{review}");
    assert!(
        review.contains("| `team/a` | `platform/team/a` | 1 |"),
        "{review}"
    );
    assert!(review.contains("| `other` | `other` | 1 |"), "{review}");
}

/// A dry run says where each renamed repository goes, and writes nothing.
#[test]
fn a_dry_run_names_each_renamed_repository_and_its_new_name() {
    let (src, _) = source();
    let dst = Registry::start();
    let out = run_mapped(&["copy", "--dry-run"], &[&src.url(), &dst.url()]);
    assert_success(&out);
    let text = stdout(&out);
    for line in [
        "would copy app as apps/app\n",
        "would copy team/a as platform/team/a\n",
        "would copy team/b as platform/team/b\n",
    ] {
        assert!(text.contains(line), "{text}");
    }
    assert!(!text.contains("would copy other as"), "{text}");
    assert_eq!(digest_at(&dst.url(), "apps/app", "v1"), None);
}

/// `--repo` with a repository's new name selects nothing: the warning says filters take the
/// source's names, and which one it is.
#[test]
fn a_repo_filter_given_the_new_name_is_answered_with_the_source_name() {
    let (src, _) = source();
    let dst = Registry::start();
    let out = run(&[
        "copy",
        "--map",
        "app=apps/app",
        "--repo",
        "apps/app",
        &src.url(),
        &dst.url(),
    ]);
    assert_exit_code(&out, 4);
    assert!(
        stderr(&out).contains(
            "--repo takes the source's names: `app` is the repository --map names `apps/app` in TARGET"
        ),
        "{}",
        stderr(&out)
    );
}

/// A `--map` that renames nothing (a misspelt name) is warned about: its repository would keep
/// its old name in the target.
#[test]
fn a_rename_that_renames_nothing_is_warned_about() {
    let (src, _) = source();
    let dst = Registry::start();
    let out = run(&[
        "copy",
        "--dry-run",
        "--map",
        "ap=apps/app",
        "--map",
        "team/=platform/team/",
        &src.url(),
        &dst.url(),
    ]);
    assert_success(&out);
    let err = stderr(&out);
    assert!(
        err.contains("warning: --map ap=apps/app renamed nothing: SOURCE has no repository of that name (relative to its prefix); check its spelling"),
        "{err}"
    );
    assert!(
        !err.contains("team/=platform/team/ renamed nothing"),
        "{err}"
    );
}
