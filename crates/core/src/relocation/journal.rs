//! The journal of an `apply`: append-only JSON lines, each written whole and fsync'd before the
//! work it records is taken as done.
//!
//! Every run opens with a `start` record carrying the SHA-256 of the plan file and the shard the
//! run works on. A journal whose first line is not a `start` record is refused as damaged; one
//! written for another shard is refused (its "done" covers other repositories); one written for
//! another plan is refused unless the caller asks to re-plan. A line cut short by a crash (the
//! last one only, cut anywhere, inside a UTF-8 character too) and NUL bytes at the end (a power
//! loss after the file grew) are dropped when the journal is opened again. The directory is
//! synced when the journal is created, so the file itself survives a power loss.
//!
//! One run at a time: an open journal holds the exclusive advisory lock of its file, so a second
//! run on the same journal (the same plan and shard) is refused at once instead of doing the same
//! work beside the first and interleaving its records.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

/// The SHA-256 of a plan file's bytes, `sha256:<hex>`.
pub fn plan_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// Why a journal cannot be opened or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JournalError {
    /// The file cannot be read or written.
    #[error("journal {}: {io}", path.display())]
    Io {
        /// The journal file.
        path: PathBuf,
        /// What the file system said.
        io: std::io::Error,
    },
    /// The file is not a journal this tool wrote, or lost lines.
    #[error("journal {} is damaged ({reason}): move it away to start over (the copy skips what the target already holds)", path.display())]
    Damaged {
        /// The journal file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The journal was written by a run on another shard (or sharded, against an unsharded
    /// run): what it records as done covers other repositories.
    #[error("journal {} belongs to {}, not to {}: give each shard, and the unsharded run, its own journal (leave --journal out for the default PLAN.shard-K-of-N.journal)", path.display(), describe_shard(recorded.as_deref()), describe_shard(requested.as_deref()))]
    OtherShard {
        /// The journal file.
        path: PathBuf,
        /// The shard the journal records (`K/N`; none for an unsharded run).
        recorded: Option<String>,
        /// The shard of this run.
        requested: Option<String>,
    },
    /// Another run has the journal open (it holds the file's lock).
    #[error("journal {} is in use by another `apply` run: wait for that run to end, or stop it, then run again", path.display())]
    Busy {
        /// The journal file.
        path: PathBuf,
    },
    /// The plan file changed since the journal began.
    #[error("journal {}: the plan changed since apply started (the journal records {recorded}, the plan file is {requested}): re-plan explicitly to continue", path.display())]
    PlanChanged {
        /// The journal file.
        path: PathBuf,
        /// The plan digest the journal records.
        recorded: String,
        /// The plan digest of this run.
        requested: String,
    },
}

fn describe_shard(shard: Option<&str>) -> String {
    match shard {
        Some(s) => format!("`apply --shard {s}`"),
        None => "an unsharded `apply`".into(),
    }
}

/// Result alias of this module.
pub type Result<T, E = JournalError> = std::result::Result<T, E>;

/// What a run is, as far as the journal's "done" is concerned.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunIdentity {
    /// [`plan_digest`] of the plan file.
    pub plan: String,
    /// `K/N` for a sharded run.
    pub shard: Option<String>,
    /// The step kinds asked for (`--step`; empty: all). Recorded for the reader only: a step
    /// recorded done was run whole whichever steps were asked for.
    pub steps: Vec<String>,
}

