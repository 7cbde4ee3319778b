//! Bad input: one line naming what is wrong, a distinct exit code, nothing written.

use crate::util::*;

fn assert_usage_error(args: &[&str], needle: &str) {
    let out = run(args);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
    let err = stderr(&out);
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    assert!(err.contains(needle), "{args:?}: {err}");
}

#[test]
fn bad_endpoints_exit_2_with_one_line() {
    assert_usage_error(&["copy", "ftp://x", "oci:/tmp/x"], "only `https://`");
    assert_usage_error(&["copy", "host:99999", "oci:/tmp/x"], "not a port");
    assert_usage_error(&["copy", "host/repo:tag", "oci:/tmp/x"], "without a tag");
    assert_usage_error(&["copy", "oci:", "oci:/tmp/x"], "needs a directory");
}

#[test]
fn a_transfer_ceiling_below_the_start_names_both_flags() {
    let dir = tempfile::tempdir().unwrap();
    let src = format!("oci:{}", dir.path().display());
    assert_usage_error(
        &["copy", "-j", "8", "--max-jobs", "2", &src, "oci:/tmp/x"],
        "--max-jobs 2 is below --jobs 8",
    );
    // The same for the reading commands, whose requests at once grow the same way.
    assert_usage_error(
        &["verify", "-j", "4", "--max-jobs", "3", &src, "oci:/tmp/x"],
        "--max-jobs 3 is below --jobs 4",
    );
    assert_usage_error(
        &["inventory", "--jobs", "4", "--max-jobs", "1", &src],
        "--max-jobs 1 is below --jobs 4",
    );
}

#[test]
fn an_unreachable_registry_exits_2() {
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let target = format!("oci:{}", dir.path().join("out").display());
    assert_usage_error(
        &["copy", &format!("http://127.0.0.1:{port}"), &target],
        "127.0.0.1",
    );
}

#[test]
fn bad_filters_name_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let src = format!("oci:{}", dir.path().display());
    assert_usage_error(&["copy", "--tag", "(", &src, "oci:/tmp/x"], "--tag");
}
