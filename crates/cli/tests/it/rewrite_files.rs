//! `rewrite` end to end on files: files a write would refuse (read-only, in a read-only
//! directory, hard-linked unless written in place on request), named before anything is written
//! and by the previews,
//! symbolic links (the file pointed to is rewritten, the link stays), pipeline registry
//! settings (rewritten and listed in the summary, the registry's short name too), what `--check`
//! says about them, comments naming the old registry, `az acr` commands naming it by its short
//! name, byte order marks, and runs over files that name neither registry (a misspelt
//! `--from`: exit 4 naming the registries the files reference) told from a second run over
//! files already rewritten (exit 0).

use std::fs;
use std::path::Path;

use crate::util::*;

/// Runs `rewrite ARGS... --from old.example.com --to new.example.com` in `dir`.
fn rewrite_in(dir: &Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_acr-relocate"))
        .arg("rewrite")
        .args(args)
        .args(["--from", "old.example.com", "--to", "new.example.com"])
        .current_dir(dir)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap()
}

fn write(dir: &Path, name: &str, text: &str) {
    let path = dir.join(name);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
}

const OLD: &str = "image: old.example.com/app:1\n";
const NEW: &str = "image: new.example.com/app:1\n";

#[test]
fn a_hard_linked_file_is_refused_by_name_and_no_file_is_written() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "k8s/a.yaml", OLD);
    write(dir.path(), "k8s/b.yaml", OLD);
    fs::hard_link(
        dir.path().join("k8s/b.yaml"),
        dir.path().join("b-copy.yaml"),
    )
    .unwrap();
    let out = rewrite_in(dir.path(), &["k8s"]);
    assert_exit_code(&out, 2);
    assert_eq!(stdout(&out), "");
    assert_eq!(
        stderr(&out),
        "error: k8s/b.yaml has 2 hard links: replacing it would leave its other names with the old content\nerror: nothing was written: 1 file(s) cannot be written safely; pass --in-place-hard-links to write hard-linked files in place (or break their links with `cp` first)\n"
    );
    for name in ["k8s/a.yaml", "k8s/b.yaml", "b-copy.yaml"] {
        assert_eq!(
            fs::read_to_string(dir.path().join(name)).unwrap(),
            OLD,
            "{name}"
        );
    }
}

#[test]
fn in_place_hard_links_writes_through_every_name_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "k8s/a.yaml", OLD);
    write(dir.path(), "k8s/b.yaml", OLD);
    fs::hard_link(
        dir.path().join("k8s/b.yaml"),
        dir.path().join("b-copy.yaml"),
    )
    .unwrap();
    let out = rewrite_in(dir.path(), &["k8s", "--in-place-hard-links"]);
    assert_success(&out);
    assert_eq!(
        stdout(&out),
        "rewrote 2 reference(s) in 2 file(s): old.example.com -> new.example.com\n  k8s/a.yaml: 1\n  k8s/b.yaml: 1 (written in place: it has other hard links)\n"
    );
    for name in ["k8s/a.yaml", "k8s/b.yaml", "b-copy.yaml"] {
        assert_eq!(
            fs::read_to_string(dir.path().join(name)).unwrap(),
            NEW,
            "{name}"
        );
    }
}

#[test]
fn check_and_dry_run_name_a_hard_linked_file_a_real_run_would_refuse_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "a.yaml", OLD);
    fs::hard_link(dir.path().join("a.yaml"), dir.path().join("b.yaml")).unwrap();
    let refused = "error: a.yaml has 2 hard links: replacing it would leave its other names with the old content\nerror: a real run would write nothing: 1 file(s) cannot be written safely; pass --in-place-hard-links to write hard-linked files in place (or break their links with `cp` first)\n";

    let out = rewrite_in(dir.path(), &["a.yaml", "--dry-run"]);
    assert_exit_code(&out, 2);
    assert_eq!(
        stdout(&out),
        "would rewrite 1 reference(s) in 1 file(s): old.example.com -> new.example.com (nothing written)\n  a.yaml: 1\n"
    );
    assert_eq!(stderr(&out), refused);

    let out = rewrite_in(dir.path(), &["a.yaml", "--check"]);
    assert_exit_code(&out, 2);
    assert_eq!(
        stdout(&out),
        "a.yaml:1: YAML image: old.example.com/app:1\n1 reference(s) to old.example.com remain\n"
    );
    assert_eq!(stderr(&out), refused);

    let out = rewrite_in(dir.path(), &["a.yaml", "--diff"]);
    assert_exit_code(&out, 2);
    assert_eq!(stderr(&out), refused, "a --diff preview says so too");
    assert_eq!(fs::read_to_string(dir.path().join("a.yaml")).unwrap(), OLD);
}

#[test]
fn check_and_dry_run_with_in_place_hard_links_preview_a_run_that_writes_it_in_place() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "a.yaml", OLD);
    fs::hard_link(dir.path().join("a.yaml"), dir.path().join("b.yaml")).unwrap();
    let out = rewrite_in(
        dir.path(),
        &["a.yaml", "--dry-run", "--in-place-hard-links"],
    );
    assert_success(&out);
    assert_eq!(
        stdout(&out),
        "would rewrite 1 reference(s) in 1 file(s): old.example.com -> new.example.com (nothing written)\n  a.yaml: 1 (would be written in place: it has other hard links)\n"
    );
    assert_eq!(stderr(&out), "");
    let out = rewrite_in(dir.path(), &["a.yaml", "--check", "--in-place-hard-links"]);
    assert_exit_code(&out, 1);
    assert_eq!(
        stderr(&out),
        "",
        "references remain, nothing would be refused"
    );
    assert_eq!(fs::read_to_string(dir.path().join("a.yaml")).unwrap(), OLD);
}

#[test]
fn a_file_in_a_read_only_directory_is_named_and_nothing_is_written() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "k8s/a.yaml", OLD);
    write(dir.path(), "locked/b.yaml", OLD);
    let locked = dir.path().join("locked");
    fs::set_permissions(&locked, fs::Permissions::from_mode(0o555)).unwrap();
    let out = rewrite_in(dir.path(), &["."]);
    fs::set_permissions(&locked, fs::Permissions::from_mode(0o755)).unwrap();
    assert_exit_code(&out, 2);
    assert_eq!(stdout(&out), "");
    assert_eq!(
        stderr(&out),
        "error: locked/b.yaml is in a read-only directory (locked): the rewritten file cannot be put in its place\nerror: nothing was written: 1 file(s) cannot be written safely; make the read-only files and directories writable and run again\n"
    );
    for name in ["k8s/a.yaml", "locked/b.yaml"] {
        assert_eq!(
            fs::read_to_string(dir.path().join(name)).unwrap(),
            OLD,
            "{name}"
        );
    }
}

