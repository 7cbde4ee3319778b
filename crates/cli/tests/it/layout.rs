//! OCI layouts as source and target: air-gapped moves, skopeo interop, bad layouts.

use std::process::Command;

use crate::util::*;

#[test]
fn registry_to_layout_to_registry_keeps_every_digest() {
    let (src, expected) = sample_registry(12);
    let carry = tempfile::tempdir().unwrap();
    let layout = format!("oci:{}", carry.path().join("export").display());
    assert_success(&run(&["copy", "-q", &src.url(), &layout]));
    // Blobs are stored once for all repositories.
    let blob_files = std::fs::read_dir(carry.path().join("export/blobs/sha256"))
        .unwrap()
        .count();
    assert!(
        blob_files < expected.blobs.len() + 200,
        "{blob_files} files"
    );
    let other = Registry::start();
    assert_success(&run(&["copy", "-q", &layout, &other.url()]));
    assert_holds(&open(&other.url()), &expected.tags, None);
    let out = run(&["verify", "--deep", &src.url(), &other.url()]);
    assert_success(&out);
}

#[test]
fn layout_to_layout_copies_referrers_too() {
    let (dir, expected) = sample_layout(4, 3);
    let out_dir = tempfile::tempdir().unwrap();
    let target = format!("oci:{}", out_dir.path().join("copy").display());
    let out = run(&["copy", "-q", "--json", &oci(dir.path()), &target]);
    assert_success(&out);
    assert_eq!(
        json(&out)["referrers_copied"],
        expected.referrers.len() as u64
    );
    let store = open(&target);
    for (repo, _subject, referrer) in &expected.referrers {
        assert!(block_on(store.manifest_digest(repo, referrer.as_str()))
            .unwrap()
            .is_some());
    }
    assert_holds(&store, &expected.tags, None);
    assert_success(&run(&["verify", "--deep", &oci(dir.path()), &target]));
}

fn skopeo() -> Command {
    Command::new("skopeo")
}

