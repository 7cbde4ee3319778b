//! Registry login servers and image references: the one place that decides whether a reference
//! points at a given registry.
//!
//! The rules follow Docker's: the first path component of a reference is a registry host only when
//! the reference has a `/` and that component contains a `.` or a `:` or is `localhost`. So
//! `nginx:1.25` and `library/nginx` name Docker Hub implicitly and never match a `--from`, and a
//! port is part of the registry (`host:5000` is not `host`). Hosts compare case-insensitively and
//! exactly: `myreg.azurecr.io` matches neither `myreg2.azurecr.io` nor `myreg.azurecr.io.evil`.

use crate::Error;

/// A registry login server, `host` or `host:port`, stored in lower case.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Registry {
    host: String,
}

impl Registry {
    /// Validates a login server such as `myreg.azurecr.io` or `localhost:5000`.
    ///
    /// Refuses schemes, paths and names Docker would read as a Docker Hub namespace (`myreg`).
    pub fn parse(value: &str) -> Result<Self, Error> {
        let refuse = |reason| Error::InvalidRegistry {
            value: value.to_owned(),
            reason,
        };
        if value.is_empty() {
            return Err(refuse("it is empty"));
        }
        if value.contains("://") {
            return Err(refuse(
                "give the login server without a scheme, e.g. myreg.azurecr.io",
            ));
        }
        if value.contains('/') {
            return Err(refuse(
                "give the login server only, without a repository path",
            ));
        }
        let (host, port) = match value.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (value, None),
        };
        if let Some(port) = port {
            if port.is_empty()
                || !port.bytes().all(|b| b.is_ascii_digit())
                || port.parse::<u16>().map_or(true, |p| p == 0)
            {
                return Err(refuse("the port must be a number from 1 to 65535"));
            }
        }
        let label_ok = |label: &str| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        };
        if !host.split('.').all(label_ok) {
            return Err(refuse(
                "a host name is made of letters, digits, `-` and `.`",
            ));
        }
        if port.is_none() && !host.contains('.') && !host.eq_ignore_ascii_case("localhost") {
            return Err(refuse(
                "a name without `.` or `:` would be read as a Docker Hub namespace",
            ));
        }
        Ok(Registry {
            host: value.to_ascii_lowercase(),
        })
    }

    /// The login server, lower case.
    pub fn as_str(&self) -> &str {
        &self.host
    }

    /// True when `component` (the registry part of a reference) names this registry.
    pub fn matches(&self, component: &str) -> bool {
        component.eq_ignore_ascii_case(&self.host)
    }

    fn has_port(&self) -> bool {
        self.host.contains(':')
    }

    /// Byte offsets in `text` where this registry is mentioned as a whole host name.
    ///
    /// Used to report references that are not rewritten (block scalars, environment values,
    /// shell commands) so that `--check` still sees them.
    pub fn mentions(&self, text: &str) -> Vec<usize> {
        let hay = text.as_bytes();
        let needle = self.host.as_bytes();
        let mut found = Vec::new();
        if needle.len() > hay.len() {
            return found;
        }
        let host_byte = |b: u8| b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b'_';
        for start in 0..=hay.len() - needle.len() {
            if !hay[start..start + needle.len()].eq_ignore_ascii_case(needle) {
                continue;
            }
            if start > 0 && host_byte(hay[start - 1]) {
                continue;
            }
            let end = start + needle.len();
            match hay.get(end) {
                Some(&b) if host_byte(b) => continue,
                Some(b':')
                    if !self.has_port() && hay.get(end + 1).is_some_and(u8::is_ascii_digit) =>
                {
                    continue
                }
                _ => found.push(start),
            }
        }
        found
    }
}

impl std::fmt::Display for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.host)
    }
}

impl std::str::FromStr for Registry {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Registry::parse(s)
    }
}

/// An image reference taken apart: `registry/repository[:tag][@digest]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ImageRef<'a> {
    /// The explicit registry component; `None` for Docker Hub short names.
    pub registry: Option<&'a str>,
    /// The repository path inside the registry.
    pub repository: &'a str,
    /// The tag, without `:`.
    pub tag: Option<&'a str>,
    /// The digest, without `@`.
    pub digest: Option<&'a str>,
}