#[test]
fn read_only_and_hard_linked_files_are_each_named_with_one_line_saying_what_to_do() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "k8s/a.yaml", OLD);
    write(dir.path(), "k8s/b.yaml", OLD);
    write(dir.path(), "k8s/c.yaml", OLD);
    write(dir.path(), "k8s/d.yaml", OLD);
    fs::set_permissions(
        dir.path().join("k8s/b.yaml"),
        fs::Permissions::from_mode(0o444),
    )
    .unwrap();
    fs::hard_link(
        dir.path().join("k8s/c.yaml"),
        dir.path().join("c-copy.yaml"),
    )
    .unwrap();
    let expected = "error: k8s/b.yaml is read-only: not rewritten (make it writable and run again)\nerror: k8s/c.yaml has 2 hard links: replacing it would leave its other names with the old content\nerror: nothing was written: 2 file(s) cannot be written safely; make the read-only files and directories writable and run again; pass --in-place-hard-links to write hard-linked files in place (or break their links with `cp` first)\n";
    let out = rewrite_in(dir.path(), &["k8s"]);
    assert_exit_code(&out, 2);
    assert_eq!(stdout(&out), "");
    assert_eq!(stderr(&out), expected);
    let out = rewrite_in(dir.path(), &["k8s", "--diff", "--write"]);
    assert_exit_code(&out, 2);
    assert_eq!(stderr(&out), expected, "--diff --write refuses the same");
    for name in ["k8s/a.yaml", "k8s/b.yaml", "k8s/c.yaml", "k8s/d.yaml"] {
        assert_eq!(
            fs::read_to_string(dir.path().join(name)).unwrap(),
            OLD,
            "{name}"
        );
    }
}

#[test]
fn a_symbolic_link_given_as_a_path_rewrites_its_target_and_stays_a_link() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "shared/deploy.yaml", OLD);
    std::os::unix::fs::symlink("shared/deploy.yaml", dir.path().join("deploy.yaml")).unwrap();
    let out = rewrite_in(dir.path(), &["deploy.yaml"]);
    assert_success(&out);
    assert_eq!(
        stdout(&out),
        "rewrote 1 reference(s) in 1 file(s): old.example.com -> new.example.com\n  deploy.yaml: 1\n"
    );
    let link = fs::symlink_metadata(dir.path().join("deploy.yaml")).unwrap();
    assert!(
        link.file_type().is_symlink(),
        "the link is not replaced by a file"
    );
    assert_eq!(
        fs::read_to_string(dir.path().join("shared/deploy.yaml")).unwrap(),
        NEW
    );
}

const WORKFLOW: &str = "env:\n  REGISTRY: old.example.com # pushes go here\n  SOURCE_REGISTRY: old.example.com\njobs:\n  push:\n    steps:\n      - uses: docker/login-action@v3\n        with:\n          registry: \"old.example.com\"\n      - run: docker push ${{ env.REGISTRY }}/app:1\n";

#[test]
fn pipeline_registry_settings_are_rewritten_and_named_in_the_summary() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), ".github/workflows/release.yml", WORKFLOW);
    write(dir.path(), ".env", "REGISTRY=old.example.com\n");
    write(
        dir.path(),
        "azure-pipelines.yml",
        "variables:\n  dockerRegistryServiceConnection: old.example.com\n",
    );
    let out = rewrite_in(dir.path(), &["."]);
    assert_success(&out);
    assert_eq!(
        stdout(&out),
        "rewrote 4 reference(s) in 3 file(s): old.example.com -> new.example.com
  .env: 1
  .github/workflows/release.yml: 2
  azure-pipelines.yml: 1
registry settings rewritten (4 variable(s) or input(s); pipelines now log in and push to new.example.com):
  .env:1: REGISTRY
  .github/workflows/release.yml:2: REGISTRY
  .github/workflows/release.yml:9: registry
  azure-pipelines.yml:2: dockerRegistryServiceConnection (a service connection named new.example.com must exist)
left alone (1 mention(s) of old.example.com that are not image fields; check them by hand):
  .github/workflows/release.yml:3: SOURCE_REGISTRY: old.example.com
"
    );
    assert_eq!(
        fs::read_to_string(dir.path().join(".github/workflows/release.yml")).unwrap(),
        WORKFLOW
            .replacen(
                "REGISTRY: old.example.com #",
                "REGISTRY: new.example.com #",
                1
            )
            .replace("\"old.example.com\"", "\"new.example.com\"")
    );
    assert_eq!(
        fs::read_to_string(dir.path().join(".env")).unwrap(),
        "REGISTRY=new.example.com\n"
    );
}

#[test]
fn dry_run_and_check_name_the_registry_settings() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), ".github/workflows/release.yml", WORKFLOW);
    let out = rewrite_in(dir.path(), &[".", "--dry-run"]);
    assert_success(&out);
    assert!(
        stdout(&out).contains("registry settings to rewrite (2 variable(s) or input(s); pipelines would log in and push to new.example.com):\n  .github/workflows/release.yml:2: REGISTRY\n"),
        "{}",
        stdout(&out)
    );
    let out = rewrite_in(dir.path(), &[".", "--check"]);
    assert_exit_code(&out, 1);
    assert_eq!(
        stdout(&out),
        ".github/workflows/release.yml:2: registry setting REGISTRY: old.example.com
.github/workflows/release.yml:3: mention (not rewritten): SOURCE_REGISTRY: old.example.com
.github/workflows/release.yml:9: registry setting registry: old.example.com
3 reference(s) to old.example.com remain
"
    );
    assert_eq!(
        fs::read_to_string(dir.path().join(".github/workflows/release.yml")).unwrap(),
        WORKFLOW
    );
}

#[test]
fn an_argo_cd_application_has_the_images_in_its_helm_values_string_rewritten_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let app = "apiVersion: argoproj.io/v1alpha1\nkind: Application\nspec:\n  sources:\n    - repoURL: https://github.com/example/charts.git\n      path: web\n      helm:\n        values: |\n          image:\n            repository: old.example.com/web  # CI bumps this\n            tag: \"1.2\"\n        parameters:\n          - name: global.imageRegistry\n            value: old.example.com\n";
    write(dir.path(), "apps/web.yaml", app);
    let out = rewrite_in(dir.path(), &["apps"]);
    assert_success(&out);
    assert_eq!(
        stdout(&out),
        "rewrote 2 reference(s) in 1 file(s): old.example.com -> new.example.com\n  apps/web.yaml: 2\n"
    );
    assert_eq!(
        fs::read_to_string(dir.path().join("apps/web.yaml")).unwrap(),
        app.replace("old.example.com", "new.example.com")
    );
}

