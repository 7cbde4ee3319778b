//! Sign-in: credential sources (flags, docker config, credential helpers, auth.json, ACR refresh
//! tokens), the token flow against a real token-auth Distribution registry fed by our issuer, TLS
//! with a CA made for the test, redirects that never carry credentials, and secrets that never show.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::json;

use crate::support::issuer::{token_registry, Policy};
use crate::support::pki::Tls;
use crate::support::redirect::{self, RedirectingRegistry};
use crate::support::registry::{htpasswd, Auth, AuthRegistry};
use crate::support::*;
use crate::util::{oci, sample_layout};

const USER: &str = "relocator";
const PASSWORD: &str = "pw-Zq8xKp3vNs";
const ACR_USER: &str = "00000000-0000-0000-0000-000000000000";

fn sample() -> (tempfile::TempDir, acr_relocate::sample::Expected) {
    sample_layout(2, 11)
}

/// Checks a layout holds every tag of `expected` (through the library, not the CLI).
fn assert_layout_holds(dir: &Path, expected: &acr_relocate::sample::Expected) {
    let store = crate::util::open(&format!("oci:{}", dir.display()));
    crate::util::assert_holds(&store, &expected.tags, None);
}

/// Copies `endpoint` (`options` before it) into a new layout `home/back`, with no extra
/// environment and nothing on stdin; asserts success and returns the run and the layout.
fn copy_into_back(home: &Path, options: &[&str], endpoint: &str) -> (Output, PathBuf) {
    let back = home.join("back");
    let back_ep = format!("oci:{}", back.display());
    let mut args = vec!["copy", "-q"];
    args.extend_from_slice(options);
    args.extend([endpoint, &back_ep]);
    let out = run_in(home, &args, &[], None);
    crate::util::assert_success(&out);
    (out, back)
}

fn htpasswd_registry(dir: &Path) -> (AuthRegistry, Tls) {
    let tls = Tls::generate(&dir.join("tls"));
    let file = htpasswd(dir, USER, PASSWORD);
    (AuthRegistry::start(&Auth::Htpasswd(file), Some(&tls)), tls)
}

fn users() -> HashMap<String, String> {
    HashMap::from([(USER.to_string(), PASSWORD.to_string())])
}

#[test]
fn htpasswd_over_tls_with_flags_config_and_helpers() {
    let home = tempfile::tempdir().unwrap();
    let (registry, tls) = htpasswd_registry(home.path());
    let (src, expected) = sample();
    let ca = tls.ca.to_str().unwrap();
    let target = registry.endpoint();

    // --dst-creds USER with the password on stdin, the test CA for the target only.
    let out = run_in(
        home.path(),
        &[
            "copy",
            "-q",
            "--dst-creds",
            USER,
            "--dst-password-stdin",
            "--dst-ca-cert",
            ca,
            &oci(src.path()),
            &target,
        ],
        &[],
        Some(&format!("{PASSWORD}\n")),
    );
    crate::util::assert_success(&out);

    // docker config `auths` (base64 user:password) for the source side.
    docker_config(
        home.path(),
        &json!({"auths": {registry.host(): {"auth": basic_auth(USER, PASSWORD)}}}),
    );
    let (_, back) = copy_into_back(home.path(), &["--src-ca-cert", ca], &target);
    assert_layout_holds(&back, &expected);

    // A credential helper named in credHelpers wins over auths; verify reads through it.
    credential_helper(home.path(), "acrtest", &registry.host(), USER, PASSWORD);
    docker_config(
        home.path(),
        &json!({
            "auths": {registry.host(): {"auth": basic_auth(USER, "not-the-password")}},
            "credHelpers": {registry.host(): "acrtest"},
        }),
    );
    let out = run_in(
        home.path(),
        &["verify", "--dst-ca-cert", ca, &oci(src.path()), &target],
        &[],
        None,
    );
    crate::util::assert_success(&out);

    // credsStore that does not know the host falls through to auths; the containers auth.json
    // ($REGISTRY_AUTH_FILE) serves when docker's config has nothing.
    credential_helper(home.path(), "otherstore", "elsewhere.example", "x", "y");
    docker_config(
        home.path(),
        &json!({
            "credsStore": "otherstore",
            "auths": {format!("https://{}/v1/", registry.host()): {"auth": basic_auth(USER, PASSWORD)}},
        }),
    );
    let out = run_in(
        home.path(),
        &["inventory", "--src-ca-cert", ca, &target],
        &[],
        None,
    );
    crate::util::assert_success(&out);
    docker_config(home.path(), &json!({}));
    let auth_file = home.path().join("auth.json");
    std::fs::write(
        &auth_file,
        json!({"auths": {registry.host(): {"auth": basic_auth(USER, PASSWORD)}}}).to_string(),
    )
    .unwrap();
    let out = run_in(
        home.path(),
        &["inventory", "--src-ca-cert", ca, &target],
        &[("REGISTRY_AUTH_FILE", auth_file.to_str().unwrap())],
        None,
    );
    crate::util::assert_success(&out);

    // --insecure HOST names the host: no CA needed then.
    let out = run_in(
        home.path(),
        &[
            "inventory",
            "--insecure",
            "127.0.0.1",
            "--src-creds",
            &format!("{USER}:{PASSWORD}"),
            &target,
        ],
        &[],
        None,
    );
    crate::util::assert_success(&out);
}

