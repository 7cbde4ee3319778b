//! Content addresses (`sha256:<64 hex>`) and a stream adapter that checks bytes against one while
//! they pass.
//!
//! [`BlobContent`] carries a blob to a destination: the checked stream and, when the source can be
//! read again from an offset, a [`Resumer`] that continues the check from a saved hash state, so
//! an upload cut off in the middle goes on where the destination stands without any byte escaping
//! the digest check.

use std::collections::VecDeque;
use std::fmt;
use std::pin::Pin;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::Stream;
use sha2::{Digest as _, Sha256};

use crate::error::Error;

/// A content digest. Only `sha256` is accepted: it is what every registry and layout in scope uses
/// by default, and what this tool hashes, verifies and stores layouts under. Other algorithms
/// (`sha512`, which the OCI image spec registers and Distribution stores) are refused with a line
/// that names them ([`other_algorithm`]).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest(String);

impl Digest {
    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        Digest(format!("sha256:{}", hex::encode(Sha256::digest(bytes))))
    }

    /// The full text, `sha256:<hex>`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The hex part, as used in layout paths and `sha256-<hex>` tags.
    pub fn hex(&self) -> &str {
        &self.0["sha256:".len()..]
    }
}

impl FromStr for Digest {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        if let Some(algorithm) = other_algorithm(s) {
            return Err(Error::invalid(
                format!("digest `{}`", truncate(s)),
                format!("the {algorithm} digest algorithm is not supported, only sha256"),
            ));
        }
        let hex = s.strip_prefix("sha256:").ok_or_else(|| {
            Error::invalid(
                format!("digest `{}`", truncate(s)),
                "expected `sha256:` followed by 64 lowercase hex digits",
            )
        })?;
        if hex.len() != 64
            || !hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(Error::invalid(
                format!("digest `{}`", truncate(s)),
                "expected `sha256:` followed by 64 lowercase hex digits",
            ));
        }
        Ok(Digest(s.to_string()))
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl serde::Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

/// The algorithm of a well-formed digest of another algorithm the OCI image spec registers
/// (`sha512:<128 hex>`, `blake3:<64 hex>`): content this tool refuses by name (only sha256 is
/// supported) rather than as malformed. Anything else (`md5:…`, a sha512 of the wrong length) is
/// not a digest at all.
pub fn other_algorithm(s: &str) -> Option<&str> {
    let (algorithm, encoded) = s.split_once(':')?;
    let length = match algorithm {
        "sha512" => 128,
        "blake3" => 64,
        _ => return None,
    };
    let hex = encoded
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    (encoded.len() == length && hex).then_some(algorithm)
}

/// Cuts untrusted text for error messages, its control characters escaped
/// ([`crate::log::printable`]).
pub(crate) fn truncate(s: &str) -> String {
    if s.len() <= 80 {
        crate::log::printable(s).into_owned()
    } else {
        let mut end = 80;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}…", crate::log::printable(&s[..end]))
    }
}

/// A boxed stream of blob bytes.
pub type ByteStream = Pin<Box<dyn Stream<Item = Result<Bytes, Error>> + Send>>;

/// Wraps a byte stream and checks its size and SHA-256 against the expected ones.
///
/// The last chunk is held back until the whole content is hashed: if the digest is wrong the stream
/// ends with an error instead of that chunk, so a consumer that uploads with a `Content-Length` can
/// never complete an upload of wrong bytes.
pub struct VerifyingStream {
    inner: ByteStream,
    hasher: Sha256,
    expected: Digest,
    expected_size: Option<u64>,
    seen: u64,
    held: Option<Bytes>,
    what: String,
    done: bool,
    /// Where hash states are saved at fixed intervals (content that can be resumed).
    checkpoints: Option<Arc<CheckpointLog>>,
    /// Bytes hashed but not passed on (the destination already holds them).
    skip: u64,
}

impl VerifyingStream {
    /// Checks `inner` against `expected` (and `expected_size` when known); `what` names the content in
    /// errors.
    pub fn new(
        inner: ByteStream,
        expected: Digest,
        expected_size: Option<u64>,
        what: String,
    ) -> Self {
        VerifyingStream {
            inner,
            hasher: Sha256::new(),
            expected,
            expected_size,
            seen: 0,
            held: None,
            what,
            done: false,
            checkpoints: None,
            skip: 0,
        }
    }

    /// Hashes a chunk that starts at byte `start`, saving the hash state at every checkpoint
    /// boundary it crosses.
    fn absorb(&mut self, start: u64, chunk: &[u8]) {
        let every = self
            .checkpoints
            .as_ref()
            .map_or(0, |log| log.every.load(Ordering::Relaxed));
        let Some(log) = self.checkpoints.as_ref().filter(|_| every > 0) else {
            self.hasher.update(chunk);
            return;
        };
        let end = start + chunk.len() as u64;
        let mut at = start;
        loop {
            let boundary = (at / every + 1) * every;
            if boundary > end {
                break;
            }
            let from = (at - start) as usize;
            let to = (boundary - start) as usize;
            self.hasher.update(&chunk[from..to]);
            at = boundary;
            log.record(Checkpoint {
                offset: boundary,
                hasher: self.hasher.clone(),
            });
        }
        self.hasher.update(&chunk[(at - start) as usize..]);
    }

