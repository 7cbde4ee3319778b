//! Signing requests in: the challenge the registry answers with (Basic or Bearer), the
//! `Authorization` header each request gets for its scope, and the token flows behind it: the
//! docker token service (credentials, or an OAuth2 refresh token) and, for ACR, Azure AD's
//! `/oauth2/exchange`, retried like any request, on a client chosen by host so that a password
//! goes only where certificates are checked unless `--insecure` named the host. The challenge,
//! scope and token types are in [`super::auth`].

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use reqwest::header::HeaderMap;
use reqwest::{Method, RequestBuilder, Response, StatusCode};

use super::auth::{Challenge, Scope, Token, ACR_TOKEN_USER};
use super::body::read_limited;
use super::errors::failure_of;
use super::health::ConnectFailure;
use super::origin::{host_and_port, names_host};
use super::retry::{is_transient_status, retry_after};
use super::send::log_response;
use super::Inner;
use crate::error::{Error, Mend, Result};
use crate::manifest::MAX_MANIFEST_BYTES;
use crate::secret::{redact_url, Secret};

/// How long a token from a token endpoint is used: its `expires_in`; without one, the `exp` of a
/// JWT token (ACR's `/oauth2/token` answers with no `expires_in`, and its tokens are JWTs valid
/// for an hour or more: renewing them every minute per scope would ask ACR for thousands of
/// tokens in a long copy); else 60 s, the Docker token spec's default. A day at most: a token
/// endpoint's number is not trusted to fit an `Instant`. `now`: seconds since the Unix epoch.
fn token_lifetime(expires_in: Option<u64>, token: &str, now: u64) -> Duration {
    let seconds = expires_in
        .or_else(|| {
            // `exp - iat`, both the issuer's: this machine's clock, ahead or behind, does not
            // shorten it; `exp - now` where the token has no `iat`.
            let claims = jwt_claims(token)?;
            let exp = claims.exp?;
            Some(exp.saturating_sub(claims.iat.unwrap_or(now)))
        })
        .unwrap_or(60);
    Duration::from_secs(seconds.clamp(1, 24 * 3600))
}

/// The times a JWT carries, in seconds since the Unix epoch.
#[derive(serde::Deserialize)]
struct JwtTimes {
    /// Expires at.
    exp: Option<u64>,
    /// Issued at.
    iat: Option<u64>,
}

/// The `exp` and `iat` claims of a JWT (`header.payload.signature`, each part base64url), read
/// without checking the signature: they only set when the token is renewed, and the registry
/// judges the token itself.
fn jwt_claims(token: &str) -> Option<JwtTimes> {
    use base64::Engine;
    let mut parts = token.split('.');
    let (_header, payload, _signature) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let decoded = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    serde_json::from_slice(&decoded).ok()
}

/// Seconds since the Unix epoch.
fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[derive(serde::Deserialize)]
struct TokenResponse {
    token: Option<String>,
    access_token: Option<String>,
    expires_in: Option<u64>,
}

impl Inner {
    pub(super) fn learn_challenge(&self, headers: &HeaderMap) -> Option<String> {
        let header = headers.get("www-authenticate")?.to_str().ok()?;
        let (challenge, scope) = Challenge::parse(header)?;
        *self.challenge.lock().expect("challenge lock") = challenge;
        scope
    }

    /// Adds the `Authorization` header the registry wants for `scope`.
    pub(super) async fn authorize(
        &self,
        request: RequestBuilder,
        scope: &Scope,
    ) -> Result<RequestBuilder> {
        let challenge = self.challenge.lock().expect("challenge lock").clone();
        match challenge {
            Challenge::None => Ok(request),
            Challenge::Basic => match self.credentials() {
                Some(c) => Ok(request.basic_auth(&c.username, Some(c.password.expose()))),
                None => Ok(request),
            },
            Challenge::Bearer { realm, service } => {
                if let Some(t) = self.tokens.fresh(scope) {
                    return Ok(request.bearer_auth(t.expose()));
                }
                let slot = self.tokens.slot(scope);
                let mut guard = slot.lock().await;
                if let Some(t) = guard.as_ref().filter(|t| t.is_fresh()) {
                    return Ok(request.bearer_auth(t.value.expose()));
                }
                let token = self.fetch_token(&realm, service.as_deref(), scope).await?;
                let value = token.value.clone();
                self.tokens.remember(&value);
                *guard = Some(token);
                Ok(request.bearer_auth(value.expose()))
            }
        }
    }

