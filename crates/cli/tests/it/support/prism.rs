//! One launcher for Stoplight Prism, in both of its modes: `prism mock` (answers from a spec's
//! examples; the ACR data-plane tests) and `prism proxy` (checks each request and answer against a
//! spec on the way to an upstream; the Azure control-plane tier). Both run with `--errors`: a
//! request that breaks the spec gets 422, an answer that breaks it 500, and violations are logged.
//!
//! Prism is found through `$ACR_RELOCATE_PRISM` (the `prism` executable; `.ci/run` installs it
//! with npm and exports it), else `${TMPDIR:-/tmp}/prism/node_modules/.bin/prism`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The root of `../shared/specs`.
pub fn specs() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/specs")
}

/// The Prism executable.
pub fn prism_binary() -> PathBuf {
    match std::env::var_os("ACR_RELOCATE_PRISM") {
        Some(p) => PathBuf::from(p),
        None => std::env::temp_dir().join("prism/node_modules/.bin/prism"),
    }
}

/// What Prism does with a request that passes the spec.
#[derive(Clone, Copy, Debug)]
pub enum Mode<'a> {
    /// `prism mock`: answers from the spec's examples.
    Mock,
    /// `prism proxy`: passes it on to this upstream (`http://127.0.0.1:PORT`).
    Proxy(&'a str),
}

/// One Prism process on 127.0.0.1, stopped on drop.
pub struct Prism {
    /// Its port on 127.0.0.1.
    pub port: u16,
    child: Child,
    log: PathBuf,
}

impl Prism {
    /// Starts Prism in `mode` on `spec`, its log in `dir` (`prism-NAME-ATTEMPT.log`); retries on
    /// another port when the one picked was taken meanwhile.
    pub fn start(mode: Mode, spec: &Path, name: &str, dir: &Path) -> Self {
        for attempt in 0..5 {
            let log = dir.join(format!("prism-{name}-{attempt}.log"));
            if let Some((child, port)) = try_start(mode, spec, &log) {
                return Prism { port, child, log };
            }
        }
        panic!(
            "could not start Prism ({}) for {name}: npm install --prefix \"${{TMPDIR:-/tmp}}/prism\" @stoplight/prism-cli, or set ACR_RELOCATE_PRISM",
            prism_binary().display()
        );
    }

    /// The whole log.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Prism {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts Prism on a free port and waits (bounded) for `Prism is listening on`.
fn try_start(mode: Mode, spec: &Path, log: &Path) -> Option<(Child, u16)> {
    let port = free_port();
    let file = std::fs::File::create(log).unwrap();
    let mut command = Command::new(prism_binary());
    match mode {
        Mode::Mock => command.arg("mock"),
        Mode::Proxy(_) => command.arg("proxy"),
    };
    command
        .args(["--errors", "-h", "127.0.0.1", "-p", &port.to_string()])
        .arg(spec);
    if let Mode::Proxy(upstream) = mode {
        command.arg(upstream);
    }
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::from(file.try_clone().unwrap()))
        .stderr(Stdio::from(file))
        .spawn()
        .ok()?;
    let deadline = Instant::now() + Duration::from_secs(90);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return None; // port taken meanwhile: try another
        }
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if text.contains("Prism is listening on") {
            return Some((child, port));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}
