//! Repository names changed on the way (`--map FROM=TO`), as regsync's per-repository targets
//! and `az acr import --image NEW:TAG` allow: one repository (`--map web=frontend/web`) or a
//! namespace, written with a trailing `/` on both sides (`--map team-a/=platform/team-a/` takes
//! `team-a/x` to `platform/team-a/x`). Names are relative to the prefixes of SOURCE and TARGET.
//! An exact name wins over a namespace, a longer namespace over a shorter one; every other name
//! keeps its own.

use crate::error::{Error, Result};

/// One `FROM=TO`.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Rename {
    /// A repository name, or a namespace ending with `/`.
    from: String,
    /// The same form as `from`.
    to: String,
}

impl Rename {
    fn is_namespace(&self) -> bool {
        self.from.ends_with('/')
    }

    /// `name` renamed by this rule, or `None` when the rule does not cover it.
    fn apply(&self, name: &str) -> Option<String> {
        match self.is_namespace() {
            true => name
                .strip_prefix(self.from.as_str())
                .filter(|rest| !rest.is_empty())
                .map(|rest| format!("{}{rest}", self.to)),
            false => (name == self.from).then(|| self.to.clone()),
        }
    }
}

/// The renames of a job, or of its reverse ([`Renames::inverted`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Renames {
    rules: Vec<Rename>,
    /// How the user gave them (`--map`, `[scope] map`), for messages.
    given_as: String,
    /// For the reverse: target names known to be the new names of listed source names
    /// ([`Renames::inverted_knowing`]), asked before the rules (overlapping namespaces can
    /// take two source names to one target name's form).
    known: std::collections::BTreeMap<String, String>,
    /// True for the reverse (a target name to its source name): a name no rule covers keeps
    /// its own only when the forward renames would not take it elsewhere.
    inverted: bool,
}

impl Renames {
    /// Parses `FROM=TO` specs (`flag` names them in errors). Each side must be a valid
    /// repository name, or a namespace ending with `/` on both sides; a name renamed twice, or
    /// two names given one target, is refused.
    pub fn parse(specs: &[String], flag: &str) -> Result<Self> {
        let mut rules: Vec<Rename> = Vec::new();
        for spec in specs {
            let what = || format!("{flag} `{spec}`");
            let Some((from, to)) = spec.split_once('=') else {
                return Err(Error::invalid(
                    what(),
                    "expected FROM=TO: a repository name and its new name (`web=frontend/web`), or two namespaces ending with / (`team-a/=platform/team-a/`)",
                ));
            };
            let rule = Rename {
                from: from.trim().to_string(),
                to: to.trim().to_string(),
            };
            if rule.from.ends_with('/') != rule.to.ends_with('/') {
                return Err(Error::invalid(
                    what(),
                    "a namespace is renamed to a namespace: end both sides with / (`team-a/=platform/team-a/`), or neither for one repository",
                ));
            }
            for (side, name) in [("FROM", &rule.from), ("TO", &rule.to)] {
                let bare = name.strip_suffix('/').unwrap_or(name);
                crate::endpoint::validate_repository(bare)
                    .map_err(|reason| Error::invalid(what(), format!("{side}: {reason}")))?;
            }
            if rule.from == rule.to {
                return Err(Error::invalid(
                    what(),
                    "renames a name to itself: leave it out",
                ));
            }
            if let Some(earlier) = rules.iter().find(|r| r.from == rule.from) {
                return Err(Error::invalid(
                    what(),
                    format!(
                        "`{}` is already renamed to `{}`: give each name one new name",
                        rule.from, earlier.to
                    ),
                ));
            }
            if let Some(earlier) = rules.iter().find(|r| r.to == rule.to) {
                return Err(Error::invalid(
                    what(),
                    format!(
                        "`{}` is already the new name of `{}`: two repositories cannot share one name in the target",
                        rule.to, earlier.from
                    ),
                ));
            }
            rules.push(rule);
        }
        Ok(Renames {
            rules,
            given_as: flag.to_string(),
            known: Default::default(),
            inverted: false,
        })
    }

    /// True when no name changes.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// True for the reverse of a job's renames ([`Renames::inverted`]): target names to source
    /// names.
    pub fn is_inverted(&self) -> bool {
        self.inverted
    }

