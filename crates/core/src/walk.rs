//! Listing what a job covers: repositories under a prefix, filtered by globs, and their tags,
//! filtered by a regular expression, with the tags that describe the selected ones by name
//! (cosign's `sha256-<hex>.sig`, referrers fallback tags: [`select_tags`]). `copy`, `inventory`,
//! `verify` and `delete-source` all select through here.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use futures::StreamExt;
use globset::{GlobSet, GlobSetBuilder};
use regex::{Regex, RegexSet};
use serde::Serialize;

use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::manifest::{is_index_media_type, MAX_INDEX_DEPTH};
use crate::rename::Renames;
use crate::transport::Source;

/// Which repositories and tags a job covers, and where they go.
#[derive(Clone, Debug, Default)]
pub struct Selection {
    /// Only repositories under this prefix of the source are taken; the prefix is removed from
    /// their names.
    pub source_prefix: Option<String>,
    /// Names in the target are put under this prefix.
    pub target_prefix: Option<String>,
    /// Repository names changed on the way (`--map`), relative to both prefixes; filters match
    /// the source's names. Inverted ([`Selection::reversed`]), the target's names are taken
    /// back to the source names that become them.
    pub renames: Renames,
    /// Repository globs to include (all when empty). `*` stays within one path level, `**` crosses
    /// levels: `team/*` matches `team/a` but not `team/a/b`.
    pub include: Vec<String>,
    /// Repository globs to exclude.
    pub exclude: Vec<String>,
    /// Tags to take: regular expressions, each matching whole tags; a tag any of them matches is
    /// taken (all tags when empty).
    pub tag_patterns: Vec<String>,
    /// Tags to leave out: regular expressions, each matching whole tags. They win over
    /// [`Selection::tag_patterns`] and over the tags that describe a taken tag by name; a tag
    /// left out takes the tags that describe it (`sha256-<hex>.sig`) along.
    pub exclude_tag_patterns: Vec<String>,
    /// `(k, n)`: take only the repositories of shard `k` of `n`.
    pub shard: Option<(u32, u32)>,
}

impl Selection {
    /// The same selection seen from the target: its names, under the target's prefix, taken
    /// back to the source names that become them (a name none becomes is left out; the new
    /// name of one the source `listed` under its prefix, filtered or not, is known first,
    /// [`Renames::inverted_knowing`]), and filtered as the
    /// source's are. Listing the target with it gives pairs whose [`RepoPair::name`] is the
    /// source's name.
    pub fn reversed(&self, listed: &[String]) -> Selection {
        Selection {
            source_prefix: self.target_prefix.clone(),
            target_prefix: None,
            renames: self
                .renames
                .inverted_knowing(listed.iter().map(String::as_str)),
            ..self.clone()
        }
    }
}

/// A [`Selection`] compiled for matching.
#[derive(Clone, Debug)]
pub struct Matcher {
    selection: Selection,
    include: Option<GlobSet>,
    exclude: Option<GlobSet>,
    tag: Option<RegexSet>,
    exclude_tag: Option<RegexSet>,
    /// The tag exclusions unanchored: which of them match a part of a tag, for one that
    /// matches no whole tag ([`Unmatched::part_of`]).
    exclude_tag_part: Option<RegexSet>,
    /// Which `--repo` globs and tag expressions matched a name, by position: shared by the
    /// matcher's clones, read by [`Matcher::unmatched`].
    hits: Arc<Hits>,
    /// False with `--no-referrers`: the referrers fallback tags (`sha256-<hex>`) are left out
    /// ([`Matcher::without_referrers`]).
    referrers: bool,
}

/// Per pattern, whether it has matched anything yet.
#[derive(Debug, Default)]
struct Hits {
    include: Vec<AtomicBool>,
    tag: Vec<AtomicBool>,
    /// `--exclude-repo` globs that matched a repository the rest of the selection took.
    exclude: Vec<AtomicBool>,
    /// `--exclude-tag` expressions that matched a tag of a selected repository.
    exclude_tag: Vec<AtomicBool>,
    /// For each `--exclude-tag` expression, a tag it matched a part of (the first met).
    exclude_tag_part_of: std::sync::Mutex<Vec<Option<String>>>,
    /// Source names taken from `--repo` because the source does not list its repositories: their
    /// globs count as matched only once a listing shows tags (a misspelt name answers as an
    /// empty repository).
    unconfirmed: std::sync::Mutex<std::collections::HashSet<String>>,
    /// A repository matched the source's prefix and the `--repo` globs (before exclusions and
    /// shards).
    included: AtomicBool,
    /// A repository was selected (exclusions and shards applied).
    selected: AtomicBool,
    /// A listed tag the tag expressions took was left out by a tag exclusion.
    tag_excluded: AtomicBool,
    /// A repository was taken by the name `--repo` gave, the source not listing its
    /// repositories ([`Matcher::read_by_name`]).
    read_by_name: AtomicBool,
    /// A selected repository listed a tag (the tag expressions were asked about it).
    tags_listed: AtomicBool,
}

impl Hits {
    /// No pattern of `selection` matched yet.
    fn none(selection: &Selection) -> Self {
        let unmarked =
            |patterns: &[String]| patterns.iter().map(|_| AtomicBool::new(false)).collect();
        Hits {
            include: unmarked(&selection.include),
            tag: unmarked(&selection.tag_patterns),
            exclude: unmarked(&selection.exclude),
            exclude_tag: unmarked(&selection.exclude_tag_patterns),
            exclude_tag_part_of: std::sync::Mutex::new(vec![
                None;
                selection.exclude_tag_patterns.len()
            ]),
            unconfirmed: Default::default(),
            included: AtomicBool::new(false),
            selected: AtomicBool::new(false),
            tag_excluded: AtomicBool::new(false),
            read_by_name: AtomicBool::new(false),
            tags_listed: AtomicBool::new(false),
        }
    }

    fn record(flags: &[AtomicBool], matched: impl IntoIterator<Item = usize>) {
        for i in matched {
            if let Some(flag) = flags.get(i) {
                flag.store(true, Ordering::Relaxed);
            }
        }
    }
}

