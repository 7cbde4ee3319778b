//! `acr-relocate plan --config relocation.toml -o plan.json`: turns a relocation config into a
//! reviewed plan. Reads the source (inventory, a timed blob read for the rate), opens the target
//! as the copy will (unless the plan deploys it), scans the template and the deployment files;
//! writes nothing to either registry. `--markdown` prints the review
//! document. The config format is in `docs/relocate.md`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use acr_relocate::endpoint::Endpoint;
use acr_relocate::inventory;
use acr_relocate::manifest::ManifestView;
use acr_relocate::relocation::plan::{
    absolute_endpoint, check_sides, Config, CopyMode, Plan, PlanFinding, PlanRepository, Scope,
    Step, StepKind, Totals, PLAN_SCHEMA_VERSION,
};
use acr_relocate::transport::{self, Access, Source};
use acr_relocate::walk::{Matcher, Selection};
use anyhow::Context;
use futures::StreamExt;

use crate::args::{self, ConnectArgs, Side};
use crate::exit;
use crate::progress::{counted, human_bytes};

/// Arguments of `acr-relocate plan`.
#[derive(clap::Args, Debug)]
#[command(
    after_help = EXIT_CODES,
    mut_arg("jobs", |a| a.help(JOBS_HELP).long_help(JOBS_HELP)),
)]
pub struct PlanArgs {
    /// The relocation config (TOML; see docs/relocate.md).
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: PathBuf,
    /// Where to write the plan (JSON), the input of `apply`: written whole, and only when the
    /// plan is made.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: PathBuf,
    /// Print the plan as a Markdown review document on stdout, instead of the summary.
    #[arg(long)]
    pub markdown: bool,
    #[command(flatten)]
    pub jobs: args::JobsArgs,
    #[command(flatten)]
    pub connect: ConnectArgs,
}

const JOBS_HELP: &str = "Requests at once to start with while taking the inventory of the source \
(four per job, growing as for `copy`); the copy's transfers are the config's [copy] jobs";

const EXIT_CODES: &str = "\
Exit codes: 0 plan written; 1 plan written, but repositories the source could not list are left
out of it, the template step has blocking findings that would stop apply, or a step cannot run
(apply refuses the plan; each said on stderr); 2 config, input or connection error, nothing
written; 3 the source stopped answering, nothing written; 4 [scope] selected nothing, nothing
written; 130 interrupted (143 by SIGTERM, 129 by SIGHUP), nothing written.";

