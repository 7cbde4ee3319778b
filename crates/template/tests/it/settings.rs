//! Settings of the source that the new registry cannot simply inherit: identities, policies,
//! network access, tasks.

use crate::util::*;
use acr_template::{rules, Severity};

/// An export of contosoold01 (eastus) with a system identity, quarantine, content trust, a
/// disabled export policy, no public access and a task, moved to westeurope.
fn settings() -> acr_template::Rewritten {
    rewrite("settings-export.json", &opts())
}

#[test]
fn a_system_assigned_identity_is_a_new_principal_without_the_sources_role_assignments() {
    let out = settings();
    let f = with_rule(&out, rules::SYSTEM_IDENTITY_RECREATED);
    let registry = f
        .iter()
        .find(|f| f.path == "/resources/0/identity")
        .unwrap();
    assert_eq!(registry.severity, Severity::Warning);
    // The source's principal id is in the export: the command lists its grants directly.
    assert!(
        registry.fix.contains(
            "az role assignment list --assignee aaaaaaaa-1111-2222-3333-444444444444 --all"
        ),
        "{}",
        registry.fix
    );
    assert!(registry.fix.contains(
        "[reference(resourceId('Microsoft.ContainerRegistry/registries', parameters('registries_newacr01_name')), '2023-07-01', 'Full').identity.principalId]"
    ));
    // The task's identity too; its principal id is not exported: the fix shows how to read it.
    let task = f
        .iter()
        .find(|f| f.path == "/resources/1/identity")
        .unwrap();
    assert!(task
        .message
        .starts_with("task nightly has a system-assigned identity"));
    assert!(
        task.fix.contains("$(az acr task show --registry contosoold01 --name nightly --query identity.principalId -o tsv)"),
        "{}",
        task.fix
    );
}

#[test]
fn a_task_is_recreated_with_its_encoded_content_pointing_at_the_new_login_server_and_no_other_registry(
) {
    let out = settings();
    let f = with_rule(&out, rules::TASK_RECREATED);
    assert_eq!(f.len(), 1, "{:#?}", out.findings);
    assert_eq!(f[0].severity, Severity::Warning);
    assert_eq!(f[0].path, "/resources/1");
    // Two login servers and the home region's data endpoint (eastus becomes westeurope); the
    // registry `prodcontosoold01` is someone else's and is not counted.
    assert!(
        f[0].message.contains("its base64 encodedTaskContent named contosoold01.azurecr.io (or a data endpoint of it) 3 time(s), now newacr01.azurecr.io"),
        "{}",
        f[0].message
    );
    assert!(f[0]
        .message
        .contains("source triggers need a repository token"));
    assert!(f[0].fix.contains("--git-access-token"), "{}", f[0].fix);
    // The content is written back, every other byte as it was.
    let v = json(&out.template);
    let encoded = v["resources"][1]["properties"]["step"]["encodedTaskContent"]
        .as_str()
        .unwrap();
    assert_eq!(
        String::from_utf8(decode(encoded)).unwrap(),
        "version: v1.1.0\nsteps:\n  - build: -t newacr01.azurecr.io/app:{{.Run.ID}} .\n  - cmd: prodcontosoold01.azurecr.io/tool:2 lint\n  - cmd: nslookup newacr01.westeurope.data.azurecr.io\n  - push: [newacr01.azurecr.io/app:{{.Run.ID}}]\n"
    );
}

#[test]
fn quarantine_content_trust_and_a_disabled_export_policy_each_say_what_they_break() {
    let out = settings();
    let q = with_rule(&out, rules::QUARANTINE_POLICY_ENABLED);
    assert_eq!(q.len(), 1);
    assert_eq!(
        q[0].path,
        "/resources/0/properties/policies/quarantinePolicy"
    );
    assert!(q[0].message.contains("held in quarantine") && q[0].fix.contains("after the copy"));
    let t = with_rule(&out, rules::TRUST_POLICY_ENABLED);
    assert_eq!(t.len(), 1);
    assert!(t[0].message.contains("Notary v1") && t[0].fix.contains("Notation"));
    let e = with_rule(&out, rules::EXPORT_POLICY_DISABLED);
    assert_eq!(e.len(), 1);
    assert!(e[0].message.contains("copy --mode import fails"));
    assert!(e[0].fix.contains("client mode"));
    for f in [q[0], t[0], e[0]] {
        assert_eq!(f.severity, Severity::Warning);
    }
}

