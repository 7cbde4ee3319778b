//! Rewrites an exported ARM template of an Azure Container Registry for its new home.
//!
//! Pure: text in, text and findings out. No network, no file system (the CLI reads and writes).
//!
//! # What it does
//!
//! [`rewrite_template`] takes a template (the portal's "Export template" `template.json`, with
//! its `parameters.json` if any, the body of the resource-group `exportTemplate` API, or a
//! hand-written template; see [`TemplateInput::from_bytes`] for the `.zip`) and:
//!
//! - finds the one `Microsoft.ContainerRegistry/registries` resource (top level, nested, in a
//!   symbolic-name `resources` object, or in the inline template of a nested deployment; `--only`
//!   picks one of several) and its children, top level or nested; in a nested template of the
//!   default outer scope, `parameters()` and `variables()` are the outer template's (and the
//!   parameters file's), as ARM evaluates them;
//! - a template with only children of an existing registry (a module for webhooks or scope maps,
//!   import pipelines, task runs; an `"existing": true` registry at most) is rewritten too: the
//!   parent's name is set where it is defined (the `existing` resource's name, else the parameter
//!   or variable the first child's name starts with, else a literal `old/child`), the children
//!   are treated as below, and `children-only` says to deploy the relocated registry first;
//! - sets the new name where it is defined, followed through parameters and variables (a nested
//!   deployment's values included, at most [`model::MAX_STEPS`] steps) to the literal, parameter
//!   `defaultValue` or value in the parameters file, or variable that holds it (a computed name
//!   becomes the literal; a registry `copy` loop is left as it is) and replaces the old name
//!   where it names the registry or its children: `registries/<old>` segments of ids and
//!   scopes, child names `<old>/child`, `'<old>'` arguments of `resourceId(...)`,
//!   `reference(...)`, `concat(...)`, `format(...)`, `dependsOn` entries, the portal's
//!   `registries_<old>_name` parameter and login servers `<old>.azurecr.io`. Other values that
//!   contain the old name (Key Vault URIs, identities, workspaces, tags) and values from the
//!   options are never renamed; the first are listed in one `old-name-kept` finding;
//! - sets locations of the registry and its children (not replications) to the target region
//!   where they are set, followed like the name (a new region missing from a parameter's
//!   `allowedValues` is added there); expressions such as `[resourceGroup().location]` are kept
//!   and reported; a webhook
//!   of a replica region that stays keeps its region (it responds to that replica's events);
//! - removes the replication in the new home region, the one in the source's home region (an
//!   export always lists it; `--replication <old region>` keeps it), replications given with
//!   `--drop-replication`, adds those given with `--replication`; removes private endpoint
//!   connections and system scope maps (names starting with `_`), and `dependsOn` entries that
//!   pointed at anything removed (a resource left without a dependency on the registry gets
//!   one, as the symbolic name or `resourceId(...)`);
//! - writes `--subnet` rules into `networkRuleSet.virtualNetworkRules` in the shape of the
//!   resource's apiVersion (`{action, id}` for 2017-10-01 to 2021-12-01-preview,
//!   `{action, virtualNetworkSubnetResourceId}` for 2026-03-01-preview; the other versions have no
//!   such property). No ACR schema version has `ignoreMissingVnetServiceEndpoint`, so the
//!   service endpoint the subnet needs is always a warning naming the subnet;
//! - makes a literal CMK key URI and a literal user-assigned identity parameters
//!   (`encryptionKeyUri`, `encryptionIdentityId`) with `--key-uri` / `--identity` as defaults;
//!   a literal `keyVaultProperties.identity` client id with no literal identity to tie it to
//!   becomes parameter `encryptionIdentityClientId` (reported);
//! - names role assignments on the registry anew: a literal GUID name (the source's assignment;
//!   names are unique in the tenant) becomes `guid(<new registry id>, <principal>, <role>)`, and a
//!   `guid()` of values that do not name the registry gets the new registry's id as first
//!   argument; role assignments elsewhere (key vaults, storage accounts, the resource group)
//!   whose principal is the registry's own identity
//!   (`reference(<registry id>, ...).identity.principalId`, the id also held by a variable or
//!   parameter) are named anew the same way, a literal GUID becoming `guid(<scope>, <new
//!   registry id>, '.identity.principalId', <role>)`, where an assignment without a `scope` is
//!   on the resource group, subscription, management group or tenant it is deployed at;
//!   parameters that name the registry in a `registries` expression and hold the old name get
//!   the new one (see `docs/template.md`).
//!
//! Scalar settings written as `[parameters('x')]` or `[variables('y')]` (admin user, anonymous
//! pull, policy statuses, public access, bypass, data endpoint, zone redundancy) are judged by the
//! value the deployment would use: the parameters file's value, else the default. A portal
//! parameter `registries_<name>_name` without any value still states the old name.
//!
//! Everything else keeps its bytes: edits are span replacements located by a JSON parser that
//! accepts comments ([`jsonc`]), so key order, indentation, line endings and comments of untouched
//! parts are preserved.
//!
//! # Rule ids
//!
//! | rule id | severity | when |
//! |---|---|---|
//! | `premium-required` | blocking (warning if the SKU is an expression) | private endpoints, network rules, replications, CMK, dedicated data endpoint, retention policy, disabled export policy, disabled public network access or connected registries on a non-Premium SKU (pointing at the parameter value or variable that sets the SKU, if one does) |
//! | `cmk-creation-only` | warning | customer-managed key encryption: only at creation |
//! | `cmk-key-from-source` | warning (blocking in a plan's template step without `key_uri`, set by `apply`) | a literal key URI or identity of the source kept as a parameter default (no `--key-uri` / `--identity`) |
//! | `private-endpoint-in-template` | blocking, warning | a `Microsoft.Network/privateEndpoints` resource of the template connects to the registry: it keeps its old-region subnet and name (warning when its region is an expression); inside a nested deployment, the warning names the subnet parameter, the value the deployment gives it and where |
//! | `private-endpoint-recreate` | warning (info with `--private-endpoint`) | private endpoint connections removed; endpoint and `privatelink.azurecr.io` DNS (data-endpoint records per region) to recreate |
//! | `private-endpoint-added` | info | `--private-endpoint`: a private endpoint `<new>-pe` for the new registry (group `registry`) on that subnet in the target region, with a DNS zone group into `--private-dns-zone` when given, is added after the registry |
//! | `private-endpoint-no-dns` | warning | `--private-endpoint` without `--private-dns-zone`: the endpoint's addresses reach no `privatelink.azurecr.io` zone, so clients resolve the public addresses |
//! | `service-endpoint-required` | warning | per `--subnet`: the subnet needs the `Microsoft.ContainerRegistry` service endpoint first |
//! | `vnet-rules-source-subnet` | blocking | virtual network rules point at source subnets and no `--subnet` was given |
//! | `vnet-rules-unsupported` | blocking | `--subnet` given but the apiVersion has no `virtualNetworkRules` |
//! | `vnet-rules-set` | info | a `networkRuleSet` was added for `--subnet` |
//! | `public-access-no-bypass` | blocking | public network access disabled and `networkRuleBypassOptions` `None`: server-side import refused |
//! | `retention-policy-enabled` | warning | untagged manifests purged during import |
//! | `soft-delete-with-replication` | blocking | soft delete enabled with geo-replication |
//! | `admin-user-enabled` | warning | admin user enabled |
//! | `anonymous-pull-enabled` | warning | anonymous pull enabled |
//! | `name-not-set` | blocking | the registry's name is a parameter that neither the template whose `parameters()` it reads declares nor anything gives a value: not rewritten |
//! | `name-expression-replaced` | info | the name was computed by an expression and became the literal |
//! | `name-parameter-renamed` | info | the portal's name parameter `registries_<old>_name` is now `registries_<new>_name`: callers passing the old one must follow |
//! | `ip-rules-carried` | warning | IP rules carried as they were |
//! | `api-version-preview` | warning | a preview apiVersion on the registry or a child |
//! | `api-version-retired` | blocking | the Classic registry apiVersions 2016-06-27-preview, 2017-03-01 |
//! | `sku-classic` | blocking | the retired Classic SKU |
//! | `location-expression-kept` | warning | a location given by an expression, kept (for the replications' own region expression, e.g. a webhook loop over the replica regions: nothing to do if it gives kept replica regions) |
//! | `replication-home-removed` | info, warning | the replication in the new home region removed (a warning when its region is a parameter or variable whose value here is the new home: the deployment may pass another) |
//! | `replication-old-home-removed` | info | the replication in the source's home region (an export always lists it) removed; `--replication <old region>` keeps it as a replica |
//! | `replication-dropped` | info | a replication removed by `--drop-replication` |
//! | `replication-added` | info (warning if ignored) | a replication added by `--replication` |
//! | `replication-location-unknown` | warning | a replication's region is an expression the rewriter cannot read: says why (no value in the template, or the value and where it is set) |
//! | `system-scope-map-removed` | info | the system scope maps (`_...`) removed (one line for all) |
//! | `expression-not-inspected` | warning | a whole block (properties, networkRuleSet, policies, encryption, identity, sku) is one expression |
//! | `nested-deployment` | info | the registry sits in a nested deployment |
//! | `nested-deployment-scope` | warning | a nested deployment holding the registry pins a literal `resourceGroup` or `subscriptionId`: the new registry would be created there (the source's) |
//! | `diagnostic-settings-kept` | info, warning | diagnostic settings of the registry kept with their destinations (a warning with a storage account or Event Hubs destination, which Azure Monitor requires in the region of the registry) |
//! | `zone-redundancy` | info, warning, blocking | zone redundancy enabled on the registry or a kept replication (no Premium feature: in a region with availability zones every registry of any SKU is zone redundant by default): info where the region has availability zones, blocking for a known region without (a table after Microsoft's list), warning for a region this version does not know |
//! | `children-only` | warning | the template holds only children of an existing registry: pointed at the new one, to deploy after it |
//! | `name-unchanged` | warning | the new name is the source's: names are global, the deployment fails while the source exists |
//! | `resource-id-literal` | info (blocking if not converted) | a literal id `/subscriptions/../resourceGroups/../registries/<old>[/child]` became `resourceId(...)` (a symbolic name in a 2.0 `dependsOn`); extension ids and parameters file values are blocking |
//! | `registry-parameter-set` | info | a parameter that names the registry in a `Microsoft.ContainerRegistry/registries` expression (a scope, an AKS attachment) held the old name as its default or parameters-file value: set to the new name; without any value: pass the new name |
//! | `role-assignment-name-literal` | info (blocking if not converted) | a role assignment on the registry named by a literal GUID (the source's; names are unique in the tenant) is now `guid(<new registry id>, <principal>, <role>)`; one elsewhere (key vault, storage account, resource group) whose principal is the registry's own identity is now `guid(<scope>, <new registry id>, '.identity.principalId', <role>)` (the source's gives the role to the source registry's identity and cannot change principal); (the older top-level `<type>/providers/roleAssignments` form keeps its `<resource>/Microsoft.Authorization/` prefix, with `resourceId(<type>, <resource>)` as scope); blocking when its scope is a child of the registry, when its principal, role or scope cannot enter a name (also the scope a nested deployment sends an assignment without `scope` to, when no expression names it), or for the older form nested in its resource or built with `concat` elsewhere |
//! | `role-assignment-name-unscoped` | info | a role assignment on the registry, or of the registry's identity elsewhere, named by a `guid()` of values that do not name the registry (resource group, role): the new registry's id is now its first argument, so it cannot be the source's name |
//! | `role-assignment-principal-recreated` | warning | a role assignment on the registry gives a literal principalId that is (or may be) a managed identity this deployment creates anew (new object id) |
//! | `role-definition-id-literal` | info | a role assignment on the registry named its role by the literal id in the source's subscription; it is now `subscriptionResourceId()` of the same GUID |
//! | `export-incomplete` | warning | per `error.details[]` entry of an exportTemplate response: that resource is missing from the template |
//! | `option-ignored` | warning (blocking for `--subnet`) | `--key-uri` with no key to put it in; `--identity` for a registry without customer-managed key; `--drop-replication` of a region the template has no replication in; `--subnet` when `networkRuleSet` is an expression (nothing to add the rules to); `--private-endpoint` for a template without a registry (children only) |
//! | `key-uri-set` | info | the key was a parameter or variable: `--key-uri` is now its value |
//! | `location-unknown` | warning | `--location` or `--replication` is not a public Azure region name this version knows (closest one suggested) |
//! | `old-region-not-served` | info | the source's home region keeps no replication (and had none in the template to remove): `--replication <old region>` keeps an endpoint there |
//! | `webhook-region-moved` | warning | a webhook of a replica region that `--drop-replication` removes now responds to the home region's events |
//! | `webhook-service-uri` | blocking | a webhook without `serviceUri` (an export never has it; creation needs it) |
//! | `token-passwords` | info | tokens are created without passwords: regenerate them, update clients |
//! | `credential-set-access` | warning | a credential set's new identity needs access to its Key Vault secrets |
//! | `connected-registry-resync` | warning | a connected registry needs a new connection string and re-sync |
//! | `removed-resource-referenced` | warning (blocking outside outputs) | an output reading a removed replication or private endpoint connection was removed; any other reference to one is blocking |
//! | `shared-setting-changed` | warning | the parameter or variable that sets the registry's region or name, changed by the rewrite, is also read by other resources (storage accounts, clusters, key vaults...): named, they change with it |
//! | `other-registries-kept` | warning | `--only` chose one of several registries; the others and their children are left as they were |
//! | `old-name-kept` | info | the old name still occurs in values that do not name the registry (key vaults, identities, workspaces, tags): listed, kept |
//! | `quarantine-policy-enabled` | warning | the quarantine policy is enabled: copied and imported images are held until approved (verify and clients fail); enable it after the copy |
//! | `trust-policy-enabled` | warning | content trust (Docker Content Trust) is enabled: deprecated, and since 2026-05-31 it cannot be enabled on a new registry, so `trustPolicy.status` is written `disabled`; the fix points to Notation (Notary Project signatures are OCI artifacts, copied with the images; images signed with Docker Content Trust only must be signed again) |
//! | `export-policy-disabled` | warning | the source's export policy is disabled: `az acr import` out of it (`copy --mode import`) is refused; use client mode or enable exports until the copy is done |
//! | `public-access-no-private-endpoint` | warning | public network access is disabled and the template creates no private endpoint for the registry: unreachable on the data plane until one and its DNS exist in the target network |
//! | `old-private-dns-record` | warning | an A record of the old registry's private endpoint (`<old>`, `<old>.<region>.data` in `privatelink.azurecr.io`): it keeps the old endpoint's addresses; the new registry's endpoint writes its own records |
//! | `system-identity-recreated` | warning | a system-assigned identity on the registry or a task: the new principal has none of the source's role assignments (how to list and re-grant them) |
//! | `task-recreated` | warning | a task is created anew: the old login server in its base64 content (rewritten), its identity, source-trigger tokens and custom registry credentials that are never exported |
//! | `data-endpoint-kept` | warning (blocking in firewall and DNS resources) | a data endpoint `<old>.<region>.data.azurecr.io` of a region the new registry does not serve, kept: the new registry's data endpoints are named |
//! | `data-endpoint-to-add` | info | the source's home region is kept as a replica (`--replication <old home>`): its data endpoint keeps its region, and the new home's endpoint, missing where the endpoints are listed, is named
//! | `replication-home-in-loop` | blocking | a replication `copy` loop's region array (default or parameters file) holds the new home region: the element and where it is set are named |
//! | `cmk-identity-set` | info | `--identity` wired in as the registry's user-assigned identity and the key's `keyVaultProperties.identity` (the template had no identity block, or its one identity is a parameter, as exports write it: the parameter's value is set) |
//! | `parameter-constraint` | info, blocking | a parameter that receives the new name or region (the registry's own, or one it is followed through) declares `allowedValues`, `minLength` or `maxLength` the new value breaks: a new region is added to `allowedValues` (info); a name outside `allowedValues` or of the wrong length is blocking (ARM refuses the deployment) |
//! | `registry-copy-loop` | blocking | the registry is a `copy` loop (several registries): its name is left as it is; relocate the registries one at a time |

