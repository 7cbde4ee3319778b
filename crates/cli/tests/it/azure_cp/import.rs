//! `copy --mode import`: the target pulls each missing tag through ARM's importImage. Source and
//! target data planes are real registries; the fake performs each import between them, so a
//! second run sees what the first imported.

use std::collections::BTreeMap;
use std::process::Output;

use acr_relocate::digest::Digest;
use serde_json::json;

use super::fake::{registry_id, Recorded};
use super::harness::{show, AzureEnv};
use crate::util::{
    assert_holds, assert_success, block_on, oci, open, run, sample_layout, Registry,
};

const REPO: &str = "team/app/svc-0";

/// A source registry holding [`REPO`] of the sample content made with `seed`, and an empty
/// target; returns them with the tags of [`REPO`].
fn source_with_repo_and_empty_target(seed: u64) -> (Registry, Registry, BTreeMap<String, Digest>) {
    let (layout, expected) = sample_layout(1, seed);
    let (src, dst) = (Registry::start(), Registry::start());
    // Tags only: a referrer would add its fallback tag (`sha256-…`) to the source's tags.
    assert_success(&run(&[
        "copy",
        "-q",
        "--tagged-only",
        "--no-referrers",
        "--repo",
        REPO,
        &oci(layout.path()),
        &src.url(),
    ]));
    (src, dst, expected.tags[REPO].clone())
}

/// Registers the target registry (`targetGroup/targetRegistry`) with the fake, and the data
/// planes of `dst` under its ID and of `src` under its host name (no source resource ID); returns
/// the target's ID and the source's host.
fn target_by_id_and_source_by_host(
    env: &AzureEnv,
    src: &Registry,
    dst: &Registry,
) -> (String, String) {
    let target_id = env
        .fake
        .add_registry("targetGroup", "targetRegistry", |_| {});
    let host = src.url().trim_start_matches("http://").to_string();
    env.fake.data_plane(&host, &src.url());
    env.fake.data_plane(&target_id, &dst.url());
    (target_id, host)
}

/// `copy --mode import` of [`REPO`] from `src` to the target `target_id`, with `extra` arguments
/// (`--source-id`, `--force`; without `--source-id` the source is named by its host).
fn import(
    env: &AzureEnv,
    src: &Registry,
    dst: &Registry,
    target_id: &str,
    extra: &[&str],
) -> Output {
    let (src, dst) = (src.url(), dst.url());
    let mut args = vec![
        "copy",
        &src,
        &dst,
        "--mode",
        "import",
        "--target-id",
        target_id,
        "--repo",
        REPO,
    ];
    args.extend_from_slice(extra);
    env.run(&args)
}

/// Asserts that `dst` holds `tags` under [`REPO`], digests kept.
fn assert_target_holds(dst: &Registry, tags: BTreeMap<String, Digest>) {
    let mut wanted = BTreeMap::new();
    wanted.insert(REPO.to_string(), tags);
    assert_holds(&open(&dst.url()), &wanted, None);
}

fn imports(requests: &[Recorded]) -> Vec<Recorded> {
    requests
        .iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/importImage"))
        .cloned()
        .collect()
}

