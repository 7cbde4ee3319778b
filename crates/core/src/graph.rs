//! Walking manifest graphs: a manifest, its child manifests, their blobs and, when asked, the
//! referrers of each. The one traversal behind `copy`, `inventory` and `verify`.
//!
//! A [`Walker`] reads manifests from one source and owns the walk: fetching by digest, parsing, the
//! index depth limit ([`MAX_INDEX_DEPTH`]), memoisation (each manifest, each blob and each
//! referrer listing is handled once per repository and digest, however many tags reach it;
//! concurrent callers share one run and a failed run is tried again by the next caller), children
//! and blobs walked concurrently, referrers one after another. A referrer is followed only when
//! its own `subject` is the manifest it is listed for, and the referrers of a manifest are walked
//! once its graph is done, outside the memo cells of its graph: a walk that waits on a graph
//! never waits on a referrers walk. Tags walked at once then do not wait on each other through a
//! listing that leads back or an index that lists its own subject. Nor through referrers whose
//! graphs lead to each other's subjects (an index R with subject M1 that lists M2, and an index
//! R' with subject M2 that lists M1, entered from both ends at once): a walk inside a referrer
//! does not wait for the referrers of a manifest another walk is walking, it leaves them to it.
//! A [`Visitor`] decides what happens:
//!
//! - [`Visitor::enter`], before a manifest reached by digest is fetched: descend or prune;
//! - [`Visitor::blob`], once per distributable blob (config or layer);
//! - [`Visitor::leave`], once every blob and child below a manifest is done: what a visitor does
//!   there comes after everything the manifest references, the order a copy needs (blobs →
//!   children → manifest → tag);
//! - [`Visitor::referrers`], whether referrers are followed; [`Visitor::referrer`] after each
//!   (walked or pruned).
//!
//! Users: `copy` walks the source with a visitor that prunes what the target already holds, moves
//! blobs and pushes manifests on `leave` ([`Walker::without_graphs`], nothing kept). `inventory`
//! walks the source and `verify --deep` the target with [`Walker::graph_of_tag`] and
//! [`Walker::graph_of_digest`], which keep the graphs as [`Node`]s; `verify --deep` also walks the
//! referrers of the source with a visitor that prunes each one and checks it in the target.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::hash::Hash;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use futures::future::{try_join_all, BoxFuture};
use futures::FutureExt;
use tokio::sync::OnceCell;

use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::manifest::{ManifestView, RawManifest, Reference, MAX_INDEX_DEPTH};
use crate::transport::Source;
use crate::walk::RepoPair;

/// A manifest with everything below it.
#[derive(Clone, Debug)]
pub struct Node {
    /// The manifest.
    pub manifest: RawManifest,
    /// What it references.
    pub view: Arc<ManifestView>,
    /// Its child manifests (index entries), walked; those a visitor pruned are absent.
    pub children: Vec<Arc<Node>>,
}

impl Node {
    /// Every distributable blob below this node (configs and layers), by digest.
    pub fn blobs(&self) -> BTreeMap<Digest, Reference> {
        self.blobs_with(false)
    }

    /// Every blob below this node, non-distributable layers (with `urls`) too when
    /// `nondistributable`.
    pub fn blobs_with(&self, nondistributable: bool) -> BTreeMap<Digest, Reference> {
        let mut out = BTreeMap::new();
        self.collect_blobs(&mut out, nondistributable);
        out
    }

    fn collect_blobs(&self, out: &mut BTreeMap<Digest, Reference>, nondistributable: bool) {
        for b in self.view.blobs() {
            if nondistributable || !b.foreign {
                out.entry(b.digest.clone()).or_insert_with(|| b.clone());
            }
        }
        for c in &self.children {
            c.collect_blobs(out, nondistributable);
        }
    }

    /// Every manifest digest in this graph, this one included.
    pub fn manifests(&self) -> Vec<Digest> {
        let mut out = vec![self.manifest.digest.clone()];
        for c in &self.children {
            out.extend(c.manifests());
        }
        out
    }
}

/// What a walk does with a manifest reached by digest, decided before it is fetched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Fetch it and walk everything below it.
    Descend,
    /// Leave it alone: no fetch, no blobs, no children, no `leave`, no referrers.
    Prune,
}

/// The hooks of a walk. Every hook has a default: descend everywhere, do nothing, follow no
/// referrers.
#[async_trait]
pub trait Visitor: Send + Sync {
    /// Before a manifest reached by digest (index entry, referrer, root by digest) is fetched;
    /// called once per repository and digest.
    async fn enter(&self, _pair: &RepoPair, _reference: &Reference) -> Result<Step> {
        Ok(Step::Descend)
    }

    /// A distributable blob (config or layer); called once per repository and digest.
    async fn blob(&self, _pair: &RepoPair, _blob: &Reference) -> Result<()> {
        Ok(())
    }

    /// A manifest whose blobs and children are all done. `tag` is set for the root of a tag,
    /// absent for a manifest reached by digest.
    async fn leave(
        &self,
        _pair: &RepoPair,
        _manifest: &RawManifest,
        _tag: Option<&str>,
    ) -> Result<()> {
        Ok(())
    }

