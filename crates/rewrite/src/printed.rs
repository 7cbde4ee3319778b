//! Lines of the user's files as they are printed: with secrets hidden and control characters
//! escaped.
//!
//! A mention of the old registry is listed with its whole line, and such lines are where
//! credentials live (`docker login OLD -u admin -p PASSWORD`, `https://user:pass@OLD/v2/`, a
//! `.dockerconfigjson`'s `"auth"`), and the files may hold bytes a terminal obeys (an escape
//! sequence that clears the screen, bidirectional controls that reorder what is shown). Every
//! line and parser message the rewrite prints goes through [`printable_line`]: the secrets are
//! replaced by `***` ([`redact_secrets`]) and the control characters written as escapes
//! ([`escape_controls`], the rules of the CLI's `log::printable`).

use std::borrow::Cow;

/// What a secret is replaced by.
pub const REDACTED: &str = "***";

/// `text` as it may be printed: [`redact_secrets`], then [`escape_controls`].
pub fn printable_line(text: &str) -> String {
    escape_controls(&redact_secrets(text)).into_owned()
}

/// `text` with its control characters (`\u{1b}`, NUL, `\r`) and the bidirectional marks,
/// embeddings, overrides and isolates (U+200E, U+200F, U+061C, U+202A–U+202E, U+2066–U+2069)
/// written as escapes, so that a terminal shows them instead of obeying them.
pub fn escape_controls(text: &str) -> Cow<'_, str> {
    if !text.chars().any(obeyed) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match (c.is_control(), obeyed(c)) {
            (true, _) => out.extend(c.escape_debug()),
            (false, true) => out.extend(c.escape_unicode()),
            (false, false) => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// True for a character a terminal acts on rather than shows.
fn obeyed(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{200E}' | '\u{200F}' | '\u{061C}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
        )
}

/// `text` with the secrets it may hold replaced by [`REDACTED`]:
/// - the user information of a URL (`https://admin:pw@host/` is `https://***@host/`);
/// - the value of a command-line option for a password, secret or token (`-p VALUE`,
///   `--password VALUE`, `--password=VALUE`, `--client-secret VALUE`, `--token=VALUE`; not
///   `--password-stdin`, which takes none), also inside quoted strings, as a `sh -c` string
///   in a YAML or JSON sequence, a Dockerfile's exec form or a JSON string holds them
///   (`["sh", "-c", "docker login OLD -p ***"]`);
/// - a password fed to `--password-stdin` on the same line: the word of a here-string
///   (`<<< ***`) and the arguments of an `echo`, `printf` or `Write-Output` piped on
///   (`echo *** | docker login OLD -u bot --password-stdin`), a variable (`$PW`) kept;
/// - what follows the user in the `USER:SECRET` value of `--creds`, `--src-creds`,
///   `--dst-creds`, `-u` and `--user` (`--src-creds bob:***`, `curl -u "bob:***"`), in the same
///   places; a value without a `:` (`docker login -u admin`) is only a user, and kept;
/// - the value of a key named for a password, secret, token, API or access key or credentials,
///   ending in `auth` or in the word `pass`, `cred` or `creds` ([`names_a_secret`]:
///   `"password": "…"`, `auth: …`, `DOCKER_AUTH=…`, `DOCKER_PASS=…`, `apiKey: …`,
///   `ACR_RELOCATE_SRC_CREDS=…`, `Authorization: Bearer …`), in JSON, YAML, `.env` and shell
///   syntax, compared without case.
///
/// It errs on the side of hiding: a value that only looks like a secret is hidden too.
pub fn redact_secrets(text: &str) -> Cow<'_, str> {
    let spans = secret_spans(text);
    if spans.is_empty() {
        return Cow::Borrowed(text);
    }
    Cow::Owned(hidden(text, 0..text.len(), &spans))
}

/// The spans of `text` [`redact_secrets`] hides, by where they start.
fn secret_spans(text: &str) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    user_info(text, &mut spans);
    options(text, &mut spans);
    keyed_values(text, &mut spans);
    spans.sort_by_key(|span: &(usize, usize)| span.0);
    spans
}

/// `text[window]` with the parts of `spans` (sorted by start) inside it replaced by
/// [`REDACTED`]; a span cut by the window is hidden as far as it reaches into it.
fn hidden(text: &str, window: std::ops::Range<usize>, spans: &[(usize, usize)]) -> String {
    let mut out = String::with_capacity(window.len());
    let mut at = window.start;
    for &(start, end) in spans {
        let (start, end) = (start.max(window.start), end.min(window.end));
        if end <= at {
            continue;
        }
        if start < at {
            // Overlaps the span just hidden (found twice, as a word and inside a quote): widen it.
            at = end;
            continue;
        }
        out.push_str(&text[at..start]);
        out.push_str(REDACTED);
        at = end;
    }
    out.push_str(&text[at..window.end]);
    out
}

/// The longest line [`printable_excerpt`] shows whole, in bytes.
const LONGEST_SHOWN: usize = 240;

/// How many bytes of a longer line [`printable_excerpt`] shows before the mention, and after.
const CONTEXT: (usize, usize) = (60, 120);

/// What marks where [`printable_excerpt`] cut a line.
const CUT: &str = "…";

