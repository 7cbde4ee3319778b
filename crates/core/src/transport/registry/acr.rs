//! Azure Container Registry's data-plane API (`/acr/v1/…`, Microsoft's spec
//! `containerregistry/data-plane/Azure.ContainerRegistry/stable/2021-07-01`): what only ACR can say.
//!
//! - Listings with digests and attributes: `GET /acr/v1/{name}/_tags` (every tag with its digest)
//!   and `GET /acr/v1/{name}/_manifests` (every manifest, untagged ones included), paginated with
//!   `n`/`last` and `Link` headers. They back [`Source::tag_digests`] and [`Source::all_manifests`]
//!   of a [`Registry`] that is an ACR.
//! - Lock attributes (`deleteEnabled`, `writeEnabled`, `readEnabled`, `listEnabled`) of
//!   repositories, tags and manifests: read with `GET /acr/v1/{name}`, `…/_tags/{tag}`,
//!   `…/_manifests/{digest}`, written with `PATCH` of the same paths.
//! - The ordering rules ([`unlocks_before_copy`], [`locks_after_copy`]): which PATCHes a copy needs,
//!   and in which order, so that the copy itself stays possible. Pure functions, unit-tested.
//! - [`LockSync`]: the steps a copy runs before and after its content moves, and [`compare`] for
//!   verify.
//!
//! Repository names are one path segment in `/acr/v1/` paths: `a/b` is sent as `a%2Fb`. Requests
//! are signed for the `metadata_read` (and `metadata_write`) scopes of the repository.
//!
//! [`Source::tag_digests`]: crate::transport::Source::tag_digests
//! [`Source::all_manifests`]: crate::transport::Source::all_manifests

use std::collections::{BTreeMap, BTreeSet};

use futures::StreamExt;
use reqwest::header::CONTENT_TYPE;
use reqwest::Method;
use serde::{Deserialize, Serialize};

use super::listing::ListingPages;
use super::{next_link, next_page_url, Registry, Scope};
use crate::digest::Digest;
use crate::endpoint::RegistryEndpoint;
use crate::error::{Error, Result};
use crate::secret::redact_url;
use crate::transport::ConnectOptions;
use crate::walk::{Matcher, RepoPair};

/// Login-server suffixes of ACR (public cloud, China, US Government).
const ACR_SUFFIXES: [&str; 3] = [".azurecr.io", ".azurecr.cn", ".azurecr.us"];

/// True when a host (without port) is an ACR login server.
pub fn is_acr_host(hostname: &str) -> bool {
    let h = hostname.to_ascii_lowercase();
    ACR_SUFFIXES.iter().any(|s| h.ends_with(s))
}

/// True when an endpoint is treated as an ACR: its login server says so, or `--acr` forces it.
pub fn is_acr(endpoint: &RegistryEndpoint, options: &ConnectOptions) -> bool {
    options.acr || is_acr_host(endpoint.hostname())
}

/// The changeable attributes of a repository, tag or manifest. `None`: not given (ACR's default
/// is `true` for each).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Attributes {
    /// Whether it may be deleted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delete_enabled: Option<bool>,
    /// Whether it may be overwritten (tags), pushed to (repositories) or changed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub write_enabled: Option<bool>,
    /// Whether it may be pulled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub read_enabled: Option<bool>,
    /// Whether it shows in listings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub list_enabled: Option<bool>,
}

impl Attributes {
    /// Only `writeEnabled`.
    pub fn write(enabled: bool) -> Self {
        Attributes {
            write_enabled: Some(enabled),
            ..Default::default()
        }
    }

    fn fields(&self) -> [(&'static str, Option<bool>); 4] {
        [
            ("deleteEnabled", self.delete_enabled),
            ("writeEnabled", self.write_enabled),
            ("readEnabled", self.read_enabled),
            ("listEnabled", self.list_enabled),
        ]
    }

    /// True when writes are refused.
    pub fn write_locked(&self) -> bool {
        self.write_enabled == Some(false)
    }

    /// Each field refused when either side refuses it (missing counts as `true`).
    pub fn strictest_with(&self, other: &Attributes) -> Attributes {
        let both = |a: Option<bool>, b: Option<bool>| Some(a.unwrap_or(true) && b.unwrap_or(true));
        Attributes {
            delete_enabled: both(self.delete_enabled, other.delete_enabled),
            write_enabled: both(self.write_enabled, other.write_enabled),
            read_enabled: both(self.read_enabled, other.read_enabled),
            list_enabled: both(self.list_enabled, other.list_enabled),
        }
    }

    /// The fields of `self` (the wanted state) that `current` does not have yet, or `None` when
    /// nothing differs. A field missing on either side counts as ACR's default, `true`.
    pub fn changes_from(&self, current: &Attributes) -> Option<Attributes> {
        let pick = |want: Option<bool>, have: Option<bool>| {
            let want = want.unwrap_or(true);
            (want != have.unwrap_or(true)).then_some(want)
        };
        let out = Attributes {
            delete_enabled: pick(self.delete_enabled, current.delete_enabled),
            write_enabled: pick(self.write_enabled, current.write_enabled),
            read_enabled: pick(self.read_enabled, current.read_enabled),
            list_enabled: pick(self.list_enabled, current.list_enabled),
        };
        (out != Attributes::default()).then_some(out)
    }
}

impl std::fmt::Display for Attributes {
    /// `deleteEnabled=false writeEnabled=true` (only the fields that are set).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut first = true;
        for (name, value) in self.fields() {
            if let Some(v) = value {
                if !first {
                    f.write_str(" ")?;
                }
                write!(f, "{name}={v}")?;
                first = false;
            }
        }
        if first {
            f.write_str("(defaults)")?;
        }
        Ok(())
    }
}

