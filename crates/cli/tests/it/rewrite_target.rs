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

/// The remedy's copy names the target as `--target` does (`http://…` here), so it runs as shown.
#[test]
fn a_tag_missing_in_the_target_blocks_the_rewrite_and_nothing_is_written() {
    let (dst, expected) = sample_registry(2);
    let repo = image_repo(&expected);
    let dir = tempfile::tempdir().unwrap();
    let text = &format!("spec:\n  containers:\n    - image: old.example.com/{repo}:v1.0.0\n    - image: old.example.com/{repo}:not-there\n");
    let path = manifests(dir.path(), text);
    let out = rewrite_checked_against(&path, &dst, &[]);
    assert_exit_code(&out, 1);
    let missing = format!(
        "error: {p}:4: {h}/{repo}:not-there: the target has no such tag\n",
        p = path.display(),
        h = host(&dst)
    );
    let remedy = |what: &str| {
        format!(
            "error: {what}: 1 reference(s) are missing from the target or could not be checked; copy the missing images to the target first (`acr-relocate copy old.example.com {t} --repo {repo}`), then run again\n",
            t = dst.url()
        )
    };
    assert_eq!(
        stderr(&out),
        format!("{missing}{}", remedy("nothing was written"))
    );
    assert_eq!(&std::fs::read_to_string(&path).unwrap(), text);

    let out = rewrite_checked_against(&path, &dst, &["--check"]);
    assert_exit_code(&out, 1);
    assert_eq!(
        stderr(&out),
        format!("{missing}{}", remedy("a real run would write nothing")),
        "--check names the missing tag too"
    );
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
fn pin_digests_pins_a_kustomize_entry_that_sets_the_tag_so_the_build_keeps_the_digest() {
    let (dst, expected) = sample_registry(2);
    let repo = image_repo(&expected);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("app.yaml"),
        format!("apiVersion: v1\nkind: Pod\nspec:\n  containers:\n    - image: old.example.com/{repo}:v1.0.0\n"),
    )
    .unwrap();
    let kustomization = dir.path().join("kustomization.yaml");
    std::fs::write(
        &kustomization,
        format!("resources: [app.yaml]\nimages:\n  - name: old.example.com/{repo}\n    newTag: \"v1.0.0\"\n"),
    )
    .unwrap();
    let out = rewrite_checked_against(dir.path(), &dst, &["--pin-digests"]);
    assert_success(&out);
    let v1 = &expected.tags[&repo]["v1.0.0"];
    assert_eq!(
        std::fs::read_to_string(&kustomization).unwrap(),
        format!(
            "resources: [app.yaml]\nimages:\n  - name: {h}/{repo}\n    digest: {v1}\n",
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

/// Runs `rewrite ARGS... --from old.example.com --to new.example.com` in `dir`.
fn rewrite_in(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_acr-relocate"))
        .arg("rewrite")
        .args(args)
        .args(["--from", "old.example.com", "--to", "new.example.com"])
        .current_dir(dir)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap()
}

#[test]
fn a_read_only_file_is_named_and_nothing_is_written() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let text = "image: old.example.com/app:1\n";
    std::fs::create_dir_all(dir.path().join("k8s")).unwrap();
    std::fs::write(dir.path().join("k8s/locked.yaml"), text).unwrap();
    std::fs::write(dir.path().join("k8s/open.yaml"), text).unwrap();
    std::fs::set_permissions(
        dir.path().join("k8s/locked.yaml"),
        std::fs::Permissions::from_mode(0o444),
    )
    .unwrap();
    let out = rewrite_in(dir.path(), &["."]);
    assert_exit_code(&out, 2);
    assert_eq!(stdout(&out), "");
    assert_eq!(
        stderr(&out),
        "error: k8s/locked.yaml is read-only: not rewritten (make it writable and run again)\nerror: nothing was written: 1 file(s) cannot be written safely; make the read-only files and directories writable and run again\n"
    );
    for name in ["k8s/locked.yaml", "k8s/open.yaml"] {
        assert_eq!(
            std::fs::read_to_string(dir.path().join(name)).unwrap(),
            text,
            "{name}"
        );
    }
}

#[test]
fn paths_given_twice_are_read_once_and_named_without_dot_slash() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("k8s")).unwrap();
    std::fs::write(
        dir.path().join("k8s/a.yaml"),
        "image: old.example.com/app:1\n",
    )
    .unwrap();
    let out = rewrite_in(dir.path(), &[".", "k8s/a.yaml", "./k8s/a.yaml", "--diff"]);
    assert_success(&out);
    assert_eq!(
        stdout(&out),
        "--- a/k8s/a.yaml\n+++ b/k8s/a.yaml\n@@ -1 +1 @@\n-image: old.example.com/app:1\n+image: new.example.com/app:1\n"
    );
}

#[test]
fn a_missing_path_is_an_error_without_a_summary() {
    let dir = tempfile::tempdir().unwrap();
    for mode in [&["nope"][..], &["nope", "--check"][..]] {
        let out = rewrite_in(dir.path(), mode);
        assert_exit_code(&out, 2);
        assert_eq!(stdout(&out), "", "{mode:?}");
        assert!(
            stderr(&out).starts_with("error: cannot read nope: "),
            "{}",
            stderr(&out)
        );
    }
}

