//! `copy --no-overwrite` keeps a target tag that holds another image, and with it everything
//! that comes with the source's image of that tag: the tags that describe it by name (cosign's
//! `sha256-<hex>.sig`, its referrers fallback tag `sha256-<hex>`) and, from a source that lists
//! every manifest (a layout), its untagged referrers. Nothing of the source's image arrives by
//! digest unless another tag of the run brings it.

use acr_relocate::digest::Digest;

use crate::support::oci_push::*;
use crate::util::*;

const REPO: &str = "app";

/// The source's `app:v1`, signed by a cosign-style tag and described by a referrer listed in its
/// fallback tag; returns the image's digest and the referrer's.
fn signed_source_image(port: u16) -> (Digest, Digest) {
    let (image, subject) = push_image_as(port, REPO, "v1", "amd64", b"the source's v1");
    let referrer = push_referrer_to(
        port,
        REPO,
        &subject,
        "application/spdx+json",
        b"the SBOM of the source's v1",
    );
    let index = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": INDEX,
        "manifests": [referrer],
    }))
    .unwrap();
    push_manifest(port, REPO, &fallback_tag(&image), INDEX, &index);
    let signature = format!("{}.sig", fallback_tag(&image));
    push_image_as(port, REPO, &signature, "amd64", b"a signature of the v1");
    let referrer = referrer["digest"].as_str().unwrap().parse().unwrap();
    (image, referrer)
}

/// True when the target's `app` holds the manifest `digest`.
fn holds(port: u16, digest: &Digest) -> bool {
    let store = open(&format!("http://127.0.0.1:{port}"));
    block_on(store.manifest_digest(REPO, digest.as_str()))
        .unwrap()
        .is_some()
}

/// The items of a copy's `--json` summary under `key`.
fn items(summary: &serde_json::Value, key: &str) -> Vec<String> {
    let mut items: Vec<String> = summary[key]
        .as_array()
        .unwrap_or_else(|| panic!("no {key} in {summary}"))
        .iter()
        .map(|p| p["item"].as_str().unwrap().to_string())
        .collect();
    items.sort();
    items
}

#[test]
fn the_signatures_and_referrers_of_a_kept_tags_source_image_stay_behind_with_it() {
    let (src, dst) = (Registry::start(), Registry::start());
    let (image, referrer) = signed_source_image(src.port);
    push_image_as(src.port, REPO, "v2", "amd64", b"the source's v2");
    push_image_as(dst.port, REPO, "v1", "arm64", b"the target's own v1");
    let describing = [
        format!("{REPO}:{}", fallback_tag(&image)),
        format!("{REPO}:{}.sig", fallback_tag(&image)),
    ];

    let out = run(&[
        "copy",
        "--dry-run",
        "--no-overwrite",
        &src.url(),
        &dst.url(),
    ]);
    assert_exit_code(&out, 1);
    for item in &describing {
        assert!(
            stdout(&out).contains(&format!("would leave out {item}: describes {image}")),
            "{}",
            stdout(&out)
        );
    }

    let out = run(&["copy", "--no-overwrite", "--json", &src.url(), &dst.url()]);
    assert_exit_code(&out, 1);
    let summary = json(&out);
    assert_eq!(items(&summary, "conflicts"), [format!("{REPO}:v1")]);
    assert_eq!(
        items(&summary, "left_out").as_slice(),
        describing.as_slice()
    );
    assert_eq!(items(&summary, "copied"), [format!("{REPO}:v2")]);
    assert!(
        !holds(dst.port, &image),
        "the source's v1 arrived by digest"
    );
    assert!(!holds(dst.port, &referrer), "its SBOM arrived");

    // The text says what was left out, and why.
    let out = run(&["copy", "--no-overwrite", &src.url(), &dst.url()]);
    assert_exit_code(&out, 1);
    assert!(
        stdout(&out).contains(&format!(
            "left out {}: describes {image}, the source's image of the kept tag {REPO}:v1, which the target does not hold",
            describing[1]
        )),
        "{}",
        stdout(&out)
    );
}

#[test]
fn the_signature_of_a_kept_images_sbom_stays_behind_too() {
    let (src, dst) = (Registry::start(), Registry::start());
    let (image, sbom) = signed_source_image(src.port);
    // A signature of the SBOM, listed in the SBOM's own fallback tag.
    let sbom_bytes = block_on(open(&src.url()).manifest(REPO, sbom.as_str())).unwrap();
    let subject = descriptor(MANIFEST, &sbom, sbom_bytes.bytes.len());
    let signature = push_referrer_to(
        src.port,
        REPO,
        &subject,
        "application/vnd.dev.cosign.artifact.sig.v1+json",
        b"a signature of the SBOM",
    );
    let index = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": INDEX,
        "manifests": [signature],
    }))
    .unwrap();
    push_manifest(src.port, REPO, &fallback_tag(&sbom), INDEX, &index);
    let signature: Digest = signature["digest"].as_str().unwrap().parse().unwrap();
    push_image_as(dst.port, REPO, "v1", "arm64", b"the target's own v1");

    for dry_run in [true, false] {
        let mut args = vec!["copy", "--no-overwrite", "--json"];
        if dry_run {
            args.push("--dry-run");
        }
        let (source, target) = (src.url(), dst.url());
        args.extend([source.as_str(), target.as_str()]);
        let out = run(&args);
        assert_exit_code(&out, 1);
        let summary = json(&out);
        assert!(
            items(&summary, "left_out").contains(&format!("{REPO}:{}", fallback_tag(&sbom))),
            "{summary}"
        );
        assert!(items(&summary, "copied").is_empty(), "{summary}");
    }
    for digest in [&image, &sbom, &signature] {
        assert!(!holds(dst.port, digest), "{digest} arrived");
    }
}

