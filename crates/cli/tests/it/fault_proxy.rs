//! A fault-injecting HTTP/1.1 proxy for tests: sits between the tool and a real registry and, on a
//! seeded schedule, answers 500/502/503 or 429 (with `Retry-After`) instead of forwarding, resets
//! the connection in the middle of a response body, stalls past the client's read timeout, or
//! flips a byte of a blob. Every response closes its connection (the client reconnects).

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
#[derive(Clone, Debug)]
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
    Corrupt,
}

impl FaultProxy {
    /// Starts a proxy to `127.0.0.1:upstream`.
    pub fn start(upstream: u16, schedule: Schedule) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let counts = Arc::new(Counts::default());
        let stop = Arc::new(AtomicBool::new(false));
        let rng = Arc::new(Mutex::new(rand::rngs::StdRng::seed_from_u64(schedule.seed)));
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
                    let schedule = schedule.clone();
                    std::thread::spawn(move || {
                        let _ = serve(conn, upstream, &schedule, &rng, &counts);
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

fn serve(
    client: TcpStream,
    upstream: u16,
    schedule: &Schedule,
    rng: &Mutex<rand::rngs::StdRng>,
    counts: &Counts,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(client.try_clone()?);
    let mut client = client;
    let Some(head) = read_head(&mut reader)? else {
        return Ok(());
    };
    let body = read_body(&mut reader, &head)?;
    counts.requests.fetch_add(1, Ordering::Relaxed);
    if header(&head, "range").is_some() {
        counts.ranges.fetch_add(1, Ordering::Relaxed);
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
            Fault::Corrupt
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
    // Forward, with a fresh upstream connection closed after the response.
    let mut up = TcpStream::connect(("127.0.0.1", upstream))?;
    let mut out = String::new();
    out.push_str(&request_line);
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
    up.write_all(&body)?;
    let mut up_reader = BufReader::new(up);
    let Some(response_head) = read_head(&mut up_reader)? else {
        return Ok(());
    };
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
    match fault {
        Fault::Reset if response_body.len() > 1 => {
            counts.resets.fetch_add(1, Ordering::Relaxed);
            client.write_all(head_out.as_bytes())?;
            client.write_all(&response_body[..response_body.len() / 2])?;
            client.flush()?;
            let _ = client.shutdown(Shutdown::Both);
        }
        Fault::Corrupt if ok && !response_body.is_empty() => {
            counts.corruptions.fetch_add(1, Ordering::Relaxed);
            let i = response_body.len() / 2;
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