mod base64;
pub mod edit;
pub mod error;
pub mod findings;
pub mod jsonc;
pub mod model;
mod regions;
mod rename;
mod rewrite;
mod secure;
pub mod zip;

pub use error::TemplateError;
pub use findings::{has_blocking, to_markdown, to_table, Finding, Severity};
pub use rename::contains_word;
pub use rewrite::{name_is_valid, norm_region};

/// The stable rule ids, one constant each (see the table in the crate documentation).
pub mod rules {
    /// Premium features on a lower SKU.
    pub const PREMIUM_REQUIRED: &str = "premium-required";
    /// CMK can only be set at creation.
    pub const CMK_CREATION_ONLY: &str = "cmk-creation-only";
    /// CMK key or identity of the source kept.
    pub const CMK_KEY_FROM_SOURCE: &str = "cmk-key-from-source";
    /// Private endpoint and DNS to recreate.
    pub const PRIVATE_ENDPOINT_RECREATE: &str = "private-endpoint-recreate";
    /// A private endpoint resource of the template that connects to the registry.
    pub const PRIVATE_ENDPOINT_IN_TEMPLATE: &str = "private-endpoint-in-template";
    /// A private endpoint for the new registry added by `--private-endpoint`.
    pub const PRIVATE_ENDPOINT_ADDED: &str = "private-endpoint-added";
    /// The added private endpoint writes no DNS records (no `--private-dns-zone`).
    pub const PRIVATE_ENDPOINT_NO_DNS: &str = "private-endpoint-no-dns";
    /// Target subnet needs the service endpoint.
    pub const SERVICE_ENDPOINT_REQUIRED: &str = "service-endpoint-required";
    /// Virtual network rules still point at source subnets.
    pub const VNET_RULES_SOURCE_SUBNET: &str = "vnet-rules-source-subnet";
    /// The apiVersion cannot express virtual network rules.
    pub const VNET_RULES_UNSUPPORTED: &str = "vnet-rules-unsupported";
    /// A network rule set was added.
    pub const VNET_RULES_SET: &str = "vnet-rules-set";
    /// Public access disabled without trusted services.
    pub const PUBLIC_ACCESS_NO_BYPASS: &str = "public-access-no-bypass";
    /// Retention policy purges untagged manifests.
    pub const RETENTION_POLICY_ENABLED: &str = "retention-policy-enabled";
    /// Soft delete with geo-replication.
    pub const SOFT_DELETE_WITH_REPLICATION: &str = "soft-delete-with-replication";
    /// Admin user enabled.
    pub const ADMIN_USER_ENABLED: &str = "admin-user-enabled";
    /// Anonymous pull enabled.
    pub const ANONYMOUS_PULL_ENABLED: &str = "anonymous-pull-enabled";
    /// The registry's name is a parameter nothing declares or gives: not rewritten.
    pub const NAME_NOT_SET: &str = "name-not-set";
    /// Computed name replaced by the literal.
    pub const NAME_EXPRESSION_REPLACED: &str = "name-expression-replaced";
    /// IP rules carried over.
    pub const IP_RULES_CARRIED: &str = "ip-rules-carried";
    /// Preview apiVersion.
    pub const API_VERSION_PREVIEW: &str = "api-version-preview";
    /// Retired apiVersion.
    pub const API_VERSION_RETIRED: &str = "api-version-retired";
    /// Classic SKU.
    pub const SKU_CLASSIC: &str = "sku-classic";
    /// Location expression kept.
    pub const LOCATION_EXPRESSION_KEPT: &str = "location-expression-kept";
    /// Replication in the new home region removed.
    pub const REPLICATION_HOME_REMOVED: &str = "replication-home-removed";
    /// Replication in the source's home region removed.
    pub const REPLICATION_OLD_HOME_REMOVED: &str = "replication-old-home-removed";
    /// Replication removed on request.
    pub const REPLICATION_DROPPED: &str = "replication-dropped";
    /// Replication added on request.
    pub const REPLICATION_ADDED: &str = "replication-added";
    /// Replication region unknown.
    pub const REPLICATION_LOCATION_UNKNOWN: &str = "replication-location-unknown";
    /// System scope map removed.
    pub const SYSTEM_SCOPE_MAP_REMOVED: &str = "system-scope-map-removed";
    /// A block is one expression.
    pub const EXPRESSION_NOT_INSPECTED: &str = "expression-not-inspected";
    /// Registry in a nested deployment.
    pub const NESTED_DEPLOYMENT: &str = "nested-deployment";
    /// The portal's name parameter renamed after the new name.
    pub const NAME_PARAMETER_RENAMED: &str = "name-parameter-renamed";
    /// A nested deployment holding the registry pins a literal resource group or subscription.
    pub const NESTED_DEPLOYMENT_SCOPE: &str = "nested-deployment-scope";
    /// Diagnostic settings kept.
    pub const DIAGNOSTIC_SETTINGS_KEPT: &str = "diagnostic-settings-kept";
    /// Zone redundancy needs zones.
    pub const ZONE_REDUNDANCY: &str = "zone-redundancy";
    /// Only children of an existing registry.
    pub const CHILDREN_ONLY: &str = "children-only";
    /// The new name is the source registry's.
    pub const NAME_UNCHANGED: &str = "name-unchanged";
    /// The old name left in values that do not name the registry.
    pub const OLD_NAME_KEPT: &str = "old-name-kept";
    /// A literal resource id of the source registry.
    pub const RESOURCE_ID_LITERAL: &str = "resource-id-literal";
    /// A role assignment on the registry, or of the registry's identity elsewhere, with a literal
    /// GUID name.
    pub const ROLE_ASSIGNMENT_NAME_LITERAL: &str = "role-assignment-name-literal";
    /// A parameter naming the registry in an expression held the old name.
    pub const REGISTRY_PARAMETER_SET: &str = "registry-parameter-set";
    /// A role assignment on the registry, or of the registry's identity elsewhere, named by a
    /// guid() that does not involve the registry.
    pub const ROLE_ASSIGNMENT_NAME_UNSCOPED: &str = "role-assignment-name-unscoped";
    /// A role assignment on the registry whose literal principal is a recreated managed identity.
    pub const ROLE_ASSIGNMENT_PRINCIPAL_RECREATED: &str = "role-assignment-principal-recreated";
    /// A role assignment on the registry whose roleDefinitionId is a literal id in the source's
    /// subscription.
    pub const ROLE_DEFINITION_ID_LITERAL: &str = "role-definition-id-literal";
    /// A removed resource still referenced outside dependsOn.
    pub const REMOVED_RESOURCE_REFERENCED: &str = "removed-resource-referenced";
    /// A webhook of a dropped replica region moved to the home region.
    pub const WEBHOOK_REGION_MOVED: &str = "webhook-region-moved";
    /// A webhook without serviceUri.
    pub const WEBHOOK_SERVICE_URI: &str = "webhook-service-uri";
    /// Token passwords are not carried.
    pub const TOKEN_PASSWORDS: &str = "token-passwords";
    /// A credential set's new identity needs Key Vault access.
    pub const CREDENTIAL_SET_ACCESS: &str = "credential-set-access";
    /// A connected registry needs a new connection string.
    pub const CONNECTED_REGISTRY_RESYNC: &str = "connected-registry-resync";
    /// An option that had nothing to apply to.
    pub const OPTION_IGNORED: &str = "option-ignored";
    /// `--key-uri` written into the parameter or variable of the key.
    pub const KEY_URI_SET: &str = "key-uri-set";
    /// A region name not in the embedded list.
    pub const LOCATION_UNKNOWN: &str = "location-unknown";
    /// The source's home region loses its endpoint.
    pub const OLD_REGION_NOT_SERVED: &str = "old-region-not-served";
    /// The exportTemplate response reports resources it could not export.
    pub const EXPORT_INCOMPLETE: &str = "export-incomplete";
    /// A changed parameter or variable of the registry's region or name read by other resources.
    pub const SHARED_SETTING_CHANGED: &str = "shared-setting-changed";
    /// Other registries of the template left as they were.
    pub const OTHER_REGISTRIES_KEPT: &str = "other-registries-kept";
    /// Quarantine policy enabled: pushed and imported images are held until approved.
    pub const QUARANTINE_POLICY_ENABLED: &str = "quarantine-policy-enabled";
    /// Content trust enabled: it cannot be enabled on a new registry, so it is written disabled.
    pub const TRUST_POLICY_ENABLED: &str = "trust-policy-enabled";
    /// Export policy disabled: `az acr import` out of the source is refused.
    pub const EXPORT_POLICY_DISABLED: &str = "export-policy-disabled";
    /// Public network access disabled and no private endpoint in the output.
    pub const PUBLIC_ACCESS_NO_PRIVATE_ENDPOINT: &str = "public-access-no-private-endpoint";
    /// An A record of the old registry's private endpoint in the `privatelink.azurecr.io` zone.
    pub const OLD_PRIVATE_DNS_RECORD: &str = "old-private-dns-record";
    /// A system-assigned identity is created anew, without the source's role assignments.
    pub const SYSTEM_IDENTITY_RECREATED: &str = "system-identity-recreated";
    /// A task is created anew: credentials, identity and content to check.
    pub const TASK_RECREATED: &str = "task-recreated";
    /// A data endpoint host of a region the new registry does not serve, kept.
    pub const DATA_ENDPOINT_KEPT: &str = "data-endpoint-kept";
    /// The source's home region stays a replica: its data endpoint stays, and the new home's is
    /// to be added beside it.
    pub const DATA_ENDPOINT_TO_ADD: &str = "data-endpoint-to-add";
    /// A replication loop's region list holds the new home region.
    pub const REPLICATION_HOME_IN_LOOP: &str = "replication-home-in-loop";
    /// `--identity` wired in as the registry's user-assigned identity for CMK.
    pub const CMK_IDENTITY_SET: &str = "cmk-identity-set";
    /// The new name or region breaks a parameter's `allowedValues`, `minLength` or `maxLength`.
    pub const PARAMETER_CONSTRAINT: &str = "parameter-constraint";
    /// The registry is a `copy` loop: one name cannot be written for all its copies.
    pub const REGISTRY_COPY_LOOP: &str = "registry-copy-loop";

