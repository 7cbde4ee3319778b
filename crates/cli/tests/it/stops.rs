//! What a run leaves when it is stopped hard or hung up on: a layout lists finished tags while a long transfer goes on, delete-source says each deletion as it is done, SIGHUP stops a run as SIGTERM does.
//!
//! A run is held where the test needs it, by a blob of a source layout replaced with a named
//! pipe, or by a proxy holding the requests a test names; every wait is bounded (`BOUND`).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use crate::plan::{config, plan};
use crate::signals::{send, Gate};
use crate::support::held_run::*;
use crate::util::*;

/// The tags `index.json` of the layout at `dir` lists, as `REPOSITORY:TAG`, sorted; none while
/// it cannot be read.
fn tags_listed(dir: &std::path::Path) -> Vec<String> {
    let Ok(bytes) = std::fs::read(dir.join("index.json")) else {
        return Vec::new();
    };
    let index: serde_json::Value = serde_json::from_slice(&bytes).expect("index.json is whole");
    let mut tags: Vec<String> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["annotations"][acr_relocate::transport::layout::REF_NAME].as_str())
        .map(str::to_string)
        .collect();
    tags.sort();
    tags
}

/// Into an `oci:` layout, the tags finished while one long blob transfer goes on (nothing else
/// written meanwhile) are listed in `index.json` within seconds, not only at the end: a run
/// killed outright (SIGKILL) during the transfer keeps them, and `verify` passes for them.
#[test]
fn a_layout_lists_the_tags_finished_during_a_long_transfer_and_a_kill_keeps_them() {
    let (src_dir, root, layer) = source_with_a_layer();
    let src = oci(src_dir.path());
    let source = open(&src);
    // Every tag of every repository but `svc2`, whose `v1.1.0` waits for the held layer.
    let mut others: Vec<String> = Vec::new();
    for repository in repositories(&source).into_iter().filter(|r| r != "svc2") {
        for tag in block_on(source.tags(&repository)).unwrap() {
            others.push(format!("{repository}:{tag}"));
        }
    }
    others.sort();
    assert!(!others.is_empty());
    let out_dir = tempfile::tempdir().unwrap();
    let target_dir = out_dir.path().join("copy");
    let target = format!("oci:{}", target_dir.display());
    let held = HeldBlob::hold(&root, &layer);

    let (mut child, _lines) = spawn_with_stderr_lines(&["copy", &src, &target]);
    // The run reads the held layer; no byte of it is written: the transfer cannot end.
    let writer = held.wait_for_reader(&mut child);
    let deadline = Instant::now() + BOUND;
    loop {
        let listed = tags_listed(&target_dir);
        if others.iter().all(|t| listed.contains(t)) {
            assert!(!listed.contains(&"svc2:v1.1.0".to_string()), "{listed:?}");
            break;
        }
        if Instant::now() > deadline || child.try_wait().unwrap().is_some() {
            let _ = child.kill();
            panic!("index.json never listed the finished tags during the transfer: {listed:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        child.try_wait().unwrap().is_none(),
        "the transfer is still going"
    );
    send(&child, "KILL");
    let _ = child.wait();
    drop(writer);
    held.put_back();

    assert_success(&run(&[
        "verify",
        "--deep",
        "--exclude-repo",
        "svc2",
        &src,
        &target,
    ]));
    // The same command finishes the rest.
    assert_success(&run(&["copy", "-q", &src, &target]));
    assert_success(&run(&["verify", "--deep", &src, &target]));
}

/// The binary with `args`, its stdout lines sent to the receiver as they come (stderr kept
/// apart, read to the end).
fn spawn_with_stdout_lines(args: &[&str]) -> (Child, Receiver<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_acr-relocate"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (lines, received) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    (child, received)
}

/// `delete-source` says the verify that allowed it before it deletes anything, then each
/// manifest deleted as its DELETE is answered: killed outright (SIGKILL) while a DELETE is held,
/// its output already lists every deletion done, and only those.
#[test]
fn delete_source_says_each_deletion_as_it_is_done_so_a_killed_run_leaves_their_record() {
    let (src, _) = sample_registry(2);
    let dst = Registry::start();
    assert_success(&run(&["copy", "-q", &src.url(), &dst.url()]));
    let gate = Gate::start(src.port, |r| r.deletes_a_manifest(), 2);
    let source = gate.server.url();
    let (mut child, lines) = spawn_with_stdout_lines(&[
        "delete-source",
        source.as_str(),
        "--verified-against",
        &dst.url(),
        "--confirm",
        source.as_str(),
    ]);
    gate.wait_for_a_held_request(&mut child);
    // Two DELETEs were answered before the third was held: their lines are out.
    let mut said: Vec<String> = Vec::new();
    let deadline = Instant::now() + BOUND;
    while said.iter().filter(|l| l.starts_with("deleted ")).count() < 2 {
        match lines.recv_timeout(Duration::from_millis(100)) {
            Ok(line) => said.push(line),
            Err(_) if Instant::now() > deadline => panic!("no deletion said: {said:#?}"),
            Err(_) => {}
        }
    }
    send(&child, "KILL");
    let _ = child.wait();
    gate.open();
    while let Ok(line) = lines.recv_timeout(BOUND) {
        said.push(line);
    }

    let verdict = said
        .iter()
        .position(|l| l.starts_with("verify: "))
        .expect("the verify said");
    let first_deletion = said.iter().position(|l| l.starts_with("deleted ")).unwrap();
    assert!(verdict < first_deletion, "{said:#?}");
    let deleted: Vec<&String> = said.iter().filter(|l| l.starts_with("deleted ")).collect();
    assert_eq!(deleted.len(), 2, "only the deletions answered: {said:#?}");
    let store = open(&src.url());
    for line in deleted {
        // `deleted REPOSITORY@DIGEST (TAGS…)`: gone from the source.
        let named = line["deleted ".len()..].split(' ').next().unwrap();
        let (repository, digest) = named.split_once('@').expect("REPOSITORY@DIGEST");
        let left = block_on(store.manifest_digest(repository, digest)).unwrap();
        assert!(
            left.is_none(),
            "{named} said deleted but still in the source"
        );
    }
}

/// SIGHUP (the terminal or SSH session closed) stops `apply` as SIGTERM does, exit 129, and the
/// summary says the later steps were not run because of it (not that an earlier step did not
/// finish); the same command finishes the plan.
#[test]
fn sighup_stops_apply_and_its_summary_names_it_for_the_steps_not_run() {
    let (src_dir, root, layer) = source_with_a_layer();
    let dir = tempfile::tempdir().unwrap();
    let target = oci(&dir.path().join("target"));
    let cfg = config(dir.path(), &oci(src_dir.path()), &target, "");
    let plan_path = plan(dir.path(), &cfg);
    let plan_arg = plan_path.to_str().unwrap();
    let held = HeldBlob::hold(&root, &layer);
    let (mut child, lines) = spawn_with_stderr_lines(&["apply", plan_arg]);
    let writer = held.wait_for_reader(&mut child);
    send(&child, "HUP");
    let said = wait_for_line(&lines, "apply: interrupted by SIGHUP");
    assert!(said.ends_with("exit code 129"), "{said}");
    // The read the stopped run left waiting on the pipe ends.
    drop(writer);
    let (out, err) = finish(child, lines);
    assert_exit_code(&out, 129);
    assert!(
        err.lines()
            .any(|l| l.ends_with("verify: not run: interrupted by SIGHUP")),
        "{err}"
    );
    assert!(!err.contains("an earlier step did not finish"), "{err}");
    let summary = stdout(&out);
    assert!(
        summary.contains("not run") && summary.contains("interrupted by SIGHUP"),
        "{summary}"
    );
    assert!(
        summary.contains("apply: interrupted: run the same command again to continue"),
        "{summary}"
    );

    held.put_back();
    assert_success(&run(&["apply", "-q", plan_arg]));
    assert_success(&run(&["verify", "--deep", &oci(src_dir.path()), &target]));
}

/// The terminal a copy runs in closes (an SSH session ends): the run gets SIGHUP, and every
/// write to the terminal fails from then on. The stop goes on as on SIGTERM: what was copied is
/// packed into the archive, and the run ends with exit 129, not a panic on its first line of
/// output. The terminal is `script`'s (util-linux), closed by killing `script`; it exits 101
/// (a panic writing to the gone terminal) without standard output and error taken off it.
#[test]
fn a_copy_whose_terminal_closes_packs_its_archive_and_exits_129() {
    let (src_dir, root, layer) = source_with_a_layer();
    let src = oci(src_dir.path());
    let out_dir = tempfile::tempdir().unwrap();
    let archive = out_dir.path().join("moved.tar");
    let rc = out_dir.path().join("rc");
    let held = HeldBlob::hold(&root, &layer);
    // The session leader (the shell `script` starts) dies of the hangup, as a login shell does,
    // and the kernel then sends SIGHUP to the terminal's foreground processes: the copy, and
    // the shell beside it that catches SIGHUP (`trap :`, which the copy does not inherit as
    // `trap ''` would be) to write down the copy's exit code.
    let copy = out_dir.path().join("copy.sh");
    std::fs::write(
        &copy,
        format!(
            "trap : HUP\n'{}' copy '{src}' 'oci-archive:{}'\necho $? > '{}'\n",
            env!("CARGO_BIN_EXE_acr-relocate"),
            archive.display(),
            rc.display()
        ),
    )
    .unwrap();
    let leader = format!("sh '{}' & wait", copy.display());
    let mut script = Command::new("script")
        .args(["-q", "-f", "-c", &leader, "/dev/null"])
        .env("SHELL", "/bin/sh")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("script (util-linux) installed");
    let writer = held.wait_for_reader(&mut script);
    // The terminal goes: its master side closes with `script`.
    script.kill().unwrap();
    script.wait().unwrap();
    // The stop packs what was copied; the held read then ends (a read of a pipe outlives the
    // task that asked for it, and the run waits for it before it exits).
    let started = Instant::now();
    while !archive.exists() && started.elapsed() < BOUND {
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(writer);
    while !rc.exists() && started.elapsed() < BOUND {
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(100));
    let code = std::fs::read_to_string(&rc).expect("the copy ended");
    assert_eq!(code.trim(), "129");
    let names: Vec<String> = std::fs::read_dir(out_dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.contains(&"moved.tar".to_string()), "{names:?}");
    assert!(!names.iter().any(|n| n.contains("partial")), "{names:?}");
    // What it packed is a whole archive, and the same command finishes the copy.
    let archive = format!("oci-archive:{}", archive.display());
    assert_success(&run(&["inventory", &archive]));
    held.put_back();
    assert_success(&run(&["copy", "-q", &src, &archive]));
    assert_success(&run(&["verify", "--deep", &src, &archive]));
}

/// `nohup acr-relocate copy …` (SIGHUP ignored when the run starts, so that it outlives the
/// terminal): a SIGHUP does not stop it, and the copy finishes.
#[test]
fn a_copy_started_with_nohup_goes_on_after_sighup() {
    use std::io::Write;
    let (src_dir, root, layer) = source_with_a_layer();
    let src = oci(src_dir.path());
    let dst = Registry::start();
    let held = HeldBlob::hold(&root, &layer);
    let mut child = Command::new("nohup")
        .args([
            env!("CARGO_BIN_EXE_acr-relocate"),
            "copy",
            "-q",
            &src,
            &dst.url(),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("nohup (coreutils) installed");
    let mut writer = held.wait_for_reader(&mut child);
    writer
        .write_all(&held.bytes[..held.bytes.len() / 2])
        .unwrap();
    writer.flush().unwrap();
    send(&child, "HUP");
    std::thread::sleep(Duration::from_millis(300));
    writer
        .write_all(&held.bytes[held.bytes.len() / 2..])
        .unwrap();
    drop(writer);
    let out = child.wait_with_output().unwrap();
    assert_success(&out);
    assert!(!stderr(&out).contains("SIGHUP"), "{}", stderr(&out));
    held.put_back();
    assert_success(&run(&["verify", "--deep", &src, &dst.url()]));
}
