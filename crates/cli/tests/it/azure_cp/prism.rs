//! Prism in proxy mode (`prism proxy --errors`), one per Microsoft spec, in front of the fake
//! ARM: each request is checked against the spec (422 when it breaks it), passed on to the fake,
//! and the fake's answer is checked too (500 when it breaks the spec). Violations are also
//! logged (`[VALIDATOR] ✖ error Violation: ...`), and [`Prism::violations`] finds them.
//!
//! The process itself is started by [`crate::support::prism`].

use std::path::Path;

use crate::support::prism::{self, specs, Mode};

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

/// One `prism proxy` for one spec, stopped on drop.
pub struct Prism {
    /// Which spec it validates against.
    pub spec: Spec,
    /// Its port on 127.0.0.1.
    pub port: u16,
    process: prism::Prism,
}

impl Prism {
    /// Starts `prism proxy --errors` for `spec` in front of `upstream` (`http://127.0.0.1:PORT`),
    /// its log in `dir`.
    pub fn start(spec: Spec, upstream: &str, dir: &Path) -> Self {
        let file = specs().join("azure").join(spec.file());
        assert!(
            file.is_file(),
            "{} missing: the extra tier needs ../shared/specs",
            file.display()
        );
        let process = prism::Prism::start(Mode::Proxy(upstream), &file, spec.name(), dir);
        Prism {
            spec,
            port: process.port,
            process,
        }
    }

    /// The whole log.
    pub fn log(&self) -> String {
        self.process.log()
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
