//! Content that CNCF Distribution accepts and `skopeo copy --preserve-digests` carries byte for
//! byte is copied the same way: a key given twice, a descriptor without `mediaType`, an image
//! manifest without `layers`. Digests of another algorithm than sha256 (sha512, which
//! Distribution stores) are refused by name: the tag is skipped with a one-line reason, and
//! `verify` does not pass it.
//!
//! The content is pushed over plain HTTP, as its bytes, so that the registry (and not this tool)
//! decides what it accepts.

use acr_relocate::digest::Digest;

use crate::support::http::send;
use crate::util::*;

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

/// Uploads `bytes` under their sha256; returns the descriptor's `"digest":…,"size":…` fields.
pub fn push_blob(port: u16, repository: &str, bytes: &[u8]) -> String {
    let digest = Digest::of(bytes).to_string();
    push_blob_as(port, repository, bytes, &digest);
    format!(r#""digest":"{digest}","size":{}"#, bytes.len())
}

/// Puts `body` as a manifest (a tag, or its digest when `tag` is `None`), asserting that the
/// registry accepted it; returns its digest.
pub fn push_manifest(
    port: u16,
    repository: &str,
    tag: Option<&str>,
    media_type: &str,
    body: &str,
) -> String {
    let digest = Digest::of(body.as_bytes()).to_string();
    let put = send(
        port,
        "PUT",
        &format!("/v2/{repository}/manifests/{}", tag.unwrap_or(&digest)),
        &[("content-type".to_string(), media_type.to_string())],
        body.as_bytes(),
    )
    .unwrap();
    assert_eq!(
        put.status,
        201,
        "Distribution accepts {body}: {}",
        String::from_utf8_lossy(&put.body)
    );
    digest
}

/// The bytes the registry on `port` serves for `repository:reference`.
pub fn manifest_bytes(port: u16, repository: &str, reference: &str) -> Option<Vec<u8>> {
    let accept = ("accept".to_string(), format!("{OCI_MANIFEST}, {OCI_INDEX}"));
    let got = send(
        port,
        "GET",
        &format!("/v2/{repository}/manifests/{reference}"),
        &[accept],
        &[],
    )
    .unwrap();
    (got.status == 200).then_some(got.body)
}

/// An image config and a layer in `repository`, as descriptors' JSON.
fn config_and_layer(port: u16, repository: &str) -> (String, String) {
    let config = push_blob(
        port,
        repository,
        br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#,
    );
    let layer = push_blob(port, repository, b"edge layer");
    (
        format!(r#"{{"mediaType":"application/vnd.oci.image.config.v1+json",{config}}}"#),
        format!(r#"{{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip",{layer}}}"#),
    )
}

/// The four tags of the review's `r4_strict_parse.sh`, pushed to `src`: each was refused before.
fn push_lenient_tags(src: &Registry) -> Vec<&'static str> {
    let (config, layer) = config_and_layer(src.port, "edge");
    let bare_layer = layer.replace(
        r#""mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","#,
        "",
    );
    push_manifest(
        src.port,
        "edge",
        Some("dupannot"),
        OCI_MANIFEST,
        &format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{config},"layers":[{layer}],"annotations":{{"a":"1"}},"annotations":{{"b":"2"}}}}"#
        ),
    );
    push_manifest(
        src.port,
        "edge",
        Some("nolayermt"),
        OCI_MANIFEST,
        &format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{config},"layers":[{bare_layer}]}}"#
        ),
    );
    push_manifest(
        src.port,
        "edge",
        Some("nolayers"),
        OCI_MANIFEST,
        &format!(r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{config}}}"#),
    );
    let child = format!(
        r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{config},"layers":[{layer}]}}"#
    );
    let child_digest = push_manifest(src.port, "edge", None, OCI_MANIFEST, &child);
    push_manifest(
        src.port,
        "edge",
        Some("idxnomt"),
        OCI_INDEX,
        &format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":[{{"digest":"{child_digest}","size":{},"platform":{{"os":"linux","architecture":"amd64"}}}}]}}"#,
            child.len()
        ),
    );
    vec!["dupannot", "idxnomt", "nolayermt", "nolayers"]
}

