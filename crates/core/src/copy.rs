//! The copy engine: every selected repository and tag of a source into a destination, digests
//! preserved byte for byte.
//!
//! The traversal is the shared [`Walker`] of [`crate::graph`] over the source; the engine is its
//! [`Visitor`]: `enter` prunes a manifest the target already holds (a repository that had no tags
//! is not asked), `blob` puts a blob in place, `leave` pushes the manifest (by digest, or under
//! its tag for a root), and referrers are followed when asked.
//!
//! A tag the target holds with the source's digest is trusted whole: only its referrers are
//! looked at. A deep copy ([`CopyOptions::deep`]) walks below it too, and below every manifest the
//! target holds, with the same existence checks (mount probe, `HEAD`, manifest `HEAD`), pushing
//! nothing the target has; what it lacked is put back and counted
//! ([`Summary::manifests_put_back`], [`Summary::blobs_put_back`]).
//!
//! Order is what keeps the destination consistent at every moment: blobs first, then child
//! manifests (by digest), then the manifest itself, the tag last; the walker calls `leave` only
//! once everything below a manifest is done. A blob moves once per run:
//! already present (HEAD) → nothing; held by another destination repository → cross-repository
//! mount; being uploaded by another task → wait, then mount; else streamed from the source while
//! its SHA-256 is checked ([`crate::digest::VerifyingStream`]).
//!
//! A registry may ignore the `mount` of an upload request and open an upload session instead (the
//! distribution spec allows it; older ECR, some Artifactory and Nexus setups and proxies that drop
//! the query do). A 202 to a mount of a blob the run knows the `from` repository holds proves it
//! (`MountSupport`); from then on existence is checked with a `HEAD` and a blob another
//! repository holds is uploaded again (counted in [`Summary::blobs_copied_again`]). The upload
//! session such a mount opened is used by the upload that follows, or cancelled.
//!
//! Blob transfers run `jobs` at a time, more on slow links: the round trips of the requests to
//! each side are recorded, and while they stay steady the number grows towards `max_jobs`
//! ([`crate::limit::LatencyLimit`]); tags in flight follow at four times it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use futures::StreamExt;
use serde::Serialize;
use tokio::sync::Semaphore;

use crate::digest::{BlobContent, ByteStream, Digest, Reopen};
use crate::error::{Error, Result};
use crate::graph::{OnceMap, RepositoryCountdown, Step, Visitor, Walker};
use crate::limit::LatencyLimit;
use crate::manifest::{RawManifest, Reference, OCI_INDEX};
use crate::referrers;
use crate::transport::{Held, Store};
use crate::walk::{self, Matcher, RepoPair};

/// How a copy runs.
#[derive(Clone)]
pub struct CopyOptions {
    /// Blob transfers at once to start with, and at least. Tags run at four times the current
    /// number.
    pub jobs: usize,
    /// Most blob transfers at once: the number grows from `jobs` towards this while the round
    /// trips to both sides stay steady (a distant registry), and falls back when they stretch
    /// (a busy one); see [`crate::limit::LatencyLimit`]. `jobs` or less keeps it fixed; absent,
    /// four times `jobs`.
    pub max_jobs: Option<usize>,
    /// Only list what would be copied; write nothing.
    pub dry_run: bool,
    /// Also copy the referrers (OCI 1.1 API) of every copied manifest.
    pub referrers: bool,
    /// Also copy manifests that no tag points at, where the source can list them (never with a tag
    /// expression in `matcher`: see [`Matcher::selects_untagged`]).
    pub untagged: bool,
    /// Also copy non-distributable layers (descriptors with `urls`, such as Windows base
    /// layers) that the source holds; by default they are left to their URLs.
    pub nondistributable: bool,
    /// Walk everything below every selected tag, even what the target already holds (a tag with
    /// the same digest, a manifest it has), and put back the child manifests, blobs and
    /// referrers it lacks; existence is checked as for any copy, and blobs the target holds are
    /// not read. Without it a tag with the same digest is trusted with everything below it.
    pub deep: bool,
    /// Leave a target tag that holds another digest as it is, nothing written under it, and
    /// report it as a conflict ([`Summary::conflicts`]), as `az acr import`
    /// does without `--force`; what comes with the source's image of the tag stays behind with
    /// it ([`Summary::left_out`]); by default it is overwritten and listed
    /// ([`Summary::overwritten`]). A referrers fallback tag is merged either way (the union of
    /// both listings loses nothing).
    pub no_overwrite: bool,
    /// Source and target are one registry (a copy from one of its prefixes to another): a blob
    /// no target repository is known to hold is mounted from its source repository, so that no
    /// byte crosses this machine, as skopeo and crane do; one the registry does not mount is
    /// uploaded.
    pub mount_from_source: bool,
    /// What is copied where.
    pub matcher: Matcher,
    /// Receives progress.
    pub progress: Arc<dyn Progress>,
    /// When triggered, the copy stops: tasks in flight are aborted and the summary is returned
    /// with `interrupted` set.
    pub interrupt: Interrupt,
}

/// A one-shot stop signal, cheap to clone.
#[derive(Clone, Default)]
pub struct Interrupt(Arc<(std::sync::atomic::AtomicBool, tokio::sync::Notify)>);

impl Interrupt {
    /// Triggers the stop.
    pub fn trigger(&self) {
        self.0 .0.store(true, Ordering::SeqCst);
        self.0 .1.notify_waiters();
    }

    /// True once triggered.
    pub fn is_triggered(&self) -> bool {
        self.0 .0.load(Ordering::SeqCst)
    }

    /// Waits until triggered.
    pub async fn wait(self) {
        loop {
            let notified = self.0 .1.notified();
            if self.is_triggered() {
                return;
            }
            notified.await;
        }
    }
}

/// Progress callbacks; all have empty defaults.
pub trait Progress: Send + Sync {
    /// The tags to copy are known.
    fn planned(&self, _repositories: usize, _tags: usize) {}
    /// One tag is done (copied, up to date, skipped or failed).
    fn tag_done(&self, _repository: &str, _tag: &str) {}
    /// Bytes of blob content moved.
    fn bytes(&self, _n: u64) {}
}

/// A progress sink that ignores everything.
pub struct NoProgress;
impl Progress for NoProgress {}

/// One item that was not copied, and why.
#[derive(Clone, Debug, Serialize)]
pub struct Problem {
    /// `REPOSITORY:TAG` or `REPOSITORY@DIGEST` (target names), or a repository.
    pub item: String,
    /// Why.
    pub reason: String,
}

/// A target tag that held another digest than the source's, overwritten by the copy (or that a
/// dry run would overwrite), as `skopeo sync` and `crane copy` do; or, with
/// [`CopyOptions::no_overwrite`], left as it was ([`Summary::conflicts`]).
#[derive(Clone, Debug, Serialize)]
pub struct Overwrite {
    /// `REPOSITORY:TAG` (target names).
    pub item: String,
    /// The digest the target's tag pointed at before the copy.
    pub target_had: Digest,
    /// The source's digest, which the tag points at after the copy (unless `merged`).
    pub source: Digest,
    /// True for a referrers fallback tag (`sha256-<hex>`) whose target index listed referrers
    /// the source's does not: the tag holds (in a dry run: would hold) the union of both
    /// listings ([`crate::referrers::merge`]), not the source's index.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub merged: bool,
    /// With `merged`, the digest the tag holds after the copy, which is neither `target_had`
    /// nor `source` (absent in a dry run: the union's bytes depend on the order in which the
    /// copy lists the referrers it pushes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub now: Option<Digest>,
}

/// A tag a copy wrote into the target (or a dry run would write).
#[derive(Clone, Debug, Serialize)]
pub struct CopiedTag {
    /// `REPOSITORY:TAG` (target names).
    pub item: String,
    /// The digest it points at.
    pub digest: Digest,
}

/// What a copy did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Summary {
    /// Repositories selected.
    pub repositories: u64,
    /// Tags selected.
    pub tags: u64,
    /// Tags written to the target.
    pub tags_copied: u64,
    /// The tags written (in a dry run: that would be), each with the digest it points at, in
    /// name order: `tags_copied` of them.
    pub copied: Vec<CopiedTag>,
    /// Tags that already pointed at the same digest.
    pub tags_up_to_date: u64,
    /// With renames (`--map`): each selected repository whose name changes, `(source name,
    /// target name)` (full names), in name order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub renamed: Vec<(String, String)>,
    /// Manifests pushed (tagged and by digest); 0 in a dry run, which pushes nothing.
    pub manifests_pushed: u64,
    /// Dry run: the manifests the real run would push (child manifests, referrers, the tags'
    /// manifests), counted as `manifests_pushed` counts them; 0 in a real run.
    pub manifests_would_push: u64,
    /// Tags of the target that pointed at another digest and were made the source's (in a dry
    /// run: would be), one entry each.
    pub overwritten: Vec<Overwrite>,
    /// Tags of the target that pointed at another digest and were left so
    /// ([`CopyOptions::no_overwrite`]), one entry each: the run fails on them.
    pub conflicts: Vec<Overwrite>,
    /// With [`CopyOptions::no_overwrite`]: what belongs to the source image of a kept tag (a tag
    /// that describes it by name, `sha256-<hex>.sig`; a referrer or index child the source lists
    /// untagged) and that the target does not hold, left out as that image is, unless another
    /// tag of the run brought the image.
    pub left_out: Vec<Problem>,
    /// Blobs uploaded.
    pub blobs_copied: u64,
    /// Blobs the target repository already had.
    pub blobs_present: u64,
    /// Blobs mounted from another target repository.
    pub blobs_mounted: u64,
    /// Blobs among `blobs_copied` that another target repository was known to hold already: the
    /// target ignores cross-repository mounts (see `mounts_ignored`), or refused one mount.
    pub blobs_copied_again: u64,
    /// True when the target showed that it ignores cross-repository mounts: shared blobs were
    /// uploaded once per repository, and existence was checked with `HEAD` requests.
    pub mounts_ignored: bool,
    /// Bytes uploaded.
    pub bytes_copied: u64,
    /// Referrers copied (in a dry run: that would be): manifests with a `subject` pushed by
    /// digest, whether a referrer walk or an untagged listing brought them; referrers the target
    /// already held are not counted.
    pub referrers_copied: u64,
    /// Referrers the target already held but did not list for their subject, listed in the
    /// subject's referrers fallback tag (in a dry run: that would be): a target without the
    /// referrers API finds referrers through that tag only, and a run that pushed a referrer
    /// and then failed to write the tag leaves it unlisted.
    pub referrers_listed: u64,
    /// True for a deep copy ([`CopyOptions::deep`]).
    pub deep: bool,
    /// Manifests (index children, referrers) put back below tags that were already up to date:
    /// the target had the tag but had lost them (a deep copy only).
    pub manifests_put_back: u64,
    /// Blobs put back below tags that were already up to date (a deep copy only).
    pub blobs_put_back: u64,
    /// With [`CopyOptions::nondistributable`]: non-distributable layers (with `urls`) that the
    /// source does not hold, left to their URLs as without the option (per repository).
    pub nondistributable_left_to_urls: u64,
    /// Manifests the source lists without a tag of their own (index children and untagged
    /// manifests, as `inventory` counts them) handled: copied or found in place.
    pub untagged: u64,
    /// Most blob transfers allowed at once during the run (`jobs`, or more on slow links).
    pub peak_transfers: usize,
    /// Wall time.
    pub seconds: f64,
    /// True when nothing was written (`--dry-run`).
    pub dry_run: bool,
    /// True when the run was interrupted before every tag was done.
    pub interrupted: bool,
    /// Items that failed and that a run of the same command may copy (a fault on the way, a
    /// refusal fixed meanwhile).
    pub failed: Vec<Problem>,
    /// How many of `failed` were refused rather than cut off (no access, a status or content
    /// that a second try gets again): a run of the same command copies those only once what
    /// their line names has changed.
    pub failed_refused: u64,
    /// How many of `failed` ended on a server error (HTTP 5xx) of the target to a write (an
    /// upload or a manifest push): when all did, the target's storage (full?) or its own state
    /// is the likely cause, more than the way.
    pub failed_target_writes: u64,
    /// How many of `failed` were no longer in the source when the run read them (listed, then
    /// answered "not found": deleted or moved during the run): neither refused nor worth
    /// retrying as they were.
    pub failed_vanished: u64,
    /// Items that failed because the source lacks content they reference (an index's child
    /// manifest): the source is incomplete, and copying again will not help until it is repaired.
    pub source_incomplete: Vec<Problem>,
    /// Items skipped on purpose (Docker schema 1, media types this tool does not copy).
    pub skipped: Vec<Problem>,
    /// Why the run stopped before its end, when it did ([`copy_or_stop`]): every tag counted as
    /// copied points at complete content, the rest was not reached.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped: Option<String>,
}