    /// True to walk the referrers of every manifest after `leave`.
    fn referrers(&self) -> bool {
        false
    }

    /// True to have the referrers of a tag's manifest done before the tag itself: the manifest
    /// is left by digest, its referrers walked, then it is left again with its tag (a copy's
    /// target then never shows a tag whose signatures have not arrived yet).
    fn referrers_before_tag(&self) -> bool {
        false
    }

    /// True to walk the referrers of a manifest `enter` pruned too (a check of referrers at
    /// every depth: signatures of signatures, SBOMs of attestations).
    fn referrers_of_pruned(&self) -> bool {
        false
    }

    /// True to walk the referrers of a *referrer* `enter` pruned (an SBOM the target already
    /// holds, whose signature may be new): [`Visitor::referrers_of_pruned`] limited to manifests
    /// reached as referrers. Each such referrer costs one referrers listing of the source.
    fn referrers_of_pruned_referrers(&self) -> bool {
        self.referrers_of_pruned()
    }

    /// True to visit non-distributable layers (descriptors with `urls`, such as Windows base
    /// layers) like any blob; by default they are left to their URLs.
    fn nondistributable(&self) -> bool {
        false
    }

    /// A referrer of `subject` is done (walked or pruned); called for each one the source lists
    /// and holds.
    async fn referrer(
        &self,
        _pair: &RepoPair,
        _subject: &Digest,
        _referrer: &Reference,
    ) -> Result<()> {
        Ok(())
    }

    /// A referrer the source lists for `subject` but does not hold (`error`, an
    /// [`Error::ReferrerMissing`]): typically a stale entry of a referrers fallback index
    /// (`sha256-<hex>`), whose referrer was deleted while the tag was left behind. By default the
    /// walk fails with `error`; a visitor that records it returns `Ok`, and the walk goes on with
    /// the subject's other referrers (the subject itself is not held back by it).
    async fn referrer_missing(
        &self,
        _pair: &RepoPair,
        _subject: &Digest,
        _referrer: &Reference,
        error: Error,
    ) -> Result<()> {
        Err(error)
    }
}

/// A visitor that descends everywhere and does nothing: for walks that want only the graph.
struct GraphOnly;

impl Visitor for GraphOnly {}

/// A map of keys to run-once cells: concurrent callers of one key share one run; a failed run is
/// tried again by the next caller.
pub(crate) struct OnceMap<K, V> {
    cells: Mutex<HashMap<K, Arc<OnceCell<V>>>>,
}

impl<K: Eq + Hash + Clone, V: Clone> OnceMap<K, V> {
    /// An empty map.
    pub(crate) fn new() -> Self {
        OnceMap {
            cells: Mutex::new(HashMap::new()),
        }
    }

    fn cell(&self, key: &K) -> Arc<OnceCell<V>> {
        self.cells
            .lock()
            .expect("once map lock")
            .entry(key.clone())
            .or_default()
            .clone()
    }

    /// Forgets every key `drop` picks.
    fn forget(&self, drop: impl Fn(&K) -> bool) {
        self.cells
            .lock()
            .expect("once map lock")
            .retain(|k, _| !drop(k));
    }

    /// Runs `init` once for `key` (again if an earlier run failed) and returns its value.
    pub(crate) async fn run<F, Fut>(&self, key: &K, init: F) -> Result<V>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V>>,
    {
        self.cell(key).get_or_try_init(init).await.cloned()
    }
}

/// A repository of the source and a digest.
type Key = (String, Digest);

/// The manifests below one (at any depth) whose referrers a walk follows, once its graph is done.
type Below = Arc<Vec<Digest>>;

/// A manifest reached by digest, done.
#[derive(Clone)]
enum Entered {
    /// The visitor pruned it: not fetched.
    Pruned,
    /// Walked and left.
    Walked {
        walked: Walked,
        /// The subject it names, if any.
        subject: Option<Digest>,
        /// The manifests below it whose referrers are followed.
        below: Below,
    },
}

/// What a walk gives back: the graph, or `None` when the visitor pruned it or the walker keeps no
/// graphs ([`Walker::without_graphs`]).
pub type Walked = Option<Arc<Node>>;

/// Walks manifest graphs of one source, memoised by repository and digest.
pub struct Walker {
    source: Arc<dyn Source>,
    keep_graphs: bool,
    /// Everything below a manifest is done (not their referrers): its graph, and the manifests
    /// below it whose referrers the walk follows.
    graphs: OnceMap<Key, (Walked, Below)>,
    /// A manifest reached by digest is entered, walked and left (or pruned); its referrers are
    /// walked after, outside this cell, so that a walk waiting on it never waits on a referrers
    /// walk (which may wait on the manifest's index: a loop across tags).
    manifests: OnceMap<Key, Entered>,
    /// A blob was visited.
    blobs: OnceMap<Key, ()>,
    /// The referrers of a manifest are done.
    referrer_walks: OnceMap<Key, ()>,
    /// The referrer walks in progress (their cells of `referrer_walks` being filled).
    referrers_running: Mutex<std::collections::HashSet<Key>>,
    /// Manifests listed as a referrer of a subject they do not name, with the subject they name,
    /// by (repository and manifest, listed subject): from the check to its warning.
    misfiled: Mutex<HashMap<(Key, Digest), Option<Digest>>>,
}

