//! What a source holds that no copy can bring, said the same way by `copy`, `verify` and
//! `inventory`: Docker schema 1 manifests, indexes whose child the source lacks, and
//! non-distributable layers the source does not hold; and what a copy overwrites.

use acr_relocate::digest::Digest;

use crate::util::*;

const SCHEMA1_SIGNED: &str = "application/vnd.docker.distribution.manifest.v1+prettyjws";

/// A sample layout with `s1/img:old`, a Docker schema 1 manifest, beside the sample's images.
fn layout_with_a_schema1_tag() -> (tempfile::TempDir, Digest) {
    let (dir, _) = sample_layout(1, 41);
    let s1 = br#"{"schemaVersion":1,"name":"s1/img","tag":"old","architecture":"amd64","fsLayers":[],"history":[],"signatures":[]}"#;
    let digest = add_layout_manifest(
        &dir.path().join("sample"),
        "s1/img",
        Some("old"),
        SCHEMA1_SIGNED,
        s1,
    );
    (dir, digest)
}

#[test]
fn a_schema1_tag_is_unsupported_alike_in_copy_verify_and_inventory() {
    let (dir, s1_digest) = layout_with_a_schema1_tag();
    let source = oci(dir.path());
    let dst = Registry::start();

    // copy: skipped, with what to do; the rest arrives and the run succeeds.
    let out = run(&["copy", &source, &dst.url()]);
    assert_success(&out);
    let text = stdout(&out);
    assert!(
        text.contains("skipped s1/img:old: Docker schema 1 manifest, which is not copied")
            && text.contains(
                "push it again with a current client, or leave it out with --exclude-tag/--exclude-repo"
            ),
        "{text}"
    );
    let summary = json(&run(&["copy", "-q", "--json", &source, &dst.url()]));
    assert!(
        summary["skipped"].to_string().contains("s1/img:old"),
        "{summary}"
    );

    // verify: its own category with the same reason, and no pass (deleting the source would
    // lose it).
    let out = run(&["verify", &source, &dst.url()]);
    assert_exit_code(&out, 1);
    let text = stdout(&out);
    assert!(
        text.contains("unsupported s1/img:old: Docker schema 1 manifest, which is not copied"),
        "{text}"
    );
    assert!(!text.contains("missing s1/img:old"), "{text}");
    assert!(text.contains("1 unsupported"), "{text}");
    let report = json(&run(&["verify", "--deep", "--json", &source, &dst.url()]));
    assert_eq!(report["unsupported"][0]["item"], "s1/img:old", "{report}");
    // A target that holds the same schema 1 manifest (copied by other means): the tag matches,
    // yet the deep check cannot read below it: unsupported, not a broken graph.
    let held = tempfile::tempdir().unwrap();
    let copied = std::process::Command::new("cp")
        .arg("-r")
        .arg(dir.path().join("sample"))
        .arg(held.path())
        .status()
        .unwrap();
    assert!(copied.success());
    let report = json(&run(&[
        "verify",
        "--deep",
        "--json",
        &source,
        &oci(held.path()),
    ]));
    assert_eq!(report["broken"], serde_json::json!([]), "{report}");
    assert!(
        report["unsupported"][0]["reason"]
            .as_str()
            .unwrap()
            .starts_with("the deep check cannot read below it: Docker schema 1 manifest"),
        "{report}"
    );
    let markdown = stdout(&run(&["verify", "--markdown", &source, &dst.url()]));
    assert!(
        markdown.contains("| unsupported | broken in the source |")
            && markdown.contains("## Unsupported (not copied)"),
        "{markdown}"
    );
    assert_eq!(report["missing"], serde_json::json!([]), "{report}");

    // inventory: listed with kind `schema1`, counted apart, not a failure.
    let out = run(&["inventory", "--json", &source]);
    assert_success(&out);
    let inv = json(&out);
    assert_eq!(inv["failed"], serde_json::json!([]), "{inv}");
    assert_eq!(inv["totals"]["schema1_tags"], 1, "{inv}");
    let repo = inv["repositories"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "s1/img")
        .unwrap();
    assert_eq!(repo["tags"][0]["kind"], "schema1", "{repo}");
    assert_eq!(repo["tags"][0]["digest"], s1_digest.as_str(), "{repo}");
    assert_eq!(repo["untagged"], serde_json::json!([]), "{repo}");
    let table = run(&["inventory", &source]);
    assert_success(&table);
    assert!(
        stdout(&table).contains("1 Docker schema 1: listed, not copied"),
        "{}",
        stdout(&table)
    );
}

