//! `inventory`: what a source holds.

use crate::util::*;

#[test]
fn inventory_totals_match_what_was_written() {
    let (src, expected) = sample_registry(10);
    let out = run(&["inventory", "--json", &src.url()]);
    assert_success(&out);
    let inv = json(&out);
    assert_eq!(inv["schema_version"], 1);
    assert_eq!(inv["totals"]["repositories"], expected.tags.len() as u64);
    assert_eq!(inv["totals"]["tags"], expected.tag_count() as u64);
    // Every blob, the SBOM referrer's too: it is listed under its subject's fallback tag.
    assert_eq!(
        inv["totals"]["unique_blobs"].as_u64().unwrap() as usize,
        expected.blobs.len()
    );
    // ... and counted as a referrer of its subject's tags (Distribution has no referrers API).
    let subject = expected.referrers[0].1.as_str();
    let counted: Vec<u64> = inv["repositories"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r["tags"].as_array().unwrap().iter())
        .filter(|t| t["digest"] == subject)
        .map(|t| t["referrers"].as_u64().unwrap_or(0))
        .collect();
    assert!(
        !counted.is_empty() && counted.iter().all(|&c| c == 1),
        "{counted:?}"
    );
    let kinds: Vec<&str> = inv["repositories"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| {
            r["tags"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["kind"].as_str().unwrap())
        })
        .collect();
    for kind in ["image", "multi-arch-index", "helm-chart", "signature"] {
        assert!(kinds.contains(&kind), "{kind} in {kinds:?}");
    }
    let md = run(&["inventory", "--markdown", &src.url()]);
    assert_success(&md);
    assert!(stdout(&md).starts_with("# Inventory of"));
}

#[test]
fn inventory_of_a_layout_lists_untagged_manifests() {
    let (dir, expected) = sample_layout(5, 6);
    let inv = json(&run(&["inventory", "--json", &oci(dir.path())]));
    assert_eq!(
        inv["totals"]["untagged_manifests"],
        expected.referrers.len() as u64
    );
    let (repo, _, referrer) = &expected.referrers[0];
    let entry = inv["repositories"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == repo.as_str())
        .unwrap();
    assert_eq!(entry["untagged"], serde_json::json!([referrer.to_string()]));
}

/// Over a distant link (100 ms more per request) the inventory's requests at once grow past the
/// four per job it starts with, and `--max-jobs` equal to `--jobs` pins them; the totals are the
/// same either way.
#[test]
fn over_a_slow_link_inventory_requests_at_once_grow_unless_max_jobs_pins_them() {
    use crate::fault_proxy::{FaultProxy, Schedule};
    let (src, expected) = sample_registry(8);
    let proxy = FaultProxy::start(src.port, Schedule::distant());
    let inventory_over_the_link = |extra: &[&str]| {
        let url = proxy.url();
        let mut args = vec!["inventory", "--json", "-j", "1"];
        args.extend_from_slice(extra);
        args.push(url.as_str());
        let out = run(&args);
        assert_success(&out);
        let inv = json(&out);
        assert_eq!(inv["totals"]["tags"], expected.tag_count() as u64);
        inv["peak_requests"]
            .as_u64()
            .expect("peak_requests in the inventory")
    };
    assert_grows_unless_pinned(4, 16, &["--max-jobs", "1"], inventory_over_the_link);
}

/// Distribution configured with `catalog: maxentries` below the page size asked refuses the
/// listing (`400 PAGINATION_NUMBER_INVALID`): the registry's own page size is read instead, every
/// page through its `Link` headers.
#[test]
fn a_registry_with_smaller_catalog_pages_is_read_in_its_own_page_size() {
    let (dir, expected) = sample_layout(8, 3);
    let registry = Registry::start_configured("catalog:\n  maxentries: 3\n");
    assert_success(&run(&["copy", "-q", &oci(dir.path()), &registry.url()]));
    let out = run(&["inventory", "--json", &registry.url()]);
    assert_success(&out);
    let inventory = json(&out);
    assert_eq!(
        inventory["totals"]["repositories"].as_u64(),
        Some(expected.tags.len() as u64),
        "{inventory}"
    );
}

