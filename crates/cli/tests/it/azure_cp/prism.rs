//! Prism in proxy mode (`prism proxy --errors`), one per Microsoft spec, in front of the fake
//! ARM: each request is checked against the spec (422 when it breaks it), passed on to the fake,
//! and the fake's answer is checked too (500 when it breaks the spec). Violations are also
//! logged (`[VALIDATOR] ✖ error Violation: ...`), and [`Prism::violations`] finds them.
//!
//! Prism is found through `$ACR_RELOCATE_PRISM`, else `${TMPDIR:-/tmp}/prism/node_modules/.bin/prism`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The root of `../shared/specs`.
pub fn specs() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/specs")
}

/// The Prism executable.
pub fn prism_binary() -> PathBuf {
    match std::env::var_os("ACR_RELOCATE_PRISM") {
        Some(p) => PathBuf::from(p),
        None => std::env::temp_dir().join("prism/node_modules/.bin/prism"),
    }
}

/// The four specs of the control plane, each served by its own Prism.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Spec {
    /// ACR management 2023-07-01 (`Microsoft.ContainerRegistry`).
    ContainerRegistry,
    /// Resources 2024-03-01 (resource groups, deployments, exportTemplate).
    Resources,
    /// Role assignments 2022-04-01 (`Microsoft.Authorization`).
    Authorization,
    /// AKS managedClusters 2024-02-01 (`Microsoft.ContainerService`).
    ContainerService,
}

impl Spec {
    /// All four.
    pub const ALL: [Spec; 4] = [
        Spec::ContainerRegistry,
        Spec::Resources,
        Spec::Authorization,
        Spec::ContainerService,
    ];

    /// The spec file, relative to `specs/azure/`.
    pub fn file(self) -> &'static str {
        match self {
            Spec::ContainerRegistry => "containerregistry/resource-manager/Microsoft.ContainerRegistry/stable/2023-07-01/containerregistry.json",
            Spec::Resources => "resources/resource-manager/Microsoft.Resources/stable/2024-03-01/resources.json",
            Spec::Authorization => "authorization/resource-manager/Microsoft.Authorization/stable/2022-04-01/authorization-RoleAssignmentsCalls.json",
            Spec::ContainerService => "containerservice/resource-manager/Microsoft.ContainerService/aks/stable/2024-02-01/managedClusters.json",
        }
    }

    /// A short name for logs.
    pub fn name(self) -> &'static str {
        match self {
            Spec::ContainerRegistry => "containerregistry",
            Spec::Resources => "resources",
            Spec::Authorization => "authorization",
            Spec::ContainerService => "containerservice",
        }
    }
}

/// One `prism proxy` process, stopped on drop.
pub struct Prism {
    /// Which spec it validates against.
    pub spec: Spec,
    /// Its port on 127.0.0.1.
    pub port: u16,
    child: Child,
    log: PathBuf,
}

impl Prism {
    /// Starts `prism proxy --errors` for `spec` in front of `upstream` (`http://127.0.0.1:PORT`),
    /// its log in `dir`; retries on another port when the one picked was taken meanwhile.
    pub fn start(spec: Spec, upstream: &str, dir: &Path) -> Self {
        let file = specs().join("azure").join(spec.file());
        assert!(
            file.is_file(),
            "{} missing: the extra tier needs ../shared/specs",
            file.display()
        );
        for attempt in 0..5 {
            let log = dir.join(format!("prism-{}-{attempt}.log", spec.name()));
            if let Some((child, port)) = try_start(&file, upstream, &log) {
                return Prism {
                    spec,
                    port,
                    child,
                    log,
                };
            }
        }
        panic!(
            "could not start Prism ({}) for {}: npm install --prefix \"${{TMPDIR:-/tmp}}/prism\" @stoplight/prism-cli, or set ACR_RELOCATE_PRISM",
            prism_binary().display(),
            spec.name()
        );
    }

    /// The whole log.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Lines of the log that report a violation of the spec (by a request or a response).
    ///
    /// One warning is not counted: "Unable to match the returned status code" after the
    /// upstream answered an error (4xx/5xx) to an operation whose spec declares no error
    /// response (most of ACR 2023-07-01: `Registries_Get` has only `200`). ARM answers errors
    /// there all the same; the spec just does not describe them.
    pub fn violations(&self) -> Vec<String> {
        let mut last_status = 0u16;
        let mut found = Vec::new();
        for line in self.log().lines() {
            if let Some(rest) = line.split("has returned ").nth(1) {
                last_status = rest.trim().parse().unwrap_or(0);
            }
            let undeclared_error = line.contains("Unable to match the returned status code")
                && !line.contains('✖')
                && last_status >= 400;
            if (line.contains('✖') || line.contains("Violation")) && !undeclared_error {
                found.push(line.to_string());
            }
        }
        found
    }
}

impl Drop for Prism {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts Prism on a free port and waits (bounded) for `Prism is listening on`.
fn try_start(spec: &Path, upstream: &str, log: &Path) -> Option<(Child, u16)> {
    let port = free_port();
    let file = std::fs::File::create(log).unwrap();
    let mut child = Command::new(prism_binary())
        .args([
            "proxy",
            "--errors",
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
        ])
        .arg(spec)
        .arg(upstream)
        .stdin(Stdio::null())
        .stdout(Stdio::from(file.try_clone().unwrap()))
        .stderr(Stdio::from(file))
        .spawn()
        .ok()?;
    let deadline = Instant::now() + Duration::from_secs(90);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return None; // port taken meanwhile: try another
        }
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if text.contains("Prism is listening on") {
            return Some((child, port));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

/// Starts one Prism per spec, concurrently.
pub fn start_all(upstream: &str, dir: &Path) -> Vec<Prism> {
    std::thread::scope(|scope| {
        let handles: Vec<_> = Spec::ALL
            .iter()
            .map(|&spec| scope.spawn(move || Prism::start(spec, upstream, dir)))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}
