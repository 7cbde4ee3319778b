//! `azure export` against a small in-process ARM (plain HTTP on 127.0.0.1, signed in through a
//! stand-in `az` that hands out a fixed access token): where its output goes, when `-o` is
//! checked, and that an ARM error echoing the request's token shows none of it. And `copy --mode
//! import` from an ACR host without a way for importImage to read it, refused before ARM is asked.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use serde_json::json;

use crate::support::http::{Request, Response, Server};
use crate::support::{assert_no_secret, assert_one_line_error, run_in};

/// The access token the stand-in `az` gives.
const TOKEN: &str = "eyJFAKEARMTOKENsecretvalue123";
const RID: &str = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.ContainerRegistry/registries/oldreg";

/// How the ARM stand-in answers.
#[derive(Clone, Copy)]
enum Answer {
    /// Every call succeeds.
    Ok,
    /// Every call answers `status` with a message that repeats the request's Authorization
    /// header, as a careless proxy or service might.
    Echo(u16),
}

/// An ARM that serves the registry `oldreg` (no children) and its export; and the number of
/// requests it received.
fn arm(answer: Answer) -> (Server, Arc<AtomicUsize>) {
    let seen = Arc::new(AtomicUsize::new(0));
    let counter = seen.clone();
    let server = Server::start(move |r: &Request| {
        counter.fetch_add(1, Ordering::SeqCst);
        if let Answer::Echo(status) = answer {
            let auth = r.header("authorization").unwrap_or("none").to_string();
            return Response::json(
                status,
                &json!({"error": {"code": "AuthorizationFailed", "message": format!("The client with token {auth} does not have authorization")}}),
            );
        }
        let path = r.path.to_ascii_lowercase();
        if r.method == "POST" && path.ends_with("/exporttemplate") {
            return Response::json(
                200,
                &json!({"template": {
                    "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
                    "contentVersion": "1.0.0.0",
                    "resources": [{"type": "Microsoft.ContainerRegistry/registries", "apiVersion": "2023-07-01", "name": "oldreg", "location": "eastus", "sku": {"name": "Standard"}, "properties": {}}]
                }}),
            );
        }
        if path == RID.to_ascii_lowercase() {
            return Response::json(
                200,
                &json!({"id": RID, "name": "oldreg", "location": "eastus", "sku": {"name": "Standard"}, "properties": {"loginServer": "oldreg.azurecr.io"}}),
            );
        }
        Response::json(200, &json!({"value": []}))
    });
    (server, seen)
}

/// A home whose `bin/az` prints [`TOKEN`] as `az account get-access-token` does.
fn home_with_az() -> tempfile::TempDir {
    let home = tempfile::tempdir().unwrap();
    std::fs::create_dir(home.path().join("bin")).unwrap();
    let az = home.path().join("bin/az");
    std::fs::write(
        &az,
        format!("#!/bin/sh\necho '{{\"accessToken\":\"{TOKEN}\",\"expires_on\":4102444800,\"tokenType\":\"Bearer\",\"subscription\":\"00000000-0000-0000-0000-000000000001\",\"tenant\":\"t\"}}'\n"),
    )
    .unwrap();
    std::fs::set_permissions(&az, std::fs::Permissions::from_mode(0o755)).unwrap();
    home
}

fn export(home: &Path, arm: &Server, output: &str, extra: &[&str]) -> std::process::Output {
    let url = arm.url();
    let mut args = vec![
        "azure",
        "export",
        RID,
        "-o",
        output,
        "--arm-endpoint",
        &url,
        "--azure-credential",
        "azure-cli",
    ];
    args.extend_from_slice(extra);
    run_in(home, &args, &[], None)
}

