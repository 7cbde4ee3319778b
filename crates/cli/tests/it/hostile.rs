//! A hostile registry: answers each path with fixed bytes, to feed the tool malformed catalogs,
//! tag lists, manifests and error envelopes that no real registry produces on demand. The tool must
//! answer each with one clear line and a distinct exit code, never a panic.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::Arc;

use acr_relocate::digest::Digest;

use crate::util::*;

/// A canned response.
#[derive(Clone)]
struct Canned {
    status: u16,
    content_type: String,
    body: Vec<u8>,
}

fn ok(content_type: &str, body: impl Into<Vec<u8>>) -> Canned {
    Canned {
        status: 200,
        content_type: content_type.into(),
        body: body.into(),
    }
}

/// Serves `routes` (path without query → response) on 127.0.0.1; 404 with an OCI error envelope
/// for anything else. Stops when the test process ends.
fn serve(routes: HashMap<String, Canned>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let routes = Arc::new(routes);
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let routes = routes.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(conn.try_clone().unwrap());
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
                let path = parts
                    .next()
                    .unwrap_or("")
                    .split('?')
                    .next()
                    .unwrap_or("")
                    .to_string();
                let canned = routes.get(&path).cloned().unwrap_or(Canned {
                    status: 404,
                    content_type: "application/json".into(),
                    body: br#"{"errors":[{"code":"NAME_UNKNOWN","message":"repository name not known to registry"}]}"#.to_vec(),
                });
                let digest = if canned.status == 200 && path.contains("/manifests/") {
                    format!("Docker-Content-Digest: {}\r\n", Digest::of(&canned.body))
                } else {
                    String::new()
                };
                let head = format!(
                    "HTTP/1.1 {} X\r\nContent-Type: {}\r\n{digest}Content-Length: {}\r\nConnection: close\r\n\r\n",
                    canned.status,
                    canned.content_type,
                    canned.body.len()
                );
                let _ = conn.write_all(head.as_bytes());
                if method != "HEAD" {
                    let _ = conn.write_all(&canned.body);
                }
            });
        }
    });
    port
}