/// A key given twice (Go keeps the last), a layer or index entry without `mediaType` and an image
/// manifest without `layers` are copied as the exact bytes the source holds, under the same
/// digest, through a registry and through a layout, and the copy verifies deeply.
#[test]
fn manifests_distribution_accepts_are_copied_byte_for_byte() {
    let src = Registry::start();
    let tags = push_lenient_tags(&src);
    let dst = Registry::start();
    let out = run(&["copy", "--json", &src.url(), &dst.url()]);
    assert_success(&out);
    let summary = json(&out);
    assert_eq!(summary["failed"], serde_json::json!([]), "{summary}");
    assert_eq!(summary["skipped"], serde_json::json!([]), "{summary}");
    assert_eq!(summary["tags_copied"], tags.len());
    for tag in &tags {
        let source = manifest_bytes(src.port, "edge", tag).unwrap();
        assert_eq!(
            manifest_bytes(dst.port, "edge", tag).as_deref(),
            Some(&source[..]),
            "edge:{tag} arrives byte for byte"
        );
    }
    assert_success(&run(&[
        "verify",
        "--deep",
        "--content",
        &src.url(),
        &dst.url(),
    ]));

    // Through a layout and back.
    let dir = tempfile::tempdir().unwrap();
    let layout = oci(dir.path());
    assert_success(&run(&["copy", &src.url(), &layout]));
    let back = Registry::start();
    assert_success(&run(&["copy", &layout, &back.url()]));
    for tag in &tags {
        assert_eq!(
            manifest_bytes(back.port, "edge", tag),
            manifest_bytes(src.port, "edge", tag),
            "edge:{tag} through a layout"
        );
    }
    assert_success(&run(&["verify", "--deep", &src.url(), &back.url()]));
}

/// A layer with a `sha512:` digest (a registered OCI algorithm; Distribution stores it) is not
/// copied: the tag is skipped with one line naming the algorithm and saying that only sha256 is
/// supported, the other tags are copied, and `verify` lists the tag as unsupported (it does not
/// pass: deleting the source would lose it).
#[test]
fn a_sha512_layer_is_skipped_with_one_line_naming_the_algorithm() {
    let src = Registry::start();
    let (config, layer) = config_and_layer(src.port, "edge");
    push_manifest(
        src.port,
        "edge",
        Some("sha256"),
        OCI_MANIFEST,
        &format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{config},"layers":[{layer}]}}"#
        ),
    );
    let data = b"sha512 layer";
    let hash = ring::digest::digest(&ring::digest::SHA512, data);
    let hex: String = hash.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    let sha512 = format!("sha512:{hex}");
    push_blob_as(src.port, "edge", data, &sha512);
    push_manifest(
        src.port,
        "edge",
        Some("sha512"),
        OCI_MANIFEST,
        &format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{config},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"{sha512}","size":{}}}]}}"#,
            data.len()
        ),
    );
    let dst = Registry::start();
    let out = run(&["copy", "--json", &src.url(), &dst.url()]);
    assert_success(&out);
    let summary = json(&out);
    assert_eq!(summary["failed"], serde_json::json!([]), "{summary}");
    assert_eq!(summary["tags_copied"], 1, "{summary}");
    let skipped = summary["skipped"].as_array().unwrap();
    assert_eq!(skipped.len(), 1, "{summary}");
    assert_eq!(skipped[0]["item"], "edge:sha512");
    let reason = skipped[0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("sha512 digest algorithm is not supported, only sha256")
            && !reason.contains('\n'),
        "{reason}"
    );
    assert!(manifest_bytes(dst.port, "edge", "sha512").is_none());

    let out = run(&["verify", "--json", &src.url(), &dst.url()]);
    assert_exit_code(&out, 1);
    let report = json(&out);
    let unsupported = report["unsupported"].to_string();
    assert!(
        unsupported.contains("edge:sha512") && unsupported.contains("only sha256"),
        "{report}"
    );
}

