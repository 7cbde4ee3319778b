//! The plan: resolution against the target before any write, digest pinning, `--check`
//! counting, atomic writes that keep permissions, and the `.gitignore`-aware walk.

use std::fs;
use std::path::{Path, PathBuf};

use acr_rewrite::{Error, FileKind, Issue, Options, Rewriter, WriteOptions};

use crate::util::{options, MemoryTarget};

const DIGEST: &str = "sha256:abababababababababababababababababababababababababababababababab";

fn pinning() -> Options {
    Options {
        pin_digests: true,
        ..options("myreg.azurecr.io", "newreg.azurecr.io")
    }
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(&path, text).unwrap();
    path
}

#[test]
fn a_tag_missing_from_the_target_blocks_every_write() {
    let dir = tempfile::tempdir().unwrap();
    let present = write(
        dir.path(),
        "a/deploy.yaml",
        "kind: Pod\napiVersion: v1\nspec:\n  containers:\n  - image: myreg.azurecr.io/app:1.0\n",
    );
    let missing = write(dir.path(), "b/Dockerfile", "FROM myreg.azurecr.io/base:9\n");
    let target = MemoryTarget::with(&[("app", "1.0", DIGEST)]);
    let rewriter =
        Rewriter::new(options("myreg.azurecr.io", "newreg.azurecr.io")).with_resolver(&target);
    let plan = rewriter.plan(&[dir.path().to_path_buf()]).unwrap();

    assert!(plan.is_blocked());
    let problems: Vec<_> = plan
        .problems()
        .map(|(p, problem)| (p.to_path_buf(), problem.clone()))
        .collect();
    assert_eq!(problems.len(), 1);
    assert_eq!(problems[0].0, missing);
    assert_eq!(problems[0].1.issue, Issue::MissingTag);
    assert_eq!(problems[0].1.target_reference, "newreg.azurecr.io/base:9");
    assert!(matches!(plan.write(), Err(Error::Blocked { count: 1 })));
    assert!(
        fs::read_to_string(&present)
            .unwrap()
            .contains("myreg.azurecr.io/app:1.0"),
        "nothing may be written"
    );
}

#[test]
fn lookups_are_cached_and_failures_block_too() {
    let target = MemoryTarget {
        failing: Some("401 unauthorized".into()),
        ..Default::default()
    };
    let rewriter =
        Rewriter::new(options("myreg.azurecr.io", "newreg.azurecr.io")).with_resolver(&target);
    let text = "a:\n  image: myreg.azurecr.io/app:1\nb:\n  image: myreg.azurecr.io/app:1\n";
    let file = rewriter
        .rewrite_text(Path::new("x.yaml"), FileKind::Yaml, text)
        .unwrap();
    assert_eq!(file.problems.len(), 2);
    assert_eq!(
        file.problems[0].issue,
        Issue::Lookup("401 unauthorized".into())
    );
    assert_eq!(target.lookups.borrow().len(), 1);
}

#[test]
fn untagged_references_are_checked_as_latest_and_templated_ones_are_not_checked() {
    let target = MemoryTarget::with(&[("app", "latest", DIGEST)]);
    let rewriter =
        Rewriter::new(options("myreg.azurecr.io", "newreg.azurecr.io")).with_resolver(&target);
    let text = "FROM myreg.azurecr.io/app\nFROM myreg.azurecr.io/app:${TAG}\n";
    let file = rewriter
        .rewrite_text(Path::new("Dockerfile"), FileKind::Dockerfile, text)
        .unwrap();
    assert!(file.problems.is_empty(), "{:?}", file.problems);
    assert_eq!(*target.lookups.borrow(), vec!["app:latest".to_string()]);
}

#[test]
fn an_arg_holding_a_repository_without_a_tag_is_not_checked_as_latest() {
    // `FROM ${BASE}:${TAG}` puts the tag after the argument: the ARG default alone is a
    // repository, not the image `:latest`. An ARG holding a whole image is checked.
    let target = MemoryTarget::with(&[("base", "3", DIGEST), ("tools", "2", DIGEST)]);
    let rewriter =
        Rewriter::new(options("myreg.azurecr.io", "newreg.azurecr.io")).with_resolver(&target);
    let text = "ARG BASE=myreg.azurecr.io/base\nARG TOOLS=myreg.azurecr.io/tools:2\nARG TAG=3\nFROM ${BASE}:${TAG}\nCOPY --from=${TOOLS} /t /t\n";
    let file = rewriter
        .rewrite_text(Path::new("Dockerfile"), FileKind::Dockerfile, text)
        .unwrap();
    assert_eq!(file.rewritten, text.replace("myreg", "newreg"));
    assert!(file.problems.is_empty(), "{:?}", file.problems);
    assert_eq!(*target.lookups.borrow(), ["tools:2"]);
}

