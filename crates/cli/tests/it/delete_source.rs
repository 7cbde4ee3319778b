//! `delete-source` against real registries: nothing is deleted unless a deep verify passes and
//! `--confirm` repeats the source.

use std::collections::BTreeMap;

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
    delete_confirmed_at(&src.url(), dst, options)
}

/// [`delete_confirmed`] of the source at `source` (a proxy in front of it).
fn delete_confirmed_at(source: &str, dst: &Registry, options: &[&str]) -> std::process::Output {
    let dst = dst.url();
    let mut args = vec!["delete-source"];
    args.extend_from_slice(options);
    args.extend([source, "--verified-against", &dst, "--confirm", source]);
    run(&args)
}

/// A repository of `expected` whose tags name at least two manifests, and its tags.
fn a_repository_with_two_manifests(
    expected: &acr_relocate::sample::Expected,
) -> (
    String,
    std::collections::BTreeMap<String, acr_relocate::digest::Digest>,
) {
    let (repository, tags) = expected
        .tags
        .iter()
        .find(|(_, tags)| {
            let digests: std::collections::BTreeSet<_> = tags.values().collect();
            digests.len() > 1
        })
        .expect("a repository with two manifests");
    (repository.clone(), tags.clone())
}

/// `delete-source` of `repository` of `src` (existence and size checked only) through a proxy
/// that, before the first DELETE of a manifest goes through, calls `meanwhile` with the source's
/// port, the repository and the digest being deleted (another client pushing meanwhile); the
/// output, and whether `meanwhile` was called.
fn delete_with_a_push_before_the_first_delete(
    src: &Registry,
    dst: &Registry,
    repository: &str,
    meanwhile: impl Fn(u16, &str, &str) + Send + Sync + 'static,
) -> (std::process::Output, bool) {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    use crate::support::http::Server;
    use crate::support::mount_proxy::forward_as_sent;

    let port = src.port;
    let called = Arc::new(AtomicBool::new(false));
    let once = called.clone();
    let proxy = Server::start_raw(move |request| {
        if request.deletes_a_manifest() && !once.swap(true, Ordering::SeqCst) {
            let (repository, deleting) = request
                .path
                .trim_start_matches("/v2/")
                .split_once("/manifests/")
                .unwrap();
            meanwhile(port, repository, deleting);
        }
        forward_as_sent(port, request)
    });
    let out = delete_confirmed_at(
        &proxy.url(),
        dst,
        &["--skip-content-check", "--repo", repository],
    );
    (out, called.load(Ordering::SeqCst))
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
    // Refused by the spelling check before anything is read (or, for names only the resolver
    // ties together, by the check after it): either way, one line that says why.
    assert!(
        err.contains("name the same registry") || err.contains("names the same repositories"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(!plan.exists(), "no plan written");
}

/// Tags the first platform of the index `repo:index_tag` as `new_tag` in `store`; returns the
/// platform's digest.
fn tag_first_platform(
    store: &std::sync::Arc<dyn acr_relocate::transport::Store>,
    repo: &str,
    index_tag: &str,
    new_tag: &str,
) -> acr_relocate::digest::Digest {
    block_on(async {
        let index = store.manifest(repo, index_tag).await.unwrap();
        let child = index.view().unwrap().children()[0].digest.clone();
        let platform = store.manifest(repo, child.as_str()).await.unwrap();
        store
            .put_manifest(repo, Some(new_tag), &platform)
            .await
            .unwrap();
        child
    })
}

/// Every manifest of `repo:tag`'s graph (the index and each platform) is in `store`: what
/// `skopeo copy --all` needs.
fn whole_graph_present(
    store: &std::sync::Arc<dyn acr_relocate::transport::Store>,
    repo: &str,
    tag: &str,
) {
    block_on(async {
        let index = store.manifest(repo, tag).await.unwrap();
        for child in index.view().unwrap().children() {
            assert_eq!(
                store
                    .manifest_digest(repo, child.digest.as_str())
                    .await
                    .unwrap()
                    .as_ref(),
                Some(&child.digest),
                "{repo}:{tag} lost its platform {}",
                child.digest
            );
        }
    });
}

/// The manifests of a `--json` outcome: (repository, digest) → (outcome, reason).
fn outcomes(out: &serde_json::Value) -> BTreeMap<(String, String), (String, String)> {
    out["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                (
                    m["repository"].as_str().unwrap().to_string(),
                    m["digest"].as_str().unwrap().to_string(),
                ),
                (
                    m["outcome"].as_str().unwrap().to_string(),
                    m["reason"].as_str().unwrap_or("").to_string(),
                ),
            )
        })
        .collect()
}

