//! `copy` between real registries.

use std::sync::Arc;

use acr_relocate::digest::Digest;
use acr_relocate::transport::{Destination, Store};

use crate::util::*;

/// Flips one byte (the one `pick` chooses from the layer's bytes) of the last layer of
/// `svc2:v1.0.0` in `src`'s storage, keeping its size; returns that layer's digest.
fn corrupt_a_layer_of_svc2(src: &Registry, pick: impl FnOnce(&[u8]) -> usize) -> Digest {
    let layer = last_layer(&open(&src.url()), "svc2", "v1.0.0");
    let path = src.blob_data(&layer);
    let mut bytes = std::fs::read(&path).unwrap();
    let at = pick(&bytes);
    bytes[at] ^= 0xff;
    std::fs::write(&path, bytes).unwrap();
    layer
}

/// Asserts that `store` holds no blob `digest` in `svc2`.
fn assert_no_svc2_blob(store: &Arc<dyn Store>, digest: &Digest) {
    assert!(
        !block_on(Destination::blob_size(store.as_ref(), "svc2", digest))
            .unwrap()
            .is_held()
    );
}

#[test]
fn a_whole_registry_copy_preserves_every_digest_across_catalog_pages() {
    let (src, expected) = sample_registry(110);
    let dst = Registry::start();
    // Pages of 50 repositories and tags: every Link header must be followed.
    let out = run(&[
        "copy",
        "-q",
        "--json",
        "--page-size",
        "50",
        &src.url(),
        &dst.url(),
    ]);
    assert_success(&out);
    let summary = json(&out);
    assert_eq!(summary["tags"], expected.tag_count() as u64);
    assert_eq!(summary["failed"].as_array().unwrap().len(), 0);
    // Each blob crossed once: the rest were mounted or found.
    assert_eq!(
        summary["blobs_copied"].as_u64().unwrap() as usize,
        expected_tagged_blobs(&expected)
    );
    assert!(
        summary["blobs_mounted"].as_u64().unwrap() > 0,
        "shared base layers are mounted"
    );
    let dst_store = open(&dst.url());
    assert_eq!(repositories(&dst_store).len(), expected.tags.len());
    assert_holds(&dst_store, &expected.tags, None);
}

/// Blobs reachable from tags: all of them, the sample's referrer's too (Distribution 2.8 has no
/// referrers API, so the copy into it listed the referrer under its subject's fallback tag).
fn expected_tagged_blobs(expected: &acr_relocate::sample::Expected) -> usize {
    expected.blobs.len()
}

#[test]
fn a_prefix_target_puts_every_repository_under_it() {
    let (src, expected) = sample_registry(6);
    let dst = Registry::start();
    let target = format!("{}/mirror/eu", dst.url());
    assert_success(&run(&["copy", "-q", &src.url(), &target]));
    let dst_store = open(&dst.url());
    assert!(repositories(&dst_store)
        .iter()
        .all(|r| r.starts_with("mirror/eu/")));
    assert_holds(&dst_store, &expected.tags, Some("mirror/eu"));
    // And back from the prefix: a source prefix is stripped.
    let back = Registry::start();
    assert_success(&run(&["copy", "-q", &target, &back.url()]));
    assert_holds(&open(&back.url()), &expected.tags, None);
}

#[test]
fn a_second_run_copies_nothing() {
    let (src, expected) = sample_registry(8);
    let dst = Registry::start();
    assert_success(&run(&["copy", "-q", &src.url(), &dst.url()]));
    let out = run(&["copy", "-q", "--json", &src.url(), &dst.url()]);
    assert_success(&out);
    let s = json(&out);
    assert_eq!(s["blobs_copied"], 0);
    assert_eq!(s["manifests_pushed"], 0);
    assert_eq!(s["tags_copied"], 0);
    assert_eq!(s["tags_up_to_date"], expected.tag_count() as u64);
}

#[test]
fn filters_select_repositories_and_tags() {
    let (src, expected) = sample_registry(9);
    let dst = Registry::start();
    assert_success(&run(&[
        "copy",
        "-q",
        "--repo",
        "team/*",
        "--exclude-repo",
        "team/svc-4",
        "--tag",
        r"v1\..*",
        &src.url(),
        &dst.url(),
    ]));
    let dst_store = open(&dst.url());
    let mut repos = repositories(&dst_store);
    repos.sort();
    let mut want: Vec<String> = expected
        .tags
        .keys()
        .filter(|r| {
            r.starts_with("team/") && r.matches('/').count() == 1 && r.as_str() != "team/svc-4"
        })
        .cloned()
        .collect();
    want.sort();
    assert_eq!(repos, want);
    for repo in &repos {
        let tags = block_on(dst_store.tags(repo)).unwrap();
        assert!(
            tags.iter().all(|t| t.starts_with("v1.")),
            "{repo}: {tags:?}"
        );
    }
}

