//! Temporary files a killed process left beside what it was writing (SIGKILL, a power loss):
//! named by a prefix, the writer's process ID and optionally `-` and more
//! (`index.tmp-4242`, `.plan.json.tmp-4242-x8Yz`), and removed by a later writer once that
//! process is gone, so that they do not pile up beside the user's files.

use std::path::Path;

/// True when `name` is `prefix`, then a process ID (then nothing, or `-` and more), of a process
/// no longer running. Only where that can be told (Linux's `/proc`); false elsewhere, and for a
/// process this one cannot see.
pub fn left_by_a_gone_process(name: &str, prefix: &str) -> bool {
    let Some(pid) = writer_of(name, prefix) else {
        return false;
    };
    let proc = Path::new("/proc");
    cfg!(target_os = "linux") && proc.join("self").exists() && !proc.join(pid).exists()
}

/// The process ID in `name` when it is `prefix`, then digits (then nothing, or `-` and more):
/// a temporary file of that process, whether it still runs or not.
pub fn writer_of<'n>(name: &'n str, prefix: &str) -> Option<&'n str> {
    let pid = name.strip_prefix(prefix)?.split('-').next()?;
    (!pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit())).then_some(pid)
}

/// Removes the files of `dir` that [`left_by_a_gone_process`] names for any of `prefixes`.
pub fn remove(dir: &Path, prefixes: &[&str]) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if prefixes
            .iter()
            .any(|prefix| left_by_a_gone_process(&name, prefix))
        {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_files_of_processes_no_longer_running_are_named() {
        // PIDs above the kernel's limit (4194304) belong to no process.
        assert!(left_by_a_gone_process("index.tmp-4999999", "index.tmp-"));
        assert!(left_by_a_gone_process(
            ".p.json.tmp-4999999-aB3",
            ".p.json.tmp-"
        ));
        let mine = format!("index.tmp-{}", std::process::id());
        assert!(!left_by_a_gone_process(&mine, "index.tmp-"));
        assert!(!left_by_a_gone_process("index.tmp-", "index.tmp-"));
        assert!(!left_by_a_gone_process("index.tmp-x1", "index.tmp-"));
        assert!(!left_by_a_gone_process("index.json", "index.tmp-"));
    }
}
