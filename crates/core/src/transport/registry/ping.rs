//! Opening a registry: its first request, `GET /v2/`, which learns how to sign in and checks the
//! credentials once, and what its answers mean when they are not a registry's (a redirect
//! elsewhere, a 404, a proxy's 400, a registry failing or throttling from the start).

use std::time::Instant;

use reqwest::header::LOCATION;
use reqwest::{Method, Response, StatusCode};

use super::auth::{Challenge, Scope};
use super::body::{read_prefix, ERROR_BODY_BYTES};
use super::errors::failure_of;
use super::health::ConnectFailure;
use super::retry::{is_transient_status, retried_status, retry_after, HonouredThrottles};
use super::send::log_response;
use super::Inner;
use crate::error::{Error, Mend, Result};
use crate::secret::redact_url;

/// Tries of the first request to a registry (`GET /v2/`) that a reset connection ends (a
/// timeout: two): a connection cut once on the way is not taken for a registry that is not
/// there.
const PING_TRANSPORT_ATTEMPTS: u32 = 3;

/// What a `/v2/` that redirects (HTTP `status`) to `location` means, and what to write instead:
/// plain HTTP sent on to HTTPS (a proxy's port 80), or another host (a web site, as `docker.io`
/// is; the registry's API under another name).
fn redirected_ping(host: &str, ping: &str, location: Option<&url::Url>, status: u16) -> String {
    let Some(location) = location else {
        return format!("`/v2/` answered HTTP {status} without a usable Location: not an OCI Distribution registry at this address");
    };
    let (to_host, to_port) = (
        location.host_str().unwrap_or_default(),
        location.port().map(|p| format!(":{p}")).unwrap_or_default(),
    );
    let to = format!("{to_host}{to_port}");
    let path_kept = location.path().trim_end_matches('/').ends_with("/v2");
    match (location.scheme(), path_kept) {
        ("https", true) if ping.starts_with("http://") && to == host => format!(
            "the registry sends plain HTTP on to HTTPS (HTTP {status}): write `{host}` without `http://`"
        ),
        ("https", true) => format!(
            "`/v2/` redirects (HTTP {status}) to the registry at {to}: write `{to}` instead of `{host}`"
        ),
        (scheme, true) => format!(
            "`/v2/` redirects (HTTP {status}) to the registry at {scheme}://{to}: write `{scheme}://{to}` instead"
        ),
        _ => format!(
            "`/v2/` redirects (HTTP {status}) to {}://{to}{}, which is not a registry's API: this address is not an OCI Distribution registry (a web site?): check the registry's name",
            location.scheme(),
            location.path()
        ),
    }
}