/// `--tag` is repeatable: a tag any expression matches is taken (as peers take a list of tags);
/// a digest given to it is said not to be a tag.
#[test]
fn tag_expressions_given_several_times_take_what_any_of_them_matches() {
    let (dir, expected) = sample_layout(2, 4);
    let source = oci(dir.path());
    let out = run(&[
        "inventory",
        "--json",
        "--tag",
        "v1.0.0",
        "--tag",
        "latest",
        &source,
    ]);
    assert_success(&out);
    let report = json(&out);
    let mut seen = std::collections::BTreeSet::new();
    for repo in report["repositories"].as_array().unwrap() {
        for tag in repo["tags"].as_array().unwrap() {
            seen.insert(tag["tag"].as_str().unwrap().to_string());
        }
    }
    let wanted: std::collections::BTreeSet<String> = expected
        .tags
        .values()
        .flat_map(|t| t.keys())
        .filter(|t| *t == "v1.0.0" || *t == "latest")
        .cloned()
        .collect();
    assert!(!wanted.is_empty());
    // Tags describing the selected ones by name (signatures) come along; nothing else.
    assert!(
        seen.iter()
            .all(|t| wanted.contains(t) || t.starts_with("sha256-")),
        "{seen:?}"
    );
    assert!(wanted.iter().all(|t| seen.contains(t)), "{seen:?}");

    let digest = expected
        .tags
        .values()
        .next()
        .unwrap()
        .values()
        .next()
        .unwrap();
    let out = run(&["inventory", "--tag", &digest.to_string(), &source]);
    assert_exit_code(&out, 4);
    assert!(
        stderr(&out).contains("--tag takes tags, not digests"),
        "{}",
        stderr(&out)
    );
}

