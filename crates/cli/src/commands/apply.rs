//! `acr-relocate apply plan.json`: runs a plan's steps in order, with a journal beside the plan.
//!
//! Each step, and each repository of the copy, is recorded in the journal once done (JSON lines,
//! fsync'd). A re-run after any interruption skips what is recorded, re-copies the repositories
//! that were in flight (the copy skips what the target already holds, so this re-checks them) and
//! goes on. A plan file that changed since the journal began is refused unless `--replan` (which
//! starts the steps over; the copy still skips what the target holds).
//!
//! `--shard K/N` runs the copy and the verify for this worker's share of the plan's repositories
//! (balanced by size, the same on every worker); the other steps belong to the unsharded run. The
//! journal records the shard: a journal of another shard is refused.
//!
//! A verify that finds gaps in repositories the journal has as copied (the source changed since)
//! records them as no longer done, so the next run copies them again.
//!
//! Ctrl-C (SIGINT), SIGTERM (a pod stopped) or SIGHUP (its terminal closed) stops every step: the copy aborts its transfers (every tag in the target stays
//! complete), the read-only steps stop where they are, the deletion of the source starts no
//! further deletion (the request in flight finishes, and each deletion is in the journal); no
//! later step starts, and the summary says the later steps were not run because of the signal.
//! Exit 130 (143 for SIGTERM, 129 for SIGHUP).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use acr_relocate::copy::{self, CopyOptions, Interrupt, Progress};
use acr_relocate::endpoint::Endpoint;
use acr_relocate::relocation::journal::{plan_digest, Journal, JournalError, Record, RunIdentity};
use acr_relocate::relocation::plan::{self as relocation_plan, Plan, Step, StepKind};
use acr_relocate::relocation::scope::Scoped;
use acr_relocate::relocation::shard;
use acr_relocate::transport::{self, Access, Store};
use acr_relocate::verify::{self, VerifyOptions};
use acr_relocate::walk::Matcher;
use anyhow::Context;
use serde::Serialize;

use super::plan::RunFile;
use crate::args::{self, ConnectArgs, FilterArgs, Side};
use crate::exit::{self, EARLIER_STEPS_NOT_DONE};
use crate::progress::{counted, human_bytes};

/// Arguments of `acr-relocate apply`.
#[derive(clap::Args, Debug)]
#[command(after_help = EXIT_CODES)]
pub struct ApplyArgs {
    /// The plan written by `acr-relocate plan`.
    pub plan: PathBuf,
    /// The journal file, made when missing (default: PLAN.journal beside the plan,
    /// PLAN.shard-K-of-N.journal with --shard); each shard, and the unsharded run, has its own.
    #[arg(long, value_name = "FILE")]
    pub journal: Option<PathBuf>,
    /// Accept a plan that changed since the journal began: every step runs again (the copy skips
    /// what the target already holds).
    #[arg(long)]
    pub replan: bool,
    /// Run this worker's share K of N of the plan's repositories (K from 0 to N-1, balanced by
    /// size): only the copy and verify steps, the others run in the unsharded apply.
    #[arg(long, value_name = "K/N", value_parser = parse_shard)]
    pub shard: Option<(u32, u32)>,
    /// Run only the steps of this kind (repeatable): `inventory`, `template`, `deploy`, `copy`,
    /// `attach_aks`, `roles`, `rewrite`, `verify`, `settings`, `delete_source`. The Kubernetes final Job
    /// runs `--step verify`.
    #[arg(long = "step", value_name = "KIND")]
    pub steps: Vec<String>,
    #[command(flatten)]
    pub connect: ConnectArgs,
    #[command(flatten)]
    pub arm: super::azure::ArmArgs,
    /// The summary as JSON on stdout, instead of the table and the closing `apply: …` line.
    #[arg(long)]
    pub json: bool,
    /// Print nothing but errors (a step that failed, with the gaps or failed deletions that
    /// explain it) and the closing `apply: …` line.
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

const EXIT_CODES: &str = "\
Exit codes: 0 every step done; 1 a step failed (copy failures, target tags [copy] no_overwrite
kept, verify differences, a blocking template finding, a refused rewrite or one that leaves
mentions of a source the plan deletes, a deletion refused or failed: the closing line says what
to do); 2 unusable plan, journal or
input, nothing done, or a step could not open the plan's source or target (the closing line says
what to change: the flags given to apply, or the config, then plan and apply --replan); 3 a
registry stopped answering (run the same command again to resume); 4 the plan's [scope] selects
nothing, nothing done; 5 the delete_source step was to run before the
journal records every earlier step of the plan (template, deploy, copy, attach_aks, roles, rewrite,
verify, settings) as done,
nothing done; 130 interrupted by Ctrl-C, 143 by SIGTERM, 129 by SIGHUP (the journal is kept).";

fn parse_shard(text: &str) -> Result<(u32, u32), String> {
    let err = || format!("`{text}` is not K/N with K from 0 to N-1 (for example 0/3)");
    let (k, n) = text.split_once('/').ok_or_else(err)?;
    let k: u32 = k.trim().parse().map_err(|_| err())?;
    let n: u32 = n.trim().parse().map_err(|_| err())?;
    if n == 0 || k >= n {
        return Err(err());
    }
    Ok((k, n))
}

/// How one step ended.
#[derive(Clone, Debug, Serialize)]
pub struct StepOutcome {
    /// Step id.
    pub step: String,
    /// `done`, `already done`, `skipped`, `failed`, `interrupted`, `refused` (a `delete_source`
    /// step whose earlier steps are not recorded done) or `not run`.
    pub status: String,
    /// What happened.
    pub detail: String,
    /// Seconds.
    pub seconds: f64,
}

/// The closing summary.
#[derive(Debug, Serialize)]
pub struct Summary {
    /// The plan file.
    pub plan: PathBuf,
    /// The journal file.
    pub journal: PathBuf,
    /// `K/N` when sharded.
    pub shard: Option<String>,
    /// This worker's repositories (names relative to the prefixes).
    pub share: Vec<String>,
    /// Repositories copied in this run (in flight or not done before).
    pub copied: Vec<String>,
    /// Every step.
    pub steps: Vec<StepOutcome>,
}

