//! Blob uploads: upload sessions opened (their `Location` kept on the registry's origin), kept for
//! a later upload and cancelled; bodies sent once as one-shot streams and watched for a registry
//! that stops reading them; chunked uploads whose PATCHes go on from where the registry stands
//! after one fails; and the closing PUT under the blob's digest.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;
use reqwest::header::{HeaderMap, HeaderValue, CONTENT_LENGTH, CONTENT_TYPE, LOCATION};
use reqwest::{Method, RequestBuilder, Response, StatusCode};

use super::auth::Scope;
use super::errors::{connection_error, failure_of};
use super::origin::origin_checked;
use super::retry::is_transient_status;
use super::send::{is_gateway_failure, log_response};
use super::{Inner, Registry};
use crate::digest::{BlobContent, ByteStream, Digest, Resumer};
use crate::error::{Error, Result};
use crate::manifest::Reference;
use crate::secret::redact_url;

/// How an upload body moves, for [`Inner::send_watched`]: when the body last gave bytes to the
/// registry's connection (or ended), and whether it is waiting for the source now. A registry
/// that reads slowly but steadily is never cut; one that stops reading, or does not answer, is.
#[derive(Clone)]
struct UploadWatch(Arc<WatchState>);

struct WatchState {
    started: Instant,
    /// Milliseconds after `started` of the last bytes given (or of the end of the body).
    last: std::sync::atomic::AtomicU64,
    /// True while the body waits for the source's next bytes.
    on_source: AtomicBool,
    /// True once the body was first asked for bytes: the request is on its way (signing it,
    /// waiting out a `Retry-After` and connecting come before, and are timed elsewhere).
    armed: AtomicBool,
}

impl UploadWatch {
    fn new() -> Self {
        UploadWatch(Arc::new(WatchState {
            started: Instant::now(),
            last: std::sync::atomic::AtomicU64::new(0),
            on_source: AtomicBool::new(false),
            armed: AtomicBool::new(false),
        }))
    }

    fn now_ms(&self) -> u64 {
        self.0.started.elapsed().as_millis() as u64
    }

    fn touch(&self) {
        self.0.last.store(self.now_ms(), Ordering::Relaxed);
    }

    /// Times the registry's silence from now, for a request without a body to watch.
    fn arm(&self) {
        self.0.armed.store(true, Ordering::Relaxed);
        self.touch();
    }

    /// The body, watched.
    fn wrap<S, E>(&self, body: S) -> impl futures::Stream<Item = std::result::Result<Bytes, E>>
    where
        S: futures::Stream<Item = std::result::Result<Bytes, E>> + Send + 'static,
    {
        let watch = self.clone();
        let mut body = Box::pin(body);
        futures::stream::poll_fn(move |cx| {
            watch.0.armed.store(true, Ordering::Relaxed);
            watch.0.on_source.store(true, Ordering::Relaxed);
            let polled = body.as_mut().poll_next(cx);
            if polled.is_ready() {
                watch.0.on_source.store(false, Ordering::Relaxed);
                watch.touch();
            }
            polled
        })
    }

    /// Resolves once the registry has been silent for `limit`: it took no bytes the body had
    /// ready, or gave no answer after the body ended.
    async fn silence(&self, limit: Duration) {
        let tick = (limit / 4).clamp(Duration::from_millis(20), Duration::from_secs(1));
        self.touch();
        loop {
            tokio::time::sleep(tick).await;
            if !self.0.armed.load(Ordering::Relaxed) || self.0.on_source.load(Ordering::Relaxed) {
                // Not sent yet, or the source's pace, which is the source's affair (its own
                // floor): the registry's silence is timed from the bytes it is next given.
                self.touch();
                continue;
            }
            let last = self.0.last.load(Ordering::Relaxed);
            if Duration::from_millis(self.now_ms().saturating_sub(last)) >= limit {
                return;
            }
        }
    }
}

/// The content of a chunked upload, shared by the PATCH bodies that take their share of it in turn.
struct Feed {
    stream: ByteStream,
    /// What the last share read beyond its end, for the next one.
    overhang: Option<Bytes>,
    /// Bumped when the content is reopened: bodies of the abandoned requests take nothing more.
    generation: u64,
}

