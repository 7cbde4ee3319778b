//! `acr-relocate template`: rewrites an exported ARM template for the new registry name and region.
//!
//! Reads the input (template, exportTemplate response or the portal's `.zip`), calls the pure
//! rewriter in `acr_template`, writes the output files together (each through a temporary file,
//! all renamed into place only once every one is written), and prints the findings (table on
//! stderr, `--json` on stdout, `--report` as Markdown). Exit code 1 when a blocking finding
//! remains; unusable input, an output that cannot be written or two outputs at one path is an
//! `Err` (exit code 2) and no file is written. A stdout closed by its reader ends quietly with
//! 141, as every command does (with `-o -`, no other output is committed then).
//!
//! An input that holds secrets (secure parameters with a value, as `azure export` writes webhook
//! callbacks) or that only its owner may read makes the template and parameters outputs
//! readable by their owner only (0600), said in one warning line. Findings printed for a person
//! (the table, the report, stderr lines) show control characters as escapes; `--json` stays JSON.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::exit;

/// Arguments of `acr-relocate template`.
#[derive(clap::Args, Debug)]
pub struct TemplateArgs {
    /// The exported template: template.json, the portal's .zip, or an exportTemplate response.
    pub input: PathBuf,
    /// The new registry name (5-50 letters and digits, globally unique).
    #[arg(long)]
    pub name: String,
    /// The target region, e.g. westeurope.
    #[arg(long)]
    pub location: String,
    /// Where to write the rewritten template (`-` for stdout). It is written even when a
    /// blocking finding remains (exit code 1), for review.
    #[arg(short, long)]
    pub output: PathBuf,
    /// The parameters.json beside the template (taken from the .zip when not given).
    #[arg(long, value_name = "FILE")]
    pub parameters: Option<PathBuf>,
    /// Where to write the rewritten parameters file (default: OUTPUT with .parameters.json).
    #[arg(long, value_name = "FILE")]
    pub parameters_output: Option<PathBuf>,
    /// Target subnet resource id for the network rules (repeatable).
    #[arg(long = "subnet", value_name = "ID")]
    pub subnets: Vec<String>,
    /// Add a replication in REGION (repeatable).
    #[arg(long = "replication", value_name = "REGION")]
    pub replications: Vec<String>,
    /// Remove the replication in REGION (repeatable).
    #[arg(long = "drop-replication", value_name = "REGION")]
    pub drop_replications: Vec<String>,
    /// Key Vault key URI for customer-managed-key encryption in the target.
    #[arg(long, value_name = "URI")]
    pub key_uri: Option<String>,
    /// Resource id of the user-assigned identity that reads the key.
    #[arg(long, value_name = "ID")]
    pub identity: Option<String>,
    /// Which registry to relocate when the template defines several.
    #[arg(long, value_name = "NAME")]
    pub only: Option<String>,
    /// Add a private endpoint for the new registry on this subnet (resource id of a subnet in the
    /// target region).
    #[arg(long, value_name = "SUBNET_ID")]
    pub private_endpoint: Option<String>,
    /// The privatelink.azurecr.io private DNS zone (resource id) the added private endpoint
    /// writes the registry's records into (with --private-endpoint).
    #[arg(long, value_name = "ZONE_ID", requires = "private_endpoint")]
    pub private_dns_zone: Option<String>,
    /// Print the findings as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// Write the findings as a Markdown report.
    #[arg(long, value_name = "FILE.md")]
    pub report: Option<PathBuf>,
}

