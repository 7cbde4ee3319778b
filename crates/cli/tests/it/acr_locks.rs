//! ACR lock attributes and metadata access, end to end: the real binary between two ACR fronts
//! ([`crate::support::acr_front`]: ACR's metadata API with locks kept and enforced, over a real
//! `docker-registry`), named with `--acr` since they listen on 127.0.0.1.

use std::collections::BTreeMap;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use acr_relocate::sample::Expected;

use crate::support::acr_front::{AcrFront, Attrs};
use crate::util::*;

/// Longest a test waits for a copy to reach a held upload, or to exit after Ctrl-C.
const PATIENCE: Duration = Duration::from_secs(60);

/// A front holding the sample content of `repositories` repositories written with `seed` (the
/// same names for every seed, other content).
fn sample_front(repositories: usize, seed: u64) -> (AcrFront, Expected) {
    let front = AcrFront::start();
    let (dir, expected) = sample_layout(repositories, seed);
    assert_success(&run(&["copy", "-q", &oci(dir.path()), &front.url()]));
    (front, expected)
}

/// `acr-relocate copy --acr=both -q EXTRA… SOURCE TARGET`.
fn copy_between(source: &AcrFront, target: &AcrFront, extra: &[&str]) -> Output {
    let mut args = vec!["copy", "--acr=both", "-q"];
    args.extend_from_slice(extra);
    let (s, t) = (source.url(), target.url());
    args.extend([s.as_str(), t.as_str()]);
    run(&args)
}

/// The index of the first event from `from` on that starts with `prefix` and holds `needle`.
fn position(events: &[String], from: usize, prefix: &str, needle: &str) -> usize {
    events
        .iter()
        .skip(from)
        .position(|e| e.starts_with(prefix) && e.contains(needle))
        .map(|i| from + i)
        .unwrap_or_else(|| panic!("no event `{prefix}…{needle}` from {from} on in {events:#?}"))
}

/// Asserts that every item of `before` has the same attributes in `after`.
fn assert_kept(before: &BTreeMap<String, Attrs>, after: &BTreeMap<String, Attrs>, out: &Output) {
    for (item, attrs) in before {
        assert_eq!(
            after.get(item),
            Some(attrs),
            "{item} lost its attributes\n{}{}",
            stdout(out),
            stderr(out)
        );
    }
}

#[test]
fn a_copy_between_two_acrs_gives_the_target_the_sources_locks() {
    let (source, _) = sample_front(3, 7);
    let target = AcrFront::start();
    let pinned = source.tag_digest("team/app/svc-0", "v1.1.0").unwrap();
    source.set_repository("team/svc-1", Attrs::LOCKED);
    source.set_tag("team/app/svc-0", "v1.0.0", Attrs::LOCKED);
    source.set_tag("svc2", "latest", Attrs::NO_DELETE);
    source.set_manifest("team/app/svc-0", &pinned, Attrs::NO_DELETE);
    // Two entries a page: the `_tags` and `_manifests` listings are followed through their Links.
    let out = copy_between(&source, &target, &["--page-size", "2"]);
    assert_success(&out);
    let (want, got) = (source.attributes(), target.attributes());
    assert_eq!(got, want, "{}", stdout(&out));
    assert_eq!(got["team/svc-1"], Attrs::LOCKED);
    assert_eq!(got["team/app/svc-0:v1.0.0"], Attrs::LOCKED);
    assert_eq!(got[&format!("team/app/svc-0@{pinned}")], Attrs::NO_DELETE);
    // The repository lock came after everything written under it.
    let events = target.events();
    assert!(
        !events.iter().any(|e| e.starts_with("REFUSED")),
        "{events:#?}"
    );
    let pushed = position(&events, 0, "PUT team/svc-1:", "");
    position(&events, pushed, "PATCH team/svc-1 ", "writeEnabled=false");
    let verify = run(&["verify", "--acr=both", &source.url(), &target.url()]);
    assert_success(&verify);
}