#[test]
fn bad_credentials_tls_and_config_fail_in_one_line_naming_registry_and_source() {
    let home = tempfile::tempdir().unwrap();
    let (registry, tls) = htpasswd_registry(home.path());
    let ca = tls.ca.to_str().unwrap();
    let target = registry.endpoint();
    let host = registry.host();
    let secrets = [PASSWORD.to_string(), "wrong-Pw-9f2k".to_string()];
    let out_dir = home.path().join("out");
    let out_ep = format!("oci:{}", out_dir.display());
    // A copy with the test CA and whatever credentials the tool finds by itself.
    let copy_with_found_credentials = || {
        run_in(
            home.path(),
            &["copy", "--src-ca-cert", ca, &target, &out_ep],
            &[],
            None,
        )
    };

    // Wrong password.
    let out = run_in(
        home.path(),
        &[
            "copy",
            "--src-ca-cert",
            ca,
            "--src-creds",
            &format!("{USER}:wrong-Pw-9f2k"),
            &target,
            &out_ep,
        ],
        &[],
        None,
    );
    assert_one_line_error(&out, &[&host, "--src-creds", "authentication failed"]);
    assert_no_secret(&out, &secrets);

    // No credentials at all.
    let out = copy_with_found_credentials();
    assert_one_line_error(&out, &[&host, "anonymous"]);

    // Unknown CA (no --src-ca-cert): the registry named, exit 2.
    let out = run_in(
        home.path(),
        &[
            "copy",
            "--src-creds",
            &format!("{USER}:{PASSWORD}"),
            &target,
            &out_ep,
        ],
        &[],
        None,
    );
    assert_one_line_error(&out, &[&host]);
    assert_no_secret(&out, &secrets);

    // Wrong password from docker config: the file is named.
    let config = docker_config(
        home.path(),
        &json!({"auths": {host.clone(): {"auth": basic_auth(USER, "wrong-Pw-9f2k")}}}),
    );
    let out = copy_with_found_credentials();
    assert_one_line_error(&out, &[&host, config.to_str().unwrap()]);
    assert_no_secret(
        &out,
        &[secrets[1].clone(), basic_auth(USER, "wrong-Pw-9f2k")],
    );

    // Malformed config.json.
    std::fs::write(
        &config,
        format!(
            "{{\"auths\": {{\"{host}\": {{\"auth\": \"{}\"",
            basic_auth(USER, PASSWORD)
        ),
    )
    .unwrap();
    let out = copy_with_found_credentials();
    assert_one_line_error(&out, &[&host, config.to_str().unwrap(), "not valid JSON"]);
    assert_no_secret(&out, &[basic_auth(USER, PASSWORD)]);

    // A helper that fails, and one that is missing.
    failing_helper(home.path(), "broken");
    docker_config(
        home.path(),
        &json!({"credHelpers": {host.clone(): "broken"}}),
    );
    let out = copy_with_found_credentials();
    assert_one_line_error(&out, &[&host, "docker-credential-broken", "exit 3"]);
    // A credsStore that is not installed is skipped (anonymous access next); the registry's
    // request for credentials then names it.
    docker_config(home.path(), &json!({"credsStore": "nowhere-to-be-found"}));
    let out = copy_with_found_credentials();
    assert_one_line_error(
        &out,
        &[
            &host,
            "needs credentials (HTTP 401)",
            "docker-credential-nowhere-to-be-found (credsStore in",
            "is not installed",
        ],
    );
    assert!(!out_dir.join("index.json").exists(), "nothing written");
}

