//! Referrers of a manifest: listed by the registry's referrers API where it has one (learnt once per
//! registry), else kept in the referrers fallback tag of their subject (`sha256-<hex>`, OCI
//! distribution spec 1.1), which a copy reads, extends and writes back one writer at a time.

use std::sync::atomic::Ordering;

use bytes::Bytes;
use reqwest::header::{HeaderMap, ACCEPT, CONTENT_TYPE};
use reqwest::{Method, StatusCode};

use super::auth::Scope;
use super::body::read_limited;
use super::listing::{next_link, next_page_url, ListingPages};
use super::{Inner, Registry, WriterLock};
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::manifest::{RawManifest, Reference, MAX_MANIFEST_BYTES, OCI_INDEX};
use crate::referrers::{fallback_tag, Merged};

#[derive(serde::Deserialize)]
struct ReferrersIndex {
    manifests: Option<Vec<serde_json::Value>>,
}

impl Registry {
    /// True when the registry keeps referrers in fallback tags (it has no referrers API). Until
    /// a listing of referrers has shown it, the referrers API is asked for those of `subject`
    /// in `repository`, once ([`Registry::api_referrers`] learns the answer).
    pub(super) async fn keeps_fallback_tags(
        &self,
        repository: &str,
        subject: &Digest,
    ) -> Result<bool> {
        if self.referrers_api.load(Ordering::Relaxed)
            && !self.referrers_api_seen.load(Ordering::Relaxed)
        {
            self.api_referrers(repository, subject).await?;
        }
        Ok(!self.referrers_api.load(Ordering::Relaxed))
    }

    /// The referrers of `digest` listed by the registry's referrers API (every page); `None`
    /// when the registry turns out to have no such API (a bare 404 from an unknown route, or an
    /// answer that is not an index), which is then remembered: its referrers are read from
    /// fallback tags from then on.
    pub(super) async fn api_referrers(
        &self,
        repository: &str,
        digest: &Digest,
    ) -> Result<Option<Vec<Reference>>> {
        let mut out = Vec::new();
        let mut next = Some(self.url(&format!("/v2/{repository}/referrers/{digest}")));
        let mut listing = ListingPages::default();
        while let Some(url) = next.take() {
            let pages = listing.visit(&url)?;
            let response = self
                .send(Scope::Pull(repository.to_string()), || {
                    self.http.get(&url).header(ACCEPT, OCI_INDEX)
                })
                .await?;
            let status = response.status();
            let is_index = response
                .headers()
                .get(CONTENT_TYPE)
                .and_then(|c| c.to_str().ok())
                .is_some_and(|c| c.starts_with(OCI_INDEX));
            if !status.is_success() || !is_index {
                let error = self.status_error(&Method::GET, &url, response).await;
                let answered = matches!(&error, Error::Status { code: Some(c), .. }
                    if c == "NAME_UNKNOWN" || c == "MANIFEST_UNKNOWN");
                if status == StatusCode::NOT_FOUND && answered {
                    // The API answered for this repository or subject (NAME_UNKNOWN,
                    // MANIFEST_UNKNOWN): nothing refers to it here.
                    self.referrers_api_seen.store(true, Ordering::Relaxed);
                    return Ok(Some(out));
                }
                if pages == 1
                    && (status == StatusCode::NOT_FOUND
                        || status.is_success()
                        || status == StatusCode::METHOD_NOT_ALLOWED)
                {
                    // No referrers API (a bare 404 from an unknown route, or something that is
                    // not an index): remember it and stop asking this registry.
                    self.referrers_api.store(false, Ordering::Relaxed);
                    crate::log::emit(1, || {
                        format!("{}: no referrers API (HTTP {})", self.host, status.as_u16())
                    });
                    return Ok(None);
                }
                return Err(error);
            }
            self.referrers_api_seen.store(true, Ordering::Relaxed);
            let link = next_link(response.headers());
            let body = read_limited(response, MAX_MANIFEST_BYTES, &url).await?;
            let index: ReferrersIndex = serde_json::from_slice(&body)
                .map_err(|e| Error::invalid(format!("referrers of {digest}"), e.to_string()))?;
            let page = index.manifests.unwrap_or_default();
            let empty = page.is_empty();
            listing.add(&url, page.len())?;
            for m in page {
                let d: oci_spec::image::Descriptor = serde_json::from_value(m)
                    .map_err(|e| Error::invalid(format!("referrers of {digest}"), e.to_string()))?;
                let digest: Digest = d.digest().to_string().parse()?;
                out.push(Reference {
                    digest,
                    size: d.size(),
                    media_type: d.media_type().to_string(),
                    foreign: false,
                    platform: None,
                    artifact_type: d.artifact_type().as_ref().map(|a| a.to_string()),
                });
            }
            if let (Some(link), false) = (link, empty) {
                next = Some(next_page_url(&url, &link)?);
            }
        }
        Ok(Some(out))
    }
}

impl Inner {
    /// The referrers of `digest` on a registry without the referrers API: the index under its
    /// fallback tag, when the repository's listing had that tag (none when it had not); `None`
    /// when the repository's tags were not listed.
    pub(super) async fn fallback_referrers(
        &self,
        repository: &str,
        digest: &Digest,
    ) -> Result<Option<Vec<Reference>>> {
        let tag = fallback_tag(digest);
        let listed = match self
            .fallback_listed
            .lock()
            .expect("fallback lock")
            .get(repository)
        {
            Some(tags) => tags.contains(&tag),
            None => return Ok(None),
        };
        if !listed {
            return Ok(Some(Vec::new()));
        }
        let index = self
            .get_manifest(Scope::Pull(repository.to_string()), repository, &tag)
            .await?;
        if index.media_type != OCI_INDEX {
            return Ok(Some(Vec::new()));
        }
        Ok(Some(index.view()?.children().to_vec()))
    }