    /// The client for a token endpoint at `url`: one that skips the certificate check when
    /// `--insecure` named the endpoint's host (alone or with its port); else one that verifies
    /// it (the registry's own, or, when `--insecure` named the registry, a verifying one: a
    /// token endpoint on another host receives the password or refresh token).
    fn token_client(&self, url: &str) -> &reqwest::Client {
        let named = url::Url::parse(url)
            .ok()
            .is_some_and(|u| names_host(&self.insecure_hosts, &u));
        match (named, &self.unverified, &self.verified) {
            (true, Some(unverified), _) => unverified,
            (false, _, Some(verified)) => verified,
            _ => &self.http,
        }
    }

    /// The docker token flow: `GET realm?service=&scope=` with Basic credentials, or the OAuth2
    /// refresh-token grant for identity tokens. Retried like any request. Credentials are not
    /// sent to a plain-HTTP realm of an HTTPS registry.
    async fn fetch_token(
        &self,
        realm: &str,
        service: Option<&str>,
        scope: &Scope,
    ) -> Result<Token> {
        let signs_in = self.credentials().is_some() || self.azure_ad.is_some();
        if signs_in && self.base_url.starts_with("https://") && !realm.starts_with("https://") {
            return Err(self.auth_error(format!(
                "the registry's token realm {} is not on https: the credentials are not sent unencrypted; fix the realm the registry (or its proxy) announces",
                redact_url(realm)
            )));
        }
        let http = self.token_client(realm);
        let mut query: Vec<(&str, String)> = Vec::new();
        if let Some(s) = service {
            query.push(("service", s.to_string()));
        }
        for s in scope.params() {
            query.push(("scope", s));
        }
        let mut exchanged_anew = false;
        let mut refresh: Option<Secret> = match (self.credentials(), &self.azure_ad) {
            (Some(c), _) if c.is_refresh_token() => Some(c.password.clone()),
            (None, Some(aad)) => Some(self.azure_refresh_token(aad, realm, service).await?),
            _ => None,
        };
        // The ACR refresh token to blame when it is refused, when it came from a store (a docker
        // or containers config, not a flag).
        let mut stored_token = self.credentials().filter(|c| {
            refresh.is_some() && c.username == ACR_TOKEN_USER && !c.origin.starts_with("--")
        });
        let mut attempt = 0;
        loop {
            let build = || match refresh.as_ref() {
                Some(c) => {
                    // OAuth2 form: one `scope` field, space-separated (docker and ACR).
                    let mut form: Vec<(&str, String)> = query
                        .iter()
                        .filter(|(k, _)| *k != "scope")
                        .cloned()
                        .collect();
                    let scopes = scope.params();
                    if !scopes.is_empty() {
                        form.push(("scope", scopes.join(" ")));
                    }
                    form.push(("grant_type", "refresh_token".into()));
                    form.push(("refresh_token", c.expose().to_string()));
                    form.push(("client_id", "acr-relocate".into()));
                    http.post(realm).form(&form)
                }
                None => {
                    let r = http.get(realm).query(&query);
                    match self.credentials() {
                        Some(c) => r.basic_auth(&c.username, Some(c.password.expose())),
                        None => r,
                    }
                }
            };
            // A refresh token is POSTed (OAuth2), credentials go with a GET (the docker flow).
            let method = if refresh.is_some() {
                Method::POST
            } else {
                Method::GET
            };
            let response = self
                .send_to_token_endpoint("token service", &method, realm, &mut attempt, build)
                .await?;
            let status = response.status();
            if status.is_success() {
                // An answer cut short (a reset, a body shorter than its length) is asked again,
                // as any small answer is.
                let body = match read_limited(response, MAX_MANIFEST_BYTES, realm).await {
                    Ok(body) => body,
                    Err(e) if attempt < self.retry.attempts => {
                        let failure = format!("its answer was cut short ({e})");
                        self.pause_before_retry(&method, realm, &failure, attempt, None)
                            .await;
                        continue;
                    }
                    Err(e) => {
                        return Err(self.token_service_failed(
                            &method,
                            realm,
                            "token service",
                            &format!("its answer was cut short ({e})"),
                        ))
                    }
                };
                let body: TokenResponse = serde_json::from_slice(&body).map_err(|e| {
                    self.auth_error(format!(
                        "token endpoint answered something that is not a token: {e}"
                    ))
                })?;
                let value = body
                    .token
                    .or(body.access_token)
                    .ok_or_else(|| self.auth_error("token endpoint answered without a token"))?;
                let lifetime = token_lifetime(body.expires_in, &value, unix_now());
                return Ok(Token::new(Secret::new(value), lifetime));
            }
            let refused = matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN);
            // A stored ACR refresh token refused as unauthorized (an `az acr login` token lasts 3
            // hours), with an Azure AD identity at hand: the identity signs in instead, for the
            // rest of the run. A 403 (a network rule, a scope) says nothing of its age.
            let expired = status == StatusCode::UNAUTHORIZED;
            if let (true, Some(stored), Some(aad)) = (expired, stored_token, &self.azure_ad) {
                if !self.stored_token_set_aside.swap(true, Ordering::Relaxed) {
                    crate::log::emit(0, || {
                        format!(
                            "warning: {}: the ACR refresh token from {} was refused (HTTP 401; an `az acr login` token lasts 3 hours): signing in with {} instead",
                            self.host,
                            stored.origin,
                            aad.describe()
                        )
                    });
                }
                stored_token = None;
                exchanged_anew = true;
                refresh = Some(self.azure_refresh_token(aad, realm, service).await?);
                attempt -= 1;
                continue;
            }
            if let (true, None, Some(aad)) = (refused, self.credentials(), &self.azure_ad) {
                // An exchanged refresh token that stopped working: exchange anew, once.
                self.exchanged.lock().await.take();
                if !exchanged_anew {
                    exchanged_anew = true;
                    refresh = Some(self.azure_refresh_token(aad, realm, service).await?);
                    attempt -= 1;
                    continue;
                }
            }
            let reason = match status {
                StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => match refresh {
                    Some(_) if stored_token.is_some_and(|c| c.username == ACR_TOKEN_USER) => format!(
                        "the token endpoint refused the refresh token (HTTP {}): it may have expired (an `az acr login` token lasts 3 hours): run `az acr login` again, or `docker logout {}` and sign in with Azure AD (--azure-credential), which renews itself through a long copy",
                        status.as_u16(),
                        self.host
                    ),
                    Some(_) => format!(
                        "the token endpoint refused the refresh token (HTTP {}): it may have expired",
                        status.as_u16()
                    ),
                    None if self.credentials().is_some() => format!(
                        "the token endpoint refused the credentials (HTTP {}): check the user name and password",
                        status.as_u16()
                    ),
                    None => format!(
                        "the token endpoint refused anonymous access (HTTP {}): pass --src-creds/--dst-creds or sign in with docker login (or podman login){}",
                        status.as_u16(),
                        self.store_note()
                    ),
                },
                // Still throttled after every try: the service's load, no fault of the
                // credentials.
                StatusCode::TOO_MANY_REQUESTS => {
                    return Err(self.token_service_failed(
                        &method,
                        realm,
                        "token service",
                        "HTTP 429, too many requests",
                    ))
                }
                s => format!("token endpoint answered HTTP {}", s.as_u16()),
            };
            return Err(self.auth_error(reason));
        }
    }

    /// An ACR refresh token for the Azure AD identity: `POST /oauth2/exchange` beside the token
    /// realm, reused for [`crate::azure_ad::REFRESH_TOKEN_REUSE`]. The AAD token is only ever sent
    /// to the registry's own host name (any port), over HTTPS when the registry is. Retried like
    /// any request.
    async fn azure_refresh_token(
        &self,
        aad: &crate::azure_ad::SharedAzureAd,
        realm: &str,
        service: Option<&str>,
    ) -> Result<Secret> {
        let mut cached = self.exchanged.lock().await;
        if let Some(e) = cached.as_ref().filter(|e| e.is_fresh()) {
            return Ok(e.token.clone());
        }
        let url = crate::azure_ad::exchange_url(realm).ok_or_else(|| {
            self.auth_error(format!("token realm {} is not a URL", redact_url(realm)))
        })?;
        let host_of = |u: &str| {
            url::Url::parse(u)
                .ok()?
                .host_str()
                .map(str::to_ascii_lowercase)
        };
        // The registry's own host name (a token service on another port of it is the
        // registry's, as Distribution's token auth runs), never a downgrade to plain HTTP.
        let downgrade = self.base_url.starts_with("https://") && !url.starts_with("https://");
        if downgrade || host_of(&url).is_none() || host_of(&url) != host_of(&self.base_url) {
            return Err(self.auth_error(format!(
                "the token realm {} is on another host or not on https: an Azure AD token is only sent to the registry's own host name, encrypted",
                redact_url(realm)
            )));
        }
        let access = aad.access_token().await?;
        let mut form: Vec<(&str, String)> = vec![
            ("grant_type", "access_token".into()),
            ("access_token", access.expose().to_string()),
        ];
        if let Some(s) = service {
            form.push(("service", s.to_string()));
        }
        if let Some(t) = aad.tenant() {
            form.push(("tenant", t));
        }
        let response = self
            .send_to_token_endpoint("exchange endpoint", &Method::POST, &url, &mut 0, || {
                self.token_client(&url).post(&url).form(&form)
            })
            .await?;
        if !response.status().is_success() {
            return Err(self.auth_error(format!(
                "the registry refused the Azure AD token at /oauth2/exchange (HTTP {}): the identity needs a role on the registry (AcrPull to read, AcrPush to write; on a registry in ABAC mode, `Container Registry Repository Reader` or `Writer`)",
                response.status().as_u16()
            )));
        }
        #[derive(serde::Deserialize)]
        struct Exchange {
            refresh_token: Option<String>,
        }
        let body = read_limited(response, MAX_MANIFEST_BYTES, &url).await?;
        let body: Exchange = serde_json::from_slice(&body).map_err(|e| {
            self.auth_error(format!(
                "/oauth2/exchange answered something that is not a refresh token: {e}"
            ))
        })?;
        let token =
            Secret::new(body.refresh_token.ok_or_else(|| {
                self.auth_error("/oauth2/exchange answered without a refresh_token")
            })?);
        *cached = Some(crate::azure_ad::Exchanged {
            token: token.clone(),
            at: Instant::now(),
        });
        Ok(token)
    }

    /// Sends a request built by `build` to a token endpoint (the docker realm, or ACR's
    /// `/oauth2/exchange`), retrying connection errors, 429 and 5xx (honouring `Retry-After`)
    /// until the retry policy's attempts are spent. `attempt` counts the tries made so far, so a
    /// caller that asks again with other credentials stays within one budget. Returns the last
    /// answer that is not a failure of the service (success or refusal); a service that still
    /// fails (5xx, no connection) is [`Self::token_service_failed`], one whose certificate is not
    /// trusted is said at once. Each answer is logged at `-vv` (method, URL with its secret-free query values only,
    /// status, time; never the body).
    ///
    /// The token service's failures count toward the registry's [`Health`](super::health::Health):
    /// a run whose every request waits on a token service that fails is given up as an unreachable
    /// registry.
    async fn send_to_token_endpoint(
        &self,
        endpoint: &str,
        method: &Method,
        url: &str,
        attempt: &mut u32,
        build: impl Fn() -> RequestBuilder,
    ) -> Result<Response> {
        // A token endpoint on the registry itself (ACR, most token servers behind one name)
        // tells whether the registry answers.
        let own = url.starts_with(&format!("{}/", self.base_url));
        let service = host_and_port(url);
        loop {
            *attempt += 1;
            let last = *attempt >= self.retry.attempts;
            self.health.check()?;
            let started = Instant::now();
            let outcome = build().send().await;
            let failure = match &outcome {
                Ok(r) => {
                    log_response(method, url, r, started);
                    let status = r.status();
                    if status.is_server_error() && is_transient_status(status) {
                        Some(format!("HTTP {}", status.as_u16()))
                    } else {
                        if own || status.is_success() {
                            self.health.answered();
                        }
                        None
                    }
                }
                Err(e) => {
                    let failure = failure_of(e);
                    if let ConnectFailure::Certificate(detail) = &failure {
                        return Err(self.health.token_service_untrusted(&service, detail));
                    }
                    Some(failure.short())
                }
            };
            if let Some(failure) = &failure {
                let cause = format!("its {endpoint} {service}: {failure}");
                if let Some(gone) = self.health.failed(&cause) {
                    return Err(gone);
                }
                if last {
                    return Err(self.token_service_failed(method, url, endpoint, failure));
                }
            }
            let wait = match outcome {
                Ok(response) if last || !is_transient_status(response.status()) => {
                    return Ok(response)
                }
                Ok(response) => retry_after(response.headers()),
                Err(_) => None,
            };
            let failure = failure.as_deref().unwrap_or("HTTP 429");
            self.pause_before_retry(method, url, failure, *attempt, wait)
                .await;
        }
    }

    /// The error of a token service that still failed (`failure`: `HTTP 500`, "connection
    /// refused") after every try: not a problem of the credentials. When the registry is opened
    /// it ends the run at once (exit 2); later it fails the item that needed a token, as a
    /// connection failure that a run again may mend.
    fn token_service_failed(
        &self,
        method: &Method,
        url: &str,
        endpoint: &str,
        failure: &str,
    ) -> Error {
        let service = host_and_port(url);
        let tries = self.retry.attempts;
        if !self.signed_in.load(Ordering::Relaxed) {
            return Error::Unreachable {
                side: self.health.side().to_string(),
                host: self.host.clone(),
                reason: format!(
                    "its {endpoint} {service} failed ({failure} on {tries} tries), which is no fault of the credentials: run the same command again once it answers"
                ),
                mid_run: false,
                mend: Mend::Elsewhere,
            };
        }
        Error::Connection {
            method: method.to_string(),
            url: redact_url(url),
            reason: format!(
                "the registry's {endpoint} {service} failed ({failure} on {tries} tries), which is no fault of the credentials: run the same command again"
            ),
        }
    }
}

