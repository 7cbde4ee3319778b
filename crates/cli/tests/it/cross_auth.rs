//! Extra tier (issue #5): a copy between two registries that sign in differently — htpasswd over
//! TLS (a CA made for the test) as the source, token auth through our issuer as the target —
//! checked by `../shared/bench/verify.py` and by our own `verify --deep`, with no secret in any
//! output. Run by `.ci/run` with `cargo test -- --ignored`.
//!
//! verify.py (through `reglib.py`) speaks both sign-ins: Basic when the registry challenges with
//! Basic, and the docker token protocol (`GET realm?service=…&scope=…` with Basic credentials) when
//! it challenges with Bearer. It does not verify TLS (`ssl._create_unverified_context()`), so it
//! takes no CA; the test still points `SSL_CERT_FILE` at the test CA so the check keeps working
//! should it start verifying. It caches one token per scope and never renews it: the issuer's
//! token lifetime here is longer than the run.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Instant;

use crate::support::issuer::{token_registry, Policy};
use crate::support::pki::Tls;
use crate::support::registry::{htpasswd, Auth, AuthRegistry};
use crate::support::{assert_no_secret, basic_auth, run_in};
use crate::util::assert_success;

const SRC_USER: &str = "src-relocator";
const SRC_PASSWORD: &str = "src-pw-Hq7vLm2Rx";
const DST_USER: &str = "dst-relocator";
const DST_PASSWORD: &str = "dst-pw-Tk4nWz9Yc";
const WRONG_PASSWORD: &str = "wrong-pw-Pf3sJd8";

fn bench() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/bench")
}

/// Runs a bench script with python3; `SSL_CERT_FILE` is the test CA.
fn python(script: &Path, args: &[String], ca: &Path, cache: &Path) -> Output {
    Command::new("python3")
        .arg(script)
        .args(args)
        .env("SSL_CERT_FILE", ca)
        .env("BENCH_CACHE", cache)
        .output()
        .expect("python3")
}

