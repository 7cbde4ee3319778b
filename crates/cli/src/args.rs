//! Options shared by several verbs, resolved once into library settings.

use std::io::IsTerminal;
use std::path::PathBuf;

use acr_relocate::credentials::CredentialSource;
use acr_relocate::endpoint::Endpoint;
use acr_relocate::limit::MOST_AT_ONCE;
use acr_relocate::rename::Renames;
use acr_relocate::secret::Secret;
use acr_relocate::transport::registry::Credentials;
use acr_relocate::transport::{ClientCertificate, ConnectOptions};
use acr_relocate::walk::{Matcher, Selection};
use anyhow::{bail, Context};

/// How to reach the source and the target.
#[derive(clap::Args, Clone, Debug)]
pub struct ConnectArgs {
    /// Source credentials: `USER:PASSWORD`, or `USER` with the password in $ACR_RELOCATE_SRC_PASSWORD
    /// or on stdin (--src-password-stdin). User `00000000-0000-0000-0000-000000000000` takes an ACR
    /// refresh token. Without it: the containers auth.json ($REGISTRY_AUTH_FILE, else
    /// $XDG_RUNTIME_DIR/containers; then ~/.config/containers: podman login, HOST/NAMESPACE
    /// entries included), then docker's config.json ($DOCKER_CONFIG or ~/.docker), each with
    /// credHelpers, credsStore, auths; then anonymous.
    #[arg(
        long,
        value_name = "USER[:PASSWORD]",
        env = "ACR_RELOCATE_SRC_CREDS",
        hide_env_values = true
    )]
    pub src_creds: Option<Secret>,
    /// Target credentials, as --src-creds ($ACR_RELOCATE_DST_PASSWORD, --dst-password-stdin).
    #[arg(
        long,
        value_name = "USER[:PASSWORD]",
        env = "ACR_RELOCATE_DST_CREDS",
        hide_env_values = true
    )]
    pub dst_creds: Option<Secret>,
    /// Read the source password from stdin (with `--src-creds USER`).
    #[arg(long, requires = "src_creds")]
    pub src_password_stdin: bool,
    /// Read the target password from stdin (with `--dst-creds USER`).
    #[arg(long, requires = "dst_creds")]
    pub dst_password_stdin: bool,
    /// Extra CA certificate (PEM) trusted for the source.
    #[arg(long, value_name = "FILE")]
    pub src_ca_cert: Option<PathBuf>,
    /// Extra CA certificate (PEM) trusted for the target.
    #[arg(long, value_name = "FILE")]
    pub dst_ca_cert: Option<PathBuf>,
    /// Client certificate (PEM) presented to a source that requires mutual TLS (with --src-key).
    #[arg(long, value_name = "FILE", requires = "src_key")]
    pub src_cert: Option<PathBuf>,
    /// The private key (PEM) of --src-cert.
    #[arg(long, value_name = "FILE", requires = "src_cert")]
    pub src_key: Option<PathBuf>,
    /// Client certificate (PEM) presented to a target that requires mutual TLS (with --dst-key).
    #[arg(long, value_name = "FILE", requires = "dst_key")]
    pub dst_cert: Option<PathBuf>,
    /// The private key (PEM) of --dst-cert.
    #[arg(long, value_name = "FILE", requires = "dst_cert")]
    pub dst_key: Option<PathBuf>,
    /// Treat registries as Azure Container Registries (the `/acr/v1/` API: untagged manifests, tag
    /// digests, lock attributes) even when their host does not end with `.azurecr.io`: `--acr`
    /// for both sides, `--acr source` or `--acr target` for one.
    #[arg(long, value_name = "SIDE", num_args = 0..=1, default_missing_value = "both")]
    pub acr: Option<AcrSide>,
    /// Sign in to registries with Azure AD (a registry-audience token exchanged at the registry's
    /// /oauth2/exchange for an ACR refresh token) even when their host does not end with
    /// `.azurecr.io` (a private DNS name, a proxy): `--azure` for both sides, `--azure source` or
    /// `--azure target` for one. For `*.azurecr.io` this is the fallback whenever no credentials
    /// are given or found and an Azure credential is configured.
    #[arg(long, value_name = "SIDE", num_args = 0..=1, default_missing_value = "both")]
    pub azure: Option<AcrSide>,
    #[command(flatten)]
    pub shared: SharedConnectArgs,
}

/// Its shared settings are read as its own fields (`connect.azure_credential`).
impl std::ops::Deref for ConnectArgs {
    type Target = SharedConnectArgs;

    fn deref(&self) -> &SharedConnectArgs {
        &self.shared
    }
}

