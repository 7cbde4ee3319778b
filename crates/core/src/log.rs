//! Diagnostics on stderr, off by default: `-v` shows what happens to each tag and every retry,
//! `-vv` every request with its status. URLs are shown with only the query values that carry no
//! secret (page size and cursor, mount source, digest; upload state and SAS signatures are
//! hidden), and nothing else that could carry a secret is ever passed here.

use std::sync::atomic::{AtomicU8, Ordering};

static VERBOSITY: AtomicU8 = AtomicU8::new(0);

/// Sets how much is shown: 0 nothing, 1 tags and retries, 2 every request.
pub fn set_verbosity(level: u8) {
    VERBOSITY.store(level, Ordering::Relaxed);
}

/// True when messages of `level` are shown.
pub fn enabled(level: u8) -> bool {
    VERBOSITY.load(Ordering::Relaxed) >= level
}

/// Shows a message of `level`; the text is only built when it will be shown.
pub fn emit(level: u8, message: impl FnOnce() -> String) {
    if enabled(level) {
        eprintln!("acr-relocate: {}", message());
    }
}
