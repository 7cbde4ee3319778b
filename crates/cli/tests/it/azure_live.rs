//! Opt-in: read-only Azure commands against a real subscription. Runs only when
//! `ACR_RELOCATE_LIVE_REGISTRY_ID` is set (with an Azure credential: a service principal in the
//! environment or `az login`); otherwise it returns at once. See docs/azure.md.

use crate::util::{assert_success, run, stdout};

#[test]
fn live_settings_and_export_of_a_real_registry() {
    let Ok(id) = std::env::var("ACR_RELOCATE_LIVE_REGISTRY_ID") else {
        eprintln!(
            "live Azure test not configured (ACR_RELOCATE_LIVE_REGISTRY_ID unset): nothing run"
        );
        return;
    };
    // A registry compared with itself has no difference.
    let out = run(&["azure", "settings", &id, &id]);
    assert_success(&out);
    assert!(stdout(&out).contains("sku"));
    // Its export is a template the rewriter accepts.
    let dir = tempfile::tempdir().unwrap();
    let exported = dir.path().join("exported.json");
    assert_success(&run(&[
        "azure",
        "export",
        &id,
        "-o",
        exported.to_str().unwrap(),
    ]));
    let out = run(&[
        "template",
        exported.to_str().unwrap(),
        "--name",
        "acrrelocatelivecheck",
        "--location",
        "eastus",
    ]);
    assert!(matches!(out.status.code(), Some(0) | Some(1)), "{out:?}");
}