    /// Every rule id.
    pub const ALL: &[&str] = &[
        PREMIUM_REQUIRED,
        CMK_CREATION_ONLY,
        CMK_KEY_FROM_SOURCE,
        PRIVATE_ENDPOINT_RECREATE,
        PRIVATE_ENDPOINT_IN_TEMPLATE,
        PRIVATE_ENDPOINT_ADDED,
        PRIVATE_ENDPOINT_NO_DNS,
        SERVICE_ENDPOINT_REQUIRED,
        VNET_RULES_SOURCE_SUBNET,
        VNET_RULES_UNSUPPORTED,
        VNET_RULES_SET,
        PUBLIC_ACCESS_NO_BYPASS,
        RETENTION_POLICY_ENABLED,
        SOFT_DELETE_WITH_REPLICATION,
        ADMIN_USER_ENABLED,
        ANONYMOUS_PULL_ENABLED,
        NAME_NOT_SET,
        NAME_EXPRESSION_REPLACED,
        NAME_PARAMETER_RENAMED,
        IP_RULES_CARRIED,
        API_VERSION_PREVIEW,
        API_VERSION_RETIRED,
        SKU_CLASSIC,
        LOCATION_EXPRESSION_KEPT,
        REPLICATION_HOME_REMOVED,
        REPLICATION_OLD_HOME_REMOVED,
        REPLICATION_DROPPED,
        REPLICATION_ADDED,
        REPLICATION_LOCATION_UNKNOWN,
        SYSTEM_SCOPE_MAP_REMOVED,
        EXPRESSION_NOT_INSPECTED,
        NESTED_DEPLOYMENT,
        NESTED_DEPLOYMENT_SCOPE,
        DIAGNOSTIC_SETTINGS_KEPT,
        ZONE_REDUNDANCY,
        CHILDREN_ONLY,
        NAME_UNCHANGED,
        OLD_NAME_KEPT,
        OTHER_REGISTRIES_KEPT,
        SHARED_SETTING_CHANGED,
        EXPORT_INCOMPLETE,
        OPTION_IGNORED,
        KEY_URI_SET,
        LOCATION_UNKNOWN,
        OLD_REGION_NOT_SERVED,
        WEBHOOK_REGION_MOVED,
        WEBHOOK_SERVICE_URI,
        TOKEN_PASSWORDS,
        CREDENTIAL_SET_ACCESS,
        CONNECTED_REGISTRY_RESYNC,
        REMOVED_RESOURCE_REFERENCED,
        RESOURCE_ID_LITERAL,
        ROLE_ASSIGNMENT_NAME_LITERAL,
        REGISTRY_PARAMETER_SET,
        ROLE_ASSIGNMENT_NAME_UNSCOPED,
        ROLE_ASSIGNMENT_PRINCIPAL_RECREATED,
        ROLE_DEFINITION_ID_LITERAL,
        QUARANTINE_POLICY_ENABLED,
        TRUST_POLICY_ENABLED,
        EXPORT_POLICY_DISABLED,
        PUBLIC_ACCESS_NO_PRIVATE_ENDPOINT,
        OLD_PRIVATE_DNS_RECORD,
        SYSTEM_IDENTITY_RECREATED,
        TASK_RECREATED,
        DATA_ENDPOINT_KEPT,
        DATA_ENDPOINT_TO_ADD,
        REPLICATION_HOME_IN_LOOP,
        CMK_IDENTITY_SET,
        PARAMETER_CONSTRAINT,
        REGISTRY_COPY_LOOP,
    ];
}

