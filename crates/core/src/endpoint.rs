//! What the user names as a source or a target.
//!
//! - `myregistry.azurecr.io`, `127.0.0.1:5000/mirror`: a registry over HTTPS, with an optional
//!   repository prefix (`docker.io` is Docker Hub, whose API is at `registry-1.docker.io`);
//! - `http://127.0.0.1:5000`: plain HTTP, only when written out;
//! - `oci:DIR`: an OCI image layout on disk holding a whole registry;
//! - `oci-archive:FILE.tar[.gz]`: the same layout in one (optionally gzip-compressed) tar file.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

use crate::error::Error;

/// Docker Hub's registry API host, where its names `docker.io` and `index.docker.io` are sent.
pub const DOCKER_HUB_API_HOST: &str = "registry-1.docker.io";

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
    /// `https://HOST` or `http://HOST`, where HOST is [`api_host`](Self::api_host).
    pub fn base_url(&self) -> String {
        format!(
            "{}://{}",
            if self.plain_http { "http" } else { "https" },
            self.api_host()
        )
    }

    /// The `host[:port]` requests go to: the host as written, except Docker Hub's names
    /// `docker.io` and `index.docker.io` (in any case), whose API is at [`DOCKER_HUB_API_HOST`]
    /// (`docker.io` itself redirects to the web site), as docker, skopeo and crane read them.
    pub fn api_host(&self) -> String {
        let name = self.hostname().trim_end_matches('.').to_ascii_lowercase();
        if matches!(name.as_str(), "docker.io" | "index.docker.io") {
            let port = &self.host[self.hostname().len()..];
            return format!("{DOCKER_HUB_API_HOST}{port}");
        }
        self.host.clone()
    }

    /// The registry this endpoint names, spelled one way, so that two spellings of one registry
    /// compare equal (the scheme and the prefix are left out):
    ///
    /// - the host name in lower case, without trailing dots;
    /// - IP addresses in their one form (`127.1`, `2130706433` and `127.0.0.1` are one address,
    ///   as the HTTP client reads them; `[::ffff:10.0.0.1]` is `10.0.0.1`);
    /// - every name of this machine as `localhost`: `localhost`, `*.localhost`, `127.0.0.0/8`,
    ///   `::1`, and `0.0.0.0` and `::`, which a connection takes to this machine too;
    /// - an Azure Container Registry by its name: `reg.azurecr.io`, `reg.privatelink.azurecr.io`,
    ///   `reg.westeurope.geo.azurecr.io` and `reg.westeurope.data.azurecr.io` are one registry
    ///   (likewise in the other clouds' domains); Docker Hub's names as `docker.io`;
    /// - ports 80 and 443 left out: a web server commonly serves one site on both, so
    ///   `http://reg.io`, `reg.io:443` and `reg.io` are taken for one registry. Any other port
    ///   is kept: `reg.io:5000` and `reg.io:5001` are two registries.
    ///
    /// Two registries may still hide behind one key (virtual hosts of `localhost` served by one
    /// tunnel): a key shared is a reason to refuse a deletion, never to merge anything.
    pub fn registry_key(&self) -> String {
        self.key_with(canonical_host(self.hostname(), Loopback::OneMachine))
    }

    /// [`registry_key`](Self::registry_key) with this machine's addresses told apart as a
    /// connection tells them apart: `localhost`, `*.localhost`, `127.0.0.1`, `::1`, `0.0.0.0`
    /// and `::` are still `localhost`, but any other loopback address (`127.0.0.2`) is itself.
    /// For a copy's guard (see [`same_registry_by_address`]), never a deletion's.
    pub fn address_key(&self) -> String {
        self.key_with(canonical_host(self.hostname(), Loopback::ByAddress))
    }

    /// `name`, with the port unless it is 80 or 443.
    fn key_with(&self, name: String) -> String {
        match self.port() {
            80 | 443 => name,
            port => format!("{name}:{port}"),
        }
    }

    /// The port requests go to: the one written, or the scheme's (443, or 80 for `http://`).
    pub fn port(&self) -> u16 {
        let rest = &self.host[self.hostname().len()..];
        rest.strip_prefix(':')
            .and_then(|p| p.parse().ok())
            .unwrap_or(if self.plain_http { 80 } else { 443 })
    }

    /// True when both endpoints name repositories in common: the same registry by
    /// [`registry_key`](Self::registry_key), and one's prefix lies within the other's (no prefix
    /// is the whole registry). [`same_registry`] also asks the resolver.
    pub fn overlaps(&self, other: &RegistryEndpoint) -> bool {
        self.registry_key() == other.registry_key() && self.prefixes_overlap(other)
    }

    /// True when one endpoint's repository prefix lies within the other's (no prefix is the whole
    /// registry), whatever the hosts.
    pub fn prefixes_overlap(&self, other: &RegistryEndpoint) -> bool {
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

/// Why two registry endpoints are taken for one registry (see [`same_registry`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SameRegistry {
    /// They are spelled alike once normalised ([`RegistryEndpoint::registry_key`]).
    Spelled {
        /// The key both have.
        key: String,
    },
    /// Both host names resolve to this machine (a loopback address, or one of its own) and the
    /// requests go to the same port.
    ThisMachine {
        /// The first host name and an address of this machine it resolves to.
        first: (String, IpAddr),
        /// The second host name and an address of this machine it resolves to.
        second: (String, IpAddr),
        /// The port both use.
        port: u16,
    },
}

