//! Integration tests: the real `acr-relocate` binary against real Distribution registries
//! (`docker-registry`, one per test on 127.0.0.1 and an ephemeral port, with its own storage) and
//! OCI layouts on disk.

mod acr;
mod acr_locks;
mod apply_guard;
mod apply_interrupt;
mod auth;
mod auth_refusals;
mod azure_cp;
mod azure_errors;
mod azure_live;
mod azure_signin;
mod connections;
mod containers_auth;
mod copy;
mod cross_auth;
mod delete_source;
mod endpoint_forms;
mod errors;
mod fault_proxy;
mod faults;
mod hostile;
mod http_versions;
mod inventory;
mod layout;
mod layout_writers;
mod loopback;
mod mount_ignored;
mod passwords;
mod plan;
mod plan_errors;
mod plan_rewrite;
mod plan_template;
mod readme;
mod referrer_tags;
mod rewrite_files;
mod rewrite_target;
mod shards;
mod shared_tier;
mod source_gaps;
mod support;
mod template;
mod util;
mod verify;
mod wording;
