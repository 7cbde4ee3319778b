//! Extra tier: the bench harness of `../shared/bench` (populate.py content, verify.py verdicts).
//! Run by `.ci/run` with `cargo test -- --ignored`.

use std::path::PathBuf;
use std::process::Command;

use crate::util::*;

fn bench() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/bench")
}

fn populate(registry: &Registry, dir: &std::path::Path) -> serde_json::Value {
    let expected = dir.join("expected.json");
    let out = Command::new("python3")
        .arg(bench().join("populate.py"))
        .args([
            "--registry",
            &format!("127.0.0.1:{}", registry.port),
            "--profile",
            "small",
            "--seed",
            "3",
        ])
        .args(["--repos", "12", "--many-tags", "30", "--out"])
        .arg(&expected)
        .env("BENCH_CACHE", dir.join("cache"))
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&std::fs::read(expected).unwrap()).unwrap()
}

fn bench_verify(src: &Registry, dst: &Registry, expected: &std::path::Path) -> (bool, String) {
    let out = Command::new("python3")
        .arg(bench().join("verify.py"))
        .args([
            &format!("127.0.0.1:{}", src.port),
            &format!("127.0.0.1:{}", dst.port),
            "--expected",
        ])
        .arg(expected)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
#[ignore = "extra tier: needs ../shared/bench"]
fn populate_content_copies_verifies_and_inventories_like_the_bench_says() {
    let work = tempfile::tempdir().unwrap();
    let src = Registry::start();
    let expected = populate(&src, work.path());
    let dst = Registry::start();
    assert_success(&run(&["copy", "-q", &src.url(), &dst.url()]));
    let (ok, line) = bench_verify(&src, &dst, &work.path().join("expected.json"));
    assert!(ok, "{line}");
    // Our verify agrees with verify.py.
    assert_success(&run(&["verify", "--deep", &src.url(), &dst.url()]));
    // inventory totals equal populate's.
    let inv = json(&run(&["inventory", "--json", &src.url()]));
    assert_eq!(inv["totals"]["unique_blobs"], expected["unique_blobs"]);
    assert_eq!(inv["totals"]["unique_bytes"], expected["unique_blob_bytes"]);
    assert_eq!(inv["totals"]["tags"], expected["tags"]);
    // Damage: both checkers fail.
    let first_repo = expected["repos"]
        .as_object()
        .unwrap()
        .keys()
        .next()
        .unwrap()
        .clone();
    let tags = std::fs::read_dir(dst.repository_dir(&first_repo).join("_manifests/tags")).unwrap();
    let tag = tags.into_iter().next().unwrap().unwrap().path();
    std::fs::remove_dir_all(tag).unwrap();
    let (ok, line) = bench_verify(&src, &dst, &work.path().join("expected.json"));
    assert!(!ok, "{line}");
    assert_eq!(
        run(&["verify", &src.url(), &dst.url()]).status.code(),
        Some(1)
    );
}

#[test]
#[ignore = "extra tier: needs ../shared/bench"]
fn populate_content_round_trips_through_a_layout() {
    let work = tempfile::tempdir().unwrap();
    let src = Registry::start();
    let _ = populate(&src, work.path());
    let layout = format!("oci:{}", work.path().join("carry").display());
    assert_success(&run(&["copy", "-q", &src.url(), &layout]));
    let dst = Registry::start();
    assert_success(&run(&["copy", "-q", &layout, &dst.url()]));
    let (ok, line) = bench_verify(&src, &dst, &work.path().join("expected.json"));
    assert!(ok, "{line}");
}