fn text(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
#[ignore = "extra tier: needs ../shared/bench/verify.py"]
fn htpasswd_tls_source_to_token_target_verifies_with_bench_verify_py() {
    let verify_py = bench().join("verify.py");
    let populate_py = bench().join("populate.py");
    assert!(
        verify_py.is_file() && populate_py.is_file(),
        "extra tier: {} and populate.py are needed (the ../shared checkout next to the repository)",
        verify_py.display()
    );
    let started = Instant::now();
    let home = tempfile::tempdir().unwrap();
    let work = home.path();

    // Source: htpasswd over TLS, certificate signed by a CA made here.
    let tls = Tls::generate(&work.join("tls"));
    let src = AuthRegistry::start(
        &Auth::Htpasswd(htpasswd(work, SRC_USER, SRC_PASSWORD)),
        Some(&tls),
    );
    let src_url = format!("https://{}", src.host());
    let ca = tls.ca.to_str().unwrap();

    // Target: token auth, tokens from our issuer for DST_USER only.
    let issuer_dir = work.join("issuer");
    let (dst, issuer) = token_registry(
        &issuer_dir,
        Policy {
            users: HashMap::from([(DST_USER.to_string(), DST_PASSWORD.to_string())]),
            lifetime: 600,
            ..Policy::default()
        },
    );
    let dst_url = dst.endpoint(); // http://127.0.0.1:PORT

    // Realistic content, pushed with credentials by the bench's own client (not by our tool):
    // nested names, Docker and OCI images, indexes and lists, Helm charts, cosign-style tags, a
    // repository with many tags; small layers.
    let expected = work.join("expected.json");
    let cache = work.join("bench-cache");
    let out = python(
        &populate_py,
        &[
            "--registry".into(),
            src_url.clone(),
            "--creds".into(),
            format!("{SRC_USER}:{SRC_PASSWORD}"),
            "--profile".into(),
            "small".into(),
            "--seed".into(),
            "5".into(),
            "--repos".into(),
            "6".into(),
            "--many-tags".into(),
            "20".into(),
            "--out".into(),
            expected.to_str().unwrap().into(),
        ],
        &tls.ca,
        &cache,
    );
    assert!(out.status.success(), "populate.py: {}", text(&out));
    let populated = String::from_utf8_lossy(&out.stdout).trim().to_string();
    eprintln!("{populated}");

    // The copy, at -vv, creds and CA on the command line.
    let src_creds = format!("{SRC_USER}:{SRC_PASSWORD}");
    let dst_creds = format!("{DST_USER}:{DST_PASSWORD}");
    let src_endpoint = src.endpoint();
    // Runs `COMMAND... SRC DST` with both sides' credentials and the source's CA as flags.
    let run_with_both_creds = |command: &[&str]| {
        let mut args = command.to_vec();
        args.extend([
            "--src-creds",
            &src_creds,
            "--src-ca-cert",
            ca,
            "--dst-creds",
            &dst_creds,
            &src_endpoint,
            &dst_url,
        ]);
        run_in(work, &args, &[], None)
    };
    let copy = run_with_both_creds(&["copy", "-vv"]);
    assert_success(&copy);
    let tokens_after_copy = issuer.tokens().len();
    assert!(
        tokens_after_copy > 0,
        "the copy took tokens from the issuer"
    );

    // The bench's independent checker, with both sides' credentials; --strict: the target was
    // empty, so it must hold nothing more than the source.
    let issuer_log_before = issuer.log().len();
    let bench_verify = python(
        &verify_py,
        &[
            src_url.clone(),
            dst_url.clone(),
            "--expected".into(),
            expected.to_str().unwrap().into(),
            "--src-creds".into(),
            src_creds.clone(),
            "--dst-creds".into(),
            dst_creds.clone(),
            "--strict".into(),
        ],
        &tls.ca,
        &cache,
    );
    let line = String::from_utf8_lossy(&bench_verify.stdout)
        .trim()
        .to_string();
    eprintln!("{line}");
    assert_eq!(
        bench_verify.status.code(),
        Some(0),
        "verify.py: {}",
        text(&bench_verify)
    );
    let tags = serde_json::from_slice::<serde_json::Value>(&std::fs::read(&expected).unwrap())
        .unwrap()["tags"]
        .as_u64()
        .unwrap();
    assert!(tags > 0);
    assert!(
        line.starts_with(&format!(
            "verify: {tags} tags ok, 0 missing, 0 mismatched ("
        )) && line.ends_with(") OK"),
        "verify.py: {}",
        text(&bench_verify)
    );
    // verify.py really went through the token protocol of the target, with Basic credentials.
    let log = issuer.log();
    let its_requests = &log[issuer_log_before..];
    assert!(!its_requests.is_empty(), "verify.py took no token");
    assert!(
        its_requests.iter().all(|l| l == "GET basic"),
        "{its_requests:?}"
    );

    // The credentials matter: a wrong target password is refused by the issuer, verify.py says
    // so (exit 2) without showing it.
    let wrong = python(
        &verify_py,
        &[
            src_url.clone(),
            dst_url.clone(),
            "--src-creds".into(),
            src_creds.clone(),
            "--dst-creds".into(),
            format!("{DST_USER}:{WRONG_PASSWORD}"),
        ],
        &tls.ca,
        &cache,
    );
    assert_eq!(wrong.status.code(), Some(2), "verify.py: {}", text(&wrong));

    // Our own deep verify agrees.
    let ours = run_with_both_creds(&["verify", "--deep"]);
    assert_success(&ours);

    // No password, Basic header value or token anywhere in any output.
    let mut secrets = vec![
        SRC_PASSWORD.to_string(),
        DST_PASSWORD.to_string(),
        WRONG_PASSWORD.to_string(),
        basic_auth(SRC_USER, SRC_PASSWORD),
        basic_auth(DST_USER, DST_PASSWORD),
    ];
    for t in issuer.tokens() {
        secrets.push(t.rsplit('.').next().unwrap().to_string());
        secrets.push(t);
    }
    for out in [&copy, &bench_verify, &wrong, &ours] {
        assert_no_secret(out, &secrets);
    }
    eprintln!(
        "with a wrong target password: {}",
        String::from_utf8_lossy(&wrong.stderr).trim()
    );
    eprintln!(
        "cross_auth: {} tokens issued, {:.1}s in all",
        issuer.tokens().len(),
        started.elapsed().as_secs_f64()
    );
}
