//! Our token issuer for Distribution's `auth: token`: the docker token protocol (`GET realm` with
//! Basic credentials) and the OAuth2 shapes ACR documents (`POST /oauth2/exchange` turning an AAD
//! access token into a refresh token, `POST /oauth2/token` with `grant_type=refresh_token` or
//! `password`). Tokens are ES256 JWTs signed by a test key; their lifetime is set per test.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use super::http::{Request, Response, Server};
use super::pki::Signer;
use super::registry::{Auth, AuthRegistry};

/// `service` of the test registry (the token audience).
pub const SERVICE: &str = "acr-relocate-test-registry";
/// `iss` of the tokens.
pub const ISSUER: &str = "acr-relocate-test-issuer";

/// A Distribution registry with `auth: token` (plain HTTP) whose tokens come from our issuer
/// with `policy`, its files in `dir`.
pub fn token_registry(dir: &Path, policy: Policy) -> (AuthRegistry, Issuer) {
    let issuer = Issuer::start(dir, policy);
    let registry = AuthRegistry::start(
        &Auth::Token {
            realm: issuer.realm(),
            service: SERVICE.into(),
            issuer: ISSUER.into(),
            bundle: issuer.bundle.clone(),
        },
        None,
    );
    (registry, issuer)
}

/// What the issuer accepts and how it answers.
#[derive(Clone, Default)]
pub struct Policy {
    /// User name and password pairs accepted with Basic (token GET) or `grant_type=password`.
    pub users: HashMap<String, String>,
    /// Refresh tokens accepted by `grant_type=refresh_token`.
    pub refresh_tokens: HashSet<String>,
    /// Refresh tokens that are known but expired (401 `invalid_grant`).
    pub expired_refresh_tokens: HashSet<String>,
    /// AAD access tokens `/oauth2/exchange` accepts.
    pub aad_tokens: HashSet<String>,
    /// `expires_in` of access tokens, in seconds.
    pub lifetime: u64,
    /// Give anonymous callers tokens (pull only).
    pub anonymous: bool,
    /// The first token of each repository scope is already expired for the registry (its `exp` is
    /// long past, beyond Distribution's 60 s leeway) while `expires_in` says otherwise: the client
    /// must notice the 401 and fetch a new one.
    pub stale_first: bool,
    /// Answer this many token requests with 503 (then 429) before serving: clients must retry.
    pub unavailable_first: u32,
    /// Cut this many token answers short (half the body of a `Content-Length` that promises all
    /// of it, then the connection closes): clients must ask again.
    pub cut_first: u32,
    /// (user, repository): the user's tokens grant nothing on that repository (a scope map that
    /// leaves it out); the registry answers 401 `insufficient_scope` for it.
    pub denied: HashSet<(String, String)>,
    /// Grant no `registry:catalog:*`: the registry then lists no repositories (as Docker Hub and
    /// GHCR).
    pub no_catalog: bool,
    /// Read only the first `scope` of a request, as some token servers do: a mount's token then
    /// grants push on the target but not pull on the repository mounted from.
    pub first_scope_only: bool,
    /// Users whose tokens grant `pull` at most (read-only accounts).
    pub read_only: HashSet<String>,
    /// After this many tokens, answer every token request with HTTP 500 (a token service that
    /// breaks down mid-run; 0: from the start).
    pub fail_after: Option<u32>,
    /// The audience (`aud`) written in tokens, when not the registry's `service`: a token service
    /// set up for another registry, whose tokens this one refuses.
    pub audience: Option<String>,
}

#[derive(Default)]
struct State {
    /// Access tokens issued per requested scope list.
    issued: BTreeMap<String, u32>,
    /// Every request: method, path, grant or "basic"/"anonymous".
    log: Vec<String>,
    /// Every access token handed out.
    tokens: Vec<String>,
    next_refresh: u32,
    /// Refresh tokens handed out by `/oauth2/exchange`.
    minted: HashSet<String>,
    /// Token requests refused as unavailable so far.
    refused: u32,
    /// Token answers cut short so far.
    cut: u32,
}

/// The issuer, serving on 127.0.0.1 until dropped.
pub struct Issuer {
    server: Server,
    state: Arc<Mutex<State>>,
    /// The certificate bundle the registry trusts.
    pub bundle: std::path::PathBuf,
    tls: bool,
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn oauth_error(status: u16, error: &str) -> Response {
    Response::json(status, &json!({ "error": error }))
}

impl Issuer {
    /// Starts an issuer with a fresh key (its bundle written into `dir`).
    pub fn start(dir: &Path, policy: Policy) -> Self {
        let signer = Arc::new(Signer::generate(dir));
        let bundle = signer.bundle.clone();
        let state = Arc::new(Mutex::new(State::default()));
        let s = state.clone();
        let server = Server::start(move |r| handle(r, &signer, &s, &policy));
        Issuer {
            server,
            state,
            bundle,
            tls: false,
        }
    }

