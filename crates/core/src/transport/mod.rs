//! Where content lives. A copy reads from a [`Source`] and writes to a [`Destination`]; an OCI
//! Distribution registry ([`registry::Registry`]) and an OCI image layout on disk
//! ([`layout::Layout`]) implement both, so every command works on either.

pub mod archive;
pub mod layout;
pub mod paced;
pub(crate) mod proxy;
pub mod registry;

use async_trait::async_trait;
use futures::future::BoxFuture;

use crate::digest::{BlobContent, ByteStream, Digest};
use crate::endpoint::Endpoint;
use crate::error::Result;
use crate::manifest::{RawManifest, Reference};

/// Reads registry content.
#[async_trait]
pub trait Source: Send + Sync {
    /// Every repository, in the order listed (all pages).
    async fn repositories(&self) -> Result<Vec<String>>;
    /// Every tag of a repository (all pages).
    async fn tags(&self, repository: &str) -> Result<Vec<String>>;
    /// A manifest by tag or digest, exactly as stored.
    async fn manifest(&self, repository: &str, reference: &str) -> Result<RawManifest>;
    /// The digest a tag points at, or `None` when the tag does not exist.
    async fn manifest_digest(&self, repository: &str, reference: &str) -> Result<Option<Digest>>;
    /// The bytes of a blob. Callers verify them against the digest.
    async fn blob(&self, repository: &str, blob: &Reference) -> Result<ByteStream>;
    /// The bytes of a blob from byte `offset` on, to resume a transfer that broke off. Callers
    /// verify them. The default reads the blob from its start and drops the first `offset` bytes;
    /// sources that can seek (a `Range` request, a file) start where asked.
    async fn blob_from(
        &self,
        repository: &str,
        blob: &Reference,
        offset: u64,
    ) -> Result<ByteStream> {
        let stream = self.blob(repository, blob).await?;
        Ok(skip_bytes(stream, offset))
    }
    /// Whether `repository` holds `blob`, asked with a read of its last byte (a read, so pull
    /// access is enough, where a registry's `HEAD` of an upload target would ask for push).
    async fn holds_blob(&self, repository: &str, blob: &Reference) -> Result<bool> {
        match self
            .blob_from(repository, blob, blob.size.saturating_sub(1))
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if e.is_not_found() => Ok(false),
            Err(e) => Err(e),
        }
    }
    /// The referrers of a manifest (OCI 1.1), or `None` when the source cannot list them.
    async fn referrers(&self, repository: &str, digest: &Digest) -> Result<Option<Vec<Reference>>>;
    /// Every tag with its digest in one listing (ACR's `/acr/v1/{repository}/_tags`), or `None`
    /// when the source cannot say without a request per tag.
    async fn tag_digests(&self, _repository: &str) -> Result<Option<Vec<(String, Digest)>>> {
        Ok(None)
    }
    /// Every manifest the repository holds, tagged or not (ACR's `_manifests`, a layout's entries),
    /// or `None` when the source can only list tags.
    async fn all_manifests(&self, _repository: &str) -> Result<Option<Vec<Digest>>> {
        Ok(None)
    }
}