/// How to reach the one registry a verb reads (`inventory`): the source options only.
#[derive(clap::Args, Clone, Debug)]
pub struct SourceConnectArgs {
    /// Credentials: `USER:PASSWORD`, or `USER` with the password in $ACR_RELOCATE_SRC_PASSWORD
    /// or on stdin (--src-password-stdin). User `00000000-0000-0000-0000-000000000000` takes an ACR
    /// refresh token. Without it: the containers auth.json ($REGISTRY_AUTH_FILE, else
    /// $XDG_RUNTIME_DIR/containers; then ~/.config/containers: podman login, HOST/NAMESPACE
    /// entries included), then docker's config.json ($DOCKER_CONFIG or ~/.docker), each with
    /// credHelpers, credsStore, auths; then anonymous.
    #[arg(
        long,
        value_name = "USER[:PASSWORD]",
        env = "ACR_RELOCATE_SRC_CREDS",
        hide_env_values = true
    )]
    pub src_creds: Option<Secret>,
    /// Read the password from stdin (with `--src-creds USER`).
    #[arg(long, requires = "src_creds")]
    pub src_password_stdin: bool,
    /// Extra CA certificate (PEM) trusted for the registry.
    #[arg(long, value_name = "FILE")]
    pub src_ca_cert: Option<PathBuf>,
    /// Client certificate (PEM) presented to a registry that requires mutual TLS (with --src-key).
    #[arg(long, value_name = "FILE", requires = "src_key")]
    pub src_cert: Option<PathBuf>,
    /// The private key (PEM) of --src-cert.
    #[arg(long, value_name = "FILE", requires = "src_cert")]
    pub src_key: Option<PathBuf>,
    /// Treat the registry as an Azure Container Registry (the `/acr/v1/` API: untagged
    /// manifests, tag digests) even when its host does not end with `.azurecr.io`.
    #[arg(long, value_name = "SIDE", num_args = 0..=1, default_missing_value = "both", value_parser = source_side, hide_possible_values = true)]
    pub acr: Option<AcrSide>,
    /// Sign in to the registry with Azure AD (a registry-audience token exchanged at the
    /// registry's /oauth2/exchange for an ACR refresh token) even when its host does not end with
    /// `.azurecr.io` (a private DNS name, a proxy). For `*.azurecr.io` this is the fallback
    /// whenever no credentials are given or found and an Azure credential is configured, and
    /// when the token endpoint refuses (401) an ACR refresh token found in docker's or
    /// containers' config (what `az acr login` leaves: it lasts 3 hours).
    #[arg(long, value_name = "SIDE", num_args = 0..=1, default_missing_value = "both", value_parser = source_side, hide_possible_values = true)]
    pub azure: Option<AcrSide>,
    #[command(flatten)]
    pub shared: SharedConnectArgs,
}

impl SourceConnectArgs {
    /// Connection settings of the source.
    pub fn options(&self) -> anyhow::Result<ConnectOptions> {
        ConnectArgs {
            src_creds: self.src_creds.clone(),
            dst_creds: None,
            src_password_stdin: self.src_password_stdin,
            dst_password_stdin: false,
            src_ca_cert: self.src_ca_cert.clone(),
            dst_ca_cert: None,
            src_cert: self.src_cert.clone(),
            src_key: self.src_key.clone(),
            dst_cert: None,
            dst_key: None,
            acr: self.acr,
            azure: self.azure,
            shared: self.shared.clone(),
        }
        .options(Side::Source)
    }
}

/// How to reach the one registry a verb writes (`sample`): the target options only.
#[derive(clap::Args, Clone, Debug)]
pub struct TargetConnectArgs {
    /// Credentials: `USER:PASSWORD`, or `USER` with the password in $ACR_RELOCATE_DST_PASSWORD
    /// or on stdin (--dst-password-stdin). Without it: the containers auth.json
    /// ($REGISTRY_AUTH_FILE, else $XDG_RUNTIME_DIR/containers; then ~/.config/containers: podman
    /// login), then docker's config.json, then anonymous.
    #[arg(
        long,
        value_name = "USER[:PASSWORD]",
        env = "ACR_RELOCATE_DST_CREDS",
        hide_env_values = true
    )]
    pub dst_creds: Option<Secret>,
    /// Read the password from stdin (with `--dst-creds USER`).
    #[arg(long, requires = "dst_creds")]
    pub dst_password_stdin: bool,
    /// Extra CA certificate (PEM) trusted for the registry.
    #[arg(long, value_name = "FILE")]
    pub dst_ca_cert: Option<PathBuf>,
    /// Client certificate (PEM) presented to a registry that requires mutual TLS (with --dst-key).
    #[arg(long, value_name = "FILE", requires = "dst_key")]
    pub dst_cert: Option<PathBuf>,
    /// The private key (PEM) of --dst-cert.
    #[arg(long, value_name = "FILE", requires = "dst_cert")]
    pub dst_key: Option<PathBuf>,
    /// Treat the registry as an Azure Container Registry (the `/acr/v1/` API: untagged
    /// manifests, tag digests) even when its host does not end with `.azurecr.io`.
    #[arg(long, value_name = "SIDE", num_args = 0..=1, default_missing_value = "both", value_parser = target_side, hide_possible_values = true)]
    pub acr: Option<AcrSide>,
    /// Sign in to the registry with Azure AD (a registry-audience token exchanged at the
    /// registry's /oauth2/exchange for an ACR refresh token) even when its host does not end with
    /// `.azurecr.io` (a private DNS name, a proxy). For `*.azurecr.io` this is the fallback
    /// whenever no credentials are given or found and an Azure credential is configured, and
    /// when the token endpoint refuses (401) an ACR refresh token found in docker's or
    /// containers' config (what `az acr login` leaves: it lasts 3 hours).
    #[arg(long, value_name = "SIDE", num_args = 0..=1, default_missing_value = "both", value_parser = target_side, hide_possible_values = true)]
    pub azure: Option<AcrSide>,
    #[command(flatten)]
    pub shared: SharedConnectArgs,
}

