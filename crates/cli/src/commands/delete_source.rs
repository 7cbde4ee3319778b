//! `acr-relocate delete-source SOURCE --verified-against TARGET --confirm SOURCE`: removes the
//! source's manifests and tags once a fresh deep verify proves the target holds them.
//!
//! The guard, in order (nothing is deleted unless every step passes):
//! 1. `--confirm` repeats SOURCE exactly as given on the command line (exit 2 otherwise; not needed
//!    with `--dry-run`);
//! 2. TARGET is not SOURCE under another spelling (`127.0.0.1` and `localhost`, a default port
//!    written out, a name that resolves to this machine on the same port: see
//!    [`endpoint::same_registry`]), unless their repository prefixes are disjoint (exit 2);
//! 3. a deep verify of the same selection (same `--repo`, `--exclude-repo`, `--tag`, `--shard`)
//!    against TARGET passes in this run (exit 1 otherwise, with the verify report), reading the
//!    content of every blob it reaches in TARGET and checking it against its digest (`verify
//!    --deep --content`) unless `--skip-content-check`;
//! 4. just before a repository's deletions, each selected source tag still points at the digest
//!    the target's tag holds (content pushed to the source after the verify is left alone).
//!
//! Deletion is by manifest digest (`DELETE /v2/<name>/manifests/<digest>`), which removes every
//! tag pointing at it and nothing else. What must stay is worked out per repository by
//! [`retain`]: a manifest that something staying needs (a platform of an index tagged outside the
//! selection, the image a kept signature or SBOM describes) is kept and listed with the reason;
//! the referrers, referrers index and selected signature tags of a deleted manifest go with it
//! (referrers only when the target holds them), before it. Index children and blobs are left to
//! the registry's garbage collection.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use acr_relocate::copy::Interrupt;
use acr_relocate::digest::Digest;
use acr_relocate::endpoint::{self, Endpoint, RegistryEndpoint};
use acr_relocate::relocation::scope::Scoped;
use acr_relocate::retain;
use acr_relocate::transport::registry::Registry;
use acr_relocate::transport::{self, Access, Source, Store};
use acr_relocate::verify::{self, VerifyOptions};
use acr_relocate::walk::{self, Matcher};
use anyhow::bail;
use serde::Serialize;

use crate::args::{self, ConnectArgs, FilterArgs, Side};
use crate::exit;

/// Arguments of `acr-relocate delete-source`.
#[derive(clap::Args, Debug)]
#[command(after_long_help = GUARD)]
pub struct DeleteSourceArgs {
    /// The registry to delete from: `HOST[:PORT][/PREFIX]` (HTTPS) or `http://HOST[:PORT][/PREFIX]`,
    /// as for `copy` (an OCI layout or archive is refused: remove it yourself once verified).
    pub source: String,
    /// Where the content went, in the forms of `copy`'s TARGET (`oci:DIR`, `oci-archive:FILE` too): a deep verify of
    /// the selection against it must pass in this run.
    #[arg(long, value_name = "TARGET")]
    pub verified_against: String,
    /// SOURCE repeated exactly as written; required unless --dry-run.
    #[arg(long, value_name = "SOURCE")]
    pub confirm: Option<String>,
    #[command(flatten)]
    pub filters: FilterArgs,
    #[command(flatten)]
    pub renames: crate::args::MapArgs,
    #[command(flatten)]
    pub connect: ConnectArgs,
    #[command(flatten)]
    pub jobs: args::JobsArgs,
    /// Trust the target's storage: the fresh deep verify only checks that every blob exists with
    /// its size, without reading it and checking it against its digest.
    #[arg(long)]
    pub skip_content_check: bool,
    /// Verify, then list what would be deleted and what kept; delete nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// The outcome as JSON on stdout, one document at the end (with -v, each manifest's line is
    /// said on stderr as it is done).
    #[arg(long)]
    pub json: bool,
}

const GUARD: &str = "\
Nothing is deleted unless:
  1. --confirm repeats SOURCE exactly as written (exit 2 otherwise; not needed with --dry-run);
  2. --verified-against is not SOURCE spelled another way (127.0.0.1, localhost, ::1, a default
     port written out, a name of this machine on the same port), unless their prefixes are
     disjoint (exit 2 otherwise);
  3. a deep verify of the same selection against --verified-against passes now (exit 1
     otherwise), reading every blob it reaches there and checking its bytes against its digest
     (--skip-content-check trusts the target's storage: existence and size only);
  4. each selected source tag still points, when its repository is deleted from, at the digest
     the target's tag holds.

Manifests are deleted by digest, which removes every tag pointing at them. What stays keeps what
it needs, listed as kept with the reason: a digest that a tag left out by --tag also names; a
platform of an index that stays; the image that a signature or SBOM left out describes. The
referrers (signatures, SBOMs) of a deleted manifest, its `sha256-<hex>` referrers index and its
selected `sha256-<hex>.sig` tags are deleted with it, referrers only when the target holds them.
Index children and blobs are left to the registry's garbage collection (for Distribution:
`registry garbage-collect`; ACR: untagged manifest retention). OCI layouts are not deleted from:
remove the directory once verified.

