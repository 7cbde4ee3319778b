//! `copy --mode import`: a server-side copy. The target registry's `importImage` action pulls each
//! image from the source itself, so no byte crosses the operator's machine. What to import is
//! decided here, from the data planes of both registries: every selected tag (pinned to the digest
//! the source tag has now) and every untagged manifest the source lists, minus what the target
//! already holds.

use std::sync::Arc;

use acr_relocate::digest::Digest;
use acr_relocate::secret::Secret;
use acr_relocate::transport::Store;
use acr_relocate::walk::{self, Matcher, RepoPair};
use futures::StreamExt;
use reqwest::Method;
use serde::Serialize;
use serde_json::{json, Value};

use crate::api;
use crate::arm::ArmClient;
use crate::error::Result;
use crate::resource_id::ResourceId;

/// Where `importImage` pulls from.
#[derive(Clone, Debug)]
pub enum ImportSource {
    /// An Azure container registry in a subscription the caller can read (no credentials needed).
    Registry(ResourceId),
    /// Any registry by its login server, with credentials if it needs them.
    Uri {
        /// `myregistry.azurecr.io`, `docker.io`, ...
        host: String,
        /// User name and password for the source.
        credentials: Option<(String, Secret)>,
    },
}

/// One manifest to import.
#[derive(Clone, Debug, Serialize)]
pub struct ImportItem {
    /// The repository pair.
    pub repository: RepoPair,
    /// The tag, or `None` for an untagged manifest.
    pub tag: Option<String>,
    /// The digest the source holds (imports are pinned to it).
    pub digest: String,
}

impl ImportItem {
    /// `repository:tag` or `repository@digest`, in the source.
    pub fn describe(&self) -> String {
        match &self.tag {
            Some(t) => format!("{}:{t}", self.repository.name),
            None => format!("{}@{}", self.repository.name, self.digest),
        }
    }
}

/// What the planning found for one manifest.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Decision {
    /// Not in the target: import it.
    Import,
    /// The target's tag already points at the same digest.
    Present,
    /// The target's tag points at another digest: kept unless `--force`.
    Conflict {
        /// The target's digest.
        target_digest: String,
    },
}

/// The outcome of an import run.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ImportReport {
    /// Imported (or, in a dry run, to import).
    pub imported: Vec<ImportItem>,
    /// Already in the target with the same digest.
    pub present: u64,
    /// Different digest in the target, left alone (without `--force`).
    pub conflicts: Vec<(ImportItem, String)>,
    /// Failed, with ARM's error (or `not confirmed: …` for an import ARM accepted with nothing
    /// to follow and the target does not hold).
    pub failed: Vec<(ImportItem, String)>,
    /// Listing errors.
    pub errors: Vec<String>,
}

impl ImportReport {
    /// True when the target now holds everything selected.
    pub fn passed(&self) -> bool {
        self.conflicts.is_empty() && self.failed.is_empty() && self.errors.is_empty()
    }
}

/// How an import run behaves.
#[derive(Clone, Debug)]
pub struct ImportOptions {
    /// Overwrite tags that point elsewhere in the target (`mode: Force`).
    pub force: bool,
    /// Operations in flight at once.
    pub jobs: usize,
    /// Plan only.
    pub dry_run: bool,
    /// Also import the manifests no tag points at (where the source lists them; never with a tag
    /// expression in the matcher).
    pub untagged: bool,
}

/// Decides, for every selected tag and untagged manifest of `source`, whether to import it.
pub async fn plan(
    source: Arc<dyn Store>,
    target: Arc<dyn Store>,
    matcher: &Matcher,
    jobs: usize,
    untagged: bool,
) -> Result<(Vec<(ImportItem, Decision)>, Vec<String>)> {
    let pairs = walk::repositories(source.as_ref(), matcher).await?;
    let listed = walk::tags(source.clone(), matcher, pairs, jobs).await;
    let mut errors = Vec::new();
    let mut work = Vec::new();
    for (pair, tags) in listed {
        match tags {
            Ok(list) => {
                errors.extend(
                    list.invalid
                        .iter()
                        .map(|(tag, e)| format!("{}:{tag}: {e}", pair.name)),
                );
                work.push((pair, list.tags))
            }
            Err(e) => errors.push(format!("{}: {e}", pair.name)),
        }
    }
    let per_repo = futures::stream::iter(work)
        .map(|(pair, tags)| {
            let (source, target) = (source.clone(), target.clone());
            async move { plan_repository(source, target, pair, tags, untagged).await }
        })
        .buffer_unordered(jobs.max(1))
        .collect::<Vec<_>>()
        .await;
    let mut items = Vec::new();
    for result in per_repo {
        match result {
            Ok(mut v) => items.append(&mut v),
            Err(e) => errors.push(e.to_string()),
        }
    }
    items.sort_by(|a, b| (&a.0.repository, &a.0.tag).cmp(&(&b.0.repository, &b.0.tag)));
    Ok((items, errors))
}

