//! `oci-archive:FILE.tar` (or `.tar.gz` / `.tgz`): a whole-registry OCI layout in one file to
//! carry across an air gap.
//!
//! Reading streams the archive once, entry by entry, into a private temporary layout, checking every
//! blob against its digest as it streams; only `oci-layout`, `index.json` and `blobs/sha256/<hex>`
//! entries are read, so an archive can never write outside that directory. Other entries (the
//! `manifest.json` and `repositories` that Docker 25+ `docker save` writes beside the layout) are
//! ignored, as the directory reader ignores them (said at `-v`); a writer keeps them as they are
//! and writes them back unchanged when it updates the archive. An old-format `docker save` tar
//! (no `index.json`, `<id>/layer.tar` entries) is refused with how to turn it into a layout. Writing builds the
//! layout in a temporary directory and streams it into `FILE.partial-PID` at the end, renamed over
//! `FILE` only when complete: an interrupted export never leaves a truncated archive under the
//! final name (and the next writer removes what a run killed outright left as `FILE.partial-*`).
//! The temporary space needed is the size of the layout. The new file gets the mode and group of
//! the one it replaces; a `FILE` that is a symbolic link is written through it (the file it leads
//! to is replaced, the link stays); a run that changed nothing leaves the archive untouched.
//!
//! Only tar and gzip-compressed tar are read: a file compressed otherwise (xz, zstd, bzip2) or a
//! zip is named as such, with the command that decompresses it.
//!
//! Packing can take a while for a large archive. The library watches no signal: a caller that
//! does asks [`packing`] how far the packing in progress is (to say how long finishing takes) and
//! calls [`stop_packing`] to stop it: the partial file is removed, the archive stays as it was,
//! and the packing ends with an error that says so (one that starts later in the run does not
//! start); a stop that comes once the new archive is in place is told so.
//!
//! One writer at a time: a writer rewrites the whole archive from its own copy, so two at once
//! would drop each other's tags. A writer holds the exclusive advisory lock of `FILE.lock`, a file
//! beside the archive that it removes when it is done (a run killed outright leaves it, empty and
//! unlocked: the next writer takes it over); a second writer is refused at once. Readers take no
//! lock.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use sha2::{Digest as _, Sha256};

use super::layout::Layout;
use super::{Forward, Store};
use crate::digest::Digest;
use crate::error::{Error, Result};