/// The template to rewrite, as text.
#[derive(Debug, Clone, Default)]
pub struct TemplateInput {
    /// A label for messages (usually the file name).
    pub name: String,
    /// The template text (or exportTemplate response).
    pub template: String,
    /// The parameters file text, if any.
    pub parameters: Option<String>,
    /// A label for the parameters file.
    pub parameters_name: Option<String>,
}

impl TemplateInput {
    /// A template given as text, without parameters file.
    pub fn new(name: impl Into<String>, template: impl Into<String>) -> Self {
        TemplateInput {
            name: name.into(),
            template: template.into(),
            ..Default::default()
        }
    }

    /// Reads the input file's bytes: a `.zip` (its `template.json` and `parameters.json`, in any
    /// folder) or the text of a template.
    pub fn from_bytes(name: &str, bytes: &[u8]) -> Result<Self, TemplateError> {
        let text = |label: &str, b: &[u8]| {
            String::from_utf8(b.to_vec()).map_err(|_| TemplateError::NotJson {
                source_name: label.to_string(),
                detail: "not UTF-8 text".into(),
            })
        };
        if !zip::is_zip(bytes) {
            return Ok(TemplateInput::new(name, text(name, bytes)?));
        }
        let entries = zip::read_entries(bytes).map_err(|detail| TemplateError::BadZip {
            source_name: name.to_string(),
            detail,
        })?;
        let find = |file: &str| {
            entries.iter().find(|(n, _)| {
                n.rsplit('/')
                    .next()
                    .is_some_and(|b| b.eq_ignore_ascii_case(file))
            })
        };
        let Some((tname, tbytes)) = find("template.json") else {
            return Err(TemplateError::BadZip {
                source_name: name.to_string(),
                detail: "the archive holds no template.json".into(),
            });
        };
        let mut input = TemplateInput::new(format!("{name}:{tname}"), text(tname, tbytes)?);
        if let Some((pname, pbytes)) = find("parameters.json") {
            let parameters =
                String::from_utf8(pbytes.clone()).map_err(|_| TemplateError::BadParameters {
                    source_name: format!("{name}:{pname}"),
                    detail: "not UTF-8 text".into(),
                })?;
            input.parameters = Some(parameters);
            input.parameters_name = Some(format!("{name}:{pname}"));
        }
        Ok(input)
    }

