//! Integration tests of `acr_template`, one binary: specifications on our fixtures, bad input,
//! and the golden/schema tests on the shared corpus (extra tier, `--ignored`).

mod bad_input;
mod chains;
mod copy_loops;
mod corpus;
mod identity_roles;
mod names;
mod private_endpoints;
mod replica_loops;
mod replicas;
mod roles;
mod rules;
mod scopes;
mod secrets;
mod settings;
mod util;
