//! Shapes of real repositories a migration meets: sync and import configs naming the origin
//! of a copy, pipelines kept outside the usual paths, Azure-native uses of the short name,
//! passwords fed to `--password-stdin`, and a target with a repository prefix.

use std::fs;
use std::path::{Path, PathBuf};

use acr_rewrite::{FileKind, FilePlan, Options, Registry, Rewriter};

use crate::util::{options, MemoryTarget};

fn rewriter() -> Rewriter<'static> {
    Rewriter::new(options("oldacr.azurecr.io", "newacr.azurecr.io"))
}

fn plan_text(name: &str, kind: FileKind, text: &str) -> FilePlan {
    rewriter()
        .rewrite_text(Path::new(name), kind, text)
        .unwrap()
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(&path, text).unwrap();
    path
}

/// The mentions of `file` as `(line, note)`, an empty note for none.
fn notes(file: &FilePlan) -> Vec<(usize, String)> {
    file.mentions
        .iter()
        .map(|m| (m.line, m.note.clone().unwrap_or_default()))
        .collect()
}

#[test]
fn values_under_a_source_or_credentials_key_are_listed_with_a_note_and_not_rewritten() {
    let import = "images:\n  - source:\n      registry: oldacr.azurecr.io\n      repository: web\n      tag: \"1.2.3\"\n    target:\n      registry: newacr.azurecr.io\n      repository: web\n  - source:\n      image: oldacr.azurecr.io/api:2.0\n    target:\n      image: newacr.azurecr.io/api:2.0\n";
    let file = plan_text("migration/sync.yaml", FileKind::Yaml, import);
    assert_eq!(file.rewritten, import, "an import list keeps its source");
    let found = notes(&file);
    assert_eq!(
        found.iter().map(|(line, _)| *line).collect::<Vec<_>>(),
        [3, 10]
    );
    assert!(
        found.iter().all(|(_, note)| note.starts_with(
            "oldacr.azurecr.io under `source`, the origin of a copy or its credentials: not rewritten"
        )),
        "{found:?}"
    );

    let regsync = "version: 1\ncreds:\n  - registry: oldacr.azurecr.io\n    user: '{{env \"ACR_USER\"}}'\nsync:\n  - source: oldacr.azurecr.io/web\n    target: newacr.azurecr.io/web\n    type: repository\n";
    let file = plan_text("migration/regsync.yml", FileKind::Yaml, regsync);
    assert_eq!(file.rewritten, regsync, "the sync keeps its credentials");
    let found = notes(&file);
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(
        found[0].1.starts_with("oldacr.azurecr.io under `creds`"),
        "{found:?}"
    );

    // A `*Registry` key naming an origin gets the same note; the rest is rewritten as before.
    let values = "global:\n  imageRegistry: oldacr.azurecr.io\nsourceRegistry: oldacr.azurecr.io\nsourcegraph:\n  image:\n    registry: oldacr.azurecr.io\n    repository: sg\n";
    let file = plan_text("values.yaml", FileKind::HelmValues, values);
    assert_eq!(
        file.rewritten,
        values
            .replacen("oldacr", "newacr", 1)
            .replacen("registry: oldacr", "registry: newacr", 1)
    );
    assert!(notes(&file)[0]
        .1
        .starts_with("oldacr.azurecr.io under `sourceRegistry`"));
}

#[test]
fn an_argo_cd_source_is_not_the_origin_of_a_copy() {
    let app = "apiVersion: argoproj.io/v1alpha1\nkind: Application\nspec:\n  source:\n    chart: web\n    repoURL: oldacr.azurecr.io/helm\n    targetRevision: 1.2.3\n    helm:\n      valuesObject:\n        image:\n          registry: oldacr.azurecr.io\n          repository: web\n";
    let file = plan_text("app.yaml", FileKind::Yaml, app);
    assert_eq!(file.rewritten, app.replace("oldacr", "newacr"));
}

