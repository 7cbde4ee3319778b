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
        || in_dir(".pipelines")
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