#[test]
fn a_values_image_without_a_tag_is_checked_with_the_tag_beside_it_not_as_latest() {
    // Charts such as Elastic's take `image:` and `imageTag:` apart and join them in the
    // template; a chart may also add `.Chart.AppVersion`. Only a Kubernetes manifest's
    // untagged image means `:latest`.
    let target = MemoryTarget::with(&[("es", "8.5.1", DIGEST), ("web", "1.2", DIGEST)]);
    let rewriter =
        Rewriter::new(options("myreg.azurecr.io", "newreg.azurecr.io")).with_resolver(&target);
    let text = "elasticsearch:\n  image: myreg.azurecr.io/es\n  imageTag: \"8.5.1\"\nweb:\n  image: myreg.azurecr.io/web\n  tag: 1.2\nworker:\n  image: myreg.azurecr.io/worker\n";
    let file = rewriter
        .rewrite_text(Path::new("values.yaml"), FileKind::HelmValues, text)
        .unwrap();
    assert_eq!(file.rewritten, text.replace("myreg", "newreg"));
    assert!(file.problems.is_empty(), "{:?}", file.problems);
    assert_eq!(*target.lookups.borrow(), ["es:8.5.1", "web:1.2"]);
}

#[test]
fn digests_are_checked_with_has_digest() {
    let target = MemoryTarget::with(&[("app", "1", DIGEST)]);
    let rewriter =
        Rewriter::new(options("myreg.azurecr.io", "newreg.azurecr.io")).with_resolver(&target);
    let text = format!(
        "image: myreg.azurecr.io/app@{DIGEST}\nother: {{image: myreg.azurecr.io/app@sha256:{}}}\n",
        "c".repeat(64)
    );
    let file = rewriter
        .rewrite_text(Path::new("x.yaml"), FileKind::Yaml, &text)
        .unwrap();
    assert_eq!(file.problems.len(), 1);
    assert_eq!(file.problems[0].issue, Issue::MissingDigest);
    assert_eq!(file.problems[0].line, 2);
}

#[test]
fn pinning_replaces_tags_with_digests_where_the_shape_allows() {
    let target = MemoryTarget::with(&[
        ("app", "1.0", DIGEST),
        ("web", "2", DIGEST),
        ("base", "3", DIGEST),
    ]);
    let rewriter = Rewriter::new(pinning()).with_resolver(&target);
    let yaml = "image: \"myreg.azurecr.io/app:1.0\" # keep\nweb:\n  image:\n    registry: myreg.azurecr.io\n    repository: web\n    tag: \"2\"\n";
    let file = rewriter
        .rewrite_text(Path::new("values.yaml"), FileKind::HelmValues, yaml)
        .unwrap();
    assert_eq!(
        file.rewritten,
        format!("image: \"newreg.azurecr.io/app@{DIGEST}\" # keep\nweb:\n  image:\n    registry: newreg.azurecr.io\n    repository: web\n    tag: \"2\"\n")
    );
    assert_eq!(file.references[0].pinned.as_deref(), Some(DIGEST));
    assert_eq!(file.references[1].pinned, None, "maps keep their tag");

    let docker = "FROM --platform=linux/amd64 myreg.azurecr.io/base:3 AS b\n";
    let file = rewriter
        .rewrite_text(Path::new("Dockerfile"), FileKind::Dockerfile, docker)
        .unwrap();
    assert_eq!(
        file.rewritten,
        format!("FROM --platform=linux/amd64 newreg.azurecr.io/base@{DIGEST} AS b\n")
    );
}

#[test]
fn the_image_a_tekton_build_pushes_is_rewritten_but_neither_checked_nor_pinned() {
    // `IMAGE` of the catalog's buildah/kaniko tasks (and buildpacks' `APP_IMAGE`,
    // `CACHE_IMAGE`) is where the build pushes: a tag it will create, not one to look up, and
    // a digest there would make the push fail. `BUILDER_IMAGE` is pulled: checked and pinned.
    let target = MemoryTarget::with(&[("app", "1.0", DIGEST), ("buildah", "1", DIGEST)]);
    let rewriter = Rewriter::new(pinning()).with_resolver(&target);
    let run = "apiVersion: tekton.dev/v1\nkind: PipelineRun\nmetadata:\n  name: build\nspec:\n  pipelineRef:\n    name: build\n  params:\n    - name: IMAGE\n      value: myreg.azurecr.io/app:1.0\n    - name: APP_IMAGE\n      value: myreg.azurecr.io/app:2.0\n    - name: cache-image\n      value: myreg.azurecr.io/app:cache\n    - name: BUILDER_IMAGE\n      value: myreg.azurecr.io/buildah:1\n";
    let file = rewriter
        .rewrite_text(Path::new("run.yaml"), FileKind::Yaml, run)
        .unwrap();
    assert_eq!(
        file.rewritten,
        run.replace("myreg", "newreg")
            .replace("buildah:1", &format!("buildah@{DIGEST}"))
    );
    assert!(file.problems.is_empty(), "{:?}", file.problems);
    assert_eq!(*target.lookups.borrow(), ["buildah:1"]);
}