/// Runs `acr-relocate plan`.
pub fn run(args: PlanArgs) -> anyhow::Result<u8> {
    args.jobs.check()?;
    let text = std::fs::read_to_string(&args.config)
        .with_context(|| format!("--config {}", args.config.display()))?;
    let config: Config =
        toml::from_str(&text).with_context(|| format!("--config {}", args.config.display()))?;
    if let Some(max) = config.copy.max_jobs.filter(|max| *max < config.copy.jobs) {
        anyhow::bail!(
            "--config {}: [copy] max_jobs {max} is below jobs {}: give max_jobs at least jobs (equal keeps the number of transfers fixed)",
            args.config.display(),
            config.copy.jobs
        );
    }
    let config_path = args
        .config
        .canonicalize()
        .with_context(|| format!("--config {}", args.config.display()))?;
    let base = config_path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    // Refused before anything is read: sides no run could use.
    let in_config = || format!("--config {}", args.config.display());
    let source_text = absolute_endpoint(
        &config.source.endpoint("source").with_context(in_config)?,
        &base,
    );
    let target_text = absolute_endpoint(
        &config.target.endpoint("target").with_context(in_config)?,
        &base,
    );
    // The source's Azure resource, when `[delete_source]` deletes it.
    let deleted_resource = match config.delete_source.as_ref().filter(|d| d.registry_resource) {
        Some(_) => Some(config.source.azure_resource_id.as_deref().context(
            "[delete_source] registry_resource = true deletes the source's Azure resource, and [source] has no azure_resource_id: add it, or take registry_resource out to delete the manifests only; nothing was written",
        )?),
        None => None,
    };
    check_sides(
        &source_text,
        &target_text,
        config
            .delete_source
            .as_ref()
            .map(|d| (d.confirm.as_str(), deleted_resource)),
    )
    .with_context(in_config)?;
    let sides = Sides {
        config: config_path,
        base,
        source: source_text,
        target: target_text,
        deleted_resource: deleted_resource.map(str::to_string),
    };
    check_writable(&args.output).with_context(|| format!("-o {}", args.output.display()))?;
    // The other endpoint and file the config names, refused before anything is read as the
    // sides are: credentials written into `check_against` (never printed nor stored), and a
    // template output that could not be written when its step comes.
    if let Some(check_against) = config
        .rewrite
        .as_ref()
        .and_then(|r| r.check_against.as_ref())
    {
        check_against.parse::<Endpoint>().with_context(|| {
            format!(
                "--config {}: [rewrite] check_against",
                args.config.display()
            )
        })?;
    }
    // A rewrite of files that are not there would fail only after the copy, hours later.
    for path in config.rewrite.iter().flat_map(|r| &r.paths) {
        if let Err(e) = std::fs::metadata(sides.base.join(path)) {
            anyhow::bail!(
                "--config {}: [rewrite] paths: {}: {e}: give files or directories that exist (relative to the config's directory); nothing was written",
                args.config.display(),
                path.display()
            );
        }
    }
    if let Some(template) = &config.template {
        let output = sides.base.join(&template.output);
        check_writable(&output).with_context(|| {
            format!(
                "--config {}: [template] output {}",
                args.config.display(),
                template.output.display()
            )
        })?;
    }
    // No file of the run may replace another: the plan over its config, a template output over
    // the export or over the plan.
    let mut inputs = vec![RunFile::new(
        &args.config,
        format!("--config {}", args.config.display()),
    )];
    let mut outputs = vec![RunFile::new(
        &args.output,
        format!("-o {}", args.output.display()),
    )];
    if let Some(template) = &config.template {
        // Paths as the config writes them, resolved from its directory.
        let (i, o) = template_files(
            &template.input,
            template.parameters.as_deref(),
            &template.output,
        );
        let resolve = |f: RunFile| RunFile::new(sides.base.join(&f.path), f.named);
        inputs.extend(i.into_iter().map(resolve));
        outputs.extend(o.into_iter().map(resolve));
    }
    if let Some((output, replaced)) = first_clash(&outputs, &inputs) {
        let in_config = match output.named.starts_with('[') {
            true => format!("--config {}: ", args.config.display()),
            false => String::new(),
        };
        anyhow::bail!(
            "{in_config}{} is {}: {}; nothing was written",
            output.named,
            replaced.named,
            clash_remedy(replaced)
        );
    }
    // Nothing is written before the plan is whole: Ctrl-C drops the work and says so.
    let planned = crate::runtime()?.block_on(async {
        tokio::select! {
            biased;
            signal = crate::interrupt::received() => Ok(Err(signal)),
            plan = make_plan(&args, &config, &sides) => plan.map(Ok),
        }
    })?;
    let plan = match planned {
        Ok(plan) => plan,
        Err(signal) => {
            eprintln!(
                "{}",
                crate::interrupt::line("plan", signal, "no plan written")
            );
            return Ok(signal.exit_code());
        }
    };
    if let Some(narrowing) = selected_nothing(&plan) {
        eprintln!(
            "plan: warning: {narrowing} selected nothing in the source, so no plan was written: check the spelling in --config {} (`acr-relocate inventory SOURCE` lists what is there); exit code {}",
            args.config.display(),
            exit::NOTHING_SELECTED
        );
        return Ok(exit::NOTHING_SELECTED);
    }
    let json = serde_json::to_string_pretty(&plan)? + "\n";
    write_atomically(&args.output, json.as_bytes())
        .with_context(|| format!("-o {}", args.output.display()))?;
    // What the inventory could not read is left out of the plan: said, one line each, and in
    // the exit code, as `inventory` does.
    for warning in &plan.warnings {
        eprintln!("plan: warning: could not read {warning}");
    }
    let unread = match plan.warnings.len() {
        0 => None,
        n => Some(format!(
            "{} could not be read and {} left out of the plan (warnings above): fix that and plan again; exit code {}",
            counted(n as u64, "repository", "repositories"),
            if n == 1 { "is" } else { "are" },
            exit::FAILURES
        )),
    };
    if args.markdown {
        print!("{}", markdown(&plan));
    } else {
        println!(
            "plan: {} steps, {}, {}, {} unique{}; written to {}",
            plan.steps.len(),
            counted(plan.totals.repositories, "repository", "repositories"),
            counted(plan.totals.tags, "tag", "tags"),
            human_bytes(plan.totals.unique_bytes),
            plan.totals
                .estimated_seconds
                .map(|s| format!(", at least {} at the measured read rate", duration(s)))
                .unwrap_or_default(),
            args.output.display()
        );
        for step in &plan.steps {
            println!(
                "  {}{}: {}",
                step.id,
                if step.available {
                    ""
                } else {
                    " (cannot run: see why)"
                },
                step.changes
            );
        }
    }
    // A template step that already has blocking findings stops `apply` at that step: said now,
    // one line each, and in the exit code, so the plan is fixed before the apply starts.
    let blocked = template_blocking(&plan);
    for (step, f) in &blocked {
        let line = format!(
            "plan: blocking: step {step}: {}: {} ({}): {}",
            f.rule_id,
            f.message,
            f.path,
            if f.fix.is_empty() {
                "see the plan"
            } else {
                &f.fix
            }
        );
        // The template's names are quoted in the findings: shown, never obeyed by a terminal.
        eprintln!("{}", acr_relocate::log::printable(&line));
    }
    if !blocked.is_empty() {
        eprintln!(
            "plan: the template step has {} (above): apply would stop at it and never delete the source; fix [template] in {} (or the export) and plan again; exit code {}",
            counted(blocked.len() as u64, "blocking finding", "blocking findings"),
            args.config.display(),
            exit::FAILURES
        );
    }
    // A step that cannot run makes apply refuse the whole plan: said, and in the exit code, so
    // that a pipeline gating on `plan` does not go on to an apply that does nothing.
    let unavailable: Vec<&str> = plan
        .steps
        .iter()
        .filter(|s| !s.available)
        .map(|s| s.id.as_str())
        .collect();
    if !unavailable.is_empty() {
        eprintln!(
            "plan: {} cannot run (why is above and in the plan): apply refuses this plan; complete {} and plan again; exit code {}",
            match unavailable.len() {
                1 => format!("step {}", unavailable[0]),
                _ => format!("steps {}", unavailable.join(", ")),
            },
            args.config.display(),
            exit::FAILURES
        );
    }
    if let Some(unread) = unread {
        eprintln!("plan: {unread}");
        return Ok(exit::FAILURES);
    }
    if !blocked.is_empty() || !unavailable.is_empty() {
        return Ok(exit::FAILURES);
    }
    Ok(exit::SUCCESS)
}

/// The blocking findings of the plan's template step, with the step's id.
fn template_blocking(plan: &Plan) -> Vec<(&str, &PlanFinding)> {
    plan.steps
        .iter()
        .flat_map(|s| match &s.kind {
            StepKind::Template { findings, .. } => findings
                .iter()
                .filter(|f| f.severity == "blocking")
                .map(|f| (s.id.as_str(), f))
                .collect(),
            _ => Vec::new(),
        })
        .collect()
}

/// The directory a file at `path` goes in (`.` for a bare file name).
pub(crate) fn directory_of(path: &Path) -> &Path {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// True when `a` and `b` name the same file, however spelt: `./x.json`, a path through a
/// symbolic link, a link to it, another hard link. A file that does not exist yet is compared by
/// its directory (resolved) and its name, so two outputs of one run to be written at one path
/// are found too.
pub(crate) fn same_file(a: &Path, b: &Path) -> bool {
    if let (Some(x), Some(y)) = (resolved(a), resolved(b)) {
        if x == y {
            return true;
        }
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if let (Ok(x), Ok(y)) = (std::fs::metadata(a), std::fs::metadata(b)) {
            return x.dev() == y.dev() && x.ino() == y.ino();
        }
    }
    false
}

/// A file a run reads or writes, with the words that name it to the user (`--config r.toml`,
/// `[template] output out/t.json`).
pub(crate) struct RunFile {
    /// The file.
    pub path: PathBuf,
    /// How the user knows it.
    pub named: String,
}

impl RunFile {
    /// `path`, named `named`.
    pub fn new(path: impl Into<PathBuf>, named: impl Into<String>) -> Self {
        RunFile {
            path: path.into(),
            named: named.into(),
        }
    }
}

/// The first output of a run that would replace one of its inputs, or an output before it
/// ([`same_file`]): `(output, what it would replace)`. `None` when each has a path of its own.
pub(crate) fn first_clash<'a>(
    outputs: &'a [RunFile],
    inputs: &'a [RunFile],
) -> Option<(&'a RunFile, &'a RunFile)> {
    outputs.iter().enumerate().find_map(|(i, output)| {
        inputs
            .iter()
            .chain(&outputs[..i])
            .find(|other| same_file(&output.path, &other.path))
            .map(|other| (output, other))
    })
}

