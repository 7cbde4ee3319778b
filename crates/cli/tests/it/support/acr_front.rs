//! A stand-in for an Azure Container Registry, built on a real `docker-registry`: no ACR exists
//! on a test machine, and Prism's mock of ACR's data plane is stateless.
//!
//! The front listens on 127.0.0.1 and
//! - forwards every `/v2/…` request to its own `docker-registry` (started with it), unchanged but
//!   for `Location` headers, which it points back at itself so uploads keep going through it;
//! - answers ACR's metadata API (`/acr/v1/_catalog`, `/acr/v1/{name}`, `…/_tags[/{tag}]`,
//!   `…/_manifests[/{digest}]`: `GET`, `PATCH`, and `DELETE` of a tag or manifest) itself, with
//!   the JSON shapes of ACR's data-plane spec (2021-07-01). Tags and manifests are read from the
//!   registry's storage, so untagged manifests are listed too; the changeable attributes
//!   (`deleteEnabled`, `writeEnabled`, `readEnabled`, `listEnabled`) live in memory, `true` until
//!   changed;
//! - enforces the locks as ACR does: a manifest `PUT` into a write-locked repository or onto a
//!   write-locked tag, and a `DELETE` of a tag or manifest that is delete- or write-locked (or
//!   whose repository is), are answered `405` with the code `REGISTRY_DISALLOWED_OPERATION`
//!   (ACR's answer to `acr purge` deleting a write-locked tag, Azure/acr-cli issue 70).
//!
//! Knobs: refuse every metadata request (`401`, ACR's answer to a token without `metadata_read`,
//! or `403`); answer `500` to a repository's blob uploads after the first N; hold a repository's
//! blob uploads, or attribute PATCHes, until released (to interrupt a copy at a known point).
//! Read and list flags (`readEnabled`, `listEnabled`) are stored and reported, not enforced.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use acr_relocate::digest::Digest;
use serde_json::{json, Value};

use super::http::{self, Request, Response};
use crate::util::Registry;

/// Longest time a held upload waits for [`AcrFront::release`].
const HOLD_LIMIT: Duration = Duration::from_secs(60);
/// Deepest repository name the storage walk follows.
const MAX_NAME_DEPTH: usize = 16;
/// Page size of `_tags` and `_manifests` when the client does not ask for one.
const DEFAULT_PAGE: usize = 100;

/// The changeable attributes of a repository, tag or manifest (ACR always reports all four).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Attrs {
    /// `deleteEnabled`.
    pub delete: bool,
    /// `writeEnabled`.
    pub write: bool,
    /// `readEnabled`.
    pub read: bool,
    /// `listEnabled`.
    pub list: bool,
}

impl Attrs {
    /// Everything allowed: ACR's default.
    pub const OPEN: Attrs = Attrs {
        delete: true,
        write: true,
        read: true,
        list: true,
    };
    /// `az acr repository update --write-enabled false --delete-enabled false`.
    pub const LOCKED: Attrs = Attrs {
        delete: false,
        write: false,
        ..Attrs::OPEN
    };
    /// Protected from deletion, still writable.
    pub const NO_DELETE: Attrs = Attrs {
        delete: false,
        ..Attrs::OPEN
    };

    fn to_json(self) -> Value {
        json!({
            "deleteEnabled": self.delete,
            "writeEnabled": self.write,
            "readEnabled": self.read,
            "listEnabled": self.list,
        })
    }

    /// Applies the fields a PATCH body gives; `Err` names a field of the wrong type.
    fn patched(mut self, body: &Value) -> Result<Attrs, String> {
        for (name, field) in [
            ("deleteEnabled", &mut self.delete),
            ("writeEnabled", &mut self.write),
            ("readEnabled", &mut self.read),
            ("listEnabled", &mut self.list),
        ] {
            match body.get(name) {
                None | Some(Value::Null) => {}
                Some(Value::Bool(b)) => *field = *b,
                Some(other) => return Err(format!("{name} must be a boolean, not {other}")),
            }
        }
        Ok(self)
    }

    /// Writes or deletes refused.
    fn guards_delete(self) -> bool {
        !self.delete || !self.write
    }
}