impl fmt::Display for SameRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SameRegistry::Spelled { key }
                if key == "localhost" || key.starts_with("localhost:") =>
            {
                write!(f, "both are this machine, `{key}`")
            }
            SameRegistry::Spelled { key } => write!(f, "both name the registry `{key}`"),
            SameRegistry::ThisMachine {
                first,
                second,
                port,
            } => write!(
                f,
                "`{}` ({}) and `{}` ({}) are both this machine, port {port}",
                first.0, first.1, second.0, second.1
            ),
        }
    }
}

/// Whether `a` and `b` may be one registry, and why (the guard of a deletion; a copy's is
/// [`same_registry_by_address`]): the same [`RegistryEndpoint::registry_key`],
/// or else host names that both resolve to this machine with one port (an `/etc/hosts` alias of
/// `localhost`, this machine's own address). Names of other machines that resolve to one address
/// are not taken for one registry (one ingress serves many registries by name). A name that does
/// not resolve proves nothing either way and is not taken for the other registry.
///
/// For a guard before deleting: a false "same" only refuses, a false "different" would let a
/// registry verified against itself be deleted. Prefixes are not looked at (see
/// [`RegistryEndpoint::prefixes_overlap`]).
pub async fn same_registry(a: &RegistryEndpoint, b: &RegistryEndpoint) -> Option<SameRegistry> {
    let key = a.registry_key();
    if key == b.registry_key() {
        return Some(SameRegistry::Spelled { key });
    }
    let same_port = a.port() == b.port() || (web_port(a.port()) && web_port(b.port()));
    if !same_port {
        return None;
    }
    let (first, second) = futures::join!(local_address(a), local_address(b));
    Some(SameRegistry::ThisMachine {
        first: (bare_host(a.hostname()).to_string(), first?),
        second: (bare_host(b.hostname()).to_string(), second?),
        port: a.port(),
    })
}

/// Whether `a` and `b` are one registry for a copy, and why, decided by address and port: the
/// same [`RegistryEndpoint::address_key`], or else host names that resolve to one address of
/// this machine (`localhost`, `127.0.0.1`, `::1`, `0.0.0.0` and `::` count as one) with one
/// port. Two loopback addresses (`127.0.0.1` and `127.0.0.2`, or names that `/etc/hosts` maps to
/// them: an SSH tunnel per registry) are two registries, as two listeners there are.
///
/// Less strict than [`same_registry`], which a deletion asks: one registry listening on every
/// address answers on both loopback addresses, and a copy onto itself then changes nothing (a
/// copy into a prefix of itself nests once), where a deletion would lose the content.
pub async fn same_registry_by_address(
    a: &RegistryEndpoint,
    b: &RegistryEndpoint,
) -> Option<SameRegistry> {
    let key = a.address_key();
    if key == b.address_key() {
        return Some(SameRegistry::Spelled { key });
    }
    let same_port = a.port() == b.port() || (web_port(a.port()) && web_port(b.port()));
    if !same_port {
        return None;
    }
    let (first, second) = futures::join!(local_addresses(a), local_addresses(b));
    let (first, second) = shared_address(&first, &second)?;
    Some(SameRegistry::ThisMachine {
        first: (bare_host(a.hostname()).to_string(), first),
        second: (bare_host(b.hostname()).to_string(), second),
        port: a.port(),
    })
}

/// The first pair of addresses, one of `a` and one of `b`, that a connection takes to one
/// listener of this machine (see [`reached`]).
fn shared_address(a: &[IpAddr], b: &[IpAddr]) -> Option<(IpAddr, IpAddr)> {
    a.iter().find_map(|&x| {
        b.iter()
            .find(|&&y| reached(x) == reached(y))
            .map(|&y| (x, y))
    })
}

/// The address a connection to `ip` reaches, in one form: `127.0.0.1` for `::1`, `0.0.0.0` and
/// `::` too (the loopback every spelling of `localhost` means), `ip` itself otherwise.
fn reached(ip: IpAddr) -> IpAddr {
    let ip = ip.to_canonical();
    let loopback = IpAddr::V4(Ipv4Addr::LOCALHOST);
    if ip.is_unspecified() || ip == IpAddr::V6(Ipv6Addr::LOCALHOST) {
        return loopback;
    }
    ip
}

/// Refuses a `target` that names repositories of `source` (see [`same_registry_by_address`];
/// disjoint prefixes of one registry are allowed), or the same layout or archive: a copy into a
/// prefix of its own source nests deeper with every run, and a copy onto itself does nothing.
/// A relocation's `delete_source` step checks again with the stricter [`same_registry`]. The
/// error says why and what to do.
pub async fn check_distinct(source: &Endpoint, target: &Endpoint) -> Result<(), Error> {
    let (s, t) = match (source, target) {
        (Endpoint::Registry(s), Endpoint::Registry(t)) => (s, t),
        (Endpoint::Layout(s), Endpoint::Layout(t))
        | (Endpoint::Archive(s), Endpoint::Archive(t)) => {
            let resolve =
                |p: &std::path::Path| p.canonicalize().unwrap_or_else(|_| p.to_path_buf());
            if resolve(s) == resolve(t) {
                return Err(Error::invalid(
                    format!("`{target}`"),
                    format!("is the source `{source}` itself: give the target another path"),
                ));
            }
            return Ok(());
        }
        _ => return Ok(()),
    };
    if !s.prefixes_overlap(t) {
        return Ok(());
    }
    match same_registry_by_address(s, t).await {
        None => Ok(()),
        Some(why) => Err(Error::invalid(
            format!("`{target}`"),
            format!("names the same repositories as the source `{source}` ({why}): name another registry, or disjoint prefixes of this one"),
        )),
    }
}