impl<'a> ImageRef<'a> {
    /// Splits a reference. Never fails: templated or odd references keep their raw parts, and
    /// [`ImageRef::is_literal`] says whether they can be looked up in a registry.
    pub fn split(reference: &'a str) -> ImageRef<'a> {
        let (registry, rest) = match reference.split_once('/') {
            Some((first, rest))
                if first.contains('.') || first.contains(':') || first == "localhost" =>
            {
                (Some(first), rest)
            }
            _ => (None, reference),
        };
        let (name, digest) = match rest.split_once('@') {
            Some((name, digest)) => (name, Some(digest)),
            None => (rest, None),
        };
        let last_slash = name.rfind('/').map_or(0, |i| i + 1);
        let (repository, tag) = match name[last_slash..].rfind(':') {
            Some(i) => (&name[..last_slash + i], Some(&name[last_slash + i + 1..])),
            None => (name, None),
        };
        ImageRef {
            registry,
            repository,
            tag,
            digest,
        }
    }

    /// True when repository, tag and digest are plain values (no `$VAR` or `{{ template }}`), so
    /// the reference can be checked against a registry.
    pub fn is_literal(&self) -> bool {
        let repo_ok = !self.repository.is_empty()
            && self.repository.bytes().all(|b| {
                b.is_ascii_lowercase()
                    || b.is_ascii_digit()
                    || matches!(b, b'.' | b'_' | b'-' | b'/')
            });
        repo_ok && self.tag.map_or(true, is_tag) && self.digest.map_or(true, is_digest)
    }
}

/// True for a valid tag: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
pub(crate) fn is_tag(tag: &str) -> bool {
    let b = tag.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter()
            .all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

/// True for a digest such as `sha256:` followed by hex.
pub(crate) fn is_digest(digest: &str) -> bool {
    match digest.split_once(':') {
        Some((algorithm, hex)) => {
            !algorithm.is_empty()
                && algorithm.bytes().all(|b| {
                    b.is_ascii_lowercase()
                        || b.is_ascii_digit()
                        || b == b'+'
                        || b == b'.'
                        || b == b'_'
                        || b == b'-'
                })
                && hex.len() >= 32
                && hex.bytes().all(|b| b.is_ascii_hexdigit())
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reg(s: &str) -> Registry {
        Registry::parse(s).unwrap()
    }

    #[test]
    fn login_servers_are_validated() {
        assert!(Registry::parse("myreg.azurecr.io").is_ok());
        assert!(Registry::parse("localhost:5000").is_ok());
        assert!(Registry::parse("LOCALHOST").is_ok());
        for bad in [
            "",
            "myreg",
            "https://myreg.azurecr.io",
            "myreg.azurecr.io/x",
            "host:0",
            "host:99999",
            "a..b",
            "-a.b",
        ] {
            assert!(Registry::parse(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn references_are_split_like_docker_does() {
        let r = ImageRef::split("myreg.azurecr.io:443/team/app:1.2@sha256:abc");
        assert_eq!(r.registry, Some("myreg.azurecr.io:443"));
        assert_eq!(r.repository, "team/app");
        assert_eq!(r.tag, Some("1.2"));
        assert_eq!(r.digest, Some("sha256:abc"));
        let r = ImageRef::split("nginx:1.25");
        assert_eq!(
            (r.registry, r.repository, r.tag),
            (None, "nginx", Some("1.25"))
        );
        let r = ImageRef::split("library/nginx");
        assert_eq!(
            (r.registry, r.repository, r.tag),
            (None, "library/nginx", None)
        );
        let r = ImageRef::split("localhost/app");
        assert_eq!(r.registry, Some("localhost"));
    }

    #[test]
    fn templated_references_are_not_literal() {
        assert!(ImageRef::split("myreg.azurecr.io/app:1.0").is_literal());
        assert!(!ImageRef::split("myreg.azurecr.io/app:{{ .Values.tag }}").is_literal());
        assert!(!ImageRef::split("myreg.azurecr.io/${APP}:1").is_literal());
    }

    #[test]
    fn mentions_respect_host_boundaries() {
        let r = reg("myreg.azurecr.io");
        assert_eq!(r.mentions("x myreg.azurecr.io/a"), vec![2]);
        assert!(r.mentions("myreg2.azurecr.io/a").is_empty());
        assert!(r.mentions("xmyreg.azurecr.io/a").is_empty());
        assert!(r.mentions("myreg.azurecr.io.evil/a").is_empty());
        assert!(r.mentions("myreg.azurecr.io:5000/a").is_empty());
        assert_eq!(r.mentions("MYREG.azurecr.io"), vec![0]);
        assert_eq!(
            reg("host:5000").mentions("host:5000/a host:50001/b"),
            vec![0]
        );
    }
}