/// The first tag of the registry whose manifest is a multi-platform index (not a referrers
/// fallback tag), with the digest of its first child.
fn an_index_tag(
    registry: &Registry,
    expected: &acr_relocate::sample::Expected,
) -> (String, String, Digest) {
    let store = open(&registry.url());
    for (repo, tags) in &expected.tags {
        for tag in tags.keys().filter(|t| !t.starts_with("sha256-")) {
            let manifest = block_on(store.manifest(repo, tag)).unwrap();
            if let Some(child) = manifest.view().unwrap().children().first() {
                return (repo.clone(), tag.clone(), child.digest.clone());
            }
        }
    }
    panic!("the sample has an index")
}

#[test]
fn an_index_whose_child_the_source_lacks_is_named_as_the_source_s_gap() {
    let (src, expected) = sample_registry(3);
    let (repo, tag, child) = an_index_tag(&src, &expected);
    delete(src.port, &format!("/v2/{repo}/manifests/{child}"));
    let dst = Registry::start();

    let out = run(&["copy", "-q", &src.url(), &dst.url()]);
    assert_exit_code(&out, 1);
    let text = stdout(&out);
    let said = format!(
        "child {child} of the index {repo}:{tag} is missing in the SOURCE (the source is incomplete): copying it again will not help"
    );
    assert!(text.contains(&said), "{text}");
    assert!(!text.contains("HTTP 404"), "{text}");
    assert!(!text.contains("run the same command again"), "{text}");
    let summary = json(&run(&["copy", "-q", "--json", &src.url(), &dst.url()]));
    assert_eq!(summary["failed"], serde_json::json!([]), "{summary}");
    assert!(
        summary["source_incomplete"]
            .to_string()
            .contains(&format!("{repo}:{tag}")),
        "{summary}"
    );

    let out = run(&["verify", &src.url(), &dst.url()]);
    assert_exit_code(&out, 1);
    let text = stdout(&out);
    assert!(
        text.contains(&format!("broken in the source {repo}:{tag}: child {child}")),
        "{text}"
    );
    assert!(!text.contains(&format!("missing {repo}:{tag}")), "{text}");
}

/// A layer the source lost (its manifest still names it) is the source's gap too: named as such,
/// not as a 404 a re-run would fix.
#[test]
fn a_layer_the_source_lacks_is_named_as_the_source_s_gap() {
    let (src, expected) = sample_registry(1);
    let (repo, layer) = an_image_layer(&open(&src.url()), &expected);
    delete(src.port, &format!("/v2/{repo}/blobs/{layer}"));
    let dst = Registry::start();

    let out = run(&["copy", "-q", "--repo", &repo, &src.url(), &dst.url()]);
    assert_exit_code(&out, 1);
    let text = stdout(&out);
    assert!(text.contains(&format!("blob {layer} of {repo}:")), "{text}");
    assert!(
        text.contains(
            "is missing in the SOURCE (the source is incomplete): copying it again will not help"
        ),
        "{text}"
    );
    assert!(!text.contains("run the same command again"), "{text}");

    // A deep verify asks the source for the blobs of a tag the target lacks: the same gap, not
    // a missing tag that a copy (or apply's next run) would bring.
    let out = run(&["verify", "--deep", "--repo", &repo, &src.url(), &dst.url()]);
    assert_exit_code(&out, 1);
    let text = stdout(&out);
    assert!(
        text.contains(&format!("broken in the source {repo}:"))
            && text.contains(&format!("blob {layer} of")),
        "{text}"
    );
}

