//! What a deletion of selected manifests must keep, repository by repository.
//!
//! Deleting a manifest by digest (`DELETE /v2/<name>/manifests/<digest>`) removes that manifest
//! and every tag pointing at it, and nothing else: Distribution does not cascade, so an index whose
//! child is deleted stays tagged but is broken for whoever pulls every platform; some registries
//! (ACR among them) may remove a manifest's referrers with it. So a manifest may go only when
//! nothing that stays needs it. [`decide`] works that out from a [`Repository`] that [`survey`]
//! reads from the source (and, for referrers, the target):
//!
//! - **What stays**: every manifest a tag names that the deletion does not take (a tag the
//!   selection leaves out, a selected tag that changed since the verify), every untagged manifest
//!   the source lists (ACR), and a referrer the target lacks.
//! - **What it needs**, followed to the end: the children of an index (its platforms); the subject
//!   of a referrer (an SBOM or signature that stays keeps the image it describes); what describes a
//!   manifest that stays (its referrers, its referrers index `sha256-<hex>`, its cosign-style
//!   `sha256-<hex>.sig`/`.att`/`.sbom` tags). A selected manifest needed by something that stays is
//!   kept, with the reason (`a platform (linux/amd64) of team/svc-1:latest, which stays …`).
//! - **What goes with a deleted manifest**: what describes it, since nothing else could use it: its
//!   referrers (and theirs), as the source lists them or as their `subject` says, but only those
//!   the target holds (the deep verify checked each referrer of a verified tag; this is checked
//!   again); its referrers index tag; its selected cosign-style tags (the verify compared them). A
//!   cosign-style tag the selection leaves out was not verified: it stays, and so does the
//!   manifest it describes.
//!
//! Index children are never deleted unless a selected tag names them: like blobs, they are left to
//! the registry's garbage collection. The decisions come in the order to delete them: what
//! describes a manifest before the manifest, so an interrupted run leaves nothing undiscoverable
//! behind (the next run finds the rest through the tags that remain).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

use futures::StreamExt;

use crate::digest::Digest;
use crate::error::Result;
use crate::graph::{Node, Walker};
use crate::manifest::MAX_INDEX_DEPTH;
use crate::transport::{Source, Store};
use crate::walk::{Matcher, RepoPair};

/// How the deletion sees one tag.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Standing {
    /// Selected, and the target's tag holds the same digest: the deletion may take it.
    Verified,
    /// Selected, but the target's tag no longer holds the source's digest (changed since the
    /// verify): it stays.
    Changed,
    /// Left out by the selection: it stays.
    Unselected,
}

/// A tag of the source and what it points at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tag {
    /// The manifest digest it points at in the source.
    pub digest: Digest,
    /// How the deletion sees it.
    pub standing: Standing,
}

/// An index entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Child {
    /// Its digest.
    pub digest: Digest,
    /// `os/architecture[/variant]`, when the entry says.
    pub platform: Option<String>,
}

/// What one manifest links to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Links {
    /// Its index entries.
    pub children: Vec<Child>,
    /// The manifest it describes (`subject`), for a referrer.
    pub subject: Option<Digest>,
}

/// One repository of the source, as far as a deletion must know it.
#[derive(Clone, Debug, Default)]
pub struct Repository {
    /// Its full name in the source.
    pub name: String,
    /// Every tag, selected or not.
    pub tags: BTreeMap<String, Tag>,
    /// Manifests no tag names that the source lists (none where it cannot list them).
    pub untagged: BTreeSet<Digest>,
    /// What each manifest read links to.
    pub links: BTreeMap<Digest, Links>,
    /// The referrers the source lists for a manifest.
    pub referrers: BTreeMap<Digest, BTreeSet<Digest>>,
    /// Referrers the target holds.
    pub in_target: BTreeSet<Digest>,
    /// Other manifests known to exist in the source (the subjects of `sha256-<hex>` tags).
    pub exists: BTreeSet<Digest>,
}

/// What becomes of one manifest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    /// The manifest.
    pub digest: Digest,
    /// The tags pointing at it (all of them go with it).
    pub tags: Vec<String>,
    /// For a referrer, a referrers index or a signature tag: the manifest it describes (deleted
    /// first, it goes because that one goes).
    pub describes: Option<Digest>,
    /// `None`: delete it; else why it stays.
    pub kept: Option<String>,
}

