//! Faults, kills and resumption: a relocation that never loses or corrupts anything.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::time::Duration;

use acr_relocate::digest::Digest;
use acr_relocate::manifest::{RawManifest, OCI_MANIFEST};
use acr_relocate::transport::{layout::Layout, Destination};

use crate::fault_proxy::{FaultProxy, Schedule};
use crate::util::*;

/// The `verify --deep --json` report of `dst` against `src`.
fn deep_verify_report(src: &Registry, dst: &Registry) -> serde_json::Value {
    json(&run(&[
        "verify",
        "--deep",
        "--json",
        &src.url(),
        &dst.url(),
    ]))
}

/// Asserts that `verify --deep` of `dst` against `src` passes.
fn assert_deep_verify_passes(src: &Registry, dst: &Registry) {
    assert_success(&run(&["verify", "--deep", &src.url(), &dst.url()]));
}

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
        ..Default::default()
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
    assert_deep_verify_passes(&src, &dst);
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
        let report = deep_verify_report(&src, &dst);
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
    assert_deep_verify_passes(&src, &dst);
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
    let report = deep_verify_report(&src, &dst);
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
            // One answer in five cut: enough to resume many downloads, and a manifest read cut
            // on all of its 6 attempts (0.2^6 a read) stays out of the run's way.
            reset_permille: 200,
            stall_permille: 0,
            stall: Duration::from_millis(0),
            max_stalls: 0,
            corrupt_permille: 0,
            ..Default::default()
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

/// Repository → tag → manifest digest.
type Tags = BTreeMap<String, BTreeMap<String, Digest>>;

/// Chunk size of the upload tests: blobs of about 1 MiB go up in 16 or 17 PATCH requests.
const CHUNK: u64 = 64 * 1024;

/// Runs `copy -q --chunk-size CHUNK SRC DST` (endpoints).
fn copy_in_chunks(src: &str, dst: &str) -> std::process::Output {
    let chunk = CHUNK.to_string();
    run(&["copy", "-q", "--chunk-size", &chunk, src, dst])
}

/// A registry holding `images` images (`big/app-N:v1`) of `layers` random layers of a little more
/// than 1 MiB each. Returns it, its tags, and the layers (digest and size).
fn big_blob_registry(
    images: usize,
    layers: usize,
    seed: u64,
) -> (Registry, Tags, Vec<(Digest, u64)>) {
    use rand::{Rng, RngCore, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("layout");
    let layout = Layout::create(&root).unwrap();
    let mut tags = BTreeMap::new();
    let mut all_layers = Vec::new();
    // Blobs are written where a layout keeps them; manifests through the library.
    let write_blob = |bytes: &[u8]| {
        let digest = Digest::of(bytes);
        std::fs::write(root.join("blobs/sha256").join(digest.hex()), bytes).unwrap();
        serde_json::json!({"digest": digest.to_string(), "size": bytes.len()})
    };
    for i in 0..images {
        let mut descriptors = Vec::new();
        for _ in 0..layers {
            let mut bytes = vec![0u8; 1024 * 1024 + rng.gen_range(1..50_000)];
            rng.fill_bytes(&mut bytes);
            let mut d = write_blob(&bytes);
            all_layers.push((Digest::of(&bytes), bytes.len() as u64));
            d["mediaType"] = "application/vnd.oci.image.layer.v1.tar+gzip".into();
            descriptors.push(d);
        }
        let config = serde_json::json!({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}, "history": [{"created_by": format!("image {i}")}]});
        let mut config = write_blob(&serde_json::to_vec(&config).unwrap());
        config["mediaType"] = "application/vnd.oci.image.config.v1+json".into();
        let manifest = serde_json::json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": config, "layers": descriptors});
        let manifest = RawManifest::new(
            serde_json::to_vec(&manifest).unwrap().into(),
            Some(OCI_MANIFEST),
        )
        .unwrap();
        let repository = format!("big/app-{i}");
        block_on(layout.put_manifest(&repository, Some("v1"), &manifest)).unwrap();
        tags.insert(
            repository,
            BTreeMap::from([("v1".to_string(), manifest.digest)]),
        );
    }
    block_on(layout.finish()).unwrap();
    let registry = Registry::start();
    let layout_endpoint = format!("oci:{}", root.display());
    assert_success(&run(&["copy", "-q", &layout_endpoint, &registry.url()]));
    (registry, tags, all_layers)
}