/// One line of the journal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Record {
    /// A run started on the plan with this digest.
    Start {
        /// [`plan_digest`] of the plan file.
        plan: String,
        /// Seconds since the Unix epoch.
        at: u64,
        /// True when the run was told to accept a changed plan.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        replan: bool,
        /// `K/N` for a sharded run (absent: unsharded).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        shard: Option<String>,
        /// The step kinds asked for (absent: all).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        steps: Vec<String>,
    },
    /// Work on a repository of a step began.
    RepositoryStarted {
        /// Step id (`INDEX-KIND`).
        step: String,
        /// Repository name (relative to the prefixes).
        repository: String,
        /// True when the copy walks below the tags the target already holds (`copy --deep`),
        /// as it does for a repository reopened by a verify. For the reader: a run resumes deep
        /// from the `repository_reopened` record, which stays in force until `repository_done`.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        deep: bool,
    },
    /// A repository of a step is done.
    RepositoryDone {
        /// Step id.
        step: String,
        /// Repository name.
        repository: String,
    },
    /// A repository of a step failed (it is tried again on the next run).
    RepositoryFailed {
        /// Step id.
        step: String,
        /// Repository name.
        repository: String,
        /// Why.
        reason: String,
    },
    /// A repository recorded done for a step is no longer done (a later verify found it differs
    /// from the source, or the target lost content below a tag): the step runs again for it, with
    /// the deep walk, until it is recorded done again.
    RepositoryReopened {
        /// Step id of the step to run again (the copy).
        step: String,
        /// Repository name.
        repository: String,
        /// What the verify found.
        reason: String,
    },
    /// A manifest was deleted from the source.
    ManifestDeleted {
        /// Step id.
        step: String,
        /// Repository (full name in the source).
        repository: String,
        /// The manifest's digest.
        digest: String,
        /// The tags that pointed at it.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        tags: Vec<String>,
    },
    /// A manifest's deletion is about to be asked of the source (written before the request: a
    /// run stopped while it is in flight finds the manifest gone and counts it deleted).
    ManifestDeleteRequested {
        /// Step id.
        step: String,
        /// Repository (full name in the source).
        repository: String,
        /// The manifest's digest.
        digest: String,
    },
    /// The deletion of an Azure registry resource was asked of ARM (written before the request:
    /// a run stopped after it finds the registry gone and takes the step as done).
    RegistryDeleteRequested {
        /// Step id.
        step: String,
        /// The registry's resource ID.
        registry: String,
    },
    /// A whole step is done.
    StepDone {
        /// Step id.
        step: String,
    },
}

/// What the journal says is done.
#[derive(Clone, Debug, Default)]
pub struct State {
    /// The plan digest of the last run, if any.
    pub plan: Option<String>,
    /// The shard of the runs (`K/N`; `None` for unsharded runs).
    pub shard: Option<String>,
    /// Steps done.
    pub steps_done: BTreeSet<String>,
    /// Step → repositories done.
    pub repositories_done: BTreeMap<String, BTreeSet<String>>,
    /// Step → repositories started and not recorded as done or failed (in flight when a run
    /// stopped).
    pub in_flight: BTreeMap<String, BTreeSet<String>>,
    /// Step → `REPOSITORY@DIGEST` of the manifests deleted.
    pub deleted: BTreeMap<String, BTreeSet<String>>,
    /// Step → `REPOSITORY@DIGEST` of the manifests whose deletion was asked (whether or not the
    /// answer came).
    pub delete_requested: BTreeMap<String, BTreeSet<String>>,
    /// Step → repositories reopened by a verify and not recorded done since: the copy walks
    /// them deep (below the tags the target already holds), where the gap may be.
    pub reopened: BTreeMap<String, BTreeSet<String>>,
    /// Step → the registry resource IDs whose deletion was asked of ARM.
    pub registry_deletes: BTreeMap<String, BTreeSet<String>>,
    /// Runs recorded.
    pub runs: usize,
}

