//! Secrets that redact themselves: a password or token never shows in `Debug` or `Display`.

use std::fmt;

/// A credential string (password, token). Its `Debug` and `Display` print `<redacted>`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret itself, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// Parsing never fails: any text can be a secret (lets a command-line flag hold one).
impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Secret::new(s))
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// `url` with the user information of its authority (`user:password@`), if any, replaced by
/// `<redacted>@`; the rest as it is.
fn without_user_info(url: &str) -> std::borrow::Cow<'_, str> {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.into();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://{REDACTED}{}", &rest[at..]).into(),
        None => url.into(),
    }
}

/// Query parameters whose values say what a request is about and hold no secret: page size and
/// cursor of a listing (`n`, `last`), a mount's blob and repository (`mount`, `from`), an upload's
/// digest (`digest`). [`redact_url`] shows them; every other parameter is hidden.
const SHOWN_QUERY_KEYS: [&str; 5] = ["n", "last", "mount", "from", "digest"];

/// A URL for display, its query hidden but for the parameters in [`SHOWN_QUERY_KEYS`]: upload
/// locations carry state tokens and storage redirects carry SAS signatures. Hidden parameters
/// (their names too) become one `<redacted>` per run of them, so
/// `…/uploads/?mount=sha256:…&from=a/b` shows whole and `…/uploads/u1?_state=…&digest=sha256:…`
/// shows as `…/uploads/u1?<redacted>&digest=sha256:…`. A fragment is hidden with the query.
/// User information in the authority (`https://user:password@host/`, as a redirect or a token
/// realm a registry hands out may carry) is hidden too: `https://<redacted>@host/`.
pub fn redact_url(url: &str) -> String {
    let url = without_user_info(url);
    let Some(i) = url.find('?') else {
        return url.into_owned();
    };
    let (base, rest) = (&url[..i], &url[i + 1..]);
    let (query, fragment) = match rest.split_once('#') {
        Some((q, _)) => (q, true),
        None => (rest, false),
    };
    let mut parts: Vec<&str> = Vec::new();
    for param in query.split('&').filter(|p| !p.is_empty()) {
        let shown = param.split_once('=').is_some_and(|(key, value)| {
            SHOWN_QUERY_KEYS.contains(&key) && !value.is_empty() && value.chars().all(plain)
        });
        match shown {
            true => parts.push(param),
            false if parts.last() == Some(&REDACTED) => {}
            false => parts.push(REDACTED),
        }
    }
    if fragment && parts.last() != Some(&REDACTED) {
        parts.push(REDACTED);
    }
    if parts.is_empty() {
        parts.push(REDACTED);
    }
    format!("{base}?{}", parts.join("&"))
}

/// What stands for a hidden value.
const REDACTED: &str = "<redacted>";

/// True for the characters a shown query value may hold: those of digests, repository names,
/// tags and numbers (percent escapes included).
fn plain(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ':' | '/' | '%' | '+')
}

/// Known secrets shorter than this are masked only where they stand as a word of their own
/// (between characters that are not letters or digits): a short password masked everywhere
/// would cut words of the message apart.
const MIN_MASKED_ANYWHERE: usize = 6;

/// `text` (a message a registry, proxy or token service wrote) with secrets masked: every
/// `known` secret (a password, `base64(user:password)`, a token), every `Basic …` or
/// `Bearer …` credential, and every JWT (`eyJ….….…`), each replaced by `<redacted>`. A server
/// that echoes the request's `Authorization` header in its error shows nothing of it.
pub fn mask_secrets(text: &str, known: &[&str]) -> String {
    static SCHEME: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    static JWT: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let mut known: Vec<&str> = known.iter().copied().filter(|s| !s.is_empty()).collect();
    // The longest first: a secret that holds another is masked whole.
    known.sort_by_key(|s| std::cmp::Reverse(s.len()));
    let mut out = text.to_string();
    for secret in known {
        out = if secret.len() >= MIN_MASKED_ANYWHERE {
            out.replace(secret, REDACTED)
        } else {
            mask_word(&out, secret)
        };
    }
    let scheme = SCHEME.get_or_init(|| {
        regex::Regex::new(r"(?i)\b(basic|bearer)(\s+|%20|\+)([A-Za-z0-9+/=._~-]{8,})")
            .expect("credential pattern")
    });
    let out = scheme.replace_all(&out, |c: &regex::Captures| {
        // A word of prose after the scheme's name ("Basic authentication") is not a credential.
        match c[3].chars().all(|ch| ch.is_ascii_lowercase()) {
            true => c[0].to_string(),
            false => format!("{}{}{REDACTED}", &c[1], &c[2]),
        }
    });
    let jwt = JWT.get_or_init(|| {
        regex::Regex::new(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]*)?")
            .expect("JWT pattern")
    });
    let out = jwt.replace_all(&out, REDACTED);
    // What a registry or ARM wrote is shown on a terminal: its control characters as escapes.
    crate::log::printable(&out).into_owned()
}