/// The manifest a tag of the referrers tag schema (`sha256-<hex>`) or of cosign
/// (`sha256-<hex>.sig`, `.att`, `.sbom`) describes, by its name.
pub fn described_by_name(tag: &str) -> Option<Digest> {
    let rest = tag.strip_prefix("sha256-")?;
    let hex = rest.split_once('.').map_or(rest, |(hex, _)| hex);
    format!("sha256:{hex}").parse().ok()
}

/// True for a tag of the referrers tag schema: `sha256-<hex>`, an index of a manifest's referrers.
pub fn is_referrers_tag(tag: &str) -> bool {
    tag.starts_with("sha256-") && !tag.contains('.')
}

/// Why a referrer of a deleted manifest stays.
const LACKING: &str = "a referrer the target lacks (added after the verify?)";

/// Why a manifest is reached while working out what stays.
#[derive(Clone, Debug)]
enum Because {
    /// It stays by itself.
    Root(String),
    /// A referrer that would go with its subject, but the target lacks it.
    Lacking,
    /// An index that stays lists it.
    ChildOf(Digest, Option<String>),
    /// A referrer (or signature) that stays describes it.
    DescribedBy(Digest),
    /// It describes a manifest that stays.
    Describes(Digest),
}

/// The edges of "keeping this keeps that", and how manifests describe one another.
struct Graph<'a> {
    repo: &'a Repository,
    /// Tags per digest.
    tags_of: BTreeMap<&'a Digest, Vec<&'a str>>,
    /// Manifest → what describes it (referrers, describing tags' manifests).
    described_by: BTreeMap<Digest, BTreeSet<Digest>>,
    /// Manifest → what it describes.
    describes: BTreeMap<Digest, BTreeSet<Digest>>,
    /// Manifests whose tags all describe another manifest by name (a referrers index, a
    /// cosign-style signature): they go with what they describe.
    followers: BTreeSet<Digest>,
}

impl<'a> Graph<'a> {
    fn new(repo: &'a Repository) -> Self {
        let mut tags_of: BTreeMap<&Digest, Vec<&str>> = BTreeMap::new();
        for (name, tag) in &repo.tags {
            tags_of.entry(&tag.digest).or_default().push(name);
        }
        let known: BTreeSet<&Digest> = tags_of
            .keys()
            .copied()
            .chain(&repo.untagged)
            .chain(repo.links.keys())
            .chain(
                repo.links
                    .values()
                    .flat_map(|l| l.children.iter().map(|c| &c.digest)),
            )
            .chain(repo.referrers.keys())
            .chain(&repo.exists)
            .collect();
        let mut graph = Graph {
            repo,
            tags_of,
            described_by: BTreeMap::new(),
            describes: BTreeMap::new(),
            followers: BTreeSet::new(),
        };
        let mut link = |referrer: &Digest, subject: &Digest| {
            graph
                .described_by
                .entry(subject.clone())
                .or_default()
                .insert(referrer.clone());
            graph
                .describes
                .entry(referrer.clone())
                .or_default()
                .insert(subject.clone());
        };
        for (subject, referrers) in &repo.referrers {
            for r in referrers {
                link(r, subject);
            }
        }
        for (digest, links) in &repo.links {
            if let Some(subject) = &links.subject {
                link(digest, subject);
            }
        }
        let mut describing_tags: BTreeMap<&Digest, (usize, usize)> = BTreeMap::new();
        for (name, tag) in &repo.tags {
            let counts = describing_tags.entry(&tag.digest).or_default();
            counts.0 += 1;
            if let Some(subject) = described_by_name(name).filter(|s| known.contains(s)) {
                counts.1 += 1;
                link(&tag.digest, &subject);
            }
        }
        graph.followers = describing_tags
            .into_iter()
            .filter(|(_, (all, describing))| all == describing)
            .map(|(d, _)| d.clone())
            .collect();
        graph
    }

    fn tags(&self, digest: &Digest) -> &[&'a str] {
        self.tags_of.get(digest).map_or(&[], |t| t.as_slice())
    }

    /// `repository:tag` for a manifest that has a tag (one that stays first), else
    /// `repository@digest`.
    fn label(&self, digest: &Digest) -> String {
        let tags = self.tags(digest);
        let staying = tags
            .iter()
            .find(|t| self.repo.tags[**t].standing != Standing::Verified);
        match staying.or(tags.first()) {
            Some(tag) => format!("{}:{tag}", self.repo.name),
            None => format!("{}@{digest}", self.repo.name),
        }
    }