/// A tag as `_tags` lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TagInfo {
    /// Tag name.
    pub name: String,
    /// The manifest it points at.
    pub digest: Digest,
    /// Its lock attributes.
    pub attributes: Attributes,
}

/// A manifest as `_manifests` lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManifestInfo {
    /// Its digest.
    pub digest: Digest,
    /// The tags pointing at it (empty: untagged).
    pub tags: Vec<String>,
    /// Its media type, when given.
    pub media_type: Option<String>,
    /// Its lock attributes.
    pub attributes: Attributes,
}

/// A repository's properties.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RepositoryInfo {
    /// Repository name.
    pub name: String,
    /// Manifests it holds.
    pub manifest_count: u64,
    /// Tags it holds.
    pub tag_count: u64,
    /// Its lock attributes.
    pub attributes: Attributes,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TagWire {
    name: String,
    digest: String,
    changeable_attributes: Option<Attributes>,
}

#[derive(Deserialize)]
struct TagListWire {
    tags: Option<Vec<TagWire>>,
}

#[derive(Deserialize)]
struct TagAttributesWire {
    tag: TagWire,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ManifestWire {
    digest: String,
    tags: Option<Vec<String>>,
    media_type: Option<String>,
    changeable_attributes: Option<Attributes>,
}

#[derive(Deserialize)]
struct ManifestListWire {
    manifests: Option<Vec<ManifestWire>>,
}

#[derive(Deserialize)]
struct ManifestAttributesWire {
    manifest: ManifestWire,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RepositoryWire {
    image_name: String,
    manifest_count: Option<u64>,
    tag_count: Option<u64>,
    changeable_attributes: Option<Attributes>,
}

fn digest_of(text: &str, what: impl FnOnce() -> String) -> Result<Digest> {
    text.parse::<Digest>()
        .map_err(|e| Error::invalid(what(), format!("not a digest `{text}`: {e}")))
}

impl TagWire {
    fn into_info(self, repository: &str) -> Result<TagInfo> {
        let digest = digest_of(&self.digest, || format!("tag {repository}:{}", self.name))?;
        Ok(TagInfo {
            name: self.name,
            digest,
            attributes: self.changeable_attributes.unwrap_or_default(),
        })
    }
}

impl ManifestWire {
    fn into_info(self, repository: &str) -> Result<ManifestInfo> {
        let digest = digest_of(&self.digest, || format!("manifest in {repository}"))?;
        Ok(ManifestInfo {
            digest,
            tags: self.tags.unwrap_or_default(),
            media_type: self.media_type,
            attributes: self.changeable_attributes.unwrap_or_default(),
        })
    }
}

/// True when an error says the credentials may not read ACR's metadata (401 after a token
/// renewal, 403): listings then fall back to the OCI API.
pub fn lacks_metadata_access(e: &Error) -> bool {
    matches!(
        e,
        Error::Auth { .. }
            | Error::Status {
                status: 401 | 403,
                ..
            }
    )
}

/// Why one side's attributes could not be read, with what to do: credentials without metadata
/// read are told to get it or to pass `way_out` (the flags that do without the metadata).
fn unreadable(side: &str, e: &Error, way_out: &str) -> String {
    match e {
        Error::Status {
            status: status @ (401 | 403),
            ..
        } => format!(
            "the {side}'s credentials may not read its ACR metadata (HTTP {status} from /acr/v1): grant them metadata read, or pass {way_out}"
        ),
        _ => format!("in the {side}: {e}"),
    }
}

/// A repository name as one path segment (`a/b` → `a%2Fb`). Repository names hold only
/// `[a-z0-9._/-]`, so the slash is the only character to encode.
pub fn encode_name(name: &str) -> String {
    name.replace('/', "%2F")
}

fn path(repository: &str, rest: &str) -> String {
    format!("/acr/v1/{}{rest}", encode_name(repository))
}

/// GETs every page of a `_tags` or `_manifests` listing (`n`, then the `Link` headers). A missing
/// repository gives an empty list.
async fn list<P, I>(
    registry: &Registry,
    repository: &str,
    listing: &str,
    mut items: impl FnMut(P) -> Result<Vec<I>>,
) -> Result<Vec<I>>
where
    P: serde::de::DeserializeOwned,
{
    let scope = Scope::Metadata(repository.to_string());
    let mut out = Vec::new();
    let mut next = Some(registry.url(&format!(
        "{}?n={}",
        path(repository, listing),
        registry.page_size
    )));
    let mut listing = ListingPages::default();
    while let Some(url) = next.take() {
        let pages = listing.visit(&url)?;
        let fetched = registry
            .fetch_small(scope.clone(), || registry.http.get(&url), &url)
            .await;
        let (_, headers, body) = match fetched {
            Err(e) if e.is_not_found() && pages == 1 => return Ok(Vec::new()),
            other => other?,
        };
        let page: P = serde_json::from_slice(&body).map_err(|e| {
            Error::invalid(
                format!("GET {}", redact_url(&url)),
                registry.masked(&format!("not a valid ACR listing: {e}")),
            )
        })?;
        let page = items(page)?;
        let empty = page.is_empty();
        listing.add(&url, page.len())?;
        out.extend(page);
        if let (Some(link), false) = (next_link(&headers), empty) {
            next = Some(next_page_url(&url, &link)?);
        }
    }
    Ok(out)
}

/// Every tag of a repository with its digest and attributes (`GET /acr/v1/{name}/_tags`, all
/// pages).
pub async fn list_tags(registry: &Registry, repository: &str) -> Result<Vec<TagInfo>> {
    list(registry, repository, "/_tags", |p: TagListWire| {
        p.tags
            .unwrap_or_default()
            .into_iter()
            .map(|t| t.into_info(repository))
            .collect()
    })
    .await
}

/// Every manifest of a repository, tagged or not (`GET /acr/v1/{name}/_manifests`, all pages).
pub async fn list_manifests(registry: &Registry, repository: &str) -> Result<Vec<ManifestInfo>> {
    list(
        registry,
        repository,
        "/_manifests",
        |p: ManifestListWire| {
            p.manifests
                .unwrap_or_default()
                .into_iter()
                .map(|m| m.into_info(repository))
                .collect()
        },
    )
    .await
}

/// GETs one attributes document; `None` on 404.
async fn get_json<T: serde::de::DeserializeOwned>(
    registry: &Registry,
    repository: &str,
    rest: &str,
) -> Result<Option<T>> {
    let url = registry.url(&path(repository, rest));
    let fetched = registry
        .fetch_small(
            Scope::Metadata(repository.to_string()),
            || registry.http.get(&url),
            &url,
        )
        .await;
    let body = match fetched {
        Err(e) if e.is_not_found() => return Ok(None),
        other => other?.2,
    };
    serde_json::from_slice(&body).map(Some).map_err(|e| {
        Error::invalid(
            format!("GET {}", redact_url(&url)),
            registry.masked(&format!("not valid ACR attributes: {e}")),
        )
    })
}

/// A repository's properties (`GET /acr/v1/{name}`), or `None` when it does not exist.
pub async fn repository(registry: &Registry, repository: &str) -> Result<Option<RepositoryInfo>> {
    let wire: Option<RepositoryWire> = get_json(registry, repository, "").await?;
    Ok(wire.map(|w| RepositoryInfo {
        name: w.image_name,
        manifest_count: w.manifest_count.unwrap_or(0),
        tag_count: w.tag_count.unwrap_or(0),
        attributes: w.changeable_attributes.unwrap_or_default(),
    }))
}

/// One tag's digest and attributes (`GET /acr/v1/{name}/_tags/{tag}`), or `None`.
pub async fn tag(registry: &Registry, repository: &str, tag: &str) -> Result<Option<TagInfo>> {
    let wire: Option<TagAttributesWire> =
        get_json(registry, repository, &format!("/_tags/{tag}")).await?;
    wire.map(|w| w.tag.into_info(repository)).transpose()
}

/// One manifest's attributes (`GET /acr/v1/{name}/_manifests/{digest}`), or `None`.
pub async fn manifest(
    registry: &Registry,
    repository: &str,
    digest: &Digest,
) -> Result<Option<ManifestInfo>> {
    let wire: Option<ManifestAttributesWire> =
        get_json(registry, repository, &format!("/_manifests/{digest}")).await?;
    wire.map(|w| w.manifest.into_info(repository)).transpose()
}

/// What a PATCH changes.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Item {
    /// The repository itself.
    Repository,
    /// A tag.
    Tag(String),
    /// A manifest, by digest.
    Manifest(String),
}

/// One `PATCH` of changeable attributes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Patch {
    /// Repository (target name).
    pub repository: String,
    /// What in it.
    pub item: Item,
    /// The attributes to set (only these fields are sent).
    pub attributes: Attributes,
}