/// A stream of exactly `len` bytes taken from a shared content stream (for one chunk of a chunked
/// upload); what overhangs the chunk is kept for the next one.
fn take(
    content: Arc<tokio::sync::Mutex<Feed>>,
    generation: u64,
    len: u64,
    blob: &Reference,
) -> impl futures::Stream<Item = Result<Bytes>> + Send + 'static {
    let what = format!("blob {}", blob.digest);
    let size = blob.size;
    futures::stream::unfold((content, len), move |(content, remaining)| {
        let what = what.clone();
        async move {
            if remaining == 0 {
                return None;
            }
            let mut guard = content.lock().await;
            if guard.generation != generation {
                return None;
            }
            let mut chunk = match guard.overhang.take() {
                Some(b) => b,
                None => match guard.stream.next().await {
                    Some(Ok(b)) => b,
                    Some(Err(e)) => return Some((Err(e), (content.clone(), 0))),
                    None => {
                        return Some((
                            Err(Error::SizeMismatch {
                                what,
                                expected: size,
                                actual: size - remaining,
                            }),
                            (content.clone(), 0),
                        ))
                    }
                },
            };
            if chunk.len() as u64 > remaining {
                guard.overhang = Some(chunk.split_off(remaining as usize));
            }
            let n = chunk.len() as u64;
            drop(guard);
            Some((Ok(chunk), (content, remaining - n)))
        }
    })
}

/// Failures of a PATCH after which asking the registry where the upload stands is worth it.
fn resumable(error: &Error) -> bool {
    match error {
        Error::Connection { .. } => true,
        Error::Status { status, .. } => {
            *status == 416 || *status == 429 || *status == 408 || *status >= 500
        }
        _ => false,
    }
}

/// The bytes an upload holds by its status `Range` (`0-<last byte>`; Distribution says `0-0` for
/// an empty upload, some registries `0--1`).
fn parse_upload_range(value: &str) -> Option<u64> {
    let value = value.trim();
    let value = value.strip_prefix("bytes=").unwrap_or(value);
    let last = value.strip_prefix("0-")?.trim();
    match last.parse::<i64>().ok()? {
        -1 | 0 => Some(0),
        n if n > 0 => Some(n as u64 + 1),
        _ => None,
    }
}

/// The upload location a response gives (relative to the current one), or the current one; one
/// on another origin is refused, in words that name the credentials when the run sends some
/// (`credentials`).
fn upload_location(current: &str, headers: &HeaderMap, credentials: bool) -> Result<String> {
    match headers.get(LOCATION).and_then(|l| l.to_str().ok()) {
        Some(l) => origin_checked(current, l, "upload Location", credentials),
        None => Ok(current.to_string()),
    }
}

impl Inner {
    /// [`Inner::send_once`] of an upload whose body `watch` wraps: the request fails as timed out
    /// once the registry has read nothing of the body for [`Inner::upload_silence`] while the
    /// body had bytes to give (time spent waiting for the source does not count), or has not
    /// answered for as long once the body is sent.
    async fn send_watched(
        &self,
        watch: &UploadWatch,
        request: RequestBuilder,
        scope: &Scope,
        method: Method,
        url: &str,
    ) -> Result<Response> {
        tokio::select! {
            sent = self.send_once(request, scope, method.clone(), url) => sent,
            () = watch.silence(self.upload_silence) => {
                let reason = format!(
                    "timed out (the registry took nothing of the body, or gave no answer after it, for {} s)",
                    self.upload_silence.as_secs()
                );
                if let Some(gone) = self.health.failed(&reason) {
                    return Err(gone);
                }
                Err(Error::Connection {
                    method: method.to_string(),
                    url: redact_url(url),
                    reason,
                })
            }
        }
    }