/// A docker config whose `credsStore` helper is not installed does not stop reads of a registry
/// open to anyone (as skopeo reads it).
#[test]
fn a_credential_store_that_is_not_installed_leaves_anonymous_reads_working() {
    let home = tempfile::tempdir().unwrap();
    let (registry, _) = crate::util::sample_registry(1);
    docker_config(home.path(), &json!({"credsStore": "nowhere-to-be-found"}));
    let out = run_in(home.path(), &["inventory", &registry.url()], &[], None);
    crate::util::assert_success(&out);
}

#[test]
fn token_auth_with_basic_credentials_refreshes_expired_tokens_mid_copy() {
    let home = tempfile::tempdir().unwrap();
    let (registry, issuer) = token_registry(
        home.path(),
        Policy {
            users: users(),
            lifetime: 2,
            stale_first: true,
            unavailable_first: 2,
            ..Policy::default()
        },
    );
    let (src, expected) = sample();
    let out = run_in(
        home.path(),
        &[
            "copy",
            "-q",
            "--dst-creds",
            USER,
            &oci(src.path()),
            &registry.endpoint(),
        ],
        &[("ACR_RELOCATE_DST_PASSWORD", PASSWORD)],
        None,
    );
    crate::util::assert_success(&out);
    // Every repository scope's first token was already expired for the registry: the copy got a
    // 401, fetched a new token and went on.
    let issued = issuer.issued();
    let refreshed: Vec<_> = issued
        .iter()
        .filter(|(scope, n)| scope.starts_with("repository:") && **n >= 2)
        .collect();
    assert!(!refreshed.is_empty(), "no token was refreshed: {issued:?}");
    // Short lifetimes renew before expiry: wait past one and read everything back.
    std::thread::sleep(std::time::Duration::from_millis(2100));
    let (_, back) = copy_into_back(
        home.path(),
        &["--src-creds", &format!("{USER}:{PASSWORD}")],
        &registry.endpoint(),
    );
    assert_layout_holds(&back, &expected);
    // The token endpoint's 503 and 429 were retried; everything else was the docker protocol.
    let log = issuer.log();
    assert_eq!(
        log.iter().filter(|l| *l == "unavailable").count(),
        2,
        "{log:?}"
    );
    assert!(
        log.iter().all(|l| l == "GET basic" || l == "unavailable"),
        "{log:?}"
    );

    // Anonymous callers of a registry that wants sign-in: one line, exit 2.
    let out = run_in(home.path(), &["inventory", &registry.endpoint()], &[], None);
    assert_one_line_error(&out, &[&registry.host(), "anonymous"]);
    // A wrong password, refused by the token endpoint.
    let out = run_in(
        home.path(),
        &[
            "inventory",
            "--src-creds",
            &format!("{USER}:nope-Wr0ng"),
            &registry.endpoint(),
        ],
        &[],
        None,
    );
    assert_one_line_error(&out, &[&registry.host(), "--src-creds", "token endpoint"]);
    assert_no_secret(&out, &["nope-Wr0ng".to_string()]);
}