#[test]
fn a_platform_of_a_multi_arch_image_that_stays_is_kept_though_a_selected_tag_names_it() {
    // The reviewer's scenario: `amd64-only` points at a platform of `team/svc-1:latest`; deleting
    // it by digest would leave `latest` broken for `--all` pulls.
    let (src, _) = sample_registry(3);
    let src_store = open(&src.url());
    let child = tag_first_platform(&src_store, "team/svc-1", "latest", "amd64-only");
    let dst = Registry::start();
    assert_success(&run(&["copy", "-q", &src.url(), &dst.url()]));

    let out = delete_confirmed(&src, &dst, &["--json", "--tag", "amd64-only"]);
    assert_success(&out);
    let o = json(&out);
    assert_eq!(
        (o["deleted"].as_u64(), o["kept"].as_u64()),
        (Some(0), Some(1)),
        "{o}"
    );
    let (outcome, reason) = &outcomes(&o)[&("team/svc-1".to_string(), child.to_string())];
    assert_eq!(outcome, "kept");
    assert!(
        reason.starts_with("a platform (linux/amd64) of team/svc-1:latest, which stays"),
        "{reason}"
    );
    whole_graph_present(&src_store, "team/svc-1", "latest");
    let still = block_on(src_store.manifest_digest("team/svc-1", "amd64-only")).unwrap();
    assert_eq!(still, Some(child), "the tag stays with its manifest");

    // The text says the same.
    let out = delete_confirmed(&src, &dst, &["--tag", "amd64-only"]);
    assert_success(&out);
    let text = stdout(&out);
    assert!(
        text.contains("kept team/svc-1@sha256:") && text.contains(": a platform (linux/amd64) of team/svc-1:latest, which stays (the selection leaves `latest` out)"),
        "{text}"
    );
}

#[test]
fn deleting_a_multi_arch_image_leaves_a_platform_another_tag_names() {
    let (src, _) = sample_registry(3);
    let src_store = open(&src.url());
    let child = tag_first_platform(&src_store, "team/svc-1", "latest", "amd64-only");
    let dst = Registry::start();
    assert_success(&run(&["copy", "-q", &src.url(), &dst.url()]));
    let out = delete_confirmed(
        &src,
        &dst,
        &[
            "--json",
            "--repo",
            "team/svc-1",
            "--tag",
            "v.*|latest|stable",
        ],
    );
    assert_success(&out);
    assert_eq!(json(&out)["kept"], 0, "{}", json(&out));
    block_on(async {
        assert_eq!(
            src_store
                .manifest_digest("team/svc-1", "latest")
                .await
                .unwrap(),
            None
        );
        let still = src_store
            .manifest_digest("team/svc-1", "amd64-only")
            .await
            .unwrap();
        assert_eq!(still, Some(child), "`amd64-only` still pulls");
    });
}

#[test]
fn a_dry_run_lists_what_the_deletion_then_does() {
    let (src, _) = sample_registry(4);
    let src_store = open(&src.url());
    tag_first_platform(&src_store, "team/svc-1", "latest", "amd64-only");
    let dst = Registry::start();
    assert_success(&run(&["copy", "-q", &src.url(), &dst.url()]));
    let filter = ["--json", "--tag", "amd64-only|v1.0.0|v1.1.0"];
    let dry = {
        let mut args = vec!["--dry-run"];
        args.extend(filter);
        outcomes(&json(&delete_confirmed(&src, &dst, &args)))
    };
    let done = outcomes(&json(&delete_confirmed(&src, &dst, &filter)));
    assert!(dry.values().any(|(o, _)| o == "kept"), "{dry:?}");
    assert!(dry.values().any(|(o, _)| o == "would delete"), "{dry:?}");
    let as_done: BTreeMap<_, _> = dry
        .into_iter()
        .map(|(k, (o, r))| (k, (o.replace("would delete", "deleted"), r)))
        .collect();
    assert_eq!(as_done, done);
}

