//! Errors of requests and answers: connection failures named without secrets (nor the queries of
//! signed URLs), the OCI error envelope read into a code and a message, and refusals (401, 403)
//! explained: who was refused, the right that is missing, and what to do. A registry's text
//! reaches an error only with this registry's secrets masked.

use reqwest::{Method, Response};

use super::auth::{Challenge, Scope};
use super::body::{read_prefix, ERROR_BODY_BYTES};
use super::health::{side_flag, ConnectFailure};
use super::Inner;
use crate::error::Error;
use crate::secret::redact_url;

/// What kept a request from an answer, for [`Health`](super::health::Health) and the errors of
/// [`Registry::connect`](super::Registry::connect).
pub(super) fn failure_of(e: &reqwest::Error) -> ConnectFailure {
    ConnectFailure::of(&causes(e), e.is_timeout())
}

/// The texts of an error and its causes, joined by `: `, each once.
fn causes(e: &reqwest::Error) -> String {
    let mut reason = String::new();
    let mut source: Option<&dyn std::error::Error> = Some(e);
    while let Some(s) = source {
        let text = s.to_string();
        if !reason.contains(&text) {
            if !reason.is_empty() {
                reason.push_str(": ");
            }
            reason.push_str(&text);
        }
        source = s.source();
    }
    reason
}

pub(super) fn connection_error(method: &Method, url: &str, e: &reqwest::Error) -> Error {
    // The innermost causes say what really happened (refused, certificate, reset).
    let reason = causes(e);
    // The URL is named once, beside the method, with its query redacted: take reqwest's
    // "for url (...)" out whole, and any other copy of the URL, and of the URL reqwest's error
    // names itself (it may differ after storage redirects reqwest followed: their queries are
    // signatures).
    let redacted = redact_url(url);
    let mut reason = reason;
    let last_hop = e.url().map(|u| u.to_string());
    // The longer URL first: one may begin with the other (a redirect to the same path with a
    // signature added), and taking the shorter out first would leave the rest of the longer.
    let mut named_urls: Vec<&str> = std::iter::once(url).chain(last_hop.as_deref()).collect();
    named_urls.sort_by_key(|u| std::cmp::Reverse(u.len()));
    for named in named_urls {
        let without_query = redact_url(named);
        reason = reason
            .replace(&format!(" for url ({named})"), "")
            .replace(&format!(" for url ({without_query})"), "")
            .replace(named, "")
            .replace(&without_query, "");
    }
    let reason = reason.replace(" for url ()", "");
    let reason = reason.trim_matches([' ', ':']);
    Error::Connection {
        method: method.to_string(),
        url: redacted,
        reason: if e.is_timeout() {
            format!("timed out ({reason})")
        } else {
            reason.to_string()
        },
    }
}

#[derive(serde::Deserialize)]
struct ErrorEnvelope {
    errors: Vec<ErrorEntry>,
}

#[derive(serde::Deserialize)]
struct ErrorEntry {
    code: Option<String>,
    message: Option<String>,
    /// What the error is about (Distribution: the digest of a missing blob).
    detail: Option<serde_json::Value>,
}

impl ErrorEntry {
    /// `message (detail)`, the detail when it is a plain string (a digest, a name).
    fn text(&self) -> Option<String> {
        let detail = self.detail.as_ref().and_then(|d| d.as_str());
        match (self.message.as_deref(), detail) {
            (Some(m), Some(d)) if !m.contains(d) => Some(format!("{m} ({d})")),
            (Some(m), _) => Some(m.to_string()),
            (None, Some(d)) => Some(d.to_string()),
            (None, None) => None,
        }
    }
}

/// True for a request the registry (or its token service) refused rather than failed: HTTP 401
/// or 403, or any sign-in failure for the request's scope (a mount that meets one falls back to
/// an upload, whose own sign-in then says what is wrong).
pub(super) fn is_refusal(error: &Error) -> bool {
    matches!(
        error,
        Error::Status {
            status: 401 | 403,
            ..
        } | Error::Auth { .. }
    )
}

/// Errors of a registry's answer shown after the first (the rest are counted).
const MORE_ERRORS_SHOWN: usize = 3;

/// The code and text of a registry's error answer: the first error's code; its text, then every
/// further error's code and text (a registry may put the cause second: Distribution's `UNKNOWN`
/// before `MANIFEST_BLOB_UNKNOWN`), each shortened. `mask` is applied to every text before it is
/// shortened (a secret cut in half would no longer be found).
fn envelope_text(body: &[u8], mask: impl Fn(&str) -> String) -> (Option<String>, Option<String>) {
    match serde_json::from_slice::<ErrorEnvelope>(body) {
        Ok(env) if !env.errors.is_empty() => {
            let shown = |e: &ErrorEntry| e.text().map(|t| crate::digest::truncate(&mask(&t)));
            // A code as the spec writes them (`NAME_UNKNOWN`) is kept as it is: the engine
            // decides on it; anything else a server put there is masked like its messages.
            let code_of =
                |code: &str| match code.chars().all(|c| c.is_ascii_uppercase() || c == '_') {
                    true => code.to_string(),
                    false => mask(code),
                };
            let mut parts: Vec<String> = shown(&env.errors[0]).into_iter().collect();
            for further in env.errors.iter().skip(1).take(MORE_ERRORS_SHOWN) {
                let code = further.code.as_deref().map(code_of);
                let code = code.as_deref().unwrap_or("error");
                parts.push(match shown(further) {
                    Some(text) => format!("{code}: {text}"),
                    None => code.to_string(),
                });
            }
            if env.errors.len() > 1 + MORE_ERRORS_SHOWN {
                parts.push(format!(
                    "{} more errors",
                    env.errors.len() - 1 - MORE_ERRORS_SHOWN
                ));
            }
            let message = (!parts.is_empty()).then(|| parts.join("; "));
            (env.errors[0].code.as_deref().map(code_of), message)
        }
        _ => (None, None),
    }
}