/// Chunked uploads cut in the middle of a PATCH go on from the byte the registry says it holds: no
/// byte reaches the registry twice, and the copy verifies.
#[test]
fn interrupted_chunked_uploads_resume_where_the_registry_stands() {
    let (src, tags, layers) = big_blob_registry(3, 2, 31);
    let layer_bytes: u64 = layers.iter().map(|(_, size)| size).sum();
    let dst = Registry::start();
    let proxy = FaultProxy::start(
        dst.port,
        Schedule {
            seed: 21,
            cut_permille: 150,
            ..Default::default()
        },
    );
    let out = copy_in_chunks(&src.url(), &proxy.url());
    assert_success(&out);
    let c = &proxy.counts;
    let cuts = c.cuts.load(Ordering::Relaxed);
    let resumed = c.resumed_patches.load(Ordering::Relaxed);
    let sent = c.patch_bytes.load(Ordering::Relaxed);
    let offsets = c.resume_offsets.lock().unwrap().clone();
    let mid_chunk = offsets.iter().filter(|o| *o % CHUNK != 0).count();
    eprintln!(
        "{} layers, {layer_bytes} bytes; PATCH bytes that reached the registry: {sent}; cuts: {cuts}; \
         status requests: {}; resumed PATCHes: {resumed} ({mid_chunk} in the middle of a chunk)",
        layers.len(),
        c.status_gets.load(Ordering::Relaxed)
    );
    assert!(cuts >= 3, "only {cuts} uploads were cut");
    assert!(
        resumed >= cuts,
        "{cuts} cuts but only {resumed} resumed PATCH requests"
    );
    assert!(mid_chunk > 0, "no upload resumed in the middle of a chunk");
    // Starting over would send the bytes before each cut again.
    assert!(
        sent < layer_bytes + layer_bytes / 10,
        "{sent} PATCH bytes for {layer_bytes} bytes of layers"
    );
    assert_holds(&open(&dst.url()), &tags, None);
    assert_deep_verify_passes(&src, &dst);
}

/// A source that serves other bytes when read again from the resume point: the resumed upload
/// ends in a digest error, and the registry never holds anything under that digest; the same
/// wrong bytes on the next read are the source's, named as such.
#[test]
fn a_resumed_upload_of_changed_source_bytes_is_never_completed() {
    let (src, _, layers) = big_blob_registry(1, 1, 32);
    let (layer, _) = layers[0].clone();
    let src_proxy = FaultProxy::start(
        src.port,
        Schedule {
            seed: 1,
            corrupt_ranges: true,
            ..Default::default()
        },
    );
    let dst = Registry::start();
    // Every upload is cut once, from its third chunk on: the source is then read again from the
    // last checkpoint with a `Range` request, whose bytes the source proxy changes.
    let dst_proxy = FaultProxy::start(
        dst.port,
        Schedule {
            seed: 2,
            cut_permille: 1000,
            cut_from: 2 * CHUNK,
            max_cuts_per_upload: 1,
            ..Default::default()
        },
    );
    let out = copy_in_chunks(&src_proxy.url(), &dst_proxy.url());
    eprintln!(
        "source: {:?}\ntarget: {:?}",
        src_proxy.counts, dst_proxy.counts
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("is wrong in the SOURCE (its bytes hash to sha256:"),
        "{}",
        stdout(&out)
    );
    assert!(dst_proxy.counts.resumed_patches.load(Ordering::Relaxed) > 0);
    assert!(src_proxy.counts.corruptions.load(Ordering::Relaxed) > 0);
    let dst_store = open(&dst.url());
    assert!(!block_on(dst_store.blob_size("big/app-0", &layer))
        .unwrap()
        .is_held());
}

/// A registry that refuses the URL of an upload cut after some of its bytes arrived (plain
/// Distribution signs the offset into it): the session is lost, so the blob starts over from byte
/// 0, as it did before uploads could resume, and the copy still verifies.
#[test]
fn a_lost_upload_session_starts_the_blob_over() {
    let (src, tags, _) = big_blob_registry(1, 1, 33);
    let dst = Registry::start();
    let proxy = FaultProxy::start(
        dst.port,
        Schedule {
            seed: 3,
            cut_permille: 1000,
            cut_from: CHUNK,
            max_cuts: 1,
            stale_upload_urls: true,
            ..Default::default()
        },
    );
    let out = copy_in_chunks(&src.url(), &proxy.url());
    assert_success(&out);
    let c = &proxy.counts;
    assert_eq!(c.cuts.load(Ordering::Relaxed), 1);
    assert_eq!(c.status_gets.load(Ordering::Relaxed), 1);
    assert_eq!(
        c.resumed_patches.load(Ordering::Relaxed),
        0,
        "the refused session was not resumed"
    );
    assert_holds(&open(&dst.url()), &tags, None);
    assert_deep_verify_passes(&src, &dst);
}

