//! Self-tests of the harness, without the tool: a token from our AAD over TLS, then requests
//! through router → Prism → fake for each spec, and a request that breaks a spec being caught.

use std::io::{Read, Write};
use std::net::TcpStream;

use serde_json::{json, Value};

use super::aad::client_config;
use super::fake::{registry_id, ACR_PULL, RG, SUB};
use super::harness::AzureEnv;
use super::prism::Spec;
use super::router::{encode_scope, route};
use crate::support::http::{self, Reply};

/// `POST` a form to our AAD over TLS, trusting only the test CA.
fn token_request(env: &AzureEnv, secret: &str) -> (u16, Value) {
    let port: u16 = env
        .aad
        .authority()
        .rsplit(':')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let conn = rustls::ClientConnection::new(client_config(&env.tls.ca), name).unwrap();
    let tcp = TcpStream::connect(("127.0.0.1", port)).unwrap();
    tcp.set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    let body = format!(
        "client_id={}&client_secret={secret}&grant_type=client_credentials&scope=https%3A%2F%2Fmanagement.azure.com%2F.default",
        env.aad.client_id
    );
    write!(
        tls,
        "POST /{}/oauth2/v2.0/token HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
        env.aad.tenant,
        body.len()
    )
    .unwrap();
    tls.flush().unwrap();
    let mut answer = Vec::new();
    // The server closes after one answer; a missing close_notify is fine here.
    let _ = tls.read_to_end(&mut answer);
    let text = String::from_utf8_lossy(&answer);
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, serde_json::from_str(body).unwrap())
}

fn call(env: &AzureEnv, token: &str, method: &str, target: &str, body: Option<Value>) -> Reply {
    let port: u16 = env
        .router
        .url()
        .rsplit(':')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let mut headers = vec![("Authorization".to_string(), format!("Bearer {token}"))];
    let bytes = match &body {
        Some(b) => {
            headers.push(("Content-Type".into(), "application/json".into()));
            serde_json::to_vec(b).unwrap()
        }
        None => Vec::new(),
    };
    http::send(port, method, target, &headers, &bytes).unwrap()
}

