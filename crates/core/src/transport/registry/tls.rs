//! TLS for registry connections. The rustls configuration of every client is built here and
//! handed to reqwest (`use_preconfigured_tls`) instead of letting reqwest build it, for one
//! reason: a certificate given with `--src-ca-cert`/`--dst-ca-cert` must be trusted as docker,
//! skopeo and crane (Go's TLS) trust it, as a root *and* as the registry's own certificate when
//! the registry presents exactly it. `openssl req -x509`, the usual way to make a registry's
//! self-signed certificate, marks it CA:TRUE, and WebPKI refuses a CA certificate as a server's
//! own (`CaUsedAsEndEntity`) even when it is the trust anchor; reqwest has no other hook for a
//! verifier of our own.

use std::sync::{Arc, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};

/// The system's trusted root certificates (`SSL_CERT_FILE`, `SSL_CERT_DIR` or the platform's
/// store), read once per process. Left to itself, reqwest reads and parses the whole store again
/// for every client it builds, three per registry: about 6 ms each here, 35 ms of every command's
/// start. Certificates the TLS library cannot use are left out, as reqwest leaves them out.
fn system_roots() -> &'static RootCertStore {
    static ROOTS: OnceLock<RootCertStore> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let mut roots = RootCertStore::empty();
        roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
        roots
    })
}

/// The certificates of a PEM file (`--src-ca-cert`): `Err` with what is wrong with it, in words
/// that can follow the file's name.
pub(super) fn read_certificates(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    let certificates = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("not a PEM certificate file: {e}"))?;
    if certificates.is_empty() {
        return Err("holds no PEM certificate (`-----BEGIN CERTIFICATE-----`): give the CA certificate in PEM (`openssl x509 -inform der -in FILE -out ca.pem` converts DER)".into());
    }
    let mut roots = RootCertStore::empty();
    for certificate in &certificates {
        roots.add(certificate.clone()).map_err(|e| {
            format!("holds a certificate the TLS library cannot read ({e}): give the CA certificate in PEM")
        })?;
    }
    Ok(certificates)
}

/// A client certificate and its key, for registries that require mutual TLS.
pub(super) struct ClientIdentity {
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
}

impl ClientIdentity {
    /// The certificate chain of `certificate_pem` with the key of `key_pem`: `Err` with what is
    /// wrong (no certificate, no key, or a key that belongs to another certificate).
    pub(super) fn from_pem(
        certificate_pem: &[u8],
        key_pem: &[u8],
    ) -> Result<Self, IdentityRefusal> {
        let chain = CertificateDer::pem_slice_iter(certificate_pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| IdentityRefusal::Certificate(e.to_string()))?;
        if chain.is_empty() {
            return Err(IdentityRefusal::Certificate(
                "no certificate in it".to_string(),
            ));
        }
        let key = PrivateKeyDer::from_pem_slice(key_pem)
            .map_err(|e| IdentityRefusal::Key(e.to_string()))?;
        rustls::sign::CertifiedKey::from_der(chain.clone(), key.clone_key(), &provider())
            .map_err(|e| IdentityRefusal::Mismatch(e.to_string()))?;
        Ok(Self { chain, key })
    }
}

/// Why a client certificate and key cannot be used.
#[derive(Debug)]
pub(super) enum IdentityRefusal {
    /// The certificate file holds no usable certificate.
    Certificate(String),
    /// The key file holds no usable private key.
    Key(String),
    /// The key does not belong to the certificate (or cannot sign with it).
    Mismatch(String),
}