/// Runs `acr-relocate apply`.
pub fn run(args: ApplyArgs) -> anyhow::Result<u8> {
    let bytes =
        std::fs::read(&args.plan).with_context(|| format!("PLAN {}", args.plan.display()))?;
    let plan = Plan::parse(&bytes).with_context(|| format!("PLAN {}", args.plan.display()))?;
    let digest = plan_digest(&bytes);
    const KINDS: &[&str] = &relocation_plan::STEP_ORDER;
    if let Some(k) = args.steps.iter().find(|k| !KINDS.contains(&k.as_str())) {
        anyhow::bail!("--step `{k}`: expected one of {}", KINDS.join(", "));
    }
    let planned: Vec<&str> = plan.steps.iter().map(|s| s.kind.name()).collect();
    if let Some(k) = args.steps.iter().find(|k| !planned.contains(&k.as_str())) {
        anyhow::bail!(
            "--step `{k}`: PLAN {} has no {k} step (its steps: {}): give one of them, or add the config's section and plan again; nothing was done",
            args.plan.display(),
            planned.join(", ")
        );
    }
    // Steps run in the order `plan` writes them, each once: a plan reordered or repeated by hand
    // (a deletion before the copy) is not run.
    let order: Vec<Option<usize>> = planned
        .iter()
        .map(|k| KINDS.iter().position(|known| known == k))
        .collect();
    let in_order = order.windows(2).all(|w| w[0] < w[1]);
    let ids: std::collections::BTreeSet<&str> = plan.steps.iter().map(|s| s.id.as_str()).collect();
    if !in_order || ids.len() != plan.steps.len() {
        anyhow::bail!(
            "PLAN {}: its steps ({}) are not in the order plan writes them ({}), or one is repeated: a plan edited by hand; plan again from {}; nothing was done",
            args.plan.display(),
            planned.join(", "),
            KINDS.join(", "),
            plan.config.display()
        );
    }
    let unavailable: Vec<String> = plan
        .steps
        .iter()
        .filter(|s| !s.available)
        .map(|s| format!("step {} cannot run ({})", s.id, s.changes))
        .collect();
    if !unavailable.is_empty() {
        eprintln!(
            "error: PLAN {}: {}: nothing was done (complete {} and plan again)",
            args.plan.display(),
            unavailable.join("; "),
            plan.config.display()
        );
        return Ok(exit::ERROR);
    }
    let delete_confirm = plan.steps.iter().find_map(|s| match &s.kind {
        StepKind::DeleteSource {
            confirm,
            registry_resource,
            ..
        } => Some((confirm.as_str(), registry_resource.as_deref())),
        _ => None,
    });
    if let Err(e) = relocation_plan::check_sides(&plan.source, &plan.target, delete_confirm) {
        eprintln!(
            "error: PLAN {}: {e}: nothing was done (fix the config and plan again)",
            args.plan.display()
        );
        return Ok(exit::ERROR);
    }
    if let Some(code) = scope_selected_nothing(&plan, &args.plan) {
        return Ok(code);
    }
    if let Some(edit) = edited_by_hand(&plan) {
        anyhow::bail!(
            "PLAN {}: {edit}: a plan edited by hand; plan again from {}; nothing was done",
            args.plan.display(),
            plan.config.display()
        );
    }
    // The copy follows the plan's repositories, the verify its scope: a repository the scope
    // leaves out means one of them was edited by hand.
    let source_ep = args::endpoint(&plan.source, "the plan's source")?;
    let target_ep = args::endpoint(&plan.target, "the plan's target")?;
    let mut matcher = super::plan::matcher(&plan.scope, &source_ep, &target_ep, None)?;
    // `[copy] referrers = false`: the copy leaves the referrers behind (the referrers fallback
    // tags too), and the verify steps do not ask for them, as `verify --no-referrers`.
    let referrers = plan.steps.iter().all(|s| match s.kind {
        StepKind::Copy { referrers, .. } => referrers,
        _ => true,
    });
    if !referrers {
        matcher = matcher.without_referrers();
    }
    let outside: Vec<&str> = plan
        .repositories
        .iter()
        .map(|r| r.name.as_str())
        .filter(|name| {
            matcher
                .repository(&Run::full_name(
                    matcher.selection().source_prefix.as_deref(),
                    name,
                ))
                .is_none()
        })
        .collect();
    if let Some(first) = outside.first() {
        anyhow::bail!(
            "PLAN {}: {} of its repositories ({first}{}) are outside its [scope] ({}): a plan edited by hand; plan again from {}; nothing was done",
            args.plan.display(),
            outside.len(),
            if outside.len() > 1 { ", …" } else { "" },
            super::plan::describe_scope(&plan.scope),
            plan.config.display()
        );
    }
    let journal_path = args.journal.clone().unwrap_or_else(|| {
        args.plan
            .with_file_name(default_journal_name(&args.plan, args.shard))
    });
    // The journal as the user knows it: the flag they gave, or the default name beside the plan.
    let journal_named = match &args.journal {
        Some(path) => format!("--journal {}", path.display()),
        None => format!(
            "the journal {} (the default beside the plan)",
            journal_path.display()
        ),
    };
    // The journal is appended to: the plan or its config given as the journal is named as what
    // it is (a file that is not a journal would be called damaged, and moved away).
    let default_journal = args
        .plan
        .with_file_name(default_journal_name(&args.plan, args.shard));
    for (file, what) in [
        (&args.plan, "the plan itself"),
        (&plan.config, "the plan's config"),
    ] {
        if super::plan::same_file(&journal_path, file) {
            anyhow::bail!(
                "{journal_named} is {what}: give the journal a path of its own (default {}); nothing was done",
                default_journal.display()
            );
        }
    }
    // No output of the run may replace an input: the inventory (named after the journal) over
    // the plan, a template output over the export (a plan edited by hand, or written before
    // `plan` checked this).
    let mut inputs = vec![
        RunFile::new(&args.plan, format!("PLAN {}", args.plan.display())),
        RunFile::new(
            &plan.config,
            format!("its config {}", plan.config.display()),
        ),
        RunFile::new(&journal_path, journal_named.clone()),
    ];
    let mut outputs = Vec::new();
    if plan
        .steps
        .iter()
        .any(|s| matches!(s.kind, StepKind::Inventory))
    {
        let path = inventory_path(&journal_path);
        outputs.push(RunFile::new(
            &path,
            format!(
                "the inventory {} (named after {journal_named})",
                path.display()
            ),
        ));
    }
    for step in &plan.steps {
        if let StepKind::Template {
            input,
            parameters,
            output,
            ..
        } = &step.kind
        {
            let (i, o) = super::plan::template_files(input, parameters.as_deref(), output);
            inputs.extend(i);
            outputs.extend(o);
        }
    }
    // The journal over a file the plan reads or writes (the exported template, its rewritten
    // output) is named as that file, as the plan and config are above.
    if let Some(file) = inputs
        .iter()
        .chain(&outputs)
        .filter(|f| f.named != journal_named)
        .find(|f| super::plan::same_file(&journal_path, &f.path))
    {
        anyhow::bail!(
            "{journal_named} is {}: give the journal a path of its own (default {}); nothing was done",
            file.named,
            default_journal.display()
        );
    }
    if let Some((output, replaced)) = super::plan::first_clash(&outputs, &inputs) {
        if output.named.starts_with("the inventory") {
            anyhow::bail!(
                "{} is {}: give --journal another name (the inventory is written beside the journal, named after it); nothing was done",
                output.named,
                replaced.named
            );
        }
        anyhow::bail!(
            "PLAN {}: {} is {}: {}: fix {} and plan again; nothing was done",
            args.plan.display(),
            output.named,
            replaced.named,
            super::plan::clash_remedy(replaced),
            plan.config.display()
        );
    }
    if journal_path.is_dir() {
        let example = journal_path.join(default_journal_name(&args.plan, args.shard));
        eprintln!(
            "error: {journal_named} is a directory: {}: nothing was done",
            match &args.journal {
                Some(_) => format!(
                    "give --journal the path of a file (for example {})",
                    example.display()
                ),
                None => "move it away, or give --journal the path of a file".to_string(),
            }
        );
        return Ok(exit::ERROR);
    }
    let identity = RunIdentity {
        plan: digest.clone(),
        shard: args.shard.map(|(k, n)| format!("{k}/{n}")),
        steps: args.steps.clone(),
    };
    let journal = match Journal::open(&journal_path, &identity, args.replan) {
        Ok(journal) => journal,
        Err(JournalError::PlanChanged { recorded, .. }) => {
            eprintln!(
                "error: {} changed since apply started (journal {} records {recorded}, the plan is now {digest}): nothing was done; apply the original plan, or pass --replan to continue with this one",
                args.plan.display(),
                journal_path.display()
            );
            return Ok(exit::ERROR);
        }
        Err(JournalError::Io { io, .. }) => {
            eprintln!(
                "error: {journal_named}: {}: {}: nothing was done",
                exit::one_line(&anyhow::Error::new(io)),
                journal_remedy(&journal_path)
            );
            return Ok(exit::ERROR);
        }
        Err(e) => {
            eprintln!("error: {e}: nothing was done");
            return Ok(exit::ERROR);
        }
    };
    // The source is deleted only once everything the plan does before it is recorded done: a
    // run that would reach `delete_source` with an earlier step neither done nor run in it is
    // refused before any step runs.
    if args.shard.is_none() {
        let asked =
            |s: &Step| args.steps.is_empty() || args.steps.iter().any(|k| k == s.kind.name());
        let done = &journal.state().steps_done;
        let deleting = plan.steps.iter().any(|s| {
            matches!(s.kind, StepKind::DeleteSource { .. }) && asked(s) && !done.contains(&s.id)
        });
        if deleting {
            let missing = not_done_before_deletion(&plan, done, asked);
            if !missing.is_empty() {
                eprintln!(
                    "error: {}",
                    deletion_refused(
                        &plan,
                        &args.plan,
                        &missing,
                        "nothing was done",
                        EARLIER_STEPS_NOT_DONE
                    )
                );
                return Ok(EARLIER_STEPS_NOT_DONE);
            }
        }
    }
    // The rewrite step's files, checked before the copy when this run is to rewrite them: a path
    // that is gone would fail the step only after hours of copying.
    let rewrites = args.shard.is_none()
        && (args.steps.is_empty() || args.steps.iter().any(|k| k == "rewrite"));
    for step in plan.steps.iter().filter(|_| rewrites) {
        let StepKind::Rewrite { paths, .. } = &step.kind else {
            continue;
        };
        if journal.state().steps_done.contains(&step.id) {
            continue;
        }
        if let Some((path, e)) = paths
            .iter()
            .find_map(|p| std::fs::metadata(p).err().map(|e| (p, e)))
        {
            eprintln!(
                "error: PLAN {}: step {} rewrites {}, which cannot be read: {e}: put it back, or fix [rewrite] paths in {} and plan again; nothing was done",
                args.plan.display(),
                step.id,
                path.display(),
                plan.config.display()
            );
            return Ok(exit::ERROR);
        }
    }
    let sides = Sides {
        source: source_ep,
        target: target_ep,
        matcher,
    };
    crate::runtime()?.block_on(run_plan(&args, plan, sides, journal))
}

/// The steps of `plan` before its `delete_source` step that must be recorded done before it
/// runs, and are neither in `done` (the journal's) nor `will_run` in this run: every one but
/// `inventory`, which changes nothing (the template, the target, the copy, the deployment files
/// and the verify all stand between the source and its deletion).
fn not_done_before_deletion<'p>(
    plan: &'p Plan,
    done: &BTreeSet<String>,
    will_run: impl Fn(&Step) -> bool,
) -> Vec<&'p Step> {
    plan.steps
        .iter()
        .take_while(|s| !matches!(s.kind, StepKind::DeleteSource { .. }))
        .filter(|s| !matches!(s.kind, StepKind::Inventory))
        .filter(|s| !done.contains(&s.id) && !will_run(s))
        .collect()
}

/// The one line that refuses the `delete_source` step: the steps not done and how to run them.
fn deletion_refused(
    plan: &Plan,
    plan_path: &Path,
    missing: &[&Step],
    what_was_done: &str,
    code: u8,
) -> String {
    let ids: Vec<&str> = missing.iter().map(|s| s.id.as_str()).collect();
    let kinds: Vec<String> = missing
        .iter()
        .map(|s| format!("--step {}", s.kind.name()))
        .collect();
    let delete = plan
        .steps
        .iter()
        .find(|s| matches!(s.kind, StepKind::DeleteSource { .. }))
        .map_or("delete_source", |s| s.id.as_str());
    format!(
        "step {delete} refused: the journal does not record {} as done, and the source is deleted only after every earlier step of the plan: run `acr-relocate apply {}` without --step (or with {} first) until they are done (fix what stops a failed one, such as a blocking template finding, then plan again); {what_was_done}, nothing deleted (exit {code})",
        ids.join(", "),
        plan_path.display(),
        kinds.join(" "),
    )
}

/// The journal's file name when `--journal` is left out: the plan's, with `.journal` (or
/// `.shard-K-of-N.journal`) added.
fn default_journal_name(plan: &Path, shard: Option<(u32, u32)>) -> String {
    let name = plan
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "plan".into());
    match shard {
        Some((k, n)) => format!("{name}.shard-{k}-of-{n}.journal"),
        None => format!("{name}.journal"),
    }
}

/// What `plan` never writes and a plan edited by hand may hold, in words (`None` for a plan as
/// `plan` writes them): a step that every plan has (`inventory`, `copy`, `verify`) missing,
/// repositories that disagree with the totals (a list emptied by hand would copy and verify
/// nothing, and pass), a copy with `jobs = 0` or `max_jobs` below `jobs` (the config refuses both).
/// A plan carries no checksum (the journal records the plan's digest only once a run starts), so
/// these are checked every run.
fn edited_by_hand(plan: &Plan) -> Option<String> {
    let missing: Vec<&str> = ["inventory", "copy", "verify"]
        .into_iter()
        .filter(|kind| !plan.steps.iter().any(|s| s.kind.name() == *kind))
        .collect();
    if !missing.is_empty() {
        return Some(format!(
            "it has no {} step (every plan has inventory, copy and verify)",
            missing.join(", no ")
        ));
    }
    let repositories = plan.repositories.len() as u64;
    let tags: u64 = plan.repositories.iter().map(|r| r.tags).sum();
    if repositories != plan.totals.repositories || tags != plan.totals.tags {
        return Some(format!(
            "it lists {} with {}, but its totals say {} with {}",
            counted(repositories, "repository", "repositories"),
            counted(tags, "tag", "tags"),
            counted(plan.totals.repositories, "repository", "repositories"),
            counted(plan.totals.tags, "tag", "tags"),
        ));
    }
    plan.steps.iter().find_map(|s| match &s.kind {
        StepKind::Copy { jobs: 0, .. } => Some(format!(
            "step {} has jobs = 0, which would copy nothing (the config refuses it)",
            s.id
        )),
        StepKind::Copy { jobs, max_jobs, .. }
            if (*jobs).max(max_jobs.unwrap_or(0)) > acr_relocate::limit::MOST_AT_ONCE =>
        {
            Some(format!(
                "step {} asks for more than {} transfers at once (the config refuses it)",
                s.id,
                acr_relocate::limit::MOST_AT_ONCE
            ))
        }
        StepKind::Copy {
            jobs,
            max_jobs: Some(max),
            ..
        } if max < jobs => Some(format!(
            "step {} has max_jobs {max} below jobs {jobs} (the config refuses it)",
            s.id
        )),
        _ => None,
    })
}