/// The files of a plan's `[template]` step: its inputs (the export and its parameters file, the
/// record of the source's settings) and its outputs (the rewritten template, and the parameters
/// file written beside it), named as `[template]` names them.
pub(crate) fn template_files(
    input: &Path,
    parameters: Option<&Path>,
    output: &Path,
) -> (Vec<RunFile>, Vec<RunFile>) {
    let mut inputs = vec![RunFile::new(
        input,
        format!("[template] input {}", input.display()),
    )];
    if let Some(p) = parameters {
        inputs.push(RunFile::new(
            p,
            format!("[template] parameters {}", p.display()),
        ));
    }
    let parameters_output = template_parameters_output(output);
    let outputs = vec![
        RunFile::new(output, format!("[template] output {}", output.display())),
        RunFile::new(
            &parameters_output,
            format!(
                "the parameters file written beside [template] output, {}",
                parameters_output.display()
            ),
        ),
    ];
    (inputs, outputs)
}

/// Where the `[template]` step writes the rewritten parameters file: beside its output.
pub(crate) fn template_parameters_output(output: &Path) -> PathBuf {
    output.with_extension("parameters.json")
}

/// What to do about an output that is `replaced`: an export is the record of the source's
/// settings; any other file is given a path of its own.
pub(crate) fn clash_remedy(replaced: &RunFile) -> &'static str {
    if replaced.named.starts_with("[template] input")
        || replaced.named.starts_with("[template] parameters")
    {
        "choose another output (the export is the record of the source's settings)"
    } else {
        "give each its own path"
    }
}

/// `path` made canonical, or when it does not exist, its canonical directory joined with its name.
fn resolved(path: &Path) -> Option<PathBuf> {
    if let Ok(canonical) = path.canonicalize() {
        return Some(canonical);
    }
    let name = path.file_name()?;
    Some(directory_of(path).canonicalize().ok()?.join(name))
}

/// What the file system said, without the temporary file's path (the caller names the file the
/// user gave), then what to do about it.
fn write_failure(path: &Path, io: &std::io::Error) -> anyhow::Error {
    // tempfile's errors end with ` at path "DIR/.tmpXXXXXX"`: the temporary file's name.
    let said = io.to_string();
    let said = match said.rfind(" at path \"") {
        Some(at) => said[..at].to_string(),
        None => said,
    };
    let dir = directory_of(path);
    let remedy = match io.kind() {
        _ if path.is_dir() => "it is a directory: give the path of a file".to_string(),
        std::io::ErrorKind::NotFound => format!(
            "the directory {} does not exist: create it, or give a path in a directory that exists",
            dir.display()
        ),
        std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::ReadOnlyFilesystem => format!(
            "{} cannot be written: give a path in a directory this user can write",
            dir.display()
        ),
        std::io::ErrorKind::NotADirectory => format!(
            "{} is not a directory: give a path in a directory that exists",
            dir.display()
        ),
        _ => "give a path where a file can be written".to_string(),
    };
    anyhow::anyhow!("{said}: {remedy}; nothing was written")
}

/// Checks, before anything is read, that [`write_atomically`] can write `path`: it is not a
/// directory, and its directory takes a new file (one is made and removed at once).
pub fn check_writable(path: &Path) -> anyhow::Result<()> {
    if path.is_dir() {
        anyhow::bail!("it is a directory: give the path of a file; nothing was written");
    }
    tempfile::NamedTempFile::new_in(directory_of(path)).map_err(|e| write_failure(path, &e))?;
    Ok(())
}

/// Writes a file whole or not at all: through a temporary file beside it, then a rename. The
/// temporary file is removed on any failure; errors say what the file system said and what to
/// do, never the temporary file's name (the caller names `path` as the user gave it).
///
/// The temporary file is named after the file and this process (`.plan.json.tmp-PID-XXXXXX`,
/// private to this user), so that one a killed run left (SIGKILL, a power loss) is known for
/// what it is: the next write of the same file removes those of processes no longer running.
///
/// A path that names no regular file (`/dev/null`, `/dev/stdout`, a named pipe) is written
/// into as it is: a rename would put a file in the device's place (as root, `/dev/null`
/// itself). A symbolic link is followed: the file it names is replaced, the link stays.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let fail = |e: std::io::Error| write_failure(path, &e);
    if let Ok(meta) = std::fs::metadata(path) {
        if !meta.is_file() && !meta.is_dir() {
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .open(path)
                .map_err(fail)?;
            return std::io::Write::write_all(&mut file, bytes).map_err(fail);
        }
    }
    // The file a link names, which need not exist yet (a link made for the first plan): its
    // path read from the link, relative to the link's directory, links followed a few deep.
    let mut linked = path.to_path_buf();
    for _ in 0..8 {
        match std::fs::read_link(&linked) {
            Ok(to) => linked = directory_of(&linked).join(to),
            Err(_) => break,
        }
    }
    let path = linked.as_path();
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let prefix = format!(".{name}.tmp-");
    acr_relocate::leftovers::remove(directory_of(path), &[&prefix]);
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!("{prefix}{}-", std::process::id()))
        .tempfile_in(directory_of(path))
        .map_err(fail)?;
    std::io::Write::write_all(&mut tmp, bytes).map_err(fail)?;
    tmp.as_file().sync_all().map_err(fail)?;
    // On failure the temporary file comes back in the error and is removed as it drops.
    tmp.persist(path).map_err(|e| fail(e.error))?;
    Ok(())
}

/// When the plan's source prefix or `[scope]` narrowed the relocation and it selected nothing,
/// what narrowed it in the words of the config (`[source] prefix 'team' with [scope] tag = 'v1'`):
/// a relocation that would move nothing because of a misspelt scope or prefix is not a success.
/// `None` when something was selected, or when nothing narrowed it (an empty registry).
pub fn selected_nothing(plan: &Plan) -> Option<String> {
    let scope = &plan.scope;
    // As copy, verify and inventory count: tags, and without a tag filter the manifests without
    // a tag too (which the plan counts in its bytes). Repositories selected that hold nothing
    // (emptied by a deletion: a plan made again after it) are no misspelling; with a tag
    // expression, one that matched no tag in them is.
    // A scope whose tag filters (an expression or exclusions) left no tag moves nothing it
    // named, whatever untagged manifests it would still carry.
    let no_tag_filter = scope.tag.is_none() && scope.exclude_tags.is_empty();
    let holds_content = plan.totals.tags > 0 || (no_tag_filter && plan.totals.unique_bytes > 0);
    if !plan.repositories.is_empty() && (holds_content || no_tag_filter) {
        return None;
    }
    let prefix = match plan.source.parse::<Endpoint>() {
        Ok(Endpoint::Registry(r)) => r.prefix,
        _ => None,
    };
    let mut parts: Vec<String> = prefix
        .map(|p| format!("[source] prefix '{p}'"))
        .into_iter()
        .collect();
    let keys = describe_scope(scope);
    if !keys.is_empty() {
        parts.push(format!("[scope] {keys}"));
    }
    (!parts.is_empty()).then(|| parts.join(" with "))
}