/// Runs `rewrite ARGS... --from myacr.azurecr.io --to newacr.azurecr.io` in `dir`.
fn rewrite_acr_in(dir: &Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_acr-relocate"))
        .arg("rewrite")
        .args(args)
        .args(["--from", "myacr.azurecr.io", "--to", "newacr.azurecr.io"])
        .current_dir(dir)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap()
}

#[test]
fn a_yaml_file_that_cannot_be_parsed_is_named_once_in_a_warning_and_its_mentions_fail_check() {
    let dir = tempfile::tempdir().unwrap();
    let helmfile = "releases:\n{{- range $env := list \"dev\" \"prod\" }}\n  - name: web-{{ $env }}\n    values:\n      - image:\n          registry: old.example.com\n{{- end }}\n";
    write(dir.path(), "helmfile.yaml", helmfile);
    write(dir.path(), "k8s/a.yaml", OLD);
    let warning = "warning: helmfile.yaml:2: not read as YAML (expected a `key:` here): nothing in it is rewritten; its mentions of the old registry are listed as text (fix the file or edit it by hand)\n";

    let out = rewrite_in(dir.path(), &[".", "--check"]);
    assert_exit_code(&out, 1);
    assert_eq!(stderr(&out), warning);
    assert_eq!(
        stdout(&out),
        "helmfile.yaml:6: mention (not rewritten): registry: old.example.com\nk8s/a.yaml:1: YAML image: old.example.com/app:1\n2 reference(s) to old.example.com remain\n"
    );

    let out = rewrite_in(dir.path(), &["."]);
    assert_success(&out);
    assert_eq!(stderr(&out), warning);
    assert_eq!(
        stdout(&out),
        "rewrote 1 reference(s) in 1 file(s): old.example.com -> new.example.com\n  k8s/a.yaml: 1\nleft alone (1 mention(s) of old.example.com that are not image fields; check them by hand):\n  helmfile.yaml:6: registry: old.example.com\n"
    );
    assert_eq!(
        fs::read_to_string(dir.path().join("helmfile.yaml")).unwrap(),
        helmfile
    );

    let out = rewrite_in(dir.path(), &[".", "--check"]);
    assert_exit_code(&out, 1);
    assert_eq!(stderr(&out), warning, "said again, once");
}

#[test]
fn a_dockerfile_that_cannot_be_parsed_is_left_as_it_is_with_a_warning_and_check_lists_its_lines() {
    let dir = tempfile::tempdir().unwrap();
    let dockerfile = "FROM old.example.com/base:1\nFROMM old.example.com/typo:2\n";
    write(dir.path(), "Dockerfile", dockerfile);
    write(dir.path(), "k8s/a.yaml", OLD);
    let warning = "warning: Dockerfile:2: not read as a Dockerfile (unknown instruction `FROMM`): nothing in it is rewritten; its mentions of the old registry are listed as text (fix the file or edit it by hand)\n";

    let out = rewrite_in(dir.path(), &[".", "--check"]);
    assert_exit_code(&out, 1);
    assert_eq!(stderr(&out), warning);
    assert_eq!(
        stdout(&out),
        "Dockerfile:1: mention (not rewritten): FROM old.example.com/base:1\nDockerfile:2: mention (not rewritten): FROMM old.example.com/typo:2\nk8s/a.yaml:1: YAML image: old.example.com/app:1\n3 reference(s) to old.example.com remain\n"
    );

    let out = rewrite_in(dir.path(), &["."]);
    assert_success(&out);
    assert_eq!(stderr(&out), warning);
    assert!(
        stdout(&out).contains("left alone (2 mention(s) of old.example.com that are not image fields; check them by hand):\n  Dockerfile:1: FROM old.example.com/base:1\n"),
        "{}",
        stdout(&out)
    );
    assert_eq!(
        fs::read_to_string(dir.path().join("Dockerfile")).unwrap(),
        dockerfile
    );
    assert_eq!(
        fs::read_to_string(dir.path().join("k8s/a.yaml")).unwrap(),
        NEW
    );
}

#[test]
fn a_binary_file_is_skipped_in_a_walk_and_when_named_and_a_nul_byte_after_8_kib_is_text() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(
        dir.path().join("logo.png"),
        b"\x89PNG\0\0old.example.com/app:1\n",
    )
    .unwrap();
    let mut late = vec![b'#'; 9000];
    late.extend_from_slice(b"\nold.example.com/app:1\n\0");
    fs::write(dir.path().join("late.dat"), late).unwrap();
    let out = rewrite_in(dir.path(), &[".", "--check"]);
    assert_exit_code(&out, 1);
    assert_eq!(
        stdout(&out),
        "late.dat:2: mention (not rewritten): old.example.com/app:1\n1 reference(s) to old.example.com remain\n"
    );
    // Named alone, the binary file leaves nothing to read: said, as any run that reads nothing
    // naming either registry (below).
    let out = rewrite_in(dir.path(), &["logo.png", "--check"]);
    assert_exit_code(&out, 4);
    assert_eq!(stdout(&out), "no references to old.example.com remain\n");
    assert_eq!(stderr(&out), format!("{NOTHING_READ}\n"));
}

#[test]
fn check_lists_regional_endpoints_of_the_old_registry_with_a_note() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "login.sh",
        "docker login myacr.westeurope.geo.azurecr.io\n",
    );
    let out = rewrite_acr_in(dir.path(), &[".", "--check"]);
    assert_exit_code(&out, 1);
    assert_eq!(
        stdout(&out),
        "login.sh:1: mention (not rewritten): docker login myacr.westeurope.geo.azurecr.io (the westeurope geo-replica login server of myacr.azurecr.io: not rewritten (the new registry's replicas may differ); point it at the new login server or one of its replicas by hand)\n1 reference(s) to myacr.azurecr.io remain\n"
    );
}

#[test]
fn a_kustomize_overlay_whose_base_is_outside_the_run_keeps_its_name_and_its_new_tag() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "shared/base/deploy.yaml",
        "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n    - image: old.example.com/web:1.0\n",
    );
    write(
        dir.path(),
        "shared/base/kustomization.yaml",
        "resources:\n- deploy.yaml\n",
    );
    let overlay = "resources:\n- ../../../shared/base\nimages:\n- name: old.example.com/web\n  newTag: \"2.0\"\n";
    write(dir.path(), "app/deploy/prod/kustomization.yaml", overlay);
    write(
        dir.path(),
        "app/docker-compose.yml",
        "services:\n  web:\n    image: old.example.com/web:dev\n",
    );
    let out = rewrite_in(dir.path(), &["app"]);
    assert_success(&out);
    assert_eq!(
        fs::read_to_string(dir.path().join("app/deploy/prod/kustomization.yaml")).unwrap(),
        overlay.replace("  newTag", "  newName: new.example.com/web\n  newTag")
    );
}