/// Where the `inventory` step writes: beside the journal, named after it with `.inventory.json`
/// in place of its extension.
fn inventory_path(journal: &Path) -> PathBuf {
    journal.with_extension("inventory.json")
}

/// What to do about a journal that cannot be opened at `path`.
fn journal_remedy(path: &Path) -> String {
    let parent = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if parent.is_dir() {
        "give --journal the path of a file in a directory this user can write".into()
    } else {
        format!(
            "{} is not an existing directory: give --journal the path of a file in one",
            parent.display()
        )
    }
}

/// When the plan's source prefix or `[scope]` selected nothing (see
/// [`super::plan::selected_nothing`]), warns in one line and gives [`exit::NOTHING_SELECTED`], as
/// `copy` does for `--repo` and `--tag`. `plan` refuses such a plan; this catches a plan written
/// before, or edited by hand.
fn scope_selected_nothing(plan: &Plan, plan_path: &Path) -> Option<u8> {
    let narrowing = super::plan::selected_nothing(plan)?;
    eprintln!(
        "apply: warning: PLAN {} ({narrowing}) selected nothing in the source, so nothing was done: fix [scope] or the [source] prefix in {} and plan again; exit code {}",
        plan_path.display(),
        plan.config.display(),
        exit::NOTHING_SELECTED
    );
    Some(exit::NOTHING_SELECTED)
}

struct Run<'a> {
    args: &'a ApplyArgs,
    plan: Plan,
    source_ep: Endpoint,
    target_ep: Endpoint,
    matcher: Matcher,
    journal: Journal,
    share: Vec<String>,
    copied: Vec<String>,
    interrupt: Interrupt,
}

/// The plan's endpoints and the matcher of its scope, read once before the journal opens.
struct Sides {
    source: Endpoint,
    target: Endpoint,
    matcher: Matcher,
}

async fn run_plan(
    args: &ApplyArgs,
    plan: Plan,
    sides: Sides,
    journal: Journal,
) -> anyhow::Result<u8> {
    let Sides {
        source: source_ep,
        target: target_ep,
        matcher,
    } = sides;
    let share: Vec<String> = match args.shard {
        None => plan.repositories.iter().map(|r| r.name.clone()).collect(),
        Some((k, n)) => {
            let assigned = shard::assign(
                plan.repositories.iter().map(|r| (r.name.as_str(), r.bytes)),
                n,
            );
            plan.repositories
                .iter()
                .filter(|r| assigned.get(&r.name) == Some(&k))
                .map(|r| r.name.clone())
                .collect()
        }
    };
    let interrupt = Interrupt::default();
    crate::interrupt::watch(
        "apply",
        "stopping; no further step, copy or deletion starts",
        {
            let interrupt = interrupt.clone();
            move || interrupt.trigger()
        },
    );
    let mut run = Run {
        args,
        plan,
        source_ep,
        target_ep,
        matcher,
        journal,
        share,
        copied: Vec::new(),
        interrupt,
    };
    let total = run.plan.steps.len();
    let mut outcomes = Vec::new();
    let mut code = exit::SUCCESS;
    // The first step that failed on a side a rerun cannot reach: the closing line says what to
    // change instead of "run the same command again".
    let mut blocked: Option<SideBlocked> = None;
    // The first step that failed for a reason of the plan's inputs (the files, the scope, the
    // target's own tags): what to do instead of "run the same command again".
    let mut stuck: Option<String> = None;
    for (i, step) in run.plan.steps.clone().into_iter().enumerate() {
        let started = Instant::now();
        let label = format!("[{}/{total}] {}", i + 1, step.kind.name());
        if code == exit::SUCCESS && run.interrupt.is_triggered() {
            code = exit::INTERRUPTED;
        }
        let (status, detail) = if code == exit::INTERRUPTED {
            (
                "not run",
                format!("interrupted by {}", crate::interrupt::stopped_by()),
            )
        } else if code != exit::SUCCESS {
            ("not run", "an earlier step did not finish".to_string())
        } else if run.journal.state().steps_done.contains(&step.id) {
            ("already done", "recorded in the journal".to_string())
        } else if !args.steps.is_empty() && !args.steps.iter().any(|k| k == step.kind.name()) {
            ("skipped", "not asked for (--step)".to_string())
        } else if args.shard.is_some() && !step.kind.per_repository() {
            (
                "skipped",
                "runs in the unsharded apply (after every worker is done)".to_string(),
            )
        } else if let Some(refused) = matches!(step.kind, StepKind::DeleteSource { .. })
            .then(|| {
                not_done_before_deletion(&run.plan, &run.journal.state().steps_done, |_| false)
            })
            .filter(|missing| !missing.is_empty())
            .map(|missing| {
                deletion_refused(
                    &run.plan,
                    &args.plan,
                    &missing,
                    "what ran before it is kept",
                    exit::FAILURES,
                )
            })
        {
            // Reached only when an earlier step of this run ended without being recorded done
            // (the check before the first step refuses the other cases with exit 5, which says
            // nothing was done): here steps did run, so the exit is a failure's.
            code = exit::FAILURES;
            ("refused", refused)
        } else {
            if !args.quiet {
                eprintln!("{label}: {}", step.changes);
            }
            match run.step(&step).await {
                Ok(StepEnd::Done(detail)) => {
                    run.journal.record(Record::StepDone {
                        step: step.id.clone(),
                    })?;
                    ("done", detail)
                }
                Ok(StepEnd::Failed(detail)) => {
                    code = exit::FAILURES;
                    ("failed", detail)
                }
                Ok(StepEnd::Stuck { detail, remedy }) => {
                    code = exit::FAILURES;
                    stuck.get_or_insert(remedy);
                    ("failed", detail)
                }
                Ok(StepEnd::Interrupted(detail)) => {
                    code = exit::INTERRUPTED;
                    ("interrupted", detail)
                }
                // A step a signal stopped with an error (an archive's packing stopped by a
                // second one) was interrupted: the same command resumes it.
                Err(e) if run.interrupt.is_triggered() => {
                    code = exit::INTERRUPTED;
                    ("interrupted", exit::one_line(&e))
                }
                Err(e) => {
                    code = exit::code_of(&e);
                    blocked = side_blocked(&e);
                    ("failed", exit::one_line(&e))
                }
            }
        };
        if !args.quiet {
            eprintln!("{label}: {status}: {detail}");
        } else if status == "failed" {
            eprintln!("error: step {}: {detail}", step.id);
        } else if status == "refused" {
            eprintln!("error: {detail}");
        }
        outcomes.push(StepOutcome {
            step: step.id.clone(),
            status: status.to_string(),
            detail,
            seconds: started.elapsed().as_secs_f64(),
        });
    }
    let summary = Summary {
        plan: args.plan.clone(),
        journal: run.journal.path().to_path_buf(),
        shard: args.shard.map(|(k, n)| format!("{k}/{n}")),
        share: run.share.clone(),
        copied: run.copied.clone(),
        steps: outcomes,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        if !args.quiet {
            for s in &summary.steps {
                println!(
                    "{:<18} {:<13} {:>7.1} s  {}",
                    s.step, s.status, s.seconds, s.detail
                );
            }
        }
        println!(
            "apply: {}; journal {}",
            match (code, &blocked) {
                (exit::SUCCESS, _) => "done".to_string(),
                (exit::INTERRUPTED, _) =>
                    "interrupted: run the same command again to continue".to_string(),
                (_, Some(blocked)) => blocked.remedy(&run.plan.config, &args.plan),
                _ => match &stuck {
                    Some(remedy) => format!("stopped: {remedy}"),
                    None =>
                        "stopped: fix what is listed and run the same command again".to_string(),
                },
            },
            summary.journal.display()
        );
    }
    Ok(crate::interrupt::exit_code(code))
}

/// A side of the plan that a step could not open for a reason running the same command again
/// cannot change: what the plan names (its endpoint) or what this run was given (its flags).
#[derive(Debug, PartialEq, Eq)]
struct SideBlocked {
    /// `[source]` or `[target]`, as the config names the side.
    key: &'static str,
    /// True when the endpoint the plan holds is what is wrong (plain HTTP named as HTTPS, an
    /// endpoint that cannot be used): only a new plan changes it. False when the connection
    /// settings are (a certificate not trusted, a client certificate, credentials refused):
    /// they are given to each run, never kept in the plan.
    endpoint: bool,
}

impl SideBlocked {
    /// The closing line's verdict: what to change, then how to run again.
    fn remedy(&self, config: &Path, plan: &Path) -> String {
        let (key, config, plan) = (self.key, config.display(), plan.display());
        let (side, flags) = match key {
            "[source]" => ("source", "--src-*"),
            _ => ("target", "--dst-*"),
        };
        let replan = format!(
            "fix {key} in {config}, run `acr-relocate plan --config {config} -o {plan}` again, then `acr-relocate apply {plan} --replan`"
        );
        if self.endpoint {
            format!(
                "stopped: the plan's {side} endpoint is wrong (listed above), and running the same command again will not change it: {replan}"
            )
        } else {
            format!(
                "stopped: the plan's {side} cannot be used with the flags this run was given (listed above), and running the same command again will not change that: run apply again with the {flags} flags the error names (credentials and TLS options are never kept in the plan: give apply those given to plan); if {key} itself is wrong, {replan}"
            )
        }
    }
}