    /// The writer lock of the fallback tag `tag` of `repository`.
    fn fallback_writer(&self, repository: &str, tag: &str) -> WriterLock {
        self.fallback_tags
            .lock()
            .expect("fallback lock")
            .entry((repository.to_string(), tag.to_string()))
            .or_default()
            .clone()
    }

    /// What the fallback tag `tag` of `repository` holds now, if anything.
    async fn fallback_index(&self, repository: &str, tag: &str) -> Result<Option<RawManifest>> {
        match self
            .get_manifest(Scope::Push(repository.to_string()), repository, tag)
            .await
        {
            Ok(m) => Ok(Some(m)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Writes a fallback index that comes as a tag (a source's own `sha256-<hex>`, from oras,
    /// cosign or an earlier copy) one writer at a time with the copy's listings of referrers:
    /// byte for byte where it lists everything the tag listed, else merged so that no referrer
    /// the tag listed is dropped ([`crate::referrers::merge`]). Returns the answer's headers
    /// (none when nothing had to be written).
    pub(super) async fn put_fallback_index(
        &self,
        repository: &str,
        tag: &str,
        index: &RawManifest,
    ) -> Result<HeaderMap> {
        let lock = self.fallback_writer(repository, tag);
        let _one_writer = lock.lock().await;
        let current = self.fallback_index(repository, tag).await?;
        let what = format!("{repository}:{tag}");
        let headers = match crate::referrers::merge(&what, index, current.as_ref())? {
            Merged::Unchanged => return Ok(HeaderMap::new()),
            Merged::Arriving => self.push_manifest(repository, tag, index).await?,
            Merged::Union(union) => {
                crate::log::emit(1, || {
                    format!("{what}: the target's fallback tag lists referrers the source's does not; both kept")
                });
                self.push_manifest(repository, tag, &union).await?
            }
        };
        self.fallback_written(repository, tag);
        Ok(headers)
    }

    /// Notes that this run wrote the fallback tag `tag` of `repository`, in the repository's
    /// listed fallback tags when it was listed (a listing of its tags read before the write
    /// does not have it).
    fn fallback_written(&self, repository: &str, tag: &str) {
        if let Some(tags) = self
            .fallback_listed
            .lock()
            .expect("fallback lock")
            .get_mut(repository)
        {
            tags.insert(tag.to_string());
        }
    }

    /// Lists `referrer` in the referrers fallback tag of `subject` (`sha256-<hex>`, an OCI index
    /// of the subject's referrers, OCI distribution spec 1.1), as clients of a registry without
    /// the referrers API look them up. Read, extended and written back one writer at a time; a
    /// referrer already listed (the source's own fallback index, copied as a tag) changes nothing.
    pub(super) async fn list_in_fallback_tag(
        &self,
        repository: &str,
        subject: &Digest,
        referrer: &RawManifest,
    ) -> Result<()> {
        let tag = fallback_tag(subject);
        let lock = self.fallback_writer(repository, &tag);
        let _one_writer = lock.lock().await;
        let what = || format!("referrers fallback tag {repository}:{tag}");
        let current = match self.fallback_index(repository, &tag).await? {
            Some(m) if m.media_type == OCI_INDEX => Some(m),
            Some(m) => {
                return Err(Error::invalid(
                    what(),
                    format!("holds a `{}`, not an OCI index: clients without the referrers API would not find this referrer; move that tag aside", m.media_type),
                ))
            }
            None => None,
        };
        let mut index: serde_json::Value = match &current {
            Some(m) => crate::go_json::document(&m.bytes)
                .map_err(|e| Error::invalid(what(), e.to_string()))?,
            None => {
                serde_json::json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []})
            }
        };
        let digest = referrer.digest.to_string();
        let Some(entries) = index["manifests"].as_array_mut() else {
            return Err(Error::invalid(what(), "an index without `manifests`"));
        };
        if entries.iter().any(|e| e["digest"] == digest.as_str()) {
            return Ok(());
        }
        #[derive(serde::Deserialize)]
        struct Described {
            #[serde(rename = "artifactType")]
            artifact_type: Option<String>,
            config: Option<serde_json::Value>,
            annotations: Option<serde_json::Value>,
        }
        let described: Described = crate::go_json::document(&referrer.bytes)
            .and_then(serde_json::from_value)
            .map_err(|e| Error::invalid(what(), e.to_string()))?;
        let mut entry = serde_json::json!({
            "mediaType": referrer.media_type,
            "digest": digest,
            "size": referrer.bytes.len(),
        });
        // The artifact type, or else the config's media type (image-spec 1.1, referrers).
        if let Some(t) = described.artifact_type.or_else(|| {
            described
                .config
                .and_then(|c| c["mediaType"].as_str().map(str::to_string))
        }) {
            entry["artifactType"] = t.into();
        }
        if let Some(a) = described.annotations {
            entry["annotations"] = a;
        }
        entries.push(entry);
        let bytes =
            serde_json::to_vec(&index).map_err(|e| Error::invalid(what(), e.to_string()))?;
        let updated = RawManifest::new(Bytes::from(bytes), Some(OCI_INDEX))?;
        self.push_manifest(repository, &tag, &updated).await?;
        self.fallback_written(repository, &tag);
        Ok(())
    }
}
