//! What the resources of a Kustomize file name, which decides how its `images:` names are
//! rewritten.
//!
//! An `images:` `name` is the key Kustomize matches against the images of the resources the
//! kustomization includes. It may follow the new registry only when every image it matches
//! will be at the new registry after the run; otherwise it stays and a `newName` is added. So
//! each kustomization's own resources are looked at, resolved relative to its directory
//! (`resources`, `bases`, `components`, patch files, and the same of the kustomizations they
//! include): files of the run as this run leaves them, other local files as they are on disk.
//! A resource that cannot be read here (a remote URL, a missing path, a Helm chart) may name
//! anything, so it keeps the old name.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};

use crate::extract;
use crate::yaml::{self, Node};
use crate::{FileKind, Registry};

/// The images a kustomization's resources name after the run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct KustomizeScope {
    /// Repositories named at the new registry in the included resources.
    pub at_new: HashSet<String>,
    /// Repositories named at the old registry in the included resources (local files outside
    /// the run, or files of the run that keep the old registry).
    pub at_old: HashSet<String>,
    /// Some included resource cannot be read here (remote, missing, a Helm chart): it may name
    /// any image at the old registry.
    pub unknown: bool,
    /// The new registry, when the resources were looked at (what a split entry names).
    pub new_registry: Option<Registry>,
}

impl KustomizeScope {
    /// The scope of a kustomization looked at alone: its resources are unknown.
    pub fn unknown() -> Self {
        KustomizeScope {
            unknown: true,
            ..Default::default()
        }
    }

    /// True when every image the name `repository` matches is at the new registry after the
    /// run, so the name can follow them.
    pub fn follows_new(&self, repository: &str) -> bool {
        self.at_new.contains(repository) && !self.at_old.contains(repository) && !self.unknown
    }

    /// True when some included resource names `repository` at the new registry while others
    /// name (or may name) it at the old one: no single name matches both, so an `images:`
    /// entry naming it is split in two (a redirect from the old name, then the entry under the
    /// new name).
    pub fn is_mixed(&self, repository: &str) -> bool {
        self.at_new.contains(repository) && !self.follows_new(repository)
    }
}

/// File names Kustomize looks for in a directory.
const KUSTOMIZATION_NAMES: [&str; 3] = ["kustomization.yaml", "kustomization.yml", "Kustomization"];

/// Bounds the walk through nested kustomizations.
const MAX_FILES: usize = 10_000;

/// The scope of the kustomization at `path` whose text is `text`. `after` holds the text of
/// every file of the run as the run leaves it, by canonical path; other files are read from
/// disk.
pub(crate) fn scope(
    path: &Path,
    text: &str,
    after: &HashMap<PathBuf, &str>,
    from: &Registry,
    to: &Registry,
) -> KustomizeScope {
    let mut scope = KustomizeScope {
        new_registry: Some(to.clone()),
        ..Default::default()
    };
    let dir = fs::canonicalize(path)
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .unwrap_or_else(|| path.parent().unwrap_or(Path::new(".")).to_path_buf());
    let mut visited: HashSet<PathBuf> = HashSet::new();
    let mut pending = vec![(dir, text.to_owned())];
    while let Some((dir, text)) = pending.pop() {
        if visited.len() > MAX_FILES {
            scope.unknown = true;
            break;
        }
        let Ok(docs) = yaml::parse(&text) else {
            scope.unknown = true;
            continue;
        };
        for doc in &docs {
            if doc.root.get("helmCharts").is_some()
                || doc.root.get("helmChartInflationGenerator").is_some()
            {
                scope.unknown = true;
            }
            for (entry, is_patch) in included(&doc.root) {
                let Ok(target) = fs::canonicalize(dir.join(&entry)) else {
                    // A remote URL or a resource that is not there may name anything; a
                    // missing patch file only stops `kustomize build`.
                    scope.unknown |= !is_patch;
                    continue;
                };
                if !visited.insert(target.clone()) {
                    continue;
                }
                if target.is_dir() {
                    let Some(file) = KUSTOMIZATION_NAMES
                        .iter()
                        .map(|n| target.join(n))
                        .find(|f| f.is_file())
                    else {
                        scope.unknown = true;
                        continue;
                    };
                    match read_after(&file, after) {
                        Some(text) => pending.push((target, text)),
                        None => scope.unknown = true,
                    }
                    continue;
                }
                let Some(text) = read_after(&target, after) else {
                    scope.unknown = true;
                    continue;
                };
                let none = KustomizeScope::unknown();
                for (registry, names) in [(to, &mut scope.at_new), (from, &mut scope.at_old)] {
                    if let Ok(found) = extract::scan_yaml(&text, FileKind::Yaml, registry, &none) {
                        names.extend(found.references.into_iter().map(|r| r.repository));
                    }
                }
            }
        }
    }
    scope
}

/// The text of `file` after the run: from `after` when the run rewrites it, else from disk.
fn read_after(file: &Path, after: &HashMap<PathBuf, &str>) -> Option<String> {
    match after.get(file) {
        Some(text) => Some((*text).to_owned()),
        None => fs::read_to_string(file).ok(),
    }
}

/// The paths a kustomization includes: `resources`, `bases`, `components`,
/// `patchesStrategicMerge` and the `path` of `patches` / `patchesJson6902` entries, each with
/// whether it is a patch.
fn included(root: &Node) -> Vec<(String, bool)> {
    let mut out = Vec::new();
    for key in [
        "resources",
        "bases",
        "components",
        "patchesStrategicMerge",
        "patches",
        "patchesJson6902",
    ] {
        let Some(Node::Sequence(items)) = root.get(key) else {
            continue;
        };
        for item in items {
            let value = match item {
                Node::Scalar(s) => Some(s.value.trim()),
                Node::Mapping(_) => item.get("path").and_then(Node::as_str).map(str::trim),
                _ => None,
            };
            // An inline patch (a YAML string holding a document) is not a path.
            if let Some(value) = value.filter(|v| !v.is_empty() && !v.contains('\n')) {
                out.push((value.to_owned(), key.starts_with("patches")));
            }
        }
    }
    out
}
