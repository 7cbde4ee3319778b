//! Where registry credentials come from when none are given on the command line: the containers
//! `auth.json` files and docker's `config.json`, read alike (`credHelpers`, `credsStore` through
//! the `docker-credential-<name>` protocol, then `auths`), as containers/image (skopeo, podman)
//! reads them. The caller lists the sources in the order to try; the first one that knows the
//! registry wins, and none means anonymous. Docker Hub, under any of its names, is looked up under
//! docker's own key for it, [`DOCKER_HUB_KEY`], first. An `auths` key naming a namespace
//! (`HOST/NAMESPACE`, what `podman login HOST/NAMESPACE` writes) serves an endpoint whose prefix is
//! under that namespace: see [`resolve_under`].
//!
//! Nothing read here is ever shown: errors name the file or helper and the registry, and report
//! JSON syntax errors by position only (serde's messages may quote values).

use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use base64::Engine;
use serde_json::Value;

use crate::error::{Error, Result};
use crate::secret::Secret;
use crate::transport::registry::Credentials;

/// A place credentials may be found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CredentialSource {
    /// A docker `config.json`: `credHelpers`, then `credsStore`, then `auths`. A missing file is
    /// skipped.
    DockerConfig(PathBuf),
    /// A containers `auth.json` (`$REGISTRY_AUTH_FILE`, the one `podman login` writes: see
    /// [`Self::all_from_env`]), read as a docker config is. A missing file is skipped.
    AuthFile(PathBuf),
}

impl CredentialSource {
    /// The docker config of this environment: `$DOCKER_CONFIG/config.json`, else
    /// `$HOME/.docker/config.json`.
    pub fn docker_config_from_env() -> Option<Self> {
        let dir = match std::env::var_os("DOCKER_CONFIG") {
            Some(d) if !d.is_empty() => PathBuf::from(d),
            _ => PathBuf::from(std::env::var_os("HOME")?).join(".docker"),
        };
        Some(CredentialSource::DockerConfig(dir.join("config.json")))
    }

    /// The containers auth file named by `$REGISTRY_AUTH_FILE`, if set.
    pub fn auth_file_from_env() -> Option<Self> {
        match std::env::var_os("REGISTRY_AUTH_FILE") {
            Some(p) if !p.is_empty() => Some(CredentialSource::AuthFile(PathBuf::from(p))),
            _ => None,
        }
    }

    /// Every source of this environment, in the order containers/image (skopeo, podman) tries
    /// them (containers-auth.json(5)): `$REGISTRY_AUTH_FILE` when set, else
    /// `$XDG_RUNTIME_DIR/containers/auth.json` (where `podman login` and `skopeo login` write);
    /// then `$XDG_CONFIG_HOME/containers/auth.json` (`~/.config/containers/auth.json`); then
    /// docker's config ([`Self::docker_config_from_env`]). Unset or empty variables are left
    /// out, and a file named twice is read once.
    pub fn all_from_env() -> Vec<Self> {
        Self::all_from(|name| std::env::var_os(name))
    }

    /// [`Self::all_from_env`] with the variables `var` gives.
    fn all_from(var: impl Fn(&str) -> Option<OsString>) -> Vec<Self> {
        let var = |name: &str| var(name).filter(|v| !v.is_empty()).map(PathBuf::from);
        let home = var("HOME");
        let docker = var("DOCKER_CONFIG").or_else(|| home.as_ref().map(|h| h.join(".docker")));
        let config_home = var("XDG_CONFIG_HOME").or_else(|| home.map(|h| h.join(".config")));
        // The explicit override takes the place of the primary (read/write) file.
        let primary = var("REGISTRY_AUTH_FILE")
            .or_else(|| var("XDG_RUNTIME_DIR").map(|d| d.join("containers/auth.json")));
        let auth_files = [primary, config_home.map(|d| d.join("containers/auth.json"))];
        let mut sources = Vec::new();
        let all = auth_files
            .into_iter()
            .flatten()
            .map(CredentialSource::AuthFile)
            .chain(docker.map(|d| CredentialSource::DockerConfig(d.join("config.json"))));
        for source in all {
            if !sources.contains(&source) {
                sources.push(source);
            }
        }
        sources
    }

    /// Credentials this source holds for `host` (`host[:port]`), `None` when it has none.
    pub fn lookup(&self, host: &str) -> Result<Option<Credentials>> {
        self.lookup_noting(host, None, &mut None)
    }

