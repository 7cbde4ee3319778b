//! The relocation config (what the user asks for, `relocation.toml`) and the plan (what `apply`
//! will do, `plan.json`): steps in order with their inputs, the inventory totals and what each
//! step changes. The format is described in `docs/relocate.md`.

use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::endpoint::Endpoint;
use crate::error::{Error, Result};
use crate::limit::MOST_AT_ONCE;

/// Version of the plan's JSON schema; `apply` refuses other versions.
pub const PLAN_SCHEMA_VERSION: u32 = 1;

/// `relocation.toml`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where the content is now.
    pub source: Side,
    /// Where it goes.
    pub target: Side,
    /// Which repositories and tags.
    #[serde(default)]
    pub scope: Scope,
    /// How content is copied.
    #[serde(default)]
    pub copy: CopyConfig,
    /// Rewrite the exported ARM template for the target (optional).
    pub template: Option<TemplateConfig>,
    /// Deploy the target registry from the template (optional; needs Azure).
    pub deploy: Option<DeployConfig>,
    /// Point deployment files at the target (optional).
    pub rewrite: Option<RewriteConfig>,
    /// Give AKS clusters pull access to the target (optional; needs Azure).
    pub attach_aks: Option<AttachAksConfig>,
    /// Give the target the source registry's role assignments (on by default when both sides
    /// name an `azure_resource_id`).
    pub roles: Option<RolesConfig>,
    /// Compare the two registries' Azure settings after the verify (on by default when both
    /// sides name an `azure_resource_id`).
    pub settings: Option<SettingsConfig>,
    /// Delete the source's content after the final verify (optional; keeps its own guard).
    pub delete_source: Option<DeleteSourceConfig>,
}

/// A registry, named as an endpoint, as an Azure resource ID, or both (the endpoint then names the
/// data plane, the ID the resource for the Azure steps).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Side {
    /// An endpoint as the CLI takes it: `myreg.azurecr.io`, `http://127.0.0.1:5000/prefix`,
    /// `oci:DIR`.
    pub registry: Option<String>,
    /// `/subscriptions/…/resourceGroups/…/providers/Microsoft.ContainerRegistry/registries/NAME`:
    /// the endpoint is `NAME.azurecr.io`.
    pub azure_resource_id: Option<String>,
}

impl Side {
    /// The endpoint text this side names.
    pub fn endpoint(&self, what: &str) -> Result<String> {
        if let Some(r) = &self.registry {
            refuse_skopeo_registry(what, r)?;
        }
        match (&self.registry, &self.azure_resource_id) {
            (Some(r), None) => Ok(r.clone()),
            (None, Some(id)) => login_server(id),
            // Both: the resource ID is for Azure (deploy, import), `registry` names the data
            // plane (a private endpoint's name, a proxy) instead of `NAME.azurecr.io`.
            (Some(r), Some(id)) => {
                login_server(id)?;
                Ok(r.clone())
            }
            (None, None) => Err(Error::Invalid {
                what: format!("[{what}]"),
                reason: "needs `registry` (an endpoint) or `azure_resource_id`".into(),
            }),
        }
    }
}

/// Refuses skopeo's `docker://HOST/PATH` in a config with the config's own words: `HOST` as the
/// registry and the repository in `[scope] repos` (a path after the host is a prefix here, and a
/// config has no `--repo`).
fn refuse_skopeo_registry(what: &str, registry: &str) -> Result<()> {
    let Some(rest) = registry
        .get(..9)
        .filter(|s| s.eq_ignore_ascii_case("docker://"))
        .map(|_| &registry[9..])
    else {
        return Ok(());
    };
    let rest = rest.split('@').next().unwrap_or(rest);
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let path = match path.rsplit_once('/') {
        Some((before, last)) => format!("{before}/{}", last.split(':').next().unwrap_or(last)),
        None => path.split(':').next().unwrap_or(path).to_string(),
    };
    let scope = match path.is_empty() {
        true => String::new(),
        false => format!(" and the repository under [scope]: repos = [\"{path}\"]"),
    };
    Err(Error::Invalid {
        what: format!("[{what}] registry `{}`", crate::digest::truncate(registry)),
        reason: format!("skopeo's `docker://` is a registry, written here without a scheme: write registry = \"{host}\" (\"http://{host}\" for plain HTTP){scope}; a path after the host would be a prefix of repositories"),
    })
}

