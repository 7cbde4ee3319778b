//! `acr-relocate template`: what reaches the disk and the exit codes of unusable options.

use std::path::Path;

use crate::util::*;

const TEMPLATE: &str = r#"{
  "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
  "contentVersion": "1.0.0.0",
  "parameters": { "acrName": { "type": "string" } },
  "resources": [
    {
      "type": "Microsoft.ContainerRegistry/registries",
      "apiVersion": "2023-07-01",
      "name": "[parameters('acrName')]",
      "location": "westeurope",
      "sku": { "name": "Standard" },
      "properties": {}
    }
  ]
}
"#;

const PARAMETERS: &str = r#"{
  "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentParameters.json#",
  "contentVersion": "1.0.0.0",
  "parameters": { "acrName": { "value": "contosowest01" } }
}
"#;

/// Writes the template and its parameters file into `dir`; returns their paths as strings.
fn inputs(dir: &Path) -> (String, String) {
    let template = dir.join("template.json");
    let parameters = dir.join("parameters.json");
    std::fs::write(&template, TEMPLATE).unwrap();
    std::fs::write(&parameters, PARAMETERS).unwrap();
    (
        template.display().to_string(),
        parameters.display().to_string(),
    )
}

fn assert_one_line_exit_2(out: &std::process::Output, needle: &str) {
    assert_exit_code(out, 2);
    let err = stderr(out);
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    assert!(err.contains(needle), "{err}");
}

#[test]
fn template_writes_every_output_or_none_when_one_cannot_be_written() {
    let dir = tempfile::tempdir().unwrap();
    let (template, parameters) = inputs(dir.path());
    let output = dir.path().join("out.json").display().to_string();
    let missing = dir.path().join("missing");
    let unwritable_params = missing.join("x.json").display().to_string();
    let unwritable_report = missing.join("r.md").display().to_string();
    let base = [
        "template",
        template.as_str(),
        "--name",
        "contosoeast01",
        "--location",
        "eastus",
        "--parameters",
        parameters.as_str(),
        "-o",
        output.as_str(),
    ];
    let with = |extra: &[&str]| {
        let mut args: Vec<&str> = base.to_vec();
        args.extend_from_slice(extra);
        run(&args)
    };
    for extra in [
        vec!["--parameters-output", unwritable_params.as_str()],
        vec!["--report", unwritable_report.as_str()],
    ] {
        let out = with(&extra);
        assert_one_line_exit_2(&out, "(no output file was written)");
        assert_eq!(
            names_in(dir.path()),
            ["parameters.json", "template.json"],
            "{extra:?} left files behind"
        );
    }
    // With every directory there, all three are written.
    let report = dir.path().join("r.md").display().to_string();
    let out = with(&["--report", report.as_str()]);
    assert_success(&out);
    assert_eq!(
        names_in(dir.path()),
        [
            "out.json",
            "out.parameters.json",
            "parameters.json",
            "r.md",
            "template.json"
        ]
    );
}

