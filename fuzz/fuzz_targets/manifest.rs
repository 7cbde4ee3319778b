//! Manifests as a hostile registry could serve them: parsed with any content type, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

const TYPES: [Option<&str>; 6] = [
    None,
    Some("application/json"),
    Some("application/vnd.oci.image.manifest.v1+json"),
    Some("application/vnd.oci.image.index.v1+json"),
    Some("application/vnd.docker.distribution.manifest.v2+json"),
    Some("application/vnd.docker.distribution.manifest.list.v2+json"),
];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else { return };
    let content_type = TYPES[usize::from(selector) % TYPES.len()];
    if let Ok(m) = acr_relocate::manifest::RawManifest::new(bytes::Bytes::copy_from_slice(body), content_type) {
        if let Ok(view) = m.view() {
            let _ = view.blobs();
            let _ = view.children();
            let _ = acr_relocate::manifest::ArtifactKind::classify(&view, Some("t"));
        }
    }
});
