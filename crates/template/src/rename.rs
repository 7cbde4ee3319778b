//! Where the old registry name is renamed, and where it is not.
//!
//! The registry's name is replaced only where a string names the registry or one of its
//! children: a `registries/<old>` segment of a resource id or type, the login server
//! `<old>.azurecr.io` (and data endpoints `<old>.<region>.data.azurecr.io`, whose region follows
//! the regions the new registry serves, see [`DataRegions`]; written in lower case, as Azure
//! gives login servers), the portal's name
//! parameter `registries_<old>_name`, a quoted `'<old>'` or `'<old>/child'` argument of
//! `resourceId`, `reference`, `concat`, `format` or a `list*` function, and a whole resource
//! name or `dependsOn` entry that is `<old>` or `<old>/child`. Anything else that merely contains
//! the old name (a Key Vault URI, an identity `id-<old>`, a workspace, a tag, a SKU named like the
//! registry) is someone else's and keeps its bytes.

/// Functions whose quoted argument `'<old>'` (or `'<old>/child'`) names the registry.
fn names_resources(func: &str) -> bool {
    let f = func.to_ascii_lowercase();
    matches!(
        f.as_str(),
        "resourceid" | "extensionresourceid" | "reference" | "concat" | "format"
    ) || f.starts_with("list")
}

/// The quoted literals of an ARM expression (raw text, possibly JSON-escaped around it): byte
/// ranges of their contents and the innermost function each one is an argument of.
fn expression_literals(raw: &str) -> Vec<(std::ops::Range<usize>, String)> {
    let b = raw.as_bytes();
    let mut out = Vec::new();
    let mut stack: Vec<String> = Vec::new();
    let mut word_start: Option<usize> = None;
    let mut last_word = String::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'\'' {
            let start = i + 1;
            let mut j = start;
            loop {
                if j >= b.len() {
                    break;
                }
                if b[j] == b'\'' {
                    if j + 1 < b.len() && b[j + 1] == b'\'' {
                        j += 2;
                        continue;
                    }
                    break;
                }
                j += 1;
            }
            out.push((start..j, stack.last().cloned().unwrap_or_default()));
            i = j + 1;
            word_start = None;
            continue;
        }
        if c.is_ascii_alphanumeric() || c == b'_' {
            if word_start.is_none() {
                word_start = Some(i);
            }
        } else {
            if let Some(s) = word_start.take() {
                last_word = raw[s..i].to_string();
            }
            if c == b'(' {
                stack.push(std::mem::take(&mut last_word));
            } else if c == b')' {
                stack.pop();
            } else if !c.is_ascii_whitespace() {
                last_word.clear();
            }
        }
        i += 1;
    }
    out
}

/// `raw` (a JSON string token, quotes included, or a key) with the old registry name replaced
/// where it names the registry (see the module documentation), or None when nothing changed.
/// `whole` says that the string is a resource name or `dependsOn` entry of the registry's, where
/// `<old>` and `<old>/child` name it too.
pub fn rename_refs(raw: &str, old: &str, new: &str, whole: bool) -> Option<String> {
    rename_refs_in(raw, old, new, whole, None).0
}

/// The regions the relocated registry serves, for its data endpoints
/// `<name>.<region>.data.azurecr.io`.
#[derive(Debug, Clone, Default)]
pub struct DataRegions {
    /// The source's home region (normalised), when known: its endpoint becomes the target's.
    pub old_home: Option<String>,
    /// The target region.
    pub target: String,
    /// Regions of the replicas the new registry keeps or gains (normalised).
    pub replicas: Vec<String>,
}

impl DataRegions {
    /// The region of the new registry's data endpoint for the source's `region`, if it has one.
    /// A region the new registry still serves (the target, a kept or added replica, the old
    /// home kept with `--replication`) keeps its endpoint; only the old home that is not served
    /// any more moves to the target.
    fn map(&self, region: &str) -> Option<String> {
        if region == self.target || self.replicas.iter().any(|r| r == region) {
            Some(region.to_string())
        } else if self.old_home.as_deref() == Some(region) {
            Some(self.target.clone())
        } else {
            None
        }
    }

    /// True when the source's home region stays a replica of the new registry: its data endpoint
    /// keeps its region, and the new home's endpoint is one that lists of endpoints lack.
    pub fn old_home_kept(&self) -> bool {
        self.old_home
            .as_deref()
            .is_some_and(|h| h != self.target && self.replicas.iter().any(|r| r == h))
    }