/// The login server of an Azure Container Registry resource ID.
pub fn login_server(resource_id: &str) -> Result<String> {
    Ok(format!(
        "{}.azurecr.io",
        registry_name(resource_id)?.to_ascii_lowercase()
    ))
}

/// The registry's name, as the resource ID spells it, once the ID is checked to be an Azure
/// Container Registry's.
pub fn registry_name(resource_id: &str) -> Result<&str> {
    let parts: Vec<&str> = resource_id.trim_matches('/').split('/').collect();
    let bad = || {
        Error::Invalid {
        what: format!("azure_resource_id `{}`", crate::digest::truncate(resource_id)),
        reason: "expected /subscriptions/SUB/resourceGroups/RG/providers/Microsoft.ContainerRegistry/registries/NAME".into(),
    }
    };
    match parts.as_slice() {
        [s, _, g, _, p, ns, r, name]
            if s.eq_ignore_ascii_case("subscriptions")
                && g.eq_ignore_ascii_case("resourceGroups")
                && p.eq_ignore_ascii_case("providers")
                && ns.eq_ignore_ascii_case("Microsoft.ContainerRegistry")
                && r.eq_ignore_ascii_case("registries")
                && !name.is_empty()
                && name.bytes().all(|b| b.is_ascii_alphanumeric()) =>
        {
            Ok(name)
        }
        _ => Err(bad()),
    }
}

/// Repository and tag filters, as `--repo`, `--exclude-repo`, `--tag` and `--exclude-tag`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scope {
    /// Repository globs to include (all when empty).
    #[serde(default)]
    pub repos: Vec<String>,
    /// Repository globs to leave out.
    #[serde(default)]
    pub exclude_repos: Vec<String>,
    /// A regular expression every copied tag matches whole.
    pub tag: Option<String>,
    /// Regular expressions of tags to leave out (each matching whole tags).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude_tags: Vec<String>,
    /// Repository names changed on the way, `FROM=TO` as `--map` takes them
    /// ([`crate::rename::Renames`]): the copy, verify, rewrite and delete steps all follow them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub map: Vec<String>,
}

/// How content moves.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CopyMode {
    /// This tool copies blobs and manifests (available).
    #[default]
    Client,
    /// ACR server-side import: the target's `importImage` action (needs the target's
    /// `azure_resource_id`).
    Import,
}

/// `[copy]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CopyConfig {
    /// `client` (default) or `import`.
    #[serde(default)]
    pub mode: CopyMode,
    /// Blob transfers at once to start with (at least 1).
    #[serde(default = "default_jobs", deserialize_with = "at_least_one")]
    pub jobs: usize,
    /// Most blob transfers at once on slow links (default four times `jobs`; equal pins it).
    #[serde(default, deserialize_with = "at_most_most_at_once")]
    pub max_jobs: Option<usize>,
    /// Copy OCI 1.1 referrers.
    #[serde(default = "yes")]
    pub referrers: bool,
    /// Keep a target tag that holds another digest than the source's, as `copy
    /// --no-overwrite`: the copy step fails on it instead of overwriting it.
    #[serde(default)]
    pub no_overwrite: bool,
}

impl Default for CopyConfig {
    fn default() -> Self {
        CopyConfig {
            mode: CopyMode::Client,
            jobs: default_jobs(),
            max_jobs: None,
            referrers: true,
            no_overwrite: false,
        }
    }
}

fn default_jobs() -> usize {
    8
}

/// `jobs = 0` would copy nothing, more than [`MOST_AT_ONCE`] no registry serves: refused when
/// the config is read.
fn at_least_one<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<usize, D::Error> {
    match <usize as Deserialize>::deserialize(deserializer)? {
        0 => Err(serde::de::Error::custom(
            "0 would copy nothing: give at least 1",
        )),
        n => at_most(n).map_err(serde::de::Error::custom),
    }
}

/// `max_jobs`, when given, at most [`MOST_AT_ONCE`].
fn at_most_most_at_once<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<usize>, D::Error> {
    match <Option<usize> as Deserialize>::deserialize(deserializer)? {
        Some(n) => at_most(n).map(Some).map_err(serde::de::Error::custom),
        None => Ok(None),
    }
}

/// `n` when a registry could serve that many at once.
fn at_most(n: usize) -> std::result::Result<usize, String> {
    if n > MOST_AT_ONCE {
        return Err(format!(
            "{n} at once is more than any registry serves one client: give at most {MOST_AT_ONCE}"
        ));
    }
    Ok(n)
}