#[derive(Default)]
struct Counters {
    tags_copied: AtomicU64,
    tags_up_to_date: AtomicU64,
    manifests_pushed: AtomicU64,
    manifests_would_push: AtomicU64,
    blobs_copied: AtomicU64,
    blobs_present: AtomicU64,
    blobs_mounted: AtomicU64,
    blobs_copied_again: AtomicU64,
    failed_refused: AtomicU64,
    failed_target_writes: AtomicU64,
    failed_vanished: AtomicU64,
    bytes_copied: AtomicU64,
    referrers_copied: AtomicU64,
    referrers_listed: AtomicU64,
    untagged_copied: AtomicU64,
    manifests_put_back: AtomicU64,
    blobs_put_back: AtomicU64,
    nondistributable_left_to_urls: AtomicU64,
}

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

struct Engine {
    source: Arc<dyn Store>,
    target: Arc<dyn Store>,
    options: CopyOptions,
    /// Blob transfers at once, following the round trips to the source and the target.
    blob_permits: LatencyLimit,
    /// Transfers of large blobs at once: half the jobs, so that the bytes in flight (and the
    /// buffers behind them) stay bounded when every transfer is a big layer.
    large_blob_permits: Semaphore,
    counters: Counters,
    /// The walk of the source's graphs, memoised per repository and digest.
    walker: Walker,
    /// digest → the target repository an upload of it went to.
    uploads: OnceMap<Digest, String>,
    /// digest → a target repository known to hold it (mount source).
    homes: Mutex<HashMap<Digest, String>>,
    /// digest → why the source failed to serve it after every attempt, and whether that may
    /// pass: the other tags that need it fail at once ([`Error::FailedEarlier`]).
    failed_blobs: Mutex<HashMap<Digest, (String, bool)>>,
    /// Blobs in a row the target refused to store with a server error after every retry.
    failing_writes: Mutex<FailingWrites>,
    /// Whether the target honours mounts, as far as the run has seen.
    mounts: MountSupport,
    /// Target repository → its tags when the run started (absent: unknown, ask per tag).
    target_tags: std::sync::OnceLock<HashMap<String, std::collections::HashSet<String>>>,
    /// Source repositories whose every manifest was listed (ACR, layouts): their referrers are
    /// among the untagged work already.
    every_manifest_listed: std::sync::OnceLock<std::collections::HashSet<String>>,
    /// In a deep copy, (target repository, digest) of the manifests the walk found in the target
    /// and descended into anyway: taken by `leave`, which then pushes nothing.
    held: Mutex<std::collections::HashSet<(String, Digest)>>,
    skipped: Mutex<Vec<Problem>>,
    /// Items whose source lacks content they reference ([`Summary::source_incomplete`]).
    source_incomplete: Mutex<Vec<Problem>>,
    /// Target tags that pointed at another digest ([`Summary::overwritten`]).
    overwritten: Mutex<Vec<Overwrite>>,
    /// Target tags that pointed at another digest, left so ([`Summary::conflicts`]).
    conflicts: Mutex<Vec<Overwrite>>,
    /// (target repository, digest) → the kept tag whose source image it is, or goes with (its
    /// platform manifests, its referrers and theirs): what describes or belongs to it is left
    /// out ([`Summary::left_out`]) unless the image arrives by another tag.
    kept_sources: Mutex<HashMap<(String, Digest), KeptWith>>,
    /// (target repository, digest) of the manifests the run's plain tags wrote (in a dry run:
    /// would write) or found up to date, with the platform manifests of indexes: an image one
    /// of them brought is no longer left out with a kept tag.
    brought: Mutex<std::collections::HashSet<(String, Digest)>>,
    /// Items left out with a kept tag's source image ([`Summary::left_out`]).
    left_out: Mutex<Vec<Problem>>,
    /// Tags written ([`Summary::copied`]).
    copied: Mutex<Vec<CopiedTag>>,
    /// Repositories renamed by `--map` ([`Summary::renamed`]), set once listed.
    renamed: std::sync::OnceLock<Vec<(String, String)>>,
    /// (source repository, referrer) of the referrers the source lists but lacks, each reported
    /// once in [`Summary::source_incomplete`] however many walks meet it.
    dangling: Mutex<std::collections::HashSet<(String, Digest)>>,
    /// (target repository, referrer) of the referrers this run pushed (in a dry run: would
    /// push), which their push lists for their subject: taken by the `referrer` hook, which then
    /// has nothing to list.
    pushed_referrers: Mutex<std::collections::HashSet<(String, Digest)>>,
    /// (target repository, subject) → what the target lists for the subject in its referrers
    /// fallback tag, read once per subject (`None`: the target finds referrers by their subject
    /// itself); forgotten with the repository's last tag.
    listings: Mutex<ReferrerListings>,
    /// Items (`target-repository:tag`) whose own manifest the source answered "not found" after
    /// listing them ([`Engine::vanished`]): taken by [`Engine::failure`], which words them so.
    vanished: Mutex<std::collections::HashSet<String>>,
}

/// What a manifest of the source goes with when `--no-overwrite` keeps a tag
/// ([`Engine::keep_source_image`]).
#[derive(Clone, Debug)]
struct KeptWith {
    /// The kept tag, `repository:tag` (the first in name order when several keep the image).
    tag: String,
    /// The source's image of that tag.
    image: Digest,
    /// True for a manifest the image lists (a platform manifest); false for the image itself
    /// and what describes it (its referrers, theirs).
    part: bool,
}

/// Manifests followed from a kept tag's source image ([`Engine::keep_source_image`]), at most.
const KEPT_CLOSURE_MAX: usize = 4096;

/// What a target lists in its referrers fallback tags, by (target repository, subject)
/// ([`crate::transport::Destination::fallback_listing`]).
type ReferrerListings = HashMap<(String, Digest), Option<std::collections::HashSet<Digest>>>;

/// Blobs in a row that the target failed to store with a server error (HTTP 5xx to an upload's
/// `POST`, `PATCH` or `PUT`) after every retry, none stored since: a target that fails every
/// write (its storage full, say) stops the run at [`FAILING_WRITES_STOP`] of them, in two
/// repositories at least, instead of spending every other blob's retries on it (writes failing
/// in one repository alone are that repository's failures).
#[derive(Debug, Default)]
struct FailingWrites {
    /// Blobs failed in a row (each counted once, however many repositories wanted it).
    blobs: std::collections::HashSet<Digest>,
    /// The target repositories they were for.
    repositories: std::collections::HashSet<String>,
    /// When the first of them failed (UTC time of day).
    since: Option<std::time::SystemTime>,
}

/// Blobs in a row the target fails to store before the run stops ([`FailingWrites`]).
const FAILING_WRITES_STOP: usize = 3;

/// The status and URL of a write (`POST`, `PUT`, `PATCH`: the target's) answered with a server
/// error (HTTP 5xx); `None` for any other error.
fn target_write_5xx(e: &Error) -> Option<(u16, &str)> {
    match e {
        Error::Status {
            method,
            status,
            url,
            ..
        } if *status >= 500 && matches!(method.as_str(), "POST" | "PUT" | "PATCH") => {
            Some((*status, url.as_str()))
        }
        _ => None,
    }
}

/// The `host[:port]` of a write the target refused as a whole store would ([`FailingWrites`]):
/// an internal error (500, what a full disk gives), an upload not implemented (501) or no space
/// (507). Gateways' 502–504 (a proxy timing out on a large upload) are not counted.
fn failed_target_write(e: &Error) -> Option<String> {
    let (status, url) = target_write_5xx(e)?;
    if !matches!(status, 500 | 501 | 507) {
        return None;
    }
    Some(crate::transport::registry::host_and_port(url))
}

/// A copy that stopped before its end ([`copy_or_stop`]): what it had done, and why it stopped.
#[derive(Debug)]
pub struct Stopped {
    /// Everything done before the stop, with [`Summary::stopped`] set; empty when the run stopped
    /// before its first tag (the source's catalog could not be read, say).
    pub summary: Box<Summary>,
    /// What stopped the run: a registry given up mid-run ([`Error::stopped_answering`]), refused
    /// credentials, a layout that cannot be written.
    pub error: Error,
}

/// Copies everything `options.matcher` selects from `source` to `target`.
///
/// Listing errors of the whole source (catalog) are returned as `Err`; per-repository and per-tag
/// errors are collected in [`Summary::failed`] and the copy goes on. An error that stops the whole
/// run is returned alone; [`copy_or_stop`] returns it with what was done before it.
pub async fn copy(
    source: Arc<dyn Store>,
    target: Arc<dyn Store>,
    options: CopyOptions,
) -> Result<Summary> {
    copy_or_stop(source, target, options)
        .await
        .map_err(|stopped| stopped.error)
}

