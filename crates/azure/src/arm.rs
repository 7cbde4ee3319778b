//! The Azure Resource Manager client: every call carries `api-version` and a bearer token, is
//! retried on 429 and 5xx (a 429's `Retry-After` waited out in full, without spending an attempt
//! within bounds, as the registry client does for registries), turns
//! ARM's error envelope into [`AzureError::Arm`], and follows long-running operations
//! (`Azure-AsyncOperation` or `Location`, with `Retry-After`) to their end.
//!
//! Written on reqwest rather than on azure_core's pipeline: the calls here are a dozen plain JSON
//! requests, and the polling rules (which URL to poll, when the token may be sent) are the part
//! that matters and is kept visible here.

use std::time::{Duration, Instant};

use acr_relocate::log;
use acr_relocate::transport::registry::{
    is_transient_status, retry_after, HonouredThrottles, RetryPolicy,
};
use bytes::Bytes;
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use url::Url;

use crate::credential::{arm_scope, AzureSignIn};
use crate::error::{AzureError, Result};
use crate::http::describe;

/// The public cloud's ARM endpoint.
pub const DEFAULT_ENDPOINT: &str = "https://management.azure.com";

/// Most pages of one ARM listing that are read: a listing whose page [`MAX_LIST_PAGES`] still has a
/// `nextLink` is an error (the link loops, or the collection is beyond what this tool handles),
/// never a silently partial list.
pub const MAX_LIST_PAGES: usize = 1000;

/// The longest one `Retry-After` of a 429 is waited (ARM asks for seconds to minutes while its
/// write bucket refills; a longer ask is taken as this).
pub const MAX_THROTTLE_WAIT: Duration = Duration::from_secs(10 * 60);

/// How many 429s with a `Retry-After` one call may wait out without spending an attempt.
pub const HONOURED_THROTTLES: u32 = 30;

/// How long one call may wait in all on 429s that spend no attempt: past it, each 429 spends one
/// again, so a throttle that never lifts still ends the call.
pub const HONOURED_THROTTLE_TIME: Duration = Duration::from_secs(30 * 60);

/// The throttles one call may wait out without spending an attempt: [`HONOURED_THROTTLES`]
/// within [`HONOURED_THROTTLE_TIME`] (the registry client's bookkeeping, with ARM's bounds).
fn honoured() -> HonouredThrottles {
    HonouredThrottles::within(HONOURED_THROTTLES, HONOURED_THROTTLE_TIME)
}

/// What [`ArmClient::next_try`] decided.
#[derive(Debug, PartialEq, Eq)]
enum NextTry {
    /// ARM throttled the call and said how long to wait: wait that, then send again; `spared`
    /// when the attempt is not counted.
    Throttled {
        /// The wait (its `Retry-After`, capped at [`MAX_THROTTLE_WAIT`]).
        delay: Duration,
        /// True when it spends no attempt.
        spared: bool,
    },
    /// Back off this long, then send again.
    Retry(Duration),
    /// The attempts are spent: the last error stands.
    GiveUp,
}

/// A response from ARM, whole (ARM bodies are small JSON documents).
#[derive(Debug)]
pub struct ArmResponse {
    /// HTTP status.
    pub status: StatusCode,
    /// Headers.
    pub headers: HeaderMap,
    /// Body bytes.
    pub body: Bytes,
}

impl ArmResponse {
    /// The body as JSON (`Null` when empty).
    pub fn json(&self, operation: &str) -> Result<Value> {
        if self.body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&self.body).map_err(|e| AzureError::Protocol {
            operation: operation.into(),
            message: format!("the body is not JSON: {e}"),
        })
    }

    /// True for a `202 Accepted` with nothing to follow (neither `Azure-AsyncOperation` nor
    /// `Location`): ARM took the request and will say no more about it.
    pub fn nothing_to_poll(&self) -> bool {
        self.status == StatusCode::ACCEPTED
            && self.header("azure-asyncoperation").is_none()
            && self.header("location").is_none()
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty())
    }
}

