//! A recording proxy in front of a real registry that can make it ignore cross-repository mounts,
//! as some registries do (older ECR, some Artifactory and Nexus setups, proxies that drop the
//! query): with [`MountProxy::ignoring_mounts`], the `mount` and `from` parameters of upload
//! requests (`POST /v2/<name>/blobs/uploads/?mount=…&from=…`) are dropped on the way, so the
//! registry opens a plain upload session (202) instead of mounting. Every exchange is recorded.
//!
//! Built on [`super::http`]: one request per connection, bodies held in memory (test blobs are
//! small). `Location` answers are made relative, so upload requests come back through the proxy.

use std::sync::{Arc, Mutex};

use super::http::{self, Request, Response, Server};

/// One request through the proxy and the registry's answer.
#[derive(Clone, Debug)]
pub struct Exchange {
    /// `GET`, `HEAD`, `POST`, ...
    pub method: String,
    /// Path and query as the client sent them.
    pub target: String,
    /// The registry's status.
    pub status: u16,
    /// The `Location` of the answer, as the client got it.
    pub location: Option<String>,
}

/// A running proxy; stops when dropped.
pub struct MountProxy {
    server: Server,
    exchanges: Arc<Mutex<Vec<Exchange>>>,
}

impl MountProxy {
    /// A proxy to `127.0.0.1:upstream` that drops the `mount` and `from` of upload requests.
    pub fn ignoring_mounts(upstream: u16) -> Self {
        Self::start(upstream, true)
    }

    /// A proxy to `127.0.0.1:upstream` that only records.
    pub fn recording(upstream: u16) -> Self {
        Self::start(upstream, false)
    }

    fn start(upstream: u16, strip_mounts: bool) -> Self {
        let exchanges = Arc::new(Mutex::new(Vec::new()));
        let record = exchanges.clone();
        let server = Server::start_raw(move |request: &Request| {
            let sent = target_of(&request.path, &request.query);
            let query = if strip_mounts && is_upload_start(request) {
                without_mount(&request.query)
            } else {
                request.query.clone()
            };
            let response = forward(upstream, request, &target_of(&request.path, &query));
            let location = response
                .headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case("location"))
                .map(|(_, v)| v.clone());
            record.lock().unwrap().push(Exchange {
                method: request.method.clone(),
                target: sent,
                status: response.status,
                location,
            });
            response
        });
        MountProxy { server, exchanges }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        self.server.url()
    }

    /// Every exchange so far, in the order answered.
    pub fn exchanges(&self) -> Vec<Exchange> {
        self.exchanges.lock().unwrap().clone()
    }
}

/// `path?query` (`path` when the query is empty).
fn target_of(path: &str, query: &str) -> String {
    if query.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{query}")
    }
}

/// True for the request that opens an upload (`POST …/blobs/uploads/`).
fn is_upload_start(request: &Request) -> bool {
    request.method == "POST" && request.path.ends_with("/blobs/uploads/")
}

/// `query` without its `mount` and `from` parameters.
fn without_mount(query: &str) -> String {
    query
        .split('&')
        .filter(|p| !p.is_empty() && !p.starts_with("mount=") && !p.starts_with("from="))
        .collect::<Vec<_>>()
        .join("&")
}

/// [`forward`]s `request` to the same path and query it was sent to.
pub fn forward_as_sent(upstream: u16, request: &Request) -> Response {
    let target = match request.query.is_empty() {
        true => request.path.clone(),
        false => format!("{}?{}", request.path, request.query),
    };
    forward(upstream, request, &target)
}

/// Sends `request` on to the registry as `target`, and turns its answer into the proxy's.
pub fn forward(upstream: u16, request: &Request, target: &str) -> Response {
    let headers: Vec<(String, String)> = request
        .headers
        .iter()
        .filter(|(n, _)| !is_hop_header(n) && n != "host")
        .cloned()
        .collect();
    let reply = match http::send(upstream, &request.method, target, &headers, &request.body) {
        Ok(reply) => reply,
        Err(e) => return Response::new(502, format!("proxy: {e}")),
    };
    let mut response = Response::new(reply.status, reply.body.clone());
    for (name, value) in &reply.headers {
        if is_hop_header(name) || name == "content-length" {
            continue;
        }
        let value = if name == "location" {
            relative(value)
        } else {
            value.clone()
        };
        response = response.header(name, value);
    }
    if request.method == "HEAD" {
        // The server sends the body's length as `Content-Length` and no body for a HEAD: a body
        // of the registry's length keeps the header it gave (a blob's size).
        let length = reply
            .header("content-length")
            .and_then(|l| l.parse().ok())
            .unwrap_or(0);
        response.body = vec![0; length];
    }
    response
}

/// Headers that belong to one connection, set again by the server or the client.
fn is_hop_header(name: &str) -> bool {
    matches!(name, "connection" | "transfer-encoding" | "keep-alive")
}

/// `http://host:port/path?query` as `/path?query` (a relative `Location` is kept as it is).
fn relative(location: &str) -> String {
    match location.split_once("://") {
        Some((_, rest)) => rest
            .find('/')
            .map_or_else(|| "/".to_string(), |i| rest[i..].to_string()),
        None => location.to_string(),
    }
}
