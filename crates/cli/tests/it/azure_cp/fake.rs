//! A stateful fake of Azure Resource Manager, behind the Prism proxies: resource groups,
//! deployments with long-running operations, exportTemplate, registries and their child
//! resources, importImage (really performed between two test registries when their data planes
//! are known), a managed cluster with its kubelet identity, and role assignments. Bodies start
//! from the official example files of the specs (`RegistryGet.json`, `ReplicationList.json`,
//! `ExportResourceGroup.json`, `ManagedClustersGet.json`, ...), loaded at test time and edited.
//!
//! Long-running operations follow ARM: a `PUT` deployment answers 201 with
//! `Azure-AsyncOperation: {arm}/...deployments/{name}/operationStatuses/{id}` (polled until
//! `Succeeded`/`Failed`), and exportTemplate, validate, importImage and registry DELETE answer 202
//! with `Location: {arm}/.../operationresults/{id}` or `.../operationStatuses/{id}` (202 while
//! running, then the final answer). Each operation reports running for [`Knobs::running_polls`]
//! polls first, always with `Retry-After: 1`. `{arm}` is the router ([`FakeArm::set_public_url`]):
//! as on real ARM the operation URLs are on the endpoint's own origin (the tool sends its token
//! nowhere else); the router passes them to the fake directly, since no spec describes them.
//!
//! Every request is recorded ([`FakeArm::requests`]) and must carry a bearer token our AAD issued.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};

use crate::support::http::{decode_path, Request, Response, Server};
use crate::support::prism::specs;

/// The subscription of the official examples.
pub const SUB: &str = "00000000-0000-0000-0000-000000000000";
/// The resource group of the `RegistryGet` example.
pub const RG: &str = "myResourceGroup";
/// The AcrPull role definition (a built-in role: the same GUID in every tenant).
pub const ACR_PULL: &str = "7f951dda-4ed3-4680-a7ca-43fe172d538d";

/// A registry resource ID in the ACR spec's casing.
pub fn registry_id(rg: &str, name: &str) -> String {
    format!("/subscriptions/{SUB}/resourceGroups/{rg}/providers/Microsoft.ContainerRegistry/registries/{name}")
}

/// A managed cluster resource ID.
pub fn cluster_id(rg: &str, name: &str) -> String {
    format!(
        "/subscriptions/{SUB}/resourceGroups/{rg}/providers/Microsoft.ContainerService/managedClusters/{name}"
    )
}

/// The body of the `code` response of an example file (`rel` is under `specs/azure/`).
pub fn example(rel: &str, code: &str) -> Value {
    let path = specs().join("azure").join(rel);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (the extra tier needs ../shared/specs)",
            path.display()
        )
    });
    let value: Value = serde_json::from_str(&text).unwrap();
    value["responses"][code]["body"].clone()
}

const ACR_EXAMPLES: &str =
    "containerregistry/resource-manager/Microsoft.ContainerRegistry/stable/2023-07-01/examples";
const RESOURCES_EXAMPLES: &str =
    "resources/resource-manager/Microsoft.Resources/stable/2024-03-01/examples";
const AKS_EXAMPLES: &str =
    "containerservice/resource-manager/Microsoft.ContainerService/aks/stable/2024-02-01/examples";
const AUTHORIZATION_EXAMPLES: &str =
    "authorization/resource-manager/Microsoft.Authorization/stable/2022-04-01/examples";

/// An ARM error envelope.
pub fn arm_error(status: u16, code: &str, message: &str) -> Response {
    Response::json(
        status,
        &json!({"error": {"code": code, "message": message}}),
    )
}

/// How the fake answers; tests switch these per case.
#[derive(Clone, Debug)]
pub struct Knobs {
    /// exportTemplate answers 202 + `Location` (else 200 with the template).
    pub export_async: bool,
    /// Deployment validation answers 202 + `Location` (else 200 with the result).
    pub validate_async: bool,
    /// importImage answers 202 + `Location` (else 200).
    pub import_async: bool,
    /// Registry DELETE answers 202 + `Location` (else 200).
    pub delete_async: bool,
    /// How many polls of each operation report it running before it ends.
    pub running_polls: u32,
    /// Validation fails: 400 with this `(code, message)` (e.g. `InvalidTemplate`).
    pub validate_error: Option<(String, String)>,
    /// The deployment's operation on the registry fails with this `(code, message)` (e.g.
    /// `AlreadyInUse`): the deployment ends `Failed`.
    pub deployment_error: Option<(String, String)>,
    /// Writes under resource groups (PUT, POST, DELETE) get 403 `AuthorizationFailed`.
    pub forbidden: bool,
    /// `getCallbackConfig` gets 403 `AuthorizationFailed` (a role that may export but not read
    /// webhook callbacks).
    pub callbacks_forbidden: bool,
    /// Role assignment listings come back empty (as right after a write elsewhere, before ARM's
    /// caches catch up): a PUT then meets 409 `RoleAssignmentExists`.
    pub stale_role_list: bool,
    /// importImage performs the import, then answers 409 as a re-sent NoForce import meets the tag
    /// its first, lost, attempt wrote.
    pub import_then_conflict: bool,
    /// Role assignment listings answer this many entries a page, with a `nextLink` (`$skipToken`)
    /// to the rest (0: one page).
    pub role_page_size: usize,
    /// Listings of registries' diagnostic settings get 403 `AuthorizationFailed` (a role without
    /// read on `Microsoft.Insights`).
    pub diagnostics_forbidden: bool,
    /// This many importImage requests (the first ones) get 429 `TooManyRequests` with
    /// `Retry-After: throttle_seconds`, as ARM's write throttling answers.
    pub import_throttles: u32,
    /// The `Retry-After` of those 429s, in seconds.
    pub throttle_seconds: u32,
    /// importImage answers a bare 202 Accepted: no `Location`, no `Azure-AsyncOperation`.
    pub import_bare_accepted: bool,
    /// importImage does not copy anything (an import that never happens, or has not yet).
    pub import_not_performed: bool,
}

