//! What a source holds: every repository and tag with its digest, kind, platforms and sizes, and
//! totals over the selection (blobs shared across repositories counted once), the untagged
//! manifests a copy moves included.
//!
//! Repositories and tags are listed through [`crate::walk`]; each tag's graph, and each untagged
//! manifest's where the source lists them, is walked by the [`Walker`] of [`crate::graph`] that
//! `copy` and `verify` use too, keeping the graphs: a manifest reached from several tags of a
//! repository is fetched once.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use futures::StreamExt;
use serde::Serialize;

use crate::copy::Problem;
use crate::digest::Digest;
use crate::error::Result;
use crate::graph::{Node, RepositoryCountdown, Walker};
use crate::manifest::ArtifactKind;
use crate::manifest::Reference;
use crate::transport::{paced, Source, Store};
use crate::walk::{self, Matcher, RepoPair};

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
    /// Platforms of a multi-arch index (`os/arch[/variant]`), those of the indexes it nests
    /// included, each once; buildx attestation manifests are not platforms (see
    /// `attestations`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub platforms: Vec<String>,
    /// Entries of the index (or of the indexes it nests) that buildx made to hold another
    /// entry's attestations (annotation `vnd.docker.reference.type: attestation-manifest`,
    /// platform `unknown/unknown`); omitted when none.
    #[serde(skip_serializing_if = "is_zero")]
    pub attestations: u64,
    /// Bytes of all distributable blobs below it (configs and layers, each counted once): what
    /// a copy moves. Non-distributable layers (descriptors with `urls`) are left out, and counted
    /// in `nondistributable_size`.
    pub size: u64,
    /// Bytes of the non-distributable layers below it (descriptors with `urls`, such as the base
    /// layers of Windows images), each counted once: bytes the image needs, fetched from their
    /// URLs, which a copy leaves there (unless `--include-nondistributable` finds them in the
    /// source); omitted when none.
    #[serde(skip_serializing_if = "is_zero")]
    pub nondistributable_size: u64,
    /// Bytes of the blobs that no other manifest uses: of the registry, or of the selection when
    /// a filter was given ([`Totals::shared_within`]).
    pub unique_size: u64,
    /// Number of referrers (where the source can list them).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub referrers: Option<usize>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// One repository.
#[derive(Clone, Debug, Serialize)]
pub struct RepositoryEntry {
    /// Name (relative to the source prefix).
    pub name: String,
    /// Its tags, sorted.
    pub tags: Vec<TagEntry>,
    /// Manifests no tag reaches, neither as its manifest nor as an index's child (ACR
    /// `_manifests`, layout entries), where the source lists them; referrers appear here. Omitted
    /// when the source cannot list them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub untagged: Option<Vec<Digest>>,
}

/// What [`TagEntry::unique_size`] and [`Totals::shared_bytes`] compare against.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Within {
    /// Every repository and tag of the source (and its untagged manifests, where it lists them).
    #[default]
    Registry,
    /// Only what a filter (prefix, `--repo`, `--tag`, exclusions, `--shard`) selected: a blob an
    /// unselected tag uses too still counts as unique.
    Selection,
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
    /// Distinct distributable blobs (configs and layers) of the selected tags and of the
    /// untagged manifests listed (what a copy moves), across the selected repositories.
    pub unique_blobs: u64,
    /// Bytes of those blobs, each counted once.
    pub unique_bytes: u64,
    /// Bytes among `unique_bytes` of the blobs that only untagged manifests use.
    pub untagged_bytes: u64,
    /// Bytes of blobs used by more than one repository (counted once), within
    /// [`Totals::shared_within`].
    pub shared_bytes: u64,
    /// What `shared_bytes` and each tag's `unique_size` compare against.
    pub shared_within: Within,
    /// Untagged manifests (no tag reaches them; referrers count), where the source lists them.
    pub untagged_manifests: u64,
    /// Tags among `tags` whose manifest is Docker schema 1 (kind `schema1`): listed, never
    /// copied, not a failure.
    pub schema1_tags: u64,
    /// Manifests the source lists that are children of a tagged index, where the source lists
    /// every manifest. With `untagged_manifests` they are the manifests without a tag of their
    /// own: what `copy` and `verify` count as such.
    pub index_children: u64,
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
    /// The most requests the run allowed at once (its limit; it grows over a slow link, see
    /// [`inventory`]).
    pub peak_requests: usize,
    /// Seconds taken.
    pub seconds: f64,
}

