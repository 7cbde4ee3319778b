//! A source with the referrers API copied to a target without it (Distribution 2.8): the target's
//! clients find a referrer only through its subject's referrers fallback tag (`sha256-<hex>`),
//! which the copy writes. A referrer the target holds but does not list there (a run that pushed
//! it and then failed to write the tag, a tag deleted or emptied since) is a gap: `verify --deep`
//! names it, `delete-source` refuses, and a plain `copy` lists it. The fallback tags the copy
//! wrote are the target's listing of the source's referrers, not extra tags.
//!
//! The source is a real registry behind a small proxy that answers the referrers API
//! (`GET /v2/<name>/referrers/<digest>`) from the registry's own fallback index of the digest and
//! leaves fallback tags out of tag listings, as a registry that indexes referrers by subject has
//! none.
//!
//! Beside it, what a deep copy finds held wrong in the target where a push or upload does not
//! replace it: a blob truncated and a manifest damaged in the registry's storage fail their tag
//! with what repairs them (as `verify --deep` says it), and a blob link lost in one repository is
//! put back (mounted where another repository is known to hold the blob), never counted as a
//! mount refused.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use acr_relocate::digest::Digest;

use crate::support::http::{self, Request, Response, Server};
use crate::support::mount_proxy::{forward_as_sent, MountProxy};
use crate::support::oci_push::*;
use crate::util::*;

const REPO: &str = "app";

/// The source: a registry holding `app:v1` and two referrers of it (an SBOM and a signature),
/// seen through a proxy that gives it the referrers API.
struct ApiSource {
    registry: Registry,
    proxy: Server,
    image: Digest,
    referrers: Vec<Digest>,
}

impl ApiSource {
    /// The source as the tool is given it: the proxy.
    fn url(&self) -> String {
        self.proxy.url()
    }
}

fn api_source() -> ApiSource {
    let registry = Registry::start();
    let port = registry.port;
    let (image, subject) = push_image(port, REPO);
    let sbom = push_referrer(
        port,
        &subject,
        "application/spdx+json",
        br#"{"spdxVersion":"SPDX-2.3"}"#,
    );
    let signature = push_referrer(
        port,
        &subject,
        "application/vnd.dev.cosign.artifact.sig.v1+json",
        br#"{"critical":{"image":{"docker-manifest-digest":"sha256:0"}}}"#,
    );
    // What the proxy's referrers API answers for the image.
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": INDEX,
        "manifests": [sbom, signature],
    });
    push_manifest(
        port,
        REPO,
        &fallback_tag(&image),
        INDEX,
        &serde_json::to_vec(&index).unwrap(),
    );
    let proxy = Server::start_raw(move |request: &Request| referrers_api(port, request));
    ApiSource {
        registry,
        proxy,
        image,
        referrers: sorted(vec![digest_of(&sbom), digest_of(&signature)]),
    }
}

/// Pushes, untagged, an artifact of `artifact_type` holding `payload` whose subject is
/// `subject`; returns its descriptor with the artifact type, as a referrers listing gives it.
fn push_referrer(
    port: u16,
    subject: &serde_json::Value,
    artifact_type: &str,
    payload: &[u8],
) -> serde_json::Value {
    push_referrer_to(port, REPO, subject, artifact_type, payload)
}

fn digest_of(descriptor: &serde_json::Value) -> Digest {
    descriptor["digest"].as_str().unwrap().parse().unwrap()
}

/// The proxy's answer: the referrers API from the registry's fallback index of the digest (an
/// empty index when it has none), tag listings without fallback tags, anything else as the
/// registry answers it.
fn referrers_api(upstream: u16, request: &Request) -> Response {
    let path = request.path.as_str();
    let referrers = path
        .strip_prefix("/v2/")
        .and_then(|rest| rest.split_once("/referrers/"));
    if let (Some((repository, subject)), "GET") = (referrers, request.method.as_str()) {
        let tag = subject.replacen(':', "-", 1);
        let accept = ("accept".to_string(), INDEX.to_string());
        let got = http::send(
            upstream,
            "GET",
            &format!("/v2/{repository}/manifests/{tag}"),
            &[accept],
            &[],
        )
        .unwrap();
        let body = match got.status {
            200 => got.body,
            _ => serde_json::to_vec(
                &serde_json::json!({"schemaVersion": 2, "mediaType": INDEX, "manifests": []}),
            )
            .unwrap(),
        };
        return Response::new(200, body).header("Content-Type", INDEX);
    }
    let mut response = forward_as_sent(upstream, request);
    if request.method == "GET" && path.ends_with("/tags/list") && response.status == 200 {
        let mut list: serde_json::Value = serde_json::from_slice(&response.body).unwrap();
        if let Some(tags) = list["tags"].as_array_mut() {
            tags.retain(|t| !t.as_str().unwrap_or("").starts_with("sha256-"));
        }
        response.body = serde_json::to_vec(&list).unwrap();
    }
    response
}