/// A repository in the source and the name it gets in the target.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct RepoPair {
    /// Full name in the source.
    pub source: String,
    /// Full name in the target.
    pub target: String,
    /// Name relative to both prefixes (what the user sees and filters on).
    pub name: String,
}

/// The regular expressions of `flag`, each anchored to match whole tags; `None` when none was
/// given, an error naming the flag and the expression for one that does not compile.
fn regex_set(patterns: &[String], flag: &str) -> Result<Option<RegexSet>> {
    for p in patterns {
        Regex::new(&anchored(p)).map_err(|e| {
            // `*` where a regular expression wants something to repeat: a glob, as `--repo`
            // takes.
            let glob = p.starts_with('*') || p.contains("/*") || p.contains(",*");
            let hint = match glob {
                true => format!(": {flag} takes regular expressions matching whole tags, not globs as --repo does (`.*` for every tag, `v1.*` for those starting with v1)"),
                false => String::new(),
            };
            Error::invalid(
                format!("{flag} `{p}`"),
                format!(
                    "not a valid regular expression: {}{hint}",
                    e.to_string().lines().last().unwrap_or("")
                ),
            )
        })?;
    }
    if patterns.is_empty() {
        return Ok(None);
    }
    RegexSet::new(patterns.iter().map(|p| anchored(p)))
        .map(Some)
        .map_err(|e| Error::invalid(flag, e.to_string()))
}

fn globset(patterns: &[String], flag: &str) -> Result<Option<GlobSet>> {
    if patterns.is_empty() {
        return Ok(None);
    }
    let mut builder = GlobSetBuilder::new();
    for p in patterns {
        let glob = globset::GlobBuilder::new(p)
            .literal_separator(true)
            .build()
            .map_err(|e| {
                Error::invalid(format!("{flag} `{p}`"), format!("not a valid glob: {e}"))
            })?;
        builder.add(glob);
    }
    Ok(Some(
        builder
            .build()
            .map_err(|e| Error::invalid(flag, e.to_string()))?,
    ))
}

impl Matcher {
    /// Compiles the globs and the tag expression; a bad one is an error naming the flag.
    pub fn new(selection: Selection) -> Result<Self> {
        let include = globset(&selection.include, "--repo")?;
        let exclude = globset(&selection.exclude, "--exclude-repo")?;
        let tag = regex_set(&selection.tag_patterns, "--tag")?;
        let exclude_tag = regex_set(&selection.exclude_tag_patterns, "--exclude-tag")?;
        // Each compiled anchored above, so compiles unanchored too.
        let exclude_tag_part = match selection.exclude_tag_patterns.is_empty() {
            true => None,
            false => RegexSet::new(&selection.exclude_tag_patterns).ok(),
        };
        if let Some((k, n)) = selection.shard {
            if n == 0 || k >= n {
                return Err(Error::invalid(
                    format!("--shard {k}/{n}"),
                    "expected K/N with N > 0 and K from 0 to N-1",
                ));
            }
        }
        let hits = Arc::new(Hits::none(&selection));
        Ok(Matcher {
            selection,
            include,
            exclude,
            tag,
            exclude_tag,
            exclude_tag_part,
            hits,
            referrers: true,
        })
    }

    /// The same selection without referrers (`--no-referrers`): the referrers fallback tags
    /// (`sha256-<hex>` on an OCI index, the listing of a subject's referrers on a registry
    /// without the referrers API) are left out with the referrers they list. A tag of that name
    /// on an image, and cosign's `sha256-<hex>.sig`/`.att`/`.sbom`, are ordinary tags, and stay.
    pub fn without_referrers(mut self) -> Matcher {
        self.referrers = false;
        self
    }

    /// False for a selection [`Matcher::without_referrers`].
    pub fn takes_referrers(&self) -> bool {
        self.referrers
    }

    /// The same selection with hits of its own: for listing the *target* with it, whose names
    /// and tags say nothing of what the user's patterns match in the source. Its referrers
    /// fallback tags are listed whatever [`Matcher::without_referrers`] says: the listing tells
    /// what the target holds (a repository holding only those is not empty), and leaving them
    /// out would read each of them to tell an index from an image.
    pub fn detached(&self) -> Matcher {
        Matcher {
            hits: Arc::new(Hits::none(&self.selection)),
            referrers: true,
            ..self.clone()
        }
    }

    /// The selection this matcher was built from.
    pub fn selection(&self) -> &Selection {
        &self.selection
    }

    /// Maps a source repository to its pair, or `None` when the selection leaves it out.
    pub fn repository(&self, source_name: &str) -> Option<RepoPair> {
        self.pair(source_name, true)
    }

