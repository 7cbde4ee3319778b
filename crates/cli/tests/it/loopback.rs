//! Registries on this machine: two loopback addresses on one port are two registries to a copy
//! (an SSH tunnel per registry), and may be one to a deletion (one registry listening on every
//! address answers on both).

use crate::util::*;

#[test]
fn a_copy_to_another_loopback_address_on_the_same_port_is_not_refused_as_its_source() {
    let (registry, _) = sample_registry(1);
    let port = registry.port;
    let out = run(&[
        "copy",
        "-q",
        &format!("http://127.0.0.1:{port}"),
        &format!("http://127.0.0.2:{port}/mirror"),
    ]);
    // Nothing listens on 127.0.0.2: the copy got as far as opening the target.
    assert_exit_code(&out, 2);
    let err = stderr(&out);
    assert!(
        err.contains(&format!("TARGET 127.0.0.2:{port}: connection refused")),
        "{err}"
    );
    assert!(!err.contains("same repositories"), "{err}");
}

#[test]
fn a_copy_between_localhost_and_127_0_0_1_on_one_port_is_refused() {
    let (registry, _) = sample_registry(1);
    let port = registry.port;
    let out = run(&[
        "copy",
        "-q",
        &format!("http://localhost:{port}"),
        &format!("http://127.0.0.1:{port}/mirror"),
    ]);
    assert_exit_code(&out, 2);
    let err = stderr(&out);
    assert!(
        err.contains("names the same repositories as the source"),
        "{err}"
    );
}

#[test]
fn delete_source_verified_against_another_loopback_address_on_the_same_port_is_refused() {
    let (registry, _) = sample_registry(1);
    let port = registry.port;
    let source = format!("http://127.0.0.1:{port}");
    let target = format!("http://127.0.0.2:{port}");
    let out = run(&[
        "delete-source",
        &source,
        "--verified-against",
        &target,
        "--confirm",
        &source,
    ]);
    assert_exit_code(&out, 2);
    let err = stderr(&out);
    assert!(err.contains("same repositories of one registry"), "{err}");
    assert!(err.contains("nothing deleted"), "{err}");
}
