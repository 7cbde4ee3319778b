//! The error type of the rewrite library: one enum, each variant carrying the file or value it is about.

use std::path::PathBuf;

/// Everything that can go wrong while finding, planning or writing rewrites.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// `--from` or `--to` is not a registry login server (`host` or `host:port`).
    #[error("`{value}` is not a registry login server: {reason}")]
    InvalidRegistry {
        /// The value as given.
        value: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// A file could not be parsed; it is left untouched.
    #[error("{}:{line}: {message}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// 1-based line of the problem.
        line: usize,
        /// What is wrong there.
        message: String,
    },
    /// A file or directory could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A path named on the command line is neither a file nor a directory (a FIFO, a socket, a
    /// device): it is not read.
    #[error("{} is {what}, not a regular file: not read (name files and directories)", path.display())]
    NotAFile {
        /// The path.
        path: PathBuf,
        /// What it is (`a FIFO (named pipe)`, `a socket`, `a device`).
        what: &'static str,
    },
    /// Some paths or files could not be read ([`Plan::failures`]), so nothing was written: a
    /// rewrite is never half done across the paths given.
    ///
    /// [`Plan::failures`]: crate::Plan::failures
    #[error("nothing was written: {count} path(s) or file(s) could not be read")]
    Unread {
        /// How many failed.
        count: usize,
    },
    /// A file is not UTF-8 text.
    #[error("{} is not UTF-8 text", path.display())]
    NotText {
        /// The file.
        path: PathBuf,
    },
    /// A directory walk failed (permissions, a broken `.gitignore`, a symlink loop).
    #[error("cannot walk {}: {message}", path.display())]
    Walk {
        /// Where the walk failed.
        path: PathBuf,
        /// What the walker said.
        message: String,
    },
    /// A file to rewrite is read-only (no write permission, or none for this user); it is left
    /// as it is rather than replaced behind its permissions.
    #[error("{} is read-only: not rewritten (make it writable and run again)", path.display())]
    ReadOnly {
        /// The file.
        path: PathBuf,
    },
    /// A file to rewrite is in a read-only directory (no write permission, or none for this
    /// user): the temporary file of an atomic replace cannot be created beside it.
    #[error("{} is in a read-only directory ({}): the rewritten file cannot be put in its place", path.display(), directory.display())]
    ReadOnlyDirectory {
        /// The file.
        path: PathBuf,
        /// Its directory (symbolic links followed).
        directory: PathBuf,
    },
    /// A file to rewrite has other names (hard links). Replacing it atomically would give this
    /// name a new file and leave the other names with the old content, so it is refused, and
    /// nothing is written, unless hard-linked files are written in place. The message names no
    /// remedy: the setting that writes them in place depends on the command.
    #[error("{} has {links} hard links: replacing it would leave its other names with the old content", path.display())]
    HardLinked {
        /// The file.
        path: PathBuf,
        /// How many names it has.
        links: u64,
    },
    /// Some files cannot be written ([`Error::HardLinked`], [`Error::ReadOnly`],
    /// [`Error::ReadOnlyDirectory`]), so nothing was written.
    #[error("nothing was written: {}", refused.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Refused {
        /// Why each file is refused.
        refused: Vec<Error>,
    },
    /// A rewritten file could not be written back.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// Digest pinning was asked for without a resolver to read digests from.
    #[error("pinning digests needs a target registry to read them from")]
    PinWithoutResolver,
    /// Some references could not be resolved in the target, so nothing was written.
    #[error("{count} reference(s) are missing from the target or could not be checked; nothing was written")]
    Blocked {
        /// How many references are in trouble.
        count: usize,
    },
}

impl Error {
    /// True when the error is about the content of a file (the file is named with a line).
    pub fn is_parse(&self) -> bool {
        matches!(self, Error::Parse { .. })
    }

    /// True for a file refused because it has several hard links ([`Error::HardLinked`]):
    /// writing it in place is the remedy.
    pub fn is_hard_linked(&self) -> bool {
        matches!(self, Error::HardLinked { .. })
    }

    /// True for a file refused because it or its directory is read-only ([`Error::ReadOnly`],
    /// [`Error::ReadOnlyDirectory`]): making them writable is the remedy.
    pub fn is_read_only(&self) -> bool {
        matches!(
            self,
            Error::ReadOnly { .. } | Error::ReadOnlyDirectory { .. }
        )
    }
}