/// [`copy`], and when an error stops the run (a registry given up, credentials refused), what was
/// done until then, for a report that still lists the tags copied and the items failed.
pub async fn copy_or_stop(
    source: Arc<dyn Store>,
    target: Arc<dyn Store>,
    options: CopyOptions,
) -> std::result::Result<Summary, Stopped> {
    let (dry_run, deep) = (options.dry_run, options.deep);
    let stop_early = |error: Error| Stopped {
        summary: Box::new(Summary {
            stopped: Some(error.to_string()),
            dry_run,
            deep,
            ..Summary::default()
        }),
        error,
    };
    let started = Instant::now();
    let jobs = options.jobs.max(1);
    let engine = Arc::new(Engine {
        walker: Walker::without_graphs(source.clone()),
        source,
        target,
        blob_permits: LatencyLimit::new(jobs, crate::limit::ceiling(jobs, options.max_jobs), PATHS),
        large_blob_permits: Semaphore::new(jobs.div_ceil(2)),
        options,
        counters: Counters::default(),
        uploads: OnceMap::new(),
        homes: Mutex::new(HashMap::new()),
        failed_blobs: Mutex::new(HashMap::new()),
        failing_writes: Mutex::new(FailingWrites::default()),
        mounts: MountSupport::default(),
        target_tags: std::sync::OnceLock::new(),
        every_manifest_listed: std::sync::OnceLock::new(),
        held: Mutex::new(std::collections::HashSet::new()),
        skipped: Mutex::new(Vec::new()),
        source_incomplete: Mutex::new(Vec::new()),
        overwritten: Mutex::new(Vec::new()),
        conflicts: Mutex::new(Vec::new()),
        kept_sources: Mutex::new(HashMap::new()),
        brought: Mutex::new(std::collections::HashSet::new()),
        left_out: Mutex::new(Vec::new()),
        copied: Mutex::new(Vec::new()),
        renamed: std::sync::OnceLock::new(),
        dangling: Mutex::new(std::collections::HashSet::new()),
        pushed_referrers: Mutex::new(std::collections::HashSet::new()),
        listings: Mutex::new(HashMap::new()),
        vanished: Mutex::new(std::collections::HashSet::new()),
    });
    let pairs = walk::repositories(engine.source.as_ref(), &engine.options.matcher)
        .await
        .map_err(stop_early)?;
    let renames = &engine.options.matcher.selection().renames;
    let renamed: Vec<(String, String)> = pairs
        .iter()
        .filter(|p| renames.apply(&p.name).is_some_and(|n| n != p.name))
        .map(|p| (p.source.clone(), p.target.clone()))
        .collect();
    let _ = engine.renamed.set(renamed);
    let source: Arc<dyn crate::transport::Source> = engine.source.clone();
    // The target's tags, listed once per repository: a tag it lacks needs no request of its own,
    // and a repository that had no tags needs no existence check for index children.
    let target_pairs: Vec<RepoPair> = pairs
        .iter()
        .map(|p| RepoPair {
            source: p.target.clone(),
            target: p.target.clone(),
            name: p.name.clone(),
        })
        .collect();
    let target_source: Arc<dyn crate::transport::Source> = engine.target.clone();
    // Listed with hits of its own: a target's names and tags do not make a misspelt --repo or
    // --tag match.
    let target_matcher = engine.options.matcher.detached();
    let (listed, target_listed) = futures::join!(
        walk::tags(source, &engine.options.matcher, pairs, jobs * 2),
        walk::tags(target_source, &target_matcher, target_pairs, jobs * 2)
    );
    let known: HashMap<String, std::collections::HashSet<String>> = target_listed
        .into_iter()
        .filter_map(|(p, tags)| tags.ok().map(|t| (p.target, t.tags.into_iter().collect())))
        .collect();
    let _ = engine.target_tags.set(known);
    let mut failed = Vec::new();
    let repositories = listed.len() as u64;
    let mut listed_ok = Vec::new();
    for (pair, tags) in listed {
        match tags {
            Ok(list) => {
                for (tag, e) in list.invalid {
                    engine.count_refused(&e);
                    failed.push(Problem {
                        item: format!("{}:{tag}", pair.target),
                        reason: e.to_string(),
                    });
                }
                listed_ok.push((pair, list.tags))
            }
            Err(e) if e.is_fatal() => return Err(stop_early(e)),
            Err(e) => {
                engine.count_refused(&e);
                failed.push(Problem {
                    item: pair.target.clone(),
                    reason: format!("cannot list tags: {e}"),
                })
            }
        }
    }
    // Sources that list digests with tags (ACR, layouts) spare a request per up-to-date tag;
    // sources that list every manifest give the untagged ones too.
    let extras: Vec<_> = futures::stream::iter(listed_ok)
        .map(|(pair, tags)| {
            let engine = engine.clone();
            async move {
                let digests = engine.source.tag_digests(&pair.source).await;
                let all = if engine.options.untagged && engine.options.matcher.selects_untagged() {
                    engine.source.all_manifests(&pair.source).await
                } else {
                    Ok(None)
                };
                (pair, tags, digests, all)
            }
        })
        .buffered(jobs * 2)
        .collect()
        .await;
    let mut work: Vec<(RepoPair, Work)> = Vec::new();
    let mut every_manifest_listed = std::collections::HashSet::new();
    for (pair, tags, digests, all) in extras {
        let digests: HashMap<String, Digest> = match digests {
            Ok(Some(list)) => list.into_iter().collect(),
            Ok(None) => HashMap::new(),
            Err(e) => {
                engine.count_refused(&e);
                failed.push(Problem {
                    item: pair.target.clone(),
                    reason: format!("cannot list tag digests: {e}"),
                });
                continue;
            }
        };
        match all {
            Ok(Some(all)) => {
                every_manifest_listed.insert(pair.source.clone());
                let tagged: std::collections::HashSet<&Digest> = digests.values().collect();
                for d in all.into_iter().filter(|d| !tagged.contains(d)) {
                    work.push((pair.clone(), Work::Untagged(d)));
                }
            }
            Ok(None) => {}
            Err(e) if e.is_unsupported() => {
                engine.skipped.lock().expect("skipped lock").push(Problem {
                    item: pair.target.clone(),
                    reason: e.to_string(),
                })
            }
            Err(e) => {
                engine.count_refused(&e);
                failed.push(Problem {
                    item: pair.target.clone(),
                    reason: format!("cannot list untagged manifests: {e}"),
                })
            }
        }
        for tag in tags {
            let known = digests.get(&tag).cloned();
            work.push((pair.clone(), Work::Tag(tag, known)));
        }
    }
    engine
        .every_manifest_listed
        .set(every_manifest_listed)
        .expect("set once, before the tasks start");
    let tags = work
        .iter()
        .filter(|(_, w)| matches!(w, Work::Tag(..)))
        .count() as u64;
    engine
        .options
        .progress
        .planned(repositories as usize, work.len());
    // Interleave repositories so concurrent tasks spread over them (and their blobs), a window
    // of them at a time: a repository is then done long before the run ends, and its walk state
    // is forgotten (memory holds the windows in progress, not the registry).
    let mut names: Vec<&String> = work.iter().map(|(p, _)| &p.source).collect();
    names.sort();
    names.dedup();
    let window: HashMap<String, usize> = names
        .into_iter()
        .enumerate()
        .map(|(i, name)| (name.clone(), i / REPOSITORY_WINDOW))
        .collect();
    // With --no-overwrite, a tag can be kept only in a repository whose target holds one of the
    // plain tags the run takes (or whose tags are unknown): only there does later work wait.
    let may_keep: std::collections::HashSet<String> = match engine.options.no_overwrite {
        false => Default::default(),
        true => work
            .iter()
            .filter_map(|(p, w)| match w {
                Work::Tag(tag, _) if referrers::described_by_tag(tag).is_none() => {
                    let listed = engine.target_tags.get().and_then(|m| m.get(&p.target));
                    listed
                        .is_none_or(|tags| tags.contains(tag))
                        .then(|| p.target.clone())
                }
                _ => None,
            })
            .collect(),
    };
    let phase_of = |p: &RepoPair, w: &Work| w.phase(may_keep.contains(&p.target));
    work.sort_by_cached_key(|(p, w)| (window[&p.source], phase_of(p, w), w.key(), p.clone()));
    let mut countdown = RepositoryCountdown::new(work.iter().map(|(p, _)| p.source.as_str()));
    // Work left per target repository: after its last, what the run read of the repository's
    // referrer listings is forgotten, as the walker forgets the source's graphs.
    let mut left_in_target: HashMap<String, usize> = HashMap::new();
    for (p, _) in &work {
        *left_in_target.entry(p.target.clone()).or_default() += 1;
    }
    // Each tag is its own task, `jobs * 4` at a time; an interruption aborts the tasks in flight
    // (their uploads are dropped unfinished, so nothing half-written is committed).
    let mut fatal = None;
    let mut pending = work.into_iter().peekable();
    // Plain tags in flight: work of a later phase waits for them (`Work::phase`).
    let mut running_first_phase = 0usize;
    let mut running = tokio::task::JoinSet::new();
    let mut interrupted = false;
    let mut stop = std::pin::pin!(engine.options.interrupt.clone().wait());
    loop {
        while running.len() < engine.blob_permits.size() * 4 {
            let Some((next_pair, next)) = pending.peek() else {
                break;
            };
            let phase = phase_of(next_pair, next);
            if phase > 0 && running_first_phase > 0 {
                break;
            }
            let Some((pair, work)) = pending.next() else {
                break;
            };
            running_first_phase += usize::from(phase == 0);
            let engine = engine.clone();
            running.spawn(async move {
                let (label, result) = match work {
                    Work::Tag(tag, known) => {
                        let result = engine.copy_tag(&pair, &tag, known).await;
                        (format!(":{tag}"), result)
                    }
                    Work::Untagged(digest) => {
                        let result = engine.copy_untagged(&pair, &digest).await;
                        (format!("@{digest}"), result)
                    }
                };
                engine.options.progress.tag_done(&pair.target, &label);
                (pair, label, result, phase)
            });
        }
        tokio::select! {
            next = running.join_next() => match next {
                // Nothing runs: work held back by a count a panicked task left wrong goes now.
                None if pending.peek().is_some() => running_first_phase = 0,
                None => break,
                Some(Ok((pair, tag, result, phase))) => {
                    running_first_phase -= usize::from(phase == 0);
                    if let Err(e) = result {
                        if e.is_fatal() {
                            // The job cannot go on (a registry given up, credentials refused):
                            // the tasks in flight stop as on an interruption, their uploads
                            // dropped unfinished, so nothing half-written is committed; those
                            // that had ended with a failure of their own are still counted.
                            fatal = Some(e);
                            running.abort_all();
                            while let Some(done) = running.join_next().await {
                                if let Ok((pair, tag, Err(e), _)) = done {
                                    if !e.is_fatal() {
                                        engine.failure(&pair, &tag, e, &mut failed);
                                    }
                                }
                            }
                            break;
                        }
                        engine.failure(&pair, &tag, e, &mut failed);
                    }
                    countdown.finished(&engine.walker, &pair.source);
                    if let Some(left) = left_in_target.get_mut(&pair.target) {
                        *left -= 1;
                        if *left == 0 {
                            left_in_target.remove(&pair.target);
                            engine.forget_target(&pair.target);
                        }
                    }
                }
                Some(Err(e)) => {
                    // Its phase is unknown: the count of plain tags in flight stays within the
                    // tasks left, so later work is never held for good.
                    running_first_phase = running_first_phase.min(running.len());
                    failed.push(Problem {
                        item: "copy task".into(),
                        reason: format!("stopped unexpectedly: {e}"),
                    })
                }
            },
            _ = &mut stop => {
                running.abort_all();
                while running.join_next().await.is_some() {}
                interrupted = true;
                break;
            }
        }
    }
    if (fatal.is_some() || interrupted) && !engine.options.dry_run {
        // The uploads the stop cut off, and the sessions opened for blobs not reached.
        engine.target.abandon().await;
    }
    if let Some(e) = fatal {
        if !engine.options.dry_run {
            // A layout target still lists every tag completed before the stop; its own error
            // matters less than the one that stopped the run.
            if let Err(finish) = engine.target.finish().await {
                crate::log::emit(0, || format!("after the stop: {finish}"));
            }
        }
        let mut summary = engine.summary(repositories, tags, failed, interrupted, started);
        summary.stopped = Some(e.to_string());
        return Err(Stopped {
            summary: Box::new(summary),
            error: e,
        });
    }
    if !engine.options.dry_run {
        // Even after an interruption: a layout's index then lists every tag that was completed.
        if let Err(e) = engine.target.finish().await {
            let mut summary = engine.summary(repositories, tags, failed, interrupted, started);
            summary.stopped = Some(e.to_string());
            // A layout's index (an archive) that could not be written lists none of the tags:
            // none of them arrived, whatever was written beside it.
            summary.tags_copied = 0;
            summary.copied.clear();
            summary.overwritten.clear();
            return Err(Stopped {
                summary: Box::new(summary),
                error: e,
            });
        }
    }
    Ok(engine.summary(repositories, tags, failed, interrupted, started))
}

impl Engine {
    /// The run's [`Summary`] from its counters and lists.
    fn summary(
        &self,
        repositories: u64,
        tags: u64,
        mut failed: Vec<Problem>,
        interrupted: bool,
        started: Instant,
    ) -> Summary {
        failed.sort_by(|a, b| a.item.cmp(&b.item));
        let mut skipped = std::mem::take(&mut *self.skipped.lock().expect("skipped lock"));
        skipped.sort_by(|a, b| a.item.cmp(&b.item));
        let mut source_incomplete =
            std::mem::take(&mut *self.source_incomplete.lock().expect("incomplete lock"));
        source_incomplete.sort_by(|a, b| a.item.cmp(&b.item));
        let mut overwritten =
            std::mem::take(&mut *self.overwritten.lock().expect("overwritten lock"));
        overwritten.sort_by(|a, b| a.item.cmp(&b.item));
        let mut conflicts = std::mem::take(&mut *self.conflicts.lock().expect("conflicts lock"));
        conflicts.sort_by(|a, b| a.item.cmp(&b.item));
        let mut left_out = std::mem::take(&mut *self.left_out.lock().expect("left-out lock"));
        left_out.sort_by(|a, b| a.item.cmp(&b.item));
        let mut copied = std::mem::take(&mut *self.copied.lock().expect("copied lock"));
        copied.sort_by(|a, b| a.item.cmp(&b.item));
        let c = &self.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        Summary {
            repositories,
            tags,
            tags_copied: get(&c.tags_copied),
            copied,
            tags_up_to_date: get(&c.tags_up_to_date),
            renamed: self.renamed.get().cloned().unwrap_or_default(),
            manifests_pushed: get(&c.manifests_pushed),
            manifests_would_push: get(&c.manifests_would_push),
            overwritten,
            conflicts,
            left_out,
            blobs_copied: get(&c.blobs_copied),
            blobs_present: get(&c.blobs_present),
            blobs_mounted: get(&c.blobs_mounted),
            blobs_copied_again: get(&c.blobs_copied_again),
            mounts_ignored: self.mounts.ignored(),
            bytes_copied: get(&c.bytes_copied),
            referrers_copied: get(&c.referrers_copied),
            referrers_listed: get(&c.referrers_listed),
            deep: self.options.deep,
            manifests_put_back: get(&c.manifests_put_back),
            blobs_put_back: get(&c.blobs_put_back),
            nondistributable_left_to_urls: get(&c.nondistributable_left_to_urls),
            untagged: get(&c.untagged_copied),
            peak_transfers: self.blob_permits.peak(),
            seconds: started.elapsed().as_secs_f64(),
            dry_run: self.options.dry_run,
            interrupted,
            failed,
            failed_refused: get(&c.failed_refused),
            failed_target_writes: get(&c.failed_target_writes),
            failed_vanished: get(&c.failed_vanished),
            source_incomplete,
            skipped,
            stopped: None,
        }
    }
}

/// What a `HEAD` of a blob in a target repository found ([`Engine::found`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Found {
    /// The blob, with its size (or no size said).
    Present,
    /// Nothing.
    Missing,
    /// A copy of another size (truncated): not the blob.
    WrongSize,
}

/// The latency paths of the transfer limit: requests to the source, and to the target.
const PATHS: usize = 2;
const SOURCE_PATH: usize = 0;
const TARGET_PATH: usize = 1;

/// Repositories whose tags are interleaved at a time (see `copy`).
const REPOSITORY_WINDOW: usize = 64;

/// One unit of work: a tag (with its source digest when a listing gave it), or an untagged manifest.
enum Work {
    Tag(String, Option<Digest>),
    Untagged(Digest),
}

impl Work {
    /// Where a tag may be kept (`--no-overwrite`, a target repository holding one of the plain
    /// tags taken), the work that may go with a kept tag's source image (tags that describe a
    /// manifest by name, untagged manifests) runs after the plain tags of its window (1), once
    /// every kept tag is known; else everything is 0.
    fn phase(&self, may_keep: bool) -> u8 {
        let later = match self {
            Work::Tag(tag, _) => referrers::described_by_tag(tag).is_some(),
            Work::Untagged(_) => true,
        };
        u8::from(may_keep && later)
    }

    fn key(&self) -> String {
        match self {
            Work::Tag(t, _) => t.clone(),
            Work::Untagged(d) => d.to_string(),
        }
    }
}

/// Blobs of this size or more count as large: at most half of `--jobs` of them move at once.
/// On loopback four 30–150 MB transfers are as fast as eight and hold a third less memory
/// (`docs/performance.md`).
const LARGE_BLOB: u64 = 32 * 1024 * 1024;

