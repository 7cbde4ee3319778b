//! Repositories renamed on the way (`copy --map FROM=TO`, plugged in as a [`Renamer`]): every
//! file shape points a renamed repository at its new name, the target is asked for the new
//! name, a reference already at the new registry under its new name is done, and a shape that
//! cannot be renamed safely is listed with a note. Without a renamer nothing changes.

use std::fs;
use std::path::{Path, PathBuf};

use acr_rewrite::{FileKind, FilePlan, Issue, Options, Registry, Renamer, Rewriter};

use crate::util::{options, MemoryTarget};

const DIGEST: &str = "sha256:abababababababababababababababababababababababababababababababab";

/// Renames as `copy --map` gives them: `FROM=TO` for one repository, both ending with `/` for
/// a namespace; an exact name wins over a namespace, a longer namespace over a shorter one.
struct Map(Vec<(&'static str, &'static str)>);

impl Map {
    fn rule<'a>(rules: impl Iterator<Item = (&'a str, &'a str)>, name: &str) -> Option<String> {
        let rules: Vec<_> = rules.collect();
        if let Some((_, to)) = rules.iter().find(|(from, _)| *from == name) {
            return Some(to.to_string());
        }
        rules
            .iter()
            .filter(|(from, _)| from.ends_with('/'))
            .filter_map(|(from, to)| {
                let rest = name.strip_prefix(from).filter(|r| !r.is_empty())?;
                Some((from.len(), format!("{to}{rest}")))
            })
            .max_by_key(|(len, _)| *len)
            .map(|(_, renamed)| renamed)
    }
}

impl Renamer for Map {
    fn renamed(&self, repository: &str) -> String {
        Map::rule(self.0.iter().copied(), repository).unwrap_or_else(|| repository.to_owned())
    }

    fn original(&self, renamed: &str) -> Option<String> {
        match Map::rule(self.0.iter().map(|(f, t)| (*t, *f)), renamed) {
            Some(original) => Some(original),
            // Taken elsewhere by the renames: no repository becomes it.
            None if Map::rule(self.0.iter().copied(), renamed).is_some() => None,
            None => Some(renamed.to_owned()),
        }
    }
}

fn web() -> Map {
    Map(vec![
        ("web", "frontend/web"),
        ("team-a/", "platform/team-a/"),
        ("team-a/legacy/", "archive/"),
        ("team-a/api", "api"),
        ("charts/web", "helm/web"),
        ("charts/db", "charts/database"),
    ])
}

fn to_prefixed() -> Options {
    Options {
        to: Registry::parse_target("new.example.com/legacy").unwrap(),
        ..options("old.example.com", "new.example.com")
    }
}

fn plan_with(options: Options, renamer: &dyn Renamer, kind: FileKind, text: &str) -> FilePlan {
    Rewriter::new(options)
        .with_renamer(renamer)
        .rewrite_text(Path::new("file"), kind, text)
        .unwrap()
}

fn renamed(kind: FileKind, text: &str) -> FilePlan {
    plan_with(
        options("old.example.com", "new.example.com"),
        &web(),
        kind,
        text,
    )
}

/// The mentions of `file` as `(line, note)`, an empty note for none.
fn notes(file: &FilePlan) -> Vec<(usize, String)> {
    file.mentions
        .iter()
        .map(|m| (m.line, m.note.clone().unwrap_or_default()))
        .collect()
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(&path, text).unwrap();
    path
}

const DEPLOYMENT: &str = "apiVersion: apps/v1\nkind: Deployment\nspec:\n  template:\n    spec:\n      initContainers:\n        - image: old.example.com/web@sha256:abababababababababababababababababababababababababababababababab # pinned\n      containers:\n        - image: \"old.example.com/web:1.0\"\n        - image: old.example.com/web-extra:1.0\n        - image: old.example.com/webs/web:1.0\n        - image: old.example.com:443/team-a/worker:2\n        - image: old.example.com/team-a/legacy/job:3\n        - image: old.example.com/team-a/api:4\n        - image: docker.io/library/web:1\n";

