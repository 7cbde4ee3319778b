//! A source that holds its own referrers fallback tag (`sha256-<hex>`, as oras, cosign or an
//! earlier copy wrote it) and referrers with ordinary tags of their own, copied to a registry
//! without the referrers API (Distribution 2.8). Two writers meet at one target tag: the tag walk
//! copies the source's fallback index, and the copy lists every referrer it pushes in that same
//! tag; and a referrer is pushed under its own tag while an index that lists it goes up.
//!
//! Distribution rewrites a manifest's revision link on every PUT of that manifest (truncate, then
//! write); an index PUT that checks its children at that moment reads an empty link and is
//! answered `400 DIGEST_INVALID`. A holding proxy in front of the target forces that interleaving
//! where the copy would allow it, instead of hoping for it.

use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use acr_relocate::digest::Digest;

use crate::support::http::{Request, Response, Server};
use crate::support::mount_proxy::forward_as_sent;
use crate::support::oci_push::*;
use crate::util::*;

const REPO: &str = "app";
/// The ordinary tag of the SBOM referrer.
const SBOM_TAG: &str = "v1-sbom";

/// A referrer of the image: its digest, and its descriptor as an oras fallback index lists it.
struct Referrer {
    digest: Digest,
    listed: String,
}

/// Pushes a referrer of `subject` (an artifact with an empty config and one layer) by digest, or
/// under `tag`.
fn push_referrer(
    port: u16,
    subject: &serde_json::Value,
    artifact_type: &str,
    content: &[u8],
    annotations: serde_json::Value,
    tag: Option<&str>,
) -> Referrer {
    let empty = push_blob(port, REPO, b"{}");
    let layer = push_blob(port, REPO, content);
    let bytes = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST,
        "artifactType": artifact_type,
        "config": descriptor("application/vnd.oci.empty.v1+json", &empty, 2),
        "layers": [descriptor(artifact_type, &layer, content.len())],
        "subject": subject,
        "annotations": annotations,
    }))
    .unwrap();
    let digest = Digest::of(&bytes);
    push_manifest(port, REPO, tag.unwrap_or(digest.as_str()), MANIFEST, &bytes);
    // oras writes a descriptor's fields in this order, `artifactType` last.
    let listed = format!(
        r#"{{"mediaType":"{MANIFEST}","digest":"{digest}","size":{},"annotations":{annotations},"artifactType":"{artifact_type}"}}"#,
        bytes.len()
    );
    Referrer { digest, listed }
}

/// Pushes an oras-style fallback index of `subject` listing `referrers`; returns its digest.
fn push_fallback_index(port: u16, subject: &Digest, referrers: &[&Referrer]) -> Digest {
    let listed: Vec<&str> = referrers.iter().map(|r| r.listed.as_str()).collect();
    let index = format!(
        r#"{{"schemaVersion":2,"mediaType":"{INDEX}","manifests":[{}]}}"#,
        listed.join(",")
    );
    push_manifest(port, REPO, &fallback_tag(subject), INDEX, index.as_bytes())
}

/// The source: `app:v1`, an SBOM of it tagged `v1-sbom` too, a cosign-style signature of it, and
/// the fallback tag of `v1` listing both as oras writes it.
struct Source {
    registry: Registry,
    image: Digest,
    sbom: Digest,
    signature: Digest,
    fallback: Digest,
}

fn source() -> Source {
    let registry = Registry::start();
    let port = registry.port;
    let (image, subject) = push_image(port, REPO);
    let sbom = push_referrer(
        port,
        &subject,
        "application/spdx+json",
        br#"{"spdxVersion":"SPDX-2.3","name":"app"}"#,
        serde_json::json!({"org.opencontainers.image.created": "2024-05-01T10:00:00Z"}),
        Some(SBOM_TAG),
    );
    let signature = push_referrer(
        port,
        &subject,
        "application/vnd.dev.cosign.artifact.sig.v1+json",
        br#"{"critical":{"image":{"docker-manifest-digest":"sha256:0"}}}"#,
        serde_json::json!({"dev.cosignproject.cosign/signature": "MEUCIQ"}),
        None,
    );
    let fallback = push_fallback_index(port, &image, &[&sbom, &signature]);
    Source {
        registry,
        image,
        sbom: sbom.digest,
        signature: signature.digest,
        fallback,
    }
}

