//! What the user names as a source or a target.
//!
//! - `myregistry.azurecr.io`, `127.0.0.1:5000/mirror`: a registry over HTTPS, with an optional
//!   repository prefix;
//! - `http://127.0.0.1:5000`: plain HTTP, only when written out;
//! - `oci:DIR`: an OCI image layout on disk holding a whole registry;
//! - `oci-archive:FILE.tar[.gz]`: the same layout in one (optionally gzip-compressed) tar file.

use std::fmt;
use std::path::PathBuf;

use crate::error::Error;

/// Where content is read from or written to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// An OCI Distribution registry.
    Registry(RegistryEndpoint),
    /// An OCI image layout directory.
    Layout(PathBuf),
    /// An OCI layout in a tar file (`.tar`, or gzip-compressed `.tar.gz` / `.tgz`).
    Archive(PathBuf),
}

/// A registry host and an optional repository prefix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegistryEndpoint {
    /// True for `http://` (only when the user wrote it).
    pub plain_http: bool,
    /// `host` or `host:port`.
    pub host: String,
    /// Repository prefix (`mirror` in `host/mirror`), without slashes at either end.
    pub prefix: Option<String>,
}

impl RegistryEndpoint {
    /// `https://host` or `http://host`.
    pub fn base_url(&self) -> String {
        format!(
            "{}://{}",
            if self.plain_http { "http" } else { "https" },
            self.host
        )
    }

    /// The registry this endpoint names, spelled one way: the host in lower case, without the
    /// scheme's default port (`REG.io:443` and `reg.io` are one registry).
    pub fn registry_key(&self) -> String {
        let host = self.host.to_ascii_lowercase();
        let default_port = if self.plain_http { ":80" } else { ":443" };
        match host.strip_suffix(default_port) {
            Some(bare) => bare.to_string(),
            None => host,
        }
    }

    /// True when both endpoints name repositories in common: the same registry, and one's
    /// prefix lies within the other's (no prefix is the whole registry).
    pub fn overlaps(&self, other: &RegistryEndpoint) -> bool {
        if self.registry_key() != other.registry_key() {
            return false;
        }
        let within =
            |inner: &str, outer: &str| inner == outer || inner.starts_with(&format!("{outer}/"));
        match (&self.prefix, &other.prefix) {
            (Some(a), Some(b)) => within(a, b) || within(b, a),
            _ => true,
        }
    }

    /// The host without its port.
    pub fn hostname(&self) -> &str {
        if self.host.starts_with('[') {
            return self.host.split_inclusive(']').next().unwrap_or(&self.host);
        }
        self.host.split(':').next().unwrap_or(&self.host)
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Layout(p) => write!(f, "oci:{}", p.display()),
            Endpoint::Archive(p) => write!(f, "oci-archive:{}", p.display()),
            Endpoint::Registry(r) => {
                if r.plain_http {
                    f.write_str("http://")?;
                }
                f.write_str(&r.host)?;
                if let Some(p) = &r.prefix {
                    write!(f, "/{p}")?;
                }
                Ok(())
            }
        }
    }
}

impl std::str::FromStr for Endpoint {
    type Err = Error;

    fn from_str(input: &str) -> Result<Self, Error> {
        parse(input)
    }
}

fn bad(input: &str, reason: impl Into<String>) -> Error {
    Error::InvalidEndpoint {
        input: crate::digest::truncate(input),
        reason: reason.into(),
    }
}

/// The error of an endpoint with `USER[:PASSWORD]@` in it: named with the password hidden, never
/// echoed as written.
fn with_credentials(input: &str, user_info: &str) -> Error {
    let (user, hidden) = match user_info.split_once(':') {
        Some((user, _)) => (user, format!("{user}:***")),
        None => (user_info, user_info.to_string()),
    };
    let shown = input.replacen(user_info, &hidden, 1);
    let without = input.replacen(&format!("{user_info}@"), "", 1);
    Error::InvalidEndpoint {
        input: crate::digest::truncate(&shown),
        reason: format!(
            "credentials do not go in an endpoint: write `{}` and give `{}` with --src-creds/--dst-creds (the password from $ACR_RELOCATE_SRC_PASSWORD/$ACR_RELOCATE_DST_PASSWORD or --src-password-stdin/--dst-password-stdin)",
            crate::digest::truncate(&without),
            crate::digest::truncate(user)
        ),
    }
}