/// The referrers the target's fallback tag of `subject` lists (none without the tag).
fn listed_by(target: &str, subject: &Digest) -> Vec<Digest> {
    match block_on(open(target).manifest(REPO, &fallback_tag(subject))) {
        Ok(index) => sorted(
            index
                .view()
                .unwrap()
                .children()
                .iter()
                .map(|c| c.digest.clone())
                .collect(),
        ),
        Err(e) if e.is_not_found() => Vec::new(),
        Err(e) => panic!("{e}"),
    }
}

/// Deletes the target's fallback tag of `subject` in its storage, as an operator's clean-up or a
/// lost write would: the referrers stay, unlisted.
fn delete_fallback_tag(target: &Registry, subject: &Digest) {
    let tag = target
        .repository_dir(REPO)
        .join("_manifests/tags")
        .join(fallback_tag(subject));
    std::fs::remove_dir_all(&tag).unwrap();
    assert!(listed_by(&target.url(), subject).is_empty());
}

/// The source, and a target holding a full copy of it.
fn source_and_copy() -> (ApiSource, Registry) {
    let source = api_source();
    let target = Registry::start();
    assert_success(&run(&["copy", "-q", &source.url(), &target.url()]));
    assert_eq!(listed_by(&target.url(), &source.image), source.referrers);
    (source, target)
}

#[test]
fn a_referrer_the_target_does_not_list_fails_a_deep_verify_and_a_copy_lists_it_again() {
    let (source, target) = source_and_copy();
    let (src, dst) = (source.url(), target.url());
    // The fallback tag the copy wrote is the target's listing of the source's referrers, not a
    // tag to delete.
    let out = run(&["verify", &src, &dst]);
    assert_success(&out);
    assert!(
        stdout(&out).contains("; 0 extra in the target"),
        "{}",
        stdout(&out)
    );
    let report = json(&run(&["verify", "--deep", "--json", &src, &dst]));
    assert_eq!(report["extra"], serde_json::json!([]), "{report}");
    assert_eq!(report["broken"], serde_json::json!([]), "{report}");

    delete_fallback_tag(&target, &source.image);
    for args in [&["--deep"][..], &["--deep", "--content"]] {
        let out = run(&[&["verify"], args, &[&src, &dst]].concat());
        assert_exit_code(&out, 1);
        let text = stdout(&out);
        for referrer in &source.referrers {
            let line = format!(
                "broken {REPO}@{referrer}: referrer of {} held by the target but not listed for it: the target has no referrers API and its referrers fallback tag {REPO}:{} lacks it, so its clients will not find it; run the copy again, which lists it\n",
                source.image,
                fallback_tag(&source.image)
            );
            assert!(text.contains(&line), "{line}\nnot in:\n{text}");
        }
        assert!(text.ends_with(": FAIL\n"), "{text}");
    }
    let report = json(&run(&["verify", "--deep", "--json", &src, &dst]));
    let broken: Vec<&str> = report["broken"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["item"].as_str().unwrap())
        .collect();
    let expected: Vec<String> = source
        .referrers
        .iter()
        .map(|r| format!("{REPO}@{r}"))
        .collect();
    assert_eq!(broken, expected, "{report}");

    // A dry run says so and writes nothing.
    let out = run(&["copy", "--dry-run", &src, &dst]);
    assert_success(&out);
    assert!(
        stdout(&out).contains("would list 2 referrers that the target held without a listing"),
        "{}",
        stdout(&out)
    );
    assert!(listed_by(&dst, &source.image).is_empty());

    // A plain copy: the tag and its referrers are up to date, and the referrers are listed.
    let out = run(&["copy", &src, &dst]);
    assert_success(&out);
    assert!(
        stdout(&out).contains(
            "listed 2 referrers that the target held without a listing for its subject, in the subject's referrers fallback tag (-v names each)"
        ),
        "{}",
        stdout(&out)
    );
    assert_eq!(listed_by(&dst, &source.image), source.referrers);
    assert_success(&run(&["verify", "--deep", "--content", &src, &dst]));

    // Listed already: a copy again lists nothing.
    let out = run(&["copy", &src, &dst]);
    assert_success(&out);
    assert!(!stdout(&out).contains("listed"), "{}", stdout(&out));
}

