//! A registry whose blob GETs redirect elsewhere, as ACR sends them to a storage SAS URL: a
//! read-only fake registry over an OCI layout (Basic auth, a session cookie) and a storage host
//! that records any request carrying an `Authorization` header or a cookie.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use acr_relocate::transport::layout::{REF_NAME, REPOSITORY_ANNOTATION};
use serde_json::{json, Value};

use super::http::{Request, Response, Server};

/// The SAS signature of the storage URLs (a secret: it must never be shown).
pub const SAS_SIG: &str = "sasSIGNATUREs3cretVALUE";
/// The session cookie the registry sets (it must never reach the storage host).
pub const COOKIE: &str = "registrySESSIONcookie";

/// The fake registry and its storage host.
pub struct RedirectingRegistry {
    registry: Server,
    storage: Server,
    /// Requests to the storage host that carried credentials or cookies.
    pub leaks: Arc<Mutex<Vec<String>>>,
    /// Blob requests the storage host served.
    pub served: Arc<Mutex<u32>>,
    /// The storage host answers this many of the next blob requests 403 (an expired signature).
    pub expire_next: Arc<Mutex<u32>>,
}

struct Content {
    root: PathBuf,
    tags: BTreeMap<String, BTreeMap<String, String>>,
    media_types: BTreeMap<String, String>,
    /// (repository, digest) of every manifest.
    manifests: BTreeSet<(String, String)>,
}

fn load(root: &Path) -> Content {
    let index: Value =
        serde_json::from_slice(&std::fs::read(root.join("index.json")).unwrap()).unwrap();
    let mut content = Content {
        root: root.to_path_buf(),
        tags: BTreeMap::new(),
        media_types: BTreeMap::new(),
        manifests: BTreeSet::new(),
    };
    for m in index["manifests"].as_array().unwrap() {
        let digest = m["digest"].as_str().unwrap().to_string();
        let annotations = &m["annotations"];
        let repo = annotations[REPOSITORY_ANNOTATION]
            .as_str()
            .unwrap()
            .to_string();
        content
            .media_types
            .insert(digest.clone(), m["mediaType"].as_str().unwrap().to_string());
        content.manifests.insert((repo.clone(), digest.clone()));
        let tags = content.tags.entry(repo.clone()).or_default();
        if let Some(name) = annotations[REF_NAME].as_str() {
            let tag = name.rsplit_once(':').unwrap().1;
            tags.insert(tag.to_string(), digest);
        }
    }
    content
}

impl Content {
    fn blob(&self, digest: &str) -> Option<Vec<u8>> {
        let hex = digest.strip_prefix("sha256:")?;
        std::fs::read(self.root.join("blobs/sha256").join(hex)).ok()
    }

    fn referrers(&self, repo: &str, subject: &str) -> Value {
        let mut out = Vec::new();
        for (r, d) in &self.manifests {
            if r != repo {
                continue;
            }
            let bytes = self.blob(d).unwrap();
            let m: Value = serde_json::from_slice(&bytes).unwrap();
            if m["subject"]["digest"].as_str() == Some(subject) {
                let mut desc = json!({
                    "mediaType": self.media_types[d],
                    "digest": d,
                    "size": bytes.len(),
                });
                let artifact = m["artifactType"]
                    .as_str()
                    .or(m["config"]["mediaType"].as_str());
                if let Some(a) = artifact {
                    desc["artifactType"] = json!(a);
                }
                out.push(desc);
            }
        }
        json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": out})
    }
}

impl RedirectingRegistry {
    /// Serves the layout at `root` to `user`/`password` (Basic), blobs through the storage host.
    pub fn start(root: &Path, user: &str, password: &str) -> Self {
        Self::start_with_storage(root, user, password, None)
    }

