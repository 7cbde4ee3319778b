//! `acr-relocate delete-source SOURCE --verified-against TARGET --confirm SOURCE`: removes the
//! source's manifests and tags once a fresh deep verify proves the target holds them.
//!
//! The guard, in order (nothing is deleted unless every step passes):
//! 1. `--confirm` repeats SOURCE exactly as given on the command line (exit 2 otherwise; not needed
//!    with `--dry-run`);
//! 2. a deep verify of the same selection (same `--repo`, `--exclude-repo`, `--tag`, `--shard`)
//!    against TARGET passes in this run (exit 1 otherwise, with the verify report);
//! 3. just before each deletion, the source tag still points at the digest the target's tag holds
//!    (content pushed to the source after the verify is left alone).
//!
//! Deletion is by manifest digest (`DELETE /v2/<name>/manifests/<digest>`), which in Distribution
//! removes every tag pointing at it. A digest that a tag left out by `--tag` also points at is kept,
//! so the filter is honoured. Index children, referrers and blobs become unreferenced and are left
//! to the registry's garbage collection.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use acr_relocate::digest::Digest;
use acr_relocate::endpoint::{self, Endpoint, RegistryEndpoint};
use acr_relocate::transport::registry::Registry;
use acr_relocate::transport::{self, Access, Source, Store};
use acr_relocate::verify::{self, VerifyOptions};
use acr_relocate::walk::{self, Matcher, RepoPair};
use anyhow::bail;
use serde::Serialize;

use crate::args::{self, ConnectArgs, FilterArgs, Side};
use crate::exit;

/// Arguments of `acr-relocate delete-source`.
#[derive(clap::Args, Debug)]
#[command(after_long_help = GUARD)]
pub struct DeleteSourceArgs {
    /// The registry to delete from, as for `copy` (`HOST[:PORT][/PREFIX]` or `http://…`).
    pub source: String,
    /// The target that must hold everything selected (deep verify, in this run).
    #[arg(long, value_name = "TARGET")]
    pub verified_against: String,
    /// Repeat SOURCE exactly as written above; required unless --dry-run.
    #[arg(long, value_name = "SOURCE")]
    pub confirm: Option<String>,
    #[command(flatten)]
    pub filters: FilterArgs,
    #[command(flatten)]
    pub connect: ConnectArgs,
    #[command(flatten)]
    pub jobs: args::JobsArgs,
    /// Verify, then list what would be deleted; delete nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// The outcome as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

const GUARD: &str = "\
Nothing is deleted unless:
  1. --confirm repeats SOURCE exactly as written (exit 2 otherwise);
  2. a deep verify of the same selection against --verified-against passes now (exit 1 otherwise);
  3. each source tag still points, when deleted, at the digest the target's tag holds.

Manifests are deleted by digest, which removes every tag pointing at them. A digest that a tag left
out by --tag also points at is kept. Index children, referrers and blobs are left to the registry's
garbage collection (for Distribution: `registry garbage-collect`; ACR: untagged manifest retention).
OCI layouts are not deleted from: remove the directory once verified.";

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
    /// Manifests kept (changed since the verify, or shared with an unselected tag).
    pub kept: u64,
    /// Deletions that failed.
    pub failed: u64,
}

/// Runs `acr-relocate delete-source`.
pub fn run(args: DeleteSourceArgs) -> anyhow::Result<u8> {
    crate::runtime()?.block_on(run_async(args))
}