#[test]
fn the_image_a_compose_service_builds_is_rewritten_but_neither_checked_nor_pinned() {
    // With `build:`, `image:` is the name Compose tags the built image with (and pushes with
    // `docker compose push`): a tag the build creates; a digest there cannot be a tag.
    let target = MemoryTarget::with(&[("db", "16", DIGEST), ("web", "dev", DIGEST)]);
    let rewriter = Rewriter::new(pinning()).with_resolver(&target);
    let compose = "services:\n  web:\n    build:\n      context: .\n    image: myreg.azurecr.io/web:dev\n  api:\n    image: myreg.azurecr.io/api:${TAG:-local}\n    build: ./api\n  db:\n    image: myreg.azurecr.io/db:16\n";
    let file = rewriter
        .rewrite_text(Path::new("docker-compose.yml"), FileKind::Compose, compose)
        .unwrap();
    assert_eq!(
        file.rewritten,
        compose
            .replace("myreg", "newreg")
            .replace("db:16", &format!("db@{DIGEST}"))
    );
    assert!(file.problems.is_empty(), "{:?}", file.problems);
    assert_eq!(*target.lookups.borrow(), ["db:16"]);
}

#[test]
fn a_compose_service_that_gets_build_through_a_merge_key_has_its_image_neither_checked_nor_pinned()
{
    // `<<: *anchor` merges the anchored mapping's keys into the service, `build:` too; a
    // sequence of aliases merges each, and a merged mapping may merge another.
    let target = MemoryTarget::with(&[("db", "16", DIGEST)]);
    let rewriter = Rewriter::new(pinning()).with_resolver(&target);
    let compose = "x-build: &build\n  build:\n    context: .\n  restart: always\nx-logging: &logging\n  logging:\n    driver: json-file\nx-nested: &nested\n  <<: *build\nservices:\n  web:\n    <<: *build\n    image: myreg.azurecr.io/web:dev\n  api:\n    <<: [*logging, *build]\n    image: myreg.azurecr.io/api:dev\n  jobs:\n    <<: *nested\n    image: myreg.azurecr.io/jobs:dev\n  db:\n    <<: *logging\n    image: myreg.azurecr.io/db:16\n";
    let file = rewriter
        .rewrite_text(Path::new("docker-compose.yml"), FileKind::Compose, compose)
        .unwrap();
    assert_eq!(
        file.rewritten,
        compose
            .replace("myreg", "newreg")
            .replace("db:16", &format!("db@{DIGEST}"))
    );
    assert!(file.problems.is_empty(), "{:?}", file.problems);
    assert_eq!(*target.lookups.borrow(), ["db:16"], "only the pulled image");
}

#[test]
fn pinning_without_a_resolver_is_refused() {
    let rewriter = Rewriter::new(pinning());
    assert!(matches!(
        rewriter.plan(&[PathBuf::from(".")]),
        Err(Error::PinWithoutResolver)
    ));
}

#[test]
fn check_counts_references_mentions_and_comments() {
    let rewriter = Rewriter::new(options("myreg.azurecr.io", "newreg.azurecr.io"));
    let text = "# myreg.azurecr.io in a comment\nimage: myreg.azurecr.io/a:1\nscript: |\n  docker pull myreg.azurecr.io/b:1\n";
    let f = rewriter
        .rewrite_text(Path::new("x.yaml"), FileKind::Yaml, text)
        .unwrap();
    assert_eq!(f.references.len(), 1);
    let lines: Vec<_> = f.mentions.iter().map(|m| m.line).collect();
    assert_eq!(lines, [1, 4]);
    assert!(
        f.rewritten.contains("docker pull myreg.azurecr.io/b:1"),
        "block scalars are not rewritten"
    );
    assert!(
        f.rewritten.starts_with("# myreg.azurecr.io in a comment\n"),
        "comments are not rewritten"
    );
    let clean = rewriter
        .rewrite_text(Path::new("x.yaml"), FileKind::Yaml, &f.rewritten)
        .unwrap();
    assert_eq!(clean.references.len(), 0);
    assert_eq!(clean.mentions.len(), 2);
}

#[test]
fn pinning_turns_a_kustomize_new_tag_into_the_digest_so_that_the_build_keeps_the_pin() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "app.yaml",
        "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n    - image: myreg.azurecr.io/web:1.0\n    - image: myreg.azurecr.io/api:2\n",
    );
    let kustomization = write(
        dir.path(),
        "kustomization.yaml",
        "resources: [app.yaml]\nimages:\n  - name: myreg.azurecr.io/web\n    newTag: \"1.0\" # release\n  - {name: myreg.azurecr.io/api, 'newTag': '2'}\n",
    );
    let target = MemoryTarget::with(&[("web", "1.0", DIGEST), ("api", "2", DIGEST)]);
    let plan = Rewriter::new(pinning())
        .with_resolver(&target)
        .plan(&[dir.path().to_path_buf()])
        .unwrap();
    let file = plan.files.iter().find(|f| f.path == kustomization).unwrap();
    assert_eq!(
        file.rewritten,
        format!("resources: [app.yaml]\nimages:\n  - name: newreg.azurecr.io/web\n    digest: {DIGEST} # release\n  - {{name: newreg.azurecr.io/api, digest: {DIGEST}}}\n")
    );
    let pinned: Vec<_> = file
        .references
        .iter()
        .map(|r| r.pinned.as_deref())
        .collect();
    assert_eq!(pinned, [Some(DIGEST), Some(DIGEST)]);
}

