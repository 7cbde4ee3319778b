//! Planning and applying a rewrite: scan every file, resolve every reference against the target
//! (before anything is written), compute the new texts, then write them or show a diff.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use crate::kustomize::{self, KustomizeScope};
use crate::model::{Findings, Lines, Mention, MentionPlace, Reference};
use crate::rename::{self, Renamer, Renaming};
use crate::{diff, dockerfile, extract, fsio, Error, FileKind, Registry};

/// Looks references up in the target registry. The library calls it for every checkable
/// reference before anything is written; a tag the target lacks blocks the whole rewrite.
pub trait TargetResolver {
    /// Resolves `repository:tag` in the target: `Ok(Some(digest))` when present (the digest is
    /// used by `pin_digests`), `Ok(None)` when the target does not have it, `Err(message)` when
    /// the lookup itself failed.
    fn resolve(&self, repository: &str, tag: &str) -> Result<Option<String>, String>;

    /// Whether the target holds `repository@digest`. Defaults to `Ok(true)` (not checked).
    fn has_digest(&self, repository: &str, digest: &str) -> Result<bool, String> {
        let _ = (repository, digest);
        Ok(true)
    }
}

/// What to rewrite.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// The registry references point at now.
    pub from: Registry,
    /// The registry they should point at, possibly with a repository prefix the images were
    /// copied under ([`Registry::parse_target`]).
    pub to: Registry,
    /// Replace `:tag` by `@digest` (read from the resolver) where the file shape allows.
    pub pin_digests: bool,
}

/// Why a reference cannot be rewritten safely.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Issue {
    /// The target has no such tag.
    MissingTag,
    /// The target has no such digest.
    MissingDigest,
    /// The lookup failed.
    Lookup(String),
}

/// A reference that blocks the rewrite.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// 1-based line.
    pub line: usize,
    /// The reference as it would read in the target, e.g. `newreg.azurecr.io/app:1.2`.
    pub target_reference: String,
    /// What is wrong.
    pub issue: Issue,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.issue {
            Issue::MissingTag => write!(f, "{}: the target has no such tag", self.target_reference),
            Issue::MissingDigest => write!(
                f,
                "{}: the target has no such digest",
                self.target_reference
            ),
            Issue::Lookup(message) => write!(
                f,
                "{}: cannot check the target: {message}",
                self.target_reference
            ),
        }
    }
}

/// The rewrite of one file, computed but not yet written.
#[derive(Debug, Clone)]
pub struct FilePlan {
    /// The file.
    pub path: PathBuf,
    /// Its kind.
    pub kind: FileKind,
    /// Its text now.
    pub original: String,
    /// Its text after the rewrite (equal to `original` when nothing changes).
    pub rewritten: String,
    /// References to the old registry, rewritten in `rewritten`.
    pub references: Vec<Reference>,
    /// Mentions of the old registry left alone (block scalars, commands, other values).
    pub mentions: Vec<Mention>,
    /// Kustomize `images:` entries that already named the new registry and whose `newTag:`
    /// `--pin-digests` replaced by `digest:` (see [`Reference::pinned`]); they are not
    /// references to the old registry, so they are neither counted as rewritten nor remaining.
    pub pinned_at_target: Vec<Reference>,
    /// References the target cannot serve; while any exists nothing is written.
    pub problems: Vec<Problem>,
    /// Set when the file should have been read as YAML or as a Dockerfile but could not be: it
    /// was scanned as plain text instead (its mentions are listed) and nothing in it is
    /// rewritten.
    pub not_parsed: Option<NotParsed>,
    /// How the file is encoded on disk: `original` and `rewritten` are its decoded text, and
    /// [`FilePlan::contents`] encodes `rewritten` the same way again.
    pub encoding: Encoding,
}

/// How a file's text is encoded on disk.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Encoding {
    /// UTF-8 (with or without a byte order mark), or text read as 8-bit characters.
    #[default]
    Utf8,
    /// UTF-16, little-endian, starting with its byte order mark (`FF FE`), as Windows tools
    /// (PowerShell 5's `>`, Notepad's "Unicode") save text. The decoded text starts with
    /// U+FEFF, as a UTF-8 file with a mark does, so the mark is written back.
    Utf16Le,
    /// UTF-16, big-endian, starting with its byte order mark (`FE FF`).
    Utf16Be,
}

impl Encoding {
    /// The encoding a byte order mark at the start of `bytes` announces, when it is UTF-16.
    fn of_utf16(bytes: &[u8]) -> Option<Encoding> {
        match bytes {
            [0xFF, 0xFE, ..] => Some(Encoding::Utf16Le),
            [0xFE, 0xFF, ..] => Some(Encoding::Utf16Be),
            _ => None,
        }
    }

