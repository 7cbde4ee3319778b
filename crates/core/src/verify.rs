//! Proves that a target holds what a source holds: tag by tag, the same digest on both sides;
//! with `deep`, every manifest, child manifest, config and layer reachable from the target's tags
//! exists in the target with the right size and digest, and every referrer of a source manifest is
//! in the target too, listed there for its subject; with `content` as well, every blob the deep
//! check reaches is read from the target once per digest and hashed while it streams, so a stored
//! copy damaged in place (same size, other bytes) is found. Manifests are always checked against their digest as they are
//! read: the transports refuse a manifest read by digest whose bytes hash to another one.
//!
//! Repositories and tags are listed through [`crate::walk`]. The deep check walks graphs with the
//! [`Walker`] of [`crate::graph`] that `copy` and `inventory` use: over the target, keeping the
//! graphs, to check every manifest and blob; and over the source's referrers, with a visitor that
//! prunes each referrer, looks it up in the target and in the target's listing of its subject's
//! referrers.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use futures::StreamExt;
use serde::Serialize;

use crate::copy::Problem;
use crate::digest::{Digest, VerifyingStream};
use crate::error::{Error, Result};
use crate::graph::{RepositoryCountdown, Step, Visitor, Walker};
use crate::manifest::Reference;
use crate::transport::{paced, Held, Store};
use crate::walk::{self, Matcher, RepoPair};

/// How a verify runs.
#[derive(Clone)]
pub struct VerifyOptions {
    /// What is compared, and the name mapping.
    pub matcher: Matcher,
    /// Also walk the target's graphs and check every blob and child manifest, and referrers.
    pub deep: bool,
    /// Requests at once to start with, and at least: four per job.
    pub jobs: usize,
    /// Most requests at once: four per `max_jobs`, reached while the round trips to both sides
    /// stay steady (a distant registry); see [`crate::limit::LatencyLimit`]. `jobs` or less keeps
    /// the number fixed; absent, four times `jobs`.
    pub max_jobs: Option<usize>,
    /// Also require the manifests no tag points at, where the source can list them (layouts,
    /// ACR): each must exist in the target by digest (never with a tag expression in `matcher`).
    pub untagged: bool,
    /// With `deep`, also require non-distributable layers (descriptors with `urls`) in the
    /// target, as a copy with the same option brings them.
    pub nondistributable: bool,
    /// With `deep`, also read every blob found in the target, once per digest (from the first
    /// repository that holds it), and check its SHA-256 and size while it streams; `jobs` blobs
    /// are read at once.
    pub content: bool,
}

/// The verdict.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Report {
    /// Repositories compared.
    pub repositories: u64,
    /// Source tags compared.
    pub tags: u64,
    /// Tags with the same digest on both sides.
    pub tags_ok: u64,
    /// Tags (or repositories) of the source that the target lacks.
    pub missing: Vec<Problem>,
    /// Tags that point at another digest in the target.
    pub different: Vec<Problem>,
    /// Tags (and manifests without a tag) the target lacks whose source manifest this tool does
    /// not copy (Docker schema 1): the target lacks them all the same, so the verify does not
    /// pass (deleting the source would lose them), but copying again will not bring them.
    pub unsupported: Vec<Problem>,
    /// Tags the target lacks whose graph is incomplete in the source itself (an index's child
    /// manifest missing there), and referrers the source lists but lacks (a stale entry of a
    /// referrers fallback tag, named by that tag, once, as `copy` names it; the target lacks
    /// them too): the verify does not pass, and copying again will not help until the source
    /// is repaired.
    pub broken_in_source: Vec<Problem>,
    /// Tags and repositories the target has in addition (not a failure); not the referrers
    /// fallback tags a copy wrote for subjects the source lists referrers for.
    pub extra: Vec<Problem>,
    /// Deep check: manifests checked in the target.
    pub manifests_checked: u64,
    /// Deep check: blobs checked in the target (each in every repository that needs it).
    pub blobs_checked: u64,
    /// Content check: blobs read from the target and hashed (once per digest).
    pub blobs_read: u64,
    /// Content check: bytes read from the target and hashed.
    pub bytes_read: u64,
    /// Deep check: referrers checked.
    pub referrers_checked: u64,
    /// Manifests the source lists without a tag of their own (index children and untagged
    /// manifests, as `inventory` counts them), checked in the target (where the source lists
    /// them).
    pub untagged_checked: u64,
    /// Deep check: broken content in the target (missing child, blob, wrong size, damaged
    /// manifest, a referrer missing or not listed for its subject).
    pub broken: Vec<Problem>,
    /// Deep check with [`VerifyOptions::nondistributable`]: non-distributable layers (with
    /// `urls`) that neither the target nor the source holds, left to their URLs as a copy
    /// leaves them (not broken).
    pub nondistributable_left_to_urls: u64,
    /// Errors that kept something from being compared.
    pub errors: Vec<Problem>,
    /// True when the deep check ran.
    pub deep: bool,
    /// True when the deep check also read the content of every blob it found.
    pub content: bool,
    /// The most requests the run allowed at once (its limit; it grows over a slow link, see
    /// [`VerifyOptions::max_jobs`]).
    pub peak_requests: usize,
    /// Seconds taken.
    pub seconds: f64,
}

impl Report {
    /// True when the target holds everything the source holds.
    pub fn passed(&self) -> bool {
        self.missing.is_empty()
            && self.different.is_empty()
            && self.unsupported.is_empty()
            && self.broken_in_source.is_empty()
            && self.broken.is_empty()
            && self.errors.is_empty()
    }
}

/// The first error of a registry given up during the verify (it stopped answering, see
/// [`crate::transport::registry::health`]): the verify then ends with that one error instead of
/// listing every item it could not check.
#[derive(Default)]
struct GivenUp(Mutex<Option<Error>>);

impl GivenUp {
    /// The text of `e` for a problem's reason, keeping `e` when it gives a registry up (it
    /// stopped answering, or every read would fail the same way: blob storage whose certificate
    /// is not trusted), so that the verify ends with it, in one line, as a copy does.
    fn text(&self, e: Error) -> String {
        let text = e.to_string();
        if e.stopped_answering() || matches!(e, Error::Unreachable { .. }) {
            self.0.lock().expect("given-up lock").get_or_insert(e);
        }
        text
    }

