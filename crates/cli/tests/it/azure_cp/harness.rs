//! One test's Azure: our AAD token endpoint (TLS), the fake ARM, a Prism proxy per spec in front
//! of it, and the router the tool talks to; plus a runner for the binary with the
//! service-principal environment pointed at them.

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use super::aad::Aad;
use super::fake::FakeArm;
use super::prism::{self, Prism};
use super::router::Router;
use crate::support::assert_no_secret;
use crate::support::pki::Tls;

/// Environment variables that would point the tool at another credential or endpoint: removed
/// for every run.
const FOREIGN_ENV: [&str; 14] = [
    "AZURE_CLIENT_CERTIFICATE_PATH",
    "AZURE_CLIENT_CERTIFICATE_PASSWORD",
    "AZURE_FEDERATED_TOKEN_FILE",
    "AZURE_USERNAME",
    "AZURE_PASSWORD",
    "AZURE_CONFIG_DIR",
    "IDENTITY_ENDPOINT",
    "IDENTITY_HEADER",
    "MSI_ENDPOINT",
    "MSI_SECRET",
    "ACR_RELOCATE_ARM_ENDPOINT",
    "SSL_CERT_DIR",
    "ACR_RELOCATE_SRC_CREDS",
    "ACR_RELOCATE_DST_CREDS",
];

/// Everything one test needs, stopped on drop.
pub struct AzureEnv {
    /// The router: the tool's `--arm-endpoint`.
    pub router: Router,
    /// The Prism proxies, one per spec.
    pub prisms: Vec<Prism>,
    /// The fake ARM behind them.
    pub fake: FakeArm,
    /// The AAD token endpoint.
    pub aad: Aad,
    /// The test CA and the AAD server's certificate.
    pub tls: Tls,
    /// `HOME` of the runs (empty: no Azure CLI profile, no docker config).
    pub home: PathBuf,
    /// Scratch space of the test (logs, templates, certificates).
    pub dir: tempfile::TempDir,
}

impl AzureEnv {
    /// Starts the AAD endpoint, the fake, the four Prisms (concurrently) and the router.
    pub fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let tls = Tls::generate(&dir.path().join("tls"));
        let aad = Aad::start(&tls);
        let fake = FakeArm::start(aad.token_check());
        let prisms = prism::start_all(&fake.url(), dir.path());
        let router = Router::start(&prisms, fake.port());
        fake.set_public_url(&router.url());
        let home = dir.path().join("home");
        std::fs::create_dir_all(&home).unwrap();
        AzureEnv {
            router,
            prisms,
            fake,
            aad,
            tls,
            home,
            dir,
        }
    }

    /// The service-principal environment: tenant, client ID and secret, our authority host and
    /// the test CA as `SSL_CERT_FILE`.
    pub fn env_vars(&self) -> Vec<(String, String)> {
        vec![
            ("AZURE_TENANT_ID".into(), self.aad.tenant.clone()),
            ("AZURE_CLIENT_ID".into(), self.aad.client_id.clone()),
            ("AZURE_CLIENT_SECRET".into(), self.aad.client_secret.clone()),
            ("AZURE_AUTHORITY_HOST".into(), self.aad.authority()),
            ("SSL_CERT_FILE".into(), self.tls.ca.display().to_string()),
        ]
    }

    /// Runs the binary with `args` then `--arm-endpoint <router>`, in the service-principal
    /// environment; asserts no secret shows in its output.
    pub fn run(&self, args: &[&str]) -> Output {
        let endpoint = self.router.url();
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--arm-endpoint", &endpoint]);
        self.run_with(&all, &[])
    }

    /// Runs the binary with exactly `args`, the service-principal environment and `extra`
    /// variables (which override it); asserts no secret shows in its output.
    pub fn run_with(&self, args: &[&str], extra: &[(&str, &str)]) -> Output {
        let mut command = Command::new(env!("CARGO_BIN_EXE_acr-relocate"));
        command.args(args).env("HOME", &self.home);
        for name in FOREIGN_ENV {
            command.env_remove(name);
        }
        command
            .envs(self.env_vars())
            .envs(extra.iter().copied())
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let out = command.output().unwrap();
        assert_no_secret(&out, &self.secrets());
        out
    }

    /// The secrets of the run: the client secret and every token our AAD issued.
    pub fn secrets(&self) -> Vec<String> {
        let mut secrets = vec![self.aad.client_secret.clone()];
        secrets.extend(self.aad.issued().into_iter().map(|i| i.token));
        secrets
    }

    /// A file in the test's scratch directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Violations logged by any Prism so far, each line prefixed with its spec.
    pub fn violations(&self) -> Vec<String> {
        self.prisms
            .iter()
            .flat_map(|p| {
                p.violations()
                    .into_iter()
                    .map(move |l| format!("[{}] {l}", p.spec.name()))
            })
            .collect()
    }

    /// Asserts that no request or response broke a spec; prints every Prism log otherwise.
    pub fn finish(&self) {
        let mut violations = self.violations();
        // Prism's own verdicts with `--errors`: 422 for a request, 500 for a response.
        violations.extend(
            self.router
                .routed()
                .into_iter()
                .filter(|r| r.status == 422 || r.status == 500)
                .map(|r| {
                    let spec = r.spec.map_or("fake", |s| s.name());
                    format!("[{spec}] {} {} → {}", r.method, r.target, r.status)
                }),
        );
        if !violations.is_empty() {
            let logs: Vec<String> = self
                .prisms
                .iter()
                .map(|p| format!("==== prism {} ====\n{}", p.spec.name(), p.log()))
                .collect();
            panic!(
                "requests or responses broke the specs:\n{}\n\n{}",
                violations.join("\n"),
                logs.join("\n")
            );
        }
    }
}

/// Exit code, stdout and stderr of a run, for assertion messages.
pub fn show(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Asserts exit code 2 and one error line (`error: ...`, the last line of stderr) holding every
/// needle. Progress lines before it (`deploy: validating the template`) are allowed.
pub fn assert_error_line(out: &Output, needles: &[&str]) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{}", show(out));
    let errors: Vec<&str> = err.lines().filter(|l| l.starts_with("error")).collect();
    assert_eq!(errors.len(), 1, "one error line: {}", show(out));
    assert_eq!(
        err.trim_end().lines().last(),
        Some(errors[0]),
        "{}",
        show(out)
    );
    for n in needles {
        assert!(errors[0].contains(n), "`{n}` not in: {}", errors[0]);
    }
}
