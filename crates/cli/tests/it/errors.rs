//! Bad input: one line naming what is wrong, a distinct exit code, nothing written.

use crate::support::pki::Tls;
use crate::support::registry::{htpasswd, Auth, AuthRegistry};
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
        &format!("SOURCE 127.0.0.1:{port}: connection refused: nothing listens on 127.0.0.1:{port}: check the address and port"),
    );
}

#[test]
fn bad_filters_name_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let src = format!("oci:{}", dir.path().display());
    assert_usage_error(&["copy", "--tag", "(", &src, "oci:/tmp/x"], "--tag");
}

#[test]
fn a_deep_copy_by_import_is_refused_before_anything_is_asked() {
    assert_usage_error(
        &[
            "copy",
            "--deep",
            "--mode",
            "import",
            "--target-id",
            "/subscriptions/0/resourceGroups/rg/providers/Microsoft.ContainerRegistry/registries/b",
            "a.azurecr.io",
            "b.azurecr.io",
        ],
        "--deep walks the content through this machine",
    );
}

#[test]
fn a_password_written_into_an_endpoint_is_refused_and_never_echoed() {
    let dir = tempfile::tempdir().unwrap();
    let src = format!("oci:{}", dir.path().display());
    let password = "S3cretPassw0rdXYZ";
    for endpoint in [
        format!("https://alice:{password}@127.0.0.1:15003"),
        format!("alice:{password}@myregistry.azurecr.io/team"),
    ] {
        let out = run(&["copy", &src, &endpoint]);
        assert_usage_error(&["copy", &src, &endpoint], "TARGET: invalid endpoint `");
        let err = stderr(&out);
        assert!(!err.contains(password), "the password shows: {err}");
        assert!(err.contains("alice:***@"), "{err}");
        assert!(err.contains("--src-creds/--dst-creds"), "{err}");
    }
}

#[test]
fn https_to_a_plain_http_registry_says_to_write_http() {
    let registry = Registry::start();
    let bare = format!("127.0.0.1:{}", registry.port);
    let (dir, _) = sample_layout(1, 1);
    let layout = oci(dir.path());
    assert_usage_error(
        &["verify", &layout, &bare],
        &format!(
            "TARGET {bare}: the registry answers plain HTTP, not HTTPS: write `http://{bare}`"
        ),
    );
}

#[test]
fn tls_errors_name_the_side_and_the_flag_that_fixes_them() {
    let work = tempfile::tempdir().unwrap();
    let tls = Tls::generate(work.path());
    let registry =
        AuthRegistry::start(&Auth::Htpasswd(htpasswd(work.path(), "u", "p")), Some(&tls));
    let host = registry.host();
    let (dir, _) = sample_layout(1, 1);
    let layout = oci(dir.path());
    // The test CA is not trusted: the source's CA flag, or --insecure for the host.
    assert_usage_error(
        &["copy", &host, &layout],
        &format!("SOURCE {host}: its TLS certificate is not trusted"),
    );
    assert_usage_error(&["copy", &host, &layout], "pass --src-ca-cert FILE");
    assert_usage_error(&["copy", &layout, &host], "pass --dst-ca-cert FILE");
    assert_usage_error(&["copy", &layout, &host], &format!("TARGET {host}: "));
    assert_usage_error(
        &["copy", &host, &layout],
        &format!("or --insecure {host} to skip the check for this registry alone"),
    );
    assert_usage_error(
        &["copy", &host, &layout],
        "(signed by an issuer this machine does not trust: UnknownIssuer)",
    );
    // A CA given that did not sign it: named, instead of asking for a CA again.
    let other = Tls::generate(&work.path().join("other"));
    let other_ca = other.ca.to_str().unwrap();
    assert_usage_error(
        &["copy", "--src-ca-cert", other_ca, &host, &layout],
        &format!("its TLS certificate is not signed by the CA given with --src-ca-cert ({other_ca}), nor by one this machine trusts"),
    );
    // Plain HTTP to a TLS port.
    assert_usage_error(
        &["inventory", &format!("http://{host}")],
        &format!("SOURCE {host}: the registry answers HTTPS, not plain HTTP: write `{host}`"),
    );
}