/// Waits for `child` to end, at most `seconds`; kills it and fails the test otherwise.
fn wait_at_most(mut child: std::process::Child, seconds: u64, what: &str) -> std::process::Output {
    for _ in 0..seconds * 10 {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    child.kill().unwrap();
    let out = child.wait_with_output().unwrap();
    panic!(
        "{what} still running after {seconds} s:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Starts the binary with `args`, its output piped.
fn spawn(args: &[&str]) -> std::process::Child {
    std::process::Command::new(env!("CARGO_BIN_EXE_acr-relocate"))
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

/// A target killed in the middle of a copy: the run gives it up after `--unreachable-after`
/// (2 s here, 60 s by default) with one line naming the side, the host and since when, exit 3,
/// instead of retrying tag after tag, and the summary of what it did before on stdout; every tag
/// already in the target points at complete content, and the same command, once the registry is
/// back, finishes the copy.
#[test]
fn a_target_that_dies_mid_copy_ends_the_run_with_exit_3_and_the_same_command_resumes() {
    let (dir, expected) = sample_layout(40, 7);
    let src = oci(dir.path());
    let mut dst = Registry::start();
    let dst_url = dst.url();
    let child = spawn(&[
        "copy",
        "-q",
        "-j",
        "1",
        "--unreachable-after",
        "2",
        &src,
        &dst_url,
    ]);
    // Killed once the first repository has arrived.
    let repositories = dst.repository_dir("");
    for _ in 0..400 {
        if std::fs::read_dir(&repositories).is_ok_and(|mut d| d.next().is_some()) {
            break;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    dst.kill();
    let out = wait_at_most(child, 60, "the copy into a dead target");
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    assert!(
        err.starts_with(&format!(
            "error: TARGET 127.0.0.1:{}: unreachable since ",
            dst.port
        )),
        "{err}"
    );
    assert!(err.contains("connection refused on every request"), "{err}");
    assert!(
        err.contains("nothing half-written; run the same command again to resume"),
        "{err}"
    );
    let summary = stdout(&out);
    assert!(
        summary.starts_with("copied ")
            && summary.contains(&format!(" of {} tags in ", expected.tag_count())),
        "the summary of what was done before the stop: {summary}"
    );
    dst.restart();
    // Nothing half-written: what the target holds is complete.
    let report = json(&run(&["verify", "--deep", "--json", &src, &dst_url]));
    assert_eq!(report["broken"].as_array().unwrap().len(), 0, "{report}");
    assert_eq!(report["different"].as_array().unwrap().len(), 0, "{report}");
    assert!(
        !report["missing"].as_array().unwrap().is_empty(),
        "the copy stopped before the end: {report}"
    );
    // The same command finishes the job.
    assert_success(&run(&["copy", "-q", &src, &dst_url]));
    assert_holds(&open(&dst_url), &expected.tags, None);
}

/// A source that dies in the middle of a verify ends it with exit 3 and one line naming the
/// source, not with a report listing every item it could no longer read.
#[test]
fn a_source_that_dies_mid_verify_ends_it_with_exit_3_naming_the_source() {
    let (mut src, _) = sample_registry(12);
    let dst = Registry::start();
    assert_success(&run(&["copy", "-q", &src.url(), &dst.url()]));
    // 100 ms per request: the verify takes long enough to lose its source on the way.
    let proxy = FaultProxy::start(src.port, Schedule::distant());
    let child = spawn(&[
        "verify",
        "--deep",
        "-j",
        "1",
        "--max-jobs",
        "1",
        "--unreachable-after",
        "2",
        &proxy.url(),
        &dst.url(),
    ]);
    for _ in 0..400 {
        if proxy.counts.requests.load(Ordering::Relaxed) >= 10 {
            break;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    src.kill();
    let out = wait_at_most(child, 60, "the verify of a dead source");
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(3), "{err}\n{}", stdout(&out));
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    assert!(
        err.starts_with(&format!(
            "error: SOURCE 127.0.0.1:{}: unreachable since ",
            proxy.port
        )),
        "{err}"
    );
    assert!(stdout(&out).is_empty(), "no report: {}", stdout(&out));
}

/// A manifest read by tag whose bytes hash to another digest than the one the registry announces
/// (`Docker-Content-Digest`; here a proxy serves another tag's bytes under the first's headers)
/// is not copied: the tag fails naming the header, and the target never holds it.
#[test]
fn a_manifest_whose_bytes_contradict_the_registrys_digest_is_not_copied() {
    use crate::support::http::{Response, Server};
    use crate::support::mount_proxy::{forward, forward_as_sent};

    let (src, expected) = sample_registry(1);
    let (repo, tags) = expected
        .tags
        .iter()
        .find(|(_, tags)| {
            let digests: std::collections::BTreeSet<_> = tags.values().collect();
            digests.len() > 1
        })
        .expect("a repository with two tags of different digests");
    let mut different = tags.iter();
    let (swapped, swapped_digest) = different.next().unwrap();
    let (other, _) = different.find(|(_, d)| *d != swapped_digest).unwrap();
    let (port, repo_path) = (src.port, format!("/v2/{repo}/manifests/"));
    let (swapped_tag, other_tag) = (swapped.clone(), other.clone());
    let proxy = Server::start_raw(move |request| {
        if request.method != "GET" || request.path != format!("{repo_path}{swapped_tag}") {
            return forward_as_sent(port, request);
        }
        let announced = forward_as_sent(port, request);
        let bytes = forward(port, request, &format!("{repo_path}{other_tag}"));
        let mut response = Response::new(200, bytes.body);
        for (name, value) in &announced.headers {
            response = response.header(name, value.clone());
        }
        response
    });
    let out_dir = tempfile::tempdir().unwrap();
    let target = format!("oci:{}", out_dir.path().join("out").display());
    let out = run(&["copy", "-q", "--repo", repo, &proxy.url(), &target]);
    assert_exit_code(&out, 1);
    let text = format!("{}{}", stdout(&out), stderr(&out));
    assert!(
        text.contains(&format!(
            "{repo}:{swapped} (the registry's Docker-Content-Digest)"
        )),
        "{text}"
    );
    let store = open(&target);
    assert!(
        block_on(store.manifest_digest(repo, swapped))
            .unwrap()
            .is_none(),
        "the tag was not written"
    );
}

/// A 429 with `Retry-After` on the request that closes a blob upload (whose body cannot be sent
/// again, so the copy starts that blob over) holds every request to the registry until the time
/// it names: the next request comes no sooner, and the copy completes.
#[test]
fn a_retry_after_on_an_upload_holds_the_next_requests_back() {
    use std::sync::{Arc, Mutex};
    use std::time::Instant;

    use crate::support::http::{Response, Server};
    use crate::support::mount_proxy::forward_as_sent;

    let (dir, expected) = sample_layout(1, 3);
    let dst = Registry::start();
    let port = dst.port;
    // When the 429 was answered, and when each request after it arrived.
    let seen: Arc<Mutex<(Option<Instant>, Vec<Instant>)>> = Arc::default();
    let log = seen.clone();
    let proxy = Server::start_raw(move |request| {
        let mut seen = log.lock().unwrap();
        let closing_put = request.method == "PUT" && request.path.contains("/blobs/uploads/");
        if seen.0.is_none() && closing_put {
            seen.0 = Some(Instant::now());
            return Response::new(429, "slow down").header("retry-after", "2");
        }
        if seen.0.is_some() {
            seen.1.push(Instant::now());
        }
        drop(seen);
        forward_as_sent(port, request)
    });
    let out = run(&["copy", "-q", "-j", "1", &oci(dir.path()), &proxy.url()]);
    assert_success(&out);
    let (throttled, after) = seen.lock().unwrap().clone();
    let throttled = throttled.expect("an upload was closed");
    assert!(!after.is_empty(), "requests after the 429");
    // Requests already on their way when the 429 was answered arrive within moments of it (the
    // tags' tasks run side by side); every request sent after it waits for the time it named.
    let gaps: Vec<Duration> = after.iter().map(|t| t.duration_since(throttled)).collect();
    assert!(
        gaps.iter()
            .all(|gap| *gap < Duration::from_millis(500) || *gap >= Duration::from_millis(1900)),
        "requests came {gaps:?} after the 429"
    );
    assert!(
        gaps.iter().any(|gap| *gap >= Duration::from_millis(1900)),
        "requests came {gaps:?} after the 429"
    );
    assert_holds(&open(&dst.url()), &expected.tags, None);
}

#[test]
fn a_registry_that_answers_its_first_requests_with_503_and_429_is_asked_again() {
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::Arc;

    use crate::support::http::{Response, Server};
    use crate::support::mount_proxy::forward_as_sent;

    let (dir, expected) = sample_layout(1, 5);
    let dst = Registry::start();
    let port = dst.port;
    let pings = Arc::new(AtomicU32::new(0));
    let counter = pings.clone();
    // The first `/v2/` is throttled, the second finds the registry briefly down.
    let proxy = Server::start_raw(move |request| {
        if request.path == "/v2/" {
            match counter.fetch_add(1, Ordering::SeqCst) {
                0 => return Response::new(429, "slow down").header("retry-after", "1"),
                1 => return Response::new(503, "down for a moment"),
                _ => {}
            }
        }
        forward_as_sent(port, request)
    });
    let out = run(&["copy", "-q", &oci(dir.path()), &proxy.url()]);
    assert_success(&out);
    assert!(pings.load(Ordering::SeqCst) >= 3);
    assert_holds(&open(&dst.url()), &expected.tags, None);
}

/// A TCP relay to `upstream` that passes what the client sends at `per_tick` bytes every `tick`
/// (a slow link, or a registry that reads slowly but steadily), and answers at full speed.
fn slow_uploads_relay(upstream: u16, per_tick: usize, tick: Duration) -> u16 {
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(client) = client else { break };
            let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else {
                break;
            };
            let (mut from_client, mut to_server) =
                (client.try_clone().unwrap(), server.try_clone().unwrap());
            let (mut from_server, mut to_client) = (server, client);
            std::thread::spawn(move || {
                let mut buf = vec![0u8; per_tick];
                while let Ok(n) = from_client.read(&mut buf) {
                    if n == 0 || to_server.write_all(&buf[..n]).is_err() {
                        break;
                    }
                    std::thread::sleep(tick);
                }
                let _ = to_server.shutdown(std::net::Shutdown::Write);
            });
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut from_server, &mut to_client);
                let _ = to_client.shutdown(std::net::Shutdown::Write);
            });
        }
    });
    port
}

/// An upload that takes longer than `--read-timeout` while the registry keeps reading it is not
/// cut: the timeout is the registry's silence, not the length of the upload (a 1 GiB layer over a
/// slow link used to fail every attempt at 120 s).
#[test]
fn an_upload_longer_than_the_read_timeout_goes_through_while_the_registry_reads() {
    use crate::support::oci_push::{descriptor, push_blob, push_manifest, MANIFEST};
    let src = Registry::start();
    let dst = Registry::start();
    let mut layer = Vec::with_capacity(32 << 20);
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    while layer.len() < (32 << 20) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        layer.extend_from_slice(&x.to_le_bytes());
    }
    let config =
        br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;
    let config_digest = push_blob(src.port, "big/app", config);
    let layer_digest = push_blob(src.port, "big/app", &layer);
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST,
        "config": descriptor("application/vnd.oci.image.config.v1+json", &config_digest, config.len()),
        "layers": [descriptor("application/vnd.oci.image.layer.v1.tar", &layer_digest, layer.len())],
    }))
    .unwrap();
    let image = push_manifest(src.port, "big/app", "v1", MANIFEST, &manifest);
    // 512 KiB every 100 ms: the 32 MiB layer takes about 6.5 s to go up, the timeout is 4 s
    // (what the sockets' buffers hold when the body ends drains in well under that).
    let relay = slow_uploads_relay(dst.port, 512 << 10, Duration::from_millis(100));
    let out = run_at_most(
        120,
        &[
            "copy",
            "-v",
            "--read-timeout",
            "4",
            &src.url(),
            &format!("http://127.0.0.1:{relay}"),
        ],
    );
    assert_success(&out);
    assert!(!stderr(&out).contains("timed out"), "{}", stderr(&out));
    let held = block_on(open(&dst.url()).manifest_digest("big/app", "v1")).unwrap();
    assert_eq!(held, Some(image));
}

