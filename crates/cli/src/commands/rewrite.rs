//! `acr-relocate rewrite` (stub, being written).

/// Arguments of `acr-relocate rewrite`.
#[derive(clap::Args)]
pub struct RewriteArgs {}

/// Runs `acr-relocate rewrite`.
pub fn run(_args: RewriteArgs) -> anyhow::Result<u8> {
    anyhow::bail!("rewrite is not built yet")
}
