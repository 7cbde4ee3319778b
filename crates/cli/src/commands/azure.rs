//! `acr-relocate azure …`: the steps of a relocation that touch Azure Resource Manager: export the
//! registry's template, deploy the rewritten one, compare settings, attach AKS, and delete the
//! source registry once a deep verify passed. `copy --mode import` (server-side import) is here too.
//!
//! Sign-in: the official azure_identity crate (see `acr_azure::credential`); ARM at
//! `--arm-endpoint`.

use std::path::PathBuf;

use acr_azure::arm::DEFAULT_ENDPOINT;
use acr_azure::import::{self, ImportOptions, ImportSource};
use acr_azure::{
    aks, deploy, export, registry, roles, settings, ArmClient, AzureSignIn, ResourceId,
};
use acr_relocate::endpoint::{self, Endpoint};
use acr_relocate::rename::Renames;
use acr_relocate::secret::Secret;
use acr_relocate::transport::{self, Access};
use anyhow::{bail, Context};

use crate::args::{self, ConnectArgs, Credential, FilterArgs, Side};
use crate::commands::delete_source::deep_verify_against;
use crate::exit;

/// How to reach Azure Resource Manager.
#[derive(clap::Args, Clone, Debug)]
pub struct ArmArgs {
    /// Azure Resource Manager endpoint (sovereign clouds; tests).
    #[arg(long, value_name = "URL", env = "ACR_RELOCATE_ARM_ENDPOINT", default_value = DEFAULT_ENDPOINT)]
    pub arm_endpoint: String,
}

impl ArmArgs {
    /// Signs in (lazily) and returns the ARM client.
    pub fn client(&self, credential: Credential) -> anyhow::Result<ArmClient> {
        let http = acr_azure::http::client()?;
        let sign_in = AzureSignIn::new(credential.kind(), http.clone())?;
        let mut client = ArmClient::new(&self.arm_endpoint, sign_in, http)?;
        if let Ok(text) = std::env::var("ACR_RELOCATE_ARM_POLL_SECONDS") {
            let secs = text.trim().parse::<u64>().ok().filter(|s| *s > 0).with_context(|| {
                format!("ACR_RELOCATE_ARM_POLL_SECONDS={text:?}: expected a whole number of seconds, 1 or more")
            })?;
            client.poll_interval = std::time::Duration::from_secs(secs);
        }
        Ok(client)
    }
}

/// `--azure-credential` for the commands that only talk to ARM.
#[derive(clap::Args, Clone, Debug)]
struct CredentialArgs {
    /// How to sign in to Azure AD. `auto` takes the first configured of: a service principal in
    /// AZURE_TENANT_ID/AZURE_CLIENT_ID/AZURE_CLIENT_SECRET, workload identity
    /// (AZURE_FEDERATED_TOKEN_FILE), App Service managed identity, the Azure CLI (`az login`).
    #[arg(long, value_enum, value_name = "KIND", default_value_t = Credential::Auto)]
    azure_credential: Credential,
}

/// Arguments of `acr-relocate azure`.
#[derive(clap::Args, Debug)]
pub struct AzureArgs {
    #[command(subcommand)]
    command: AzureCommand,
}

#[derive(clap::Subcommand, Debug)]
enum AzureCommand {
    /// Export a registry and its child resources (replications, webhooks, scope maps, tokens) as
    /// an ARM template, ready for `acr-relocate template`.
    Export(ExportArgs),
    /// Create the resource group if missing, validate, deploy a template and wait for the end.
    Deploy(DeployArgs),
    /// Compare two registries' settings (SKU, network, policies, encryption, replications...).
    Settings(SettingsArgs),
    /// Give an AKS cluster's kubelet identity AcrPull on a registry (idempotent).
    AttachAks(AttachAksArgs),
    /// Give the target registry the source's role assignments: the same principals, roles and
    /// conditions (idempotent; --dry-run lists them).
    Roles(RolesArgs),
    /// Delete a registry resource, only after a deep verify against its copy passes in this run.
    Delete(Box<DeleteArgs>),
}

/// `azure export`.
#[derive(clap::Args, Debug)]
struct ExportArgs {
    /// The registry's resource ID.
    registry_id: String,
    /// Where to write the template (written whole or not at all; checked before signing in), or
    /// `-` for stdout.
    #[arg(long, short = 'o', value_name = "FILE")]
    output: PathBuf,
    #[command(flatten)]
    arm: ArmArgs,
    #[command(flatten)]
    credential: CredentialArgs,
}

/// `azure deploy`.
#[derive(clap::Args, Debug)]
struct DeployArgs {
    /// The ARM template (for example the output of `acr-relocate template`).
    template: PathBuf,
    /// Resource group to deploy into (created when missing).
    #[arg(long, value_name = "NAME")]
    resource_group: String,
    /// Region of the resource group when it must be created.
    #[arg(long, value_name = "REGION")]
    location: String,
    /// Subscription ID (default: $AZURE_SUBSCRIPTION_ID).
    #[arg(long, value_name = "ID", env = "AZURE_SUBSCRIPTION_ID")]
    subscription: String,
    /// Parameter values: an ARM parameters file.
    #[arg(long, value_name = "FILE")]
    parameters: Option<PathBuf>,
    /// Deployment name.
    #[arg(long, value_name = "NAME", default_value = "acr-relocate")]
    name: String,
    #[command(flatten)]
    arm: ArmArgs,
    #[command(flatten)]
    credential: CredentialArgs,
}

