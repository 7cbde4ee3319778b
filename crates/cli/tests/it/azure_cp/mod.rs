//! Extra tier: the Azure control-plane commands (`acr-relocate azure ...`, `copy --mode import`)
//! against Microsoft's official OpenAPI specs (`../shared/specs/azure/`), with no Azure account.
//!
//! ```text
//! acr-relocate ──https──▶ aad (ours, TLS, POST /{tenant}/oauth2/v2.0/token)
//!      │
//!      └──http──▶ router ──▶ prism proxy --errors (one per spec) ──▶ fake ARM (stateful)
//!                   │                                                   ▲
//!                   └──── operation polls (…/operationStatuses/{id}) ───┘
//! ```
//!
//! Each request the tool sends must pass Prism's validation against its spec, and each answer of
//! the fake must too; [`harness::AzureEnv::finish`] fails a test on any violation logged.
//! Credentials come from the environment-based service principal (`AZURE_TENANT_ID`,
//! `AZURE_CLIENT_ID`, `AZURE_CLIENT_SECRET`, `AZURE_AUTHORITY_HOST`), the test CA from
//! `SSL_CERT_FILE`.

pub mod aad;
pub mod fake;
pub mod harness;
pub mod prism;
pub mod router;

mod export_complete;
mod export_deploy;
mod import;
mod input;
mod registries;
mod relocation;
mod selftest;