impl TargetConnectArgs {
    /// Connection settings of the target.
    pub fn options(&self) -> anyhow::Result<ConnectOptions> {
        ConnectArgs {
            src_creds: None,
            dst_creds: self.dst_creds.clone(),
            src_password_stdin: false,
            dst_password_stdin: self.dst_password_stdin,
            src_ca_cert: None,
            dst_ca_cert: self.dst_ca_cert.clone(),
            src_cert: None,
            src_key: None,
            dst_cert: self.dst_cert.clone(),
            dst_key: self.dst_key.clone(),
            acr: self.acr,
            azure: self.azure,
            shared: self.shared.clone(),
        }
        .options(Side::Target)
    }
}

/// `--acr`/`--azure` of a verb that only reads a source: `source` (or `both`, as the bare flag).
fn source_side(text: &str) -> Result<AcrSide, String> {
    one_side(text, AcrSide::Source)
}

/// `--acr`/`--azure` of a verb that only writes a target: `target` (or `both`, as the bare flag).
fn target_side(text: &str) -> Result<AcrSide, String> {
    one_side(text, AcrSide::Target)
}

fn one_side(text: &str, side: AcrSide) -> Result<AcrSide, String> {
    let name = match side {
        AcrSide::Source => "source",
        _ => "target",
    };
    match text {
        "both" => Ok(AcrSide::Both),
        t if t == name => Ok(side),
        other => Err(format!(
            "`{other}`: this command reaches only the {name}: write the flag alone"
        )),
    }
}

/// A host named by `--insecure`: `HOST` or `HOST:PORT`, nothing else (a URL or a path would match
/// no host and leave the check on without a word).
fn insecure_host(text: &str) -> Result<String, String> {
    let host = text
        .split_once("://")
        .map_or(text, |(_, rest)| rest)
        .split(['/', '?', '#'])
        .next()
        .unwrap_or_default();
    if host.is_empty() || host.contains('@') {
        return Err(format!("`{text}` is not a host: give HOST or HOST:PORT"));
    }
    // An IPv6 address is written in brackets in endpoints (`[::1]:5000`): `::1` names it too.
    if host.parse::<std::net::Ipv6Addr>().is_ok() {
        return Ok(format!("[{host}]"));
    }
    if host != text {
        return Err(format!(
            "`{text}` is not a host: give the host alone, `--insecure {host}`"
        ));
    }
    // Host names are compared without regard to case, as DNS does.
    Ok(host.to_ascii_lowercase())
}

/// Connection settings that apply to every registry a verb reaches.
#[derive(clap::Args, Clone, Debug)]
pub struct SharedConnectArgs {
    /// Skip TLS certificate verification for this host: a registry, or blob storage its downloads
    /// redirect to (repeatable; names each host explicitly, as HOST or HOST:PORT).
    #[arg(long, value_name = "HOST", value_parser = insecure_host)]
    pub insecure: Vec<String>,
    /// Entries per page asked for in catalog and tag listings (Link headers are always followed).
    #[arg(long, default_value_t = 1000, hide = true)]
    pub page_size: usize,
    /// How to sign in to Azure AD. `auto` takes the first configured of: a service principal in
    /// AZURE_TENANT_ID/AZURE_CLIENT_ID/AZURE_CLIENT_SECRET, workload identity
    /// (AZURE_FEDERATED_TOKEN_FILE), App Service managed identity, the Azure CLI (`az login`).
    #[arg(long, value_enum, value_name = "KIND", default_value_t = Credential::Auto)]
    pub azure_credential: Credential,
    /// HTTP versions for registries over TLS. `auto`: HTTP/2 where offered for manifests,
    /// listings and tokens, HTTP/1.1 connections for blob transfers (one HTTP/2 connection holds
    /// every upload to the server's flow-control window: several times slower over long links);
    /// `1.1`: HTTP/1.1 only (proxies that mishandle HTTP/2); `2`: HTTP/2 for everything.
    #[arg(long, value_enum, value_name = "VERSIONS", default_value_t = Http::Auto)]
    pub http: Http,
    /// Give a registry up once every request to it failed (refused, reset, timed out) for this
    /// many seconds with no answer in between: the run then stops with exit code 3 instead of
    /// retrying each item, everything it wrote complete; the same command resumes it.
    #[arg(long, value_name = "SECS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
    pub unreachable_after: u64,
    /// Seconds to wait for a connection to a registry.
    #[arg(long, value_name = "SECS", default_value_t = 15, value_parser = clap::value_parser!(u64).range(1..))]
    pub connect_timeout: u64,
    /// Upload blobs larger than this many bytes in chunks of this size (0: always in one request;
    /// a proxy that caps request bodies, answering 413, needs chunks below its cap).
    #[arg(long, value_name = "BYTES", default_value_t = acr_relocate::transport::registry::DEFAULT_CHUNK_SIZE)]
    pub chunk_size: u64,
    /// Seconds a response may stay silent (headers or body) before the request is retried; for an
    /// upload, seconds the registry may take nothing of its body, or not answer once it is sent
    /// (an upload that keeps flowing is never cut).
    #[arg(long, value_name = "SECS", default_value_t = 120, value_parser = clap::value_parser!(u64).range(1..))]
    pub read_timeout: u64,
}