/// An archive opened as a layout.
pub struct Archive {
    layout: Layout,
    /// The archive as the user named it, for messages.
    path: PathBuf,
    /// The file written: `path`, or the file it leads to when it is a symbolic link.
    file: PathBuf,
    /// True when `file` existed when the writer opened it (it is rewritten only on a change).
    existed: bool,
    /// The entries beside the layout that a writer keeps (paths in the archive, in its order),
    /// their content under `extra` in the work directory: written back as they were.
    extras: Vec<String>,
    writable: bool,
    _workdir: WorkDir,
    /// A writer's lock on the archive; `None` for a reader (and a writer on a read-only file
    /// system, where nothing can be written).
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
/// Symbolic links followed from an archive's name to its file, at most.
const MAX_LINKS: usize = 40;
/// `EROFS`, "read-only file system" (the same number on Linux, macOS and the BSDs; Unix only).
const EROFS: i32 = 30;

impl WriterLock {
    /// Locks `archive` for this run, or refuses it when another run holds the lock. On a read-only
    /// file system, or in a directory this user may not write, no lock file can be made, and no
    /// run can write the archive there either: `None`, and the run goes on (a run that finds
    /// nothing to change never writes; one that does fails on its own write).
    fn acquire(archive: &Path) -> Result<Option<Self>> {
        let name = archive
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let path = archive.with_file_name(format!("{name}.lock"));
        let open = |create: bool| {
            let mut options = std::fs::OpenOptions::new();
            options.read(true).write(true);
            if create {
                // Never through a symbolic link: `O_EXCL` makes a new file or fails.
                options.create_new(true);
            }
            options.open(&path)
        };
        for _ in 0..LOCK_ATTEMPTS {
            let opened = match open(true) {
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let link =
                        std::fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink());
                    if link {
                        // Not a lock file of ours (a plain file): a link someone planted so that
                        // a file would be made where it leads. Removed, and the name taken.
                        let _ = std::fs::remove_file(&path);
                        continue;
                    }
                    match open(false) {
                        // Removed by the run that held it, after this run's first try.
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                        other => other,
                    }
                }
                other => other,
            };
            let file = match opened {
                Ok(file) => file,
                Err(e) if cfg!(unix) && e.raw_os_error() == Some(EROFS) => return Ok(None),
                Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => return Ok(None),
                Err(e) => return Err(Error::io(&path, e)),
            };
            if !super::layout::try_lock_exclusive(&file).map_err(|e| Error::io(&path, e))? {
                return Err(busy(archive, &path));
            }
            // The run that held it may have removed it between this open and this lock: the
            // lock then guards a file nobody else will open, so the name is taken again.
            if names_same_file(&file, &path) {
                return Ok(Some(WriterLock { path, _file: file }));
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

/// True when an archive named `path` is written gzip-compressed (`.gz`, `.tgz`, in any case).
/// The first two bytes of every gzip stream.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// True when the file at `path` starts as a gzip stream does.
fn is_gzip_file(path: &Path) -> bool {
    let mut magic = [0u8; 2];
    File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .is_ok_and(|()| magic == GZIP_MAGIC)
}

fn compressed(path: &Path) -> bool {
    crate::endpoint::archive_name_is_gzip(path)
}

/// The repository the entries of an archive that name no repository are read as: its file name
/// without `.tar`, `.tar.gz` or `.tgz` (in any case).
fn name_of(path: &Path) -> Option<String> {
    crate::endpoint::archive_stem(path)
}

/// The file `path` leads to through symbolic links (`path` itself when it is none; the file a
/// dangling link names, which the writer then creates).
pub fn follow_links(path: &Path) -> Result<PathBuf> {
    let mut current = path.to_path_buf();
    for _ in 0..MAX_LINKS {
        match std::fs::symlink_metadata(&current) {
            Ok(meta) if meta.file_type().is_symlink() => {
                let next = std::fs::read_link(&current).map_err(|e| Error::io(&current, e))?;
                current = match current.parent() {
                    Some(dir) if next.is_relative() => dir.join(next),
                    _ => next,
                };
            }
            _ => return Ok(current),
        }
    }
    Err(archive_error(
        path,
        format!("more than {MAX_LINKS} symbolic links lead from it: name the archive file itself"),
    ))
}

/// The directory an archive is unpacked into, in `$TMPDIR` (`acr-relocate-archive-XXXXXX`),
/// removed when dropped. It holds `owner.lock`, locked while its run lives: a run killed outright
/// (SIGKILL, an OOM kill) leaves the directory, as large as the unpacked archive, and the next
/// run that opens an archive removes every such directory whose lock it can take (its owner is
/// gone; a lock holds across PID namespaces, where a process number would not).
struct WorkDir {
    dir: tempfile::TempDir,
    _owner: File,
}

/// The name every work directory starts with.
const WORKDIR_PREFIX: &str = "acr-relocate-archive-";
/// The lock file in a work directory.
const WORKDIR_LOCK: &str = "owner.lock";

impl WorkDir {
    fn new() -> std::io::Result<Self> {
        let dir = tempfile::Builder::new().prefix(WORKDIR_PREFIX).tempdir()?;
        let owner = File::create(dir.path().join(WORKDIR_LOCK))?;
        super::layout::try_lock_exclusive(&owner)?;
        let workdir = WorkDir { dir, _owner: owner };
        workdir.remove_abandoned();
        Ok(workdir)
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Removes the work directories of runs that ended without removing theirs: only real
    /// directories (never through a link) of this user whose `owner.lock` this run can lock.
    fn remove_abandoned(&self) {
        let Some(parent) = self.path().parent() else {
            return;
        };
        let Ok(entries) = std::fs::read_dir(parent) else {
            return;
        };
        let mine = std::fs::symlink_metadata(self.path()).ok();
        for entry in entries.flatten() {
            let path = entry.path();
            if path == self.path()
                || !entry
                    .file_name()
                    .to_str()
                    .is_some_and(|n| n.starts_with(WORKDIR_PREFIX))
            {
                continue;
            }
            let Ok(meta) = std::fs::symlink_metadata(&path) else {
                continue;
            };
            if !meta.is_dir() || !same_owner(&meta, mine.as_ref()) {
                continue;
            }
            let Ok(lock) = File::open(path.join(WORKDIR_LOCK)) else {
                continue;
            };
            if super::layout::try_lock_exclusive(&lock).unwrap_or(false) {
                let _ = std::fs::remove_dir_all(&path);
            }
        }
    }
}

/// True when both entries belong to the same user (always on systems without owners).
#[cfg(unix)]
fn same_owner(a: &std::fs::Metadata, b: Option<&std::fs::Metadata>) -> bool {
    use std::os::unix::fs::MetadataExt;
    b.is_some_and(|b| a.uid() == b.uid())
}

/// True when both entries belong to the same user (always on systems without owners).
#[cfg(not(unix))]
fn same_owner(_: &std::fs::Metadata, _: Option<&std::fs::Metadata>) -> bool {
    true
}

/// Removes what writers killed outright left beside `file` (`FILE.partial-PID`, as large as the
/// archive): only a writer holding the archive's lock calls it, so no other run is writing them.
fn remove_stale_partials(file: &Path) {
    let (Some(dir), Some(name)) = (file.parent(), file.file_name()) else {
        return;
    };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let prefix = format!("{}.partial-", name.to_string_lossy());
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let stale = entry
            .file_name()
            .to_str()
            .and_then(|n| n.strip_prefix(&prefix))
            .is_some_and(|pid| !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()));
        if stale && entry.file_type().is_ok_and(|t| t.is_file()) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

impl Archive {
    /// Opens an archive for reading: it must exist and hold a valid layout.
    pub fn open(path: &Path) -> Result<Self> {
        let workdir = WorkDir::new().map_err(|e| Error::io(std::env::temp_dir(), e))?;
        let root = workdir.path().join("layout");
        unpack(path, &root)?;
        let unnamed = super::layout::Unnamed::ReadAs {
            name: name_of(path),
            shown: path.to_path_buf(),
        };
        Ok(Archive {
            layout: Layout::open_reading(&root, unnamed)?,
            path: path.to_path_buf(),
            file: path.to_path_buf(),
            existed: true,
            extras: Vec::new(),
            writable: false,
            _workdir: workdir,
            _writer_lock: None,
        })
    }

    /// Opens an archive to write: an existing one is continued, a missing one created (its
    /// directory must exist); a symbolic link is followed to the file it leads to. The archive
    /// is locked for this writer until it is dropped: one another run is writing is refused.
    pub fn create(path: &Path) -> Result<Self> {
        let file = follow_links(path)?;
        let parent = file
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        if !parent.is_dir() {
            return Err(archive_error(path, "its directory does not exist"));
        }
        if file.is_dir() {
            return Err(archive_error(
                path,
                "is a directory: an archive is a file (use oci:DIR for a directory)",
            ));
        }
        // A device or a pipe (`/dev/null`, `/dev/stdout`) would be replaced by the rename that
        // puts the archive in place (as root, the device itself): refused before any copying.
        if file.exists() && !file.is_file() {
            return Err(archive_error(
                path,
                "is not a regular file (a device or a pipe): an archive is written beside its path and renamed into place; give the path of a file",
            ));
        }
        let lock = WriterLock::acquire(&file)?;
        // An empty file (made by `mktemp --suffix .tar`, say) is a new archive to write.
        let existed = file.metadata().is_ok_and(|m| m.len() > 0);
        match lock {
            Some(_) => remove_stale_partials(&file),
            // No lock file could be made there, so no archive either: said before any copying
            // (an existing archive may need no change, which reads it only).
            None if !existed => {
                return Err(archive_error(
                    path,
                    format!(
                        "cannot be created: its directory {} is on a read-only file system or not writable by this user; give write access to it, or name an archive elsewhere",
                        parent.display()
                    ),
                ))
            }
            None => {}
        }
        let workdir = WorkDir::new().map_err(|e| {
            archive_error(
                path,
                format!(
                    "no temporary directory to build it in ({e}, in {}): set TMPDIR to a writable directory with room, then run the same command again",
                    std::env::temp_dir().display()
                ),
            )
        })?;
        let root = workdir.path().join("layout");
        let extras = match existed {
            true => unpack_keeping(&file, &root, Some(&workdir.path().join("extra")))?,
            false => Vec::new(),
        };
        let mut layout = Layout::create(&root)?
            .reading_unnamed_as(name_of(path))
            .building(path);
        if lock.is_none() {
            // An existing archive where no lock file could be made: it is read, and a run with
            // nothing to change succeeds, but the first change is refused before any copying.
            layout = layout.refusing_changes(format!(
                "cannot be updated: its directory {} is on a read-only file system or not writable by this user, so nothing was changed; give write access to it, or copy into an archive elsewhere",
                parent.display()
            ));
        }
        Ok(Archive {
            layout,
            path: path.to_path_buf(),
            file,
            existed,
            extras,
            writable: true,
            _workdir: workdir,
            _writer_lock: lock,
        })
    }
}

/// The kind of a file that starts with `magic` and is neither tar nor gzip, with what turns it
/// into one that is read: a compressed file or a zip.
fn other_format(magic: &[u8]) -> Option<(&'static str, &'static str)> {
    const KINDS: [(&[u8], &str, &str); 6] = [
        (
            &[0xfd, b'7', b'z', b'X', b'Z', 0x00],
            "xz-compressed file",
            "decompress it first (xz -d)",
        ),
        (
            &[0x28, 0xb5, 0x2f, 0xfd],
            "zstd-compressed file",
            "decompress it first (zstd -d)",
        ),
        (
            b"BZh",
            "bzip2-compressed file",
            "decompress it first (bunzip2)",
        ),
        (
            &[b'7', b'z', 0xbc, 0xaf, 0x27, 0x1c],
            "7-Zip file",
            "extract the tar from it first (7z x)",
        ),
        (
            b"PK\x03\x04",
            "zip file",
            "extract the tar from it first (unzip)",
        ),
        (
            b"PK\x05\x06",
            "zip file",
            "extract the tar from it first (unzip)",
        ),
    ];
    KINDS
        .iter()
        .find(|(start, _, _)| magic.starts_with(start))
        .map(|(_, kind, undo)| (*kind, *undo))
}

/// Streams an archive into a new layout directory, verifying every blob; entries beside the
/// layout are ignored.
pub fn unpack(archive: &Path, root: &Path) -> Result<()> {
    unpack_keeping(archive, root, None).map(|_| ())
}

/// The refusal of an old-format `docker save` tar.
fn docker_save(archive: &Path) -> Error {
    let shown = archive.display();
    archive_error(
        archive,
        format!("is a `docker save` archive in Docker's own format (manifest.json and <id>/layer.tar, no index.json), not an OCI archive: `docker load -i {shown}`, push the image to a registry and copy from there, or export it with `skopeo copy docker-archive:{shown} oci:DIR:REPOSITORY:TAG` and copy `oci:DIR`"),
    )
}

/// `name` as a relative path of normal components only (no `..`, no root), to keep it under a
/// directory of this run; `None` for any other.
fn safe_relative(name: &str) -> Option<PathBuf> {
    let path = Path::new(name);
    let normal = path
        .components()
        .all(|c| matches!(c, std::path::Component::Normal(_)));
    (normal && !name.is_empty()).then(|| path.to_path_buf())
}

/// [`unpack`], keeping the regular files beside the layout under `keep` when given (a writer's):
/// returns their names in the archive, in its order.
fn unpack_keeping(archive: &Path, root: &Path, keep: Option<&Path>) -> Result<Vec<String>> {
    let file = File::open(archive).map_err(|e| Error::io(archive, e))?;
    let mut reader = BufReader::new(file);
    let mut magic = [0u8; 8];
    let gz = {
        let mut n = 0;
        // A short read is not the end of the file: read until the bytes are there or it ends.
        while n < magic.len() {
            match reader.get_mut().read(&mut magic[n..]) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Error::io(archive, e)),
            }
        }
        use std::io::Seek;
        reader
            .get_mut()
            .seek(std::io::SeekFrom::Start(0))
            .map_err(|e| Error::io(archive, e))?;
        if let Some((kind, undo)) = other_format(&magic[..n]) {
            return Err(archive_error(
                archive,
                format!("is a {kind}: only tar and gzip-compressed tar are read: {undo}"),
            ));
        }
        magic[..n].starts_with(&GZIP_MAGIC)
    };
    // Every member of the file (gzip, tar and Go read them all: `cat a.gz b.gz`, bgzip and
    // appending writers make several), not the first alone.
    let mut input: Box<dyn Read> = if gz {
        Box::new(flate2::read::MultiGzDecoder::new(reader))
    } else {
        Box::new(reader)
    };
    // The first block must be a tar header before the tar reader sees it: its errors quote the
    // header's bytes, and a file named by mistake (a credentials file) must never be shown.
    let mut head = Vec::with_capacity(TAR_BLOCK);
    (&mut input)
        .take(TAR_BLOCK as u64)
        .read_to_end(&mut head)
        .map_err(|e| unreadable(archive, e, 0, gz))?;
    if let Some(why) = not_a_tar_header(&head) {
        let what = if gz {
            "a gzip-compressed tar archive"
        } else {
            "a tar archive"
        };
        return Err(archive_error(
            archive,
            format!("not {what}: {why}: give an OCI archive, as `acr-relocate copy SOURCE oci-archive:FILE.tar` or `skopeo copy IMAGE oci-archive:FILE.tar` make one (or `tar -C LAYOUT -cf FILE.tar .` of an OCI layout)"),
        ));
    }
    let input = std::io::Cursor::new(head).chain(input);
    let blobs = root.join("blobs").join("sha256");
    std::fs::create_dir_all(&blobs).map_err(|e| Error::io(root, e))?;
    let count = std::rc::Rc::new(std::cell::Cell::new(0u64));
    let truncated = |e: std::io::Error| unreadable(archive, e, count.get(), gz);
    let mut tar = tar::Archive::new(ReadCount {
        inner: input,
        count: count.clone(),
    });
    // Where the header after the last entry starts: the end-of-archive marker, when the file is
    // whole (see the check after the loop).
    let mut next_header = 0u64;
    let mut last_entry = None;
    let mut seen_layout = false;
    let mut seen_index = false;
    let mut seen_docker_manifest = false;
    let mut nested_layout: Option<String> = None;
    let mut kept = Vec::new();
    for entry in tar.entries().map_err(truncated)? {
        let mut entry = entry.map_err(truncated)?;
        let kind = entry.header().entry_type();
        let name = entry
            .path()
            .map_err(truncated)?
            .to_string_lossy()
            .trim_start_matches("./")
            .to_string();
        let stored = entry.header().entry_size().map_err(truncated)?;
        next_header = entry.raw_file_position() + stored.div_ceil(512) * 512;
        last_entry = Some(name.clone());
        if kind.is_dir() {
            continue;
        }
        let layout_entry = matches!(name.as_str(), "oci-layout" | "index.json")
            || name
                .strip_prefix("blobs/sha256/")
                .is_some_and(|hex| format!("sha256:{hex}").parse::<Digest>().is_ok());
        if !layout_entry {
            seen_docker_manifest |= name == "manifest.json";
            // A layout packed from its parent directory (`tar -czf x.tgz lay1`): said below.
            if nested_layout.is_none() {
                nested_layout = name.strip_suffix("/oci-layout").map(str::to_string);
            }
            // Docker's own format: a directory per layer, named by its id.
            let layer_dir = name
                .strip_suffix("/layer.tar")
                .is_some_and(|id| id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit()));
            if layer_dir {
                return Err(docker_save(archive));
            }
            let shown = crate::digest::truncate(&name);
            let place = keep
                .filter(|_| kind.is_file())
                .and_then(|dir| Some(dir.join(safe_relative(&name)?)));
            let Some(place) = place else {
                crate::log::emit(1, || {
                    format!(
                        "{}: entry `{shown}` is not part of the OCI layout: ignored",
                        archive.display()
                    )
                });
                continue;
            };
            room_for(
                archive,
                root,
                &name,
                entry.header().size().map_err(truncated)?,
            )?;
            let copied = place
                .parent()
                .map_or(Ok(()), std::fs::create_dir_all)
                .and_then(|()| File::create(&place))
                .and_then(|mut out| std::io::copy(&mut entry, &mut out));
            match copied {
                Ok(_) => {
                    crate::log::emit(1, || {
                        format!(
                            "{}: entry `{shown}` is not part of the OCI layout: kept as it is",
                            archive.display()
                        )
                    });
                    kept.push(name);
                }
                Err(e) => crate::log::emit(1, || {
                    format!(
                        "{}: entry `{shown}` is not part of the OCI layout: not kept ({e})",
                        archive.display()
                    )
                }),
            }
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
        let announced = entry.header().size().map_err(truncated)?;
        let most = match name.as_str() {
            "oci-layout" => Some(super::layout::MAX_MARKER_BYTES),
            "index.json" => Some(super::layout::MAX_INDEX_BYTES),
            _ => None,
        };
        if most.is_some_and(|most| announced > most) {
            return Err(archive_error(
                archive,
                format!("its `{name}` is {announced} bytes, more than a layout's holds: not an OCI archive this tool reads"),
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
                Some(hex) => blobs.join(hex),
                None => unreachable!("a layout entry is oci-layout, index.json or a blob"),
            },
        };
        room_for(archive, root, &name, announced)?;
        let tmp = target.with_extension("partial");
        let mut out = BufWriter::new(File::create(&tmp).map_err(|e| Error::io(&tmp, e))?);
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 256 * 1024];
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
    // A tar ends with a zero block where the next header would be; a file that ends at a
    // header instead was cut at an entry boundary (the tar reader takes that end for the
    // archive's), and whatever came after is missing: refused, never read or rewritten short.
    drop(tar);
    let read = count.get();
    if read < next_header + 512 {
        return Err(archive_error(
            archive,
            match last_entry {
                Some(name) => format!(
                    "truncated archive: it ends after the entry `{}` without the end-of-archive marker, so what came after is missing: copy or write the archive again",
                    crate::digest::truncate(&name)
                ),
                None => "truncated or not a tar archive: no entry and no end-of-archive marker".to_string(),
            },
        ));
    }
    if !seen_index && seen_docker_manifest {
        return Err(docker_save(archive));
    }
    if !seen_layout || !seen_index {
        if let (Some(dir), false) = (&nested_layout, seen_layout) {
            let dir = crate::log::printable(dir);
            return Err(archive_error(
                archive,
                format!(
                    "not an OCI archive: its layout is in the directory `{dir}/` inside it, not at its top (packed from the layout's parent directory): pack it from inside the layout, `tar -C {dir} -cf FILE.tar .` (`-czf FILE.tar.gz` compressed), and read that"
                ),
            ));
        }
        return Err(archive_error(
            archive,
            "not an OCI archive: `oci-layout` or `index.json` is missing",
        ));
    }
    // An archive cut at an entry boundary reads as a shorter valid tar: every manifest that
    // index.json lists must have arrived.
    let index_path = root.join("index.json");
    let index: serde_json::Value = serde_json::from_slice(
        &super::layout::read_bounded(&index_path, super::layout::MAX_INDEX_BYTES)
            .map_err(|e| Error::io(&index_path, e))?,
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
    Ok(kept)
}

/// A reader that counts the bytes read through it: how far into the (decompressed) tar stream
/// the tar reader went.
struct ReadCount<R> {
    inner: R,
    count: std::rc::Rc<std::cell::Cell<u64>>,
}

impl<R: Read> Read for ReadCount<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.set(self.count.get() + n as u64);
        Ok(n)
    }
}

/// The size of a tar header (and of every tar block).
const TAR_BLOCK: usize = 512;

/// Why `block`, the first block of a tar stream (up to [`TAR_BLOCK`] bytes), is no tar header;
/// `None` for a header (the magic `ustar` at offset 257, or a checksum that holds) or the zero
/// block an empty tar starts with. Says nothing of the bytes themselves.
fn not_a_tar_header(block: &[u8]) -> Option<&'static str> {
    if block.is_empty() {
        return Some("it is empty");
    }
    if block.len() < TAR_BLOCK {
        return Some("it is shorter than one tar header (512 bytes)");
    }
    let header =
        block.iter().all(|&b| b == 0) || &block[257..262] == b"ustar" || tar_checksum_holds(block);
    (!header).then_some("its first 512 bytes are no tar header")
}

/// True when the checksum field of a tar header block (octal, bytes 148-155) is the sum of its
/// bytes with that field read as spaces, as unsigned bytes or (old writers) signed ones.
fn tar_checksum_holds(block: &[u8]) -> bool {
    const FIELD: std::ops::Range<usize> = 148..156;
    let digits: Vec<u8> = block[FIELD]
        .iter()
        .skip_while(|&&b| b == b' ')
        .take_while(|&&b| (b'0'..=b'7').contains(&b))
        .copied()
        .collect();
    let recorded = std::str::from_utf8(&digits)
        .ok()
        .and_then(|d| i64::from_str_radix(d, 8).ok());
    let (mut unsigned, mut signed) = (0i64, 0i64);
    for (i, &b) in block[..TAR_BLOCK].iter().enumerate() {
        let b = if FIELD.contains(&i) { b' ' } else { b };
        unsigned += i64::from(b);
        signed += i64::from(b as i8);
    }
    recorded.is_some_and(|r| r == unsigned || r == signed)
}

/// The error of a tar stream the reader could not go on with, about `at` bytes into it. The tar
/// and gzip readers' own messages quote the bytes they choke on (a header's name and fields),
/// so they are never shown; a system error's message (a disk failing) is.
fn unreadable(archive: &Path, e: std::io::Error, at: u64, gz: bool) -> Error {
    if e.raw_os_error().is_some() {
        return Error::io(archive, e);
    }
    let stream = if gz {
        "decompressed tar stream"
    } else {
        "tar stream"
    };
    archive_error(
        archive,
        format!("truncated or damaged archive: its {stream} cannot be read past byte {at}: copy or write the archive again"),
    )
}

/// Refuses an entry of `announced` bytes that the file system of the working copy `root` has no
/// room for, before any of it is written: a small compressed archive can unpack to more than the
/// temporary directory holds (a blob of zeros compresses a thousand times), and filling it would
/// fail this run and others on the machine. Each entry must leave [`reserve`] free beside it;
/// the entries written before it are already counted in what the file system has left. Where
/// the free space cannot be read, the write itself says so when it fails.
fn room_for(archive: &Path, root: &Path, name: &str, announced: u64) -> Result<()> {
    let Ok(stats) = fs4::statvfs(root) else {
        return Ok(());
    };
    let (available, kept) = (stats.available_space(), reserve(stats.total_space()));
    if announced.saturating_add(kept) <= available {
        return Ok(());
    }
    // `root` is the layout inside this run's own directory under the temporary directory.
    let temporary = root.parent().and_then(Path::parent).unwrap_or(root);
    Err(archive_error(
        archive,
        format!(
            "entry `{}` unpacks to {announced} bytes and the temporary directory {} has {available} bytes free, of which {kept} stay free: nothing was written; set TMPDIR to a directory with room for the archive's unpacked size, then run the same command again",
            crate::digest::truncate(name),
            temporary.display()
        ),
    ))
}

/// What unpacking leaves free in a file system of `total` bytes: a tenth of it, at most 256 MiB.
fn reserve(total: u64) -> u64 {
    (total / 10).min(256 << 20)
}

/// How far the packing of one archive is: bytes of the tar stream given to the writer, of about
/// `total` (the files' sizes; headers and padding make the stream slightly longer).
struct PackProgress {
    archive: PathBuf,
    total: u64,
    written: AtomicU64,
    started: Instant,
}

/// The packing in progress in this process, if any.
static PACKING: Mutex<Option<Arc<PackProgress>>> = Mutex::new(None);
/// Whether packing may go on, for every packing of this process: see [`stop_packing`].
static GATE: StopGate = StopGate::new();

/// A stop that may come at any moment, and the one step it must not split: an archive's rename
/// into place. A stop either comes before the rename, which then does not happen, or learns the
/// archive that was put in place.
struct StopGate {
    /// Set by [`StopGate::stop`]: read on every write, so a packing in progress ends soon.
    stopped: AtomicBool,
    /// The last archive put in place; its lock is held across the last check of `stopped` and
    /// the rename, and by [`StopGate::stop`] while it sets the flag.
    written: Mutex<Option<PathBuf>>,
}

impl StopGate {
    const fn new() -> Self {
        StopGate {
            stopped: AtomicBool::new(false),
            written: Mutex::new(None),
        }
    }