/// Docker Content Trust cannot be enabled on a new registry since 2026-05-31: the output has it
/// disabled, with the rest of the registry as it was, and the fix points to Notation, never to
/// `docker trust sign`.
#[test]
fn content_trust_is_written_disabled_and_the_fix_is_notation() {
    let out = settings();
    let t = with_rule(&out, rules::TRUST_POLICY_ENABLED);
    assert_eq!(t.len(), 1, "{:#?}", out.findings);
    assert_eq!(t[0].severity, Severity::Warning);
    assert_eq!(t[0].path, "/resources/0/properties/policies/trustPolicy");
    for words in [
        "deprecated",
        "2026-05-31",
        "cannot be enabled",
        "now disabled",
    ] {
        assert!(t[0].message.contains(words), "{words}: {}", t[0].message);
    }
    for words in [
        "Notation",
        "OCI artifacts",
        "signed again with Notation",
        "aka.ms/acr/dctdeprecation",
    ] {
        assert!(t[0].fix.contains(words), "{words}: {}", t[0].fix);
    }
    assert!(!t[0].fix.contains("docker trust"), "{}", t[0].fix);
    // Only the status changed: the policies are the source's otherwise.
    let v = json(&out.template);
    let src = json(&fixture("settings-export.json"));
    let mut expected = src["resources"][0]["properties"].clone();
    expected["policies"]["trustPolicy"]["status"] = "disabled".into();
    assert_eq!(v["resources"][0]["properties"], expected);
    assert!(out
        .template
        .contains(r#""trustPolicy": { "type": "Notary", "status": "disabled" },"#));
    // A status given by a parameter (default enabled) is replaced by the literal, whatever the
    // deployment would pass; the message names what it read.
    let template = r#"{"$schema":"https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#","contentVersion":"1.0.0.0",
        "parameters":{"trust":{"type":"string","defaultValue":"enabled"}},"resources":[
        {"type":"Microsoft.ContainerRegistry/registries","apiVersion":"2023-07-01","name":"contosoold01","location":"eastus","sku":{"name":"Premium"},
         "properties":{"policies":{"trustPolicy":{"type":"Notary","status":"[parameters('trust')]"}}}}]}"#;
    let out = acr_template::rewrite_template(
        &acr_template::TemplateInput::new("t.json", template),
        &opts(),
    )
    .unwrap();
    let t = with_rule(&out, rules::TRUST_POLICY_ENABLED);
    assert_eq!(t.len(), 1, "{:#?}", out.findings);
    assert!(
        t[0].message.contains("[parameters('trust')]"),
        "{}",
        t[0].message
    );
    let v = json(&out.template);
    assert_eq!(
        v["resources"][0]["properties"]["policies"]["trustPolicy"],
        serde_json::json!({"type": "Notary", "status": "disabled"})
    );
    // Disabled already: nothing said, nothing changed.
    let disabled = template.replace("\"enabled\"", "\"disabled\"");
    let out = acr_template::rewrite_template(
        &acr_template::TemplateInput::new("t.json", disabled.as_str()),
        &opts(),
    )
    .unwrap();
    assert!(with_rule(&out, rules::TRUST_POLICY_ENABLED).is_empty());
    assert!(out
        .template
        .contains("\"status\":\"[parameters('trust')]\""));
}

#[test]
fn disabled_public_access_without_a_private_endpoint_leaves_the_new_registry_unreachable() {
    let out = settings();
    let f = with_rule(&out, rules::PUBLIC_ACCESS_NO_PRIVATE_ENDPOINT);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].severity, Severity::Warning);
    assert_eq!(f[0].path, "/resources/0/properties/publicNetworkAccess");
    assert!(f[0].message.contains("unreachable on the data plane"));
    assert!(f[0].fix.contains("newacr01.azurecr.io") && f[0].fix.contains("westeurope subnet"));
    // A private endpoint in the template for the registry: nothing to add.
    let out = rewrite("private-endpoint-resource.json", &opts());
    assert!(with_rule(&out, rules::PUBLIC_ACCESS_NO_PRIVATE_ENDPOINT).is_empty());
}

/// Standard base64, for the assertions.
fn decode(s: &str) -> Vec<u8> {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let (mut out, mut acc, mut bits) = (Vec::new(), 0u32, 0);
    for c in s.bytes().filter(|&c| c != b'=') {
        acc = (acc << 6) | A.iter().position(|&a| a == c).unwrap() as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

/// The A records of the old registry's private endpoint in its `privatelink.azurecr.io` zone
/// (its login name and a regional data endpoint, one written as the zone's child): deployed
/// again they would keep the old endpoint's addresses. Each is named with what to do; a record
/// of another name, or in another zone, is not.
#[test]
fn the_old_registrys_private_dns_records_are_named_for_removal() {
    let template = r#"{"$schema":"https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#","contentVersion":"1.0.0.0","resources":[
        {"type":"Microsoft.ContainerRegistry/registries","apiVersion":"2023-07-01","name":"contosoold01","location":"eastus","sku":{"name":"Premium"},"properties":{}},
        {"type":"Microsoft.Network/privateDnsZones/A","apiVersion":"2020-06-01","name":"privatelink.azurecr.io/contosoold01","properties":{"ttl":10,"aRecords":[{"ipv4Address":"10.0.0.5"}]}},
        {"type":"Microsoft.Network/privateDnsZones","apiVersion":"2020-06-01","name":"privatelink.azurecr.io","location":"global","resources":[
            {"type":"A","apiVersion":"2020-06-01","name":"contosoold01.eastus.data","properties":{"ttl":10,"aRecords":[{"ipv4Address":"10.0.0.6"}]}}
        ]},
        {"type":"Microsoft.Network/privateDnsZones/A","apiVersion":"2020-06-01","name":"privatelink.azurecr.io/gateway","properties":{"ttl":10,"aRecords":[{"ipv4Address":"10.0.0.7"}]}},
        {"type":"Microsoft.Network/privateDnsZones/A","apiVersion":"2020-06-01","name":"privatelink.vaultcore.azure.net/contosoold01","properties":{"ttl":10,"aRecords":[{"ipv4Address":"10.0.0.8"}]}}
    ]}"#;
    let out = acr_template::rewrite_template(
        &acr_template::TemplateInput::new("dns.json", template),
        &opts(),
    )
    .unwrap();
    let f = with_rule(&out, rules::OLD_PRIVATE_DNS_RECORD);
    let paths: Vec<&str> = f.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(
        paths,
        ["/resources/1/name", "/resources/2/resources/0/name"],
        "{:#?}",
        out.findings
    );
    assert!(f.iter().all(|f| f.severity == Severity::Warning));
    assert!(f[1].message.contains("`contosoold01.eastus.data`"));
    assert!(f[0].fix.contains("newacr01 and newacr01.<region>.data"));
}
