//! What a registry or its token service refuses, and how it is said: messages that never echo the
//! credentials, a mount refused for want of rights on its `from` repository (uploaded instead, as
//! docker push does), a missing right named, a token service that fails or is not trusted named as
//! such (not as wrong credentials), and `-vv` showing every request, token requests included.

use std::collections::{HashMap, HashSet};
use std::process::Output;

use serde_json::json;

use crate::support::http::{Request, Response, Server};
use crate::support::issuer::{token_registry, Issuer, Policy, ISSUER, SERVICE};
use crate::support::mount_proxy::forward;
use crate::support::pki::Tls;
use crate::support::redirect::{RedirectingRegistry, SAS_SIG};
use crate::support::registry::{Auth, AuthRegistry};
use crate::support::*;
use crate::util::{assert_exit_code, assert_success, oci, sample_layout, stderr, stdout};

const USER: &str = "alice";
const PASSWORD: &str = "alicepw";
const READER: &str = "reader";
const READER_PASSWORD: &str = "reader-Pw5";

fn users() -> HashMap<String, String> {
    HashMap::from([
        (USER.to_string(), PASSWORD.to_string()),
        (READER.to_string(), READER_PASSWORD.to_string()),
    ])
}

/// The password, its Basic form, and every token the issuer handed out (and their signatures).
fn secrets_of(issuer: Option<&Issuer>) -> Vec<String> {
    let mut secrets = vec![PASSWORD.to_string(), basic_auth(USER, PASSWORD)];
    for t in issuer.map(Issuer::tokens).unwrap_or_default() {
        secrets.push(t.rsplit('.').next().unwrap().to_string());
        secrets.push(t);
    }
    secrets
}

/// A registry behind a proxy that wants Basic credentials (`USER`:`PASSWORD`) and refuses every
/// manifest with HTTP 400, its message echoing the request's `Authorization` header and the
/// credentials it decodes to.
fn echoing_proxy(upstream: u16) -> Server {
    Server::start_raw(move |request: &Request| {
        if request.basic() != Some((USER.to_string(), PASSWORD.to_string())) {
            return Response::new(401, "").header("WWW-Authenticate", "Basic realm=\"echo\"");
        }
        if request.method == "PUT" && request.path.contains("/manifests/") {
            let authorization = request.header("authorization").unwrap_or_default();
            return Response::json(
                400,
                &json!({"errors": [{
                    "code": "DENIED",
                    "message": format!("denied for Authorization: {authorization} ({USER}:{PASSWORD})"),
                }]}),
            );
        }
        let target = match request.query.is_empty() {
            true => request.path.clone(),
            false => format!("{}?{}", request.path, request.query),
        };
        forward(upstream, request, &target)
    })
}

#[test]
fn a_registry_message_that_echoes_the_credentials_shows_none_of_them() {
    let home = tempfile::tempdir().unwrap();
    let registry = crate::util::Registry::start();
    let proxy = echoing_proxy(registry.port);
    let (src, _) = sample_layout(1, 3);
    let creds = format!("{USER}:{PASSWORD}");
    for format in ["--json", "-v"] {
        let out = run_in(
            home.path(),
            &[
                "copy",
                format,
                "--dst-creds",
                &creds,
                &oci(src.path()),
                &proxy.url(),
            ],
            &[],
            None,
        );
        assert_exit_code(&out, 1);
        assert_no_secret(&out, &secrets_of(None));
        let report = stdout(&out);
        assert!(
            report
                .contains("DENIED: denied for Authorization: Basic <redacted> (alice:<redacted>)"),
            "{report}"
        );
    }
}

#[test]
fn a_mount_the_token_service_refuses_is_uploaded_instead_and_every_request_shows_at_vv() {
    let home = tempfile::tempdir().unwrap();
    let (registry, issuer) = token_registry(
        home.path(),
        Policy {
            users: users(),
            lifetime: 60,
            first_scope_only: true,
            ..Policy::default()
        },
    );
    let (src, _) = sample_layout(3, 5);
    let creds = format!("{USER}:{PASSWORD}");
    let copy = run_in(
        home.path(),
        &[
            "copy",
            "-vv",
            "--dst-creds",
            &creds,
            &oci(src.path()),
            &registry.endpoint(),
        ],
        &[],
        None,
    );
    assert_success(&copy);
    let log = stderr(&copy);
    assert!(
        log.contains("refused (") && log.contains("uploading it instead"),
        "{log}"
    );
    // -vv: the token requests, and the query values that say what a request is about.
    assert!(
        log.contains(&format!("GET {} -> 200", issuer.realm())),
        "{log}"
    );
    assert!(
        log.contains(&format!("GET {}/v2/ -> 401", registry.endpoint())),
        "{log}"
    );
    assert!(
        log.contains("/blobs/uploads/?mount=sha256:") && log.contains("&from="),
        "{log}"
    );
    // Refusals are not a registry that ignores mounts: the run never switches to HEAD checks
    // before every upload.
    assert!(
        !log.contains("ignores cross-repository blob mounts")
            && !stdout(&copy).contains("ignores cross-repository mounts"),
        "{log}"
    );
    let verify = run_in(
        home.path(),
        &[
            "verify",
            "--deep",
            "--dst-creds",
            &creds,
            &oci(src.path()),
            &registry.endpoint(),
        ],
        &[],
        None,
    );
    assert_success(&verify);
    for out in [&copy, &verify] {
        assert_no_secret(out, &secrets_of(Some(&issuer)));
    }
}