#[cfg(test)]
mod lifetime_tests {
    use super::*;
    use base64::Engine;

    fn jwt(claims: &str) -> String {
        let part = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        format!("{}.{}.c2ln", part(r#"{"alg":"RS256"}"#), part(claims))
    }

    #[test]
    fn a_token_lives_as_long_as_its_expires_in_else_its_jwt_exp_else_a_minute() {
        let now = 1_800_000_000;
        let hour = jwt(&format!(r#"{{"exp":{},"iat":{now}}}"#, now + 3600));
        assert_eq!(
            token_lifetime(Some(300), &hour, now),
            Duration::from_secs(300)
        );
        assert_eq!(token_lifetime(None, &hour, now), Duration::from_secs(3600));
        assert_eq!(
            token_lifetime(None, "opaque-token", now),
            Duration::from_secs(60)
        );
        assert_eq!(
            token_lifetime(None, &jwt(r#"{"sub":"x"}"#), now),
            Duration::from_secs(60)
        );
        assert_eq!(
            token_lifetime(None, "a.b.c.d", now),
            Duration::from_secs(60)
        );
        // Issued by a clock an hour behind this one: still an hour.
        let behind = jwt(&format!(r#"{{"exp":{now},"iat":{}}}"#, now - 3600));
        assert_eq!(
            token_lifetime(None, &behind, now),
            Duration::from_secs(3600)
        );
        // Expired already (no `iat`): used once, renewed at once; a year: a day at most.
        let past = jwt(&format!(r#"{{"exp":{}}}"#, now - 10));
        assert_eq!(token_lifetime(None, &past, now), Duration::from_secs(1));
        let year = jwt(&format!(r#"{{"exp":{}}}"#, now + 365 * 24 * 3600));
        assert_eq!(
            token_lifetime(None, &year, now),
            Duration::from_secs(24 * 3600)
        );
    }
}