fn registry_with(extra: &[(&str, Canned)]) -> String {
    let mut routes: HashMap<String, Canned> = HashMap::new();
    routes.insert("/v2/".into(), ok("application/json", "{}"));
    routes.insert(
        "/v2/_catalog".into(),
        ok("application/json", r#"{"repositories":["app"]}"#),
    );
    routes.insert(
        "/v2/app/tags/list".into(),
        ok("application/json", r#"{"name":"app","tags":["v1"]}"#),
    );
    for (path, canned) in extra {
        routes.insert(path.to_string(), canned.clone());
    }
    format!("http://127.0.0.1:{}", serve(routes))
}

fn copy_from(source: &str) -> (Option<i32>, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let target = format!("oci:{}", dir.path().join("t").display());
    let out = run(&["copy", "-q", source, &target]);
    (out.status.code(), stdout(&out), stderr(&out))
}

#[test]
fn a_catalog_that_is_not_json_is_a_one_line_error() {
    let src = registry_with(&[("/v2/_catalog", ok("application/json", "<html>oops</html>"))]);
    let (code, _, err) = copy_from(&src);
    assert_eq!(code, Some(2));
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.contains("not a valid listing"), "{err}");
}

#[test]
fn a_broken_tag_list_fails_that_repository_only() {
    let src = registry_with(&[(
        "/v2/app/tags/list",
        ok("application/json", r#"{"tags": 42}"#),
    )]);
    let (code, out, _) = copy_from(&src);
    assert_eq!(code, Some(1));
    assert!(out.contains("FAILED app: cannot list tags"), "{out}");
}

#[test]
fn malformed_manifests_fail_their_tag_with_the_reason() {
    for (body, content_type, needle) in [
        (
            "not json",
            "application/vnd.oci.image.manifest.v1+json",
            "not a valid manifest",
        ),
        ("{}", "application/json", "neither `manifests` nor `config`"),
        (
            r#"{"schemaVersion":2,"config":{"digest":"md5:00","size":1,"mediaType":"x"},"layers":[]}"#,
            "application/vnd.oci.image.manifest.v1+json",
            "digest",
        ),
        (
            r#"{"schemaVersion":2,"mediaType":"application/vnd.example.thing+json"}"#,
            "text/plain",
            "neither",
        ),
    ] {
        let src = registry_with(&[("/v2/app/manifests/v1", ok(content_type, body))]);
        let (code, out, err) = copy_from(&src);
        assert_eq!(code, Some(1), "{body}: {out}{err}");
        assert!(
            out.contains("FAILED app:v1") && out.contains(needle),
            "{body}: {out}"
        );
    }
}

#[test]
fn an_absurdly_large_manifest_is_refused() {
    let huge = vec![b' '; 5 * 1024 * 1024];
    let src = registry_with(&[(
        "/v2/app/manifests/v1",
        ok("application/vnd.oci.image.manifest.v1+json", huge),
    )]);
    let (code, out, _) = copy_from(&src);
    assert_eq!(code, Some(1));
    assert!(out.contains("larger than"), "{out}");
}

#[test]
fn a_schema1_manifest_is_skipped_with_its_reason() {
    let s1 = r#"{"schemaVersion":1,"name":"app","tag":"v1","fsLayers":[],"history":[]}"#;
    let src = registry_with(&[(
        "/v2/app/manifests/v1",
        ok(
            "application/vnd.docker.distribution.manifest.v1+prettyjws",
            s1,
        ),
    )]);
    let (code, out, _) = copy_from(&src);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("skipped app:v1") && out.contains("schema 1"),
        "{out}"
    );
}

#[test]
fn indexes_nested_too_deep_are_refused() {
    // A chain of indexes, each the only child of the one above: 12 levels.
    let mut routes: Vec<(String, Canned)> = Vec::new();
    let mut child: Option<(Digest, usize)> = None;
    let leaf = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[]}"#.to_string();
    let mut body = leaf;
    for _ in 0..12 {
        let digest = Digest::of(body.as_bytes());
        routes.push((
            format!("/v2/app/manifests/{digest}"),
            ok(
                if child.is_none() {
                    "application/vnd.oci.image.manifest.v1+json"
                } else {
                    "application/vnd.oci.image.index.v1+json"
                },
                body.clone(),
            ),
        ));
        child = Some((digest.clone(), body.len()));
        let (d, size) = child.clone().unwrap();
        body = format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"{d}","size":{size}}}]}}"#
        );
    }
    routes.push((
        "/v2/app/manifests/v1".into(),
        ok("application/vnd.oci.image.index.v1+json", body),
    ));
    let refs: Vec<(&str, Canned)> = routes
        .iter()
        .map(|(p, c)| (p.as_str(), c.clone()))
        .collect();
    let src = registry_with(&refs);
    let (code, out, _) = copy_from(&src);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("nest deeper than"), "{out}");
}

#[test]
fn a_child_served_with_other_bytes_is_a_digest_mismatch() {
    let wrong = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[]}"#;
    let claimed = Digest::of(b"something else");
    let index = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{claimed}","size":{}}}]}}"#,
        wrong.len()
    );
    let child_path = format!("/v2/app/manifests/{claimed}");
    let src = registry_with(&[
        (
            "/v2/app/manifests/v1",
            ok("application/vnd.oci.image.index.v1+json", index),
        ),
        (
            child_path.as_str(),
            ok("application/vnd.oci.image.manifest.v1+json", wrong),
        ),
    ]);
    let (code, out, _) = copy_from(&src);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("does not match its digest"), "{out}");
}

#[test]
fn error_envelopes_are_shown_with_their_code() {
    let src = registry_with(&[("/v2/app/manifests/v1", Canned {
        status: 403,
        content_type: "application/json".into(),
        body: br#"{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"}]}"#.to_vec(),
    })]);
    let (code, out, _) = copy_from(&src);
    assert_eq!(code, Some(1));
    assert!(
        out.contains("HTTP 403 DENIED: requested access to the resource is denied"),
        "{out}"
    );
}
