//! The OCI Distribution transport: a registry over HTTP(S).
//!
//! One [`reqwest::Client`] per registry keeps connections alive; every request goes through
//! [`Registry::send`], which signs it ([`auth`]), retries connection errors, 5xx and 429 with
//! jittered exponential backoff (honouring `Retry-After`, whose waits spend no attempt within
//! bounds), and follows redirects by hand so that credentials are only ever sent to the
//! registry's own origin.
//!
//! Blob transfers survive interruptions by byte: a download that breaks off asks again with
//! `Range`, and a chunked upload whose PATCH fails asks the registry where the upload stands and
//! goes on from there, with the source reopened at that offset and the digest check carried across
//! (see [`crate::digest::BlobContent`]).

pub mod acr;
pub mod auth;
pub mod health;
mod links;
pub mod throttle;
mod tls;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use reqwest::header::{HeaderMap, HeaderValue, ACCEPT, CONTENT_LENGTH, CONTENT_TYPE, LOCATION};
use reqwest::{Method, RequestBuilder, Response, StatusCode};

pub use auth::{Challenge, Credentials, Scope};
use auth::{Token, TokenCache};
use health::{side_flag, ConnectFailure, Health};

use super::{ConnectOptions, Destination, Source};
use crate::digest::{BlobContent, ByteStream, Digest, Resumer};
use crate::endpoint::RegistryEndpoint;
use crate::error::{Error, Mend, Result};
use crate::manifest::{
    RawManifest, Reference, ACCEPT as MANIFEST_ACCEPT, MAX_MANIFEST_BYTES, OCI_INDEX,
};
use crate::referrers::{fallback_tag, is_fallback_tag, Merged};
use crate::secret::{redact_url, Secret};

/// Blobs above this size are uploaded in chunks of it: some proxies and registries cap the size of
/// one request body, and a chunk is what a failed request costs.
pub const DEFAULT_CHUNK_SIZE: u64 = 512 * 1024 * 1024;

/// How requests are retried.
#[derive(Clone, Debug)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (a 429 whose `Retry-After` was waited out does not
    /// count, up to 30 of them and 10 minutes of their waits per request).
    pub attempts: u32,
    /// First backoff.
    pub base_delay: Duration,
    /// Longest single wait (also caps `Retry-After`).
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 6,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(20),
        }
    }
}

impl RetryPolicy {
    /// The wait before attempt `attempt` (1-based retries), with jitter, or the server's
    /// `Retry-After` when it gave one.
    pub fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(r) = retry_after {
            return r.min(self.max_delay);
        }
        let exp = self.base_delay.saturating_mul(1 << attempt.min(16));
        let capped = exp.min(self.max_delay);
        let jitter = rand::random::<f64>() * 0.5 + 0.75;
        capped.mul_f64(jitter)
    }
}

/// 429 answers with a `Retry-After` that one request may wait out without spending an attempt
/// of its [`RetryPolicy`] on them: a throttle that outlasts the attempts does not fail requests
/// that waited as they were asked to.
const HONOURED_THROTTLES: u32 = 30;

/// The longest one request waits in all on `Retry-After`s that spend no attempt: past it, its
/// 429s count as attempts again, and a host that throttles for ever still ends the request.
const HONOURED_THROTTLE_TIME: Duration = Duration::from_secs(10 * 60);

/// The throttles (429 with a `Retry-After`) one request waited out without spending an attempt
/// on them, within [`HONOURED_THROTTLES`] and [`HONOURED_THROTTLE_TIME`].
#[derive(Debug, Default)]
struct HonouredThrottles {
    /// How many.
    count: u32,
    /// How long they made the request wait, in all.
    waited: Duration,
}

impl HonouredThrottles {
    /// True when a 429 whose `Retry-After` makes the retry wait `wait` spends no attempt (and
    /// counts it as honoured): a wait it asked for, as long as the bounds allow. A 429 without
    /// `Retry-After` (or with 0) spends one, as any failure does.
    fn spare(&mut self, wait: Option<Duration>) -> bool {
        let Some(wait) = wait.filter(|w| !w.is_zero()) else {
            return false;
        };
        if self.count >= HONOURED_THROTTLES || self.waited + wait > HONOURED_THROTTLE_TIME {
            return false;
        }
        self.count += 1;
        self.waited += wait;
        true
    }
}

/// Tries of the first request to a registry (`GET /v2/`) that a reset connection ends (a
/// timeout: two): a connection cut once on the way is not taken for a registry that is not
/// there.
const PING_TRANSPORT_ATTEMPTS: u32 = 3;

/// A registry endpoint opened for use. Cheap to clone: clones share connections, tokens and
/// state (a blob stream keeps one to resume itself).
#[derive(Clone)]
pub struct Registry(Arc<Inner>);

impl std::ops::Deref for Registry {
    type Target = Inner;

    fn deref(&self) -> &Inner {
        &self.0
    }
}

/// Held by the one writer of something that must not be written by two at once.
type WriterLock = Arc<tokio::sync::Mutex<()>>;

/// The state behind a [`Registry`].
pub struct Inner {
    host: String,
    base_url: String,
    /// Client for everything but blob bodies: HTTP/2 when the registry offers it over TLS, so
    /// manifests, listings and upload sessions share one connection without a handshake each.
    http: reqwest::Client,
    /// Client for blob bodies (GET, PATCH, PUT): HTTP/1.1 only, one transfer per connection.
    /// Over HTTP/2 every upload shares one connection and the server's flow-control window: with
    /// 20 ms of round trip a Distribution registry then takes 1.5 GB in 33 s instead of 6.6 s
    /// over HTTP/1.1 (docs/performance.md, "HTTP/2").
    bulk: reqwest::Client,
    /// [`Inner::bulk`] for upload bodies (PATCH, PUT), without a read timeout: its timer would
    /// run while the body is still being sent and cut every upload longer than it. An
    /// [`UploadWatch`] times the registry's silence instead.
    upload: reqwest::Client,
    /// How long the registry may read nothing of an upload body, or not answer once it is sent.
    upload_silence: Duration,
    /// How long a read may wait for the next byte of an answer (`--read-timeout`), for messages.
    read_timeout: Duration,
    /// Client for redirect targets on other hosts: never carries credentials.
    foreign: reqwest::Client,
    /// The same for storage hosts `--insecure` named: certificates not verified.
    foreign_insecure: Option<reqwest::Client>,
    /// With `--insecure` for this registry: a client that still verifies certificates, for token
    /// endpoints on hosts the user did not name (they receive the password or refresh token).
    verified: Option<reqwest::Client>,
    /// With `--insecure` naming hosts: a client that does not verify certificates, for a token
    /// endpoint on a host it named.
    unverified: Option<reqwest::Client>,
    /// The hosts the user named with `--insecure`.
    insecure_hosts: Vec<String>,
    credentials: Option<Credentials>,
    /// A docker `credsStore` helper skipped because it is not installed, said when the registry
    /// asks for credentials.
    skipped_source: Option<String>,
    /// Azure AD sign-in, when no credentials were given or found and it applies to this host.
    azure_ad: Option<crate::azure_ad::SharedAzureAd>,
    /// The ACR refresh token the last `/oauth2/exchange` gave.
    exchanged: tokio::sync::Mutex<Option<crate::azure_ad::Exchanged>>,
    challenge: Mutex<Challenge>,
    tokens: TokenCache,
    retry: RetryPolicy,
    referrers_api: AtomicBool,
    /// Set once the referrers API answered (an index, or "no such repository or subject"):
    /// `referrers_api` is then known, not assumed.
    referrers_api_seen: AtomicBool,
    page_size: usize,
    /// Blobs larger than this go up in chunks of this size (0: always in one request).
    chunk_size: u64,
    /// The smallest chunk the registry takes (`OCI-Chunk-Min-Length` of its upload sessions).
    chunk_min: std::sync::atomic::AtomicU64,
    /// Requests in flight to this host, fewer while it answers 429.
    throttle: throttle::Throttle,
    /// Whether the registry still answers: once every request failed for the give-up window,
    /// requests fail at once instead of being retried ([`health`]).
    health: Health,
    /// Set once `/v2/` accepted the credentials (or anonymous access): a later 401 about one
    /// repository is then that repository's refusal, not wrong credentials.
    signed_in: AtomicBool,
    /// True for an Azure Container Registry: `/acr/v1/…` listings back `tag_digests` and
    /// `all_manifests` ([`acr`]).
    acr: bool,
    /// Upload sessions opened by a mount that fell back to an upload, kept for `put_blob`.
    sessions: Mutex<std::collections::HashMap<(String, Digest), String>>,
    /// (repository, location) of the upload sessions `put_blob` took that no upload has
    /// completed yet (one in flight, or one that failed): cancelled by
    /// [`Destination::abandon`] when the run stops early.
    open_uploads: Mutex<std::collections::HashSet<(String, String)>>,
    /// (repository, digest) of mounts refused (401/403) and uploaded instead: refusals, not a
    /// registry that ignores mounts.
    refused_mounts: Mutex<std::collections::HashSet<(String, Digest)>>,
    /// Repository → its referrers fallback tags (`sha256-<hex>`), from its tag listing: where
    /// the registry has no referrers API, the referrers of a manifest are read from them.
    fallback_listed: Mutex<std::collections::HashMap<String, std::collections::HashSet<String>>>,
    /// One update at a time of each referrers fallback tag (repository, tag): the copy's listing
    /// of a referrer, and a source's fallback index copied as a tag.
    fallback_tags: Mutex<std::collections::HashMap<(String, String), WriterLock>>,
    /// Manifest PUTs in flight, kept from overlapping where Distribution would refuse an index
    /// ([`links`]).
    manifest_puts: links::ManifestPuts,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("base_url", &self.base_url)
            .finish()
    }
}

