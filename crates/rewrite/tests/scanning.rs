//! What a scan finds in particular shapes of file: Dockerfile directives, heredocs and byte
//! order marks (also in YAML, `.env` files and templates), regional endpoints of the old
//! registry, YAML that cannot be parsed, Helm registry values named as an origin or kept outside
//! `values*.yaml`, GitLab CI images, comments naming the old registry, and its short name in
//! registry settings and `az acr` commands.

use std::fs;
use std::path::Path;

use acr_rewrite::{FileKind, FilePlan, MentionPlace, ReferenceKind, Rewriter};

use crate::util::options;

fn rewriter() -> Rewriter<'static> {
    Rewriter::new(options("myacr.azurecr.io", "newacr.azurecr.io"))
}

fn plan_text(name: &str, kind: FileKind, text: &str) -> FilePlan {
    rewriter()
        .rewrite_text(Path::new(name), kind, text)
        .unwrap()
}

#[test]
fn a_dockerfile_with_a_byte_order_mark_and_a_syntax_directive_is_rewritten_and_keeps_the_mark() {
    let text = "\u{feff}# syntax=myacr.azurecr.io/dockerfile/frontend:1.7\nFROM myacr.azurecr.io/base:1\nRUN <<EOT\n  docker pull myacr.azurecr.io/tool:2\nEOT\n";
    let file = plan_text("Dockerfile", FileKind::Dockerfile, text);
    assert_eq!(file.rewritten, text.replacen("myacr", "newacr", 2));
    assert!(file.rewritten.starts_with('\u{feff}'));
    assert_eq!(file.references[0].kind, ReferenceKind::DockerfileSyntax);
    let mentions: Vec<_> = file.mentions.iter().map(|m| (m.line, m.place)).collect();
    assert_eq!(
        mentions,
        [(4, MentionPlace::Heredoc)],
        "a reference in a heredoc is listed, so --check fails on it"
    );
}

#[test]
fn regional_endpoints_of_the_old_registry_are_listed_with_a_note_and_not_rewritten() {
    let text = "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n    - image: myacr.westeurope.geo.azurecr.io/web:1.0\n    - image: myacr.westeurope.data.azurecr.io/web:1.0\n";
    let file = plan_text("pod.yaml", FileKind::Yaml, text);
    assert_eq!(file.rewritten, text);
    assert!(file.references.is_empty());
    let notes: Vec<_> = file
        .mentions
        .iter()
        .map(|m| (m.line, m.note.clone().unwrap_or_default()))
        .collect();
    assert_eq!(notes.len(), 2, "{notes:?}");
    assert_eq!(notes[0].0, 5);
    assert!(
        notes[0].1.starts_with(
            "the westeurope geo-replica login server of myacr.azurecr.io: not rewritten"
        ),
        "{}",
        notes[0].1
    );
    assert!(
        notes[1]
            .1
            .starts_with("the westeurope data endpoint of myacr.azurecr.io"),
        "{}",
        notes[1].1
    );
    for (name, kind, text) in [
        (
            "Dockerfile",
            FileKind::Dockerfile,
            "FROM myacr.eastus.geo.azurecr.io/base:1\n",
        ),
        (
            "login.sh",
            FileKind::Text,
            "docker login myacr.eastus.geo.azurecr.io\n",
        ),
    ] {
        let file = plan_text(name, kind, text);
        assert_eq!(file.mentions.len(), 1, "{name}");
        assert!(file.mentions[0].note.is_some(), "{name}");
    }
}

#[test]
fn yaml_that_cannot_be_parsed_is_scanned_as_text_with_a_warning_and_not_rewritten() {
    let text = "releases:\n{{- range $env := list \"dev\" \"prod\" }}\n  - name: web-{{ $env }}\n    values:\n      - image:\n          registry: myacr.azurecr.io\n{{- end }}\n";
    let file = plan_text("helmfile.yaml", FileKind::Yaml, text);
    assert_eq!(file.rewritten, text);
    assert!(file.references.is_empty());
    let lines: Vec<_> = file.mentions.iter().map(|m| m.line).collect();
    assert_eq!(lines, [6]);
    let not_parsed = file.not_parsed.as_ref().expect("a reason");
    assert_eq!(not_parsed.line, Some(2));
    assert_eq!(
        file.not_parsed_warning().unwrap(),
        format!("helmfile.yaml:2: not read as YAML ({}): nothing in it is rewritten; its mentions of the old registry are listed as text (fix the file or edit it by hand)", not_parsed.reason)
    );
}