impl Default for Knobs {
    fn default() -> Self {
        Knobs {
            export_async: false,
            validate_async: false,
            import_async: true,
            delete_async: true,
            running_polls: 1,
            validate_error: None,
            deployment_error: None,
            forbidden: false,
            callbacks_forbidden: false,
            stale_role_list: false,
            import_then_conflict: false,
            role_page_size: 0,
            diagnostics_forbidden: false,
            import_throttles: 0,
            throttle_seconds: 1,
            import_bare_accepted: false,
            import_not_performed: false,
        }
    }
}

/// One request as the fake saw it.
#[derive(Clone, Debug)]
pub struct Recorded {
    /// The method.
    pub method: String,
    /// The path, percent-decoded.
    pub path: String,
    /// The raw query.
    pub query: String,
    /// The body as JSON (`null` when empty).
    pub body: Value,
    /// When it arrived.
    pub at: std::time::Instant,
}

impl Recorded {
    /// Whether this is a poll of a long-running operation.
    pub fn is_poll(&self) -> bool {
        let path = self.path.to_ascii_lowercase();
        path.contains("/operationstatuses/") || path.contains("/operationresults/")
    }

    /// A query parameter, decoded.
    pub fn param(&self, name: &str) -> Option<String> {
        crate::support::http::parse_form(&self.query)
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }
}

/// How an operation ends.
#[derive(Clone, Debug)]
enum Outcome {
    /// `Azure-AsyncOperation` status: `Succeeded`, or `Failed` with this error.
    Async(Option<Value>),
    /// `Location` polling: this status and body.
    Location(u16, Option<Value>),
}

#[derive(Clone, Debug)]
struct Operation {
    polls_left: u32,
    outcome: Outcome,
}

#[derive(Clone, Debug)]
struct Deployment {
    id: String,
    name: String,
    operation: String,
    properties: Value,
    error: Option<(String, String)>,
    /// The name of the registry the template creates.
    registry: String,
}

/// Everything the fake holds.
#[derive(Default)]
pub struct ArmState {
    /// The knobs.
    pub knobs: Knobs,
    /// Resource groups: lower-case `sub/rg` → `(name, location)`.
    pub resource_groups: BTreeMap<String, (String, String)>,
    /// Registries by lower-case ID.
    pub registries: BTreeMap<String, Value>,
    /// Child resources by lower-case registry ID and kind (`replications`, `webhooks`,
    /// `scopeMaps`, `tokens`).
    pub children: BTreeMap<(String, String), Vec<Value>>,
    /// Managed clusters by lower-case ID.
    pub clusters: BTreeMap<String, Value>,
    /// Role assignments (`RoleAssignment` bodies).
    pub role_assignments: Vec<Value>,
    /// Data-plane URLs (`http://127.0.0.1:PORT`) by lower-case registry ID or by host: where
    /// importImage really copies from and to.
    pub data_planes: HashMap<String, String>,
    /// Webhook callbacks (`getCallbackConfig` answers) by lower-case webhook ID; a webhook
    /// without one answers `https://hooks.example/NAME`.
    pub callbacks: HashMap<String, Value>,
    /// Every request.
    pub requests: Vec<Recorded>,
    deployments: BTreeMap<String, Deployment>,
    operations: BTreeMap<String, Operation>,
    next: u32,
    base: String,
}

/// The fake, serving plain HTTP on 127.0.0.1 until dropped.
pub struct FakeArm {
    server: Server,
    state: Arc<Mutex<ArmState>>,
}

type TokenCheck = dyn Fn(&str) -> bool + Send + Sync;

impl FakeArm {
    /// Starts the fake; `valid_token` says whether a bearer token was issued by our AAD.
    pub fn start(valid_token: impl Fn(&str) -> bool + Send + Sync + 'static) -> Self {
        let state = Arc::new(Mutex::new(ArmState::default()));
        let s = state.clone();
        let check: Arc<TokenCheck> = Arc::new(valid_token);
        let server = Server::start_raw(move |r| handle(r, &s, &*check));
        state.lock().unwrap().base = server.url();
        FakeArm { server, state }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        self.server.url()
    }

    /// Its port.
    pub fn port(&self) -> u16 {
        self.server.port
    }

    /// The origin the tool reaches ARM at (the router): operation URLs are built on it.
    pub fn set_public_url(&self, url: &str) {
        self.with(|s| s.base = url.to_string());
    }

    /// Runs `f` on the state (to set knobs, add resources, read what happened).
    pub fn with<R>(&self, f: impl FnOnce(&mut ArmState) -> R) -> R {
        f(&mut self.state.lock().unwrap())
    }

    /// Sets the knobs.
    pub fn knobs(&self, f: impl FnOnce(&mut Knobs)) {
        self.with(|s| f(&mut s.knobs));
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.with(|s| s.requests.clone())
    }

    /// The requests with this method whose path ends with `suffix` (case-insensitive).
    pub fn find(&self, method: &str, suffix: &str) -> Vec<Recorded> {
        let suffix = suffix.to_ascii_lowercase();
        self.requests()
            .into_iter()
            .filter(|r| r.method == method && r.path.to_ascii_lowercase().ends_with(&suffix))
            .collect()
    }

    /// Adds a resource group.
    pub fn add_resource_group(&self, name: &str, location: &str) {
        self.with(|s| {
            s.resource_groups.insert(
                format!("{SUB}/{name}").to_ascii_lowercase(),
                (name.to_string(), location.to_string()),
            )
        });
    }

