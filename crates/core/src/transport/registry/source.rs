//! A [`Registry`] as a [`Source`]: repositories, tags, manifests, blob streams (from a byte
//! offset too, resumed when they break off), referrers, and on ACR the listings with digests.

use std::sync::atomic::Ordering;

use async_trait::async_trait;
use reqwest::{Method, StatusCode};

use super::auth::Scope;
use super::body::resuming_body;
use super::{acr, Registry};
use crate::digest::{ByteStream, Digest};
use crate::error::{Error, Result};
use crate::manifest::{RawManifest, Reference};
use crate::referrers::is_fallback_tag;
use crate::secret::redact_url;
use crate::transport::Source;

#[derive(serde::Deserialize)]
struct Catalog {
    repositories: Option<Vec<String>>,
}

#[derive(serde::Deserialize)]
struct TagList {
    tags: Option<Vec<String>>,
}

#[async_trait]
impl Source for Registry {
    async fn repositories(&self) -> Result<Vec<String>> {
        self.paginate::<Catalog, _>(
            Scope::Catalog,
            self.url(&format!("/v2/_catalog?n={}", self.page_size)),
            false,
            |c| c.repositories.unwrap_or_default(),
        )
        .await
    }

    async fn tags(&self, repository: &str) -> Result<Vec<String>> {
        let tags = self
            .paginate::<TagList, _>(
                Scope::Pull(repository.to_string()),
                self.url(&format!("/v2/{repository}/tags/list?n={}", self.page_size)),
                true,
                |t| t.tags.unwrap_or_default(),
            )
            .await?;
        let fallback = tags
            .iter()
            .filter(|t| is_fallback_tag(t))
            .cloned()
            .collect();
        self.fallback_listed
            .lock()
            .expect("fallback lock")
            .insert(repository.to_string(), fallback);
        Ok(tags)
    }

    async fn manifest(&self, repository: &str, reference: &str) -> Result<RawManifest> {
        self.get_manifest(Scope::Pull(repository.to_string()), repository, reference)
            .await
    }

    async fn manifest_digest(&self, repository: &str, reference: &str) -> Result<Option<Digest>> {
        self.head_manifest(Scope::Pull(repository.to_string()), repository, reference)
            .await
    }

    async fn blob(&self, repository: &str, blob: &Reference) -> Result<ByteStream> {
        let url = self.url(&format!("/v2/{repository}/blobs/{}", blob.digest));
        let scope = Scope::Pull(repository.to_string());
        let response = self.send(scope.clone(), || self.bulk.get(&url)).await?;
        if !response.status().is_success() {
            return Err(self.status_error(&Method::GET, &url, response).await);
        }
        Ok(Box::pin(resuming_body(
            self.clone(),
            scope,
            url,
            response,
            0,
            0,
        )))
    }

    async fn blob_from(
        &self,
        repository: &str,
        blob: &Reference,
        offset: u64,
    ) -> Result<ByteStream> {
        if offset == 0 {
            return self.blob(repository, blob).await;
        }
        if offset >= blob.size {
            return Ok(Box::pin(futures::stream::empty()));
        }
        let url = self.url(&format!("/v2/{repository}/blobs/{}", blob.digest));
        let scope = Scope::Pull(repository.to_string());
        let range = format!("bytes={offset}-");
        let response = self
            .send(scope.clone(), || {
                self.bulk
                    .get(&url)
                    .header(reqwest::header::RANGE, range.as_str())
            })
            .await?;
        let skip = match response.status() {
            StatusCode::PARTIAL_CONTENT => {
                let starts_at = response
                    .headers()
                    .get(reqwest::header::CONTENT_RANGE)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().strip_prefix("bytes "))
                    .and_then(|v| v.split('-').next())
                    .and_then(|v| v.trim().parse::<u64>().ok());
                if starts_at.is_some_and(|s| s != offset) {
                    return Err(Error::invalid(
                        format!("GET {}", redact_url(&url)),
                        format!("asked for bytes from {offset}, the answer starts elsewhere"),
                    ));
                }
                0
            }
            // The whole blob: drop what comes before the offset.
            s if s.is_success() => offset,
            _ => return Err(self.status_error(&Method::GET, &url, response).await),
        };
        Ok(Box::pin(resuming_body(
            self.clone(),
            scope,
            url,
            response,
            offset,
            skip,
        )))
    }

    async fn referrers(&self, repository: &str, digest: &Digest) -> Result<Option<Vec<Reference>>> {
        if self.referrers_api.load(Ordering::Relaxed) {
            if let Some(listed) = self.api_referrers(repository, digest).await? {
                return Ok(Some(listed));
            }
        }
        self.fallback_referrers(repository, digest).await
    }

    async fn tag_digests(&self, repository: &str) -> Result<Option<Vec<(String, Digest)>>> {
        if !self.acr {
            return Ok(None);
        }
        match acr::list_tags(self, repository).await {
            Ok(tags) => Ok(Some(tags.into_iter().map(|t| (t.name, t.digest)).collect())),
            // Credentials without `metadata_read` (a content-only scope map): the OCI way.
            Err(e) if acr::lacks_metadata_access(&e) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn all_manifests(&self, repository: &str) -> Result<Option<Vec<Digest>>> {
        if !self.acr {
            return Ok(None);
        }
        match acr::list_manifests(self, repository).await {
            Ok(manifests) => Ok(Some(manifests.into_iter().map(|m| m.digest).collect())),
            // Unlike tag digests (which the OCI listing replaces), untagged manifests have no
            // other listing: say so, rather than leave them out unseen.
            Err(e) if acr::lacks_metadata_access(&e) => Err(Error::Unsupported {
                what: format!("untagged manifests of {repository}"),
                reason: "the credentials may not read this ACR repository's metadata (/acr/v1 listings), so its untagged manifests (referrers, digest-pinned images) cannot be listed: grant metadata read, or pass --tagged-only".into(),
            }),
            Err(e) => Err(e),
        }
    }
}