impl State {
    fn apply(&mut self, record: &Record) {
        match record {
            Record::Start { plan, shard, .. } => {
                // A run on another plan (`--replan`) starts over: what was done under the old
                // plan is not taken as done under the new one (the copy still skips what the
                // target holds).
                if self.plan.as_ref().is_some_and(|p| p != plan) {
                    self.steps_done.clear();
                    self.repositories_done.clear();
                    self.in_flight.clear();
                    self.reopened.clear();
                }
                self.plan = Some(plan.clone());
                self.shard = shard.clone();
                self.runs += 1;
            }
            Record::RepositoryStarted {
                step, repository, ..
            } => {
                self.in_flight
                    .entry(step.clone())
                    .or_default()
                    .insert(repository.clone());
            }
            Record::RepositoryDone { step, repository } => {
                if let Some(set) = self.in_flight.get_mut(step) {
                    set.remove(repository);
                }
                if let Some(set) = self.reopened.get_mut(step) {
                    set.remove(repository);
                }
                self.repositories_done
                    .entry(step.clone())
                    .or_default()
                    .insert(repository.clone());
            }
            Record::RepositoryFailed {
                step, repository, ..
            } => {
                if let Some(set) = self.in_flight.get_mut(step) {
                    set.remove(repository);
                }
            }
            Record::RepositoryReopened {
                step, repository, ..
            } => {
                if let Some(set) = self.repositories_done.get_mut(step) {
                    set.remove(repository);
                }
                self.reopened
                    .entry(step.clone())
                    .or_default()
                    .insert(repository.clone());
                self.steps_done.remove(step);
            }
            Record::ManifestDeleted {
                step,
                repository,
                digest,
                ..
            } => {
                self.deleted
                    .entry(step.clone())
                    .or_default()
                    .insert(format!("{repository}@{digest}"));
            }
            Record::ManifestDeleteRequested {
                step,
                repository,
                digest,
            } => {
                self.delete_requested
                    .entry(step.clone())
                    .or_default()
                    .insert(format!("{repository}@{digest}"));
            }
            Record::RegistryDeleteRequested { step, registry } => {
                self.registry_deletes
                    .entry(step.clone())
                    .or_default()
                    .insert(registry.to_ascii_lowercase());
            }
            Record::StepDone { step } => {
                self.steps_done.insert(step.clone());
            }
        }
    }

    /// True when a verify reopened the repository for the step and it was not done again since:
    /// its copy walks deep.
    pub fn repository_reopened(&self, step: &str, repository: &str) -> bool {
        self.reopened
            .get(step)
            .is_some_and(|s| s.contains(repository))
    }

    /// True when the repository is recorded as done for the step.
    pub fn repository_done(&self, step: &str, repository: &str) -> bool {
        self.repositories_done
            .get(step)
            .is_some_and(|s| s.contains(repository))
    }
}

/// An open journal.
pub struct Journal {
    path: PathBuf,
    file: File,
    state: State,
}

impl Journal {
    /// Opens (or creates) the journal at `path` for a run of `run`, and records the start; the
    /// journal stays locked for this run until it is dropped.
    /// Refused: a journal another run has open; one whose first line is not a `start` record or
    /// with an unreadable line before the last; one of another shard; one of another plan digest
    /// unless `replan`.
    pub fn open(path: &Path, run: &RunIdentity, replan: bool) -> Result<Self> {
        let io = |e| JournalError::Io {
            path: path.to_path_buf(),
            io: e,
        };
        let created = !path.exists();
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)
            .map_err(io)?;
        if !crate::transport::layout::try_lock_exclusive(&file).map_err(io)? {
            return Err(JournalError::Busy {
                path: path.to_path_buf(),
            });
        }
        if created {
            sync_directory(path).map_err(io)?;
        }
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(io)?;
        let (state, good) = read_state(path, &bytes)?;
        if state.runs > 0 && state.shard != run.shard {
            return Err(JournalError::OtherShard {
                path: path.to_path_buf(),
                recorded: state.shard,
                requested: run.shard.clone(),
            });
        }
        if let Some(previous) = &state.plan {
            if previous != &run.plan && !replan {
                return Err(JournalError::PlanChanged {
                    path: path.to_path_buf(),
                    recorded: previous.clone(),
                    requested: run.plan.clone(),
                });
            }
        }
        if good < bytes.len() {
            file.set_len(good as u64).map_err(io)?;
            file.seek(SeekFrom::End(0)).map_err(io)?;
        }
        let mut journal = Journal {
            path: path.to_path_buf(),
            file,
            state,
        };
        let replanned = journal.state.plan.as_deref().is_some_and(|p| p != run.plan);
        journal.record(Record::Start {
            plan: run.plan.clone(),
            at: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
            replan: replanned,
            shard: run.shard.clone(),
            steps: run.steps.clone(),
        })?;
        Ok(journal)
    }

    /// Appends a record and waits until it is on disk.
    pub fn record(&mut self, record: Record) -> Result<()> {
        let mut line = serde_json::to_vec(&record).expect("a journal record serialises");
        line.push(b'\n');
        self.file
            .write_all(&line)
            .and_then(|()| self.file.sync_data())
            .map_err(|e| JournalError::Io {
                path: self.path.clone(),
                io: e,
            })?;
        self.state.apply(&record);
        Ok(())
    }

    /// What is done so far (this run included).
    pub fn state(&self) -> &State {
        &self.state
    }

    /// Where the journal is.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Makes the creation of the journal durable: its directory is synced, so a power loss cannot