fn yes() -> bool {
    true
}

/// `[template]`: paths are relative to the config file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateConfig {
    /// The exported template (template.json, the portal's .zip, or an exportTemplate response).
    pub input: PathBuf,
    /// Its parameters file, if separate.
    pub parameters: Option<PathBuf>,
    /// The new registry name.
    pub name: String,
    /// The target region.
    pub location: String,
    /// Where the rewritten template is written.
    pub output: PathBuf,
    /// Subnet resource ids in the target region for the network rules (`--subnet`).
    #[serde(default, alias = "subnet")]
    pub subnets: Vec<String>,
    /// Regions to add replications in (`--replication`).
    #[serde(default, alias = "replication")]
    pub replications: Vec<String>,
    /// Regions whose replications are removed (`--drop-replication`).
    #[serde(default, alias = "drop_replication")]
    pub drop_replications: Vec<String>,
    /// Key Vault key URI for the customer-managed key in the target (`--key-uri`).
    pub key_uri: Option<String>,
    /// Resource id of the user-assigned identity that reads the key (`--identity`).
    pub identity: Option<String>,
    /// Which registry, when the template defines several (`--only`).
    pub only: Option<String>,
    /// A subnet in the target region for the new registry's private endpoint, added to the
    /// template (`--private-endpoint`).
    pub private_endpoint_subnet: Option<String>,
    /// The `privatelink.azurecr.io` zone that endpoint writes its records into
    /// (`--private-dns-zone`).
    pub private_dns_zone: Option<String>,
}

/// `[deploy]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeployConfig {
    /// The resource group to deploy the template into (created when missing).
    pub resource_group: Option<String>,
    /// The subscription (default: the target's `azure_resource_id`'s).
    pub subscription: Option<String>,
    /// Region of a new resource group (default: `[template] location`).
    pub location: Option<String>,
    /// The template to deploy (default: `[template] output`), relative to the config file.
    pub template: Option<PathBuf>,
    /// An ARM parameters file, relative to the config file.
    pub parameters: Option<PathBuf>,
    /// Deployment name (default `acr-relocate`).
    pub name: Option<String>,
}

/// `[rewrite]`: paths are relative to the config file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RewriteConfig {
    /// Files and directories to rewrite.
    pub paths: Vec<PathBuf>,
    /// The login server references point at now (default: the source's host).
    pub from: Option<String>,
    /// The login server they should point at (default: the target's host).
    pub to: Option<String>,
    /// The registry references are checked against (default: the target endpoint).
    pub check_against: Option<String>,
    /// Replace tags by the target's digests.
    #[serde(default)]
    pub pin_digests: bool,
    /// Write files with several hard links in place (so every name sees the rewrite) instead of
    /// refusing them, as `rewrite --in-place-hard-links` does.
    #[serde(default)]
    pub in_place_hard_links: bool,
    /// Let the rewrite step be done while the files still mention the old registry where it
    /// cannot rewrite them safely (listed in the plan), in a plan that deletes the source:
    /// without it the step fails until they are pointed at the new registry by hand.
    #[serde(default)]
    pub accept_mentions: bool,
}

/// `[attach_aks]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttachAksConfig {
    /// Resource IDs of the AKS clusters whose kubelet identity gets `AcrPull` on the target
    /// (as `azure attach-aks`).
    pub clusters: Vec<String>,
}

/// `[roles]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RolesConfig {
    /// False leaves the step out of the plan.
    #[serde(default = "yes")]
    pub copy: bool,
    /// Also give, on the target registry, the roles the source inherits from a scope the target
    /// is not under (as `azure roles --include-inherited`).
    #[serde(default)]
    pub include_inherited: bool,
}

/// `[settings]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettingsConfig {
    /// False leaves the comparison out of the plan.
    #[serde(default = "yes")]
    pub compare: bool,
    /// Settings allowed to differ (as `azure settings --expect`): `sku`, `replications`, ….
    #[serde(default)]
    pub expect: Vec<String>,
}