/// Blobs under this size, new to a target repository that had no tags when the run started, are
/// uploaded without the mount probe that asks whether the repository holds them: there, only an
/// interrupted earlier run can have left one, and sending a small blob again costs less than
/// asking for every blob (the probe costs Distribution 0.55 ms of CPU more per upload than a plain
/// upload session, `docs/performance.md`). Larger blobs are always asked for.
const UNASKED_UPLOAD_MAX: u64 = 1024 * 1024;

/// Transfers of one blob are tried this many times (each re-reads the source).
const BLOB_ATTEMPTS: u32 = 6;

/// `HEAD` requests a run may spend checking a "not here, upload" answer to a probe while it does
/// not know whether the target honours mounts (see `Engine::held_despite_the_probe`): enough for
/// the blobs of a first image, and all a registry that honours mounts ever gets, only in a run
/// that writes into repositories with tags before any mount has answered.
const MOUNT_CHECKS: usize = 8;

/// What a run has learnt of the target's mounts. A registry that ignores `mount` never answers
/// 201 to an upload request, so one 201 settles that it honours them; a 202 to a mount of a blob
/// the run knows the `from` repository holds (or to a probe of a repository for a blob it holds)
/// settles, unless a 201 came first, that it ignores them. Settled once for the run.
struct MountSupport {
    /// [`MOUNTS_UNKNOWN`], [`MOUNTS_HONOURED`] or [`MOUNTS_IGNORED`].
    state: AtomicU8,
    /// Checks of a probe's answer left (see [`MOUNT_CHECKS`]).
    checks_left: AtomicUsize,
}

const MOUNTS_UNKNOWN: u8 = 0;
const MOUNTS_HONOURED: u8 = 1;
const MOUNTS_IGNORED: u8 = 2;

impl Default for MountSupport {
    fn default() -> Self {
        MountSupport {
            state: AtomicU8::new(MOUNTS_UNKNOWN),
            checks_left: AtomicUsize::new(MOUNT_CHECKS),
        }
    }
}

impl MountSupport {
    /// A mount answered 201.
    fn honoured_seen(&self) {
        let _ = self.state.compare_exchange(
            MOUNTS_UNKNOWN,
            MOUNTS_HONOURED,
            Ordering::SeqCst,
            Ordering::SeqCst,
        );
    }

    /// A mount of a blob known to be there answered 202; true when this settled that the target
    /// ignores mounts (false when it was known already, or a mount was honoured before).
    fn ignored_seen(&self) -> bool {
        self.state
            .compare_exchange(
                MOUNTS_UNKNOWN,
                MOUNTS_IGNORED,
                Ordering::SeqCst,
                Ordering::SeqCst,
            )
            .is_ok()
    }

    /// True once the target is known to ignore mounts.
    fn ignored(&self) -> bool {
        self.state.load(Ordering::SeqCst) == MOUNTS_IGNORED
    }

    /// True when a probe's answer may be checked: nothing is settled and checks are left (one is
    /// used).
    fn take_check(&self) -> bool {
        self.state.load(Ordering::SeqCst) == MOUNTS_UNKNOWN
            && self
                .checks_left
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok()
    }
}

/// Says, once a run at `-v`, that the target ignores mounts and what follows.
fn announce_ignored_mounts(evidence: &str) {
    crate::log::emit(1, || {
        format!(
            "the target registry ignores cross-repository blob mounts ({evidence}): blobs are now looked for with HEAD before an upload, and a blob another repository holds is uploaded again"
        )
    });
}

impl Engine {
    /// Records a tag's (or untagged manifest's) error: skipped when unsupported, source
    /// incomplete when the source lacks a child manifest, failed otherwise.
    fn failure(&self, pair: &RepoPair, label: &str, e: Error, failed: &mut Vec<Problem>) {
        let item = format!("{}{label}", pair.target);
        if e.is_unsupported() {
            let reason = e.to_string();
            self.skipped
                .lock()
                .expect("skipped lock")
                .push(Problem { item, reason });
        } else if e.is_incomplete_store() {
            let reason = source_gap(&e, &item);
            self.source_incomplete
                .lock()
                .expect("incomplete lock")
                .push(Problem { item, reason });
        } else if self.vanished.lock().expect("vanished lock").remove(&item) {
            // Listed, then gone: the source changed under the run, nothing was refused.
            bump(&self.counters.failed_vanished);
            let reason = format!("no longer in the source (deleted or moved during the run?): {e}");
            failed.push(Problem { item, reason });
        } else {
            self.count_refused(&e);
            let reason = e.to_string();
            failed.push(Problem { item, reason });
        }
    }

    /// `e`, the error of reading the manifest of `tag` (by the tag, or by the digest its listing
    /// gave) from the source; a "not found" is noted as the tag gone from the source since it
    /// was listed, for [`Engine::failure`].
    fn vanished(&self, pair: &RepoPair, tag: &str, e: Error) -> Error {
        if e.is_not_found() {
            self.vanished
                .lock()
                .expect("vanished lock")
                .insert(format!("{}:{tag}", pair.target));
        }
        e
    }

    /// Counts a failure that a second try would get again ([`Summary::failed_refused`]).
    fn count_refused(&self, e: &Error) {
        if !e.is_transient() {
            bump(&self.counters.failed_refused);
        }
        if target_write_5xx(e).is_some() {
            bump(&self.counters.failed_target_writes);
        }
    }

    /// Notes the source image of a tag kept by `--no-overwrite` and what goes with it in the
    /// source (the manifests its index lists, its referrers and theirs, followed as a copy
    /// walks them, [`KEPT_CLOSURE_MAX`] at most), so that what describes or belongs to it is
    /// left out with it ([`Engine::left_out_with_kept`]). What the source cannot say is said at
    /// `-v` and left to the checks by subject.
    async fn keep_source_image(&self, pair: &RepoPair, item: &str, manifest: &RawManifest) {
        let image = manifest.digest.clone();
        let mut seen: HashMap<Digest, bool> = HashMap::new();
        let mut pending: Vec<(Digest, bool, usize, Option<RawManifest>)> =
            vec![(image.clone(), false, 0, Some(manifest.clone()))];
        while let Some((digest, part, depth, held)) = pending.pop() {
            if seen.len() >= KEPT_CLOSURE_MAX || seen.contains_key(&digest) {
                continue;
            }
            seen.insert(digest.clone(), part);
            if depth >= crate::manifest::MAX_INDEX_DEPTH {
                continue;
            }
            let read = match held {
                Some(m) => Ok(m),
                None => self.source.manifest(&pair.source, digest.as_str()).await,
            };
            match read.and_then(|m| m.view()) {
                Ok(view) => pending.extend(
                    view.children()
                        .iter()
                        .map(|c| (c.digest.clone(), true, depth + 1, None)),
                ),
                Err(e) => crate::log::emit(1, || {
                    format!("kept {item}: what {digest} lists is not known ({e})")
                }),
            }
            match self.source.referrers(&pair.source, &digest).await {
                Ok(listed) => pending.extend(
                    listed
                        .unwrap_or_default()
                        .into_iter()
                        .map(|r| (r.digest, false, depth + 1, None)),
                ),
                Err(e) => crate::log::emit(1, || {
                    format!("kept {item}: the referrers of {digest} are not known ({e})")
                }),
            }
        }
        let mut kept = self.kept_sources.lock().expect("kept lock");
        for (digest, part) in seen {
            let with = KeptWith {
                tag: item.to_string(),
                image: image.clone(),
                part,
            };
            kept.entry((pair.target.clone(), digest))
                .and_modify(|k| {
                    if with.tag < k.tag {
                        *k = with.clone();
                    }
                })
                .or_insert(with);
        }
    }

    /// Notes that the run's plain tags brought `manifest` (and the manifests it lists) to the
    /// target repository, or found it there: see [`Engine::brought`].
    fn bring(&self, pair: &RepoPair, digest: &Digest, manifest: Option<&RawManifest>) {
        if !self.options.no_overwrite {
            return;
        }
        let mut brought = self.brought.lock().expect("brought lock");
        brought.insert((pair.target.clone(), digest.clone()));
        if let Some(Ok(view)) = manifest.map(RawManifest::view) {
            for child in view.children() {
                brought.insert((pair.target.clone(), child.digest.clone()));
            }
        }
    }

    /// True when a tag kept by `--no-overwrite` holds another image in this target repository.
    fn keeps_in(&self, target_repository: &str) -> bool {
        self.kept_sources
            .lock()
            .expect("kept lock")
            .keys()
            .any(|(repository, _)| repository == target_repository)
    }

    /// With `--no-overwrite`: true when `item` (a tag describing `digest` by name or a referrer
    /// of it, `describes`; else `digest` itself, a manifest the image lists) goes with the source image of a kept tag that the target does
    /// not hold (no other tag brought it): it is left out as that image is, and listed
    /// ([`Summary::left_out`]). Plain tags run before these (see `copy_or_stop`), so every kept
    /// tag is known by then.
    async fn left_out_with_kept(
        &self,
        pair: &RepoPair,
        item: &str,
        digest: &Digest,
        describes: bool,
    ) -> Result<bool> {
        if !self.options.no_overwrite {
            return Ok(false);
        }
        let kept = {
            let kept = self.kept_sources.lock().expect("kept lock");
            match kept.get(&(pair.target.clone(), digest.clone())) {
                Some(with) => with.clone(),
                None => return Ok(false),
            }
        };
        let at = |d: &Digest| (pair.target.clone(), d.clone());
        {
            let brought = self.brought.lock().expect("brought lock");
            if brought.contains(&at(&kept.image)) || brought.contains(&at(digest)) {
                return Ok(false);
            }
        }
        let held = self
            .blob_permits
            .timed(
                TARGET_PATH,
                self.target
                    .current_digest(&pair.target, kept.image.as_str()),
            )
            .await?;
        if held.as_ref() == Some(&kept.image) {
            return Ok(false);
        }
        let what = match (describes, digest == &kept.image, kept.part) {
            (true, true, _) => format!("describes {digest}, the source's image of"),
            (true, false, _) => {
                format!("describes {digest}, which goes with the source's image of")
            }
            (false, _, true) => "is part of the source's image of".to_string(),
            (false, _, false) => "goes with the source's image of".to_string(),
        };
        let reason = format!(
            "{what} the kept tag {}, which the target does not hold: left out with it (--no-overwrite)",
            kept.tag
        );
        crate::log::emit(1, || format!("left out {item}: {reason}"));
        self.left_out.lock().expect("left-out lock").push(Problem {
            item: item.to_string(),
            reason,
        });
        Ok(true)
    }

    /// Copies a manifest the source holds without a tag (ACR untagged manifests, layout entries).
    async fn copy_untagged(&self, pair: &RepoPair, digest: &Digest) -> Result<()> {
        let item = format!("{}@{digest}", pair.target);
        if self.left_out_with_kept(pair, &item, digest, false).await? {
            return Ok(());
        }
        let kept_here = self.options.no_overwrite && self.keeps_in(&pair.target);
        // Without referrers, an untagged manifest that describes another (a signature, an
        // SBOM) is a referrer too, and stays behind.
        if !self.options.referrers || kept_here {
            let manifest = self.source.manifest(&pair.source, digest.as_str()).await?;
            let subject = manifest.view()?.subject().map(|s| s.digest.clone());
            if let Some(subject) = subject {
                if !self.options.referrers
                    || self.left_out_with_kept(pair, &item, &subject, true).await?
                {
                    return Ok(());
                }
            }
        }
        // A deep copy walks below one the target holds as below a tag it holds: what the target
        // lost is put back and counted so, the manifest itself is left as it is.
        if self.options.deep && self.target_has(pair, digest).await? {
            let repair = Repair {
                engine: self,
                root: digest,
            };
            self.walker.digest(&repair, pair, digest).await?;
        } else {
            self.walker.digest(self, pair, digest).await?;
        }
        // One the target held was pruned, its referrers unwalked: those the target holds but
        // does not list for it get listed, as a tag's do (once walked, a manifest's referrers
        // are not walked again).
        self.referrers_of_up_to_date(pair, digest).await?;
        bump(&self.counters.untagged_copied);
        Ok(())
    }