/// `azure settings`.
#[derive(clap::Args, Debug)]
struct SettingsArgs {
    /// The source registry's resource ID.
    source_id: String,
    /// The target registry's resource ID.
    target_id: String,
    /// A setting allowed to differ (repeatable), for example `sku` or `replications`.
    #[arg(long, value_name = "SETTING")]
    expect: Vec<String>,
    /// The comparison as JSON on stdout.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    arm: ArmArgs,
    #[command(flatten)]
    credential: CredentialArgs,
}

/// `azure attach-aks`.
#[derive(clap::Args, Debug)]
struct AttachAksArgs {
    /// The AKS cluster's resource ID.
    cluster_id: String,
    /// The registry's resource ID.
    #[arg(long, value_name = "REGISTRY_ID")]
    registry: String,
    #[command(flatten)]
    arm: ArmArgs,
    #[command(flatten)]
    credential: CredentialArgs,
}

/// `azure roles`.
#[derive(clap::Args, Debug)]
struct RolesArgs {
    /// The source registry's resource ID.
    source_id: String,
    /// The target registry's resource ID.
    target_id: String,
    /// Also give, on the target registry, the roles the source inherits from a resource group,
    /// subscription or management group the target is not under.
    #[arg(long)]
    include_inherited: bool,
    /// List what would be given; give nothing.
    #[arg(long)]
    dry_run: bool,
    /// The assignments and what was done as JSON on stdout.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    arm: ArmArgs,
    #[command(flatten)]
    credential: CredentialArgs,
}

/// `azure delete`.
#[derive(clap::Args, Debug)]
struct DeleteArgs {
    /// The resource ID of the registry to delete.
    registry_id: String,
    /// The registry that must hold all of its content (deep verify in this run), as for `verify`.
    #[arg(long, value_name = "TARGET")]
    verified_against: String,
    /// Repeat the registry's name.
    #[arg(long, value_name = "NAME")]
    confirm: String,
    /// The data-plane endpoint of the registry to delete (default: its login server).
    #[arg(long, value_name = "ENDPOINT")]
    source_endpoint: Option<String>,
    /// Delete even when the verify finds no tag at all in the registry (without it, an empty
    /// verify is taken for a wrong --source-endpoint and nothing is deleted).
    #[arg(long)]
    allow_empty: bool,
    /// Trust the target's storage: the deep verify only checks that every blob exists with its
    /// size, without reading it and checking it against its digest.
    #[arg(long)]
    skip_content_check: bool,
    #[command(flatten)]
    connect: ConnectArgs,
    #[command(flatten)]
    jobs: args::JobsArgs,
    #[command(flatten)]
    arm: ArmArgs,
}

/// Runs `acr-relocate azure …`.
pub fn run(args: AzureArgs) -> anyhow::Result<u8> {
    crate::runtime()?.block_on(async move {
        match args.command {
            AzureCommand::Export(a) => run_export(a).await,
            AzureCommand::Deploy(a) => run_deploy(a).await,
            AzureCommand::Settings(a) => run_settings(a).await,
            AzureCommand::AttachAks(a) => run_attach(a).await,
            AzureCommand::Roles(a) => run_roles(a).await,
            AzureCommand::Delete(a) => run_delete(*a).await,
        }
    })
}

async fn run_export(args: ExportArgs) -> anyhow::Result<u8> {
    let id = ResourceId::registry(&args.registry_id)?;
    // `-` is stdout, as `az` prints what it exports; a file is checked before signing in, so a
    // typo is not found after minutes of exporting.
    let to_stdout = args.output.as_os_str() == "-";
    if !to_stdout {
        super::plan::check_writable(&args.output)
            .with_context(|| format!("-o {}", args.output.display()))?;
    }
    let arm = args.arm.client(args.credential.azure_credential)?;
    let exported = export::export(&arm, &id).await?;
    let text = serde_json::to_string_pretty(&exported.template)? + "\n";
    if to_stdout {
        use std::io::Write;
        let mut stdout = std::io::stdout().lock();
        match stdout
            .write_all(text.as_bytes())
            .and_then(|()| stdout.flush())
        {
            // The reader has gone (`| head`): a quiet end, as for every command.
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                return Ok(exit::STDOUT_CLOSED as u8)
            }
            written => written.context("cannot write the template to stdout")?,
        }
        eprintln!(
            "export: {} resources of {} written to stdout (next: save it to a file, then acr-relocate template FILE --name NEW --location REGION)",
            exported.resources.len(),
            id.name
        );
    } else {
        super::plan::write_atomically(&args.output, text.as_bytes())
            .with_context(|| format!("-o {}: cannot write it", args.output.display()))?;
        eprintln!(
            "export: {} resources of {} written to {} (next: acr-relocate template {} --name NEW --location REGION)",
            exported.resources.len(),
            id.name,
            args.output.display(),
            args.output.display()
        );
    }
    for w in &exported.warnings {
        eprintln!("export: warning: {w}");
    }
    Ok(exit::SUCCESS)
}