    /// [`Self::lookup`] for the repositories under `prefix` (see [`resolve_under`]), setting
    /// `skipped_source` when the config's `credsStore` helper is not installed here, the file is
    /// not valid JSON, or its only entries for the host are namespaces `prefix` is not under
    /// (skipped: see [`Resolved::skipped_source`]).
    fn lookup_noting(
        &self,
        host: &str,
        prefix: Option<&str>,
        skipped_source: &mut Option<String>,
    ) -> Result<Option<Credentials>> {
        let origin = match self {
            CredentialSource::DockerConfig(p) => format!("docker config {}", p.display()),
            CredentialSource::AuthFile(p) => format!("auth file {}", p.display()),
        };
        let (CredentialSource::DockerConfig(path) | CredentialSource::AuthFile(path)) = self;
        let fail = |reason: String| Error::Auth {
            registry: host.to_string(),
            source_tried: origin.clone(),
            reason,
        };
        let text = match std::fs::read(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(fail(format!("cannot read it: {e}"))),
        };
        // A file that is not JSON holds nothing this machine can read: skipped, as docker does
        // (with a warning), so that registries open to anonymous reads still work; said when a
        // registry then asks for credentials.
        let config: Value = match serde_json::from_slice(&text) {
            Ok(config) => config,
            Err(e) => {
                let note = format!(
                    "{origin} is not valid JSON (line {}, column {}): fix it",
                    e.line(),
                    e.column()
                );
                crate::log::emit(1, || {
                    format!("{host}: {note}; its credentials are not used")
                });
                *skipped_source = Some(note);
                return Ok(None);
            }
        };
        let Value::Object(config) = config else {
            return Err(fail("not a JSON object".into()));
        };
        // containers/image honours `credHelpers` in every file it reads, as docker does in its own.
        let helper = match config.get("credHelpers") {
            None | Some(Value::Null) => None,
            Some(Value::Object(helpers)) => match find(helpers, host) {
                Some(Value::String(name)) => Some((name.clone(), "credHelpers")),
                Some(_) => {
                    return Err(fail(format!(
                        "credHelpers entry for {host} is not a string"
                    )))
                }
                None => None,
            },
            Some(_) => return Err(fail("credHelpers is not an object".into())),
        };
        let helper = helper.or_else(|| match config.get("credsStore") {
            Some(Value::String(name)) if !name.is_empty() => Some((name.clone(), "credsStore")),
            _ => None,
        });
        if let Some((name, key)) = helper {
            let origin = format!("docker-credential-{name} ({key} in {})", path.display());
            match run_helper(&name, host, &origin)? {
                Helper::Answered(Some(c)) => return Ok(Some(c)),
                Helper::Answered(None) => {}
                // The store for every registry, not installed here: it holds nothing this
                // machine can read, so `auths` and then anonymous access are tried (as
                // skopeo does); a registry that wants credentials then says so. A helper
                // named for this registry in credHelpers was meant for it: an error.
                Helper::NotInstalled(_) if key == "credsStore" => {
                    let note = format!("{origin} is not installed");
                    crate::log::emit(1, || {
                        format!("{host}: {note}: its credentials are not used")
                    });
                    *skipped_source = Some(note);
                }
                Helper::NotInstalled(e) => return Err(e),
            }
        }
        let auths = match config.get("auths") {
            None | Some(Value::Null) => return Ok(None),
            Some(Value::Object(auths)) => auths,
            Some(_) => return Err(fail("auths is not an object".into())),
        };
        // The most specific namespace covering the prefix, named in the origin; else the host.
        let (key, entry_origin, named) = match namespace_key(auths, host, prefix.unwrap_or("")) {
            Some(key) => (key, format!("{origin}, entry {key}"), key.as_str()),
            None => match find_key(auths, host) {
                Some(key) => (key, origin.clone(), host),
                None => {
                    if let Some(other) = auths.keys().find(|k| key_namespace(k, host).is_some()) {
                        let note = format!(
                            "{origin} has credentials only for {other}, used for an endpoint with that prefix"
                        );
                        crate::log::emit(1, || format!("{host}: {note}"));
                        skipped_source.get_or_insert(note);
                    }
                    return Ok(None);
                }
            },
        };
        match &auths[key] {
            Value::Object(entry) => entry_credentials(entry, &entry_origin)
                .map_err(|reason| fail(format!("auths entry for {named}: {reason}"))),
            _ => Err(fail(format!("auths entry for {named} is not an object"))),
        }
    }
}