#[test]
fn a_repository_the_token_does_not_cover_fails_alone() {
    // Signed in, but the token service grants nothing on one repository (an ACR scope map or a
    // Harbor robot account that leaves it out): that repository fails with the reason, the rest
    // of the registry is copied.
    let home = tempfile::tempdir().unwrap();
    let (registry, _issuer) = token_registry(
        home.path(),
        Policy {
            users: HashMap::from([
                (USER.to_string(), PASSWORD.to_string()),
                ("reader".to_string(), "reader-Pw7".to_string()),
            ]),
            lifetime: 60,
            denied: HashSet::from([("reader".to_string(), "team/svc-1".to_string())]),
            ..Policy::default()
        },
    );
    let (src, expected) = sample();
    crate::util::assert_success(&run_in(
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
    ));
    let back = home.path().join("back");
    let out = run_in(
        home.path(),
        &[
            "copy",
            "-q",
            "--src-creds",
            "reader:reader-Pw7",
            &registry.endpoint(),
            &format!("oci:{}", back.display()),
        ],
        &[],
        None,
    );
    crate::util::assert_exit_code(&out, 1);
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        report.contains(
            "may not read `team/svc-1`: grant pull on it, or leave it out with --exclude-repo"
        ),
        "{report}"
    );
    let mut granted = expected.tags.clone();
    granted.retain(|r, _| r != "team/svc-1");
    crate::util::assert_holds(
        &crate::util::open(&format!("oci:{}", back.display())),
        &granted,
        None,
    );
}

#[test]
fn a_registry_that_lists_no_repositories_is_read_by_the_names_given() {
    // Docker Hub and GHCR serve no catalog: their repositories are named with --repo.
    let home = tempfile::tempdir().unwrap();
    let (registry, _issuer) = token_registry(
        home.path(),
        Policy {
            users: users(),
            lifetime: 60,
            no_catalog: true,
            ..Policy::default()
        },
    );
    let (src, expected) = sample();
    let creds = format!("{USER}:{PASSWORD}");
    crate::util::assert_success(&run_in(
        home.path(),
        &[
            "copy",
            "-q",
            "--dst-creds",
            &creds,
            &oci(src.path()),
            &registry.endpoint(),
        ],
        &[],
        None,
    ));
    // verify against it: the target's repositories are asked for by name.
    crate::util::assert_success(&run_in(
        home.path(),
        &[
            "verify",
            "--dst-creds",
            &creds,
            &oci(src.path()),
            &registry.endpoint(),
        ],
        &[],
        None,
    ));
    let back = home.path().join("back");
    let back_ep = format!("oci:{}", back.display());
    // Without names: one line saying what to do.
    let out = run_in(
        home.path(),
        &[
            "copy",
            "-q",
            "--src-creds",
            &creds,
            &registry.endpoint(),
            &back_ep,
        ],
        &[],
        None,
    );
    assert_one_line_error(&out, &["does not list its repositories", "--repo NAME"]);
    // With names: those repositories.
    let mut args = vec!["copy", "-q", "--src-creds", &creds];
    let names: Vec<String> = expected.tags.keys().cloned().collect();
    for name in &names {
        args.extend(["--repo", name.as_str()]);
    }
    // A misspelt name among them answers as an empty repository (the registry cannot say it
    // does not exist): it is named in a warning, the others are copied.
    args.extend(["--repo", "no-such-repo"]);
    let endpoint = registry.endpoint();
    args.extend([endpoint.as_str(), back_ep.as_str()]);
    let out = run_in(home.path(), &args, &[], None);
    crate::util::assert_success(&out);
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("--repo 'no-such-repo' matched nothing in SOURCE"),
        "{said}"
    );
    for name in &names {
        assert!(!said.contains(&format!("'{name}'")), "{said}");
    }
    assert_layout_holds(&back, &expected);
}

