//! Referrers the source lists but no longer holds, and referrers added below referrers already
//! copied.
//!
//! A registry without the referrers API (Distribution 2.8 here) lists the referrers of an image
//! in its fallback tag (`sha256-<hex>`), which cosign, notation and oras leave behind when a
//! referrer is deleted: the tag then names a referrer the registry lacks. That stale entry is
//! the source's gap, said once by `copy` and `verify` alike; it holds back neither the image nor
//! the referrers that exist. And a signature pushed later below an SBOM the target already holds
//! goes over on the next incremental run, at any depth, as `verify --deep` checks it.

use acr_relocate::digest::Digest;

use crate::support::oci_push::*;
use crate::util::*;

const REPO: &str = "app";

/// Pushes a manifest into `REPO` under `reference` (a tag, or its digest when `None`); returns
/// its descriptor.
fn push_document(
    port: u16,
    reference: Option<&str>,
    media_type: &str,
    doc: &serde_json::Value,
) -> serde_json::Value {
    let bytes = serde_json::to_vec(doc).unwrap();
    let digest = Digest::of(&bytes);
    let reference = reference.map_or_else(|| digest.to_string(), str::to_string);
    push_manifest(port, REPO, &reference, media_type, &bytes);
    descriptor(media_type, &digest, bytes.len())
}

/// Pushes `app:v2`, an arm64 image unlike `push_image`'s; returns its descriptor.
fn push_second_image(port: u16) -> serde_json::Value {
    push_image_as(port, REPO, "v2", "arm64", b"another layer").1
}

fn digest_of(descriptor: &serde_json::Value) -> Digest {
    descriptor["digest"].as_str().unwrap().parse().unwrap()
}

/// Pushes, untagged, an artifact of `artifact_type` holding `payload` whose subject is
/// `subject`; returns its descriptor with the artifact type, as a fallback index lists it.
fn push_referrer(
    port: u16,
    subject: &serde_json::Value,
    artifact_type: &str,
    payload: &[u8],
) -> serde_json::Value {
    push_referrer_to(port, REPO, subject, artifact_type, payload)
}

/// Writes the fallback tag of `subject` listing `referrers`, as a client without the referrers
/// API does.
fn push_fallback_index(port: u16, subject: &Digest, referrers: &[&serde_json::Value]) {
    let doc = serde_json::json!({"schemaVersion": 2, "mediaType": INDEX, "manifests": referrers});
    push_document(port, Some(&fallback_tag(subject)), INDEX, &doc);
}

/// The digests the fallback tag of `subject` lists in the registry on `port`.
fn listed_by_fallback_tag(registry: &Registry, subject: &Digest) -> Vec<Digest> {
    let store = open(&registry.url());
    let index = block_on(store.manifest(REPO, &fallback_tag(subject))).unwrap();
    let view = index.view().unwrap();
    view.children().iter().map(|c| c.digest.clone()).collect()
}

fn holds(registry: &Registry, reference: &str) -> Option<Digest> {
    let store = open(&registry.url());
    block_on(store.manifest_digest(REPO, reference)).unwrap()
}

/// A source registry holding `REPO:v1` with an SBOM and a signature (of `signature` bytes),
/// both listed in v1's fallback tag; returns it with the image's, SBOM's and signature's
/// descriptors.
fn image_with_sbom_and_signature(
    signature: &[u8],
) -> (
    Registry,
    serde_json::Value,
    serde_json::Value,
    serde_json::Value,
) {
    let src = Registry::start();
    let image = push_image(src.port, REPO).1;
    let sbom = push_referrer(src.port, &image, "application/vnd.example.sbom", b"sbom");
    let signature = push_referrer(
        src.port,
        &image,
        "application/vnd.cncf.notary.signature",
        signature,
    );
    push_fallback_index(src.port, &digest_of(&image), &[&sbom, &signature]);
    (src, image, sbom, signature)
}

