//! Extra tier: the ACR data-plane client (`transport::registry::acr`) against Prism serving
//! Microsoft's data-plane spec (`../shared/specs/azure/…/2021-07-01/containerregistry.json`), with
//! the spec's examples inlined (`specs/tools/inline_examples.py`) so that responses carry the
//! official example data. Prism runs with `--errors`: a request that breaks the spec gets 422 and
//! the call fails; at the end of each test its log must hold no violation.
//!
//! Prism is started by [`crate::support::prism`], which says where it is found.

use std::process::Command;

use acr_relocate::digest::Digest;
use acr_relocate::endpoint::RegistryEndpoint;
use acr_relocate::transport::registry::acr::{self, Attributes, Item, LockSync, Patch};
use acr_relocate::transport::registry::{Credentials, Registry};
use acr_relocate::transport::{ConnectOptions, Source};
use acr_relocate::walk::{Matcher, RepoPair, Selection};

use crate::support::prism::{self, specs, Mode};
use crate::util::block_on;

const NANOSERVER_1803_0905: &str =
    "sha256:110d2b6c84592561338aa040b1b14b7ab81c2f9edbd564c2285dd7d70d777086";
const NANOSERVER_1803_0906: &str =
    "sha256:7af5cd1dde3e8f5c2c9103860afa4ca871a6075373b6564b0e7b1b47866dab52";

/// A Prism mock of ACR's data plane with the official examples, stopped on drop.
struct Prism {
    process: prism::Prism,
    /// Log bytes written before the client signed in (its anonymous `GET /v2/` probe, which
    /// learns how to sign in, is refused by design).
    signed_in_at: std::cell::Cell<usize>,
    /// Holds the derived spec and the log.
    _dir: tempfile::TempDir,
}

impl Prism {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let spec = dir.path().join("data-plane.json");
        let source = specs().join(
            "azure/containerregistry/data-plane/Azure.ContainerRegistry/stable/2021-07-01/containerregistry.json",
        );
        let out = Command::new("python3")
            .arg(specs().join("tools/inline_examples.py"))
            .arg(&source)
            .arg(&spec)
            .output()
            .expect("python3 runs specs/tools/inline_examples.py");
        assert!(
            out.status.success(),
            "inline_examples.py: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Prism {
            process: prism::Prism::start(Mode::Mock, &spec, "data-plane", dir.path()),
            signed_in_at: std::cell::Cell::new(0),
            _dir: dir,
        }
    }

    fn log(&self) -> String {
        self.process.log()
    }

    /// The data-plane client, signed in with Basic credentials (what the spec's security asks).
    fn registry(&self) -> Registry {
        let endpoint = RegistryEndpoint {
            plain_http: true,
            host: format!("127.0.0.1:{}", self.process.port),
            prefix: None,
        };
        let options = ConnectOptions {
            credentials: Credentials::parse("user:pass", "test"),
            acr: true,
            page_size: 100,
            ..Default::default()
        };
        let registry = block_on(Registry::connect(&endpoint, &options)).expect("connect to Prism");
        self.signed_in_at.set(self.log().len());
        registry
    }

    /// Fails when Prism logged a violation of the spec by any request after the sign-in.
    fn assert_no_violations(&self) {
        let log = self.log();
        let log = log.get(self.signed_in_at.get()..).unwrap_or_default();
        assert!(
            log.contains("The request passed the validation rules"),
            "no request logged:\n{log}"
        );
        let bad: Vec<&str> = log
            .lines()
            .filter(|l| l.contains("Violation") || l.contains('✖'))
            .collect();
        assert!(
            bad.is_empty(),
            "requests broke the spec:\n{}",
            bad.join("\n")
        );
    }
}

fn digest(text: &str) -> Digest {
    text.parse().unwrap()
}

fn all_enabled() -> Attributes {
    Attributes {
        delete_enabled: Some(true),
        write_enabled: Some(true),
        read_enabled: Some(true),
        list_enabled: Some(true),
    }
}