#[test]
fn a_manifest_starting_with_a_byte_order_mark_is_reported_as_kubernetes_and_keeps_the_mark() {
    let dir = tempfile::tempdir().unwrap();
    let pod = "\u{feff}apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n    - name: a\n      image: old.example.com/a:1\n";
    write(dir.path(), "bom.yaml", pod);
    let out = rewrite_in(dir.path(), &["bom.yaml", "--check"]);
    assert_exit_code(&out, 1);
    assert_eq!(
        stdout(&out),
        "bom.yaml:8: Kubernetes container image: old.example.com/a:1\n1 reference(s) to old.example.com remain\n"
    );
    let out = rewrite_in(dir.path(), &["bom.yaml"]);
    assert_success(&out);
    assert_eq!(
        fs::read(dir.path().join("bom.yaml")).unwrap(),
        pod.replace("old.example.com", "new.example.com")
            .into_bytes()
    );
}

#[test]
fn check_lists_comments_naming_the_old_registry_in_yaml_and_dockerfiles_and_a_run_leaves_them() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = "# Platform workloads -- registry old.example.com\napiVersion: v1\nkind: Pod\nspec:\n  containers:\n    - image: old.example.com/a:1\n";
    let dockerfile = "# base image comes from old.example.com\nFROM old.example.com/base:1\n";
    write(dir.path(), "k8s/app.yaml", manifest);
    write(dir.path(), "Dockerfile", dockerfile);
    let out = rewrite_in(dir.path(), &[".", "--check"]);
    assert_exit_code(&out, 1);
    assert_eq!(
        stdout(&out),
        "Dockerfile:1: mention (not rewritten): # base image comes from old.example.com
Dockerfile:2: Dockerfile FROM: old.example.com/base:1
k8s/app.yaml:1: mention (not rewritten): # Platform workloads -- registry old.example.com
k8s/app.yaml:6: Kubernetes container image: old.example.com/a:1
4 reference(s) to old.example.com remain
"
    );
    let out = rewrite_in(dir.path(), &["."]);
    assert_success(&out);
    assert_eq!(
        stdout(&out),
        "rewrote 2 reference(s) in 2 file(s): old.example.com -> new.example.com
  Dockerfile: 1
  k8s/app.yaml: 1
left alone (2 mention(s) of old.example.com that are not image fields; check them by hand):
  Dockerfile:1: # base image comes from old.example.com
  k8s/app.yaml:1: # Platform workloads -- registry old.example.com
"
    );
    assert_eq!(
        fs::read_to_string(dir.path().join("k8s/app.yaml")).unwrap(),
        manifest.replace("image: old", "image: new")
    );
}