#[test]
fn a_stale_entry_of_a_fallback_tag_holds_back_neither_the_image_nor_its_other_referrers() {
    // The source: app:v1 with an SBOM and a signature, both listed in its fallback tag; the
    // signature was deleted since, and the tag left as it was.
    let (src, image, sbom, signature) = image_with_sbom_and_signature(b"old signature");
    let subject = digest_of(&image);
    let (sbom_entry, sbom, gone) = (sbom.clone(), digest_of(&sbom), digest_of(&signature));
    delete(src.port, &format!("/v2/{REPO}/manifests/{gone}"));
    let dst = Registry::start();
    let fallback_item = format!("{REPO}:{}", fallback_tag(&subject));

    // copy: the image and the SBOM arrive; the stale entry is the source's gap, named once by
    // the fallback tag and the missing digest, and the run says so with exit 1, as for any gap
    // of the source.
    let out = run(&["copy", "--json", &src.url(), &dst.url()]);
    assert_exit_code(&out, 1);
    let summary = json(&out);
    assert_eq!(summary["failed"], serde_json::json!([]), "{summary}");
    let gaps = summary["source_incomplete"].as_array().unwrap();
    assert_eq!(gaps.len(), 1, "{summary}");
    assert_eq!(gaps[0]["item"], fallback_item.as_str(), "{summary}");
    let reason = gaps[0]["reason"].as_str().unwrap();
    assert!(
        reason.starts_with(&format!(
            "referrer {gone} of {subject}, listed by this referrers fallback tag, is missing in the SOURCE"
        )) && reason.contains("copying again will not help"),
        "{reason}"
    );
    assert_eq!(summary["tags_copied"], 1, "{summary}");
    assert_eq!(summary["referrers_copied"], 1, "{summary}");
    assert_eq!(holds(&dst, "v1"), Some(subject.clone()));
    assert_eq!(holds(&dst, sbom.as_str()), Some(sbom.clone()));
    // The target's fallback tag names a subject the target holds, and only what it holds.
    assert_eq!(
        listed_by_fallback_tag(&dst, &subject),
        std::slice::from_ref(&sbom)
    );

    // verify: the stale entry is broken in the source, once, not a gap of the target; the
    // tag and everything that exists verify, and the verify does not pass, as for any gap of
    // the source (deleting the source is not approved until it is repaired).
    let (source_url, target_url) = (src.url(), dst.url());
    for args in [
        ["verify", "--json", &source_url, &target_url].as_slice(),
        ["verify", "--deep", "--json", &source_url, &target_url].as_slice(),
    ] {
        let out = run(args);
        assert_exit_code(&out, 1);
        let report = json(&out);
        for clean in ["missing", "different", "broken", "errors"] {
            assert_eq!(report[clean], serde_json::json!([]), "{args:?}: {report}");
        }
        assert_eq!(report["tags_ok"], 1, "{args:?}: {report}");
        let broken = report["broken_in_source"].as_array().unwrap();
        assert_eq!(broken.len(), 1, "{args:?}: {report}");
        assert_eq!(broken[0]["item"], fallback_item.as_str(), "{report}");
        assert_eq!(broken[0]["reason"].as_str(), Some(reason), "{report}");
    }

    // A second copy says the same, and writes nothing more.
    let again = json(&run(&["copy", "--json", &src.url(), &dst.url()]));
    assert_eq!(
        again["source_incomplete"], summary["source_incomplete"],
        "{again}"
    );
    assert_eq!(again["manifests_pushed"], 0, "{again}");
    assert_eq!(again["referrers_copied"], 0, "{again}");

    // Once the source's tag is repaired, both pass.
    push_fallback_index(src.port, &subject, &[&sbom_entry]);
    assert_success(&run(&["copy", "-q", &src.url(), &dst.url()]));
    assert_success(&run(&["verify", "--deep", &src.url(), &dst.url()]));
}

#[test]
fn a_signature_added_below_an_sbom_already_copied_goes_over_on_the_next_run() {
    // A layout lists referrers by their subject, as a registry with the referrers API does: no
    // fallback tag brings the new signature as a new tag.
    let (dir, expected) = sample_layout(1, 17);
    let root = dir.path().join("sample");
    let source = oci(dir.path());
    let dst = Registry::start();
    let first = json(&run(&[
        "copy",
        "--tagged-only",
        "--json",
        &source,
        &dst.url(),
    ]));
    assert_eq!(first["failed"], serde_json::json!([]), "{first}");
    assert_eq!(
        first["referrers_copied"],
        expected.referrers.len(),
        "{first}"
    );

    // A signature of the SBOM (a referrer of a referrer), pushed after the copy.
    let (repo, _, sbom) = expected.referrers[0].clone();
    let signature = add_signature(&root, &repo, &sbom, false);
    let out = run(&["copy", "--tagged-only", "--json", &source, &dst.url()]);
    assert_success(&out);
    let second = json(&out);
    assert_eq!(second["tags_copied"], 0, "{second}");
    assert_eq!(second["referrers_copied"], 1, "{second}");
    let store = open(&dst.url());
    assert_eq!(
        block_on(store.manifest_digest(&repo, signature.as_str())).unwrap(),
        Some(signature.clone())
    );
    // Where the target has no referrers API, the copy lists it under the SBOM's fallback tag.
    let index = block_on(store.manifest(&repo, &fallback_tag(&sbom))).unwrap();
    assert!(
        index
            .view()
            .unwrap()
            .children()
            .iter()
            .any(|c| c.digest == signature),
        "the SBOM's fallback tag lists the signature"
    );
    assert_success(&run(&[
        "verify",
        "--deep",
        "--tagged-only",
        &source,
        &dst.url(),
    ]));

    // Nothing new: nothing counted as copied.
    let third = json(&run(&[
        "copy",
        "--tagged-only",
        "--json",
        &source,
        &dst.url(),
    ]));
    assert_eq!(third["referrers_copied"], 0, "{third}");
    assert_eq!(third["manifests_pushed"], 0, "{third}");
}