#[test]
fn a_write_locked_target_tag_that_differs_is_unlocked_overwritten_and_locked_again() {
    let (source, _) = sample_front(1, 7);
    let (target, _) = sample_front(1, 8);
    let (repo, tag) = ("team/app/svc-0", "v1.0.0");
    let wanted = source.tag_digest(repo, tag).unwrap();
    assert_ne!(target.tag_digest(repo, tag), Some(wanted.clone()));
    for front in [&source, &target] {
        front.set_repository(repo, Attrs::LOCKED);
        front.set_tag(repo, tag, Attrs::LOCKED);
    }
    let out = copy_between(&source, &target, &[]);
    assert_success(&out);
    assert_eq!(target.tag_digest(repo, tag), Some(wanted));
    let got = target.attributes();
    assert_eq!(got[repo], Attrs::LOCKED);
    assert_eq!(got[&format!("{repo}:{tag}")], Attrs::LOCKED);
    let events = target.events();
    assert!(
        !events.iter().any(|e| e.starts_with("REFUSED")),
        "{events:#?}"
    );
    // In this order: unlock the repository, unlock the tag, push, lock the tag, lock the
    // repository.
    let mut at = position(&events, 0, &format!("PATCH {repo} "), "writeEnabled=true");
    at = position(
        &events,
        at,
        &format!("PATCH {repo}:{tag} "),
        "writeEnabled=true",
    );
    at = position(&events, at, &format!("PUT {repo}:{tag}"), "");
    at = position(
        &events,
        at,
        &format!("PATCH {repo}:{tag} "),
        "writeEnabled=false",
    );
    position(&events, at, &format!("PATCH {repo} "), "writeEnabled=false");
    assert!(stdout(&out).contains(&format!("locks: unlocked {repo}:{tag} writeEnabled=true")));
}

#[test]
fn without_lock_sync_a_write_locked_target_tag_refuses_the_copy_and_is_reported() {
    let (source, _) = sample_front(1, 7);
    let (target, _) = sample_front(1, 8);
    let (repo, tag) = ("team/app/svc-0", "v1.0.0");
    let kept = target.tag_digest(repo, tag);
    target.set_tag(repo, tag, Attrs::LOCKED);
    let out = copy_between(&source, &target, &["--no-locks"]);
    assert_exit_code(&out, 1);
    assert_eq!(
        target.tag_digest(repo, tag),
        kept,
        "the locked tag did not move"
    );
    let failed = stdout(&out)
        .lines()
        .find(|l| l.starts_with(&format!("FAILED {repo}:{tag}:")))
        .map(str::to_string)
        .unwrap_or_else(|| panic!("no FAILED line for the tag:\n{}", stdout(&out)));
    assert!(failed.contains("405"), "{failed}");
    assert!(target
        .events()
        .contains(&format!("REFUSED PUT {repo}:{tag}")));
    assert_eq!(target.attributes()[&format!("{repo}:{tag}")], Attrs::LOCKED);
}

/// The target's `team/svc-1` is write-locked (repository and two tags) while the source's is
/// not: the copy unlocks it, and then fails in it.
fn locked_failing_repository(target: &AcrFront) -> (&'static str, BTreeMap<String, Attrs>) {
    let repo = "team/svc-1";
    target.set_repository(repo, Attrs::LOCKED);
    target.set_tag(repo, "v1.0.0", Attrs::LOCKED);
    target.set_tag(repo, "v1.1.0", Attrs::LOCKED);
    (repo, target.attributes_of(repo))
}

#[test]
fn a_copy_that_fails_midway_sets_every_lock_it_removed_again() {
    let (source, _) = sample_front(3, 7);
    let (target, _) = sample_front(3, 8);
    let (repo, before) = locked_failing_repository(&target);
    target.fail_uploads(repo, 1);
    let out = copy_between(&source, &target, &[]);
    assert_exit_code(&out, 1);
    assert!(
        stdout(&out).contains(&format!("FAILED {repo}:")),
        "{}",
        stdout(&out)
    );
    let events = target.events();
    position(&events, 0, &format!("PATCH {repo} "), "writeEnabled=true");
    position(&events, 0, "INJECTED 500", repo);
    assert_kept(&before, &target.attributes_of(repo), &out);
    // The other repositories were copied all the same.
    assert_eq!(
        target.tag_digest("svc2", "v1.0.0"),
        source.tag_digest("svc2", "v1.0.0")
    );
}

