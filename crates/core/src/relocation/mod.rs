//! Relocating a whole registry as a reviewed plan: `plan` turns a config into [`plan::Plan`]
//! (steps, inventory totals, what each step changes; nothing written to either registry), `apply`
//! runs it step by step, recording progress in a [`journal::Journal`] so any interruption resumes
//! where it stopped, and `--shard K/N` splits the repositories among workers ([`shard`]) that share
//! nothing but the target registry.

pub mod journal;
pub mod plan;
pub mod scope;
pub mod shard;
