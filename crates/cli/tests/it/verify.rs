//! `verify`: passes on a clean copy, catches each kind of damage.

use acr_relocate::transport::registry::Registry as Client;

use crate::util::*;

fn copied() -> (Registry, Registry, acr_relocate::sample::Expected) {
    let (src, expected) = sample_registry(8);
    let dst = Registry::start();
    assert_success(&run(&["copy", "-q", &src.url(), &dst.url()]));
    (src, dst, expected)
}

fn client(r: &Registry) -> Client {
    let ep = match r.url().parse().unwrap() {
        acr_relocate::endpoint::Endpoint::Registry(e) => e,
        _ => unreachable!(),
    };
    block_on(Client::connect(&ep, &Default::default())).unwrap()
}

fn verify(src: &Registry, dst: &Registry) -> (Option<i32>, serde_json::Value) {
    let out = run(&["verify", "--deep", "--json", &src.url(), &dst.url()]);
    (out.status.code(), json(&out))
}

#[test]
fn a_clean_copy_passes() {
    let (src, dst, expected) = copied();
    let (code, report) = verify(&src, &dst);
    assert_eq!(code, Some(0), "{report}");
    assert_eq!(report["tags_ok"], expected.tag_count() as u64);
    assert!(report["blobs_checked"].as_u64().unwrap() > 0);
}

#[test]
fn a_tag_deleted_in_the_target_is_missing() {
    let (src, dst, expected) = copied();
    let digest = &expected.tags["svc2"]["v1.0.0"];
    // Deleting the manifest removes every tag on it.
    block_on(client(&dst).delete_manifest("svc2", digest)).unwrap();
    let (code, report) = verify(&src, &dst);
    assert_eq!(code, Some(1));
    assert!(
        report["missing"].to_string().contains("svc2:v1.0.0"),
        "{report}"
    );
}

#[test]
fn a_tag_pointing_at_another_digest_differs() {
    let (src, dst, _) = copied();
    // Re-point svc2:v1.0.0 at the manifest of svc2:v1.1.0.
    let store = open(&dst.url());
    let other = block_on(store.manifest("svc2", "v1.1.0")).unwrap();
    block_on(acr_relocate::transport::Destination::put_manifest(
        store.as_ref(),
        "svc2",
        Some("v1.0.0"),
        &other,
    ))
    .unwrap();
    let (code, report) = verify(&src, &dst);
    assert_eq!(code, Some(1));
    assert!(
        report["different"].to_string().contains("svc2:v1.0.0"),
        "{report}"
    );
}

#[test]
fn a_blob_deleted_from_target_storage_is_broken() {
    let (src, dst, _) = copied();
    let store = open(&dst.url());
    let m = block_on(store.manifest("svc2", "v1.1.0")).unwrap();
    let layer = m.view().unwrap().blobs().last().unwrap().digest.clone();
    std::fs::remove_file(dst.blob_data(&layer)).unwrap();
    let (code, report) = verify(&src, &dst);
    assert_eq!(code, Some(1));
    assert!(
        report["broken"].to_string().contains(layer.as_str()),
        "{report}"
    );
}

/// `verify --deep --content` with `extra` options, as JSON.
fn verify_content(source: &str, target: &str) -> (Option<i32>, serde_json::Value) {
    let out = run(&["verify", "--deep", "--content", "--json", source, target]);
    (out.status.code(), json(&out))
}