#[test]
#[ignore = "extra tier: needs Prism and ../shared/specs"]
fn import_mode_imports_missing_tags_skips_equal_ones_and_stops_at_conflicts() {
    // Source: one image repository of the sample; target: one of its tags already (same digest)
    // and `latest` pointing at another image.
    let (src, dst, tags) = source_with_repo_and_empty_target(7);
    let (other, _) = sample_layout(1, 8);
    let only = |tag: &str, from: &str| {
        assert_success(&run(&[
            "copy",
            "-q",
            "--no-referrers",
            "--repo",
            REPO,
            "--tag",
            tag,
            from,
            &dst.url(),
        ]));
    };
    only("^v1\\.0\\.0$", &src.url());
    only("^latest$", &oci(other.path()));
    let missing: Vec<String> = tags
        .keys()
        .filter(|t| *t != "v1.0.0" && *t != "latest")
        .map(|t| format!("{REPO}:{t}"))
        .collect();
    assert!(!missing.is_empty());

    let env = AzureEnv::start();
    let (source_id, target_id) = env.fake.add_relocation(&src.url(), &dst.url(), |_| {});
    assert_eq!(target_id, registry_id("targetGroup", "targetRegistry"));
    env.fake.knobs(|k| k.running_polls = 1);

    // First run: the missing tags are imported (NoForce), v1.0.0 is skipped, latest is reported.
    let by_id = ["--source-id", source_id.as_str()];
    let out = import(&env, &src, &dst, &target_id, &by_id);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("latest"),
        "the conflict is named: {}",
        show(&out)
    );
    let requests = env.fake.requests();
    let first = imports(&requests);
    let mut imported: Vec<String> = first
        .iter()
        .map(|r| r.body["targetTags"][0].as_str().unwrap().to_string())
        .collect();
    imported.sort();
    assert_eq!(imported, missing, "{first:#?}");
    for r in &first {
        assert_eq!(
            r.body["targetTags"].as_array().unwrap().len(),
            1,
            "{}",
            r.body
        );
        assert_eq!(
            r.path.to_ascii_lowercase(),
            format!("{target_id}/importImage").to_ascii_lowercase()
        );
        assert_eq!(r.param("api-version").as_deref(), Some("2023-07-01"));
        assert_eq!(r.body["mode"], "NoForce", "{}", r.body);
        assert_eq!(r.body["source"]["resourceId"], source_id.as_str());
    }
    let polls = requests.iter().filter(|r| r.is_poll()).count();
    assert_eq!(polls, 2 * first.len(), "each import polled to its end");

    // With --force: only `latest` is imported, with mode Force; the others are there now.
    let before = env.fake.requests().len();
    let forced = [by_id[0], by_id[1], "--force"];
    let out = import(&env, &src, &dst, &target_id, &forced);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let second = imports(&env.fake.requests()[before..]);
    assert_eq!(second.len(), 1, "{second:#?}");
    assert_eq!(
        second[0].body["targetTags"],
        json!([format!("{REPO}:latest")])
    );
    assert_eq!(second[0].body["mode"], "Force");

    // The target now holds every tag of the source, digests kept.
    assert_target_holds(&dst, tags);

    // A third run has nothing to do.
    let before = env.fake.requests().len();
    let out = import(&env, &src, &dst, &target_id, &by_id);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(imports(&env.fake.requests()[before..]).is_empty());
    env.finish();

    // Each tag is imported pinned to the digest the source tag had when listed
    // (`"sourceImage": "repo@sha256:..."`, the spec's ImportImageByManifestDigest shape), so a tag
    // moved in the source meanwhile cannot slip a different image in; the target tag is the
    // source's.
    for r in imports(&env.fake.requests()) {
        let image = r.body["source"]["sourceImage"].as_str().unwrap();
        let target = r.body["targetTags"][0].as_str().unwrap();
        let (repo, digest) = image.split_once('@').expect("sourceImage by digest");
        assert!(digest.starts_with("sha256:"), "{}", r.body);
        assert_eq!(
            Some(repo),
            target.split_once(':').map(|(r, _)| r),
            "{}",
            r.body
        );
    }
}

