//! Registry login servers and image references: the one place that decides whether a reference
//! points at a given registry.
//!
//! The rules follow Docker's: the first path component of a reference is a registry host only when
//! the reference has a `/` and that component contains a `.` or a `:` or is `localhost`. So
//! `nginx:1.25` and `library/nginx` name Docker Hub implicitly and never match a `--from`, and a
//! port is part of the registry (`host:5000` is not `host`), except the HTTPS default: `host:443`
//! is the same registry as `host`, so a reference spelled `myreg.azurecr.io:443/app` is rewritten
//! too (to `--to` as given; the redundant `:443` goes). Hosts compare case-insensitively and
//! exactly: `myreg.azurecr.io` matches neither `myreg2.azurecr.io` nor `myreg.azurecr.io.evil`.
//!
//! Mentions (what `--check` counts besides references) are wider on purpose: every occurrence of
//! the host bounded by characters that cannot be part of a host name, whatever port follows it.

use crate::Error;

/// A registry login server, `host` or `host:port`, stored in lower case. `host:443` and `host`
/// are equal (443 is the HTTPS default port). The registry references are rewritten to may
/// also have a repository prefix ([`Registry::parse_target`]).
#[derive(Debug, Clone)]
pub struct Registry {
    host: String,
    /// Set for [`Registry::any`] only: matches every registry named in a reference.
    any: bool,
    /// The repository prefix the images are under (`team` of `host/team`), without slashes
    /// at either end; only [`Registry::parse_target`] sets it.
    prefix: Option<String>,
}

impl PartialEq for Registry {
    fn eq(&self, other: &Self) -> bool {
        self.any == other.any
            && self.canonical() == other.canonical()
            && self.prefix == other.prefix
    }
}

impl Eq for Registry {}

impl std::hash::Hash for Registry {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.any.hash(state);
        self.prefix.hash(state);
        self.canonical().hash(state);
    }
}

impl Registry {
    /// Validates a login server such as `myreg.azurecr.io` or `localhost:5000`.
    ///
    /// Refuses schemes, paths and names Docker would read as a Docker Hub namespace (`myreg`).
    pub fn parse(value: &str) -> Result<Self, Error> {
        // `USER:PASSWORD@HOST` (or `TOKEN@HOST`): refused with the credentials hidden, never echoed.
        if let Some((_, host)) = value.rsplit_once('@') {
            return Err(Error::InvalidRegistry {
                value: format!("***@{host}"),
                reason: "credentials do not go in a login server: give the host alone (the rewrite reads no registry with them)",
            });
        }
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
        // `host:443` is `host` (443 is the HTTPS default): kept without it, so that `--to
        // host:443` writes `host`, as a reference spelled with it is rewritten.
        Ok(Registry {
            host: strip_default_port(&value.to_ascii_lowercase()).to_owned(),
            any: false,
            prefix: None,
        })
    }