/// When `error` is the plan's source or target refusing to be opened for a reason a rerun cannot
/// change (classified as usage errors, exit 2, by [`exit::code_of`]): an endpoint with the wrong
/// scheme or that cannot be used, a TLS certificate not trusted or not made out to its name, a
/// client certificate missing or refused, credentials refused. `None` for anything else
/// (nothing listens there yet, a registry that stopped answering, a failure of an item).
fn side_blocked(error: &anyhow::Error) -> Option<SideBlocked> {
    use acr_relocate::error::{Error, Mend};
    let key = error
        .chain()
        .find_map(|cause| match cause.to_string().as_str() {
            "the plan's source" => Some("[source]"),
            "the plan's target" => Some("[target]"),
            _ => None,
        })?;
    let endpoint = error
        .chain()
        .find_map(|cause| match cause.downcast_ref::<Error>()? {
            Error::InvalidEndpoint { .. } => Some(true),
            Error::Auth { .. } => Some(false),
            Error::Unreachable {
                mid_run: false,
                mend,
                ..
            } => match mend {
                Mend::Endpoint => Some(true),
                Mend::TlsOptions => Some(false),
                Mend::Elsewhere => None,
            },
            _ => None,
        })?;
    Some(SideBlocked { key, endpoint })
}

enum StepEnd {
    Done(String),
    Failed(String),
    /// Failed for a reason running the same command again does not change by itself: the
    /// detail, and what to do instead (the closing line's verdict, after `stopped: `).
    Stuck {
        detail: String,
        remedy: String,
    },
    Interrupted(String),
}

/// Repositories copied together: one catalog of their own, blobs shared within a batch move once.
const BATCH: usize = 16;

/// Overwritten target tags named in the copy step's line (the rest are counted).
const OVERWRITES_NAMED: usize = 5;

/// Mentions of the old registry named in the rewrite step's line (the rest are counted; without
/// `-q` all are listed on stderr before it).
const MENTIONS_NAMED: usize = 20;