#[test]
fn a_registry_name_setting_gets_the_new_short_name_and_az_acr_commands_naming_the_old_one_are_listed(
) {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), ".env", "REGISTRY_NAME=myacr\nACR_NAME=myacr\n");
    write(
        dir.path(),
        "deploy.sh",
        "#!/bin/sh\naz acr login --name myacr\n",
    );
    let pipeline = "variables:\n  registryName: myacr\nsteps:\n  - script: az acr login -n myacr\n";
    write(dir.path(), "azure-pipelines.yml", pipeline);
    let note = "(an `az acr` command naming myacr.azurecr.io by its short name myacr: not rewritten; give it the new registry's name by hand)";
    let out = rewrite_acr_in(dir.path(), &["."]);
    assert_success(&out);
    assert_eq!(
        stdout(&out),
        format!(
            "rewrote 3 reference(s) in 2 file(s): myacr.azurecr.io -> newacr.azurecr.io
  .env: 2
  azure-pipelines.yml: 1
registry settings rewritten (3 variable(s) or input(s); pipelines now log in and push to newacr.azurecr.io):
  .env:1: REGISTRY_NAME (the registry's short name: newacr)
  .env:2: ACR_NAME (the registry's short name: newacr)
  azure-pipelines.yml:2: registryName (the registry's short name: newacr)
left alone (2 mention(s) of myacr.azurecr.io that are not image fields; check them by hand):
  azure-pipelines.yml:4: - script: az acr login -n myacr {note}
  deploy.sh:2: az acr login --name myacr {note}
"
        )
    );
    assert_eq!(
        fs::read_to_string(dir.path().join(".env")).unwrap(),
        "REGISTRY_NAME=newacr\nACR_NAME=newacr\n"
    );
    assert_eq!(
        fs::read_to_string(dir.path().join("azure-pipelines.yml")).unwrap(),
        pipeline.replacen("myacr", "newacr", 1)
    );
    let out = rewrite_acr_in(dir.path(), &[".", "--check"]);
    assert_exit_code(&out, 1);
    assert_eq!(
        stdout(&out),
        format!(
            "azure-pipelines.yml:4: mention (not rewritten): - script: az acr login -n myacr {note}
deploy.sh:2: mention (not rewritten): az acr login --name myacr {note}
2 reference(s) to myacr.azurecr.io remain
"
        )
    );
}

#[test]
fn an_az_acr_command_continued_over_lines_is_listed_like_one_on_a_single_line() {
    let dir = tempfile::tempdir().unwrap();
    let dockerfile = "FROM mcr.microsoft.com/azure-cli:2\nRUN az acr login \\\n    --name myacr\n";
    write(dir.path(), "Dockerfile", dockerfile);
    write(
        dir.path(),
        "deploy.sh",
        "#!/bin/sh\naz acr build \\\n  --registry myacr .\n",
    );
    let workflow = "on: push\njobs:\n  push:\n    runs-on: ubuntu-latest\n    steps:\n      - run: |\n          az acr login \\\n            -n myacr\n";
    write(dir.path(), ".github/workflows/ci.yml", workflow);
    let note = "(an `az acr` command naming myacr.azurecr.io by its short name myacr: not rewritten; give it the new registry's name by hand)";
    let out = rewrite_acr_in(dir.path(), &[".", "--check"]);
    assert_exit_code(&out, 1);
    assert_eq!(
        stdout(&out),
        format!(
            ".github/workflows/ci.yml:8: mention (not rewritten): -n myacr {note}
Dockerfile:3: mention (not rewritten): --name myacr {note}
deploy.sh:3: mention (not rewritten): --registry myacr . {note}
3 reference(s) to myacr.azurecr.io remain
"
        )
    );
    let out = rewrite_acr_in(dir.path(), &["."]);
    assert_success(&out);
    assert_eq!(
        fs::read_to_string(dir.path().join("Dockerfile")).unwrap(),
        dockerfile
    );
}

#[test]
fn a_kustomize_entry_matching_resources_that_move_and_resources_that_stay_is_split_and_a_second_run_finds_nothing(
) {
    let dir = tempfile::tempdir().unwrap();
    let pod =
        "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n    - image: old.example.com/web:1.0\n";
    write(dir.path(), "app/base/pod.yaml", pod);
    write(dir.path(), "shared/pod.yaml", pod);
    let overlay = "resources:\n- base/pod.yaml\n- ../shared/pod.yaml\nimages:\n- name: old.example.com/web\n  newTag: \"2.0\"\n";
    write(dir.path(), "app/kustomization.yaml", overlay);
    let out = rewrite_in(dir.path(), &["app"]);
    assert_success(&out);
    assert_eq!(
        stdout(&out),
        "rewrote 3 reference(s) in 2 file(s): old.example.com -> new.example.com\n  app/base/pod.yaml: 1\n  app/kustomization.yaml: 2\n"
    );
    assert_eq!(
        fs::read_to_string(dir.path().join("app/kustomization.yaml")).unwrap(),
        "resources:\n- base/pod.yaml\n- ../shared/pod.yaml\nimages:\n- name: old.example.com/web\n  newName: new.example.com/web\n- name: new.example.com/web\n  newTag: \"2.0\"\n"
    );
    let out = rewrite_in(dir.path(), &["app", "--check"]);
    assert_exit_code(&out, 0);
    assert_eq!(stdout(&out), "no references to old.example.com remain\n");
}

/// Runs `rewrite ARGS...` in `dir` with its stdout closed by the reader before the output
/// (far more than a pipe holds) is read, as `rewrite ... | head -1` closes it.
fn rewrite_into_a_closed_pipe(dir: &Path, args: &[&str]) -> std::process::Output {
    let rewrite = [
        &["rewrite"],
        args,
        &["--from", "old.example.com", "--to", "new.example.com"],
    ];
    run_with_stdout_closed(dir, &rewrite.concat())
}

#[test]
fn a_reader_that_closes_stdout_ends_every_mode_quietly_with_exit_141() {
    let many: String = (0..2000)
        .map(|i| format!("- image: old.example.com/app{i}:1 # old.example.com\n"))
        .collect();
    for mode in [&["--check"][..], &["--diff"], &["--dry-run"], &[]] {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "images.yaml", &many);
        let out = rewrite_into_a_closed_pipe(dir.path(), &[&["images.yaml"], mode].concat());
        let err = stderr(&out);
        assert_eq!(err, "", "{mode:?}");
        assert_exit_code(&out, 141);
        let written = fs::read_to_string(dir.path().join("images.yaml")).unwrap();
        assert_eq!(
            written.contains("new.example.com"),
            mode.is_empty(),
            "{mode:?}: only a real run writes, and it writes before it reports"
        );
    }
}

/// Ctrl-C during a rewrite of many files: the run ends with 130 and either nothing was written
/// (interrupted while reading) or every file was (interrupted while writing, the writing finished
/// first): never some of them, and no temporary file is left.
#[test]
fn ctrl_c_during_a_rewrite_leaves_every_file_or_none_rewritten() {
    let dir = tempfile::tempdir().unwrap();
    let files = 1500;
    for i in 0..files {
        write(
            dir.path(),
            &format!("p{i}.yaml"),
            &format!("kind: Pod\nspec:\n  containers:\n  - name: c\n    image: myacr.azurecr.io/app{i}:1.0\n"),
        );
    }
    for delay_ms in [40u64, 250] {
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_acr-relocate"))
            .args([
                "rewrite",
                dir.path().to_str().unwrap(),
                "--from",
                "myacr.azurecr.io",
                "--to",
                "newacr.azurecr.io",
            ])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        let _ = std::process::Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status();
        let out = child.wait_with_output().unwrap();
        let rewritten = (0..files)
            .filter(|i| {
                fs::read_to_string(dir.path().join(format!("p{i}.yaml")))
                    .unwrap()
                    .contains("newacr.azurecr.io")
            })
            .count();
        let err = stderr(&out);
        match out.status.code() {
            // Ended before the signal came: everything written.
            Some(0) => assert_eq!(rewritten, files),
            Some(130) if rewritten == 0 => assert!(err.contains("nothing was written"), "{err}"),
            Some(130) => {
                assert_eq!(rewritten, files, "{err}");
                assert!(err.contains("every file above was written"), "{err}");
            }
            other => panic!("exit {other:?}: {err}"),
        }
        let leftovers: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
        if rewritten == files {
            break;
        }
    }
}

/// Runs `rewrite ARGS... --from FROM --to TO` in `dir`.
fn rewrite_from_to(dir: &Path, args: &[&str], from: &str, to: &str) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_acr-relocate"))
        .arg("rewrite")
        .args(args)
        .args(["--from", from, "--to", to])
        .current_dir(dir)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap()
}

/// Deployment files of a test registry at 127.0.0.1:47401: three references to it, one to
/// Docker Hub by its name, one to GHCR, one Docker Hub short name (which names no registry),
/// and a comment naming another registry (not an image reference).
fn files_at_47401(dir: &Path) {
    write(
        dir,
        "k8s/app.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n    spec:\n      containers:\n      - name: web\n        image: 127.0.0.1:47401/web:1.0   # pinned\n      - name: side\n        image: 127.0.0.1:47401/side:2\n      - name: proxy\n        image: docker.io/library/nginx:1.25\n      - name: cache\n        image: redis:7\n# once at mirror.example.com\n",
    );
    write(
        dir,
        "k8s/Dockerfile",
        "FROM 127.0.0.1:47401/base:1\nFROM ghcr.io/org/tool:3 AS tool\n",
    );
}

/// What `rewrite k8s --from 127.0.0.1:4740 --to 127.0.0.1:47402` says on stderr over
/// [`files_at_47401`].
const MISSPELT_FROM: &str = "rewrite: warning: the 2 file(s) read name neither --from 127.0.0.1:4740 nor --to 127.0.0.1:47402, so there is nothing to rewrite: check the spelling of --from (and the paths); their image references name 127.0.0.1:47401 (3), docker.io (1), ghcr.io (1); exit code 4";

/// What a run that reads no file at all says on stderr (`--from old.example.com --to
/// new.example.com`).
const NOTHING_READ: &str = "rewrite: warning: no file was read from the paths given (binary files are skipped, and in a directory walk what .gitignore excludes), so nothing names --from old.example.com or --to new.example.com and there is nothing to rewrite: check the paths; exit code 4";