/// Writes registry content. Implementations must accept blobs before manifests that need them, and
/// child manifests before their index; the copy engine guarantees that order.
#[async_trait]
pub trait Destination: Send + Sync {
    /// The digest a tag (or digest) resolves to in the destination, or `None`.
    async fn current_digest(&self, repository: &str, reference: &str) -> Result<Option<Digest>>;
    /// Whether the repository already holds a blob, and its size when the destination says.
    async fn blob_size(&self, repository: &str, digest: &Digest) -> Result<Held>;
    /// Makes a blob that `from` holds available in `repository` without moving its bytes, and
    /// returns true; false when it could not (the caller then uploads with [`put_blob`]).
    /// `from == repository` asks whether the repository already holds the blob; a registry may
    /// open the upload session `put_blob` will use in the same request.
    ///
    /// [`put_blob`]: Destination::put_blob
    async fn mount_blob(&self, repository: &str, from: &str, digest: &Digest) -> Result<bool>;
    /// True when the last [`mount_blob`](Destination::mount_blob) of `digest` into `repository`
    /// answered false because the destination refused it (the credentials may not read the
    /// other repository) and an upload was opened instead: a refusal, not a destination that
    /// ignores mounts. False by default.
    fn mount_was_refused(&self, _repository: &str, _digest: &Digest) -> bool {
        false
    }
    /// True when asking whether the destination holds a blob or manifest costs next to nothing
    /// (a file's presence in a layout): the copy then always asks, even where a registry is
    /// spared the request (a repository new to it), so that a rerun after a kill reuses every
    /// blob the killed run wrote. False by default.
    fn existence_is_cheap(&self) -> bool {
        false
    }
    /// Opens the upload of a blob the caller knows `repository` lacks, where the destination has
    /// such a step (a registry's upload session, used by the next [`put_blob`] of that digest);
    /// by default nothing.
    ///
    /// [`put_blob`]: Destination::put_blob
    async fn open_upload(&self, _repository: &str, _digest: &Digest) -> Result<()> {
        Ok(())
    }
    /// Stores a blob from a stream. The stream ends with an error if its bytes do not match the
    /// digest; the destination then must not keep anything under that digest.
    async fn put_blob(&self, repository: &str, blob: &Reference, content: ByteStream)
        -> Result<()>;
    /// Stores a blob whose content is checked as it streams and may be resumable (see
    /// [`BlobContent`]). A destination that sends a blob in parts (a registry's chunked upload)
    /// uses its [`Resumer`](crate::digest::Resumer) to go on from where an interrupted upload
    /// stands instead of starting over; the default stores the stream with [`put_blob`].
    ///
    /// [`put_blob`]: Destination::put_blob
    async fn put_blob_resumable(
        &self,
        repository: &str,
        blob: &Reference,
        content: BlobContent,
    ) -> Result<()> {
        self.put_blob(repository, blob, content.into_stream()).await
    }
    /// Stores a manifest under a tag, or by digest when `tag` is `None`.
    async fn put_manifest(
        &self,
        repository: &str,
        tag: Option<&str>,
        manifest: &RawManifest,
    ) -> Result<()>;
    /// The referrers `repository` lists for `subject` where the destination keeps that list
    /// itself, in the subject's referrers fallback tag (`sha256-<hex>`, a registry without the
    /// referrers API): their digests, none when it has no such tag. `None` where referrers are
    /// found by their `subject` alone (a registry with the referrers API, a layout): nothing there
    /// needs listing. By default `None`.
    async fn fallback_listing(
        &self,
        _repository: &str,
        _subject: &Digest,
    ) -> Result<Option<Vec<Digest>>> {
        Ok(None)
    }
    /// Lists `referrer`, which `repository` holds, in the referrers fallback tag of `subject`,
    /// where the destination keeps such tags ([`fallback_listing`] is `Some`); a referrer listed
    /// already changes nothing. By default nothing.
    ///
    /// [`fallback_listing`]: Destination::fallback_listing
    async fn list_referrer(
        &self,
        _repository: &str,
        _subject: &Digest,
        _referrer: &RawManifest,
    ) -> Result<()> {
        Ok(())
    }
    /// Flushes what must be written at the end (a layout's `index.json`).
    async fn finish(&self) -> Result<()> {
        Ok(())
    }
    /// A run stopped early (an interruption, an error that ends it): gives up what it left
    /// open, best effort and bounded in time (a registry's upload sessions, which it would
    /// otherwise keep for days). Nothing by default.
    async fn abandon(&self) {}
}