#[test]
fn credentials_are_not_sent_to_a_plain_http_token_realm_of_an_https_registry() {
    // A registry on HTTPS whose token realm is plain HTTP (a proxy that terminates TLS and a
    // realm written for the inside): the password would cross the network in clear text.
    let home = tempfile::tempdir().unwrap();
    let issuer = crate::support::issuer::Issuer::start(
        home.path(),
        Policy {
            users: users(),
            lifetime: 60,
            ..Policy::default()
        },
    );
    let tls = Tls::generate(&home.path().join("tls"));
    let registry = AuthRegistry::start(
        &Auth::Token {
            realm: issuer.realm(),
            service: crate::support::issuer::SERVICE.into(),
            issuer: crate::support::issuer::ISSUER.into(),
            bundle: issuer.bundle.clone(),
        },
        Some(&tls),
    );
    let out = run_in(
        home.path(),
        &[
            "inventory",
            "--src-ca-cert",
            tls.ca.to_str().unwrap(),
            "--src-creds",
            &format!("{USER}:{PASSWORD}"),
            &registry.endpoint(),
        ],
        &[],
        None,
    );
    assert_one_line_error(&out, &[&registry.host(), "not on https", "realm"]);
    assert_no_secret(&out, &[PASSWORD.to_string()]);
    assert!(
        issuer.log().is_empty(),
        "the realm was asked: {:?}",
        issuer.log()
    );
}

#[test]
fn acr_refresh_tokens_from_the_exchange_flags_and_identity_tokens() {
    let home = tempfile::tempdir().unwrap();
    let aad = "aad-access-token-Xy7Wq2";
    let (registry, issuer) = token_registry(
        home.path(),
        Policy {
            aad_tokens: HashSet::from([aad.to_string()]),
            expired_refresh_tokens: HashSet::from(["old-refresh-Tk9".to_string()]),
            lifetime: 60,
            ..Policy::default()
        },
    );
    assert!(issuer.exchange("not-an-aad-token").is_err());
    let refresh = issuer.exchange(aad).unwrap();
    let (src, expected) = sample();

    // The documented ACR user name with a refresh token.
    let out = run_in(
        home.path(),
        &[
            "copy",
            "-q",
            "--dst-creds",
            &format!("{ACR_USER}:{refresh}"),
            &oci(src.path()),
            &registry.endpoint(),
        ],
        &[],
        None,
    );
    crate::util::assert_success(&out);
    assert!(
        issuer
            .log()
            .iter()
            .all(|l| l == "POST refresh_token" || l == "POST exchange"),
        "{:?}",
        issuer.log()
    );

    // docker's `identitytoken` (what `az acr login` writes).
    docker_config(
        home.path(),
        &json!({"auths": {registry.host(): {"auth": basic_auth(ACR_USER, ""), "identitytoken": refresh}}}),
    );
    let (_, back) = copy_into_back(home.path(), &[], &registry.endpoint());
    assert_layout_holds(&back, &expected);

    // An expired refresh token: one line naming the registry and the source, no token shown.
    let out = run_in(
        home.path(),
        &[
            "inventory",
            "--src-creds",
            &format!("{ACR_USER}:old-refresh-Tk9"),
            &registry.endpoint(),
        ],
        &[],
        None,
    );
    assert_one_line_error(&out, &[&registry.host(), "--src-creds", "refresh token"]);
    assert_no_secret(&out, &["old-refresh-Tk9".to_string(), refresh.clone()]);
}