    /// Stops every packing from now on; returns the archive already put in place, if any.
    fn stop(&self) -> Option<PathBuf> {
        let written = self.written.lock().unwrap_or_else(|e| e.into_inner());
        self.stopped.store(true, Ordering::SeqCst);
        written.clone()
    }

    fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::SeqCst)
    }

    /// Renames the finished `tmp` to `archive`, unless stopped (then `tmp` is left for the
    /// caller to remove, and the error says the packing stopped).
    fn put_in_place(&self, tmp: &Path, archive: &Path) -> Result<()> {
        let mut written = self.written.lock().unwrap_or_else(|e| e.into_inner());
        if self.is_stopped() {
            return Err(archive_error(archive, PACKING_STOPPED));
        }
        std::fs::rename(tmp, archive).map_err(|e| Error::io(archive, e))?;
        *written = Some(archive.to_path_buf());
        Ok(())
    }
}

/// An archive being packed now, as [`packing`] gives it.
#[derive(Clone, Debug)]
pub struct Packing {
    /// The file being written (the one a symbolic link the user named leads to).
    pub archive: PathBuf,
    /// About how long the rest takes, at the pace so far (`None` before the first bytes).
    pub remaining: Option<Duration>,
}

/// The archive this process is packing now, with the time the rest should take; `None` when no
/// packing is in progress.
pub fn packing() -> Option<Packing> {
    let progress = PACKING.lock().ok()?.clone()?;
    let written = progress.written.load(Ordering::Relaxed);
    let elapsed = progress.started.elapsed().as_secs_f64();
    let remaining = (written > 0 && elapsed > 0.0).then(|| {
        let pace = written as f64 / elapsed;
        Duration::from_secs_f64(progress.total.saturating_sub(written) as f64 / pace)
    });
    Some(Packing {
        archive: progress.archive.clone(),
        remaining,
    })
}

