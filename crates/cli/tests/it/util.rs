//! The test harness: registries, sample content, and a command runner.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use acr_relocate::digest::Digest;
use acr_relocate::endpoint::Endpoint;
use acr_relocate::sample::Expected;
use acr_relocate::transport::{self, Access, ConnectOptions, Store};

/// A Distribution registry process with its own storage, stopped on drop.
pub struct Registry {
    child: Child,
    /// Its port on 127.0.0.1.
    pub port: u16,
    dir: tempfile::TempDir,
}

fn registry_binary() -> String {
    std::env::var("ACR_RELOCATE_REGISTRY_BIN").unwrap_or_else(|_| "docker-registry".into())
}

/// A port nothing listens on now (the OS picks it).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Registry {
    /// Starts a plain-HTTP anonymous registry with delete enabled.
    pub fn start() -> Self {
        Self::start_configured("")
    }

    /// [`Registry::start`] with `extra` top-level keys added to its configuration (YAML, such
    /// as `catalog:\n  maxentries: 5\n`).
    pub fn start_configured(extra: &str) -> Self {
        Self::start_with(extra, "")
    }

    /// A registry in read-only maintenance mode: it serves what it holds, and answers every
    /// push `405` (no upload method is routed).
    pub fn start_read_only() -> Self {
        Self::start_with("", "    readonly:\n      enabled: true\n")
    }

    fn start_with(extra: &str, maintenance: &str) -> Self {
        for _ in 0..5 {
            if let Some(r) = Self::try_start(extra, maintenance) {
                return r;
            }
        }
        panic!(
            "could not start {} (install it: apt-get install -y docker-registry)",
            registry_binary()
        );
    }

    fn try_start(extra: &str, maintenance: &str) -> Option<Self> {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let config = format!(
            "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n  maintenance:\n    uploadpurging:\n      enabled: false\n{maintenance}http:\n  addr: 127.0.0.1:{port}\n  secret: test-secret\n{extra}",
            dir.path().join("data").display()
        );
        let config_path = dir.path().join("config.yml");
        std::fs::write(&config_path, config).unwrap();
        let log = std::fs::File::create(dir.path().join("registry.log")).unwrap();
        let child = Command::new(registry_binary())
            .arg("serve")
            .arg(&config_path)
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot run {}: {e} (apt-get install -y docker-registry)",
                    registry_binary()
                )
            });
        let mut registry = Registry { child, port, dir };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = registry.child.try_wait() {
                return None; // port taken meanwhile: try another
            }
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Some(registry);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = registry.child.kill();
        None
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Where the registry stores a blob's bytes.
    pub fn blob_data(&self, digest: &Digest) -> PathBuf {
        let hex = digest.hex();
        self.dir
            .path()
            .join("data/docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }

    /// The upload sessions the registry holds open, one `repository/uuid` each (the
    /// `_uploads` entries that hold a `startedat`).
    pub fn upload_sessions(&self) -> Vec<String> {
        let repositories = self.dir.path().join("data/docker/registry/v2/repositories");
        let mut open = Vec::new();
        let mut pending = vec![repositories.clone()];
        while let Some(dir) = pending.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                if entry.file_name() == "_uploads" {
                    // A session holds its `startedat` (and `data`); what Distribution leaves of
                    // a completed upload (a `hashstates` directory) is none.
                    let sessions = std::fs::read_dir(&path).into_iter().flatten().flatten();
                    for upload in sessions.filter(|u| u.path().join("startedat").exists()) {
                        let repository = dir.strip_prefix(&repositories).unwrap();
                        open.push(format!(
                            "{}/{}",
                            repository.display(),
                            upload.file_name().to_string_lossy()
                        ));
                    }
                } else if path.is_dir() && !entry.file_name().to_string_lossy().starts_with('_') {
                    pending.push(path);
                }
            }
        }
        open.sort();
        open
    }

    /// Kills the registry process (as a crash would): its port refuses connections until
    /// [`Registry::restart`].
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts the registry again on the same port with the same storage.
    pub fn restart(&mut self) {
        let log = std::fs::File::create(self.dir.path().join("registry-restarted.log")).unwrap();
        self.child = Command::new(registry_binary())
            .arg("serve")
            .arg(self.dir.path().join("config.yml"))
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap();
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("the registry did not come back on port {}", self.port);
    }

    /// Where the registry keeps a repository.
    pub fn repository_dir(&self, repository: &str) -> PathBuf {
        self.dir
            .path()
            .join("data/docker/registry/v2/repositories")
            .join(repository)
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs async code on a fresh runtime.
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// The digest of the last layer of `repository:tag` in `store`.
pub fn last_layer(store: &Arc<dyn Store>, repository: &str, tag: &str) -> Digest {
    let manifest = block_on(store.manifest(repository, tag)).unwrap();
    let view = manifest.view().unwrap();
    view.blobs().last().unwrap().digest.clone()
}

/// Opens an endpoint through the library (for checks independent of the CLI's code paths).
pub fn open(endpoint: &str) -> Arc<dyn Store> {
    let ep: Endpoint = endpoint.parse().unwrap();
    block_on(transport::open(
        &ep,
        Access::Read,
        &ConnectOptions::default(),
    ))
    .unwrap()
}

/// Writes the sample content into a new layout; returns it with what it holds.
pub fn sample_layout(repositories: usize, seed: u64) -> (tempfile::TempDir, Expected) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sample");
    let layout = acr_relocate::transport::layout::Layout::create(&path).unwrap();
    let expected = block_on(acr_relocate::sample::write(&layout, repositories, seed)).unwrap();
    (dir, expected)
}

