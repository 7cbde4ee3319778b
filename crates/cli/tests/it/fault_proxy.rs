//! A fault-injecting HTTP/1.1 proxy for tests: sits between the tool and a real registry and, on a
//! seeded schedule, answers 500/502/503 or 429 (with `Retry-After`) instead of forwarding, resets
//! the connection in the middle of a response body, stalls past the client's read timeout, or
//! flips a byte of a blob. Every response closes its connection (the client reconnects). On
//! request it also resets the connection of the first `GET /v2/` requests (a registry's first
//! request cut on the way), and holds blob bodies back after their head (a silent body).
//!
//! Uploads: it can cut a PATCH in the middle of its body (the part read so far reaches the
//! registry, then the connection is reset without an answer), and flip a byte of every ranged
//! blob response (a source that serves other bytes when read again). Distribution signs the
//! offset of an upload into its URL (`_state`), so after a cut the client's URL would be refused;
//! the proxy keeps each upload's latest state and rewrites the client's URLs to it, which makes
//! the registry behave like one whose upload URLs stay valid (ACR, zot): its status answer then
//! says how many bytes of the cut PATCH it kept.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::{Rng, SeedableRng};

/// What the proxy did, by kind.
#[derive(Default, Debug)]
pub struct Counts {
    /// Requests seen.
    pub requests: AtomicU64,
    /// Error statuses answered instead of forwarding.
    pub statuses: AtomicU64,
    /// Responses cut in the middle of the body.
    pub resets: AtomicU64,
    /// Responses held back past the read timeout.
    pub stalls: AtomicU64,
    /// Blob bodies with a flipped byte.
    pub corruptions: AtomicU64,
    /// Requests that asked for a byte range (a resumed download).
    pub ranges: AtomicU64,
    /// PATCH requests cut in the middle of their body.
    pub cuts: AtomicU64,
    /// Bytes of PATCH bodies that reached the registry.
    pub patch_bytes: AtomicU64,
    /// Upload status requests (`GET` on an upload location).
    pub status_gets: AtomicU64,
    /// PATCH requests that followed a status request of their upload (resumed uploads).
    pub resumed_patches: AtomicU64,
    /// The first byte of each resumed PATCH.
    pub resume_offsets: Mutex<Vec<u64>>,
    /// Every request line as the client sent it (`METHOD TARGET HTTP/1.1`).
    pub lines: Mutex<Vec<String>>,
    /// `GET /v2/` requests answered by resetting the connection.
    pub ping_resets: AtomicU64,
    /// Blob bodies held back after their head until the client's read timeout.
    pub body_stalls: AtomicU64,
}

impl Counts {
    /// All faults injected.
    pub fn faults(&self) -> u64 {
        self.statuses.load(Ordering::Relaxed)
            + self.resets.load(Ordering::Relaxed)
            + self.stalls.load(Ordering::Relaxed)
            + self.corruptions.load(Ordering::Relaxed)
    }
}

/// How often each fault strikes (per request, out of 1000), and how long a stall lasts.
#[derive(Clone, Debug, Default)]
pub struct Schedule {
    /// Seed of the schedule.
    pub seed: u64,
    /// Error status instead of forwarding.
    pub status_permille: u32,
    /// Connection reset mid-body.
    pub reset_permille: u32,
    /// Stall (at most `max_stalls` in all, they cost time).
    pub stall_permille: u32,
    /// Stall length.
    pub stall: Duration,
    /// Upper bound on stalls.
    pub max_stalls: u64,
    /// Flipped byte in a blob body.
    pub corrupt_permille: u32,
    /// PATCH requests cut at a random byte of their body (after the other faults are rolled).
    pub cut_permille: u32,
    /// Only PATCH requests whose `Content-Range` starts at or after this byte are cut.
    pub cut_from: u64,
    /// At most this many cuts per upload session (0: no limit).
    pub max_cuts_per_upload: u32,
    /// At most this many cuts in all (0: no limit).
    pub max_cuts: u64,
    /// Leave the client's upload URLs as they are: a plain Distribution, which refuses the URL of
    /// an upload that was cut after some of its bytes arrived (the session is then lost).
    pub stale_upload_urls: bool,
    /// Flip a byte in the middle of every `206 Partial Content` body.
    pub corrupt_ranges: bool,
    /// Added to every request's round trip before it is forwarded: a distant registry.
    pub round_trip: Duration,
    /// The first this many `GET /v2/` requests (the first request of a run to a registry) are
    /// answered by resetting the connection (RST) before a byte of an answer (`u64::MAX`: all).
    pub ping_resets: u64,
    /// The first this many blob GETs answered 200 send their head, then nothing for `stall`,
    /// then close: a body that stays silent past the client's read timeout.
    pub stalled_blob_bodies: u64,
}