#[test]
fn a_refusal_names_the_missing_right_and_for_anonymous_access_the_flag() {
    let home = tempfile::tempdir().unwrap();
    let (registry, _issuer) = token_registry(
        home.path(),
        Policy {
            users: users(),
            lifetime: 60,
            anonymous: true,
            read_only: HashSet::from([READER.to_string()]),
            ..Policy::default()
        },
    );
    let (src, _) = sample_layout(1, 9);
    let copy_as = |creds: &[&str]| -> Output {
        let mut args = vec!["copy"];
        args.extend_from_slice(creds);
        let (source, target) = (oci(src.path()), registry.endpoint());
        args.extend([source.as_str(), target.as_str()]);
        run_in(home.path(), &args, &[], None)
    };
    let reader = format!("{READER}:{READER_PASSWORD}");
    let out = copy_as(&["--dst-creds", &reader]);
    assert_exit_code(&out, 1);
    let report = stdout(&out);
    assert!(
        report.contains("the credentials (--dst-creds) may not push to `")
            && report.contains("grant push on it, or leave it out with --exclude-repo"),
        "{report}"
    );
    assert!(!report.contains("no access"), "{report}");
    let out = copy_as(&[]);
    assert_exit_code(&out, 1);
    let report = stdout(&out);
    assert!(
        report.contains("anonymous access may not push to `")
            && report.contains("sign in with --dst-creds"),
        "{report}"
    );
}

#[test]
fn a_token_service_that_fails_is_named_and_not_blamed_on_the_credentials() {
    let home = tempfile::tempdir().unwrap();
    let creds = format!("{USER}:{PASSWORD}");
    // Down from the start: one line, exit 2, after its retries.
    let (registry, _issuer) = token_registry(
        &home.path().join("down"),
        Policy {
            users: users(),
            lifetime: 60,
            fail_after: Some(0),
            ..Policy::default()
        },
    );
    let out = run_in(
        home.path(),
        &["inventory", "--src-creds", &creds, &registry.endpoint()],
        &[],
        None,
    );
    assert_one_line_error(
        &out,
        &[
            &registry.host(),
            "its token service",
            "failed (HTTP 500 on",
            "run the same command again",
        ],
    );
    let err = stderr(&out);
    assert!(
        !err.contains("user name and password") && !err.contains("authentication"),
        "{err}"
    );

    // Down mid-run: the registry is given up as unreachable (exit 3), the service named.
    let (registry, issuer) = token_registry(
        &home.path().join("mid-run"),
        Policy {
            users: users(),
            lifetime: 60,
            fail_after: Some(1),
            ..Policy::default()
        },
    );
    let (src, _) = sample_layout(2, 4);
    let out = run_in(
        home.path(),
        &[
            "copy",
            "--json",
            "--unreachable-after",
            "2",
            "--dst-creds",
            &creds,
            &oci(src.path()),
            &registry.endpoint(),
        ],
        &[],
        None,
    );
    assert_exit_code(&out, 3);
    // The summary of what was done before the stop, and why it stopped.
    let summary: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert!(
        summary["stopped"]
            .as_str()
            .is_some_and(|s| s.contains("its token service")),
        "{summary}"
    );
    let err = stderr(&out);
    assert!(
        err.contains(&format!("its token service {}: HTTP 500", issuer.host()))
            && err.contains("run the same command again"),
        "{err}"
    );
    assert!(!err.contains("user name and password"), "{err}");
}

#[test]
fn a_token_the_registry_refuses_is_said_to_be_the_token_services() {
    let home = tempfile::tempdir().unwrap();
    let (registry, issuer) = token_registry(
        home.path(),
        Policy {
            users: users(),
            lifetime: 60,
            audience: Some("another-registry".into()),
            ..Policy::default()
        },
    );
    let out = run_in(
        home.path(),
        &[
            "inventory",
            "--src-creds",
            &format!("{USER}:{PASSWORD}"),
            &registry.endpoint(),
        ],
        &[],
        None,
    );
    assert_one_line_error(
        &out,
        &[
            &registry.host(),
            &format!(
                "the registry refused the token its token service {} gave",
                issuer.host()
            ),
            "audience",
        ],
    );
    assert!(!stderr(&out).contains("user name and password"));
    assert_no_secret(&out, &secrets_of(Some(&issuer)));
}