    /// `bytes` (UTF-16 in this encoding, mark included) as text, or `Err` with the text read
    /// leniently (each unpaired surrogate as U+FFFD) when they are not valid UTF-16.
    fn decode(self, bytes: &[u8]) -> Result<String, String> {
        let units = bytes.chunks(2).map(|pair| match (self, pair) {
            (Encoding::Utf16Be, [high, low]) => u16::from_be_bytes([*high, *low]),
            (_, [low, high]) => u16::from_le_bytes([*low, *high]),
            // An odd byte at the end is no character.
            (_, _) => 0xD800,
        });
        let mut valid = true;
        let text: String = char::decode_utf16(units)
            .map(|c| {
                c.unwrap_or_else(|_| {
                    valid = false;
                    char::REPLACEMENT_CHARACTER
                })
            })
            .collect();
        if valid {
            Ok(text)
        } else {
            Err(text)
        }
    }

    /// `text` encoded this way.
    fn encode(self, text: &str) -> Vec<u8> {
        match self {
            Encoding::Utf8 => text.as_bytes().to_vec(),
            Encoding::Utf16Le => text.encode_utf16().flat_map(u16::to_le_bytes).collect(),
            Encoding::Utf16Be => text.encode_utf16().flat_map(u16::to_be_bytes).collect(),
        }
    }
}

/// True for the kinds whose files are scanned as plain text when they cannot be parsed (or are
/// not UTF-8), their mentions listed and nothing in them rewritten, instead of failing: YAML
/// (JSON included) and Dockerfiles.
fn read_as_text_when_not_parsed(kind: FileKind) -> bool {
    kind.is_yaml() || kind == FileKind::Dockerfile
}

/// Why a YAML file or a Dockerfile was scanned as plain text instead of being parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotParsed {
    /// 1-based line of the problem, when there is one.
    pub line: Option<usize>,
    /// What the parser said (or `not UTF-8 text`).
    pub reason: String,
}

impl FilePlan {
    /// True when the rewrite changes the file.
    pub fn is_changed(&self) -> bool {
        self.original != self.rewritten
    }

    /// The one-line warning for a file that was not parsed ([`FilePlan::not_parsed`]), naming
    /// the file, the line and the parser's message: `FILE:LINE: not read as YAML (...)` (or
    /// `as JSON`, `as a Dockerfile`). It may be printed as it is: the parser's message quotes
    /// the file (`unknown instruction ...`), so its secrets are hidden and its control
    /// characters, and those of the file name, escaped ([`crate::printable_line`]).
    pub fn not_parsed_warning(&self) -> Option<String> {
        let not_parsed = self.not_parsed.as_ref()?;
        let path = crate::escape_controls(&self.path.display().to_string()).into_owned();
        let at = match not_parsed.line {
            Some(line) => format!("{path}:{line}"),
            None => path,
        };
        let read_as = match self.kind {
            FileKind::Dockerfile => "a Dockerfile",
            FileKind::Json => "JSON",
            _ => "YAML",
        };
        Some(format!(
            "{at}: not read as {read_as} ({}): nothing in it is rewritten; its mentions of the old registry are listed as text (fix the file or edit it by hand)",
            crate::printable_line(&not_parsed.reason)
        ))
    }

    /// The bytes [`Plan::write`] writes: `rewritten` in the file's [`Encoding`].
    pub fn contents(&self) -> Vec<u8> {
        self.encoding.encode(&self.rewritten)
    }

    /// The unified diff of the change, empty when none. The files are headed as `git diff`
    /// heads them (see [`crate::unified_diff`]); a path that leaves the current directory
    /// (`../src/a.yaml`), which `patch` and `git apply` refuse, is headed by its absolute path
    /// instead, as an absolute path is (`a/home/me/src/a.yaml`: apply with `patch -p1 -d /`).
    pub fn diff(&self) -> String {
        diff::unified_diff(
            &diff_label(&self.path).to_string_lossy(),
            &self.original,
            &self.rewritten,
        )
    }
}

/// The rewrite of a set of paths.
#[derive(Debug, Default)]
pub struct Plan {
    /// Files that were read and scanned, in path order (including those with nothing to change).
    pub files: Vec<FilePlan>,
    /// Files and paths that failed (unreadable, not text, not a file); they are not touched, and
    /// while any exists [`Plan::write`] writes nothing. YAML and Dockerfiles that cannot be
    /// parsed are planned instead ([`FilePlan::not_parsed`]).
    pub failures: Vec<Error>,
    /// Symbolic links met while walking a directory: not followed, so the files they point to
    /// were not read ([`Discovered::skipped_links`](crate::Discovered::skipped_links)).
    pub skipped_links: Vec<PathBuf>,
    /// Symbolic links met while walking a directory that point to a file read anyway, each with
    /// the name it is read under ([`Discovered::links_to_files_read`](crate::Discovered::links_to_files_read)):
    /// nothing was missed.
    pub links_to_files_read: Vec<(PathBuf, PathBuf)>,
}