/// Ports 80 and 443 count as one (see [`RegistryEndpoint::registry_key`]).
fn web_port(port: u16) -> bool {
    matches!(port, 80 | 443)
}

/// A host name without the brackets of an IPv6 address.
fn bare_host(name: &str) -> &str {
    name.trim_start_matches('[').trim_end_matches(']')
}

/// Which addresses of this machine [`canonical_host`] spells `localhost`.
#[derive(Clone, Copy)]
enum Loopback {
    /// All of them (see [`is_this_machine`]): [`RegistryEndpoint::registry_key`].
    OneMachine,
    /// Those [`reached`] takes to `127.0.0.1`: [`RegistryEndpoint::address_key`].
    ByAddress,
}

/// The host name of `host` in one form (see [`RegistryEndpoint::registry_key`]).
fn canonical_host(hostname: &str, loopback: Loopback) -> String {
    let name = hostname.trim_end_matches('.').to_ascii_lowercase();
    // The URL host parser the HTTP client uses: IPv4 in its numeric forms, IPv6 compressed.
    let ip = match url::Host::parse(&name) {
        Ok(url::Host::Ipv4(v4)) => Some(IpAddr::V4(v4)),
        Ok(url::Host::Ipv6(v6)) => Some(IpAddr::V6(v6)),
        _ => None,
    };
    if let Some(ip) = ip {
        let ip = ip.to_canonical();
        let localhost = match loopback {
            Loopback::OneMachine => is_this_machine(ip),
            Loopback::ByAddress => reached(ip) == IpAddr::V4(Ipv4Addr::LOCALHOST),
        };
        if localhost {
            return "localhost".into();
        }
        return match ip {
            IpAddr::V4(v4) => v4.to_string(),
            IpAddr::V6(v6) => format!("[{v6}]"),
        };
    }
    if name == "localhost" || name.ends_with(".localhost") {
        return "localhost".into();
    }
    for cloud in ["azurecr.io", "azurecr.cn", "azurecr.us", "azurecr.de"] {
        if let Some(rest) = name.strip_suffix(&format!(".{cloud}")) {
            let registry = rest.split('.').next().unwrap_or(rest);
            return format!("{registry}.{cloud}");
        }
    }
    if matches!(
        name.as_str(),
        "docker.io" | "index.docker.io" | "registry-1.docker.io" | "registry.hub.docker.com"
    ) {
        return "docker.io".into();
    }
    name
}

/// True for an address a connection takes to this machine whatever its interfaces: loopback
/// (`127.0.0.0/8`, `::1`) and unspecified (`0.0.0.0`, `::`).
fn is_this_machine(ip: IpAddr) -> bool {
    let ip = ip.to_canonical();
    ip.is_loopback() || ip.is_unspecified()
}

/// An address of this machine that the endpoint's host resolves to, if any: loopback, or an
/// address of one of its interfaces (one a socket can be bound to).
async fn local_address(endpoint: &RegistryEndpoint) -> Option<IpAddr> {
    local_addresses(endpoint).await.into_iter().next()
}