async fn run_deploy(args: DeployArgs) -> anyhow::Result<u8> {
    let (template, parameters) = deploy::read_inputs(&args.template, args.parameters.as_deref())?;
    let arm = args.arm.client(args.credential.azure_credential)?;
    let deployment = deploy::Deployment {
        subscription: args.subscription.clone(),
        resource_group: args.resource_group.clone(),
        location: args.location.clone(),
        name: args.name.clone(),
        template,
        parameters,
    };
    // Steps are shown on a terminal (a deployment takes minutes) or with -v; in a pipeline an
    // error stays the one line on stderr.
    let show_steps = args::stderr_is_terminal() || acr_relocate::log::enabled(1);
    let done = deploy::deploy(&arm, &deployment, |step| {
        if show_steps {
            eprintln!("deploy: {step}");
        }
    })
    .await?;
    eprintln!(
        "deploy: {} {} in resource group {}{}",
        args.name,
        done.provisioning_state,
        args.resource_group,
        if done.created_resource_group {
            " (created)"
        } else {
            ""
        }
    );
    if done.outputs.is_object() {
        println!("{}", serde_json::to_string_pretty(&done.outputs)?);
    }
    Ok(exit::SUCCESS)
}

async fn run_settings(args: SettingsArgs) -> anyhow::Result<u8> {
    let source = ResourceId::registry(&args.source_id)?;
    let target = ResourceId::registry(&args.target_id)?;
    let arm = args.arm.client(args.credential.azure_credential)?;
    let rows = settings::compare(&arm, &source, &target, &args.expect).await?;
    if args.json {
        let differs = rows.iter().filter(|r| r.verdict == "differs").count();
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "source": source.to_string(),
                "target": target.to_string(),
                "settings": rows,
                "differences": differs,
            }))?
        );
    } else {
        print!("{}", settings_table(&rows, &source.name, &target.name));
    }
    warn_unread("settings", &rows);
    if let Some(differences) = settings_differences(&rows) {
        eprintln!("settings: {differences} (pass --expect SETTING for a planned change)");
        return Ok(exit::FAILURES);
    }
    Ok(exit::SUCCESS)
}

/// A settings comparison as a table, one line per setting.
pub(crate) fn settings_table(rows: &[settings::Row], source: &str, target: &str) -> String {
    let shown = |text: &str| acr_relocate::log::printable(text).into_owned();
    let width = rows
        .iter()
        .map(|r| r.setting.len())
        .max()
        .unwrap_or(7)
        .max(7);
    let sw = rows
        .iter()
        .map(|r| r.source.len())
        .max()
        .unwrap_or(6)
        .clamp(6, 40);
    let mut table = format!(
        "{:width$}  {:sw$}  {:40}  verdict\n",
        "setting",
        shown(source),
        shown(target)
    );
    for r in rows {
        table += &format!(
            "{:width$}  {:sw$}  {:40}  {}\n",
            r.setting,
            shown(&r.source),
            shown(&r.target),
            r.verdict
        );
    }
    for r in rows {
        if let Some(note) = &r.note {
            table += &format!("note: {} ({}): {note}\n", r.setting, r.verdict);
        }
    }
    table
}

/// One warning per collection ARM did not list for one of the registries (the comparison
/// goes on without it).
pub(crate) fn warn_unread(who: &str, rows: &[settings::Row]) {
    for r in rows.iter().filter(|r| r.verdict == "unread") {
        let why = [&r.source, &r.target]
            .into_iter()
            .find(|v| v.starts_with("unread: "))
            .map_or("", |v| &v["unread: ".len()..]);
        eprintln!(
            "{who}: warning: {} not compared: {}: check them by hand in both registries",
            r.setting,
            acr_relocate::log::printable(why)
        );
    }
}

/// The settings that differ without being expected, in one line; `None` when none does.
pub(crate) fn settings_differences(rows: &[settings::Row]) -> Option<String> {
    let names: Vec<&str> = rows
        .iter()
        .filter(|r| r.verdict == "differs")
        .map(|r| r.setting)
        .collect();
    (!names.is_empty()).then(|| {
        format!(
            "{} difference(s) not expected: {}",
            names.len(),
            names.join(", ")
        )
    })
}

async fn run_attach(args: AttachAksArgs) -> anyhow::Result<u8> {
    let cluster = ResourceId::cluster(&args.cluster_id)?;
    let registry = ResourceId::registry(&args.registry)?;
    let arm = args.arm.client(args.credential.azure_credential)?;
    let attached = aks::attach(&arm, &cluster, &registry).await?;
    println!(
        "attach-aks: {}",
        describe_attached(&cluster, &registry, &attached)
    );
    Ok(exit::SUCCESS)
}

