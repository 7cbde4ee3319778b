//! Azure AD sign-in to a registry's data plane, as `az acr login` does: the tool gets an AAD token
//! from `azure_identity` (a service principal from the environment, against our HTTPS token
//! endpoint), exchanges it at the registry's `/oauth2/exchange` for an ACR refresh token, and
//! buys access tokens with it, renewed as they expire through a copy. Real parts: a Distribution
//! registry with `auth: token` and our token issuer (support/issuer.rs).

use std::collections::HashSet;
use std::path::Path;

use serde_json::json;

use crate::azure_cp::aad::{random_guid, random_hex};
use crate::support::http::{Request, Response, Server};
use crate::support::issuer::{Issuer, Policy};
use crate::support::pki::Tls;
use crate::support::registry::AuthRegistry;
use crate::support::{assert_no_secret, assert_one_line_error, run_in};
use crate::util::sample_layout;

/// An Azure AD token endpoint that gives `token` to the service principal `client_id`/`secret`.
struct Directory {
    server: Server,
    tenant: String,
    client_id: String,
    secret: String,
    token: String,
}

impl Directory {
    fn start(tls: &Tls) -> Self {
        let (tenant, client_id) = (random_guid(), random_guid());
        let secret = format!("sp~{}", random_hex(16));
        let token = format!("aad.{}", random_hex(24));
        let (t, c, s, k) = (
            tenant.clone(),
            client_id.clone(),
            secret.clone(),
            token.clone(),
        );
        let server = Server::start_tls(tls.server_config(), move |r: &Request| {
            let form = r.form();
            let field = |n: &str| form.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str());
            if r.path != format!("/{t}/oauth2/v2.0/token")
                || field("grant_type") != Some("client_credentials")
            {
                return Response::json(400, &json!({"error": "invalid_request"}));
            }
            if field("client_id") != Some(c.as_str()) || field("client_secret") != Some(s.as_str())
            {
                return Response::json(
                    401,
                    &json!({"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret provided."}),
                );
            }
            Response::json(
                200,
                &json!({"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": k}),
            )
        });
        Directory {
            server,
            tenant,
            client_id,
            secret,
            token,
        }
    }

    fn env<'a>(&'a self, tls: &'a Tls, secret: &'a str) -> Vec<(&'a str, String)> {
        vec![
            ("AZURE_TENANT_ID", self.tenant.clone()),
            ("AZURE_CLIENT_ID", self.client_id.clone()),
            ("AZURE_CLIENT_SECRET", secret.to_string()),
            (
                "AZURE_AUTHORITY_HOST",
                format!("https://127.0.0.1:{}", self.server.port),
            ),
            ("SSL_CERT_FILE", tls.ca.display().to_string()),
        ]
    }
}

/// `copy` (with `verbosity`, `-q` or `-vv`) from `source` into `target`, signed in to the target
/// with the service principal of `aad`.
fn copy_with_azure_ad(
    home: &Path,
    aad: &Directory,
    tls: &Tls,
    verbosity: &str,
    source: &str,
    target: &str,
) -> std::process::Output {
    let env = aad.env(tls, &aad.secret);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let args = [
        "copy",
        verbosity,
        "--azure",
        "target",
        "--azure-credential",
        "environment",
        source,
        target,
    ];
    run_in(home, &args, &env, None)
}

fn token_registry(dir: &Path, aad_token: &str) -> (AuthRegistry, Issuer) {
    crate::support::issuer::token_registry(
        dir,
        Policy {
            aad_tokens: HashSet::from([aad_token.to_string()]),
            // Access tokens expire every two seconds: the copy must keep renewing them.
            lifetime: 2,
            stale_first: true,
            ..Policy::default()
        },
    )
}

#[test]
fn a_copy_signs_in_with_azure_ad_through_the_acr_exchange_and_leaks_nothing() {
    let home = tempfile::tempdir().unwrap();
    let tls = Tls::generate(&home.path().join("tls"));
    let aad = Directory::start(&tls);
    let (registry, issuer) = token_registry(home.path(), &aad.token);
    let (src, expected) = sample_layout(3, 5);
    let tags: usize = expected.tags.values().map(|t| t.len()).sum();
    let source = format!("oci:{}", src.path().join("sample").display());
    let out = copy_with_azure_ad(
        home.path(),
        &aad,
        &tls,
        "-vv",
        &source,
        &registry.endpoint(),
    );
    let env = aad.env(&tls, &aad.secret);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    crate::util::assert_success(&out);
    // Exchanged once (the refresh token is reused), access tokens bought with it.
    let log = issuer.log();
    assert_eq!(
        log.iter().filter(|l| *l == "POST exchange").count(),
        1,
        "{log:?}"
    );
    assert!(log.iter().any(|l| l == "POST refresh_token"), "{log:?}");
    // verify signs in the same way.
    let out = run_in(
        home.path(),
        &[
            "verify",
            "--deep",
            "--azure=target",
            &source,
            &registry.endpoint(),
        ],
        &env,
        None,
    );
    crate::util::assert_success(&out);
    assert!(
        crate::util::stdout(&out).contains(&format!("{tags} tags")),
        "{}",
        crate::util::stdout(&out)
    );
    let mut secrets = vec![aad.secret.clone(), aad.token.clone()];
    secrets.extend(issuer.tokens());
    assert_no_secret(&out, &secrets);
}