#[test]
fn check_fails_on_mentions_in_files_of_other_kinds() {
    let dir = tempfile::tempdir().unwrap();
    // Not a registry setting (`REGISTRY=` is rewritten): a mention.
    std::fs::write(dir.path().join(".env"), "MIRROR=old.example.com\n").unwrap();
    std::fs::write(
        dir.path().join("pod.json"),
        "{\"spec\": {\"containers\": [{\"image\": \"old.example.com/app:1\"}]}}\n",
    )
    .unwrap();
    let out = rewrite_in(dir.path(), &[".", "--check"]);
    assert_exit_code(&out, 1);
    assert_eq!(
        stdout(&out),
        ".env:1: mention (not rewritten): MIRROR=old.example.com\npod.json:1: YAML image: old.example.com/app:1\n2 reference(s) to old.example.com remain\n"
    );
}

#[test]
fn an_unreachable_target_is_named_with_its_url_and_the_whole_reason() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.yaml"), "image: old.example.com/app:1\n").unwrap();
    let out = rewrite_in(dir.path(), &["a.yaml", "--target", "http://127.0.0.1:9"]);
    assert_exit_code(&out, 2);
    let err = stderr(&out);
    assert!(
        err.contains("--target http://127.0.0.1:9: TARGET 127.0.0.1:9: connection refused: nothing listens on 127.0.0.1:9"),
        "{err}"
    );
    assert!(!err.contains("url ()"), "{err}");
    assert_eq!(err.matches('(').count(), err.matches(')').count(), "{err}");
}

#[test]
fn pin_digests_pins_a_kustomize_entry_already_at_the_new_registry_and_lists_it() {
    let (dst, expected) = sample_registry(2);
    let repo = image_repo(&expected);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("app.yaml"),
        format!("apiVersion: v1\nkind: Pod\nspec:\n  containers:\n    - image: old.example.com/{repo}:v1.0.0\n"),
    )
    .unwrap();
    let kustomization = dir.path().join("kustomization.yaml");
    std::fs::write(
        &kustomization,
        format!("resources: [app.yaml]\nimages:\n  - name: old.example.com/{repo}\n    newName: {h}/{repo}\n    newTag: \"v1.0.0\"\n", h = host(&dst)),
    )
    .unwrap();
    let out = rewrite_checked_against(dir.path(), &dst, &["--pin-digests"]);
    assert_success(&out);
    let v1 = &expected.tags[&repo]["v1.0.0"];
    assert_eq!(
        std::fs::read_to_string(&kustomization).unwrap(),
        format!(
            "resources: [app.yaml]\nimages:\n  - name: {h}/{repo}\n    newName: {h}/{repo}\n    digest: {v1}\n",
            h = host(&dst)
        ),
        "the tag would otherwise replace the digest pinned in app.yaml"
    );
    let listed = format!(
        "Kustomize images: entries already at {h} whose newTag became a digest (1 pinned):\n  {k}:4: {h}/{repo}@{v1}\n",
        h = host(&dst),
        k = kustomization.display()
    );
    assert!(stdout(&out).contains(&listed), "{}", stdout(&out));
}

/// After `copy SOURCE TARGET/legacy`, `--to HOST/legacy` rewrites `OLD/repo` to
/// `HOST/legacy/repo` and checks that image (the target has nothing at its root).
#[test]
fn a_target_with_a_repository_prefix_is_followed_and_checked_under_the_prefix() {
    let (src, expected) = sample_registry(2);
    let repo = image_repo(&expected);
    let dst = Registry::start();
    let legacy = format!("{}/legacy", dst.url());
    assert_success(&run(&["copy", "-q", &src.url(), &legacy, "--repo", &repo]));
    let dir = tempfile::tempdir().unwrap();
    let text = format!("spec:\n  containers:\n    - image: old.example.com/{repo}:v1.0.0\n");
    let path = manifests(dir.path(), &text);
    let to = format!("{}/legacy", host(&dst));
    let rewrite = |target: &str| {
        let path = path.to_str().unwrap();
        run(&[
            "rewrite",
            path,
            "--from",
            "old.example.com",
            "--to",
            &to,
            "--target",
            target,
        ])
    };
    let out = rewrite(&legacy);
    assert_success(&out);
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        text.replace("old.example.com", &to)
    );

    std::fs::write(&path, format!("image: old.example.com/{repo}:not-there\n")).unwrap();
    let out = rewrite(&legacy);
    assert_exit_code(&out, 1);
    assert!(
        stderr(&out).contains(&format!(
            "{to}/{repo}:not-there: the target has no such tag\n"
        )),
        "{}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains(&format!(
            "(`acr-relocate copy old.example.com {legacy} --repo {repo}`)"
        )),
        "the remedy copies under the prefix: {}",
        stderr(&out)
    );

    let out = rewrite(&format!("{}/other", dst.url()));
    assert_exit_code(&out, 2);
    assert!(
        stderr(&out).contains("its repository prefix must be the one --to"),
        "{}",
        stderr(&out)
    );
}
