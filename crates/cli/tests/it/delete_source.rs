//! `delete-source` against real registries: nothing is deleted unless a deep verify passes and
//! `--confirm` repeats the source.

use crate::util::*;

/// A sample registry of `repositories` repositories and a target holding a full copy of it.
fn source_and_full_copy(
    repositories: usize,
) -> (Registry, Registry, acr_relocate::sample::Expected) {
    let (src, expected) = sample_registry(repositories);
    let dst = Registry::start();
    assert_success(&run(&["copy", "-q", &src.url(), &dst.url()]));
    (src, dst, expected)
}

/// Runs `delete-source` of `src`, verified against `dst` and confirmed, with `options` first.
fn delete_confirmed(src: &Registry, dst: &Registry, options: &[&str]) -> std::process::Output {
    let (src, dst) = (src.url(), dst.url());
    let mut args = vec!["delete-source"];
    args.extend_from_slice(options);
    args.extend([src.as_str(), "--verified-against", &dst, "--confirm", &src]);
    run(&args)
}

/// Every expected tag of the source still resolves (nothing was deleted).
fn source_intact(src: &Registry, expected: &acr_relocate::sample::Expected) {
    assert_holds(&open(&src.url()), &expected.tags, None);
}

#[test]
fn a_partial_target_is_refused_and_nothing_is_deleted() {
    let (src, expected) = sample_registry(4);
    let dst = Registry::start();
    assert_success(&run(&[
        "copy",
        "-q",
        "--repo",
        "team/**",
        &src.url(),
        &dst.url(),
    ]));
    let out = delete_confirmed(&src, &dst, &[]);
    assert_exit_code(&out, 1);
    assert!(stdout(&out).contains("missing"), "{}", stdout(&out));
    assert!(stderr(&out).contains("nothing deleted"), "{}", stderr(&out));
    source_intact(&src, &expected);
}

#[test]
fn a_verified_target_lets_every_selected_manifest_go() {
    let (src, dst, expected) = source_and_full_copy(4);
    let out = delete_confirmed(&src, &dst, &["--json"]);
    assert_success(&out);
    let o = json(&out);
    assert_eq!(o["failed"], 0);
    assert_eq!(o["kept"], 0);
    assert!(o["deleted"].as_u64().unwrap() > 0);
    let src_store = open(&src.url());
    block_on(async {
        for (repo, tags) in &expected.tags {
            for tag in tags.keys() {
                assert_eq!(
                    src_store.manifest_digest(repo, tag).await.unwrap(),
                    None,
                    "{repo}:{tag} still in the source"
                );
            }
        }
    });
    // The target is untouched.
    assert_holds(&open(&dst.url()), &expected.tags, None);
}

#[test]
fn a_dry_run_lists_and_deletes_nothing() {
    let (src, dst, expected) = source_and_full_copy(3);
    let out = run(&[
        "delete-source",
        "--dry-run",
        &src.url(),
        "--verified-against",
        &dst.url(),
    ]);
    assert_success(&out);
    let text = stdout(&out);
    assert!(text.contains("would delete"), "{text}");
    source_intact(&src, &expected);
}

#[test]
fn a_wrong_or_missing_confirm_is_refused_before_anything_runs() {
    let (src, dst, expected) = source_and_full_copy(2);
    for confirm in [Some("127.0.0.1"), Some("other.example.com"), None] {
        let mut args = vec!["delete-source", src.url().leak(), "--verified-against"];
        args.push(dst.url().leak());
        if let Some(c) = confirm {
            args.extend(["--confirm", c]);
        }
        let out = run(&args);
        assert_eq!(out.status.code(), Some(2), "{confirm:?}: {}", stderr(&out));
        assert!(stderr(&out).contains("nothing deleted"), "{}", stderr(&out));
    }
    source_intact(&src, &expected);
}

#[test]
fn a_tag_filter_keeps_manifests_that_unselected_tags_share() {
    let (src, dst, expected) = source_and_full_copy(3);
    // `latest` and `stable` alias version tags: deleting their digest would take them too.
    let out = delete_confirmed(&src, &dst, &["--json", "--tag", r"v.*"]);
    assert_success(&out);
    let o = json(&out);
    assert!(o["kept"].as_u64().unwrap() > 0, "{o}");
    let src_store = open(&src.url());
    block_on(async {
        for (repo, tags) in &expected.tags {
            for tag in ["latest", "stable"] {
                if let Some(d) = tags.get(tag) {
                    assert_eq!(
                        src_store.manifest_digest(repo, tag).await.unwrap().as_ref(),
                        Some(d),
                        "{repo}:{tag} must stay"
                    );
                }
            }
        }
    });
}

