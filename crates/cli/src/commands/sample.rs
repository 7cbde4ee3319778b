//! `acr-relocate sample TARGET`: writes deterministic demo content (the committed sample layout
//! is made with it; see `scripts/make-sample.sh`).

use acr_relocate::copy::Interrupt;
use acr_relocate::transport::{self, archive, Access, Destination};

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

/// What a signal that stops `sample` before its end means.
const STOPPED: &str = "stopping: what was written stays consistent (a tag is written after everything it names; a layout lists only tags whose content is complete, an archive is left as it was): run the same command again to write it all";

/// Runs `acr-relocate sample`. Ctrl-C (SIGINT), SIGTERM or SIGHUP stops the writing (exit 130, 143 or 129);
/// one that comes while an archive is packed lets the packing finish, and a second stops it.
pub fn run(args: SampleArgs) -> anyhow::Result<u8> {
    crate::runtime()?.block_on(async {
        let interrupt = Interrupt::default();
        crate::interrupt::watch("sample", STOPPED, {
            let interrupt = interrupt.clone();
            move || interrupt.trigger()
        });
        let ep = args::endpoint(&args.target, "TARGET")?;
        let options = args.connect.options()?;
        let opened = transport::open(&ep, Access::Write, &options);
        let store = tokio::select! {
            store = opened => store?,
            _ = interrupt.clone().wait() => return Ok(crate::interrupt::exit_code(exit::INTERRUPTED)),
        };
        let target: &dyn Destination = store.as_ref();
        // Under the registry endpoint's prefix, as a copy to it would write.
        let prefix = match &ep {
            acr_relocate::endpoint::Endpoint::Registry(r) => r.prefix.clone(),
            _ => None,
        };
        let written =
            acr_relocate::sample::write_under(target, prefix.as_deref(), args.repos, args.seed);
        tokio::pin!(written);
        let expected = tokio::select! {
            expected = &mut written => expected,
            // As the watch decided and said at the signal.
            _ = interrupt.clone().wait() => match crate::interrupt::finishing_an_archive() {
                // The content is written but for the archive's packing: finished, unless a
                // second signal stops it (said by the watch).
                true => written.await,
                false => {
                    // A packing that was just starting stops, the archive left as it was,
                    // unless it was already in place.
                    if let Some(archive) = archive::stop_packing() {
                        eprintln!(
                            "sample: the archive {} was complete and is written",
                            archive.display()
                        );
                    }
                    return Ok(crate::interrupt::exit_code(exit::INTERRUPTED));
                }
            },
        };
        let expected = match expected {
            Ok(expected) => expected,
            // Stopped by a second signal while the archive was packed (the error says how).
            Err(e) if interrupt.is_triggered() => {
                eprintln!("sample: {}", exit::one_line(&e.into()));
                return Ok(crate::interrupt::exit_code(exit::INTERRUPTED));
            }
            Err(e) => return Err(e.into()),
        };
        // A registry without the referrers API lists them under their subject's fallback tag.
        let referrers = expected.referrers.len();
        println!(
            "sample: {} repositories, {} tags, {} blobs ({} bytes) and {referrers} referrers (under `sha256-<hex>` tags where the registry has no referrers API) written to {ep}",
            expected.tags.len(),
            expected.tag_count(),
            expected.blobs.len(),
            expected.unique_bytes()
        );
        // A signal while the archive was packed: the run is complete, and says it was stopped.
        Ok(match interrupt.is_triggered() {
            true => crate::interrupt::exit_code(exit::INTERRUPTED),
            false => exit::SUCCESS,
        })
    })
}
