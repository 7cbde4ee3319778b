//! Several registries consolidated into one: each source is copied, verified and deleted on its
//! own, into one target. What one source brought is "extra" to the other's verify (not a gap),
//! a name both sources hold with other content is overwritten by the later copy and listed (or
//! kept with `--no-overwrite`, which then fails), and a target prefix or `--map` keeps the two
//! apart.

use acr_relocate::digest::Digest;

use crate::support::oci_push::push_image_as;
use crate::util::*;

/// The digest `repository:tag` has in the registry `url`, if any.
fn digest_at(url: &str, repository: &str, tag: &str) -> Option<Digest> {
    block_on(open(url).manifest_digest(repository, tag)).unwrap()
}

/// A registry holding `images` (repository, tag), each with a layer of its own made of `team`'s
/// name and the image's; returns it and the digests pushed.
fn registry_of(team: &str, images: &[(&str, &str)]) -> (Registry, Vec<Digest>) {
    let registry = Registry::start();
    let digests = images
        .iter()
        .map(|(repository, tag)| {
            let layer = format!("{team}'s {repository}:{tag}");
            push_image_as(registry.port, repository, tag, "amd64", layer.as_bytes()).0
        })
        .collect();
    (registry, digests)
}

/// Deletes `source`'s content once a fresh verify against `target` passes.
fn delete_source(source: &str, target: &str) -> std::process::Output {
    run(&[
        "delete-source",
        source,
        "--verified-against",
        target,
        "--confirm",
        source,
    ])
}

#[test]
fn two_registries_consolidated_into_one_each_verify_and_delete_on_their_own() {
    let (east, east_digests) = registry_of("east", &[("web", "v1"), ("shared/base", "1.0")]);
    let (west, west_digests) = registry_of("west", &[("api", "v2"), ("batch", "v3")]);
    let hub = Registry::start();
    assert_success(&run(&["copy", "-q", &east.url(), &hub.url()]));
    assert_success(&run(&["copy", "-q", &west.url(), &hub.url()]));

    // Each verify passes: the other source's repositories are extra in the target, not gaps.
    let out = run(&["verify", &east.url(), &hub.url()]);
    assert_success(&out);
    assert!(stdout(&out).contains("extra api"), "{}", stdout(&out));
    assert_success(&run(&["verify", "--deep", &west.url(), &hub.url()]));

    // Deleting one source leaves the target, and the other source, as they were.
    assert_success(&delete_source(&east.url(), &hub.url()));
    assert_eq!(digest_at(&east.url(), "web", "v1"), None);
    assert_eq!(
        digest_at(&west.url(), "api", "v2").as_ref(),
        Some(&west_digests[0])
    );
    for (repository, tag, digest) in [
        ("web", "v1", &east_digests[0]),
        ("shared/base", "1.0", &east_digests[1]),
        ("api", "v2", &west_digests[0]),
        ("batch", "v3", &west_digests[1]),
    ] {
        assert_eq!(
            digest_at(&hub.url(), repository, tag).as_ref(),
            Some(digest)
        );
    }
    assert_success(&delete_source(&west.url(), &hub.url()));
    assert_eq!(
        digest_at(&hub.url(), "batch", "v3").as_ref(),
        Some(&west_digests[1])
    );
}

#[test]
fn a_name_both_sources_hold_is_overwritten_and_listed_or_kept_apart_by_a_prefix_or_a_map() {
    let (east, east_digests) = registry_of("east", &[("web", "v1")]);
    let (west, west_digests) = registry_of("west", &[("web", "v1")]);

    // Into one namespace, the later copy overwrites the tag and says so; the earlier source's
    // verify then fails on it, so its deletion is refused.
    let hub = Registry::start();
    assert_success(&run(&["copy", "-q", &east.url(), &hub.url()]));
    let out = run(&["copy", "--json", &west.url(), &hub.url()]);
    assert_success(&out);
    let overwritten = &json(&out)["overwritten"];
    assert_eq!(overwritten[0]["item"], "web:v1", "{overwritten}");
    assert_eq!(
        digest_at(&hub.url(), "web", "v1").as_ref(),
        Some(&west_digests[0])
    );
    assert_exit_code(&run(&["verify", &east.url(), &hub.url()]), 1);
    assert_ne!(
        delete_source(&east.url(), &hub.url()).status.code(),
        Some(0)
    );
    assert_eq!(
        digest_at(&east.url(), "web", "v1").as_ref(),
        Some(&east_digests[0])
    );

    // --no-overwrite keeps what the first source brought and fails on the clash.
    let kept = Registry::start();
    assert_success(&run(&["copy", "-q", &east.url(), &kept.url()]));
    let out = run(&["copy", "-q", "--no-overwrite", &west.url(), &kept.url()]);
    assert_ne!(out.status.code(), Some(0), "{}", stdout(&out));
    assert_eq!(
        digest_at(&kept.url(), "web", "v1").as_ref(),
        Some(&east_digests[0])
    );

    // A prefix for one source and a rename for the other keep both, and both verify.
    let apart = Registry::start();
    let west_prefix = format!("{}/west", apart.url());
    assert_success(&run(&["copy", "-q", &west.url(), &west_prefix]));
    let east_map = ["--map", "web=east/web"];
    let mut copy = vec!["copy", "-q"];
    copy.extend(east_map);
    let (source, target) = (east.url(), apart.url());
    copy.extend([source.as_str(), target.as_str()]);
    assert_success(&run(&copy));
    assert_eq!(
        digest_at(&apart.url(), "west/web", "v1").as_ref(),
        Some(&west_digests[0])
    );
    assert_eq!(
        digest_at(&apart.url(), "east/web", "v1").as_ref(),
        Some(&east_digests[0])
    );
    assert_success(&run(&["verify", "--deep", &west.url(), &west_prefix]));
    let mut verify = vec!["verify", "--deep"];
    verify.extend(east_map);
    verify.extend([source.as_str(), target.as_str()]);
    assert_success(&run(&verify));
}