/// The digests the fallback tag of `subject` lists in `endpoint`, and the tag's own digest.
fn fallback_listing(endpoint: &str, subject: &Digest) -> (Digest, Vec<Digest>) {
    let index = block_on(open(endpoint).manifest(REPO, &fallback_tag(subject))).unwrap();
    let mut listed: Vec<Digest> = index
        .view()
        .unwrap()
        .children()
        .iter()
        .map(|c| c.digest.clone())
        .collect();
    listed.sort();
    (index.digest, listed)
}

/// What a request to the target is, for the proxy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Put {
    /// A PUT of the watched manifest under its own tag: Distribution rewrites its revision link.
    Rewrite,
    /// A PUT of an index that lists the watched manifest: Distribution reads that link.
    Index,
}

/// Where the proxy's forced interleaving stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Nothing held yet.
    Idle,
    /// The first of the pair is held, waiting for the other.
    Holding(Put),
    /// The rewrite arrived while the index was held: the held index goes on now.
    IndexGoes,
    /// The index was answered during the rewrite: the rewrite goes on now.
    RewriteGoes,
    /// Done: everything passes.
    Over,
}

#[derive(Debug)]
struct PairState {
    phase: Phase,
    /// Times the first of the pair was held.
    holds: usize,
    /// Times the other arrived while the first was held: two writes at once.
    overlaps: usize,
}

/// A proxy in front of the target that holds the first PUT of a pair (the watched manifest under
/// its own tag, or an index listing it) until the other arrives, or for [`HOLD`] at most (a
/// bound, not a timing). When both are in flight at once, the proxy plays the registry's race
/// out: the manifest's revision link is emptied (the first step of Distribution's rewrite), the
/// index PUT goes to the registry (which answers `DIGEST_INVALID`, as it does in that window),
/// then the rewrite goes, writing the link again.
struct PairProxy {
    server: Server,
    state: Arc<(Mutex<PairState>, Condvar)>,
}

/// The longest the proxy holds a request for its partner.
const HOLD: Duration = Duration::from_secs(4);

impl PairProxy {
    fn start(target: &Registry, watched: &Digest, tag: &'static str) -> Self {
        let state = Arc::new((
            Mutex::new(PairState {
                phase: Phase::Idle,
                holds: 0,
                overlaps: 0,
            }),
            Condvar::new(),
        ));
        let shared = state.clone();
        let upstream = target.port;
        let link = revision_link(target, watched);
        let watched = watched.clone();
        let server =
            Server::start_raw(
                move |request: &Request| match classify(request, &watched, tag) {
                    Some(put) => paired(&shared, put, &link, || forward_as_sent(upstream, request)),
                    None => forward_as_sent(upstream, request),
                },
            );
        PairProxy { server, state }
    }

    fn url(&self) -> String {
        self.server.url()
    }

    fn holds(&self) -> usize {
        self.state.0.lock().unwrap().holds
    }

    fn overlaps(&self) -> usize {
        self.state.0.lock().unwrap().overlaps
    }
}

/// Where Distribution's filesystem storage keeps the revision link of `digest` in [`REPO`].
fn revision_link(registry: &Registry, digest: &Digest) -> PathBuf {
    registry
        .repository_dir(REPO)
        .join("_manifests/revisions/sha256")
        .join(digest.hex())
        .join("link")
}

/// Empties a link file, as Distribution's rewrite does first (it truncates, then writes).
fn empty_link(link: &PathBuf) {
    if link.exists() {
        std::fs::write(link, b"").unwrap();
    }
}

fn classify(request: &Request, watched: &Digest, tag: &str) -> Option<Put> {
    if request.method != "PUT" {
        return None;
    }
    let reference = request
        .path
        .strip_prefix(&format!("/v2/{REPO}/manifests/"))?;
    if reference == tag {
        return Some(Put::Rewrite);
    }
    lists(request, watched).then_some(Put::Index)
}