/// How [`Plan::write_with`] writes files.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteOptions {
    /// Write a file that has several hard links in place (see [`fsio::write_in_place`]) so
    /// that every name sees the rewrite, instead of refusing it. Other files are still replaced
    /// atomically.
    pub in_place_hard_links: bool,
}

/// What [`Plan::write`] did.
#[derive(Debug, Default)]
pub struct WriteSummary {
    /// Each file written, with the number of references rewritten in it, in plan order.
    pub written: Vec<(PathBuf, usize)>,
    /// Files written in place because they have several hard links (also in `written`).
    pub written_in_place: Vec<PathBuf>,
    /// Files written.
    pub files_written: usize,
    /// References rewritten in them.
    pub references_rewritten: usize,
    /// Files that could not be written.
    pub errors: Vec<Error>,
    /// Temporary files that a run killed while it wrote (`kill -9`) left beside the files
    /// written, removed ([`fsio::remove_stale_temporaries`]).
    pub leftovers_removed: Vec<PathBuf>,
}

impl Plan {
    /// Every blocking problem with its file.
    pub fn problems(&self) -> impl Iterator<Item = (&Path, &Problem)> {
        self.files
            .iter()
            .flat_map(|f| f.problems.iter().map(move |p| (f.path.as_path(), p)))
    }

    /// True when some reference cannot be served by the target: [`Plan::write`] refuses.
    pub fn is_blocked(&self) -> bool {
        self.problems().next().is_some()
    }

    /// How many references and mentions of the old registry the files hold (what `--check`
    /// counts).
    pub fn remaining(&self) -> usize {
        self.files
            .iter()
            .map(|f| f.references.len() + f.mentions.len())
            .sum()
    }

    /// The unified diff of every changed file.
    pub fn diff(&self) -> String {
        self.files.iter().map(FilePlan::diff).collect()
    }

    /// Writes every changed file atomically, refusing files with several hard links
    /// ([`Plan::write_with`] with the default options).
    pub fn write(&self) -> Result<WriteSummary, Error> {
        self.write_with(WriteOptions::default())
    }

    /// The files that [`Plan::write_with`] would refuse before writing anything, in plan order,
    /// one error each: a changed file that is read-only ([`Error::ReadOnly`]), that has several
    /// hard links unless `options` writes them in place ([`Error::HardLinked`]), or that is
    /// replaced atomically in a read-only directory ([`Error::ReadOnlyDirectory`]). Nothing is
    /// written; previews (`--dry-run`, `--check`) call it to say what a real run would refuse.
    pub fn refusals(&self, options: WriteOptions) -> Vec<Error> {
        self.files
            .iter()
            .filter(|f| f.is_changed())
            .filter_map(|f| {
                // A file that cannot be looked at now fails when it is written.
                let links = fsio::hard_links(&f.path).unwrap_or(1);
                let in_place = links > 1 && options.in_place_hard_links;
                if let Some(e @ Error::ReadOnly { .. }) = fsio::write_refusal(&f.path, true) {
                    return Some(e);
                }
                if links > 1 && !in_place {
                    return Some(Error::HardLinked {
                        path: f.path.clone(),
                        links,
                    });
                }
                fsio::write_refusal(&f.path, in_place)
            })
            .collect()
    }

    /// The changed files that [`Plan::write_with`] writes in place under `options` (those with
    /// several hard links, when `options` says so); the others are replaced atomically.
    pub fn written_in_place(&self, options: WriteOptions) -> Vec<&Path> {
        if !options.in_place_hard_links {
            return Vec::new();
        }
        self.files
            .iter()
            .filter(|f| f.is_changed())
            .filter(|f| fsio::hard_links(&f.path).is_ok_and(|links| links > 1))
            .map(|f| f.path.as_path())
            .collect()
    }