    /// Copies one tag. `known` is the source digest when a listing already gave it.
    async fn copy_tag(&self, pair: &RepoPair, tag: &str, known: Option<Digest>) -> Result<()> {
        if let Some(described) = referrers::described_by_tag(tag) {
            let item = format!("{}:{tag}", pair.target);
            if self
                .left_out_with_kept(pair, &item, &described, true)
                .await?
            {
                return Ok(());
            }
        }
        // One GET gives the source digest and bytes; the target is asked at the same time, unless
        // its listing already said it lacks the tag.
        let listed = self.target_tags.get().and_then(|m| m.get(&pair.target));
        let absent = listed.is_some_and(|tags| !tags.contains(tag));
        if let Some(known) = &known {
            // The source digest is known: ask the target first, and read the source only when
            // the tag must be copied.
            if !absent
                && self
                    .blob_permits
                    .timed(TARGET_PATH, self.target.current_digest(&pair.target, tag))
                    .await?
                    .as_ref()
                    == Some(known)
            {
                bump(&self.counters.tags_up_to_date);
                self.bring(pair, known, None);
                if self.options.deep {
                    let manifest = self
                        .blob_permits
                        .timed(
                            SOURCE_PATH,
                            self.source.manifest(&pair.source, known.as_str()),
                        )
                        .await
                        .map_err(|e| self.vanished(pair, tag, e))?;
                    self.check_held_manifest(pair, known).await?;
                    return self.repair(pair, tag, &manifest).await;
                }
                return self.referrers_of_up_to_date(pair, known).await;
            }
        }
        let (manifest, dst) = futures::join!(
            self.blob_permits
                .timed(SOURCE_PATH, self.source.manifest(&pair.source, tag)),
            async {
                if absent {
                    Ok(None)
                } else {
                    self.blob_permits
                        .timed(TARGET_PATH, self.target.current_digest(&pair.target, tag))
                        .await
                }
            }
        );
        let manifest = manifest.map_err(|e| self.vanished(pair, tag, e))?;
        let dst = dst?;
        let held = match dst.as_ref() == Some(&manifest.digest) {
            true => None,
            false => self.fallback_held(pair, tag, &manifest, &dst).await?,
        };
        if dst.as_ref() == Some(&manifest.digest)
            || held
                .as_ref()
                .is_some_and(|held| referrers::lists_all_of(held, &manifest))
        {
            bump(&self.counters.tags_up_to_date);
            self.bring(pair, &manifest.digest, Some(&manifest));
            if self.options.deep {
                // The tag's own manifest, when the target holds the source's (a fallback tag
                // may hold a merged index instead, read and checked above).
                if dst.as_ref() == Some(&manifest.digest) {
                    self.check_held_manifest(pair, &manifest.digest).await?;
                }
                return self.repair(pair, tag, &manifest).await;
            }
            return self.referrers_of_up_to_date(pair, &manifest.digest).await;
        }
        let subject = match referrers::is_fallback_tag(tag) {
            true => referrers::described_by_tag(tag),
            false => None,
        };
        if let (true, None, Some(target_had)) = (self.options.no_overwrite, &subject, &dst) {
            crate::log::emit(1, || {
                format!(
                    "kept {}:{tag}: the target has {target_had}, the source {} (--no-overwrite)",
                    pair.target, manifest.digest
                )
            });
            let item = format!("{}:{tag}", pair.target);
            self.keep_source_image(pair, &item, &manifest).await;
            self.conflicts
                .lock()
                .expect("conflicts lock")
                .push(Overwrite {
                    item,
                    target_had: target_had.clone(),
                    source: manifest.digest.clone(),
                    merged: false,
                    now: None,
                });
            return Ok(());
        }
        if let Some(subject) = &subject {
            self.subject_first(pair, subject).await?;
        }
        match self.walker.root(self, pair, tag, &manifest).await {
            Ok(_) => self.bring(pair, &manifest.digest, Some(&manifest)),
            // A referrers fallback index that lists a referrer the source no longer holds: the
            // referrers it holds are copied (the walk of the subject lists each in the target),
            // the stale entry is the source's gap, reported once; the index itself cannot be
            // written, since a registry refuses an index whose entry it lacks.
            Err(Error::ChildMissing { index, child, .. })
                if subject.is_some() && index == manifest.digest =>
            {
                let subject = subject.as_ref().expect("a fallback tag's subject");
                let problem = dangling_problem(pair, subject, &child, true);
                self.dangling(pair, &child, problem);
                return Ok(());
            }
            Err(e) => return Err(e),
        }
        if let Some(target_had) = dst {
            let merged = self.merged(pair, tag, &manifest, held.as_ref()).await;
            self.overwrote(pair, tag, target_had, &manifest.digest, merged);
        }
        Ok(())
    }

    /// A referrers fallback tag names its subject: the subject goes to the target first (by
    /// digest, with its referrers; the walk is shared with the tag that points at it), so that
    /// the target never holds a fallback tag whose subject it lacks, as a manifest never
    /// arrives before its blobs. A subject the source does not hold (the tag outlived its image)
    /// does not hold the tag back: it is copied as the source has it. Only the subject's own
    /// absence is let through: a 404 below it (a blob, a push to the target) fails the tag as
    /// anywhere else, which the source is asked to tell apart (one `HEAD`, on that path only).
    async fn subject_first(&self, pair: &RepoPair, subject: &Digest) -> Result<()> {
        match self.walker.digest(self, pair, subject).await {
            Err(e) if e.is_not_found() => {
                match self
                    .source
                    .manifest_digest(&pair.source, subject.as_str())
                    .await
                {
                    Ok(None) => Ok(()),
                    _ => Err(e),
                }
            }
            other => other.map(drop),
        }
    }

    /// Records a referrer the source lists but lacks ([`dangling_problem`]) in
    /// [`Summary::source_incomplete`], once per source repository and referrer: the walk of its
    /// subject and the copy of the fallback tag that lists it both meet it.
    fn dangling(&self, pair: &RepoPair, referrer: &Digest, problem: Problem) {
        let key = (pair.source.clone(), referrer.clone());
        if !self.dangling.lock().expect("dangling lock").insert(key) {
            return;
        }
        crate::log::emit(1, || format!("{}: {}", problem.item, problem.reason));
        self.source_incomplete
            .lock()
            .expect("incomplete lock")
            .push(problem);
    }

    /// For a referrers fallback tag overwritten with the union of the target's and the
    /// source's listings ([`Overwrite::merged`]): `Some`, with the digest the tag holds now in a
    /// real run (the target is asked: the copy's own listings of the referrers it pushed joined
    /// the tag meanwhile), when the tag lists a referrer the source's index does not. `None`
    /// when the tag holds the source's index or lists nothing beyond it.
    async fn merged(
        &self,
        pair: &RepoPair,
        tag: &str,
        manifest: &RawManifest,
        held: Option<&RawManifest>,
    ) -> Option<Option<Digest>> {
        let held = held?;
        if self.options.dry_run {
            return match referrers::merge(tag, manifest, Some(held)) {
                Ok(referrers::Merged::Union(_)) => Some(None),
                _ => None,
            };
        }
        // The tag's digest differs from the source's also when only the copy's own listing of
        // the referrers it pushed joined it: merged only when it lists a referrer the source's
        // index does not (the target's own, kept).
        let now = match self.target.current_digest(&pair.target, tag).await {
            Ok(Some(now)) if now != manifest.digest => now,
            _ => return None,
        };
        let current =
            crate::transport::Source::manifest(self.target.as_ref(), &pair.target, now.as_str())
                .await
                .ok()?;
        let (now_lists, source_lists) =
            (referrers::listed(&current)?, referrers::listed(manifest)?);
        now_lists
            .difference(&source_lists)
            .next()
            .is_some()
            .then_some(Some(now))
    }

    /// Records that the target's `tag`, which pointed at `target_had`, was made the source's
    /// `source` (in a dry run: would be): listed in the summary, and said at `-v` as it happens.
    /// `merged`: a referrers fallback tag that holds the union of both listings, with its
    /// digest after a real run ([`Overwrite::merged`], [`Overwrite::now`]).
    fn overwrote(
        &self,
        pair: &RepoPair,
        tag: &str,
        target_had: Digest,
        source: &Digest,
        merged: Option<Option<Digest>>,
    ) {
        let item = format!("{}:{tag}", pair.target);
        let dry = self.options.dry_run;
        crate::log::emit(1, || {
            let had = if dry { "has" } else { "had" };
            match &merged {
                Some(Some(now)) => format!("merged {item}: the target had {target_had}, the source {source}; the tag now holds {now}, listing the referrers of both"),
                Some(None) => format!("would merge {item}: the target has {target_had}, the source {source}; the tag would list the referrers of both"),
                None => {
                    let verb = if dry { "would overwrite" } else { "overwrote" };
                    format!("{verb} {item}: the target {had} {target_had}, the source {source}")
                }
            }
        });
        self.overwritten
            .lock()
            .expect("overwritten lock")
            .push(Overwrite {
                item,
                target_had,
                source: source.clone(),
                merged: merged.is_some(),
                now: merged.flatten(),
            });
    }

    /// A deep copy's walk below a tag the target already holds (`manifest`, the source's): every
    /// child manifest, blob and referrer the target lacks is put back and counted; the tag and
    /// its manifest are left as they are.
    async fn repair(&self, pair: &RepoPair, tag: &str, manifest: &RawManifest) -> Result<()> {
        let repair = Repair {
            engine: self,
            root: &manifest.digest,
        };
        self.walker
            .root(&repair, pair, tag, manifest)
            .await
            .map(drop)
    }

    /// True (once) when a deep copy found `digest` in the target repository on `enter`.
    fn take_held(&self, pair: &RepoPair, digest: &Digest) -> bool {
        self.options.deep
            && self
                .held
                .lock()
                .expect("held lock")
                .remove(&(pair.target.clone(), digest.clone()))
    }

    /// For a referrers fallback tag (`sha256-<hex>`) that the target holds in other bytes, the
    /// target's index. One that lists every referrer the source's lists is up to date: the
    /// target kept referrers of its own beside the source's ([`crate::referrers::merge`]), and
    /// the source's index has nothing to add.
    async fn fallback_held(
        &self,
        pair: &RepoPair,
        tag: &str,
        manifest: &RawManifest,
        dst: &Option<Digest>,
    ) -> Result<Option<RawManifest>> {
        if dst.is_none() || !referrers::is_fallback_tag(tag) || manifest.media_type != OCI_INDEX {
            return Ok(None);
        }
        let held = self
            .blob_permits
            .timed(TARGET_PATH, self.target.manifest(&pair.target, tag))
            .await
            .map_err(in_the_target)?;
        Ok(Some(held))
    }

    /// The referrers of a tag (or an untagged manifest) the target already holds: a signature or
    /// SBOM added to an unchanged image since the last run (or one whose copy failed then) still
    /// goes over. Skipped where the repository's untagged listing already brought every referrer.
    ///
    /// There, the referrers the untagged listing found in the target are not met as referrers
    /// of their subject: where the target lists referrers in fallback tags, the subject's
    /// referrers are walked all the same, so that one the target holds without listing it gets
    /// listed ([`Engine::keep_listed`]; the target's listing of a subject whose tag its tag
    /// listing did not have costs no request).
    async fn referrers_of_up_to_date(&self, pair: &RepoPair, digest: &Digest) -> Result<()> {
        if !self.options.referrers {
            return Ok(());
        }
        let listed = self
            .every_manifest_listed
            .get()
            .is_some_and(|listed| listed.contains(&pair.source));
        if listed && self.listing(pair, digest).await?.is_none() {
            return Ok(());
        }
        self.walker.referrers(self, pair, digest).await
    }

    /// Pushes a manifest (under a tag, or by digest) once everything it references is in place.
    async fn push(&self, pair: &RepoPair, tag: Option<&str>, manifest: &RawManifest) -> Result<()> {
        if self.options.dry_run {
            bump(&self.counters.manifests_would_push);
            self.count_referrer(pair, tag, manifest);
            return Ok(());
        }
        self.target
            .put_manifest(&pair.target, tag, manifest)
            .await
            .map_err(|e| {
                let item = match tag {
                    Some(tag) => format!("{}:{tag}", pair.target),
                    None => format!("{}@{}", pair.target, manifest.digest),
                };
                refused(e, &item)
            })?;
        bump(&self.counters.manifests_pushed);
        self.count_referrer(pair, tag, manifest);
        Ok(())
    }

    /// Counts a manifest with a `subject` pushed by digest (in a dry run: that would be) as a
    /// referrer copied ([`Summary::referrers_copied`]), and remembers it as listed by its push.
    fn count_referrer(&self, pair: &RepoPair, tag: Option<&str>, manifest: &RawManifest) {
        let has_subject = || manifest.view().is_ok_and(|v| v.subject().is_some());
        if tag.is_none() && has_subject() {
            bump(&self.counters.referrers_copied);
            self.pushed_referrers
                .lock()
                .expect("pushed referrers lock")
                .insert((pair.target.clone(), manifest.digest.clone()));
        }
    }

    /// Forgets what the run read of the referrer listings of a target repository whose work is
    /// all done.
    fn forget_target(&self, repository: &str) {
        self.listings
            .lock()
            .expect("listings lock")
            .retain(|(r, _), _| r != repository);
        self.pushed_referrers
            .lock()
            .expect("pushed referrers lock")
            .retain(|(r, _)| r != repository);
    }

    /// What the target lists for `subject` in its referrers fallback tag, read once per subject
    /// ([`crate::transport::Destination::fallback_listing`]); `None` where the target finds
    /// referrers by their subject itself.
    async fn listing(
        &self,
        pair: &RepoPair,
        subject: &Digest,
    ) -> Result<Option<std::collections::HashSet<Digest>>> {
        let key = (pair.target.clone(), subject.clone());
        if let Some(known) = self.listings.lock().expect("listings lock").get(&key) {
            return Ok(known.clone());
        }
        let read = self.target.fallback_listing(&pair.target, subject);
        let listed: Option<std::collections::HashSet<Digest>> = self
            .blob_permits
            .timed(TARGET_PATH, read)
            .await?
            .map(|l| l.into_iter().collect());
        self.listings
            .lock()
            .expect("listings lock")
            .insert(key, listed.clone());
        Ok(listed)
    }