/// `--http` values.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Http {
    /// HTTP/2 for small requests, HTTP/1.1 for blob transfers.
    Auto,
    /// HTTP/1.1 only.
    #[value(name = "1.1")]
    Http1,
    /// HTTP/2 wherever the registry offers it.
    #[value(name = "2")]
    Http2,
}

impl SharedConnectArgs {
    /// Warns about each `--insecure` host that names no HTTPS registry among `endpoints` (a
    /// misspelt host leaves the certificate check on without a word); it may still name blob
    /// storage their downloads redirect to, which the warning says.
    pub fn warn_unmatched_insecure(&self, verb: &str, endpoints: &[&Endpoint]) {
        for host in &self.insecure {
            let named = |r: &acr_relocate::endpoint::RegistryEndpoint| {
                host.eq_ignore_ascii_case(&r.host)
                    || host.eq_ignore_ascii_case(r.hostname())
                    || host.eq_ignore_ascii_case(&r.api_host())
            };
            let registries = endpoints.iter().filter_map(|e| match e {
                Endpoint::Registry(r) => Some(r),
                _ => None,
            });
            let matched: Vec<_> = registries.clone().filter(|r| named(r)).collect();
            if matched.iter().any(|r| !r.plain_http) {
                continue;
            }
            if let Some(r) = matched.first() {
                eprintln!(
                    "{verb}: warning: --insecure {host}: http://{} is plain HTTP, there is no certificate to skip",
                    r.host
                );
                continue;
            }
            let hosts: Vec<String> = registries.map(|r| r.host.clone()).collect();
            if hosts.is_empty() {
                eprintln!("{verb}: warning: --insecure {host} has nothing to apply to: the endpoints are layouts, read without TLS");
                continue;
            }
            eprintln!(
                "{verb}: warning: --insecure {host} names no registry here ({}): it applies only to a host they send this run to (a token service, storage a download redirects to); check the spelling (HOST or HOST:PORT as in the endpoint)",
                hosts.join(", ")
            );
        }
    }
}

impl Http {
    /// The library's setting.
    pub fn versions(self) -> acr_relocate::transport::HttpVersions {
        use acr_relocate::transport::HttpVersions as V;
        match self {
            Http::Auto => V::Auto,
            Http::Http1 => V::Http1,
            Http::Http2 => V::Http2,
        }
    }
}

/// `--azure-credential` values.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Credential {
    /// The first one configured.
    Auto,
    /// Service principal with a client secret from the environment.
    Environment,
    /// AKS workload identity.
    WorkloadIdentity,
    /// Managed identity (AZURE_CLIENT_ID picks a user-assigned one).
    ManagedIdentity,
    /// The Azure CLI's signed-in account.
    AzureCli,
}

impl Credential {
    /// The library's credential kind.
    pub fn kind(self) -> acr_azure::CredentialKind {
        use acr_azure::CredentialKind as K;
        match self {
            Credential::Auto => K::Auto,
            Credential::Environment => K::Environment,
            Credential::WorkloadIdentity => K::WorkloadIdentity,
            Credential::ManagedIdentity => K::ManagedIdentity,
            Credential::AzureCli => K::AzureCli,
        }
    }
}

/// Which side `--acr` forces.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum AcrSide {
    /// Source and target.
    Both,
    /// The source only.
    Source,
    /// The target only.
    Target,
}

/// Which side credentials are for.
#[derive(Clone, Copy)]
pub enum Side {
    /// The source.
    Source,
    /// The target.
    Target,
}