/// What kept a request from an answer, for [`Health`] and the errors of [`Registry::connect`].
fn failure_of(e: &reqwest::Error) -> ConnectFailure {
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

/// `url` without its user information (`user:password@`).
fn without_user_info(url: &url::Url) -> url::Url {
    let mut url = url.clone();
    let _ = url.set_username("");
    let _ = url.set_password(None);
    url
}

/// True for a gateway's answer that the registry behind it could not be reached (502, 504).
fn is_gateway_failure(status: StatusCode) -> bool {
    status == StatusCode::BAD_GATEWAY || status == StatusCode::GATEWAY_TIMEOUT
}

fn connection_error(method: &Method, url: &str, e: &reqwest::Error) -> Error {
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

/// The digest a registry's answer announces (`Docker-Content-Digest`), when it gives a valid one.
fn content_digest(headers: &HeaderMap) -> Option<Digest> {
    headers
        .get("docker-content-digest")
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.parse().ok())
}

/// True for a request the registry (or its token service) refused rather than failed: HTTP 401
/// or 403, or any sign-in failure for the request's scope (a mount that meets one falls back to
/// an upload, whose own sign-in then says what is wrong).
fn is_refusal(error: &Error) -> bool {
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

/// Tries of one manifest PUT answered `DIGEST_INVALID` (see [`Inner::push_manifest`]).
const MANIFEST_PUT_ATTEMPTS: u32 = 4;

/// True for a `400 DIGEST_INVALID` answer.
fn is_digest_invalid(error: &Error) -> bool {
    matches!(
        error,
        Error::Status { status: 400, code: Some(code), .. } if code == "DIGEST_INVALID"
    )
}

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

/// A manifest refused for a blob the target lacks that is one of its non-distributable layers
/// (`urls`, left to its URLs by default): the error says so and what to do.
fn explain_foreign_refusal(
    error: Error,
    manifest: Option<&crate::manifest::ManifestView>,
) -> Error {
    let Error::Status {
        method,
        url,
        status,
        code,
        message: Some(message),
    } = error
    else {
        return error;
    };
    let foreign = manifest.and_then(|m| {
        m.blobs()
            .into_iter()
            .find(|b| b.foreign && message.contains(b.digest.as_str()))
    });
    let message = match foreign {
        Some(layer) => format!(
            "{message}; {} is a non-distributable layer (`urls`), left to its URLs: copy with --include-nondistributable, or let the target take such manifests (Distribution: validation.manifests.urls.allow)",
            layer.digest
        ),
        None => message,
    };
    Error::Status {
        method,
        url,
        status,
        code,
        message: Some(message),
    }
}

/// Logs an answer at `-vv`: `METHOD URL -> STATUS (HTTP version, time to the headers)`, the URL
/// without secrets.
fn log_response(method: &Method, url: &str, response: &Response, started: Instant) {
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

/// What a retried answer was, for the `-v` line of its retry: `HTTP 503`; a 429 whose
/// `Retry-After` was waited out without spending an attempt (`spared`) says so.
fn retried_status(status: StatusCode, spared: bool) -> String {
    match spared {
        true => format!(
            "HTTP {}, waiting as its Retry-After asks (not counted as an attempt)",
            status.as_u16()
        ),
        false => format!("HTTP {}", status.as_u16()),
    }
}

/// True for the answers worth asking again: 429 (throttled) and 5xx.
pub fn is_transient_status(status: StatusCode) -> bool {
    status == StatusCode::TOO_MANY_REQUESTS
        || (status.is_server_error()
            && status != StatusCode::NOT_IMPLEMENTED
            && status != StatusCode::HTTP_VERSION_NOT_SUPPORTED)
}

/// The wait a `Retry-After` header asks for: seconds, or an HTTP date (then the time until it).
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let v = headers.get("retry-after")?.to_str().ok()?.trim();
    if let Ok(seconds) = v.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = http_date(v)?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_secs();
    Some(Duration::from_secs(at.saturating_sub(now)))
}

/// Seconds since the epoch of an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), the one form
/// RFC 9110 asks senders to use. Written here rather than taken from a crate: it is one fixed
/// format, read in one place.
fn http_date(text: &str) -> Option<u64> {
    let rest = text.split_once(", ")?.1;
    let parts: Vec<&str> = rest.split(' ').collect();
    let [day, month, year, time, "GMT"] = parts.as_slice() else {
        return None;
    };
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month = MONTHS.iter().position(|m| m == month)? as i64 + 1;
    let (day, year): (i64, i64) = (day.parse().ok()?, year.parse().ok()?);
    let hms: Vec<u64> = time
        .split(':')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    let [h, m, sec] = hms.as_slice() else {
        return None;
    };
    // Days from 1970-01-01 to the civil date (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    u64::try_from(days)
        .ok()
        .map(|d| d * 86_400 + h * 3600 + m * 60 + sec)
}

#[derive(serde::Deserialize)]
struct TokenResponse {
    token: Option<String>,
    access_token: Option<String>,
    expires_in: Option<u64>,
}

#[derive(serde::Deserialize)]
struct Catalog {
    repositories: Option<Vec<String>>,
}

#[derive(serde::Deserialize)]
struct TagList {
    tags: Option<Vec<String>>,
}

/// The `rel="next"` target of a `Link` header.
pub fn next_link(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all("link")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(parse_link_value)
}

/// Longest run of same-origin redirects followed for one request.
const MAX_REDIRECTS: u32 = 10;

/// Longest run of listing pages before the `Link` headers are taken to loop.
const MAX_LISTING_PAGES: usize = 100_000;

/// Most entries one listing may hold: memory stays bounded whatever a registry's `Link` headers
/// say (2,000,000 names of at most 255 characters: half a gigabyte at worst).
const MAX_LISTING_ENTRIES: usize = 2_000_000;

/// The error of a listing that went on past [`MAX_LISTING_PAGES`] pages, at `url`.
fn too_many_pages(url: &str) -> Error {
    Error::invalid(
        redact_url(url),
        "more than 100,000 pages: the registry's Link headers loop",
    )
}

/// What one listing has read so far: a page asked again (a `Link` header that leads back), more
/// than [`MAX_LISTING_PAGES`] pages or [`MAX_LISTING_ENTRIES`] entries end it with an error,
/// before memory runs out.
#[derive(Default)]
pub(super) struct ListingPages {
    seen: std::collections::HashSet<String>,
    pages: usize,
    entries: usize,
}

impl ListingPages {
    /// Records that the page at `url` is read next; returns its number (the first is 1).
    pub(super) fn visit(&mut self, url: &str) -> Result<usize> {
        self.pages += 1;
        if self.pages > MAX_LISTING_PAGES {
            return Err(too_many_pages(url));
        }
        if !self.seen.insert(url.to_string()) {
            return Err(Error::invalid(
                redact_url(url),
                "the registry's Link header leads back to a page already read: its listing loops (ask its operator; nothing was copied from this listing)",
            ));
        }
        Ok(self.pages)
    }

    /// Reads the listing again from its first page (at another URL).
    pub(super) fn restart(&mut self) {
        self.pages = 0;
    }

    /// Counts `entries` more of the listing whose page is at `url`.
    pub(super) fn add(&mut self, url: &str, entries: usize) -> Result<()> {
        self.entries = self.entries.saturating_add(entries);
        if self.entries > MAX_LISTING_ENTRIES {
            return Err(Error::invalid(
                redact_url(url),
                "more than 2,000,000 entries in one listing: the registry's Link headers loop, or the listing is more than this tool reads",
            ));
        }
        Ok(())
    }
}

/// The URL of a listing's next page: the `Link` target `link` of the page at `current`, resolved
/// against it. A target on another origin is refused, since credentials would follow it.
pub fn next_page_url(current: &str, link: &str) -> Result<String> {
    same_origin_url(current, link, "Link header")
}

/// `target` (a header's URL, `what`) resolved against `current`; an error when it leaves
/// `current`'s origin (scheme, host and port), where the registry's credentials must not go.
///
/// One exception: `http://` on port 80 of the same host, from an HTTPS registry, is taken as the
/// registry's own address seen through a TLS-terminating proxy that did not say it terminated
/// TLS (Distribution without `relativeurls` or `X-Forwarded-Proto`), and is asked over HTTPS.
fn same_origin_url(current: &str, target: &str, what: &str) -> Result<String> {
    origin_checked(current, target, what, true)
}

/// [`same_origin_url`] for a run that sends the registry credentials (`credentials`) or not: the
/// refusal names what it protects only when there is something to protect.
fn origin_checked(current: &str, target: &str, what: &str, credentials: bool) -> Result<String> {
    let base = url::Url::parse(current).map_err(|e| Error::invalid(what, e.to_string()))?;
    let mut joined = base
        .join(target)
        .map_err(|e| Error::invalid(what, e.to_string()))?;
    if base.scheme() == "https"
        && joined.scheme() == "http"
        && joined.port_or_known_default() == Some(80)
        && joined.host() == base.host()
    {
        let _ = joined.set_scheme("https");
        let _ = joined.set_port(base.port());
    }
    if joined.origin() != base.origin() {
        let other = redact_url(&joined[..url::Position::BeforePath]);
        let reason = match credentials {
            true => format!(
                "points to another origin ({other}); refusing to send the registry's credentials there: configure the registry (or its proxy) to answer with its own address"
            ),
            // Nothing secret would go there, but another origin may be another server (another
            // name of this host is the usual case): requests stay where the run was pointed.
            false => format!(
                "points to another origin ({other}) than the registry's as given ({}): refused, as no request goes anywhere else: configure the registry (or its proxy) to answer with the address given",
                redact_url(&base[..url::Position::BeforePath])
            ),
        };
        return Err(Error::invalid(what, reason));
    }
    Ok(joined.to_string())
}

/// The `rel="next"` target in one `Link` header value (`<url>; rel="next", ...`).
pub fn parse_link_value(value: &str) -> Option<String> {
    for part in value.split(',') {
        let part = part.trim();
        if let (Some(start), Some(end)) = (part.find('<'), part.find('>')) {
            if start >= end {
                continue;
            }
            let params = &part[end + 1..];
            if params.contains("rel=\"next\"") || params.contains("rel=next") {
                return Some(part[start + 1..end].to_string());
            }
        }
    }
    None
}

/// `host[:port]` of a URL, for messages (the URL itself when it does not parse).
pub(crate) fn host_and_port(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(u) => match (u.host_str(), u.port()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_string(),
            _ => redact_url(url),
        },
        Err(_) => redact_url(url),
    }
}

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

/// True when `hosts` (what `--insecure` named) holds the host of `url`, alone or with its port.
fn names_host(hosts: &[String], url: &url::Url) -> bool {
    let host = url.host_str().unwrap_or("").to_ascii_lowercase();
    let with_port = match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.clone(),
    };
    hosts
        .iter()
        .any(|h| h.eq_ignore_ascii_case(&host) || h.eq_ignore_ascii_case(&with_port))
}

/// The client certificate and key of `files`, read and checked: one line naming the file that
/// is unreadable or not PEM.
fn client_identity(
    files: &super::ClientCertificate,
    side: Option<&str>,
) -> Result<tls::ClientIdentity> {
    let side = side.unwrap_or("SOURCE");
    let (cert_flag, key_flag) = (side_flag(side, "cert"), side_flag(side, "key"));
    let read = |path: &std::path::Path| std::fs::read(path).map_err(|e| Error::io(path, e));
    let pem = read(&files.certificate)?;
    if !String::from_utf8_lossy(&pem).contains("-----BEGIN CERTIFICATE-----") {
        return Err(Error::Invalid {
            what: format!("{cert_flag} {}", files.certificate.display()),
            reason: "holds no PEM certificate (`-----BEGIN CERTIFICATE-----`): give the client certificate in PEM".into(),
        });
    }
    let key = read(&files.key)?;
    if String::from_utf8_lossy(&key).contains("ENCRYPTED") {
        return Err(Error::Invalid {
            what: format!("{key_flag} {}", files.key.display()),
            reason: "the key is encrypted (a passphrase protects it): give it decrypted (`openssl pkey -in KEY -out key.pem` asks for the passphrase once)".into(),
        });
    }
    if !String::from_utf8_lossy(&key).contains("PRIVATE KEY-----") {
        return Err(Error::Invalid {
            what: format!("{key_flag} {}", files.key.display()),
            reason: "holds no PEM private key (`-----BEGIN PRIVATE KEY-----`): give the client certificate's key in PEM".into(),
        });
    }
    tls::ClientIdentity::from_pem(&pem, &key).map_err(|refusal| match refusal {
        tls::IdentityRefusal::Certificate(e) => Error::Invalid {
            what: format!("{cert_flag} {}", files.certificate.display()),
            reason: format!("holds no usable PEM certificate ({e}): give the client certificate in PEM"),
        },
        tls::IdentityRefusal::Key(e) => Error::Invalid {
            what: format!("{key_flag} {}", files.key.display()),
            reason: format!("holds no usable PEM private key ({e}): give the client certificate's key in PEM"),
        },
        tls::IdentityRefusal::Mismatch(e) => Error::Invalid {
            what: format!("{cert_flag} {}", files.certificate.display()),
            reason: format!(
                "the client certificate and the key {} cannot be used together ({e}): give the key that belongs to the certificate",
                files.key.display()
            ),
        },
    })
}

impl Registry {
    /// Opens a registry: builds the HTTP client and asks `/v2/` how to sign in.
    pub async fn connect(endpoint: &RegistryEndpoint, options: &ConnectOptions) -> Result<Self> {
        let insecure = options.insecure_hosts.iter().any(|h| {
            h.eq_ignore_ascii_case(&endpoint.host) || h.eq_ignore_ascii_case(endpoint.hostname())
        });
        let connect_timeout = options.connect_timeout.unwrap_or(Duration::from_secs(15));
        let read_timeout = options.read_timeout.unwrap_or(Duration::from_secs(120));
        let extra_roots = match &options.ca_cert {
            Some(ca) => {
                let flag = match options.side.as_deref() {
                    Some(side @ ("SOURCE" | "TARGET")) => side_flag(side, "ca-cert"),
                    _ => "the CA certificate".to_string(),
                };
                let refused = |reason: String| Error::Invalid {
                    what: format!("{flag} {}", ca.display()),
                    reason,
                };
                let pem = std::fs::read(ca).map_err(|e| {
                    refused(format!(
                        "cannot be read ({e}): give the file of the CA certificate (PEM) that signed the registry's"
                    ))
                })?;
                tls::read_certificates(&pem).map_err(refused)?
            }
            None => Vec::new(),
        };
        let identity = match &options.client_certificate {
            Some(c) => Some(client_identity(c, options.side.as_deref())?),
            None => None,
        };
        let trust = tls::ClientTls::new(extra_roots, identity);
        let tls_config = |verify: bool, http2: bool| {
            trust
                .config(verify, http2)
                .map_err(|e| Error::InvalidEndpoint {
                    input: endpoint.host.clone(),
                    reason: format!("cannot set up TLS: {e}"),
                })
        };
        let timed_client = |http1_only: bool, insecure: bool, timed: bool| {
            let mut builder = reqwest::Client::builder()
                .use_preconfigured_tls(tls_config(!insecure, !http1_only)?)
                .proxy(super::proxy::reqwest_proxy())
                .redirect(reqwest::redirect::Policy::none())
                .connect_timeout(connect_timeout);
            if timed {
                builder = builder.read_timeout(read_timeout);
            }
            builder = builder
                .pool_idle_timeout(Duration::from_secs(60))
                .pool_max_idle_per_host(256)
                .tcp_nodelay(true)
                .user_agent(concat!("acr-relocate/", env!("CARGO_PKG_VERSION")));
            if http1_only {
                builder = builder.http1_only();
            }
            builder.build().map_err(|e| Error::InvalidEndpoint {
                input: endpoint.host.clone(),
                reason: format!("cannot set up HTTP client: {e}"),
            })
        };
        let client = |http1_only: bool, insecure: bool| timed_client(http1_only, insecure, true);
        let (http, bulk) = match options.http {
            super::HttpVersions::Auto => (client(false, insecure)?, client(true, insecure)?),
            super::HttpVersions::Http1 => {
                let one = client(true, insecure)?;
                (one.clone(), one)
            }
            super::HttpVersions::Http2 => {
                let one = client(false, insecure)?;
                (one.clone(), one)
            }
        };
        let upload = timed_client(
            !matches!(options.http, super::HttpVersions::Http2),
            insecure,
            false,
        )?;
        let verified = match insecure {
            true => Some(client(true, false)?),
            false => None,
        };
        let unverified = match options.insecure_hosts.is_empty() {
            true => None,
            false => Some(client(true, true)?),
        };
        // Storage behind the same private CA as the registry is trusted too, and it sends no
        // `Referer` (a signed URL's query would go along). Certificates go unverified only on a
        // storage host `--insecure` named, and redirects from there only to another named one.
        let foreign_client = |insecure: bool| {
            let hosts = options.insecure_hosts.clone();
            let policy = match insecure {
                false => reqwest::redirect::Policy::limited(5),
                true => reqwest::redirect::Policy::custom(move |attempt| {
                    if attempt.previous().len() >= 5 {
                        attempt.error("more than 5 redirects in a row")
                    } else if names_host(&hosts, attempt.url()) {
                        attempt.follow()
                    } else {
                        attempt.stop()
                    }
                }),
            };
            reqwest::Client::builder()
                .use_preconfigured_tls(tls_config(!insecure, false)?)
                .proxy(super::proxy::reqwest_proxy())
                .redirect(policy)
                .referer(false)
                .http1_only()
                .connect_timeout(connect_timeout)
                .read_timeout(read_timeout)
                .build()
                .map_err(|e| Error::InvalidEndpoint {
                    input: endpoint.host.clone(),
                    reason: format!("cannot set up HTTP client: {e}"),
                })
        };
        let foreign = foreign_client(false)?;
        let foreign_insecure = match options.insecure_hosts.is_empty() {
            true => None,
            false => Some(foreign_client(true)?),
        };
        let resolved = match &options.credentials {
            Some(c) => crate::credentials::Resolved {
                credentials: Some(c.clone()),
                skipped_source: None,
            },
            None => {
                // Config files and credential helpers: blocking reads and processes.
                let host = endpoint.host.clone();
                let prefix = endpoint.prefix.clone();
                let sources = options.credential_sources.clone();
                tokio::task::spawn_blocking(move || {
                    crate::credentials::resolve_under(&host, prefix.as_deref(), &sources)
                })
                .await
                .map_err(|e| Error::Auth {
                    registry: endpoint.host.clone(),
                    source_tried: "credential lookup".into(),
                    reason: e.to_string(),
                })??
            }
        };
        let crate::credentials::Resolved {
            credentials,
            skipped_source,
        } = resolved;
        let hostname = endpoint.host.split(':').next().unwrap_or("");
        let azure_ad = options.azure_ad.clone().filter(|a| {
            credentials.is_none() && (a.for_every_registry() || acr::is_acr_host(hostname))
        });
        let registry = Registry(Arc::new(Inner {
            host: endpoint.host.clone(),
            base_url: endpoint.base_url(),
            http,
            bulk,
            upload,
            upload_silence: read_timeout,
            read_timeout,
            foreign,
            foreign_insecure,
            verified,
            unverified,
            insecure_hosts: options.insecure_hosts.clone(),
            credentials,
            skipped_source,
            azure_ad,
            exchanged: tokio::sync::Mutex::new(None),
            challenge: Mutex::new(Challenge::None),
            tokens: TokenCache::default(),
            retry: RetryPolicy::default(),
            referrers_api: AtomicBool::new(true),
            referrers_api_seen: AtomicBool::new(false),
            page_size: if options.page_size == 0 {
                1000
            } else {
                options.page_size
            },
            chunk_size: options.chunk_size.unwrap_or(DEFAULT_CHUNK_SIZE),
            chunk_min: Default::default(),
            throttle: throttle::Throttle::new(2, 128),
            health: Health::new(
                options.side.as_deref(),
                &endpoint.host,
                options.unreachable_after,
            )
            .reached(&endpoint.base_url(), options.client_certificate.is_some())
            .trusting(options.ca_cert.as_deref()),
            signed_in: AtomicBool::new(false),
            sessions: Mutex::new(Default::default()),
            open_uploads: Mutex::new(Default::default()),
            fallback_tags: Mutex::new(Default::default()),
            fallback_listed: Mutex::new(Default::default()),
            refused_mounts: Mutex::new(Default::default()),
            manifest_puts: links::ManifestPuts::default(),
            acr: acr::is_acr(endpoint, options),
        }));
        registry.ping().await.map_err(|e| match e {
            // Given up while it was being opened (its token service failing for the whole
            // window): nothing was done yet, so not a registry that stopped mid-run.
            Error::Unreachable {
                side,
                host,
                reason,
                mend,
                ..
            } => Error::Unreachable {
                side,
                host,
                reason,
                mid_run: false,
                mend,
            },
            e => e,
        })?;
        registry.signed_in.store(true, Ordering::Relaxed);
        Ok(registry)
    }
}