    /// A registry references are rewritten to: a login server as [`Registry::parse`] takes it,
    /// optionally followed by a repository prefix (`newreg.azurecr.io/legacy`), where `copy`
    /// put the images when its target had one. A reference `OLD/app:1` then becomes
    /// `newreg.azurecr.io/legacy/app:1`: the prefix goes in after the host
    /// ([`fmt::Display`](std::fmt::Display) writes both), and the target is asked for
    /// `legacy/app` ([`Registry::in_target`]). The prefix is lower case path segments of
    /// letters, digits, `.`, `_` and `-`.
    pub fn parse_target(value: &str) -> Result<Self, Error> {
        let Some((host, prefix)) = value.split_once('/').filter(|_| !value.contains("://")) else {
            return Registry::parse(value);
        };
        let mut registry = Registry::parse(host)?;
        let prefix = prefix.trim_end_matches('/');
        let segment_ok = |segment: &str| {
            !segment.is_empty()
                && segment.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
                })
        };
        if !prefix.split('/').all(segment_ok) {
            return Err(Error::InvalidRegistry {
                value: value.to_owned(),
                reason: "a repository prefix is made of lower-case letters, digits, `.`, `_` and `-`, its segments separated by `/`",
            });
        }
        registry.prefix = Some(prefix.to_owned());
        Ok(registry)
    }

    /// The repository prefix ([`Registry::parse_target`]), if any.
    pub fn prefix(&self) -> Option<&str> {
        self.prefix.as_deref()
    }

    /// The same registry without a repository prefix.
    pub fn without_prefix(&self) -> Registry {
        Registry {
            prefix: None,
            ..self.clone()
        }
    }

    /// The name in this registry of `repository` as references at the old registry name it:
    /// `prefix/repository` under a prefix, `repository` itself without one.
    pub fn in_target(&self, repository: &str) -> String {
        match &self.prefix {
            Some(prefix) if !repository.is_empty() => format!("{prefix}/{repository}"),
            Some(prefix) => prefix.clone(),
            None => repository.to_owned(),
        }
    }

    /// The inverse of [`Registry::in_target`]: `repository` (named in this registry) without
    /// the prefix, `None` when it is not under it.
    pub(crate) fn below_prefix<'r>(&self, repository: &'r str) -> Option<&'r str> {
        match &self.prefix {
            Some(prefix) => repository.strip_prefix(prefix.as_str())?.strip_prefix('/'),
            None => Some(repository),
        }
    }

    /// A stand-in that [`Registry::matches`] every registry a reference names explicitly (a
    /// component [`Registry::parse`] takes: `docker.io`, `localhost:5000`; never a Docker Hub
    /// short name), and that has no mentions, regional endpoints nor short name. Scanning with
    /// it finds the image references to any registry, which says what files reference when
    /// they name neither `--from` nor `--to` (see `Rewriter::nothing_matched`). Shown as `*`.
    pub(crate) fn any() -> Self {
        Registry {
            host: "*".to_owned(),
            any: true,
            prefix: None,
        }
    }

    /// The login server, lower case.
    pub fn as_str(&self) -> &str {
        &self.host
    }

    /// True when `component` (the registry part of a reference) names this registry;
    /// `host:443` and `host` name the same one.
    pub fn matches(&self, component: &str) -> bool {
        if self.any {
            return Registry::parse(component).is_ok();
        }
        let component = strip_default_port(component);
        if self.is_docker_hub() {
            return DOCKER_HUB
                .iter()
                .any(|alias| component.eq_ignore_ascii_case(alias));
        }
        component.eq_ignore_ascii_case(self.canonical())
    }

    /// The login server without a `:443` suffix; Docker Hub under any of its names is
    /// `docker.io`.
    fn canonical(&self) -> &str {
        if self.is_docker_hub() {
            return DOCKER_HUB[0];
        }
        strip_default_port(&self.host)
    }

    /// True for Docker Hub, under any of the names references give it ([`DOCKER_HUB`]).
    fn is_docker_hub(&self) -> bool {
        !self.any && DOCKER_HUB.contains(&strip_default_port(&self.host))
    }

    /// The host names this registry is mentioned by: its own, or every name of Docker Hub.
    fn hostnames(&self) -> Vec<&str> {
        if self.is_docker_hub() {
            DOCKER_HUB.to_vec()
        } else {
            vec![self.hostname()]
        }
    }

    /// The explicit port, unless it is the HTTPS default.
    fn port(&self) -> Option<&str> {
        self.canonical().split_once(':').map(|(_, port)| port)
    }

    /// The host name, without any port.
    fn hostname(&self) -> &str {
        self.host
            .split_once(':')
            .map_or(&self.host, |(host, _)| host)
    }

    /// The short name of an Azure Container Registry `NAME.azurecr.io` (or a sovereign cloud's
    /// `NAME.azurecr.cn`, ...): `NAME`, by which `az acr` commands and Azure resources name it.
    /// A registry created with a domain name label scope has the login server
    /// `NAME-HASH.azurecr.io`, and is still named `NAME`: registry names are letters and digits
    /// only, so what follows a `-` is the hash. `None` for other registries, and for one spelled
    /// with a port other than 443.
    pub fn short_name(&self) -> Option<&str> {
        if self.port().is_some() {
            return None;
        }
        let (label, suffix) = self.hostname().split_once('.')?;
        let name = label.split_once('-').map_or(label, |(name, _)| name);
        suffix.starts_with("azurecr.").then_some(name)
    }

    /// Byte offsets in `text` where this registry's host is mentioned as a whole host name.
    ///
    /// Used to report references that are not rewritten (block scalars, environment values,
    /// shell commands, files of other kinds) so that `--check` still sees them. The host must be
    /// bounded by bytes that cannot continue a host name; a `-` in front counts as a boundary
    /// when it cannot belong to a label (`${REG:-myreg.azurecr.io}`). Any port may follow
    /// (`host:5000` still names the old machine), unless this registry has a port of its own:
    /// then that port must follow.
    pub fn mentions(&self, text: &str) -> Vec<usize> {
        let mut found: Vec<usize> = self
            .hostnames()
            .into_iter()
            .flat_map(|host| self.mentions_of(host, text))
            .collect();
        found.sort_unstable();
        found
    }

    /// [`Registry::mentions`] of one host name.
    fn mentions_of(&self, host: &str, text: &str) -> Vec<usize> {
        let hay = text.as_bytes();
        let needle = host.as_bytes();
        let mut found = Vec::new();
        if self.any || needle.len() > hay.len() {
            return found;
        }
        let host_byte = |b: u8| b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b'_';
        for start in 0..=hay.len() - needle.len() {
            if !hay[start..start + needle.len()].eq_ignore_ascii_case(needle) {
                continue;
            }
            let mut before = start;
            while before > 0 && hay[before - 1] == b'-' {
                before -= 1;
            }
            if before > 0 && host_byte(hay[before - 1]) {
                continue;
            }
            let end = start + needle.len();
            // A dot that no label follows ends a sentence (`… in myreg.azurecr.io.`), not the
            // host: `myreg.azurecr.io.evil` is another host.
            let full_stop = hay.get(end) == Some(&b'.')
                && !hay
                    .get(end + 1)
                    .is_some_and(|&b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if hay.get(end).is_some_and(|&b| host_byte(b)) && !full_stop {
                continue;
            }
            if let Some(port) = self.port() {
                let port_end = end + 1 + port.len();
                let spelled = hay.get(end) == Some(&b':')
                    && hay.get(end + 1..port_end) == Some(port.as_bytes());
                if !spelled || hay.get(port_end).is_some_and(u8::is_ascii_digit) {
                    continue;
                }
            }
            found.push(start);
        }
        found
    }

    /// Byte offsets in `text` of this registry's regional endpoints, when it is an Azure
    /// Container Registry `NAME.azurecr.io` (or a sovereign cloud's `NAME.azurecr.cn`, ...):
    /// geo-replica login servers `NAME.REGION.geo.azurecr.io` and data endpoints
    /// `NAME.REGION.data.azurecr.io`, whatever port follows. They name the old registry without
    /// spelling its login server, so [`Registry::mentions`] does not see them.
    pub(crate) fn regional_endpoints(&self, text: &str) -> Vec<(usize, RegionalEndpoint)> {
        let mut found = Vec::new();
        let hostname = self.hostname();
        let Some((name, suffix)) = hostname.split_once('.') else {
            return found;
        };
        if !suffix.starts_with("azurecr.") {
            return found;
        }
        let hay = text.as_bytes();
        let host_byte = |b: u8| b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b'_';
        let lower = text.to_ascii_lowercase();
        let prefix = format!("{name}.");
        for (start, _) in lower.match_indices(&prefix) {
            if start > 0 && host_byte(hay[start - 1]) {
                continue;
            }
            let rest = &lower[start + prefix.len()..];
            let region_len = rest
                .bytes()
                .take_while(|b| b.is_ascii_alphanumeric() || *b == b'-')
                .count();
            if region_len == 0 {
                continue;
            }
            let region = &text[start + prefix.len()..start + prefix.len() + region_len];
            let after = &rest[region_len..];
            let (kind, tail) = if let Some(tail) = after.strip_prefix(".geo.") {
                ("geo", tail)
            } else if let Some(tail) = after.strip_prefix(".data.") {
                ("data", tail)
            } else {
                continue;
            };
            let Some(end) = tail.strip_prefix(suffix) else {
                continue;
            };
            if end.bytes().next().is_some_and(host_byte) {
                continue;
            }
            let region = region.to_owned();
            found.push((
                start,
                if kind == "geo" {
                    RegionalEndpoint::GeoReplica { region }
                } else {
                    RegionalEndpoint::Data { region }
                },
            ));
        }
        found
    }
}