/// True for a request whose body is an index that lists `watched`.
fn lists(request: &Request, watched: &Digest) -> bool {
    serde_json::from_slice::<serde_json::Value>(&request.body)
        .ok()
        .and_then(|index| {
            let entries = index["manifests"].as_array()?.clone();
            Some(entries.iter().any(|m| m["digest"] == watched.as_str()))
        })
        .unwrap_or(false)
}

/// Waits (for [`HOLD`] at most) while the phase is `phase`.
fn wait_while_in<'a>(
    changed: &Condvar,
    mut s: std::sync::MutexGuard<'a, PairState>,
    phase: Phase,
) -> std::sync::MutexGuard<'a, PairState> {
    let deadline = Instant::now() + HOLD;
    while s.phase == phase && Instant::now() < deadline {
        s = changed
            .wait_timeout(s, Duration::from_millis(50))
            .unwrap()
            .0;
    }
    s
}

/// Handles one PUT of the pair (see [`PairProxy`]); `send` forwards it to the registry.
fn paired(
    shared: &(Mutex<PairState>, Condvar),
    put: Put,
    link: &PathBuf,
    send: impl Fn() -> Response,
) -> Response {
    let (lock, changed) = shared;
    let mut s = lock.lock().unwrap();
    let wait_while = |s, phase| wait_while_in(changed, s, phase);
    match s.phase {
        Phase::Idle => {
            s.phase = Phase::Holding(put);
            s.holds += 1;
            changed.notify_all();
            s = wait_while(s, Phase::Holding(put));
            match s.phase {
                Phase::IndexGoes => {
                    drop(s);
                    let response = send();
                    lock.lock().unwrap().phase = Phase::RewriteGoes;
                    changed.notify_all();
                    response
                }
                _ => {
                    // The partner never came (or the race was played out): on as usual.
                    s.phase = Phase::Over;
                    changed.notify_all();
                    drop(s);
                    send()
                }
            }
        }
        Phase::Holding(first) if first != put => {
            s.overlaps += 1;
            empty_link(link);
            match put {
                Put::Index => {
                    // The held rewrite has emptied the link; this index reads it now.
                    drop(s);
                    let response = send();
                    let mut s = lock.lock().unwrap();
                    s.phase = Phase::RewriteGoes;
                    changed.notify_all();
                    response
                }
                Put::Rewrite => {
                    // This rewrite has emptied the link; the held index reads it now.
                    s.phase = Phase::IndexGoes;
                    changed.notify_all();
                    s = wait_while(s, Phase::IndexGoes);
                    s.phase = Phase::Over;
                    changed.notify_all();
                    drop(s);
                    send()
                }
            }
        }
        _ => {
            drop(s);
            send()
        }
    }
}

#[test]
fn a_tagged_referrer_and_the_source_fallback_tag_are_never_written_at_once() {
    // The SBOM goes up under its own tag (`v1-sbom`) while indexes that list it go up: the
    // source's fallback tag, copied, and the copy's own listing of each referrer. The copy keeps
    // them apart; were they in flight together, Distribution could answer the index
    // `DIGEST_INVALID` (the proxy plays that moment out when it happens).
    let src = source();
    let dst = Registry::start();
    let proxy = PairProxy::start(&dst, &src.sbom, SBOM_TAG);
    let out = run(&["copy", "--json", &src.registry.url(), &proxy.url()]);
    assert_success(&out);
    assert_eq!(
        json(&out)["failed"],
        serde_json::json!([]),
        "{}",
        stdout(&out)
    );
    assert_eq!(
        proxy.holds(),
        1,
        "the proxy held the first write of the pair"
    );
    assert_eq!(proxy.overlaps(), 0, "the two writes were in flight at once");
    // The source's fallback index arrived byte for byte, the SBOM kept its tag.
    let (digest, listed) = fallback_listing(&dst.url(), &src.image);
    assert_eq!(digest, src.fallback);
    assert_eq!(
        listed,
        sorted(vec![src.sbom.clone(), src.signature.clone()])
    );
    let store = open(&dst.url());
    assert_eq!(
        block_on(store.manifest_digest(REPO, SBOM_TAG)).unwrap(),
        Some(src.sbom.clone())
    );
    assert_success(&run(&["verify", "--deep", &src.registry.url(), &dst.url()]));
}