async fn plan_repository(
    source: Arc<dyn Store>,
    target: Arc<dyn Store>,
    pair: RepoPair,
    tags: Vec<String>,
    untagged: bool,
) -> Result<Vec<(ImportItem, Decision)>> {
    let listed = source.tag_digests(&pair.source).await?;
    let mut tagged: Vec<(String, Digest)> = Vec::new();
    for tag in tags {
        let known = listed
            .as_ref()
            .and_then(|l| l.iter().find(|(t, _)| *t == tag).map(|(_, d)| d.clone()));
        let digest = match known {
            Some(d) => d,
            None => match source.manifest_digest(&pair.source, &tag).await? {
                Some(d) => d,
                None => continue, // deleted since listed
            },
        };
        tagged.push((tag, digest));
    }
    let mut out = Vec::new();
    for (tag, digest) in &tagged {
        let decision = match target.current_digest(&pair.target, tag).await? {
            None => Decision::Import,
            Some(d) if d == *digest => Decision::Present,
            Some(d) => Decision::Conflict {
                target_digest: d.to_string(),
            },
        };
        out.push((
            ImportItem {
                repository: pair.clone(),
                tag: Some(tag.clone()),
                digest: digest.to_string(),
            },
            decision,
        ));
    }
    if !untagged {
        return Ok(out);
    }
    // Untagged: what no tag points at, selected by the filter or not (a tag left out by `--tag`
    // does not make its manifest untagged).
    let mut tag_digests: std::collections::HashSet<Digest> =
        tagged.iter().map(|(_, d)| d.clone()).collect();
    tag_digests.extend(listed.into_iter().flatten().map(|(_, d)| d));
    if let Some(all) = source.all_manifests(&pair.source).await? {
        for digest in all {
            if tag_digests.contains(&digest) {
                continue;
            }
            let present = target
                .current_digest(&pair.target, digest.as_str())
                .await?
                .is_some();
            out.push((
                ImportItem {
                    repository: pair.clone(),
                    tag: None,
                    digest: digest.to_string(),
                },
                if present {
                    Decision::Present
                } else {
                    Decision::Import
                },
            ));
        }
    }
    Ok(out)
}

/// The `importImage` request body for one item.
pub fn request_body(source: &ImportSource, item: &ImportItem, force: bool) -> Value {
    let source_image = format!("{}@{}", item.repository.source, item.digest);
    let mut src = match source {
        ImportSource::Registry(id) => json!({ "resourceId": id.to_string() }),
        ImportSource::Uri { host, credentials } => {
            let mut v = json!({ "registryUri": host });
            if let Some((user, password)) = credentials {
                v["credentials"] = json!({ "username": user, "password": password.expose() });
            }
            v
        }
    };
    src["sourceImage"] = json!(source_image);
    let mut body = json!({
        "source": src,
        "mode": if force { "Force" } else { "NoForce" },
    });
    match &item.tag {
        Some(tag) => body["targetTags"] = json!([format!("{}:{tag}", item.repository.target)]),
        None => body["untaggedTargetRepositories"] = json!([item.repository.target]),
    }
    body
}

/// How one `importImage` ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Imported {
    /// ARM said it is done (200, or an operation followed to `Succeeded`).
    Done,
    /// ARM answered 202 Accepted with nothing to follow (no `Azure-AsyncOperation`, no
    /// `Location`): whether the import happened is for the target's data plane to tell.
    Accepted,
}

/// Imports one item into `target` and waits for the operation to finish, when ARM gives one to
/// follow.
pub async fn import_one(
    arm: &ArmClient,
    target: &ResourceId,
    source: &ImportSource,
    item: &ImportItem,
    force: bool,
) -> Result<Imported> {
    let operation = format!("importImage {}", item.describe());
    let url = arm.url(
        &format!("{target}/importImage"),
        api::CONTAINER_REGISTRY,
        &[],
    );
    let body = request_body(source, item, force);
    let first = arm.call(Method::POST, url, Some(&body), &operation).await?;
    if first.nothing_to_poll() {
        return Ok(Imported::Accepted);
    }
    arm.complete(first, None, &operation).await?;
    Ok(Imported::Done)
}

/// How many times the target's data plane is asked for an item whose `importImage` was accepted
/// with nothing to follow, [`ArmClient::poll_interval`] apart, before it is reported not confirmed.
pub const ACCEPTED_CHECKS: u32 = 6;

/// True when the target's data plane holds `item` (its tag at its digest, or its digest).
async fn target_holds(store: &Arc<dyn Store>, item: &ImportItem) -> bool {
    let reference = item.tag.clone().unwrap_or_else(|| item.digest.clone());
    store
        .current_digest(&item.repository.target, &reference)
        .await
        .ok()
        .flatten()
        .is_some_and(|d| d.as_str() == item.digest)
}