    /// A referrer of `subject` is done (walked or pruned). One this run pushed was listed for its
    /// subject by its push; one the target already held is listed now where the target keeps
    /// its referrers in fallback tags (no referrers API) and the subject's tag lacks it: a run
    /// that pushed it and then failed to write the tag left it there, unfound by the target's
    /// clients. The target's listing is read once per subject (not at all for a subject whose
    /// tag the target's tag listing did not have); only a referrer it lacks is read from the
    /// source, and listed, as its push would have listed it.
    async fn keep_listed(
        &self,
        pair: &RepoPair,
        subject: &Digest,
        referrer: &Reference,
    ) -> Result<()> {
        let pushed = self
            .pushed_referrers
            .lock()
            .expect("pushed referrers lock")
            .remove(&(pair.target.clone(), referrer.digest.clone()));
        if pushed {
            return Ok(());
        }
        let Some(listed) = self.listing(pair, subject).await? else {
            return Ok(());
        };
        if listed.contains(&referrer.digest) {
            return Ok(());
        }
        let tag = referrers::fallback_tag(subject);
        if !self.options.dry_run {
            let read = self.source.manifest(&pair.source, referrer.digest.as_str());
            let manifest = self.blob_permits.timed(SOURCE_PATH, read).await?;
            let write = self.target.list_referrer(&pair.target, subject, &manifest);
            self.blob_permits
                .timed(TARGET_PATH, write)
                .await
                .map_err(|e| refused(e, &format!("{}:{tag}", pair.target)))?;
        }
        if let Some(Some(listed)) = self
            .listings
            .lock()
            .expect("listings lock")
            .get_mut(&(pair.target.clone(), subject.clone()))
        {
            listed.insert(referrer.digest.clone());
        }
        bump(&self.counters.referrers_listed);
        let verb = if self.options.dry_run {
            "would list"
        } else {
            "listed"
        };
        crate::log::emit(1, || {
            format!(
                "{verb} {}@{} in the referrers fallback tag {}:{tag}: the target held this referrer of {subject} without listing it",
                pair.target, referrer.digest, pair.target
            )
        });
        Ok(())
    }

    /// A deep copy reads a manifest it finds in the target (manifests are small), checked
    /// against its digest as every manifest read is: one damaged in the target's storage fails
    /// its item with what repairs it, as a push would not replace what the target holds.
    async fn check_held_manifest(&self, pair: &RepoPair, digest: &Digest) -> Result<()> {
        let read =
            crate::transport::Source::manifest(self.target.as_ref(), &pair.target, digest.as_str());
        match self.blob_permits.timed(TARGET_PATH, read).await {
            Ok(_) => Ok(()),
            Err(Error::DigestMismatch { actual, .. } | Error::Damaged { actual, .. }) => {
                Err(damaged_manifest(pair, digest, &actual))
            }
            Err(e) => Err(e),
        }
    }

    fn home(&self, digest: &Digest) -> Option<String> {
        self.homes.lock().expect("homes lock").get(digest).cloned()
    }

    /// Records that `repository` holds a blob, unless another repository is known to hold it
    /// already (the first stays its home, to mount from).
    fn set_home(&self, digest: &Digest, repository: &str) {
        self.homes
            .lock()
            .expect("homes lock")
            .entry(digest.clone())
            .or_insert_with(|| repository.to_string());
    }

    /// Puts one blob in a target repository (the walker asks once per repository and digest).
    ///
    /// The first request is a mount: from a repository known to hold the blob, else from the
    /// target repository itself, which answers "already here" (201) or opens the upload session
    /// (202) that the upload then uses: one request instead of a HEAD and a POST. A small blob new
    /// to a repository that had no tags goes straight to a plain upload ([`UNASKED_UPLOAD_MAX`]).
    /// Once the target has shown that it ignores mounts, [`Self::put_blob_unmounted`] does the
    /// work. True when the repository lacked the blob (it was mounted or uploaded).
    ///
    /// A blob the target failed to store with a server error counts towards stopping a run
    /// whose target fails every write ([`FailingWrites`]); one stored ends such a streak.
    async fn put_blob(&self, pair: &RepoPair, blob: &Reference) -> Result<bool> {
        match self.put_blob_asking(pair, blob).await {
            Ok(lacked) => {
                // Stored (uploaded or mounted): the target takes writes. A blob it already held
                // says nothing of that.
                if lacked {
                    *self.failing_writes.lock().expect("failing writes lock") =
                        FailingWrites::default();
                }
                Ok(lacked)
            }
            Err(e) => match failed_target_write(&e) {
                Some(host) => Err(self.count_failing_write(host, pair, &blob.digest, e)),
                None => Err(e),
            },
        }
    }

    /// [`Engine::put_blob`]'s mount, probe and upload.
    async fn put_blob_asking(&self, pair: &RepoPair, blob: &Reference) -> Result<bool> {
        if self.mounts.ignored() && !self.options.dry_run {
            return self.put_blob_unmounted(pair, blob).await;
        }
        let mut from = self
            .home(&blob.digest)
            .unwrap_or_else(|| pair.target.clone());
        // A deep copy puts back what the target lost or holds wrong: it asks the target for the
        // blob's size (a layout's mount answers by the file's presence alone, and a truncated
        // file would stay).
        let by_size = self.options.deep && from == pair.target && !self.options.dry_run;
        // Whether the repository held a copy of another size: asked again once the blob is put
        // back.
        let mut wrong_size = false;
        if by_size {
            match self.found(pair, blob).await? {
                Found::Present => return Ok(false),
                Found::WrongSize => wrong_size = true,
                // Another repository found holding it meanwhile (the walks of tags go on at
                // once): mounted from there, as any copy mounts.
                Found::Missing => {
                    if let Some(home) = self.home(&blob.digest).filter(|h| *h != pair.target) {
                        from = home;
                    }
                }
            }
        }
        // Between two prefixes of one registry, a blob no target repository is known to hold is
        // mounted from its source repository, the first request (a deep copy's, once the target
        // repository is known to lack it); one the registry does not mount goes up through the
        // session it opened instead. One held in another size is uploaded and checked below: a
        // mount would leave the registry's copy as it is.
        if self.options.mount_from_source && from == pair.target && !wrong_size {
            if self.mount(&pair.target, &pair.source, &blob.digest).await? {
                bump(&self.counters.blobs_mounted);
                self.set_home(&blob.digest, &pair.target);
                return Ok(true);
            }
            return self.transfer(pair, blob, false).await.map(|()| true);
        }
        // A small blob new to a repository that had no tags is uploaded without asking first
        // (unless the registry can mount it from the source repository).
        let unasked = from == pair.target
            && blob.size < UNASKED_UPLOAD_MAX
            && !self.options.dry_run
            && !self.options.mount_from_source
            && self.is_fresh(pair);
        if (!by_size || from != pair.target) && !unasked {
            if self.mount(&pair.target, &from, &blob.digest).await? {
                if from == pair.target {
                    bump(&self.counters.blobs_present);
                    self.set_home(&blob.digest, &pair.target);
                    return Ok(false);
                }
                bump(&self.counters.blobs_mounted);
                return Ok(true);
            }
            if from != pair.target {
                // `from` holds the blob, yet the target opened an upload session: it goes up
                // again, through that session.
                self.mount_refused(pair, &from, &blob.digest);
                return self.transfer(pair, blob, true).await.map(|()| true);
            }
            if self.held_despite_the_probe(pair, blob).await? {
                return Ok(false);
            }
        }
        // One upload per digest; other repositories wait for it and mount. A deep copy's upload
        // of a blob no repository was known to hold when it looked is a plain upload, never one
        // to count as a second, whatever another walk learns while it goes.
        let origin = self
            .uploads
            .run(&blob.digest, || async {
                if unasked {
                    // The plain upload session, timed as the probe it replaces would have been.
                    let open = self.target.open_upload(&pair.target, &blob.digest);
                    self.blob_permits.timed(TARGET_PATH, open).await?;
                }
                self.transfer(pair, blob, !by_size).await?;
                Ok(pair.target.clone())
            })
            .await?;
        if origin != pair.target {
            if self.mounts.ignored() {
                // Learnt while this upload waited: no mount is asked any more.
                self.transfer(pair, blob, true).await?;
            } else if self.mount(&pair.target, &origin, &blob.digest).await? {
                bump(&self.counters.blobs_mounted);
            } else {
                self.mount_refused(pair, &origin, &blob.digest);
                self.transfer(pair, blob, true).await?;
            }
        }
        if wrong_size {
            self.check_replaced(pair, blob).await?;
        }
        Ok(true)
    }

    /// Puts one blob in a target repository of a registry that ignores mounts: a `HEAD` asks
    /// whether the repository holds it (except for a small blob new to a repository that had no
    /// tags, uploaded without asking as with mounts), and a blob it lacks is uploaded, even one
    /// that another repository holds. True when the repository lacked it.
    async fn put_blob_unmounted(&self, pair: &RepoPair, blob: &Reference) -> Result<bool> {
        let unasked = blob.size < UNASKED_UPLOAD_MAX && self.is_fresh(pair);
        let found = match unasked {
            true => Found::Missing,
            false => self.found(pair, blob).await?,
        };
        if found == Found::Present {
            return Ok(false);
        }
        self.transfer(pair, blob, true).await?;
        if found == Found::WrongSize {
            self.check_replaced(pair, blob).await?;
        }
        Ok(true)
    }

    /// Asks the target repository with a `HEAD` whether it holds `blob`; one it holds is counted
    /// present and remembered as there.
    async fn found_present(&self, pair: &RepoPair, blob: &Reference) -> Result<bool> {
        Ok(self.found(pair, blob).await? == Found::Present)
    }

    /// [`Engine::found_present`], telling a blob the repository lacks from one it holds in
    /// another size.
    async fn found(&self, pair: &RepoPair, blob: &Reference) -> Result<Found> {
        let held = self.held_in_target(pair, blob).await?;
        // One of another size (truncated in a layout) is not the blob: it is sent again.
        let found = match held {
            Held::Sized(size) if size != blob.size => Found::WrongSize,
            Held::Missing => Found::Missing,
            Held::Sized(_) | Held::Unsized => Found::Present,
        };
        if found == Found::Present {
            bump(&self.counters.blobs_present);
            self.set_home(&blob.digest, &pair.target);
        }
        Ok(found)
    }

    /// What a `HEAD` of `blob` in the target repository says.
    async fn held_in_target(&self, pair: &RepoPair, blob: &Reference) -> Result<Held> {
        let asked = self.target.blob_size(&pair.target, &blob.digest);
        self.blob_permits.timed(TARGET_PATH, asked).await
    }

    /// After a blob the target repository held in another size was put again, asks once more
    /// (one `HEAD`). A registry keeps the content it holds under a digest (the upload is
    /// answered 201 and replaces nothing), so a copy damaged in its storage stays as it was:
    /// the item fails with what repairs it, and the blob is not counted as put back.
    async fn check_replaced(&self, pair: &RepoPair, blob: &Reference) -> Result<()> {
        match self.held_in_target(pair, blob).await? {
            Held::Sized(size) if size != blob.size => Err(damaged_blob(pair, blob, size)),
            _ => Ok(()),
        }
    }

    /// A mount from `from`, which holds the blob, was answered with an upload session. Unless a
    /// mount was honoured before (then only this one was refused, say for want of pull access to
    /// `from`), the target ignores mounts: said once, at `-v`.
    fn mount_refused(&self, pair: &RepoPair, from: &str, digest: &Digest) {
        if self.target.mount_was_refused(&pair.target, digest) {
            // Refused (401/403) for these credentials, said at `-v` where it happened: mounts
            // from repositories they may read still go.
            return;
        }
        let evidence = || {
            format!(
                "a mount of {digest} into {} from {from}, which holds it, opened an upload instead",
                pair.target
            )
        };
        if !self.mounts.ignored_seen() {
            crate::log::emit(2, || format!("mount refused ({})", evidence()));
            return;
        }
        announce_ignored_mounts(&evidence());
    }

    /// After a probe of the target repository itself answered 202 ("not here, upload"), in a
    /// repository that had tags (where the blob may well be): while the run has not seen the
    /// target honour a mount, a `HEAD` checks the answer, a few times a run at most
    /// ([`MOUNT_CHECKS`]); once the target is known to ignore mounts (learnt while the probe was
    /// on its way), the answer means nothing and the `HEAD` is the check. A blob that is there is
    /// counted present, the upload session the probe opened is cancelled, and, if not known yet,
    /// the target is known to ignore mounts.
    async fn held_despite_the_probe(&self, pair: &RepoPair, blob: &Reference) -> Result<bool> {
        // A layout's answer is its file's presence: exact, nothing to check.
        if self.options.dry_run || self.is_fresh(pair) || self.target.existence_is_cheap() {
            return Ok(false);
        }
        if !self.mounts.ignored() && !self.mounts.take_check() {
            return Ok(false);
        }
        if !self.found_present(pair, blob).await? {
            return Ok(false);
        }
        if self.mounts.ignored_seen() {
            announce_ignored_mounts(&format!(
                "a probe for {} in {}, which holds it, opened an upload instead",
                blob.digest, pair.target
            ));
        }
        Ok(true)
    }

