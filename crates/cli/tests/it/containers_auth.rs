//! The containers auth files that `podman login`, `skopeo login` and `buildah login` write are
//! read as skopeo reads them: `$XDG_RUNTIME_DIR/containers/auth.json`, then
//! `~/.config/containers/auth.json`, after `$REGISTRY_AUTH_FILE`.

use std::path::Path;

use serde_json::json;

use crate::support::pki::Tls;
use crate::support::registry::{htpasswd, Auth, AuthRegistry};
use crate::support::*;

const USER: &str = "podman-user";
const PASSWORD: &str = "pw-Podm4nLogin7";

fn write_auth(path: &Path, host: &str, password: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let auths = json!({"auths": {host: {"auth": basic_auth(USER, password)}}});
    std::fs::write(path, auths.to_string()).unwrap();
}

#[test]
fn a_podman_login_in_the_runtime_or_config_directory_is_used() {
    let home = tempfile::tempdir().unwrap();
    let tls = Tls::generate(&home.path().join("tls"));
    let registry = AuthRegistry::start(
        &Auth::Htpasswd(htpasswd(home.path(), USER, PASSWORD)),
        Some(&tls),
    );
    let (ca, target, host) = (
        tls.ca.to_str().unwrap(),
        registry.endpoint(),
        registry.host(),
    );
    let inventory = |env: &[(&str, &str)]| {
        run_in(
            home.path(),
            &["inventory", "--src-ca-cert", ca, &target],
            env,
            None,
        )
    };
    // Nothing yet: the refusal says how to sign in.
    let out = inventory(&[]);
    assert_one_line_error(&out, &["needs credentials (HTTP 401)"]);

    // `podman login` (rootless, with a session): $XDG_RUNTIME_DIR/containers/auth.json.
    let runtime = home.path().join("run");
    write_auth(&runtime.join("containers/auth.json"), &host, PASSWORD);
    let runtime_dir = runtime.to_str().unwrap();
    crate::util::assert_success(&inventory(&[("XDG_RUNTIME_DIR", runtime_dir)]));

    // $REGISTRY_AUTH_FILE comes first: its wrong password is the one tried.
    let first = home.path().join("first.json");
    write_auth(&first, &host, "wrong-Pw-4kq");
    let out = inventory(&[
        ("XDG_RUNTIME_DIR", runtime_dir),
        ("REGISTRY_AUTH_FILE", first.to_str().unwrap()),
    ]);
    assert_one_line_error(&out, &[&first.display().to_string()]);
    assert_no_secret(&out, &[PASSWORD.to_string(), "wrong-Pw-4kq".to_string()]);

    // No runtime directory: ~/.config/containers/auth.json.
    std::fs::remove_dir_all(&runtime).unwrap();
    write_auth(
        &home.path().join(".config/containers/auth.json"),
        &host,
        PASSWORD,
    );
    crate::util::assert_success(&inventory(&[]));
}
