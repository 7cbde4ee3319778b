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
    absolute_endpoint, check_sides, Config, CopyMode, Plan, PlanFinding, PlanMention,
    PlanOverwrite, PlanRepository, Scope, Step, StepKind, Totals, PLAN_SCHEMA_VERSION,
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
out of it, the template step has blocking findings that would stop apply, a step would fail as
things are now (the [rewrite] files still mention a source the plan deletes, target tags that
[copy] no_overwrite keeps), or a step cannot run (apply refuses the plan; each said on stderr);
2 config, input or connection error, or a [rewrite] reference to an image the target will not
hold after the copy, nothing written; 3 the source stopped answering, nothing written; 4 [scope]
selected nothing, or the [rewrite] files name neither registry, nothing written; 130
interrupted (143 by SIGTERM, 129 by SIGHUP), nothing written.";

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
    let (plan, notes) = match planned {
        Ok(planned) => planned,
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
    if let Some((line, code)) = &notes.refusal {
        // The files' names and lines are quoted: shown, never obeyed by a terminal.
        eprintln!("{}", acr_relocate::log::printable(line));
        return Ok(*code);
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
    // A step that would fail as things are now (the files still name a source the plan
    // deletes, tags `no_overwrite` keeps): said, and in the exit code, as a blocking finding is.
    for (kind, why) in &notes.would_fail {
        let id = plan
            .steps
            .iter()
            .find(|s| s.kind.name() == *kind)
            .map_or(*kind, |s| s.id.as_str());
        let line = format!(
            "plan: step {id} would fail as things are now: {why}; apply would stop at it{}; exit code {}",
            match plan
                .steps
                .iter()
                .any(|s| matches!(s.kind, StepKind::DeleteSource { .. }))
            {
                true => " and never delete the source",
                false => "",
            },
            exit::FAILURES
        );
        eprintln!("{}", acr_relocate::log::printable(&line));
    }
    if let Some(unread) = unread {
        eprintln!("plan: {unread}");
        return Ok(exit::FAILURES);
    }
    if !blocked.is_empty() || !unavailable.is_empty() || !notes.would_fail.is_empty() {
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

/// The registries of a `[rewrite]`: `from` and `to` as the plan records them (as the config
/// gives them, by default the source's and the target's hosts), and as the rewrite takes them.
struct Rewriting {
    from_text: String,
    to_text: String,
    from: acr_rewrite::Registry,
    to: acr_rewrite::Registry,
}

/// The prefix of a registry endpoint (`HOST/team`: `team`); none for a layout or an archive.
pub fn source_prefix(endpoint: &Endpoint) -> Option<&str> {
    match endpoint {
        Endpoint::Registry(r) => r.prefix.as_deref(),
        Endpoint::Layout(_) | Endpoint::Archive(_) => None,
    }
}

/// The registries a `[rewrite]` maps between, refused (naming what to write instead) when the
/// rewritten references would not name what the copy writes. The rewrite keeps the path after
/// the login server: `FROM/PATH` becomes `TO/PATH`, with the prefix `to` may carry
/// (`HOST/PREFIX`, as `rewrite --to` takes it). The copy takes `S/NAME` to `T/NAME` (`S`, `T`
/// the prefixes of [source] and [target]), so the prefix of `to` followed by `S` must be `T`:
/// `to` has no prefix when both sides have the same, and the target's when the source has none.
fn rewrite_registries(
    r: &acr_relocate::relocation::plan::RewriteConfig,
    source: &Endpoint,
    target: &Endpoint,
) -> anyhow::Result<Rewriting> {
    let from_text = r
        .from
        .clone()
        .or_else(|| host(source))
        .context("[rewrite] needs `from` when the source is not a registry")?;
    let to_text =
        r.to.clone()
            .or_else(|| host(target))
            .context("[rewrite] needs `to` when the target is not a registry")?;
    let from = acr_rewrite::Registry::parse(&from_text).context("[rewrite] from")?;
    let to = acr_rewrite::Registry::parse_target(&to_text).context("[rewrite] to")?;
    if from == to.without_prefix() {
        anyhow::bail!(
            "[rewrite] from {from} and to {to} are one registry: a rewrite moves references between registries (and a second run would add a prefix again); take [rewrite] out and rewrite by hand; nothing was written"
        );
    }
    let prefix_of = |e: &Endpoint| match e {
        Endpoint::Registry(r) => r.prefix.clone(),
        Endpoint::Layout(_) | Endpoint::Archive(_) => None,
    };
    let (s, t) = (prefix_of(source), prefix_of(target));
    let followed = match (to.prefix(), s.as_deref()) {
        (None, s) => s.map(str::to_string),
        (Some(p), None) => Some(p.to_string()),
        (Some(p), Some(s)) => Some(format!("{p}/{s}")),
    };
    if followed == t {
        return Ok(Rewriting {
            from_text,
            to_text,
            from,
            to,
        });
    }
    // The prefix `to` would need: `Some(None)` none, `None` when no prefix will do.
    let needed: Option<Option<String>> = match (s.as_deref(), t.as_deref()) {
        (None, t) => Some(t.map(str::to_string)),
        (Some(s), Some(t)) if s == t => Some(None),
        (Some(s), Some(t)) => t
            .strip_suffix(s)
            .and_then(|p| p.strip_suffix('/'))
            .filter(|p| !p.is_empty())
            .map(|p| Some(p.to_string())),
        (Some(_), None) => None,
    };
    let shown =
        |p: Option<&str>| p.map_or("no prefix".to_string(), |p| format!("the prefix `{p}`"));
    let login = to.without_prefix();
    let given = match &r.to {
        Some(text) => format!(
            "[rewrite] to = \"{text}\" points references at {} of {login}",
            shown(to.prefix())
        ),
        None => format!(
            "[rewrite] points references at {login} (no `to` given: the target's host, without a prefix)"
        ),
    };
    let remedy = match needed {
        Some(Some(p)) => format!(
            "write to = \"{login}/{p}\" under [rewrite] ({from}/NAME then becomes {login}/{p}/NAME, where the copy writes it), give both sides the same prefix, or take [rewrite] out and rewrite by hand"
        ),
        Some(None) => format!(
            "write to = \"{login}\" under [rewrite] (or leave `to` out), or take [rewrite] out and rewrite by hand"
        ),
        None => "no [rewrite] to follows this copy, as the rewrite keeps the repository path after the login server: give both sides the same prefix, or take [rewrite] out and rewrite by hand".to_string(),
    };
    anyhow::bail!(
        "{given}, and the copy moves repositories from {} of [source] to {} of [target]: the rewritten references would name repositories the copy does not write; {remedy}; nothing was written",
        shown(s.as_deref()),
        shown(t.as_deref())
    )
}

/// Why a plan whose `[rewrite]` files name neither registry is refused (exit 4, as `rewrite`
/// exits when its files name neither `--from` nor `--to`), in its words: a misspelt `from` (or
/// the wrong paths) would make a step that changes nothing and is recorded done, before a
/// deletion of the source.
fn named_neither(
    n: &acr_rewrite::NothingMatched,
    from: &acr_rewrite::Registry,
    to: &acr_rewrite::Registry,
    config: &Path,
) -> String {
    let (code, config) = (exit::NOTHING_SELECTED, config.display());
    if n.files == 0 {
        return format!(
            "no file was read from [rewrite] paths (binary files are skipped, and in a directory walk what .gitignore excludes), so nothing names {from} ([rewrite] from) or {to} ([rewrite] to) and there is nothing to rewrite: check [rewrite] paths in --config {config}; no plan was written; exit code {code}"
        );
    }
    let instead = super::rewrite::what_they_name(n);
    format!(
        "the {} file(s) of [rewrite] paths name neither {from} ([rewrite] from) nor {to} ([rewrite] to), so there is nothing to rewrite: check the spelling of [rewrite] from (and paths) in --config {config}; {instead}; no plan was written; exit code {code}",
        n.files
    )
}

/// How many items a step's `changes` names; the plan's JSON holds them all, and so does the
/// Markdown review.
const NAMED_IN_CHANGES: usize = 20;

/// `items` joined for a step's `changes`, the first [`NAMED_IN_CHANGES`] of them, then how many
/// more the step's `key` holds.
fn listed(items: Vec<String>, key: &str) -> String {
    let more = items.len().saturating_sub(NAMED_IN_CHANGES);
    let mut text = items
        .into_iter()
        .take(NAMED_IN_CHANGES)
        .collect::<Vec<_>>()
        .join("; ");
    if more > 0 {
        text.push_str(&format!("; and {more} more (all in the step's `{key}`)"));
    }
    text
}

/// `would overwrite REPOSITORY:TAG: the target has DIGEST, the source DIGEST`, as `copy
/// --dry-run` says it (`verb` is `would keep` with `no_overwrite`).
fn overwrite_line(o: &PlanOverwrite, verb: &str) -> String {
    format!(
        "{verb} {}: the target has {}, the source {}",
        o.item, o.target_has, o.source
    )
}

/// The tags the copy would overwrite: of the repositories the target already has (its catalog,
/// else each repository's tag listing), the tags both hold, with another digest in the target
/// (from the listing where it gives digests, else one `HEAD` per tag in both, `at_once` at a
/// time). Referrers fallback tags (`sha256-<hex>`) are left out: the copy merges them. What
/// cannot be read is not named (the copy finds it).
async fn find_overwrites(
    target: &Arc<dyn transport::Store>,
    inv: &inventory::Inventory,
    matcher: &Matcher,
    at_once: usize,
) -> (Vec<PlanOverwrite>, Vec<String>) {
    let catalog: Option<std::collections::HashSet<String>> = target
        .repositories()
        .await
        .ok()
        .map(|names| names.into_iter().collect());
    let repositories: Vec<(String, &inventory::RepositoryEntry)> = inv
        .repositories
        .iter()
        .map(|r| (matcher.target_name(&r.name), r))
        .filter(|(name, _)| catalog.as_ref().is_none_or(|c| c.contains(name)))
        .collect();
    // Each repository's tags in the target, with their digests where the listing gives them.
    let listed: Vec<(String, &inventory::RepositoryEntry, TargetTags)> =
        futures::stream::iter(repositories)
            .map(|(name, repo)| async move {
                let tags = match target.tag_digests(&name).await {
                    Ok(Some(tags)) => TargetTags::Digests(
                        tags.into_iter()
                            .map(|(tag, digest)| (tag, digest.to_string()))
                            .collect(),
                    ),
                    _ => match target.tags(&name).await {
                        Ok(tags) => TargetTags::Names(tags.into_iter().collect()),
                        Err(e) if e.is_not_found() => TargetTags::Names(Default::default()),
                        Err(e) => TargetTags::Unread(e.to_string()),
                    },
                };
                (name, repo, tags)
            })
            .buffer_unordered(at_once)
            .collect()
            .await;
    let mut found = Vec::new();
    let mut to_ask = Vec::new();
    let mut unchecked = Vec::new();
    for (name, repo, tags) in &listed {
        if let TargetTags::Unread(reason) = tags {
            unchecked.push(format!("{name} ({reason})"));
            continue;
        }
        for tag in repo
            .tags
            .iter()
            .filter(|t| !acr_relocate::referrers::is_fallback_tag(&t.tag))
        {
            match tags {
                TargetTags::Digests(digests) => {
                    if let Some(had) = digests.get(&tag.tag) {
                        if had.as_str() != tag.digest.as_str() {
                            found.push(PlanOverwrite {
                                item: format!("{name}:{}", tag.tag),
                                target_has: had.clone(),
                                source: tag.digest.to_string(),
                            });
                        }
                    }
                }
                TargetTags::Names(names) if names.contains(&tag.tag) => {
                    to_ask.push((name.as_str(), tag));
                }
                TargetTags::Names(_) | TargetTags::Unread(_) => {}
            }
        }
    }
    let asked: Vec<Result<Option<PlanOverwrite>, String>> = futures::stream::iter(to_ask)
        .map(|(name, tag)| async move {
            let had = match target.manifest_digest(name, &tag.tag).await {
                Ok(Some(had)) => had,
                Ok(None) => return Ok(None),
                Err(e) => return Err(format!("{name}:{} ({e})", tag.tag)),
            };
            Ok((had != tag.digest).then(|| PlanOverwrite {
                item: format!("{name}:{}", tag.tag),
                target_has: had.to_string(),
                source: tag.digest.to_string(),
            }))
        })
        .buffer_unordered(at_once)
        .collect()
        .await;
    for answer in asked {
        match answer {
            Ok(overwrite) => found.extend(overwrite),
            Err(item) => unchecked.push(item),
        }
    }
    found.sort_by(|a, b| a.item.cmp(&b.item));
    unchecked.sort();
    (found, unchecked)
}

/// A repository's tags in the target: with their digests (an ACR's listing), names alone, or
/// why they could not be read.
enum TargetTags {
    Digests(std::collections::HashMap<String, String>),
    Names(std::collections::HashSet<String>),
    /// Its tags could not be listed: why.
    Unread(String),
}

/// A repository the copy writes, by its name in the target ([`ExpectedTarget`]).
struct PlannedRepository {
    /// Its name in the source, prefix included.
    source: String,
    /// The selected tags and their digests.
    tags: std::collections::HashMap<String, String>,
    /// The digests of the selected tags.
    digests: std::collections::HashSet<String>,
    /// The digests of the selected tags that are indexes (their children are copied too).
    indexes: Vec<String>,
    /// Manifests no tag reaches, where the source lists them (copied when the scope has no tag
    /// filter).
    untagged: std::collections::HashSet<String>,
}

/// What the target will hold once the copy has run, as the rewrite step's check will find it:
/// the tags the plan's inventory selects under their names in the target (renamed by `[scope]
/// map`, under the target's prefix) with the manifests below them, else what the registry the
/// references are checked in holds now. The rewriter asks it synchronously, from a blocking
/// thread; the lookups run on `handle`.
///
/// A reference the target will not hold is answered with an error that says why (the scope
/// leaves it out, the source lacks it), which the rewriter keeps as the problem's message
/// ([`acr_rewrite::Issue::Lookup`]).
struct ExpectedTarget {
    handle: tokio::runtime::Handle,
    planned: std::collections::HashMap<String, PlannedRepository>,
    /// Source names whose tags could not be read (left out of the plan, warned about).
    unread: std::collections::HashSet<String>,
    source: Arc<dyn Source>,
    /// The registry the references are checked in, as it is now (`None`: it holds nothing
    /// `plan` can read).
    now: Option<Arc<dyn transport::Store>>,
    /// The prefix `[rewrite] to` adds before the names of the references.
    to_prefix: Option<String>,
    renamer: Option<super::rewrite::MapRenamer>,
    /// The scope's tag filters, in the config's words.
    tag_filters: String,
    /// Whether the copy takes manifests no tag reaches.
    takes_untagged: bool,
    /// The prefix of `[source]`: a repository outside it is not the copy's.
    source_prefix: Option<String>,
    /// False with `[copy] referrers = false`: the referrers fallback tags stay behind.
    referrers: bool,
    /// The index children below the selected tags, read when first needed, by target name.
    children:
        std::cell::RefCell<std::collections::HashMap<String, std::collections::HashSet<String>>>,
}

impl ExpectedTarget {
    fn new(
        inv: &inventory::Inventory,
        matcher: &Matcher,
        source: Arc<dyn Source>,
        now: Option<Arc<dyn transport::Store>>,
        to: &acr_rewrite::Registry,
        renamer: Option<super::rewrite::MapRenamer>,
        scope: &Scope,
    ) -> Self {
        let source_prefix = matcher.selection().source_prefix.clone();
        let full = |name: &str| match &source_prefix {
            Some(p) => format!("{p}/{name}"),
            None => name.to_string(),
        };
        let is_index = |media_type: &str| {
            media_type.contains("image.index") || media_type.contains("manifest.list")
        };
        let planned = inv
            .repositories
            .iter()
            .map(|r| {
                let repository = PlannedRepository {
                    source: full(&r.name),
                    tags: r
                        .tags
                        .iter()
                        .map(|t| (t.tag.clone(), t.digest.to_string()))
                        .collect(),
                    digests: r.tags.iter().map(|t| t.digest.to_string()).collect(),
                    indexes: r
                        .tags
                        .iter()
                        .filter(|t| is_index(&t.media_type))
                        .map(|t| t.digest.to_string())
                        .collect(),
                    untagged: r.untagged.iter().flatten().map(|d| d.to_string()).collect(),
                };
                (matcher.target_name(&r.name), repository)
            })
            .collect();
        let unread = inv
            .failed
            .iter()
            .map(|p| full(p.item.split(':').next().unwrap_or(&p.item)))
            .collect();
        let mut filters = Vec::new();
        if let Some(tag) = &scope.tag {
            filters.push(format!("tag = '{tag}'"));
        }
        if !scope.exclude_tags.is_empty() {
            filters.push(format!("exclude_tags = {:?}", scope.exclude_tags));
        }
        ExpectedTarget {
            handle: tokio::runtime::Handle::current(),
            planned,
            unread,
            source_prefix,
            referrers: matcher.takes_referrers(),
            source,
            now,
            to_prefix: to.prefix().map(str::to_string),
            renamer,
            tag_filters: filters.join(", "),
            takes_untagged: matcher.selects_untagged(),
            children: Default::default(),
        }
    }

    /// What the registry the references are checked in holds now under `reference` (a tag or a
    /// digest) of `repository`.
    fn held_now(&self, repository: &str, reference: &str) -> Result<Option<String>, String> {
        let Some(now) = &self.now else {
            return Ok(None);
        };
        self.handle
            .block_on(now.manifest_digest(repository, reference))
            .map(|d| d.map(|d| d.to_string()))
            .map_err(|e| format!("cannot check the target: {e}"))
    }

    /// The manifests below the selected indexes of `repository` (`planned`), nested indexes
    /// followed, read from the source the first time they are asked for.
    fn children_of(
        &self,
        repository: &str,
        planned: &PlannedRepository,
    ) -> std::collections::HashSet<String> {
        if let Some(known) = self.children.borrow().get(repository) {
            return known.clone();
        }
        let is_index = |media_type: &str| {
            media_type.contains("image.index") || media_type.contains("manifest.list")
        };
        let mut found = std::collections::HashSet::new();
        let mut pending = planned.indexes.clone();
        while let Some(digest) = pending.pop() {
            let read = self
                .handle
                .block_on(self.source.manifest(&planned.source, &digest));
            let Ok(ManifestView::Index { manifests, .. }) = read.and_then(|m| m.view()) else {
                continue;
            };
            for child in manifests {
                let child_digest = child.digest.to_string();
                if found.insert(child_digest.clone()) && is_index(&child.media_type) {
                    pending.push(child_digest);
                }
            }
        }
        self.children
            .borrow_mut()
            .insert(repository.to_string(), found.clone());
        found
    }

    /// The name in the source of `repository`, a name in the target as the rewrite asks for it:
    /// without the prefix of `to`, renamed back.
    fn source_name(&self, repository: &str) -> Option<String> {
        let renamed = match &self.to_prefix {
            Some(p) => repository.strip_prefix(p.as_str())?.strip_prefix('/')?,
            None => repository,
        };
        Some(
            self.renamer
                .as_ref()
                .and_then(|r| acr_rewrite::Renamer::original(r, renamed))
                .unwrap_or_else(|| renamed.to_string()),
        )
    }

    /// Why the target will not hold `reference` (a tag, or a digest when `by_digest`) of
    /// `repository`, asked of the source.
    fn why_missing(&self, repository: &str, reference: &str, by_digest: bool) -> String {
        let planned = self.planned.get(repository);
        let Some(source) = planned
            .map(|p| p.source.clone())
            .or_else(|| self.source_name(repository))
        else {
            return format!(
                "the copy writes no repository of that name (it is not under the prefix `{}` of [rewrite] to), and the target does not hold it",
                self.to_prefix.as_deref().unwrap_or_default()
            );
        };
        if self.unread.contains(&source) {
            return format!(
                "the source's tags of `{source}` could not be read (see the warning), so the plan does not copy it, and the target does not hold it"
            );
        }
        let held = self
            .handle
            .block_on(self.source.manifest_digest(&source, reference));
        match (held, planned.is_some(), by_digest) {
            (Err(e), ..) => format!(
                "the target does not hold it, and the source could not be asked about it: {e}"
            ),
            (Ok(Some(_)), true, false)
                if !self.referrers && acr_relocate::referrers::is_fallback_tag(reference) =>
            {
                format!(
                    "[copy] referrers = false leaves this referrers fallback tag of `{source}` out of the copy, and the target does not hold it"
                )
            }
            (Ok(Some(_)), true, false) if self.tag_filters.is_empty() => format!(
                "the copy leaves this tag of `{source}` out (it describes an image the copy leaves out), and the target does not hold it"
            ),
            (Ok(Some(_)), true, false) => format!(
                "[scope] {} leaves this tag of `{source}` out of the copy, and the target does not hold it",
                self.tag_filters
            ),
            (Ok(Some(_)), true, true) => format!(
                "no tag the copy takes in `{source}` is or holds this manifest, so the copy does not bring it (a manifest without a tag goes only from a source that lists such manifests, an ACR or a layout: tag it in the source, or point the file at a tag the copy takes), and the target does not hold it"
            ),
            (Ok(Some(_)), false, _)
                if self.source_prefix.as_ref().is_some_and(|p| {
                    !source.starts_with(&format!("{p}/"))
                }) =>
            {
                format!(
                    "`{source}` is outside the prefix `{}` of [source], so the copy does not take it (the rewrite maps the whole registry), and the target does not hold it",
                    self.source_prefix.as_deref().unwrap_or_default()
                )
            }
            (Ok(Some(_)), false, _) => format!(
                "[scope] leaves the repository `{source}` out of the copy, and the target does not hold it"
            ),
            (Ok(None), _, false) => format!(
                "the source has no tag `{reference}` in `{source}`, and the target does not hold it"
            ),
            (Ok(None), _, true) => format!(
                "the source's `{source}` has no such manifest, and the target does not hold it"
            ),
        }
    }
}

impl acr_rewrite::TargetResolver for ExpectedTarget {
    fn resolve(&self, repository: &str, tag: &str) -> Result<Option<String>, String> {
        if let Some(digest) = self.planned.get(repository).and_then(|p| p.tags.get(tag)) {
            return Ok(Some(digest.clone()));
        }
        if let Some(digest) = self.held_now(repository, tag)? {
            return Ok(Some(digest));
        }
        Err(self.why_missing(repository, tag, false))
    }

    fn has_digest(&self, repository: &str, digest: &str) -> Result<bool, String> {
        let planned = self.planned.get(repository);
        if let Some(p) = planned {
            if p.digests.contains(digest) || (self.takes_untagged && p.untagged.contains(digest)) {
                return Ok(true);
            }
        }
        if self.held_now(repository, digest)?.is_some() {
            return Ok(true);
        }
        if let Some(p) = planned {
            if self.children_of(repository, p).contains(digest) {
                return Ok(true);
            }
        }
        Err(self.why_missing(repository, digest, true))
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
///
/// Returns the target as it is now, to read what it already holds (the tags the copy would
/// overwrite, the images the rewrite's references name): the registry opened, or a layout that
/// exists ([`as_it_is`]); `None` when it holds nothing `plan` can read.
async fn check_target(
    args: &PlanArgs,
    config: &Config,
    target: &Endpoint,
) -> anyhow::Result<Option<Arc<dyn transport::Store>>> {
    if config.deploy.is_some() {
        return Ok(None);
    }
    if !matches!(target, Endpoint::Registry(_)) {
        return as_it_is(args, config, target, "[target]").await;
    }
    let store = transport::open(target, Access::Write, &args.connect.options(Side::Target)?)
        .await
        .context("[target]")?;
    Ok(Some(store))
}

/// A registry or layout as it is now, read only, to look up what it holds: a registry opened
/// with the `--dst-*` flags (refused, naming `key`, when it cannot be), a layout only when it
/// exists. `None` when the plan deploys the registry (it may not exist yet), for a layout not
/// there, and for an archive (written whole by the copy, not read while planning).
async fn as_it_is(
    args: &PlanArgs,
    config: &Config,
    endpoint: &Endpoint,
    key: &str,
) -> anyhow::Result<Option<Arc<dyn transport::Store>>> {
    match endpoint {
        _ if config.deploy.is_some() => Ok(None),
        Endpoint::Registry(_) => Ok(Some(
            transport::open(endpoint, Access::Read, &args.connect.options(Side::Target)?)
                .await
                .with_context(|| key.to_string())?,
        )),
        Endpoint::Layout(path) if path.join("index.json").is_file() => {
            Ok(
                transport::open(endpoint, Access::Read, &args.connect.options(Side::Target)?)
                    .await
                    .ok(),
            )
        }
        Endpoint::Layout(_) | Endpoint::Archive(_) => Ok(None),
    }
}

/// What `plan` says besides the plan itself, found while making it.
#[derive(Default)]
struct Notes {
    /// A reason to write no plan, found once the plan was made: the line to print and the exit
    /// code (the files of `[rewrite]` naming neither registry, references to images the target
    /// will not hold). Said after a `[scope]` that selected nothing, which explains both.
    refusal: Option<(String, u8)>,
    /// Steps that would fail as things are now, by kind, with why and what to do: the plan is
    /// written for review, and `plan` exits 1.
    would_fail: Vec<(&'static str, String)>,
}

async fn make_plan(
    args: &PlanArgs,
    config: &Config,
    sides: &Sides,
) -> anyhow::Result<(Plan, Notes)> {
    let mut notes = Notes::default();
    let base = sides.base.as_path();
    let source_text = sides.source.clone();
    let target_text = sides.target.clone();
    let source_ep = args::endpoint(&source_text, "[source]")?;
    let target_ep = args::endpoint(&target_text, "[target]")?;
    // An ACR named by its host gets no credentials in importImage but those given to the run:
    // ARM would pull anonymously and refuse every import, one after the other.
    if let Endpoint::Registry(r) = &source_ep {
        let anonymous = config.source.azure_resource_id.is_none()
            && args.connect.options(Side::Source)?.credentials.is_none();
        if config.copy.mode == CopyMode::Import
            && anonymous
            && acr_relocate::transport::registry::acr::is_acr_host(r.hostname())
        {
            anyhow::bail!(
                "[source] {} is an Azure container registry and importImage would pull from it without credentials: set [source] azure_resource_id (the resource ID of an ACR the caller can read), or give --src-creds to plan and apply; nothing was written",
                r.host.to_ascii_lowercase()
            );
        }
    }
    acr_relocate::endpoint::check_distinct(&source_ep, &target_ep)
        .await
        .context("[target]")?;
    if config.delete_source.is_some() && !config.copy.referrers {
        anyhow::bail!(
            "[copy] referrers = false leaves the source's referrers (signatures, SBOMs) behind, and [delete_source] would delete them with the source (its verify requires them in the target, so it could never pass): take one of them out; nothing was written"
        );
    }
    let mut matcher = matcher(&config.scope, &source_ep, &target_ep, None)?;
    if !config.copy.referrers {
        // The copy leaves the referrers fallback tags out: so do the counts and the verify.
        matcher = matcher.without_referrers();
    }
    let source = transport::open(
        &source_ep,
        Access::Read,
        &args.connect.options(Side::Source)?,
    )
    .await
    .context("[source]")?;
    let target_now = check_target(args, config, &target_ep).await?;
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
    // The target's tags the copy would overwrite (or keep, with `no_overwrite`): named in the
    // plan, as `copy --dry-run` names them. An import never overwrites (NoForce).
    let overwrites = match (&target_now, config.copy.mode) {
        (Some(target), CopyMode::Client) => {
            let (found, unchecked) =
                find_overwrites(target, &inv, &matcher, (jobs * 4).clamp(4, 64)).await;
            if !unchecked.is_empty() {
                eprintln!(
                    "plan: warning: the target could not be read for the tags the copy would overwrite in {}: {}; the copy overwrites any that hold another image (`acr-relocate copy --dry-run` lists them)",
                    counted(unchecked.len() as u64, "place", "places"),
                    acr_relocate::log::printable(&unchecked.join(", "))
                );
            }
            found
        }
        _ => Vec::new(),
    };
    let no_overwrite = config.copy.no_overwrite;
    if no_overwrite && !overwrites.is_empty() && config.copy.mode == CopyMode::Client {
        notes.would_fail.push((
            "copy",
            format!(
                "no_overwrite keeps {} of the target that hold another digest than the source's (listed in the step), and the step fails on them: rename or remove them in the target, leave their repositories out with [scope] exclude_repos (exclude_tags would leave the tag out of every repository), or set [copy] no_overwrite = false, in --config {} and plan again",
                counted(overwrites.len() as u64, "tag", "tags"),
                args.config.display()
            ),
        ));
    }
    let (same, other) = match no_overwrite {
        false => (
            "tags already there with the same digest are left alone, tags with another digest are overwritten",
            "would overwrite",
        ),
        true => (
            "tags already there with the same digest are left alone, tags with another digest are kept and fail the step (no_overwrite)",
            "would keep",
        ),
    };
    let overwrites_named = match overwrites.is_empty() {
        true => String::new(),
        false => format!(
            "; {}",
            listed(
                overwrites
                    .iter()
                    .map(|o| overwrite_line(o, other))
                    .collect(),
                "overwrites"
            )
        ),
    };
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
            no_overwrite,
            overwrites,
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
                "writes {} of {} ({} unique) into {target_text}; {same}{overwrites_named}",
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
        let Rewriting {
            from_text: from,
            to_text: to,
            from: from_registry,
            to: to_registry,
        } = rewrite_registries(r, &source_ep, &target_ep)?;
        // The files are searched for `from` only: a source the plan deletes, named otherwise
        // in them, would stay named there unseen.
        if let (Some(_), Some(given), Some(own)) =
            (&config.delete_source, &r.from, host(&source_ep))
        {
            if acr_rewrite::Registry::parse(&own).ok().as_ref() != Some(&from_registry) {
                anyhow::bail!(
                    "[rewrite] from = \"{given}\" is not the source's own name {own}, and the plan deletes the source: files that name it {own} would be neither rewritten nor checked, and would point at a deleted registry; take `from` out (it defaults to the source's host), or take [delete_source] out and delete later with `acr-relocate delete-source` once `acr-relocate rewrite PATHS --from {own} --to {to} --check` passes; nothing was written"
                );
            }
        }
        let paths: Vec<PathBuf> = r.paths.iter().map(|p| abs(p)).collect();
        let renamer =
            super::rewrite::MapRenamer::of_scope(&config.scope, source_prefix(&source_ep))?;
        let check_against = r
            .check_against
            .as_deref()
            .map(|e| absolute_endpoint(e, base))
            .unwrap_or_else(|| target_text.clone());
        // Every reference the rewrite points at the target is checked against what the target
        // will hold once the copy has run, as the step checks it then.
        let held_now = match check_against == target_text {
            true => target_now.clone(),
            false => {
                let endpoint = args::endpoint(&check_against, "[rewrite] check_against")?;
                as_it_is(args, config, &endpoint, "[rewrite] check_against").await?
            }
        };
        let expected = ExpectedTarget::new(
            &inv,
            &matcher,
            source.clone(),
            held_now,
            &to_registry,
            renamer.clone(),
            &config.scope,
        );
        let (scanned, nothing_matched) = {
            let (from, to, paths, renamer) = (
                from_registry.clone(),
                to_registry.clone(),
                paths.clone(),
                renamer.clone(),
            );
            tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
                let mut rewriter = acr_rewrite::Rewriter::new(acr_rewrite::Options {
                    from,
                    to,
                    pin_digests: false,
                })
                .with_resolver(&expected);
                if let Some(renamer) = &renamer {
                    rewriter = rewriter.with_renamer(renamer);
                }
                let scanned = rewriter.plan(&paths)?;
                let nothing_matched = rewriter.nothing_matched(&scanned);
                Ok((scanned, nothing_matched))
            })
            .await??
        };
        if !scanned.failures.is_empty() {
            let failures: Vec<String> = scanned.failures.iter().map(|f| f.to_string()).collect();
            anyhow::bail!(
                "[rewrite] paths: {}: the rewrite step would fail on them; make them readable, or take them out of [rewrite] paths in --config {}; nothing was written",
                failures.join("; "),
                args.config.display()
            );
        }
        // Files that name neither registry: a misspelt `from` (or the wrong paths) would make a
        // step that changes nothing and is recorded done. Refused, as `rewrite` refuses it.
        if let Some(n) = &nothing_matched {
            notes.refusal.get_or_insert((
                format!(
                    "plan: warning: {}",
                    named_neither(n, &from_registry, &to_registry, &args.config)
                ),
                exit::NOTHING_SELECTED,
            ));
        }
        // References to images the target will not hold: the step would fail after the copy,
        // and fail again on every run.
        let missing: Vec<String> = scanned
            .problems()
            .map(|(path, p)| {
                let why = match &p.issue {
                    acr_rewrite::Issue::Lookup(why) => format!("{}: {why}", p.target_reference),
                    _ => p.to_string(),
                };
                format!("{}:{}: {why}", path.display(), p.line)
            })
            .collect();
        if !missing.is_empty() {
            notes.refusal.get_or_insert((
                format!(
                    "error: [rewrite] would point {} at images the target will not hold after the copy: {}: widen [scope] in --config {} to take them (then plan again), or edit those files to name images the copy brings; nothing was written",
                    counted(missing.len() as u64, "reference", "references"),
                    missing.join("; "),
                    args.config.display()
                ),
                exit::ERROR,
            ));
        }
        let changed: Vec<_> = scanned.files.iter().filter(|f| f.is_changed()).collect();
        let references: usize = changed.iter().map(|f| f.references.len()).sum();
        // What the rewrite leaves alone (scripts, a value naming the registry alone, comments),
        // as `rewrite` lists it: named in the plan for review.
        let mentions: Vec<PlanMention> = scanned
            .files
            .iter()
            .flat_map(|f| {
                f.mentions.iter().map(move |m| PlanMention {
                    path: f.path.clone(),
                    line: m.line,
                    text: acr_rewrite::printable_line(&m.text),
                    note: m.note.clone(),
                })
            })
            .collect();
        // A source the plan deletes must not stay named in the files: the step fails on them.
        let stops = config.delete_source.is_some() && !r.accept_mentions && !mentions.is_empty();
        if stops {
            notes.would_fail.push((
                "rewrite",
                format!(
                    "the files still mention the source {from} in {} the rewrite leaves alone (listed in the step), and the plan deletes the source: point them at {to} by hand (or delete them) before apply, or set `accept_mentions = true` under [rewrite] in --config {} and plan again",
                    counted(mentions.len() as u64, "place", "places"),
                    args.config.display()
                ),
            ));
        }
        let refused = super::apply::rewrite_refusal(
            &scanned,
            r.in_place_hard_links,
            &args.config.display().to_string(),
        );
        let left_alone = match (mentions.is_empty(), stops, r.accept_mentions) {
            (true, ..) => String::new(),
            (false, true, _) => format!(
                "; leaves {} of {from} alone, which it cannot rewrite safely, and fails while they remain, as the plan deletes the source (point them at {to} by hand, or set `accept_mentions = true`): {}",
                counted(mentions.len() as u64, "mention", "mentions"),
                listed(mentions.iter().map(ToString::to_string).collect(), "mentions")
            ),
            (false, false, accepted) => format!(
                "; leaves {} of {from} alone, which it cannot rewrite safely{}: {}",
                counted(mentions.len() as u64, "mention", "mentions"),
                match accepted {
                    true => " (accept_mentions: check them by hand)",
                    false => " (check them by hand)",
                },
                listed(mentions.iter().map(ToString::to_string).collect(), "mentions")
            ),
        };
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
                mentions,
                accept_mentions: r.accept_mentions,
            },
            true,
            format!(
                "rewrites {references} image references in {} files from {from} to {to}{}{}; every reference is checked in {check_against} first and nothing is written if one is missing{}{left_alone}",
                changed.len(),
                if r.pin_digests { ", tags pinned to digests" } else { "" },
                if r.in_place_hard_links { ", hard-linked files written in place" } else { "" },
                refused.map(|r| format!(" (as the files are now, apply would refuse them: {r})")).unwrap_or_default()
            ),
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
    let plan = Plan {
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
    };
    Ok((plan, notes))
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
    for step in &plan.steps {
        match &step.kind {
            StepKind::Copy {
                overwrites,
                no_overwrite,
                ..
            } if !overwrites.is_empty() => {
                let (title, verb, then) = match no_overwrite {
                    false => (
                        "Target tags the copy overwrites",
                        "would overwrite",
                        "The target holds these tags with another digest than the source's: the copy points them at the source's image.",
                    ),
                    true => (
                        "Target tags the copy keeps (no_overwrite)",
                        "would keep",
                        "The target holds these tags with another digest than the source's: the copy keeps them and the step fails on them.",
                    ),
                };
                out.push_str(&format!("\n## {title}\n\n{then}\n\n"));
                for o in overwrites {
                    out.push_str(&format!("- {}\n", overwrite_line(o, verb)));
                }
            }
            StepKind::Rewrite {
                mentions,
                accept_mentions,
                from,
                ..
            } if !mentions.is_empty() => {
                let deletes = plan
                    .steps
                    .iter()
                    .any(|s| matches!(s.kind, StepKind::DeleteSource { .. }));
                out.push_str(&format!(
                    "\n## Mentions of `{from}` the rewrite leaves alone\n\n{}\n\n",
                    match (deletes, accept_mentions) {
                        (true, false) => "The rewrite cannot change these safely, and the plan deletes the source: the rewrite step fails while they remain. Point them at the new registry by hand (or delete them), or set `accept_mentions = true` under `[rewrite]` and plan again.",
                        (true, true) => "The rewrite cannot change these safely; `accept_mentions = true` lets the plan delete the source while they remain: check them by hand.",
                        (false, _) => "The rewrite cannot change these safely: check them by hand.",
                    }
                ));
                for m in mentions {
                    out.push_str(&format!("- {m}\n"));
                }
            }
            _ => {}
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