/// Lock attributes kept by the front (missing: [`Attrs::OPEN`]).
#[derive(Default)]
struct Locks {
    repositories: BTreeMap<String, Attrs>,
    /// (repository, tag).
    tags: BTreeMap<(String, String), Attrs>,
    /// (repository, digest).
    manifests: BTreeMap<(String, String), Attrs>,
}

/// Uploads answered 500 in one repository after the first `after`.
struct FailUploads {
    repository: String,
    after: usize,
    seen: usize,
}

/// Which requests are held until released.
#[derive(Clone, PartialEq, Eq)]
enum Held {
    /// Blob uploads into this repository.
    Uploads(String),
    /// `PATCH`es of attributes.
    Patches,
}

/// Requests held until released: those `what` names, after the first `skip`.
#[derive(Default)]
struct Hold {
    what: Option<Held>,
    skip: usize,
    held: usize,
    released: bool,
}

/// The shared state of the front's connections.
struct Front {
    upstream: u16,
    port: u16,
    /// `…/docker/registry/v2/repositories` of the registry's storage.
    repositories: PathBuf,
    /// `…/docker/registry/v2/blobs/sha256`.
    blobs: PathBuf,
    locks: Mutex<Locks>,
    refuse_metadata: Mutex<Option<u16>>,
    fail_uploads: Mutex<Option<FailUploads>>,
    hold: Mutex<Hold>,
    hold_changed: Condvar,
    events: Mutex<Vec<String>>,
}

/// A fronted registry: ACR's metadata API over a real `docker-registry`; both stop on drop.
pub struct AcrFront {
    state: Arc<Front>,
    stop: Arc<AtomicBool>,
    /// The registry behind the front, stopped with it.
    _registry: Registry,
}

