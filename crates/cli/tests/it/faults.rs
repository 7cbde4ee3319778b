//! Faults, kills and resumption: a relocation that never loses or corrupts anything.

use std::time::Duration;

use crate::fault_proxy::{FaultProxy, Schedule};
use crate::util::*;

#[test]
fn a_copy_through_hundreds_of_faults_finishes_verified() {
    let (src, expected) = sample_registry(60);
    let dst = Registry::start();
    let schedule = |seed| Schedule {
        seed,
        status_permille: 80,
        reset_permille: 35,
        stall_permille: 5,
        stall: Duration::from_millis(2500),
        max_stalls: 4,
        corrupt_permille: 20,
    };
    let src_proxy = FaultProxy::start(src.port, schedule(11));
    let dst_proxy = FaultProxy::start(dst.port, schedule(12));
    let out = run(&[
        "copy",
        "-q",
        "--json",
        "--read-timeout",
        "2",
        &src_proxy.url(),
        &dst_proxy.url(),
    ]);
    let faults = src_proxy.counts.faults() + dst_proxy.counts.faults();
    eprintln!(
        "faults injected: src {:?}, dst {:?}",
        src_proxy.counts, dst_proxy.counts
    );
    assert_success(&out);
    assert!(faults >= 200, "only {faults} faults injected");
    // Checked directly against the registries, without the proxies.
    assert_holds(&open(&dst.url()), &expected.tags, None);
    assert_success(&run(&["verify", "--deep", &src.url(), &dst.url()]));
}

/// After any kill, every tag in the target points at complete content (the deep verify finds
/// nothing broken, only missing tags), and a re-run finishes the copy.
#[test]
fn a_copy_killed_at_random_points_never_leaves_a_broken_tag_and_resumes() {
    use rand::{Rng, SeedableRng};
    let (src, expected) = sample_registry(40);
    let dst = Registry::start();
    let mut rng = rand::rngs::StdRng::seed_from_u64(2024);
    let mut kills = 0;
    for _ in 0..12 {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_acr-relocate"))
            .args(["copy", "-q", "-j", "4", &src.url(), &dst.url()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(rng.gen_range(50..600)));
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap(); // SIGKILL
            kills += 1;
        }
        child.wait().unwrap();
        let report = json(&run(&[
            "verify",
            "--deep",
            "--json",
            &src.url(),
            &dst.url(),
        ]));
        assert_eq!(
            report["broken"].as_array().unwrap().len(),
            0,
            "after a kill: {report}"
        );
        assert_eq!(
            report["different"].as_array().unwrap().len(),
            0,
            "after a kill: {report}"
        );
    }
    eprintln!("kills survived: {kills}");
    assert!(kills >= 10, "only {kills} runs were killed in flight");
    let out = run(&["copy", "-q", "--json", &src.url(), &dst.url()]);
    assert_success(&out);
    assert_holds(&open(&dst.url()), &expected.tags, None);
    assert_success(&run(&["verify", "--deep", &src.url(), &dst.url()]));
}

/// Ctrl-C stops cleanly: exit 130, a summary of what was done, and nothing broken in the target.
#[test]
fn ctrl_c_stops_cleanly_with_a_summary_and_exit_130() {
    let (src, expected) = sample_registry(40);
    let dst = Registry::start();
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_acr-relocate"))
        .args(["copy", "-q", "-j", "2", &src.url(), &dst.url()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(400));
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    if out.status.code() == Some(0) {
        // The copy finished before the signal arrived: nothing to check but completeness.
        assert_holds(&open(&dst.url()), &expected.tags, None);
        return;
    }
    assert_eq!(out.status.code(), Some(130), "{err}");
    assert!(err.contains("interrupted"), "{err}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("tags"),
        "a summary is printed"
    );
    let report = json(&run(&[
        "verify",
        "--deep",
        "--json",
        &src.url(),
        &dst.url(),
    ]));
    assert_eq!(report["broken"].as_array().unwrap().len(), 0, "{report}");
    assert_success(&run(&["copy", "-q", &src.url(), &dst.url()]));
    assert_holds(&open(&dst.url()), &expected.tags, None);
}

/// A blob download cut off in the middle goes on from where it stopped (`Range`), instead of
/// starting the blob again.
#[test]
fn interrupted_downloads_resume_with_a_range_request() {
    let (src, expected) = sample_registry(12);
    let dst = Registry::start();
    let proxy = FaultProxy::start(
        src.port,
        Schedule {
            seed: 5,
            status_permille: 0,
            reset_permille: 300,
            stall_permille: 0,
            stall: Duration::from_millis(0),
            max_stalls: 0,
            corrupt_permille: 0,
        },
    );
    let out = run(&["copy", "-q", &proxy.url(), &dst.url()]);
    assert_success(&out);
    let ranges = proxy
        .counts
        .ranges
        .load(std::sync::atomic::Ordering::Relaxed);
    assert!(ranges > 0, "no download was resumed: {:?}", proxy.counts);
    assert_holds(&open(&dst.url()), &expected.tags, None);
}
