//! A [`Registry`] as a [`Destination`]: blobs checked, mounted (uploaded instead when the mount is
//! refused) and uploaded, manifests pushed with their referrers listed in fallback tags where the
//! registry has no referrers API, and the upload sessions a stopped run left open cancelled.

use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use reqwest::header::CONTENT_LENGTH;
use reqwest::{Method, StatusCode};

use super::auth::Scope;
use super::errors::is_refusal;
use super::Registry;
use crate::digest::{BlobContent, ByteStream, Digest};
use crate::error::{Error, Result};
use crate::manifest::{RawManifest, Reference, OCI_INDEX};
use crate::referrers::{fallback_tag, is_fallback_tag};
use crate::transport::Destination;

/// The longest a stopped run spends cancelling its upload sessions ([`Destination::abandon`]).
const ABANDON_WITHIN: Duration = Duration::from_secs(10);

#[async_trait]
impl Destination for Registry {
    /// Cancels the upload sessions the run left open (kept for an upload that never came, or
    /// taken by one that did not complete), a few at a time, for at most
    /// `ABANDON_WITHIN`: a registry keeps them for days otherwise (Distribution: 7).
    async fn abandon(&self) {
        let mut open: Vec<(String, String)> = self
            .sessions
            .lock()
            .expect("sessions lock")
            .drain()
            .map(|((repository, _), location)| (repository, location))
            .collect();
        open.extend(self.open_uploads.lock().expect("uploads lock").drain());
        if open.is_empty() {
            return;
        }
        // An upload the stop cut off may still be ending in the registry when its first
        // cancellation comes (Distribution then keeps it): one more try after a pause.
        let cancels = futures::stream::iter(open)
            .map(|(repository, location)| async move {
                if !self.cancel_upload(&repository, &location).await {
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    self.cancel_upload(&repository, &location).await;
                }
            })
            .buffer_unordered(8)
            .collect::<Vec<()>>();
        if tokio::time::timeout(ABANDON_WITHIN, cancels).await.is_err() {
            crate::log::emit(1, || {
                "some upload sessions of the run were not cancelled in time; the registry purges them later".to_string()
            });
        }
    }

    async fn current_digest(&self, repository: &str, reference: &str) -> Result<Option<Digest>> {
        self.head_manifest(Scope::Push(repository.to_string()), repository, reference)
            .await
    }

    /// A blob the repository holds needs no upload: an upload session a mount opened for it
    /// (a registry that ignores mounts answers 202 even for a blob it holds) is cancelled.
    async fn blob_size(&self, repository: &str, digest: &Digest) -> Result<crate::transport::Held> {
        let url = self.url(&format!("/v2/{repository}/blobs/{digest}"));
        let response = self
            .send(Scope::Push(repository.to_string()), || self.http.head(&url))
            .await?;
        match response.status() {
            StatusCode::NOT_FOUND => Ok(crate::transport::Held::Missing),
            s if s.is_success() => {
                // The header itself: for a HEAD, hyper reports the (empty) body's length as 0.
                let size = response
                    .headers()
                    .get(CONTENT_LENGTH)
                    .and_then(|v| v.to_str().ok()?.trim().parse().ok());
                self.drop_session(repository, digest).await;
                Ok(size.map_or(
                    crate::transport::Held::Unsized,
                    crate::transport::Held::Sized,
                ))
            }
            _ => Err(self.status_error(&Method::HEAD, &url, response).await),
        }
    }

    async fn mount_blob(&self, repository: &str, from: &str, digest: &Digest) -> Result<bool> {
        let scope = Scope::Mount {
            repository: repository.to_string(),
            from: from.to_string(),
        };
        let asked = self
            .start_upload(repository, &format!("?mount={digest}&from={from}"), scope)
            .await;
        let (status, location) = match asked {
            Err(refusal) if is_refusal(&refusal) => {
                // Refused, not failed (a token service that grants push on the target but not
                // pull on `from`, as one that reads only the first `scope` does): as docker
                // push, a plain upload session instead. Its own refusal is the error.
                crate::log::emit(1, || {
                    format!("mount of {digest} into {repository} from {from} refused ({refusal}): uploading it instead")
                });
                let push = Scope::Push(repository.to_string());
                let (_, location) = self.start_upload(repository, "", push).await?;
                self.refused_mounts
                    .lock()
                    .expect("refused mounts lock")
                    .insert((repository.to_string(), digest.clone()));
                (StatusCode::ACCEPTED, location)
            }
            other => other?,
        };
        if status == StatusCode::CREATED {
            return Ok(true);
        }
        // 202: the registry opened an upload session instead; keep it for the upload.
        self.keep_session(repository, digest, location).await;
        Ok(false)
    }