#[test]
fn a_wrong_client_secret_is_one_line_naming_azure_ad_and_no_secret() {
    let home = tempfile::tempdir().unwrap();
    let tls = Tls::generate(&home.path().join("tls"));
    let aad = Directory::start(&tls);
    let (registry, _issuer) = token_registry(home.path(), &aad.token);
    let wrong = "sp~wrong-secret-0000";
    let env = aad.env(&tls, wrong);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let out = run_in(
        home.path(),
        &["inventory", "--azure=source", &registry.endpoint()],
        &env,
        None,
    );
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert_one_line_error(&out, &["Azure AD", "Invalid client secret"]);
    assert_no_secret(&out, &[wrong.to_string(), aad.secret.clone()]);
}

/// Writes a docker config in `home` holding, for `host`, ACR's token user with `refresh_token`:
/// what `az acr login` (through `docker login`) leaves.
fn az_acr_login_config(home: &Path, host: &str, refresh_token: &str) {
    use base64::Engine;
    let auth = base64::engine::general_purpose::STANDARD.encode(format!(
        "00000000-0000-0000-0000-000000000000:{refresh_token}"
    ));
    let dir = home.join(".docker");
    std::fs::create_dir_all(&dir).unwrap();
    let config = json!({"auths": {host: {"auth": auth}}});
    std::fs::write(dir.join("config.json"), config.to_string()).unwrap();
}

/// `az acr login` leaves a refresh token in the docker config that lasts 3 hours: found first,
/// it is used first; once the token endpoint refuses it (expired during a long copy), the Azure
/// AD identity signs in instead, with a warning, and the run goes on. Without an identity, the
/// error says how to go on.
#[test]
fn an_expired_az_acr_login_token_gives_way_to_the_azure_ad_identity() {
    let home = tempfile::tempdir().unwrap();
    let tls = Tls::generate(&home.path().join("tls"));
    let aad = Directory::start(&tls);
    let expired = format!("acr-refresh.{}", random_hex(20));
    let (registry, issuer) = crate::support::issuer::token_registry(
        home.path(),
        Policy {
            aad_tokens: HashSet::from([aad.token.clone()]),
            expired_refresh_tokens: HashSet::from([expired.clone()]),
            ..Policy::default()
        },
    );
    az_acr_login_config(home.path(), &registry.host(), &expired);
    let (src, _) = sample_layout(2, 5);
    let source = format!("oci:{}", src.path().join("sample").display());
    let out = copy_with_azure_ad(home.path(), &aad, &tls, "-q", &source, &registry.endpoint());
    crate::util::assert_success(&out);
    let err = crate::util::stderr(&out);
    assert!(
        err.contains(
            "was refused (HTTP 401; an `az acr login` token lasts 3 hours): signing in with"
        ),
        "{err}"
    );
    assert_eq!(err.matches("was refused").count(), 1, "said once: {err}");
    assert!(issuer.log().iter().any(|l| l == "POST exchange"));
    let mut secrets = vec![aad.secret.clone(), aad.token.clone(), expired.clone()];
    secrets.extend(issuer.tokens());
    assert_no_secret(&out, &secrets);

    // A docker identity token (`<token>`), not ACR's: refused, it is the error; the Azure AD
    // token never goes to that registry.
    let other = format!("docker-identity.{}", random_hex(20));
    let (registry, issuer) = crate::support::issuer::token_registry(
        home.path(),
        Policy {
            aad_tokens: HashSet::from([aad.token.clone()]),
            expired_refresh_tokens: HashSet::from([other.clone()]),
            ..Policy::default()
        },
    );
    let dir = home.path().join(".docker");
    let config = json!({"auths": {registry.host(): {"identitytoken": other}}});
    std::fs::write(dir.join("config.json"), config.to_string()).unwrap();
    let env = aad.env(&tls, &aad.secret);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let args = ["inventory", "--azure", "--azure-credential", "environment"];
    let mut args = args.to_vec();
    let endpoint = registry.endpoint();
    args.push(&endpoint);
    let out = run_in(home.path(), &args, &env, None);
    assert_ne!(out.status.code(), Some(0), "{out:?}");
    assert!(!issuer.log().iter().any(|l| l == "POST exchange"));
    assert_no_secret(&out, &[other, aad.token.clone()]);
    az_acr_login_config(home.path(), &registry.host(), &expired);

    // No identity at hand: the error names what to do.
    let out = run_in(
        home.path(),
        &["inventory", &registry.endpoint()],
        &[("SSL_CERT_FILE", &tls.ca.display().to_string())],
        None,
    );
    assert_ne!(out.status.code(), Some(0), "{out:?}");
    let err = crate::util::stderr(&out);
    assert!(
        err.contains("run `az acr login` again, or `docker logout"),
        "{err}"
    );
    assert_no_secret(&out, &[expired]);
}
