//! The containers auth files are read as skopeo and podman read them: a credential helper or store
//! named in one signs in, an entry for a namespace (`podman login HOST/NAMESPACE`) serves an
//! endpoint under it, and the auth files come before docker's config (containers-auth.json(5)).

use std::path::Path;
use std::process::Output;

use serde_json::{json, Value};

use crate::support::pki::Tls;
use crate::support::registry::{htpasswd, Auth, AuthRegistry};
use crate::support::*;

const USER: &str = "podman-user";
const PASSWORD: &str = "pw-AuthF1les-6q";
const STALE: &str = "pw-Stale-0ld-3v";

/// An htpasswd registry over TLS with a test CA, started in `home`.
fn registry(home: &Path) -> (AuthRegistry, Tls) {
    let tls = Tls::generate(&home.join("tls"));
    let registry = AuthRegistry::start(&Auth::Htpasswd(htpasswd(home, USER, PASSWORD)), Some(&tls));
    (registry, tls)
}

fn write_json(path: &Path, value: &Value) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, value.to_string()).unwrap();
}

/// `{"auths": {key: USER:password}}` for each pair.
fn auths(entries: &[(&str, &str)]) -> Value {
    let map: serde_json::Map<String, Value> = entries
        .iter()
        .map(|(key, password)| (key.to_string(), json!({"auth": basic_auth(USER, password)})))
        .collect();
    json!({ "auths": map })
}

/// `inventory` of `endpoint` with the test CA and the environment `env`.
fn inventory(home: &Path, tls: &Tls, endpoint: &str, env: &[(&str, &str)]) -> Output {
    let ca = tls.ca.to_str().unwrap();
    run_in(
        home,
        &["inventory", "--src-ca-cert", ca, endpoint],
        env,
        None,
    )
}

fn secrets() -> [String; 4] {
    [
        PASSWORD.into(),
        STALE.into(),
        basic_auth(USER, PASSWORD),
        basic_auth(USER, STALE),
    ]
}

#[test]
fn a_credential_helper_or_store_named_in_an_auth_file_signs_in() {
    let home = tempfile::tempdir().unwrap();
    let (registry, tls) = registry(home.path());
    let host = registry.host();
    credential_helper(home.path(), "podmanhelper", &host, USER, PASSWORD);

    // credHelpers in $REGISTRY_AUTH_FILE.
    let file = home.path().join("helper-auth.json");
    write_json(
        &file,
        &json!({"credHelpers": {host.clone(): "podmanhelper"}}),
    );
    let out = inventory(
        home.path(),
        &tls,
        &registry.endpoint(),
        &[("REGISTRY_AUTH_FILE", file.to_str().unwrap())],
    );
    crate::util::assert_success(&out);
    assert_no_secret(&out, &secrets());

    // credsStore in ~/.config/containers/auth.json.
    let config = home.path().join(".config/containers/auth.json");
    write_json(&config, &json!({"credsStore": "podmanhelper"}));
    crate::util::assert_success(&inventory(home.path(), &tls, &registry.endpoint(), &[]));

    // A helper named for the registry that is not installed is named as the cause.
    write_json(
        &config,
        &json!({"credHelpers": {host.clone(): "not-installed-here"}}),
    );
    let out = inventory(home.path(), &tls, &registry.endpoint(), &[]);
    assert_one_line_error(&out, &[&host, "docker-credential-not-installed-here"]);
}

