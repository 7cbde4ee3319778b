//! Helpers: fixture loading, running the rewriter, asserting on findings.

use acr_template::{rewrite_template, Finding, RewriteOptions, Rewritten, TemplateInput};
use std::path::PathBuf;

/// `crates/template/tests/fixtures/<name>`.
pub fn fixture_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// Reads a fixture as text.
pub fn fixture(name: &str) -> String {
    std::fs::read_to_string(fixture_path(name)).unwrap()
}

/// Options moving to `newacr01` in westeurope.
pub fn opts() -> RewriteOptions {
    RewriteOptions {
        name: "newacr01".into(),
        location: "westeurope".into(),
        ..Default::default()
    }
}

/// Rewrites a fixture with options.
pub fn rewrite(name: &str, options: &RewriteOptions) -> Rewritten {
    rewrite_template(&TemplateInput::new(name, fixture(name)), options).unwrap()
}

/// The findings with this rule id.
pub fn with_rule<'a>(out: &'a Rewritten, rule: &str) -> Vec<&'a Finding> {
    out.findings.iter().filter(|f| f.rule_id == rule).collect()
}

/// The output parsed as plain JSON (comments stripped by our parser first when needed).
pub fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|_| {
        // Fixtures may carry comments: drop them through the span parser's view of the text.
        let stripped: String = strip_comments(text);
        serde_json::from_str(&stripped).expect("output is JSON (after comments)")
    })
}

fn strip_comments(text: &str) -> String {
    let mut out = String::new();
    let b = text.as_bytes();
    let (mut i, mut in_str) = (0, false);
    while i < b.len() {
        let c = b[i];
        if in_str {
            out.push(c as char);
            if c == b'\\' && i + 1 < b.len() {
                out.push(b[i + 1] as char);
                i += 1;
            } else if c == b'"' {
                in_str = false;
            }
        } else if c == b'"' {
            in_str = true;
            out.push('"');
        } else if text[i..].starts_with("//") {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
            continue;
        } else if text[i..].starts_with("/*") {
            i += text[i..].find("*/").map_or(b.len(), |e| e + 2);
            continue;
        } else {
            out.push(c as char);
        }
        i += 1;
    }
    out
}

/// True when `old` occurs in `text` as a whole word, ignoring case (the crate's own rule).
pub use acr_template::contains_word;

/// Every `location` of the registry and its (non-replication) children, as literal strings.
pub fn registry_locations(template: &serde_json::Value) -> Vec<String> {
    let mut out = Vec::new();
    fn walk(v: &serde_json::Value, parent_is_acr: bool, out: &mut Vec<String>) {
        let list: Vec<&serde_json::Value> = match v.get("resources") {
            Some(serde_json::Value::Array(a)) => a.iter().collect(),
            Some(serde_json::Value::Object(o)) => o.values().collect(),
            _ => vec![],
        };
        for r in list {
            let t = r["type"].as_str().unwrap_or("").to_ascii_lowercase();
            let acr = t.starts_with("microsoft.containerregistry/registries")
                || (parent_is_acr && !t.contains('.'));
            if acr && !t.ends_with("replications") {
                if let Some(l) = r["location"].as_str() {
                    out.push(l.to_string());
                }
            }
            walk(r, acr, out);
            if let Some(inner) = r.pointer("/properties/template") {
                walk(inner, false, out);
            }
        }
    }
    walk(template, false, &mut out);
    out
}