#[test]
fn a_renamed_repository_gets_its_new_name_in_kubernetes_images_with_tags_and_digests() {
    let file = renamed(FileKind::Yaml, DEPLOYMENT);
    assert_eq!(
        file.rewritten,
        "apiVersion: apps/v1\nkind: Deployment\nspec:\n  template:\n    spec:\n      initContainers:\n        - image: new.example.com/frontend/web@sha256:abababababababababababababababababababababababababababababababab # pinned\n      containers:\n        - image: \"new.example.com/frontend/web:1.0\"\n        - image: new.example.com/web-extra:1.0\n        - image: new.example.com/webs/web:1.0\n        - image: new.example.com/platform/team-a/worker:2\n        - image: new.example.com/archive/job:3\n        - image: new.example.com/api:4\n        - image: docker.io/library/web:1\n"
    );
    assert_eq!(file.references.len(), 7);
    assert!(file.mentions.is_empty(), "{:?}", file.mentions);
    // The references say what the file held.
    assert_eq!(file.references[1].original, "old.example.com/web:1.0");
    assert_eq!(file.references[1].repository, "web");
}

#[test]
fn under_a_prefix_of_the_new_registry_the_new_name_goes_below_the_prefix() {
    let text = "image: old.example.com/web:1.0\nother: old.example.com/api:1\n";
    let file = plan_with(to_prefixed(), &web(), FileKind::HelmValues, text);
    assert_eq!(
        file.rewritten,
        "image: new.example.com/legacy/frontend/web:1.0\nother: old.example.com/api:1\n"
    );
}

#[test]
fn helm_values_rename_image_strings_repository_values_and_split_registry_and_repository_maps() {
    let values = "image: old.example.com/web:1.0\nfrontend:\n  image:\n    registry: old.example.com\n    repository: web # the app\n    tag: \"1.0\"\nquoted:\n  image:\n    registry: 'old.example.com'\n    repository: \"team-a/worker\"\n    tag: 2\nwhole:\n  image:\n    repository: old.example.com/web\n    tag: 1.0\nkept:\n  image:\n    registry: old.example.com\n    repository: api\n";
    let file = renamed(FileKind::HelmValues, values);
    assert_eq!(
        file.rewritten,
        "image: new.example.com/frontend/web:1.0\nfrontend:\n  image:\n    registry: new.example.com\n    repository: frontend/web # the app\n    tag: \"1.0\"\nquoted:\n  image:\n    registry: 'new.example.com'\n    repository: \"platform/team-a/worker\"\n    tag: 2\nwhole:\n  image:\n    repository: new.example.com/frontend/web\n    tag: 1.0\nkept:\n  image:\n    registry: new.example.com\n    repository: api\n"
    );
    let repositories: Vec<_> = file
        .references
        .iter()
        .map(|r| r.repository.as_str())
        .collect();
    assert_eq!(repositories, ["web", "web", "team-a/worker", "web", "api"]);
    assert!(file.mentions.is_empty(), "{:?}", file.mentions);
}

#[test]
fn a_registry_value_whose_repositories_are_written_elsewhere_or_templated_is_listed_with_a_note_and_kept(
) {
    let values = "global:\n  imageRegistry: old.example.com\nweb:\n  image:\n    registry: old.example.com\n    repository: \"{{ .Values.app }}\"\n    tag: \"1.0\"\napp:\n  image: old.example.com/web:1\n";
    let file = renamed(FileKind::HelmValues, values);
    assert_eq!(
        file.rewritten,
        values.replace(
            "image: old.example.com/web",
            "image: new.example.com/frontend/web"
        ),
        "only the reference whose repository is known is rewritten"
    );
    let found = notes(&file);
    assert_eq!(
        found.iter().map(|(line, _)| *line).collect::<Vec<_>>(),
        [2, 5]
    );
    assert!(
        found[0].1.starts_with("this Helm registry value holds the old registry alone, and the images named with it may have been renamed by --map"),
        "{found:?}"
    );
    assert!(
        found[1].1.starts_with("this Helm image map names its repository `{{ .Values.app }}` through a template or a variable, which --map may rename: not rewritten"),
        "{found:?}"
    );
}

#[test]
fn kustomize_entries_rename_new_names_names_that_follow_and_the_new_name_added_under_a_name() {
    let text = "resources:\n- https://example.com/remote\nimages:\n- name: old.example.com/web\n  newTag: \"2.0\"\n- name: web\n  newName: old.example.com/web\n  newTag: \"2.0\"\n- {name: old.example.com/team-a/worker, newTag: \"3\"}\n";
    let file = renamed(FileKind::Kustomization, text);
    assert_eq!(
        file.rewritten,
        "resources:\n- https://example.com/remote\nimages:\n- name: old.example.com/web\n  newName: new.example.com/frontend/web\n  newTag: \"2.0\"\n- name: web\n  newName: new.example.com/frontend/web\n  newTag: \"2.0\"\n- {name: old.example.com/team-a/worker, newName: new.example.com/platform/team-a/worker, newTag: \"3\"}\n"
    );
}