    /// The rule that covers `name`: an exact one first, then the longest namespace.
    fn rule_for(&self, name: &str) -> Option<&Rename> {
        let exact = self
            .rules
            .iter()
            .find(|r| !r.is_namespace() && r.from == name);
        exact.or_else(|| {
            self.rules
                .iter()
                .filter(|r| r.is_namespace() && r.apply(name).is_some())
                .max_by_key(|r| r.from.len())
        })
    }

    /// The new name of `name`; `None` only for the reverse ([`Renames::inverted`]) when no
    /// source name becomes `name`.
    pub fn apply(&self, name: &str) -> Option<String> {
        if let Some(source) = self.known.get(name) {
            return Some(source.clone());
        }
        if let Some(rule) = self.rule_for(name) {
            let renamed = rule.apply(name)?;
            // A target name is the image of the source name only if the forward renames take
            // that name back here (`a/x=b` beside `a/=c/`: `c/x` is no source name's).
            if self.inverted && self.forward().apply(&renamed).as_deref() != Some(name) {
                return None;
            }
            return Some(renamed);
        }
        if self.inverted && self.forward().rule_for(name).is_some() {
            // The forward renames take this name elsewhere: it is no source name's target.
            return None;
        }
        Some(name.to_string())
    }

    /// The reverse: from a target name to the source name that becomes it.
    pub fn inverted(&self) -> Renames {
        Renames {
            rules: self
                .rules
                .iter()
                .map(|r| Rename {
                    from: r.to.clone(),
                    to: r.from.clone(),
                })
                .collect(),
            given_as: self.given_as.clone(),
            known: Default::default(),
            inverted: !self.inverted,
        }
    }

