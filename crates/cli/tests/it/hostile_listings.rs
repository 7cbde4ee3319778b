//! A hostile registry of our own that answers by path and query, with headers: listings whose
//! `Link` headers lead back to a page already read, and names and messages that carry terminal
//! control sequences. The tool must end each with one clear line, in bounded time and memory.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::Arc;

use crate::util::*;

/// An answer: status, extra header lines (`Name: value`), content type and body.
struct Answer {
    status: u16,
    headers: Vec<String>,
    content_type: &'static str,
    body: Vec<u8>,
}

fn json(body: &str) -> Answer {
    Answer {
        status: 200,
        headers: Vec::new(),
        content_type: "application/json",
        body: body.as_bytes().to_vec(),
    }
}

/// Serves `answer(method, path with query)` on 127.0.0.1 until the test process ends; returns
/// the registry's URL.
fn serve(answer: impl Fn(&str, &str) -> Answer + Send + Sync + 'static) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let answer = Arc::new(answer);
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let answer = answer.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                loop {
                    let mut first = String::new();
                    if reader.read_line(&mut first).unwrap_or(0) == 0 {
                        return;
                    }
                    loop {
                        let mut line = String::new();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                            break;
                        }
                    }
                    let mut parts = first.split_whitespace();
                    let method = parts.next().unwrap_or("").to_string();
                    let target = parts.next().unwrap_or("").to_string();
                    let a = answer(&method, &target);
                    let mut head = format!(
                        "HTTP/1.1 {} X\r\nContent-Type: {}\r\nContent-Length: {}\r\n",
                        a.status,
                        a.content_type,
                        a.body.len()
                    );
                    for h in &a.headers {
                        head.push_str(h);
                        head.push_str("\r\n");
                    }
                    head.push_str("\r\n");
                    if conn.write_all(head.as_bytes()).is_err() {
                        return;
                    }
                    if method != "HEAD" && conn.write_all(&a.body).is_err() {
                        return;
                    }
                }
            });
        }
    });
    format!("http://127.0.0.1:{port}")
}

fn not_found() -> Answer {
    Answer {
        status: 404,
        headers: Vec::new(),
        content_type: "application/json",
        body: br#"{"errors":[{"code":"NAME_UNKNOWN","message":"repository name not known to registry"}]}"#.to_vec(),
    }
}

#[test]
fn a_listing_whose_link_leads_back_to_a_page_already_read_ends_at_once() {
    // Tags: every page names itself as the next; catalog: the same, in a registry of its own.
    let looping = |path: &str| {
        let mut page = json(r#"{"name":"app","tags":["v1","v2"],"repositories":["app"]}"#);
        page.headers = vec![format!("Link: <{path}?n=2&last=v2>; rel=\"next\"")];
        page
    };
    let tags = serve(move |_, target| match target.split('?').next().unwrap() {
        "/v2/" => json("{}"),
        "/v2/_catalog" => json(r#"{"repositories":["app"]}"#),
        "/v2/app/tags/list" => looping("/v2/app/tags/list"),
        _ => not_found(),
    });
    let out = run(&["inventory", &tags]);
    assert_exit_code(&out, 1);
    let shown = stdout(&out) + &stderr(&out);
    assert!(
        shown.contains("FAILED app: cannot list tags")
            && shown.contains("the registry's Link header leads back to a page already read"),
        "{shown}"
    );
    let catalog = serve(move |_, target| match target.split('?').next().unwrap() {
        "/v2/" => json("{}"),
        "/v2/_catalog" => looping("/v2/_catalog"),
        _ => not_found(),
    });
    let out = run(&["inventory", &catalog]);
    assert_exit_code(&out, 2);
    let err = stderr(&out);
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.contains("leads back to a page already read"), "{err}");
}