/// `stream` without its first `n` bytes.
fn skip_bytes(stream: ByteStream, n: u64) -> ByteStream {
    if n == 0 {
        return stream;
    }
    Box::pin(futures::stream::unfold(
        (stream, n),
        |(mut stream, mut left)| async move {
            use futures::StreamExt;
            loop {
                match stream.next().await? {
                    Ok(chunk) => {
                        if let Some(rest) = drop_front(chunk, &mut left) {
                            return Some((Ok(rest), (stream, left)));
                        }
                    }
                    Err(e) => return Some((Err(e), (stream, left))),
                }
            }
        },
    ))
}

/// `chunk` without its first `*left` bytes (all of it when it is shorter), counting what it drops
/// off `left`; `None` when nothing of it remains.
pub(crate) fn drop_front(chunk: bytes::Bytes, left: &mut u64) -> Option<bytes::Bytes> {
    let n = (*left).min(chunk.len() as u64);
    *left -= n;
    let rest = chunk.slice(n as usize..);
    (!rest.is_empty()).then_some(rest)
}

/// What a destination answers when asked whether a repository holds a blob.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Held {
    /// It does not.
    Missing,
    /// It does, with this many bytes.
    Sized(u64),
    /// It does; the destination does not say how large it is (a registry's `HEAD` without
    /// `Content-Length`).
    Unsized,
}

impl Held {
    /// True when the blob is there.
    pub fn is_held(self) -> bool {
        self != Held::Missing
    }

    /// Its size, when there and said.
    pub fn size(self) -> Option<u64> {
        match self {
            Held::Sized(size) => Some(size),
            Held::Missing | Held::Unsized => None,
        }
    }
}

/// Connection settings that apply to registry endpoints.
#[derive(Clone, Debug, Default)]
pub struct ConnectOptions {
    /// Credentials for this endpoint.
    pub credentials: Option<registry::Credentials>,
    /// Where to look for credentials by registry host when `credentials` is `None`, in order.
    pub credential_sources: Vec<crate::credentials::CredentialSource>,
    /// Extra CA certificate (PEM) to trust for this endpoint.
    pub ca_cert: Option<std::path::PathBuf>,
    /// A client certificate and its private key (PEM files) presented to the registry, for
    /// registries that require mutual TLS.
    pub client_certificate: Option<ClientCertificate>,
    /// Hosts for which TLS verification is skipped (named explicitly by the user).
    pub insecure_hosts: Vec<String>,
    /// Entries asked for per page of catalog and tag listings (0: the default, 1000). Registries
    /// may return fewer (ACR caps pages at 100); `Link` headers are always followed.
    pub page_size: usize,
    /// Longest wait for a connection (default 15 s).
    pub connect_timeout: Option<std::time::Duration>,
    /// Longest wait for the next bytes of a response, headers included (default 120 s: an idle
    /// stream, not a whole multi-GB transfer, is bounded).
    pub read_timeout: Option<std::time::Duration>,
    /// Blobs larger than this are uploaded in chunks (PATCH) of this size; `Some(0)` uploads every
    /// blob in one request; `None`: 512 MiB.
    pub chunk_size: Option<u64>,
    /// Treat the registry as an Azure Container Registry (its data-plane API `/acr/v1/…`) even
    /// when its host does not end with `.azurecr.io` (`--acr`).
    pub acr: bool,
    /// Sign in with this Azure AD identity (exchanged at the registry's `/oauth2/exchange`) when no
    /// other credentials were given or found for the registry.
    pub azure_ad: Option<crate::azure_ad::SharedAzureAd>,
    /// Which HTTP versions requests to a registry may use (`--http`).
    pub http: HttpVersions,
    /// How errors name this endpoint (`SOURCE`, `TARGET`); `None`: "registry".
    pub side: Option<String>,
    /// How long every request to the registry may fail to connect (no answer in between) before
    /// the run gives up on it instead of retrying item by item (default 60 s).
    pub unreachable_after: Option<std::time::Duration>,
}