/// A regional endpoint of an Azure Container Registry, named after the registry and a region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RegionalEndpoint {
    /// `NAME.REGION.geo.azurecr.io`: the login server of one geo-replica.
    GeoReplica {
        /// The region, as written.
        region: String,
    },
    /// `NAME.REGION.data.azurecr.io`: a dedicated data endpoint (layer downloads).
    Data {
        /// The region, as written.
        region: String,
    },
}

impl RegionalEndpoint {
    /// Why a mention of this endpoint is left alone and what to do, for `registry` (the old one).
    pub fn note(&self, registry: &Registry) -> String {
        match self {
            RegionalEndpoint::GeoReplica { region } => format!(
                "the {region} geo-replica login server of {registry}: not rewritten (the new registry's replicas may differ); point it at the new login server or one of its replicas by hand"
            ),
            RegionalEndpoint::Data { region } => format!(
                "the {region} data endpoint of {registry}: not rewritten (the new registry's data endpoints may differ); point it at the new registry's own endpoint by hand"
            ),
        }
    }
}

/// The names references give Docker Hub: `docker.io` (what Docker calls it), `index.docker.io`
/// (its old index, still accepted by `docker pull`) and `registry-1.docker.io` (the host its
/// registry API answers on). A `--from` naming one of them matches all three.
const DOCKER_HUB: [&str; 3] = ["docker.io", "index.docker.io", "registry-1.docker.io"];