/// The password each side read from stdin: read once per process, since `apply` opens the
/// registries again for every step and stdin has nothing more to give after the first.
static STDIN_PASSWORDS: std::sync::Mutex<[Option<String>; 2]> = std::sync::Mutex::new([None, None]);

/// The password of `side` from stdin (without its line ending), read the first time it is
/// asked. With both sides on stdin, the source's is the first line and the target's the second,
/// whichever side a command opens first.
fn password_from_stdin(side: Side, both: bool) -> anyhow::Result<String> {
    let mut read = STDIN_PASSWORDS.lock().expect("stdin passwords lock");
    let index = matches!(side, Side::Target) as usize;
    if let Some(password) = &read[index] {
        return Ok(password.clone());
    }
    let first = if both { 0 } else { index };
    for i in first..=index {
        if read[i].is_some() {
            continue;
        }
        // The side whose line this is (the source's is line 0).
        let (flag_of_line, short) = [("--src-creds", "src"), ("--dst-creds", "dst")][i];
        let mut line = String::new();
        std::io::stdin()
            .read_line(&mut line)
            .with_context(|| format!("{flag_of_line}: cannot read the password from stdin"))?;
        let password = line.trim_end_matches(['\r', '\n']).to_string();
        if password.is_empty() {
            bail!("{flag_of_line}: stdin gave an empty password: pipe the password in, as in `echo \"$PASSWORD\" | acr-relocate … {flag_of_line} USER --{short}-password-stdin` (with both sides on stdin: the source's line first, then the target's)");
        }
        read[i] = Some(password);
    }
    Ok(read[index].clone().expect("read above"))
}

impl ConnectArgs {
    /// Connection settings for one side.
    pub fn options(&self, side: Side) -> anyhow::Result<ConnectOptions> {
        let (creds, stdin, ca, flag, env) = match side {
            Side::Source => (
                &self.src_creds,
                self.src_password_stdin,
                &self.src_ca_cert,
                "--src-creds",
                "ACR_RELOCATE_SRC_PASSWORD",
            ),
            Side::Target => (
                &self.dst_creds,
                self.dst_password_stdin,
                &self.dst_ca_cert,
                "--dst-creds",
                "ACR_RELOCATE_DST_PASSWORD",
            ),
        };
        let credentials = match creds {
            None => None,
            Some(text) => Some(match text.expose().split_once(':') {
                Some(_) if stdin => {
                    let side = if matches!(side, Side::Source) {
                        "src"
                    } else {
                        "dst"
                    };
                    bail!("{flag} has a password and --{side}-password-stdin would read another: give {flag} USER with --{side}-password-stdin, or USER:PASSWORD alone")
                }
                Some((user, password)) => Credentials {
                    username: user.to_string(),
                    password: Secret::new(password),
                    origin: flag.to_string(),
                },
                None => {
                    let password = if stdin {
                        password_from_stdin(
                            side,
                            self.src_password_stdin && self.dst_password_stdin,
                        )?
                    } else if let Ok(p) = std::env::var(env) {
                        p
                    } else {
                        // No colon: the text is the user name alone.
                        let user = text.expose();
                        bail!("{flag} `{user}` has no password: write USER:PASSWORD, set ${env}, or pass --{}-password-stdin", if matches!(side, Side::Source) { "src" } else { "dst" });
                    };
                    Credentials {
                        username: text.expose().to_string(),
                        password: Secret::new(password),
                        origin: flag.to_string(),
                    }
                }
            }),
        };
        // First match wins: the flag (above), the containers auth.json files (podman's, skopeo's),
        // docker's config.json (each with credHelpers, credsStore, auths), then anonymous. Looked
        // up by the endpoint's registry host (and prefix, for namespaced entries) when the
        // registry is opened.
        let credential_sources = CredentialSource::all_from_env();
        let (cert, key) = match side {
            Side::Source => (&self.src_cert, &self.src_key),
            Side::Target => (&self.dst_cert, &self.dst_key),
        };
        let client_certificate = match (cert, key) {
            (Some(certificate), Some(key)) => Some(ClientCertificate {
                certificate: certificate.clone(),
                key: key.clone(),
            }),
            _ => None,
        };
        Ok(ConnectOptions {
            credentials,
            credential_sources,
            ca_cert: ca.clone(),
            client_certificate,
            insecure_hosts: self.insecure.clone(),
            page_size: self.page_size,
            acr: matches!(
                (self.acr, side),
                (Some(AcrSide::Both), _)
                    | (Some(AcrSide::Source), Side::Source)
                    | (Some(AcrSide::Target), Side::Target)
            ),
            azure_ad: self.azure_ad(side)?,
            http: self.http.versions(),
            side: Some(
                match side {
                    Side::Source => "SOURCE",
                    Side::Target => "TARGET",
                }
                .to_string(),
            ),
            unreachable_after: Some(std::time::Duration::from_secs(self.unreachable_after)),
            connect_timeout: Some(std::time::Duration::from_secs(self.connect_timeout)),
            read_timeout: Some(std::time::Duration::from_secs(self.read_timeout)),
            chunk_size: Some(self.chunk_size),
        })
    }