/// Runs `acr-relocate template`.
pub fn run(args: TemplateArgs) -> anyhow::Result<u8> {
    let label = args.input.display().to_string();
    let bytes = fs::read(&args.input).with_context(|| format!("cannot read {label}"))?;
    let mut input = acr_template::TemplateInput::from_bytes(&label, &bytes)?;
    if let Some(p) = &args.parameters {
        let text = fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display()))?;
        input = input.with_parameters(p.display().to_string(), text);
    }
    let options = acr_template::RewriteOptions {
        name: args.name.clone(),
        location: args.location.clone(),
        subnets: args.subnets.clone(),
        add_replications: args.replications.clone(),
        drop_replications: args.drop_replications.clone(),
        key_uri: args.key_uri.clone(),
        identity: args.identity.clone(),
        only: args.only.clone(),
        private_endpoint_subnet: args.private_endpoint.clone(),
        private_dns_zone: args.private_dns_zone.clone(),
    };
    let to_stdout = args.output.as_os_str() == "-";
    // Only the template goes to stdout: a file named `-` would be made otherwise.
    for (flag, path) in [
        ("--report", &args.report),
        ("--parameters-output", &args.parameters_output),
    ] {
        if path.as_deref().is_some_and(|p| p.as_os_str() == "-") {
            anyhow::bail!("{flag} - : only -o takes `-` (stdout); give {flag} a file");
        }
    }
    if to_stdout && args.json {
        anyhow::bail!("-o - and --json both write to stdout; write the template to a file or use --report for the findings");
    }
    let out = acr_template::rewrite_template(&input, &options)?;
    // What the outputs carry from the input's secrets decides who may read them.
    let owner_only_inputs: Vec<&Path> = std::iter::once(args.input.as_path())
        .chain(args.parameters.as_deref())
        .filter(|p| readable_by_owner_only(p))
        .collect();
    let private = !out.secure_parameters.is_empty() || !owner_only_inputs.is_empty();

    // Every output file is written to a temporary file beside it first, and renamed into place
    // only when all of them could be written: an unwritable one leaves none behind.
    let params_path = match (&out.parameters, &args.parameters_output) {
        (Some(_), Some(p)) => Some(p.clone()),
        (Some(_), None) if to_stdout => {
            eprintln!("note: the rewritten parameters file is not written: give --parameters-output FILE with -o -");
            None
        }
        (Some(_), None) => Some(beside(&args.output, "parameters.json")),
        _ => None,
    };
    // (path, bytes, readable by the owner only)
    let mut files: Vec<(&Path, Vec<u8>, bool)> = Vec::new();
    // The option that names each file, for errors.
    let mut named_by: Vec<&str> = Vec::new();
    if !to_stdout {
        files.push((
            args.output.as_path(),
            out.template.clone().into_bytes(),
            private,
        ));
        named_by.push("-o");
    }
    if let (Some(text), Some(path)) = (&out.parameters, &params_path) {
        files.push((path.as_path(), text.clone().into_bytes(), private));
        named_by.push(match args.parameters_output {
            Some(_) => "--parameters-output",
            None => "the parameters output beside -o,",
        });
    }
    if let Some(report) = &args.report {
        named_by.push("--report");
        let title = format!(
            "acr-relocate template: {label} → {} in {}",
            args.name, args.location
        );
        files.push((
            report.as_path(),
            acr_template::to_markdown(&printable(&title), &shown(&out.findings)).into_bytes(),
            false,
        ));
    }
    // The export is the record of the source's settings: no output may replace an input.
    let inputs = std::iter::once((args.input.as_path(), "the input template")).chain(
        args.parameters
            .as_deref()
            .map(|p| (p, "the input parameters file")),
    );
    for (input_path, what) in inputs {
        if let Some((output, option)) = files
            .iter()
            .map(|(path, _, _)| *path)
            .zip(&named_by)
            .find(|(output, _)| super::plan::same_file(input_path, output))
        {
            anyhow::bail!(
                "{option} {} is {what} {}: choose another output (the export is the record of the source's settings)",
                output.display(),
                input_path.display()
            );
        }
    }
    // Two outputs at one path would leave one file holding the other's content.
    for (i, (path, _, _)) in files.iter().enumerate() {
        if let Some(j) = (0..i).find(|&j| super::plan::same_file(files[j].0, path)) {
            anyhow::bail!(
                "{} and {} name the same file {}: give each its own path; nothing was written",
                named_by[j].trim_end_matches(','),
                named_by[i].trim_end_matches(','),
                path.display()
            );
        }
    }
    let staged = stage_all(&files)?;
    if to_stdout {
        let mut stdout = std::io::stdout().lock();
        let written = stdout
            .write_all(out.template.as_bytes())
            .and_then(|()| stdout.flush());
        if let Err(e) = written {
            discard(&staged);
            // The reader has gone (`| head -1`): no output is committed without the template,
            // and the end is quiet, as for every command.
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                return Ok(exit::STDOUT_CLOSED as u8);
            }
            return Err(e).context("cannot write the template to stdout");
        }
    }
    commit_all(staged)?;
    if private {
        eprintln!(
            "{}",
            private_warning(
                &out.secure_parameters,
                &owner_only_inputs,
                &files
                    .iter()
                    .filter(|(_, _, p)| *p)
                    .map(|(path, _, _)| *path)
                    .collect::<Vec<_>>(),
                to_stdout,
            )
        );
    }
    eprint!("{}", acr_template::to_table(&shown(&out.findings)));
    if args.json {
        let doc = serde_json::json!({
            "input": label,
            "output": args.output.display().to_string(),
            "parameters_output": params_path.map(|p| p.display().to_string()),
            "old_name": out.old_name,
            "name": args.name,
            "location": args.location,
            "blocking": out.has_blocking(),
            "findings": out.findings,
        });
        let mut stdout = std::io::stdout().lock();
        let printed = serde_json::to_writer_pretty(&mut stdout, &doc)
            .map_err(std::io::Error::from)
            .and_then(|()| writeln!(stdout))
            .and_then(|()| stdout.flush());
        match printed {
            // The files are written; the reader of the findings has gone: a quiet end.
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                return Ok(exit::STDOUT_CLOSED as u8)
            }
            result => result.context("cannot write the findings to stdout")?,
        }
    }
    Ok(if out.has_blocking() { 1 } else { 0 })
}

