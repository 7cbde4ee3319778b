//! The rewrite itself: locate the registry and its children, record span edits, raise findings.
//!
//! Order matters only in one place: resource removals and targeted edits are recorded first, the
//! blanket replacement of the old registry name inside every string runs last and skips anything
//! already edited or removed.

use std::collections::HashSet;

use serde_json::json;

use crate::edit::{self, Edits, Layout};
use crate::error::TemplateError;
use crate::findings::{Finding, Severity};
use crate::jsonc::{self, Node};
use crate::model::{
    self, expression_body, is_expression, pointer_key, resolve, single_call, Env, Resource, Source,
    Step,
};
use crate::regions;
use crate::rename;
use crate::rules;
use crate::{RewriteOptions, Rewritten, TemplateInput};

mod references;
mod roles;

const REGISTRY: &str = "microsoft.containerregistry/registries";
const CHILD_PREFIX: &str = "microsoft.containerregistry/registries/";

/// API versions whose `VirtualNetworkRule` is `{action, id}` (checked against the official
/// schemas in `specs/arm-schemas/<version>/Microsoft.ContainerRegistry.json`).
const VNET_ACTION_ID: &[&str] = &[
    "2017-10-01",
    "2019-05-01",
    "2019-12-01-preview",
    "2020-11-01-preview",
    "2021-06-01-preview",
    "2021-08-01-preview",
    "2021-12-01-preview",
];
/// API versions whose `VirtualNetworkRule` is `{action, virtualNetworkSubnetResourceId}`.
const VNET_ACTION_SUBNET_ID: &[&str] = &["2026-03-01-preview"];
/// API versions of the Classic (storage-account backed) registry; Classic registries can no
/// longer be created.
const RETIRED: &[&str] = &["2016-06-27-preview", "2017-03-01"];
/// The `Microsoft.Network` apiVersion of the private endpoint and DNS zone group
/// `--private-endpoint` adds (generally available, with `privateDnsZoneGroups`).
const NETWORK_API_VERSION: &str = "2023-09-01";

/// Normalises a region name for comparison (`West Europe` = `westeurope`).
pub fn norm_region(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_lowercase()
}

/// True for a subnet resource id:
/// `/subscriptions/<id>/resourceGroups/<group>/providers/Microsoft.Network/virtualNetworks/<vnet>/subnets/<subnet>`
/// (keywords in any case, no empty segment).
fn is_subnet_id(id: &str) -> bool {
    is_network_id(id, &[(6, "virtualNetworks"), (8, "subnets")], 10)
}

/// True for the resource id of a `privatelink.azurecr.io` private DNS zone (the zone ACR's
/// private endpoints write their records into), keywords and zone name in any case.
fn is_private_dns_zone_id(id: &str) -> bool {
    is_network_id(
        id,
        &[(6, "privateDnsZones"), (7, "privatelink.azurecr.io")],
        8,
    )
}

/// True for a `Microsoft.Network` resource id of `len` segments with these keywords (in any case)
/// after `/subscriptions/<id>/resourceGroups/<group>/providers/Microsoft.Network`, no segment empty.
fn is_network_id(id: &str, keywords: &[(usize, &str)], len: usize) -> bool {
    let Some(segments) = id
        .strip_prefix('/')
        .map(|s| s.split('/').collect::<Vec<_>>())
    else {
        return false;
    };
    let common = [
        (0, "subscriptions"),
        (2, "resourceGroups"),
        (4, "providers"),
        (5, "Microsoft.Network"),
    ];
    segments.len() == len
        && segments
            .iter()
            .all(|s| !s.is_empty() && !s.contains(char::is_whitespace))
        && common
            .iter()
            .chain(keywords)
            .all(|&(i, k)| segments[i].eq_ignore_ascii_case(k))
}

/// True for a name Azure accepts for a registry: 5 to 50 ASCII letters and digits.
pub fn name_is_valid(name: &str) -> bool {
    (5..=50).contains(&name.len()) && name.chars().all(|c| c.is_ascii_alphanumeric())
}

struct Doc<'a> {
    text: &'a str,
    edits: Edits,
    layout: Layout,
}

impl Doc<'_> {
    fn set_string(&mut self, node: &Node, value: &str) -> bool {
        self.set_string_at(node.span.clone(), value)
    }

    fn set_string_at(&mut self, span: std::ops::Range<usize>, value: &str) -> bool {
        self.edits.replace(span, json_str(value))
    }

    /// Adds the member `key: value` to the object `object`, in the document's own layout.
    fn insert_member(&mut self, object: &Node, key: &str, value: &serde_json::Value) {
        edit::insert_member(&mut self.edits, self.text, &self.layout, object, key, value);
    }
}

fn json_str(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

struct Ctx<'a> {
    opts: &'a RewriteOptions,
    /// The template object being rewritten (finding paths are relative to it).
    root: &'a Node,
    /// Where each nested deployment is evaluated, to follow values through parameters.
    scopes: model::Scopes<'a>,
    tpl: Doc<'a>,
    params: Option<(Doc<'a>, &'a Node)>,
    params_obj: Option<&'a Node>,
    findings: Vec<Finding>,
    seen: HashSet<(&'static str, String, String)>,
    api_versions: HashSet<String>,
    edited_locations: HashSet<usize>,
    /// Span starts of strings that name the registry or a child as a whole (`old`, `old/child`).
    whole_names: HashSet<usize>,
    /// `--key-uri` was written somewhere.
    key_uri_used: bool,
    /// The path of the registry's `publicNetworkAccess` when it is `Disabled`.
    public_disabled: Option<String>,
    /// The source registry's name, once known.
    old_name: Option<String>,
    /// The regions the relocated registry serves, for its data endpoints.
    data_regions: Option<rename::DataRegions>,
    /// Tasks met in the children pass (path, name): their content is rewritten once the regions
    /// the new registry serves are known ([`recreate_tasks`]).
    tasks: Vec<(String, String)>,
    /// Replication locations written as expressions ([`compact`]), with the span start of the
    /// template they are read in: a child there whose location is one of them is in a replica
    /// region.
    replica_exprs: HashSet<(usize, String)>,
}

impl Ctx<'_> {
    fn find(
        &mut self,
        severity: Severity,
        rule: &'static str,
        path: &str,
        message: String,
        fix: String,
    ) {
        if self.seen.insert((rule, path.to_string(), message.clone())) {
            self.findings.push(Finding {
                severity,
                rule_id: rule,
                path: path.to_string(),
                message,
                fix,
            });
        }
    }

    /// The JSON Pointer of `node`, in the template or (prefixed `(parameters file)`) in the
    /// parameters file.
    fn path_of(&self, node: &Node) -> String {
        if let Some(p) = model::pointer_of(self.root, node) {
            return p;
        }
        self.params
            .as_ref()
            .and_then(|(_, root)| model::pointer_of(root, node))
            .map(|p| format!("(parameters file){p}"))
            .unwrap_or_default()
    }

    /// Edits a value node that lives either in the template or in the parameters file.
    fn set_value(&mut self, node: &Node, value: &str) -> bool {
        match &mut self.params {
            Some((doc, root)) if in_doc(root, node) => doc.set_string(node, value),
            _ => self.tpl.set_string(node, value),
        }
    }
}

/// True when `node` is (by identity of address) inside the tree `root`.
fn in_doc(root: &Node, node: &Node) -> bool {
    let mut stack = vec![root];
    while let Some(n) = stack.pop() {
        if std::ptr::eq(n, node) {
            return true;
        }
        if let Some(ms) = n.members() {
            stack.extend(ms.iter().map(|m| &m.value));
        } else if let Some(items) = n.items() {
            stack.extend(items.iter());
        }
    }
    false
}

/// Finds the template object in the parsed input: the root itself, or the `template` member of
/// an exportTemplate response or of a deployment body.
fn find_template<'a>(root: &'a Node, name: &str) -> Result<(&'a Node, String), TemplateError> {
    let looks = |n: &Node| {
        n.members().is_some()
            && (n
                .get("resources")
                .is_some_and(|r| r.items().is_some() || r.members().is_some()))
            && (n.get("$schema").is_some()
                || n.get("contentVersion").is_some()
                || n.get("parameters").is_some())
    };
    if root.members().is_none() {
        return Err(TemplateError::NotTemplate {
            source_name: name.into(),
            detail: "the top level is not an object".into(),
        });
    }
    if looks(root) {
        return Ok((root, String::new()));
    }
    for path in [&["template"][..], &["properties", "template"][..]] {
        if let Some(t) = root.at(path) {
            if looks(t) {
                return Ok((t, path.iter().map(|p| format!("/{p}")).collect()));
            }
        }
    }
    Err(TemplateError::NotTemplate {
        source_name: name.into(),
        detail: "no \"resources\" with \"$schema\" or \"contentVersion\" at the top level or under \"template\"".into(),
    })
}

/// Runs the whole rewrite. See [`crate::rewrite_template`].
pub fn run(input: &TemplateInput, opts: &RewriteOptions) -> Result<Rewritten, TemplateError> {
    if opts.location.trim().is_empty() || opts.location.contains(['[', '\'', '"']) {
        return Err(TemplateError::BadOption {
            option: "--location",
            detail: format!(
                "{:?} is not a region name such as westeurope",
                opts.location
            ),
        });
    }
    if !name_is_valid(&opts.name) {
        return Err(TemplateError::BadOption {
            option: "--name",
            detail: format!(
                "{:?} is not a registry name: give a globally unique name of 5 to 50 letters and digits, no dashes",
                opts.name
            ),
        });
    }
    if let Some(bad) = opts.subnets.iter().find(|s| !is_subnet_id(s)) {
        return Err(TemplateError::BadOption {
            option: "--subnet",
            detail: format!(
                "{bad:?} is not a subnet resource id: give /subscriptions/<id>/resourceGroups/<group>/providers/Microsoft.Network/virtualNetworks/<vnet>/subnets/<subnet>"
            ),
        });
    }
    if let Some(bad) = opts
        .private_endpoint_subnet
        .as_deref()
        .filter(|s| !is_subnet_id(s))
    {
        return Err(TemplateError::BadOption {
            option: "--private-endpoint",
            detail: format!(
                "{bad:?} is not a subnet resource id: give /subscriptions/<id>/resourceGroups/<group>/providers/Microsoft.Network/virtualNetworks/<vnet>/subnets/<subnet> (a subnet in the target region)"
            ),
        });
    }
    if let Some(zone) = &opts.private_dns_zone {
        if opts.private_endpoint_subnet.is_none() {
            return Err(TemplateError::BadOption {
                option: "--private-dns-zone",
                detail: "links the private endpoint that --private-endpoint adds: give --private-endpoint <subnet id> too".into(),
            });
        }
        if !is_private_dns_zone_id(zone) {
            return Err(TemplateError::BadOption {
                option: "--private-dns-zone",
                detail: format!(
                    "{zone:?} is not the resource id of a privatelink.azurecr.io zone: give /subscriptions/<id>/resourceGroups/<group>/providers/Microsoft.Network/privateDnsZones/privatelink.azurecr.io"
                ),
            });
        }
    }
    let root = jsonc::parse(&input.template).map_err(|e| TemplateError::NotJson {
        source_name: input.name.clone(),
        detail: e.to_string(),
    })?;
    let (template, base_path) = find_template(&root, &input.name)?;
    let params_root = match &input.parameters {
        Some(p) => {
            let pname = input
                .parameters_name
                .clone()
                .unwrap_or_else(|| "parameters file".into());
            let node = jsonc::parse(p).map_err(|e| TemplateError::BadParameters {
                source_name: pname.clone(),
                detail: format!("not JSON: {e}"),
            })?;
            if node.get("parameters").and_then(|p| p.members()).is_none() {
                return Err(TemplateError::BadParameters {
                    source_name: pname,
                    detail: "no \"parameters\" object".into(),
                });
            }
            Some(node)
        }
        None => None,
    };

    let mut resources = Vec::new();
    model::collect(template, &mut resources);
    // `"existing": true` (languageVersion 2.0) only references a registry deployed elsewhere.
    let registries: Vec<usize> = (0..resources.len())
        .filter(|&i| {
            resources[i].full_type == REGISTRY
                && resources[i].node.get("existing").and_then(Node::as_bool) != Some(true)
        })
        .collect();
    let params_obj = params_root.as_ref().and_then(|p| p.get("parameters"));
    let describe = |i: usize| -> (String, Option<String>) {
        let r = &resources[i];
        let raw = r.node.get_str("name").unwrap_or("?").to_string();
        let resolved = r.node.get("name").and_then(|n| {
            resolve(
                n,
                r.template,
                r.deployment,
                if r.deployment.is_none() {
                    params_obj
                } else {
                    None
                },
            )
            .literal()
            .map(str::to_string)
        });
        (raw, resolved)
    };
    let chosen = match registries.len() {
        // Only children of an existing registry (modules, pipelines, task runs): they are
        // pointed at the new registry (see `relocate_children`).
        0 if resources
            .iter()
            .any(|r| r.full_type.starts_with(CHILD_PREFIX)) =>
        {
            None
        }
        0 => {
            return Err(TemplateError::NoRegistry {
                source_name: input.name.clone(),
                detail: String::new(),
            });
        }
        _ => {
            let names: Vec<(String, Option<String>)> =
                registries.iter().map(|&i| describe(i)).collect();
            let list = names
                .iter()
                .map(|(raw, res)| res.clone().unwrap_or_else(|| raw.clone()))
                .collect::<Vec<_>>()
                .join(", ");
            match &opts.only {
                Some(want) => {
                    let hit = registries.iter().zip(&names).find(|(_, (raw, res))| {
                        raw.eq_ignore_ascii_case(want)
                            || res.as_deref().is_some_and(|r| r.eq_ignore_ascii_case(want))
                            || model::single_call(raw, "parameters")
                                .is_some_and(|p| p.eq_ignore_ascii_case(want))
                    });
                    match hit {
                        Some((&i, _)) => Some(i),
                        None => {
                            return Err(TemplateError::OnlyNotFound {
                                source_name: input.name.clone(),
                                wanted: want.clone(),
                                names: list,
                            })
                        }
                    }
                }
                None if registries.len() == 1 => Some(registries[0]),
                None => {
                    return Err(TemplateError::SeveralRegistries {
                        source_name: input.name.clone(),
                        count: registries.len(),
                        names: list,
                    })
                }
            }
        }
    };

    let mut ctx = Ctx {
        opts,
        root: template,
        scopes: model::Scopes::new(&resources, params_obj),
        tpl: Doc {
            text: &input.template,
            edits: Edits::default(),
            layout: Layout::detect(&input.template),
        },
        params: match (&input.parameters, &params_root) {
            (Some(text), Some(root)) => Some((
                Doc {
                    text,
                    edits: Edits::default(),
                    layout: Layout::detect(text),
                },
                root,
            )),
            _ => None,
        },
        params_obj,
        findings: Vec::new(),
        seen: HashSet::new(),
        api_versions: HashSet::new(),
        edited_locations: HashSet::new(),
        whole_names: HashSet::new(),
        key_uri_used: false,
        public_disabled: None,
        old_name: None,
        replica_exprs: HashSet::new(),
        data_regions: None,
        tasks: Vec::new(),
    };
    for (option, region) in std::iter::once(("--location", &opts.location))
        .chain(opts.add_replications.iter().map(|r| ("--replication", r)))
    {
        let n = norm_region(region);
        if !regions::is_known(&n) {
            ctx.find(
                Severity::Warning,
                rules::LOCATION_UNKNOWN,
                "",
                format!("{option} {region} is not an Azure region name this version knows; did you mean {}?", regions::closest(&n)),
                "check the name with az account list-locations -o table (a misspelt region fails the deployment, and a replication in the real home region would be kept)".into(),
            );
        }
    }
    if let Some(c) = chosen {
        let others: Vec<String> = registries
            .iter()
            .filter(|&&i| i != c)
            .map(|&i| {
                let (raw, res) = describe(i);
                res.unwrap_or(raw)
            })
            .collect();
        if !others.is_empty() {
            ctx.find(
                Severity::Warning,
                rules::OTHER_REGISTRIES_KEPT,
                &resources[c].path,
                format!(
                    "the template also defines {}, left as they were with their children (name and region unchanged)",
                    others.join(", ")
                ),
                "remove them from this template before deploying it, or relocate each with its own --only run: deploying them as they are fails while they exist (registry names are global)".into(),
            );
        }
    }
    let old_name = match chosen {
        Some(i) => relocate(&mut ctx, template, &resources, i, registries.len()),
        None => {
            if let Some(subnet) = &opts.private_endpoint_subnet {
                ctx.find(
                    Severity::Warning,
                    rules::OPTION_IGNORED,
                    "",
                    format!("--private-endpoint {subnet} was not applied: the template defines no registry to connect it to (only children of an existing one)"),
                    "add the private endpoint with the template that creates the registry, or create it after that deployment".into(),
                );
            }
            relocate_children(&mut ctx, template, &resources)
        }
    };
    // With a registry relocated, `--private-endpoint` added its own endpoint.
    let added = usize::from(chosen.is_some() && opts.private_endpoint_subnet.is_some());
    let endpoints = private_endpoints_of_the_registry(&mut ctx, &resources) + added;
    if let Some(old) = old_name.as_deref() {
        old_private_dns_records(&mut ctx, &resources, old, &opts.name);
    }
    if let (Some(path), 0) = (ctx.public_disabled.clone(), endpoints) {
        let name = opts.name.to_ascii_lowercase();
        ctx.find(
            Severity::Warning,
            rules::PUBLIC_ACCESS_NO_PRIVATE_ENDPOINT,
            &path,
            format!("public network access is disabled and the template creates no private endpoint for the registry: the new registry is unreachable on the data plane (client-mode copy, verify, the rewrite's check, AKS pulls) until a private endpoint and DNS records exist in a {} virtual network", opts.location),
            private_endpoint_fix(opts).replacen("create a private endpoint", &format!("before copying into {name}, create a private endpoint"), 1),
        );
    }
    if let Some(old) = old_name
        .as_deref()
        .filter(|o| !o.eq_ignore_ascii_case(&opts.name))
    {
        references::registry_parameters(&mut ctx, template, &resources, old);
    }

    // Last: the old name where it names the registry or its children (references, the portal's
    // name parameter, login servers). Inserted text (option values, source values kept as
    // parameter defaults) is never renamed.
    if let Some(old) = &old_name {
        if old.eq_ignore_ascii_case(&opts.name) {
            ctx.find(
                Severity::Warning,
                rules::NAME_UNCHANGED,
                "",
                format!("the new name {} is the source registry's name; registry names are global, so the deployment fails (AlreadyInUse) while the source registry exists", opts.name),
                "choose another name, or delete the source registry first (after its images are copied elsewhere)".into(),
            );
        } else {
            for r in &resources {
                if let Some(items) = r.node.get("dependsOn").and_then(Node::items) {
                    ctx.whole_names.extend(items.iter().map(|n| n.span.start));
                }
            }
            let regions = ctx.data_regions.clone();
            let renamed = rename_everywhere(
                &mut ctx.tpl,
                template,
                old,
                &opts.name,
                &ctx.whole_names,
                regions.as_ref(),
            );
            data_endpoints_kept(&mut ctx, &resources, &renamed.data_hosts, false);
            data_endpoints_to_add(&mut ctx, &resources, &renamed.data_written, false);
            let kept = renamed.kept;
            if let Some((doc, root)) = &mut ctx.params {
                let in_file = rename_everywhere(
                    doc,
                    root,
                    old,
                    &opts.name,
                    &HashSet::new(),
                    regions.as_ref(),
                );
                data_endpoints_kept(&mut ctx, &resources, &in_file.data_hosts, true);
                data_endpoints_to_add(&mut ctx, &resources, &in_file.data_written, true);
            }
            if !kept.is_empty() {
                let shown: Vec<&str> = kept.iter().take(12).map(String::as_str).collect();
                let more = if kept.len() > shown.len() {
                    format!(" and {} more", kept.len() - shown.len())
                } else {
                    String::new()
                };
                ctx.find(
                    Severity::Info,
                    rules::OLD_NAME_KEPT,
                    &kept[0],
                    format!(
                        "{old} also occurs in values that do not name the registry, kept as they were: {}{more}",
                        shown.join(", ")
                    ),
                    "check whether these resources (key vaults, identities, workspaces, tags) should change for the new registry".into(),
                );
            }
        }
    }

    let slice = &input.template[template.span.clone()];
    let mut out = ctx.tpl.edits.apply(slice, template.span.start);
    if base_path.is_empty() {
        // Keep what surrounds the root (BOM, leading comments, final newline).
        out = format!(
            "{}{}{}",
            &input.template[..template.span.start],
            out,
            &input.template[template.span.end..]
        );
    } else if !out.ends_with('\n') {
        out.push_str(ctx.tpl.layout.newline);
    }
    let parameters = ctx
        .params
        .as_ref()
        .map(|(doc, _)| doc.edits.apply(doc.text, 0));
    let mut findings = ctx.findings;
    let secrets = crate::secure::find(&root, template, params_obj);
    findings.sort_by_key(|f| f.severity);
    for f in &mut findings {
        f.path = format!("{base_path}{}", f.path);
    }
    if !base_path.is_empty() {
        findings.extend(export_errors(&root));
        findings.sort_by_key(|f| f.severity);
    }
    secrets.mask(&mut findings);
    Ok(Rewritten {
        template: out,
        parameters,
        findings,
        old_name,
        secure_parameters: secrets.names,
    })
}

