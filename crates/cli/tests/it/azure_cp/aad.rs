//! Our Azure AD token endpoint over real TLS: `POST /{tenant}/oauth2/v2.0/token` with the client
//! credentials grant, as `azure_identity`'s `ClientSecretCredential` sends it. The tool only
//! accepts an `https` authority host, so this serves TLS with a certificate from
//! `support::pki::Tls` (the test CA goes to the tool through `SSL_CERT_FILE`).

use std::path::Path;
use std::sync::{Arc, Mutex};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use serde_json::json;

use crate::support::http::{Request, Response, Server};
use crate::support::pki::Tls;

/// A token handed out: the token and the scope it was asked for.
#[derive(Clone, Debug)]
pub struct Issued {
    /// The access token.
    pub token: String,
    /// `scope` of the request (e.g. `https://management.azure.com/.default`).
    pub scope: String,
}

#[derive(Default)]
struct State {
    issued: Vec<Issued>,
    /// Every request: `POST /tenant/oauth2/v2.0/token client_id=.. grant_type=..` (no secret).
    log: Vec<String>,
}

/// The token endpoint, serving on `https://127.0.0.1:PORT` until dropped.
pub struct Aad {
    server: Server,
    state: Arc<Mutex<State>>,
    /// The tenant it serves.
    pub tenant: String,
    /// The service principal's application (client) id.
    pub client_id: String,
    /// The service principal's secret.
    pub client_secret: String,
}

/// Random lowercase hex of `bytes` bytes.
pub fn random_hex(bytes: usize) -> String {
    use ring::rand::SecureRandom;
    let mut buf = vec![0u8; bytes];
    ring::rand::SystemRandom::new().fill(&mut buf).unwrap();
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

/// A random GUID-shaped string.
pub fn random_guid() -> String {
    let h = random_hex(16);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

impl Aad {
    /// Starts the endpoint for a fresh tenant, client id and secret, with a certificate signed by
    /// the CA of `tls`.
    pub fn start(tls: &Tls) -> Self {
        let state = Arc::new(Mutex::new(State::default()));
        let tenant = random_guid();
        let client_id = random_guid();
        let client_secret = format!("sp~{}", random_hex(20));
        let (s, t, c, k) = (
            state.clone(),
            tenant.clone(),
            client_id.clone(),
            client_secret.clone(),
        );
        let server = Server::start_tls(tls.server_config(), move |r| handle(r, &s, &t, &c, &k));
        Aad {
            server,
            state,
            tenant,
            client_id,
            client_secret,
        }
    }

    /// `https://127.0.0.1:PORT` (the `AZURE_AUTHORITY_HOST`).
    pub fn authority(&self) -> String {
        format!("https://127.0.0.1:{}", self.server.port)
    }

    /// Every token handed out.
    pub fn issued(&self) -> Vec<Issued> {
        self.state.lock().unwrap().issued.clone()
    }

    /// Every request seen (without secrets).
    pub fn log(&self) -> Vec<String> {
        self.state.lock().unwrap().log.clone()
    }

    /// Shared view of the issued tokens (the fake ARM checks bearer tokens against it).
    pub fn token_check(&self) -> impl Fn(&str) -> bool + Send + Sync + 'static {
        let state = self.state.clone();
        move |token: &str| {
            state
                .lock()
                .unwrap()
                .issued
                .iter()
                .any(|i| i.token == token)
        }
    }
}

fn aad_error(status: u16, error: &str, description: &str) -> Response {
    Response::json(
        status,
        &json!({
            "error": error,
            "error_description": description,
            "error_codes": [],
            "timestamp": "2024-07-08 12:00:00Z",
            "trace_id": random_guid(),
            "correlation_id": random_guid(),
        }),
    )
}

fn handle(
    request: &Request,
    state: &Mutex<State>,
    tenant: &str,
    client_id: &str,
    secret: &str,
) -> Response {
    let form = request.form();
    let field = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    };
    state.lock().unwrap().log.push(format!(
        "{} {} client_id={} grant_type={} scope={}",
        request.method,
        request.path,
        field("client_id"),
        field("grant_type"),
        field("scope")
    ));
    if request.method != "POST" || request.path != format!("/{tenant}/oauth2/v2.0/token") {
        return aad_error(
            404,
            "invalid_request",
            &format!(
                "AADSTS90002: Tenant '{}' not found.",
                request.path.split('/').nth(1).unwrap_or("")
            ),
        );
    }
    if field("grant_type") != "client_credentials" {
        return aad_error(
            400,
            "unsupported_grant_type",
            "AADSTS70003: The app requested an unsupported grant type.",
        );
    }
    if field("client_id") != client_id {
        return aad_error(
            400,
            "unauthorized_client",
            &format!(
                "AADSTS700016: Application with identifier '{}' was not found in the directory.",
                field("client_id")
            ),
        );
    }
    if field("client_secret") != secret {
        return aad_error(
            401,
            "invalid_client",
            "AADSTS7000215: Invalid client secret provided.",
        );
    }
    let scope = field("scope");
    if !scope.ends_with("/.default") {
        return aad_error(
            400,
            "invalid_scope",
            &format!("AADSTS1002012: The provided value for scope {scope} is not valid."),
        );
    }
    let token = format!("eyJ0eXAiOiJKV1Qi.{}.sig", random_hex(32));
    state.lock().unwrap().issued.push(Issued {
        token: token.clone(),
        scope: scope.to_string(),
    });
    Response::json(
        200,
        &json!({
            "token_type": "Bearer",
            "expires_in": 3599,
            "ext_expires_in": 3599,
            "access_token": token,
        }),
    )
}

/// Loads the certificate of `tls` into a client root store (for the harness's self-test).
pub fn client_config(ca: &Path) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Arc::new(
        rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}
