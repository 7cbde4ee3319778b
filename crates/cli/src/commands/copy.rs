//! `acr-relocate copy SOURCE TARGET`: every repository and tag, digests preserved.

use std::sync::Arc;

use acr_relocate::copy::{self, CopyOptions, Summary};
use acr_relocate::transport::{self, Access};

use crate::args::{self, ConnectArgs, FilterArgs, Side};
use crate::exit;
use crate::progress::{human_bytes, Reporter};

/// Arguments of `acr-relocate copy`.
#[derive(clap::Args, Debug)]
pub struct CopyArgs {
    /// Where to read: `HOST[:PORT][/PREFIX]` (HTTPS), `http://HOST[:PORT][/PREFIX]`, or `oci:DIR`.
    pub source: String,
    /// Where to write, in the same forms.
    pub target: String,
    #[command(flatten)]
    pub filters: FilterArgs,
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// Blob transfers at once (manifests and tags run at four times this).
    #[arg(long, short = 'j', default_value_t = args::DEFAULT_JOBS)]
    pub jobs: usize,
    /// Show what would be copied (repositories, tags, blobs, bytes) and write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Do not copy OCI 1.1 referrers (signatures, SBOMs attached by `subject`).
    #[arg(long)]
    pub no_referrers: bool,
    /// Copy only what tags point at: leave out the untagged manifests that ACR registries and
    /// layouts can list.
    #[arg(long)]
    pub tagged_only: bool,
    /// Print the summary as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// No progress output.
    #[arg(long, short = 'q')]
    pub quiet: bool,
    /// Seconds to wait for a connection.
    #[arg(long, value_name = "SECS", default_value_t = 15)]
    pub connect_timeout: u64,
    /// Seconds a response may stay silent (headers or body) before the request is retried.
    #[arg(long, value_name = "SECS", default_value_t = 120)]
    pub read_timeout: u64,
}

impl CopyArgs {
    fn connect_options(&self, side: Side) -> anyhow::Result<transport::ConnectOptions> {
        let mut options = self.connect.options(side)?;
        options.connect_timeout = Some(std::time::Duration::from_secs(self.connect_timeout.max(1)));
        options.read_timeout = Some(std::time::Duration::from_secs(self.read_timeout.max(1)));
        Ok(options)
    }
}

/// Runs `acr-relocate copy`.
pub fn run(args: CopyArgs) -> anyhow::Result<u8> {
    crate::runtime()?.block_on(run_async(args))
}

async fn run_async(args: CopyArgs) -> anyhow::Result<u8> {
    let source_ep = args::endpoint(&args.source, "SOURCE")?;
    let target_ep = args::endpoint(&args.target, "TARGET")?;
    let matcher = args.filters.matcher(&source_ep, Some(&target_ep))?;
    let source = transport::open(
        &source_ep,
        Access::Read,
        &args.connect_options(Side::Source)?,
    )
    .await?;
    let target_access = if args.dry_run {
        Access::Read
    } else {
        Access::Write
    };
    // A dry run into a layout that does not exist yet compares against an empty one.
    let mut _empty_layout = None;
    let target = match (&target_ep, args.dry_run) {
        (
            acr_relocate::endpoint::Endpoint::Layout(path)
            | acr_relocate::endpoint::Endpoint::Archive(path),
            true,
        ) if !path.exists() => {
            let dir = tempfile::tempdir()?;
            let layout: Arc<dyn transport::Store> = Arc::new(
                acr_relocate::transport::layout::Layout::create(&dir.path().join("empty"))?,
            );
            _empty_layout = Some(dir);
            layout
        }
        _ => {
            transport::open(
                &target_ep,
                target_access,
                &args.connect_options(Side::Target)?,
            )
            .await?
        }
    };
    let reporter = Reporter::new("copy", args.quiet || args.json);
    let interrupt = copy::Interrupt::default();
    let options = CopyOptions {
        jobs: args.jobs,
        dry_run: args.dry_run,
        referrers: !args.no_referrers,
        untagged: !args.tagged_only,
        matcher,
        progress: reporter.clone(),
        interrupt: interrupt.clone(),
    };
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            interrupt.trigger();
        }
    });
    let outcome = copy::copy(source, target, options).await;
    reporter.finish();
    let summary = outcome?;
    if summary.interrupted {
        if args.json {
            println!("{}", serde_json::to_string_pretty(&summary)?);
        } else {
            print_summary(&summary);
        }
        eprintln!("copy: interrupted; every tag in the target points at complete content: run the same command again to finish");
        return Ok(exit::INTERRUPTED);
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        print_summary(&summary);
    }
    Ok(if summary.failed.is_empty() {
        exit::SUCCESS
    } else {
        exit::FAILURES
    })
}

fn print_summary(s: &Summary) {
    let verb = if s.dry_run { "would copy" } else { "copied" };
    println!(
        "{verb} {} of {} tags in {} repositories ({} already up to date), {} manifests",
        s.tags_copied, s.tags, s.repositories, s.tags_up_to_date, s.manifests_pushed
    );
    println!(
        "blobs: {} {verb} ({}), {} already present, {} mounted; {} referrers, {} untagged manifests; {:.1} s",
        s.blobs_copied,
        human_bytes(s.bytes_copied),
        s.blobs_present,
        s.blobs_mounted,
        s.referrers_copied,
        s.untagged,
        s.seconds
    );
    for p in &s.skipped {
        println!("skipped {}: {}", p.item, p.reason);
    }
    for p in &s.failed {
        println!("FAILED {}: {}", p.item, p.reason);
    }
    if !s.failed.is_empty() {
        println!(
            "{} items failed: run the same command again to retry them",
            s.failed.len()
        );
    }
}
