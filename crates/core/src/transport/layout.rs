//! The OCI image layout transport: a whole registry in one directory.
//!
//! Blobs (layers, configs and manifests) are stored once in `blobs/sha256/<hex>` whatever the
//! repositories that use them. `index.json` lists every manifest the registry had: tagged ones with
//! `org.opencontainers.image.ref.name` = `REPOSITORY:TAG` (so `skopeo copy oci:DIR:REPOSITORY:TAG`
//! reads them), untagged ones (index children, referrers) with [`REPOSITORY_ANNOTATION`] only.
//! Entries other tools wrote are read too: `REPOSITORY:TAG` in the ref name, or a plain `TAG`
//! with [`REPOSITORY_ANNOTATION`]. Entries that name no repository (skopeo's `oci:DIR:latest`
//! writes a plain `latest`) are never dropped: a reader takes them as the repository named by the
//! layout's directory, and says so on stderr (or refuses the layout, exit 2, when that name is not
//! a repository name); a writer keeps them as they are.
//!
//! Writes are safe to interrupt: a blob is written to `.partial/`, checked against its digest, then
//! renamed into place (a write that fails, or is cancelled with its future, removes its file);
//! `index.json` is replaced atomically (written beside, then renamed, keeping the mode and group
//! of the file it replaces; a write that fails removes its temporary file). An entry is made once
//! its manifest file is placed (a copy places a manifest after everything it names), and
//! `index.json` is written again within seconds of it, even while one long blob transfer is all
//! the run does (a timer flushes it): a run killed outright keeps the tags it finished before.
//!
//! One writer at a time: each writer rewrites the whole `index.json` from what it holds, so two at
//! once would drop each other's entries. A writer ([`Layout::create`]) holds the exclusive advisory
//! lock of the layout's `oci-layout` file for as long as it is open (the file every layout has and
//! no write replaces, so a finished layout holds nothing extra); a second writer is refused at
//! once. Readers ([`Layout::open`]) take no lock.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

use super::{Destination, Source};
use crate::digest::{ByteStream, Digest};
use crate::error::{Error, Result};
use crate::manifest::{RawManifest, Reference, MAX_MANIFEST_BYTES, OCI_INDEX};

/// The annotation that names a tagged manifest: `REPOSITORY:TAG`.
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";
/// The annotation that names the repository of every entry this tool writes.
pub const REPOSITORY_ANNOTATION: &str = "io.github.acr-relocate.repository";
/// The image name containerd, BuildKit and Docker 25+ `docker save` put on each entry of the
/// layouts they write (`docker.io/library/nginx:latest`), beside a plain ref name (`latest`).
pub const CONTAINERD_IMAGE_NAME: &str = "io.containerd.image.name";

const LAYOUT_FILE: &str = "oci-layout";
const INDEX_FILE: &str = "index.json";
/// Largest `index.json` read (about 800,000 entries): a bigger one is refused before it is read
/// into memory.
pub(super) const MAX_INDEX_BYTES: u64 = 256 << 20;
/// Largest `oci-layout` file read (it holds one short JSON object).
pub(super) const MAX_MARKER_BYTES: u64 = 64 << 10;

/// The bytes of `path`, a layout's `index.json` or `oci-layout`, refused when larger than `most`
/// (an `index.json` of gigabytes, from a hostile archive, would otherwise be read whole).
pub(super) fn read_bounded(path: &Path, most: u64) -> std::io::Result<Vec<u8>> {
    let too_large = || {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("larger than {} KiB, more than a layout's holds", most >> 10),
        )
    };
    let file = std::fs::File::open(path)?;
    // The size first (no read at all of a huge file), then a bounded read (a file that grows).
    if file.metadata()?.len() > most {
        return Err(too_large());
    }
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut std::io::Read::take(file, most + 1), &mut bytes)?;
    if bytes.len() as u64 > most {
        return Err(too_large());
    }
    Ok(bytes)
}
const PARTIAL_DIR: &str = ".partial";
/// `index.json` is rewritten after this many new entries, or once the oldest entry not yet in
/// it is [`FLUSH_AFTER`] old: with the next blob or manifest written, or by the timer that looks
/// every [`FLUSH_TICK`] while entries wait (a single long transfer writes nothing else for
/// minutes). So an interrupted (killed) run loses little: its blobs are found again by the next
/// run, and the entries it made more than a few seconds before are in the index.
const FLUSH_EVERY: usize = 256;
const FLUSH_AFTER: std::time::Duration = std::time::Duration::from_secs(5);
/// How often the flush timer of a writer looks for entries waiting longer than [`FLUSH_AFTER`].
const FLUSH_TICK: std::time::Duration = std::time::Duration::from_secs(1);

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
struct IndexDescriptor {
    #[serde(rename = "mediaType")]
    media_type: String,
    digest: String,
    size: u64,
    #[serde(skip_serializing_if = "Option::is_none", rename = "artifactType")]
    artifact_type: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    annotations: BTreeMap<String, String>,
    #[serde(flatten)]
    rest: serde_json::Map<String, serde_json::Value>,
}

#[derive(Serialize, Deserialize)]
struct IndexFile {
    #[serde(rename = "schemaVersion")]
    schema_version: u32,
    #[serde(rename = "mediaType", default, skip_serializing_if = "Option::is_none")]
    media_type: Option<String>,
    manifests: Vec<IndexDescriptor>,
}

/// Entries of `index.json`, keyed for lookups.
#[derive(Default)]
struct Entries {
    /// (repository, tag) → descriptor.
    tagged: BTreeMap<(String, String), IndexDescriptor>,
    /// (repository, digest) → descriptor, for untagged manifests.
    untagged: BTreeMap<(String, String), IndexDescriptor>,
    /// Entries that name no repository (written by other tools): kept as they were.
    other: Vec<IndexDescriptor>,
    /// Entries changed since `index.json` was last written, and since when.
    unsaved: usize,
    unsaved_since: Option<std::time::Instant>,
}

impl Entries {
    /// Counts `changed` entries as not yet written.
    fn changed(&mut self, changed: usize) {
        if changed > 0 {
            self.unsaved += changed;
            self.unsaved_since
                .get_or_insert_with(std::time::Instant::now);
        }
    }
}

/// What opening a layout does with the entries of `index.json` that name no repository: a plain
/// ref name (`latest`, as skopeo's `oci:DIR:latest` writes) or none, and no
/// [`REPOSITORY_ANNOTATION`].
pub(super) enum Unnamed {
    /// A writer keeps them as they are: `index.json` is written back with them unchanged.
    Keep,
    /// A reader reads them as the repository `name` (the layout directory's name, or the
    /// archive's file name without its extension), and says so on stderr; without a usable name
    /// the layout is refused. `shown` is the layout as the user named it.
    ReadAs {
        /// The repository they are read as, when the layout's name gives one.
        name: Option<String>,
        /// The layout directory or archive file, for messages.
        shown: PathBuf,
    },
}

/// The subjects of the referrers among a layout's entries, built on first use.
#[derive(Default)]
struct ReferrerMap {
    /// (repository, subject) → its referrers.
    by_subject: HashMap<(String, Digest), Vec<Reference>>,
    /// Repository → an untagged entry of it whose manifest cannot be read, and why: it may be a
    /// referrer of any manifest there, so no referrer list of that repository is complete.
    unreadable: HashMap<String, (Digest, String)>,
}

/// An OCI image layout holding a whole registry.
pub struct Layout {
    root: PathBuf,
    /// Shared with the flush timer ([`Layout::keep_flushing`]), which holds it weakly.
    entries: Arc<Mutex<Entries>>,
    counter: AtomicU64,
    referrers: tokio::sync::OnceCell<ReferrerMap>,
    /// True once this writer put a file in the layout or wrote its `index.json`.
    changed: Arc<AtomicBool>,
    /// The flush timer of a writer, running while it has entries to write (stopped by
    /// [`Destination::finish`], and when the layout is dropped).
    flusher: Mutex<Option<Flusher>>,
    /// A writer's `oci-layout`, open and locked until the layout is dropped; `None` for a reader.
    _writer_lock: Option<std::fs::File>,
    /// For a writer, the repository readers read the entries that name no repository as (the
    /// directory's or archive's name): their plain tags are that repository's as far as a copy
    /// asks, so that writing over one is listed as an overwrite.
    unnamed_read_as: Option<String>,
    /// For the working copy of an archive (built in a temporary directory, packed at the end):
    /// the archive, which a write this file system refuses is said of.
    working_copy_of: Option<PathBuf>,
    /// For the working copy of an archive that cannot be written back (its directory is
    /// read-only): why, said by the first write that would change it, before any copying. A
    /// run with nothing to change reads it and succeeds.
    changes_refused: Option<String>,
}

