//! `copy` into a registry that ignores cross-repository mounts (the distribution spec lets a
//! registry answer a mount with an upload session): a real Distribution behind a proxy that drops
//! the `mount` and `from` of upload requests ([`MountProxy`]). The copy notices, checks blobs
//! with HEAD from then on, leaves no upload session open, and the content is whole; on a
//! registry that honours mounts, nothing of this shows.

use std::collections::{BTreeSet, HashMap};

use acr_relocate::digest::Digest;
use acr_relocate::manifest::{RawManifest, Reference};

use crate::support::mount_proxy::{Exchange, MountProxy};
use crate::util::*;

/// What the copy logs at `-v` when it learns that the target ignores mounts.
const IGNORED_NOTICE: &str = "the target registry ignores cross-repository blob mounts";

/// The repository of a `/v2/<repository>/blobs/…` request target.
fn repository_of(target: &str) -> Option<&str> {
    target
        .strip_prefix("/v2/")?
        .split_once("/blobs/")
        .map(|(r, _)| r)
}

/// The upload session a request target or `Location` names (`…/blobs/uploads/<uuid>?…`).
fn upload_uuid(target: &str) -> Option<&str> {
    let rest = target.split_once("/blobs/uploads/")?.1;
    let uuid = rest.split(['?', '#']).next()?;
    (!uuid.is_empty()).then_some(uuid)
}

/// Blob uploads completed through the proxy: (repository, digest) of each closing PUT.
fn blob_puts(exchanges: &[Exchange]) -> Vec<(String, String)> {
    exchanges
        .iter()
        .filter(|e| e.method == "PUT" && e.status == 201 && upload_uuid(&e.target).is_some())
        .filter_map(|e| {
            let query = e.target.split_once('?')?.1;
            let digest = query.split('&').find_map(|p| p.strip_prefix("digest="))?;
            Some((
                repository_of(&e.target)?.to_string(),
                digest.replace("%3A", ":").replace("%3a", ":"),
            ))
        })
        .collect()
}

/// HEAD requests on blobs (`HEAD /v2/<repository>/blobs/<digest>`).
fn blob_heads(exchanges: &[Exchange]) -> usize {
    exchanges
        .iter()
        .filter(|e| e.method == "HEAD" && e.target.contains("/blobs/sha256:"))
        .count()
}

/// Upload sessions the registry opened (a 202 to a POST) that no PUT completed and no DELETE
/// cancelled.
fn open_sessions(exchanges: &[Exchange]) -> BTreeSet<String> {
    let opened: BTreeSet<String> = exchanges
        .iter()
        .filter(|e| e.method == "POST" && e.status == 202)
        .filter_map(|e| upload_uuid(e.location.as_deref()?).map(str::to_string))
        .collect();
    let closed: BTreeSet<String> = exchanges
        .iter()
        .filter(|e| e.method == "PUT" || e.method == "DELETE")
        .filter_map(|e| upload_uuid(&e.target).map(str::to_string))
        .collect();
    opened.difference(&closed).cloned().collect()
}

/// Times the copy's `-v` log says that the target ignores mounts.
fn notices(out: &std::process::Output) -> usize {
    stderr(out).matches(IGNORED_NOTICE).count()
}

/// Adds `repository:new_tag` to the registry at `url`: the layers of `repository:tag` under a
/// new config. Returns the new config's digest and the layers' count.
fn add_tag_with_the_same_layers(
    url: &str,
    repository: &str,
    tag: &str,
    new_tag: &str,
) -> (Digest, usize) {
    let store = open(url);
    block_on(async {
        let manifest = store.manifest(repository, tag).await.unwrap();
        let mut doc: serde_json::Value = serde_json::from_slice(&manifest.bytes).unwrap();
        let config_bytes = br#"{"architecture":"amd64","os":"linux","config":{"Labels":{"rebuilt":"yes"}},"rootfs":{"type":"layers","diff_ids":[]}}"#.to_vec();
        let config = Reference {
            digest: Digest::of(&config_bytes),
            size: config_bytes.len() as u64,
            media_type: doc["config"]["mediaType"].as_str().unwrap().to_string(),
            foreign: false,
            platform: None,
            artifact_type: None,
        };
        let body: acr_relocate::digest::ByteStream =
            Box::pin(futures::stream::once(
                async move { Ok(config_bytes.into()) },
            ));
        store.put_blob(repository, &config, body).await.unwrap();
        doc["config"]["digest"] = config.digest.to_string().into();
        doc["config"]["size"] = config.size.into();
        let layers = doc["layers"].as_array().unwrap().len();
        let bytes = serde_json::to_vec(&doc).unwrap();
        let new = RawManifest::new(bytes.into(), Some(&manifest.media_type)).unwrap();
        store
            .put_manifest(repository, Some(new_tag), &new)
            .await
            .unwrap();
        (config.digest, layers)
    })
}

