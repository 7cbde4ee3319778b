//! One module per verb; each exposes `XxxArgs` (clap) and `run(args) -> anyhow::Result<u8>`.

pub mod apply;
pub mod azure;
pub mod copy;
pub mod delete_source;
pub mod inventory;
pub mod plan;
pub mod rewrite;
pub mod sample;
pub mod template;
pub mod verify;