    /// The new registry's data endpoints, for messages.
    pub fn endpoints(&self, new: &str) -> Vec<String> {
        let new = new.to_ascii_lowercase();
        std::iter::once(&self.target)
            .chain(self.replicas.iter().filter(|r| **r != self.target))
            .map(|r| format!("{new}.{r}.data.azurecr.io"))
            .collect()
    }
}

/// [`rename_refs`], with data endpoints `<old>.<region>.data.azurecr.io` mapped through
/// `regions`: the source's home region becomes the target, a kept replica region stays, and a
/// host of any other region is kept as it was (returned, lower case, for a finding). Without
/// `regions`, a data endpoint keeps its region.
pub fn rename_refs_in(
    raw: &str,
    old: &str,
    new: &str,
    whole: bool,
    regions: Option<&DataRegions>,
) -> (Option<String>, Vec<String>) {
    let r = rename_refs_counted(raw, old, new, whole, regions);
    (r.text, r.kept_hosts)
}

/// What [`rename_refs_counted`] did to one string.
#[derive(Debug, Default, PartialEq)]
pub struct Renaming {
    /// The string with the references renamed, None when nothing changed.
    pub text: Option<String>,
    /// How many references were renamed.
    pub edits: usize,
    /// Data endpoints of regions the new registry does not serve, kept (lower case).
    pub kept_hosts: Vec<String>,
    /// The regions of the new registry's data endpoints written (in order, as often as written).
    pub data_regions: Vec<String>,
}

/// [`rename_refs_in`], also counting the references renamed and the data endpoints written.
pub fn rename_refs_counted(
    raw: &str,
    old: &str,
    new: &str,
    whole: bool,
    regions: Option<&DataRegions>,
) -> Renaming {
    let mut kept_hosts = Vec::new();
    let mut edits = 0;
    let mut data_written = Vec::new();
    if old.is_empty() {
        return Renaming::default();
    }
    let lower = raw.to_ascii_lowercase();
    let needle = old.to_ascii_lowercase();
    let bytes = raw.as_bytes();
    let inner = raw.trim_matches('"');
    let is_expr = crate::model::is_expression(inner);
    let literals = if is_expr {
        expression_literals(raw)
    } else {
        Vec::new()
    };
    let mut out = String::new();
    let mut pos = 0;
    let mut from = 0;
    let mut hit = false;
    while let Some(i) = lower[from..].find(&needle).map(|i| i + from) {
        let end = i + needle.len();
        from = end;
        let before_ok = i == 0 || !bytes[i - 1].is_ascii_alphanumeric();
        let after_ok = end == bytes.len() || !bytes[end].is_ascii_alphanumeric();
        if !(before_ok && after_ok) {
            continue;
        }
        let rest = &lower[end..];
        let next = bytes.get(end).copied();
        let login_server = login_server_follows(rest);
        // A data endpoint: `.<region>.data.azurecr.io` after the name.
        let data_region = rest
            .strip_prefix('.')
            .filter(|r| !r.starts_with("azurecr.io"))
            .map(|r| &r[..r.bytes().take_while(|c| c.is_ascii_alphanumeric()).count()])
            .filter(|_| login_server);
        let mut region_edit = None;
        let mut written_region = data_region.map(str::to_string);
        if let (Some(region), Some(map)) = (data_region, regions) {
            match map.map(region) {
                Some(to) if to != region => {
                    written_region = Some(to.clone());
                    region_edit = Some((end + 1..end + 1 + region.len(), to))
                }
                Some(_) => {}
                None => {
                    kept_hosts.push(format!("{needle}.{region}.data.azurecr.io"));
                    continue;
                }
            }
        }
        let names = lower[..i].ends_with("registries/")
            || login_server
            || (lower[..i].ends_with("registries_") && rest.starts_with("_name"))
            || literals.iter().any(|(r, func)| {
                r.start == i && (r.end == end || next == Some(b'/')) && names_resources(func)
            })
            || (whole
                && !is_expr
                && i == 1
                && bytes[0] == b'"'
                && matches!(next, Some(b'"') | Some(b'/')));
        if names {
            out.push_str(&raw[pos..i]);
            // A login server is lower case, whatever the case of the registry's name.
            if login_server {
                out.push_str(&new.to_ascii_lowercase());
            } else {
                out.push_str(new);
            }
            pos = end;
            if let Some((range, to)) = region_edit {
                out.push_str(&raw[pos..range.start]);
                out.push_str(&to);
                pos = range.end;
                from = range.end;
            }
            hit = true;
            edits += 1;
            if let Some(region) = written_region {
                data_written.push(region);
            }
        }
    }
    let renamed = hit.then(|| {
        out.push_str(&raw[pos..]);
        out
    });
    Renaming {
        text: renamed,
        edits,
        kept_hosts,
        data_regions: data_written,
    }
}