#[test]
fn a_dry_run_counts_the_manifests_and_the_tags_a_copy_overwrites() {
    let (src, _) = sample_registry(3);
    let dst = Registry::start();
    // Into an empty target, the dry run counts the manifests the real run pushes.
    let dry = json(&run(&[
        "copy",
        "-q",
        "--dry-run",
        "--json",
        &src.url(),
        &dst.url(),
    ]));
    let real = json(&run(&["copy", "-q", "--json", &src.url(), &dst.url()]));
    let pushed = real["manifests_pushed"].as_u64().unwrap();
    assert!(pushed > 0, "{real}");
    assert_eq!(dry["manifests_would_push"], pushed, "{dry}");
    assert_eq!(dry["manifests_pushed"], 0, "{dry}");
    assert_eq!(real["overwritten"], serde_json::json!([]), "{real}");

    // A target tag moved to another manifest: the dry run lists it, the copy overwrites it and
    // says so.
    let source_digest = open(&src.url());
    let source_digest = block_on(source_digest.manifest_digest("svc2", "v1.0.0"))
        .unwrap()
        .unwrap();
    let moved = retag(dst.port, "svc2", "v1.1.0", "v1.0.0");
    let out = run(&["copy", "--dry-run", &src.url(), &dst.url()]);
    assert_success(&out);
    let text = stdout(&out);
    assert!(
        text.contains(&format!(
            "would overwrite svc2:v1.0.0: the target has {moved}, the source {source_digest}"
        )),
        "{text}"
    );
    assert!(
        text.contains("1 manifest would push")
            || text.contains("manifests would push") && !text.contains(" 0 manifests would push"),
        "{text}"
    );
    let out = run(&["copy", &src.url(), &dst.url()]);
    assert_success(&out);
    let text = stdout(&out);
    assert!(
        text.contains(&format!(
            "overwrote svc2:v1.0.0: the target had {moved}, the source {source_digest}"
        )) && text.contains("1 of them overwriting a tag with another digest"),
        "{text}"
    );
    let store = open(&dst.url());
    assert_eq!(
        block_on(store.manifest_digest("svc2", "v1.0.0")).unwrap(),
        Some(source_digest.clone())
    );
    // `copy --help` says so, and how to see them first.
    let help = stdout(&run(&["copy", "--help"]));
    assert!(
        help.contains("holds another digest is overwritten") && help.contains("--dry-run"),
        "{help}"
    );
    // --json names it too.
    retag(dst.port, "svc2", "v1.1.0", "v1.0.0");
    let summary = json(&run(&["copy", "-q", "--json", &src.url(), &dst.url()]));
    assert_eq!(
        summary["overwritten"],
        serde_json::json!([{"item": "svc2:v1.0.0", "target_had": moved, "source": source_digest.as_str()}]),
        "{summary}"
    );
}

#[test]
fn non_distributable_layers_the_source_lacks_are_left_to_their_urls() {
    let (dir, _) = sample_layout(1, 43);
    let root = dir.path().join("sample");
    let config =
        br#"{"architecture":"amd64","os":"windows","rootfs":{"type":"layers","diff_ids":[]}}"#;
    let config_digest = write_layout_blob(&root, config);
    // The base layer's bytes are not in the source: it is fetched from its URL by a pull.
    let base_digest = Digest::of(b"windows base layer bytes, held by mcr only");
    // Docker's foreign layer (a pull fetches its bytes from the URL).
    let docker_manifest = "application/vnd.docker.distribution.manifest.v2+json";
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": docker_manifest,
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "digest": config_digest.as_str(), "size": config.len()},
        "layers": [{
            "mediaType": "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
            "digest": base_digest.as_str(), "size": 42,
            "urls": [format!("https://mcr.microsoft.com/v2/windows/servercore/blobs/{base_digest}")],
        }],
    }))
    .unwrap();
    add_layout_manifest(
        &root,
        "win/app",
        Some("ltsc2022"),
        docker_manifest,
        &manifest,
    );
    let source = oci(dir.path());
    // Into a layout, which takes a manifest whatever it references (Distribution 2.8 refuses a
    // foreign layer's URL unless configured to allow it).
    let out_dir = tempfile::tempdir().unwrap();
    let target = format!("oci:{}", out_dir.path().join("copy").display());

    let out = run(&["copy", "-v", "--include-nondistributable", &source, &target]);
    assert_success(&out);
    assert!(
        stdout(&out).contains(
            "1 non-distributable layers the source does not hold were left to their URLs"
        ),
        "{}",
        stdout(&out)
    );
    assert!(
        stderr(&out).contains(&format!(
            "left the non-distributable layer {base_digest} of win/app to its URLs"
        )),
        "{}",
        stderr(&out)
    );
    let store = open(&target);
    assert!(block_on(store.manifest_digest("win/app", "ltsc2022"))
        .unwrap()
        .is_some());

    let out = run(&[
        "verify",
        "--deep",
        "--include-nondistributable",
        "--json",
        &source,
        &target,
    ]);
    assert_success(&out);
    assert_eq!(json(&out)["nondistributable_left_to_urls"], 1);
}

