//! `oci-archive:FILE.tar` (or `.tar.gz` / `.tgz`): a whole-registry OCI layout in one file to
//! carry across an air gap.
//!
//! Reading streams the archive once, entry by entry, into a private temporary layout, checking every
//! blob against its digest as it streams; only `oci-layout`, `index.json` and `blobs/sha256/<hex>`
//! entries are accepted, so an archive can never write outside that directory. Writing builds the
//! layout in a temporary directory and streams it into `FILE.partial-PID` at the end, renamed over
//! `FILE` only when complete: an interrupted export never leaves a truncated archive under the
//! final name. The temporary space needed is the size of the layout.
//!
//! One writer at a time: a writer rewrites the whole archive from its own copy, so two at once
//! would drop each other's tags. A writer holds the exclusive advisory lock of `FILE.lock`, a file
//! beside the archive that it removes when it is done (a run killed outright leaves it, empty and
//! unlocked: the next writer takes it over); a second writer is refused at once. Readers take no
//! lock.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use sha2::{Digest as _, Sha256};

use super::layout::Layout;
use super::{Destination, Forward, Store};
use crate::digest::Digest;
use crate::error::{Error, Result};

/// An archive opened as a layout.
pub struct Archive {
    layout: Layout,
    path: PathBuf,
    writable: bool,
    _workdir: tempfile::TempDir,
    /// A writer's lock on the archive; `None` for a reader.
    _writer_lock: Option<WriterLock>,
}

/// The lock a writer of an archive holds: `FILE.lock` beside it, open and locked, removed (while
/// still locked) when dropped.
struct WriterLock {
    path: PathBuf,
    _file: File,
}

/// Times a writer tries to lock `FILE.lock` when the run that held it removes it meanwhile.
const LOCK_ATTEMPTS: usize = 3;

impl WriterLock {
    /// Locks `archive` for this run, or refuses it when another run holds the lock.
    fn acquire(archive: &Path) -> Result<Self> {
        let name = archive
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let path = archive.with_file_name(format!("{name}.lock"));
        for _ in 0..LOCK_ATTEMPTS {
            let file = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)
                .map_err(|e| Error::io(&path, e))?;
            if !super::layout::try_lock_exclusive(&file).map_err(|e| Error::io(&path, e))? {
                return Err(busy(archive, &path));
            }
            // The run that held it may have removed it between this open and this lock: the
            // lock then guards a file nobody else will open, so the name is taken again.
            if names_same_file(&file, &path) {
                return Ok(WriterLock { path, _file: file });
            }
        }
        Err(busy(archive, &path))
    }
}