impl Inner {
    /// The host answered 429: fewer requests at once, and with `Retry-After`, none before the
    /// time it names (at most the retry policy's longest wait), said at `-v`.
    fn throttled(&self, method: &Method, url: &str, headers: &HeaderMap) {
        self.throttle.throttled();
        if let Some(asked) = retry_after(headers) {
            let wait = asked.min(self.retry.max_delay);
            self.throttle.hold_off(wait);
            crate::log::emit(1, || {
                let capped = match wait < asked {
                    true => format!(
                        "; waiting {:.1} s, this tool's longest wait",
                        wait.as_secs_f64()
                    ),
                    false => String::new(),
                };
                format!(
                    "{method} {}: HTTP 429, the registry asks for {:.1} s without requests (Retry-After){capped}",
                    redact_url(url),
                    asked.as_secs_f64()
                )
            });
        }
    }

    /// ` (docker-credential-NAME (credsStore in PATH) is not installed)`, or the config that is
    /// not valid JSON, after a request for credentials when a credential source was skipped;
    /// empty otherwise.
    fn store_note(&self) -> String {
        self.skipped_source
            .as_ref()
            .map(|note| format!(" ({note})"))
            .unwrap_or_default()
    }

    /// How long to wait before retry `attempt` (or as `retry_after` asks), never past the moment
    /// the registry would be given up (`--unreachable-after`): a run stops when the window
    /// closes, not at the end of a backoff that began before.
    fn retry_delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        self.health.capped(self.retry.delay(attempt, retry_after))
    }

    /// Waits before retry `attempt` of `method url`, which ended in `failure` (`HTTP 503`), as
    /// long as `retry_after` asks or the backoff says ([`Self::retry_delay`]), said at `-v`.
    async fn pause_before_retry(
        &self,
        method: &Method,
        url: &str,
        failure: &str,
        attempt: u32,
        retry_after: Option<Duration>,
    ) {
        let delay = self.retry_delay(attempt, retry_after);
        crate::log::emit(1, || {
            format!(
                "{method} {}: {failure}, retrying in {:.1} s (attempt {attempt})",
                redact_url(url),
                delay.as_secs_f64()
            )
        });
        tokio::time::sleep(delay).await;
    }

    /// True when requests to the registry may carry credentials of the run (given, found in a
    /// docker config, or an Azure AD sign-in); false for an anonymous run.
    fn sends_credentials(&self) -> bool {
        self.credentials.is_some() || self.azure_ad.is_some()
    }

    /// The registry host (`host[:port]`).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// True when the registry is an ACR (by its host, or forced with `ConnectOptions::acr`).
    pub fn is_acr(&self) -> bool {
        self.acr
    }

    /// `GET /v2/`: learns the challenge, and checks the credentials once so a wrong password fails
    /// the run at once with one clear line. A registry that cannot be reached fails at once (a
    /// connection refused, a name that does not resolve, a certificate: a wrong host, port or
    /// scheme); a connection reset is tried [`PING_TRANSPORT_ATTEMPTS`] times (a connection cut
    /// once on the way), a timeout twice; a 429 or a 5xx (throttled while many runs start, a brief
    /// outage) is asked again like any request.
    async fn ping(&self) -> Result<()> {
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
                    && self.credentials.is_some()
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

    /// The error of a repository (or the catalog) the registry refuses (401) to credentials it
    /// accepted at `/v2/`: that repository's failure, not the run's.
    fn scope_refused(
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
        let who = match (&self.credentials, &self.azure_ad) {
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
        let what_to_do = match (&self.credentials, &self.azure_ad) {
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
    async fn forbidden(
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
    fn creds_flag(&self) -> String {
        side_flag(self.health.side(), "creds")
    }

    /// Turns an unexpected response into an error, reading the OCI error envelope when there is
    /// one; its texts never show this registry's secrets ([`Self::masked`]).
    async fn status_error(&self, method: &Method, url: &str, response: Response) -> Error {
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
    fn masked(&self, text: &str) -> String {
        use base64::Engine;
        let mut known: Vec<String> = Vec::new();
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
    fn auth_error(&self, reason: impl Into<String>) -> Error {
        // `TARGET host:port` where the side is known, as the other errors of opening name it.
        let registry = match self.health.side() {
            "registry" => self.host.clone(),
            side => format!("{side} {}", self.host),
        };
        Error::Auth {
            registry,
            source_tried: match (&self.credentials, &self.azure_ad) {
                (Some(c), _) => c.origin.clone(),
                (None, Some(a)) => a.describe(),
                (None, None) => "anonymous".into(),
            },
            reason: self.masked(&reason.into()),
        }
    }

    fn learn_challenge(&self, headers: &HeaderMap) -> Option<String> {
        let header = headers.get("www-authenticate")?.to_str().ok()?;
        let (challenge, scope) = Challenge::parse(header)?;
        *self.challenge.lock().expect("challenge lock") = challenge;
        scope
    }

    /// Adds the `Authorization` header the registry wants for `scope`.
    async fn authorize(&self, request: RequestBuilder, scope: &Scope) -> Result<RequestBuilder> {
        let challenge = self.challenge.lock().expect("challenge lock").clone();
        match challenge {
            Challenge::None => Ok(request),
            Challenge::Basic => match &self.credentials {
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
        let signs_in = self.credentials.is_some() || self.azure_ad.is_some();
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
        let mut refresh: Option<Secret> = match (&self.credentials, &self.azure_ad) {
            (Some(c), _) if c.is_refresh_token() => Some(c.password.clone()),
            (None, Some(aad)) => Some(self.azure_refresh_token(aad, realm, service).await?),
            _ => None,
        };
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
                    match &self.credentials {
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
                // A day at most: a token endpoint's number is not trusted to fit an Instant.
                let lifetime =
                    Duration::from_secs(body.expires_in.unwrap_or(60).clamp(1, 24 * 3600));
                return Ok(Token::new(Secret::new(value), lifetime));
            }
            if let (true, None, Some(aad)) = (
                matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN),
                &self.credentials,
                &self.azure_ad,
            ) {
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
                    Some(_) => format!(
                        "the token endpoint refused the refresh token (HTTP {}): it may have expired",
                        status.as_u16()
                    ),
                    None if self.credentials.is_some() => format!(
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
                "the registry refused the Azure AD token at /oauth2/exchange (HTTP {}): the identity needs a role on the registry (AcrPull to read, AcrPush to write)",
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
    /// The token service's failures count toward the registry's [`Health`]: a run whose every
    /// request waits on a token service that fails is given up as an unreachable registry.
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
                return Err(self.auth_error(match &self.credentials {
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

    /// GETs a small document (manifest, listing) whole: a body cut off in the middle is retried
    /// like a failed request. Returns the final status, headers and body.
    async fn fetch_small(
        &self,
        scope: Scope,
        build: impl Fn() -> RequestBuilder,
        url: &str,
    ) -> Result<(StatusCode, HeaderMap, Bytes)> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let response = self.send(scope.clone(), &build).await?;
            let status = response.status();
            let headers = response.headers().clone();
            if !status.is_success() {
                return Err(self.status_error(&Method::GET, url, response).await);
            }
            if response
                .content_length()
                .is_some_and(|l| l > MAX_MANIFEST_BYTES as u64)
            {
                return Err(Error::invalid(
                    redact_url(url),
                    format!("larger than {MAX_MANIFEST_BYTES} bytes"),
                ));
            }
            match read_limited(response, MAX_MANIFEST_BYTES, url).await {
                Ok(body) => return Ok((status, headers, body)),
                Err(e) if e.is_transient() && attempt < self.retry.attempts => {
                    let reason = match &e {
                        Error::Connection { reason, .. } => reason.clone(),
                        other => other.to_string(),
                    };
                    let failure = format!("its body did not arrive whole ({reason})");
                    self.pause_before_retry(&Method::GET, url, &failure, attempt, None)
                        .await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// [`Inner::send_once`] of an upload whose body `watch` wraps: the request fails as timed out
    /// once the registry has read nothing of the body for [`Inner::upload_silence`] while the
    /// body had bytes to give (time spent waiting for the source does not count), or has not
    /// answered for as long once the body is sent.
    async fn send_watched(
        &self,
        watch: &UploadWatch,
        request: RequestBuilder,
        scope: &Scope,
        method: Method,
        url: &str,
    ) -> Result<Response> {
        tokio::select! {
            sent = self.send_once(request, scope, method.clone(), url) => sent,
            () = watch.silence(self.upload_silence) => {
                let reason = format!(
                    "timed out (the registry took nothing of the body, or gave no answer after it, for {} s)",
                    self.upload_silence.as_secs()
                );
                if let Some(gone) = self.health.failed(&reason) {
                    return Err(gone);
                }
                Err(Error::Connection {
                    method: method.to_string(),
                    url: redact_url(url),
                    reason,
                })
            }
        }
    }

    /// Signs and sends a request whose body is a one-shot stream. A stream error (wrong digest,
    /// short content) is reported as itself; a 401 forgets the token and fails as transient, so
    /// the copy engine sends the blob again with a new one.
    async fn send_once(
        &self,
        request: RequestBuilder,
        scope: &Scope,
        method: Method,
        url: &str,
    ) -> Result<Response> {
        self.health.check()?;
        let request = self.authorize(request, scope).await?;
        self.throttle.wait_turn().await;
        let started = Instant::now();
        let response = request.send().await.map_err(|e| {
            let mut source: Option<&dyn std::error::Error> = Some(&e);
            while let Some(s) = source {
                // An error of the body stream comes from the other side (the source being
                // read): it says nothing of whether this registry answers.
                if let Some(inner) = s.downcast_ref::<Error>() {
                    if let Some(gone) = inner.unreachable_copy() {
                        return gone;
                    }
                    return match inner {
                        Error::DigestMismatch {
                            what,
                            expected,
                            actual,
                        } => Error::DigestMismatch {
                            what: what.clone(),
                            expected: expected.clone(),
                            actual: actual.clone(),
                        },
                        Error::SizeMismatch {
                            what,
                            expected,
                            actual,
                        } => Error::SizeMismatch {
                            what: what.clone(),
                            expected: *expected,
                            actual: *actual,
                        },
                        other => Error::Connection {
                            method: method.to_string(),
                            url: redact_url(url),
                            reason: other.to_string(),
                        },
                    };
                }
                source = s.source();
            }
            if let Some(gone) = self.health.failed(&failure_of(&e).short()) {
                return gone;
            }
            connection_error(&method, url, &e)
        })?;
        log_response(&method, url, &response, started);
        if is_gateway_failure(response.status()) {
            if let Some(gone) = self
                .health
                .failed(&format!("HTTP {}", response.status().as_u16()))
            {
                return Err(gone);
            }
        } else {
            self.health.answered();
        }
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            self.throttled(&method, url, response.headers());
        }
        if response.status() == StatusCode::UNAUTHORIZED {
            self.learn_challenge(response.headers());
            *self.tokens.slot(scope).lock().await = None;
            return Err(Error::Connection {
                method: method.to_string(),
                url: redact_url(url),
                reason: "the registry refused the token during the upload (HTTP 401)".into(),
            });
        }
        Ok(response)
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.base_url, path)
    }

    /// Lists a paginated resource, following `Link` headers; with `missing_is_empty`, a 404 on the
    /// first page is an empty list.
    async fn paginate<T, F>(
        &self,
        scope: Scope,
        first: String,
        missing_is_empty: bool,
        mut extract: F,
    ) -> Result<Vec<String>>
    where
        T: serde::de::DeserializeOwned,
        F: FnMut(T) -> Vec<String>,
    {
        let mut out = Vec::new();
        let mut next = Some(first);
        let mut page_size_refused = false;
        let mut listing = ListingPages::default();
        while let Some(url) = next.take() {
            let pages = listing.visit(&url)?;
            let fetched = self
                .fetch_small(scope.clone(), || self.http.get(&url), &url)
                .await;
            // A repository without tags may answer 404 at once; a 404 on a later page is an
            // error, not the end of the list (a cursor the registry no longer knows).
            let (_, headers, body) = match fetched {
                Err(e) if e.is_not_found() && pages == 1 && missing_is_empty => {
                    return Ok(Vec::new())
                }
                // A registry whose pages are smaller than `n` asks (Distribution's
                // `catalog: maxentries`): its own page size, and its `Link` headers, instead.
                Err(e) if pages == 1 && !page_size_refused && is_page_size_refused(&e) => {
                    page_size_refused = true;
                    listing.restart();
                    let own = without_query_key(&url, "n");
                    crate::log::emit(1, || {
                        format!(
                            "GET {}: the registry refuses pages of {} entries; reading its own page size",
                            redact_url(&url),
                            self.page_size
                        )
                    });
                    next = Some(own);
                    continue;
                }
                other => other?,
            };
            let link = next_link(&headers);
            let page: T = serde_json::from_slice(&body).map_err(|e| {
                Error::invalid(
                    format!("GET {}", redact_url(&url)),
                    self.masked(&format!("not a valid listing: {e}")),
                )
            })?;
            let items = extract(page);
            let empty = items.is_empty();
            listing.add(&url, items.len())?;
            out.extend(items);
            if let Some(link) = link {
                if empty {
                    break;
                }
                next = Some(next_page_url(&url, &link)?);
            }
        }
        Ok(out)
    }

    async fn head_manifest(
        &self,
        scope: Scope,
        repository: &str,
        reference: &str,
    ) -> Result<Option<Digest>> {
        let url = self.url(&format!("/v2/{repository}/manifests/{reference}"));
        let response = self
            .send(scope.clone(), || {
                self.http.head(&url).header(ACCEPT, MANIFEST_ACCEPT)
            })
            .await?;
        match response.status() {
            StatusCode::NOT_FOUND => Ok(None),
            s if s.is_success() => {
                let header = content_digest(response.headers());
                match header {
                    Some(d) => Ok(Some(d)),
                    // No digest header: hash the manifest itself.
                    None => Ok(Some(
                        self.get_manifest(scope, repository, reference)
                            .await?
                            .digest,
                    )),
                }
            }
            _ => Err(self.status_error(&Method::HEAD, &url, response).await),
        }
    }

    /// A manifest, read again (up to [`MANIFEST_READS`] times in all) when its bytes do not hash
    /// to the digest asked for or announced: wrong bytes may come from the way (a proxy, a
    /// cache), as a blob's may. A registry that keeps answering them fails with the mismatch.
    async fn get_manifest(
        &self,
        scope: Scope,
        repository: &str,
        reference: &str,
    ) -> Result<RawManifest> {
        let mut read = 1;
        loop {
            match self
                .get_manifest_once(scope.clone(), repository, reference)
                .await
            {
                Err(e @ Error::DigestMismatch { .. }) if read < MANIFEST_READS => {
                    crate::log::emit(1, || format!("{e}; reading it again"));
                    read += 1;
                }
                other => return other,
            }
        }
    }

    async fn get_manifest_once(
        &self,
        scope: Scope,
        repository: &str,
        reference: &str,
    ) -> Result<RawManifest> {
        let url = self.url(&format!("/v2/{repository}/manifests/{reference}"));
        let (_, headers, bytes) = self
            .fetch_small(
                scope,
                || self.http.get(&url).header(ACCEPT, MANIFEST_ACCEPT),
                &url,
            )
            .await?;
        let content_type = headers
            .get(CONTENT_TYPE)
            .and_then(|c| c.to_str().ok())
            .map(str::to_string);
        let manifest = RawManifest::new(bytes, content_type.as_deref()).map_err(|e| match e {
            Error::Invalid { reason, .. } => {
                Error::invalid(format!("manifest {repository}:{reference}"), reason)
            }
            other => other,
        })?;
        if let Ok(expected) = reference.parse::<Digest>() {
            if expected != manifest.digest {
                return Err(Error::DigestMismatch {
                    what: format!("manifest {repository}@{reference}"),
                    expected: expected.to_string(),
                    actual: manifest.digest.to_string(),
                });
            }
        }
        // By tag, the registry's own `Docker-Content-Digest` is the digest to match: bytes that
        // hash to another one were damaged or swapped on the way (a proxy, a cache) and are not
        // copied. Docker schema 1 is left out: its header names the payload without signatures.
        let schema1 = matches!(
            manifest.media_type.as_str(),
            crate::manifest::DOCKER_SCHEMA1 | crate::manifest::DOCKER_SCHEMA1_SIGNED
        );
        let announced = content_digest(&headers);
        if let Some(announced) = announced.filter(|_| !schema1) {
            if announced != manifest.digest {
                return Err(Error::DigestMismatch {
                    what: format!(
                        "manifest {repository}:{reference} (the registry's Docker-Content-Digest)"
                    ),
                    expected: announced.to_string(),
                    actual: manifest.digest.to_string(),
                });
            }
        }
        Ok(manifest)
    }

    /// Sends `content` in PATCH requests of at most `chunk_size` bytes, each ending on a multiple of
    /// it, and returns the upload's location for the closing PUT. The content's digest is checked
    /// before its last bytes leave. When a PATCH fails in a way that may pass (connection, 5xx,
    /// 429, 416) and `resumer` is given, the registry is asked where the upload stands and the
    /// content goes on from there; a session that is gone or an offset that cannot be used
    /// returns the error, and the copy engine starts the blob over.
    async fn upload_chunks(
        &self,
        mut location: String,
        scope: &Scope,
        blob: &Reference,
        content: ByteStream,
        resumer: Option<Resumer>,
    ) -> Result<String> {
        // Never below what the registry said it takes (ECR: 5 MiB parts).
        let chunk = self.chunk_size.max(self.chunk_min.load(Ordering::Relaxed));
        if let Some(r) = &resumer {
            r.checkpoint_every(chunk);
        }
        let feed = Arc::new(tokio::sync::Mutex::new(Feed {
            stream: content,
            overhang: None,
            generation: 0,
        }));
        let mut offset = 0u64;
        let mut failures = 0u32;
        while offset < blob.size {
            let end = ((offset / chunk + 1) * chunk).min(blob.size);
            let len = end - offset;
            let generation = feed.lock().await.generation;
            let part = take(feed.clone(), generation, len, blob);
            let watch = UploadWatch::new();
            let outcome = self
                .send_watched(
                    &watch,
                    self.upload
                        .patch(&location)
                        .header(
                            CONTENT_TYPE,
                            HeaderValue::from_static("application/octet-stream"),
                        )
                        .header(CONTENT_LENGTH, len)
                        .header("content-range", format!("{offset}-{}", end - 1))
                        .body(reqwest::Body::wrap_stream(watch.wrap(part))),
                    scope,
                    Method::PATCH,
                    &location,
                )
                .await;
            let error = match outcome {
                Ok(response)
                    if response.status() == StatusCode::ACCEPTED
                        || response.status().is_success() =>
                {
                    location =
                        upload_location(&location, response.headers(), self.sends_credentials())?;
                    offset = end;
                    failures = 0;
                    if let Some(r) = &resumer {
                        r.acknowledged(offset);
                    }
                    continue;
                }
                Ok(response) => self.status_error(&Method::PATCH, &location, response).await,
                Err(e) => e,
            };
            let Some(resumer) = resumer.as_ref().filter(|_| resumable(&error)) else {
                return Err(error);
            };
            failures += 1;
            if failures >= self.retry.attempts {
                return Err(error);
            }
            tokio::time::sleep(self.retry_delay(failures, None)).await;
            let Some((stands, status_location)) = self.upload_status(&location, scope).await?
            else {
                crate::log::emit(1, || {
                    format!(
                        "upload of blob {} broke off ({error}) and its session is gone: starting over",
                        blob.digest
                    )
                });
                return Err(error);
            };
            let Some((stream, rehashed)) = resumer.from_offset(stands).await? else {
                crate::log::emit(1, || {
                    format!(
                        "upload of blob {} broke off ({error}); the registry holds {stands} bytes, which cannot be resumed: starting over",
                        blob.digest
                    )
                });
                return Err(error);
            };
            crate::log::emit(1, || {
                format!(
                    "upload of blob {} broke off ({error}): resuming at byte {stands} of {} ({rehashed} bytes re-read to check the digest)",
                    blob.digest, blob.size
                )
            });
            {
                let mut f = feed.lock().await;
                f.stream = stream;
                f.overhang = None;
                f.generation += 1;
            }
            offset = stands;
            location = status_location;
        }
        // The whole content must have been read and checked: a resumed content that the registry
        // already held to its end is checked here.
        let mut f = feed.lock().await;
        let mut extra = f.overhang.take().map_or(0, |b| b.len() as u64);
        while let Some(next) = f.stream.next().await {
            extra += next?.len() as u64;
        }
        if extra > 0 {
            return Err(Error::SizeMismatch {
                what: format!("blob {}", blob.digest),
                expected: blob.size,
                actual: blob.size + extra,
            });
        }
        Ok(location)
    }

    /// Asks where an upload stands (`GET` on its location: `204` with `Range: 0-<last byte>`).
    /// Returns the bytes the registry holds and the location to go on with, or `None` when the
    /// session is gone (404) or the answer gives no usable offset.
    async fn upload_status(&self, location: &str, scope: &Scope) -> Result<Option<(u64, String)>> {
        let response = self.send(scope.clone(), || self.http.get(location)).await?;
        let status = response.status();
        if is_transient_status(status) {
            return Err(self.status_error(&Method::GET, location, response).await);
        }
        if !status.is_success() {
            crate::log::emit(2, || {
                format!(
                    "upload status {}: HTTP {}",
                    redact_url(location),
                    status.as_u16()
                )
            });
            return Ok(None);
        }
        let Some(stands) = response
            .headers()
            .get("range")
            .and_then(|r| r.to_str().ok())
            .and_then(parse_upload_range)
        else {
            return Ok(None);
        };
        Ok(Some((
            stands,
            upload_location(location, response.headers(), self.sends_credentials())?,
        )))
    }

    /// Keeps an upload session opened for `digest` until `put_blob` takes it. A session it
    /// replaces (two mounts of the same blob into the same repository both answered 202, as on
    /// a registry that ignores mounts) would never be used: it is cancelled.
    async fn keep_session(&self, repository: &str, digest: &Digest, location: Option<String>) {
        let Some(location) = location else {
            return;
        };
        let replaced = self
            .sessions
            .lock()
            .expect("sessions lock")
            .insert((repository.to_string(), digest.clone()), location);
        if let Some(replaced) = replaced {
            self.cancel_upload(repository, &replaced).await;
        }
    }

    /// Cancels the upload session kept for `digest` in `repository`, if there is one: the blob
    /// turned out to be there, so no upload will use it.
    async fn drop_session(&self, repository: &str, digest: &Digest) {
        let kept = self
            .sessions
            .lock()
            .expect("sessions lock")
            .remove(&(repository.to_string(), digest.clone()));
        if let Some(location) = kept {
            self.cancel_upload(repository, &location).await;
        }
    }

    /// Cancels an upload session (`DELETE` on its location), best effort: a registry that keeps
    /// it anyway purges it later, so a failure is only logged (`-vv`).
    async fn cancel_upload(&self, repository: &str, location: &str) -> bool {
        let scope = Scope::Push(repository.to_string());
        let outcome = self.send(scope, || self.http.delete(location)).await;
        let status = match &outcome {
            Ok(response) if response.status().is_success() => return true,
            Ok(response) => format!("HTTP {}", response.status().as_u16()),
            Err(e) => e.to_string(),
        };
        crate::log::emit(2, || {
            format!(
                "could not cancel the unused upload session {} ({status}); the registry purges it later",
                redact_url(location)
            )
        });
        false
    }

    /// Opens an upload session; returns its absolute URL.
    async fn start_upload(
        &self,
        repository: &str,
        query: &str,
        scope: Scope,
    ) -> Result<(StatusCode, Option<String>)> {
        let url = self.url(&format!("/v2/{repository}/blobs/uploads/{query}"));
        let response = self
            .send(scope, || self.http.post(&url).header(CONTENT_LENGTH, "0"))
            .await?;
        let status = response.status();
        if status != StatusCode::ACCEPTED && status != StatusCode::CREATED {
            let allow = response
                .headers()
                .get(reqwest::header::ALLOW)
                .and_then(|a| a.to_str().ok())
                .map(str::to_string);
            return Err(
                match self.status_error(&Method::POST, &url, response).await {
                    // No code of its own: the method itself is not served (read-only). ACR's lock of
                    // one repository answers 405 with a code, and stays that repository's.
                    Error::Status {
                        status: 405,
                        code: None,
                        ..
                    } => self.health.refuses_pushes(allow.as_deref()),
                    other => other,
                },
            );
        }
        if let Some(min) = response
            .headers()
            .get("oci-chunk-min-length")
            .and_then(|v| v.to_str().ok()?.trim().parse::<u64>().ok())
        {
            self.chunk_min.fetch_max(min, Ordering::Relaxed);
        }
        let location = match response
            .headers()
            .get(LOCATION)
            .and_then(|l| l.to_str().ok())
        {
            Some(l) => Some(origin_checked(
                &url,
                l,
                "upload Location",
                self.sends_credentials(),
            )?),
            None => None,
        };
        Ok((status, location))
    }

    /// Deletes a manifest by digest (used by `delete-source`).
    pub async fn delete_manifest(&self, repository: &str, digest: &Digest) -> Result<()> {
        let url = self.url(&format!("/v2/{repository}/manifests/{digest}"));
        let response = self
            .send(Scope::Delete(repository.to_string()), || {
                self.http.delete(&url)
            })
            .await?;
        match response.status() {
            s if s.is_success() => Ok(()),
            StatusCode::NOT_FOUND => Ok(()),
            _ => Err(self.status_error(&Method::DELETE, &url, response).await),
        }
    }
}

/// The body of a small answer (a manifest, a listing page, a token), refused past `limit` bytes.
async fn read_limited(response: Response, limit: usize, url: &str) -> Result<Bytes> {
    read_body(response, limit, url, Beyond::Refused).await
}

/// The first `limit` bytes of an answer that is only shown or searched (an error envelope, a
/// proxy's page): the rest is not read, and a body that cannot be read is empty.
async fn read_prefix(response: Response, limit: usize, url: &str) -> Bytes {
    read_body(response, limit, url, Beyond::Cut)
        .await
        .unwrap_or_default()
}

/// What [`read_body`] does with a body longer than its limit.
#[derive(Clone, Copy, PartialEq)]
enum Beyond {
    /// An error: the body is not what was asked for.
    Refused,
    /// The first bytes are kept, the rest left unread.
    Cut,
}

async fn read_body(response: Response, limit: usize, url: &str, beyond: Beyond) -> Result<Bytes> {
    let mut body = Vec::new();
    let read = async {
        let mut stream = response.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| connection_error(&Method::GET, url, &e))?;
            if body.len() + chunk.len() > limit {
                if beyond == Beyond::Cut {
                    body.extend_from_slice(&chunk[..limit - body.len()]);
                    return Ok(());
                }
                return Err(Error::invalid(
                    redact_url(url),
                    format!("body larger than {limit} bytes"),
                ));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(())
    };
    // `--read-timeout` bounds each silence; a server that sends a byte now and then would hold
    // the request for ever without this bound on the whole body. Like a broken connection, it
    // is retried (the registry may only be congested for a while).
    match tokio::time::timeout(SMALL_BODY_DEADLINE, read).await {
        Ok(Ok(())) => Ok(Bytes::from(body)),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(Error::Connection {
            method: Method::GET.to_string(),
            url: redact_url(url),
            reason: format!(
                "the body of at most {} KiB took more than {} minutes to arrive ({} bytes came): the registry is not serving this request",
                limit >> 10,
                SMALL_BODY_DEADLINE.as_secs() / 60,
                body.len()
            ),
        }),
    }
}

/// Longest a manifest, a listing page, a token answer or an error envelope may take to arrive
/// whole (4 MiB at most: 7 kB/s, slower than any working link).
const SMALL_BODY_DEADLINE: Duration = Duration::from_secs(10 * 60);

/// The most of an error envelope (or a proxy's page) that is read: enough for any message.
const ERROR_BODY_BYTES: usize = 64 << 10;

/// Reads of a manifest whose bytes do not match its digest before the mismatch is reported.
const MANIFEST_READS: u32 = 3;

/// How an upload body moves, for [`Inner::send_watched`]: when the body last gave bytes to the
/// registry's connection (or ended), and whether it is waiting for the source now. A registry
/// that reads slowly but steadily is never cut; one that stops reading, or does not answer, is.
#[derive(Clone)]
struct UploadWatch(Arc<WatchState>);

struct WatchState {
    started: Instant,
    /// Milliseconds after `started` of the last bytes given (or of the end of the body).
    last: std::sync::atomic::AtomicU64,
    /// True while the body waits for the source's next bytes.
    on_source: AtomicBool,
    /// True once the body was first asked for bytes: the request is on its way (signing it,
    /// waiting out a `Retry-After` and connecting come before, and are timed elsewhere).
    armed: AtomicBool,
}

impl UploadWatch {
    fn new() -> Self {
        UploadWatch(Arc::new(WatchState {
            started: Instant::now(),
            last: std::sync::atomic::AtomicU64::new(0),
            on_source: AtomicBool::new(false),
            armed: AtomicBool::new(false),
        }))
    }

    fn now_ms(&self) -> u64 {
        self.0.started.elapsed().as_millis() as u64
    }

    fn touch(&self) {
        self.0.last.store(self.now_ms(), Ordering::Relaxed);
    }

    /// Times the registry's silence from now, for a request without a body to watch.
    fn arm(&self) {
        self.0.armed.store(true, Ordering::Relaxed);
        self.touch();
    }

    /// The body, watched.
    fn wrap<S, E>(&self, body: S) -> impl futures::Stream<Item = std::result::Result<Bytes, E>>
    where
        S: futures::Stream<Item = std::result::Result<Bytes, E>> + Send + 'static,
    {
        let watch = self.clone();
        let mut body = Box::pin(body);
        futures::stream::poll_fn(move |cx| {
            watch.0.armed.store(true, Ordering::Relaxed);
            watch.0.on_source.store(true, Ordering::Relaxed);
            let polled = body.as_mut().poll_next(cx);
            if polled.is_ready() {
                watch.0.on_source.store(false, Ordering::Relaxed);
                watch.touch();
            }
            polled
        })
    }

    /// Resolves once the registry has been silent for `limit`: it took no bytes the body had
    /// ready, or gave no answer after the body ended.
    async fn silence(&self, limit: Duration) {
        let tick = (limit / 4).clamp(Duration::from_millis(20), Duration::from_secs(1));
        self.touch();
        loop {
            tokio::time::sleep(tick).await;
            if !self.0.armed.load(Ordering::Relaxed) || self.0.on_source.load(Ordering::Relaxed) {
                // Not sent yet, or the source's pace, which is the source's affair (its own
                // floor): the registry's silence is timed from the bytes it is next given.
                self.touch();
                continue;
            }
            let last = self.0.last.load(Ordering::Relaxed);
            if Duration::from_millis(self.now_ms().saturating_sub(last)) >= limit {
                return;
            }
        }
    }
}

/// The content of a chunked upload, shared by the PATCH bodies that take their share of it in turn.
struct Feed {
    stream: ByteStream,
    /// What the last share read beyond its end, for the next one.
    overhang: Option<Bytes>,
    /// Bumped when the content is reopened: bodies of the abandoned requests take nothing more.
    generation: u64,
}

/// A stream of exactly `len` bytes taken from a shared content stream (for one chunk of a chunked
/// upload); what overhangs the chunk is kept for the next one.
fn take(
    content: Arc<tokio::sync::Mutex<Feed>>,
    generation: u64,
    len: u64,
    blob: &Reference,
) -> impl futures::Stream<Item = Result<Bytes>> + Send + 'static {
    let what = format!("blob {}", blob.digest);
    let size = blob.size;
    futures::stream::unfold((content, len), move |(content, remaining)| {
        let what = what.clone();
        async move {
            if remaining == 0 {
                return None;
            }
            let mut guard = content.lock().await;
            if guard.generation != generation {
                return None;
            }
            let mut chunk = match guard.overhang.take() {
                Some(b) => b,
                None => match guard.stream.next().await {
                    Some(Ok(b)) => b,
                    Some(Err(e)) => return Some((Err(e), (content.clone(), 0))),
                    None => {
                        return Some((
                            Err(Error::SizeMismatch {
                                what,
                                expected: size,
                                actual: size - remaining,
                            }),
                            (content.clone(), 0),
                        ))
                    }
                },
            };
            if chunk.len() as u64 > remaining {
                guard.overhang = Some(chunk.split_off(remaining as usize));
            }
            let n = chunk.len() as u64;
            drop(guard);
            Some((Ok(chunk), (content, remaining - n)))
        }
    })
}

/// Failures of a PATCH after which asking the registry where the upload stands is worth it.
fn resumable(error: &Error) -> bool {
    match error {
        Error::Connection { .. } => true,
        Error::Status { status, .. } => {
            *status == 416 || *status == 429 || *status == 408 || *status >= 500
        }
        _ => false,
    }
}

/// The bytes an upload holds by its status `Range` (`0-<last byte>`; Distribution says `0-0` for
/// an empty upload, some registries `0--1`).
fn parse_upload_range(value: &str) -> Option<u64> {
    let value = value.trim();
    let value = value.strip_prefix("bytes=").unwrap_or(value);
    let last = value.strip_prefix("0-")?.trim();
    match last.parse::<i64>().ok()? {
        -1 | 0 => Some(0),
        n if n > 0 => Some(n as u64 + 1),
        _ => None,
    }
}

/// The upload location a response gives (relative to the current one), or the current one; one
/// on another origin is refused, in words that name the credentials when the run sends some
/// (`credentials`).
fn upload_location(current: &str, headers: &HeaderMap, credentials: bool) -> Result<String> {
    match headers.get(LOCATION).and_then(|l| l.to_str().ok()) {
        Some(l) => origin_checked(current, l, "upload Location", credentials),
        None => Ok(current.to_string()),
    }
}

/// How many times one blob download is resumed after its body broke off.
const BODY_RESUMES: u32 = 5;

/// The slowest a blob body may arrive: at least [`RateFloor::BYTES`] in every
/// [`RateFloor::WINDOW`] of waiting for it (under 1 KiB/s). Each read already has the client's
/// read timeout; this ends a body that trickles a byte now and then, never timing out, from a
/// broken or hostile server: it is asked again from where it stopped, as a body that broke off
/// is. Only the time spent waiting for the body counts, not the time its reader spends elsewhere
/// (an upload it feeds that waits for its target).
#[derive(Clone, Copy, Debug, Default)]
struct RateFloor {
    waited: Duration,
    bytes: u64,
}

impl RateFloor {
    const WINDOW: Duration = Duration::from_secs(5 * 60);
    const BYTES: u64 = 256 * 1024;

    /// Counts `n` bytes that arrived after `waited`; `Err` with the bytes of the window when a
    /// whole window of waiting brought fewer than [`RateFloor::BYTES`].
    fn arrived(&mut self, n: u64, waited: Duration) -> std::result::Result<(), u64> {
        self.bytes += n;
        self.waited += waited;
        if self.waited < Self::WINDOW {
            return Ok(());
        }
        let bytes = std::mem::take(&mut self.bytes);
        self.waited = Duration::ZERO;
        if bytes < Self::BYTES {
            return Err(bytes);
        }
        Ok(())
    }
}

/// A blob body that, when the connection breaks off, asks again from the byte where it stopped
/// (`Range: bytes=N-`); a server that ignores ranges answers the whole blob again and the bytes
/// already passed on are skipped. The consumer sees one uninterrupted stream.
///
/// `start` is the byte of the blob the response begins with, and `skip` how many of its first
/// bytes to drop (a server that answered a `Range` request with the whole blob).
fn resuming_body(
    registry: Registry,
    scope: Scope,
    url: String,
    response: Response,
    start: u64,
    skip: u64,
) -> impl futures::Stream<Item = Result<Bytes>> + Send + 'static {
    struct State {
        registry: Registry,
        scope: Scope,
        url: String,
        body: Option<futures::stream::BoxStream<'static, reqwest::Result<Bytes>>>,
        offset: u64,
        skip: u64,
        resumes: u32,
        rate: RateFloor,
    }
    let state = State {
        registry,
        scope,
        url,
        body: Some(response.bytes_stream().boxed()),
        offset: start,
        skip,
        resumes: 0,
        rate: RateFloor::default(),
    };
    futures::stream::unfold(state, |mut st| async move {
        loop {
            let waiting = tokio::time::Instant::now();
            let next = st.body.as_mut()?.next().await;
            let slow = match &next {
                Some(Ok(chunk)) => st
                    .rate
                    .arrived(chunk.len() as u64, waiting.elapsed())
                    .err()
                    .map(|bytes| {
                        format!(
                            "{bytes} bytes in the last {} minutes, under the {} KiB this tool waits for",
                            RateFloor::WINDOW.as_secs() / 60,
                            RateFloor::BYTES / 1024
                        )
                    }),
                _ => None,
            };
            let next = match slow {
                Some(reason) => Some(Err(BodyBroke::Slow(reason))),
                None => next.map(|r| r.map_err(BodyBroke::Failed)),
            };
            match next {
                None => return None,
                Some(Ok(mut chunk)) => {
                    if st.skip > 0 {
                        match super::drop_front(chunk, &mut st.skip) {
                            Some(rest) => chunk = rest,
                            None => continue,
                        }
                    }
                    st.offset += chunk.len() as u64;
                    return Some((Ok(chunk), st));
                }
                Some(Err(e)) => {
                    // The chunk that showed the body too slow is dropped: the range asked
                    // again starts at its first byte.
                    let why = match &e {
                        BodyBroke::Failed(e) if e.is_timeout() => format!(
                            "no byte for {} s (read timeout)",
                            st.registry.read_timeout.as_secs_f64()
                        ),
                        other => other.to_string(),
                    };
                    let interrupted = Error::Connection {
                        method: "GET".into(),
                        url: redact_url(&st.url),
                        reason: format!("body interrupted after {} bytes: {why}", st.offset),
                    };
                    st.rate = RateFloor::default();
                    if st.resumes >= BODY_RESUMES {
                        st.body = None;
                        return Some((Err(interrupted), st));
                    }
                    st.resumes += 1;
                    crate::log::emit(1, || {
                        format!("{interrupted}: resuming from byte {} (Range)", st.offset)
                    });
                    let registry = st.registry.clone();
                    let url = st.url.clone();
                    let range = format!("bytes={}-", st.offset);
                    let resumed = registry
                        .send(st.scope.clone(), || {
                            registry
                                .bulk
                                .get(&url)
                                .header(reqwest::header::RANGE, range.as_str())
                        })
                        .await;
                    match resumed {
                        Ok(r) if r.status() == StatusCode::PARTIAL_CONTENT => {
                            st.body = Some(r.bytes_stream().boxed());
                        }
                        Ok(r) if r.status().is_success() => {
                            st.skip = st.offset;
                            st.body = Some(r.bytes_stream().boxed());
                        }
                        Ok(r) => {
                            let e = st.registry.status_error(&Method::GET, &st.url, r).await;
                            st.body = None;
                            return Some((Err(e), st));
                        }
                        Err(e) => {
                            st.body = None;
                            return Some((Err(e), st));
                        }
                    }
                }
            }
        }
    })
}

/// Why a blob body stopped before its end.
enum BodyBroke {
    /// The connection failed.
    Failed(reqwest::Error),
    /// It arrived slower than [`RateFloor`] allows (said in words).
    Slow(String),
}

impl std::fmt::Display for BodyBroke {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BodyBroke::Failed(e) => e.fmt(f),
            BodyBroke::Slow(why) => write!(f, "too slow: {why}"),
        }
    }
}

/// True for a listing refused for the page size it asked (`400 PAGINATION_NUMBER_INVALID`).
fn is_page_size_refused(e: &Error) -> bool {
    matches!(e, Error::Status { status: 400, code: Some(code), .. } if code == "PAGINATION_NUMBER_INVALID")
}

/// `url` without the query parameter `key` (and without a `?` left empty).
fn without_query_key(url: &str, key: &str) -> String {
    let Some((path, query)) = url.split_once('?') else {
        return url.to_string();
    };
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| pair.split('=').next() != Some(key))
        .collect();
    if kept.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{}", kept.join("&"))
    }
}

#[derive(serde::Deserialize)]
struct ReferrersIndex {
    manifests: Option<Vec<serde_json::Value>>,
}

#[async_trait]
impl Source for Registry {
    async fn repositories(&self) -> Result<Vec<String>> {
        self.paginate::<Catalog, _>(
            Scope::Catalog,
            self.url(&format!("/v2/_catalog?n={}", self.page_size)),
            false,
            |c| c.repositories.unwrap_or_default(),
        )
        .await
    }

    async fn tags(&self, repository: &str) -> Result<Vec<String>> {
        let tags = self
            .paginate::<TagList, _>(
                Scope::Pull(repository.to_string()),
                self.url(&format!("/v2/{repository}/tags/list?n={}", self.page_size)),
                true,
                |t| t.tags.unwrap_or_default(),
            )
            .await?;
        let fallback = tags
            .iter()
            .filter(|t| is_fallback_tag(t))
            .cloned()
            .collect();
        self.fallback_listed
            .lock()
            .expect("fallback lock")
            .insert(repository.to_string(), fallback);
        Ok(tags)
    }

    async fn manifest(&self, repository: &str, reference: &str) -> Result<RawManifest> {
        self.get_manifest(Scope::Pull(repository.to_string()), repository, reference)
            .await
    }

    async fn manifest_digest(&self, repository: &str, reference: &str) -> Result<Option<Digest>> {
        self.head_manifest(Scope::Pull(repository.to_string()), repository, reference)
            .await
    }

    async fn blob(&self, repository: &str, blob: &Reference) -> Result<ByteStream> {
        let url = self.url(&format!("/v2/{repository}/blobs/{}", blob.digest));
        let scope = Scope::Pull(repository.to_string());
        let response = self.send(scope.clone(), || self.bulk.get(&url)).await?;
        if !response.status().is_success() {
            return Err(self.status_error(&Method::GET, &url, response).await);
        }
        Ok(Box::pin(resuming_body(
            self.clone(),
            scope,
            url,
            response,
            0,
            0,
        )))
    }

    async fn blob_from(
        &self,
        repository: &str,
        blob: &Reference,
        offset: u64,
    ) -> Result<ByteStream> {
        if offset == 0 {
            return self.blob(repository, blob).await;
        }
        if offset >= blob.size {
            return Ok(Box::pin(futures::stream::empty()));
        }
        let url = self.url(&format!("/v2/{repository}/blobs/{}", blob.digest));
        let scope = Scope::Pull(repository.to_string());
        let range = format!("bytes={offset}-");
        let response = self
            .send(scope.clone(), || {
                self.bulk
                    .get(&url)
                    .header(reqwest::header::RANGE, range.as_str())
            })
            .await?;
        let skip = match response.status() {
            StatusCode::PARTIAL_CONTENT => {
                let starts_at = response
                    .headers()
                    .get(reqwest::header::CONTENT_RANGE)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().strip_prefix("bytes "))
                    .and_then(|v| v.split('-').next())
                    .and_then(|v| v.trim().parse::<u64>().ok());
                if starts_at.is_some_and(|s| s != offset) {
                    return Err(Error::invalid(
                        format!("GET {}", redact_url(&url)),
                        format!("asked for bytes from {offset}, the answer starts elsewhere"),
                    ));
                }
                0
            }
            // The whole blob: drop what comes before the offset.
            s if s.is_success() => offset,
            _ => return Err(self.status_error(&Method::GET, &url, response).await),
        };
        Ok(Box::pin(resuming_body(
            self.clone(),
            scope,
            url,
            response,
            offset,
            skip,
        )))
    }

    async fn referrers(&self, repository: &str, digest: &Digest) -> Result<Option<Vec<Reference>>> {
        if self.referrers_api.load(Ordering::Relaxed) {
            if let Some(listed) = self.api_referrers(repository, digest).await? {
                return Ok(Some(listed));
            }
        }
        self.fallback_referrers(repository, digest).await
    }

    async fn tag_digests(&self, repository: &str) -> Result<Option<Vec<(String, Digest)>>> {
        if !self.acr {
            return Ok(None);
        }
        match acr::list_tags(self, repository).await {
            Ok(tags) => Ok(Some(tags.into_iter().map(|t| (t.name, t.digest)).collect())),
            // Credentials without `metadata_read` (a content-only scope map): the OCI way.
            Err(e) if acr::lacks_metadata_access(&e) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn all_manifests(&self, repository: &str) -> Result<Option<Vec<Digest>>> {
        if !self.acr {
            return Ok(None);
        }
        match acr::list_manifests(self, repository).await {
            Ok(manifests) => Ok(Some(manifests.into_iter().map(|m| m.digest).collect())),
            // Unlike tag digests (which the OCI listing replaces), untagged manifests have no
            // other listing: say so, rather than leave them out unseen.
            Err(e) if acr::lacks_metadata_access(&e) => Err(Error::Unsupported {
                what: format!("untagged manifests of {repository}"),
                reason: "the credentials may not read this ACR repository's metadata (/acr/v1 listings), so its untagged manifests (referrers, digest-pinned images) cannot be listed: grant metadata read, or pass --tagged-only".into(),
            }),
            Err(e) => Err(e),
        }
    }
}

/// The longest a stopped run spends cancelling its upload sessions ([`Destination::abandon`]).
const ABANDON_WITHIN: Duration = Duration::from_secs(10);

impl Registry {
    /// Sends `content` into the upload session at `location` and commits it under the blob's
    /// digest (chunked above `--chunk-size`).
    async fn complete_upload(
        &self,
        repository: &str,
        blob: &Reference,
        location: String,
        content: BlobContent,
        scope: Scope,
    ) -> Result<()> {
        let (content, resumer) = content.into_parts();
        let watch = UploadWatch::new();
        // Bodies are one-shot streams: each request is signed first and sent once. A chunked
        // upload that breaks off resumes where the registry stands (when the content can be read
        // again); anything else is retried by the copy engine from the start.
        let (location, body, length) = if self.chunk_size > 0 && blob.size > self.chunk_size {
            let location = self
                .upload_chunks(location, &scope, blob, content, resumer)
                .await?;
            // No body to watch: the registry's answer is timed from the start.
            watch.arm();
            (location, reqwest::Body::from(Vec::new()), 0)
        } else {
            (
                location,
                reqwest::Body::wrap_stream(watch.wrap(content)),
                blob.size,
            )
        };
        let separator = if location.contains('?') { '&' } else { '?' };
        let url = format!("{location}{separator}digest={}", blob.digest);
        let response = self
            .send_watched(
                &watch,
                self.upload
                    .put(&url)
                    .header(
                        CONTENT_TYPE,
                        HeaderValue::from_static("application/octet-stream"),
                    )
                    .header(CONTENT_LENGTH, length)
                    .body(body),
                &scope,
                Method::PUT,
                &url,
            )
            .await?;
        if response.status() != StatusCode::CREATED && !response.status().is_success() {
            let error = self.status_error(&Method::PUT, &url, response).await;
            return Err(match error {
                // The bytes the registry holds do not hash to the digest (a resumed upload whose
                // re-read bytes differ from those sent first): the copy engine starts over.
                Error::Status {
                    code: Some(code), ..
                } if code == "DIGEST_INVALID" => Error::DigestMismatch {
                    what: format!("blob {} as uploaded to {repository}", blob.digest),
                    expected: blob.digest.to_string(),
                    actual: "other content (the registry answered DIGEST_INVALID)".into(),
                },
                other => other,
            });
        }
        Ok(())
    }
}

#[async_trait]
impl Destination for Registry {
    /// Cancels the upload sessions the run left open (kept for an upload that never came, or
    /// taken by one that did not complete), a few at a time, for at most
    /// [`ABANDON_WITHIN`]: a registry keeps them for days otherwise (Distribution: 7).
    async fn abandon(&self) {
        let mut open: Vec<(String, String)> = self
            .sessions
            .lock()
            .expect("sessions lock")
            .drain()
            .map(|((repository, _), location)| (repository, location))
            .collect();
        open.extend(self.open_uploads.lock().expect("uploads lock").drain());
        if open.is_empty() {
            return;
        }
        // An upload the stop cut off may still be ending in the registry when its first
        // cancellation comes (Distribution then keeps it): one more try after a pause.
        let cancels = futures::stream::iter(open)
            .map(|(repository, location)| async move {
                if !self.cancel_upload(&repository, &location).await {
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    self.cancel_upload(&repository, &location).await;
                }
            })
            .buffer_unordered(8)
            .collect::<Vec<()>>();
        if tokio::time::timeout(ABANDON_WITHIN, cancels).await.is_err() {
            crate::log::emit(1, || {
                "some upload sessions of the run were not cancelled in time; the registry purges them later".to_string()
            });
        }
    }

    async fn current_digest(&self, repository: &str, reference: &str) -> Result<Option<Digest>> {
        self.head_manifest(Scope::Push(repository.to_string()), repository, reference)
            .await
    }

    /// A blob the repository holds needs no upload: an upload session a mount opened for it
    /// (a registry that ignores mounts answers 202 even for a blob it holds) is cancelled.
    async fn blob_size(&self, repository: &str, digest: &Digest) -> Result<super::Held> {
        let url = self.url(&format!("/v2/{repository}/blobs/{digest}"));
        let response = self
            .send(Scope::Push(repository.to_string()), || self.http.head(&url))
            .await?;
        match response.status() {
            StatusCode::NOT_FOUND => Ok(super::Held::Missing),
            s if s.is_success() => {
                // The header itself: for a HEAD, hyper reports the (empty) body's length as 0.
                let size = response
                    .headers()
                    .get(CONTENT_LENGTH)
                    .and_then(|v| v.to_str().ok()?.trim().parse().ok());
                self.drop_session(repository, digest).await;
                Ok(size.map_or(super::Held::Unsized, super::Held::Sized))
            }
            _ => Err(self.status_error(&Method::HEAD, &url, response).await),
        }
    }

    async fn mount_blob(&self, repository: &str, from: &str, digest: &Digest) -> Result<bool> {
        let scope = Scope::Mount {
            repository: repository.to_string(),
            from: from.to_string(),
        };
        let asked = self
            .start_upload(repository, &format!("?mount={digest}&from={from}"), scope)
            .await;
        let (status, location) = match asked {
            Err(refusal) if is_refusal(&refusal) => {
                // Refused, not failed (a token service that grants push on the target but not
                // pull on `from`, as one that reads only the first `scope` does): as docker
                // push, a plain upload session instead. Its own refusal is the error.
                crate::log::emit(1, || {
                    format!("mount of {digest} into {repository} from {from} refused ({refusal}): uploading it instead")
                });
                let push = Scope::Push(repository.to_string());
                let (_, location) = self.start_upload(repository, "", push).await?;
                self.refused_mounts
                    .lock()
                    .expect("refused mounts lock")
                    .insert((repository.to_string(), digest.clone()));
                (StatusCode::ACCEPTED, location)
            }
            other => other?,
        };
        if status == StatusCode::CREATED {
            return Ok(true);
        }
        // 202: the registry opened an upload session instead; keep it for the upload.
        self.keep_session(repository, digest, location).await;
        Ok(false)
    }

    fn mount_was_refused(&self, repository: &str, digest: &Digest) -> bool {
        self.refused_mounts
            .lock()
            .expect("refused mounts lock")
            .contains(&(repository.to_string(), digest.clone()))
    }

    async fn open_upload(&self, repository: &str, digest: &Digest) -> Result<()> {
        let scope = Scope::Push(repository.to_string());
        let (_, location) = self.start_upload(repository, "", scope).await?;
        self.keep_session(repository, digest, location).await;
        Ok(())
    }

    async fn put_blob(
        &self,
        repository: &str,
        blob: &Reference,
        content: ByteStream,
    ) -> Result<()> {
        self.put_blob_resumable(repository, blob, BlobContent::from_stream(content))
            .await
    }

    async fn put_blob_resumable(
        &self,
        repository: &str,
        blob: &Reference,
        content: BlobContent,
    ) -> Result<()> {
        let scope = Scope::Push(repository.to_string());
        let session = self
            .sessions
            .lock()
            .expect("sessions lock")
            .remove(&(repository.to_string(), blob.digest.clone()));
        let location = match session {
            Some(l) => l,
            None => self
                .start_upload(repository, "", scope.clone())
                .await?
                .1
                .ok_or_else(|| {
                    Error::invalid(
                        format!("upload to {repository}"),
                        "the registry gave no upload Location",
                    )
                })?,
        };
        let open = (repository.to_string(), location.clone());
        self.open_uploads
            .lock()
            .expect("uploads lock")
            .insert(open.clone());
        let completed = self
            .complete_upload(repository, blob, location, content, scope)
            .await;
        if completed.is_ok() {
            self.open_uploads
                .lock()
                .expect("uploads lock")
                .remove(&open);
        }
        completed
    }

    async fn put_manifest(
        &self,
        repository: &str,
        tag: Option<&str>,
        manifest: &RawManifest,
    ) -> Result<()> {
        let headers = match tag {
            // A source's own fallback index meets the copy's listing of referrers in one tag.
            Some(tag) if is_fallback_tag(tag) && manifest.media_type == OCI_INDEX => {
                self.put_fallback_index(repository, tag, manifest).await?
            }
            Some(tag) => self.push_manifest(repository, tag, manifest).await?,
            None => {
                self.push_manifest(repository, manifest.digest.as_str(), manifest)
                    .await?
            }
        };
        // A registry with the referrers API says it took the subject in (`OCI-Subject`); one
        // without it finds referrers only through the fallback tag the client keeps.
        if !headers.contains_key("oci-subject") {
            if let Some(subject) = manifest.view().ok().and_then(|v| v.subject().cloned()) {
                self.list_in_fallback_tag(repository, &subject.digest, manifest)
                    .await?;
            }
        }
        Ok(())
    }

    /// Where the registry has no referrers API (learnt from the first listing of referrers
    /// asked of it, one request a run): what the fallback tag of `subject` lists, one read of
    /// the tag with pull access. A repository whose tag listing of this run had no such tag (and
    /// to which this run wrote none) lists nothing, without a request.
    async fn fallback_listing(
        &self,
        repository: &str,
        subject: &Digest,
    ) -> Result<Option<Vec<Digest>>> {
        if !self.keeps_fallback_tags(repository, subject).await? {
            return Ok(None);
        }
        let tag = fallback_tag(subject);
        let absent = self
            .fallback_listed
            .lock()
            .expect("fallback lock")
            .get(repository)
            .is_some_and(|tags| !tags.contains(&tag));
        if absent {
            return Ok(Some(Vec::new()));
        }
        // Read with pull access: a verify may only read the target.
        let read = self
            .get_manifest(Scope::Pull(repository.to_string()), repository, &tag)
            .await;
        let listed = match read {
            Ok(index) => crate::referrers::listed(&index).unwrap_or_default(),
            Err(e) if e.is_not_found() => Default::default(),
            Err(e) => return Err(e),
        };
        Ok(Some(listed.into_iter().collect()))
    }

    /// Lists `referrer` in the fallback tag of `subject` as a push of it does (read, extended and
    /// written back one writer at a time), where the registry has no referrers API.
    async fn list_referrer(
        &self,
        repository: &str,
        subject: &Digest,
        referrer: &RawManifest,
    ) -> Result<()> {
        if self.keeps_fallback_tags(repository, subject).await? {
            self.list_in_fallback_tag(repository, subject, referrer)
                .await?;
        }
        Ok(())
    }
}

impl Registry {
    /// True when the registry keeps referrers in fallback tags (it has no referrers API). Until
    /// a listing of referrers has shown it, the referrers API is asked for those of `subject`
    /// in `repository`, once ([`Registry::api_referrers`] learns the answer).
    async fn keeps_fallback_tags(&self, repository: &str, subject: &Digest) -> Result<bool> {
        if self.referrers_api.load(Ordering::Relaxed)
            && !self.referrers_api_seen.load(Ordering::Relaxed)
        {
            self.api_referrers(repository, subject).await?;
        }
        Ok(!self.referrers_api.load(Ordering::Relaxed))
    }

    /// The referrers of `digest` listed by the registry's referrers API (every page); `None`
    /// when the registry turns out to have no such API (a bare 404 from an unknown route, or an
    /// answer that is not an index), which is then remembered: its referrers are read from
    /// fallback tags from then on.
    async fn api_referrers(
        &self,
        repository: &str,
        digest: &Digest,
    ) -> Result<Option<Vec<Reference>>> {
        let mut out = Vec::new();
        let mut next = Some(self.url(&format!("/v2/{repository}/referrers/{digest}")));
        let mut listing = ListingPages::default();
        while let Some(url) = next.take() {
            let pages = listing.visit(&url)?;
            let response = self
                .send(Scope::Pull(repository.to_string()), || {
                    self.http.get(&url).header(ACCEPT, OCI_INDEX)
                })
                .await?;
            let status = response.status();
            let is_index = response
                .headers()
                .get(CONTENT_TYPE)
                .and_then(|c| c.to_str().ok())
                .is_some_and(|c| c.starts_with(OCI_INDEX));
            if !status.is_success() || !is_index {
                let error = self.status_error(&Method::GET, &url, response).await;
                let answered = matches!(&error, Error::Status { code: Some(c), .. }
                    if c == "NAME_UNKNOWN" || c == "MANIFEST_UNKNOWN");
                if status == StatusCode::NOT_FOUND && answered {
                    // The API answered for this repository or subject (NAME_UNKNOWN,
                    // MANIFEST_UNKNOWN): nothing refers to it here.
                    self.referrers_api_seen.store(true, Ordering::Relaxed);
                    return Ok(Some(out));
                }
                if pages == 1
                    && (status == StatusCode::NOT_FOUND
                        || status.is_success()
                        || status == StatusCode::METHOD_NOT_ALLOWED)
                {
                    // No referrers API (a bare 404 from an unknown route, or something that is
                    // not an index): remember it and stop asking this registry.
                    self.referrers_api.store(false, Ordering::Relaxed);
                    crate::log::emit(1, || {
                        format!("{}: no referrers API (HTTP {})", self.host, status.as_u16())
                    });
                    return Ok(None);
                }
                return Err(error);
            }
            self.referrers_api_seen.store(true, Ordering::Relaxed);
            let link = next_link(response.headers());
            let body = read_limited(response, MAX_MANIFEST_BYTES, &url).await?;
            let index: ReferrersIndex = serde_json::from_slice(&body)
                .map_err(|e| Error::invalid(format!("referrers of {digest}"), e.to_string()))?;
            let page = index.manifests.unwrap_or_default();
            let empty = page.is_empty();
            listing.add(&url, page.len())?;
            for m in page {
                let d: oci_spec::image::Descriptor = serde_json::from_value(m)
                    .map_err(|e| Error::invalid(format!("referrers of {digest}"), e.to_string()))?;
                let digest: Digest = d.digest().to_string().parse()?;
                out.push(Reference {
                    digest,
                    size: d.size(),
                    media_type: d.media_type().to_string(),
                    foreign: false,
                    platform: None,
                    artifact_type: d.artifact_type().as_ref().map(|a| a.to_string()),
                });
            }
            if let (Some(link), false) = (link, empty) {
                next = Some(next_page_url(&url, &link)?);
            }
        }
        Ok(Some(out))
    }
}

impl Inner {
    /// PUTs a manifest under `reference` (a tag or its digest) and checks the digest the registry
    /// computed; returns the answer's headers. PUTs of this run that Distribution would see
    /// overlap are kept apart ([`links`]); a `DIGEST_INVALID` answer, which Distribution also
    /// gives while another client rewrites a manifest this index lists, is tried again a few
    /// times.
    async fn push_manifest(
        &self,
        repository: &str,
        reference: &str,
        manifest: &RawManifest,
    ) -> Result<HeaderMap> {
        let view = manifest.view().ok();
        let listed = view.iter().flat_map(|v| v.children()).map(|c| &c.digest);
        let _held = self
            .manifest_puts
            .hold(repository, &manifest.digest, listed)
            .await;
        let url = self.url(&format!("/v2/{repository}/manifests/{reference}"));
        let mut attempt = 0;
        let response = loop {
            attempt += 1;
            let response = self
                .send(Scope::Push(repository.to_string()), || {
                    self.http
                        .put(&url)
                        .header(CONTENT_TYPE, manifest.media_type.as_str())
                        .body(manifest.bytes.clone())
                })
                .await?;
            if response.status().is_success() {
                break response;
            }
            let error = self.status_error(&Method::PUT, &url, response).await;
            if attempt >= MANIFEST_PUT_ATTEMPTS || !is_digest_invalid(&error) {
                return Err(explain_foreign_refusal(error, view.as_ref()));
            }
            crate::log::emit(1, || {
                format!(
                    "{repository}:{reference}: the registry answered DIGEST_INVALID, as Distribution does while another client writes a manifest this one lists; trying again"
                )
            });
            tokio::time::sleep(self.retry_delay(attempt, None)).await;
        };
        if let Some(announced) = content_digest(response.headers()) {
            if announced != manifest.digest {
                self.confirm_manifest_push(repository, reference, manifest, &announced)
                    .await?;
            }
        }
        Ok(response.headers().clone())
    }

    /// A manifest push answered with a `Docker-Content-Digest` (`announced`) other than the
    /// digest pushed: the registry is asked by digest (`HEAD`) whether it holds what was pushed.
    /// When it does, the push is done (a header that disagrees, said at `-v`); when it does
    /// not, the push fails naming the header.
    async fn confirm_manifest_push(
        &self,
        repository: &str,
        reference: &str,
        manifest: &RawManifest,
        announced: &Digest,
    ) -> Result<()> {
        let held = self
            .head_manifest(
                Scope::Push(repository.to_string()),
                repository,
                manifest.digest.as_str(),
            )
            .await;
        if matches!(&held, Ok(Some(d)) if *d == manifest.digest) {
            crate::log::emit(1, || {
                format!(
                    "{repository}:{reference}: the registry answered the push with Docker-Content-Digest {announced}, not the digest pushed; it holds {} (HEAD by digest): the push is done",
                    manifest.digest
                )
            });
            return Ok(());
        }
        let checked = match held {
            Err(e) => format!("a HEAD by the digest pushed failed: {e}"),
            Ok(_) => "a HEAD by the digest pushed finds no such manifest".into(),
        };
        Err(Error::DigestMismatch {
            what: format!(
                "manifest pushed to {repository}:{reference} (the registry's Docker-Content-Digest; {checked})"
            ),
            expected: manifest.digest.to_string(),
            actual: announced.to_string(),
        })
    }

    /// The referrers of `digest` on a registry without the referrers API: the index under its
    /// fallback tag, when the repository's listing had that tag (none when it had not); `None`
    /// when the repository's tags were not listed.
    async fn fallback_referrers(
        &self,
        repository: &str,
        digest: &Digest,
    ) -> Result<Option<Vec<Reference>>> {
        let tag = fallback_tag(digest);
        let listed = match self
            .fallback_listed
            .lock()
            .expect("fallback lock")
            .get(repository)
        {
            Some(tags) => tags.contains(&tag),
            None => return Ok(None),
        };
        if !listed {
            return Ok(Some(Vec::new()));
        }
        let index = self
            .get_manifest(Scope::Pull(repository.to_string()), repository, &tag)
            .await?;
        if index.media_type != OCI_INDEX {
            return Ok(Some(Vec::new()));
        }
        Ok(Some(index.view()?.children().to_vec()))
    }

    /// The writer lock of the fallback tag `tag` of `repository`.
    fn fallback_writer(&self, repository: &str, tag: &str) -> WriterLock {
        self.fallback_tags
            .lock()
            .expect("fallback lock")
            .entry((repository.to_string(), tag.to_string()))
            .or_default()
            .clone()
    }

    /// What the fallback tag `tag` of `repository` holds now, if anything.
    async fn fallback_index(&self, repository: &str, tag: &str) -> Result<Option<RawManifest>> {
        match self
            .get_manifest(Scope::Push(repository.to_string()), repository, tag)
            .await
        {
            Ok(m) => Ok(Some(m)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Writes a fallback index that comes as a tag (a source's own `sha256-<hex>`, from oras,
    /// cosign or an earlier copy) one writer at a time with the copy's listings of referrers:
    /// byte for byte where it lists everything the tag listed, else merged so that no referrer
    /// the tag listed is dropped ([`crate::referrers::merge`]). Returns the answer's headers
    /// (none when nothing had to be written).
    async fn put_fallback_index(
        &self,
        repository: &str,
        tag: &str,
        index: &RawManifest,
    ) -> Result<HeaderMap> {
        let lock = self.fallback_writer(repository, tag);
        let _one_writer = lock.lock().await;
        let current = self.fallback_index(repository, tag).await?;
        let what = format!("{repository}:{tag}");
        let headers = match crate::referrers::merge(&what, index, current.as_ref())? {
            Merged::Unchanged => return Ok(HeaderMap::new()),
            Merged::Arriving => self.push_manifest(repository, tag, index).await?,
            Merged::Union(union) => {
                crate::log::emit(1, || {
                    format!("{what}: the target's fallback tag lists referrers the source's does not; both kept")
                });
                self.push_manifest(repository, tag, &union).await?
            }
        };
        self.fallback_written(repository, tag);
        Ok(headers)
    }

    /// Notes that this run wrote the fallback tag `tag` of `repository`, in the repository's
    /// listed fallback tags when it was listed (a listing of its tags read before the write
    /// does not have it).
    fn fallback_written(&self, repository: &str, tag: &str) {
        if let Some(tags) = self
            .fallback_listed
            .lock()
            .expect("fallback lock")
            .get_mut(repository)
        {
            tags.insert(tag.to_string());
        }
    }

    /// Lists `referrer` in the referrers fallback tag of `subject` (`sha256-<hex>`, an OCI index
    /// of the subject's referrers, OCI distribution spec 1.1), as clients of a registry without
    /// the referrers API look them up. Read, extended and written back one writer at a time; a
    /// referrer already listed (the source's own fallback index, copied as a tag) changes nothing.
    async fn list_in_fallback_tag(
        &self,
        repository: &str,
        subject: &Digest,
        referrer: &RawManifest,
    ) -> Result<()> {
        let tag = fallback_tag(subject);
        let lock = self.fallback_writer(repository, &tag);
        let _one_writer = lock.lock().await;
        let what = || format!("referrers fallback tag {repository}:{tag}");
        let current = match self.fallback_index(repository, &tag).await? {
            Some(m) if m.media_type == OCI_INDEX => Some(m),
            Some(m) => {
                return Err(Error::invalid(
                    what(),
                    format!("holds a `{}`, not an OCI index: clients without the referrers API would not find this referrer; move that tag aside", m.media_type),
                ))
            }
            None => None,
        };
        let mut index: serde_json::Value = match &current {
            Some(m) => crate::go_json::document(&m.bytes)
                .map_err(|e| Error::invalid(what(), e.to_string()))?,
            None => {
                serde_json::json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []})
            }
        };
        let digest = referrer.digest.to_string();
        let Some(entries) = index["manifests"].as_array_mut() else {
            return Err(Error::invalid(what(), "an index without `manifests`"));
        };
        if entries.iter().any(|e| e["digest"] == digest.as_str()) {
            return Ok(());
        }
        #[derive(serde::Deserialize)]
        struct Described {
            #[serde(rename = "artifactType")]
            artifact_type: Option<String>,
            config: Option<serde_json::Value>,
            annotations: Option<serde_json::Value>,
        }
        let described: Described = crate::go_json::document(&referrer.bytes)
            .and_then(serde_json::from_value)
            .map_err(|e| Error::invalid(what(), e.to_string()))?;
        let mut entry = serde_json::json!({
            "mediaType": referrer.media_type,
            "digest": digest,
            "size": referrer.bytes.len(),
        });
        // The artifact type, or else the config's media type (image-spec 1.1, referrers).
        if let Some(t) = described.artifact_type.or_else(|| {
            described
                .config
                .and_then(|c| c["mediaType"].as_str().map(str::to_string))
        }) {
            entry["artifactType"] = t.into();
        }
        if let Some(a) = described.annotations {
            entry["annotations"] = a;
        }
        entries.push(entry);
        let bytes =
            serde_json::to_vec(&index).map_err(|e| Error::invalid(what(), e.to_string()))?;
        let updated = RawManifest::new(Bytes::from(bytes), Some(OCI_INDEX))?;
        self.push_manifest(repository, &tag, &updated).await?;
        self.fallback_written(repository, &tag);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A server that sends its body a byte now and then, each well within the read timeout.
    #[tokio::test(start_paused = true)]
    async fn a_small_body_sent_a_byte_at_a_time_ends_at_the_deadline() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            let (mut conn, _) = listener.accept().await.unwrap();
            let mut request = [0u8; 1024];
            let _ = conn.read(&mut request).await;
            let head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n";
            conn.write_all(head.as_bytes()).await.unwrap();
            for _ in 0..100_000 {
                tokio::time::sleep(Duration::from_secs(1)).await;
                if conn.write_all(b" ").await.is_err() {
                    return;
                }
            }
        });
        let url = format!("http://127.0.0.1:{port}/v2/app/tags/list");
        let response = reqwest::Client::new().get(&url).send().await.unwrap();
        let e = read_limited(response, MAX_MANIFEST_BYTES, &url)
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("took more than 10 minutes to arrive"), "{e}");
        // A connection failure, retried as one.
        assert!(e.starts_with(&format!("GET {url}: ")), "{e}");
    }

    /// A blob body must bring 256 KiB in every five minutes: one that trickles (a byte a second,
    /// each read well within the read timeout) is cut at the end of its first window; a slow
    /// but steady one (1 KiB/s) is not.
    #[test]
    fn a_blob_body_that_trickles_is_cut_after_a_window_and_a_slow_steady_one_is_not() {
        let second = Duration::from_secs(1);
        let mut trickle = RateFloor::default();
        let cut = (1..=600u64).find_map(|s| trickle.arrived(1, second).err().map(|b| (s, b)));
        assert_eq!(cut, Some((300, 300)));
        let mut steady = RateFloor::default();
        assert!((0..3600).all(|_| steady.arrived(1024, second).is_ok()));
        // Time its reader spends elsewhere does not count: a body waited for a minute in all
        // is not judged, however long the copy paused between its chunks.
        let mut paused = RateFloor::default();
        assert!((0..60).all(|_| paused.arrived(1, second).is_ok()));
    }

    #[test]
    fn a_listing_is_bounded_in_entries_and_refuses_a_page_read_again() {
        let url = "http://127.0.0.1:5000/v2/_catalog?n=1000";
        let mut pages = ListingPages::default();
        pages.visit(url).unwrap();
        pages.add(url, MAX_LISTING_ENTRIES).unwrap();
        assert!(pages
            .add(url, 1)
            .unwrap_err()
            .to_string()
            .contains("more than 2,000,000 entries"));
        assert!(pages.visit(url).is_err());
        pages
            .visit("http://127.0.0.1:5000/v2/_catalog?n=1000&last=b")
            .unwrap();
    }

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
    fn a_refused_page_size_is_left_out_of_the_query() {
        assert_eq!(
            without_query_key("http://r/v2/_catalog?n=1000", "n"),
            "http://r/v2/_catalog"
        );
        assert_eq!(
            without_query_key("http://r/v2/a/tags/list?last=x&n=1000", "n"),
            "http://r/v2/a/tags/list?last=x"
        );
    }

    #[test]
    fn link_headers_give_the_next_page() {
        let mut h = HeaderMap::new();
        h.insert(
            "link",
            HeaderValue::from_static("</v2/_catalog?last=b&n=2>; rel=\"next\""),
        );
        assert_eq!(next_link(&h).as_deref(), Some("/v2/_catalog?last=b&n=2"));
        assert_eq!(next_link(&HeaderMap::new()), None);
    }

    #[test]
    fn header_urls_stay_on_the_registry_origin() {
        let here = "https://reg.example:8443/v2/a/blobs/uploads/";
        assert_eq!(
            same_origin_url(here, "/v2/a/blobs/uploads/1?_state=x", "upload Location").unwrap(),
            "https://reg.example:8443/v2/a/blobs/uploads/1?_state=x"
        );
        for elsewhere in [
            "https://evil.example/v2/a/blobs/uploads/1",
            "https://reg.example:9443/v2/a/blobs/uploads/1",
            "http://reg.example:8080/v2/a/blobs/uploads/1",
        ] {
            let e = same_origin_url(here, elsewhere, "upload Location").unwrap_err();
            assert!(e.to_string().contains("another origin"), "{e}");
        }
        // Behind a TLS-terminating proxy that did not say so, the registry names itself on
        // plain HTTP: asked over HTTPS, credentials stay encrypted.
        assert_eq!(
            same_origin_url(
                "https://reg.example/v2/_catalog",
                "http://reg.example/v2/_catalog?last=x",
                "Link header"
            )
            .unwrap(),
            "https://reg.example/v2/_catalog?last=x"
        );
    }

    #[test]
    fn another_origin_is_refused_in_words_that_fit_an_anonymous_run() {
        let here = "http://127.0.0.1:5000/v2/a/blobs/uploads/";
        let there = "http://localhost:5000/v2/a/blobs/uploads/1";
        let signed_in = origin_checked(here, there, "upload Location", true)
            .unwrap_err()
            .to_string();
        assert!(signed_in.contains("credentials"), "{signed_in}");
        let anonymous = origin_checked(here, there, "upload Location", false)
            .unwrap_err()
            .to_string();
        assert_eq!(
            anonymous,
            "upload Location: points to another origin (http://localhost:5000) than the registry's as given (http://127.0.0.1:5000): refused, as no request goes anywhere else: configure the registry (or its proxy) to answer with the address given"
        );
    }

    #[test]
    fn a_throttle_waited_out_spends_no_attempt_within_its_bounds() {
        let mut honoured = HonouredThrottles::default();
        // No wait asked (or none at all): an attempt like any failure.
        assert!(!honoured.spare(None));
        assert!(!honoured.spare(Some(Duration::ZERO)));
        for _ in 0..HONOURED_THROTTLES {
            assert!(honoured.spare(Some(Duration::from_secs(1))));
        }
        assert!(
            !honoured.spare(Some(Duration::from_secs(1))),
            "at most {HONOURED_THROTTLES}"
        );
        // Long waits end sooner: their time in all is bounded too.
        let mut honoured = HonouredThrottles::default();
        let long = Duration::from_secs(25);
        let spared = std::iter::repeat_with(|| honoured.spare(Some(long)))
            .take_while(|spared| *spared)
            .count() as u64;
        assert_eq!(spared, HONOURED_THROTTLE_TIME.as_secs() / 25);
        assert!(spared < u64::from(HONOURED_THROTTLES));
    }

    #[test]
    fn retry_after_takes_seconds_or_an_http_date() {
        let mut h = HeaderMap::new();
        h.insert("retry-after", HeaderValue::from_static("7"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(7)));
        assert_eq!(
            http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(784_111_777)
        );
        assert_eq!(http_date("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
        assert_eq!(http_date("Sunday, 06-Nov-94 08:49:37 GMT"), None);
        h.insert(
            "retry-after",
            HeaderValue::from_static("Thu, 01 Jan 1970 00:00:00 GMT"),
        );
        assert_eq!(
            retry_after(&h),
            Some(Duration::ZERO),
            "a date past is no wait"
        );
        assert!(!is_transient_status(StatusCode::NOT_IMPLEMENTED));
        assert!(is_transient_status(StatusCode::BAD_GATEWAY));
    }

    #[test]
    fn upload_status_ranges_give_the_bytes_held() {
        assert_eq!(parse_upload_range("0-65535"), Some(65536));
        assert_eq!(parse_upload_range("bytes=0-9"), Some(10));
        assert_eq!(parse_upload_range("0-0"), Some(0));
        assert_eq!(parse_upload_range("0--1"), Some(0));
        assert_eq!(parse_upload_range("5-9"), None);
        assert_eq!(parse_upload_range("garbage"), None);
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

    #[test]
    fn a_manifest_refused_for_its_foreign_layer_says_what_to_do() {
        let layer = Digest::of(b"windows base layer");
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": Digest::of(b"{}").as_str(), "size": 2},
            "layers": [{
                "mediaType": "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
                "digest": layer.as_str(), "size": 18,
                "urls": ["https://mcr.microsoft.com/v2/windows/blobs/x"],
            }],
        });
        let raw = RawManifest::new(
            serde_json::to_vec(&manifest).unwrap().into(),
            Some("application/vnd.oci.image.manifest.v1+json"),
        )
        .unwrap();
        let refused = |message: String| Error::Status {
            method: "PUT".into(),
            url: "http://127.0.0.1:5000/v2/win/manifests/ltsc".into(),
            status: 500,
            code: Some("UNKNOWN".into()),
            message: Some(message),
        };
        let explained = explain_foreign_refusal(
            refused(format!(
                "unknown error; MANIFEST_BLOB_UNKNOWN: blob unknown to registry ({layer})"
            )),
            raw.view().ok().as_ref(),
        )
        .to_string();
        assert!(
            explained.contains("--include-nondistributable"),
            "{explained}"
        );
        let other =
            explain_foreign_refusal(refused("unknown error".into()), raw.view().ok().as_ref())
                .to_string();
        assert!(!other.contains("--include-nondistributable"), "{other}");
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let p = RetryPolicy::default();
        assert!(p.delay(1, None) < Duration::from_secs(1));
        assert!(p.delay(30, None) <= p.max_delay.mul_f64(1.25));
        assert_eq!(
            p.delay(1, Some(Duration::from_secs(3))),
            Duration::from_secs(3)
        );
        assert_eq!(p.delay(1, Some(Duration::from_secs(999))), p.max_delay);
    }
}
