//! Decides what kind of file a path is, from its name and place: which scanner reads it and how
//! its references are labelled.

use std::path::Path;

use serde::Serialize;

/// The kinds of file the rewrite understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum FileKind {
    /// Kubernetes manifests or any other YAML (`image:` keys are references).
    Yaml,
    /// A Helm values file (`values*.yaml`).
    HelmValues,
    /// A Helm `Chart.yaml`.
    HelmChart,
    /// A template under a chart's `templates/` directory: Go templates, read line by line.
    HelmTemplate,
    /// A `kustomization.yaml` (or `.yml`, or `Kustomization`).
    Kustomization,
    /// A docker-compose file.
    Compose,
    /// An Azure Pipelines, GitHub Actions or GitLab CI pipeline.
    Pipeline,
    /// A Dockerfile or Containerfile.
    Dockerfile,
    /// A JSON file: read as YAML (JSON is flow YAML), so `"image": "…"` values are rewritten;
    /// when it cannot be read that way it is scanned as [`FileKind::Text`].
    Json,
    /// A `.env` file (`KEY=VALUE` lines): a registry setting such as `REGISTRY=OLD` is
    /// rewritten, every other mention of the old registry is listed.
    DotEnv,
    /// Any other text file (scripts, `.env`, Terraform, docs): not rewritten, but every mention
    /// of the old registry is listed, so `--check` sees it.
    Text,
}

impl FileKind {
    /// True for the kinds read by the YAML scanner.
    pub fn is_yaml(self) -> bool {
        !matches!(
            self,
            FileKind::Dockerfile | FileKind::HelmTemplate | FileKind::DotEnv | FileKind::Text
        )
    }
}

/// Classifies a file by its name and the directories above it; `None` for files whose kind the
/// rewrite does not understand (the walk scans those as [`FileKind::Text`]).
pub fn classify(path: &Path) -> Option<FileKind> {
    let name = path.file_name()?.to_str()?;
    let lower = name.to_ascii_lowercase();
    if in_chart_templates(path) {
        // `_helpers.tpl`, `NOTES.txt` and the manifests alike are Go templates.
        return Some(FileKind::HelmTemplate);
    }
    if lower == ".env" || lower.starts_with(".env.") || lower.ends_with(".env") {
        return Some(FileKind::DotEnv);
    }
    if lower.ends_with(".json") {
        return Some(FileKind::Json);
    }
    if lower == "dockerfile"
        || lower == "containerfile"
        || lower.starts_with("dockerfile.")
        || lower.starts_with("containerfile.")
        || lower.ends_with(".dockerfile")
        || lower.ends_with(".containerfile")
    {
        return Some(FileKind::Dockerfile);
    }
    if name == "Kustomization" {
        // The third name Kustomize looks for in a directory.
        return Some(FileKind::Kustomization);
    }
    let stem = lower
        .strip_suffix(".yaml")
        .or_else(|| lower.strip_suffix(".yml"))?;
    let in_dir = |dir: &str| {
        path.ancestors()
            .skip(1)
            .filter_map(|a| a.file_name().and_then(|n| n.to_str()))
            .any(|n| n == dir)
    };
    let kind = if stem == "chart" && name.starts_with('C') {
        FileKind::HelmChart
    } else if stem == "kustomization" {
        FileKind::Kustomization
    } else if stem.starts_with("docker-compose")
        || stem == "compose"
        || stem.starts_with("compose.")
        || stem.starts_with("compose-")
    {
        FileKind::Compose
    } else if stem.starts_with("azure-pipelines")
        || stem == ".gitlab-ci"
        || stem.ends_with(".gitlab-ci")
        || in_dir(".gitlab")
        || (in_dir("workflows") && in_dir(".github"))
        || in_dir(".azure-pipelines")
        || in_dir("azure-pipelines")
        || in_dir(".pipelines")
        || (in_dir("pipelines") && in_dir("eng"))
        || (in_dir("actions") && in_dir(".github"))
    {
        FileKind::Pipeline
    } else if stem == "values"
        || stem.starts_with("values.")
        || stem.starts_with("values-")
        || stem.starts_with("values_")
    {
        FileKind::HelmValues
    } else {
        FileKind::Yaml
    };
    Some(kind)
}