/// A path or name as printed: control characters shown as escapes.
fn printable(text: &str) -> String {
    acr_relocate::log::printable(text).into_owned()
}

/// The findings as printed for a person: control characters of the template's names and values
/// (in messages, fixes and paths) shown as escapes, so that a name cannot drive the terminal.
fn shown(findings: &[acr_template::Finding]) -> Vec<acr_template::Finding> {
    findings
        .iter()
        .map(|f| acr_template::Finding {
            path: printable(&f.path),
            message: printable(&f.message),
            fix: printable(&f.fix),
            ..f.clone()
        })
        .collect()
}

/// True when `path` is a file that neither its group nor others may read (always false where
/// modes do not exist).
fn readable_by_owner_only(path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o044 == 0)
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        false
    }
}

/// The one warning line for outputs written readable by their owner only: why (the secure
/// parameters holding secrets, named, never their values; or the inputs only their owner reads)
/// and which files.
fn private_warning(
    secure: &[String],
    owner_only_inputs: &[&Path],
    written: &[&Path],
    to_stdout: bool,
) -> String {
    let list = |items: Vec<String>| items.join(", ");
    let why = if secure.is_empty() {
        format!(
            "{} readable by its owner only",
            list(
                owner_only_inputs
                    .iter()
                    .map(|p| format!("{} is", printable(&p.display().to_string())))
                    .collect()
            )
        )
    } else {
        format!(
            "the input holds secrets in secure parameter{} {} (their values, never printed, are carried into the output)",
            if secure.len() == 1 { "" } else { "s" },
            list(secure.iter().map(|n| printable(n)).collect())
        )
    };
    let files = list(
        written
            .iter()
            .map(|p| printable(&p.display().to_string()))
            .collect(),
    );
    let them = if written.len() == 1 { "it" } else { "them" };
    let written = match written.len() {
        0 => String::new(),
        _ => format!(
            ": {files} written readable by this user only (0600); keep {them} so, out of version control, and delete {them} once the new registry is deployed"
        ),
    };
    let stdout = if to_stdout {
        "; the template on stdout holds them too: keep where it goes private"
    } else {
        ""
    };
    format!("template: warning: {why}{written}{stdout}")
}