#[test]
fn redirected_blobs_never_carry_credentials_or_cookies() {
    let home = tempfile::tempdir().unwrap();
    let (src, expected) = sample();
    let (repo, subject, _) = &expected.referrers[0];
    crate::util::add_signature(&src.path().join("sample"), repo, subject, false);
    let fake = RedirectingRegistry::start(&src.path().join("sample"), USER, PASSWORD);
    let (out, back) = copy_into_back(
        home.path(),
        &["--json", "--src-creds", &format!("{USER}:{PASSWORD}")],
        &fake.endpoint(),
    );
    assert_no_secret(&out, &[PASSWORD.to_string(), redirect::SAS_SIG.to_string()]);
    // Its referrers API answers a page per referrer: every page was read.
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        report["referrers_copied"],
        expected.referrers.len() as u64 + 1,
        "{report}"
    );
    assert!(
        fake.leaks.lock().unwrap().is_empty(),
        "{:?}",
        fake.leaks.lock().unwrap()
    );
    assert!(
        *fake.served.lock().unwrap() > 0,
        "no blob went through the storage host"
    );
    assert_layout_holds(&back, &expected);
}

/// Blob storage refusing the signed URL it was sent to (its signature expired while the request
/// waited for its turn, clocks apart): the registry is asked for a new redirect, once; storage
/// that refuses that one too fails the blob, naming the storage host, not the registry.
#[test]
fn storage_refusing_a_signed_url_gets_a_new_redirect_once_and_is_named_after_that() {
    let home = tempfile::tempdir().unwrap();
    let (src, expected) = sample();
    let fake = RedirectingRegistry::start(&src.path().join("sample"), USER, PASSWORD);
    let creds = format!("{USER}:{PASSWORD}");
    *fake.expire_next.lock().unwrap() = 1;
    let (_, back) = copy_into_back(home.path(), &["--src-creds", &creds], &fake.endpoint());
    assert_eq!(
        *fake.expire_next.lock().unwrap(),
        0,
        "no storage refusal was met"
    );
    assert_layout_holds(&back, &expected);

    // One blob at a time, so that both refusals meet the same blob.
    *fake.expire_next.lock().unwrap() = 2;
    let other = tempfile::tempdir().unwrap();
    let back = other.path().join("back");
    let out = run_in(
        other.path(),
        &[
            "copy",
            "-q",
            "-j",
            "1",
            "--max-jobs",
            "1",
            "--src-creds",
            &creds,
            &fake.endpoint(),
            &format!("oci:{}", back.display()),
        ],
        &[],
        None,
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        said.contains(&fake.storage_host())
            && said.contains("refused the signed URL it gave, twice"),
        "{said}"
    );
    assert_no_secret(&out, &[PASSWORD.to_string(), redirect::SAS_SIG.to_string()]);
}

