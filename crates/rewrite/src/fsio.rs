//! The file system side: walking paths (honouring `.gitignore`) and writing files back,
//! atomically (temporary file and rename) or, for a file with several hard links, in place.

use std::collections::HashSet;
use std::fs;
use std::io::{Seek, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::classify::classify;
use crate::{Error, FileKind};

/// The files below `paths` that the rewrite reads, sorted and without duplicates, plus the
/// paths that could not be walked: [`discover_paths`] without the symbolic links it skipped.
pub fn discover(paths: &[PathBuf]) -> (Vec<(PathBuf, FileKind)>, Vec<Error>) {
    let found = discover_paths(paths);
    (found.files, found.errors)
}

/// What [`discover_paths`] found below the paths given.
#[derive(Debug, Default)]
pub struct Discovered {
    /// The files to read with their kinds, in path order, each file once.
    pub files: Vec<(PathBuf, FileKind)>,
    /// The paths that could not be looked at or walked (a missing path, a directory this user
    /// may not read, a FIFO or device named on the command line), one error each.
    pub errors: Vec<Error>,
    /// The symbolic links met while walking a directory, not followed (as Git and ripgrep do
    /// not): the files they point to are not read. A link named on the command line is
    /// followed instead. Links to a file the paths reach anyway are in
    /// [`Discovered::links_to_files_read`] instead.
    pub skipped_links: Vec<PathBuf>,
    /// The symbolic links met while walking a directory that point to a file read anyway
    /// (one of [`Discovered::files`]), each with the name that file is read under: nothing is
    /// missed by not following them.
    pub links_to_files_read: Vec<(PathBuf, PathBuf)>,
}

/// The files below `paths` that the rewrite reads. Directories are walked honouring
/// `.gitignore`, `.git/info/exclude` and Git's global excludes file (also outside a Git work
/// tree), but not ripgrep's `.ignore` files; hidden directories such as `.github/workflows` are
/// walked, `.git` is not. A file named explicitly is read even when ignored. A file whose kind
/// is not understood is [`FileKind::Text`]: scanned for mentions only (binary files are left
/// out when read). A file is read once however many names reach it (`k8s` and
/// `./k8s/a.yaml`, a symbolic link, another hard link: files are told apart by device and
/// inode), under the first name it was reached by, and a leading `./` is dropped from the
/// names. Symbolic links met in a walk are not followed but listed
/// ([`Discovered::skipped_links`]); a path that is neither a file nor a directory (a FIFO, a
/// socket, a device) is an error ([`Error::NotAFile`]), as is a directory that cannot be read.
pub fn discover_paths(paths: &[PathBuf]) -> Discovered {
    let mut found = Discovered::default();
    let mut files = Vec::new();
    for path in paths {
        match fs::metadata(path) {
            Err(source) => found.errors.push(Error::Read {
                path: path.clone(),
                source,
            }),
            Ok(meta) if meta.is_file() => {
                files.push((clean(path), classify(path).unwrap_or(FileKind::Text)));
            }
            Ok(meta) if !meta.is_dir() => found.errors.push(Error::NotAFile {
                path: path.clone(),
                what: file_type_name(&meta.file_type()),
            }),
            Ok(_) => {
                // `.gitignore` (and Git's exclude files) decide what is skipped, as for Git;
                // ripgrep's own `.ignore` files do not: hiding a file from searches is no
                // reason to leave a reference to the old registry in it.
                let walker = ignore::WalkBuilder::new(path)
                    .hidden(false)
                    .ignore(false)
                    .require_git(false)
                    .filter_entry(|entry| entry.file_name() != ".git")
                    .build();
                let mut walked = Vec::new();
                for entry in walker {
                    match entry {
                        // What a killed run left behind is not the user's file: not scanned.
                        Ok(entry) if is_temporary(entry.path()) => {}
                        Ok(entry) if entry.file_type().is_some_and(|t| t.is_file()) => {
                            let kind = classify(entry.path()).unwrap_or(FileKind::Text);
                            walked.push((clean(entry.path()), kind));
                        }
                        Ok(entry) if entry.path_is_symlink() && entry.depth() > 0 => {
                            found.skipped_links.push(clean(entry.path()));
                        }
                        Ok(_) => {}
                        Err(e) => found.errors.push(walk_error(path, e)),
                    }
                }
                // Of the names a walk reaches one file by (hard links), the first in path order.
                walked.sort();
                files.extend(walked);
            }
        }
    }
    // The first name given for a file wins; then path order.
    let mut seen = HashSet::new();
    files.retain(|(path, _)| seen.insert(identity(path)));
    files.sort();
    found.skipped_links.sort();
    found.skipped_links.dedup();
    let read: std::collections::HashMap<Identity, &PathBuf> = files
        .iter()
        .map(|(path, _)| (identity(path), path))
        .collect();
    let (to_files_read, skipped): (Vec<_>, Vec<_>) = std::mem::take(&mut found.skipped_links)
        .into_iter()
        .map(|link| {
            let target = match identity(&link) {
                id @ Identity::Inode(..) => read.get(&id).map(|path| (*path).clone()),
                Identity::Name(_) => None,
            };
            (link, target)
        })
        .partition(|(_, target)| target.is_some());
    found.skipped_links = skipped.into_iter().map(|(link, _)| link).collect();
    found.links_to_files_read = to_files_read
        .into_iter()
        .filter_map(|(link, target)| Some((link, target?)))
        .collect();
    found.files = files;
    found
}

/// What tells one file from another whatever name reaches it: its device and inode (symbolic
/// links followed), or its name when it cannot be looked at now (reading it will say why).
#[derive(Debug, PartialEq, Eq, Hash)]
enum Identity {
    Inode(u64, u64),
    Name(PathBuf),
}

fn identity(path: &Path) -> Identity {
    match fs::metadata(path) {
        Ok(meta) => Identity::Inode(meta.dev(), meta.ino()),
        Err(_) => Identity::Name(path.to_path_buf()),
    }
}

/// What a path that is neither a file nor a directory is, in words.
fn file_type_name(file_type: &fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if file_type.is_fifo() {
        "a FIFO (named pipe)"
    } else if file_type.is_socket() {
        "a socket"
    } else if file_type.is_block_device() || file_type.is_char_device() {
        "a device"
    } else {
        "not a regular file"
    }
}

/// The error of a directory walk below `root`, said once: the path that failed and why
/// ([`Error::Read`] for an I/O error such as a directory this user may not read), without the
/// walker's own wrapping, which repeats the path.
fn walk_error(root: &Path, error: ignore::Error) -> Error {
    let mut error = error;
    let mut path = None;
    loop {
        match error {
            ignore::Error::WithPath { path: at, err } => {
                path.get_or_insert(at);
                error = *err;
            }
            ignore::Error::WithDepth { err, .. } | ignore::Error::WithLineNumber { err, .. } => {
                error = *err;
            }
            ignore::Error::Loop { child, .. } => {
                return Error::Walk {
                    path: child,
                    message: "a symbolic link loop".to_owned(),
                }
            }
            ignore::Error::Io(io) => {
                // The walker wraps the OS error in its own, whose message names the path again.
                let source = std::error::Error::source(&io)
                    .and_then(|inner| inner.downcast_ref::<std::io::Error>())
                    .and_then(std::io::Error::raw_os_error)
                    .or_else(|| io.raw_os_error())
                    .map_or(io, std::io::Error::from_raw_os_error);
                return Error::Read {
                    path: path.unwrap_or_else(|| root.to_path_buf()),
                    source,
                };
            }
            other => {
                return Error::Walk {
                    path: path.unwrap_or_else(|| root.to_path_buf()),
                    message: other.to_string(),
                }
            }
        }
    }
}

/// True for a temporary file [`write_atomically`] makes (`.NAME.acr-relocate-PID-N.tmp`): one a
/// walk meets was left by a run killed while it wrote (`kill -9`), and holds a copy of `NAME`
/// (the next run that writes there removes it: [`remove_stale_temporaries`]).
fn is_temporary(path: &Path) -> bool {
    temporary_owner(path).is_some()
}

/// Removes, from each of `directories`, the temporary files ([`is_temporary`]) of runs that are
/// no longer running (their process id is gone), and returns them. Where this machine cannot tell
/// (no `/proc`), nothing is removed.
pub fn remove_stale_temporaries<'a>(
    directories: impl IntoIterator<Item = &'a Path>,
) -> Vec<PathBuf> {
    let mut removed = Vec::new();
    if !Path::new("/proc/self").exists() {
        return removed;
    }
    for dir in directories {
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        let Ok(entries) = fs::read_dir(dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let gone = temporary_owner(&path)
                .is_some_and(|pid| !Path::new("/proc").join(pid.to_string()).exists());
            if gone && fs::remove_file(&path).is_ok() {
                removed.push(path);
            }
        }
    }
    removed
}