#[test]
fn a_dockerfile_that_cannot_be_parsed_is_scanned_as_text_with_a_warning_and_not_rewritten() {
    let text = "FROM myacr.azurecr.io/base:1\nFROMM myacr.azurecr.io/typo:2\nCOPY --from=myacr.azurecr.io/tool:3 /t /t\n";
    let file = plan_text("Dockerfile", FileKind::Dockerfile, text);
    assert_eq!(file.rewritten, text, "nothing in it is rewritten");
    assert!(file.references.is_empty());
    let listed: Vec<_> = file.mentions.iter().map(|m| (m.line, m.place)).collect();
    assert_eq!(
        listed,
        [1, 2, 3].map(|line| (line, MentionPlace::OtherFile)),
        "every line naming the old registry is listed"
    );
    assert_eq!(
        file.not_parsed_warning().unwrap(),
        "Dockerfile:2: not read as a Dockerfile (unknown instruction `FROMM`): nothing in it is rewritten; its mentions of the old registry are listed as text (fix the file or edit it by hand)"
    );
}

#[test]
fn a_dockerfile_that_is_not_utf8_is_listed_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(
        dir.path().join("Dockerfile"),
        b"# caf\xe9\nFROM myacr.azurecr.io/a:1\n",
    )
    .unwrap();
    let plan = rewriter().plan(&[dir.path().to_path_buf()]).unwrap();
    assert!(plan.failures.is_empty(), "{:?}", plan.failures);
    let file = &plan.files[0];
    assert!(!file.is_changed());
    assert_eq!(file.mentions.len(), 1);
    assert_eq!(
        file.not_parsed.as_ref().map(|n| n.reason.as_str()),
        Some("not UTF-8 text")
    );
}

#[test]
fn a_yaml_file_that_is_not_utf8_is_listed_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pod.yaml");
    fs::write(
        &path,
        b"metadata:\n  note: \"caf\xe9\"\nimage: myacr.azurecr.io/a:1\n",
    )
    .unwrap();
    let plan = rewriter().plan(&[dir.path().to_path_buf()]).unwrap();
    assert!(plan.failures.is_empty(), "{:?}", plan.failures);
    let file = &plan.files[0];
    assert!(!file.is_changed());
    assert_eq!(file.mentions.len(), 1);
    assert_eq!(
        file.not_parsed.as_ref().map(|n| n.reason.as_str()),
        Some("not UTF-8 text")
    );
}

#[test]
fn helm_registry_values_named_as_an_origin_are_left_alone_and_listed() {
    let text = "global:\n  imageRegistry: myacr.azurecr.io\nsourceRegistry: myacr.azurecr.io\nmirrorRegistry: myacr.azurecr.io\n";
    let file = plan_text("values.yaml", FileKind::HelmValues, text);
    assert_eq!(
        file.rewritten,
        text.replacen("myacr.azurecr.io", "newacr.azurecr.io", 1)
    );
    let mentioned: Vec<_> = file.mentions.iter().map(|m| m.line).collect();
    assert_eq!(mentioned, [3, 4]);
}

#[test]
fn a_values_file_named_otherwise_has_its_registry_values_rewritten_like_its_image_maps() {
    let text = "global:\n  imageRegistry: myacr.azurecr.io\nimage:\n  registry: myacr.azurecr.io\n  repository: web\n  tag: \"1\"\n";
    let file = plan_text("helm/env/prod.yaml", FileKind::Yaml, text);
    assert_eq!(file.rewritten, text.replace("myacr", "newacr"));
    let manifest =
        "apiVersion: v1\nkind: ConfigMap\ndata:\n  containerRegistry: myacr.azurecr.io\n";
    let file = plan_text("cm.yaml", FileKind::Yaml, manifest);
    assert_eq!(
        file.rewritten, manifest,
        "a Kubernetes manifest's data is not a values file"
    );
}