/// What the credential sources hold for a registry.
#[derive(Debug, Default)]
pub struct Resolved {
    /// The credentials of the first source that knows the registry; `None`: anonymous.
    pub credentials: Option<Credentials>,
    /// A source skipped: a docker `credsStore` helper that is not installed here
    /// (`docker-credential-NAME (credsStore in PATH) is not installed`, as skopeo does), a
    /// config file that is not valid JSON (as docker does), or entries for namespaces the
    /// endpoint is not under; so that registries open to anonymous reads still work. Said when a
    /// registry then asks for credentials.
    pub skipped_source: Option<String>,
}

/// Tries each source in turn; the first that knows `host` wins.
pub fn resolve(host: &str, sources: &[CredentialSource]) -> Result<Resolved> {
    resolve_under(host, None, sources)
}

/// [`resolve`] for an endpoint `host/prefix`: in each file, an `auths` key `HOST/NAMESPACE`
/// (what `podman login HOST/NAMESPACE` writes) whose NAMESPACE is `prefix` or a path-prefix of it
/// serves, the most specific first, before the key of the whole host; the files are still tried
/// in turn (the first that knows the endpoint wins), as containers/image does. Helpers are asked
/// for the host, as containers/image asks them.
pub fn resolve_under(
    host: &str,
    prefix: Option<&str>,
    sources: &[CredentialSource],
) -> Result<Resolved> {
    let mut resolved = Resolved::default();
    for source in sources {
        if let Some(c) = source.lookup_noting(host, prefix, &mut resolved.skipped_source)? {
            resolved.credentials = Some(c);
            break;
        }
    }
    Ok(resolved)
}

/// The registry host a config key names: `https://host/v1/` and `host` both name `host`. Keys with
/// a path and no scheme (containers' per-namespace entries) name no whole registry.
fn key_host(key: &str) -> Option<String> {
    let (rest, had_scheme) = match key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
    {
        Some(r) => (r, true),
        None => (key, false),
    };
    let host = match rest.split_once('/') {
        Some((h, path)) if had_scheme || path.is_empty() => h,
        Some(_) => return None,
        None => rest,
    };
    Some(canonical_host(host))
}

/// The key docker gives Docker Hub, whatever name it was signed in with: `docker login` stores
/// Hub credentials under it in `auths` and in credential helpers and stores.
pub const DOCKER_HUB_KEY: &str = "https://index.docker.io/v1/";

/// The name a credential helper or store is asked for when `host` (`host[:port]`) needs
/// credentials: [`DOCKER_HUB_KEY`] for any of Docker Hub's names (`docker.io`,
/// `index.docker.io`, `registry-1.docker.io`, in any case), as docker and crane ask; `host` as
/// written for any other registry.
pub fn server_key(host: &str) -> String {
    if canonical_host(host) == "docker.io" {
        DOCKER_HUB_KEY.into()
    } else {
        host.into()
    }
}

/// Docker Hub has several names (with or without its port, 443); the others are themselves, in
/// lower case.
fn canonical_host(host: &str) -> String {
    let host = host.to_ascii_lowercase();
    let name = host
        .strip_suffix(":443")
        .unwrap_or(&host)
        .trim_end_matches('.');
    match name {
        "docker.io" | "index.docker.io" | "registry-1.docker.io" | "registry.hub.docker.com" => {
            "docker.io".into()
        }
        _ => host,
    }
}

fn find<'a>(map: &'a serde_json::Map<String, Value>, host: &str) -> Option<&'a Value> {
    find_key(map, host).map(|k| &map[k])
}

/// The key of `map` that names `host`: docker's own key first (Hub's), then the host as written,
/// then any key naming the same host.
fn find_key<'a>(map: &'a serde_json::Map<String, Value>, host: &str) -> Option<&'a String> {
    let wanted = canonical_host(host);
    let exact = |k: &str| map.get_key_value(k).map(|(k, _)| k);
    exact(&server_key(host))
        .or_else(|| exact(host))
        .or_else(|| {
            map.keys()
                .find(|k| key_host(k).as_deref() == Some(wanted.as_str()))
        })
}