#[test]
#[ignore = "extra tier: needs ../shared/specs and Prism"]
fn tag_and_manifest_listings_parse_the_official_examples() {
    let prism = Prism::start();
    let registry = prism.registry();
    assert!(registry.is_acr());
    block_on(async {
        let tags = acr::list_tags(&registry, "nanoserver").await.unwrap();
        let got: Vec<(&str, String)> = tags
            .iter()
            .map(|t| (t.name.as_str(), t.digest.to_string()))
            .collect();
        assert_eq!(
            got,
            [
                (
                    "4.7.2-20180905-nanoserver-1803",
                    NANOSERVER_1803_0905.to_string()
                ),
                (
                    "4.7.2-20180906-nanoserver-1803",
                    NANOSERVER_1803_0906.to_string()
                ),
            ]
        );
        assert!(tags.iter().all(|t| t.attributes == all_enabled()));

        let manifests = acr::list_manifests(&registry, "nanoserver").await.unwrap();
        assert_eq!(manifests.len(), 2);
        assert_eq!(manifests[0].digest, digest(NANOSERVER_1803_0905));
        assert_eq!(manifests[0].tags, ["4.7.2-20180905-nanoserver-1803"]);
        assert_eq!(manifests[1].digest, digest(NANOSERVER_1803_0906));
        assert_eq!(manifests[1].attributes, all_enabled());

        // A name with a slash is one path segment (`%2F`); Prism answers 404 otherwise.
        assert_eq!(
            acr::list_tags(&registry, "library/hello-world")
                .await
                .unwrap()
                .len(),
            2
        );

        // Through the Source trait, as the copy engine asks.
        let source: &dyn Source = &registry;
        let digests = source
            .tag_digests("team/nanoserver")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(digests[1].1, digest(NANOSERVER_1803_0906));
        let all = source
            .all_manifests("team/nanoserver")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            all,
            [digest(NANOSERVER_1803_0905), digest(NANOSERVER_1803_0906)]
        );
    });
    prism.assert_no_violations();
}

#[test]
#[ignore = "extra tier: needs ../shared/specs and Prism"]
fn attributes_are_read_and_patched() {
    let prism = Prism::start();
    let registry = prism.registry();
    block_on(async {
        let repo = acr::repository(&registry, "nanoserver")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(repo.name, "nanoserver");
        assert_eq!((repo.manifest_count, repo.tag_count), (2, 2));
        assert_eq!(repo.attributes, all_enabled());

        // The GetTagAttributes example: a write-locked tag of `test/bash`.
        let tag = acr::tag(&registry, "test/bash", "tagName")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(tag.name, "tagName");
        assert_eq!(
            tag.digest,
            digest("sha256:eabe547f78d4c18c708dd97ec3166cf7464cc651f1cbb67e70d407405b7ad7b6")
        );
        assert!(tag.attributes.write_locked());
        assert_eq!(tag.attributes.delete_enabled, Some(true));

        let manifest = acr::manifest(&registry, "nanoserver", &digest(NANOSERVER_1803_0905))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(manifest.digest, digest(NANOSERVER_1803_0905));
        assert_eq!(manifest.tags, ["4.7.2-20180905-nanoserver-1803"]);
        assert_eq!(manifest.attributes, all_enabled());

        // PATCH of each kind: the body is the changeable attributes; the answers are the
        // Update*Attributes examples (writeEnabled=false).
        for item in [
            Item::Repository,
            Item::Tag("4.7.2-20180905-nanoserver-1803".into()),
            Item::Manifest(NANOSERVER_1803_0905.into()),
        ] {
            let after = acr::patch(
                &registry,
                &Patch {
                    repository: "team/nanoserver".into(),
                    item: item.clone(),
                    attributes: Attributes {
                        write_enabled: Some(false),
                        delete_enabled: Some(true),
                        ..Default::default()
                    },
                },
            )
            .await
            .unwrap_or_else(|e| panic!("PATCH {item:?}: {e}"));
            assert!(after.write_locked(), "{item:?}: {after}");
            assert_eq!(after.read_enabled, Some(true));
        }
    });
    prism.assert_no_violations();
}

#[test]
#[ignore = "extra tier: needs ../shared/specs and Prism"]
fn the_lock_steps_of_a_copy_send_only_valid_requests() {
    let source = Prism::start();
    let target = Prism::start();
    let (s, t) = (source.registry(), target.registry());
    let matcher = Matcher::new(Selection::default()).unwrap();
    let pairs = [RepoPair {
        source: "nanoserver".into(),
        target: "mirror/nanoserver".into(),
        name: "nanoserver".into(),
    }];
    block_on(async {
        let state = acr::read_state(&s, "nanoserver").await.unwrap();
        assert_eq!(state.repository, Some(all_enabled()));
        assert_eq!(state.tags.len(), 2);
        assert_eq!(state.manifests.len(), 2);

        // Both sides answer the same examples: nothing to unlock, nothing to lock.
        let sync = LockSync::prepare(&s, &t, &pairs, &matcher, true, 4, false).await;
        assert!(sync.failed.is_empty(), "{:?}", sync.failed);
        assert!(sync.unlocked.is_empty());
        let report = sync.finish(&t, 4).await;
        assert!(report.failed.is_empty(), "{:?}", report.failed);
        assert!(report.applied.is_empty(), "{:?}", report.applied);

        let differences = acr::compare_registries(&s, &t, &pairs, &matcher, true, 4).await;
        assert!(differences.is_empty(), "{differences:?}");
    });
    source.assert_no_violations();
    target.assert_no_violations();
}