/// `skopeo copy --all` of `repo:tag` from the plain-HTTP registry on `port` to `destination`
/// (skopeo's form: `oci:DIR:REF`, `oci-archive:FILE:REF`), digests kept; asserts it succeeded.
fn skopeo_copy(port: u16, repo: &str, tag: &str, destination: &str) {
    let out = skopeo()
        .args([
            "copy",
            "--src-tls-verify=false",
            "--preserve-digests",
            "--all",
            &format!("docker://127.0.0.1:{port}/{repo}:{tag}"),
            destination,
        ])
        .output()
        .expect("skopeo installed");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn skopeo_reads_an_image_of_our_layout() {
    let (dir, expected) = sample_layout(3, 5);
    let (repo, tags) = expected
        .tags
        .iter()
        .find(|(r, _)| r.starts_with("team/svc"))
        .unwrap();
    let (tag, digest) = tags.iter().next().unwrap();
    let reference = format!("oci:{}:{repo}:{tag}", dir.path().join("sample").display());
    let out = skopeo()
        .args(["inspect", "--raw", &reference])
        .output()
        .expect("skopeo installed (apt-get install -y skopeo)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(&acr_relocate::digest::Digest::of(&out.stdout), digest);
    let copy_dir = tempfile::tempdir().unwrap();
    let out = skopeo()
        .args([
            "copy",
            "--preserve-digests",
            &reference,
            &format!("dir:{}", copy_dir.path().display()),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn we_read_a_layout_that_skopeo_wrote() {
    let (src, expected) = sample_registry(3);
    let (repo, tags) = expected.tags.iter().next().unwrap();
    let (tag, digest) = tags.iter().next().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("skopeo");
    skopeo_copy(
        src.port,
        repo,
        tag,
        &format!("oci:{}:{repo}:{tag}", layout.display()),
    );
    let dst = Registry::start();
    assert_success(&run(&[
        "copy",
        "-q",
        &format!("oci:{}", layout.display()),
        &dst.url(),
    ]));
    assert_eq!(
        block_on(open(&dst.url()).manifest_digest(repo, tag))
            .unwrap()
            .as_ref(),
        Some(digest)
    );
}

fn assert_layout_error(source: &str, needle: &str) {
    let out_dir = tempfile::tempdir().unwrap();
    let target = out_dir.path().join("t");
    let out = run(&["copy", "-q", source, &format!("oci:{}", target.display())]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains(needle), "{}", stderr(&out));
    assert!(!target.exists(), "nothing written");
}

#[test]
fn not_a_layout_is_refused_with_its_path() {
    let dir = tempfile::tempdir().unwrap();
    assert_layout_error(
        &format!("oci:{}", dir.path().display()),
        "`oci-layout` is missing",
    );
    std::fs::write(
        dir.path().join("oci-layout"),
        r#"{"imageLayoutVersion":"2.0.0"}"#,
    )
    .unwrap();
    assert_layout_error(&format!("oci:{}", dir.path().display()), "not supported");
    std::fs::write(
        dir.path().join("oci-layout"),
        r#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .unwrap();
    assert_layout_error(
        &format!("oci:{}", dir.path().display()),
        "`index.json` is missing",
    );
    std::fs::write(dir.path().join("index.json"), "{not json").unwrap();
    assert_layout_error(&format!("oci:{}", dir.path().display()), "index.json");
}

#[test]
fn a_corrupted_layout_blob_fails_its_tag_and_nothing_is_half_written() {
    let (dir, expected) = sample_layout(3, 9);
    let (repo, tags) = expected
        .tags
        .iter()
        .find(|(r, _)| r.as_str() == "svc2")
        .unwrap();
    let layer = last_layer(&open(&oci(dir.path())), repo, tags.keys().next().unwrap());
    let path = dir.path().join("sample/blobs/sha256").join(layer.hex());
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[3] ^= 1;
    std::fs::write(&path, bytes).unwrap();
    let out_dir = tempfile::tempdir().unwrap();
    let target = out_dir.path().join("t");
    let out = run(&[
        "copy",
        "-q",
        &oci(dir.path()),
        &format!("oci:{}", target.display()),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    // Read twice the same wrong way: the source's, and no copy again will mend it.
    assert!(
        stdout(&out).contains("is wrong in the SOURCE (its bytes hash to sha256:"),
        "{}",
        stdout(&out)
    );
    assert!(
        !target.join("blobs/sha256").join(layer.hex()).exists(),
        "no blob under a wrong digest"
    );
    assert!(!target.join(".partial").exists(), "no partial files left");
}

#[test]
fn a_target_directory_with_other_files_is_refused() {
    let (dir, _) = sample_layout(1, 1);
    let out_dir = tempfile::tempdir().unwrap();
    std::fs::write(out_dir.path().join("notes.txt"), "mine").unwrap();
    let out = run(&[
        "copy",
        "-q",
        &oci(dir.path()),
        &format!("oci:{}", out_dir.path().display()),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("not empty and is not an OCI image layout"),
        "{}",
        stderr(&out)
    );
    assert_eq!(std::fs::read_dir(out_dir.path()).unwrap().count(), 1);
}

#[test]
fn untagged_manifests_of_a_layout_reach_a_registry() {
    let (dir, expected) = sample_layout(4, 4);
    let dst = Registry::start();
    let out = run(&["copy", "-q", "--json", &oci(dir.path()), &dst.url()]);
    assert_success(&out);
    assert!(json(&out)["untagged"].as_u64().unwrap() >= expected.referrers.len() as u64);
    let store = open(&dst.url());
    for (repo, _, referrer) in &expected.referrers {
        assert!(
            block_on(store.manifest_digest(repo, referrer.as_str()))
                .unwrap()
                .is_some(),
            "{repo}@{referrer}"
        );
    }
    assert_success(&run(&["verify", &oci(dir.path()), &dst.url()]));
    // --tagged-only leaves them out, and verify notices unless told the same.
    let other = Registry::start();
    assert_success(&run(&[
        "copy",
        "-q",
        "--tagged-only",
        "--no-referrers",
        &oci(dir.path()),
        &other.url(),
    ]));
    let store = open(&other.url());
    for (repo, _, referrer) in &expected.referrers {
        assert!(block_on(store.manifest_digest(repo, referrer.as_str()))
            .unwrap()
            .is_none());
    }
}

/// `copy --no-referrers` from a layout leaves the referrers it lists untagged behind, and
/// `verify --no-referrers` (plain and deep) does not ask for them; a plain `verify` does.
#[test]
fn a_copy_without_referrers_from_a_layout_verifies_without_them() {
    let (dir, expected) = sample_layout(4, 4);
    assert!(!expected.referrers.is_empty());
    let src = oci(dir.path());
    let dst = Registry::start();
    assert_success(&run(&["copy", "-q", "--no-referrers", &src, &dst.url()]));
    let store = open(&dst.url());
    for (repo, _, referrer) in &expected.referrers {
        let held = block_on(store.manifest_digest(repo, referrer.as_str())).unwrap();
        assert!(held.is_none(), "{repo}@{referrer}");
    }
    assert_success(&run(&["verify", "--no-referrers", &src, &dst.url()]));
    assert_success(&run(&[
        "verify",
        "--deep",
        "--no-referrers",
        &src,
        &dst.url(),
    ]));
    assert_exit_code(&run(&["verify", &src, &dst.url()]), 1);
}

/// A tag expression selects tags: a manifest the source holds without a tag stays behind unless it
/// describes a selected tag's manifest (a referrer); `verify` and `inventory` with the same
/// selection agree, and a `--tag` that matches nothing moves nothing at all.
#[test]
fn a_tag_expression_leaves_untagged_manifests_behind_and_one_matching_nothing_moves_nothing() {
    let (dir, expected) = sample_layout(4, 4);
    let (repo, subject, referrer) = expected.referrers[0].clone();
    let tags = &expected.tags[&repo];
    let describes = |tag: &str| tags[tag] == subject;
    let other_tag = ["v1.0.0", "v1.1.0"]
        .into_iter()
        .find(|t| !describes(t))
        .expect("a version the referrer does not describe");
    let described = tags
        .keys()
        .find(|t| describes(t))
        .expect("the referrer's tag");
    let src = oci(dir.path());
    let referrer_copied = |tag: &str| {
        let dst = Registry::start();
        let url = dst.url();
        for verb in ["copy", "verify"] {
            assert_success(&run(&[verb, "--repo", &repo, "--tag", tag, &src, &url]));
        }
        block_on(open(&dst.url()).manifest_digest(&repo, referrer.as_str()))
            .unwrap()
            .is_some()
    };
    assert!(
        !referrer_copied(other_tag),
        "--tag {other_tag} took the untagged SBOM"
    );
    assert!(
        referrer_copied(described),
        "--tag {described} left its SBOM behind"
    );

    let inventory = json(&run(&["inventory", "--json", "--tag", other_tag, &src]));
    assert_eq!(inventory["totals"]["untagged_manifests"], 0, "{inventory}");

    let dst = Registry::start();
    let out = run(&["copy", "-q", "--tag", "no-such-tag", &src, &dst.url()]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(repositories(&open(&dst.url())).is_empty());
}

#[test]
fn an_archive_carries_a_registry_with_every_digest() {
    let (src, expected) = sample_registry(6);
    let carry = tempfile::tempdir().unwrap();
    for name in ["registry.tar", "registry.tar.gz"] {
        let archive = format!("oci-archive:{}", carry.path().join(name).display());
        assert_success(&run(&["copy", "-q", &src.url(), &archive]));
        assert!(!std::fs::read_dir(carry.path()).unwrap().any(|e| e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .contains("partial")));
        let dst = Registry::start();
        assert_success(&run(&["copy", "-q", &archive, &dst.url()]));
        assert_holds(&open(&dst.url()), &expected.tags, None);
        assert_success(&run(&["verify", "--deep", &archive, &dst.url()]));
    }
    // skopeo reads one image of it.
    let (repo, tags) = expected.tags.iter().next().unwrap();
    let (tag, digest) = tags.iter().next().unwrap();
    let reference = format!(
        "oci-archive:{}:{repo}:{tag}",
        carry.path().join("registry.tar").display()
    );
    let out = skopeo()
        .args(["inspect", "--raw", &reference])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(&acr_relocate::digest::Digest::of(&out.stdout), digest);
}

#[test]
fn a_truncated_or_hostile_archive_is_refused() {
    let (dir, _) = sample_layout(2, 2);
    let carry = tempfile::tempdir().unwrap();
    let path = carry.path().join("x.tar");
    let archive = format!("oci-archive:{}", path.display());
    assert_success(&run(&["copy", "-q", &oci(dir.path()), &archive]));
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    let out = run(&["inventory", &archive]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("x.tar"), "{}", stderr(&out));
    // An entry outside the layout.
    let hostile = carry.path().join("h.tar");
    {
        let mut builder = tar::Builder::new(std::fs::File::create(&hostile).unwrap());
        let mut header = tar::Header::new_gnu();
        header.set_size(1);
        header.set_mode(0o644);
        header.set_cksum();
        builder
            .append_data(&mut header, "etc/cron.d/evil", &b"x"[..])
            .unwrap();
        builder.finish().unwrap();
    }
    // Entries beside a layout are ignored (never written out); with no layout, it is no archive.
    let out = run(&["inventory", &format!("oci-archive:{}", hostile.display())]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("not an OCI archive"),
        "{}",
        stderr(&out)
    );
}

/// An `oci-archive:` naming a file that is no tar (a Docker config file, by mistake) is refused
/// in one line, exit 2, that shows none of its bytes (its credentials stay out of CI logs).
#[test]
fn an_archive_path_that_is_no_tar_is_refused_without_showing_the_files_content() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.json");
    let auth = "dXNlcjpTM2NyZXRQYXNzd29yZDEyMzQ1Njc4OTA=";
    std::fs::write(
        &config,
        format!(
            r#"{{"auths":{{"myreg.azurecr.io":{{"auth":"{auth}"}}}},"plugins":{{"x":{{"a":"{}"}}}}}}"#,
            "b".repeat(400)
        ),
    )
    .unwrap();
    let archive = format!("oci-archive:{}", config.display());
    let target = oci(&dir.path().join("copy"));
    for args in [
        vec!["inventory", &archive],
        vec!["copy", "-q", &archive, &target],
    ] {
        let out = run(&args);
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        let said = stderr(&out);
        assert!(said.contains("config.json: not a tar archive"), "{said}");
        assert!(!said.contains(auth) && !said.contains("auths"), "{said}");
        assert_eq!(said.trim_end().lines().count(), 1, "{said}");
    }
}

/// A copy into a layout killed before its `index.json` listed anything (the index is written
/// every few seconds): the rerun finds every blob the killed run wrote (a file's presence is
/// asked even in a repository new to the layout) and reads none of them from the source again.
#[test]
fn a_layout_copy_killed_before_its_index_was_written_reuses_every_blob_on_the_rerun() {
    let (src, expected) = sample_registry(4);
    let dir = tempfile::tempdir().unwrap();
    let target = oci(dir.path());
    assert_success(&run(&["copy", "-q", &src.url(), &target]));
    let index = dir.path().join("sample/index.json");
    std::fs::write(
        &index,
        br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#,
    )
    .unwrap();
    let out = run(&["copy", "--json", &src.url(), &target]);
    assert_success(&out);
    let summary = json(&out);
    assert_eq!(summary["bytes_copied"], 0, "{summary}");
    assert_eq!(summary["blobs_copied"], 0, "{summary}");
    assert_eq!(
        summary["tags_copied"],
        expected.tag_count() as u64,
        "{summary}"
    );
    assert_success(&run(&["verify", "--deep", &src.url(), &target]));
}

#[test]
fn names_a_layout_lists_are_checked_before_they_reach_a_request() {
    // An untrusted archive or layout could name a repository `x/../../escaped/app` or a tag `..`:
    // put into `/v2/<prefix>/<name>/…` they would reach outside the prefix the user chose.
    let (dir, expected) = sample_layout(3, 5);
    let index_path = dir.path().join("sample/index.json");
    let mut index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&index_path).unwrap()).unwrap();
    let mut retagged = None;
    for entry in index["manifests"].as_array_mut().unwrap() {
        let annotations = entry["annotations"].as_object_mut().unwrap();
        let repo = annotations["io.github.acr-relocate.repository"]
            .as_str()
            .unwrap()
            .to_string();
        let ref_name = annotations
            .get("org.opencontainers.image.ref.name")
            .and_then(|r| r.as_str())
            .map(str::to_string);
        if repo == "team/svc-1" {
            annotations.insert(
                "io.github.acr-relocate.repository".into(),
                "x/../../escaped/app".into(),
            );
            if let Some(r) = ref_name {
                let tag = r.rsplit_once(':').unwrap().1.to_string();
                annotations.insert(
                    "org.opencontainers.image.ref.name".into(),
                    format!("x/../../escaped/app:{tag}").into(),
                );
            }
        } else if repo == "svc2" && ref_name.is_some() && retagged.is_none() {
            annotations.insert("org.opencontainers.image.ref.name".into(), "svc2:..".into());
            retagged = ref_name.map(|r| r.rsplit_once(':').unwrap().1.to_string());
        }
    }
    std::fs::write(&index_path, serde_json::to_vec(&index).unwrap()).unwrap();
    let dst = Registry::start();
    let target = format!("{}/quarantine", dst.url());
    let out = run(&["copy", "-q", &oci(dir.path()), &target]);
    assert_exit_code(&out, 1);
    let report = stdout(&out);
    assert!(
        report.contains("x/../../escaped/app") && report.contains("--exclude-repo"),
        "{report}"
    );
    // A tag that is no tag fails alone: the rest of its repository goes.
    assert!(
        report.contains("svc2:..: tag `..`") && report.contains("--exclude-tag"),
        "{report}"
    );
    // Only the valid names arrived, under the prefix; nothing escaped it.
    let mut valid = expected.tags.clone();
    valid.retain(|r, _| r != "team/svc-1");
    let renamed = retagged.expect("svc2 has a tag");
    valid.get_mut("svc2").unwrap().remove(&renamed);
    let arrived: Vec<String> = valid.keys().map(|r| format!("quarantine/{r}")).collect();
    assert_eq!(repositories(&open(&dst.url())), arrived);
    assert_holds(&open(&dst.url()), &valid, Some("quarantine"));
    // Leaving them out makes the same layout copy cleanly.
    let out = run(&[
        "copy",
        "-q",
        "--exclude-repo",
        "x/**",
        "--exclude-tag",
        r"\.\.",
        &oci(dir.path()),
        &target,
    ]);
    assert_success(&out);
}

#[test]
fn a_signature_added_to_an_unchanged_image_goes_over_on_the_next_run() {
    // Run 1 sees the images without their referrers (signatures, SBOMs); they are added to the
    // source afterwards, the images themselves unchanged. Run 2 finds every tag up to date and
    // must still bring the referrers, also when only tags are listed (`--tagged-only`).
    let (dir, expected) = sample_layout(4, 21);
    assert!(!expected.referrers.is_empty());
    let index_path = dir.path().join("sample/index.json");
    let full = std::fs::read(&index_path).unwrap();
    let mut index: serde_json::Value = serde_json::from_slice(&full).unwrap();
    let referrers: Vec<String> = expected
        .referrers
        .iter()
        .map(|(_, _, r)| r.to_string())
        .collect();
    index["manifests"]
        .as_array_mut()
        .unwrap()
        .retain(|m| !referrers.contains(&m["digest"].as_str().unwrap().to_string()));
    std::fs::write(&index_path, serde_json::to_vec(&index).unwrap()).unwrap();
    let dst = Registry::start();
    assert_success(&run(&[
        "copy",
        "-q",
        "--tagged-only",
        &oci(dir.path()),
        &dst.url(),
    ]));
    let store = open(&dst.url());
    let present = |store: &std::sync::Arc<dyn acr_relocate::transport::Store>| {
        expected
            .referrers
            .iter()
            .filter(|(repo, _, r)| {
                block_on(store.manifest_digest(repo, r.as_str()))
                    .unwrap()
                    .is_some()
            })
            .count()
    };
    assert_eq!(present(&store), 0);

    std::fs::write(&index_path, &full).unwrap();
    let out = run(&[
        "copy",
        "-q",
        "--json",
        "--tagged-only",
        &oci(dir.path()),
        &dst.url(),
    ]);
    assert_success(&out);
    let report = json(&out);
    assert_eq!(report["tags_copied"], 0, "{report}");
    assert_eq!(
        report["referrers_copied"],
        expected.referrers.len() as u64,
        "{report}"
    );
    assert_eq!(present(&store), expected.referrers.len());
}

#[test]
fn an_oci_artifact_manifest_referrer_is_copied_as_it_is() {
    // Notation release candidates pushed signatures as `application/vnd.oci.artifact.manifest.v1+json`
    // (no config, `blobs`); ACR still holds them. They travel byte for byte with their blobs.
    let (dir, expected) = sample_layout(2, 13);
    let (repo, subject, _) = &expected.referrers[0];
    let signature = add_signature(&dir.path().join("sample"), repo, subject, true);
    let out_dir = tempfile::tempdir().unwrap();
    let target = format!("oci:{}", out_dir.path().join("copy").display());
    let out = run(&["copy", "-q", "--json", &oci(dir.path()), &target]);
    assert_success(&out);
    assert_eq!(
        json(&out)["referrers_copied"],
        expected.referrers.len() as u64 + 1
    );
    let store = open(&target);
    let copied = block_on(store.manifest(repo, signature.as_str())).unwrap();
    assert_eq!(copied.digest, signature);
    assert_eq!(
        copied.media_type,
        "application/vnd.oci.artifact.manifest.v1+json"
    );
    assert_success(&run(&["verify", "--deep", &oci(dir.path()), &target]));
    // inventory counts it beside the SBOM, on every tag of its subject.
    let out = run(&["inventory", "--json", &target]);
    assert_success(&out);
    let report = json(&out);
    let counts: Vec<u64> = report["repositories"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r["tags"].as_array().unwrap().iter())
        .filter(|t| t["digest"] == subject.as_str())
        .map(|t| t["referrers"].as_u64().unwrap())
        .collect();
    assert!(
        !counts.is_empty() && counts.iter().all(|&c| c == 2),
        "{counts:?}"
    );
}

/// A registry that refuses a referrer (Distribution 2.8 answers an OCI 1.1-rc artifact
/// manifest 400 MANIFEST_INVALID) holds back the tags of its subject, pushed after their
/// referrers: the failure names the referrer as the cause and `--no-referrers`, which then
/// copies the images.
#[test]
fn a_referrer_the_target_refuses_is_named_with_how_to_copy_without_it() {
    let (dir, expected) = sample_layout(2, 13);
    let (repo, subject, _) = &expected.referrers[0];
    add_signature(&dir.path().join("sample"), repo, subject, true);
    let dst = Registry::start();
    let out = run(&["copy", &oci(dir.path()), &dst.url()]);
    assert_exit_code(&out, 1);
    let text = stdout(&out);
    assert!(
        text.lines().any(|l| l.starts_with("FAILED ")
            && l.contains(&format!("a referrer of {subject}"))
            && l.contains("copy without referrers (--no-referrers)")),
        "{text}"
    );
    assert_success(&run(&[
        "copy",
        "--no-referrers",
        &oci(dir.path()),
        &dst.url(),
    ]));
}

#[test]
fn referrers_reach_a_registry_without_the_referrers_api_through_the_fallback_tag() {
    // Distribution 2.8 has no referrers API: clients (cosign, notation, oras, and we) find the
    // referrers of a manifest in the index tagged `sha256-<hex of the subject>`.
    let (dir, expected) = sample_layout(2, 17);
    let (repo, subject, sbom) = expected.referrers[0].clone();
    let signature = add_signature(&dir.path().join("sample"), &repo, &subject, false);
    let dst = Registry::start();
    assert_success(&run(&["copy", "-q", &oci(dir.path()), &dst.url()]));
    let store = open(&dst.url());
    let fallback = subject.as_str().replacen(':', "-", 1);
    let index = block_on(store.manifest(&repo, &fallback)).unwrap();
    let listed: std::collections::BTreeSet<_> = index
        .view()
        .unwrap()
        .children()
        .iter()
        .map(|c| c.digest.clone())
        .collect();
    assert_eq!(
        listed,
        [sbom.clone(), signature.clone()].into_iter().collect()
    );
    // A second run changes nothing.
    let out = run(&["copy", "-q", "--json", &oci(dir.path()), &dst.url()]);
    assert_success(&out);
    assert_eq!(json(&out)["manifests_pushed"], 0, "{}", stdout(&out));
    // Read back with the fallback tag itself left out by --tag: the referrers still come along.
    let back = tempfile::tempdir().unwrap();
    let target = format!("oci:{}", back.path().join("back").display());
    assert_success(&run(&["copy", "-q", "--tag", "v.*", &dst.url(), &target]));
    let copied = open(&target);
    for r in [&sbom, &signature] {
        assert!(
            block_on(copied.manifest_digest(&repo, r.as_str()))
                .unwrap()
                .is_some(),
            "{r}"
        );
    }
}

#[test]
fn verify_deep_checks_referrers_of_platform_manifests_and_of_referrers() {
    // A signature of one platform of a multi-arch image, and a signature of an SBOM: both are
    // reached only below a tag's manifest, and both must be in the target before the source may
    // go (the untagged listing is left out here, so the referrer check alone must find them).
    let (dir, expected) = sample_layout(2, 23);
    let root = dir.path().join("sample");
    let source = open(&oci(dir.path()));
    let multi = "team/svc-1";
    let index = block_on(source.manifest(multi, "v1.0.0")).unwrap();
    let platform = index.view().unwrap().children()[0].digest.clone();
    let platform_signature = add_signature(&root, multi, &platform, false);
    let (repo, _, sbom) = expected.referrers[0].clone();
    let sbom_signature = add_signature(&root, &repo, &sbom, false);
    let out_dir = tempfile::tempdir().unwrap();
    let target = format!("oci:{}", out_dir.path().join("copy").display());
    assert_success(&run(&["copy", "-q", &oci(dir.path()), &target]));
    let verify = || {
        run(&[
            "verify",
            "--deep",
            "--tagged-only",
            "--json",
            &oci(dir.path()),
            &target,
        ])
    };
    assert_success(&verify());
    // Both leave the target.
    let target_index = out_dir.path().join("copy/index.json");
    let mut index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&target_index).unwrap()).unwrap();
    let gone = [platform_signature.to_string(), sbom_signature.to_string()];
    index["manifests"]
        .as_array_mut()
        .unwrap()
        .retain(|m| !gone.contains(&m["digest"].as_str().unwrap().to_string()));
    std::fs::write(&target_index, serde_json::to_vec(&index).unwrap()).unwrap();
    for d in [&platform_signature, &sbom_signature] {
        std::fs::remove_file(out_dir.path().join("copy/blobs/sha256").join(d.hex())).unwrap();
    }
    let out = verify();
    assert_exit_code(&out, 1);
    let broken = json(&out)["broken"].to_string();
    for d in &gone {
        assert!(broken.contains(d.as_str()), "{d} not in {broken}");
    }
}

#[test]
fn non_distributable_layers_travel_only_when_asked() {
    // A Windows-style image whose base layer carries `urls` (non-distributable): registries that
    // allow it hold the layer too. By default it is left to its URLs; an air-gapped copy asks
    // for it with --include-nondistributable.
    let (dir, _) = sample_layout(1, 29);
    let root = dir.path().join("sample");
    let write = |bytes: &[u8]| write_layout_blob(&root, bytes);
    let config =
        br#"{"architecture":"amd64","os":"windows","rootfs":{"type":"layers","diff_ids":[]}}"#;
    let base = b"windows base layer bytes".to_vec();
    let (config_digest, base_digest) = (write(config), write(&base));
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest.as_str(), "size": config.len()},
        "layers": [{
            "mediaType": "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
            "digest": base_digest.as_str(), "size": base.len(),
            "urls": [format!("https://mcr.microsoft.com/v2/windows/servercore/blobs/{base_digest}")],
        }],
    }))
    .unwrap();
    add_layout_manifest(
        &root,
        "win/app",
        Some("ltsc2022"),
        "application/vnd.oci.image.manifest.v1+json",
        &manifest,
    );
    let out_dir = tempfile::tempdir().unwrap();
    let has_base = |name: &str| {
        out_dir
            .path()
            .join(name)
            .join("blobs/sha256")
            .join(base_digest.hex())
            .exists()
    };
    let source = oci(dir.path());
    let by_default = format!("oci:{}", out_dir.path().join("default").display());
    assert_success(&run(&["copy", "-q", &source, &by_default]));
    assert!(!has_base("default"), "left to its URLs");
    assert_success(&run(&["verify", "--deep", &source, &by_default]));
    let out = run(&[
        "verify",
        "--deep",
        "--include-nondistributable",
        "--json",
        &source,
        &by_default,
    ]);
    assert_exit_code(&out, 1);
    assert!(json(&out)["broken"]
        .to_string()
        .contains(base_digest.as_str()));
    let asked = format!("oci:{}", out_dir.path().join("asked").display());
    assert_success(&run(&[
        "copy",
        "-q",
        "--include-nondistributable",
        &source,
        &asked,
    ]));
    assert!(has_base("asked"));
    assert_success(&run(&[
        "verify",
        "--deep",
        "--include-nondistributable",
        &source,
        &asked,
    ]));
}

/// A layout target that lost a blob file (its `index.json` still lists every tag) is trusted by a
/// plain copy and repaired by `copy --deep`, which writes the file again.
#[test]
fn a_deep_copy_writes_back_a_blob_file_a_layout_target_lost() {
    let (dir, _) = sample_layout(4, 5);
    let src = oci(dir.path());
    let out_dir = tempfile::tempdir().unwrap();
    let target_dir = out_dir.path().join("copy");
    let target = format!("oci:{}", target_dir.display());
    assert_success(&run(&["copy", "-q", &src, &target]));
    let layer = last_layer(&open(&target), "svc2", "v1.1.0");
    let file = target_dir.join("blobs/sha256").join(layer.hex());
    std::fs::remove_file(&file).unwrap();

    let plain = json(&run(&["copy", "-q", "--json", &src, &target]));
    assert_eq!(plain["blobs_copied"], 0, "{plain}");
    assert_exit_code(&run(&["verify", "--deep", &src, &target]), 1);

    let out = run(&["copy", "-q", "--deep", "--json", &src, &target]);
    assert_success(&out);
    let deep = json(&out);
    assert_eq!(deep["blobs_put_back"], 1, "{deep}");
    assert_eq!(deep["manifests_put_back"], 0, "{deep}");
    assert!(file.exists());
    assert_success(&run(&["verify", "--deep", &src, &target]));
}

/// A blob below a manifest the source lists without a tag (here a referrer, an SBOM), lost by a
/// layout target that still lists the manifest, is put back by `copy --deep` and counted as put
/// back, as one below a tag is.
#[test]
fn a_deep_copy_counts_a_blob_below_an_untagged_manifest_as_put_back() {
    let (dir, expected) = sample_layout(4, 5);
    let src = oci(dir.path());
    let out_dir = tempfile::tempdir().unwrap();
    let target_dir = out_dir.path().join("copy");
    let target = format!("oci:{}", target_dir.display());
    assert_success(&run(&["copy", "-q", &src, &target]));
    let (repo, _, referrer) = expected
        .referrers
        .first()
        .expect("the sample has referrers");
    let sbom = block_on(open(&src).manifest(repo, referrer.as_str())).unwrap();
    let layer = sbom.view().unwrap().blobs().last().unwrap().digest.clone();
    let file = target_dir.join("blobs/sha256").join(layer.hex());
    std::fs::remove_file(&file).unwrap();

    let out = run(&["copy", "-q", "--deep", "--json", &src, &target]);
    assert_success(&out);
    let deep = json(&out);
    assert_eq!(deep["blobs_put_back"], 1, "{deep}");
    assert_eq!(deep["blobs_copied"], 1, "uploaded once: {deep}");
    assert_eq!(deep["manifests_put_back"], 0, "{deep}");
    assert!(file.exists());
    assert_success(&run(&["verify", "--deep", &src, &target]));
}

/// Two repositories of a layout target share one blob store: a signature whose bytes one
/// repository already holds must still be listed for the other. Here the same image, signed with
/// the same bytes, is in `svc2` and `mirror/app`; the mirror's signature arrives in the source
/// after a first copy, and the next copy and `verify --deep` must not take the file `svc2`'s
/// signature left as the mirror's.
#[test]
fn a_signature_another_repository_of_a_layout_target_holds_is_still_written_for_this_one() {
    let (dir, _) = sample_layout(3, 31);
    let root = dir.path().join("sample");
    let index_path = root.join("index.json");
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&index_path).unwrap()).unwrap();
    let subject_entry = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == "svc2:v1.0.0")
        .expect("svc2:v1.0.0 in the sample")
        .clone();
    let subject: acr_relocate::digest::Digest =
        subject_entry["digest"].as_str().unwrap().parse().unwrap();
    let subject_bytes = std::fs::read(layout_blob(&root, &subject)).unwrap();
    add_layout_manifest(
        &root,
        "mirror/app",
        Some("v1"),
        subject_entry["mediaType"].as_str().unwrap(),
        &subject_bytes,
    );
    let signature = add_signature(&root, "svc2", &subject, false);
    let mirror_unsigned = std::fs::read(&index_path).unwrap();
    assert_eq!(
        add_signature(&root, "mirror/app", &subject, false),
        signature,
        "the same bytes"
    );
    let mirror_signed = std::fs::read(&index_path).unwrap();
    // Run 1: the mirror is not signed yet.
    std::fs::write(&index_path, &mirror_unsigned).unwrap();
    let src = oci(dir.path());
    let out_dir = tempfile::tempdir().unwrap();
    let target = format!("oci:{}", out_dir.path().join("copy").display());
    assert_success(&run(&["copy", "-q", &src, &target]));
    // Then it is, with the bytes svc2's signature has.
    std::fs::write(&index_path, &mirror_signed).unwrap();
    let out = run(&["verify", "--deep", "--json", &src, &target]);
    assert_exit_code(&out, 1);
    let report = json(&out);
    assert!(
        report["broken"]
            .to_string()
            .contains(&format!("mirror/app@{signature}"))
            || report["missing"]
                .to_string()
                .contains(&format!("mirror/app@{signature}")),
        "{report}"
    );

    assert_success(&run(&["copy", "-q", &src, &target]));
    let listed = block_on(open(&target).referrers("mirror/app", &subject))
        .unwrap()
        .unwrap_or_default();
    assert!(listed.iter().any(|r| r.digest == signature), "{listed:?}");
    assert_success(&run(&["verify", "--deep", &src, &target]));
}

