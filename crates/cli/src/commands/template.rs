//! `acr-relocate template` (stub, being written).

/// Arguments of `acr-relocate template`.
#[derive(clap::Args)]
pub struct TemplateArgs {}

/// Runs `acr-relocate template`.
pub fn run(_args: TemplateArgs) -> anyhow::Result<u8> {
    anyhow::bail!("template is not built yet")
}
