//! Finds Terraform (HCL) attributes that name an Azure registry by its short name: the `name`
//! of an `azurerm_container_registry` resource or data source, and `registry_name` /
//! `container_registry_name` of the resources that belong to a registry (webhooks, scope maps,
//! tokens, tasks, ...).
//!
//! A short name is an ordinary word, so it is only matched as the quoted value of one of these
//! attributes. Such an attribute is listed as a mention with a note, never rewritten: a
//! Terraform configuration that manages the old registry should keep naming it (renaming a
//! managed registry replaces it), one that uses it has to be changed by hand.

use crate::{blocks, Registry};

/// The block type of the registry itself (resource and data source alike).
const REGISTRY_BLOCK: &str = "azurerm_container_registry";

/// Attributes that hold the name of the registry a resource belongs to, in any block.
const REGISTRY_NAME_ATTRIBUTES: [&str; 2] = ["registry_name", "container_registry_name"];

/// Byte offsets in `text` of the short name of `registry` (see [`Registry::short_name`]) as
/// the quoted value of such an attribute, one attribute a line (`name = "myacr"`). Empty for a
/// registry without a short name.
pub(crate) fn short_names(text: &str, registry: &Registry) -> Vec<usize> {
    let Some(short_name) = registry.short_name() else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for line in blocks::lines(text, without_comment, opens_registry_block) {
        if let Some((attribute, value_at, value)) = attribute(line.trimmed) {
            let names_registry = REGISTRY_NAME_ATTRIBUTES.contains(&attribute)
                || (attribute == "name" && line.at_top_of_block);
            if names_registry && value.eq_ignore_ascii_case(short_name) {
                found.push(line.offset_of(value_at));
            }
        }
    }
    found
}

/// Why `what` (a Terraform attribute, a Bicep or ARM definition) naming `registry` by its short
/// name is listed.
pub(crate) fn note(registry: &Registry, what: &str) -> String {
    format!(
        "{what} naming {registry} by its short name {}: not rewritten; if it should name the new registry, change it by hand (renaming a managed registry replaces it)",
        registry.short_name().unwrap_or_default()
    )
}

/// True for the first line of a `resource "azurerm_container_registry" "x" {` or
/// `data "azurerm_container_registry" "x" {` block.
fn opens_registry_block(line: &str) -> bool {
    let Some(rest) = line
        .strip_prefix("resource")
        .or_else(|| line.strip_prefix("data"))
    else {
        return false;
    };
    let quoted = format!("\"{REGISTRY_BLOCK}\"");
    rest.starts_with([' ', '\t']) && rest.trim_start().starts_with(&quoted)
}

/// `KEY = "VALUE"` at the start of `line`: the key, where the value starts in `line` and the
/// value (which must hold no escape or interpolation).
fn attribute(line: &str) -> Option<(&str, usize, &str)> {
    let key_len = line
        .bytes()
        .take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-'))
        .count();
    let key = &line[..key_len];
    let rest = line[key_len..].trim_start().strip_prefix('=')?;
    let rest = rest.trim_start();
    let value = rest.strip_prefix('"')?;
    let value = &value[..value.find('"')?];
    if key.is_empty() || value.contains(['\\', '$', '%']) {
        return None;
    }
    Some((key, line.len() - rest.len() + 1, value))
}

/// `line` up to a `#` or `//` comment outside a string.
fn without_comment(line: &str) -> &str {
    let mut in_string = false;
    let mut previous = '\0';
    for (i, c) in line.char_indices() {
        match c {
            '"' if previous != '\\' => in_string = !in_string,
            '#' if !in_string => return &line[..i],
            '/' if !in_string && previous == '/' => return &line[..i - 1],
            _ => {}
        }
        previous = c;
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(text: &str) -> Vec<usize> {
        let registry = Registry::parse("myacr.azurecr.io").unwrap();
        let lines: Vec<usize> = short_names(text, &registry)
            .into_iter()
            .map(|at| {
                assert_eq!(&text[at..at + 5].to_ascii_lowercase(), "myacr");
                text[..at].matches('\n').count() + 1
            })
            .collect();
        lines
    }

    #[test]
    fn the_registry_and_the_resources_of_it_are_found_by_their_name_attributes() {
        let text = r#"resource "azurerm_container_registry" "acr" {
  name                = "myacr" # the registry
  resource_group_name = "myacr"
  georeplications {
    location = "westeurope"
    name     = "myacr"
  }
}

data "azurerm_container_registry" "shared" {
  name = "MyAcr"
}

resource "azurerm_container_registry_webhook" "hook" {
  name          = "myacr"
  registry_name = "myacr"
}

resource "azurerm_container_registry_scope_map" "pull" {
  container_registry_name = "myacr"
}
"#;
        assert_eq!(names(text), [2, 11, 16, 20]);
    }

    #[test]
    fn other_names_comments_and_expressions_are_not_the_registry() {
        let text = r#"resource "azurerm_storage_account" "sa" {
  name = "myacr"
}
resource "azurerm_container_registry" "acr" {
  # name = "myacr"
  name = "myacr2"
  sku  = "Premium"
}
registry_name = "${var.prefix}myacr"
"#;
        assert!(names(text).is_empty());
    }
}