#[test]
fn a_tag_expression_brings_the_fallback_tags_of_referrers_of_referrers_byte_for_byte() {
    // app:v1 with an SBOM, the SBOM with a signature, each listed in its subject's fallback tag
    // as the source's client wrote it (with an annotation the copy's own listing would lack).
    let src = Registry::start();
    let image = push_image(src.port, REPO).1;
    let sbom = push_referrer(src.port, &image, "application/vnd.example.sbom", b"sbom");
    let signature = push_referrer(
        src.port,
        &sbom,
        "application/vnd.cncf.notary.signature",
        b"signature of the sbom",
    );
    let mut annotated = signature.clone();
    annotated["annotations"] = serde_json::json!({"written.by": "notation"});
    let (subject, sbom_digest) = (digest_of(&image), digest_of(&sbom));
    push_fallback_index(src.port, &subject, &[&sbom]);
    push_fallback_index(src.port, &sbom_digest, &[&annotated]);
    let dst = Registry::start();

    let out = run(&["copy", "--tag", "v1", "--json", &src.url(), &dst.url()]);
    assert_success(&out);
    let summary = json(&out);
    assert_eq!(summary["tags"], 3, "v1 and both fallback tags: {summary}");
    assert_eq!(summary["referrers_copied"], 2, "{summary}");
    for tag in [fallback_tag(&subject), fallback_tag(&sbom_digest)] {
        assert_eq!(
            holds(&dst, &tag),
            holds(&src, &tag),
            "{tag}: the source's bytes"
        );
    }
    assert_eq!(
        holds(&dst, signature["digest"].as_str().unwrap()),
        Some(digest_of(&signature))
    );
    let out = run(&[
        "verify",
        "--deep",
        "--tag",
        "v1",
        "--json",
        &src.url(),
        &dst.url(),
    ]);
    assert_success(&out);
    assert_eq!(json(&out)["tags_ok"], 3, "{}", stdout(&out));
}

#[test]
fn on_a_target_that_lists_referrers_by_subject_a_fallback_tag_with_a_stale_entry_is_broken_in_the_source_not_missing(
) {
    // The source as above: app:v1, an SBOM and a deleted signature, both in the fallback tag.
    let (src, image, _sbom, signature) = image_with_sbom_and_signature(b"old signature");
    let subject = digest_of(&image);
    let gone = digest_of(&signature);
    delete(src.port, &format!("/v2/{REPO}/manifests/{gone}"));
    // An OCI layout lists referrers by their subject: the copy writes no fallback tag there, and
    // the source's tag, which names a referrer no one holds, is never written.
    let dir = tempfile::tempdir().unwrap();
    let target = format!("oci:{}", dir.path().join("copy").display());
    let out = run(&["copy", "--json", &src.url(), &target]);
    assert_exit_code(&out, 1);
    let summary = json(&out);
    assert_eq!(summary["failed"], serde_json::json!([]), "{summary}");
    assert_eq!(summary["referrers_copied"], 1, "{summary}");

    // verify: the SBOM is held by the target, the signature by no one: the tag is broken in the
    // source (the stale entry named), not missing in the target, at every depth.
    let url = src.url();
    for deep in [false, true] {
        let mut args = vec!["verify", "--json", &url, &target];
        if deep {
            args.insert(1, "--deep");
        }
        let out = run(&args);
        assert_exit_code(&out, 1);
        let report = json(&out);
        for clean in ["missing", "different", "broken", "errors"] {
            assert_eq!(report[clean], serde_json::json!([]), "{args:?}: {report}");
        }
        let broken = report["broken_in_source"].as_array().unwrap();
        assert_eq!(broken.len(), 1, "{args:?}: {report}");
        let reason = broken[0]["reason"].as_str().unwrap();
        assert!(
            reason.starts_with(&format!("referrer {gone} of {subject}")),
            "{args:?}: {reason}"
        );
    }
}