/// The `error` of an exportTemplate response (`ExportTemplateCompletedWithErrors`): one warning
/// per detail, naming what is missing from the template.
fn export_errors(root: &Node) -> Vec<Finding> {
    let Some(error) = root.get("error").filter(|e| e.members().is_some()) else {
        return Vec::new();
    };
    let text = |n: &Node, k: &str| n.get_str(k).unwrap_or("").to_string();
    let fix = "add the missing resources to the template by hand (az resource show --ids <id> gives their properties), or recreate them after the deployment".to_string();
    let details: Vec<&Node> = error
        .get("details")
        .and_then(Node::items)
        .unwrap_or(&[])
        .iter()
        .collect();
    if details.is_empty() {
        return vec![Finding {
            severity: Severity::Warning,
            rule_id: rules::EXPORT_INCOMPLETE,
            path: "/error".into(),
            message: format!(
                "the export completed with errors ({}: {}): some resources may be missing from the template",
                text(error, "code"),
                text(error, "message")
            ),
            fix,
        }];
    }
    details
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let target = text(d, "target");
            Finding {
                severity: Severity::Warning,
                rule_id: rules::EXPORT_INCOMPLETE,
                path: format!("/error/details/{i}"),
                message: format!(
                    "{} is missing from the template: the export reported {}: {}",
                    if target.is_empty() {
                        "a resource".to_string()
                    } else {
                        target
                    },
                    text(d, "code"),
                    text(d, "message")
                ),
                fix: fix.clone(),
            }
        })
        .collect()
}

/// Renames `old` where a string or key names the registry or its children (see
/// [`rename::rename_refs`]); `whole` holds the span starts of resource names and `dependsOn`
/// entries that may be the bare name. Returns the pointers of strings that still contain the
/// old name as a word (someone else's resources), in document order.
fn rename_everywhere(
    doc: &mut Doc<'_>,
    root: &Node,
    old: &str,
    new: &str,
    whole: &HashSet<usize>,
    regions: Option<&rename::DataRegions>,
) -> Renamed {
    let mut found: Vec<(String, std::ops::Range<usize>, bool)> = Vec::new();
    walk_with_paths(root, "", &mut found);
    let mut result = Renamed::default();
    for (path, span, is_key) in found {
        let raw = &doc.text[span.clone()];
        if !rename::contains_word(raw, old) || doc.edits.overlaps(&span) {
            continue;
        }
        let r = rename::rename_refs_counted(
            raw,
            old,
            new,
            !is_key && whole.contains(&span.start),
            regions,
        );
        let (renamed, hosts) = (r.text, r.kept_hosts);
        if !r.data_regions.is_empty() {
            result
                .data_written
                .push((path.clone(), span.start, r.data_regions));
        }
        // Still there after the rename (or not renamed at all): someone else's value.
        let still = match renamed.as_deref() {
            Some(t) => rename::contains_word(t, old),
            None => true,
        };
        if let Some(t) = renamed {
            doc.edits.replace(span.clone(), t);
        }
        if !hosts.is_empty() {
            result.data_hosts.push((path, span.start, hosts));
        } else if still {
            result.kept.push(path);
        }
    }
    result
}

/// What [`rename_everywhere`] left.
#[derive(Default)]
struct Renamed {
    /// Pointers of strings that still contain the old name as a word (someone else's values).
    kept: Vec<String>,
    /// Data endpoints of regions the new registry does not serve, kept: pointer, span start of
    /// the string, hosts.
    data_hosts: Vec<(String, usize, Vec<String>)>,
    /// The regions of the new registry's data endpoints written: pointer, span start of the
    /// string, regions.
    data_written: Vec<(String, usize, Vec<String>)>,
}

/// The innermost resource of `res` that holds the text at `start`.
fn owner_of<'r, 'a>(res: &'r [Resource<'a>], start: usize) -> Option<&'r Resource<'a>> {
    res.iter()
        .filter(|r| r.node.span.start <= start && start < r.node.span.end)
        .min_by_key(|r| r.node.span.len())
}

