//! SIGTERM (what `kill`, `timeout`, systemd and Kubernetes send) stops a run as Ctrl-C (SIGINT)
//! does, with exit 143 instead of 130 and a line naming it; `verify` and `inventory` say they
//! were interrupted; a signal while an `oci-archive:` is packed lets the packing finish, and a
//! second one stops it, the archive left as it was. Every stopped run is finished by running
//! the same command again, and `verify` then passes.
//!
//! A run is held where the signal must find it by a blob replaced with a named pipe (`mkfifo`),
//! whose read waits until the test writes the bytes, or by a proxy in front of a registry that
//! holds the requests a test names: no timing is guessed.

use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Output};
use std::sync::mpsc::Receiver;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use acr_relocate::digest::Digest;

use crate::plan::{config, plan};
use crate::support::held_run::*;
use crate::support::http::{Request, Server};
use crate::support::mount_proxy::forward_as_sent;
use crate::support::oci_push::push_image_as;
use crate::util::*;

/// Sends `signal` (`INT`, `TERM`, `HUP`, `KILL`) to the child.
pub(crate) fn send(child: &Child, signal: &str) {
    let sent = Command::new("kill")
        .args(["-s", signal, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
}

/// Runs `args` with the held blob read, sends `signal` once the run reads it, waits for the line
/// naming the signal, lets the read end and waits for the exit: its output and stderr lines.
fn stopped_while_held(held: &HeldBlob, args: &[&str], signal: &str) -> (Output, String, String) {
    let (mut child, lines) = spawn_with_stderr_lines(args);
    let mut writer = held.wait_for_reader(&mut child);
    writer
        .write_all(&held.bytes[..held.bytes.len() / 2])
        .unwrap();
    writer.flush().unwrap();
    send(&child, signal);
    let named = match signal {
        "TERM" => "interrupted by SIGTERM",
        "HUP" => "interrupted by SIGHUP",
        _ => "interrupted by Ctrl-C (SIGINT)",
    };
    let said = wait_for_line(&lines, named);
    // The read the stopped run left waiting on the pipe ends.
    drop(writer);
    let (out, err) = finish(child, lines);
    (out, said, err)
}

/// `kill PID` (SIGTERM) in the middle of a copy into a registry stops it as Ctrl-C does: the
/// summary, the line saying how to finish, and exit 143 with a line naming the signal; the same
/// command then finishes the copy.
#[test]
fn sigterm_stops_a_copy_as_ctrl_c_does_with_exit_143_and_the_same_command_finishes_it() {
    let (src_dir, root, layer) = source_with_a_layer();
    let src = oci(src_dir.path());
    let dst = Registry::start();
    let held = HeldBlob::hold(&root, &layer);
    let (out, said, err) = stopped_while_held(&held, &["copy", &src, &dst.url()], "TERM");
    assert_exit_code(&out, 143);
    assert!(said.starts_with("copy: interrupted by SIGTERM: "), "{said}");
    assert!(said.ends_with("exit code 143"), "{said}");
    assert!(stdout(&out).starts_with("copied "), "{}", stdout(&out));
    assert!(
        err.contains("copy: interrupted; every tag in the target points at complete content: run the same command again to finish"),
        "{err}"
    );

    held.put_back_and_finish(&src, &dst.url());
}

/// SIGHUP (the terminal or SSH session the run came from closed) stops a copy into an
/// `oci-archive:` as SIGTERM does: what was copied is packed into the archive (no partial file
/// is left), the line names SIGHUP, the closing line says how to finish, exit 129; the same
/// command then finishes the copy.
#[test]
fn sighup_stops_a_copy_into_an_archive_as_sigterm_does_packing_what_was_copied() {
    let (src_dir, root, layer) = source_with_a_layer();
    let src = oci(src_dir.path());
    let out_dir = tempfile::tempdir().unwrap();
    let archive = out_dir.path().join("registry.tar");
    let target = format!("oci-archive:{}", archive.display());
    let held = HeldBlob::hold(&root, &layer);
    let (out, said, err) = stopped_while_held(&held, &["copy", &src, &target], "HUP");
    assert_exit_code(&out, 129);
    assert!(said.starts_with("copy: interrupted by SIGHUP: "), "{said}");
    assert!(said.ends_with("exit code 129"), "{said}");
    assert!(
        err.contains("run the same command again to finish"),
        "{err}"
    );
    assert!(archive.is_file(), "nothing was packed: {err}");
    assert_eq!(partial_files(&archive), Vec::<String>::new());
    assert_success(&run(&["inventory", &target]));

    held.put_back_and_finish(&src, &target);
}

/// Into an `oci:` layout, SIGTERM saves the index as Ctrl-C does: once every other tag is
/// copied, the signal stops the copy of the one held, and the index lists every tag the summary
/// counts as copied; each signal has its code, and the same command finishes.
#[test]
fn sigint_and_sigterm_into_a_layout_both_save_the_index_with_their_own_exit_codes() {
    for (signal, code) in [("INT", 130), ("TERM", 143)] {
        let (src_dir, _) = sample_layout(3, 41);
        let (src, root) = (oci(src_dir.path()), src_dir.path().join("sample"));
        let [layer, config, manifest] = add_an_image(&root, "held", 1024, 45);
        let out_dir = tempfile::tempdir().unwrap();
        let target_dir = out_dir.path().join("copy");
        let target = format!("oci:{}", target_dir.display());
        let held = HeldBlob::hold(&root, &layer);
        let (mut child, lines) = spawn_with_stderr_lines(&["copy", "--json", &src, &target]);
        let writer = held.wait_for_reader(&mut child);
        // Every other tag is copied once the target holds every blob but the held image's.
        let others: Vec<String> = names_in(&root.join("blobs/sha256"))
            .into_iter()
            .filter(|n| ![&layer, &config, &manifest].iter().any(|d| d.hex() == n))
            .collect();
        let deadline = Instant::now() + BOUND;
        loop {
            let there = names_in(&target_dir.join("blobs/sha256"));
            if others.iter().all(|n| there.contains(n)) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the other tags were never copied"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        send(&child, signal);
        let said = wait_for_line(&lines, "copy: interrupted by ");
        // The read the stopped run left waiting on the pipe ends.
        drop(writer);
        let (out, err) = finish(child, lines);
        assert_exit_code(&out, code);
        assert!(said.ends_with(&format!("exit code {code}")), "{said}");
        assert!(err.contains("run the same command again"), "{err}");
        let summary = json(&out);
        assert_eq!(summary["interrupted"], true, "{summary}");
        let copied = summary["tags_copied"].as_u64().unwrap();
        assert!(copied > 0, "{summary}");
        let index: serde_json::Value =
            serde_json::from_slice(&std::fs::read(target_dir.join("index.json")).unwrap()).unwrap();
        let tags = index["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["annotations"][acr_relocate::transport::layout::REF_NAME].is_string())
            .count();
        assert_eq!(tags as u64, copied, "{signal}: {index}");

        held.put_back_and_finish(&src, &target);
    }
}

/// `verify` stopped by a signal says so in one line (no verdict, nothing written) and prints no
/// report; run again, it passes.
#[test]
fn an_interrupted_verify_says_it_gave_no_verdict_in_one_line() {
    let (src_dir, _, _) = source_with_a_layer();
    let src = oci(src_dir.path());
    // The held blob is a manifest of the target (a copy of the source) that `--deep` reads.
    let out_dir = tempfile::tempdir().unwrap();
    let target_dir = out_dir.path().join("copy");
    let target = format!("oci:{}", target_dir.display());
    assert_success(&run(&["copy", "-q", &src, &target]));
    let held = HeldBlob::hold(&target_dir, &a_manifest(&src));
    for (signal, code) in [("INT", 130), ("TERM", 143)] {
        let (out, said, err) =
            stopped_while_held(&held, &["verify", "--deep", &src, &target], signal);
        assert_exit_code(&out, code);
        assert!(said.starts_with("verify: interrupted by "), "{said}");
        assert!(said.contains("no verdict"), "{said}");
        assert!(said.contains("nothing was written"), "{said}");
        assert!(said.ends_with(&format!("exit code {code}")), "{said}");
        assert_eq!(stdout(&out), "", "no report of an unfinished verify");
        assert!(err.is_empty(), "one line only, then: {err}");
    }
    held.put_back();
    assert_success(&run(&["verify", "--deep", &src, &target]));
}

/// The manifest of `svc2:v1.1.0` in the layout `endpoint`.
fn a_manifest(endpoint: &str) -> Digest {
    block_on(open(endpoint).manifest_digest("svc2", "v1.1.0"))
        .unwrap()
        .expect("svc2:v1.1.0")
}

/// `inventory` stopped by a signal says so in one line and prints no partial table.
#[test]
fn an_interrupted_inventory_says_so_in_one_line() {
    let (src_dir, root, _) = source_with_a_layer();
    let src = oci(src_dir.path());
    let held = HeldBlob::hold(&root, &a_manifest(&src));
    for (signal, code) in [("INT", 130), ("TERM", 143)] {
        let (out, said, err) = stopped_while_held(&held, &["inventory", &src], signal);
        assert_exit_code(&out, code);
        assert!(said.starts_with("inventory: interrupted by "), "{said}");
        assert!(said.ends_with(&format!("exit code {code}")), "{said}");
        assert_eq!(stdout(&out), "");
        assert!(err.is_empty(), "one line only, then: {err}");
    }
    held.put_back();
    assert_success(&run(&["inventory", &src]));
}

/// `apply` stopped by SIGTERM (a pod stopped) ends its step as on Ctrl-C, with its closing line,
/// exit 143; the same command finishes the plan.
#[test]
fn sigterm_stops_apply_with_its_closing_line_and_the_same_command_finishes() {
    let (src_dir, root, layer) = source_with_a_layer();
    let dir = tempfile::tempdir().unwrap();
    let target = oci(&dir.path().join("target"));
    let cfg = config(dir.path(), &oci(src_dir.path()), &target, "");
    let plan_path = plan(dir.path(), &cfg);
    let plan_arg = plan_path.to_str().unwrap();
    let held = HeldBlob::hold(&root, &layer);
    let (out, said, _) = stopped_while_held(&held, &["apply", plan_arg], "TERM");
    assert_exit_code(&out, 143);
    assert!(
        said.starts_with("apply: interrupted by SIGTERM: stopping"),
        "{said}"
    );
    assert!(
        stdout(&out).contains("apply: interrupted: run the same command again to continue"),
        "{}",
        stdout(&out)
    );
    held.put_back();
    assert_success(&run(&["apply", "-q", plan_arg]));
    assert_success(&run(&["verify", "--deep", &oci(src_dir.path()), &target]));
}

/// Adds to the layout at `root` the image `REPO:v1`, whose one layer is `size` bytes that do not
/// compress (`seed` makes them); returns its layer, config and manifest.
fn add_an_image(root: &Path, repo: &str, size: usize, seed: u64) -> [Digest; 3] {
    use rand::{RngCore, SeedableRng};
    let mut layer = vec![0u8; size];
    rand::rngs::StdRng::seed_from_u64(seed).fill_bytes(&mut layer);
    let config = format!(
        r#"{{"architecture":"amd64","os":"linux","rootfs":{{"type":"layers","diff_ids":[]}},"seed":{seed}}}"#
    );
    let (config_digest, layer_digest) = (
        write_layout_blob(root, config.as_bytes()),
        write_layout_blob(root, &layer),
    );
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": config_digest.as_str(),
            "size": config.len(),
        },
        "layers": [{
            "mediaType": "application/vnd.oci.image.layer.v1.tar",
            "digest": layer_digest.as_str(),
            "size": layer.len(),
        }],
    });
    let manifest = add_layout_manifest(
        root,
        repo,
        Some("v1"),
        "application/vnd.oci.image.manifest.v1+json",
        &serde_json::to_vec(&manifest).unwrap(),
    );
    [layer_digest, config_digest, manifest]
}

/// The files `FILE.partial-PID` beside `archive`.
fn partial_files(archive: &Path) -> Vec<String> {
    let prefix = format!(
        "{}.partial-",
        archive.file_name().unwrap().to_string_lossy()
    );
    names_in(archive.parent().unwrap())
        .into_iter()
        .filter(|n| n.starts_with(&prefix))
        .collect()
}

/// Starts `copy SOURCE oci-archive:ARCHIVE` and waits (`BOUND` at most) until it packs the
/// archive (its `FILE.partial-PID` is there).
fn copy_until_packing(src: &str, archive: &Path) -> (Child, Receiver<String>) {
    let target = format!("oci-archive:{}", archive.display());
    let (mut child, lines) = spawn_with_stderr_lines(&["copy", "-q", src, &target]);
    let deadline = Instant::now() + BOUND;
    while partial_files(archive).is_empty() {
        if child.try_wait().unwrap().is_some() || Instant::now() > deadline {
            let _ = child.kill();
            panic!("the copy never began packing the archive");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    (child, lines)
}

/// Ctrl-C while an `oci-archive:` is packed (after the transfers) is said at once: the packing
/// finishes (a half-written archive is never left), exit 130. A second Ctrl-C stops the packing:
/// the archive is left as it was, its partial file removed, said, exit 130; the same command
/// then copies and packs it again, and `verify` passes.
#[test]
fn a_signal_while_an_archive_is_packed_finishes_it_and_a_second_stops_it_leaving_the_old_one() {
    let (src_dir, _) = sample_layout(2, 43);
    let src = oci(src_dir.path());
    let out_dir = tempfile::tempdir().unwrap();
    let archive = out_dir.path().join("registry.tar.gz");
    let target = format!("oci-archive:{}", archive.display());
    assert_success(&run(&["copy", "-q", &src, &target]));
    let before = std::fs::read(&archive).unwrap();
    // Packing an archive that holds 16 MiB that do not compress takes a while.
    add_an_image(&src_dir.path().join("sample"), "big", 16 << 20, 44);

    // Two signals: the packing stops, the archive is as it was.
    let (child, lines) = copy_until_packing(&src, &archive);
    send(&child, "INT");
    let said = wait_for_line(&lines, "finishing the archive");
    assert!(
        said.starts_with("copy: interrupted by Ctrl-C (SIGINT): finishing the archive "),
        "{said}"
    );
    send(&child, "INT");
    wait_for_line(&lines, "stopping the packing");
    let (out, err) = finish(child, lines);
    assert_exit_code(&out, 130);
    assert!(
        err.contains("packing stopped by a second interrupt: the archive is as it was"),
        "{err}"
    );
    assert!(
        std::fs::read(&archive).unwrap() == before,
        "the archive changed"
    );
    assert_eq!(partial_files(&archive), Vec::<String>::new());

    // One signal: the packing finishes, the archive is complete.
    let (child, lines) = copy_until_packing(&src, &archive);
    send(&child, "TERM");
    let said = wait_for_line(&lines, "finishing the archive");
    assert!(said.ends_with("exit code 143"), "{said}");
    let (out, err) = finish(child, lines);
    assert_exit_code(&out, 143);
    assert!(err.contains("run the same command again"), "{err}");
    assert_eq!(partial_files(&archive), Vec::<String>::new());
    assert_success(&run(&["verify", "--deep", &src, &target]));

    // Nothing is left to do.
    let again = run(&["copy", &src, &target]);
    assert_success(&again);
}

/// What a [`Gate`] saw: matching requests that arrived, those held now, and whether it is open.
#[derive(Default)]
struct Held {
    arrived: usize,
    waiting: usize,
    open: bool,
}

/// A proxy to a real registry that lets the first `let_through` requests matching a predicate
/// pass and holds the next ones until [`Gate::open`] (or `BOUND`).
pub(crate) struct Gate {
    pub(crate) server: Server,
    state: Arc<(Mutex<Held>, Condvar)>,
}

impl Gate {
    pub(crate) fn start(upstream: u16, matches: fn(&Request) -> bool, let_through: usize) -> Self {
        let state: Arc<(Mutex<Held>, Condvar)> = Arc::default();
        let shared = state.clone();
        let server = Server::start_raw(move |request: &Request| {
            if matches(request) {
                let (lock, changed) = &*shared;
                let mut s = lock.lock().unwrap();
                s.arrived += 1;
                if s.arrived > let_through && !s.open {
                    s.waiting += 1;
                    changed.notify_all();
                    let deadline = Instant::now() + BOUND;
                    while !s.open && Instant::now() < deadline {
                        s = changed
                            .wait_timeout(s, Duration::from_millis(100))
                            .unwrap()
                            .0;
                    }
                    s.waiting -= 1;
                }
            }
            forward_as_sent(upstream, request)
        });
        Gate { server, state }
    }

    /// Waits (`BOUND` at most) until a request is held.
    pub(crate) fn wait_for_a_held_request(&self, child: &mut Child) {
        let (lock, changed) = &*self.state;
        let deadline = Instant::now() + BOUND;
        let mut s = lock.lock().unwrap();
        while s.waiting == 0 {
            if Instant::now() > deadline || child.try_wait().unwrap().is_some() {
                let _ = child.kill();
                panic!("no request was held");
            }
            s = changed
                .wait_timeout(s, Duration::from_millis(100))
                .unwrap()
                .0;
        }
    }

    /// Lets every request through, the held ones first.
    pub(crate) fn open(&self) {
        let (lock, changed) = &*self.state;
        lock.lock().unwrap().open = true;
        changed.notify_all();
    }
}

/// `sample` into a registry stopped by SIGTERM says what was written stays consistent, exit 143;
/// the same command writes the rest, and the registry then holds what a layout of the same
/// sample holds.
#[test]
fn sigterm_stops_sample_saying_what_was_written_stays_consistent() {
    let dst = Registry::start();
    let gate = Gate::start(
        dst.port,
        |r| r.method == "PUT" && r.path.contains("/manifests/"),
        2,
    );
    let args = ["sample", "--repos", "2", &gate.server.url()];
    let (mut child, lines) = spawn_with_stderr_lines(&args);
    gate.wait_for_a_held_request(&mut child);
    send(&child, "TERM");
    let said = wait_for_line(&lines, "sample: interrupted by SIGTERM");
    assert!(said.contains("what was written stays consistent"), "{said}");
    assert!(said.contains("run the same command again"), "{said}");
    assert!(said.ends_with("exit code 143"), "{said}");
    gate.open();
    let (out, _) = finish(child, lines);
    assert_exit_code(&out, 143);
    assert_eq!(stdout(&out), "");

    assert_success(&run(&args));
    let layout = tempfile::tempdir().unwrap();
    let expected = format!("oci:{}", layout.path().join("sample").display());
    assert_success(&run(&["sample", "--repos", "2", &expected]));
    assert_success(&run(&["verify", "--deep", &expected, &dst.url()]));
}

/// `delete-source` stopped by SIGTERM starts no further deletion, lists those done and says how
/// to go on, exit 143; the same command deletes the rest.
#[test]
fn sigterm_stops_delete_source_listing_the_deletions_done() {
    let (src, _) = sample_registry(2);
    let dst = Registry::start();
    assert_success(&run(&["copy", "-q", &src.url(), &dst.url()]));
    let gate = Gate::start(src.port, |r| r.deletes_a_manifest(), 1);
    let source = gate.server.url();
    let args = [
        "delete-source",
        source.as_str(),
        "--verified-against",
        &dst.url(),
        "--confirm",
        source.as_str(),
    ];
    let (mut child, lines) = spawn_with_stderr_lines(&args);
    gate.wait_for_a_held_request(&mut child);
    send(&child, "TERM");
    let said = wait_for_line(&lines, "delete-source: interrupted by SIGTERM");
    assert!(said.contains("no further deletion starts"), "{said}");
    gate.open();
    let (out, err) = finish(child, lines);
    assert_exit_code(&out, 143);
    // The held deletion was let through, as a request in flight is; none started after it.
    assert!(
        stdout(&out).contains("delete-source: deleted 2 manifests"),
        "{}",
        stdout(&out)
    );
    assert!(
        err.contains("delete-source: interrupted: no deletion started after SIGTERM"),
        "{err}"
    );

    let rest = run(&args);
    assert_success(&rest);
}

/// Ctrl-C while `delete-source` reads the source after its verify (it lists each repository's
/// tags again, then surveys the repository, reading every tag: minutes for one of many
/// thousand tags) stops it at once: nothing deleted, exit 130. A gate holds the listing, then
/// the survey's own listing, far longer than the run may take to stop.
#[test]
fn ctrl_c_while_delete_source_reads_the_source_stops_it_at_once() {
    let src = Registry::start();
    let (image, _) = push_image_as(src.port, "app", "v1", "amd64", b"the layer");
    let dst = Registry::start();
    assert_success(&run(&["copy", "-q", &src.url(), &dst.url()]));
    // The verify lists the tags first: the first listing held is the deletion's, the second
    // the survey's.
    for let_through in [1, 2] {
        let gate = Gate::start(
            src.port,
            |r| r.method == "GET" && r.path.ends_with("/tags/list"),
            let_through,
        );
        let source = gate.server.url();
        let (mut child, lines) = spawn_with_stderr_lines(&[
            "delete-source",
            &source,
            "--verified-against",
            &dst.url(),
            "--confirm",
            &source,
        ]);
        gate.wait_for_a_held_request(&mut child);
        send(&child, "INT");
        // A bound well under the gate's hold: a run that waited for the held answer fails here.
        let deadline = Instant::now() + Duration::from_secs(20);
        while child.try_wait().unwrap().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let stopped = child.try_wait().unwrap().is_some();
        gate.open();
        let (out, err) = finish(child, lines);
        assert!(
            stopped,
            "listing {let_through} held: the run waited for it: {err}"
        );
        assert_exit_code(&out, 130);
        let held = block_on(open(&src.url()).manifest_digest("app", "v1")).unwrap();
        assert_eq!(held, Some(image.clone()), "{err}");
    }
}