/// `line` as [`printable_line`] prints it, or when it is longer than [`LONGEST_SHOWN`] bytes
/// (a minified bundle, a lock file) only the part around byte `at` (the mention), each cut
/// marked `…`. Secrets are found in the whole line, so a cut never shows one.
pub(crate) fn printable_excerpt(line: &str, at: usize) -> String {
    if line.len() <= LONGEST_SHOWN {
        return printable_line(line);
    }
    let floor = |mut i: usize| {
        while !line.is_char_boundary(i) {
            i -= 1;
        }
        i
    };
    let at = floor(at.min(line.len()));
    let start = floor(at.saturating_sub(CONTEXT.0));
    let end = floor((at + CONTEXT.1).min(line.len()));
    let shown = hidden(line, start..end, &secret_spans(line));
    let before = if start > 0 { CUT } else { "" };
    let after = if end < line.len() { CUT } else { "" };
    format!("{before}{}{after}", escape_controls(&shown))
}

/// The spans of the user information of URLs (`SCHEME://USERINFO@HOST`).
fn user_info(text: &str, spans: &mut Vec<(usize, usize)>) {
    for (at, _) in text.match_indices("://") {
        let start = at + 3;
        let authority_end = text[start..]
            .find(|c: char| c == '/' || c == '?' || c == '#' || c.is_whitespace() || c == '"')
            .map_or(text.len(), |end| start + end);
        if let Some(user_end) = text[start..authority_end].rfind('@') {
            if user_end > 0 {
                spans.push((start, start + user_end));
            }
        }
    }
}

/// True for a key or option name that holds a secret: one containing `password`, `passwd`,
/// `passphrase`, `secret`, `token` or `credential`, or `apikey` or `accesskey` with or without
/// a `_`, `-` or `.` in them (`apiKey`, `ACCESS_KEY`); one ending in `auth` or
/// `authorization`; `pwd`; and one whose last word is `pass` or `cred`, or ends in `creds`
/// (`DOCKER_PASS`, `dbPass`, `pass`, `ACR_RELOCATE_SRC_CREDS`, `regcreds`), so that words that
/// merely contain them (`passthrough`, `compass`, `bypass`, `passHostHeader`, `sacred`,
/// `credsStore`) are not taken. Compared without case.
fn names_a_secret(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    let joined: String = lower
        .chars()
        .filter(|c| !matches!(c, '_' | '-' | '.'))
        .collect();
    let last = last_word(name);
    [
        "password",
        "passwd",
        "passphrase",
        "secret",
        "token",
        "credential",
    ]
    .iter()
    .any(|word| lower.contains(word))
        || ["apikey", "accesskey"]
            .iter()
            .any(|word| joined.contains(word))
        || lower.ends_with("auth")
        || lower.ends_with("authorization")
        || lower == "pwd"
        || last == "pass"
        || last == "cred"
        || last.ends_with("creds")
}

/// The last word of `name`, lowercased: what follows its last character other than an ASCII
/// letter or digit (`DOCKER_PASS`, `src-creds`), or its last hump in camel case (`dbPass`).
fn last_word(name: &str) -> String {
    let mut start = 0;
    let mut previous: Option<char> = None;
    for (i, c) in name.char_indices() {
        if !c.is_ascii_alphanumeric() {
            start = i + c.len_utf8();
        } else if c.is_ascii_uppercase()
            && previous.is_some_and(|p| p.is_ascii_lowercase() || p.is_ascii_digit())
        {
            start = i;
        }
        previous = Some(c);
    }
    name[start..].to_ascii_lowercase()
}

/// True for an option (`--src-creds`, `-u`, without its `=VALUE`) whose value is `USER:SECRET`
/// (or a `USER` alone, whose secret is read elsewhere): skopeo's, podman's and acr-relocate's
/// `--creds`, `--src-creds` and `--dst-creds`, curl's `-u` and `--user`. What follows the first
/// `:` of its value is hidden ([`after_the_user`]), the user kept. The command is not looked
/// at, but a value of two numbers is a user and group id (`docker run -u 1000:1000`), shown.
fn takes_user_and_secret(option: &str) -> bool {
    matches!(
        option,
        "-u" | "--user" | "--creds" | "--src-creds" | "--dst-creds"
    )
}

/// The span of what follows the user in the `USER:SECRET` value at `span` of `text` (its quotes
/// kept: `"bob:***"`); `None` when there is no `:` or nothing after it.
fn after_the_user(text: &str, (start, end): (usize, usize)) -> Option<(usize, usize)> {
    let value = &text[start..end];
    let (mut start, mut end) = (start, end);
    if let Some(quote) = value.chars().next().filter(|&c| c == '"' || c == '\'') {
        start += 1;
        if value.len() >= 2 && value.ends_with(quote) {
            end -= 1;
        }
    }
    let colon = start + text[start..end].find(':')?;
    let is_id = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if is_id(&text[start..colon]) && is_id(&text[colon + 1..end]) {
        return None;
    }
    (colon + 1 < end).then_some((colon + 1, end))
}

/// How many quotes deep [`options`] looks for options: `sh -c "docker login … -p X"` is one
/// deep, `sh -c "su -c 'docker login … -p X'"` two.
const QUOTE_DEPTH: usize = 4;

/// A text [`options`] reads: the line itself, or the inside of a quoted string in it with its
/// escapes undone (`\"` read as `"`), each byte traced back to the line.
struct Layer<'a> {
    text: Cow<'a, str>,
    /// For each byte of `text`, the offset in the line of the character it was read from, and
    /// last the offset in the line where `text` ends; `None` for the line itself.
    origin: Option<Vec<usize>>,
}