#[test]
fn referrers_and_signatures_go_with_the_image_they_describe() {
    // `team/app/svc-0:latest` (= v1.1.0) has an SBOM referrer (listed under the fallback tag
    // `sha256-<hex>` on Distribution) and a cosign-style `sha256-<hex>.sig` tag.
    let (src, dst, expected) = source_and_full_copy(1);
    let repo = "team/app/svc-0";
    let (_, subject, sbom) = expected.referrers[0].clone();
    let out = delete_confirmed(&src, &dst, &["--json"]);
    assert_success(&out);
    let o = json(&out);
    let listed = outcomes(&o);
    assert_eq!(
        listed[&(repo.to_string(), sbom.to_string())].0,
        "deleted",
        "{o}"
    );
    let sbom_entry = o["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["digest"] == sbom.as_str())
        .unwrap();
    assert_eq!(sbom_entry["describes"], subject.as_str());
    let (src_store, dst_store) = (open(&src.url()), open(&dst.url()));
    block_on(async {
        for (store, there) in [(&src_store, None), (&dst_store, Some(&sbom))] {
            let found = store.manifest_digest(repo, sbom.as_str()).await.unwrap();
            assert_eq!(found.as_ref(), there, "the SBOM by digest");
        }
        for tag in [
            format!("sha256-{}", subject.hex()),
            format!("sha256-{}.sig", subject.hex()),
        ] {
            assert_eq!(
                src_store.manifest_digest(repo, &tag).await.unwrap(),
                None,
                "{tag}"
            );
        }
    });
}

#[test]
fn a_signature_or_referrer_the_selection_leaves_out_keeps_the_image_it_describes() {
    let (src, expected) = sample_registry(1);
    let repo = "team/app/svc-0";
    let (_, subject, sbom) = expected.referrers[0].clone();
    let dst = Registry::start();
    assert_success(&run(&["copy", "-q", &src.url(), &dst.url()]));
    // The SBOM also gets a tag of its own, on both sides (pushed directly: a copy of a tagged
    // referrer races with the copy of its fallback tag, which is not what this test is about).
    let (src_store, dst_store) = (open(&src.url()), open(&dst.url()));
    block_on(async {
        let m = src_store.manifest(repo, sbom.as_str()).await.unwrap();
        for store in [&src_store, &dst_store] {
            store.put_manifest(repo, Some("sbom"), &m).await.unwrap();
        }
    });

    // `sbom` left out: the image it describes stays; v1.0.0 goes.
    let out = delete_confirmed(&src, &dst, &["--json", "--tag", "v.*|latest|sha256-.*"]);
    assert_success(&out);
    let listed = outcomes(&json(&out));
    let (outcome, reason) = &listed[&(repo.to_string(), subject.to_string())];
    assert_eq!(outcome, "kept");
    assert_eq!(
        reason,
        &format!("described by {repo}:sbom, which stays (the selection leaves `sbom` out)")
    );
    let v1 = &expected.tags[repo]["v1.0.0"];
    assert_eq!(listed[&(repo.to_string(), v1.to_string())].0, "deleted");

    // The cosign-style signature and the fallback tag, not named, are selected with the image
    // they describe (as `copy --tag` and `verify --tag` take them): all go together.
    let sig = format!("sha256-{}.sig", subject.hex());
    let out = delete_confirmed(&src, &dst, &["--json", "--tag", "v.*|latest|sbom"]);
    assert_success(&out);
    let (outcome, reason) = &outcomes(&json(&out))[&(repo.to_string(), subject.to_string())];
    assert_eq!(outcome, "deleted", "{reason}");
    assert_eq!(
        block_on(src_store.manifest_digest(repo, &sig)).unwrap(),
        None
    );

    // Everything taken: image, SBOM (tagged or not), signature and fallback tag go together.
    let out = delete_confirmed(&src, &dst, &["--json"]);
    assert_success(&out);
    assert_eq!(json(&out)["kept"], 0, "{}", json(&out));
    block_on(async {
        for reference in [subject.as_str(), sbom.as_str(), "sbom", "latest", &sig] {
            let found = src_store.manifest_digest(repo, reference).await.unwrap();
            assert_eq!(found, None, "{reference} still in the source");
        }
    });
}

/// As `copy`, `verify` and `inventory`: a misspelt `--repo` or `--tag` is not a success.
#[test]
fn a_selection_that_matches_nothing_warns_in_one_line_exits_4_and_deletes_nothing() {
    let (src, dst, expected) = source_and_full_copy(2);
    for filter in [&["--repo", "nomatch/**"][..], &["--tag", "v9\\..*"][..]] {
        let out = delete_confirmed(&src, &dst, filter);
        assert_exit_code(&out, 4);
        let err = stderr(&out);
        assert_eq!(err.trim_end().lines().count(), 1, "{filter:?}: {err}");
        assert!(
            err.contains(&format!(
                "delete-source: warning: {} '{}' selected nothing in SOURCE, so nothing was done",
                filter[0], filter[1]
            )),
            "{err}"
        );
        assert!(!stdout(&out).contains("deleted"), "{}", stdout(&out));
    }
    source_intact(&src, &expected);
}

/// A rerun after everything selected was deleted, with the same (rightly spelt) filters or a
/// `--tag`, is a success with nothing to do, as it is without filters: scripts rerun whole
/// relocations.
#[test]
fn a_rerun_with_filters_after_everything_selected_was_deleted_has_nothing_to_do() {
    let (src, dst, _) = source_and_full_copy(2);
    let filters = ["--exclude-repo", "nomatch/**", "--repo", "**"];
    assert_success(&delete_confirmed(&src, &dst, &filters));
    let (source, target) = (src.url(), dst.url());
    for command in [&["inventory"][..], &["copy", "-q"][..]] {
        let mut args = command.to_vec();
        args.extend(filters);
        args.push(&source);
        if command[0] == "copy" {
            args.push(&target);
        }
        let out = run(&args);
        assert_success(&out);
        assert!(
            !stderr(&out).contains("check the spelling"),
            "{}",
            stderr(&out)
        );
    }
    // A tag expression too: with no tag left to match, it is not misspelt.
    for filters in [&filters[..], &["--tag", "v1.0.0"][..]] {
        let out = delete_confirmed(&src, &dst, filters);
        assert_success(&out);
        let err = stderr(&out);
        assert!(
            err.contains("the selected repositories of SOURCE hold no tags: nothing to do")
                && !err.contains("check the spelling"),
            "{filters:?}: {err}"
        );
    }
}

/// The reviewer's case: a layer of the target damaged in its storage (same size, one byte
/// flipped) passes an existence-and-size check, so the fresh verify reads every blob.
#[test]
fn a_layer_damaged_in_target_storage_is_refused_and_nothing_is_deleted() {
    let (src, dst, expected) = source_and_full_copy(2);
    let (repo, layer) = an_image_layer(&open(&dst.url()), &expected);
    flip_a_byte(&dst.blob_data(&layer));
    let out = delete_confirmed(&src, &dst, &[]);
    assert_exit_code(&out, 1);
    let text = stdout(&out);
    assert!(text.contains(&format!("broken {repo}@")), "{text}");
    assert!(
        text.contains(layer.as_str()) && text.contains("hashes to"),
        "{text}"
    );
    assert!(stderr(&out).contains("nothing deleted"), "{}", stderr(&out));
    source_intact(&src, &expected);

    // In --json: the verify's report names it too.
    let out = delete_confirmed(&src, &dst, &["--json"]);
    assert_exit_code(&out, 1);
    let o = json(&out);
    assert_eq!(o["verify"]["content"], true, "{o}");
    assert!(
        o["verify"]["broken"].to_string().contains(layer.as_str()),
        "{o}"
    );
    assert_eq!(o["deleted"], 0);
    source_intact(&src, &expected);
}

#[test]
fn skip_content_check_trusts_the_target_storage() {
    let (src, dst, expected) = source_and_full_copy(2);
    let (_, layer) = an_image_layer(&open(&dst.url()), &expected);
    flip_a_byte(&dst.blob_data(&layer));
    let out = delete_confirmed(&src, &dst, &["--json", "--skip-content-check"]);
    assert_success(&out);
    let o = json(&out);
    assert_eq!(o["verify"]["content"], false, "{o}");
    assert_eq!(o["verify"]["blobs_read"], 0, "{o}");
    assert!(o["deleted"].as_u64().unwrap() > 0, "{o}");
    assert_eq!(o["failed"], 0, "{o}");
}

#[test]
fn a_layer_damaged_in_a_layout_target_is_refused_and_nothing_is_deleted() {
    let (src, expected) = sample_registry(2);
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("target");
    let target = format!("oci:{}", root.display());
    assert_success(&run(&["copy", "-q", &src.url(), &target]));
    let (_, layer) = an_image_layer(&open(&target), &expected);
    flip_a_byte(&layout_blob(&root, &layer));
    let source = src.url();
    let delete = |extra: &[&str]| {
        let mut args = vec!["delete-source", "--json"];
        args.extend_from_slice(extra);
        args.extend([source.as_str(), "--verified-against", &target]);
        args.extend(["--confirm", source.as_str()]);
        run(&args)
    };
    let out = delete(&[]);
    assert_exit_code(&out, 1);
    assert!(json(&out)["verify"]["broken"]
        .to_string()
        .contains(layer.as_str()));
    source_intact(&src, &expected);

    let out = delete(&["--skip-content-check"]);
    assert_success(&out);
    assert!(json(&out)["deleted"].as_u64().unwrap() > 0);
}

/// `apply`'s `delete_source` step keeps the guard: its own verify reads every blob unless the
/// config says `skip_content_check = true`, which the plan records (and only then: plans
/// without the key check content).
#[test]
fn the_apply_step_checks_content_unless_the_config_skips_it() {
    use crate::plan::{config, plan};
    let (src, expected) = sample_registry(2);
    let dst = Registry::start();
    let source = src.url();
    let planned = |dir: &std::path::Path, extra: &str| {
        let cfg = config(
            dir,
            &source,
            &dst.url(),
            &format!("[delete_source]\nconfirm = \"{source}\"\n{extra}"),
        );
        let plan_path = plan(dir, &cfg);
        let text = std::fs::read_to_string(&plan_path).unwrap();
        (plan_path, text)
    };
    let apply = |plan_path: &std::path::Path, steps: &[&str]| {
        let mut args = vec!["apply", "-q", plan_path.to_str().unwrap()];
        args.extend_from_slice(steps);
        run(&args)
    };
    let checked = tempfile::tempdir().unwrap();
    let (plan_path, text) = planned(checked.path(), "");
    assert!(!text.contains("skip_content_check"), "{text}");
    assert_success(&apply(&plan_path, &["--step", "copy"]));
    let (_, layer) = an_image_layer(&open(&dst.url()), &expected);
    flip_a_byte(&dst.blob_data(&layer));
    let out = apply(&plan_path, &[]);
    assert_exit_code(&out, 1);
    assert!(stderr(&out).contains(layer.as_str()), "{}", stderr(&out));
    source_intact(&src, &expected);

    let skipped = tempfile::tempdir().unwrap();
    let (plan_path, text) = planned(skipped.path(), "skip_content_check = true\n");
    assert!(text.contains("\"skip_content_check\": true"), "{text}");
    assert_success(&apply(&plan_path, &[]));
    assert!(repositories(&open(&src.url())).iter().all(|repo| block_on(
        open(&src.url()).tags(repo)
    )
    .unwrap_or_default()
    .is_empty()));
}

/// A repository pushed to the source after the plan was reviewed is not the plan's: `apply`'s
/// `delete_source` step verifies and deletes the plan's repositories only, and leaves it alone.
#[test]
fn the_apply_step_deletes_the_plans_repositories_and_not_one_pushed_after_planning() {
    use crate::plan::{config, plan};
    let (src, expected) = sample_registry(2);
    let dst = Registry::start();
    let source = src.url();
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        dir.path(),
        &source,
        &dst.url(),
        &format!("[delete_source]\nconfirm = \"{source}\"\nskip_content_check = true\n"),
    );
    let plan_path = plan(dir.path(), &cfg);
    // After the review: new repositories in the source, also copied by hand to the target.
    assert_success(&run(&["sample", "--repos", "1", &format!("{source}/late")]));
    assert_success(&run(&[
        "copy",
        "-q",
        "--repo",
        "late/**",
        &source,
        &dst.url(),
    ]));
    let late: Vec<String> = repositories(&open(&source))
        .into_iter()
        .filter(|r| r.starts_with("late/"))
        .collect();
    assert!(!late.is_empty());

    let out = run(&["apply", "-q", plan_path.to_str().unwrap()]);
    assert_success(&out);
    for repo in &late {
        assert!(
            !block_on(open(&source).tags(repo)).unwrap().is_empty(),
            "{repo}, outside the plan, was deleted"
        );
    }
    for repo in expected.tags.keys() {
        assert!(
            block_on(open(&source).tags(repo))
                .unwrap_or_default()
                .is_empty(),
            "{repo} was not deleted"
        );
    }
}