/// Every blob arrives in every repository that uses it, each uploaded once into it (no mount
/// can save an upload there); the copy says once that the target ignores mounts, counts the
/// uploads of blobs another repository already held, leaves no upload session open, and the
/// target verifies against the source, byte for byte.
#[test]
fn into_a_registry_that_ignores_mounts_every_repository_gets_its_blobs_once_and_all_verifies() {
    let (src, expected) = sample_registry(3);
    let dst = Registry::start();
    let proxy = MountProxy::ignoring_mounts(dst.port);
    let out = run(&["copy", "-v", "--json", &src.url(), &proxy.url()]);
    assert_success(&out);
    let summary = json(&out);
    assert_eq!(summary["failed"].as_array().unwrap().len(), 0);
    assert_eq!(summary["mounts_ignored"], true);
    assert_eq!(summary["blobs_mounted"], 0);
    assert_eq!(notices(&out), 1, "said once: {}", stderr(&out));

    let exchanges = proxy.exchanges();
    let puts = blob_puts(&exchanges);
    let mut per_repository: HashMap<&(String, String), usize> = HashMap::new();
    for put in &puts {
        *per_repository.entry(put).or_default() += 1;
    }
    assert!(
        per_repository.values().all(|&n| n == 1),
        "a blob uploaded twice into one repository: {per_repository:?}"
    );
    let copied = summary["blobs_copied"].as_u64().unwrap();
    let again = summary["blobs_copied_again"].as_u64().unwrap();
    assert_eq!(copied as usize, puts.len());
    // Every distinct blob went up once as new; every other upload is counted as a repeat.
    assert_eq!((copied - again) as usize, expected.blobs.len());
    assert!(again > 0, "the sample's shared base layers went up again");
    assert_eq!(
        open_sessions(&exchanges),
        BTreeSet::new(),
        "sessions left open"
    );

    assert_holds(&open(&dst.url()), &expected.tags, None);
    assert_success(&run(&["verify", "--deep", &src.url(), &dst.url()]));
}

/// An incremental run into a registry that ignores mounts: a new tag whose layers the target
/// repository already holds sends only its new config. The first probes' answers are checked
/// with HEAD, which shows the mounts ignored; the layers are then counted present and the
/// upload sessions their probes opened are cancelled.
#[test]
fn a_rerun_into_a_registry_that_ignores_mounts_uploads_only_the_blobs_a_new_tag_lacks() {
    let (src, expected) = sample_registry(3);
    let dst = Registry::start();
    let first = MountProxy::ignoring_mounts(dst.port);
    assert_success(&run(&["copy", "-q", &src.url(), &first.url()]));
    let (config, layers) = add_tag_with_the_same_layers(&src.url(), "svc2", "v1.1.0", "v1.2.0");

    let second = MountProxy::ignoring_mounts(dst.port);
    let out = run(&["copy", "-v", "--json", &src.url(), &second.url()]);
    assert_success(&out);
    let summary = json(&out);
    assert_eq!(summary["tags_copied"], 1);
    assert_eq!(summary["tags_up_to_date"], expected.tag_count() as u64);
    assert_eq!(summary["blobs_copied"], 1);
    assert_eq!(summary["blobs_present"], layers as u64);
    assert_eq!(summary["mounts_ignored"], true);
    assert_eq!(notices(&out), 1, "{}", stderr(&out));

    let exchanges = second.exchanges();
    assert_eq!(
        blob_puts(&exchanges),
        vec![("svc2".to_string(), config.to_string())],
        "only the new config goes up"
    );
    assert_eq!(
        blob_heads(&exchanges),
        layers + 1,
        "one HEAD per blob of the new tag"
    );
    let cancelled = exchanges
        .iter()
        .filter(|e| e.method == "DELETE" && e.status == 204 && upload_uuid(&e.target).is_some())
        .count();
    assert_eq!(cancelled, layers, "the sessions of the layers' probes");
    assert_eq!(
        open_sessions(&exchanges),
        BTreeSet::new(),
        "sessions left open"
    );
    assert_success(&run(&["verify", "--deep", &src.url(), &dst.url()]));
}

/// On a registry that honours mounts nothing changes: a copy, and a run again with nothing new,
/// send no HEAD request on a blob (the mount probe is the existence check), shared blobs are
/// mounted, and the summary says nothing of ignored mounts.
#[test]
fn on_a_registry_that_honours_mounts_a_copy_sends_no_head_request_on_blobs() {
    let (src, expected) = sample_registry(3);
    let dst = Registry::start();
    let proxy = MountProxy::recording(dst.port);
    let out = run(&["copy", "-v", "--json", &src.url(), &proxy.url()]);
    assert_success(&out);
    let summary = json(&out);
    assert_eq!(summary["mounts_ignored"], false);
    assert_eq!(summary["blobs_copied_again"], 0);
    assert!(summary["blobs_mounted"].as_u64().unwrap() > 0);
    assert_eq!(notices(&out), 0);
    assert_eq!(blob_heads(&proxy.exchanges()), 0);
    assert_holds(&open(&dst.url()), &expected.tags, None);

    let again = MountProxy::recording(dst.port);
    let out = run(&["copy", "-q", "--json", &src.url(), &again.url()]);
    assert_success(&out);
    assert_eq!(json(&out)["blobs_copied"], 0);
    assert_eq!(blob_heads(&again.exchanges()), 0);
}