#[test]
fn gitlab_ci_image_maps_and_services_are_rewritten() {
    let text = "default:\n  image: myacr.azurecr.io/ci/default:1\nservices:\n  - myacr.azurecr.io/docker:dind\ntest:\n  image:\n    name: myacr.azurecr.io/kaniko:debug\n    entrypoint: [\"\"]\n  services:\n    - name: myacr.azurecr.io/postgres:16\n      alias: db\n";
    let file = plan_text(".gitlab-ci.yml", FileKind::Pipeline, text);
    assert_eq!(file.rewritten, text.replace("myacr", "newacr"));
    assert!(file.mentions.is_empty(), "{:?}", file.mentions);
    assert!(file
        .references
        .iter()
        .all(|r| r.kind == ReferenceKind::PipelineImage));
}

#[test]
fn a_kubernetes_manifest_with_a_byte_order_mark_is_read_as_one_and_keeps_the_mark() {
    let text = "\u{feff}apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n    - name: a\n      image: myacr.azurecr.io/a:1\n";
    let file = plan_text("pod.yaml", FileKind::Yaml, text);
    assert_eq!(file.rewritten, text.replace("myacr", "newacr"));
    assert!(file.rewritten.starts_with('\u{feff}'));
    let kinds: Vec<_> = file.references.iter().map(|r| (r.line, r.kind)).collect();
    assert_eq!(kinds, [(8, ReferenceKind::KubernetesImage)]);
}

#[test]
fn an_env_file_and_a_chart_template_with_a_byte_order_mark_are_read_as_without_it() {
    for (name, kind, text, expected) in [
        (
            ".env",
            FileKind::DotEnv,
            "\u{feff}REGISTRY=myacr.azurecr.io\n",
            ReferenceKind::RegistrySetting,
        ),
        (
            "chart/templates/pod.yaml",
            FileKind::HelmTemplate,
            "\u{feff}image: myacr.azurecr.io/a:1\n",
            ReferenceKind::HelmTemplateImage,
        ),
    ] {
        let file = plan_text(name, kind, text);
        assert_eq!(file.rewritten, text.replace("myacr", "newacr"), "{name}");
        let kinds: Vec<_> = file.references.iter().map(|r| r.kind).collect();
        assert_eq!(kinds, [expected], "{name}");
        assert!(file.mentions.is_empty(), "{name}: {:?}", file.mentions);
    }
}

/// The places of a file's mentions, by line.
fn places(file: &FilePlan) -> Vec<(usize, MentionPlace)> {
    file.mentions.iter().map(|m| (m.line, m.place)).collect()
}

#[test]
fn comments_naming_the_old_registry_are_listed_in_yaml_and_left_as_they_are() {
    let text = "# Platform workloads -- registry myacr.azurecr.io\napiVersion: v1\nkind: Pod\nspec:\n  containers:\n    - image: myacr.azurecr.io/a:1 # was myacr.azurecr.io/a:0\n    # - image: myacr.azurecr.io/old:1\n    - image: nginx # not myacr.azurecr.io-mirror\n      args: [\"-c\", \"x\"] # flow, then myacr.westeurope.geo.azurecr.io\n      command: | # myacr.azurecr.io\n        # pull myacr.azurecr.io/b:1\n";
    let file = plan_text("pod.yaml", FileKind::Yaml, text);
    assert_eq!(
        file.rewritten,
        text.replacen("image: myacr", "image: newacr", 1)
    );
    assert_eq!(
        places(&file),
        [
            (1, MentionPlace::Comment),
            (6, MentionPlace::Comment),
            (7, MentionPlace::Comment),
            (9, MentionPlace::Comment),
            (10, MentionPlace::Comment),
            (11, MentionPlace::BlockScalar),
        ]
    );
    assert!(file.mentions[3].note.is_some(), "a regional endpoint");
}