#[test]
fn pinning_turns_the_new_tag_of_a_kustomize_entry_already_at_the_new_registry_into_the_digest() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "app.yaml",
        "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n    - image: myreg.azurecr.io/web:1.0\n    - image: newreg.azurecr.io/api:2\n",
    );
    let text = "resources: [app.yaml]\nimages:\n  - name: myreg.azurecr.io/web\n    newName: newreg.azurecr.io/web\n    newTag: \"1.0\"\n  - name: newreg.azurecr.io/api\n    newTag: '2' # release\n  - name: newreg.azurecr.io/tool\n    digest: sha256:cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd\n";
    let kustomization = write(dir.path(), "kustomization.yaml", text);
    let target = MemoryTarget::with(&[("web", "1.0", DIGEST), ("api", "2", DIGEST)]);
    let plan = Rewriter::new(pinning())
        .with_resolver(&target)
        .plan(&[dir.path().to_path_buf()])
        .unwrap();
    let file = plan.files.iter().find(|f| f.path == kustomization).unwrap();
    assert_eq!(
        file.rewritten,
        text.replace("myreg", "newreg")
            .replace("newTag: \"1.0\"", &format!("digest: {DIGEST}"))
            .replace("newTag: '2'", &format!("digest: {DIGEST}"))
    );
    let pinned: Vec<_> = file
        .pinned_at_target
        .iter()
        .map(|r| (r.line, r.repository.as_str(), r.pinned.as_deref()))
        .collect();
    assert_eq!(pinned, [(4, "web", Some(DIGEST)), (6, "api", Some(DIGEST))]);
    assert_eq!(file.references.len(), 1, "only the old name is a reference");
    assert_eq!(plan.remaining(), 2, "the old name and the resource's image");

    let missing = MemoryTarget::default();
    let plan = Rewriter::new(pinning())
        .with_resolver(&missing)
        .plan(std::slice::from_ref(&kustomization))
        .unwrap();
    let problems: Vec<_> = plan.problems().map(|(_, p)| p.to_string()).collect();
    assert_eq!(
        problems,
        [
            "newreg.azurecr.io/web:1.0: the target has no such tag",
            "newreg.azurecr.io/api:2: the target has no such tag"
        ],
        "a tag that cannot be pinned blocks the run as for a renamed entry"
    );
}

#[test]
fn without_pinning_a_kustomize_new_tag_stays() {
    let target = MemoryTarget::with(&[("web", "1.0", DIGEST)]);
    let rewriter =
        Rewriter::new(options("myreg.azurecr.io", "newreg.azurecr.io")).with_resolver(&target);
    let text = "images:\n  - name: myreg.azurecr.io/web\n    newName: myreg.azurecr.io/web\n    newTag: \"1.0\"\n";
    let file = rewriter
        .rewrite_text(
            Path::new("kustomization.yaml"),
            FileKind::Kustomization,
            text,
        )
        .unwrap();
    assert_eq!(
        file.rewritten,
        "images:\n  - name: myreg.azurecr.io/web\n    newName: newreg.azurecr.io/web\n    newTag: \"1.0\"\n"
    );
    assert_eq!(*target.lookups.borrow(), vec!["web:1.0".to_string()]);
}

#[test]
fn only_the_registry_changes_byte_for_byte() {
    let rewriter = Rewriter::new(options("myreg.azurecr.io", "newreg.azurecr.io"));
    let text = "base: &b\n  image:   'myreg.azurecr.io/x:1'  # c\n\nlist: [ \"myreg.azurecr.io/y\" ]\nderived:\n  <<: *b\n";
    let f = rewriter
        .rewrite_text(Path::new("x.yaml"), FileKind::Yaml, text)
        .unwrap();
    assert_eq!(
        f.rewritten,
        text.replacen("myreg.azurecr.io/x", "newreg.azurecr.io/x", 1)
    );
    assert_eq!(f.mentions.len(), 1, "a string in a list is a mention");
}

#[test]
fn writes_are_atomic_and_keep_permissions() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "docker-compose.yml",
        "services:\n  a:\n    image: myreg.azurecr.io/a:1\n",
    );
    fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
    let rewriter = Rewriter::new(options("myreg.azurecr.io", "newreg.azurecr.io"));
    let plan = rewriter.plan(&[dir.path().to_path_buf()]).unwrap();
    let summary = plan.write().unwrap();
    assert_eq!(
        (summary.files_written, summary.references_rewritten),
        (1, 1)
    );
    assert_eq!(
        fs::read_to_string(&path).unwrap(),
        "services:\n  a:\n    image: newreg.azurecr.io/a:1\n"
    );
    assert_eq!(
        fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o640
    );
    let leftovers: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(leftovers.len(), 1, "no temporary file is left behind");
}