Exit codes: 0 done; 1 the verify found gaps, or deletions failed (each listed); 2 usage, input or
connection error, nothing deleted; 3 a registry stopped answering (run the same command again); 4
--repo/--tag selected nothing, nothing deleted; 130 interrupted by Ctrl-C, 143 by SIGTERM, 129 by
SIGHUP (what was deleted is listed; the same command deletes the rest after a fresh verify).

Output: the verify's report as soon as it passes, then each manifest's line (deleted, kept,
failed) as it is done, so that even a run killed outright leaves a record of what it deleted;
with --json, stdout is one JSON document written at the end, and -v says each line on stderr as
it is done.";

/// One manifest to delete (or kept, with the reason).
#[derive(Clone, Debug, Serialize)]
pub struct Deletion {
    /// Repository in the source (full name).
    pub repository: String,
    /// The manifest digest.
    pub digest: String,
    /// The selected tags pointing at it.
    pub tags: Vec<String>,
    /// `deleted`, `would delete`, `kept` or `failed`.
    pub outcome: String,
    /// Why it was kept or failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// For a referrer, a referrers index (`sha256-<hex>` tag) or a signature tag: the manifest it
    /// describes, which it goes with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub describes: Option<String>,
}

/// What `delete-source` did.
#[derive(Debug, Default, Serialize)]
pub struct Outcome {
    /// True when nothing was deleted on purpose.
    pub dry_run: bool,
    /// The verify that allowed it.
    pub verify: Option<verify::Report>,
    /// Every manifest considered.
    pub manifests: Vec<Deletion>,
    /// Manifests deleted (or that would be).
    pub deleted: u64,
    /// Manifests kept (changed since the verify, or needed by what stays).
    pub kept: u64,
    /// Deletions that failed.
    pub failed: u64,
    /// True when Ctrl-C stopped the run: no deletion started after it; the rest is untouched.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub interrupted: bool,
}

/// Told of each manifest deleted; an error stops the deletion.
pub type OnDeleted<'a> = &'a dyn Fn(&Deletion) -> anyhow::Result<()>;

/// Told of each line of the outcome as it is added (to print it at once).
type Tell<'a> = &'a dyn Fn(&Deletion);

impl Outcome {
    /// Adds `d` to the manifests, told to `tell` first.
    fn listed(&mut self, tell: Tell<'_>, d: Deletion) {
        tell(&d);
        self.manifests.push(d);
    }
}

/// How a caller drives the deletion: when to stop, what to hear of each manifest deleted, and
/// whether to print.
#[derive(Default)]
pub struct Control<'a> {
    /// Once triggered, no further deletion starts (a request in flight finishes) and the verify
    /// before them stops.
    pub interrupt: Interrupt,
    /// Told of each manifest deleted, before the next deletion starts; an error stops the run.
    pub on_deleted: Option<OnDeleted<'a>>,
    /// Told of each manifest about to be deleted, before its request is sent (a run killed
    /// while the request is in flight leaves a record of it); an error stops the run.
    pub before_delete: Option<OnDeleted<'a>>,
    /// Given the fresh verify's report when it finds gaps (nothing is deleted then), for a
    /// caller that can have them copied again.
    pub failed_verify: Option<&'a std::sync::Mutex<Option<verify::Report>>>,
    /// Given the reason when the source refuses deletions altogether (nothing is verified or
    /// deleted then), for a caller that sums the run up in its own words.
    pub deletion_refused: Option<&'a std::sync::Mutex<Option<String>>>,
    /// Print nothing but errors.
    pub quiet: bool,
    /// The verify's and the deletions' lines go to stderr: stdout is the caller's (`apply`
    /// writes its summary there, JSON with `--json`).
    pub report_on_stderr: bool,
    /// The only source repositories (full names) verified and deleted, whatever else the
    /// scope would select now: a plan's, when `apply` runs the step (a repository pushed to the
    /// source after the plan was reviewed is not the plan's to delete).
    pub repositories: Option<&'a [String]>,
}

impl Control<'_> {
    fn interrupted(&self) -> bool {
        self.interrupt.is_triggered()
    }
}

/// Runs `acr-relocate delete-source`; Ctrl-C (SIGINT), SIGTERM or SIGHUP stops it before the
/// next deletion (exit 130, 143 or 129).
pub fn run(args: DeleteSourceArgs) -> anyhow::Result<u8> {
    crate::runtime()?.block_on(async {
        let control = Control::default();
        let interrupt = control.interrupt.clone();
        crate::interrupt::watch(
            "delete-source",
            "stopping: no further deletion starts, the deletions done are listed",
            move || interrupt.trigger(),
        );
        let code = run_controlled(args, &control).await?;
        Ok(crate::interrupt::exit_code(code))
    })
}