    /// Starts an issuer over TLS with the certificate of `tls` (a CA made for the test).
    pub fn start_tls(dir: &Path, policy: Policy, tls: &super::pki::Tls) -> Self {
        let signer = Arc::new(Signer::generate(dir));
        let bundle = signer.bundle.clone();
        let state = Arc::new(Mutex::new(State::default()));
        let s = state.clone();
        let server = Server::start_tls(tls.server_config(), move |r| {
            handle(r, &signer, &s, &policy)
        });
        Issuer {
            server,
            state,
            bundle,
            tls: true,
        }
    }

    /// The realm: `http://127.0.0.1:PORT/oauth2/token` (GET: docker protocol; POST: OAuth2), on
    /// `https://` for an issuer started with [`Issuer::start_tls`].
    pub fn realm(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}/oauth2/token", self.server.port)
    }

    /// `127.0.0.1:PORT`, the issuer's host as `--insecure` names it.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.server.port)
    }

    /// Access tokens issued per scope list.
    pub fn issued(&self) -> BTreeMap<String, u32> {
        self.state.lock().unwrap().issued.clone()
    }

    /// Requests seen.
    pub fn log(&self) -> Vec<String> {
        self.state.lock().unwrap().log.clone()
    }

    /// Every access token handed out.
    pub fn tokens(&self) -> Vec<String> {
        self.state.lock().unwrap().tokens.clone()
    }

    /// `POST /oauth2/exchange` as `az acr login` does: an AAD access token for a refresh token.
    pub fn exchange(&self, aad_token: &str) -> Result<String, String> {
        let body = format!(
            "grant_type=access_token&service={SERVICE}&tenant=test-tenant&access_token={aad_token}"
        );
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", self.server.port)).unwrap();
        use std::io::{Read, Write};
        write!(
            stream,
            "POST /oauth2/exchange HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        let (head, body) = answer.split_once("\r\n\r\n").unwrap();
        if !head.starts_with("HTTP/1.1 200") {
            return Err(head.lines().next().unwrap_or("").to_string());
        }
        let value: Value = serde_json::from_str(body).unwrap();
        Ok(value["refresh_token"].as_str().unwrap().to_string())
    }
}

/// `repository:a/b:pull,push` as a Distribution `access` entry.
fn access(scope: &str) -> Option<Value> {
    let (kind, rest) = scope.split_once(':')?;
    let (name, actions) = rest.rsplit_once(':')?;
    Some(json!({
        "type": kind,
        "name": name,
        "actions": actions.split(',').collect::<Vec<_>>(),
    }))
}