impl Layer<'_> {
    /// The offset in the line of byte `at` of this layer's text (its end included).
    fn in_line(&self, at: usize) -> usize {
        self.origin.as_ref().map_or(at, |origin| origin[at])
    }

    /// The inside of the quoted string `start..end` of this layer (`quote` its quote), as the
    /// next layer: in double quotes, `\"` and `\\` are read as `"` and `\`, as a shell and JSON
    /// read them; single quotes keep every byte.
    fn inside(&self, start: usize, end: usize, quote: char) -> Layer<'static> {
        let inside = &self.text[start..end];
        let mut text = String::with_capacity(inside.len());
        let mut origin = Vec::with_capacity(inside.len() + 1);
        let mut chars = inside.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            let from = self.in_line(start + i);
            let c = match (quote, c, chars.peek()) {
                ('"', '\\', Some(&(_, next @ ('"' | '\\')))) => {
                    chars.next();
                    next
                }
                _ => c,
            };
            for _ in 0..c.len_utf8() {
                origin.push(from);
            }
            text.push(c);
        }
        origin.push(self.in_line(end));
        Layer {
            text: Cow::Owned(text),
            origin: Some(origin),
        }
    }
}

/// A text split as [`options`] reads it, each piece a byte span.
struct Split {
    /// The words, as a shell splits them: at whitespace outside quotes (`--password "correct
    /// horse battery"` is two words); a backslash outside single quotes escapes the next
    /// character (`\"` opens no quote).
    words: Vec<(usize, usize)>,
    /// The items, split as YAML and JSON flow collections are too: at whitespace and at `,`,
    /// `[`, `]`, `{`, `}` outside quotes (`["-p","X"]` is `"-p"` and `"X"`).
    items: Vec<(usize, usize)>,
    /// The insides of the quoted strings, with their quote (an unterminated one runs to the end).
    quoted: Vec<(usize, usize, char)>,
}

/// `text` split into [`Split`]'s words, items and quoted strings.
fn split(text: &str) -> Split {
    fn close(pieces: &mut Vec<(usize, usize)>, start: &mut Option<usize>, end: usize) {
        if let Some(start) = start.take() {
            pieces.push((start, end));
        }
    }
    let mut split = Split {
        words: Vec::new(),
        items: Vec::new(),
        quoted: Vec::new(),
    };
    let (mut word, mut item) = (None, None);
    let mut quote: Option<(char, usize)> = None;
    let mut escaped = false;
    for (i, c) in text.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        if let Some((q, inside)) = quote {
            if c == q {
                split.quoted.push((inside, i, q));
                quote = None;
            } else if c == '\\' && q == '"' {
                escaped = true;
            }
            continue;
        }
        if c.is_whitespace() {
            close(&mut split.words, &mut word, i);
            close(&mut split.items, &mut item, i);
            continue;
        }
        word.get_or_insert(i);
        if matches!(c, ',' | '[' | ']' | '{' | '}') {
            close(&mut split.items, &mut item, i);
            continue;
        }
        item.get_or_insert(i);
        match c {
            '\\' => escaped = true,
            '"' | '\'' => quote = Some((c, i + 1)),
            _ => {}
        }
    }
    if let Some((q, inside)) = quote {
        split.quoted.push((inside, text.len(), q));
    }
    close(&mut split.words, &mut word, text.len());
    close(&mut split.items, &mut item, text.len());
    split
}

/// `span` of `text` without the YAML or JSON punctuation around a quoted string in it
/// (`["-p",` is `"-p"`, `"X"]` is `"X"`); a span with no quote there is kept whole.
fn without_punctuation(text: &str, (start, end): (usize, usize)) -> (usize, usize) {
    let bytes = text.as_bytes();
    let quote = |b: u8| matches!(b, b'"' | b'\'');
    let mut from = start;
    while from < end && matches!(bytes[from], b'[' | b'{' | b'(') {
        from += 1;
    }
    let start = if from < end && quote(bytes[from]) {
        from
    } else {
        start
    };
    let mut to = end;
    while to > start && matches!(bytes[to - 1], b',' | b']' | b'}' | b')' | b':' | b';') {
        to -= 1;
    }
    let end = if to > start && quote(bytes[to - 1]) {
        to
    } else {
        end
    };
    (start, end)
}

/// The spans of the values of secret command-line options: `-p VALUE`, `--password VALUE`,
/// `--password=VALUE` (and the other names [`names_a_secret`] takes), a quoted value whole; and
/// on a `login` line, `-pVALUE` (the short option with its value attached); and what follows the
/// user in the value of an option [`takes_user_and_secret`] (`--creds bob:***`). Options are looked
/// for in the line and inside its quoted strings, down to [`QUOTE_DEPTH`] quotes deep
/// (`command: ["sh", "-c", "docker login R -p X"]`, `{"run":"docker login R --password \"X\""}`),
/// among both its words and its YAML or JSON flow items (`["docker","login","R","-p","X"]`).
fn options(text: &str, spans: &mut Vec<(usize, usize)>) {
    let line = Layer {
        text: Cow::Borrowed(text),
        origin: None,
    };
    options_in(&line, false, 0, spans);
}

