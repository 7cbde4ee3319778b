//! `rewrite --map`: repository names changed by the copy, followed in the references. A
//! renamed repository gets its new name (below --to's prefix) in every file shape, the target
//! check and --pin-digests look the new name up, --check counts what is left at the old
//! registry, and a malformed --map is refused like any other bad argument.

use std::fs;
use std::path::Path;

use crate::support::oci_push::push_image_as;
use crate::util::*;

fn write(dir: &Path, name: &str, text: &str) {
    let path = dir.join(name);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
}

fn read(dir: &Path, name: &str) -> String {
    fs::read_to_string(dir.join(name)).unwrap()
}

/// Runs `rewrite ARGS...` in `dir`.
fn rewrite_in(dir: &Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_acr-relocate"))
        .arg("rewrite")
        .args(args)
        .current_dir(dir)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap()
}

const MAP: [&str; 4] = [
    "--map",
    "web=frontend/web",
    "--map",
    "team-a/=platform/team-a/",
];

const DEPLOYMENT: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n    spec:\n      containers:\n        - name: web\n          image: old.example.com/web:1.0 # the app\n        - name: sidecar\n          image: \"old.example.com/team-a/sidecar@sha256:abababababababababababababababababababababababababababababababab\"\n        - name: proxy\n          image: old.example.com/proxy:2\n";

const VALUES: &str = "web:\n  image:\n    registry: old.example.com\n    repository: web\n    tag: \"1.0\"\nworker:\n  image:\n    repository: old.example.com/team-a/worker\n    tag: 3.1\n";

const KUSTOMIZATION: &str =
    "resources:\n- ../../k8s/deploy.yaml\nimages:\n- name: old.example.com/web\n  newTag: \"1.1\"\n";

/// The tree of the first tests: a Deployment, Helm values and an overlay of the Deployment.
fn tree(dir: &Path) {
    write(dir, "k8s/deploy.yaml", DEPLOYMENT);
    write(dir, "chart/values.yaml", VALUES);
    write(dir, "overlays/prod/kustomization.yaml", KUSTOMIZATION);
}

#[test]
fn a_directory_of_manifests_helm_values_and_a_kustomization_points_renamed_repositories_at_their_new_names(
) {
    let dir = tempfile::tempdir().unwrap();
    tree(dir.path());
    let mut args = vec![
        ".",
        "--from",
        "old.example.com",
        "--to",
        "new.example.com/legacy",
    ];
    args.extend(MAP);
    let out = rewrite_in(dir.path(), &args);
    assert_success(&out);
    assert_eq!(
        read(dir.path(), "k8s/deploy.yaml"),
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n    spec:\n      containers:\n        - name: web\n          image: new.example.com/legacy/frontend/web:1.0 # the app\n        - name: sidecar\n          image: \"new.example.com/legacy/platform/team-a/sidecar@sha256:abababababababababababababababababababababababababababababababab\"\n        - name: proxy\n          image: new.example.com/legacy/proxy:2\n"
    );
    assert_eq!(
        read(dir.path(), "chart/values.yaml"),
        "web:\n  image:\n    registry: new.example.com/legacy\n    repository: frontend/web\n    tag: \"1.0\"\nworker:\n  image:\n    repository: new.example.com/legacy/platform/team-a/worker\n    tag: 3.1\n"
    );
    // Its only resource now names the new name: the entry's name follows it.
    assert_eq!(
        read(dir.path(), "overlays/prod/kustomization.yaml"),
        "resources:\n- ../../k8s/deploy.yaml\nimages:\n- name: new.example.com/legacy/frontend/web\n  newTag: \"1.1\"\n"
    );
    assert_eq!(
        stdout(&out),
        "rewrote 6 reference(s) in 3 file(s): old.example.com -> new.example.com/legacy\n  chart/values.yaml: 2\n  k8s/deploy.yaml: 3\n  overlays/prod/kustomization.yaml: 1\n"
    );
    assert_eq!(stderr(&out), "");

    // A second run finds everything done under the new names.
    let out = rewrite_in(dir.path(), &args);
    assert_success(&out);
    assert_eq!(
        stdout(&out),
        "rewrote 0 reference(s) in 0 file(s): old.example.com -> new.example.com/legacy\n"
    );
    assert_eq!(stderr(&out), "");
}

/// Helm values naming the registry alone, for images whose repositories are written elsewhere.
const GLOBAL: &str = "global:\n  imageRegistry: old.example.com\n";

/// How `--check` lists [`GLOBAL`] under --map.
const GLOBAL_LISTED: &str = "chart/global.yaml:2: mention (not rewritten): imageRegistry: old.example.com (this Helm registry value holds the old registry alone, and the images named with it may have been renamed by --map (their repositories are written elsewhere): not rewritten; point it at the new registry by hand, and give the renamed repositories their new names where they are written)\n";

