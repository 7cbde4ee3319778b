//! `acr-relocate inventory SOURCE`: what the source holds.

use acr_relocate::inventory::{self, Inventory, TagEntry, Within};
use acr_relocate::rename::Renames;
use acr_relocate::transport::{self, Access};

use crate::args::{self, FilterArgs, SourceConnectArgs};
use crate::exit;
use crate::progress::{counted, human_bytes};

/// Arguments of `acr-relocate inventory`.
#[derive(clap::Args, Debug)]
pub struct InventoryArgs {
    /// The registry (`HOST[:PORT][/PREFIX]`, `http://…`), layout (`oci:DIR`) or archive
    /// (`oci-archive:FILE.tar[.gz]`) to inventory.
    pub source: String,
    #[command(flatten)]
    pub filters: FilterArgs,
    #[command(flatten)]
    pub connect: SourceConnectArgs,
    #[command(flatten)]
    pub jobs: args::JobsArgs,
    /// JSON on stdout (schema: docs/inventory.md).
    #[arg(long, conflicts_with = "markdown")]
    pub json: bool,
    /// Markdown on stdout, for a change ticket.
    #[arg(long)]
    pub markdown: bool,
}

/// Runs `acr-relocate inventory`; Ctrl-C (SIGINT), SIGTERM or SIGHUP ends it at once, nothing printed
/// (exit 130, 143 or 129 for SIGHUP).
pub fn run(args: InventoryArgs) -> anyhow::Result<u8> {
    crate::runtime()?.block_on(crate::interrupt::unless_stopped(
        "inventory",
        "the inventory did not finish and nothing of it was printed (nothing is written anywhere): run it again",
        inventory_and_print(&args),
    ))
}

/// Takes the inventory, prints it and gives the exit code.
async fn inventory_and_print(args: &InventoryArgs) -> anyhow::Result<u8> {
    args.jobs.check()?;
    let ep = args::endpoint(&args.source, "SOURCE")?;
    let matcher = args.filters.matcher(&ep, None, Renames::default())?;
    args.connect
        .shared
        .warn_unmatched_insecure("inventory", &[&ep]);
    let store = transport::open(&ep, Access::Read, &args.connect.options()?).await?;
    let (jobs, max_jobs) = (args.jobs.jobs, args.jobs.max_jobs);
    let inv = inventory::inventory(store, &ep.to_string(), &matcher, jobs, max_jobs)
        .await
        .map_err(inventory::starts_over)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&inv)?);
    } else if args.markdown {
        print!("{}", markdown(&inv, tags_filtered(args)));
    } else {
        print!("{}", table(&inv, tags_filtered(args)));
    }
    let (tags, untagged) = (inv.totals.tags, inv.totals.untagged_manifests);
    Ok(if inv.failed.is_empty() {
        args.filters
            .nothing_selected("inventory", &ep, &matcher, tags, untagged)
            .unwrap_or(exit::SUCCESS)
    } else {
        exit::FAILURES
    })
}

/// True when a tag filter (`--tag`, `--exclude-tag`) was given: a repository may then hold tags
/// that none of its rows shows.
fn tags_filtered(args: &InventoryArgs) -> bool {
    !args.filters.tag.is_empty() || !args.filters.exclude_tags.is_empty()
}

fn short(d: &acr_relocate::digest::Digest) -> String {
    format!("sha256:{}", &d.hex()[..12])
}

/// Long tags (`sha256-<hex>.sig`) shortened for the table: the JSON and Markdown keep them whole.
fn shorten(tag: &str) -> String {
    let chars: Vec<char> = tag.chars().collect();
    if chars.len() <= 32 {
        return tag.to_string();
    }
    let head: String = chars[..16].iter().collect();
    let tail: String = chars[chars.len() - 10..].iter().collect();
    format!("{head}…{tail}")
}

fn table(inv: &Inventory, tags_filtered: bool) -> String {
    let mut rows = vec![[
        "REPOSITORY".to_string(),
        "TAG".into(),
        "DIGEST".into(),
        "KIND".into(),
        "PLATFORMS".into(),
        "SIZE".into(),
        "UNIQUE".into(),
    ]];
    for r in &inv.repositories {
        for t in &r.tags {
            rows.push([
                r.name.clone(),
                shorten(&t.tag),
                short(&t.digest),
                serde_json::to_value(t.kind)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default(),
                platforms(t, ","),
                size(t),
                human_bytes(t.unique_size),
            ]);
        }
    }
    let widths: Vec<usize> = (0..7)
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for r in rows {
        let line: Vec<String> = r
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:<w$}", w = widths[i]))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out.push_str(&totals_line(inv, tags_filtered));
    out.push_str(&notes(inv, "", "UNIQUE"));
    for p in &inv.failed {
        out.push_str(&format!("FAILED {}: {}\n", p.item, p.reason));
    }
    out
}

/// How many repositories show no row (no tag, or none selected), as ` (N with no tag)`; empty
/// when all show one.
fn rowless(inv: &Inventory, tags_filtered: bool) -> String {
    let rowless = inv
        .repositories
        .iter()
        .filter(|r| r.tags.is_empty())
        .count();
    match (rowless, tags_filtered) {
        (0, _) => String::new(),
        (n, true) => format!(" ({n} with no selected tag)"),
        (n, false) => format!(" ({n} with no tag)"),
    }
}

/// Where shared bytes are counted: across the registry's repositories, or the selected ones.
fn shared_across(inv: &Inventory) -> &'static str {
    match inv.totals.shared_within {
        Within::Registry => "shared across repositories",
        Within::Selection => "shared across the selected repositories",
    }
}

