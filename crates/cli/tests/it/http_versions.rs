//! HTTP versions over TLS: by default HTTP/2 (when the registry offers it) carries manifests,
//! listings and upload sessions, and HTTP/1.1 connections carry blob bodies, so uploads are not
//! held to one connection's flow-control window; `--http 1.1` and `--http 2` use one version.

use crate::support::pki::Tls;
use crate::support::registry::{htpasswd, Auth, AuthRegistry};
use crate::support::*;
use crate::util::{assert_success, oci, sample_layout, stderr};

const USER: &str = "relocator";
const PASSWORD: &str = "pw-Hv2x8Lq";

/// One request as the `-vv` log gives it: method, path and HTTP version.
struct Logged {
    method: String,
    url: String,
    version: String,
}

/// The requests logged at `-vv` (`METHOD URL -> STATUS (VERSION, TIME)`).
fn requests(log: &str) -> Vec<Logged> {
    log.lines()
        .filter_map(|line| {
            let (request, answer) = line.split_once(" -> ")?;
            let inside = answer.split_once('(')?.1.strip_suffix(')')?;
            let version = inside.split(',').next()?.to_string();
            let mut words = request.split_whitespace().rev();
            let url = words.next()?.to_string();
            let method = words.next()?.to_string();
            Some(Logged {
                method,
                url,
                version,
            })
        })
        .collect()
}

fn is_blob_body(r: &Logged) -> bool {
    (r.method == "GET" && r.url.contains("/blobs/sha256:"))
        || (r.method == "PUT" && r.url.contains("/blobs/uploads/"))
        || r.method == "PATCH"
}

/// Versions used for blob bodies and for every other request, each sorted and deduplicated.
fn versions_of(log: &str) -> (Vec<String>, Vec<String>) {
    let all = requests(log);
    assert!(all.len() > 10, "too few requests logged:\n{log}");
    let pick = |bodies: bool| {
        let mut v: Vec<String> = all
            .iter()
            .filter(|r| is_blob_body(r) == bodies)
            .map(|r| r.version.clone())
            .collect();
        v.sort();
        v.dedup();
        v
    };
    (pick(true), pick(false))
}

#[test]
fn blob_bodies_go_over_http1_and_the_rest_over_http2_unless_one_version_is_asked() {
    let home = tempfile::tempdir().unwrap();
    let tls = Tls::generate(&home.path().join("tls"));
    let file = htpasswd(home.path(), USER, PASSWORD);
    let first = AuthRegistry::start(&Auth::Htpasswd(file.clone()), Some(&tls));
    let second = AuthRegistry::start(&Auth::Htpasswd(file), Some(&tls));
    let (layout, _expected) = sample_layout(2, 17);
    let ca = tls.ca.to_str().unwrap();
    let creds = format!("{USER}:{PASSWORD}");
    // `verb` with both sides' credentials and the test CA, then `extra`, then the endpoints.
    let run = |verb: &str, from: &str, to: &str, extra: &[&str]| {
        let mut args = vec![
            verb,
            "--src-creds",
            &creds,
            "--dst-creds",
            &creds,
            "--src-ca-cert",
            ca,
            "--dst-ca-cert",
            ca,
        ];
        args.extend_from_slice(extra);
        args.extend_from_slice(&[from, to]);
        let out = run_in(home.path(), &args, &[], None);
        assert_success(&out);
        stderr(&out)
    };
    let copy = |from: &str, to: &str, extra: &[&str]| {
        let mut args = vec!["-vv"];
        args.extend_from_slice(extra);
        run("copy", from, to, &args)
    };
    let http1 = vec!["HTTP/1.1".to_string()];
    let http2 = vec!["HTTP/2.0".to_string()];

    // Pushing from a layout: uploads (PUT with the bytes) over HTTP/1.1, sessions and manifests
    // over HTTP/2.
    let pushed = copy(&oci(layout.path()), &first.endpoint(), &[]);
    assert_eq!(
        versions_of(&pushed),
        (http1.clone(), http2.clone()),
        "{pushed}"
    );

    // Registry to registry: blob GETs and PUTs over HTTP/1.1, the rest over HTTP/2.
    let copied = copy(&first.endpoint(), &second.endpoint(), &[]);
    assert_eq!(
        versions_of(&copied),
        (http1.clone(), http2.clone()),
        "{copied}"
    );
    run("verify", &first.endpoint(), &second.endpoint(), &["--deep"]);

    // One version when asked: the first registry again, each time into a fresh one.
    let third = AuthRegistry::start(
        &Auth::Htpasswd(htpasswd(home.path(), USER, PASSWORD)),
        Some(&tls),
    );
    let only1 = copy(&first.endpoint(), &third.endpoint(), &["--http", "1.1"]);
    assert_eq!(
        versions_of(&only1),
        (http1.clone(), http1.clone()),
        "{only1}"
    );
    let fourth = AuthRegistry::start(
        &Auth::Htpasswd(htpasswd(home.path(), USER, PASSWORD)),
        Some(&tls),
    );
    let only2 = copy(&first.endpoint(), &fourth.endpoint(), &["--http", "2"]);
    assert_eq!(versions_of(&only2), (http2.clone(), http2), "{only2}");
}