impl std::fmt::Display for Patch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.item {
            Item::Repository => write!(f, "{}", self.repository)?,
            Item::Tag(t) => write!(f, "{}:{t}", self.repository)?,
            Item::Manifest(d) => write!(f, "{}@{d}", self.repository)?,
        }
        write!(f, " {}", self.attributes)
    }
}

/// Sends one PATCH (`/acr/v1/{name}`, `…/_tags/{tag}` or `…/_manifests/{digest}`, body: the
/// changeable attributes) and returns the attributes the registry reports afterwards.
pub async fn patch(registry: &Registry, patch: &Patch) -> Result<Attributes> {
    let rest = match &patch.item {
        Item::Repository => String::new(),
        Item::Tag(t) => format!("/_tags/{t}"),
        Item::Manifest(d) => format!("/_manifests/{d}"),
    };
    let url = registry.url(&path(&patch.repository, &rest));
    let body = serde_json::to_vec(&patch.attributes)
        .map_err(|e| Error::invalid("attributes", e.to_string()))?;
    let response = registry
        .send(Scope::MetadataWrite(patch.repository.clone()), || {
            registry
                .http
                .patch(&url)
                .header(CONTENT_TYPE, "application/json")
                .body(body.clone())
        })
        .await?;
    if !response.status().is_success() {
        return Err(registry.status_error(&Method::PATCH, &url, response).await);
    }
    let bytes = response
        .bytes()
        .await
        .map_err(|e| super::errors::connection_error(&Method::PATCH, &url, &e))?;
    let value: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
    // Repository: `changeableAttributes` at the top; tag and manifest: under `tag` / `manifest`.
    let attrs = match &patch.item {
        Item::Repository => value.get("changeableAttributes"),
        Item::Tag(_) => value.pointer("/tag/changeableAttributes"),
        Item::Manifest(_) => value.pointer("/manifest/changeableAttributes"),
    };
    Ok(attrs
        .and_then(|a| serde_json::from_value(a.clone()).ok())
        .unwrap_or_default())
}

