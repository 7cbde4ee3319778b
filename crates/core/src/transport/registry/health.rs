//! Whether a registry still answers, and what to tell the user when it does not.
//!
//! Every request records its outcome in the registry's [`Health`]: any HTTP answer ends a streak
//! of failures; a failure to connect, a reset connection or a timeout (and a gateway's 502 or 504,
//! which say the same of the registry behind it) adds to the streak, and so does a token service
//! that answers 5xx or not at all (no request can be signed while it fails: the streak's cause
//! names it). Once a streak has lasted the
//! give-up window (`--unreachable-after`, 60 s by default) with at least [`MIN_FAILURES`] failures
//! and no answer in between, the registry is taken as gone for the rest of the run: every request
//! fails at once with [`Error::Unreachable`], and a copy stops within about the window instead of
//! retrying each of its tags with a backoff of its own.
//!
//! Why a time window rather than a count alone: a run has dozens of requests in flight, and a
//! registry that restarts fails all of them within a second; a window rides out restarts and short
//! network cuts, and the minimum count keeps one slow failure (a read timeout) from ending a run.
//! Nothing is lost by giving up: the copy engine writes a tag only after its content, so what the
//! run did is complete, and the same command resumes it.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use crate::error::{Error, Mend};

/// The give-up window when the caller sets none.
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(60);

/// How long after a give-up window closes a retry waiting for it is sent.
const AFTER_THE_WINDOW: Duration = Duration::from_millis(50);

/// Failures a streak needs, besides lasting the window, before the registry is given up.
const MIN_FAILURES: u32 = 3;

/// The record of one registry's answers over a run.
pub(crate) struct Health {
    /// `SOURCE`, `TARGET` or `registry`.
    side: String,
    /// `host[:port]`.
    host: String,
    /// The proxy requests to it go through, for messages (`HOST:PORT (from $HTTPS_PROXY)`).
    proxy: Option<String>,
    /// True when a client certificate is presented to it (`--src-cert`/`--dst-cert`).
    client_certificate: bool,
    /// True when it is reached over TLS.
    tls: bool,
    /// The file of CA certificates given for it (`--src-ca-cert`/`--dst-ca-cert`), for messages.
    ca_given: Option<String>,
    /// Its base URL (`https://host:port`), for what the proxy decision says of it.
    base_url: String,
    window: Duration,
    /// Failures since the last answer (a fast path for [`Health::answered`]).
    failures: AtomicU32,
    /// Set once the registry is given up, for the rest of the run.
    gone: AtomicBool,
    streak: Mutex<Streak>,
}

#[derive(Default)]
struct Streak {
    /// When the first failure since the last answer happened (monotonic, and wall clock).
    since: Option<(Instant, SystemTime)>,
    /// What the last failure was, in a few words.
    last: String,
}

impl Health {
    /// A record for the registry at `host`, named `side` in errors.
    pub(crate) fn new(side: Option<&str>, host: &str, window: Option<Duration>) -> Self {
        Health {
            side: side.unwrap_or("registry").to_string(),
            host: host.to_string(),
            proxy: None,
            client_certificate: false,
            tls: false,
            ca_given: None,
            base_url: String::new(),
            window: window.unwrap_or(DEFAULT_WINDOW),
            failures: AtomicU32::new(0),
            gone: AtomicBool::new(false),
            streak: Mutex::new(Streak::default()),
        }
    }

    /// This record, for a registry reached at `base_url` (over TLS or not), through the proxy
    /// the environment names for it, presented a client certificate or not.
    pub(crate) fn reached(mut self, base_url: &str, client_certificate: bool) -> Self {
        self.proxy = crate::transport::proxy::describe(base_url);
        self.tls = base_url.starts_with("https://");
        self.base_url = base_url.to_string();
        self.client_certificate = client_certificate;
        self
    }

    /// This record, for a registry whose certificate is checked against the CA certificates of
    /// `ca_file` too (`--src-ca-cert`/`--dst-ca-cert`).
    pub(crate) fn trusting(mut self, ca_file: Option<&std::path::Path>) -> Self {
        self.ca_given = ca_file.map(|f| f.display().to_string());
        self
    }