    /// `Err` with the error of a registry given up, if one was.
    fn check(&self) -> Result<()> {
        match self.0.lock().expect("given-up lock").take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

enum TagVerdict {
    Ok(Digest),
    Missing,
    /// Missing, and the source's manifest is one this tool does not copy (the reason).
    Unsupported(String),
    /// Missing, and the source's graph is incomplete (the reason).
    BrokenInSource(String),
    /// A referrers fallback tag of the source that lists referrers the source lacks (stale
    /// entries), one problem each; the target holds or lists every other.
    Stale(Vec<Problem>),
    Different(Digest, Digest),
    Error(String),
}

/// Compares `target` with `source`.
pub async fn verify(
    source: Arc<dyn Store>,
    target: Arc<dyn Store>,
    options: &VerifyOptions,
) -> Result<Report> {
    let started = std::time::Instant::now();
    let (source, target, limit) = paced::pair(source, target, options.jobs, options.max_jobs);
    let at_once = limit.ceiling();
    let matcher = &options.matcher;
    let (pairs, listed) = walk::repositories_and_names(source.as_ref(), matcher).await?;
    // The target seen through the same filters, with its own prefix.
    let reverse = Matcher::new(matcher.selection().reversed(&listed))?;
    // A target that does not list its repositories (GHCR, Docker Hub) is asked about the
    // source's, tag by tag; only its extra repositories then go unreported.
    let target_pairs = match walk::repositories(target.as_ref(), &reverse).await {
        Ok(pairs) => pairs,
        Err(e) if walk::is_catalog_unavailable(&e) => Vec::new(),
        Err(e) => return Err(e),
    };
    let target_names: BTreeSet<String> = target_pairs.iter().map(|p| p.name.clone()).collect();
    let source_names: BTreeSet<String> = pairs.iter().map(|p| p.name.clone()).collect();

    let mut report = Report {
        repositories: pairs.len() as u64,
        deep: options.deep,
        content: options.deep && options.content,
        ..Default::default()
    };
    for extra in target_names.difference(&source_names) {
        report.extra.push(Problem {
            item: matcher.target_name(extra),
            reason: "repository only in the target".into(),
        });
    }
    let src_listed = walk::tags(source.clone(), matcher, pairs.clone(), at_once).await;
    let dst_listed = walk::tags(
        target.clone(),
        &reverse,
        pairs
            .iter()
            .filter(|p| target_names.contains(&p.name))
            .map(|p| RepoPair {
                source: p.target.clone(),
                target: p.target.clone(),
                name: p.name.clone(),
            })
            .collect(),
        at_once,
    )
    .await;
    let dst_tags: BTreeMap<String, BTreeSet<String>> = dst_listed
        .into_iter()
        .map(|(p, t)| (p.name, t.unwrap_or_default().tags.into_iter().collect()))
        .collect();

    let given_up = Arc::new(GivenUp::default());
    let mut work = Vec::new();
    // Referrers fallback tags only in the target, looked at below.
    let mut fallback_only = Vec::new();
    for (pair, tags) in src_listed {
        match tags {
            Ok(walk::TagList { tags, invalid }) => {
                for (tag, e) in invalid {
                    report.errors.push(Problem {
                        item: format!("{}:{tag}", pair.source),
                        reason: format!("cannot be compared: {e}"),
                    });
                }
                if let Some(in_target) = dst_tags.get(&pair.name) {
                    let src_set: BTreeSet<&String> = tags.iter().collect();
                    for extra in in_target.iter().filter(|t| !src_set.contains(t)) {
                        if crate::referrers::is_fallback_tag(extra) {
                            fallback_only.push((pair.clone(), extra.clone()));
                            continue;
                        }
                        report.extra.push(Problem {
                            item: format!("{}:{extra}", pair.target),
                            reason: "tag only in the target".into(),
                        });
                    }
                }
                work.extend(tags.into_iter().map(|t| (pair.clone(), t)));
            }
            Err(e) => report.errors.push(Problem {
                item: pair.source.clone(),
                reason: format!("cannot list tags in the source: {}", given_up.text(e)),
            }),
        }
    }
    given_up.check()?;
    report
        .extra
        .extend(fallback_extras(&source, fallback_only, at_once).await);
    report.tags = work.len() as u64;

    // Under `deep`, a missing tag's walk of the source also asks for its blobs: a layer the
    // source lost is its gap (as `copy` reports it), not a tag a copy would bring.
    let blobs_of_missing = options.deep;
    let verdicts: Vec<(RepoPair, String, TagVerdict)> = futures::stream::iter(work)
        .map(|(pair, tag)| {
            let source = source.clone();
            let target = target.clone();
            let given_up = given_up.clone();
            async move {
                let (s, d) = futures::join!(
                    source.manifest_digest(&pair.source, &tag),
                    crate::transport::Source::manifest_digest(target.as_ref(), &pair.target, &tag)
                );
                let verdict = match (s, d) {
                    (Err(e), _) => TagVerdict::Error(format!("source: {}", given_up.text(e))),
                    (_, Err(e)) => TagVerdict::Error(format!("target: {}", given_up.text(e))),
                    (Ok(None), _) => {
                        TagVerdict::Error("listed by the source but not found when read".into())
                    }
                    (Ok(Some(a)), Ok(None)) => {
                        why_missing(&source, &target, &pair, &tag, &a, blobs_of_missing).await
                    }
                    (Ok(Some(a)), Ok(Some(b))) if a == b => TagVerdict::Ok(a),
                    (Ok(Some(a)), Ok(Some(b))) => {
                        fallback_verdict(&source, &target, &pair, &tag, a, b).await
                    }
                };
                (pair, tag, verdict)
            }
        })
        .buffer_unordered(at_once)
        .collect()
        .await;

    let mut deep_roots: Vec<(RepoPair, Digest)> = Vec::new();
    for (pair, tag, verdict) in verdicts {
        let item = format!("{}:{tag}", pair.target);
        match verdict {
            TagVerdict::Ok(digest) => {
                report.tags_ok += 1;
                deep_roots.push((pair, digest));
            }
            TagVerdict::Missing => report.missing.push(Problem {
                item,
                reason: "tag missing in the target".into(),
            }),
            TagVerdict::Unsupported(reason) => report.unsupported.push(Problem { item, reason }),
            TagVerdict::BrokenInSource(reason) => {
                report.broken_in_source.push(Problem { item, reason })
            }
            TagVerdict::Stale(problems) => report.broken_in_source.extend(problems),
            TagVerdict::Different(a, b) => report.different.push(Problem {
                item,
                reason: format!("source has {a}, target has {b}"),
            }),
            TagVerdict::Error(reason) => report.errors.push(Problem { item, reason }),
        }
    }
    given_up.check()?;

    if options.untagged && matcher.selects_untagged() {
        let referrers = matcher.takes_referrers();
        let held = untagged_check(
            &source,
            &target,
            &pairs,
            (at_once, referrers),
            &given_up,
            &mut report,
        )
        .await;
        given_up.check()?;
        deep_roots.extend(held);
    }
    if options.deep {
        deep_roots.sort();
        deep_roots.dedup();
        deep_check(
            source,
            target,
            deep_roots,
            DeepOptions {
                at_once,
                nondistributable: options.nondistributable,
                content_reads: options.content.then_some(options.jobs.max(1)),
                referrers: matcher.takes_referrers(),
            },
            &given_up,
            &mut report,
        )
        .await;
        given_up.check()?;
    }
    for list in [
        &mut report.missing,
        &mut report.different,
        &mut report.unsupported,
        &mut report.broken_in_source,
        &mut report.extra,
        &mut report.broken,
        &mut report.errors,
    ] {
        list.sort_by(|a, b| a.item.cmp(&b.item));
    }
    // A stale entry of a fallback tag is met by the tag's comparison and by the deep check of
    // its subject's referrers: said once.
    report
        .broken_in_source
        .sort_by(|a, b| (&a.item, &a.reason).cmp(&(&b.item, &b.reason)));
    report
        .broken_in_source
        .dedup_by(|a, b| a.item == b.item && a.reason == b.reason);
    report.peak_requests = limit.peak();
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// The referrers fallback tags (`sha256-<hex>`) only in the target that are extra: those of a
/// subject the source lists referrers for are left out, as the listing a copy writes into a
/// target without the referrers API from a source with it (which has no such tags), not content
/// to delete. One referrers listing of the source per tag; one that fails leaves the tag extra.
async fn fallback_extras(
    source: &Arc<dyn Store>,
    tags: Vec<(RepoPair, String)>,
    at_once: usize,
) -> Vec<Problem> {
    futures::stream::iter(tags)
        .map(|(pair, tag)| async move {
            let listed = match crate::referrers::described_by_tag(&tag) {
                Some(subject) => source.referrers(&pair.source, &subject).await,
                None => Ok(None),
            };
            match listed {
                Ok(Some(referrers)) if !referrers.is_empty() => None,
                _ => Some(Problem {
                    item: format!("{}:{tag}", pair.target),
                    reason: "tag only in the target".into(),
                }),
            }
        })
        .buffer_unordered(at_once.max(1))
        .filter_map(|extra| async move { extra })
        .collect()
        .await
}

/// The verdict on a tag the source holds and the target lacks: the source's graph of the tag is
/// walked as a copy walks it (manifests and referrers; with `blobs`, each blob asked for too), so
/// that a tag no copy can bring says why: a Docker schema 1 manifest (unsupported), an index
/// whose child, a referrer or (with `blobs`) a layer the source lacks (broken in the source);
/// otherwise, or when the walk fails another way, missing.
///
/// A referrers fallback tag with a stale entry is never written to a target that lists referrers
/// by subject (a registry with the referrers API, an OCI layout): the copy writes no fallback
/// tags there. The tag is then stale in the source when every entry the target lacks (asked by
/// digest) is missing in the source too, and missing in the target only when one of them is held
/// by the source.
async fn why_missing(
    source: &Arc<dyn Store>,
    target: &Arc<dyn Store>,
    pair: &RepoPair,
    tag: &str,
    in_source: &Digest,
    blobs: bool,
) -> TagVerdict {
    let visitor = ManifestsAndReferrers {
        blobs_of: blobs.then(|| source.clone()),
    };
    let store = source;
    let source: Arc<dyn crate::transport::Source> = source.clone();
    let walker = Walker::without_graphs(source);
    match walker.tag(&visitor, pair, tag).await {
        Err(e) if e.is_unsupported() => TagVerdict::Unsupported(e.to_string()),
        // A referrers fallback tag with stale entries: no copy can write it (a registry refuses
        // an index whose entry it lacks), and `copy` names each entry as the source's gap.
        Err(Error::ChildMissing { index, .. })
            if &index == in_source && crate::referrers::is_fallback_tag(tag) =>
        {
            let held = held_by_target(store, target, pair, in_source).await;
            match stale_entries(store, pair, tag, in_source, &held).await {
                Some(problems) => TagVerdict::Stale(problems),
                None => TagVerdict::Missing,
            }
        }
        Err(e) if e.is_incomplete_store() => TagVerdict::BrokenInSource(crate::copy::source_gap(
            &e,
            &format!("{}:{tag}", pair.source),
        )),
        _ => TagVerdict::Missing,
    }
}

/// The entries of the source's referrers fallback index `index` that the target holds by digest
/// (one `HEAD` of the target per entry, a few at once); an entry that cannot be asked counts as
/// not held.
async fn held_by_target(
    source: &Arc<dyn Store>,
    target: &Arc<dyn Store>,
    pair: &RepoPair,
    index: &Digest,
) -> BTreeSet<Digest> {
    let Ok(index) = source.manifest(&pair.source, index.as_str()).await else {
        return BTreeSet::new();
    };
    let entries = crate::referrers::listed(&index).unwrap_or_default();
    futures::stream::iter(entries)
        .map(|entry| async move {
            let held = crate::transport::Source::manifest_digest(
                target.as_ref(),
                &pair.target,
                entry.as_str(),
            )
            .await;
            matches!(held, Ok(Some(d)) if d == entry).then_some(entry)
        })
        .buffer_unordered(ENTRIES_AT_ONCE)
        .filter_map(|held| async move { held })
        .collect()
        .await
}

/// Entries of a fallback index asked of the target at once.
const ENTRIES_AT_ONCE: usize = 8;

/// A walk of the source's manifests and their referrers ([`why_missing`]); with `blobs_of`, each
/// blob is asked of that source too ([`crate::transport::Source::holds_blob`]), one it lacks
/// ending the walk with [`Error::BlobMissing`].
struct ManifestsAndReferrers {
    blobs_of: Option<Arc<dyn Store>>,
}

#[async_trait]
impl Visitor for ManifestsAndReferrers {
    fn referrers(&self) -> bool {
        true
    }

    /// A referrer the source lists but lacks holds no tag back in a copy (it is reported on its
    /// own, as the source's gap): nor here.
    async fn referrer_missing(
        &self,
        _pair: &RepoPair,
        _subject: &Digest,
        _referrer: &Reference,
        _error: Error,
    ) -> Result<()> {
        Ok(())
    }

    async fn blob(&self, pair: &RepoPair, blob: &Reference) -> Result<()> {
        let Some(source) = &self.blobs_of else {
            return Ok(());
        };
        if source.holds_blob(&pair.source, blob).await? {
            return Ok(());
        }
        Err(Error::BlobMissing {
            repository: pair.source.clone(),
            blob: blob.digest.clone(),
            cause: "not found".into(),
        })
    }
}

/// The verdict on a tag with another digest in the target: for a referrers fallback tag
/// (`sha256-<hex>`) whose target index lists every referrer the source's lists, the same (the
/// copy keeps referrers the target listed beside the source's, [`crate::referrers::merge`]);
/// different otherwise.
async fn fallback_verdict(
    source: &Arc<dyn Store>,
    target: &Arc<dyn Store>,
    pair: &RepoPair,
    tag: &str,
    in_source: Digest,
    in_target: Digest,
) -> TagVerdict {
    if !crate::referrers::is_fallback_tag(tag) {
        return TagVerdict::Different(in_source, in_target);
    }
    let (s, t) = futures::join!(
        source.manifest(&pair.source, in_source.as_str()),
        crate::transport::Source::manifest(target.as_ref(), &pair.target, in_target.as_str())
    );
    match (s, t) {
        (Ok(s), Ok(t)) if crate::referrers::lists_all_of(&t, &s) => TagVerdict::Ok(in_target),
        // The target lists every referrer but those the source lacks too: stale entries of the
        // source's tag, which no copy can bring.
        (Ok(s), Ok(t)) => {
            let held = crate::referrers::listed(&t).unwrap_or_default();
            match stale_entries(source, pair, tag, &s.digest, &held).await {
                Some(problems) => TagVerdict::Stale(problems),
                None => TagVerdict::Different(in_source, in_target),
            }
        }
        _ => TagVerdict::Different(in_source, in_target),
    }
}

/// For the source's referrers fallback tag `tag` (holding the index `index`): when every entry
/// of it that `held` (what the target lists) lacks is missing in the source as well, one problem
/// per such stale entry, worded as `copy` reports it ([`crate::copy::dangling_problem`]); `None`
/// when an entry the target lacks is one the source holds (a copy would bring it), or the
/// entries cannot be read. One `HEAD` of the source per entry the target lacks.
async fn stale_entries(
    source: &Arc<dyn Store>,
    pair: &RepoPair,
    tag: &str,
    index: &Digest,
    held: &BTreeSet<Digest>,
) -> Option<Vec<Problem>> {
    let subject = crate::referrers::described_by_tag(tag)?;
    let index = source.manifest(&pair.source, index.as_str()).await.ok()?;
    let lacking: Vec<Digest> = crate::referrers::listed(&index)?
        .into_iter()
        .filter(|d| !held.contains(d))
        .collect();
    if lacking.is_empty() {
        return None;
    }
    let mut problems = Vec::new();
    for referrer in lacking {
        match source
            .manifest_digest(&pair.source, referrer.as_str())
            .await
        {
            Ok(None) => problems.push(crate::copy::dangling_problem(
                pair, &subject, &referrer, true,
            )),
            _ => return None,
        }
    }
    Some(problems)
}

/// Every manifest the source lists beyond its tags (untagged ones, index children, referrers) must be
/// in the target by digest; without `referrers` (`--no-referrers`), not a referrer (a manifest
/// with a `subject`), which the copy left behind. Returns those the target holds, each with its
/// pair, for the deep check to walk as it walks tags. `(at_once, referrers)`.
async fn untagged_check(
    source: &Arc<dyn Store>,
    target: &Arc<dyn Store>,
    pairs: &[RepoPair],
    (at_once, referrers): (usize, bool),
    given_up: &GivenUp,
    report: &mut Report,
) -> Vec<(RepoPair, Digest)> {
    let results: Vec<UntaggedFindings> = futures::stream::iter(pairs.to_vec())
        .map(|pair| {
            let source = source.clone();
            let target = target.clone();
            async move {
                let mut found = UntaggedFindings::default();
                let all = match source.all_manifests(&pair.source).await {
                    Ok(Some(all)) => all,
                    Ok(None) => return found,
                    Err(e) => {
                        found.errors.push(Problem {
                            item: pair.source.clone(),
                            reason: format!(
                                "cannot list manifests in the source: {}",
                                given_up.text(e)
                            ),
                        });
                        return found;
                    }
                };
                let tagged: BTreeSet<Digest> = match source.tag_digests(&pair.source).await {
                    Ok(Some(list)) => list.into_iter().map(|(_, d)| d).collect(),
                    _ => BTreeSet::new(),
                };
                for digest in all.into_iter().filter(|d| !tagged.contains(d)) {
                    found.checked += 1;
                    let item = format!("{}@{digest}", pair.target);
                    match target.current_digest(&pair.target, digest.as_str()).await {
                        Ok(Some(_)) => found.held.push((pair.clone(), digest)),
                        // A manifest no copy brings (Docker schema 1) says so; a referrer
                        // stays behind with --no-referrers.
                        Ok(None) => match source
                            .manifest(&pair.source, digest.as_str())
                            .await
                            .map(|m| m.view().map(|v| v.subject().is_some()))
                        {
                            Ok(Err(e)) if e.is_unsupported() => found.unsupported.push(Problem {
                                item,
                                reason: e.to_string(),
                            }),
                            Ok(Ok(true)) if !referrers => found.checked -= 1,
                            _ => found.missing.push(Problem {
                                item,
                                reason: "listed by the source without a tag of its own (an index child or an untagged manifest), missing in the target".into(),
                            }),
                        },
                        Err(e) => found.errors.push(Problem {
                            item,
                            reason: given_up.text(e),
                        }),
                    }
                }
                found
            }
        })
        .buffer_unordered(at_once)
        .collect()
        .await;
    let mut held = Vec::new();
    for found in results {
        report.untagged_checked += found.checked;
        report.missing.extend(found.missing);
        report.unsupported.extend(found.unsupported);
        report.errors.extend(found.errors);
        held.extend(found.held);
    }
    held
}

/// What the check of one repository's manifests without a tag found ([`untagged_check`]).
#[derive(Default)]
struct UntaggedFindings {
    /// Manifests checked.
    checked: u64,
    /// Missing in the target.
    missing: Vec<Problem>,
    /// Missing in the target, and not copied by design (Docker schema 1).
    unsupported: Vec<Problem>,
    /// Not checked: why.
    errors: Vec<Problem>,
    /// Held by the target.
    held: Vec<(RepoPair, Digest)>,
}

/// What the deep check requires beyond complete graphs and present blobs.
struct DeepOptions {
    /// Requests at once.
    at_once: usize,
    /// Non-distributable layers too ([`VerifyOptions::nondistributable`]).
    nondistributable: bool,
    /// Read every blob found and check its content, this many at once
    /// ([`VerifyOptions::content`]); `None`: existence and size only.
    content_reads: Option<usize>,
    /// Referrers checked too (false with `--no-referrers`: [`Matcher::without_referrers`]).
    referrers: bool,
}

/// The deep check: every graph reachable from a verified tag (or an untagged manifest the
/// target holds) complete in the target, every blob there with its size (and, with
/// `content_reads`, the content of each), every referrer of the source there, listed for its
/// subject, and with a complete graph of its own (an SBOM whose layer the target lost is as
/// broken as an image whose layer it lost).
async fn deep_check(
    source: Arc<dyn Store>,
    target: Arc<dyn Store>,
    roots: Vec<(RepoPair, Digest)>,
    deep: DeepOptions,
    given_up: &Arc<GivenUp>,
    report: &mut Report,
) {
    let mut checked = DeepChecked::default();
    let reached = graph_check(
        &source,
        &target,
        roots,
        &deep,
        given_up,
        report,
        &mut checked,
    )
    .await;
    if !deep.referrers {
        report.manifests_checked = checked.manifests.len() as u64;
        report.blobs_checked = checked.blobs.len() as u64;
        return;
    }
    // Referrers of every manifest reached (tags, index children: per-platform signatures),
    // and their own referrers, present in the target and listed for their subjects.
    let held = referrer_check(
        source.clone(),
        target.clone(),
        reached,
        deep.at_once,
        given_up,
        report,
    )
    .await;
    // Each referrer the target holds, its graph walked as a tag's is, unless a root's walk
    // reached it already (a referrers fallback tag's index lists it).
    let mut held: Vec<(RepoPair, Digest)> = held
        .into_iter()
        .filter(|(pair, digest)| {
            !checked
                .manifests
                .contains(&(pair.target.clone(), digest.clone()))
        })
        .collect();
    held.sort();
    held.dedup();
    graph_check(
        &source,
        &target,
        held,
        &deep,
        given_up,
        report,
        &mut checked,
    )
    .await;
    report.manifests_checked = checked.manifests.len() as u64;
    report.blobs_checked = checked.blobs.len() as u64;
}

/// What the deep check's walks have checked, each (target repository, digest) once: a second
/// walk (of the referrers) checks only what the first did not.
#[derive(Default)]
struct DeepChecked {
    /// Manifests read and hashed.
    manifests: BTreeSet<(String, Digest)>,
    /// Blobs asked for.
    blobs: BTreeSet<(String, Digest)>,
}

/// Walks the graphs of `roots` (sorted by repository) in the target: every manifest read and
/// hashed, every blob asked for with its size (and read, with `content_reads`), each not in
/// `checked` yet. Returns the manifests reached, each with its pair, for the referrer check.
async fn graph_check(
    source: &Arc<dyn Store>,
    target: &Arc<dyn Store>,
    roots: Vec<(RepoPair, Digest)>,
    deep: &DeepOptions,
    given_up: &Arc<GivenUp>,
    report: &mut Report,
    checked: &mut DeepChecked,
) -> Vec<(RepoPair, Digest)> {
    let target_source: Arc<dyn crate::transport::Source> = target.clone();
    let walker = Arc::new(Walker::new(target_source));
    // 1. Every graph reachable from a verified tag, walked in the target (digests re-checked on read).
    // A repository's graphs are forgotten after its last root (the roots come sorted, so one
    // repository after another): memory holds the repositories in progress only.
    let mut countdown = RepositoryCountdown::new(roots.iter().map(|(p, _)| p.target.as_str()));
    let mut walked = futures::stream::iter(roots.clone())
        .map(|(pair, digest)| {
            let walker = walker.clone();
            async move {
                let node = walker.graph_of_digest(&in_target(&pair), &digest).await;
                (pair, digest, node)
            }
        })
        .buffer_unordered(deep.at_once);
    // (repository, blob) → a descriptor of it, and each size its descriptors give with a
    // verified tag's manifest that needs it so (descriptors may disagree: each size is checked,
    // each named by the least digest of the manifests giving it, whatever the walk's order).
    let mut blobs: BTreeMap<(String, Digest), (Reference, BTreeMap<u64, Digest>)> = BTreeMap::new();
    let mut manifests: BTreeSet<(String, Digest)> = BTreeSet::new();
    while let Some((pair, digest, node)) = walked.next().await {
        match node {
            Ok(node) => {
                for m in node.manifests() {
                    if !checked
                        .manifests
                        .contains(&(pair.target.clone(), m.clone()))
                    {
                        manifests.insert((pair.target.clone(), m));
                    }
                }
                for (d, b) in node.blobs_with(deep.nondistributable) {
                    if checked.blobs.contains(&(pair.target.clone(), d.clone())) {
                        continue;
                    }
                    let size = b.size;
                    let (_, sizes) = blobs
                        .entry((pair.target.clone(), d))
                        .or_insert_with(|| (b, BTreeMap::new()));
                    let root = sizes.entry(size).or_insert_with(|| digest.clone());
                    if digest < *root {
                        *root = digest.clone();
                    }
                }
            }
            // A Docker schema 1 manifest held by both sides: nothing below it can be checked
            // (its layers are not read), so it does not pass, named as what it is.
            Err(e) if e.is_unsupported() => report.unsupported.push(Problem {
                item: format!("{}@{digest}", pair.target),
                reason: format!("the deep check cannot read below it: {e}"),
            }),
            Err(e) => {
                // A child the source lacks as well: copying again cannot bring it, said here
                // rather than by the copy that would be tried next.
                let in_source_too = match &e {
                    Error::ChildMissing { child, .. } => matches!(
                        source.current_digest(&pair.source, child.as_str()).await,
                        Ok(None)
                    ),
                    _ => false,
                };
                let reason = damaged_manifest(&e).unwrap_or_else(|| {
                    format!(
                        "manifest graph incomplete in the target: {}",
                        given_up.text(e)
                    )
                });
                report.broken.push(Problem {
                    item: format!("{}@{digest}", pair.target),
                    reason: match in_source_too {
                        true => format!("{reason}; the source lacks it too (the source is incomplete: a copy cannot bring it)"),
                        false => reason,
                    },
                });
            }
        }
        countdown.finished(&walker, &pair.target);
    }
    drop(walked);
    checked.manifests.extend(manifests.iter().cloned());
    checked.blobs.extend(blobs.keys().cloned());
    // 2. Every blob present with the size its descriptor gives; a non-distributable layer the
    // target lacks is asked of the source, and left to its URLs when the source lacks it too.
    let source_names: BTreeMap<String, String> = roots
        .iter()
        .map(|(pair, _)| (pair.target.clone(), pair.source.clone()))
        .collect();
    let blob_results: Vec<_> = futures::stream::iter(blobs)
        .map(|((repo, digest), (blob, sizes))| {
            let (source, target) = (source.clone(), target.clone());
            let source_name = source_names.get(&repo).cloned().unwrap_or_default();
            async move {
                let found = target.blob_size(&repo, &digest).await;
                let in_source = match &found {
                    Ok(Held::Missing) if blob.foreign => {
                        Some(source.holds_blob(&source_name, &blob).await)
                    }
                    _ => None,
                };
                (repo, blob, sizes, found, in_source)
            }
        })
        .buffer_unordered(deep.at_once)
        .collect()
        .await;
    // Blob → the repositories that hold it as their descriptors say, each with the image that
    // needs it there, and the descriptor; for the content check.
    let mut present: BTreeMap<Digest, (Reference, Vec<(String, Digest)>)> = BTreeMap::new();
    // Named by the image that needs the blob; the reason names the blob.
    for (repo, blob, sizes, found, in_source) in blob_results {
        let digest = &blob.digest;
        let item = |root: &Digest| format!("{repo}@{root}");
        let Some((_, first)) = sizes.iter().next() else {
            continue;
        };
        match in_source {
            Some(Ok(false)) => {
                report.nondistributable_left_to_urls += 1;
                continue;
            }
            Some(Err(e)) => {
                report.errors.push(Problem {
                    item: item(first),
                    reason: format!(
                        "non-distributable layer {digest}: cannot ask the source for it: {}",
                        given_up.text(e)
                    ),
                });
                continue;
            }
            Some(Ok(true)) | None => {}
        }
        // Held with its size, or without one said (a registry's HEAD without Content-Length:
        // no mismatch then).
        let held = match found {
            Ok(Held::Missing) => {
                for (size, root) in &sizes {
                    report.broken.push(Problem {
                        item: item(root),
                        reason: format!("blob {digest} ({size} bytes) missing in the target"),
                    });
                }
                continue;
            }
            Err(e) => {
                report.errors.push(Problem {
                    item: item(first),
                    reason: format!("blob {digest}: {}", given_up.text(e)),
                });
                continue;
            }
            Ok(held) => held,
        };
        // Every size a descriptor gives is checked; a blob of 0 bytes under a descriptor of
        // more is a mismatch too.
        if let Held::Sized(s) = held {
            // A size no descriptor gives is the target's copy damaged (truncated), which a copy
            // does not replace: said as damaged content is, with what repairs it. One that a
            // descriptor gives makes the others wrong descriptors instead.
            let damaged = match sizes.contains_key(&s) {
                true => "",
                false => ": its stored content is damaged",
            };
            for (size, root) in sizes.iter().filter(|(size, _)| **size != s) {
                report.broken.push(Problem {
                    item: item(root),
                    reason: format!(
                        "blob {digest} has {s} bytes in the target, its descriptor says {size}{damaged}"
                    ),
                });
            }
        }
        let fitting = match held {
            Held::Sized(s) => sizes.get_key_value(&s),
            Held::Unsized | Held::Missing => sizes.iter().next(),
        };
        if let Some((size, root)) = fitting {
            present
                .entry(digest.clone())
                .or_insert_with(|| {
                    (
                        Reference {
                            size: *size,
                            ..blob.clone()
                        },
                        Vec::new(),
                    )
                })
                .1
                .push((repo.clone(), root.clone()));
        }
    }
    if let Some(reads) = deep.content_reads {
        content_check(target, present, reads, given_up, report).await;
    }
    let pairs: BTreeMap<String, RepoPair> = roots
        .into_iter()
        .map(|(pair, _)| (pair.target.clone(), pair))
        .collect();
    manifests
        .into_iter()
        .filter_map(|(repo, digest)| Some((pairs.get(&repo)?.clone(), digest)))
        .collect()
}

/// The reason for a manifest of the target whose stored bytes hash to another digest (read again
/// before it is said: not the way's doing), worded as damaged blobs are, for which `verify` says
/// what repairs them; `None` for any other error.
fn damaged_manifest(e: &Error) -> Option<String> {
    let (digest, actual) = match e {
        Error::DigestMismatch {
            what,
            expected,
            actual,
        } if what.starts_with("manifest ") => (expected.clone(), actual),
        Error::Damaged { digest, actual, .. } => (digest.to_string(), actual),
        _ => return None,
    };
    Some(format!(
        "manifest {digest} read from the target does not match its digest (its content hashes to {actual}): its stored content is damaged"
    ))
}

/// The content check (step 3 of the deep check): every blob found in the target read once per
/// digest, from the first repository that holds it (a registry stores a blob once for all its
/// repositories), its SHA-256 and size checked while it streams. A blob whose bytes differ is
/// broken in every repository that needs it.
async fn content_check(
    target: &Arc<dyn Store>,
    present: BTreeMap<Digest, (Reference, Vec<(String, Digest)>)>,
    reads: usize,
    given_up: &GivenUp,
    report: &mut Report,
) {
    let read: Vec<_> = futures::stream::iter(present)
        .map(|(digest, (blob, needed_by))| {
            let target = target.clone();
            async move {
                let (repo, _) = &needed_by[0];
                let (bytes, checked) = read_checked(target.as_ref(), repo, &blob).await;
                (digest, blob.size, needed_by, bytes, checked)
            }
        })
        .buffer_unordered(reads)
        .collect()
        .await;
    for (digest, size, needed_by, bytes, checked) in read {
        report.bytes_read += bytes;
        // Read to its end (and hashed), whatever the verdict; a blob that could not be read
        // is an error, not a blob read.
        if matches!(
            checked,
            Ok(()) | Err(Error::DigestMismatch { .. } | Error::SizeMismatch { .. })
        ) {
            report.blobs_read += 1;
        }
        let (list, reason) = match checked {
            Ok(()) => continue,
            Err(Error::DigestMismatch { actual, .. }) => (
                &mut report.broken,
                format!(
                    "blob {digest} read from the target hashes to {actual}: its stored content is damaged"
                ),
            ),
            Err(Error::SizeMismatch { actual, .. }) if actual > size => (
                &mut report.broken,
                format!(
                    "blob {digest} read from the target has more than its descriptor's {size} bytes: its stored content is damaged"
                ),
            ),
            Err(Error::SizeMismatch { actual, .. }) => (
                &mut report.broken,
                format!(
                    "blob {digest} read from the target has {actual} bytes, its descriptor says {size}: its stored content is damaged"
                ),
            ),
            Err(e) => (
                &mut report.errors,
                format!("blob {digest}: cannot read its content: {}", given_up.text(e)),
            ),
        };
        for (repo, root) in needed_by {
            list.push(Problem {
                item: format!("{repo}@{root}"),
                reason: reason.clone(),
            });
        }
    }
}

/// Reads `blob` from `repository` to its end, checking its digest and size as it streams (never
/// held whole), and returns the bytes read with the verdict. A read that breaks off in a way
/// that may pass, or whose bytes do not hash to the digest (they may have been damaged on the
/// way, by a proxy or a connection), is tried once more: stored content is called damaged only
/// when a second read from the first byte agrees.
async fn read_checked(target: &dyn Store, repository: &str, blob: &Reference) -> (u64, Result<()>) {
    let mut total = 0;
    let mut attempts = 0;
    loop {
        attempts += 1;
        let (bytes, verdict) = read_once(target, repository, blob).await;
        total += bytes;
        match verdict {
            Err(e)
                if attempts < 2
                    && (e.is_transient() || matches!(e, Error::DigestMismatch { .. })) =>
            {
                continue
            }
            verdict => return (total, verdict),
        }
    }
}

/// One read of [`read_checked`].
async fn read_once(target: &dyn Store, repository: &str, blob: &Reference) -> (u64, Result<()>) {
    let stream = match crate::transport::Source::blob(target, repository, blob).await {
        Ok(stream) => stream,
        Err(e) => return (0, Err(e)),
    };
    let mut checked = VerifyingStream::new(
        stream,
        blob.digest.clone(),
        Some(blob.size),
        format!("blob {repository}@{}", blob.digest),
    );
    let mut bytes = 0;
    while let Some(chunk) = checked.next().await {
        match chunk {
            Ok(chunk) => bytes += chunk.len() as u64,
            Err(e) => return (bytes, Err(e)),
        }
    }
    (bytes, Ok(()))
}

/// The same repository, read in the target.
fn in_target(pair: &RepoPair) -> RepoPair {
    RepoPair {
        source: pair.target.clone(),
        target: pair.target.clone(),
        name: pair.name.clone(),
    }
}

/// Every referrer the source lists for a root must be in the target by digest, and listed
/// there for its subject. Returns the referrers the target holds, each with its pair.
async fn referrer_check(
    source: Arc<dyn Store>,
    target: Arc<dyn Store>,
    roots: Vec<(RepoPair, Digest)>,
    at_once: usize,
    given_up: &Arc<GivenUp>,
    report: &mut Report,
) -> Vec<(RepoPair, Digest)> {
    let source_store = source.clone();
    let source: Arc<dyn crate::transport::Source> = source;
    let walker = Walker::without_graphs(source);
    let check = ReferrerCheck {
        source: source_store,
        target,
        broken_in_source: Mutex::new(Vec::new()),
        checked: AtomicU64::new(0),
        broken: Mutex::new(Vec::new()),
        given_up: given_up.clone(),
        listings: Mutex::new(BTreeMap::new()),
        errors: Mutex::new(Vec::new()),
        held: Mutex::new(Vec::new()),
    };
    let listing_errors: Vec<Problem> = futures::stream::iter(roots)
        .map(|(pair, digest)| {
            let (walker, check) = (&walker, &check);
            async move {
                let result = walker.referrers(check, &pair, &digest).await;
                result.err().map(|e| Problem {
                    item: format!("{}@{digest}", pair.source),
                    reason: format!(
                        "cannot list referrers in the source: {}",
                        check.given_up.text(e)
                    ),
                })
            }
        })
        .buffer_unordered(at_once)
        .filter_map(|p| async move { p })
        .collect()
        .await;
    report.referrers_checked += check.checked.load(Ordering::Relaxed);
    report
        .broken
        .extend(check.broken.into_inner().expect("referrer check lock"));
    report.broken_in_source.extend(
        check
            .broken_in_source
            .into_inner()
            .expect("referrer check lock"),
    );
    report.broken.extend(listing_errors);
    report
        .errors
        .extend(check.errors.into_inner().expect("referrer check lock"));
    check.held.into_inner().expect("referrer check lock")
}

/// The verify hooks in a walk of the source's referrers: each referrer is pruned (not fetched)
/// and looked up in the target by digest; one the target lacks is asked of the source, and one
/// the source lacks too (a stale entry of its fallback tag) is broken in the source, not in the
/// target. One the target holds must also be listed by the target for its subject, as its
/// clients look referrers up ([`ReferrerCheck::target_lists`]).
struct ReferrerCheck {
    source: Arc<dyn Store>,
    target: Arc<dyn Store>,
    /// Referrers the source lists but lacks, as `copy` reports them.
    broken_in_source: Mutex<Vec<Problem>>,
    checked: AtomicU64,
    broken: Mutex<Vec<Problem>>,
    given_up: Arc<GivenUp>,
    /// (target repository, subject) → what the target lists for the subject, read once.
    listings: Mutex<BTreeMap<(String, Digest), Option<TargetListing>>>,
    /// Listings of the target that could not be read, one per subject.
    errors: Mutex<Vec<Problem>>,
    /// The referrers the target holds, for the walk of their graphs.
    held: Mutex<Vec<(RepoPair, Digest)>>,
}

/// The referrers a target lists for a subject, and where.
#[derive(Clone)]
struct TargetListing {
    /// Their digests.
    digests: BTreeSet<Digest>,
    /// True when they come from the subject's referrers fallback tag (a registry without the
    /// referrers API), false from the target's own listing (its referrers API, a layout).
    by_fallback_tag: bool,
}

impl ReferrerCheck {
    /// What the target lists for `subject`: the subject's referrers fallback tag where the
    /// target keeps its referrers so (a registry without the referrers API), else the target's
    /// listing by subject (its referrers API, a layout's entries); read once per subject.
    /// `None` when the target cannot list referrers, or its listing could not be read (an
    /// error, said once).
    async fn target_lists(&self, pair: &RepoPair, subject: &Digest) -> Option<TargetListing> {
        let key = (pair.target.clone(), subject.clone());
        if let Some(known) = self.listings.lock().expect("referrer check lock").get(&key) {
            return known.clone();
        }
        let listed = match self.target.fallback_listing(&pair.target, subject).await {
            Ok(Some(digests)) => Ok(Some(TargetListing {
                digests: digests.into_iter().collect(),
                by_fallback_tag: true,
            })),
            Ok(None) => {
                crate::transport::Source::referrers(self.target.as_ref(), &pair.target, subject)
                    .await
                    .map(|listed| {
                        listed.map(|referrers| TargetListing {
                            digests: referrers.into_iter().map(|r| r.digest).collect(),
                            by_fallback_tag: false,
                        })
                    })
            }
            Err(e) => Err(e),
        };
        let listed = listed.unwrap_or_else(|e| {
            self.errors
                .lock()
                .expect("referrer check lock")
                .push(Problem {
                    item: format!("{}@{subject}", pair.target),
                    reason: format!(
                        "cannot list referrers in the target: {}",
                        self.given_up.text(e)
                    ),
                });
            None
        });
        self.listings
            .lock()
            .expect("referrer check lock")
            .insert(key, listed.clone());
        listed
    }

    /// The reason for `referrer` of `subject`, held by the target, when the target does not
    /// list it for its subject: its clients will not find it. `None` when it does, or cannot
    /// say.
    async fn unlisted(
        &self,
        pair: &RepoPair,
        subject: &Digest,
        referrer: &Digest,
    ) -> Option<String> {
        let listing = self.target_lists(pair, subject).await?;
        if listing.digests.contains(referrer) {
            return None;
        }
        Some(match listing.by_fallback_tag {
            true => format!(
                "referrer of {subject} held by the target but not listed for it: the target has no referrers API and its referrers fallback tag {}:{} lacks it, so its clients will not find it; run the copy again, which lists it",
                pair.target,
                crate::referrers::fallback_tag(subject)
            ),
            false => format!(
                "referrer of {subject} held by the target but not listed for it: the target's listing of the referrers of {subject} lacks it, so its clients will not find it"
            ),
        })
    }
}

#[async_trait]
impl Visitor for ReferrerCheck {
    async fn enter(&self, _pair: &RepoPair, _reference: &Reference) -> Result<Step> {
        Ok(Step::Prune)
    }

    fn referrers(&self) -> bool {
        true
    }

    fn referrers_of_pruned(&self) -> bool {
        true
    }

    async fn referrer(
        &self,
        pair: &RepoPair,
        subject: &Digest,
        referrer: &Reference,
    ) -> Result<()> {
        self.checked.fetch_add(1, Ordering::Relaxed);
        let item = format!("{}@{}", pair.target, referrer.digest);
        let reason = match self
            .target
            .current_digest(&pair.target, referrer.digest.as_str())
            .await
        {
            Ok(Some(_)) => {
                self.held
                    .lock()
                    .expect("referrer check lock")
                    .push((pair.clone(), referrer.digest.clone()));
                match self.unlisted(pair, subject, &referrer.digest).await {
                    Some(reason) => reason,
                    None => return Ok(()),
                }
            }
            Ok(None) => match self
                .source
                .manifest_digest(&pair.source, referrer.digest.as_str())
                .await
            {
                Ok(None) => {
                    let problem = crate::copy::dangling_referrer(
                        self.source.as_ref(),
                        pair,
                        subject,
                        &referrer.digest,
                    )
                    .await;
                    self.broken_in_source
                        .lock()
                        .expect("referrer check lock")
                        .push(problem);
                    return Ok(());
                }
                _ => format!("referrer of {subject} missing in the target"),
            },
            Err(e) => self.given_up.text(e),
        };
        self.broken
            .lock()
            .expect("referrer check lock")
            .push(Problem { item, reason });
        Ok(())
    }
}
