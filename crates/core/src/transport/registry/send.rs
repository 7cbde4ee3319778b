//! The request path: [`Inner::send`] signs each request, waits its turn at the host's throttle,
//! retries connection failures, 5xx and 429 (the `retry` module), turns 401 and 403 into errors
//! that say what was refused, and follows redirects by hand: on the registry's own origin with its
//! credentials (signed again), elsewhere (blob storage) with a client that carries none. Every
//! answer is logged at `-vv`.

use std::sync::atomic::Ordering;
use std::time::Instant;

use reqwest::header::{HeaderMap, ACCEPT, LOCATION};
use reqwest::{Method, RequestBuilder, Response, StatusCode};

use super::auth::{Challenge, Scope};
use super::errors::{connection_error, failure_of};
use super::health::ConnectFailure;
use super::origin::{host_and_port, names_host};
use super::retry::{is_transient_status, retried_status, retry_after, HonouredThrottles};
use super::Inner;
use crate::error::{Error, Result};
use crate::secret::redact_url;

/// `url` without its user information (`user:password@`).
fn without_user_info(url: &url::Url) -> url::Url {
    let mut url = url.clone();
    let _ = url.set_username("");
    let _ = url.set_password(None);
    url
}

/// True for a gateway's answer that the registry behind it could not be reached (502, 504).
pub(super) fn is_gateway_failure(status: StatusCode) -> bool {
    status == StatusCode::BAD_GATEWAY || status == StatusCode::GATEWAY_TIMEOUT
}

/// Logs an answer at `-vv`: `METHOD URL -> STATUS (HTTP version, time to the headers)`, the URL
/// without secrets.
pub(super) fn log_response(method: &Method, url: &str, response: &Response, started: Instant) {
    crate::log::emit(2, || {
        format!(
            "{method} {} -> {} ({:?}, {:.1} ms)",
            redact_url(url),
            response.status().as_u16(),
            response.version(),
            started.elapsed().as_secs_f64() * 1000.0
        )
    });
}

/// Longest run of same-origin redirects followed for one request.
const MAX_REDIRECTS: u32 = 10;

impl Inner {
    /// Sends a request built by `build` (called again for each attempt), signed for `scope`, with
    /// retries and same-origin-only credentials. Returns any final response, success or not.
    pub async fn send(&self, scope: Scope, build: impl Fn() -> RequestBuilder) -> Result<Response> {
        self.send_after(scope, build, 0).await
    }