/// The process id in the name of a temporary file [`write_atomically`] makes
/// (`.NAME.acr-relocate-PID-N.tmp`), if `path` is one.
fn temporary_owner(path: &Path) -> Option<u32> {
    let name = path.file_name()?.to_str()?;
    let rest = name.strip_prefix('.')?.strip_suffix(".tmp")?;
    let (_, numbers) = rest.rsplit_once(".acr-relocate-")?;
    let (pid, n) = numbers.split_once('-')?;
    n.parse::<usize>().ok()?;
    pid.parse().ok()
}

/// `path` without `.` components (`./k8s/a.yaml` is `k8s/a.yaml`); `.` stays `.`.
fn clean(path: &Path) -> PathBuf {
    let cleaned: PathBuf = path
        .components()
        .filter(|c| !matches!(c, Component::CurDir))
        .collect();
    if cleaned.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        cleaned
    }
}

/// Replaces the content of `path` atomically: a temporary file in the same directory, given
/// the original's owner and group (the group alone when not run as root), synced, given the
/// original's permissions, then renamed over it. A symbolic link is followed, so the file it
/// points to is replaced and the link stays. A read-only file (no write permission
/// bit, or one this user cannot open for writing) is refused with [`Error::ReadOnly`], and a
/// file in a read-only directory (where the temporary file cannot be created) with
/// [`Error::ReadOnlyDirectory`], instead of being replaced behind their permissions. The rename
/// gives the name a new inode, so a file with several hard links would leave its other names
/// with the old content: [`Plan::write`] refuses those, or writes them with [`write_in_place`].
/// [`Plan::refusals`] makes the same checks for every file before any is written.
///
/// [`Plan::write`]: crate::Plan::write
/// [`Plan::refusals`]: crate::Plan::refusals
pub fn write_atomically(path: &Path, contents: &[u8]) -> Result<(), Error> {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let fail = |source| Error::Write {
        path: path.to_path_buf(),
        source,
    };
    let target = fs::canonicalize(path).map_err(fail)?;
    let permissions = writable(path, &target)?;
    let dir = target.parent().unwrap_or(Path::new("."));
    directory_writable(path, dir)?;
    let name = target
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("file");
    let (tmp, mut file) = loop {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let tmp = dir.join(format!(
            ".{name}.acr-relocate-{}-{n}.tmp",
            std::process::id()
        ));
        match fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
        {
            Ok(file) => break (tmp, file),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) if is_denied(&e) => {
                return Err(Error::ReadOnlyDirectory {
                    path: path.to_path_buf(),
                    directory: shown_directory(path, dir),
                })
            }
            Err(e) => return Err(fail(e)),
        }
    };
    let result = file
        .write_all(contents)
        .and_then(|()| keep_owner(&file, &target))
        .and_then(|()| keep_extended_attributes(&file, &target))
        .and_then(|()| file.sync_all())
        .and_then(|()| fs::set_permissions(&tmp, permissions))
        .and_then(|()| fs::rename(&tmp, &target));
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(fail(e));
    }
    Ok(())
}

