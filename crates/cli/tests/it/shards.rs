//! `--shard K/N`: workers run as separate processes cover every repository exactly once; and the
//! Kubernetes Job that runs them has the expected shape.

use std::collections::BTreeSet;
use std::process::{Command, Stdio};

use crate::plan::{config, plan};
use crate::util::*;

#[test]
fn apply_shards_of_1_3_and_7_cover_every_repository_once_and_verify() {
    let (src, expected) = sample_registry(14);
    let all: BTreeSet<String> = expected.tags.keys().cloned().collect();
    for n in [1u32, 3, 7] {
        let dst = Registry::start();
        let dir = tempfile::tempdir().unwrap();
        let cfg = config(dir.path(), &src.url(), &dst.url(), "");
        let plan_path = plan(dir.path(), &cfg);
        let children: Vec<_> = (0..n)
            .map(|k| {
                Command::new(env!("CARGO_BIN_EXE_acr-relocate"))
                    .args([
                        "apply",
                        "-q",
                        "--json",
                        "--shard",
                        &format!("{k}/{n}"),
                        plan_path.to_str().unwrap(),
                    ])
                    .stdin(Stdio::null())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        let mut seen: Vec<String> = Vec::new();
        for child in children {
            let out = child.wait_with_output().unwrap();
            assert_success(&out);
            let s = json(&out);
            let share: Vec<String> = s["share"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r.as_str().unwrap().to_string())
                .collect();
            let copied: Vec<&str> = s["copied"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r.as_str().unwrap())
                .collect();
            assert_eq!(copied, share, "a fresh worker copies its whole share");
            if n > 1 {
                let global = s["steps"].as_array().unwrap()[0]["status"].clone();
                assert_eq!(global, "skipped", "{s}");
            }
            seen.extend(share);
        }
        let unique: BTreeSet<String> = seen.iter().cloned().collect();
        assert_eq!(
            unique.len(),
            seen.len(),
            "{n} shards: a repository taken twice"
        );
        assert_eq!(unique, all, "{n} shards: every repository taken");
        assert_holds(&open(&dst.url()), &expected.tags, None);
        assert_success(&run(&["verify", "--deep", &src.url(), &dst.url()]));
        // The final verify of the Kubernetes layout: only the plan's verify step.
        let out = run(&[
            "apply",
            "-q",
            "--json",
            "--step",
            "verify",
            plan_path.to_str().unwrap(),
        ]);
        assert_success(&out);
    }
}

#[test]
fn copy_shards_as_separate_processes_make_a_verified_target() {
    let (src, expected) = sample_registry(10);
    let dst = Registry::start();
    let children: Vec<_> = (0..3)
        .map(|k| {
            Command::new(env!("CARGO_BIN_EXE_acr-relocate"))
                .args([
                    "copy",
                    "-q",
                    "--shard",
                    &format!("{k}/3"),
                    &src.url(),
                    &dst.url(),
                ])
                .stdin(Stdio::null())
                .output()
        })
        .collect();
    for out in children {
        assert_success(&out.unwrap());
    }
    assert_holds(&open(&dst.url()), &expected.tags, None);
    assert_success(&run(&["verify", "--deep", &src.url(), &dst.url()]));
}

fn get<'a>(v: &'a serde_yaml::Value, path: &[&str]) -> &'a serde_yaml::Value {
    path.iter().fold(v, |v, k| {
        v.get(*k)
            .unwrap_or_else(|| panic!("missing `{k}` in {path:?}"))
    })
}

