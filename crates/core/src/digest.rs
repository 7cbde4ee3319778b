//! Content addresses (`sha256:<64 hex>`) and a stream adapter that checks bytes against one while
//! they pass.

use std::fmt;
use std::pin::Pin;
use std::str::FromStr;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures::Stream;
use sha2::{Digest as _, Sha256};

use crate::error::Error;

/// A content digest. Only `sha256` is accepted: it is what every registry and layout in scope uses,
/// and anything else could not be verified.
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

/// Cuts untrusted text for error messages.
pub(crate) fn truncate(s: &str) -> String {
    if s.len() <= 80 {
        s.to_string()
    } else {
        let mut end = 80;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}…", &s[..end])
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
        }
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
                    this.hasher.update(&chunk);
                    if let Some(previous) = this.held.replace(chunk) {
                        return Poll::Ready(Some(Ok(previous)));
                    }
                }
                Poll::Ready(None) => {
                    this.done = true;
                    return match this.finish() {
                        Ok(()) => Poll::Ready(this.held.take().map(Ok)),
                        Err(e) => Poll::Ready(Some(Err(e))),
                    };
                }
            }
        }
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
}
