//! A run held in the middle of its work where a test needs it: a blob of a layout replaced by
//! a named pipe (`mkfifo`), whose read waits until the test writes the bytes, so no timing is
//! guessed; and the bounded waits on the held run's stderr and exit.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use acr_relocate::digest::Digest;

use crate::util::*;

/// The longest any wait of these tests lasts: a bound, not a timing.
pub const BOUND: Duration = Duration::from_secs(60);

/// A blob of a layout replaced by a named pipe: a run that reads it waits for the bytes the
/// test writes into it.
pub struct HeldBlob {
    /// The pipe, where the blob's file was.
    pub path: PathBuf,
    /// The blob's bytes, to write into the pipe or put back.
    pub bytes: Vec<u8>,
}

impl HeldBlob {
    /// Replaces the blob `digest` of the layout at `root` by a named pipe.
    pub fn hold(root: &Path, digest: &Digest) -> Self {
        let path = layout_blob(root, digest);
        let bytes = std::fs::read(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        let made = Command::new("mkfifo")
            .arg(&path)
            .status()
            .expect("mkfifo (coreutils) installed");
        assert!(made.success());
        HeldBlob { path, bytes }
    }

    /// The writing end, once `child` has opened the pipe to read it (waits `BOUND` at most).
    pub fn wait_for_reader(&self, child: &mut Child) -> File {
        let (sent, received) = mpsc::channel();
        let path = self.path.clone();
        std::thread::spawn(move || {
            let _ = sent.send(OpenOptions::new().write(true).open(&path));
        });
        let deadline = Instant::now() + BOUND;
        loop {
            match received.recv_timeout(Duration::from_millis(100)) {
                Ok(writer) => return writer.unwrap(),
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    let ended = child.try_wait().unwrap();
                    if ended.is_some() || Instant::now() > deadline {
                        let _ = child.kill();
                        // Opening the reading end lets the waiting thread go.
                        let _ = File::open(&self.path);
                        panic!("the run never read the held blob (it ended: {ended:?})");
                    }
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => panic!("the opening thread died"),
            }
        }
    }

    /// Puts the blob's file back in place of the pipe.
    pub fn put_back(&self) {
        std::fs::remove_file(&self.path).unwrap();
        std::fs::write(&self.path, &self.bytes).unwrap();
    }

    /// Puts the blob back, then proves the stopped run lost nothing: a copy from `source` into
    /// `target` finishes the job and `verify --deep` passes.
    pub fn put_back_and_finish(&self, source: &str, target: &str) {
        self.put_back();
        assert_success(&run(&["copy", "-q", source, target]));
        assert_success(&run(&["verify", "--deep", source, target]));
    }
}

/// Waits (`BOUND` at most) for a stderr line containing `needle`; returns it.
pub fn wait_for_line(lines: &Receiver<String>, needle: &str) -> String {
    let deadline = Instant::now() + BOUND;
    let mut seen = Vec::new();
    while Instant::now() < deadline {
        match lines.recv_timeout(Duration::from_millis(100)) {
            Ok(line) if line.contains(needle) => return line,
            Ok(line) => seen.push(line),
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    panic!("no line with `{needle}` on stderr: {seen:#?}");
}

/// Waits (`BOUND` at most) for the child to end; its output, with the rest of its stderr (every
/// line, read to the end of the stream).
pub fn finish(mut child: Child, lines: Receiver<String>) -> (Output, String) {
    let deadline = Instant::now() + BOUND;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("the run did not end after the signal");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    // Every line the reader thread has yet to pass on: it ends at the end of the stream, which
    // the exit closed (its channel then disconnects).
    let mut err = Vec::new();
    let deadline = Instant::now() + BOUND;
    while let Ok(line) = lines.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        err.push(line);
    }
    (out, err.join("\n"))
}

/// A sample layout, and the last layer of its `svc2:v1.1.0` (the blob the tests hold).
pub fn source_with_a_layer() -> (tempfile::TempDir, PathBuf, Digest) {
    let (dir, _) = sample_layout(3, 41);
    let root = dir.path().join("sample");
    let layer = last_layer(&open(&oci(dir.path())), "svc2", "v1.1.0");
    (dir, root, layer)
}
