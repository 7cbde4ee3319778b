//! The library's error type: one enum, each variant carrying what was being done and on what.

use std::path::PathBuf;

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What the reason of an [`Error::Unreachable`] that stopped a run (`mid_run`) ends with: the
/// run's writes are whole and the same command resumes it. A caller for whom that is untrue (an
/// inventory, which writes nothing) puts its own words in its place.
pub const RESUME_ADVICE: &str = "; nothing half-written; run the same command again to resume";

/// Everything that can go wrong talking to registries and layouts.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The user named a source or target that cannot be parsed.
    #[error("invalid endpoint `{input}`: {reason}")]
    InvalidEndpoint {
        /// What the user wrote.
        input: String,
        /// What is wrong and what to write instead.
        reason: String,
    },
    /// A request could not be sent or its response could not be read.
    #[error("{method} {url}: {reason}")]
    Connection {
        /// HTTP method.
        method: String,
        /// The URL, without query secrets.
        url: String,
        /// What failed (connect, TLS, timeout, reset).
        reason: String,
    },
    /// A registry that cannot be reached: when it is opened (the reason says what to check), or
    /// one that stopped answering during a run (`mid_run`: every request failed for the give-up
    /// window, so the rest of the work stops instead of being retried item by item).
    #[error("{side} {host}: {reason}")]
    Unreachable {
        /// Which endpoint: `SOURCE`, `TARGET`, or `registry` when the caller did not say.
        side: String,
        /// `host[:port]`.
        host: String,
        /// What failed and what to do.
        reason: String,
        /// True when the registry answered earlier in the run and then stopped: what was done is
        /// complete, and running the same command again resumes.
        mid_run: bool,
        /// What the user changes to reach it.
        mend: Mend,
    },
    /// The server answered with an unexpected HTTP status.
    #[error("{method} {url}: HTTP {status}{}", fmt_registry_error(code, message))]
    Status {
        /// HTTP method.
        method: String,
        /// The URL, without query secrets.
        url: String,
        /// HTTP status code.
        status: u16,
        /// First OCI error code of the error envelope, if any (`MANIFEST_UNKNOWN`, `DENIED`, ...).
        code: Option<String>,
        /// Message of the error envelope, if any.
        message: Option<String>,
    },
    /// Signing in to a registry failed.
    #[error("{registry}: authentication failed ({source_tried}): {reason}")]
    Auth {
        /// The registry host, after its side (`SOURCE`, `TARGET`) when the run names sides.
        registry: String,
        /// Which credential source was tried (never the credential itself).
        source_tried: String,
        /// What the registry or token service said.
        reason: String,
    },
    /// Bytes did not hash to the digest they were fetched by.
    #[error("{what}: content does not match its digest {expected} (got {actual})")]
    DigestMismatch {
        /// What was being read (blob or manifest, and where).
        what: String,
        /// The digest it should have.
        expected: String,
        /// The digest it has.
        actual: String,
    },
    /// Bytes did not have the size their descriptor announces.
    #[error("{what}: expected {expected} bytes, got {actual}")]
    SizeMismatch {
        /// What was being read.
        what: String,
        /// Announced size.
        expected: u64,
        /// Actual size.
        actual: u64,
    },
    /// A manifest, catalog or tag list that cannot be understood.
    #[error("{what}: {reason}")]
    Invalid {
        /// What was being parsed.
        what: String,
        /// What was expected.
        reason: String,
    },
    /// Content that this tool does not copy on purpose (Docker schema 1, for example).
    #[error("{what}: {reason}")]
    Unsupported {
        /// What was met.
        what: String,
        /// Why it is not copied and what to do.
        reason: String,
    },
    /// A Docker schema 1 manifest: deprecated, refused by current registries, and impossible to
    /// convert without changing its digest, so never copied; reported, not failed.
    #[error("Docker schema 1 manifest, which is not copied (it cannot be without changing its digest): push it again with a current client, or leave it out with --exclude-tag/--exclude-repo")]
    Schema1 {
        /// Its media type (signed or not).
        media_type: String,
    },
    /// A blob whose copy failed earlier in the run, after all its attempts: every other tag that
    /// needs it fails with the same cause, instead of trying it all over again.
    #[error("blob {blob}: its copy failed earlier in this run: {cause}")]
    FailedEarlier {
        /// The blob.
        blob: crate::digest::Digest,
        /// Why it failed.
        cause: String,
        /// Whether that failure may pass on a later run.
        transient: bool,
    },
    /// A manifest an index lists is absent from the store that holds the index (read by
    /// digest, answered "not found"): that store is incomplete, and reading it again will not
    /// help. The walk of a graph reports it in place of the plain 404.
    #[error("child {child} of the index {index} is missing in {repository} ({cause})")]
    ChildMissing {
        /// The repository read.
        repository: String,
        /// The index that lists the child.
        index: crate::digest::Digest,
        /// The child manifest's digest.
        child: crate::digest::Digest,
        /// The store's answer.
        cause: String,
    },
    /// A blob a manifest references is absent from the store that holds the manifest (read,
    /// answered "not found"): that store is incomplete, as for [`Error::ChildMissing`].
    #[error("blob {blob} is missing in {repository} ({cause})")]
    BlobMissing {
        /// The repository read.
        repository: String,
        /// The blob's digest.
        blob: crate::digest::Digest,
        /// The store's answer.
        cause: String,
    },
    /// A referrer that the store lists for a manifest (through the referrers API or its
    /// fallback tag) is absent from it: that store is incomplete, as for
    /// [`Error::ChildMissing`].
    #[error("referrer {referrer} of {subject} is missing in {repository} ({cause})")]
    ReferrerMissing {
        /// The repository read.
        repository: String,
        /// The manifest the referrer refers to.
        subject: crate::digest::Digest,
        /// The referrer's digest.
        referrer: crate::digest::Digest,
        /// The store's answer.
        cause: String,
    },
    /// A blob the source serves wrong the same way on two reads: bytes that do not hash to its
    /// digest (damaged in its storage), or not the size the manifest's descriptor gives (a wrong
    /// descriptor). The source is at fault, and copying again will not help, as for
    /// [`Error::ChildMissing`].
    #[error("blob {blob} in {repository} is wrong in the source: {reason}")]
    SourceBlobWrong {
        /// The repository read.
        repository: String,
        /// The blob's digest.
        blob: crate::digest::Digest,
        /// How it is wrong.
        reason: String,
    },
    /// A manifest a store holds whose bytes do not hash to the digest it is stored under (a
    /// layout's file changed on disk): the store is damaged, and reading it again will not help,
    /// as for [`Error::ChildMissing`].
    #[error("{what} is damaged: its content hashes to {actual}, not {digest}")]
    Damaged {
        /// What was read, and where (the file's path).
        what: String,
        /// The digest it is stored under.
        digest: crate::digest::Digest,
        /// The digest of the bytes there.
        actual: String,
    },
    /// An OCI image layout problem.
    #[error("{}: {reason}", path.display())]
    Layout {
        /// The layout path or file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A file system error. The io error's text is part of this one's (it is not also given as
    /// the `source()`, which would print it twice in a chain of causes).
    #[error("{}: {error}", path.display())]
    Io {
        /// The file, as the user named it (or the file within it that failed).
        path: PathBuf,
        /// The underlying error.
        error: std::io::Error,
    },
}

