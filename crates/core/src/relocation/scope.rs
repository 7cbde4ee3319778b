//! A store seen through a fixed list of repositories: the catalog it lists is that list, everything
//! else goes to the store underneath. `apply` copies and verifies a batch of repositories (or a
//! shard's share) this way without listing the whole catalog for each batch.

use std::sync::Arc;

use async_trait::async_trait;

use crate::digest::{BlobContent, ByteStream, Digest};
use crate::error::Result;
use crate::manifest::{RawManifest, Reference};
use crate::transport::{Destination, Source, Store};

/// `inner` with its catalog replaced by `repositories` (full names in `inner`).
pub struct Scoped {
    inner: Arc<dyn Store>,
    repositories: Vec<String>,
}

impl Scoped {
    /// Wraps `inner`.
    pub fn store(inner: Arc<dyn Store>, repositories: Vec<String>) -> Arc<dyn Store> {
        Arc::new(Scoped {
            inner,
            repositories,
        })
    }
}

#[async_trait]
impl Source for Scoped {
    async fn repositories(&self) -> Result<Vec<String>> {
        Ok(self.repositories.clone())
    }
    async fn tags(&self, repository: &str) -> Result<Vec<String>> {
        self.inner.tags(repository).await
    }
    async fn manifest(&self, repository: &str, reference: &str) -> Result<RawManifest> {
        self.inner.manifest(repository, reference).await
    }
    async fn manifest_digest(&self, repository: &str, reference: &str) -> Result<Option<Digest>> {
        Source::manifest_digest(self.inner.as_ref(), repository, reference).await
    }
    async fn blob(&self, repository: &str, blob: &Reference) -> Result<ByteStream> {
        self.inner.blob(repository, blob).await
    }
    async fn blob_from(
        &self,
        repository: &str,
        blob: &Reference,
        offset: u64,
    ) -> Result<ByteStream> {
        self.inner.blob_from(repository, blob, offset).await
    }
    async fn referrers(&self, repository: &str, digest: &Digest) -> Result<Option<Vec<Reference>>> {
        self.inner.referrers(repository, digest).await
    }
    async fn tag_digests(&self, repository: &str) -> Result<Option<Vec<(String, Digest)>>> {
        self.inner.tag_digests(repository).await
    }
    async fn all_manifests(&self, repository: &str) -> Result<Option<Vec<Digest>>> {
        self.inner.all_manifests(repository).await
    }
}

#[async_trait]
impl Destination for Scoped {
    async fn current_digest(&self, repository: &str, reference: &str) -> Result<Option<Digest>> {
        self.inner.current_digest(repository, reference).await
    }
    async fn blob_size(&self, repository: &str, digest: &Digest) -> Result<Option<u64>> {
        self.inner.blob_size(repository, digest).await
    }
    async fn mount_blob(&self, repository: &str, from: &str, digest: &Digest) -> Result<bool> {
        self.inner.mount_blob(repository, from, digest).await
    }
    async fn put_blob(
        &self,
        repository: &str,
        blob: &Reference,
        content: ByteStream,
    ) -> Result<()> {
        self.inner.put_blob(repository, blob, content).await
    }
    async fn put_blob_resumable(
        &self,
        repository: &str,
        blob: &Reference,
        content: BlobContent,
    ) -> Result<()> {
        self.inner
            .put_blob_resumable(repository, blob, content)
            .await
    }
    async fn put_manifest(
        &self,
        repository: &str,
        tag: Option<&str>,
        manifest: &RawManifest,
    ) -> Result<()> {
        self.inner.put_manifest(repository, tag, manifest).await
    }
    async fn finish(&self) -> Result<()> {
        self.inner.finish().await
    }
}