/// `oci:` endpoint of a sample layout directory.
pub fn oci(dir: &Path) -> String {
    format!("oci:{}", dir.join("sample").display())
}

/// A registry filled with the sample content (through a layout and our copy).
pub fn sample_registry(repositories: usize) -> (Registry, Expected) {
    let registry = Registry::start();
    let (dir, mut expected) = sample_layout(repositories, 7);
    let out = run(&["copy", "-q", &oci(dir.path()), &registry.url()]);
    assert_success(&out);
    // Distribution has no referrers API: the copy listed each referrer under its subject's
    // fallback tag (`sha256-<hex>`), a tag like any other from then on.
    let store = open(&registry.url());
    for (repo, subject, _) in &expected.referrers {
        let tag = subject.as_str().replacen(':', "-", 1);
        let digest = block_on(store.manifest_digest(repo, &tag))
            .unwrap()
            .expect("the referrers fallback tag");
        expected.tags.get_mut(repo).unwrap().insert(tag, digest);
    }
    (registry, expected)
}

/// Runs the binary.
pub fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_acr-relocate"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// Runs the binary with `args` in `dir`, its stdout closed by the reader before anything is
/// read, as `acr-relocate ... | head -1` closes it.
pub fn run_with_stdout_closed(dir: &Path, args: &[&str]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_acr-relocate"))
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    child.wait_with_output().unwrap()
}

/// Asserts exit code 0, showing the output otherwise.
pub fn assert_success(out: &Output) {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Asserts exit code `code`, showing stdout and stderr otherwise.
pub fn assert_exit_code(out: &Output, code: i32) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "{}{}",
        stdout(out),
        stderr(out)
    );
}

/// Stdout as a string.
pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Stderr as a string.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The stdout of a `--json` run, parsed.
pub fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}\n{}", stdout(out), stderr(out)))
}

/// Every tag of `expected` resolves, in `store` (names under `prefix`), to the expected digest.
/// Reads through `HEAD /v2/<name>/manifests/<tag>`, so it checks what the registry itself says.
pub fn assert_holds(
    store: &Arc<dyn Store>,
    expected: &BTreeMap<String, BTreeMap<String, Digest>>,
    prefix: Option<&str>,
) {
    block_on(async {
        for (repo, tags) in expected {
            let name = match prefix {
                Some(p) => format!("{p}/{repo}"),
                None => repo.clone(),
            };
            for (tag, digest) in tags {
                let got = store.manifest_digest(&name, tag).await.unwrap();
                assert_eq!(got.as_ref(), Some(digest), "{name}:{tag}");
            }
        }
    });
}

/// The names in `dir`, sorted (to show that nothing, not even a temporary file, was left).
pub fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Every repository the store lists.
pub fn repositories(store: &Arc<dyn Store>) -> Vec<String> {
    block_on(store.repositories()).unwrap()
}