/// A tag pushed to the source while `delete-source` deletes was never verified: it is kept, and
/// listed as kept, so that nothing the target lacks stays in the source unsaid.
#[test]
fn a_tag_pushed_to_the_source_during_the_deletion_is_kept_and_listed() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    use crate::support::http::Server;
    use crate::support::mount_proxy::forward_as_sent;
    use crate::support::oci_push::push_manifest;

    let (src, _) = sample_registry(2);
    let dst = Registry::start();
    assert_success(&run(&["copy", "-q", &src.url(), &dst.url()]));
    let port = src.port;
    let pushed = Arc::new(AtomicBool::new(false));
    let once = pushed.clone();
    // Before the first deletion goes through, another client pushes a new image (another
    // digest) under the tag `late` into the repository being deleted.
    let proxy = Server::start_raw(move |request| {
        if request.deletes_a_manifest() && !once.swap(true, Ordering::SeqCst) {
            let (repository, digest) = request
                .path
                .trim_start_matches("/v2/")
                .split_once("/manifests/")
                .unwrap();
            let (media_type, bytes) = pull_manifest(port, repository, digest);
            let mut body: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
            body["annotations"] = serde_json::json!({"pushed": "during the deletion"});
            push_manifest(
                port,
                repository,
                "late",
                &media_type,
                &serde_json::to_vec(&body).unwrap(),
            );
        }
        forward_as_sent(port, request)
    });
    let source = proxy.url();
    let out = delete_confirmed_at(&source, &dst, &["--skip-content-check"]);
    assert_success(&out);
    assert!(pushed.load(Ordering::SeqCst), "nothing was deleted");
    let report = stdout(&out);
    assert!(
        report.lines().any(|l| l.starts_with("kept ")
            && l.contains("(late)")
            && l.contains("pushed to the source during the run")),
        "{report}"
    );
}