    fn mount_was_refused(&self, repository: &str, digest: &Digest) -> bool {
        self.refused_mounts
            .lock()
            .expect("refused mounts lock")
            .contains(&(repository.to_string(), digest.clone()))
    }

    async fn open_upload(&self, repository: &str, digest: &Digest) -> Result<()> {
        let scope = Scope::Push(repository.to_string());
        let (_, location) = self.start_upload(repository, "", scope).await?;
        self.keep_session(repository, digest, location).await;
        Ok(())
    }

    async fn put_blob(
        &self,
        repository: &str,
        blob: &Reference,
        content: ByteStream,
    ) -> Result<()> {
        self.put_blob_resumable(repository, blob, BlobContent::from_stream(content))
            .await
    }

    async fn put_blob_resumable(
        &self,
        repository: &str,
        blob: &Reference,
        content: BlobContent,
    ) -> Result<()> {
        let scope = Scope::Push(repository.to_string());
        let session = self
            .sessions
            .lock()
            .expect("sessions lock")
            .remove(&(repository.to_string(), blob.digest.clone()));
        let location = match session {
            Some(l) => l,
            None => self
                .start_upload(repository, "", scope.clone())
                .await?
                .1
                .ok_or_else(|| {
                    Error::invalid(
                        format!("upload to {repository}"),
                        "the registry gave no upload Location",
                    )
                })?,
        };
        let open = (repository.to_string(), location.clone());
        self.open_uploads
            .lock()
            .expect("uploads lock")
            .insert(open.clone());
        let completed = self
            .complete_upload(repository, blob, location, content, scope)
            .await;
        if completed.is_ok() {
            self.open_uploads
                .lock()
                .expect("uploads lock")
                .remove(&open);
        }
        completed
    }

    async fn put_manifest(
        &self,
        repository: &str,
        tag: Option<&str>,
        manifest: &RawManifest,
    ) -> Result<()> {
        let headers = match tag {
            // A source's own fallback index meets the copy's listing of referrers in one tag.
            Some(tag) if is_fallback_tag(tag) && manifest.media_type == OCI_INDEX => {
                self.put_fallback_index(repository, tag, manifest).await?
            }
            Some(tag) => self.push_manifest(repository, tag, manifest).await?,
            None => {
                self.push_manifest(repository, manifest.digest.as_str(), manifest)
                    .await?
            }
        };
        // A registry with the referrers API says it took the subject in (`OCI-Subject`); one
        // without it finds referrers only through the fallback tag the client keeps.
        if !headers.contains_key("oci-subject") {
            if let Some(subject) = manifest.view().ok().and_then(|v| v.subject().cloned()) {
                self.list_in_fallback_tag(repository, &subject.digest, manifest)
                    .await?;
            }
        }
        Ok(())
    }

    /// Where the registry has no referrers API (learnt from the first listing of referrers
    /// asked of it, one request a run): what the fallback tag of `subject` lists, one read of
    /// the tag with pull access. A repository whose tag listing of this run had no such tag (and
    /// to which this run wrote none) lists nothing, without a request.
    async fn fallback_listing(
        &self,
        repository: &str,
        subject: &Digest,
    ) -> Result<Option<Vec<Digest>>> {
        if !self.keeps_fallback_tags(repository, subject).await? {
            return Ok(None);
        }
        let tag = fallback_tag(subject);
        let absent = self
            .fallback_listed
            .lock()
            .expect("fallback lock")
            .get(repository)
            .is_some_and(|tags| !tags.contains(&tag));
        if absent {
            return Ok(Some(Vec::new()));
        }
        // Read with pull access: a verify may only read the target.
        let read = self
            .get_manifest(Scope::Pull(repository.to_string()), repository, &tag)
            .await;
        let listed = match read {
            Ok(index) => crate::referrers::listed(&index).unwrap_or_default(),
            Err(e) if e.is_not_found() => Default::default(),
            Err(e) => return Err(e),
        };
        Ok(Some(listed.into_iter().collect()))
    }

    /// Lists `referrer` in the fallback tag of `subject` as a push of it does (read, extended and
    /// written back one writer at a time), where the registry has no referrers API.
    async fn list_referrer(
        &self,
        repository: &str,
        subject: &Digest,
        referrer: &RawManifest,
    ) -> Result<()> {
        if self.keeps_fallback_tags(repository, subject).await? {
            self.list_in_fallback_tag(repository, subject, referrer)
                .await?;
        }
        Ok(())
    }
}