/// The namespace a per-namespace key (`HOST/NAMESPACE`, no scheme) names on `host`, without
/// slashes at its ends; `None` for a key of another host or of a whole registry.
fn key_namespace<'k>(key: &'k str, host: &str) -> Option<&'k str> {
    if key.contains("://") {
        return None;
    }
    let (key_host, namespace) = key.split_once('/')?;
    let namespace = namespace.trim_matches('/');
    (!namespace.is_empty() && canonical_host(key_host) == canonical_host(host)).then_some(namespace)
}

/// The `auths` key of the most specific namespace on `host` that `prefix` is under (the
/// namespace itself or below it, whole path segments only), if any.
fn namespace_key<'a>(
    auths: &'a serde_json::Map<String, Value>,
    host: &str,
    prefix: &str,
) -> Option<&'a String> {
    let prefix = prefix.trim_matches('/');
    auths
        .keys()
        .filter_map(|k| Some((k, key_namespace(k, host)?)))
        .filter(|(_, ns)| {
            prefix
                .strip_prefix(ns)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        })
        .max_by_key(|(_, ns)| ns.len())
        .map(|(k, _)| k)
}

/// Credentials of an `auths` entry: `identitytoken`, else `auth` (base64 `user:password`), else
/// `username` and `password`. An entry with none of them is skipped.
fn entry_credentials(
    entry: &serde_json::Map<String, Value>,
    origin: &str,
) -> std::result::Result<Option<Credentials>, String> {
    let field = |name: &str| -> std::result::Result<Option<&str>, String> {
        match entry.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.is_empty() => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(format!("`{name}` is not a string")),
        }
    };
    if let Some(token) = field("identitytoken")? {
        return Ok(Some(Credentials {
            username: "<token>".into(),
            password: Secret::new(token),
            origin: origin.to_string(),
        }));
    }
    if let Some(auth) = field("auth")? {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(auth.trim())
            .map_err(|_| "`auth` is not base64".to_string())?;
        let text = String::from_utf8(decoded).map_err(|_| "`auth` is not UTF-8".to_string())?;
        return match Credentials::parse(&text, origin) {
            Some(c) => Ok(Some(c)),
            None => Err("`auth` is not base64 of USER:PASSWORD".into()),
        };
    }
    match (field("username")?, field("password")?) {
        (Some(u), Some(p)) => Ok(Some(Credentials {
            username: u.to_string(),
            password: Secret::new(p),
            origin: origin.to_string(),
        })),
        _ => Ok(None),
    }
}

#[derive(serde::Deserialize)]
struct HelperAnswer {
    #[serde(rename = "Username")]
    username: Option<String>,
    #[serde(rename = "Secret")]
    secret: Option<String>,
}

/// What a credential helper gave.
enum Helper {
    /// It ran: the credentials it holds for the host, `None` when it knows none.
    Answered(Option<Credentials>),
    /// It is not on `PATH` (the error says so).
    NotInstalled(Error),
}

/// `docker-credential-<name> get` with the host's [`server_key`] on stdin.
fn run_helper(name: &str, host: &str, origin: &str) -> Result<Helper> {
    let fail = |reason: String| Error::Auth {
        registry: host.to_string(),
        source_tried: origin.to_string(),
        reason,
    };
    if name.contains(['/', '\\']) || name.is_empty() {
        return Err(fail("the helper name must be a plain name".into()));
    }
    let program = format!("docker-credential-{name}");
    let spawned = Command::new(&program)
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match spawned {
        Ok(child) => child,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Helper::NotInstalled(fail(format!(
                "{program} is not installed (not found on PATH)"
            ))))
        }
        Err(e) => return Err(fail(format!("cannot run {program}: {e}"))),
    };
    if let Some(mut stdin) = child.stdin.take() {
        // A helper that exits without reading gives a broken pipe: its exit status says more.
        let _ = stdin.write_all(server_key(host).as_bytes());
    }
    let output = child
        .wait_with_output()
        .map_err(|e| fail(format!("{program} did not finish: {e}")))?;
    if !output.status.success() {
        let said = first_line(&output.stdout, &output.stderr);
        if said.to_ascii_lowercase().contains("credentials not found") {
            return Ok(Helper::Answered(None));
        }
        return Err(fail(format!(
            "{program} failed ({}){}",
            output
                .status
                .code()
                .map(|c| format!("exit {c}"))
                .unwrap_or_else(|| "killed".into()),
            if said.is_empty() {
                String::new()
            } else {
                format!(": {said}")
            }
        )));
    }
    let answer: HelperAnswer = serde_json::from_slice(&output.stdout)
        .map_err(|_| fail(format!("{program} answered something that is not its JSON")))?;
    Ok(Helper::Answered(match (answer.username, answer.secret) {
        (_, None) => None,
        (_, Some(s)) if s.is_empty() => None,
        (user, Some(secret)) => Some(Credentials {
            username: user
                .filter(|u| !u.is_empty())
                .unwrap_or_else(|| "<token>".into()),
            password: Secret::new(secret),
            origin: origin.to_string(),
        }),
    }))
}