#[test]
fn comments_naming_the_old_registry_are_listed_in_dockerfiles_and_chart_templates() {
    let dockerfile = "# syntax=myacr.azurecr.io/frontend:1\n# base image comes from myacr.azurecr.io\nFROM alpine AS a\nRUN apk add curl \\\n# pulled from myacr.azurecr.io before\n    jq\nFROM myacr.azurecr.io/x:1\n";
    let file = plan_text("Dockerfile", FileKind::Dockerfile, dockerfile);
    assert_eq!(
        file.rewritten,
        dockerfile
            .replacen("myacr", "newacr", 1)
            .replace("FROM myacr", "FROM newacr")
    );
    assert_eq!(
        places(&file),
        [(2, MentionPlace::Comment), (5, MentionPlace::Comment)],
        "the syntax directive is a reference, not a comment"
    );

    let template = "{{/* images come from myacr.azurecr.io */}}\n# image: myacr.azurecr.io/old:1\nimage: myacr.azurecr.io/a:1\n";
    let file = plan_text("chart/templates/pod.yaml", FileKind::HelmTemplate, template);
    assert_eq!(
        file.rewritten,
        template.replace("image: myacr.azurecr.io/a", "image: newacr.azurecr.io/a")
    );
    assert_eq!(
        places(&file),
        [(1, MentionPlace::Comment), (2, MentionPlace::Comment)]
    );
}

#[test]
fn a_template_comment_over_several_lines_is_listed_and_not_rewritten() {
    let template = "containers:\n  - name: a\n    image: myacr.azurecr.io/a:1\n{{/*\n  - name: debug\n    image: myacr.azurecr.io/debug:1\n*/}}\n{{- /* disabled:\n  - name: old\n    image: myacr.azurecr.io/old:1\n*/ -}}\n  - name: b\n    image: myacr.azurecr.io/b:1\n";
    let file = plan_text("chart/templates/pod.yaml", FileKind::HelmTemplate, template);
    assert_eq!(
        file.rewritten,
        template
            .replace("image: myacr.azurecr.io/a", "image: newacr.azurecr.io/a")
            .replace("image: myacr.azurecr.io/b", "image: newacr.azurecr.io/b"),
        "commented-out containers are not rewritten (nor checked against the target)"
    );
    assert_eq!(
        places(&file),
        [(6, MentionPlace::Comment), (10, MentionPlace::Comment)]
    );
}

#[test]
fn a_registry_setting_holding_the_old_short_name_gets_the_new_short_name() {
    let env = "REGISTRY_NAME=myacr\nexport ACR_NAME=\"MyAcr\" # short\nAPP_NAME=myacr\nSOURCE_ACR_NAME=myacr\nREGISTRY=myacr.azurecr.io\nACR_NAME_2=myacr\n";
    let file = plan_text(".env", FileKind::DotEnv, env);
    assert_eq!(
        file.rewritten,
        "REGISTRY_NAME=newacr\nexport ACR_NAME=\"newacr\" # short\nAPP_NAME=myacr\nSOURCE_ACR_NAME=myacr\nREGISTRY=newacr.azurecr.io\nACR_NAME_2=myacr\n"
    );
    let settings: Vec<_> = file
        .references
        .iter()
        .map(|r| (r.setting.as_deref().unwrap(), r.is_short_name()))
        .collect();
    assert_eq!(
        settings,
        [
            ("REGISTRY_NAME", true),
            ("ACR_NAME", true),
            ("REGISTRY", false)
        ]
    );
    assert!(
        file.mentions.is_empty(),
        "the short name is not free text: {:?}",
        file.mentions
    );

    let pipeline =
        "variables:\n  registryName: myacr\nparameters:\n  - name: acrName\n    default: myacr\n";
    let file = plan_text("azure-pipelines.yml", FileKind::Pipeline, pipeline);
    assert_eq!(file.rewritten, pipeline.replace("myacr", "newacr"));
}