/// A blob the source always fails to serve (a damaged object in its storage, a proxy that keeps
/// failing one path) costs the transport's own retries once in the run: the blob-level attempts
/// do not ask again what the transport asked, and every other tag that needs the blob fails at
/// once with the same cause (six tags sharing a layer used to take 36 requests and 80 s each).
#[test]
fn a_blob_the_source_always_fails_is_asked_for_once_per_run_not_once_per_tag() {
    use std::sync::atomic::AtomicUsize;
    use std::sync::Arc;

    use crate::support::http::{Response, Server};
    use crate::support::mount_proxy::forward_as_sent;
    use crate::support::oci_push::push_image;

    let src = Registry::start();
    let dst = Registry::start();
    let repositories: Vec<String> = (0..4).map(|i| format!("team/app{i}")).collect();
    let mut images = Vec::new();
    for repository in &repositories {
        images.push(push_image(src.port, repository));
    }
    // The one layer every image shares.
    let layer = last_layer(&open(&src.url()), &repositories[0], "v1");
    let port = src.port;
    let asked = Arc::new(AtomicUsize::new(0));
    let counted = asked.clone();
    let needle = format!("/blobs/{layer}");
    let proxy = Server::start_raw(move |request| {
        if request.method == "GET" && request.path.ends_with(&needle) {
            counted.fetch_add(1, Ordering::SeqCst);
            return Response::json(
                500,
                &serde_json::json!({"errors": [{"code": "UNKNOWN", "message": "storage failure"}]}),
            );
        }
        forward_as_sent(port, request)
    });
    let out = run_at_most(300, &["copy", &proxy.url(), &dst.url()]);
    assert_exit_code(&out, 1);
    let report = stdout(&out);
    let failed: Vec<&str> = report
        .lines()
        .filter(|l| l.starts_with("FAILED "))
        .collect();
    assert_eq!(failed.len(), repositories.len(), "{report}");
    let asked = asked.load(Ordering::SeqCst);
    assert!(
        (1..=8).contains(&asked),
        "the failing blob was asked for {asked} times: {report}"
    );
    assert!(
        report.contains("its copy failed earlier in this run"),
        "{report}"
    );
}