/// How one registry's clients speak TLS: whom they trust and which certificate they show.
#[derive(Clone)]
pub(super) struct ClientTls {
    roots: Arc<RootCertStore>,
    given: Arc<[CertificateDer<'static>]>,
    identity: Option<Arc<ClientIdentity>>,
    provider: Arc<CryptoProvider>,
}

impl ClientTls {
    /// Trusts the system's roots and `given` (a `--ca-cert` file's certificates), and shows
    /// `identity` to registries that ask for a client certificate.
    pub(super) fn new(
        given: Vec<CertificateDer<'static>>,
        identity: Option<ClientIdentity>,
    ) -> Self {
        let mut roots = system_roots().clone();
        // Each was read by `read_certificates`, which refuses what cannot be a root.
        roots.add_parsable_certificates(given.iter().cloned());
        Self {
            roots: Arc::new(roots),
            given: given.into(),
            identity: identity.map(Arc::new),
            provider: provider(),
        }
    }

    /// The configuration of one client: `verify` false accepts any certificate (a host that
    /// `--insecure` named); `http2` offers HTTP/2 beside HTTP/1.1 (ALPN), as reqwest would.
    pub(super) fn config(
        &self,
        verify: bool,
        http2: bool,
    ) -> Result<rustls::ClientConfig, rustls::Error> {
        let verifier = self.verifier(verify)?;
        let builder = rustls::ClientConfig::builder_with_provider(self.provider.clone())
            .with_safe_default_protocol_versions()?
            .dangerous()
            .with_custom_certificate_verifier(verifier);
        let mut config = match &self.identity {
            Some(identity) => {
                builder.with_client_auth_cert(identity.chain.clone(), identity.key.clone_key())?
            }
            None => builder.with_no_client_auth(),
        };
        config.alpn_protocols = match http2 {
            true => vec![b"h2".to_vec(), b"http/1.1".to_vec()],
            false => vec![b"http/1.1".to_vec()],
        };
        Ok(config)
    }

    /// What checks the registry's certificate: [`TrustGiven`], or [`AnyCertificate`] when
    /// `verify` is false.
    fn verifier(&self, verify: bool) -> Result<Arc<dyn ServerCertVerifier>, rustls::Error> {
        if !verify {
            return Ok(Arc::new(AnyCertificate(self.provider.clone())));
        }
        let webpki = match self.roots.is_empty() {
            true => None,
            false => Some(
                WebPkiServerVerifier::builder_with_provider(
                    self.roots.clone(),
                    self.provider.clone(),
                )
                .build()
                .map_err(|e| rustls::Error::General(e.to_string()))?,
            ),
        };
        Ok(Arc::new(TrustGiven {
            webpki,
            given: self.given.clone(),
            provider: self.provider.clone(),
        }))
    }
}

/// The process's crypto provider if one was installed, else ring's (reqwest's own choice).
fn provider() -> Arc<CryptoProvider> {
    CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::ring::default_provider()))
}