    /// Drops what is still to be skipped from a chunk about to be passed on.
    fn unskipped(&mut self, chunk: Bytes) -> Option<Bytes> {
        if self.skip == 0 {
            return Some(chunk);
        }
        let n = self.skip.min(chunk.len() as u64);
        self.skip -= n;
        let rest = chunk.slice(n as usize..);
        (!rest.is_empty()).then_some(rest)
    }

    fn finish(&mut self) -> Result<(), Error> {
        if let Some(size) = self.expected_size {
            if size != self.seen {
                return Err(Error::SizeMismatch {
                    what: self.what.clone(),
                    expected: size,
                    actual: self.seen,
                });
            }
        }
        let actual = format!(
            "sha256:{}",
            hex::encode(std::mem::take(&mut self.hasher).finalize())
        );
        if actual != self.expected.as_str() {
            return Err(Error::DigestMismatch {
                what: self.what.clone(),
                expected: self.expected.to_string(),
                actual,
            });
        }
        Ok(())
    }
}

impl Stream for VerifyingStream {
    type Item = Result<Bytes, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.done {
            return Poll::Ready(None);
        }
        loop {
            match this.inner.as_mut().poll_next(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Err(e))) => {
                    this.done = true;
                    return Poll::Ready(Some(Err(e)));
                }
                Poll::Ready(Some(Ok(chunk))) => {
                    if chunk.is_empty() {
                        continue;
                    }
                    this.seen += chunk.len() as u64;
                    if let Some(size) = this.expected_size {
                        if this.seen > size {
                            this.done = true;
                            return Poll::Ready(Some(Err(Error::SizeMismatch {
                                what: this.what.clone(),
                                expected: size,
                                actual: this.seen,
                            })));
                        }
                    }
                    this.absorb(this.seen - chunk.len() as u64, &chunk);
                    if let Some(previous) = this.held.replace(chunk) {
                        if let Some(out) = this.unskipped(previous) {
                            return Poll::Ready(Some(Ok(out)));
                        }
                    }
                }
                Poll::Ready(None) => {
                    this.done = true;
                    return match this.finish() {
                        Ok(()) => {
                            let last = this.held.take().and_then(|c| this.unskipped(c));
                            Poll::Ready(last.map(Ok))
                        }
                        Err(e) => Poll::Ready(Some(Err(e))),
                    };
                }
            }
        }
    }
}

/// The hash state of a content's first `offset` bytes.
#[derive(Clone)]
struct Checkpoint {
    offset: u64,
    hasher: Sha256,
}

/// Hash states saved while content streams, shared between its [`VerifyingStream`] and the
/// [`Resumer`] that may restart it. Only a few are kept: the last one the destination acknowledged
/// and those read ahead of it.
struct CheckpointLog {
    /// Interval of the saved states in bytes (0: none saved).
    every: AtomicU64,
    list: Mutex<VecDeque<Checkpoint>>,
}

/// Saved states beyond this are dropped oldest first (the read-ahead of a stream is a chunk or two).
const MAX_CHECKPOINTS: usize = 64;

impl CheckpointLog {
    fn new() -> Self {
        CheckpointLog {
            every: AtomicU64::new(0),
            list: Mutex::new(VecDeque::from([Checkpoint {
                offset: 0,
                hasher: Sha256::new(),
            }])),
        }
    }

    fn record(&self, checkpoint: Checkpoint) {
        let mut list = self.list.lock().expect("checkpoint lock");
        // A state at the same offset or beyond belongs to a read that was abandoned.
        while list
            .back()
            .is_some_and(|last| last.offset >= checkpoint.offset)
        {
            list.pop_back();
        }
        list.push_back(checkpoint);
        if list.len() > MAX_CHECKPOINTS {
            list.pop_front();
        }
    }
}

/// Opens a blob again from a byte offset: the source's bytes from there to the end, unchecked.
pub type Reopen = Arc<dyn Fn(u64) -> BoxFuture<'static, Result<ByteStream, Error>> + Send + Sync>;

/// A blob on its way to a destination: a stream of its bytes that ends in an error instead of its
/// last chunk when they do not match the digest, and, when the source can be read again from an
/// offset, a [`Resumer`] to continue after an interruption.
pub struct BlobContent {
    stream: ByteStream,
    resumer: Option<Resumer>,
}