/// The source's home region stays a replica (`--replication <old home>`), so its data endpoint
/// keeps its region: a resource (or an output, a parameter) that listed it now lacks the new
/// home's endpoint. An info finding per resource names the endpoints to add.
fn data_endpoints_to_add(
    ctx: &mut Ctx<'_>,
    res: &[Resource<'_>],
    written: &[(String, usize, Vec<String>)],
    in_params_file: bool,
) {
    let Some(regions) = ctx.data_regions.clone().filter(|r| r.old_home_kept()) else {
        return;
    };
    let old_home = regions.old_home.clone().unwrap_or_default();
    // Grouped by the innermost resource holding the strings (else by the string itself).
    let mut groups: Vec<(String, Option<usize>, Vec<String>)> = Vec::new();
    for (path, start, list) in written {
        let owner = (!in_params_file)
            .then(|| owner_of(res, *start))
            .flatten()
            .map(|r| r.node.span.start);
        match groups
            .iter_mut()
            .find(|(_, o, _)| owner.is_some() && *o == owner)
        {
            Some((_, _, all)) => all.extend(list.iter().cloned()),
            None => groups.push((path.clone(), owner, list.clone())),
        }
    }
    let new = ctx.opts.name.to_ascii_lowercase();
    for (path, owner, list) in groups {
        if !list.contains(&old_home) || list.contains(&regions.target) {
            continue;
        }
        let missing: Vec<String> = regions
            .endpoints(&new)
            .into_iter()
            .filter(|e| {
                !list
                    .iter()
                    .any(|r| *e == format!("{new}.{r}.data.azurecr.io"))
            })
            .collect();
        let shown = if in_params_file {
            format!("(parameters file){path}")
        } else {
            owner
                .and_then(|o| res.iter().find(|r| r.node.span.start == o))
                .map(|r| r.path.clone())
                .unwrap_or(path)
        };
        ctx.find(
            Severity::Info,
            rules::DATA_ENDPOINT_TO_ADD,
            &shown,
            format!(
                "{new}.{old_home}.data.azurecr.io stays (the source's home region {old_home} is kept as a replica), but the new home's data endpoint is not listed here"
            ),
            format!("add {} where the data endpoints are listed (a firewall that lacks it refuses the layer downloads served from {})", missing.join(", "), regions.target),
        );
    }
}

/// A data endpoint of the source kept (a region the new registry does not serve): blocking in a
/// firewall or DNS resource (it lets through or resolves a host that stops working, while the
/// new registry's hosts are missing), a warning elsewhere.
fn data_endpoints_kept(
    ctx: &mut Ctx<'_>,
    res: &[Resource<'_>],
    hosts: &[(String, usize, Vec<String>)],
    in_params_file: bool,
) {
    let Some(regions) = ctx.data_regions.clone() else {
        return;
    };
    let endpoints = regions.endpoints(&ctx.opts.name).join(", ");
    for (path, start, list) in hosts {
        // The innermost resource holding the string.
        let owner = (!in_params_file)
            .then(|| {
                res.iter()
                    .filter(|r| r.node.span.start <= *start && *start < r.node.span.end)
                    .min_by_key(|r| r.node.span.len())
            })
            .flatten();
        let kind = owner.map(|r| r.full_type.as_str()).unwrap_or("");
        let network = [
            "firewall",
            "dnszones",
            "dnsresolvers",
            "applicationgateways",
        ]
        .iter()
        .any(|k| kind.contains(k));
        let (severity, why) = if network {
            (Severity::Blocking, format!(" in {}: it lets through (or resolves) a host that stops working with the source, while the new registry's data endpoints are missing", owner.and_then(|r| r.node.get_str("type")).unwrap_or("a network resource")))
        } else {
            (Severity::Warning, String::new())
        };
        let shown = if in_params_file {
            format!("(parameters file){path}")
        } else {
            path.clone()
        };
        ctx.find(
            severity,
            rules::DATA_ENDPOINT_KEPT,
            &shown,
            format!("{} is a data endpoint of the source in a region the new registry does not serve, kept as it was{why}", list.join(", ")),
            format!("use the new registry's data endpoints instead: {endpoints} (one per region it serves; add --replication <region> to serve that region)"),
        );
    }
}

/// Every string value and object key below `node`, with its JSON pointer (for a key: the
/// member's pointer) and whether it is a key.
fn walk_with_paths(node: &Node, path: &str, out: &mut Vec<(String, std::ops::Range<usize>, bool)>) {
    match &node.value {
        jsonc::Value::String(_) => out.push((path.to_string(), node.span.clone(), false)),
        jsonc::Value::Object(ms) => {
            for m in ms {
                let p = format!("{path}/{}", pointer_key(&m.key));
                out.push((p.clone(), m.key_span.clone(), true));
                walk_with_paths(&m.value, &p, out);
            }
        }
        jsonc::Value::Array(items) => {
            for (i, n) in items.iter().enumerate() {
                walk_with_paths(n, &format!("{path}/{i}"), out);
            }
        }
        _ => {}
    }
}

fn str_ci_eq(n: Option<&Node>, want: &str) -> bool {
    n.and_then(Node::as_str)
        .is_some_and(|s| s.eq_ignore_ascii_case(want))
}

/// The last segment of a child resource name (`reg/westus` → `westus`), best effort for
/// expressions (`concat(parameters('r'), '/_x')` → `_x`).
fn last_segment(name: &str) -> Option<String> {
    if !is_expression(name) {
        return name.rsplit('/').next().map(str::to_string);
    }
    let body = expression_body(name);
    let parts: Vec<&str> = body.split('\'').collect();
    // Odd indexes are inside quotes.
    let quoted: Vec<&&str> = parts.iter().skip(1).step_by(2).collect();
    let lit = quoted.last()?;
    let seg = lit.rsplit('/').next()?;
    (!seg.is_empty() && !seg.contains('{')).then(|| seg.to_string())
}

fn remove_resource(ctx: &mut Ctx<'_>, removed: &mut Vec<Removed>, r: &Resource<'_>) {
    let idx = [r.slot.index];
    if r.slot.symbol.is_some() {
        edit::remove_members(&mut ctx.tpl.edits, r.slot.container, &idx);
    } else {
        edit::remove_items(&mut ctx.tpl.edits, r.slot.container, &idx);
    }
    removed.push(Removed {
        path: r.path.clone(),
        short_type: r.full_type.rsplit('/').next().unwrap_or("").to_string(),
        segment: r.node.get_str("name").and_then(last_segment),
        symbol: r.slot.symbol.clone(),
    });
}

struct Removed {
    path: String,
    short_type: String,
    segment: Option<String>,
    symbol: Option<String>,
}

/// Does all the work on the chosen registry; returns the old name when it is known.
fn relocate<'r>(
    ctx: &mut Ctx<'_>,
    root: &'r Node,
    res: &[Resource<'r>],
    reg_i: usize,
    registry_count: usize,
) -> Option<String> {
    let opts = ctx.opts;
    let reg = &res[reg_i];
    let rp = reg.path.clone();
    let api = reg.api_version().to_string();
    let params_obj = ctx.params_obj;
    let pfile = |r: &Resource<'_>| {
        if r.deployment.is_none() {
            params_obj
        } else {
            None
        }
    };

    // --- Name -------------------------------------------------------------------------------
    let name_node = reg.node.get("name");
    let mut old_name = None;
    let mut name_expr_for_children = format!("'{}'", opts.name);
    let mut name_set = false;
    let mut name_references = Vec::new();
    let copy_loop = reg.node.get("copy");
    if let Some(copy) = copy_loop {
        registry_copy_loop(ctx, copy, &rp);
    } else if let Some(name_node) = name_node {
        let steps = ctx.scopes.chain(name_node, Env::of(reg, params_obj));
        let named = apply_name(ctx, &steps, &rp);
        (old_name, name_expr_for_children, name_set) = (named.old, named.expr, named.set);
        name_references = named.references;
    }
    ctx.old_name = old_name.clone();

    if let Some(holder) = reg.holder {
        let scope = if model::is_inner_scope(holder) {
            "inner scope: its parameters() are its own, given by the deployment's parameters"
        } else {
            "outer scope: its parameters() and variables() are those of the template around it"
        };
        let message = if name_set {
            format!("the registry is defined inside a nested deployment ({scope}); it was rewritten in place")
        } else {
            let rule = if copy_loop.is_some() {
                rules::REGISTRY_COPY_LOOP
            } else {
                rules::NAME_NOT_SET
            };
            format!("the registry is defined inside a nested deployment ({scope}); its name was not rewritten (see {rule})")
        };
        ctx.find(
            Severity::Info,
            rules::NESTED_DEPLOYMENT,
            &rp,
            message,
            "check the nested deployment's parameters and scope (resource group, subscription) for the target".into(),
        );
        nested_deployment_scope(ctx, res, reg);
    }

    // --- Which resources belong to this registry --------------------------------------------
    let name_key = name_node.and_then(Node::as_str).map(|s| {
        model::single_call(s, "parameters")
            .or_else(|| model::single_call(s, "variables"))
            .map(str::to_string)
            .unwrap_or_else(|| s.to_string())
            .to_ascii_lowercase()
    });
    let belongs = |i: usize| -> bool {
        let r = &res[i];
        let mut p = r.parent;
        while let Some(pi) = p {
            if res[pi].full_type == REGISTRY {
                return pi == reg_i;
            }
            p = res[pi].parent;
        }
        if registry_count == 1 {
            return true;
        }
        // The parent named by the child's first name segment, compared exactly: `acrone01` is
        // not the parent of `acrone01dev/eastus`.
        let Some(parent) = r.node.get_str("name").and_then(parent_key) else {
            return false;
        };
        name_key.as_deref() == Some(parent.as_str())
            || old_name
                .as_deref()
                .is_some_and(|o| o.eq_ignore_ascii_case(&parent))
    };
    let children: Vec<usize> = (0..res.len())
        .filter(|&i| res[i].full_type.starts_with(CHILD_PREFIX) && belongs(i))
        .collect();
    for &i in children.iter().chain([&reg_i]) {
        if let Some(n) = res[i].node.get("name") {
            ctx.whole_names.insert(n.span.start);
        }
    }

    let mut removed: Vec<Removed> = Vec::new();

    check_api_version(ctx, reg);

    // --- Location -----------------------------------------------------------------------------
    let location_steps = reg
        .node
        .get("location")
        .map(|n| ctx.scopes.chain(n, Env::of(reg, params_obj)))
        .unwrap_or_default();
    let old_location = location_steps
        .last()
        .map(|_| definition(&location_steps))
        .and_then(|d| d.source.literal())
        .map(str::to_string);
    set_location(ctx, reg, &rp);

    // --- Replications, private endpoint connections, system scope maps ----------------------
    let target = norm_region(&opts.location);
    let old_home = old_location
        .as_deref()
        .filter(|l| !is_expression(l))
        .map(norm_region);
    let (kept_replications, mut replication_count) =
        children_pass(ctx, res, &children, &mut removed, old_home.as_deref());

    // --- Added replications --------------------------------------------------------------
    let mut seen_add = HashSet::new();
    for region in &opts.add_replications {
        let n = norm_region(region);
        if n == target {
            ctx.find(
                Severity::Warning,
                rules::REPLICATION_ADDED,
                &rp,
                format!("--replication {region} ignored: it is the new home region"),
                "leave the home region out of --replication".into(),
            );
            continue;
        }
        if kept_replications.contains(&n) || !seen_add.insert(n.clone()) {
            continue;
        }
        let new_res = json!({
            "type": "Microsoft.ContainerRegistry/registries/replications",
            "apiVersion": api,
            "name": format!("[concat({name_expr_for_children}, '/{n}')]"),
            "location": n,
            "properties": {},
            "dependsOn": [match &reg.slot.symbol {
                Some(s) => s.clone(),
                None => format!("[resourceId('Microsoft.ContainerRegistry/registries', {name_expr_for_children})]"),
            }],
        });
        add_beside(ctx, reg, &format!("replication_{n}"), &new_res);
        replication_count += 1;
        ctx.find(
            Severity::Info,
            rules::REPLICATION_ADDED,
            &rp,
            format!("replication in {n} added (--replication)"),
            "nothing to do".into(),
        );
    }

    let endpoint_added = add_private_endpoint(ctx, reg, &name_expr_for_children);

    // The regions the new registry serves: its data endpoints.
    let mut replicas = kept_replications.clone();
    for r in &opts.add_replications {
        let n = norm_region(r);
        if n != target && !replicas.contains(&n) {
            replicas.push(n);
        }
    }
    ctx.data_regions = Some(rename::DataRegions {
        old_home: old_home.clone(),
        target: target.clone(),
        replicas,
    });
    recreate_tasks(ctx, res);

    // --- dependsOn entries that point at removed resources -------------------------------------
    let dependency = RegistryDependency {
        index: reg_i,
        symbol: reg.slot.symbol.clone(),
        name_expr: name_expr_for_children.clone(),
        template: reg.template,
        old: old_name.clone(),
    };
    drop_dangling_depends(ctx, res, &removed, Some(&dependency));
    removed_references(ctx, root, res, &removed);

    // --- Registry properties -------------------------------------------------------------------
    let props = reg.node.get("properties");
    if let Some(p) = props {
        if p.as_str().is_some() {
            ctx.find(
                Severity::Warning,
                rules::EXPRESSION_NOT_INSPECTED,
                &format!("{rp}/properties"),
                "the registry's properties are one expression; network rules, policies and encryption were not inspected".into(),
                "review the expression by hand for the target region".into(),
            );
        }
    }
    for key in ["identity", "sku"] {
        if reg.node.get(key).and_then(Node::as_str).is_some() {
            ctx.find(
                Severity::Warning,
                rules::EXPRESSION_NOT_INSPECTED,
                &format!("{rp}/{key}"),
                format!("the registry's {key} is one expression and was not inspected"),
                "review the expression by hand for the target region".into(),
            );
        }
    }
    let prop = |k: &str| props.and_then(|p| p.get(k));
    // A scalar setting written as `[parameters('x')]` or `[variables('y')]` counts with the
    // value the deployment would use (given value or default), like the SKU.
    let pf = if reg.deployment.is_none() {
        params_obj
    } else {
        None
    };
    let val = |n: Option<&'r Node>| n.and_then(|n| scalar_value(n, reg, pf));
    for (k, sub) in [
        ("networkRuleSet", None),
        ("policies", None),
        ("encryption", None),
    ] {
        let _: Option<()> = sub;
        if prop(k).and_then(Node::as_str).is_some() {
            ctx.find(
                Severity::Warning,
                rules::EXPRESSION_NOT_INSPECTED,
                &format!("{rp}/properties/{k}"),
                format!("properties.{k} is one expression and was not inspected"),
                "review the expression by hand for the target region".into(),
            );
        }
    }

    let mut premium: Vec<&str> = Vec::new();
    if replication_count > 0 {
        premium.push("geo-replication");
    }
    if endpoint_added {
        premium.push("private endpoints");
    }

    // Private endpoint connections inline.
    if let (Some(p), Some(pec)) = (props, prop("privateEndpointConnections")) {
        let has = pec.items().is_some_and(|i| !i.is_empty());
        if let Some(idx) = p.members().and_then(|ms| {
            ms.iter()
                .position(|m| m.key.eq_ignore_ascii_case("privateEndpointConnections"))
        }) {
            edit::remove_members(&mut ctx.tpl.edits, p, &[idx]);
        }
        if has {
            premium.push("private endpoints");
            ctx.find(
                recreate_severity(opts),
                rules::PRIVATE_ENDPOINT_RECREATE,
                &format!("{rp}/properties/privateEndpointConnections"),
                "private endpoint connections removed: they belong to the source registry's private endpoints".into(),
                private_endpoint_fix(opts),
            );
        }
    }
    if children
        .iter()
        .any(|&c| res[c].full_type.ends_with("/privateendpointconnections"))
    {
        premium.push("private endpoints");
    }

    if children
        .iter()
        .any(|&c| res[c].full_type.ends_with("/connectedregistries"))
    {
        premium.push("connected registries");
    }

    // Public access and bypass.
    let public_disabled = str_ci_eq(val(prop("publicNetworkAccess")), "Disabled");
    if public_disabled {
        premium.push("disabled public network access");
        ctx.public_disabled = Some(format!("{rp}/properties/publicNetworkAccess"));
    }
    let bypass = val(prop("networkRuleBypassOptions")).and_then(Node::as_str);
    if public_disabled && bypass.is_some_and(|b| b.eq_ignore_ascii_case("None")) {
        ctx.find(
            Severity::Blocking,
            rules::PUBLIC_ACCESS_NO_BYPASS,
            &format!("{rp}/properties/networkRuleBypassOptions"),
            "public network access is disabled and trusted Azure services are not allowed: server-side import (az acr import) into the new registry will be refused".into(),
            "set networkRuleBypassOptions to AzureServices at least until the import is done".into(),
        );
    }

    // Network rules.
    network_rules(ctx, reg, prop("networkRuleSet"), &api, &mut premium);

    // Data endpoint, zone redundancy.
    if val(prop("dataEndpointEnabled")).and_then(Node::as_bool) == Some(true) {
        premium.push("dedicated data endpoint");
    }
    if str_ci_eq(val(prop("zoneRedundancy")), "Enabled") {
        premium.push("zone redundancy");
        zone_redundancy(
            ctx,
            &format!("{rp}/properties/zoneRedundancy"),
            "the registry",
            &target,
        );
    }

    // Policies.
    let pol = |k: &str| prop("policies").and_then(|p| p.get(k));
    if str_ci_eq(
        val(pol("quarantinePolicy").and_then(|r| r.get("status"))),
        "enabled",
    ) {
        ctx.find(
            Severity::Warning,
            rules::QUARANTINE_POLICY_ENABLED,
            &format!("{rp}/properties/policies/quarantinePolicy"),
            "the quarantine policy is enabled: every image copied or imported into the new registry is held in quarantine until a scanner approves it, so verify, the rewrite's reference check and clients fail to pull it".into(),
            "set quarantinePolicy.status to disabled for the deployment and enable it after the copy is verified (az resource update --ids <registry id> --set properties.policies.quarantinePolicy.status=enabled)".into(),
        );
    }
    if str_ci_eq(
        val(pol("trustPolicy").and_then(|r| r.get("status"))),
        "enabled",
    ) {
        premium.push("content trust");
        ctx.find(
            Severity::Warning,
            rules::TRUST_POLICY_ENABLED,
            &format!("{rp}/properties/policies/trustPolicy"),
            "content trust is enabled: Docker Content Trust (Notary v1) signatures are not OCI artifacts and are not moved by az acr import or the copy, so clients with DOCKER_CONTENT_TRUST=1 refuse the copied images".into(),
            "re-sign the images in the new registry (docker trust sign) after the copy, or turn off content trust for its clients (signing with Notation stores OCI signatures that are copied)".into(),
        );
    }
    if str_ci_eq(
        val(pol("exportPolicy").and_then(|r| r.get("status"))),
        "disabled",
    ) {
        premium.push("disabled export policy");
        ctx.find(
            Severity::Warning,
            rules::EXPORT_POLICY_DISABLED,
            &format!("{rp}/properties/policies/exportPolicy"),
            "the export policy is disabled (the source's data-exfiltration setting): az acr import out of the source registry is refused, so copy --mode import fails".into(),
            "copy in client mode (the default), or enable the source's export policy until the copy is done (az acr update --name <source> --allow-exports true)".into(),
        );
    }
    if str_ci_eq(
        val(pol("retentionPolicy").and_then(|r| r.get("status"))),
        "enabled",
    ) {
        premium.push("retention policy");
        ctx.find(
            Severity::Warning,
            rules::RETENTION_POLICY_ENABLED,
            &format!("{rp}/properties/policies/retentionPolicy"),
            "the retention policy is enabled: untagged manifests copied during the import are purged after the retention period".into(),
            "import tagged images only, or disable the retention policy until the copy is verified".into(),
        );
    }
    if str_ci_eq(
        val(pol("softDeletePolicy").and_then(|r| r.get("status"))),
        "enabled",
    ) && replication_count > 0
    {
        ctx.find(
            Severity::Blocking,
            rules::SOFT_DELETE_WITH_REPLICATION,
            &format!("{rp}/properties/policies/softDeletePolicy"),
            "soft delete is enabled on a geo-replicated registry; the two cannot be combined"
                .into(),
            "disable softDeletePolicy or drop the replications (--drop-replication)".into(),
        );
    }
    if val(prop("adminUserEnabled")).and_then(Node::as_bool) == Some(true) {
        ctx.find(
            Severity::Warning,
            rules::ADMIN_USER_ENABLED,
            &format!("{rp}/properties/adminUserEnabled"),
            "the admin user is enabled; the new registry gets new admin passwords".into(),
            "prefer Microsoft Entra identities; if kept, update every client with the new credentials".into(),
        );
    }
    if val(prop("anonymousPullEnabled")).and_then(Node::as_bool) == Some(true) {
        ctx.find(
            Severity::Warning,
            rules::ANONYMOUS_PULL_ENABLED,
            &format!("{rp}/properties/anonymousPullEnabled"),
            "anonymous pull is enabled: anyone can pull from the new registry".into(),
            "confirm that this is wanted, or set anonymousPullEnabled to false".into(),
        );
    }

    // A system-assigned identity: a new principal without the source's role assignments.
    system_identity(
        ctx,
        reg,
        "the registry",
        &format!("az acr show --name {} --query identity.principalId -o tsv", old_name.as_deref().unwrap_or("<source>")),
        &format!("[reference(resourceId('Microsoft.ContainerRegistry/registries', {name_expr_for_children}), '{api}', 'Full').identity.principalId]"),
    );

    // Encryption (CMK).
    let cmk = encryption(ctx, reg, prop("encryption"), &mut premium);
    if let (Some(id), false) = (&opts.identity, cmk) {
        ctx.find(
            Severity::Warning,
            rules::OPTION_IGNORED,
            &format!("{rp}/properties/encryption"),
            format!("--identity {id} was not applied: the registry has no customer-managed key for it to read"),
            "leave out --identity, or set properties.encryption and the identity by hand if the new registry must use a customer-managed key (it can only be set at creation)".into(),
        );
    }
    if let (Some(uri), false) = (&opts.key_uri, ctx.key_uri_used) {
        ctx.find(
            Severity::Warning,
            rules::OPTION_IGNORED,
            &format!("{rp}/properties/encryption"),
            format!("--key-uri {uri} was not applied: the registry has no customer-managed key given by a literal, parameter or variable"),
            "set properties.encryption by hand if the new registry must use that key (CMK can only be set at creation)".into(),
        );
    }

    // The old home region: clients there lose their regional endpoint.
    if let Some(old) = old_location.as_deref().filter(|l| !is_expression(l)) {
        let o = norm_region(old);
        let added = opts.add_replications.iter().any(|r| norm_region(r) == o);
        // A removed replication of the old home region says the same in its own finding.
        let said = ctx
            .findings
            .iter()
            .any(|f| f.rule_id == rules::REPLICATION_OLD_HOME_REMOVED);
        if o != target && !kept_replications.contains(&o) && !added && !said {
            ctx.find(
                Severity::Info,
                rules::OLD_REGION_NOT_SERVED,
                &format!("{rp}/location"),
                format!("{o} (the source's home region) is no longer served by the registry: clients there pull across regions"),
                format!("add --replication {o} to keep a regional endpoint there (Premium)"),
            );
        }
    }

    // Diagnostic settings and other resources scoped to the registry.
    for (i, r) in res.iter().enumerate() {
        let is_diag = r.full_type.ends_with("diagnosticsettings")
            && (r.full_type.starts_with(CHILD_PREFIX)
                || r.node
                    .get_str("scope")
                    .is_some_and(|s| s.to_ascii_lowercase().contains("registries")));
        if !is_diag || !(registry_count == 1 || belongs(i)) {
            continue;
        }
        // Azure Monitor needs a storage account or Event Hubs namespace destination in the
        // region of the (regional) resource it monitors; a workspace may be anywhere. Counted
        // when the id is known (a literal, or a parameter or variable holding one): an
        // expression may well give none.
        let env = Env::of(r, params_obj);
        let regional: Vec<&str> = [
            ("storageAccountId", "storage account"),
            ("eventHubAuthorizationRuleId", "Event Hubs namespace"),
        ]
        .into_iter()
        .filter(|(k, _)| {
            r.node.at(&["properties", k]).is_some_and(|n| {
                let steps = ctx.scopes.chain(n, env);
                definition(&steps)
                    .source
                    .literal()
                    .is_some_and(|s| !s.is_empty())
            })
        })
        .map(|(_, what)| what)
        .collect();
        if regional.is_empty() {
            ctx.find(
                Severity::Info,
                rules::DIAGNOSTIC_SETTINGS_KEPT,
                &r.path,
                "diagnostic settings of the registry kept; their destinations (workspace, storage, event hub) are unchanged".into(),
                format!("point them at destinations in {} if data must stay in the region", opts.location),
            );
        } else {
            let list = regional.join(" and ");
            ctx.find(
                Severity::Warning,
                rules::DIAGNOSTIC_SETTINGS_KEPT,
                &r.path,
                format!("diagnostic settings of the registry kept with their {list} destination: Azure Monitor requires it in the registry's region, so the setting fails unless it is in {}", opts.location),
                format!("use a {list} in {} (or send the logs to a Log Analytics workspace, which may be in any region)", opts.location),
            );
        }
    }

    // SKU.
    let sku = reg
        .node
        .at(&["sku", "name"])
        .map(|n| resolve(n, reg.template, reg.deployment, pfile(reg)));
    let sku_lit = sku.as_ref().and_then(Source::literal).map(str::to_string);
    if sku_lit
        .as_deref()
        .is_some_and(|s| s.eq_ignore_ascii_case("Classic"))
    {
        ctx.find(
            Severity::Blocking,
            rules::SKU_CLASSIC,
            &format!("{rp}/sku/name"),
            "the Classic SKU is retired: no new Classic registry can be created".into(),
            "use Basic, Standard or Premium with a current apiVersion".into(),
        );
    }
    premium.dedup();
    if !premium.is_empty() {
        let list = premium.join(", ");
        match &sku_lit {
            Some(s) if s.eq_ignore_ascii_case("Premium") => {}
            Some(s) => {
                let (path, fix) = sku
                    .as_ref()
                    .and_then(|src| where_set(ctx, res, reg, src))
                    .map(|(path, what)| (path, format!("set {what} to Premium")))
                    .unwrap_or_else(|| {
                        (format!("{rp}/sku/name"), "set sku.name to Premium".into())
                    });
                ctx.find(
                    Severity::Blocking,
                    rules::PREMIUM_REQUIRED,
                    &path,
                    format!("SKU {s} does not support: {list}"),
                    fix,
                );
            }
            None => ctx.find(
                Severity::Warning,
                rules::PREMIUM_REQUIRED,
                &format!("{rp}/sku"),
                format!("the SKU is not a literal; these features need Premium: {list}"),
                "make sure the SKU resolves to Premium".into(),
            ),
        }
    }
    // Parameters and variables the rewrite changed that other resources read as well.
    let moved = old_home.as_deref().is_some_and(|o| o != target);
    let renamed = name_set && old_name.as_deref() != Some(opts.name.as_str());
    for (references, what) in [
        (chain_references(&location_steps), "region"),
        (name_references, "name"),
    ] {
        let changed = if what == "region" { moved } else { renamed };
        for (reference, template) in references.iter().filter(|_| changed) {
            shared_setting(ctx, res, reg_i, &children, reference, template, what);
        }
    }
    if let Some(old) = &old_name {
        literal_ids(ctx, root, res, reg, old, &name_expr_for_children);
    }
    let target = roles::Target {
        template: Some(reg.template),
        name_expr: name_expr_for_children,
        name_literal: format!("'{}'", opts.name),
        old: old_name.clone(),
        name_ref: name_node.and_then(Node::as_str).and_then(name_reference),
        symbol: reg.slot.symbol.clone(),
        only_one: registry_count == 1,
    };
    roles::role_assignments(ctx, res, &target, &children);
    old_name
}

/// The registry is a `copy` loop: it defines several registries, and writing one new name would
/// make every copy the same registry. Reported as blocking (rule `REGISTRY_COPY_LOOP`); the name
/// is left as it is.
fn registry_copy_loop(ctx: &mut Ctx<'_>, copy: &Node, rp: &str) {
    let loop_name = copy.get_str("name").unwrap_or("?");
    let count = match copy.get("count").map(|c| &c.value) {
        Some(jsonc::Value::String(s) | jsonc::Value::Number(s)) => s.clone(),
        _ => "?".into(),
    };
    ctx.find(
        Severity::Blocking,
        rules::REGISTRY_COPY_LOOP,
        &format!("{rp}/copy"),
        format!("the registry is the copy loop {loop_name} (count {count}): it defines several registries, and one new name cannot be written for all of them; the name was left as it is"),
        "relocate one registry at a time: replace the loop by one registry resource per source registry (literal or parameter name, no copy) and run template on it with --only".into(),
    );
}

/// Warns (rule `SHARED_SETTING_CHANGED`) when `reference` (`parameters('x')` or
/// `variables('y')` of `template`, matched in any case), which sets the registry's `what`
/// ("region", "name") and which the rewrite changed, is read by resources of that template other
/// than the registry's own: a storage account, a
/// cluster or a key vault that reads the registry's region moves with it, one whose name is made
/// from the registry's name is renamed. The registry's children, role assignments, diagnostic
/// settings, extension resources scoped to it (locks) and references to the registry
/// (`resourceId('Microsoft.ContainerRegistry/registries', ...)`) are the registry's and not
/// counted.
fn shared_setting(
    ctx: &mut Ctx<'_>,
    res: &[Resource<'_>],
    reg_i: usize,
    children: &[usize],
    reference: &str,
    template: &Node,
    what: &str,
) {
    let reg = &res[reg_i];
    let needle = reference.to_ascii_lowercase();
    let reads = |s: &str| {
        let compact: String = s
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect::<String>()
            .to_ascii_lowercase();
        compact.contains(&needle) && !compact.contains("microsoft.containerregistry/registries")
    };
    let mut users = Vec::new();
    for (i, r) in res.iter().enumerate() {
        let own = i == reg_i
            || children.contains(&i)
            || r.full_type.starts_with("microsoft.containerregistry/")
            || r.full_type.contains("/providers/")
            || r.full_type == "microsoft.authorization/roleassignments"
            || r.full_type.ends_with("diagnosticsettings")
            // An extension resource of the registry (a lock, a role assignment).
            || r.node.get_str("scope").is_some_and(|s| {
                s.to_ascii_lowercase()
                    .contains("microsoft.containerregistry/registries")
            });
        // The deployment that holds the registry, and resources in another scope.
        let holds_registry =
            r.node.span.start <= reg.node.span.start && reg.node.span.end <= r.node.span.end;
        if own || holds_registry || !std::ptr::eq(r.template, template) {
            continue;
        }
        let Some(members) = r.node.members() else {
            continue;
        };
        let mut strings = Vec::new();
        // A resource named after the registry is renamed with it; one that reads its region
        // anywhere moves with it.
        let read = members.iter().filter(|m| {
            !m.key.eq_ignore_ascii_case("resources")
                && (what != "name" || m.key.eq_ignore_ascii_case("name"))
        });
        for m in read {
            if r.full_type == "microsoft.resources/deployments" && m.key == "properties" {
                // Its inline template's resources are listed on their own.
                for pm in m.value.members().unwrap_or(&[]) {
                    if !pm.key.eq_ignore_ascii_case("template") {
                        pm.value.walk_strings(&mut strings);
                    }
                }
            } else {
                m.value.walk_strings(&mut strings);
            }
        }
        if strings.iter().any(|n| n.as_str().is_some_and(reads)) {
            let label = r
                .slot
                .symbol
                .clone()
                .or_else(|| r.node.get_str("name").map(str::to_string))
                .unwrap_or_else(|| "?".into());
            users.push(format!(
                "{label} ({})",
                r.node.get_str("type").unwrap_or("?")
            ));
        }
    }
    if users.is_empty() {
        return;
    }
    let (path, fix) = match what {
        "region" => (
            format!("{}/location", reg.path),
            "if they must stay where they are, give them a parameter or variable of their own with the old region; otherwise make sure they can move (a storage account, cluster or key vault is recreated empty in the new region)",
        ),
        _ => (
            format!("{}/name", reg.path),
            "if their names must not change, give them a parameter or variable of their own with the old value",
        ),
    };
    ctx.find(
        Severity::Warning,
        rules::SHARED_SETTING_CHANGED,
        &path,
        format!(
            "{reference} sets the registry's {what}, which the rewrite changed, and is also read by {}: they change with it",
            users.join(", ")
        ),
        fix.into(),
    );
}

/// `[parameters('x')]` or `[variables('y')]` as a scope expression would refer to it: the call,
/// lower case without spaces.
fn name_reference(name: &str) -> Option<String> {
    ["parameters", "variables"].iter().find_map(|f| {
        single_call(name, f).map(|arg| format!("{f}('{}')", arg.to_ascii_lowercase()))
    })
}

/// Where the value of `src` (a setting of `reg` given by a parameter or variable) is set, and
/// what to call it: the parameters file's or the nested deployment's value, else the default.
fn where_set(
    ctx: &Ctx<'_>,
    res: &[Resource<'_>],
    reg: &Resource<'_>,
    src: &Source<'_>,
) -> Option<(String, String)> {
    let dep_path = reg
        .deployment
        .and_then(|d| res.iter().find(|r| std::ptr::eq(r.node, d)))
        .map(|d| d.path.as_str());
    let template_path = dep_path.map_or(String::new(), |p| format!("{p}/properties/template"));
    match src {
        Source::Parameter { name, decl, value } => {
            let key = pointer_key(name);
            let path = match (value, dep_path) {
                (Some(_), Some(dp)) => format!("{dp}/properties/parameters/{key}/value"),
                (Some(v), None) if ctx.params.as_ref().is_some_and(|(_, r)| in_doc(r, v)) => {
                    format!("(parameters file)/parameters/{key}/value")
                }
                _ => {
                    decl.and_then(|d| d.get("defaultValue"))?;
                    format!("{template_path}/parameters/{key}/defaultValue")
                }
            };
            Some((path, format!("parameter {name}")))
        }
        Source::Variable { name, .. } => Some((
            format!("{template_path}/variables/{}", pointer_key(name)),
            format!("variable {name}"),
        )),
        _ => None,
    }
}

/// Every nested deployment around the registry (innermost first) that pins a literal
/// `resourceGroup` or `subscriptionId`: deployed as is, the new registry lands there.
fn nested_deployment_scope(ctx: &mut Ctx<'_>, res: &[Resource<'_>], reg: &Resource<'_>) {
    let mut around = reg.holder;
    while let Some(dep) = around {
        let Some(d) = res.iter().find(|r| std::ptr::eq(r.node, dep)) else {
            break;
        };
        let name = d.node.get_str("name").unwrap_or("?");
        for (key, what, fix) in [
            (
                "resourceGroup",
                "resource group",
                "point it at the target resource group, e.g. \"[resourceGroup().name]\" or a parameter, or remove it to deploy into the resource group of the deployment",
            ),
            (
                "subscriptionId",
                "subscription",
                "point it at the target subscription, e.g. \"[subscription().subscriptionId]\" or a parameter, or remove it to deploy into the subscription of the deployment",
            ),
        ] {
            let Some(m) = d.node.member(key) else {
                continue;
            };
            let Some(v) = m.value.as_str().filter(|v| !is_expression(v)) else {
                continue;
            };
            ctx.find(
                Severity::Warning,
                rules::NESTED_DEPLOYMENT_SCOPE,
                &format!("{}/{}", d.path, pointer_key(&m.key)),
                format!("the nested deployment {name} holding the registry pins {key} {v}: the new registry would be created in that {what} (the source's)"),
                fix.into(),
            );
        }
        around = d.holder;
    }
}

/// A literal resource id of the source registry or of one of its children, split up: the
/// segments after `registries/<old>` as (type, name) pairs, or None when the rest is not a
/// chain of ACR children (an extension resource under `/providers/`).
struct LiteralId {
    children: Option<Vec<(String, String)>>,
}

/// Parses `/subscriptions/{s}/resourceGroups/{g}/providers/Microsoft.ContainerRegistry/registries/{old}...`.
fn parse_literal_id(s: &str, old: &str) -> Option<LiteralId> {
    let segs: Vec<&str> = s.strip_prefix('/')?.split('/').collect();
    let eq = |a: &str, b: &str| a.eq_ignore_ascii_case(b);
    if segs.len() < 8
        || !eq(segs[0], "subscriptions")
        || !eq(segs[2], "resourceGroups")
        || !eq(segs[4], "providers")
        || !eq(segs[5], "Microsoft.ContainerRegistry")
        || !eq(segs[6], "registries")
        || !eq(segs[7], old)
    {
        return None;
    }
    let rest = &segs[8..];
    let children = (rest.chunks_exact(2).remainder().is_empty()
        && rest
            .chunks(2)
            .all(|c| !c[0].is_empty() && !c[1].is_empty() && !eq(c[0], "providers")))
    .then(|| {
        rest.chunks(2)
            .map(|c| (c[0].to_string(), c[1].to_string()))
            .collect()
    });
    Some(LiteralId { children })
}

/// Where each `dependsOn` entry of the resources starts (byte offsets): references there are
/// handled by the dependsOn rules, not by the ones for other places.
fn depends_on_starts(res: &[Resource<'_>]) -> HashSet<usize> {
    res.iter()
        .filter_map(|r| r.node.get("dependsOn").and_then(Node::items))
        .flat_map(|items| items.iter().map(|n| n.span.start))
        .collect()
}

/// Literal resource ids that name the source registry (its subscription and resource group) or
/// its children become `resourceId(...)` expressions of the relocated registry (in a
/// languageVersion 2.0 `dependsOn`, the registry's symbolic name); those that cannot (extension
/// resources, parameters file values) are blocking findings.
fn literal_ids(
    ctx: &mut Ctx<'_>,
    root: &Node,
    res: &[Resource<'_>],
    reg: &Resource<'_>,
    old: &str,
    name_expr: &str,
) {
    let new = ctx.opts.name.clone();
    // Each template (the root, inline templates of nested deployments) by span: an id inside a
    // nested template cannot use the outer template's parameters.
    let mut templates: Vec<&Node> = vec![root];
    templates.extend(res.iter().map(|r| r.template));
    let depends = depends_on_starts(res);
    let mut found = Vec::new();
    walk_with_paths(root, "", &mut found);
    for (path, span, is_key) in found {
        if is_key || ctx.tpl.edits.overlaps(&span) {
            continue;
        }
        let raw = &ctx.tpl.text[span.clone()];
        let Ok(value) = serde_json::from_str::<String>(raw) else {
            continue;
        };
        let Some(id) = parse_literal_id(&value, old) else {
            continue;
        };
        let Some(children) = id.children else {
            // Kept as the source's id (not half renamed), so that it matches the finding.
            ctx.tpl.edits.replace(span, raw.to_string());
            ctx.find(
                Severity::Blocking,
                rules::RESOURCE_ID_LITERAL,
                &path,
                format!("{value} names the source registry in its source resource group and subscription"),
                format!("write it as an expression of the new registry, e.g. [extensionResourceId(resourceId('Microsoft.ContainerRegistry/registries', '{new}'), ...)], deployed in the target resource group"),
            );
            continue;
        };
        let home = templates
            .iter()
            .filter(|t| t.span.start <= span.start && span.end <= t.span.end)
            .min_by_key(|t| t.span.len())
            .copied();
        let same_template = home.is_some_and(|t| std::ptr::eq(t, reg.template));
        let expr = if same_template {
            name_expr.to_string()
        } else {
            format!("'{new}'")
        };
        let replacement = match (&reg.slot.symbol, children.is_empty()) {
            (Some(sym), true) if same_template && depends.contains(&span.start) => sym.clone(),
            _ => {
                let mut ty = String::from("Microsoft.ContainerRegistry/registries");
                let mut args = vec![expr];
                for (t, n) in &children {
                    ty.push('/');
                    ty.push_str(t);
                    args.push(format!("'{}'", n.replace('\'', "''")));
                }
                format!("[resourceId('{ty}', {})]", args.join(", "))
            }
        };
        if ctx.tpl.set_string_at(span, &replacement) {
            ctx.find(
                Severity::Info,
                rules::RESOURCE_ID_LITERAL,
                &path,
                format!("the literal id {value} named the source registry in its source resource group; it is now {replacement}"),
                "nothing to do: the id now follows the registry into the target resource group".into(),
            );
        }
    }
    // Values of the parameters file cannot be expressions: reported.
    if let Some((doc, proot)) = &ctx.params {
        let mut found = Vec::new();
        walk_with_paths(proot, "", &mut found);
        let hits: Vec<(String, String)> = found
            .into_iter()
            .filter(|(_, _, is_key)| !is_key)
            .filter_map(|(path, span, _)| {
                let value = serde_json::from_str::<String>(&doc.text[span]).ok()?;
                parse_literal_id(&value, old).map(|_| (path, value))
            })
            .collect();
        for (path, value) in hits {
            ctx.find(
                Severity::Blocking,
                rules::RESOURCE_ID_LITERAL,
                &format!("(parameters file){path}"),
                format!("{value} names the source registry in its source resource group and subscription"),
                "give the id of the relocated registry (target subscription and resource group) in the parameters file".into(),
            );
        }
    }
}

/// True for a GUID written out (`8-4-4-4-12` hex digits).
fn is_guid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() == 5
        && parts
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(p, n)| p.len() == n && p.chars().all(|c| c.is_ascii_hexdigit()))
}

/// The value a scalar setting takes: the literal itself, or the given value, default or variable
/// behind `[parameters('x')]` / `[variables('y')]` when that is not an expression.
fn scalar_value<'a>(
    node: &'a Node,
    r: &Resource<'a>,
    params_file: Option<&'a Node>,
) -> Option<&'a Node> {
    let s = match node.as_str() {
        Some(s) if is_expression(s) => s,
        _ => return Some(node),
    };
    let found = if model::single_call(s, "parameters").is_some() {
        resolve(node, r.template, r.deployment, params_file).effective()
    } else if let Some(v) = model::single_call(s, "variables") {
        r.template.get("variables").and_then(|vs| vs.get(v))
    } else {
        None
    };
    found.filter(|n| !n.as_str().is_some_and(is_expression))
}

