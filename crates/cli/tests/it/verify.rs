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
    assert!(
        report["broken"].to_string().contains("team/svc-1"),
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
