//! `acr-relocate copy SOURCE TARGET`: every repository and tag, digests preserved.

use std::sync::Arc;

use acr_relocate::copy::{self, CopyOptions, Summary};
use acr_relocate::endpoint::Endpoint;
use acr_relocate::transport::registry::{acr, Registry};
use acr_relocate::transport::{self, Access};
use anyhow::Context;

use crate::args::{self, ConnectArgs, FilterArgs, Side};
use crate::exit;
use crate::progress::{counted, human_bytes, Reporter};

/// Arguments of `acr-relocate copy`.
#[derive(clap::Args, Debug)]
pub struct CopyArgs {
    /// Where to read: `HOST[:PORT][/PREFIX]` (HTTPS), `http://HOST[:PORT][/PREFIX]`, `oci:DIR` (an
    /// OCI layout holding a whole registry) or `oci-archive:FILE.tar[.gz]` (the same in one file).
    pub source: String,
    /// Where to write, in the same forms.
    pub target: String,
    #[command(flatten)]
    pub filters: FilterArgs,
    #[command(flatten)]
    pub renames: crate::args::MapArgs,
    #[command(flatten)]
    pub connect: ConnectArgs,
    #[command(flatten)]
    pub jobs: args::JobsArgs,
    /// Show what would be copied (repositories, tags, manifests, blobs, bytes) and write
    /// nothing; lists each target tag that holds another digest and would be overwritten.
    #[arg(long)]
    pub dry_run: bool,
    /// Also walk below the tags the target already holds with the same digest (their child
    /// manifests, blobs and referrers), putting back whatever the target lost, as `verify --deep`
    /// checks it; blobs the target holds are not read. Without it such a tag is trusted whole.
    #[arg(long)]
    pub deep: bool,
    /// Leave a target tag that holds another digest as it is (nothing is written under it, nor
    /// what comes with the source's image it names: signatures, referrers, platform manifests,
    /// unless another tag brings that image) and fail on it, listed, as `--mode import` does without `--force`; by
    /// default it is overwritten and listed. For copies into a registry that holds content of
    /// its own.
    #[arg(long)]
    pub no_overwrite: bool,
    /// Do not copy OCI 1.1 referrers (signatures, SBOMs attached by `subject`): neither those
    /// a layout or an ACR lists untagged, nor the referrers fallback tags (`sha256-<hex>`) that
    /// list them on a registry without the referrers API. cosign's `sha256-<hex>.sig` tags are
    /// ordinary tags: leave them out with `--exclude-tag`. `verify --no-referrers` checks such
    /// a copy.
    #[arg(long)]
    pub no_referrers: bool,
    /// Copy only what tags point at: leave out the untagged manifests that ACR registries and
    /// layouts can list.
    #[arg(long)]
    pub tagged_only: bool,
    /// Also copy non-distributable layers (layers with `urls`, such as Windows base layers) when
    /// the source holds them, as an air-gapped copy needs; by default they are left to their URLs.
    #[arg(long)]
    pub include_nondistributable: bool,
    /// Between two ACRs, leave the lock attributes (write, delete, read, list) of repositories,
    /// tags and manifests as the target has them; by default they are made the source's.
    #[arg(long)]
    pub no_locks: bool,
    /// Print the summary as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// No progress output.
    #[arg(long, short = 'q')]
    pub quiet: bool,
    /// `stream`: bytes flow through this machine (any registry or layout). `import`: the target
    /// ACR pulls each image itself through ARM's importImage (needs --target-id).
    #[arg(long, value_enum, default_value_t = CopyMode::Stream)]
    pub mode: CopyMode,
    #[command(flatten)]
    pub import: crate::commands::azure::ImportArgs,
}

/// How `copy` moves content.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum CopyMode {
    /// Through this machine, blob by blob (each shared blob once).
    Stream,
    /// Server-side, by the target ACR's importImage action.
    Import,
}

