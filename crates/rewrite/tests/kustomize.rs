//! Kustomize `images:` names, decided per kustomization from the resources it includes: a name
//! follows the new registry only when every image it matches is there after the run; otherwise
//! it stays and gets a `newName`, so the overlay's `newTag`/`digest` keep applying.

use std::fs;
use std::path::{Path, PathBuf};

use acr_rewrite::{Plan, Rewriter};

use crate::util::options;

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(&path, text).unwrap();
    path
}

fn plan_of(paths: &[PathBuf]) -> Plan {
    Rewriter::new(options("myacr.azurecr.io", "newacr.azurecr.io"))
        .plan(paths)
        .unwrap()
}

fn rewritten(plan: &Plan, path: &Path) -> String {
    plan.files
        .iter()
        .find(|f| f.path == path)
        .unwrap_or_else(|| panic!("{} is not in the plan", path.display()))
        .rewritten
        .clone()
}

const DEPLOY: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n    spec:\n      containers:\n        - name: web\n          image: myacr.azurecr.io/web:1.0\n";
const OVERLAY: &str =
    "resources:\n- ../../base\nimages:\n- name: myacr.azurecr.io/web\n  newTag: \"2.0\"\n";
const OVERLAY_KEPT: &str = "resources:\n- ../../base\nimages:\n- name: myacr.azurecr.io/web\n  newName: newacr.azurecr.io/web\n  newTag: \"2.0\"\n";
const OVERLAY_FOLLOWS: &str =
    "resources:\n- ../../base\nimages:\n- name: newacr.azurecr.io/web\n  newTag: \"2.0\"\n";
const COMPOSE: &str = "services:\n  web:\n    image: myacr.azurecr.io/web:dev\n";

#[test]
fn a_name_whose_base_is_outside_the_run_stays_and_gets_a_new_name_even_when_another_file_rewrites_the_repository(
) {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "shared/base/deploy.yaml", DEPLOY);
    write(
        dir.path(),
        "shared/base/kustomization.yaml",
        "resources:\n- deploy.yaml\n",
    );
    let overlay = write(
        dir.path(),
        "app/deploy/prod/kustomization.yaml",
        &OVERLAY.replace("../../base", "../../../shared/base"),
    );
    let compose = write(dir.path(), "app/docker-compose.yml", COMPOSE);
    let plan = plan_of(&[dir.path().join("app")]);
    assert_eq!(
        rewritten(&plan, &overlay),
        OVERLAY_KEPT.replace("../../base", "../../../shared/base"),
        "the base still names myacr.azurecr.io/web: the name must keep matching it"
    );
    assert_eq!(
        rewritten(&plan, &compose),
        COMPOSE.replace("myacr", "newacr")
    );
}

#[test]
fn a_name_whose_resources_are_remote_stays_and_gets_a_new_name() {
    let dir = tempfile::tempdir().unwrap();
    let text = "resources:\n  - https://github.com/contoso/platform-manifests//apps/web?ref=v1.4.0\nimages:\n  - name: myacr.azurecr.io/web\n    newTag: \"1.4.2\"\n";
    let overlay = write(dir.path(), "deploy/overlays/prod/kustomization.yaml", text);
    write(dir.path(), "docker-compose.yml", COMPOSE);
    let plan = plan_of(&[dir.path().to_path_buf()]);
    assert_eq!(
        rewritten(&plan, &overlay),
        text.replace(
            "    newTag",
            "    newName: newacr.azurecr.io/web\n    newTag"
        )
    );
}

#[test]
fn a_name_follows_its_base_when_the_base_is_rewritten_in_the_same_run() {
    let dir = tempfile::tempdir().unwrap();
    let deploy = write(dir.path(), "base/deploy.yaml", DEPLOY);
    write(
        dir.path(),
        "base/kustomization.yaml",
        "resources:\n- deploy.yaml\n",
    );
    let overlay = write(dir.path(), "overlays/prod/kustomization.yaml", OVERLAY);
    let plan = plan_of(&[dir.path().to_path_buf()]);
    assert_eq!(rewritten(&plan, &overlay), OVERLAY_FOLLOWS);
    assert_eq!(rewritten(&plan, &deploy), DEPLOY.replace("myacr", "newacr"));
}