/// The guarded deletion, driven by `control` (also the `delete_source` step of `apply`).
pub async fn run_controlled(args: DeleteSourceArgs, control: &Control<'_>) -> anyhow::Result<u8> {
    args.jobs.check()?;
    let source_ep = args::endpoint(&args.source, "SOURCE")?;
    let target_ep = args::endpoint(&args.verified_against, "--verified-against")?;
    let Endpoint::Registry(source_registry) = &source_ep else {
        let (what, it) = match source_ep {
            Endpoint::Archive(_) => ("an OCI archive", "the file"),
            _ => ("an OCI layout", "the directory"),
        };
        bail!("SOURCE `{}` is {what}: delete-source only deletes from registries (remove {it} yourself once `verify --deep` passes)", args.source);
    };
    match (&args.confirm, args.dry_run) {
        (Some(c), _) if c == &args.source => {}
        (Some(c), _) => {
            // A confirmation with credentials in it is shown without them.
            let shown = acr_relocate::endpoint::hide_user_info(c);
            eprintln!(
                "error: --confirm `{shown}` does not repeat SOURCE `{}` exactly: nothing deleted",
                args.source
            );
            return Ok(exit::ERROR);
        }
        (None, true) => {}
        (None, false) => {
            eprintln!(
                "error: deleting needs --confirm {} (SOURCE repeated exactly): nothing deleted",
                args.source
            );
            return Ok(exit::ERROR);
        }
    }
    if let Endpoint::Registry(t) = &target_ep {
        refuse_same_registry(source_registry, t, &args.source, &args.verified_against).await?;
    }
    // A caller's own list of repositories (a plan's, from `apply`) already leaves out those
    // the repository exclusions name: they are never listed, so they are not excluded again
    // (the exclusion would be warned about as matching nothing). The tag exclusions still
    // apply, and only the listed repositories are verified and deleted from.
    let matcher = match control.repositories {
        Some(_) => FilterArgs {
            exclude_repos: Vec::new(),
            ..args.filters.clone()
        },
        None => args.filters.clone(),
    }
    .matcher(&source_ep, Some(&target_ep), args.renames.renames()?)?;
    args.connect
        .warn_unmatched_insecure("delete-source", &[&source_ep, &target_ep]);
    {
        let registry = Arc::new(
            Registry::connect(source_registry, &args.connect.options(Side::Source)?).await?,
        );
        let source: Arc<dyn Store> = match control.repositories {
            Some(names) => Scoped::store(registry.clone(), names.to_vec()),
            None => registry.clone(),
        };
        if !args.dry_run {
            if let Some(refusal) = deletion_refused(&registry, source.as_ref(), &matcher).await {
                eprintln!("delete-source: {refusal}");
                if let Some(slot) = control.deletion_refused {
                    *slot.lock().expect("refusal lock") = Some(refusal);
                }
                return Ok(exit::FAILURES);
            }
        }
        let verified = tokio::select! {
            verified = deep_verify_against(
                source,
                &target_ep,
                &args.connect,
                matcher.clone(),
                args.jobs,
                !args.skip_content_check,
            ) => verified?,
            _ = control.interrupt.clone().wait() => {
                eprintln!("delete-source: interrupted during the verify: nothing deleted");
                return Ok(exit::INTERRUPTED);
            }
        };
        let (target, report) = verified;
        if !report.passed() {
            if let Some(keep) = control.failed_verify {
                *keep.lock().expect("report lock") = Some(report.clone());
            }
            let listed = if args.json {
                "listed in the JSON output"
            } else if control.quiet {
                // The gaps explain the failure: listed even under -q (a few, then a count).
                eprint!("{}", gap_lines(&report, GAPS_LISTED_QUIET));
                "listed above"
            } else {
                say(
                    control.report_on_stderr,
                    &super::verify::text_advising_copy(&report),
                );
                "see the verify above"
            };
            if args.json {
                print_verify_only(args.dry_run, report)?;
            }
            eprintln!(
                "delete-source: the target does not hold everything selected ({listed}): nothing deleted"
            );
            return Ok(exit::FAILURES);
        }
        // A tag exclusion that matches a part of a tag and no whole tag was surely meant to
        // leave that tag out: deleting it would delete what it was meant to keep (in the target
        // all the same). Refused, whatever else was selected; other exclusions that left
        // nothing out are warned about below.
        let unmatched: Vec<_> = matcher
            .unmatched_exclusions()
            .into_iter()
            .filter(|u| u.part_of.is_some())
            .collect();
        if !unmatched.is_empty() {
            let named: Vec<String> = unmatched
                .iter()
                .map(|u| format!("{}{}", u.as_flag(), u.whole_tag_hint()))
                .collect();
            eprintln!(
                "delete-source: {} left nothing out: what it was meant to keep would be deleted; check its spelling (or leave it out), then run again; nothing deleted; exit code {}",
                named.join(" and "),
                exit::NOTHING_SELECTED
            );
            if args.json {
                print_verify_only(args.dry_run, report)?;
            }
            return Ok(exit::NOTHING_SELECTED);
        }
        if let Some(code) = args.filters.nothing_selected(
            "delete-source",
            &source_ep,
            &matcher,
            report.tags,
            report.untagged_checked,
        ) {
            if args.json {
                print_verify_only(args.dry_run, report)?;
            }
            return Ok(code);
        }
        // Said as soon as it is known, before anything is deleted: a run killed outright later
        // has said what allowed the deletions, and (below) each one done.
        if !args.json && !control.quiet {
            say(control.report_on_stderr, &super::verify::text(&report));
        }
        let tell = |d: &Deletion| {
            if args.json {
                // Stdout is the one JSON document, written at the end; each line on stderr
                // at -v.
                if acr_relocate::log::enabled(1) {
                    eprintln!("{}", describe(d));
                }
            } else if !control.quiet {
                say(control.report_on_stderr, &format!("{}\n", describe(d)));
            } else if d.outcome == "failed" {
                // Failed deletions explain the failure: listed even under -q.
                eprintln!("{}", describe(d));
            }
        };
        let mut outcome = delete(
            &registry,
            &target,
            &matcher,
            args.jobs.jobs,
            args.dry_run,
            control,
            &tell,
        )
        .await?;
        outcome.verify = Some(report);
        if args.json {
            println!("{}", serde_json::to_string_pretty(&outcome)?);
        } else if !control.quiet {
            print_outcome(&outcome, control.report_on_stderr);
        }
        Ok(if outcome.interrupted {
            exit::INTERRUPTED
        } else if outcome.failed == 0 {
            exit::SUCCESS
        } else {
            exit::FAILURES
        })
    }
}

