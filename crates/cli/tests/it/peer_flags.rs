//! Flags a skopeo, crane or regsync user types get a one-line answer in this tool's terms (exit 2,
//! as every usage error), not clap's tip towards an unrelated flag of a similar spelling.

use crate::support::assert_one_line_error;
use crate::util::run;

const SOURCE: &str = "http://127.0.0.1:1";
const TARGET: &str = "http://127.0.0.1:2";

/// Runs `copy FLAGS SOURCE TARGET` and asserts one line with every needle and no clap tip.
fn assert_copy_answers(flags: &[&str], needles: &[&str]) {
    let mut args = vec!["copy"];
    args.extend_from_slice(flags);
    args.extend([SOURCE, TARGET]);
    let out = run(&args);
    assert_one_line_error(&out, needles);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !err.contains("a similar argument exists") && !err.contains("as a value, use"),
        "{err}"
    );
    assert!(
        err.contains("usage: acr-relocate copy [OPTIONS] <SOURCE> <TARGET>"),
        "{err}"
    );
}

#[test]
fn skopeo_tls_and_auth_file_flags_are_answered_with_http_insecure_and_registry_auth_file() {
    for flag in [
        "--src-tls-verify=false",
        "--dest-tls-verify=false",
        "--tls-verify=false",
    ] {
        assert_copy_answers(
            &[flag],
            &["write http://HOST:PORT", "--insecure HOST[:PORT]"],
        );
    }
    for flag in ["--authfile", "--src-authfile", "--dest-authfile"] {
        assert_copy_answers(&[flag, "auth.json"], &[flag, "set REGISTRY_AUTH_FILE=FILE"]);
    }
}

#[test]
fn flags_for_what_is_always_done_say_it_is_always_done() {
    for flag in ["--all", "--preserve-digests"] {
        assert_copy_answers(
            &[flag],
            &["always on", "every platform", "digests are kept"],
        );
    }
    assert_copy_answers(&["--multi-arch", "all"], &["always on", "every platform"]);
    assert_copy_answers(&["--all-tags"], &["every tag is copied unless --tag"]);
    assert_copy_answers(
        &["--platform", "linux/amd64"],
        &["every platform is copied", "keeps indexes whole"],
    );
    assert_copy_answers(&["--keep-going"], &["the default", "listed at the end"]);
}

#[test]
fn flags_with_another_name_here_are_answered_with_that_name() {
    assert_copy_answers(
        &["--scoped"],
        &["give TARGET one (HOST/PREFIX), or rename them with --map FROM=TO"],
    );
    assert_copy_answers(
        &["--retry-times", "3"],
        &["retries are automatic", "--unreachable-after SECS"],
    );
    assert_copy_answers(&["--format", "json"], &["write --json"]);
    assert_copy_answers(&["--parallel", "4"], &["write --jobs N"]);
    assert_copy_answers(&["--no-clobber"], &["write --no-overwrite"]);
    assert_copy_answers(&["--dest-creds", "u:p"], &["write --dst-creds"]);
    assert_copy_answers(
        &["--src-registry-token", "tok"],
        &[
            "--src-creds 00000000-0000-0000-0000-000000000000",
            "$ACR_RELOCATE_SRC_PASSWORD",
        ],
    );
    assert_copy_answers(
        &["--dest-registry-token", "tok"],
        &["--dst-creds 00000000-0000-0000-0000-000000000000"],
    );
}

#[test]
fn an_answer_is_given_only_where_the_flag_it_names_exists() {
    // `inventory` has --json; `sample` has none, so clap's own words stay.
    let out = run(&["inventory", "--format", "json", SOURCE]);
    assert_one_line_error(
        &out,
        &["write --json", "acr-relocate inventory [OPTIONS] <SOURCE>"],
    );
    let out = run(&["sample", "--format", "json", TARGET]);
    assert_one_line_error(&out, &["unexpected argument '--format'"]);
    assert!(!String::from_utf8_lossy(&out.stderr).contains("--json"));
    // A flag no peer has keeps clap's tip.
    let out = run(&["copy", "--bogus", SOURCE, TARGET]);
    assert_one_line_error(
        &out,
        &["unexpected argument '--bogus'", "tip: to pass '--bogus'"],
    );
}

#[test]
fn cranes_insecure_switch_before_the_endpoints_is_explained() {
    let answer = "--insecure takes a HOST[:PORT] (crane's --insecure is a switch): write --insecure HOST before SOURCE TARGET";
    // SOURCE became --insecure's HOST: TARGET is said to be missing.
    let out = run(&["copy", "--insecure", "src.example.com", "dst.example.com"]);
    assert_one_line_error(&out, &["<TARGET>", answer]);
    // An endpoint with a scheme is no HOST.
    let out = run(&[
        "copy",
        "--insecure",
        "https://src.example.com",
        "https://dst.example.com",
    ]);
    assert_one_line_error(&out, &["is not a host", answer]);
    // One endpoint: the answer names it alone.
    let out = run(&["inventory", "--insecure", "src.example.com"]);
    assert_one_line_error(&out, &["write --insecure HOST before SOURCE)"]);
    // Without --insecure, a missing TARGET is only that.
    let out = run(&["copy", SOURCE]);
    assert_one_line_error(&out, &["<TARGET>"]);
    assert!(!String::from_utf8_lossy(&out.stderr).contains("crane"));
}

/// `inventory --map`: renames belong to the jobs that write or compare a target.
#[test]
fn a_rename_given_to_inventory_says_which_commands_take_it() {
    let out = run(&["inventory", "--map", "a=b", SOURCE]);
    assert_one_line_error(
        &out,
        &["--map: it gives repositories other names in TARGET, and only copy, verify, delete-source and rewrite take it"],
    );
}