fn fmt_registry_error(code: &Option<String>, message: &Option<String>) -> String {
    match (code, message) {
        (Some(c), Some(m)) if !m.is_empty() => format!(" {c}: {m}"),
        (Some(c), _) => format!(" {c}"),
        (None, Some(m)) if !m.is_empty() => format!(": {m}"),
        _ => String::new(),
    }
}

/// What a user changes to reach a registry that could not be opened ([`Error::Unreachable`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mend {
    /// The endpoint as written: its scheme (`http://` for a registry that answers plain HTTP,
    /// none for one that answers HTTPS).
    Endpoint,
    /// The TLS options: a CA, a client certificate and key, or `--insecure` for a host.
    TlsOptions,
    /// Nothing in the command: the network, a proxy, the registry itself (or wait for it).
    Elsewhere,
}

impl Error {
    /// True when the server said the thing does not exist (HTTP 404).
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::Status { status: 404, .. })
    }

    /// True for content this tool leaves alone on purpose (Docker schema 1, media types it does
    /// not know): a copy reports it as skipped, not failed.
    pub fn is_unsupported(&self) -> bool {
        matches!(self, Error::Unsupported { .. } | Error::Schema1 { .. })
    }

    /// True for a graph whose store lacks a manifest or blob it references
    /// ([`Error::ChildMissing`], [`Error::ReferrerMissing`], [`Error::BlobMissing`]) or holds a
    /// damaged one ([`Error::Damaged`]): the store itself is incomplete, and no retry or re-run
    /// will read it.
    pub fn is_incomplete_store(&self) -> bool {
        matches!(
            self,
            Error::ChildMissing { .. }
                | Error::ReferrerMissing { .. }
                | Error::BlobMissing { .. }
                | Error::SourceBlobWrong { .. }
                | Error::Damaged { .. }
        )
    }

    /// True for failures that may pass if tried again: connection problems, 5xx, 429.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Connection { .. } => true,
            Error::Status { status, .. } => {
                matches!(*status, 408 | 429) || (*status >= 500 && !matches!(*status, 501 | 505))
            }
            // A corrupted transfer may come from a broken connection; the retry re-reads the source.
            Error::SizeMismatch { .. } => true,
            Error::FailedEarlier { transient, .. } => *transient,
            _ => false,
        }
    }

    /// True when the job cannot go on at all (wrong endpoint, no access, unreachable host): the CLI
    /// exits with code 2 (3 for a registry that stopped answering mid-run) instead of listing
    /// per-item failures.
    pub fn is_fatal(&self) -> bool {
        matches!(
            self,
            Error::InvalidEndpoint { .. }
                | Error::Auth { .. }
                | Error::Layout { .. }
                | Error::Unreachable { .. }
        )
    }

    /// True for a registry that answered earlier in the run and then stopped answering: the run
    /// ended early with everything it wrote complete, and the same command resumes it.
    pub fn stopped_answering(&self) -> bool {
        matches!(self, Error::Unreachable { mid_run: true, .. })
    }

    /// What to change to reach the registry of an [`Error::Unreachable`]; `None` for any other
    /// error.
    pub fn mend(&self) -> Option<Mend> {
        match self {
            Error::Unreachable { mend, .. } => Some(*mend),
            _ => None,
        }
    }

    /// A copy of an [`Error::Unreachable`] (errors are not `Clone`, an io error is not), for a
    /// caller that only borrows it; `None` for any other error.
    pub fn unreachable_copy(&self) -> Option<Error> {
        match self {
            Error::Unreachable {
                side,
                host,
                reason,
                mid_run,
                mend,
            } => Some(Error::Unreachable {
                side: side.clone(),
                host: host.clone(),
                reason: reason.clone(),
                mid_run: *mid_run,
                mend: *mend,
            }),
            _ => None,
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, error: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            error,
        }
    }

    pub(crate) fn invalid(what: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Invalid {
            what: what.into(),
            reason: reason.into(),
        }
    }
}