    /// The name of `source_name` relative to the source's prefix (for a reversed selection, the
    /// source name that becomes it).
    fn relative<'n>(&self, source_name: &'n str) -> Option<std::borrow::Cow<'n, str>> {
        let relative = match &self.selection.source_prefix {
            Some(prefix) => source_name
                .strip_prefix(prefix.as_str())?
                .strip_prefix('/')?,
            None => source_name,
        };
        match self.reversed() {
            true => self.selection.renames.apply(relative).map(Into::into),
            false => Some(relative.into()),
        }
    }

    /// True for a reversed selection ([`Selection::reversed`]): names are the target's.
    pub(crate) fn reversed(&self) -> bool {
        self.selection.renames.is_inverted()
    }

    /// [`Matcher::repository`]; `record` false leaves the `--repo` globs it matches unmarked (a
    /// name given, not listed: see [`Matcher::tags_listed`]).
    fn pair(&self, source_name: &str, record: bool) -> Option<RepoPair> {
        let name = self.relative(source_name)?;
        let name = name.as_ref();
        let matched = match &self.include {
            Some(inc) => {
                let matched = inc.matches(name);
                if matched.is_empty() {
                    return None;
                }
                matched
            }
            None => Vec::new(),
        };
        let excluded_by = self
            .exclude
            .as_ref()
            .map(|e| e.matches(name))
            .unwrap_or_default();
        let left_out = !excluded_by.is_empty()
            || self
                .selection
                .shard
                .is_some_and(|(k, n)| shard_of(name, n) != k);
        // A name left out by an exclusion or a shard is not asked for its tags: its glob counts
        // as matched, whether it was listed or given.
        if record {
            self.hits.included.store(true, Ordering::Relaxed);
            if !left_out {
                self.hits.selected.store(true, Ordering::Relaxed);
            }
        }
        if !record {
            self.hits.read_by_name.store(true, Ordering::Relaxed);
        }
        if record || left_out {
            Hits::record(&self.hits.include, matched);
            Hits::record(&self.hits.exclude, excluded_by);
        } else if !matched.is_empty() {
            self.hits
                .unconfirmed
                .lock()
                .expect("hits lock")
                .insert(source_name.to_string());
        }
        if left_out {
            return None;
        }
        // A name with control characters is no repository name (its tags are never asked, see
        // `check_names`): the names shown for it have them escaped, never obeyed by a terminal.
        let name = crate::log::printable(name);
        Some(RepoPair {
            source: crate::log::printable(source_name).into_owned(),
            target: self.target_name(&name),
            name: name.into_owned(),
        })
    }

    /// Called with each repository's tag listing: a name taken from `--repo` unlisted (the
    /// source does not list its repositories) counts as matched once it shows a tag (or its
    /// listing fails: that failure is reported instead).
    pub fn tags_listed(&self, source_name: &str, tags: &[String]) {
        if tags.is_empty() {
            return;
        }
        let confirmed = self
            .hits
            .unconfirmed
            .lock()
            .expect("hits lock")
            .remove(source_name);
        if let (true, Some(inc), Some(name)) =
            (confirmed, &self.include, self.relative(source_name))
        {
            Hits::record(&self.hits.include, inc.matches(name.as_ref()));
        }
        if confirmed {
            self.hits.included.store(true, Ordering::Relaxed);
            self.hits.selected.store(true, Ordering::Relaxed);
        }
    }

    /// True for a name taken from `--repo` where the source does not list its repositories whose
    /// tag listing ([`tags`]) showed no tag: it may not exist, as a registry answers a misspelt
    /// name as an empty repository.
    pub fn unconfirmed(&self, source_name: &str) -> bool {
        self.hits
            .unconfirmed
            .lock()
            .expect("hits lock")
            .contains(source_name)
    }

    /// True when a repository was taken by the name `--repo` gave because the source does not
    /// list its repositories (`_catalog` refused): `inventory` cannot list what is there either.
    pub fn read_by_name(&self) -> bool {
        self.hits.read_by_name.load(Ordering::Relaxed)
    }

    /// True when the selection may leave out part of the source: a prefix, `--repo` globs,
    /// exclusions, tag expressions or a shard.
    pub fn narrows(&self) -> bool {
        let s = &self.selection;
        s.source_prefix.is_some()
            || !s.include.is_empty()
            || !s.exclude.is_empty()
            || !s.tag_patterns.is_empty()
            || !s.exclude_tag_patterns.is_empty()
            || s.shard.is_some()
    }

    /// Whether any repository of the source got past the prefix and the `--repo` globs
    /// (`included`), and past the exclusions and the shard too (`selected`), so far.
    pub fn repositories_seen(&self) -> RepositoriesSeen {
        RepositoriesSeen {
            included: self.hits.included.load(Ordering::Relaxed),
            selected: self.hits.selected.load(Ordering::Relaxed),
            tag_excluded: self.hits.tag_excluded.load(Ordering::Relaxed),
            tags_listed: self.hits.tags_listed.load(Ordering::Relaxed),
        }
    }

    /// The target name of a repository name relative to the prefixes: renamed
    /// ([`Selection::renames`]), under the target's prefix.
    pub fn target_name(&self, name: &str) -> String {
        let renamed = match self.reversed() {
            true => None,
            false => self.selection.renames.apply(name),
        };
        let name = renamed.as_deref().unwrap_or(name);
        match &self.selection.target_prefix {
            Some(p) => format!("{p}/{name}"),
            None => name.to_string(),
        }
    }

    /// True when the tag expression matches the tag (or there is none). The tags a job takes
    /// also include those that describe a matched tag's manifest by name: see [`select_tags`].
    /// A tag an exclusion names is never taken (its tag expression still counts as matched).
    pub fn tag(&self, tag: &str) -> bool {
        self.hits.tags_listed.store(true, Ordering::Relaxed);
        let taken = match &self.tag {
            None => true,
            Some(set) => {
                let matched = set.matches(tag);
                Hits::record(&self.hits.tag, matched.iter());
                matched.matched_any()
            }
        };
        // Every listed tag is asked of the exclusions, to know which of them left anything out.
        let excluded = self.tag_excluded(tag);
        if taken && excluded {
            self.hits.tag_excluded.store(true, Ordering::Relaxed);
            return false;
        }
        taken
    }

    /// True when a tag exclusion ([`Selection::exclude_tag_patterns`]) names the tag.
    pub fn tag_excluded(&self, tag: &str) -> bool {
        let Some(set) = &self.exclude_tag else {
            return false;
        };
        let matched = set.matches(tag);
        Hits::record(&self.hits.exclude_tag, matched.iter());
        if let Some(part) = &self.exclude_tag_part {
            let mut part_of = self.hits.exclude_tag_part_of.lock().expect("hits lock");
            for i in part.matches(tag).iter() {
                // Only a plain word (`dev`) is taken for a part of a tag it was meant to name;
                // an expression (`.*-dev`) says what it matches.
                let plain = is_plain(&self.selection.exclude_tag_patterns[i]);
                if plain && !matched.matched(i) && part_of[i].is_none() {
                    part_of[i] = Some(tag.to_string());
                }
            }
        }
        matched.matched_any()
    }

    /// The exclusions (`--exclude-repo` globs, `--exclude-tag` expressions) that have left
    /// nothing out so far: one a user misspelt (or wrote as a part of a tag: expressions match
    /// whole tags) would let through what it was meant to keep out. None is named under a shard,
    /// which lists only its own repositories.
    pub fn unmatched_exclusions(&self) -> Vec<Unmatched> {
        if self.selection.shard.is_some() {
            return Vec::new();
        }
        let mut out = unmatched_of(
            &self.selection.exclude,
            &self.hits.exclude,
            PatternKind::ExcludeRepo,
            &[],
        );
        let part_of = self.hits.exclude_tag_part_of.lock().expect("hits lock");
        out.extend(unmatched_of(
            &self.selection.exclude_tag_patterns,
            &self.hits.exclude_tag,
            PatternKind::ExcludeTag,
            &part_of,
        ));
        out
    }

    /// The repository globs and tag expressions that have matched nothing so far: one a user
    /// misspelt among others that matched. A repository glob counts when it matched a listed
    /// repository, even one an exclusion or a shard then left out; a name given where the
    /// source does not list its repositories counts once its tag listing shows a tag. Under a shard no tag
    /// expression is named: a shard lists only its own repositories' tags, and a tag that
    /// matches in another shard's repositories is no misspelling.
    pub fn unmatched(&self) -> Vec<Unmatched> {
        let mut out = unmatched_of(
            &self.selection.include,
            &self.hits.include,
            PatternKind::Repo,
            &[],
        );
        if self.selection.shard.is_none() {
            out.extend(unmatched_of(
                &self.selection.tag_patterns,
                &self.hits.tag,
                PatternKind::Tag,
                &[],
            ));
        }
        out
    }

    /// True when the selection takes manifests without a tag of their own (ACR untagged
    /// manifests, layout entries): a tag expression selects tags, so it leaves them out. What the
    /// selected tags point at (index children, referrers) is taken either way.
    pub fn selects_untagged(&self) -> bool {
        self.tag.is_none()
    }
}

