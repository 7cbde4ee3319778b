//! Finds Bicep definitions that name an Azure registry by its short name: the `name` of a
//! `Microsoft.ContainerRegistry/registries` resource (deployed or `existing`), and a `param` or
//! `var` whose value is the short name (`param acrName string = 'myacr'`).
//!
//! A short name is an ordinary word, so it is only matched as the single-quoted value of one
//! of these. Such a definition is listed as a mention with a note, never rewritten, as a
//! Terraform one is (see [`crate::terraform`]). ARM templates are JSON and read as YAML: their
//! registry resources are found there.

use crate::{blocks, Registry};

/// The resource type of a registry, in lower case, with the `@` that starts its API version.
const REGISTRY_TYPE: &str = "'microsoft.containerregistry/registries@";

/// Byte offsets in `text` of the short name of `registry` as the quoted `name:` at the top of
/// a registry resource, or as the value of a `param` or `var`. Empty for a registry without a
/// short name.
pub(crate) fn short_names(text: &str, registry: &Registry) -> Vec<usize> {
    let Some(short_name) = registry.short_name() else {
        return Vec::new();
    };
    let mut found = Vec::new();
    let opens_registry = |trimmed: &str| {
        trimmed.starts_with("resource ") && trimmed.to_ascii_lowercase().contains(REGISTRY_TYPE)
    };
    for line in blocks::lines(text, without_comment, opens_registry) {
        let trimmed = line.trimmed;
        let value_at = if let Some(rest) = trimmed
            .strip_prefix("param ")
            .or_else(|| trimmed.strip_prefix("var "))
        {
            rest.find('=').map(|eq| trimmed.len() - rest.len() + eq + 1)
        } else if line.at_top_of_block {
            trimmed.strip_prefix("name:").map(|_| "name:".len())
        } else {
            None
        };
        if let Some(at) = value_at {
            let value = &trimmed[at..];
            let skipped = value.len() - value.trim_start().len();
            let quoted = value.trim_start().strip_prefix('\'').and_then(|v| {
                let end = v.find('\'')?;
                Some(&v[..end])
            });
            if quoted.is_some_and(|v| v.eq_ignore_ascii_case(short_name)) {
                found.push(line.offset_of(at + skipped + 1));
            }
        }
    }
    found
}

/// `line` without its `//` comment.
fn without_comment(line: &str) -> &str {
    line.find("//").map_or(line, |i| &line[..i])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_registry_resource_and_parameters_holding_the_short_name_are_found() {
        let registry = Registry::parse("myacr.azurecr.io").unwrap();
        let text = "param acrName string = 'myacr'\nvar other = 'myacr2'\nresource acr 'Microsoft.ContainerRegistry/registries@2023-07-01' existing = {\n  name: 'MyAcr' // the old one\n  properties: {\n    name: 'myacr'\n  }\n}\nresource sa 'Microsoft.Storage/storageAccounts@2023-01-01' = {\n  name: 'myacr'\n}\n";
        let lines: Vec<usize> = short_names(text, &registry)
            .into_iter()
            .map(|at| {
                assert_eq!(text[at..at + 5].to_ascii_lowercase(), "myacr");
                text[..at].matches('\n').count() + 1
            })
            .collect();
        assert_eq!(lines, [1, 4]);
    }
}
