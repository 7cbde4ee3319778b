//! `acr-relocate verify SOURCE TARGET`: the target holds what the source holds.

use acr_relocate::transport::{self, Access};
use acr_relocate::verify::{self, Report, VerifyOptions};

use crate::args::{self, ConnectArgs, FilterArgs, Side};
use crate::exit;

/// Arguments of `acr-relocate verify`.
#[derive(clap::Args, Debug)]
pub struct VerifyArgs {
    /// The source, as for `copy`.
    pub source: String,
    /// The target, as for `copy`.
    pub target: String,
    #[command(flatten)]
    pub filters: FilterArgs,
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// Also check every child manifest, config, layer and referrer in the target.
    #[arg(long)]
    pub deep: bool,
    /// Requests at a time (times four).
    #[arg(long, short = 'j', default_value_t = args::DEFAULT_JOBS)]
    pub jobs: usize,
    /// The report as JSON on stdout.
    #[arg(long, conflicts_with = "markdown")]
    pub json: bool,
    /// The report as Markdown on stdout.
    #[arg(long)]
    pub markdown: bool,
}

/// Runs `acr-relocate verify`.
pub fn run(args: VerifyArgs) -> anyhow::Result<u8> {
    crate::runtime()?.block_on(async {
        let report = run_verify(&args).await?;
        if args.json {
            println!("{}", serde_json::to_string_pretty(&report)?);
        } else if args.markdown {
            print!("{}", markdown(&report, &args.source, &args.target));
        } else {
            print!("{}", text(&report));
        }
        Ok(if report.passed() {
            exit::SUCCESS
        } else {
            exit::FAILURES
        })
    })
}

/// Runs a verify and returns its report (also used by `delete-source`).
pub async fn run_verify(args: &VerifyArgs) -> anyhow::Result<Report> {
    let source_ep = args::endpoint(&args.source, "SOURCE")?;
    let target_ep = args::endpoint(&args.target, "TARGET")?;
    let matcher = args.filters.matcher(&source_ep, Some(&target_ep))?;
    let source = transport::open(
        &source_ep,
        Access::Read,
        &args.connect.options(Side::Source)?,
    )
    .await?;
    let target = transport::open(
        &target_ep,
        Access::Read,
        &args.connect.options(Side::Target)?,
    )
    .await?;
    Ok(verify::verify(
        source,
        target,
        &VerifyOptions {
            matcher,
            deep: args.deep,
            jobs: args.jobs,
        },
    )
    .await?)
}

fn verdict(r: &Report) -> &'static str {
    if r.passed() {
        "OK"
    } else {
        "FAIL"
    }
}

/// The one-line verdict and every problem, for humans.
pub fn text(r: &Report) -> String {
    let mut out = String::new();
    for (label, list) in [
        ("missing", &r.missing),
        ("different", &r.different),
        ("broken", &r.broken),
        ("error", &r.errors),
    ] {
        for p in list {
            out.push_str(&format!("{label} {}: {}\n", p.item, p.reason));
        }
    }
    for p in &r.extra {
        out.push_str(&format!("extra {}: {}\n", p.item, p.reason));
    }
    out.push_str(&format!(
        "verify: {} tags ok, {} missing, {} different in {} repositories; {} extra in the target",
        r.tags_ok,
        r.missing.len(),
        r.different.len(),
        r.repositories,
        r.extra.len()
    ));
    if r.deep {
        out.push_str(&format!(
            "; deep: {} manifests, {} blobs, {} referrers checked, {} broken",
            r.manifests_checked,
            r.blobs_checked,
            r.referrers_checked,
            r.broken.len()
        ));
    }
    if !r.errors.is_empty() {
        out.push_str(&format!("; {} errors", r.errors.len()));
    }
    out.push_str(&format!("; {:.1} s {}\n", r.seconds, verdict(r)));
    out
}

fn markdown(r: &Report, source: &str, target: &str) -> String {
    let mut out = format!(
        "# Verify `{source}` → `{target}`: {}\n\n| tags ok | missing | different | extra | broken | errors |\n|---:|---:|---:|---:|---:|---:|\n| {} | {} | {} | {} | {} | {} |\n",
        verdict(r),
        r.tags_ok,
        r.missing.len(),
        r.different.len(),
        r.extra.len(),
        r.broken.len(),
        r.errors.len()
    );
    if r.deep {
        out.push_str(&format!(
            "\nDeep check: {} manifests, {} blobs, {} referrers.\n",
            r.manifests_checked, r.blobs_checked, r.referrers_checked
        ));
    }
    for (label, list) in [
        ("Missing", &r.missing),
        ("Different", &r.different),
        ("Broken", &r.broken),
        ("Errors", &r.errors),
        ("Extra in the target", &r.extra),
    ] {
        if !list.is_empty() {
            out.push_str(&format!("\n## {label}\n\n"));
            for p in list {
                out.push_str(&format!("- `{}`: {}\n", p.item, p.reason));
            }
        }
    }
    out
}