#[test]
fn the_kubernetes_job_is_an_indexed_job_of_sharded_workers_and_a_final_verify() {
    use serde::Deserialize;
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../deploy/kubernetes/relocate-job.yaml"
    );
    let text = std::fs::read_to_string(path).unwrap();
    let docs: Vec<serde_yaml::Value> = serde_yaml::Deserializer::from_str(&text)
        .map(|d| serde_yaml::Value::deserialize(d).unwrap())
        .collect();
    assert!(docs.len() >= 3);
    for d in &docs {
        for key in ["apiVersion", "kind"] {
            assert!(get(d, &[key]).as_str().is_some(), "{key}: {d:?}");
        }
        let name = get(d, &["metadata", "name"]).as_str().unwrap();
        assert!(
            name.len() <= 63
                && name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
            "{name} is not a DNS label"
        );
        let step = get(d, &["metadata", "labels", "acr-relocate/step"])
            .as_str()
            .unwrap();
        assert!(["workers", "verify"].contains(&step));
    }
    let jobs: Vec<&serde_yaml::Value> = docs.iter().filter(|d| d["kind"] == "Job").collect();
    assert_eq!(jobs.len(), 2);
    for job in &jobs {
        assert_eq!(job["apiVersion"], "batch/v1");
        let spec = get(job, &["spec", "template", "spec"]);
        assert!(["Never", "OnFailure"].contains(&spec["restartPolicy"].as_str().unwrap()));
        let container = &get(spec, &["containers"])[0];
        assert!(container["image"].as_str().is_some());
        assert_eq!(container["args"][0], "apply");
        // Every volume mounted exists; credentials come from a Secret (or workload identity).
        let volumes: BTreeSet<&str> = spec["volumes"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|v| v["name"].as_str().unwrap())
            .collect();
        for m in container["volumeMounts"].as_sequence().unwrap() {
            assert!(volumes.contains(m["name"].as_str().unwrap()));
        }
        let env = container["env"].as_sequence().unwrap();
        for var in ["ACR_RELOCATE_SRC_CREDS", "ACR_RELOCATE_DST_CREDS"] {
            let e = env.iter().find(|e| e["name"] == var).unwrap();
            assert!(e["valueFrom"]["secretKeyRef"]["name"].as_str().is_some());
        }
        assert_eq!(
            get(
                job,
                &[
                    "spec",
                    "template",
                    "metadata",
                    "labels",
                    "azure.workload.identity/use"
                ]
            ),
            "true"
        );
    }
    let workers = jobs
        .iter()
        .find(|j| j["metadata"]["labels"]["acr-relocate/step"] == "workers")
        .unwrap();
    assert_eq!(workers["spec"]["completionMode"], "Indexed");
    let n = workers["spec"]["completions"].as_u64().unwrap();
    assert_eq!(workers["spec"]["parallelism"].as_u64(), Some(n));
    let container = &workers["spec"]["template"]["spec"]["containers"][0];
    let args: Vec<&str> = container["args"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    let shard = args[args.iter().position(|a| *a == "--shard").unwrap() + 1];
    assert_eq!(shard, format!("$(JOB_COMPLETION_INDEX)/{n}"));
    let index = container["env"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "JOB_COMPLETION_INDEX")
        .unwrap();
    assert!(index["valueFrom"]["fieldRef"]["fieldPath"]
        .as_str()
        .unwrap()
        .contains("job-completion-index"));
    let verify = jobs
        .iter()
        .find(|j| j["metadata"]["labels"]["acr-relocate/step"] == "verify")
        .unwrap();
    let args: Vec<&str> = verify["spec"]["template"]["spec"]["containers"][0]["args"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert!(
        args.windows(2).any(|w| w == ["--step", "verify"]),
        "{args:?}"
    );
    assert!(!args.contains(&"--shard"));
    // The arguments parse as the real binary's `apply` (the plan file aside).
    let out = run(&["apply", "--help"]);
    for flag in ["--shard", "--journal", "--step"] {
        assert!(stdout(&out).contains(flag), "{flag}");
    }
}

#[test]
fn a_tag_that_matches_in_another_shard_is_not_warned_about_as_matching_nothing() {
    use acr_relocate::walk::shard_of;
    // Two tags, each found in repositories of one shard only.
    let (dir, expected) = sample_layout(6, 29);
    let only_in = |shard: u32| {
        expected
            .tags
            .iter()
            .filter(|(repo, _)| shard_of(repo, 2) == shard)
            .flat_map(|(_, tags)| tags.keys())
            .find(|tag| {
                expected
                    .tags
                    .iter()
                    .all(|(repo, tags)| shard_of(repo, 2) == shard || !tags.contains_key(*tag))
            })
            .cloned()
            .expect("a tag of one shard only")
    };
    let (first, second) = (only_in(0), only_in(1));
    let source = oci(dir.path());
    for k in 0..2 {
        let target = tempfile::tempdir().unwrap();
        let target = format!("oci:{}", target.path().join("copy").display());
        let shard = format!("{k}/2");
        let out = run(&[
            "copy",
            "--dry-run",
            "--shard",
            &shard,
            "--tag",
            &first,
            "--tag",
            &second,
            &source,
            &target,
        ]);
        assert_success(&out);
        let err = stderr(&out);
        assert!(!err.contains("matched nothing"), "shard {shard}: {err}");
    }
    // Without a shard, a misspelt one among them is still named.
    let target = tempfile::tempdir().unwrap();
    let target = format!("oci:{}", target.path().join("copy").display());
    let out = run(&[
        "copy",
        "--dry-run",
        "--tag",
        &first,
        "--tag",
        "lastest",
        &source,
        &target,
    ]);
    assert_success(&out);
    assert!(
        stderr(&out).contains("--tag 'lastest' matched nothing in SOURCE"),
        "{}",
        stderr(&out)
    );
}