#[test]
fn a_dry_run_reports_and_writes_nothing() {
    let (src, expected) = sample_registry(5);
    let dst = Registry::start();
    let out = run(&["copy", "--dry-run", "--json", &src.url(), &dst.url()]);
    assert_success(&out);
    let s = json(&out);
    assert_eq!(s["dry_run"], true);
    assert_eq!(s["tags_copied"], expected.tag_count() as u64);
    assert!(s["bytes_copied"].as_u64().unwrap() > 0);
    assert!(
        repositories(&open(&dst.url())).is_empty(),
        "nothing written"
    );
}

#[test]
fn a_source_blob_with_wrong_bytes_is_refused_and_its_manifest_not_pushed() {
    let (src, expected) = sample_registry(3);
    // Corrupt one layer of svc2:v1.0.0 in the source's storage (same size, other bytes).
    let layer = corrupt_a_layer_of_svc2(&src, |_| 0);

    let dst = Registry::start();
    let out = run(&["copy", "-q", &src.url(), &dst.url()]);
    assert_exit_code(&out, 1);
    let text = stdout(&out);
    // Read twice the same wrong way: the source's, and no copy again will mend it.
    assert!(
        text.contains("is wrong in the SOURCE (its bytes hash to sha256:"),
        "{text}"
    );
    let dst_store = open(&dst.url());
    assert_eq!(
        block_on(dst_store.manifest_digest("svc2", "v1.0.0")).unwrap(),
        None,
        "no manifest pushed over a missing blob"
    );
    assert_no_svc2_blob(&dst_store, &layer);
    // Everything else arrived.
    let mut rest = expected.tags.clone();
    rest.remove("svc2");
    assert_holds(&dst_store, &rest, None);
}

#[test]
fn big_blobs_go_up_in_chunks_with_every_digest_kept() {
    let (src, expected) = sample_registry(4);
    let dst = Registry::start();
    // 1000-byte chunks: every layer of the sample is cut into several PATCH requests.
    let out = run(&[
        "copy",
        "-q",
        "--json",
        "--chunk-size",
        "1000",
        &src.url(),
        &dst.url(),
    ]);
    assert_success(&out);
    assert_holds(&open(&dst.url()), &expected.tags, None);
    assert_success(&run(&["verify", "--deep", &src.url(), &dst.url()]));
}

#[test]
fn a_chunked_upload_of_wrong_bytes_is_never_completed() {
    let (src, _) = sample_registry(3);
    // Corrupt the last byte of one layer of svc2:v1.0.0: only the end of the upload differs.
    let layer = corrupt_a_layer_of_svc2(&src, |bytes| bytes.len() - 1);
    let dst = Registry::start();
    let out = run(&["copy", "-q", "--chunk-size", "700", &src.url(), &dst.url()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).contains("is wrong in the SOURCE (its bytes hash to sha256:"),
        "{}",
        stdout(&out)
    );
    let dst_store = open(&dst.url());
    assert_no_svc2_blob(&dst_store, &layer);
}

/// The copy's `--json` summary: most blob transfers allowed at once.
fn peak_transfers(out: &std::process::Output) -> u64 {
    json(out)["peak_transfers"]
        .as_u64()
        .expect("peak_transfers in the summary")
}

/// A distant registry (100 ms more per request, both ways, the registries themselves idle): the
/// round trips stay steady as transfers are added, so more run at once than `--jobs`, up to four
/// times it; `--max-jobs` equal to `--jobs` keeps the number fixed. Content is whole either way.
#[test]
fn over_a_slow_link_transfers_at_once_grow_past_jobs_unless_max_jobs_pins_them() {
    use crate::fault_proxy::{FaultProxy, Schedule};
    let (src, expected) = sample_registry(8);
    let distant = Schedule::distant();
    let src_proxy = FaultProxy::start(src.port, distant.clone());
    let copy_over_the_link = |extra: &[&str]| {
        let dst = Registry::start();
        let dst_proxy = FaultProxy::start(dst.port, distant.clone());
        let (from, to) = (src_proxy.url(), dst_proxy.url());
        let mut args = vec!["copy", "-q", "--json", "-j", "2"];
        args.extend_from_slice(extra);
        args.extend([from.as_str(), to.as_str()]);
        let out = run(&args);
        assert_success(&out);
        assert_holds(&open(&dst.url()), &expected.tags, None);
        peak_transfers(&out)
    };
    assert_grows_unless_pinned(2, 8, &["--max-jobs", "2"], copy_over_the_link);
}