#[test]
fn a_layer_damaged_in_target_storage_passes_deep_and_fails_content() {
    let (src, dst, expected) = copied();
    let (repo, layer) = an_image_layer(&open(&dst.url()), &expected);
    flip_a_byte(&dst.blob_data(&layer));

    // Same size, other bytes: --deep alone only sees the blob there with its size.
    let (code, report) = verify(&src, &dst);
    assert_eq!(code, Some(0), "{report}");
    assert_eq!(report["content"], false);

    let (code, report) = verify_content(&src.url(), &dst.url());
    assert_eq!(code, Some(1), "{report}");
    assert_eq!(report["content"], true);
    let broken = report["broken"].as_array().unwrap();
    let damaged = broken
        .iter()
        .find(|p| p["item"].as_str().unwrap().starts_with(&format!("{repo}@")))
        .unwrap_or_else(|| panic!("{repo} not listed: {report}"));
    let reason = damaged["reason"].as_str().unwrap();
    assert!(reason.contains(layer.as_str()), "{reason}");
    assert!(reason.contains("hashes to sha256:"), "{reason}");
    assert!(
        broken.iter().all(|p| p["reason"] == damaged["reason"]),
        "only the damaged layer: {report}"
    );
    // Each blob once, however many repositories share it.
    let (read, checked) = (
        report["blobs_read"].as_u64().unwrap(),
        report["blobs_checked"].as_u64().unwrap(),
    );
    assert!(0 < read && read < checked, "{read} read, {checked} checked");
    assert!(report["bytes_read"].as_u64().unwrap() > 0);

    // In text: the gap, then the count of what was read.
    let out = run(&["verify", "--deep", "--content", &src.url(), &dst.url()]);
    assert_exit_code(&out, 1);
    let text = stdout(&out);
    assert!(text.contains(&format!("broken {repo}@")), "{text}");
    assert!(
        text.contains(&format!("content: {read} blobs read")),
        "{text}"
    );
}

#[test]
fn a_clean_copy_passes_the_content_check() {
    let (src, dst, expected) = copied();
    let (code, report) = verify_content(&src.url(), &dst.url());
    assert_eq!(code, Some(0), "{report}");
    assert_eq!(report["tags_ok"], expected.tag_count() as u64);
    assert!(report["blobs_read"].as_u64().unwrap() > 0, "{report}");
}

#[test]
fn content_without_deep_is_a_usage_error() {
    let out = run(&[
        "verify",
        "--content",
        "http://127.0.0.1:1",
        "http://127.0.0.1:2",
    ]);
    assert_exit_code(&out, 2);
    assert!(stderr(&out).contains("--deep"), "{}", stderr(&out));
}

/// A sample registry copied to a layout: the registry, the layout's temporary directory, its
/// root and endpoint, and a repository with one of its image layers.
fn copied_to_a_layout() -> (
    Registry,
    tempfile::TempDir,
    std::path::PathBuf,
    String,
    String,
    acr_relocate::digest::Digest,
) {
    let (src, expected) = sample_registry(3);
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("target");
    let target = format!("oci:{}", root.display());
    assert_success(&run(&["copy", "-q", &src.url(), &target]));
    let (repo, layer) = an_image_layer(&open(&target), &expected);
    (src, dir, root, target, repo, layer)
}

#[test]
fn a_layer_damaged_in_a_layout_target_fails_content() {
    let (src, _dir, root, target, repo, layer) = copied_to_a_layout();
    flip_a_byte(&layout_blob(&root, &layer));

    let (code, report) = verify_content(&src.url(), &target);
    assert_eq!(code, Some(1), "{report}");
    assert!(
        report["broken"].to_string().contains(&format!("{repo}@")),
        "{report}"
    );
    assert!(
        report["broken"].to_string().contains(layer.as_str()),
        "{report}"
    );
    let out = run(&["verify", "--deep", "--json", &src.url(), &target]);
    assert_success(&out);
}

/// A layer emptied in a layout target (0 bytes where its descriptor says more) fails a deep
/// verify without `--content`: its size is checked, and 0 is a size like any other (only a
/// registry that does not say a blob's size is taken at its word). `copy --deep` puts it back.
#[test]
fn a_layer_emptied_in_a_layout_target_fails_deep() {
    let (src, _dir, root, target, repo, layer) = copied_to_a_layout();
    std::fs::write(layout_blob(&root, &layer), b"").unwrap();

    let out = run(&["verify", "--deep", "--json", &src.url(), &target]);
    assert_exit_code(&out, 1);
    let report = json(&out);
    let broken = report["broken"].to_string();
    assert!(broken.contains(&format!("{repo}@")), "{report}");
    assert!(
        broken.contains(&format!("blob {layer} has 0 bytes in the target")),
        "{report}"
    );
    // A deep copy asks for the blob's size and writes it again.
    assert_success(&run(&["copy", "-q", "--deep", &src.url(), &target]));
    assert_success(&run(&["verify", "--deep", &src.url(), &target]));
}

