//! The register as one system: concurrent changes that conflict, state that outlives the
//! process, the UK date, and an edge that half-sent requests cannot hold.

mod common;

use common::*;
use rollguard_service::FixedClock;
use serde_json::json;
use std::io::{Read, Write};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

/// A new elector for E1 that no generated entry shares a number with.
fn new_entry(seed: u64, n: usize) -> rollguard_register::EntryText {
    let mut e = generated(n + 1, seed).pop().unwrap();
    e.elector_number = format!("ZZ9-{}", 100 + n);
    e
}

#[test]
fn two_concurrent_adds_of_one_nino_give_one_201_and_one_409_problem() {
    let s = start(test_config(), accounts_config());
    let (token, _) = s.session();
    let auth = bearer(&token);
    let h = [("authorization", auth.as_str())];
    // Several rounds, each two requests released together, so the race is really run.
    for round in 0..8 {
        let slot = 2 * usize::try_from(round).unwrap();
        let first = new_entry(900 + round, slot);
        let mut first = first;
        first.nino = format!("JT1234{round:02}A");
        let mut second = new_entry(950 + round, slot + 1);
        second.nino = first.nino.clone();
        let gate = Barrier::new(2);
        let replies: Vec<Reply> = std::thread::scope(|scope| {
            let handles: Vec<_> = [&first, &second]
                .into_iter()
                .map(|e| {
                    let (s, gate, h) = (&s, &gate, &h);
                    scope.spawn(move || {
                        gate.wait();
                        s.post("/api/v1/authorities/E1/electors", h, json!({"fields": fields_of(e)}))
                    })
                })
                .collect();
            handles.into_iter().map(|t| t.join().unwrap()).collect()
        });
        let mut statuses: Vec<u16> = replies.iter().map(|r| r.status).collect();
        statuses.sort();
        assert_eq!(
            statuses,
            [201, 409],
            "round {round}: {:?}",
            replies.iter().map(|r| &r.text).collect::<Vec<_>>()
        );
        let conflict = replies.iter().find(|r| r.status == 409).unwrap();
        assert_eq!(conflict.header("content-type"), Some("application/problem+json"));
        assert_eq!(conflict.body["status"], 409);
        assert!(!conflict.text.contains(&first.nino), "the NINO is not echoed: {}", conflict.text);
    }
    // Exactly one addition per round is in the log.
    let adds = audit_events(&s)
        .into_iter()
        .filter(|e| {
            e.kind == rollguard_audit::Kind::ElectorWrite
                && e.detail.get("change").map(String::as_str) == Some("added")
        })
        .filter(|e| e.outcome == rollguard_audit::Outcome::Success)
        .count();
    assert_eq!(adds, 8);
}