/// take away the file whose records were synced.
#[cfg(unix)]
fn sync_directory(path: &Path) -> std::io::Result<()> {
    let parent = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    match File::open(parent).and_then(|dir| dir.sync_all()) {
        // A file system that cannot sync a directory (some network ones) says so: nothing to do.
        Err(e) if e.kind() == std::io::ErrorKind::InvalidInput => Ok(()),
        other => other,
    }
}

/// On Windows a directory is not opened as a file: creating the file is as durable as it gets.
#[cfg(not(unix))]
fn sync_directory(_path: &Path) -> std::io::Result<()> {
    Ok(())
}

/// Replays a journal's bytes: the state, and the length of the part that holds whole records.
/// Left out: a last line cut short by a crash (wherever the cut falls, inside a character too),
/// and NUL bytes at the end (a file system that grew the file before a power loss, but never wrote
/// its last bytes).
fn read_state(path: &Path, bytes: &[u8]) -> Result<(State, usize)> {
    let damaged = |reason: String| JournalError::Damaged {
        path: path.to_path_buf(),
        reason,
    };
    let written = bytes.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    let mut state = State::default();
    let mut good = 0usize;
    let mut lines = bytes[..written].split_inclusive(|&b| b == b'\n').peekable();
    while let Some(line) = lines.next() {
        let last = lines.peek().is_none();
        let whole = line.ends_with(b"\n");
        match serde_json::from_slice::<Record>(line.trim_ascii_end()) {
            Ok(record) if whole => {
                if good == 0 && !matches!(record, Record::Start { .. }) {
                    return Err(damaged(format!(
                        "its first line is not a `start` record: {}",
                        shown(line)
                    )));
                }
                state.apply(&record);
                good += line.len();
            }
            // The last line, cut short by a crash: dropped.
            _ if last && !whole && is_cut_record(line) => break,
            Ok(_) | Err(_) => {
                return Err(damaged(format!(
                    "unreadable line at byte {good}: {}",
                    shown(line)
                )))
            }
        }
    }
    Ok((state, good))
}

/// A line of the journal as an error shows it: cut short, bytes that are not UTF-8 replaced.
fn shown(line: &[u8]) -> String {
    crate::digest::truncate(&String::from_utf8_lossy(line.trim_ascii_end()))
}