#[test]
fn check_with_map_lists_what_is_left_at_the_old_registry_and_passes_once_rewritten() {
    let dir = tempfile::tempdir().unwrap();
    tree(dir.path());
    write(dir.path(), "chart/global.yaml", GLOBAL);
    let mut args = vec![
        ".",
        "--from",
        "old.example.com",
        "--to",
        "new.example.com",
        "--check",
    ];
    args.extend(MAP);
    let out = rewrite_in(dir.path(), &args);
    assert_exit_code(&out, 1);
    assert_eq!(
        stdout(&out),
        format!("{GLOBAL_LISTED}chart/values.yaml:3: Helm image map: old.example.com/web:1.0\nchart/values.yaml:8: Helm image map: old.example.com/team-a/worker:3.1\nk8s/deploy.yaml:10: Kubernetes container image: old.example.com/web:1.0\nk8s/deploy.yaml:12: Kubernetes container image: old.example.com/team-a/sidecar@sha256:abababababababababababababababababababababababababababababababab\nk8s/deploy.yaml:14: Kubernetes container image: old.example.com/proxy:2\noverlays/prod/kustomization.yaml:4: Kustomize images name: old.example.com/web\n7 reference(s) to old.example.com remain\n")
    );
    assert_eq!(stderr(&out), "");

    // What cannot be renamed safely stays listed, with why, after a real run.
    let write_args: Vec<&str> = args.iter().copied().filter(|a| *a != "--check").collect();
    assert_success(&rewrite_in(dir.path(), &write_args));
    let out = rewrite_in(dir.path(), &args);
    assert_exit_code(&out, 1);
    assert_eq!(
        stdout(&out),
        format!("{GLOBAL_LISTED}1 reference(s) to old.example.com remain\n")
    );
    assert_eq!(read(dir.path(), "chart/global.yaml"), GLOBAL);

    fs::remove_file(dir.path().join("chart/global.yaml")).unwrap();
    let out = rewrite_in(dir.path(), &args);
    assert_success(&out);
    assert_eq!(stdout(&out), "no references to old.example.com remain\n");
}

#[test]
fn a_malformed_map_is_refused_before_anything_is_read_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    tree(dir.path());
    for (map, error) in [
        ("web", "error: --map `web`: expected FROM=TO: a repository name and its new name (`web=frontend/web`), or two namespaces ending with / (`team-a/=platform/team-a/`)\n"),
        ("team-a/=platform", "error: --map `team-a/=platform`: a namespace is renamed to a namespace: end both sides with / (`team-a/=platform/team-a/`), or neither for one repository\n"),
    ] {
        let out = rewrite_in(
            dir.path(),
            &[".", "--from", "old.example.com", "--to", "new.example.com", "--map", "a=b", "--map", map],
        );
        assert_exit_code(&out, 2);
        assert_eq!(stdout(&out), "");
        assert_eq!(stderr(&out), error);
    }
    assert_eq!(read(dir.path(), "k8s/deploy.yaml"), DEPLOYMENT);
    assert_eq!(read(dir.path(), "chart/values.yaml"), VALUES);
}

#[test]
fn the_target_check_and_pin_digests_look_up_the_renamed_repository_in_the_target() {
    let dst = Registry::start();
    let (digest, _) = push_image_as(
        dst.port,
        "legacy/frontend/web",
        "1.0",
        "amd64",
        b"the layer of the renamed web",
    );
    let host = format!("127.0.0.1:{}", dst.port);
    let to = format!("{host}/legacy");
    let target = dst.url();
    let dir = tempfile::tempdir().unwrap();
    let text = "spec:\n  containers:\n    - image: old.example.com/web:1.0\n";
    write(dir.path(), "deploy.yaml", text);
    let base = [
        "deploy.yaml",
        "--from",
        "old.example.com",
        "--to",
        &to,
        "--target",
        &target,
    ];

    // Without --map the target is asked for `legacy/web`, which the copy did not make.
    let mut args = base.to_vec();
    args.push("--target-check");
    let out = rewrite_in(dir.path(), &args);
    assert_exit_code(&out, 1);
    assert!(
        stderr(&out).starts_with(&format!(
            "error: deploy.yaml:3: {to}/web:1.0: the target has no such tag\n"
        )),
        "{}",
        stderr(&out)
    );
    assert_eq!(read(dir.path(), "deploy.yaml"), text);

    // With it, `legacy/frontend/web` is found and its digest pinned.
    let mut args = base.to_vec();
    args.extend(["--pin-digests", "--map", "web=frontend/web"]);
    let out = rewrite_in(dir.path(), &args);
    assert_success(&out);
    assert_eq!(
        read(dir.path(), "deploy.yaml"),
        format!("spec:\n  containers:\n    - image: {to}/frontend/web@{digest}\n")
    );
}

#[test]
fn a_renamed_tag_missing_from_the_target_names_the_copy_to_run_with_the_source_name_and_the_map() {
    let dst = Registry::start();
    push_image_as(dst.port, "frontend/web", "1.0", "amd64", b"layer");
    let to = format!("127.0.0.1:{}", dst.port);
    let target = dst.url();
    let dir = tempfile::tempdir().unwrap();
    let text = "spec:\n  containers:\n    - image: old.example.com/web:1.0\n    - image: old.example.com/web:2.0\n";
    write(dir.path(), "deploy.yaml", text);
    let out = rewrite_in(
        dir.path(),
        &[
            "deploy.yaml",
            "--from",
            "old.example.com",
            "--to",
            &to,
            "--target",
            &target,
            "--map",
            "web=frontend/web",
        ],
    );
    assert_exit_code(&out, 1);
    assert_eq!(
        stderr(&out),
        format!("error: deploy.yaml:4: {to}/frontend/web:2.0: the target has no such tag\nerror: nothing was written: 1 reference(s) are missing from the target or could not be checked; copy the missing images to the target first (`acr-relocate copy old.example.com {target} --repo web --map web=frontend/web`), then run again\n")
    );
    assert_eq!(read(dir.path(), "deploy.yaml"), text);
}