impl Inner {
    /// `GET /v2/`: learns the challenge, and checks the credentials once so a wrong password fails
    /// the run at once with one clear line. A registry that cannot be reached fails at once (a
    /// connection refused, a name that does not resolve, a certificate: a wrong host, port or
    /// scheme); a connection reset is tried [`PING_TRANSPORT_ATTEMPTS`] times (a connection cut
    /// once on the way), a timeout twice; a 429 or a 5xx (throttled while many runs start, a brief
    /// outage) is asked again like any request.
    pub(super) async fn ping(&self) -> Result<()> {
        let url = format!("{}/v2/", self.base_url);
        let mut attempt = 0u32;
        let mut cut = 0u32;
        let mut honoured = HonouredThrottles::default();
        let response = loop {
            attempt += 1;
            let started = Instant::now();
            let response = match self.http.get(&url).send().await {
                Ok(response) => response,
                Err(e) => {
                    let failure = failure_of(&e);
                    cut += 1;
                    // A timeout is tried twice only: a registry that takes connections and never
                    // answers is said within two timeouts, not three.
                    let tries = match failure {
                        ConnectFailure::Reset(_) => PING_TRANSPORT_ATTEMPTS,
                        ConnectFailure::TimedOut => 2,
                        _ => 1,
                    };
                    if cut >= tries {
                        return Err(self.health.unreachable_at_start(&failure));
                    }
                    self.pause_before_retry(&Method::GET, &url, &failure.short(), attempt, None)
                        .await;
                    continue;
                }
            };
            log_response(&Method::GET, &url, &response, started);
            self.health.answered();
            let status = response.status();
            if !is_transient_status(status) {
                break response;
            }
            let wait = retry_after(response.headers());
            let spared = status == StatusCode::TOO_MANY_REQUESTS
                && honoured.spare(wait.map(|w| w.min(self.retry.max_delay)));
            if !spared && attempt >= self.retry.attempts {
                break response;
            }
            if status == StatusCode::TOO_MANY_REQUESTS {
                self.throttled(&Method::GET, &url, response.headers());
            }
            drop(response);
            let failure = retried_status(status, spared);
            self.pause_before_retry(&Method::GET, &url, &failure, attempt, wait)
                .await;
            if spared {
                attempt -= 1;
            }
        };
        match response.status() {
            s if s.is_success() => Ok(()),
            StatusCode::UNAUTHORIZED => {
                self.learn_challenge(response.headers());
                if self.acr
                    && self.credentials().is_some()
                    && *self.challenge.lock().expect("challenge lock") == Challenge::None
                {
                    // An ACR-like server that asks for credentials without saying how (ACR's
                    // data-plane spec served by a mock): its spec says Basic.
                    *self.challenge.lock().expect("challenge lock") = Challenge::Basic;
                }
                // Fetch a registry-level token (or check Basic credentials) right away.
                let probe = self.send(Scope::Registry, || self.http.get(&url)).await?;
                if probe.status().is_success() || probe.status() == StatusCode::NOT_FOUND {
                    Ok(())
                } else if probe.status().is_server_error()
                    || probe.status() == StatusCode::TOO_MANY_REQUESTS
                {
                    // Failing after the credentials passed: the registry's fault, not theirs.
                    Err(self.failing_at_start(probe).await)
                } else {
                    Err(self
                        .auth_error(format!("`/v2/` answered HTTP {}", probe.status().as_u16())))
                }
            }
            StatusCode::NOT_FOUND => Err(Error::InvalidEndpoint {
                input: self.host.clone(),
                reason: "`/v2/` answered 404: not an OCI Distribution registry".into(),
            }),
            StatusCode::PROXY_AUTHENTICATION_REQUIRED => Err(Error::Unreachable {
                side: self.health.side().to_string(),
                host: self.host.clone(),
                reason: crate::transport::proxy::auth_wanted(&url),
                mid_run: false,
                mend: Mend::Elsewhere,
            }),
            s if s.is_redirection() => {
                let location = response
                    .headers()
                    .get(LOCATION)
                    .and_then(|l| l.to_str().ok())
                    .and_then(|l| url::Url::parse(&url).ok()?.join(l).ok());
                Err(Error::Unreachable {
                    side: self.health.side().to_string(),
                    host: self.host.clone(),
                    reason: redirected_ping(&self.host, &url, location.as_ref(), s.as_u16()),
                    mid_run: false,
                    mend: Mend::Endpoint,
                })
            }
            StatusCode::BAD_REQUEST => {
                let body = read_prefix(response, ERROR_BODY_BYTES, &url).await;
                let text = String::from_utf8_lossy(&body);
                // nginx in front of a registry that requires mutual TLS (Harbor's ingress):
                // "No required SSL certificate was sent", "The SSL certificate error".
                if text.contains("SSL certificate") {
                    return Err(self.health.unreachable_at_start(&ConnectFailure::ClientCertificate(
                        "HTTP 400: its proxy says `No required SSL certificate was sent` or refused the one sent".into(),
                    )));
                }
                // Go's TLS servers (Distribution, Harbor, Zot) answer a plain request with
                // "Client sent an HTTP request to an HTTPS server".
                if self.base_url.starts_with("http://") && text.contains("HTTPS server") {
                    return Err(Error::Unreachable {
                        side: self.health.side().to_string(),
                        host: self.host.clone(),
                        reason: format!(
                            "the registry answers HTTPS, not plain HTTP: write `{}` without `http://`",
                            self.host
                        ),
                        mid_run: false,
                        mend: Mend::Endpoint,
                    });
                }
                Err(Error::Status {
                    method: "GET".into(),
                    url: redact_url(&url),
                    status: 400,
                    code: None,
                    message: None,
                })
            }
            s if s.is_server_error() || s == StatusCode::TOO_MANY_REQUESTS => {
                Err(self.failing_at_start(response).await)
            }
            _ => Err(self.status_error(&Method::GET, &url, response).await),
        }
    }

    /// A `/v2/` that still answers a 5xx (or 429) after the tries a request gets: the registry
    /// (or a proxy before it) is failing; said with the side, its answer and what to do.
    async fn failing_at_start(&self, response: Response) -> Error {
        let url = format!("{}/v2/", self.base_url);
        let status = response.status();
        let tries = match is_transient_status(status) {
            true => format!(", after {} tries", self.retry.attempts),
            false => String::new(),
        };
        let answer = self.status_error(&Method::GET, &url, response).await;
        let state = match status {
            StatusCode::TOO_MANY_REQUESTS => "the registry is throttling this client",
            _ => "the registry is failing",
        };
        Error::Unreachable {
            side: self.health.side().to_string(),
            host: self.host.clone(),
            reason: format!(
                "{state} ({answer}{tries}): try again later, or look at the registry's (or its proxy's) logs"
            ),
            mid_run: false,
            mend: Mend::Elsewhere,
        }
    }
}