    /// Adds a registry: the `RegistryGet` example with its ID, name and login server set for
    /// `rg`/`name`, then `edit`ed. Returns its ID.
    pub fn add_registry(&self, rg: &str, name: &str, edit: impl FnOnce(&mut Value)) -> String {
        let id = registry_id(rg, name);
        let mut body = example(&format!("{ACR_EXAMPLES}/RegistryGet.json"), "200");
        body["id"] = json!(id);
        body["name"] = json!(name);
        body["properties"]["loginServer"] = json!(format!("{}.azurecr.io", name.to_lowercase()));
        // The example has `"status": null`, which its own schema (an object) refuses: Prism
        // would turn the answer into a 500.
        body["properties"].as_object_mut().unwrap().remove("status");
        edit(&mut body);
        self.with(|s| {
            s.registries.insert(id.to_ascii_lowercase(), body);
            for kind in ["replications", "webhooks", "scopeMaps", "tokens"] {
                s.children
                    .entry((id.to_ascii_lowercase(), kind.to_string()))
                    .or_default();
            }
        });
        self.add_resource_group(rg, "westus");
        id
    }

    /// Adds `sourceRegistry` (in `sourceGroup`, the example's region) and `targetRegistry` (in
    /// `targetGroup`, in eastus, then `edit_target`), the two sides of a relocation, each served
    /// by the data plane at its URL; returns their IDs.
    pub fn add_relocation(
        &self,
        source_url: &str,
        target_url: &str,
        edit_target: impl FnOnce(&mut Value),
    ) -> (String, String) {
        let source = self.add_registry("sourceGroup", "sourceRegistry", |_| {});
        let target = self.add_registry("targetGroup", "targetRegistry", |r| {
            r["location"] = json!("eastus");
            edit_target(r);
        });
        self.data_plane(&source, source_url);
        self.data_plane(&target, target_url);
        (source, target)
    }

    /// Gives a registry the child resources of the list examples (`ReplicationList`,
    /// `WebhookList`, `ScopeMapList`, `TokenList`), moved under its ID. Returns their IDs.
    pub fn add_example_children(&self, registry: &str) -> Vec<String> {
        let template = registry_id(RG, "myRegistry");
        let mut ids = Vec::new();
        for (kind, file) in [
            ("replications", "ReplicationList.json"),
            ("webhooks", "WebhookList.json"),
            ("scopeMaps", "ScopeMapList.json"),
            ("tokens", "TokenList.json"),
        ] {
            let list = example(&format!("{ACR_EXAMPLES}/{file}"), "200");
            let items: Vec<Value> = list["value"]
                .as_array()
                .unwrap()
                .iter()
                .map(|item| {
                    let text = item.to_string().replace(&template, registry);
                    serde_json::from_str::<Value>(&text).unwrap()
                })
                .collect();
            ids.extend(items.iter().map(|i| i["id"].as_str().unwrap().to_string()));
            self.with(|s| {
                s.children
                    .insert((registry.to_ascii_lowercase(), kind.to_string()), items)
            });
        }
        ids
    }

    /// Adds a managed cluster: the `ManagedClustersGet` example with its ID and name set and a
    /// kubelet identity (`identityProfile.kubeletidentity`, which no AKS example has) whose
    /// object ID is `kubelet_object_id`. Returns its ID.
    pub fn add_cluster(&self, rg: &str, name: &str, kubelet_object_id: &str) -> String {
        let id = cluster_id(rg, name);
        let mut body = example(&format!("{AKS_EXAMPLES}/ManagedClustersGet.json"), "200");
        body["id"] = json!(id);
        body["name"] = json!(name);
        let node_rg = format!("MC_{rg}_{name}_westus");
        body["properties"]["nodeResourceGroup"] = json!(node_rg);
        body["properties"]["identityProfile"] = json!({
            "kubeletidentity": {
                "resourceId": format!("/subscriptions/{SUB}/resourcegroups/{node_rg}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/{name}-agentpool"),
                "clientId": super::aad::random_guid(),
                "objectId": kubelet_object_id,
            }
        });
        self.with(|s| s.clusters.insert(id.to_ascii_lowercase(), body));
        id
    }

    /// Tells importImage where a registry's data plane is (by resource ID or login host).
    pub fn data_plane(&self, key: &str, url: &str) {
        self.with(|s| {
            s.data_planes
                .insert(key.to_ascii_lowercase(), url.to_string())
        });
    }
}

fn now() -> String {
    "2024-07-08T12:00:00.0000000Z".to_string()
}

fn handle(request: &Request, state: &Mutex<ArmState>, valid_token: &TokenCheck) -> Response {
    let path = decode_path(&request.path);
    let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
    state.lock().unwrap().requests.push(Recorded {
        method: request.method.clone(),
        path: path.clone(),
        query: request.query.clone(),
        body: body.clone(),
        at: std::time::Instant::now(),
    });
    let token = request
        .header("authorization")
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if token.is_empty() {
        return arm_error(
            401,
            "AuthenticationFailed",
            "Authentication failed. The 'Authorization' header is missing.",
        );
    }
    if !valid_token(token) {
        return arm_error(
            401,
            "InvalidAuthenticationToken",
            "The access token is invalid.",
        );
    }
    let mut state = state.lock().unwrap();
    route(&mut state, &request.method, &path, &request.query, &body)
}