async fn run_roles(args: RolesArgs) -> anyhow::Result<u8> {
    let source = ResourceId::registry(&args.source_id)?;
    let target = ResourceId::registry(&args.target_id)?;
    let arm = args.arm.client(args.credential.azure_credential)?;
    let carried = carry_roles(&arm, &source, &target, args.include_inherited, args.dry_run).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&carried)?);
    } else {
        for line in carried.assignment_lines() {
            println!("roles: {line}");
        }
        println!("roles: {}", carried.summary());
    }
    for warning in &carried.warnings {
        eprintln!("roles: warning: {warning}");
    }
    Ok(match carried.failed {
        0 => exit::SUCCESS,
        _ => exit::FAILURES,
    })
}

/// The source registry's role assignments, and what [`carry_roles`] did with each.
#[derive(serde::Serialize)]
pub(crate) struct CarriedRoles {
    /// One entry a source assignment.
    pub assignments: Vec<CarriedRole>,
    /// Assignments given on the target (or that would be, with a dry run).
    pub given: usize,
    /// Assignments that could not be given (each says why).
    pub failed: usize,
    /// True for a dry run.
    pub dry_run: bool,
    /// What the registries' role assignment modes mean for these assignments, when they differ
    /// ([`roles::mode_warnings`]).
    pub warnings: Vec<String>,
}

/// One source assignment, where it stands, and what was done.
#[derive(serde::Serialize)]
pub(crate) struct CarriedRole {
    #[serde(flatten)]
    row: roles::Row,
    /// What was done on the target (`None`: nothing to do).
    done: Option<String>,
}

impl CarriedRoles {
    /// The warnings (`warning: …`), then one line per source assignment.
    pub fn lines(&self) -> Vec<String> {
        self.warnings
            .iter()
            .map(|w| format!("warning: {w}"))
            .chain(self.assignment_lines())
            .collect()
    }

    /// One line per source assignment.
    pub fn assignment_lines(&self) -> Vec<String> {
        self.assignments
            .iter()
            .map(|c| {
                let a = &c.row.assignment;
                let who = format!("{} for {} {}", a.role_name(), a.principal_type, a.principal_id);
                let state = match c.row.standing {
                    roles::Standing::Missing => "missing on the target".to_string(),
                    roles::Standing::OnTarget => "already on the target".to_string(),
                    roles::Standing::InheritedByBoth => {
                        format!("inherited from {}, which holds the target too", a.scope)
                    }
                    roles::Standing::InheritedBySourceOnly => format!(
                        "inherited from {}, which the target is not under",
                        a.scope
                    ),
                    roles::Standing::SourceIdentity => {
                        "the source registry's own identity, deleted with it: not carried".into()
                    }
                };
                match (&c.done, &c.row.standing) {
                    (Some(done), _) => format!("{who}: {state}: {done}"),
                    (None, roles::Standing::InheritedBySourceOnly) => format!(
                        "{who}: {state}: not given (--include-inherited, or [roles] include_inherited in a plan, gives it on the target registry)"
                    ),
                    (None, _) => format!("{who}: {state}"),
                }
            })
            .collect()
    }

    /// The closing count.
    pub fn summary(&self) -> String {
        let count = |s: roles::Standing| {
            self.assignments
                .iter()
                .filter(|c| c.row.standing == s)
                .count()
        };
        format!(
            "{} {} on the target, {} already there, {} inherited by both, {} inherited by the source only, {} failed",
            self.given,
            if self.dry_run { "would be given" } else { "given" },
            count(roles::Standing::OnTarget),
            count(roles::Standing::InheritedByBoth),
            count(roles::Standing::InheritedBySourceOnly),
            self.failed
        )
    }
}

/// Gives the target registry the role assignments made on the source registry (and, with
/// `include_inherited`, those the source inherits from a scope the target is not under), each
/// once: what the target already grants is left as it is. A failure to give one is counted and
/// said, and the others are still given.
pub(crate) async fn carry_roles(
    arm: &ArmClient,
    source: &ResourceId,
    target: &ResourceId,
    include_inherited: bool,
    dry_run: bool,
) -> anyhow::Result<CarriedRoles> {
    let source_resource = registry::get(arm, source).await?;
    registry::get(arm, target).await?;
    let source_identity = source_resource["identity"]["principalId"].as_str();
    let (source_mode, target_mode) = futures::try_join!(
        registry::role_mode(arm, source),
        registry::role_mode(arm, target)
    )?;
    let from = roles::at_registry(arm, source).await?;
    let on = roles::at_registry(arm, target).await?;
    let rows = roles::compare(&from, &on, source, target, source_identity);
    let mut carried = CarriedRoles {
        assignments: Vec::new(),
        given: 0,
        failed: 0,
        dry_run,
        warnings: roles::mode_warnings(source_mode, target_mode, &target.name, &rows),
    };
    for row in rows {
        let wanted = match row.standing {
            roles::Standing::Missing => true,
            roles::Standing::InheritedBySourceOnly => include_inherited,
            _ => false,
        };
        let done = match (wanted, dry_run) {
            (false, _) => None,
            (true, true) => {
                carried.given += 1;
                Some("would be given".to_string())
            }
            (true, false) => match roles::give(arm, target, &row.assignment).await {
                Ok(given) => {
                    if matches!(given, roles::Given::Created(_)) {
                        carried.given += 1;
                    }
                    Some(given.to_string())
                }
                Err(e) => {
                    carried.failed += 1;
                    Some(format!("failed: {e}"))
                }
            },
        };
        carried.assignments.push(CarriedRole { row, done });
    }
    Ok(carried)
}