#[test]
#[ignore = "extra tier: needs Prism and ../shared/specs"]
fn import_mode_without_a_source_id_names_the_source_by_host() {
    let (src, dst, tags) = source_with_repo_and_empty_target(7);
    let env = AzureEnv::start();
    let (target_id, host) = target_by_id_and_source_by_host(&env, &src, &dst);
    env.fake.knobs(|k| k.import_async = false);
    let out = import(&env, &src, &dst, &target_id, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let done = imports(&env.fake.requests());
    assert_eq!(done.len(), tags.len(), "{done:#?}");
    for r in &done {
        assert_eq!(r.body["source"]["registryUri"], host.as_str(), "{}", r.body);
        assert!(r.body["source"].get("resourceId").is_none(), "{}", r.body);
        assert_eq!(r.body["mode"], "NoForce");
    }
    assert_target_holds(&dst, tags);
    env.finish();
}

#[test]
#[ignore = "extra tier: needs Prism and ../shared/specs"]
fn an_import_reported_failed_but_present_in_the_target_counts_as_imported() {
    // ARM answers 409 "tag exists" to every import after performing it, as a re-sent NoForce
    // import does when the first attempt's answer was lost: the target holds the planned digest,
    // so the copy succeeds.
    let (src, dst, tags) = source_with_repo_and_empty_target(9);
    let env = AzureEnv::start();
    let (target_id, _) = target_by_id_and_source_by_host(&env, &src, &dst);
    env.fake.knobs(|k| {
        k.import_async = false;
        k.import_then_conflict = true;
    });
    let out = import(&env, &src, &dst, &target_id, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("0 failed"), "{stderr}");
    assert_target_holds(&dst, tags);
    env.finish();
}

#[test]
#[ignore = "extra tier: needs Prism and ../shared/specs"]
fn import_mode_filters_that_select_nothing_exit_4_and_one_of_several_is_named() {
    let (src, dst, tags) = source_with_repo_and_empty_target(9);
    let env = AzureEnv::start();
    let (target_id, _) = target_by_id_and_source_by_host(&env, &src, &dst);
    env.fake.knobs(|k| k.import_async = false);
    // A misspelt tag expression: nothing imported, and not called a success.
    let out = import(&env, &src, &dst, &target_id, &["--tag", "lastest"]);
    assert_eq!(out.status.code(), Some(4), "{}", show(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--repo 'team/app/svc-0' with --tag 'lastest' selected nothing in SOURCE"),
        "{err}"
    );
    assert!(imports(&env.fake.requests()).is_empty());
    // Beside a tag expression that matches, the misspelt one is named and the rest imported.
    let out = import(
        &env,
        &src,
        &dst,
        &target_id,
        &["--tag", ".*", "--tag", "lastest"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("copy: warning: --tag 'lastest' matched nothing in SOURCE"),
        "{err}"
    );
    assert_target_holds(&dst, tags);
    env.finish();
}

#[test]
#[ignore = "extra tier: needs Prism and ../shared/specs"]
fn import_mode_from_a_registry_whose_exports_are_disabled_is_refused_before_any_import() {
    let (src, dst, _) = source_with_repo_and_empty_target(11);
    let env = AzureEnv::start();
    let source_id = env.fake.add_registry("sourceGroup", "sourceRegistry", |r| {
        r["properties"]["policies"]["exportPolicy"] = json!({"status": "disabled"});
    });
    let target_id = env
        .fake
        .add_registry("targetGroup", "targetRegistry", |_| {});
    env.fake.data_plane(&source_id, &src.url());
    env.fake.data_plane(&target_id, &dst.url());
    let out = import(&env, &src, &dst, &target_id, &["--source-id", &source_id]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(
        err.contains("whose export policy is disabled: nothing can be imported out of it"),
        "{err}"
    );
    assert!(imports(&env.fake.requests()).is_empty());
    env.finish();
}

/// `copy --mode import` of [`REPO`]'s tag `v1.0.0` only, at `-v`, with ARM's polling interval
/// set to 1 s (`ACR_RELOCATE_ARM_POLL_SECONDS`).
fn import_v1(env: &AzureEnv, src: &Registry, dst: &Registry, target_id: &str) -> Output {
    let (src, dst, endpoint) = (src.url(), dst.url(), env.router.url());
    env.run_with(
        &[
            "copy",
            &src,
            &dst,
            "--mode",
            "import",
            "--target-id",
            target_id,
            "--repo",
            REPO,
            "--tag",
            "^v1\\.0\\.0$",
            "-v",
            "--arm-endpoint",
            &endpoint,
        ],
        &[("ACR_RELOCATE_ARM_POLL_SECONDS", "1")],
    )
}

/// The digest `dst` holds for [`REPO`]`:v1.0.0`, if any.
fn v1_in(dst: &Registry) -> Option<Digest> {
    let store = open(&dst.url());
    block_on(store.current_digest(REPO, "v1.0.0")).unwrap()
}

/// ARM's write throttling: importImage answers 429 with `Retry-After` seven times in a row, more
/// than the six attempts a call has for other failures. Each `Retry-After` is waited out in
/// full, said at `-v`, and spends no attempt: the import then goes through.
#[test]
#[ignore = "extra tier: needs Prism and ../shared/specs"]
fn arm_throttling_is_waited_out_as_retry_after_asks_without_spending_the_attempts() {
    let (src, dst, tags) = source_with_repo_and_empty_target(13);
    let env = AzureEnv::start();
    let (target_id, _) = target_by_id_and_source_by_host(&env, &src, &dst);
    env.fake.knobs(|k| {
        k.import_async = false;
        k.import_throttles = 7;
        k.throttle_seconds = 1;
    });
    let out = import_v1(&env, &src, &dst, &target_id);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let sent = imports(&env.fake.requests());
    assert_eq!(sent.len(), 8, "seven throttled, then the import: {sent:#?}");
    for pair in sent.windows(2) {
        let gap = pair[1].at.duration_since(pair[0].at);
        assert!(
            gap >= std::time::Duration::from_millis(990),
            "sent again after {gap:?}, before the Retry-After of 1 s"
        );
    }
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        err.matches("ARM is throttling: waiting 1s (Retry-After)")
            .count(),
        7,
        "{}",
        show(&out)
    );
    assert!(err.contains("import: 1 imported"), "{}", show(&out));
    assert_eq!(v1_in(&dst).as_ref(), tags.get("v1.0.0"));
    env.finish();
}

/// importImage answered 202 Accepted with nothing to follow (no `Location`, no
/// `Azure-AsyncOperation`): the import counts only once the target's data plane holds the tag at
/// its digest. While it does not, the item is reported not confirmed, and the run exits 1.
#[test]
#[ignore = "extra tier: needs Prism and ../shared/specs"]
fn an_import_accepted_with_nothing_to_follow_counts_only_once_the_target_holds_it() {
    let (src, dst, tags) = source_with_repo_and_empty_target(15);
    let env = AzureEnv::start();
    let (target_id, _) = target_by_id_and_source_by_host(&env, &src, &dst);
    env.fake.knobs(|k| {
        k.import_bare_accepted = true;
        k.import_not_performed = true;
    });
    let out = import_v1(&env, &src, &dst, &target_id);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "import: {REPO}:v1.0.0: not confirmed: ARM accepted the importImage (202) with no operation to follow, and the target does not hold {}",
            tags["v1.0.0"]
        )),
        "{}",
        show(&out)
    );
    assert!(
        err.contains("import: 0 imported") && err.contains("1 failed (1 not confirmed)"),
        "{}",
        show(&out)
    );
    assert!(
        !err.contains(&format!("imported {REPO}:v1.0.0")),
        "{}",
        show(&out)
    );
    assert_eq!(v1_in(&dst), None);
    assert_eq!(imports(&env.fake.requests()).len(), 1);

    // The same answer for an import that did happen: the target holds it, so it is imported.
    env.fake.knobs(|k| k.import_not_performed = false);
    let out = import_v1(&env, &src, &dst, &target_id);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("import: 1 imported"),
        "{}",
        show(&out)
    );
    assert_eq!(v1_in(&dst).as_ref(), tags.get("v1.0.0"));
    env.finish();
}
