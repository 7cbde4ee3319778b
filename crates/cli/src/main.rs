//! `acr-relocate`: the command-line front of the acr-relocate library.
//!
//! Thin by design: clap parses, each verb lives in `commands/<verb>.rs`, and the exit code is chosen
//! in one place ([`exit`]).

mod commands;
mod exit;

use clap::{Parser, Subcommand};

/// Moves a container registry to another region or another registry, with nothing lost.
#[derive(Parser)]
#[command(name = "acr-relocate", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Rewrite an exported ARM template for the target registry name and region.
    Template(commands::template::TemplateArgs),
    /// Point image references in manifests, charts and pipelines at the new registry.
    Rewrite(commands::rewrite::RewriteArgs),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Template(args) => commands::template::run(args),
        Command::Rewrite(args) => commands::rewrite::run(args),
    };
    exit::finish(result)
}
