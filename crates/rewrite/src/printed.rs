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
///   `--password-stdin`, which takes none);
/// - the value of a key named for a password, secret, token or credentials, or ending in `auth`
///   (`"password": "…"`, `auth: …`, `DOCKER_AUTH=…`, `Authorization: Bearer …`), in JSON,
///   YAML, `.env` and shell syntax, compared without case.
///
/// It errs on the side of hiding: a value that only looks like a secret is hidden too.
pub fn redact_secrets(text: &str) -> Cow<'_, str> {
    let mut spans = Vec::new();
    user_info(text, &mut spans);
    options(text, &mut spans);
    keyed_values(text, &mut spans);
    if spans.is_empty() {
        return Cow::Borrowed(text);
    }
    spans.sort_by_key(|span: &(usize, usize)| span.0);
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for (start, end) in spans {
        if end <= at {
            continue;
        }
        let start = start.max(at);
        out.push_str(&text[at..start]);
        out.push_str(REDACTED);
        at = end;
    }
    out.push_str(&text[at..]);
    Cow::Owned(out)
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

/// True for a key or option name that holds a secret.
fn names_a_secret(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    ["password", "passwd", "secret", "token", "credential"]
        .iter()
        .any(|word| name.contains(word))
        || name.ends_with("auth")
        || name.ends_with("authorization")
        || name == "pwd"
}

/// The byte spans of the words of `text` as a shell splits them: at whitespace outside quotes
/// (`--password "correct horse battery"` is two words).
fn words(text: &str) -> Vec<(usize, usize)> {
    let mut found = Vec::new();
    let mut start = None;
    let mut quote: Option<char> = None;
    for (i, c) in text.char_indices() {
        match (c, quote) {
            (_, Some(q)) if c == q => quote = None,
            (_, Some(_)) => {}
            ('"' | '\'', None) => {
                quote = Some(c);
                start.get_or_insert(i);
            }
            _ => match (c.is_whitespace(), start) {
                (true, Some(s)) => {
                    found.push((s, i));
                    start = None;
                }
                (false, None) => start = Some(i),
                _ => {}
            },
        }
    }
    if let Some(s) = start {
        found.push((s, text.len()));
    }
    found
}

/// The spans of the values of secret command-line options: `-p VALUE`, `--password VALUE`,
/// `--password=VALUE` (and the other names [`names_a_secret`] takes), a quoted value whole; and
/// on a `login` line, `-pVALUE` (the short option with its value attached).
fn options(text: &str, spans: &mut Vec<(usize, usize)>) {
    let words = words(text);
    let login = text.contains("login");
    for (i, &(start, end)) in words.iter().enumerate() {
        let word = text[start..end].trim_matches(|c| c == '"' || c == '\'');
        let Some(name) = word.strip_prefix('-') else {
            continue;
        };
        if login && name.len() > 1 && name.starts_with('p') && !word.starts_with("--") {
            let value = start + text[start..end].find('p').unwrap_or(0) + 1;
            spans.push((value, end));
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
            let eq = start + text[start..end].find('=').unwrap_or(0) + 1;
            if eq < end {
                spans.push((eq, end));
            }
        } else if let Some(&(next_start, next_end)) = words.get(i + 1) {
            spans.push((next_start, next_end));
        }
    }
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
        if !names_a_secret(key) {
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
        if end > start {
            spans.push((start, end));
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
    fn control_characters_and_bidi_controls_are_escaped() {
        assert_eq!(
            printable_line("FROM old.azurecr.io/x\u{1b}[2J\u{0} \u{202E}evil\u{2066}"),
            "FROM old.azurecr.io/x\\u{1b}[2J\\0 \\u{202e}evil\\u{2066}"
        );
        assert_eq!(printable_line("ünïcode — ok"), "ünïcode — ok");
    }
}