impl Inner {
    /// ` (docker-credential-NAME (credsStore in PATH) is not installed)`, or the config that is
    /// not valid JSON, after a request for credentials when a credential source was skipped;
    /// empty otherwise.
    pub(super) fn store_note(&self) -> String {
        self.skipped_source
            .as_ref()
            .map(|note| format!(" ({note})"))
            .unwrap_or_default()
    }

    /// The error of a repository (or the catalog) the registry refuses (401) to credentials it
    /// accepted at `/v2/`: that repository's failure, not the run's.
    pub(super) fn scope_refused(
        &self,
        method: &Method,
        url: &str,
        scope: &Scope,
        response: &Response,
    ) -> Error {
        let challenge_error = response
            .headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok())
            .and_then(Challenge::error_of);
        Error::Status {
            method: method.to_string(),
            url: redact_url(url),
            status: 401,
            code: Some(
                challenge_error
                    .map(|e| e.to_ascii_uppercase())
                    .unwrap_or_else(|| "UNAUTHORIZED".into()),
            ),
            message: Some(self.refusal_text(scope)),
        }
    }

    /// What a refusal of `scope` means, in one line: who was refused (the credentials and where
    /// they came from, the Azure identity, or anonymous access), the right that is missing, and
    /// what to do.
    fn refusal_text(&self, scope: &Scope) -> String {
        self.refusal(scope, "may not")
    }

    /// [`Self::refusal_text`] with `may_not` for its verb: "may not" where the refusal is
    /// certain, "may lack the right to" beside a registry's own reason.
    fn refusal(&self, scope: &Scope, may_not_verb: &str) -> String {
        let who = match (self.credentials(), &self.azure_ad) {
            (Some(c), _) => format!("the credentials ({})", c.origin),
            (None, Some(a)) => format!("the identity ({})", a.describe()),
            (None, None) => "anonymous access".into(),
        };
        let (may_not, right) = match scope {
            Scope::Registry => return format!("{who} {may_not_verb} use the registry"),
            Scope::Catalog => {
                return format!("{who} {may_not_verb} list the registry's repositories")
            }
            Scope::Pull(r) => (format!("read `{r}`"), "pull"),
            Scope::Push(r) => (format!("push to `{r}`"), "push"),
            Scope::Mount {
                repository: r,
                from,
            } => (
                format!("push to `{r}` with a blob of `{from}`"),
                "push on it and pull on the other",
            ),
            Scope::Delete(r) => (format!("delete from `{r}`"), "delete"),
            Scope::Metadata(r) => (format!("read the metadata of `{r}`"), "metadata_read"),
            Scope::MetadataWrite(r) => (
                format!("change the metadata (locks) of `{r}`"),
                "metadata_write",
            ),
        };
        let what_to_do = match (self.credentials(), &self.azure_ad) {
            (None, None) => format!(
                "sign in with {} (or docker login, podman login){}",
                self.creds_flag(),
                self.store_note()
            ),
            _ => format!("grant {right} on it"),
        };
        format!("{who} {may_not_verb} {may_not}: {what_to_do}, or leave it out with --exclude-repo")
    }

    /// A 403 for a repository-level request: the registry's own code and text (masked), then
    /// which right is missing and what to do, as a refused token says it ([`Self::refusal_text`]).
    pub(super) async fn forbidden(
        &self,
        method: &Method,
        url: &str,
        scope: &Scope,
        response: Response,
    ) -> Error {
        let error = self.status_error(method, url, response).await;
        match error {
            Error::Status {
                method,
                url,
                status,
                code,
                message,
            } => Error::Status {
                method,
                url,
                status,
                code,
                message: Some(match message {
                    // The registry's reason may be another (a quota, a policy): the right is
                    // named as what may be missing.
                    Some(said) => {
                        format!("{said} ({})", self.refusal(scope, "may lack the right to"))
                    }
                    None => self.refusal_text(scope),
                }),
            },
            other => other,
        }
    }

    /// The flag that gives this side's credentials.
    pub(super) fn creds_flag(&self) -> String {
        side_flag(self.health.side(), "creds")
    }

    /// Turns an unexpected response into an error, reading the OCI error envelope when there is
    /// one; its texts never show this registry's secrets ([`Self::masked`]).
    pub(super) async fn status_error(
        &self,
        method: &Method,
        url: &str,
        response: Response,
    ) -> Error {
        let status = response.status().as_u16();
        let body = read_prefix(response, ERROR_BODY_BYTES, url).await;
        let (code, mut message) = envelope_text(&body, |text| self.masked(text));
        if status == 413 && url.contains("/blobs/uploads/") {
            // nginx's `client_max_body_size` (1 MiB unless set), a CDN's cap: chunks get through.
            let said = message.map(|m| format!("{m}; ")).unwrap_or_default();
            message = Some(format!(
                "{said}the registry, or a proxy before it, takes no request body this large: pass --chunk-size BYTES below its limit"
            ));
        }
        Error::Status {
            method: method.to_string(),
            url: redact_url(url),
            status,
            code,
            message,
        }
    }

    /// `text` (written by the registry, a proxy before it, or its token service) without the
    /// secrets this registry holds: the password or refresh token, `base64(user:password)`, the
    /// refresh token `/oauth2/exchange` gave, the tokens fetched last; and without anything
    /// shaped as a `Basic`/`Bearer` credential or a JWT ([`crate::secret::mask_secrets`]).
    pub(super) fn masked(&self, text: &str) -> String {
        use base64::Engine;
        let mut known: Vec<String> = Vec::new();
        // The credentials found, even once set aside for the Azure AD identity.
        if let Some(c) = &self.credentials {
            let pair = format!("{}:{}", c.username, c.password.expose());
            let encoded = base64::engine::general_purpose::STANDARD.encode(&pair);
            known.push(encoded.trim_end_matches('=').to_string());
            known.push(encoded);
            known.push(c.password.expose().to_string());
        }
        if let Ok(exchanged) = self.exchanged.try_lock() {
            known.extend(exchanged.as_ref().map(|e| e.token.expose().to_string()));
        }
        known.extend(self.tokens.recent().iter().map(|t| t.expose().to_string()));
        let known: Vec<&str> = known.iter().map(String::as_str).collect();
        crate::secret::mask_secrets(text, &known)
    }

    /// A sign-in failure of this registry; the reason never shows its secrets.
    pub(super) fn auth_error(&self, reason: impl Into<String>) -> Error {
        // `TARGET host:port` where the side is known, as the other errors of opening name it.
        let registry = match self.health.side() {
            "registry" => self.host.clone(),
            side => format!("{side} {}", self.host),
        };
        Error::Auth {
            registry,
            source_tried: match (self.credentials(), &self.azure_ad) {
                (Some(c), _) => c.origin.clone(),
                (None, Some(a)) => a.describe(),
                (None, None) => "anonymous".into(),
            },
            reason: self.masked(&reason.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A storage host that redirects to another whose port nothing listens on, with a signature
    /// in the query: the error names neither hop's query.
    #[tokio::test]
    async fn a_failed_storage_hop_reqwest_followed_is_named_without_its_signature() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let closed_port = closed.local_addr().unwrap().port();
        drop(closed);
        let first = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let first_port = first.local_addr().unwrap().port();
        tokio::spawn(async move {
            let (mut conn, _) = first.accept().await.unwrap();
            let mut buf = [0u8; 4096];
            let _ = conn.read(&mut buf).await;
            let answer = format!(
                "HTTP/1.1 307 Temporary Redirect\r\nLocation: http://127.0.0.1:{closed_port}/blob?sig=S3CRETsig\r\nContent-Length: 0\r\n\r\n"
            );
            let _ = conn.write_all(answer.as_bytes()).await;
        });
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::limited(5))
            .build()
            .unwrap();
        let url = format!("http://127.0.0.1:{first_port}/first?sig=F1RSTsig");
        let e = client.get(&url).send().await.unwrap_err();
        let shown = connection_error(&Method::GET, &url, &e).to_string();
        assert!(!shown.contains("S3CRETsig"), "{shown}");
        assert!(!shown.contains("F1RSTsig"), "{shown}");
    }

    #[test]
    fn every_error_of_an_answer_is_shown_with_its_detail() {
        let body = br#"{"errors":[{"code":"UNKNOWN","message":"unknown error"},{"code":"MANIFEST_BLOB_UNKNOWN","message":"blob unknown to registry","detail":"sha256:1cb7"}]}"#;
        let (code, text) = envelope_text(body, str::to_string);
        assert_eq!(code.as_deref(), Some("UNKNOWN"));
        assert_eq!(
            text.as_deref(),
            Some("unknown error; MANIFEST_BLOB_UNKNOWN: blob unknown to registry (sha256:1cb7)")
        );
        let many: Vec<String> = (0..6)
            .map(|i| format!(r#"{{"code":"C{i}","message":"m{i}"}}"#))
            .collect();
        let body = format!(r#"{{"errors":[{}]}}"#, many.join(","));
        let (_, text) = envelope_text(body.as_bytes(), str::to_string);
        assert_eq!(
            text.as_deref(),
            Some("m0; C1: m1; C2: m2; C3: m3; 2 more errors")
        );
        assert_eq!(envelope_text(b"not json", str::to_string), (None, None));
    }
}
