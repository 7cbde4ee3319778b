//! The README's promises: its first set-up command (the main job on a local default) works as
//! written on the committed sample, and the committed sample is what `sample` makes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::util::{assert_success, stdout};

/// The repository's root (the CLI crate sits two levels below it).
fn repository_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("crates/cli sits two levels below the root")
        .to_path_buf()
}

/// The README's set-up command that runs the main job: the fenced line that copies the sample.
fn readme_main_job() -> String {
    let readme = std::fs::read_to_string(repository_root().join("README.md")).unwrap();
    readme
        .lines()
        .find(|line| line.starts_with("cargo run --release -- copy oci:examples/sample-layout"))
        .expect("the README's set-up has the command that copies examples/sample-layout")
        .to_string()
}

/// Each `cargo run --release -- ARGS` of a `&&` chain, as the binary's arguments.
fn binary_invocations(line: &str) -> Vec<Vec<String>> {
    line.split("&&")
        .map(|step| {
            let args = step
                .trim()
                .strip_prefix("cargo run --release -- ")
                .unwrap_or_else(|| {
                    panic!(
                        "a step of the README's command is not `cargo run --release -- …`: {step}"
                    )
                });
            args.split_whitespace().map(str::to_string).collect()
        })
        .collect()
}

/// Runs the binary in the repository's root, as the README's reader does.
fn run_in_root(args: &[String]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_acr-relocate"))
        .args(args)
        .current_dir(repository_root())
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// Every file under `root`, by its path relative to `root`, with its bytes.
fn tree(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                let bytes = std::fs::read(&path).unwrap();
                files.insert(path.strip_prefix(root).unwrap().to_path_buf(), bytes);
            }
        }
    }
    files
}

#[test]
fn the_readme_main_job_copies_the_committed_sample_and_proves_the_copy() {
    let out_dir = tempfile::tempdir().unwrap();
    let target = out_dir.path().join("relocated");
    let target = format!("oci:{}", target.display());
    let steps = binary_invocations(&readme_main_job());
    assert_eq!(steps.len(), 2, "copy, then verify: {steps:?}");
    assert_eq!(steps[0][0], "copy");
    assert_eq!(steps[1][..2], ["verify", "--deep"]);
    for step in steps {
        // The README writes to /tmp/relocated; the test writes to its own directory.
        let args: Vec<String> = step
            .into_iter()
            .map(|arg| {
                if arg == "oci:/tmp/relocated" {
                    target.clone()
                } else {
                    arg
                }
            })
            .collect();
        assert!(
            args.contains(&target),
            "the README's target is oci:/tmp/relocated: {args:?}"
        );
        let out = run_in_root(&args);
        assert_success(&out);
    }
    // The copy holds every tag of the sample, digest for digest.
    let again = run_in_root(&[
        "verify".into(),
        "--json".into(),
        "oci:examples/sample-layout".into(),
        target,
    ]);
    assert_success(&again);
    let report: serde_json::Value = serde_json::from_slice(&again.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", stdout(&again)));
    assert!(report["tags"].as_u64().unwrap() > 0, "{report}");
    assert_eq!(report["tags_ok"], report["tags"], "{report}");
    for gap in ["missing", "different", "broken", "errors"] {
        assert_eq!(report[gap], serde_json::json!([]), "{gap}: {report}");
    }
}

#[test]
fn the_committed_sample_is_what_the_sample_command_makes() {
    // scripts/make-sample.sh's arguments: a re-run must change nothing.
    let script = std::fs::read_to_string(repository_root().join("scripts/make-sample.sh")).unwrap();
    let line = script
        .lines()
        .find(|l| l.contains("-- sample oci:examples/sample-layout"))
        .expect("make-sample.sh runs `sample oci:examples/sample-layout`");
    let options: Vec<String> = line
        .split("oci:examples/sample-layout")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .map(str::to_string)
        .collect();
    let made = tempfile::tempdir().unwrap();
    let mut args = vec![
        "sample".to_string(),
        format!("oci:{}", made.path().join("s").display()),
    ];
    args.extend(options);
    assert_success(&run_in_root(&args));
    let committed = tree(&repository_root().join("examples/sample-layout"));
    let fresh = tree(&made.path().join("s"));
    assert_eq!(
        committed.keys().collect::<Vec<_>>(),
        fresh.keys().collect::<Vec<_>>(),
        "examples/sample-layout differs from what scripts/make-sample.sh makes: run it again"
    );
    for (path, bytes) in &committed {
        assert!(
            fresh[path] == *bytes,
            "{} differs from what scripts/make-sample.sh makes: run it again",
            path.display()
        );
    }
}