/// A plan's `[scope]` in the words of the config (`repos = ["team/*"], tag = 'v1'`).
pub fn describe_scope(scope: &Scope) -> String {
    let mut keys = Vec::new();
    if !scope.repos.is_empty() {
        keys.push(format!("repos = {:?}", scope.repos));
    }
    if !scope.exclude_repos.is_empty() {
        keys.push(format!("exclude_repos = {:?}", scope.exclude_repos));
    }
    if let Some(tag) = &scope.tag {
        keys.push(format!("tag = '{tag}'"));
    }
    if !scope.exclude_tags.is_empty() {
        keys.push(format!("exclude_tags = {:?}", scope.exclude_tags));
    }
    if !scope.map.is_empty() {
        keys.push(format!("map = {:?}", scope.map));
    }
    keys.join(", ")
}

/// The matcher a plan's scope gives, prefixes taken from the endpoints.
pub fn matcher(
    scope: &Scope,
    source: &Endpoint,
    target: &Endpoint,
    shard: Option<(u32, u32)>,
) -> anyhow::Result<Matcher> {
    let prefix = |e: &Endpoint| match e {
        Endpoint::Registry(r) => r.prefix.clone(),
        Endpoint::Layout(_) | Endpoint::Archive(_) => None,
    };
    let renames = acr_relocate::rename::Renames::parse(&scope.map, "[scope] map")?;
    Matcher::new(Selection {
        source_prefix: prefix(source),
        target_prefix: prefix(target),
        renames,
        include: scope.repos.clone(),
        exclude: scope.exclude_repos.clone(),
        tag_patterns: scope.tag.iter().cloned().collect(),
        exclude_tag_patterns: scope.exclude_tags.clone(),
        shard,
    })
    .map_err(|e| match e {
        // The selection names command-line flags; here the values come from the config.
        acr_relocate::error::Error::Invalid { what, reason } => {
            let what = [
                ("--exclude-repo", "[scope] exclude_repos"),
                ("--repo", "[scope] repos"),
                ("--exclude-tag", "[scope] exclude_tags"),
                ("--tag", "[scope] tag"),
            ]
            .iter()
            .find_map(|(flag, key)| what.strip_prefix(flag).map(|rest| format!("{key}{rest}")))
            .unwrap_or(what);
            anyhow::Error::from(acr_relocate::error::Error::Invalid { what, reason })
        }
        other => other.into(),
    })
}

fn host(endpoint: &Endpoint) -> Option<String> {
    match endpoint {
        Endpoint::Registry(r) => Some(r.host.clone()),
        Endpoint::Layout(_) | Endpoint::Archive(_) => None,
    }
}

/// What `plan` resolved from the config before reading anything.
struct Sides {
    /// The config file, absolute.
    config: PathBuf,
    /// Its directory: relative paths of the config are taken from there.
    base: PathBuf,
    /// The source endpoint, `oci:` paths absolute.
    source: String,
    /// The target endpoint, `oci:` paths absolute.
    target: String,
    /// The source's Azure resource ID when `[delete_source] registry_resource` deletes it.
    deleted_resource: Option<String>,
}

/// Opens the target registry once, as the copy step of `apply` opens it (for writing, with the
/// `--dst-*` flags given to `plan`), and writes nothing to it: its `/v2/` is asked and the
/// credentials signed in with, so an endpoint with the wrong scheme, a certificate this machine
/// does not trust, or credentials the registry refuses stop `plan` (exit 2, no plan written)
/// instead of the copy, whose plan would have to be made again to name another endpoint.
///
/// Not when the plan deploys the target (`[deploy]`): the registry may not exist before the
/// deploy step creates it. Nor for a layout or an archive, which the copy creates when missing.
async fn check_target(args: &PlanArgs, config: &Config, target: &Endpoint) -> anyhow::Result<()> {
    if config.deploy.is_some() || !matches!(target, Endpoint::Registry(_)) {
        return Ok(());
    }
    transport::open(target, Access::Write, &args.connect.options(Side::Target)?)
        .await
        .context("[target]")?;
    Ok(())
}