/// [`options`] in one layer of the line (`depth` quotes deep), and in the quoted strings inside
/// it; `login` when an outer layer is a `login` command.
fn options_in(layer: &Layer<'_>, login: bool, depth: usize, spans: &mut Vec<(usize, usize)>) {
    let text: &str = &layer.text;
    let login = login || text.contains("login");
    let split = split(text);
    for pieces in [&split.words, &split.items] {
        for (start, end) in option_values(text, pieces, login) {
            spans.push((layer.in_line(start), layer.in_line(end)));
        }
    }
    for (start, end) in stdin_values(text, &split.words) {
        spans.push((layer.in_line(start), layer.in_line(end)));
    }
    if depth >= QUOTE_DEPTH {
        return;
    }
    for &(start, end, quote) in &split.quoted {
        // Every option starts with `-`: a string without one holds none.
        if text[start..end].contains('-') {
            options_in(&layer.inside(start, end, quote), login, depth + 1, spans);
        }
    }
}

/// The spans in `text` of the values of secret options among `pieces` (its words or its items).
fn option_values(text: &str, pieces: &[(usize, usize)], login: bool) -> Vec<(usize, usize)> {
    let mut values = Vec::new();
    for (i, &piece) in pieces.iter().enumerate() {
        let (start, end) = without_punctuation(text, piece);
        let whole = &text[start..end];
        let word = whole.trim_matches(|c| c == '"' || c == '\'');
        let Some(name) = word.strip_prefix('-') else {
            continue;
        };
        // A quoted option keeps its closing quote (`"-p***"`, `"--password=***"`).
        let quoted = whole.len() >= 2
            && (whole.starts_with('"') && whole.ends_with('"')
                || whole.starts_with('\'') && whole.ends_with('\''));
        let value_end = if quoted { end - 1 } else { end };
        let option = word.split_once('=').map_or(word, |(option, _)| option);
        if takes_user_and_secret(option) {
            let value = if option.len() < word.len() {
                let eq = start + whole.find('=').unwrap_or(0) + 1;
                Some((eq, value_end.max(eq)))
            } else {
                pieces
                    .get(i + 1)
                    .map(|&next| without_punctuation(text, next))
            };
            values.extend(value.and_then(|value| after_the_user(text, value)));
            continue;
        }
        if login && name.len() > 1 && name.starts_with('p') && !word.starts_with("--") {
            let value = start + whole.find('p').unwrap_or(0) + 1;
            if value < value_end {
                values.push((value, value_end));
            }
            continue;
        }
        let (name, inline) = match name.split_once('=') {
            Some((name, _)) => (name, true),
            None => (name, false),
        };
        let name = name.trim_start_matches('-');
        let secret = (name == "p" && !word.starts_with("--"))
            || (word.starts_with("--") && names_a_secret(name) && !name.ends_with("stdin"));
        if !secret {
            continue;
        }
        if inline {
            let eq = start + whole.find('=').unwrap_or(0) + 1;
            if eq < value_end {
                values.push((eq, value_end));
            }
        } else if let Some(&next) = pieces.get(i + 1) {
            values.push(without_punctuation(text, next));
        }
    }
    values
}

/// The spans in `text` of a secret fed to a `--password-stdin` option on the same line, among
/// its `words`: the word of a here-string (`<<< WORD`, `<<<WORD`) and the arguments of an
/// `echo`, `printf` or `Write-Output` piped on (`echo *** | docker login … --password-stdin`).
/// A variable or command substitution (`$PW`, `"${PW}"`, `$(cat file)`) is no secret and is
/// kept, as are `echo`'s options (`-n`).
fn stdin_values(text: &str, words: &[(usize, usize)]) -> Vec<(usize, usize)> {
    if !text.contains("password-stdin") {
        return Vec::new();
    }
    let kept = |(start, end): (usize, usize)| {
        let word = text[start..end].trim_start_matches(['"', '\'']);
        word.is_empty() || word.starts_with('$')
    };
    let mut values = Vec::new();
    // The arguments of an `echo`-like command, hidden once a `|` shows they are piped on.
    let mut fed: Option<Vec<(usize, usize)>> = None;
    for (i, &(start, end)) in words.iter().enumerate() {
        let word = &text[start..end];
        if let Some(rest) = word.strip_prefix("<<<") {
            let value = match rest {
                "" => words.get(i + 1).copied(),
                _ => Some((start + 3, end)),
            };
            values.extend(value.filter(|&value| !kept(value)));
            continue;
        }
        if let Some(arguments) = fed.as_mut() {
            let (end, piped) = match word.find('|') {
                Some(bar) => (start + bar, true),
                None => (end, false),
            };
            let option = word.starts_with('-') && arguments.is_empty();
            if end > start && !option && !kept((start, end)) {
                arguments.push((start, end));
            }
            if piped {
                values.extend(fed.take().unwrap_or_default());
            }
            continue;
        }
        let command = word.to_ascii_lowercase();
        if matches!(command.as_str(), "echo" | "printf" | "write-output") {
            fed = Some(Vec::new());
        }
    }
    values
}