    /// `SOURCE`, `TARGET` or `registry`.
    pub(crate) fn side(&self) -> &str {
        &self.side
    }

    /// The registry answered (any HTTP status but a gateway's 502 or 504): the streak is over.
    pub(crate) fn answered(&self) {
        if self.failures.load(Ordering::Relaxed) == 0 || self.gone.load(Ordering::Relaxed) {
            return;
        }
        let mut streak = self.streak.lock().expect("health lock");
        *streak = Streak::default();
        self.failures.store(0, Ordering::Relaxed);
    }

    /// A request failed without an answer (`cause`: "connection refused", ...). Returns the error
    /// to stop with when this failure makes the registry given up.
    pub(crate) fn failed(&self, cause: &str) -> Option<Error> {
        if self.gone.load(Ordering::Relaxed) {
            return Some(self.gone_error());
        }
        let mut streak = self.streak.lock().expect("health lock");
        let failures = self.failures.fetch_add(1, Ordering::Relaxed) + 1;
        let (since, _) = *streak
            .since
            .get_or_insert_with(|| (Instant::now(), SystemTime::now()));
        streak.last = cause.to_string();
        if failures >= MIN_FAILURES && since.elapsed() >= self.window {
            self.gone.store(true, Ordering::Relaxed);
            drop(streak);
            return Some(self.gone_error());
        }
        None
    }

    /// `delay`, shortened to end just after the give-up window of a streak of failures closes,
    /// so the next attempt, failing too, ends the run on time.
    pub(crate) fn capped(&self, delay: Duration) -> Duration {
        if self.failures.load(Ordering::Relaxed) == 0 {
            return delay;
        }
        let streak = self.streak.lock().expect("health lock");
        match streak.since {
            Some((at, _)) => delay.min(self.window.saturating_sub(at.elapsed()) + AFTER_THE_WINDOW),
            None => delay,
        }
    }

    /// `Err` once the registry is given up: requests then fail without being sent.
    pub(crate) fn check(&self) -> Result<(), Error> {
        if self.gone.load(Ordering::Relaxed) {
            return Err(self.gone_error());
        }
        Ok(())
    }

    fn gone_error(&self) -> Error {
        let streak = self.streak.lock().expect("health lock");
        let (since, lasted) = match streak.since {
            Some((at, wall)) => (utc_time_of_day(wall), at.elapsed().as_secs()),
            None => ("the start".to_string(), 0),
        };
        Error::Unreachable {
            side: self.side.clone(),
            host: self.host.clone(),
            reason: format!(
                "unreachable since {since} ({} on every request for {lasted} s){}",
                streak.last,
                crate::error::RESUME_ADVICE
            ),
            mid_run: true,
            mend: Mend::Elsewhere,
        }
    }

    /// The error of a registry that cannot be reached when it is opened: what happened, and what
    /// to check or write instead.
    pub(crate) fn unreachable_at_start(&self, failure: &ConnectFailure) -> Error {
        let host = &self.host;
        let hostname = host_without_port(host);
        let reason = match (failure, &self.proxy) {
            (ConnectFailure::ProxyAuth, proxy) => format!(
                "the proxy {} {}",
                proxy.as_deref().unwrap_or("between here and the registry"),
                crate::transport::proxy::refused_credentials_advice(&self.base_url)
            ),
            (ConnectFailure::Refused, Some(proxy)) => format!(
                "connection refused by the proxy {proxy}, which requests to {host} go through: check the proxy, or add `{hostname}` to NO_PROXY"
            ),
            (ConnectFailure::NoSuchHost, Some(proxy)) => format!(
                "the name of the proxy {proxy} (or of the registry, which the proxy looks up) does not resolve: check the proxy's address, or add `{hostname}` to NO_PROXY"
            ),
            (ConnectFailure::ClientCertificate(detail), _) if self.client_certificate => format!(
                "the registry refused this machine's client certificate ({detail}): check that {} names a certificate signed by a CA the registry trusts, with its key",
                self.cert_flags()
            ),
            (ConnectFailure::ClientCertificate(detail), _) => format!(
                "the registry wants a client certificate ({detail}): pass {} with the certificate and key (PEM) it accepts",
                self.cert_flags()
            ),
            (failure, Some(proxy)) => format!(
                "{} (through the proxy {proxy}: check it too, or add `{hostname}` to NO_PROXY)",
                self.direct_reason(failure)
            ),
            (failure, None) => self.direct_reason(failure),
        };
        Error::Unreachable {
            side: self.side.clone(),
            host: host.clone(),
            reason,
            mid_run: false,
            mend: failure.mend(),
        }
    }