/// The registry name in a portal export's parameter name `registries_<name>_name`.
fn portal_parameter_name(param: &str) -> Option<String> {
    let lower = param.to_ascii_lowercase();
    if !lower.starts_with("registries_") || !lower.ends_with("_name") {
        return None;
    }
    let inner = param.get("registries_".len()..param.len() - "_name".len())?;
    name_is_valid(inner).then(|| inner.to_string())
}

/// Reports (rule `NAME_EXPRESSION_REPLACED`) that the registry name at `path`, computed by
/// `expression`, is now the literal new name; `what` names the thing that changed ("it", "the
/// variable").
fn report_name_expression_replaced(
    ctx: &mut Ctx<'_>,
    path: &str,
    expression: &str,
    what: &str,
    fix: &str,
) {
    let message = format!(
        "the registry name was computed by {expression}; {what} is now the literal {}",
        ctx.opts.name
    );
    ctx.find(
        Severity::Info,
        rules::NAME_EXPRESSION_REPLACED,
        path,
        message,
        fix.into(),
    );
}

/// Writes the new registry name as a literal into `node` (a parameter's default or given value,
/// or a variable, in the template or the parameters file; named `what` in the finding),
/// reporting when it replaces an expression.
fn set_literal_name(ctx: &mut Ctx<'_>, node: &Node, what: &str) {
    if let Some(expression) = node.as_str().filter(|s| is_expression(s)) {
        let path = ctx.path_of(node);
        report_name_expression_replaced(
            ctx,
            &path,
            expression,
            what,
            "keep the literal name: the relocated registry must have a known name",
        );
    }
    ctx.set_value(node, &ctx.opts.name);
}

/// The setting a parameter receives, for the words of [`check_constraints`].
#[derive(Clone, Copy, PartialEq, Eq)]
enum Setting {
    Name,
    Location,
}

/// Checks the new `value` against the declaration of every parameter `steps` pass through (each
/// one receives it at deployment); see [`check_constraints`].
fn check_chain_constraints(ctx: &mut Ctx<'_>, steps: &[Step<'_>], value: &str, what: Setting) {
    for step in steps {
        if let Source::Parameter {
            name,
            decl: Some(d),
            ..
        } = &step.source
        {
            let path = format!(
                "{}/parameters/{}",
                ctx.path_of(step.env.template),
                pointer_key(name)
            );
            check_constraints(ctx, d, &path, name, value, what);
        }
    }
}

/// The parameter `name` (declared by `decl`, at `path`) now receives `value`: a new region
/// missing from its `allowedValues` is added there (info); a value outside its `allowedValues`,
/// `minLength` or `maxLength` otherwise is blocking (rule `PARAMETER_CONSTRAINT`), since ARM
/// refuses the whole deployment.
fn check_constraints(
    ctx: &mut Ctx<'_>,
    decl: &Node,
    path: &str,
    name: &str,
    value: &str,
    what: Setting,
) {
    let label = match what {
        Setting::Name => "name",
        Setting::Location => "region",
    };
    if let Some(allowed) = decl.get("allowedValues").and_then(Node::items) {
        let list: Vec<&str> = allowed.iter().filter_map(Node::as_str).collect();
        if !list.contains(&value) {
            let shown = list.join(", ");
            let av_path = format!("{path}/allowedValues");
            let node = decl.get("allowedValues").unwrap_or(decl);
            if what == Setting::Location {
                if !ctx.edited_locations.insert(node.span.start) {
                    return;
                }
                let layout = ctx.tpl.layout.clone();
                edit::append_item(
                    &mut ctx.tpl.edits,
                    ctx.tpl.text,
                    &layout,
                    node,
                    &json!(value),
                );
                ctx.find(
                    Severity::Info,
                    rules::PARAMETER_CONSTRAINT,
                    &av_path,
                    format!("parameter {name} allowed only {shown}: the new {label} {value} was added to its allowedValues"),
                    "nothing to do (remove the old regions from allowedValues if they must no longer be chosen)".into(),
                );
            } else {
                ctx.find(
                    Severity::Blocking,
                    rules::PARAMETER_CONSTRAINT,
                    &av_path,
                    format!("parameter {name} allows only {shown}: ARM refuses the deployment with the new {label} {value}"),
                    format!("add {value} to the allowedValues of parameter {name}"),
                );
            }
        }
    }
    let len = value.chars().count();
    let limit = |key: &str| {
        decl.get(key).and_then(|n| match &n.value {
            jsonc::Value::Number(s) => s.parse::<usize>().ok(),
            _ => None,
        })
    };
    if let Some(max) = limit("maxLength").filter(|&m| len > m) {
        ctx.find(
            Severity::Blocking,
            rules::PARAMETER_CONSTRAINT,
            &format!("{path}/maxLength"),
            format!("the new {label} {value} has {len} characters, more than the maxLength {max} of parameter {name}: ARM refuses the deployment"),
            format!("choose a {label} of at most {max} characters, or raise the maxLength of parameter {name} to {len}"),
        );
    }
    if let Some(min) = limit("minLength").filter(|&m| len < m) {
        ctx.find(
            Severity::Blocking,
            rules::PARAMETER_CONSTRAINT,
            &format!("{path}/minLength"),
            format!("the new {label} {value} has {len} characters, fewer than the minLength {min} of parameter {name}: ARM refuses the deployment"),
            format!("choose a {label} of at least {min} characters, or lower the minLength of parameter {name} to {len}"),
        );
    }
}

/// What [`apply_name`] found and did.
struct Named<'a> {
    /// The old name, when the template states it.
    old: Option<String>,
    /// The new name as children and references write it (`'new'`, `parameters('p')`...).
    expr: String,
    /// The new name was written where the name is defined.
    set: bool,
    /// The parameters and variables the name was followed through (`parameters('p')`, as written),
    /// each with the template it belongs to: others that read them change with the name.
    references: Vec<(String, &'a Node)>,
}

/// The step of `steps` (see [`model::Scopes::chain`]) where the value is defined: the last one,
/// or the one before when the last is an expression that its value node holds.
fn definition<'s, 'a>(steps: &'s [Step<'a>]) -> &'s Step<'a> {
    match steps {
        [.., def, last] if matches!(last.source, Source::Expression(_)) => def,
        [.., last] => last,
        [] => unreachable!("a chain has at least one step"),
    }
}

/// The parameters and variables `steps` go through, as written (`parameters('p')`), each with the
/// template it belongs to.
fn chain_references<'a>(steps: &[Step<'a>]) -> Vec<(String, &'a Node)> {
    steps
        .iter()
        .filter_map(|s| match &s.source {
            Source::Parameter { name, .. } => {
                Some((format!("parameters('{name}')"), s.env.template))
            }
            Source::Variable { name, .. } => Some((format!("variables('{name}')"), s.env.template)),
            _ => None,
        })
        .collect()
}

