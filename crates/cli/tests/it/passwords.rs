//! Passwords given on stdin: read once per run, whatever the number of times the run opens the
//! registries (every step of `apply` opens them again).

use crate::plan::config;
use crate::support::pki::Tls;
use crate::support::registry::{htpasswd, Auth, AuthRegistry};
use crate::support::{assert_no_secret, run_in};
use crate::util::{assert_success, json, oci, sample_layout};

const USER: &str = "stdin-user";
const PASSWORD: &str = "pw-Stdin4x9Lq";

#[test]
fn apply_reads_a_password_from_stdin_once_for_every_step() {
    let home = tempfile::tempdir().unwrap();
    let tls = Tls::generate(&home.path().join("tls"));
    let registry = AuthRegistry::start(
        &Auth::Htpasswd(htpasswd(home.path(), USER, PASSWORD)),
        Some(&tls),
    );
    let (src, _) = sample_layout(2, 3);
    let cfg = config(home.path(), &oci(src.path()), &registry.endpoint(), "");
    let plan = home.path().join("plan.json");
    let ca = tls.ca.to_str().unwrap();
    let with_password = |verb: &[&str]| {
        let mut args = verb.to_vec();
        args.extend([
            "--dst-creds",
            USER,
            "--dst-password-stdin",
            "--dst-ca-cert",
            ca,
        ]);
        run_in(home.path(), &args, &[], Some(&format!("{PASSWORD}\n")))
    };
    let out = with_password(&[
        "plan",
        "--config",
        cfg.to_str().unwrap(),
        "-o",
        plan.to_str().unwrap(),
    ]);
    assert_success(&out);
    // copy, verify and the rest each open the target: all of them with the one password.
    let out = with_password(&["apply", "-q", "--json", plan.to_str().unwrap()]);
    assert_success(&out);
    let summary = json(&out);
    assert!(
        summary["steps"]
            .as_array()
            .unwrap()
            .iter()
            .all(|step| step["status"] == "done"),
        "{summary}"
    );
    assert_no_secret(&out, &[PASSWORD.to_string()]);
}

#[test]
fn an_empty_password_on_stdin_is_refused_before_any_request() {
    let home = tempfile::tempdir().unwrap();
    let (src, _) = sample_layout(1, 3);
    let out = run_in(
        home.path(),
        &[
            "copy",
            "--dst-creds",
            USER,
            "--dst-password-stdin",
            &oci(src.path()),
            "http://127.0.0.1:9",
        ],
        &[],
        Some("\n"),
    );
    assert_eq!(out.status.code(), Some(2));
    crate::support::assert_one_line_error(&out, &["--dst-creds", "empty password"]);
}

#[test]
fn with_both_sides_on_stdin_the_first_line_is_the_sources_and_the_second_the_targets() {
    let home = tempfile::tempdir().unwrap();
    let tls = Tls::generate(&home.path().join("tls"));
    let src = AuthRegistry::start(
        &Auth::Htpasswd(htpasswd(home.path(), USER, PASSWORD)),
        Some(&tls),
    );
    let dst_dir = home.path().join("dst");
    std::fs::create_dir(&dst_dir).unwrap();
    let dst = AuthRegistry::start(
        &Auth::Htpasswd(htpasswd(&dst_dir, USER, "pw-Target7Zq")),
        Some(&tls),
    );
    let (layout, _) = sample_layout(1, 3);
    let ca = tls.ca.to_str().unwrap();
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
            &oci(layout.path()),
            &src.endpoint(),
        ],
        &[],
        Some(&format!("{PASSWORD}\n")),
    );
    assert_success(&out);
    let out = run_in(
        home.path(),
        &[
            "copy",
            "-q",
            "--src-creds",
            USER,
            "--src-password-stdin",
            "--dst-creds",
            USER,
            "--dst-password-stdin",
            "--src-ca-cert",
            ca,
            "--dst-ca-cert",
            ca,
            &src.endpoint(),
            &dst.endpoint(),
        ],
        &[],
        Some(&format!("{PASSWORD}\npw-Target7Zq\n")),
    );
    assert_success(&out);
    assert_no_secret(&out, &[PASSWORD.to_string(), "pw-Target7Zq".to_string()]);
}