impl Walker {
    /// A walker over `source` that keeps the graphs it walks as [`Node`]s.
    pub fn new(source: Arc<dyn Source>) -> Self {
        Self::build(source, true)
    }

    /// A walker over `source` that remembers only which manifests are done, not their content:
    /// for walks whose work is in the visitor (a copy of a large registry holds no manifests).
    pub fn without_graphs(source: Arc<dyn Source>) -> Self {
        Self::build(source, false)
    }

    fn build(source: Arc<dyn Source>, keep_graphs: bool) -> Self {
        Walker {
            source,
            keep_graphs,
            graphs: OnceMap::new(),
            manifests: OnceMap::new(),
            blobs: OnceMap::new(),
            referrer_walks: OnceMap::new(),
            referrers_running: Mutex::default(),
            misfiled: Mutex::new(HashMap::new()),
        }
    }

    /// Forgets what was walked in `repository` of the source (graphs and done marks), once no
    /// walk there is in flight: a walk of a registry, repository after repository, then holds
    /// the graphs of the repositories in progress only. A later walk there starts afresh.
    pub fn forget_repository(&self, repository: &str) {
        let here = |key: &Key| key.0 == repository;
        self.graphs.forget(here);
        self.manifests.forget(here);
        self.blobs.forget(here);
        self.referrer_walks.forget(here);
    }

    /// The graph of a tag of `pair.source`, kept.
    pub async fn graph_of_tag(&self, pair: &RepoPair, tag: &str) -> Result<Arc<Node>> {
        let walked = self.tag(&GraphOnly, pair, tag).await?;
        self.kept(walked, pair, tag)
    }

    /// The graph of a manifest of `pair.source` by digest, kept.
    pub async fn graph_of_digest(&self, pair: &RepoPair, digest: &Digest) -> Result<Arc<Node>> {
        let walked = self.digest(&GraphOnly, pair, digest).await?;
        self.kept(walked, pair, digest.as_str())
    }

    fn kept(&self, walked: Walked, pair: &RepoPair, reference: &str) -> Result<Arc<Node>> {
        walked.ok_or_else(|| {
            Error::invalid(
                format!("{}:{reference}", pair.source),
                "this walker keeps no graphs",
            )
        })
    }

    /// Fetches a tag of `pair.source` and walks it as a root ([`Walker::root`]).
    pub async fn tag(&self, visitor: &dyn Visitor, pair: &RepoPair, tag: &str) -> Result<Walked> {
        let manifest = self.source.manifest(&pair.source, tag).await?;
        self.root(visitor, pair, tag, &manifest).await
    }

    /// Walks a manifest fetched by tag: everything below it, then `leave` with the tag, then its
    /// referrers (for a visitor that wants [`Visitor::referrers_before_tag`] and a manifest that
    /// has referrers: `leave` by digest, the referrers, then `leave` with the tag).
    pub async fn root(
        &self,
        visitor: &dyn Visitor,
        pair: &RepoPair,
        tag: &str,
        manifest: &RawManifest,
    ) -> Result<Walked> {
        let (walked, below) = self.graph(visitor, pair, manifest, &[]).await?;
        self.referrers_below(
            visitor,
            pair,
            &below,
            std::slice::from_ref(&manifest.digest),
        )
        .await?;
        let referrers_first = visitor.referrers() && visitor.referrers_before_tag();
        if referrers_first {
            let listed = self
                .source
                .referrers(&pair.source, &manifest.digest)
                .await?;
            if listed.as_ref().is_some_and(|l| !l.is_empty()) {
                visitor.leave(pair, manifest, None).await?;
                self.referrers_listed(visitor, pair, &manifest.digest, &[], Some(listed))
                    .await
                    .map_err(|e| referrer_refused(e, &manifest.digest))?;
            }
        }
        visitor.leave(pair, manifest, Some(tag)).await?;
        if !referrers_first {
            self.referrers_at(visitor, pair, &manifest.digest, &[])
                .await?;
        }
        Ok(walked)
    }

    /// Walks a manifest of `pair.source` by digest (a root no tag points at): `enter`, then
    /// everything below it, `leave`, its referrers.
    pub async fn digest(
        &self,
        visitor: &dyn Visitor,
        pair: &RepoPair,
        digest: &Digest,
    ) -> Result<Walked> {
        self.child(visitor, pair, &bare_reference(digest), None, &[])
            .await
    }

    /// Walks the referrers of a manifest of `pair.source` (when the visitor follows referrers and
    /// the source can list them), each as a manifest reached by digest.
    pub async fn referrers(
        &self,
        visitor: &dyn Visitor,
        pair: &RepoPair,
        digest: &Digest,
    ) -> Result<()> {
        self.referrers_at(visitor, pair, digest, &[]).await
    }