/// Gives `file` (the temporary file replacing `target`) the owner and group of `target`, so the
/// rename does not hand the file to the user running the rewrite. Only root may give a file
/// away: for another user the group alone is kept when this user belongs to it, and otherwise
/// the new file is this user's, as any editor's save would make it. Called before the
/// permissions are set, since a change of owner clears set-user-ID bits.
fn keep_owner(file: &fs::File, target: &Path) -> std::io::Result<()> {
    let original = fs::metadata(target)?;
    let current = file.metadata()?;
    if (original.uid(), original.gid()) == (current.uid(), current.gid()) {
        return Ok(());
    }
    match std::os::unix::fs::fchown(file, Some(original.uid()), Some(original.gid())) {
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            let _ = std::os::unix::fs::fchown(file, None, Some(original.gid()));
            Ok(())
        }
        other => other,
    }
}

/// Gives `file` (the temporary file replacing `target`) the extended attributes of `target`
/// (`user.*` attributes, ACLs as `system.posix_acl_access`, ...), which the rename would
/// otherwise drop with the old inode. A `user.*` attribute that cannot be copied fails the
/// write (the original stays as it was); the others are copied where this user may set them
/// (`security.*` and `trusted.*` need privileges) and left out otherwise. A file system
/// without extended attributes has none to copy.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn keep_extended_attributes(file: &fs::File, target: &Path) -> std::io::Result<()> {
    use rustix::fs::{fsetxattr, getxattr, getxattr_query, listxattr, listxattr_query, XattrFlags};
    use rustix::io::Errno;
    let size = match listxattr_query(target) {
        Ok(0) => return Ok(()),
        Ok(size) => size,
        Err(Errno::OPNOTSUPP) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    let mut names = vec![0u8; size];
    let size = listxattr(target, &mut names[..])?;
    for name in names[..size]
        .split(|&b| b == 0)
        .filter(|name| !name.is_empty())
    {
        let copied = getxattr_query(target, name).and_then(|size| {
            let mut value = vec![0u8; size];
            let size = getxattr(target, name, &mut value[..])?;
            fsetxattr(file, name, &value[..size], XattrFlags::empty())
        });
        match copied {
            Err(e) if name.starts_with(b"user.") => return Err(e.into()),
            _ => {}
        }
    }
    Ok(())
}