/// What [`aks::attach`] did, in a sentence.
pub(crate) fn describe_attached(
    cluster: &ResourceId,
    registry: &ResourceId,
    attached: &aks::Attached,
) -> String {
    // On a registry with ABAC repository permissions, say why the role is not AcrPull.
    let why = |role: aks::PullRole| match role {
        aks::PullRole::AcrPull => "",
        aks::PullRole::RepositoryReader => {
            ": the registry uses ABAC repository permissions, which do not honour AcrPull"
        }
    };
    match attached {
        aks::Attached::Created(grant) => format!(
            "{} can now pull from {} ({} role assignment {} created{})",
            cluster.name,
            registry.name,
            grant.role.name(),
            grant.assignment,
            why(grant.role)
        ),
        aks::Attached::AlreadyAssigned(grant) => format!(
            "{} already had {} on {} (role assignment {}{}); nothing changed",
            cluster.name,
            grant.role.name(),
            registry.name,
            grant.assignment,
            why(grant.role)
        ),
        aks::Attached::EquivalentExists(role) => format!(
            "{} already had {} on {} (ARM reports an equivalent role assignment without naming it{}); nothing changed",
            cluster.name,
            role.name(),
            registry.name,
            why(*role)
        ),
    }
}

async fn run_delete(args: DeleteArgs) -> anyhow::Result<u8> {
    let id = ResourceId::registry(&args.registry_id)?;
    if args.confirm != id.name {
        bail!(
            "--confirm {:?} does not repeat the registry name {:?}: nothing deleted",
            args.confirm,
            id.name
        );
    }
    let arm = args.arm.client(args.connect.azure_credential)?;
    let deletion = RegistryDeletion {
        id: &id,
        source_endpoint: args.source_endpoint.as_deref(),
        verified_against: &args.verified_against,
        connect: &args.connect,
        jobs: args.jobs,
        content_check: !args.skip_content_check,
        allow_empty: args.allow_empty,
        who: "delete",
        interrupt: None,
        asked_before: false,
        before_delete: None,
    };
    match delete_registry(&arm, &deletion).await? {
        Ok(_) => {
            println!("delete: registry {} deleted", id.name);
            Ok(exit::SUCCESS)
        }
        Err(refusal) => {
            eprintln!("delete: {refusal}");
            Ok(exit::FAILURES)
        }
    }
}

/// A registry resource to delete once its copy is verified.
pub(crate) struct RegistryDeletion<'a> {
    /// The registry.
    pub id: &'a ResourceId,
    /// Its data plane (default: its login server).
    pub source_endpoint: Option<&'a str>,
    /// The registry that must hold all of its content.
    pub verified_against: &'a str,
    /// How to reach both.
    pub connect: &'a ConnectArgs,
    /// Transfers at once for the deep verify.
    pub jobs: args::JobsArgs,
    /// Read every blob of the target and check it against its digest.
    pub content_check: bool,
    /// Delete a registry in which the verify finds no tag.
    pub allow_empty: bool,
    /// The prefix of the lines printed (`delete`, `apply`).
    pub who: &'a str,
    /// Ctrl-C: once triggered, the verify stops and nothing is deleted.
    pub interrupt: Option<acr_relocate::copy::Interrupt>,
    /// An earlier run asked ARM to delete this registry (its journal says so): a registry ARM
    /// no longer knows is then deleted, not a wrong ID.
    pub asked_before: bool,
    /// Called right before ARM is asked to delete it (a journal records the request).
    pub before_delete: Option<&'a (dyn Fn() -> anyhow::Result<()> + Sync)>,
}

/// What [`delete_registry`] did.
pub(crate) enum RegistryDeleted {
    /// It deleted the registry.
    Now,
    /// The registry was already gone after an earlier run asked for its deletion.
    Before,
}

