//! Bad input and secrets: malformed resource IDs are refused before any network call; a wrong
//! client secret is one line; no secret shows at `-vv`.

use super::fake::{registry_id, RG};
use super::harness::{show, AzureEnv};
use crate::support::{assert_no_secret, assert_one_line_error, run_in};

/// Malformed resource IDs are one-line errors with exit 2, with no Azure and no network: the
/// ARM endpoint is a closed port and no credential is configured.
#[test]
fn malformed_resource_ids_are_refused_before_any_call() {
    let home = tempfile::tempdir().unwrap();
    let out_file = home.path().join("out.json");
    let out_file = out_file.to_str().unwrap();
    let good = registry_id(RG, "myRegistry");
    let env = [
        ("ACR_RELOCATE_ARM_ENDPOINT", "http://127.0.0.1:9"),
        ("AZURE_TENANT_ID", "00000000-0000-0000-0000-000000000001"),
        ("AZURE_CLIENT_ID", "00000000-0000-0000-0000-000000000002"),
        ("AZURE_CLIENT_SECRET", "not-a-real-secret-value"),
        ("AZURE_AUTHORITY_HOST", "https://127.0.0.1:9"),
    ];
    let cases: Vec<Vec<&str>> = vec![
        vec!["azure", "export", "/subscriptions/x/resourceGroups", "-o", out_file],
        vec!["azure", "export", "myRegistry", "-o", out_file],
        vec![
            "azure",
            "export",
            "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/acct",
            "-o",
            out_file,
        ],
        vec!["azure", "settings", &good, "/subscriptions/x/resourceGroups"],
        vec![
            "azure",
            "attach-aks",
            "/subscriptions/x/resourceGroups",
            "--registry",
            &good,
        ],
        vec![
            "copy",
            "http://127.0.0.1:9",
            "http://127.0.0.1:9",
            "--mode",
            "import",
            "--target-id",
            "/subscriptions/x/resourceGroups",
        ],
    ];
    for args in cases {
        let out = run_in(home.path(), &args, &env, None);
        assert_one_line_error(&out, &[]);
        assert!(!std::path::Path::new(out_file).exists(), "{args:?}");
        assert_no_secret(&out, &["not-a-real-secret-value".to_string()]);
        eprintln!("{args:?}: {}", String::from_utf8_lossy(&out.stderr).trim());
    }
}

#[test]
#[ignore = "extra tier: needs Prism and ../shared/specs"]
fn no_secret_shows_at_vv_and_a_wrong_secret_is_one_line() {
    let env = AzureEnv::start();
    let registry = env.fake.add_registry(RG, "myRegistry", |_| {});
    env.fake.add_example_children(&registry);
    let out_file = env.path("export.json");

    // -vv shows every request; the secret and the tokens stay hidden (checked by `run`, against
    // every token issued so far).
    let out = env.run(&[
        "-vv",
        "azure",
        "export",
        &registry,
        "-o",
        out_file.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(!env.aad.issued().is_empty());
    assert_no_secret(&out, &env.secrets());
    // The endpoint given by the environment instead of the flag.
    let out = env.run_with(
        &["azure", "-vv", "settings", &registry, &registry],
        &[("ACR_RELOCATE_ARM_ENDPOINT", &env.router.url())],
    );
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));

    // A wrong client secret: Azure AD's answer in one line, exit 2, no ARM call.
    let before = env.fake.requests().len();
    let wrong = "wrong~secret~0123456789";
    let out = env.run_with(
        &[
            "azure",
            "settings",
            &registry,
            &registry,
            "--arm-endpoint",
            &env.router.url(),
        ],
        &[("AZURE_CLIENT_SECRET", wrong)],
    );
    assert_one_line_error(&out, &["AADSTS7000215"]);
    assert_no_secret(&out, &[wrong.to_string()]);
    assert_eq!(env.fake.requests().len(), before);
    assert!(env
        .aad
        .log()
        .iter()
        .any(|l| l.contains("grant_type=client_credentials")));
    env.finish();
}
