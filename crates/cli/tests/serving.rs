//! A running `rollguard serve` as operators and faults meet it: console commands beside it,
//! a log that went missing, and SIGKILL at random moments under load.

mod common;

use common::*;
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

fn new_elector(number: &str, surname: &str) -> serde_json::Value {
    json!({"fields": {
        "elector_number": number,
        "surname": surname,
        "given_names": "Maren",
        "address_line_1": "3 Ferry Row",
        "postcode": "LE65 2BB",
        "date_of_birth": "1988-04-09",
    }})
}

fn surname_of(body: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(body).unwrap();
    v["fields"]["surname"].as_str().unwrap_or_default().to_owned()
}

#[test]
fn authorities_and_keys_change_at_the_console_while_a_server_runs() {
    let (env, token) = register_with_sync(20);
    let s = env.serve(&[]);
    let third = s.elector_ids(&token, &numbers_in(&env.generated_csv())[2..3])[0];
    let one = &format!("/api/v1/authorities/E07000001/electors/{third}");
    assert_eq!(s.get(one, &token).0, 200);

    env.ok(&["authority", "add", "E07000002", "--name", "Brook Vale"]);
    let (status, body) = s.send(
        "POST",
        "/api/v1/authorities/E07000002/electors",
        &token,
        Some(new_elector("BB-1", "Lindqvist")),
    );
    assert_eq!(status, 201, "a new authority is usable at once: {body}");
    let id: serde_json::Value = serde_json::from_str(&body).unwrap();
    let new_one = format!("/api/v1/authorities/E07000002/electors/{}", id["id"]);
    let (status, body) = s.get(&new_one, &token);
    assert_eq!((status, surname_of(&body)), (200, "Lindqvist".to_owned()), "{body}");

    env.ok(&["keys", "rotate-data", "--authority", "E07000001"]);
    let (status, body) = s.send(
        "POST",
        "/api/v1/authorities/E07000001/electors",
        &token,
        Some(new_elector("AA-900", "Haddow")),
    );
    assert_eq!(status, 201, "an add under the new seal-key generation: {body}");
    assert_eq!(s.get(one, &token).0, 200, "an entry under the old generation");
    env.ok(&["keys", "reseal", "--authority", "E07000001"]);
    assert_eq!(s.get(one, &token).0, 200, "an entry re-sealed under the new generation");

    env.ok(&["keys", "rotate"]);
    assert_eq!(s.get(one, &token).0, 200, "a data key rewrapped under the new KEK");
    let (status, body) = s.get(&new_one, &token);
    assert_eq!((status, surname_of(&body)), (200, "Lindqvist".to_owned()), "{body}");
    let (status, body) =
        s.send("POST", "/api/v1/authorities/E07000002/electors", &token, Some(new_elector("BB-2", "Okonjo")));
    assert_eq!(status, 201, "{body}");
    drop(s);

    env.ok(&["audit", "checkpoint"]);
    let events = audit_events(&env);
    let by_console = |operation: &str| {
        events.iter().any(|e| {
            e["kind"] == "key.operation"
                && e["detail"]["operation"] == operation
                && e["principal"].as_str().is_some_and(|p| p.starts_with("console:"))
        })
    };
    for operation in ["authority-add", "rotate-data-key", "reseal", "rotate-kek"] {
        assert!(by_console(operation), "{operation} is in the log");
    }
    env.ok(&["audit", "verify"]);
}

#[test]
fn a_missing_or_older_audit_log_stops_serve_and_says_why() {
    let (env, token) = register_with_sync(10);
    let audit = std::path::PathBuf::from(format!("{}.audit", env.db.display()));
    let older = env._db_dir.path().join("older.audit");
    rusqlite::Connection::open(&audit).unwrap().execute("VACUUM INTO ?1", [older.to_str().unwrap()]).unwrap();
    let s = env.serve(&[]);
    let ids = s.elector_ids(&token, &numbers_in(&env.generated_csv())[..3]);
    for id in &ids {
        assert_eq!(s.get(&format!("/api/v1/authorities/E07000001/electors/{id}"), &token).0, 200);
    }
    drop(s);
    env.ok(&["audit", "checkpoint"]);
    let current = env._db_dir.path().join("current.audit");
    std::fs::rename(&audit, &current).unwrap();
    let serve = ["serve", "--listen", "127.0.0.1:0", "--insecure-cookies"];

    let err = env.fails(&serve);
    assert!(err.contains("is missing") && err.contains("restore it"), "{err}");
    assert!(!audit.exists(), "no new, empty log was started over the history");

    std::fs::copy(&older, &audit).unwrap();
    let err = env.fails(&serve);
    assert!(err.contains("refusing to start"), "{err}");
    assert!(err.contains("older") || err.contains("shorter"), "the reason is given: {err}");

    std::fs::rename(&current, &audit).unwrap();
    let s = env.serve(&[]);
    assert_eq!(s.get(&format!("/api/v1/authorities/E07000001/electors/{}", ids[0]), &token).0, 200);
}

/// A small deterministic generator for the kill moments.
struct Moments(u64);

impl Moments {
    fn next_ms(&mut self, from: u64, to: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        from + self.0 % (to - from)
    }
}