/// Asserts the status of a reply, showing its body otherwise.
fn assert_status(reply: &Reply, status: u16) {
    assert_eq!(
        reply.status,
        status,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
}

#[test]
fn the_router_sends_each_path_to_its_spec() {
    let registry = registry_id(RG, "myRegistry");
    assert_eq!(route(&registry), Spec::ContainerRegistry);
    assert_eq!(
        route(&format!(
            "{registry}/providers/Microsoft.Authorization/roleAssignments"
        )),
        Spec::Authorization
    );
    assert_eq!(
        route(&format!(
            "/subscriptions/{SUB}/resourcegroups/rg/exportTemplate"
        )),
        Spec::Resources
    );
    assert_eq!(
        route(&format!(
            "/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.ContainerService/managedClusters/c"
        )),
        Spec::ContainerService
    );
    assert_eq!(
        encode_scope(&format!(
            "{registry}/providers/Microsoft.Authorization/roleAssignments/abc"
        )),
        format!(
            "/{}/providers/Microsoft.Authorization/roleAssignments/abc",
            registry.trim_start_matches('/').replace('/', "%2F")
        )
    );
    // A listing matches RoleAssignments_ListForResource as it is.
    let list = format!("{registry}/providers/Microsoft.Authorization/roleAssignments");
    assert_eq!(encode_scope(&list), list);
}

#[test]
#[ignore = "extra tier: needs Prism and ../shared/specs"]
fn harness_round_trips_through_prism_to_the_fake() {
    let env = AzureEnv::start();

    // AAD over TLS: a wrong secret is refused as Azure AD does, the right one gets a token.
    let (status, body) = token_request(&env, "wrong");
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"], "invalid_client");
    assert!(body["error_description"]
        .as_str()
        .unwrap()
        .starts_with("AADSTS7000215"));
    let (status, body) = token_request(&env, &env.aad.client_secret.clone());
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    let token = body["access_token"].as_str().unwrap().to_string();
    assert_eq!(env.aad.issued().len(), 1);

    let registry = env.fake.add_registry(RG, "myRegistry", |_| {});
    env.fake.add_example_children(&registry);
    let acr = "api-version=2023-07-01";
    let res = "api-version=2024-03-01";

    // ACR: the registry and a child list.
    let reply = call(&env, &token, "GET", &format!("{registry}?{acr}"), None);
    assert_status(&reply, 200);
    assert_eq!(reply.json()["id"], registry.as_str());
    let reply = call(
        &env,
        &token,
        "GET",
        &format!("{registry}/replications?{acr}"),
        None,
    );
    assert_status(&reply, 200);
    assert_eq!(reply.json()["value"][0]["name"], "myReplication");

    // Without a token of ours the fake refuses, in ARM's words.
    let reply = call(&env, "forged", "GET", &format!("{registry}?{acr}"), None);
    assert_eq!(reply.status, 401);

    // Resources: a resource group that does not exist, created, then found.
    let group = format!("/subscriptions/{SUB}/resourcegroups/target-rg");
    assert_eq!(
        call(&env, &token, "HEAD", &format!("{group}?{res}"), None).status,
        404
    );
    let reply = call(
        &env,
        &token,
        "PUT",
        &format!("{group}?{res}"),
        Some(json!({"location": "eastus"})),
    );
    assert_status(&reply, 201);
    assert_eq!(
        call(&env, &token, "HEAD", &format!("{group}?{res}"), None).status,
        204
    );

    // exportTemplate answers the template of the registry and its children.
    let reply = call(
        &env,
        &token,
        "POST",
        &format!("/subscriptions/{SUB}/resourcegroups/{RG}/exportTemplate?{res}"),
        Some(json!({"resources": [registry], "options": "IncludeParameterDefaultValue"})),
    );
    assert_status(&reply, 200);
    assert_eq!(
        reply.json()["template"]["resources"][0]["type"],
        "Microsoft.ContainerRegistry/registries"
    );

    // A deployment: 201 with Azure-AsyncOperation, polled to Succeeded.
    let deployment = format!("{group}/providers/Microsoft.Resources/deployments/d1");
    let reply = call(
        &env,
        &token,
        "PUT",
        &format!("{deployment}?{res}"),
        Some(json!({"properties": {"mode": "Incremental", "template": {}, "parameters": {}}})),
    );
    assert_status(&reply, 201);
    let operation = reply.header("azure-asyncoperation").unwrap().to_string();
    let path = operation.split_once(&env.router.url()).unwrap().1;
    let first = call(&env, &token, "GET", path, None);
    assert_eq!(first.json()["status"], "Running");
    let second = call(&env, &token, "GET", path, None);
    assert_eq!(second.json()["status"], "Succeeded");

    // AKS and role assignments (the scope sent with raw slashes, as ARM wants).
    let cluster = env
        .fake
        .add_cluster(RG, "myCluster", "11111111-2222-3333-4444-555555555555");
    let reply = call(
        &env,
        &token,
        "GET",
        &format!("{cluster}?api-version=2024-02-01"),
        None,
    );
    assert_status(&reply, 200);
    let auth_api = "api-version=2022-04-01";
    let body = json!({"properties": {
        "roleDefinitionId": format!("/subscriptions/{SUB}/providers/Microsoft.Authorization/roleDefinitions/{ACR_PULL}"),
        "principalId": "11111111-2222-3333-4444-555555555555",
        "principalType": "ServicePrincipal",
    }});
    let by_name = format!(
        "{registry}/providers/Microsoft.Authorization/roleAssignments/0b5fe924-9a61-425c-96af-cfe6e287ca2d?{auth_api}"
    );
    let reply = call(&env, &token, "PUT", &by_name, Some(body.clone()));
    assert_status(&reply, 201);
    let other = by_name.replace("0b5fe924", "1b5fe924");
    let reply = call(&env, &token, "PUT", &other, Some(body));
    assert_status(&reply, 409);
    assert_eq!(reply.json()["error"]["code"], "RoleAssignmentExists");
    let reply = call(
        &env,
        &token,
        "GET",
        &format!(
            "{registry}/providers/Microsoft.Authorization/roleAssignments?{auth_api}&$filter=principalId%20eq%20'11111111-2222-3333-4444-555555555555'"
        ),
        None,
    );
    assert_status(&reply, 200);
    assert_eq!(reply.json()["value"].as_array().unwrap().len(), 1);

    env.finish();

    // A request that breaks the spec is refused by Prism and logged.
    let reply = call(
        &env,
        &token,
        "POST",
        &format!("{registry}/importImage?{acr}"),
        Some(json!({"targetTags": "x", "mode": "Sometimes"})),
    );
    assert_status(&reply, 422);
    // Prism writes its log after answering: give it a moment (bounded).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while env.violations().is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(!env.violations().is_empty());
}