#[test]
fn a_misspelt_from_exits_4_in_every_mode_naming_the_registries_the_files_reference() {
    let dir = tempfile::tempdir().unwrap();
    files_at_47401(dir.path());
    let before = fs::read_to_string(dir.path().join("k8s/app.yaml")).unwrap();
    let (from, to) = ("127.0.0.1:4740", "127.0.0.1:47402");
    // Each mode prints what it printed before on stdout; the warning is one line on stderr.
    let modes: [(&[&str], &str); 5] = [
        (
            &[],
            "rewrote 0 reference(s) in 0 file(s): 127.0.0.1:4740 -> 127.0.0.1:47402\n",
        ),
        (
            &["--dry-run"],
            "would rewrite 0 reference(s) in 0 file(s): 127.0.0.1:4740 -> 127.0.0.1:47402 (nothing written)\n",
        ),
        (&["--diff"], ""),
        (
            &["--diff", "--write"],
            "rewrote 0 reference(s) in 0 file(s): 127.0.0.1:4740 -> 127.0.0.1:47402\n",
        ),
        (&["--check"], "no references to 127.0.0.1:4740 remain\n"),
    ];
    for (mode, printed) in modes {
        let out = rewrite_from_to(dir.path(), &[&["k8s"], mode].concat(), from, to);
        assert_exit_code(&out, 4);
        assert_eq!(stdout(&out), printed, "{mode:?}");
        assert_eq!(stderr(&out), format!("{MISSPELT_FROM}\n"), "{mode:?}");
    }
    assert_eq!(
        fs::read_to_string(dir.path().join("k8s/app.yaml")).unwrap(),
        before,
        "nothing is written"
    );
}

#[test]
fn a_from_naming_another_registry_than_the_files_exits_4_even_when_to_is_right() {
    let dir = tempfile::tempdir().unwrap();
    files_at_47401(dir.path());
    let out = rewrite_from_to(dir.path(), &["k8s"], "oldreg.azurecr.io", "127.0.0.1:47402");
    assert_exit_code(&out, 4);
    assert_eq!(
        stderr(&out),
        "rewrite: warning: the 2 file(s) read name neither --from oldreg.azurecr.io nor --to 127.0.0.1:47402, so there is nothing to rewrite: check the spelling of --from (and the paths); their image references name 127.0.0.1:47401 (3), docker.io (1), ghcr.io (1); exit code 4\n"
    );
}

#[test]
fn the_warning_names_the_five_most_referenced_registries_and_counts_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let images: String = [
        ("a.example.com", 1),
        ("b.example.com", 4),
        ("c.example.com", 2),
        ("d.example.com", 2),
        ("e.example.com", 3),
        ("f.example.com", 1),
        ("g.example.com", 5),
    ]
    .iter()
    .flat_map(|(registry, count)| {
        (0..*count).map(move |i| format!("- image: {registry}/app{i}:1\n"))
    })
    .collect();
    write(dir.path(), "images.yaml", &images);
    let out = rewrite_in(dir.path(), &["images.yaml"]);
    assert_exit_code(&out, 4);
    assert_eq!(
        stderr(&out),
        "rewrite: warning: the 1 file(s) read name neither --from old.example.com nor --to new.example.com, so there is nothing to rewrite: check the spelling of --from (and the paths); their image references name g.example.com (5), b.example.com (4), e.example.com (3), c.example.com (2), d.example.com (2), 2 other registries (2); exit code 4\n"
    );
}

#[test]
fn a_second_run_over_files_already_rewritten_finds_nothing_to_do_and_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    files_at_47401(dir.path());
    let (from, to) = ("127.0.0.1:47401", "127.0.0.1:47402");
    let out = rewrite_from_to(dir.path(), &["k8s"], from, to);
    assert_success(&out);
    assert_eq!(
        stdout(&out),
        "rewrote 3 reference(s) in 2 file(s): 127.0.0.1:47401 -> 127.0.0.1:47402\n  k8s/Dockerfile: 1\n  k8s/app.yaml: 2\n"
    );
    assert_eq!(stderr(&out), "");
    // The files now name the new registry only: every mode of a second run is a success.
    for (mode, printed) in [
        (
            &[][..],
            "rewrote 0 reference(s) in 0 file(s): 127.0.0.1:47401 -> 127.0.0.1:47402\n",
        ),
        (
            &["--dry-run"],
            "would rewrite 0 reference(s) in 0 file(s): 127.0.0.1:47401 -> 127.0.0.1:47402 (nothing written)\n",
        ),
        (&["--diff"], ""),
        (&["--check"], "no references to 127.0.0.1:47401 remain\n"),
    ] {
        let out = rewrite_from_to(dir.path(), &[&["k8s"], mode].concat(), from, to);
        assert_exit_code(&out, 0);
        assert_eq!(stdout(&out), printed, "{mode:?}");
        assert_eq!(stderr(&out), "", "{mode:?}");
    }
}

#[test]
fn a_second_run_over_a_registry_setting_holding_the_new_short_name_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), ".env", "ACR_NAME=newreg\n");
    let out = rewrite_from_to(
        dir.path(),
        &[".env", "--check"],
        "oldreg.azurecr.io",
        "newreg.azurecr.io",
    );
    assert_exit_code(&out, 0);
    assert_eq!(stderr(&out), "");
}

#[test]
fn a_from_only_mentioned_outside_image_fields_is_not_a_misspelling() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "scripts/pull.sh",
        "docker pull old.example.com/app:1\n",
    );
    let out = rewrite_in(dir.path(), &["scripts", "--check"]);
    assert_exit_code(&out, 1);
    assert_eq!(stderr(&out), "");
    let out = rewrite_in(dir.path(), &["scripts"]);
    assert_success(&out);
    assert_eq!(stderr(&out), "");
}

#[test]
fn files_without_any_image_reference_exit_4_saying_they_name_no_registry() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "docs/README.md",
        "# Deploying\n\nRun `make deploy`.\n",
    );
    write(dir.path(), "docs/pod.yaml", "image: nginx:1.25\n");
    for mode in [&[][..], &["--check"], &["--dry-run"]] {
        let out = rewrite_in(dir.path(), &[&["docs"], mode].concat());
        assert_exit_code(&out, 4);
        assert_eq!(
            stderr(&out),
            "rewrite: warning: the 2 file(s) read name neither --from old.example.com nor --to new.example.com, so there is nothing to rewrite: check the spelling of --from (and the paths); they hold no image reference that names a registry (a Docker Hub short name such as `nginx` names none); exit code 4\n",
            "{mode:?}"
        );
    }
}

#[test]
fn an_empty_directory_exits_4_saying_no_file_was_read() {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir(dir.path().join("empty")).unwrap();
    let out = rewrite_in(dir.path(), &["empty"]);
    assert_exit_code(&out, 4);
    assert_eq!(
        stdout(&out),
        "rewrote 0 reference(s) in 0 file(s): old.example.com -> new.example.com\n"
    );
    assert_eq!(stderr(&out), format!("{NOTHING_READ}\n"));
}

