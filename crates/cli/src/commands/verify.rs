//! `acr-relocate verify SOURCE TARGET`: the target holds what the source holds.

use std::collections::BTreeSet;

use acr_relocate::copy::Problem;
use acr_relocate::endpoint::Endpoint;
use acr_relocate::transport::registry::{acr, Registry};
use acr_relocate::transport::{self, Access};
use acr_relocate::verify::{self, Report, VerifyOptions};
use acr_relocate::walk::Matcher;

use crate::args::{self, ConnectArgs, FilterArgs, Side};
use crate::exit;
use crate::progress::counted;

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
    pub renames: crate::args::MapArgs,
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// Also check in the target every manifest of each tag's graph (read, and hashed against its
    /// digest), every config and layer (present, with the size its descriptor gives; not read)
    /// and every referrer.
    #[arg(long)]
    pub deep: bool,
    /// With --deep, also read every config and layer from the target (once per digest, --jobs
    /// at once) and check that its bytes hash to its digest: finds a stored copy damaged in
    /// place. Reads every byte the target holds for the selection.
    #[arg(long, requires = "deep")]
    pub content: bool,
    /// Do not require in the target the untagged manifests that the source lists (layouts, ACR), as
    /// after a `copy --tagged-only`.
    #[arg(long)]
    pub tagged_only: bool,
    /// Do not require the referrers (signatures, SBOMs attached by `subject`) in the target, as
    /// after a `copy --no-referrers`: neither the source's referrers fallback tags
    /// (`sha256-<hex>`) nor the referrers it lists untagged, nor (with --deep) the referrers of
    /// each manifest.
    #[arg(long)]
    pub no_referrers: bool,
    /// With --deep, also require the non-distributable layers (layers with `urls`) in the
    /// target, as after a `copy --include-nondistributable`.
    #[arg(long)]
    pub include_nondistributable: bool,
    /// Between two ACRs, do not compare lock attributes.
    #[arg(long)]
    pub no_locks: bool,
    #[command(flatten)]
    pub jobs: args::JobsArgs,
    /// The report as JSON on stdout.
    #[arg(long, conflicts_with = "markdown")]
    pub json: bool,
    /// The report as Markdown on stdout.
    #[arg(long)]
    pub markdown: bool,
}

/// Runs `acr-relocate verify`; Ctrl-C (SIGINT), SIGTERM or SIGHUP ends it at once, with no verdict
/// (exit 130, 143 or 129 for SIGHUP).
pub fn run(args: VerifyArgs) -> anyhow::Result<u8> {
    crate::runtime()?.block_on(crate::interrupt::unless_stopped(
        "verify",
        "no verdict (the check did not finish; nothing was written): run it again",
        verify_and_report(&args),
    ))
}

/// Verifies, prints the report and gives the exit code.
async fn verify_and_report(args: &VerifyArgs) -> anyhow::Result<u8> {
    let source = args::endpoint(&args.source, "SOURCE")?;
    let target = args::endpoint(&args.target, "TARGET")?;
    let mut matcher = args
        .filters
        .matcher(&source, Some(&target), args.renames.renames()?)?;
    if args.no_referrers {
        matcher = matcher.without_referrers();
    }
    args.connect
        .warn_unmatched_insecure("verify", &[&source, &target]);
    let report = run_verify(args, &matcher).await?;
    // A narrowing that selected nothing proves nothing: warned (stderr), and not called OK.
    let nothing_selected = if report.passed() {
        args.filters.nothing_selected(
            "verify",
            &source,
            &matcher,
            report.tags,
            report.untagged_checked,
        )
    } else {
        None
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        let shown_verdict = match nothing_selected {
            Some(_) => "NOTHING SELECTED",
            None => verdict(&report),
        };
        if args.markdown {
            print!(
                "{}",
                markdown(&report, &args.source, &args.target, shown_verdict)
            );
        } else {
            print!("{}", text_with_verdict(&report, shown_verdict, true));
        }
    }
    Ok(if report.passed() {
        nothing_selected.unwrap_or(exit::SUCCESS)
    } else {
        exit::FAILURES
    })
}