/// Stops the packing in progress (its partial file removed, the archive left as it was) and any
/// that would start later in this process: for a caller that was asked twice to stop. Returns the
/// archive a packing had already put in place before the stop, if any (too late to stop: that
/// archive is the new one, complete), so that the caller says what really happened.
pub fn stop_packing() -> Option<PathBuf> {
    GATE.stop()
}

/// True once [`stop_packing`] was called.
fn packing_stopped() -> bool {
    GATE.is_stopped()
}

/// The packing in progress, registered for [`packing`] while it lives.
struct Registered(Arc<PackProgress>);

impl Registered {
    fn new(archive: &Path, root: &Path, extras: &Extras<'_>) -> Self {
        let size = |p: PathBuf| std::fs::metadata(p).map_or(0, |m| m.len());
        let blobs: u64 = std::fs::read_dir(root.join("blobs/sha256"))
            .map(|d| d.flatten().map(|e| size(e.path())).sum())
            .unwrap_or(0);
        let extra: u64 = extras.names.iter().map(|n| size(extras.dir.join(n))).sum();
        let progress = Arc::new(PackProgress {
            archive: archive.to_path_buf(),
            total: blobs + extra + size(root.join("index.json")) + size(root.join("oci-layout")),
            written: AtomicU64::new(0),
            started: Instant::now(),
        });
        if let Ok(mut now) = PACKING.lock() {
            *now = Some(progress.clone());
        }
        Registered(progress)
    }
}

