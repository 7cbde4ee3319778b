//! Registry sign-in: the `WWW-Authenticate` challenge, Basic credentials, and the docker token flow
//! with tokens cached per scope until shortly before they expire.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::secret::Secret;

/// Credentials for one registry. `Debug` never shows the password.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credentials {
    /// User name. `<token>` means `password` is an identity (refresh) token, as docker's
    /// `identitytoken` and ACR's `00000000-0000-0000-0000-000000000000` user with a refresh token.
    pub username: String,
    /// Password, token or refresh token.
    pub password: Secret,
    /// Where these credentials came from, for error messages (`--src-creds`, `config.json`, ...).
    pub origin: String,
}

impl Credentials {
    /// Credentials from `USER:PASSWORD`.
    pub fn parse(text: &str, origin: &str) -> Option<Self> {
        let (user, password) = text.split_once(':')?;
        Some(Credentials {
            username: user.to_string(),
            password: Secret::new(password),
            origin: origin.to_string(),
        })
    }

    /// True when the password is a refresh token to exchange at the token endpoint.
    pub fn is_refresh_token(&self) -> bool {
        self.username == "<token>" || self.username == ACR_TOKEN_USER
    }
}

/// The user name ACR documents for signing in with an Azure AD refresh token.
pub const ACR_TOKEN_USER: &str = "00000000-0000-0000-0000-000000000000";

/// How the registry wants to be spoken to, learned from its `WWW-Authenticate` header.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum Challenge {
    /// No authentication asked (yet).
    #[default]
    None,
    /// HTTP Basic.
    Basic,
    /// The docker token flow.
    Bearer {
        /// Token endpoint.
        realm: String,
        /// `service` parameter.
        service: Option<String>,
    },
}

impl Challenge {
    /// Parses a `WWW-Authenticate` header value. Unknown schemes give `None`.
    pub fn parse(header: &str) -> Option<(Challenge, Option<String>)> {
        let header = header.trim();
        let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
        let params = parse_params(rest);
        match scheme.to_ascii_lowercase().as_str() {
            "basic" => Some((Challenge::Basic, None)),
            "bearer" => {
                let realm = params.get("realm")?.clone();
                Some((
                    Challenge::Bearer {
                        realm,
                        service: params.get("service").cloned(),
                    },
                    params.get("scope").cloned(),
                ))
            }
            _ => None,
        }
    }

    /// The `error` parameter of a `WWW-Authenticate` header value (`insufficient_scope`,
    /// `invalid_token`), when it has one.
    pub fn error_of(header: &str) -> Option<String> {
        let rest = header.trim().split_once(' ')?.1;
        parse_params(rest).remove("error")
    }
}

/// Parses `key="value", key2=value2` (values may hold commas inside quotes).
fn parse_params(text: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        let Some(eq) = rest.find('=') else { break };
        let key = rest[..eq]
            .trim()
            .trim_start_matches(',')
            .trim()
            .to_ascii_lowercase();
        rest = &rest[eq + 1..];
        let value;
        if let Some(stripped) = rest.strip_prefix('"') {
            let mut v = String::new();
            let mut chars = stripped.char_indices();
            let mut end = stripped.len();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, n)) = chars.next() {
                            v.push(n);
                        }
                    }
                    '"' => {
                        end = i + 1;
                        break;
                    }
                    _ => v.push(c),
                }
            }
            value = v;
            rest = &stripped[end.min(stripped.len())..];
        } else {
            let end = rest.find(',').unwrap_or(rest.len());
            value = rest[..end].trim().to_string();
            rest = &rest[end..];
        }
        rest = rest.trim_start().trim_start_matches(',').trim_start();
        out.insert(key, value);
    }
    out
}

/// What a request needs access to.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Scope {
    /// `/v2/` and anything without a repository.
    Registry,
    /// Listing the catalog.
    Catalog,
    /// Reading a repository.
    Pull(String),
    /// Reading and writing a repository.
    Push(String),
    /// Writing a repository and reading the repository a blob is mounted from.
    Mount {
        /// Target repository.
        repository: String,
        /// Repository mounted from.
        from: String,
    },
    /// Deleting from a repository.
    Delete(String),
    /// Reading ACR's metadata of a repository (`/acr/v1/…` listings and attributes).
    Metadata(String),
    /// Reading and changing ACR's metadata of a repository (PATCH of lock attributes).
    MetadataWrite(String),
}

impl Scope {
    /// The repository a scope is about (`None` for the registry and its catalog).
    pub fn repository(&self) -> Option<&str> {
        match self {
            Scope::Registry | Scope::Catalog => None,
            Scope::Pull(r)
            | Scope::Push(r)
            | Scope::Delete(r)
            | Scope::Metadata(r)
            | Scope::MetadataWrite(r) => Some(r),
            Scope::Mount { repository, .. } => Some(repository),
        }
    }