/// Parses an endpoint as the CLI accepts it.
pub fn parse(input: &str) -> Result<Endpoint, Error> {
    if let Some(path) = input.strip_prefix("oci-archive:") {
        if path.is_empty() {
            return Err(bad(
                input,
                "`oci-archive:` needs a file, as in `oci-archive:./export.tar.gz`",
            ));
        }
        return Ok(Endpoint::Archive(PathBuf::from(path)));
    }
    if let Some(path) = input.strip_prefix("oci:") {
        if path.is_empty() {
            return Err(bad(input, "`oci:` needs a directory, as in `oci:./export`"));
        }
        return Ok(Endpoint::Layout(PathBuf::from(path)));
    }
    let (plain_http, rest) = if let Some(r) = input.strip_prefix("http://") {
        (true, r)
    } else if let Some(r) = input.strip_prefix("https://") {
        (false, r)
    } else if input.contains("://") {
        return Err(bad(
            input,
            "only `https://` (the default), `http://` and `oci:` are understood",
        ));
    } else {
        (false, input)
    };
    let rest = rest.trim_end_matches('/');
    // `USER:PASSWORD@HOST` (a password may hold `/` and `@`), unlike `HOST/REPO@sha256:…`.
    if let Some((user_info, after)) = rest.rsplit_once('@') {
        let digest = after
            .split_once(':')
            .is_some_and(|(algorithm, _)| matches!(algorithm, "sha256" | "sha384" | "sha512"));
        if !digest {
            return Err(with_credentials(input, user_info));
        }
    }
    let (host, prefix) = match rest.split_once('/') {
        Some((h, p)) => (h, Some(p)),
        None => (rest, None),
    };
    validate_host(input, host)?;
    let prefix = match prefix {
        None => None,
        Some(p) => {
            if p.contains('@') || p.rsplit('/').next().is_some_and(|last| last.contains(':')) {
                return Err(bad(
                    input,
                    "a whole registry is copied: name a host and an optional repository prefix, without a tag or digest (filter with --repo and --tag)",
                ));
            }
            validate_repository(p).map_err(|reason| bad(input, reason))?;
            Some(p.to_string())
        }
    };
    Ok(Endpoint::Registry(RegistryEndpoint {
        plain_http,
        host: host.to_string(),
        prefix,
    }))
}