/// The patterns of `patterns` whose flag in `flags` (by position) is not set, as `kind`, each
/// with the tag it matched a part of in `part_of` (by position; empty: none).
fn unmatched_of(
    patterns: &[String],
    flags: &[AtomicBool],
    kind: PatternKind,
    part_of: &[Option<String>],
) -> Vec<Unmatched> {
    patterns
        .iter()
        .zip(flags)
        .enumerate()
        .filter(|(_, (_, hit))| !hit.load(Ordering::Relaxed))
        .map(|(i, (p, _))| Unmatched {
            kind,
            pattern: p.clone(),
            part_of: part_of.get(i).cloned().flatten(),
        })
        .collect()
}

/// True for a tag expression without a character that makes it more than a word (`dev`, not
/// `.*-dev`).
fn is_plain(pattern: &str) -> bool {
    !pattern.contains(['.', '*', '^', '$', '[', '(', '|', '+', '?', '{', '\\'])
}

/// What a pattern of a [`Selection`] selects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PatternKind {
    /// A repository glob ([`Selection::include`]).
    Repo,
    /// A tag expression ([`Selection::tag_patterns`]).
    Tag,
    /// A repository glob that leaves out ([`Selection::exclude`]).
    ExcludeRepo,
    /// A tag expression that leaves out ([`Selection::exclude_tag_patterns`]).
    ExcludeTag,
}

impl Unmatched {
    /// The pattern as the command line gives it (`--exclude-tag 'dev'`).
    pub fn as_flag(&self) -> String {
        let flag = match self.kind {
            PatternKind::Repo => "--repo",
            PatternKind::Tag => "--tag",
            PatternKind::ExcludeRepo => "--exclude-repo",
            PatternKind::ExcludeTag => "--exclude-tag",
        };
        format!("{flag} '{}'", self.pattern)
    }

    /// For a tag expression: how expressions match (whole tags), with the one that takes the
    /// tags containing the pattern, when it has no wildcard of its own; empty otherwise.
    pub fn whole_tag_hint(&self) -> String {
        let plain = is_plain(&self.pattern);
        if let Some(tag) = &self.part_of {
            return format!(
                " (it matches a part of the tag '{tag}', but an expression matches whole tags: write '.*{}.*')",
                self.pattern
            );
        }
        match self.kind {
            PatternKind::Tag | PatternKind::ExcludeTag if plain => format!(
                " (an expression matches whole tags: '.*{}.*' matches every tag that contains it)",
                self.pattern
            ),
            PatternKind::Tag | PatternKind::ExcludeTag => {
                " (an expression matches whole tags, as if written ^…$)".to_string()
            }
            _ => String::new(),
        }
    }
}

/// What [`Matcher::repositories_seen`] tells: how far the source's repositories got through the
/// selection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RepositoriesSeen {
    /// One matched the prefix and the `--repo` globs.
    pub included: bool,
    /// One was selected: exclusions and the shard left it in.
    pub selected: bool,
    /// A tag the tag expressions took was left out by a tag exclusion.
    pub tag_excluded: bool,
    /// A selected repository listed a tag: a tag expression that matched nothing had tags to
    /// match (with none listed, the repositories are empty, emptied by a deletion say).
    pub tags_listed: bool,
}

/// A pattern of a [`Selection`] that matched nothing ([`Matcher::unmatched`]); each command
/// names it in its own terms (a flag, a key of a file).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unmatched {
    /// What it selects.
    pub kind: PatternKind,
    /// The pattern as given.
    pub pattern: String,
    /// For a tag exclusion: a tag it matches a part of, though no whole tag (`dev` and the tag
    /// `1.2-dev`): almost surely meant to leave that tag out.
    pub part_of: Option<String>,
}

/// A tag expression that must match the whole tag.
fn anchored(pattern: &str) -> String {
    format!("^(?:{pattern})$")
}

/// The shard (0..n) a repository belongs to: FNV-1a of its name, stable across runs and machines.
pub fn shard_of(name: &str, n: u32) -> u32 {
    let mut hash: u64 = 0xcbf29ce484222325;
    for b in name.bytes() {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x100000001b3);
    }
    (hash % u64::from(n)) as u32
}

/// True for the answer of a registry that does not list its repositories to these credentials
/// (`/v2/_catalog` refused or absent: Docker Hub, GHCR, registries that turn it off).
pub fn is_catalog_unavailable(e: &Error) -> bool {
    matches!(
        e,
        Error::Status {
            status: 401 | 403 | 404 | 405,
            ..
        }
    ) || matches!(e, Error::Unsupported { .. })
}

/// Lists the selected repositories of a source, sorted by name. A source that does not list its
/// repositories is read by the names `--repo` gives, when every one is a plain name (no
/// wildcard); otherwise that is an error saying so.
pub async fn repositories(source: &dyn Source, matcher: &Matcher) -> Result<Vec<RepoPair>> {
    Ok(repositories_and_names(source, matcher).await?.0)
}