    /// Writes every changed file. Refuses to write anything when some path or file could not be
    /// read ([`Plan::failures`]; [`Error::Unread`]), when the plan is blocked
    /// ([`Error::Blocked`]) or when some file would be refused ([`Plan::refusals`]: read-only
    /// files and directories, hard-linked files; [`Error::Refused`]). Otherwise writes every
    /// file it can and lists those it could not (a file changed since the check, a full disk).
    /// Files are replaced atomically; a file with several hard links is written in place when
    /// `options` says so.
    pub fn write_with(&self, options: WriteOptions) -> Result<WriteSummary, Error> {
        // A path that could not be read may hold references too: writing the others would
        // leave the rewrite half done across the paths given.
        if !self.failures.is_empty() {
            return Err(Error::Unread {
                count: self.failures.len(),
            });
        }
        let blocked = self.problems().count();
        if blocked > 0 {
            return Err(Error::Blocked { count: blocked });
        }
        let refused = self.refusals(options);
        if !refused.is_empty() {
            return Err(Error::Refused { refused });
        }
        let mut summary = WriteSummary::default();
        let directories: std::collections::BTreeSet<&Path> = self
            .files
            .iter()
            .filter(|f| f.is_changed())
            .filter_map(|f| f.path.parent())
            .collect();
        summary.leftovers_removed = fsio::remove_stale_temporaries(directories);
        for file in self.files.iter().filter(|f| f.is_changed()) {
            let contents = file.contents();
            let contents = contents.as_slice();
            let linked = match fsio::hard_links(&file.path) {
                Ok(links) if links > 1 => Some(links),
                _ => None,
            };
            let result = match linked {
                Some(_) if options.in_place_hard_links => {
                    fsio::write_in_place(&file.path, contents)
                }
                // Linked since the check: refused as it would have been then.
                Some(links) => Err(Error::HardLinked {
                    path: file.path.clone(),
                    links,
                }),
                None => fsio::write_atomically(&file.path, contents),
            };
            match result {
                Ok(()) => {
                    summary.files_written += 1;
                    summary.references_rewritten += file.references.len();
                    summary
                        .written
                        .push((file.path.clone(), file.references.len()));
                    if linked.is_some() {
                        summary.written_in_place.push(file.path.clone());
                    }
                }
                Err(e) => summary.errors.push(e),
            }
        }
        Ok(summary)
    }
}

/// What the files of a run hold when they name neither the old registry nor the new one (see
/// [`Rewriter::nothing_matched`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NothingMatched {
    /// How many files were read.
    pub files: usize,
    /// The registries the image references of those files name, each with how many references
    /// name it, the most named first (then by name). Only registries named explicitly count
    /// (`docker.io/library/nginx`, not the Docker Hub short name `nginx`), in the places a
    /// reference is rewritten (image fields, `FROM`, registry settings, ...), not in comments
    /// or other text. Lower case, without a `:443` suffix.
    pub referenced: Vec<(String, usize)>,
}

type Cache = HashMap<(String, String, bool), Result<Option<String>, String>>;

/// Plans rewrites from one registry to another, optionally checking against the target.
pub struct Rewriter<'r> {
    options: Options,
    resolver: Option<&'r dyn TargetResolver>,
    renamer: Option<&'r dyn Renamer>,
    cache: RefCell<Cache>,
}

impl<'r> Rewriter<'r> {
    /// A rewriter that does not check the target.
    pub fn new(options: Options) -> Self {
        Rewriter {
            options,
            resolver: None,
            renamer: None,
            cache: RefCell::new(HashMap::new()),
        }
    }

    /// Checks every reference against the target (and reads digests for pinning) through
    /// `resolver`. Lookups are cached per repository and tag.
    pub fn with_resolver(mut self, resolver: &'r dyn TargetResolver) -> Self {
        self.resolver = Some(resolver);
        self
    }

    /// Gives the repositories the new names `renamer` says they were copied under (`copy
    /// --map`): `OLD/web:1` becomes `NEW/frontend/web:1` (`NEW/PREFIX/frontend/web:1` under a
    /// prefix), the target is asked for the new name, and a reference already at the new
    /// registry under its new name is one of the new registry's (done). Where a file names a
    /// repository in a way the rewrite cannot rename safely (a value holding the registry
    /// alone, a templated repository, an escaped string), the reference is listed as a
    /// [`Mention`] with a note instead of being rewritten. Without a renamer every repository
    /// keeps its name.
    pub fn with_renamer(mut self, renamer: &'r dyn Renamer) -> Self {
        self.renamer = Some(renamer);
        self
    }

    /// The name at the new registry of `repository` (as the old registry names it), below the
    /// prefix of `--to`: renamed by the [`Renamer`], if any, else the same.
    pub fn renamed(&self, repository: &str) -> String {
        match self.renamer {
            Some(renamer) => renamer.renamed(repository),
            None => repository.to_owned(),
        }
    }

    /// The options.
    pub fn options(&self) -> &Options {
        &self.options
    }