/// The kind of a file that [`classify`] took for plain [`FileKind::Yaml`], from its text: a
/// [`FileKind::Pipeline`] when its text reads as a pipeline wherever it lies, or when its name
/// says it (`*pipeline*.yml`) and it is not a Kubernetes manifest (a Tekton `Pipeline` is one).
/// Other kinds are kept.
///
/// A text reads as a pipeline when it is an Azure Pipelines file or template (top-level
/// `trigger:`, `pr:`, `stages:`, `jobs:`, `steps:`, `pool:` or `extends:` with `- task:`,
/// `- script:`, `- bash:`, `- job:`, ... items, or `parameters:` as a `- name:` list), a GitHub
/// workflow (`on:` and `jobs:`) or action (`runs:` with `using:`), or GitLab CI (a top-level
/// job with `script:`, beside `stages:`, `include:`, `variables:`, ... or a hidden `.job`); never
/// when it is a Kubernetes manifest (`apiVersion:` and `kind:` at the top).
pub(crate) fn refine(path: &Path, kind: FileKind, text: &str) -> FileKind {
    if kind != FileKind::Yaml {
        return kind;
    }
    let top = TopLevel::of(text);
    let named = path
        .file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.to_ascii_lowercase().contains("pipeline"));
    if top.is_pipeline() || (named && !top.is_manifest()) {
        FileKind::Pipeline
    } else {
        kind
    }
}

/// What the top level of a YAML text shows, read line by line (no parsing).
#[derive(Default)]
struct TopLevel {
    /// The keys at column 0.
    keys: Vec<String>,
    /// An Azure Pipelines step, job or stage item (`- task:`, `- script:`, `- job:`, ...).
    azure_item: bool,
    /// `parameters:` whose first item is `- name:` (an Azure Pipelines template).
    parameter_list: bool,
    /// `using:` right under a top-level `runs:` (a GitHub action).
    action_runs: bool,
    /// `script:` right under a top-level key (a GitLab job).
    job_script: bool,
}

impl TopLevel {
    fn of(text: &str) -> TopLevel {
        const AZURE_ITEMS: [&str; 12] = [
            "task",
            "script",
            "bash",
            "pwsh",
            "powershell",
            "template",
            "job",
            "stage",
            "deployment",
            "checkout",
            "download",
            "publish",
        ];
        let mut top = TopLevel::default();
        let mut current = String::new();
        let mut child_indent: Option<usize> = None;
        for line in text.trim_start_matches('\u{feff}').lines() {
            let body = line.trim_end();
            let trimmed = body.trim_start();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            if body.starts_with("---") || body.starts_with("...") || body.starts_with('%') {
                current.clear();
                continue;
            }
            let indent = body.len() - trimmed.len();
            let item = trimmed.strip_prefix("- ").map(str::trim_start);
            if indent == 0 && item.is_none() {
                current = key_of(trimmed).unwrap_or_default().to_owned();
                top.keys.push(current.clone());
                child_indent = None;
                continue;
            }
            let first_child = child_indent.is_none();
            let direct = *child_indent.get_or_insert(indent) == indent;
            if let Some(item) = item {
                let key = key_of(item).unwrap_or_default();
                top.azure_item |= AZURE_ITEMS.contains(&key);
                top.parameter_list |= first_child && current == "parameters" && key == "name";
            } else if direct {
                let key = key_of(trimmed).unwrap_or_default();
                top.action_runs |= current == "runs" && key == "using";
                top.job_script |= key == "script";
            }
        }
        top
    }