#[test]
fn pipelines_outside_the_usual_paths_are_recognised_by_their_content() {
    let dir = tempfile::tempdir().unwrap();
    let template = "parameters:\n- name: acrName\n  type: string\n  default: oldacr\n\nvariables:\n  ACR_NAME: oldacr\n\nsteps:\n- task: AzureCLI@2\n  inputs:\n    inlineScript: az acr login --name $(ACR_NAME)\n";
    let ci = "trigger: [main]\nvariables:\n  dockerRegistryServiceConnection: oldacr.azurecr.io\nsteps:\n- task: Docker@2\n  inputs:\n    containerRegistry: $(dockerRegistryServiceConnection)\n";
    let action = "name: acr login\ninputs:\n  registry-name:\n    default: oldacr\nruns:\n  using: composite\n  steps:\n    - run: az acr login -n ${{ inputs.registry-name }}\n      shell: bash\n      env:\n        ACR_NAME: oldacr\n";
    let gitlab =
        "variables:\n  ACR_NAME: oldacr\nbuild:\n  stage: build\n  script:\n    - docker build .\n";
    let tekton = "apiVersion: tekton.dev/v1\nkind: Pipeline\nspec:\n  params:\n    - name: ACR_NAME\n      default: oldacr\n";
    let paths = [
        write(dir.path(), "eng/pipelines/templates/build.yml", template),
        write(dir.path(), "azure-pipelines/build.yml", template),
        write(dir.path(), "deploy/templates/steps.yml", template),
        write(dir.path(), "build/ci.yml", ci),
        write(dir.path(), ".github/actions/acr-login/action.yml", action),
        write(dir.path(), "tools/login/action.yaml", action),
        write(dir.path(), "ci/templates.yml", gitlab),
        write(dir.path(), "tekton/pipeline.yaml", tekton),
    ];
    let plan = rewriter().plan(&[dir.path().to_path_buf()]).unwrap();
    let file = |path: &PathBuf| plan.files.iter().find(|f| &f.path == path).unwrap();
    for path in &paths[..7] {
        let file = file(path);
        assert_eq!(file.kind, FileKind::Pipeline, "{}", path.display());
        assert!(file.is_changed(), "{}", path.display());
    }
    assert_eq!(
        file(&paths[0]).rewritten,
        template.replace("oldacr", "newacr")
    );
    assert_eq!(file(&paths[3]).rewritten, ci.replace("oldacr", "newacr"));
    assert_eq!(file(&paths[7]).kind, FileKind::Yaml, "a Tekton Pipeline");
}

#[test]
fn aks_attachments_powershell_bicep_and_arm_naming_the_short_name_are_listed_with_a_note() {
    let ps = "Connect-AzContainerRegistry -Name oldacr\n$acr = Get-AzContainerRegistry -ResourceGroupName rg -Name oldacr\nSet-AzAksCluster -ResourceGroupName rg -Name aks -AcrNameToAttach oldacr\naz aks create -g rg -n aks2 --attach-acr oldacr --generate-ssh-keys\n";
    let file = plan_text("infra/login.ps1", FileKind::Text, ps);
    let found = notes(&file);
    assert_eq!(
        found.iter().map(|(line, _)| *line).collect::<Vec<_>>(),
        [1, 2, 3, 4]
    );
    assert!(found[0].1.starts_with(
        "a PowerShell registry cmdlet naming oldacr.azurecr.io by its short name oldacr"
    ));
    for (_, note) in &found[2..] {
        assert!(
            note.starts_with("an AKS cluster attached to oldacr.azurecr.io by its short name oldacr: not rewritten; attach the new registry by hand"),
            "{note}"
        );
    }

    let bicep = "param acrName string = 'oldacr'\nresource acr 'Microsoft.ContainerRegistry/registries@2023-07-01' existing = {\n  name: 'oldacr'\n}\n";
    let file = plan_text("infra/main.bicep", FileKind::Text, bicep);
    let found = notes(&file);
    assert_eq!(
        found.iter().map(|(line, _)| *line).collect::<Vec<_>>(),
        [1, 3]
    );
    assert!(found[1].1.starts_with(
        "a Bicep definition naming oldacr.azurecr.io by its short name oldacr: not rewritten"
    ));

    let arm = "{\"parameters\":{\"acrName\":{\"type\":\"string\",\"defaultValue\":\"oldacr\"}},\n\"resources\":[{\"type\":\"Microsoft.ContainerRegistry/registries\",\"apiVersion\":\"2023-07-01\",\n\"name\":\"oldacr\"},{\"type\":\"Microsoft.Storage/storageAccounts\",\"name\":\"oldacr\"}]}\n";
    let file = plan_text("infra/azuredeploy.json", FileKind::Json, arm);
    assert_eq!(file.rewritten, arm);
    let found = notes(&file);
    assert_eq!(
        found.iter().map(|(line, _)| *line).collect::<Vec<_>>(),
        [1, 3]
    );
    assert!(found[1]
        .1
        .starts_with("an ARM template definition naming oldacr.azurecr.io"));
}