/// A tag's size, its non-distributable bytes after it when it has some: `838 B + 3.0 MB foreign`.
fn size(tag: &TagEntry) -> String {
    match tag.nondistributable_size {
        0 => human_bytes(tag.size),
        foreign => format!(
            "{} + {} foreign",
            human_bytes(tag.size),
            human_bytes(foreign)
        ),
    }
}

/// The lines under the totals that say what the sizes mean, each starting with `lead`, the
/// unique column named `unique`: what "foreign" is, and that unique sizes compare the selection
/// only when a filter was given.
fn notes(inv: &Inventory, lead: &str, unique: &str) -> String {
    let mut out = String::new();
    let foreign = inv
        .repositories
        .iter()
        .flat_map(|r| &r.tags)
        .any(|t| t.nondistributable_size > 0);
    if foreign {
        out.push_str(&format!(
            "{lead}foreign: non-distributable layers (descriptors with `urls`, such as Windows base layers): the image needs them, pulled from their URLs; a copy leaves them there and no total counts them\n"
        ));
    }
    if inv.totals.shared_within == Within::Selection {
        out.push_str(&format!(
            "{lead}{unique} and shared bytes compare the selected repositories and tags only (a filter was given): a blob that something left out also uses counts as unique here; run without filters to compare the whole registry\n"
        ));
    }
    out
}

fn totals_line(inv: &Inventory, tags_filtered: bool) -> String {
    let t = &inv.totals;
    // The manifests without a tag of their own are what `copy` and `verify` count as such.
    let without_tag = if inv.repositories.iter().any(|r| r.untagged.is_some()) {
        format!(
            " ({} without a tag of their own: {} index children, {} untagged)",
            t.index_children + t.untagged_manifests,
            t.index_children,
            t.untagged_manifests
        )
    } else {
        String::new()
    };
    let schema1 = if t.schema1_tags > 0 {
        format!(" ({} Docker schema 1: listed, not copied)", t.schema1_tags)
    } else {
        String::new()
    };
    let untagged_bytes = match t.untagged_bytes {
        0 => String::new(),
        n => format!(", {} of them only in untagged manifests", human_bytes(n)),
    };
    format!(
        "{}{}, {}{schema1}, {}{without_tag}, {}, {} unique ({} bytes{untagged_bytes}), {} {}; {:.1} s\n",
        counted(t.repositories, "repository", "repositories"),
        rowless(inv, tags_filtered),
        counted(t.tags, "tag", "tags"),
        counted(t.manifests, "manifest", "manifests"),
        counted(t.unique_blobs, "unique blob", "unique blobs"),
        human_bytes(t.unique_bytes),
        t.unique_bytes,
        human_bytes(t.shared_bytes),
        shared_across(inv),
        inv.seconds
    )
}

fn markdown(inv: &Inventory, tags_filtered: bool) -> String {
    let t = &inv.totals;
    let shared = match t.shared_within {
        Within::Registry => "shared bytes",
        Within::Selection => "shared bytes (within the selection)",
    };
    let unique_bytes = match t.untagged_bytes {
        0 => human_bytes(t.unique_bytes),
        n => format!(
            "{} ({} only in untagged manifests)",
            human_bytes(t.unique_bytes),
            human_bytes(n)
        ),
    };
    let mut out = format!(
        "# Inventory of `{}`\n\n| repositories | tags | manifests | unique blobs | unique bytes | {shared} |\n|---:|---:|---:|---:|---:|---:|\n| {}{} | {} | {} | {} | {} | {} |\n\n",
        inv.source,
        t.repositories,
        rowless(inv, tags_filtered),
        t.tags,
        t.manifests,
        t.unique_blobs,
        unique_bytes,
        human_bytes(t.shared_bytes)
    );
    out.push_str("| repository | tag | digest | kind | platforms | size | unique |\n|---|---|---|---|---|---:|---:|\n");
    for r in &inv.repositories {
        for tag in &r.tags {
            out.push_str(&format!(
                "| `{}` | `{}` | `{}` | {} | {} | {} | {} |\n",
                r.name,
                tag.tag,
                short(&tag.digest),
                serde_json::to_value(tag.kind)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default(),
                platforms(tag, ", "),
                size(tag),
                human_bytes(tag.unique_size)
            ));
        }
    }
    let notes = notes(inv, "- ", "unique");
    if !notes.is_empty() {
        out.push('\n');
        out.push_str(&notes);
    }
    if t.schema1_tags > 0 {
        let (are, them) = match t.schema1_tags {
            1 => ("is", "it"),
            _ => ("are", "them"),
        };
        out.push_str(&format!(
            "\n{} {are} Docker schema 1 (kind `schema1`): not copied; push {them} again with a current client, or leave {them} out with `--exclude-tag`/`--exclude-repo`.\n",
            counted(t.schema1_tags, "tag", "tags")
        ));
    }
    if !inv.failed.is_empty() {
        out.push_str("\n## Not readable\n\n");
        for p in &inv.failed {
            out.push_str(&format!("- `{}`: {}\n", p.item, p.reason));
        }
    }
    out
}

/// A tag's platforms joined with `separator`, with its attestations (buildx's, which are not
/// platforms) counted after them: `linux/amd64,linux/arm64 +2 attestations`.
fn platforms(tag: &TagEntry, separator: &str) -> String {
    let mut shown = tag.platforms.join(separator);
    if tag.attestations > 0 {
        let counted = counted(tag.attestations, "attestation", "attestations");
        shown = match shown.is_empty() {
            true => counted,
            false => format!("{shown} +{counted}"),
        };
    }
    shown
}
