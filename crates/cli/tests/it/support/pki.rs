//! Certificates made for one test: a CA and a server certificate for 127.0.0.1 and localhost, and
//! the ES256 key and certificate the token issuer signs with.

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose, SanType};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// PEM files of a test CA and a server certificate it signed.
pub struct Tls {
    /// The CA certificate (PEM): what `--src-ca-cert` takes.
    pub ca: PathBuf,
    /// The server certificate (PEM).
    pub cert: PathBuf,
    /// The server key (PEM, PKCS#8).
    pub key: PathBuf,
    /// A client certificate the same CA signed, for mutual TLS (PEM).
    pub client_cert: PathBuf,
    /// The client certificate's key (PEM, PKCS#8).
    pub client_key: PathBuf,
}

impl Tls {
    /// A rustls server configuration for the server certificate and key.
    pub fn server_config(&self) -> Arc<rustls::ServerConfig> {
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&self.cert)
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let key = PrivateKeyDer::from_pem_file(&self.key).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .unwrap();
        Arc::new(config)
    }

    /// Writes a fresh CA and server certificate into `dir`.
    pub fn generate(dir: &Path) -> Self {
        Self::generate_for(dir, true)
    }

    /// Writes a fresh CA and a server certificate into `dir` made out, with `this_machine`, to
    /// 127.0.0.1 and localhost, and without, only to `registry.invalid` (a name mismatch).
    pub fn generate_for(dir: &Path, this_machine: bool) -> Self {
        let ca_key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "acr-relocate test CA");
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca = params.self_signed(&ca_key).unwrap();

        let key = KeyPair::generate().unwrap();
        let name = if this_machine {
            "localhost"
        } else {
            "registry.invalid"
        };
        let mut params = CertificateParams::new(vec![name.to_string()]).unwrap();
        if this_machine {
            params
                .subject_alt_names
                .push(SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)));
            params
                .distinguished_name
                .push(DnType::CommonName, "127.0.0.1");
        }
        let cert = params.signed_by(&key, &ca, &ca_key).unwrap();

        let client_key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, "acr-relocate test client");
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
        let client = params.signed_by(&client_key, &ca, &ca_key).unwrap();

        std::fs::create_dir_all(dir).unwrap();
        let tls = Tls {
            ca: dir.join("ca.pem"),
            cert: dir.join("server.pem"),
            key: dir.join("server-key.pem"),
            client_cert: dir.join("client.pem"),
            client_key: dir.join("client-key.pem"),
        };
        std::fs::write(&tls.ca, ca.pem()).unwrap();
        std::fs::write(&tls.cert, cert.pem()).unwrap();
        std::fs::write(&tls.key, key.serialize_pem()).unwrap();
        std::fs::write(&tls.client_cert, client.pem()).unwrap();
        std::fs::write(&tls.client_key, client_key.serialize_pem()).unwrap();
        tls
    }

    /// Writes into `dir` one self-signed certificate for 127.0.0.1 and localhost marked CA:TRUE,
    /// served as the registry's own and given as its CA (what `openssl req -x509` makes, as
    /// Distribution's deployment guide has it); no client certificate (those paths are empty).
    pub fn self_signed_ca_as_server(dir: &Path) -> Self {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .subject_alt_names
            .push(SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)));
        params
            .distinguished_name
            .push(DnType::CommonName, "127.0.0.1");
        let cert = params.self_signed(&key).unwrap();
        std::fs::create_dir_all(dir).unwrap();
        let tls = Tls {
            ca: dir.join("server.pem"),
            cert: dir.join("server.pem"),
            key: dir.join("server-key.pem"),
            client_cert: PathBuf::new(),
            client_key: PathBuf::new(),
        };
        std::fs::write(&tls.cert, cert.pem()).unwrap();
        std::fs::write(&tls.key, key.serialize_pem()).unwrap();
        tls
    }
}

/// The token signer: an ECDSA P-256 key and its self-signed certificate (the registry's
/// `rootcertbundle`; tokens carry it in their `x5c` header).
pub struct Signer {
    key: ring::signature::EcdsaKeyPair,
    /// DER of the certificate.
    pub cert_der: Vec<u8>,
    /// The certificate bundle file.
    pub bundle: PathBuf,
}

impl Signer {
    /// A fresh signer whose bundle is written into `dir`.
    pub fn generate(dir: &Path) -> Self {
        let key_pair = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, "acr-relocate test token signer");
        let cert = params.self_signed(&key_pair).unwrap();
        let rng = ring::rand::SystemRandom::new();
        let key = ring::signature::EcdsaKeyPair::from_pkcs8(
            &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            &key_pair.serialize_der(),
            &rng,
        )
        .unwrap();
        std::fs::create_dir_all(dir).unwrap();
        let bundle = dir.join("token-signer.pem");
        std::fs::write(&bundle, cert.pem()).unwrap();
        Signer {
            key,
            cert_der: cert.der().to_vec(),
            bundle,
        }
    }

    /// A compact JWS (ES256) of `claims`, with the certificate in `x5c`.
    pub fn sign(&self, claims: &serde_json::Value) -> String {
        use base64::Engine;
        let url = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let std = base64::engine::general_purpose::STANDARD;
        let header = serde_json::json!({
            "typ": "JWT",
            "alg": "ES256",
            "x5c": [std.encode(&self.cert_der)],
        });
        let input = format!(
            "{}.{}",
            url.encode(header.to_string()),
            url.encode(claims.to_string())
        );
        let rng = ring::rand::SystemRandom::new();
        let signature = self.key.sign(&rng, input.as_bytes()).unwrap();
        format!("{input}.{}", url.encode(signature.as_ref()))
    }
}