/// Keys in another case (`Layers`, `Manifests`, `Digest`, `layerſ`) are fields to Distribution,
/// which reads JSON as Go does (case folded, the last key of a field winning): the layers and
/// children they name are copied with the manifest, into a layout too (which no registry would
/// check), and a verify finds them. Invalid UTF-8 and a lone surrogate escape in an annotation
/// (read by Go as U+FFFD) do not stop a copy either.
#[test]
fn keys_in_another_case_and_odd_text_are_read_as_the_registry_reads_them() {
    let src = Registry::start();
    let (config, _) = config_and_layer(src.port, "case");
    let hidden = push_blob(src.port, "case", b"a layer under Layers");
    let hidden_digest = Digest::of(b"a layer under Layers");
    let upper = push_manifest(
        src.port,
        "case",
        Some("upper"),
        OCI_MANIFEST,
        &format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{config},"Layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip",{hidden}}}]}}"#
        ),
    );
    let upper_size = manifest_bytes(src.port, "case", "upper").unwrap().len();
    push_manifest(
        src.port,
        "case",
        Some("index"),
        OCI_INDEX,
        &format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","Manifests":[{{"mediaType":"{OCI_MANIFEST}","digest":"sha256:{}","Digest":"{upper}","size":{upper_size}}}]}}"#,
            "0".repeat(64)
        ),
    );
    // Raw bytes: an annotation with invalid UTF-8, another with a lone surrogate escape.
    for (tag, odd) in [("badutf8", &b"x\xff\xfey"[..]), ("surrogate", b"\\ud800x")] {
        let mut body = format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{config},"layers":[],"annotations":{{"a":""#
        )
        .into_bytes();
        body.extend_from_slice(odd);
        body.extend_from_slice(br#""}}"#);
        let put = send(
            src.port,
            "PUT",
            &format!("/v2/case/manifests/{tag}"),
            &[("content-type".to_string(), OCI_MANIFEST.to_string())],
            &body,
        )
        .unwrap();
        assert_eq!(put.status, 201, "{}", String::from_utf8_lossy(&put.body));
    }

    let dir = tempfile::tempdir().unwrap();
    let layout = oci(dir.path());
    let out = run(&["copy", "--json", &src.url(), &layout]);
    assert_success(&out);
    assert_eq!(json(&out)["tags_copied"], 4, "{}", json(&out));
    let blob = dir
        .path()
        .join("sample/blobs/sha256")
        .join(hidden_digest.hex());
    assert!(
        blob.exists(),
        "the layer named under `Layers` is in the layout"
    );
    assert_success(&run(&[
        "verify",
        "--deep",
        "--content",
        &src.url(),
        &layout,
    ]));

    // And on to a registry, which checks every layer a manifest names.
    let back = Registry::start();
    assert_success(&run(&["copy", &layout, &back.url()]));
    for tag in ["upper", "index", "badutf8", "surrogate"] {
        assert_eq!(
            manifest_bytes(back.port, "case", tag),
            manifest_bytes(src.port, "case", tag),
            "case:{tag} byte for byte"
        );
    }
    assert_success(&run(&["verify", "--deep", &src.url(), &back.url()]));
}

/// Two manifests that give one layer different sizes (Distribution does not check a
/// descriptor's size): a deep verify checks every size given, so the manifest whose descriptor
/// is wrong is broken on every run, whichever manifest the walk reaches first.
#[test]
fn descriptors_that_disagree_on_a_size_are_each_checked_on_every_run() {
    let (src, dst) = (Registry::start(), Registry::start());
    let mut digests = Vec::new();
    for registry in [&src, &dst] {
        let (config, _) = config_and_layer(registry.port, "size");
        let layer = push_blob(registry.port, "size", b"ten bytes!");
        let wrong = layer.replace(r#""size":10"#, r#""size":11"#);
        digests.clear();
        for (tag, descriptor) in [("good", &layer), ("wrong", &wrong)] {
            digests.push(push_manifest(
                registry.port,
                "size",
                Some(tag),
                OCI_MANIFEST,
                &format!(
                    r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{config},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar",{descriptor}}}]}}"#
                ),
            ));
        }
    }
    let wrong_root = &digests[1];
    for _ in 0..3 {
        let out = run(&["verify", "--deep", "--json", &src.url(), &dst.url()]);
        assert_exit_code(&out, 1);
        let report = json(&out);
        let broken = report["broken"].as_array().unwrap();
        assert_eq!(broken.len(), 1, "{report}");
        assert_eq!(broken[0]["item"], format!("size@{wrong_root}"), "{report}");
        assert!(
            broken[0]["reason"]
                .as_str()
                .unwrap()
                .ends_with("has 10 bytes in the target, its descriptor says 11"),
            "{report}"
        );
    }
}