/// `[delete_source]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeleteSourceConfig {
    /// The source endpoint, repeated exactly (as `delete-source --confirm`).
    pub confirm: String,
    /// Trust the target's storage: the step's own deep verify checks blobs by existence and size
    /// only, without reading their content (as `delete-source --skip-content-check`).
    #[serde(default)]
    pub skip_content_check: bool,
    /// Delete the source registry's Azure resource (as `azure delete`) instead of its manifests:
    /// needs `[source] azure_resource_id` and a `[scope]` that selects the whole registry.
    #[serde(default)]
    pub registry_resource: bool,
}

/// `plan.json`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Plan {
    /// [`PLAN_SCHEMA_VERSION`].
    pub schema_version: u32,
    /// The tool and version that wrote it.
    pub created_by: String,
    /// The config it was made from.
    pub config: PathBuf,
    /// Source endpoint.
    pub source: String,
    /// Target endpoint.
    pub target: String,
    /// Filters.
    pub scope: Scope,
    /// Inventory totals and the time estimate.
    pub totals: Totals,
    /// Every selected repository with its size (shards are balanced on these).
    pub repositories: Vec<PlanRepository>,
    /// The steps, in order.
    pub steps: Vec<Step>,
    /// What the inventory could not read.
    #[serde(default)]
    pub warnings: Vec<String>,
}

/// Inventory totals of the selection.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Totals {
    /// Repositories.
    pub repositories: u64,
    /// Tags.
    pub tags: u64,
    /// Bytes of distinct blobs.
    pub unique_bytes: u64,
    /// Bytes of blobs shared by several repositories (counted once).
    pub shared_bytes: u64,
    /// Read rate from the source measured while planning, bytes per second.
    pub measured_bytes_per_second: Option<f64>,
    /// Bytes the rate was measured on.
    pub measured_on_bytes: u64,
    /// `unique_bytes` at the measured rate, seconds.
    pub estimated_seconds: Option<f64>,
}

/// A repository of the plan.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PlanRepository {
    /// Name relative to the prefixes.
    pub name: String,
    /// Selected tags.
    pub tags: u64,
    /// Bytes of its blobs (shared ones included).
    pub bytes: u64,
}

/// One step of a plan.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Step {
    /// `INDEX-KIND`, the key of the journal's records.
    pub id: String,
    /// What it does, with its inputs.
    #[serde(flatten)]
    pub kind: StepKind,
    /// False when this build cannot run it (`apply` refuses the plan).
    pub available: bool,
    /// What it will change, in a sentence.
    pub changes: String,
}

/// A template finding, as planned.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PlanFinding {
    /// `blocking`, `warning`, `info`.
    pub severity: String,
    /// Rule id.
    pub rule_id: String,
    /// Where in the template (a JSON pointer; empty in plans written before it was recorded).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub path: String,
    /// What is the matter (in plans written before `fix` was recorded: and what to do).
    pub message: String,
    /// What to do.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub fix: String,
}

/// A tag of the target that holds another digest than the source's tag of that name: the copy
/// overwrites it (or, with `no_overwrite`, keeps it and fails on it). Found while planning, in the
/// repositories the target already has.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanOverwrite {
    /// `REPOSITORY:TAG`, named as in the target.
    pub item: String,
    /// The digest the target's tag holds.
    pub target_has: String,
    /// The digest of the source's tag.
    pub source: String,
}

/// A mention of the old registry in a deployment file that the rewrite leaves alone (it cannot
/// rewrite it safely: a script, a value naming the registry alone, a comment), as planned.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanMention {
    /// The file (absolute).
    pub path: PathBuf,
    /// 1-based line.
    pub line: usize,
    /// The line, trimmed, its secrets hidden (`***`) and its control characters escaped.
    pub text: String,
    /// Why it is left alone, when there is more to say than its place.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// `FILE:LINE: TEXT (NOTE)`, the file name's control characters escaped (the text and note come
/// escaped from the scan).
impl std::fmt::Display for PlanMention {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let path = self.path.display().to_string();
        write!(
            f,
            "{}:{}: {}",
            crate::log::printable(&path),
            self.line,
            self.text
        )?;
        if let Some(note) = &self.note {
            write!(f, " ({note})")?;
        }
        Ok(())
    }
}

