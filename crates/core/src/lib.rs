//! The domain of acr-relocate: moving the content of a container registry somewhere else with
//! nothing lost.
//!
//! - [`endpoint`]: what the user names as a source or target (`host[:port][/prefix]`, `http://…`,
//!   `oci:DIR`).
//! - [`digest`] and [`manifest`]: content addresses and raw manifests (bytes travel untouched; parsed
//!   views are only for reading).
//! - [`transport`]: where content lives, behind the [`transport::Source`] and
//!   [`transport::Destination`] traits: an OCI Distribution registry over HTTP, or an OCI image layout
//!   on disk.
//! - [`walk`]: listing with filters and prefixes, shared by copy, inventory and verify;
//!   [`rename`]: repository names changed on the way (`--map`).
//! - [`graph`]: the one manifest-graph walker (visitor hooks) shared by copy, inventory and verify.
//! - [`copy`], [`inventory`], [`verify`]: the jobs.
//! - [`referrers`]: the referrers fallback tags (`sha256-<hex>`) of registries without the referrers
//!   API, and how two writers of one agree.
//! - [`limit`]: concurrency limits that adapt while a run goes on (to round trips, to throttling).
//! - [`relocation`]: plans, the journal of `apply`, and shards.
//! - [`retain`]: what a deletion of selected manifests must keep (`delete-source`).
//! - [`azure_ad`]: signing in to ACR with an Azure AD identity (the token source is plugged in).

#![warn(missing_docs)]

pub mod azure_ad;
pub mod copy;
pub mod credentials;
pub mod digest;
pub mod endpoint;
pub mod error;
mod go_json;
pub mod graph;
pub mod inventory;
pub mod leftovers;
pub mod limit;
pub mod log;
pub mod manifest;
pub mod referrers;
pub mod relocation;
pub mod rename;
pub mod retain;
pub mod sample;
pub mod secret;
pub mod transport;
pub mod verify;
pub mod walk;

pub use error::{Error, Result};