/// Runs `copy --acr=both -q SOURCE TARGET`, waits until `target` holds a request, sends Ctrl-C
/// (SIGINT), lets the held requests through and waits for the exit (every wait bounded).
fn interrupt_copy(source: &AcrFront, target: &AcrFront) -> Output {
    let child = Command::new(env!("CARGO_BIN_EXE_acr-relocate"))
        .args(["copy", "--acr=both", "-q", &source.url(), &target.url()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id().to_string();
    let (done, exited) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(child.wait_with_output());
    });
    let kill = || {
        let _ = Command::new("kill").args(["-KILL", &pid]).status();
    };
    if !target.wait_until_held(PATIENCE) {
        kill();
        panic!(
            "no request held within {PATIENCE:?}: {:#?}",
            target.events()
        );
    }
    let signalled = Command::new("kill").args(["-INT", &pid]).status().unwrap();
    assert!(signalled.success());
    target.release();
    match exited.recv_timeout(PATIENCE) {
        Ok(out) => out.unwrap(),
        Err(_) => {
            kill();
            panic!("the copy did not stop within {PATIENCE:?} of Ctrl-C");
        }
    }
}

#[test]
fn an_interrupted_copy_sets_every_lock_it_removed_again() {
    let (source, _) = sample_front(3, 7);
    let (target, _) = sample_front(3, 8);
    let (repo, before) = locked_failing_repository(&target);
    // Ctrl-C comes while the copy is in the middle of `repo`, after the unlocks.
    target.hold_uploads(repo);
    let out = interrupt_copy(&source, &target);
    assert_exit_code(&out, 130);
    assert!(stderr(&out).contains("interrupted"), "{}", stderr(&out));
    position(
        &target.events(),
        0,
        &format!("PATCH {repo} "),
        "writeEnabled=true",
    );
    assert_kept(&before, &target.attributes_of(repo), &out);
}

#[test]
fn ctrl_c_between_two_unlocks_stops_the_copy_and_sets_the_locks_again() {
    let (source, _) = sample_front(3, 7);
    let (target, _) = sample_front(3, 8);
    let (repo, before) = locked_failing_repository(&target);
    // The repository is unlocked; Ctrl-C comes while its first tag is being unlocked.
    target.hold_patches(1);
    let out = interrupt_copy(&source, &target);
    assert_exit_code(&out, 130);
    let events = target.events();
    let unlocked = position(&events, 0, &format!("PATCH {repo} "), "writeEnabled=true");
    position(&events, unlocked, "HELD PATCH", "_tags");
    assert_kept(&before, &target.attributes_of(repo), &out);
}

#[test]
fn a_source_that_refuses_metadata_reads_copies_its_tags_and_says_untagged_manifests_were_skipped() {
    for status in [401, 403] {
        let (source, expected) = sample_front(2, 7);
        source.refuse_metadata(status);
        let target = Registry::start();
        let out = run(&["copy", "--acr=source", &source.url(), &target.url()]);
        assert_success(&out);
        assert_holds(&open(&target.url()), &expected.tags, None);
        let text = stdout(&out);
        for repo in expected.tags.keys() {
            let line = text
                .lines()
                .find(|l| l.starts_with(&format!("skipped {repo}:")))
                .unwrap_or_else(|| panic!("HTTP {status}: no skipped line for {repo}:\n{text}"));
            assert!(
                line.contains("untagged manifests") && line.contains("--tagged-only"),
                "{line}"
            );
        }
    }
}

#[test]
fn a_copy_between_acrs_whose_source_refuses_metadata_reads_reports_the_locks_it_could_not_sync() {
    let (source, expected) = sample_front(2, 7);
    source.refuse_metadata(401);
    let target = AcrFront::start();
    let out = copy_between(&source, &target, &[]);
    assert_exit_code(&out, 1);
    assert_holds(&open(&target.url()), &expected.tags, None);
    let text = stdout(&out);
    for repo in expected.tags.keys() {
        assert!(
            text.lines()
                .any(|l| l.starts_with(&format!("FAILED locks {repo}:"))
                    && l.contains(
                        "the source's credentials may not read its ACR metadata (HTTP 401"
                    )
                    && l.ends_with("grant them metadata read, or pass --no-locks")),
            "{repo}:\n{text}"
        );
    }
    assert_success(&copy_between(
        &source,
        &target,
        &["--no-locks", "--tagged-only"],
    ));
}