/// The kinds of steps.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum StepKind {
    /// Re-read the source's inventory (written next to the plan).
    Inventory,
    /// Rewrite the exported ARM template.
    Template {
        /// Input (absolute).
        input: PathBuf,
        /// Parameters file (absolute).
        parameters: Option<PathBuf>,
        /// New name.
        name: String,
        /// Region.
        location: String,
        /// Output (absolute).
        output: PathBuf,
        /// Target subnets for the network rules (absent in plans written before: none).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        subnets: Vec<String>,
        /// Regions to add replications in.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        replications: Vec<String>,
        /// Regions whose replications are removed.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        drop_replications: Vec<String>,
        /// Key Vault key URI for the customer-managed key in the target.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        key_uri: Option<String>,
        /// The user-assigned identity that reads the key.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        identity: Option<String>,
        /// Which registry, when the template defines several.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        only: Option<String>,
        /// The subnet of the private endpoint added for the new registry.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        private_endpoint_subnet: Option<String>,
        /// The private DNS zone that endpoint writes its records into.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        private_dns_zone: Option<String>,
        /// Findings at planning time.
        findings: Vec<PlanFinding>,
    },
    /// Deploy the rewritten template through Azure Resource Manager.
    Deploy {
        /// Resource group.
        resource_group: Option<String>,
        /// Subscription.
        #[serde(default)]
        subscription: Option<String>,
        /// Region of a new resource group.
        #[serde(default)]
        location: Option<String>,
        /// The template (absolute).
        #[serde(default)]
        template: Option<PathBuf>,
        /// Parameters file (absolute).
        #[serde(default)]
        parameters: Option<PathBuf>,
        /// Deployment name.
        #[serde(default)]
        name: Option<String>,
    },
    /// Copy every selected repository.
    Copy {
        /// Client copy or server-side import.
        mode: CopyMode,
        /// For import: the target registry's resource ID.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        target_id: Option<String>,
        /// For import: the source registry's resource ID (else it is named by its host).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        source_id: Option<String>,
        /// Blob transfers at once to start with.
        jobs: usize,
        /// Most blob transfers at once (absent: four times `jobs`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max_jobs: Option<usize>,
        /// Copy referrers.
        referrers: bool,
        /// Keep target tags that hold another digest and fail on them (absent in plans written
        /// before the key existed: they are overwritten).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        no_overwrite: bool,
        /// The target's tags that hold another digest than the source's, as found while
        /// planning.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        overwrites: Vec<PlanOverwrite>,
    },
    /// Rewrite image references in deployment files.
    Rewrite {
        /// Files and directories (absolute).
        paths: Vec<PathBuf>,
        /// Old login server.
        from: String,
        /// New login server.
        to: String,
        /// Registry the references are checked against.
        check_against: String,
        /// Pin digests.
        pin_digests: bool,
        /// Write files with several hard links in place instead of refusing them (absent in
        /// plans written before the key existed: refused).
        #[serde(default)]
        in_place_hard_links: bool,
        /// Files that will change (as scanned while planning).
        files: usize,
        /// References that will change.
        references: usize,
        /// Mentions of the old registry the rewrite leaves alone (as scanned while planning).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        mentions: Vec<PlanMention>,
        /// The step is done while mentions of the source remain, in a plan that deletes it
        /// (absent in plans written before the key existed: it fails on them).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        accept_mentions: bool,
    },
    /// Deep verify of the target against the source.
    Verify {
        /// Always true in a plan.
        deep: bool,
    },
    /// Give AKS clusters' kubelet identities `AcrPull` on the target registry.
    AttachAks {
        /// The clusters' resource IDs.
        clusters: Vec<String>,
        /// The target registry's resource ID (absent: the step is not available).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        registry_id: Option<String>,
    },
    /// Give the target registry the source registry's role assignments (as `azure roles`).
    Roles {
        /// The source registry's resource ID.
        source_id: String,
        /// The target registry's resource ID.
        target_id: String,
        /// Also the roles inherited from a scope the target is not under.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        include_inherited: bool,
    },
    /// Compare the two registries' Azure settings; a difference not expected fails the step.
    Settings {
        /// The source registry's resource ID.
        source_id: String,
        /// The target registry's resource ID.
        target_id: String,
        /// Settings allowed to differ.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        expect: Vec<String>,
    },
    /// Delete the source's content (only when the config asks; keeps its own guard).
    DeleteSource {
        /// The confirmation, as `--confirm`.
        confirm: String,
        /// Its own deep verify checks blobs by existence and size only, as
        /// `--skip-content-check` (absent, as in plans written before the key existed: every
        /// blob's content is read and checked).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        skip_content_check: bool,
        /// The source registry's resource ID, when the step deletes the Azure resource (after a
        /// deep verify of the whole registry) instead of the selected manifests.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        registry_resource: Option<String>,
    },
}