impl Run<'_> {
    fn full_name(prefix: Option<&str>, name: &str) -> String {
        match prefix {
            Some(p) => format!("{p}/{name}"),
            None => name.to_string(),
        }
    }

    fn source_names(&self, names: &[String]) -> Vec<String> {
        let prefix = self.matcher.selection().source_prefix.as_deref();
        names.iter().map(|n| Self::full_name(prefix, n)).collect()
    }

    fn target_names(&self, names: &[String]) -> Vec<String> {
        names.iter().map(|n| self.matcher.target_name(n)).collect()
    }

    async fn open_source(&self) -> anyhow::Result<Arc<dyn Store>> {
        transport::open(
            &self.source_ep,
            Access::Read,
            &self.args.connect.options(Side::Source)?,
        )
        .await
        .context("the plan's source")
    }

    async fn open(&self, write: bool) -> anyhow::Result<(Arc<dyn Store>, Arc<dyn Store>)> {
        let source = self.open_source().await?;
        let target = transport::open(
            &self.target_ep,
            if write { Access::Write } else { Access::Read },
            &self.args.connect.options(Side::Target)?,
        )
        .await
        .context("the plan's target")?;
        Ok((source, target))
    }

    async fn step(&mut self, step: &Step) -> anyhow::Result<StepEnd> {
        match &step.kind {
            StepKind::Inventory => {
                let interrupt = self.interrupt.clone();
                tokio::select! {
                    end = self.inventory() => end,
                    _ = interrupt.wait() => Ok(StepEnd::Interrupted(
                        "nothing was changed: the next run reads the inventory again".into(),
                    )),
                }
            }
            StepKind::Template {
                input,
                parameters,
                output,
                ..
            } => {
                let options = template_options(&step.kind).expect("a template step");
                template(
                    input,
                    parameters.as_deref(),
                    &options,
                    output,
                    &self.plan.config,
                )
            }
            StepKind::Copy {
                mode: acr_relocate::relocation::plan::CopyMode::Import,
                target_id,
                source_id,
                jobs,
                ..
            } => {
                let interrupt = self.interrupt.clone();
                tokio::select! {
                    end = self.import(target_id.as_deref(), source_id.as_deref(), *jobs) => end,
                    _ = interrupt.wait() => Ok(StepEnd::Interrupted(
                        "imports already started go on in Azure; run apply again: what arrived is skipped".into(),
                    )),
                }
            }
            StepKind::Copy {
                jobs,
                max_jobs,
                referrers,
                no_overwrite,
                ..
            } => {
                self.copy(step, *jobs, *max_jobs, *referrers, *no_overwrite)
                    .await
            }
            StepKind::Rewrite {
                paths,
                from,
                to,
                check_against,
                pin_digests,
                in_place_hard_links,
                accept_mentions,
                ..
            } => {
                let write = acr_rewrite::WriteOptions {
                    in_place_hard_links: *in_place_hard_links,
                };
                self.rewrite(
                    paths,
                    (from, to, check_against),
                    *pin_digests,
                    write,
                    *accept_mentions,
                )
                .await
            }
            StepKind::Verify { .. } => {
                let interrupt = self.interrupt.clone();
                let verified = tokio::select! {
                    verified = self.verify() => verified?,
                    _ = interrupt.wait() => return Ok(StepEnd::Interrupted(
                        "nothing was changed: the next run verifies again".into(),
                    )),
                };
                self.after_verify(verified)
            }
            StepKind::DeleteSource {
                skip_content_check,
                registry_resource: Some(id),
                ..
            } => {
                self.delete_registry(&step.id, id, *skip_content_check)
                    .await
            }
            StepKind::DeleteSource {
                skip_content_check, ..
            } => self.delete_source(&step.id, *skip_content_check).await,
            StepKind::AttachAks {
                clusters,
                registry_id,
            } => {
                let Some(registry_id) = registry_id else {
                    return Ok(StepEnd::Failed(
                        "[attach_aks] needs [target] azure_resource_id: plan again".into(),
                    ));
                };
                self.attach_aks(clusters, registry_id).await
            }
            StepKind::Settings {
                source_id,
                target_id,
                expect,
            } => self.settings(source_id, target_id, expect).await,
            StepKind::Roles {
                source_id,
                target_id,
                include_inherited,
            } => self.roles(source_id, target_id, *include_inherited).await,
            StepKind::Deploy {
                resource_group,
                subscription,
                location,
                template,
                parameters,
                name,
            } => {
                let (Some(resource_group), Some(subscription), Some(location), Some(template)) =
                    (resource_group, subscription, location, template)
                else {
                    return Ok(StepEnd::Failed(
                        "[deploy] lacks a resource group, subscription, location or template: plan again".into(),
                    ));
                };
                let interrupt = self.interrupt.clone();
                tokio::select! {
                    end = self.deploy(
                        resource_group,
                        subscription,
                        location,
                        template,
                        parameters.as_deref(),
                        name.as_deref().unwrap_or("acr-relocate"),
                    ) => end,
                    _ = interrupt.wait() => Ok(StepEnd::Interrupted(
                        "the deployment goes on in Azure; run apply again to follow it to its end".into(),
                    )),
                }
            }
        }
    }

    async fn deploy(
        &self,
        resource_group: &str,
        subscription: &str,
        location: &str,
        template: &Path,
        parameters: Option<&Path>,
        name: &str,
    ) -> anyhow::Result<StepEnd> {
        let (template, parameters) = acr_azure::deploy::read_inputs(template, parameters)?;
        let arm = self.args.arm.client(self.args.connect.azure_credential)?;
        let deployment = acr_azure::deploy::Deployment {
            subscription: subscription.into(),
            resource_group: resource_group.into(),
            location: location.into(),
            name: name.into(),
            template,
            parameters,
        };
        let quiet = self.args.quiet;
        match acr_azure::deploy::deploy(&arm, &deployment, |step| {
            if !quiet {
                eprintln!("deploy: {step}");
            }
        })
        .await
        {
            Ok(done) => Ok(StepEnd::Done(format!(
                "{name} {} in resource group {resource_group}{}",
                done.provisioning_state,
                if done.created_resource_group {
                    " (created)"
                } else {
                    ""
                }
            ))),
            Err(e) => Ok(StepEnd::Failed(e.to_string())),
        }
    }

    async fn import(
        &self,
        target_id: Option<&str>,
        source_id: Option<&str>,
        jobs: usize,
    ) -> anyhow::Result<StepEnd> {
        use acr_azure::import::{self, ImportOptions, ImportSource};
        let Some(target_id) = target_id else {
            return Ok(StepEnd::Failed(
                "import needs [target] azure_resource_id: plan again".into(),
            ));
        };
        let target_id = acr_azure::ResourceId::registry(target_id)?;
        // The source's settings once: a password from stdin can be read only once.
        let source_options = self.args.connect.options(Side::Source)?;
        let import_source = match (source_id, &self.source_ep) {
            (Some(id), _) => ImportSource::Registry(acr_azure::ResourceId::registry(id)?),
            (None, Endpoint::Registry(r)) => ImportSource::Uri {
                host: r.host.clone(),
                credentials: source_options
                    .credentials
                    .clone()
                    .map(|c| (c.username, c.password)),
            },
            (None, _) => {
                return Ok(StepEnd::Failed(
                    "import reads from a registry, not a layout: set [copy] mode = \"client\""
                        .into(),
                ))
            }
        };
        if let (
            ImportSource::Uri {
                credentials: None, ..
            },
            Endpoint::Registry(r),
        ) = (&import_source, &self.source_ep)
        {
            if acr_relocate::transport::registry::acr::is_acr_host(r.hostname()) {
                // ARM would pull anonymously and refuse every import, run after run.
                return Ok(StepEnd::Stuck {
                    detail: format!(
                        "[source] {} is an Azure container registry and importImage would pull from it without credentials: nothing imported",
                        r.host.to_ascii_lowercase()
                    ),
                    remedy: format!(
                        "set [source] azure_resource_id (the resource ID of an ACR the caller can read) in {}, plan again and apply with --replan, or give apply --src-creds",
                        self.plan.config.display()
                    ),
                });
            }
        }
        let arm = self.args.arm.client(self.args.connect.azure_credential)?;
        super::azure::check_login_server(
            &arm,
            &target_id,
            &self.target_ep,
            "[target] azure_resource_id",
            "[target] registry",
        )
        .await?;
        if let ImportSource::Registry(id) = &import_source {
            super::azure::check_login_server(
                &arm,
                id,
                &self.source_ep,
                "[source] azure_resource_id",
                "[source] registry",
            )
            .await?;
        }
        let source = transport::open(&self.source_ep, Access::Read, &source_options)
            .await
            .context("the plan's source")?;
        let target = transport::open(
            &self.target_ep,
            Access::Read,
            &self.args.connect.options(Side::Target)?,
        )
        .await
        .context("the plan's target")?;
        let source = Scoped::store(source, self.source_names(&self.share));
        let options = ImportOptions {
            force: false,
            jobs,
            dry_run: false,
            untagged: true,
        };
        let quiet = self.args.quiet;
        let progress = |item: &import::ImportItem, error: Option<&str>| {
            if let (Some(e), false) = (error, quiet) {
                eprintln!("import: {}: {e}", item.describe());
            }
        };
        let report = import::import_all(
            &arm,
            &target_id,
            &import_source,
            (source, target),
            &self.matcher,
            &options,
            &progress,
        )
        .await?;
        let detail = format!(
            "{} imported, {} already there, {} conflicts, {} failed",
            report.imported.len(),
            report.present,
            report.conflicts.len(),
            report.failed.len() + report.errors.len()
        );
        Ok(if report.passed() {
            StepEnd::Done(detail)
        } else if report.failed.is_empty() && report.errors.is_empty() {
            // Only tags the target holds with other images: an import never overwrites them
            // (NoForce), so every run would stop on them again.
            let conflicts: Vec<String> = report
                .conflicts
                .iter()
                .map(|(item, reason)| format!("{}: {reason}", item.describe()))
                .collect();
            StepEnd::Stuck {
                detail: format!("{detail}; conflicts: {}", conflicts.join("; ")),
                remedy: format!(
                    "the target holds these tags with other images, and an import never overwrites them: rename or remove them in the target, then run the same command again; or leave their repositories out with [scope] exclude_repos in {}, run `acr-relocate plan --config {} -o {}` again, then `acr-relocate apply {} --replan`",
                    self.plan.config.display(),
                    self.plan.config.display(),
                    self.args.plan.display(),
                    self.args.plan.display()
                ),
            }
        } else {
            StepEnd::Failed(detail)
        })
    }

    async fn inventory(&self) -> anyhow::Result<StepEnd> {
        let source = self.open_source().await?;
        let scoped = Scoped::store(source, self.source_names(&self.share));
        let inv = acr_relocate::inventory::inventory(
            scoped,
            &self.plan.source,
            &self.matcher,
            args::DEFAULT_JOBS,
            None,
        )
        .await?;
        let path = inventory_path(self.journal.path());
        super::plan::write_atomically(&path, serde_json::to_string_pretty(&inv)?.as_bytes())
            .with_context(|| format!("the inventory {}", path.display()))?;
        Ok(StepEnd::Done(format!(
            "{}, {}, {} unique now (planned: {}, {}); written to {}",
            counted(inv.totals.repositories, "repository", "repositories"),
            counted(inv.totals.tags, "tag", "tags"),
            human_bytes(inv.totals.unique_bytes),
            counted(self.plan.totals.repositories, "repository", "repositories"),
            counted(self.plan.totals.tags, "tag", "tags"),
            path.display()
        )))
    }

    async fn copy(
        &mut self,
        step: &Step,
        jobs: usize,
        max_jobs: Option<usize>,
        referrers: bool,
        no_overwrite: bool,
    ) -> anyhow::Result<StepEnd> {
        let (source, target) = self.open(true).await?;
        let state = self.journal.state().clone();
        let in_flight: BTreeSet<String> =
            state.in_flight.get(&step.id).cloned().unwrap_or_default();
        // Repositories a verify reopened come first, walked deep: the target may have lost
        // content below tags it still holds with the right digest, which a plain copy trusts.
        let (deep, plain): (Vec<String>, Vec<String>) = self
            .share
            .iter()
            .filter(|r| !state.repository_done(&step.id, r))
            .cloned()
            .partition(|r| state.repository_reopened(&step.id, r));
        let todo_count = deep.len() + plain.len();
        let already = self.share.len() - todo_count;
        let rechecked = deep
            .iter()
            .chain(&plain)
            .filter(|r| in_flight.contains(*r))
            .count();
        if !self.args.quiet && (already > 0 || rechecked > 0 || !deep.is_empty()) {
            eprintln!(
                "copy: {} done in an earlier run; {rechecked} in flight when it stopped are checked again; {} reopened by the verify are walked deep",
                counted(already, "repository", "repositories"),
                deep.len()
            );
        }
        let batches: Vec<(bool, &[String])> = deep
            .chunks(BATCH)
            .map(|b| (true, b))
            .chain(plain.chunks(BATCH).map(|b| (false, b)))
            .collect();
        let progress = StepProgress::new(todo_count as u64, self.args.quiet);
        let mut failed: Vec<String> = Vec::new();
        let mut bytes = 0u64;
        let (mut manifests_put_back, mut blobs_put_back) = (0u64, 0u64);
        // Target tags that pointed at another digest, made the source's.
        let mut overwritten: Vec<String> = Vec::new();
        // Target tags that point at another digest, kept (`no_overwrite`).
        let mut kept = 0usize;
        let mut started = 0usize;
        for (walk_deep, batch) in batches {
            if self.interrupt.is_triggered() {
                progress.finish();
                return Ok(StepEnd::Interrupted(format!(
                    "{} done in this run, {} left for the next run",
                    counted(started - failed.len(), "repository", "repositories"),
                    todo_count - started
                )));
            }
            started += batch.len();
            for name in batch {
                self.journal.record(Record::RepositoryStarted {
                    step: step.id.clone(),
                    repository: name.clone(),
                    deep: walk_deep,
                })?;
            }
            let options = CopyOptions {
                jobs,
                max_jobs,
                dry_run: false,
                referrers,
                untagged: true,
                nondistributable: false,
                deep: walk_deep,
                no_overwrite,
                mount_from_source: false,
                matcher: self.matcher.clone(),
                progress: progress.clone(),
                interrupt: self.interrupt.clone(),
            };
            let summary = copy::copy(
                Scoped::store(source.clone(), self.source_names(batch)),
                target.clone(),
                options,
            )
            .await?;
            bytes += summary.bytes_copied;
            overwritten.extend(summary.overwritten.iter().map(|o| o.item.clone()));
            manifests_put_back += summary.manifests_put_back;
            blobs_put_back += summary.blobs_put_back;
            let targets: BTreeMap<String, &String> = self
                .target_names(batch)
                .into_iter()
                .zip(batch.iter())
                .collect();
            let mut reasons: BTreeMap<&String, String> = BTreeMap::new();
            // A tag `no_overwrite` kept fails its repository: it does not hold the source's
            // image, and the verify would find it different.
            for o in &summary.conflicts {
                let line = format!(
                    "kept {}: the target has {}, the source {} (no_overwrite)",
                    o.item, o.target_had, o.source
                );
                let repo = o.item.rsplit_once(':').map_or(o.item.as_str(), |(r, _)| r);
                if let Some(name) = targets.get(repo) {
                    reasons
                        .entry(name)
                        .and_modify(|r| {
                            r.push_str("; ");
                            r.push_str(&line)
                        })
                        .or_insert(line);
                }
                kept += 1;
            }
            // A repository whose source lacks content fails too: its tag did not arrive.
            for p in summary.failed.iter().chain(&summary.source_incomplete) {
                let repo = p
                    .item
                    .split(['@', ':'])
                    .next()
                    .unwrap_or(&p.item)
                    .to_string();
                if let Some(name) = targets.get(&repo) {
                    reasons
                        .entry(name)
                        .or_insert_with(|| format!("{}: {}", p.item, p.reason));
                }
            }
            if summary.interrupted {
                progress.finish();
                return Ok(StepEnd::Interrupted(format!(
                    "{} of this batch {} in flight: the next run checks them again",
                    counted(batch.len(), "repository", "repositories"),
                    if batch.len() == 1 { "was" } else { "were" }
                )));
            }
            for name in batch {
                match reasons.get(name) {
                    Some(reason) => {
                        failed.push(format!("{name} ({reason})"));
                        self.journal.record(Record::RepositoryFailed {
                            step: step.id.clone(),
                            repository: name.clone(),
                            reason: reason.clone(),
                        })?;
                    }
                    None => {
                        self.journal.record(Record::RepositoryDone {
                            step: step.id.clone(),
                            repository: name.clone(),
                        })?;
                        self.copied.push(name.clone());
                    }
                }
            }
            progress.repositories(batch.len() as u64);
        }
        progress.finish();
        let mut detail = format!(
            "{} copied or checked in this run ({}), {already} done before",
            counted(todo_count - failed.len(), "repository", "repositories"),
            human_bytes(bytes)
        );
        if !deep.is_empty() {
            detail.push_str(&format!(
                "; {} reopened by the verify walked deep: {} and {} put back",
                deep.len(),
                counted(manifests_put_back, "manifest", "manifests"),
                counted(blobs_put_back, "blob", "blobs")
            ));
        }
        if !overwritten.is_empty() {
            let shown: Vec<&str> = overwritten
                .iter()
                .take(OVERWRITES_NAMED)
                .map(String::as_str)
                .collect();
            let more = overwritten.len().saturating_sub(OVERWRITES_NAMED);
            detail.push_str(&format!(
                "; {} target tags that held another digest overwritten ({}{})",
                overwritten.len(),
                shown.join(", "),
                if more > 0 {
                    format!(", {more} more")
                } else {
                    String::new()
                }
            ));
        }
        Ok(if failed.is_empty() {
            StepEnd::Done(detail)
        } else if kept > 0 {
            // Kept again by every run until the target's tags or the plan change.
            StepEnd::Stuck {
                detail: format!("{detail}; failed: {}", failed.join("; ")),
                remedy: format!(
                    "[copy] no_overwrite kept target tags that hold other images (listed above), and running the same command again keeps them again: rename or remove them in the target, then run the same command again; or leave their repositories out with [scope] exclude_repos (exclude_tags would leave the tag out of every repository) (or set [copy] no_overwrite = false) in {}, run `acr-relocate plan --config {} -o {}` again, then `acr-relocate apply {} --replan`",
                    self.plan.config.display(),
                    self.plan.config.display(),
                    self.args.plan.display(),
                    self.args.plan.display()
                ),
            }
        } else {
            StepEnd::Failed(format!("{detail}; failed: {}", failed.join("; ")))
        })
    }

    async fn verify(&self) -> anyhow::Result<verify::Report> {
        let (source, target) = self.open(false).await?;
        let report = verify::verify(
            Scoped::store(source, self.source_names(&self.share)),
            Scoped::store(target, self.target_names(&self.share)),
            &VerifyOptions {
                matcher: self.matcher.clone(),
                deep: true,
                jobs: args::DEFAULT_JOBS,
                max_jobs: None,
                untagged: true,
                nondistributable: false,
                content: false,
            },
        )
        .await?;
        Ok(report)
    }

    /// The verify's verdict. Repositories with gaps that the journal has as copied (the source
    /// changed since, or the target lost something) are recorded as no longer done, so the next
    /// run that runs the copy copies them again.
    fn after_verify(&mut self, report: verify::Report) -> anyhow::Result<StepEnd> {
        let text = super::verify::text(&report);
        // The step's own line names the step: the verdict goes without `verify: `.
        let last = text.lines().last().unwrap_or("");
        let verdict = last.strip_prefix("verify: ").unwrap_or(last).to_string();
        if report.passed() {
            return Ok(StepEnd::Done(verdict));
        }
        if self.args.quiet {
            // The gaps explain the failure: listed even under -q (a few, then a count).
            eprint!(
                "{}",
                super::delete_source::gap_lines(&report, super::delete_source::GAPS_LISTED_QUIET)
            );
        } else {
            eprint!("{text}");
        }
        let reopened = self.reopen_gaps(&report)?;
        if reopened == 0 {
            // Nothing this journal copied: running this verify again cannot pass.
            return Ok(StepEnd::Failed(format!(
                "{verdict}; this journal records no copy of the repositories with gaps: run the copy step (apply without --step, or the sharded workers with their own journals), then verify again"
            )));
        }
        let copy_runs_again =
            self.args.steps.is_empty() || self.args.steps.iter().any(|k| k == "copy");
        Ok(StepEnd::Failed(if copy_runs_again {
            format!(
                "{verdict}; run the same command again: {} will be copied again",
                counted(reopened, "repository", "repositories")
            )
        } else {
            format!("{verdict}; {} will be copied again by the next apply that runs the copy step (without --step, or with --step copy)", counted(reopened, "repository", "repositories"))
        }))
    }

    /// Records as no longer done, for every copy step, the repositories of the share in which
    /// `report` found something missing, different or broken; returns how many.
    fn reopen_gaps(&mut self, report: &verify::Report) -> anyhow::Result<usize> {
        let mut names: BTreeMap<String, String> = BTreeMap::new();
        for (full, name) in self
            .target_names(&self.share)
            .into_iter()
            .chain(self.source_names(&self.share))
            .zip(self.share.iter().chain(self.share.iter()))
        {
            names.entry(full).or_insert_with(|| name.clone());
        }
        let mut gaps: BTreeMap<String, String> = BTreeMap::new();
        for p in report
            .missing
            .iter()
            .chain(&report.different)
            .chain(&report.broken)
        {
            let repository = p.item.split(['@', ':']).next().unwrap_or(&p.item);
            if let Some(name) = names.get(repository) {
                gaps.entry(name.clone())
                    .or_insert_with(|| format!("{}: {}", p.item, p.reason));
            }
        }
        let copy_steps: Vec<String> = self
            .plan
            .steps
            .iter()
            .filter(|s| matches!(s.kind, StepKind::Copy { .. }))
            .map(|s| s.id.clone())
            .collect();
        let steps_done: BTreeSet<String> = copy_steps
            .iter()
            .filter(|s| self.journal.state().steps_done.contains(*s))
            .cloned()
            .collect();
        let mut reopened = BTreeSet::new();
        for (repository, reason) in gaps {
            for step in &copy_steps {
                if steps_done.contains(step)
                    || self.journal.state().repository_done(step, &repository)
                {
                    self.journal.record(Record::RepositoryReopened {
                        step: step.clone(),
                        repository: repository.clone(),
                        reason: reason.clone(),
                    })?;
                    reopened.insert(repository.clone());
                }
            }
        }
        Ok(reopened.len())
    }

    /// The `rewrite` step: every reference checked in `check_against` before anything is
    /// written, then the files written. The mentions of the old registry it leaves alone are
    /// listed; while any remains in a plan that deletes the source (and the plan does not
    /// `accept_mentions`), the step is not done.
    async fn rewrite(
        &self,
        paths: &[PathBuf],
        (from, to, check_against): (&str, &str, &str),
        pin_digests: bool,
        write: acr_rewrite::WriteOptions,
        accept_mentions: bool,
    ) -> anyhow::Result<StepEnd> {
        let endpoint = args::endpoint(check_against, "[rewrite] check_against")?;
        let store = transport::open(
            &endpoint,
            Access::Read,
            &self.args.connect.options(Side::Target)?,
        )
        .await?;
        let handle = tokio::runtime::Handle::current();
        let (paths, from, to) = (paths.to_vec(), from.to_string(), to.to_string());
        let config = self.plan.config.display().to_string();
        let plan_path = self.args.plan.display().to_string();
        let renamer = super::rewrite::MapRenamer::of_scope(
            &self.plan.scope,
            self.matcher.selection().source_prefix.as_deref(),
        )?;
        let quiet = self.args.quiet;
        // Until the copy is done, a reference the target lacks may yet arrive with it.
        let copied = self
            .plan
            .steps
            .iter()
            .filter(|s| matches!(s.kind, StepKind::Copy { .. }))
            .all(|s| self.journal.state().steps_done.contains(&s.id));
        // A source the plan deletes must not stay named in the files.
        let deletes_source = self
            .plan
            .steps
            .iter()
            .any(|s| matches!(s.kind, StepKind::DeleteSource { .. }));
        tokio::task::spawn_blocking(move || -> anyhow::Result<StepEnd> {
            let lookup = super::rewrite::TargetLookup::with_store(handle, store);
            let mut rewriter = acr_rewrite::Rewriter::new(acr_rewrite::Options {
                from: acr_rewrite::Registry::parse(&from)?,
                to: acr_rewrite::Registry::parse_target(&to)?,
                pin_digests,
            })
            .with_resolver(&lookup);
            if let Some(renamer) = &renamer {
                rewriter = rewriter.with_renamer(renamer);
            }
            let plan = rewriter.plan(&paths)?;
            // YAML that cannot be parsed (templating, complex keys) is left as it is: said once
            // per file, as `rewrite` says it.
            let not_parsed: Vec<String> = plan
                .files
                .iter()
                .filter_map(acr_rewrite::FilePlan::not_parsed_warning)
                .collect();
            for warning in &not_parsed {
                eprintln!("apply: rewrite: warning: {warning}");
            }
            let mut problems: Vec<String> = plan.failures.iter().map(|f| f.to_string()).collect();
            problems.extend(
                plan.problems()
                    .map(|(path, p)| format!("{}:{}: {p}", path.display(), p.line)),
            );
            if !problems.is_empty() {
                let detail = format!("nothing written: {}", problems.join("; "));
                // A tag or digest the target lacks stays missing however often the step runs:
                // the copy brings what the scope selects, which the plan checked then.
                let missing = plan.failures.is_empty()
                    && plan.problems().all(|(_, p)| {
                        matches!(
                            p.issue,
                            acr_rewrite::Issue::MissingTag | acr_rewrite::Issue::MissingDigest
                        )
                    });
                if !missing {
                    return Ok(StepEnd::Failed(detail));
                }
                if !copied {
                    return Ok(StepEnd::Failed(format!(
                        "{detail}; the copy step is not done yet: run it first (apply without --step, or with --step copy)"
                    )));
                }
                return Ok(StepEnd::Stuck {
                    detail,
                    remedy: format!(
                        "the rewrite step's references name images the target does not hold (listed above), and running the same command again will not bring them: widen [scope] in {config} to take them, run `acr-relocate plan --config {config} -o {plan_path}` again, then `acr-relocate apply {plan_path} --replan`; or edit those files to name images the target holds (or copy them there: `acr-relocate copy`), then run the same command again"
                    ),
                });
            }
            // Every changed file is checked before any is written, as `rewrite` does.
            if let Some(refused) = rewrite_refusal(&plan, write.in_place_hard_links, &config) {
                return Ok(StepEnd::Failed(format!("nothing written: {refused}")));
            }
            let written = plan.write_with(write)?;
            if !written.errors.is_empty() {
                return Ok(StepEnd::Failed(
                    written
                        .errors
                        .iter()
                        .map(|e| e.to_string())
                        .collect::<Vec<_>>()
                        .join("; "),
                ));
            }
            let in_place = match written.written_in_place.len() {
                0 => String::new(),
                n => format!(" ({n} written in place: they have other hard links)"),
            };
            let unread = match not_parsed.len() {
                0 => String::new(),
                1 => "; 1 file that could not be parsed (YAML, a Dockerfile), left as it was (see the warning)".to_string(),
                n => format!("; {n} files that could not be parsed (YAML, Dockerfiles), left as they were (see the warnings)"),
            };
            let rewrote = format!(
                "rewrote {} references in {} files{in_place}{unread}",
                written.references_rewritten, written.files_written
            );
            // What the rewrite leaves alone, as `rewrite` lists it: `FILE:LINE: TEXT (NOTE)`.
            let mentions: Vec<String> = plan
                .files
                .iter()
                .flat_map(|f| {
                    f.mentions.iter().map(move |m| {
                        let path = f.path.display().to_string();
                        let note = m.note.as_deref().map(|n| format!(" ({n})")).unwrap_or_default();
                        format!(
                            "{}:{}: {}{note}",
                            acr_relocate::log::printable(&path),
                            m.line,
                            acr_rewrite::printable_line(&m.text)
                        )
                    })
                })
                .collect();
            if mentions.is_empty() {
                return Ok(StepEnd::Done(rewrote));
            }
            let stops = deletes_source && !accept_mentions;
            if !quiet {
                eprintln!(
                    "apply: rewrite: left alone ({} of {from} that are not image fields; {}):",
                    counted(mentions.len() as u64, "mention", "mentions"),
                    match stops {
                        true => "point them at the new registry by hand",
                        false => "check them by hand",
                    }
                );
                for mention in &mentions {
                    eprintln!("  {mention}");
                }
            }
            let named = {
                let more = mentions.len().saturating_sub(MENTIONS_NAMED);
                let mut named = mentions[..mentions.len().min(MENTIONS_NAMED)].join("; ");
                if more > 0 {
                    named.push_str(&format!(
                        "; and {more} more ({})",
                        match quiet {
                            true => "run without -q to list them all",
                            false => "listed above",
                        }
                    ));
                }
                named
            };
            if !stops {
                return Ok(StepEnd::Done(format!(
                    "{rewrote}; {} of {from} left alone{}: {named}",
                    counted(mentions.len() as u64, "mention", "mentions"),
                    match accept_mentions {
                        true => " (accept_mentions): check them by hand",
                        false => ", which it cannot rewrite safely: check them by hand",
                    }
                )));
            }
            Ok(StepEnd::Stuck {
                detail: format!(
                    "{rewrote}; but {} of the source {from} remain that the rewrite cannot change safely, and the plan deletes the source: {named}",
                    counted(mentions.len() as u64, "mention", "mentions")
                ),
                remedy: format!(
                    "the deployment files still mention the source {from} (listed above), which the plan deletes: point them at {to} by hand (or delete them), then run the same command again; or set `accept_mentions = true` under [rewrite] in {config}, run `acr-relocate plan --config {config} -o {plan_path}` again, then `acr-relocate apply {plan_path} --replan`"
                ),
            })
        })
        .await?
    }

    /// The guarded deletion of `delete-source`, each manifest deleted recorded in the journal;
    /// Ctrl-C lets the deletion in flight finish and starts no other. Its own deep verify reads
    /// every blob's content unless the plan says `skip_content_check`.
    async fn attach_aks(&self, clusters: &[String], registry_id: &str) -> anyhow::Result<StepEnd> {
        let registry = acr_azure::ResourceId::registry(registry_id)?;
        let clusters = clusters
            .iter()
            .map(|c| acr_azure::ResourceId::cluster(c))
            .collect::<Result<Vec<_>, _>>()?;
        let arm = self.args.arm.client(self.args.connect.azure_credential)?;
        let mut created = 0;
        for cluster in &clusters {
            if self.interrupt.is_triggered() {
                return Ok(StepEnd::Interrupted(format!(
                    "{created} of {} clusters attached; run apply again for the rest",
                    clusters.len()
                )));
            }
            let attached = acr_azure::aks::attach(&arm, cluster, &registry).await?;
            if matches!(attached, acr_azure::aks::Attached::Created(_)) {
                created += 1;
            }
            if !self.args.quiet {
                eprintln!(
                    "attach_aks: {}",
                    super::azure::describe_attached(cluster, &registry, &attached)
                );
            }
        }
        Ok(StepEnd::Done(format!(
            "{} can pull from {} ({created} role assignments created, {} already there)",
            crate::progress::counted(clusters.len(), "AKS cluster", "AKS clusters"),
            registry.name,
            clusters.len() - created
        )))
    }

    async fn roles(
        &self,
        source_id: &str,
        target_id: &str,
        include_inherited: bool,
    ) -> anyhow::Result<StepEnd> {
        let source = acr_azure::ResourceId::registry(source_id)?;
        let target = acr_azure::ResourceId::registry(target_id)?;
        let arm = self.args.arm.client(self.args.connect.azure_credential)?;
        let carried =
            super::azure::carry_roles(&arm, &source, &target, include_inherited, false).await?;
        if !self.args.quiet {
            for line in carried.lines() {
                eprintln!("roles: {line}");
            }
        }
        Ok(match carried.failed {
            0 => StepEnd::Done(carried.summary()),
            _ => StepEnd::Failed(format!(
                "{} (each failure listed above with ARM's reason; give this sign-in the right to assign roles on the target, User Access Administrator or Owner, and run apply again)",
                carried.summary()
            )),
        })
    }

    async fn settings(
        &self,
        source_id: &str,
        target_id: &str,
        expect: &[String],
    ) -> anyhow::Result<StepEnd> {
        let source = acr_azure::ResourceId::registry(source_id)?;
        let target = acr_azure::ResourceId::registry(target_id)?;
        let arm = self.args.arm.client(self.args.connect.azure_credential)?;
        let rows = acr_azure::settings::compare(&arm, &source, &target, expect).await?;
        if !self.args.quiet {
            // On stderr with the other steps' lines: stdout holds the summary (`--json`).
            eprint!(
                "{}",
                super::azure::settings_table(&rows, &source.name, &target.name)
            );
        }
        super::azure::warn_unread("settings", &rows);
        // Deleting the registry resource deletes what could not be read with it: not compared,
        // not kept anywhere.
        let deletes_registry = self.plan.steps.iter().any(|s| {
            matches!(
                s.kind,
                StepKind::DeleteSource {
                    registry_resource: Some(_),
                    ..
                }
            )
        });
        let unread: Vec<&str> = rows
            .iter()
            .filter(|r| r.verdict == "unread")
            .filter(|r| !expect.iter().any(|e| e.eq_ignore_ascii_case(r.setting)))
            .map(|r| r.setting)
            .collect();
        if deletes_registry && !unread.is_empty() {
            return Ok(StepEnd::Failed(format!(
                "{} could not be read (warned above), and the plan deletes the source registry resource with them: give this sign-in read on them, or list them in [settings] expect and plan again with --replan",
                unread.join(", ")
            )));
        }
        Ok(match super::azure::settings_differences(&rows) {
            None => StepEnd::Done(format!(
                "{} settings compared: {} the same, {} expected to differ, {} not read",
                rows.len(),
                rows.iter().filter(|r| r.verdict == "same").count(),
                rows.iter().filter(|r| r.verdict == "expected").count(),
                rows.iter().filter(|r| r.verdict == "unread").count()
            )),
            Some(differences) => StepEnd::Failed(format!(
                "{differences}: make the target match (then run apply again), or list the planned changes in [settings] expect and plan again with --replan"
            )),
        })
    }

    async fn delete_registry(
        &mut self,
        step: &str,
        registry_id: &str,
        skip_content_check: bool,
    ) -> anyhow::Result<StepEnd> {
        let id = acr_azure::ResourceId::registry(registry_id)?;
        let arm = self.args.arm.client(self.args.connect.azure_credential)?;
        let asked_before = self
            .journal
            .state()
            .registry_deletes
            .get(step)
            .is_some_and(|asked| asked.contains(&registry_id.to_ascii_lowercase()));
        let (source, target, interrupt) = (
            self.plan.source.clone(),
            self.plan.target.clone(),
            self.interrupt.clone(),
        );
        let journal = std::sync::Mutex::new(&mut self.journal);
        let record = || -> anyhow::Result<()> {
            journal
                .lock()
                .expect("journal lock")
                .record(Record::RegistryDeleteRequested {
                    step: step.to_string(),
                    registry: registry_id.to_string(),
                })?;
            Ok(())
        };
        let deletion = super::azure::RegistryDeletion {
            id: &id,
            source_endpoint: Some(&source),
            verified_against: &target,
            connect: &self.args.connect,
            jobs: args::JobsArgs::default(),
            content_check: !skip_content_check,
            allow_empty: false,
            who: "delete_source",
            interrupt: Some(interrupt.clone()),
            asked_before,
            before_delete: Some(&record),
        };
        Ok(
            match super::azure::delete_registry(&arm, &deletion).await? {
                Ok(super::azure::RegistryDeleted::Now) => {
                    StepEnd::Done(format!("registry resource {} deleted", id.name))
                }
                Ok(super::azure::RegistryDeleted::Before) => StepEnd::Done(format!(
                "registry resource {} deleted (asked by an earlier run; ARM no longer knows it)",
                id.name
            )),
                Err(refusal) if interrupt.is_triggered() => {
                    StepEnd::Interrupted(format!("{refusal}: the next run verifies again"))
                }
                Err(refusal) => StepEnd::Failed(refusal),
            },
        )
    }

    async fn delete_source(
        &mut self,
        step: &str,
        skip_content_check: bool,
    ) -> anyhow::Result<StepEnd> {
        // Checked when the plan was read: the plan's source, as `[delete_source] confirm` repeats.
        let args = super::delete_source::DeleteSourceArgs {
            source: self.plan.source.clone(),
            verified_against: self.plan.target.clone(),
            confirm: Some(self.plan.source.clone()),
            filters: FilterArgs {
                repos: self.plan.scope.repos.clone(),
                exclude_repos: self.plan.scope.exclude_repos.clone(),
                tag: self.plan.scope.tag.clone().into_iter().collect(),
                exclude_tags: self.plan.scope.exclude_tags.clone(),
                shard: None,
            },
            renames: args::MapArgs {
                map: self.plan.scope.map.clone(),
            },
            connect: self.args.connect.clone(),
            jobs: args::JobsArgs::default(),
            skip_content_check,
            dry_run: false,
            json: false,
        };
        // The plan's repositories, not whatever the scope selects in the source now.
        let plan_repositories = self.source_names(&self.share);
        let journal = std::sync::Mutex::new(&mut self.journal);
        let record = |d: &super::delete_source::Deletion| -> anyhow::Result<()> {
            let mut journal = journal.lock().expect("journal lock");
            journal.record(Record::ManifestDeleted {
                step: step.to_string(),
                repository: d.repository.clone(),
                digest: d.digest.clone(),
                tags: d.tags.clone(),
            })?;
            Ok(())
        };
        let failed_verify = std::sync::Mutex::new(None);
        let deletion_refused = std::sync::Mutex::new(None);
        // Written before each request: a run killed while it is in flight (the registry may have
        // deleted the manifest) finds the manifest gone and counts it.
        let requested = |d: &super::delete_source::Deletion| -> anyhow::Result<()> {
            let mut journal = journal.lock().expect("journal lock");
            journal.record(Record::ManifestDeleteRequested {
                step: step.to_string(),
                repository: d.repository.clone(),
                digest: d.digest.clone(),
            })?;
            Ok(())
        };
        let control = super::delete_source::Control {
            interrupt: self.interrupt.clone(),
            on_deleted: Some(&record),
            before_delete: Some(&requested),
            failed_verify: Some(&failed_verify),
            deletion_refused: Some(&deletion_refused),
            quiet: self.args.quiet,
            report_on_stderr: true,
            repositories: Some(&plan_repositories),
        };
        let code = super::delete_source::run_controlled(args, &control).await?;
        // Recorded deleted, or asked to be by a run that stopped before the answer: the
        // manifest is gone either way once the source no longer lists it.
        let state = journal.into_inner().expect("journal lock").state();
        let deleted = state
            .deleted
            .get(step)
            .into_iter()
            .chain(state.delete_requested.get(step))
            .flatten()
            .collect::<std::collections::BTreeSet<_>>()
            .len();
        Ok(match code {
            exit::SUCCESS => StepEnd::Done(format!(
                "{deleted} source manifests deleted in all (recorded in the journal)"
            )),
            exit::INTERRUPTED => StepEnd::Interrupted(format!(
                "no deletion started after {}; {deleted} source manifests deleted so far (recorded in the journal): run the same command again to delete the rest",
                crate::interrupt::stopped_by()
            )),
            exit::FAILURES => match failed_verify.into_inner().expect("report lock") {
                // What the target lost since the verify step is copied again (deep) by the next
                // run, whose own fresh verify then decides.
                Some(report) => match self.reopen_gaps(&report)? {
                    0 => StepEnd::Failed(
                        "nothing was deleted: its fresh verify found gaps (listed above) in repositories this journal does not record as copied: run the copy step (apply without --step), then this step again".into(),
                    ),
                    reopened => StepEnd::Failed(format!(
                        "nothing was deleted: its fresh verify found gaps (listed above); run the same command again: {} will be copied again first{}",
                        counted(reopened, "repository", "repositories"),
                        super::verify::damaged_blob_remedy(&report)
                            .map(|r| format!("; {r}"))
                            .unwrap_or_default()
                    )),
                },
                None if deletion_refused.into_inner().expect("refusal lock").is_some() => {
                    StepEnd::Failed(
                        "the source registry does not allow deletion (said above): nothing was verified or deleted; allow it, then run the same command again".into(),
                    )
                }
                None => StepEnd::Failed(
                    "the source was not deleted in full: deletions failed (listed above); run the same command again once fixed".into(),
                ),
            },
            // Everything the scope selects is gone: deleted by an earlier run of this step that
            // stopped before recording its end.
            exit::NOTHING_SELECTED if deleted > 0 => StepEnd::Done(format!(
                "nothing left to delete: {deleted} source manifests deleted in all (recorded in the journal)"
            )),
            exit::NOTHING_SELECTED => StepEnd::Failed(
                "the plan's [scope] selects nothing in the source now (warned above): nothing deleted".into(),
            ),
            code => StepEnd::Failed(format!("the source was not deleted (exit {code}, see above)")),
        })
    }
}