#[test]
fn a_fallback_tag_emptied_in_the_target_fails_a_deep_verify_until_a_copy_lists_its_referrers() {
    let (source, target) = source_and_copy();
    let (src, dst) = (source.url(), target.url());
    let empty = serde_json::json!({"schemaVersion": 2, "mediaType": INDEX, "manifests": []});
    push_manifest(
        target.port,
        REPO,
        &fallback_tag(&source.image),
        INDEX,
        &serde_json::to_vec(&empty).unwrap(),
    );
    assert!(listed_by(&dst, &source.image).is_empty());
    let out = run(&["verify", "--deep", &src, &dst]);
    assert_exit_code(&out, 1);
    for referrer in &source.referrers {
        assert!(
            stdout(&out).contains(&format!(
                "broken {REPO}@{referrer}: referrer of {} held by the target but not listed for it",
                source.image
            )),
            "{}",
            stdout(&out)
        );
    }
    assert_success(&run(&["copy", "-q", &src, &dst]));
    assert_eq!(listed_by(&dst, &source.image), source.referrers);
    assert_success(&run(&["verify", "--deep", &src, &dst]));
}

#[test]
fn delete_source_refuses_while_the_target_does_not_list_a_referrer() {
    let (source, target) = source_and_copy();
    delete_fallback_tag(&target, &source.image);
    let src = source.url();
    let out = run(&[
        "delete-source",
        &src,
        "--verified-against",
        &target.url(),
        "--confirm",
        &src,
    ]);
    assert_exit_code(&out, 1);
    let said = format!("{}{}", stdout(&out), stderr(&out));
    for referrer in &source.referrers {
        assert!(
            said.contains(&format!(
                "{REPO}@{referrer}: referrer of {} held by the target but not listed for it",
                source.image
            )),
            "{said}"
        );
    }
    // Nothing deleted: the source still holds the image and its referrers.
    let backend = open(&source.registry.url());
    for digest in source.referrers.iter().chain([&source.image]) {
        let held = block_on(backend.manifest_digest(REPO, digest.as_str())).unwrap();
        assert_eq!(held.as_ref(), Some(digest));
    }
}

/// Pushes `app:base`, an image without referrers unlike `push_image`'s.

#[test]
fn a_referrer_pushed_by_a_run_that_then_failed_to_list_it_is_listed_by_the_next_run() {
    let source = api_source();
    // A tag without referrers, which the failing run brings: the repository has tags when the
    // next run starts, which then asks the target what it holds.
    push_image_as(
        source.registry.port,
        REPO,
        "base",
        "arm64",
        b"the base layer",
    );
    let target = Registry::start();
    // In front of the target, a proxy that fails every write of a fallback tag (a server error,
    // retried at once) while `failing` is set.
    let failing = Arc::new(AtomicBool::new(true));
    let proxy = {
        let (failing, port) = (failing.clone(), target.port);
        Server::start_raw(move |request: &Request| {
            let fallback_put = request.method == "PUT"
                && request
                    .path
                    .starts_with(&format!("/v2/{REPO}/manifests/sha256-"));
            if fallback_put && failing.load(Ordering::SeqCst) {
                return Response::new(500, "storage unavailable").header("Retry-After", "0");
            }
            forward_as_sent(port, request)
        })
    };
    let out = run(&["copy", &source.url(), &proxy.url()]);
    assert_exit_code(&out, 1);
    assert!(stdout(&out).contains("FAILED"), "{}", stdout(&out));
    // A referrer arrived, unlisted.
    let dst = target.url();
    let held: Vec<&Digest> = source
        .referrers
        .iter()
        .filter(|r| {
            block_on(open(&dst).manifest_digest(REPO, r.as_str()))
                .unwrap()
                .is_some()
        })
        .collect();
    assert!(!held.is_empty());
    assert!(listed_by(&dst, &source.image).is_empty());
    assert!(block_on(open(&dst).manifest_digest(REPO, "base"))
        .unwrap()
        .is_some());

    failing.store(false, Ordering::SeqCst);
    let out = run(&["copy", &source.url(), &proxy.url()]);
    assert_success(&out);
    assert!(
        stdout(&out).contains(&format!(
            "listed {} that the target held without a listing for its subject",
            if held.len() == 1 {
                "1 referrer".to_string()
            } else {
                format!("{} referrers", held.len())
            }
        )),
        "{}",
        stdout(&out)
    );
    assert_eq!(listed_by(&dst, &source.image), source.referrers);
    assert_success(&run(&["verify", "--deep", &source.url(), &dst]));
}

