//! Progress on stderr: a bar on a terminal, a plain line every few seconds otherwise.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use acr_relocate::copy::Progress;

/// Counts tags and bytes, and shows them.
pub struct Reporter {
    label: &'static str,
    tags_total: AtomicU64,
    tags_done: AtomicU64,
    bytes: AtomicU64,
    bar: Option<indicatif::ProgressBar>,
}

impl Reporter {
    /// A reporter; `quiet` shows nothing.
    pub fn new(label: &'static str, quiet: bool) -> Arc<Self> {
        let bar = (!quiet && crate::args::stderr_is_terminal()).then(|| {
            let bar = indicatif::ProgressBar::new(0);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{prefix} [{bar:30}] {pos}/{len} tags {msg} {elapsed}",
                )
                .expect("template")
                .progress_chars("=> "),
            );
            bar.set_prefix(label);
            bar
        });
        let reporter = Arc::new(Reporter {
            label,
            tags_total: AtomicU64::new(0),
            tags_done: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            bar,
        });
        if !quiet && reporter.bar.is_none() {
            let weak = Arc::downgrade(&reporter);
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_secs(5));
                tick.tick().await;
                loop {
                    tick.tick().await;
                    let Some(r) = weak.upgrade() else { break };
                    eprintln!("{}", r.line());
                }
            });
        }
        reporter
    }

    fn line(&self) -> String {
        format!(
            "{}: {}/{} tags, {}",
            self.label,
            self.tags_done.load(Ordering::Relaxed),
            self.tags_total.load(Ordering::Relaxed),
            human_bytes(self.bytes.load(Ordering::Relaxed))
        )
    }

    /// Removes the bar.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl Progress for Reporter {
    fn planned(&self, _repositories: usize, tags: usize) {
        self.tags_total.store(tags as u64, Ordering::Relaxed);
        if let Some(bar) = &self.bar {
            bar.set_length(tags as u64);
        }
    }

    fn tag_done(&self, _repository: &str, _tag: &str) {
        self.tags_done.fetch_add(1, Ordering::Relaxed);
        if let Some(bar) = &self.bar {
            bar.inc(1);
        }
    }

    fn bytes(&self, n: u64) {
        let total = self.bytes.fetch_add(n, Ordering::Relaxed) + n;
        if let Some(bar) = &self.bar {
            bar.set_message(human_bytes(total));
        }
    }
}

/// `1.2 GB`-style sizes (decimal units, as registries and the bench report them).
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// A count and its noun in the number it takes: `1 repository`, `0 repositories`, `3 repositories`.
pub fn counted<N: std::fmt::Display + PartialEq + From<u8>>(n: N, one: &str, many: &str) -> String {
    if n == N::from(1) {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

#[cfg(test)]
mod tests {
    use super::counted;

    #[test]
    fn one_takes_the_singular_and_every_other_count_the_plural() {
        assert_eq!(counted(1u32, "repository", "repositories"), "1 repository");
        assert_eq!(
            counted(0u64, "repository", "repositories"),
            "0 repositories"
        );
        assert_eq!(counted(12u16, "tag", "tags"), "12 tags");
    }
}