/// A client certificate for mutual TLS: the certificate (chain) and its private key, PEM files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientCertificate {
    /// The certificate, followed by any intermediate certificates.
    pub certificate: std::path::PathBuf,
    /// Its private key (PKCS#8, PKCS#1 or SEC1).
    pub key: std::path::PathBuf,
}

/// Which HTTP versions requests to a registry use. Over plain HTTP every request is HTTP/1.1;
/// over TLS, HTTP/2 is used where the registry offers it (ALPN) and this allows it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum HttpVersions {
    /// HTTP/2 for requests without a blob body (manifests, listings, upload sessions, tokens),
    /// HTTP/1.1 for blob transfers: each on its own connection, so uploads are not held to one
    /// connection's flow-control window.
    #[default]
    Auto,
    /// HTTP/1.1 for every request (for proxies that mishandle HTTP/2).
    Http1,
    /// HTTP/2 for every request the registry offers it for, blob transfers included.
    Http2,
}

/// An opened endpoint: something that is both a source and a destination.
pub trait Store: Source + Destination {}
impl<T: Source + Destination> Store for T {}

/// A store that hands every call on to another one: a view of it (a
/// [`Scoped`](crate::relocation::scope::Scoped) store), or a file that holds a layout
/// ([`archive::Archive`]), or requests paced by a limit ([`paced::Paced`]). Implementing it
/// implements [`Source`] and [`Destination`], each method going unchanged to
/// [`inner`](Forward::inner) except those the wrapper overrides here. A wrapper that must change
/// another method adds a default method for it here.
#[async_trait]
pub trait Forward: Send + Sync {
    /// The store the calls go to.
    fn inner(&self) -> &dyn Store;
    /// Every request with a small answer (listings, manifests, existence checks, mounts) goes
    /// through here on its way to the inner store; blob transfers and pushes do not. By default
    /// the request itself.
    fn request<'a, T: Send + 'a>(
        &'a self,
        request: BoxFuture<'a, Result<T>>,
    ) -> BoxFuture<'a, Result<T>> {
        request
    }
    /// [`Source::repositories`]; by default the inner store's.
    async fn repositories(&self) -> Result<Vec<String>> {
        self.inner().repositories().await
    }
    /// [`Destination::finish`]; by default the inner store's.
    async fn finish(&self) -> Result<()> {
        self.inner().finish().await
    }
}

#[async_trait]
impl<T: Forward> Source for T {
    async fn repositories(&self) -> Result<Vec<String>> {
        self.request(Forward::repositories(self)).await
    }
    async fn tags(&self, repository: &str) -> Result<Vec<String>> {
        self.request(self.inner().tags(repository)).await
    }
    async fn manifest(&self, repository: &str, reference: &str) -> Result<RawManifest> {
        self.request(self.inner().manifest(repository, reference))
            .await
    }
    async fn manifest_digest(&self, repository: &str, reference: &str) -> Result<Option<Digest>> {
        self.request(self.inner().manifest_digest(repository, reference))
            .await
    }
    async fn blob(&self, repository: &str, blob: &Reference) -> Result<ByteStream> {
        self.inner().blob(repository, blob).await
    }
    async fn blob_from(
        &self,
        repository: &str,
        blob: &Reference,
        offset: u64,
    ) -> Result<ByteStream> {
        self.inner().blob_from(repository, blob, offset).await
    }
    async fn referrers(&self, repository: &str, digest: &Digest) -> Result<Option<Vec<Reference>>> {
        self.request(self.inner().referrers(repository, digest))
            .await
    }
    async fn tag_digests(&self, repository: &str) -> Result<Option<Vec<(String, Digest)>>> {
        self.request(self.inner().tag_digests(repository)).await
    }
    async fn all_manifests(&self, repository: &str) -> Result<Option<Vec<Digest>>> {
        self.request(self.inner().all_manifests(repository)).await
    }
}