/// Under `-q`, the gaps of a failed verify listed before the rest are only counted.
pub(crate) const GAPS_LISTED_QUIET: usize = 20;

/// The gaps of a failed verify (missing, different, unsupported, broken in the source or in
/// the target, errors), one a line as `verify`
/// prints them, the first `limit` of them, then how many more and how to see them all.
pub(crate) fn gap_lines(report: &verify::Report, limit: usize) -> String {
    let mut gaps = Vec::new();
    for (label, list) in [
        ("missing", &report.missing),
        ("different", &report.different),
        ("unsupported", &report.unsupported),
        ("broken in the source", &report.broken_in_source),
        ("broken", &report.broken),
        ("error", &report.errors),
    ] {
        gaps.extend(
            list.iter()
                .map(|p| format!("{label} {}: {}\n", p.item, p.reason)),
        );
    }
    let mut out: String = gaps.iter().take(limit).map(String::as_str).collect();
    if gaps.len() > limit {
        out.push_str(&format!(
            "... and {} more (run without -q to list them all)\n",
            gaps.len() - limit
        ));
    }
    out
}

/// Refuses a target that may be the source itself under another spelling (`127.0.0.1` and
/// `localhost`, a default port written out, an alias of this machine): a registry verified
/// against itself proves nothing. Disjoint prefixes of one registry are two sets of repositories.
async fn refuse_same_registry(
    source: &RegistryEndpoint,
    target: &RegistryEndpoint,
    source_text: &str,
    target_text: &str,
) -> anyhow::Result<()> {
    if !source.prefixes_overlap(target) {
        return Ok(());
    }
    let Some(why) = endpoint::same_registry(source, target).await else {
        return Ok(());
    };
    let hint = if source.host.eq_ignore_ascii_case(&target.host) {
        ""
    } else {
        "; if they really are two registries (virtual hosts behind one address or tunnel), reach the source under an address or port of its own"
    };
    bail!("SOURCE `{source_text}` and --verified-against `{target_text}` name the same repositories of one registry ({why}): a registry verified against itself proves nothing; nothing deleted{hint}")
}

/// Opens `target` for reading and runs the check every deletion must pass first: a deep verify of
/// the `matcher` selection of `source`, untagged manifests included, against it, reading every
/// blob's content when `content`. Returns the opened target with the report.
pub(crate) async fn deep_verify_against(
    source: Arc<dyn Store>,
    target: &Endpoint,
    connect: &ConnectArgs,
    matcher: Matcher,
    jobs: args::JobsArgs,
    content: bool,
) -> anyhow::Result<(Arc<dyn Store>, verify::Report)> {
    let target = transport::open(target, Access::Read, &connect.options(Side::Target)?).await?;
    let report = verify::verify(
        source,
        target.clone(),
        &VerifyOptions {
            matcher,
            deep: true,
            jobs: jobs.jobs,
            max_jobs: jobs.max_jobs,
            untagged: true,
            nondistributable: false,
            content,
        },
    )
    .await?;
    Ok((target, report))
}

/// Why deleting from the source will not work, said for a DELETE of `what` answered 405
/// UNSUPPORTED.
fn deletion_disabled(what: &str) -> String {
    format!(
        "the source registry does not allow deleting manifests (HTTP 405 UNSUPPORTED for {what}): enable deletion in its configuration (Distribution: storage.delete.enabled: true), then run again"
    )
}

