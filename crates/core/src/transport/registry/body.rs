//! Reading answer bodies: small ones (manifests, listing pages, tokens) whole, within a size limit
//! and a deadline, asked again when cut off; error bodies only in part; and blob bodies as a
//! stream that asks again with `Range` from where the connection broke off, or from where the body
//! began to trickle slower than a floor.

use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use reqwest::header::HeaderMap;
use reqwest::{Method, RequestBuilder, Response, StatusCode};

use super::auth::Scope;
use super::errors::connection_error;
use super::{Inner, Registry};
use crate::error::{Error, Result};
use crate::manifest::MAX_MANIFEST_BYTES;
use crate::secret::redact_url;

impl Inner {
    /// GETs a small document (manifest, listing) whole: a body cut off in the middle is retried
    /// like a failed request. Returns the final status, headers and body.
    pub(super) async fn fetch_small(
        &self,
        scope: Scope,
        build: impl Fn() -> RequestBuilder,
        url: &str,
    ) -> Result<(StatusCode, HeaderMap, Bytes)> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let response = self.send(scope.clone(), &build).await?;
            let status = response.status();
            let headers = response.headers().clone();
            if !status.is_success() {
                return Err(self.status_error(&Method::GET, url, response).await);
            }
            if response
                .content_length()
                .is_some_and(|l| l > MAX_MANIFEST_BYTES as u64)
            {
                return Err(Error::invalid(
                    redact_url(url),
                    format!("larger than {MAX_MANIFEST_BYTES} bytes"),
                ));
            }
            match read_limited(response, MAX_MANIFEST_BYTES, url).await {
                Ok(body) => return Ok((status, headers, body)),
                Err(e) if e.is_transient() && attempt < self.retry.attempts => {
                    let reason = match &e {
                        Error::Connection { reason, .. } => reason.clone(),
                        other => other.to_string(),
                    };
                    let failure = format!("its body did not arrive whole ({reason})");
                    self.pause_before_retry(&Method::GET, url, &failure, attempt, None)
                        .await;
                }
                Err(e) => return Err(e),
            }
        }
    }
}

/// The body of a small answer (a manifest, a listing page, a token), refused past `limit` bytes.
pub(super) async fn read_limited(response: Response, limit: usize, url: &str) -> Result<Bytes> {
    read_body(response, limit, url, Beyond::Refused).await
}

/// The first `limit` bytes of an answer that is only shown or searched (an error envelope, a
/// proxy's page): the rest is not read, and a body that cannot be read is empty.
pub(super) async fn read_prefix(response: Response, limit: usize, url: &str) -> Bytes {
    read_body(response, limit, url, Beyond::Cut)
        .await
        .unwrap_or_default()
}

/// What [`read_body`] does with a body longer than its limit.
#[derive(Clone, Copy, PartialEq)]
enum Beyond {
    /// An error: the body is not what was asked for.
    Refused,
    /// The first bytes are kept, the rest left unread.
    Cut,
}

async fn read_body(response: Response, limit: usize, url: &str, beyond: Beyond) -> Result<Bytes> {
    let mut body = Vec::new();
    let read = async {
        let mut stream = response.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| connection_error(&Method::GET, url, &e))?;
            if body.len() + chunk.len() > limit {
                if beyond == Beyond::Cut {
                    body.extend_from_slice(&chunk[..limit - body.len()]);
                    return Ok(());
                }
                return Err(Error::invalid(
                    redact_url(url),
                    format!("body larger than {limit} bytes"),
                ));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(())
    };
    // `--read-timeout` bounds each silence; a server that sends a byte now and then would hold
    // the request for ever without this bound on the whole body. Like a broken connection, it
    // is retried (the registry may only be congested for a while).
    match tokio::time::timeout(SMALL_BODY_DEADLINE, read).await {
        Ok(Ok(())) => Ok(Bytes::from(body)),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(Error::Connection {
            method: Method::GET.to_string(),
            url: redact_url(url),
            reason: format!(
                "the body of at most {} KiB took more than {} minutes to arrive ({} bytes came): the registry is not serving this request",
                limit >> 10,
                SMALL_BODY_DEADLINE.as_secs() / 60,
                body.len()
            ),
        }),
    }
}