impl Schedule {
    /// No faults, 100 ms more per request: a registry in another region.
    pub fn distant() -> Self {
        Schedule {
            round_trip: Duration::from_millis(100),
            ..Default::default()
        }
    }
}

/// What the proxy knows of the upload sessions going through it.
#[derive(Default)]
struct Uploads {
    /// Upload UUID → its latest `_state` query parameter, as the registry last gave it.
    states: HashMap<String, String>,
    /// Upload UUID → cuts made.
    cuts: HashMap<String, u32>,
    /// Upload UUIDs whose status was asked since their last PATCH.
    asked: std::collections::HashSet<String>,
}

/// A running proxy; stops accepting when dropped.
pub struct FaultProxy {
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// What it did.
    pub counts: Arc<Counts>,
    stop: Arc<AtomicBool>,
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

enum Fault {
    None,
    Status(u16),
    Reset,
    Stall,
    /// One byte of the body changed, at a position drawn from this number: the way (a flaky
    /// link) changes other bytes each time, unlike a source whose stored bytes are wrong.
    Corrupt(usize),
}

impl FaultProxy {
    /// Starts a proxy to `127.0.0.1:upstream`.
    pub fn start(upstream: u16, schedule: Schedule) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let counts = Arc::new(Counts::default());
        let stop = Arc::new(AtomicBool::new(false));
        let rng = Arc::new(Mutex::new(rand::rngs::StdRng::seed_from_u64(schedule.seed)));
        let uploads = Arc::new(Mutex::new(Uploads::default()));
        {
            let counts = counts.clone();
            let stop = stop.clone();
            std::thread::spawn(move || {
                for conn in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(conn) = conn else { continue };
                    let counts = counts.clone();
                    let rng = rng.clone();
                    let uploads = uploads.clone();
                    let schedule = schedule.clone();
                    std::thread::spawn(move || {
                        let _ = serve(conn, upstream, &schedule, &rng, &uploads, &counts);
                    });
                }
            });
        }
        FaultProxy { port, counts, stop }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

fn read_head(reader: &mut impl BufRead) -> std::io::Result<Option<Vec<String>>> {
    let mut lines = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(if lines.is_empty() { None } else { Some(lines) });
        }
        let line = line.trim_end_matches(['\r', '\n']).to_string();
        if line.is_empty() {
            return Ok(Some(lines));
        }
        lines.push(line);
    }
}

fn header<'a>(head: &'a [String], name: &str) -> Option<&'a str> {
    head.iter().skip(1).find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

fn read_body(reader: &mut impl BufRead, head: &[String]) -> std::io::Result<Vec<u8>> {
    if let Some(len) = header(head, "content-length").and_then(|l| l.parse::<usize>().ok()) {
        let mut body = vec![0; len];
        reader.read_exact(&mut body)?;
        return Ok(body);
    }
    if header(head, "transfer-encoding").is_some_and(|t| t.eq_ignore_ascii_case("chunked")) {
        let mut body = Vec::new();
        loop {
            let mut size = String::new();
            reader.read_line(&mut size)?;
            let n = usize::from_str_radix(size.trim().split(';').next().unwrap_or("0"), 16)
                .unwrap_or(0);
            let mut chunk = vec![0; n + 2];
            reader.read_exact(&mut chunk)?;
            if n == 0 {
                return Ok(body);
            }
            body.extend_from_slice(&chunk[..n]);
        }
    }
    Ok(Vec::new())
}

