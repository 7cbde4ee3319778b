//! Ctrl-C (SIGINT) during `apply`: every step stops with exit 130, no step starts after it, and
//! above all no deletion of the source starts after it; the journal says what was done, and the
//! same command finishes the rest.
//!
//! A gate (a forwarding proxy of our own in front of a real registry) holds the requests a test
//! names, so the signal arrives while a step is surely running: no timing guesses.

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::plan::{config, plan};
use crate::support::held_run::finish;
use crate::support::http::{Request, Server};
use crate::support::mount_proxy::forward_as_sent;
use crate::util::*;

/// Requests of one kind held at the gate, and those answered.
#[derive(Default)]
struct GateState {
    /// Matching requests that arrived.
    arrived: usize,
    /// Matching requests waiting at the gate now.
    waiting: usize,
    /// Matching requests answered by the registry.
    answered: usize,
    /// True once the gate lets everything through.
    open: bool,
}

/// A proxy to a real registry that lets the first `let_through` requests matching a predicate
/// pass and holds the next ones until [`Gate::open`] (or 60 s, a bound, not a timing).
struct Gate {
    server: Server,
    state: Arc<(Mutex<GateState>, Condvar)>,
    let_through: Arc<AtomicUsize>,
}

impl Gate {
    fn start(upstream: u16, matches: fn(&Request) -> bool, let_through: usize) -> Self {
        let state: Arc<(Mutex<GateState>, Condvar)> = Arc::default();
        let let_through = Arc::new(AtomicUsize::new(let_through));
        let (shared, limit) = (state.clone(), let_through.clone());
        let server = Server::start_raw(move |request: &Request| {
            if !matches(request) {
                return forward_as_sent(upstream, request);
            }
            let (lock, changed) = &*shared;
            let mut s = lock.lock().unwrap();
            s.arrived += 1;
            if s.arrived > limit.load(Ordering::SeqCst) && !s.open {
                s.waiting += 1;
                changed.notify_all();
                let deadline = Instant::now() + Duration::from_secs(60);
                while !s.open && Instant::now() < deadline {
                    s = changed
                        .wait_timeout(s, Duration::from_millis(200))
                        .unwrap()
                        .0;
                }
                s.waiting -= 1;
            }
            drop(s);
            let response = forward_as_sent(upstream, request);
            lock.lock().unwrap().answered += 1;
            changed.notify_all();
            response
        });
        Gate {
            server,
            state,
            let_through,
        }
    }

    fn url(&self) -> String {
        self.server.url()
    }

    /// From now on, holds every matching request after the next `n`.
    fn hold_after(&self, n: usize) {
        let arrived = self.state.0.lock().unwrap().arrived;
        self.let_through.store(arrived + n, Ordering::SeqCst);
    }

    /// Waits (60 s at most) until a request is held; false if none came.
    fn wait_for_a_held_request(&self) -> bool {
        let (lock, changed) = &*self.state;
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut s = lock.lock().unwrap();
        while s.waiting == 0 && Instant::now() < deadline {
            s = changed
                .wait_timeout(s, Duration::from_millis(200))
                .unwrap()
                .0;
        }
        s.waiting > 0
    }

    /// Lets every request through, the held ones first.
    fn open(&self) {
        let (lock, changed) = &*self.state;
        lock.lock().unwrap().open = true;
        changed.notify_all();
    }

    /// Matching requests that arrived so far.
    fn arrived(&self) -> usize {
        self.state.0.lock().unwrap().arrived
    }

    /// Matching requests the registry answered so far.
    fn answered(&self) -> usize {
        self.state.0.lock().unwrap().answered
    }
}

/// `apply PLAN` (with progress, so its stderr says when Ctrl-C is seen), stderr lines sent to
/// the receiver as they come.
fn spawn_apply(plan: &Path) -> (Child, Receiver<String>) {
    spawn_with_stderr_lines(&["apply", plan.to_str().unwrap()])
}

