//! `azure export` and `azure deploy` against the Resources and ACR specs.

use serde_json::{json, Value};

use super::fake::{RG, SUB};
use super::harness::{assert_error_line, show, AzureEnv};

/// The deployment name of these tests.
const DEPLOYMENT: &str = "relocate-acr";

/// Lower-cased strings of a JSON array.
fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_ascii_lowercase))
        .collect()
}

#[test]
#[ignore = "extra tier: needs Prism and ../shared/specs"]
fn export_writes_a_template_that_template_accepts_also_after_a_202() {
    let env = AzureEnv::start();
    // Premium: the example replication needs it (the RegistryGet example is Standard).
    let registry = env.fake.add_registry(RG, "myRegistry", |r| {
        r["sku"] = json!({"name": "Premium", "tier": "Premium"});
    });
    let children = env.fake.add_example_children(&registry);
    assert_eq!(children.len(), 4);

    let mut files = Vec::new();
    for (asynchronous, name) in [(false, "export.json"), (true, "export-202.json")] {
        env.fake.knobs(|k| {
            k.export_async = asynchronous;
            k.running_polls = 2;
        });
        let before = env.fake.requests().len();
        let out_file = env.path(name);
        let out = env.run(&[
            "azure",
            "export",
            &registry,
            "-o",
            out_file.to_str().unwrap(),
        ]);
        assert_eq!(out.status.code(), Some(0), "{}", show(&out));
        let requests = env.fake.requests().split_off(before);

        // The registry and each child list read with the ACR api-version, then one export of
        // the registry and all its children.
        for suffix in ["", "/replications", "/webhooks", "/scopeMaps", "/tokens"] {
            let path = format!("{registry}{suffix}").to_ascii_lowercase();
            assert!(
                requests.iter().any(|r| r.method == "GET"
                    && r.path.to_ascii_lowercase() == path
                    && r.param("api-version").as_deref() == Some("2023-07-01")),
                "no GET {path}: {requests:#?}"
            );
        }
        let exports: Vec<_> = requests
            .iter()
            .filter(|r| r.method == "POST" && r.path.ends_with("/exportTemplate"))
            .collect();
        assert_eq!(exports.len(), 1, "{requests:#?}");
        let export = exports[0];
        assert_eq!(
            export.path,
            format!("/subscriptions/{SUB}/resourcegroups/{RG}/exportTemplate")
        );
        assert_eq!(export.param("api-version").as_deref(), Some("2024-03-01"));
        let listed = strings(&export.body["resources"]);
        for id in std::iter::once(&registry).chain(&children) {
            assert!(
                listed.contains(&id.to_ascii_lowercase()),
                "{id} not exported: {listed:?}"
            );
        }
        assert!(
            export.body["options"]
                .as_str()
                .unwrap_or("")
                .contains("IncludeParameterDefaultValue"),
            "{}",
            export.body
        );
        let polls = requests.iter().filter(|r| r.is_poll()).count();
        if asynchronous {
            assert_eq!(polls, 3, "two 202s then the 200: {requests:#?}");
        } else {
            assert_eq!(polls, 0);
        }

        // What was written goes through `acr-relocate template`.
        let text = std::fs::read_to_string(&out_file).unwrap();
        let written: Value = serde_json::from_str(&text).unwrap();
        let rewritten = env.path(&format!("rewritten-{name}"));
        let out = env.run_with(
            &[
                "template",
                out_file.to_str().unwrap(),
                "--name",
                "myRegistryCopy",
                "--location",
                "westeurope",
                "-o",
                rewritten.to_str().unwrap(),
            ],
            &[],
        );
        // exportTemplate never carries a webhook's serviceUri (it may hold a secret): the
        // export reads it with getCallbackConfig into a secure parameter, so nothing blocks.
        assert_eq!(out.status.code(), Some(0), "{}", show(&out));
        let said = String::from_utf8_lossy(&out.stderr);
        assert!(!said.contains("webhook-service-uri"), "{}", show(&out));
        let rewritten: Value =
            serde_json::from_str(&std::fs::read_to_string(&rewritten).unwrap()).unwrap();
        let types: Vec<String> = rewritten["resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["type"].as_str().unwrap().to_string())
            .collect();
        for kind in [
            "registries",
            "registries/replications",
            "registries/webhooks",
        ] {
            assert!(
                types.contains(&format!("Microsoft.ContainerRegistry/{kind}")),
                "{kind} missing from {types:?}"
            );
        }
        files.push(written);
    }
    assert_eq!(files[0], files[1], "the 202 path writes the same template");
    for issued in env.aad.issued() {
        assert_eq!(issued.scope, "https://management.azure.com/.default");
    }
    env.finish();
}

/// A small template in the shape `acr-relocate template` writes.
fn write_template(env: &AzureEnv) -> (std::path::PathBuf, std::path::PathBuf, Value) {
    let template = json!({
        "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
        "contentVersion": "1.0.0.0",
        "parameters": {
            "registryName": {"type": "string", "defaultValue": "relocated01"},
            "location": {"type": "string", "defaultValue": "eastus"}
        },
        "resources": [{
            "type": "Microsoft.ContainerRegistry/registries",
            "apiVersion": "2023-07-01",
            "name": "[parameters('registryName')]",
            "location": "[parameters('location')]",
            "sku": {"name": "Premium"},
            "properties": {"adminUserEnabled": false, "publicNetworkAccess": "Enabled", "zoneRedundancy": "Disabled"}
        }]
    });
    let parameters = json!({
        "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentParameters.json#",
        "contentVersion": "1.0.0.0",
        "parameters": {"registryName": {"value": "relocated01"}}
    });
    let t = env.path("template.json");
    let p = env.path("template.parameters.json");
    std::fs::write(&t, serde_json::to_vec_pretty(&template).unwrap()).unwrap();
    std::fs::write(&p, serde_json::to_vec_pretty(&parameters).unwrap()).unwrap();
    (t, p, template)
}

fn deploy(env: &AzureEnv, rg: &str, name: &str, with_parameters: bool) -> std::process::Output {
    let (template, parameters, _) = write_template(env);
    let mut args = vec![
        "azure",
        "deploy",
        template.to_str().unwrap(),
        "--resource-group",
        rg,
        "--location",
        "eastus",
        "--subscription",
        SUB,
        "--name",
        name,
    ];
    if with_parameters {
        args.extend(["--parameters", parameters.to_str().unwrap()]);
    }
    env.run(&args)
}

#[test]
#[ignore = "extra tier: needs Prism and ../shared/specs"]
fn deploy_creates_the_group_validates_deploys_and_waits_for_the_operation() {
    let env = AzureEnv::start();
    env.fake.knobs(|k| k.running_polls = 2);
    let out = deploy(&env, "target-rg", DEPLOYMENT, true);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let (_, _, template) = write_template(&env);

    let requests = env.fake.requests();
    let group = format!("/subscriptions/{SUB}/resourcegroups/target-rg");
    let deployment = format!("{group}/providers/Microsoft.Resources/deployments/{DEPLOYMENT}");
    let position = |method: &str, path: &str| {
        requests
            .iter()
            .position(|r| r.method == method && r.path == path)
            .unwrap_or_else(|| panic!("no {method} {path}: {requests:#?}"))
    };
    let head = position("HEAD", &group);
    let create = position("PUT", &group);
    let validate = position("POST", &format!("{deployment}/validate"));
    let put = position("PUT", &deployment);
    assert!(
        head < create && create < validate && validate < put,
        "{requests:#?}"
    );
    assert_eq!(requests[create].body, json!({"location": "eastus"}));
    for i in [head, create, validate, put] {
        assert_eq!(
            requests[i].param("api-version").as_deref(),
            Some("2024-03-01")
        );
    }
    for i in [validate, put] {
        let body = &requests[i].body["properties"];
        assert_eq!(body["mode"], "Incremental", "{}", requests[i].body);
        assert_eq!(body["template"], template);
        assert_eq!(
            body["parameters"],
            json!({"registryName": {"value": "relocated01"}})
        );
    }
    // Running twice, then Succeeded; then the deployment itself is read.
    let polls = requests[put..].iter().filter(|r| r.is_poll()).count();
    assert_eq!(polls, 3, "{requests:#?}");
    assert!(requests[put..]
        .iter()
        .any(|r| r.method == "GET" && r.path == deployment));
    assert!(env
        .fake
        .with(|s| s.resource_groups.contains_key(&format!("{SUB}/target-rg"))));

    // A second deployment into the existing group does not create it again.
    let out = deploy(&env, "target-rg", "second", false);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(env.fake.find("PUT", &group).len(), 1);
    env.finish();
}

#[test]
#[ignore = "extra tier: needs Prism and ../shared/specs"]
fn deploy_errors_are_one_line_with_arms_code_and_message() {
    let env = AzureEnv::start();
    env.fake.add_resource_group("target-rg", "eastus");
    let deployments = format!(
        "/subscriptions/{SUB}/resourcegroups/target-rg/providers/Microsoft.Resources/deployments"
    );

    // Validation refuses the template: 400 InvalidTemplate, nothing deployed.
    let message = "Deployment template validation failed: 'The template resource 'relocated01' at line '1' and column '210' is not valid: The resource type 'Microsoft.ContainerRegistry/registries' requires a sku.'";
    env.fake
        .knobs(|k| k.validate_error = Some(("InvalidTemplate".into(), message.into())));
    let out = deploy(&env, "target-rg", "invalid", false);
    assert_error_line(&out, &["InvalidTemplate", message]);
    assert!(env
        .fake
        .find("PUT", &format!("{deployments}/invalid"))
        .is_empty());

    // The deployment's operation on the registry fails: the name is taken.
    let taken = "The registry DNS name relocated01.azurecr.io is already in use. You can check if the name is already claimed using following API: https://docs.microsoft.com/en-us/rest/api/containerregistry/registries/checknameavailability";
    env.fake.knobs(|k| {
        k.validate_error = None;
        k.deployment_error = Some(("AlreadyInUse".into(), taken.into()));
    });
    let out = deploy(&env, "target-rg", "taken", false);
    assert_error_line(&out, &["AlreadyInUse", taken]);
    assert_eq!(
        env.fake.find("PUT", &format!("{deployments}/taken")).len(),
        1
    );
    let listed = env.fake.find(
        "GET",
        &format!("/subscriptions/{SUB}/resourcegroups/target-rg/deployments/taken/operations"),
    );
    assert_eq!(listed.len(), 1, "the deployment operations are listed once");

    // Missing permissions: 403 AuthorizationFailed.
    env.fake.knobs(|k| {
        k.deployment_error = None;
        k.forbidden = true;
    });
    let out = deploy(&env, "target-rg", "forbidden", false);
    assert_error_line(
        &out,
        &[
            "AuthorizationFailed",
            "does not have authorization to perform action 'Microsoft.Resources/deployments/",
        ],
    );
    assert!(env
        .fake
        .find("PUT", &format!("{deployments}/forbidden"))
        .is_empty());
    env.finish();
}

/// The webhook callback `azure export` puts in the template as secure parameter defaults (a
/// Functions key in the URI, a bearer token in the headers) never reaches ARM inside a template,
/// which ARM keeps in the deployment history: `deploy` removes the defaults from the template it
/// sends to validate and deploy, and gives them as deployment parameters (whose secure values ARM
/// does not return); a value of the parameters file wins. The files are left as they were.
#[test]
#[ignore = "extra tier: needs Prism and ../shared/specs"]
fn deploy_sends_secure_parameter_defaults_as_parameters_never_in_the_template() {
    const SECRET_URI: &str = "https://func.example/api/hook?code=SUPERSECRETFUNCTIONKEY";
    const SECRET_HEADER: &str = "Bearer H3aderT0kenFromExport";
    const GIVEN_HEADER: &str = "Bearer Fr0mTheParametersFile";
    let env = AzureEnv::start();
    let registry = env.fake.add_registry(RG, "myRegistry", |r| {
        r["sku"] = json!({"name": "Premium", "tier": "Premium"});
    });
    env.fake.add_example_children(&registry);
    env.fake.with(|s| {
        let webhook = s.children[&(registry.to_ascii_lowercase(), "webhooks".to_string())][0]["id"]
            .as_str()
            .unwrap()
            .to_ascii_lowercase();
        s.callbacks.insert(
            webhook,
            json!({"serviceUri": SECRET_URI, "customHeaders": {"Authorization": SECRET_HEADER}}),
        );
    });
    let exported = env.path("exported.json");
    let out = env.run(&[
        "azure",
        "export",
        &registry,
        "-o",
        exported.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let target = env.path("target.json");
    let out = env.run_with(
        &[
            "template",
            exported.to_str().unwrap(),
            "--name",
            "relocated01",
            "--location",
            "eastus",
            "-o",
            target.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let written = std::fs::read(&target).unwrap();
    let template: Value = serde_json::from_slice(&written).unwrap();
    let secure: Vec<(String, String)> = template["parameters"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, p)| {
            p["type"]
                .as_str()
                .is_some_and(|t| t.to_ascii_lowercase().starts_with("secure"))
        })
        .map(|(name, p)| (name.clone(), p["type"].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(secure.len(), 2, "{template:#}");
    let headers = secure
        .iter()
        .find(|(_, t)| t.eq_ignore_ascii_case("secureObject"))
        .map(|(n, _)| n.clone())
        .unwrap();
    let uri = secure
        .iter()
        .find(|(_, t)| t.eq_ignore_ascii_case("secureString"))
        .map(|(n, _)| n.clone())
        .unwrap();
    let parameters = env.path("target.parameters.json");
    std::fs::write(
        &parameters,
        serde_json::to_vec_pretty(&json!({
            "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentParameters.json#",
            "contentVersion": "1.0.0.0",
            "parameters": {(headers.clone()): {"value": {"Authorization": GIVEN_HEADER}}}
        }))
        .unwrap(),
    )
    .unwrap();
    let given_parameters = std::fs::read(&parameters).unwrap();

    let out = env.run(&[
        "azure",
        "deploy",
        target.to_str().unwrap(),
        "--parameters",
        parameters.to_str().unwrap(),
        "--resource-group",
        "target-rg",
        "--location",
        "eastus",
        "--subscription",
        SUB,
        "--name",
        DEPLOYMENT,
        "-v",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let shown = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    for secret in [
        "SUPERSECRETFUNCTIONKEY",
        "H3aderT0kenFromExport",
        "Fr0mTheParametersFile",
    ] {
        assert!(!shown.contains(secret), "{secret} shown: {shown}");
    }
    let sent: Vec<_> = env
        .fake
        .requests()
        .into_iter()
        .filter(|r| {
            matches!(r.method.as_str(), "POST" | "PUT")
                && r.path.contains(&format!("/deployments/{DEPLOYMENT}"))
        })
        .collect();
    assert_eq!(sent.len(), 2, "validate and deploy: {sent:#?}");
    for request in &sent {
        let properties = &request.body["properties"];
        let text = properties["template"].to_string();
        for secret in [
            "SUPERSECRETFUNCTIONKEY",
            "H3aderT0ken",
            "Fr0mTheParametersFile",
        ] {
            assert!(
                !text.contains(secret),
                "{secret} in the template sent: {text}"
            );
        }
        assert!(properties["template"]["parameters"][&uri]
            .get("defaultValue")
            .is_none());
        assert_eq!(
            properties["template"]["parameters"][&uri]["type"],
            template["parameters"][&uri]["type"]
        );
        assert_eq!(properties["parameters"][&uri]["value"], SECRET_URI);
        assert_eq!(
            properties["parameters"][&headers]["value"],
            json!({"Authorization": GIVEN_HEADER})
        );
    }
    // The files on disk are not changed.
    assert_eq!(std::fs::read(&target).unwrap(), written);
    assert_eq!(std::fs::read(&parameters).unwrap(), given_parameters);
    assert_eq!(
        template["parameters"][&uri]["defaultValue"], SECRET_URI,
        "the template file keeps its default"
    );
    env.finish();
}
