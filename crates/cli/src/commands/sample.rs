//! `acr-relocate sample TARGET`: writes deterministic demo content (the committed sample layout
//! is made with it; see `scripts/make-sample.sh`).

use acr_relocate::transport::{self, Access, Destination};

use crate::args::{self, TargetConnectArgs};
use crate::exit;

/// Arguments of `acr-relocate sample`.
#[derive(clap::Args, Debug)]
pub struct SampleArgs {
    /// Where to write: a registry (`host/prefix` writes every repository under the prefix),
    /// `oci:DIR` or `oci-archive:FILE`.
    pub target: String,
    /// Image repositories to create (two chart repositories come on top).
    #[arg(long, default_value_t = 12)]
    pub repos: usize,
    /// Seed: the same seed gives the same digests.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    #[command(flatten)]
    pub connect: TargetConnectArgs,
}

/// Runs `acr-relocate sample`.
pub fn run(args: SampleArgs) -> anyhow::Result<u8> {
    crate::runtime()?.block_on(async {
        let ep = args::endpoint(&args.target, "TARGET")?;
        let store = transport::open(&ep, Access::Write, &args.connect.options()?).await?;
        let target: &dyn Destination = store.as_ref();
        // Under the registry endpoint's prefix, as a copy to it would write.
        let prefix = match &ep {
            acr_relocate::endpoint::Endpoint::Registry(r) => r.prefix.clone(),
            _ => None,
        };
        let expected =
            acr_relocate::sample::write_under(target, prefix.as_deref(), args.repos, args.seed)
                .await?;
        // A registry without the referrers API lists them under their subject's fallback tag.
        let referrers = expected.referrers.len();
        println!(
            "sample: {} repositories, {} tags, {} blobs ({} bytes) and {referrers} referrers (under `sha256-<hex>` tags where the registry has no referrers API) written to {ep}",
            expected.tags.len(),
            expected.tag_count(),
            expected.blobs.len(),
            expected.unique_bytes()
        );
        Ok(exit::SUCCESS)
    })
}