#[test]
fn a_short_name_setting_is_listed_when_the_new_registry_has_no_short_name() {
    let rewriter = Rewriter::new(options("myacr.azurecr.io", "registry.example.com"));
    let env = "REGISTRY_NAME=myacr\n";
    let file = rewriter
        .rewrite_text(Path::new(".env"), FileKind::DotEnv, env)
        .unwrap();
    assert_eq!(file.rewritten, env);
    assert!(file.references.is_empty());
    assert_eq!(file.mentions.len(), 1);
    assert_eq!(
        file.mentions[0].note.as_deref(),
        Some("REGISTRY_NAME holds the short name of myacr.azurecr.io, and registry.example.com has none (it is not an Azure registry): not rewritten; set it by hand")
    );
}

#[test]
fn az_acr_commands_naming_the_old_registry_by_its_short_name_are_listed_with_a_note() {
    let pipeline = "steps:\n  - script: az acr login -n myacr\n  - task: AzureCLI@2\n    inputs:\n      inlineScript: |\n        az acr build \\\n          --registry myacr .\n        echo myacr\n";
    let file = plan_text("azure-pipelines.yml", FileKind::Pipeline, pipeline);
    assert_eq!(file.rewritten, pipeline);
    let noted: Vec<_> = file
        .mentions
        .iter()
        .map(|m| (m.line, m.note.as_deref().unwrap_or_default()))
        .collect();
    let note = "an `az acr` command naming myacr.azurecr.io by its short name myacr: not rewritten; give it the new registry's name by hand";
    assert_eq!(noted, [(2, note), (7, note)]);

    let script = "#!/bin/sh\nTOKEN=$(az acr login --name myacr --expose-token)\n";
    let file = plan_text("login.sh", FileKind::Text, script);
    assert_eq!(places(&file), [(2, MentionPlace::OtherFile)]);
    let dockerfile = "FROM myacr.azurecr.io/az:1\nRUN az acr login -n myacr\n";
    let file = plan_text("Dockerfile", FileKind::Dockerfile, dockerfile);
    assert_eq!(places(&file), [(2, MentionPlace::Instruction)]);
}

#[test]
fn an_az_acr_command_continued_over_lines_is_listed_as_on_one_line() {
    let note = "an `az acr` command naming myacr.azurecr.io by its short name myacr: not rewritten; give it the new registry's name by hand";
    let noted = |file: &FilePlan| -> Vec<(usize, MentionPlace, String)> {
        file.mentions
            .iter()
            .map(|m| (m.line, m.place, m.note.clone().unwrap_or_default()))
            .collect()
    };
    let dockerfile = "FROM mcr.microsoft.com/azure-cli:2\nRUN az acr login \\\n    --name myacr\nRUN <<EOF\naz acr build \\\n  -r myacr .\nEOF\n";
    let file = plan_text("Dockerfile", FileKind::Dockerfile, dockerfile);
    assert_eq!(
        noted(&file),
        [
            (3, MentionPlace::Instruction, note.to_owned()),
            (6, MentionPlace::Heredoc, note.to_owned())
        ]
    );
    let exec_form = "FROM mcr.microsoft.com/azure-cli:2\nRUN [\"az\", \"acr\", \"login\", \\\n     \"--name\", \"myacr\"]\n";
    let file = plan_text("Dockerfile", FileKind::Dockerfile, exec_form);
    assert_eq!(
        noted(&file),
        [(3, MentionPlace::Instruction, note.to_owned())]
    );
    let windows = "# escape=`\nFROM mcr.microsoft.com/azure-cli:2\nRUN az acr login `\n    # a comment Docker drops\n    -n myacr\n";
    let file = plan_text("Dockerfile", FileKind::Dockerfile, windows);
    assert_eq!(
        noted(&file),
        [(5, MentionPlace::Instruction, note.to_owned())]
    );

    let script = "#!/bin/sh\naz acr login \\\n  --name myacr\n";
    let file = plan_text("login.sh", FileKind::Text, script);
    assert_eq!(
        noted(&file),
        [(3, MentionPlace::OtherFile, note.to_owned())]
    );
    let workflow = "jobs:\n  push:\n    steps:\n      - run: |\n          az acr login \\\n            --name myacr\n";
    let file = plan_text(".github/workflows/ci.yml", FileKind::Pipeline, workflow);
    assert_eq!(
        noted(&file),
        [(6, MentionPlace::BlockScalar, note.to_owned())]
    );
    let template = "apiVersion: batch/v1\nkind: Job\nspec:\n  template:\n    spec:\n      containers:\n        - name: login\n          args:\n            - |\n              az acr login \\\n                -n myacr\n";
    let file = plan_text("chart/templates/job.yaml", FileKind::HelmTemplate, template);
    assert_eq!(
        noted(&file),
        [(11, MentionPlace::TemplateLine, note.to_owned())]
    );
}