#[test]
fn a_token_service_behind_a_private_ca_is_named_and_insecure_for_its_host_alone_works() {
    let home = tempfile::tempdir().unwrap();
    let tls = Tls::generate(&home.path().join("tls"));
    let issuer = Issuer::start_tls(
        home.path(),
        Policy {
            users: users(),
            lifetime: 60,
            ..Policy::default()
        },
        &tls,
    );
    let registry = AuthRegistry::start(
        &Auth::Token {
            realm: issuer.realm(),
            service: SERVICE.into(),
            issuer: ISSUER.into(),
            bundle: issuer.bundle.clone(),
        },
        None,
    );
    let creds = format!("{USER}:{PASSWORD}");
    let inventory = |extra: &[&str]| {
        let mut args = vec!["inventory", "--src-creds", &creds];
        args.extend_from_slice(extra);
        let endpoint = registry.endpoint();
        args.push(&endpoint);
        run_in(home.path(), &args, &[], None)
    };
    let out = inventory(&[]);
    assert_one_line_error(
        &out,
        &[
            &format!("token service {}", issuer.host()),
            "not trusted",
            "--src-ca-cert FILE",
            &format!("--insecure {}", issuer.host()),
        ],
    );
    assert!(
        issuer.log().is_empty(),
        "no credentials went out: {:?}",
        issuer.log()
    );
    assert_success(&inventory(&["--insecure", &issuer.host()]));
    assert_success(&inventory(&["--src-ca-cert", tls.ca.to_str().unwrap()]));
}

#[test]
fn vv_shows_the_storage_hop_of_a_redirected_blob_without_its_signature() {
    let home = tempfile::tempdir().unwrap();
    let (src, _) = sample_layout(1, 2);
    let fake = RedirectingRegistry::start(&src.path().join("sample"), USER, PASSWORD);
    let back = home.path().join("back");
    let out = run_in(
        home.path(),
        &[
            "copy",
            "-vv",
            "--src-creds",
            &format!("{USER}:{PASSWORD}"),
            &fake.endpoint(),
            &format!("oci:{}", back.display()),
        ],
        &[],
        None,
    );
    assert_success(&out);
    let log = stderr(&out);
    let hop = format!("GET http://{}/sas/sha256:", fake.storage_host());
    assert!(
        log.lines()
            .any(|l| l.contains(&hop) && l.contains("?<redacted> -> 200")),
        "{log}"
    );
    assert_no_secret(&out, &[PASSWORD.to_string(), SAS_SIG.to_string()]);
}

/// A registry that answers a push with 403 (as Harbor and Docker Hub do for a repository the
/// account may read but not write) shows its own reason and names the right that may be
/// missing, as a refused token does.
#[test]
fn a_push_refused_with_403_names_the_right_that_may_be_missing() {
    let home = tempfile::tempdir().unwrap();
    let registry = crate::util::Registry::start();
    let upstream = registry.port;
    let proxy = Server::start_raw(move |request: &Request| {
        if request.basic() != Some((USER.to_string(), PASSWORD.to_string())) {
            return Response::new(401, "").header("WWW-Authenticate", "Basic realm=\"forbid\"");
        }
        if request.method != "GET" && request.method != "HEAD" {
            return Response::json(
                403,
                &json!({"errors": [{"code": "DENIED", "message": "requested access to the resource is denied"}]}),
            );
        }
        let target = match request.query.is_empty() {
            true => request.path.clone(),
            false => format!("{}?{}", request.path, request.query),
        };
        forward(upstream, request, &target)
    });
    let (src, _) = sample_layout(1, 3);
    let out = run_in(
        home.path(),
        &[
            "copy",
            "--dst-creds",
            &format!("{USER}:{PASSWORD}"),
            &oci(src.path()),
            &proxy.url(),
        ],
        &[],
        None,
    );
    assert_exit_code(&out, 1);
    let report = stdout(&out);
    assert!(
        report.contains("HTTP 403 DENIED: requested access to the resource is denied (the credentials (--dst-creds) may lack the right to push to `")
            && report.contains("grant push on it, or leave it out with --exclude-repo)"),
        "{report}"
    );
    assert!(
        report.contains("failed, refused: change what each line names"),
        "{report}"
    );
}

/// A token answer cut short (a reset, a body shorter than its length) is asked for again, as
/// any small answer is: neither the run at its start nor a repository mid-run is lost to it.
#[test]
fn a_token_answer_cut_short_is_asked_for_again() {
    let home = tempfile::tempdir().unwrap();
    let (registry, issuer) = token_registry(
        home.path(),
        Policy {
            users: users(),
            lifetime: 60,
            cut_first: 2,
            ..Policy::default()
        },
    );
    let (src, _) = sample_layout(2, 4);
    let out = run_in(
        home.path(),
        &[
            "copy",
            "-q",
            "--dst-creds",
            &format!("{USER}:{PASSWORD}"),
            &oci(src.path()),
            &registry.endpoint(),
        ],
        &[],
        None,
    );
    assert_success(&out);
    let log = issuer.log();
    assert_eq!(log.iter().filter(|l| *l == "cut").count(), 2, "{log:?}");
}