impl AcrFront {
    /// Starts a `docker-registry` with empty storage and the front before it.
    pub fn start() -> Self {
        let registry = Registry::start();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let repositories = registry.repository_dir("");
        let blobs = repositories
            .parent()
            .expect("the storage has a v2 directory")
            .join("blobs/sha256");
        let state = Arc::new(Front {
            upstream: registry.port,
            port,
            repositories,
            blobs,
            locks: Mutex::default(),
            refuse_metadata: Mutex::default(),
            fail_uploads: Mutex::default(),
            hold: Mutex::default(),
            hold_changed: Condvar::new(),
            events: Mutex::default(),
        });
        let stop = Arc::new(AtomicBool::new(false));
        {
            let state = state.clone();
            let stop = stop.clone();
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let state = state.clone();
                    std::thread::spawn(move || {
                        let _ = stream.set_read_timeout(Some(HOLD_LIMIT * 2));
                        let _ = stream.set_write_timeout(Some(HOLD_LIMIT * 2));
                        let _ = state.serve(stream);
                    });
                }
            });
        }
        AcrFront {
            state,
            stop,
            _registry: registry,
        }
    }

    /// `http://127.0.0.1:PORT` of the front (plain HTTP: name it with `--acr` to be an ACR).
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.state.port)
    }

    /// Sets a repository's attributes.
    pub fn set_repository(&self, repository: &str, attrs: Attrs) {
        let mut locks = self.state.locks.lock().unwrap();
        locks.repositories.insert(repository.into(), attrs);
    }

    /// Sets a tag's attributes.
    pub fn set_tag(&self, repository: &str, tag: &str, attrs: Attrs) {
        let mut locks = self.state.locks.lock().unwrap();
        locks.tags.insert((repository.into(), tag.into()), attrs);
    }

    /// Sets a manifest's attributes.
    pub fn set_manifest(&self, repository: &str, digest: &Digest, attrs: Attrs) {
        let mut locks = self.state.locks.lock().unwrap();
        locks
            .manifests
            .insert((repository.into(), digest.to_string()), attrs);
    }

    /// The digest a tag points at in the registry's storage.
    pub fn tag_digest(&self, repository: &str, tag: &str) -> Option<Digest> {
        self.state
            .tags(repository)?
            .get(tag)
            .map(|d| d.parse().unwrap())
    }

    /// The attributes of every repository, tag and manifest the registry holds, keyed
    /// `REPOSITORY`, `REPOSITORY:TAG` and `REPOSITORY@DIGEST`.
    pub fn attributes(&self) -> BTreeMap<String, Attrs> {
        let mut out = BTreeMap::new();
        for repository in self.state.catalog() {
            out.insert(repository.clone(), self.state.repository_attrs(&repository));
            for tag in self.state.tags(&repository).unwrap_or_default().keys() {
                out.insert(
                    format!("{repository}:{tag}"),
                    self.state.tag_attrs(&repository, tag),
                );
            }
            for digest in self.state.manifests(&repository) {
                out.insert(
                    format!("{repository}@{digest}"),
                    self.state.manifest_attrs(&repository, &digest),
                );
            }
        }
        out
    }

    /// [`Self::attributes`] of the items of one repository (the repository included).
    pub fn attributes_of(&self, repository: &str) -> BTreeMap<String, Attrs> {
        let mut all = self.attributes();
        all.retain(|k, _| {
            k == repository
                || k.strip_prefix(repository)
                    .is_some_and(|rest| rest.starts_with(':') || rest.starts_with('@'))
        });
        all
    }

    /// What the front saw, in order: `PATCH ITEM FIELDS`, `PUT REPOSITORY:REF`, `REFUSED METHOD
    /// ITEM`, `INJECTED 500 …`, `HELD …`.
    pub fn events(&self) -> Vec<String> {
        self.state.events.lock().unwrap().clone()
    }

    /// Answers every `/acr/v1/` request with `status` (401 or 403), as ACR does for credentials
    /// without `metadata_read`.
    pub fn refuse_metadata(&self, status: u16) {
        *self.state.refuse_metadata.lock().unwrap() = Some(status);
    }

    /// Answers `500` (with `Retry-After: 0`, so retries are quick) to every blob upload into
    /// `repository` after the first `after`: a copy fails midway.
    pub fn fail_uploads(&self, repository: &str, after: usize) {
        *self.state.fail_uploads.lock().unwrap() = Some(FailUploads {
            repository: repository.into(),
            after,
            seen: 0,
        });
    }

    /// Holds every blob upload into `repository` until [`Self::release`] (at most a minute).
    pub fn hold_uploads(&self, repository: &str) {
        *self.state.hold.lock().unwrap() = Hold {
            what: Some(Held::Uploads(repository.into())),
            ..Default::default()
        };
    }

    /// Holds every attribute `PATCH` after the first `after` until [`Self::release`] (at most a
    /// minute).
    pub fn hold_patches(&self, after: usize) {
        *self.state.hold.lock().unwrap() = Hold {
            what: Some(Held::Patches),
            skip: after,
            ..Default::default()
        };
    }

    /// Waits up to `limit` for a request to be held; true when one is.
    pub fn wait_until_held(&self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        let mut hold = self.state.hold.lock().unwrap();
        while hold.held == 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            hold = self.state.hold_changed.wait_timeout(hold, left).unwrap().0;
        }
        true
    }

    /// Lets held requests (and later ones) through.
    pub fn release(&self) {
        self.state.hold.lock().unwrap().released = true;
        self.state.hold_changed.notify_all();
    }
}

impl Drop for AcrFront {
    fn drop(&mut self) {
        self.release();
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.state.port));
    }
}

fn error(status: u16, code: &str, message: &str) -> Response {
    Response::json(
        status,
        &json!({"errors": [{"code": code, "message": message, "detail": {}}]}),
    )
}

fn disallowed() -> Response {
    error(
        405,
        "REGISTRY_DISALLOWED_OPERATION",
        "The operation is disallowed on this registry, repository or image.",
    )
}

/// A fixed time stamp: the fake keeps no times.
const TIME: &str = "2024-01-01T00:00:00.0000000Z";

/// What a request got: answered by the front, or the registry's reply to pass on.
enum Outcome {
    Answer(Response),
    Forwarded(http::Reply),
}