/// A manifest is checked against its digest whenever it is read by digest, with or without
/// `--content`: a damaged one is a broken graph.
#[test]
fn a_manifest_damaged_in_target_storage_is_broken_without_content() {
    let (src, dst, expected) = copied();
    let (repo, _) = an_image_layer(&open(&dst.url()), &expected);
    let (tag, digest) = expected.tags[&repo]
        .iter()
        .find(|(_, d)| {
            let m = block_on(open(&dst.url()).manifest(&repo, d.as_str())).unwrap();
            !m.view().unwrap().blobs().is_empty()
        })
        .unwrap();
    // A digit of a size changed: still a manifest the registry serves, no longer its digest.
    let path = dst.blob_data(digest);
    let mut bytes = std::fs::read(&path).unwrap();
    let at = bytes
        .windows(7)
        .position(|w| w == b"\"size\":")
        .expect("a size in the manifest")
        + 7;
    let at = at + bytes[at..].iter().position(u8::is_ascii_digit).unwrap();
    bytes[at] = if bytes[at] == b'1' { b'2' } else { b'1' };
    std::fs::write(&path, bytes).unwrap();

    let (code, report) = verify(&src, &dst);
    assert_eq!(code, Some(1), "{report}");
    let broken = report["broken"].to_string();
    assert!(
        broken.contains(&format!("{repo}@{digest}")),
        "{tag}: {report}"
    );
    assert!(broken.contains("does not match its digest"), "{report}");
}

/// A child the target lost is broken; one the source lost as well is said to be, since copying
/// again cannot bring it.
#[test]
fn a_missing_index_child_is_broken() {
    let (src, dst, _) = copied();
    // team/svc-1 is a multi-arch repository.
    let store = open(&dst.url());
    let index = block_on(store.manifest("team/svc-1", "v1.0.0")).unwrap();
    let child = index.view().unwrap().children()[0].digest.clone();
    // Remove the child's revision link so the registry no longer serves it.
    let link = dst
        .repository_dir("team/svc-1")
        .join("_manifests/revisions/sha256")
        .join(child.hex());
    std::fs::remove_dir_all(&link).unwrap();
    let (code, report) = verify(&src, &dst);
    assert_eq!(code, Some(1));
    let broken = report["broken"].to_string();
    assert!(broken.contains("team/svc-1"), "{report}");
    assert!(!broken.contains("the source lacks it too"), "{report}");

    // Lost in the source as well: said, as a copy could not bring it.
    std::fs::remove_dir_all(
        src.repository_dir("team/svc-1")
            .join("_manifests/revisions/sha256")
            .join(child.hex()),
    )
    .unwrap();
    let (code, report) = verify(&src, &dst);
    assert_eq!(code, Some(1));
    assert!(
        report["broken"].to_string().contains(&format!(
            "{child} of the index {} is missing in team/svc-1",
            index.digest
        )) && report["broken"]
            .to_string()
            .contains("the source lacks it too (the source is incomplete: a copy cannot bring it)"),
        "{report}"
    );
}

#[test]
fn a_missing_signature_tag_is_missing() {
    let (src, dst, expected) = copied();
    let (tag, _) = expected.tags["team/app/svc-0"]
        .iter()
        .find(|(t, _)| t.ends_with(".sig"))
        .unwrap();
    let tag_dir = dst
        .repository_dir("team/app/svc-0")
        .join("_manifests/tags")
        .join(tag);
    std::fs::remove_dir_all(tag_dir).unwrap();
    let (code, report) = verify(&src, &dst);
    assert_eq!(code, Some(1));
    assert!(
        report["missing"].to_string().contains(tag.as_str()),
        "{report}"
    );
}