#[test]
fn a_kustomize_name_follows_resources_already_at_the_new_registry_under_their_new_name() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "base/deploy.yaml",
        "kind: Deployment\napiVersion: apps/v1\nspec:\n  template:\n    spec:\n      containers:\n      - image: new.example.com/frontend/web:1.0\n",
    );
    write(
        dir.path(),
        "base/kustomization.yaml",
        "resources:\n- deploy.yaml\n",
    );
    let overlay = write(
        dir.path(),
        "overlays/prod/kustomization.yaml",
        "resources:\n- ../../base\nimages:\n- name: old.example.com/web\n  newTag: \"2.0\"\n",
    );
    let renames = web();
    let plan = Rewriter::new(options("old.example.com", "new.example.com"))
        .with_renamer(&renames)
        .plan(&[dir.path().join("overlays")])
        .unwrap();
    let file = plan.files.iter().find(|f| f.path == overlay).unwrap();
    assert_eq!(
        file.rewritten,
        "resources:\n- ../../base\nimages:\n- name: new.example.com/frontend/web\n  newTag: \"2.0\"\n"
    );
}

#[test]
fn a_kustomize_entry_matching_images_at_both_registries_is_split_with_the_new_name() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "base/deploy.yaml",
        "kind: Pod\napiVersion: v1\nspec:\n  containers:\n  - image: old.example.com/web:1.0\n",
    );
    write(
        dir.path(),
        "base/kustomization.yaml",
        "resources:\n- deploy.yaml\n- https://example.com/remote\n",
    );
    let overlay = write(
        dir.path(),
        "overlays/prod/kustomization.yaml",
        "resources:\n- ../../base\nimages:\n- name: old.example.com/web\n  newTag: \"2.0\"\n",
    );
    let renames = web();
    let plan = Rewriter::new(options("old.example.com", "new.example.com"))
        .with_renamer(&renames)
        .plan(&[dir.path().to_path_buf()])
        .unwrap();
    let file = plan.files.iter().find(|f| f.path == overlay).unwrap();
    assert_eq!(
        file.rewritten,
        "resources:\n- ../../base\nimages:\n- name: old.example.com/web\n  newName: new.example.com/frontend/web\n- name: new.example.com/frontend/web\n  newTag: \"2.0\"\n"
    );
}

#[test]
fn dockerfile_from_copy_from_and_arg_images_are_renamed_and_a_registry_argument_is_listed() {
    let text = "# syntax=old.example.com/web:1\nARG BASE=old.example.com/team-a/worker:2\nFROM old.example.com/web:1.0 AS build\nCOPY --from=old.example.com/web@sha256:abababababababababababababababababababababababababababababababab /a /a\nFROM ${BASE}\n";
    let file = renamed(FileKind::Dockerfile, text);
    assert_eq!(
        file.rewritten,
        "# syntax=new.example.com/frontend/web:1\nARG BASE=new.example.com/platform/team-a/worker:2\nFROM new.example.com/frontend/web:1.0 AS build\nCOPY --from=new.example.com/frontend/web@sha256:abababababababababababababababababababababababababababababababab /a /a\nFROM ${BASE}\n"
    );

    let text = "ARG REG=old.example.com\nFROM $REG/web:1.0\n";
    let file = renamed(FileKind::Dockerfile, text);
    assert_eq!(file.rewritten, text);
    assert!(file.references.is_empty());
    let found = notes(&file);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].0, 1);
    assert!(
        found[0]
            .1
            .starts_with("this Dockerfile ARG default holds the old registry alone"),
        "{found:?}"
    );
}