#[test]
fn argo_cd_image_updater_images_are_rewritten_and_their_constraints_are_not_checked() {
    let app = "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: web\n  annotations:\n    argocd-image-updater.argoproj.io/image-list: web=myacr.azurecr.io/web:~1.2, nginx, myacr.azurecr.io/team/api\n    argocd-image-updater.argoproj.io/web.update-strategy: semver\n---\napiVersion: argocd-image-updater.argoproj.io/v1alpha1\nkind: ImageUpdater\nspec:\n  applicationRefs:\n    - namePattern: web\n      images:\n        - alias: web\n          imageName: \"myacr.azurecr.io/web:1.x\"\n";
    let file = plan_text("apps/web.yaml", FileKind::Yaml, app);
    assert_eq!(file.rewritten, app.replace("myacr", "newacr"));
    let found: Vec<_> = file
        .references
        .iter()
        .map(|r| (r.line, r.kind, r.repository.as_str(), r.is_checkable()))
        .collect();
    assert_eq!(
        found,
        [
            (6, ReferenceKind::ImageUpdater, "web", false),
            (6, ReferenceKind::ImageUpdater, "team/api", false),
            (16, ReferenceKind::ImageUpdater, "web", false),
        ]
    );
    assert!(file.mentions.is_empty(), "{:?}", file.mentions);
}

#[test]
fn a_flux_image_repository_is_rewritten_and_not_checked_for_a_tag() {
    let text = "apiVersion: image.toolkit.fluxcd.io/v1beta2\nkind: ImageRepository\nmetadata:\n  name: web\nspec:\n  image: myacr.azurecr.io/web\n  interval: 5m\n---\napiVersion: image.toolkit.fluxcd.io/v1beta2\nkind: ImagePolicy\nspec:\n  imageRepositoryRef:\n    name: web\n";
    let target = crate::util::MemoryTarget::default();
    let file = rewriter()
        .with_resolver(&target)
        .rewrite_text(Path::new("flux/web.yaml"), FileKind::Yaml, text)
        .unwrap();
    assert_eq!(file.rewritten, text.replace("myacr", "newacr"));
    assert!(file.problems.is_empty(), "{:?}", file.problems);
    assert!(
        target.lookups.borrow().is_empty(),
        "a repository Flux scans for tags names no tag: `latest` is not asked for"
    );
}

#[test]
fn tekton_image_parameters_and_bundles_are_rewritten() {
    let text = "apiVersion: tekton.dev/v1\nkind: Task\nspec:\n  params:\n    - name: IMAGE\n      default: myacr.azurecr.io/web:1\n    - name: note\n      default: built for myacr.azurecr.io\n  steps:\n    - name: build\n      image: myacr.azurecr.io/tools/kaniko:1.9\n---\napiVersion: tekton.dev/v1\nkind: PipelineRun\nspec:\n  params:\n    - name: builder-image\n      value: myacr.azurecr.io/builder:2\n  pipelineRef:\n    resolver: bundles\n    params:\n      - name: bundle\n        value: myacr.azurecr.io/pipelines/build:0.4\n      - name: name\n        value: build\n---\napiVersion: tekton.dev/v1beta1\nkind: TaskRun\nspec:\n  taskRef:\n    name: lint\n    bundle: myacr.azurecr.io/tasks/lint:0.1\n";
    let file = plan_text("tekton/build.yaml", FileKind::Yaml, text);
    let lines: Vec<_> = file.references.iter().map(|r| r.line).collect();
    assert_eq!(lines, [6, 11, 18, 23, 32]);
    assert_eq!(
        file.rewritten,
        text.replace("myacr.azurecr.io/", "newacr.azurecr.io/")
    );
    assert_eq!(
        places(&file),
        [(8, MentionPlace::Value)],
        "a parameter that is not an image stays"
    );
}