/// The steps' short names ([`StepKind::name`]) in the order a plan holds them.
pub const STEP_ORDER: [&str; 10] = [
    "inventory",
    "template",
    "deploy",
    "copy",
    "attach_aks",
    "roles",
    "rewrite",
    "verify",
    "settings",
    "delete_source",
];

impl StepKind {
    /// The short name (`copy`, `verify`, …).
    pub fn name(&self) -> &'static str {
        match self {
            StepKind::Inventory => "inventory",
            StepKind::Template { .. } => "template",
            StepKind::Deploy { .. } => "deploy",
            StepKind::Copy { .. } => "copy",
            StepKind::Rewrite { .. } => "rewrite",
            StepKind::Verify { .. } => "verify",
            StepKind::AttachAks { .. } => "attach_aks",
            StepKind::Roles { .. } => "roles",
            StepKind::Settings { .. } => "settings",
            StepKind::DeleteSource { .. } => "delete_source",
        }
    }

    /// True for steps that work repository by repository (split by `--shard`); the others run
    /// once, in the unsharded run.
    pub fn per_repository(&self) -> bool {
        matches!(self, StepKind::Copy { .. } | StepKind::Verify { .. })
    }
}

impl Plan {
    /// Reads a plan file's text, refusing other schema versions.
    pub fn parse(text: &[u8]) -> Result<Plan> {
        let plan: Plan = serde_json::from_slice(text).map_err(|e| Error::Invalid {
            what: "plan".into(),
            reason: format!("not a plan written by `acr-relocate plan`: {e}"),
        })?;
        if plan.schema_version != PLAN_SCHEMA_VERSION {
            return Err(Error::Invalid {
                what: "plan".into(),
                reason: format!(
                    "schema version {} (this build reads {PLAN_SCHEMA_VERSION}): plan again",
                    plan.schema_version
                ),
            });
        }
        Ok(plan)
    }
}

/// `endpoint` with a relative `oci:`/`oci-archive:` path made absolute against `base` (the config
/// file's directory), so the plan reads the same from any working directory. Registries, and
/// text that is not an endpoint, are returned as they are.
pub fn absolute_endpoint(endpoint: &str, base: &Path) -> String {
    let absolute = |p: &Path| normalize(&base.join(p));
    match endpoint.parse::<Endpoint>() {
        Ok(Endpoint::Layout(p)) if p.is_relative() => Endpoint::Layout(absolute(&p)).to_string(),
        Ok(Endpoint::Archive(p)) if p.is_relative() => Endpoint::Archive(absolute(&p)).to_string(),
        _ => endpoint.to_string(),
    }
}

/// `path` without `.` components and with each `..` taking off the component before it.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push(component);
                }
            }
            other => out.push(other),
        }
    }
    out
}

/// Refuses the sides no run of a plan can use: a source and a target that are the same registry
/// (repositories in common, as [`crate::endpoint::RegistryEndpoint::overlaps`] says) or the same
/// layout; and a `[delete_source]` (its `confirm` and, when it deletes the Azure resource, that
/// resource's ID) whose source is not a registry, or whose `confirm` does not repeat the source
/// exactly (the registry's name, as `azure delete --confirm`, when it deletes the resource).
/// `source` and `target` as the plan stores them.
pub fn check_sides(
    source: &str,
    target: &str,
    delete_confirm: Option<(&str, Option<&str>)>,
) -> Result<()> {
    let source_ep: Endpoint = source.parse()?;
    let target_ep: Endpoint = target.parse()?;
    let same = match (&source_ep, &target_ep) {
        // A plan that deletes the source takes every address of this machine for one registry,
        // as `delete-source` does; one that copies tells 127.0.0.1 from 127.0.0.2, as `copy` does.
        (Endpoint::Registry(s), Endpoint::Registry(t)) if delete_confirm.is_some() => s.overlaps(t),
        (Endpoint::Registry(s), Endpoint::Registry(t)) => {
            s.address_key() == t.address_key() && s.prefixes_overlap(t)
        }
        (Endpoint::Layout(s), Endpoint::Layout(t))
        | (Endpoint::Archive(s), Endpoint::Archive(t)) => same_path(s, t),
        _ => false,
    };
    if same {
        return Err(Error::Invalid {
            what: format!("[source] `{source}` and [target] `{target}`"),
            reason: "they name the same registry (repositories in common): give the target another registry, or a prefix that does not contain the source's".into(),
        });
    }
    if let Some((confirm, registry_resource)) = delete_confirm {
        if !matches!(source_ep, Endpoint::Registry(_)) {
            return Err(Error::Invalid {
                what: "[delete_source]".into(),
                reason: format!("the source `{source}` is not a registry and only registries are deleted from: take [delete_source] out (remove the files yourself once the verify passes)"),
            });
        }
        match registry_resource {
            // The resource deleted is named by its ID, which the verify's endpoint may not show
            // (a proxy, a private name): the confirmation names the resource.
            Some(id) => {
                let name = registry_name(id)?;
                if !confirm.eq_ignore_ascii_case(name) {
                    return Err(Error::Invalid {
                        what: format!("[delete_source] confirm `{}`", crate::endpoint::hide_user_info(confirm)),
                        reason: format!("registry_resource = true deletes the Azure registry `{name}` ([source] azure_resource_id): write confirm = \"{name}\" if that registry is to be deleted"),
                    });
                }
            }
            None if confirm != source => {
                return Err(Error::Invalid {
                    what: format!("[delete_source] confirm `{}`", crate::endpoint::hide_user_info(confirm)),
                    reason: format!("does not repeat the source `{source}` exactly: write confirm = \"{source}\" if the source is to be deleted"),
                });
            }
            None => {}
        }
    }
    Ok(())
}

