//! Distribution registries with sign-in: htpasswd over TLS, or token auth against our issuer.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::pki::Tls;

/// How the registry asks clients to sign in.
pub enum Auth {
    /// HTTP Basic against an htpasswd file (bcrypt).
    Htpasswd(PathBuf),
    /// The docker token flow: tokens from `realm`, signed by a certificate of `bundle`.
    Token {
        /// Token endpoint.
        realm: String,
        /// `service` (the token audience).
        service: String,
        /// `iss` of valid tokens.
        issuer: String,
        /// PEM bundle of the signer certificates.
        bundle: PathBuf,
    },
}

/// A `docker-registry` process with auth and optional TLS, stopped on drop.
pub struct AuthRegistry {
    child: Child,
    /// Its port on 127.0.0.1.
    pub port: u16,
    tls: bool,
    _dir: tempfile::TempDir,
}

/// Writes an htpasswd file (bcrypt) with one user.
pub fn htpasswd(dir: &Path, user: &str, password: &str) -> PathBuf {
    let out = Command::new("htpasswd")
        .args(["-Bbn", user, password])
        .output()
        .expect("htpasswd (apt-get install -y apache2-utils)");
    assert!(out.status.success(), "htpasswd failed");
    let path = dir.join("htpasswd");
    std::fs::write(&path, out.stdout).unwrap();
    path
}

impl AuthRegistry {
    /// Starts a registry with `auth`, over TLS when `tls` is given.
    pub fn start(auth: &Auth, tls: Option<&Tls>) -> Self {
        for _ in 0..5 {
            if let Some(r) = Self::try_start(auth, tls) {
                return r;
            }
        }
        panic!("could not start docker-registry");
    }

    fn try_start(auth: &Auth, tls: Option<&Tls>) -> Option<Self> {
        let dir = tempfile::tempdir().unwrap();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut config = format!(
            "version: 0.1\nlog:\n  level: info\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n  maintenance:\n    uploadpurging:\n      enabled: false\nhttp:\n  addr: 127.0.0.1:{port}\n  secret: test-secret\n",
            dir.path().join("data").display()
        );
        if let Some(tls) = tls {
            config.push_str(&format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                tls.cert.display(),
                tls.key.display()
            ));
        }
        match auth {
            Auth::Htpasswd(file) => config.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: acr-relocate-test\n    path: {}\n",
                file.display()
            )),
            Auth::Token {
                realm,
                service,
                issuer,
                bundle,
            } => config.push_str(&format!(
                "auth:\n  token:\n    realm: {realm}\n    service: {service}\n    issuer: {issuer}\n    rootcertbundle: {}\n",
                bundle.display()
            )),
        }
        let config_path = dir.path().join("config.yml");
        std::fs::write(&config_path, config).unwrap();
        let log = std::fs::File::create(dir.path().join("registry.log")).unwrap();
        let child = Command::new(
            std::env::var("ACR_RELOCATE_REGISTRY_BIN").unwrap_or_else(|_| "docker-registry".into()),
        )
        .arg("serve")
        .arg(&config_path)
        .stdout(Stdio::from(log.try_clone().unwrap()))
        .stderr(Stdio::from(log))
        .spawn()
        .expect("docker-registry (apt-get install -y docker-registry)");
        let mut registry = AuthRegistry {
            child,
            port,
            tls: tls.is_some(),
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = registry.child.try_wait() {
                return None;
            }
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Some(registry);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    /// The endpoint to name on the command line: `127.0.0.1:PORT` (HTTPS) or `http://…`.
    pub fn endpoint(&self) -> String {
        if self.tls {
            format!("127.0.0.1:{}", self.port)
        } else {
            format!("http://127.0.0.1:{}", self.port)
        }
    }

    /// `127.0.0.1:PORT`, the key of credential files.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for AuthRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