#[test]
fn verify_reports_an_error_when_the_source_refuses_metadata_reads() {
    let (source, _) = sample_front(2, 7);
    let target = AcrFront::start();
    assert_success(&copy_between(&source, &target, &[]));
    assert_success(&run(&[
        "verify",
        "--acr=both",
        &source.url(),
        &target.url(),
    ]));
    source.refuse_metadata(401);
    // Between two ACRs the lock comparison cannot read the source; with only the source an ACR,
    // the check of its untagged manifests cannot list them.
    for (side, says) in [
        (
            "both",
            "source's credentials may not read its ACR metadata (HTTP 401 from /acr/v1): grant them metadata read, or pass --no-locks --tagged-only",
        ),
        ("source", "may not read this ACR repository's metadata"),
    ] {
        let acr = format!("--acr={side}");
        let out = run(&["verify", &acr, &source.url(), &target.url()]);
        assert_exit_code(&out, 1);
        let text = stdout(&out);
        assert!(
            text.lines()
                .any(|l| l.starts_with("error team/app/svc-0") && l.contains(says)),
            "{acr}:\n{text}"
        );
    }
    // Without untagged manifests and locks, nothing needs the metadata.
    let out = run(&[
        "verify",
        "--acr=both",
        "--no-locks",
        "--tagged-only",
        &source.url(),
        &target.url(),
    ]);
    assert_success(&out);
}

#[test]
fn a_dry_run_between_acrs_says_what_it_would_unlock_and_changes_nothing() {
    let (source, _) = sample_front(1, 7);
    let (target, _) = sample_front(1, 8);
    let (repo, tag) = ("team/app/svc-0", "v1.0.0");
    target.set_tag(repo, tag, Attrs::LOCKED);
    let before = target.attributes();
    let seen = target.events().len();
    let out = copy_between(&source, &target, &["--dry-run"]);
    assert_success(&out);
    assert!(
        stderr(&out).contains(&format!(
            "locks: would unlock {repo}:{tag} writeEnabled=true for the copy"
        )),
        "{}",
        stderr(&out)
    );
    assert_eq!(target.events()[seen..], [] as [String; 0]);
    assert_eq!(target.attributes(), before);
}

#[test]
fn delete_source_leaves_a_delete_locked_tag_and_reports_it() {
    let (source, _) = sample_front(1, 7);
    let target = AcrFront::start();
    assert_success(&copy_between(&source, &target, &[]));
    let (repo, tag) = ("team/app/svc-0", "v1.0.0");
    let locked = source.tag_digest(repo, tag).unwrap();
    source.set_tag(repo, tag, Attrs::NO_DELETE);
    let (s, t) = (source.url(), target.url());
    let out = run(&[
        "delete-source",
        "--acr=both",
        &s,
        "--verified-against",
        &t,
        "--confirm",
        &s,
    ]);
    assert_exit_code(&out, 1);
    let refused = format!("failed {repo}@{locked} ({tag}): ");
    assert!(
        stdout(&out)
            .lines()
            .any(|l| l.starts_with(&refused) && l.contains("405")),
        "{}",
        stdout(&out)
    );
    assert!(source
        .events()
        .contains(&format!("REFUSED DELETE {repo}:{locked}")));
    assert_eq!(source.tag_digest(repo, tag), Some(locked));
    assert_eq!(source.tag_digest(repo, "v1.1.0"), None, "the others went");
}

/// A `--tag` selection takes the tags that describe what it selects (here the referrers fallback
/// tag of the selected image): the copy brings them, and their locks follow as the tag's do.
#[test]
fn a_tag_selection_gives_the_tags_that_describe_it_the_sources_locks_too() {
    let (source, expected) = sample_front(3, 7);
    let target = AcrFront::start();
    let (repo, subject, _) = &expected.referrers[0];
    let tag = expected.tags[repo]
        .iter()
        .find(|(_, digest)| *digest == subject)
        .map(|(tag, _)| tag.clone())
        .expect("a tag of the referrer's subject");
    let fallback = subject.as_str().replacen(':', "-", 1);
    source.set_tag(repo, &fallback, Attrs::NO_DELETE);
    let exact = format!("^{}$", tag.replace('.', "\\."));
    let out = copy_between(&source, &target, &["--tag", &exact]);
    assert_success(&out);
    let got = target.attributes();
    assert_eq!(
        got.get(&format!("{repo}:{fallback}")),
        Some(&Attrs::NO_DELETE),
        "{}",
        stdout(&out)
    );
    let verify = run(&[
        "verify",
        "--acr=both",
        "--tag",
        &exact,
        &source.url(),
        &target.url(),
    ]);
    assert_success(&verify);
}