/// Over a slow link, the number of things at once a run reports (`measure`, given extra
/// arguments) grows from `floor` towards `ceiling` by default, and `--max-jobs` equal to `--jobs`
/// (`pinned`) keeps it at `floor`.
pub fn assert_grows_unless_pinned(
    floor: u64,
    ceiling: u64,
    pinned: &[&str],
    measure: impl Fn(&[&str]) -> u64,
) {
    let grown = measure(&[]);
    eprintln!("at once: up to {grown}");
    assert!(
        (floor + 1..=ceiling).contains(&grown),
        "from {floor} towards {ceiling} at once, got {grown}"
    );
    assert_eq!(measure(pinned), floor);
}

/// Writes `bytes` as a blob of the OCI layout at `root`; returns its digest.
pub fn write_layout_blob(root: &Path, bytes: &[u8]) -> Digest {
    let digest = Digest::of(bytes);
    std::fs::write(root.join("blobs/sha256").join(digest.hex()), bytes).unwrap();
    digest
}

/// Lists the manifest `bytes` (written as a blob) in the `index.json` of the layout at `root`
/// in `repo`, as `repo:tag` when `tag` is given (untagged otherwise); returns its digest.
pub fn add_layout_manifest(
    root: &Path,
    repo: &str,
    tag: Option<&str>,
    media_type: &str,
    bytes: &[u8],
) -> Digest {
    use acr_relocate::transport::layout::{REF_NAME, REPOSITORY_ANNOTATION};
    let digest = write_layout_blob(root, bytes);
    let mut annotations = serde_json::json!({ REPOSITORY_ANNOTATION: repo });
    if let Some(tag) = tag {
        annotations[REF_NAME] = format!("{repo}:{tag}").into();
    }
    let index_path = root.join("index.json");
    let mut index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&index_path).unwrap()).unwrap();
    index["manifests"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({
            "mediaType": media_type,
            "digest": digest.as_str(),
            "size": bytes.len(),
            "annotations": annotations,
        }));
    std::fs::write(&index_path, serde_json::to_vec(&index).unwrap()).unwrap();
    digest
}

/// Adds a signature of `subject` (a second referrer beside the sample's SBOM) to the layout at
/// `root`, untagged in `repo`: cosign-style as an image manifest with an empty config, or, with
/// `artifact_manifest`, notation-style as an OCI 1.1-rc artifact manifest (no config).
pub fn add_signature(root: &Path, repo: &str, subject: &Digest, artifact_manifest: bool) -> Digest {
    let write = |bytes: &[u8]| write_layout_blob(root, bytes);
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root.join("index.json")).unwrap()).unwrap();
    let subject_entry = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["digest"] == subject.as_str())
        .unwrap()
        .clone();
    let subject_desc = serde_json::json!({"mediaType": subject_entry["mediaType"], "digest": subject.as_str(), "size": subject_entry["size"]});
    let payload_bytes = br#"{"critical":{"image":{"docker-manifest-digest":"sha256:0"}}}"#;
    let payload = write(payload_bytes);
    let (media_type, manifest) = if artifact_manifest {
        let media_type = "application/vnd.oci.artifact.manifest.v1+json";
        let doc = serde_json::json!({
            "mediaType": media_type,
            "artifactType": "application/vnd.cncf.notary.signature",
            "blobs": [{"mediaType": "application/jose+json", "digest": payload.as_str(), "size": payload_bytes.len()}],
            "subject": subject_desc,
        });
        (media_type, doc)
    } else {
        let config = write(b"{}");
        let media_type = "application/vnd.oci.image.manifest.v1+json";
        let doc = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": media_type,
            "artifactType": "application/vnd.dev.cosign.artifact.sig.v1+json",
            "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": config.as_str(), "size": 2},
            "layers": [{"mediaType": "application/vnd.dev.cosign.simplesigning.v1+json", "digest": payload.as_str(), "size": payload_bytes.len()}],
            "subject": subject_desc,
        });
        (media_type, doc)
    };
    let manifest = serde_json::to_vec(&manifest).unwrap();
    add_layout_manifest(root, repo, None, media_type, &manifest)
}

/// A layer the target must hold: the last distributable layer of the first image (a manifest
/// with layers) among `expected`'s tags, read in `store`; with its repository.
pub fn an_image_layer(store: &Arc<dyn Store>, expected: &Expected) -> (String, Digest) {
    for (repo, tags) in &expected.tags {
        for tag in tags.keys() {
            let manifest = block_on(store.manifest(repo, tag)).unwrap();
            let view = manifest.view().unwrap();
            if let Some(layer) = view.blobs().iter().rev().find(|b| !b.foreign) {
                return (repo.clone(), layer.digest.clone());
            }
        }
    }
    panic!("no image with layers among the expected tags")
}