#[test]
fn a_fallback_tag_that_the_copy_relists_is_reported_overwritten_not_merged_when_the_target_had_nothing_more(
) {
    // The source lists an SBOM and a signature; the target holds the image and the SBOM, its
    // fallback tag listing the SBOM only. The copy writes the source's tag, and its own listing
    // of the signature it pushes may rewrite it after: another digest, but no referrer of the
    // target's own kept, so no union to report.
    let (src, image, sbom, signature) = image_with_sbom_and_signature(b"signature");
    let subject = digest_of(&image);
    let dst = Registry::start();
    assert_eq!(digest_of(&push_image(dst.port, REPO).1), subject);
    let held = push_referrer(dst.port, &image, "application/vnd.example.sbom", b"sbom");
    assert_eq!(digest_of(&held), digest_of(&sbom));
    push_fallback_index(dst.port, &subject, &[&held]);

    let out = run(&["copy", "--json", &src.url(), &dst.url()]);
    assert_success(&out);
    let summary = json(&out);
    let item = format!("{REPO}:{}", fallback_tag(&subject));
    let overwrote = summary["overwritten"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["item"] == item.as_str())
        .unwrap_or_else(|| panic!("{summary}"))
        .clone();
    assert_ne!(overwrote["merged"], true, "{summary}");
    assert_eq!(
        sorted(listed_by_fallback_tag(&dst, &subject)),
        sorted(vec![digest_of(&sbom), digest_of(&signature)])
    );
}

#[test]
fn fallback_tags_that_list_each_others_subject_are_not_followed_and_no_copy_waits_forever() {
    // Anyone who may push can write fallback tags: here sha256-A lists B and sha256-B lists A,
    // two images with no subject, tagged v1 and v2. Neither is a referrer of the other.
    let src = Registry::start();
    let a = push_image(src.port, REPO).1;
    let b = push_second_image(src.port);
    let (first, second) = (digest_of(&a), digest_of(&b));
    push_fallback_index(src.port, &first, &[&b]);
    push_fallback_index(src.port, &second, &[&a]);
    for run in 0..5 {
        let dir = tempfile::tempdir().unwrap();
        let target = format!("oci:{}", dir.path().join("copy").display());
        let out = run_at_most(60, &["copy", &src.url(), &target]);
        let err = stderr(&out);
        for (referrer, subject) in [(&second, &first), (&first, &second)] {
            let warning =
                format!("{referrer} is listed as a referrer of {subject}, but its subject is none");
            assert!(err.contains(&warning), "run {run}: {warning} in {err}");
        }
        assert_success(&out);
    }
}

/// Valid but odd content: an index R whose subject is image A and which lists image B, and an
/// index R' whose subject is B and which lists A, each in its subject's fallback tag. The walks
/// of A's tag and of B's tag each reach the other's referrers through a referrer's graph; they
/// run at once, and neither waits for the other: every run ends, and both indexes arrive.
#[test]
fn referrers_whose_graphs_list_each_others_subjects_are_copied_without_a_wait() {
    let src = Registry::start();
    let a = push_image(src.port, REPO).1;
    let b = push_second_image(src.port);
    let index_of = |subject: &serde_json::Value, lists: &serde_json::Value| {
        let mut listed = push_document(
            src.port,
            None,
            INDEX,
            &serde_json::json!({
                "schemaVersion": 2,
                "mediaType": INDEX,
                "artifactType": "application/vnd.example.bundle",
                "manifests": [lists],
                "subject": subject,
            }),
        );
        listed["artifactType"] = "application/vnd.example.bundle".into();
        listed
    };
    let r = index_of(&a, &b);
    let r2 = index_of(&b, &a);
    push_fallback_index(src.port, &digest_of(&a), &[&r]);
    push_fallback_index(src.port, &digest_of(&b), &[&r2]);
    for attempt in 0..5 {
        let dst = Registry::start();
        let out = run_at_most(60, &["copy", "-q", &src.url(), &dst.url()]);
        assert_success(&out);
        for index in [&r, &r2] {
            assert_eq!(
                holds(&dst, digest_of(index).as_str()),
                Some(digest_of(index)),
                "run {attempt}: {index} missing"
            );
        }
        assert_success(&run(&["verify", "--deep", &src.url(), &dst.url()]));
    }
}

/// A fallback tag that outlived its image: the subject it names is gone from the source, and the
/// signature it lists (whose subject is that digest) is still there. The tag is copied as the
/// source has it, with the signature, byte for byte: a subject the source lacks does not hold
/// the tag back.
#[test]
fn a_fallback_tag_whose_subject_is_gone_is_copied_as_the_source_has_it() {
    let src = Registry::start();
    let gone = Digest::of(b"an image deleted long ago");
    let subject = descriptor(MANIFEST, &gone, 25);
    let signature = push_referrer(
        src.port,
        &subject,
        "application/vnd.dev.cosign.artifact.sig.v1+json",
        b"sig",
    );
    push_fallback_index(src.port, &gone, &[&signature]);
    let dst = Registry::start();
    let out = run_at_most(60, &["copy", "-q", &src.url(), &dst.url()]);
    assert_success(&out);
    let tag = fallback_tag(&gone);
    assert_eq!(holds(&dst, &tag), holds(&src, &tag));
    assert_eq!(
        listed_by_fallback_tag(&dst, &gone),
        vec![digest_of(&signature)]
    );
    assert_eq!(holds(&dst, gone.as_str()), None);
}
