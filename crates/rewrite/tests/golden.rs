//! Golden pairs: every case under `tests/fixtures/<case>/` has an `input/` tree, an `expected/`
//! tree holding each input file as the rewrite leaves it, and `expected/REPORT` listing what was
//! found (references with line and kind, mentions, failures). `args` holds `FROM TO` when the
//! case does not use `myreg.azurecr.io newreg.azurecr.io`.
//!
//! `UPDATE_GOLDEN=1 cargo test -p acr-relocate-rewrite` rewrites the expected trees; review the
//! change by hand (`git diff`, or `diff -r input expected`) before committing.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use acr_rewrite::Rewriter;

use crate::util::options;

fn files_below(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path.strip_prefix(root).unwrap().to_path_buf());
            }
        }
    }
    out.sort();
    out
}

fn run_case(name: &str) {
    let case = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    let input = case.join("input");
    let expected = case.join("expected");
    let args = fs::read_to_string(case.join("args"))
        .unwrap_or_else(|_| "myreg.azurecr.io newreg.azurecr.io".into());
    let mut args = args.split_whitespace();
    let rewriter = Rewriter::new(options(args.next().unwrap(), args.next().unwrap()));
    let plan = rewriter.plan(std::slice::from_ref(&input)).unwrap();

    let rel = |p: &Path| p.strip_prefix(&input).unwrap_or(p).display().to_string();
    let mut report = String::new();
    for file in &plan.files {
        writeln!(report, "{} ({:?})", rel(&file.path), file.kind).unwrap();
        for r in &file.references {
            let tag = r
                .tag
                .as_deref()
                .map(|t| format!(" tag={t}"))
                .unwrap_or_default();
            let digest = r
                .digest
                .as_deref()
                .map(|d| format!(" digest={d}"))
                .unwrap_or_default();
            let check = if r.is_checkable() { "" } else { " unchecked" };
            let setting = r
                .setting
                .as_deref()
                .map(|s| format!(" setting={s}"))
                .unwrap_or_default();
            writeln!(
                report,
                "  {:>3} {:?} {} repo={}{tag}{digest}{check}{setting}",
                r.line, r.kind, r.original, r.repository
            )
            .unwrap();
        }
        for m in &file.mentions {
            writeln!(report, "  {:>3} mention {:?}: {}", m.line, m.place, m.text).unwrap();
            if let Some(note) = &m.note {
                writeln!(report, "      note: {note}").unwrap();
            }
        }
        if let Some(not_parsed) = &file.not_parsed {
            writeln!(
                report,
                "  not parsed (line {:?}): {}",
                not_parsed.line, not_parsed.reason
            )
            .unwrap();
        }
    }
    for failure in &plan.failures {
        writeln!(
            report,
            "failed: {}",
            failure
                .to_string()
                .replace(&format!("{}/", input.display()), "")
        )
        .unwrap();
    }

    let mut actual: Vec<(PathBuf, String)> = files_below(&input)
        .into_iter()
        .map(|f| {
            let planned = plan.files.iter().find(|p| p.path == input.join(&f));
            let text = match planned {
                Some(p) => p.rewritten.clone(),
                None => fs::read_to_string(input.join(&f)).unwrap(),
            };
            (f, text)
        })
        .collect();
    actual.push((PathBuf::from("REPORT"), report));
    actual.sort();

    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        let _ = fs::remove_dir_all(&expected);
        for (f, text) in &actual {
            let path = expected.join(f);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, text).unwrap();
        }
        return;
    }
    let expected_files = files_below(&expected);
    let actual_files: Vec<PathBuf> = actual.iter().map(|(f, _)| f.clone()).collect();
    assert_eq!(
        expected_files, actual_files,
        "case {name}: the expected tree lists other files"
    );
    for (f, text) in actual {
        let want = fs::read_to_string(expected.join(&f)).unwrap();
        if want != text {
            panic!(
                "case {name}: {} differs from the golden file (UPDATE_GOLDEN=1 regenerates)\n{}",
                f.display(),
                acr_rewrite::unified_diff(&f.display().to_string(), &want, &text)
            );
        }
    }
}

#[test]
fn kubernetes_manifests() {
    run_case("kubernetes");
}

#[test]
fn helm_chart_values_and_templates() {
    run_case("helm");
}

#[test]
fn kustomize_overlays() {
    run_case("kustomize");
}

#[test]
fn dockerfiles_with_stages() {
    run_case("dockerfile");
}

#[test]
fn docker_compose() {
    run_case("compose");
}

#[test]
fn azure_pipelines_and_github_actions() {
    run_case("pipelines");
}

#[test]
fn registry_with_a_port() {
    run_case("port");
}

#[test]
fn broken_files_are_reported_and_left_untouched() {
    run_case("broken");
}

#[test]
fn the_default_https_port_and_shell_defaults_name_the_old_registry() {
    run_case("shell_defaults");
}

#[test]
fn json_manifests_are_rewritten_and_other_text_files_are_scanned() {
    run_case("other_files");
}

#[test]
fn pipeline_registry_settings_and_env_files() {
    run_case("pipeline_settings");
}

#[test]
fn argo_cd_application_helm_values_and_parameters() {
    run_case("argocd");
}

#[test]
fn flux_oci_sources() {
    run_case("flux");
}

#[test]
fn kustomize_names_matching_resources_outside_the_run_get_a_new_name() {
    run_case("kustomize_remote");
}