impl Front {
    fn serve(&self, stream: TcpStream) -> io::Result<()> {
        let mut reader = BufReader::new(stream);
        let Some(request) = http::read_request(&mut reader)? else {
            return Ok(());
        };
        let head = request.method == "HEAD";
        let outcome = self.route(&request);
        let mut stream = reader.into_inner();
        match outcome {
            Outcome::Answer(response) => http::write_response(&mut stream, &response, head)?,
            Outcome::Forwarded(reply) => self.write_reply(&mut stream, &reply, head)?,
        }
        stream.flush()
    }

    fn event(&self, text: String) {
        self.events.lock().unwrap().push(text);
    }

    fn route(&self, r: &Request) -> Outcome {
        if let Some(rest) = r.path.strip_prefix("/acr/v1/") {
            if let Some(status) = *self.refuse_metadata.lock().unwrap() {
                return Outcome::Answer(match status {
                    401 => error(401, "UNAUTHORIZED", "authentication required"),
                    _ => error(
                        status,
                        "DENIED",
                        "requested access to the resource is denied",
                    ),
                });
            }
            if r.method == "PATCH" {
                self.wait_if_held(&Held::Patches, &format!("PATCH {rest}"));
            }
            return Outcome::Answer(self.metadata(r, rest));
        }
        if let Some(rest) = r.path.strip_prefix("/v2/") {
            if let Some((repository, reference)) = rest.rsplit_once("/manifests/") {
                match r.method.as_str() {
                    "PUT" => return self.put_manifest(r, repository, reference),
                    "DELETE" => {
                        if let Some(refused) = self.refuse_delete(repository, reference) {
                            return Outcome::Answer(refused);
                        }
                    }
                    _ => {}
                }
            }
            if let (Some((repository, _)), "POST") =
                (rest.split_once("/blobs/uploads"), r.method.as_str())
            {
                if let Some(answer) = self.before_upload(repository) {
                    return Outcome::Answer(answer);
                }
            }
        }
        self.forward(r)
    }

    /// Sends a request on to the registry as it came (the path included, undecoded).
    fn forward(&self, r: &Request) -> Outcome {
        let headers: Vec<(String, String)> = r
            .headers
            .iter()
            .filter(|(n, _)| {
                !matches!(
                    n.as_str(),
                    "host" | "content-length" | "connection" | "transfer-encoding"
                )
            })
            .cloned()
            .collect();
        let target = if r.query.is_empty() {
            r.path.clone()
        } else {
            format!("{}?{}", r.path, r.query)
        };
        match http::send(self.upstream, &r.method, &target, &headers, &r.body) {
            Ok(reply) => Outcome::Forwarded(reply),
            Err(e) => Outcome::Answer(error(502, "UNKNOWN", &format!("registry: {e}"))),
        }
    }

    /// Writes the registry's reply with its own `Content-Length` (kept for `HEAD`) and its
    /// `Location` pointed back at the front.
    fn write_reply(&self, out: &mut impl Write, reply: &http::Reply, head: bool) -> io::Result<()> {
        let upstream = format!("127.0.0.1:{}", self.upstream);
        let front = format!("127.0.0.1:{}", self.port);
        let length = match (head, reply.header("content-length")) {
            (true, Some(l)) => l.to_string(),
            _ => reply.body.len().to_string(),
        };
        let mut text = format!(
            "HTTP/1.1 {} Status\r\nConnection: close\r\nContent-Length: {length}\r\n",
            reply.status
        );
        for (name, value) in &reply.headers {
            match name.as_str() {
                "connection" | "content-length" | "transfer-encoding" => {}
                "location" => text.push_str(&format!(
                    "location: {}\r\n",
                    value.replace(&upstream, &front)
                )),
                _ => text.push_str(&format!("{name}: {value}\r\n")),
            }
        }
        text.push_str("\r\n");
        out.write_all(text.as_bytes())?;
        if !head {
            out.write_all(&reply.body)?;
        }
        Ok(())
    }

