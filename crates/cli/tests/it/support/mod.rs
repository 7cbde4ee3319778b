//! Helpers of the auth tests: registries with sign-in, our token issuer, a redirecting registry,
//! certificates, credential files and helpers, and a command runner with a controlled environment;
//! and, shared with the Azure tiers, the small HTTP server and client (`http`) and the Prism
//! launcher (`prism`).

pub mod acr_front;
pub mod held_run;
pub mod http;
pub mod issuer;
pub mod mount_proxy;
pub mod oci_push;
pub mod pki;
pub mod prism;
pub mod redirect;
pub mod registry;

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use base64::Engine;

/// Runs the binary with only the credential environment given here (no user config leaks in):
/// `HOME` is `home`, `DOCKER_CONFIG`, `REGISTRY_AUTH_FILE`, `XDG_RUNTIME_DIR` and
/// `XDG_CONFIG_HOME` unset unless in `env`; `PATH` gets
/// `home/bin` first (credential helpers). `stdin` is written to its standard input.
pub fn run_in(home: &Path, args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> Output {
    let path = format!(
        "{}:{}",
        home.join("bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut command = Command::new(env!("CARGO_BIN_EXE_acr-relocate"));
    command
        .args(args)
        .env("HOME", home)
        .env("PATH", path)
        .env_remove("DOCKER_CONFIG")
        .env_remove("REGISTRY_AUTH_FILE")
        .env_remove("XDG_RUNTIME_DIR")
        .env_remove("XDG_CONFIG_HOME")
        .env_remove("ACR_RELOCATE_SRC_CREDS")
        .env_remove("ACR_RELOCATE_DST_CREDS")
        .env_remove("ACR_RELOCATE_SRC_PASSWORD")
        .env_remove("ACR_RELOCATE_DST_PASSWORD")
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).unwrap();
    }
    drop(input);
    child.wait_with_output().unwrap()
}

/// Writes `home/.docker/config.json`.
pub fn docker_config(home: &Path, config: &serde_json::Value) -> PathBuf {
    let dir = home.join(".docker");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("config.json");
    std::fs::write(&path, serde_json::to_vec_pretty(config).unwrap()).unwrap();
    path
}

/// The `auth` field of a docker config entry.
pub fn basic_auth(user: &str, password: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
}

/// Installs `home/bin/docker-credential-NAME`: answers `get` for `host` with `user` and
/// `secret`, "credentials not found" for any other host.
pub fn credential_helper(home: &Path, name: &str, host: &str, user: &str, secret: &str) {
    write_helper(
        home,
        name,
        &format!(
            "#!/bin/sh\n[ \"$1\" = get ] || exit 1\nserver=$(cat)\nif [ \"$server\" = '{host}' ]; then\n  printf '{{\"ServerURL\":\"%s\",\"Username\":\"{user}\",\"Secret\":\"{secret}\"}}' \"$server\"\nelse\n  echo 'credentials not found in native keychain'\n  exit 1\nfi\n"
        ),
    );
}

/// Installs a helper that always fails with a message on stderr.
pub fn failing_helper(home: &Path, name: &str) {
    write_helper(
        home,
        name,
        "#!/bin/sh\ncat >/dev/null\necho 'error getting credentials - keychain locked' >&2\nexit 3\n",
    );
}

fn write_helper(home: &Path, name: &str, script: &str) {
    let bin = home.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let path = bin.join(format!("docker-credential-{name}"));
    std::fs::write(&path, script).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// Asserts that none of `secrets` appears in the output of a run.
pub fn assert_no_secret(out: &Output, secrets: &[String]) {
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    for secret in secrets {
        assert!(!secret.is_empty());
        assert!(
            !text.contains(secret.as_str()),
            "a secret ({}…) shows in the output:\n{text}",
            &secret[..secret.len().min(6)]
        );
    }
}

/// Asserts exit code 2 with one line on stderr that holds every needle.
pub fn assert_one_line_error(out: &Output, needles: &[&str]) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "exit code: {err}");
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    for n in needles {
        assert!(err.contains(n), "`{n}` not in: {err}");
    }
}