#[test]
fn an_effective_date_chosen_at_half_past_midnight_bst_is_that_days_date() {
    // 00:30 on 16 June 2026 in London is 23:30 on 15 June in UTC.
    let at: i64 = 1_781_566_200_000; // 2026-06-15T23:30:00Z
    let clock: Arc<dyn rollguard_service::Clock> = Arc::new(FixedClock::at_ms(at));
    let s = start_full(
        test_config(),
        accounts_config(),
        None,
        rollguard_server::detection::DetectionConfig::default(),
        rollguard_service::Policy::default(),
        clock,
        |_, _, _| {},
    );
    let (token, _) = s.session();
    let auth = bearer(&token);
    let h = [("authorization", auth.as_str())];
    let e = new_entry(77, 0);
    let r = s.post("/api/v1/authorities/E1/electors", &h, json!({"fields": fields_of(&e)}));
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.body["id"].as_u64().unwrap();
    let r = s.get(&format!("/api/v1/authorities/E1/electors/{id}"), &h);
    assert_eq!(r.body["valid_from"], "2026-06-16", "{}", r.text);
    let r = s.send(
        "PATCH",
        &format!("/api/v1/authorities/E1/electors/{id}"),
        &h,
        Some(json!({"set": {"address_line_1": "9 Heron Way"}})),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let r = s.get(&format!("/api/v1/authorities/E1/electors/{id}"), &h);
    assert_eq!(r.body["valid_from"], "2026-06-16", "{}", r.text);
}

/// A server over E1 with `more` electors besides the usual ones; their ids, E1's first.
fn start_with_more(
    more: usize,
    policy: rollguard_service::Policy,
    detection: rollguard_server::detection::DetectionConfig,
) -> (Server, Vec<u64>) {
    let more_ids = std::cell::RefCell::new(Vec::new());
    let s = start_full(
        unhurried(),
        accounts_config(),
        None,
        detection,
        policy,
        Arc::new(rollguard_service::SystemClock),
        |svc, console, _| {
            let today = svc.clock().today();
            let opts = rollguard_vault::ImportOptions {
                source_name: "more.csv".into(),
                effective: today,
                today,
                now: svc.clock().now_secs(),
                canaries_per_100k: 0,
            };
            let mut entries: Vec<_> = generated(more, 1234);
            for (i, e) in entries.iter_mut().enumerate() {
                e.elector_number = format!("ZZ8-{}", i + 1);
            }
            let r = svc.import_csv(console, "E1", csv_of(&entries).as_slice(), &opts, &|_| {}).unwrap();
            *more_ids.borrow_mut() = r.ids;
        },
    );
    let mut ids: Vec<u64> = s.e1.iter().map(|(id, _)| *id).collect();
    ids.extend(more_ids.into_inner());
    (s, ids)
}

/// The test server's settings, without the per-principal request rate (these tests read
/// hundreds of electors as fast as they can).
fn unhurried() -> rollguard_server::ServerConfig {
    let rate = rollguard_server::limits::Rate { burst: 100_000, per_second: 100_000.0 };
    rollguard_server::ServerConfig { principal_rate: rate, ..test_config() }
}

/// Detection with no rules at all (only the budgets act).
fn without_rules(dir: &std::path::Path) -> rollguard_server::detection::DetectionConfig {
    rollguard_server::detection::DetectionConfig { rules_dir: Some(dir.to_owned()), ..Default::default() }
}

fn read(s: &Server, token: &str, id: u64) -> Reply {
    s.get(&format!("/api/v1/authorities/E1/electors/{id}"), &[("authorization", &bearer(token))])
}

#[test]
fn a_read_budget_spent_before_a_restart_is_still_spent_after_it() {
    let rules = tempfile::tempdir().unwrap();
    let (s, ids) = start_with_more(600, budget_policy(600), without_rules(rules.path()));
    let token = s.service_token.clone();
    for &id in &ids[..590] {
        let r = read(&s, &token, id);
        assert_eq!(r.status, 200, "{}", r.text);
    }
    let s = s.restart(unhurried(), budget_policy(600), without_rules(rules.path()));
    for &id in &ids[590..600] {
        let r = read(&s, &token, id);
        assert_eq!(r.status, 200, "read {id} after the restart: {}", r.text);
    }
    let refused = read(&s, &token, ids[600]);
    assert_eq!(refused.status, 429, "{}", refused.text);
    assert!(refused.body["type"].as_str().unwrap().ends_with("read-budget"), "{}", refused.text);
}

#[test]
fn a_correlation_window_open_at_a_restart_still_counts_after_it() {
    // The shipped bulk-read rule: more than 200 distinct electors in five minutes suspends.
    // The test authority is one polling district: district coverage would act first.
    let policy = || rollguard_service::Policy {
        coverage: rollguard_detect::DistrictCoverage::OFF,
        ..Default::default()
    };
    let (s, ids) = start_with_more(200, policy(), Default::default());
    let token = s.service_token.clone();
    for &id in &ids[..150] {
        assert_eq!(read(&s, &token, id).status, 200);
    }
    let s = s.restart(unhurried(), policy(), Default::default());
    assert_eq!(read(&s, &token, ids[150]).status, 200, "150 electors raise nothing");
    for &id in &ids[151..205] {
        let r = read(&s, &token, id);
        assert!(r.status == 200 || r.status == 401, "{}", r.text);
    }
    // The window held the reads from before the restart: 205 distinct electors in it.
    wait_until("the suspension", || read(&s, &token, ids[0]).status == 401);
    let alerts: Vec<_> = audit_events(&s)
        .into_iter()
        .filter(|e| e.kind == rollguard_audit::Kind::Alert)
        .filter(|e| e.detail.get("title").is_some_and(|t| t.starts_with("Bulk read")))
        .collect();
    assert_eq!(alerts.len(), 1, "one alert, after the restart: {alerts:?}");
}

#[test]
fn half_sent_headers_neither_hold_the_server_nor_stay_open_past_the_header_timeout() {
    let timeout = Duration::from_secs(2);
    let s =
        start(rollguard_server::ServerConfig { header_timeout: timeout, ..test_config() }, accounts_config());
    let (token, _) = s.session();
    let auth = bearer(&token);
    let addr = s.base.trim_start_matches("http://").to_owned();
    // Each with when it began connecting and when its half header had been sent.
    let mut stalled: Vec<(Instant, Instant, std::net::TcpStream)> = (0..500)
        .map(|_| {
            let began = Instant::now();
            let mut c = std::net::TcpStream::connect(&addr).unwrap();
            c.write_all(b"GET /api/v1/me HTTP/1.1\r\nHost: localhost\r\nX-Half: ").unwrap();
            (began, Instant::now(), c)
        })
        .collect();
    let asked = Instant::now();
    let r = s.get("/api/v1/me", &[("authorization", &auth)]);
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(asked.elapsed() < Duration::from_secs(1), "the officer waited {:?}", asked.elapsed());
    // Every stalled connection is closed by the server (EOF or reset) once the header timeout
    // has passed since it was opened, give or take scheduling on a busy machine.
    let slack = Duration::from_secs(2);
    for (i, (began, opened, c)) in stalled.iter_mut().enumerate() {
        let left = (*opened + timeout + slack).saturating_duration_since(Instant::now());
        c.set_read_timeout(Some(left.max(Duration::from_millis(1)))).unwrap();
        let mut buf = Vec::new();
        match c.read_to_end(&mut buf) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
            Err(e) => panic!("connection {i} still open {:?} after it was opened: {e}", opened.elapsed()),
        }
        assert!(began.elapsed() >= timeout, "connection {i} closed before the timeout");
        let text = String::from_utf8_lossy(&buf);
        assert!(text.is_empty() || text.starts_with("HTTP/1.1 408"), "connection {i}: {text}");
    }
    assert_eq!(s.get("/api/v1/me", &[("authorization", &auth)]).status, 200);
}

