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
        eprintln!("acr-relocate: {}", printable(&message()));
    }
}

/// `text`, which may come from outside (a registry's name or message, a layout's annotation, a
/// file name), with its control characters written as escapes (`\u{1b}`, `\n`): a terminal then
/// shows them instead of obeying them (clearing the screen, setting its title, forging lines).
pub fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(obeyed) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match (c.is_control(), obeyed(c)) {
            (true, _) => out.extend(c.escape_debug()),
            (false, true) => out.extend(c.escape_unicode()),
            (false, false) => out.push(c),
        }
    }
    std::borrow::Cow::Owned(out)
}

/// True for a character a terminal acts on rather than shows: control characters, and the
/// bidirectional marks, embeddings, overrides and isolates that reorder the text around them
/// ("Trojan Source").
fn obeyed(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{200E}' | '\u{200F}' | '\u{061C}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
        )
}

#[cfg(test)]
mod tests {
    use super::printable;

    #[test]
    fn control_characters_are_shown_as_escapes_and_other_text_as_it_is() {
        assert_eq!(
            printable("evil\u{1b}[2J\u{1b}]0;PWNED\u{7}name\nFORGED: OK"),
            "evil\\u{1b}[2J\\u{1b}]0;PWNED\\u{7}name\\nFORGED: OK"
        );
        assert_eq!(printable("team/app:v1 — ünïcode"), "team/app:v1 — ünïcode");
        assert_eq!(printable("ok\u{202E}gnp.exe"), "ok\\u{202e}gnp.exe");
    }
}