#[test]
fn a_podman_login_to_a_namespace_serves_an_endpoint_under_it_and_is_named() {
    let home = tempfile::tempdir().unwrap();
    let (registry, tls) = registry(home.path());
    let host = registry.host();
    let whole = registry.endpoint();
    let team = format!("{whole}/team");
    let ca = tls.ca.to_str().unwrap();
    let creds = format!("{USER}:{PASSWORD}");
    let out = run_in(
        home.path(),
        &[
            "sample",
            "--repos",
            "1",
            "--dst-ca-cert",
            ca,
            "--dst-creds",
            &creds,
            &team,
        ],
        &[],
        None,
    );
    crate::util::assert_success(&out);
    let file = home.path().join("auth.json");
    let env = [("REGISTRY_AUTH_FILE", file.to_str().unwrap())];
    let team_key = format!("{host}/team");

    // `podman login HOST/team`, and an older login to the whole host with a stale password: the
    // namespace entry serves the endpoint under it.
    write_json(&file, &auths(&[(&host, STALE), (&team_key, PASSWORD)]));
    let out = inventory(home.path(), &tls, &team, &env);
    crate::util::assert_success(&out);
    assert!(
        crate::util::stdout(&out).contains("team/"),
        "{}",
        crate::util::stdout(&out)
    );
    // The whole registry gets the host's entry, named by its file alone.
    let out = inventory(home.path(), &tls, &whole, &env);
    let file_name = file.display().to_string();
    assert_one_line_error(
        &out,
        &["authentication failed", &format!("auth file {file_name})")],
    );
    assert_no_secret(&out, &secrets());

    // A stale namespace entry is named with its key.
    write_json(&file, &auths(&[(&host, PASSWORD), (&team_key, STALE)]));
    let out = inventory(home.path(), &tls, &team, &env);
    assert_one_line_error(
        &out,
        &[
            "authentication failed",
            &format!("auth file {file_name}, entry {team_key}"),
        ],
    );
    assert_no_secret(&out, &secrets());

    // Only the namespace entry, and an endpoint outside it: anonymous, and the entry is named.
    write_json(&file, &auths(&[(&team_key, PASSWORD)]));
    let out = inventory(home.path(), &tls, &whole, &env);
    assert_one_line_error(
        &out,
        &[
            "needs credentials (HTTP 401)",
            &format!("auth file {file_name} has credentials only for {team_key}"),
        ],
    );
    assert_no_secret(&out, &secrets());
}

#[test]
fn the_auth_files_come_before_dockers_config() {
    let home = tempfile::tempdir().unwrap();
    let (registry, tls) = registry(home.path());
    let host = registry.host();
    let endpoint = registry.endpoint();
    // A stale password left in docker's config.
    let docker = docker_config(home.path(), &auths(&[(&host, STALE)]));

    // An explicit $REGISTRY_AUTH_FILE wins over it.
    let file = home.path().join("explicit.json");
    write_json(&file, &auths(&[(&host, PASSWORD)]));
    let explicit = [("REGISTRY_AUTH_FILE", file.to_str().unwrap())];
    let out = inventory(home.path(), &tls, &endpoint, &explicit);
    crate::util::assert_success(&out);

    // So do podman's own files, in the runtime directory or in ~/.config.
    let runtime = home.path().join("run");
    write_json(
        &runtime.join("containers/auth.json"),
        &auths(&[(&host, PASSWORD)]),
    );
    let runtime_env = [("XDG_RUNTIME_DIR", runtime.to_str().unwrap())];
    crate::util::assert_success(&inventory(home.path(), &tls, &endpoint, &runtime_env));
    let config = home.path().join(".config/containers/auth.json");
    write_json(&config, &auths(&[(&host, PASSWORD)]));
    crate::util::assert_success(&inventory(home.path(), &tls, &endpoint, &[]));

    // The first file that knows the registry is the one used, and the one a refusal names.
    write_json(&file, &auths(&[(&host, STALE)]));
    docker_config(home.path(), &auths(&[(&host, PASSWORD)]));
    let out = inventory(home.path(), &tls, &endpoint, &explicit);
    assert_one_line_error(
        &out,
        &["authentication failed", &file.display().to_string()],
    );
    assert!(!crate::util::stderr(&out).contains(docker.to_str().unwrap()));
    assert_no_secret(&out, &secrets());
    // Docker's config still serves a registry no auth file knows.
    std::fs::remove_file(&config).unwrap();
    crate::util::assert_success(&inventory(home.path(), &tls, &endpoint, &[]));
}