#[test]
fn a_referrer_the_source_lacks_is_named_as_the_source_s_gap() {
    let (src, expected) = sample_registry(2);
    let (repo, subject, referrer) = expected.referrers[0].clone();
    delete(src.port, &format!("/v2/{repo}/manifests/{referrer}"));
    let dst = Registry::start();

    let out = run(&["copy", "-q", "--json", &src.url(), &dst.url()]);
    assert_exit_code(&out, 1);
    let summary = json(&out);
    assert_eq!(summary["failed"], serde_json::json!([]), "{summary}");
    let incomplete = summary["source_incomplete"].to_string();
    assert!(
        incomplete.contains(&format!("referrer {referrer} of {subject}"))
            && incomplete.contains("missing in the SOURCE"),
        "{summary}"
    );

    let out = run(&["verify", &src.url(), &dst.url()]);
    assert_exit_code(&out, 1);
    let text = stdout(&out);
    assert!(
        text.contains("broken in the source")
            && text.contains(&format!("referrer {referrer} of {subject}")),
        "{text}"
    );
    assert!(!text.contains("tag missing in the target"), "{text}");
}

/// A layer damaged in the source's storage (same size, other bytes) hashes the same wrong way on
/// a second read: that is the source's content, not the way's. It is listed with the source's
/// gaps (copying again will not help), read twice rather than over and over, and the rest of the
/// source arrives.
#[test]
fn a_layer_damaged_in_the_source_is_read_twice_and_named_as_the_sources() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use crate::support::http::Server;
    use crate::support::mount_proxy::forward_as_sent;

    let (src, expected) = sample_registry(3);
    let (repo, layer) = an_image_layer(&open(&src.url()), &expected);
    flip_a_byte(&src.blob_data(&layer));
    let reads = Arc::new(AtomicUsize::new(0));
    let (counted, port, wanted) = (reads.clone(), src.port, format!("/blobs/{layer}"));
    let proxy = Server::start_raw(move |request| {
        if request.method == "GET" && request.path.ends_with(&wanted) {
            counted.fetch_add(1, Ordering::SeqCst);
        }
        forward_as_sent(port, request)
    });
    let dst = Registry::start();
    let out = run(&["copy", "--json", &proxy.url(), &dst.url()]);
    assert_exit_code(&out, 1);
    let summary = json(&out);
    let incomplete = summary["source_incomplete"].to_string();
    assert!(
        incomplete.contains(&format!("blob {layer} of {repo}"))
            && incomplete.contains("is wrong in the SOURCE (its bytes hash to sha256:")
            && incomplete.contains("copying it again will not help"),
        "{summary}"
    );
    assert_eq!(summary["failed"], serde_json::json!([]), "{summary}");
    assert_eq!(reads.load(Ordering::SeqCst), 2, "read twice: {summary}");
    assert!(summary["tags_copied"].as_u64().unwrap() > 0, "{summary}");
}

/// Distribution signs a schema 1 manifest anew on every read, so the bytes it serves hash to a
/// digest that changes each time and names nothing: inventory lists the digest the registry
/// announces, the same on every run.
#[test]
fn a_schema1_tag_of_a_registry_is_listed_with_the_digest_the_registry_announces() {
    let (dir, expected) = sample_layout(3, 5);
    let repo = expected
        .tags
        .iter()
        .find(|(r, tags)| r.starts_with("team/svc") && tags.contains_key("v1.0.0"))
        .map(|(r, _)| r)
        .unwrap();
    let src = Registry::start_configured("compatibility:\n  schema1:\n    enabled: true\n");
    let from = format!("oci:{}:{repo}:v1.0.0", dir.path().join("sample").display());
    let to = format!("docker://127.0.0.1:{}/s1/base:old", src.port);
    let out = std::process::Command::new("skopeo")
        .args([
            "copy",
            "--dest-tls-verify=false",
            "--format",
            "v2s1",
            &from,
            &to,
        ])
        .output()
        .expect("skopeo installed (apt-get install -y skopeo)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listed = || {
        let inv = json(&run(&["inventory", "--json", &src.url()]));
        inv["repositories"][0]["tags"][0]["digest"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let first = listed();
    assert_eq!(first, listed(), "the same digest on every run");
    let announced = block_on(open(&src.url()).manifest_digest("s1/base", "old"))
        .unwrap()
        .unwrap();
    assert_eq!(first, announced.to_string());
}