async fn make_plan(args: &PlanArgs, config: &Config, sides: &Sides) -> anyhow::Result<Plan> {
    let base = sides.base.as_path();
    let source_text = sides.source.clone();
    let target_text = sides.target.clone();
    let source_ep = args::endpoint(&source_text, "[source]")?;
    let target_ep = args::endpoint(&target_text, "[target]")?;
    acr_relocate::endpoint::check_distinct(&source_ep, &target_ep)
        .await
        .context("[target]")?;
    let matcher = matcher(&config.scope, &source_ep, &target_ep, None)?;
    let source = transport::open(
        &source_ep,
        Access::Read,
        &args.connect.options(Side::Source)?,
    )
    .await
    .context("[source]")?;
    check_target(args, config, &target_ep).await?;
    let (jobs, max_jobs) = (args.jobs.jobs, args.jobs.max_jobs);
    let inv = inventory::inventory(source.clone(), &source_text, &matcher, jobs, max_jobs).await?;
    // One entry of several in [scope] that matched nothing is likely misspelt; when none
    // matched, the caller says so for the whole scope.
    if inv.totals.tags > 0 {
        for unmatched in matcher
            .unmatched()
            .into_iter()
            .chain(matcher.unmatched_exclusions())
        {
            let key = match unmatched.kind {
                acr_relocate::walk::PatternKind::Repo => {
                    format!("[scope] repos entry '{}'", unmatched.pattern)
                }
                acr_relocate::walk::PatternKind::Tag => {
                    format!("[scope] tag '{}'", unmatched.pattern)
                }
                acr_relocate::walk::PatternKind::ExcludeRepo => {
                    format!("[scope] exclude_repos entry '{}'", unmatched.pattern)
                }
                acr_relocate::walk::PatternKind::ExcludeTag => {
                    format!("[scope] exclude_tags entry '{}'", unmatched.pattern)
                }
            };
            eprintln!(
                "plan: warning: {key} matched nothing in the source (the rest of [scope] selected what the plan holds): check its spelling in --config {}",
                args.config.display()
            );
        }
    }
    let source: Arc<dyn Source> = source;
    let (rate, measured_on) = measure_rate(&source, &matcher, &inv).await;
    let repositories: Vec<PlanRepository> = inv
        .repositories
        .iter()
        .map(|r| {
            let mut seen = std::collections::BTreeSet::new();
            PlanRepository {
                name: r.name.clone(),
                tags: r.tags.len() as u64,
                bytes: r
                    .tags
                    .iter()
                    .filter(|t| seen.insert(t.digest.clone()))
                    .map(|t| t.size)
                    .sum(),
            }
        })
        .collect();
    let totals = Totals {
        repositories: inv.totals.repositories,
        tags: inv.totals.tags,
        unique_bytes: inv.totals.unique_bytes,
        shared_bytes: inv.totals.shared_bytes,
        measured_bytes_per_second: rate,
        measured_on_bytes: measured_on,
        estimated_seconds: rate.map(|r| inv.totals.unique_bytes as f64 / r),
    };
    let abs = |p: &Path| -> PathBuf {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            base.join(p)
        }
    };
    let mut steps: Vec<(StepKind, bool, String)> = vec![(
        StepKind::Inventory,
        true,
        "nothing: re-reads the source's inventory and writes it next to the journal".into(),
    )];
    if let Some(t) = &config.template {
        let input = abs(&t.input);
        let parameters = t.parameters.as_deref().map(abs);
        let output = abs(&t.output);
        let mut kind = StepKind::Template {
            input: input.clone(),
            parameters: parameters.clone(),
            name: t.name.clone(),
            location: t.location.clone(),
            output: output.clone(),
            subnets: t.subnets.clone(),
            replications: t.replications.clone(),
            drop_replications: t.drop_replications.clone(),
            key_uri: t.key_uri.clone(),
            identity: t.identity.clone(),
            only: t.only.clone(),
            private_endpoint_subnet: t.private_endpoint_subnet.clone(),
            private_dns_zone: t.private_dns_zone.clone(),
            findings: Vec::new(),
        };
        let options = super::apply::template_options(&kind).expect("a template step");
        let rewritten =
            super::apply::rewrite_template(&input, parameters.as_deref(), &options, &args.config)?;
        let findings: Vec<PlanFinding> = rewritten
            .findings
            .iter()
            .map(|f| PlanFinding {
                severity: f.severity.as_str().to_string(),
                rule_id: f.rule_id.to_string(),
                path: f.path.clone(),
                message: f.message.clone(),
                fix: f.fix.clone(),
            })
            .collect();
        let blocking = findings.iter().filter(|f| f.severity == "blocking").count();
        let StepKind::Template {
            findings: planned, ..
        } = &mut kind
        else {
            unreachable!("made above")
        };
        *planned = findings;
        steps.push((
            kind,
            true,
            format!(
                "writes {} for registry `{}` in {}; {} findings, {blocking} blocking (apply stops on a blocking one)",
                output.display(),
                t.name,
                t.location,
                rewritten.findings.len()
            ),
        ));
    }
    let target_id = config.target.azure_resource_id.clone();
    if let Some(d) = &config.deploy {
        let template = d
            .template
            .as_deref()
            .map(abs)
            .or_else(|| config.template.as_ref().map(|t| abs(&t.output)));
        let location = d
            .location
            .clone()
            .or_else(|| config.template.as_ref().map(|t| t.location.clone()));
        let subscription = d.subscription.clone().or_else(|| {
            target_id
                .as_deref()
                .and_then(|id| acr_azure::ResourceId::registry(id).ok())
                .map(|id| id.subscription)
        });
        let missing: Vec<&str> = [
            ("resource_group", d.resource_group.is_none()),
            (
                "subscription (or [target] azure_resource_id)",
                subscription.is_none(),
            ),
            ("location (or [template])", location.is_none()),
            ("template (or [template])", template.is_none()),
        ]
        .iter()
        .filter(|(_, m)| *m)
        .map(|(n, _)| *n)
        .collect();
        let available = missing.is_empty();
        let changes = if available {
            format!(
                "deploys {} into resource group {} of subscription {} (created in {} when missing), after ARM validates it",
                template.as_ref().map(|t| t.display().to_string()).unwrap_or_default(),
                d.resource_group.as_deref().unwrap_or(""),
                subscription.as_deref().unwrap_or(""),
                location.as_deref().unwrap_or("")
            )
        } else {
            format!("[deploy] needs {}", missing.join(", "))
        };
        steps.push((
            StepKind::Deploy {
                resource_group: d.resource_group.clone(),
                subscription,
                location,
                template,
                parameters: d.parameters.as_deref().map(abs),
                name: d.name.clone(),
            },
            available,
            changes,
        ));
    }
    let copy_available = config.copy.mode == CopyMode::Client || target_id.is_some();
    steps.push((
        StepKind::Copy {
            mode: config.copy.mode,
            target_id: target_id.clone().filter(|_| config.copy.mode == CopyMode::Import),
            source_id: config
                .source
                .azure_resource_id
                .clone()
                .filter(|_| config.copy.mode == CopyMode::Import),
            jobs: config.copy.jobs,
            max_jobs: config.copy.max_jobs,
            referrers: config.copy.referrers,
        },
        copy_available,
        if config.copy.mode == CopyMode::Import && copy_available {
            format!(
                "the target ACR imports {} of {} ({} unique) from {source_text} server-side (importImage, NoForce: tags already there are left alone)",
                counted(inv.totals.tags, "tag", "tags"),
                counted(inv.totals.repositories, "repository", "repositories"),
                human_bytes(inv.totals.unique_bytes)
            )
        } else if copy_available {
            format!(
                "writes {} of {} ({} unique) into {target_text}; tags already there with the same digest are left alone, tags with another digest are overwritten",
                counted(inv.totals.tags, "tag", "tags"),
                counted(inv.totals.repositories, "repository", "repositories"),
                human_bytes(inv.totals.unique_bytes)
            )
        } else {
            "ACR server-side import needs [target] azure_resource_id (the registry that runs importImage)"
                .into()
        },
    ));
    if let Some(a) = &config.attach_aks {
        for cluster in &a.clusters {
            acr_azure::ResourceId::cluster(cluster).with_context(|| {
                format!(
                    "[attach_aks] clusters entry in --config {}; nothing was written",
                    args.config.display()
                )
            })?;
        }
        let available = target_id.is_some() && !a.clusters.is_empty();
        steps.push((
            StepKind::AttachAks {
                clusters: a.clusters.clone(),
                registry_id: target_id.clone(),
            },
            available,
            if target_id.is_none() {
                "[attach_aks] needs [target] azure_resource_id (the registry the clusters pull from)".into()
            } else if a.clusters.is_empty() {
                "[attach_aks] clusters lists no cluster".into()
            } else {
                format!(
                    "gives the kubelet identity of {} AcrPull on the target registry (an assignment already there is kept)",
                    counted(a.clusters.len() as u64, "AKS cluster", "AKS clusters")
                )
            },
        ));
    }
    let roles = config.roles.as_ref();
    match (
        &config.source.azure_resource_id,
        &target_id,
        roles.is_none_or(|r| r.copy),
    ) {
        (Some(source_id), Some(target_id), true) => {
            let include_inherited = roles.is_some_and(|r| r.include_inherited);
            steps.push((
                StepKind::Roles {
                    source_id: source_id.clone(),
                    target_id: target_id.clone(),
                    include_inherited,
                },
                true,
                format!(
                    "gives the target registry the role assignments made on the source (the same principals, roles and conditions; one already there is kept){}; `[roles] copy = false` leaves it out",
                    if include_inherited {
                        ", and those the source inherits from a scope the target is not under"
                    } else {
                        ""
                    }
                ),
            ));
        }
        (_, _, true) if roles.is_some() => eprintln!(
            "plan: warning: [roles] gives the target the source registry's role assignments, and needs azure_resource_id in both [source] and [target]: the plan has no roles step; add them in --config {}",
            args.config.display()
        ),
        _ => {}
    }
    if let Some(r) = &config.rewrite {
        // The rewrite maps login servers: a copy that moves repositories under another prefix
        // would leave every reference naming a repository the copy did not write.
        let prefix_of = |e: &Endpoint| match e {
            Endpoint::Registry(r) => r.prefix.clone(),
            Endpoint::Layout(_) | Endpoint::Archive(_) => None,
        };
        let (source_prefix, target_prefix) = (prefix_of(&source_ep), prefix_of(&target_ep));
        if source_prefix != target_prefix {
            let shown = |p: &Option<String>| {
                p.as_deref()
                    .map_or("no prefix".to_string(), |p| format!("the prefix `{p}`"))
            };
            anyhow::bail!(
                "[rewrite] points references at another login server, and the copy moves repositories from {} of [source] to {} of [target]: the rewritten references would name repositories the copy does not write; give both sides the same prefix, or take [rewrite] out and rewrite by hand; nothing was written",
                shown(&source_prefix),
                shown(&target_prefix)
            );
        }
        let from = r
            .from
            .clone()
            .or_else(|| host(&source_ep))
            .context("[rewrite] needs `from` when the source is not a registry")?;
        let to =
            r.to.clone()
                .or_else(|| host(&target_ep))
                .context("[rewrite] needs `to` when the target is not a registry")?;
        let paths: Vec<PathBuf> = r.paths.iter().map(|p| abs(p)).collect();
        let renamer = super::rewrite::MapRenamer::of_scope(&config.scope)?;
        let mut rewriter = acr_rewrite::Rewriter::new(acr_rewrite::Options {
            from: acr_rewrite::Registry::parse(&from).context("[rewrite] from")?,
            to: acr_rewrite::Registry::parse(&to).context("[rewrite] to")?,
            pin_digests: false,
        });
        if let Some(renamer) = &renamer {
            rewriter = rewriter.with_renamer(renamer);
        }
        let scanned = rewriter.plan(&paths)?;
        if !scanned.failures.is_empty() {
            let failures: Vec<String> = scanned.failures.iter().map(|f| f.to_string()).collect();
            anyhow::bail!(
                "[rewrite] paths: {}: the rewrite step would fail on them; make them readable, or take them out of [rewrite] paths in --config {}; nothing was written",
                failures.join("; "),
                args.config.display()
            );
        }
        let changed: Vec<_> = scanned.files.iter().filter(|f| f.is_changed()).collect();
        let references: usize = changed.iter().map(|f| f.references.len()).sum();
        // Files that name neither registry: a misspelt `from` (or the wrong paths) would make a
        // step that changes nothing and is recorded done.
        let named_neither = rewriter.nothing_matched(&scanned).map(|n| {
            let named: Vec<String> = n
                .referenced
                .iter()
                .take(5)
                .map(|(registry, count)| format!("{registry} ({count})"))
                .collect();
            let instead = match named.is_empty() {
                true => "no registry".to_string(),
                false => named.join(", "),
            };
            format!(
                "the {} files of [rewrite] paths name neither {from} nor {to} (their image references name {instead}): check [rewrite] from and paths in --config {}",
                n.files,
                args.config.display()
            )
        });
        if let Some(warning) = &named_neither {
            eprintln!("plan: warning: {warning}");
        }
        let refused = super::apply::rewrite_refusal(
            &scanned,
            r.in_place_hard_links,
            &args.config.display().to_string(),
        );
        let check_against = r
            .check_against
            .as_deref()
            .map(|e| absolute_endpoint(e, base))
            .unwrap_or_else(|| target_text.clone());
        steps.push((
            StepKind::Rewrite {
                paths,
                from: from.clone(),
                to: to.clone(),
                check_against: check_against.clone(),
                pin_digests: r.pin_digests,
                in_place_hard_links: r.in_place_hard_links,
                files: changed.len(),
                references,
            },
            true,
            format!(
                "rewrites {references} image references in {} files from {from} to {to}{}{}; every reference is checked in {check_against} first and nothing is written if one is missing{}",
                changed.len(),
                if r.pin_digests { ", tags pinned to digests" } else { "" },
                if r.in_place_hard_links { ", hard-linked files written in place" } else { "" },
                refused.map(|r| format!(" (as the files are now, apply would refuse them: {r})")).unwrap_or_default()
            ) + &named_neither.map(|w| format!("; warning: {w}")).unwrap_or_default(),
        ));
    }
    steps.push((
        StepKind::Verify { deep: true },
        true,
        "nothing: reads both sides; every tag, manifest, blob and referrer of the plan's repositories must be in the target".into(),
    ));
    let source_id = config.source.azure_resource_id.clone();
    let settings = config.settings.as_ref();
    if let (Some(source_id), Some(target_id), true) =
        (&source_id, &target_id, settings.is_none_or(|s| s.compare))
    {
        let expect = settings.map(|s| s.expect.clone()).unwrap_or_default();
        steps.push((
            StepKind::Settings {
                source_id: source_id.clone(),
                target_id: target_id.clone(),
                expect: expect.clone(),
            },
            true,
            format!(
                "nothing: compares the two registries' Azure settings (SKU, network, policies, encryption, replications, webhooks, scope maps, tokens, cache rules, diagnostic settings, private endpoints); a difference not expected{} fails the step (`[settings] compare = false` leaves it out)",
                if expect.is_empty() {
                    String::new()
                } else {
                    format!(" (expected: {})", expect.join(", "))
                }
            ),
        ));
    }
    if let Some(d) = &config.delete_source {
        let content_check = if d.skip_content_check {
            "blobs checked by existence and size only: `skip_content_check`"
        } else {
            "every blob read from the target and checked against its digest"
        };
        if let Some(source_id) = &sides.deleted_resource {
            let part = match (&source_ep, describe_scope(&config.scope)) {
                (Endpoint::Registry(r), _) if r.prefix.is_some() => Some(format!(
                    "[source] names the prefix '{}'",
                    r.prefix.as_deref().unwrap_or_default()
                )),
                (_, scope) if !scope.is_empty() => Some(format!("[scope] {scope}")),
                _ => None,
            };
            if let Some(part) = part {
                anyhow::bail!(
                    "[delete_source] registry_resource = true deletes every repository of the source, and {part} selects a part of it: take that out, or take registry_resource out to delete the selected manifests only; nothing was written"
                );
            }
            steps.push((
                StepKind::DeleteSource {
                    confirm: d.confirm.clone(),
                    skip_content_check: d.skip_content_check,
                    registry_resource: Some(source_id.clone()),
                },
                true,
                format!(
                    "deletes the Azure resource of {source_text} ({source_id}) with all its content, replications and settings, only after its own fresh deep verify of the whole registry passes ({content_check}) and if `confirm` repeats the source exactly"
                ),
            ));
        } else {
            steps.push((
                StepKind::DeleteSource {
                    confirm: d.confirm.clone(),
                    skip_content_check: d.skip_content_check,
                    registry_resource: None,
                },
                true,
                format!(
                    "deletes the selected manifests and tags of {source_text}, only after its own fresh deep verify passes ({content_check}) and if `confirm` repeats the source exactly; blobs are left to the registry's garbage collection"
                ),
            ));
        }
    }
    let compared = steps
        .iter()
        .any(|(k, _, _)| matches!(k, StepKind::Settings { .. }));
    if !compared && settings.is_some_and(|s| s.compare) {
        eprintln!(
            "plan: warning: [settings] compares the registries' Azure settings, and needs azure_resource_id in both [source] and [target]: the plan has no settings step; add them in --config {}",
            args.config.display()
        );
    } else if !compared
        && settings.is_none_or(|s| s.compare)
        && config
            .delete_source
            .as_ref()
            .is_some_and(|d| d.registry_resource)
    {
        eprintln!(
            "plan: warning: the source registry resource is deleted without its settings compared to the target's: give [target] azure_resource_id in --config {} for a settings step before the deletion",
            args.config.display()
        );
    }
    Ok(Plan {
        schema_version: PLAN_SCHEMA_VERSION,
        created_by: concat!("acr-relocate ", env!("CARGO_PKG_VERSION")).into(),
        config: sides.config.clone(),
        source: source_text,
        target: target_text,
        scope: config.scope.clone(),
        totals,
        repositories,
        steps: steps
            .into_iter()
            .enumerate()
            .map(|(i, (kind, available, changes))| Step {
                id: format!("{}-{}", i + 1, kind.name()),
                kind,
                available,
                changes,
            })
            .collect(),
        warnings: inv
            .failed
            .iter()
            .map(|p| format!("{}: {}", p.item, p.reason))
            .collect(),
    })
}