#[test]
fn a_copy_again_reads_each_subjects_fallback_tag_once_and_writes_nothing_when_all_are_listed() {
    let (source, target) = source_and_copy();
    let recorded = MountProxy::recording(target.port);
    let out = run(&["copy", &source.url(), &recorded.url()]);
    assert_success(&out);
    let exchanges = recorded.exchanges();
    let writes: Vec<_> = exchanges
        .iter()
        .filter(|e| matches!(e.method.as_str(), "PUT" | "POST" | "PATCH" | "DELETE"))
        .collect();
    assert!(writes.is_empty(), "{writes:?}");
    let tag_path = format!("/v2/{REPO}/manifests/{}", fallback_tag(&source.image));
    let reads = exchanges
        .iter()
        .filter(|e| e.method == "GET" && e.target == tag_path)
        .count();
    assert_eq!(reads, 1, "{exchanges:#?}");
}

// Content damaged in the target's storage, and a blob link lost in one repository: a deep copy
// puts back what it can and says what it cannot, with what repairs it.

/// A source holding `app:v1`, and a target holding a copy of it.
fn image_and_copy() -> (Registry, Registry, Digest) {
    let source = Registry::start();
    let (image, _) = push_image(source.port, REPO);
    let target = Registry::start();
    assert_success(&run(&["copy", "-q", &source.url(), &target.url()]));
    (source, target, image)
}

/// Damages a manifest in the registry's storage as a storage fault would: one hexadecimal digit
/// of the first digest it names changed, the size and the JSON's validity unchanged.
fn change_a_hex_digit(registry: &Registry, manifest: &Digest) {
    let path = registry.blob_data(manifest);
    let mut bytes = std::fs::read(&path).unwrap();
    let at = bytes
        .windows(7)
        .position(|w| w == b"sha256:")
        .expect("a digest in the manifest")
        + 7;
    bytes[at] = if bytes[at] == b'0' { b'1' } else { b'0' };
    std::fs::write(&path, bytes).unwrap();
}

/// Removes a blob (or manifest) from the registry's storage, as its operator would to repair
/// it: every repository's link to it stays.
fn remove_from_storage(registry: &Registry, digest: &Digest) {
    std::fs::remove_dir_all(registry.blob_data(digest).parent().unwrap()).unwrap();
}