impl Drop for Registered {
    fn drop(&mut self) {
        if let Ok(mut now) = PACKING.lock() {
            if now.as_ref().is_some_and(|p| Arc::ptr_eq(p, &self.0)) {
                *now = None;
            }
        }
    }
}

/// A writer that counts what passes for [`packing`] and fails once [`stop_packing`] is called.
struct Counted<W> {
    inner: W,
    progress: Arc<PackProgress>,
}

impl<W> Counted<W> {
    fn new(inner: W, packing: &Registered) -> Self {
        Counted {
            inner,
            progress: packing.0.clone(),
        }
    }
}

impl<W: Write> Write for Counted<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if packing_stopped() {
            return Err(std::io::Error::other(PACKING_STOPPED));
        }
        let n = self.inner.write(buf)?;
        self.progress.written.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Files an archive holds beside its layout, written back as they were: their directory, and
/// their paths under it (and in the archive).
pub struct Extras<'a> {
    /// Where their content is.
    pub dir: &'a Path,
    /// Their paths in the archive, in the order they are written.
    pub names: &'a [String],
}

/// Streams a layout directory into an archive file, gzip-compressed when `gzip`, with `extras`
/// after it, atomically: written beside it (a new file), finished (the gzip trailer too: its
/// errors are not left to a drop), synced, then renamed. [`stop_packing`] stops it before the
/// rename: the file beside it is removed, `archive` is as it was.
pub fn pack(root: &Path, archive: &Path, gzip: bool, extras: &Extras<'_>) -> Result<()> {
    if packing_stopped() {
        return Err(archive_error(archive, PACKING_STOPPED));
    }
    let registered = Registered::new(archive, root, extras);
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
        super::layout::keep_access(archive, &file);
        let buffered = if gzip {
            let gz =
                flate2::write::GzEncoder::new(BufWriter::new(file), flate2::Compression::fast());
            write_tar(root, extras, Counted::new(gz, &registered), &tmp)?
                .inner
                .finish()
                .map_err(io)?
        } else {
            write_tar(
                root,
                extras,
                Counted::new(BufWriter::new(file), &registered),
                &tmp,
            )?
            .inner
        };
        let file = buffered.into_inner().map_err(|e| io(e.into_error()))?;
        file.sync_all().map_err(io)?;
        drop(file);
        GATE.put_in_place(&tmp, archive)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    match result {
        Err(_) if packing_stopped() => Err(archive_error(archive, PACKING_STOPPED)),
        result => result,
    }
}

/// The reason of the error a stopped packing ends with.
const PACKING_STOPPED: &str = "packing stopped";

/// The layout at `root`, then `extras`, as a tar stream into `writer` (errors named after `tmp`);
/// returns the writer, for the caller to finish.
fn write_tar<W: Write>(root: &Path, extras: &Extras<'_>, writer: W, tmp: &Path) -> Result<W> {
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
    for name in extras.names {
        tar.append_path_with_name(extras.dir.join(name), name)
            .map_err(io)?;
    }
    tar.into_inner().map_err(io)
}