fn layout_error(path: &Path, reason: impl Into<String>) -> Error {
    Error::Layout {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// The flush timer of a writer ([`Layout::keep_flushing`]): stopped when dropped.
struct Flusher(tokio::task::AbortHandle);

impl Drop for Flusher {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Writes the `index.json` of the layout at `root` from `entries` when they changed since it was
/// last written and the write is due (or `force`); marks the layout `changed` when it does.
/// Under the entries' lock: one write at a time, and none of an entry half made.
fn write_entries(
    root: &Path,
    entries: &Mutex<Entries>,
    changed: &AtomicBool,
    force: bool,
) -> Result<()> {
    let mut entries = entries.lock().expect("layout lock");
    let due = entries.unsaved >= FLUSH_EVERY
        || entries
            .unsaved_since
            .is_some_and(|since| since.elapsed() >= FLUSH_AFTER);
    if entries.unsaved == 0 || (!force && !due) {
        return Ok(());
    }
    let manifests: Vec<IndexDescriptor> = entries
        .tagged
        .values()
        .chain(entries.untagged.values())
        .chain(entries.other.iter())
        .cloned()
        .collect();
    let index = IndexFile {
        schema_version: 2,
        media_type: Some(OCI_INDEX.to_string()),
        manifests,
    };
    let bytes = serde_json::to_vec_pretty(&index).expect("index serialises");
    write_atomic(&root.join(INDEX_FILE), &bytes)?;
    entries.unsaved = 0;
    entries.unsaved_since = None;
    changed.store(true, Ordering::Relaxed);
    Ok(())
}

impl Layout {
    /// Opens an existing layout for reading. Takes no lock: a writer may be adding to it
    /// meanwhile (its `index.json` is always whole); [`Layout::create`] opens one to write.
    /// Entries that name no repository are read as the repository named by the layout's
    /// directory (said on stderr); a layout whose directory name is not a repository name is
    /// then refused.
    pub fn open(root: &Path) -> Result<Self> {
        Self::open_with(
            root,
            None,
            Unnamed::ReadAs {
                name: directory_name(root),
                shown: root.to_path_buf(),
            },
        )
    }

    /// Opens an existing layout for reading, with what to do with the entries that name no
    /// repository (an archive unpacked in a temporary directory names them after its file).
    pub(super) fn open_reading(root: &Path, unnamed: Unnamed) -> Result<Self> {
        Self::open_with(root, None, unnamed)
    }

    fn open_with(
        root: &Path,
        writer_lock: Option<std::fs::File>,
        unnamed_mode: Unnamed,
    ) -> Result<Self> {
        if root.symlink_metadata().is_err() {
            return Err(layout_error(root, "does not exist: give the directory of an OCI image layout (`oci:DIR`, holding `oci-layout` and `index.json`)"));
        }
        if !root.is_dir() {
            return Err(layout_error(root, "not a directory: expected an OCI image layout (with `oci-layout` and `index.json`)"));
        }
        let marker = root.join(LAYOUT_FILE);
        let text = read_bounded(&marker, MAX_MARKER_BYTES).map_err(|e| match e.kind() {
            std::io::ErrorKind::InvalidData => layout_error(
                &marker,
                "larger than an `oci-layout` file is: not an OCI image layout",
            ),
            _ => layout_error(root, "not an OCI image layout: `oci-layout` is missing"),
        })?;
        let version: serde_json::Value = serde_json::from_slice(&text)
            .map_err(|e| layout_error(&marker, format!("not valid JSON: {e}")))?;
        match version.get("imageLayoutVersion").and_then(|v| v.as_str()) {
            Some("1.0.0") => {}
            Some(other) => {
                return Err(layout_error(
                    &marker,
                    format!(
                        "image layout version `{}` is not supported (expected 1.0.0)",
                        crate::digest::truncate(other)
                    ),
                ))
            }
            None => return Err(layout_error(&marker, "no `imageLayoutVersion`")),
        }
        let index_path = root.join(INDEX_FILE);
        let text = read_bounded(&index_path, MAX_INDEX_BYTES).map_err(|e| match e.kind() {
            std::io::ErrorKind::InvalidData => layout_error(&index_path, e.to_string()),
            _ => layout_error(root, "not an OCI image layout: `index.json` is missing"),
        })?;
        let index: IndexFile = serde_json::from_slice(&text)
            .map_err(|e| layout_error(&index_path, format!("not a valid image index: {e}")))?;
        let mut entries = Entries::default();
        let mut unnamed = Vec::new();
        for d in index.manifests {
            if d.digest.parse::<Digest>().is_err() {
                return Err(layout_error(
                    &index_path,
                    format!(
                        "entry with unusable digest `{}`",
                        crate::digest::truncate(&d.digest)
                    ),
                ));
            }
            let repo_annotation = d.annotations.get(REPOSITORY_ANNOTATION).cloned();
            let ref_name = d.annotations.get(REF_NAME).cloned();
            let plain_tag = ref_name.clone().filter(|r| is_plain_tag(r));
            match (
                ref_name.as_deref().and_then(split_ref_name),
                repo_annotation,
            ) {
                (Some((repo, tag)), _) => {
                    entries.tagged.insert((repo, tag), d);
                }
                (None, Some(repo)) => match plain_tag {
                    Some(tag) => {
                        entries.tagged.insert((repo, tag), d);
                    }
                    None => {
                        entries.untagged.insert((repo, d.digest.clone()), d);
                    }
                },
                (None, None) => unnamed.push((plain_tag, d)),
            }
        }
        if !unnamed.is_empty() {
            match unnamed_mode {
                Unnamed::Keep => entries.other.extend(unnamed.into_iter().map(|(_, d)| d)),
                Unnamed::ReadAs { name, shown } => {
                    read_unnamed_as(&mut entries, unnamed, name.as_deref(), &shown)?
                }
            }
        }
        Ok(Layout {
            root: root.to_path_buf(),
            entries: Arc::new(Mutex::new(entries)),
            counter: AtomicU64::new(0),
            referrers: tokio::sync::OnceCell::new(),
            changed: Arc::new(AtomicBool::new(false)),
            flusher: Mutex::new(None),
            _writer_lock: writer_lock,
            unnamed_read_as: None,
            working_copy_of: None,
            changes_refused: None,
        })
    }

    /// Sets the repository this writer's entries without one are read as ([`Self::create`] sets
    /// the directory's name; an archive its file's).
    /// Marks this layout as the working copy of `archive`: a write refused for want of space or
    /// of permission is said of the archive and of the temporary directory it is built in.
    pub(super) fn building(mut self, archive: &Path) -> Self {
        self.working_copy_of = Some(archive.to_path_buf());
        self
    }

    /// The index entry `put_manifest` writes for `manifest` in `repository` (under `tag`).
    fn entry_of(
        &self,
        repository: &str,
        tag: Option<&str>,
        manifest: &RawManifest,
    ) -> IndexDescriptor {
        let artifact_type = manifest.view().ok().and_then(|v| match v {
            crate::manifest::ManifestView::Image { artifact_type, .. }
            | crate::manifest::ManifestView::Index { artifact_type, .. } => artifact_type,
        });
        let mut annotations = BTreeMap::new();
        annotations.insert(REPOSITORY_ANNOTATION.to_string(), repository.to_string());
        if let Some(tag) = tag {
            annotations.insert(REF_NAME.to_string(), format!("{repository}:{tag}"));
        }
        IndexDescriptor {
            media_type: manifest.media_type.clone(),
            digest: manifest.digest.to_string(),
            size: manifest.bytes.len() as u64,
            artifact_type,
            annotations,
            rest: Default::default(),
        }
    }

    /// Makes every write that would change this working copy fail with `why` (said of the
    /// archive): the archive it is packed into cannot be written.
    pub(super) fn refusing_changes(mut self, why: String) -> Self {
        self.changes_refused = Some(why);
        self
    }

    /// The error of a write [`Self::refusing_changes`] refuses; `None` when writes are allowed.
    fn change_refused(&self) -> Option<Error> {
        let why = self.changes_refused.as_ref()?;
        let archive = self.working_copy_of.as_deref().unwrap_or(&self.root);
        Some(layout_error(archive, why.clone()))
    }

    /// [`unwritable`], of the archive when this is its working copy.
    pub(super) fn refused(&self, e: Error) -> Error {
        let Some(archive) = &self.working_copy_of else {
            return unwritable(&self.root, e);
        };
        match refusal(&self.root, &e) {
            Some((error, _)) => layout_error(
                archive,
                format!(
                    "cannot be built in the temporary directory {} ({error}): free space there or set TMPDIR to a directory with room and write access, then run the same command again",
                    self.root.parent().unwrap_or(&self.root).display()
                ),
            ),
            None => e,
        }
    }

    pub(super) fn reading_unnamed_as(mut self, name: Option<String>) -> Self {
        self.unnamed_read_as = name.filter(|n| crate::endpoint::validate_repository(n).is_ok());
        self
    }

    /// The plain tags of entries that name no repository, read as `repository` (see
    /// `unnamed_read_as`), with their digests; none for any other repository.
    fn unnamed_tags(&self, entries: &Entries, repository: &str) -> Vec<(String, String)> {
        if self.unnamed_read_as.as_deref() != Some(repository) {
            return Vec::new();
        }
        entries
            .other
            .iter()
            .filter(|d| !d.annotations.contains_key(REPOSITORY_ANNOTATION))
            .filter_map(|d| {
                let tag = d.annotations.get(REF_NAME).filter(|r| is_plain_tag(r))?;
                Some((tag.clone(), d.digest.clone()))
            })
            .collect()
    }

    /// True once this writer put a blob or manifest file in the layout or wrote its
    /// `index.json`: a run that found everything in place changed nothing.
    pub fn changed(&self) -> bool {
        self.changed.load(Ordering::Relaxed)
    }

    /// Opens a layout to write into: creates it when the directory is missing or empty, continues
    /// an existing layout, and refuses a directory that holds anything else. The layout is locked
    /// for this writer until it is dropped: a layout another run is writing is refused.
    pub fn create(root: &Path) -> Result<Self> {
        if root.exists() {
            if !root.is_dir() {
                return Err(layout_error(root, "exists and is not a directory"));
            }
            let empty = std::fs::read_dir(root)
                .map_err(|e| Error::io(root, e))?
                .next()
                .is_none();
            if !empty && !only_creation_leftovers(root) {
                if !root.join(LAYOUT_FILE).exists() {
                    return Err(layout_error(
                        root,
                        "is not empty and is not an OCI image layout: choose a new or empty directory",
                    ));
                }
                warn_of_linked_blobs(root);
                return Ok(Self::continue_writing(root)?.reading_unnamed_as(directory_name(root)));
            }
        }
        let existed = root.exists();
        let made = (|| {
            let blobs = root.join("blobs").join("sha256");
            std::fs::create_dir_all(&blobs).map_err(|e| Error::io(&blobs, e))?;
            write_atomic(&root.join(INDEX_FILE), EMPTY_INDEX)?;
            // `oci-layout` last: its presence marks a usable layout.
            publish_marker(root)
        })();
        let layout = match made {
            Ok(Some(lock)) => {
                remove_stale_temporaries(root);
                Self::open_with(root, Some(lock), Unnamed::Keep)?
            }
            // Another run created the layout at the same moment: it is that run's to write.
            Ok(None) => Self::continue_writing(root)?,
            Err(e) => {
                // Nothing half-made stays (a directory of empty folders would be refused by the
                // next run as "not an OCI image layout").
                if !root.join(LAYOUT_FILE).exists() {
                    let _ = std::fs::remove_dir_all(root.join("blobs"));
                    let _ = std::fs::remove_file(root.join(INDEX_FILE));
                    if !existed {
                        let _ = std::fs::remove_dir(root);
                    }
                }
                return Err(unwritable(root, e));
            }
        };
        Ok(layout.reading_unnamed_as(directory_name(root)))
    }

    /// Opens an existing layout to write more into it, once this run holds its lock; what an
    /// earlier run left in `.partial/` is removed (no other writer can be using it).
    fn continue_writing(root: &Path) -> Result<Self> {
        let marker = root.join(LAYOUT_FILE);
        let file = std::fs::File::open(&marker).map_err(|e| Error::io(&marker, e))?;
        if !try_lock_exclusive(&file).map_err(|e| Error::io(&marker, e))? {
            return Err(busy(root));
        }
        let layout = Self::open_with(root, Some(file), Unnamed::Keep)?;
        let _ = std::fs::remove_dir_all(root.join(PARTIAL_DIR));
        remove_stale_temporaries(root);
        // A layout another tool made (or by hand) may lack it: every blob placed would fail.
        let blobs = root.join("blobs").join("sha256");
        if !blobs.is_dir() {
            std::fs::create_dir_all(&blobs).map_err(|e| unwritable(root, Error::io(&blobs, e)))?;
        }
        Ok(layout)
    }

    /// Gives the bytes written to `tmp` their name `final_path`, on disk first: after a power
    /// loss a blob is whole or absent.
    async fn seal(&self, file: tokio::fs::File, tmp: PartialFile, final_path: &Path) -> Result<()> {
        file.sync_all()
            .await
            .map_err(|e| Error::io(tmp.path(), e))?;
        drop(file);
        tmp.place(final_path).await?;
        self.changed.store(true, Ordering::Relaxed);
        // Entries waiting since the flush interval are written now, not after a long transfer.
        self.save_index(false)
    }

    fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.root.join("blobs").join("sha256").join(digest.hex())
    }

    /// A new name in `.partial/` for the bytes of `digest` on their way in.
    fn partial_file(&self, digest: &Digest) -> Result<PartialFile> {
        let dir = self.root.join(PARTIAL_DIR);
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        Ok(PartialFile {
            path: dir.join(format!("{}-{}-{n}", digest.hex(), std::process::id())),
            placed: false,
        })
    }

    async fn read_small(&self, digest: &Digest) -> Result<Bytes> {
        let path = self.blob_path(digest);
        let mut file = tokio::fs::File::open(&path)
            .await
            .map_err(|_| missing(digest))?;
        let mut bytes = Vec::new();
        (&mut file)
            .take(MAX_MANIFEST_BYTES as u64 + 1)
            .read_to_end(&mut bytes)
            .await
            .map_err(|e| Error::io(&path, e))?;
        if bytes.len() > MAX_MANIFEST_BYTES {
            return Err(layout_error(&path, "manifest larger than 4 MiB"));
        }
        let actual = Digest::of(&bytes);
        if &actual != digest {
            return Err(Error::Damaged {
                what: format!("manifest {digest} ({})", path.display()),
                digest: digest.clone(),
                actual: actual.to_string(),
            });
        }
        Ok(Bytes::from(bytes))
    }

    fn lookup(&self, repository: &str, reference: &str) -> Option<IndexDescriptor> {
        let entries = self.entries.lock().expect("layout lock");
        if reference.starts_with("sha256:") {
            entries
                .untagged
                .get(&(repository.to_string(), reference.to_string()))
                .cloned()
                .or_else(|| {
                    entries
                        .tagged
                        .iter()
                        .find(|((r, _), d)| r == repository && d.digest == reference)
                        .map(|(_, d)| d.clone())
                })
        } else {
            entries
                .tagged
                .get(&(repository.to_string(), reference.to_string()))
                .cloned()
        }
    }

    /// Writes `index.json` if entries changed since the last write. A write that fails says so,
    /// and that the files written so far stay for the next run.
    fn save_index(&self, force: bool) -> Result<()> {
        self.write_index(force).map_err(|e| {
            let cause = match &e {
                Error::Io { error, .. } => error.to_string(),
                other => other.to_string(),
            };
            layout_error(
                &self.root,
                format!("the layout's index.json could not be written ({cause}): the blobs written so far stay in the layout; fix that (free space, say), then run the same command again to finish"),
            )
        })
    }

    /// [`Layout::save_index`] with the plain error of the write.
    pub(super) fn write_index(&self, force: bool) -> Result<()> {
        write_entries(&self.root, &self.entries, &self.changed, force)
    }

    /// Starts the flush timer of this writer, unless it runs (or no runtime is there to run it):
    /// every [`FLUSH_TICK`], it writes `index.json` when an entry has waited [`FLUSH_AFTER`], so
    /// that a long transfer, during which nothing else is written, does not keep the entries
    /// made before it out of the index. It holds the entries weakly and ends with the layout.
    /// A write that fails is said at `-v` and left to the next write, which says it.
    fn keep_flushing(&self) {
        let mut flusher = self.flusher.lock().expect("flusher lock");
        if flusher.is_some() {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let root = self.root.clone();
        let (entries, changed): (Weak<Mutex<Entries>>, Weak<AtomicBool>) =
            (Arc::downgrade(&self.entries), Arc::downgrade(&self.changed));
        let task = runtime.spawn(async move {
            let mut tick = tokio::time::interval(FLUSH_TICK);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let (Some(entries), Some(changed)) = (entries.upgrade(), changed.upgrade()) else {
                    return;
                };
                if let Err(e) = write_entries(&root, &entries, &changed, false) {
                    crate::log::emit(1, || {
                        format!(
                            "{}: index.json not written yet ({e}); tried again later",
                            root.display()
                        )
                    });
                }
            }
        });
        *flusher = Some(Flusher(task.abort_handle()));
    }

    /// Stops the flush timer (started again by the next entry made): nothing writes
    /// `index.json` behind the caller's back, as while an archive is packed from the layout.
    pub(super) fn stop_flushing(&self) {
        self.flusher.lock().expect("flusher lock").take();
    }

    /// The referrers of every manifest the index lists, from their `subject`s. A manifest whose
    /// file is missing or damaged is left out (said at `-v`): only the tags that need it fail,
    /// where they read it.
    async fn build_referrers(&self) -> Result<ReferrerMap> {
        // (repository, entry, whether a tag names it)
        let all: Vec<(String, IndexDescriptor, bool)> = {
            let entries = self.entries.lock().expect("layout lock");
            entries
                .untagged
                .iter()
                .map(|((r, _), d)| (r.clone(), d.clone(), false))
                .chain(
                    entries
                        .tagged
                        .iter()
                        .map(|((r, _), d)| (r.clone(), d.clone(), true)),
                )
                .collect()
        };
        let mut map = ReferrerMap::default();
        let mut seen = BTreeSet::new();
        // Untagged entries that cannot be read, and the children the readable manifests list.
        let mut unreadable: Vec<(String, Digest, String)> = Vec::new();
        let mut children: std::collections::HashSet<(String, Digest)> = Default::default();
        for (repo, d, tagged) in all {
            if !seen.insert((repo.clone(), d.digest.clone())) {
                continue;
            }
            let digest: Digest = d.digest.parse()?;
            let manifest = match self
                .read_small(&digest)
                .await
                .and_then(|bytes| RawManifest::new(bytes, Some(&d.media_type)))
            {
                Ok(manifest) => manifest,
                Err(e) => {
                    // A tagged manifest fails through its tag; an untagged one may be a
                    // referrer, which leaves every referrer list of its repository unknown.
                    crate::log::emit(1, || {
                        format!(
                            "{}: manifest {digest} of {repo} cannot be read ({e})",
                            self.root.display()
                        )
                    });
                    if !tagged {
                        unreadable.push((repo.clone(), digest.clone(), e.to_string()));
                    }
                    continue;
                }
            };
            let Ok(view) = manifest.view() else { continue };
            children.extend(
                view.children()
                    .iter()
                    .map(|c| (repo.clone(), c.digest.clone())),
            );
            if let Some(subject) = view.subject() {
                map.by_subject
                    .entry((repo.clone(), subject.digest.clone()))
                    .or_default()
                    .push(Reference {
                        digest,
                        size: d.size,
                        media_type: d.media_type.clone(),
                        foreign: false,
                        platform: None,
                        artifact_type: d.artifact_type.clone(),
                    });
            }
        }
        // An unreadable entry that a readable index lists is that index's child (its tag fails
        // through it), not a referrer nobody can place.
        for (repo, digest, cause) in unreadable {
            if !children.contains(&(repo.clone(), digest.clone())) {
                map.unreadable.entry(repo).or_insert((digest, cause));
            }
        }
        Ok(map)
    }
}

/// Reads the entries that name no repository as the repository `name`, said on stderr; refuses
/// the layout when `name` is not a repository name or one of them would take the place of a tag
/// the layout lists under that name.
fn read_unnamed_as(
    entries: &mut Entries,
    unnamed: Vec<(Option<String>, IndexDescriptor)>,
    name: Option<&str>,
    shown: &Path,
) -> Result<()> {
    let unnamed = read_containerd_names(entries, unnamed, shown);
    if unnamed.is_empty() {
        return Ok(());
    }
    let count = unnamed.len();
    let tags: Vec<&str> = unnamed.iter().filter_map(|(t, _)| t.as_deref()).collect();
    let mut listed: Vec<String> = tags.iter().take(3).map(|t| format!("`{t}`")).collect();
    if tags.len() > 3 {
        listed.push("…".into());
    }
    let what = format!(
        "{count} {} of its index.json {} no repository ({}; skopeo's `oci:DIR:TAG` writes such entries)",
        if count == 1 { "entry" } else { "entries" },
        if count == 1 { "names" } else { "name" },
        if listed.is_empty() {
            "no tag".to_string()
        } else {
            format!("tags {}", listed.join(", "))
        },
    );
    let shown_name = name.unwrap_or("");
    let Some(repo) = name.filter(|n| crate::endpoint::validate_repository(n).is_ok()) else {
        return Err(layout_error(
            shown,
            format!(
                "{what}: they are read as the repository the layout's directory (or archive file) is named after, and `{}` is not a repository name (lowercase letters, digits, . _ -): rename it after their repository (as in `mv {} app`), then run again",
                crate::digest::truncate(shown_name),
                shown.display()
            ),
        ));
    };
    // A tag the repository has an entry of its own for (written by a copy into this layout
    // since) is that entry's: the entry without a repository stays, as an untagged manifest.
    let mut shadowed: Vec<String> = Vec::new();
    // Of two entries without a repository that give the same tag, the later wins (tools that
    // append to `index.json` put the newest last); the earlier is read as an untagged manifest.
    let mut taken_here = std::collections::BTreeSet::new();
    for (tag, d) in unnamed {
        match tag {
            Some(tag) => {
                let key = (repo.to_string(), tag);
                if taken_here.contains(&key) {
                    if let Some(earlier) = entries.tagged.remove(&key) {
                        entries
                            .untagged
                            .insert((repo.to_string(), earlier.digest.clone()), earlier);
                    }
                } else if entries
                    .tagged
                    .get(&key)
                    .is_some_and(|o| o.digest != d.digest)
                {
                    shadowed.push(format!("`{}`", key.1));
                    entries
                        .untagged
                        .insert((repo.to_string(), d.digest.clone()), d);
                    continue;
                }
                taken_here.insert(key.clone());
                entries.tagged.insert(key, d);
            }
            None => {
                entries
                    .untagged
                    .insert((repo.to_string(), d.digest.clone()), d);
            }
        }
    }
    let shadowed = match shadowed.is_empty() {
        true => String::new(),
        false => format!(
            "; {} tagged `{repo}:TAG` by an entry of its own too: that entry wins, and the other is read as an untagged manifest",
            shadowed.join(", ")
        ),
    };
    crate::log::emit(0, || {
        format!(
            "warning: {}: {what}: read as the repository `{repo}`, the name of the layout (rename the directory or archive to read them as another repository){shadowed}",
            shown.display()
        )
    });
    Ok(())
}

/// Reads the entries among `unnamed` that carry an [`CONTAINERD_IMAGE_NAME`] as the image it
/// names ([`containerd_image_name`]: Docker Hub's without their host and `library/`, as `docker
/// load` shows them, `docker.io/library/nginx:latest` is `nginx:latest`; other registries' with
/// their host, without its port, `ghcr.io/org/app:1` is `ghcr.io/org/app:1`), a name with a
/// digest and no tag is an untagged manifest of its repository. Returns the others. A tag two entries give goes to the
/// later, the earlier read as untagged (said on stderr); a tag the layout's own entries give
/// stays theirs.
fn read_containerd_names(
    entries: &mut Entries,
    unnamed: Vec<(Option<String>, IndexDescriptor)>,
    shown: &Path,
) -> Vec<(Option<String>, IndexDescriptor)> {
    let mut rest = Vec::new();
    let mut taken_here = std::collections::BTreeSet::new();
    let mut untagged_instead: Vec<String> = Vec::new();
    for (plain, d) in unnamed {
        let Some((repo, tag)) = d
            .annotations
            .get(CONTAINERD_IMAGE_NAME)
            .and_then(|n| containerd_image_name(n))
        else {
            rest.push((plain, d));
            continue;
        };
        // The image name says the tag, or none (`name@sha256:…`): a plain ref name beside it
        // (Docker writes the tag there, others the digest's hex) adds nothing.
        match tag {
            Some(tag) => {
                let key = (repo.clone(), tag);
                let earlier = match taken_here.contains(&key) {
                    true => entries.tagged.remove(&key),
                    false => None,
                };
                if let Some(earlier) = earlier {
                    untagged_instead.push(format!("`{}:{}`", key.0, key.1));
                    entries
                        .untagged
                        .insert((repo.clone(), earlier.digest.clone()), earlier);
                } else if let Some(own) = entries.tagged.get(&key) {
                    if own.digest != d.digest {
                        untagged_instead.push(format!("`{}:{}`", key.0, key.1));
                        entries.untagged.insert((repo, d.digest.clone()), d);
                    }
                    continue;
                }
                taken_here.insert(key.clone());
                entries.tagged.insert(key, d);
            }
            None => {
                entries.untagged.insert((repo, d.digest.clone()), d);
            }
        }
    }
    if !untagged_instead.is_empty() {
        crate::log::emit(0, || {
            format!(
                "warning: {}: {} named by more than one entry of its index.json: one entry keeps each, the others are read as untagged manifests",
                shown.display(),
                untagged_instead.join(", ")
            )
        });
    }
    rest
}

/// The repository and tag of an image name as containerd writes it (`docker.io/library/nginx:latest`,
/// `ghcr.io/org/app@sha256:…`): Docker Hub's names without their host and `library/` (`nginx`),
/// as `docker load` shows them, other registries' with their host as the first path component
/// (`ghcr.io/org/app`, so that two registries' `org/app` stay apart; a port is dropped, which no
/// repository name holds); `None` when that is not a repository name.
fn containerd_image_name(name: &str) -> Option<(String, Option<String>)> {
    let named = name.split('@').next()?;
    let (path, tag) = match named.rsplit_once(':') {
        Some((path, tag)) if !tag.contains('/') => (path, Some(tag.to_string())),
        _ => (named, None),
    };
    let (first, after) = path.split_once('/').unwrap_or(("", path));
    let host = first.contains('.') || first.contains(':') || first == "localhost";
    let repo = match (host, first) {
        (false, _) | (true, "docker.io" | "index.docker.io" | "registry-1.docker.io") => {
            let repo = if host { after } else { path };
            repo.strip_prefix("library/").unwrap_or(repo).to_string()
        }
        (true, _) => {
            let host = first.split(':').next().unwrap_or(first);
            format!("{host}/{after}")
        }
    };
    let repo = repo.as_str();
    crate::endpoint::validate_repository(repo).ok()?;
    if let Some(t) = &tag {
        crate::endpoint::validate_tag(t).ok()?;
    }
    Some((repo.to_string(), tag))
}

/// Says on stderr where blobs written into the layout at `root` go when its `blobs` or
/// `blobs/sha256` is a symbolic link: outside the layout's directory, which a layout received
/// from someone else should not decide unnoticed (one made so on purpose, to keep blobs on
/// another disk, is written through as it asks).
fn warn_of_linked_blobs(root: &Path) {
    for dir in [root.join("blobs"), root.join("blobs").join("sha256")] {
        let linked = std::fs::symlink_metadata(&dir).is_ok_and(|m| m.file_type().is_symlink());
        if linked {
            let leads = std::fs::canonicalize(&dir)
                .map_or_else(|e| format!("nowhere ({e})"), |p| p.display().to_string());
            crate::log::emit(0, || {
                format!(
                    "warning: {}: a symbolic link to {leads}: the blobs this run writes go there, outside the layout (replace it with a directory to keep them inside)",
                    dir.display()
                )
            });
            return;
        }
    }
}

/// A file in `.partial/` that is removed when dropped unless it was renamed into place: a write
/// that fails, or whose future is dropped (a transfer cancelled by Ctrl-C), leaves nothing behind.
struct PartialFile {
    path: PathBuf,
    placed: bool,
}

impl PartialFile {
    fn path(&self) -> &Path {
        &self.path
    }

    /// Creates the file (synchronously: a cancelled future leaves no creation pending).
    fn create(&self) -> Result<tokio::fs::File> {
        let file = std::fs::File::create(&self.path).map_err(|e| Error::io(&self.path, e))?;
        Ok(tokio::fs::File::from_std(file))
    }

    /// Gives the file its final name.
    async fn place(mut self, final_path: &Path) -> Result<()> {
        tokio::fs::rename(&self.path, final_path)
            .await
            .map_err(|e| Error::io(final_path, e))?;
        self.placed = true;
        Ok(())
    }
}

impl Drop for PartialFile {
    fn drop(&mut self) {
        if !self.placed {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// The refusal of a second writer.
fn busy(root: &Path) -> Error {
    layout_error(
        root,
        "another run is writing this layout (it holds the lock of its `oci-layout`): wait for that run to end, or stop it, then run again",
    )
}

/// Takes the exclusive advisory lock of `file` without waiting (`flock` on Unix, `LockFileEx` on
/// Windows); false when another open file holds it. Released when the file is closed, so a run
/// that dies, however it dies, leaves no lock behind.
pub(crate) fn try_lock_exclusive(file: &std::fs::File) -> std::io::Result<bool> {
    match fs4::FileExt::try_lock(file) {
        Ok(()) => Ok(true),
        Err(fs4::TryLockError::WouldBlock) => Ok(false),
        Err(fs4::TryLockError::Error(e)) => Err(e),
    }
}

/// Writes the `oci-layout` of a new layout, locked for this run: written and locked under a
/// temporary name, then linked to its own name, which fails when another run published one
/// first (`None`: that run's layout). A file system without hard links (FAT) gets it renamed
/// into place when no marker is there yet.
/// The names of [`write_atomic`]'s and [`publish_marker`]'s temporary files, before the writer's
/// process ID (`index.tmp-PID`, `oci-layout.tmp-PID`).
const TEMPORARY_PREFIXES: [&str; 2] = ["index.tmp-", "oci-layout.tmp-"];

/// The `index.json` of a new layout.
const EMPTY_INDEX: &[u8] =
    br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#;

/// True when `root` holds only what a creation of a layout killed before its `oci-layout` was
/// published leaves: an empty `blobs/sha256`, the new layout's empty `index.json`, temporary
/// files of [`write_atomic`] and [`publish_marker`]. Creating the layout again over them is
/// what that run was doing (each step of the creation may be done twice).
fn only_creation_leftovers(root: &Path) -> bool {
    let Ok(entries) = std::fs::read_dir(root) else {
        return false;
    };
    let empty_dir =
        |path: &Path| std::fs::read_dir(path).is_ok_and(|mut entries| entries.next().is_none());
    entries.into_iter().all(|entry| {
        let Ok(entry) = entry else {
            return false;
        };
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        match name.as_str() {
            "blobs" => std::fs::read_dir(&path).is_ok_and(|inside| {
                inside
                    .into_iter()
                    .all(|e| e.is_ok_and(|e| e.file_name() == "sha256" && empty_dir(&e.path())))
            }),
            INDEX_FILE => std::fs::read(&path).is_ok_and(|bytes| bytes == EMPTY_INDEX),
            _ => is_temporary(&name),
        }
    })
}

/// A temporary file of [`write_atomic`] (`index.tmp-PID`) or [`publish_marker`]
/// (`oci-layout.tmp-PID`).
fn is_temporary(name: &str) -> bool {
    TEMPORARY_PREFIXES.iter().any(|prefix| {
        crate::leftovers::writer_of(name, prefix)
            .is_some_and(|pid| name.len() == prefix.len() + pid.len())
    })
}

/// Removes the temporary files a killed writer left in the layout's directory (those of a
/// process still running, another creator at the same moment, stay).
fn remove_stale_temporaries(root: &Path) {
    crate::leftovers::remove(root, &TEMPORARY_PREFIXES);
}

fn publish_marker(root: &Path) -> Result<Option<std::fs::File>> {
    let marker = root.join(LAYOUT_FILE);
    let tmp = root.join(format!("{LAYOUT_FILE}.tmp-{}", std::process::id()));
    let mut file = create_fresh(&tmp).map_err(|e| Error::io(&tmp, e))?;
    let written = file
        .write_all(br#"{"imageLayoutVersion":"1.0.0"}"#)
        .and_then(|()| file.sync_all())
        .and_then(|()| try_lock_exclusive(&file));
    let published = match written {
        Ok(true) => match std::fs::hard_link(&tmp, &marker) {
            Ok(()) => Ok(Some(file)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(None),
            // Never renamed over a marker another run published meanwhile.
            Err(_) if marker.exists() => Ok(None),
            Err(_) => std::fs::rename(&tmp, &marker)
                .map(|()| Some(file))
                .map_err(|e| Error::io(&marker, e)),
        },
        Ok(false) => Err(busy(root)),
        Err(e) => Err(Error::io(&tmp, e)),
    };
    let _ = std::fs::remove_file(&tmp);
    published
}

fn missing(digest: &Digest) -> Error {
    Error::Status {
        method: "GET".into(),
        url: format!("blob {digest}"),
        status: 404,
        code: Some("BLOB_UNKNOWN".into()),
        message: Some("not in the layout".into()),
    }
}

/// The repository and tag of a `REPOSITORY:TAG` ref name. A full reference whose registry host
/// has a port (`registry.local:5000/team/app:v2`, as `skopeo copy … oci:DIR:REF` and crane
/// write them), which no repository name can hold, is read as a containerd image name is: the
/// host kept without its port (`registry.local/team/app`), Docker Hub's left out.
fn split_ref_name(name: &str) -> Option<(String, String)> {
    let (repo, tag) = name.rsplit_once(':')?;
    if repo.is_empty() || tag.is_empty() || tag.contains('/') {
        return None;
    }
    if repo.contains(':') {
        if let Some((repo, Some(tag))) = containerd_image_name(name) {
            return Some((repo, tag));
        }
    }
    Some((repo.to_string(), tag.to_string()))
}

/// A write into the layout at `root` that the file system refused for want of space or of
/// permission: said of the layout, with what to do, instead of naming a file in `.partial/`.
fn unwritable(root: &Path, e: Error) -> Error {
    match refusal(root, &e) {
        Some((error, remedy)) => layout_error(
            root,
            format!("cannot be written ({error}): {remedy}, then run the same command again (what was written so far stays)"),
        ),
        None => e,
    }
}

/// The file system's refusal of a write of a file under `root`, for want of space or of
/// permission, with what to do; `None` for any other error (a source read that failed on the
/// way is said as it is).
fn refusal<'e>(root: &Path, e: &'e Error) -> Option<(&'e std::io::Error, &'static str)> {
    let Error::Io { error, path } = e else {
        return None;
    };
    if !path.starts_with(root) {
        return None;
    }
    let remedy = match error.kind() {
        std::io::ErrorKind::StorageFull => "free space on its device",
        std::io::ErrorKind::ReadOnlyFilesystem => "write it on a writable file system",
        std::io::ErrorKind::PermissionDenied => "give this user write access to it",
        _ => return None,
    };
    Some((error, remedy))
}

/// The name of the directory `root` is (after `.` and links are resolved).
fn directory_name(root: &Path) -> Option<String> {
    std::fs::canonicalize(root)
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
}

/// True for a ref name that is a tag alone (`latest`), as skopeo writes: no repository in it.
fn is_plain_tag(name: &str) -> bool {
    crate::endpoint::validate_tag(name).is_ok()
}

/// A new file at `path`, for writing: what a run that died left under the name (or a link
/// planted there) is removed first, never written through.
pub(super) fn create_fresh(path: &Path) -> std::io::Result<std::fs::File> {
    let _ = std::fs::remove_file(path);
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
}

/// True when `path` holds a file of `len` bytes: written whole by an earlier run (synced before
/// its rename); a file of another size under the name (copied by other means, cut short) is not.
async fn holds(path: &Path, len: u64) -> bool {
    tokio::fs::metadata(path)
        .await
        .is_ok_and(|m| m.len() == len)
}

/// Writes a small file atomically: beside it first (a new file, with the mode and group of the
/// file it replaces), synced, then renamed over it. A write that fails removes its file.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    let mut f = create_fresh(&tmp).map_err(|e| Error::io(&tmp, e))?;
    let written = (|| {
        keep_access(path, &f);
        f.write_all(bytes).map_err(|e| Error::io(&tmp, e))?;
        f.sync_all().map_err(|e| Error::io(&tmp, e))?;
        std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

/// Gives `new_file`, written to replace `existing`, the mode and group `existing` has (when it
/// exists), so a private file stays private once replaced. The group is kept where this user may
/// set it; a mode or group that cannot be set is left as created.
pub(super) fn keep_access(existing: &Path, new_file: &std::fs::File) {
    let Ok(meta) = std::fs::metadata(existing) else {
        return;
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let _ = std::os::unix::fs::fchown(new_file, None, Some(meta.gid()));
    }
    let _ = new_file.set_permissions(meta.permissions());
}

#[async_trait]
impl Source for Layout {
    async fn repositories(&self) -> Result<Vec<String>> {
        let entries = self.entries.lock().expect("layout lock");
        let repos: BTreeSet<String> = entries
            .tagged
            .keys()
            .map(|(r, _)| r.clone())
            .chain(entries.untagged.keys().map(|(r, _)| r.clone()))
            .collect();
        Ok(repos.into_iter().collect())
    }

    async fn tags(&self, repository: &str) -> Result<Vec<String>> {
        let entries = self.entries.lock().expect("layout lock");
        let tags: BTreeSet<String> = entries
            .tagged
            .keys()
            .filter(|(r, _)| r == repository)
            .map(|(_, t)| t.clone())
            .chain(
                self.unnamed_tags(&entries, repository)
                    .into_iter()
                    .map(|(t, _)| t),
            )
            .collect();
        Ok(tags.into_iter().collect())
    }

    async fn manifest(&self, repository: &str, reference: &str) -> Result<RawManifest> {
        let entry = self.lookup(repository, reference);
        let digest: Digest = match (&entry, reference.parse::<Digest>()) {
            (Some(e), _) => e.digest.parse()?,
            (None, Ok(d)) => d,
            (None, Err(_)) => {
                return Err(Error::Status {
                    method: "GET".into(),
                    url: format!("{}: {repository}:{reference}", self.root.display()),
                    status: 404,
                    code: Some("MANIFEST_UNKNOWN".into()),
                    message: Some("no such tag in the layout".into()),
                })
            }
        };
        let bytes = match self.read_small(&digest).await {
            // A tag the index lists whose manifest file is gone: the layout is incomplete, and
            // only this tag fails, as for a missing layer. (Read by digest, the walk of a graph
            // names what listed it.)
            Err(e) if e.is_not_found() && entry.is_some() && !reference.starts_with("sha256:") => {
                return Err(Error::BlobMissing {
                    repository: repository.to_string(),
                    blob: digest,
                    cause: format!("the manifest of the tag `{reference}`: {e}"),
                })
            }
            read => read?,
        };
        RawManifest::new(bytes, entry.as_ref().map(|e| e.media_type.as_str()))
    }

    async fn manifest_digest(&self, repository: &str, reference: &str) -> Result<Option<Digest>> {
        if let Some(e) = self.lookup(repository, reference) {
            return Ok(Some(e.digest.parse()?));
        }
        match reference.parse::<Digest>() {
            Ok(d) if self.blob_path(&d).exists() => Ok(Some(d)),
            _ => Ok(None),
        }
    }

    async fn blob(&self, repository: &str, blob: &Reference) -> Result<ByteStream> {
        self.blob_from(repository, blob, 0).await
    }

    async fn blob_from(
        &self,
        _repository: &str,
        blob: &Reference,
        offset: u64,
    ) -> Result<ByteStream> {
        let path = self.blob_path(&blob.digest);
        let mut file = tokio::fs::File::open(&path)
            .await
            .map_err(|_| missing(&blob.digest))?;
        if offset > 0 {
            file.seek(std::io::SeekFrom::Start(offset))
                .await
                .map_err(|e| Error::io(&path, e))?;
        }
        let stream = futures::stream::unfold((file, path), |(mut file, path)| async move {
            let mut buf = vec![0u8; 256 * 1024];
            match file.read(&mut buf).await {
                Ok(0) => None,
                Ok(n) => {
                    buf.truncate(n);
                    Some((Ok(Bytes::from(buf)), (file, path)))
                }
                Err(e) => Some((Err(Error::io(&path, e)), (file, path))),
            }
        });
        Ok(Box::pin(stream))
    }

    async fn tag_digests(&self, repository: &str) -> Result<Option<Vec<(String, Digest)>>> {
        let entries = self.entries.lock().expect("layout lock");
        let mut out = Vec::new();
        for ((r, tag), d) in &entries.tagged {
            if r == repository {
                out.push((tag.clone(), d.digest.parse()?));
            }
        }
        Ok(Some(out))
    }

    async fn all_manifests(&self, repository: &str) -> Result<Option<Vec<Digest>>> {
        let entries = self.entries.lock().expect("layout lock");
        let mut out: Vec<Digest> = Vec::new();
        for ((r, _), d) in entries.tagged.iter().chain(entries.untagged.iter()) {
            if r == repository {
                out.push(d.digest.parse()?);
            }
        }
        out.sort();
        out.dedup();
        Ok(Some(out))
    }

    async fn referrers(&self, repository: &str, digest: &Digest) -> Result<Option<Vec<Reference>>> {
        let map = self
            .referrers
            .get_or_try_init(|| self.build_referrers())
            .await?;
        if let Some((referrer, cause)) = map.unreadable.get(repository) {
            return Err(Error::ReferrerMissing {
                repository: repository.to_string(),
                subject: digest.clone(),
                referrer: referrer.clone(),
                cause: format!("an untagged entry of the layout cannot be read, so the referrers are not known: {cause}"),
            });
        }
        Ok(Some(
            map.by_subject
                .get(&(repository.to_string(), digest.clone()))
                .cloned()
                .unwrap_or_default(),
        ))
    }
}

#[async_trait]
impl Destination for Layout {
    /// A blob is a file's presence (placed whole by a rename), an entry a lookup in memory.
    fn existence_is_cheap(&self) -> bool {
        true
    }

    /// The digest `reference` names among the repository's own entries of the index, when the
    /// layout also holds its bytes: an entry whose file was lost is content to put back, not
    /// content in place. A manifest file without an entry of this repository is not in place
    /// either: the blob store is shared by every repository, so the file may have been written
    /// for another one (or by a run stopped before its `index.json` was written), and a copy that
    /// took it as present would never write this repository's entry.
    async fn current_digest(&self, repository: &str, reference: &str) -> Result<Option<Digest>> {
        let digest = match self.lookup(repository, reference) {
            Some(entry) => entry.digest,
            // A plain tag skopeo wrote, which readers read as this repository's.
            None => {
                let entries = self.entries.lock().expect("layout lock");
                match self
                    .unnamed_tags(&entries, repository)
                    .into_iter()
                    .find(|(t, _)| t == reference)
                {
                    Some((_, digest)) => digest,
                    None => return Ok(None),
                }
            }
        };
        let digest: Digest = digest.parse()?;
        Ok(self.blob_path(&digest).exists().then_some(digest))
    }

    async fn blob_size(&self, _repository: &str, digest: &Digest) -> Result<super::Held> {
        match tokio::fs::metadata(self.blob_path(digest)).await {
            Ok(m) => Ok(super::Held::Sized(m.len())),
            Err(_) => Ok(super::Held::Missing),
        }
    }

    async fn mount_blob(&self, _repository: &str, _from: &str, digest: &Digest) -> Result<bool> {
        // Blobs are shared by every repository of a layout.
        Ok(self.blob_path(digest).exists())
    }

    async fn put_blob(
        &self,
        _repository: &str,
        blob: &Reference,
        mut content: ByteStream,
    ) -> Result<()> {
        let written: Result<()> = async {
            let final_path = self.blob_path(&blob.digest);
            if holds(&final_path, blob.size).await {
                return Ok(());
            }
            if let Some(refused) = self.change_refused() {
                return Err(refused);
            }
            let tmp = self.partial_file(&blob.digest)?;
            // Created here and now, not on a blocking thread the future may no longer wait for.
            let mut file = tmp.create()?;
            let mut hasher = Sha256::new();
            let mut size = 0u64;
            while let Some(chunk) = content.next().await {
                let chunk = chunk?;
                hasher.update(&chunk);
                size += chunk.len() as u64;
                file.write_all(&chunk)
                    .await
                    .map_err(|e| Error::io(tmp.path(), e))?;
            }
            file.flush().await.map_err(|e| Error::io(tmp.path(), e))?;
            if size != blob.size {
                return Err(Error::SizeMismatch {
                    what: format!("blob {}", blob.digest),
                    expected: blob.size,
                    actual: size,
                });
            }
            let actual = format!("sha256:{}", hex::encode(hasher.finalize()));
            if actual != blob.digest.as_str() {
                return Err(Error::DigestMismatch {
                    what: format!("blob {}", blob.digest),
                    expected: blob.digest.to_string(),
                    actual,
                });
            }
            self.seal(file, tmp, &final_path).await
        }
        .await;
        written.map_err(|e| self.refused(e))
    }

    async fn put_manifest(
        &self,
        repository: &str,
        tag: Option<&str>,
        manifest: &RawManifest,
    ) -> Result<()> {
        let written: Result<()> = async {
            let final_path = self.blob_path(&manifest.digest);
            let file_held = holds(&final_path, manifest.bytes.len() as u64).await;
            let descriptor = self.entry_of(repository, tag, manifest);
            if let Some(refused) = self.change_refused() {
                let entries = self.entries.lock().expect("layout lock");
                let current = match tag {
                    Some(tag) => entries
                        .tagged
                        .get(&(repository.to_string(), tag.to_string())),
                    None => entries
                        .untagged
                        .get(&(repository.to_string(), manifest.digest.to_string())),
                };
                if !file_held || current != Some(&descriptor) {
                    return Err(refused);
                }
            }
            if !file_held {
                let tmp = self.partial_file(&manifest.digest)?;
                let mut file = tmp.create()?;
                file.write_all(&manifest.bytes)
                    .await
                    .map_err(|e| Error::io(tmp.path(), e))?;
                self.seal(file, tmp, &final_path).await?;
            }
            {
                let mut entries = self.entries.lock().expect("layout lock");
                // The entry the index already has, the same, is no change to write.
                let replaced = match tag {
                    Some(tag) => entries.tagged.insert(
                        (repository.to_string(), tag.to_string()),
                        descriptor.clone(),
                    ),
                    None => entries.untagged.insert(
                        (repository.to_string(), manifest.digest.to_string()),
                        descriptor.clone(),
                    ),
                };
                if replaced.as_ref() != Some(&descriptor) {
                    entries.changed(1);
                }
                // A plain entry of the tag (skopeo's `oci:DIR:TAG`, read as this repository's)
                // is replaced by the one written: left, tools that read plain names would still
                // find the digest this copy overwrote.
                if let Some(tag) = tag {
                    if self.unnamed_read_as.as_deref() == Some(repository) {
                        let before = entries.other.len();
                        entries.other.retain(|d| {
                            d.annotations.contains_key(REPOSITORY_ANNOTATION)
                                || d.annotations.get(REF_NAME).map(String::as_str) != Some(tag)
                        });
                        let removed = before - entries.other.len();
                        entries.changed(removed);
                    }
                }
            }
            self.save_index(false)?;
            if self.entries.lock().expect("layout lock").unsaved > 0 {
                self.keep_flushing();
            }
            Ok(())
        }
        .await;
        written.map_err(|e| self.refused(e))
    }

    async fn finish(&self) -> Result<()> {
        self.stop_flushing();
        let saved = self.save_index(true);
        let _ = std::fs::remove_dir(self.root.join(PARTIAL_DIR));
        saved
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ref names as skopeo writes them for `oci:DIR:REF`: a tag, `REPOSITORY:TAG`, or a full
    /// reference; one with a registry port (no repository name holds a `:`) is read as a
    /// containerd image name is, instead of a repository no registry accepts.
    #[test]
    fn ref_names_with_a_registry_port_are_read_without_the_port() {
        let read = |name: &str| split_ref_name(name).map(|(r, t)| format!("{r} {t}"));
        assert_eq!(read("team/app:v1").as_deref(), Some("team/app v1"));
        assert_eq!(
            read("127.0.0.1:5000/svc8:latest").as_deref(),
            Some("127.0.0.1/svc8 latest")
        );
        assert_eq!(
            read("registry.local:5000/team/app:v2").as_deref(),
            Some("registry.local/team/app v2")
        );
        assert_eq!(
            read("localhost:5000/tool:3").as_deref(),
            Some("localhost/tool 3")
        );
        // Without a port, a host is a valid first path component and stays as it is.
        assert_eq!(
            read("ghcr.io/org/app:1").as_deref(),
            Some("ghcr.io/org/app 1")
        );
        assert_eq!(read("latest"), None);
    }

    #[tokio::test]
    async fn containerd_image_names_name_the_repository_and_tag_as_docker_load_reads_them() {
        use crate::transport::Source;
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("images");
        std::fs::create_dir_all(root.join("blobs/sha256")).unwrap();
        std::fs::write(root.join(LAYOUT_FILE), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
        let digest = |n: u8| format!("sha256:{}", format!("{n:02x}").repeat(32));
        // As Docker 25+ `docker save alpine:3.19 nginx:latest alpine:latest …` writes them: a
        // plain ref name beside the full image name.
        let entry = |n: u8, name: &str, plain: Option<&str>| {
            let mut annotations = serde_json::json!({ CONTAINERD_IMAGE_NAME: name });
            if let Some(tag) = plain {
                annotations[REF_NAME] = tag.into();
            }
            serde_json::json!({
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": digest(n), "size": 10, "annotations": annotations,
            })
        };
        let index = serde_json::json!({
            "schemaVersion": 2,
            "manifests": [
                entry(1, "docker.io/library/alpine:3.19", Some("3.19")),
                entry(2, "docker.io/library/nginx:latest", Some("latest")),
                entry(3, "docker.io/library/alpine:latest", Some("latest")),
                entry(4, "ghcr.io/org/app:1.0", Some("1.0")),
                entry(
                    5,
                    &format!("localhost:5000/tools/cli@{}", digest(5)),
                    Some(&digest(5)[7..]),
                ),
                // The same name again, later: it wins, the earlier is kept untagged.
                entry(6, "docker.io/library/nginx:latest", Some("latest")),
            ],
        });
        std::fs::write(root.join(INDEX_FILE), index.to_string()).unwrap();
        let layout = Layout::open(&root).unwrap();
        assert_eq!(
            layout.repositories().await.unwrap(),
            ["alpine", "ghcr.io/org/app", "localhost/tools/cli", "nginx"]
        );
        assert_eq!(layout.tags("alpine").await.unwrap(), ["3.19", "latest"]);
        assert_eq!(layout.tags("ghcr.io/org/app").await.unwrap(), ["1.0"]);
        assert!(layout.tags("localhost/tools/cli").await.unwrap().is_empty());
        let tagged = |repo: &str, tag: &str| {
            let entries = layout.entries.lock().unwrap();
            entries.tagged[&(repo.to_string(), tag.to_string())]
                .digest
                .clone()
        };
        assert_eq!(tagged("nginx", "latest"), digest(6));
        assert_eq!(tagged("alpine", "latest"), digest(3));
        let entries = layout.entries.lock().unwrap();
        assert!(entries
            .untagged
            .contains_key(&("nginx".to_string(), digest(2))));
        assert!(entries
            .untagged
            .contains_key(&("localhost/tools/cli".to_string(), digest(5))));
        assert!(entries.other.is_empty());
    }

    #[test]
    fn an_index_larger_than_a_layout_holds_is_refused_unread() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("big");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::write(root.join(LAYOUT_FILE), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
        // Sparse: no disk used, and never read.
        let index = std::fs::File::create(root.join(INDEX_FILE)).unwrap();
        index.set_len(MAX_INDEX_BYTES + 1).unwrap();
        let e = Layout::open(&root).err().expect("refused").to_string();
        assert!(
            e.contains("index.json: larger than 262144 KiB, more than a layout's holds"),
            "{e}"
        );
        std::fs::File::create(root.join(LAYOUT_FILE))
            .unwrap()
            .set_len(MAX_MARKER_BYTES + 1)
            .unwrap();
        let e = Layout::open(&root).err().expect("refused").to_string();
        assert!(
            e.contains("oci-layout: larger than an `oci-layout` file is"),
            "{e}"
        );
    }

    #[test]
    fn image_names_without_a_repository_name_after_the_host_are_not_read_as_one() {
        assert_eq!(
            containerd_image_name("registry.example:5000/team/app:v1"),
            Some(("registry.example/team/app".into(), Some("v1".into())))
        );
        // A digest reference has no tag, whatever the plain ref name beside it says.
        assert_eq!(
            containerd_image_name(&format!(
                "docker.io/library/alpine@sha256:{}",
                "a".repeat(64)
            )),
            Some(("alpine".into(), None))
        );
        assert_eq!(
            containerd_image_name("busybox"),
            Some(("busybox".into(), None))
        );
        assert_eq!(containerd_image_name("Docker.io/Library/UPPER:1"), None);
        assert_eq!(containerd_image_name("docker.io/library/x:bad tag"), None);
    }

    #[test]
    fn a_write_refused_for_space_or_access_is_said_of_the_layout_with_what_to_do() {
        let root = Path::new("/media/usb/registry");
        for (kind, remedy) in [
            (std::io::ErrorKind::StorageFull, "free space on its device"),
            (
                std::io::ErrorKind::ReadOnlyFilesystem,
                "writable file system",
            ),
        ] {
            let e = Error::io(root.join(".partial/abc-1-0"), std::io::Error::from(kind));
            let said = unwritable(root, e).to_string();
            assert!(
                said.starts_with("/media/usb/registry: cannot be written (")
                    && said.contains(remedy)
                    && !said.contains(".partial"),
                "{said}"
            );
        }
        let other = Error::io(
            root.join("x"),
            std::io::Error::from(std::io::ErrorKind::Other),
        );
        assert!(matches!(unwritable(root, other), Error::Io { .. }));
        // A source's file that cannot be read is the source's.
        let elsewhere = Error::io(
            "/srv/source-layout/blobs/sha256/ab",
            std::io::Error::from(std::io::ErrorKind::PermissionDenied),
        );
        assert!(matches!(unwritable(root, elsewhere), Error::Io { .. }));
    }

    /// A plain blob's descriptor.
    fn blob_of(bytes: &[u8]) -> Reference {
        Reference {
            digest: Digest::of(bytes),
            size: bytes.len() as u64,
            media_type: String::new(),
            foreign: false,
            platform: None,
            artifact_type: None,
        }
    }

    /// The names in `root`, sorted.
    fn names_in(root: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(root)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    /// A new layout in a temporary directory (`l` in it) with the tag `app:v1` of a
    /// [`small_manifest`] noting `note`, not finished.
    async fn layout_with_v1(note: &str) -> (tempfile::TempDir, PathBuf, Layout) {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("l");
        let layout = Layout::create(&root).unwrap();
        layout
            .put_manifest("app", Some("v1"), &small_manifest(note))
            .await
            .unwrap();
        (dir, root, layout)
    }

    fn small_manifest(text: &str) -> RawManifest {
        let bytes = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a", "size": 2},
            "layers": [],
            "annotations": {"note": text},
        }))
        .unwrap();
        RawManifest::new(Bytes::from(bytes), None).unwrap()
    }

    #[tokio::test]
    async fn a_second_writer_is_refused_while_readers_go_on() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("l");
        let writer = Layout::create(&root).unwrap();
        let refused = Layout::create(&root)
            .err()
            .expect("a second writer refused");
        assert!(
            refused
                .to_string()
                .contains("another run is writing this layout"),
            "{refused}"
        );
        assert!(refused.is_fatal());
        let reader = Layout::open(&root).unwrap();
        let manifest = small_manifest("written while a reader reads");
        writer
            .put_manifest("app", Some("v1"), &manifest)
            .await
            .unwrap();
        writer.finish().await.unwrap();
        assert_eq!(
            Layout::open(&root).unwrap().tags("app").await.unwrap(),
            ["v1"]
        );
        drop(reader);
        drop(writer);
        // The lock goes with its writer, and leaves nothing in the layout.
        let next = Layout::create(&root).unwrap();
        assert_eq!(next.tags("app").await.unwrap(), ["v1"]);
        assert_eq!(names_in(&root), ["blobs", "index.json", "oci-layout"]);
    }

    fn partial_files(root: &Path) -> Vec<std::ffi::OsString> {
        match std::fs::read_dir(root.join(PARTIAL_DIR)) {
            Ok(dir) => dir.map(|e| e.unwrap().file_name()).collect(),
            Err(_) => Vec::new(),
        }
    }

    #[tokio::test]
    async fn a_blob_transfer_dropped_half_way_leaves_no_partial_file() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("l");
        let layout = Layout::create(&root).unwrap();
        let bytes = vec![7u8; 1000];
        let blob = blob_of(&bytes);
        // Half the bytes, then a source that never sends the rest (a cancelled transfer).
        let first_half = Ok(Bytes::from(bytes[..500].to_vec()));
        let stream: ByteStream =
            Box::pin(futures::stream::iter([first_half]).chain(futures::stream::pending()));
        let transfer = layout.put_blob("app", &blob, stream);
        let cancelled = tokio::time::timeout(std::time::Duration::from_millis(200), transfer).await;
        assert!(cancelled.is_err(), "the transfer cannot have finished");
        assert_eq!(partial_files(&root), Vec::<std::ffi::OsString>::new());
        assert!(!layout.blob_path(&blob.digest).exists());
        layout.finish().await.unwrap();
        assert!(!root.join(PARTIAL_DIR).exists());
    }

    /// The working copy of an archive that cannot be written back: what it already holds is
    /// put again as a no-op, the first change is refused, of the archive, before a byte of it
    /// is written.
    #[tokio::test]
    async fn a_working_copy_refusing_changes_takes_what_it_holds_and_refuses_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("l");
        let held = small_manifest("held");
        {
            let layout = Layout::create(&root).unwrap();
            layout.put_manifest("app", Some("v1"), &held).await.unwrap();
            layout.finish().await.unwrap();
        }
        let archive = Path::new("/media/usb/export.tar");
        let layout = Layout::create(&root)
            .unwrap()
            .building(archive)
            .refusing_changes("cannot be updated: read-only".into());
        layout.put_manifest("app", Some("v1"), &held).await.unwrap();
        let refused = |e: Error| {
            let said = e.to_string();
            assert!(
                said.starts_with("/media/usb/export.tar: cannot be updated: read-only"),
                "{said}"
            );
            assert!(e.is_fatal(), "{said}");
        };
        refused(
            layout
                .put_manifest("app", Some("v2"), &held)
                .await
                .unwrap_err(),
        );
        let new = small_manifest("new");
        refused(
            layout
                .put_manifest("app", Some("v3"), &new)
                .await
                .unwrap_err(),
        );
        assert!(!layout.blob_path(&new.digest).exists());
        let bytes = vec![7u8; 10];
        let blob = blob_of(&bytes);
        let stream: ByteStream = Box::pin(futures::stream::iter([Ok(Bytes::from(bytes))]));
        refused(layout.put_blob("app", &blob, stream).await.unwrap_err());
        assert!(!layout.blob_path(&blob.digest).exists());
        assert!(!layout.changed());
    }

    #[tokio::test]
    async fn a_manifest_that_cannot_be_put_in_place_leaves_no_partial_file() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("l");
        let layout = Layout::create(&root).unwrap();
        let manifest = small_manifest("its name is taken by a directory");
        let blocker = layout.blob_path(&manifest.digest);
        std::fs::create_dir_all(blocker.join("inside")).unwrap();
        let failed = layout.put_manifest("app", Some("v1"), &manifest).await;
        assert!(failed.is_err());
        assert_eq!(partial_files(&root), Vec::<std::ffi::OsString>::new());
    }

    #[tokio::test]
    async fn a_manifest_another_repository_wrote_is_not_in_place_for_this_one() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::create(&dir.path().join("l")).unwrap();
        let signature = small_manifest("the same bytes in both repositories");
        layout.put_manifest("a", None, &signature).await.unwrap();
        let digest = signature.digest.as_str();
        assert_eq!(
            layout.current_digest("a", digest).await.unwrap(),
            Some(signature.digest.clone())
        );
        assert_eq!(layout.current_digest("b", digest).await.unwrap(), None);
        layout.put_manifest("b", None, &signature).await.unwrap();
        assert_eq!(
            layout.current_digest("b", digest).await.unwrap(),
            Some(signature.digest.clone())
        );
        // Read as a source, a layout still answers for any file it holds (layouts other tools
        // wrote list only their tagged manifests).
        assert!(Source::manifest_digest(&layout, "c", digest)
            .await
            .unwrap()
            .is_some());
    }

    #[tokio::test]
    async fn a_blob_reopens_at_an_offset() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::create(&dir.path().join("l")).unwrap();
        let bytes: Vec<u8> = (0..300_000u32).map(|i| (i % 253) as u8).collect();
        let digest = Digest::of(&bytes);
        std::fs::write(layout.blob_path(&digest), &bytes).unwrap();
        let blob = Reference {
            digest,
            size: bytes.len() as u64,
            media_type: String::new(),
            foreign: false,
            platform: None,
            artifact_type: None,
        };
        for offset in [0u64, 1, 262_144, 299_999, 300_000] {
            let stream = layout.blob_from("r", &blob, offset).await.unwrap();
            let read: Vec<u8> = stream.map(|c| c.unwrap().to_vec()).concat().await;
            assert_eq!(read, bytes[offset as usize..], "from {offset}");
        }
    }

    /// A layout `index.json` as another tool writes it: `entries` of (ref name, digest).
    fn write_foreign_layout(root: &Path, entries: &[(Option<&str>, &RawManifest)]) {
        std::fs::create_dir_all(root.join("blobs/sha256")).unwrap();
        std::fs::write(root.join(LAYOUT_FILE), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
        let manifests: Vec<serde_json::Value> = entries
            .iter()
            .map(|(name, m)| {
                std::fs::write(root.join("blobs/sha256").join(m.digest.hex()), &m.bytes).unwrap();
                let mut entry = serde_json::json!({
                    "mediaType": m.media_type, "digest": m.digest.as_str(), "size": m.bytes.len(),
                });
                if let Some(name) = name {
                    entry["annotations"] = serde_json::json!({ REF_NAME: name });
                }
                entry
            })
            .collect();
        let index = serde_json::json!({"schemaVersion": 2, "manifests": manifests});
        std::fs::write(root.join(INDEX_FILE), index.to_string()).unwrap();
    }

    #[tokio::test]
    async fn entries_without_a_repository_are_read_as_the_layouts_name_and_kept_by_a_writer() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("svc2");
        let latest = small_manifest("skopeo copy … oci:svc2:latest");
        let unnamed = small_manifest("skopeo copy … oci:svc2");
        let ours = small_manifest("app:v1, as this tool writes it");
        write_foreign_layout(
            &root,
            &[
                (Some("latest"), &latest),
                (None, &unnamed),
                (Some("app:v1"), &ours),
            ],
        );
        let reader = Layout::open(&root).unwrap();
        assert_eq!(reader.repositories().await.unwrap(), ["app", "svc2"]);
        assert_eq!(reader.tags("svc2").await.unwrap(), ["latest"]);
        let listed = reader.all_manifests("svc2").await.unwrap().unwrap();
        assert!(listed.contains(&latest.digest) && listed.contains(&unnamed.digest));
        assert_eq!(
            reader.manifest("svc2", "latest").await.unwrap().digest,
            latest.digest
        );

        // A writer keeps them as they were: skopeo still reads `oci:svc2:latest`.
        let before = std::fs::read(root.join(INDEX_FILE)).unwrap();
        let writer = Layout::create(&root).unwrap();
        writer
            .put_manifest("other", Some("v2"), &small_manifest("added"))
            .await
            .unwrap();
        writer.finish().await.unwrap();
        let index: serde_json::Value =
            serde_json::from_slice(&std::fs::read(root.join(INDEX_FILE)).unwrap()).unwrap();
        let names: Vec<&str> = index["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|m| m["annotations"][REF_NAME].as_str())
            .collect();
        assert!(
            names.contains(&"latest") && names.contains(&"other:v2"),
            "{names:?}"
        );
        assert_ne!(before, std::fs::read(root.join(INDEX_FILE)).unwrap());
    }

    #[test]
    fn entries_without_a_repository_in_a_layout_named_unlike_a_repository_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("My Export");
        let (a, b) = (small_manifest("a"), small_manifest("b"));
        write_foreign_layout(&root, &[(Some("latest"), &a), (Some("v1"), &b)]);
        let refused = Layout::open(&root).err().expect("refused").to_string();
        assert!(
            refused.contains("2 entries of its index.json name no repository")
                && refused.contains("`latest`")
                && refused.contains("`v1`")
                && refused.contains("`My Export` is not a repository name")
                && refused.contains("rename it"),
            "{refused}"
        );
        assert!(!refused.contains('\n'));
    }

    #[tokio::test]
    async fn a_tag_whose_manifest_file_is_gone_fails_alone_as_missing_in_the_layout() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("l");
        let layout = Layout::create(&root).unwrap();
        let (kept, lost) = (small_manifest("kept"), small_manifest("lost"));
        layout
            .put_manifest("app", Some("kept"), &kept)
            .await
            .unwrap();
        layout
            .put_manifest("app", Some("lost"), &lost)
            .await
            .unwrap();
        layout.finish().await.unwrap();
        drop(layout);
        std::fs::remove_file(root.join("blobs/sha256").join(lost.digest.hex())).unwrap();

        let reader = Layout::open(&root).unwrap();
        // The referrers of every other manifest are still listed.
        let listed = reader.referrers("app", &kept.digest).await.unwrap();
        assert!(listed.is_some_and(|l| l.is_empty()));
        let e = reader.manifest("app", "lost").await.expect_err("fails");
        assert!(e.is_incomplete_store(), "{e}");
        assert!(reader.manifest("app", "kept").await.is_ok());
    }

    /// A creation killed before `oci-layout` was published leaves a directory of its own
    /// leftovers: the next writer creates the layout over them (and removes the temporary
    /// files), where a directory holding anything else is still refused.
    #[tokio::test]
    async fn a_creation_killed_half_way_is_taken_up_by_the_next_writer() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("l");
        std::fs::create_dir_all(root.join("blobs/sha256")).unwrap();
        std::fs::write(root.join(INDEX_FILE), EMPTY_INDEX).unwrap();
        std::fs::write(root.join("index.tmp-4999997"), b"{\"schemaVer").unwrap();
        std::fs::write(root.join("oci-layout.tmp-4999996"), b"").unwrap();
        let layout = Layout::create(&root).unwrap();
        layout
            .put_manifest("app", Some("v1"), &small_manifest("after a kill"))
            .await
            .unwrap();
        layout.finish().await.unwrap();
        drop(layout);
        assert_eq!(names_in(&root), ["blobs", "index.json", "oci-layout"]);

        // Anything else in the directory: refused as before.
        let other = dir.path().join("other");
        std::fs::create_dir_all(other.join("blobs/sha256")).unwrap();
        std::fs::write(other.join("notes.txt"), b"mine").unwrap();
        let refused = Layout::create(&other).err().expect("refused");
        assert!(refused.to_string().contains("is not empty"), "{refused}");
    }

    /// The temporary index a killed writer left is removed by the next writer, which holds the
    /// lock (no other writer can be using it).
    #[tokio::test]
    async fn a_temporary_index_a_killed_writer_left_is_removed_by_the_next() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("l");
        drop(Layout::create(&root).unwrap());
        std::fs::write(root.join("index.tmp-4999998"), b"half").unwrap();
        drop(Layout::create(&root).unwrap());
        assert!(!root.join("index.tmp-4999998").exists());
    }

    /// Entries are written to `index.json` with the next file written a few seconds after they
    /// were made, not only every [`FLUSH_EVERY`] entries: a run killed after that keeps them.
    #[tokio::test]
    async fn entries_older_than_the_flush_interval_are_written_with_the_next_entry() {
        let (_dir, root, layout) = layout_with_v1("first").await;
        assert!(Layout::open(&root)
            .unwrap()
            .tags("app")
            .await
            .unwrap()
            .is_empty());
        layout.entries.lock().unwrap().unsaved_since =
            std::time::Instant::now().checked_sub(FLUSH_AFTER);
        layout
            .put_manifest("app", Some("v2"), &small_manifest("second"))
            .await
            .unwrap();
        // Not finished (as a killed run is not): the entry that waited is in the index (the
        // new one waits its turn).
        let listed = Layout::open(&root).unwrap().tags("app").await.unwrap();
        assert!(listed.contains(&"v1".to_string()), "{listed:?}");
    }

    /// While a single long blob transfer is all a run does (nothing else written for minutes),
    /// the entries made before it are written to `index.json` all the same once they are
    /// [`FLUSH_AFTER`] old: a run killed during the transfer keeps them.
    #[tokio::test]
    async fn entries_are_written_within_the_flush_interval_while_a_transfer_is_in_flight() {
        let (_dir, root, layout) = layout_with_v1("finished before the long transfer").await;
        layout.entries.lock().unwrap().unsaved_since =
            std::time::Instant::now().checked_sub(FLUSH_AFTER);
        let bytes = vec![3u8; 1 << 20];
        let blob = blob_of(&bytes);
        let first_half = Ok(Bytes::from(bytes[..bytes.len() / 2].to_vec()));
        let stream: ByteStream =
            Box::pin(futures::stream::iter([first_half]).chain(futures::stream::pending()));
        let transfer = layout.put_blob("app", &blob, stream);
        let listed = async {
            loop {
                let tags = Layout::open(&root).unwrap().tags("app").await.unwrap();
                if tags.contains(&"v1".to_string()) {
                    return;
                }
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        };
        tokio::select! {
            _ = transfer => panic!("the transfer cannot have finished"),
            written = tokio::time::timeout(FLUSH_TICK * 10, listed) => {
                assert!(written.is_ok(), "index.json did not list v1 while the transfer ran");
            }
        }
        // Entries not yet due wait: a new one is not written by the timer at once.
        layout
            .put_manifest("app", Some("v2"), &small_manifest("new"))
            .await
            .unwrap();
        tokio::time::sleep(FLUSH_TICK * 2).await;
        let tags = Layout::open(&root).unwrap().tags("app").await.unwrap();
        assert_eq!(tags, ["v1"]);
        layout.finish().await.unwrap();
        assert!(
            layout.flusher.lock().unwrap().is_none(),
            "stopped by finish"
        );
        let tags = Layout::open(&root).unwrap().tags("app").await.unwrap();
        assert_eq!(tags, ["v1", "v2"]);
    }

    /// A dropped writer leaves no flush timer running: it ends with the layout.
    #[tokio::test]
    async fn the_flush_timer_ends_with_the_layout() {
        let (_dir, _root, layout) = layout_with_v1("dropped").await;
        let entries = Arc::downgrade(&layout.entries);
        assert!(layout.flusher.lock().unwrap().is_some(), "an entry waits");
        drop(layout);
        tokio::time::sleep(FLUSH_TICK * 2).await;
        assert!(
            entries.upgrade().is_none(),
            "the timer still holds the entries"
        );
    }

    /// A layout with `oci-layout` and `index.json` and no `blobs/sha256` (made by hand or by
    /// another tool) is written into: the directory is made, not every blob refused.
    #[tokio::test]
    async fn a_layout_without_its_blobs_directory_is_written_into() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("l");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::write(root.join(LAYOUT_FILE), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
        std::fs::write(root.join(INDEX_FILE), EMPTY_INDEX).unwrap();
        let layout = Layout::create(&root).unwrap();
        assert!(root.join("blobs/sha256").is_dir());
        let bytes = b"a layer".to_vec();
        let blob = blob_of(&bytes);
        let stream: ByteStream = Box::pin(futures::stream::iter([Ok(Bytes::from(bytes))]));
        layout.put_blob("app", &blob, stream).await.unwrap();
        layout
            .put_manifest("app", Some("v1"), &small_manifest("first"))
            .await
            .unwrap();
        layout.finish().await.unwrap();
        let reader = Layout::open(&root).unwrap();
        assert_eq!(reader.tags("app").await.unwrap(), ["v1"]);
        assert!(reader.blob_path(&blob.digest).is_file());
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn an_index_written_again_keeps_the_mode_of_the_one_it_replaces() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("l");
        let index = root.join(INDEX_FILE);
        drop(Layout::create(&root).unwrap());
        std::fs::set_permissions(&index, std::fs::Permissions::from_mode(0o640)).unwrap();
        let layout = Layout::create(&root).unwrap();
        layout
            .put_manifest("app", Some("v1"), &small_manifest("private"))
            .await
            .unwrap();
        layout.finish().await.unwrap();
        let mode = std::fs::metadata(&index).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o640);
    }

    #[tokio::test]
    async fn an_index_that_cannot_be_written_says_so_and_leaves_no_temporary_file() {
        let (_dir, root, layout) = layout_with_v1("cannot be listed").await;
        // Its name taken by a directory that is not empty: the rename over it fails.
        std::fs::remove_file(root.join(INDEX_FILE)).unwrap();
        std::fs::create_dir_all(root.join(INDEX_FILE).join("inside")).unwrap();
        let e = layout.finish().await.expect_err("fails").to_string();
        assert!(
            e.contains("the layout's index.json could not be written")
                && e.contains("the blobs written so far stay")
                && e.contains("run the same command again"),
            "{e}"
        );
        assert_eq!(names_in(&root), ["blobs", "index.json", "oci-layout"]);
    }
}