/// True when `rest` (lower case, right after the name) continues a login server or data endpoint:
/// `.azurecr.io` or `.<region>.data.azurecr.io`.
fn login_server_follows(rest: &str) -> bool {
    if rest.starts_with(".azurecr.io") {
        return true;
    }
    let Some(r) = rest.strip_prefix('.') else {
        return false;
    };
    let region_len = r.bytes().take_while(|c| c.is_ascii_alphanumeric()).count();
    region_len > 0 && r[region_len..].starts_with(".data.azurecr.io")
}

/// The portal's name parameter `registries_<old>_name` for the new name, when `param` is the
/// old one's; else `param` unchanged.
pub fn rename_portal_parameter(param: &str, old: &str, new: &str) -> String {
    rename_refs(param, old, new, false).unwrap_or_else(|| param.to_string())
}

/// True when `old` occurs in `text` as a whole word (letters and digits around it), ignoring
/// case.
pub fn contains_word(text: &str, old: &str) -> bool {
    if old.is_empty() {
        return false;
    }
    let lower = text.to_ascii_lowercase();
    let needle = old.to_ascii_lowercase();
    let b = lower.as_bytes();
    lower.match_indices(&needle).any(|(i, _)| {
        let end = i + needle.len();
        (i == 0 || !b[i - 1].is_ascii_alphanumeric())
            && (end == b.len() || !b[end].is_ascii_alphanumeric())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(raw: &str, whole: bool) -> Option<String> {
        rename_refs(raw, "old01", "new02", whole)
    }

    #[test]
    fn registry_ids_login_servers_and_the_portal_parameter_are_renamed() {
        assert_eq!(
            r("\"/subscriptions/s/resourceGroups/g/providers/Microsoft.ContainerRegistry/registries/Old01/replications/x\"", false).unwrap(),
            "\"/subscriptions/s/resourceGroups/g/providers/Microsoft.ContainerRegistry/registries/new02/replications/x\""
        );
        assert_eq!(
            r("\"https://old01.azurecr.io/v2/\"", false).unwrap(),
            "\"https://new02.azurecr.io/v2/\""
        );
        assert_eq!(
            r("\"old01.westus.data.azurecr.io\"", false).unwrap(),
            "\"new02.westus.data.azurecr.io\""
        );
        assert_eq!(
            r("\"[parameters('registries_old01_name')]\"", false).unwrap(),
            "\"[parameters('registries_new02_name')]\""
        );
        assert_eq!(
            r(
                "\"[resourceId('Microsoft.ContainerRegistry/registries/webhooks', 'old01', 'h')]\"",
                false
            )
            .unwrap(),
            "\"[resourceId('Microsoft.ContainerRegistry/registries/webhooks', 'new02', 'h')]\""
        );
        assert_eq!(
            r("\"[concat('old01', '/hook')]\"", false).unwrap(),
            "\"[concat('new02', '/hook')]\""
        );
        assert_eq!(
            r("\"[format('{0}', 'old01/hook')]\"", false).unwrap(),
            "\"[format('{0}', 'new02/hook')]\""
        );
    }

    #[test]
    fn other_resources_that_share_the_name_are_left_alone() {
        for raw in [
            "\"https://old01-kv.vault.azure.net/keys/k/1\"",
            "\"/subscriptions/s/resourceGroups/g/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-old01\"",
            "\"/subscriptions/s/resourceGroups/rg-old01/providers/Microsoft.OperationalInsights/workspaces/law-old01\"",
            "\"[parameters('privateEndpoints_old01_pe_externalid')]\"",
            "\"team old01\"",
            "\"[if(equals(parameters('sku'), 'old01'), 1, 2)]\"",
        ] {
            assert_eq!(r(raw, true), None, "{raw}");
        }
        // A registry named like its SKU: the SKU is not renamed (it is not a resource name).
        assert_eq!(rename_refs("\"Premium\"", "premium", "new02", false), None);
    }

    #[test]
    fn data_endpoints_follow_the_regions_the_new_registry_serves() {
        let regions = DataRegions {
            old_home: Some("eastus".into()),
            target: "westeurope".into(),
            replicas: vec!["northeurope".into()],
        };
        let r = |raw: &str| rename_refs_in(raw, "old01", "new02", false, Some(&regions));
        assert_eq!(
            r("\"Old01.eastus.data.azurecr.io\"").0.unwrap(),
            "\"new02.westeurope.data.azurecr.io\""
        );
        assert_eq!(
            r("\"https://old01.northeurope.data.azurecr.io/v2\"")
                .0
                .unwrap(),
            "\"https://new02.northeurope.data.azurecr.io/v2\""
        );
        // A region the new registry does not serve: kept as it was, and named.
        let (renamed, kept) = r("\"old01.japaneast.data.azurecr.io old01.azurecr.io\"");
        assert_eq!(
            renamed.unwrap(),
            "\"old01.japaneast.data.azurecr.io new02.azurecr.io\""
        );
        assert_eq!(kept, ["old01.japaneast.data.azurecr.io"]);
        assert_eq!(
            regions.endpoints("New02"),
            [
                "new02.westeurope.data.azurecr.io",
                "new02.northeurope.data.azurecr.io"
            ]
        );
    }

    #[test]
    fn the_old_home_kept_as_a_replica_keeps_its_data_endpoint() {
        // --replication eastus: eastus (the old home) stays served, by a replica.
        let regions = DataRegions {
            old_home: Some("eastus".into()),
            target: "westeurope".into(),
            replicas: vec!["eastus".into()],
        };
        assert!(regions.old_home_kept());
        let r = rename_refs_counted(
            "\"old01.eastus.data.azurecr.io, old01.azurecr.io\"",
            "old01",
            "new02",
            false,
            Some(&regions),
        );
        assert_eq!(
            r.text.unwrap(),
            "\"new02.eastus.data.azurecr.io, new02.azurecr.io\""
        );
        assert_eq!(r.edits, 2);
        assert_eq!(r.data_regions, ["eastus"]);
        assert!(r.kept_hosts.is_empty());
        // Without it, the old home's endpoint becomes the new home's.
        let moved = DataRegions {
            replicas: vec![],
            ..regions
        };
        assert!(!moved.old_home_kept());
        let r = rename_refs_counted(
            "\"old01.eastus.data.azurecr.io\"",
            "old01",
            "new02",
            false,
            Some(&moved),
        );
        assert_eq!(r.text.unwrap(), "\"new02.westeurope.data.azurecr.io\"");
        assert_eq!(r.data_regions, ["westeurope"]);
    }

    #[test]
    fn a_longer_registry_name_that_ends_with_the_old_one_is_not_renamed() {
        let r = rename_refs_counted(
            "- cmd: prodold01.azurecr.io/tool:2\n- push: [old01.azurecr.io/app]",
            "old01",
            "new02",
            false,
            None,
        );
        assert_eq!(
            r.text.unwrap(),
            "- cmd: prodold01.azurecr.io/tool:2\n- push: [new02.azurecr.io/app]"
        );
        assert_eq!(r.edits, 1);
    }

    #[test]
    fn whole_names_and_depends_on_entries() {
        assert_eq!(r("\"old01\"", true).unwrap(), "\"new02\"");
        assert_eq!(r("\"old01/hook\"", true).unwrap(), "\"new02/hook\"");
        assert_eq!(r("\"old01\"", false), None);
        assert_eq!(r("\"old01-pe\"", true), None);
        // Not a prefix of a longer registry name.
        assert_eq!(
            r(
                "\"/subscriptions/s/providers/Microsoft.ContainerRegistry/registries/old01dev\"",
                true
            ),
            None
        );
    }

    #[test]
    fn literals_of_expressions_know_their_function() {
        let lits = expression_literals("[resourceId('a', concat('b', 'c''d'))]");
        let got: Vec<(&str, &str)> = lits
            .iter()
            .map(|(r, f)| {
                (
                    &"[resourceId('a', concat('b', 'c''d'))]"[r.clone()],
                    f.as_str(),
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![("a", "resourceId"), ("b", "concat"), ("c''d", "concat")]
        );
    }
}
