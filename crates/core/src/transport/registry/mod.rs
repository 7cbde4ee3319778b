//! The OCI Distribution transport: a registry over HTTP(S).
//!
//! One [`reqwest::Client`] per registry keeps connections alive; every request goes through
//! [`Registry::send`](Inner::send), which signs it ([`auth`]), retries connection errors, 5xx and
//! 429 with jittered exponential backoff (honouring `Retry-After`, whose waits spend no attempt
//! within bounds), and follows redirects by hand so that credentials are only ever sent to the
//! registry's own origin.
//!
//! Blob transfers survive interruptions by byte: a download that breaks off asks again with
//! `Range`, and a chunked upload whose PATCH fails asks the registry where the upload stands and
//! goes on from there, with the source reopened at that offset and the digest check carried across
//! (see [`crate::digest::BlobContent`]).
//!
//! This file builds a [`Registry`] (its clients, TLS trust and client identity, credentials) and
//! holds its state; the rest is in modules by concern:
//!
//! - `ping.rs`: the first request, `GET /v2/`, and what its answers mean;
//! - `send.rs`: the request path ([`Registry::send`](Inner::send)) and redirects; `retry.rs`:
//!   backoff, throttles and `Retry-After`; `origin.rs`: where requests may go;
//! - `sign_in.rs`: challenges and token services ([`auth`] holds the types); `errors.rs`: error
//!   envelopes, connection errors, refusals explained;
//! - `body.rs`: bodies read within limits, blob downloads that resume; `listing.rs`: paginated
//!   listings;
//! - `manifests.rs`: manifests read, pushed and deleted; `upload.rs`: upload sessions, chunked
//!   and resumed uploads; `referrers.rs`: the referrers API and fallback tags;
//! - `source.rs` and `destination.rs`: the registry as a [`Source`](super::Source) and a
//!   [`Destination`](super::Destination);
//! - beside them: [`acr`] (ACR's own API), [`health`] (a registry that stopped answering),
//!   [`throttle`] (requests in flight per host), `links.rs` (manifest pushes kept apart) and
//!   `tls.rs` (certificates).

pub mod acr;
pub mod auth;
mod body;
mod destination;
mod errors;
pub mod health;
mod links;
mod listing;
mod manifests;
mod origin;
mod ping;
mod referrers;
mod retry;
mod send;
mod sign_in;
mod source;
pub mod throttle;
mod tls;
mod upload;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use auth::TokenCache;
pub use auth::{Challenge, Credentials, Scope};
use health::{side_flag, Health};
pub use listing::{next_link, next_page_url, parse_link_value};
pub(crate) use origin::host_and_port;
use origin::names_host;
pub use retry::{is_transient_status, retry_after, HonouredThrottles, RetryPolicy};

use super::ConnectOptions;
use crate::digest::Digest;
use crate::endpoint::RegistryEndpoint;
use crate::error::{Error, Result};

/// Blobs above this size are uploaded in chunks of it: some proxies and registries cap the size of
/// one request body, and a chunk is what a failed request costs.
pub const DEFAULT_CHUNK_SIZE: u64 = 512 * 1024 * 1024;

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
    /// `UploadWatch` (`upload.rs`) times the registry's silence instead.
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
    /// Azure AD sign-in, when it applies to this host and no credentials were given or found,
    /// or those found in a store are a refresh token (`az acr login`'s, valid for 3 hours): the
    /// identity then signs in once the token endpoint refuses it.
    azure_ad: Option<crate::azure_ad::SharedAzureAd>,
    /// Set once the token endpoint refused the stored refresh token in `credentials` and the
    /// Azure AD identity took over: [`Inner::credentials`] is `None` from then on.
    stored_token_set_aside: AtomicBool,
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
    /// [`Destination::abandon`](super::Destination::abandon) when the run stops early.
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
        // An ACR refresh token found in a store (not given with a flag: what `az acr login`
        // leaves, for ACR's token user) may have expired: it lasts 3 hours, a copy may last
        // longer. Only that one gives way to the identity: another registry's identity token
        // never brings the Azure AD token to it.
        let stored_refresh_token = credentials
            .as_ref()
            .is_some_and(|c| c.username == auth::ACR_TOKEN_USER && !c.origin.starts_with("--"));
        let azure_ad = options.azure_ad.clone().filter(|a| {
            (credentials.is_none() || stored_refresh_token)
                && (a.for_every_registry() || acr::is_acr_host(hostname))
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
            stored_token_set_aside: AtomicBool::new(false),
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
    /// True when requests to the registry may carry credentials of the run (given, found in a
    /// docker config, or an Azure AD sign-in); false for an anonymous run.
    fn sends_credentials(&self) -> bool {
        self.credentials.is_some() || self.azure_ad.is_some()
    }

    /// The credentials requests carry: those given or found, until the token endpoint refused
    /// a stored refresh token and the Azure AD identity took over (then `None`).
    fn credentials(&self) -> Option<&Credentials> {
        self.credentials
            .as_ref()
            .filter(|_| !self.stored_token_set_aside.load(Ordering::Relaxed))
    }

    /// The registry host (`host[:port]`).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// True when the registry is an ACR (by its host, or forced with `ConnectOptions::acr`).
    pub fn is_acr(&self) -> bool {
        self.acr
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.base_url, path)
    }
}