/// The upload UUID a request target or `Location` names (`…/blobs/uploads/<uuid>[?…]`).
fn upload_uuid(target: &str) -> Option<String> {
    let rest = target.split_once("/blobs/uploads/")?.1;
    let uuid = rest.split(['?', '#']).next().unwrap_or("");
    (!uuid.is_empty()).then(|| uuid.to_string())
}

/// The `_state=…` parameter of a URL or request target.
fn state_param(target: &str) -> Option<String> {
    let query = target.split_once('?')?.1;
    query
        .split('&')
        .find(|p| p.starts_with("_state="))
        .map(str::to_string)
}

/// `target` with its `_state` parameter replaced by `state`.
fn with_state(target: &str, state: &str) -> String {
    let Some((path, query)) = target.split_once('?') else {
        return target.to_string();
    };
    let params: Vec<&str> = query
        .split('&')
        .map(|p| if p.starts_with("_state=") { state } else { p })
        .collect();
    format!("{path}?{}", params.join("&"))
}

/// The first byte of a `Content-Range: <start>-<end>` request header.
fn range_start(head: &[String]) -> Option<u64> {
    header(head, "content-range")?
        .trim_start_matches("bytes")
        .trim()
        .split('-')
        .next()?
        .trim()
        .parse()
        .ok()
}

