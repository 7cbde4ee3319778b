//! The router: the tool's `--arm-endpoint`. It plays the single host `management.azure.com` in
//! front of the four Prism proxies, one per spec, and sends each request to the Prism whose spec
//! has the path:
//!
//! - `/providers/Microsoft.Authorization/` → role assignments;
//! - `/providers/Microsoft.ContainerRegistry/` (not followed by Authorization) → ACR;
//! - `/providers/Microsoft.ContainerService/` → AKS;
//! - anything else (resource groups, deployments, exportTemplate) → Resources;
//! - except operation status URLs (`.../operationStatuses/{id}`, `.../operationresults/{id}`),
//!   which no spec describes: straight to the fake.
//!
//! Real ARM takes a role assignment's scope with raw slashes
//! (`{registryId}/providers/Microsoft.Authorization/roleAssignments/{guid}`, the spec's `{scope}`
//! being `x-ms-skip-url-encoding`), but Prism matches `{scope}` as one segment only: for requests
//! by name the router `%2F`-encodes the scope. Method, path, query, headers and body go through
//! as they are, and Prism's status, headers and body come back.

use std::sync::{Arc, Mutex};

use super::prism::{Prism, Spec};
use crate::support::http::{self, Request, Response, Server};

/// One forwarded request: what came in and where it went.
#[derive(Clone, Debug)]
pub struct Routed {
    /// The method.
    pub method: String,
    /// The path and query as the tool sent them.
    pub target: String,
    /// Which Prism got it (`None`: an operation poll, sent to the fake directly).
    pub spec: Option<Spec>,
    /// The status Prism answered.
    pub status: u16,
}

/// The router, serving on `http://127.0.0.1:PORT` until dropped.
pub struct Router {
    server: Server,
    log: Arc<Mutex<Vec<Routed>>>,
}

/// Headers that belong to one connection and are not forwarded.
const HOP_BY_HOP: [&str; 6] = [
    "connection",
    "keep-alive",
    "transfer-encoding",
    "content-length",
    "host",
    "upgrade",
];

const AUTHORIZATION: &str = "/providers/Microsoft.Authorization/";

/// Which spec serves `path` (the path as sent; matched case-insensitively, as ARM does).
pub fn route(path: &str) -> Spec {
    let lower = path.to_ascii_lowercase();
    if lower.contains("/providers/microsoft.authorization/") {
        Spec::Authorization
    } else if lower.contains("/providers/microsoft.containerregistry/") {
        Spec::ContainerRegistry
    } else if lower.contains("/providers/microsoft.containerservice/") {
        Spec::ContainerService
    } else {
        Spec::Resources
    }
}

/// For a role assignment by name (`{scope}/providers/Microsoft.Authorization/roleAssignments/{name}`
/// with a scope of several segments), the path with the scope as one `%2F`-encoded segment;
/// any other path unchanged.
pub fn encode_scope(path: &str) -> String {
    let lower = path.to_ascii_lowercase();
    let Some(at) = lower.find(&AUTHORIZATION.to_ascii_lowercase()) else {
        return path.to_string();
    };
    let rest = &path[at + AUTHORIZATION.len()..];
    let by_name = rest
        .strip_prefix("roleAssignments/")
        .or_else(|| rest.strip_prefix("roleassignments/"))
        .is_some_and(|name| !name.is_empty() && !name.contains('/'));
    let scope = path[..at].trim_start_matches('/');
    if !by_name || !scope.contains('/') {
        return path.to_string();
    }
    format!("/{}{}", scope.replace('/', "%2F"), &path[at..])
}

impl Router {
    /// Starts the router in front of `prisms` (one per [`Spec`]) and the fake on `fake_port`.
    pub fn start(prisms: &[Prism], fake_port: u16) -> Self {
        let ports: Vec<(Spec, u16)> = prisms.iter().map(|p| (p.spec, p.port)).collect();
        let log = Arc::new(Mutex::new(Vec::new()));
        let l = log.clone();
        let server = Server::start_raw(move |r| forward(r, &ports, fake_port, &l));
        Router { server, log }
    }

    /// `http://127.0.0.1:PORT` (the tool's `--arm-endpoint`).
    pub fn url(&self) -> String {
        self.server.url()
    }

    /// Every request forwarded so far.
    pub fn routed(&self) -> Vec<Routed> {
        self.log.lock().unwrap().clone()
    }
}

/// Whether a path lists what `azure export` checks but no spec of `../shared/specs` describes
/// (the preview ACR collections: tasks, task runs, agent pools, connected registries, import
/// and export pipelines; diagnostic settings and locks): sent to the fake directly, unchecked.
pub fn is_unspecified(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    let last = lower.rsplit('/').next().unwrap_or_default();
    lower.contains("/providers/microsoft.containerregistry/registries/")
        && [
            "tasks",
            "taskruns",
            "agentpools",
            "connectedregistries",
            "importpipelines",
            "exportpipelines",
            "diagnosticsettings",
            "locks",
        ]
        .contains(&last)
}

/// Whether a path is an operation status URL (polled directly at the fake).
pub fn is_operation(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    lower.contains("/operationstatuses/") || lower.contains("/operationresults/")
}

fn forward(
    request: &Request,
    ports: &[(Spec, u16)],
    fake_port: u16,
    log: &Mutex<Vec<Routed>>,
) -> Response {
    let spec = (!is_operation(&request.path) && !is_unspecified(&request.path))
        .then(|| route(&request.path));
    let port = match spec {
        None => fake_port,
        Some(spec) => ports
            .iter()
            .find(|(s, _)| *s == spec)
            .map(|(_, p)| *p)
            .expect("a Prism per spec"),
    };
    let mut target = encode_scope(&request.path);
    if !request.query.is_empty() {
        target.push('?');
        target.push_str(&request.query);
    }
    let headers: Vec<(String, String)> = request
        .headers
        .iter()
        .filter(|(n, _)| !HOP_BY_HOP.contains(&n.as_str()))
        .cloned()
        .collect();
    let original = if request.query.is_empty() {
        request.path.clone()
    } else {
        format!("{}?{}", request.path, request.query)
    };
    match http::send(port, &request.method, &target, &headers, &request.body) {
        Ok(reply) => {
            log.lock().unwrap().push(Routed {
                method: request.method.clone(),
                target: original,
                spec,
                status: reply.status,
            });
            Response {
                status: reply.status,
                headers: reply
                    .headers
                    .into_iter()
                    .filter(|(n, _)| !HOP_BY_HOP.contains(&n.as_str()))
                    .collect(),
                body: reply.body,
            }
        }
        Err(e) => Response::json(
            502,
            &serde_json::json!({"error": {"code": "RouterError", "message": format!("{}: {e}", spec.map_or("fake", Spec::name))}}),
        ),
    }
}