#[test]
fn a_name_follows_a_base_that_an_earlier_run_already_rewrote() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "base/deploy.yaml",
        &DEPLOY.replace("myacr", "newacr"),
    );
    write(
        dir.path(),
        "base/kustomization.yaml",
        "resources:\n- deploy.yaml\n",
    );
    let overlay = write(dir.path(), "overlays/prod/kustomization.yaml", OVERLAY);
    let plan = plan_of(&[dir.path().join("overlays")]);
    assert_eq!(rewritten(&plan, &overlay), OVERLAY_FOLLOWS);
}

#[test]
fn an_entry_whose_name_matches_images_at_both_registries_is_split_into_a_redirect_and_the_entry_under_the_new_name(
) {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "run/deploy.yaml", DEPLOY);
    write(dir.path(), "outside/deploy.yaml", DEPLOY);
    let text = "resources:\n- deploy.yaml\n- ../outside/deploy.yaml\nimages:\n- name: myacr.azurecr.io/web\n  newTag: \"2.0\"\n";
    let overlay = write(dir.path(), "run/kustomization.yaml", text);
    let plan = plan_of(&[dir.path().join("run")]);
    let file = plan.files.iter().find(|f| f.path == overlay).unwrap();
    assert_eq!(
        file.rewritten,
        "resources:\n- deploy.yaml\n- ../outside/deploy.yaml\nimages:\n- name: myacr.azurecr.io/web\n  newName: newacr.azurecr.io/web\n- name: newacr.azurecr.io/web\n  newTag: \"2.0\"\n",
        "Kustomize applies the entries in order to every image: the outside resource is sent to \
         the new registry, then both get the tag"
    );
    assert!(file.mentions.is_empty(), "{:?}", file.mentions);
    plan.write().unwrap();
    let again = plan_of(&[dir.path().join("run")]);
    let file = again.files.iter().find(|f| f.path == overlay).unwrap();
    assert!(!file.is_changed(), "a split entry is not split again");
    assert!(file.references.is_empty() && file.mentions.is_empty());
}

#[test]
fn a_split_keeps_the_entry_s_keys_its_order_and_quotes_and_renames_its_new_name() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "run/deploy.yaml", DEPLOY);
    let text = "resources:\n- deploy.yaml\n- https://example.com/remote.yaml\nimages:\r\n  -   newTag: \"2.0\"\r\n      name: 'myacr.azurecr.io/web'\r\n      newName: myacr.azurecr.io/web-app\r\n";
    let overlay = write(dir.path(), "run/kustomization.yaml", text);
    let plan = plan_of(&[dir.path().join("run")]);
    let file = plan.files.iter().find(|f| f.path == overlay).unwrap();
    assert_eq!(
        file.rewritten,
        "resources:\n- deploy.yaml\n- https://example.com/remote.yaml\nimages:\r\n  -   name: 'myacr.azurecr.io/web'\r\n      newName: newacr.azurecr.io/web\r\n  -   newTag: \"2.0\"\r\n      name: 'newacr.azurecr.io/web'\r\n      newName: newacr.azurecr.io/web-app\r\n"
    );
    assert!(file.mentions.is_empty(), "{:?}", file.mentions);
}