/// Runs `acr-relocate copy`.
pub fn run(args: CopyArgs) -> anyhow::Result<u8> {
    crate::runtime()?.block_on(run_async(args))
}

async fn run_async(args: CopyArgs) -> anyhow::Result<u8> {
    if args.mode == CopyMode::Import {
        if args.deep {
            anyhow::bail!("--deep walks the content through this machine, --mode import does not: leave --deep out, or copy with the default --mode stream");
        }
        if args.no_overwrite && args.import.force {
            anyhow::bail!(
                "--no-overwrite keeps the target's tags, --force overwrites them: give one of them"
            );
        }
        // Without --force, an import keeps the target's tags already: --no-overwrite is its
        // default.
        return crate::commands::azure::copy_by_import(&args).await;
    }
    args::refuse_import_options(&args.import)?;
    let source_ep = args::endpoint(&args.source, "SOURCE")?;
    let target_ep = args::endpoint(&args.target, "TARGET")?;
    let mut matcher =
        args.filters
            .matcher(&source_ep, Some(&target_ep), args.renames.renames()?)?;
    if args.no_referrers {
        matcher = matcher.without_referrers();
    }
    acr_relocate::endpoint::check_distinct(&source_ep, &target_ep)
        .await
        .context("TARGET")?;
    if let (Endpoint::Registry(s), Endpoint::Registry(t)) = (&source_ep, &target_ep) {
        // Two addresses of this machine on one port (tunnels to two registries), which one
        // registry listening on every address would also answer.
        if s.registry_key() == t.registry_key() && s.prefixes_overlap(t) && !args.quiet {
            eprintln!(
                "copy: warning: SOURCE {} and TARGET {} are two addresses of this machine on one port: taken for two registries; if one registry answers both, this copies it into itself (stop with Ctrl-C)",
                s.host, t.host
            );
        }
    }
    args.jobs.check()?;
    if !args.quiet {
        args.connect
            .warn_unmatched_insecure("copy", &[&source_ep, &target_ep]);
    }
    let source_options = args.connect.options(Side::Source)?;
    let target_options = args.connect.options(Side::Target)?;
    let source = transport::open(&source_ep, Access::Read, &source_options).await?;
    let target_access = if args.dry_run {
        Access::Read
    } else {
        Access::Write
    };
    // A layout or archive this run creates, removed again if the run selects nothing: the file
    // a dangling link names, which is what gets written (the link stays).
    let created = match &target_ep {
        Endpoint::Layout(path) | Endpoint::Archive(path) if !args.dry_run && !path.exists() => {
            Some(acr_relocate::transport::archive::follow_links(path).unwrap_or(path.clone()))
        }
        _ => None,
    };
    // A dry run into a layout that does not exist yet compares against an empty one.
    let mut _empty_layout = None;
    let target = match (&target_ep, args.dry_run) {
        (Endpoint::Layout(path) | Endpoint::Archive(path), true) if !path.exists() => {
            let dir = tempfile::tempdir()?;
            let layout: Arc<dyn transport::Store> = Arc::new(
                acr_relocate::transport::layout::Layout::create(&dir.path().join("empty"))?,
            );
            _empty_layout = Some(dir);
            layout
        }
        _ => transport::open(&target_ep, target_access, &target_options).await?,
    };
    let acr_target = acr_registry(&target_ep, &target_options);
    if acr_target.is_some() && !args.tagged_only && !args.quiet {
        // Sources that list untagged manifests: ACRs, layouts and archives.
        let lists_untagged = match &source_ep {
            Endpoint::Registry(r) => acr::is_acr(r, &source_options),
            _ => true,
        };
        if lists_untagged {
            eprintln!("copy: {}", acr::RETENTION_WARNING);
        }
    }
    // Ctrl-C and SIGTERM are caught from here on, before any lock is removed: they stop the
    // copy, and the locks are set again below. The bar goes first: the line saying so is not
    // drawn over.
    let reporter = Reporter::new("copy", args.quiet || args.json);
    let interrupt = copy::Interrupt::default();
    crate::interrupt::watch(
        "copy",
        "stopping: the transfers in flight are dropped, every tag already in the target points at complete content",
        {
            let (interrupt, reporter) = (interrupt.clone(), reporter.clone());
            move || {
                reporter.finish();
                interrupt.trigger();
            }
        },
    );
    // Between two ACRs, lock attributes follow the content: unlocks first, locks after.
    let locks = match (acr_registry(&source_ep, &source_options), acr_target) {
        (Some(s), Some(t)) if !args.no_locks => {
            let s = Registry::connect(s, &source_options).await?;
            let t = Registry::connect(t, &target_options).await?;
            let pairs = acr_relocate::walk::repositories(&s, &matcher).await?;
            let sync = acr::LockSync::prepare(
                &s,
                &t,
                &pairs,
                &matcher,
                // A `--tag` selects tags only (see `selects_untagged`).
                !args.tagged_only && matcher.selects_untagged(),
                args.jobs.jobs,
                args.dry_run,
            )
            .await;
            Some((t, sync))
        }
        _ => None,
    };
    let options = CopyOptions {
        jobs: args.jobs.jobs,
        max_jobs: args.jobs.max_jobs,
        dry_run: args.dry_run,
        referrers: !args.no_referrers,
        untagged: !args.tagged_only,
        nondistributable: args.include_nondistributable,
        deep: args.deep,
        no_overwrite: args.no_overwrite,
        // A copy between two prefixes of one registry mounts each blob from where it is.
        mount_from_source: matches!(
            (&source_ep, &target_ep),
            (Endpoint::Registry(s), Endpoint::Registry(t)) if s.address_key() == t.address_key()
        ),
        matcher: matcher.clone(),
        progress: reporter.clone(),
        interrupt,
    };
    let outcome = copy::copy_or_stop(source, target, options).await;
    reporter.finish();
    // The locks are set after the content moved, and also when the copy failed or was
    // interrupted: tags it brought over get the source's attributes, tags it could not bring
    // get back what they had, so nothing protected stays unlocked.
    let lock_report = match locks {
        Some((t, sync)) if !args.dry_run => Some(sync.finish(&t, args.jobs.jobs).await),
        Some((_, sync)) => {
            for p in &sync.unlocked {
                eprintln!("locks: would unlock {p} for the copy");
            }
            for (item, reason) in &sync.failed {
                eprintln!("locks: {item}: {reason}");
            }
            None
        }
        None => None,
    };
    let summary = match outcome {
        Ok(summary) => summary,
        Err(stopped) => {
            // What was done before the stop is reported as a finished run's would be (the
            // error line on stderr says why it stopped), unless nothing had started.
            let summary = &stopped.summary;
            if args.json {
                println!("{}", serde_json::to_string_pretty(summary)?);
            } else if summary.repositories > 0 {
                print_summary(summary);
            }
            if let Some(report) = &lock_report {
                print_locks(report, true);
            }
            // Stopped by a second signal (an archive's packing): said, with the signal's code.
            if crate::interrupt::first().is_some() {
                eprintln!("copy: {}", exit::one_line(&stopped.error.into()));
                return Ok(crate::interrupt::exit_code(exit::INTERRUPTED));
            }
            return Err(stopped.error.into());
        }
    };
    // A signal after the last transfer (while an archive was packed) ends the run as one before.
    if summary.interrupted || crate::interrupt::first().is_some() {
        if args.json {
            println!("{}", serde_json::to_string_pretty(&summary)?);
        } else {
            print_summary(&summary);
        }
        if let Some(report) = &lock_report {
            print_locks(report, args.json);
        }
        eprintln!("copy: interrupted; every tag in the target points at complete content: run the same command again to finish");
        return Ok(crate::interrupt::exit_code(exit::INTERRUPTED));
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        print_summary(&summary);
    }
    if let Some(report) = &lock_report {
        print_locks(report, args.json);
    }
    let locks_failed = lock_report.as_ref().is_some_and(|r| !r.failed.is_empty());
    if !summary.failed.is_empty()
        || !summary.source_incomplete.is_empty()
        || !summary.conflicts.is_empty()
        || locks_failed
    {
        return Ok(exit::FAILURES);
    }
    let Some(code) =
        args.filters
            .nothing_selected("copy", &source_ep, &matcher, summary.tags, summary.untagged)
    else {
        return Ok(exit::SUCCESS);
    };
    // Nothing was selected: a layout or archive made by this run would hold nothing.
    if let Some(path) = created {
        let removed = if path.is_dir() {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
        removed.with_context(|| format!("removing the empty {}", path.display()))?;
    }
    Ok(code)
}

/// The registry endpoint, when it is an ACR.
fn acr_registry<'a>(
    endpoint: &'a Endpoint,
    options: &transport::ConnectOptions,
) -> Option<&'a acr_relocate::endpoint::RegistryEndpoint> {
    match endpoint {
        Endpoint::Registry(r) if acr::is_acr(r, options) => Some(r),
        _ => None,
    }
}