    /// A manifest reached by digest below the manifests of `trail` (its index and the subjects
    /// above it, the nearest last; as many as it is deep), once per repository and digest;
    /// `listed_by` says what listed it, if anything: one the source does not hold is then
    /// reported as [`Error::ChildMissing`] or [`Error::ReferrerMissing`] (the source is
    /// incomplete), not as a plain 404.
    ///
    /// A manifest listed as a referrer of a subject is followed only if its own `subject` is that
    /// subject (checked once fetched, before its graph or its referrers are walked): a listing
    /// that names anything else (a fallback tag `sha256-<hex>` anyone with push rights can write)
    /// is warned about and not followed. A real referrer's digest covers its subject's, so the
    /// subject edges followed never lead back to a manifest below them, and two walks (two tags)
    /// entering a listing from opposite ends do not wait on each other.
    ///
    /// One of `trail` again (valid content can do it: an index with subject S that also lists S
    /// as a child) is already walked above: skipped with a note, and the walk goes on.
    fn child<'a>(
        &'a self,
        visitor: &'a dyn Visitor,
        pair: &'a RepoPair,
        reference: &'a Reference,
        listed_by: Option<ListedBy<'a>>,
        trail: &'a [Digest],
    ) -> BoxFuture<'a, Result<Walked>> {
        let subject = match listed_by {
            Some(ListedBy::Subject(s)) => Some(s),
            _ => None,
        };
        let walk = async move {
            match self
                .left(visitor, pair, reference, listed_by, trail)
                .await?
            {
                None => Ok(None),
                Some(Entered::Pruned) => {
                    if visitor.referrers_of_pruned()
                        || (subject.is_some() && visitor.referrers_of_pruned_referrers())
                    {
                        self.referrers_of_pruned(visitor, pair, reference, subject, trail)
                            .await?;
                    }
                    Ok(None)
                }
                Some(Entered::Walked { walked, below, .. }) => {
                    let here = [trail, std::slice::from_ref(&reference.digest)].concat();
                    self.referrers_below(visitor, pair, &below, &here).await?;
                    self.referrers_at(visitor, pair, &reference.digest, trail)
                        .await?;
                    Ok(walked)
                }
            }
        };
        let entering_a_referrer = subject.is_some() && INSIDE_REFERRER.try_with(|_| ()).is_err();
        if entering_a_referrer {
            INSIDE_REFERRER.scope((), walk).boxed()
        } else {
            walk.boxed()
        }
    }

    /// [`Self::child`] up to its `leave` (or prune), its referrers and those below it left to the
    /// caller; `None` when it is not followed (met again below itself, or listed as a referrer
    /// of a subject it does not name).
    fn left<'a>(
        &'a self,
        visitor: &'a dyn Visitor,
        pair: &'a RepoPair,
        reference: &'a Reference,
        listed_by: Option<ListedBy<'a>>,
        trail: &'a [Digest],
    ) -> BoxFuture<'a, Result<Option<Entered>>> {
        async move {
            if trail.contains(&reference.digest) {
                crate::log::emit(1, || {
                    format!(
                        "{}: {} is reached again below itself ({}); already walked above, not followed again",
                        pair.source,
                        reference.digest,
                        what_listed(listed_by),
                    )
                });
                return Ok(None);
            }
            let key = (pair.source.clone(), reference.digest.clone());
            let subject = match listed_by {
                Some(ListedBy::Subject(s)) => Some(s),
                _ => None,
            };
            let entered = self
                .manifests
                .run(&key, || async {
                    if visitor.enter(pair, reference).await? == Step::Prune {
                        return Ok(Entered::Pruned);
                    }
                    let manifest = self
                        .source
                        .manifest(&pair.source, reference.digest.as_str())
                        .await
                        .map_err(|e| match listed_by {
                            Some(ListedBy::Index(index)) if e.is_not_found() => {
                                Error::ChildMissing {
                                    repository: pair.source.clone(),
                                    index: index.clone(),
                                    child: reference.digest.clone(),
                                    cause: e.to_string(),
                                }
                            }
                            Some(ListedBy::Subject(subject)) if e.is_not_found() => {
                                Error::ReferrerMissing {
                                    repository: pair.source.clone(),
                                    subject: subject.clone(),
                                    referrer: reference.digest.clone(),
                                    cause: e.to_string(),
                                }
                            }
                            _ => e,
                        })?;
                    let named = match subject {
                        Some(s) => self.check_subject(pair, &manifest, s)?,
                        None => manifest.view()?.subject().map(|r| r.digest.clone()),
                    };
                    let (walked, below) = self.graph(visitor, pair, &manifest, trail).await?;
                    visitor.leave(pair, &manifest, None).await?;
                    Ok(Entered::Walked {
                        walked,
                        subject: named,
                        below,
                    })
                })
                .await;
            let misfiled = |key: Key, s: &Digest| {
                self.misfiled
                    .lock()
                    .expect("misfiled lock")
                    .remove(&(key, s.clone()))
            };
            match (entered, subject) {
                // Not memoised (an error never is): reached otherwise (an index's child, a
                // root), the same manifest is walked.
                (Err(e), Some(s)) => match misfiled(key, s) {
                    Some(real) => {
                        warn_misfiled(pair, &reference.digest, s, real.as_ref());
                        Ok(None)
                    }
                    None => Err(e),
                },
                // Walked by another path first: checked here all the same.
                (Ok(Entered::Walked { subject: named, .. }), Some(s))
                    if named.as_ref() != Some(s) =>
                {
                    warn_misfiled(pair, &reference.digest, s, named.as_ref());
                    Ok(None)
                }
                (entered, _) => entered.map(Some),
            }
        }
        .boxed()
    }

    /// The referrers of the manifests `below` one (its graph done), below those of `trail`, one
    /// manifest after another.
    async fn referrers_below(
        &self,
        visitor: &dyn Visitor,
        pair: &RepoPair,
        below: &[Digest],
        trail: &[Digest],
    ) -> Result<()> {
        if !visitor.referrers() {
            return Ok(());
        }
        for digest in below {
            self.referrers_at(visitor, pair, digest, trail).await?;
        }
        Ok(())
    }

    /// The referrers of a manifest `enter` pruned. One listed as a referrer of `subject` is read
    /// (its subject checked) only when it has referrers of its own: a re-run whose target holds
    /// every referrer costs no more than the listing.
    async fn referrers_of_pruned(
        &self,
        visitor: &dyn Visitor,
        pair: &RepoPair,
        reference: &Reference,
        subject: Option<&Digest>,
        trail: &[Digest],
    ) -> Result<()> {
        let Some(s) = subject else {
            return self
                .referrers_at(visitor, pair, &reference.digest, trail)
                .await;
        };
        if !visitor.referrers() || trail.len() >= MAX_INDEX_DEPTH {
            return Ok(());
        }
        let listed = self
            .source
            .referrers(&pair.source, &reference.digest)
            .await?;
        if listed.as_ref().is_some_and(|l| !l.is_empty()) {
            let real = self
                .subject_of(pair, &reference.digest)
                .await
                .map_err(|e| match e {
                    e if e.is_not_found() => Error::ReferrerMissing {
                        repository: pair.source.clone(),
                        subject: s.clone(),
                        referrer: reference.digest.clone(),
                        cause: e.to_string(),
                    },
                    e => e,
                })?;
            if real.as_ref() != Some(s) {
                warn_misfiled(pair, &reference.digest, s, real.as_ref());
                return Ok(());
            }
        }
        self.referrers_listed(visitor, pair, &reference.digest, trail, Some(listed))
            .await
    }

    /// Fails when `manifest`, listed as a referrer of `subject`, names another subject (or none),
    /// and records it for [`Self::child`] to warn about.
    fn check_subject(
        &self,
        pair: &RepoPair,
        manifest: &RawManifest,
        subject: &Digest,
    ) -> Result<Option<Digest>> {
        let real = manifest.view()?.subject().map(|r| r.digest.clone());
        if real.as_ref() == Some(subject) {
            return Ok(real);
        }
        let key = (pair.source.clone(), manifest.digest.clone());
        let error = Error::invalid(
            format!("{}@{}", pair.source, manifest.digest),
            format!(
                "listed as a referrer of {subject}, but its subject is {}",
                subject_name(real.as_ref())
            ),
        );
        self.misfiled
            .lock()
            .expect("misfiled lock")
            .insert((key, subject.clone()), real);
        Err(error)
    }

    /// The subject `digest` of the source names, if any (a manifest already walked above, read
    /// again: only when a listing leads back to it).
    async fn subject_of(&self, pair: &RepoPair, digest: &Digest) -> Result<Option<Digest>> {
        let manifest = self.source.manifest(&pair.source, digest.as_str()).await?;
        Ok(manifest.view()?.subject().map(|r| r.digest.clone()))
    }

    /// Everything below a manifest (below those of `trail`): its children and blobs,
    /// concurrently; once per repository and digest.
    async fn graph(
        &self,
        visitor: &dyn Visitor,
        pair: &RepoPair,
        manifest: &RawManifest,
        trail: &[Digest],
    ) -> Result<(Walked, Below)> {
        let key = (pair.source.clone(), manifest.digest.clone());
        self.graphs
            .run(&key, || self.below(visitor, pair, manifest, trail))
            .await
    }

    /// Walks the children and blobs of a manifest, then builds its node when graphs are kept;
    /// with the manifests below it whose referrers are followed (the children walked, those
    /// pruned when [`Visitor::referrers_of_pruned`], and theirs).
    async fn below(
        &self,
        visitor: &dyn Visitor,
        pair: &RepoPair,
        manifest: &RawManifest,
        trail: &[Digest],
    ) -> Result<(Walked, Below)> {
        let view = manifest.view()?;
        check_depth(manifest, &view, trail.len())?;
        let here = [trail, std::slice::from_ref(&manifest.digest)].concat();
        let children = {
            let here = &here;
            let children = view.children().iter().map(|c| {
                let index = Some(ListedBy::Index(&manifest.digest));
                async move {
                    let entered = self.left(visitor, pair, c, index, here).await?;
                    Ok::<_, Error>((c, entered))
                }
            });
            let blobs = view
                .blobs()
                .into_iter()
                .filter(|b| !b.foreign || visitor.nondistributable())
                .map(|b| self.blob(visitor, pair, b));
            let (children, _) = futures::try_join!(try_join_all(children), try_join_all(blobs))?;
            children
        };
        let mut nodes = Vec::new();
        let mut below: Vec<Digest> = Vec::new();
        for (child, entered) in children {
            match entered {
                Some(Entered::Walked {
                    walked,
                    below: theirs,
                    ..
                }) => {
                    nodes.extend(walked);
                    below.push(child.digest.clone());
                    below.extend(theirs.iter().cloned());
                }
                Some(Entered::Pruned) if visitor.referrers_of_pruned() => {
                    below.push(child.digest.clone())
                }
                _ => {}
            }
        }
        let mut seen = std::collections::HashSet::new();
        below.retain(|d| seen.insert(d.clone()));
        let walked = self.keep_graphs.then(|| {
            Arc::new(Node {
                manifest: manifest.clone(),
                view: Arc::new(view),
                children: nodes,
            })
        });
        Ok((walked, Arc::new(below)))
    }

    /// A blob, once per repository and digest.
    async fn blob(&self, visitor: &dyn Visitor, pair: &RepoPair, blob: &Reference) -> Result<()> {
        let key = (pair.source.clone(), blob.digest.clone());
        self.blobs.run(&key, || visitor.blob(pair, blob)).await
    }

    /// The referrers of a manifest below those of `trail`, once per repository and digest.
    async fn referrers_at(
        &self,
        visitor: &dyn Visitor,
        pair: &RepoPair,
        digest: &Digest,
        trail: &[Digest],
    ) -> Result<()> {
        self.referrers_listed(visitor, pair, digest, trail, None)
            .await
    }

    /// [`Self::referrers_at`], with the source's list of them when it was already asked.
    async fn referrers_listed(
        &self,
        visitor: &dyn Visitor,
        pair: &RepoPair,
        digest: &Digest,
        trail: &[Digest],
        listed: Option<Option<Vec<Reference>>>,
    ) -> Result<()> {
        if !visitor.referrers() || trail.len() >= MAX_INDEX_DEPTH {
            return Ok(());
        }
        // A manifest below one of its own referrers (an index with subject S that lists S):
        // its referrers are being walked above.
        if trail.contains(digest) {
            return Ok(());
        }
        let here = [trail, std::slice::from_ref(digest)].concat();
        let key = (pair.source.clone(), digest.clone());
        // Inside a referrer, a walk another walk is doing is left to it: waiting for it could
        // wait for ourselves (two referrers whose graphs list each other's subjects, entered
        // from both ends at once). The other walk finishes it and reports what it finds.
        let inside_referrer = INSIDE_REFERRER.try_with(|_| ()).is_ok();
        if inside_referrer
            && self
                .referrers_running
                .lock()
                .expect("running lock")
                .contains(&key)
        {
            crate::log::emit(1, || {
                format!(
                    "{}: the referrers of {digest} are being walked by another tag's walk; left to it",
                    pair.source
                )
            });
            return Ok(());
        }
        self.referrer_walks
            .run(&key, || async {
                let _running = Running::start(&self.referrers_running, &key);
                let listed = match listed {
                    Some(listed) => listed,
                    None => self.source.referrers(&pair.source, digest).await?,
                };
                let Some(list) = listed else {
                    return Ok(());
                };
                for r in &list {
                    // A referrer listed for a manifest it is above (one that leads to it): valid
                    // when its subject is this manifest (an index with subject S that also lists
                    // S as a child), and then already walked above; a wrong entry otherwise. Not
                    // followed either way: the walk would wait for itself.
                    if here.contains(&r.digest) {
                        let real = self.subject_of(pair, &r.digest).await?;
                        if real.as_ref() == Some(digest) {
                            crate::log::emit(1, || {
                                format!(
                                    "{}: {} is a referrer of {digest} and already walked above it; not followed again",
                                    pair.source, r.digest
                                )
                            });
                        } else {
                            warn_misfiled(pair, &r.digest, digest, real.as_ref());
                        }
                        continue;
                    }
                    let subject = Some(ListedBy::Subject(digest));
                    match self.child(visitor, pair, r, subject, &here).await {
                        Ok(_) => visitor.referrer(pair, digest, r).await?,
                        // This very referrer is missing (not one below it): the visitor says
                        // whether the walk goes on.
                        Err(e @ Error::ReferrerMissing { .. })
                            if is_missing(&e, digest, &r.digest) =>
                        {
                            visitor.referrer_missing(pair, digest, r, e).await?
                        }
                        Err(e) => return Err(e),
                    }
                }
                Ok(())
            })
            .await
    }
}