/// Damages a stored file in place, as a storage fault would: one byte in its middle flipped, the
/// size unchanged.
pub fn flip_a_byte(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let mut bytes = std::fs::read(path).unwrap();
    assert!(!bytes.is_empty(), "{} is empty", path.display());
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::write(path, bytes).unwrap();
}

/// Where an OCI layout at `root` stores a blob's bytes.
pub fn layout_blob(root: &Path, digest: &Digest) -> PathBuf {
    root.join("blobs/sha256").join(digest.hex())
}

/// Points `repository:tag` of the registry on `port` at the manifest `from` points at (a retag,
/// as a push would do); returns that manifest's digest.
pub fn retag(port: u16, repository: &str, from: &str, tag: &str) -> String {
    use crate::support::http::send;
    let (media_type, bytes) = pull_manifest(port, repository, from);
    let put = send(
        port,
        "PUT",
        &format!("/v2/{repository}/manifests/{tag}"),
        &[("content-type".to_string(), media_type)],
        &bytes,
    )
    .unwrap();
    assert_eq!(put.status, 201, "{}", String::from_utf8_lossy(&put.body));
    put.header("docker-content-digest").unwrap().to_string()
}

/// The media type and bytes of `repository@reference` (a tag or digest) in the registry on
/// `port`, read as a client that takes every image manifest type.
pub fn pull_manifest(port: u16, repository: &str, reference: &str) -> (String, Vec<u8>) {
    use crate::support::http::send;
    let accept = (
        "accept".to_string(),
        [
            "application/vnd.oci.image.manifest.v1+json",
            "application/vnd.oci.image.index.v1+json",
            "application/vnd.docker.distribution.manifest.v2+json",
            "application/vnd.docker.distribution.manifest.list.v2+json",
        ]
        .join(", "),
    );
    let got = send(
        port,
        "GET",
        &format!("/v2/{repository}/manifests/{reference}"),
        &[accept],
        &[],
    )
    .unwrap();
    assert_eq!(got.status, 200);
    (got.header("content-type").unwrap().to_string(), got.body)
}

/// Sends `DELETE path` to the registry on `port` (a manifest or blob removed behind the tool's
/// back) and asserts that it was accepted.
pub fn delete(port: u16, path: &str) {
    let reply = crate::support::http::send(port, "DELETE", path, &[], &[]).unwrap();
    assert_eq!(
        reply.status,
        202,
        "DELETE {path}: {}",
        String::from_utf8_lossy(&reply.body)
    );
}

/// The binary with `args` (stdin closed, stdout piped), its stderr lines sent to the receiver
/// as they come: a test waits for a line that says where the run is before acting on it.
pub fn spawn_with_stderr_lines(args: &[&str]) -> (Child, std::sync::mpsc::Receiver<String>) {
    use std::io::{BufRead, BufReader};
    let mut child = Command::new(env!("CARGO_BIN_EXE_acr-relocate"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (lines, received) = std::sync::mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    (child, received)
}

/// Uploads `bytes` to `repository` in one request, under `digest`.
pub fn push_blob_as(port: u16, repository: &str, bytes: &[u8], digest: &str) {
    let started = crate::support::http::send(
        port,
        "POST",
        &format!("/v2/{repository}/blobs/uploads/"),
        &[],
        &[],
    )
    .unwrap();
    assert_eq!(started.status, 202);
    let location = started.header("location").unwrap();
    // An absolute URL or a path: the path (and its query) is what is sent.
    let path = match location.find("/v2/") {
        Some(at) => &location[at..],
        None => location,
    };
    let separator = if path.contains('?') { '&' } else { '?' };
    let put = crate::support::http::send(
        port,
        "PUT",
        &format!("{path}{separator}digest={digest}"),
        &[(
            "content-type".to_string(),
            "application/octet-stream".to_string(),
        )],
        bytes,
    )
    .unwrap();
    assert_eq!(put.status, 201, "{}", String::from_utf8_lossy(&put.body));
}

/// Runs the binary with `args`, killed after `seconds` (a hang fails the test, not the run).
pub fn run_at_most(seconds: u64, args: &[&str]) -> std::process::Output {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_acr-relocate"))
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let until = std::time::Instant::now() + std::time::Duration::from_secs(seconds);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > until {
            child.kill().unwrap();
            panic!("{args:?} still running after {seconds} s");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}
