//! A copy stopped in the middle of its uploads (Ctrl-C, SIGTERM) cancels the upload sessions it
//! left open in the target: a registry keeps them for days otherwise (Distribution: 7), counted
//! against its storage.

use std::io::Write;
use std::time::{Duration, Instant};

use crate::support::held_run::*;
use crate::util::*;

/// The registry's open upload sessions once they stay the same for half a second: the run
/// has opened what it opens before the held transfer ends (bounded by [`BOUND`]).
fn settled_sessions(registry: &Registry) -> Vec<String> {
    let started = Instant::now();
    let mut seen = registry.upload_sessions();
    let mut since = Instant::now();
    while started.elapsed() < BOUND {
        std::thread::sleep(Duration::from_millis(100));
        let now = registry.upload_sessions();
        if now != seen {
            (seen, since) = (now, Instant::now());
        } else if since.elapsed() >= Duration::from_millis(500) {
            break;
        }
    }
    seen
}

#[test]
fn an_interrupted_copy_leaves_no_upload_session_open_in_the_target() {
    let (src_dir, root, layer) = source_with_a_layer();
    let src = oci(src_dir.path());
    let dst = Registry::start();
    let held = HeldBlob::hold(&root, &layer);
    let (mut child, lines) = spawn_with_stderr_lines(&["copy", "-j", "2", &src, &dst.url()]);
    let mut writer = held.wait_for_reader(&mut child);
    writer
        .write_all(&held.bytes[..held.bytes.len() / 2])
        .unwrap();
    writer.flush().unwrap();
    // The held layer's upload is open, half sent, beside the sessions opened ahead for others.
    assert!(!settled_sessions(&dst).is_empty());
    crate::signals::send(&child, "INT");
    wait_for_line(&lines, "interrupted by Ctrl-C (SIGINT)");
    drop(writer);
    let (out, err) = finish(child, lines);
    assert_exit_code(&out, 130);
    assert_eq!(dst.upload_sessions(), Vec::<String>::new(), "{err}");

    held.put_back();
    assert_success(&run(&["copy", "-q", &src, &dst.url()]));
    assert_success(&run(&["verify", "--deep", &src, &dst.url()]));
    assert_eq!(dst.upload_sessions(), Vec::<String>::new());
}