    /// The same, with the storage host serving HTTPS with `storage_tls` (on-premises storage
    /// behind a private CA).
    pub fn start_with_storage(
        root: &Path,
        user: &str,
        password: &str,
        storage_tls: Option<Arc<rustls::ServerConfig>>,
    ) -> Self {
        let leaks = Arc::new(Mutex::new(Vec::new()));
        let served = Arc::new(Mutex::new(0));
        let expire_next = Arc::new(Mutex::new(0));
        let content = Arc::new(load(root));

        let (c, l, s, e) = (
            content.clone(),
            leaks.clone(),
            served.clone(),
            expire_next.clone(),
        );
        let scheme = if storage_tls.is_some() {
            "https"
        } else {
            "http"
        };
        let serve_storage = move |r: &Request| {
            let mut leaked = Vec::new();
            for name in ["authorization", "cookie", "proxy-authorization"] {
                if r.header(name).is_some() {
                    leaked.push(format!("{} {} carried {name}", r.method, r.path));
                }
            }
            if !leaked.is_empty() {
                l.lock().unwrap().extend(leaked);
                return Response::new(403, "credentials sent to the storage host");
            }
            let sig = r
                .query_params()
                .into_iter()
                .find(|(k, _)| k == "sig")
                .map(|(_, v)| v);
            if sig.as_deref() != Some(SAS_SIG) {
                return Response::new(403, "bad signature");
            }
            {
                let mut expire = e.lock().unwrap();
                if *expire > 0 {
                    *expire -= 1;
                    return Response::new(403, "Signature not valid in the specified time frame");
                }
            }
            let digest = r.path.trim_start_matches("/sas/");
            match c.blob(digest) {
                Some(bytes) => {
                    *s.lock().unwrap() += 1;
                    Response::new(200, bytes).header("Content-Type", "application/octet-stream")
                }
                None => Response::new(404, "no such blob"),
            }
        };
        let storage = match storage_tls {
            Some(config) => Server::start_tls(config, serve_storage),
            None => Server::start(serve_storage),
        };
        let storage_at = format!("{scheme}://localhost:{}", storage.port);

        let expected = (user.to_string(), password.to_string());
        let registry = Server::start(move |r: &Request| {
            if r.basic().as_ref() != Some(&expected) {
                return Response::json(
                    401,
                    &json!({"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}),
                )
                .header("WWW-Authenticate", "Basic realm=\"fake-acr\"");
            }
            let response = route(r, &content, &storage_at);
            response.header("Set-Cookie", format!("session={COOKIE}; Path=/"))
        });
        RedirectingRegistry {
            registry,
            storage,
            leaks,
            served,
            expire_next,
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.registry.port)
    }

    /// `localhost:PORT` of the storage host (what `--insecure` names).
    pub fn storage_host(&self) -> String {
        format!("localhost:{}", self.storage.port)
    }
}

fn route(r: &Request, content: &Content, storage_at: &str) -> Response {
    let path = r.path.as_str();
    if path == "/v2/" {
        return Response::json(200, &json!({}));
    }
    if path == "/v2/_catalog" {
        let repos: Vec<&String> = content.tags.keys().collect();
        return Response::json(200, &json!({ "repositories": repos }));
    }
    let Some(rest) = path.strip_prefix("/v2/") else {
        return Response::new(404, "");
    };
    let not_found = |code: &str| Response::json(404, &json!({"errors":[{"code": code}]}));
    if let Some(repo) = rest.strip_suffix("/tags/list") {
        return match content.tags.get(repo) {
            Some(tags) => Response::json(
                200,
                &json!({"name": repo, "tags": tags.keys().collect::<Vec<_>>()}),
            ),
            None => not_found("NAME_UNKNOWN"),
        };
    }
    if let Some((repo, reference)) = rest.rsplit_once("/manifests/") {
        let digest = if reference.starts_with("sha256:") {
            Some(reference.to_string())
        } else {
            content
                .tags
                .get(repo)
                .and_then(|t| t.get(reference))
                .cloned()
        };
        let Some(digest) = digest.filter(|d| content.manifests.contains(&(repo.into(), d.clone())))
        else {
            return not_found("MANIFEST_UNKNOWN");
        };
        return Response::new(200, content.blob(&digest).unwrap())
            .header("Content-Type", content.media_types[&digest].clone())
            .header("Docker-Content-Digest", digest);
    }
    if let Some((repo, digest)) = rest.rsplit_once("/referrers/") {
        // One referrer per page, the next page named by a `Link` header, as the spec allows.
        let mut index = content.referrers(repo, digest);
        let all = index["manifests"].as_array().unwrap().clone();
        let page: usize = r
            .query
            .strip_prefix("page=")
            .and_then(|p| p.parse().ok())
            .unwrap_or(0);
        index["manifests"] = json!(all.get(page).into_iter().collect::<Vec<_>>());
        let response = Response::new(200, index.to_string())
            .header("Content-Type", "application/vnd.oci.image.index.v1+json");
        return match page + 1 < all.len() {
            true => response.header(
                "Link",
                format!(
                    "</v2/{repo}/referrers/{digest}?page={}>; rel=\"next\"",
                    page + 1
                ),
            ),
            false => response,
        };
    }
    if let Some((_repo, digest)) = rest.rsplit_once("/blobs/") {
        if content.blob(digest).is_none() {
            return not_found("BLOB_UNKNOWN");
        }
        return Response::new(307, "").header(
            "Location",
            format!("{storage_at}/sas/{digest}?sv=2023-01-03&se=2099-01-01&sp=r&sig={SAS_SIG}"),
        );
    }
    Response::new(404, "")
}