/// Longest a manifest, a listing page, a token answer or an error envelope may take to arrive
/// whole (4 MiB at most: 7 kB/s, slower than any working link).
const SMALL_BODY_DEADLINE: Duration = Duration::from_secs(10 * 60);

/// The most of an error envelope (or a proxy's page) that is read: enough for any message.
pub(super) const ERROR_BODY_BYTES: usize = 64 << 10;

/// How many times one blob download is resumed after its body broke off.
const BODY_RESUMES: u32 = 5;

/// The slowest a blob body may arrive: at least [`RateFloor::BYTES`] in every
/// [`RateFloor::WINDOW`] of waiting for it (under 1 KiB/s). Each read already has the client's
/// read timeout; this ends a body that trickles a byte now and then, never timing out, from a
/// broken or hostile server: it is asked again from where it stopped, as a body that broke off
/// is. Only the time spent waiting for the body counts, not the time its reader spends elsewhere
/// (an upload it feeds that waits for its target).
#[derive(Clone, Copy, Debug, Default)]
struct RateFloor {
    waited: Duration,
    bytes: u64,
}

impl RateFloor {
    const WINDOW: Duration = Duration::from_secs(5 * 60);
    const BYTES: u64 = 256 * 1024;

    /// Counts `n` bytes that arrived after `waited`; `Err` with the bytes of the window when a
    /// whole window of waiting brought fewer than [`RateFloor::BYTES`].
    fn arrived(&mut self, n: u64, waited: Duration) -> std::result::Result<(), u64> {
        self.bytes += n;
        self.waited += waited;
        if self.waited < Self::WINDOW {
            return Ok(());
        }
        let bytes = std::mem::take(&mut self.bytes);
        self.waited = Duration::ZERO;
        if bytes < Self::BYTES {
            return Err(bytes);
        }
        Ok(())
    }
}

/// A blob body that, when the connection breaks off, asks again from the byte where it stopped
/// (`Range: bytes=N-`); a server that ignores ranges answers the whole blob again and the bytes
/// already passed on are skipped. The consumer sees one uninterrupted stream.
///
/// `start` is the byte of the blob the response begins with, and `skip` how many of its first
/// bytes to drop (a server that answered a `Range` request with the whole blob).
pub(super) fn resuming_body(
    registry: Registry,
    scope: Scope,
    url: String,
    response: Response,
    start: u64,
    skip: u64,
) -> impl futures::Stream<Item = Result<Bytes>> + Send + 'static {
    struct State {
        registry: Registry,
        scope: Scope,
        url: String,
        body: Option<futures::stream::BoxStream<'static, reqwest::Result<Bytes>>>,
        offset: u64,
        skip: u64,
        resumes: u32,
        rate: RateFloor,
    }
    let state = State {
        registry,
        scope,
        url,
        body: Some(response.bytes_stream().boxed()),
        offset: start,
        skip,
        resumes: 0,
        rate: RateFloor::default(),
    };
    futures::stream::unfold(state, |mut st| async move {
        loop {
            let waiting = tokio::time::Instant::now();
            let next = st.body.as_mut()?.next().await;
            let slow = match &next {
                Some(Ok(chunk)) => st
                    .rate
                    .arrived(chunk.len() as u64, waiting.elapsed())
                    .err()
                    .map(|bytes| {
                        format!(
                            "{bytes} bytes in the last {} minutes, under the {} KiB this tool waits for",
                            RateFloor::WINDOW.as_secs() / 60,
                            RateFloor::BYTES / 1024
                        )
                    }),
                _ => None,
            };
            let next = match slow {
                Some(reason) => Some(Err(BodyBroke::Slow(reason))),
                None => next.map(|r| r.map_err(BodyBroke::Failed)),
            };
            match next {
                None => return None,
                Some(Ok(mut chunk)) => {
                    if st.skip > 0 {
                        match crate::transport::drop_front(chunk, &mut st.skip) {
                            Some(rest) => chunk = rest,
                            None => continue,
                        }
                    }
                    st.offset += chunk.len() as u64;
                    return Some((Ok(chunk), st));
                }
                Some(Err(e)) => {
                    // The chunk that showed the body too slow is dropped: the range asked
                    // again starts at its first byte.
                    let why = match &e {
                        BodyBroke::Failed(e) if e.is_timeout() => format!(
                            "no byte for {} s (read timeout)",
                            st.registry.read_timeout.as_secs_f64()
                        ),
                        other => other.to_string(),
                    };
                    let interrupted = Error::Connection {
                        method: "GET".into(),
                        url: redact_url(&st.url),
                        reason: format!("body interrupted after {} bytes: {why}", st.offset),
                    };
                    st.rate = RateFloor::default();
                    if st.resumes >= BODY_RESUMES {
                        st.body = None;
                        return Some((Err(interrupted), st));
                    }
                    st.resumes += 1;
                    crate::log::emit(1, || {
                        format!("{interrupted}: resuming from byte {} (Range)", st.offset)
                    });
                    let registry = st.registry.clone();
                    let url = st.url.clone();
                    let range = format!("bytes={}-", st.offset);
                    let resumed = registry
                        .send(st.scope.clone(), || {
                            registry
                                .bulk
                                .get(&url)
                                .header(reqwest::header::RANGE, range.as_str())
                        })
                        .await;
                    match resumed {
                        Ok(r) if r.status() == StatusCode::PARTIAL_CONTENT => {
                            st.body = Some(r.bytes_stream().boxed());
                        }
                        Ok(r) if r.status().is_success() => {
                            st.skip = st.offset;
                            st.body = Some(r.bytes_stream().boxed());
                        }
                        Ok(r) => {
                            let e = st.registry.status_error(&Method::GET, &st.url, r).await;
                            st.body = None;
                            return Some((Err(e), st));
                        }
                        Err(e) => {
                            st.body = None;
                            return Some((Err(e), st));
                        }
                    }
                }
            }
        }
    })
}