/// Sets the new registry name where the name (the registry's `name`, or the parent name of child
/// resources, followed through parameters and variables into `steps`) is defined: the outer
/// default or given value the chain ends at, from which the old name is also read; `rp` is the
/// resource's path.
fn apply_name<'a>(ctx: &mut Ctx<'_>, steps: &[Step<'a>], rp: &str) -> Named<'a> {
    let opts = ctx.opts;
    let def = definition(steps);
    let template_path = ctx.path_of(def.env.template);
    let mut name_expr_for_children = match &steps[0].source {
        Source::Parameter { name, .. } => format!("parameters('{name}')"),
        Source::Variable { name, .. } => format!("variables('{name}')"),
        _ => format!("'{}'", opts.name),
    };
    let mut set = true;
    let mut old_name = def
        .source
        .literal()
        .filter(|s| !s.is_empty())
        .map(str::to_string);
    if let (None, Source::Parameter { name, .. }) = (&old_name, &def.source) {
        // The portal names the parameter `registries_<name>_name`: without a value, that is
        // where the old name is stated (and the parameter name must follow the new one).
        old_name = portal_parameter_name(name);
    }
    match &def.source {
        Source::Literal(n) => {
            ctx.tpl.set_string(n, &opts.name);
        }
        Source::Parameter { name, decl, value } => {
            // The portal's `registries_<old>_name` is renamed with every reference to it.
            let renamed = match &old_name {
                Some(old) => rename::rename_portal_parameter(name, old, &opts.name),
                None => name.clone(),
            };
            if !renamed.eq_ignore_ascii_case(name) {
                let path = match decl {
                    Some(_) => format!("{template_path}/parameters/{}", pointer_key(name)),
                    None => format!("{rp}/name"),
                };
                ctx.find(
                    Severity::Info,
                    rules::NAME_PARAMETER_RENAMED,
                    &path,
                    format!("the name parameter {name} is now {renamed}, after the new name"),
                    format!("pipelines and scripts that pass {name} (--parameters {name}=..., parameters files) must pass {renamed} instead"),
                );
                if steps.len() == 1 {
                    name_expr_for_children = format!("parameters('{renamed}')");
                }
            }
            let mut done = false;
            if let Some(v) = value {
                set_literal_name(ctx, v, "its value");
                done = true;
            }
            if let Some(d) = decl {
                match d.get("defaultValue") {
                    Some(dv) => set_literal_name(ctx, dv, "its default"),
                    None if !done => ctx.tpl.insert_member(d, "defaultValue", &json!(opts.name)),
                    None => {}
                }
                done = true;
            }
            if !done {
                set = false;
                ctx.find(
                    Severity::Blocking,
                    rules::NAME_NOT_SET,
                    &format!("{rp}/name"),
                    format!("the registry's name is parameter {name}, which the template that holds the registry does not declare and nothing gives a value: the name was not rewritten"),
                    format!("declare parameter {name} (\"defaultValue\": \"{}\") in the template whose parameters() the registry reads (for a nested deployment of outer scope, the template around it), or pass {name}={} when deploying", opts.name, opts.name),
                );
            }
        }
        Source::Variable { node, .. } => set_literal_name(ctx, node, "the variable"),
        Source::Expression(n) => {
            let expr = expression_body(n.as_str().unwrap_or("[]")).to_string();
            ctx.tpl.set_string(n, &opts.name);
            report_name_expression_replaced(
                ctx,
                &format!("{rp}/name"),
                &format!("[{expr}]"),
                "it",
                "check that every reference to the registry now uses the new name",
            );
            // The same expression used elsewhere (child names, resourceId) becomes the literal.
            let mut strings = Vec::new();
            def.env.template.walk_strings(&mut strings);
            let lit = format!("'{}'", opts.name);
            for s in strings {
                let raw = &ctx.tpl.text[s.span.clone()];
                if raw.contains(&expr) && !std::ptr::eq(s, *n) {
                    ctx.tpl
                        .edits
                        .replace(s.span.clone(), raw.replace(&expr, &lit));
                }
            }
        }
    }
    if set {
        check_chain_constraints(ctx, steps, &opts.name, Setting::Name);
    }
    Named {
        old: old_name,
        expr: name_expr_for_children,
        set,
        references: chain_references(steps),
    }
}

/// Replications (new home region removed, dropped ones removed, the old home region's removed
/// unless `--replication` keeps it, the rest counted), private endpoint connections and system
/// scope maps removed, locations and apiVersions of the other children (a webhook of a kept
/// replica keeps its region). `old_home` is the source's home region (normalised), when known.
/// Returns the regions of the replications kept and their count.
fn children_pass(
    ctx: &mut Ctx<'_>,
    res: &[Resource<'_>],
    children: &[usize],
    removed: &mut Vec<Removed>,
    old_home: Option<&str>,
) -> (Vec<String>, usize) {
    let opts = ctx.opts;
    let params_obj = ctx.params_obj;
    let pf = |r: &Resource<'_>| {
        if r.deployment.is_none() {
            params_obj
        } else {
            None
        }
    };
    let target = norm_region(&opts.location);
    let drops: HashSet<String> = opts
        .drop_replications
        .iter()
        .map(|r| norm_region(r))
        .collect();
    let keep_old_home =
        old_home.is_some_and(|o| opts.add_replications.iter().any(|r| norm_region(r) == o));
    let mut kept_replications: Vec<String> = Vec::new();
    let mut dropped_regions: HashSet<String> = HashSet::new();
    let mut webhooks: Vec<usize> = Vec::new();
    let mut replication_count = 0;
    let mut tokens: Vec<(String, String)> = Vec::new();
    let mut system_maps: Vec<(String, String)> = Vec::new();
    // Replication regions seen, and whether one was an expression.
    let mut seen_locations: (HashSet<String>, bool) = (HashSet::new(), false);
    for &ci in children {
        let c = &res[ci];
        let short = c.full_type.trim_start_matches(CHILD_PREFIX);
        let cpath = c.path.clone();
        what_an_export_cannot_carry(ctx, c, short, &mut tokens);
        match short {
            "replications" => {
                let loc = c.node.get("location").and_then(|n| {
                    resolve(n, c.template, c.deployment, pf(c))
                        .literal()
                        .map(norm_region)
                });
                match &loc {
                    Some(l) => {
                        seen_locations.0.insert(l.clone());
                    }
                    None => seen_locations.1 = true,
                }
                // A region given by a parameter or variable is only its value here (a default,
                // the parameters file): the deployment may pass another.
                let written = c
                    .node
                    .get_str("location")
                    .filter(|l| is_expression(l))
                    .map(str::to_string);
                match loc {
                    Some(l) if l == target => {
                        remove_resource(ctx, removed, c);
                        match written {
                            None => ctx.find(
                                Severity::Info,
                                rules::REPLICATION_HOME_REMOVED,
                                &cpath,
                                format!("replication in {l} removed: it is the new home region"),
                                "nothing to do: the home region holds the registry itself".into(),
                            ),
                            Some(expr) => ctx.find(
                                Severity::Warning,
                                rules::REPLICATION_HOME_REMOVED,
                                &cpath,
                                format!("replication removed: its region is {expr}, which is {l} here, the new home region (a replication there fails the deployment)"),
                                format!("if the deployment gives {expr} another region than {target}, add that region with --replication instead"),
                            ),
                        }
                    }
                    Some(l) if drops.contains(&l) => {
                        remove_resource(ctx, removed, c);
                        ctx.find(
                            Severity::Info,
                            rules::REPLICATION_DROPPED,
                            &cpath,
                            format!("replication in {l} removed (--drop-replication)"),
                            "nothing to do".into(),
                        );
                        dropped_regions.insert(l);
                    }
                    Some(l) if old_home == Some(l.as_str()) && !keep_old_home => {
                        remove_resource(ctx, removed, c);
                        ctx.find(
                            Severity::Info,
                            rules::REPLICATION_OLD_HOME_REMOVED,
                            &cpath,
                            format!("replication in {l} removed: it is the source's home region (an export always lists the home region as a replication), not a replica; the registry's home is now {target}, and {l} keeps no endpoint"),
                            format!("add --replication {l} to keep a replica (a regional endpoint) in the old home region (Premium)"),
                        );
                    }
                    Some(l) => {
                        let zoned = c
                            .node
                            .at(&["properties", "zoneRedundancy"])
                            .and_then(|n| scalar_value(n, c, pf(c)));
                        if str_ci_eq(zoned, "Enabled") {
                            let what = format!("the replication in {l}");
                            zone_redundancy(
                                ctx,
                                &format!("{cpath}/properties/zoneRedundancy"),
                                &what,
                                &l,
                            );
                        }
                        kept_replications.push(l);
                        replication_count += 1;
                    }
                    None => {
                        let written = c.node.get_str("location").unwrap_or("").to_string();
                        if is_expression(&written) {
                            ctx.replica_exprs
                                .insert((c.template.span.start, compact(&written)));
                        }
                        match loop_regions(ctx, res, c, &written) {
                            LoopRegions::Resolved(list) => {
                                for item in list.array.items().unwrap_or(&[]) {
                                    seen_locations
                                        .0
                                        .insert(norm_region(item.as_str().unwrap_or("")));
                                }
                                for l in replication_loop(ctx, &written, &list, &drops) {
                                    seen_locations.0.insert(l.clone());
                                    if !kept_replications.contains(&l) {
                                        kept_replications.push(l);
                                    }
                                    replication_count += 1;
                                }
                            }
                            LoopRegions::Unknown(why) => {
                                // Possibly none (a copy loop over an empty array): not counted.
                                seen_locations.1 = true;
                                ctx.find(
                                    Severity::Warning,
                                    rules::REPLICATION_LOCATION_UNKNOWN,
                                    &format!("{cpath}/location"),
                                    format!("the replication's region is {written}: {why}"),
                                    format!(
                                        "make sure it never gives {} (the new home region, where a replication fails the deployment); add the regions to keep with --replication instead",
                                        opts.location
                                    ),
                                );
                            }
                        }
                    }
                }
            }
            "privateendpointconnections" => {
                remove_resource(ctx, removed, c);
                ctx.find(
                    recreate_severity(opts),
                    rules::PRIVATE_ENDPOINT_RECREATE,
                    &cpath,
                    "private endpoint connection removed: it belongs to the source registry's private endpoint".into(),
                    private_endpoint_fix(opts),
                );
            }
            "scopemaps" => {
                let seg = c.node.get_str("name").and_then(last_segment);
                if seg.as_deref().is_some_and(|s| s.starts_with('_')) {
                    remove_resource(ctx, removed, c);
                    system_maps.push((cpath.clone(), seg.unwrap_or_default()));
                } else {
                    set_location(ctx, c, &cpath);
                }
            }
            // After the replications: a webhook may belong to one.
            "webhooks" => webhooks.push(ci),
            _ => {
                if c.node.get("location").is_some() {
                    set_location(ctx, c, &cpath);
                }
            }
        }
        if !removed.iter().any(|r| r.path == cpath) {
            check_api_version(ctx, c);
        }
    }
    // A webhook responds to the events of one region: the home region's moves with it, a kept
    // replica's stays, a dropped replica's falls back to the home region.
    for ci in webhooks {
        let c = &res[ci];
        let loc = c.node.get("location").and_then(|n| {
            resolve(n, c.template, c.deployment, pf(c))
                .literal()
                .map(norm_region)
        });
        match loc {
            Some(l) if old_home != Some(l.as_str()) && kept_replications.contains(&l) => {}
            Some(l) if dropped_regions.contains(&l) => {
                set_location(ctx, c, &c.path);
                let hook = c
                    .node
                    .get_str("name")
                    .and_then(last_segment)
                    .unwrap_or_else(|| "?".into());
                ctx.find(
                    Severity::Warning,
                    rules::WEBHOOK_REGION_MOVED,
                    &format!("{}/location", c.path),
                    format!("webhook {hook} responded to events of the replica in {l}, which --drop-replication removes: it now responds to events of the home region {}", opts.location),
                    format!("nothing to do if the home region's events are wanted; to keep the webhook on {l}'s events, keep that replica (leave out --drop-replication {l})"),
                );
            }
            _ => {
                if c.node.get("location").is_some() {
                    set_location(ctx, c, &c.path);
                }
            }
        }
    }

    if !seen_locations.1 {
        for d in &opts.drop_replications {
            let n = norm_region(d);
            if !seen_locations.0.contains(&n) {
                ctx.find(
                    Severity::Warning,
                    rules::OPTION_IGNORED,
                    "",
                    format!("--drop-replication {d}: the template has no replication in {n}"),
                    "check the region name (the replications' regions are their location values)"
                        .into(),
                );
            }
        }
    }
    if let Some((first, _)) = system_maps.first() {
        let names: Vec<&str> = system_maps.iter().map(|(_, n)| n.as_str()).collect();
        ctx.find(
            Severity::Info,
            rules::SYSTEM_SCOPE_MAP_REMOVED,
            first,
            format!(
                "system scope maps {} removed: every registry gets them automatically and they cannot be deployed",
                names.join(", ")
            ),
            "nothing to do; tokens that use them keep working".into(),
        );
    }
    if let Some((first, _)) = tokens.first() {
        let names: Vec<&str> = tokens.iter().map(|(_, n)| n.as_str()).collect();
        ctx.find(
            Severity::Info,
            rules::TOKEN_PASSWORDS,
            first,
            format!(
                "tokens {} are created without passwords: a token's passwords are never exported",
                names.join(", ")
            ),
            format!(
                "after the deployment, generate passwords (az acr token credential generate --registry {} --name <token>) and update every client that uses them",
                ctx.opts.name
            ),
        );
    }
    (kept_replications, replication_count)
}

/// Children whose export lacks what they need: webhooks without `serviceUri` (never returned by
/// ARM), tokens without passwords (collected in `tokens`: path, name), credential sets whose new
/// identity must read the Key Vault secrets, connected registries to reactivate.
fn what_an_export_cannot_carry(
    ctx: &mut Ctx<'_>,
    c: &Resource<'_>,
    short: &str,
    tokens: &mut Vec<(String, String)>,
) {
    let cpath = &c.path;
    let child = c
        .node
        .get_str("name")
        .and_then(last_segment)
        .unwrap_or_else(|| "?".into());
    let props = c.node.get("properties");
    match short {
        "webhooks" => {
            let missing = match props {
                None => true,
                Some(p) => p.members().is_some() && p.get("serviceUri").is_none(),
            };
            if missing {
                ctx.find(
                    Severity::Blocking,
                    rules::WEBHOOK_SERVICE_URI,
                    &format!("{cpath}/properties"),
                    format!("webhook {child} has no serviceUri: an export never returns it (it may hold a secret), and a webhook cannot be created without it"),
                    "add properties.serviceUri, preferably from a secureString parameter (az acr webhook get-config shows the source's)".into(),
                );
            }
        }
        "tokens" => tokens.push((cpath.clone(), child)),
        "tasks" => ctx.tasks.push((c.path.clone(), child)),
        "credentialsets" => {
            let mut strings = Vec::new();
            if let Some(p) = props {
                p.walk_strings(&mut strings);
            }
            let secrets: Vec<&str> = strings
                .iter()
                .filter_map(|n| n.as_str())
                .filter(|s| s.to_ascii_lowercase().contains("/secrets/"))
                .collect();
            ctx.find(
                Severity::Warning,
                rules::CREDENTIAL_SET_ACCESS,
                cpath,
                format!(
                    "credential set {child} gets a new system-assigned identity in the new registry; it cannot read its Key Vault secrets{}",
                    if secrets.is_empty() {
                        String::new()
                    } else {
                        format!(" ({})", secrets.join(", "))
                    }
                ),
                "after the deployment, grant the credential set's identity (az acr credential-set show --query identity.principalId) the Key Vault Secrets User role or get permission on those secrets".into(),
            );
        }
        "connectedregistries" => ctx.find(
            Severity::Warning,
            rules::CONNECTED_REGISTRY_RESYNC,
            cpath,
            format!("connected registry {child} is created anew: its on-premises instance still talks to the source registry"),
            format!("after the deployment, generate a new connection string (az acr connected-registry get-settings --registry {} --name {child} --generate-password 1) and redeploy the on-premises instance with it; it re-syncs from the new registry", ctx.opts.name),
        ),
        _ => {}
    }
}

/// An expression without spaces, lower case (to compare two writings of one expression).
fn compact(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_lowercase()
}

/// The regions a replication `copy` loop runs over, as far as the rewriter can tell.
enum LoopRegions<'a> {
    /// `[parameters('x')[copyIndex()]]` or `[variables('x')[copyIndex()]]` over a literal array.
    Resolved(RegionList<'a>),
    /// Why not: the end of a sentence for `replication-location-unknown`.
    Unknown(String),
}

/// A literal array of regions a replication loop reads.
struct RegionList<'a> {
    /// The array.
    array: &'a Node,
    /// Where it is set (a JSON pointer, `(parameters file)/...` for the parameters file).
    path: String,
    /// "parameter x's default", "parameter x's value in the parameters file", "variable x".
    what: String,
    /// The reference as written in expressions (`parameters('x')`, lower case).
    reference: String,
    /// It is in the template (a default or a variable) and nothing else reads it: elements may
    /// be removed.
    editable: bool,
}

/// Reads the region array behind a replication's `location` written as `[parameters('x')
/// [copyIndex()]]` or `[variables('x')[copyIndex()]]`: the nested deployment's value or the
/// parameters file's, else the default; a variable's value.
fn loop_regions<'a>(
    ctx: &Ctx<'a>,
    res: &[Resource<'a>],
    c: &Resource<'a>,
    written: &str,
) -> LoopRegions<'a> {
    let unknown = |why: &str| LoopRegions::Unknown(why.to_string());
    if !is_expression(written) {
        return unknown("a value the rewriter does not read");
    }
    let body = compact(expression_body(written));
    let parsed = ["parameters", "variables"].iter().find_map(|f| {
        let rest = body.strip_prefix(&format!("{f}('"))?;
        let end = rest.find('\'')?;
        let tail = &rest[end..];
        let looped = tail.starts_with("')[copyindex(") && tail.ends_with(")]");
        (looped || tail == "')").then(|| (*f, &rest[..end], looped))
    });
    let Some((func, name_lower, looped)) = parsed else {
        return unknown("an expression the rewriter does not evaluate (only parameters('x')[copyIndex()] and variables('x')[copyIndex()] over a literal array are)");
    };
    // The name as declared (case preserved).
    let find = |n: Option<&'a Node>| -> Option<(&'a str, &'a Node)> {
        n?.members()?
            .iter()
            .find(|m| m.key.eq_ignore_ascii_case(name_lower))
            .map(|m| (m.key.as_str(), &m.value))
    };
    let tpath = c.template_path.as_str();
    let (array, path, what, in_template) = if func == "parameters" {
        let Some((name, decl)) = find(c.template.get("parameters")) else {
            return unknown(&format!("parameter {name_lower} is not declared"));
        };
        let key = pointer_key(name);
        let given = match c.deployment {
            Some(d) => d.at(&["properties", "parameters", name, "value"]).map(|v| {
                let dp = res
                    .iter()
                    .find(|r| std::ptr::eq(r.node, d))
                    .map_or(String::new(), |r| r.path.clone());
                (
                    v,
                    format!("{dp}/properties/parameters/{key}/value"),
                    format!("parameter {name}'s value given by the nested deployment"),
                )
            }),
            None => ctx
                .params_obj
                .and_then(|f| f.at(&[name, "value"]))
                .map(|v| {
                    (
                        v,
                        format!("(parameters file)/parameters/{key}/value"),
                        format!("parameter {name}'s value in the parameters file"),
                    )
                }),
        };
        match (given, decl.get("defaultValue")) {
            (Some((v, path, what)), _) => (v, path, what, false),
            (None, Some(dv)) => (
                dv,
                format!("{tpath}/parameters/{key}/defaultValue"),
                format!("parameter {name}'s default"),
                true,
            ),
            (None, None) => {
                return unknown(&format!(
                    "parameter {name} has no value in the template: the deployment gives it"
                ))
            }
        }
    } else {
        let Some((name, v)) = find(c.template.get("variables")) else {
            return unknown(&format!("variable {name_lower} is not declared"));
        };
        (
            v,
            format!("{tpath}/variables/{}", pointer_key(name)),
            format!("variable {name}"),
            true,
        )
    };
    if !looped {
        // A single region whose value is not a literal (a literal is resolved before).
        let value = array.as_str().unwrap_or("a value that is not a region");
        return LoopRegions::Unknown(format!(
            "{what} is {value} (at {path}), which the rewriter does not evaluate"
        ));
    }
    let literal = array.items().is_some_and(|items| {
        items
            .iter()
            .all(|i| i.as_str().is_some_and(|s| !is_expression(s)))
    });
    if !literal {
        return LoopRegions::Unknown(format!(
            "{what} (at {path}) is not a literal array of regions the rewriter can read"
        ));
    }
    // Safe to edit only when nothing but this replication reads the array (a webhook loop over
    // the same array would lose its pairing).
    let reference = format!("{func}('{name_lower}')");
    let mut strings = Vec::new();
    c.template.walk_strings(&mut strings);
    let read_elsewhere = strings.iter().any(|n| {
        !(c.node.span.start <= n.span.start && n.span.end <= c.node.span.end)
            && n.as_str().is_some_and(|s| compact(s).contains(&reference))
    });
    LoopRegions::Resolved(RegionList {
        array,
        path,
        what,
        reference,
        editable: in_template && !read_elsewhere,
    })
}

/// A replication `copy` loop over `list`: an element in the new home region (or given with
/// `--drop-replication`) is removed from a literal default nothing else reads (info), or
/// reported where it is set (blocking for the home region). Returns the regions that stay.
fn replication_loop(
    ctx: &mut Ctx<'_>,
    written: &str,
    list: &RegionList<'_>,
    drops: &HashSet<String>,
) -> Vec<String> {
    let target = norm_region(&ctx.opts.location);
    let items = list.array.items().unwrap_or(&[]);
    let mut kept = Vec::new();
    let mut gone = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let region = norm_region(item.as_str().unwrap_or(""));
        let home = region == target;
        if !home && !drops.contains(&region) {
            kept.push(region);
            continue;
        }
        let at = format!("{}/{i}", list.path);
        if list.editable {
            gone.push(i);
            let (rule, why) = if home {
                (
                    rules::REPLICATION_HOME_REMOVED,
                    "it is the new home region".to_string(),
                )
            } else {
                (rules::REPLICATION_DROPPED, "--drop-replication".to_string())
            };
            ctx.find(
                Severity::Info,
                rule,
                &at,
                format!(
                    "{region} removed from {} ({why}): the replication loop {written} runs over it",
                    list.what
                ),
                "nothing to do: no other resource reads that array".into(),
            );
        } else if home {
            ctx.find(
                Severity::Blocking,
                rules::REPLICATION_HOME_IN_LOOP,
                &at,
                format!("the replication loop {written} runs over {}, whose element {i} ({at}) is {region}, the new home region: ARM refuses a replication in the registry's own region", list.what),
                format!("remove {region} from {} (other resources read {} too: check that they still get the regions they need)", list.what, list.reference),
            );
        } else {
            ctx.find(
                Severity::Warning,
                rules::OPTION_IGNORED,
                &at,
                format!("--drop-replication {region} was not applied: it is element {i} of {}, which the replication loop {written} runs over", list.what),
                format!("remove {region} from {} ({at})", list.what),
            );
            kept.push(region);
        }
    }
    if !gone.is_empty() {
        edit::remove_items(&mut ctx.tpl.edits, list.array, &gone);
    }
    kept
}

/// Zone redundancy of `what` (the registry, a replication) in `region`: set at creation, and only
/// possible in a region with availability zones (blocking for a known region without, a warning
/// for a region this version does not know, a note otherwise).
fn zone_redundancy(ctx: &mut Ctx<'_>, path: &str, what: &str, region: &str) {
    let (severity, message, fix) = match regions::has_zones(region) {
        Some(true) => (
            Severity::Info,
            format!("zone redundancy of {what} is enabled; it is set at creation, and {region} has availability zones"),
            "nothing to do".to_string(),
        ),
        Some(false) => (
            Severity::Blocking,
            format!("zone redundancy of {what} is enabled but {region} has no availability zones: the deployment fails"),
            format!("set zoneRedundancy to Disabled for {region}, or choose a region with availability zones"),
        ),
        None => (
            Severity::Warning,
            format!("zone redundancy of {what} is enabled and {region} is a region this version does not know: it needs availability zones"),
            format!("check that {region} has availability zones (az account list-locations --query \"[?name=='{region}'].availabilityZoneMappings\"), or set zoneRedundancy to Disabled"),
        ),
    };
    ctx.find(severity, rules::ZONE_REDUNDANCY, path, message, fix);
}

/// A system-assigned identity on `r` (`what`: "the registry", "task nightly"): the new resource
/// gets a new principal, and an export never holds the source principal's role assignments.
/// `show` is the command that prints the source's principal id (when the template does not), and
/// `principal` the expression of the new one.
fn system_identity(ctx: &mut Ctx<'_>, r: &Resource<'_>, what: &str, show: &str, principal: &str) {
    let Some(kind) = r.node.at(&["identity", "type"]).and_then(Node::as_str) else {
        return;
    };
    if !kind.to_ascii_lowercase().contains("systemassigned") {
        return;
    }
    let source = r
        .node
        .at(&["identity", "principalId"])
        .and_then(Node::as_str)
        .filter(|p| is_guid(p))
        .map(str::to_string);
    let list = match &source {
        Some(p) => format!("az role assignment list --assignee {p} --all -o table"),
        None => format!("az role assignment list --assignee $({show}) --all -o table"),
    };
    ctx.find(
        Severity::Warning,
        rules::SYSTEM_IDENTITY_RECREATED,
        &format!("{}/identity", r.path),
        format!("{what} has a system-assigned identity: the new one is another principal with none of the source's role assignments (an export never holds them), so its access to key vaults, storage and other registries is lost"),
        format!("list the source's grants ({list}) and grant each role to the new principal after the deployment, or in this template with principalId {principal}"),
    );
}

/// The tasks met in the children pass, now that the regions the new registry serves are known.
fn recreate_tasks(ctx: &mut Ctx<'_>, res: &[Resource<'_>]) {
    for (path, child) in std::mem::take(&mut ctx.tasks) {
        if let Some(c) = res.iter().find(|r| r.path == path) {
            task_recreated(ctx, c, &child);
        }
    }
}