impl Drop for WriterLock {
    fn drop(&mut self) {
        // Removed before the lock is released (with the file, after this): a run that opened it
        // meanwhile finds its file gone once it holds the lock, and opens the name again.
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The refusal of a second writer.
fn busy(archive: &Path, lock: &Path) -> Error {
    archive_error(
        archive,
        format!(
            "another run is writing this archive (it holds {}): wait for that run to end, or stop it, then run again",
            lock.display()
        ),
    )
}

/// True when `path` still names the open `file`.
#[cfg(unix)]
fn names_same_file(file: &File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (file.metadata(), std::fs::metadata(path)) {
        (Ok(open), Ok(named)) => open.dev() == named.dev() && open.ino() == named.ino(),
        _ => false,
    }
}

/// True when `path` still names the open `file` (on Windows a file that is open cannot be
/// removed, so it does).
#[cfg(not(unix))]
fn names_same_file(_file: &File, path: &Path) -> bool {
    path.exists()
}

fn archive_error(path: &Path, reason: impl Into<String>) -> Error {
    Error::Layout {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

fn compressed(path: &Path) -> bool {
    let name = path.to_string_lossy();
    name.ends_with(".gz") || name.ends_with(".tgz")
}

impl Archive {
    /// Opens an archive for reading: it must exist and hold a valid layout.
    pub fn open(path: &Path) -> Result<Self> {
        let workdir = tempfile::tempdir().map_err(|e| Error::io(std::env::temp_dir(), e))?;
        let root = workdir.path().join("layout");
        unpack(path, &root)?;
        Ok(Archive {
            layout: Layout::open(&root)?,
            path: path.to_path_buf(),
            writable: false,
            _workdir: workdir,
            _writer_lock: None,
        })
    }

    /// Opens an archive to write: an existing one is continued, a missing one created (its
    /// directory must exist). The archive is locked for this writer until it is dropped: one
    /// another run is writing is refused.
    pub fn create(path: &Path) -> Result<Self> {
        let parent = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        if !parent.is_dir() {
            return Err(archive_error(path, "its directory does not exist"));
        }
        if path.is_dir() {
            return Err(archive_error(
                path,
                "is a directory: an archive is a file (use oci:DIR for a directory)",
            ));
        }
        let lock = WriterLock::acquire(path)?;
        let workdir = tempfile::tempdir().map_err(|e| Error::io(std::env::temp_dir(), e))?;
        let root = workdir.path().join("layout");
        if path.exists() {
            unpack(path, &root)?;
        }
        Ok(Archive {
            layout: Layout::create(&root)?,
            path: path.to_path_buf(),
            writable: true,
            _workdir: workdir,
            _writer_lock: Some(lock),
        })
    }
}

/// Streams an archive into a new layout directory, verifying every blob.
pub fn unpack(archive: &Path, root: &Path) -> Result<()> {
    let file = File::open(archive).map_err(|e| Error::io(archive, e))?;
    let mut reader = BufReader::new(file);
    let mut magic = [0u8; 2];
    let gz = {
        let n = reader
            .get_mut()
            .read(&mut magic)
            .map_err(|e| Error::io(archive, e))?;
        use std::io::Seek;
        reader
            .get_mut()
            .seek(std::io::SeekFrom::Start(0))
            .map_err(|e| Error::io(archive, e))?;
        n == 2 && magic == [0x1f, 0x8b]
    };
    let input: Box<dyn Read> = if gz {
        Box::new(flate2::read::GzDecoder::new(reader))
    } else {
        Box::new(reader)
    };
    let blobs = root.join("blobs").join("sha256");
    std::fs::create_dir_all(&blobs).map_err(|e| Error::io(root, e))?;
    let truncated =
        |e: std::io::Error| archive_error(archive, format!("truncated or not a tar archive: {e}"));
    let mut tar = tar::Archive::new(input);
    let mut seen_layout = false;
    let mut seen_index = false;
    for entry in tar.entries().map_err(truncated)? {
        let mut entry = entry.map_err(truncated)?;
        let kind = entry.header().entry_type();
        let name = entry
            .path()
            .map_err(truncated)?
            .to_string_lossy()
            .trim_start_matches("./")
            .to_string();
        if kind.is_dir() {
            continue;
        }
        if !kind.is_file() {
            return Err(archive_error(
                archive,
                format!(
                    "entry `{}` is not a regular file",
                    crate::digest::truncate(&name)
                ),
            ));
        }
        let target = match name.as_str() {
            "oci-layout" => {
                seen_layout = true;
                root.join("oci-layout")
            }
            "index.json" => {
                seen_index = true;
                root.join("index.json")
            }
            other => match other.strip_prefix("blobs/sha256/") {
                Some(hex) if format!("sha256:{hex}").parse::<Digest>().is_ok() => blobs.join(hex),
                _ => {
                    return Err(archive_error(
                        archive,
                        format!("unexpected entry `{}`: an OCI archive holds only oci-layout, index.json and blobs/sha256/", crate::digest::truncate(other)),
                    ))
                }
            },
        };
        let tmp = target.with_extension("partial");
        let mut out = BufWriter::new(File::create(&tmp).map_err(|e| Error::io(&tmp, e))?);
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 256 * 1024];
        let announced = entry.header().size().map_err(truncated)?;
        let mut written = 0u64;
        loop {
            let n = entry.read(&mut buf).map_err(truncated)?;
            if n == 0 {
                break;
            }
            written += n as u64;
            hasher.update(&buf[..n]);
            out.write_all(&buf[..n]).map_err(|e| Error::io(&tmp, e))?;
        }
        out.flush().map_err(|e| Error::io(&tmp, e))?;
        drop(out);
        if written != announced {
            let _ = std::fs::remove_file(&tmp);
            return Err(archive_error(
                archive,
                format!("truncated archive: entry `{name}` has {written} of its {announced} bytes"),
            ));
        }
        if let Some(hex) = name.strip_prefix("blobs/sha256/") {
            let actual = hex::encode(hasher.finalize());
            if actual != hex {
                let _ = std::fs::remove_file(&tmp);
                return Err(Error::DigestMismatch {
                    what: format!("{}: blob {hex}", archive.display()),
                    expected: format!("sha256:{hex}"),
                    actual: format!("sha256:{actual}"),
                });
            }
        }
        std::fs::rename(&tmp, &target).map_err(|e| Error::io(&target, e))?;
    }
    if !seen_layout || !seen_index {
        return Err(archive_error(
            archive,
            "not an OCI archive: `oci-layout` or `index.json` is missing",
        ));
    }
    // An archive cut at an entry boundary reads as a shorter valid tar: every manifest that
    // index.json lists must have arrived.
    let index: serde_json::Value = serde_json::from_slice(
        &std::fs::read(root.join("index.json")).map_err(|e| Error::io(root, e))?,
    )
    .map_err(|e| archive_error(archive, format!("index.json is not JSON: {e}")))?;
    for m in index["manifests"].as_array().into_iter().flatten() {
        let digest = m["digest"].as_str().unwrap_or_default();
        if let Some(hex) = digest.strip_prefix("sha256:") {
            if hex.len() == 64 && !blobs.join(hex).exists() {
                return Err(archive_error(
                    archive,
                    format!("truncated archive: manifest {digest} listed in index.json is missing"),
                ));
            }
        }
    }
    Ok(())
}

/// Streams a layout directory into an archive file, atomically: written beside it (a new file),
/// finished (the gzip trailer too: its errors are not left to a drop), synced, then renamed.
pub fn pack(root: &Path, archive: &Path) -> Result<()> {
    let tmp = archive.with_file_name(format!(
        "{}.partial-{}",
        archive
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        std::process::id()
    ));
    let result = (|| -> Result<()> {
        let io = |e: std::io::Error| Error::io(&tmp, e);
        let file = super::layout::create_fresh(&tmp).map_err(io)?;
        let buffered = if compressed(archive) {
            let gz =
                flate2::write::GzEncoder::new(BufWriter::new(file), flate2::Compression::fast());
            write_tar(root, gz, &tmp)?.finish().map_err(io)?
        } else {
            write_tar(root, BufWriter::new(file), &tmp)?
        };
        let file = buffered.into_inner().map_err(|e| io(e.into_error()))?;
        file.sync_all().map_err(io)?;
        drop(file);
        std::fs::rename(&tmp, archive).map_err(|e| Error::io(archive, e))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// The layout at `root` as a tar stream into `writer` (errors named after `tmp`); returns the
/// writer, for the caller to finish.
fn write_tar<W: Write>(root: &Path, writer: W, tmp: &Path) -> Result<W> {
    let io = |e: std::io::Error| Error::io(tmp, e);
    let mut tar = tar::Builder::new(writer);
    tar.append_path_with_name(root.join("oci-layout"), "oci-layout")
        .map_err(io)?;
    tar.append_path_with_name(root.join("index.json"), "index.json")
        .map_err(io)?;
    let mut blobs: Vec<_> = std::fs::read_dir(root.join("blobs/sha256"))
        .map_err(io)?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.len() == 64)
        .collect();
    blobs.sort();
    for hex in blobs {
        tar.append_path_with_name(
            root.join("blobs/sha256").join(&hex),
            format!("blobs/sha256/{hex}"),
        )
        .map_err(io)?;
    }
    tar.into_inner().map_err(io)
}

#[async_trait]
impl Forward for Archive {
    fn inner(&self) -> &dyn Store {
        &self.layout
    }
    async fn finish(&self) -> Result<()> {
        self.layout.finish().await?;
        if self.writable {
            let root = self._workdir.path().join("layout");
            let archive = self.path.clone();
            tokio::task::spawn_blocking(move || pack(&root, &archive))
                .await
                .map_err(|e| archive_error(&self.path, format!("packing stopped: {e}")))??;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_writer_of_an_archive_is_refused_and_the_lock_file_goes_with_the_first() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("registry.tar");
        let writer = Archive::create(&path).unwrap();
        let refused = Archive::create(&path)
            .err()
            .expect("a second writer refused");
        let text = refused.to_string();
        assert!(
            text.contains("registry.tar: another run is writing this archive")
                && text.contains("registry.tar.lock"),
            "{text}"
        );
        drop(writer);
        assert!(!dir.path().join("registry.tar.lock").exists());
        drop(Archive::create(&path).unwrap());
        // A lock file a killed run left is taken over.
        std::fs::write(dir.path().join("registry.tar.lock"), "").unwrap();
        drop(Archive::create(&path).unwrap());
        assert!(!dir.path().join("registry.tar.lock").exists());
    }
}