/// A tag pushed, while the repository is being deleted, onto a manifest still waiting for its
/// DELETE: a DELETE by digest would take it along, never verified. The tags are listed again
/// before each deletion, so that manifest, and the rest of the repository, stay, and say why.
#[test]
fn a_tag_pushed_onto_a_manifest_still_to_delete_keeps_it_and_the_rest_of_its_repository() {
    use std::sync::{Arc, Mutex};

    let (src, dst, expected) = source_and_full_copy(2);
    let (repository, tags) = a_repository_with_two_manifests(&expected);
    let late_digest: Arc<Mutex<Option<String>>> = Arc::default();
    let late = late_digest.clone();
    let tags_seen = tags.clone();
    // Another manifest of the repository, pushed again under a new tag (same bytes, same
    // digest) before the first deletion goes through.
    let (out, called) = delete_with_a_push_before_the_first_delete(
        &src,
        &dst,
        &repository,
        move |port, repository, deleting| {
            let (_, other) = tags_seen
                .iter()
                .find(|(_, d)| d.to_string() != deleting)
                .unwrap();
            retag(port, repository, other.as_str(), "late");
            *late.lock().unwrap() = Some(other.to_string());
        },
    );
    assert_success(&out);
    assert!(called, "nothing was deleted");
    let late = late_digest.lock().unwrap().clone().unwrap();
    // The tag and its manifest are still in the source.
    let now = block_on(open(&src.url()).manifest_digest(&repository, "late")).unwrap();
    assert_eq!(now.map(|d| d.to_string()), Some(late.clone()));
    let report = stdout(&out);
    assert!(
        report.lines().any(|l| l.starts_with("kept ")
            && l.contains(&late)
            && l.contains("late pushed to")
            && l.contains("since it was read")),
        "{report}"
    );
    // Only the one DELETE sent before the tag appeared went through.
    let deleted = report.lines().filter(|l| l.starts_with("deleted ")).count();
    assert_eq!(deleted, 1, "{report}");
}