/// Mount probes a copy sent through `proxy`: upload POSTs that ask a repository for a blob with
/// `mount=…&from=` that same repository.
fn self_mount_probes(proxy: &crate::fault_proxy::FaultProxy) -> usize {
    let lines = proxy.counts.lines.lock().unwrap();
    lines
        .iter()
        .filter_map(|line| {
            let target = line.strip_prefix("POST ")?.split(' ').next()?;
            let (path, query) = target.split_once("/blobs/uploads/?")?;
            let repository = path.strip_prefix("/v2/")?;
            let from = query.split('&').find_map(|p| p.strip_prefix("from="))?;
            (from == repository).then_some(())
        })
        .count()
}

/// Into a repository that had no tags, a small blob goes straight to an upload: no probe asks the
/// repository whether it holds it. A leftover of an interrupted run (a blob there without a tag)
/// is simply sent again. A later run into the now tagged repositories asks before uploading.
#[test]
fn small_blobs_new_to_an_untagged_repository_are_uploaded_without_asking_first() {
    use crate::fault_proxy::{FaultProxy, Schedule};
    let (src, expected) = sample_registry(3);
    let dst = Registry::start();
    // A leftover in the target: one layer of a tag, uploaded, no tag pushed.
    let (repository, tags) = expected.tags.iter().next().unwrap();
    let source = open(&src.url());
    let manifest = block_on(source.manifest(repository, tags.keys().next().unwrap())).unwrap();
    let view = manifest.view().unwrap();
    let layer = *view.blobs().last().unwrap();
    let target = open(&dst.url());
    block_on(async {
        let bytes = source.blob(repository, layer).await?;
        target.put_blob(repository, layer, bytes).await
    })
    .unwrap();

    let first = FaultProxy::start(dst.port, Schedule::default());
    let out = run(&["copy", "-q", "--tag", "v1.0.0", &src.url(), &first.url()]);
    assert_success(&out);
    assert_eq!(
        self_mount_probes(&first),
        0,
        "no probe into untagged repositories"
    );

    let second = FaultProxy::start(dst.port, Schedule::default());
    let out = run(&["copy", "-q", &src.url(), &second.url()]);
    assert_success(&out);
    assert!(
        self_mount_probes(&second) > 0,
        "repositories with tags are asked before an upload"
    );
    assert_holds(&open(&dst.url()), &expected.tags, None);
    assert_success(&run(&["verify", "--deep", &src.url(), &dst.url()]));
}

/// A copied registry whose target then loses, behind the tool's back, one platform manifest of
/// the multi-arch `team/svc-1:v1.0.0` and the last layer of `svc2:v1.1.0` (both deleted through
/// the registry's API): every tag still points at the right digest. Returns the source, the
/// target, and the two digests lost.
fn copied_then_target_loses_a_platform_and_a_layer() -> (Registry, Registry, Digest, Digest) {
    let (src, _) = sample_registry(6);
    let dst = Registry::start();
    assert_success(&run(&["copy", "-q", &src.url(), &dst.url()]));
    let store = open(&dst.url());
    let index = block_on(store.manifest("team/svc-1", "v1.0.0")).unwrap();
    let platform = index.view().unwrap().children()[0].digest.clone();
    let layer = last_layer(&store, "svc2", "v1.1.0");
    delete(dst.port, &format!("/v2/team/svc-1/manifests/{platform}"));
    delete(dst.port, &format!("/v2/svc2/blobs/{layer}"));
    let out = run(&["verify", "--deep", &src.url(), &dst.url()]);
    assert_exit_code(&out, 1);
    (src, dst, platform, layer)
}