#[test]
fn each_image_of_a_tekton_array_parameter_is_rewritten() {
    let text = "apiVersion: tekton.dev/v1\nkind: Pipeline\nspec:\n  params:\n    - name: scan-images\n      type: array\n      default:\n        - myacr.azurecr.io/web:1\n        - myacr.azurecr.io/api:2\n        - docker.io/library/alpine:3\n---\napiVersion: tekton.dev/v1\nkind: PipelineRun\nspec:\n  params:\n    - name: images\n      value: [\"myacr.azurecr.io/web:1\", \"myacr.azurecr.io/worker:3\"]\n";
    let file = plan_text("tekton/scan.yaml", FileKind::Yaml, text);
    let lines: Vec<_> = file.references.iter().map(|r| r.line).collect();
    assert_eq!(lines, [8, 9, 17, 17]);
    assert_eq!(
        file.rewritten,
        text.replace("myacr.azurecr.io/", "newacr.azurecr.io/")
    );
}

#[test]
fn terraform_naming_the_old_registry_by_its_short_name_is_listed_with_a_note() {
    let text = "resource \"azurerm_container_registry\" \"acr\" {\n  name                = \"myacr\"\n  resource_group_name = \"rg\"\n}\n\nresource \"azurerm_container_registry_webhook\" \"hook\" {\n  name          = \"deploy\"\n  registry_name = azurerm_container_registry.acr.name\n  service_uri   = \"https://myacr.azurecr.io/hook\"\n}\n";
    let file = plan_text("infra/main.tf", FileKind::Text, text);
    assert_eq!(file.rewritten, text);
    let noted: Vec<_> = file
        .mentions
        .iter()
        .map(|m| (m.line, m.note.as_deref().unwrap_or_default()))
        .collect();
    assert_eq!(
        noted,
        [
            (2, "a Terraform attribute naming myacr.azurecr.io by its short name myacr: not rewritten; if it should name the new registry, change it by hand (renaming a managed registry replaces it)"),
            (9, ""),
        ]
    );
}

#[test]
fn images_a_github_workflow_pushes_or_caches_are_rewritten_and_not_checked() {
    let workflow = "jobs:\n  build:\n    steps:\n      - uses: docker/metadata-action@v5\n        with:\n          images: |\n            myacr.azurecr.io/web\n            ghcr.io/contoso/web\n      - uses: docker/build-push-action@v6\n        with:\n          push: true\n          tags: myacr.azurecr.io/web:${{ github.sha }},myacr.azurecr.io/web:latest\n          cache-from: type=registry,ref=myacr.azurecr.io/web:buildcache\n          cache-to: \"type=registry,ref=myacr.azurecr.io/web:buildcache,mode=max\"\n";
    let target = crate::util::MemoryTarget::default();
    let file = rewriter()
        .with_resolver(&target)
        .rewrite_text(
            Path::new(".github/workflows/ci.yml"),
            FileKind::Pipeline,
            workflow,
        )
        .unwrap();
    assert_eq!(file.rewritten, workflow.replace("myacr", "newacr"));
    let lines: Vec<_> = file.references.iter().map(|r| r.line).collect();
    assert_eq!(lines, [7, 12, 12, 13, 14]);
    assert!(file.mentions.is_empty(), "{:?}", file.mentions);
    assert!(
        target.lookups.borrow().is_empty(),
        "images the workflow pushes are not in the target yet"
    );
}

#[test]
fn the_values_of_a_flux_helm_release_are_read_as_a_values_file() {
    let text = "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: web\nspec:\n  values:\n    global:\n      imageRegistry: myacr.azurecr.io\n    image:\n      repository: myacr.azurecr.io/web\n      tag: \"1.0\"\n    sourceRegistry: myacr.azurecr.io\n";
    let file = plan_text("flux/web.yaml", FileKind::Yaml, text);
    let found: Vec<_> = file.references.iter().map(|r| (r.line, r.kind)).collect();
    assert_eq!(
        found,
        [
            (8, ReferenceKind::HelmRegistry),
            (10, ReferenceKind::HelmImageMap)
        ]
    );
    assert_eq!(
        places(&file),
        [(12, MentionPlace::Value)],
        "a registry named as an origin stays, as in a values file"
    );
}