/// [`repositories`], and the name (relative to the source's prefix) of every repository the
/// source listed under its prefix, whatever the filters and the shard: what a target name is
/// taken back to ([`Selection::reversed`]).
pub async fn repositories_and_names(
    source: &dyn Source,
    matcher: &Matcher,
) -> Result<(Vec<RepoPair>, Vec<String>)> {
    enum Listed {
        Catalog(Vec<String>),
        Named(Vec<String>),
    }
    let listed = match source.repositories().await {
        Ok(listed) => Listed::Catalog(listed),
        Err(e) if is_catalog_unavailable(&e) => {
            Listed::Named(named_repositories(matcher).ok_or_else(|| Error::Unsupported {
                what: "listing repositories".into(),
                reason: format!("the registry does not list its repositories ({e}): name each one with --repo NAME (repeatable, without wildcards)"),
            })?)
        }
        Err(e) => return Err(e),
    };
    let mut pairs: Vec<RepoPair> = match &listed {
        Listed::Catalog(names) => names.iter().filter_map(|r| matcher.repository(r)).collect(),
        Listed::Named(names) => names
            .iter()
            .filter_map(|r| matcher.pair(r, false))
            .collect(),
    };
    pairs.sort();
    pairs.dedup();
    let names = match &listed {
        Listed::Catalog(names) | Listed::Named(names) => names,
    };
    let under_prefix: Vec<String> = match matcher.reversed() {
        true => Vec::new(),
        false => names
            .iter()
            .filter_map(|r| matcher.relative(r).map(|n| n.into_owned()))
            .collect(),
    };
    let renames = &matcher.selection().renames;
    if !renames.is_empty() && !matcher.reversed() {
        for unused in renames.unused(&under_prefix) {
            crate::log::emit(0, || {
                format!("warning: {unused} renamed nothing: SOURCE has no repository of that name (relative to its prefix); check its spelling")
            });
        }
        // Every shard of the job, not this one's alone: two repositories renamed to one name in
        // different shards would overwrite each other as surely as in one run.
        let whole = Matcher::new(Selection {
            shard: None,
            ..matcher.selection().clone()
        })?;
        let mut every: Vec<RepoPair> = names.iter().filter_map(|r| whole.pair(r, true)).collect();
        every.sort();
        every.dedup();
        check_renames(matcher, &every)?;
    }
    Ok((pairs, under_prefix))
}

/// Refuses renames that would give two selected repositories one name in the target (`--map
/// web=frontend/web` while the source has a `frontend/web` of its own).
fn check_renames(matcher: &Matcher, pairs: &[RepoPair]) -> Result<()> {
    let renames = &matcher.selection().renames;
    let mut by_target: HashMap<&str, &RepoPair> = HashMap::new();
    for pair in pairs {
        if let Some(other) = by_target.insert(pair.target.as_str(), pair) {
            return Err(Error::invalid(
                renames.described(),
                format!(
                    "the source's `{}` and `{}` would both be `{}` in the target: rename the other one too, or leave one out with {}",
                    other.name,
                    pair.name,
                    pair.target,
                    match renames.from_flags() {
                        true => "--exclude-repo",
                        false => "[scope] exclude_repos",
                    }
                ),
            ));
        }
    }
    Ok(())
}

/// The full source names of the repositories `--repo` names, when every pattern is a plain name.
fn named_repositories(matcher: &Matcher) -> Option<Vec<String>> {
    let selection = matcher.selection();
    let plain = |p: &String| !p.contains(['*', '?', '[', ']', '{', '}', '\\']);
    if selection.include.is_empty() || !selection.include.iter().all(plain) {
        return None;
    }
    Some(
        selection
            .include
            .iter()
            .map(|name| match &selection.source_prefix {
                Some(prefix) => format!("{prefix}/{name}"),
                None => name.clone(),
            })
            .collect(),
    )
}

/// The selected tags of one repository ([`tags`]), and the selected names it lists that are no
/// valid tag: each of those is a failure of its own (a layout's ref name `v1+meta`), the
/// repository's other tags still go.
#[derive(Debug, Default)]
pub struct TagList {
    /// Its selected tags, sorted.
    pub tags: Vec<String>,
    /// Listed names the selection takes that no registry accepts as a tag, each as it may be
    /// shown (control characters escaped, a long one cut) and with why.
    pub invalid: Vec<(String, Error)>,
}

impl TagList {
    /// The tags, or the first invalid name as the repository's error: for a job that must not
    /// go on with part of a repository (a deletion).
    pub fn strict(mut self) -> Result<Vec<String>> {
        match self.invalid.is_empty() {
            true => Ok(self.tags),
            false => Err(self.invalid.swap_remove(0).1),
        }
    }
}

/// Checks the names a source listed before any of them goes into a request path: a catalog,
/// tag list or layout `index.json` naming `x/../../prod/app` or a tag `a/b` would otherwise reach
/// URLs outside the repository (and the target prefix) the job was given.
/// A source name that is valid but too long once under the target's prefix is the prefix's
/// fault, and said so.
fn check_names(pair: &RepoPair, target_prefix: bool) -> Result<()> {
    let item = || format!("repository `{}`", crate::digest::truncate(&pair.source));
    crate::endpoint::validate_repository(&pair.source).map_err(|reason| {
        Error::invalid(
            item(),
            format!("{reason}; the source lists a name no registry accepts: rename it there or leave it out with --exclude-repo"),
        )
    })?;
    crate::endpoint::validate_repository(&pair.target).map_err(|reason| {
        // A name renamed by --map no longer ends with its source name.
        let (cause, remedy) = match (pair.target.ends_with(pair.name.as_str()), target_prefix) {
            (true, _) => ("TARGET's prefix", "prefix"),
            (false, true) => ("TARGET's prefix with --map", "prefix or new name (--map)"),
            (false, false) => ("--map", "new name"),
        };
        let reason = match pair.target.len() {
            n if n > 255 => format!(
                "{cause} makes `{}` {n} characters, over 255: choose a shorter {remedy}",
                crate::digest::truncate(&pair.target)
            ),
            _ => format!(
                "{reason}; {cause} makes a name no registry accepts: choose another {remedy}"
            ),
        };
        Error::invalid(item(), reason)
    })?;
    Ok(())
}