/// The template ARM's exportTemplate makes of a registry and its children (`az group export`
/// style: `String` parameter types, names through parameters, children with `concat` names).
fn export_template(state: &ArmState, ids: &[String]) -> Value {
    let mut skeleton = example(
        &format!("{RESOURCES_EXAMPLES}/ExportResourceGroup.json"),
        "200",
    );
    let template = skeleton["template"].as_object_mut().unwrap();
    let mut parameters = serde_json::Map::new();
    let mut resources = Vec::new();
    let wanted: Vec<String> = ids.iter().map(|i| i.to_ascii_lowercase()).collect();
    for (id, registry) in &state.registries {
        if !wanted.contains(id) && !wanted.iter().any(|w| w == "*") {
            continue;
        }
        let name = registry["name"].as_str().unwrap();
        let param = format!("registries_{name}_name");
        parameters.insert(
            param.clone(),
            json!({"defaultValue": name, "type": "String"}),
        );
        let p = &registry["properties"];
        let mut policies = p["policies"].clone();
        if let Some(r) = policies["retentionPolicy"].as_object_mut() {
            r.remove("lastUpdatedTime");
        }
        resources.push(json!({
            "type": "Microsoft.ContainerRegistry/registries",
            "apiVersion": "2023-07-01",
            "name": format!("[parameters('{param}')]"),
            "location": registry["location"],
            "tags": registry["tags"],
            "sku": {"name": registry["sku"]["name"], "tier": registry["sku"]["name"]},
            "properties": {
                "adminUserEnabled": p["adminUserEnabled"],
                "networkRuleSet": p["networkRuleSet"],
                "policies": policies,
                "encryption": p["encryption"],
                "dataEndpointEnabled": p["dataEndpointEnabled"],
                "publicNetworkAccess": p["publicNetworkAccess"],
                "networkRuleBypassOptions": p["networkRuleBypassOptions"],
                "zoneRedundancy": p["zoneRedundancy"],
            },
        }));
        let depends = json!([format!(
            "[resourceId('Microsoft.ContainerRegistry/registries', parameters('{param}'))]"
        )]);
        for ((reg, kind), items) in &state.children {
            if reg != id {
                continue;
            }
            for item in items {
                let item_id = item["id"].as_str().unwrap().to_ascii_lowercase();
                if !wanted.contains(&item_id) && !wanted.iter().any(|w| w == "*") {
                    continue;
                }
                let child = item["name"].as_str().unwrap();
                let mut resource = json!({
                    "type": format!("Microsoft.ContainerRegistry/registries/{kind}"),
                    "apiVersion": "2023-07-01",
                    "name": format!("[concat(parameters('{param}'), '/{child}')]"),
                    "dependsOn": depends,
                });
                let props = &item["properties"];
                match kind.as_str() {
                    "replications" => {
                        resource["location"] = item["location"].clone();
                        resource["properties"] = json!({
                            "regionEndpointEnabled": props["regionEndpointEnabled"],
                            "zoneRedundancy": props["zoneRedundancy"],
                        });
                    }
                    "webhooks" => {
                        resource["location"] = item["location"].clone();
                        resource["properties"] = json!({
                            "status": props["status"],
                            "scope": props["scope"],
                            "actions": props["actions"],
                        });
                    }
                    "scopeMaps" => {
                        resource["properties"] = json!({"actions": props["actions"]});
                    }
                    _ => {
                        let scope_map = props["scopeMapId"]
                            .as_str()
                            .and_then(|s| s.rsplit('/').next())
                            .unwrap_or("");
                        resource["properties"] = json!({
                            "scopeMapId": format!("[resourceId('Microsoft.ContainerRegistry/registries/scopeMaps', parameters('{param}'), '{scope_map}')]"),
                            "status": props["status"],
                        });
                    }
                }
                resources.push(resource);
            }
        }
    }
    template.insert("parameters".into(), Value::Object(parameters));
    template.insert("resources".into(), Value::Array(resources));
    // The example also reports `ExportTemplateCompletedWithErrors`; everything was exported here.
    skeleton.as_object_mut().unwrap().remove("error");
    skeleton
}

impl ArmState {
    fn operation(&mut self, outcome: Outcome) -> String {
        self.next += 1;
        let id = format!("op-{:04}-{}", self.next, super::aad::random_hex(4));
        self.operations.insert(
            id.clone(),
            Operation {
                polls_left: self.knobs.running_polls,
                outcome,
            },
        );
        id
    }

    /// 202 with `Location` (and `Retry-After`) for an operation ending as `outcome`; `at` is
    /// the operation URL's path and query with `{id}` for the operation's ID.
    fn accepted(&mut self, outcome: Outcome, at: &str) -> Response {
        let id = self.operation(outcome);
        Response::new(202, Vec::new())
            .header(
                "Location",
                format!("{}{}", self.base, at.replace("{id}", &id)),
            )
            .header("Retry-After", "1")
    }

    fn operation_done(&self, id: &str) -> bool {
        self.operations.get(id).is_some_and(|o| o.polls_left == 0)
    }
}