    /// [`Self::send`] for a request reached through `hops` same-origin redirects.
    async fn send_after(
        &self,
        scope: Scope,
        build: impl Fn() -> RequestBuilder,
        hops: u32,
    ) -> Result<Response> {
        let mut attempt = 0u32;
        let mut renewed = false;
        let mut redirect_renewed = false;
        let mut honoured = HonouredThrottles::default();
        loop {
            attempt += 1;
            // A registry given up for this run is not asked again.
            self.health.check()?;
            // The request goes out on the client it was built with (`http` or `bulk`).
            let (client, request) = self.authorize(build(), &scope).await?.build_split();
            let request = request.map_err(|e| Error::Connection {
                method: "?".into(),
                url: self.host.clone(),
                reason: e.to_string(),
            })?;
            let method = request.method().clone();
            let url = request.url().to_string();
            // A byte range asked of a blob, and the manifest types accepted, are asked of a
            // redirect target too.
            let carried: HeaderMap = [reqwest::header::RANGE, ACCEPT]
                .into_iter()
                .filter_map(|h| Some((h.clone(), request.headers().get(&h)?.clone())))
                .collect();
            // One permit per request in flight: fewer while the host throttles.
            self.throttle.wait_turn().await;
            let permit = self.throttle.acquire().await;
            let started = Instant::now();
            let outcome = client.execute(request).await;
            drop(permit);
            let response = match outcome {
                Err(e) => {
                    let err = connection_error(&method, &url, &e);
                    if e.is_builder() {
                        return Err(err);
                    }
                    if let Some(gone) = self.health.failed(&failure_of(&e).short()) {
                        return Err(gone);
                    }
                    if attempt >= self.retry.attempts {
                        return Err(err);
                    }
                    crate::log::emit(1, || format!("retrying after: {err} (attempt {attempt})"));
                    tokio::time::sleep(self.retry_delay(attempt, None)).await;
                    continue;
                }
                Ok(r) => r,
            };
            let status = response.status();
            log_response(&method, &url, &response, started);
            if is_gateway_failure(status) {
                if let Some(gone) = self.health.failed(&format!("HTTP {}", status.as_u16())) {
                    return Err(gone);
                }
            } else {
                self.health.answered();
            }
            if status == StatusCode::TOO_MANY_REQUESTS {
                self.throttled(&method, &url, response.headers());
            } else if status.is_success() {
                self.throttle.succeeded();
            }
            if status == StatusCode::UNAUTHORIZED {
                self.learn_challenge(response.headers());
                let has_challenge =
                    *self.challenge.lock().expect("challenge lock") != Challenge::None;
                if !renewed && has_challenge {
                    renewed = true;
                    if matches!(
                        *self.challenge.lock().expect("challenge lock"),
                        Challenge::Bearer { .. }
                    ) {
                        // Drop the cached token of this scope: it expired early or lacks a right.
                        let slot = self.tokens.slot(&scope);
                        *slot.lock().await = None;
                    }
                    attempt -= 1;
                    continue;
                }
                let challenge = self.challenge.lock().expect("challenge lock").clone();
                if let Challenge::Bearer { realm, .. } = challenge {
                    let error = response
                        .headers()
                        .get("www-authenticate")
                        .and_then(|v| v.to_str().ok())
                        .and_then(Challenge::error_of);
                    if error.as_deref() == Some("invalid_token") {
                        // The token service gave a token (the credentials passed), which the
                        // registry does not take, even fresh.
                        return Err(self.auth_error(format!(
                            "the registry refused the token its token service {} gave ({method} {}: HTTP 401 invalid_token): the two disagree on the token's audience (`service`), issuer or signing key: check the registry's token auth settings",
                            host_and_port(&realm),
                            redact_url(&url)
                        )));
                    }
                }
                if self.signed_in.load(Ordering::Relaxed) && scope != Scope::Registry {
                    // Signed in, yet refused for this repository (a token or scope map without
                    // rights on it: Docker Hub, Harbor and ACR answer 401 insufficient_scope), or
                    // for the catalog (Docker Hub, GHCR).
                    return Err(self.scope_refused(&method, &url, &scope, &response));
                }
                return Err(self.auth_error(match self.credentials() {
                    Some(_) => format!("{} {} was refused (HTTP 401): check the user name and password or token", method, redact_url(&url)),
                    None => format!("{} {} needs credentials (HTTP 401): pass {} or sign in with docker login (or podman login){}", method, redact_url(&url), self.creds_flag(), self.store_note()),
                }));
            }
            if status == StatusCode::FORBIDDEN && !matches!(scope, Scope::Registry) {
                return Err(self.forbidden(&method, &url, &scope, response).await);
            }
            if status.is_redirection() {
                if let Some(location) = response
                    .headers()
                    .get(LOCATION)
                    .and_then(|l| l.to_str().ok())
                {
                    let followed = self
                        .follow_redirect(&scope, &method, &url, location, &carried, hops)
                        .await?;
                    let elsewhere =
                        url::Url::parse(&url).is_ok_and(|u| u.origin() != followed.url().origin());
                    if !elsewhere
                        || !matches!(
                            followed.status(),
                            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN
                        )
                    {
                        return Ok(followed);
                    }
                    // Storage refusing the signed URL it was sent to (expired while the request
                    // waited for its turn, a clock apart): the registry signs a new one.
                    let storage = redact_url(followed.url().as_str());
                    if !redirect_renewed {
                        redirect_renewed = true;
                        crate::log::emit(1, || {
                            format!(
                                "{method} {storage}: HTTP {} from the blob storage the registry redirects to: asking the registry for a new redirect",
                                followed.status().as_u16()
                            )
                        });
                        attempt -= 1;
                        continue;
                    }
                    return Err(Error::Status {
                        method: method.to_string(),
                        url: storage,
                        status: followed.status().as_u16(),
                        code: None,
                        message: Some(
                            "the blob storage the registry redirects to refused the signed URL it gave, twice (an expired signature, clocks apart, or storage access the registry lacks)".into(),
                        ),
                    });
                }
            }
            if is_transient_status(status) {
                let wait = retry_after(response.headers());
                // A wait the registry asked for and that was honoured spends no attempt (within
                // bounds): a throttle longer than the attempts does not fail the request.
                let spared = status == StatusCode::TOO_MANY_REQUESTS
                    && honoured.spare(wait.map(|w| w.min(self.retry.max_delay)));
                if spared || attempt < self.retry.attempts {
                    drop(response);
                    let failure = retried_status(status, spared);
                    self.pause_before_retry(&method, &url, &failure, attempt, wait)
                        .await;
                    if spared {
                        attempt -= 1;
                    }
                    continue;
                }
            }
            return Ok(response);
        }
    }