/// A tag moved, while the repository is being deleted, onto a manifest about to be deleted:
/// the DELETE by digest takes it along (Distribution removes every tag of the manifest), so the
/// source's last push of that name is gone, the target holding the older one. Listing names
/// only, nothing could have seen it before; once gone, it is reported as failed (exit 1) with
/// what to do, and the rest of the repository stays.
#[test]
fn a_tag_moved_onto_a_manifest_being_deleted_is_reported_and_the_rest_of_its_repository_stays() {
    use std::sync::{Arc, Mutex};

    let (src, dst, expected) = source_and_full_copy(2);
    let (repository, tags) = a_repository_with_two_manifests(&expected);
    let moved_tag: Arc<Mutex<Option<String>>> = Arc::default();
    let name = moved_tag.clone();
    let tags_seen = tags.clone();
    // A tag of another manifest, moved onto the one being deleted.
    let (out, called) = delete_with_a_push_before_the_first_delete(
        &src,
        &dst,
        &repository,
        move |port, repository, deleting| {
            let (tag, _) = tags_seen
                .iter()
                .find(|(_, d)| d.to_string() != deleting)
                .unwrap();
            retag(port, repository, deleting, tag);
            *name.lock().unwrap() = Some(tag.clone());
        },
    );
    assert!(called, "nothing was deleted");
    assert_exit_code(&out, 1);
    let tag = moved_tag.lock().unwrap().clone().unwrap();
    let report = stdout(&out);
    assert!(
        report
            .lines()
            .any(|l| l.starts_with(&format!("failed {repository} ({tag})"))
                && l.contains("gone from the source during the run")
                && l.contains("push that manifest to the target under it again")),
        "{report}"
    );
    // Only the DELETE that took the tag went through; the tag's earlier manifest stays.
    let deleted = report.lines().filter(|l| l.starts_with("deleted ")).count();
    assert_eq!(deleted, 1, "{report}");
    let earlier = &tags[&tag];
    assert!(
        report
            .lines()
            .any(|l| l.starts_with(&format!("kept {repository}@{earlier}"))),
        "{report}"
    );
}