#[test]
fn a_file_nested_thousands_deep_is_read_as_text_with_a_warning_and_the_other_files_are_rewritten() {
    let dir = tempfile::tempdir().unwrap();
    let deep = 5000;
    let nested = format!("{}{}", "[".repeat(deep), "]".repeat(deep));
    write(
        dir.path(),
        "deep.yaml",
        &format!("a: {nested}\nimage: old.example.com/x:1\n"),
    );
    write(
        dir.path(),
        "deep.json",
        &format!("{{\"a\": {nested}, \"image\": \"old.example.com/x:1\"}}\n"),
    );
    write(dir.path(), "ok.yaml", OLD);
    let out = rewrite_in(dir.path(), &["."]);
    assert_success(&out);
    assert_eq!(
        stderr(&out),
        "warning: deep.json:1: not read as JSON (collections nested more than 128 levels deep): nothing in it is rewritten; its mentions of the old registry are listed as text (fix the file or edit it by hand)\n\
         warning: deep.yaml:1: not read as YAML (collections nested more than 128 levels deep): nothing in it is rewritten; its mentions of the old registry are listed as text (fix the file or edit it by hand)\n"
    );
    assert_eq!(fs::read_to_string(dir.path().join("ok.yaml")).unwrap(), NEW);
    let check = rewrite_in(dir.path(), &[".", "--check"]);
    assert_exit_code(&check, 1);
    assert!(stdout(&check)
        .contains("deep.yaml:2: mention (not rewritten): image: old.example.com/x:1\n"));
}

#[test]
fn a_utf16_yaml_file_is_rewritten_in_its_own_encoding_and_check_lists_it_first() {
    let dir = tempfile::tempdir().unwrap();
    let utf16 = |text: &str, big_endian: bool| -> Vec<u8> {
        std::iter::once('\u{feff}')
            .chain(text.chars())
            .collect::<String>()
            .encode_utf16()
            .flat_map(|unit| {
                if big_endian {
                    unit.to_be_bytes()
                } else {
                    unit.to_le_bytes()
                }
            })
            .collect()
    };
    fs::write(
        dir.path().join("le.yaml"),
        utf16("image: old.example.com/app:1\r\n", false),
    )
    .unwrap();
    fs::write(dir.path().join("be.yaml"), utf16(OLD, true)).unwrap();
    let check = rewrite_in(dir.path(), &[".", "--check"]);
    assert_exit_code(&check, 1);
    assert_eq!(
        stdout(&check),
        "be.yaml:1: YAML image: old.example.com/app:1\nle.yaml:1: YAML image: old.example.com/app:1\n2 reference(s) to old.example.com remain\n"
    );
    assert_success(&rewrite_in(dir.path(), &["."]));
    assert_eq!(
        fs::read(dir.path().join("le.yaml")).unwrap(),
        utf16("image: new.example.com/app:1\r\n", false)
    );
    assert_eq!(
        fs::read(dir.path().join("be.yaml")).unwrap(),
        utf16(NEW, true)
    );
}

#[test]
fn secrets_on_listed_lines_are_hidden_and_control_characters_escaped() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "login.sh",
        "docker login old.example.com -u admin -p S3cr3tP@ssw0rd!\ncurl https://admin:hunter2secret@old.example.com/v2/\necho \u{1b}[2J old.example.com \u{202e}txt.exe\n",
    );
    write(
        dir.path(),
        "pull/.dockerconfigjson",
        r#"{"auths":{"old.example.com":{"username":"admin","password":"pw1","auth":"YWRtaW46cHcx"}}}"#,
    );
    write(
        dir.path(),
        ".env",
        "DOCKER_AUTH=https://admin:pw@old.example.com\n",
    );
    write(
        dir.path(),
        "Dockerfile",
        "FROM old.example.com/b:1\n\u{1b}[2J old.example.com\u{0}\n",
    );
    for mode in ["--check", "--dry-run"] {
        let out = rewrite_in(dir.path(), &[".", mode]);
        let printed = format!("{}{}", stdout(&out), stderr(&out));
        for secret in [
            "S3cr3t", "hunter2", "pw1", "YWRtaW46", "admin:pw", "\u{1b}", "\u{202e}", "\u{0}",
        ] {
            assert!(
                !printed.contains(secret),
                "{mode} prints {secret:?}:\n{printed}"
            );
        }
        for shown in [
            "login.sh:1: docker login old.example.com -u admin -p ***",
            "login.sh:2: curl https://***@old.example.com/v2/",
            "login.sh:3: echo \\u{1b}[2J old.example.com \\u{202e}txt.exe",
            "Dockerfile:2: \\u{1b}[2J old.example.com\\0",
            r#"pull/.dockerconfigjson:1: {"auths":{"old.example.com":{"username":"admin","password":"***","auth":"***"}}}"#,
            ".env:1: DOCKER_AUTH=***",
            "warning: Dockerfile:2: not read as a Dockerfile (unknown instruction `\\u{1b}[2J`)",
        ] {
            let (at, line) = shown.split_once(": ").unwrap();
            let listed = [
                format!("{at}: mention (not rewritten): {line}"),
                format!("  {at}: {line}"),
                format!("{at}: {line}"),
            ];
            assert!(
                listed.iter().any(|l| printed.contains(l.as_str())),
                "{mode} lacks {shown}:\n{printed}"
            );
        }
    }
}

#[test]
fn a_missing_path_among_others_is_named_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "Dockerfile", "FROM old.example.com/base:1\n");
    let out = rewrite_in(dir.path(), &["Dockerfile", "dockerfile.typo"]);
    assert_exit_code(&out, 2);
    assert_eq!(stdout(&out), "");
    assert_eq!(
        stderr(&out),
        "error: cannot read dockerfile.typo: No such file or directory (os error 2)\n\
         error: nothing was written: 1 of the paths given could not be read in full (above), and they may hold references too; correct those paths (or make them readable), or leave them out, and run again\n"
    );
    assert_eq!(
        fs::read_to_string(dir.path().join("Dockerfile")).unwrap(),
        "FROM old.example.com/base:1\n"
    );
}

#[test]
fn a_fifo_named_on_the_command_line_is_said_not_to_be_a_regular_file() {
    let dir = tempfile::tempdir().unwrap();
    rustix_free_mkfifo(&dir.path().join("pipe"));
    let out = rewrite_in(dir.path(), &["pipe"]);
    assert_exit_code(&out, 2);
    assert_eq!(
        stderr(&out),
        "error: pipe is a FIFO (named pipe), not a regular file: not read (name files and directories)\n\
         error: nothing was written: 1 of the paths given could not be read in full (above), and they may hold references too; correct those paths (or make them readable), or leave them out, and run again\n"
    );
}