/// A proxy to the registry on `port` that flips a byte of the first answer whose path ends with
/// `suffix` (a manifest or blob damaged once on the way, by a proxy or a cache).
fn damaging_once(port: u16, suffix: String) -> crate::support::http::Server {
    use std::sync::atomic::AtomicBool;
    use std::sync::Arc;

    use crate::support::mount_proxy::forward_as_sent;
    let done = Arc::new(AtomicBool::new(false));
    crate::support::http::Server::start_raw(move |request| {
        let mut response = forward_as_sent(port, request);
        if request.method == "GET"
            && request.path.ends_with(&suffix)
            && response.status == 200
            && !response.body.is_empty()
            && !done.swap(true, Ordering::SeqCst)
        {
            let last = response.body.len() - 1;
            response.body[last] ^= 0x20;
        }
        response
    })
}

/// Wrong bytes once, on the way: a manifest is read again (as a blob is) before the copy calls it
/// a mismatch, and `verify --content` reads a blob again before calling its stored content
/// damaged (which would send an operator to delete it from storage).
#[test]
fn a_manifest_or_blob_damaged_once_on_the_way_is_read_again() {
    use crate::support::oci_push::push_image;
    let src = Registry::start();
    let dst = Registry::start();
    let (image, _) = push_image(src.port, "team/app");
    let proxy = damaging_once(src.port, "/manifests/v1".into());
    let out = run(&["copy", "-v", &proxy.url(), &dst.url()]);
    assert_success(&out);
    assert!(
        stderr(&out).contains("reading it again"),
        "{}",
        stderr(&out)
    );
    let held = block_on(open(&dst.url()).manifest_digest("team/app", "v1")).unwrap();
    assert_eq!(held, Some(image));

    let layer = last_layer(&open(&dst.url()), "team/app", "v1");
    let proxy = damaging_once(dst.port, format!("/blobs/{layer}"));
    let out = run(&["verify", "--deep", "--content", &src.url(), &proxy.url()]);
    assert_success(&out);
    assert!(
        stdout(&out).contains("content: 2 blobs read"),
        "{}",
        stdout(&out)
    );
}

