//! Where requests may go: a URL a registry gives in a header (`Location`, `Link`) is resolved and
//! kept on the registry's own origin, where its credentials may be sent; hosts are matched
//! against those `--insecure` named; and a URL is named by `host[:port]` in messages.

use crate::error::{Error, Result};
use crate::secret::redact_url;

/// `target` (a header's URL, `what`) resolved against `current`; an error when it leaves
/// `current`'s origin (scheme, host and port), where the registry's credentials must not go.
///
/// One exception: `http://` on port 80 of the same host, from an HTTPS registry, is taken as the
/// registry's own address seen through a TLS-terminating proxy that did not say it terminated
/// TLS (Distribution without `relativeurls` or `X-Forwarded-Proto`), and is asked over HTTPS.
pub(super) fn same_origin_url(current: &str, target: &str, what: &str) -> Result<String> {
    origin_checked(current, target, what, true)
}

/// [`same_origin_url`] for a run that sends the registry credentials (`credentials`) or not: the
/// refusal names what it protects only when there is something to protect.
pub(super) fn origin_checked(
    current: &str,
    target: &str,
    what: &str,
    credentials: bool,
) -> Result<String> {
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

/// True when `hosts` (what `--insecure` named) holds the host of `url`, alone or with its port.
pub(super) fn names_host(hosts: &[String], url: &url::Url) -> bool {
    let host = url.host_str().unwrap_or("").to_ascii_lowercase();
    let with_port = match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.clone(),
    };
    hosts
        .iter()
        .any(|h| h.eq_ignore_ascii_case(&host) || h.eq_ignore_ascii_case(&with_port))
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