#[test]
fn a_kept_tags_source_image_that_another_tag_brings_comes_with_its_signatures() {
    let (src, dst) = (Registry::start(), Registry::start());
    let (image, referrer) = signed_source_image(src.port);
    push_image_as(src.port, REPO, "stable", "amd64", b"the source's v1");
    push_image_as(dst.port, REPO, "v1", "arm64", b"the target's own v1");

    // A dry run says what the run does: the signature comes with the image `stable` brings.
    let out = run(&[
        "copy",
        "--dry-run",
        "--no-overwrite",
        "--json",
        &src.url(),
        &dst.url(),
    ]);
    assert_exit_code(&out, 1);
    let summary = json(&out);
    assert!(items(&summary, "left_out").is_empty(), "{summary}");
    assert!(items(&summary, "copied").contains(&format!("{REPO}:{}.sig", fallback_tag(&image))));

    let out = run(&["copy", "--no-overwrite", "--json", &src.url(), &dst.url()]);
    assert_exit_code(&out, 1);
    let summary = json(&out);
    assert_eq!(items(&summary, "conflicts"), [format!("{REPO}:v1")]);
    assert!(items(&summary, "left_out").is_empty(), "{summary}");
    assert!(holds(dst.port, &image));
    assert!(holds(dst.port, &referrer));
    assert!(items(&summary, "copied").contains(&format!("{REPO}:{}.sig", fallback_tag(&image))));
}

#[test]
fn from_a_layout_the_untagged_referrers_of_a_kept_tags_source_image_stay_behind() {
    let (src, dst) = (Registry::start(), Registry::start());
    let (image, referrer) = signed_source_image(src.port);
    let dir = tempfile::tempdir().unwrap();
    let layout = format!("oci:{}", dir.path().join("layout").display());
    assert_success(&run(&["copy", &src.url(), &layout]));
    push_image_as(dst.port, REPO, "v1", "arm64", b"the target's own v1");

    let out = run(&["copy", "--no-overwrite", "--json", &layout, &dst.url()]);
    assert_exit_code(&out, 1);
    let summary = json(&out);
    assert_eq!(items(&summary, "conflicts"), [format!("{REPO}:v1")]);
    assert!(!holds(dst.port, &image), "{summary}");
    assert!(!holds(dst.port, &referrer), "{summary}");
    let left_out = items(&summary, "left_out");
    assert!(
        left_out.contains(&format!("{REPO}:{}.sig", fallback_tag(&image))),
        "{summary}"
    );
    assert!(
        left_out.contains(&format!("{REPO}@{referrer}")),
        "{summary}"
    );
}

#[test]
fn from_a_layout_the_platform_manifests_of_a_kept_tags_source_index_stay_behind() {
    let (src, dst) = (Registry::start(), Registry::start());
    let config = b"{\"architecture\":\"amd64\",\"os\":\"linux\"}";
    let config_digest = push_blob(src.port, REPO, config);
    let layer = b"the platform's one layer";
    let layer_digest = push_blob(src.port, REPO, layer);
    let child = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST,
        "config": descriptor("application/vnd.oci.image.config.v1+json", &config_digest, config.len()),
        "layers": [descriptor("application/vnd.oci.image.layer.v1.tar", &layer_digest, layer.len())],
    }))
    .unwrap();
    let child_digest = Digest::of(&child);
    push_manifest(src.port, REPO, child_digest.as_str(), MANIFEST, &child);
    let mut platform = descriptor(MANIFEST, &child_digest, child.len());
    platform["platform"] = serde_json::json!({"architecture": "amd64", "os": "linux"});
    let index = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": INDEX,
        "manifests": [platform],
    }))
    .unwrap();
    let index_digest = push_manifest(src.port, REPO, "v1", INDEX, &index);
    let dir = tempfile::tempdir().unwrap();
    let layout = format!("oci:{}", dir.path().join("layout").display());
    assert_success(&run(&["copy", &src.url(), &layout]));
    push_image_as(dst.port, REPO, "v1", "arm64", b"the target's own v1");

    let out = run(&["copy", "--no-overwrite", "--json", &layout, &dst.url()]);
    assert_exit_code(&out, 1);
    let summary = json(&out);
    assert!(!holds(dst.port, &index_digest), "{summary}");
    assert!(!holds(dst.port, &child_digest), "{summary}");
    assert_eq!(
        items(&summary, "left_out"),
        [format!("{REPO}@{child_digest}")],
        "{summary}"
    );
    assert!(
        summary["left_out"][0]["reason"]
            .as_str()
            .unwrap()
            .starts_with(&format!(
                "is part of the source's image of the kept tag {REPO}:v1"
            )),
        "{summary}"
    );
}