    /// Finds references and mentions of the old registry in `text`; no resolution, no edit.
    /// Fails with the 1-based line and a message when the text cannot be parsed.
    pub fn scan(&self, kind: FileKind, text: &str) -> Result<Findings, (usize, String)> {
        self.scan_with(kind, text, &KustomizeScope::unknown())
    }

    /// [`Rewriter::scan`] knowing what the resources of a Kustomize file name after the run
    /// (`scope`), which decides how its `images:` names are handled.
    fn scan_with(
        &self,
        kind: FileKind,
        text: &str,
        bases: &KustomizeScope,
    ) -> Result<Findings, (usize, String)> {
        let from = &self.options.from;
        match kind {
            FileKind::Dockerfile => dockerfile::scan(text, from).map_err(|e| (e.line, e.message)),
            FileKind::HelmTemplate => Ok(extract::scan_template(text, from)),
            FileKind::Text => Ok(extract::scan_text(text, from)),
            FileKind::DotEnv => Ok(extract::scan_dotenv(text, from)),
            // JSON that is not YAML too (comments, a cut file) is scanned as text quietly; one
            // nested too deep to read safely is said to be, as YAML is.
            FileKind::Json => match extract::scan_yaml(text, kind, from, bases) {
                Err(e) if e.too_deep => Err((e.line, e.message)),
                found => Ok(found.unwrap_or_else(|_| extract::scan_text(text, from))),
            },
            _ => extract::scan_yaml(text, kind, from, bases).map_err(|e| (e.line, e.message)),
        }
    }

    /// Plans the rewrite of one text: scan, resolve against the target, edit the spans.
    /// `path` names the file in errors and diffs. Alone, a Kustomize file's `images:` names are
    /// taken to match resources that are not rewritten (see [`ReferenceKind::KustomizeName`]).
    ///
    /// [`ReferenceKind::KustomizeName`]: crate::ReferenceKind::KustomizeName
    ///
    /// A YAML file or a Dockerfile that cannot be parsed is not an error: it is scanned as
    /// plain text, its mentions listed and nothing in it rewritten, and
    /// [`FilePlan::not_parsed`] says why.
    pub fn rewrite_text(&self, path: &Path, kind: FileKind, text: &str) -> Result<FilePlan, Error> {
        self.rewrite_text_with(path, kind, text, &KustomizeScope::unknown())
    }

    fn rewrite_text_with(
        &self,
        path: &Path,
        kind: FileKind,
        text: &str,
        scope: &KustomizeScope,
    ) -> Result<FilePlan, Error> {
        if self.options.pin_digests && self.resolver.is_none() {
            return Err(Error::PinWithoutResolver);
        }
        let (findings, not_parsed) = match self.scan_with(kind, text, scope) {
            Ok(findings) => (findings, None),
            Err((line, message)) if read_as_text_when_not_parsed(kind) => (
                extract::scan_text(text, &self.options.from),
                Some(NotParsed {
                    line: Some(line),
                    reason: message,
                }),
            ),
            Err((line, message)) => {
                return Err(Error::Parse {
                    path: path.to_path_buf(),
                    line,
                    message,
                })
            }
        };
        let (mut references, mut mentions) = findings.into_parts();
        self.unwritable_to_mentions(kind, text, &mut references, &mut mentions);
        let to = self.options.to.to_string();
        let mut problems = Vec::new();
        let mut edits: Vec<(Range<usize>, String)> = Vec::new();
        for reference in &mut references {
            let written_name = if reference.short_name {
                self.options.to.short_name().unwrap_or_default()
            } else {
                to.as_str()
            };
            // Checked by `unwritable_to_mentions`: what is left can be renamed.
            let renaming =
                rename::renaming(text, reference, self.renamer).unwrap_or(Renaming::Unchanged);
            edits.push(match (&reference.insertion, &renaming) {
                (Some(insertion), Renaming::After(after)) => (
                    insertion.at..insertion.at,
                    format!("{}{written_name}{after}", insertion.before),
                ),
                (Some(insertion), _) => (
                    insertion.at..insertion.at,
                    format!("{}{written_name}{}", insertion.before, insertion.after),
                ),
                (None, _) => (reference.registry_span.clone(), written_name.to_owned()),
            });
            if let Renaming::Span(span, renamed) = renaming {
                edits.push((span, renamed));
            }
            if let Some(problem) = self.resolve(reference) {
                problems.push(problem);
            }
            if let (Some(digest), Some(span)) = (&reference.pinned, &reference.tag_span) {
                edits.push((span.clone(), reference.pin.text(digest)));
            }
        }
        let mut pinned_at_target = Vec::new();
        if self.options.pin_digests && kind == FileKind::Kustomization && not_parsed.is_none() {
            for mut entry in extract::kustomize_entries_at(text, &self.options.to, self.renamer) {
                if let Some(problem) = self.resolve(&mut entry) {
                    problems.push(problem);
                }
                if let (Some(digest), Some(span)) = (&entry.pinned, &entry.tag_span) {
                    edits.push((span.clone(), entry.pin.text(digest)));
                    pinned_at_target.push(entry);
                }
            }
        }
        edits.sort_by_key(|(span, _)| span.start);
        // Two insertions may share a place (a `newName:` added under one Kustomize entry and
        // the entry added before the next): only the same edit twice is dropped.
        edits.dedup();
        let mut rewritten = String::with_capacity(text.len());
        let mut at = 0;
        for (span, replacement) in &edits {
            if span.start < at {
                continue;
            }
            rewritten.push_str(&text[at..span.start]);
            rewritten.push_str(replacement);
            at = span.end;
        }
        rewritten.push_str(&text[at..]);
        Ok(FilePlan {
            path: path.to_path_buf(),
            kind,
            original: text.to_owned(),
            rewritten,
            references,
            mentions,
            pinned_at_target,
            problems,
            not_parsed,
            encoding: Encoding::Utf8,
        })
    }