#[test]
fn pipelines_compose_files_and_chart_templates_rename_their_images_and_keep_registry_settings() {
    let workflow = "on: push\njobs:\n  build:\n    runs-on: ubuntu-latest\n    container: old.example.com/web:1.0\n    env:\n      REGISTRY: old.example.com\n    steps:\n      - uses: docker://old.example.com/team-a/tool:1\n";
    let file = renamed(FileKind::Pipeline, workflow);
    assert_eq!(
        file.rewritten,
        "on: push\njobs:\n  build:\n    runs-on: ubuntu-latest\n    container: new.example.com/frontend/web:1.0\n    env:\n      REGISTRY: new.example.com\n    steps:\n      - uses: docker://new.example.com/platform/team-a/tool:1\n"
    );

    let compose = "services:\n  web:\n    image: ${WEB_IMAGE:-old.example.com/web:1.0}\n";
    let file = renamed(FileKind::Compose, compose);
    assert_eq!(
        file.rewritten,
        "services:\n  web:\n    image: ${WEB_IMAGE:-new.example.com/frontend/web:1.0}\n"
    );

    let template = "      containers:\n        - image: old.example.com/web:{{ .Chart.AppVersion }}\n        - image: \"old.example.com/{{ .Values.name }}:1\"\n";
    let file = renamed(FileKind::HelmTemplate, template);
    assert_eq!(
        file.rewritten,
        "      containers:\n        - image: new.example.com/frontend/web:{{ .Chart.AppVersion }}\n        - image: \"old.example.com/{{ .Values.name }}:1\"\n"
    );
    let found = notes(&file);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].0, 3);
    assert!(found[0].1.contains("through a template or a variable"));
}

#[test]
fn a_renamed_repository_not_spelt_right_after_the_registry_is_listed_with_a_note_and_kept() {
    let compose = "services:\n  web:\n    image: ${REG:-old.example.com}/web:1.0\n  api:\n    image: ${REG:-old.example.com}/api:1.0\n";
    let file = renamed(FileKind::Compose, compose);
    assert_eq!(
        file.rewritten,
        "services:\n  web:\n    image: ${REG:-old.example.com}/web:1.0\n  api:\n    image: ${REG:-new.example.com}/api:1.0\n",
        "a repository that keeps its name is rewritten as before"
    );
    let found = notes(&file);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].0, 3);
    assert!(
        found[0].1.starts_with("this compose service image renames `web` to `frontend/web` (--map), and the file does not spell the repository literally where the registry is: not rewritten"),
        "{found:?}"
    );
}

#[test]
fn a_chart_dependency_moves_its_path_and_a_chart_whose_own_name_changes_is_listed() {
    let chart = "apiVersion: v2\nname: app\ndependencies:\n  - name: web\n    version: 1.2.3\n    repository: oci://old.example.com/charts\n  - name: db\n    version: 1.0.0\n    repository: oci://old.example.com/charts\n  - name: cache\n    version: 1.0.0\n    repository: oci://old.example.com/charts\n";
    let file = renamed(FileKind::HelmChart, chart);
    assert_eq!(
        file.rewritten,
        "apiVersion: v2\nname: app\ndependencies:\n  - name: web\n    version: 1.2.3\n    repository: oci://new.example.com/helm\n  - name: db\n    version: 1.0.0\n    repository: oci://old.example.com/charts\n  - name: cache\n    version: 1.0.0\n    repository: oci://new.example.com/charts\n"
    );
    let found = notes(&file);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].0, 9);
    assert!(
        found[0].1.contains("renames `charts/db` to `charts/database` (--map), and its last part `db` is written elsewhere (a chart's name)"),
        "{found:?}"
    );
}

#[test]
fn an_argo_cd_oci_chart_source_gets_the_path_of_its_new_name() {
    let app = "apiVersion: argoproj.io/v1alpha1\nkind: Application\nspec:\n  source:\n    chart: web\n    repoURL: old.example.com/charts\n    targetRevision: 1.2.3\n";
    let file = renamed(FileKind::Yaml, app);
    assert_eq!(
        file.rewritten,
        app.replace("old.example.com/charts", "new.example.com/helm")
    );
}

#[test]
fn the_target_is_asked_for_the_new_name_under_the_prefix_and_digests_are_pinned_from_it() {
    let target = MemoryTarget::with(&[("legacy/frontend/web", "1.0", DIGEST)]);
    let renames = web();
    let rewriter = Rewriter::new(Options {
        pin_digests: true,
        ..to_prefixed()
    })
    .with_resolver(&target)
    .with_renamer(&renames);
    let text =
        "image: old.example.com/web:1.0\nworker:\n  image: old.example.com/team-a/worker:2\n";
    let file = rewriter
        .rewrite_text(Path::new("values.yaml"), FileKind::HelmValues, text)
        .unwrap();
    assert_eq!(
        target.lookups.borrow().as_slice(),
        ["legacy/frontend/web:1.0", "legacy/platform/team-a/worker:2"]
    );
    assert_eq!(file.problems.len(), 1);
    assert_eq!(
        file.problems[0].target_reference,
        "new.example.com/legacy/platform/team-a/worker:2"
    );
    assert_eq!(file.problems[0].issue, Issue::MissingTag);
    assert_eq!(
        file.rewritten,
        format!("image: new.example.com/legacy/frontend/web@{DIGEST}\nworker:\n  image: new.example.com/legacy/platform/team-a/worker:2\n")
    );
    assert_eq!(rewriter.renamed("web"), "frontend/web");
}