/// Every address of this machine that the endpoint's host resolves to (see [`local_address`]),
/// in the resolver's order; none for a name that does not resolve.
async fn local_addresses(endpoint: &RegistryEndpoint) -> Vec<IpAddr> {
    let target = (bare_host(endpoint.hostname()).to_string(), endpoint.port());
    tokio::task::spawn_blocking(move || {
        let Ok(addresses) = std::net::ToSocketAddrs::to_socket_addrs(&target) else {
            return Vec::new();
        };
        addresses
            .map(|a| a.ip())
            .filter(|&ip| {
                is_this_machine(ip) || std::net::UdpSocket::bind((ip.to_canonical(), 0)).is_ok()
            })
            .collect()
    })
    .await
    .unwrap_or_default()
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

/// `text` with what comes before its last `@` (after a `scheme://`) shown as `***`: a confirmation
/// or a URL pasted with credentials, shown without them.
pub fn hide_user_info(text: &str) -> String {
    let (scheme, rest) = match text.find("://") {
        Some(at) => text.split_at(at + 3),
        None => ("", text),
    };
    match rest.rsplit_once('@') {
        Some((_, after)) => format!("{scheme}***@{after}"),
        None => text.to_string(),
    }
}

/// The error of an endpoint with `USER[:PASSWORD]@` in it: named with the password hidden, never
/// echoed as written.
fn with_credentials(input: &str, user_info: &str) -> Error {
    // `USER:PASSWORD` shows its user; a userinfo without a plain colon may be a token alone
    // (`https://TOKEN@host`, as git takes it) or percent-encoded (`alice%3Apass`): hidden whole.
    let (give, hidden) = match user_info.split_once(':') {
        Some((user, _)) if !user.contains('%') => (format!("`{user}`"), format!("{user}:***")),
        _ => ("the user name".to_string(), "***".to_string()),
    };
    let shown = input.replacen(user_info, &hidden, 1);
    let without = input.replacen(&format!("{user_info}@"), "", 1);
    Error::InvalidEndpoint {
        input: crate::digest::truncate(&shown),
        reason: format!(
            "credentials do not go in an endpoint: write `{}` and give {} with --src-creds/--dst-creds (the password or token from $ACR_RELOCATE_SRC_PASSWORD/$ACR_RELOCATE_DST_PASSWORD or --src-password-stdin/--dst-password-stdin)",
            crate::digest::truncate(&without),
            crate::digest::truncate(&give)
        ),
    }
}

/// The error of skopeo's `oci:DIR:REPOSITORY:TAG` (or `oci:DIR:TAG`) form: this tool reads and
/// writes a layout whole, and picks images with `--repo` and `--tag`. Said when the path does
/// not exist as written and either names a repository and tag after the first colon, or the
/// part before it is a directory or file that exists (a Windows drive's `C:` is not a colon of
/// that form). A new path with a colon and nothing of either (`run-10:30`) is a path like any
/// other.
fn one_image_form(scheme: &str, path: &str) -> Option<Error> {
    let drive =
        path.len() >= 2 && path.as_bytes()[0].is_ascii_alphabetic() && path.as_bytes()[1] == b':';
    let searched = if drive { &path[2..] } else { path };
    let colon = searched.find(':')? + (path.len() - searched.len());
    let (dir, picked) = (&path[..colon], &path[colon + 1..]);
    if dir.is_empty() || dir.ends_with('/') || Path::new(path).exists() {
        return None;
    }
    let pick = match picked.rsplit_once(':') {
        Some((repository, tag)) => format!("--repo '{repository}' --tag '{tag}'"),
        None if Path::new(dir).exists() => format!("--tag '{picked}'"),
        None => return None,
    };
    Some(bad(
        &format!("{scheme}:{path}"),
        format!(
            "`{scheme}:{dir}` holds a whole registry here, and skopeo's `{scheme}:PATH:REPOSITORY:TAG` for one image is not read: write `{scheme}:{dir}` and pick with {pick}"
        ),
    ))
}

/// The endings of the archive names this tool writes, in any case: the gzip-compressed ones first.
const ARCHIVE_ENDINGS: [&str; 3] = [".tar.gz", ".tgz", ".tar"];

/// The ending of `path`'s file name among [`ARCHIVE_ENDINGS`] (in any case), if any.
fn archive_ending(path: &Path) -> Option<&'static str> {
    let lower = path.file_name()?.to_string_lossy().to_ascii_lowercase();
    ARCHIVE_ENDINGS
        .into_iter()
        .find(|ending| lower.ends_with(ending) && lower.len() > ending.len())
}

/// True when `path` names an archive gzip-compressed by its name (`.tar.gz`, `.tgz`, in any case).
pub fn archive_name_is_gzip(path: &Path) -> bool {
    matches!(archive_ending(path), Some(".tar.gz" | ".tgz"))
}

/// `path`'s file name without its archive ending (`.tar`, `.tar.gz`, `.tgz`, in any case); the
/// whole file name when it has none.
pub fn archive_stem(path: &Path) -> Option<String> {
    let name = path.file_name()?.to_string_lossy().into_owned();
    let ending = archive_ending(path).map_or(0, str::len);
    Some(name[..name.len() - ending].to_string())
}

/// True when `path` names an archive this tool writes: `.tar`, `.tar.gz` or `.tgz`, in any case.
fn archive_name_is_known(path: &Path) -> bool {
    archive_ending(path).is_some()
}

impl Endpoint {
    /// Refuses a layout or archive path that cannot mean what it says, as the path stands
    /// against the working directory (so a config's relative paths are checked once made
    /// absolute): skopeo's one-image form, and a new archive named as something else than a tar
    /// or gzip-compressed tar (an existing file is read whatever its name: its content says
    /// what it is).
    pub fn check_local_path(&self) -> Result<(), Error> {
        let (scheme, path) = match self {
            Endpoint::Registry(_) => return Ok(()),
            Endpoint::Layout(p) => ("oci", p),
            Endpoint::Archive(p) => ("oci-archive", p),
        };
        if let Some(e) = one_image_form(scheme, &path.to_string_lossy()) {
            return Err(e);
        }
        if matches!(self, Endpoint::Archive(_)) && !archive_name_is_known(path) && !path.exists() {
            return Err(bad(
                &self.to_string(),
                "an archive is a tar file, gzip-compressed or not: name it `.tar`, `.tar.gz` or `.tgz`",
            ));
        }
        Ok(())
    }
}

/// The forms an endpoint takes, for the refusal of any other.
const UNDERSTOOD: &str =
    "only `https://` (the default), `http://`, `oci:` and `oci-archive:` are understood";

/// skopeo's transports that name neither a registry nor an OCI layout: refused with how to
/// export their image to a layout (see [`peer_form`]).
const SKOPEO_TRANSPORTS: [&str; 6] = [
    "docker-archive",
    "docker-daemon",
    "dir",
    "containers-storage",
    "ostree",
    "sif",
];

/// `input` after `scheme` (such as `http://` or `oci:`), the scheme compared in any case.
fn strip_scheme<'a>(input: &'a str, scheme: &str) -> Option<&'a str> {
    input
        .get(..scheme.len())
        .filter(|start| start.eq_ignore_ascii_case(scheme))
        .map(|_| &input[scheme.len()..])
}

/// A digest after `@`, as in `HOST/REPO@sha256:…` (and not `USER:PASSWORD@HOST`).
fn is_digest(after_at: &str) -> bool {
    after_at
        .split_once(':')
        .is_some_and(|(algorithm, _)| matches!(algorithm, "sha256" | "sha384" | "sha512"))
}