fn handle(request: &Request, signer: &Signer, state: &Mutex<State>, policy: &Policy) -> Response {
    let form = request.form();
    let get = |fields: &[(String, String)], name: &str| {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    match (request.method.as_str(), request.path.as_str()) {
        ("POST", "/oauth2/exchange") => {
            state.lock().unwrap().log.push("POST exchange".into());
            if get(&form, "grant_type").as_deref() != Some("access_token")
                || get(&form, "service").as_deref() != Some(SERVICE)
            {
                return oauth_error(400, "invalid_request");
            }
            match get(&form, "access_token") {
                Some(t) if policy.aad_tokens.contains(&t) => {
                    let mut s = state.lock().unwrap();
                    s.next_refresh += 1;
                    let refresh = format!("acr-refresh-{}-{}", s.next_refresh, now());
                    s.minted.insert(refresh.clone());
                    drop(s);
                    // The refresh token it hands out is a valid one from now on.
                    Response::json(200, &json!({ "refresh_token": refresh }))
                }
                _ => oauth_error(401, "invalid_grant"),
            }
        }
        ("POST", "/oauth2/token") | ("GET", "/oauth2/token") => {
            let (fields, scopes): (Vec<(String, String)>, Vec<String>) = if request.method == "POST"
            {
                let scopes = get(&form, "scope")
                    .map(|s| s.split(' ').map(str::to_string).collect())
                    .unwrap_or_default();
                (form.clone(), scopes)
            } else {
                let q = request.query_params();
                let scopes = q
                    .iter()
                    .filter(|(k, _)| k == "scope")
                    .map(|(_, v)| v.clone())
                    .collect();
                (q, scopes)
            };
            if get(&fields, "service").as_deref() != Some(SERVICE) {
                return oauth_error(400, "invalid_request");
            }
            {
                let mut s = state.lock().unwrap();
                if s.refused < policy.unavailable_first {
                    s.refused += 1;
                    s.log.push("unavailable".into());
                    return if s.refused % 2 == 1 {
                        Response::new(503, "busy")
                    } else {
                        Response::new(429, "slow down").header("Retry-After", "1")
                    };
                }
            }
            if let Some(healthy) = policy.fail_after {
                let mut s = state.lock().unwrap();
                if s.tokens.len() >= healthy as usize {
                    s.log.push("failed".into());
                    return Response::new(500, "internal error");
                }
            }
            let scopes: Vec<String> = match policy.first_scope_only {
                true => scopes.into_iter().take(1).collect(),
                false => scopes,
            };
            let subject = if request.method == "POST" {
                match get(&fields, "grant_type").as_deref() {
                    Some("refresh_token") => {
                        let token = get(&fields, "refresh_token").unwrap_or_default();
                        state.lock().unwrap().log.push("POST refresh_token".into());
                        if policy.expired_refresh_tokens.contains(&token) {
                            return oauth_error(401, "invalid_grant");
                        }
                        if !policy.refresh_tokens.contains(&token)
                            && !state.lock().unwrap().minted.contains(&token)
                        {
                            return oauth_error(401, "invalid_grant");
                        }
                        "refresh-token-user".to_string()
                    }
                    Some("password") => {
                        let user = get(&fields, "username").unwrap_or_default();
                        let password = get(&fields, "password").unwrap_or_default();
                        state.lock().unwrap().log.push("POST password".into());
                        if policy.users.get(&user) != Some(&password) {
                            return oauth_error(401, "invalid_grant");
                        }
                        user
                    }
                    _ => return oauth_error(400, "unsupported_grant_type"),
                }
            } else {
                match request.basic() {
                    Some((user, password)) => {
                        state.lock().unwrap().log.push("GET basic".into());
                        if policy.users.get(&user) != Some(&password) {
                            return Response::json(
                                401,
                                &json!({"errors":[{"code":"UNAUTHORIZED","message":"wrong user name or password"}]}),
                            );
                        }
                        user
                    }
                    None => {
                        state.lock().unwrap().log.push("GET anonymous".into());
                        if !policy.anonymous {
                            return Response::json(
                                401,
                                &json!({"errors":[{"code":"UNAUTHORIZED","message":"sign in first"}]}),
                            );
                        }
                        String::new()
                    }
                }
            };
            let mut granted: Vec<Value> = scopes
                .iter()
                .filter_map(|s| access(s))
                .filter(|g| {
                    let name = g["name"].as_str().unwrap_or("").to_string();
                    let denied = policy.denied.contains(&(subject.clone(), name));
                    let catalog = policy.no_catalog && g["type"] == "registry";
                    !denied && !catalog
                })
                .collect();
            if subject.is_empty() || policy.read_only.contains(&subject) {
                for g in &mut granted {
                    g["actions"] = json!(["pull"]);
                }
            }
            let key = scopes.join(" ");
            let mut s = state.lock().unwrap();
            let count = s.issued.entry(key.clone()).or_default();
            *count += 1;
            let stale = policy.stale_first && *count == 1 && key.starts_with("repository:");
            let issued_at = now();
            let exp = if stale {
                issued_at - 600
            } else {
                issued_at + policy.lifetime
            };
            let jti = format!("{}-{}", s.tokens.len(), issued_at);
            let token = signer.sign(&json!({
                "iss": ISSUER,
                "sub": subject,
                "aud": policy.audience.as_deref().unwrap_or(SERVICE),
                "exp": exp,
                "nbf": issued_at - 1,
                "iat": issued_at,
                "jti": jti,
                "access": granted,
            }));
            s.tokens.push(token.clone());
            drop(s);
            let mut body = json!({
                "access_token": token,
                "expires_in": policy.lifetime,
            });
            if request.method == "GET" {
                body["token"] = json!(token);
            }
            let answer = Response::json(200, &body);
            let mut s = state.lock().unwrap();
            if s.cut < policy.cut_first {
                s.cut += 1;
                s.log.push("cut".into());
                let whole = answer.body.len();
                let mut cut = answer.header(super::http::DECLARED_LENGTH, whole.to_string());
                cut.body.truncate(whole / 2);
                return cut;
            }
            answer
        }
        _ => Response::new(404, "not found"),
    }
}