tokio::task_local! {
    /// Set while a walk is inside a referrer (a manifest reached as a referrer of a subject, and
    /// everything below it): see [`Walker::referrers_listed`].
    static INSIDE_REFERRER: ();
}

/// A referrer walk marked in progress while it runs; the mark goes when it ends, however it ends
/// (done, failed or dropped).
struct Running<'a> {
    running: &'a Mutex<std::collections::HashSet<Key>>,
    key: Key,
}

impl<'a> Running<'a> {
    fn start(running: &'a Mutex<std::collections::HashSet<Key>>, key: &Key) -> Self {
        running.lock().expect("running lock").insert(key.clone());
        Running {
            running,
            key: key.clone(),
        }
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.running.lock().expect("running lock").remove(&self.key);
    }
}

/// Walks still to finish per repository of the source, for a caller that walks a registry
/// repository after repository: after a repository's last walk its state in the [`Walker`] is
/// forgotten ([`Walker::forget_repository`]), so memory holds the repositories in progress.
pub struct RepositoryCountdown(HashMap<String, usize>);

impl RepositoryCountdown {
    /// Counts one walk for each repository named (a repository named twice has two walks).
    pub fn new<'a>(repositories: impl IntoIterator<Item = &'a str>) -> Self {
        let mut left = HashMap::new();
        for repository in repositories {
            *left.entry(repository.to_string()).or_default() += 1;
        }
        RepositoryCountdown(left)
    }

    /// One walk in `repository` is finished; after its last, `walker` forgets the repository.
    pub fn finished(&mut self, walker: &Walker, repository: &str) {
        let left = self
            .0
            .get_mut(repository)
            .expect("a repository counted when the walks were listed");
        *left -= 1;
        if *left == 0 {
            self.0.remove(repository);
            walker.forget_repository(repository);
        }
    }
}