/// Makes a FIFO with the system's `mkfifo`.
fn rustix_free_mkfifo(path: &Path) {
    let status = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn symbolic_links_met_in_a_walk_are_noted_and_check_says_they_were_not_followed() {
    let dir = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    write(outside.path(), "values.yaml", OLD);
    write(dir.path(), "k8s/a.yaml", "image: new.example.com/app:1\n");
    std::os::unix::fs::symlink(
        outside.path().join("values.yaml"),
        dir.path().join("k8s/values.yaml"),
    )
    .unwrap();
    let out = rewrite_in(dir.path(), &["k8s", "--check"]);
    assert_success(&out);
    assert_eq!(
        stdout(&out),
        "no references to old.example.com remain in the files read, but not everything was read: 1 symbolic link(s) met in the directory walk were not followed (see the notes above)\n"
    );
    assert_eq!(
        stderr(&out),
        "note: k8s/values.yaml: a symbolic link met in the directory walk, not followed: the file it points to is not read (name the link on the command line to rewrite that file)\n"
    );
}

#[test]
fn a_symbolic_link_met_in_a_walk_to_a_file_the_walk_reads_is_noted_as_such_and_not_counted() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "k8s/pod.yaml", OLD);
    std::os::unix::fs::symlink("k8s/pod.yaml", dir.path().join("link.yaml")).unwrap();
    let out = rewrite_in(dir.path(), &[".", "--check"]);
    assert_exit_code(&out, 1);
    assert_eq!(
        stdout(&out),
        "k8s/pod.yaml:1: YAML image: old.example.com/app:1\n1 reference(s) to old.example.com remain\n"
    );
    assert_eq!(
        stderr(&out),
        "note: link.yaml: a symbolic link met in the directory walk, not followed: it points to k8s/pod.yaml, which is read\n"
    );
}

#[test]
fn a_new_registry_that_is_a_prefix_inside_the_old_one_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "a.yaml", OLD);
    let out = run(&[
        "rewrite",
        dir.path().join("a.yaml").to_str().unwrap(),
        "--from",
        "old.example.com",
        "--to",
        "old.example.com/legacy",
    ]);
    assert_exit_code(&out, 2);
    assert!(
        stderr(&out).contains("--to old.example.com/legacy is a prefix inside --from old.example.com: a second run would add the prefix again"),
        "{}",
        stderr(&out)
    );
    assert_eq!(fs::read_to_string(dir.path().join("a.yaml")).unwrap(), OLD);
}

#[test]
fn the_diff_of_files_outside_the_current_directory_and_with_spaces_applies_with_patch() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "src/two words.yaml", OLD);
    write(dir.path(), "src/two.yaml", OLD);
    fs::create_dir(dir.path().join("cwd")).unwrap();
    let out = rewrite_in(&dir.path().join("cwd"), &["../src", "--diff"]);
    assert_success(&out);
    let root = fs::canonicalize(dir.path()).unwrap();
    let label = root.strip_prefix("/").unwrap().display().to_string();
    assert!(
        stdout(&out).starts_with(&format!(
            "--- a/{label}/src/two words.yaml\t\n+++ b/{label}/src/two words.yaml\t\n"
        )),
        "{}",
        stdout(&out)
    );
    let patch = std::process::Command::new("patch")
        .args(["-p1", "-d", "/"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn();
    let Ok(mut patch) = patch else {
        return; // No `patch` here: the headers above are what it reads.
    };
    use std::io::Write as _;
    patch.stdin.take().unwrap().write_all(&out.stdout).unwrap();
    assert!(patch.wait().unwrap().success());
    for name in ["src/two words.yaml", "src/two.yaml"] {
        assert_eq!(
            fs::read_to_string(dir.path().join(name)).unwrap(),
            NEW,
            "{name}"
        );
    }
}

#[test]
fn a_to_given_with_the_https_default_port_is_written_without_it() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "a.yaml", OLD);
    let out = rewrite_from_to(dir.path(), &["."], "old.example.com", "new.example.com:443");
    assert_success(&out);
    assert_eq!(fs::read_to_string(dir.path().join("a.yaml")).unwrap(), NEW);
}

#[test]
fn from_docker_io_takes_docker_hub_under_each_of_its_names() {
    let dir = tempfile::tempdir().unwrap();
    let dockerfile = "FROM index.docker.io/library/nginx:1\nFROM registry-1.docker.io/library/redis:7\nFROM docker.io/library/x:1\nFROM mydocker.io/y:1\n";
    write(dir.path(), "Dockerfile", dockerfile);
    let out = rewrite_from_to(dir.path(), &["."], "docker.io", "new.example.com");
    assert_success(&out);
    assert_eq!(
        fs::read_to_string(dir.path().join("Dockerfile")).unwrap(),
        "FROM new.example.com/library/nginx:1\nFROM new.example.com/library/redis:7\nFROM new.example.com/library/x:1\nFROM mydocker.io/y:1\n"
    );
}

#[test]
fn a_file_reached_by_two_hard_links_is_read_once_under_its_first_name() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "a.yaml", OLD);
    fs::hard_link(dir.path().join("a.yaml"), dir.path().join("b.yaml")).unwrap();
    let check = rewrite_in(dir.path(), &[".", "--check", "--in-place-hard-links"]);
    assert_exit_code(&check, 1);
    assert_eq!(
        stdout(&check),
        "a.yaml:1: YAML image: old.example.com/app:1\n1 reference(s) to old.example.com remain\n"
    );
    let out = rewrite_in(dir.path(), &[".", "--in-place-hard-links"]);
    assert_success(&out);
    assert_eq!(
        stdout(&out),
        "rewrote 1 reference(s) in 1 file(s): old.example.com -> new.example.com\n  a.yaml: 1 (written in place: it has other hard links)\n"
    );
    assert_eq!(fs::read_to_string(dir.path().join("b.yaml")).unwrap(), NEW);
}

#[test]
fn a_rewritten_file_keeps_its_user_extended_attributes() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "a.yaml", OLD);
    let path = dir.path().join("a.yaml");
    let set = std::process::Command::new("python3")
        .args([
            "-c",
            "import os,sys; os.setxattr(sys.argv[1], 'user.origin', b'team-a')",
        ])
        .arg(&path)
        .status();
    if !set.is_ok_and(|s| s.success()) {
        return; // No user attributes on this file system (or no python3 to set one).
    }
    assert_success(&rewrite_in(dir.path(), &["."]));
    assert_eq!(fs::read_to_string(&path).unwrap(), NEW);
    let get = std::process::Command::new("python3")
        .args([
            "-c",
            "import os,sys; sys.stdout.write(os.getxattr(sys.argv[1], 'user.origin').decode())",
        ])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&get.stdout), "team-a");
}