    /// The Azure AD identity for registries: always with `--azure` (an error if none is
    /// configured), otherwise only when one is configured (then used for `*.azurecr.io` hosts that
    /// have no other credentials).
    fn azure_ad(
        &self,
        side: Side,
    ) -> anyhow::Result<Option<acr_relocate::azure_ad::SharedAzureAd>> {
        let kind = self.azure_credential.kind();
        let forced = matches!(
            (self.azure, side),
            (Some(AcrSide::Both), _)
                | (Some(AcrSide::Source), Side::Source)
                | (Some(AcrSide::Target), Side::Target)
        );
        if !forced
            && kind == acr_azure::CredentialKind::Auto
            && acr_azure::CredentialKind::detect().is_none()
        {
            return Ok(None);
        }
        let sign_in = acr_azure::AzureSignIn::new(kind, acr_azure::http::client()?)?;
        Ok(Some(std::sync::Arc::new(
            acr_azure::credential::RegistrySignIn::new(sign_in, forced),
        )))
    }
}

/// Which repositories and tags a job covers.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct FilterArgs {
    /// Only repositories matching this glob (repeatable). `*` stays within one path level, `**`
    /// crosses levels.
    #[arg(long = "repo", value_name = "GLOB")]
    pub repos: Vec<String>,
    /// Leave out repositories matching this glob (repeatable).
    #[arg(long = "exclude-repo", value_name = "GLOB")]
    pub exclude_repos: Vec<String>,
    /// Only tags matching this regular expression (the whole tag must match); repeatable: a tag
    /// matching any of them is taken (`--tag v1.0.0 --tag latest`).
    #[arg(long, value_name = "REGEX")]
    pub tag: Vec<String>,
    /// Leave out tags matching this regular expression (the whole tag must match); repeatable.
    /// It wins over --tag, and over signatures and attestations that come with a tag by name
    /// (`sha256-….sig`).
    #[arg(long = "exclude-tag", value_name = "REGEX")]
    pub exclude_tags: Vec<String>,
    /// Take only shard K of N of the repositories (K from 0 to N-1): N workers cover everything once.
    #[arg(long, value_name = "K/N", value_parser = parse_shard)]
    pub shard: Option<(u32, u32)>,
}

/// Repository names changed on the way, for the jobs that have a target.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct MapArgs {
    /// Give a repository another name in TARGET (repeatable): `--map web=frontend/web`; both
    /// sides ending with / move a namespace (`--map team-a/=platform/team-a/`). Names are
    /// relative to SOURCE's and TARGET's prefixes and filters match the source's; an exact name
    /// wins over a namespace. Give verify, delete-source and rewrite the same --map as the copy.
    #[arg(long = "map", value_name = "FROM=TO")]
    pub map: Vec<String>,
}

impl MapArgs {
    /// The renames, parsed; a malformed or conflicting one is an error naming it.
    pub fn renames(&self) -> anyhow::Result<Renames> {
        Ok(Renames::parse(&self.map, "--map")?)
    }
}

fn parse_shard(text: &str) -> Result<(u32, u32), String> {
    let err = || format!("`{text}` is not K/N (for example 0/3)");
    let (k, n) = text.split_once('/').ok_or_else(err)?;
    let k: u32 = k.trim().parse().map_err(|_| err())?;
    let n: u32 = n.trim().parse().map_err(|_| err())?;
    if n == 0 || k >= n {
        return Err(format!("`{text}`: N must be > 0 and K from 0 to N-1"));
    }
    Ok((k, n))
}

/// Refuses the options of `copy --mode import` in a copy that streams, which would ignore them.
pub fn refuse_import_options(import: &crate::commands::azure::ImportArgs) -> anyhow::Result<()> {
    let given = [
        ("--force", import.force),
        ("--target-id", import.target_id.is_some()),
        ("--source-id", import.source_id.is_some()),
    ];
    if let Some((flag, _)) = given.iter().find(|(_, given)| *given) {
        bail!("{flag} only applies to --mode import: add --mode import (with --target-id), or leave {flag} out");
    }
    Ok(())
}

/// Parses an endpoint argument, naming the argument on error.
pub fn endpoint(text: &str, what: &str) -> anyhow::Result<Endpoint> {
    let endpoint = text.parse::<Endpoint>().with_context(|| what.to_string())?;
    endpoint
        .check_local_path()
        .with_context(|| what.to_string())?;
    Ok(endpoint)
}

fn prefix(e: &Endpoint) -> Option<String> {
    match e {
        Endpoint::Registry(r) => r.prefix.clone(),
        Endpoint::Layout(_) | Endpoint::Archive(_) => None,
    }
}

