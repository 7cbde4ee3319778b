//! Exit codes, decided in one place.
//!
//! | code | meaning |
//! |---|---|
//! | 0 | everything done (copied, verified, no blocking finding) |
//! | 1 | the job ran but some items failed, differ or are blocked (each one is listed) |
//! | 2 | usage, input or connection error: nothing useful could be done |
//! | 130 | interrupted (Ctrl-C); the summary says what was done |

use std::process::ExitCode;

/// Everything done.
#[allow(dead_code)]
pub const SUCCESS: u8 = 0;
/// Some items failed, differ, or a blocking finding remains.
#[allow(dead_code)]
pub const FAILURES: u8 = 1;
/// Usage, input or connection error.
pub const ERROR: u8 = 2;
/// Interrupted by the user.
pub const INTERRUPTED: u8 = 130;

/// Turns a command's outcome into the process exit code, printing an error as one line on stderr.
pub fn finish(result: anyhow::Result<u8>) -> ExitCode {
    match result {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            // `{:#}` prints the whole context chain on one line: "what failed: why".
            eprintln!("error: {error:#}");
            ExitCode::from(ERROR)
        }
    }
}