/// What a repository holds, as far as locks go: its attributes and those of its tags and manifests.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RepoState {
    /// Repository name.
    pub name: String,
    /// The repository's attributes, or `None` when it does not exist.
    pub repository: Option<Attributes>,
    /// Tag → (digest, attributes).
    pub tags: BTreeMap<String, (Digest, Attributes)>,
    /// Manifest digest → attributes.
    pub manifests: BTreeMap<Digest, Attributes>,
}

impl RepoState {
    /// The state of an empty, missing repository.
    pub fn missing(name: &str) -> Self {
        RepoState {
            name: name.to_string(),
            ..Default::default()
        }
    }
}

/// Reads a repository's state: `GET /acr/v1/{name}`, then `_tags` and `_manifests` (all pages).
pub async fn read_state(registry: &Registry, name: &str) -> Result<RepoState> {
    let Some(repo) = repository(registry, name).await? else {
        return Ok(RepoState::missing(name));
    };
    let tags = list_tags(registry, name).await?;
    let manifests = list_manifests(registry, name).await?;
    Ok(RepoState {
        name: name.to_string(),
        repository: Some(repo.attributes),
        tags: tags
            .into_iter()
            .map(|t| (t.name, (t.digest, t.attributes)))
            .collect(),
        manifests: manifests
            .into_iter()
            .map(|m| (m.digest, m.attributes))
            .collect(),
    })
}

/// The manifests of `source` that a copy with these settings brings over: the selected tags'
/// digests, and with `untagged` those without any tag.
fn copied_manifests(
    source: &RepoState,
    selected: &dyn Fn(&str) -> bool,
    untagged: bool,
) -> BTreeSet<Digest> {
    let tagged: BTreeSet<&Digest> = source.tags.values().map(|(d, _)| d).collect();
    let mut out: BTreeSet<Digest> = source
        .tags
        .iter()
        .filter(|(t, _)| selected(t))
        .map(|(_, (d, _))| d.clone())
        .collect();
    if untagged {
        out.extend(
            source
                .manifests
                .keys()
                .filter(|d| !tagged.contains(d))
                .cloned(),
        );
    }
    out
}

/// Ordering rule 1, before any content moves: the unlocks without which the copy would be refused.
///
/// - A write-locked target repository that will receive anything (a selected tag that is missing
///   or points elsewhere, an untagged manifest it lacks) is unlocked for writing, first.
/// - Each write-locked target tag that must move to another digest is unlocked for writing.
///
/// [`locks_after_copy`] locks them again (to the source's attributes) once the content is in place.
pub fn unlocks_before_copy(
    source: &RepoState,
    target: &RepoState,
    selected: &dyn Fn(&str) -> bool,
    untagged: bool,
) -> Vec<Patch> {
    let mut tags = Vec::new();
    let mut writes = false;
    for (tag, (digest, _)) in source.tags.iter().filter(|(t, _)| selected(t)) {
        match target.tags.get(tag) {
            Some((d, _)) if d == digest => {}
            Some((_, attrs)) => {
                writes = true;
                if attrs.write_locked() {
                    tags.push(Patch {
                        repository: target.name.clone(),
                        item: Item::Tag(tag.clone()),
                        attributes: Attributes::write(true),
                    });
                }
            }
            None => writes = true,
        }
    }
    writes |= copied_manifests(source, selected, untagged)
        .iter()
        .any(|d| !target.manifests.contains_key(d));
    let mut out = Vec::new();
    if writes && target.repository.is_some_and(|a| a.write_locked()) {
        out.push(Patch {
            repository: target.name.clone(),
            item: Item::Repository,
            attributes: Attributes::write(true),
        });
    }
    out.extend(tags);
    out
}