/// A distant source and target (100 ms more per request, the registries themselves idle): the
/// round trips stay steady as requests are added, so more run at once than the four per job it
/// starts with, up to four per `--max-jobs`; `--max-jobs` equal to `--jobs` keeps the number
/// fixed. The verdict is the same either way.
#[test]
fn over_a_slow_link_requests_at_once_grow_unless_max_jobs_pins_them() {
    use crate::fault_proxy::{FaultProxy, Schedule};
    let (src, dst, expected) = copied();
    let distant = Schedule::distant();
    let src_proxy = FaultProxy::start(src.port, distant.clone());
    let dst_proxy = FaultProxy::start(dst.port, distant);
    let verify_over_the_link = |extra: &[&str]| {
        let (from, to) = (src_proxy.url(), dst_proxy.url());
        let mut args = vec!["verify", "--deep", "--json", "-j", "1"];
        args.extend_from_slice(extra);
        args.extend([from.as_str(), to.as_str()]);
        let out = run(&args);
        assert_success(&out);
        let report = json(&out);
        assert_eq!(report["tags_ok"], expected.tag_count() as u64);
        report["peak_requests"]
            .as_u64()
            .expect("peak_requests in the report")
    };
    assert_grows_unless_pinned(4, 16, &["--max-jobs", "1"], verify_over_the_link);
}

/// A layout copied from a sample layout (whose referrers are untagged and listed by subject, no
/// fallback tag): the temporary directories, the source and target endpoints, the target's root,
/// and one referrer with its layer.
fn referrers_copied_between_layouts() -> (
    tempfile::TempDir,
    tempfile::TempDir,
    String,
    String,
    std::path::PathBuf,
    acr_relocate::digest::Digest,
    acr_relocate::digest::Digest,
) {
    let (source_dir, expected) = sample_layout(3, 7);
    let src = oci(source_dir.path());
    let target_dir = tempfile::tempdir().unwrap();
    let root = target_dir.path().join("target");
    let dst = format!("oci:{}", root.display());
    assert_success(&run(&["copy", "-q", &src, &dst]));
    let (_, _, referrer) = expected.referrers[0].clone();
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout_blob(&root, &referrer)).unwrap()).unwrap();
    let layer: acr_relocate::digest::Digest = manifest["layers"][0]["digest"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    (source_dir, target_dir, src, dst, root, referrer, layer)
}

/// A referrer's own graph is checked as a tag's is: an SBOM whose layer the target lost is
/// broken (a deep verify that passed would let delete-source remove the only copy), and a deep
/// copy puts the layer back.
#[test]
fn a_referrer_whose_layer_the_target_lost_is_broken() {
    let (_s, _t, src, dst, root, referrer, layer) = referrers_copied_between_layouts();
    std::fs::remove_file(layout_blob(&root, &layer)).unwrap();

    let out = run(&["verify", "--deep", &src, &dst]);
    assert_exit_code(&out, 1);
    let text = stdout(&out);
    assert!(
        text.contains(&format!("@{referrer}: blob {layer} ("))
            && text.contains("missing in the target"),
        "{text}"
    );
    // What repairs it is said: a plain copy trusts the tag.
    assert!(
        text.contains("1 thing is broken in the target") && text.contains("run `copy --deep`"),
        "{text}"
    );
    assert_success(&run(&["copy", "-q", "--deep", &src, &dst]));
    assert_success(&run(&["verify", "--deep", &src, &dst]));
}

/// A referrer's manifest is hashed when the deep check reads it: one damaged in the target's
/// storage is broken.
#[test]
fn a_referrer_manifest_damaged_in_the_target_is_broken() {
    let (_s, _t, src, dst, root, referrer, _) = referrers_copied_between_layouts();
    let path = layout_blob(&root, &referrer);
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        text.replacen("\"schemaVersion\":2", "\"schemaVersion\": 2", 1),
    )
    .unwrap();

    let out = run(&["verify", "--deep", "--json", &src, &dst]);
    assert_exit_code(&out, 1);
    let report = json(&out);
    let broken = report["broken"].to_string();
    assert!(
        broken.contains(referrer.as_str()) && broken.contains("does not match its digest"),
        "{report}"
    );
}