/// A client for one ARM endpoint.
#[derive(Clone, Debug)]
pub struct ArmClient {
    http: reqwest::Client,
    base: Url,
    sign_in: AzureSignIn,
    /// The token scope that goes with the endpoint (`https://management.azure.com/.default`).
    scope: String,
    retry: RetryPolicy,
    /// Wait between polls of a long-running operation that sends no `Retry-After`.
    pub poll_interval: Duration,
    /// Longest a long-running operation is waited for.
    pub operation_timeout: Duration,
}

impl ArmClient {
    /// A client for `endpoint` (`https://management.azure.com`, a sovereign cloud's, or a test
    /// server's). Plain `http://` only when written explicitly.
    pub fn new(endpoint: &str, sign_in: AzureSignIn, http: reqwest::Client) -> Result<Self> {
        let base = Url::parse(endpoint.trim_end_matches('/')).map_err(|e| {
            AzureError::Invalid(format!(
                "--arm-endpoint {endpoint:?} is not a URL ({e}); expected for example {DEFAULT_ENDPOINT}"
            ))
        })?;
        let loopback = matches!(base.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
        if !(base.scheme() == "https" || (base.scheme() == "http" && loopback))
            || base.host_str().is_none()
        {
            return Err(AzureError::Invalid(format!(
                "--arm-endpoint {endpoint:?} must be an https:// URL such as {DEFAULT_ENDPOINT} (plain http only on this machine's loopback)"
            )));
        }
        Ok(ArmClient {
            http,
            scope: arm_scope(&base),
            base,
            sign_in,
            retry: RetryPolicy::default(),
            poll_interval: Duration::from_secs(5),
            operation_timeout: Duration::from_secs(4 * 3600),
        })
    }

    /// The URL of `path` (starting with `/`, already in the spec's casing) with `api-version` and
    /// `query` (values percent-encoded, spaces as `%20` as OData filters want).
    pub fn url(&self, path: &str, api_version: &str, query: &[(&str, &str)]) -> Url {
        let mut text = format!(
            "{}{}?api-version={}",
            self.base.as_str().trim_end_matches('/'),
            path,
            encode(api_version)
        );
        for (k, v) in query {
            text.push('&');
            text.push_str(k);
            text.push('=');
            text.push_str(&encode(v));
        }
        Url::parse(&text).expect("a path of checked segments makes a URL")
    }

    /// Sends one call (with retries) and returns ARM's answer when it is a success.
    pub async fn call(
        &self,
        method: Method,
        url: Url,
        body: Option<&Value>,
        operation: &str,
    ) -> Result<ArmResponse> {
        let response = self.send(method, url, body, operation).await?;
        if response.status.is_success() {
            Ok(response)
        } else {
            Err(error_of(&response, operation))
        }
    }

    /// Sends one call (with retries on 429, 5xx and connection failures) and returns whatever ARM
    /// finally answered, success or not. A 429's `Retry-After` is waited out in full (up to
    /// [`MAX_THROTTLE_WAIT`] each) and, within [`HONOURED_THROTTLES`] and
    /// [`HONOURED_THROTTLE_TIME`], spends none of the attempts: ARM's write throttling is a token
    /// bucket that refills at its own pace, and a run of many `importImage` calls must wait for it
    /// rather than fail.
    pub async fn send(
        &self,
        method: Method,
        url: Url,
        body: Option<&Value>,
        operation: &str,
    ) -> Result<ArmResponse> {
        let mut attempt = 0u32;
        let mut throttles = honoured();
        loop {
            attempt += 1;
            let mut request = self.http.request(method.clone(), url.clone());
            if self.same_origin(&url) {
                let token = self.sign_in.token(&self.scope).await?;
                request = request.bearer_auth(token.expose());
            }
            if let Some(b) = body {
                request = request.json(b);
            }
            let outcome = request.send().await;
            let (status, wait, error) = match outcome {
                Ok(response) => {
                    let status = response.status();
                    let headers = response.headers().clone();
                    log::emit(2, || {
                        format!("ARM {method} {} -> {}", url.path(), status.as_u16())
                    });
                    match response.bytes().await {
                        Ok(body) => {
                            let answer = ArmResponse {
                                status,
                                headers,
                                body,
                            };
                            if !is_transient_status(status) {
                                return Ok(answer);
                            }
                            let wait = retry_after(&answer.headers);
                            (Some(status), wait, error_of(&answer, operation))
                        }
                        Err(e) => (None, None, connection(operation, &e)),
                    }
                }
                Err(e) => (None, None, connection(operation, &e)),
            };
            match self.next_try(&mut throttles, attempt, status, wait) {
                NextTry::GiveUp => return Err(error),
                NextTry::Throttled { delay, spared } => {
                    log::emit(1, || {
                        format!(
                            "ARM is throttling: waiting {}s (Retry-After) before sending {operation} again{}",
                            delay.as_secs(),
                            if spared { "" } else { " (counted as an attempt)" }
                        )
                    });
                    if spared {
                        attempt -= 1;
                    }
                    tokio::time::sleep(delay).await;
                }
                NextTry::Retry(delay) => {
                    log::emit(1, || {
                        format!("retrying ARM {operation} in {delay:?}: {error}")
                    });
                    tokio::time::sleep(delay).await;
                }
            }
        }
    }

    /// What to do after attempt `attempt` failed with `status` (`None`: no answer) and
    /// `retry_after`: wait out a 429's `Retry-After` in full (capped at [`MAX_THROTTLE_WAIT`]),
    /// spending no attempt while `throttles` allows it; back off before any other retry; give up
    /// once the attempts are spent.
    fn next_try(
        &self,
        throttles: &mut HonouredThrottles,
        attempt: u32,
        status: Option<StatusCode>,
        retry_after: Option<Duration>,
    ) -> NextTry {
        let asked = retry_after
            .filter(|w| !w.is_zero())
            .map(|w| w.min(MAX_THROTTLE_WAIT));
        if let (Some(StatusCode::TOO_MANY_REQUESTS), Some(delay)) = (status, asked) {
            let spared = throttles.spare(Some(delay));
            if spared || attempt < self.retry.attempts {
                return NextTry::Throttled { delay, spared };
            }
            return NextTry::GiveUp;
        }
        if attempt >= self.retry.attempts {
            return NextTry::GiveUp;
        }
        NextTry::Retry(self.retry.delay(attempt, retry_after))
    }

    /// GET a resource as JSON; `None` when ARM answers 404.
    pub async fn get_optional(&self, url: Url, operation: &str) -> Result<Option<Value>> {
        let response = self.send(Method::GET, url, None, operation).await?;
        if response.status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !response.status.is_success() {
            return Err(error_of(&response, operation));
        }
        response.json(operation).map(Some)
    }

    /// GET a resource as JSON.
    pub async fn get(&self, url: Url, operation: &str) -> Result<Value> {
        self.call(Method::GET, url, None, operation)
            .await?
            .json(operation)
    }

    /// Every item of an ARM listing (`{"value": [...], "nextLink": ...}`), all pages: `nextLink` is
    /// followed while it stays on this client's endpoint, for at most [`MAX_LIST_PAGES`] pages.
    pub async fn list(&self, first: Url, operation: &str) -> Result<Vec<Value>> {
        let mut items = Vec::new();
        let mut url = first;
        let mut pages_read = 0;
        loop {
            let page = self.get(url, operation).await?;
            pages_read += 1;
            items.extend(page["value"].as_array().cloned().unwrap_or_default());
            match self.next_page(&page, pages_read, items.len(), operation)? {
                Some(next) => url = next,
                None => return Ok(items),
            }
        }
    }

    /// The page to read after `page`, the `pages_read`th of a listing that has given
    /// `items_read` items so far: `None` at the end. A `nextLink` that is not a URL, leaves the
    /// endpoint's origin, or comes after [`MAX_LIST_PAGES`] pages is an error.
    fn next_page(
        &self,
        page: &Value,
        pages_read: usize,
        items_read: usize,
        operation: &str,
    ) -> Result<Option<Url>> {
        let Some(link) = page["nextLink"].as_str().filter(|l| !l.is_empty()) else {
            return Ok(None);
        };
        let protocol = |message: String| AzureError::Protocol {
            operation: operation.into(),
            message,
        };
        let next = Url::parse(link).map_err(|e| protocol(format!("nextLink is not a URL: {e}")))?;
        if !self.same_origin(&next) {
            return Err(protocol(format!(
                "nextLink leads to {}, not to {}: not followed, so the list would be incomplete",
                next.origin().ascii_serialization(),
                self.base.origin().ascii_serialization()
            )));
        }
        if pages_read >= MAX_LIST_PAGES {
            return Err(protocol(format!(
                "still a nextLink after {pages_read} pages ({items_read} items): stopped rather than go on with a partial list"
            )));
        }
        Ok(Some(next))
    }

    /// Follows a long-running operation started by `initial` to its end and returns its result:
    /// for a PUT, the resource read again at `resource` once the operation succeeded; for a POST,
    /// the body of the final `Location` (or the first answer's body when it finished at once).
    pub async fn complete(
        &self,
        initial: ArmResponse,
        resource: Option<&Url>,
        operation: &str,
    ) -> Result<Value> {
        let started = Instant::now();
        let async_operation = initial.header("azure-asyncoperation").map(str::to_string);
        let location = initial.header("location").map(str::to_string);
        let state = provisioning_state(&initial);
        let pending = initial.status == StatusCode::ACCEPTED
            || (async_operation.is_some() && !is_terminal(&state))
            || (!state.is_empty() && !is_terminal(&state));
        if !pending {
            return initial.json(operation);
        }
        let mut wait = retry_after(&initial.headers);
        if let Some(status_url) = async_operation {
            let status_url = self.resolve(&status_url, operation)?;
            loop {
                let answer = self
                    .poll_once(&status_url, &mut wait, started, operation)
                    .await?;
                wait = retry_after(&answer.headers);
                let body = answer.json(operation)?;
                let status = body["status"].as_str().unwrap_or("").to_string();
                log::emit(1, || format!("{operation}: {status}"));
                match status.to_ascii_lowercase().as_str() {
                    "succeeded" => break,
                    "failed" | "canceled" | "cancelled" => {
                        return Err(operation_failed(operation, status, &body["error"]));
                    }
                    _ => continue,
                }
            }
            return match (resource, location) {
                (Some(url), _) => self.get(url.clone(), operation).await,
                (None, Some(loc)) => {
                    let url = self.resolve(&loc, operation)?;
                    self.poll_location(url, started, None, operation).await
                }
                (None, None) => Ok(Value::Null),
            };
        }
        match (location, resource) {
            (Some(loc), resource) => {
                let url = self.resolve(&loc, operation)?;
                let result = self.poll_location(url, started, wait, operation).await?;
                match resource {
                    // A PUT ends with the resource as it now is.
                    Some(url) => self.get(url.clone(), operation).await,
                    None => Ok(result),
                }
            }
            // A PUT answered with a running provisioningState and nothing to poll: poll the
            // resource itself.
            (None, Some(url)) => self.poll_resource(url, started, wait, operation).await,
            // Accepted with nothing to poll: nothing more to learn.
            (None, None) => initial.json(operation),
        }
    }

    async fn poll_resource(
        &self,
        url: &Url,
        started: Instant,
        mut wait: Option<Duration>,
        operation: &str,
    ) -> Result<Value> {
        loop {
            let answer = self.poll_once(url, &mut wait, started, operation).await?;
            wait = retry_after(&answer.headers);
            let state = provisioning_state(&answer);
            let body = answer.json(operation)?;
            match state.to_ascii_lowercase().as_str() {
                "failed" | "canceled" => {
                    return Err(operation_failed(
                        operation,
                        state,
                        &body["properties"]["error"],
                    ))
                }
                "succeeded" | "" => return Ok(body),
                _ => continue,
            }
        }
    }

    async fn poll_location(
        &self,
        url: Url,
        started: Instant,
        mut wait: Option<Duration>,
        operation: &str,
    ) -> Result<Value> {
        loop {
            let answer = self.poll_once(&url, &mut wait, started, operation).await?;
            if answer.status == StatusCode::ACCEPTED {
                log::emit(1, || format!("{operation}: still running"));
                wait = retry_after(&answer.headers);
                continue;
            }
            return answer.json(operation);
        }
    }

    /// One poll of a long-running operation: waits as [`Self::pause`] says, then GETs `url`.
    async fn poll_once(
        &self,
        url: &Url,
        wait: &mut Option<Duration>,
        started: Instant,
        operation: &str,
    ) -> Result<ArmResponse> {
        self.pause(wait, started, operation).await?;
        self.call(Method::GET, url.clone(), None, operation).await
    }

    /// Waits `wait` (the last `Retry-After`, taken) or the poll interval, at most a minute; an
    /// error once the operation has run longer than the operation timeout.
    async fn pause(
        &self,
        wait: &mut Option<Duration>,
        started: Instant,
        operation: &str,
    ) -> Result<()> {
        if started.elapsed() > self.operation_timeout {
            return Err(AzureError::Connection {
                operation: operation.into(),
                message: format!(
                    "still running after {} minutes; it goes on in Azure: check the portal or run the command again",
                    self.operation_timeout.as_secs() / 60
                ),
            });
        }
        let delay = wait
            .take()
            .unwrap_or(self.poll_interval)
            .min(Duration::from_secs(60));
        tokio::time::sleep(delay).await;
        Ok(())
    }

    /// A polling URL, absolute or relative to the endpoint.
    fn resolve(&self, text: &str, operation: &str) -> Result<Url> {
        self.base.join(text).map_err(|e| AzureError::Protocol {
            operation: operation.into(),
            message: format!("polling URL {text:?} is not a URL: {e}"),
        })
    }

    /// The token is only sent to the ARM endpoint itself: a polling URL on another origin is
    /// fetched without it.
    fn same_origin(&self, url: &Url) -> bool {
        url.scheme() == self.base.scheme()
            && url.host_str() == self.base.host_str()
            && url.port_or_known_default() == self.base.port_or_known_default()
    }
}

/// A long-running operation that ended `status` (`Failed`, `Canceled`), with the code and message
/// of its `error` object.
fn operation_failed(operation: &str, status: String, error: &Value) -> AzureError {
    AzureError::OperationFailed {
        operation: operation.into(),
        status,
        code: masked(error["code"].as_str().unwrap_or("Unknown")),
        message: masked(error["message"].as_str().unwrap_or("no message")),
    }
}

/// `text` (written by ARM, or a proxy before it) without secrets: the access tokens this process
/// was given, and anything shaped as a `Bearer`/`Basic` credential or a JWT, as the registry
/// client masks what a registry writes ([`acr_relocate::secret::mask_secrets`]). A service that
/// echoes the request's `Authorization` header in its error shows nothing of it.
pub(crate) fn masked(text: &str) -> String {
    let issued = crate::credential::issued_tokens();
    // The service principal's secret too: a sign-in error that quoted its request would hold it.
    let client_secret = std::env::var("AZURE_CLIENT_SECRET").unwrap_or_default();
    let mut known: Vec<&str> = issued.iter().map(|t| t.expose()).collect();
    known.push(&client_secret);
    acr_relocate::secret::mask_secrets(text, &known)
}

fn provisioning_state(response: &ArmResponse) -> String {
    serde_json::from_slice::<Value>(&response.body)
        .ok()
        .and_then(|v| {
            v["properties"]["provisioningState"]
                .as_str()
                .map(str::to_string)
        })
        .unwrap_or_default()
}

fn is_terminal(state: &str) -> bool {
    matches!(
        state.to_ascii_lowercase().as_str(),
        "succeeded" | "failed" | "canceled"
    )
}

/// ARM's error envelope as an error: `{"error":{"code","message"}}` (also the bare
/// `{"code","message"}` some operations send), its secrets [`masked`].
pub fn error_of(response: &ArmResponse, operation: &str) -> AzureError {
    let body: Value = serde_json::from_slice(&response.body).unwrap_or(Value::Null);
    let envelope = if body["error"].is_object() {
        &body["error"]
    } else {
        &body
    };
    let code = envelope["code"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| {
            response
                .status
                .canonical_reason()
                .unwrap_or("Error")
                .replace(' ', "")
        });
    let mut message = envelope["message"]
        .as_str()
        .map(|m| m.split_whitespace().collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|| "no message".into());
    // Deployment errors put the cause in `details`.
    if let Some(detail) = envelope["details"].as_array().and_then(|d| d.first()) {
        if let (Some(c), Some(m)) = (detail["code"].as_str(), detail["message"].as_str()) {
            message.push_str(&format!(
                " [{c}: {}]",
                m.split_whitespace().collect::<Vec<_>>().join(" ")
            ));
        }
    }
    AzureError::Arm {
        operation: operation.into(),
        status: response.status.as_u16(),
        code: masked(&code),
        message: masked(&message),
    }
}

fn connection(operation: &str, error: &reqwest::Error) -> AzureError {
    AzureError::Connection {
        operation: operation.into(),
        message: describe(error),
    }
}

/// Percent-encodes a query value (RFC 3986 unreserved characters kept; space as `%20`).
fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(status: u16, body: &str) -> ArmResponse {
        ArmResponse {
            status: StatusCode::from_u16(status).unwrap(),
            headers: HeaderMap::new(),
            body: Bytes::from(body.to_string()),
        }
    }