/// Ordering rule 2, after the content is in place: the PATCHes that give the target the source's
/// attributes, innermost first and the repository last (a write-locked repository or tag is locked
/// only once nothing more is written under it):
///
/// 1. manifests the target holds (copied or already there), to the source's attributes;
/// 2. selected tags that point at the source's digest in the target, to the source's attributes;
///    tags the copy could not bring over get back the attributes they had `before` (an unlock of
///    [`unlocks_before_copy`] is undone);
/// 3. the repository, to the source's attributes; when the copy left it incomplete (a selected tag
///    not at the source's digest), to the stricter of those and what it had `before`.
///
/// `after` is the target as read once the copy has finished; only fields that differ are sent.
pub fn locks_after_copy(
    source: &RepoState,
    before: &RepoState,
    after: &RepoState,
    selected: &dyn Fn(&str) -> bool,
) -> Vec<Patch> {
    let name = &after.name;
    let mut out = Vec::new();
    for (digest, want) in &source.manifests {
        if let Some(have) = after.manifests.get(digest) {
            if let Some(change) = want.changes_from(have) {
                out.push(Patch {
                    repository: name.clone(),
                    item: Item::Manifest(digest.to_string()),
                    attributes: change,
                });
            }
        }
    }
    for (tag, (digest, want)) in source.tags.iter().filter(|(t, _)| selected(t)) {
        let Some((have_digest, have)) = after.tags.get(tag) else {
            continue;
        };
        let want = if have_digest == digest {
            *want
        } else {
            // Not copied: whatever it was before the copy.
            match before.tags.get(tag) {
                Some((_, old)) => *old,
                None => continue,
            }
        };
        if let Some(change) = want.changes_from(have) {
            out.push(Patch {
                repository: name.clone(),
                item: Item::Tag(tag.clone()),
                attributes: change,
            });
        }
    }
    // A repository the copy left incomplete (a selected tag not at the source's digest: the copy
    // failed or was interrupted) also keeps every lock it had before, so what the copy unlocked
    // is locked again; a later run unlocks it for what is left.
    let incomplete = source
        .tags
        .iter()
        .filter(|(t, _)| selected(t))
        .any(|(t, (digest, _))| after.tags.get(t).map(|(d, _)| d) != Some(digest));
    if let (Some(want), Some(have)) = (source.repository, after.repository) {
        let want = match (incomplete, before.repository) {
            (true, Some(old)) => want.strictest_with(&old),
            _ => want,
        };
        if let Some(change) = want.changes_from(&have) {
            out.push(Patch {
                repository: name.clone(),
                item: Item::Repository,
                attributes: change,
            });
        }
    }
    out
}

/// A difference verify reports.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Difference {
    /// `REPOSITORY`, `REPOSITORY:TAG` or `REPOSITORY@DIGEST` (target names).
    pub item: String,
    /// What differs.
    pub reason: String,
    /// What kind of difference.
    pub kind: DifferenceKind,
}

/// What a [`Difference`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum DifferenceKind {
    /// The lock attributes differ.
    Attributes,
    /// The target lacks the item (an untagged manifest).
    Missing,
    /// The attributes could not be read.
    Error,
}

/// Compares the target's attributes (and, with `untagged`, its untagged manifests) with the
/// source's. Tags whose digests differ are left to the digest comparison.
pub fn compare(
    source: &RepoState,
    target: &RepoState,
    selected: &dyn Fn(&str) -> bool,
    untagged: bool,
) -> Vec<Difference> {
    let name = &target.name;
    let mut out = Vec::new();
    let differ = |item: String, want: &Attributes, have: &Attributes| {
        want.changes_from(have).map(|_| Difference {
            item,
            reason: format!("attributes {have} in the target, {want} in the source"),
            kind: DifferenceKind::Attributes,
        })
    };
    if let (Some(want), Some(have)) = (&source.repository, &target.repository) {
        out.extend(differ(name.clone(), want, have));
    }
    for (tag, (digest, want)) in source.tags.iter().filter(|(t, _)| selected(t)) {
        if let Some((d, have)) = target.tags.get(tag) {
            if d == digest {
                out.extend(differ(format!("{name}:{tag}"), want, have));
            }
        }
    }
    let copied = copied_manifests(source, selected, untagged);
    for (digest, want) in &source.manifests {
        if !copied.contains(digest) {
            continue;
        }
        match target.manifests.get(digest) {
            Some(have) => out.extend(differ(format!("{name}@{digest}"), want, have)),
            None if untagged && !source.tags.values().any(|(d, _)| d == digest) => {
                out.push(Difference {
                    item: format!("{name}@{digest}"),
                    reason: "untagged manifest of the source not in the target".into(),
                    kind: DifferenceKind::Missing,
                })
            }
            None => {}
        }
    }
    out
}