/// Lists the selected tags ([`select_tags`]) of every selected repository, `concurrency`
/// repositories at a time.
/// A repository whose tags cannot be listed, or whose name is not a valid repository name, is
/// returned as an error in its place; a selected tag that is not a valid tag goes to
/// [`TagList::invalid`], never into a request.
pub async fn tags(
    source: Arc<dyn Source>,
    matcher: &Matcher,
    pairs: Vec<RepoPair>,
    concurrency: usize,
) -> Vec<(RepoPair, Result<TagList>)> {
    futures::stream::iter(pairs)
        .map(|pair| {
            let source = source.clone();
            async move {
                let target_prefix = matcher.selection().target_prefix.is_some();
                if let Err(e) = check_names(&pair, target_prefix) {
                    return (pair, Err(e));
                }
                let result = async {
                    // A listing that fails is reported as such, never as a misspelling.
                    let listed = source
                        .tags(&pair.source)
                        .await
                        .inspect_err(|_| matcher.tags_listed(&pair.source, &[String::new()]))?;
                    matcher.tags_listed(&pair.source, &listed);
                    // Names no registry accepts never go into a request: each selected one is
                    // a failure of its own.
                    let mut valid = Vec::with_capacity(listed.len());
                    let mut invalid = Vec::new();
                    for tag in listed {
                        match crate::endpoint::validate_tag(&tag) {
                            Ok(()) => valid.push(tag),
                            Err(reason) if matcher.tag(&tag) => {
                                let shown = crate::digest::truncate(&tag);
                                let error = Error::invalid(
                                    format!("tag `{shown}` of `{}`", pair.source),
                                    format!(
                                        "{reason}; rename it at the source or leave it out with --exclude-tag"
                                    ),
                                );
                                invalid.push((shown, error));
                            }
                            Err(_) => {}
                        }
                    }
                    let listed = valid;
                    let tags = select_tags(source.as_ref(), matcher, &pair, listed).await?;
                    Ok(TagList { tags, invalid })
                }
                .await;
                (pair, result)
            }
        })
        .buffered(concurrency.max(1))
        .collect()
        .await
}

/// Manifests of the selected tags read at once per repository by [`select_tags`].
const DESCRIBED_READS: usize = 8;

/// `listed` without the referrers fallback tags (`--no-referrers`): a `sha256-<hex>` tag on an
/// OCI index, as the referrers tag schema writes it, each said at `-v`. A tag of that name on
/// anything else, or one that cannot be read, is an ordinary tag (a build tagged by a hash).
async fn without_fallback_indexes(
    source: &dyn Source,
    pair: &RepoPair,
    listed: Vec<String>,
) -> Vec<String> {
    let (named, mut kept): (Vec<String>, Vec<String>) = listed
        .into_iter()
        .partition(|t| crate::referrers::is_fallback_tag(t));
    let reads = named.into_iter().map(|tag| async move {
        let manifest = source.manifest(&pair.source, &tag).await;
        (tag, manifest)
    });
    let read: Vec<_> = futures::stream::iter(reads)
        .buffer_unordered(DESCRIBED_READS)
        .collect()
        .await;
    for (tag, manifest) in read {
        match manifest {
            Ok(index) if index.media_type == crate::manifest::OCI_INDEX => {
                crate::log::emit(1, || {
                    format!(
                        "{}:{tag}: a referrers fallback tag, left out (--no-referrers)",
                        pair.source
                    )
                })
            }
            _ => kept.push(tag),
        }
    }
    kept
}

/// The tags a job takes out of `listed`, every tag of `pair.source`, sorted: those the tag
/// expression matches (all without one), and with them the tags that describe by name a manifest
/// they bring, `sha256-<hex>` (a referrers fallback tag) and `sha256-<hex>.<suffix>` (cosign's
/// `.sig`, `.att` and `.sbom`), where `<hex>` is the digest of a matched tag's manifest or of one
/// of its children, or a referrer a fallback tag taken lists (the fallback tag of an SBOM that
/// has a signature of its own, at any depth): a tag goes nowhere without its signatures. The
/// matched tags' digests are
/// asked only when such a tag is left unmatched, and their manifests read only when one of those
/// describes something else than a matched tag's own manifest (a platform of an index). The one selection of `copy`, `verify`,
/// `inventory` and `delete-source`.
pub async fn select_tags(
    source: &dyn Source,
    matcher: &Matcher,
    pair: &RepoPair,
    listed: Vec<String>,
) -> Result<Vec<String>> {
    let listed = match matcher.takes_referrers() {
        true => listed,
        false => without_fallback_indexes(source, pair, listed).await,
    };
    let (mut selected, unmatched): (Vec<String>, Vec<String>) =
        listed.into_iter().partition(|t| matcher.tag(t));
    let (excluded, mut unmatched): (Vec<String>, Vec<String>) =
        unmatched.into_iter().partition(|t| matcher.tag_excluded(t));
    if !excluded.is_empty()
        && selected
            .iter()
            .any(|t| crate::referrers::described_by_tag(t).is_some())
    {
        // A tag left out takes the tags describing its manifest along (its signatures would
        // arrive without it), unless a tag taken shares that manifest; tags describing anything
        // else (an untagged manifest, another tag) stay selected.
        let (describing, plain): (Vec<String>, Vec<String>) = selected
            .into_iter()
            .partition(|t| crate::referrers::described_by_tag(t).is_some());
        let left_out = digests_of(source, pair, &excluded).await?;
        let kept = digests_of(source, pair, &plain).await?;
        selected = plain;
        for tag in describing {
            let described = crate::referrers::described_by_tag(&tag).expect("a describing tag");
            if left_out.contains(&described) && !kept.contains(&described) {
                unmatched.push(tag);
            } else {
                selected.push(tag);
            }
        }
    }
    let describing: Vec<(String, Digest)> = unmatched
        .into_iter()
        .filter_map(|t| crate::referrers::described_by_tag(&t).map(|d| (t, d)))
        .collect();
    if !describing.is_empty() {
        // The tags' own digests first (a listing that gives them, or a `HEAD` each: no pull
        // counted where registries count manifest reads); the manifests themselves only when a
        // describing tag may name one of their children.
        let mut brought = digests_of(source, pair, &selected).await?;
        if describing.iter().any(|(_, d)| !brought.contains(d)) {
            brought = manifests_brought(source, pair, &selected).await?;
        }
        let (mut taken, mut left): (Vec<_>, Vec<_>) = describing
            .into_iter()
            .partition(|(_, described)| brought.contains(described));
        // A fallback tag taken lists referrers that go with the tag, and those may have fallback
        // tags of their own (the signature of an SBOM): taken too, so that the target's tag
        // holds the source's bytes, not the copy's own listing of the referrers it pushed. One
        // read of each fallback tag taken, while describing tags are left.
        let mut round = taken.clone();
        for _ in 0..MAX_INDEX_DEPTH {
            if left.is_empty() || round.is_empty() {
                break;
            }
            // A fallback tag that cannot be read (gone, too large, not JSON, a read that keeps
            // failing) lists nothing here: said at -v, and the tag is copied or failed on its
            // own later, not the selection of the whole repository.
            let reads = round
                .iter()
                .filter(|(t, _)| crate::referrers::is_fallback_tag(t))
                .map(|(tag, _)| async move { (tag, source.manifest(&pair.source, tag).await) });
            let indexes: Vec<_> = futures::stream::iter(reads)
                .buffer_unordered(DESCRIBED_READS)
                .collect()
                .await;
            for (tag, index) in indexes {
                match index {
                    Ok(index) => {
                        brought.extend(crate::referrers::listed(&index).unwrap_or_default())
                    }
                    Err(e) => crate::log::emit(1, || {
                        format!(
                            "{}:{tag}: not read while selecting tags ({e}); taken as listing nothing",
                            pair.source
                        )
                    }),
                }
            }
            let (next, rest): (Vec<_>, Vec<_>) = left
                .into_iter()
                .partition(|(_, described)| brought.contains(described));
            left = rest;
            taken.extend(next.iter().cloned());
            round = next;
        }
        selected.extend(taken.into_iter().map(|(tag, _)| tag));
    }
    selected.sort();
    selected.dedup();
    Ok(selected)
}

