//! `rewrite --target-check` and `--pin-digests` against a real registry.

use crate::util::*;

fn manifests(dir: &std::path::Path, text: &str) -> std::path::PathBuf {
    let path = dir.join("deploy.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

/// A repository of the sample with `v1.0.0` and `latest`.
fn image_repo(expected: &acr_relocate::sample::Expected) -> String {
    expected
        .tags
        .iter()
        .find(|(_, t)| t.contains_key("v1.0.0") && t.contains_key("latest"))
        .map(|(r, _)| r.clone())
        .expect("an image repository in the sample")
}

fn host(registry: &Registry) -> String {
    format!("127.0.0.1:{}", registry.port)
}

/// Runs `rewrite PATH --from old.example.com --to DST --target DST` with `options` after it,
/// `DST` being the registry `dst`.
fn rewrite_checked_against(
    path: &std::path::Path,
    dst: &Registry,
    options: &[&str],
) -> std::process::Output {
    let to = host(dst);
    let target = dst.url();
    let mut args = vec![
        "rewrite",
        path.to_str().unwrap(),
        "--from",
        "old.example.com",
        "--to",
        &to,
        "--target",
        &target,
    ];
    args.extend_from_slice(options);
    run(&args)
}

#[test]
fn a_tag_missing_in_the_target_blocks_the_rewrite_and_nothing_is_written() {
    let (dst, expected) = sample_registry(2);
    let repo = image_repo(&expected);
    let dir = tempfile::tempdir().unwrap();
    let text = &format!("spec:\n  containers:\n    - image: old.example.com/{repo}:v1.0.0\n    - image: old.example.com/{repo}:not-there\n");
    let path = manifests(dir.path(), text);
    let out = rewrite_checked_against(&path, &dst, &[]);
    assert_exit_code(&out, 1);
    let err = stderr(&out);
    assert!(err.contains(&format!("{repo}:not-there")), "{err}");
    assert!(err.contains("nothing was written"), "{err}");
    assert_eq!(&std::fs::read_to_string(&path).unwrap(), text);
}

#[test]
fn pin_digests_replaces_tags_with_the_targets_digests() {
    let (dst, expected) = sample_registry(2);
    let repo = image_repo(&expected);
    let dir = tempfile::tempdir().unwrap();
    let path = manifests(
        dir.path(),
        &format!("spec:\n  containers:\n    - image: old.example.com/{repo}:v1.0.0 # app\n    - image: old.example.com/{repo}:latest\n"),
    );
    let out = rewrite_checked_against(&path, &dst, &["--pin-digests"]);
    assert_success(&out);
    let v1 = &expected.tags[&repo]["v1.0.0"];
    let latest = &expected.tags[&repo]["latest"];
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        format!(
            "spec:\n  containers:\n    - image: {h}/{repo}@{v1} # app\n    - image: {h}/{repo}@{latest}\n",
            h = host(&dst)
        )
    );
}

#[test]
fn a_present_tag_passes_the_check_and_is_rewritten_without_pinning() {
    let (dst, expected) = sample_registry(2);
    let repo = image_repo(&expected);
    let dir = tempfile::tempdir().unwrap();
    let path = manifests(
        dir.path(),
        &format!("image: old.example.com/{repo}:v1.0.0\n"),
    );
    let out = rewrite_checked_against(&path, &dst, &[]);
    assert_success(&out);
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        format!("image: {}/{repo}:v1.0.0\n", host(&dst))
    );
}