    /// Why a manifest stays by itself, if it does: a tag that stays (one that describes another
    /// manifest by name stays with it instead, unless the selection leaves it out), an untagged
    /// manifest the source lists.
    fn root_reason(&self, digest: &Digest, gone: &BTreeSet<Digest>) -> Option<String> {
        for tag in self.tags(digest) {
            let referrers_index = is_referrers_tag(tag) && self.followers.contains(digest);
            match self.repo.tags[*tag].standing {
                Standing::Unselected if !referrers_index => {
                    return Some(format!("the selection leaves `{tag}` out"))
                }
                Standing::Changed if !referrers_index => {
                    return Some(format!(
                        "`{tag}` no longer matches the target (changed since the verify)"
                    ))
                }
                _ => {}
            }
        }
        if gone.contains(digest) {
            return None;
        }
        if self.followers.contains(digest) {
            let subject = self.describes.get(digest).and_then(|s| s.first())?;
            return Some(format!(
                "describes {}, which is not deleted",
                self.label(subject)
            ));
        }
        self.repo
            .untagged
            .contains(digest)
            .then(|| "untagged, and delete-source deletes what selected tags name".into())
    }

    /// Everything that goes with `deleted`: what describes each of them, and on, with the
    /// manifest each one goes with.
    fn going_with(&self, deleted: &BTreeSet<Digest>) -> BTreeMap<Digest, Option<Digest>> {
        let mut gone: BTreeMap<Digest, Option<Digest>> =
            deleted.iter().map(|d| (d.clone(), None)).collect();
        let mut queue: VecDeque<(Digest, usize)> = deleted.iter().map(|d| (d.clone(), 0)).collect();
        while let Some((subject, depth)) = queue.pop_front() {
            if depth >= MAX_INDEX_DEPTH {
                continue;
            }
            for r in self.described_by.get(&subject).into_iter().flatten() {
                if gone.contains_key(r) {
                    continue;
                }
                // A follower describing several manifests goes only with the last of them.
                let all_gone = self
                    .describes
                    .get(r)
                    .is_none_or(|s| s.iter().all(|s| gone.contains_key(s)));
                if !all_gone {
                    continue;
                }
                gone.insert(r.clone(), Some(subject.clone()));
                queue.push_back((r.clone(), depth + 1));
            }
        }
        gone
    }

    /// Everything that stays, each with why it was reached first, from what stays by itself and
    /// what earlier rounds found needed (`pinned`).
    fn staying(
        &self,
        gone: &BTreeMap<Digest, Option<Digest>>,
        pinned: &BTreeMap<Digest, Because>,
    ) -> BTreeMap<Digest, Because> {
        let gone_set: BTreeSet<Digest> = gone.keys().cloned().collect();
        let mut kept: BTreeMap<Digest, Because> = pinned.clone();
        let mut queue: VecDeque<Digest> = pinned.keys().cloned().collect();
        let candidates = self
            .tags_of
            .keys()
            .map(|d| (*d).clone())
            .chain(self.repo.untagged.iter().cloned())
            .collect::<BTreeSet<_>>();
        for digest in candidates {
            if kept.contains_key(&digest) {
                continue;
            }
            if let Some(reason) = self.root_reason(&digest, &gone_set) {
                kept.insert(digest.clone(), Because::Root(reason));
                queue.push_back(digest);
            }
        }
        // A referrer that would go with its subject but that the target lacks stays.
        for (digest, with) in gone {
            let is_referrer = with.is_some() && !self.followers.contains(digest);
            if is_referrer && !self.repo.in_target.contains(digest) && !kept.contains_key(digest) {
                kept.insert(digest.clone(), Because::Lacking);
                queue.push_back(digest.clone());
            }
        }
        while let Some(digest) = queue.pop_front() {
            let mut reach = |next: &Digest, because: Because| {
                if !kept.contains_key(next) {
                    kept.insert(next.clone(), because);
                    queue.push_back(next.clone());
                }
            };
            if let Some(links) = self.repo.links.get(&digest) {
                for c in &links.children {
                    reach(
                        &c.digest,
                        Because::ChildOf(digest.clone(), c.platform.clone()),
                    );
                }
            }
            for s in self.describes.get(&digest).into_iter().flatten() {
                reach(s, Because::DescribedBy(digest.clone()));
            }
            for r in self.described_by.get(&digest).into_iter().flatten() {
                reach(r, Because::Describes(digest.clone()));
            }
        }
        kept
    }