    /// The reverse ([`Renames::inverted`]) that takes the new names of `sources` (names of
    /// the source, listed) back to them first: with namespaces that overlap in the target
    /// (`team/=n/` beside `charts/=n/app/`), `n/app/x` is then `team/app/x` when the source
    /// lists it.
    pub fn inverted_knowing<'a>(&self, sources: impl IntoIterator<Item = &'a str>) -> Renames {
        let mut reverse = self.inverted();
        if !self.inverted {
            reverse.known = sources
                .into_iter()
                .filter_map(|name| Some((self.apply(name)?, name.to_string())))
                .collect();
        }
        reverse
    }

    /// The renames (forward) that rename none of `names`, each as the user gave it (`--map
    /// a=b`, `[scope] map "a=b"`): a misspelt one would leave its repository under its old name.
    pub fn unused(&self, names: &[String]) -> Vec<String> {
        self.forward()
            .rules
            .iter()
            .filter(|rule| !names.iter().any(|n| rule.apply(n).is_some()))
            .map(|rule| self.one_as_given(&format!("{}={}", rule.from, rule.to)))
            .collect()
    }

    /// One rename `FROM=TO` as the user gave it: `--map a=b`, or `[scope] map "a=b"`.
    fn one_as_given(&self, spec: &str) -> String {
        match self.from_flags() {
            true => format!("{} {spec}", self.given_as),
            false => format!("{} {spec:?}", self.given_as),
        }
    }

    /// True when the renames came from command-line flags (`--map`), false from a config
    /// (`[scope] map`): remedies name the same kind of setting.
    pub fn from_flags(&self) -> bool {
        self.given_as.starts_with("--")
    }

    /// The renames as the user gave them: `--map a=b --map c/=d/`, or `[scope] map ["a=b"]`.
    pub fn described(&self) -> String {
        let specs = self.specs();
        match self.from_flags() {
            true => specs
                .iter()
                .map(|s| self.one_as_given(s))
                .collect::<Vec<_>>()
                .join(" "),
            false => format!("{} {specs:?}", self.given_as),
        }
    }

    /// The forward renames of these (themselves unless inverted).
    fn forward(&self) -> Renames {
        match self.inverted {
            true => self.inverted(),
            false => self.clone(),
        }
    }

    /// The renames as given, `FROM=TO` (forward), for messages and plans.
    pub fn specs(&self) -> Vec<String> {
        self.forward()
            .rules
            .iter()
            .map(|r| format!("{}={}", r.from, r.to))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn renames(specs: &[&str]) -> Renames {
        let specs: Vec<String> = specs.iter().map(|s| s.to_string()).collect();
        Renames::parse(&specs, "--map").unwrap()
    }

    fn refusal(specs: &[&str]) -> String {
        let specs: Vec<String> = specs.iter().map(|s| s.to_string()).collect();
        Renames::parse(&specs, "--map").unwrap_err().to_string()
    }

    #[test]
    fn one_repository_gets_its_new_name_and_the_others_keep_theirs() {
        let r = renames(&["web=frontend/web"]);
        assert_eq!(r.apply("web").as_deref(), Some("frontend/web"));
        assert_eq!(r.apply("web2").as_deref(), Some("web2"));
        assert_eq!(r.apply("web/x").as_deref(), Some("web/x"));
    }

    #[test]
    fn a_namespace_moves_whole_and_an_exact_name_or_a_longer_namespace_wins() {
        let r = renames(&[
            "team/=platform/team/",
            "team/legacy/=archive/",
            "team/api=api",
        ]);
        assert_eq!(r.apply("team/web").as_deref(), Some("platform/team/web"));
        assert_eq!(r.apply("team/a/b").as_deref(), Some("platform/team/a/b"));
        assert_eq!(r.apply("team/legacy/x").as_deref(), Some("archive/x"));
        assert_eq!(r.apply("team/api").as_deref(), Some("api"));
        assert_eq!(r.apply("team").as_deref(), Some("team"));
        assert_eq!(r.apply("teams/x").as_deref(), Some("teams/x"));
    }

    #[test]
    fn the_reverse_finds_the_source_name_and_nothing_for_a_name_renamed_away() {
        let r = renames(&["web=frontend/web", "team/=platform/team/"]).inverted();
        assert_eq!(r.apply("frontend/web").as_deref(), Some("web"));
        assert_eq!(r.apply("platform/team/x").as_deref(), Some("team/x"));
        assert_eq!(r.apply("other").as_deref(), Some("other"));
        // `web` and `team/x` in the target are no source name's new name.
        assert_eq!(r.apply("web"), None);
        assert_eq!(r.apply("team/x"), None);
        assert_eq!(r.inverted().apply("web").as_deref(), Some("frontend/web"));
        // An exact rename wins over the namespace: `c/x` is not where `a/x` goes.
        let r = renames(&["a/x=b", "a/=c/"]).inverted();
        assert_eq!(r.apply("b").as_deref(), Some("a/x"));
        assert_eq!(r.apply("c/y").as_deref(), Some("a/y"));
        assert_eq!(r.apply("c/x"), None);
    }

    #[test]
    fn the_reverse_prefers_the_listed_source_name_where_namespaces_overlap_in_the_target() {
        let r = renames(&["team/=n/", "charts/=n/app/"]);
        let blind = r.inverted();
        assert_eq!(blind.apply("n/app/svc").as_deref(), Some("charts/svc"));
        let knowing = r.inverted_knowing(["team/app/svc", "charts/db"]);
        assert_eq!(knowing.apply("n/app/svc").as_deref(), Some("team/app/svc"));
        assert_eq!(knowing.apply("n/app/db").as_deref(), Some("charts/db"));
        assert_eq!(knowing.apply("n/other").as_deref(), Some("team/other"));
    }

    #[test]
    fn malformed_or_conflicting_renames_are_refused_with_what_to_write() {
        assert!(refusal(&["web"]).contains("expected FROM=TO"));
        assert!(refusal(&["team/=platform"]).contains("end both sides with /"));
        assert!(refusal(&["Web=web"]).contains("--map `Web=web`: FROM:"));
        assert!(refusal(&["web=web"]).contains("to itself"));
        assert!(refusal(&["a=b", "a=c"]).contains("already renamed to `b`"));
        assert!(refusal(&["a=c", "b=c"]).contains("already the new name of `a`"));
    }

    #[test]
    fn specs_read_back_as_given() {
        let r = renames(&["web=frontend/web", "team/=platform/team/"]);
        assert_eq!(r.inverted().specs(), r.specs());
        assert_eq!(r.specs(), ["web=frontend/web", "team/=platform/team/"]);
    }
}
