//! How a registry is reached: through the proxy the environment names (never for a registry on
//! this machine), with a client certificate where the registry requires mutual TLS, and what is
//! said when the proxy or the registry refuses.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use crate::support::http::{Request, Response, Server};
use crate::support::mount_proxy::forward;
use crate::support::pki::Tls;
use crate::support::run_in;
use crate::util::{assert_exit_code, assert_success, stderr, Registry};

/// A Distribution registry over TLS that asks every client for a certificate its CA signed.
fn mutual_tls_registry(tls: &Tls) -> Registry {
    Registry::start_configured(&format!(
        "  tls:\n    certificate: {}\n    key: {}\n    clientcas:\n      - {}\n",
        tls.cert.display(),
        tls.key.display(),
        tls.ca.display()
    ))
}

#[test]
fn a_registry_that_requires_a_client_certificate_says_so_and_takes_the_one_given() {
    let home = tempfile::tempdir().unwrap();
    let tls = Tls::generate(&home.path().join("tls"));
    let registry = mutual_tls_registry(&tls);
    let endpoint = format!("127.0.0.1:{}", registry.port);
    let ca = tls.ca.to_str().unwrap();
    // `inventory` with the CA and a client certificate and key.
    let inventory_with = |cert: &std::path::Path, key: &std::path::Path| {
        run_in(
            home.path(),
            &[
                "inventory",
                "--src-ca-cert",
                ca,
                "--src-cert",
                cert.to_str().unwrap(),
                "--src-key",
                key.to_str().unwrap(),
                &endpoint,
            ],
            &[],
            None,
        )
    };

    let out = run_in(
        home.path(),
        &["inventory", "--src-ca-cert", ca, &endpoint],
        &[],
        None,
    );
    assert_exit_code(&out, 2);
    let err = stderr(&out);
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    // The registry's alert (bad_certificate) is said when it reaches this side; over HTTP/2 the
    // connection is mostly closed before it does.
    assert!(
        err.contains("the registry wants a client certificate")
            || err.contains("whether it wants a client certificate"),
        "{err}"
    );
    assert!(err.contains("--src-cert FILE --src-key FILE"), "{err}");
    assert!(!err.contains("not trusted"), "{err}");

    let out = inventory_with(&tls.client_cert, &tls.client_key);
    assert_success(&out);

    // A key that belongs to another certificate is named.
    let out = inventory_with(&tls.client_cert, &tls.key);
    assert_exit_code(&out, 2);
    assert!(
        stderr(&out).contains("cannot be used together"),
        "{}",
        stderr(&out)
    );
    // A key that is no key is named before any connection.
    let out = inventory_with(&tls.client_cert, &tls.ca);
    assert_exit_code(&out, 2);
    assert!(
        stderr(&out).contains("holds no PEM private key"),
        "{}",
        stderr(&out)
    );
}

/// A forward proxy for plain HTTP in front of `upstream`, whatever host a request names,
/// counting the requests it carries.
fn forward_proxy(upstream: u16) -> (Server, Arc<AtomicUsize>) {
    let carried = Arc::new(AtomicUsize::new(0));
    let count = carried.clone();
    let server = Server::start_raw(move |request: &Request| {
        count.fetch_add(1, Ordering::Relaxed);
        // `GET http://host:port/v2/… HTTP/1.1`: the path after the authority.
        let path = request
            .path
            .strip_prefix("http://")
            .and_then(|rest| rest.find('/').map(|i| rest[i..].to_string()))
            .unwrap_or_else(|| request.path.clone());
        let target = match request.query.is_empty() {
            true => path,
            false => format!("{path}?{}", request.query),
        };
        forward(upstream, request, &target)
    });
    (server, carried)
}