/// The lock steps of a copy between two ACRs: [`LockSync::prepare`] before the content moves
/// (reads both sides, unlocks what would refuse the copy), [`LockSync::finish`] after it
/// (re-reads the target, applies the source's attributes in order).
pub struct LockSync {
    /// Source state, target state, and the source tags the selection takes.
    repos: Vec<(RepoState, RepoState, BTreeSet<String>)>,
    /// Unlocks applied before the copy.
    pub unlocked: Vec<Patch>,
    /// Repositories or PATCHes that failed, with why.
    pub failed: Vec<(String, String)>,
}

/// What [`LockSync::finish`] did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct LockReport {
    /// Unlocks applied before the copy.
    pub unlocked: Vec<String>,
    /// PATCHes applied after the copy, in order.
    pub applied: Vec<String>,
    /// What failed, with why.
    pub failed: Vec<(String, String)>,
}

impl LockSync {
    /// Reads the source's and the target's states of every pair, `jobs` repositories at a time,
    /// and applies the unlocks of [`unlocks_before_copy`]. With `dry_run`, nothing is sent.
    pub async fn prepare(
        source: &Registry,
        target: &Registry,
        pairs: &[RepoPair],
        matcher: &Matcher,
        untagged: bool,
        jobs: usize,
        dry_run: bool,
    ) -> Self {
        let states: Vec<_> = futures::stream::iter(pairs.iter())
            .map(|pair| async move {
                let s = read_selected_state(source, matcher, pair).await;
                let t = read_state(target, &pair.target).await;
                (pair, s, t)
            })
            .buffered(jobs.max(1))
            .collect()
            .await;
        let mut sync = LockSync {
            repos: Vec::new(),
            unlocked: Vec::new(),
            failed: Vec::new(),
        };
        for (pair, s, t) in states {
            let why = match (s, t) {
                (Ok((s, selected)), Ok(t)) => {
                    sync.repos.push((s, t, selected));
                    continue;
                }
                (Err(e), _) => unreadable("source", &e, "--no-locks"),
                (_, Err(e)) => unreadable("target", &e, "--no-locks"),
            };
            sync.failed.push((
                pair.target.clone(),
                format!("cannot read attributes: {why}"),
            ));
        }
        let plan: Vec<Patch> = sync
            .repos
            .iter()
            .flat_map(|(s, t, selected)| {
                unlocks_before_copy(s, t, &|tag| selected.contains(tag), untagged)
            })
            .collect();
        for p in plan {
            if dry_run {
                sync.unlocked.push(p);
                continue;
            }
            match self::patch(target, &p).await {
                Ok(_) => sync.unlocked.push(p),
                Err(e) => sync.failed.push((p.to_string(), e.to_string())),
            }
        }
        sync
    }

    /// After the copy: re-reads each target repository and applies [`locks_after_copy`] in order.
    pub async fn finish(self, target: &Registry, jobs: usize) -> LockReport {
        let LockSync {
            repos,
            unlocked,
            mut failed,
        } = self;
        let results: Vec<_> = futures::stream::iter(repos)
            .map(|(source, before, selected)| async move {
                let after = match read_state(target, &before.name).await {
                    Ok(a) => a,
                    Err(e) => {
                        return (
                            Vec::new(),
                            vec![(before.name.clone(), format!("cannot read attributes: {e}"))],
                        )
                    }
                };
                let mut applied = Vec::new();
                let mut failed = Vec::new();
                // In order within a repository: the repository lock comes last.
                for p in locks_after_copy(&source, &before, &after, &|t| selected.contains(t)) {
                    match patch(target, &p).await {
                        Ok(_) => applied.push(p.to_string()),
                        Err(e) => failed.push((p.to_string(), e.to_string())),
                    }
                }
                (applied, failed)
            })
            .buffered(jobs.max(1))
            .collect()
            .await;
        let mut applied = Vec::new();
        for (a, f) in results {
            applied.extend(a);
            failed.extend(f);
        }
        LockReport {
            unlocked: unlocked.iter().map(Patch::to_string).collect(),
            applied,
            failed,
        }
    }
}

/// The state of the source repository of `pair`, with the tags the selection takes: those the
/// tag expression matches and the tags that describe them ([`crate::walk::select_tags`]), as the
/// copy takes them.
async fn read_selected_state(
    source: &Registry,
    matcher: &Matcher,
    pair: &RepoPair,
) -> Result<(RepoState, BTreeSet<String>)> {
    let state = read_state(source, &pair.source).await?;
    let listed: Vec<String> = state.tags.keys().cloned().collect();
    let selected = crate::walk::select_tags(source, matcher, pair, listed)
        .await?
        .into_iter()
        .collect();
    Ok((state, selected))
}