impl BlobContent {
    /// Checks `inner` against `expected` and `size`; `what` names the blob in errors. With
    /// `reopen`, the content can be resumed from an offset ([`BlobContent::into_parts`]).
    pub fn verified(
        inner: ByteStream,
        expected: Digest,
        size: u64,
        what: String,
        reopen: Option<Reopen>,
    ) -> Self {
        let mut stream = VerifyingStream::new(inner, expected.clone(), Some(size), what.clone());
        let resumer = reopen.map(|reopen| {
            let log = Arc::new(CheckpointLog::new());
            stream.checkpoints = Some(log.clone());
            Resumer {
                reopen,
                expected,
                size,
                what,
                log,
            }
        });
        BlobContent {
            stream: Box::pin(stream),
            resumer,
        }
    }

    /// Content whose stream the caller checks itself (or trusts: bytes it just made), and which
    /// cannot be resumed.
    pub fn from_stream(stream: ByteStream) -> Self {
        BlobContent {
            stream,
            resumer: None,
        }
    }

    /// The stream alone, for destinations that write a blob in one go.
    pub fn into_stream(self) -> ByteStream {
        self.stream
    }

    /// The stream, and what resumes it when the content can be read again.
    pub fn into_parts(self) -> (ByteStream, Option<Resumer>) {
        (self.stream, self.resumer)
    }
}

/// Restarts a [`BlobContent`] at an offset without letting any byte escape the digest check: the
/// hash state saved at the last checkpoint at or before the offset is taken up again, the bytes
/// from the checkpoint to the offset are read and hashed but not passed on, and the rest streams
/// as before, its last chunk held back until the whole content is checked.
pub struct Resumer {
    reopen: Reopen,
    expected: Digest,
    size: u64,
    what: String,
    log: Arc<CheckpointLog>,
}

impl Resumer {
    /// Saves the hash state every `every` bytes (0: never). Call it before reading the stream: a
    /// destination sets its chunk size, so each acknowledged chunk ends on a checkpoint.
    pub fn checkpoint_every(&self, every: u64) {
        self.log.every.store(every, Ordering::Relaxed);
    }

    /// The destination holds the first `offset` bytes: states before the last checkpoint at or
    /// before it are no longer needed.
    pub fn acknowledged(&self, offset: u64) {
        let mut list = self.log.list.lock().expect("checkpoint lock");
        while list.len() > 1 && list[1].offset <= offset {
            list.pop_front();
        }
    }