    /// Enforces write locks on a manifest `PUT`, then forwards it; a tag or manifest that is new
    /// starts with ACR's default attributes.
    fn put_manifest(&self, r: &Request, repository: &str, reference: &str) -> Outcome {
        let is_tag = !reference.contains(':');
        {
            let locks = self.locks.lock().unwrap();
            let repo_locked = locks.repositories.get(repository).is_some_and(|a| !a.write);
            let tag_locked = is_tag
                && locks
                    .tags
                    .get(&(repository.to_string(), reference.to_string()))
                    .is_some_and(|a| !a.write);
            if repo_locked || tag_locked {
                drop(locks);
                self.event(format!("REFUSED PUT {repository}:{reference}"));
                return Outcome::Answer(disallowed());
            }
        }
        let tags_before = self.tags(repository).unwrap_or_default();
        let manifests_before = self.manifests(repository);
        let outcome = self.forward(r);
        if let Outcome::Forwarded(reply) = &outcome {
            if (200..300).contains(&reply.status) {
                self.event(format!("PUT {repository}:{reference}"));
                let mut locks = self.locks.lock().unwrap();
                if is_tag && !tags_before.contains_key(reference) {
                    locks
                        .tags
                        .remove(&(repository.to_string(), reference.to_string()));
                }
                if let Some(digest) = reply.header("docker-content-digest") {
                    if !manifests_before.contains(digest) {
                        locks
                            .manifests
                            .remove(&(repository.to_string(), digest.to_string()));
                    }
                }
            }
        }
        outcome
    }

    /// The refusal of a `DELETE` of a manifest (by digest) or a tag, when a lock forbids it.
    fn refuse_delete(&self, repository: &str, reference: &str) -> Option<Response> {
        let tags = self.tags(repository).unwrap_or_default();
        let locked = if reference.contains(':') {
            self.manifest_attrs(repository, reference).guards_delete()
                || tags
                    .iter()
                    .filter(|(_, d)| d.as_str() == reference)
                    .any(|(t, _)| self.tag_attrs(repository, t).guards_delete())
        } else {
            self.tag_attrs(repository, reference).guards_delete()
        };
        if !(locked || self.repository_attrs(repository).guards_delete()) {
            return None;
        }
        self.event(format!("REFUSED DELETE {repository}:{reference}"));
        Some(disallowed())
    }

    /// Injected faults on a blob upload (`POST …/blobs/uploads/`): a held upload waits here.
    fn before_upload(&self, repository: &str) -> Option<Response> {
        {
            let mut fail = self.fail_uploads.lock().unwrap();
            if let Some(f) = fail.as_mut().filter(|f| f.repository == repository) {
                if f.seen >= f.after {
                    drop(fail);
                    self.event(format!("INJECTED 500 POST {repository} upload"));
                    return Some(
                        error(500, "UNKNOWN", "injected failure").header("Retry-After", "0"),
                    );
                }
                f.seen += 1;
            }
        }
        self.wait_if_held(
            &Held::Uploads(repository.into()),
            &format!("POST {repository} upload"),
        );
        None
    }

    /// Waits (at most [`HOLD_LIMIT`]) while requests like `what` are held.
    fn wait_if_held(&self, what: &Held, label: &str) {
        let mut hold = self.hold.lock().unwrap();
        if hold.what.as_ref() != Some(what) || hold.released {
            return;
        }
        if hold.skip > 0 {
            hold.skip -= 1;
            return;
        }
        hold.held += 1;
        drop(hold);
        self.event(format!("HELD {label}"));
        self.hold_changed.notify_all();
        let deadline = Instant::now() + HOLD_LIMIT;
        let mut hold = self.hold.lock().unwrap();
        while !hold.released {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            hold = self.hold_changed.wait_timeout(hold, left).unwrap().0;
        }
    }

    // --- What the registry holds, read from its storage ---

    /// Every repository (directories holding `_manifests`), sorted.
    fn catalog(&self) -> Vec<String> {
        fn walk(dir: &Path, name: &str, depth: usize, out: &mut Vec<String>) {
            if depth > MAX_NAME_DEPTH {
                return;
            }
            if !name.is_empty() && dir.join("_manifests").is_dir() {
                out.push(name.to_string());
            }
            let Ok(entries) = std::fs::read_dir(dir) else {
                return;
            };
            for entry in entries.flatten() {
                let child = entry.file_name().to_string_lossy().into_owned();
                if child.starts_with('_') || !entry.path().is_dir() {
                    continue;
                }
                let full = if name.is_empty() {
                    child
                } else {
                    format!("{name}/{child}")
                };
                walk(&entry.path(), &full, depth + 1, out);
            }
        }
        let mut out = Vec::new();
        walk(&self.repositories, "", 0, &mut out);
        out.sort();
        out
    }

