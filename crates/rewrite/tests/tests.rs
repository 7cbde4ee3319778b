//! Integration tests of `acr_rewrite`, one binary: golden pairs, the plan/write/resolver
//! behaviour, and the directory walk.

mod golden;
mod kustomize;
mod migration_shapes;
mod plan;
mod refusals;
mod renames;
mod scanning;
mod untrusted;
mod util;