/// The spans of the values of keys named for secrets: `"KEY": "VALUE"`, `KEY: VALUE`,
/// `KEY=VALUE` (the key possibly quoted, the value possibly quoted).
fn keyed_values(text: &str, spans: &mut Vec<(usize, usize)>) {
    let bytes = text.as_bytes();
    let key_byte = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.');
    let mut i = 0;
    while i < bytes.len() {
        if !key_byte(bytes[i]) || (i > 0 && key_byte(bytes[i - 1])) {
            i += 1;
            continue;
        }
        let key_start = i;
        while i < bytes.len() && key_byte(bytes[i]) {
            i += 1;
        }
        let key = &text[key_start..i];
        let mut j = i;
        if matches!(bytes.get(j), Some(b'"' | b'\'')) {
            j += 1;
        }
        while matches!(bytes.get(j), Some(b' ' | b'\t')) {
            j += 1;
        }
        let separator = match bytes.get(j) {
            // `https://`: a scheme, not a key.
            Some(b':') if text[j..].starts_with("://") => continue,
            Some(b':') if matches!(bytes.get(j + 1), None | Some(b' ' | b'\t' | b'"' | b'\'')) => {
                b':'
            }
            Some(b'=') => b'=',
            _ => continue,
        };
        // `--src-creds=USER:SECRET`: the user stays, as [`options`] shows it.
        let user_first = key.starts_with('-') && takes_user_and_secret(key);
        if !names_a_secret(key) && !user_first {
            continue;
        }
        j += 1;
        while matches!(bytes.get(j), Some(b' ' | b'\t')) {
            j += 1;
        }
        let (start, end) = match bytes.get(j) {
            None | Some(b'{' | b'[' | b'|' | b'>' | b'&' | b'*') => continue,
            Some(&quote @ (b'"' | b'\'')) => {
                let start = j + 1;
                let mut k = start;
                while k < bytes.len() && bytes[k] != quote {
                    k += if bytes[k] == b'\\' { 2 } else { 1 };
                }
                (start, k.min(bytes.len()))
            }
            Some(_) if separator == b':' => {
                // A YAML or header value runs to the end of the line, a comment or a closing
                // double quote (`-H "Authorization: Bearer …"`).
                let rest = &text[j..];
                let end = [rest.find(" #"), rest.find('"')]
                    .into_iter()
                    .flatten()
                    .min()
                    .map_or(text.len(), |e| j + e);
                (j, end)
            }
            Some(_) => {
                let rest = &text[j..];
                let end = rest
                    .find(|c: char| c.is_whitespace() || matches!(c, ';' | '&' | '"' | '\''))
                    .map_or(text.len(), |e| j + e);
                (j, end)
            }
        };
        let span = if user_first {
            after_the_user(text, (start, end))
        } else {
            Some((start, end)).filter(|(start, end)| end > start)
        };
        if let Some(span) = span {
            spans.push(span);
        }
        i = end.max(i);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_given_to_commands_are_hidden_and_the_rest_of_the_line_kept() {
        for (line, shown) in [
            (
                "docker login old.azurecr.io -u admin -p S3cr3tP@ssw0rd!",
                "docker login old.azurecr.io -u admin -p ***",
            ),
            (
                "docker login --password hunter2 old.azurecr.io",
                "docker login --password *** old.azurecr.io",
            ),
            (
                "docker login --password=hunter2 old.azurecr.io",
                "docker login --password=*** old.azurecr.io",
            ),
            (
                "echo $PW | docker login --password-stdin old.azurecr.io",
                "echo $PW | docker login --password-stdin old.azurecr.io",
            ),
            (
                "docker login old.azurecr.io --username puller --password-stdin <<< \"Sup3rS3cret3\"",
                "docker login old.azurecr.io --username puller --password-stdin <<< ***",
            ),
            (
                "echo \"Sup3rS3cret4\" | docker login old.azurecr.io -u puller --password-stdin",
                "echo *** | docker login old.azurecr.io -u puller --password-stdin",
            ),
            (
                "echo -n 'S3cret'| helm registry login old.azurecr.io --password-stdin",
                "echo -n ***| helm registry login old.azurecr.io --password-stdin",
            ),
            (
                "oras login old.azurecr.io --password-stdin <<<S3cret",
                "oras login old.azurecr.io --password-stdin <<<***",
            ),
            (
                "printf '%s' \"$PW\" | crane auth login old.azurecr.io --password-stdin <<< \"$(cat f)\"",
                "printf *** \"$PW\" | crane auth login old.azurecr.io --password-stdin <<< \"$(cat f)\"",
            ),
            (
                "echo \"logging in\"; docker login old.azurecr.io",
                "echo \"logging in\"; docker login old.azurecr.io",
            ),
            (
                "az login --service-principal -u app --client-secret s3cret",
                "az login --service-principal -u app --client-secret ***",
            ),
            (
                "docker login --password \"correct horse battery\" old.azurecr.io",
                "docker login --password *** old.azurecr.io",
            ),
            (
                "docker login -u admin -pS3cret old.azurecr.io",
                "docker login -u admin -p*** old.azurecr.io",
            ),
            (
                "docker run -p 8080:80 old.azurecr.io/web:1",
                "docker run -p *** old.azurecr.io/web:1",
            ),
        ] {
            assert_eq!(redact_secrets(line), shown, "{line}");
        }
    }

    /// `line` is printed as `shown`: without `secret`, with `***` in its place.
    fn assert_hidden(line: &str, secret: &str, shown: &str) {
        let printed = printable_line(line);
        assert!(!printed.contains(secret), "{line} printed as {printed}");
        assert!(printed.contains(REDACTED), "{line} printed as {printed}");
        assert_eq!(printed, shown, "{line}");
    }

    #[test]
    fn a_password_in_a_sh_c_string_of_a_yaml_flow_sequence_is_hidden() {
        assert_hidden(
            r#"command: ["sh", "-c", "docker login old.azurecr.io -p hunter7"]"#,
            "hunter7",
            r#"command: ["sh", "-c", "docker login old.azurecr.io -p ***"]"#,
        );
    }

    #[test]
    fn a_password_in_the_exec_form_of_a_dockerfile_run_is_hidden_and_the_user_kept() {
        assert_hidden(
            r#"RUN ["sh","-c","docker login old.azurecr.io -u admin -p S3cretPw"]"#,
            "S3cretPw",
            r#"RUN ["sh","-c","docker login old.azurecr.io -u admin -p ***"]"#,
        );
        assert_hidden(
            r#"RUN ["docker", "login", "old.azurecr.io", "-u", "admin", "-p", "S3cretPw"]"#,
            "S3cretPw",
            r#"RUN ["docker", "login", "old.azurecr.io", "-u", "admin", "-p", ***]"#,
        );
        assert_hidden(
            r#"RUN ["docker","login","old.azurecr.io","-u","admin","-p","S3cretPw"]"#,
            "S3cretPw",
            r#"RUN ["docker","login","old.azurecr.io","-u","admin","-p",***]"#,
        );
    }

    #[test]
    fn a_quoted_password_in_a_json_string_with_escaped_quotes_is_hidden_whole() {
        assert_hidden(
            r#"{"steps":[{"run":"docker login old.azurecr.io --password \"correct horse\""}]}"#,
            "horse",
            r#"{"steps":[{"run":"docker login old.azurecr.io --password ***"}]}"#,
        );
    }

    #[test]
    fn a_password_given_with_an_equals_sign_inside_a_quoted_string_is_hidden() {
        assert_hidden(
            r#"- "docker login old.azurecr.io --password=hunter10 -u admin""#,
            "hunter10",
            r#"- "docker login old.azurecr.io --password=*** -u admin""#,
        );
        assert_hidden(
            r#"args: ["login", "old.azurecr.io", "--password=hunter10"]"#,
            "hunter10",
            r#"args: ["login", "old.azurecr.io", "--password=***"]"#,
        );
    }

    #[test]
    fn a_password_in_single_quotes_inside_double_quotes_is_hidden() {
        assert_hidden(
            r#"command: "sh -c 'docker login old.azurecr.io -p hunter11'""#,
            "hunter11",
            r#"command: "sh -c 'docker login old.azurecr.io -p ***'""#,
        );
        assert_hidden(
            r#"args: ["sh -c 'docker login old.azurecr.io --password \"a b c\" -u admin'"]"#,
            "a b c",
            r#"args: ["sh -c 'docker login old.azurecr.io --password *** -u admin'"]"#,
        );
        assert_hidden(
            r#"sh -c 'docker login old.azurecr.io --password "a b c" -u admin'"#,
            "a b c",
            r#"sh -c 'docker login old.azurecr.io --password *** -u admin'"#,
        );
    }

    #[test]
    fn quoted_login_commands_next_to_yaml_and_json_punctuation_have_their_passwords_hidden() {
        for (line, secret, shown) in [
            (
                r#"- {name: X, value: "docker login old.azurecr.io --password hunter12"}"#,
                "hunter12",
                r#"- {name: X, value: "docker login old.azurecr.io --password ***"}"#,
            ),
            (
                r#"{"steps":[{"run":"docker login old.azurecr.io -p JsonSecret1"}]}"#,
                "JsonSecret1",
                r#"{"steps":[{"run":"docker login old.azurecr.io -p ***"}]}"#,
            ),
            (
                r#"args: ["docker login old.azurecr.io -pAttached1", "-u", "admin"]"#,
                "Attached1",
                r#"args: ["docker login old.azurecr.io -p***", "-u", "admin"]"#,
            ),
            (
                r#"["docker", "login", "-u", "admin", "-pAttached2", "old.azurecr.io"]"#,
                "Attached2",
                r#"["docker", "login", "-u", "admin", "-p***", "old.azurecr.io"]"#,
            ),
            (
                r#"- 'docker login old.azurecr.io --client-secret s3cret13'"#,
                "s3cret13",
                r#"- 'docker login old.azurecr.io --client-secret ***'"#,
            ),
            (
                r#"{"a":"sh -c \"su -c \\\"docker login old.azurecr.io -p Deep14\\\"\""}"#,
                "Deep14",
                r#"{"a":"sh -c \"su -c \\\"docker login old.azurecr.io -p ***\\\"\""}"#,
            ),
            (
                r#"- "docker login old.azurecr.io -p Unterminated15"#,
                "Unterminated15",
                r#"- "docker login old.azurecr.io -p ***"#,
            ),
        ] {
            assert_hidden(line, secret, shown);
        }
    }

    #[test]
    fn quoted_strings_without_a_secret_option_are_printed_as_they_are() {
        for line in [
            r#"image: "old.azurecr.io/my-app:1""#,
            r#"args: ["--port", "8080", "old.azurecr.io/a-b:1"]"#,
            r#"command: ["sh", "-c", "docker pull old.azurecr.io/app:1 --platform linux/amd64"]"#,
            r#"{"run":"echo \"docker push old.azurecr.io/app:1\" -u admin"}"#,
            r#"- 'echo --password-stdin is read from old.azurecr.io'"#,
        ] {
            assert_eq!(redact_secrets(line), line);
        }
    }

    #[test]
    fn the_user_information_of_a_url_is_hidden() {
        assert_eq!(
            redact_secrets("curl https://admin:hunter2secret@old.azurecr.io/v2/"),
            "curl https://***@old.azurecr.io/v2/"
        );
        assert_eq!(
            redact_secrets("DOCKER_AUTH=https://admin:pw@old.azurecr.io"),
            "DOCKER_AUTH=***"
        );
        assert_eq!(
            redact_secrets("url: https://old.azurecr.io/v2/ mail a@b.c"),
            "url: https://old.azurecr.io/v2/ mail a@b.c"
        );
    }

    #[test]
    fn values_of_keys_named_for_secrets_are_hidden_in_json_yaml_and_env_lines() {
        for (line, shown) in [
            (
                r#"{"auths":{"old.azurecr.io":{"username":"admin","password":"pw1","auth":"YWRtaW46cHcx"}}}"#,
                r#"{"auths":{"old.azurecr.io":{"username":"admin","password":"***","auth":"***"}}}"#,
            ),
            (
                "  password: 'my secret' # old.azurecr.io",
                "  password: '***' # old.azurecr.io",
            ),
            ("  registryToken: abc def", "  registryToken: ***"),
            (
                "export ACR_PASSWORD=xyz REGISTRY=old.azurecr.io",
                "export ACR_PASSWORD=*** REGISTRY=old.azurecr.io",
            ),
            (
                "curl -H \"Authorization: Bearer abc\" https://old.azurecr.io/v2/",
                "curl -H \"Authorization: ***\" https://old.azurecr.io/v2/",
            ),
            (
                "image: old.azurecr.io/app:1 # author: me",
                "image: old.azurecr.io/app:1 # author: me",
            ),
            ("auths:", "auths:"),
        ] {
            assert_eq!(redact_secrets(line), shown, "{line}");
        }
    }

    #[test]
    fn the_password_in_the_user_and_password_of_creds_options_is_hidden_and_the_user_kept() {
        for (line, secret, shown) in [
            (
                "acr-relocate copy --src-creds bob:PwG1-own old.example.io new.example.io",
                "PwG1-own",
                "acr-relocate copy --src-creds bob:*** old.example.io new.example.io",
            ),
            (
                "acr-relocate copy --dst-creds=bob:PwG2-own2 old.example.io new.example.io",
                "PwG2-own2",
                "acr-relocate copy --dst-creds=bob:*** old.example.io new.example.io",
            ),
            (
                r#"skopeo sync --src-creds "bob:PwG3-skopeo" --src docker old.example.io/team new.example.io"#,
                "PwG3-skopeo",
                r#"skopeo sync --src-creds "bob:***" --src docker old.example.io/team new.example.io"#,
            ),
            (
                "skopeo copy --creds=bob:PW4 docker://old.example.io/a docker://new.example.io/a",
                "PW4",
                "skopeo copy --creds=bob:*** docker://old.example.io/a docker://new.example.io/a",
            ),
            (
                "podman pull --creds bob:PW5 old.example.io/a",
                "PW5",
                "podman pull --creds bob:*** old.example.io/a",
            ),
            (
                "skopeo copy --dst-creds='bob:PW6 with spaces' docker://old.example.io/a docker://new.example.io/a",
                "PW6",
                "skopeo copy --dst-creds='bob:***' docker://old.example.io/a docker://new.example.io/a",
            ),
            (
                "acr-relocate copy --src-creds bob:Pw7:with:colons old.example.io new.example.io",
                "Pw7",
                "acr-relocate copy --src-creds bob:*** old.example.io new.example.io",
            ),
        ] {
            assert_hidden(line, secret, shown);
        }
    }

    #[test]
    fn the_password_given_to_curl_with_the_user_is_hidden_and_the_user_kept() {
        for (line, secret, shown) in [
            (
                "curl -u bob:PW8 https://old.example.io/v2/",
                "PW8",
                "curl -u bob:*** https://old.example.io/v2/",
            ),
            (
                "curl --user bob:PW9 https://old.example.io/v2/_catalog",
                "PW9",
                "curl --user bob:*** https://old.example.io/v2/_catalog",
            ),
            (
                "curl --user=bob:PW10 https://old.example.io/v2/",
                "PW10",
                "curl --user=bob:*** https://old.example.io/v2/",
            ),
            (
                r#"RUN curl -fsSL -u "bob:PW11" https://old.example.io/v2/ > /dev/null"#,
                "PW11",
                r#"RUN curl -fsSL -u "bob:***" https://old.example.io/v2/ > /dev/null"#,
            ),
        ] {
            assert_hidden(line, secret, shown);
        }
    }

    #[test]
    fn user_and_password_options_inside_quoted_commands_have_the_password_hidden() {
        for (line, secret, shown) in [
            (
                r#"command: ["sh", "-c", "skopeo copy --src-creds bob:PW12 docker://old.example.io/a docker://new.example.io/a"]"#,
                "PW12",
                r#"command: ["sh", "-c", "skopeo copy --src-creds bob:*** docker://old.example.io/a docker://new.example.io/a"]"#,
            ),
            (
                r#"RUN ["curl", "-u", "bob:PW13", "https://old.example.io/v2/"]"#,
                "PW13",
                r#"RUN ["curl", "-u", "bob:***", "https://old.example.io/v2/"]"#,
            ),
            (
                r#"{"run":"skopeo copy --creds=\"bob:PW14\" docker://old.example.io/a docker://new.example.io/a"}"#,
                "PW14",
                r#"{"run":"skopeo copy --creds=\"bob:***\" docker://old.example.io/a docker://new.example.io/a"}"#,
            ),
            (
                r#"- "sh -c 'podman pull --creds bob:PW15 old.example.io/a'""#,
                "PW15",
                r#"- "sh -c 'podman pull --creds bob:*** old.example.io/a'""#,
            ),
            (
                "ARGS=--dst-creds=bob:PW16 REGISTRY=old.example.io",
                "PW16",
                "ARGS=--dst-creds=bob:*** REGISTRY=old.example.io",
            ),
        ] {
            assert_hidden(line, secret, shown);
        }
    }

    #[test]
    fn a_user_without_a_password_a_user_and_group_id_and_options_that_only_start_alike_are_kept() {
        for line in [
            "docker login old.example.io -u admin --password-stdin",
            "curl -u admin https://old.example.io/v2/",
            "curl --user-agent foo https://old.example.io/v2/",
            "curl --user-agent=foo:1 https://old.example.io/v2/",
            "acr-relocate copy --src-creds bob old.example.io new.example.io",
            "skopeo copy --creds=bob docker://old.example.io/a docker://new.example.io/a",
            r#"RUN ["curl", "-u", "admin", "https://old.example.io/v2/"]"#,
            "docker run -u 1000:1000 old.example.io/a",
            "docker run --user=0:0 old.example.io/a",
        ] {
            assert_eq!(printable_line(line), line);
        }
    }

    #[test]
    fn values_of_keys_named_for_passes_creds_and_api_or_access_keys_are_hidden() {
        for (line, secret, shown) in [
            (
                "ACR_RELOCATE_SRC_CREDS=bob:PW17 # old.example.io",
                "PW17",
                "ACR_RELOCATE_SRC_CREDS=*** # old.example.io",
            ),
            (
                "export ACR_RELOCATE_DST_CREDS='bob:PW18' REGISTRY=new.example.io",
                "PW18",
                "export ACR_RELOCATE_DST_CREDS='***' REGISTRY=new.example.io",
            ),
            (
                "DOCKER_PASS=PW19 DOCKER_REGISTRY=old.example.io",
                "PW19",
                "DOCKER_PASS=*** DOCKER_REGISTRY=old.example.io",
            ),
            (
                "REG_PASS=PW20 REG=old.example.io",
                "PW20",
                "REG_PASS=*** REG=old.example.io",
            ),
            (
                "  pass: PW21 # old.example.io",
                "PW21",
                "  pass: *** # old.example.io",
            ),
            (
                "  dbPass: \"PW22\" # old.example.io",
                "PW22",
                "  dbPass: \"***\" # old.example.io",
            ),
            (
                "  apiKey: PW23 # old.example.io",
                "PW23",
                "  apiKey: *** # old.example.io",
            ),
            (
                r#"{"registry":"old.example.io","api_key":"PW24","ACCESS_KEY":"PW25","accessKey":"PW26"}"#,
                "PW2",
                r#"{"registry":"old.example.io","api_key":"***","ACCESS_KEY":"***","accessKey":"***"}"#,
            ),
            (
                "curl -H \"X-Api-Key: PW27\" https://old.example.io/v2/",
                "PW27",
                "curl -H \"X-Api-Key: ***\" https://old.example.io/v2/",
            ),
            (
                "REGISTRY_CRED=PW28 REGISTRY=old.example.io",
                "PW28",
                "REGISTRY_CRED=*** REGISTRY=old.example.io",
            ),
        ] {
            assert_hidden(line, secret, shown);
        }
    }

    #[test]
    fn keys_that_merely_contain_pass_or_cred_are_kept() {
        for line in [
            "  passthrough: old.example.io",
            "  compass: old.example.io",
            "  bypass: old.example.io",
            "BYPASS_PROXY=old.example.io",
            "  passHostHeader: true # old.example.io",
            "  ssl-passthrough: \"true\" # old.example.io",
            r#"{"credsStore":"desktop","credHelpers":{"old.example.io":"acr-env"}}"#,
            "  sacred: old.example.io",
            "  keyPath: old.example.io/apis/key",
        ] {
            assert_eq!(printable_line(line), line);
        }
    }

    #[test]
    fn a_long_line_is_cut_around_the_mention_with_its_secrets_still_hidden() {
        let line = format!(
            "{}docker login old.azurecr.io -p S3cret{}",
            "x".repeat(500),
            "y".repeat(500)
        );
        let at = line.find("old.azurecr.io").unwrap();
        let shown = printable_excerpt(&line, at);
        assert!(shown.starts_with('…') && shown.ends_with('…'), "{shown}");
        assert!(
            shown.contains("docker login old.azurecr.io -p ***"),
            "{shown}"
        );
        assert!(shown.len() < 200, "{}", shown.len());
        let cut_secret = format!("{}old.azurecr.io -p {}", "x".repeat(300), "s".repeat(400));
        let shown = printable_excerpt(&cut_secret, 300);
        assert!(shown.contains("-p ***") && !shown.contains('s'), "{shown}");
        assert_eq!(
            printable_excerpt("short old.azurecr.io", 6),
            "short old.azurecr.io"
        );
    }

    #[test]
    fn control_characters_and_bidi_controls_are_escaped() {
        assert_eq!(
            printable_line("FROM old.azurecr.io/x\u{1b}[2J\u{0} \u{202E}evil\u{2066}"),
            "FROM old.azurecr.io/x\\u{1b}[2J\\0 \\u{202e}evil\\u{2066}"
        );
        assert_eq!(printable_line("ünïcode — ok"), "ünïcode — ok");
    }
}