/// `skopeo copy docker://R/svc2:latest oci:DIR:latest` writes an entry whose ref name is the
/// plain tag `latest`, with no repository. Such a layout read as empty ("copied 0 of 0 tags",
/// `verify --deep` passing on an empty target, then the directory removed): its entries are read
/// as the repository named by the layout's directory, said on stderr, beside the repositories of
/// a layout that also holds ours; a directory named unlike a repository is refused.
#[test]
fn entries_skopeo_wrote_with_a_plain_tag_are_read_as_the_repository_the_layout_is_named_after() {
    let (src, expected) = sample_registry(2);
    let (repo, tags) = expected.tags.iter().next().unwrap();
    let (tag, digest) = tags.iter().next().unwrap();
    let skopeo_copy = |layout: &std::path::Path| {
        skopeo_copy(
            src.port,
            repo,
            tag,
            &format!("oci:{}:latest", layout.display()),
        )
    };
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("sk1");
    skopeo_copy(&layout);
    let source = format!("oci:{}", layout.display());

    let out = run(&["inventory", "--json", &source]);
    assert_success(&out);
    let warning = stderr(&out);
    assert!(
        warning.contains("1 entry of its index.json names no repository (tags `latest`")
            && warning.contains("read as the repository `sk1`"),
        "{warning}"
    );
    assert_eq!(json(&out)["repositories"][0]["name"], "sk1");

    let dst = Registry::start();
    let target = format!("{}/imp", dst.url());
    let out = run(&["copy", "-q", "--json", &source, &target]);
    assert_success(&out);
    assert_eq!(json(&out)["tags_copied"], 1, "{}", stdout(&out));
    assert_eq!(
        block_on(open(&dst.url()).manifest_digest("imp/sk1", "latest"))
            .unwrap()
            .as_ref(),
        Some(digest)
    );
    assert_success(&run(&["verify", "--deep", &source, &target]));

    // Added by skopeo to a layout this tool wrote: read beside its repositories.
    let mixed = dir.path().join("mixed");
    assert_success(&run(&[
        "copy",
        "-q",
        &src.url(),
        &format!("oci:{}", mixed.display()),
    ]));
    skopeo_copy(&mixed);
    let other = Registry::start();
    let out = run(&[
        "copy",
        "-q",
        &format!("oci:{}", mixed.display()),
        &other.url(),
    ]);
    assert_success(&out);
    assert!(stderr(&out).contains("read as the repository `mixed`"));
    let copied = open(&other.url());
    assert_holds(&copied, &expected.tags, None);
    assert_eq!(
        block_on(copied.manifest_digest("mixed", "latest"))
            .unwrap()
            .as_ref(),
        Some(digest)
    );

    // The same in an archive skopeo wrote: read as the archive's name.
    let archive = dir.path().join("sk2.tar");
    let out = skopeo()
        .args([
            "copy",
            "--src-tls-verify=false",
            "--preserve-digests",
            &format!("docker://127.0.0.1:{}/{repo}:{tag}", src.port),
            &format!("oci-archive:{}:latest", archive.display()),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(&[
        "inventory",
        "--json",
        &format!("oci-archive:{}", archive.display()),
    ]);
    assert_success(&out);
    assert!(stderr(&out).contains("read as the repository `sk2`"));
    assert_eq!(json(&out)["repositories"][0]["name"], "sk2");

    // A name no repository can have: refused, saying what to do.
    let odd = dir.path().join("Export 1");
    std::fs::rename(&layout, &odd).unwrap();
    let out = run(&["copy", "-q", &format!("oci:{}", odd.display()), &target]);
    assert_exit_code(&out, 2);
    let err = stderr(&out);
    assert!(
        err.contains("1 entry of its index.json names no repository (tags `latest`")
            && err.contains("`Export 1` is not a repository name")
            && err.contains("rename it"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
}

/// One manifest file missing from a layout failed every tag of every repository (the referrers
/// of all its entries could not be listed): only the tags whose manifest it is fail, as content
/// missing in the SOURCE, and the rest arrives.
#[test]
fn a_tag_whose_manifest_file_is_gone_fails_alone_as_missing_in_the_source() {
    let (dir, expected) = sample_layout(3, 9);
    let root = dir.path().join("sample");
    let (repo, tags) = expected
        .tags
        .iter()
        .find(|(r, _)| r.as_str() == "svc2")
        .unwrap();
    let (tag, lost) = tags.iter().next().unwrap();
    let sharing: Vec<String> = expected
        .tags
        .iter()
        .flat_map(|(r, tags)| {
            tags.iter()
                .filter(|(_, d)| *d == lost)
                .map(move |(t, _)| format!("{r}:{t}"))
        })
        .collect();
    std::fs::remove_file(layout_blob(&root, lost)).unwrap();
    let out_dir = tempfile::tempdir().unwrap();
    let target = format!("oci:{}", out_dir.path().join("copy").display());
    let out = run(&["copy", "-q", "--json", &oci(dir.path()), &target]);
    assert_exit_code(&out, 1);
    let report = json(&out);
    assert_eq!(report["failed"], serde_json::json!([]), "{report}");
    let incomplete: Vec<&str> = report["source_incomplete"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["item"].as_str().unwrap())
        .collect();
    assert_eq!(incomplete, sharing, "{report}");
    assert!(
        report["source_incomplete"].to_string().contains(&format!(
            "{lost} of {repo}:{tag} is missing in the SOURCE (the source is incomplete)"
        )),
        "{report}"
    );
    let mut arrived = expected.tags.clone();
    for (_, tags) in arrived.iter_mut() {
        tags.retain(|_, d| d != lost);
    }
    assert_holds(&open(&target), &arrived, None);
    let out = run(&["verify", "--deep", "--json", &oci(dir.path()), &target]);
    assert_exit_code(&out, 1);
    let verdict = json(&out);
    assert_eq!(verdict["errors"], serde_json::json!([]), "{verdict}");
    assert_eq!(
        verdict["broken_in_source"].as_array().unwrap().len(),
        sharing.len(),
        "{verdict}"
    );
}

/// An archive rewritten by an update lost its mode (0640 became 0644: private images readable
/// by all), replaced a symbolic link `current.tar -> release-1.tar` by a new file, and was
/// rewritten (failing on read-only media) by a run with nothing to change.
#[cfg(unix)]
#[test]
fn an_archive_update_keeps_its_mode_writes_through_its_link_and_nothing_to_change_writes_nothing() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let (first, _) = sample_layout(1, 51);
    let (second, _) = sample_layout(2, 52);
    let usb = tempfile::tempdir().unwrap();
    let release = usb.path().join("release-1.tar");
    let current = usb.path().join("current.tar");
    let archive = format!("oci-archive:{}", current.display());
    assert_success(&run(&[
        "copy",
        "-q",
        &oci(first.path()),
        &format!("oci-archive:{}", release.display()),
    ]));
    std::fs::set_permissions(&release, std::fs::Permissions::from_mode(0o640)).unwrap();
    std::os::unix::fs::symlink("release-1.tar", &current).unwrap();

    assert_success(&run(&["copy", "-q", &oci(second.path()), &archive]));
    assert_eq!(
        std::fs::read_link(&current).unwrap(),
        std::path::Path::new("release-1.tar")
    );
    let written = std::fs::metadata(&release).unwrap();
    assert_eq!(written.mode() & 0o777, 0o640);
    assert_success(&run(&["verify", "--deep", &oci(second.path()), &archive]));
    assert_eq!(
        names_in(usb.path()),
        ["current.tar", "release-1.tar"],
        "no lock or partial file left"
    );

    let out = run(&["copy", "-q", "--json", &oci(second.path()), &archive]);
    assert_success(&out);
    assert_eq!(json(&out)["tags_copied"], 0, "{}", stdout(&out));
    let after = std::fs::metadata(&release).unwrap();
    assert_eq!(
        (after.ino(), after.mtime(), after.mtime_nsec()),
        (written.ino(), written.mtime(), written.mtime_nsec()),
        "a run with nothing to change rewrote the archive"
    );
}

/// A run killed outright while writing an archive leaves `X.partial-PID`, as large as the
/// archive: the next writer removes it.
#[test]
fn the_next_writer_removes_the_partial_archive_a_killed_run_left() {
    let (dir, _) = sample_layout(1, 53);
    let carry = tempfile::tempdir().unwrap();
    let path = carry.path().join("x.tar.gz");
    let left = carry.path().join("x.tar.gz.partial-999999");
    std::fs::write(&left, vec![0u8; 4096]).unwrap();
    assert_success(&run(&[
        "copy",
        "-q",
        &oci(dir.path()),
        &format!("oci-archive:{}", path.display()),
    ]));
    assert_eq!(names_in(carry.path()), ["x.tar.gz"]);
}

/// `oci-archive:x.TAR.GZ` was written uncompressed; an archive compressed otherwise than with
/// gzip gave binary garbage (`numeric field did not have utf-8 text`): it is named, with the
/// command that decompresses it.
#[test]
fn archive_names_say_gzip_in_any_case_and_other_compressions_are_named() {
    let (dir, expected) = sample_layout(1, 54);
    let carry = tempfile::tempdir().unwrap();
    let upper = carry.path().join("x.TAR.GZ");
    let archive = format!("oci-archive:{}", upper.display());
    assert_success(&run(&["copy", "-q", &oci(dir.path()), &archive]));
    assert_eq!(std::fs::read(&upper).unwrap()[..2], [0x1f, 0x8b]);
    assert_holds(&open(&archive), &expected.tags, None);

    let xz = carry.path().join("y.tar");
    let mut bytes = vec![0xfd, b'7', b'z', b'X', b'Z', 0x00];
    bytes.resize(1024, 0);
    std::fs::write(&xz, bytes).unwrap();
    let out = run(&["inventory", &format!("oci-archive:{}", xz.display())]);
    assert_exit_code(&out, 2);
    let err = stderr(&out);
    assert!(
        err.contains("is a xz-compressed file: only tar and gzip-compressed tar are read: decompress it first (xz -d)"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
}

/// A copy into a layout skopeo wrote (`oci:svc:latest`, a plain `latest`) that brings `svc:latest`
/// of another digest: the copy lists it as an overwrite (readers read the plain entry as that
/// tag), the entry it writes replaces the plain one (which tools reading plain names would
/// still resolve to the old digest), and the layout stays readable.
#[test]
fn a_tag_written_into_a_layout_that_has_it_plain_wins_and_the_plain_entry_stays_untagged() {
    let (src, expected) = sample_registry(3);
    let (repo, tags) = expected
        .tags
        .iter()
        .find(|(r, t)| !r.contains('/') && t.contains_key("latest") && t.contains_key("v1.0.0"))
        .expect("a top-level repository with latest and v1.0.0");
    assert_ne!(tags["latest"], tags["v1.0.0"]);
    let dir = tempfile::tempdir().unwrap();
    // The layout is named after the repository: its plain entries are read as that repository.
    let layout = dir.path().join(repo);
    skopeo_copy(
        src.port,
        repo,
        "v1.0.0",
        &format!("oci:{}:latest", layout.display()),
    );
    let target = format!("oci:{}", layout.display());
    let dry = run(&["copy", "--dry-run", "--repo", repo, &src.url(), &target]);
    assert_success(&dry);
    let overwrite = format!(
        "would overwrite {repo}:latest: the target has {}, the source {}",
        tags["v1.0.0"], tags["latest"]
    );
    assert!(stdout(&dry).contains(&overwrite), "{}", stdout(&dry));
    let out = run(&["copy", "--repo", repo, &src.url(), &target]);
    assert_success(&out);
    assert!(
        stdout(&out).contains(&format!(
            "overwrote {repo}:latest: the target had {}, the source {}",
            tags["v1.0.0"], tags["latest"]
        )),
        "{}",
        stdout(&out)
    );

    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    assert!(
        index["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["annotations"]["org.opencontainers.image.ref.name"] != "latest"),
        "{index}"
    );
    let out = run(&["inventory", "--json", &target]);
    assert_success(&out);
    assert!(
        !stderr(&out).contains("name no repository"),
        "{}",
        stderr(&out)
    );
    let inventory = json(&out);
    let listed = &inventory["repositories"][0];
    assert_eq!(listed["name"], repo.as_str());
    let latest = listed["tags"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["tag"] == "latest")
        .expect("latest listed");
    assert_eq!(latest["digest"], tags["latest"].to_string());
    assert_success(&run(&[
        "verify",
        "--deep",
        &src.url(),
        &target,
        "--repo",
        repo,
    ]));
}

/// An untagged entry of a layout whose manifest file is gone may be a referrer of any image in
/// its repository: a selective copy of that repository fails as an incomplete source instead of
/// delivering its tags without what may be their signatures; other repositories are untouched.
#[test]
fn an_unreadable_untagged_entry_fails_its_repository_as_an_incomplete_source() {
    let (dir, expected) = sample_layout(3, 5);
    let root = dir.path().join("sample");
    let (repo, _subject, referrer) = expected.referrers[0].clone();
    std::fs::remove_file(layout_blob(&root, &referrer)).unwrap();
    let out_dir = tempfile::tempdir().unwrap();
    let target = format!("oci:{}", out_dir.path().join("out").display());
    let out = run(&["copy", "--tagged-only", "--json", &oci(dir.path()), &target]);
    assert_exit_code(&out, 1);
    let report = json(&out);
    let incomplete = report["source_incomplete"].as_array().unwrap();
    assert!(!incomplete.is_empty(), "{report}");
    assert!(
        incomplete
            .iter()
            .all(|p| p["item"].as_str().unwrap().starts_with(&format!("{repo}:"))),
        "{report}"
    );
    // Every other repository arrived whole.
    let mut others = expected.tags.clone();
    others.remove(&repo);
    assert_holds(&open(&target), &others, None);
}

/// A copy into an archive through a link that names a file not there yet, which selects
/// nothing, leaves the link as it was and no file behind.
#[test]
fn a_copy_that_selects_nothing_through_a_dangling_archive_link_leaves_the_link_alone() {
    let (dir, _) = sample_layout(1, 2);
    let carry = tempfile::tempdir().unwrap();
    let link = carry.path().join("current.tar");
    std::os::unix::fs::symlink("release-2.tar", &link).unwrap();
    let out = run(&[
        "copy",
        "-q",
        "--repo",
        "nomatch",
        &oci(dir.path()),
        &format!("oci-archive:{}", link.display()),
    ]);
    assert_exit_code(&out, 4);
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    assert!(!carry.path().join("release-2.tar").exists());
}

/// An archive updated through a link keeps its own format, whatever the link is named.
#[test]
fn an_archive_updated_through_a_link_named_otherwise_keeps_its_compression() {
    let (dir, expected) = sample_layout(2, 4);
    let carry = tempfile::tempdir().unwrap();
    let real = carry.path().join("real.tar.gz");
    let (first, _) = expected.tags.iter().next().unwrap();
    assert_success(&run(&[
        "copy",
        "-q",
        "--repo",
        first,
        &oci(dir.path()),
        &format!("oci-archive:{}", real.display()),
    ]));
    let link = carry.path().join("current.tar");
    std::os::unix::fs::symlink("real.tar.gz", &link).unwrap();
    assert_success(&run(&[
        "copy",
        "-q",
        &oci(dir.path()),
        &format!("oci-archive:{}", link.display()),
    ]));
    let bytes = std::fs::read(&real).unwrap();
    assert_eq!(&bytes[..2], &[0x1f, 0x8b], "real.tar.gz is no longer gzip");
    assert_holds(
        &open(&format!("oci-archive:{}", real.display())),
        &expected.tags,
        None,
    );
}

/// An index child whose file is gone fails the tags of that index alone: the other tags of its
/// repository, and every other repository, arrive (the child is no referrer that could belong
/// to them).
#[test]
fn a_missing_index_child_fails_only_the_tags_of_its_index() {
    let (dir, expected) = sample_layout(3, 6);
    let root = dir.path().join("sample");
    let repo = "team/svc-1";
    let index_digest = expected.tags[repo]["v1.0.0"].clone();
    assert_ne!(index_digest, expected.tags[repo]["v1.1.0"]);
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout_blob(&root, &index_digest)).unwrap()).unwrap();
    let child: acr_relocate::digest::Digest = index["manifests"][0]["digest"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    std::fs::remove_file(layout_blob(&root, &child)).unwrap();
    let out_dir = tempfile::tempdir().unwrap();
    let target = format!("oci:{}", out_dir.path().join("out").display());
    let out = run(&["copy", "--json", &oci(dir.path()), &target]);
    assert_exit_code(&out, 1);
    let report = json(&out);
    let failed: Vec<&str> = report["source_incomplete"]
        .as_array()
        .unwrap()
        .iter()
        .chain(report["failed"].as_array().unwrap())
        .map(|p| p["item"].as_str().unwrap())
        .collect();
    assert!(
        failed
            .iter()
            .all(|item| item.starts_with(&format!("{repo}:v1.0.0"))
                || item.starts_with(&format!("{repo}@{child}"))),
        "{report}"
    );
    let mut arrived = expected.tags.clone();
    arrived.get_mut(repo).unwrap().remove("v1.0.0");
    assert_holds(&open(&target), &arrived, None);
}

/// A tag whose manifest file in a layout source was changed on disk (its bytes no longer hash to
/// its name) is damaged in the source: the copy lists it with the items the source cannot give
/// (not as a failure a rerun may mend), and verify lists it as broken in the source, not as
/// missing in the target.
#[test]
fn a_manifest_changed_on_disk_in_a_layout_source_is_reported_as_damaged_in_the_source() {
    let (dir, expected) = sample_layout(2, 6);
    let root = dir.path().join("sample");
    let repo = "team/svc-1";
    let damaged = expected.tags[repo]["v1.1.0"].clone();
    let path = layout_blob(&root, &damaged);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.extend_from_slice(b"\n");
    std::fs::write(&path, bytes).unwrap();
    let out_dir = tempfile::tempdir().unwrap();
    let target = format!("oci:{}", out_dir.path().join("out").display());

    let out = run(&["copy", "--json", &oci(dir.path()), &target]);
    assert_exit_code(&out, 1);
    let report = json(&out);
    let item = format!("{repo}:v1.1.0");
    let listed = report["source_incomplete"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["item"] == item.as_str())
        .unwrap_or_else(|| panic!("{item} among the incomplete source's items: {report}"));
    let reason = listed["reason"].as_str().unwrap();
    assert!(
        reason.contains(&format!("manifest {damaged}"))
            && reason.contains("is damaged in the SOURCE"),
        "{reason}"
    );
    assert_eq!(report["failed"].as_array().unwrap().len(), 0, "{report}");
    assert_eq!(report["failed_refused"], 0, "{report}");

    let out = run(&["verify", "--json", &oci(dir.path()), &target]);
    assert_exit_code(&out, 1);
    let report = json(&out);
    let items = |key: &str| -> Vec<String> {
        report[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["item"].as_str().unwrap().to_string())
            .collect()
    };
    assert!(items("broken_in_source").contains(&item), "{report}");
    assert!(!items("missing").contains(&item), "{report}");
}

/// A run killed outright while it reads or writes an archive leaves the directory it unpacked it
/// into (as large as the archive unpacked) in `$TMPDIR`: the next run that opens an archive
/// removes it, since no process holds its lock, and leaves alone one whose run is alive.
#[test]
fn the_unpacked_archive_of_a_killed_run_is_removed_by_the_next_and_a_live_ones_kept() {
    let (layout, _) = sample_layout(1, 3);
    let carry = tempfile::tempdir().unwrap();
    let archive = format!(
        "oci-archive:{}",
        carry.path().join("registry.tar").display()
    );
    assert_success(&run(&["copy", "-q", &oci(layout.path()), &archive]));
    let tmp = tempfile::tempdir().unwrap();
    let dead = tmp.path().join("acr-relocate-archive-Kd9x2Q");
    std::fs::create_dir_all(dead.join("layout/blobs")).unwrap();
    std::fs::write(dead.join("owner.lock"), b"").unwrap();
    std::fs::write(dead.join("layout/blobs/big"), vec![0u8; 4096]).unwrap();
    let live = tmp.path().join("acr-relocate-archive-Lv3m8P");
    std::fs::create_dir_all(&live).unwrap();
    std::fs::write(live.join("owner.lock"), b"").unwrap();
    // A live run's lock, held by another process for the length of the test (bounded).
    // (The shell takes the lock on a descriptor, then becomes `sleep`, which keeps it: one
    // process, killed at the end.)
    let mut holder = std::process::Command::new("sh")
        .arg("-c")
        .arg("exec 9>\"$1\" && flock -x 9 && exec sleep 60")
        .arg("sh")
        .arg(live.join("owner.lock"))
        .spawn()
        .expect("sh and flock (util-linux)");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let locked = || {
        std::process::Command::new("flock")
            .args(["-n", "-x"])
            .arg(live.join("owner.lock"))
            .arg("true")
            .status()
            .is_ok_and(|s| !s.success())
    };
    while !locked() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_acr-relocate"))
        .args(["inventory", &archive])
        .env("TMPDIR", tmp.path())
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let _ = holder.kill();
    let _ = holder.wait();
    assert_success(&out);
    assert!(!dead.exists(), "the killed run's directory is still there");
    assert!(
        live.join("owner.lock").exists(),
        "a live run's directory was removed"
    );
    let left: Vec<String> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        left,
        ["acr-relocate-archive-Lv3m8P"],
        "its own was not removed"
    );
}

/// A layout's blobs are one file each, shared by its repositories: one repository may find a
/// blob present while another is still finishing it. That is no second upload, and the copy
/// must not say the target refused a mount (a layout has none). A race, so tried a few times.
#[test]
fn a_copy_into_a_layout_never_reports_blobs_uploaded_again() {
    let (dir, _) = sample_layout(8, 4);
    for round in 0..5 {
        let target = tempfile::tempdir().unwrap();
        let out = run(&["copy", "--json", &oci(dir.path()), &oci(target.path())]);
        assert_success(&out);
        let summary = json(&out);
        assert_eq!(summary["blobs_copied_again"], 0, "round {round}: {summary}");
        assert!(
            !stderr(&out).contains("refused a mount"),
            "{}",
            stderr(&out)
        );
    }
}

/// An empty file named as an archive TARGET (`mktemp --suffix .tar` makes one) is a new
/// archive: written, then read back whole.
#[test]
fn an_empty_file_as_the_target_archive_is_written_as_a_new_one() {
    let (dir, expected) = sample_layout(2, 7);
    let archive = dir.path().join("made-by-mktemp.tar");
    std::fs::write(&archive, b"").unwrap();
    let target = format!("oci-archive:{}", archive.display());
    assert_success(&run(&["copy", "-q", &oci(dir.path()), &target]));
    assert!(std::fs::metadata(&archive).unwrap().len() > 0);
    let out = run(&["inventory", "--json", &target]);
    assert_success(&out);
    assert_eq!(json(&out)["totals"]["tags"], expected.tag_count() as u64);
}

/// A layout made by hand or by another tool, with `oci-layout` and `index.json` and no
/// `blobs/sha256`, is copied into as any other: the directory is made, no tag fails.
#[test]
fn a_layout_without_its_blobs_directory_is_copied_into() {
    let (src_dir, _) = sample_layout(2, 47);
    let src = oci(src_dir.path());
    let out_dir = tempfile::tempdir().unwrap();
    let root = out_dir.path().join("handmade");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(root.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    std::fs::write(
        root.join("index.json"),
        r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#,
    )
    .unwrap();
    let target = format!("oci:{}", root.display());
    assert_success(&run(&["copy", "-q", &src, &target]));
    assert_success(&run(&["verify", "--deep", &src, &target]));
}
