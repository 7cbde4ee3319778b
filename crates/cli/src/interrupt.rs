//! The signals that stop a run: Ctrl-C (SIGINT), SIGTERM (what `kill`, `timeout`, systemd and
//! Kubernetes send) and SIGHUP (the terminal or SSH session closed), handled alike: the same
//! graceful stop, the same summary and resume line, each with its own exit code
//! ([`exit::INTERRUPTED`], [`exit::TERMINATED`], [`exit::HUNG_UP`]) and said in one line naming
//! it. (After a hang-up, what is said goes where stdout and stderr lead, a log or nowhere.)
//!
//! Every command awaits [`received`] (or has [`watch`] await it) instead of
//! `tokio::signal::ctrl_c()`; the first signal of the run is kept, and [`exit_code`] turns the
//! interrupted exit of a run into the code of that signal. An archive being packed when a
//! signal comes is finished (a half-written one is never left), said at once with the time it
//! takes; a second signal stops the packing, the archive left as it was.

use std::sync::OnceLock;

use acr_relocate::transport::archive;

use crate::exit;

/// A signal that stops a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signal {
    /// SIGINT: Ctrl-C at a terminal.
    Interrupt,
    /// SIGTERM: `kill PID`, `timeout`, systemd, Kubernetes stopping a pod.
    Terminate,
    /// SIGHUP: the terminal or SSH session the run was started from closed.
    Hangup,
}

impl Signal {
    /// How messages name it: `Ctrl-C (SIGINT)`, `SIGTERM`.
    pub fn shown(self) -> &'static str {
        match self {
            Signal::Interrupt => "Ctrl-C (SIGINT)",
            Signal::Terminate => "SIGTERM",
            Signal::Hangup => "SIGHUP",
        }
    }

    /// The exit code of a run it stopped: 128 + the signal's number, as a shell shows it.
    pub fn exit_code(self) -> u8 {
        match self {
            Signal::Interrupt => exit::INTERRUPTED,
            Signal::Terminate => exit::TERMINATED,
            Signal::Hangup => exit::HUNG_UP,
        }
    }
}

/// The first signal of this run.
static FIRST: OnceLock<Signal> = OnceLock::new();

/// Whether [`watch`] let an archive's packing go on at the first signal (one was in progress).
static FINISHING_AN_ARCHIVE: OnceLock<bool> = OnceLock::new();

/// True when the first signal came while an archive was being packed and [`watch`] said it is
/// finished first: a command that decides on its own whether to wait for the packing follows
/// this, the decision already said, instead of asking [`archive::packing`] again.
pub fn finishing_an_archive() -> bool {
    FINISHING_AN_ARCHIVE.get().copied().unwrap_or(false)
}

/// The first signal this run received, if any.
pub fn first() -> Option<Signal> {
    FIRST.get().copied()
}

/// How a message names what stopped the run: the first signal ([`Signal::shown`]), `Ctrl-C`
/// when none was recorded.
pub fn stopped_by() -> &'static str {
    first().map_or("Ctrl-C", Signal::shown)
}

/// The exit code of a run that ends with `code`: an interrupted run's ([`exit::INTERRUPTED`])
/// becomes that of the signal that stopped it (143 for SIGTERM, 129 for SIGHUP); any other code
/// is kept.
pub fn exit_code(code: u8) -> u8 {
    match (code, first()) {
        (exit::INTERRUPTED, Some(signal)) => signal.exit_code(),
        _ => code,
    }
}

/// Waits for the next SIGINT, SIGTERM or SIGHUP and returns which came (the first of the run is
/// kept for [`first`]). From its first poll on, no such signal ends the process by itself: the caller
/// decides; in a `select!`, put it first (`biased;`), so that it is listening before the work
/// starts. Where no handler can be installed, it never returns (the signals then act as before).
pub async fn received() -> Signal {
    match Listener::new() {
        Ok(mut listener) => listener.next().await,
        Err(_) => std::future::pending().await,
    }
}

/// SIGINT, SIGTERM and SIGHUP handlers, installed when it is made (on the current runtime) and
/// kept while it lives, so no signal goes by between two waits.
struct Listener {
    #[cfg(unix)]
    interrupt: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
    #[cfg(unix)]
    hangup: Option<tokio::signal::unix::Signal>,
}