#[test]
fn a_kustomize_entry_already_at_the_new_registry_under_its_new_name_is_pinned_from_that_name() {
    let target = MemoryTarget::with(&[("frontend/web", "2.0", DIGEST)]);
    let renames = web();
    let rewriter = Rewriter::new(Options {
        pin_digests: true,
        ..options("old.example.com", "new.example.com")
    })
    .with_resolver(&target)
    .with_renamer(&renames);
    let text = "images:\n- name: app\n  newName: new.example.com/frontend/web\n  newTag: \"2.0\"\n- name: gone\n  newName: new.example.com/web\n  newTag: \"2.0\"\n";
    let file = rewriter
        .rewrite_text(
            Path::new("kustomization.yaml"),
            FileKind::Kustomization,
            text,
        )
        .unwrap();
    assert_eq!(target.lookups.borrow().as_slice(), ["frontend/web:2.0"]);
    assert_eq!(
        file.rewritten,
        format!("images:\n- name: app\n  newName: new.example.com/frontend/web\n  digest: {DIGEST}\n- name: gone\n  newName: new.example.com/web\n  newTag: \"2.0\"\n")
    );
    assert_eq!(file.pinned_at_target.len(), 1);
    // Named as the old registry names it, as every reference is.
    assert_eq!(file.pinned_at_target[0].repository, "web");
}

#[test]
fn files_already_rewritten_under_the_new_names_are_done_and_check_counts_only_the_old_registry() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "done.yaml",
        "kind: Pod\napiVersion: v1\nspec:\n  containers:\n  - image: new.example.com/frontend/web:1.0\n",
    );
    let renames = web();
    let rewriter =
        Rewriter::new(options("old.example.com", "new.example.com")).with_renamer(&renames);
    let plan = rewriter.plan(&[dir.path().to_path_buf()]).unwrap();
    assert_eq!(plan.remaining(), 0);
    assert!(!plan.files[0].is_changed());
    assert_eq!(
        rewriter.nothing_matched(&plan),
        None,
        "a second run is done"
    );

    write(
        dir.path(),
        "left.yaml",
        "image: old.example.com/web:1.0\nregistry: old.example.com\n",
    );
    let plan = rewriter.plan(&[dir.path().to_path_buf()]).unwrap();
    assert_eq!(
        plan.remaining(),
        2,
        "the reference and the registry value listed with a note"
    );
}

#[test]
fn without_a_renamer_or_with_one_that_renames_nothing_here_references_keep_their_names() {
    let plain = Rewriter::new(options("old.example.com", "new.example.com"));
    let others = Map(vec![("elsewhere", "moved/elsewhere")]);
    let renaming =
        Rewriter::new(options("old.example.com", "new.example.com")).with_renamer(&others);
    let values = "image: old.example.com/web:1.0\nmap:\n  image:\n    registry: old.example.com\n    repository: web\n    tag: 1\n";
    for (kind, text) in [
        (FileKind::Yaml, DEPLOYMENT),
        (FileKind::HelmValues, values),
        (FileKind::Dockerfile, "FROM old.example.com/web:1.0\n"),
    ] {
        let expected = text
            .replace("old.example.com:443/", "new.example.com/")
            .replace("old.example.com", "new.example.com");
        for rewriter in [&plain, &renaming] {
            let file = rewriter.rewrite_text(Path::new("f"), kind, text).unwrap();
            assert_eq!(file.rewritten, expected);
            assert!(file.mentions.is_empty());
        }
    }
    // Without a renamer a registry value is rewritten as it always was.
    let file = plain
        .rewrite_text(
            Path::new("values.yaml"),
            FileKind::HelmValues,
            "global:\n  imageRegistry: old.example.com\n",
        )
        .unwrap();
    assert_eq!(
        file.rewritten,
        "global:\n  imageRegistry: new.example.com\n"
    );
    assert_eq!(plain.renamed("web"), "web");
}