    /// The plan of a YAML file or Dockerfile whose bytes are not text in its encoding (`text`
    /// is what could be read of them): scanned for mentions only, never written.
    fn not_parsed_text(
        &self,
        path: PathBuf,
        kind: FileKind,
        text: String,
        reason: &str,
    ) -> FilePlan {
        let findings = extract::scan_text(&text, &self.options.from);
        FilePlan {
            path,
            kind,
            original: text.clone(),
            rewritten: text,
            references: Vec::new(),
            mentions: findings.into_parts().1,
            pinned_at_target: Vec::new(),
            problems: Vec::new(),
            not_parsed: Some(NotParsed {
                line: None,
                reason: reason.to_owned(),
            }),
            encoding: Encoding::Utf8,
        }
    }

    /// Why `reference` cannot be written for the new registry, when it cannot: a registry
    /// setting holding the old registry's short name when the new registry has no short name
    /// (it is not an Azure registry), or one holding the old registry alone (a login server, a
    /// service connection's name) when `--to` has a repository prefix, which a login server
    /// cannot take and an image name needs.
    ///
    /// With a [`Renamer`], also a reference whose repository cannot be renamed safely in
    /// `text` ([`rename::renaming`]).
    fn unwritable(&self, text: &str, reference: &Reference) -> Option<String> {
        let (from, to) = (&self.options.from, &self.options.to);
        if let Err(why) = rename::renaming(text, reference, self.renamer) {
            let what = match reference.kind.is_setting() {
                true => reference
                    .setting
                    .as_deref()
                    .unwrap_or("this setting")
                    .to_owned(),
                false => format!("this {}", reference.kind.describe()),
            };
            return Some(format!("{what} {why}"));
        }
        let setting = reference.setting.as_deref().unwrap_or("this setting");
        if reference.short_name && to.short_name().is_none() {
            return Some(format!(
                "{setting} holds the short name of {from}, and {to} has none (it is not an Azure registry): not rewritten; set it by hand"
            ));
        }
        let alone = reference.kind.is_setting() && reference.repository.is_empty();
        (alone && !reference.short_name && to.prefix().is_some()).then(|| format!(
            "{setting} holds {from} alone, and {to} adds a repository prefix, which a login server or a service connection's name cannot take and an image name needs: not rewritten; set it by hand"
        ))
    }

    /// Moves the references that cannot be written for the new registry ([`Rewriter::unwritable`])
    /// to `mentions`, with a note saying why.
    fn unwritable_to_mentions(
        &self,
        kind: FileKind,
        text: &str,
        references: &mut Vec<Reference>,
        mentions: &mut Vec<Mention>,
    ) {
        if !references
            .iter()
            .any(|r| self.unwritable(text, r).is_some())
        {
            return;
        }
        let lines = Lines::new(text);
        let place = match kind {
            FileKind::DotEnv => MentionPlace::OtherFile,
            _ => MentionPlace::Value,
        };
        let mut found = Findings::with_mentions(std::mem::take(mentions));
        references.retain(|r| match self.unwritable(text, r) {
            Some(note) => {
                found.mention_with_note(&lines, r.registry_span.start, place, note);
                false
            }
            None => true,
        });
        found.sort();
        *mentions = found.into_parts().1;
    }