    /// The `scope` parameters of the token request.
    pub fn params(&self) -> Vec<String> {
        match self {
            Scope::Registry => vec![],
            Scope::Catalog => vec!["registry:catalog:*".into()],
            Scope::Pull(r) => vec![format!("repository:{r}:pull")],
            Scope::Push(r) => vec![format!("repository:{r}:pull,push")],
            Scope::Mount { repository, from } => vec![
                format!("repository:{repository}:pull,push"),
                format!("repository:{from}:pull"),
            ],
            Scope::Delete(r) => vec![format!("repository:{r}:delete,pull")],
            Scope::Metadata(r) => vec![format!("repository:{r}:metadata_read")],
            Scope::MetadataWrite(r) => {
                vec![format!("repository:{r}:metadata_read,metadata_write")]
            }
        }
    }
}

/// A bearer token and when to stop using it.
#[derive(Clone, Debug)]
pub struct Token {
    /// The token.
    pub value: Secret,
    /// When to fetch a new one (some margin before its real expiry).
    pub renew_at: Instant,
}

impl Token {
    /// A token valid for `lifetime`, renewed at 90% of it (at least 5 s early, when it can be).
    pub fn new(value: Secret, lifetime: Duration) -> Self {
        let margin = (lifetime / 10)
            .max(Duration::from_secs(5))
            .min(lifetime / 2);
        Token {
            value,
            renew_at: Instant::now() + lifetime - margin,
        }
    }

    /// True while the token may still be sent.
    pub fn is_fresh(&self) -> bool {
        Instant::now() < self.renew_at
    }
}

/// Tokens per scope; one fetch at a time per scope, the others wait for its result.
#[derive(Default)]
pub struct TokenCache {
    slots: Mutex<HashMap<Scope, Arc<tokio::sync::Mutex<Option<Token>>>>>,
    /// The tokens fetched last (at most [`TOKENS_REMEMBERED`]), masked in the messages of the
    /// registry and its token service.
    recent: Mutex<std::collections::VecDeque<Secret>>,
}

/// How many of the tokens fetched last a [`TokenCache`] remembers for masking; older ones have
/// long been replaced (and a JWT is masked by its form anyway).
const TOKENS_REMEMBERED: usize = 256;

impl TokenCache {
    /// The slot of a scope (created empty).
    pub fn slot(&self, scope: &Scope) -> Arc<tokio::sync::Mutex<Option<Token>>> {
        self.slots
            .lock()
            .expect("token cache lock")
            .entry(scope.clone())
            .or_default()
            .clone()
    }

    /// Notes a token just fetched, so that messages never show it.
    pub fn remember(&self, token: &Secret) {
        let mut recent = self.recent.lock().expect("token cache lock");
        if recent.len() >= TOKENS_REMEMBERED {
            recent.pop_front();
        }
        recent.push_back(token.clone());
    }

    /// The tokens fetched last, to mask in messages.
    pub fn recent(&self) -> Vec<Secret> {
        self.recent
            .lock()
            .expect("token cache lock")
            .iter()
            .cloned()
            .collect()
    }

    /// A fresh cached token of a scope, without waiting on a fetch in flight.
    pub fn fresh(&self, scope: &Scope) -> Option<Secret> {
        let slot = self.slot(scope);
        let guard = slot.try_lock().ok()?;
        guard
            .as_ref()
            .filter(|t| t.is_fresh())
            .map(|t| t.value.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_challenges_give_realm_service_and_scope() {
        let (c, scope) = Challenge::parse(
            r#"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push""#,
        )
        .unwrap();
        assert_eq!(
            c,
            Challenge::Bearer {
                realm: "https://auth.example/token".into(),
                service: Some("registry.example".into())
            }
        );
        assert_eq!(scope.as_deref(), Some("repository:a/b:pull,push"));
    }

    #[test]
    fn basic_and_unknown_schemes() {
        assert_eq!(
            Challenge::parse("Basic realm=\"x\"").unwrap().0,
            Challenge::Basic
        );
        assert!(Challenge::parse("Negotiate").is_none());
        assert!(
            Challenge::parse("Bearer service=\"x\"").is_none(),
            "bearer needs a realm"
        );
    }

    #[test]
    fn scopes_ask_for_what_the_request_needs() {
        let m = Scope::Mount {
            repository: "t/x".into(),
            from: "t/y".into(),
        };
        assert_eq!(
            m.params(),
            ["repository:t/x:pull,push", "repository:t/y:pull"]
        );
        assert_eq!(Scope::Catalog.params(), ["registry:catalog:*"]);
        assert_eq!(
            Scope::Metadata("a/b".into()).params(),
            ["repository:a/b:metadata_read"]
        );
    }

    #[test]
    fn tokens_renew_before_expiry() {
        let t = Token::new(Secret::new("x"), Duration::from_secs(300));
        assert!(t.is_fresh());
        let t = Token::new(Secret::new("x"), Duration::from_secs(0));
        assert!(!t.is_fresh());
    }

    #[test]
    fn credentials_parse_and_hide_the_password() {
        let c = Credentials::parse("user:pa:ss", "--src-creds").unwrap();
        assert_eq!(c.username, "user");
        assert_eq!(c.password.expose(), "pa:ss");
        assert!(!format!("{c:?}").contains("pa:ss"));
    }
}