    /// What `failure` means for a registry reached without a proxy, and what to do.
    fn direct_reason(&self, failure: &ConnectFailure) -> String {
        let host = &self.host;
        let hostname = host_without_port(host);
        let ca_flag = self.ca_flag();
        match failure {
            // Said with the proxy and the flags by `unreachable_at_start`; in a few words here.
            ConnectFailure::ProxyAuth => "the proxy asks for credentials (HTTP 407)".into(),
            ConnectFailure::ClientCertificate(detail) => {
                format!("the registry refused the TLS handshake over a client certificate ({detail})")
            }
            ConnectFailure::PlainHttp => {
                format!("the registry answers plain HTTP, not HTTPS: write `http://{host}`")
            }
            ConnectFailure::Refused => {
                format!("connection refused: nothing listens on {host}: check the address and port")
            }
            // A CA cannot mend a certificate made out to other names: no use asking for one.
            ConnectFailure::Certificate(detail)
                if detail.contains("NotValidForName") || detail.contains("not valid for name") =>
            {
                format!(
                    "its TLS certificate is not made out to `{hostname}` ({detail}): reach the registry by a name its certificate lists, or pass --insecure {host} to skip the check for this registry alone"
                )
            }
            // A certificate marked CA:TRUE served as the registry's own (what `openssl req -x509`
            // makes) and not given with --ca-cert: that file itself is what to give (trusted then
            // as the registry's own, see `tls`).
            ConnectFailure::Certificate(detail) if detail.contains("CaUsedAsEndEntity") => format!(
                "its TLS certificate is a self-signed CA certificate (basicConstraints CA:TRUE) used as the registry's own{}: pass {ca_flag} FILE with that very certificate (the registry's server certificate file), or --insecure {host} to skip the check for this registry alone",
                match &self.ca_given {
                    Some(file) => format!(", not the one given with {ca_flag} ({file})"),
                    None => String::new(),
                }
            ),
            // A CA was given, and did not sign it (another issuer, or one of the same name with
            // another key): asking for one again would not help.
            ConnectFailure::Certificate(detail)
                if (detail.contains("UnknownIssuer") || detail.contains("BadSignature"))
                    && self.ca_given.is_some() =>
            {
                format!(
                    "its TLS certificate is not signed by the CA given with {ca_flag} ({}), nor by one this machine trusts: give the CA that signed the registry's certificate (or that certificate itself when it is self-signed), or --insecure {host} to skip the check for this registry alone",
                    self.ca_given.as_deref().unwrap_or_default()
                )
            }
            ConnectFailure::Certificate(detail) => format!(
                "its TLS certificate is not trusted ({}): pass {ca_flag} FILE with the CA that signed it, or --insecure {host} to skip the check for this registry alone",
                readable_certificate_error(detail)
            ),
            ConnectFailure::TimedOut => format!(
                "no answer in time: check the address, and any firewall or proxy between here and {host}"
            ),
            ConnectFailure::NoSuchHost => {
                format!("the name `{hostname}` does not resolve: check its spelling (and DNS)")
            }
            // A registry that requires a client certificate may close the connection without its
            // alert reaching this side (over HTTP/2 it mostly does not).
            ConnectFailure::Reset(detail) if self.tls && !self.client_certificate => format!(
                "the connection was closed ({detail}): check that {host} is a registry, whether it answers HTTPS or plain HTTP (`http://{host}`), and whether it wants a client certificate ({})",
                self.cert_flags()
            ),
            // Written with `http://`: the scheme was chosen, and is no hint to give.
            ConnectFailure::Reset(detail) if self.base_url.starts_with("http://") => format!(
                "the connection was closed ({detail}): check that {host} is a registry that answers plain HTTP, and what lies between here and it (a proxy, a firewall)"
            ),
            ConnectFailure::Reset(detail) => format!(
                "the connection was closed ({detail}): check that {host} is a registry, and whether it answers HTTPS or plain HTTP (`http://{host}`)"
            ),
            ConnectFailure::Other(detail) => format!("cannot connect: {detail}"),
        }
    }
}