    /// Checks one reference against the target and records the pinned digest.
    fn resolve(&self, reference: &mut Reference) -> Option<Problem> {
        let resolver = self.resolver?;
        if !reference.checkable {
            return None;
        }
        let renamed = self.renamed(&reference.repository);
        let repository = self.options.to.in_target(&renamed);
        let mut target = format!("{}/{renamed}", self.options.to);
        let (key, by_digest) = match (&reference.digest, &reference.tag) {
            (Some(digest), _) => {
                target = format!("{target}@{digest}");
                (digest.clone(), true)
            }
            (None, tag) => {
                let tag = tag.clone().unwrap_or_else(|| "latest".to_owned());
                target = format!("{target}:{tag}");
                (tag, false)
            }
        };
        let answer = self
            .cache
            .borrow_mut()
            .entry((repository.clone(), key.clone(), by_digest))
            .or_insert_with(|| {
                if by_digest {
                    resolver
                        .has_digest(&repository, &key)
                        .map(|found| found.then(|| key.clone()))
                } else {
                    resolver.resolve(&repository, &key)
                }
            })
            .clone();
        let issue = match answer {
            Ok(Some(digest)) => {
                if self.options.pin_digests && !by_digest && reference.is_pinnable() {
                    reference.pinned = Some(digest);
                }
                return None;
            }
            Ok(None) if by_digest => Issue::MissingDigest,
            Ok(None) => Issue::MissingTag,
            Err(message) => Issue::Lookup(message),
        };
        Some(Problem {
            line: reference.line,
            target_reference: target,
            issue,
        })
    }

    /// `Some` when `plan` (made by this rewriter) has nothing to do with either registry: its
    /// files hold no reference or mention of the old registry (nothing to rewrite, nothing
    /// listed) and none of the new one either (so it is not a run over files an earlier run
    /// rewrote). The old registry is then likely misspelt, or the paths are not the ones meant:
    /// the answer says which registries the files' image references name instead, so that the
    /// typo shows. `None` otherwise: a run over files already rewritten, which name only the
    /// new registry, has nothing to do and is not a mistake.
    ///
    /// The files are scanned again (from the texts kept in `plan`) only when the plan found
    /// nothing, so a run with work to do pays nothing for it.
    pub fn nothing_matched(&self, plan: &Plan) -> Option<NothingMatched> {
        let found_old = plan.files.iter().any(|f| {
            f.is_changed()
                || !f.references.is_empty()
                || !f.mentions.is_empty()
                || !f.pinned_at_target.is_empty()
                || !f.problems.is_empty()
        });
        if found_old {
            return None;
        }
        let scanner = |registry: &Registry| {
            Rewriter::new(Options {
                from: registry.clone(),
                to: self.options.from.clone(),
                pin_digests: false,
            })
        };
        let new = scanner(&self.options.to);
        let names_new = plan.files.iter().any(|f| {
            let findings = match &f.not_parsed {
                Some(_) => extract::scan_text(&f.original, &self.options.to),
                None => new
                    .scan(f.kind, &f.original)
                    .unwrap_or_else(|_| extract::scan_text(&f.original, &self.options.to)),
            };
            !findings.references().is_empty() || !findings.mentions().is_empty()
        });
        if names_new {
            return None;
        }
        let any = scanner(&Registry::any());
        let mut counts: HashMap<String, usize> = HashMap::new();
        for file in plan.files.iter().filter(|f| f.not_parsed.is_none()) {
            let Ok(findings) = any.scan(file.kind, &file.original) else {
                continue;
            };
            for reference in findings.references() {
                let Some(name) = file.original.get(reference.registry_span.clone()) else {
                    continue;
                };
                let name = name.to_ascii_lowercase();
                let name = name.strip_suffix(":443").unwrap_or(&name).to_owned();
                *counts.entry(name).or_default() += 1;
            }
        }
        let mut referenced: Vec<(String, usize)> = counts.into_iter().collect();
        referenced.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        Some(NothingMatched {
            files: plan.files.len(),
            referenced,
        })
    }