/// The files the rewrite step would refuse to write (read-only, in a read-only directory,
/// hard-linked unless `in_place_hard_links`), each named, then what to do, naming the key of
/// the `[rewrite]` section of `config` (the relocation config) that writes hard-linked files in
/// place; `None` when every changed file can be written. Shared with `plan`, which shows it.
pub fn rewrite_refusal(
    plan: &acr_rewrite::Plan,
    in_place_hard_links: bool,
    config: &str,
) -> Option<String> {
    let refused = plan.refusals(acr_rewrite::WriteOptions {
        in_place_hard_links,
    });
    if refused.is_empty() {
        return None;
    }
    let files: Vec<String> = refused.iter().map(ToString::to_string).collect();
    Some(format!(
        "{}; {}",
        files.join("; "),
        super::rewrite::refusal_remedy(
            &refused,
            &format!("set `in_place_hard_links = true` under [rewrite] in {config}, plan again and apply with --replan to write hard-linked files in place"),
            "run apply again"
        )
    ))
}

/// The options of the template rewrite a plan's `template` step gives (as the `template`
/// command's flags); `None` for another step.
pub fn template_options(kind: &StepKind) -> Option<acr_template::RewriteOptions> {
    let StepKind::Template {
        name,
        location,
        subnets,
        replications,
        drop_replications,
        key_uri,
        identity,
        only,
        private_endpoint_subnet,
        private_dns_zone,
        ..
    } = kind
    else {
        return None;
    };
    Some(acr_template::RewriteOptions {
        name: name.clone(),
        location: location.clone(),
        subnets: subnets.clone(),
        add_replications: replications.clone(),
        drop_replications: drop_replications.clone(),
        key_uri: key_uri.clone(),
        identity: identity.clone(),
        only: only.clone(),
        private_endpoint_subnet: private_endpoint_subnet.clone(),
        private_dns_zone: private_dns_zone.clone(),
    })
}