/// A connection reset on the very first request to a registry (`GET /v2/`) is a connection cut
/// on the way, not a registry that is not there: the request is sent again, and the copy
/// completes.
#[test]
fn a_connection_reset_on_the_first_request_to_a_registry_is_tried_again() {
    let (dir, expected) = sample_layout(1, 3);
    let dst = Registry::start();
    let proxy = FaultProxy::start(
        dst.port,
        Schedule {
            ping_resets: 1,
            ..Default::default()
        },
    );
    let out = run(&["copy", "-q", &oci(dir.path()), &proxy.url()]);
    assert_success(&out);
    assert_eq!(proxy.counts.ping_resets.load(Ordering::Relaxed), 1);
    assert_holds(&open(&dst.url()), &expected.tags, None);
}

/// A registry whose first request is reset every time it is sent stops the run (exit 2) after a
/// few tries, with one line naming the side and what happened; written with `http://`, it is not
/// told to try the other scheme.
#[test]
fn a_registry_whose_first_request_is_always_reset_stops_the_run_without_a_scheme_hint() {
    let (dir, _) = sample_layout(1, 3);
    let dst = Registry::start();
    let proxy = FaultProxy::start(
        dst.port,
        Schedule {
            ping_resets: u64::MAX,
            ..Default::default()
        },
    );
    let out = run(&["copy", "-q", &oci(dir.path()), &proxy.url()]);
    assert_exit_code(&out, 2);
    let err = stderr(&out);
    assert!(
        err.starts_with(&format!(
            "error: TARGET 127.0.0.1:{}: the connection was closed",
            proxy.port
        )),
        "{err}"
    );
    assert!(
        !err.contains("HTTPS") && !err.contains("`http://"),
        "the endpoint was written with http://: {err}"
    );
    assert!(
        proxy.counts.ping_resets.load(Ordering::Relaxed) > 1,
        "the first request was tried again"
    );
}

/// A registry that throttles every request for longer than one request's attempts last (429
/// with `Retry-After: 1` for 10 s, so the same request is answered 429 more times than it has
/// attempts): each retry waits as it was asked to and spends no attempt, so the copy completes
/// once the throttle ends.
#[test]
fn a_throttle_that_outlasts_the_attempts_of_a_request_is_waited_out() {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};
    use std::time::Instant;

    use crate::support::http::{Response, Server};
    use crate::support::mount_proxy::forward_as_sent;

    /// How long the source throttles, from its first request after `/v2/`.
    const THROTTLE: Duration = Duration::from_secs(10);
    let (src, expected) = sample_registry(1);
    let dst = Registry::start();
    let port = src.port;
    // When the throttle began, and the 429s answered to each request (method and path).
    type Throttled = (Option<Instant>, HashMap<String, u32>);
    let state: Arc<Mutex<Throttled>> = Arc::default();
    let log = state.clone();
    let proxy = Server::start_raw(move |request| {
        if request.path != "/v2/" {
            let mut state = log.lock().unwrap();
            let began = *state.0.get_or_insert_with(Instant::now);
            if began.elapsed() < THROTTLE {
                let request_line = format!("{} {}", request.method, request.path);
                *state.1.entry(request_line).or_default() += 1;
                return Response::new(429, "slow down").header("retry-after", "1");
            }
        }
        forward_as_sent(port, request)
    });
    let out = run_at_most(300, &["copy", "-q", &proxy.url(), &dst.url()]);
    assert_success(&out);
    let most = state.lock().unwrap().1.values().max().copied().unwrap_or(0);
    assert!(
        most > 6,
        "the same request was answered 429 at most {most} times: no more than its 6 attempts"
    );
    assert_holds(&open(&dst.url()), &expected.tags, None);
}

/// A proxy to the registry on `port` that answers every manifest PUT with the registry's answer
/// (`forward`) or with `201 Created` without forwarding it, its `Docker-Content-Digest` replaced
/// with the sha256 of 64 zeros.
fn misnaming_manifest_pushes(port: u16, forward: bool) -> crate::support::http::Server {
    use crate::support::http::{Response, Server};
    use crate::support::mount_proxy::forward_as_sent;

    let zeros = format!("sha256:{}", "0".repeat(64));
    Server::start_raw(move |request| {
        if request.method != "PUT" || !request.path.contains("/manifests/") {
            return forward_as_sent(port, request);
        }
        let mut response = match forward {
            true => forward_as_sent(port, request),
            false => Response::new(201, ""),
        };
        response
            .headers
            .retain(|(name, _)| !name.eq_ignore_ascii_case("docker-content-digest"));
        response.header("docker-content-digest", zeros.clone())
    })
}