#[test]
fn a_password_fed_to_password_stdin_is_hidden_in_the_lines_listed() {
    let script = "docker login oldacr.azurecr.io --username puller --password-stdin <<< \"Sup3rS3cret3\"\necho \"Sup3rS3cret4\" | docker login oldacr.azurecr.io -u puller --password-stdin\n";
    let file = plan_text("login.sh", FileKind::Text, script);
    let shown: Vec<_> = file.mentions.iter().map(|m| m.text.as_str()).collect();
    assert_eq!(
        shown,
        [
            "docker login oldacr.azurecr.io --username puller --password-stdin <<< ***",
            "echo *** | docker login oldacr.azurecr.io -u puller --password-stdin",
        ]
    );
}

fn prefixed() -> Options {
    Options {
        to: Registry::parse_target("newacr.azurecr.io/legacy").unwrap(),
        ..options("oldacr.azurecr.io", "newacr.azurecr.io")
    }
}

#[test]
fn a_prefix_in_the_new_registry_goes_after_the_host_and_the_target_is_asked_under_it() {
    let text = "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n    - image: oldacr.azurecr.io/svc2:v1.0.0\n    - image: oldacr.azurecr.io/team/api:2\n";
    let target = MemoryTarget::with(&[
        ("legacy/svc2", "v1.0.0", "sha256:1"),
        ("svc2", "v1.0.0", "sha256:2"),
    ]);
    let file = Rewriter::new(prefixed())
        .with_resolver(&target)
        .rewrite_text(Path::new("pod.yaml"), FileKind::Yaml, text)
        .unwrap();
    assert_eq!(
        file.rewritten,
        text.replace("oldacr.azurecr.io/", "newacr.azurecr.io/legacy/")
    );
    assert_eq!(
        *target.lookups.borrow(),
        ["legacy/svc2:v1.0.0", "legacy/team/api:2"]
    );
    let problems: Vec<_> = file.problems.iter().map(ToString::to_string).collect();
    assert_eq!(
        problems,
        ["newacr.azurecr.io/legacy/team/api:2: the target has no such tag"]
    );
}

#[test]
fn with_a_prefix_a_setting_holding_the_registry_alone_is_listed_and_one_with_a_path_rewritten() {
    let env =
        "REGISTRY=oldacr.azurecr.io\nIMAGE_REGISTRY=oldacr.azurecr.io/team\nACR_NAME=oldacr\n";
    let file = Rewriter::new(prefixed())
        .rewrite_text(Path::new(".env"), FileKind::DotEnv, env)
        .unwrap();
    assert_eq!(
        file.rewritten,
        "REGISTRY=oldacr.azurecr.io\nIMAGE_REGISTRY=newacr.azurecr.io/legacy/team\nACR_NAME=newacr\n"
    );
    let found = notes(&file);
    assert_eq!(found.len(), 1);
    assert!(found[0].1.starts_with("REGISTRY holds oldacr.azurecr.io alone, and newacr.azurecr.io/legacy adds a repository prefix"), "{found:?}");
}

#[test]
fn with_a_prefix_a_kustomize_name_follows_its_rewritten_base_under_the_prefix() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "base/app.yaml",
        "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n    - image: oldacr.azurecr.io/web:1\n",
    );
    let kustomization = write(
        dir.path(),
        "base/kustomization.yaml",
        "resources: [app.yaml]\nimages:\n  - name: oldacr.azurecr.io/web\n    newTag: \"2\"\n",
    );
    let plan = Rewriter::new(prefixed())
        .plan(&[dir.path().to_path_buf()])
        .unwrap();
    let file = plan.files.iter().find(|f| f.path == kustomization).unwrap();
    assert_eq!(
        file.rewritten,
        "resources: [app.yaml]\nimages:\n  - name: newacr.azurecr.io/legacy/web\n    newTag: \"2\"\n"
    );
}