impl FilterArgs {
    /// When the job was narrowed (`--repo`, `--exclude-repo`, `--tag`, `--exclude-tag`, or a prefix of SOURCE) and
    /// selected nothing (`tags` the job covered, and `untagged` manifests, which a `--tag` does not
    /// select), warns on stderr with one line naming every narrowing and gives
    /// [`crate::exit::NOTHING_SELECTED`]: a relocation that moves nothing because of a misspelt
    /// filter or prefix must not look like a success. `None` when something was selected, or when
    /// nothing narrowed the job (an empty registry is not an error). When something was
    /// selected, a `--repo` or `--tag` of several that matched nothing is warned about on its own
    /// line (a misspelt one among others would otherwise go unnoticed); under `--shard`, a
    /// `--tag` is not (it may match in another shard's repositories, [`Matcher::unmatched`]).
    pub fn nothing_selected(
        &self,
        verb: &str,
        source: &Endpoint,
        matcher: &Matcher,
        tags: u64,
        untagged: u64,
    ) -> Option<u8> {
        let selected = if !self.tag.is_empty() {
            tags
        } else {
            tags + untagged
        };
        let mut narrowed: Vec<String> = prefix(source)
            .map(|p| format!("the prefix '{p}' of SOURCE"))
            .into_iter()
            .collect();
        let excluded: Vec<String> = self
            .exclude_repos
            .iter()
            .map(|r| format!("--exclude-repo '{r}'"))
            .collect();
        narrowed.extend(self.repos.iter().map(|r| format!("--repo '{r}'")));
        narrowed.extend(excluded.iter().cloned());
        narrowed.extend(self.tag.iter().map(|t| format!("--tag '{t}'")));
        let excluded_tags: Vec<String> = self
            .exclude_tags
            .iter()
            .map(|t| format!("--exclude-tag '{t}'"))
            .collect();
        narrowed.extend(excluded_tags.iter().cloned());
        // Where the user can see what the source holds: `inventory`, unless the source does not
        // list its repositories (then `inventory` cannot either).
        let where_listed = match matcher.read_by_name() {
            true => "SOURCE does not list its repositories: its portal or owner knows their names",
            false => "`acr-relocate inventory SOURCE` lists what is there",
        };
        if selected > 0 {
            for unmatched in matcher.unmatched() {
                eprintln!(
                    "{verb}: warning: {} matched nothing in SOURCE (the other filters selected what was done): check its spelling{} ({where_listed})",
                    unmatched.as_flag(),
                    unmatched.whole_tag_hint()
                );
            }
            for unmatched in matcher.unmatched_exclusions() {
                eprintln!(
                    "{verb}: warning: {} left nothing out (it matched nothing the other filters selected in SOURCE): check its spelling{}",
                    unmatched.as_flag(),
                    unmatched.whole_tag_hint()
                );
            }
            return None;
        }
        if narrowed.is_empty() {
            return None;
        }
        let seen = matcher.repositories_seen();
        let all_matched = matcher.unmatched().is_empty();
        // Every pattern matched, and the tag exclusions left out every tag the rest selected.
        if all_matched && seen.included && seen.selected && seen.tag_excluded {
            eprintln!(
                "{verb}: warning: {} left out every tag selected in SOURCE, so nothing was done: narrow the exclusion; exit code {}",
                excluded_tags.join(" with "),
                crate::exit::NOTHING_SELECTED
            );
            return Some(crate::exit::NOTHING_SELECTED);
        }
        // Repositories were selected and hold nothing to do: every pattern matched, or they
        // listed no tag at all (emptied by an earlier deletion: a rerun is no mistake) and only
        // tag expressions, which had nothing to match, are unmatched: none is misspelt.
        let only_tags_unmatched = matcher
            .unmatched()
            .iter()
            .all(|u| u.kind == acr_relocate::walk::PatternKind::Tag);
        if seen.selected
            && ((all_matched && seen.included) || (!seen.tags_listed && only_tags_unmatched))
        {
            eprintln!("{verb}: the selected repositories of SOURCE hold no tags: nothing to do");
            return None;
        }
        // Every pattern matched: the exclusions (or the shard) left out every repository the
        // rest selected.
        if all_matched && seen.included {
            if excluded.is_empty() {
                eprintln!("{verb}: this shard holds none of the selected repositories of SOURCE: nothing to do");
                return None;
            }
            eprintln!(
                "{verb}: warning: {} left out every repository selected in SOURCE, so nothing was done: narrow the exclusion; exit code {}",
                excluded.join(" with "),
                crate::exit::NOTHING_SELECTED
            );
            return Some(crate::exit::NOTHING_SELECTED);
        }
        // `REG/app`, as other tools name one repository, is a prefix here: say how to name it.
        let mut prefix_hint = match prefix(source) {
            Some(p) => format!(
                "a path after the registry is a prefix (`REG/{p}` selects `{p}/*`, not `{p}` itself): to select the repository `{p}`, write SOURCE without it and add `--repo {p}`; otherwise "
            ),
            None => String::new(),
        };
        // `--repo web` beside `--map svc2=web`: filters take the source's names.
        let reverse = matcher.selection().renames.inverted();
        for repo in &self.repos {
            if let Some(source_name) = reverse.apply(repo).filter(|n| n != repo) {
                prefix_hint.push_str(&format!(
                    "--repo takes the source's names: `{source_name}` is the repository --map names `{repo}` in TARGET; otherwise "
                ));
            }
        }
        if self.tag.iter().any(|t| t.starts_with("sha256:")) {
            prefix_hint.push_str("--tag takes tags, not digests: select the tags that point at the manifest (without --tag, the untagged manifests of ACRs and layouts are copied too); otherwise ");
        }
        eprintln!(
            "{verb}: warning: {} selected nothing in SOURCE, so nothing was done: {prefix_hint}check the spelling ({where_listed}); exit code {}",
            narrowed.join(" with "),
            crate::exit::NOTHING_SELECTED
        );
        Some(crate::exit::NOTHING_SELECTED)
    }