/// Asks the source, before the long verify, whether it lets manifests be deleted at all: one
/// DELETE of a manifest no registry holds (the sha256 of 64 zeros) in the first selected
/// repository. Deletion turned off answers 405 UNSUPPORTED (Distribution checks that before
/// looking for the manifest), a read-only registry 405 without a code: the reason, so that the
/// run stops at once instead of after reading the whole target. Any other answer (404: deletion
/// works; an error the deletions themselves will meet and report) lets the run go on.
async fn deletion_refused(
    registry: &Registry,
    source: &dyn Source,
    matcher: &Matcher,
) -> Option<String> {
    let pairs = walk::repositories(source, matcher).await.ok()?;
    let first = pairs.first()?;
    let nothing: Digest = format!("sha256:{}", "0".repeat(64)).parse().ok()?;
    match registry.delete_manifest(&first.source, &nothing).await {
        Err(acr_relocate::error::Error::Status {
            status: 405, code, ..
        }) => Some(match code.as_deref() {
            Some("UNSUPPORTED") => format!(
                "{}; nothing verified or deleted",
                deletion_disabled(&format!("a probe of {}", first.source))
            ),
            Some(_) => return None,
            None => "the source registry takes no DELETE (HTTP 405 without an error code: read-only, in maintenance mode?): make it writable, then run again; nothing verified or deleted".to_string(),
        }),
        _ => None,
    }
}

/// Lists the selected repositories, works out per repository what may go and what must stay
/// ([`retain`]), and deletes what may go, what describes a manifest before the manifest. Each
/// manifest's outcome is told to `tell` as it is known (a deletion once its request is
/// answered), before the next request.
async fn delete(
    registry: &Arc<Registry>,
    target: &Arc<dyn Store>,
    matcher: &Matcher,
    jobs: usize,
    dry_run: bool,
    control: &Control<'_>,
    tell: Tell<'_>,
) -> anyhow::Result<Outcome> {
    let source: Arc<dyn Source> = registry.clone();
    let mut pairs = walk::repositories(source.as_ref(), matcher).await?;
    if let Some(names) = control.repositories {
        pairs.retain(|pair| names.contains(&pair.source));
    }
    let mut outcome = Outcome {
        dry_run,
        ..Default::default()
    };
    // Listing and surveying read every tag of a repository, minutes for a large one: an
    // interrupt stops them at once (nothing is deleted before both are done).
    let listed = tokio::select! {
        listed = walk::tags(source.clone(), matcher, pairs, jobs) => listed,
        _ = control.interrupt.clone().wait() => {
            outcome.interrupted = true;
            return Ok(outcome);
        }
    };
    // The tags each repository had when it was read, and those this run deleted: a tag listed
    // afterwards that is neither kept nor known was pushed (or pushed again) meanwhile.
    let mut read: Vec<TagsRead> = Vec::new();
    'repositories: for (pair, tags) in listed {
        // A name that is no valid tag stops the deletion (only a copy goes on without it).
        let tags = tags.and_then(walk::TagList::strict)?;
        read.push(TagsRead {
            repository: pair.source.clone(),
            listed: tags.iter().cloned().collect(),
            deleted: Default::default(),
            gone: Default::default(),
        });
        if tags.is_empty() {
            continue;
        }
        if control.interrupted() {
            outcome.interrupted = true;
            break;
        }
        let survey = tokio::select! {
            survey = retain::survey(source.clone(), target.clone(), &pair, matcher, jobs) => survey,
            _ = control.interrupt.clone().wait() => {
                outcome.interrupted = true;
                break 'repositories;
            }
        };
        let (decisions, surveyed) = match survey {
            Ok(repo) => (
                retain::decide(&repo),
                repo.tags
                    .iter()
                    .map(|(name, tag)| (name.clone(), tag.digest.clone()))
                    .collect::<BTreeMap<String, Digest>>(),
            ),
            Err(e) => {
                outcome.failed += 1;
                outcome.listed(
                    tell,
                    Deletion {
                        repository: pair.source.clone(),
                        digest: String::new(),
                        tags,
                        outcome: "failed".into(),
                        reason: Some(format!(
                        "cannot tell what must stay in this repository ({e}): nothing deleted there"
                    )),
                        describes: None,
                    },
                );
                continue;
            }
        };
        // A manifest whose referrer (or signature) could not be deleted stays with it.
        let mut blocked: BTreeMap<Digest, String> = BTreeMap::new();
        // Tags pushed to (or moved in, or gone from) the repository since it was surveyed: a
        // DELETE by digest would take one pointing at a manifest still to delete, never
        // verified, with it. Listed again before each deletion; once one shows, the rest of the
        // repository stays.
        let mut changed: Option<String> = None;
        for decision in decisions {
            if control.interrupted() {
                outcome.interrupted = true;
                break 'repositories;
            }
            let mut deletion = Deletion {
                repository: pair.source.clone(),
                digest: decision.digest.to_string(),
                tags: decision.tags.clone(),
                outcome: "would delete".into(),
                reason: decision.kept.clone(),
                describes: decision.describes.as_ref().map(|d| d.to_string()),
            };
            if changed.is_none() && decision.kept.is_none() && !dry_run {
                let tags_read = read.last_mut().expect("pushed above");
                changed = match changed_since_survey(source.as_ref(), &pair.source, &surveyed, &tags_read.deleted)
                    .await
                {
                    Ok(changes) => {
                        if !changes.vanished.is_empty() {
                            tags_read.gone.extend(changes.vanished.iter().cloned());
                            outcome.failed += 1;
                            outcome.listed(tell, vanished_tags(&pair.source, changes.vanished.clone()));
                        }
                        changes.refusal(&pair.source)
                    }
                    Err(e) => Some(format!(
                        "not deleted: the tags of {} could not be listed again before deleting ({e}); run again",
                        pair.source
                    )),
                };
            }
            let mut unsupported = false;
            if let Some(why) = blocked.get(&decision.digest) {
                deletion.outcome = "kept".into();
                deletion.reason = Some(why.clone());
            } else if decision.kept.is_some() {
                // Kept for its own reason, said as it is.
                deletion.outcome = "kept".into();
            } else if let Some(why) = &changed {
                deletion.outcome = "kept".into();
                deletion.reason = Some(why.clone());
            } else if !dry_run {
                if let Some(told) = control.before_delete {
                    told(&deletion)?;
                }
                match registry
                    .delete_manifest(&pair.source, &decision.digest)
                    .await
                {
                    Ok(()) => deletion.outcome = "deleted".into(),
                    // Deletion turned off in the registry (Distribution answers 405
                    // UNSUPPORTED): every other request would get the same answer. A 405 with
                    // another code (ACR's lock on one image) is that manifest's alone.
                    Err(acr_relocate::error::Error::Status {
                        status: 405,
                        code: Some(code),
                        ..
                    }) if code == "UNSUPPORTED" => {
                        deletion.outcome = "failed".into();
                        deletion.reason = Some(format!(
                            "{}; nothing else was tried",
                            deletion_disabled(&format!("{}@{}", pair.source, decision.digest))
                        ));
                        unsupported = true;
                    }
                    Err(e) => {
                        deletion.outcome = "failed".into();
                        deletion.reason = Some(e.to_string());
                    }
                }
            }
            if deletion.outcome == "failed" || blocked.contains_key(&decision.digest) {
                if let Some(subject) = &decision.describes {
                    blocked.entry(subject.clone()).or_insert_with(|| {
                        format!(
                            "not deleted: {}@{} that describes it could not be deleted",
                            pair.source, decision.digest
                        )
                    });
                }
            }
            match deletion.outcome.as_str() {
                "kept" => outcome.kept += 1,
                "failed" => outcome.failed += 1,
                _ => outcome.deleted += 1,
            }
            if deletion.outcome == "deleted" {
                if let Some(tags_read) = read.last_mut() {
                    tags_read.deleted.extend(deletion.tags.iter().cloned());
                }
            }
            if let (Some(told), "deleted") = (control.on_deleted, deletion.outcome.as_str()) {
                told(&deletion)?;
            }
            outcome.listed(tell, deletion);
            if unsupported {
                break 'repositories;
            }
        }
    }
    if !dry_run {
        list_tags_pushed_meanwhile(source.as_ref(), matcher, &read, &mut outcome, tell).await;
    }
    Ok(outcome)
}