#[test]
fn a_source_fallback_tag_that_lists_every_referrer_arrives_byte_for_byte() {
    let src = source();
    let dst = Registry::start();
    let out = run(&["copy", "--json", &src.registry.url(), &dst.url()]);
    assert_success(&out);
    let report = json(&out);
    assert_eq!(report["failed"], serde_json::json!([]), "{report}");
    assert_eq!(report["tags_copied"], 3, "{report}");
    let (digest, _) = fallback_listing(&dst.url(), &src.image);
    assert_eq!(digest, src.fallback, "the source's bytes, not a rewrite");
    let verify = run(&[
        "verify",
        "--deep",
        "--json",
        &src.registry.url(),
        &dst.url(),
    ]);
    assert_success(&verify);
    assert_eq!(json(&verify)["tags_ok"], 3);
    // A second run finds everything in place and writes nothing.
    let again = json(&run(&["copy", "--json", &src.registry.url(), &dst.url()]));
    assert_eq!(again["tags_up_to_date"], 3, "{again}");
    assert_eq!(again["manifests_pushed"], 0, "{again}");
}

#[test]
fn referrers_the_target_listed_before_the_copy_stay_in_its_fallback_tag() {
    // The target already holds the image with a signature of its own (a notation signature,
    // listed in its fallback tag). The source's fallback index, copied, must not drop it: the tag
    // ends up listing the union, verify accepts it, and a second run has nothing to do.
    let src = source();
    let dst = Registry::start();
    let (image, subject) = push_image(dst.port, REPO);
    assert_eq!(image, src.image, "the same image on both sides");
    let notation = push_referrer(
        dst.port,
        &subject,
        "application/vnd.cncf.notary.signature",
        br#"{"payload":"eyJ0YXJnZXRBcnRpZmFjdCI6e319"}"#,
        serde_json::json!({"io.cncf.notary.x509chain.thumbprint#S256": "[\"ab\"]"}),
        None,
    );
    push_fallback_index(dst.port, &image, &[&notation]);
    let (target_had, _) = fallback_listing(&dst.url(), &image);
    let item = format!("{REPO}:{}", fallback_tag(&image));

    // A dry run says what the tag would hold: the union, neither side's digest.
    let dry = json(&run(&[
        "copy",
        "--dry-run",
        "--json",
        &src.registry.url(),
        &dst.url(),
    ]));
    let would = dry["overwritten"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["item"] == item.as_str())
        .unwrap_or_else(|| panic!("{dry}"))
        .clone();
    let dry_text = run(&["copy", "--dry-run", &src.registry.url(), &dst.url()]);
    assert!(
        stdout(&dry_text).contains(&format!(
            "would merge {item}: the target has {target_had}, the source {}; the tag would hold both listings",
            src.fallback
        )),
        "{}",
        stdout(&dry_text)
    );
    let out = run(&["copy", "-v", "--json", &src.registry.url(), &dst.url()]);
    assert_success(&out);
    let summary = json(&out);
    assert_eq!(summary["failed"], serde_json::json!([]), "{summary}");
    let (now, listed) = fallback_listing(&dst.url(), &image);
    // The overwritten entry names what the tag held, the source's index, and the merged
    // index the tag holds now; the line at -v says it was merged.
    let overwrote = summary["overwritten"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["item"] == item.as_str())
        .unwrap_or_else(|| panic!("{summary}"))
        .clone();
    assert_eq!(overwrote["target_had"], target_had.as_str(), "{summary}");
    assert_eq!(overwrote["source"], src.fallback.as_str(), "{summary}");
    assert_eq!(overwrote["merged"], true, "{summary}");
    assert_eq!(overwrote["now"], now.as_str(), "{summary}");
    assert_eq!(would["merged"], true, "{dry}");
    let line = format!(
        "merged {item}: the target had {target_had}, the source {}; the tag now holds {now}",
        src.fallback
    );
    assert!(stderr(&out).contains(&line), "{}", stderr(&out));
    assert_eq!(
        listed,
        sorted(vec![
            src.sbom.clone(),
            src.signature.clone(),
            notation.digest
        ])
    );
    let verify = run(&[
        "verify",
        "--deep",
        "--json",
        &src.registry.url(),
        &dst.url(),
    ]);
    assert_success(&verify);
    let report = json(&verify);
    assert_eq!(report["different"], serde_json::json!([]), "{report}");
    assert_eq!(report["tags_ok"], 3, "{report}");
    let again = json(&run(&["copy", "--json", &src.registry.url(), &dst.url()]));
    assert_eq!(again["tags_up_to_date"], 3, "{again}");
    assert_eq!(again["manifests_pushed"], 0, "{again}");
}

