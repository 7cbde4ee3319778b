//! What a source holds: every repository and tag with its digest, kind, platforms and sizes, and
//! totals over the whole registry (blobs shared across repositories counted once).
//!
//! Repositories and tags are listed through [`crate::walk`]; each tag's graph is walked by the
//! [`Walker`] of [`crate::graph`] that `copy` and `verify` use too, keeping the graphs: a manifest
//! reached from several tags of a repository is fetched once.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use futures::StreamExt;
use serde::Serialize;

use crate::copy::Problem;
use crate::digest::Digest;
use crate::error::Result;
use crate::graph::{Node, Walker};
use crate::manifest::ArtifactKind;
use crate::transport::Source;
use crate::walk::{self, Matcher};

/// Version of the JSON schema of [`Inventory`]; bumped on any incompatible change.
pub const SCHEMA_VERSION: u32 = 1;

/// One tag.
#[derive(Clone, Debug, Serialize)]
pub struct TagEntry {
    /// The tag.
    pub tag: String,
    /// The manifest digest it points at.
    pub digest: Digest,
    /// The manifest media type.
    pub media_type: String,
    /// What it is.
    pub kind: ArtifactKind,
    /// The declared artifact type, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// Platforms of a multi-arch index (`os/arch[/variant]`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub platforms: Vec<String>,
    /// Bytes of all blobs below it (configs and layers, each counted once).
    pub size: u64,
    /// Bytes of the blobs that no other manifest of the registry uses.
    pub unique_size: u64,
    /// Number of referrers (where the source can list them).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub referrers: Option<usize>,
}

/// One repository.
#[derive(Clone, Debug, Serialize)]
pub struct RepositoryEntry {
    /// Name (relative to the source prefix).
    pub name: String,
    /// Its tags, sorted.
    pub tags: Vec<TagEntry>,
    /// Manifests no tag points at (ACR `_manifests`, layout entries), where the source lists them;
    /// index children and referrers appear here too. Omitted when the source cannot list them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub untagged: Option<Vec<Digest>>,
}

/// Totals over the whole selection.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Totals {
    /// Repositories.
    pub repositories: u64,
    /// Tags.
    pub tags: u64,
    /// Distinct manifests reached from the tags (children included), per repository.
    pub manifests: u64,
    /// Distinct blobs (configs and layers) across the registry.
    pub unique_blobs: u64,
    /// Bytes of those blobs, each counted once.
    pub unique_bytes: u64,
    /// Bytes of blobs used by more than one repository (counted once).
    pub shared_bytes: u64,
    /// Untagged manifests, where the source lists them.
    pub untagged_manifests: u64,
}

/// An inventory of a source.
#[derive(Clone, Debug, Serialize)]
pub struct Inventory {
    /// [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// What was inventoried.
    pub source: String,
    /// Repositories, sorted by name.
    pub repositories: Vec<RepositoryEntry>,
    /// Totals.
    pub totals: Totals,
    /// What could not be read.
    pub failed: Vec<Problem>,
    /// Seconds taken.
    pub seconds: f64,
}