/// The option `--src-NAME` or `--dst-NAME` of `side` (`SOURCE`, `TARGET`); both, as
/// `--src-NAME/--dst-NAME`, for a registry whose side is not known.
pub(crate) fn side_flag(side: &str, name: &str) -> String {
    match side {
        "SOURCE" => format!("--src-{name}"),
        "TARGET" => format!("--dst-{name}"),
        _ => format!("--src-{name}/--dst-{name}"),
    }
}

impl Health {
    /// The flags that give this side's client certificate.
    fn cert_flags(&self) -> &'static str {
        match self.side.as_str() {
            "SOURCE" => "--src-cert FILE --src-key FILE",
            "TARGET" => "--dst-cert FILE --dst-key FILE",
            _ => "--src-cert/--dst-cert FILE and --src-key/--dst-key FILE",
        }
    }

    /// The flag that adds a CA for this side.
    fn ca_flag(&self) -> String {
        side_flag(&self.side, "ca-cert")
    }

    /// The error of blob storage on another host (`storage`: `host[:port]`), which the registry
    /// redirects downloads to, whose TLS certificate is not trusted: every blob would fail the
    /// same way, so the run stops with what to pass. `--insecure` names that host alone.
    pub(crate) fn storage_untrusted(&self, storage: &str, detail: &str) -> Error {
        Error::Unreachable {
            side: self.side.clone(),
            host: self.host.clone(),
            reason: format!(
                "the blob storage it redirects to, {storage}, has a TLS certificate that is not trusted ({detail}): pass {} FILE with the CA that signed it, or --insecure {storage} to skip the check for that host alone",
                self.ca_flag()
            ),
            mid_run: false,
            mend: Mend::TlsOptions,
        }
    }
}

impl Health {
    /// The error of a registry that does not take pushes at all: a blob upload answered `405`
    /// without an error code of its own (Distribution in read-only maintenance mode, a pull-through
    /// cache); `allow` is what its `Allow` header lists. Every upload would fail the same way, so
    /// the run stops at the first, in one line.
    pub(crate) fn refuses_pushes(&self, allow: Option<&str>) -> Error {
        Error::Unreachable {
            side: self.side.clone(),
            host: self.host.clone(),
            reason: format!(
                "the registry does not take pushes (a blob upload was answered HTTP 405{}): it is read-only (maintenance mode, or a pull-through cache or mirror): make it writable, or name another registry",
                allow.map(|a| format!(", Allow: {a}")).unwrap_or_default()
            ),
            mid_run: false,
            mend: Mend::Elsewhere,
        }
    }

    /// The error of the registry's token service (`service`: `host[:port]`) whose TLS
    /// certificate is not trusted (`detail` says why): no token, so nothing can be done; the run
    /// stops with what to pass. `--insecure` names that host alone.
    pub(crate) fn token_service_untrusted(&self, service: &str, detail: &str) -> Error {
        let other_names =
            detail.contains("NotValidForName") || detail.contains("not valid for name");
        let fix = match other_names {
            // A CA cannot mend a certificate made out to other names.
            true => format!("pass --insecure {service} to skip the check for that host alone"),
            false => format!(
                "pass {} FILE with the CA that signed it, or --insecure {service} to skip the check for that host alone",
                self.ca_flag()
            ),
        };
        Error::Unreachable {
            side: self.side.clone(),
            host: self.host.clone(),
            reason: format!(
                "its token service {service} has a TLS certificate that is not trusted ({detail}): {fix}"
            ),
            mid_run: false,
            mend: Mend::TlsOptions,
        }
    }
}

