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
use crate::registry::ImageRef;
use crate::rename::{source_name, Renamer};
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
    /// The new name of each repository of `at_new` that a rename ([`crate::Renamer`]) gives
    /// another one.
    pub renamed: HashMap<String, String>,
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

    /// The name of `repository` (as the old registry names it) at the new registry.
    pub fn new_name<'s>(&'s self, repository: &'s str) -> &'s str {
        self.renamed
            .get(repository)
            .map_or(repository, String::as_str)
    }
}

/// File names Kustomize looks for in a directory.
const KUSTOMIZATION_NAMES: [&str; 3] = ["kustomization.yaml", "kustomization.yml", "Kustomization"];

/// Bounds the walk through nested kustomizations.
const MAX_FILES: usize = 10_000;

/// The scope of the kustomization at `path` whose text is `text`. `after` holds the text of
/// every file of the run as the run leaves it, by canonical path; other files are read from
/// disk. `in_run` holds the canonical paths of the kustomizations of the run, whose `newName`s
/// name the new registry once it is done.
pub(crate) fn scope(
    path: &Path,
    text: &str,
    after: &HashMap<PathBuf, &str>,
    in_run: &HashSet<PathBuf>,
    from: &Registry,
    to: &Registry,
    renamer: Option<&dyn Renamer>,
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
    // The kustomization itself (`None`), then those it includes (`Some(in this run)`):
    // Kustomize builds an included one first, its own `images:` applied, so the names its
    // entries give images are among those the including one's names match.
    let mut pending = vec![(dir, text.to_owned(), None)];
    while let Some((dir, text, nested)) = pending.pop() {
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
            if let Some(rewritten_by_run) = nested {
                for new_name in new_names(&doc.root) {
                    let parts = ImageRef::split(new_name);
                    let Some(registry) = parts.registry else {
                        continue;
                    };
                    // This run rewrites every `newName` naming the old registry.
                    if rewritten_by_run && from.matches(registry) {
                        scope.at_new.insert(parts.repository.to_owned());
                    } else if to.matches(registry) {
                        // Under `--to`'s prefix, named as the old registry names it.
                        if let Some(repository) = source_name(to, renamer, parts.repository) {
                            scope.at_new.insert(repository);
                        }
                    } else if from.matches(registry) {
                        scope.at_old.insert(parts.repository.to_owned());
                    }
                }
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
                        Some(text) => {
                            let rewritten_by_run =
                                fs::canonicalize(&file).is_ok_and(|file| in_run.contains(&file));
                            pending.push((target, text, Some(rewritten_by_run)));
                        }
                        None => scope.unknown = true,
                    }
                    continue;
                }
                let Some(text) = read_after(&target, after) else {
                    scope.unknown = true;
                    continue;
                };
                let none = KustomizeScope::unknown();
                for (registry, names, at_new) in [
                    (to, &mut scope.at_new, true),
                    (from, &mut scope.at_old, false),
                ] {
                    let Ok(found) = extract::scan_yaml(&text, FileKind::Yaml, registry, &none)
                    else {
                        continue;
                    };
                    let repositories = found.into_parts().0.into_iter().map(|r| r.repository);
                    if at_new {
                        // Under `--to`'s prefix, named as the old registry names it.
                        names.extend(repositories.filter_map(|r| source_name(to, renamer, &r)));
                    } else {
                        names.extend(repositories);
                    }
                }
            }
        }
    }
    if let Some(renamer) = renamer {
        scope.renamed = scope
            .at_new
            .iter()
            .map(|r| (r.clone(), renamer.renamed(r)))
            .filter(|(r, new)| r != new)
            .collect();
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

/// The `newName` of each `images:` entry of a kustomization: the names its build gives the
/// images its entries match.
fn new_names(root: &Node) -> Vec<&str> {
    let Some(Node::Sequence(entries)) = root.get("images") else {
        return Vec::new();
    };
    entries
        .iter()
        .filter_map(|entry| entry.get("newName").and_then(Node::as_str))
        .map(str::trim)
        .collect()
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