fn validate_host(input: &str, host: &str) -> Result<(), Error> {
    if host.is_empty() {
        return Err(bad(
            input,
            "the registry host is missing, as in `myregistry.azurecr.io`",
        ));
    }
    let (name, port) = if host.starts_with('[') {
        match host.find(']') {
            Some(i) => (&host[..=i], host[i + 1..].strip_prefix(':')),
            None => return Err(bad(input, "unterminated IPv6 address")),
        }
    } else {
        match host.split_once(':') {
            Some((n, p)) => (n, Some(p)),
            None => (host, None),
        }
    };
    if let Some(port) = port {
        if port.parse::<u16>().map(|p| p == 0).unwrap_or(true) {
            return Err(bad(
                input,
                format!("`{port}` is not a port number (1-65535)"),
            ));
        }
    }
    let ok = name.starts_with('[')
        || (!name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-'));
    if !ok {
        return Err(bad(input, format!("`{name}` is not a host name")));
    }
    Ok(())
}

/// Checks a repository name against the OCI distribution grammar
/// (`[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*`).
pub fn validate_repository(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 255 {
        return Err("a repository name has 1 to 255 characters".into());
    }
    for component in name.split('/') {
        let bytes = component.as_bytes();
        let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
        let valid = !bytes.is_empty()
            && alnum(bytes[0])
            && alnum(bytes[bytes.len() - 1])
            && bytes
                .iter()
                .all(|&b| alnum(b) || b == b'.' || b == b'_' || b == b'-')
            && !component.contains("..")
            && !component.contains("___")
            && !component.contains("._")
            && !component.contains("_.")
            && !component.contains(".-")
            && !component.contains("-.")
            && !component.contains("_-")
            && !component.contains("-_");
        if !valid {
            return Err(format!(
                "`{}` is not a valid repository path component (lowercase letters, digits and single separators . _ __ -)",
                crate::digest::truncate(component)
            ));
        }
    }
    Ok(())
}

/// Checks a tag against the OCI grammar `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`.
pub fn validate_tag(tag: &str) -> Result<(), String> {
    let b = tag.as_bytes();
    let ok = !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter()
            .all(|&c| c.is_ascii_alphanumeric() || c == b'_' || c == b'.' || c == b'-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{}` is not a valid tag (letters, digits, _ . -, at most 128)",
            crate::digest::truncate(tag)
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_registry_spelled_two_ways_overlaps_itself() {
        assert!(reg("REG.io:443/team").overlaps(&reg("reg.io/team")));
        assert!(reg("reg.io").overlaps(&reg("reg.io/team/app")));
        assert!(reg("reg.io/team").overlaps(&reg("reg.io/team/app")));
        assert!(!reg("reg.io/team").overlaps(&reg("reg.io/teams")));
        assert!(!reg("reg.io/a").overlaps(&reg("reg.io/b")));
        assert!(!reg("reg.io:5000").overlaps(&reg("reg.io")));
        assert!(!reg("other.io").overlaps(&reg("reg.io")));
    }

    fn reg(input: &str) -> RegistryEndpoint {
        match parse(input).unwrap() {
            Endpoint::Registry(r) => r,
            other => panic!("not a registry: {other:?}"),
        }
    }

    #[test]
    fn a_bare_host_is_https_without_prefix() {
        let r = reg("myregistry.azurecr.io");
        assert!(!r.plain_http);
        assert_eq!(r.base_url(), "https://myregistry.azurecr.io");
        assert_eq!(r.prefix, None);
    }

    #[test]
    fn port_and_nested_prefix_are_kept() {
        let r = reg("127.0.0.1:5000/mirror/team");
        assert_eq!(r.host, "127.0.0.1:5000");
        assert_eq!(r.hostname(), "127.0.0.1");
        assert_eq!(r.prefix.as_deref(), Some("mirror/team"));
    }

    #[test]
    fn plain_http_only_when_written() {
        assert!(reg("http://127.0.0.1:5000").plain_http);
        assert!(!reg("https://127.0.0.1:5000").plain_http);
    }

    #[test]
    fn layouts_are_directories() {
        assert_eq!(parse("oci:./x").unwrap(), Endpoint::Layout("./x".into()));
        assert!(parse("oci:").is_err());
    }

    #[test]
    fn bad_endpoints_say_what_is_wrong() {
        for (input, needle) in [
            ("ftp://x", "only `https://`"),
            ("host:99999", "not a port"),
            ("host:abc", "not a port"),
            ("", "host is missing"),
            ("ho st", "not a host name"),
            ("host/Repo", "not a valid repository"),
            ("host/repo:tag", "without a tag"),
            ("host/repo@sha256:00", "without a tag"),
        ] {
            let e = parse(input).unwrap_err().to_string();
            assert!(e.contains(needle), "{input}: {e}");
        }
    }

    #[test]
    fn credentials_in_an_endpoint_are_refused_and_never_echoed() {
        for input in [
            "https://alice:S3cretPassw0rdXYZ@127.0.0.1:15003",
            "alice:S3cretPassw0rdXYZ@myregistry.azurecr.io/team",
            "http://alice:S3cretPassw0rdXYZ@127.0.0.1:15003",
            "https://alice:S3cret/Passw0rdXYZ@127.0.0.1:15003",
        ] {
            let e = parse(input).unwrap_err().to_string();
            assert!(!e.contains("Passw0rdXYZ"), "{e}");
            assert!(e.contains("alice:***@"), "{e}");
            assert!(e.contains("--src-creds/--dst-creds"), "{e}");
        }
        let e = parse("https://alice:S3cret@127.0.0.1:15003")
            .unwrap_err()
            .to_string();
        assert!(e.contains("write `https://127.0.0.1:15003`"), "{e}");
        let e = parse("alice@reg.io").unwrap_err().to_string();
        assert!(e.contains("give `alice` with --src-creds"), "{e}");
    }

    #[test]
    fn repository_grammar() {
        for ok in ["a", "team/app/svc-1", "a__b", "a.b", "a---b"] {
            validate_repository(ok).unwrap();
        }
        for bad in ["A", "a/", "/a", "a..b", "-a", "a_", "a___b"] {
            assert!(validate_repository(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn tag_grammar() {
        validate_tag("v1.0.0").unwrap();
        validate_tag("sha256-abc.sig").unwrap();
        assert!(validate_tag(".x").is_err());
        assert!(validate_tag(&"x".repeat(129)).is_err());
    }
}
