//! `inventory`: what a source holds.

use crate::util::*;

#[test]
fn inventory_totals_match_what_was_written() {
    let (src, expected) = sample_registry(10);
    let out = run(&["inventory", "--json", &src.url()]);
    assert_success(&out);
    let inv = json(&out);
    assert_eq!(inv["schema_version"], 1);
    assert_eq!(inv["totals"]["repositories"], expected.tags.len() as u64);
    assert_eq!(inv["totals"]["tags"], expected.tag_count() as u64);
    // Every blob, the SBOM referrer's too: it is listed under its subject's fallback tag.
    assert_eq!(
        inv["totals"]["unique_blobs"].as_u64().unwrap() as usize,
        expected.blobs.len()
    );
    // ... and counted as a referrer of its subject's tags (Distribution has no referrers API).
    let subject = expected.referrers[0].1.as_str();
    let counted: Vec<u64> = inv["repositories"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r["tags"].as_array().unwrap().iter())
        .filter(|t| t["digest"] == subject)
        .map(|t| t["referrers"].as_u64().unwrap_or(0))
        .collect();
    assert!(
        !counted.is_empty() && counted.iter().all(|&c| c == 1),
        "{counted:?}"
    );
    let kinds: Vec<&str> = inv["repositories"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| {
            r["tags"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["kind"].as_str().unwrap())
        })
        .collect();
    for kind in ["image", "multi-arch-index", "helm-chart", "signature"] {
        assert!(kinds.contains(&kind), "{kind} in {kinds:?}");
    }
    let md = run(&["inventory", "--markdown", &src.url()]);
    assert_success(&md);
    assert!(stdout(&md).starts_with("# Inventory of"));
}

#[test]
fn inventory_of_a_layout_lists_untagged_manifests() {
    let (dir, expected) = sample_layout(5, 6);
    let inv = json(&run(&["inventory", "--json", &oci(dir.path())]));
    assert_eq!(
        inv["totals"]["untagged_manifests"],
        expected.referrers.len() as u64
    );
    let (repo, _, referrer) = &expected.referrers[0];
    let entry = inv["repositories"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == repo.as_str())
        .unwrap();
    assert_eq!(entry["untagged"], serde_json::json!([referrer.to_string()]));
}

/// Over a distant link (100 ms more per request) the inventory's requests at once grow past the
/// four per job it starts with, and `--max-jobs` equal to `--jobs` pins them; the totals are the
/// same either way.
#[test]
fn over_a_slow_link_inventory_requests_at_once_grow_unless_max_jobs_pins_them() {
    use crate::fault_proxy::{FaultProxy, Schedule};
    let (src, expected) = sample_registry(8);
    let proxy = FaultProxy::start(src.port, Schedule::distant());
    let inventory_over_the_link = |extra: &[&str]| {
        let url = proxy.url();
        let mut args = vec!["inventory", "--json", "-j", "1"];
        args.extend_from_slice(extra);
        args.push(url.as_str());
        let out = run(&args);
        assert_success(&out);
        let inv = json(&out);
        assert_eq!(inv["totals"]["tags"], expected.tag_count() as u64);
        inv["peak_requests"]
            .as_u64()
            .expect("peak_requests in the inventory")
    };
    assert_grows_unless_pinned(4, 16, &["--max-jobs", "1"], inventory_over_the_link);
}

/// Distribution configured with `catalog: maxentries` below the page size asked refuses the
/// listing (`400 PAGINATION_NUMBER_INVALID`): the registry's own page size is read instead, every
/// page through its `Link` headers.
#[test]
fn a_registry_with_smaller_catalog_pages_is_read_in_its_own_page_size() {
    let (dir, expected) = sample_layout(8, 3);
    let registry = Registry::start_configured("catalog:\n  maxentries: 3\n");
    assert_success(&run(&["copy", "-q", &oci(dir.path()), &registry.url()]));
    let out = run(&["inventory", "--json", &registry.url()]);
    assert_success(&out);
    let inventory = json(&out);
    assert_eq!(
        inventory["totals"]["repositories"].as_u64(),
        Some(expected.tags.len() as u64),
        "{inventory}"
    );
}

/// `--tag` is repeatable: a tag any expression matches is taken (as peers take a list of tags);
/// a digest given to it is said not to be a tag.
#[test]
fn tag_expressions_given_several_times_take_what_any_of_them_matches() {
    let (dir, expected) = sample_layout(2, 4);
    let source = oci(dir.path());
    let out = run(&[
        "inventory",
        "--json",
        "--tag",
        "v1.0.0",
        "--tag",
        "latest",
        &source,
    ]);
    assert_success(&out);
    let report = json(&out);
    let mut seen = std::collections::BTreeSet::new();
    for repo in report["repositories"].as_array().unwrap() {
        for tag in repo["tags"].as_array().unwrap() {
            seen.insert(tag["tag"].as_str().unwrap().to_string());
        }
    }
    let wanted: std::collections::BTreeSet<String> = expected
        .tags
        .values()
        .flat_map(|t| t.keys())
        .filter(|t| *t == "v1.0.0" || *t == "latest")
        .cloned()
        .collect();
    assert!(!wanted.is_empty());
    // Tags describing the selected ones by name (signatures) come along; nothing else.
    assert!(
        seen.iter()
            .all(|t| wanted.contains(t) || t.starts_with("sha256-")),
        "{seen:?}"
    );
    assert!(wanted.iter().all(|t| seen.contains(t)), "{seen:?}");

    let digest = expected
        .tags
        .values()
        .next()
        .unwrap()
        .values()
        .next()
        .unwrap();
    let out = run(&["inventory", "--tag", &digest.to_string(), &source]);
    assert_exit_code(&out, 4);
    assert!(
        stderr(&out).contains("--tag takes tags, not digests"),
        "{}",
        stderr(&out)
    );
}
