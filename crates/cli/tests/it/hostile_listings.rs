//! A hostile registry of our own that answers by path and query, with headers: listings whose
//! `Link` headers lead back to a page already read, and names and messages that carry terminal
//! control sequences. The tool must end each with one clear line, in bounded time and memory.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::Arc;

use acr_relocate::digest::Digest;

use crate::util::*;

/// An answer: status, extra header lines (`Name: value`), content type and body.
struct Answer {
    status: u16,
    headers: Vec<String>,
    content_type: &'static str,
    body: Vec<u8>,
}

fn json(body: &str) -> Answer {
    Answer {
        status: 200,
        headers: Vec::new(),
        content_type: "application/json",
        body: body.as_bytes().to_vec(),
    }
}

/// Serves `answer(method, path with query)` on 127.0.0.1 until the test process ends; returns
/// the registry's URL.
fn serve(answer: impl Fn(&str, &str) -> Answer + Send + Sync + 'static) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let answer = Arc::new(answer);
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let answer = answer.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                loop {
                    let mut first = String::new();
                    if reader.read_line(&mut first).unwrap_or(0) == 0 {
                        return;
                    }
                    loop {
                        let mut line = String::new();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                            break;
                        }
                    }
                    let mut parts = first.split_whitespace();
                    let method = parts.next().unwrap_or("").to_string();
                    let target = parts.next().unwrap_or("").to_string();
                    let a = answer(&method, &target);
                    let mut head = format!(
                        "HTTP/1.1 {} X\r\nContent-Type: {}\r\nContent-Length: {}\r\n",
                        a.status,
                        a.content_type,
                        a.body.len()
                    );
                    for h in &a.headers {
                        head.push_str(h);
                        head.push_str("\r\n");
                    }
                    head.push_str("\r\n");
                    if conn.write_all(head.as_bytes()).is_err() {
                        return;
                    }
                    if method != "HEAD" && conn.write_all(&a.body).is_err() {
                        return;
                    }
                }
            });
        }
    });
    format!("http://127.0.0.1:{port}")
}

fn not_found() -> Answer {
    Answer {
        status: 404,
        headers: Vec::new(),
        content_type: "application/json",
        body: br#"{"errors":[{"code":"NAME_UNKNOWN","message":"repository name not known to registry"}]}"#.to_vec(),
    }
}

