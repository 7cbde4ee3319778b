//! Endpoints pasted from peer tools: refused with the reason that fits what was written, one
//! line, exit 2; schemes in any case are read.

use crate::util::*;

fn refused(endpoint: &str) -> String {
    let out = run(&["inventory", endpoint]);
    assert_exit_code(&out, 2);
    let err = stderr(&out);
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    err
}

#[test]
fn skopeo_forms_are_refused_with_what_to_write_instead() {
    let err = refused("docker://127.0.0.1:15001/svc2");
    assert!(
        err.contains(
            "write `127.0.0.1:15001 --repo svc2` (or `http://127.0.0.1:15001 --repo svc2` for plain HTTP"
        ),
        "{err}"
    );
    for (endpoint, transport) in [
        ("docker-archive:da.tar", "docker-archive"),
        ("docker-daemon:alpine:latest", "docker-daemon"),
        ("dir:/tmp/x", "dir"),
        ("containers-storage:alpine", "containers-storage"),
    ] {
        let err = refused(endpoint);
        assert!(
            err.contains(&format!("skopeo's `{transport}:` transport is not read"))
                && err.contains(&format!("skopeo copy {endpoint} oci:DIR:REPOSITORY:TAG")),
            "{err}"
        );
    }
    assert!(refused("ftp://x").contains("`oci:` and `oci-archive:` are understood"));
}

#[test]
fn a_scheme_in_capitals_is_read() {
    let (registry, _) = sample_registry(1);
    let upper = registry.url().replacen("http://", "HTTP://", 1);
    assert_success(&run(&["inventory", &upper]));
    let (dir, _) = sample_layout(1, 1);
    let upper = oci(dir.path()).replacen("oci:", "OCI:", 1);
    assert_success(&run(&["inventory", &upper]));
}