#[async_trait]
impl<T: Forward> Destination for T {
    async fn current_digest(&self, repository: &str, reference: &str) -> Result<Option<Digest>> {
        self.request(self.inner().current_digest(repository, reference))
            .await
    }
    async fn blob_size(&self, repository: &str, digest: &Digest) -> Result<Held> {
        self.request(self.inner().blob_size(repository, digest))
            .await
    }
    async fn mount_blob(&self, repository: &str, from: &str, digest: &Digest) -> Result<bool> {
        self.request(self.inner().mount_blob(repository, from, digest))
            .await
    }
    fn mount_was_refused(&self, repository: &str, digest: &Digest) -> bool {
        self.inner().mount_was_refused(repository, digest)
    }
    fn existence_is_cheap(&self) -> bool {
        self.inner().existence_is_cheap()
    }
    async fn open_upload(&self, repository: &str, digest: &Digest) -> Result<()> {
        self.request(self.inner().open_upload(repository, digest))
            .await
    }
    async fn put_blob(
        &self,
        repository: &str,
        blob: &Reference,
        content: ByteStream,
    ) -> Result<()> {
        self.inner().put_blob(repository, blob, content).await
    }
    async fn put_blob_resumable(
        &self,
        repository: &str,
        blob: &Reference,
        content: BlobContent,
    ) -> Result<()> {
        self.inner()
            .put_blob_resumable(repository, blob, content)
            .await
    }
    async fn put_manifest(
        &self,
        repository: &str,
        tag: Option<&str>,
        manifest: &RawManifest,
    ) -> Result<()> {
        self.inner().put_manifest(repository, tag, manifest).await
    }
    async fn fallback_listing(
        &self,
        repository: &str,
        subject: &Digest,
    ) -> Result<Option<Vec<Digest>>> {
        self.request(self.inner().fallback_listing(repository, subject))
            .await
    }
    async fn list_referrer(
        &self,
        repository: &str,
        subject: &Digest,
        referrer: &RawManifest,
    ) -> Result<()> {
        self.inner()
            .list_referrer(repository, subject, referrer)
            .await
    }
    async fn finish(&self) -> Result<()> {
        Forward::finish(self).await
    }
    async fn abandon(&self) {
        self.inner().abandon().await
    }
}

/// What an endpoint is opened for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Reading: a layout must exist.
    Read,
    /// Writing: a missing or empty layout directory is created.
    Write,
}

/// Opens an endpoint.
pub async fn open(
    endpoint: &Endpoint,
    access: Access,
    options: &ConnectOptions,
) -> Result<std::sync::Arc<dyn Store>> {
    Ok(match endpoint {
        Endpoint::Registry(r) => {
            std::sync::Arc::new(registry::Registry::connect(r, options).await?)
        }
        Endpoint::Layout(path) => std::sync::Arc::new(match access {
            Access::Read => layout::Layout::open(path)?,
            Access::Write => layout::Layout::create(path)?,
        }),
        Endpoint::Archive(path) => {
            let path = path.clone();
            let archive = tokio::task::spawn_blocking(move || match access {
                Access::Read => archive::Archive::open(&path),
                Access::Write => archive::Archive::create(&path),
            })
            .await
            .map_err(|e| crate::error::Error::invalid("oci-archive", e.to_string()))??;
            std::sync::Arc::new(archive)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;

    #[tokio::test]
    async fn skipping_drops_exactly_the_first_bytes() {
        for (n, rest) in [
            (0, "abcdefg"),
            (2, "cdefg"),
            (3, "defg"),
            (5, "fg"),
            (7, ""),
        ] {
            let parts: Vec<Result<bytes::Bytes>> = vec![
                Ok(bytes::Bytes::from_static(b"abc")),
                Ok(bytes::Bytes::from_static(b"defg")),
            ];
            let stream: ByteStream = Box::pin(futures::stream::iter(parts));
            let out: Vec<u8> = skip_bytes(stream, n)
                .map(|c| c.unwrap().to_vec())
                .concat()
                .await;
            assert_eq!(out, rest.as_bytes(), "skip {n}");
        }
    }
}