#[test]
fn a_flow_style_entry_matching_images_at_both_registries_is_listed_with_what_to_do_by_hand() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "run/deploy.yaml", DEPLOY);
    write(dir.path(), "outside/deploy.yaml", DEPLOY);
    let text = "resources: [deploy.yaml, ../outside/deploy.yaml]\nimages: [{name: myacr.azurecr.io/web, newTag: \"2.0\"}]\n";
    let overlay = write(dir.path(), "run/kustomization.yaml", text);
    let plan = plan_of(&[dir.path().join("run")]);
    let file = plan.files.iter().find(|f| f.path == overlay).unwrap();
    assert_eq!(
        file.rewritten,
        text.replace("web, newTag", "web, newName: newacr.azurecr.io/web, newTag"),
        "the outside resource keeps being sent to the new registry with the tag"
    );
    assert_eq!(file.mentions.len(), 1, "{:?}", file.mentions);
    assert_eq!(file.mentions[0].line, 2);
    assert_eq!(
        file.mentions[0].note.as_deref(),
        Some("some resources of this kustomization name web at the new registry and others (or remote ones) may name it at myacr.azurecr.io: one name cannot match both, so the entry stops applying to some; split it by hand: add before it an entry with name myacr.azurecr.io/web and newName newacr.azurecr.io/web, and give this one the name newacr.azurecr.io/web")
    );
}

#[test]
fn a_name_matching_the_new_name_a_base_gives_an_image_follows_the_base_to_the_new_registry() {
    // The base renames `nginx` to a mirror in the old registry; Kustomize builds the base
    // first, so the overlay's name must match the mirror's name as the base leaves it.
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "base/deploy.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n    spec:\n      containers:\n        - name: nginx\n          image: nginx\n",
    );
    let base = write(
        dir.path(),
        "base/kustomization.yaml",
        "resources:\n- deploy.yaml\nimages:\n- name: nginx\n  newName: myacr.azurecr.io/mirror/nginx\n  newTag: \"1.25\"\n",
    );
    let overlay_text =
        "resources:\n- ../base\nimages:\n- name: myacr.azurecr.io/mirror/nginx\n  newTag: \"1.26\"\n";
    let overlay = write(dir.path(), "overlay/kustomization.yaml", overlay_text);
    let plan = plan_of(&[dir.path().to_path_buf()]);
    assert_eq!(
        rewritten(&plan, &base),
        "resources:\n- deploy.yaml\nimages:\n- name: nginx\n  newName: newacr.azurecr.io/mirror/nginx\n  newTag: \"1.25\"\n"
    );
    assert_eq!(
        rewritten(&plan, &overlay),
        overlay_text.replace("myacr", "newacr"),
        "the base now emits newacr.azurecr.io/mirror/nginx: an overlay name left at the old \
         registry would match nothing and its newTag would be lost"
    );
}

#[test]
fn a_name_matching_the_new_name_a_base_outside_the_run_gives_an_image_stays_and_gets_a_new_name() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "shared/base/deploy.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n    - name: nginx\n      image: nginx\n",
    );
    write(
        dir.path(),
        "shared/base/kustomization.yaml",
        "resources:\n- deploy.yaml\nimages:\n- name: nginx\n  newName: myacr.azurecr.io/mirror/nginx\n",
    );
    let overlay_text =
        "resources:\n- ../../shared/base\nimages:\n- name: myacr.azurecr.io/mirror/nginx\n  newTag: \"1.26\"\n";
    let overlay = write(dir.path(), "app/overlay/kustomization.yaml", overlay_text);
    let plan = plan_of(&[dir.path().join("app")]);
    assert_eq!(
        rewritten(&plan, &overlay),
        overlay_text.replace(
            "  newTag",
            "  newName: newacr.azurecr.io/mirror/nginx\n  newTag"
        ),
        "the base outside the run still emits the old name: the name must keep matching it"
    );
}

#[test]
fn a_kustomization_named_kustomization_without_extension_is_read_as_one() {
    // Kustomize reads `kustomization.yaml`, `kustomization.yml` and `Kustomization`.
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "base/deploy.yaml", DEPLOY);
    let text = "resources:\n- deploy.yaml\nimages:\n- name: myacr.azurecr.io/web\n  newTag: \"2.0\"\n- name: nginx\n  newName: myacr.azurecr.io/mirror/nginx\n";
    let kustomization = write(dir.path(), "base/Kustomization", text);
    let plan = plan_of(&[dir.path().to_path_buf()]);
    assert_eq!(
        rewritten(&plan, &kustomization),
        text.replace("myacr", "newacr")
    );
}