#[test]
fn export_to_dash_writes_the_template_on_stdout_and_no_file_named_dash() {
    let home = home_with_az();
    let (server, _) = arm(Answer::Ok);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_acr-relocate"))
        .current_dir(home.path())
        .env(
            "PATH",
            format!(
                "{}:{}",
                home.path().join("bin").display(),
                std::env::var("PATH").unwrap_or_default()
            ),
        )
        .args([
            "azure",
            "export",
            RID,
            "-o",
            "-",
            "--arm-endpoint",
            &server.url(),
            "--azure-credential",
            "azure-cli",
        ])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    let template: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(template["resources"][0]["name"], "oldreg");
    assert!(err.contains("written to stdout"), "{err}");
    assert!(
        !home.path().join("-").exists(),
        "a file named - was written"
    );
}

#[test]
fn an_export_output_that_cannot_be_written_is_refused_before_any_azure_call() {
    let home = home_with_az();
    let (server, seen) = arm(Answer::Ok);
    let dir = home.path().join("exports");
    std::fs::create_dir(&dir).unwrap();
    for output in [
        dir.display().to_string(),
        home.path().join("missing/a.json").display().to_string(),
    ] {
        let out = export(home.path(), &server, &output, &[]);
        assert_one_line_error(&out, &[&format!("-o {output}"), "nothing was written"]);
    }
    assert_eq!(seen.load(Ordering::SeqCst), 0, "ARM was called");
    assert!(std::fs::read_dir(&dir).unwrap().next().is_none());
}

#[test]
fn an_arm_error_that_echoes_the_token_shows_none_of_it_nor_do_the_retry_lines() {
    let home = home_with_az();
    let output = home.path().join("a.json").display().to_string();
    let (refused, _) = arm(Answer::Echo(403));
    let out = export(home.path(), &refused, &output, &[]);
    assert_one_line_error(
        &out,
        &[
            "ARM GET registry oldreg: AuthorizationFailed: The client with token",
            "<redacted>",
            "(HTTP 403)",
        ],
    );
    assert_no_secret(&out, &[TOKEN.to_string()]);

    let (failing, _) = arm(Answer::Echo(500));
    let out = export(home.path(), &failing, &output, &["-v"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("retrying ARM GET registry oldreg"), "{err}");
    assert_no_secret(&out, &[TOKEN.to_string()]);
    assert!(!home.path().join("a.json").exists());
}

/// A SOURCE that is an ACR host (of any cloud), with neither `--source-id` nor `--src-creds`:
/// importImage would pull from it without credentials and fail for every tag after the planning,
/// so the copy is refused before ARM is asked anything (exit 2, one line). With `--src-creds` it
/// is not refused for that (it goes on to ARM).
#[test]
fn import_from_an_acr_host_without_source_id_or_credentials_is_refused_before_any_call() {
    let home = home_with_az();
    let (server, seen) = arm(Answer::Ok);
    let url = server.url();
    let copy = |source: &str, extra: &[&str]| {
        let mut args = vec![
            "copy",
            source,
            "targetregistry.azurecr.io",
            "--mode",
            "import",
            "--target-id",
            RID,
            "--arm-endpoint",
            &url,
            "--azure-credential",
            "azure-cli",
        ];
        args.extend_from_slice(extra);
        run_in(home.path(), &args, &[], None)
    };
    for source in [
        "sourceregistry.azurecr.io",
        "sourceregistry.azurecr.us/team",
        "SourceRegistry.azurecr.cn:443",
    ] {
        let out = copy(source, &[]);
        assert_one_line_error(
            &out,
            &[
                "is an Azure container registry",
                "give --source-id (the resource ID of an ACR the caller can read) or --src-creds",
                "nothing imported",
            ],
        );
    }
    assert_eq!(seen.load(Ordering::SeqCst), 0, "ARM was called");

    let out = copy(
        "sourceregistry.azurecr.io",
        &["--src-creds", "puller:pa55word-x"],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("give --source-id"), "{err}");
    assert!(seen.load(Ordering::SeqCst) > 0, "ARM was not asked: {err}");
    assert_no_secret(&out, &["pa55word-x".to_string()]);
}