/// Sends `head`, then `body` a moment later as a slow client would, and reads one response.
fn slow_body_request(c: &mut std::net::TcpStream, head: &str, body: &[u8]) -> String {
    c.write_all(head.as_bytes()).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    c.write_all(body).unwrap();
    read_response(c)
}

/// Reads one response (head and Content-Length body) from a keep-alive connection.
fn read_response(c: &mut std::net::TcpStream) -> String {
    c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut got = Vec::new();
    let mut byte = [0u8; 1];
    while !got.ends_with(b"\r\n\r\n") {
        match c.read(&mut byte) {
            Ok(1) => got.push(byte[0]),
            other => panic!(
                "the connection ended before a response head: {other:?}; got {:?}",
                String::from_utf8_lossy(&got)
            ),
        }
    }
    let head = String::from_utf8_lossy(&got).into_owned();
    let length = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse::<usize>().unwrap())
        })
        .unwrap_or(0);
    let mut body = vec![0u8; length];
    c.read_exact(&mut body).unwrap();
    head
}

#[test]
fn a_refusal_before_the_body_has_arrived_leaves_the_keep_alive_connection_usable() {
    let s = start(test_config(), accounts_config());
    let addr = s.base.trim_start_matches("http://").to_owned();
    let mut c = std::net::TcpStream::connect(&addr).unwrap();
    c.set_nodelay(true).unwrap();
    let body = br#"{"set":{"address_line_1":"9 Heron Way"}}"#;
    let head = format!(
        "PATCH /api/v1/authorities/E1/electors/1 HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    // No credential: refused without the body being needed.
    let refused = slow_body_request(&mut c, &head, body);
    assert!(refused.starts_with("HTTP/1.1 401"), "{refused}");
    assert!(!refused.to_ascii_lowercase().contains("connection: close"), "{refused}");
    // The same connection serves the next request.
    c.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n").unwrap();
    let next = read_response(&mut c);
    assert!(next.starts_with("HTTP/1.1 200"), "{next}");
}

#[test]
fn a_body_left_unread_is_answered_with_connection_close() {
    // A body over the limit is not read ahead of the handler; the client is told the
    // connection ends rather than finding out on its next request.
    let s = start(rollguard_server::ServerConfig { max_body_bytes: 64, ..test_config() }, accounts_config());
    let addr = s.base.trim_start_matches("http://").to_owned();
    let mut c = std::net::TcpStream::connect(&addr).unwrap();
    let body = vec![b' '; 4096];
    let head = format!(
        "PATCH /api/v1/authorities/E1/electors/1 HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let refused = slow_body_request(&mut c, &head, &body);
    assert!(refused.starts_with("HTTP/1.1 401"), "{refused}");
    assert!(refused.to_ascii_lowercase().contains("connection: close"), "{refused}");
}

#[test]
fn a_body_cut_short_is_refused_by_name_and_changes_nothing() {
    let s = start(test_config(), accounts_config());
    let (token, _) = s.session();
    let auth = bearer(&token);
    let id = s.e1[0].0;
    let read =
        |s: &Server| s.get(&format!("/api/v1/authorities/E1/electors/{id}"), &[("authorization", &auth)]);
    let before = read(&s).body["fields"].clone();
    let addr = s.base.trim_start_matches("http://").to_owned();
    let mut c = std::net::TcpStream::connect(&addr).unwrap();
    let body = br#"{"set":{"address_line_1":"9 Heron Way"}}"#;
    let head = format!(
        "PATCH /api/v1/authorities/E1/electors/{id} HTTP/1.1\r\nHost: localhost\r\nAuthorization: {auth}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len() + 40
    );
    c.write_all(head.as_bytes()).unwrap();
    c.write_all(body).unwrap();
    c.shutdown(std::net::Shutdown::Write).unwrap();
    let refused = read_response(&mut c);
    assert!(refused.starts_with("HTTP/1.1 400"), "{refused}");
    assert!(refused.to_ascii_lowercase().contains("connection: close"), "{refused}");
    assert_eq!(read(&s).body["fields"], before);
}