    /// True for a non-distributable layer (one with `urls`, walked with
    /// [`CopyOptions::nondistributable`]) that the source does not hold: it is left to its URLs,
    /// as without the option, said at `-v` and counted
    /// ([`Summary::nondistributable_left_to_urls`]). The source is asked once per such layer and
    /// repository ([`Source::holds_blob`](crate::transport::Source::holds_blob)).
    async fn left_to_urls(&self, pair: &RepoPair, blob: &Reference) -> Result<bool> {
        if !blob.foreign {
            return Ok(false);
        }
        let asked = self.source.holds_blob(&pair.source, blob);
        if self.blob_permits.timed(SOURCE_PATH, asked).await? {
            return Ok(false);
        }
        bump(&self.counters.nondistributable_left_to_urls);
        crate::log::emit(1, || {
            format!(
                "left the non-distributable layer {} of {} to its URLs: the source does not hold it",
                blob.digest, pair.source
            )
        });
        Ok(true)
    }

    /// True when the target repository had no tags when the run started (or did not exist), and
    /// asking the target what it holds costs a request: a destination that answers for next to
    /// nothing (a layout) is always asked, so a rerun reuses what a killed run wrote.
    fn is_fresh(&self, pair: &RepoPair) -> bool {
        !self.target.existence_is_cheap()
            && self
                .target_tags
                .get()
                .and_then(|m| m.get(&pair.target))
                .is_some_and(|tags| tags.is_empty())
    }

    /// True when the target holds a manifest by digest. A repository that had no tags when the
    /// run started may still hold children of an interrupted run; pushing one again is harmless
    /// and cheaper than asking, so it is not asked.
    async fn target_has(&self, pair: &RepoPair, digest: &Digest) -> Result<bool> {
        if self.is_fresh(pair) {
            return Ok(false);
        }
        Ok(self
            .target
            .current_digest(&pair.target, digest.as_str())
            .await?
            .is_some())
    }

    /// Asks the target to mount a blob (`from` may be `repository` itself: an existence check).
    async fn mount(&self, repository: &str, from: &str, digest: &Digest) -> Result<bool> {
        if self.options.dry_run {
            // Read-only: a HEAD tells whether the blob is there; a mount from elsewhere would work.
            return Ok(
                from != repository || self.target.blob_size(repository, digest).await?.is_held()
            );
        }
        let mounted = self
            .blob_permits
            .timed(
                TARGET_PATH,
                self.target.mount_blob(repository, from, digest),
            )
            .await?;
        if mounted {
            self.mounts.honoured_seen();
        }
        Ok(mounted)
    }

    /// Streams a blob from the source into the target, verifying it on the way; retried a few times
    /// on transient failures, each time from the start (an interrupted chunked upload first
    /// resumes where the target stands, reading the source again from there). With `second`, a
    /// blob another target repository held before the transfer started counts as uploaded again
    /// ([`Summary::blobs_copied_again`]); without it, the caller decided on a plain upload.
    async fn transfer(&self, pair: &RepoPair, blob: &Reference, second: bool) -> Result<()> {
        let failed_before = self
            .failed_blobs
            .lock()
            .expect("failed blobs lock")
            .get(&blob.digest)
            .cloned();
        if let Some((cause, transient)) = failed_before {
            return Err(Error::FailedEarlier {
                blob: blob.digest.clone(),
                cause,
                transient,
            });
        }
        self.transfer_attempts(pair, blob, second).await
    }

    /// Counts a blob the target failed to store with a server error after every retry
    /// ([`FailingWrites`]): `e` itself, or the error that stops the run once
    /// [`FAILING_WRITES_STOP`] blobs in a row failed so.
    fn count_failing_write(&self, host: String, pair: &RepoPair, blob: &Digest, e: Error) -> Error {
        let mut failing = self.failing_writes.lock().expect("failing writes lock");
        failing.blobs.insert(blob.clone());
        failing.repositories.insert(pair.target.clone());
        let since = *failing.since.get_or_insert_with(std::time::SystemTime::now);
        if failing.blobs.len() < FAILING_WRITES_STOP || failing.repositories.len() < 2 {
            return e;
        }
        let since = crate::transport::registry::health::utc_time_of_day(since);
        Error::Unreachable {
            side: "TARGET".into(),
            host,
            reason: format!(
                "fails every write: {} blobs in a row, in {} repositories, were refused after every retry since {since}, the last with {e}: check its storage (full?) and its logs{}",
                failing.blobs.len(),
                failing.repositories.len(),
                crate::error::RESUME_ADVICE
            ),
            mid_run: true,
            mend: crate::error::Mend::Elsewhere,
        }
    }

    /// [`Engine::transfer`]'s attempts.
    async fn transfer_attempts(
        &self,
        pair: &RepoPair,
        blob: &Reference,
        second: bool,
    ) -> Result<()> {
        if self.options.dry_run {
            bump(&self.counters.blobs_copied);
            self.counters
                .bytes_copied
                .fetch_add(blob.size, Ordering::Relaxed);
            self.set_home(&blob.digest, &pair.target);
            return Ok(());
        }
        // A large blob first waits for a large-blob slot, holding no general one meanwhile.
        let _large = if blob.size >= LARGE_BLOB {
            Some(
                self.large_blob_permits
                    .acquire()
                    .await
                    .expect("semaphore open"),
            )
        } else {
            None
        };
        let _permit = self.blob_permits.acquire().await;
        // Held elsewhere in the target before this transfer started: sending it is a second
        // upload. (A repository that finds it present while this one is being sent, a layout's
        // shared file say, becomes its home first: that is no second upload.)
        let held_elsewhere = second
            && self
                .home(&blob.digest)
                .is_some_and(|home| home != pair.target);
        let mut attempt = 0;
        // How the last read from the source was wrong (the hash or size it had): the same wrong
        // read twice is the source's content, not the way's.
        let mut read_wrong: Option<String> = None;
        loop {
            attempt += 1;
            let what = format!("blob {} of {}", blob.digest, pair.source);
            // A source that would not even start the blob's answer was asked again by the
            // transport already (each request is retried): asking it all over again here would
            // multiply those retries.
            let mut source_refused = false;
            let result = async {
                let progress = self.options.progress.clone();
                let stream = self
                    .blob_permits
                    .timed(SOURCE_PATH, self.source.blob(&pair.source, blob))
                    .await
                    .map_err(|e| {
                        source_refused = true;
                        match e {
                            e if e.is_not_found() => Error::BlobMissing {
                                repository: pair.source.clone(),
                                blob: blob.digest.clone(),
                                cause: e.to_string(),
                            },
                            e => e,
                        }
                    })?;
                // An interrupted chunked upload reopens the source where the target stands; the
                // content's check goes on across the reopening (`BlobContent`).
                let reopen: Reopen = {
                    let source = self.source.clone();
                    let repository = pair.source.clone();
                    let blob = blob.clone();
                    let progress = progress.clone();
                    Arc::new(move |offset| {
                        let source = source.clone();
                        let repository = repository.clone();
                        let blob = blob.clone();
                        let progress = progress.clone();
                        Box::pin(async move {
                            let stream = source.blob_from(&repository, &blob, offset).await?;
                            Ok(counted(stream, progress))
                        })
                    })
                };
                let content = BlobContent::verified(
                    counted(stream, progress),
                    blob.digest.clone(),
                    blob.size,
                    what.clone(),
                    Some(reopen),
                );
                self.target
                    .put_blob_resumable(&pair.target, blob, content)
                    .await
            }
            .await;
            let wrong = match &result {
                Err(Error::DigestMismatch { actual, .. })
                    if !source_refused && actual.starts_with("sha256:") =>
                {
                    Some(format!("its bytes hash to {actual}"))
                }
                Err(Error::SizeMismatch {
                    expected, actual, ..
                }) if !source_refused => Some(format!(
                    "it has {actual} bytes where the manifest's descriptor says {expected}"
                )),
                _ => None,
            };
            if let Some(wrong) = wrong {
                if read_wrong.as_deref() == Some(wrong.as_str()) {
                    let damaged = Error::SourceBlobWrong {
                        repository: pair.source.clone(),
                        blob: blob.digest.clone(),
                        reason: wrong,
                    };
                    // Wrong bytes are the blob's for every repository that needs it; a wrong
                    // size is one descriptor's (another may give the right one).
                    if matches!(result, Err(Error::DigestMismatch { .. })) {
                        self.failed_blobs
                            .lock()
                            .expect("failed blobs lock")
                            .insert(blob.digest.clone(), (damaged.to_string(), false));
                    }
                    return Err(damaged);
                }
                read_wrong = Some(wrong);
            }
            match result {
                Ok(()) => {
                    bump(&self.counters.blobs_copied);
                    self.counters
                        .bytes_copied
                        .fetch_add(blob.size, Ordering::Relaxed);
                    self.set_home(&blob.digest, &pair.target);
                    if held_elsewhere {
                        bump(&self.counters.blobs_copied_again);
                    }
                    return Ok(());
                }
                // Wrong bytes may come from the way (a proxy, a broken connection): read again; a
                // source that really holds wrong bytes fails every attempt and is reported.
                Err(e)
                    if (e.is_transient() || matches!(e, Error::DigestMismatch { .. }))
                        && !source_refused
                        && attempt < BLOB_ATTEMPTS =>
                {
                    crate::log::emit(1, || {
                        // Most errors of a blob name it already (as `what` does): once is enough.
                        let error = e.to_string();
                        let said = match error.starts_with(&what) {
                            true => error,
                            false => format!("{what}: {error}"),
                        };
                        format!(
                            "{said}; copying it again (attempt {} of {BLOB_ATTEMPTS})",
                            attempt + 1
                        )
                    });
                    tokio::time::sleep(Duration::from_millis(100 * (1 << attempt.min(5)))).await;
                }
                Err(e) => {
                    // The source's refusal is the blob's, whichever repository needs it next (a
                    // target's refusal may be one repository's: other repositories still try).
                    if source_refused && !e.is_fatal() && e.unreachable_copy().is_none() {
                        self.failed_blobs
                            .lock()
                            .expect("failed blobs lock")
                            .insert(blob.digest.clone(), (e.to_string(), e.is_transient()));
                    }
                    return Err(e);
                }
            }
        }
    }
}

/// The copy's hooks in the shared walk of the source.
#[async_trait]
impl Visitor for Engine {
    /// A manifest the target already holds is pruned, with everything below it; a deep copy
    /// descends into it anyway, remembering that it needs no push.
    async fn enter(&self, pair: &RepoPair, reference: &Reference) -> Result<Step> {
        if !self.target_has(pair, &reference.digest).await? {
            return Ok(Step::Descend);
        }
        if !self.options.deep {
            return Ok(Step::Prune);
        }
        self.check_held_manifest(pair, &reference.digest).await?;
        self.held
            .lock()
            .expect("held lock")
            .insert((pair.target.clone(), reference.digest.clone()));
        Ok(Step::Descend)
    }

    async fn blob(&self, pair: &RepoPair, blob: &Reference) -> Result<()> {
        if self.left_to_urls(pair, blob).await? {
            return Ok(());
        }
        self.put_blob(pair, blob).await.map(drop)
    }

    /// Everything below is in place: the manifest is pushed (under its tag for a root), unless
    /// a deep copy found it in the target.
    async fn leave(
        &self,
        pair: &RepoPair,
        manifest: &RawManifest,
        tag: Option<&str>,
    ) -> Result<()> {
        if tag.is_none() && self.take_held(pair, &manifest.digest) {
            return Ok(());
        }
        self.push(pair, tag, manifest).await?;
        if let Some(tag) = tag {
            bump(&self.counters.tags_copied);
            self.copied.lock().expect("copied lock").push(CopiedTag {
                item: format!("{}:{tag}", pair.target),
                digest: manifest.digest.clone(),
            });
            let verb = if self.options.dry_run {
                "would copy"
            } else {
                "copied"
            };
            crate::log::emit(1, || {
                format!("{verb} {}:{tag} ({})", pair.target, manifest.digest)
            });
        }
        Ok(())
    }

    fn referrers(&self) -> bool {
        self.options.referrers
    }

    /// A tag is pushed last: after its manifest's referrers, so no run, however it stops, leaves
    /// a tag whose signatures have not arrived.
    fn referrers_before_tag(&self) -> bool {
        true
    }

    /// Below a referrer the target already holds (an SBOM copied by an earlier run), its own
    /// referrers are looked for too: a signature of that SBOM added since goes over on the next
    /// run, at any depth, as `verify --deep` checks them. The cost: one referrers listing of the
    /// source per referrer the target holds (none on a registry without the referrers API whose
    /// tag listing has no fallback tag for it), once per run; and, for one that has referrers of
    /// its own, one read of it, whose subject is checked before they are followed.
    fn referrers_of_pruned_referrers(&self) -> bool {
        self.options.referrers
    }

    /// A referrer the target already held is listed for its subject where the target lists
    /// referrers in fallback tags and the tag lacks it ([`Engine::keep_listed`]).
    async fn referrer(
        &self,
        pair: &RepoPair,
        subject: &Digest,
        referrer: &Reference,
    ) -> Result<()> {
        self.keep_listed(pair, subject, referrer).await
    }