/// The registry's own self-signed certificate marked CA:TRUE (what `openssl req -x509` makes),
/// given as its CA, is trusted as docker and skopeo trust it: the registry is read. Given another
/// CA instead, the error says that the registry's certificate itself is what to give.
#[test]
fn a_self_signed_ca_certificate_as_the_registrys_own_is_trusted_when_given_itself() {
    let work = tempfile::tempdir().unwrap();
    let tls = Tls::self_signed_ca_as_server(&work.path().join("server"));
    let registry =
        AuthRegistry::start(&Auth::Htpasswd(htpasswd(work.path(), "u", "p")), Some(&tls));
    let host = registry.host();
    let inventory_trusting = |ca: &str| {
        run(&[
            "inventory",
            "--src-ca-cert",
            ca,
            "--src-creds",
            "u:p",
            &host,
        ])
    };
    let out = inventory_trusting(tls.ca.to_str().unwrap());
    assert_success(&out);

    let other = Tls::generate(&work.path().join("other"));
    let out = inventory_trusting(other.ca.to_str().unwrap());
    assert_exit_code(&out, 2);
    let err = stderr(&out);
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    for needle in [
        "is a self-signed CA certificate (basicConstraints CA:TRUE) used as the registry's own",
        "pass --src-ca-cert FILE with that very certificate",
        "not the one given with --src-ca-cert (",
        &format!("--insecure {host}"),
    ] {
        assert!(err.contains(needle), "{needle}: {err}");
    }
    assert!(!err.contains("OtherError"), "{err}");
}

#[test]
fn a_filter_of_several_that_matches_nothing_is_named_while_the_others_do_their_work() {
    let (dir, _) = sample_layout(3, 1);
    let src = oci(dir.path());
    let out_dir = tempfile::tempdir().unwrap();
    let target = format!("oci:{}", out_dir.path().join("out").display());
    let filters = [
        "--repo", "team/*", "--repo", "infar/*", "--tag", r"v1\..*", "--tag", "lastest",
    ];
    for command in [
        vec!["copy", "-q", &src, &target],
        vec!["verify", &src, &target],
        vec!["inventory", &src],
    ] {
        let mut args = command.clone();
        args.extend(filters);
        let out = run(&args);
        assert_success(&out);
        let err = stderr(&out);
        for misspelt in ["--repo 'infar/*'", "--tag 'lastest'"] {
            assert!(
                err.contains(&format!(
                    "{}: warning: {misspelt} matched nothing in SOURCE",
                    command[0]
                )),
                "{command:?}: {err}"
            );
        }
        assert_eq!(err.matches("warning").count(), 2, "{command:?}: {err}");
    }
}