/// The digests `tags` point at in `pair.source`, from a listing with digests when the source
/// has one, else a `HEAD` each. A tag gone since it was listed brings nothing.
async fn digests_of(
    source: &dyn Source,
    pair: &RepoPair,
    tags: &[String],
) -> Result<std::collections::HashSet<Digest>> {
    Ok(
        tag_digests(source, &pair.source, tags.to_vec(), DESCRIBED_READS)
            .await?
            .into_iter()
            .filter_map(|(_, digest)| digest)
            .collect(),
    )
}

/// Each of `tags` of `repository` with the digest it points at: from the source's listing of
/// tags with digests when it has one (ACR, layouts), else a `HEAD` per tag, `jobs` at once. A tag
/// gone since it was listed has none.
pub async fn tag_digests(
    source: &dyn Source,
    repository: &str,
    tags: Vec<String>,
    jobs: usize,
) -> Result<Vec<(String, Option<Digest>)>> {
    if let Some(listed) = source.tag_digests(repository).await? {
        let listed: HashMap<String, Digest> = listed.into_iter().collect();
        return Ok(tags
            .into_iter()
            .map(|tag| {
                let digest = listed.get(&tag).cloned();
                (tag, digest)
            })
            .collect());
    }
    futures::stream::iter(tags)
        .map(|tag| async move {
            let digest = source.manifest_digest(repository, &tag).await?;
            Ok((tag, digest))
        })
        .buffer_unordered(jobs.max(1))
        .collect::<Vec<Result<_>>>()
        .await
        .into_iter()
        .collect()
}