    #[test]
    fn error_envelopes_become_one_line_with_code_and_message() {
        let e = error_of(
            &response(
                403,
                r#"{"error":{"code":"AuthorizationFailed","message":"The client 'x' does not have\nauthorization"}}"#,
            ),
            "GET registry",
        );
        assert_eq!(
            e.to_string(),
            "ARM GET registry: AuthorizationFailed: The client 'x' does not have authorization (HTTP 403)"
        );
        let e = error_of(
            &response(
                400,
                r#"{"error":{"code":"InvalidTemplateDeployment","message":"failed","details":[{"code":"AlreadyInUse","message":"taken"}]}}"#,
            ),
            "deploy",
        );
        assert!(e.to_string().contains("failed [AlreadyInUse: taken]"));
        let e = error_of(&response(502, "<html>"), "x");
        assert!(e.to_string().contains("BadGateway"));
    }

    #[test]
    fn a_token_arm_echoes_in_an_error_or_an_operation_failure_is_masked() {
        let jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlLXZhbHVl";
        let e = error_of(
            &response(
                403,
                &format!(r#"{{"error":{{"code":"AuthorizationFailed","message":"The client with token Bearer {jwt} does not have authorization","details":[{{"code":"Echo","message":"header Authorization: Bearer opaqueTOKEN123456"}}]}}}}"#),
            ),
            "GET registry r",
        )
        .to_string();
        assert!(!e.contains(jwt), "{e}");
        assert!(!e.contains("opaqueTOKEN123456"), "{e}");
        assert!(
            e.contains("The client with token Bearer <redacted> does not have authorization"),
            "{e}"
        );
        let e = operation_failed(
            "deployment d",
            "Failed".into(),
            &serde_json::json!({"code": "Conflict", "message": format!("token {jwt} refused")}),
        )
        .to_string();
        assert!(!e.contains(jwt), "{e}");
        // A token this process was given is masked wherever it stands, shaped or not.
        remember_for_test("plainissuedtoken42");
        assert_eq!(masked("echo: plainissuedtoken42."), "echo: <redacted>.");
    }

    fn remember_for_test(token: &str) {
        crate::credential::remember_issued(&acr_relocate::secret::Secret::new(token));
    }

    /// A client for `endpoint` that never signs in (no request is sent by these tests).
    fn client(endpoint: &str) -> ArmClient {
        let http = reqwest::Client::new();
        let sign_in =
            AzureSignIn::new(crate::credential::CredentialKind::AzureCli, http.clone()).unwrap();
        ArmClient::new(endpoint, sign_in, http).unwrap()
    }

    #[test]
    fn a_listing_follows_next_links_on_its_own_endpoint_only() {
        let arm = client("https://management.azure.com");
        let next = |page: Value| arm.next_page(&page, 1, 1, "list webhooks of r");
        assert_eq!(next(serde_json::json!({"value": [1]})).unwrap(), None);
        assert_eq!(
            next(serde_json::json!({"value": [1], "nextLink": ""})).unwrap(),
            None
        );
        let link = "https://management.azure.com/subscriptions/s/x?api-version=1&$skiptoken=2";
        assert_eq!(
            next(serde_json::json!({"nextLink": link})).unwrap(),
            Some(Url::parse(link).unwrap())
        );
        let elsewhere = next(serde_json::json!({"nextLink": "https://evil.example/x"}))
            .unwrap_err()
            .to_string();
        assert!(
            elsewhere.contains("list webhooks of r")
                && elsewhere.contains("https://evil.example")
                && elsewhere.contains("not followed"),
            "{elsewhere}"
        );
        assert!(next(serde_json::json!({"nextLink": "/relative"})).is_err());
    }

    #[test]
    fn a_listing_longer_than_the_bound_is_an_error_not_a_partial_list() {
        let arm = client("https://management.azure.com");
        let page = serde_json::json!({"nextLink": "https://management.azure.com/next"});
        assert!(arm
            .next_page(&page, MAX_LIST_PAGES - 1, 10, "list tokens of r")
            .unwrap()
            .is_some());
        let error = arm
            .next_page(&page, MAX_LIST_PAGES, 12_345, "list tokens of r")
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("list tokens of r")
                && error.contains(&format!("after {MAX_LIST_PAGES} pages"))
                && error.contains("12345 items")
                && error.contains("partial list"),
            "{error}"
        );
    }