    /// Adds a parameters file.
    pub fn with_parameters(mut self, name: impl Into<String>, text: impl Into<String>) -> Self {
        self.parameters = Some(text.into());
        self.parameters_name = Some(name.into());
        self
    }
}

/// What to rewrite the registry to.
#[derive(Debug, Clone, Default)]
pub struct RewriteOptions {
    /// The new registry name (5-50 letters and digits).
    pub name: String,
    /// The target region, e.g. `westeurope`.
    pub location: String,
    /// Target subnet resource ids for `networkRuleSet.virtualNetworkRules`.
    pub subnets: Vec<String>,
    /// Regions to add replications in.
    pub add_replications: Vec<String>,
    /// Regions whose replications are removed.
    pub drop_replications: Vec<String>,
    /// Key Vault key URI for CMK in the target.
    pub key_uri: Option<String>,
    /// Resource id of the user-assigned identity for CMK in the target.
    pub identity: Option<String>,
    /// Which registry, when the template has several (name, or name parameter).
    pub only: Option<String>,
    /// A subnet in the target region for a private endpoint of the new registry, added to the
    /// template (`--private-endpoint`).
    pub private_endpoint_subnet: Option<String>,
    /// The `privatelink.azurecr.io` private DNS zone the added private endpoint writes its
    /// records into, through a DNS zone group (`--private-dns-zone`).
    pub private_dns_zone: Option<String>,
}