fn route(state: &mut ArmState, method: &str, path: &str, query: &str, body: &Value) -> Response {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let lower: Vec<String> = segments.iter().map(|s| s.to_ascii_lowercase()).collect();
    let l: Vec<&str> = lower.iter().map(String::as_str).collect();

    // Operation status URLs (no spec describes them; the router passes them on directly).
    let lower_path = path.to_ascii_lowercase();
    if method == "GET"
        && (lower_path.contains("/operationstatuses/") || lower_path.contains("/operationresults/"))
    {
        let id = segments.last().copied().unwrap_or("");
        return poll(state, id, path, query);
    }

    if let Some(at) = path
        .to_ascii_lowercase()
        .find("/providers/microsoft.authorization/roleassignments")
    {
        let scope = &path[..at];
        let rest = &path[at + "/providers/microsoft.authorization/roleassignments".len()..];
        return role_assignments(
            state,
            method,
            scope,
            rest.trim_start_matches('/'),
            query,
            body,
        );
    }

    if l.len() < 4 || l[0] != "subscriptions" || l[2] != "resourcegroups" {
        return not_found(path);
    }
    let (sub, rg) = (segments[1], segments[3]);
    let rg_key = format!("{sub}/{rg}").to_ascii_lowercase();
    if state.knobs.forbidden && !matches!(method, "GET" | "HEAD") {
        let action = match &l[4..] {
            [_, _, "deployments", _, "validate"] => {
                "Microsoft.Resources/deployments/validate/action"
            }
            [_, _, "deployments", _] => "Microsoft.Resources/deployments/write",
            [] => "Microsoft.Resources/subscriptions/resourcegroups/write",
            _ => "*/write",
        };
        return arm_error(
            403,
            "AuthorizationFailed",
            &format!("The client '{}' with object id '{}' does not have authorization to perform action '{action}' over scope '{path}' or the scope is invalid. If access was recently granted, please refresh your credentials.", super::aad::random_guid(), super::aad::random_guid()),
        );
    }
    let rest = &l[4..];
    match (method, rest) {
        ("HEAD", []) => {
            if state.resource_groups.contains_key(&rg_key) {
                Response::new(204, Vec::new())
            } else {
                Response::new(404, Vec::new())
            }
        }
        ("GET", []) => match state.resource_groups.get(&rg_key) {
            Some((name, location)) => Response::json(200, &resource_group(sub, name, location)),
            None => arm_error(
                404,
                "ResourceGroupNotFound",
                &format!("Resource group '{rg}' could not be found."),
            ),
        },
        ("PUT", []) => {
            let location = body["location"].as_str().unwrap_or("").to_string();
            let existed = state
                .resource_groups
                .insert(rg_key, (rg.to_string(), location.clone()))
                .is_some();
            Response::json(
                if existed { 200 } else { 201 },
                &resource_group(sub, rg, &location),
            )
        }
        ("POST", ["exporttemplate"]) => {
            if !state.resource_groups.contains_key(&rg_key) {
                return arm_error(
                    404,
                    "ResourceGroupNotFound",
                    &format!("Resource group '{rg}' could not be found."),
                );
            }
            let ids: Vec<String> = body["resources"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            let result = export_template(state, &ids);
            if state.knobs.export_async {
                state.accepted(
                    Outcome::Location(200, Some(result)),
                    &format!("/subscriptions/{sub}/operationresults/{{id}}?api-version=2024-03-01"),
                )
            } else {
                Response::json(200, &result)
            }
        }
        ("POST", ["providers", "microsoft.resources", "deployments", _, "validate"]) => {
            let name = segments[7];
            if let Some((code, message)) = state.knobs.validate_error.clone() {
                return Response::json(
                    400,
                    &json!({"error": {
                        "code": code,
                        "message": message,
                        "additionalInfo": [{"type": "TemplateViolation", "info": {"lineNumber": 1, "linePosition": 210, "path": "properties.template.resources[0]"}}],
                    }}),
                );
            }
            let id = deployment_id(sub, rg, name);
            let result = json!({
                "id": id,
                "name": name,
                "type": "Microsoft.Resources/deployments",
                "properties": deployment_properties(body, "Succeeded"),
            });
            if state.knobs.validate_async {
                state.accepted(
                    Outcome::Location(200, Some(result)),
                    &format!("/subscriptions/{sub}/operationresults/{{id}}?api-version=2024-03-01"),
                )
            } else {
                Response::json(200, &result)
            }
        }
        ("PUT", ["providers", "microsoft.resources", "deployments", _]) => {
            if !state.resource_groups.contains_key(&rg_key) {
                return arm_error(
                    404,
                    "ResourceGroupNotFound",
                    &format!("Resource group '{rg}' could not be found."),
                );
            }
            let name = segments[7].to_string();
            let id = deployment_id(sub, rg, &name);
            let error = state.knobs.deployment_error.clone();
            let failure = error.as_ref().map(|_| {
                json!({
                    "code": "DeploymentFailed",
                    "target": id,
                    "message": "At least one resource deployment operation failed. Please list deployment operations for details. Please see https://aka.ms/arm-deployment-operations for usage details.",
                    "details": [{"code": "Conflict", "message": "The resource operation completed with terminal provisioning state 'Failed'."}],
                })
            });
            let operation = state.operation(Outcome::Async(failure));
            let deployment = Deployment {
                id: id.clone(),
                name: name.clone(),
                operation: operation.clone(),
                properties: deployment_properties(body, "Accepted"),
                error,
                registry: registry_in(body),
            };
            state
                .deployments
                .insert(id.to_ascii_lowercase(), deployment);
            let mut answer = json!({
                "id": id,
                "name": name,
                "type": "Microsoft.Resources/deployments",
                "properties": deployment_properties(body, "Accepted"),
            });
            answer["properties"]["outputResources"] = json!([]);
            Response::json(201, &answer)
                .header(
                    "Azure-AsyncOperation",
                    format!(
                        "{}{id}/operationStatuses/{operation}?api-version=2024-03-01",
                        state.base
                    ),
                )
                .header("Retry-After", "1")
        }
        ("GET", ["providers", "microsoft.resources", "deployments", _]) => {
            let id = deployment_id(sub, rg, segments[7]);
            let Some(d) = state.deployments.get(&id.to_ascii_lowercase()).cloned() else {
                return arm_error(
                    404,
                    "DeploymentNotFound",
                    &format!("Deployment '{}' could not be found.", segments[7]),
                );
            };
            Response::json(200, &deployment_body(state, &d))
        }
        ("GET", ["deployments", _, "operations"]) => {
            let id = deployment_id(sub, rg, segments[5]);
            let Some(d) = state.deployments.get(&id.to_ascii_lowercase()).cloned() else {
                return arm_error(
                    404,
                    "DeploymentNotFound",
                    &format!("Deployment '{}' could not be found.", segments[5]),
                );
            };
            Response::json(200, &json!({"value": deployment_operations(state, &d)}))
        }
        (_, ["providers", "microsoft.containerregistry", "registries", _, ..]) => {
            let id = registry_id(segments[3], segments[7]).to_ascii_lowercase();
            registries(state, method, &id, &l[8..], query, body)
        }
        ("GET", ["providers", "microsoft.containerservice", "managedclusters", _]) => {
            let id = cluster_id(segments[3], segments[7]).to_ascii_lowercase();
            match state.clusters.get(&id) {
                Some(c) => Response::json(200, c),
                None => arm_error(
                    404,
                    "ResourceNotFound",
                    &format!("The Resource 'Microsoft.ContainerService/managedClusters/{}' under resource group '{rg}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix", segments[7]),
                ),
            }
        }
        _ => not_found(path),
    }
}

fn not_found(path: &str) -> Response {
    arm_error(
        404,
        "NotFound",
        &format!("The fake ARM has no route for {path}"),
    )
}

fn resource_group(sub: &str, name: &str, location: &str) -> Value {
    let mut body = example(
        &format!("{RESOURCES_EXAMPLES}/CreateResourceGroup.json"),
        "201",
    );
    body["id"] = json!(format!("/subscriptions/{sub}/resourceGroups/{name}"));
    body["name"] = json!(name);
    body["location"] = json!(location);
    body["type"] = json!("Microsoft.Resources/resourceGroups");
    body
}

fn deployment_id(sub: &str, rg: &str, name: &str) -> String {
    format!(
        "/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Resources/deployments/{name}"
    )
}

fn deployment_properties(request: &Value, state: &str) -> Value {
    json!({
        "templateHash": "11553441463227654213",
        "parameters": request["properties"]["parameters"].clone(),
        "mode": request["properties"]["mode"].clone(),
        "provisioningState": state,
        "timestamp": now(),
        "duration": "PT1.5S",
        "correlationId": "8a3ab6a4-4f3a-4a62-8cc2-0c6f1e4b5f21",
        "providers": [{"namespace": "Microsoft.ContainerRegistry", "resourceTypes": [{"resourceType": "registries", "locations": ["eastus"]}]}],
        "dependencies": [],
    })
}

/// The name of the first registry a deployment request's template creates (`[parameters('p')]`
/// resolved from the parameters or the parameter's default).
fn registry_in(request: &Value) -> String {
    let properties = &request["properties"];
    let template = &properties["template"];
    let name = template["resources"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|r| {
            r["type"]
                .as_str()
                .is_some_and(|t| t.eq_ignore_ascii_case("Microsoft.ContainerRegistry/registries"))
        })
        .and_then(|r| r["name"].as_str())
        .unwrap_or("registry");
    let Some(param) = name
        .strip_prefix("[parameters('")
        .and_then(|p| p.strip_suffix("')]"))
    else {
        return name.to_string();
    };
    properties["parameters"][param]["value"]
        .as_str()
        .or(template["parameters"][param]["defaultValue"].as_str())
        .unwrap_or(param)
        .to_string()
}

fn deployment_body(state: &ArmState, d: &Deployment) -> Value {
    let provisioning = if !state.operation_done(&d.operation) {
        "Running"
    } else if d.error.is_some() {
        "Failed"
    } else {
        "Succeeded"
    };
    let mut properties = d.properties.clone();
    properties["provisioningState"] = json!(provisioning);
    if provisioning == "Failed" {
        if let Some(Operation {
            outcome: Outcome::Async(Some(error)),
            ..
        }) = state.operations.get(&d.operation)
        {
            properties["error"] = error.clone();
        }
    }
    json!({"id": d.id, "name": d.name, "type": "Microsoft.Resources/deployments", "properties": properties})
}

fn deployment_operations(state: &ArmState, d: &Deployment) -> Vec<Value> {
    let done = state.operation_done(&d.operation);
    let name = d.registry.clone();
    let rg = d.id.split('/').nth(4).unwrap_or(RG);
    let target = json!({
        "id": registry_id(rg, &name),
        "resourceType": "Microsoft.ContainerRegistry/registries",
        "resourceName": name,
    });
    let mut properties = json!({
        "provisioningOperation": "Create",
        "provisioningState": if !done { "Running" } else if d.error.is_some() { "Failed" } else { "Succeeded" },
        "timestamp": now(),
        "duration": "PT1.2S",
        "serviceRequestId": "3f3b4bd1-5d6f-4bf6-9d7a-0f7d3c3f3a11",
        "statusCode": if d.error.is_some() { "Conflict" } else { "OK" },
        "targetResource": target,
    });
    if let (true, Some((code, message))) = (done, &d.error) {
        properties["statusMessage"] = json!({
            "status": "Failed",
            "error": {"code": code, "message": message},
        });
    }
    vec![json!({
        "id": format!("{}/operations/08584990452331183513", d.id),
        "operationId": "08584990452331183513",
        "properties": properties,
    })]
}

/// A poll of an operation: `Azure-AsyncOperation` ones answer their status, `Location` ones
/// 202 (with `Location` again) while running, then their final answer.
fn poll(state: &mut ArmState, id: &str, path: &str, query: &str) -> Response {
    let again = format!("{}{path}?{query}", state.base);
    let Some(op) = state.operations.get_mut(id) else {
        return arm_error(404, "OperationNotFound", "No such operation.");
    };
    let running = op.polls_left > 0;
    if running {
        op.polls_left -= 1;
    }
    match (&op.outcome, running) {
        (Outcome::Async(_), true) => Response::json(
            200,
            &json!({"id": path, "name": id, "status": "Running", "startTime": now()}),
        )
        .header("Retry-After", "1"),
        (Outcome::Async(None), false) => Response::json(
            200,
            &json!({"id": path, "name": id, "status": "Succeeded", "startTime": now(), "endTime": now()}),
        ),
        (Outcome::Async(Some(error)), false) => Response::json(
            200,
            &json!({"id": path, "name": id, "status": "Failed", "startTime": now(), "endTime": now(), "error": error}),
        ),
        (Outcome::Location(..), true) => Response::new(202, Vec::new())
            .header("Location", again)
            .header("Retry-After", "1"),
        (Outcome::Location(status, Some(body)), false) => Response::json(*status, body),
        (Outcome::Location(status, None), false) => Response::new(*status, Vec::new()),
    }
}

fn registries(
    state: &mut ArmState,
    method: &str,
    id: &str,
    rest: &[&str],
    query: &str,
    body: &Value,
) -> Response {
    let Some(registry) = state.registries.get(id).cloned() else {
        let name = id.rsplit('/').next().unwrap_or("");
        return arm_error(
            404,
            "ResourceNotFound",
            &format!("The Resource 'Microsoft.ContainerRegistry/registries/{name}' under resource group '{}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix", id.split('/').nth(4).unwrap_or("")),
        );
    };
    match (method, rest) {
        ("GET", []) => {
            // `roleAssignmentMode` is in the registry resource from api-version 2025-11-01 on
            // (azure-rest-api-specs, Microsoft.ContainerRegistry/Registry/stable/2025-11-01):
            // an older api-version does not return it.
            let version = crate::support::http::parse_form(query)
                .into_iter()
                .find(|(k, _)| k == "api-version")
                .map(|(_, v)| v)
                .unwrap_or_default();
            let mut registry = registry;
            if version.as_str() < "2025-11-01" {
                if let Some(p) = registry["properties"].as_object_mut() {
                    p.remove("roleAssignmentMode");
                }
            }
            Response::json(200, &registry)
        }
        ("DELETE", []) => {
            state.registries.remove(id);
            if state.knobs.delete_async {
                let at = format!(
                    "{}/operationStatuses/{{id}}?api-version=2023-07-01",
                    registry["id"].as_str().unwrap()
                );
                state.accepted(Outcome::Location(200, None), &at)
            } else {
                Response::new(200, Vec::new())
            }
        }
        // A child collection, or a setting of another provider on the registry
        // (`providers/Microsoft.Insights/diagnosticSettings`, `…/Microsoft.Authorization/locks`).
        ("GET", ["providers", _, kind])
            if state.knobs.diagnostics_forbidden
                && kind.eq_ignore_ascii_case("diagnosticSettings") =>
        {
            arm_error(
                403,
                "AuthorizationFailed",
                "The client does not have authorization to perform action 'Microsoft.Insights/diagnosticSettings/read'.",
            )
        }
        ("GET", [kind]) | ("GET", ["providers", _, kind]) => {
            let items = state
                .children
                .iter()
                .find(|((r, k), _)| r == id && k.eq_ignore_ascii_case(kind))
                .map(|(_, v)| v.clone())
                .unwrap_or_default();
            Response::json(200, &json!({"value": items}))
        }
        ("POST", ["webhooks", name, "getcallbackconfig"]) => {
            if state.knobs.callbacks_forbidden {
                return arm_error(
                    403,
                    "AuthorizationFailed",
                    "The client does not have authorization to perform action 'Microsoft.ContainerRegistry/registries/webhooks/getCallbackConfig/action'.",
                );
            }
            let webhook = format!("{id}/webhooks/{name}");
            let known = state
                .children
                .get(&(id.to_string(), "webhooks".to_string()))
                .into_iter()
                .flatten()
                .any(|w| {
                    w["id"]
                        .as_str()
                        .is_some_and(|i| i.eq_ignore_ascii_case(&webhook))
                });
            if !known {
                return arm_error(
                    404,
                    "ResourceNotFound",
                    &format!("The Resource 'Microsoft.ContainerRegistry/registries/webhooks/{name}' was not found."),
                );
            }
            let config =
                state.callbacks.get(&webhook).cloned().unwrap_or_else(
                    || json!({"serviceUri": format!("https://hooks.example/{name}")}),
                );
            Response::json(200, &config)
        }
        ("POST", ["importimage"]) => {
            if state.knobs.import_throttles > 0 {
                state.knobs.import_throttles -= 1;
                return arm_error(
                    429,
                    "TooManyRequests",
                    "The request is being throttled as the limit has been reached for operation type - Write_ObservationWindow_00:05:00.",
                )
                .header("Retry-After", state.knobs.throttle_seconds.to_string());
            }
            if !state.knobs.import_not_performed {
                if let Err(message) = import(state, id, body) {
                    return arm_error(400, "InvalidParameters", &message);
                }
            }
            if state.knobs.import_bare_accepted {
                return Response::new(202, Vec::new());
            }
            if state.knobs.import_then_conflict {
                return arm_error(
                    409,
                    "Conflict",
                    "Tag already exists in the target registry and mode is NoForce.",
                );
            }
            if state.knobs.import_async {
                let at = format!(
                    "{}/operationStatuses/{{id}}?api-version=2023-07-01",
                    registry["id"].as_str().unwrap()
                );
                state.accepted(Outcome::Location(200, None), &at)
            } else {
                Response::new(200, Vec::new())
            }
        }
        _ => not_found(id),
    }
}

/// Performs an import for real when both data planes are known: copies `sourceImage` to each of
/// `targetTags` with our own binary (one tag, no referrers).
fn import(state: &ArmState, target_id: &str, body: &Value) -> Result<(), String> {
    let Some(target) = state.data_planes.get(target_id).cloned() else {
        return Ok(());
    };
    let source = &body["source"];
    let key = source["resourceId"]
        .as_str()
        .or(source["registryUri"].as_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    let source_url = state
        .data_planes
        .get(&key)
        .cloned()
        .ok_or_else(|| format!("unknown source registry {key}"))?;
    let image = source["sourceImage"].as_str().unwrap_or("");
    // `repo:tag` or `repo@sha256:...`: the fake copies each target tag from the source's tag of
    // the same name (for a digest, that tag must still point at it, which the tests ensure).
    let repo = image.split(['@', ':']).next().unwrap_or("");
    for target_tag in body["targetTags"].as_array().into_iter().flatten() {
        let target_tag = target_tag.as_str().unwrap_or("");
        let Some((target_repo, tag)) = target_tag.rsplit_once(':') else {
            return Err(format!("target tag without a tag: {target_tag}"));
        };
        if target_repo != repo {
            return Err(format!(
                "the fake imports to the same repository only: {image} → {target_tag}"
            ));
        }
        let pattern = format!("^{}$", tag.replace('.', "\\."));
        // One tag, without the referrers of what it holds; but a referrers fallback tag
        // (`sha256-<hex>`) is itself what `--no-referrers` leaves behind, so it is copied without.
        let fallback = tag
            .strip_prefix("sha256-")
            .is_some_and(|hex| hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()));
        let referrers: &[&str] = if fallback { &[] } else { &["--no-referrers"] };
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_acr-relocate"))
            .args(["copy", "-q"])
            .args(referrers)
            .args(["--repo", repo, "--tag"])
            .arg(&pattern)
            .arg(&source_url)
            .arg(&target)
            .stdin(std::process::Stdio::null())
            .output()
            .map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(format!(
                "import of {image} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    Ok(())
}

fn role_assignments(
    state: &mut ArmState,
    method: &str,
    scope: &str,
    name: &str,
    query: &str,
    body: &Value,
) -> Response {
    let scope = format!("/{}", scope.trim_start_matches('/'));
    let under = |assignment: &Value| {
        let s = assignment["properties"]["scope"]
            .as_str()
            .unwrap_or("")
            .to_ascii_lowercase();
        let target = scope.to_ascii_lowercase();
        target == s || target.starts_with(&format!("{s}/"))
    };
    match (method, name) {
        ("GET", "") => {
            if state.knobs.stale_role_list {
                return Response::json(200, &json!({"value": []}));
            }
            let form = crate::support::http::parse_form(query);
            let param = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
            let filter = param("$filter");
            let skip: usize = param("$skipToken")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            let principal = filter.as_deref().and_then(|f| {
                f.strip_prefix("principalId eq '")
                    .and_then(|rest| rest.split('\'').next())
                    .map(str::to_string)
            });
            let value: Vec<Value> = state
                .role_assignments
                .iter()
                .filter(|a| under(a))
                .filter(|a| match principal.as_deref() {
                    None => true,
                    Some(p) => a["properties"]["principalId"].as_str() == Some(p),
                })
                .cloned()
                .collect();
            let page = match state.knobs.role_page_size {
                0 => value.len(),
                n => n,
            };
            let rest = value.len().saturating_sub(skip);
            let mut answer =
                json!({"value": value.into_iter().skip(skip).take(page).collect::<Vec<_>>()});
            if rest > page {
                let filter: String = filter
                    .as_deref()
                    .unwrap_or("")
                    .bytes()
                    .map(|b| match b {
                        b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' => {
                            (b as char).to_string()
                        }
                        _ => format!("%{b:02X}"),
                    })
                    .collect();
                answer["nextLink"] = json!(format!(
                    "{}{scope}/providers/Microsoft.Authorization/roleAssignments?api-version=2022-04-01&$filter={filter}&$skipToken={}",
                    state.base,
                    skip + page
                ));
            }
            Response::json(200, &answer)
        }
        ("PUT", name) => {
            let props = &body["properties"];
            let role = props["roleDefinitionId"].as_str().unwrap_or("").to_string();
            let principal = props["principalId"].as_str().unwrap_or("").to_string();
            let role_guid = role.rsplit('/').next().unwrap_or("").to_ascii_lowercase();
            let same = |a: &Value| {
                a["properties"]["scope"]
                    .as_str()
                    .is_some_and(|s| s.eq_ignore_ascii_case(&scope))
                    && a["properties"]["principalId"].as_str() == Some(&principal)
                    && a["properties"]["roleDefinitionId"]
                        .as_str()
                        .is_some_and(|r| r.to_ascii_lowercase().ends_with(&role_guid))
            };
            if let Some(existing) = state.role_assignments.iter().find(|a| same(a)) {
                if existing["name"].as_str() != Some(name) {
                    // ARM names the assignment that exists, as 32 hex digits.
                    let id = existing["name"].as_str().unwrap_or("").replace('-', "");
                    return arm_error(
                        409,
                        "RoleAssignmentExists",
                        &format!(
                            "The role assignment already exists. The ID of the existing role assignment is {id}."
                        ),
                    );
                }
                return Response::json(200, existing);
            }
            let mut assignment = example(
                &format!("{AUTHORIZATION_EXAMPLES}/RoleAssignments_CreateForResource.json"),
                "201",
            );
            assignment["id"] = json!(format!(
                "{scope}/providers/Microsoft.Authorization/roleAssignments/{name}"
            ));
            assignment["name"] = json!(name);
            assignment["properties"] = json!({
                "roleDefinitionId": role,
                "principalId": principal,
                "principalType": props["principalType"].as_str().unwrap_or("ServicePrincipal"),
                "scope": scope,
                "createdOn": now(),
                "updatedOn": now(),
                "updatedBy": "6f9b6a66-4d4c-4b6f-9d3c-3e5e7a2b1c0d",
            });
            state.role_assignments.push(assignment.clone());
            Response::json(201, &assignment)
        }
        ("GET", name) => match state
            .role_assignments
            .iter()
            .find(|a| a["name"].as_str() == Some(name) && under(a))
        {
            Some(a) => Response::json(200, a),
            None => arm_error(
                404,
                "RoleAssignmentNotFound",
                "The role assignment does not exist.",
            ),
        },
        _ => not_found(&scope),
    }
}