/// Runs a verify of what `matcher` (made from `args.filters`) selects and returns its report.
pub async fn run_verify(args: &VerifyArgs, matcher: &Matcher) -> anyhow::Result<Report> {
    args.jobs.check()?;
    let source_ep = args::endpoint(&args.source, "SOURCE")?;
    let target_ep = args::endpoint(&args.target, "TARGET")?;
    let source_options = args.connect.options(Side::Source)?;
    let target_options = args.connect.options(Side::Target)?;
    let source = transport::open(&source_ep, Access::Read, &source_options).await?;
    let target = transport::open(&target_ep, Access::Read, &target_options).await?;
    // Between two ACRs the data-plane comparison below checks untagged manifests (and locks).
    let both_acr = matches!((&source_ep, &target_ep), (Endpoint::Registry(s), Endpoint::Registry(t))
        if acr::is_acr(s, &source_options) && acr::is_acr(t, &target_options));
    let mut report = verify::verify(
        source,
        target,
        &VerifyOptions {
            matcher: matcher.clone(),
            deep: args.deep,
            jobs: args.jobs.jobs,
            max_jobs: args.jobs.max_jobs,
            untagged: !args.tagged_only && !both_acr,
            nondistributable: args.include_nondistributable,
            content: args.content,
        },
    )
    .await?;
    // Between two ACRs: untagged manifests and lock attributes too (neither with `--tagged-only
    // --no-locks`, which then needs no metadata access).
    let metadata_checks = !(args.tagged_only && args.no_locks);
    if let (Endpoint::Registry(s), Endpoint::Registry(t)) = (&source_ep, &target_ep) {
        if metadata_checks && acr::is_acr(s, &source_options) && acr::is_acr(t, &target_options) {
            let s = Registry::connect(s, &source_options).await?;
            let t = Registry::connect(t, &target_options).await?;
            let pairs = acr_relocate::walk::repositories(&s, matcher).await?;
            let differences = acr::compare_registries(
                &s,
                &t,
                &pairs,
                matcher,
                // A `--tag` selects tags only, as the copy takes them (see `selects_untagged`).
                !args.tagged_only && matcher.selects_untagged(),
                args.jobs.jobs,
            )
            .await;
            for d in differences {
                let problem = Problem {
                    item: d.item,
                    reason: d.reason,
                };
                match d.kind {
                    acr::DifferenceKind::Missing => report.missing.push(problem),
                    acr::DifferenceKind::Error => report.errors.push(problem),
                    acr::DifferenceKind::Attributes if !args.no_locks => {
                        report.different.push(problem)
                    }
                    acr::DifferenceKind::Attributes => {}
                }
            }
        }
    }
    Ok(report)
}

fn verdict(r: &Report) -> &'static str {
    if r.passed() {
        "OK"
    } else {
        "FAIL"
    }
}

/// What repairs blobs (and manifests) whose stored content the target damaged (read with
/// `--content`, a manifest read by digest, a blob of a size no descriptor gives): a copy asks
/// whether the target has a blob, not what it holds, so it never replaces one. `None` when
/// nothing is damaged.
pub fn damaged_blob_remedy(r: &Report) -> Option<String> {
    // (blob or manifest, digest), from reasons that begin "blob DIGEST" or "manifest DIGEST".
    let damaged: BTreeSet<(&str, &str)> = r
        .broken
        .iter()
        .filter(|p| p.reason.ends_with("its stored content is damaged"))
        .filter_map(|p| {
            let mut words = p.reason.split_whitespace();
            Some((words.next()?, words.next()?))
        })
        .collect();
    let (_, first) = damaged.first()?;
    let hex = first.strip_prefix("sha256:").unwrap_or(first);
    let manifests = damaged
        .iter()
        .filter(|(kind, _)| *kind == "manifest")
        .count() as u64;
    let blobs = damaged.len() as u64 - manifests;
    let what = match (manifests, blobs) {
        (0, blobs) => counted(blobs, "blob is", "blobs are"),
        (manifests, 0) => counted(manifests, "manifest is", "manifests are"),
        (manifests, blobs) => format!(
            "{} and {} are",
            counted(manifests, "manifest", "manifests"),
            counted(blobs, "blob", "blobs")
        ),
    };
    Some(format!(
        "{what} damaged in the target's storage ({first}{}): a copy finds a blob present and does not replace it; remove each from the target (a layout's blobs/sha256/{hex} file; in a registry, by its operator, from its storage), then copy again with --deep",
        if damaged.len() > 1 { ", ..." } else { "" }
    ))
}

/// What repairs content the target lost below tags it holds with the source's digest (a blob,
/// a child manifest or a referrer missing, a referrer not listed for its subject): a plain copy
/// trusts such a tag whole, `copy --deep` walks below it and puts back what is missing. Not
/// what no copy brings (damaged content: [`damaged_blob_remedy`]; what the source lacks too; a
/// listing of the source that failed). `None` when nothing is broken that way.
pub fn lost_content_remedy(r: &Report) -> Option<String> {
    let lost: Vec<&str> = r
        .broken
        .iter()
        .map(|p| p.reason.as_str())
        .filter(|reason| {
            !reason.ends_with("its stored content is damaged")
                && !reason.contains("the source lacks it too")
                && !reason.starts_with("cannot list ")
        })
        .collect();
    if lost.is_empty() {
        return None;
    }
    let referrers = lost.iter().any(|reason| reason.contains("referrer"));
    Some(format!(
        "{} in the target below tags it holds with the source's digest: a plain copy trusts such a tag whole; run `copy --deep` with the same SOURCE, TARGET and filters{} to put back what it lacks",
        counted(lost.len() as u64, "thing is broken", "things are broken"),
        match referrers {
            true => " (without --no-referrers: referrers are among them; or check a copy made without them with `verify --no-referrers`)",
            false => "",
        }
    ))
}

/// The one-line verdict and every problem, for humans.
pub fn text(r: &Report) -> String {
    text_with_verdict(r, verdict(r), false)
}

