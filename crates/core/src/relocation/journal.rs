//! The journal of an `apply`: append-only JSON lines, each written whole and fsync'd before the
//! work it records is taken as done.
//!
//! Every run opens with a `start` record carrying the SHA-256 of the plan file; a plan that changed
//! since the last run is refused unless the caller asks to re-plan. A line cut short by a crash
//! (the last one only) is dropped when the journal is opened again.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::error::{Error, Result};

/// The SHA-256 of a plan file's bytes, `sha256:<hex>`.
pub fn plan_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
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
    },
    /// Work on a repository of a step began.
    RepositoryStarted {
        /// Step id (`INDEX-KIND`).
        step: String,
        /// Repository name (relative to the prefixes).
        repository: String,
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
    /// Steps done.
    pub steps_done: BTreeSet<String>,
    /// Step → repositories done.
    pub repositories_done: BTreeMap<String, BTreeSet<String>>,
    /// Step → repositories started and not recorded as done or failed (in flight when a run
    /// stopped).
    pub in_flight: BTreeMap<String, BTreeSet<String>>,
    /// Runs recorded.
    pub runs: usize,
}

impl State {
    fn apply(&mut self, record: &Record) {
        match record {
            Record::Start { plan, .. } => {
                // A run on another plan (`--replan`) starts over: what was done under the old
                // plan is not taken as done under the new one (the copy still skips what the
                // target holds).
                if self.plan.as_ref().is_some_and(|p| p != plan) {
                    self.steps_done.clear();
                    self.repositories_done.clear();
                    self.in_flight.clear();
                }
                self.plan = Some(plan.clone());
                self.runs += 1;
            }
            Record::RepositoryStarted { step, repository } => {
                self.in_flight
                    .entry(step.clone())
                    .or_default()
                    .insert(repository.clone());
            }
            Record::RepositoryDone { step, repository } => {
                if let Some(set) = self.in_flight.get_mut(step) {
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
            Record::StepDone { step } => {
                self.steps_done.insert(step.clone());
            }
        }
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

fn journal_error(path: &Path, reason: impl Into<String>) -> Error {
    Error::Invalid {
        what: format!("journal {}", path.display()),
        reason: reason.into(),
    }
}

impl Journal {
    /// Opens (or creates) the journal at `path` for a run of the plan with digest `plan`, and
    /// records the start. A journal written for another plan digest is refused unless `replan`.
    pub fn open(path: &Path, plan: &str, replan: bool) -> Result<Self> {
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)
            .map_err(|e| Error::io(path, e))?;
        let mut text = String::new();
        file.read_to_string(&mut text)
            .map_err(|e| Error::io(path, e))?;
        let mut state = State::default();
        let mut good = 0usize;
        let mut lines = text.split_inclusive('\n').peekable();
        while let Some(line) = lines.next() {
            let last = lines.peek().is_none();
            match serde_json::from_str::<Record>(line.trim_end()) {
                Ok(record) if line.ends_with('\n') => {
                    state.apply(&record);
                    good += line.len();
                }
                // The last line, cut short by a crash: dropped below.
                _ if last => break,
                Ok(_) | Err(_) => {
                    return Err(journal_error(
                        path,
                        format!(
                            "unreadable line at byte {good}: {}",
                            crate::digest::truncate(line.trim_end())
                        ),
                    ))
                }
            }
        }
        if good < text.len() {
            file.set_len(good as u64).map_err(|e| Error::io(path, e))?;
            file.seek(SeekFrom::End(0))
                .map_err(|e| Error::io(path, e))?;
        }
        if let Some(previous) = &state.plan {
            if previous != plan && !replan {
                return Err(journal_error(
                    path,
                    format!(
                        "the plan changed since apply started (the journal records {previous}, the plan file is {plan}): re-plan explicitly to continue"
                    ),
                ));
            }
        }
        let mut journal = Journal {
            path: path.to_path_buf(),
            file,
            state,
        };
        let replanned = journal.state.plan.as_deref().is_some_and(|p| p != plan);
        journal.record(Record::Start {
            plan: plan.to_string(),
            at: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
            replan: replanned,
        })?;
        Ok(journal)
    }

    /// Reads what a journal records without opening it for writing (`None` when there is none).
    pub fn read(path: &Path) -> Result<Option<State>> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io(path, e)),
        };
        let mut state = State::default();
        for line in text.lines() {
            if let Ok(record) = serde_json::from_str::<Record>(line) {
                state.apply(&record);
            }
        }
        Ok(Some(state))
    }

    /// Appends a record and waits until it is on disk.
    pub fn record(&mut self, record: Record) -> Result<()> {
        let mut line =
            serde_json::to_vec(&record).map_err(|e| journal_error(&self.path, e.to_string()))?;
        line.push(b'\n');
        self.file
            .write_all(&line)
            .and_then(|()| self.file.sync_data())
            .map_err(|e| Error::io(&self.path, e))?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_survive_reopening_and_a_torn_last_line_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plan.journal");
        let mut j = Journal::open(&path, "sha256:a", false).unwrap();
        j.record(Record::RepositoryStarted {
            step: "1-copy".into(),
            repository: "x".into(),
        })
        .unwrap();
        j.record(Record::RepositoryStarted {
            step: "1-copy".into(),
            repository: "y".into(),
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
        let j = Journal::open(&path, "sha256:a", false).unwrap();
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
    fn a_changed_plan_is_refused_unless_replanning() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plan.journal");
        drop(Journal::open(&path, "sha256:a", false).unwrap());
        let e = Journal::open(&path, "sha256:b", false).err().unwrap();
        assert!(e.to_string().contains("plan changed"), "{e}");
        let mut j = Journal::open(&path, "sha256:b", true).unwrap();
        assert_eq!(j.state().plan.as_deref(), Some("sha256:b"));
        j.record(Record::StepDone {
            step: "1-copy".into(),
        })
        .unwrap();
        drop(j);
        let j = Journal::open(&path, "sha256:b", false).unwrap();
        assert!(j.state().steps_done.contains("1-copy"));
        drop(j);
        // Back to the first plan: nothing recorded under `b` counts.
        let j = Journal::open(&path, "sha256:a", true).unwrap();
        assert!(j.state().steps_done.is_empty());
    }
}
