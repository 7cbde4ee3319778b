//! Manifests on a registry: read by tag or digest (checked against the digest asked for or the one
//! the registry announces, and read again when they do not match), their digests asked with
//! `HEAD`, pushed (kept apart from overlapping pushes, `DIGEST_INVALID` tried again, the digest the
//! registry computed checked, a refusal for a non-distributable layer explained), and deleted.

use reqwest::header::{HeaderMap, ACCEPT, CONTENT_TYPE};
use reqwest::{Method, StatusCode};

use super::auth::Scope;
use super::Inner;
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::manifest::{RawManifest, ACCEPT as MANIFEST_ACCEPT};

/// The digest a registry's answer announces (`Docker-Content-Digest`), when it gives a valid one.
fn content_digest(headers: &HeaderMap) -> Option<Digest> {
    headers
        .get("docker-content-digest")
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.parse().ok())
}

/// Reads of a manifest whose bytes do not match its digest before the mismatch is reported.
const MANIFEST_READS: u32 = 3;

/// Tries of one manifest PUT answered `DIGEST_INVALID` (see [`Inner::push_manifest`]).
const MANIFEST_PUT_ATTEMPTS: u32 = 4;

/// True for a `400 DIGEST_INVALID` answer.
fn is_digest_invalid(error: &Error) -> bool {
    matches!(
        error,
        Error::Status { status: 400, code: Some(code), .. } if code == "DIGEST_INVALID"
    )
}

/// A manifest refused for a blob the target lacks that is one of its non-distributable layers
/// (`urls`, left to its URLs by default): the error says so and what to do.
fn explain_foreign_refusal(
    error: Error,
    manifest: Option<&crate::manifest::ManifestView>,
) -> Error {
    let Error::Status {
        method,
        url,
        status,
        code,
        message: Some(message),
    } = error
    else {
        return error;
    };
    let foreign = manifest.and_then(|m| {
        m.blobs()
            .into_iter()
            .find(|b| b.foreign && message.contains(b.digest.as_str()))
    });
    let message = match foreign {
        Some(layer) => format!(
            "{message}; {} is a non-distributable layer (`urls`), left to its URLs: copy with --include-nondistributable, or let the target take such manifests (Distribution: validation.manifests.urls.allow)",
            layer.digest
        ),
        None => message,
    };
    Error::Status {
        method,
        url,
        status,
        code,
        message: Some(message),
    }
}

impl Inner {
    pub(super) async fn head_manifest(
        &self,
        scope: Scope,
        repository: &str,
        reference: &str,
    ) -> Result<Option<Digest>> {
        let url = self.url(&format!("/v2/{repository}/manifests/{reference}"));
        let response = self
            .send(scope.clone(), || {
                self.http.head(&url).header(ACCEPT, MANIFEST_ACCEPT)
            })
            .await?;
        match response.status() {
            StatusCode::NOT_FOUND => Ok(None),
            s if s.is_success() => {
                let header = content_digest(response.headers());
                match header {
                    Some(d) => Ok(Some(d)),
                    // No digest header: hash the manifest itself.
                    None => Ok(Some(
                        self.get_manifest(scope, repository, reference)
                            .await?
                            .digest,
                    )),
                }
            }
            _ => Err(self.status_error(&Method::HEAD, &url, response).await),
        }
    }

    /// A manifest, read again (up to [`MANIFEST_READS`] times in all) when its bytes do not hash
    /// to the digest asked for or announced: wrong bytes may come from the way (a proxy, a
    /// cache), as a blob's may. A registry that keeps answering them fails with the mismatch.
    pub(super) async fn get_manifest(
        &self,
        scope: Scope,
        repository: &str,
        reference: &str,
    ) -> Result<RawManifest> {
        let mut read = 1;
        loop {
            match self
                .get_manifest_once(scope.clone(), repository, reference)
                .await
            {
                Err(e @ Error::DigestMismatch { .. }) if read < MANIFEST_READS => {
                    crate::log::emit(1, || format!("{e}; reading it again"));
                    read += 1;
                }
                other => return other,
            }
        }
    }

    async fn get_manifest_once(
        &self,
        scope: Scope,
        repository: &str,
        reference: &str,
    ) -> Result<RawManifest> {
        let url = self.url(&format!("/v2/{repository}/manifests/{reference}"));
        let (_, headers, bytes) = self
            .fetch_small(
                scope,
                || self.http.get(&url).header(ACCEPT, MANIFEST_ACCEPT),
                &url,
            )
            .await?;
        let content_type = headers
            .get(CONTENT_TYPE)
            .and_then(|c| c.to_str().ok())
            .map(str::to_string);
        let manifest = RawManifest::new(bytes, content_type.as_deref()).map_err(|e| match e {
            Error::Invalid { reason, .. } => {
                Error::invalid(format!("manifest {repository}:{reference}"), reason)
            }
            other => other,
        })?;
        if let Ok(expected) = reference.parse::<Digest>() {
            if expected != manifest.digest {
                return Err(Error::DigestMismatch {
                    what: format!("manifest {repository}@{reference}"),
                    expected: expected.to_string(),
                    actual: manifest.digest.to_string(),
                });
            }
        }
        // By tag, the registry's own `Docker-Content-Digest` is the digest to match: bytes that
        // hash to another one were damaged or swapped on the way (a proxy, a cache) and are not
        // copied. Docker schema 1 is left out: its header names the payload without signatures.
        let schema1 = matches!(
            manifest.media_type.as_str(),
            crate::manifest::DOCKER_SCHEMA1 | crate::manifest::DOCKER_SCHEMA1_SIGNED
        );
        let announced = content_digest(&headers);
        if let Some(announced) = announced.filter(|_| !schema1) {
            if announced != manifest.digest {
                return Err(Error::DigestMismatch {
                    what: format!(
                        "manifest {repository}:{reference} (the registry's Docker-Content-Digest)"
                    ),
                    expected: announced.to_string(),
                    actual: manifest.digest.to_string(),
                });
            }
        }
        Ok(manifest)
    }