/// How a repository's tags differ from its survey, listed again before a deletion.
#[derive(Default)]
struct Changes {
    /// Tags the survey did not list, or that this run deleted (pushed again): sorted.
    late: Vec<String>,
    /// Tags the survey listed that now name another manifest (seen only where the registry
    /// lists tags with their digests, as ACR does): sorted.
    moved: Vec<String>,
    /// Tags the survey listed that are gone though this run deleted none of their manifests:
    /// moved onto a manifest it deleted (a DELETE by digest takes every tag of the manifest
    /// along), or deleted by someone else. Sorted.
    vanished: Vec<String>,
}

impl Changes {
    /// Why the rest of `repository` must stay, if anything changed.
    fn refusal(&self, repository: &str) -> Option<String> {
        if !self.late.is_empty() {
            return Some(format!(
                "not deleted: {} pushed to {repository} since it was read (not verified); run again to verify and delete it",
                self.late.join(", ")
            ));
        }
        if !self.moved.is_empty() {
            return Some(format!(
                "not deleted: {} moved to another manifest of {repository} since it was read (not verified); run again to verify and delete it",
                self.moved.join(", ")
            ));
        }
        if !self.vanished.is_empty() {
            return Some(format!(
                "not deleted: tags of {repository} changed while this run deleted ({} gone); run again to verify and delete the rest",
                self.vanished.join(", ")
            ));
        }
        None
    }
}