/// A target that answers a manifest push with a `Docker-Content-Digest` other than the digest
/// pushed, though it stored the manifest as pushed: the registry is asked by digest, holds it,
/// and the push counts as done (the disagreeing header said at `-v`).
#[test]
fn a_push_answered_with_another_digest_but_stored_as_pushed_is_done() {
    let (dir, expected) = sample_layout(1, 3);
    let dst = Registry::start();
    let proxy = misnaming_manifest_pushes(dst.port, true);
    let out = run(&["copy", "-v", &oci(dir.path()), &proxy.url()]);
    assert_success(&out);
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "the registry answered the push with Docker-Content-Digest sha256:{}",
            "0".repeat(64)
        )),
        "{err}"
    );
    assert!(err.contains("(HEAD by digest): the push is done"), "{err}");
    assert_holds(&open(&dst.url()), &expected.tags, None);
}

/// A target that answers a manifest push with another `Docker-Content-Digest` and holds nothing
/// under the digest pushed: the push fails, naming the header and the check by digest.
#[test]
fn a_push_answered_with_another_digest_and_not_stored_fails_naming_the_header() {
    let (dir, _) = sample_layout(1, 3);
    let dst = Registry::start();
    let proxy = misnaming_manifest_pushes(dst.port, false);
    let out = run(&["copy", &oci(dir.path()), &proxy.url()]);
    assert_exit_code(&out, 1);
    let report = stdout(&out);
    assert!(
        report.lines().any(|l| l.starts_with("FAILED ")
            && l.contains("(the registry's Docker-Content-Digest; a HEAD by the digest pushed finds no such manifest)")),
        "{report}"
    );
}

/// A tag deleted from the source after the run listed it (its manifest answered `404
/// MANIFEST_UNKNOWN`): the tag fails as no longer in the source, not as a refusal to change
/// something for; the other tags are copied.
#[test]
fn a_tag_deleted_from_the_source_during_the_run_is_said_to_be_gone_not_refused() {
    use crate::support::http::{Response, Server};
    use crate::support::mount_proxy::forward_as_sent;

    let (src, expected) = sample_registry(1);
    let (repo, tags) = expected.tags.iter().next().unwrap();
    let gone = tags
        .keys()
        .find(|t| !t.starts_with("sha256-"))
        .unwrap()
        .clone();
    let (port, path) = (src.port, format!("/v2/{repo}/manifests/{gone}"));
    let tag = gone.clone();
    let proxy = Server::start_raw(move |request| {
        if request.path == path {
            return Response::json(
                404,
                &serde_json::json!({"errors": [{"code": "MANIFEST_UNKNOWN", "message": "manifest unknown", "detail": {"Tag": tag}}]}),
            );
        }
        forward_as_sent(port, request)
    });
    let dst = Registry::start();
    let out = run(&["copy", &proxy.url(), &dst.url()]);
    assert_exit_code(&out, 1);
    let report = stdout(&out);
    let failed: Vec<&str> = report
        .lines()
        .filter(|l| l.starts_with("FAILED "))
        .collect();
    assert_eq!(failed.len(), 1, "{report}");
    assert!(
        failed[0].starts_with(&format!(
            "FAILED {repo}:{gone}: no longer in the source (deleted or moved during the run?)"
        )),
        "{report}"
    );
    assert!(!report.contains("refused"), "{report}");
    let others: BTreeMap<String, BTreeMap<String, Digest>> = BTreeMap::from([(
        repo.clone(),
        tags.iter()
            .filter(|(t, _)| **t != gone)
            .map(|(t, d)| (t.clone(), d.clone()))
            .collect(),
    )]);
    assert_holds(&open(&dst.url()), &others, None);
    let report = json(&run(&["copy", "--json", &proxy.url(), &dst.url()]));
    assert_eq!(report["failed_refused"], 0, "{report}");
    assert_eq!(report["failed_vanished"], 1, "{report}");
}

/// A manifest whose body is cut short (the connection closes before its announced length) is
/// read again, and the retry is said at `-v` as every retry is.
#[test]
fn a_manifest_body_cut_short_is_read_again_and_the_retry_said() {
    use std::sync::atomic::AtomicBool;
    use std::sync::Arc;

    use crate::support::http::{Server, DECLARED_LENGTH};
    use crate::support::mount_proxy::forward_as_sent;
    use crate::support::oci_push::push_image;

    let src = Registry::start();
    let dst = Registry::start();
    let (image, _) = push_image(src.port, "team/app");
    let port = src.port;
    let done = Arc::new(AtomicBool::new(false));
    let proxy = Server::start_raw(move |request| {
        let mut response = forward_as_sent(port, request);
        if request.method == "GET"
            && request.path.ends_with("/manifests/v1")
            && response.status == 200
            && !done.swap(true, Ordering::SeqCst)
        {
            let whole = response.body.len();
            response.body.truncate(whole / 2);
            response = response.header(DECLARED_LENGTH, whole.to_string());
        }
        response
    });
    let out = run(&["copy", "-v", &proxy.url(), &dst.url()]);
    assert_success(&out);
    let err = stderr(&out);
    assert!(
        err.lines().any(
            |l| l.contains("/manifests/v1: its body did not arrive whole")
                && l.contains("retrying in")
        ),
        "{err}"
    );
    let held = block_on(open(&dst.url()).manifest_digest("team/app", "v1")).unwrap();
    assert_eq!(held, Some(image));
}