#[test]
fn a_registry_on_this_machine_is_reached_directly_and_another_through_the_proxy() {
    let home = tempfile::tempdir().unwrap();
    let registry = Registry::start();
    assert_success(&run_in(
        home.path(),
        &["sample", &registry.url()],
        &[],
        None,
    ));
    let (proxy, carried) = forward_proxy(registry.port);
    let proxy_url = format!("http://127.0.0.1:{}", proxy.port);

    // On this machine: the proxy is not asked (it could not reach this machine's registry).
    let out = run_in(
        home.path(),
        &["inventory", &registry.url()],
        &[("HTTP_PROXY", &proxy_url), ("http_proxy", &proxy_url)],
        None,
    );
    assert_success(&out);
    assert_eq!(carried.load(Ordering::Relaxed), 0);

    // Elsewhere (a name only the proxy knows): through the proxy.
    let out = run_in(
        home.path(),
        &["inventory", "http://registry.invalid:5000"],
        &[("HTTP_PROXY", &proxy_url)],
        None,
    );
    assert_success(&out);
    assert!(carried.load(Ordering::Relaxed) > 0);

    // Unless NO_PROXY lists it.
    let out = run_in(
        home.path(),
        &["inventory", "http://registry.invalid:5000"],
        &[("HTTP_PROXY", &proxy_url), ("NO_PROXY", ".invalid")],
        None,
    );
    assert_exit_code(&out, 2);
    assert!(
        stderr(&out).contains("does not resolve"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_proxy_that_refuses_or_asks_for_credentials_is_named_not_the_registry() {
    let home = tempfile::tempdir().unwrap();
    // Nothing listens on the proxy's port.
    let dead = crate::util::free_port();
    let out = run_in(
        home.path(),
        &["inventory", "http://registry.invalid:5000"],
        &[(
            "HTTP_PROXY",
            &format!("http://user:s3cret@127.0.0.1:{dead}"),
        )],
        None,
    );
    assert_exit_code(&out, 2);
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "connection refused by the proxy 127.0.0.1:{dead} (from $HTTP_PROXY)"
        )) && err.contains("add `registry.invalid` to NO_PROXY"),
        "{err}"
    );
    assert!(!err.contains("s3cret"), "{err}");

    let wants_credentials = Server::start_raw(|_: &Request| {
        Response::new(407, "").header("Proxy-Authenticate", "Basic realm=\"corp\"")
    });
    let out = run_in(
        home.path(),
        &["inventory", "http://registry.invalid:5000"],
        &[(
            "HTTP_PROXY",
            &format!("http://127.0.0.1:{}", wants_credentials.port),
        )],
        None,
    );
    assert_exit_code(&out, 2);
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "the proxy 127.0.0.1:{} (from $HTTP_PROXY) asks for credentials (HTTP 407)",
            wants_credentials.port
        )),
        "{err}"
    );
}

#[test]
fn a_registry_failing_at_start_is_named_with_its_side_and_not_blamed_on_the_credentials() {
    let home = tempfile::tempdir().unwrap();
    let failing = Server::start_raw(|_: &Request| {
        Response::json(
            500,
            &serde_json::json!({"errors": [{"code": "UNKNOWN", "message": "boom"}]}),
        )
    });
    let (src, _) = crate::util::sample_layout(1, 2);
    let out = run_in(
        home.path(),
        &[
            "copy",
            &crate::util::oci(src.path()),
            &format!("http://127.0.0.1:{}", failing.port),
        ],
        &[],
        None,
    );
    assert_exit_code(&out, 2);
    let err = stderr(&out);
    assert!(
        err.starts_with(&format!(
            "error: TARGET 127.0.0.1:{}: the registry is failing (GET http://127.0.0.1:{}/v2/: HTTP 500 UNKNOWN: boom, after",
            failing.port, failing.port
        )),
        "{err}"
    );
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
}

#[test]
fn a_ca_file_that_is_missing_or_holds_no_certificate_is_named_with_its_flag() {
    let home = tempfile::tempdir().unwrap();
    let registry = Registry::start();
    let not_pem = home.path().join("notes.txt");
    std::fs::write(&not_pem, "not a certificate\n").unwrap();
    let missing = home.path().join("missing.pem");
    for (file, said) in [
        (&not_pem, "holds no PEM certificate"),
        (&missing, "cannot be read"),
    ] {
        let out = run_in(
            home.path(),
            &[
                "inventory",
                "--src-ca-cert",
                file.to_str().unwrap(),
                &registry.url(),
            ],
            &[],
            None,
        );
        assert_exit_code(&out, 2);
        let err = stderr(&out);
        assert!(
            err.contains(&format!("--src-ca-cert {}: {said}", file.display())),
            "{err}"
        );
    }
}