    /// The content from byte `offset` on, checked against the digest as a whole; `None` when
    /// no saved state lies at or before `offset` (or `offset` is past the end): start over then.
    /// Returns also how many bytes are re-read without being passed on.
    pub async fn from_offset(&self, offset: u64) -> Result<Option<(ByteStream, u64)>, Error> {
        if offset > self.size {
            return Ok(None);
        }
        let checkpoint = {
            let mut list = self.log.list.lock().expect("checkpoint lock");
            let Some(i) = list.iter().rposition(|c| c.offset <= offset) else {
                return Ok(None);
            };
            // States beyond it come from the read being abandoned.
            list.truncate(i + 1);
            list[i].clone()
        };
        let inner = (self.reopen)(checkpoint.offset).await?;
        let skip = offset - checkpoint.offset;
        let stream = VerifyingStream {
            inner,
            hasher: checkpoint.hasher,
            expected: self.expected.clone(),
            expected_size: Some(self.size),
            seen: checkpoint.offset,
            held: None,
            what: self.what.clone(),
            done: false,
            checkpoints: Some(self.log.clone()),
            skip,
        };
        Ok(Some((Box::pin(stream), skip)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;

    fn chunks(parts: &[&'static [u8]]) -> ByteStream {
        let items: Vec<Result<Bytes, Error>> =
            parts.iter().map(|p| Ok(Bytes::from_static(p))).collect();
        Box::pin(futures::stream::iter(items))
    }

    #[test]
    fn digest_parsing_rejects_what_is_not_sha256() {
        assert!("sha256:abc".parse::<Digest>().is_err());
        assert!("md5:00".parse::<Digest>().is_err());
        // Another algorithm is named as such, on one line.
        let sha512 = format!("sha512:{}", "ab".repeat(64));
        let e = sha512.parse::<Digest>().unwrap_err().to_string();
        assert!(
            e.contains("sha512 digest algorithm is not supported, only sha256")
                && !e.contains('\n'),
            "{e}"
        );
        assert_eq!(other_algorithm(&sha512), Some("sha512"));
        assert_eq!(other_algorithm(Digest::of(b"x").as_str()), None);
        assert_eq!(other_algorithm("not a digest"), None);
        assert_eq!(other_algorithm("Sha512:00"), None);
        assert_eq!(other_algorithm("sha512:00"), None);
        assert_eq!(other_algorithm("md5:00"), None);
        let d = Digest::of(b"hello");
        assert_eq!(d.as_str().parse::<Digest>().unwrap(), d);
        assert_eq!(d.hex().len(), 64);
    }

    #[tokio::test]
    async fn right_bytes_pass_through_whole() {
        let d = Digest::of(b"hello world");
        let s = VerifyingStream::new(chunks(&[b"hello", b" ", b"world"]), d, Some(11), "t".into());
        let out: Vec<_> = s.collect().await;
        let joined: Vec<u8> = out.into_iter().flat_map(|c| c.unwrap().to_vec()).collect();
        assert_eq!(joined, b"hello world");
    }

    #[tokio::test]
    async fn wrong_bytes_end_in_an_error_before_the_last_chunk() {
        let d = Digest::of(b"hello world");
        let s = VerifyingStream::new(chunks(&[b"hello", b" ", b"WORLD"]), d, Some(11), "t".into());
        let out: Vec<_> = s.collect().await;
        assert_eq!(
            out.len(),
            3,
            "two good chunks, then the error instead of the last"
        );
        assert!(matches!(out[2], Err(Error::DigestMismatch { .. })));
    }

    #[tokio::test]
    async fn short_content_is_a_size_mismatch() {
        let d = Digest::of(b"hello world");
        let s = VerifyingStream::new(chunks(&[b"hello"]), d, Some(11), "t".into());
        let out: Vec<_> = s.collect().await;
        assert!(matches!(
            out.last().unwrap(),
            Err(Error::SizeMismatch { .. })
        ));
    }

    fn content(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 7 % 251) as u8).collect()
    }

    /// A stream of `bytes` from `offset` on, in 100-byte chunks.
    fn pieces(bytes: &[u8], offset: u64) -> ByteStream {
        let items: Vec<Result<Bytes, Error>> = bytes[offset as usize..]
            .chunks(100)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        Box::pin(futures::stream::iter(items))
    }

    /// Content of 1000 bytes whose reopened reads serve `served` (the same bytes, or others).
    fn resumable(good: &[u8], served: Vec<u8>) -> BlobContent {
        let reopen: Reopen = Arc::new(move |offset| {
            let s = pieces(&served, offset);
            Box::pin(async move { Ok(s) })
        });
        BlobContent::verified(
            pieces(good, 0),
            Digest::of(good),
            good.len() as u64,
            "t".into(),
            Some(reopen),
        )
    }

    async fn read(stream: &mut ByteStream, n: usize) -> Vec<u8> {
        let mut out = Vec::new();
        while out.len() < n {
            out.extend_from_slice(&stream.next().await.unwrap().unwrap());
        }
        out
    }

    #[tokio::test]
    async fn a_resumed_read_continues_from_the_offset_past_the_last_checkpoint() {
        let good = content(1000);
        let (mut stream, resumer) = resumable(&good, good.clone()).into_parts();
        let resumer = resumer.unwrap();
        resumer.checkpoint_every(256);
        assert_eq!(read(&mut stream, 600).await, good[..600]);
        resumer.acknowledged(512);
        drop(stream);
        // The destination holds 700 bytes: bytes 512..700 are re-read and hashed, not passed on.
        let (resumed, rehashed) = resumer.from_offset(700).await.unwrap().unwrap();
        assert_eq!(rehashed, 188);
        let rest: Vec<_> = resumed.collect().await;
        let rest: Vec<u8> = rest.into_iter().flat_map(|c| c.unwrap().to_vec()).collect();
        assert_eq!(rest, good[700..]);
        // Nothing saved at or before a lost offset: start over.
        resumer.acknowledged(1000);
        assert!(resumer.from_offset(100).await.unwrap().is_none());
        assert!(resumer.from_offset(1001).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn a_resumed_read_of_other_bytes_ends_in_a_digest_error_before_its_last_chunk() {
        let good = content(1000);
        for (changed, offset) in [(900, 700), (600, 700)] {
            // Byte `changed` differs after the reopen: after the resume point, or between the
            // checkpoint and it (hashed without being passed on).
            let mut other = good.clone();
            other[changed] ^= 0xff;
            let (mut stream, resumer) = resumable(&good, other).into_parts();
            let resumer = resumer.unwrap();
            resumer.checkpoint_every(256);
            read(&mut stream, 600).await;
            resumer.acknowledged(512);
            let (resumed, _) = resumer.from_offset(offset).await.unwrap().unwrap();
            let out: Vec<_> = resumed.collect().await;
            assert!(
                matches!(out.last(), Some(Err(Error::DigestMismatch { .. }))),
                "byte {changed}"
            );
            let passed: usize = out
                .iter()
                .filter_map(|c| c.as_ref().ok())
                .map(|c| c.len())
                .sum();
            assert!(
                passed < 1000 - offset as usize,
                "the last chunk is held back"
            );
        }
    }
}