/// The lock steps, one line per PATCH (stderr with `--json`, whose stdout is the summary).
fn print_locks(r: &acr::LockReport, json: bool) {
    let mut out = String::new();
    for p in &r.unlocked {
        out.push_str(&format!("locks: unlocked {p} for the copy\n"));
    }
    for p in &r.applied {
        out.push_str(&format!("locks: set {p}\n"));
    }
    for (item, reason) in &r.failed {
        out.push_str(&format!("FAILED locks {item}: {reason}\n"));
    }
    out.push_str(&format!(
        "locks: {} unlocked for the copy, {} attribute changes applied, {} failed\n",
        r.unlocked.len(),
        r.applied.len(),
        r.failed.len()
    ));
    if json {
        eprint!("{out}");
    } else {
        print!("{out}");
    }
}

fn print_summary(s: &Summary) {
    let verb = if s.dry_run { "would copy" } else { "copied" };
    // Where the renames (--map) take each repository, before anything is written.
    if s.dry_run {
        for (source, target) in &s.renamed {
            println!("would copy {source} as {target}");
        }
    }
    let (manifests, pushed) = if s.dry_run {
        (s.manifests_would_push, "would push")
    } else {
        (s.manifests_pushed, "pushed")
    };
    let overwritten = match (s.overwritten.len(), s.dry_run) {
        (0, _) => String::new(),
        (n, true) => format!(", {n} of them would overwrite a tag with another digest"),
        (n, false) => format!(", {n} of them overwriting a tag with another digest"),
    };
    println!(
        "{verb} {} of {} in {} ({} already up to date{overwritten}), {} {pushed}",
        s.tags_copied,
        counted(s.tags, "tag", "tags"),
        counted(s.repositories, "repository", "repositories"),
        s.tags_up_to_date,
        counted(manifests, "manifest", "manifests")
    );
    println!(
        "blobs: {} {verb} ({}), {} already present, {} mounted; {} referrers, {} manifests without a tag of their own; {:.1} s, up to {} transfers at once",
        s.blobs_copied,
        human_bytes(s.bytes_copied),
        s.blobs_present,
        s.blobs_mounted,
        s.referrers_copied,
        s.untagged,
        s.seconds,
        s.peak_transfers
    );
    if s.referrers_listed > 0 {
        let verb = if s.dry_run { "would list" } else { "listed" };
        println!(
            "{verb} {} that the target held without a listing for its subject, in the subject's referrers fallback tag (-v names each)",
            counted(s.referrers_listed, "referrer", "referrers")
        );
    }
    if s.deep {
        let verb = if s.dry_run {
            "would put back"
        } else {
            "put back"
        };
        println!(
            "deep: {verb} {} manifests and {} blobs the target lacked below tags already up to date",
            s.manifests_put_back, s.blobs_put_back
        );
    }
    if s.mounts_ignored || s.blobs_copied_again > 0 {
        let why = if s.mounts_ignored {
            "the target ignores cross-repository mounts"
        } else {
            "the target refused a mount"
        };
        println!(
            "{why}: {} blobs another repository holds were uploaded again",
            s.blobs_copied_again
        );
    }
    if s.nondistributable_left_to_urls > 0 {
        println!(
            "{} non-distributable layers the source does not hold were left to their URLs (-v names them)",
            s.nondistributable_left_to_urls
        );
    }
    let (verb, had) = if s.dry_run {
        ("would overwrite", "has")
    } else {
        ("overwrote", "had")
    };
    for o in &s.overwritten {
        match (o.merged, &o.now) {
            // A referrers fallback tag: the union of both listings, neither side's digest.
            (true, Some(now)) => println!(
                "merged {}: the target had {}, the source {}; the tag now holds {now}",
                o.item, o.target_had, o.source
            ),
            (true, None) => println!(
                "would merge {}: the target has {}, the source {}; the tag would hold both listings",
                o.item, o.target_had, o.source
            ),
            (false, _) => println!(
                "{verb} {}: the target {had} {}, the source {}",
                o.item, o.target_had, o.source
            ),
        }
    }
    let kept = if s.dry_run { "would keep" } else { "kept" };
    for o in &s.conflicts {
        println!(
            "{kept} {}: the target has {}, the source {} (--no-overwrite)",
            o.item, o.target_had, o.source
        );
    }
    let left_out = if s.dry_run {
        "would leave out"
    } else {
        "left out"
    };
    for p in &s.left_out {
        println!("{left_out} {}: {}", p.item, p.reason);
    }
    if !s.conflicts.is_empty() {
        println!(
            "{kept} {} of the target holding another digest than the source's: nothing is written under them, nor what comes with the source's images they name (signatures, referrers, index children) unless another tag brings those images; rename them in the target, leave them out with --exclude-tag, or copy without --no-overwrite to overwrite them",
            counted(s.conflicts.len() as u64, "tag", "tags")
        );
    }
    for p in &s.skipped {
        println!("skipped {}: {}", p.item, p.reason);
    }
    for p in s.failed.iter().chain(&s.source_incomplete) {
        println!("FAILED {}: {}", p.item, p.reason);
    }
    match (s.failed.len() as u64, s.failed_refused) {
        (0, _) => {}
        (n, _) if s.failed_vanished == n => println!(
            "{} failed, no longer in the source (deleted or moved during the run?): nothing to change; run the same command again to copy what the source holds now",
            counted(n, "item", "items")
        ),
        (n, _) if s.failed_target_writes == n => println!(
            "{} failed, each on a server error (HTTP 5xx) of the target to a write, after retries: check the target registry's storage (full?) and its logs, then run the same command again",
            counted(n, "item", "items")
        ),
        (n, 0) if s.failed_vanished > 0 => println!(
            "{} failed: run the same command again to retry them ({} of them were no longer in the source)",
            counted(n, "item", "items"),
            s.failed_vanished
        ),
        (n, 0) => println!(
            "{} failed: run the same command again to retry them",
            counted(n, "item", "items")
        ),
        (n, refused) if refused == n => println!(
            "{} failed, refused: change what each line names (access, the content, a size limit), then run the same command again",
            counted(n, "item", "items")
        ),
        (n, refused) => println!(
            "{} failed: run the same command again to retry them ({refused} of them were refused: change what their lines name first)",
            counted(n, "item", "items")
        ),
    }
    if !s.source_incomplete.is_empty() {
        println!(
            "{} cannot be copied: the source lacks content they reference, or holds it wrong; repair them at the source (copying again will not help)",
            counted(s.source_incomplete.len(), "item", "items")
        );
    }
}