#[test]
fn the_walk_honours_gitignore_and_reads_hidden_workflow_directories() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), ".gitignore", "generated/\n");
    write(
        dir.path(),
        "generated/deploy.yaml",
        "image: myreg.azurecr.io/a:1\n",
    );
    write(
        dir.path(),
        ".github/workflows/ci.yml",
        "jobs:\n  a:\n    container: myreg.azurecr.io/ci:1\n",
    );
    write(
        dir.path(),
        ".git/config.yaml",
        "image: myreg.azurecr.io/a:1\n",
    );
    write(dir.path(), "README.md", "myreg.azurecr.io/a:1\n");
    let (files, errors) = acr_rewrite::discover(&[dir.path().to_path_buf()]);
    assert!(errors.is_empty());
    let names: Vec<_> = files
        .iter()
        .map(|(p, k)| (p.strip_prefix(dir.path()).unwrap().to_path_buf(), *k))
        .collect();
    assert_eq!(
        names,
        vec![
            (
                PathBuf::from(".github/workflows/ci.yml"),
                FileKind::Pipeline
            ),
            (PathBuf::from(".gitignore"), FileKind::Text),
            (PathBuf::from("README.md"), FileKind::Text),
        ]
    );
}

#[test]
fn ripgrep_ignore_files_do_not_hide_files_from_the_walk() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), ".ignore", "deploy/\n");
    write(
        dir.path(),
        "deploy/app.yaml",
        "image: myreg.azurecr.io/a:1\n",
    );
    let (files, errors) = acr_rewrite::discover(&[dir.path().to_path_buf()]);
    assert!(errors.is_empty());
    let names: Vec<_> = files
        .iter()
        .map(|(p, _)| p.strip_prefix(dir.path()).unwrap().to_path_buf())
        .collect();
    assert_eq!(
        names,
        [PathBuf::from(".ignore"), PathBuf::from("deploy/app.yaml")]
    );
}

#[test]
fn a_rewritten_file_keeps_its_owner_and_group() {
    use std::os::unix::fs::MetadataExt;
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "app.yaml", "image: myreg.azurecr.io/a:1\n");
    // Only root can give a file away; as another user the test has nothing to show.
    if std::os::unix::fs::chown(&path, Some(4321), Some(8765)).is_err() {
        eprintln!("skipped: giving a file to another owner needs root");
        return;
    }
    let rewriter = Rewriter::new(options("myreg.azurecr.io", "newreg.azurecr.io"));
    rewriter
        .plan(&[dir.path().to_path_buf()])
        .unwrap()
        .write()
        .unwrap();
    let meta = fs::metadata(&path).unwrap();
    assert_eq!(
        fs::read_to_string(&path).unwrap(),
        "image: newreg.azurecr.io/a:1\n"
    );
    assert_eq!((meta.uid(), meta.gid()), (4321, 8765));
}

#[test]
fn every_text_file_of_the_walk_is_scanned_for_mentions_and_binary_files_are_skipped() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "deploy.sh",
        "#!/bin/sh\ndocker pull myreg.azurecr.io/app:1\n",
    );
    // Not a registry setting (those are rewritten): a mention.
    write(dir.path(), ".env", "MIRROR=myreg.azurecr.io\n");
    write(
        dir.path(),
        "infra/main.tf",
        "resource \"x\" \"y\" {\n  login_server = \"myreg.azurecr.io\"\n}\n",
    );
    fs::write(
        dir.path().join("logo.png"),
        b"\x89PNG\0\0myreg.azurecr.io/app:1",
    )
    .unwrap();
    fs::write(
        dir.path().join("latin1.txt"),
        b"caf\xe9 myreg.azurecr.io/app:1\n",
    )
    .unwrap();
    write(dir.path(), "unrelated.txt", "nothing here\n");
    let rewriter = Rewriter::new(options("myreg.azurecr.io", "newreg.azurecr.io"));
    let plan = rewriter.plan(&[dir.path().to_path_buf()]).unwrap();
    assert!(plan.failures.is_empty(), "{:?}", plan.failures);
    let found: Vec<_> = plan
        .files
        .iter()
        .filter(|f| !f.mentions.is_empty())
        .map(|f| {
            let name = f.path.strip_prefix(dir.path()).unwrap().to_path_buf();
            (name, f.kind, f.mentions[0].line, f.mentions[0].place)
        })
        .collect();
    let other = acr_rewrite::MentionPlace::OtherFile;
    assert_eq!(
        found,
        vec![
            (PathBuf::from(".env"), FileKind::DotEnv, 1, other),
            (PathBuf::from("deploy.sh"), FileKind::Text, 2, other),
            (PathBuf::from("infra/main.tf"), FileKind::Text, 2, other),
            (PathBuf::from("latin1.txt"), FileKind::Text, 1, other),
        ]
    );
    assert!(plan.files.iter().all(|f| !f.path.ends_with("logo.png")));
    assert_eq!(plan.remaining(), 4, "--check fails on them");
    assert!(
        plan.files.iter().all(|f| !f.is_changed()),
        "none is rewritten"
    );
}

#[test]
fn explicit_paths_that_are_missing_fail_alone_and_other_kinds_are_scanned() {
    let dir = tempfile::tempdir().unwrap();
    let good = write(dir.path(), "Dockerfile", "FROM myreg.azurecr.io/a:1\n");
    let readme = write(dir.path(), "README.md", "pull myreg.azurecr.io/a:1\n");
    let rewriter = Rewriter::new(options("myreg.azurecr.io", "newreg.azurecr.io"));
    let plan = rewriter
        .plan(&[good, readme, dir.path().join("nope")])
        .unwrap();
    assert_eq!(plan.files.len(), 2);
    assert_eq!(plan.files[1].kind, FileKind::Text);
    assert_eq!(plan.files[1].mentions.len(), 1);
    assert_eq!(plan.failures.len(), 1);
    assert!(matches!(plan.failures[0], Error::Read { .. }));
}