/// Reads both sides of every pair and [`compare`]s them; a repository that cannot be read gives
/// one difference naming why.
pub async fn compare_registries(
    source: &Registry,
    target: &Registry,
    pairs: &[RepoPair],
    matcher: &Matcher,
    untagged: bool,
    jobs: usize,
) -> Vec<Difference> {
    let out: Vec<Vec<Difference>> = futures::stream::iter(pairs.iter())
        .map(|pair| async move {
            let s = read_selected_state(source, matcher, pair).await;
            let t = read_state(target, &pair.target).await;
            let way_out = "--no-locks --tagged-only";
            let why = match (s, t) {
                (Ok((s, selected)), Ok(t)) => {
                    return compare(&s, &t, &|tag| selected.contains(tag), untagged)
                }
                (Err(e), _) => unreadable("source", &e, way_out),
                (_, Err(e)) => unreadable("target", &e, way_out),
            };
            vec![Difference {
                item: pair.target.clone(),
                reason: format!("cannot read ACR attributes: {why}"),
                kind: DifferenceKind::Error,
            }]
        })
        .buffered(jobs.max(1))
        .collect()
        .await;
    out.into_iter().flatten().collect()
}

/// The warning a copy of untagged manifests into an ACR prints first: ACR's retention policy
/// (an ARM setting, `properties.policies.retentionPolicy`, which the data-plane API cannot read)
/// deletes untagged manifests some days after their last update.
pub const RETENTION_WARNING: &str = "warning: the target is an ACR: untagged manifests are copied, and if its retention policy is enabled (Premium; `az acr config retention show`) they are deleted after its number of days; disable it first, or pass --tagged-only";

#[cfg(test)]
mod tests {
    use super::*;

    fn d(n: u8) -> Digest {
        format!("sha256:{}", hex::encode([n; 32])).parse().unwrap()
    }

    fn open() -> Attributes {
        Attributes {
            delete_enabled: Some(true),
            write_enabled: Some(true),
            read_enabled: Some(true),
            list_enabled: Some(true),
        }
    }

    /// What locking sends: writes and deletes off, nothing else.
    fn lock_patch() -> Attributes {
        Attributes {
            write_enabled: Some(false),
            delete_enabled: Some(false),
            ..Default::default()
        }
    }

    fn locked() -> Attributes {
        Attributes {
            read_enabled: Some(true),
            list_enabled: Some(true),
            ..lock_patch()
        }
    }

    fn state(name: &str, repo: Attributes, tags: &[(&str, u8, Attributes)]) -> RepoState {
        RepoState {
            name: name.into(),
            repository: Some(repo),
            tags: tags
                .iter()
                .map(|(t, n, a)| (t.to_string(), (d(*n), *a)))
                .collect(),
            manifests: tags.iter().map(|(_, n, _)| (d(*n), open())).collect(),
        }
    }

    fn all(_: &str) -> bool {
        true
    }

    #[test]
    fn only_changed_fields_are_sent_and_missing_means_true() {
        assert_eq!(open().changes_from(&Attributes::default()), None);
        assert_eq!(locked().changes_from(&open()), Some(lock_patch()));
        assert_eq!(
            serde_json::to_string(&Attributes::write(false)).unwrap(),
            r#"{"writeEnabled":false}"#
        );
    }

    #[test]
    fn a_write_locked_tag_that_must_move_is_unlocked_first_then_locked_again() {
        let source = state("s", open(), &[("v1", 2, locked())]);
        let before = state("t", open(), &[("v1", 1, locked())]);
        let unlocks = unlocks_before_copy(&source, &before, &all, true);
        assert_eq!(
            unlocks,
            [Patch {
                repository: "t".into(),
                item: Item::Tag("v1".into()),
                attributes: Attributes::write(true),
            }]
        );
        // After the copy the tag points at the new digest, unlocked for writing.
        let mut after = state("t", open(), &[("v1", 2, open())]);
        after.tags.get_mut("v1").unwrap().1.delete_enabled = Some(false);
        let locks = locks_after_copy(&source, &before, &after, &all);
        assert_eq!(
            locks,
            [Patch {
                repository: "t".into(),
                item: Item::Tag("v1".into()),
                attributes: Attributes::write(false),
            }]
        );
    }

    #[test]
    fn a_tag_already_up_to_date_is_not_unlocked() {
        let source = state("s", open(), &[("v1", 1, locked())]);
        let target = state("t", open(), &[("v1", 1, locked())]);
        assert!(unlocks_before_copy(&source, &target, &all, true).is_empty());
        assert!(locks_after_copy(&source, &target, &target, &all).is_empty());
    }