/// Inventories everything `matcher` selects, `jobs` requests at a time.
pub async fn inventory(
    source: Arc<dyn Source>,
    source_name: &str,
    matcher: &Matcher,
    jobs: usize,
) -> Result<Inventory> {
    let started = std::time::Instant::now();
    let jobs = jobs.max(1);
    let pairs = walk::repositories(source.as_ref(), matcher).await?;
    let listed = walk::tags(source.clone(), matcher, pairs, jobs).await;
    let walker = Arc::new(Walker::new(source.clone()));
    let mut failed = Vec::new();
    let mut work = Vec::new();
    for (pair, tags) in &listed {
        match tags {
            Ok(tags) => work.extend(tags.iter().map(|t| (pair.clone(), t.clone()))),
            Err(e) if e.is_fatal() => {
                return Err(crate::error::Error::invalid(
                    pair.source.clone(),
                    e.to_string(),
                ))
            }
            Err(e) => failed.push(Problem {
                item: pair.name.clone(),
                reason: format!("cannot list tags: {e}"),
            }),
        }
    }
    let results: Vec<_> = futures::stream::iter(work)
        .map(|(pair, tag)| {
            let walker = walker.clone();
            let source = source.clone();
            async move {
                let node = walker.graph_of_tag(&pair, &tag).await;
                let referrers = match &node {
                    Ok(n) => source
                        .referrers(&pair.source, &n.manifest.digest)
                        .await
                        .ok()
                        .flatten()
                        .map(|r| r.len()),
                    Err(_) => None,
                };
                (pair, tag, node, referrers)
            }
        })
        .buffer_unordered(jobs * 4)
        .collect()
        .await;

    // Which top-level manifests and repositories use each blob.
    let mut users: BTreeMap<Digest, (u64, BTreeSet<Digest>, BTreeSet<String>)> = BTreeMap::new();
    let mut manifests: BTreeSet<(String, Digest)> = BTreeSet::new();
    let mut ok: Vec<(String, String, Arc<Node>, Option<usize>)> = Vec::new();
    for (pair, tag, node, referrers) in results {
        match node {
            Ok(node) => {
                for (d, b) in node.blobs() {
                    let e = users
                        .entry(d)
                        .or_insert((b.size, BTreeSet::new(), BTreeSet::new()));
                    e.1.insert(node.manifest.digest.clone());
                    e.2.insert(pair.name.clone());
                }
                for m in node.manifests() {
                    manifests.insert((pair.name.clone(), m));
                }
                ok.push((pair.name.clone(), tag, node, referrers));
            }
            Err(e) => failed.push(Problem {
                item: format!("{}:{tag}", pair.name),
                reason: e.to_string(),
            }),
        }
    }
    let mut repos: BTreeMap<String, Vec<TagEntry>> = BTreeMap::new();
    for (pair, _) in &listed {
        repos.entry(pair.name.clone()).or_default();
    }
    for (repo, tag, node, referrers) in ok {
        let blobs = node.blobs();
        let size = blobs.values().map(|b| b.size).sum();
        let unique_size = blobs
            .keys()
            .filter(|d| users.get(*d).is_some_and(|u| u.1.len() == 1))
            .map(|d| blobs[d].size)
            .sum();
        let platforms = node
            .view
            .children()
            .iter()
            .filter_map(|c| c.platform.clone())
            .collect();
        let artifact_type = match node.view.as_ref() {
            crate::manifest::ManifestView::Image {
                artifact_type,
                config,
                ..
            } => artifact_type.clone().or_else(|| {
                (!config.media_type.contains("image.config")
                    && !config.media_type.contains("container.image"))
                .then(|| config.media_type.clone())
            }),
            crate::manifest::ManifestView::Index { artifact_type, .. } => artifact_type.clone(),
        };
        repos.entry(repo).or_default().push(TagEntry {
            kind: ArtifactKind::classify(&node.view, Some(&tag)),
            tag,
            digest: node.manifest.digest.clone(),
            media_type: node.manifest.media_type.clone(),
            artifact_type,
            platforms,
            size,
            unique_size,
            referrers,
        });
    }
    // Untagged manifests, where the source can list every manifest.
    let sources: BTreeMap<String, String> = listed
        .iter()
        .map(|(p, _)| (p.name.clone(), p.source.clone()))
        .collect();
    let untagged: BTreeMap<String, Option<Vec<Digest>>> =
        futures::stream::iter(repos.keys().map(|name| {
            // Reachable from a tag (the tag's manifest, an index's children) is not "untagged".
            let tagged: BTreeSet<Digest> = manifests
                .iter()
                .filter(|(r, _)| r == name)
                .map(|(_, d)| d.clone())
                .collect();
            (
                name.clone(),
                sources.get(name).cloned().unwrap_or_default(),
                tagged,
            )
        }))
        .map(|(name, source_name, tagged)| {
            let source = source.clone();
            async move {
                let all = source.all_manifests(&source_name).await.ok().flatten();
                (
                    name,
                    all.map(|all| all.into_iter().filter(|d| !tagged.contains(d)).collect()),
                )
            }
        })
        .buffered(jobs)
        .collect()
        .await;
    let mut untagged = untagged;
    let repositories: Vec<RepositoryEntry> = repos
        .into_iter()
        .map(|(name, mut tags)| {
            tags.sort_by(|a, b| a.tag.cmp(&b.tag));
            let untagged = untagged.remove(&name).flatten();
            RepositoryEntry {
                name,
                tags,
                untagged,
            }
        })
        .collect();
    let totals = Totals {
        repositories: repositories.len() as u64,
        tags: repositories.iter().map(|r| r.tags.len() as u64).sum(),
        manifests: manifests.len() as u64,
        unique_blobs: users.len() as u64,
        unique_bytes: users.values().map(|u| u.0).sum(),
        shared_bytes: users.values().filter(|u| u.2.len() > 1).map(|u| u.0).sum(),
        untagged_manifests: repositories
            .iter()
            .map(|r| r.untagged.as_ref().map_or(0, |u| u.len() as u64))
            .sum(),
    };
    failed.sort_by(|a, b| a.item.cmp(&b.item));
    Ok(Inventory {
        schema_version: SCHEMA_VERSION,
        source: source_name.to_string(),
        repositories,
        totals,
        failed,
        seconds: started.elapsed().as_secs_f64(),
    })
}