/// WebPKI's verification, and one exception to it: a server certificate that is exactly one the
/// user gave, refused only for being marked as a CA, is trusted for the names it lists. WebPKI
/// checks the validity period before the CA mark, so such a certificate is in date; its name is
/// checked here. This is what Go's TLS does with a root that is also the leaf.
#[derive(Debug)]
struct TrustGiven {
    webpki: Option<Arc<WebPkiServerVerifier>>,
    given: Arc<[CertificateDer<'static>]>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for TrustGiven {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let refused = match &self.webpki {
            Some(webpki) => match webpki.verify_server_cert(
                end_entity,
                intermediates,
                server_name,
                ocsp_response,
                now,
            ) {
                Ok(verified) => return Ok(verified),
                Err(refused) => refused,
            },
            None => CertificateError::UnknownIssuer.into(),
        };
        let given = self.given.iter().any(|g| g.as_ref() == end_entity.as_ref());
        if given && is_ca_used_as_end_entity(&refused) {
            let parsed = rustls::server::ParsedCertificate::try_from(end_entity)?;
            rustls::client::verify_server_name(&parsed, server_name)?;
            return Ok(ServerCertVerified::assertion());
        }
        Err(refused)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// True when WebPKI refused a certificate for being a CA's used as a server's own.
fn is_ca_used_as_end_entity(error: &rustls::Error) -> bool {
    match error {
        rustls::Error::InvalidCertificate(CertificateError::Other(other)) => matches!(
            other.0.downcast_ref::<webpki::Error>(),
            Some(webpki::Error::CaUsedAsEndEntity)
        ),
        _ => false,
    }
}

/// Accepts any certificate: for a host `--insecure` named, and nothing else.
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn verify_tls13_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};

    /// A self-signed certificate for `names`, marked CA:TRUE as `openssl req -x509` marks it,
    /// valid from a day ago for `days` more (negative: expired).
    fn self_signed_ca(names: &[&str], days: i64) -> CertificateDer<'static> {
        let key = KeyPair::generate().unwrap();
        let mut params =
            CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let now = std::time::SystemTime::now();
        let day = std::time::Duration::from_secs(86_400);
        params.not_before = (now - day * 2).into();
        params.not_after = match days >= 0 {
            true => now + day * days as u32,
            false => now - day * (-days) as u32,
        }
        .into();
        params.self_signed(&key).unwrap().der().clone()
    }

    fn verify(
        tls: &ClientTls,
        presented: &CertificateDer<'_>,
        name: &str,
    ) -> Result<(), rustls::Error> {
        let name = ServerName::try_from(name.to_string()).unwrap();
        tls.verifier(true)
            .unwrap()
            .verify_server_cert(presented, &[], &name, &[], UnixTime::now())
            .map(|_| ())
    }

    #[test]
    fn a_self_signed_ca_certificate_given_as_the_ca_is_trusted_as_the_servers_own_for_its_names() {
        let registry = self_signed_ca(&["registry.example"], 30);
        let tls = ClientTls::new(vec![registry.clone()], None);
        verify(&tls, &registry, "registry.example").unwrap();
        let elsewhere = verify(&tls, &registry, "other.example").unwrap_err();
        assert!(
            matches!(
                elsewhere,
                rustls::Error::InvalidCertificate(CertificateError::NotValidForNameContext { .. })
            ),
            "{elsewhere:?}"
        );
    }

    #[test]
    fn a_self_signed_ca_certificate_not_given_is_refused_as_a_ca_used_as_the_servers_own() {
        let registry = self_signed_ca(&["registry.example"], 30);
        let another = self_signed_ca(&["registry.example"], 30);
        let tls = ClientTls::new(vec![another], None);
        let refused = verify(&tls, &registry, "registry.example").unwrap_err();
        assert!(is_ca_used_as_end_entity(&refused), "{refused:?}");
    }

    #[test]
    fn an_expired_certificate_given_as_the_ca_stays_refused() {
        let registry = self_signed_ca(&["registry.example"], -1);
        let tls = ClientTls::new(vec![registry.clone()], None);
        let refused = verify(&tls, &registry, "registry.example").unwrap_err();
        assert!(
            matches!(
                refused,
                rustls::Error::InvalidCertificate(CertificateError::ExpiredContext { .. })
            ),
            "{refused:?}"
        );
    }

    #[test]
    fn without_any_root_every_certificate_is_of_an_unknown_issuer_unless_insecure() {
        let registry = self_signed_ca(&["registry.example"], 30);
        let tls = ClientTls {
            roots: Arc::new(RootCertStore::empty()),
            ..ClientTls::new(Vec::new(), None)
        };
        let refused = verify(&tls, &registry, "registry.example").unwrap_err();
        assert_eq!(
            refused,
            rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer)
        );
        let insecure = tls.config(false, false).unwrap();
        assert_eq!(insecure.alpn_protocols, vec![b"http/1.1".to_vec()]);
        let name = ServerName::try_from("registry.example").unwrap();
        tls.verifier(false)
            .unwrap()
            .verify_server_cert(&registry, &[], &name, &[], UnixTime::now())
            .unwrap();
    }

    #[test]
    fn a_file_without_certificates_is_named_as_such() {
        let refused = read_certificates(b"not pem at all").unwrap_err();
        assert!(refused.contains("holds no PEM certificate"), "{refused}");
    }
}
