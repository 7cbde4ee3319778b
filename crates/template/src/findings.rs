//! Findings: what the rewriter could not fix, or wants a human to know, with a fix for each.
//!
//! Rule ids are stable strings (see the crate documentation for the full list); tests and users
//! may match on them.

use serde::Serialize;

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The deployment or the relocation will fail (or lose data) unless fixed: exit code 1.
    Blocking,
    /// Works, but needs attention or a decision.
    Warning,
    /// Something the rewriter did or a step to remember.
    Info,
}

impl Severity {
    /// Lower-case name, as in the JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Blocking => "blocking",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }
}

/// One finding about the template.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// How serious it is.
    pub severity: Severity,
    /// Stable rule id, e.g. `premium-required`.
    pub rule_id: &'static str,
    /// JSON Pointer into the input template (e.g. `/resources/0/properties/networkRuleSet`).
    pub path: String,
    /// What is the matter.
    pub message: String,
    /// What to do about it.
    pub fix: String,
}

/// True when any finding is blocking.
pub fn has_blocking(findings: &[Finding]) -> bool {
    findings.iter().any(|f| f.severity == Severity::Blocking)
}

/// Renders findings as an aligned plain-text table (for stderr).
pub fn to_table(findings: &[Finding]) -> String {
    if findings.is_empty() {
        return "no findings\n".to_string();
    }
    let w_sev = 8;
    let w_rule = findings
        .iter()
        .map(|f| f.rule_id.len())
        .max()
        .unwrap_or(4)
        .max(4);
    let w_path = findings
        .iter()
        .map(|f| f.path.len())
        .max()
        .unwrap_or(4)
        .clamp(4, 60);
    let mut out = format!(
        "{:w_sev$}  {:w_rule$}  {:w_path$}  MESSAGE / FIX\n",
        "SEVERITY", "RULE", "PATH"
    );
    for f in findings {
        out.push_str(&format!(
            "{:w_sev$}  {:w_rule$}  {:w_path$}  {}\n{:pad$}  fix: {}\n",
            f.severity.as_str(),
            f.rule_id,
            f.path,
            f.message,
            "",
            f.fix,
            pad = w_sev + w_rule + w_path + 4
        ));
    }
    let blocking = findings
        .iter()
        .filter(|f| f.severity == Severity::Blocking)
        .count();
    out.push_str(&format!(
        "{} finding(s), {blocking} blocking\n",
        findings.len()
    ));
    out
}

/// Renders findings as a Markdown report.
pub fn to_markdown(title: &str, findings: &[Finding]) -> String {
    let cell = |s: &str| s.replace('|', "\\|").replace('\n', " ");
    let mut out = format!("# {}\n\n", cell(title));
    let blocking = findings
        .iter()
        .filter(|f| f.severity == Severity::Blocking)
        .count();
    out.push_str(&format!(
        "{} finding(s), {blocking} blocking.\n\n",
        findings.len()
    ));
    if findings.is_empty() {
        return out;
    }
    out.push_str("| severity | rule | path | message | fix |\n|---|---|---|---|---|\n");
    for f in findings {
        out.push_str(&format!(
            "| {} | `{}` | `{}` | {} | {} |\n",
            f.severity.as_str(),
            f.rule_id,
            cell(&f.path),
            cell(&f.message),
            cell(&f.fix)
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(severity: Severity) -> Finding {
        Finding {
            severity,
            rule_id: "admin-user-enabled",
            path: "/resources/0".into(),
            message: "a | b".into(),
            fix: "do".into(),
        }
    }

    #[test]
    fn table_and_markdown_show_every_finding() {
        let f = vec![finding(Severity::Blocking), finding(Severity::Info)];
        assert!(has_blocking(&f));
        let t = to_table(&f);
        assert!(
            t.contains("blocking  admin-user-enabled") && t.ends_with("2 finding(s), 1 blocking\n")
        );
        let m = to_markdown("report", &f);
        assert!(m.contains("| blocking | `admin-user-enabled` | `/resources/0` | a \\| b | do |"));
        assert_eq!(serde_json::to_value(&f[0]).unwrap()["severity"], "blocking");
    }
}