/// The error of an endpoint pasted from skopeo: `docker://HOST/PATH` (a registry, written here
/// without a scheme), or one of [`SKOPEO_TRANSPORTS`] (`docker-archive:FILE`, `dir:DIR`, …),
/// which this tool does not read. A host named like a transport with its port (`dir:5000`) is
/// a host.
fn peer_form(input: &str) -> Option<Error> {
    if let Some(rest) = strip_scheme(input, "docker://") {
        let rest = rest.trim_end_matches('/');
        if let Some((user_info, after)) = rest.rsplit_once('@') {
            if !is_digest(after) {
                return Some(with_credentials(input, user_info));
            }
        }
        let named = rest.split('@').next().unwrap_or(rest);
        // A tag is in the last component, after its host's port.
        let named = match named.rsplit_once('/') {
            Some((before, last)) => format!("{before}/{}", last.split(':').next().unwrap_or(last)),
            None => named.to_string(),
        };
        let named = crate::digest::truncate(&named);
        // `HOST/REPO` names a prefix here: the repository itself is selected with --repo.
        let written = match named.split_once('/') {
            Some((host, repo)) => format!("{host} --repo {repo}"),
            None => named.clone(),
        };
        return Some(bad(
            input,
            format!("skopeo's `docker://` is a registry, written here without a scheme: write `{written}` (or `http://{written}` for plain HTTP; a path after the host is a prefix of repositories)"),
        ));
    }
    let (scheme, rest) = input.split_once(':')?;
    let transport = SKOPEO_TRANSPORTS
        .into_iter()
        .find(|t| scheme.eq_ignore_ascii_case(t))?;
    let port = rest.split('/').next().unwrap_or(rest);
    if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(bad(
        input,
        format!(
            "skopeo's `{transport}:` transport is not read: export the image to an OCI layout first (`skopeo copy {} oci:DIR:REPOSITORY:TAG`), then name `oci:DIR` (its image is read as REPOSITORY:TAG)",
            crate::digest::truncate(input)
        ),
    ))
}

/// The error of a file system path written without its scheme (`./export`, `/mnt/usb/registry`,
/// `../registry.tar.gz`): no host name starts with `.`, `/` or `~`, nor ends with a tar file's
/// suffix, so the path is named with the scheme that reads it instead of failing to resolve.
fn path_form(input: &str) -> Option<Error> {
    let lower = input.to_ascii_lowercase();
    let archive = [".tar", ".tar.gz", ".tgz"]
        .iter()
        .any(|suffix| lower.ends_with(suffix));
    let path_like = input.starts_with(['.', '/', '~']) || input.starts_with('\\');
    let archive_file = archive && !input.contains("://");
    if !path_like && !archive_file {
        return None;
    }
    let written = crate::digest::truncate(input);
    let reason = if archive {
        format!("a path needs its scheme: write `oci-archive:{written}` for an OCI image layout in a tar file")
    } else {
        format!("a path needs its scheme: write `oci:{written}` for an OCI image layout directory (or `oci-archive:{written}` for one in a tar file)")
    };
    Some(bad(input, reason))
}