    /// PUTs a manifest under `reference` (a tag or its digest) and checks the digest the registry
    /// computed; returns the answer's headers. PUTs of this run that Distribution would see
    /// overlap are kept apart ([`links`](super::links)); a `DIGEST_INVALID` answer, which
    /// Distribution also gives while another client rewrites a manifest this index lists, is tried
    /// again a few times.
    pub(super) async fn push_manifest(
        &self,
        repository: &str,
        reference: &str,
        manifest: &RawManifest,
    ) -> Result<HeaderMap> {
        let view = manifest.view().ok();
        let listed = view.iter().flat_map(|v| v.children()).map(|c| &c.digest);
        let _held = self
            .manifest_puts
            .hold(repository, &manifest.digest, listed)
            .await;
        let url = self.url(&format!("/v2/{repository}/manifests/{reference}"));
        let mut attempt = 0;
        let response = loop {
            attempt += 1;
            let response = self
                .send(Scope::Push(repository.to_string()), || {
                    self.http
                        .put(&url)
                        .header(CONTENT_TYPE, manifest.media_type.as_str())
                        .body(manifest.bytes.clone())
                })
                .await?;
            if response.status().is_success() {
                break response;
            }
            let error = self.status_error(&Method::PUT, &url, response).await;
            if attempt >= MANIFEST_PUT_ATTEMPTS || !is_digest_invalid(&error) {
                return Err(explain_foreign_refusal(error, view.as_ref()));
            }
            crate::log::emit(1, || {
                format!(
                    "{repository}:{reference}: the registry answered DIGEST_INVALID, as Distribution does while another client writes a manifest this one lists; trying again"
                )
            });
            tokio::time::sleep(self.retry_delay(attempt, None)).await;
        };
        if let Some(announced) = content_digest(response.headers()) {
            if announced != manifest.digest {
                self.confirm_manifest_push(repository, reference, manifest, &announced)
                    .await?;
            }
        }
        Ok(response.headers().clone())
    }

    /// A manifest push answered with a `Docker-Content-Digest` (`announced`) other than the
    /// digest pushed: the registry is asked by digest (`HEAD`) whether it holds what was pushed.
    /// When it does, the push is done (a header that disagrees, said at `-v`); when it does
    /// not, the push fails naming the header.
    async fn confirm_manifest_push(
        &self,
        repository: &str,
        reference: &str,
        manifest: &RawManifest,
        announced: &Digest,
    ) -> Result<()> {
        let held = self
            .head_manifest(
                Scope::Push(repository.to_string()),
                repository,
                manifest.digest.as_str(),
            )
            .await;
        if matches!(&held, Ok(Some(d)) if *d == manifest.digest) {
            crate::log::emit(1, || {
                format!(
                    "{repository}:{reference}: the registry answered the push with Docker-Content-Digest {announced}, not the digest pushed; it holds {} (HEAD by digest): the push is done",
                    manifest.digest
                )
            });
            return Ok(());
        }
        let checked = match held {
            Err(e) => format!("a HEAD by the digest pushed failed: {e}"),
            Ok(_) => "a HEAD by the digest pushed finds no such manifest".into(),
        };
        Err(Error::DigestMismatch {
            what: format!(
                "manifest pushed to {repository}:{reference} (the registry's Docker-Content-Digest; {checked})"
            ),
            expected: manifest.digest.to_string(),
            actual: announced.to_string(),
        })
    }

    /// Deletes a manifest by digest (used by `delete-source`).
    pub async fn delete_manifest(&self, repository: &str, digest: &Digest) -> Result<()> {
        let url = self.url(&format!("/v2/{repository}/manifests/{digest}"));
        let response = self
            .send(Scope::Delete(repository.to_string()), || {
                self.http.delete(&url)
            })
            .await?;
        match response.status() {
            s if s.is_success() => Ok(()),
            StatusCode::NOT_FOUND => Ok(()),
            _ => Err(self.status_error(&Method::DELETE, &url, response).await),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manifest_refused_for_its_foreign_layer_says_what_to_do() {
        let layer = Digest::of(b"windows base layer");
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": Digest::of(b"{}").as_str(), "size": 2},
            "layers": [{
                "mediaType": "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
                "digest": layer.as_str(), "size": 18,
                "urls": ["https://mcr.microsoft.com/v2/windows/blobs/x"],
            }],
        });
        let raw = RawManifest::new(
            serde_json::to_vec(&manifest).unwrap().into(),
            Some("application/vnd.oci.image.manifest.v1+json"),
        )
        .unwrap();
        let refused = |message: String| Error::Status {
            method: "PUT".into(),
            url: "http://127.0.0.1:5000/v2/win/manifests/ltsc".into(),
            status: 500,
            code: Some("UNKNOWN".into()),
            message: Some(message),
        };
        let explained = explain_foreign_refusal(
            refused(format!(
                "unknown error; MANIFEST_BLOB_UNKNOWN: blob unknown to registry ({layer})"
            )),
            raw.view().ok().as_ref(),
        )
        .to_string();
        assert!(
            explained.contains("--include-nondistributable"),
            "{explained}"
        );
        let other =
            explain_foreign_refusal(refused("unknown error".into()), raw.view().ok().as_ref())
                .to_string();
        assert!(!other.contains("--include-nondistributable"), "{other}");
    }
}
