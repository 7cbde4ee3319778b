//! Signing in to an Azure Container Registry with an Azure AD identity, as `az acr login` does:
//! an AAD access token is exchanged at the registry's `POST /oauth2/exchange`
//! (`grant_type=access_token`, `service`, `tenant`, `access_token`) for an ACR refresh token, which
//! then buys registry access tokens at `/oauth2/token` like any identity token.
//!
//! The AAD side is a trait so that this crate stays free of Azure SDK dependencies: the CLI plugs
//! in `acr_azure`'s implementation (the official azure_identity crate).

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;

use crate::error::Result;
use crate::secret::Secret;

/// Hands out Azure AD access tokens for exchanging at a registry.
#[async_trait]
pub trait AzureAdTokens: Send + Sync + std::fmt::Debug {
    /// A fresh AAD access token (cached and renewed by the implementation).
    async fn access_token(&self) -> Result<Secret>;
    /// The tenant to name in the exchange, when known.
    fn tenant(&self) -> Option<String>;
    /// How the identity is named in messages (`Azure AD (the Azure CLI)`), never a secret.
    fn describe(&self) -> String;
    /// True when it signs in to every registry without other credentials (`--azure`); false when
    /// only to `*.azurecr.io` hosts.
    fn for_every_registry(&self) -> bool {
        false
    }
}

/// A shared AAD token source.
pub type SharedAzureAd = Arc<dyn AzureAdTokens>;

/// How long an exchanged ACR refresh token is reused. ACR's last about three hours; renewing
/// well before keeps a long copy signed in.
pub const REFRESH_TOKEN_REUSE: Duration = Duration::from_secs(45 * 60);

/// An exchanged refresh token and when it was obtained.
#[derive(Clone, Debug)]
pub struct Exchanged {
    /// The ACR refresh token.
    pub token: Secret,
    /// When it was obtained.
    pub at: Instant,
}

impl Exchanged {
    /// True while it may still be reused.
    pub fn is_fresh(&self) -> bool {
        self.at.elapsed() < REFRESH_TOKEN_REUSE
    }
}

/// The exchange endpoint that goes with a token realm: `https://r.azurecr.io/oauth2/token` →
/// `https://r.azurecr.io/oauth2/exchange`; any other realm → `/oauth2/exchange` on its origin.
pub fn exchange_url(realm: &str) -> Option<String> {
    let url = url::Url::parse(realm).ok()?;
    let mut out = url.clone();
    out.set_query(None);
    let path = url.path();
    let new_path = match path.strip_suffix("/token") {
        Some(base) if base.ends_with("/oauth2") => format!("{base}/exchange"),
        _ => "/oauth2/exchange".to_string(),
    };
    out.set_path(&new_path);
    Some(out.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exchange_endpoint_sits_beside_the_token_endpoint() {
        assert_eq!(
            exchange_url("https://r.azurecr.io/oauth2/token").unwrap(),
            "https://r.azurecr.io/oauth2/exchange"
        );
        assert_eq!(
            exchange_url("http://127.0.0.1:5000/auth/token?x=1").unwrap(),
            "http://127.0.0.1:5000/oauth2/exchange"
        );
    }
}