/// The tags of `repository` now, against its survey (`surveyed`: name and digest) and the tags
/// this run deleted (`deleted`).
async fn changed_since_survey(
    source: &dyn Source,
    repository: &str,
    surveyed: &BTreeMap<String, Digest>,
    deleted: &BTreeSet<String>,
) -> acr_relocate::Result<Changes> {
    let listed = match source.tag_digests(repository).await {
        Ok(Some(with_digests)) => with_digests
            .into_iter()
            .map(|(name, digest)| (name, Some(digest)))
            .collect(),
        Ok(None) => match source.tags(repository).await {
            Ok(names) => names.into_iter().map(|name| (name, None)).collect(),
            // Gone with the manifests deleted so far (a registry that drops an empty
            // repository): no tag can have been pushed to it.
            Err(e) if e.is_not_found() => BTreeMap::new(),
            Err(e) => return Err(e),
        },
        Err(e) if e.is_not_found() => BTreeMap::new(),
        Err(e) => return Err(e),
    };
    let mut changes = Changes::default();
    for (name, digest) in &listed {
        match surveyed.get(name) {
            None => changes.late.push(name.clone()),
            Some(_) if deleted.contains(name) => changes.late.push(name.clone()),
            Some(before) if digest.as_ref().is_some_and(|now| now != before) => {
                changes.moved.push(name.clone())
            }
            Some(_) => {}
        }
    }
    changes.vanished = surveyed
        .keys()
        .filter(|name| !listed.contains_key(*name) && !deleted.contains(*name))
        .cloned()
        .collect();
    Ok(changes)
}

/// The failed line of `tags` that left `repository` while the run deleted, though none of their
/// manifests was deleted by it: each may have been moved onto one that was (and went with it),
/// so the target may hold an older manifest under that name than the source last had.
fn vanished_tags(repository: &str, tags: Vec<String>) -> Deletion {
    Deletion {
        repository: repository.to_string(),
        digest: String::new(),
        tags,
        outcome: "failed".into(),
        reason: Some("gone from the source during the run though their manifests were not deleted by it: moved onto a manifest this run deleted (which takes its tags along), or deleted by someone else; the target holds them as verified: if one was moved in the source, push that manifest to the target under it again".into()),
        describes: None,
    }
}

/// What a repository's tags were when `delete-source` read it, and which it deleted.
struct TagsRead {
    repository: String,
    listed: std::collections::BTreeSet<String>,
    deleted: std::collections::BTreeSet<String>,
    /// Tags already reported gone ([`vanished_tags`]).
    gone: std::collections::BTreeSet<String>,
}

/// Tags pushed to the source's repositories while the run read and deleted them (a new tag, or
/// a deleted one pushed again): never verified nor deleted, they are listed as kept, so that
/// nothing the target lacks stays in the source unsaid. A repository whose tags cannot be
/// listed again fails the run (exit 1): what it holds now is unknown.
async fn list_tags_pushed_meanwhile(
    source: &dyn Source,
    matcher: &Matcher,
    read: &[TagsRead],
    outcome: &mut Outcome,
    tell: Tell<'_>,
) {
    for tags_read in read {
        // After an interrupt, a repository this run deleted nothing in has nothing to report:
        // the next run reads it afresh (and a slow source would keep the stop waiting).
        if outcome.interrupted && tags_read.deleted.is_empty() {
            continue;
        }
        let now: BTreeSet<String> = match source.tags(&tags_read.repository).await {
            Ok(now) => now.into_iter().collect(),
            Err(e) if e.is_not_found() => BTreeSet::new(),
            Err(e) => {
                outcome.failed += 1;
                outcome.listed(tell, Deletion {
                    repository: tags_read.repository.clone(),
                    digest: String::new(),
                    tags: Vec::new(),
                    outcome: "failed".into(),
                    reason: Some(format!("its tags could not be listed again after the deletion ({e}): list them, and run again for any pushed meanwhile")),
                    describes: None,
                });
                continue;
            }
        };
        let late: Vec<String> = now
            .iter()
            .filter(|t| {
                matcher.tag(t)
                    && (!tags_read.listed.contains(*t)
                        || tags_read.deleted.contains(*t)
                        || tags_read.gone.contains(*t))
            })
            .cloned()
            .collect();
        if !late.is_empty() {
            outcome.kept += 1;
            outcome.listed(
                tell,
                Deletion {
                    repository: tags_read.repository.clone(),
                    digest: String::new(),
                    tags: late,
                    outcome: "kept".into(),
                    reason: Some(
                        "pushed to the source during the run: not verified, not deleted"
                            .to_string(),
                    ),
                    describes: None,
                },
            );
        }
        let vanished: Vec<String> = tags_read
            .listed
            .iter()
            .filter(|t| {
                !now.contains(*t) && !tags_read.deleted.contains(*t) && !tags_read.gone.contains(*t)
            })
            .cloned()
            .collect();
        if !vanished.is_empty() {
            outcome.failed += 1;
            outcome.listed(tell, vanished_tags(&tags_read.repository, vanished));
        }
    }
}