/// The failure of an item whose `importImage` was accepted (202) with nothing to follow and that
/// the target's data plane does not hold after [`ACCEPTED_CHECKS`] looks; `None` once it does.
/// Without a data plane to ask, it stays unconfirmed.
async fn confirm_accepted(
    arm: &ArmClient,
    data_plane: Option<&Arc<dyn Store>>,
    item: &ImportItem,
) -> Option<String> {
    let started = std::time::Instant::now();
    if let Some(store) = data_plane {
        for check in 0..ACCEPTED_CHECKS {
            if check > 0 {
                tokio::time::sleep(arm.poll_interval).await;
            }
            if target_holds(store, item).await {
                return None;
            }
        }
    }
    Some(format!(
        "not confirmed: ARM accepted the importImage (202) with no operation to follow, and the target does not hold {} after {} s; it may still be running in Azure: run the same command again, which imports only what is still missing",
        item.digest,
        started.elapsed().as_secs()
    ))
}

/// Plans and runs an import of everything `matcher` selects from `source` into `target` (the
/// stores are the two data planes; `target_id` the registry that runs `importImage`). Listing
/// errors are reported in the result, next to the imports' own.
#[allow(clippy::too_many_arguments)]
pub async fn import_all(
    arm: &ArmClient,
    target_id: &ResourceId,
    import_source: &ImportSource,
    stores: (Arc<dyn Store>, Arc<dyn Store>),
    matcher: &Matcher,
    options: &ImportOptions,
    progress: &(dyn Fn(&ImportItem, Option<&str>) + Sync),
) -> Result<ImportReport> {
    let (source, target) = stores;
    let (planned, errors) = plan(
        source,
        target.clone(),
        matcher,
        options.jobs * 4,
        options.untagged && matcher.selects_untagged(),
    )
    .await?;
    let (tagged, untagged): (Vec<_>, Vec<_>) = planned
        .into_iter()
        .partition(|(item, _)| item.tag.is_some());
    let mut report = run(
        arm,
        target_id,
        import_source,
        tagged,
        options,
        progress,
        Some(&target),
    )
    .await;
    report.errors.extend(errors);
    // Untagged manifests after the tags: the platform manifests of an imported index arrived with
    // it, so each is asked for again and only what is still missing is imported.
    let mut rest = Vec::new();
    for (item, decision) in untagged {
        let still_missing = matches!(decision, Decision::Import)
            && (options.dry_run
                || target
                    .current_digest(&item.repository.target, &item.digest)
                    .await?
                    .is_none());
        if still_missing {
            rest.push((item, decision));
        } else {
            report.present += 1;
        }
    }
    let second = run(
        arm,
        target_id,
        import_source,
        rest,
        options,
        progress,
        Some(&target),
    )
    .await;
    report.imported.extend(second.imported);
    report.present += second.present;
    report.conflicts.extend(second.conflicts);
    report.failed.extend(second.failed);
    Ok(report)
}

/// Runs the imports a plan calls for, `options.jobs` at a time; `progress` hears each one.
///
/// An `importImage` that ARM reports failed after a retry may have succeeded the first time (a
/// connection lost after the request was sent, then "tag exists" for the re-sent NoForce import):
/// when `data_plane` is given, a failed item whose digest the target now holds counts as imported.
/// One that ARM accepted (202) with nothing to follow counts as imported only once the target's
/// data plane holds it; otherwise it fails as `not confirmed` (see [`ACCEPTED_CHECKS`]).
pub async fn run(
    arm: &ArmClient,
    target: &ResourceId,
    source: &ImportSource,
    planned: Vec<(ImportItem, Decision)>,
    options: &ImportOptions,
    progress: &(dyn Fn(&ImportItem, Option<&str>) + Sync),
    data_plane: Option<&Arc<dyn Store>>,
) -> ImportReport {
    let mut report = ImportReport::default();
    let mut todo = Vec::new();
    for (item, decision) in planned {
        match decision {
            Decision::Present => report.present += 1,
            Decision::Import => todo.push((item, false)),
            Decision::Conflict { target_digest } if !options.force => {
                report.conflicts.push((item, target_digest))
            }
            Decision::Conflict { .. } => todo.push((item, true)),
        }
    }
    if options.dry_run {
        report.imported = todo.into_iter().map(|(i, _)| i).collect();
        return report;
    }
    let results = futures::stream::iter(todo)
        .map(|(item, force)| async move {
            let mut error = match import_one(arm, target, source, &item, force).await {
                Ok(Imported::Done) => None,
                Ok(Imported::Accepted) => confirm_accepted(arm, data_plane, &item).await,
                Err(e) => Some(e.to_string()),
            };
            if let (Some(_), Some(store)) = (&error, data_plane) {
                if target_holds(store, &item).await {
                    error = None;
                }
            }
            progress(&item, error.as_deref());
            (item, error)
        })
        .buffer_unordered(options.jobs.max(1))
        .collect::<Vec<_>>()
        .await;
    for (item, error) in results {
        match error {
            None => report.imported.push(item),
            Some(e) => report.failed.push((item, e)),
        }
    }
    report.imported.sort_by_key(ImportItem::describe);
    report
}
