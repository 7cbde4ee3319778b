//! Options shared by several verbs, resolved once into library settings.

use std::io::IsTerminal;
use std::path::PathBuf;

use acr_relocate::credentials::CredentialSource;
use acr_relocate::endpoint::Endpoint;
use acr_relocate::secret::Secret;
use acr_relocate::transport::registry::Credentials;
use acr_relocate::transport::ConnectOptions;
use acr_relocate::walk::{Matcher, Selection};
use anyhow::{bail, Context};

/// How to reach the source and the target.
#[derive(clap::Args, Clone, Debug)]
pub struct ConnectArgs {
    /// Source credentials: `USER:PASSWORD`, or `USER` with the password in $ACR_RELOCATE_SRC_PASSWORD
    /// or on stdin (--src-password-stdin). User `00000000-0000-0000-0000-000000000000` takes an ACR
    /// refresh token. Without it: docker's config.json ($DOCKER_CONFIG or ~/.docker: credHelpers,
    /// credsStore, auths), then $REGISTRY_AUTH_FILE, then anonymous.
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
    /// Skip TLS certificate verification for this host (repeatable; names the host explicitly).
    #[arg(long, value_name = "HOST")]
    pub insecure: Vec<String>,
    /// Entries per page asked for in catalog and tag listings (Link headers are always followed).
    #[arg(long, default_value_t = 1000, hide = true)]
    pub page_size: usize,
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
                        let mut line = String::new();
                        std::io::stdin().read_line(&mut line).with_context(|| {
                            format!("{flag}: cannot read the password from stdin")
                        })?;
                        line.trim_end_matches(['\r', '\n']).to_string()
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
        // First match wins: the flag (above), docker's config.json (credHelpers, credsStore, auths),
        // the containers auth.json, then anonymous. Looked up by the endpoint's registry host when
        // the registry is opened.
        let credential_sources = [
            CredentialSource::docker_config_from_env(),
            CredentialSource::auth_file_from_env(),
        ]
        .into_iter()
        .flatten()
        .collect();
        Ok(ConnectOptions {
            credentials,
            credential_sources,
            ca_cert: ca.clone(),
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
            ..Default::default()
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
    /// Only tags matching this regular expression (the whole tag must match).
    #[arg(long, value_name = "REGEX")]
    pub tag: Option<String>,
    /// Take only shard K of N of the repositories (K from 0 to N-1): N workers cover everything once.
    #[arg(long, value_name = "K/N", value_parser = parse_shard)]
    pub shard: Option<(u32, u32)>,
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

/// Parses an endpoint argument, naming the argument on error.
pub fn endpoint(text: &str, what: &str) -> anyhow::Result<Endpoint> {
    text.parse::<Endpoint>().with_context(|| what.to_string())
}

fn prefix(e: &Endpoint) -> Option<String> {
    match e {
        Endpoint::Registry(r) => r.prefix.clone(),
        Endpoint::Layout(_) | Endpoint::Archive(_) => None,
    }
}

impl FilterArgs {
    /// The matcher for a job from `source` to `target` (prefixes come from the endpoints).
    pub fn matcher(&self, source: &Endpoint, target: Option<&Endpoint>) -> anyhow::Result<Matcher> {
        Ok(Matcher::new(Selection {
            source_prefix: prefix(source),
            target_prefix: target.and_then(prefix),
            include: self.repos.clone(),
            exclude: self.exclude_repos.clone(),
            tag_pattern: self.tag.clone(),
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
    #[arg(long, short = 'j', default_value_t = DEFAULT_JOBS)]
    pub jobs: usize,
    /// The most at once: from --jobs the number grows towards this while the round trips to the
    /// registries stay steady (a distant registry), and falls back when they stretch. Default:
    /// four times --jobs; equal to --jobs keeps the number fixed.
    #[arg(long, value_name = "N")]
    pub max_jobs: Option<usize>,
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