/// The digests of the manifests of `tags` in `pair.source` and of their children at any depth. A
/// tag gone since it was listed brings nothing.
async fn manifests_brought(
    source: &dyn Source,
    pair: &RepoPair,
    tags: &[String],
) -> Result<std::collections::HashSet<Digest>> {
    let read = |reference: String| async move {
        match source.manifest(&pair.source, &reference).await {
            Ok(m) => Ok(Some(m)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    };
    let mut brought = std::collections::HashSet::new();
    let mut level: Vec<String> = tags.to_vec();
    // Each round reads one level deeper: the selected tags, then the indexes they list, …
    for _ in 0..=MAX_INDEX_DEPTH {
        if level.is_empty() {
            break;
        }
        let manifests: Vec<_> = futures::stream::iter(level.drain(..).map(read))
            .buffer_unordered(DESCRIBED_READS)
            .collect()
            .await;
        for manifest in manifests {
            let Some(manifest) = manifest? else { continue };
            // A manifest this tool does not read (schema 1) lists no children; its tag is
            // reported where it is copied or checked.
            let children = manifest.view().map(|v| v.children().to_vec());
            for child in children.unwrap_or_default() {
                if brought.insert(child.digest.clone()) && is_index_media_type(&child.media_type) {
                    level.push(child.digest.to_string());
                }
            }
            brought.insert(manifest.digest);
        }
    }
    Ok(brought)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matcher(f: impl FnOnce(&mut Selection)) -> Matcher {
        let mut s = Selection::default();
        f(&mut s);
        Matcher::new(s).unwrap()
    }

    #[test]
    fn prefixes_are_removed_and_added() {
        let m = matcher(|s| {
            s.source_prefix = Some("mirror".into());
            s.target_prefix = Some("moved/here".into());
        });
        let p = m.repository("mirror/team/app").unwrap();
        assert_eq!(p.name, "team/app");
        assert_eq!(p.target, "moved/here/team/app");
        assert!(m.repository("mirrorx/app").is_none());
        assert!(m.repository("other/app").is_none());
    }

    #[test]
    fn globs_stay_within_a_level_unless_double_star() {
        let m = matcher(|s| s.include = vec!["team/*".into()]);
        assert!(m.repository("team/a").is_some());
        assert!(m.repository("team/a/b").is_none());
        let m = matcher(|s| {
            s.include = vec!["team/**".into()];
            s.exclude = vec!["team/secret*".into()];
        });
        assert!(m.repository("team/a/b").is_some());
        assert!(m.repository("team/secret-x").is_none());
    }

    #[test]
    fn tag_patterns_match_whole_tags() {
        let m = matcher(|s| s.tag_patterns = vec![r"v1\.\d+".into()]);
        assert!(m.tag("v1.2"));
        assert!(!m.tag("v1.2-rc"));
        assert!(!m.tag("xv1.2"));
    }

    #[test]
    fn patterns_that_matched_nothing_are_named_once_others_matched() {
        let m = matcher(|s| {
            s.include = vec!["team/*".into(), "infar/*".into()];
            s.tag_patterns = vec![r"v1\..*".into(), "lastest".into()];
        });
        let clone = m.clone();
        assert!(clone.repository("team/a").is_some());
        assert!(clone.tag("v1.2"));
        assert!(!clone.tag("latest"));
        let (repo, tag) = (
            Unmatched {
                kind: PatternKind::Repo,
                pattern: "infar/*".into(),
                part_of: None,
            },
            Unmatched {
                kind: PatternKind::Tag,
                pattern: "lastest".into(),
                part_of: None,
            },
        );
        assert_eq!(m.unmatched(), [repo.clone(), tag]);
        assert!(m.tag("lastest"));
        assert_eq!(m.unmatched(), [repo]);
    }

    #[test]
    fn under_a_shard_a_tag_that_matched_nothing_here_is_not_named_it_may_match_in_another_shard() {
        let m = matcher(|s| {
            s.include = vec!["team/*".into(), "infar/*".into()];
            s.tag_patterns = vec!["v1".into(), "v2".into()];
            s.shard = Some((0, 2));
        });
        assert!(m.tag("v1"));
        let unmatched = m.unmatched();
        assert_eq!(
            unmatched,
            [
                Unmatched {
                    kind: PatternKind::Repo,
                    pattern: "team/*".into(),
                    part_of: None,
                },
                Unmatched {
                    kind: PatternKind::Repo,
                    pattern: "infar/*".into(),
                    part_of: None,
                }
            ]
        );
    }

    /// Where the source lists no repositories, a name given with `--repo` counts as matched once
    /// its tag listing shows a tag (a misspelt one answers as an empty repository); one an
    /// exclusion leaves out is never asked, and counts.
    #[test]
    fn a_given_name_counts_as_matched_once_its_tags_are_listed() {
        let m = matcher(|s| {
            s.include = vec!["app".into(), "ap".into(), "old".into()];
            s.exclude = vec!["old".into()];
        });
        let pairs: Vec<RepoPair> = ["app", "ap", "old"]
            .iter()
            .filter_map(|r| m.pair(r, false))
            .collect();
        assert_eq!(pairs.len(), 2);
        m.tags_listed("app", &["v1".into()]);
        m.tags_listed("ap", &[]);
        assert_eq!(
            m.unmatched(),
            [Unmatched {
                kind: PatternKind::Repo,
                pattern: "ap".into(),
                part_of: None,
            }]
        );
        // The name that showed no tag may not exist; the one that showed a tag does.
        assert!(m.unconfirmed("ap") && !m.unconfirmed("app") && !m.unconfirmed("old"));
    }

    #[test]
    fn bad_filters_name_the_flag() {
        let e = Matcher::new(Selection {
            tag_patterns: vec!["v1".into(), "(".into()],
            ..Default::default()
        })
        .unwrap_err()
        .to_string();
        assert!(e.contains("--tag `(`"), "{e}");
        let e = Matcher::new(Selection {
            shard: Some((3, 3)),
            ..Default::default()
        })
        .unwrap_err()
        .to_string();
        assert!(e.contains("--shard"), "{e}");
    }

    #[tokio::test]
    async fn a_tag_expression_brings_the_tags_that_describe_what_it_selects_by_name() {
        use crate::referrers::fallback_tag;
        use crate::transport::layout::Layout;
        use crate::transport::Destination;
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::create(&dir.path().join("l")).unwrap();
        crate::sample::write(&layout, 4, 7).await.unwrap();
        // An attestation of one platform of the multi-arch team/svc-1:v1.0.0, and a signature
        // of its v1.1.0.
        let (repo, pair) = (
            "team/svc-1",
            matcher(|_| {}).repository("team/svc-1").unwrap(),
        );
        let index = layout.manifest(repo, "v1.0.0").await.unwrap();
        let platform = index.view().unwrap().children()[0].digest.clone();
        let later = layout.manifest(repo, "v1.1.0").await.unwrap().digest;
        let attestation = format!("{}.att", fallback_tag(&platform));
        let signature = format!("{}.sig", fallback_tag(&later));
        let any = layout.manifest("svc2", "v1.0.0").await.unwrap();
        for tag in [&attestation, &signature] {
            layout.put_manifest(repo, Some(tag), &any).await.unwrap();
        }
        let select = |pattern: &str| {
            let m = matcher(|s| s.tag_patterns = vec![pattern.into()]);
            let (layout, pair) = (&layout, &pair);
            async move {
                let listed = layout.tags(repo).await.unwrap();
                select_tags(layout, &m, pair, listed).await.unwrap()
            }
        };
        assert_eq!(
            select(r"v1\.0\.0").await,
            [attestation.clone(), "v1.0.0".into()]
        );
        assert_eq!(
            select(r"v1\.1\.0").await,
            [signature.clone(), "v1.1.0".into()]
        );
        // Without an expression every tag is taken, once.
        let mut every = layout.tags(repo).await.unwrap();
        every.sort();
        every.dedup();
        assert_eq!(select(".*").await, every);
    }

    #[test]
    fn shards_partition_names() {
        let names: Vec<String> = (0..500).map(|i| format!("team/svc-{i}")).collect();
        for n in [1u32, 3, 7] {
            let mut counts = vec![0; n as usize];
            for name in &names {
                counts[shard_of(name, n) as usize] += 1;
            }
            assert_eq!(counts.iter().sum::<usize>(), names.len());
            assert!(counts.iter().all(|&c| c > 0));
        }
    }
}