/// Deletes a registry resource after a deep verify of all of its content against its copy, as
/// `azure delete` does. `Ok(Err(why))` is a refusal (nothing deleted), in a sentence.
pub(crate) async fn delete_registry(
    arm: &ArmClient,
    deletion: &RegistryDeletion<'_>,
) -> anyhow::Result<Result<RegistryDeleted, String>> {
    let (id, who) = (deletion.id, deletion.who);
    let resource = match registry::get(arm, id).await {
        Err(acr_azure::AzureError::Arm { status: 404, .. }) if deletion.asked_before => {
            return Ok(Ok(RegistryDeleted::Before));
        }
        read => read?,
    };
    let source_text = match deletion.source_endpoint {
        Some(e) => e.to_string(),
        None => registry::login_server(&resource)
            .map(str::to_string)
            .with_context(|| {
                format!(
                    "registry {} has no loginServer: pass --source-endpoint",
                    id.name
                )
            })?,
    };
    let source_ep = args::endpoint(&source_text, "--source-endpoint")?;
    let target_ep = args::endpoint(deletion.verified_against, "--verified-against")?;
    // The registry verified must be the one deleted: an ACR host that is another registry's is
    // refused; another host (a proxy, a private name) is named beside the registry deleted.
    if let Some(login) = other_acr_login(&resource, &source_ep) {
        return Ok(Err(format!(
            "refused, nothing deleted: {} is another registry than {} (login server {login}), the one to delete: verify against the registry deleted",
            source_text, id.name
        )));
    }
    let login = registry::login_server(&resource).unwrap_or_default();
    if let Endpoint::Registry(verified) = &source_ep {
        if !verified.host.eq_ignore_ascii_case(login) {
            eprintln!(
                "{who}: note: the deep verify reads {source_text}, which is not the login server ({login}) of the registry deleted, {}: it must reach that registry (a proxy or a private name of it)",
                id.name
            );
        }
    }
    // A registry verified against itself proves nothing, under any spelling and any prefix.
    if let Endpoint::Registry(target) = &target_ep {
        let login = registry::login_server(&resource).and_then(|l| l.parse::<Endpoint>().ok());
        for deleted in [Some(&source_ep), login.as_ref()].into_iter().flatten() {
            let Endpoint::Registry(deleted) = deleted else {
                continue;
            };
            if let Some(why) = endpoint::same_registry(deleted, target).await {
                bail!(
                    "--verified-against {} is the registry to delete ({why}): name its copy; nothing deleted",
                    deletion.verified_against
                );
            }
        }
    }
    let matcher =
        FilterArgs::default().matcher(&source_ep, Some(&target_ep), Renames::default())?;
    let source = transport::open(
        &source_ep,
        Access::Read,
        &deletion.connect.options(Side::Source)?,
    )
    .await?;
    let verified = deep_verify_against(
        source,
        &target_ep,
        deletion.connect,
        matcher,
        deletion.jobs,
        deletion.content_check,
    );
    let interrupted = async {
        match &deletion.interrupt {
            Some(interrupt) => interrupt.clone().wait().await,
            None => std::future::pending().await,
        }
    };
    let report = tokio::select! {
        verified = verified => verified?.1,
        _ = interrupted => return Ok(Err("interrupted during the deep verify: nothing deleted".into())),
    };
    if deletion
        .interrupt
        .as_ref()
        .is_some_and(|i| i.is_triggered())
    {
        return Ok(Err("interrupted: nothing deleted".into()));
    }
    if !report.passed() {
        return Ok(Err(format!(
            "refused, nothing deleted: the deep verify of {} against {} found {} missing, {} different, {} unsupported, {} broken in the source, {} broken, {} errors (run `acr-relocate verify --deep{}` for the list)",
            source_text,
            deletion.verified_against,
            report.missing.len(),
            report.different.len(),
            report.unsupported.len(),
            report.broken_in_source.len(),
            report.broken.len(),
            report.errors.len(),
            if report.content { " --content" } else { "" }
        )));
    }
    if report.tags == 0 && !deletion.allow_empty {
        let remedy = match deletion.before_delete {
            // From a plan: its [source] registry is what the verify read.
            Some(_) => "check [source] registry in the plan's config; an empty registry is deleted with `acr-relocate azure delete --allow-empty`",
            None => "if the registry is really empty pass --allow-empty, otherwise check --source-endpoint",
        };
        return Ok(Err(format!(
            "refused, nothing deleted: the deep verify found no tag in {source_text}; {remedy}"
        )));
    }
    eprintln!(
        "{who}: deep verify passed ({} tags, {} manifests, {} blobs); deleting {}",
        report.tags, report.manifests_checked, report.blobs_checked, id
    );
    if let Some(before) = deletion.before_delete {
        before()?;
    }
    registry::delete(arm, id).await?;
    Ok(Ok(RegistryDeleted::Now))
}