/// The result of a rewrite.
#[derive(Debug, Clone)]
pub struct Rewritten {
    /// The rewritten template (for an exportTemplate response: the template inside it).
    pub template: String,
    /// The rewritten parameters file, when one was given.
    pub parameters: Option<String>,
    /// Findings, blocking first.
    pub findings: Vec<Finding>,
    /// The old registry name, when the template states it (literal, default or given value).
    pub old_name: Option<String>,
    /// Secure parameters (`secureString`, `secureObject`) that hold a value in the input: a
    /// `defaultValue`, or a value in the parameters file. The outputs carry those secrets (write
    /// them readable by their owner only); findings show `<redacted>` for their values.
    pub secure_parameters: Vec<String>,
}

impl Rewritten {
    /// True when a blocking finding remains (exit code 1).
    pub fn has_blocking(&self) -> bool {
        has_blocking(&self.findings)
    }
}

/// Rewrites `input` for the registry's new name and region; see the crate documentation.
///
/// Errors are input the rewriter cannot use: not JSON, not a template, no registry, several
/// registries without [`RewriteOptions::only`], a bad option.
pub fn rewrite_template(
    input: &TemplateInput,
    options: &RewriteOptions,
) -> Result<Rewritten, TemplateError> {
    rewrite::run(input, options)
}