    /// Why `digest` stays, in words.
    fn reason(&self, digest: &Digest, kept: &BTreeMap<Digest, Because>) -> String {
        let Some(because) = kept.get(digest) else {
            return "needed by what stays".into();
        };
        let (phrase, keeper) = match because {
            Because::Root(reason) => return reason.clone(),
            Because::Lacking => return LACKING.into(),
            Because::ChildOf(k, Some(p)) => (format!("a platform ({p}) of {}", self.label(k)), k),
            Because::ChildOf(k, None) => (format!("listed in {}", self.label(k)), k),
            Because::DescribedBy(k) => (format!("described by {}", self.label(k)), k),
            Because::Describes(k) => (format!("describes {}", self.label(k)), k),
        };
        match kept.get(keeper) {
            Some(Because::Root(why)) => format!("{phrase}, which stays ({why})"),
            Some(Because::Lacking) => format!("{phrase}, which stays ({LACKING})"),
            _ => format!("{phrase}, which stays"),
        }
    }
}

/// Decides, for one repository, which manifests the deletion takes and which it keeps (with the
/// reason), in the order to delete them, those it keeps last. Listed: every manifest a verified
/// tag names, what goes with the deleted ones, and what was considered and stays (a referrer the
/// target lacks, a selected signature of a manifest that stays).
pub fn decide(repo: &Repository) -> Vec<Decision> {
    let graph = Graph::new(repo);
    // Tagged manifests (not followers) whose tags are all (`every`) or some verified.
    let verified_roots = |every: bool| -> BTreeSet<Digest> {
        let verified = |t: &&str| repo.tags[*t].standing == Standing::Verified;
        graph
            .tags_of
            .iter()
            .filter(|(d, tags)| {
                !graph.followers.contains(**d)
                    && if every {
                        tags.iter().all(verified)
                    } else {
                        tags.iter().any(verified)
                    }
            })
            .map(|(d, _)| (*d).clone())
            .collect()
    };
    // Manifests every tag of which the deletion may take.
    let selected = verified_roots(true);
    let mut deleted = selected.clone();
    // What earlier rounds found needed stays, with the reason found then.
    let mut pinned: BTreeMap<Digest, Because> = BTreeMap::new();
    // Each round keeps at least one more selected manifest, or ends.
    let (gone, kept) = loop {
        let gone = graph.going_with(&deleted);
        let kept = graph.staying(&gone, &pinned);
        let needed: BTreeSet<Digest> = deleted
            .iter()
            .filter(|d| kept.contains_key(*d))
            .cloned()
            .collect();
        if needed.is_empty() {
            let gone: BTreeMap<Digest, Option<Digest>> = gone
                .into_iter()
                .filter(|(d, _)| !kept.contains_key(d))
                .collect();
            break (gone, kept);
        }
        for d in gone.keys() {
            if let Some(because) = kept.get(d) {
                pinned.insert(d.clone(), because.clone());
            }
        }
        deleted.retain(|d| !needed.contains(d));
    };
    let depth = |digest: &Digest| {
        let mut depth = 0;
        let mut at = digest;
        while let Some(Some(subject)) = gone.get(at) {
            depth += 1;
            at = subject;
            if depth > MAX_INDEX_DEPTH {
                break;
            }
        }
        depth
    };
    let mut decisions: Vec<(usize, Decision)> = Vec::new();
    let tags_of = |d: &Digest| graph.tags(d).iter().map(|t| t.to_string()).collect();
    for (digest, with) in &gone {
        // What describes a manifest before it; referrers before a referrers index.
        let order = 1 + 2 * depth(digest) + usize::from(!graph.followers.contains(digest));
        decisions.push((
            order,
            Decision {
                digest: digest.clone(),
                tags: tags_of(digest),
                describes: with.clone(),
                kept: None,
            },
        ));
    }
    // Every manifest a verified tag names, whether it goes or stays.
    let named = verified_roots(false);
    let considered = named.iter().chain(
        // Selected signatures and referrers indexes of manifests that stay, referrers the target
        // lacks.
        kept.iter()
            .filter(|(d, because)| {
                let verified_follower = graph.followers.contains(*d)
                    && graph
                        .tags(d)
                        .iter()
                        .any(|t| repo.tags[*t].standing == Standing::Verified);
                let lacking = matches!(because, Because::Lacking);
                (verified_follower || lacking) && !named.contains(*d)
            })
            .map(|(d, _)| d),
    );
    for digest in considered {
        if let Some(because) = kept.get(digest) {
            let describes = match because {
                Because::Describes(s) => Some(s.clone()),
                _ => graph.describes.get(digest).and_then(|s| s.first().cloned()),
            }
            .filter(|_| !named.contains(digest));
            decisions.push((
                0,
                Decision {
                    digest: digest.clone(),
                    tags: tags_of(digest),
                    describes,
                    kept: Some(graph.reason(digest, &kept)),
                },
            ));
        }
    }
    decisions.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.digest.cmp(&b.1.digest)));
    decisions.into_iter().map(|(_, d)| d).collect()
}