/// The reviewer's scenario: a plain copy trusts a tag whose digest matches (the fast path) and
/// puts nothing back; `copy --deep` walks below it and puts back exactly what was lost, reading
/// from the source only the lost layer, and the deep verify passes.
#[test]
fn a_deep_copy_puts_back_what_the_target_lost_below_tags_that_are_up_to_date() {
    let (src, dst, platform, layer) = copied_then_target_loses_a_platform_and_a_layer();
    let plain = run(&["copy", "-q", "--json", &src.url(), &dst.url()]);
    assert_success(&plain);
    let plain = json(&plain);
    assert_eq!(plain["tags_up_to_date"], plain["tags"], "{plain}");
    assert_eq!(plain["manifests_pushed"], 0, "{plain}");
    assert_eq!(plain["blobs_copied"], 0, "{plain}");
    assert_exit_code(&run(&["verify", "--deep", &src.url(), &dst.url()]), 1);

    let deep = run(&["copy", "-q", "--deep", "--json", &src.url(), &dst.url()]);
    assert_success(&deep);
    let deep = json(&deep);
    assert_eq!(deep["tags_up_to_date"], deep["tags"], "{deep}");
    assert_eq!(deep["manifests_put_back"], 1, "{deep}");
    assert_eq!(deep["blobs_put_back"], 1, "{deep}");
    assert_eq!(
        deep["blobs_copied"], 1,
        "only the lost layer is read: {deep}"
    );
    assert_eq!(deep["bytes_copied"], {
        let size = block_on(Destination::blob_size(
            open(&src.url()).as_ref(),
            "svc2",
            &layer,
        ));
        size.unwrap().size().unwrap()
    });
    let store = open(&dst.url());
    assert!(
        block_on(store.manifest_digest("team/svc-1", platform.as_str()))
            .unwrap()
            .is_some()
    );
    assert!(
        block_on(Destination::blob_size(store.as_ref(), "svc2", &layer))
            .unwrap()
            .is_held()
    );
    assert_success(&run(&["verify", "--deep", &src.url(), &dst.url()]));

    // The human summary says what was put back; a deep copy of a whole target puts back nothing.
    let again = run(&["copy", "--deep", &src.url(), &dst.url()]);
    assert_success(&again);
    assert!(
        stdout(&again).contains(
            "deep: put back 0 manifests and 0 blobs the target lacked below tags already up to date"
        ),
        "{}",
        stdout(&again)
    );
}

/// `--tag` brings the cosign-style tags (`sha256-<hex>.sig`, `.att`) of the manifest it selects,
/// and not those of a tag it leaves out; `verify --tag` checks them, and fails when the target
/// lacks the signature.
#[test]
fn a_selected_tag_brings_its_signature_tags_and_verify_checks_them() {
    let (src, expected) = sample_registry(1);
    let repo = "team/app/svc-0";
    let tags = &expected.tags[repo];
    let signature_of = |tag: &str| format!("sha256-{}.sig", tags[tag].hex());
    let signature = signature_of("v1.1.0");
    assert!(tags.contains_key(&signature), "the sample signs v1.1.0");
    // An attestation of v1.1.0 and a signature of v1.0.0, pushed as cosign does.
    let attestation = format!("sha256-{}.att", tags["v1.1.0"].hex());
    retag(src.port, repo, &signature, &attestation);
    let other_signature = signature_of("v1.0.0");
    retag(src.port, repo, &signature, &other_signature);

    let dst = Registry::start();
    let target_tags = || block_on(open(&dst.url()).tags(repo)).unwrap();
    assert_success(&run(&[
        "copy",
        "-q",
        "--tag",
        "v1.1.0",
        &src.url(),
        &dst.url(),
    ]));
    let copied = target_tags();
    for tag in ["v1.1.0", &signature, &attestation] {
        assert!(copied.iter().any(|t| t == tag), "{tag} not in {copied:?}");
    }
    for tag in ["v1.0.0", &other_signature] {
        assert!(!copied.iter().any(|t| t == tag), "{tag} in {copied:?}");
    }
    let verify = |extra: &[&str]| {
        let mut args = vec!["verify", "--json", "--tag", "v1.1.0"];
        args.extend_from_slice(extra);
        let (from, to) = (src.url(), dst.url());
        args.extend([from.as_str(), to.as_str()]);
        run(&args)
    };
    let out = verify(&[]);
    assert_success(&out);
    assert_eq!(
        json(&out)["tags_ok"],
        4,
        "v1.1.0, its .sig, .att and referrers index"
    );

    let tag_dir = dst
        .repository_dir(repo)
        .join("_manifests/tags")
        .join(&signature);
    std::fs::remove_dir_all(tag_dir).unwrap();
    let out = verify(&[]);
    assert_exit_code(&out, 1);
    assert!(
        json(&out)["missing"].to_string().contains(&signature),
        "{}",
        stdout(&out)
    );
}