/// A task is created anew: its system-assigned identity, the old login server in its content
/// (base64 `encodedTaskContent` / `encodedValuesContent` are decoded, and written back with the
/// new login server), and the credentials an export never carries (source-trigger tokens,
/// custom registry passwords).
fn task_recreated(ctx: &mut Ctx<'_>, c: &Resource<'_>, child: &str) {
    let api = c.api_version().to_string();
    let new = ctx.opts.name.clone();
    let old = ctx.old_name.clone();
    system_identity(
        ctx,
        c,
        &format!("task {child}"),
        &format!(
            "az acr task show --registry {} --name {child} --query identity.principalId -o tsv",
            old.as_deref().unwrap_or("<source>")
        ),
        &format!("[reference(resourceId('Microsoft.ContainerRegistry/registries/tasks', '{new}', '{child}'), '{api}', 'Full').identity.principalId]"),
    );
    let mut notes: Vec<String> = Vec::new();
    let props = c.node.get("properties");
    if let (Some(step), Some(old)) = (props.and_then(|p| p.get("step")), old.as_deref()) {
        let old_server = format!("{}.azurecr.io", old.to_ascii_lowercase());
        let new_server = format!("{}.azurecr.io", new.to_ascii_lowercase());
        for key in ["encodedTaskContent", "encodedValuesContent"] {
            let Some(node) = step.get(key) else { continue };
            let Some(text) = node.as_str().filter(|t| !is_expression(t)) else {
                continue;
            };
            let Some(decoded) = crate::base64::decode(text).and_then(|b| String::from_utf8(b).ok())
            else {
                continue;
            };
            // The registry's references as everywhere else: word-bounded (a registry
            // `prod<old>` is someone else's), data endpoints following the regions served.
            let renamed =
                rename::rename_refs_counted(&decoded, old, &new, false, ctx.data_regions.as_ref());
            if !renamed.kept_hosts.is_empty() {
                notes.push(format!(
                    "its base64 {key} names {}, a data endpoint of the source in a region the new registry does not serve, kept",
                    renamed.kept_hosts.join(", ")
                ));
            }
            let (Some(out), count) = (renamed.text, renamed.edits) else {
                continue;
            };
            if ctx
                .tpl
                .set_string(node, &crate::base64::encode(out.as_bytes()))
            {
                notes.push(format!(
                    "its base64 {key} named {old_server} (or a data endpoint of it) {count} time(s), now {new_server}"
                ));
            }
        }
    }
    let triggers = props
        .and_then(|p| p.at(&["trigger", "sourceTriggers"]))
        .and_then(Node::items)
        .is_some_and(|t| !t.is_empty());
    if triggers {
        notes.push("its source triggers need a repository token (sourceControlAuthProperties), which is never exported".into());
    }
    if props
        .and_then(|p| p.at(&["credentials", "customRegistries"]))
        .and_then(Node::members)
        .is_some_and(|m| !m.is_empty())
    {
        notes.push("its custom registry credentials hold secrets that are never exported".into());
    }
    let identity = c.node.get("identity").is_some();
    let fix = format!(
        "after the deployment, check the task's content for other references to the source (az acr task show --registry {new} --name {child}), {}{}run it once (az acr task run --registry {new} --name {child})",
        if triggers {
            format!("give the source trigger a token again (az acr task update --registry {new} --name {child} --git-access-token <token>), ")
        } else {
            String::new()
        },
        if identity {
            "grant its identity what it needs (see system-identity-recreated), "
        } else {
            ""
        },
    );
    let message = if notes.is_empty() {
        format!("task {child} is created anew in the new registry")
    } else {
        format!(
            "task {child} is created anew in the new registry: {}",
            notes.join("; ")
        )
    };
    ctx.find(
        Severity::Warning,
        rules::TASK_RECREATED,
        &c.path,
        message,
        fix,
    );
}

/// True when the string `s` (lower case) refers to the removed resource `rm`: its symbolic name
/// quoted in an expression, or its type with its last name segment (`resourceId(...,
/// 'eastus')`, `.../replications/eastus`).
fn refers_to(s: &str, rm: &Removed) -> bool {
    rm.symbol.as_deref().is_some_and(|sym| {
        is_expression(s) && s.contains(&format!("'{}'", sym.to_ascii_lowercase()))
    }) || (s.contains(&rm.short_type)
        && rm.segment.as_ref().is_some_and(|seg| {
            let seg = seg.to_ascii_lowercase();
            s.contains(&format!("'{seg}'"))
                || s.contains(&format!("/{seg}'"))
                || s.ends_with(&format!("/{seg}"))
        }))
}

/// References to removed replications and private endpoint connections outside `dependsOn`: an
/// output that reads one is removed (warning), any other reference is blocking.
fn removed_references(ctx: &mut Ctx<'_>, root: &Node, res: &[Resource<'_>], removed: &[Removed]) {
    let removed: Vec<&Removed> = removed
        .iter()
        .filter(|r| r.short_type == "replications" || r.short_type == "privateendpointconnections")
        .collect();
    if removed.is_empty() {
        return;
    }
    let hit = |raw: &str| {
        let s = raw.to_ascii_lowercase();
        removed.iter().copied().find(|rm| refers_to(&s, rm))
    };
    let describe = |rm: &Removed| {
        format!(
            "{} {}",
            rm.short_type.trim_end_matches('s'),
            rm.symbol
                .clone()
                .or_else(|| rm.segment.clone())
                .unwrap_or_default()
        )
    };
    // Outputs (of the root and of nested templates) that read a removed resource.
    let mut templates: Vec<(&Node, String)> = vec![(root, String::new())];
    for r in res {
        if r.full_type == "microsoft.resources/deployments" {
            if let Some(t) = r.node.at(&["properties", "template"]) {
                templates.push((t, format!("{}/properties/template", r.path)));
            }
        }
    }
    for (t, tpath) in templates {
        let Some(outputs) = t.get("outputs") else {
            continue;
        };
        let Some(members) = outputs.members() else {
            continue;
        };
        let mut gone = Vec::new();
        for (i, m) in members.iter().enumerate() {
            let mut strings = Vec::new();
            m.value.walk_strings(&mut strings);
            if let Some(rm) = strings.iter().find_map(|n| n.as_str().and_then(hit)) {
                gone.push(i);
                ctx.find(
                    Severity::Warning,
                    rules::REMOVED_RESOURCE_REFERENCED,
                    &format!("{tpath}/outputs/{}", pointer_key(&m.key)),
                    format!(
                        "output {} removed: it read the removed {}",
                        m.key,
                        describe(rm)
                    ),
                    "update whatever consumed this output (pipelines, parent templates)".into(),
                );
            }
        }
        if !gone.is_empty() {
            edit::remove_items_or_members(&mut ctx.tpl.edits, outputs, &gone);
        }
    }
    // Anything else (properties, names, conditions): blocking.
    let depends = depends_on_starts(res);
    let mut found = Vec::new();
    walk_with_paths(root, "", &mut found);
    for (path, span, is_key) in found {
        if is_key || depends.contains(&span.start) || ctx.tpl.edits.overlaps(&span) {
            continue;
        }
        let Ok(value) = serde_json::from_str::<String>(&ctx.tpl.text[span]) else {
            continue;
        };
        if let Some(rm) = hit(&value) {
            ctx.find(
                Severity::Blocking,
                rules::REMOVED_RESOURCE_REFERENCED,
                &path,
                format!("{value} refers to the removed {}", describe(rm)),
                "remove the reference, or point it at the registry itself (its home region is the removed replication's)".into(),
            );
        }
    }
}

/// The relocated registry as a `dependsOn` entry is written, for resources that lose their
/// dependency on one of its removed children.
struct RegistryDependency<'a> {
    /// The registry resource's index.
    index: usize,
    /// Its symbolic name (languageVersion 2.0), which `dependsOn` uses.
    symbol: Option<String>,
    /// The new name as an argument in the registry's template (`parameters('p')`, `'new'`).
    name_expr: String,
    /// The template whose parameters `name_expr` reads.
    template: &'a Node,
    /// The old name, to recognise a literal entry naming the registry.
    old: Option<String>,
}

impl RegistryDependency<'_> {
    /// The entry for a resource whose expressions read `template`: the symbolic name, else
    /// `resourceId(...)` (with the literal new name outside the registry's template).
    fn entry(&self, template: &Node, new: &str) -> String {
        match &self.symbol {
            Some(sym) => sym.clone(),
            None => {
                let name = if std::ptr::eq(template, self.template) {
                    self.name_expr.clone()
                } else {
                    format!("'{new}'")
                };
                format!("[resourceId('Microsoft.ContainerRegistry/registries', {name})]")
            }
        }
    }

    /// True when the `dependsOn` entry `entry` names the registry.
    fn is_named_by(&self, entry: &str) -> bool {
        let s = entry.trim().to_ascii_lowercase();
        self.symbol
            .as_deref()
            .is_some_and(|sym| sym.eq_ignore_ascii_case(&s))
            || s.contains("'microsoft.containerregistry/registries'")
            || (!is_expression(&s)
                && self.old.as_deref().is_some_and(|o| {
                    let o = o.to_ascii_lowercase();
                    s == o || s.ends_with(&format!("/registries/{o}"))
                }))
    }
}

/// True when `rm` is what the `dependsOn` entry `entry` (lower case) points at.
fn depends_on_removed(entry: &str, rm: &Removed) -> bool {
    rm.symbol
        .as_deref()
        .is_some_and(|sym| sym.eq_ignore_ascii_case(entry))
        || (entry.contains(&rm.short_type)
            && rm.segment.as_ref().is_some_and(|seg| {
                let seg = seg.to_ascii_lowercase();
                entry.contains(&format!("'{seg}'"))
                    || entry.contains(&format!("/{seg}'"))
                    || entry.ends_with(&format!("/{seg}"))
            }))
}

/// Removes `dependsOn` entries that point at removed resources. A resource that thereby loses
/// its only path to the registry (a webhook that waited for a replication) depends on the
/// registry instead: the first such entry becomes the registry's, in the template's own style.
fn drop_dangling_depends(
    ctx: &mut Ctx<'_>,
    res: &[Resource<'_>],
    removed: &[Removed],
    registry: Option<&RegistryDependency<'_>>,
) {
    if removed.is_empty() {
        return;
    }
    for (ri, r) in res.iter().enumerate() {
        let Some(deps) = r.node.get("dependsOn") else {
            continue;
        };
        let Some(items) = deps.items() else { continue };
        let mut gone: Vec<usize> = items
            .iter()
            .enumerate()
            .filter(|(_, d)| {
                let s = d.as_str().unwrap_or("").to_ascii_lowercase();
                removed.iter().any(|rm| depends_on_removed(&s, rm))
            })
            .map(|(i, _)| i)
            .collect();
        if gone.is_empty() {
            continue;
        }
        if let Some(reg) = registry {
            // Nested in the registry, a resource depends on it already.
            let mut nested_in_registry = false;
            let mut p = r.parent;
            while let Some(pi) = p {
                nested_in_registry |= pi == reg.index;
                p = res[pi].parent;
            }
            let still_named = items
                .iter()
                .enumerate()
                .any(|(i, d)| !gone.contains(&i) && d.as_str().is_some_and(|s| reg.is_named_by(s)));
            if ri != reg.index && !nested_in_registry && !still_named {
                let entry = reg.entry(r.template, &ctx.opts.name);
                if ctx.tpl.set_string(&items[gone[0]], &entry) {
                    gone.remove(0);
                }
            }
        }
        if !gone.is_empty() {
            edit::remove_items(&mut ctx.tpl.edits, deps, &gone);
        }
    }
}

/// A template that holds only children of an existing registry (no registry resource, or one
/// with `"existing": true`): the parent's name is set to the new name where it is defined (the
/// `existing` resource's name, else the parameter or variable that the first child's name starts
/// with), and the children get the same treatment as beside a registry.
fn relocate_children(ctx: &mut Ctx<'_>, root: &Node, res: &[Resource<'_>]) -> Option<String> {
    let opts = ctx.opts;
    let children: Vec<usize> = (0..res.len())
        .filter(|&i| res[i].full_type.starts_with(CHILD_PREFIX))
        .collect();
    for &i in &children {
        if let Some(n) = res[i].node.get("name") {
            ctx.whole_names.insert(n.span.start);
        }
    }
    let first = &res[children[0]];
    let pf = |r: &Resource<'_>| {
        if r.deployment.is_none() {
            ctx.params_obj
        } else {
            None
        }
    };
    let existing = res.iter().find(|r| r.full_type == REGISTRY);
    // Where the parent's name is defined.
    let (source, owner, rp) = match existing.and_then(|r| r.node.get("name").map(|n| (r, n))) {
        Some((r, n)) => (
            Some(resolve(n, r.template, r.deployment, pf(r))),
            r,
            r.path.clone(),
        ),
        None => {
            let name = first.node.get_str("name").unwrap_or("");
            let source = if is_expression(name) {
                parent_reference(name)
                    .and_then(|(func, arg)| Env::of(first, ctx.params_obj).lookup(func, arg))
            } else {
                None
            };
            (source, first, first.path.clone())
        }
    };
    let template = owner.template;
    let mut old_name = None;
    let mut name_expr = format!("'{}'", opts.name);
    let found = source.is_some();
    let mut name_set = false;
    match source {
        Some(source) => {
            let steps = ctx.scopes.follow(source, Env::of(owner, ctx.params_obj));
            let named = apply_name(ctx, &steps, &rp);
            (old_name, name_expr, name_set) = (named.old, named.expr, named.set);
        }
        None => {
            // A literal `old/child` name: the old name is its first segment, replaced with every
            // other occurrence at the end.
            let name = first.node.get_str("name").unwrap_or("");
            if !is_expression(name) {
                old_name = name
                    .split('/')
                    .next()
                    .filter(|s| name_is_valid(s))
                    .map(str::to_string);
            }
        }
    }
    let mut ignored: Vec<&str> = Vec::new();
    if !opts.subnets.is_empty() {
        ignored.push("--subnet");
    }
    if !opts.add_replications.is_empty() {
        ignored.push("--replication");
    }
    if opts.key_uri.is_some() {
        ignored.push("--key-uri");
    }
    if opts.identity.is_some() {
        ignored.push("--identity");
    }
    let mut message = format!(
        "the template holds only child resources of an existing registry ({}); they now point at {}",
        children
            .iter()
            .map(|&i| res[i].full_type.trim_start_matches(CHILD_PREFIX))
            .collect::<Vec<_>>()
            .join(", "),
        opts.name
    );
    if !ignored.is_empty() {
        message.push_str(&format!(
            "; {} ignored: they apply to the registry itself",
            ignored.join(", ")
        ));
    }
    if !found && old_name.is_none() {
        message.push_str(&format!(
            "; the parent's name was not found defined in the template: check that it resolves to {}",
            opts.name
        ));
    } else if old_name.is_none() && name_set {
        message.push_str(
            "; the parent's name had no value in the template and now defaults to the new name (a value given at deployment still wins)",
        );
    }
    ctx.find(
        Severity::Warning,
        rules::CHILDREN_ONLY,
        &rp,
        message,
        format!(
            "deploy the relocated registry {} first (from its own rewritten template), then this template into its resource group",
            opts.name
        ),
    );
    ctx.old_name = old_name.clone();
    // The registry's regions are not in the template: a data endpoint is kept and reported.
    ctx.data_regions = Some(rename::DataRegions {
        old_home: None,
        target: norm_region(&opts.location),
        replicas: Vec::new(),
    });
    let mut removed = Vec::new();
    children_pass(ctx, res, &children, &mut removed, None);
    recreate_tasks(ctx, res);
    drop_dangling_depends(ctx, res, &removed, None);
    removed_references(ctx, root, res, &removed);
    let parent_name = existing
        .and_then(|r| r.node.get_str("name"))
        .or_else(|| first.node.get_str("name"));
    let target = roles::Target {
        template: Some(template),
        name_expr,
        name_literal: format!("'{}'", opts.name),
        old: old_name.clone(),
        name_ref: parent_name.and_then(|n| {
            name_reference(n).or_else(|| {
                parent_reference(n).map(|(f, a)| format!("{f}('{}')", a.to_ascii_lowercase()))
            })
        }),
        symbol: existing.and_then(|r| r.slot.symbol.clone()),
        only_one: true,
    };
    roles::role_assignments(ctx, res, &target, &children);
    old_name
}

/// What names the parent in a child's name, lower case: the first segment of a literal
/// (`reg/hook` → `reg`), else the parameter or variable of the expression
/// (`[concat(parameters('r'), '/hook')]` → `r`), else the first segment of its first quoted text
/// (`[concat('reg', '/hook')]` → `reg`).
fn parent_key(name: &str) -> Option<String> {
    if !is_expression(name) {
        return name.split('/').next().map(str::to_ascii_lowercase);
    }
    if let Some((_, arg)) = parent_reference(name) {
        return Some(arg.to_ascii_lowercase());
    }
    let body = expression_body(name);
    let first = body.split('\'').nth(1)?;
    let seg = first.split('/').next()?;
    (!seg.is_empty() && !seg.contains('{')).then(|| seg.to_ascii_lowercase())
}

/// The `parameters('x')` or `variables('x')` that names the parent in a child name expression
/// such as `[concat(parameters('r'), '/', ...)]` or `[format('{0}/{1}', parameters('r'), ...)]`:
/// the first such call.
fn parent_reference(name: &str) -> Option<(&'static str, &str)> {
    let body = expression_body(name);
    let lower = body.to_ascii_lowercase();
    let hit = ["parameters('", "variables('"]
        .iter()
        .filter_map(|f| lower.find(f).map(|i| (i, *f)))
        .min()?;
    let start = hit.0 + hit.1.len();
    let end = start + body[start..].find('\'')?;
    let func = if hit.1.starts_with('p') {
        "parameters"
    } else {
        "variables"
    };
    Some((func, &body[start..end]))
}

/// The A records of the old registry's private endpoint in the `privatelink.azurecr.io` zone
/// (`<old>` and `<old>.<region>.data`, top-level or nested in their zone): deployed again they
/// hold the old endpoint's addresses, and the new registry's names get none. Said, not changed:
/// the new addresses are known only once its private endpoint exists, whose DNS zone group
/// writes its records.
fn old_private_dns_records(ctx: &mut Ctx<'_>, res: &[Resource<'_>], old: &str, new: &str) {
    let old = old.to_ascii_lowercase();
    for r in res
        .iter()
        .filter(|r| r.full_type == "microsoft.network/privatednszones/a")
    {
        let Some(name) = r.node.get("name").and_then(Node::as_str) else {
            continue;
        };
        let name = name.to_ascii_lowercase();
        let (zone, record) = match name.rsplit_once('/') {
            Some((zone, record)) => (Some(zone), record),
            None => (None, name.as_str()),
        };
        if zone.is_some_and(|z| z != "privatelink.azurecr.io") {
            continue;
        }
        let of_old = record == old
            || record
                .strip_prefix(&format!("{old}."))
                .is_some_and(|rest| rest.ends_with(".data") && !rest.contains('/'));
        if !of_old {
            continue;
        }
        ctx.find(
            Severity::Warning,
            rules::OLD_PRIVATE_DNS_RECORD,
            &format!("{}/name", r.path),
            format!("`{record}` is an A record of the old registry's private endpoint in privatelink.azurecr.io: deployed with the new registry it keeps the old endpoint's addresses"),
            format!("remove it from this template: the new registry's private endpoint writes {new} and {new}.<region>.data through its DNS zone group; keep the old records only while the old registry is in use"),
        );
    }
}