#[test]
fn filters_that_select_nothing_warn_in_one_line_and_exit_4() {
    let (dir, _) = sample_layout(3, 1);
    let src = oci(dir.path());
    let out_dir = tempfile::tempdir().unwrap();
    let target = format!("oci:{}", out_dir.path().join("out").display());
    for args in [
        vec!["copy", "-q", "--repo", "nomatch", &src, &target],
        vec!["copy", "-q", "--tag", "nomatch", &src, &target],
        vec!["verify", "--repo", "nomatch", &src, &src],
        vec!["inventory", "--tag", "v9.*", &src],
    ] {
        let out = run(&args);
        assert_exit_code(&out, 4);
        let err = stderr(&out);
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
        assert!(
            err.contains("selected nothing in SOURCE"),
            "{args:?}: {err}"
        );
        if args[0] == "verify" {
            let report = stdout(&out);
            assert!(
                report.trim_end().ends_with(": NOTHING SELECTED") && !report.contains(": OK"),
                "{report}"
            );
            let mut markdown = args.clone();
            markdown.insert(1, "--markdown");
            let report = stdout(&run(&markdown));
            assert!(
                report.starts_with("# Verify")
                    && report
                        .lines()
                        .next()
                        .unwrap()
                        .ends_with(": NOTHING SELECTED"),
                "{report}"
            );
        }
    }
    // The copies made neither the layout nor an archive.
    let archive = out_dir.path().join("out.tar");
    let out = run(&[
        "copy",
        "-q",
        "--repo",
        "nomatch",
        &src,
        &format!("oci-archive:{}", archive.display()),
    ]);
    assert_exit_code(&out, 4);
    assert!(
        names_in(out_dir.path()).is_empty(),
        "{:?}",
        names_in(out_dir.path())
    );
    // A prefix of SOURCE that names nothing is a filter too; an --exclude-repo that removed
    // everything is named with the --repo it narrowed.
    let (registry, _) = sample_registry(2);
    let misspelt = format!("{}/tea", registry.url());
    let target = format!("oci:{}", out_dir.path().join("from-prefix").display());
    for args in [
        vec!["copy", "-q", &misspelt, &target],
        vec!["verify", &misspelt, &registry.url()],
        vec!["inventory", &misspelt],
    ] {
        let out = run(&args);
        assert_exit_code(&out, 4);
        let err = stderr(&out);
        assert!(
            err.contains("the prefix 'tea' of SOURCE selected nothing in SOURCE"),
            "{args:?}: {err}"
        );
        // `REG/app` names one repository in other tools: how to name it here is said.
        assert!(
            err.contains(
                "to select the repository `tea`, write SOURCE without it and add `--repo tea`"
            ),
            "{args:?}: {err}"
        );
    }
    let out = run(&[
        "inventory",
        "--repo",
        "**",
        "--exclude-repo",
        "**",
        &registry.url(),
    ]);
    assert_exit_code(&out, 4);
    assert!(
        stderr(&out).contains(
            "--exclude-repo '**' left out every repository selected in SOURCE, so nothing was done"
        ),
        "{}",
        stderr(&out)
    );
    // No filter: an empty selection is not an error.
    let empty = tempfile::tempdir().unwrap();
    acr_relocate::transport::layout::Layout::create(&empty.path().join("sample")).unwrap();
    assert_success(&run(&["inventory", &oci(empty.path())]));
}

#[test]
fn conflicting_or_ignored_flags_are_refused() {
    let (dir, _) = sample_layout(1, 1);
    let src = oci(dir.path());
    let target = "oci:/nonexistent/never-written";
    // A password given twice, or stdin without a user to read it for.
    assert_usage_error(
        &[
            "copy",
            "--src-creds",
            "a:b",
            "--src-password-stdin",
            &src,
            target,
        ],
        "--src-creds has a password and --src-password-stdin would read another",
    );
    let out = run(&["copy", "--dst-password-stdin", &src, target]);
    assert_exit_code(&out, 2);
    assert!(stderr(&out).contains("--dst-creds"), "{}", stderr(&out));
    // Options of --mode import in a streamed copy.
    assert_usage_error(
        &["copy", "--force", &src, target],
        "--force only applies to --mode import",
    );
    // Nothing at once would do nothing.
    let out = run(&["copy", "--jobs", "0", &src, target]);
    assert_exit_code(&out, 2);
    assert!(stderr(&out).contains("at least 1"), "{}", stderr(&out));
}