    /// The matcher for a job from `source` to `target` (prefixes come from the endpoints), with
    /// `renames` ([`MapArgs`]; none for a job without a target).
    pub fn matcher(
        &self,
        source: &Endpoint,
        target: Option<&Endpoint>,
        renames: Renames,
    ) -> anyhow::Result<Matcher> {
        Ok(Matcher::new(Selection {
            source_prefix: prefix(source),
            target_prefix: target.and_then(prefix),
            renames,
            include: self.repos.clone(),
            exclude: self.exclude_repos.clone(),
            tag_patterns: self.tag.clone(),
            exclude_tag_patterns: self.exclude_tags.clone(),
            shard: self.shard,
        })?)
    }
}

/// Default number of concurrent blob transfers.
pub const DEFAULT_JOBS: usize = 8;

/// How much runs at once: `--jobs` to start with, growing towards `--max-jobs` over slow links.
#[derive(clap::Args, Clone, Copy, Debug)]
pub struct JobsArgs {
    /// Work at once to start with, and at least: blob transfers in a copy (tags at four times
    /// that), four requests each when listing and verifying.
    #[arg(long, short = 'j', default_value_t = DEFAULT_JOBS, value_parser = at_least_one)]
    pub jobs: usize,
    /// The most at once: from --jobs the number grows towards this while the round trips to the
    /// registries stay steady (a distant registry), and falls back when they stretch. Default:
    /// four times --jobs; equal to --jobs keeps the number fixed.
    #[arg(long, value_name = "N", value_parser = at_least_one)]
    pub max_jobs: Option<usize>,
}

/// A number of things at once: 0 would do nothing, more than [`MOST_AT_ONCE`] no registry serves.
fn at_least_one(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(0) => Err("0 would do nothing: give at least 1".into()),
        Ok(n) if n > MOST_AT_ONCE => Err(format!(
            "{n} at once is more than any registry serves one client: give at most {MOST_AT_ONCE}"
        )),
        Ok(n) => Ok(n),
        Err(e) => Err(format!("`{text}` is not a number: {e}")),
    }
}

impl Default for JobsArgs {
    fn default() -> Self {
        JobsArgs {
            jobs: DEFAULT_JOBS,
            max_jobs: None,
        }
    }
}

impl JobsArgs {
    /// Refuses `--max-jobs` below `--jobs` (absent, the default applies).
    pub fn check(&self) -> anyhow::Result<()> {
        let jobs = self.jobs.max(1);
        if let Some(max) = self.max_jobs.filter(|max| *max < jobs) {
            anyhow::bail!(
                "--max-jobs {max} is below --jobs {jobs}: give --max-jobs at least --jobs (equal keeps the number fixed)"
            );
        }
        Ok(())
    }
}

/// True when stderr is a terminal (progress bars instead of lines).
pub fn stderr_is_terminal() -> bool {
    std::io::stderr().is_terminal()
}

#[cfg(test)]
mod tests {
    use super::insecure_host;

    #[test]
    fn an_insecure_host_is_taken_in_any_case_and_an_ipv6_address_with_or_without_brackets() {
        assert_eq!(insecure_host("LOCALHOST").unwrap(), "localhost");
        assert_eq!(
            insecure_host("Reg.Example:5000").unwrap(),
            "reg.example:5000"
        );
        assert_eq!(insecure_host("::1").unwrap(), "[::1]");
        assert_eq!(insecure_host("[::1]:5000").unwrap(), "[::1]:5000");
        assert!(insecure_host("https://reg.example/v2")
            .unwrap_err()
            .contains("`--insecure reg.example`"));
    }
}