#[test]
fn an_oci_layout_source_is_refused() {
    let (dir, _) = sample_layout(1, 3);
    let src = oci(dir.path());
    let out = run(&[
        "delete-source",
        &src,
        "--verified-against",
        "oci:/nonexistent",
        "--confirm",
        &src,
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("OCI layout"), "{}", stderr(&out));
}

#[test]
fn a_registry_spelled_two_ways_is_not_verified_against_itself() {
    // The reviewer's command: `127.0.0.1` and `localhost` are one registry, and so are the other
    // spellings of this machine, a prefix within the whole registry, and upper case. A verify of
    // it against itself would pass and let everything go.
    let (src, expected) = sample_registry(3);
    let port = src.port;
    let source = format!("http://127.0.0.1:{port}");
    for target in [
        format!("http://localhost:{port}"),
        format!("http://LOCALHOST.:{port}/team"),
        format!("http://[::1]:{port}"),
        format!("http://0.0.0.0:{port}"),
        format!("http://127.1:{port}"),
        format!("http://127.0.0.1:{port}"),
    ] {
        let out = run(&[
            "delete-source",
            &source,
            "--verified-against",
            &target,
            "--confirm",
            &source,
        ]);
        assert_exit_code(&out, 2);
        let err = stderr(&out);
        assert!(
            err.contains("same repositories of one registry"),
            "{target}: {err}"
        );
        assert!(
            err.contains(&format!("`localhost:{port}`")),
            "{target}: {err}"
        );
        assert!(err.contains("nothing deleted"), "{target}: {err}");
        assert_eq!(err.lines().count(), 1, "one line: {err}");
    }
    source_intact(&src, &expected);
}

#[test]
fn disjoint_prefixes_of_one_registry_are_two_sets_of_repositories() {
    // Moving `team/**` under `moved/` within one registry, then deleting the originals: the
    // prefixes do not overlap, so this is allowed, whatever the spelling of the host.
    let (src, expected) = sample_registry(3);
    let port = src.port;
    assert_success(&run(&[
        "copy",
        "-q",
        &format!("http://127.0.0.1:{port}/team"),
        &format!("http://127.0.0.1:{port}/moved"),
    ]));
    let source = format!("http://127.0.0.1:{port}/team");
    let out = run(&[
        "delete-source",
        "--json",
        &source,
        "--verified-against",
        &format!("http://localhost:{port}/moved"),
        "--confirm",
        &source,
    ]);
    assert_success(&out);
    assert!(json(&out)["deleted"].as_u64().unwrap() > 0);
    let store = open(&src.url());
    block_on(async {
        for (repo, tags) in &expected.tags {
            for (tag, digest) in tags {
                let here = store.manifest_digest(repo, tag).await.unwrap();
                if let Some(rest) = repo.strip_prefix("team/") {
                    assert_eq!(here, None, "{repo}:{tag} deleted");
                    let moved = store.manifest_digest(&format!("moved/{rest}"), tag).await;
                    assert_eq!(moved.unwrap().as_ref(), Some(digest), "moved/{rest}:{tag}");
                } else {
                    assert_eq!(here.as_ref(), Some(digest), "{repo}:{tag} is outside team/");
                }
            }
        }
    });
}

#[test]
fn a_plan_whose_target_is_the_source_spelled_otherwise_is_refused() {
    let (src, _) = sample_registry(1);
    let dir = tempfile::tempdir().unwrap();
    let port = src.port;
    let config = crate::plan::config(
        dir.path(),
        &format!("http://127.0.0.1:{port}"),
        &format!("http://localhost:{port}/mirror"),
        &format!("[delete_source]\nconfirm = \"http://127.0.0.1:{port}\"\n"),
    );
    let plan = dir.path().join("plan.json");
    let out = run(&[
        "plan",
        "--config",
        config.to_str().unwrap(),
        "-o",
        plan.to_str().unwrap(),
    ]);
    assert_exit_code(&out, 2);
    let err = stderr(&out);
    assert!(err.contains("names the same repositories as the source"), "{err}");
    assert!(!plan.exists(), "no plan written");
}