/// `copy --mode import`: server-side import into the target registry.
pub async fn copy_by_import(args: &crate::commands::copy::CopyArgs) -> anyhow::Result<u8> {
    let (source_text, target_text, filters, connect) =
        (&args.source, &args.target, &args.filters, &args.connect);
    let (import_args, jobs, dry_run, json) =
        (&args.import, args.jobs.jobs, args.dry_run, args.json);
    let target_id = import_args
        .target_id
        .as_deref()
        .context("--mode import needs --target-id, the target registry's resource ID")?;
    let target_id = ResourceId::registry(target_id)?;
    let source_ep = args::endpoint(source_text, "SOURCE")?;
    let target_ep = args::endpoint(target_text, "TARGET")?;
    let acr_relocate::endpoint::Endpoint::Registry(source_registry) = &source_ep else {
        bail!("--mode import reads from a registry, not a layout: use the default streaming copy");
    };
    let matcher = filters.matcher(&source_ep, Some(&target_ep), args.renames.renames()?)?;
    let source_options = connect.options(Side::Source)?;
    let import_source = match &import_args.source_id {
        Some(text) => ImportSource::Registry(ResourceId::registry(text)?),
        None => ImportSource::Uri {
            host: source_registry.host.clone(),
            credentials: source_options
                .credentials
                .as_ref()
                .map(|c| (c.username.clone(), Secret::new(c.password.expose()))),
        },
    };
    // An ACR named by its host gets no credentials in importImage but the ones given here: ARM
    // would pull anonymously and refuse every import, one after the other, after the planning.
    if let ImportSource::Uri {
        credentials: None, ..
    } = &import_source
    {
        if is_acr_host(source_registry.hostname()) {
            bail!(
                "SOURCE {} is an Azure container registry and importImage would pull from it without credentials: give --source-id (the resource ID of an ACR the caller can read) or --src-creds; nothing imported",
                source_registry.host.to_ascii_lowercase()
            );
        }
    }
    let arm = import_args.arm.client(connect.azure_credential)?;
    check_login_server(&arm, &target_id, &target_ep, "--target-id", "TARGET").await?;
    if let ImportSource::Registry(source_id) = &import_source {
        check_login_server(&arm, source_id, &source_ep, "--source-id", "SOURCE").await?;
        refuse_disabled_exports(&arm, source_id).await?;
    }
    let source = transport::open(&source_ep, Access::Read, &source_options).await?;
    let target = transport::open(&target_ep, Access::Read, &connect.options(Side::Target)?).await?;
    let started = std::time::Instant::now();
    let options = ImportOptions {
        force: import_args.force,
        jobs,
        dry_run,
        untagged: !args.tagged_only,
    };
    let progress = |item: &import::ImportItem, error: Option<&str>| match error {
        None => acr_relocate::log::emit(1, || format!("imported {}", item.describe())),
        Some(e) => eprintln!("import: {}: {e}", item.describe()),
    };
    let report = import::import_all(
        &arm,
        &target_id,
        &import_source,
        (source, target),
        &matcher,
        &options,
        &progress,
    )
    .await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    }
    for (item, digest) in &report.conflicts {
        eprintln!(
            "import: {} is {} in the target, not {}: left alone (--force overwrites)",
            item.describe(),
            digest,
            item.digest
        );
    }
    for e in &report.errors {
        eprintln!("import: {e}");
    }
    let unconfirmed = report
        .failed
        .iter()
        .filter(|(_, e)| e.starts_with("not confirmed"))
        .count();
    eprintln!(
        "import: {} {} into {}, {} already there, {} conflicts, {} failed{}, in {:.1} s",
        report.imported.len(),
        if dry_run { "to import" } else { "imported" },
        target_id.name,
        report.present,
        report.conflicts.len(),
        report.failed.len(),
        match unconfirmed {
            0 => String::new(),
            n => format!(" ({n} not confirmed)"),
        },
        started.elapsed().as_secs_f64()
    );
    if !report.passed() {
        return Ok(exit::FAILURES);
    }
    // What the filters selected, counted as a streaming copy counts it (a misspelt filter that
    // selects nothing is not a success).
    let selected = report.imported.len() as u64 + report.present + report.conflicts.len() as u64;
    Ok(filters
        .nothing_selected("copy", &source_ep, &matcher, selected, 0)
        .unwrap_or(exit::SUCCESS))
}

/// Refuses an import out of a registry whose export policy is disabled (its data-exfiltration
/// setting): ARM would refuse every `importImage` from it, one after the other.
async fn refuse_disabled_exports(arm: &ArmClient, source: &ResourceId) -> anyhow::Result<()> {
    let resource = registry::get(arm, source).await?;
    let status = resource["properties"]["policies"]["exportPolicy"]["status"].as_str();
    if status.is_some_and(|s| s.eq_ignore_ascii_case("disabled")) {
        bail!(
            "--source-id names registry {}, whose export policy is disabled: nothing can be imported out of it; allow exports for the move (`az acr update --name {} --allow-exports true`), or copy without --mode import (the streaming copy reads it as any client pulls)",
            source.name,
            source.name
        );
    }
    Ok(())
}

/// Refuses a resource ID whose registry is not the one an ACR endpoint names: the plan reads one
/// registry's data plane and would import into (or from) another. Endpoints that are not ACR
/// hosts (`*.azurecr.io`, `*.azurecr.cn`, `*.azurecr.us`: a private DNS name, a proxy, a test
/// registry) cannot be compared and pass.
pub(crate) async fn check_login_server(
    arm: &ArmClient,
    id: &ResourceId,
    endpoint: &acr_relocate::endpoint::Endpoint,
    flag: &str,
    side: &str,
) -> anyhow::Result<()> {
    let Endpoint::Registry(r) = endpoint else {
        return Ok(());
    };
    if !is_acr_host(r.hostname()) {
        return Ok(());
    }
    let resource = registry::get(arm, id).await?;
    if let Some(login) = other_acr_login(&resource, endpoint) {
        let host = r.host.to_ascii_lowercase();
        bail!("{flag} names registry {} (login server {login}), but {side} is {host}: give the resource ID of the registry at {host}", id.name);
    }
    Ok(())
}