/// Blob storage on another host whose certificate nothing here trusts (on-premises storage behind
/// a private CA): the copy stops at once with one line naming that host and what to pass.
/// `--insecure` naming the storage host alone, or the CA that signed it, gets every blob, and
/// credentials still never reach the storage host.
#[test]
fn untrusted_blob_storage_is_named_and_insecure_for_that_host_alone_gets_the_blobs() {
    let home = tempfile::tempdir().unwrap();
    let (src, expected) = sample();
    let tls = Tls::generate(&home.path().join("storage-tls"));
    let fake = RedirectingRegistry::start_with_storage(
        &src.path().join("sample"),
        USER,
        PASSWORD,
        Some(tls.server_config()),
    );
    let creds = format!("{USER}:{PASSWORD}");
    let storage = fake.storage_host();
    let back = home.path().join("refused");
    let refused = run_in(
        home.path(),
        &[
            "copy",
            "-q",
            "--src-creds",
            &creds,
            &fake.endpoint(),
            &format!("oci:{}", back.display()),
        ],
        &[],
        None,
    );
    assert_eq!(
        refused.status.code(),
        Some(2),
        "{}",
        crate::util::stderr(&refused)
    );
    assert_one_line_error(
        &refused,
        &[
            &storage,
            "not trusted",
            "--src-ca-cert",
            &format!("--insecure {storage}"),
        ],
    );
    assert_no_secret(
        &refused,
        &[PASSWORD.to_string(), redirect::SAS_SIG.to_string()],
    );
    assert_eq!(*fake.served.lock().unwrap(), 0);
    // A verify reading the blobs' content there stops the same way, in one line (not an error
    // per blob, counted as read).
    let refused = run_in(
        home.path(),
        &[
            "verify",
            "--deep",
            "--content",
            "--dst-creds",
            &creds,
            &format!("oci:{}", src.path().join("sample").display()),
            &fake.endpoint(),
        ],
        &[],
        None,
    );
    assert_eq!(
        refused.status.code(),
        Some(2),
        "{}",
        crate::util::stderr(&refused)
    );
    assert_one_line_error(&refused, &[&storage, "not trusted", "--dst-ca-cert"]);
    assert_eq!(*fake.served.lock().unwrap(), 0);

    let (_, back) = copy_into_back(
        home.path(),
        &["--src-creds", &creds, "--insecure", &storage],
        &fake.endpoint(),
    );
    assert_layout_holds(&back, &expected);
    let ca = tls.ca.to_str().unwrap();
    let other = tempfile::tempdir().unwrap();
    let (_, back) = copy_into_back(
        other.path(),
        &["--src-creds", &creds, "--src-ca-cert", ca],
        &fake.endpoint(),
    );
    assert_layout_holds(&back, &expected);
    assert!(fake.leaks.lock().unwrap().is_empty());
}

#[test]
fn no_secret_shows_in_output_or_report_of_a_full_copy() {
    let home = tempfile::tempdir().unwrap();
    let (src, _expected) = sample();
    let aad = "aad-access-token-Mn4Lk8";
    // Source: blobs redirected to a SAS URL, Basic credentials from docker config.
    let fake = RedirectingRegistry::start(&src.path().join("sample"), USER, PASSWORD);
    // Middle: a token registry signed in with an ACR refresh token from a credential helper.
    let (token_reg, issuer) = token_registry(
        home.path(),
        Policy {
            aad_tokens: HashSet::from([aad.to_string()]),
            lifetime: 2,
            stale_first: true,
            ..Policy::default()
        },
    );
    let refresh = issuer.exchange(aad).unwrap();
    // Target: htpasswd over TLS, password on stdin.
    let tls_home = home.path().join("tls");
    std::fs::create_dir_all(&tls_home).unwrap();
    let (tls_reg, tls) = htpasswd_registry(&tls_home);
    let fake_host = fake.endpoint().trim_start_matches("http://").to_string();
    credential_helper(
        home.path(),
        "acrtest",
        &token_reg.host(),
        ACR_USER,
        &refresh,
    );
    docker_config(
        home.path(),
        &json!({
            "auths": {fake_host: {"auth": basic_auth(USER, PASSWORD)}},
            "credHelpers": {token_reg.host(): "acrtest"},
        }),
    );
    let mut runs = Vec::new();
    for json_flag in ["--json", "--no-referrers"] {
        runs.push(run_in(
            home.path(),
            &[
                "copy",
                "-vv",
                json_flag,
                &fake.endpoint(),
                &token_reg.endpoint(),
            ],
            &[],
            None,
        ));
        runs.push(run_in(
            home.path(),
            &[
                "copy",
                "-vv",
                json_flag,
                "--dst-creds",
                USER,
                "--dst-password-stdin",
                "--dst-ca-cert",
                tls.ca.to_str().unwrap(),
                &token_reg.endpoint(),
                &tls_reg.endpoint(),
            ],
            &[],
            Some(&format!("{PASSWORD}\n")),
        ));
    }
    for out in &runs {
        crate::util::assert_success(out);
    }
    let mut secrets = vec![
        PASSWORD.to_string(),
        refresh.clone(),
        aad.to_string(),
        redirect::SAS_SIG.to_string(),
        redirect::COOKIE.to_string(),
        basic_auth(USER, PASSWORD),
    ];
    // Every access token, and its signature part alone.
    for t in issuer.tokens() {
        secrets.push(t.rsplit('.').next().unwrap().to_string());
        secrets.push(t);
    }
    assert!(secrets.len() > 6, "the issuer handed out tokens");
    for out in &runs {
        assert_no_secret(out, &secrets);
    }
    assert!(fake.leaks.lock().unwrap().is_empty());
}