/// What the clients were told, and what they tried.
#[derive(Default)]
struct Ledger {
    /// Per elector, every value sent, in order, and how many of them were acknowledged.
    sent: BTreeMap<u64, Vec<String>>,
    last_acked: BTreeMap<u64, usize>,
    writes_acked: BTreeMap<u64, usize>,
    reads_acked: BTreeMap<u64, usize>,
}

fn load(s: &Serving, (token, ids): (&str, &[u64]), round: usize, ledger: &Mutex<Ledger>, stop: &AtomicBool) {
    std::thread::scope(|scope| {
        for w in 0..2u64 {
            scope.spawn(move || {
                let mut n = 0u64;
                while !stop.load(Ordering::SeqCst) {
                    let id = ids[usize::try_from(w * 10 + n % 10).unwrap()];
                    let value = format!("{round}-{w}-{n} Heron Way");
                    ledger.lock().unwrap().sent.entry(id).or_default().push(value.clone());
                    let path = format!("/api/v1/authorities/E07000001/electors/{id}");
                    let (status, body) =
                        s.send("PATCH", &path, token, Some(json!({"set": {"address_line_1": value}})));
                    match status {
                        200 => {
                            let mut l = ledger.lock().unwrap();
                            let at = l.sent[&id].len() - 1;
                            l.last_acked.insert(id, at);
                            *l.writes_acked.entry(id).or_default() += 1;
                        }
                        0 => break, // the server is gone
                        429 | 503 => std::thread::sleep(Duration::from_millis(50)),
                        other => panic!("amendment answered {other}: {body}"),
                    }
                    n += 1;
                    std::thread::sleep(Duration::from_millis(15));
                }
            });
        }
        for r in 0..2u64 {
            scope.spawn(move || {
                let mut n = 0u64;
                while !stop.load(Ordering::SeqCst) {
                    let id = ids[usize::try_from(30 + r * 10 + n % 10).unwrap()];
                    let (status, body) =
                        s.get(&format!("/api/v1/authorities/E07000001/electors/{id}"), token);
                    match status {
                        200 => *ledger.lock().unwrap().reads_acked.entry(id).or_default() += 1,
                        0 => break,
                        429 | 503 => std::thread::sleep(Duration::from_millis(50)),
                        other => panic!("read answered {other}: {body}"),
                    }
                    n += 1;
                    std::thread::sleep(Duration::from_millis(15));
                }
            });
        }
    });
}

#[test]
fn a_server_killed_at_random_moments_loses_nothing_it_acknowledged() {
    let (env, token) = register_with_sync(60);
    let ids = env.serve(&[]).elector_ids(&token, &numbers_in(&env.generated_csv())[..50]);
    let ledger = Mutex::new(Ledger::default());
    let mut moments = Moments(0x5eed_2026);
    for round in 0..5 {
        let mut s = env.serve(&[]);
        let pid = s.child.0.id().to_string();
        let stop = AtomicBool::new(false);
        let kill_after = Duration::from_millis(moments.next_ms(200, 1500));
        std::thread::scope(|scope| {
            scope.spawn(|| load(&s, (&token, &ids), round, &ledger, &stop));
            std::thread::sleep(kill_after);
            let killed = std::process::Command::new("kill").args(["-KILL", &pid]).status().unwrap();
            assert!(killed.success());
            stop.store(true, Ordering::SeqCst);
        });
        s.child.0.wait().unwrap();
    }
    let ledger = ledger.into_inner().unwrap();
    let sent: usize = ledger.sent.values().map(Vec::len).sum();
    eprintln!(
        "5 kills: {sent} amendments sent, {} acknowledged; {} reads answered",
        ledger.writes_acked.values().sum::<usize>(),
        ledger.reads_acked.values().sum::<usize>()
    );
    assert!(
        ledger.writes_acked.values().sum::<usize>() > 0 && ledger.reads_acked.values().sum::<usize>() > 0
    );

    // The next command to open the register sequences what the killed servers left in the
    // outbox; then the whole log verifies.
    env.ok(&["audit", "checkpoint"]);
    let verified = env.ok(&["audit", "verify"]);
    assert!(verified.contains("events verified"), "{verified}");
    let events = audit_events(&env);
    let count = |kind: &str, id: u64| {
        events
            .iter()
            .filter(|e| e["kind"] == kind && e["principal"] == "sync" && e["electors"][0] == id)
            .count()
    };
    let s = env.serve(&[]);
    for (id, acked) in &ledger.writes_acked {
        let sent = &ledger.sent[id];
        let writes = count("elector.write", *id);
        assert!(
            writes >= *acked && writes <= sent.len(),
            "elector {id}: {writes} events, {acked} acknowledged"
        );
        let (status, body) = s.get(&format!("/api/v1/authorities/E07000001/electors/{id}"), &token);
        assert_eq!(status, 200, "{body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        let now = v["fields"]["address_line_1"].as_str().unwrap();
        // The last acknowledged value, or one sent after it (in flight when the server died).
        let at = sent.iter().rposition(|x| x == now).expect("the entry holds a value that was sent");
        assert!(at >= ledger.last_acked[id], "elector {id} went back to an older value");
    }
    for (id, acked) in &ledger.reads_acked {
        let reads = count("elector.read", *id);
        assert!(reads >= *acked, "elector {id}: {reads} read events, {acked} reads answered");
    }
}
