//! The one HTTP client of the Azure side: a reqwest client (rustls, system roots plus
//! `SSL_CERT_FILE`, no automatic redirects) used for ARM calls and, through [`AzureCoreClient`],
//! for azure_identity's sign-in requests.
//!
//! azure_core can bring its own reqwest; we hand it ours instead (its `HttpClient` trait is the
//! documented way to do so) because azure_core 1.x pulls reqwest 0.13 with aws-lc, a second TLS
//! stack and a C build for one token request.

use std::sync::Arc;
use std::time::Duration;

use azure_core::error::ErrorKind;
use azure_core::http::headers::{HeaderName, HeaderValue, Headers};
use azure_core::http::{AsyncRawResponse, Body, HttpClient, Method, Request, StatusCode};

/// Builds the reqwest client: TLS verified against the system roots (and `SSL_CERT_FILE`), HTTP/2
/// when offered, no redirects (ARM does not redirect; a redirect is never followed with a token).
pub fn client() -> crate::Result<reqwest::Client> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(15))
        .read_timeout(Duration::from_secs(120))
        .user_agent(concat!("acr-relocate/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| {
            crate::AzureError::Invalid(format!(
                "cannot set up TLS for Azure: {}; check SSL_CERT_FILE / SSL_CERT_DIR",
                describe(&e)
            ))
        })
}

/// azure_core's transport, served by our reqwest client.
#[derive(Debug, Clone)]
pub struct AzureCoreClient {
    http: reqwest::Client,
}

impl AzureCoreClient {
    /// Wraps a reqwest client for azure_core.
    pub fn new(http: reqwest::Client) -> Arc<Self> {
        Arc::new(AzureCoreClient { http })
    }
}

#[async_trait::async_trait]
impl HttpClient for AzureCoreClient {
    async fn execute_request(&self, request: &Request) -> azure_core::Result<AsyncRawResponse> {
        let method = match request.method() {
            Method::Get => reqwest::Method::GET,
            Method::Post => reqwest::Method::POST,
            Method::Put => reqwest::Method::PUT,
            Method::Delete => reqwest::Method::DELETE,
            Method::Head => reqwest::Method::HEAD,
            Method::Patch => reqwest::Method::PATCH,
            other => {
                return Err(azure_core::Error::with_message(
                    ErrorKind::Other,
                    format!("unsupported method {other:?}"),
                ))
            }
        };
        let mut builder = self.http.request(method, request.url().as_str());
        for (name, value) in request.headers().iter() {
            builder = builder.header(name.as_str(), value.as_str());
        }
        let body = match request.body() {
            Body::Bytes(bytes) => bytes.clone(),
            _ => {
                return Err(azure_core::Error::with_message(
                    ErrorKind::Other,
                    "streamed request bodies are not used by sign-in",
                ))
            }
        };
        let response = builder
            .body(body)
            .send()
            .await
            .map_err(|e| azure_core::Error::with_message(ErrorKind::Io, describe(&e)))?;
        let status = StatusCode::from(response.status().as_u16());
        let mut headers = Headers::new();
        for (name, value) in response.headers() {
            if let Ok(v) = value.to_str() {
                headers.insert(
                    HeaderName::from(name.as_str().to_ascii_lowercase()),
                    HeaderValue::from(v.to_string()),
                );
            }
        }
        let bytes = response
            .bytes()
            .await
            .map_err(|e| azure_core::Error::with_message(ErrorKind::Io, describe(&e)))?;
        Ok(AsyncRawResponse::from_bytes(status, headers, bytes))
    }
}

/// A reqwest error as one line, with its cause (TLS, DNS, refused) but without the URL's query.
pub fn describe(error: &reqwest::Error) -> String {
    use std::error::Error as _;
    let mut text = if error.is_timeout() {
        "timed out".to_string()
    } else if error.is_connect() {
        "could not connect".to_string()
    } else {
        "request failed".to_string()
    };
    let mut cause = error.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}