#[test]
fn template_refuses_unusable_options_with_exit_2_before_writing() {
    let dir = tempfile::tempdir().unwrap();
    let (template, _) = inputs(dir.path());
    let output = dir.path().join("out.json").display().to_string();
    let args = |extra: &[&str]| -> Vec<String> {
        let mut a: Vec<String> = [
            "template",
            template.as_str(),
            "--location",
            "eastus",
            "-o",
            output.as_str(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    };
    let run_with = |extra: &[&str]| {
        let a = args(extra);
        run(&a.iter().map(String::as_str).collect::<Vec<_>>())
    };
    assert_one_line_exit_2(
        &run_with(&["--name", "contoso-east"]),
        "invalid option --name: \"contoso-east\" is not a registry name",
    );
    assert_one_line_exit_2(
        &run_with(&["--name", "contosoeast01", "--subnet", "snet-build"]),
        "invalid option --subnet: \"snet-build\" is not a subnet resource id",
    );
    // A parameters file that is not JSON is named as the parameters file, with its own advice.
    let broken = dir.path().join("broken.parameters.json");
    std::fs::write(&broken, "{ \"parameters\": ").unwrap();
    let broken = broken.display().to_string();
    let out = run_with(&["--name", "contosoeast01", "--parameters", broken.as_str()]);
    assert_one_line_exit_2(
        &out,
        "broken.parameters.json is not a deployment parameters file (not JSON",
    );
    assert!(stderr(&out).contains("give the parameters.json of the export"));
    assert!(!stderr(&out).contains("template.json of an export"));
    assert_eq!(
        names_in(dir.path()),
        ["broken.parameters.json", "parameters.json", "template.json"]
    );
}

/// Runs `acr-relocate template INPUT --name contosoeast01 --location eastus -o OUTPUT` in `dir`,
/// with `extra` arguments.
fn run_in(dir: &Path, input: &str, output: &str, extra: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_acr-relocate"))
        .current_dir(dir)
        .args([
            "template",
            input,
            "--name",
            "contosoeast01",
            "--location",
            "eastus",
            "-o",
            output,
        ])
        .args(extra)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap()
}

#[test]
fn template_refuses_to_write_over_its_input_however_the_output_is_spelt() {
    // The export is the record of the source's settings: -o naming the input (as written, by
    // another spelling, through a symbolic or a hard link) is refused before anything is written.
    let dir = tempfile::tempdir().unwrap();
    inputs(dir.path());
    let template = dir.path().join("template.json");
    std::os::unix::fs::symlink(&template, dir.path().join("link.json")).unwrap();
    std::fs::hard_link(&template, dir.path().join("hard.json")).unwrap();
    for (input, output) in [
        ("template.json", "template.json"),
        ("template.json", "./template.json"),
        ("./template.json", "template.json"),
        ("template.json", "link.json"),
        ("template.json", "hard.json"),
    ] {
        let out = run_in(dir.path(), input, output, &[]);
        assert_one_line_exit_2(
            &out,
            &format!("-o {output} is the input template {input}: choose another output (the export is the record of the source's settings)"),
        );
        assert_eq!(
            std::fs::read_to_string(dir.path().join("template.json")).unwrap(),
            TEMPLATE
        );
        assert_eq!(
            names_in(dir.path()),
            ["hard.json", "link.json", "parameters.json", "template.json"],
            "{input} -o {output} left files behind"
        );
    }
    // The rewritten parameters file may not replace the input one either (here by default,
    // beside -o).
    std::fs::copy(
        dir.path().join("parameters.json"),
        dir.path().join("out.parameters.json"),
    )
    .unwrap();
    let out = run_in(
        dir.path(),
        "template.json",
        "out.json",
        &["--parameters", "out.parameters.json"],
    );
    assert_one_line_exit_2(
        &out,
        "is the input parameters file out.parameters.json: choose another output",
    );
    assert_eq!(
        names_in(dir.path()),
        [
            "hard.json",
            "link.json",
            "out.parameters.json",
            "parameters.json",
            "template.json"
        ]
    );
    // Another output is fine.
    assert_success(&run_in(dir.path(), "./template.json", "out.json", &[]));
}

#[test]
fn two_outputs_naming_one_file_are_refused_before_anything_is_written() {
    // A report or a parameters file over the template would leave one output holding another's
    // content: refused in one line naming both options, nothing written, an earlier file kept.
    let dir = tempfile::tempdir().unwrap();
    inputs(dir.path());
    std::fs::write(dir.path().join("good.json"), "earlier").unwrap();
    std::os::unix::fs::symlink(dir.path().join("good.json"), dir.path().join("alias.json"))
        .unwrap();
    for (extra, needle) in [
        (
            vec!["--report", "good.json"],
            "-o and --report name the same file good.json: give each its own path",
        ),
        (
            vec!["--report", "./alias.json"],
            "-o and --report name the same file ./alias.json: give each its own path",
        ),
        (
            vec![
                "--parameters",
                "parameters.json",
                "--parameters-output",
                "good.json",
            ],
            "-o and --parameters-output name the same file good.json",
        ),
        (
            vec![
                "--parameters",
                "parameters.json",
                "--report",
                "good.parameters.json",
            ],
            "the parameters output beside -o and --report name the same file good.parameters.json",
        ),
    ] {
        let out = run_in(dir.path(), "template.json", "good.json", &extra);
        assert_one_line_exit_2(&out, needle);
        assert!(
            stderr(&out).contains("nothing was written"),
            "{}",
            stderr(&out)
        );
        assert_eq!(
            std::fs::read_to_string(dir.path().join("good.json")).unwrap(),
            "earlier",
            "{extra:?}"
        );
        assert_eq!(
            names_in(dir.path()),
            [
                "alias.json",
                "good.json",
                "parameters.json",
                "template.json"
            ],
            "{extra:?} left files behind"
        );
    }
    // Two outputs that do not exist yet, at one path under two spellings.
    let out = run_in(
        dir.path(),
        "template.json",
        "new.json",
        &["--report", "./new.json"],
    );
    assert_one_line_exit_2(&out, "-o and --report name the same file ./new.json");
    assert!(!dir.path().join("new.json").exists());
}

/// Runs `template` with a stdout whose reader has gone (`| head -1` after the first line).
fn template_into_closed_stdout(dir: &Path, output: &str, extra: &[&str]) -> std::process::Output {
    let template = [
        "template",
        "template.json",
        "--name",
        "contosoeast01",
        "--location",
        "eastus",
        "-o",
        output,
    ];
    run_with_stdout_closed(dir, &[&template[..], extra].concat())
}

#[test]
fn template_into_a_closed_stdout_ends_quietly_with_141() {
    let dir = tempfile::tempdir().unwrap();
    inputs(dir.path());
    // --json after the files are written: they stay, and the end is quiet.
    let out = template_into_closed_stdout(dir.path(), "out.json", &["--json"]);
    assert_eq!(out.status.code(), Some(141), "{}", stderr(&out));
    assert!(!stderr(&out).contains("Broken pipe"), "{}", stderr(&out));
    assert!(dir.path().join("out.json").exists());
    // The template on stdout: no other output is committed without it.
    let out = template_into_closed_stdout(
        dir.path(),
        "-",
        &[
            "--parameters",
            "parameters.json",
            "--parameters-output",
            "p.json",
        ],
    );
    assert_eq!(out.status.code(), Some(141), "{}", stderr(&out));
    assert!(stderr(&out).is_empty(), "{}", stderr(&out));
    assert_eq!(
        names_in(dir.path()),
        ["out.json", "parameters.json", "template.json"],
        "p.json is not written without the template"
    );
}

/// An export as `azure export` writes it for a registry with a webhook: the callback URI and
/// headers are secureString / secureObject parameter defaults. The webhook's name holds `name`;
/// without `wired`, its properties do not read them (as an older export had no serviceUri).
fn export_with_callbacks(name: &str, wired: bool) -> String {
    let properties = if wired {
        serde_json::json!({ "actions": ["push"],
            "serviceUri": "[parameters('webhooks_hook_serviceUri')]",
            "customHeaders": "[parameters('webhooks_hook_customHeaders')]" })
    } else {
        serde_json::json!({ "actions": ["push"] })
    };
    serde_json::json!({
        "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
        "contentVersion": "1.0.0.0",
        "parameters": {
            "webhooks_hook_serviceUri": { "type": "secureString", "defaultValue": "https://hooks.example/hook?code=S3CRETVALUE" },
            "webhooks_hook_customHeaders": { "type": "secureObject", "defaultValue": { "Authorization": "Bearer T0KENVALUE" } }
        },
        "resources": [
            { "type": "Microsoft.ContainerRegistry/registries", "apiVersion": "2023-07-01", "name": "contosowest01",
              "location": "westeurope", "sku": { "name": "Standard" }, "properties": {} },
            { "type": "Microsoft.ContainerRegistry/registries/webhooks", "apiVersion": "2023-07-01",
              "name": format!("contosowest01/{name}"), "location": "westeurope",
              "properties": properties,
              "dependsOn": ["[resourceId('Microsoft.ContainerRegistry/registries', 'contosowest01')]"] }
        ]
    })
    .to_string()
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[cfg(unix)]
#[test]
fn outputs_carrying_secure_parameter_defaults_are_readable_by_their_owner_only_and_say_so() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("export.json");
    std::fs::write(&input, export_with_callbacks("hook", true)).unwrap();
    // Readable by all, as a careless copy of the export would be: the secrets decide.
    set_mode(&input, 0o644);
    std::fs::write(dir.path().join("parameters.json"), PARAMETERS).unwrap();
    let out = run_in(
        dir.path(),
        "export.json",
        "out.json",
        &[
            "--parameters",
            "parameters.json",
            "--parameters-output",
            "out.parameters.json",
            "--report",
            "report.md",
        ],
    );
    assert_success(&out);
    assert_eq!(mode(&dir.path().join("out.json")), 0o600);
    assert_eq!(mode(&dir.path().join("out.parameters.json")), 0o600);
    let template = std::fs::read_to_string(dir.path().join("out.json")).unwrap();
    assert!(template.contains("S3CRETVALUE"), "the secrets are carried");
    // One warning line names the parameters and the files, never the values.
    let err = stderr(&out);
    let warnings: Vec<&str> = err
        .lines()
        .filter(|l| l.starts_with("template: warning:"))
        .collect();
    assert_eq!(warnings.len(), 1, "{err}");
    assert!(
        warnings[0]
            .contains("secure parameters webhooks_hook_serviceUri, webhooks_hook_customHeaders")
            && warnings[0].contains(
                "out.json, out.parameters.json written readable by this user only (0600)"
            ),
        "{}",
        warnings[0]
    );
    for secret in ["S3CRETVALUE", "T0KENVALUE"] {
        assert!(!err.contains(secret), "{err}");
        let report = std::fs::read_to_string(dir.path().join("report.md")).unwrap();
        assert!(!report.contains(secret), "{report}");
    }
}

#[cfg(unix)]
#[test]
fn an_input_only_its_owner_may_read_gives_outputs_only_their_owner_may_read() {
    let dir = tempfile::tempdir().unwrap();
    let (template, _) = inputs(dir.path());
    let output = dir.path().join("out.json");
    // A plain template, readable by others: the outputs keep the mode a plain write gives them.
    let plain = run_in(dir.path(), &template, "plain.json", &[]);
    assert_success(&plain);
    assert!(!stderr(&plain).contains("warning: "), "{}", stderr(&plain));
    std::fs::write(dir.path().join("probe"), "").unwrap();
    assert_eq!(
        mode(&dir.path().join("plain.json")),
        mode(&dir.path().join("probe"))
    );
    // The same template, 0600: so are the outputs.
    set_mode(Path::new(&template), 0o600);
    let out = run_in(dir.path(), &template, output.to_str().unwrap(), &[]);
    assert_success(&out);
    assert_eq!(mode(&output), 0o600);
    let err = stderr(&out);
    assert!(
        err.lines().any(|l| l.starts_with("template: warning: ")
            && l.contains("template.json is readable by its owner only")
            && l.contains("out.json written readable by this user only (0600)")),
        "{err}"
    );
}

#[test]
fn findings_show_control_characters_of_names_as_escapes_and_json_stays_json() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("export.json");
    // A webhook name that would clear the screen and set the window title.
    std::fs::write(
        &input,
        export_with_callbacks("h\u{1b}[2J\u{1b}]0;PWN\u{7}ook", false),
    )
    .unwrap();
    let out = run_in(
        dir.path(),
        "export.json",
        "out.json",
        &["--report", "report.md"],
    );
    // The webhook has no serviceUri: blocking, and printed.
    assert_exit_code(&out, 1);
    let err = stderr(&out);
    assert!(!err.contains('\u{1b}') && !err.contains('\u{7}'), "{err:?}");
    assert!(
        err.contains(r"webhook h\u{1b}[2J\u{1b}]0;PWN\u{7}ook has no serviceUri"),
        "{err}"
    );
    let report = std::fs::read_to_string(dir.path().join("report.md")).unwrap();
    assert!(!report.contains('\u{1b}'), "{report:?}");
    // --json: the name as it is, in JSON's own escapes.
    let json = run_in(dir.path(), "export.json", "out2.json", &["--json"]);
    assert_exit_code(&json, 1);
    let doc: serde_json::Value = serde_json::from_str(&stdout(&json)).unwrap();
    let messages: Vec<&str> = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["message"].as_str())
        .collect();
    assert!(
        messages
            .iter()
            .any(|m| m.contains("webhook h\u{1b}[2J\u{1b}]0;PWN\u{7}ook has no serviceUri")),
        "{messages:?}"
    );
    assert!(stdout(&json).contains(r"\u001b[2J"));
}