/// Extended attributes are not copied on this platform.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn keep_extended_attributes(_file: &fs::File, _target: &Path) -> std::io::Result<()> {
    Ok(())
}

/// The permissions of `target` (the file `path` names, links followed) when this user may write
/// it; [`Error::ReadOnly`] when it has no write permission bit or cannot be opened for writing.
fn writable(path: &Path, target: &Path) -> Result<fs::Permissions, Error> {
    let fail = |source| Error::Write {
        path: path.to_path_buf(),
        source,
    };
    let permissions = fs::metadata(target).map_err(fail)?.permissions();
    let read_only = || Error::ReadOnly {
        path: path.to_path_buf(),
    };
    if permissions.readonly() {
        return Err(read_only());
    }
    // Opening for writing without truncating changes nothing and asks the OS whether this user
    // may write the file.
    match fs::OpenOptions::new().write(true).open(target) {
        Ok(_) => Ok(permissions),
        Err(e) if is_denied(&e) => Err(read_only()),
        Err(e) => Err(fail(e)),
    }
}

/// Whether the directory `dir`, where the temporary file for `path` is created, can take it:
/// [`Error::ReadOnlyDirectory`] when it has no write permission bit (refused even for root, as a
/// read-only file is) or this user may not create files in it (or its file system is mounted
/// read-only). Asked of the OS without creating anything; a directory that cannot be looked at
/// is left for the write to report.
fn directory_writable(path: &Path, dir: &Path) -> Result<(), Error> {
    let read_only = || Error::ReadOnlyDirectory {
        path: path.to_path_buf(),
        directory: shown_directory(path, dir),
    };
    match fs::metadata(dir) {
        Ok(meta) if meta.permissions().readonly() => return Err(read_only()),
        Ok(_) => {}
        Err(_) => return Ok(()),
    }
    // AT_EACCESS asks with the effective user and group, the ones a write would use.
    match rustix::fs::accessat(
        rustix::fs::CWD,
        dir,
        rustix::fs::Access::WRITE_OK,
        rustix::fs::AtFlags::EACCESS,
    ) {
        Err(errno) if is_denied(&std::io::Error::from(errno)) => Err(read_only()),
        _ => Ok(()),
    }
}

