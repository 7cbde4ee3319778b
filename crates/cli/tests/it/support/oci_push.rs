//! Content pushed by hand into a registry, as clients that write referrers fallback tags (oras,
//! cosign, notation) leave it: blobs, manifests by tag or digest, the image they describe.

use acr_relocate::digest::Digest;

use super::http;
use crate::util::push_blob_as;

/// The OCI image index media type.
pub const INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// The OCI image manifest media type.
pub const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// The empty descriptor's media type (an artifact's config).
pub const EMPTY: &str = "application/vnd.oci.empty.v1+json";

/// Pushes a blob into `repository` of the registry on `port` (one monolithic upload).
pub fn push_blob(port: u16, repository: &str, bytes: &[u8]) -> Digest {
    let digest = Digest::of(bytes);
    push_blob_as(port, repository, bytes, digest.as_str());
    digest
}

/// Pushes manifest `bytes` into `repository` under `reference` (a tag, or its digest); returns
/// its digest.
pub fn push_manifest(
    port: u16,
    repository: &str,
    reference: &str,
    media_type: &str,
    bytes: &[u8],
) -> Digest {
    let put = http::send(
        port,
        "PUT",
        &format!("/v2/{repository}/manifests/{reference}"),
        &[("Content-Type".into(), media_type.into())],
        bytes,
    )
    .unwrap();
    assert_eq!(put.status, 201, "{}", String::from_utf8_lossy(&put.body));
    Digest::of(bytes)
}

/// A descriptor of `size` bytes.
pub fn descriptor(media_type: &str, digest: &Digest, size: usize) -> serde_json::Value {
    serde_json::json!({"mediaType": media_type, "digest": digest.as_str(), "size": size})
}

/// `sha256-<hex>`: the referrers fallback tag of `subject`.
pub fn fallback_tag(subject: &Digest) -> String {
    subject.as_str().replacen(':', "-", 1)
}

/// Pushes `REPOSITORY:v1`, a one-layer image (the same bytes every time); returns its digest and
/// descriptor.
pub fn push_image(port: u16, repository: &str) -> (Digest, serde_json::Value) {
    push_image_as(
        port,
        repository,
        "v1",
        "amd64",
        b"the one layer of the image",
    )
}

/// Pushes `REPOSITORY:TAG`, a one-layer image for `architecture` whose layer is `layer`;
/// returns its digest and descriptor.
pub fn push_image_as(
    port: u16,
    repository: &str,
    tag: &str,
    architecture: &str,
    layer: &[u8],
) -> (Digest, serde_json::Value) {
    let config = format!(
        r#"{{"architecture":"{architecture}","os":"linux","rootfs":{{"type":"layers","diff_ids":[]}}}}"#
    );
    let config = config.as_bytes();
    let config_digest = push_blob(port, repository, config);
    let layer_digest = push_blob(port, repository, layer);
    let bytes = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST,
        "config": descriptor("application/vnd.oci.image.config.v1+json", &config_digest, config.len()),
        "layers": [descriptor("application/vnd.oci.image.layer.v1.tar", &layer_digest, layer.len())],
    }))
    .unwrap();
    let image = push_manifest(port, repository, tag, MANIFEST, &bytes);
    let subject = descriptor(MANIFEST, &image, bytes.len());
    (image, subject)
}

/// Pushes to `repository`, untagged, an artifact of `artifact_type` holding `payload` whose
/// subject is `subject`; returns its descriptor with the artifact type, as a referrers listing
/// (or a fallback index) gives it.
pub fn push_referrer_to(
    port: u16,
    repository: &str,
    subject: &serde_json::Value,
    artifact_type: &str,
    payload: &[u8],
) -> serde_json::Value {
    let empty = push_blob(port, repository, b"{}");
    let blob = push_blob(port, repository, payload);
    let bytes = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST,
        "artifactType": artifact_type,
        "config": descriptor(EMPTY, &empty, 2),
        "layers": [descriptor(artifact_type, &blob, payload.len())],
        "subject": subject,
    }))
    .unwrap();
    let digest = Digest::of(&bytes);
    push_manifest(port, repository, digest.as_str(), MANIFEST, &bytes);
    let mut listed = descriptor(MANIFEST, &digest, bytes.len());
    listed["artifactType"] = artifact_type.into();
    listed
}

/// `digests`, sorted.
pub fn sorted(mut digests: Vec<Digest>) -> Vec<Digest> {
    digests.sort();
    digests
}