    #[test]
    fn a_write_locked_repository_is_unlocked_first_and_locked_last() {
        let mut source = state("s", locked(), &[("v1", 1, locked()), ("v2", 2, open())]);
        source.manifests.insert(d(1), locked());
        let before = state("t", locked(), &[]);
        let unlocks = unlocks_before_copy(&source, &before, &all, true);
        assert_eq!(unlocks[0].item, Item::Repository);
        assert_eq!(unlocks[0].attributes, Attributes::write(true));
        let after = state(
            "t",
            Attributes::write(true),
            &[("v1", 1, open()), ("v2", 2, open())],
        );
        let locks = locks_after_copy(&source, &before, &after, &all);
        let order: Vec<&Item> = locks.iter().map(|p| &p.item).collect();
        assert_eq!(
            order,
            [
                &Item::Manifest(d(1).to_string()),
                &Item::Tag("v1".into()),
                &Item::Repository
            ],
            "manifests, then tags, the repository last"
        );
        assert_eq!(locks[2].attributes, lock_patch());
    }

    #[test]
    fn nothing_to_write_leaves_a_locked_repository_alone() {
        let source = state("s", open(), &[("v1", 1, open())]);
        let target = state("t", locked(), &[("v1", 1, open())]);
        assert!(unlocks_before_copy(&source, &target, &all, true).is_empty());
        // An untagged manifest the target lacks is something to write.
        let mut source = source;
        source.manifests.insert(d(9), open());
        assert_eq!(
            unlocks_before_copy(&source, &target, &all, true)[0].item,
            Item::Repository
        );
        assert!(unlocks_before_copy(&source, &target, &all, false).is_empty());
    }

    #[test]
    fn a_tag_the_copy_missed_gets_its_old_lock_back() {
        let source = state("s", open(), &[("v1", 2, open())]);
        let before = state("t", open(), &[("v1", 1, locked())]);
        assert_eq!(unlocks_before_copy(&source, &before, &all, true).len(), 1);
        // The copy failed: still the old digest, but unlocked.
        let mut after = before.clone();
        after.tags.get_mut("v1").unwrap().1 = open();
        let locks = locks_after_copy(&source, &before, &after, &all);
        assert_eq!(locks.len(), 1);
        assert_eq!(locks[0].attributes, lock_patch());
    }

    #[test]
    fn a_repository_the_copy_left_incomplete_gets_back_the_lock_it_had() {
        let source = state("s", open(), &[("v1", 2, open()), ("v2", 3, open())]);
        let before = state("t", locked(), &[("v1", 1, open())]);
        assert_eq!(
            unlocks_before_copy(&source, &before, &all, true)[0].item,
            Item::Repository
        );
        // v1 was copied, v2 was not: the repository is locked again, as it was.
        let mut unlocked = locked();
        unlocked.write_enabled = Some(true);
        let after = state("t", unlocked, &[("v1", 2, open())]);
        let locks = locks_after_copy(&source, &before, &after, &all);
        assert_eq!(
            locks,
            [Patch {
                repository: "t".into(),
                item: Item::Repository,
                attributes: Attributes::write(false),
            }]
        );
        // Complete: the source's attributes.
        let after = state("t", unlocked, &[("v1", 2, open()), ("v2", 3, open())]);
        let locks = locks_after_copy(&source, &before, &after, &all);
        assert_eq!(
            locks[0].attributes,
            Attributes {
                delete_enabled: Some(true),
                ..Default::default()
            }
        );
    }

    #[test]
    fn unselected_tags_are_left_alone() {
        let source = state("s", open(), &[("v1", 2, locked())]);
        let before = state("t", open(), &[("v1", 1, locked())]);
        let none = |_: &str| false;
        assert!(unlocks_before_copy(&source, &before, &none, false).is_empty());
        assert!(locks_after_copy(&source, &before, &before, &none).is_empty());
    }

    #[test]
    fn verify_reports_attributes_and_missing_untagged_manifests() {
        let mut source = state("s", locked(), &[("v1", 1, locked())]);
        source.manifests.insert(d(5), open());
        let target = state("t", open(), &[("v1", 1, open())]);
        let diffs = compare(&source, &target, &all, true);
        let items: Vec<(&str, bool)> = diffs
            .iter()
            .map(|x| (x.item.as_str(), x.kind == DifferenceKind::Missing))
            .collect();
        let untagged = format!("t@{}", d(5));
        assert_eq!(
            items,
            [("t", false), ("t:v1", false), (untagged.as_str(), true)]
        );
        assert!(diffs[1].reason.contains("writeEnabled=false"));
        assert_eq!(compare(&source, &target, &all, false).len(), 2);
    }

    #[test]
    fn names_are_one_path_segment_and_acr_hosts_are_recognised() {
        assert_eq!(
            path("library/hello", "/_tags"),
            "/acr/v1/library%2Fhello/_tags"
        );
        assert!(is_acr_host("myreg.azurecr.io"));
        assert!(is_acr_host("MyReg.AzureCR.io"));
        assert!(is_acr_host("myreg.azurecr.cn"));
        assert!(!is_acr_host("azurecr.io.example.com"));
        assert!(!is_acr_host("127.0.0.1"));
    }
}