/// Why a blob body stopped before its end.
enum BodyBroke {
    /// The connection failed.
    Failed(reqwest::Error),
    /// It arrived slower than [`RateFloor`] allows (said in words).
    Slow(String),
}

impl std::fmt::Display for BodyBroke {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BodyBroke::Failed(e) => e.fmt(f),
            BodyBroke::Slow(why) => write!(f, "too slow: {why}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A server that sends its body a byte now and then, each well within the read timeout.
    #[tokio::test(start_paused = true)]
    async fn a_small_body_sent_a_byte_at_a_time_ends_at_the_deadline() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            let (mut conn, _) = listener.accept().await.unwrap();
            let mut request = [0u8; 1024];
            let _ = conn.read(&mut request).await;
            let head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n";
            conn.write_all(head.as_bytes()).await.unwrap();
            for _ in 0..100_000 {
                tokio::time::sleep(Duration::from_secs(1)).await;
                if conn.write_all(b" ").await.is_err() {
                    return;
                }
            }
        });
        let url = format!("http://127.0.0.1:{port}/v2/app/tags/list");
        let response = reqwest::Client::new().get(&url).send().await.unwrap();
        let e = read_limited(response, MAX_MANIFEST_BYTES, &url)
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("took more than 10 minutes to arrive"), "{e}");
        // A connection failure, retried as one.
        assert!(e.starts_with(&format!("GET {url}: ")), "{e}");
    }

    /// A blob body must bring 256 KiB in every five minutes: one that trickles (a byte a second,
    /// each read well within the read timeout) is cut at the end of its first window; a slow
    /// but steady one (1 KiB/s) is not.
    #[test]
    fn a_blob_body_that_trickles_is_cut_after_a_window_and_a_slow_steady_one_is_not() {
        let second = Duration::from_secs(1);
        let mut trickle = RateFloor::default();
        let cut = (1..=600u64).find_map(|s| trickle.arrived(1, second).err().map(|b| (s, b)));
        assert_eq!(cut, Some((300, 300)));
        let mut steady = RateFloor::default();
        assert!((0..3600).all(|_| steady.arrived(1024, second).is_ok()));
        // Time its reader spends elsewhere does not count: a body waited for a minute in all
        // is not judged, however long the copy paused between its chunks.
        let mut paused = RateFloor::default();
        assert!((0..60).all(|_| paused.arrived(1, second).is_ok()));
    }
}
