//! `delete-source` against real registries: nothing is deleted unless a deep verify passes and
//! `--confirm` repeats the source.

use crate::util::*;

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
    let out = run(&[
        "delete-source",
        &src.url(),
        "--verified-against",
        &dst.url(),
        "--confirm",
        &src.url(),
    ]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    assert!(stdout(&out).contains("missing"), "{}", stdout(&out));
    assert!(stderr(&out).contains("nothing deleted"), "{}", stderr(&out));
    source_intact(&src, &expected);
}

#[test]
fn a_verified_target_lets_every_selected_manifest_go() {
    let (src, expected) = sample_registry(4);
    let dst = Registry::start();
    assert_success(&run(&["copy", "-q", &src.url(), &dst.url()]));
    let out = run(&[
        "delete-source",
        "--json",
        &src.url(),
        "--verified-against",
        &dst.url(),
        "--confirm",
        &src.url(),
    ]);
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
    let (src, expected) = sample_registry(3);
    let dst = Registry::start();
    assert_success(&run(&["copy", "-q", &src.url(), &dst.url()]));
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
    let (src, expected) = sample_registry(2);
    let dst = Registry::start();
    assert_success(&run(&["copy", "-q", &src.url(), &dst.url()]));
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
    let (src, expected) = sample_registry(3);
    let dst = Registry::start();
    assert_success(&run(&["copy", "-q", &src.url(), &dst.url()]));
    // `latest` and `stable` alias version tags: deleting their digest would take them too.
    let out = run(&[
        "delete-source",
        "--json",
        "--tag",
        r"v.*",
        &src.url(),
        "--verified-against",
        &dst.url(),
        "--confirm",
        &src.url(),
    ]);
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