/// What kept a request from getting an answer, read from the error's chain of causes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ConnectFailure {
    /// A TLS handshake met a plain-HTTP answer.
    PlainHttp,
    /// Nothing listens on the port.
    Refused,
    /// The certificate is not trusted (the detail says why).
    Certificate(String),
    /// The connection or an answer took too long.
    TimedOut,
    /// The host name does not resolve.
    NoSuchHost,
    /// The connection was closed or reset.
    Reset(String),
    /// The proxy between here and the registry asks for credentials (HTTP 407).
    ProxyAuth,
    /// The registry ended the TLS handshake over this side's client certificate: it wants one,
    /// or does not accept the one presented (the detail names the alert).
    ClientCertificate(String),
    /// Anything else (the causes' text).
    Other(String),
}

impl ConnectFailure {
    /// What the user changes against this failure: the scheme for a plain-HTTP answer, the TLS
    /// options for a certificate, else nothing in the command.
    pub(crate) fn mend(&self) -> Mend {
        match self {
            ConnectFailure::PlainHttp => Mend::Endpoint,
            ConnectFailure::Certificate(_) | ConnectFailure::ClientCertificate(_) => {
                Mend::TlsOptions
            }
            _ => Mend::Elsewhere,
        }
    }

    /// Classifies a request error by its causes (`chain`: their texts joined) and whether it
    /// timed out.
    pub(crate) fn of(chain: &str, timed_out: bool) -> Self {
        let lower = chain.to_ascii_lowercase();
        if timed_out || lower.contains("timed out") || lower.contains("deadline has elapsed") {
            ConnectFailure::TimedOut
        } else if lower.contains("invalidcontenttype") || lower.contains("wrong version number") {
            ConnectFailure::PlainHttp
        } else if lower.contains("proxy authorization required") {
            ConnectFailure::ProxyAuth
        } else if lower.contains("connection refused") {
            ConnectFailure::Refused
        } else if lower.contains("received fatal alert")
            && (lower.contains("certificate") || lower.contains("unknownca"))
        {
            // An alert the server sent about the client's certificate (rustls: "received fatal
            // alert: CertificateRequired" / "BadCertificate"), not a failure to verify the
            // server's.
            ConnectFailure::ClientCertificate(last_cause(chain))
        } else if lower.contains("certificate") {
            // From the cause that names the certificate on ("invalid peer certificate:
            // UnknownIssuer").
            let parts: Vec<&str> = chain.split(": ").collect();
            let first = parts
                .iter()
                .position(|part| part.to_ascii_lowercase().contains("certificate"))
                .unwrap_or(0);
            ConnectFailure::Certificate(parts[first..].join(": ").trim().to_string())
        } else if lower.contains("dns error") || lower.contains("failed to lookup address") {
            ConnectFailure::NoSuchHost
        } else if lower.contains("reset")
            || lower.contains("closed")
            // hyper's word for a connection the server dropped before it could carry the request
            // (a TLS server that refused the handshake after it seemed done, over HTTP/2).
            || lower.contains("connection was not ready")
            || lower.contains("broken pipe")
            || lower.contains("eof")
            || lower.contains("incomplete")
        {
            ConnectFailure::Reset(last_cause(chain))
        } else {
            ConnectFailure::Other(chain.to_string())
        }
    }