/// The first non-empty line a failing helper printed, shortened (helpers print one-line reasons).
fn first_line(stdout: &[u8], stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(if stderr.iter().any(|b| !b.is_ascii_whitespace()) {
        stderr
    } else {
        stdout
    })
    .into_owned();
    let line = text.lines().map(str::trim).find(|l| !l.is_empty());
    crate::digest::truncate(line.unwrap_or(""))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn write(dir: &Path, text: &str) -> PathBuf {
        let p = dir.join("config.json");
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn keys_name_hosts_in_every_docker_spelling() {
        assert_eq!(
            key_host("reg.example:5000").as_deref(),
            Some("reg.example:5000")
        );
        assert_eq!(
            key_host("https://reg.example/v1/").as_deref(),
            Some("reg.example")
        );
        assert_eq!(
            key_host("https://index.docker.io/v1/").as_deref(),
            Some("docker.io")
        );
        assert_eq!(key_host("reg.example/team"), None);
    }

    #[test]
    fn auths_give_basic_credentials_or_identity_tokens() {
        let dir = tempfile::tempdir().unwrap();
        let auth = base64::engine::general_purpose::STANDARD.encode("alice:s3cr:et");
        let p = write(
            dir.path(),
            &format!(
                r#"{{"auths":{{"https://a.example/v1/":{{"auth":"{auth}"}},"b.example":{{"auth":"MDA6","identitytoken":"refresh"}}}}}}"#
            ),
        );
        let source = CredentialSource::DockerConfig(p.clone());
        let a = source.lookup("a.example").unwrap().unwrap();
        assert_eq!(
            (a.username.as_str(), a.password.expose()),
            ("alice", "s3cr:et")
        );
        assert!(a.origin.contains(&p.display().to_string()));
        let b = source.lookup("b.example").unwrap().unwrap();
        assert!(b.is_refresh_token());
        assert_eq!(b.password.expose(), "refresh");
        assert!(source.lookup("c.example").unwrap().is_none());
    }

    #[test]
    fn missing_files_are_skipped_and_malformed_ones_named_without_content() {
        let dir = tempfile::tempdir().unwrap();
        let missing = CredentialSource::DockerConfig(dir.path().join("none.json"));
        assert!(missing.lookup("a.example").unwrap().is_none());
        // Not JSON: passed over, named in the note a later refusal shows.
        let p = write(dir.path(), r#"{"auths":{"a.example":{"auth":"topsecret"#);
        let resolved = resolve("a.example", &[CredentialSource::AuthFile(p)]).unwrap();
        assert!(resolved.credentials.is_none());
        let note = resolved.skipped_source.expect("the file is named");
        assert!(
            note.contains("auth file") && note.contains("not valid JSON"),
            "{note}"
        );
        assert!(!note.contains("topsecret"), "{note}");
        let p = write(
            dir.path(),
            r#"{"auths":{"a.example":{"auth":"!!topsecret"}}}"#,
        );
        let err = CredentialSource::AuthFile(p)
            .lookup("a.example")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("not base64") && !err.contains("topsecret"),
            "{err}"
        );
    }

    #[test]
    fn a_missing_helper_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(
            dir.path(),
            r#"{"credHelpers":{"a.example":"acr-relocate-test-none"}}"#,
        );
        let err = CredentialSource::DockerConfig(p)
            .lookup("a.example")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("docker-credential-acr-relocate-test-none") && err.contains("a.example"),
            "{err}"
        );
    }

    /// Installs `docker-credential-NAME` in `dir`, put first on PATH (each test runs in its own
    /// process): it records the server it is asked for in `dir/asked` and knows none.
    fn recording_helper(dir: &Path, name: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let asked = dir.join("asked");
        let helper = dir.join(format!("docker-credential-{name}"));
        std::fs::write(
            &helper,
            format!(
                "#!/bin/sh\nserver=$(cat)\necho \"$1 $server\" >> '{}'\necho 'credentials not found in native keychain'\nexit 1\n",
                asked.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
        let path = std::env::var_os("PATH").unwrap_or_default();
        let mut dirs = vec![dir.to_path_buf()];
        dirs.extend(std::env::split_paths(&path));
        std::env::set_var("PATH", std::env::join_paths(dirs).unwrap());
        asked
    }

    #[test]
    fn helpers_are_asked_for_docker_hub_under_dockers_key() {
        let dir = tempfile::tempdir().unwrap();
        let asked = recording_helper(dir.path(), "acr-relocate-test-hub");
        for config in [
            r#"{"credsStore":"acr-relocate-test-hub"}"#,
            r#"{"credHelpers":{"docker.io":"acr-relocate-test-hub"}}"#,
        ] {
            let source = CredentialSource::DockerConfig(write(dir.path(), config));
            for host in [
                "docker.io",
                "INDEX.DOCKER.IO",
                "registry-1.docker.io",
                "docker.io:443",
            ] {
                assert!(source.lookup(host).unwrap().is_none(), "{host}");
            }
        }
        let source = CredentialSource::DockerConfig(write(
            dir.path(),
            r#"{"credsStore":"acr-relocate-test-hub"}"#,
        ));
        assert!(source.lookup("reg.example:5000").unwrap().is_none());
        let lines = std::fs::read_to_string(&asked).unwrap();
        let hub = "get https://index.docker.io/v1/\n";
        assert_eq!(lines, format!("{}get reg.example:5000\n", hub.repeat(8)));
    }

    #[test]
    fn docker_hub_credentials_are_found_under_every_spelling_dockers_key_first() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(
            dir.path(),
            r#"{"auths":{"docker.io":{"username":"short","password":"p1"},"https://index.docker.io/v1/":{"username":"docker","password":"p2"}}}"#,
        );
        let source = CredentialSource::DockerConfig(p);
        for host in ["docker.io", "index.docker.io", "Registry-1.Docker.io"] {
            assert_eq!(
                source.lookup(host).unwrap().unwrap().username,
                "docker",
                "{host}"
            );
        }
        let p = write(
            dir.path(),
            r#"{"auths":{"index.docker.io":{"username":"other","password":"p3"}}}"#,
        );
        let source = CredentialSource::AuthFile(p);
        assert_eq!(
            source.lookup("docker.io").unwrap().unwrap().username,
            "other"
        );
    }

    #[test]
    fn the_environments_sources_are_the_containers_auth_files_then_dockers_config() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                vars.iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, v)| std::ffi::OsString::from(v))
            }
        };
        let docker = |p: &str| CredentialSource::DockerConfig(PathBuf::from(p));
        let auth = |p: &str| CredentialSource::AuthFile(PathBuf::from(p));
        // The explicit override takes the place of the runtime directory's file.
        assert_eq!(
            CredentialSource::all_from(env(&[
                ("HOME", "/home/u"),
                ("REGISTRY_AUTH_FILE", "/etc/auth.json"),
                ("XDG_RUNTIME_DIR", "/run/user/1000"),
            ])),
            [
                auth("/etc/auth.json"),
                auth("/home/u/.config/containers/auth.json"),
                docker("/home/u/.docker/config.json"),
            ]
        );
        assert_eq!(
            CredentialSource::all_from(env(&[
                ("HOME", "/home/u"),
                ("XDG_RUNTIME_DIR", "/run/user/1000"),
            ])),
            [
                auth("/run/user/1000/containers/auth.json"),
                auth("/home/u/.config/containers/auth.json"),
                docker("/home/u/.docker/config.json"),
            ]
        );
        assert_eq!(
            CredentialSource::all_from(env(&[
                ("HOME", "/home/u"),
                ("DOCKER_CONFIG", "/dc"),
                ("REGISTRY_AUTH_FILE", ""),
                ("XDG_RUNTIME_DIR", ""),
                ("XDG_CONFIG_HOME", "/cfg"),
            ])),
            [auth("/cfg/containers/auth.json"), docker("/dc/config.json")]
        );
        // One file named twice is read once.
        assert_eq!(
            CredentialSource::all_from(env(&[
                ("REGISTRY_AUTH_FILE", "/cfg/containers/auth.json"),
                ("XDG_CONFIG_HOME", "/cfg"),
            ])),
            [auth("/cfg/containers/auth.json")]
        );
        assert_eq!(CredentialSource::all_from(env(&[])), []);
    }

    #[test]
    fn an_auth_files_credential_helpers_and_store_are_asked() {
        let dir = tempfile::tempdir().unwrap();
        let asked = recording_helper(dir.path(), "acr-relocate-test-authfile");
        for config in [
            r#"{"credHelpers":{"a.example:5000":"acr-relocate-test-authfile"}}"#,
            r#"{"credsStore":"acr-relocate-test-authfile"}"#,
        ] {
            let source = CredentialSource::AuthFile(write(dir.path(), config));
            assert!(source.lookup("a.example:5000").unwrap().is_none());
        }
        let lines = std::fs::read_to_string(&asked).unwrap();
        assert_eq!(lines, "get a.example:5000\n".repeat(2));
    }

    /// The user of the entry `resolve_under` picks for `prefix` in `auths`, or the note it leaves.
    fn user_under(auths: &str, prefix: Option<&str>) -> Result<String, String> {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), &format!(r#"{{"auths":{auths}}}"#));
        let resolved = resolve_under("reg.example", prefix, &[CredentialSource::AuthFile(p)]);
        let resolved = resolved.unwrap();
        match resolved.credentials {
            Some(c) => {
                assert!(c.origin.contains("auth file"), "{}", c.origin);
                Ok(c.username)
            }
            None => Err(resolved.skipped_source.unwrap_or_default()),
        }
    }

    #[test]
    fn the_most_specific_namespace_entry_covering_the_prefix_wins_then_the_hosts() {
        let auths = r#"{"reg.example":{"username":"host","password":"p"},
            "reg.example/team":{"username":"team","password":"p"},
            "reg.example/team/app/":{"username":"app","password":"p"},
            "other.example/team/app/svc":{"username":"other","password":"p"}}"#;
        assert_eq!(user_under(auths, Some("team")).unwrap(), "team");
        assert_eq!(user_under(auths, Some("team/web")).unwrap(), "team");
        assert_eq!(user_under(auths, Some("team/app")).unwrap(), "app");
        assert_eq!(user_under(auths, Some("team/app/svc")).unwrap(), "app");
        // Whole path segments only: `teams` is not under `team`.
        assert_eq!(user_under(auths, Some("teams")).unwrap(), "host");
        assert_eq!(user_under(auths, None).unwrap(), "host");
    }

    #[test]
    fn a_namespace_entry_names_itself_as_the_origin_and_one_not_covering_the_prefix_is_noted() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(
            dir.path(),
            r#"{"auths":{"reg.example/team":{"username":"team","password":"s3cret-team"}}}"#,
        );
        let sources = [CredentialSource::AuthFile(p.clone())];
        let found = resolve_under("reg.example", Some("team"), &sources).unwrap();
        let origin = found.credentials.unwrap().origin;
        assert_eq!(
            origin,
            format!("auth file {}, entry reg.example/team", p.display())
        );
        for prefix in [None, Some("other")] {
            let note = user_under(
                r#"{"reg.example/team":{"username":"team","password":"s3cret-team"}}"#,
                prefix,
            )
            .unwrap_err();
            assert!(
                note.contains("credentials only for reg.example/team") && !note.contains("s3cret"),
                "{note}"
            );
        }
    }

    #[test]
    fn the_first_source_that_knows_the_host_wins() {
        let dir = tempfile::tempdir().unwrap();
        let first = dir.path().join("first.json");
        std::fs::write(
            &first,
            r#"{"auths":{"b.example":{"username":"u1","password":"p1"}}}"#,
        )
        .unwrap();
        let second = dir.path().join("second.json");
        std::fs::write(
            &second,
            r#"{"auths":{"a.example":{"username":"u2","password":"p2"},"b.example":{"username":"u3","password":"p3"}}}"#,
        )
        .unwrap();
        let sources = [
            CredentialSource::DockerConfig(first),
            CredentialSource::AuthFile(second),
        ];
        assert_eq!(
            resolve("a.example", &sources)
                .unwrap()
                .credentials
                .unwrap()
                .username,
            "u2"
        );
        assert_eq!(
            resolve("b.example", &sources)
                .unwrap()
                .credentials
                .unwrap()
                .username,
            "u1"
        );
        assert!(resolve("c.example", &sources)
            .unwrap()
            .credentials
            .is_none());
    }
}