#[test]
fn the_diff_shows_only_the_registry_lines() {
    let rewriter = Rewriter::new(options("myreg.azurecr.io", "newreg.azurecr.io"));
    let f = rewriter
        .rewrite_text(
            Path::new("k/app.yaml"),
            FileKind::Yaml,
            "a: 1\nimage: myreg.azurecr.io/a:1\n",
        )
        .unwrap();
    assert_eq!(f.diff(), "--- a/k/app.yaml\n+++ b/k/app.yaml\n@@ -1,2 +1,2 @@\n a: 1\n-image: myreg.azurecr.io/a:1\n+image: newreg.azurecr.io/a:1\n");
}

#[test]
fn the_diff_of_an_absolute_or_dot_relative_path_is_labelled_as_git_labels_it() {
    let rewriter = Rewriter::new(options("myreg.azurecr.io", "newreg.azurecr.io"));
    for (path, label) in [
        ("/tmp/k/app.yaml", "tmp/k/app.yaml"),
        ("./k/app.yaml", "k/app.yaml"),
        ("../k/app.yaml", "../k/app.yaml"),
    ] {
        let f = rewriter
            .rewrite_text(
                Path::new(path),
                FileKind::Yaml,
                "image: myreg.azurecr.io/a:1\n",
            )
            .unwrap();
        let head = format!("--- a/{label}\n+++ b/{label}\n@@ -1 +1 @@\n");
        assert!(f.diff().starts_with(&head), "{path}: {}", f.diff());
    }
}

#[test]
fn a_file_reached_twice_is_planned_once_and_dot_slash_is_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "k8s/a.yaml", "image: myreg.azurecr.io/a:1\n");
    let dotted = dir.path().join("./k8s/./a.yaml");
    let (files, errors) = acr_rewrite::discover(&[
        dir.path().join("k8s"),
        path.clone(),
        dotted,
        dir.path().join("k8s/../k8s/a.yaml"),
    ]);
    assert!(errors.is_empty());
    assert_eq!(files, vec![(path, FileKind::Yaml)]);

    let cwd = std::env::current_dir().unwrap();
    let relative = PathBuf::from("./tests/fixtures/port/input/deployment.yaml");
    assert!(cwd.join(&relative).is_file());
    let (files, _) = acr_rewrite::discover(&[relative]);
    assert_eq!(
        files[0].0,
        PathBuf::from("tests/fixtures/port/input/deployment.yaml")
    );
}

#[test]
fn a_read_only_file_is_refused_before_anything_is_written() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let text = "image: myreg.azurecr.io/a:1\n";
    let locked = write(dir.path(), "a/locked.yaml", text);
    let open = write(dir.path(), "b/open.yaml", text);
    fs::set_permissions(&locked, fs::Permissions::from_mode(0o444)).unwrap();
    let rewriter = Rewriter::new(options("myreg.azurecr.io", "newreg.azurecr.io"));
    let plan = rewriter.plan(&[dir.path().to_path_buf()]).unwrap();

    let refusals = plan.refusals(WriteOptions::default());
    assert_eq!(refusals.len(), 1);
    assert!(matches!(&refusals[0], Error::ReadOnly { path } if *path == locked));
    assert_eq!(
        refusals[0].to_string(),
        format!(
            "{} is read-only: not rewritten (make it writable and run again)",
            locked.display()
        )
    );
    assert!(matches!(plan.write(), Err(Error::Refused { refused }) if refused.len() == 1));
    assert_eq!(fs::read_to_string(&locked).unwrap(), text);
    assert_eq!(
        fs::metadata(&locked).unwrap().permissions().mode() & 0o777,
        0o444
    );
    assert_eq!(
        fs::read_to_string(&open).unwrap(),
        text,
        "the writable file is not written either"
    );
}

#[test]
fn a_kustomize_name_keeps_matching_its_resources_and_check_passes_after_the_rewrite() {
    let rewriter = Rewriter::new(options("myreg.azurecr.io", "newreg.azurecr.io"));
    let overlay = "images:\n- name: myreg.azurecr.io/web # key\n  newTag: \"2\"\n";
    let alone = rewriter
        .rewrite_text(
            Path::new("kustomization.yaml"),
            FileKind::Kustomization,
            overlay,
        )
        .unwrap();
    assert_eq!(
        alone.rewritten,
        "images:\n- name: myreg.azurecr.io/web # key\n  newName: newreg.azurecr.io/web\n  newTag: \"2\"\n",
        "the base is not rewritten: the name stays and newName is added"
    );
    let again = rewriter
        .rewrite_text(
            Path::new("kustomization.yaml"),
            FileKind::Kustomization,
            &alone.rewritten,
        )
        .unwrap();
    assert_eq!(
        (again.references.len(), again.mentions.len()),
        (0, 0),
        "the name left as the match key is not a remaining reference"
    );

    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "base/deploy.yaml",
        "kind: Pod\napiVersion: v1\nspec:\n  containers:\n  - image: myreg.azurecr.io/web:1\n",
    );
    let overlay = format!("resources:\n- ../base/deploy.yaml\n{overlay}");
    let kustomization = write(dir.path(), "overlay/kustomization.yaml", &overlay);
    let plan = rewriter.plan(&[dir.path().to_path_buf()]).unwrap();
    let file = plan.files.iter().find(|f| f.path == kustomization).unwrap();
    assert_eq!(
        file.rewritten,
        overlay.replace("myreg.azurecr.io", "newreg.azurecr.io"),
        "the base is rewritten in the same run: the name follows it"
    );
}

