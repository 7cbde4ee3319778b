//! Shared helpers: options and an in-memory target registry.

use std::cell::RefCell;
use std::collections::HashMap;

use acr_rewrite::{Options, Registry, TargetResolver};

/// Options rewriting `from` to `to`.
pub fn options(from: &str, to: &str) -> Options {
    Options {
        from: Registry::parse(from).unwrap(),
        to: Registry::parse(to).unwrap(),
        pin_digests: false,
    }
}

/// A target registry held in memory: `repository:tag` → digest. Records every lookup.
#[derive(Default)]
pub struct MemoryTarget {
    pub tags: HashMap<(String, String), String>,
    pub failing: Option<String>,
    pub lookups: RefCell<Vec<String>>,
}

impl MemoryTarget {
    pub fn with(tags: &[(&str, &str, &str)]) -> Self {
        MemoryTarget {
            tags: tags
                .iter()
                .map(|(r, t, d)| ((r.to_string(), t.to_string()), d.to_string()))
                .collect(),
            ..Default::default()
        }
    }
}

impl TargetResolver for MemoryTarget {
    fn resolve(&self, repository: &str, tag: &str) -> Result<Option<String>, String> {
        self.lookups
            .borrow_mut()
            .push(format!("{repository}:{tag}"));
        if let Some(message) = &self.failing {
            return Err(message.clone());
        }
        Ok(self
            .tags
            .get(&(repository.to_owned(), tag.to_owned()))
            .cloned())
    }

    fn has_digest(&self, repository: &str, digest: &str) -> Result<bool, String> {
        self.lookups
            .borrow_mut()
            .push(format!("{repository}@{digest}"));
        Ok(self
            .tags
            .iter()
            .any(|((r, _), d)| r == repository && d == digest))
    }
}