#[test]
fn a_fallback_tag_that_lacks_a_referrer_of_the_source_is_still_different() {
    // The other way round the target is short of a referrer: verify says so.
    let src = source();
    let dst = Registry::start();
    assert_success(&run(&["copy", "-q", &src.registry.url(), &dst.url()]));
    let (image, subject) = push_image(dst.port, REPO);
    let lone = push_referrer(
        dst.port,
        &subject,
        "application/vnd.cncf.notary.signature",
        b"another signature",
        serde_json::json!({}),
        None,
    );
    // Someone rewrote the target's fallback tag with one entry only.
    push_fallback_index(dst.port, &image, &[&lone]);
    let verify = run(&["verify", "--json", &src.registry.url(), &dst.url()]);
    assert_exit_code(&verify, 1);
    let different = json(&verify)["different"].to_string();
    assert!(different.contains(&fallback_tag(&image)), "{different}");
}

#[test]
fn an_index_refused_while_another_client_rewrites_a_manifest_it_lists_is_tried_again() {
    // Another client pushes the SBOM again (Distribution empties its link, then writes it) just
    // as the copy's index that lists it arrives: the registry answers DIGEST_INVALID once, and
    // the copy tries again instead of failing the tag.
    let src = source();
    let dst = Registry::start();
    let link = revision_link(&dst, &src.sbom);
    let content = src.sbom.to_string();
    let refused = Arc::new(Mutex::new(0usize));
    let count = refused.clone();
    let (upstream, watched) = (dst.port, src.sbom.clone());
    let proxy = Server::start_raw(move |request: &Request| {
        let index_put = request.method == "PUT" && lists(request, &watched);
        let first = index_put && {
            let mut n = count.lock().unwrap();
            *n += 1;
            *n == 1
        };
        if !first {
            return forward_as_sent(upstream, request);
        }
        empty_link(&link);
        let response = forward_as_sent(upstream, request);
        std::fs::write(&link, &content).unwrap();
        assert_eq!(
            response.status,
            400,
            "{}",
            String::from_utf8_lossy(&response.body)
        );
        response
    });
    let out = run(&["copy", "--json", "-v", &src.registry.url(), &proxy.url()]);
    assert_success(&out);
    assert_eq!(
        json(&out)["failed"],
        serde_json::json!([]),
        "{}",
        stdout(&out)
    );
    assert!(*refused.lock().unwrap() >= 2, "refused once, then accepted");
    assert!(stderr(&out).contains("DIGEST_INVALID"), "{}", stderr(&out));
    let (digest, _) = fallback_listing(&dst.url(), &src.image);
    assert_eq!(digest, src.fallback);
}