    /// A 429's `Retry-After` is waited in full (60 s is not cut to 20 s), up to 10 minutes a
    /// wait, and spends no attempt while the count and time bounds allow: seven throttles in a row
    /// (more than the six attempts) are all waited out. Past the bounds a throttle spends an
    /// attempt again; other failures back off and spend attempts as before.
    #[test]
    fn a_throttles_retry_after_is_waited_in_full_and_spends_no_attempt_within_bounds() {
        let arm = client("https://management.azure.com");
        let throttled = Some(StatusCode::TOO_MANY_REQUESTS);
        let secs = Duration::from_secs;
        let mut t = honoured();
        for _ in 0..7 {
            assert_eq!(
                arm.next_try(&mut t, 1, throttled, Some(secs(60))),
                NextTry::Throttled {
                    delay: secs(60),
                    spared: true
                }
            );
        }
        assert_eq!(
            arm.next_try(&mut honoured(), 1, throttled, Some(secs(7200))),
            NextTry::Throttled {
                delay: MAX_THROTTLE_WAIT,
                spared: true
            }
        );
        // The time bound: three waits of 10 minutes fill the 30 minutes; the fourth counts.
        let mut t = honoured();
        let long = Some(MAX_THROTTLE_WAIT);
        for _ in 0..3 {
            assert!(matches!(
                arm.next_try(&mut t, 1, throttled, long),
                NextTry::Throttled { spared: true, .. }
            ));
        }
        assert_eq!(
            arm.next_try(&mut t, 1, throttled, long),
            NextTry::Throttled {
                delay: MAX_THROTTLE_WAIT,
                spared: false
            }
        );
        assert_eq!(arm.next_try(&mut t, 6, throttled, long), NextTry::GiveUp);
        // The count bound.
        let mut t = honoured();
        let spared = (0..100)
            .take_while(|_| {
                matches!(
                    arm.next_try(&mut t, 1, throttled, Some(secs(1))),
                    NextTry::Throttled { spared: true, .. }
                )
            })
            .count();
        assert_eq!(spared as u32, HONOURED_THROTTLES);
        // A 429 without Retry-After, a 503, a lost connection: backoff, counted.
        let mut t = honoured();
        for status in [throttled, Some(StatusCode::SERVICE_UNAVAILABLE), None] {
            assert!(matches!(
                arm.next_try(&mut t, 1, status, None),
                NextTry::Retry(_)
            ));
            assert_eq!(arm.next_try(&mut t, 6, status, None), NextTry::GiveUp);
        }
        assert_eq!(
            arm.next_try(
                &mut t,
                1,
                Some(StatusCode::SERVICE_UNAVAILABLE),
                Some(secs(60))
            ),
            NextTry::Retry(secs(20)),
            "a 5xx's Retry-After keeps the backoff's cap"
        );
    }

    #[test]
    fn an_accepted_answer_without_an_operation_to_follow_is_told_apart() {
        let mut accepted = response(202, "");
        assert!(accepted.nothing_to_poll());
        accepted.headers.insert(
            "location",
            "https://management.azure.com/op/1".parse().unwrap(),
        );
        assert!(!accepted.nothing_to_poll());
        assert!(!response(200, "").nothing_to_poll());
    }

    #[test]
    fn query_values_are_percent_encoded_with_spaces_as_20() {
        assert_eq!(
            encode("principalId eq 'a-b'"),
            "principalId%20eq%20%27a-b%27"
        );
    }
}