/// A source whose deletion is turned off (Distribution's default, a registry policy) answers
/// 405 to every DELETE: a DELETE of a manifest no registry holds, sent before the verify, finds
/// it out, and the run stops in one line saying what to enable, nothing verified; a source that
/// refuses only real manifests stops at the first of them, instead of one failure per manifest.
#[test]
fn a_source_that_refuses_deletion_stops_at_the_first_405_saying_what_to_enable() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use crate::support::http::{Response, Server};
    use crate::support::mount_proxy::forward_as_sent;

    let (src, dst, expected) = source_and_full_copy(2);
    let port = src.port;
    let nothing = format!("sha256:{}", "0".repeat(64));
    for probe_refused in [true, false] {
        let deletes = Arc::new(AtomicUsize::new(0));
        let (seen, nothing) = (deletes.clone(), nothing.clone());
        let proxy = Server::start_raw(move |request| {
            if request.method == "DELETE" {
                seen.fetch_add(1, Ordering::SeqCst);
                if probe_refused || !request.path.ends_with(&nothing) {
                    return Response::json(
                        405,
                        &serde_json::json!({"errors": [{"code": "UNSUPPORTED", "message": "The operation is unsupported."}]}),
                    );
                }
            }
            forward_as_sent(port, request)
        });
        let source = proxy.url();
        let out = delete_confirmed_at(&source, &dst, &["--skip-content-check"]);
        assert_exit_code(&out, 1);
        let (report, err) = (stdout(&out), stderr(&out));
        if probe_refused {
            assert_eq!(deletes.load(Ordering::SeqCst), 1, "only the probe");
            assert_eq!(err.trim_end().lines().count(), 1, "{err}");
            assert!(
                err.contains("does not allow deleting manifests")
                    && err.contains("storage.delete.enabled: true")
                    && err.contains("nothing verified or deleted"),
                "{err}"
            );
            assert!(!report.contains("verify"), "no verify: {report}");
        } else {
            assert_eq!(
                deletes.load(Ordering::SeqCst),
                2,
                "DELETEs went on after a 405"
            );
            let failed: Vec<&str> = report
                .lines()
                .filter(|l| l.starts_with("failed "))
                .collect();
            assert_eq!(failed.len(), 1, "{report}");
            assert!(
                failed[0].contains("does not allow deleting manifests")
                    && failed[0].contains("storage.delete.enabled: true"),
                "{report}"
            );
        }
    }
    source_intact(&src, &expected);
}