/// True for an Azure Container Registry's own host name (port left out), in any cloud:
/// `NAME.azurecr.io`, `NAME.azurecr.cn`, `NAME.azurecr.us` (the core's list).
fn is_acr_host(hostname: &str) -> bool {
    acr_relocate::transport::registry::acr::is_acr_host(hostname)
}

/// The login server of `resource` (a registry as ARM returns it) when `endpoint` is an ACR host
/// that is not it: the endpoint names another registry. Other hosts (a private DNS name, a proxy,
/// a test registry) cannot be compared and give `None`.
fn other_acr_login(resource: &serde_json::Value, endpoint: &Endpoint) -> Option<String> {
    let Endpoint::Registry(r) = endpoint else {
        return None;
    };
    let login = registry::login_server(resource)
        .unwrap_or("")
        .to_ascii_lowercase();
    (is_acr_host(r.hostname()) && !r.hostname().eq_ignore_ascii_case(&login)).then_some(login)
}

/// The options of `copy --mode import`.
#[derive(clap::Args, Clone, Debug)]
pub struct ImportArgs {
    /// With `--mode import`: the target registry's resource ID (it runs `importImage`).
    #[arg(long, value_name = "REGISTRY_ID")]
    pub target_id: Option<String>,
    /// With `--mode import`: the source registry's resource ID (an ACR the caller can read; no
    /// credentials are sent). Without it, the source is named by its host, with --src-creds
    /// (required when SOURCE is an ACR host).
    #[arg(long, value_name = "REGISTRY_ID")]
    pub source_id: Option<String>,
    /// With `--mode import`: overwrite target tags that point at another digest.
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub arm: ArmArgs,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The resource-ID ↔ login-server check knows the ACR hosts of every cloud: a registry
    /// resource whose login server is `a.azurecr.us` is another registry than `b.azurecr.us`, as
    /// in the public cloud (and in China); the same host with a port or a prefix is itself; a host
    /// that is no ACR's cannot be compared.
    #[test]
    fn sovereign_acr_hosts_are_compared_with_the_login_server() {
        let resource = |login: &str| serde_json::json!({"properties": {"loginServer": login}});
        for cloud in ["io", "us", "cn"] {
            let a = format!("a.azurecr.{cloud}");
            let other: Endpoint = format!("b.azurecr.{cloud}").parse().unwrap();
            assert_eq!(
                other_acr_login(&resource(&a), &other),
                Some(a.clone()),
                "{cloud}"
            );
            let itself: Endpoint = format!("A.azurecr.{cloud}:443/team").parse().unwrap();
            assert_eq!(other_acr_login(&resource(&a), &itself), None, "{cloud}");
        }
        let proxy: Endpoint = "registry.example.com/acr".parse().unwrap();
        assert_eq!(other_acr_login(&resource("a.azurecr.us"), &proxy), None);
        assert!(is_acr_host("b.azurecr.us") && is_acr_host("B.AZURECR.CN"));
        assert!(!is_acr_host("azurecr.us.example.com"));
    }

    /// On a registry with ABAC repository permissions the sentence names the role given and why
    /// it is not AcrPull; on a legacy one it stays as it was.
    #[test]
    fn an_attachment_names_the_role_it_gave() {
        let cluster = ResourceId::cluster(
            "/subscriptions/s/resourceGroups/g/providers/Microsoft.ContainerService/managedClusters/aks1",
        )
        .unwrap();
        let registry = ResourceId::registry(
            "/subscriptions/s/resourceGroups/g/providers/Microsoft.ContainerRegistry/registries/contosoeast",
        )
        .unwrap();
        let grant = |role| aks::Grant {
            assignment: "g-1".into(),
            role,
        };
        assert_eq!(
            describe_attached(
                &cluster,
                &registry,
                &aks::Attached::Created(grant(aks::PullRole::AcrPull))
            ),
            "aks1 can now pull from contosoeast (AcrPull role assignment g-1 created)"
        );
        assert_eq!(
            describe_attached(
                &cluster,
                &registry,
                &aks::Attached::Created(grant(aks::PullRole::RepositoryReader))
            ),
            "aks1 can now pull from contosoeast (Container Registry Repository Reader role assignment g-1 created: the registry uses ABAC repository permissions, which do not honour AcrPull)"
        );
    }

    /// A note of the comparison follows the table, one line each.
    #[test]
    fn the_settings_table_ends_with_the_notes() {
        let row = |setting, verdict, note: Option<&str>| settings::Row {
            setting,
            source: "a".into(),
            target: "b".into(),
            verdict,
            note: note.map(str::to_string),
        };
        let table = settings_table(
            &[
                row("sku", "differs", None),
                row(
                    "zoneRedundancy",
                    "expected",
                    Some("informational: on by default"),
                ),
            ],
            "old",
            "new",
        );
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 4, "{table}");
        assert_eq!(
            lines[3],
            "note: zoneRedundancy (expected): informational: on by default"
        );
    }
}