/// Reads and rewrites an exported template (shared with `plan`, which shows the findings).
///
/// Run from a plan, a customer-managed key that stays the source's (`cmk-key-from-source`, no
/// `key_uri`) is blocking: the key can only be set when the registry is created, so a deployment
/// with the old region's key is not put right without recreating the registry. The fix names the
/// `[template]` key of `config` (the relocation config) to set.
pub fn rewrite_template(
    input: &Path,
    parameters: Option<&Path>,
    options: &acr_template::RewriteOptions,
    config: &Path,
) -> anyhow::Result<acr_template::Rewritten> {
    let bytes = std::fs::read(input).with_context(|| format!("template {}", input.display()))?;
    let mut template =
        acr_template::TemplateInput::from_bytes(&input.display().to_string(), &bytes)?;
    if let Some(p) = parameters {
        let text =
            std::fs::read_to_string(p).with_context(|| format!("parameters {}", p.display()))?;
        template = template.with_parameters(p.display().to_string(), text);
    }
    let mut rewritten = acr_template::rewrite_template(&template, options)?;
    if options.key_uri.is_none() {
        for f in rewritten
            .findings
            .iter_mut()
            .filter(|f| f.rule_id == acr_template::rules::CMK_KEY_FROM_SOURCE)
        {
            f.severity = acr_template::Severity::Blocking;
            f.fix = format!(
                "set key_uri (and identity) under [template] in {} to the target region's key and plan again: the key can only be set when the registry is created",
                config.display()
            );
        }
        // Blocking first, as the rewriter orders them.
        rewritten
            .findings
            .sort_by_key(|f| f.severity != acr_template::Severity::Blocking);
    }
    Ok(rewritten)
}

