//! `acr-relocate`: the command-line front of the acr-relocate library.
//!
//! Thin by design: clap parses, each verb lives in `commands/<verb>.rs`, and the exit code is chosen
//! in one place ([`exit`]).

mod args;
mod commands;
mod exit;
mod interrupt;
mod progress;

use clap::{Parser, Subcommand};

/// Moves a container registry to another region or another registry, with nothing lost.
#[derive(Parser)]
#[command(name = "acr-relocate", version, about, long_about = None)]
struct Cli {
    /// Show more on stderr: -v each tag and every retry, -vv every request (secrets never shown).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Copy every repository and tag from SOURCE to TARGET, digests preserved. A TARGET tag that
    /// holds another digest is overwritten with the source's (as skopeo sync and crane do), and
    /// listed; --dry-run lists those first.
    Copy(commands::copy::CopyArgs),
    /// List what a registry or layout holds: repositories, tags, digests, kinds, sizes.
    Inventory(commands::inventory::InventoryArgs),
    /// Check that TARGET holds every tag of SOURCE with the same digest (exit 1 on any gap).
    Verify(commands::verify::VerifyArgs),
    /// Write deterministic sample content (for demos and tests) to a registry or layout.
    Sample(commands::sample::SampleArgs),
    /// Rewrite an exported ARM template for the target registry name and region.
    Template(commands::template::TemplateArgs),
    /// Point image references in manifests, charts and pipelines at the new registry.
    Rewrite(commands::rewrite::RewriteArgs),
    /// Delete the source's manifests and tags once a deep verify against the target passes.
    DeleteSource(commands::delete_source::DeleteSourceArgs),
    /// Turn a relocation config into a reviewed plan (nothing is written to either registry).
    Plan(commands::plan::PlanArgs),
    /// Run a plan's steps in order, with a journal to resume from.
    Apply(commands::apply::ApplyArgs),
    /// Azure Resource Manager steps: export, deploy, settings, attach-aks, delete.
    Azure(commands::azure::AzureArgs),
}

fn main() -> std::process::ExitCode {
    exit::quiet_when_stdout_closes();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return exit::usage(e),
    };
    acr_relocate::log::set_verbosity(cli.verbose);
    let result = match cli.command {
        Command::Copy(args) => commands::copy::run(args),
        Command::Inventory(args) => commands::inventory::run(args),
        Command::Verify(args) => commands::verify::run(args),
        Command::Sample(args) => commands::sample::run(args),
        Command::Template(args) => commands::template::run(args),
        Command::Rewrite(args) => commands::rewrite::run(args),
        Command::DeleteSource(args) => commands::delete_source::run(args),
        Command::Plan(args) => commands::plan::run(args),
        Command::Apply(args) => commands::apply::run(args),
        Command::Azure(args) => commands::azure::run(args),
    };
    exit::finish(result)
}

/// The async runtime the network verbs run on.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}