/// Inventories everything `matcher` selects, four requests per job at once to start with,
/// growing towards four per `max_jobs` (absent: four times `jobs`) while the source answers
/// steadily (see [`crate::transport::paced`]).
pub async fn inventory(
    source: Arc<dyn Store>,
    source_name: &str,
    matcher: &Matcher,
    jobs: usize,
    max_jobs: Option<usize>,
) -> Result<Inventory> {
    let started = std::time::Instant::now();
    let (source, limit) = paced::single(source, jobs, max_jobs);
    let at_once = limit.ceiling();
    let source: Arc<dyn Source> = source;
    let pairs = walk::repositories(source.as_ref(), matcher).await?;
    let listed = walk::tags(source.clone(), matcher, pairs, at_once).await;
    let walker = Arc::new(Walker::new(source.clone()));
    let mut failed = Vec::new();
    let mut work = Vec::new();
    for (pair, tags) in &listed {
        match tags {
            Ok(list) => {
                work.extend(list.tags.iter().map(|t| (pair.clone(), t.clone())));
                failed.extend(list.invalid.iter().map(|(tag, e)| Problem {
                    item: format!("{}:{tag}", pair.name),
                    reason: e.to_string(),
                }));
            }
            Err(e) if e.stopped_answering() => {
                return Err(e.unreachable_copy().expect("an unreachable error"))
            }
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
    // A repository's graphs are forgotten after its last tag: memory holds the repositories in
    // progress, not the registry.
    let mut countdown = RepositoryCountdown::new(work.iter().map(|(p, _)| p.source.as_str()));
    let mut walked = futures::stream::iter(work)
        .map(|(pair, tag)| {
            let walker = walker.clone();
            let source = source.clone();
            async move {
                let node = match walker.graph_of_tag(&pair, &tag).await {
                    Ok(node) => TagRead::Graph(node),
                    // A schema 1 tag is listed with what its manifest says of itself.
                    // Its digest is the one the registry announces (`Docker-Content-Digest`):
                    // Distribution signs a schema 1 manifest anew on every read, so the bytes
                    // served hash to a digest that changes each time and names nothing.
                    Err(e @ crate::error::Error::Schema1 { .. }) => {
                        match source.manifest(&pair.source, &tag).await {
                            Ok(mut manifest) => {
                                if let Ok(Some(announced)) =
                                    source.manifest_digest(&pair.source, &tag).await
                                {
                                    manifest.digest = announced;
                                }
                                TagRead::Schema1(manifest)
                            }
                            Err(_) => TagRead::Failed(e),
                        }
                    }
                    Err(e) => TagRead::Failed(e),
                };
                let referrers = match &node {
                    TagRead::Graph(n) => source
                        .referrers(&pair.source, &n.manifest.digest)
                        .await
                        .ok()
                        .flatten()
                        .map(|r| r.len()),
                    _ => None,
                };
                (pair, tag, node, referrers)
            }
        })
        .buffer_unordered(at_once);

    let mut usage = BlobUsage::default();
    // Manifests reachable from a tag, per repository (never "untagged"), and the tags' own.
    let mut tagged: BTreeMap<String, BTreeSet<Digest>> = BTreeMap::new();
    let mut roots: BTreeMap<String, BTreeSet<Digest>> = BTreeMap::new();
    // Each tag's entry and the blobs below it (indexes into `usage`).
    let mut entries: Vec<(String, TagEntry, Vec<u32>)> = Vec::new();
    while let Some((pair, tag, node, referrers)) = walked.next().await {
        match node {
            TagRead::Graph(node) => {
                let blobs = node.blobs();
                let ids = blobs
                    .iter()
                    .map(|(d, b)| usage.used(d, b.size, &node.manifest.digest, &pair.name, true))
                    .collect();
                tagged
                    .entry(pair.name.clone())
                    .or_default()
                    .extend(node.manifests());
                roots
                    .entry(pair.name.clone())
                    .or_default()
                    .insert(node.manifest.digest.clone());
                entries.push((
                    pair.name.clone(),
                    tag_entry(tag, &node, &blobs, referrers),
                    ids,
                ));
            }
            TagRead::Schema1(manifest) => {
                // Its tag reaches it: not an untagged manifest.
                for reached in [&mut tagged, &mut roots] {
                    reached
                        .entry(pair.name.clone())
                        .or_default()
                        .insert(manifest.digest.clone());
                }
                entries.push((
                    pair.name.clone(),
                    TagEntry {
                        tag,
                        digest: manifest.digest,
                        media_type: manifest.media_type,
                        kind: ArtifactKind::Schema1,
                        artifact_type: None,
                        platforms: Vec::new(),
                        attestations: 0,
                        size: 0,
                        nondistributable_size: 0,
                        unique_size: 0,
                        referrers: None,
                    },
                    Vec::new(),
                ))
            }
            // A registry given up ends the inventory with its one error.
            TagRead::Failed(e) if e.stopped_answering() => return Err(e),
            TagRead::Failed(e) => failed.push(Problem {
                item: format!("{}:{tag}", pair.name),
                reason: e.to_string(),
            }),
        }
        countdown.finished(&walker, &pair.source);
    }
    drop(walked);
    // A name `--repo` gave, where the source does not list its repositories, that showed no tag
    // may not exist: it is no repository of the inventory.
    let pairs: BTreeMap<String, RepoPair> = listed
        .iter()
        .filter(|(pair, tags)| {
            let empty = tags
                .as_ref()
                .is_ok_and(|l| l.tags.is_empty() && l.invalid.is_empty());
            !(empty && matcher.unconfirmed(&pair.source))
        })
        .map(|(pair, _)| (pair.name.clone(), pair.clone()))
        .collect();
    let manifests = tagged.values().map(|m| m.len() as u64).sum();
    // Untagged manifests, where the source can list every manifest.
    // A tag expression selects tags: the manifests of the tags it leaves out are not
    // "untagged", and untagged ones are not selected (`Matcher::selects_untagged`).
    let selects_untagged = matcher.selects_untagged();
    let tags_excluded = !matcher.selection().exclude_tag_patterns.is_empty();
    let listed_untagged: Vec<(String, Option<Vec<Digest>>, u64)> =
        futures::stream::iter(pairs.values().map(|pair| {
            // Reachable from a tag (the tag's manifest, an index's children) is not "untagged".
            (
                pair.clone(),
                tagged.remove(&pair.name).unwrap_or_default(),
                roots.remove(&pair.name).unwrap_or_default(),
            )
        }))
        .map(|(pair, tagged, roots)| {
            let source = source.clone();
            async move {
                let all = source.all_manifests(&pair.source).await.ok().flatten();
                // What a tag `--exclude-tag` left out points at is tagged all the same (a
                // copy leaves it out too).
                let excluded: BTreeSet<Digest> =
                    match all.is_some() && selects_untagged && tags_excluded {
                        true => source
                            .tag_digests(&pair.source)
                            .await
                            .ok()
                            .flatten()
                            .into_iter()
                            .flatten()
                            .map(|(_, d)| d)
                            .collect(),
                        false => BTreeSet::new(),
                    };
                let children = all.as_ref().map_or(0, |all| {
                    all.iter()
                        .filter(|d| tagged.contains(d) && !roots.contains(d))
                        .count() as u64
                });
                let mut seen = BTreeSet::new();
                (
                    pair.name,
                    all.map(|all| {
                        all.into_iter()
                            .filter(|d| {
                                selects_untagged
                                    && !tagged.contains(d)
                                    && !excluded.contains(d)
                                    && seen.insert(d.clone())
                            })
                            .collect()
                    }),
                    children,
                )
            }
        })
        .buffered(at_once)
        .collect()
        .await;
    // A copy moves the untagged manifests listed, and their blobs: walked as the tags were, their
    // blobs count in the totals and make a tag's blob shared.
    let work: Vec<(RepoPair, Digest)> = listed_untagged
        .iter()
        .flat_map(|(name, list, _)| {
            let pair = &pairs[name];
            list.iter().flatten().map(|d| (pair.clone(), d.clone()))
        })
        .collect();
    let mut countdown = RepositoryCountdown::new(work.iter().map(|(p, _)| p.source.as_str()));
    let mut walked = futures::stream::iter(work)
        .map(|(pair, digest)| {
            let walker = walker.clone();
            async move {
                let node = walker.graph_of_digest(&pair, &digest).await;
                (pair, digest, node)
            }
        })
        .buffer_unordered(at_once);
    while let Some((pair, digest, node)) = walked.next().await {
        match node {
            Ok(node) => {
                for (d, b) in node.blobs() {
                    usage.used(&d, b.size, &digest, &pair.name, false);
                }
            }
            // Listed, never copied (as a schema 1 tag is).
            Err(crate::error::Error::Schema1 { .. }) => {}
            Err(e) if e.stopped_answering() => return Err(e),
            Err(e) => failed.push(Problem {
                item: format!("{}@{digest}", pair.name),
                reason: e.to_string(),
            }),
        }
        countdown.finished(&walker, &pair.source);
    }
    drop(walked);
    let mut repos: BTreeMap<String, Vec<TagEntry>> = pairs
        .keys()
        .map(|name| (name.clone(), Vec::new()))
        .collect();
    for (repo, mut entry, ids) in entries {
        entry.unique_size = ids
            .iter()
            .map(|&id| &usage.blobs[id as usize])
            // The same manifest in another repository is another manifest of the registry.
            .filter(|b| !b.many_manifests && !b.many_repositories)
            .map(|b| b.size)
            .sum();
        repos.entry(repo).or_default().push(entry);
    }
    let index_children = listed_untagged.iter().map(|(_, _, c)| c).sum();
    let mut untagged: BTreeMap<String, Option<Vec<Digest>>> = listed_untagged
        .into_iter()
        .map(|(name, list, _)| (name, list))
        .collect();
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
        manifests,
        unique_blobs: usage.blobs.len() as u64,
        unique_bytes: usage.blobs.iter().map(|b| b.size).sum(),
        untagged_bytes: usage
            .blobs
            .iter()
            .filter(|b| !b.tagged)
            .map(|b| b.size)
            .sum(),
        shared_within: match matcher.narrows() {
            true => Within::Selection,
            false => Within::Registry,
        },
        shared_bytes: usage
            .blobs
            .iter()
            .filter(|b| b.many_repositories)
            .map(|b| b.size)
            .sum(),
        untagged_manifests: repositories
            .iter()
            .map(|r| r.untagged.as_ref().map_or(0, |u| u.len() as u64))
            .sum(),
        schema1_tags: repositories
            .iter()
            .flat_map(|r| &r.tags)
            .filter(|t| t.kind == ArtifactKind::Schema1)
            .count() as u64,
        index_children,
    };
    failed.sort_by(|a, b| a.item.cmp(&b.item));
    Ok(Inventory {
        schema_version: SCHEMA_VERSION,
        source: source_name.to_string(),
        repositories,
        totals,
        failed,
        peak_requests: limit.peak(),
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// A registry that stopped answering during an inventory, said without the advice to resume
/// that a copy's error gives: `acr-relocate inventory` writes nothing, and the same command
/// starts over. Any other error is returned as it is.
pub fn starts_over(e: crate::error::Error) -> crate::error::Error {
    match e {
        crate::error::Error::Unreachable {
            side,
            host,
            reason,
            mid_run: true,
            mend,
        } => {
            let what = reason
                .strip_suffix(crate::error::RESUME_ADVICE)
                .unwrap_or(reason.as_str());
            crate::error::Error::Unreachable {
                side,
                host,
                reason: format!(
                    "{what}; an inventory writes nothing: run it again once the registry answers"
                ),
                mid_run: true,
                mend,
            }
        }
        other => other,
    }
}

/// What the walk of one tag gave.
enum TagRead {
    /// Its graph.
    Graph(Arc<Node>),
    /// Its manifest, a Docker schema 1 one (no graph: listed, never copied).
    Schema1(crate::manifest::RawManifest),
    /// What kept it from being read.
    Failed(crate::error::Error),
}

/// Who uses each blob of the registry, in a few bytes a blob: enough to tell blobs of one manifest
/// (a tag's unique size) and blobs shared across repositories, without keeping every graph.
#[derive(Default)]
struct BlobUsage {
    index: HashMap<Digest, u32>,
    blobs: Vec<BlobUse>,
    repositories: HashMap<String, u32>,
}

/// One blob's users, as far as the totals need them.
struct BlobUse {
    size: u64,
    /// The first top-level manifest seen using it.
    manifest: Digest,
    /// Another top-level manifest uses it too.
    many_manifests: bool,
    /// The first repository seen using it (an index into `BlobUsage::repositories`).
    repository: u32,
    /// Another repository uses it too.
    many_repositories: bool,
    /// A tag's graph uses it (not only untagged manifests).
    tagged: bool,
}

impl BlobUsage {
    /// Records that the top-level manifest `manifest` of `repository` (a tag's when `tagged`, an
    /// untagged one otherwise) uses blob `digest`; returns the blob's index.
    fn used(
        &mut self,
        digest: &Digest,
        size: u64,
        manifest: &Digest,
        repository: &str,
        tagged: bool,
    ) -> u32 {
        let next = self.repositories.len() as u32;
        let repository = match self.repositories.get(repository) {
            Some(&id) => id,
            None => *self
                .repositories
                .entry(repository.to_string())
                .or_insert(next),
        };
        match self.index.get(digest) {
            Some(&id) => {
                let blob = &mut self.blobs[id as usize];
                blob.many_manifests |= blob.manifest != *manifest;
                blob.many_repositories |= blob.repository != repository;
                blob.tagged |= tagged;
                id
            }
            None => {
                let id = self.blobs.len() as u32;
                self.index.insert(digest.clone(), id);
                self.blobs.push(BlobUse {
                    size,
                    manifest: manifest.clone(),
                    many_manifests: false,
                    repository,
                    many_repositories: false,
                    tagged,
                });
                id
            }
        }
    }
}

/// A tag's row (its unique size is filled in once every tag is walked).
fn tag_entry(
    tag: String,
    node: &Node,
    blobs: &BTreeMap<Digest, Reference>,
    referrers: Option<usize>,
) -> TagEntry {
    let mut platforms = Vec::new();
    let mut attested = BTreeSet::new();
    collect_platforms(node, &mut platforms, &mut attested, 0);
    let attestations = attested.len() as u64;
    let nondistributable_size = node
        .blobs_with(true)
        .values()
        .filter(|b| b.foreign)
        .map(|b| b.size)
        .sum();
    let artifact_type = match node.view.as_ref() {
        crate::manifest::ManifestView::Image {
            artifact_type,
            config,
            ..
        } => artifact_type.clone().or_else(|| {
            config
                .as_ref()
                .filter(|c| {
                    !c.media_type.contains("image.config")
                        && !c.media_type.contains("container.image")
                })
                .map(|c| c.media_type.clone())
        }),
        crate::manifest::ManifestView::Index { artifact_type, .. } => artifact_type.clone(),
    };
    TagEntry {
        kind: ArtifactKind::classify(&node.view, Some(&tag)),
        tag,
        digest: node.manifest.digest.clone(),
        media_type: node.manifest.media_type.clone(),
        artifact_type,
        platforms,
        attestations,
        size: blobs.values().map(|b| b.size).sum(),
        nondistributable_size,
        unique_size: 0,
        referrers,
    }
}

/// The platforms of an index's entries into `platforms` (each once, in order), those of the
/// indexes it lists too, at any depth the walk allows; buildx attestation manifests are counted
/// in `attestations` instead, by digest (each once, however many indexes list it). An entry
/// that is itself an index gives the platforms it lists (its own only when it lists none).
fn collect_platforms<'a>(
    node: &'a Node,
    platforms: &mut Vec<String>,
    attestations: &mut BTreeSet<&'a Digest>,
    depth: usize,
) {
    let attestation: BTreeSet<&Digest> = node
        .view
        .attestation_children()
        .into_iter()
        .map(|r| &r.digest)
        .collect();
    // The nested indexes by digest, looked up once per entry (an index may list thousands).
    let indexes: std::collections::HashMap<&Digest, &Node> = node
        .children
        .iter()
        .rev()
        .filter(|c| matches!(c.view.as_ref(), crate::manifest::ManifestView::Index { .. }))
        .map(|c| (&c.manifest.digest, c.as_ref()))
        .collect();
    for entry in node.view.children() {
        if attestation.contains(&entry.digest) {
            attestations.insert(&entry.digest);
            continue;
        }
        let nested = indexes.get(&entry.digest).copied();
        match nested {
            Some(child) if depth < crate::manifest::MAX_INDEX_DEPTH => {
                let mut nested = Vec::new();
                collect_platforms(child, &mut nested, attestations, depth + 1);
                if !nested.is_empty() {
                    for p in nested {
                        if !platforms.contains(&p) {
                            platforms.push(p);
                        }
                    }
                    continue;
                }
            }
            _ => {}
        }
        if let Some(p) = entry.platform.as_ref().filter(|p| !platforms.contains(p)) {
            platforms.push(p.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::{RawManifest, OCI_INDEX, OCI_MANIFEST};

    fn image(arch: &str, layers: &str) -> Arc<Node> {
        let doc = format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{}","size":{}}},"layers":[{layers}]}}"#,
            Digest::of(arch.as_bytes()),
            arch.len()
        );
        node(&doc, Vec::new())
    }

    fn node(doc: &str, children: Vec<Arc<Node>>) -> Arc<Node> {
        let manifest = RawManifest::new(bytes::Bytes::from(doc.to_string()), None).unwrap();
        let view = Arc::new(manifest.view().unwrap());
        Arc::new(Node {
            manifest,
            view,
            children,
        })
    }

    /// An index's entry for `child`, with a platform and annotations when given.
    fn entry(child: &Node, platform: Option<&str>, annotations: &str) -> String {
        let platform = platform.map_or(String::new(), |p| {
            let (os, arch) = p.split_once('/').unwrap();
            format!(r#","platform":{{"os":"{os}","architecture":"{arch}"}}"#)
        });
        format!(
            r#"{{"mediaType":"{}","digest":"{}","size":{}{platform}{annotations}}}"#,
            child.manifest.media_type,
            child.manifest.digest,
            child.manifest.bytes.len()
        )
    }

    fn index(entries: &[String], children: Vec<Arc<Node>>) -> Arc<Node> {
        let doc = format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":[{}]}}"#,
            entries.join(",")
        );
        node(&doc, children)
    }

    fn row(node: &Node) -> TagEntry {
        tag_entry("v1".into(), node, &node.blobs(), None)
    }

    /// An index that lists an index serves the platforms of both.
    #[test]
    fn the_platforms_of_a_nested_index_are_the_tags_platforms() {
        let (amd64, s390x, ppc64le) =
            (image("amd64", ""), image("s390x", ""), image("ppc64le", ""));
        let inner = index(
            &[
                entry(&amd64, Some("linux/amd64"), ""),
                entry(&s390x, Some("linux/s390x"), ""),
            ],
            vec![amd64.clone(), s390x.clone()],
        );
        let outer = index(
            &[
                entry(&inner, None, ""),
                entry(&ppc64le, Some("linux/ppc64le"), ""),
            ],
            vec![inner.clone(), ppc64le.clone()],
        );
        assert_eq!(
            row(&outer).platforms,
            ["linux/amd64", "linux/s390x", "linux/ppc64le"]
        );
        assert_eq!(row(&outer).attestations, 0);
    }

    /// A buildx attestation manifest (`unknown/unknown`, `vnd.docker.reference.type:
    /// attestation-manifest`) is counted as an attestation, not listed as a platform; a platform
    /// listed twice is listed once.
    #[test]
    fn buildx_attestation_manifests_are_attestations_not_platforms() {
        let (amd64, arm64) = (image("amd64", ""), image("arm64", ""));
        let (att1, att2) = (image("att1", ""), image("att2", ""));
        let marked = |subject: &Node| {
            format!(
                r#","annotations":{{"vnd.docker.reference.digest":"{}","vnd.docker.reference.type":"attestation-manifest"}}"#,
                subject.manifest.digest
            )
        };
        let buildx = index(
            &[
                entry(&amd64, Some("linux/amd64"), ""),
                entry(&arm64, Some("linux/arm64"), ""),
                entry(&att1, Some("unknown/unknown"), &marked(&amd64)),
                entry(&att2, Some("unknown/unknown"), &marked(&arm64)),
                entry(&amd64, Some("linux/amd64"), ""),
            ],
            vec![amd64.clone(), arm64.clone(), att1.clone(), att2.clone()],
        );
        let r = row(&buildx);
        assert_eq!(r.platforms, ["linux/amd64", "linux/arm64"]);
        assert_eq!(r.attestations, 2);
        // Their blobs are the tag's all the same: a copy moves them.
        assert_eq!(
            r.size,
            ["amd64", "arm64", "att1", "att2"]
                .iter()
                .map(|a| a.len() as u64)
                .sum::<u64>()
        );
    }

    /// A non-distributable layer (a descriptor with `urls`) is not in `size`, the bytes a copy
    /// moves, but in `nondistributable_size`.
    #[test]
    fn a_foreign_layer_is_counted_apart_from_the_size() {
        let foreign = format!(
            r#"{{"mediaType":"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip","digest":"sha256:{}","size":1234567,"urls":["https://mcr.microsoft.com/x"]}}"#,
            "ab".repeat(32)
        );
        let app = format!(
            r#"{{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","digest":"{}","size":17}}"#,
            Digest::of(b"windows-app-layer")
        );
        let windows = image("windows", &format!("{foreign},{app}"));
        let r = row(&windows);
        assert_eq!(r.size, "windows".len() as u64 + 17);
        assert_eq!(r.nondistributable_size, 1234567);
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["nondistributable_size"], 1234567);
        // Omitted when none, as `attestations` is.
        let plain = serde_json::to_value(row(&image("amd64", &app))).unwrap();
        assert!(plain.get("nondistributable_size").is_none(), "{plain}");
        assert!(plain.get("attestations").is_none(), "{plain}");
    }

    /// A nested index listed twice (or an attestation listed twice) counts its attestations
    /// once: they are manifests, counted by digest.
    #[test]
    fn an_attestation_is_counted_once_however_many_times_it_is_listed() {
        let (amd64, att) = (image("amd64", ""), image("att", ""));
        let marked = format!(
            r#","annotations":{{"vnd.docker.reference.digest":"{}","vnd.docker.reference.type":"attestation-manifest"}}"#,
            amd64.manifest.digest
        );
        let inner = index(
            &[
                entry(&amd64, Some("linux/amd64"), ""),
                entry(&att, Some("unknown/unknown"), &marked),
            ],
            vec![amd64.clone(), att.clone()],
        );
        let outer = index(
            &[entry(&inner, None, ""), entry(&inner, None, "")],
            vec![inner.clone()],
        );
        let r = row(&outer);
        assert_eq!(r.platforms, ["linux/amd64"]);
        assert_eq!(r.attestations, 1);
    }
}