/// Reads blobs of the first images of the selection for up to about three seconds (64 MB at
/// most) and returns the rate in bytes per second, with the bytes it was measured on.
async fn measure_rate(
    source: &Arc<dyn Source>,
    matcher: &Matcher,
    inv: &inventory::Inventory,
) -> (Option<f64>, u64) {
    const BUDGET: Duration = Duration::from_secs(3);
    const MAX_BYTES: u64 = 64 << 20;
    let started = Instant::now();
    let mut bytes = 0u64;
    let mut reading = Duration::ZERO;
    'repos: for repo in &inv.repositories {
        let name = match &matcher.selection().source_prefix {
            Some(p) => format!("{p}/{}", repo.name),
            None => repo.name.clone(),
        };
        for tag in repo.tags.iter().take(1) {
            let Ok(mut manifest) = source.manifest(&name, tag.digest.as_str()).await else {
                continue;
            };
            if let Ok(ManifestView::Index { manifests, .. }) = manifest.view() {
                let Some(child) = manifests.first() else {
                    continue;
                };
                match source.manifest(&name, child.digest.as_str()).await {
                    Ok(m) => manifest = m,
                    Err(_) => continue,
                }
            }
            let Ok(view) = manifest.view() else { continue };
            for blob in view.blobs() {
                if blob.foreign {
                    continue;
                }
                let t = Instant::now();
                let Ok(mut stream) = source.blob(&name, blob).await else {
                    continue;
                };
                while let Some(Ok(chunk)) = stream.next().await {
                    bytes += chunk.len() as u64;
                    if bytes >= MAX_BYTES {
                        break;
                    }
                }
                reading += t.elapsed();
                if bytes >= MAX_BYTES || started.elapsed() >= BUDGET {
                    break 'repos;
                }
            }
        }
    }
    if bytes == 0 || reading.is_zero() {
        return (None, 0);
    }
    (Some(bytes as f64 / reading.as_secs_f64()), bytes)
}