/// `host:443` without its default port; anything else as it is.
fn strip_default_port(login_server: &str) -> &str {
    login_server.strip_suffix(":443").unwrap_or(login_server)
}

impl std::fmt::Display for Registry {
    /// The login server, then `/prefix` when there is one.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.host)?;
        match &self.prefix {
            Some(prefix) => write!(f, "/{prefix}"),
            None => Ok(()),
        }
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
    fn any_registry_matches_every_registry_a_reference_names_and_mentions_none() {
        let any = Registry::any();
        for named in [
            "docker.io",
            "LOCALHOST:5000",
            "myreg.azurecr.io:443",
            "127.0.0.1:47401",
        ] {
            assert!(any.matches(named), "{named}");
        }
        for not_a_registry in [
            "library",
            "nginx",
            "{{ .Values.registry }}",
            "$REGISTRY",
            "",
        ] {
            assert!(!any.matches(not_a_registry), "{not_a_registry}");
        }
        assert!(any
            .mentions("* docker.io/app:1 myreg.azurecr.io")
            .is_empty());
        assert_eq!(any.short_name(), None);
        assert_ne!(any, reg("docker.io"));
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
        // Credentials are refused and never echoed.
        for secret in [
            "alice:pSECRET@myreg.azurecr.io",
            "ghp_SECRET@myreg.azurecr.io",
        ] {
            let e = Registry::parse(secret).unwrap_err().to_string();
            assert!(!e.contains("SECRET"), "{e}");
            assert!(e.contains("***@myreg.azurecr.io"), "{e}");
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
        assert_eq!(r.mentions("images live in myreg.azurecr.io."), vec![15]);
        assert_eq!(r.mentions("# see myreg.azurecr.io. Then"), vec![6]);
        assert!(r.mentions("myreg.azurecr.io-mirror/a").is_empty());
        assert!(r.mentions("a-myreg.azurecr.io/a").is_empty());
        assert_eq!(r.mentions("MYREG.azurecr.io"), vec![0]);
        assert_eq!(
            reg("host.io:5000").mentions("host.io:5000/a host.io:50001/b host.io/c"),
            vec![0]
        );
    }

    #[test]
    fn mentions_include_other_ports_and_shell_defaults() {
        let r = reg("myreg.azurecr.io");
        assert_eq!(r.mentions("myreg.azurecr.io:443/a"), vec![0]);
        assert_eq!(r.mentions("myreg.azurecr.io:5000/a"), vec![0]);
        assert_eq!(r.mentions("${REG:-myreg.azurecr.io}/y:1"), vec![7]);
        assert_eq!(r.mentions("\"image\":\"myreg.azurecr.io/x\""), vec![9]);
    }

    #[test]
    fn regional_endpoints_of_an_azure_registry_are_found_by_name_and_region() {
        let r = reg("myacr.azurecr.io");
        let text = "myacr.westeurope.geo.azurecr.io/web:1 x MYACR.eastus.data.azurecr.io:443 myacr.azurecr.io/a myacr2.eastus.geo.azurecr.io xmyacr.eastus.geo.azurecr.io myacr.eastus.geo.azurecr.io.evil";
        let found = r.regional_endpoints(text);
        assert_eq!(
            found,
            vec![
                (
                    0,
                    RegionalEndpoint::GeoReplica {
                        region: "westeurope".into()
                    }
                ),
                (
                    40,
                    RegionalEndpoint::Data {
                        region: "eastus".into()
                    }
                ),
            ]
        );
        assert!(reg("registry.example.com")
            .regional_endpoints("registry.eastus.geo.example.com")
            .is_empty());
    }

    #[test]
    fn only_an_azure_registry_has_a_short_name() {
        assert_eq!(reg("myacr.azurecr.io").short_name(), Some("myacr"));
        assert_eq!(reg("MyAcr.azurecr.cn:443").short_name(), Some("myacr"));
        assert_eq!(reg("myacr.azurecr.io:5000").short_name(), None);
        assert_eq!(reg("registry.example.com").short_name(), None);
        assert_eq!(reg("localhost:5000").short_name(), None);
    }

    #[test]
    fn the_short_name_of_a_login_server_with_a_domain_name_label_hash_stops_at_the_dash() {
        assert_eq!(
            reg("oldacr-b7d9hyf0.azurecr.io").short_name(),
            Some("oldacr")
        );
    }

    #[test]
    fn a_target_registry_may_have_a_repository_prefix_which_goes_after_the_host() {
        let to = Registry::parse_target("NewReg.azurecr.io:443/legacy/team/").unwrap();
        assert_eq!(to.as_str(), "newreg.azurecr.io");
        assert_eq!(to.prefix(), Some("legacy/team"));
        assert_eq!(to.to_string(), "newreg.azurecr.io/legacy/team");
        assert_eq!(to.in_target("web"), "legacy/team/web");
        assert_eq!(to.below_prefix("legacy/team/web"), Some("web"));
        assert_eq!(to.below_prefix("web"), None);
        assert_eq!(to.short_name(), Some("newreg"));
        assert!(to.matches("newreg.azurecr.io"));
        assert_ne!(to, reg("newreg.azurecr.io"));
        assert_eq!(to.without_prefix(), reg("newreg.azurecr.io"));
        let plain = Registry::parse_target("newreg.azurecr.io").unwrap();
        assert_eq!(
            (plain.prefix(), plain.in_target("web")),
            (None, "web".to_owned())
        );
        for bad in [
            "newreg.azurecr.io/Legacy",
            "newreg.azurecr.io//x",
            "https://newreg.azurecr.io/x",
            "myreg/x",
        ] {
            assert!(Registry::parse_target(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn docker_hub_is_one_registry_under_each_of_its_names() {
        let hub = reg("docker.io");
        for alias in [
            "docker.io",
            "index.docker.io",
            "registry-1.docker.io",
            "INDEX.docker.io:443",
        ] {
            assert!(hub.matches(alias), "{alias}");
            assert!(reg("index.docker.io").matches(alias), "{alias}");
        }
        assert!(!hub.matches("ghcr.io"));
        assert!(!hub.matches("mydocker.io"));
        assert_eq!(hub, reg("registry-1.docker.io"));
        let text =
            "index.docker.io/library/nginx:1 registry-1.docker.io/x docker.io/y mydocker.io/z";
        assert_eq!(hub.mentions(text), vec![0, 32, 55]);
        assert!(!reg("example.io").matches("docker.io"));
    }

    #[test]
    fn a_login_server_given_with_the_https_default_port_is_kept_without_it() {
        assert_eq!(reg("newreg.azurecr.io:443").as_str(), "newreg.azurecr.io");
        assert_eq!(
            reg("newreg.azurecr.io:443").to_string(),
            "newreg.azurecr.io"
        );
        assert_eq!(reg("localhost:5000").as_str(), "localhost:5000");
    }

    #[test]
    fn the_https_default_port_names_the_same_registry() {
        let r = reg("myreg.azurecr.io");
        assert!(r.matches("myreg.azurecr.io:443"));
        assert!(r.matches("MYREG.azurecr.io"));
        assert!(!r.matches("myreg.azurecr.io:5000"));
        assert!(reg("myreg.azurecr.io:443").matches("myreg.azurecr.io"));
        assert_eq!(r, reg("myreg.azurecr.io:443"));
        assert_ne!(r, reg("myreg.azurecr.io:5000"));
        assert_eq!(
            reg("myreg.azurecr.io:443").mentions("myreg.azurecr.io/a"),
            vec![0]
        );
    }
}