    fn nondistributable(&self) -> bool {
        self.options.nondistributable
    }

    /// A referrer the source lists but lacks (a stale entry of its fallback index) holds back
    /// neither its subject nor the other referrers: it is the source's gap, reported once.
    async fn referrer_missing(
        &self,
        pair: &RepoPair,
        subject: &Digest,
        referrer: &Reference,
        _error: Error,
    ) -> Result<()> {
        let problem =
            dangling_referrer(self.source.as_ref(), pair, subject, &referrer.digest).await;
        self.dangling(pair, &referrer.digest, problem);
        Ok(())
    }
}

/// A deep copy's hooks below a tag the target already holds: the engine's, except that the tag and
/// its manifest are never pushed again and what the target lacked is counted as put back.
struct Repair<'a> {
    engine: &'a Engine,
    /// The manifest of the tag, in the target already.
    root: &'a Digest,
}

#[async_trait]
impl Visitor for Repair<'_> {
    async fn enter(&self, pair: &RepoPair, reference: &Reference) -> Result<Step> {
        self.engine.enter(pair, reference).await
    }

    /// A blob another repository holds would be mounted whether this one has it or not: a `HEAD`
    /// asks first, so that only what the repository lacked is counted as put back. One it held
    /// in another size is asked again once put back: a registry keeps what it holds.
    async fn blob(&self, pair: &RepoPair, blob: &Reference) -> Result<()> {
        if self.engine.left_to_urls(pair, blob).await? {
            return Ok(());
        }
        let elsewhere = self
            .engine
            .home(&blob.digest)
            .is_some_and(|home| home != pair.target);
        let found = match elsewhere {
            true => self.engine.found(pair, blob).await?,
            false => Found::Missing,
        };
        if found == Found::Present {
            return Ok(());
        }
        if self.engine.put_blob(pair, blob).await? {
            if found == Found::WrongSize {
                self.engine.check_replaced(pair, blob).await?;
            }
            bump(&self.engine.counters.blobs_put_back);
            crate::log::emit(1, || {
                format!("put back blob {} in {}", blob.digest, pair.target)
            });
        }
        Ok(())
    }

    /// The tag is up to date, and so is what the target held; anything else is pushed back.
    async fn leave(
        &self,
        pair: &RepoPair,
        manifest: &RawManifest,
        tag: Option<&str>,
    ) -> Result<()> {
        if tag.is_some()
            || &manifest.digest == self.root
            || self.engine.take_held(pair, &manifest.digest)
        {
            return Ok(());
        }
        self.engine.push(pair, None, manifest).await?;
        bump(&self.engine.counters.manifests_put_back);
        crate::log::emit(1, || {
            format!("put back manifest {}@{}", pair.target, manifest.digest)
        });
        Ok(())
    }

    fn referrers(&self) -> bool {
        self.engine.referrers()
    }

    fn referrers_before_tag(&self) -> bool {
        true
    }

    fn referrers_of_pruned_referrers(&self) -> bool {
        self.engine.referrers_of_pruned_referrers()
    }

    async fn referrer(
        &self,
        pair: &RepoPair,
        subject: &Digest,
        referrer: &Reference,
    ) -> Result<()> {
        self.engine.keep_listed(pair, subject, referrer).await
    }

    fn nondistributable(&self) -> bool {
        self.engine.nondistributable()
    }

    async fn referrer_missing(
        &self,
        pair: &RepoPair,
        subject: &Digest,
        referrer: &Reference,
        error: Error,
    ) -> Result<()> {
        self.engine
            .referrer_missing(pair, subject, referrer, error)
            .await
    }
}

/// What a source that lacks content `item` references ([`Error::is_incomplete_store`]) lacks, in
/// the words of `copy` and `verify`, with what to do.
pub fn source_gap(e: &Error, item: &str) -> String {
    let what = match e {
        Error::ChildMissing { child, .. } => format!("child {child} of the index {item}"),
        Error::ReferrerMissing {
            referrer, subject, ..
        } => format!("referrer {referrer} of {subject} (below {item})"),
        Error::BlobMissing { blob, .. } => format!("blob {blob} of {item}"),
        Error::SourceBlobWrong { blob, reason, .. } => {
            return format!(
                "blob {blob} of {item} is wrong in the SOURCE ({reason}, read twice the same): copying it again will not help; push the image to the source again, or leave it out with --exclude-tag/--exclude-repo"
            )
        }
        Error::Damaged { what, actual, .. } => {
            return format!(
                "{what}, below {item}, is damaged in the SOURCE (its content hashes to {actual}): copying it again will not help; push it to the source again, or leave it out with --exclude-tag/--exclude-repo"
            )
        }
        other => format!("{item} ({other})"),
    };
    format!(
        "{what} is missing in the SOURCE (the source is incomplete): copying it again will not help; push it to the source again, or leave it out with --exclude-tag/--exclude-repo"
    )
}

/// The one report of a referrer the source lists for `subject` but does not hold, in the words
/// of `copy` and `verify` ([`dangling_problem`]): named by the source's referrers fallback tag of
/// `subject` when the source has that tag (the usual case), else by the subject. One `HEAD` of
/// the source.
pub async fn dangling_referrer(
    source: &dyn crate::transport::Store,
    pair: &RepoPair,
    subject: &Digest,
    referrer: &Digest,
) -> Problem {
    let tag = referrers::fallback_tag(subject);
    let by_tag = matches!(
        source.manifest_digest(&pair.source, &tag).await,
        Ok(Some(_))
    );
    dangling_problem(pair, subject, referrer, by_tag)
}

/// A referrer `referrer` the source lists for `subject` and does not hold: with `by_tag`, listed
/// by the source's referrers fallback tag of `subject` (a stale entry, left when the referrer was
/// deleted: cosign, notation and oras leave the tag behind), named by that tag; else named by
/// the subject. The subject and every referrer the source holds are copied all the same.
pub fn dangling_problem(
    pair: &RepoPair,
    subject: &Digest,
    referrer: &Digest,
    by_tag: bool,
) -> Problem {
    let outcome = format!(
        "{subject} and the referrers the source holds are copied without it; copying again will not help"
    );
    if by_tag {
        let tag = referrers::fallback_tag(subject);
        return Problem {
            item: format!("{}:{tag}", pair.target),
            reason: format!(
                "referrer {referrer} of {subject}, listed by this referrers fallback tag, is missing in the SOURCE (a stale entry, left when the referrer was deleted): {outcome}; remove the entry from the source's tag, or push the referrer to the source again"
            ),
        };
    }
    Problem {
        item: format!("{}@{subject}", pair.target),
        reason: format!(
            "referrer {referrer}, which the source lists for it, is missing in the SOURCE (the source is incomplete): {outcome}; push the referrer to the source again"
        ),
    }
}

/// An error of a read from the target: a damaged manifest there is the target's, which the
/// copy then writes again, not a gap in the source ([`Error::is_incomplete_store`] speaks of
/// the source).
fn in_the_target(e: Error) -> Error {
    match e {
        Error::Damaged { .. } => Error::Invalid {
            what: "in the TARGET".into(),
            reason: format!(
                "{e}: remove it there (or the layout's entry), then run the same command again"
            ),
        },
        other => other,
    }
}

/// What repairs content damaged in the target's storage, as `verify` says it of damaged blobs: a
/// copy finds it present and cannot replace it, so it goes first.
fn remove_then_copy_again(digest: &Digest) -> String {
    format!(
        "remove it from the target (a layout's blobs/sha256/{} file; in a registry, by its operator, from its storage), then copy again with --deep",
        digest.hex()
    )
}

/// A manifest a deep copy found in the target whose stored bytes hash to `actual`.
fn damaged_manifest(pair: &RepoPair, digest: &Digest, actual: &str) -> Error {
    Error::invalid(
        format!("manifest {}@{digest}", pair.target),
        format!(
            "damaged in the target's storage (its content hashes to {actual}): a copy finds it present and does not replace it; {}",
            remove_then_copy_again(digest)
        ),
    )
}

/// A blob the target repository holds with `held` bytes, still after it was put back.
fn damaged_blob(pair: &RepoPair, blob: &Reference, held: u64) -> Error {
    Error::invalid(
        format!("blob {} in {}", blob.digest, pair.target),
        format!(
            "damaged in the target's storage (it has {held} bytes there, its descriptor says {}, and an upload did not replace it: a registry keeps the content it holds under a digest); {}",
            blob.size,
            remove_then_copy_again(&blob.digest)
        ),
    )
}

/// `stream`, reporting the bytes that pass to `progress`.
fn counted(stream: ByteStream, progress: Arc<dyn Progress>) -> ByteStream {
    Box::pin(stream.inspect(move |chunk| {
        if let Ok(c) = chunk {
            progress.bytes(c.len() as u64);
        }
    }))
}

/// How [`refused`] begins its reason: a manifest the target would not take.
pub(crate) const TARGET_REFUSED_MANIFEST: &str = "the target refused the manifest";

/// A manifest the target refuses (400, 415) fails its item, naming the target's reason: a tag
/// that did not arrive is a gap however the target words it (`MANIFEST_BLOB_UNKNOWN`, a media
/// type it does not take, foreign layer URLs it does not allow), never a skip that exits 0.
fn refused(e: Error, item: &str) -> Error {
    match e {
        Error::Status {
            status: status @ (400 | 415),
            code,
            message,
            ..
        } => {
            // Distribution's answer while another client rewrites a manifest this one lists,
            // left after a few tries.
            let hint = if code.as_deref() == Some("DIGEST_INVALID") {
                "; if another client is writing this repository, run the copy again once it is done"
            } else {
                ""
            };
            Error::invalid(
                item,
                format!(
                    "{TARGET_REFUSED_MANIFEST} ({}{}){hint}",
                    code.unwrap_or_else(|| format!("HTTP {status}")),
                    message.map(|m| format!(": {m}")).unwrap_or_default()
                ),
            )
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(status: u16, code: &str) -> Error {
        Error::Status {
            method: "PUT".into(),
            url: "https://reg.example/v2/a/manifests/v1".into(),
            status,
            code: Some(code.into()),
            message: Some("blob unknown to registry".into()),
        }
    }

    #[test]
    fn a_mount_honoured_first_makes_a_later_refusal_one_refused_mount_not_ignored_mounts() {
        let mounts = MountSupport::default();
        mounts.honoured_seen();
        assert!(!mounts.ignored_seen());
        assert!(!mounts.ignored());
        assert!(!mounts.take_check(), "nothing left to check once settled");
    }

    #[test]
    fn ignored_mounts_are_settled_once_and_stay_settled() {
        let mounts = MountSupport::default();
        assert!(mounts.ignored_seen(), "the first proof settles it");
        assert!(!mounts.ignored_seen(), "and is the only one announced");
        mounts.honoured_seen();
        assert!(mounts.ignored());
    }

    #[test]
    fn probe_answers_are_checked_a_bounded_number_of_times_a_run() {
        let mounts = MountSupport::default();
        let checks = (0..3 * MOUNT_CHECKS)
            .filter(|_| mounts.take_check())
            .count();
        assert_eq!(checks, MOUNT_CHECKS);
    }

    #[test]
    fn a_source_gap_names_what_the_source_lacks_and_that_a_rerun_will_not_help() {
        let child = Digest::of(b"child");
        let e = Error::ChildMissing {
            repository: "idx".into(),
            index: Digest::of(b"index"),
            child: child.clone(),
            cause: "HTTP 404 MANIFEST_UNKNOWN".into(),
        };
        assert!(e.is_incomplete_store() && !e.is_transient() && !e.is_fatal());
        let text = source_gap(&e, "idx/missing:list");
        assert!(
            text.starts_with(&format!(
                "child {child} of the index idx/missing:list is missing in the SOURCE (the source is incomplete): copying it again will not help"
            )),
            "{text}"
        );
        let schema1 = Error::Schema1 {
            media_type: crate::manifest::DOCKER_SCHEMA1_SIGNED.into(),
        };
        assert!(schema1.is_unsupported() && !schema1.is_incomplete_store());
        assert!(schema1.to_string().contains("--exclude-tag/--exclude-repo"));
    }

    #[test]
    fn a_manifest_the_target_refuses_fails_its_tag_with_the_reason() {
        for (code, http) in [
            ("MANIFEST_BLOB_UNKNOWN", 400),
            ("MANIFEST_INVALID", 400),
            ("UNSUPPORTED", 415),
        ] {
            let e = refused(status(http, code), "a:v1");
            assert!(!matches!(e, Error::Unsupported { .. }), "{e}");
            assert!(!e.is_transient() && !e.is_fatal(), "{e}");
            let text = e.to_string();
            assert!(
                text.starts_with("a:v1: the target refused the manifest") && text.contains(code),
                "{text}"
            );
        }
        let text = refused(status(400, "DIGEST_INVALID"), "a:sha256-00").to_string();
        assert!(text.contains("run the copy again"), "{text}");
        // Other answers keep their own meaning (a 500 is retried, a 404 is a 404).
        assert!(refused(status(503, "UNAVAILABLE"), "a:v1").is_transient());
    }
}