/// `text` with each occurrence of `word` that stands alone (not inside a longer run of letters
/// and digits) replaced by `<redacted>`.
fn mask_word(text: &str, word: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut before: Option<char> = None;
    while let Some(at) = rest.find(word) {
        let prev = rest[..at].chars().next_back().or(before);
        let next = rest[at + word.len()..].chars().next();
        let alone = !prev.is_some_and(|c| c.is_alphanumeric())
            && !next.is_some_and(|c| c.is_alphanumeric());
        out.push_str(&rest[..at]);
        out.push_str(if alone { REDACTED } else { word });
        before = word.chars().next_back();
        rest = &rest[at + word.len()..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s} {s:?}"), "<redacted> <redacted>");
        assert_eq!(s.expose(), "hunter2");
    }

    #[test]
    fn url_queries_are_hidden_but_for_what_a_request_is_about() {
        assert_eq!(
            redact_url("https://blob.example/x?sig=abc&se=1"),
            "https://blob.example/x?<redacted>"
        );
        assert_eq!(redact_url("http://h/v2/"), "http://h/v2/");
        assert_eq!(
            redact_url("http://h/v2/a/blobs/uploads/?mount=sha256:ab12&from=team/b"),
            "http://h/v2/a/blobs/uploads/?mount=sha256:ab12&from=team/b"
        );
        assert_eq!(
            redact_url("http://h/v2/a/blobs/uploads/u1?_state=S3cr&x=1&digest=sha256:ab12"),
            "http://h/v2/a/blobs/uploads/u1?<redacted>&digest=sha256:ab12"
        );
        assert_eq!(
            redact_url("http://h/v2/_catalog?n=100&last=team%2Fa"),
            "http://h/v2/_catalog?n=100&last=team%2Fa"
        );
        // A value that is not a plain name, and a fragment, are hidden.
        assert_eq!(
            redact_url("http://h/x?last=a\"b&n=1#tok"),
            "http://h/x?<redacted>&n=1&<redacted>"
        );
    }

    /// A redirect or a token realm a registry hands out may carry credentials in its authority:
    /// never shown, whatever else the URL holds (an `@` in the path is not user information).
    #[test]
    fn user_information_in_a_url_is_hidden() {
        assert_eq!(
            redact_url("http://storuser:St0rageSecretPw@127.0.0.1:47629/v2/a/blobs/x?sig=abc"),
            "http://<redacted>@127.0.0.1:47629/v2/a/blobs/x?<redacted>"
        );
        assert_eq!(
            redact_url("https://tu:Realm@S3cret@auth.example/token"),
            "https://<redacted>@auth.example/token"
        );
        assert_eq!(
            redact_url("https://h/v2/a@b/manifests/c"),
            "https://h/v2/a@b/manifests/c"
        );
        assert_eq!(redact_url("no scheme@here"), "no scheme@here");
    }

    #[test]
    fn echoed_credentials_are_masked() {
        let known = ["alicepw", "YWxpY2U6YWxpY2Vwdw=="];
        assert_eq!(
            mask_secrets(
                "denied for Authorization: Basic YWxpY2U6YWxpY2Vwdw== (alice:alicepw)",
                &known
            ),
            "denied for Authorization: Basic <redacted> (alice:<redacted>)"
        );
        // Unknown credentials, by their form.
        assert_eq!(
            mask_secrets("got bearer Zm9vOmJhcg.x-y and basic dXNlcjpwdw==", &[]),
            "got bearer <redacted> and basic <redacted>"
        );
        assert_eq!(
            mask_secrets("token eyJhbGciOi.eyJzdWIi.c2lnbmF0dXJl expired", &[]),
            "token <redacted> expired"
        );
        // Prose stays prose; a short password is masked only as a word of its own.
        assert_eq!(
            mask_secrets("Basic authentication required for pw", &["pw"]),
            "Basic authentication required for <redacted>"
        );
        assert_eq!(mask_secrets("unknown error", &["e"]), "unknown error");
        assert_eq!(mask_secrets("user:e!", &["e"]), "user:<redacted>!");
    }
}
