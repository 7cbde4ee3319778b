//! Azure AD sign-in through the official `azure_identity` crate, the way users already sign in:
//! a service principal from the environment, workload identity (AKS), managed identity, or the
//! Azure CLI's `az login`.

use std::sync::Arc;

use acr_relocate::secret::Secret;
use azure_core::credentials::{Secret as AzSecret, TokenCredential};
use azure_core::http::{ClientOptions, Transport};
use azure_identity::{
    AzureCliCredential, AzureCliCredentialOptions, ClientAssertionCredentialOptions,
    ClientSecretCredential, ClientSecretCredentialOptions, ManagedIdentityCredential,
    ManagedIdentityCredentialOptions, UserAssignedId, WorkloadIdentityCredential,
    WorkloadIdentityCredentialOptions,
};

use crate::error::{AzureError, Result};
use crate::http::AzureCoreClient;

/// The scope of an ARM token in the public cloud.
pub const ARM_SCOPE: &str = "https://management.azure.com/.default";

/// The scope of a token for an ACR's `/oauth2/exchange`: the registry audience, which every
/// registry accepts (an ARM-audience token is refused where `azureADAuthenticationAsArmPolicy` is
/// disabled, and would be a token for the whole subscription in the registry's hands).
pub const ACR_SCOPE: &str = "https://containerregistry.azure.net/.default";

/// The token scope for an ARM endpoint: the sovereign clouds' own management hosts, else the
/// public cloud's (a test server stands in for it).
pub fn arm_scope(endpoint: &url::Url) -> String {
    match endpoint.host_str() {
        Some(host @ ("management.usgovcloudapi.net" | "management.chinacloudapi.cn"))
            if endpoint.scheme() == "https" =>
        {
            format!("https://{host}/.default")
        }
        _ => ARM_SCOPE.to_string(),
    }
}

/// Which credential to sign in with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum CredentialKind {
    /// The first that is configured: a service principal in the environment
    /// (`AZURE_TENANT_ID`, `AZURE_CLIENT_ID`, `AZURE_CLIENT_SECRET`), workload identity
    /// (`AZURE_FEDERATED_TOKEN_FILE`), managed identity on App Service / Functions
    /// (`IDENTITY_ENDPOINT`), then the Azure CLI (`az` on PATH).
    #[default]
    Auto,
    /// A service principal with a client secret from the environment.
    Environment,
    /// AKS workload identity (a federated token file from the environment).
    WorkloadIdentity,
    /// The managed identity of the VM, AKS node or App Service (`AZURE_CLIENT_ID` picks a
    /// user-assigned one).
    ManagedIdentity,
    /// The account `az login` signed in.
    AzureCli,
}

impl CredentialKind {
    /// How the credential is named in messages.
    pub fn describe(self) -> &'static str {
        match self {
            CredentialKind::Auto => "automatic credential selection",
            CredentialKind::Environment => {
                "the service principal in AZURE_TENANT_ID/AZURE_CLIENT_ID/AZURE_CLIENT_SECRET"
            }
            CredentialKind::WorkloadIdentity => "workload identity (AZURE_FEDERATED_TOKEN_FILE)",
            CredentialKind::ManagedIdentity => "managed identity",
            CredentialKind::AzureCli => "the Azure CLI (az login)",
        }
    }

    /// The credential `Auto` settles on in the current environment, if any.
    pub fn detect() -> Option<CredentialKind> {
        let set = |name: &str| std::env::var_os(name).is_some_and(|v| !v.is_empty());
        if set("AZURE_CLIENT_SECRET") && set("AZURE_TENANT_ID") && set("AZURE_CLIENT_ID") {
            Some(CredentialKind::Environment)
        } else if set("AZURE_FEDERATED_TOKEN_FILE") {
            Some(CredentialKind::WorkloadIdentity)
        } else if set("IDENTITY_ENDPOINT") || set("MSI_ENDPOINT") {
            Some(CredentialKind::ManagedIdentity)
        } else if on_path("az") {
            Some(CredentialKind::AzureCli)
        } else {
            None
        }
    }
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}

/// A signed-in Azure AD identity that hands out access tokens for a scope. Tokens are cached here
/// until five minutes before they expire (azure_identity's Azure CLI credential does not cache, and
/// would start `az` for every request), one sign-in at a time per scope.
#[derive(Clone)]
pub struct AzureSignIn {
    credential: Arc<dyn TokenCredential>,
    kind: CredentialKind,
    cache: Arc<tokio::sync::Mutex<std::collections::HashMap<String, (Secret, std::time::Instant)>>>,
}

/// Tokens are renewed this long before they expire.
const RENEW_BEFORE: std::time::Duration = std::time::Duration::from_secs(300);

impl std::fmt::Debug for AzureSignIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AzureSignIn")
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