fn template(
    input: &Path,
    parameters: Option<&Path>,
    options: &acr_template::RewriteOptions,
    output: &Path,
    config: &Path,
) -> anyhow::Result<StepEnd> {
    let rewritten = rewrite_template(input, parameters, options, config)?;
    let blocking: Vec<String> = rewritten
        .findings
        .iter()
        .filter(|f| f.severity == acr_template::Severity::Blocking)
        .map(|f| {
            format!(
                "{}: {}",
                f.rule_id,
                acr_relocate::log::printable(&f.message)
            )
        })
        .collect();
    if !blocking.is_empty() {
        return Ok(StepEnd::Failed(format!(
            "blocking findings, nothing written: {}",
            blocking.join("; ")
        )));
    }
    super::plan::write_atomically(output, rewritten.template.as_bytes())
        .with_context(|| format!("[template] output {}", output.display()))?;
    if let Some(p) = &rewritten.parameters {
        let path = super::plan::template_parameters_output(output);
        super::plan::write_atomically(&path, p.as_bytes())
            .with_context(|| format!("the parameters of [template] output {}", path.display()))?;
    }
    Ok(StepEnd::Done(format!(
        "wrote {} ({} findings, none blocking)",
        output.display(),
        rewritten.findings.len()
    )))
}

/// Progress of a step over repositories, with the bytes the copy moves.
struct StepProgress {
    bar: Option<indicatif::ProgressBar>,
    total: u64,
    done: AtomicU64,
    bytes: AtomicU64,
    quiet: bool,
}

impl StepProgress {
    fn new(total: u64, quiet: bool) -> Arc<Self> {
        let bar = (!quiet && args::stderr_is_terminal()).then(|| {
            let bar = indicatif::ProgressBar::new(total);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "copy [{bar:30}] {pos}/{len} repositories {msg} {elapsed}",
                )
                .expect("template")
                .progress_chars("=> "),
            );
            bar
        });
        Arc::new(StepProgress {
            bar,
            total,
            done: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            quiet,
        })
    }

    fn repositories(&self, n: u64) {
        let done = self.done.fetch_add(n, Ordering::Relaxed) + n;
        match &self.bar {
            Some(bar) => bar.set_position(done),
            None if !self.quiet => eprintln!(
                "copy: {done}/{} repositories, {}",
                self.total,
                human_bytes(self.bytes.load(Ordering::Relaxed))
            ),
            None => {}
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl Progress for StepProgress {
    fn bytes(&self, n: u64) {
        let total = self.bytes.fetch_add(n, Ordering::Relaxed) + n;
        if let Some(bar) = &self.bar {
            bar.set_message(human_bytes(total));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use acr_relocate::error::{Error, Mend};

    fn unreachable(reason: &str, mid_run: bool, mend: Mend) -> Error {
        Error::Unreachable {
            side: "TARGET".into(),
            host: "reg.io:5000".into(),
            reason: reason.into(),
            mid_run,
            mend,
        }
    }

    #[test]
    fn what_a_rerun_cannot_change_is_told_apart_from_what_it_can() {
        let target = |e: Error| side_blocked(&anyhow::Error::new(e).context("the plan's target"));
        assert_eq!(
            target(unreachable(
                "the registry answers plain HTTP, not HTTPS: write `http://reg.io:5000`",
                false,
                Mend::Endpoint
            )),
            Some(SideBlocked {
                key: "[target]",
                endpoint: true
            })
        );
        assert_eq!(
            target(unreachable(
                "its TLS certificate is not trusted (UnknownIssuer): pass --dst-ca-cert FILE …",
                false,
                Mend::TlsOptions
            )),
            Some(SideBlocked {
                key: "[target]",
                endpoint: false
            })
        );
        let refused = Error::Auth {
            registry: "SOURCE reg.io".into(),
            source_tried: "--src-creds".into(),
            reason: "HTTP 401".into(),
        };
        assert_eq!(
            side_blocked(&anyhow::Error::new(refused).context("the plan's source")),
            Some(SideBlocked {
                key: "[source]",
                endpoint: false
            })
        );
        // A registry not started yet, or one that stopped answering: the same command may pass.
        assert_eq!(
            target(unreachable(
                "connection refused: nothing listens on reg.io:5000",
                false,
                Mend::Elsewhere
            )),
            None
        );
        assert_eq!(
            target(unreachable(
                "unreachable since 10:00",
                true,
                Mend::Elsewhere
            )),
            None
        );
        // An error that is not about opening a side of the plan.
        let elsewhere = anyhow::Error::new(unreachable(
            "the registry answers plain HTTP, not HTTPS",
            false,
            Mend::Endpoint,
        ))
        .context("[rewrite] check_against");
        assert_eq!(side_blocked(&elsewhere), None);
    }
}