    /// Walks `paths`, reads and plans every supported file. Unreadable files (and chart
    /// templates that are not UTF-8) go to
    /// [`Plan::failures`] and are left alone; the others are planned, YAML and Dockerfiles that
    /// cannot be parsed as plain text ([`FilePlan::not_parsed`]). Every reference is
    /// resolved here, so [`Plan::write`] knows before writing whether the target can serve them.
    pub fn plan(&self, paths: &[PathBuf]) -> Result<Plan, Error> {
        if self.options.pin_digests && self.resolver.is_none() {
            return Err(Error::PinWithoutResolver);
        }
        let found = fsio::discover_paths(paths);
        let (files, mut failures) = (found.files, found.errors);
        let mut plan = Plan {
            skipped_links: found.skipped_links,
            links_to_files_read: found.links_to_files_read,
            ..Plan::default()
        };
        let mut texts = Vec::new();
        for (path, mut kind) in files {
            let mut encoding = Encoding::Utf8;
            let text = match std::fs::read(&path) {
                // UTF-16 with its mark (a file a Windows tool saved): read as the text it
                // encodes, and written back in the same encoding.
                Ok(bytes) if Encoding::of_utf16(&bytes).is_some() => {
                    let utf16 = Encoding::of_utf16(&bytes).unwrap_or_default();
                    match utf16.decode(&bytes) {
                        Ok(text) => {
                            encoding = utf16;
                            text
                        }
                        Err(text) if read_as_text_when_not_parsed(kind) => {
                            plan.files.push(self.not_parsed_text(
                                path,
                                kind,
                                text,
                                "not valid UTF-16 text",
                            ));
                            continue;
                        }
                        Err(text) => {
                            // Scanned for mentions only, never written.
                            kind = FileKind::Text;
                            text
                        }
                    }
                }
                Ok(bytes) if kind == FileKind::DotEnv && std::str::from_utf8(&bytes).is_err() => {
                    // Not UTF-8: scanned for mentions only, like any other text file.
                    kind = FileKind::Text;
                    String::from_utf8_lossy(&bytes).into_owned()
                }
                Ok(bytes) if kind == FileKind::Text => {
                    if is_binary(&bytes) {
                        continue;
                    }
                    // Only mentions are looked for, never written: any 8-bit text will do.
                    String::from_utf8_lossy(&bytes).into_owned()
                }
                Ok(bytes) => match String::from_utf8(bytes) {
                    Ok(text) => text,
                    Err(e) if read_as_text_when_not_parsed(kind) => {
                        let text = String::from_utf8_lossy(e.as_bytes()).into_owned();
                        plan.files
                            .push(self.not_parsed_text(path, kind, text, "not UTF-8 text"));
                        continue;
                    }
                    Err(_) => {
                        failures.push(Error::NotText { path });
                        continue;
                    }
                },
                Err(source) => {
                    failures.push(Error::Read { path, source });
                    continue;
                }
            };
            let kind = crate::classify::refine(&path, kind, &text);
            texts.push((path, kind, text, encoding));
        }
        // Kustomize files last: whether an `images:` name keeps matching depends on what the
        // resources it includes name once this run has rewritten them.
        let (kustomizations, others): (Vec<_>, Vec<_>) = texts
            .into_iter()
            .partition(|(_, kind, _, _)| *kind == FileKind::Kustomization);
        let first_rewritten = plan.files.len();
        for (path, kind, text, encoding) in others {
            match self.rewrite_text_with(&path, kind, &text, &KustomizeScope::unknown()) {
                Ok(file) => plan.files.push(FilePlan { encoding, ..file }),
                Err(e) => failures.push(e),
            }
        }
        if !kustomizations.is_empty() {
            // What the files just rewritten hold after the run, by canonical path (what a
            // kustomization's includes resolve to); only a run with kustomizations needs it.
            let after: HashMap<PathBuf, &str> = plan.files[first_rewritten..]
                .iter()
                .filter_map(|f| Some((std::fs::canonicalize(&f.path).ok()?, f.rewritten.as_str())))
                .collect();
            let in_run: HashSet<PathBuf> = kustomizations
                .iter()
                .filter_map(|(path, _, _, _)| std::fs::canonicalize(path).ok())
                .collect();
            let mut rewritten = Vec::new();
            for (path, kind, text, encoding) in kustomizations {
                let scope = kustomize::scope(
                    &path,
                    &text,
                    &after,
                    &in_run,
                    &self.options.from,
                    &self.options.to,
                    self.renamer,
                );
                match self.rewrite_text_with(&path, kind, &text, &scope) {
                    Ok(file) => rewritten.push(FilePlan { encoding, ..file }),
                    Err(e) => failures.push(e),
                }
            }
            plan.files.extend(rewritten);
        }
        plan.files.sort_by(|a, b| a.path.cmp(&b.path));
        plan.failures = failures;
        Ok(plan)
    }
}

/// The name a diff heads `path` by: `path` itself, or, when it has a `..` component, the
/// absolute path of its directory (symbolic links resolved) and its file name.
fn diff_label(path: &Path) -> PathBuf {
    use std::path::Component;
    if !path.components().any(|c| c == Component::ParentDir) {
        return path.to_path_buf();
    }
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return path.to_path_buf();
    };
    std::fs::canonicalize(dir).map_or_else(|_| path.to_path_buf(), |dir| dir.join(name))
}

/// True for content that is not text: a NUL byte in the first 8 KiB, as Git decides.
fn is_binary(bytes: &[u8]) -> bool {
    bytes[..bytes.len().min(8192)].contains(&0)
}