/// `--exclude-tag` leaves a tag out with the tags that describe its manifest by name (its
/// signature, attestation and referrers fallback tag), copies every other tag, and the same
/// exclusion makes `verify` pass; an exclusion that leaves out every tag is no success.
#[test]
fn an_excluded_tag_stays_behind_with_its_signatures_and_the_rest_goes() {
    let (src, expected) = sample_registry(1);
    let repo = "team/app/svc-0";
    let tags = &expected.tags[repo];
    let excluded = tags["v1.1.0"].clone();
    let signature = format!("sha256-{}.sig", excluded.hex());
    assert!(tags.contains_key(&signature), "the sample signs v1.1.0");
    let attestation = format!("sha256-{}.att", excluded.hex());
    retag(src.port, repo, &signature, &attestation);
    let other_signature = format!("sha256-{}.sig", tags["v1.0.0"].hex());
    retag(src.port, repo, &signature, &other_signature);

    let dst = Registry::start();
    let out = run(&[
        "copy",
        "-q",
        "--exclude-tag",
        r"v1\.1\.0",
        &src.url(),
        &dst.url(),
    ]);
    assert_success(&out);
    let dst_store = open(&dst.url());
    let copied = block_on(dst_store.tags(repo)).unwrap();
    // A tag that shares the excluded manifest keeps its descriptions.
    let shared = tags
        .iter()
        .any(|(t, d)| *d == excluded && t != "v1.1.0" && !t.starts_with("sha256-"));
    for tag in ["v1.0.0", &other_signature] {
        assert!(copied.iter().any(|t| t == tag), "{tag} not in {copied:?}");
    }
    assert!(!copied.iter().any(|t| t == "v1.1.0"), "{copied:?}");
    let describing = copied
        .iter()
        .filter(|t| t.starts_with(&format!("sha256-{}", excluded.hex())))
        .count();
    assert_eq!(describing > 0, shared, "{copied:?}");
    for (other, its_tags) in expected.tags.iter().filter(|(r, _)| *r != repo) {
        let held = block_on(dst_store.tags(other)).unwrap();
        assert_eq!(held.len(), its_tags.len(), "{other}: {held:?}");
    }
    assert_success(&run(&[
        "verify",
        "--exclude-tag",
        r"v1\.1\.0",
        &src.url(),
        &dst.url(),
    ]));

    // Signature tags selected alone: an exclusion takes only those of the manifest it leaves
    // out (v1.0.0's), not the others (v1.1.0's).
    let only_signatures = Registry::start();
    assert_success(&run(&[
        "copy",
        "-q",
        "--tag",
        "sha256-.*",
        "--exclude-tag",
        r"v1\.0\.0",
        &src.url(),
        &only_signatures.url(),
    ]));
    let copied = block_on(open(&only_signatures.url()).tags(repo)).unwrap();
    for tag in [&signature, &attestation] {
        assert!(copied.contains(tag), "{tag} not in {copied:?}");
    }
    assert!(!copied.contains(&other_signature), "{copied:?}");

    // Every tag left out: nothing done, and said so (exit 4).
    let out = run(&["copy", "--exclude-tag", ".*", &src.url(), &dst.url()]);
    assert_exit_code(&out, 4);
    assert!(
        stderr(&out).contains("--exclude-tag '.*' left out every tag selected in SOURCE"),
        "{}",
        stderr(&out)
    );
    let out = run(&["copy", "--exclude-tag", "(", &src.url(), &dst.url()]);
    assert_exit_code(&out, 2);
    assert!(
        stderr(&out).contains("--exclude-tag `(`: not a valid regular expression"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn sample_into_a_prefix_writes_every_repository_under_it_and_nothing_at_the_root() {
    let dst = Registry::start();
    let out = run(&["sample", "--repos", "2", &format!("{}/demo", dst.url())]);
    assert_success(&out);
    let names = repositories(&open(&dst.url()));
    assert!(!names.is_empty());
    assert!(
        names.iter().all(|n| n.starts_with("demo/")),
        "written outside the prefix: {names:?}"
    );
    // The same content as at the root: a copy of the root sample verifies against it.
    let root = Registry::start();
    assert_success(&run(&["sample", "--repos", "2", &root.url()]));
    assert_success(&run(&[
        "verify",
        &root.url(),
        &format!("{}/demo", dst.url()),
    ]));
}

#[test]
fn a_name_made_too_long_by_the_target_prefix_blames_the_prefix() {
    // A 246-character repository is a valid name in the source; under `mirror/eu/` it has 256.
    let (dir, expected) = sample_layout(1, 5);
    let root = dir.path().join("sample");
    let (repo, tags) = expected.tags.iter().next().unwrap();
    let (_, digest) = tags
        .iter()
        .find(|(t, _)| !t.starts_with("sha256-"))
        .unwrap();
    let bytes = std::fs::read(layout_blob(&root, digest)).unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    let long = "a".repeat(246);
    add_layout_manifest(
        &root,
        &long,
        Some("v1"),
        doc["mediaType"].as_str().unwrap(),
        &bytes,
    );
    let dst = Registry::start();
    let target = format!("{}/mirror/eu", dst.url());
    let out = run(&["copy", "--json", &oci(dir.path()), &target]);
    assert_exit_code(&out, 1);
    let summary = json(&out);
    let failed = summary["failed"].as_array().unwrap();
    assert_eq!(failed.len(), 1, "{summary}");
    assert_eq!(failed[0]["item"], format!("mirror/eu/{long}"), "{summary}");
    let reason = failed[0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("TARGET's prefix makes `mirror/eu/aaa")
            && reason.ends_with("256 characters, over 255: choose a shorter prefix"),
        "{reason}"
    );
    assert!(!reason.contains("the source lists"), "{reason}");
    // The other repositories arrive.
    assert!(repositories(&open(&dst.url())).contains(&format!("mirror/eu/{repo}")));
}

/// A target that fails every write (its storage full, say: the registry answers 5xx to each
/// upload) stops the run once 3 blobs in a row, in 2 repositories at least, failed after every
/// retry, in one line saying to
/// look at its storage and logs (exit 3, as a registry that stopped answering: the same command
/// resumes), and the summary's closing line says the same of the failures. (501, which is not
/// retried, keeps the test short; a full disk answers 500, retried first.) Fewer writes that
/// fail, the others stored, never stop the run.
#[test]
fn a_target_failing_every_write_stops_the_run_pointing_at_its_storage() {
    use crate::support::http::{Response, Server};
    use crate::support::mount_proxy::forward_as_sent;

    let (src, _) = sample_registry(2);
    // A proxy in front of a registry answering 501 to the first `refused` upload POSTs.
    let failing = |refused: usize| {
        let dst = Registry::start();
        let port = dst.port;
        let seen = std::sync::atomic::AtomicUsize::new(0);
        let proxy = Server::start_raw(move |request| {
            if request.method == "POST"
                && request.path.contains("/blobs/uploads/")
                && seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst) < refused
            {
                return Response::json(
                    501,
                    &serde_json::json!({"errors": [{"code": "UNKNOWN", "message": "unknown error"}]}),
                );
            }
            forward_as_sent(port, request)
        });
        (dst, proxy)
    };
    let (_dst, proxy) = failing(usize::MAX);
    let out = run(&["copy", &src.url(), &proxy.url()]);
    assert_exit_code(&out, 3);
    let text = stdout(&out);
    assert!(
        text.lines().any(|l| l.ends_with(
            "failed, each on a server error (HTTP 5xx) of the target to a write, after retries: check the target registry's storage (full?) and its logs, then run the same command again"
        )),
        "{text}"
    );
    let err = stderr(&out);
    assert!(
        err.contains("fails every write: ")
            && err.contains(" repositories, were refused after every retry since")
            && err.contains("check its storage (full?) and its logs"),
        "{err}"
    );

    // Two writes refused, the others stored: each failure its own, no stop.
    let (_dst, proxy) = failing(2);
    let out = run(&["copy", &src.url(), &proxy.url()]);
    assert_exit_code(&out, 1);
    assert!(
        !stderr(&out).contains("fails every write"),
        "{}",
        stderr(&out)
    );
    assert!(stdout(&out).contains("HTTP 501"), "{}", stdout(&out));
}

/// `--no-overwrite`: a target tag that holds another image is left as it is and the run fails
/// on it, listed with both digests, as an import without `--force` does; the tags the target
/// lacks are copied all the same. A dry run says what it would keep.
#[test]
fn no_overwrite_keeps_a_target_tag_holding_another_image_and_fails_on_it() {
    use crate::support::oci_push::push_image_as;
    let (src, dst) = (Registry::start(), Registry::start());
    let (source_v1, _) = push_image_as(src.port, "app", "v1", "amd64", b"the source's v1");
    push_image_as(src.port, "app", "v2", "amd64", b"the source's v2");
    let (target_v1, _) = push_image_as(dst.port, "app", "v1", "arm64", b"the target's own v1");

    // A dry run's JSON lists the tags it would write.
    let out = run(&["copy", "--dry-run", "--json", &src.url(), &dst.url()]);
    let items: Vec<_> = json(&out)["copied"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["item"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(items, ["app:v1", "app:v2"]);

    let out = run(&[
        "copy",
        "--dry-run",
        "--no-overwrite",
        &src.url(),
        &dst.url(),
    ]);
    assert_exit_code(&out, 1);
    let kept =
        format!("app:v1: the target has {target_v1}, the source {source_v1} (--no-overwrite)");
    assert!(
        stdout(&out).contains(&format!("would keep {kept}")),
        "{}",
        stdout(&out)
    );

    let out = run(&["copy", "--no-overwrite", "--json", &src.url(), &dst.url()]);
    assert_exit_code(&out, 1);
    let summary = json(&out);
    assert_eq!(summary["conflicts"][0]["item"], "app:v1", "{summary}");
    assert_eq!(summary["conflicts"][0]["target_had"], target_v1.as_str());
    assert_eq!(
        summary["overwritten"].as_array().unwrap().len(),
        0,
        "{summary}"
    );
    assert_eq!(summary["tags_copied"], 1, "{summary}");
    assert_eq!(summary["copied"][0]["item"], "app:v2", "{summary}");
    assert_eq!(summary["copied"].as_array().unwrap().len(), 1, "{summary}");
    let store = open(&dst.url());
    assert_eq!(
        block_on(store.manifest_digest("app", "v1")).unwrap(),
        Some(target_v1.clone())
    );
    assert!(block_on(store.manifest_digest("app", "v2"))
        .unwrap()
        .is_some());

    let out = run(&["copy", "--no-overwrite", &src.url(), &dst.url()]);
    assert_exit_code(&out, 1);
    assert!(
        stdout(&out).contains(&format!("kept {kept}")),
        "{}",
        stdout(&out)
    );
    assert!(
        stdout(&out).contains("kept 1 tag of the target holding another digest"),
        "{}",
        stdout(&out)
    );

    // Without the option the tag is overwritten and listed, as before.
    let out = run(&["copy", &src.url(), &dst.url()]);
    assert_success(&out);
    assert!(
        stdout(&out).contains(&format!("overwrote app:v1: the target had {target_v1}")),
        "{}",
        stdout(&out)
    );
}

#[test]
fn no_overwrite_with_force_is_a_usage_error() {
    let out = run(&[
        "copy",
        "--mode",
        "import",
        "--no-overwrite",
        "--force",
        "a.azurecr.io",
        "b.azurecr.io",
    ]);
    assert_exit_code(&out, 2);
    assert!(
        stderr(&out).contains("give one of them"),
        "{}",
        stderr(&out)
    );
}

/// A copy between two prefixes of one registry mounts every blob from its source repository:
/// no byte crosses this machine, and the copy verifies.
#[test]
fn a_copy_within_one_registry_mounts_every_blob_from_the_source_repository() {
    use crate::support::oci_push::push_image_as;
    let registry = Registry::start();
    push_image_as(registry.port, "team/api", "v1", "amd64", b"the api's layer");
    push_image_as(registry.port, "team/web", "v1", "amd64", b"the web's layer");
    let (src, dst) = (
        format!("{}/team", registry.url()),
        format!("{}/moved", registry.url()),
    );
    let out = run(&["copy", "--json", &src, &dst]);
    assert_success(&out);
    let summary = json(&out);
    assert_eq!(summary["tags_copied"], 2, "{summary}");
    assert_eq!(summary["blobs_copied"], 0, "{summary}");
    assert_eq!(summary["bytes_copied"], 0, "{summary}");
    assert_eq!(summary["blobs_mounted"], 4, "{summary}");
    assert_success(&run(&["verify", "--deep", "--content", &src, &dst]));
}
