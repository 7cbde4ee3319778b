//! Secure parameters (`secureString`, `secureObject`) that hold a value in the input: a
//! `defaultValue` (as `azure export` writes a webhook's callback URI and headers) or a value in
//! the parameters file. The rewrite carries them into its outputs, so the outputs are as secret as
//! the input; findings never show their values.

use crate::findings::Finding;
use crate::jsonc::{Node, Value};

/// What the input's secure parameters hold.
#[derive(Debug, Default)]
pub(crate) struct Secrets {
    /// Names of the secure parameters that hold a value, in document order.
    pub names: Vec<String>,
    /// Their string values (every string inside a secureObject), longest first.
    values: Vec<String>,
}

/// Shortest value masked in findings: shorter ones (`""`, `"a"`) are no secret worth hiding and
/// would garble every message they occur in.
const MIN_MASKED: usize = 4;

/// What findings show instead of a secure parameter's value.
pub(crate) const MASK: &str = "<redacted>";

/// The secure parameters declared anywhere in `root` (the template, nested templates, the
/// template inside an exportTemplate response) that have a `defaultValue`, and those of the
/// top-level template given a value in `params` (the parameters file's `parameters` object).
pub(crate) fn find(root: &Node, template: &Node, params: Option<&Node>) -> Secrets {
    let mut secrets = Secrets::default();
    let mut members = Vec::new();
    root.walk_members(&mut members);
    for m in members.iter().filter(|m| m.key == "parameters") {
        let Some(decls) = m.value.members() else {
            continue;
        };
        for d in decls {
            let secure = d.value.get_str("type").is_some_and(|t| {
                t.eq_ignore_ascii_case("securestring") || t.eq_ignore_ascii_case("secureobject")
            });
            if !secure {
                continue;
            }
            let mut held = d.value.get("defaultValue").into_iter().collect::<Vec<_>>();
            // The parameters file gives values to the top-level template's parameters.
            let top = template
                .get("parameters")
                .is_some_and(|p| p.span == m.value.span);
            if top {
                if let Some(v) = params
                    .and_then(|p| p.get(&d.key))
                    .and_then(|p| p.get("value"))
                {
                    held.push(v);
                }
            }
            let held: Vec<&Node> = held
                .into_iter()
                .filter(|v| !matches!(v.value, Value::Null))
                .collect();
            if held.is_empty() {
                continue;
            }
            if !secrets.names.contains(&d.key) {
                secrets.names.push(d.key.clone());
            }
            for v in held {
                let mut strings = Vec::new();
                v.walk_strings(&mut strings);
                secrets.values.extend(
                    strings
                        .iter()
                        .filter_map(|s| s.as_str())
                        .filter(|s| s.len() >= MIN_MASKED)
                        .map(str::to_string),
                );
            }
        }
    }
    secrets
        .values
        .sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
    secrets.values.dedup();
    secrets
}

impl Secrets {
    /// Replaces every secure value quoted in the findings' messages and fixes with [`MASK`].
    pub fn mask(&self, findings: &mut [Finding]) {
        for f in findings {
            for v in &self.values {
                if f.message.contains(v.as_str()) {
                    f.message = f.message.replace(v.as_str(), MASK);
                }
                if f.fix.contains(v.as_str()) {
                    f.fix = f.fix.replace(v.as_str(), MASK);
                }
            }
        }
    }
}