/// A certificate made out to other names is not mended by a CA: the error says so and does not
/// ask for `--src-ca-cert` again (it was given); `--insecure` with a URL, which would match no
/// host and leave the check on, is refused in one line naming the host to give.
#[test]
fn a_certificate_for_other_names_and_an_insecure_url_are_named() {
    let home = tempfile::tempdir().unwrap();
    let tls = Tls::generate_for(&home.path().join("tls"), false);
    let file = htpasswd(home.path(), USER, PASSWORD);
    let registry = AuthRegistry::start(&Auth::Htpasswd(file), Some(&tls));
    let creds = format!("{USER}:{PASSWORD}");
    let out = run_in(
        home.path(),
        &[
            "inventory",
            "--src-ca-cert",
            tls.ca.to_str().unwrap(),
            "--src-creds",
            &creds,
            &registry.endpoint(),
        ],
        &[],
        None,
    );
    assert_one_line_error(
        &out,
        &[
            "not made out to `127.0.0.1`",
            &format!("--insecure {} ", registry.host()),
        ],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("--src-ca-cert FILE"), "{err}");
    assert_no_secret(&out, &[PASSWORD.to_string()]);

    let url = format!("https://{}", registry.host());
    let out = run_in(
        home.path(),
        &["inventory", "--insecure", &url, &registry.endpoint()],
        &[],
        None,
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!(
            "`{url}` is not a host: give the host alone, `--insecure {}`",
            registry.host()
        )),
        "{err}"
    );

    // The host alone skips the check for it: the registry answers.
    let out = run_in(
        home.path(),
        &[
            "inventory",
            "--insecure",
            &registry.host(),
            "--src-creds",
            &creds,
            &registry.endpoint(),
        ],
        &[],
        None,
    );
    crate::util::assert_success(&out);
    assert!(!crate::util::stderr(&out).contains("warning"));

    // A host that names no registry of the command (a misspelling) is warned about, since the
    // certificate check stays on for the registry meant.
    let out = run_in(
        home.path(),
        &[
            "inventory",
            "--insecure",
            "127.0.0.2",
            "--src-creds",
            &creds,
            &registry.endpoint(),
        ],
        &[],
        None,
    );
    let err = crate::util::stderr(&out);
    assert!(
        err.contains(&format!(
            "inventory: warning: --insecure 127.0.0.2 names no registry here ({}): it applies only to a host they send this run to",
            registry.host()
        )),
        "{err}"
    );
    assert_eq!(out.status.code(), Some(2), "{err}");
}

/// A docker config that is not valid JSON holds nothing this machine can read: as docker does, it
/// is passed over, so a registry open to anonymous reads is read (a registry that wants
/// credentials names the file in its one-line error, tested above).
#[test]
fn a_docker_config_that_is_not_json_does_not_stop_an_open_registry() {
    let home = tempfile::tempdir().unwrap();
    let (registry, _) = crate::util::sample_registry(1);
    let config = docker_config(home.path(), &json!({}));
    std::fs::write(&config, "{\"auths\": {").unwrap();
    let out = run_in(home.path(), &["inventory", &registry.url()], &[], None);
    crate::util::assert_success(&out);
    let out = run_in(
        home.path(),
        &["inventory", "-v", &registry.url()],
        &[],
        None,
    );
    assert!(
        crate::util::stderr(&out).contains("is not valid JSON"),
        "{}",
        crate::util::stderr(&out)
    );
}