#[test]
fn a_platform_image_with_a_tag_of_its_own_is_never_pushed_while_its_index_goes_up() {
    // The same hazard without referrers: `v1` is a multi-platform index, and one of its platform
    // images is tagged `v1-amd64` too.
    let src = Registry::start();
    let port = src.port;
    let mut platforms = Vec::new();
    for arch in ["amd64", "arm64"] {
        let config = format!(
            r#"{{"architecture":"{arch}","os":"linux","rootfs":{{"type":"layers","diff_ids":[]}}}}"#
        );
        let layer = format!("the layer for {arch}");
        let config_digest = push_blob(port, REPO, config.as_bytes());
        let layer_digest = push_blob(port, REPO, layer.as_bytes());
        let bytes = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": MANIFEST,
            "config": descriptor("application/vnd.oci.image.config.v1+json", &config_digest, config.len()),
            "layers": [descriptor("application/vnd.oci.image.layer.v1.tar", &layer_digest, layer.len())],
        }))
        .unwrap();
        let digest = push_manifest(port, REPO, &format!("v1-{arch}"), MANIFEST, &bytes);
        let mut entry = descriptor(MANIFEST, &digest, bytes.len());
        entry["platform"] = serde_json::json!({"architecture": arch, "os": "linux"});
        platforms.push((digest, entry));
    }
    let entries: Vec<_> = platforms.iter().map(|(_, e)| e.clone()).collect();
    let index = serde_json::to_vec(
        &serde_json::json!({"schemaVersion": 2, "mediaType": INDEX, "manifests": entries}),
    )
    .unwrap();
    let index = push_manifest(port, REPO, "v1", INDEX, &index);
    let dst = Registry::start();
    let proxy = PairProxy::start(&dst, &platforms[0].0, "v1-amd64");
    let out = run(&["copy", "--json", &src.url(), &proxy.url()]);
    assert_success(&out);
    assert_eq!(
        proxy.holds(),
        1,
        "the proxy held the first write of the pair"
    );
    assert_eq!(proxy.overlaps(), 0, "the two writes were in flight at once");
    let store = open(&dst.url());
    assert_eq!(
        block_on(store.manifest_digest(REPO, "v1")).unwrap(),
        Some(index)
    );
}

/// `copy --no-referrers` into a registry without the referrers API leaves the referrers behind:
/// the source's fallback tag, which lists them, is not copied as an ordinary tag, so neither
/// its bytes nor the untagged signature it lists arrive, and none is counted. A referrer with
/// an ordinary tag of its own (`v1-sbom`) is a tag like any other, listed for its subject, and
/// so is a tag of the fallback tag's form on an image. `verify --no-referrers` (plain
/// and deep) passes on such a copy; `verify` without it names the fallback tag missing.
#[test]
fn no_referrers_leaves_the_fallback_tag_and_what_it_lists_behind() {
    let src = source();
    // A build tagged by a hash, in the fallback tag's form: an image, not an index of referrers.
    let hashed = format!("sha256-{}", "0123456789abcdef".repeat(4));
    let (build, _) = push_image_as(src.registry.port, "ci/build", &hashed, "amd64", b"build");
    let dst = Registry::start();
    let out = run(&[
        "copy",
        "--json",
        "--no-referrers",
        &src.registry.url(),
        &dst.url(),
    ]);
    assert_success(&out);
    let summary = json(&out);
    assert_eq!(summary["referrers_copied"], 0, "{summary}");
    let target = open(&dst.url());
    let held = |reference: &str| block_on(target.manifest_digest(REPO, reference)).unwrap();
    assert_eq!(held("v1"), Some(src.image.clone()));
    assert_eq!(held(SBOM_TAG), Some(src.sbom.clone()));
    assert_eq!(held(src.signature.as_str()), None);
    let build_held = block_on(target.manifest_digest("ci/build", &hashed)).unwrap();
    assert_eq!(
        build_held,
        Some(build),
        "an image under a hash-like tag is an ordinary tag"
    );
    // The SBOM arrived under its tag, and the copy listed it for its subject, as a client pushing
    // a manifest with a `subject` does; the source's listing did not arrive.
    let (in_target, listed) = fallback_listing(&dst.url(), &src.image);
    assert_ne!(in_target, src.fallback);
    assert_eq!(listed, std::slice::from_ref(&src.sbom));

    for deep in [None, Some("--deep")] {
        let mut verify = vec!["verify", "--no-referrers"];
        verify.extend(deep);
        let (source, target) = (src.registry.url(), dst.url());
        verify.extend([source.as_str(), target.as_str()]);
        assert_success(&run(&verify));
    }
    let out = run(&["verify", &src.registry.url(), &dst.url()]);
    assert_exit_code(&out, 1);
    assert!(
        stdout(&out).contains(&fallback_tag(&src.image)),
        "{}",
        stdout(&out)
    );
}