#[test]
fn a_blob_truncated_in_the_targets_storage_fails_a_deep_copy_with_what_repairs_it() {
    let (source, target, image) = image_and_copy();
    let (src, dst) = (source.url(), target.url());
    let layer = last_layer(&open(&dst), REPO, "v1");
    let size = std::fs::metadata(target.blob_data(&layer)).unwrap().len();
    let kept = size / 2;
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(target.blob_data(&layer))
        .unwrap();
    file.set_len(kept).unwrap();
    drop(file);

    let out = run(&["verify", "--deep", &src, &dst]);
    assert_exit_code(&out, 1);
    let text = stdout(&out);
    assert!(
        text.contains(&format!(
            "broken {REPO}@{image}: blob {layer} has {kept} bytes in the target, its descriptor says {size}: its stored content is damaged\n"
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!("verify: 1 blob is damaged in the target's storage ({layer}): a copy finds a blob present and does not replace it; remove each from the target (a layout's blobs/sha256/{} file; in a registry, by its operator, from its storage), then copy again with --deep\n", layer.hex())),
        "{text}"
    );

    // The registry answers the upload 201 and keeps the file it has: not put back.
    let out = run(&["copy", "--deep", &src, &dst]);
    assert_exit_code(&out, 1);
    let text = stdout(&out);
    assert!(
        text.contains(&format!(
            "FAILED {REPO}:v1: blob {layer} in {REPO}: damaged in the target's storage (it has {kept} bytes there, its descriptor says {size}, and an upload did not replace it: a registry keeps the content it holds under a digest); remove it from the target (a layout's blobs/sha256/{} file; in a registry, by its operator, from its storage), then copy again with --deep\n",
            layer.hex()
        )),
        "{text}"
    );
    assert!(
        text.contains("deep: put back 0 manifests and 0 blobs"),
        "{text}"
    );
    assert_eq!(
        std::fs::metadata(target.blob_data(&layer)).unwrap().len(),
        kept
    );

    // Done as said, it is put back.
    remove_from_storage(&target, &layer);
    let out = run(&["copy", "--deep", &src, &dst]);
    assert_success(&out);
    assert!(
        stdout(&out).contains("deep: put back 0 manifests and 1 blobs"),
        "{}",
        stdout(&out)
    );
    assert_success(&run(&["verify", "--deep", "--content", &src, &dst]));
}

#[test]
fn a_manifest_damaged_in_the_targets_storage_fails_a_deep_copy_and_verify_with_what_repairs_it() {
    let (source, target, image) = image_and_copy();
    let (src, dst) = (source.url(), target.url());
    change_a_hex_digit(&target, &image);
    let remedy = format!(
        "remove it from the target (a layout's blobs/sha256/{} file; in a registry, by its operator, from its storage), then copy again with --deep",
        image.hex()
    );

    let out = run(&["verify", "--deep", &src, &dst]);
    assert_exit_code(&out, 1);
    let text = stdout(&out);
    assert!(
        text.contains(&format!(
            "broken {REPO}@{image}: manifest {image} read from the target does not match its digest (its content hashes to sha256:"
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!("verify: 1 manifest is damaged in the target's storage ({image}): a copy finds a blob present and does not replace it; remove each from the target (a layout's blobs/sha256/{} file; in a registry, by its operator, from its storage), then copy again with --deep\n", image.hex())),
        "{text}"
    );

    // A deep copy reads the manifests it finds and does not call this one fine.
    let out = run(&["copy", "--deep", &src, &dst]);
    assert_exit_code(&out, 1);
    let text = stdout(&out);
    let failed = format!("FAILED {REPO}:v1: manifest {REPO}@{image}: damaged in the target's storage (its content hashes to sha256:");
    assert!(text.contains(&failed), "{text}");
    assert!(
        text.contains(&format!(
            "): a copy finds it present and does not replace it; {remedy}\n"
        )),
        "{text}"
    );

    // Done as said, it is put back.
    remove_from_storage(&target, &image);
    assert_success(&run(&["copy", "--deep", &src, &dst]));
    assert_success(&run(&["verify", "--deep", &src, &dst]));
}

#[test]
fn a_referrer_damaged_in_the_targets_storage_fails_a_deep_copy() {
    let (source, target) = source_and_copy();
    let referrer = &source.referrers[0];
    change_a_hex_digit(&target, referrer);
    let out = run(&["copy", "--deep", &source.url(), &target.url()]);
    assert_exit_code(&out, 1);
    let text = stdout(&out);
    assert!(
        text.contains(&format!(
            "FAILED {REPO}:v1: manifest {REPO}@{referrer}: damaged in the target's storage (its content hashes to sha256:"
        )),
        "{text}"
    );
}

#[test]
fn a_blob_link_lost_in_one_repository_is_put_back_without_counting_a_refused_mount() {
    let source = Registry::start();
    // Two repositories of the same image: they share every blob.
    push_image(source.port, "a");
    push_image(source.port, "b");
    let target = Registry::start();
    let (src, dst) = (source.url(), target.url());
    assert_success(&run(&["copy", "-q", &src, &dst]));
    let layer = last_layer(&open(&dst), "b", "v1");
    std::fs::remove_dir_all(
        target
            .repository_dir("b")
            .join("_layers/sha256")
            .join(layer.hex()),
    )
    .unwrap();
    let out = run(&["verify", "--deep", &src, &dst]);
    assert_exit_code(&out, 1);
    assert!(
        stdout(&out).contains(&format!("blob {layer} (")),
        "{}",
        stdout(&out)
    );

    let out = run(&["copy", "--deep", &src, &dst]);
    assert_success(&out);
    let text = stdout(&out);
    assert!(
        text.contains("deep: put back 0 manifests and 1 blobs"),
        "{text}"
    );
    // No mount was refused, and nothing was uploaded a second time.
    assert!(!text.contains("refused a mount"), "{text}");
    assert!(!text.contains("uploaded again"), "{text}");
    assert_success(&run(&["verify", "--deep", "--content", &src, &dst]));
}

#[test]
fn a_referrer_a_layout_lists_untagged_is_listed_again_in_a_target_that_lost_its_fallback_tag() {
    // A layout lists every manifest, the referrers among the untagged ones: a copy walks them as
    // such, and lists them for their subject where the target keeps fallback tags.
    let (dir, expected) = sample_layout(2, 7);
    let src = oci(dir.path());
    let target = Registry::start();
    let dst = target.url();
    assert_success(&run(&["copy", "-q", &src, &dst]));
    let (repository, subject, referrer) = expected.referrers[0].clone();
    lose_the_fallback_tag_then_copy_lists_it_again(&src, &target, &repository, &subject, &referrer);
}

#[test]
fn a_referrer_of_an_untagged_manifest_is_listed_again_in_a_target_that_lost_its_fallback_tag() {
    // The subject of the layout's referrer loses its tags: an untagged entry, as a layout (or
    // ACR) keeps an image whose tag moved on. Its referrer is walked from it all the same.
    let (dir, expected) = sample_layout(2, 7);
    let (repository, subject, referrer) = expected.referrers[0].clone();
    let index_path = dir.path().join("sample/index.json");
    let mut index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&index_path).unwrap()).unwrap();
    let entries = index["manifests"].as_array_mut().unwrap();
    entries.retain(|e| {
        e["digest"] != subject.as_str()
            || e["annotations"]["org.opencontainers.image.ref.name"].is_null()
    });
    let mut untagged = entries
        .iter()
        .find(|e| e["digest"] == referrer.as_str())
        .unwrap()
        .clone();
    untagged["digest"] = subject.as_str().into();
    let bytes = std::fs::read(layout_blob(&dir.path().join("sample"), &subject)).unwrap();
    untagged["size"] = bytes.len().into();
    untagged["mediaType"] =
        serde_json::from_slice::<serde_json::Value>(&bytes).unwrap()["mediaType"].clone();
    untagged.as_object_mut().unwrap().remove("artifactType");
    untagged["annotations"] =
        serde_json::json!({ "io.github.acr-relocate.repository": repository });
    entries.push(untagged);
    std::fs::write(&index_path, serde_json::to_vec(&index).unwrap()).unwrap();

    let src = oci(dir.path());
    let target = Registry::start();
    let dst = target.url();
    assert_success(&run(&["copy", "-q", &src, &dst]));
    assert_success(&run(&["verify", "--deep", &src, &dst]));
    lose_the_fallback_tag_then_copy_lists_it_again(&src, &target, &repository, &subject, &referrer);
}

/// The target loses the fallback tag of `subject` (the listing of its `referrer`): a deep verify
/// names the referrer as held but not listed, a plain copy lists it again, and the verify passes.
fn lose_the_fallback_tag_then_copy_lists_it_again(
    src: &str,
    target: &Registry,
    repository: &str,
    subject: &Digest,
    referrer: &Digest,
) {
    let dst = target.url();
    std::fs::remove_dir_all(
        target
            .repository_dir(repository)
            .join("_manifests/tags")
            .join(fallback_tag(subject)),
    )
    .unwrap();
    let out = run(&["verify", "--deep", src, &dst]);
    assert_exit_code(&out, 1);
    assert!(
        stdout(&out).contains(&format!(
            "broken {repository}@{referrer}: referrer of {subject} held by the target but not listed for it"
        )),
        "{}",
        stdout(&out)
    );
    let out = run(&["copy", src, &dst]);
    assert_success(&out);
    assert!(
        stdout(&out)
            .contains("listed 1 referrer that the target held without a listing for its subject"),
        "{}",
        stdout(&out)
    );
    assert_success(&run(&["verify", "--deep", src, &dst]));
}