impl AzureSignIn {
    /// Prepares the credential (no request is sent until a token is asked for).
    pub fn new(kind: CredentialKind, http: reqwest::Client) -> Result<Self> {
        let resolved = match kind {
            CredentialKind::Auto => CredentialKind::detect().ok_or_else(|| AzureError::SignIn {
                credential: kind.describe().into(),
                message: "no Azure credential found: set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET, run `az login`, or pass --azure-credential managed-identity".into(),
            })?,
            k => k,
        };
        let client_options = || ClientOptions {
            transport: Some(Transport::new(AzureCoreClient::new(http.clone()))),
            ..Default::default()
        };
        let failed = |e: azure_core::Error| AzureError::SignIn {
            credential: resolved.describe().into(),
            message: one_line(&e.to_string()),
        };
        let env = |name: &str| -> Result<String> {
            std::env::var(name)
                .ok()
                .filter(|v| !v.is_empty())
                .ok_or_else(|| AzureError::SignIn {
                    credential: resolved.describe().into(),
                    message: format!("{name} is not set"),
                })
        };
        let credential: Arc<dyn TokenCredential> = match resolved {
            CredentialKind::Environment => ClientSecretCredential::new(
                &env("AZURE_TENANT_ID")?,
                env("AZURE_CLIENT_ID")?,
                AzSecret::new(env("AZURE_CLIENT_SECRET")?),
                Some(ClientSecretCredentialOptions {
                    client_options: client_options(),
                }),
            )
            .map_err(failed)?,
            CredentialKind::WorkloadIdentity => {
                WorkloadIdentityCredential::new(Some(WorkloadIdentityCredentialOptions {
                    credential_options: ClientAssertionCredentialOptions {
                        client_options: client_options(),
                    },
                    ..Default::default()
                }))
                .map_err(failed)?
            }
            CredentialKind::ManagedIdentity => {
                let user_assigned_id = std::env::var("AZURE_CLIENT_ID")
                    .ok()
                    .filter(|v| !v.is_empty())
                    .map(UserAssignedId::ClientId);
                ManagedIdentityCredential::new(Some(ManagedIdentityCredentialOptions {
                    user_assigned_id,
                    client_options: client_options(),
                }))
                .map_err(failed)?
            }
            CredentialKind::AzureCli => {
                AzureCliCredential::new(Some(AzureCliCredentialOptions::default()))
                    .map_err(failed)?
            }
            CredentialKind::Auto => unreachable!("resolved above"),
        };
        Ok(AzureSignIn {
            credential,
            kind: resolved,
            cache: Default::default(),
        })
    }

    /// The credential in use.
    pub fn kind(&self) -> CredentialKind {
        self.kind
    }

    /// An access token for `scope` (for example [`ARM_SCOPE`]).
    pub async fn token(&self, scope: &str) -> Result<Secret> {
        let mut cache = self.cache.lock().await;
        if let Some((token, renew_at)) = cache.get(scope) {
            if std::time::Instant::now() < *renew_at {
                return Ok(token.clone());
            }
        }
        let token = self
            .credential
            .get_token(&[scope], None)
            .await
            .map_err(|e| AzureError::SignIn {
                credential: self.kind.describe().into(),
                // azure_identity's text may quote what it sent or was answered: masked as ARM's.
                message: crate::arm::masked(&one_line(&e.to_string())),
            })?;
        let lifetime = (token.expires_on - azure_core::time::OffsetDateTime::now_utc())
            .whole_seconds()
            .max(0) as u64;
        let renew_in = std::time::Duration::from_secs(lifetime).saturating_sub(RENEW_BEFORE);
        let secret = Secret::new(token.token.secret());
        remember_issued(&secret);
        cache.insert(
            scope.to_string(),
            (secret.clone(), std::time::Instant::now() + renew_in),
        );
        Ok(secret)
    }
}

/// The access tokens this process was given, the latest last (a few at most): what ARM echoes
/// in an error is masked with them ([`issued_tokens`]).
static ISSUED: std::sync::Mutex<Vec<Secret>> = std::sync::Mutex::new(Vec::new());

/// How many of the latest tokens are kept for masking.
const REMEMBERED: usize = 8;

/// Keeps `token` for [`issued_tokens`].
pub(crate) fn remember_issued(token: &Secret) {
    let mut issued = ISSUED.lock().unwrap_or_else(|e| e.into_inner());
    if !issued.contains(token) {
        issued.push(token.clone());
    }
    let excess = issued.len().saturating_sub(REMEMBERED);
    issued.drain(..excess);
}

/// The access tokens handed out in this process (for masking them in messages ARM writes).
pub(crate) fn issued_tokens() -> Vec<Secret> {
    ISSUED.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

/// azure_identity's messages span lines (a troubleshooting link on the last); keep one line.
fn one_line(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("To troubleshoot"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The sign-in used for registries' data planes: AAD tokens for ACR's `/oauth2/exchange`.
#[derive(Debug, Clone)]
pub struct RegistrySignIn {
    sign_in: AzureSignIn,
    every_registry: bool,
}

impl RegistrySignIn {
    /// Wraps a sign-in; `every_registry` makes it apply to hosts other than `*.azurecr.io`.
    pub fn new(sign_in: AzureSignIn, every_registry: bool) -> Self {
        RegistrySignIn {
            sign_in,
            every_registry,
        }
    }
}

#[async_trait::async_trait]
impl acr_relocate::azure_ad::AzureAdTokens for RegistrySignIn {
    async fn access_token(&self) -> acr_relocate::Result<Secret> {
        self.sign_in
            .token(ACR_SCOPE)
            .await
            .map_err(|e| acr_relocate::Error::Auth {
                registry: "Azure AD".into(),
                source_tried: self.describe(),
                reason: e.to_string(),
            })
    }

    fn tenant(&self) -> Option<String> {
        std::env::var("AZURE_TENANT_ID")
            .ok()
            .filter(|t| !t.is_empty())
    }

    fn describe(&self) -> String {
        format!("Azure AD ({})", self.sign_in.kind().describe())
    }

    fn for_every_registry(&self) -> bool {
        self.every_registry
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sovereign_clouds_get_their_own_arm_audience() {
        let scope = |u: &str| arm_scope(&url::Url::parse(u).unwrap());
        assert_eq!(scope("https://management.azure.com"), ARM_SCOPE);
        assert_eq!(
            scope("https://management.usgovcloudapi.net"),
            "https://management.usgovcloudapi.net/.default"
        );
        assert_eq!(
            scope("https://management.chinacloudapi.cn/"),
            "https://management.chinacloudapi.cn/.default"
        );
        assert_eq!(scope("http://127.0.0.1:4010"), ARM_SCOPE);
    }
}