/// True for the start of a record a crash cut short (`{"event":"repos`…).
fn is_cut_record(line: &[u8]) -> bool {
    const OPENING: &[u8] = b"{\"event\":\"";
    line.starts_with(OPENING) || OPENING.starts_with(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(plan: &str, shard: Option<&str>) -> RunIdentity {
        RunIdentity {
            plan: plan.into(),
            shard: shard.map(String::from),
            steps: vec![],
        }
    }

    #[test]
    fn records_survive_reopening_and_a_torn_last_line_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plan.journal");
        let mut j = Journal::open(&path, &run("sha256:a", None), false).unwrap();
        j.record(Record::RepositoryStarted {
            step: "1-copy".into(),
            repository: "x".into(),
            deep: false,
        })
        .unwrap();
        j.record(Record::RepositoryStarted {
            step: "1-copy".into(),
            repository: "y".into(),
            deep: false,
        })
        .unwrap();
        j.record(Record::RepositoryDone {
            step: "1-copy".into(),
            repository: "x".into(),
        })
        .unwrap();
        drop(j);
        // A crash in the middle of a write.
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(br#"{"event":"repository_do"#).unwrap();
        drop(f);
        let j = Journal::open(&path, &run("sha256:a", None), false).unwrap();
        assert!(j.state().repository_done("1-copy", "x"));
        assert!(!j.state().repository_done("1-copy", "y"));
        assert!(j.state().in_flight["1-copy"].contains("y"));
        assert_eq!(j.state().runs, 2);
        drop(j);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text
            .lines()
            .all(|l| serde_json::from_str::<Record>(l).is_ok()));
    }

    #[test]
    fn a_journal_another_run_has_open_is_refused_and_left_as_it_is() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plan.journal");
        let mut first = Journal::open(&path, &run("sha256:a", None), false).unwrap();
        let before = std::fs::read(&path).unwrap();
        let e = Journal::open(&path, &run("sha256:a", None), false)
            .err()
            .expect("a second run refused");
        assert!(matches!(e, JournalError::Busy { .. }), "{e}");
        assert!(
            e.to_string().contains("in use by another `apply` run"),
            "{e}"
        );
        assert_eq!(std::fs::read(&path).unwrap(), before);
        first
            .record(Record::StepDone {
                step: "1-inventory".into(),
            })
            .unwrap();
        drop(first);
        let j = Journal::open(&path, &run("sha256:a", None), false).unwrap();
        assert!(j.state().steps_done.contains("1-inventory"));
        assert_eq!(j.state().runs, 2);
    }

    /// A journal with two whole records, the second one naming repository `x` done.
    fn journal_with_x_done(path: &Path) -> Vec<u8> {
        let mut j = Journal::open(path, &run("sha256:a", None), false).unwrap();
        j.record(Record::RepositoryDone {
            step: "1-copy".into(),
            repository: "x".into(),
        })
        .unwrap();
        drop(j);
        std::fs::read(path).unwrap()
    }

    /// The journal at `path` once `tail` was added after its whole records: it opens, knows what
    /// those records say, drops the tail, and goes on with whole lines.
    fn assert_tail_dropped(path: &Path, tail: &[u8]) {
        let whole = std::fs::read(path).unwrap();
        let mut f = OpenOptions::new().append(true).open(path).unwrap();
        f.write_all(tail).unwrap();
        drop(f);
        let j =
            Journal::open(path, &run("sha256:a", None), false).unwrap_or_else(|e| panic!("{e}"));
        assert!(j.state().repository_done("1-copy", "x"));
        drop(j);
        let after = std::fs::read(path).unwrap();
        assert_eq!(after[..whole.len()], whole[..]);
        let text = String::from_utf8(after).expect("only whole UTF-8 lines are left");
        assert!(text
            .lines()
            .all(|l| serde_json::from_str::<Record>(l).is_ok()));
    }

    #[test]
    fn a_last_line_cut_inside_a_character_is_dropped_like_any_cut_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plan.journal");
        journal_with_x_done(&path);
        // A reason shortened with `…` (three bytes in UTF-8), the line cut after its first byte.
        let mut cut = br#"{"event":"repository_failed","step":"1-copy","repository":"y","reason":"the registry said: too long"#.to_vec();
        cut.extend_from_slice(&"…".as_bytes()[..1]);
        assert!(std::str::from_utf8(&cut).is_err());
        assert_tail_dropped(&path, &cut);
        // A whole line that is not UTF-8 is still damage, not a cut.
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(&[b'{', 0xff, b'}', b'\n']).unwrap();
        drop(f);
        assert!(matches!(
            Journal::open(&path, &run("sha256:a", None), false),
            Err(JournalError::Damaged { .. })
        ));
    }

    #[test]
    fn nul_bytes_a_power_loss_left_at_the_end_are_a_cut_tail_not_damage() {
        let dir = tempfile::tempdir().unwrap();
        for (name, tail) in [
            ("after-a-whole-line", vec![0u8; 4096]),
            (
                "after-a-cut-line",
                [&br#"{"event":"repository_do"#[..], &[0u8; 100][..]].concat(),
            ),
        ] {
            let path = dir.path().join(name);
            journal_with_x_done(&path);
            assert_tail_dropped(&path, &tail);
        }
        // A journal that is nothing but NUL bytes (its first record lost) starts afresh.
        let path = dir.path().join("only-nul");
        std::fs::write(&path, [0u8; 512]).unwrap();
        let j = Journal::open(&path, &run("sha256:a", None), false).unwrap();
        assert_eq!(j.state().runs, 1);
        drop(j);
        // NUL bytes before whole lines are damage.
        let path = dir.path().join("nul-inside");
        let whole = journal_with_x_done(&path);
        std::fs::write(&path, [&[0u8; 16][..], &whole[..]].concat()).unwrap();
        assert!(matches!(
            Journal::open(&path, &run("sha256:a", None), false),
            Err(JournalError::Damaged { .. })
        ));
    }

    #[test]
    fn a_changed_plan_is_refused_unless_replanning() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plan.journal");
        drop(Journal::open(&path, &run("sha256:a", None), false).unwrap());
        let e = Journal::open(&path, &run("sha256:b", None), false)
            .err()
            .unwrap();
        assert!(matches!(e, JournalError::PlanChanged { .. }), "{e}");
        assert!(e.to_string().contains("plan changed"), "{e}");
        let mut j = Journal::open(&path, &run("sha256:b", None), true).unwrap();
        assert_eq!(j.state().plan.as_deref(), Some("sha256:b"));
        j.record(Record::StepDone {
            step: "1-copy".into(),
        })
        .unwrap();
        drop(j);
        let j = Journal::open(&path, &run("sha256:b", None), false).unwrap();
        assert!(j.state().steps_done.contains("1-copy"));
        drop(j);
        // Back to the first plan: nothing recorded under `b` counts.
        let j = Journal::open(&path, &run("sha256:a", None), true).unwrap();
        assert!(j.state().steps_done.is_empty());
    }

    #[test]
    fn a_journal_of_another_shard_is_refused_even_when_replanning() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plan.journal");
        let mut j = Journal::open(&path, &run("sha256:a", Some("1/4")), false).unwrap();
        j.record(Record::StepDone {
            step: "2-copy".into(),
        })
        .unwrap();
        drop(j);
        for (shard, replan) in [(Some("2/4"), false), (None, false), (Some("1/3"), true)] {
            let e = Journal::open(&path, &run("sha256:a", shard), replan)
                .err()
                .unwrap_or_else(|| panic!("{shard:?} accepted"));
            assert!(matches!(e, JournalError::OtherShard { .. }), "{e}");
            let text = e.to_string();
            assert!(text.contains("belongs to `apply --shard 1/4`"), "{text}");
        }
        // The same shard goes on, and the refused runs left no trace.
        let j = Journal::open(&path, &run("sha256:a", Some("1/4")), false).unwrap();
        assert!(j.state().steps_done.contains("2-copy"));
        assert_eq!(j.state().runs, 2);
        drop(j);
        // The other way round: an unsharded journal refuses a shard.
        let path = dir.path().join("unsharded.journal");
        drop(Journal::open(&path, &run("sha256:a", None), false).unwrap());
        let e = Journal::open(&path, &run("sha256:a", Some("0/2")), false)
            .err()
            .unwrap();
        assert!(
            e.to_string().contains("belongs to an unsharded `apply`"),
            "{e}"
        );
    }

    #[test]
    fn a_journal_without_its_start_line_is_refused_as_damaged() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plan.journal");
        let mut j = Journal::open(&path, &run("sha256:a", None), false).unwrap();
        j.record(Record::StepDone {
            step: "1-inventory".into(),
        })
        .unwrap();
        drop(j);
        let text = std::fs::read_to_string(&path).unwrap();
        let without_start: String = text.split_inclusive('\n').skip(1).collect();
        std::fs::write(&path, &without_start).unwrap();
        let e = Journal::open(&path, &run("sha256:other", None), false)
            .err()
            .unwrap();
        assert!(matches!(e, JournalError::Damaged { .. }), "{e}");
        assert!(e.to_string().contains("first line is not a `start`"), "{e}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), without_start);
        // Nor is a file that is not a journal at all cut down to nothing.
        std::fs::write(&path, "not a journal").unwrap();
        assert!(matches!(
            Journal::open(&path, &run("sha256:a", None), false),
            Err(JournalError::Damaged { .. })
        ));
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "not a journal");
    }

    #[test]
    fn a_reopened_repository_is_no_longer_done_nor_its_step() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plan.journal");
        let mut j = Journal::open(&path, &run("sha256:a", None), false).unwrap();
        for repository in ["x", "y"] {
            j.record(Record::RepositoryDone {
                step: "2-copy".into(),
                repository: repository.into(),
            })
            .unwrap();
        }
        j.record(Record::StepDone {
            step: "2-copy".into(),
        })
        .unwrap();
        j.record(Record::RepositoryReopened {
            step: "2-copy".into(),
            repository: "y".into(),
            reason: "y:v1 source has sha256:1, target has sha256:2".into(),
        })
        .unwrap();
        drop(j);
        let j = Journal::open(&path, &run("sha256:a", None), false).unwrap();
        assert!(j.state().repository_done("2-copy", "x"));
        assert!(!j.state().repository_done("2-copy", "y"));
        assert!(!j.state().steps_done.contains("2-copy"));
    }

    #[test]
    fn a_reopened_repository_is_copied_deep_until_it_is_done_again_even_from_an_older_journal() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plan.journal");
        // Lines as a journal written before `deep` existed has them.
        let older = [
            r#"{"event":"start","plan":"sha256:a","at":1}"#,
            r#"{"event":"repository_started","step":"2-copy","repository":"y"}"#,
            r#"{"event":"repository_done","step":"2-copy","repository":"y"}"#,
            r#"{"event":"repository_reopened","step":"2-copy","repository":"y","reason":"y@sha256:1: missing"}"#,
        ];
        std::fs::write(&path, older.join("\n") + "\n").unwrap();
        let mut j = Journal::open(&path, &run("sha256:a", None), false).unwrap();
        assert!(j.state().repository_reopened("2-copy", "y"));
        // A run stopped during the deep copy: the next one still knows.
        j.record(Record::RepositoryStarted {
            step: "2-copy".into(),
            repository: "y".into(),
            deep: true,
        })
        .unwrap();
        drop(j);
        let mut j = Journal::open(&path, &run("sha256:a", None), false).unwrap();
        assert!(j.state().repository_reopened("2-copy", "y"));
        j.record(Record::RepositoryDone {
            step: "2-copy".into(),
            repository: "y".into(),
        })
        .unwrap();
        assert!(!j.state().repository_reopened("2-copy", "y"));
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.contains(
                r#""event":"repository_started","step":"2-copy","repository":"y","deep":true"#
            ),
            "{text}"
        );
    }
}