    fn has(&self, keys: &[&str]) -> bool {
        self.keys.iter().any(|k| keys.contains(&k.as_str()))
    }

    /// A Kubernetes manifest: `apiVersion:` and `kind:` at the top.
    fn is_manifest(&self) -> bool {
        self.has(&["apiVersion"]) && self.has(&["kind"])
    }

    fn is_pipeline(&self) -> bool {
        if self.is_manifest() {
            return false;
        }
        let azure = (self.azure_item
            && self.has(&[
                "trigger", "pr", "stages", "jobs", "steps", "pool", "extends",
            ]))
            || self.parameter_list;
        let github = self.has(&["on"]) && self.has(&["jobs"]) || self.action_runs;
        let gitlab = self.job_script
            && (self.has(&["stages", "include", "variables", "default", "workflow"])
                || self.keys.iter().any(|k| k.starts_with('.')));
        azure || github || gitlab
    }
}

/// The key of a `key:` line (`key: value`, `key:`, a quoted key), if it is one.
fn key_of(line: &str) -> Option<&str> {
    let line = line.trim_start_matches(['"', '\'']);
    let end = line.find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')))?;
    let rest = line[end..].trim_start_matches(['"', '\'']);
    (end > 0 && (rest.starts_with(": ") || rest == ":" || rest.starts_with(":\t")))
        .then(|| &line[..end])
}

/// True for a file below `templates/` of a directory holding a `Chart.yaml`.
fn in_chart_templates(path: &Path) -> bool {
    path.ancestors().skip(1).any(|dir| {
        dir.file_name().is_some_and(|n| n == "templates")
            && dir
                .parent()
                .is_some_and(|chart| chart.join("Chart.yaml").is_file())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_decide_the_kind() {
        let k = |p: &str| classify(Path::new(p));
        assert_eq!(k("app/Dockerfile"), Some(FileKind::Dockerfile));
        assert_eq!(k("app/Dockerfile.prod"), Some(FileKind::Dockerfile));
        assert_eq!(k("app/api.Dockerfile"), Some(FileKind::Dockerfile));
        assert_eq!(k("chart/Chart.yaml"), Some(FileKind::HelmChart));
        assert_eq!(k("chart/values.yaml"), Some(FileKind::HelmValues));
        assert_eq!(k("chart/values-prod.yml"), Some(FileKind::HelmValues));
        assert_eq!(
            k("overlays/prod/kustomization.yaml"),
            Some(FileKind::Kustomization)
        );
        assert_eq!(k("docker-compose.override.yml"), Some(FileKind::Compose));
        assert_eq!(k("compose.yaml"), Some(FileKind::Compose));
        assert_eq!(k("azure-pipelines.yml"), Some(FileKind::Pipeline));
        assert_eq!(k(".github/workflows/ci.yml"), Some(FileKind::Pipeline));
        assert_eq!(k(".gitlab-ci.yml"), Some(FileKind::Pipeline));
        assert_eq!(k(".gitlab/ci/build.yml"), Some(FileKind::Pipeline));
        assert_eq!(
            k("eng/pipelines/templates/build.yml"),
            Some(FileKind::Pipeline)
        );
        assert_eq!(k("azure-pipelines/build.yml"), Some(FileKind::Pipeline));
        assert_eq!(
            k(".github/actions/acr-login/action.yml"),
            Some(FileKind::Pipeline)
        );
        assert_eq!(k("app/.env"), Some(FileKind::DotEnv));
        assert_eq!(k(".env.production"), Some(FileKind::DotEnv));
        assert_eq!(k("docker/registry.env"), Some(FileKind::DotEnv));
        assert_eq!(k(".envrc"), None);
        assert_eq!(k("k8s/deployment.yaml"), Some(FileKind::Yaml));
        assert_eq!(k("misc/pod.json"), Some(FileKind::Json));
        assert_eq!(k("README.md"), None);
        assert_eq!(k("main.rs"), None);
    }
}