/// The review's `r5_inventory.sh`, against a real registry: a tag serves the platforms of the
/// indexes its index nests; buildx attestation manifests are attestations, not platforms; a
/// Windows image's foreign base layer (a descriptor with `urls`, which a copy leaves to its URL)
/// is counted in `nondistributable_size`, not in `size`, the bytes a copy moves.
#[test]
fn inventory_platforms_recurse_attestations_are_apart_and_foreign_layers_are_sized_apart() {
    use crate::lenient::{push_blob, push_manifest, OCI_INDEX, OCI_MANIFEST};
    // Foreign layers are accepted where their URLs are allowed (without it, Distribution asks for
    // the blob).
    let src = Registry::start_configured(
        "validation:\n  manifests:\n    urls:\n      allow:\n        - ^https?://\n",
    );
    let port = src.port;
    // An image of `arch` in `repository`; returns its descriptor's fields.
    let image = |repository: &str, arch: &str, os: &str| {
        let config = push_blob(
            port,
            repository,
            format!(r#"{{"architecture":"{arch}","os":"{os}","rootfs":{{"type":"layers","diff_ids":[]}}}}"#)
                .as_bytes(),
        );
        let layer = push_blob(port, repository, format!("{arch} layer").as_bytes());
        let doc = format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{{"mediaType":"application/vnd.oci.image.config.v1+json",{config}}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip",{layer}}}]}}"#
        );
        let digest = push_manifest(port, repository, None, OCI_MANIFEST, &doc);
        format!(
            r#""mediaType":"{OCI_MANIFEST}","digest":"{digest}","size":{}"#,
            doc.len()
        )
    };
    let platform =
        |os: &str, arch: &str| format!(r#""platform":{{"os":"{os}","architecture":"{arch}"}}"#);
    let index_of = |entries: &[String]| {
        format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":[{}]}}"#,
            entries.join(",")
        )
    };

    // nested:v1 = [index [amd64, s390x], ppc64le]
    let inner = index_of(&[
        format!(
            "{{{},{}}}",
            image("nested", "amd64", "linux"),
            platform("linux", "amd64")
        ),
        format!(
            "{{{},{}}}",
            image("nested", "s390x", "linux"),
            platform("linux", "s390x")
        ),
    ]);
    let inner_digest = push_manifest(port, "nested", None, OCI_INDEX, &inner);
    push_manifest(
        port,
        "nested",
        Some("v1"),
        OCI_INDEX,
        &index_of(&[
            format!(
                r#"{{"mediaType":"{OCI_INDEX}","digest":"{inner_digest}","size":{}}}"#,
                inner.len()
            ),
            format!(
                "{{{},{}}}",
                image("nested", "ppc64le", "linux"),
                platform("linux", "ppc64le")
            ),
        ]),
    );

    // buildx:v1 = [amd64, its attestation manifest]
    let amd64 = image("buildx", "amd64", "linux");
    let amd64_digest = digest_in(&amd64);
    push_manifest(
        port,
        "buildx",
        Some("v1"),
        OCI_INDEX,
        &index_of(&[
            format!("{{{amd64},{}}}", platform("linux", "amd64")),
            format!(
                r#"{{{},{},"annotations":{{"vnd.docker.reference.digest":"{amd64_digest}","vnd.docker.reference.type":"attestation-manifest"}}}}"#,
                image("buildx", "unknown", "unknown"),
                platform("unknown", "unknown")
            ),
        ]),
    );

    // win:ltsc2022: a 1,234,567-byte foreign base layer and a 17-byte application layer.
    let config = push_blob(
        port,
        "win",
        br#"{"architecture":"amd64","os":"windows","rootfs":{"type":"layers","diff_ids":[]}}"#,
    );
    let app = push_blob(port, "win", b"windows-app-layer");
    push_manifest(
        port,
        "win",
        Some("ltsc2022"),
        "application/vnd.docker.distribution.manifest.v2+json",
        &format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{{"mediaType":"application/vnd.docker.container.image.v1+json",{config}}},"layers":[{{"mediaType":"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip","size":1234567,"digest":"sha256:{}","urls":["https://mcr.microsoft.com/x"]}},{{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip",{app}}}]}}"#,
            "ab".repeat(32)
        ),
    );

    let out = run(&["inventory", "--json", &src.url()]);
    assert_success(&out);
    let inventory = json(&out);
    let tag = |repository: &str| {
        inventory["repositories"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == repository)
            .unwrap_or_else(|| panic!("{repository} in {inventory}"))["tags"][0]
            .clone()
    };
    let nested = tag("nested");
    assert_eq!(
        nested["platforms"],
        serde_json::json!(["linux/amd64", "linux/s390x", "linux/ppc64le"]),
        "{nested}"
    );
    let buildx = tag("buildx");
    assert_eq!(
        buildx["platforms"],
        serde_json::json!(["linux/amd64"]),
        "{buildx}"
    );
    assert_eq!(buildx["attestations"], 1, "{buildx}");
    assert!(nested.get("attestations").is_none(), "{nested}");
    let win = tag("win");
    let config_size = size_in(&config);
    assert_eq!(win["size"], config_size + 17, "{win}");
    assert_eq!(win["nondistributable_size"], 1234567, "{win}");
    assert!(nested.get("nondistributable_size").is_none(), "{nested}");
    // The table and the Markdown count the attestations after the platforms.
    let table = stdout(&run(&["inventory", "--repo", "buildx", &src.url()]));
    assert!(table.contains("linux/amd64 +1 attestation "), "{table}");
    let markdown = stdout(&run(&[
        "inventory",
        "--markdown",
        "--repo",
        "buildx",
        &src.url(),
    ]));
    assert!(
        markdown.contains("| linux/amd64 +1 attestation |"),
        "{markdown}"
    );
    // The table and the Markdown show the foreign bytes beside the size, and say what they are.
    let size = format!("{} B + 1.2 MB foreign", config_size + 17);
    for args in [vec!["inventory"], vec!["inventory", "--markdown"]] {
        let url = src.url();
        let mut args = args;
        args.extend(["--repo", "win", url.as_str()]);
        let shown = stdout(&run(&args));
        assert!(
            shown.contains(&size) && shown.contains("foreign: non-distributable layers"),
            "{shown}"
        );
    }
}

/// The `size` of a descriptor's `…,"digest":"…","size":N` fields.
fn size_in(fields: &str) -> u64 {
    fields.rsplit(':').next().unwrap().parse().unwrap()
}

/// The `digest` of a descriptor's `…,"digest":"…","size":N` fields.
fn digest_in(fields: &str) -> String {
    let after = fields.split(r#""digest":""#).nth(1).unwrap();
    after.split('"').next().unwrap().to_string()
}

/// The same manifest in two repositories (a mirror beside the original) shares all its blobs:
/// no tag has bytes of its own, though each repository has one manifest using them.
#[test]
fn a_manifest_held_by_two_repositories_has_no_unique_bytes() {
    let (src, _) = sample_registry(2);
    let dst = Registry::start();
    assert_success(&run(&["copy", "-q", &src.url(), &dst.url()]));
    assert_success(&run(&[
        "copy",
        "-q",
        &src.url(),
        &format!("{}/mirror", dst.url()),
    ]));
    let inv = json(&run(&["inventory", "--json", &dst.url()]));
    let unique: Vec<u64> = inv["repositories"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r["tags"].as_array().unwrap().iter())
        .map(|t| t["unique_size"].as_u64().unwrap())
        .collect();
    assert!(
        !unique.is_empty() && unique.iter().all(|&u| u == 0),
        "{unique:?}"
    );
}

/// The tags of an inventory's JSON, as (repository, tag entry).
fn tag_rows(inv: &serde_json::Value) -> Vec<(String, serde_json::Value)> {
    inv["repositories"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| {
            let name = r["name"].as_str().unwrap().to_string();
            r["tags"]
                .as_array()
                .unwrap()
                .iter()
                .map(move |t| (name.clone(), t.clone()))
        })
        .collect()
}

/// An untagged manifest a layout lists (as ACR lists them) is moved by a copy: its blobs are in
/// the totals as the copy counts them (those only it uses in `untagged_bytes`, said in the
/// table), and a tag's blobs it uses too are no longer that tag's unique bytes.
#[test]
fn untagged_manifests_count_in_the_totals_as_a_copy_moves_them_and_share_the_tags_blobs() {
    let (dir, _) = sample_layout(2, 3);
    let root = dir.path().join("sample");
    let src = oci(dir.path());
    let before = json(&run(&["inventory", "--json", &src]));
    let (repo, row) = tag_rows(&before)
        .into_iter()
        .find(|(_, t)| t["kind"] == "image" && t["unique_size"].as_u64() > Some(0))
        .expect("an image with bytes of its own");
    let digest: acr_relocate::digest::Digest = row["digest"].as_str().unwrap().parse().unwrap();
    let mut doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout_blob(&root, &digest)).unwrap()).unwrap();
    // The same image with one layer more, listed without a tag.
    let extra = b"a layer only the untagged manifest has";
    let layer = write_layout_blob(&root, extra);
    doc["layers"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({
            "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
            "digest": layer.as_str(),
            "size": extra.len(),
        }));
    let media_type = doc["mediaType"].as_str().unwrap().to_string();
    add_layout_manifest(
        &root,
        &repo,
        None,
        &media_type,
        &serde_json::to_vec(&doc).unwrap(),
    );

    let after = json(&run(&["inventory", "--json", &src]));
    let totals = &after["totals"];
    assert_eq!(
        totals["untagged_bytes"].as_u64().unwrap(),
        before["totals"]["untagged_bytes"].as_u64().unwrap() + extra.len() as u64,
        "{totals}"
    );
    assert_eq!(
        totals["unique_bytes"].as_u64().unwrap(),
        before["totals"]["unique_bytes"].as_u64().unwrap() + extra.len() as u64,
        "{totals}"
    );
    let (_, tag) = tag_rows(&after)
        .into_iter()
        .find(|(r, t)| *r == repo && t["tag"] == row["tag"])
        .unwrap();
    assert_eq!(tag["unique_size"], 0, "{tag}");
    // What a copy moves is what the inventory counts.
    let out_dir = tempfile::tempdir().unwrap();
    let copy = json(&run(&["copy", "--json", &src, &oci(out_dir.path())]));
    assert_eq!(copy["blobs_copied"], totals["unique_blobs"], "{copy}");
    assert_eq!(copy["bytes_copied"], totals["unique_bytes"], "{copy}");
    // A tag `--exclude-tag` leaves out still points at its manifest: not an untagged one.
    let tag_name = row["tag"].as_str().unwrap();
    let excluded = json(&run(&[
        "inventory",
        "--json",
        "--exclude-tag",
        tag_name,
        &src,
    ]));
    assert_eq!(
        excluded["totals"]["untagged_manifests"], totals["untagged_manifests"],
        "{excluded}"
    );
    let text = stdout(&run(&["inventory", &src]));
    let only_untagged = format!(
        "bytes, {} B of them only in untagged manifests)",
        totals["untagged_bytes"]
    );
    assert!(text.contains(&only_untagged), "{text}");
}

/// With a filter, unique and shared bytes compare only what it selected: the JSON says so
/// (`shared_within: selection`), the table and the Markdown say so in words; without a filter
/// they compare the whole registry.
#[test]
fn with_a_filter_unique_and_shared_bytes_are_said_to_be_within_the_selection() {
    let (dir, expected) = sample_layout(3, 4);
    let src = oci(dir.path());
    let whole = json(&run(&["inventory", "--json", &src]));
    assert_eq!(whole["totals"]["shared_within"], "registry");
    let text = stdout(&run(&["inventory", &src]));
    assert!(
        text.contains("shared across repositories;") && !text.contains("selected"),
        "{text}"
    );
    let repo = expected.tags.keys().next().unwrap();
    let one = json(&run(&["inventory", "--json", "--repo", repo, &src]));
    assert_eq!(one["totals"]["shared_within"], "selection");
    let text = stdout(&run(&["inventory", "--repo", repo, &src]));
    assert!(
        text.contains("shared across the selected repositories;")
            && text.contains(
                "UNIQUE and shared bytes compare the selected repositories and tags only"
            ),
        "{text}"
    );
    let markdown = stdout(&run(&["inventory", "--markdown", "--repo", repo, &src]));
    assert!(
        markdown.contains("| shared bytes (within the selection) |")
            && markdown.contains("- unique and shared bytes compare the selected"),
        "{markdown}"
    );
}

/// On a registry that lists no repositories (`_catalog` answers 404), a `--repo` naming no
/// repository is not one of the inventory's: only the names that showed tags are listed and
/// counted.
#[test]
fn a_repo_named_on_a_registry_without_a_catalog_that_does_not_exist_is_not_counted() {
    use crate::support::http::{Response, Server};
    use crate::support::mount_proxy::forward_as_sent;
    let (src, expected) = sample_registry(2);
    let port = src.port;
    let proxy = Server::start_raw(move |request| {
        if request.path.starts_with("/v2/_catalog") {
            return Response::json(
                404,
                &serde_json::json!({"errors": [{"code": "UNSUPPORTED", "message": "no catalog"}]}),
            );
        }
        forward_as_sent(port, request)
    });
    let repo = expected.tags.keys().next().unwrap();
    let out = run(&[
        "inventory",
        "--json",
        "--repo",
        repo,
        "--repo",
        "no/such-repository",
        &proxy.url(),
    ]);
    assert_success(&out);
    let inv = json(&out);
    let names: Vec<&str> = inv["repositories"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, [repo.as_str()], "{inv}");
    assert_eq!(inv["totals"]["repositories"], 1);
    // The hint names no command that cannot list what is there.
    assert!(
        stderr(&out).contains("--repo 'no/such-repository' matched nothing")
            && stderr(&out).contains("SOURCE does not list its repositories")
            && !stderr(&out).contains("`acr-relocate inventory SOURCE` lists what is there"),
        "{}",
        stderr(&out)
    );
}

/// The summary's repository count says how many repositories show no row: with no selected
/// tag (`--tag`), or, without a tag filter, with no tag at all.
#[test]
fn the_repository_count_says_how_many_repositories_show_no_tag() {
    let (dir, _) = sample_layout(4, 5);
    let src = oci(dir.path());
    let inv = json(&run(&["inventory", "--json", "--tag", "latest", &src]));
    let rowless = inv["repositories"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["tags"].as_array().unwrap().is_empty())
        .count();
    assert!(rowless > 0, "{inv}");
    let text = stdout(&run(&["inventory", "--tag", "latest", &src]));
    let said = format!(
        "{} repositories ({rowless} with no selected tag), ",
        inv["totals"]["repositories"]
    );
    assert!(text.contains(&said), "{said} in {text}");
    let markdown = stdout(&run(&["inventory", "--markdown", "--tag", "latest", &src]));
    assert!(
        markdown.contains(&format!(
            "| {} ({rowless} with no selected tag) |",
            inv["totals"]["repositories"]
        )),
        "{markdown}"
    );
    // Every repository shows a tag without the filter: nothing said.
    let text = stdout(&run(&["inventory", &src]));
    assert!(!text.contains(" with no "), "{text}");
}

/// A Docker schema 1 tag in `--markdown`: its advice names the flag that leaves it out
/// (`--exclude-tag`) and counts it in the singular.
#[test]
fn the_markdown_advice_on_a_schema1_tag_names_exclude_tag_in_the_singular() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("lay");
    std::fs::create_dir_all(root.join("blobs/sha256")).unwrap();
    std::fs::write(root.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    std::fs::write(
        root.join("index.json"),
        r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#,
    )
    .unwrap();
    let layer = write_layout_blob(&root, b"layerdata");
    let manifest = format!(
        r#"{{"schemaVersion":1,"name":"old/app","tag":"v0","architecture":"amd64","fsLayers":[{{"blobSum":"{layer}"}}],"history":[{{"v1Compatibility":"{{\"id\": \"{}\"}}"}}]}}"#,
        "a".repeat(64)
    );
    add_layout_manifest(
        &root,
        "old/app",
        Some("v0"),
        "application/vnd.docker.distribution.manifest.v1+json",
        manifest.as_bytes(),
    );
    let out = run(&[
        "inventory",
        "--markdown",
        &format!("oci:{}", root.display()),
    ]);
    assert_success(&out);
    let markdown = stdout(&out);
    assert!(
        markdown.contains("1 tag is Docker schema 1 (kind `schema1`): not copied; push it again with a current client, or leave it out with `--exclude-tag`/`--exclude-repo`."),
        "{markdown}"
    );
}

/// A layout path that does not exist is said not to exist (exit 2), not "not a directory".
#[test]
fn a_missing_layout_path_is_said_not_to_exist() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nowhere");
    let out = run(&["inventory", &format!("oci:{}", missing.display())]);
    assert_exit_code(&out, 2);
    assert!(
        stderr(&out).contains("nowhere: does not exist: give the directory of an OCI image layout"),
        "{}",
        stderr(&out)
    );
}

/// A registry that stops answering during an inventory ends it with exit 3 and a line that says
/// to run it again, not to "resume": an inventory writes nothing.
#[test]
fn a_registry_that_stops_answering_mid_inventory_is_said_to_need_a_new_run_not_a_resume() {
    use crate::support::http::{Response, Server};
    use crate::support::mount_proxy::forward_as_sent;
    let (src, _) = sample_registry(2);
    let port = src.port;
    // The registry answers its ping and catalog, then only a gateway's 502.
    let proxy = Server::start_raw(move |request| {
        if request.path == "/v2/" || request.path.starts_with("/v2/_catalog") {
            return forward_as_sent(port, request);
        }
        Response::new(502, "bad gateway")
    });
    let out = run(&["inventory", "--unreachable-after", "1", &proxy.url()]);
    assert_exit_code(&out, 3);
    let err = stderr(&out);
    assert!(
        err.contains("an inventory writes nothing: run it again once the registry answers")
            && !err.contains("resume"),
        "{err}"
    );
}