/// The directory to name for `path` whose file (links followed) is in `dir`: the directory as
/// the user named it (`k8s` for `k8s/a.yaml`, `.` for `a.yaml`), or `dir` when `path` is itself
/// a symbolic link (the file it points to is the one replaced).
fn shown_directory(path: &Path, dir: &Path) -> PathBuf {
    let is_link = fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
    match path.parent() {
        _ if is_link => dir.to_path_buf(),
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// True for the errors that mean "not allowed to write here": permission denied (EACCES, EPERM)
/// or a read-only file system (EROFS).
fn is_denied(error: &std::io::Error) -> bool {
    matches!(
        error.kind(),
        std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::ReadOnlyFilesystem
    )
}

/// Why `path` cannot be written as [`Plan::write_with`] would write it, before anything is
/// written: [`Error::ReadOnly`] for a read-only file and, when it is to be replaced atomically
/// (`in_place` false), [`Error::ReadOnlyDirectory`] for a read-only directory. `None` when it can
/// be written, or when it cannot be looked at now (the write reports that).
///
/// [`Plan::write_with`]: crate::Plan::write_with
pub(crate) fn write_refusal(path: &Path, in_place: bool) -> Option<Error> {
    let target = fs::canonicalize(path).ok()?;
    match writable(path, &target) {
        Err(e @ Error::ReadOnly { .. }) => return Some(e),
        Err(_) => return None,
        Ok(_) => {}
    }
    if in_place {
        return None;
    }
    directory_writable(path, target.parent().unwrap_or(Path::new("."))).err()
}

/// How many names (hard links) the file `path` names has, symbolic links followed. A file with
/// more than one cannot be replaced atomically without detaching `path` from the others.
pub fn hard_links(path: &Path) -> Result<u64, Error> {
    fs::metadata(path)
        .map(|meta| meta.nlink())
        .map_err(|source| Error::Read {
            path: path.to_path_buf(),
            source,
        })
}

/// Overwrites the content of `path` in place: the file is opened through `path` (a symbolic link
/// is followed), `contents` written from the start, the file cut to their length and synced.
///
/// This is for files with several hard links. [`write_atomically`] renames a new file over the
/// name, which gives that name a new inode: the other names would keep the old content. An
/// atomic replace is impossible there, because a rename changes one name, not an inode's
/// content; writing into the inode itself is the only way every name sees the rewrite. The
/// cost: a crash during the write can leave the file partly written. Read-only files are
/// refused with [`Error::ReadOnly`], as by [`write_atomically`].
pub fn write_in_place(path: &Path, contents: &[u8]) -> Result<(), Error> {
    let fail = |source| Error::Write {
        path: path.to_path_buf(),
        source,
    };
    writable(path, path)?;
    let mut file = fs::OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(fail)?;
    file.rewind()
        .and_then(|()| file.write_all(contents))
        .and_then(|()| file.set_len(contents.len() as u64))
        .and_then(|()| file.sync_all())
        .map_err(fail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_temporary_file_a_killed_run_left_is_not_scanned() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("a.yaml"), "image: x\n").unwrap();
        fs::write(
            dir.path().join(".a.yaml.acr-relocate-4294967-540.tmp"),
            "image: x\n",
        )
        .unwrap();
        fs::write(dir.path().join(".notes.tmp"), "x\n").unwrap();
        let (files, errors) = discover(&[dir.path().to_path_buf()]);
        assert!(errors.is_empty());
        let names: Vec<String> = files
            .iter()
            .map(|(p, _)| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, [".notes.tmp", "a.yaml"]);
        // A writing run removes what a run no longer running left (no process id is above
        // 2^22 on Linux); its own files stay.
        let mine = format!(".b.yaml.acr-relocate-{}-1.tmp", std::process::id());
        fs::write(dir.path().join(&mine), "x\n").unwrap();
        if Path::new("/proc/self").exists() {
            let removed = remove_stale_temporaries([dir.path()]);
            let removed: Vec<String> = removed
                .iter()
                .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
                .collect();
            assert_eq!(removed, [".a.yaml.acr-relocate-4294967-540.tmp"]);
            assert!(dir.path().join(&mine).exists());
        }
    }
}