/// True when both paths name the same file (or would, once created).
fn same_path(a: &Path, b: &Path) -> bool {
    let resolve = |p: &Path| p.canonicalize().unwrap_or_else(|_| normalize(p));
    resolve(a) == resolve(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_ids_name_their_login_server() {
        assert_eq!(
            login_server("/subscriptions/0000/resourceGroups/rg-1/providers/Microsoft.ContainerRegistry/registries/MyReg").unwrap(),
            "myreg.azurecr.io"
        );
        assert!(login_server(
            "/subscriptions/0000/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/x"
        )
        .is_err());
    }

    #[test]
    fn a_plan_round_trips_through_json() {
        let plan = Plan {
            schema_version: PLAN_SCHEMA_VERSION,
            created_by: "test".into(),
            config: "relocation.toml".into(),
            source: "a.example.com".into(),
            target: "b.example.com".into(),
            scope: Scope::default(),
            totals: Totals::default(),
            repositories: vec![],
            steps: vec![Step {
                id: "1-verify".into(),
                kind: StepKind::Verify { deep: true },
                available: true,
                changes: "nothing".into(),
            }],
            warnings: vec![],
        };
        let text = serde_json::to_vec(&plan).unwrap();
        let back = Plan::parse(&text).unwrap();
        assert_eq!(back.steps[0].kind.name(), "verify");
    }

    #[test]
    fn a_rewrite_step_planned_before_in_place_hard_links_existed_refuses_hard_linked_files() {
        let step: Step = serde_json::from_str(
            r#"{"id":"3-rewrite","kind":"rewrite","paths":["/d"],"from":"a.io","to":"b.io","check_against":"b.io","pin_digests":false,"files":1,"references":1,"available":true,"changes":"x"}"#,
        )
        .unwrap();
        assert!(matches!(
            step.kind,
            StepKind::Rewrite {
                in_place_hard_links: false,
                ..
            }
        ));
    }

    #[test]
    fn steps_planned_before_no_overwrite_and_mentions_existed_read_and_write_back_unchanged() {
        let copy = r#"{"id":"2-copy","kind":"copy","mode":"client","jobs":8,"referrers":true,"available":true,"changes":"x"}"#;
        let step: Step = serde_json::from_str(copy).unwrap();
        assert!(matches!(
            &step.kind,
            StepKind::Copy {
                no_overwrite: false,
                overwrites,
                ..
            } if overwrites.is_empty()
        ));
        assert_eq!(serde_json::to_string(&step).unwrap(), copy);
        let rewrite = r#"{"id":"3-rewrite","kind":"rewrite","paths":["/d"],"from":"a.io","to":"b.io","check_against":"b.io","pin_digests":false,"in_place_hard_links":false,"files":1,"references":1,"available":true,"changes":"x"}"#;
        let step: Step = serde_json::from_str(rewrite).unwrap();
        assert!(matches!(
            &step.kind,
            StepKind::Rewrite {
                accept_mentions: false,
                mentions,
                ..
            } if mentions.is_empty()
        ));
        assert_eq!(serde_json::to_string(&step).unwrap(), rewrite);
        let mention = PlanMention {
            path: "/d/run\u{1b}.sh".into(),
            line: 2,
            text: "docker pull a.io/x:1".into(),
            note: Some("a script".into()),
        };
        assert_eq!(
            mention.to_string(),
            "/d/run\\u{1b}.sh:2: docker pull a.io/x:1 (a script)"
        );
    }

    #[test]
    fn a_delete_source_step_planned_before_skip_content_check_existed_checks_content() {
        let old = r#"{"id":"6-delete_source","kind":"delete_source","confirm":"a.io","available":true,"changes":"x"}"#;
        let step: Step = serde_json::from_str(old).unwrap();
        assert!(matches!(
            step.kind,
            StepKind::DeleteSource {
                skip_content_check: false,
                ..
            }
        ));
        // Written back unchanged: the key appears only when it is true.
        assert_eq!(serde_json::to_string(&step).unwrap(), old);
        let skipping = Step {
            kind: StepKind::DeleteSource {
                confirm: "a.io".into(),
                skip_content_check: true,
                registry_resource: None,
            },
            ..step
        };
        assert!(serde_json::to_string(&skipping)
            .unwrap()
            .contains(r#""skip_content_check":true"#));
    }

    #[test]
    fn relative_layout_paths_are_made_absolute_against_the_config_directory() {
        let base = Path::new("/work/conf");
        assert_eq!(absolute_endpoint("oci:out2", base), "oci:/work/conf/out2");
        assert_eq!(
            absolute_endpoint("oci-archive:../export.tar.gz", base),
            "oci-archive:/work/export.tar.gz"
        );
        assert_eq!(absolute_endpoint("oci:/data/x", base), "oci:/data/x");
        assert_eq!(
            absolute_endpoint("http://127.0.0.1:5000/p", base),
            "http://127.0.0.1:5000/p"
        );
    }

    #[test]
    fn sides_that_are_one_registry_or_a_confirm_that_differs_are_refused() {
        let ok = check_sides(
            "reg.example.com",
            "new.example.com",
            Some(("reg.example.com", None)),
        );
        assert!(ok.is_ok(), "{ok:?}");
        assert!(check_sides("reg.example.com/a", "reg.example.com/b", None).is_ok());
        for (source, target) in [
            ("reg.example.com", "reg.example.com"),
            ("REG.example.com:443", "reg.example.com/mirror"),
            ("oci:/data/x", "oci:/data/./x"),
        ] {
            let e = check_sides(source, target, None).unwrap_err().to_string();
            assert!(e.contains("the same registry"), "{source} {target}: {e}");
        }
        let e = check_sides(
            "reg.example.com",
            "new.example.com",
            Some(("other.example.com", None)),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("[delete_source] confirm `other.example.com`: does not repeat the source `reg.example.com`"),
            "{e}"
        );
        let e = check_sides(
            "oci:/data/x",
            "new.example.com",
            Some(("oci:/data/x", None)),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("not a registry"), "{e}");
        // Two loopback addresses on one port (tunnels to two registries) are two registries to
        // copy between; a plan that deletes the source takes them for one, as delete-source does.
        assert!(check_sides("http://127.0.0.1:5000", "http://127.0.0.2:5000", None).is_ok());
        assert!(check_sides("http://localhost:5000", "http://127.0.0.1:5000", None).is_err());
        let e = check_sides(
            "http://127.0.0.1:5000",
            "http://127.0.0.2:5000",
            Some(("http://127.0.0.1:5000", None)),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("the same registry"), "{e}");
        // Deleting the Azure resource: the confirmation is the registry's name, whatever
        // endpoint the verify reads.
        let id = "/subscriptions/s/resourceGroups/g/providers/Microsoft.ContainerRegistry/registries/Payments";
        assert!(check_sides(
            "proxy.example.com",
            "new.example.com",
            Some(("payments", Some(id)))
        )
        .is_ok());
        let e = check_sides(
            "proxy.example.com",
            "new.example.com",
            Some(("proxy.example.com", Some(id))),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("deletes the Azure registry `Payments`")
                && e.contains("confirm = \"Payments\""),
            "{e}"
        );
    }
}