/// A blob body that stays silent after its head until the read timeout: the download resumes,
/// and its `-v` line says the read timeout fired.
#[test]
fn a_silent_blob_body_is_resumed_naming_the_read_timeout() {
    let (src, expected) = sample_registry(1);
    let dst = Registry::start();
    let proxy = FaultProxy::start(
        src.port,
        Schedule {
            stalled_blob_bodies: 1,
            stall: Duration::from_secs(4),
            ..Default::default()
        },
    );
    let out = run(&[
        "copy",
        "-v",
        "--read-timeout",
        "2",
        &proxy.url(),
        &dst.url(),
    ]);
    assert_success(&out);
    assert_eq!(proxy.counts.body_stalls.load(Ordering::Relaxed), 1);
    let err = stderr(&out);
    assert!(
        err.contains(
            "body interrupted after 0 bytes: no byte for 2 s (read timeout): resuming from byte 0"
        ),
        "{err}"
    );
    assert_holds(&open(&dst.url()), &expected.tags, None);
}

/// A blob damaged once on the way is copied again, and the `-v` line of that retry names the
/// blob once.
#[test]
fn the_retry_line_of_a_blob_damaged_on_the_way_names_it_once() {
    use crate::support::oci_push::push_image;
    let src = Registry::start();
    let dst = Registry::start();
    push_image(src.port, "team/app");
    let layer = last_layer(&open(&src.url()), "team/app", "v1");
    let proxy = damaging_once(src.port, format!("/blobs/{layer}"));
    let out = run(&["copy", "-v", &proxy.url(), &dst.url()]);
    assert_success(&out);
    let err = stderr(&out);
    let line = err
        .lines()
        .find(|l| l.contains("copying it again"))
        .unwrap_or_else(|| panic!("no retry line: {err}"));
    assert_eq!(
        line.matches(&format!("blob {layer} of team/app")).count(),
        1,
        "{line}"
    );
}

/// An upload `Location` on another origin (here another name of the same host, `localhost` for
/// `127.0.0.1`) is refused; in a run without credentials the refusal says so without speaking
/// of credentials, and names both origins.
#[test]
fn an_upload_location_on_another_origin_is_refused_in_words_of_an_anonymous_run() {
    use crate::support::http::Server;
    use crate::support::mount_proxy::forward_as_sent;

    let (dir, _) = sample_layout(1, 3);
    let dst = Registry::start();
    let port = dst.port;
    let proxy = Server::start_raw(move |request| {
        let mut response = forward_as_sent(port, request);
        if request.method == "POST" && response.status == 202 {
            for (name, value) in response.headers.iter_mut() {
                if name.eq_ignore_ascii_case("location") {
                    *value = format!("http://localhost:{port}{value}");
                }
            }
        }
        response
    });
    let out = run(&["copy", &oci(dir.path()), &proxy.url()]);
    assert_exit_code(&out, 1);
    let report = stdout(&out);
    assert!(
        report.contains(&format!(
            "upload Location: points to another origin (http://localhost:{port}) than the registry's as given (http://127.0.0.1:{}): refused",
            proxy.port
        )),
        "{report}"
    );
    assert!(!report.contains("credentials"), "{report}");
}

/// Blob downloads redirected to storage on another host whose URL carries user information: the
/// storage is read, the user information is never shown, and at `-vv` no further hop is claimed
/// where there was none (the client takes the user information out of the URL it sends).
#[test]
fn a_redirect_to_storage_with_user_information_claims_no_further_hop() {
    use crate::support::http::{Response, Server};
    use crate::support::mount_proxy::forward_as_sent;

    let (src, expected) = sample_registry(1);
    let dst = Registry::start();
    let port = src.port;
    let storage = Server::start_raw(move |request| forward_as_sent(port, request));
    let storage_port = storage.port;
    let proxy = Server::start_raw(move |request| {
        if request.method == "GET" && request.path.contains("/blobs/sha256:") {
            return Response::new(307, "").header(
                "location",
                format!(
                    "http://reader:st0rageS3CRET@127.0.0.1:{storage_port}{}",
                    request.path
                ),
            );
        }
        forward_as_sent(port, request)
    });
    let out = run(&["copy", "-vv", &proxy.url(), &dst.url()]);
    assert_success(&out);
    let err = stderr(&out);
    assert!(
        err.contains(&format!("127.0.0.1:{storage_port}/v2/")),
        "the storage was read: {err}"
    );
    assert!(!err.contains("st0rageS3CRET"), "{err}");
    assert!(!err.contains("after its redirects"), "{err}");
    assert_holds(&open(&dst.url()), &expected.tags, None);
}
