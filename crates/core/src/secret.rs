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

/// Removes the query string of a URL for display: upload locations carry state tokens and storage
/// redirects carry SAS signatures.
pub fn redact_url(url: &str) -> String {
    match url.find('?') {
        Some(i) => format!("{}?<redacted>", &url[..i]),
        None => url.to_string(),
    }
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
    fn url_queries_are_hidden() {
        assert_eq!(
            redact_url("https://blob.example/x?sig=abc&se=1"),
            "https://blob.example/x?<redacted>"
        );
        assert_eq!(redact_url("http://h/v2/"), "http://h/v2/");
    }
}