/// Whether SIGINT and SIGHUP were ignored when the run started: `nohup` ignores SIGHUP so that
/// a run outlives its terminal, a shell starts a background job with SIGINT ignored. A signal
/// ignored so stays ignored (no listener is installed for it, which would replace that), as
/// the conventions of Unix programs want. Read once, before the first listener.
#[cfg(unix)]
fn ignored_at_start() -> (bool, bool) {
    static IGNORED: std::sync::OnceLock<(bool, bool)> = std::sync::OnceLock::new();
    *IGNORED.get_or_init(|| {
        let ignored = |signal: libc::c_int| {
            // SAFETY: sigaction with a null new action only reads the current disposition into
            // `old`, a zeroed struct this function owns.
            unsafe {
                let mut old: libc::sigaction = std::mem::zeroed();
                libc::sigaction(signal, std::ptr::null(), &mut old) == 0
                    && old.sa_sigaction == libc::SIG_IGN
            }
        };
        (ignored(libc::SIGINT), ignored(libc::SIGHUP))
    })
}

impl Listener {
    #[cfg(unix)]
    fn new() -> std::io::Result<Self> {
        use tokio::signal::unix::{signal, SignalKind};
        let (interrupt_ignored, hangup_ignored) = ignored_at_start();
        let unless = |ignored: bool, kind: SignalKind| match ignored {
            true => Ok(None),
            false => signal(kind).map(Some),
        };
        Ok(Listener {
            interrupt: unless(interrupt_ignored, SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
            hangup: unless(hangup_ignored, SignalKind::hangup())?,
        })
    }

    #[cfg(not(unix))]
    fn new() -> std::io::Result<Self> {
        Ok(Listener {})
    }

    /// The next signal (the first of the run is kept for [`first`]).
    async fn next(&mut self) -> Signal {
        let signal = self.wait().await;
        if signal == Signal::Hangup {
            leave_the_terminal();
        }
        let _ = FIRST.set(signal);
        signal
    }

    #[cfg(unix)]
    async fn wait(&mut self) -> Signal {
        async fn next_of(signal: &mut Option<tokio::signal::unix::Signal>) -> Option<()> {
            match signal {
                Some(signal) => signal.recv().await,
                None => std::future::pending().await,
            }
        }
        tokio::select! {
            Some(()) = next_of(&mut self.interrupt) => Signal::Interrupt,
            Some(()) = self.terminate.recv() => Signal::Terminate,
            Some(()) = next_of(&mut self.hangup) => Signal::Hangup,
            else => std::future::pending().await,
        }
    }

    #[cfg(not(unix))]
    async fn wait(&mut self) -> Signal {
        match tokio::signal::ctrl_c().await {
            Ok(()) => Signal::Interrupt,
            Err(_) => std::future::pending().await,
        }
    }
}

/// After SIGHUP the terminal the run writes to is most likely gone (its SSH session or window
/// closed): every write to it fails, and the first `println!` would panic, ending the run in
/// the middle of its stop with exit 101. Standard output and error that are character devices
/// (a terminal, gone or not) are pointed at `/dev/null` instead; a file or a pipe they write to
/// (`nohup`, a log) keeps what follows.
#[cfg(unix)]
fn leave_the_terminal() {
    use std::os::fd::AsFd;
    let Ok(null) = std::fs::OpenOptions::new().write(true).open("/dev/null") else {
        return;
    };
    let is_device = |fd: std::os::fd::BorrowedFd<'_>| {
        rustix::fs::fstat(fd).is_ok_and(|stat| {
            rustix::fs::FileType::from_raw_mode(stat.st_mode)
                == rustix::fs::FileType::CharacterDevice
        })
    };
    if is_device(std::io::stdout().as_fd()) {
        let _ = rustix::stdio::dup2_stdout(&null);
    }
    if is_device(std::io::stderr().as_fd()) {
        let _ = rustix::stdio::dup2_stderr(&null);
    }
}

#[cfg(not(unix))]
fn leave_the_terminal() {}

