//! Extra tier: golden tests and schema validation on the shared corpus (`../shared/corpus/arm`).
//!
//! Each corpus file is rewritten to `relocatedacr01` in `westeurope`. The output and the findings
//! (or the one-line error) are compared with `tests/golden/<stem>.out.json` and
//! `<stem>.findings.json`, which were reviewed by hand; `UPDATE_GOLDEN=1` rewrites them.

use crate::util::*;
use acr_template::{rewrite_template, RewriteOptions, TemplateInput};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

const NEW: &str = "relocatedacr01";
const REGION: &str = "westeurope";

fn shared() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared")
}

fn corpus_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(shared().join("corpus/arm"))
        .expect("../shared/corpus/arm is there")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
}

fn options() -> RewriteOptions {
    RewriteOptions {
        name: NEW.into(),
        location: REGION.into(),
        ..Default::default()
    }
}

fn golden(stem: &str, ext: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(format!("{stem}.{ext}"))
}

fn check_golden(path: &Path, actual: &str, failures: &mut Vec<String>) {
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(path, actual).unwrap();
        return;
    }
    match std::fs::read_to_string(path) {
        Ok(expected) if expected == actual => {}
        Ok(_) => failures.push(format!(
            "{} differs (UPDATE_GOLDEN=1 to review and accept)",
            path.display()
        )),
        Err(_) => failures.push(format!(
            "{} is missing (UPDATE_GOLDEN=1 to create it)",
            path.display()
        )),
    }
}

/// Rewrites every corpus file: (stem, input path, output text) for those that succeed.
fn rewrite_all(failures: &mut Vec<String>) -> Vec<(String, PathBuf, String)> {
    let mut done = Vec::new();
    for path in corpus_files() {
        let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
        let bytes = std::fs::read(&path).unwrap();
        let label = format!("{stem}.json");
        let result = TemplateInput::from_bytes(&label, &bytes)
            .and_then(|i| rewrite_template(&i, &options()));
        match result {
            Ok(out) => {
                let findings =
                    serde_json::json!({"old_name": out.old_name, "findings": out.findings});
                check_golden(
                    &golden(&stem, "findings.json"),
                    &(serde_json::to_string_pretty(&findings).unwrap() + "\n"),
                    failures,
                );
                check_golden(&golden(&stem, "out.json"), &out.template, failures);
                if let Some(old) = &out.old_name {
                    if contains_word(&out.template, old) {
                        failures.push(format!("{stem}: the old name {old} survives in the output"));
                    }
                }
                for loc in registry_locations(&json(&out.template)) {
                    let expression = loc.starts_with('[');
                    if !expression && acr_template::norm_region(&loc) != REGION {
                        failures.push(format!("{stem}: location literal {loc} is not {REGION}"));
                    }
                }
                done.push((stem, path, out.template));
            }
            Err(e) => {
                let doc = serde_json::json!({"error": e.to_string()});
                check_golden(
                    &golden(&stem, "findings.json"),
                    &(serde_json::to_string_pretty(&doc).unwrap() + "\n"),
                    failures,
                );
            }
        }
    }
    done
}

#[test]
#[ignore = "extra tier: needs ../shared"]
fn corpus_outputs_and_findings_match_the_reviewed_golden_files() {
    let mut failures = Vec::new();
    let done = rewrite_all(&mut failures);
    assert!(
        done.len() >= 15,
        "only {} corpus files rewritten",
        done.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Runs the validator on files; returns, per file, `None` when valid or the set of reasons.
fn validate(python: &str, files: &[PathBuf]) -> Vec<Option<BTreeSet<String>>> {
    let script = shared().join("specs/tools/validate_arm.py");
    let out = std::process::Command::new(python)
        .arg(&script)
        .arg("--fold-param-types")
        .args(files)
        .output()
        .expect("the validator runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.code().is_some_and(|c| c <= 1),
        "validator failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut result = Vec::new();
    for f in files {
        let head = format!("{}: ", f.display());
        let start = text
            .find(&head)
            .unwrap_or_else(|| panic!("no verdict for {}", f.display()));
        let rest = &text[start + head.len()..];
        if rest.starts_with("valid") {
            result.push(None);
            continue;
        }
        let mut reasons = BTreeSet::new();
        for line in rest.lines().skip(1).take_while(|l| l.starts_with("  ")) {
            // "  at /resources/3/properties: message [schema]": keep the message with the path
            // indexes removed, since removals shift resource positions.
            let line = line.trim();
            let (at, msg) = line.split_once(": ").unwrap_or(("", line));
            let at: String = at.chars().filter(|c| !c.is_ascii_digit()).collect();
            reasons.insert(format!("{at}: {msg}"));
        }
        if reasons.is_empty() {
            reasons.insert(rest.lines().next().unwrap_or("").to_string());
        }
        result.push(Some(reasons));
    }
    result
}

/// Every rewritten corpus template validates against the official ARM schemas. Some inputs do
/// not validate to begin with (languageVersion 2.0 at the top level, resources without a local
/// schema such as Microsoft.Insights/diagnosticSettings or Microsoft.Storage): for those the
/// output must fail for no reason the input did not already fail for.
#[test]
#[ignore = "extra tier: needs ../shared"]
fn corpus_outputs_validate_against_the_official_schemas() {
    let python = std::env::var("ACR_RELOCATE_JSONSCHEMA_PYTHON")
        .expect("set ACR_RELOCATE_JSONSCHEMA_PYTHON to a python with the jsonschema package");
    let mut ignored = Vec::new();
    let done = rewrite_all(&mut ignored);
    let dir = tempfile::tempdir().unwrap();
    let mut inputs = Vec::new();
    let mut outputs = Vec::new();
    for (stem, input, text) in &done {
        let out = dir.path().join(format!("{stem}.json"));
        std::fs::write(&out, text).unwrap();
        // The validator reads strict JSON: comments in inputs and outputs are stripped first.
        let inp = dir.path().join(format!("{stem}.input.json"));
        std::fs::write(
            &inp,
            serde_json::to_string(&json(&std::fs::read_to_string(input).unwrap())).unwrap(),
        )
        .unwrap();
        std::fs::write(&out, serde_json::to_string(&json(text)).unwrap()).unwrap();
        inputs.push(inp);
        outputs.push(out);
    }
    let before = validate(&python, &inputs);
    let after = validate(&python, &outputs);
    let mut failures = Vec::new();
    for (i, (stem, _, _)) in done.iter().enumerate() {
        match (&before[i], &after[i]) {
            (_, None) => {}
            (None, Some(errs)) => {
                failures.push(format!("{stem}: input valid, output invalid: {errs:?}"))
            }
            (Some(was), Some(now)) => {
                let new: Vec<_> = now.difference(was).collect();
                if !new.is_empty() {
                    failures.push(format!("{stem}: new schema errors: {new:?}"));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