/// `1 h 20 min`-style durations.
pub fn duration(seconds: f64) -> String {
    let s = seconds.round() as u64;
    match s {
        0..=59 => format!("{s} s"),
        60..=3599 => format!("{} min {} s", s / 60, s % 60),
        _ => format!("{} h {} min", s / 3600, (s % 3600) / 60),
    }
}

/// The plan as a review document.
pub fn markdown(plan: &Plan) -> String {
    let t = &plan.totals;
    let mut out = format!(
        "# Relocation plan: `{}` → `{}`\n\nMade by {} from `{}`. Nothing has been written to either registry.\n\n",
        plan.source,
        plan.target,
        plan.created_by,
        plan.config.display()
    );
    out.push_str("## Scope\n\n");
    out.push_str(&format!(
        "- repositories: {}\n- excluded: {}\n- tags: {}\n\n",
        if plan.scope.repos.is_empty() {
            "all".to_string()
        } else {
            plan.scope.repos.join(", ")
        },
        if plan.scope.exclude_repos.is_empty() {
            "none".to_string()
        } else {
            plan.scope.exclude_repos.join(", ")
        },
        match (&plan.scope.tag, plan.scope.exclude_tags.is_empty()) {
            (None, true) => "all".to_string(),
            (Some(tag), true) => tag.clone(),
            (tag, false) => format!(
                "{}, except {}",
                tag.as_deref().unwrap_or("all"),
                plan.scope.exclude_tags.join(", ")
            ),
        }
    ));
    // Checked when the plan was made; a plan edited since shows its names unrenamed.
    let renames =
        acr_relocate::rename::Renames::parse(&plan.scope.map, "[scope] map").unwrap_or_default();
    if !renames.is_empty() {
        out.insert_str(
            out.len() - 1,
            &format!(
                "- renamed in the target: {}
",
                renames
                    .specs()
                    .iter()
                    .map(|s| format!("`{}`", s.replacen('=', "` → `", 1)))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        );
    }
    out.push_str("## Inventory\n\n| repositories | tags | unique bytes | shared bytes | measured rate | estimated time |\n|---:|---:|---:|---:|---:|---:|\n");
    out.push_str(&format!(
        "| {} | {} | {} | {} | {} | {} |\n\n",
        t.repositories,
        t.tags,
        human_bytes(t.unique_bytes),
        human_bytes(t.shared_bytes),
        t.measured_bytes_per_second
            .map(|r| format!(
                "{}/s (on {})",
                human_bytes(r as u64),
                human_bytes(t.measured_on_bytes)
            ))
            .unwrap_or_else(|| "not measured".into()),
        t.estimated_seconds
            .map(|s| format!("{} or more", duration(s)))
            .unwrap_or_else(|| "unknown".into())
    ));
    out.push_str(
        "The estimate is the time to read every unique blob once at the measured read rate of the \
         source: a lower bound. Writing is usually slower (the target hashes and stores every \
         byte), and each blob upload costs a few round trips on top.\n\n",
    );
    out.push_str("## Steps\n\n| # | step | available | what it changes |\n|---|---|---|---|\n");
    for step in &plan.steps {
        out.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            step.id,
            step.kind.name(),
            if step.available { "yes" } else { "**no**" },
            step.changes.replace('|', "\\|")
        ));
    }
    for step in &plan.steps {
        if let StepKind::Template { findings, .. } = &step.kind {
            out.push_str("\n## Template findings\n\n");
            if findings.is_empty() {
                out.push_str("None.\n");
            }
            for f in findings {
                out.push_str(&format!("- **{}** `{}`", f.severity, f.rule_id));
                if !f.path.is_empty() {
                    out.push_str(&format!(" at `{}`", f.path));
                }
                out.push_str(&format!(": {}", f.message));
                if !f.fix.is_empty() {
                    out.push_str(&format!(" — fix: {}", f.fix));
                }
                out.push('\n');
            }
        }
    }
    if plan.steps.iter().any(|s| !s.available) {
        out.push_str("\n**`apply` refuses this plan**: it names steps that lack what they need (see each step).\n");
    }
    if !plan.warnings.is_empty() {
        out.push_str("\n## Could not be read\n\n");
        for w in &plan.warnings {
            out.push_str(&format!("- {w}\n"));
        }
    }
    let (column, rule) = match renames.is_empty() {
        true => ("", ""),
        false => (" in the target |", "---|"),
    };
    out.push_str(&format!(
        "\n## Repositories\n\n| repository |{column} tags | bytes |\n|---|{rule}---:|---:|\n{}",
        plan.repositories
            .iter()
            .map(|r| {
                let renamed = match renames.is_empty() {
                    true => String::new(),
                    false => format!(
                        " `{}` |",
                        renames.apply(&r.name).unwrap_or_else(|| r.name.clone())
                    ),
                };
                format!(
                    "| `{}` |{renamed} {} | {} |\n",
                    r.name,
                    r.tags,
                    human_bytes(r.bytes)
                )
            })
            .collect::<String>()
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names_in(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn a_file_that_cannot_take_the_place_of_its_path_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let in_the_way = dir.path().join("plan.json");
        std::fs::create_dir(&in_the_way).unwrap();
        std::fs::write(in_the_way.join("kept"), b"x").unwrap();
        let error = write_atomically(&in_the_way, b"{}")
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("it is a directory: give the path of a file"),
            "{error}"
        );
        assert!(error.ends_with("nothing was written"), "{error}");
        assert!(!error.contains(".tmp"), "{error}");
        assert_eq!(names_in(dir.path()), ["plan.json"]);
        assert_eq!(names_in(&in_the_way), ["kept"]);
    }

    /// The temporary file a killed write left (its process gone) is removed by the next write
    /// of the same file; one of a running process, or of another file, stays.
    #[test]
    fn a_temporary_file_a_killed_write_left_is_removed_by_the_next_write() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plan.json");
        // PIDs above the kernel's limit (4194304) belong to no process.
        std::fs::write(dir.path().join(".plan.json.tmp-4999999"), b"{half").unwrap();
        let parent = format!(
            ".plan.json.tmp-{}-Ab12Cd",
            std::os::unix::process::parent_id()
        );
        std::fs::write(dir.path().join(&parent), b"{writing").unwrap();
        std::fs::write(dir.path().join(".other.json.tmp-4999999"), b"x").unwrap();
        write_atomically(&path, b"new").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
        let names = names_in(dir.path());
        assert!(
            !names.contains(&".plan.json.tmp-4999999".to_string()),
            "{names:?}"
        );
        assert!(
            !names
                .iter()
                .any(|n| n.contains(&std::process::id().to_string())),
            "{names:?}"
        );
        assert!(names.contains(&parent), "{names:?}");
        assert!(
            names.contains(&".other.json.tmp-4999999".to_string()),
            "{names:?}"
        );
    }

    /// `-o /dev/null` writes into the device: a rename would have put a regular file in its
    /// place (checked through a link to it, so that a failure replaces the link, not the
    /// device).
    #[test]
    fn a_device_is_written_into_and_never_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let link = dir.path().join("null");
        std::os::unix::fs::symlink("/dev/null", &link).unwrap();
        write_atomically(&link, b"{}").unwrap();
        assert!(std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        use std::os::unix::fs::FileTypeExt;
        assert!(std::fs::metadata("/dev/null")
            .unwrap()
            .file_type()
            .is_char_device());
        assert_eq!(names_in(dir.path()), ["null"]);
    }

    /// A link to a file: the file it names is replaced whole (or made, the first time), and
    /// the link stays a link.
    #[test]
    fn a_linked_file_is_replaced_and_the_link_kept() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("plans")).unwrap();
        let link = dir.path().join("first.json");
        std::os::unix::fs::symlink("plans/first.json", &link).unwrap();
        write_atomically(&link, b"first").unwrap();
        assert_eq!(
            std::fs::read(dir.path().join("plans/first.json")).unwrap(),
            b"first"
        );

        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("plans")).unwrap();
        let real = dir.path().join("plans/plan.json");
        std::fs::write(&real, b"old").unwrap();
        let link = dir.path().join("plan.json");
        std::os::unix::fs::symlink("plans/plan.json", &link).unwrap();
        write_atomically(&link, b"new").unwrap();
        assert_eq!(std::fs::read(&real).unwrap(), b"new");
        assert!(std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
    }

    #[test]
    fn a_file_is_written_whole_in_place_of_the_old_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plan.json");
        std::fs::write(&path, b"old").unwrap();
        check_writable(&path).unwrap();
        write_atomically(&path, b"new").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
        assert_eq!(names_in(dir.path()), ["plan.json"]);
    }
}