/// A `Microsoft.Network/privateEndpoints` resource of the template that connects to a registry
/// stays where it is, on its subnet in the old region, while its connection now names the new
/// registry: deployed under its old name into the source's resource group it would move the
/// source's live endpoint to the new registry, and a private endpoint cannot be in another region
/// than its virtual network. Blocking when its region is written out (it needs a subnet in the
/// target region and a new name, which the rewriter cannot choose); a warning when the region is
/// an expression whose value the deployment gives. Returns how many connect to it.
fn private_endpoints_of_the_registry(ctx: &mut Ctx<'_>, res: &[Resource<'_>]) -> usize {
    let mut count = 0;
    let params_obj = ctx.params_obj;
    for r in res
        .iter()
        .filter(|r| r.full_type == "microsoft.network/privateendpoints")
    {
        let Some(props) = r.node.get("properties") else {
            continue;
        };
        let pf = if r.deployment.is_none() {
            params_obj
        } else {
            None
        };
        // A value as the deployment gives it: through a parameter or variable (in a nested
        // deployment of inner scope, the deployment's `parameters`).
        let value = |n: &Node| -> Option<String> {
            let src = resolve(n, r.template, r.deployment, pf);
            src.effective()
                .and_then(Node::as_str)
                .or_else(|| n.as_str())
                .map(str::to_string)
        };
        let connects = [
            "privateLinkServiceConnections",
            "manualPrivateLinkServiceConnections",
        ]
        .iter()
        .filter_map(|key| props.get(key).and_then(Node::items))
        .flatten()
        .filter_map(|c| c.get("properties")?.get("privateLinkServiceId"))
        .filter_map(value)
        .any(|id| {
            id.to_ascii_lowercase()
                .contains("microsoft.containerregistry/registries")
        });
        if !connects {
            continue;
        }
        count += 1;
        let name = r.node.get_str("name").unwrap_or("(unnamed)");
        let location = r
            .node
            .get_str("location")
            .unwrap_or("its region")
            .to_string();
        let written_out = !is_expression(&location) && location != "its region";
        let subnet_node = props.get("subnet").and_then(|s| s.get("id"));
        let target = &ctx.opts.location;
        let new = ctx.opts.name.to_ascii_lowercase();
        let dns = format!("private DNS records for {new}.azurecr.io and {new}.<region>.data.azurecr.io (home and each replica)");
        // Inside a nested deployment, the subnet usually comes from the caller: name the value
        // that must be a subnet in the target region, and where it is set.
        let given = subnet_node.and_then(|n| {
            let src = resolve(n, r.template, r.deployment, pf);
            let Source::Parameter {
                name: p,
                value: Some(v),
                ..
            } = &src
            else {
                return None;
            };
            let text = v.as_str()?.to_string();
            let dep = r
                .deployment
                .and_then(|d| res.iter().find(|x| std::ptr::eq(x.node, d)));
            let at = match dep {
                Some(d) => format!("{}/properties/parameters/{}/value", d.path, pointer_key(p)),
                None => format!("(parameters file)/parameters/{}/value", pointer_key(p)),
            };
            Some((p.clone(), text, at))
        });
        if let (Some(holder), Some((p, text, at))) = (r.holder, &given) {
            let dep_name = holder.get_str("name").unwrap_or("?");
            ctx.find(
                if written_out { Severity::Blocking } else { Severity::Warning },
                rules::PRIVATE_ENDPOINT_IN_TEMPLATE,
                &r.path,
                format!("the private endpoint {name} of the nested deployment {dep_name} connects to the registry; its subnet is parameter {p}, given {text} at {at}: a private endpoint is always in its virtual network's region"),
                format!("make that value a subnet of a virtual network in {target} (and the endpoint's name a new one), with {dns}, or create the private endpoint after the deployment"),
            );
            continue;
        }
        let subnet = subnet_node.and_then(Node::as_str).unwrap_or("its subnet");
        let (severity, stays) = match written_out {
            true => (Severity::Blocking, "stays"),
            false => (Severity::Warning, "is deployed"),
        };
        ctx.find(
            severity,
            rules::PRIVATE_ENDPOINT_IN_TEMPLATE,
            &r.path,
            format!("the private endpoint {name} connects to the registry and {stays} in {location} on {subnet}: deployed into the source's resource group under that name it would take the source's live endpoint to the new registry, and a private endpoint is always in its virtual network's region"),
            format!("give it a new name and a subnet of a virtual network in {target}, with {dns}, or remove it from the template and create it after the deployment"),
        );
    }
    count
}

/// Adds `resource` to the resources the registry is among: as member `symbol` of a
/// languageVersion 2.0 template's object, else as the array's last item.
fn add_beside(ctx: &mut Ctx<'_>, reg: &Resource<'_>, symbol: &str, resource: &serde_json::Value) {
    let layout = ctx.tpl.layout.clone();
    match reg.slot.symbol {
        Some(_) => edit::insert_member(
            &mut ctx.tpl.edits,
            ctx.tpl.text,
            &layout,
            reg.slot.container,
            symbol,
            resource,
        ),
        None => edit::append_item(
            &mut ctx.tpl.edits,
            ctx.tpl.text,
            &layout,
            reg.slot.container,
            resource,
        ),
    }
}

/// The name of the private endpoint `--private-endpoint` adds for the new registry.
fn added_endpoint_name(opts: &RewriteOptions) -> String {
    format!("{}-pe", opts.name.to_ascii_lowercase())
}

/// `--private-endpoint`: adds a private endpoint for the new registry (group id `registry`) on
/// the given subnet, in the target region (a private endpoint is always in its virtual network's
/// region), after the registry; with `--private-dns-zone`, its DNS zone group, which writes the
/// registry's records (`<new>` and `<new>.<region>.data`, home and each replica) into that
/// `privatelink.azurecr.io` zone. True when added.
fn add_private_endpoint(ctx: &mut Ctx<'_>, reg: &Resource<'_>, name_expr: &str) -> bool {
    let opts = ctx.opts;
    let Some(subnet) = opts.private_endpoint_subnet.as_deref() else {
        return false;
    };
    let endpoint = added_endpoint_name(opts);
    let registry_id =
        format!("[resourceId('Microsoft.ContainerRegistry/registries', {name_expr})]");
    let after_registry = reg.slot.symbol.clone().unwrap_or(registry_id.clone());
    let resource = json!({
        "type": "Microsoft.Network/privateEndpoints",
        "apiVersion": NETWORK_API_VERSION,
        "name": endpoint,
        "location": opts.location,
        "properties": {
            "subnet": {"id": subnet},
            "privateLinkServiceConnections": [{
                "name": endpoint,
                "properties": {
                    "privateLinkServiceId": registry_id,
                    "groupIds": ["registry"],
                },
            }],
        },
        "dependsOn": [after_registry],
    });
    let endpoint_symbol = format!("privateEndpoint_{}", opts.name.to_ascii_lowercase());
    let mut added = vec![(endpoint_symbol.clone(), resource)];
    if let Some(zone) = &opts.private_dns_zone {
        added.push((
            format!("{endpoint_symbol}_dnsZoneGroup"),
            json!({
                "type": "Microsoft.Network/privateEndpoints/privateDnsZoneGroups",
                "apiVersion": NETWORK_API_VERSION,
                "name": format!("{endpoint}/default"),
                "properties": {
                    "privateDnsZoneConfigs": [{
                        "name": "privatelink-azurecr-io",
                        "properties": {"privateDnsZoneId": zone},
                    }],
                },
                "dependsOn": [match reg.slot.symbol {
                    Some(_) => endpoint_symbol.clone(),
                    None => format!("[resourceId('Microsoft.Network/privateEndpoints', '{endpoint}')]"),
                }],
            }),
        ));
    }
    for (symbol, resource) in &added {
        add_beside(ctx, reg, symbol, resource);
    }
    let new = opts.name.to_ascii_lowercase();
    let dns = match &opts.private_dns_zone {
        Some(zone) => format!(", with a DNS zone group that writes {new} and {new}.<region>.data (home and each replica) into {zone}"),
        None => String::new(),
    };
    ctx.find(
        Severity::Info,
        rules::PRIVATE_ENDPOINT_ADDED,
        &reg.path,
        format!("private endpoint {endpoint} added for the new registry (group registry) on {subnet} in {}{dns}", opts.location),
        format!("the subnet must be in a virtual network in {}, with private endpoint network policies allowing it; the deployment fails otherwise", opts.location),
    );
    if opts.private_dns_zone.is_none() {
        ctx.find(
            Severity::Warning,
            rules::PRIVATE_ENDPOINT_NO_DNS,
            &reg.path,
            format!("the private endpoint {endpoint} writes no DNS records: clients in the network resolve {new}.azurecr.io to its public addresses"),
            format!("give --private-dns-zone <id of the privatelink.azurecr.io zone linked to the network>, or add A records for {new} and {new}.<region>.data (home and each replica) to that zone with the endpoint's addresses"),
        );
    }
    true
}

/// A removed private endpoint connection is a warning (the new registry needs its own endpoint),
/// information when `--private-endpoint` adds it.
fn recreate_severity(opts: &RewriteOptions) -> Severity {
    match opts.private_endpoint_subnet {
        Some(_) => Severity::Info,
        None => Severity::Warning,
    }
}

fn private_endpoint_fix(opts: &RewriteOptions) -> String {
    if opts.private_endpoint_subnet.is_some() {
        return format!(
            "nothing to do for the registry: --private-endpoint adds {}'s own (private-endpoint-added)",
            opts.name.to_ascii_lowercase()
        );
    }
    format!(
        "create a private endpoint for the new registry in a {loc} subnet (group id 'registry'), link the privatelink.azurecr.io private DNS zone and add its records: {name}.azurecr.io and, per region (home and each replica), {name}.<region>.data.azurecr.io",
        loc = opts.location,
        name = opts.name.to_ascii_lowercase()
    )
}

/// Sets a resource's `location` to the target region where its value is defined: the literal, or
/// the parameter default, given value or variable it is followed to ([`model::Scopes::chain`]);
/// reports expressions, which are kept, at the place the expression is.
fn set_location(ctx: &mut Ctx<'_>, r: &Resource<'_>, rpath: &str) {
    let Some(node) = r.node.get("location") else {
        return;
    };
    let steps = ctx.scopes.chain(node, Env::of(r, ctx.params_obj));
    let target = ctx.opts.location.clone();
    let lpath = format!("{rpath}/location");
    let written = node.as_str().map(|w| (r.template.span.start, compact(w)));
    let expression_kept = |ctx: &mut Ctx<'_>, expr: &str, path: &str| {
        // The replications' own region expression: the resource follows a replica region.
        let replica = written
            .as_ref()
            .is_some_and(|w| ctx.replica_exprs.contains(w));
        let fix = if replica {
            format!("nothing to do if {expr} gives the regions of kept replicas (a webhook there responds to that replica's events); it must never give {target}, the new home region, for the replications that use it")
        } else if compact(expr).contains("resourcegroup().location") {
            format!("deploy into a resource group in {target}, or set the location to {target}")
        } else {
            format!("make it give {target}, or set the location to {target} (the region of the resource group deployed into does not change it)")
        };
        ctx.find(
            Severity::Warning,
            rules::LOCATION_EXPRESSION_KEPT,
            path,
            format!("the location is the expression {expr}, kept as it is"),
            fix,
        );
    };
    // Writes the target region into a literal value node, once.
    let write = |ctx: &mut Ctx<'_>, n: &Node| {
        let s = n.as_str().unwrap_or("");
        norm_region(s) != norm_region(&target)
            && ctx.edited_locations.insert(n.span.start)
            && ctx.set_value(n, &target)
    };
    let def = definition(&steps);
    let mut wrote = false;
    match &def.source {
        Source::Literal(n) => wrote = n.as_str().is_some() && write(ctx, n),
        Source::Expression(n) => expression_kept(ctx, n.as_str().unwrap_or(""), &lpath),
        Source::Variable { node, .. } => {
            let s = node.as_str().unwrap_or("");
            if is_expression(s) {
                let path = ctx.path_of(node);
                expression_kept(ctx, s, &path);
            } else {
                wrote = write(ctx, node);
            }
        }
        Source::Parameter { name, decl, value } => {
            let mut handled = false;
            // The nested deployment may give the whole parameter as one expression
            // (`"location": "[createObject('value', ...)]"`): that is where the value is.
            let whole = def
                .env
                .deployment
                .and_then(|d| d.at(&["properties", "parameters", name]))
                .filter(|n| n.as_str().is_some_and(is_expression));
            if let (None, Some(expr)) = (value, whole) {
                let path = ctx.path_of(expr);
                expression_kept(ctx, expr.as_str().unwrap_or(""), &path);
                handled = true;
            }
            if let Some(v) = value {
                let s = v.as_str().unwrap_or("");
                if is_expression(s) {
                    let path = ctx.path_of(v);
                    expression_kept(ctx, s, &path);
                } else {
                    wrote |= write(ctx, v);
                }
                handled = true;
            }
            match decl.and_then(|d| d.get("defaultValue")) {
                Some(dv) => {
                    let s = dv.as_str().unwrap_or("");
                    if !is_expression(s) {
                        wrote |= write(ctx, dv);
                    } else if !handled {
                        let path = ctx.path_of(dv);
                        expression_kept(ctx, s, &path);
                    }
                }
                None if !handled => {
                    if let Some(d) = decl {
                        if ctx.edited_locations.insert(d.span.start) {
                            ctx.tpl.insert_member(d, "defaultValue", &json!(target));
                            wrote = true;
                        }
                    }
                }
                None => {}
            }
        }
    }
    if wrote {
        check_chain_constraints(ctx, &steps, &target, Setting::Location);
    }
}

fn check_api_version(ctx: &mut Ctx<'_>, r: &Resource<'_>) {
    let api = r.api_version().to_string();
    let path = format!("{}/apiVersion", r.path);
    // ACR's versions are suggested for ACR's resources only (diagnostic settings and role
    // assignments have versions of their own).
    let acr = r.full_type.starts_with("microsoft.containerregistry/")
        && !r.full_type.contains("/providers/");
    // One finding per apiVersion (and provider kind), at its first use.
    if !ctx
        .api_versions
        .insert(format!("{acr}:{}", api.to_ascii_lowercase()))
    {
        return;
    }
    if RETIRED.contains(&api.as_str()) {
        ctx.find(
            Severity::Blocking,
            rules::API_VERSION_RETIRED,
            &path,
            format!("apiVersion {api} is the Classic registry API (storage-account backed), which can no longer create registries"),
            "move to apiVersion 2023-07-01 (or later stable) and a Basic, Standard or Premium SKU".into(),
        );
    } else if api.to_ascii_lowercase().contains("preview") {
        ctx.find(
            Severity::Warning,
            rules::API_VERSION_PREVIEW,
            &path,
            format!("apiVersion {api} is a preview version; preview versions are retired without notice"),
            if acr {
                "use the newest stable apiVersion that has the properties you need (e.g. 2023-07-01 or 2025-04-01)".into()
            } else {
                format!("use the newest stable apiVersion of {} that has the properties you need", r.node.get_str("type").unwrap_or("this resource type"))
            },
        );
    }
}

fn network_rules(
    ctx: &mut Ctx<'_>,
    reg: &Resource<'_>,
    nrs: Option<&Node>,
    api: &str,
    premium: &mut Vec<&str>,
) {
    let rp = &reg.path;
    let opts = ctx.opts;
    let nrs_obj = nrs.filter(|n| n.members().is_some());
    let vnet_copy = nrs_obj.and_then(|n| property_copy(n, "virtualNetworkRules"));
    if let Some((_, entry)) = nrs_obj.and_then(|n| property_copy(n, "ipRules")) {
        premium.push("network rules");
        ctx.find(
            Severity::Warning,
            rules::IP_RULES_CARRIED,
            &format!("{rp}/properties/networkRuleSet/copy"),
            format!("IP rules carried over as they were: {}", copy_source(ctx, reg, entry)),
            "check that these addresses are still the clients of the new registry (new egress IPs in the target region?)".into(),
        );
    }
    if let Some(n) = nrs_obj {
        if let Some(ip) = n.get("ipRules").and_then(Node::items) {
            if !ip.is_empty() {
                premium.push("network rules");
                let list: Vec<&str> = ip.iter().filter_map(|r| r.get_str("value")).collect();
                ctx.find(
                    Severity::Warning,
                    rules::IP_RULES_CARRIED,
                    &format!("{rp}/properties/networkRuleSet/ipRules"),
                    format!("IP rules carried over as they were: {}", list.join(", ")),
                    "check that these addresses are still the clients of the new registry (new egress IPs in the target region?)".into(),
                );
            }
        }
        if str_ci_eq(n.get("defaultAction"), "Deny") {
            premium.push("network rules");
        }
    }
    let old_rules = nrs_obj.and_then(|n| n.get("virtualNetworkRules"));
    let old_nonempty = old_rules
        .and_then(Node::items)
        .is_some_and(|i| !i.is_empty());
    let shape = if VNET_ACTION_ID.contains(&api) {
        Some("id")
    } else if VNET_ACTION_SUBNET_ID.contains(&api) {
        Some("virtualNetworkSubnetResourceId")
    } else {
        None
    };
    if let (true, Some((_, entry))) = (opts.subnets.is_empty(), vnet_copy) {
        premium.push("network rules");
        ctx.find(
            Severity::Blocking,
            rules::VNET_RULES_SOURCE_SUBNET,
            &format!("{rp}/properties/networkRuleSet/copy"),
            format!(
                "virtual network rules still point at the source subnets: {}",
                copy_source(ctx, reg, entry)
            ),
            "give the target subnet(s) with --subnet ID (or set the array the loop reads to subnets in the target region)".into(),
        );
    }
    if opts.subnets.is_empty() {
        if old_nonempty {
            premium.push("network rules");
            let ids: Vec<String> = old_rules
                .and_then(Node::items)
                .unwrap_or(&[])
                .iter()
                .filter_map(|r| {
                    [
                        "id",
                        "virtualNetworkSubnetResourceId",
                        "virtualNetworkResourceId",
                    ]
                    .iter()
                    .find_map(|k| r.get(k).filter(|n| n.as_str().is_some()))
                })
                .map(|n| {
                    // A parameter or variable: the subnet it holds.
                    let steps = ctx.scopes.chain(n, Env::of(reg, ctx.params_obj));
                    let raw = n.as_str().unwrap_or_default();
                    match definition(&steps).source.literal() {
                        Some(id) if id != raw => format!("{id} ({raw})"),
                        _ => raw.to_string(),
                    }
                })
                .collect();
            ctx.find(
                Severity::Blocking,
                rules::VNET_RULES_SOURCE_SUBNET,
                &format!("{rp}/properties/networkRuleSet/virtualNetworkRules"),
                format!(
                    "virtual network rules still point at the source subnets: {}",
                    ids.join(", ")
                ),
                "give the target subnet(s) with --subnet ID".into(),
            );
        }
        return;
    }
    premium.push("network rules");
    let Some(field) = shape else {
        ctx.find(
            Severity::Blocking,
            rules::VNET_RULES_UNSUPPORTED,
            &format!("{rp}/apiVersion"),
            format!("apiVersion {api} has no networkRuleSet.virtualNetworkRules; the --subnet rules cannot be expressed"),
            "use a private endpoint in the target subnet instead, or an apiVersion that has virtualNetworkRules (2021-12-01-preview, 2026-03-01-preview)".into(),
        );
        return;
    };
    let new_rules: Vec<serde_json::Value> = opts
        .subnets
        .iter()
        .map(|s| {
            let mut m = serde_json::Map::new();
            m.insert("action".into(), json!("Allow"));
            m.insert(field.into(), json!(s));
            serde_json::Value::Object(m)
        })
        .collect();
    let layout = ctx.tpl.layout.clone();
    let text = ctx.tpl.text;
    if let (Some(n), Some((index, entry))) = (nrs_obj, vnet_copy) {
        // The rules come from a property copy loop: replaced by the literal rules (a property
        // cannot be both a copy entry and a member).
        let was = copy_source(ctx, reg, entry);
        let copy = n.get("copy").unwrap_or(n);
        if copy.items().is_some_and(|i| i.len() == 1) {
            let at = n
                .members()
                .and_then(|ms| ms.iter().position(|m| m.key.eq_ignore_ascii_case("copy")));
            edit::remove_members(&mut ctx.tpl.edits, n, &at.into_iter().collect::<Vec<_>>());
        } else {
            edit::remove_items(&mut ctx.tpl.edits, copy, &[index]);
        }
        ctx.find(
            Severity::Info,
            rules::VNET_RULES_SET,
            &format!("{rp}/properties/networkRuleSet/copy"),
            format!("virtualNetworkRules was built by {was}; it is now the --subnet rules"),
            "nothing to do (what the loop read is no longer used by the registry)".into(),
        );
    }
    match (nrs, old_rules) {
        (_, Some(old)) => {
            let indent = edit::indent_at(text, old.span.start);
            ctx.tpl.edits.replace(
                old.span.clone(),
                edit::render(&json!(new_rules), &indent, &layout),
            );
        }
        (Some(n), None) if n.members().is_some() => {
            edit::insert_member(
                &mut ctx.tpl.edits,
                text,
                &layout,
                n,
                "virtualNetworkRules",
                &json!(new_rules),
            );
        }
        (Some(n), None) => {
            // An expression (a parameter, a variable): nothing to add the rules to.
            let written = n.as_str().unwrap_or("a value that is not an object");
            ctx.find(
                Severity::Blocking,
                rules::OPTION_IGNORED,
                &format!("{rp}/properties/networkRuleSet"),
                format!("--subnet was not applied: networkRuleSet is {written}, not an object its virtualNetworkRules can be added to"),
                format!("add virtualNetworkRules allowing {} where that value is built (its parameter or variable), or write networkRuleSet out as an object and run template again", opts.subnets.join(", ")),
            );
            return;
        }
        (None, None) => {
            if let Some(p) = reg.node.get("properties").filter(|p| p.members().is_some()) {
                edit::insert_member(
                    &mut ctx.tpl.edits,
                    text,
                    &layout,
                    p,
                    "networkRuleSet",
                    &json!({"defaultAction": "Deny", "virtualNetworkRules": new_rules}),
                );
                ctx.find(
                    Severity::Info,
                    rules::VNET_RULES_SET,
                    &format!("{rp}/properties/networkRuleSet"),
                    "networkRuleSet added with defaultAction Deny and the --subnet rules".into(),
                    "nothing to do".into(),
                );
            }
        }
    }
    for s in &opts.subnets {
        // No ACR schema version has ignoreMissingVnetServiceEndpoint (checked 2017-10-01 to
        // 2026-03-01-preview), so the risk is always reported: a warning, since the subnet may
        // have the endpoint already.
        ctx.find(
            Severity::Warning,
            rules::SERVICE_ENDPOINT_REQUIRED,
            &format!("{rp}/properties/networkRuleSet/virtualNetworkRules"),
            format!("subnet {s} must have the Microsoft.ContainerRegistry service endpoint; apiVersion {api} has no ignoreMissingVnetServiceEndpoint to make the deployment check it"),
            format!("az network vnet subnet update --ids {s} --service-endpoints Microsoft.ContainerRegistry (before deploying)"),
        );
    }
}