/// One manifest's line: `OUTCOME REPOSITORY@DIGEST (TAGS; describes SUBJECT): REASON`.
fn describe(d: &Deletion) -> String {
    let mut about: Vec<String> = Vec::new();
    if !d.tags.is_empty() {
        about.push(d.tags.join(", "));
    }
    if let Some(subject) = &d.describes {
        about.push(format!("describes {subject}"));
    }
    let what = match (d.digest.is_empty(), about.is_empty()) {
        (true, _) => format!("{} ({})", d.repository, d.tags.join(", ")),
        (false, true) => format!("{}@{}", d.repository, d.digest),
        (false, false) => format!("{}@{} ({})", d.repository, d.digest, about.join("; ")),
    };
    match &d.reason {
        Some(reason) => format!("{} {what}: {reason}", d.outcome),
        None => format!("{} {what}", d.outcome),
    }
}

/// The `--json` outcome of a run that stopped after its verify: the report, nothing deleted.
fn print_verify_only(dry_run: bool, report: verify::Report) -> anyhow::Result<()> {
    let outcome = Outcome {
        dry_run,
        verify: Some(report),
        ..Default::default()
    };
    println!("{}", serde_json::to_string_pretty(&outcome)?);
    Ok(())
}

/// The closing lines of a run (the verify and each manifest were said as they came).
fn print_outcome(o: &Outcome, on_stderr: bool) {
    let verb = if o.dry_run { "would delete" } else { "deleted" };
    if o.interrupted {
        eprintln!(
            "delete-source: interrupted: no deletion started after {}; what is listed above is all that was deleted: run the same command again to delete the rest",
            crate::interrupt::stopped_by()
        );
    }
    say(on_stderr, &format!(
        "delete-source: {verb} {} manifests, kept {}, {} failed; index children and blobs are left to the registry's garbage collection\n",
        o.deleted, o.kept, o.failed
    ));
}

/// Writes `text` on stdout, or on stderr when `on_stderr`.
fn say(on_stderr: bool, text: &str) {
    match on_stderr {
        true => eprint!("{text}"),
        false => print!("{text}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use acr_relocate::transport::layout::Layout;
    use acr_relocate::transport::Destination;

    /// A source that lists tags with their digests (a layout, as ACR's listing does) and its tags.
    async fn source_with_tags() -> (tempfile::TempDir, Layout, BTreeMap<String, Digest>) {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::create(&dir.path().join("layout")).unwrap();
        acr_relocate::sample::write(&layout, 1, 7).await.unwrap();
        layout.finish().await.unwrap();
        let repository = "team/app/svc-0";
        let tags = layout.tag_digests(repository).await.unwrap().unwrap();
        assert!(tags.len() >= 2, "{tags:?}");
        (dir, layout, tags.into_iter().collect())
    }

    #[tokio::test]
    async fn a_repository_as_surveyed_has_no_changes() {
        let (_dir, layout, surveyed) = source_with_tags().await;
        let changes = changed_since_survey(&layout, "team/app/svc-0", &surveyed, &BTreeSet::new())
            .await
            .unwrap();
        assert_eq!(changes.refusal("team/app/svc-0"), None);
    }

    #[tokio::test]
    async fn a_tag_that_names_another_manifest_than_surveyed_is_moved() {
        let (_dir, layout, mut surveyed) = source_with_tags().await;
        let (name, _) = surveyed
            .iter()
            .next()
            .map(|(n, d)| (n.clone(), d.clone()))
            .unwrap();
        let other = surveyed.values().find(|d| **d != surveyed[&name]).cloned();
        let other = other.unwrap_or_else(|| Digest::of(b"another manifest"));
        surveyed.insert(name.clone(), other);
        let changes = changed_since_survey(&layout, "team/app/svc-0", &surveyed, &BTreeSet::new())
            .await
            .unwrap();
        assert_eq!(changes.moved, vec![name.clone()]);
        assert!(changes.late.is_empty() && changes.vanished.is_empty());
        let refusal = changes.refusal("team/app/svc-0").unwrap();
        assert!(
            refusal.contains(&format!("{name} moved to another manifest")),
            "{refusal}"
        );
    }

    #[tokio::test]
    async fn new_deleted_then_pushed_again_and_gone_tags_are_told_apart() {
        let (_dir, layout, mut surveyed) = source_with_tags().await;
        let mut names = surveyed.keys().cloned();
        let (unknown, deleted_again) = (names.next().unwrap(), names.next().unwrap());
        surveyed.remove(&unknown);
        surveyed.insert("gone".into(), Digest::of(b"a manifest"));
        surveyed.insert("deleted-by-this-run".into(), Digest::of(b"a manifest"));
        let deleted = BTreeSet::from([deleted_again.clone(), "deleted-by-this-run".to_string()]);
        let changes = changed_since_survey(&layout, "team/app/svc-0", &surveyed, &deleted)
            .await
            .unwrap();
        let mut late = vec![unknown, deleted_again];
        late.sort();
        assert_eq!(changes.late, late);
        assert_eq!(changes.vanished, vec!["gone".to_string()]);
        assert!(changes.moved.is_empty());
    }
}