/// An exclusion that leaves nothing out (`dev` where the tag is `1.2-dev`: expressions match
/// whole tags) would delete what it was meant to keep: refused, exit 4, nothing deleted, with
/// the expression that matches; a copy with it is warned about.
#[test]
fn an_exclusion_that_left_nothing_out_is_refused_and_nothing_is_deleted() {
    use crate::support::oci_push::push_image_as;
    let (src, dst) = (Registry::start(), Registry::start());
    push_image_as(src.port, "app", "v1", "amd64", b"v1");
    push_image_as(src.port, "app", "1.2-dev", "amd64", b"dev");

    let out = run(&["copy", "--exclude-tag", "dev", &src.url(), &dst.url()]);
    assert_success(&out);
    assert!(
        stderr(&out).contains("copy: warning: --exclude-tag 'dev' left nothing out")
            && stderr(&out).contains("matches a part of the tag '1.2-dev', but an expression matches whole tags: write '.*dev.*'"),
        "{}",
        stderr(&out)
    );

    for dry in [true, false] {
        let mut options = vec!["--exclude-tag", "dev"];
        if dry {
            options.push("--dry-run");
        }
        let out = delete_confirmed(&src, &dst, &options);
        assert_exit_code(&out, 4);
        assert!(
            stderr(&out).contains("--exclude-tag 'dev'")
                && stderr(&out).contains("left nothing out")
                && stderr(&out).contains("nothing deleted"),
            "{}",
            stderr(&out)
        );
    }
    let store = open(&src.url());
    assert!(block_on(store.manifest_digest("app", "1.2-dev"))
        .unwrap()
        .is_some());
    assert!(block_on(store.manifest_digest("app", "v1"))
        .unwrap()
        .is_some());

    // An expression that matches no tag is taken as written (a standing exclusion whose tags
    // are gone): warned about, not refused, and never rewritten into a wider one.
    let out = delete_confirmed(&src, &dst, &["--dry-run", "--exclude-tag", ".*-de"]);
    assert_success(&out);
    assert!(
        stderr(&out).contains("--exclude-tag '.*-de' left nothing out")
            && !stderr(&out).contains("write '"),
        "{}",
        stderr(&out)
    );

    // The whole-tag expression leaves the tag out and deletes the rest.
    let out = delete_confirmed(&src, &dst, &["--exclude-tag", ".*dev.*"]);
    assert_success(&out);
    assert!(block_on(store.manifest_digest("app", "1.2-dev"))
        .unwrap()
        .is_some());
    assert!(block_on(store.manifest_digest("app", "v1"))
        .unwrap()
        .is_none());
}

#[test]
fn a_glob_given_as_a_tag_expression_is_refused_saying_tags_take_regular_expressions() {
    let out = run(&["inventory", "--tag", "*", "oci:examples/sample-layout"]);
    assert_exit_code(&out, 2);
    assert!(
        stderr(&out).contains("--tag takes regular expressions matching whole tags, not globs"),
        "{}",
        stderr(&out)
    );
}

/// `apply`'s `delete_source` step deletes from the plan's repositories, which the config's
/// `exclude_repos` already left out: the exclusion is not warned about as matching nothing (it
/// did its work: the excluded repository stays whole), and `exclude_tags` still keeps its tags.
#[test]
fn the_apply_step_does_not_warn_that_the_plans_repository_exclusion_left_nothing_out() {
    use crate::plan::{config, plan};
    let (src, expected) = sample_registry(2);
    let dst = Registry::start();
    let source = src.url();
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        dir.path(),
        &source,
        &dst.url(),
        &format!(
            "[scope]\nexclude_repos = [\"team/svc-*\"]\nexclude_tags = ['latest']\n\n[delete_source]\nconfirm = \"{source}\"\nskip_content_check = true\n"
        ),
    );
    let plan_path = plan(dir.path(), &cfg);
    let out = run(&["apply", plan_path.to_str().unwrap()]);
    assert_success(&out);
    let err = stderr(&out);
    assert!(!err.contains("left nothing out"), "{err}");
    assert!(!err.contains("check its spelling"), "{err}");

    let store = open(&source);
    let still = |repo: &str, tag: &str| block_on(store.manifest_digest(repo, tag)).unwrap();
    // The excluded repository stays whole.
    for (tag, digest) in &expected.tags["team/svc-1"] {
        assert_eq!(
            still("team/svc-1", tag).as_ref(),
            Some(digest),
            "team/svc-1:{tag}"
        );
    }
    // In the others, the excluded tag stays; what else was selected is gone.
    let repo = "team/app/svc-0";
    assert!(still(repo, "latest").is_some(), "{repo}:latest deleted");
    let latest = &expected.tags[repo]["latest"];
    let others: Vec<&String> = expected.tags[repo]
        .iter()
        .filter(|(tag, digest)| *digest != latest && !tag.starts_with("sha256-"))
        .map(|(tag, _)| tag)
        .collect();
    assert!(!others.is_empty());
    for tag in others {
        assert_eq!(still(repo, tag), None, "{repo}:{tag} still in the source");
    }
}