#[async_trait]
impl Forward for Archive {
    fn inner(&self) -> &dyn Store {
        &self.layout
    }
    /// Writes the archive again when this run changed its layout (or created it); one that
    /// changed nothing is left as it was (a rerun on read-only media succeeds). A write that
    /// fails leaves the archive as it was, and says so.
    async fn finish(&self) -> Result<()> {
        if !self.writable {
            return Ok(());
        }
        let not_written = |e: Error| {
            let remedy = match &e {
                Error::Io { error, .. } => match error.kind() {
                    std::io::ErrorKind::StorageFull => "free space where it is",
                    std::io::ErrorKind::PermissionDenied => {
                        "give this user write access to its directory"
                    }
                    std::io::ErrorKind::ReadOnlyFilesystem => {
                        "name an archive on a writable file system"
                    }
                    _ => "fix that",
                },
                _ => "fix that",
            };
            archive_error(
                &self.path,
                format!("could not be written ({e}): the archive is as it was; {remedy}, then run the same command again"),
            )
        };
        // Nothing rewrites the working copy's index.json while it is packed.
        self.layout.stop_flushing();
        self.layout.write_index(true).map_err(not_written)?;
        if self.existed && !self.layout.changed() {
            return Ok(());
        }
        let root = self._workdir.path().join("layout");
        let extra = self._workdir.path().join("extra");
        let names = self.extras.clone();
        let file = self.file.clone();
        // An existing archive keeps its own format, whatever a link to it is named; a new one is
        // compressed as the name the user gave says.
        let gzip = match self.existed {
            true => is_gzip_file(&self.file),
            false => compressed(&self.path),
        };
        tokio::task::spawn_blocking(move || {
            let extras = Extras {
                dir: &extra,
                names: &names,
            };
            pack(&root, &file, gzip, &extras)
        })
        .await
        .map_err(|e| archive_error(&self.path, format!("packing stopped: {e}")))?
        .map_err(|e| {
            if !packing_stopped() {
                return not_written(e);
            }
            let before = match self.existed {
                true => "the archive is as it was",
                false => "no archive was made",
            };
            archive_error(
                &self.path,
                format!("packing stopped by a second interrupt: {before} (its partial file removed); what this run copied into it is not kept (its work directory is removed): run the same command again to copy and pack it"),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stop racing the rename of a finished archive: whichever comes first, what the stop
    /// says is what happened. Either it came first (the rename refused, the old archive kept),
    /// or it names the new archive, which is in place.
    /// `oci-archive:/dev/null` (here through a link to it, so that a failure replaces the link,
    /// not the device) is refused: the rename that puts an archive in place would have put a
    /// regular file where the device is.
    #[test]
    fn a_device_as_an_archive_target_is_refused_and_left_as_it_is() {
        use std::os::unix::fs::FileTypeExt;
        let dir = tempfile::tempdir().unwrap();
        let link = dir.path().join("archive.tar");
        std::os::unix::fs::symlink("/dev/null", &link).unwrap();
        let error = Archive::create(&link).err().expect("refused").to_string();
        assert!(
            error.contains("is not a regular file (a device or a pipe)"),
            "{error}"
        );
        assert!(std::fs::metadata("/dev/null")
            .unwrap()
            .file_type()
            .is_char_device());
    }

    #[test]
    fn a_stop_racing_the_rename_either_keeps_the_old_archive_or_says_the_new_one_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let archive = dir.path().join("x.tar");
        // In turn: a rename, then a stop that names its archive.
        let (tmp, gate) = (dir.path().join("x.tar.partial"), StopGate::new());
        std::fs::write(&tmp, b"new").unwrap();
        gate.put_in_place(&tmp, &archive).unwrap();
        assert_eq!(gate.stop(), Some(archive.clone()));
        let (mut kept, mut written) = (0, 0);
        for round in 0..200 {
            std::fs::write(&archive, b"old").unwrap();
            let tmp = dir.path().join(format!("x.tar.partial-{round}"));
            std::fs::write(&tmp, b"new").unwrap();
            let gate = StopGate::new();
            let (renamed, said) = std::thread::scope(|scope| {
                let renaming = scope.spawn(|| gate.put_in_place(&tmp, &archive));
                let said = gate.stop();
                (renaming.join().unwrap(), said)
            });
            let now = std::fs::read(&archive).unwrap();
            match said {
                Some(path) => {
                    assert_eq!(path, archive);
                    assert!(renamed.is_ok() && now == b"new", "round {round}");
                    written += 1;
                }
                None => {
                    let refused = renamed.unwrap_err().to_string();
                    assert!(
                        refused.contains(PACKING_STOPPED),
                        "round {round}: {refused}"
                    );
                    assert_eq!(now, b"old", "round {round}");
                    assert!(tmp.exists(), "the caller removes the partial file");
                    kept += 1;
                }
            }
            // Stopped once, the gate refuses every later rename.
            std::fs::write(&tmp, b"newer").unwrap();
            assert!(gate.put_in_place(&tmp, &archive).is_err());
        }
        assert_eq!(kept + written, 200);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_new_archive_where_no_file_can_be_made_is_refused_before_any_copying() {
        // sysfs refuses new files to every user, root too.
        let e = Archive::create(Path::new("/sys/acr-relocate-new.tar"))
            .err()
            .expect("refused")
            .to_string();
        assert!(
            e.starts_with("/sys/acr-relocate-new.tar: cannot be created: its directory /sys is on a read-only file system or not writable by this user"),
            "{e}"
        );
    }

    #[test]
    fn a_working_copy_the_temporary_directory_cannot_hold_is_said_of_the_archive() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("layout");
        let layout = Layout::create(&root)
            .unwrap()
            .building(Path::new("/media/usb/export.tar"));
        let full = Error::io(
            root.join(".partial/abc-1-0"),
            std::io::Error::from(std::io::ErrorKind::StorageFull),
        );
        let said = layout.refused(full).to_string();
        assert!(
            said.starts_with(&format!(
                "/media/usb/export.tar: cannot be built in the temporary directory {} (",
                dir.path().display()
            )) && said.contains("set TMPDIR"),
            "{said}"
        );
    }

    /// A tar entry announcing more bytes than the temporary directory's file system has free
    /// (a petabyte here; a gzip bomb in life) is refused by its header, before a byte is written.
    #[test]
    fn an_entry_larger_than_the_temporary_directory_holds_is_refused_before_it_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bomb.tar");
        let hex = "0".repeat(64);
        let mut header = tar::Header::new_gnu();
        header.set_path(format!("blobs/sha256/{hex}")).unwrap();
        header.set_size(1 << 50);
        header.set_mode(0o644);
        header.set_cksum();
        let mut bytes = header.as_bytes().to_vec();
        bytes.extend_from_slice(&[0u8; 4096]);
        std::fs::write(&path, bytes).unwrap();
        let root = dir.path().join("work").join("layout");
        let said = unpack(&path, &root).unwrap_err().to_string();
        assert!(
            said.contains("entry `blobs/sha256/")
                && said.contains(&format!("unpacks to {} bytes", 1u64 << 50))
                && said.contains("set TMPDIR")
                && said.contains("nothing was written"),
            "{said}"
        );
        let written: Vec<_> = std::fs::read_dir(root.join("blobs/sha256"))
            .unwrap()
            .collect();
        assert!(written.is_empty(), "{written:?}");
    }

    #[test]
    fn unpacking_leaves_a_tenth_of_a_small_file_system_free_and_256_mib_of_a_large_one() {
        assert_eq!(reserve(64 << 20), (64 << 20) / 10);
        assert_eq!(reserve(250 << 30), 256 << 20);
    }

    #[test]
    fn an_archive_whose_index_is_larger_than_a_layout_holds_is_refused_before_it_is_unpacked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bomb.tar");
        // Only the header of a 300 MiB `index.json`: refused on the size it announces.
        let mut header = tar::Header::new_gnu();
        header.set_path("index.json").unwrap();
        header.set_size(300 << 20);
        header.set_mode(0o644);
        header.set_cksum();
        let mut bytes = header.as_bytes().to_vec();
        bytes.extend(vec![b' '; 4096]);
        std::fs::write(&path, bytes).unwrap();
        let e = Archive::open(&path).err().expect("refused").to_string();
        assert!(
            e.contains("its `index.json` is 314572800 bytes, more than a layout's holds"),
            "{e}"
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_link_planted_at_the_lock_files_name_makes_no_file_where_it_leads() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.tar");
        let elsewhere = dir.path().join("made-elsewhere");
        std::os::unix::fs::symlink(&elsewhere, dir.path().join("x.tar.lock")).unwrap();
        let archive = Archive::create(&path).unwrap();
        assert!(!elsewhere.exists());
        let lock = std::fs::symlink_metadata(dir.path().join("x.tar.lock")).unwrap();
        assert!(lock.file_type().is_file());
        drop(archive);
        assert!(!elsewhere.exists() && !dir.path().join("x.tar.lock").exists());
    }

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

    /// The files of a layout with sample content (`seed`), as archive entries: path, content.
    async fn layout_entries(seed: u64) -> Vec<(String, Vec<u8>)> {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::create(dir.path()).unwrap();
        crate::sample::write(&layout, 1, seed).await.unwrap();
        layout.write_index(true).unwrap();
        let mut names = vec!["oci-layout".to_string(), "index.json".to_string()];
        for blob in std::fs::read_dir(dir.path().join("blobs/sha256")).unwrap() {
            let blob = blob.unwrap().file_name().to_string_lossy().into_owned();
            names.push(format!("blobs/sha256/{blob}"));
        }
        names
            .into_iter()
            .map(|n| {
                let bytes = std::fs::read(dir.path().join(&n)).unwrap();
                (n, bytes)
            })
            .collect()
    }

    fn write_tar_of(path: &Path, entries: &[(String, Vec<u8>)]) {
        std::fs::write(path, tar_bytes(entries)).unwrap();
    }

    fn entries_of(path: &Path) -> Vec<(String, Vec<u8>)> {
        let mut tar = tar::Archive::new(File::open(path).unwrap());
        tar.entries()
            .unwrap()
            .map(|e| {
                let mut e = e.unwrap();
                let name = e.path().unwrap().to_string_lossy().into_owned();
                let mut bytes = Vec::new();
                e.read_to_end(&mut bytes).unwrap();
                (name, bytes)
            })
            .collect()
    }

    /// The tar stream of `entries`, with its end-of-archive marker (two zero blocks).
    fn tar_bytes(entries: &[(String, Vec<u8>)]) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for (name, bytes) in entries {
            let mut header = tar::Header::new_gnu();
            header.set_size(bytes.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            builder.append_data(&mut header, name, &bytes[..]).unwrap();
        }
        builder.into_inner().unwrap()
    }

    fn gzipped(bytes: &[u8]) -> Vec<u8> {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(bytes).unwrap();
        gz.finish().unwrap()
    }

    /// The files under `root`, by path relative to it, with their bytes.
    fn files_under(root: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
        let mut files = std::collections::BTreeMap::new();
        for dir in [root.to_path_buf(), root.join("blobs/sha256")] {
            for e in std::fs::read_dir(&dir).unwrap().flatten() {
                if e.file_type().unwrap().is_file() {
                    let name = e.path().strip_prefix(root).unwrap().display().to_string();
                    files.insert(name, std::fs::read(e.path()).unwrap());
                }
            }
        }
        files
    }

    /// A gzip file may hold several members one after another (`cat a.gz b.gz`, bgzip, an
    /// appending writer): gzip and tar read them all, and so does the archive reader. Reading
    /// only the first would lose the entries after it, and an update would write them away.
    #[tokio::test]
    async fn a_gzip_archive_of_several_members_is_read_whole() {
        let dir = tempfile::tempdir().unwrap();
        let entries = layout_entries(3).await;
        let whole = tar_bytes(&entries);
        // Split after the third entry's data: two members, the second holding the rest.
        let split = tar_bytes(&entries[..3]).len() - 1024;
        let two_members = [gzipped(&whole[..split]), gzipped(&whole[split..])].concat();
        let (one, two) = (dir.path().join("one.tar.gz"), dir.path().join("two.tar.gz"));
        std::fs::write(&one, gzipped(&whole)).unwrap();
        std::fs::write(&two, two_members).unwrap();
        let (from_one, from_two) = (dir.path().join("a"), dir.path().join("b"));
        unpack(&one, &from_one).unwrap();
        unpack(&two, &from_two).unwrap();
        let read = files_under(&from_two);
        assert_eq!(read.len(), entries.len());
        assert_eq!(read, files_under(&from_one));
    }

    /// A file that is no tar (a credentials file named by mistake) is refused from its first
    /// block, plain or gzip-compressed, without a byte of it in the message; a damaged header
    /// further in is named by its place, never by what it holds.
    #[tokio::test]
    async fn a_file_that_is_no_tar_is_refused_without_showing_its_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let secret = "dXNlcjpTM2NyZXRQYXNzd29yZDEyMzQ1Njc4OTA=";
        let config = format!(
            r#"{{"auths":{{"myreg.azurecr.io":{{"auth":"{secret}"}}}},"plugins":{{"x":"{}"}}}}"#,
            "b".repeat(600)
        );
        let plain = dir.path().join("config.json");
        let gz = dir.path().join("config.json.gz");
        std::fs::write(&plain, &config).unwrap();
        std::fs::write(&gz, gzipped(config.as_bytes())).unwrap();
        for (file, what) in [
            (&plain, "not a tar archive"),
            (&gz, "not a gzip-compressed tar"),
        ] {
            let said = unpack(file, &dir.path().join("out"))
                .unwrap_err()
                .to_string();
            assert!(
                said.contains(what) && said.contains("oci-archive:FILE"),
                "{said}"
            );
            assert!(!said.contains("auth") && !said.contains("bbbb"), "{said}");
            assert_eq!(said.lines().count(), 1, "{said}");
        }
        let short = dir.path().join("short.tar");
        std::fs::write(&short, b"SECRET=1").unwrap();
        let said = unpack(&short, &dir.path().join("out"))
            .unwrap_err()
            .to_string();
        assert!(
            said.contains("shorter than one tar header") && !said.contains("SECRET"),
            "{said}"
        );
        // A valid first entry, then a header overwritten by the file's bytes.
        let entries = layout_entries(3).await;
        let mut bytes = tar_bytes(&entries);
        let second = 512 + entries[0].1.len().div_ceil(512) * 512;
        bytes[second..second + 512].copy_from_slice(&config.as_bytes()[..512]);
        let damaged = dir.path().join("damaged.tar");
        std::fs::write(&damaged, bytes).unwrap();
        let said = unpack(&damaged, &dir.path().join("out2"))
            .unwrap_err()
            .to_string();
        assert!(
            said.contains("truncated or damaged archive")
                && said.contains(&format!("byte {}", second + 512)),
            "{said}"
        );
        assert!(!said.contains("auth") && !said.contains("bbbb"), "{said}");
        // A tar written by a v7 writer (no magic) is read by its checksum.
        let mut v7 = tar::Header::new_old();
        v7.set_path("oci-layout").unwrap();
        v7.set_size(1);
        v7.set_cksum();
        assert_eq!(not_a_tar_header(v7.as_bytes()), None);
    }

    /// A tar cut exactly between two entries reads, to a tar reader, as a shorter whole archive:
    /// its missing end-of-archive marker gives it away, plain or compressed, and it is refused
    /// instead of being read (or rewritten by an update) without what came after.
    #[tokio::test]
    async fn a_tar_cut_between_two_entries_is_refused_as_truncated() {
        let dir = tempfile::tempdir().unwrap();
        let entries = layout_entries(3).await;
        let kept = tar_bytes(&entries[..entries.len() - 1]);
        let cut = &kept[..kept.len() - 1024];
        let last_kept = &entries[entries.len() - 2].0;
        for (name, bytes) in [("cut.tar", cut.to_vec()), ("cut.tar.gz", gzipped(cut))] {
            let path = dir.path().join(name);
            std::fs::write(&path, bytes).unwrap();
            let said = unpack(&path, &dir.path().join(name).with_extension("out"))
                .unwrap_err()
                .to_string();
            assert!(
                said.contains("truncated archive: it ends after the entry")
                    && said.contains(&crate::digest::truncate(last_kept)),
                "{name}: {said}"
            );
        }
        // The same entries with their marker are read (a blob they lack is another matter).
        let whole = dir.path().join("whole.tar");
        std::fs::write(&whole, &kept).unwrap();
        if let Err(e) = unpack(&whole, &dir.path().join("whole")) {
            assert!(!e.to_string().contains("end-of-archive"), "{e}");
        }
    }

    /// A layout packed from its parent directory (`tar -czf x.tgz lay1`) has every entry under
    /// `lay1/`: refused naming that directory and how to pack it from inside.
    #[tokio::test]
    async fn a_layout_packed_from_its_parent_directory_is_named_with_how_to_pack_it() {
        let dir = tempfile::tempdir().unwrap();
        let entries: Vec<(String, Vec<u8>)> = layout_entries(2)
            .await
            .into_iter()
            .map(|(name, bytes)| (format!("lay1/{name}"), bytes))
            .collect();
        let path = dir.path().join("x.tar");
        write_tar_of(&path, &entries);
        let said = unpack(&path, &dir.path().join("out"))
            .unwrap_err()
            .to_string();
        assert!(
            said.contains("its layout is in the directory `lay1/` inside it")
                && said.contains("tar -C lay1 -cf FILE.tar ."),
            "{said}"
        );
    }

    /// What Docker 25+ `docker save` writes beside the layout.
    fn docker_files() -> Vec<(String, Vec<u8>)> {
        vec![
            (
                "manifest.json".into(),
                br#"[{"Config":"blobs/sha256/00","RepoTags":["svc2:latest"],"Layers":[]}]"#
                    .to_vec(),
            ),
            (
                "repositories".into(),
                br#"{"svc2":{"latest":"00"}}"#.to_vec(),
            ),
        ]
    }

    #[tokio::test]
    async fn a_docker_save_archive_is_read_as_its_oci_layout_and_the_rest_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("svc2.tar");
        let mut entries = layout_entries(1).await;
        entries.splice(2..2, docker_files());
        write_tar_of(&path, &entries);
        let archive = Archive::open(&path).unwrap();
        assert!(!archive.layout.changed());
        let root = dir.path().join("out");
        unpack(&path, &root).unwrap();
        assert!(!root.join("manifest.json").exists() && !root.join("repositories").exists());
    }