#[test]
fn a_file_with_several_hard_links_is_refused_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let text = "image: myreg.azurecr.io/a:1\n";
    let first = write(dir.path(), "a/first.yaml", text);
    let linked = write(dir.path(), "b/linked.yaml", text);
    let other_name = dir.path().join("elsewhere.txt");
    fs::hard_link(&linked, &other_name).unwrap();
    let rewriter = Rewriter::new(options("myreg.azurecr.io", "newreg.azurecr.io"));
    let plan = rewriter
        .plan(&[dir.path().join("a"), dir.path().join("b")])
        .unwrap();

    let refusals = plan.refusals(WriteOptions::default());
    assert_eq!(refusals.len(), 1);
    assert!(matches!(&refusals[0], Error::HardLinked { path, links: 2 } if *path == linked));
    assert_eq!(
        refusals[0].to_string(),
        format!(
            "{} has 2 hard links: replacing it would leave its other names with the old content",
            linked.display()
        )
    );
    assert!(matches!(plan.write(), Err(Error::Refused { refused }) if refused.len() == 1));
    assert_eq!(
        fs::read_to_string(&first).unwrap(),
        text,
        "nothing is written"
    );
    assert_eq!(fs::read_to_string(&linked).unwrap(), text);
    assert_eq!(
        acr_rewrite::hard_links(&linked).unwrap(),
        2,
        "the link holds"
    );
}

#[test]
fn hard_linked_files_are_written_in_place_when_asked_so_every_name_sees_the_rewrite() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let dir = tempfile::tempdir().unwrap();
    let text = "image: myreg.azurecr.io/a:1 # a long comment that makes the old text longer\n";
    let linked = write(dir.path(), "k8s/linked.yaml", text);
    fs::set_permissions(&linked, fs::Permissions::from_mode(0o640)).unwrap();
    let plain = write(dir.path(), "k8s/plain.yaml", text);
    let other_name = dir.path().join("other-name.yaml");
    fs::hard_link(&linked, &other_name).unwrap();
    let inode = fs::metadata(&linked).unwrap().ino();
    let rewriter = Rewriter::new(options("myreg.azurecr.io", "new.io"));
    let plan = rewriter.plan(&[dir.path().join("k8s")]).unwrap();
    let summary = plan
        .write_with(WriteOptions {
            in_place_hard_links: true,
        })
        .unwrap();

    let expected = "image: new.io/a:1 # a long comment that makes the old text longer\n";
    assert_eq!(summary.files_written, 2);
    assert_eq!(summary.written_in_place, vec![linked.clone()]);
    assert_eq!(fs::read_to_string(&linked).unwrap(), expected);
    assert_eq!(
        fs::read_to_string(&other_name).unwrap(),
        expected,
        "the other name sees the rewrite, cut to the new length"
    );
    let meta = fs::metadata(&linked).unwrap();
    assert_eq!(
        (meta.ino(), meta.nlink()),
        (inode, 2),
        "same file, both names"
    );
    assert_eq!(meta.permissions().mode() & 0o777, 0o640);
    assert_eq!(fs::read_to_string(&plain).unwrap(), expected);
}

