//! Finds and rewrites container image references in deployment files when a registry moves.
//!
//! `acr-relocate rewrite` points every image reference in Kubernetes manifests (YAML or JSON),
//! Helm values and `Chart.yaml` dependencies, Kustomize `images:`, Flux `oci://` sources and
//! `ImageRepository`s, Argo CD applications (Helm values, also inside the `helm.values` string,
//! and OCI chart sources) and Image Updater image lists, Tekton bundles and image parameters,
//! Dockerfiles, docker-compose files and Azure Pipelines / GitHub Actions / GitLab CI
//! pipelines at the new registry, including the pipeline variables and `.env` entries that name
//! the registry itself (by its login server or, for an Azure registry, its short name); every
//! other text file, every value that is not a reference and every comment is scanned for
//! mentions of the old one (and the Azure CLI and PowerShell commands, Terraform, Bicep and ARM
//! definitions naming it by its short name). Only the registry part of a
//! reference changes: the files are edited at the byte spans of the references, never
//! re-serialised, so comments, quoting, key order and indentation stay as they were.
//!
//! The pieces:
//! - [`Registry`] decides whether a reference names the old registry (exact host and port,
//!   `:443` being no port).
//! - [`classify`] tells the file kind from its name; [`discover`] walks directories honouring
//!   `.gitignore`, other files being [`FileKind::Text`].
//! - [`Rewriter::scan`] finds [`Reference`]s (rewritten) and [`Mention`]s (left alone, counted by
//!   `--check`) with their lines; a YAML file is read by a small span-keeping reader.
//! - [`Rewriter::plan`] builds a [`Plan`]: every reference resolved against the target through a
//!   [`TargetResolver`] before anything is written; [`Plan::write`] writes atomically
//!   (refusing, before writing anything, read-only files, files in read-only directories and
//!   files with several hard links, which [`Plan::write_with`] can write in place; see
//!   [`Plan::refusals`]), [`Plan::diff`] shows a unified diff. [`Rewriter::nothing_matched`]
//!   tells a plan that names neither registry (a misspelt old one) from a second run over files
//!   already rewritten, and says which registries the files reference instead.
//!
//! ```
//! use acr_rewrite::{FileKind, Options, Registry, Rewriter};
//! use std::path::Path;
//!
//! let rewriter = Rewriter::new(Options {
//!     from: Registry::parse("myreg.azurecr.io").unwrap(),
//!     to: Registry::parse("newreg.azurecr.io").unwrap(),
//!     pin_digests: false,
//! });
//! let text = "image: myreg.azurecr.io/app:1.0 # pinned\n";
//! let plan = rewriter.rewrite_text(Path::new("values.yaml"), FileKind::HelmValues, text).unwrap();
//! assert_eq!(plan.rewritten, "image: newreg.azurecr.io/app:1.0 # pinned\n");
//! ```

mod azcli;
mod bicep;
mod blocks;
mod classify;
mod diff;
mod dockerfile;
mod error;
mod extract;
mod fsio;
mod kustomize;
mod model;
mod plan;
mod printed;
mod registry;
mod rename;
mod terraform;
mod yaml;

pub use classify::{classify, FileKind};
pub use diff::unified_diff;
pub use error::Error;
pub use fsio::{
    discover, discover_paths, hard_links, write_atomically, write_in_place, Discovered,
};
pub use model::{Findings, Mention, MentionPlace, Reference, ReferenceKind};
pub use plan::{
    Encoding, FilePlan, Issue, NotParsed, NothingMatched, Options, Plan, Problem, Rewriter,
    TargetResolver, WriteOptions, WriteSummary,
};
pub use printed::{escape_controls, printable_line, redact_secrets, REDACTED};
pub use registry::Registry;
pub use rename::Renamer;
