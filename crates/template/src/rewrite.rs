//! The rewrite itself: locate the registry and its children, record span edits, raise findings.
//!
//! Order matters only in one place: resource removals and targeted edits are recorded first, the
//! blanket replacement of the old registry name inside every string runs last and skips anything
//! already edited or removed.

use std::collections::HashSet;

use crate::edit::{self, Edits, Layout};
use crate::error::TemplateError;
use crate::findings::{Finding, Severity};
use crate::jsonc::{self, Node};
use crate::model::{self, expression_body, is_expression, pointer_key, resolve, Resource};
use crate::regions;
use crate::rename;
use crate::rules;
use crate::{RewriteOptions, Rewritten, TemplateInput};

use children_only::relocate_children;
use private_endpoints::{
    old_private_dns_records, private_endpoint_fix, private_endpoints_of_the_registry,
};
use registry::relocate;
use rename_pass::{data_endpoints_kept, data_endpoints_to_add, rename_everywhere};

mod api_version;
mod children;
mod children_only;
mod definitions;
mod encryption;
mod literal_ids;
mod location;
mod naming;
mod network;
mod private_endpoints;
mod recreated;
mod references;
mod registry;
mod removed;
mod rename_pass;
mod replications;
mod roles;

const REGISTRY: &str = "microsoft.containerregistry/registries";
const CHILD_PREFIX: &str = "microsoft.containerregistry/registries/";

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
    /// the new registry serves are known ([`recreate_tasks`](recreated::recreate_tasks)).
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

/// True for a GUID written out (`8-4-4-4-12` hex digits).
fn is_guid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() == 5
        && parts
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(p, n)| p.len() == n && p.chars().all(|c| c.is_ascii_hexdigit()))
}

/// An expression without spaces, lower case (to compare two writings of one expression).
fn compact(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_lowercase()
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
    fn names_and_regions() {
        assert!(name_is_valid("abcde1") && !name_is_valid("ab") && !name_is_valid("my-registry"));
        assert_eq!(norm_region("West Europe"), "westeurope");
    }
}
