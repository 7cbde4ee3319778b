//! API versions of the registry and its children: a Classic (retired) version is blocking, a
//! preview version a warning, once per version at its first use ([`check_api_version`]).

use super::Ctx;
use crate::findings::Severity;
use crate::model::Resource;
use crate::rules;

/// API versions of the Classic (storage-account backed) registry; Classic registries can no
/// longer be created.
const RETIRED: &[&str] = &["2016-06-27-preview", "2017-03-01"];

pub(super) fn check_api_version(ctx: &mut Ctx<'_>, r: &Resource<'_>) {
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