/// The guarded deletion (also the `delete_source` step of `apply`).
pub async fn run_async(args: DeleteSourceArgs) -> anyhow::Result<u8> {
    args.jobs.check()?;
    let source_ep = args::endpoint(&args.source, "SOURCE")?;
    let target_ep = args::endpoint(&args.verified_against, "--verified-against")?;
    let Endpoint::Registry(source_registry) = &source_ep else {
        bail!("SOURCE `{}` is an OCI layout: delete-source only deletes from registries (remove the directory yourself once `verify --deep` passes)", args.source);
    };
    match (&args.confirm, args.dry_run) {
        (Some(c), _) if c == &args.source => {}
        (Some(c), _) => {
            eprintln!(
                "error: --confirm `{c}` does not repeat SOURCE `{}` exactly: nothing deleted",
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
    let matcher = args.filters.matcher(&source_ep, Some(&target_ep))?;
    {
        let registry = Arc::new(
            Registry::connect(source_registry, &args.connect.options(Side::Source)?).await?,
        );
        let source: Arc<dyn Store> = registry.clone();
        let (target, report) = deep_verify_against(
            source,
            &target_ep,
            &args.connect,
            matcher.clone(),
            args.jobs,
        )
        .await?;
        if !report.passed() {
            if args.json {
                let outcome = Outcome {
                    dry_run: args.dry_run,
                    verify: Some(report),
                    ..Default::default()
                };
                println!("{}", serde_json::to_string_pretty(&outcome)?);
            } else {
                print!("{}", super::verify::text(&report));
            }
            eprintln!(
                "delete-source: the target does not hold everything selected (see the verify above): nothing deleted"
            );
            return Ok(exit::FAILURES);
        }
        let mut outcome =
            delete(&registry, &target, &matcher, args.jobs.jobs, args.dry_run).await?;
        outcome.verify = Some(report);
        if args.json {
            println!("{}", serde_json::to_string_pretty(&outcome)?);
        } else {
            print_outcome(&outcome);
        }
        Ok(if outcome.failed == 0 {
            exit::SUCCESS
        } else {
            exit::FAILURES
        })
    }
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
/// the `matcher` selection of `source`, untagged manifests included, against it. Returns the
/// opened target with the report.
pub(crate) async fn deep_verify_against(
    source: Arc<dyn Store>,
    target: &Endpoint,
    connect: &ConnectArgs,
    matcher: Matcher,
    jobs: args::JobsArgs,
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
        },
    )
    .await?;
    Ok((target, report))
}

/// Lists the selected tags with their digests, groups them by manifest and deletes each manifest
/// that is safe to delete.
async fn delete(
    registry: &Arc<Registry>,
    target: &Arc<dyn Store>,
    matcher: &Matcher,
    jobs: usize,
    dry_run: bool,
) -> anyhow::Result<Outcome> {
    let source: Arc<dyn Source> = registry.clone();
    let pairs = walk::repositories(source.as_ref(), matcher).await?;
    let listed = walk::tags(source.clone(), matcher, pairs, jobs).await;
    let mut outcome = Outcome {
        dry_run,
        ..Default::default()
    };
    for (pair, tags) in listed {
        let tags = tags?;
        if tags.is_empty() {
            continue;
        }
        for deletion in plan_repository(&source, target, matcher, &pair, &tags).await? {
            let deletion = if deletion.outcome == "kept" || dry_run {
                deletion
            } else {
                let digest: Digest = deletion.digest.parse()?;
                match registry.delete_manifest(&pair.source, &digest).await {
                    Ok(()) => Deletion {
                        outcome: "deleted".into(),
                        ..deletion
                    },
                    Err(e) => Deletion {
                        outcome: "failed".into(),
                        reason: Some(e.to_string()),
                        ..deletion
                    },
                }
            };
            match deletion.outcome.as_str() {
                "kept" => outcome.kept += 1,
                "failed" => outcome.failed += 1,
                _ => outcome.deleted += 1,
            }
            outcome.manifests.push(deletion);
        }
    }
    Ok(outcome)
}

/// The manifests of one repository to delete: each selected tag re-read in the source and in the
/// target (they must agree), grouped by digest; a digest an unselected tag also uses is kept.
async fn plan_repository(
    source: &Arc<dyn Source>,
    target: &Arc<dyn Store>,
    matcher: &Matcher,
    pair: &RepoPair,
    tags: &[String],
) -> anyhow::Result<Vec<Deletion>> {
    let mut by_digest: BTreeMap<String, (Vec<String>, Option<String>)> = BTreeMap::new();
    let selected: BTreeSet<&String> = tags.iter().collect();
    for tag in tags {
        let (s, d) = tokio::join!(
            source.manifest_digest(&pair.source, tag),
            Source::manifest_digest(target.as_ref(), &pair.target, tag)
        );
        let Some(s) = s? else { continue };
        let entry = by_digest.entry(s.to_string()).or_default();
        entry.0.push(tag.clone());
        if d?.as_ref() != Some(&s) {
            entry.1 = Some(format!(
                "{}:{tag} no longer matches the target (changed since the verify)",
                pair.source
            ));
        }
    }
    // Tags left out by the filter that share a digest keep it alive.
    if matcher.selection().tag_pattern.is_some() {
        for tag in source.tags(&pair.source).await? {
            if selected.contains(&tag) {
                continue;
            }
            if let Some(d) = source.manifest_digest(&pair.source, &tag).await? {
                if let Some(entry) = by_digest.get_mut(d.as_str()) {
                    entry.1.get_or_insert_with(|| {
                        format!("also tagged `{tag}`, which the selection leaves out")
                    });
                }
            }
        }
    }
    Ok(by_digest
        .into_iter()
        .map(|(digest, (tags, reason))| Deletion {
            repository: pair.source.clone(),
            digest,
            tags,
            outcome: if reason.is_some() {
                "kept".into()
            } else {
                "would delete".into()
            },
            reason,
        })
        .collect())
}

fn print_outcome(o: &Outcome) {
    if let Some(r) = &o.verify {
        print!("{}", super::verify::text(r));
    }
    for d in &o.manifests {
        let what = format!("{}@{} ({})", d.repository, d.digest, d.tags.join(", "));
        match &d.reason {
            Some(reason) => println!("{} {what}: {reason}", d.outcome),
            None => println!("{} {what}", d.outcome),
        }
    }
    let verb = if o.dry_run { "would delete" } else { "deleted" };
    println!(
        "delete-source: {verb} {} manifests, kept {}, {} failed; index children, referrers and blobs are left to the registry's garbage collection",
        o.deleted, o.kept, o.failed
    );
}