#[test]
fn a_symbolic_link_named_explicitly_has_the_file_it_points_to_rewritten_and_stays_a_link() {
    let dir = tempfile::tempdir().unwrap();
    let text = "image: myreg.azurecr.io/a:1\n";
    let real = write(dir.path(), "shared/values.yaml", text);
    let link = dir.path().join("app/values.yaml");
    fs::create_dir_all(link.parent().unwrap()).unwrap();
    std::os::unix::fs::symlink("../shared/values.yaml", &link).unwrap();
    let rewriter = Rewriter::new(options("myreg.azurecr.io", "newreg.azurecr.io"));
    let plan = rewriter.plan(std::slice::from_ref(&link)).unwrap();
    assert_eq!(plan.files.len(), 1);
    assert_eq!(plan.files[0].path, link, "named as given");
    plan.write().unwrap();

    assert!(fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(
        fs::read_link(&link).unwrap(),
        PathBuf::from("../shared/values.yaml")
    );
    assert_eq!(
        fs::read_to_string(&real).unwrap(),
        "image: newreg.azurecr.io/a:1\n"
    );
    let leftovers: Vec<_> = fs::read_dir(dir.path().join("app")).unwrap().collect();
    assert_eq!(
        leftovers.len(),
        1,
        "no temporary file is left next to the link"
    );
}

#[test]
fn symbolic_links_met_in_a_walk_are_not_followed_and_stay_links() {
    let dir = tempfile::tempdir().unwrap();
    let text = "image: myreg.azurecr.io/a:1\n";
    let outside = tempfile::tempdir().unwrap();
    let target = write(outside.path(), "values.yaml", text);
    let real = write(dir.path(), "k8s/deploy.yaml", text);
    std::os::unix::fs::symlink(&target, dir.path().join("k8s/outside.yaml")).unwrap();
    std::os::unix::fs::symlink("deploy.yaml", dir.path().join("k8s/alias.yaml")).unwrap();
    let rewriter = Rewriter::new(options("myreg.azurecr.io", "newreg.azurecr.io"));
    let plan = rewriter.plan(&[dir.path().to_path_buf()]).unwrap();
    let names: Vec<_> = plan.files.iter().map(|f| f.path.clone()).collect();
    assert_eq!(names, vec![real.clone()]);
    plan.write().unwrap();

    assert_eq!(
        fs::read_to_string(&real).unwrap(),
        "image: newreg.azurecr.io/a:1\n"
    );
    assert_eq!(
        fs::read_to_string(&target).unwrap(),
        text,
        "outside the walk"
    );
    for link in ["k8s/outside.yaml", "k8s/alias.yaml"] {
        let meta = fs::symlink_metadata(dir.path().join(link)).unwrap();
        assert!(meta.file_type().is_symlink(), "{link} stays a link");
    }
}

#[test]
fn images_in_argo_cd_helm_values_are_checked_and_pinned_inside_the_block_scalar() {
    let target = MemoryTarget::with(&[("app", "1.0", DIGEST), ("web", "2", DIGEST)]);
    let rewriter = Rewriter::new(pinning()).with_resolver(&target);
    let text = "apiVersion: argoproj.io/v1alpha1\r\nkind: Application\r\nspec:\r\n  source:\r\n    chart: web\r\n    helm:\r\n      values: |\r\n        # app\r\n        image: myreg.azurecr.io/app:1.0\r\n        web:\r\n          image:\r\n            repository: myreg.azurecr.io/web\r\n            tag: \"2\"\r\n";
    let file = rewriter
        .rewrite_text(Path::new("app.yaml"), FileKind::Yaml, text)
        .unwrap();
    assert!(file.problems.is_empty(), "{:?}", file.problems);
    assert_eq!(
        file.rewritten,
        text.replace(
            "myreg.azurecr.io/app:1.0",
            &format!("newreg.azurecr.io/app@{DIGEST}")
        )
        .replace("myreg.azurecr.io/web", "newreg.azurecr.io/web")
    );
    let lines: Vec<_> = file.references.iter().map(|r| r.line).collect();
    assert_eq!(lines, vec![9, 12]);
    assert_eq!(
        *target.lookups.borrow(),
        vec!["app:1.0".to_string(), "web:2".to_string()]
    );
}

#[test]
fn a_plan_naming_neither_registry_counts_the_registries_its_image_references_name() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "k8s/pod.yaml",
        "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - image: MyReg2.azurecr.io:443/app:1 # was mirror.example.com/app\n  - image: myreg2.azurecr.io/web:2\n  - image: nginx:1.25\n",
    );
    write(
        dir.path(),
        "chart/values.yaml",
        "image:\n  registry: docker.io\n  repository: bitnami/redis\n  tag: \"7\"\n",
    );
    write(dir.path(), "Dockerfile", "FROM localhost:5000/base:1\n");
    // Not read as YAML: nothing in it counts, as nothing in it would be rewritten.
    write(
        dir.path(),
        "broken.yaml",
        "image: unread.example.com/app:1\nports: [80\n",
    );
    write(
        dir.path(),
        "notes.md",
        "pull ghcr.io/org/app:1 (text is not an image field)\n",
    );
    let rewriter = Rewriter::new(options("myreg.azurecr.io:5000", "newreg.azurecr.io"));
    let plan = rewriter.plan(&[dir.path().to_path_buf()]).unwrap();
    let nothing = rewriter
        .nothing_matched(&plan)
        .expect("neither registry is named");
    assert_eq!(nothing.files, 5);
    assert_eq!(
        nothing.referenced,
        vec![
            ("myreg2.azurecr.io".to_owned(), 2),
            ("docker.io".to_owned(), 1),
            ("localhost:5000".to_owned(), 1),
        ]
    );
}

#[test]
fn a_plan_with_something_of_either_registry_has_not_matched_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let plan_of = |text: &str| {
        let path = write(dir.path(), "a.yaml", text);
        let rewriter = Rewriter::new(options("myreg.azurecr.io", "newreg.azurecr.io"));
        let plan = rewriter.plan(&[path]).unwrap();
        rewriter.nothing_matched(&plan)
    };
    // A reference to rewrite, a mention of the old registry, a file an earlier run rewrote.
    assert_eq!(plan_of("image: myreg.azurecr.io/app:1\n"), None);
    assert_eq!(plan_of("# images come from myreg.azurecr.io\n"), None);
    assert_eq!(plan_of("image: newreg.azurecr.io/app:1\n"), None);
    assert_eq!(plan_of("# moved to newreg.azurecr.io\n"), None);
    assert!(plan_of("image: other.azurecr.io/app:1\n").is_some());
}