/// Sends SIGINT to the child.
fn ctrl_c(child: &Child) {
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// Waits (60 s at most) for a stderr line containing `needle`; returns the lines read.
fn wait_for_line(lines: &Receiver<String>, needle: &str) -> Vec<String> {
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        match lines.recv_timeout(Duration::from_millis(200)) {
            Ok(line) => {
                let found = line.contains(needle);
                seen.push(line);
                if found {
                    return seen;
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    panic!("no line with `{needle}` on stderr: {seen:#?}");
}

/// The journal's records of one event.
fn records(journal: &Path, event: &str) -> Vec<serde_json::Value> {
    std::fs::read_to_string(journal)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|r| r["event"] == event)
        .collect()
}

/// The status of the step of `kind` in `apply`'s closing table (`ID  STATUS  SECONDS s  DETAIL`,
/// in columns of 18 and 13 characters).
fn step_status(out: &Output, kind: &str) -> String {
    let text = stdout(out);
    let line = text
        .lines()
        .find(|l| {
            l.split_whitespace()
                .next()
                .is_some_and(|id| id.ends_with(kind))
        })
        .unwrap_or_else(|| panic!("no {kind} step in {text}"));
    line.get(19..32).unwrap_or_default().trim().to_string()
}

#[test]
fn ctrl_c_while_the_source_is_deleted_starts_no_further_deletion_and_the_same_command_deletes_the_rest(
) {
    let (src, expected) = sample_registry(4);
    // Two deletions pass; the third is held at the gate while Ctrl-C arrives.
    let gate = Gate::start(src.port, |r| r.deletes_a_manifest(), 2);
    let dst = Registry::start();
    let dir = tempfile::tempdir().unwrap();
    let source = gate.url();
    let cfg = config(
        dir.path(),
        &source,
        &dst.url(),
        &format!("[delete_source]\nconfirm = \"{source}\"\n"),
    );
    let plan_path = plan(dir.path(), &cfg);
    let journal = dir.path().join("plan.json.journal");
    let (child, lines) = spawn_apply(&plan_path);
    assert!(
        gate.wait_for_a_held_request(),
        "the delete step never reached its third deletion"
    );
    ctrl_c(&child);
    wait_for_line(&lines, "Ctrl-C");
    // The deletion in flight finishes its request.
    gate.open();
    let (out, err) = finish(child, lines);
    assert_exit_code(&out, 130);
    assert_eq!(step_status(&out, "delete_source"), "interrupted", "{err}");
    assert!(
        stdout(&out).contains("apply: interrupted"),
        "{}",
        stdout(&out)
    );
    assert_eq!(gate.arrived(), 3, "a deletion started after Ctrl-C");
    assert_eq!(gate.answered(), 3);
    let deleted = records(&journal, "manifest_deleted");
    assert_eq!(deleted.len(), 3, "the journal records each deletion");
    let store = open(&src.url());
    block_on(async {
        for d in &deleted {
            let (repo, digest) = (
                d["repository"].as_str().unwrap(),
                d["digest"].as_str().unwrap(),
            );
            assert!(
                store.current_digest(repo, digest).await.unwrap().is_none(),
                "{repo}@{digest} recorded as deleted but still in the source"
            );
        }
    });
    let left: usize = block_on(async {
        let mut left = 0;
        for (repo, tags) in &expected.tags {
            for tag in tags.keys() {
                left += usize::from(store.manifest_digest(repo, tag).await.unwrap().is_some());
            }
        }
        left
    });
    assert!(left > 0, "everything was deleted despite Ctrl-C");

    // The same command goes on: the steps recorded done are skipped, the rest is deleted.
    let out = run(&["apply", "-q", "--json", plan_path.to_str().unwrap()]);
    assert_success(&out);
    let summary = json(&out);
    let statuses: Vec<&str> = summary["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        ["already done", "already done", "already done", "done"],
        "{summary}"
    );
    block_on(async {
        for (repo, tags) in &expected.tags {
            for tag in tags.keys() {
                let digest = store.manifest_digest(repo, tag).await.unwrap();
                assert!(digest.is_none(), "{repo}:{tag} still in the source");
            }
        }
    });
    assert!(records(&journal, "manifest_deleted").len() > 3);
    assert_holds(&open(&dst.url()), &expected.tags, None);
}

#[test]
fn ctrl_c_during_the_verify_step_stops_it_at_once_and_the_next_run_verifies_again() {
    let (src, expected) = sample_registry(2);
    let dst = Registry::start();
    let gate = Gate::start(dst.port, |r| r.path.contains("/manifests/"), usize::MAX);
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), &src.url(), &gate.url(), "");
    let plan_path = plan(dir.path(), &cfg);
    let journal = dir.path().join("plan.json.journal");
    assert_success(&run(&[
        "apply",
        "-q",
        "--step",
        "copy",
        plan_path.to_str().unwrap(),
    ]));
    // Every manifest read of the target is held from now on: the verify is surely under way.
    gate.hold_after(0);
    let (child, lines) = spawn_apply(&plan_path);
    assert!(
        gate.wait_for_a_held_request(),
        "the verify never read the target"
    );
    ctrl_c(&child);
    // Stops without waiting for the held request.
    let (out, err) = finish(child, lines);
    assert_exit_code(&out, 130);
    assert_eq!(step_status(&out, "verify"), "interrupted", "{err}");
    let done: Vec<String> = records(&journal, "step_done")
        .iter()
        .map(|r| r["step"].as_str().unwrap().to_string())
        .collect();
    assert!(!done.iter().any(|s| s.ends_with("verify")), "{done:?}");
    gate.open();
    let summary = json(&{
        let out = run(&["apply", "-q", "--json", plan_path.to_str().unwrap()]);
        assert_success(&out);
        out
    });
    let verify = summary["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["step"].as_str().unwrap().ends_with("verify"))
        .unwrap()
        .clone();
    assert_eq!(verify["status"], "done", "{summary}");
    assert_holds(&open(&dst.url()), &expected.tags, None);
}

#[test]
fn ctrl_c_during_the_inventory_step_starts_no_copy() {
    let (src, _) = sample_registry(2);
    let gate = Gate::start(src.port, |r| r.path.contains("/manifests/"), usize::MAX);
    let dst = Registry::start();
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), &gate.url(), &dst.url(), "");
    let plan_path = plan(dir.path(), &cfg);
    let journal = dir.path().join("plan.json.journal");
    gate.hold_after(0);
    let (child, lines) = spawn_apply(&plan_path);
    assert!(
        gate.wait_for_a_held_request(),
        "the inventory never read the source"
    );
    ctrl_c(&child);
    let (out, err) = finish(child, lines);
    assert_exit_code(&out, 130);
    assert_eq!(step_status(&out, "inventory"), "interrupted", "{err}");
    assert_eq!(step_status(&out, "copy"), "not run", "{}", stdout(&out));
    assert!(
        records(&journal, "repository_started").is_empty(),
        "the copy started after Ctrl-C"
    );
    assert!(repositories(&open(&dst.url())).is_empty());
    gate.open();
}