/// `dir/out.json` → `dir/out.<suffix>`.
fn beside(output: &Path, suffix: &str) -> PathBuf {
    let stem = output
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "template".into());
    output.with_file_name(format!("{stem}.{suffix}"))
}

/// An output written to a temporary file beside its destination, not yet renamed into place.
struct Staged {
    tmp: PathBuf,
    path: PathBuf,
}

/// Writes each `(path, bytes)` to a new temporary file in the path's directory (an existing file,
/// or a link planted under the temporary name, is not written through). When one cannot be
/// written, the ones already written are removed and the error names that path.
fn stage_all(files: &[(&Path, Vec<u8>, bool)]) -> anyhow::Result<Vec<Staged>> {
    let mut staged = Vec::new();
    for (i, (path, bytes, private)) in files.iter().enumerate() {
        match stage(path, bytes, i, *private) {
            Ok(s) => staged.push(s),
            Err(e) => {
                discard(&staged);
                return Err(e);
            }
        }
    }
    Ok(staged)
}

/// Stages one output under a temporary name of its own (`index` tells this run's outputs apart).
/// A `private` output is created readable by its owner only (0600, on Unix), and keeps that mode
/// when renamed into place.
fn stage(path: &Path, bytes: &[u8], index: usize, private: bool) -> anyhow::Result<Staged> {
    // Not `plan::write_atomically`'s temporary file, which is always 0600: the rewritten
    // template keeps the mode a plain write gives it unless it carries the input's secrets.
    let dir = super::plan::directory_of(path);
    let name = path
        .file_name()
        .with_context(|| format!("{} is not a file path", path.display()))?
        .to_string_lossy()
        .into_owned();
    let tmp = dir.join(format!(".{name}.tmp{}-{index}", std::process::id()));
    let result = (|| -> std::io::Result<()> {
        let _ = fs::remove_file(&tmp);
        let mut options = fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        if private {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        #[cfg(not(unix))]
        let _ = private;
        let mut f = options.open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.with_context(|| {
        format!(
            "cannot write {} (no output file was written)",
            path.display()
        )
    })?;
    Ok(Staged {
        tmp,
        path: path.to_path_buf(),
    })
}

/// Renames every staged file into place.
fn commit_all(staged: Vec<Staged>) -> anyhow::Result<()> {
    for (i, s) in staged.iter().enumerate() {
        if let Err(e) = fs::rename(&s.tmp, &s.path) {
            discard(&staged[i..]);
            return Err(e).with_context(|| format!("cannot write {}", s.path.display()));
        }
    }
    Ok(())
}

/// Removes staged temporary files (best effort).
fn discard(staged: &[Staged]) {
    for s in staged {
        let _ = fs::remove_file(&s.tmp);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(dir: &Path, output: &str, json: bool) -> TemplateArgs {
        let input = dir.join("t.json");
        fs::write(
            &input,
            r#"{"$schema": "x", "resources": [{"type": "Microsoft.ContainerRegistry/registries", "apiVersion": "2023-07-01", "name": "oldacr01", "location": "westus", "sku": {"name": "Basic"}, "properties": {}}]}"#,
        )
        .unwrap();
        TemplateArgs {
            input,
            name: "newacr01".into(),
            location: "westeurope".into(),
            output: PathBuf::from(output),
            parameters: None,
            parameters_output: None,
            subnets: vec![],
            replications: vec![],
            drop_replications: vec![],
            key_uri: None,
            identity: None,
            only: None,
            private_endpoint: None,
            private_dns_zone: None,
            json,
            report: None,
        }
    }

    #[test]
    fn dash_as_output_writes_no_file_named_dash() {
        let dir = tempfile::tempdir().unwrap();
        let cwd_dash = PathBuf::from("-");
        assert!(!cwd_dash.exists());
        assert_eq!(run(args(dir.path(), "-", false)).unwrap(), 0);
        assert!(!cwd_dash.exists(), "a file named - was created");
        // Both on stdout would mix: refused.
        let err = run(args(dir.path(), "-", true)).unwrap_err();
        assert!(err.to_string().contains("-o - and --json"));
    }
}