    #[test]
    fn an_old_format_docker_save_archive_is_named_with_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.tar");
        let id = "a".repeat(64);
        for entries in [
            vec![
                (format!("{id}/VERSION"), b"1.0".to_vec()),
                (format!("{id}/layer.tar"), b"x".to_vec()),
                ("manifest.json".to_string(), b"[]".to_vec()),
            ],
            docker_files(),
        ] {
            write_tar_of(&path, &entries);
            let e = unpack(&path, &dir.path().join("out"))
                .unwrap_err()
                .to_string();
            assert!(e.contains("is a `docker save` archive"), "{e}");
            assert!(e.contains("docker load -i"), "{e}");
            assert!(
                e.contains(&format!("skopeo copy docker-archive:{}", path.display())),
                "{e}"
            );
            assert_eq!(e.lines().count(), 1, "{e}");
        }
    }

    #[tokio::test]
    async fn an_update_writes_the_files_beside_the_layout_back_as_they_were_and_nothing_more() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("svc2.tar");
        let mut entries = layout_entries(1).await;
        let mut extras = docker_files();
        extras.push(("notes/readme.txt".into(), b"kept".to_vec()));
        entries.extend(extras.clone());
        write_tar_of(&path, &entries);
        let archive = Archive::create(&path).unwrap();
        crate::sample::write(&archive.layout, 2, 7).await.unwrap();
        archive.finish().await.unwrap();
        drop(archive);
        let written = entries_of(&path);
        let kept: Vec<_> = written
            .iter()
            .filter(|(n, _)| !n.starts_with("blobs/") && n != "oci-layout" && n != "index.json")
            .cloned()
            .collect();
        assert_eq!(kept, extras);
        let index = written.iter().find(|(n, _)| n == "index.json").unwrap();
        assert_ne!(index, &entries[1], "the copy changed the index");
        // Nothing of them was written anywhere but in the archive.
        let mut beside: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        beside.sort();
        assert_eq!(beside, ["svc2.tar"]);
    }

    #[test]
    fn the_archive_name_says_gzip_in_any_case() {
        for name in ["x.tar.gz", "x.TAR.GZ", "x.Tgz", "x.tgz"] {
            assert!(compressed(Path::new(name)), "{name}");
        }
        assert!(!compressed(Path::new("x.TAR")));
        assert_eq!(
            name_of(Path::new("usb/svc2.TAR.GZ")).as_deref(),
            Some("svc2")
        );
        assert_eq!(name_of(Path::new("svc2.tgz")).as_deref(), Some("svc2"));
    }

    #[test]
    fn a_file_compressed_otherwise_is_named_with_what_decompresses_it() {
        let dir = tempfile::tempdir().unwrap();
        for (magic, kind, command) in [
            (
                &[0xfd, b'7', b'z', b'X', b'Z', 0, 0, 4][..],
                "xz-compressed file",
                "xz -d",
            ),
            (
                &[0x28, 0xb5, 0x2f, 0xfd, 0, 0][..],
                "zstd-compressed file",
                "zstd -d",
            ),
            (&b"BZh91AY&SY"[..], "bzip2-compressed file", "bunzip2"),
            (&b"PK\x03\x04\x14\x00"[..], "zip file", "unzip"),
        ] {
            let path = dir.path().join("x.tar");
            std::fs::write(&path, magic).unwrap();
            let e = unpack(&path, &dir.path().join("out"))
                .unwrap_err()
                .to_string();
            assert!(
                e.contains(&format!(
                    "is a {kind}: only tar and gzip-compressed tar are read"
                )) && e.contains(command),
                "{e}"
            );
        }
    }

    #[test]
    fn a_writer_removes_what_writers_killed_outright_left_beside_the_archive() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.tar.gz");
        let stale = dir.path().join("x.tar.gz.partial-4242");
        let unrelated = [
            dir.path().join("x.tar.gz.partial-notes"),
            dir.path().join("y.tar.gz.partial-4242"),
        ];
        for file in unrelated.iter().chain([&stale]) {
            std::fs::write(file, "left").unwrap();
        }
        drop(Archive::create(&path).unwrap());
        assert!(!stale.exists());
        assert!(unrelated.iter().all(|f| f.exists()));
    }
}