    /// Follows a redirect: with credentials only when it stays on the registry's own origin, and
    /// at most [`MAX_REDIRECTS`] in a row.
    async fn follow_redirect(
        &self,
        scope: &Scope,
        method: &Method,
        from: &str,
        location: &str,
        carried: &HeaderMap,
        hops: u32,
    ) -> Result<Response> {
        if hops >= MAX_REDIRECTS {
            return Err(Error::invalid(
                redact_url(from),
                format!(
                    "more than {MAX_REDIRECTS} redirects in a row: the registry's redirects loop"
                ),
            ));
        }
        let base = url::Url::parse(from).map_err(|e| Error::invalid("redirect", e.to_string()))?;
        let target = base
            .join(location)
            .map_err(|e| Error::invalid("redirect", format!("bad Location: {e}")))?;
        let same_origin = target.origin() == base.origin();
        let target_str = target.to_string();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let result = if same_origin {
                // Same origin: the registry's own client and credentials (`send` re-signs it).
                return Box::pin(self.send_after(
                    scope.clone(),
                    || {
                        self.bulk
                            .request(method.clone(), target_str.as_str())
                            .headers(carried.clone())
                    },
                    hops + 1,
                ))
                .await;
            } else {
                let client = match &self.foreign_insecure {
                    Some(insecure) if names_host(&self.insecure_hosts, &target) => insecure,
                    _ => &self.foreign,
                };
                let started = Instant::now();
                let sent = client
                    .request(method.clone(), target.clone())
                    .headers(carried.clone())
                    .send()
                    .await;
                if let Ok(r) = &sent {
                    log_response(method, &target_str, r, started);
                    // reqwest takes the user information out of the URL it sends (into an
                    // `Authorization` header): only another URL is another hop.
                    if without_user_info(r.url()) != without_user_info(&target) {
                        // Hops the storage client followed itself: the one that answered.
                        crate::log::emit(2, || {
                            format!(
                                "{method} {}: answered by {} after its redirects",
                                redact_url(&target_str),
                                redact_url(r.url().as_str())
                            )
                        });
                    }
                }
                sent
            };
            match result {
                Ok(r) if is_transient_status(r.status()) && attempt < self.retry.attempts => {
                    let wait = retry_after(r.headers());
                    tokio::time::sleep(self.retry_delay(attempt, wait)).await;
                }
                Ok(r) => return Ok(r),
                Err(e) => {
                    if let ConnectFailure::Certificate(detail) = failure_of(&e) {
                        let storage = match target.port() {
                            Some(port) => format!("{}:{port}", target.host_str().unwrap_or("")),
                            None => target.host_str().unwrap_or("").to_string(),
                        };
                        return Err(self.health.storage_untrusted(&storage, &detail));
                    }
                    if attempt >= self.retry.attempts {
                        return Err(connection_error(method, &target_str, &e));
                    }
                    tokio::time::sleep(self.retry_delay(attempt, None)).await;
                }
            }
        }
    }
}