/// The property `copy` entry of `object` (Bicep `for`) that builds the property `key`, with its
/// index in the `copy` array.
fn property_copy<'n>(object: &'n Node, key: &str) -> Option<(usize, &'n Node)> {
    object
        .get("copy")
        .and_then(Node::items)?
        .iter()
        .enumerate()
        .find(|(_, e)| str_ci_eq(e.get("name"), key))
}

/// What a property `copy` entry of `reg` iterates over, for a finding: the parameter or variable
/// its `input` reads, with the items of its value when they are strings (the value followed
/// through the deployment's parameters), else the loop's count.
fn copy_source(ctx: &Ctx<'_>, reg: &Resource<'_>, entry: &Node) -> String {
    let count = entry.get_str("count").unwrap_or("?");
    let mut strings = Vec::new();
    if let Some(input) = entry.get("input") {
        input.walk_strings(&mut strings);
    }
    let env = Env::of(reg, ctx.params_obj);
    let found = strings.iter().filter_map(|n| n.as_str()).find_map(|s| {
        let body: String = s.chars().filter(|c| !c.is_whitespace()).collect();
        let lower = body.to_ascii_lowercase();
        ["parameters", "variables"].iter().find_map(|f| {
            let start = lower.find(&format!("{f}('"))? + f.len() + 2;
            let arg = &body[start..start + body[start..].find('\'')?];
            let value = match env.lookup(f, arg) {
                Some(src @ Source::Parameter { .. }) => {
                    definition(&ctx.scopes.follow(src, env)).source.effective()
                }
                _ => env.template.get("variables").and_then(|vs| vs.get(arg)),
            };
            let what = if *f == "parameters" {
                "parameter"
            } else {
                "variable"
            };
            Some((format!("{what} {arg}"), value))
        })
    });
    match found {
        Some((what, Some(value))) if value.items().is_some() => {
            let items: Vec<&str> = value
                .items()
                .unwrap_or(&[])
                .iter()
                .filter_map(Node::as_str)
                .collect();
            format!("a copy loop over {what}, which holds {}", items.join(", "))
        }
        Some((what, _)) => format!("a copy loop over {what} (count {count})"),
        None => format!("a copy loop (count {count})"),
    }
}

/// Where [`set_definition`] wrote a value.
struct Defined {
    /// Pointer of the parameter or variable.
    path: String,
    /// `parameter p` or `variable v`.
    what: String,
    /// The literal value it had.
    old: Option<String>,
}

/// True when the value `steps` follow is defined by a parameter (declared or given a value) or a
/// variable holding a literal, which [`set_definition`] can set.
fn definable(steps: &[Step<'_>]) -> bool {
    match &definition(steps).source {
        Source::Parameter { decl, value, .. } => decl.is_some() || value.is_some(),
        Source::Variable { node, .. } => !node.as_str().is_some_and(is_expression),
        _ => false,
    }
}

/// Writes `value` where the value `steps` follow is defined: a parameter's given value and its
/// default (added when it has none), or a variable holding a literal. None when it is defined
/// otherwise (see [`definable`]).
fn set_definition(ctx: &mut Ctx<'_>, steps: &[Step<'_>], value: &str) -> Option<Defined> {
    if !definable(steps) {
        return None;
    }
    let def = definition(steps);
    let template_path = ctx.path_of(def.env.template);
    let old = def.source.literal().map(str::to_string);
    match &def.source {
        Source::Parameter {
            name,
            decl,
            value: given,
        } => {
            if let Some(v) = given {
                ctx.set_value(v, value);
            }
            if let Some(d) = decl {
                match d.get("defaultValue") {
                    Some(dv) => {
                        ctx.tpl.set_string(dv, value);
                    }
                    None => ctx.tpl.insert_member(d, "defaultValue", &json!(value)),
                }
            }
            Some(Defined {
                path: format!("{template_path}/parameters/{}", pointer_key(name)),
                what: format!("parameter {name}"),
                old,
            })
        }
        Source::Variable { name, node } => {
            ctx.tpl.set_string(node, value);
            Some(Defined {
                path: format!("{template_path}/variables/{}", pointer_key(name)),
                what: format!("variable {name}"),
                old,
            })
        }
        _ => None,
    }
}

/// The registry's one user-assigned identity is the key `m`, a parameter or variable followed by
/// `steps` (an export writes it `[parameters('userAssignedIdentities_<name>_externalid')]`, with
/// the source's identity as default): `--identity` becomes its value, and the key's
/// `keyVaultProperties.identity` reads that identity's client id instead of the source's. Without
/// `--identity`, the source's identity is reported.
fn identity_held(
    ctx: &mut Ctx<'_>,
    rp: &str,
    m: &crate::jsonc::Member,
    steps: &[Step<'_>],
    kvp: Option<&Node>,
) {
    let client_id = format!(
        "[reference({}, '2023-01-31').clientId]",
        expression_body(&m.key)
    );
    let was = match kvp.filter(|k| k.members().is_some()) {
        Some(kvp) => match kvp.member("identity") {
            Some(c) if c.value.as_str().is_some_and(|s| !is_expression(s)) => {
                ctx.tpl.set_string(&c.value, &client_id);
                format!(" (it was {})", c.value.as_str().unwrap_or_default())
            }
            Some(_) => String::new(),
            None => {
                ctx.tpl.insert_member(kvp, "identity", &json!(client_id));
                String::new()
            }
        },
        None => String::new(),
    };
    let path = format!("{rp}/identity/userAssignedIdentities");
    let def = definition(steps);
    let what = match &def.source {
        Source::Parameter { name, .. } => format!("parameter {name}"),
        Source::Variable { name, .. } => format!("variable {name}"),
        _ => m.key.clone(),
    };
    match ctx.opts.identity.clone() {
        Some(id) => {
            let Some(d) = set_definition(ctx, steps, &id) else {
                return;
            };
            let source = d.old.map(|o| format!(" (it was {o})")).unwrap_or_default();
            ctx.find(
                Severity::Info,
                rules::CMK_IDENTITY_SET,
                &d.path,
                format!("the registry's user-assigned identity is {what}: it is now --identity {id}{source}, and encryption.keyVaultProperties.identity reads its client id{was}"),
                "nothing to do if that identity has get, wrapKey and unwrapKey on the key (Key Vault Crypto Service Encryption User) before the deployment (a value given at deployment still wins)".into(),
            );
        }
        None => {
            let Some(old) = def.source.literal() else {
                return;
            };
            ctx.find(
                Severity::Warning,
                rules::CMK_KEY_FROM_SOURCE,
                &path,
                format!("the identity {old} ({what}) is the source registry's; encryption.keyVaultProperties.identity now reads its client id{was}"),
                "give the user-assigned identity to use with --identity (resource id)".into(),
            );
        }
    }
}

/// `--identity` that the registry's identity block leaves no place for (several or no literal
/// user-assigned identities, an expression, a system-assigned identity only).
fn identity_ignored(ctx: &mut Ctx<'_>, rp: &str, id: &str) {
    ctx.find(
        Severity::Warning,
        rules::OPTION_IGNORED,
        &format!("{rp}/identity"),
        format!("--identity {id} was not applied: the registry's identity is not one literal user-assigned identity to replace"),
        format!("add {id} to the registry's identity.userAssignedIdentities (type UserAssigned, or SystemAssigned, UserAssigned) and set encryption.keyVaultProperties.identity to [reference('{id}', '2023-01-31').clientId] by hand"),
    );
}

/// Customer-managed key: findings, and the key and identity as parameters (with `--key-uri` /
/// `--identity` as values). Returns whether the registry has one (or may: an expression).
fn encryption(
    ctx: &mut Ctx<'_>,
    reg: &Resource<'_>,
    enc: Option<&Node>,
    premium: &mut Vec<&str>,
) -> bool {
    let rp = reg.path.clone();
    let Some(enc) = enc.filter(|e| e.members().is_some()) else {
        // An expression may hold a key: not known to be without one.
        return enc.is_some_and(|e| e.as_str().is_some());
    };
    let kvp = enc.get("keyVaultProperties");
    let key = kvp.and_then(|k| k.member("keyIdentifier"));
    let enabled = str_ci_eq(enc.get("status"), "enabled")
        || key.is_some_and(|k| k.value.as_str().is_some_and(|s| !s.is_empty()));
    if !enabled {
        return false;
    }
    premium.push("customer-managed keys");
    let epath = format!("{rp}/properties/encryption");
    ctx.find(
        Severity::Warning,
        rules::CMK_CREATION_ONLY,
        &epath,
        "customer-managed key encryption can only be enabled when the registry is created".into(),
        "deploy this template to create the registry (do not create it first without encryption); the identity must already have get, wrapKey and unwrapKey on the key".into(),
    );
    let opts = ctx.opts;
    let layout = ctx.tpl.layout.clone();
    let text = ctx.tpl.text;
    let mut new_params: Vec<(String, serde_json::Value)> = Vec::new();
    let existing_params: Vec<String> = reg
        .template
        .get("parameters")
        .and_then(Node::members)
        .map(|m| m.iter().map(|m| m.key.to_ascii_lowercase()).collect())
        .unwrap_or_default();
    let pname = |base: &str| {
        let mut n = base.to_string();
        let mut i = 2;
        while existing_params.contains(&n.to_ascii_lowercase()) {
            n = format!("{base}{i}");
            i += 1;
        }
        n
    };
    if let Some(k) = key {
        if let Some(v) = k.value.as_str().filter(|s| !is_expression(s)) {
            let p = pname("encryptionKeyUri");
            ctx.tpl
                .set_string(&k.value, &format!("[parameters('{p}')]"));
            new_params.push((p.clone(), json!({"type": "string", "defaultValue": opts.key_uri.clone().unwrap_or_else(|| v.to_string()), "metadata": {"description": "Key Vault key URI for the registry's customer-managed key"}})));
            if opts.key_uri.is_none() {
                ctx.find(
                    Severity::Warning,
                    rules::CMK_KEY_FROM_SOURCE,
                    &format!("{epath}/keyVaultProperties/{}", k.key),
                    format!("the key {v} is the source registry's; it is now parameter {p} with that default"),
                    "give the key to use in the target region with --key-uri (or set the parameter at deployment)".into(),
                );
            } else {
                ctx.key_uri_used = true;
            }
        } else if let Some(uri) = &opts.key_uri {
            // The key is a parameter or variable already: --key-uri becomes its value.
            let steps = ctx.scopes.chain(&k.value, Env::of(reg, ctx.params_obj));
            let set_at = set_definition(ctx, &steps, uri).map(|d| (d.path, d.what));
            if let Some((path, what)) = set_at {
                ctx.key_uri_used = true;
                ctx.find(
                    Severity::Info,
                    rules::KEY_URI_SET,
                    &path,
                    format!("the key is given by {what}; it now has the --key-uri value {uri}"),
                    "nothing to do (a value given at deployment still wins)".into(),
                );
            }
        }
    }
    // User-assigned identity given as a literal resource id.
    let ua = reg.node.at(&["identity", "userAssignedIdentities"]);
    let ua_members = ua.and_then(Node::members).unwrap_or(&[]);
    let literal_ids: Vec<&crate::jsonc::Member> = ua_members
        .iter()
        .filter(|m| !is_expression(&m.key))
        .collect();
    // The one identity written as a parameter or variable (an export's `<...>_externalid`),
    // followed to where its value is set.
    let env = Env::of(reg, ctx.params_obj);
    let held = match ua_members {
        [m] => ["parameters", "variables"]
            .iter()
            .find_map(|f| single_call(&m.key, f).and_then(|arg| env.lookup(f, arg)))
            .map(|src| (m, ctx.scopes.follow(src, env)))
            .filter(|(_, steps)| definable(steps)),
        _ => None,
    };
    // The one identity written as another expression (`resourceId(...)`): replaced by --identity.
    let computed = match ua_members {
        [m] if is_expression(&m.key) && held.is_none() && opts.identity.is_some() => Some(m),
        _ => None,
    };
    if let Some(m) = literal_ids
        .first()
        .filter(|_| literal_ids.len() == 1)
        .or(computed.as_ref())
    {
        let p = pname("encryptionIdentityId");
        ctx.tpl.edits.replace(
            m.key_span.clone(),
            json_str(&format!("[parameters('{p}')]")),
        );
        if let Some(id) = kvp.and_then(|k| k.get("identity")) {
            if id.as_str().is_some_and(|s| !is_expression(s)) {
                ctx.tpl.set_string(
                    id,
                    &format!("[reference(parameters('{p}'), '2023-01-31').clientId]"),
                );
            }
        }
        new_params.push((p.clone(), json!({"type": "string", "defaultValue": opts.identity.clone().unwrap_or_else(|| m.key.clone()), "metadata": {"description": "Resource id of the user-assigned identity that reads the customer-managed key"}})));
        match &opts.identity {
            None => ctx.find(
                Severity::Warning,
                rules::CMK_KEY_FROM_SOURCE,
                &format!("{rp}/identity/userAssignedIdentities"),
                format!("the identity {} is the source registry's; it is now parameter {p} with that default", m.key),
                "give the user-assigned identity to use with --identity (resource id)".into(),
            ),
            Some(id) if is_expression(&m.key) => ctx.find(
                Severity::Info,
                rules::CMK_IDENTITY_SET,
                &format!("{rp}/identity/userAssignedIdentities"),
                format!("the registry's user-assigned identity {} is now parameter {p}, --identity {id}, and encryption.keyVaultProperties.identity reads its client id", m.key),
                "nothing to do if that identity has get, wrapKey and unwrapKey on the key (Key Vault Crypto Service Encryption User) before the deployment".into(),
            ),
            Some(_) => {}
        }
    } else if let Some((m, steps)) = held {
        identity_held(ctx, &rp, m, &steps, kvp);
    } else if let (Some(id), None, Some(kvp)) = (
        opts.identity.as_ref(),
        reg.node.get("identity"),
        kvp.filter(|k| k.members().is_some()),
    ) {
        // No identity block: --identity becomes the registry's user-assigned identity and the
        // one that reads the key.
        let p = pname("encryptionIdentityId");
        let layout = ctx.tpl.layout.clone();
        edit::insert_member(
            &mut ctx.tpl.edits,
            text,
            &layout,
            reg.node,
            "identity",
            &json!({"type": "UserAssigned", "userAssignedIdentities": {format!("[parameters('{p}')]"): {}}}),
        );
        let client_id = format!("[reference(parameters('{p}'), '2023-01-31').clientId]");
        let was = match kvp.member("identity") {
            Some(m) => {
                let was = m.value.as_str().unwrap_or("").to_string();
                ctx.tpl.set_string(&m.value, &client_id);
                format!(" (it was {was})")
            }
            None => {
                ctx.tpl.insert_member(kvp, "identity", &json!(client_id));
                String::new()
            }
        };
        new_params.push((p.clone(), json!({"type": "string", "defaultValue": id, "metadata": {"description": "Resource id of the user-assigned identity that reads the customer-managed key"}})));
        ctx.find(
            Severity::Info,
            rules::CMK_IDENTITY_SET,
            &format!("{rp}/identity"),
            format!("the registry had no identity: --identity {id} is now its user-assigned identity (parameter {p}) and encryption.keyVaultProperties.identity its client id{was}"),
            "nothing to do if that identity has get, wrapKey and unwrapKey on the key (Key Vault Crypto Service Encryption User) before the deployment".into(),
        );
    } else if let Some(id) = kvp.and_then(|k| k.member("identity")).filter(|m| {
        m.value
            .as_str()
            .is_some_and(|s| !s.is_empty() && !is_expression(s))
    }) {
        // A literal client id with no literal identity to tie it to: still the source's.
        let v = id.value.as_str().unwrap_or_default().to_string();
        let p = pname("encryptionIdentityClientId");
        ctx.tpl
            .set_string(&id.value, &format!("[parameters('{p}')]"));
        new_params.push((p.clone(), json!({"type": "string", "defaultValue": v, "metadata": {"description": "Client id of the user-assigned identity that reads the customer-managed key"}})));
        ctx.find(
            Severity::Warning,
            rules::CMK_KEY_FROM_SOURCE,
            &format!("{epath}/keyVaultProperties/{}", id.key),
            format!("the identity client id {v} is the source registry's; it is now parameter {p} with that default"),
            "set the parameter to the client id of the user-assigned identity that reads the key in the target, and add that identity to the registry's identity.userAssignedIdentities".into(),
        );
        if let Some(given) = opts.identity.as_ref() {
            identity_ignored(ctx, &rp, given);
        }
    } else if let Some(id) = opts.identity.as_ref() {
        identity_ignored(ctx, &rp, id);
    }
    if new_params.is_empty() {
        return true;
    }
    match reg
        .template
        .get("parameters")
        .filter(|p| p.members().is_some())
    {
        Some(params) => {
            for (name, value) in new_params {
                edit::insert_member(&mut ctx.tpl.edits, text, &layout, params, &name, &value);
            }
        }
        None => {
            let obj: serde_json::Map<String, serde_json::Value> = new_params.into_iter().collect();
            edit::insert_member(
                &mut ctx.tpl.edits,
                text,
                &layout,
                reg.template,
                "parameters",
                &serde_json::Value::Object(obj),
            );
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_segments() {
        assert_eq!(last_segment("reg/westus").as_deref(), Some("westus"));
        assert_eq!(
            last_segment("[concat(parameters('r'), '/_repositories_pull')]").as_deref(),
            Some("_repositories_pull")
        );
        // The last quoted text of an expression: here the parameter that names the child.
        assert_eq!(
            last_segment("[format('{0}/{1}', parameters('r'), parameters('l'))]").as_deref(),
            Some("l")
        );
        assert_eq!(last_segment("[format('{0}/{1}', 'a', 'b/{2}')]"), None);
    }

    #[test]
    fn portal_parameter_names_state_the_old_name() {
        assert_eq!(
            portal_parameter_name("registries_Mrr78soft_name").as_deref(),
            Some("Mrr78soft")
        );
        assert_eq!(portal_parameter_name("registryName"), None);
        assert_eq!(portal_parameter_name("registries__name"), None);
    }

    #[test]
    fn names_and_regions() {
        assert!(name_is_valid("abcde1") && !name_is_valid("ab") && !name_is_valid("my-registry"));
        assert_eq!(norm_region("West Europe"), "westeurope");
    }
}