/// True when the request waiting on `client` is a `GET /v2/`: its first bytes are looked at
/// without being read (a connection closed with them unread is reset, not closed cleanly).
fn peeks_ping(client: &TcpStream) -> bool {
    const PING: &[u8] = b"GET /v2/ ";
    let mut start = [0u8; PING.len()];
    for _ in 0..500 {
        match client.peek(&mut start) {
            Ok(n) if n >= PING.len() => return start == PING,
            Ok(0) | Err(_) => return false,
            Ok(n) if start[..n] != PING[..n] => return false,
            Ok(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
    false
}

/// Takes one of `limit` faults counted in `count`: false once they are all taken.
fn take_one(count: &AtomicU64, limit: u64) -> bool {
    count
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
            (n < limit).then_some(n + 1)
        })
        .is_ok()
}

fn serve(
    client: TcpStream,
    upstream: u16,
    schedule: &Schedule,
    rng: &Mutex<rand::rngs::StdRng>,
    uploads: &Mutex<Uploads>,
    counts: &Counts,
) -> std::io::Result<()> {
    if schedule.ping_resets > 0
        && peeks_ping(&client)
        && take_one(&counts.ping_resets, schedule.ping_resets)
    {
        // Closed with the request unread: the kernel answers with a reset.
        counts.requests.fetch_add(1, Ordering::Relaxed);
        drop(client);
        return Ok(());
    }
    let mut reader = BufReader::new(client.try_clone()?);
    let mut client = client;
    let Some(mut head) = read_head(&mut reader)? else {
        return Ok(());
    };
    std::thread::sleep(schedule.round_trip);
    let is_patch = head[0].starts_with("PATCH ");
    let uuid = head[0].split_whitespace().nth(1).and_then(upload_uuid);
    let length = header(&head, "content-length").and_then(|l| l.parse::<usize>().ok());
    // A PATCH to cut: read part of its body only.
    let cut = match (is_patch, &uuid, length) {
        (true, Some(uuid), Some(len)) if schedule.cut_permille > 0 && len > 0 => {
            let start = range_start(&head).unwrap_or(0);
            let mut uploads = uploads.lock().unwrap();
            let made = uploads.cuts.get(uuid).copied().unwrap_or(0);
            let mut rng = rng.lock().unwrap();
            let strike = rng.gen_range(0..1000) < schedule.cut_permille
                && start >= schedule.cut_from
                && (schedule.max_cuts_per_upload == 0 || made < schedule.max_cuts_per_upload)
                && (schedule.max_cuts == 0
                    || counts.cuts.load(Ordering::Relaxed) < schedule.max_cuts);
            strike.then(|| {
                uploads.cuts.insert(uuid.clone(), made + 1);
                counts.cuts.fetch_add(1, Ordering::Relaxed);
                rng.gen_range(0..len)
            })
        }
        _ => None,
    };
    let body = match cut {
        Some(n) => {
            let mut body = vec![0; n];
            reader.read_exact(&mut body)?;
            body
        }
        None => read_body(&mut reader, &head)?,
    };
    counts.requests.fetch_add(1, Ordering::Relaxed);
    counts.lines.lock().unwrap().push(head[0].clone());
    if header(&head, "range").is_some() {
        counts.ranges.fetch_add(1, Ordering::Relaxed);
    }
    if let Some(uuid) = &uuid {
        // Requests on an upload go to its latest state; resumed uploads are counted.
        let mut uploads = uploads.lock().unwrap();
        let mut parts: Vec<String> = head[0].split(' ').map(str::to_string).collect();
        if let (Some(state), Some(target), false) = (
            uploads.states.get(uuid),
            parts.get_mut(1),
            schedule.stale_upload_urls,
        ) {
            *target = with_state(target, state);
        }
        head[0] = parts.join(" ");
        if head[0].starts_with("GET ") {
            counts.status_gets.fetch_add(1, Ordering::Relaxed);
            uploads.asked.insert(uuid.clone());
        } else if is_patch && uploads.asked.remove(uuid) {
            counts.resumed_patches.fetch_add(1, Ordering::Relaxed);
            counts
                .resume_offsets
                .lock()
                .unwrap()
                .push(range_start(&head).unwrap_or(0));
        }
    }
    if let Some(n) = cut {
        if n > 0 {
            // What was read so far reaches the registry as a PATCH of its own.
            let start = range_start(&head).unwrap_or(0);
            for line in head.iter_mut().skip(1) {
                if line.to_ascii_lowercase().starts_with("content-range:") {
                    *line = format!("Content-Range: {start}-{}", start + n as u64 - 1);
                }
            }
            let _ = forward(upstream, &head, &body, uploads, counts);
        }
        let _ = client.shutdown(Shutdown::Both);
        return Ok(());
    }
    let request_line = head[0].clone();
    let is_ping = request_line.split_whitespace().nth(1) == Some("/v2/");
    let is_blob_get = request_line.starts_with("GET ") && request_line.contains("/blobs/sha256:");
    let fault = {
        let mut rng = rng.lock().unwrap();
        let roll: u32 = rng.gen_range(0..1000);
        let s = schedule;
        if is_ping {
            Fault::None
        } else if roll < s.status_permille {
            Fault::Status([500, 502, 503, 429][rng.gen_range(0..4)])
        } else if roll < s.status_permille + s.reset_permille {
            Fault::Reset
        } else if roll < s.status_permille + s.reset_permille + s.stall_permille
            && counts.stalls.load(Ordering::Relaxed) < s.max_stalls
        {
            Fault::Stall
        } else if is_blob_get
            && roll < s.status_permille + s.reset_permille + s.stall_permille + s.corrupt_permille
        {
            Fault::Corrupt(rng.gen())
        } else {
            Fault::None
        }
    };
    match fault {
        Fault::Status(code) => {
            counts.statuses.fetch_add(1, Ordering::Relaxed);
            let extra = if code == 429 {
                "Retry-After: 0\r\n"
            } else {
                ""
            };
            write!(
                client,
                "HTTP/1.1 {code} Injected\r\n{extra}Content-Length: 0\r\nConnection: close\r\n\r\n"
            )?;
            return Ok(());
        }
        Fault::Stall => {
            counts.stalls.fetch_add(1, Ordering::Relaxed);
            std::thread::sleep(schedule.stall);
            let _ = client.shutdown(Shutdown::Both);
            return Ok(());
        }
        _ => {}
    }
    let Some((response_head, mut response_body)) =
        forward(upstream, &head, &body, uploads, counts)?
    else {
        return Ok(());
    };
    let is_head = request_line.starts_with("HEAD ");
    let mut head_out = String::new();
    head_out.push_str(&response_head[0]);
    head_out.push_str("\r\n");
    for line in response_head.iter().skip(1) {
        let name = line
            .split(':')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if name == "connection"
            || name == "transfer-encoding"
            || (name == "content-length" && !is_head)
        {
            continue;
        }
        head_out.push_str(line);
        head_out.push_str("\r\n");
    }
    if !is_head {
        head_out.push_str(&format!("Content-Length: {}\r\n", response_body.len()));
    }
    head_out.push_str("Connection: close\r\n\r\n");
    let ok = response_head[0].contains(" 200 ");
    if schedule.corrupt_ranges && response_head[0].contains(" 206 ") && !response_body.is_empty() {
        counts.corruptions.fetch_add(1, Ordering::Relaxed);
        let i = response_body.len() / 2;
        response_body[i] ^= 0x55;
    }
    if is_blob_get
        && ok
        && schedule.stalled_blob_bodies > 0
        && take_one(&counts.body_stalls, schedule.stalled_blob_bodies)
    {
        client.write_all(head_out.as_bytes())?;
        client.flush()?;
        std::thread::sleep(schedule.stall);
        let _ = client.shutdown(Shutdown::Both);
        return Ok(());
    }
    match fault {
        Fault::Reset if response_body.len() > 1 => {
            counts.resets.fetch_add(1, Ordering::Relaxed);
            client.write_all(head_out.as_bytes())?;
            client.write_all(&response_body[..response_body.len() / 2])?;
            client.flush()?;
            let _ = client.shutdown(Shutdown::Both);
        }
        Fault::Corrupt(at) if ok && !response_body.is_empty() => {
            counts.corruptions.fetch_add(1, Ordering::Relaxed);
            let i = at % response_body.len();
            response_body[i] ^= 0x55;
            client.write_all(head_out.as_bytes())?;
            client.write_all(&response_body)?;
        }
        _ => {
            client.write_all(head_out.as_bytes())?;
            client.write_all(&response_body)?;
        }
    }
    client.flush()?;
    Ok(())
}

/// A response: its head lines and its body.
type Answer = (Vec<String>, Vec<u8>);

/// Sends a request to the registry on a fresh connection (closed after the response) and reads
/// its answer; records the upload state a `Location` gives.
fn forward(
    upstream: u16,
    head: &[String],
    body: &[u8],
    uploads: &Mutex<Uploads>,
    counts: &Counts,
) -> std::io::Result<Option<Answer>> {
    let request_line = &head[0];
    let mut up = TcpStream::connect(("127.0.0.1", upstream))?;
    let mut out = String::new();
    out.push_str(request_line);
    out.push_str("\r\n");
    for line in head.iter().skip(1) {
        let name = line
            .split(':')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if name == "connection" || name == "transfer-encoding" || name == "content-length" {
            continue;
        }
        out.push_str(line);
        out.push_str("\r\n");
    }
    out.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    ));
    up.write_all(out.as_bytes())?;
    up.write_all(body)?;
    if request_line.starts_with("PATCH ") {
        counts
            .patch_bytes
            .fetch_add(body.len() as u64, Ordering::Relaxed);
    }
    let mut up_reader = BufReader::new(up);
    let Some(response_head) = read_head(&mut up_reader)? else {
        return Ok(None);
    };
    if let Some(location) = header(&response_head, "location") {
        if let (Some(uuid), Some(state)) = (upload_uuid(location), state_param(location)) {
            uploads.lock().unwrap().states.insert(uuid, state);
        }
    }
    let is_head = request_line.starts_with("HEAD ");
    let mut response_body = Vec::new();
    if !is_head {
        if header(&response_head, "content-length").is_some()
            || header(&response_head, "transfer-encoding").is_some()
        {
            response_body = read_body(&mut up_reader, &response_head)?;
        } else {
            up_reader.read_to_end(&mut response_body)?;
        }
    }
    Ok(Some((response_head, response_body)))
}