/// Ctrl-C while `plan` reads the source: exit 130, one line, and no plan (nor its temporary
/// file) left beside the config.
#[test]
fn ctrl_c_during_plan_writes_no_plan() {
    let (src, _) = sample_registry(2);
    // The first manifest read is held at the gate while Ctrl-C arrives.
    let gate = Gate::start(src.port, |r| r.path.contains("/manifests/"), 0);
    let dst = Registry::start();
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), &gate.url(), &dst.url(), "");
    let plan_path = dir.path().join("plan.json");
    let child = Command::new(env!("CARGO_BIN_EXE_acr-relocate"))
        .args(["plan", "-c", cfg.to_str().unwrap(), "-o"])
        .arg(&plan_path)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    assert!(gate.wait_for_a_held_request(), "plan never read a manifest");
    ctrl_c(&child);
    // Its stderr is read whole with its output: no lines passed on (the sender gone at once).
    let (_, no_lines) = mpsc::channel::<String>();
    let (out, _) = finish(child, no_lines);
    gate.open();
    assert_exit_code(&out, 130);
    assert_eq!(
        stderr(&out).trim_end(),
        "plan: interrupted by Ctrl-C (SIGINT): no plan written; exit code 130"
    );
    let left: Vec<String> = names_in(dir.path())
        .into_iter()
        .filter(|name| name != "relocation.toml")
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

/// `apply` killed (SIGKILL: no chance to write anything) while its only deletion is in flight,
/// the registry carrying it out after the client is gone: the journal recorded the request
/// before it was sent, so the next run finds the manifest gone and the step done, instead of a
/// scope that selects nothing for ever.
#[test]
fn a_run_killed_while_its_only_deletion_is_in_flight_is_finished_by_the_next() {
    let (src, expected) = sample_registry(1);
    let (repository, tags) = expected.tags.iter().next().unwrap();
    let (tag, _) = tags.iter().next().unwrap();
    // The first DELETE is held until the run is killed, then carried out.
    let gate = Gate::start(src.port, |r| r.deletes_a_manifest(), 0);
    let dst = Registry::start();
    let dir = tempfile::tempdir().unwrap();
    let source = gate.url();
    let cfg = config(
        dir.path(),
        &source,
        &dst.url(),
        &format!(
            "[scope]\nrepos = [\"{repository}\"]\ntag = \"^{tag}$\"\n\n[delete_source]\nconfirm = \"{source}\"\nskip_content_check = true\n"
        ),
    );
    let plan_path = plan(dir.path(), &cfg);
    let journal = dir.path().join("plan.json.journal");
    let (mut child, lines) = spawn_apply(&plan_path);
    assert!(
        gate.wait_for_a_held_request(),
        "the delete step never sent its deletion"
    );
    child.kill().unwrap();
    child.wait().unwrap();
    drop(lines);
    gate.open();
    let deadline = Instant::now() + Duration::from_secs(60);
    while gate.answered() == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(gate.answered(), 1, "the held deletion was not carried out");
    assert_eq!(records(&journal, "manifest_delete_requested").len(), 1);
    assert!(records(&journal, "manifest_deleted").is_empty());
    let store = open(&src.url());
    assert!(block_on(store.manifest_digest(repository, tag))
        .unwrap()
        .is_none());

    let out = run(&["apply", "-q", "--json", plan_path.to_str().unwrap()]);
    assert_success(&out);
    let summary = json(&out);
    let last = summary["steps"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["status"], "done", "{summary}");
    assert!(
        last["detail"]
            .as_str()
            .unwrap()
            .contains("nothing left to delete: 1 source manifests deleted in all"),
        "{summary}"
    );
}