    /// Signs and sends a request whose body is a one-shot stream. A stream error (wrong digest,
    /// short content) is reported as itself; a 401 forgets the token and fails as transient, so
    /// the copy engine sends the blob again with a new one.
    async fn send_once(
        &self,
        request: RequestBuilder,
        scope: &Scope,
        method: Method,
        url: &str,
    ) -> Result<Response> {
        self.health.check()?;
        let request = self.authorize(request, scope).await?;
        self.throttle.wait_turn().await;
        let started = Instant::now();
        let response = request.send().await.map_err(|e| {
            let mut source: Option<&dyn std::error::Error> = Some(&e);
            while let Some(s) = source {
                // An error of the body stream comes from the other side (the source being
                // read): it says nothing of whether this registry answers.
                if let Some(inner) = s.downcast_ref::<Error>() {
                    if let Some(gone) = inner.unreachable_copy() {
                        return gone;
                    }
                    return match inner {
                        Error::DigestMismatch {
                            what,
                            expected,
                            actual,
                        } => Error::DigestMismatch {
                            what: what.clone(),
                            expected: expected.clone(),
                            actual: actual.clone(),
                        },
                        Error::SizeMismatch {
                            what,
                            expected,
                            actual,
                        } => Error::SizeMismatch {
                            what: what.clone(),
                            expected: *expected,
                            actual: *actual,
                        },
                        other => Error::Connection {
                            method: method.to_string(),
                            url: redact_url(url),
                            reason: other.to_string(),
                        },
                    };
                }
                source = s.source();
            }
            if let Some(gone) = self.health.failed(&failure_of(&e).short()) {
                return gone;
            }
            connection_error(&method, url, &e)
        })?;
        log_response(&method, url, &response, started);
        if is_gateway_failure(response.status()) {
            if let Some(gone) = self
                .health
                .failed(&format!("HTTP {}", response.status().as_u16()))
            {
                return Err(gone);
            }
        } else {
            self.health.answered();
        }
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            self.throttled(&method, url, response.headers());
        }
        if response.status() == StatusCode::UNAUTHORIZED {
            self.learn_challenge(response.headers());
            *self.tokens.slot(scope).lock().await = None;
            return Err(Error::Connection {
                method: method.to_string(),
                url: redact_url(url),
                reason: "the registry refused the token during the upload (HTTP 401)".into(),
            });
        }
        Ok(response)
    }

    /// Sends `content` in PATCH requests of at most `chunk_size` bytes, each ending on a multiple of
    /// it, and returns the upload's location for the closing PUT. The content's digest is checked
    /// before its last bytes leave. When a PATCH fails in a way that may pass (connection, 5xx,
    /// 429, 416) and `resumer` is given, the registry is asked where the upload stands and the
    /// content goes on from there; a session that is gone or an offset that cannot be used
    /// returns the error, and the copy engine starts the blob over.
    async fn upload_chunks(
        &self,
        mut location: String,
        scope: &Scope,
        blob: &Reference,
        content: ByteStream,
        resumer: Option<Resumer>,
    ) -> Result<String> {
        // Never below what the registry said it takes (ECR: 5 MiB parts).
        let chunk = self.chunk_size.max(self.chunk_min.load(Ordering::Relaxed));
        if let Some(r) = &resumer {
            r.checkpoint_every(chunk);
        }
        let feed = Arc::new(tokio::sync::Mutex::new(Feed {
            stream: content,
            overhang: None,
            generation: 0,
        }));
        let mut offset = 0u64;
        let mut failures = 0u32;
        while offset < blob.size {
            let end = ((offset / chunk + 1) * chunk).min(blob.size);
            let len = end - offset;
            let generation = feed.lock().await.generation;
            let part = take(feed.clone(), generation, len, blob);
            let watch = UploadWatch::new();
            let outcome = self
                .send_watched(
                    &watch,
                    self.upload
                        .patch(&location)
                        .header(
                            CONTENT_TYPE,
                            HeaderValue::from_static("application/octet-stream"),
                        )
                        .header(CONTENT_LENGTH, len)
                        .header("content-range", format!("{offset}-{}", end - 1))
                        .body(reqwest::Body::wrap_stream(watch.wrap(part))),
                    scope,
                    Method::PATCH,
                    &location,
                )
                .await;
            let error = match outcome {
                Ok(response)
                    if response.status() == StatusCode::ACCEPTED
                        || response.status().is_success() =>
                {
                    location =
                        upload_location(&location, response.headers(), self.sends_credentials())?;
                    offset = end;
                    failures = 0;
                    if let Some(r) = &resumer {
                        r.acknowledged(offset);
                    }
                    continue;
                }
                Ok(response) => self.status_error(&Method::PATCH, &location, response).await,
                Err(e) => e,
            };
            let Some(resumer) = resumer.as_ref().filter(|_| resumable(&error)) else {
                return Err(error);
            };
            failures += 1;
            if failures >= self.retry.attempts {
                return Err(error);
            }
            tokio::time::sleep(self.retry_delay(failures, None)).await;
            let Some((stands, status_location)) = self.upload_status(&location, scope).await?
            else {
                crate::log::emit(1, || {
                    format!(
                        "upload of blob {} broke off ({error}) and its session is gone: starting over",
                        blob.digest
                    )
                });
                return Err(error);
            };
            let Some((stream, rehashed)) = resumer.from_offset(stands).await? else {
                crate::log::emit(1, || {
                    format!(
                        "upload of blob {} broke off ({error}); the registry holds {stands} bytes, which cannot be resumed: starting over",
                        blob.digest
                    )
                });
                return Err(error);
            };
            crate::log::emit(1, || {
                format!(
                    "upload of blob {} broke off ({error}): resuming at byte {stands} of {} ({rehashed} bytes re-read to check the digest)",
                    blob.digest, blob.size
                )
            });
            {
                let mut f = feed.lock().await;
                f.stream = stream;
                f.overhang = None;
                f.generation += 1;
            }
            offset = stands;
            location = status_location;
        }
        // The whole content must have been read and checked: a resumed content that the registry
        // already held to its end is checked here.
        let mut f = feed.lock().await;
        let mut extra = f.overhang.take().map_or(0, |b| b.len() as u64);
        while let Some(next) = f.stream.next().await {
            extra += next?.len() as u64;
        }
        if extra > 0 {
            return Err(Error::SizeMismatch {
                what: format!("blob {}", blob.digest),
                expected: blob.size,
                actual: blob.size + extra,
            });
        }
        Ok(location)
    }

    /// Asks where an upload stands (`GET` on its location: `204` with `Range: 0-<last byte>`).
    /// Returns the bytes the registry holds and the location to go on with, or `None` when the
    /// session is gone (404) or the answer gives no usable offset.
    async fn upload_status(&self, location: &str, scope: &Scope) -> Result<Option<(u64, String)>> {
        let response = self.send(scope.clone(), || self.http.get(location)).await?;
        let status = response.status();
        if is_transient_status(status) {
            return Err(self.status_error(&Method::GET, location, response).await);
        }
        if !status.is_success() {
            crate::log::emit(2, || {
                format!(
                    "upload status {}: HTTP {}",
                    redact_url(location),
                    status.as_u16()
                )
            });
            return Ok(None);
        }
        let Some(stands) = response
            .headers()
            .get("range")
            .and_then(|r| r.to_str().ok())
            .and_then(parse_upload_range)
        else {
            return Ok(None);
        };
        Ok(Some((
            stands,
            upload_location(location, response.headers(), self.sends_credentials())?,
        )))
    }

    /// Keeps an upload session opened for `digest` until `put_blob` takes it. A session it
    /// replaces (two mounts of the same blob into the same repository both answered 202, as on
    /// a registry that ignores mounts) would never be used: it is cancelled.
    pub(super) async fn keep_session(
        &self,
        repository: &str,
        digest: &Digest,
        location: Option<String>,
    ) {
        let Some(location) = location else {
            return;
        };
        let replaced = self
            .sessions
            .lock()
            .expect("sessions lock")
            .insert((repository.to_string(), digest.clone()), location);
        if let Some(replaced) = replaced {
            self.cancel_upload(repository, &replaced).await;
        }
    }

    /// Cancels the upload session kept for `digest` in `repository`, if there is one: the blob
    /// turned out to be there, so no upload will use it.
    pub(super) async fn drop_session(&self, repository: &str, digest: &Digest) {
        let kept = self
            .sessions
            .lock()
            .expect("sessions lock")
            .remove(&(repository.to_string(), digest.clone()));
        if let Some(location) = kept {
            self.cancel_upload(repository, &location).await;
        }
    }

    /// Cancels an upload session (`DELETE` on its location), best effort: a registry that keeps
    /// it anyway purges it later, so a failure is only logged (`-vv`).
    pub(super) async fn cancel_upload(&self, repository: &str, location: &str) -> bool {
        let scope = Scope::Push(repository.to_string());
        let outcome = self.send(scope, || self.http.delete(location)).await;
        let status = match &outcome {
            Ok(response) if response.status().is_success() => return true,
            Ok(response) => format!("HTTP {}", response.status().as_u16()),
            Err(e) => e.to_string(),
        };
        crate::log::emit(2, || {
            format!(
                "could not cancel the unused upload session {} ({status}); the registry purges it later",
                redact_url(location)
            )
        });
        false
    }

    /// Opens an upload session; returns its absolute URL.
    pub(super) async fn start_upload(
        &self,
        repository: &str,
        query: &str,
        scope: Scope,
    ) -> Result<(StatusCode, Option<String>)> {
        let url = self.url(&format!("/v2/{repository}/blobs/uploads/{query}"));
        let response = self
            .send(scope, || self.http.post(&url).header(CONTENT_LENGTH, "0"))
            .await?;
        let status = response.status();
        if status != StatusCode::ACCEPTED && status != StatusCode::CREATED {
            let allow = response
                .headers()
                .get(reqwest::header::ALLOW)
                .and_then(|a| a.to_str().ok())
                .map(str::to_string);
            return Err(
                match self.status_error(&Method::POST, &url, response).await {
                    // No code of its own: the method itself is not served (read-only). ACR's lock of
                    // one repository answers 405 with a code, and stays that repository's.
                    Error::Status {
                        status: 405,
                        code: None,
                        ..
                    } => self.health.refuses_pushes(allow.as_deref()),
                    other => other,
                },
            );
        }
        if let Some(min) = response
            .headers()
            .get("oci-chunk-min-length")
            .and_then(|v| v.to_str().ok()?.trim().parse::<u64>().ok())
        {
            self.chunk_min.fetch_max(min, Ordering::Relaxed);
        }
        let location = match response
            .headers()
            .get(LOCATION)
            .and_then(|l| l.to_str().ok())
        {
            Some(l) => Some(origin_checked(
                &url,
                l,
                "upload Location",
                self.sends_credentials(),
            )?),
            None => None,
        };
        Ok((status, location))
    }
}