/// What listed a manifest reached by digest.
#[derive(Clone, Copy)]
enum ListedBy<'a> {
    /// The index whose child it is.
    Index(&'a Digest),
    /// The manifest it refers to (a referrer).
    Subject(&'a Digest),
}

/// Warns that `referrer`, listed as a referrer of `subject`, names `real` as its subject (or
/// none): a wrong listing (a stale or forged fallback tag), not followed.
fn warn_misfiled(pair: &RepoPair, referrer: &Digest, subject: &Digest, real: Option<&Digest>) {
    crate::log::emit(0, || {
        format!(
            "warning: {}: {referrer} is listed as a referrer of {subject}, but its subject is {}: a wrong entry, or a loop in the source's referrers listing; not followed",
            pair.source,
            subject_name(real)
        )
    });
}

/// A subject digest as a message names it.
fn subject_name(real: Option<&Digest>) -> String {
    real.map_or_else(|| "none".to_string(), |d| d.to_string())
}

/// What listed a manifest, as a note says it.
fn what_listed(listed_by: Option<ListedBy<'_>>) -> String {
    match listed_by {
        Some(ListedBy::Index(index)) => format!("a child of {index}"),
        Some(ListedBy::Subject(subject)) => format!("a referrer of {subject}"),
        None => "by digest".to_string(),
    }
}

/// True when `e` says that `referrer`, listed for `subject`, is missing in the source.
fn is_missing(e: &Error, subject: &Digest, referrer: &Digest) -> bool {
    matches!(e, Error::ReferrerMissing { subject: s, referrer: r, .. } if s == subject && r == referrer)
}

/// An index nested [`MAX_INDEX_DEPTH`] levels deep is refused.
fn check_depth(manifest: &RawManifest, view: &ManifestView, depth: usize) -> Result<()> {
    if matches!(view, ManifestView::Index { .. }) && depth >= MAX_INDEX_DEPTH {
        return Err(Error::invalid(
            format!("index {}", manifest.digest),
            format!("indexes nest deeper than {MAX_INDEX_DEPTH} levels"),
        ));
    }
    Ok(())
}

/// A reference that gives only a digest (a root no descriptor announces).
fn bare_reference(digest: &Digest) -> Reference {
    Reference {
        digest: digest.clone(),
        size: 0,
        media_type: String::new(),
        foreign: false,
        platform: None,
        artifact_type: None,
    }
}

/// A referrer of `subject` that the target refused as a manifest (400: invalid, as
/// Distribution answers an OCI 1.1-rc artifact manifest; 415: a media type it does not take;
/// said by the copy's [`crate::copy::TARGET_REFUSED_MANIFEST`]): the tag waits for its
/// referrers, so the error says that the referrer is the cause and how to copy the image
/// without it. Any other error is returned as it is.
fn referrer_refused(e: Error, subject: &Digest) -> Error {
    match e {
        Error::Invalid { what, reason }
            if reason.starts_with(crate::copy::TARGET_REFUSED_MANIFEST) =>
        {
            Error::Invalid {
                what: format!("a referrer of {subject}, {what}"),
                reason: format!(
                    "{reason}: a tag is pushed after its referrers: copy without referrers (--no-referrers), or leave the referrer's repository out"
                ),
            }
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;
    use crate::transport::layout::Layout;
    use crate::transport::Destination;

    /// Records what a walk does and checks, on `leave`, that everything below is already done.
    #[derive(Default)]
    struct Recorder {
        prune_children: bool,
        done: Mutex<HashSet<(String, Digest)>>,
        blob_visits: Mutex<Vec<(String, Digest)>>,
        referrers: Mutex<Vec<Digest>>,
        out_of_order: Mutex<Vec<String>>,
    }

    impl Recorder {
        fn mark(&self, pair: &RepoPair, digest: &Digest) {
            let key = (pair.source.clone(), digest.clone());
            self.done.lock().unwrap().insert(key);
        }
    }

    #[async_trait]
    impl Visitor for Recorder {
        async fn enter(&self, pair: &RepoPair, reference: &Reference) -> Result<Step> {
            if self.prune_children {
                self.mark(pair, &reference.digest);
                return Ok(Step::Prune);
            }
            Ok(Step::Descend)
        }

        async fn blob(&self, pair: &RepoPair, blob: &Reference) -> Result<()> {
            let key = (pair.source.clone(), blob.digest.clone());
            self.blob_visits.lock().unwrap().push(key);
            self.mark(pair, &blob.digest);
            Ok(())
        }

        async fn leave(
            &self,
            pair: &RepoPair,
            manifest: &RawManifest,
            _: Option<&str>,
        ) -> Result<()> {
            let view = manifest.view()?;
            let below = view.children().iter().chain(view.blobs());
            for r in below.filter(|r| !r.foreign) {
                let key = (pair.source.clone(), r.digest.clone());
                if !self.done.lock().unwrap().contains(&key) {
                    let what = format!("{} left before {}", manifest.digest, r.digest);
                    self.out_of_order.lock().unwrap().push(what);
                }
            }
            self.mark(pair, &manifest.digest);
            Ok(())
        }

        fn referrers(&self) -> bool {
            true
        }

        async fn referrer(&self, _: &RepoPair, _: &Digest, referrer: &Reference) -> Result<()> {
            self.referrers.lock().unwrap().push(referrer.digest.clone());
            Ok(())
        }
    }

    async fn sample_layout(dir: &std::path::Path) -> (Arc<Layout>, crate::sample::Expected) {
        let layout = Layout::create(&dir.join("l")).unwrap();
        let expected = crate::sample::write(&layout, 4, 7).await.unwrap();
        layout.finish().await.unwrap();
        (Arc::new(Layout::open(&dir.join("l")).unwrap()), expected)
    }

    /// Every tag of the layout with its repository, copied under the same name.
    async fn every_tag(layout: &Layout) -> Vec<(RepoPair, String)> {
        let mut out = Vec::new();
        for repo in layout.repositories().await.unwrap() {
            let pair = RepoPair {
                source: repo.clone(),
                target: repo.clone(),
                name: repo.clone(),
            };
            for tag in layout.tags(&repo).await.unwrap() {
                out.push((pair.clone(), tag));
            }
        }
        out
    }

    async fn walk_every_tag(walker: &Walker, visitor: &dyn Visitor, layout: &Layout) {
        for (pair, tag) in every_tag(layout).await {
            walker.tag(visitor, &pair, &tag).await.unwrap();
        }
    }

    #[tokio::test]
    async fn leave_comes_after_everything_below_and_each_blob_once() {
        let dir = tempfile::tempdir().unwrap();
        let (layout, expected) = sample_layout(dir.path()).await;
        let walker = Walker::without_graphs(layout.clone());
        let recorder = Recorder::default();
        walk_every_tag(&walker, &recorder, &layout).await;
        assert!(recorder.out_of_order.lock().unwrap().is_empty());
        let visits = recorder.blob_visits.into_inner().unwrap();
        let distinct: HashSet<_> = visits.iter().collect();
        assert_eq!(visits.len(), distinct.len(), "a blob visited twice");
        let walked: HashSet<_> = recorder
            .referrers
            .into_inner()
            .unwrap()
            .into_iter()
            .collect();
        assert!(!visits.is_empty() && !expected.referrers.is_empty());
        for (_, _, referrer) in &expected.referrers {
            assert!(walked.contains(referrer), "referrer {referrer} not walked");
        }
    }

    #[tokio::test]
    async fn pruned_children_are_not_fetched_nor_kept() {
        let dir = tempfile::tempdir().unwrap();
        let (layout, _) = sample_layout(dir.path()).await;
        let walker = Walker::new(layout.clone());
        let recorder = Recorder {
            prune_children: true,
            ..Default::default()
        };
        let mut indexes = 0;
        for (pair, tag) in every_tag(&layout).await {
            let node = walker.tag(&recorder, &pair, &tag).await.unwrap().unwrap();
            assert!(node.children.is_empty(), "{}:{tag}", pair.source);
            indexes += usize::from(!node.view.children().is_empty());
        }
        assert!(indexes > 0, "the sample has indexes");
        assert!(recorder.out_of_order.lock().unwrap().is_empty());
    }
}