#[test]
fn a_listing_whose_link_leads_back_to_a_page_already_read_ends_at_once() {
    // Tags: every page names itself as the next; catalog: the same, in a registry of its own.
    let looping = |path: &str| {
        let mut page = json(r#"{"name":"app","tags":["v1","v2"],"repositories":["app"]}"#);
        page.headers = vec![format!("Link: <{path}?n=2&last=v2>; rel=\"next\"")];
        page
    };
    let tags = serve(move |_, target| match target.split('?').next().unwrap() {
        "/v2/" => json("{}"),
        "/v2/_catalog" => json(r#"{"repositories":["app"]}"#),
        "/v2/app/tags/list" => looping("/v2/app/tags/list"),
        _ => not_found(),
    });
    let out = run(&["inventory", &tags]);
    assert_exit_code(&out, 1);
    let shown = stdout(&out) + &stderr(&out);
    assert!(
        shown.contains("FAILED app: cannot list tags")
            && shown.contains("the registry's Link header leads back to a page already read"),
        "{shown}"
    );
    let catalog = serve(move |_, target| match target.split('?').next().unwrap() {
        "/v2/" => json("{}"),
        "/v2/_catalog" => looping("/v2/_catalog"),
        _ => not_found(),
    });
    let out = run(&["inventory", &catalog]);
    assert_exit_code(&out, 2);
    let err = stderr(&out);
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.contains("leads back to a page already read"), "{err}");
}

const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const INDEX: &str = "application/vnd.oci.image.index.v1+json";

/// The config and the layer every image of these tests is made of.
fn config_and_layer() -> (Vec<u8>, Vec<u8>) {
    (
        br#"{"architecture":"amd64","os":"linux"}"#.to_vec(),
        b"layer".to_vec(),
    )
}

/// A descriptor of `bytes` with `media` type.
fn descriptor(media: &str, bytes: &[u8]) -> serde_json::Value {
    serde_json::json!({"mediaType": media, "digest": Digest::of(bytes).to_string(), "size": bytes.len()})
}

/// An image manifest of [`config_and_layer`] with the `extra` fields (a subject, an
/// artifactType, annotations).
fn image_manifest(extra: serde_json::Value) -> Vec<u8> {
    let (config, layer) = config_and_layer();
    let mut manifest = serde_json::json!({
        "schemaVersion": 2, "mediaType": MANIFEST,
        "config": descriptor("application/vnd.oci.image.config.v1+json", &config),
        "layers": [descriptor("application/vnd.oci.image.layer.v1.tar", &layer)],
    });
    for (key, value) in extra.as_object().into_iter().flatten() {
        manifest[key] = value.clone();
    }
    serde_json::to_vec(&manifest).unwrap()
}

/// A registry of one repository `app` whose `tags` point at image manifests, every manifest
/// also served by digest, and `referrers` (subject → the manifests listed for it) answered by
/// the referrers API, each listing after `listing_delay`.
fn serve_app(
    tags: Vec<(&'static str, Vec<u8>)>,
    referrers: Vec<(Digest, Vec<u8>)>,
    listing_delay: std::time::Duration,
) -> String {
    let (config, layer) = config_and_layer();
    let tag_list = serde_json::json!({"name": "app", "tags": tags.iter().map(|(t, _)| *t).collect::<Vec<_>>()}).to_string();
    let manifests: Vec<Vec<u8>> = tags
        .iter()
        .map(|(_, m)| m.clone())
        .chain(referrers.iter().map(|(_, m)| m.clone()))
        .collect();
    serve(move |_, target| {
        let path = target.split('?').next().unwrap();
        let manifest = |bytes: &[u8]| Answer {
            status: 200,
            headers: vec![format!("Docker-Content-Digest: {}", Digest::of(bytes))],
            content_type: MANIFEST,
            body: bytes.to_vec(),
        };
        let blob = |bytes: &[u8]| Answer {
            status: 200,
            headers: Vec::new(),
            content_type: "application/octet-stream",
            body: bytes.to_vec(),
        };
        let Some(rest) = path.strip_prefix("/v2/app/") else {
            return match path {
                "/v2/" => json("{}"),
                "/v2/_catalog" => json(r#"{"repositories":["app"]}"#),
                _ => not_found(),
            };
        };
        if rest == "tags/list" {
            return json(&tag_list);
        }
        if let Some(reference) = rest.strip_prefix("manifests/") {
            let by_tag = tags.iter().find(|(t, _)| *t == reference).map(|(_, m)| m);
            let by_digest = manifests
                .iter()
                .find(|m| Digest::of(m).as_str() == reference);
            return by_tag.or(by_digest).map_or_else(not_found, |m| manifest(m));
        }
        if let Some(subject) = rest.strip_prefix("referrers/") {
            std::thread::sleep(listing_delay);
            let listed: Vec<_> = referrers
                .iter()
                .filter(|(s, _)| s.as_str() == subject)
                .map(|(_, m)| descriptor(MANIFEST, m))
                .collect();
            return Answer {
                content_type: INDEX,
                ..json(&serde_json::json!({"schemaVersion": 2, "mediaType": INDEX, "manifests": listed}).to_string())
            };
        }
        match rest.strip_prefix("blobs/") {
            Some(d) if d == Digest::of(&config).as_str() => blob(&config),
            Some(d) if d == Digest::of(&layer).as_str() => blob(&layer),
            _ => not_found(),
        }
    })
}

#[test]
fn referrers_listings_that_loop_are_not_followed_and_the_walk_ends() {
    let image = image_manifest(serde_json::json!({}));
    let signature = image_manifest(serde_json::json!({
        "artifactType": "application/x-loop",
        "subject": descriptor(MANIFEST, &image),
    }));
    // The signature refers to the image, and the registry also lists the image as a referrer
    // of the signature: each listing leads back to the other.
    let source = serve_app(
        vec![("v1", image.clone())],
        vec![
            (Digest::of(&image), signature.clone()),
            (Digest::of(&signature), image),
        ],
        std::time::Duration::ZERO,
    );
    let dir = tempfile::tempdir().unwrap();
    let target = format!("oci:{}", dir.path().join("copy").display());
    let out = run_at_most(60, &["copy", &source, &target]);
    assert_success(&out);
    let err = stderr(&out);
    assert!(
        err.contains("is listed as a referrer of")
            && err.contains("a loop in the source's referrers listing; not followed"),
        "{err}"
    );
    let out = run_at_most(60, &["verify", "--deep", &source, &target]);
    assert_success(&out);
}

#[test]
fn names_and_messages_with_terminal_control_sequences_are_shown_escaped() {
    let source = serve(|_, target| match target.split('?').next().unwrap() {
        "/v2/" => json("{}"),
        "/v2/_catalog" => {
            json(r#"{"repositories":["app","evil\u001b[2J\u001b]0;PWNED\u0007","other"]}"#)
        }
        "/v2/app/tags/list" => json(r#"{"name":"app","tags":["v1"]}"#),
        "/v2/other/tags/list" => json(r#"{"name":"other","tags":["bad\u001b[31mRED"]}"#),
        _ => Answer {
            status: 404,
            ..json(
                r#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"no \u001b[41mHIGHLIGHTED\u001b[0m manifest"}]}"#,
            )
        },
    });
    let dir = tempfile::tempdir().unwrap();
    let target = format!("oci:{}", dir.path().join("copy").display());
    for args in [
        vec!["inventory", source.as_str()],
        vec!["inventory", "--markdown", source.as_str()],
        vec!["copy", source.as_str(), target.as_str()],
        vec!["verify", source.as_str(), target.as_str()],
    ] {
        let out = run(&args);
        assert_exit_code(&out, 1);
        let shown = stdout(&out) + &stderr(&out);
        assert!(
            !shown.contains('\u{1b}') && !shown.contains('\u{7}'),
            "{args:?}: {shown:?}"
        );
        // (verify says a tag it cannot read is not found, without the registry's message)
        let message =
            (args[0] != "verify").then_some(r"no \u{1b}[41mHIGHLIGHTED\u{1b}[0m manifest");
        for escaped in [r"evil\u{1b}[2J\u{1b}]0;PWNED\u{7}", r"bad\u{1b}[31mRED"]
            .into_iter()
            .chain(message)
        {
            assert!(shown.contains(escaped), "{args:?}: {escaped} in {shown}");
        }
    }
    // A file name of the user's tree, as `rewrite` lists it.
    let tree = tempfile::tempdir().unwrap();
    let name = "x\u{1b}]0;TITLE\u{7}.yaml";
    std::fs::write(tree.path().join(name), "image: old.azurecr.io/app:v1\n").unwrap();
    let out = run(&[
        "rewrite",
        "--from",
        "old.azurecr.io",
        "--to",
        "new.azurecr.io",
        tree.path().to_str().unwrap(),
    ]);
    let shown = stdout(&out) + &stderr(&out);
    assert!(!shown.contains('\u{1b}'), "{shown:?}");
    assert!(shown.contains(r"x\u{1b}]0;TITLE\u{7}.yaml"), "{shown}");
}

#[test]
fn a_listing_that_names_a_manifest_whose_subject_is_another_is_not_followed_so_two_tags_never_wait_on_each_other(
) {
    // Two images with no subject, v1 → A and v2 → B; the registry lists B as a referrer of A and
    // A as a referrer of B. Two tags walked at once enter that listing from opposite ends (slow
    // listings: both tags are inside their listing before either reads the other).
    let (first, second) = (
        image_manifest(serde_json::json!({"annotations": {"n": "1"}})),
        image_manifest(serde_json::json!({"annotations": {"n": "2"}})),
    );
    let (a, b) = (Digest::of(&first), Digest::of(&second));
    let source = serve_app(
        vec![("v1", first.clone()), ("v2", second.clone())],
        vec![(a.clone(), second), (b.clone(), first)],
        std::time::Duration::from_millis(100),
    );
    let dir = tempfile::tempdir().unwrap();
    for run in 0..20 {
        // The last run copies again into a target that holds both images: the entries are
        // then pruned, and still checked before their own listings are followed.
        let target = format!(
            "oci:{}",
            dir.path().join(format!("copy{}", run.min(18))).display()
        );
        let out = run_at_most(30, &["copy", &source, &target]);
        assert_success(&out);
        let err = stderr(&out);
        for (referrer, subject) in [(&b, &a), (&a, &b)] {
            let warning =
                format!("{referrer} is listed as a referrer of {subject}, but its subject is none");
            assert!(err.contains(&warning), "run {run}: {warning} in {err}");
        }
        let done = if run < 19 {
            "copied 2 of 2 tags"
        } else {
            "copied 0 of 2 tags in 1 repository (2 already up to date)"
        };
        assert!(
            stdout(&out).contains(done) || err.contains(done),
            "run {run}: {}{err}",
            stdout(&out)
        );
    }
}

#[test]
fn an_index_that_refers_to_a_manifest_it_also_lists_as_a_child_is_valid_and_copied_whole() {
    // Valid by the spec, and a loop for a walk that follows both children and referrers: an
    // index R whose subject is S and that lists S among its manifests. S's referrers lead to R,
    // and R's children back to S, already walked above.
    let (dir, expected) = sample_layout(1, 23);
    let root = dir.path().join("sample");
    let (repo, subject, _) = expected.referrers[0].clone();
    let bytes = std::fs::read(layout_blob(&root, &subject)).unwrap();
    let media_type = serde_json::from_slice::<serde_json::Value>(&bytes).unwrap()["mediaType"]
        .as_str()
        .unwrap()
        .to_string();
    let descriptor = serde_json::json!({"mediaType": media_type, "digest": subject.as_str(), "size": bytes.len()});
    let index_type = "application/vnd.oci.image.index.v1+json";
    let index = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "mediaType": index_type,
        "artifactType": "application/vnd.example.bundle",
        "manifests": [descriptor],
        "subject": descriptor,
    }))
    .unwrap();
    let index = add_layout_manifest(&root, &repo, None, index_type, &index);

    // Walked from S's tag only (R is untagged): R is met as a referrer of S, and S again below
    // R, noted at -v as already walked above. Walked from both at once (R is a root of its own
    // in a copy of everything): neither walk waits on the other.
    let source = oci(dir.path());
    for (run, only_tagged) in (0..8).map(|run| (run, run < 2)) {
        let target = tempfile::tempdir().unwrap();
        let target = format!("oci:{}", target.path().join("copy").display());
        let mut args = vec!["copy", "-v", source.as_str(), target.as_str()];
        if only_tagged {
            args.insert(1, "--tagged-only");
        }
        let out = run_at_most(30, &args);
        assert_success(&out);
        let err = stderr(&out);
        assert!(!err.contains("warning"), "run {run}: {err}");
        assert!(
            !only_tagged
                || err.contains(&format!(
                    "{subject} is reached again below itself (a child of {index}); already walked above"
                )),
            "run {run}: {err}"
        );
        let store = open(&target);
        assert_eq!(
            block_on(store.manifest_digest(&repo, index.as_str())).unwrap(),
            Some(index.clone())
        );
        assert_success(&run_at_most(30, &["verify", "--deep", &source, &target]));
    }
}

#[test]
fn a_fallback_tag_that_cannot_be_read_while_selecting_fails_alone_not_the_repository() {
    let (config, layer) = config_and_layer();
    let image = image_manifest(serde_json::json!({}));
    let a = Digest::of(&image);
    // v1's fallback tag is refused (403); another describing tag (of a
    // manifest no tag names) is left unmatched, so the fallback tag taken is read to see what
    // it brings.
    let fallback = a.as_str().replacen(':', "-", 1);
    let other = format!("sha256-{}", "0".repeat(64));
    let tags = serde_json::json!({"name": "app", "tags": ["v1", fallback, other]}).to_string();
    let served = (fallback.clone(), a.clone());
    let source = serve(move |_, target| {
        let path = target.split('?').next().unwrap();
        let (fallback, a) = (&served.0, &served.1);
        let manifest = |bytes: &[u8]| Answer {
            status: 200,
            headers: vec![format!("Docker-Content-Digest: {}", Digest::of(bytes))],
            content_type: MANIFEST,
            body: bytes.to_vec(),
        };
        match path {
            "/v2/" => json("{}"),
            "/v2/_catalog" => json(r#"{"repositories":["app"]}"#),
            "/v2/app/tags/list" => json(&tags),
            "/v2/app/manifests/v1" => manifest(&image),
            p if p == format!("/v2/app/manifests/{a}") => manifest(&image),
            p if p == format!("/v2/app/manifests/{fallback}") => Answer {
                status: 403,
                ..json(r#"{"errors":[{"code":"DENIED","message":"not for you"}]}"#)
            },
            p if p == format!("/v2/app/blobs/{}", Digest::of(&config)) => Answer {
                content_type: "application/octet-stream",
                ..json(std::str::from_utf8(&config).unwrap())
            },
            p if p == format!("/v2/app/blobs/{}", Digest::of(&layer)) => Answer {
                content_type: "application/octet-stream",
                ..json("layer")
            },
            _ => not_found(),
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let target = format!("oci:{}", dir.path().join("copy").display());
    let out = run_at_most(
        60,
        &["copy", "-v", "--tag", "v1", "--json", &source, &target],
    );
    let err = stderr(&out);
    assert!(
        err.contains(&format!("app:{fallback}: not read while selecting tags"))
            && err.contains("taken as listing nothing"),
        "{err}{}",
        stdout(&out)
    );
    let summary = crate::util::json(&out);
    assert_eq!(summary["tags_copied"], 1, "{summary}");
    let failed = summary["failed"].as_array().unwrap();
    assert_eq!(failed.len(), 1, "{summary}");
    assert_eq!(failed[0]["item"], format!("app:{fallback}"), "{summary}");
}