    fn repository_dir(&self, repository: &str) -> Option<PathBuf> {
        let dir = self.repositories.join(repository);
        (!repository.is_empty()
            && !repository
                .split('/')
                .any(|c| c.is_empty() || c == ".." || c == ".")
            && dir.join("_manifests").is_dir())
        .then_some(dir)
    }

    /// Tag → digest, or `None` when the repository does not exist.
    fn tags(&self, repository: &str) -> Option<BTreeMap<String, String>> {
        let dir = self.repository_dir(repository)?.join("_manifests/tags");
        let mut out = BTreeMap::new();
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let link = entry.path().join("current/link");
            if let Ok(digest) = std::fs::read_to_string(link) {
                if digest.parse::<Digest>().is_ok() {
                    out.insert(entry.file_name().to_string_lossy().into_owned(), digest);
                }
            }
        }
        Some(out)
    }

    /// Every manifest digest of a repository, tagged or not.
    fn manifests(&self, repository: &str) -> BTreeSet<String> {
        let Some(dir) = self.repository_dir(repository) else {
            return BTreeSet::new();
        };
        let revisions = dir.join("_manifests/revisions/sha256");
        std::fs::read_dir(revisions)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.path().join("link").is_file())
            .map(|e| format!("sha256:{}", e.file_name().to_string_lossy()))
            .filter(|d| d.parse::<Digest>().is_ok())
            .collect()
    }

    /// A manifest's size and media type, from its bytes in the blob store.
    fn manifest_facts(&self, digest: &str) -> (usize, Option<String>) {
        let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
        let path = self
            .blobs
            .join(&hex[..2.min(hex.len())])
            .join(hex)
            .join("data");
        let bytes = std::fs::read(path).unwrap_or_default();
        let media_type = serde_json::from_slice::<Value>(&bytes)
            .ok()
            .and_then(|v| v["mediaType"].as_str().map(str::to_string));
        (bytes.len(), media_type)
    }

    fn repository_attrs(&self, repository: &str) -> Attrs {
        let locks = self.locks.lock().unwrap();
        locks
            .repositories
            .get(repository)
            .copied()
            .unwrap_or(Attrs::OPEN)
    }

    fn tag_attrs(&self, repository: &str, tag: &str) -> Attrs {
        let locks = self.locks.lock().unwrap();
        let key = (repository.to_string(), tag.to_string());
        locks.tags.get(&key).copied().unwrap_or(Attrs::OPEN)
    }

    fn manifest_attrs(&self, repository: &str, digest: &str) -> Attrs {
        let locks = self.locks.lock().unwrap();
        let key = (repository.to_string(), digest.to_string());
        locks.manifests.get(&key).copied().unwrap_or(Attrs::OPEN)
    }

    // --- ACR's metadata API ---

    /// `/acr/v1/{rest}`: `rest` is the path after the prefix, as sent (the name is one segment,
    /// `a%2Fb`).
    fn metadata(&self, r: &Request, rest: &str) -> Response {
        if rest == "_catalog" && r.method == "GET" {
            return Response::json(200, &json!({ "repositories": self.catalog() }));
        }
        let mut segments = rest.splitn(3, '/');
        let repository = http::decode_path(segments.next().unwrap_or(""));
        let kind = segments.next();
        let item = segments.next().map(http::decode_path);
        let Some(tags) = self.tags(&repository) else {
            return error(404, "NAME_UNKNOWN", "repository name not known to registry");
        };
        match (r.method.as_str(), kind, item) {
            ("GET", None, None) => Response::json(200, &self.repository_json(&repository, &tags)),
            ("PATCH", None, None) => match self.patch(r, &repository, None) {
                Ok(()) => Response::json(200, &self.repository_json(&repository, &tags)),
                Err(response) => response,
            },
            ("GET", Some("_tags"), None) => {
                let all: Vec<Value> = tags
                    .iter()
                    .map(|(t, d)| self.tag_json(&repository, t, d))
                    .collect();
                self.page(r, &repository, "_tags", "tags", all, "name")
            }
            ("GET", Some("_manifests"), None) => {
                let all: Vec<Value> = self
                    .manifests(&repository)
                    .iter()
                    .map(|d| self.manifest_json(&repository, d, &tags))
                    .collect();
                self.page(r, &repository, "_manifests", "manifests", all, "digest")
            }
            (method, Some("_tags"), Some(tag)) => {
                let Some(digest) = tags.get(&tag) else {
                    return error(404, "TAG_UNKNOWN", "the specified tag does not exist");
                };
                match method {
                    "GET" => {
                        self.item_json(&repository, "tag", self.tag_json(&repository, &tag, digest))
                    }
                    "PATCH" => match self.patch(r, &repository, Some(("tag", &tag))) {
                        Ok(()) => self.item_json(
                            &repository,
                            "tag",
                            self.tag_json(&repository, &tag, digest),
                        ),
                        Err(response) => response,
                    },
                    "DELETE" => self.delete_tag(&repository, &tag),
                    _ => error(405, "UNSUPPORTED", "method not allowed"),
                }
            }
            (method, Some("_manifests"), Some(digest)) => {
                if !self.manifests(&repository).contains(&digest) {
                    return error(404, "MANIFEST_UNKNOWN", "manifest unknown");
                }
                match method {
                    "GET" => self.item_json(
                        &repository,
                        "manifest",
                        self.manifest_json(&repository, &digest, &tags),
                    ),
                    "PATCH" => match self.patch(r, &repository, Some(("manifest", &digest))) {
                        Ok(()) => self.item_json(
                            &repository,
                            "manifest",
                            self.manifest_json(&repository, &digest, &tags),
                        ),
                        Err(response) => response,
                    },
                    "DELETE" => self.delete_manifest(&repository, &digest),
                    _ => error(405, "UNSUPPORTED", "method not allowed"),
                }
            }
            _ => error(404, "NOT_FOUND", "no such ACR API path"),
        }
    }

    /// Applies a PATCH body to the repository (`item` `None`) or a tag or manifest.
    fn patch(
        &self,
        r: &Request,
        repository: &str,
        item: Option<(&str, &str)>,
    ) -> Result<(), Response> {
        let body: Value = serde_json::from_slice(&r.body)
            .map_err(|e| error(400, "BAD_REQUEST", &format!("body is not JSON: {e}")))?;
        let mut locks = self.locks.lock().unwrap();
        let name = repository.to_string();
        let (label, slot) = match item {
            None => (
                name.clone(),
                locks.repositories.entry(name).or_insert(Attrs::OPEN),
            ),
            Some(("tag", tag)) => (
                format!("{repository}:{tag}"),
                locks.tags.entry((name, tag.into())).or_insert(Attrs::OPEN),
            ),
            Some((_, digest)) => (
                format!("{repository}@{digest}"),
                locks
                    .manifests
                    .entry((name, digest.into()))
                    .or_insert(Attrs::OPEN),
            ),
        };
        *slot = slot
            .patched(&body)
            .map_err(|e| error(400, "BAD_REQUEST", &e))?;
        drop(locks);
        self.event(format!("PATCH {label} {}", fields(&body)));
        Ok(())
    }

    fn delete_tag(&self, repository: &str, tag: &str) -> Response {
        if let Some(refused) = self.refuse_delete(repository, tag) {
            return refused;
        }
        // What Distribution's own untag does: the tag's directory goes.
        let dir = self
            .repositories
            .join(repository)
            .join("_manifests/tags")
            .join(tag);
        if std::fs::remove_dir_all(dir).is_err() {
            return error(404, "TAG_UNKNOWN", "the specified tag does not exist");
        }
        let mut locks = self.locks.lock().unwrap();
        locks
            .tags
            .remove(&(repository.to_string(), tag.to_string()));
        drop(locks);
        self.event(format!("DELETE {repository}:{tag}"));
        Response::new(202, "")
    }

    fn delete_manifest(&self, repository: &str, digest: &str) -> Response {
        if let Some(refused) = self.refuse_delete(repository, digest) {
            return refused;
        }
        let target = format!("/v2/{repository}/manifests/{digest}");
        match http::send(self.upstream, "DELETE", &target, &[], &[]) {
            Ok(reply) if (200..300).contains(&reply.status) => {
                self.event(format!("DELETE {repository}@{digest}"));
                Response::new(202, "")
            }
            Ok(reply) => {
                Response::new(reply.status, reply.body).header("Content-Type", "application/json")
            }
            Err(e) => error(502, "UNKNOWN", &format!("registry: {e}")),
        }
    }

    /// One page of a listing, sorted by `key`: `n` entries after `last`, and a `Link` to the next.
    fn page(
        &self,
        r: &Request,
        repository: &str,
        listing: &str,
        field: &str,
        mut all: Vec<Value>,
        key: &str,
    ) -> Response {
        let params = r.query_params();
        let param = |name: &str| {
            params
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        let n = param("n")
            .and_then(|n| n.parse::<usize>().ok())
            .filter(|n| *n > 0)
            .unwrap_or(DEFAULT_PAGE);
        all.sort_by(|a, b| a[key].as_str().cmp(&b[key].as_str()));
        if let Some(last) = param("last") {
            all.retain(|v| v[key].as_str().is_some_and(|k| k > last.as_str()));
        }
        let more = all.len() > n;
        all.truncate(n);
        let mut body = json!({"registry": self.registry_name(), "imageName": repository});
        body[field] = Value::Array(all.clone());
        let response = Response::json(200, &body);
        match (more, all.last().and_then(|v| v[key].as_str())) {
            (true, Some(last)) => response.header(
                "Link",
                format!(
                    "</acr/v1/{}/{listing}?last={last}&n={n}>; rel=\"next\"",
                    repository.replace('/', "%2F")
                ),
            ),
            _ => response,
        }
    }

    fn registry_name(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn repository_json(&self, repository: &str, tags: &BTreeMap<String, String>) -> Value {
        json!({
            "registry": self.registry_name(),
            "imageName": repository,
            "createdTime": TIME,
            "lastUpdateTime": TIME,
            "manifestCount": self.manifests(repository).len(),
            "tagCount": tags.len(),
            "changeableAttributes": self.repository_attrs(repository).to_json(),
        })
    }

    fn tag_json(&self, repository: &str, tag: &str, digest: &str) -> Value {
        json!({
            "name": tag,
            "digest": digest,
            "createdTime": TIME,
            "lastUpdateTime": TIME,
            "signed": false,
            "changeableAttributes": self.tag_attrs(repository, tag).to_json(),
        })
    }

    fn manifest_json(
        &self,
        repository: &str,
        digest: &str,
        tags: &BTreeMap<String, String>,
    ) -> Value {
        let (size, media_type) = self.manifest_facts(digest);
        let names: Vec<&String> = tags
            .iter()
            .filter(|(_, d)| d.as_str() == digest)
            .map(|(t, _)| t)
            .collect();
        let mut out = json!({
            "digest": digest,
            "imageSize": size,
            "createdTime": TIME,
            "lastUpdateTime": TIME,
            "tags": names,
            "changeableAttributes": self.manifest_attrs(repository, digest).to_json(),
        });
        if let Some(m) = media_type {
            out["mediaType"] = json!(m);
        }
        out
    }

    /// `{"registry", "imageName", "tag"|"manifest": item}`: the shape of one tag or manifest.
    fn item_json(&self, repository: &str, field: &str, item: Value) -> Response {
        let mut body = json!({"registry": self.registry_name(), "imageName": repository});
        body[field] = item;
        Response::json(200, &body)
    }
}

/// `deleteEnabled=false writeEnabled=true`: the fields of a PATCH body, in its order.
fn fields(body: &Value) -> String {
    body.as_object()
        .map(|o| {
            o.iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}