/// Reads what [`decide`] needs about one repository: every tag with its digest (the selected ones
/// compared with the target's), the untagged manifests the source lists, the links of every
/// manifest they reach (walked with the [`Walker`] of [`crate::graph`]), the referrers of every
/// manifest a selected tag names and whether the target holds them. `jobs` requests at once.
pub async fn survey(
    source: Arc<dyn Source>,
    target: Arc<dyn Store>,
    pair: &RepoPair,
    matcher: &Matcher,
    jobs: usize,
) -> Result<Repository> {
    let jobs = jobs.max(1);
    let names = source.tags(&pair.source).await?;
    if let Some((bad, reason)) = names
        .iter()
        .find_map(|t| crate::endpoint::validate_tag(t).err().map(|r| (t, r)))
    {
        return Err(crate::error::Error::invalid(
            format!("tag `{}` of `{}`", crate::digest::truncate(bad), pair.source),
            format!("{reason}; what it points at cannot be read, so nothing in this repository is deleted"),
        ));
    }
    let selected: BTreeSet<String> =
        crate::walk::select_tags(source.as_ref(), matcher, pair, names.clone())
            .await?
            .into_iter()
            .collect();
    let here = crate::walk::tag_digests(source.as_ref(), &pair.source, names, jobs).await?;
    // The target's digest of each selected tag the source still has.
    let read: Vec<(String, Option<Digest>, Option<Option<Digest>>)> = futures::stream::iter(here)
        .map(|(name, here)| {
            let (target, selected) = (&target, &selected);
            async move {
                let there = match (&here, selected.contains(&name)) {
                    (Some(_), true) => {
                        Some(Source::manifest_digest(target.as_ref(), &pair.target, &name).await?)
                    }
                    _ => None,
                };
                Ok::<_, crate::error::Error>((name, here, there))
            }
        })
        .buffer_unordered(jobs)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<_>>()?;
    let mut repo = Repository {
        name: pair.source.clone(),
        ..Default::default()
    };
    for (name, here, there) in read {
        let Some(digest) = here else { continue };
        let standing = match there {
            None => Standing::Unselected,
            Some(there) if there.as_ref() == Some(&digest) => Standing::Verified,
            Some(_) => Standing::Changed,
        };
        repo.tags.insert(name, Tag { digest, standing });
    }
    let tagged: BTreeSet<Digest> = repo.tags.values().map(|t| t.digest.clone()).collect();
    if let Some(all) = source.all_manifests(&pair.source).await? {
        repo.untagged = all.into_iter().filter(|d| !tagged.contains(d)).collect();
    }
    let walker = Walker::new(source.clone());
    let in_source = RepoPair {
        source: pair.source.clone(),
        target: pair.source.clone(),
        name: pair.name.clone(),
    };
    let roots: Vec<Digest> = tagged.iter().chain(&repo.untagged).cloned().collect();
    walk_links(&walker, &in_source, roots, jobs, &mut repo.links).await?;
    // The referrers of what may go, and theirs.
    let mut pending: Vec<Digest> = repo
        .tags
        .values()
        .filter(|t| t.standing == Standing::Verified)
        .map(|t| t.digest.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    for _ in 0..MAX_INDEX_DEPTH {
        if pending.is_empty() {
            break;
        }
        let listed: Vec<(Digest, Option<Vec<crate::manifest::Reference>>)> =
            futures::stream::iter(pending)
                .map(|subject| {
                    let source = &source;
                    async move {
                        let list = source.referrers(&pair.source, &subject).await?;
                        Ok::<_, crate::error::Error>((subject, list))
                    }
                })
                .buffer_unordered(jobs)
                .collect::<Vec<_>>()
                .await
                .into_iter()
                .collect::<Result<_>>()?;
        let mut found = BTreeSet::new();
        for (subject, list) in listed {
            let list: BTreeSet<Digest> = list.into_iter().flatten().map(|r| r.digest).collect();
            found.extend(list.iter().cloned());
            repo.referrers.insert(subject, list);
        }
        let unread = found.iter().filter(|r| !repo.links.contains_key(*r));
        let unread: Vec<Digest> = unread.cloned().collect();
        walk_links(&walker, &in_source, unread, jobs, &mut repo.links).await?;
        pending = found
            .into_iter()
            .filter(|r| !repo.referrers.contains_key(r))
            .collect();
    }
    let referrers: BTreeSet<Digest> = repo.referrers.values().flatten().cloned().collect();
    let held: Vec<Option<Digest>> = futures::stream::iter(referrers)
        .map(|r| {
            let target = &target;
            async move {
                let there = Source::manifest_digest(target.as_ref(), &pair.target, r.as_str());
                Ok::<_, crate::error::Error>(there.await?.map(|_| r))
            }
        })
        .buffer_unordered(jobs)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<_>>()?;
    repo.in_target = held.into_iter().flatten().collect();
    // Tags named after a manifest no listing showed: does it exist?
    let unknown: BTreeSet<Digest> = repo
        .tags
        .keys()
        .filter_map(|t| described_by_name(t))
        .filter(|d| !repo.links.contains_key(d) && !repo.referrers.contains_key(d))
        .filter(|d| {
            !repo
                .links
                .values()
                .any(|l| l.children.iter().any(|c| &c.digest == d))
        })
        .collect();
    for digest in unknown {
        if source
            .manifest_digest(&pair.source, digest.as_str())
            .await?
            .is_some()
        {
            repo.exists.insert(digest);
        }
    }
    Ok(repo)
}

/// Walks the graphs of `roots` and records the links of every manifest in them.
async fn walk_links(
    walker: &Walker,
    pair: &RepoPair,
    roots: Vec<Digest>,
    jobs: usize,
    links: &mut BTreeMap<Digest, Links>,
) -> Result<()> {
    let nodes: Vec<Arc<Node>> = futures::stream::iter(roots)
        .map(|digest| async move { walker.graph_of_digest(pair, &digest).await })
        .buffer_unordered(jobs)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<_>>()?;
    let mut stack: Vec<Arc<Node>> = nodes;
    while let Some(node) = stack.pop() {
        if links.contains_key(&node.manifest.digest) {
            continue;
        }
        let entry = Links {
            children: node
                .view
                .children()
                .iter()
                .map(|c| Child {
                    digest: c.digest.clone(),
                    platform: c.platform.clone(),
                })
                .collect(),
            subject: node.view.subject().map(|s| s.digest.clone()),
        };
        links.insert(node.manifest.digest.clone(), entry);
        stack.extend(node.children.iter().cloned());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(n: u8) -> Digest {
        format!("sha256:{}", format!("{n:02x}").repeat(32))
            .parse()
            .unwrap()
    }

    /// A repository `team/svc` built by hand.
    #[derive(Default)]
    struct Build(Repository);

    impl Build {
        fn new() -> Self {
            Build(Repository {
                name: "team/svc".into(),
                ..Default::default()
            })
        }

        fn tag(mut self, name: &str, d: u8, standing: Standing) -> Self {
            let tag = Tag {
                digest: digest(d),
                standing,
            };
            self.0.tags.insert(name.into(), tag);
            self.0.links.entry(digest(d)).or_default();
            self
        }

        fn index(mut self, d: u8, children: &[(u8, &str)]) -> Self {
            self.0.links.entry(digest(d)).or_default().children = children
                .iter()
                .map(|(c, p)| Child {
                    digest: digest(*c),
                    platform: Some(p.to_string()),
                })
                .collect();
            for (c, _) in children {
                self.0.links.entry(digest(*c)).or_default();
            }
            self
        }

        /// `r` is a referrer of `subject`, listed by the source; `in_target` when the target has it.
        fn referrer(mut self, r: u8, subject: u8, in_target: bool) -> Self {
            self.0.links.entry(digest(r)).or_default().subject = Some(digest(subject));
            self.0
                .referrers
                .entry(digest(subject))
                .or_default()
                .insert(digest(r));
            if in_target {
                self.0.in_target.insert(digest(r));
            }
            self
        }
    }

    fn outcome(decisions: &[Decision], d: u8) -> Option<&Decision> {
        decisions.iter().find(|x| x.digest == digest(d))
    }

    fn deleted(decisions: &[Decision]) -> BTreeSet<Digest> {
        decisions
            .iter()
            .filter(|d| d.kept.is_none())
            .map(|d| d.digest.clone())
            .collect()
    }

    #[test]
    fn a_platform_of_an_index_that_stays_is_kept_though_a_selected_tag_names_it() {
        // The reviewer's case: `amd64-only` names a child of `latest`, which the selection
        // leaves out.
        let repo = Build::new()
            .tag("latest", 1, Standing::Unselected)
            .index(1, &[(2, "linux/amd64"), (3, "linux/arm64/v8")])
            .tag("amd64-only", 2, Standing::Verified)
            .0;
        let decisions = decide(&repo);
        assert!(deleted(&decisions).is_empty(), "{decisions:?}");
        let kept = outcome(&decisions, 2).unwrap();
        assert_eq!(kept.tags, ["amd64-only"]);
        assert_eq!(
            kept.kept.as_deref(),
            Some("a platform (linux/amd64) of team/svc:latest, which stays (the selection leaves `latest` out)")
        );
    }

    #[test]
    fn deleting_an_index_leaves_its_children_to_garbage_collection() {
        let repo = Build::new()
            .tag("v1", 1, Standing::Verified)
            .index(1, &[(2, "linux/amd64")])
            .tag("amd64-only", 2, Standing::Unselected)
            .0;
        let decisions = decide(&repo);
        assert_eq!(deleted(&decisions), BTreeSet::from([digest(1)]));
        assert!(outcome(&decisions, 2).is_none(), "never a candidate");
    }

    #[test]
    fn nested_indexes_keep_what_they_reach_at_any_depth() {
        let repo = Build::new()
            .tag("latest", 1, Standing::Changed)
            .index(1, &[(2, "linux/amd64")])
            .index(2, &[(3, "linux/amd64")])
            .tag("deep", 3, Standing::Verified)
            .0;
        let decisions = decide(&repo);
        assert!(deleted(&decisions).is_empty());
        let reason = outcome(&decisions, 3).unwrap().kept.clone().unwrap();
        assert!(reason.contains("@sha256:0202"), "{reason}");
    }

    #[test]
    fn referrers_go_with_their_subject_when_the_target_holds_them() {
        let repo = Build::new()
            .tag("v1", 1, Standing::Verified)
            .referrer(5, 1, true)
            .referrer(6, 5, true)
            .0;
        let decisions = decide(&repo);
        let order: Vec<Digest> = decisions.iter().map(|d| d.digest.clone()).collect();
        assert_eq!(
            order,
            [digest(6), digest(5), digest(1)],
            "what describes first"
        );
        assert!(decisions.iter().all(|d| d.kept.is_none()));
        assert_eq!(outcome(&decisions, 5).unwrap().describes, Some(digest(1)));
        assert_eq!(outcome(&decisions, 6).unwrap().describes, Some(digest(5)));
    }

    #[test]
    fn a_referrer_the_target_lacks_keeps_its_subject() {
        let repo = Build::new()
            .tag("v1", 1, Standing::Verified)
            .referrer(5, 1, false)
            .0;
        let decisions = decide(&repo);
        assert!(deleted(&decisions).is_empty(), "{decisions:?}");
        let referrer = outcome(&decisions, 5).unwrap();
        assert_eq!(referrer.kept.as_deref(), Some(LACKING));
        let subject = outcome(&decisions, 1).unwrap();
        assert!(
            subject
                .kept
                .as_deref()
                .unwrap()
                .starts_with("described by team/svc@sha256:0505"),
            "{subject:?}"
        );
    }

    #[test]
    fn a_referrer_tag_left_out_keeps_its_subject() {
        let repo = Build::new()
            .tag("v1", 1, Standing::Verified)
            .referrer(5, 1, true)
            .tag("sbom", 5, Standing::Unselected)
            .0;
        let decisions = decide(&repo);
        assert!(deleted(&decisions).is_empty());
        assert_eq!(
            outcome(&decisions, 1).unwrap().kept.as_deref(),
            Some("described by team/svc:sbom, which stays (the selection leaves `sbom` out)")
        );
    }

    #[test]
    fn a_referrers_index_tag_follows_its_subject() {
        let index_tag = format!("sha256-{}", digest(1).hex());
        let stays = Build::new()
            .tag("v1", 1, Standing::Unselected)
            .tag(&index_tag, 9, Standing::Verified)
            .index(9, &[(5, "")])
            .referrer(5, 1, true)
            .0;
        let decisions = decide(&stays);
        assert!(deleted(&decisions).is_empty(), "{decisions:?}");
        let index = outcome(&decisions, 9).unwrap();
        assert!(index
            .kept
            .as_deref()
            .unwrap()
            .contains("describes team/svc:v1"));

        let goes = Build::new()
            .tag("v1", 1, Standing::Verified)
            .tag(&index_tag, 9, Standing::Unselected)
            .index(9, &[(5, "")])
            .referrer(5, 1, true)
            .0;
        let decisions = decide(&goes);
        let order: Vec<Digest> = decisions.iter().map(|d| d.digest.clone()).collect();
        assert_eq!(order, [digest(5), digest(9), digest(1)], "{decisions:?}");
        assert!(decisions.iter().all(|d| d.kept.is_none()));
    }

    #[test]
    fn a_signature_tag_left_out_keeps_its_image() {
        let sig = format!("sha256-{}.sig", digest(1).hex());
        let repo = Build::new()
            .tag("v1", 1, Standing::Verified)
            .tag(&sig, 7, Standing::Unselected)
            .0;
        let decisions = decide(&repo);
        assert!(deleted(&decisions).is_empty());
        let reason = outcome(&decisions, 1).unwrap().kept.clone().unwrap();
        assert!(reason.contains(&format!("leaves `{sig}` out")), "{reason}");

        let selected = Build::new()
            .tag("v1", 1, Standing::Verified)
            .tag(&sig, 7, Standing::Verified)
            .0;
        let decisions = decide(&selected);
        assert_eq!(deleted(&decisions), BTreeSet::from([digest(1), digest(7)]));
        assert_eq!(decisions[0].digest, digest(7), "the signature first");
    }

    #[test]
    fn an_untagged_manifest_the_source_lists_keeps_what_it_needs() {
        let mut repo = Build::new()
            .tag("amd64-only", 2, Standing::Verified)
            .index(1, &[(2, "linux/amd64")])
            .0;
        repo.untagged.insert(digest(1));
        let decisions = decide(&repo);
        assert!(deleted(&decisions).is_empty());
        let reason = outcome(&decisions, 2).unwrap().kept.clone().unwrap();
        assert!(reason.contains("(untagged"), "{reason}");
    }

    #[test]
    fn a_tag_that_stays_keeps_its_manifest() {
        let repo = Build::new()
            .tag("v1", 1, Standing::Verified)
            .tag("latest", 1, Standing::Unselected)
            .tag("v0", 2, Standing::Verified)
            .0;
        let decisions = decide(&repo);
        assert_eq!(deleted(&decisions), BTreeSet::from([digest(2)]));
        assert_eq!(
            outcome(&decisions, 1).unwrap().kept.as_deref(),
            Some("the selection leaves `latest` out")
        );
    }

    #[test]
    fn tag_names_that_describe_a_manifest() {
        let d = digest(1);
        assert_eq!(
            described_by_name(&format!("sha256-{}", d.hex())),
            Some(d.clone())
        );
        assert_eq!(
            described_by_name(&format!("sha256-{}.att", d.hex())),
            Some(d)
        );
        assert_eq!(described_by_name("sha256-abc.sig"), None);
        assert_eq!(described_by_name("v1"), None);
        assert!(is_referrers_tag("sha256-abc"));
        assert!(!is_referrers_tag("sha256-abc.sig"));
    }
}