#[test]
fn a_host_written_with_escapes_is_listed_with_a_note() {
    let yaml = "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - name: b\n    image: \"\\x6fldacr.azurecr.io/esc/b:1\"\n  - name: c\n    image: newacr.azurecr.io/esc/c:1\n";
    let json = "{\"image\": \"\\u006fldacr.azurecr.io/json/b:1\", \"other\": \"oldacr.azurecr.io\\/json\\/c:1\"}\n";
    for (name, kind, text, line) in [
        ("p.yaml", FileKind::Yaml, yaml, 6),
        ("esc.json", FileKind::Json, json, 1),
    ] {
        let file = plan_text(name, kind, text);
        assert_eq!(file.rewritten, text, "{name}");
        let found = notes(&file);
        assert_eq!(found.len(), 1, "{name}: {found:?}");
        assert_eq!(found[0].0, line, "{name}");
        assert!(
            found[0]
                .1
                .starts_with("names oldacr.azurecr.io once its escapes are read: not rewritten"),
            "{name}: {found:?}"
        );
    }
}

#[test]
fn the_short_name_of_a_login_server_with_a_domain_name_label_hash_is_the_part_before_the_dash() {
    let rewriter = Rewriter::new(options(
        "oldacr-b7d9hyf0.azurecr.io",
        "newacr-x1y2z3w4.azurecr.io",
    ));
    let env = "REGISTRY=oldacr-b7d9hyf0.azurecr.io\nREGISTRY_NAME=oldacr\n";
    let file = rewriter
        .rewrite_text(Path::new(".env"), FileKind::DotEnv, env)
        .unwrap();
    assert_eq!(
        file.rewritten,
        "REGISTRY=newacr-x1y2z3w4.azurecr.io\nREGISTRY_NAME=newacr\n"
    );
    let file = rewriter
        .rewrite_text(
            Path::new("login.sh"),
            FileKind::Text,
            "az acr login -n oldacr\n",
        )
        .unwrap();
    assert_eq!(file.mentions.len(), 1);
}

#[test]
fn a_long_line_is_listed_as_the_part_around_the_mention() {
    let bundle = format!(
        "{}var a=\"oldacr.azurecr.io/app:1\";{}\n",
        "x".repeat(100_000),
        "y".repeat(100_000)
    );
    let file = plan_text("web/bundle.min.js", FileKind::Text, &bundle);
    assert_eq!(file.mentions.len(), 1);
    let shown = &file.mentions[0].text;
    assert!(shown.len() < 300, "{} bytes", shown.len());
    assert!(shown.starts_with('…') && shown.ends_with('…'), "{shown}");
    assert!(
        shown.contains("var a=\"oldacr.azurecr.io/app:1\";"),
        "{shown}"
    );
}

#[test]
fn the_label_of_a_templated_image_in_a_chart_template_is_the_whole_value() {
    let template =
        "spec:\n  containers:\n    - image: oldacr.azurecr.io/svc2:{{ .Chart.AppVersion }} # app\n";
    let file = plan_text("c/templates/dep.yaml", FileKind::HelmTemplate, template);
    assert_eq!(file.rewritten, template.replace("oldacr", "newacr"));
    assert_eq!(
        file.references[0].original,
        "oldacr.azurecr.io/svc2:{{ .Chart.AppVersion }}"
    );
    assert!(!file.references[0].is_checkable());
}

#[test]
fn a_symbolic_link_met_in_a_walk_to_a_file_the_walk_reads_is_not_counted_as_unread() {
    let dir = tempfile::tempdir().unwrap();
    let pod = write(dir.path(), "k8s/pod.yaml", "image: oldacr.azurecr.io/a:1\n");
    std::os::unix::fs::symlink("k8s/pod.yaml", dir.path().join("link.yaml")).unwrap();
    let plan = rewriter().plan(&[dir.path().to_path_buf()]).unwrap();
    assert!(plan.skipped_links.is_empty(), "{:?}", plan.skipped_links);
    assert_eq!(
        plan.links_to_files_read,
        [(dir.path().join("link.yaml"), pod)]
    );
}
