//! Private endpoints and their DNS records: the template's own `Microsoft.Network/privateEndpoints`
//! that connect to the registry ([`private_endpoints_of_the_registry`]), the old registry's A
//! records in `privatelink.azurecr.io` ([`old_private_dns_records`]), the endpoint and DNS zone
//! group that `--private-endpoint` and `--private-dns-zone` add ([`add_private_endpoint`]), and
//! the words of the findings on removed private endpoint connections.

use serde_json::json;

use super::{add_beside, Ctx};
use crate::findings::Severity;
use crate::jsonc::Node;
use crate::model::{is_expression, pointer_key, resolve, Resource, Source};
use crate::rules;
use crate::RewriteOptions;

/// The `Microsoft.Network` apiVersion of the private endpoint and DNS zone group
/// `--private-endpoint` adds (generally available, with `privateDnsZoneGroups`).
const NETWORK_API_VERSION: &str = "2023-09-01";

/// The A records of the old registry's private endpoint in the `privatelink.azurecr.io` zone
/// (`<old>` and `<old>.<region>.data`, top-level or nested in their zone): deployed again they
/// hold the old endpoint's addresses, and the new registry's names get none. Said, not changed:
/// the new addresses are known only once its private endpoint exists, whose DNS zone group
/// writes its records.
pub(super) fn old_private_dns_records(
    ctx: &mut Ctx<'_>,
    res: &[Resource<'_>],
    old: &str,
    new: &str,
) {
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
pub(super) fn private_endpoints_of_the_registry(ctx: &mut Ctx<'_>, res: &[Resource<'_>]) -> usize {
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

/// The name of the private endpoint `--private-endpoint` adds for the new registry.
fn added_endpoint_name(opts: &RewriteOptions) -> String {
    format!("{}-pe", opts.name.to_ascii_lowercase())
}

/// `--private-endpoint`: adds a private endpoint for the new registry (group id `registry`) on
/// the given subnet, in the target region (a private endpoint is always in its virtual network's
/// region), after the registry; with `--private-dns-zone`, its DNS zone group, which writes the
/// registry's records (`<new>` and `<new>.<region>.data`, home and each replica) into that
/// `privatelink.azurecr.io` zone. True when added.
pub(super) fn add_private_endpoint(ctx: &mut Ctx<'_>, reg: &Resource<'_>, name_expr: &str) -> bool {
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
pub(super) fn recreate_severity(opts: &RewriteOptions) -> Severity {
    match opts.private_endpoint_subnet {
        Some(_) => Severity::Info,
        None => Severity::Warning,
    }
}

pub(super) fn private_endpoint_fix(opts: &RewriteOptions) -> String {
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
