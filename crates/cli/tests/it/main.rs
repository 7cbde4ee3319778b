//! Integration tests: the real `acr-relocate` binary against real Distribution registries
//! (`docker-registry`, one per test on 127.0.0.1 and an ephemeral port, with its own storage) and
//! OCI layouts on disk.

mod copy;
mod errors;
mod inventory;
mod layout;
mod shared_tier;
mod util;
mod verify;