    /// A few words for a streak of failures: "connection refused", "timed out", ...
    pub(crate) fn short(&self) -> String {
        match self {
            ConnectFailure::PlainHttp => "TLS handshake answered in plain HTTP".into(),
            ConnectFailure::Refused => "connection refused".into(),
            ConnectFailure::Certificate(_) => "certificate not trusted".into(),
            ConnectFailure::TimedOut => "timed out".into(),
            ConnectFailure::NoSuchHost => "host name does not resolve".into(),
            ConnectFailure::Reset(detail) => format!("connection closed: {detail}"),
            ConnectFailure::ProxyAuth => "the proxy asks for credentials".into(),
            ConnectFailure::ClientCertificate(_) => "client certificate refused".into(),
            ConnectFailure::Other(detail) => last_cause(detail),
        }
    }
}

/// The innermost of `: `-joined causes, without the `(os error N)` suffix.
fn last_cause(chain: &str) -> String {
    let last = chain.rsplit(": ").next().unwrap_or(chain).trim();
    match last.find(" (os error") {
        Some(i) => last[..i].to_string(),
        None => last.to_string(),
    }
}

fn host_without_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host.split_inclusive(']').next().unwrap_or(host);
    }
    host.split(':').next().unwrap_or(host)
}

/// `HH:MM:SS UTC` of a moment.
pub(crate) fn utc_time_of_day(at: SystemTime) -> String {
    let secs = at
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
        % 86_400;
    format!(
        "{:02}:{:02}:{:02} UTC",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// A certificate error as WebPKI names it (`invalid peer certificate: UnknownIssuer`, or Rust's
/// debug form of an error it has no variant for: `Other(OtherError(CaUsedAsEndEntity))`), in
/// words.
pub(crate) fn readable_certificate_error(detail: &str) -> String {
    const WORDS: [(&str, &str); 6] = [
        (
            "UnknownIssuer",
            "signed by an issuer this machine does not trust",
        ),
        (
            "CaUsedAsEndEntity",
            "a CA certificate used as the server's own",
        ),
        ("Expired", "expired"),
        ("NotValidYet", "not valid yet"),
        ("BadSignature", "its signature does not verify"),
        (
            "UnsupportedSignatureAlgorithm",
            "signed with an algorithm that is not supported",
        ),
    ];
    for (name, words) in WORDS {
        if detail.contains(name) {
            return format!("{words}: {name}");
        }
    }
    detail.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn causes_are_told_apart_by_their_text() {
        let of = |text: &str| ConnectFailure::of(text, false);
        assert_eq!(
            of("error sending request: client error (Connect): tcp connect error: Connection refused (os error 111)"),
            ConnectFailure::Refused
        );
        assert_eq!(
            of("client error (Connect): received corrupt message of type InvalidContentType"),
            ConnectFailure::PlainHttp
        );
        assert_eq!(
            of("client error (Connect): invalid peer certificate: UnknownIssuer"),
            ConnectFailure::Certificate("invalid peer certificate: UnknownIssuer".into())
        );
        assert_eq!(
            of("client error (Connect): dns error: failed to lookup address information: Name or service not known"),
            ConnectFailure::NoSuchHost
        );
        assert_eq!(
            ConnectFailure::of("anything", true),
            ConnectFailure::TimedOut
        );
        assert_eq!(
            of("connection error: Connection reset by peer (os error 104)").short(),
            "connection closed: Connection reset by peer"
        );
    }

    #[test]
    fn a_registry_is_given_up_only_after_the_window_and_enough_failures() {
        let health = Health::new(Some("TARGET"), "127.0.0.1:5000", Some(Duration::ZERO));
        assert!(health.failed("connection refused").is_none());
        assert!(health.failed("connection refused").is_none());
        // An answer ends the streak: the count starts again.
        health.answered();
        assert!(health.failed("connection refused").is_none());
        assert!(health.failed("connection refused").is_none());
        let error = health.failed("connection refused").expect("given up");
        assert!(error.stopped_answering());
        let text = error.to_string();
        assert!(
            text.starts_with("TARGET 127.0.0.1:5000: unreachable since "),
            "{text}"
        );
        assert!(
            text.contains("connection refused on every request"),
            "{text}"
        );
        assert!(
            text.contains("run the same command again to resume"),
            "{text}"
        );
        // From then on, for the rest of the run, even after a late answer.
        health.answered();
        assert!(health.check().is_err());
    }

    #[test]
    fn a_long_window_keeps_the_registry() {
        let health = Health::new(None, "reg.io", None);
        for _ in 0..100 {
            assert!(health.failed("timed out").is_none());
        }
        assert!(health.check().is_ok());
        assert_eq!(health.side(), "registry");
    }

    #[test]
    fn a_retry_never_waits_past_the_give_up_window() {
        let window = Duration::from_secs(2);
        let health = Health::new(Some("TARGET"), "127.0.0.1:5000", Some(window));
        let backoff = Duration::from_secs(30);
        assert_eq!(
            health.capped(backoff),
            backoff,
            "no streak: the backoff as it is"
        );
        assert!(health.failed("connection refused").is_none());
        let capped = health.capped(backoff);
        assert!(capped <= window + AFTER_THE_WINDOW, "{capped:?}");
        assert!(capped > window / 2, "{capped:?}");
        assert_eq!(
            health.capped(Duration::from_millis(10)),
            Duration::from_millis(10)
        );
        health.answered();
        assert_eq!(health.capped(backoff), backoff, "the streak is over");
    }

    #[test]
    fn a_certificate_for_other_names_asks_for_no_ca() {
        let text = Health::new(Some("SOURCE"), "127.0.0.1:5000", None)
            .unreachable_at_start(&ConnectFailure::Certificate(
                "invalid peer certificate: NotValidForName".into(),
            ))
            .to_string();
        assert!(text.contains("not made out to `127.0.0.1`"), "{text}");
        assert!(!text.contains("--src-ca-cert"), "{text}");
        // The opt-out named is this registry's, not every port of its host.
        assert!(
            text.contains("--insecure 127.0.0.1:5000 to skip the check for this registry alone"),
            "{text}"
        );
    }

    #[test]
    fn opening_errors_say_what_to_do() {
        let source = Health::new(Some("SOURCE"), "127.0.0.1:5000", None);
        let text = source
            .unreachable_at_start(&ConnectFailure::PlainHttp)
            .to_string();
        assert_eq!(
            text,
            "SOURCE 127.0.0.1:5000: the registry answers plain HTTP, not HTTPS: write `http://127.0.0.1:5000`"
        );
        let text = source
            .unreachable_at_start(&ConnectFailure::Certificate("UnknownIssuer".into()))
            .to_string();
        assert!(text.contains("--src-ca-cert FILE"), "{text}");
        assert!(text.contains("--insecure 127.0.0.1:5000 "), "{text}");
        let text = source
            .unreachable_at_start(&ConnectFailure::Refused)
            .to_string();
        assert!(text.contains("nothing listens on 127.0.0.1:5000"), "{text}");
    }

    #[test]
    fn a_closed_connection_to_an_endpoint_written_with_http_gives_no_scheme_hint() {
        let reset = ConnectFailure::Reset("Connection reset by peer".into());
        let plain = Health::new(Some("TARGET"), "127.0.0.1:5000", None)
            .reached("http://127.0.0.1:5000", false)
            .unreachable_at_start(&reset)
            .to_string();
        assert!(
            plain.starts_with(
                "TARGET 127.0.0.1:5000: the connection was closed (Connection reset by peer): "
            ),
            "{plain}"
        );
        assert!(!plain.contains("HTTPS"), "{plain}");
        assert!(!plain.contains("`http://"), "{plain}");
        // Written without a scheme (HTTPS): plain HTTP may be what it answers.
        let tls = Health::new(Some("TARGET"), "127.0.0.1:5000", None)
            .reached("https://127.0.0.1:5000", false)
            .unreachable_at_start(&reset)
            .to_string();
        assert!(tls.contains("(`http://127.0.0.1:5000`)"), "{tls}");
    }

    #[test]
    fn times_of_day_are_utc() {
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(86_400 * 3 + 3600 * 14 + 63);
        assert_eq!(utc_time_of_day(at), "14:01:03 UTC");
    }
}
