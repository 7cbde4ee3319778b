//! Runs that write a layout or a journal while another run is in the middle of its work: a second
//! writer is refused at once and the first finishes unharmed; a copy stopped by Ctrl-C leaves no
//! half-written file behind.
//!
//! The first run is held in the middle of its copy by a source blob replaced with a named pipe
//! (`mkfifo`): its read waits until the test writes the bytes, so no timing is guessed.

use std::io::Write;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::plan::{config, plan};
use crate::support::held_run::*;
use crate::util::*;

/// Two copies into one layout at once (two shards of one source, say) would each rewrite the
/// whole `index.json`, the last dropping the other's tags: the second is refused at once, and the
/// first goes on to a complete layout.
#[test]
fn a_copy_into_a_layout_another_copy_is_writing_is_refused_and_the_first_finishes() {
    let (src_dir, root, layer) = source_with_a_layer();
    let (other_dir, _) = sample_layout(1, 42);
    let out_dir = tempfile::tempdir().unwrap();
    let target_dir = out_dir.path().join("shared");
    let target = format!("oci:{}", target_dir.display());
    let held = HeldBlob::hold(&root, &layer);
    let (mut first, lines) =
        spawn_with_stderr_lines(&["copy", "-q", &oci(src_dir.path()), &target]);
    let mut writer = held.wait_for_reader(&mut first);

    let second = run(&["copy", "-q", &oci(other_dir.path()), &target]);
    assert_exit_code(&second, 2);
    let err = stderr(&second);
    assert!(
        err.contains(&target_dir.display().to_string())
            && err.contains("another run is writing this layout"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");

    writer.write_all(&held.bytes).unwrap();
    drop(writer);
    let (out, err) = finish(first, lines);
    assert_success(&out);
    assert!(err.is_empty(), "{err}");
    held.put_back();
    assert_success(&run(&["verify", "--deep", &oci(src_dir.path()), &target]));
    assert_eq!(names_in(&target_dir), ["blobs", "index.json", "oci-layout"]);
}

/// Two `apply` runs of one plan would both do every step and interleave their records in one
/// journal: the second is refused at once, naming the journal, and leaves it as it was.
#[test]
fn a_second_apply_of_a_plan_is_refused_while_the_first_runs() {
    let (src_dir, root, layer) = source_with_a_layer();
    let dir = tempfile::tempdir().unwrap();
    let target = oci(&dir.path().join("target"));
    let cfg = config(dir.path(), &oci(src_dir.path()), &target, "");
    let plan_path = plan(dir.path(), &cfg);
    let plan_arg = plan_path.to_str().unwrap();
    let journal = dir.path().join("plan.json.journal");
    let held = HeldBlob::hold(&root, &layer);
    let (mut first, lines) = spawn_with_stderr_lines(&["apply", "-q", plan_arg]);
    let mut writer = held.wait_for_reader(&mut first);

    let recorded = std::fs::read_to_string(&journal).unwrap();
    let second = run(&["apply", "-q", plan_arg]);
    assert_exit_code(&second, 2);
    let err = stderr(&second);
    assert!(
        err.contains(&journal.display().to_string())
            && err.contains("in use by another `apply` run"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    assert_eq!(std::fs::read_to_string(&journal).unwrap(), recorded);

    writer.write_all(&held.bytes).unwrap();
    drop(writer);
    let (out, err) = finish(first, lines);
    assert_success(&out);
    let starts = std::fs::read_to_string(&journal)
        .unwrap()
        .lines()
        .filter(|l| l.contains(r#""event":"start""#))
        .count();
    assert_eq!(starts, 1, "{err}");
}

/// Ctrl-C in the middle of a blob's transfer into a layout drops the transfer: the bytes it had
/// written under `.partial/` go with it, so the stopped run leaves nothing there, and the same
/// command then finishes the copy.
#[test]
fn a_copy_into_a_layout_stopped_by_ctrl_c_in_a_transfer_leaves_no_partial_file() {
    let (src_dir, root, layer) = source_with_a_layer();
    let out_dir = tempfile::tempdir().unwrap();
    let target_dir = out_dir.path().join("copy");
    let target = format!("oci:{}", target_dir.display());
    let held = HeldBlob::hold(&root, &layer);
    let (mut first, lines) =
        spawn_with_stderr_lines(&["copy", "-q", &oci(src_dir.path()), &target]);
    let mut writer = held.wait_for_reader(&mut first);
    writer
        .write_all(&held.bytes[..held.bytes.len() / 2])
        .unwrap();
    writer.flush().unwrap();
    let partial = target_dir.join(".partial");
    let deadline = Instant::now() + BOUND;
    while std::fs::read_dir(&partial).map_or(true, |mut d| d.next().is_none()) {
        assert!(Instant::now() < deadline, "the transfer never began");
        std::thread::sleep(Duration::from_millis(20));
    }
    let signalled = Command::new("kill")
        .args(["-INT", &first.id().to_string()])
        .status()
        .unwrap();
    assert!(signalled.success());
    wait_for_line(&lines, "interrupted");
    // The read the dropped transfer left waiting on the pipe ends.
    drop(writer);
    let (out, _) = finish(first, lines);
    assert_exit_code(&out, 130);
    assert!(!partial.exists(), "left: {:?}", names_in(&partial));

    held.put_back_and_finish(&oci(src_dir.path()), &target);
    assert_eq!(names_in(&target_dir), ["blobs", "index.json", "oci-layout"]);
}

#[cfg(unix)]
#[test]
fn a_layout_whose_blobs_directory_is_a_link_is_written_through_it_with_a_warning_naming_where() {
    let (dir, _) = sample_layout(2, 3);
    let work = tempfile::tempdir().unwrap();
    let (target, outside) = (work.path().join("received"), work.path().join("outside"));
    std::fs::create_dir_all(target.join("blobs")).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(
        target.join("oci-layout"),
        r#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .unwrap();
    std::fs::write(
        target.join("index.json"),
        r#"{"schemaVersion":2,"manifests":[]}"#,
    )
    .unwrap();
    std::os::unix::fs::symlink(&outside, target.join("blobs/sha256")).unwrap();
    let into = format!("oci:{}", target.display());
    let out = run(&["copy", "-q", &oci(dir.path()), &into]);
    assert_success(&out);
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "warning: {}: a symbolic link to {}: the blobs this run writes go there, outside the layout",
            target.join("blobs/sha256").display(),
            std::fs::canonicalize(&outside).unwrap().display()
        )),
        "{err}"
    );
    assert!(std::fs::read_dir(&outside).unwrap().count() > 0);
}