/// Writes a line on stderr, ignoring a failure: after SIGHUP, stderr may be a terminal that is
/// gone (every write fails), and the stop must go on all the same (`eprintln!` would panic).
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr().lock(), $($arg)*);
    }};
}

/// The one line a signal that stops `command` is said in:
/// `COMMAND: interrupted by SIGTERM: MEANING; exit code 143`.
pub fn line(command: &str, signal: Signal, meaning: &str) -> String {
    format!(
        "{command}: interrupted by {}: {meaning}; exit code {}",
        signal.shown(),
        signal.exit_code()
    )
}

/// Watches the signals for the rest of the run (on the current runtime). The first calls `stop`
/// and is said at once on stderr: [`line`] with `meaning`, or, when it comes while an archive is
/// being packed, that the packing is finished first and how long that takes (the packing goes
/// on: `stop` must not drop it). Any further signal stops the packing, or keeps one from
/// starting, the archive left as it was.
pub fn watch(command: &'static str, meaning: &'static str, stop: impl FnOnce() + Send + 'static) {
    // Listening from here on, not from the task's first poll.
    let Ok(mut listener) = Listener::new() else {
        return;
    };
    tokio::spawn(async move {
        let mut stop = Some(stop);
        let mut said = false;
        loop {
            let signal = listener.next().await;
            let packing = archive::packing();
            if !said {
                said = true;
                let _ = FINISHING_AN_ARCHIVE.set(packing.is_some());
                match packing {
                    Some(p) => say!(
                        "{}",
                        line(
                            command,
                            signal,
                            &format!(
                                "finishing the archive {} ({})…, as a half-written one is never left; a second signal stops the packing and leaves the archive as it was",
                                p.archive.display(),
                                match p.remaining {
                                    Some(d) => format!("about {} s", d.as_secs().max(1)),
                                    None => "time not known yet".to_string(),
                                }
                            )
                        )
                    ),
                    None => say!("{}", line(command, signal, meaning)),
                }
                if let Some(stop) = stop.take() {
                    stop();
                }
                continue;
            }
            // Asked after the signal, so a packing that put its archive in place meanwhile is
            // said as written, not as stopped.
            match (archive::stop_packing(), packing) {
                (Some(written), _) => say!(
                    "{command}: {} again: already stopping; the archive {} was complete and is written",
                    signal.shown(),
                    written.display()
                ),
                (None, Some(p)) => say!(
                    "{command}: {} again: stopping the packing of {}: the archive stays as it was",
                    signal.shown(),
                    p.archive.display()
                ),
                (None, None) => say!(
                    "{command}: {} again: already stopping (an archive not yet packed is left as it was)",
                    signal.shown()
                ),
            }
        }
    });
}

/// Runs `work`, or ends at the first signal with [`line`] (`command`, `meaning`) on stderr and
/// the signal's exit code: for a command that writes nothing, so stopping it at once is safe.
/// The signals are listened to before the work starts.
pub async fn unless_stopped(
    command: &str,
    meaning: &str,
    work: impl std::future::Future<Output = anyhow::Result<u8>>,
) -> anyhow::Result<u8> {
    tokio::select! {
        biased;
        signal = received() => {
            say!("{}", line(command, signal, meaning));
            Ok(signal.exit_code())
        }
        code = work => code,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_signal_has_its_own_exit_code_and_name() {
        assert_eq!(Signal::Interrupt.exit_code(), 130);
        assert_eq!(Signal::Terminate.exit_code(), 143);
        assert_eq!(Signal::Hangup.exit_code(), 129);
        assert_eq!(
            line("copy", Signal::Hangup, "stopping"),
            "copy: interrupted by SIGHUP: stopping; exit code 129"
        );
        assert_eq!(
            line("verify", Signal::Terminate, "no verdict, nothing written"),
            "verify: interrupted by SIGTERM: no verdict, nothing written; exit code 143"
        );
    }

    #[test]
    fn codes_other_than_interrupted_are_kept() {
        assert_eq!(exit_code(exit::SUCCESS), exit::SUCCESS);
        assert_eq!(exit_code(exit::FAILURES), exit::FAILURES);
        assert_eq!(exit_code(exit::UNREACHABLE), exit::UNREACHABLE);
    }
}