/// [`text`] with, before the verdict, the `copy --deep` that puts back what the target lost
/// ([`lost_content_remedy`]): for `verify` and `delete-source`, not for `apply`, whose own
/// closing line says how to go on.
pub fn text_advising_copy(r: &Report) -> String {
    text_with_verdict(r, verdict(r), true)
}

/// [`text`] ending with `verdict` (`OK`, `FAIL`, or `NOTHING SELECTED` for a narrowing that
/// selected nothing).
fn text_with_verdict(r: &Report, verdict: &str, advise_copy: bool) -> String {
    let mut out = String::new();
    for (label, list) in [
        ("missing", &r.missing),
        ("different", &r.different),
        ("unsupported", &r.unsupported),
        ("broken in the source", &r.broken_in_source),
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
    let lost = advise_copy.then(|| lost_content_remedy(r)).flatten();
    for remedy in [lost, damaged_blob_remedy(r)].into_iter().flatten() {
        out.push_str(&format!("verify: {remedy}\n"));
    }
    out.push_str(&format!(
        "verify: {} ok, {} missing, {} different in {}; {} extra in the target",
        counted(r.tags_ok, "tag", "tags"),
        r.missing.len(),
        r.different.len(),
        counted(r.repositories, "repository", "repositories"),
        r.extra.len()
    ));
    if !r.unsupported.is_empty() {
        out.push_str(&format!(
            "; {} unsupported (Docker schema 1 or a digest other than sha256: not copied, each listed)",
            r.unsupported.len()
        ));
    }
    if !r.broken_in_source.is_empty() {
        out.push_str(&format!(
            "; {} broken in the source (copying will not help)",
            r.broken_in_source.len()
        ));
    }
    if r.deep {
        out.push_str(&format!(
            "; deep: {} manifests, {} blobs, {} referrers checked, {} broken",
            r.manifests_checked,
            r.blobs_checked,
            r.referrers_checked,
            r.broken.len()
        ));
        if r.nondistributable_left_to_urls > 0 {
            out.push_str(&format!(
                ", {} non-distributable layers left to their URLs (the source does not hold them either)",
                r.nondistributable_left_to_urls
            ));
        }
    }
    if r.content {
        out.push_str(&format!(
            "; content: {} blobs read ({}) and hashed",
            r.blobs_read,
            crate::progress::human_bytes(r.bytes_read)
        ));
    }
    if r.untagged_checked > 0 {
        out.push_str(&format!(
            "; {} manifests without a tag of their own checked",
            r.untagged_checked
        ));
    }
    if !r.errors.is_empty() {
        out.push_str(&format!("; {} errors", r.errors.len()));
    }
    out.push_str(&format!(
        "; {:.1} s, up to {} requests at once: {verdict}\n",
        r.seconds, r.peak_requests,
    ));
    out
}

/// The report in Markdown, its heading ending with `verdict`.
fn markdown(r: &Report, source: &str, target: &str, verdict: &str) -> String {
    let mut out = format!(
        "# Verify `{source}` → `{target}`: {verdict}\n\n| tags ok | missing | different | unsupported | broken in the source | extra | broken | errors |\n|---:|---:|---:|---:|---:|---:|---:|---:|\n| {} | {} | {} | {} | {} | {} | {} | {} |\n",
        r.tags_ok,
        r.missing.len(),
        r.different.len(),
        r.unsupported.len(),
        r.broken_in_source.len(),
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
    if r.content {
        out.push_str(&format!(
            "\nContent check: {} blobs read ({}) and hashed.\n",
            r.blobs_read,
            crate::progress::human_bytes(r.bytes_read)
        ));
    }
    for (label, list) in [
        ("Missing", &r.missing),
        ("Different", &r.different),
        ("Unsupported (not copied)", &r.unsupported),
        ("Broken in the source", &r.broken_in_source),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn broken(reasons: &[&str]) -> Report {
        Report {
            broken: reasons
                .iter()
                .map(|reason| Problem {
                    item: "app@sha256:1".into(),
                    reason: reason.to_string(),
                })
                .collect(),
            ..Report::default()
        }
    }

    #[test]
    fn copy_deep_is_advised_only_for_what_a_copy_can_put_back() {
        let lost = broken(&["blob sha256:2 (3 bytes) missing in the target"]);
        let advice = lost_content_remedy(&lost).unwrap();
        assert!(advice.starts_with("1 thing is broken"), "{advice}");
        assert!(!advice.contains("--no-referrers"), "{advice}");
        let referrer = broken(&["referrer of sha256:2 missing in the target"]);
        let advice = lost_content_remedy(&referrer).unwrap();
        assert!(advice.contains("without --no-referrers"), "{advice}");
        for not_lost in [
            "manifest graph incomplete in the target: child sha256:3 missing; the source lacks it too (the source is incomplete: a copy cannot bring it)",
            "cannot list referrers in the source: HTTP 500",
            "blob sha256:4: its stored content is damaged",
        ] {
            assert_eq!(lost_content_remedy(&broken(&[not_lost])), None, "{not_lost}");
        }
        // apply's text leaves the advice to its own closing line.
        assert!(!text(&lost).contains("copy --deep"));
        assert!(text_advising_copy(&lost).contains("copy --deep"));
    }
}