#[test]
fn one_sided_commands_offer_only_their_side_options() {
    let sample = stdout(&run(&["sample", "--help"]));
    assert!(sample.contains("--dst-creds"), "{sample}");
    assert!(
        !sample.contains("--src-"),
        "sample writes no source: {sample}"
    );
    let inventory = stdout(&run(&["inventory", "--help"]));
    assert!(inventory.contains("--src-creds"), "{inventory}");
    assert!(
        !inventory.contains("--dst-"),
        "inventory reads no target: {inventory}"
    );
    let dir = tempfile::tempdir().unwrap();
    let out = run(&[
        "sample",
        "--acr",
        "source",
        &format!("oci:{}", dir.path().display()),
    ]);
    assert_exit_code(&out, 2);
    assert!(
        stderr(&out).contains("reaches only the target"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn an_io_error_is_said_once_and_names_the_file_given() {
    let out_dir = tempfile::tempdir().unwrap();
    let target = format!("oci:{}", out_dir.path().join("out").display());
    let out = run(&["copy", "oci-archive:/nonexistent/export.tar", &target]);
    assert_exit_code(&out, 2);
    let err = stderr(&out);
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert_eq!(err.matches("No such file or directory").count(), 1, "{err}");
    assert!(err.contains("/nonexistent/export.tar"), "{err}");
}

#[test]
fn a_config_error_and_a_plan_error_are_one_line_each() {
    let work = tempfile::tempdir().unwrap();
    let config = work.path().join("bad.toml");
    std::fs::write(
        &config,
        "[source]\nregistry = \"oci:src\"\n[target]\nregistry = \"oci:out\"\n[copy]\njobs = \"x\"\n",
    )
    .unwrap();
    let plan = work.path().join("p.json");
    let (config_text, plan_text) = (config.display().to_string(), plan.display().to_string());
    assert_usage_error(
        &["plan", "-c", &config_text, "-o", &plan_text],
        "TOML parse error at line 6, column 8: invalid type: string \"x\", expected usize",
    );
    std::fs::write(
        &config,
        "[source]\nregistry = \"oci:src\"\n[target]\nregistry = \"oci:out\"\n[copy]\njobs = 0\n",
    )
    .unwrap();
    assert_usage_error(
        &["plan", "-c", &config_text, "-o", &plan_text],
        "0 would copy nothing: give at least 1",
    );
    std::fs::write(&plan, "{\"x\": 1}").unwrap();
    let out = run(&["apply", &plan_text]);
    assert_usage_error(
        &["apply", &plan_text],
        "not a plan written by `acr-relocate plan`",
    );
    assert!(
        !stderr(&out).contains("plan: not a plan"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_missing_blob_is_named_by_its_digest() {
    let (dir, _) = sample_layout(3, 9);
    let src = oci(dir.path());
    let out_dir = tempfile::tempdir().unwrap();
    let copy_root = out_dir.path().join("sample");
    let target = oci(out_dir.path());
    assert_success(&run(&["copy", "-q", &src, &target]));
    // The last layer of one image, taken out of the copy.
    let store = open(&src);
    let layer = last_layer(&store, "svc2", "v1.0.0");
    std::fs::remove_file(copy_root.join("blobs/sha256").join(layer.hex())).unwrap();
    let out = run(&["verify", "--deep", &src, &target]);
    assert_exit_code(&out, 1);
    let text = stdout(&out);
    let line = text
        .lines()
        .find(|l| l.starts_with("broken "))
        .unwrap_or_else(|| panic!("no broken line: {text}"));
    assert!(
        line.contains(&format!("blob {layer} (")) && line.contains("missing in the target"),
        "{line}"
    );
}

/// A copy into a prefix of its own source would find its own output on the next run and nest
/// deeper each time; a copy onto itself does nothing: both are refused before anything is read.
#[test]
fn a_copy_into_its_own_source_is_refused() {
    let (registry, _) = sample_registry(1);
    let url = registry.url();
    let mirror = format!("{url}/mirror");
    for (source, target) in [(&url, &mirror), (&url, &url), (&mirror, &url)] {
        let out = run(&["copy", "-q", source, target]);
        assert_exit_code(&out, 2);
        let err = stderr(&out);
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
        assert!(
            err.contains("names the same repositories as the source"),
            "{source} -> {target}: {err}"
        );
    }
    let catalog = repositories(&open(&url));
    assert!(
        catalog.iter().all(|r| !r.starts_with("mirror/")),
        "nothing copied: {catalog:?}"
    );
    // Disjoint prefixes of one registry are two sets of repositories.
    let (dir, _) = sample_layout(1, 1);
    assert_success(&run(&["copy", "-q", &oci(dir.path()), &format!("{url}/a")]));
    assert_success(&run(&[
        "copy",
        "-q",
        &format!("{url}/a"),
        &format!("{url}/b"),
    ]));
    // A layout onto itself, under another spelling.
    let layout = oci(dir.path());
    let again = format!("oci:{}/./sample/", dir.path().display());
    let out = run(&["copy", "-q", &layout, &again]);
    assert_exit_code(&out, 2);
    assert!(stderr(&out).contains("is the source"), "{}", stderr(&out));
}

/// A reader that closes stdout early (`| head`) ends the command quietly, as other tools end,
/// not with a panic.
#[test]
fn a_closed_stdout_ends_quietly() {
    let (dir, _) = sample_layout(3, 1);
    let out = run_with_stdout_closed(dir.path(), &["inventory", &oci(dir.path())]);
    let err = stderr(&out);
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(out.status.code(), Some(141), "{err}");
}

#[test]
fn delete_source_of_a_layout_or_an_archive_names_what_it_is_and_what_to_remove() {
    let dir = tempfile::tempdir().unwrap();
    for (source, what, it) in [
        (
            format!("oci-archive:{}", dir.path().join("a.tar").display()),
            "is an OCI archive",
            "remove the file",
        ),
        (
            format!("oci:{}", dir.path().join("l").display()),
            "is an OCI layout",
            "remove the directory",
        ),
    ] {
        let out = run(&[
            "delete-source",
            &source,
            "--verified-against",
            "http://127.0.0.1:9",
            "--confirm",
            &source,
        ]);
        assert_exit_code(&out, 2);
        let err = stderr(&out);
        assert!(err.contains(what) && err.contains(it), "{err}");
    }
}

#[test]
fn failures_a_second_try_gets_again_are_not_offered_a_plain_rerun() {
    use crate::support::http::{Response, Server};
    use crate::support::mount_proxy::forward_as_sent;

    let (dir, _) = crate::util::sample_layout(1, 3);
    let dst = crate::util::Registry::start();
    let port = dst.port;
    // The target refuses every manifest: a policy, not a fault on the way.
    let proxy = Server::start_raw(move |request| {
        if request.method == "PUT" && request.path.contains("/manifests/") {
            return Response::json(
                403,
                &serde_json::json!({"errors": [{"code": "DENIED", "message": "pushes are not allowed here"}]}),
            );
        }
        forward_as_sent(port, request)
    });
    let out = run(&["copy", "-q", &crate::util::oci(dir.path()), &proxy.url()]);
    assert_exit_code(&out, 1);
    let report = stdout(&out);
    assert!(
        report.contains("failed, refused: change what each line names")
            && !report.contains("run the same command again to retry them"),
        "{report}"
    );
    let json: serde_json::Value = serde_json::from_slice(
        &run(&[
            "copy",
            "-q",
            "--json",
            &crate::util::oci(dir.path()),
            &proxy.url(),
        ])
        .stdout,
    )
    .unwrap();
    assert_eq!(
        json["failed_refused"].as_u64(),
        Some(json["failed"].as_array().unwrap().len() as u64)
    );
}

/// A target in read-only maintenance mode answers every blob upload 405 without an error code
/// (the method is not served): the copy stops at the first in one line saying the registry
/// takes no pushes, exit 2, instead of one bare `HTTP 405` per tag.
#[test]
fn a_read_only_target_stops_the_copy_in_one_line() {
    let (dir, _) = sample_layout(3, 1);
    let target = Registry::start_read_only();
    let out = run(&["copy", "-q", &oci(dir.path()), &target.url()]);
    assert_exit_code(&out, 2);
    let err = stderr(&out);
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    for needle in [
        &format!("TARGET 127.0.0.1:{}", target.port)[..],
        "the registry does not take pushes (a blob upload was answered HTTP 405, Allow: GET",
        "it is read-only (maintenance mode, or a pull-through cache or mirror)",
    ] {
        assert!(err.contains(needle), "{needle}: {err}");
    }
    assert!(!stdout(&out).contains("FAILED"), "{}", stdout(&out));
}