#[test]
fn login_commands_inside_quoted_strings_are_listed_with_their_passwords_hidden() {
    for (name, kind, text, secrets) in [
        (
            "job.yaml",
            FileKind::Yaml,
            "command: [\"sh\", \"-c\", \"docker login myacr.azurecr.io -p hunter7\"]\nargs:\n  - \"docker login myacr.azurecr.io -p hunter9\"\n  - {name: X, value: \"docker login myacr.azurecr.io --password hunter10\"}\n",
            &["hunter7", "hunter9", "hunter10"][..],
        ),
        (
            "Dockerfile",
            FileKind::Dockerfile,
            "FROM alpine:3\nRUN [\"sh\", \"-c\", \"docker login myacr.azurecr.io -u admin -p S3cretPw\"]\n",
            &["S3cretPw"][..],
        ),
        (
            "steps.json",
            FileKind::Json,
            "{\"steps\":[{\"run\":\"docker login myacr.azurecr.io --password \\\"Json Secret\\\"\"}]}\n",
            &["Json", "Secret"][..],
        ),
    ] {
        let file = plan_text(name, kind, text);
        assert_eq!(file.mentions.len(), text.lines().filter(|l| l.contains("myacr")).count(), "{name}: {:?}", file.mentions);
        for mention in &file.mentions {
            assert!(mention.text.contains("-p ***") || mention.text.contains("--password ***"), "{name}: {}", mention.text);
            assert!(mention.text.contains("myacr.azurecr.io"), "{name}: the registry stays readable: {}", mention.text);
            for secret in secrets {
                assert!(!mention.text.contains(secret), "{name}: {}", mention.text);
            }
        }
    }
}

#[test]
fn user_and_password_options_and_credential_variables_are_listed_with_the_password_hidden() {
    for (name, kind, text, secrets) in [
        (
            "scripts/copy.sh",
            FileKind::Text,
            "acr-relocate copy --src-creds bob:PwG1-own myacr.azurecr.io new.example.io\nskopeo sync --src-creds \"bob:PwG3-skopeo\" --src docker myacr.azurecr.io/team new.example.io\ncurl -u bob:CurlPw https://myacr.azurecr.io/v2/\n",
            &["PwG1-own", "PwG3-skopeo", "CurlPw"][..],
        ),
        (
            "Dockerfile",
            FileKind::Dockerfile,
            "FROM alpine:3\nRUN curl --user bob:RunPw https://myacr.azurecr.io/v2/\n",
            &["RunPw"][..],
        ),
        (
            ".env",
            FileKind::DotEnv,
            "ACR_RELOCATE_SRC_CREDS=bob:EnvPw # for myacr.azurecr.io\nDOCKER_PASS=DockerPw # myacr.azurecr.io\n",
            &["EnvPw", "DockerPw"][..],
        ),
    ] {
        let file = plan_text(name, kind, text);
        assert_eq!(file.mentions.len(), text.lines().filter(|l| l.contains("myacr")).count(), "{name}: {:?}", file.mentions);
        for mention in &file.mentions {
            assert!(mention.text.contains("***"), "{name}: {}", mention.text);
            assert!(mention.text.contains("myacr.azurecr.io"), "{name}: the registry stays readable: {}", mention.text);
            for secret in secrets {
                assert!(!mention.text.contains(secret), "{name}: {}", mention.text);
            }
        }
    }
    let file = plan_text(
        "scripts/copy.sh",
        FileKind::Text,
        "curl -u bob:CurlPw https://myacr.azurecr.io/v2/\n",
    );
    assert_eq!(
        file.mentions[0].text, "curl -u bob:*** https://myacr.azurecr.io/v2/",
        "the user stays readable"
    );
}