/// Parses an endpoint as the CLI accepts it; schemes are read in any case (`HTTP://`, `OCI:`).
pub fn parse(input: &str) -> Result<Endpoint, Error> {
    if let Some(path) = strip_scheme(input, "oci-archive:") {
        if path.is_empty() {
            return Err(bad(
                input,
                "`oci-archive:` needs a file, as in `oci-archive:./export.tar.gz`",
            ));
        }
        return Ok(Endpoint::Archive(PathBuf::from(path)));
    }
    if let Some(path) = strip_scheme(input, "oci:") {
        if path.is_empty() {
            return Err(bad(input, "`oci:` needs a directory, as in `oci:./export`"));
        }
        // `oci://…` written as a URL (perhaps with credentials): a path is meant, never a host.
        if path.strip_prefix("//").is_some_and(|r| !r.starts_with('/')) {
            return Err(bad(
                &hide_user_info(input),
                "`oci:` takes a path, not a URL: write `oci:/absolute/dir` or `oci:relative/dir`",
            ));
        }
        return Ok(Endpoint::Layout(PathBuf::from(path)));
    }
    if let Some(e) = peer_form(input) {
        return Err(e);
    }
    if let Some(e) = path_form(input) {
        return Err(e);
    }
    let (plain_http, rest) = if let Some(r) = strip_scheme(input, "http://") {
        (true, r)
    } else if let Some(r) = strip_scheme(input, "https://") {
        (false, r)
    } else if input.contains("://") {
        return Err(bad(input, UNDERSTOOD));
    } else {
        (false, input)
    };
    let rest = rest.trim_end_matches('/');
    // `USER:PASSWORD@HOST` (a password may hold `/` and `@`), unlike `HOST/REPO@sha256:…`.
    if let Some((user_info, after)) = rest.rsplit_once('@') {
        if !is_digest(after) {
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
            && !name.starts_with(['.', '-'])
            && !name.contains("..")
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

    #[test]
    fn every_spelling_of_this_machine_is_one_registry_per_port() {
        let spellings = [
            "http://127.0.0.1:15004",
            "http://localhost:15004",
            "http://LOCALHOST.:15004",
            "http://[::1]:15004",
            "http://[0:0:0:0:0:0:0:1]:15004",
            "http://[::ffff:127.0.0.1]:15004",
            "http://0.0.0.0:15004",
            "http://[::]:15004",
            "http://127.1:15004",
            "http://2130706433:15004",
            "http://127.0.1.1:15004",
            "https://registry.localhost:15004",
        ];
        for a in spellings {
            for b in spellings {
                assert!(reg(a).overlaps(&reg(b)), "{a} and {b}");
            }
            assert!(!reg(a).overlaps(&reg("http://127.0.0.1:15005")), "{a}");
            assert_eq!(reg(a).registry_key(), "localhost:15004");
        }
    }

    #[test]
    fn case_trailing_dots_and_default_ports_are_one_spelling() {
        let same = [
            ("reg.io", "REG.IO."),
            ("reg.io", "https://reg.io:443"),
            ("reg.io", "http://reg.io"),
            ("http://reg.io:80", "reg.io"),
            ("10.0.0.1:5000", "10.0.0.1.:5000"),
            ("[2001:DB8::1]:5000", "[2001:db8:0:0:0:0:0:1]:5000"),
            ("myreg.azurecr.io", "MyReg.privatelink.azurecr.io"),
            ("myreg.azurecr.io", "myreg.westeurope.geo.azurecr.io"),
            ("myreg.azurecr.io", "myreg.westeurope.data.azurecr.io"),
            ("docker.io", "registry-1.docker.io"),
        ];
        for (a, b) in same {
            assert_eq!(reg(a).registry_key(), reg(b).registry_key(), "{a} and {b}");
        }
        let different = [
            ("reg.io:5000", "reg.io:5001"),
            ("reg.io:5000", "reg.io"),
            ("10.0.0.1:5000", "10.0.0.2:5000"),
            ("myreg.azurecr.io", "myreg2.azurecr.io"),
            ("myreg.azurecr.io", "myreg.azurecr.cn"),
            ("reg.io", "reg.io.evil.example"),
        ];
        for (a, b) in different {
            assert_ne!(reg(a).registry_key(), reg(b).registry_key(), "{a} and {b}");
        }
    }

    #[test]
    fn the_port_is_the_written_one_or_the_schemes() {
        assert_eq!(reg("reg.io").port(), 443);
        assert_eq!(reg("http://reg.io").port(), 80);
        assert_eq!(reg("reg.io:5000").port(), 5000);
        assert_eq!(reg("[::1]:5000").port(), 5000);
        assert_eq!(reg("http://[::1]").port(), 80);
    }

    #[tokio::test]
    async fn same_registry_says_why() {
        let why = same_registry(&reg("http://127.0.0.1:5000"), &reg("localhost:5000/team")).await;
        assert_eq!(
            why,
            Some(SameRegistry::Spelled {
                key: "localhost:5000".into()
            })
        );
        assert_eq!(
            same_registry(&reg("http://127.0.0.1:5000"), &reg("http://127.0.0.1:5001")).await,
            None
        );
        // An address of another machine (TEST-NET-2, never assigned) is not this machine.
        assert_eq!(
            same_registry(&reg("198.51.100.7:5000"), &reg("localhost:5000")).await,
            None
        );
    }

    #[tokio::test]
    async fn a_name_that_resolves_to_this_machine_is_taken_for_localhost() {
        // This machine's own name: /etc/hosts usually maps it to a loopback address. Whatever the
        // resolver says, the answer must follow it.
        let name = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        if name.is_empty() || name == "localhost" {
            return;
        }
        let endpoint = reg(&format!("{name}:5000"));
        let resolved_here = local_address(&endpoint).await;
        let why = same_registry(&endpoint, &reg("127.0.0.1:5000")).await;
        match resolved_here {
            Some(ip) => assert_eq!(
                why,
                Some(SameRegistry::ThisMachine {
                    first: (name.clone(), ip),
                    second: ("127.0.0.1".into(), "127.0.0.1".parse().unwrap()),
                    port: 5000
                })
            ),
            None => assert_eq!(why, None),
        }
        assert_eq!(
            same_registry(&endpoint, &reg("127.0.0.1:5001")).await,
            None,
            "another port is another registry"
        );
    }

    fn registry(input: &str) -> Endpoint {
        Endpoint::Registry(reg(input))
    }

    #[tokio::test]
    async fn a_copy_between_two_loopback_addresses_on_one_port_is_between_two_registries() {
        let first = registry("http://127.0.0.1:15001");
        for other in [
            "http://127.0.0.2:15001",
            "http://127.0.0.2:15001/mirror",
            "http://127.0.1.1:15001",
            "https://[::ffff:127.0.0.3]:15001",
        ] {
            let checked = check_distinct(&first, &registry(other)).await;
            assert!(checked.is_ok(), "{other}: {checked:?}");
        }
        let second = registry("http://127.0.0.2:15001");
        assert!(check_distinct(&second, &registry("http://127.0.0.3:15001"))
            .await
            .is_ok());
        let e = check_distinct(&second, &registry("http://127.0.0.2:15001/team"))
            .await
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("both name the registry `127.0.0.2:15001`"),
            "{e}"
        );
    }

    #[tokio::test]
    async fn a_copy_between_localhost_127_0_0_1_and_ipv6_loopback_on_one_port_is_refused() {
        let spellings = [
            "http://127.0.0.1:15001",
            "http://localhost:15001",
            "http://[::1]:15001",
            "http://127.1:15001",
            "http://0.0.0.0:15001",
            "http://[::]:15001",
            "https://registry.localhost:15001",
        ];
        for a in spellings {
            for b in spellings {
                let e = check_distinct(&registry(a), &registry(b))
                    .await
                    .unwrap_err()
                    .to_string();
                assert!(e.contains("names the same repositories"), "{a} {b}: {e}");
            }
        }
        assert!(check_distinct(
            &registry("http://localhost:15001"),
            &registry("http://localhost:15002")
        )
        .await
        .is_ok());
    }

    #[tokio::test]
    async fn a_deletion_takes_every_address_of_this_machine_on_one_port_for_one_registry() {
        // A registry listening on every address (`:5000`) answers on all of them.
        for other in ["http://127.0.0.2:15001", "http://127.0.1.1:15001"] {
            assert!(
                same_registry(&reg("http://127.0.0.1:15001"), &reg(other))
                    .await
                    .is_some(),
                "{other}"
            );
        }
    }

    #[test]
    fn names_are_one_registry_for_a_copy_when_they_share_an_address() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let localhost = [ip("127.0.0.1"), ip("::1")];
        assert_eq!(
            shared_address(&localhost, &[ip("::1")]),
            Some((ip("127.0.0.1"), ip("::1")))
        );
        assert_eq!(
            shared_address(&[ip("0.0.0.0")], &localhost),
            Some((ip("0.0.0.0"), ip("127.0.0.1")))
        );
        assert_eq!(shared_address(&[ip("127.0.0.2")], &localhost), None);
        assert_eq!(shared_address(&[ip("127.0.0.2")], &[ip("127.0.0.3")]), None);
        assert_eq!(
            shared_address(&[ip("127.0.0.3")], &[ip("::ffff:127.0.0.3")]),
            Some((ip("127.0.0.3"), ip("::ffff:127.0.0.3")))
        );
    }

    fn reg(input: &str) -> RegistryEndpoint {
        match parse(input).unwrap() {
            Endpoint::Registry(r) => r,
            other => panic!("not a registry: {other:?}"),
        }
    }

    #[test]
    fn docker_hubs_names_send_requests_to_its_api_host() {
        for (input, url) in [
            ("docker.io/library", "https://registry-1.docker.io"),
            ("DOCKER.IO", "https://registry-1.docker.io"),
            ("index.docker.io", "https://registry-1.docker.io"),
            ("Index.Docker.IO.:443", "https://registry-1.docker.io:443"),
            ("registry-1.docker.io", "https://registry-1.docker.io"),
            ("mydocker.io", "https://mydocker.io"),
            ("docker.io.example", "https://docker.io.example"),
        ] {
            assert_eq!(reg(input).base_url(), url, "{input}");
        }
        // Named as written: the host the user gave is the one messages and --insecure use.
        let hub = reg("docker.io/library");
        assert_eq!(hub.host, "docker.io");
        assert_eq!(
            parse("docker.io/library").unwrap().to_string(),
            "docker.io/library"
        );
        assert_eq!(
            hub.registry_key(),
            reg("registry-1.docker.io").registry_key()
        );
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
        // `oci://…` is a URL-shaped mistake, credentials hidden; `oci:///abs` is a path.
        let e = parse("oci://user:pSECRET@x").unwrap_err().to_string();
        assert!(
            e.contains("takes a path, not a URL") && !e.contains("pSECRET"),
            "{e}"
        );
        assert!(parse("oci:///data/x").is_ok());
    }

    #[test]
    fn a_path_without_its_scheme_is_named_with_the_scheme_that_reads_it() {
        for (given, written) in [
            ("./export", "`oci:./export`"),
            ("../export/", "`oci:../export/`"),
            ("/mnt/usb/registry", "`oci:/mnt/usb/registry`"),
            ("~/registry", "`oci:~/registry`"),
            (".", "`oci:.`"),
            ("export.tar.gz", "`oci-archive:export.tar.gz`"),
            ("out/Export.TGZ", "`oci-archive:out/Export.TGZ`"),
            ("./export.tar", "`oci-archive:./export.tar`"),
        ] {
            let e = parse(given).unwrap_err().to_string();
            assert!(e.contains(written), "{given}: {e}");
        }
        // Hosts and prefixes stay registries.
        assert!(parse("myregistry.azurecr.io/team").is_ok());
        assert!(parse("localhost:5000").is_ok());
        assert!(parse("a..b:5000")
            .unwrap_err()
            .to_string()
            .contains("not a host name"));
    }

    fn checked(input: &str) -> Result<(), Error> {
        parse(input).unwrap().check_local_path()
    }

    #[test]
    fn skopeos_one_image_form_is_refused_with_the_flags_that_pick_the_image() {
        let e = checked("oci:out/export:team/svc2:latest")
            .unwrap_err()
            .to_string();
        assert!(e.contains("write `oci:out/export`"), "{e}");
        assert!(e.contains("--repo 'team/svc2' --tag 'latest'"), "{e}");
        let e = checked("oci-archive:export.tar:svc2:latest")
            .unwrap_err()
            .to_string();
        assert!(e.contains("write `oci-archive:export.tar`"), "{e}");
        // `DIR:TAG` where DIR exists.
        let dir = tempfile::tempdir().unwrap();
        let given = format!("oci:{}:v1", dir.path().display());
        let e = checked(&given).unwrap_err().to_string();
        assert!(e.contains("--tag 'v1'"), "{e}");
        // A directory that exists with a colon in its name is a layout like any other, and so
        // is a new one whose colon names no image (a time stamp), and a Windows drive.
        let odd = dir.path().join("backup:2024");
        std::fs::create_dir(&odd).unwrap();
        assert!(checked(&format!("oci:{}", odd.display())).is_ok());
        assert!(checked(&format!("oci:{}/run-10:30", dir.path().display())).is_ok());
        assert!(checked("oci:C:/exports/new").is_ok());
        // Parsing alone looks at no file: a config's relative path is checked once made
        // absolute against the config's directory.
        assert!(parse("oci:out/export:team/svc2:latest").is_ok());
    }

    #[test]
    fn an_archive_is_named_as_the_tar_it_is() {
        for good in [
            "oci-archive:x.tar",
            "oci-archive:x.TAR.GZ",
            "oci-archive:x.tgz",
        ] {
            assert!(checked(good).is_ok(), "{good}");
        }
        for bad in [
            "oci-archive:x.zip",
            "oci-archive:x.tar.xz",
            "oci-archive:x.tar.zst",
        ] {
            let e = checked(bad).unwrap_err().to_string();
            assert!(e.contains("`.tar`, `.tar.gz` or `.tgz`"), "{bad}: {e}");
        }
        assert!(archive_name_is_gzip(Path::new("x.TAR.GZ")));
        assert!(!archive_name_is_gzip(Path::new("x.tar")));
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
    fn schemes_are_read_in_any_case() {
        assert!(reg("HTTP://127.0.0.1:5000").plain_http);
        assert!(!reg("Https://127.0.0.1:5000").plain_http);
        assert_eq!(
            reg("HTTP://127.0.0.1:5000/team").prefix.as_deref(),
            Some("team")
        );
        assert_eq!(parse("OCI:./x").unwrap(), Endpoint::Layout("./x".into()));
        assert_eq!(
            parse("OCI-Archive:x.tar").unwrap(),
            Endpoint::Archive("x.tar".into())
        );
    }

    #[test]
    fn skopeos_docker_transport_is_refused_with_the_endpoint_to_write() {
        for (input, write) in [
            (
                "docker://127.0.0.1:15001/svc2",
                "write `127.0.0.1:15001 --repo svc2` (or `http://127.0.0.1:15001 --repo svc2` for plain HTTP",
            ),
            (
                "DOCKER://reg.io/team/app:v1",
                "write `reg.io --repo team/app` (or `http://reg.io --repo team/app` for plain HTTP",
            ),
            (
                "docker://reg.io/app@sha256:00",
                "write `reg.io --repo app` (or `http://reg.io --repo app` for plain HTTP",
            ),
        ] {
            let e = parse(input).unwrap_err().to_string();
            assert!(e.contains("skopeo's `docker://`"), "{input}: {e}");
            assert!(e.contains(write), "{input}: {e}");
        }
    }

    #[test]
    fn skopeos_other_transports_are_refused_with_how_to_export_them_to_a_layout() {
        for (input, transport) in [
            ("docker-archive:da.tar", "docker-archive"),
            ("docker-daemon:alpine:latest", "docker-daemon"),
            ("dir:/tmp/x", "dir"),
            ("containers-storage:alpine", "containers-storage"),
            ("ostree:/repo", "ostree"),
            ("SIF:image.sif", "sif"),
        ] {
            let e = parse(input).unwrap_err().to_string();
            assert!(
                e.contains(&format!("skopeo's `{transport}:` transport is not read")),
                "{input}: {e}"
            );
            assert!(
                e.contains(&format!("skopeo copy {input} oci:DIR:REPOSITORY:TAG"))
                    && e.contains("then name `oci:DIR`"),
                "{input}: {e}"
            );
            assert!(!e.contains("port number"), "{input}: {e}");
        }
        // A host that happens to be named like a transport, with its port, is a host.
        assert_eq!(reg("dir:5000/team").host, "dir:5000");
        assert_eq!(reg("sif:443").host, "sif:443");
    }

    #[test]
    fn the_forms_understood_are_all_listed() {
        let e = parse("ftp://x").unwrap_err().to_string();
        assert!(
            e.contains("`https://` (the default), `http://`, `oci:` and `oci-archive:`"),
            "{e}"
        );
    }

    #[test]
    fn credentials_in_an_endpoint_are_refused_and_never_echoed() {
        for input in [
            "https://alice:S3cretPassw0rdXYZ@127.0.0.1:15003",
            "alice:S3cretPassw0rdXYZ@myregistry.azurecr.io/team",
            "http://alice:S3cretPassw0rdXYZ@127.0.0.1:15003",
            "https://alice:S3cret/Passw0rdXYZ@127.0.0.1:15003",
            "docker://alice:S3cretPassw0rdXYZ@127.0.0.1:15003/svc2",
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
        // A userinfo without a colon may be a token alone: hidden whole, as a percent-encoded one.
        for (input, secret) in [
            ("alice@reg.io", "alice"),
            (
                "https://ghp_SECRETTOKEN1234567890@127.0.0.1:15103",
                "SECRETTOKEN",
            ),
            ("http://alice%3ApSECRET@127.0.0.1:15103", "pSECRET"),
        ] {
            let e = parse(input).unwrap_err().to_string();
            assert!(!e.contains(secret), "{e}");
            assert!(
                e.contains("***@") && e.contains("give the user name with --src-creds"),
                "{e}"
            );
        }
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