impl Registry {
    /// Sends `content` into the upload session at `location` and commits it under the blob's
    /// digest (chunked above `--chunk-size`).
    pub(super) async fn complete_upload(
        &self,
        repository: &str,
        blob: &Reference,
        location: String,
        content: BlobContent,
        scope: Scope,
    ) -> Result<()> {
        let (content, resumer) = content.into_parts();
        let watch = UploadWatch::new();
        // Bodies are one-shot streams: each request is signed first and sent once. A chunked
        // upload that breaks off resumes where the registry stands (when the content can be read
        // again); anything else is retried by the copy engine from the start.
        let (location, body, length) = if self.chunk_size > 0 && blob.size > self.chunk_size {
            let location = self
                .upload_chunks(location, &scope, blob, content, resumer)
                .await?;
            // No body to watch: the registry's answer is timed from the start.
            watch.arm();
            (location, reqwest::Body::from(Vec::new()), 0)
        } else {
            (
                location,
                reqwest::Body::wrap_stream(watch.wrap(content)),
                blob.size,
            )
        };
        let separator = if location.contains('?') { '&' } else { '?' };
        let url = format!("{location}{separator}digest={}", blob.digest);
        let response = self
            .send_watched(
                &watch,
                self.upload
                    .put(&url)
                    .header(
                        CONTENT_TYPE,
                        HeaderValue::from_static("application/octet-stream"),
                    )
                    .header(CONTENT_LENGTH, length)
                    .body(body),
                &scope,
                Method::PUT,
                &url,
            )
            .await?;
        if response.status() != StatusCode::CREATED && !response.status().is_success() {
            let error = self.status_error(&Method::PUT, &url, response).await;
            return Err(match error {
                // The bytes the registry holds do not hash to the digest (a resumed upload whose
                // re-read bytes differ from those sent first): the copy engine starts over.
                Error::Status {
                    code: Some(code), ..
                } if code == "DIGEST_INVALID" => Error::DigestMismatch {
                    what: format!("blob {} as uploaded to {repository}", blob.digest),
                    expected: blob.digest.to_string(),
                    actual: "other content (the registry answered DIGEST_INVALID)".into(),
                },
                other => other,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upload_status_ranges_give_the_bytes_held() {
        assert_eq!(parse_upload_range("0-65535"), Some(65536));
        assert_eq!(parse_upload_range("bytes=0-9"), Some(10));
        assert_eq!(parse_upload_range("0-0"), Some(0));
        assert_eq!(parse_upload_range("0--1"), Some(0));
        assert_eq!(parse_upload_range("5-9"), None);
        assert_eq!(parse_upload_range("garbage"), None);
    }
}
