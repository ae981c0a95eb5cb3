//! `rollguard bench audit`: durable append rate with group commit, full verification rate,
//! and in the same run SHA-256 throughput on event-sized inputs, the physical bound for
//! both.

use crate::context::Result;
use crate::output::say;
use rollguard_audit::{merkle, replay, AuditLog, Event, Kind, NoteSigner, Outcome};
use rollguard_store::SqliteAuditStore;
use std::time::Instant;

fn event(i: u64) -> Event {
    Event::new(1_800_000_000_000 + i as i64, Kind::ElectorRead, Outcome::Success)
        .principal("officer-ann")
        .authority("E07000001")
        .electors([1_000_000 + i])
        .detail("route", "/api/v1/authorities/{authority}/electors/{id}")
}

pub fn run(events: u64, producers: usize) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("bench.audit");
    let signer =
        NoteSigner::from_seed("rollguard.local/bench", rollguard_sealing::KeyBytes::random().expose())?;
    let verifier = signer.verifier();
    say!("rollguard bench audit: {events} events, {producers} producing threads, SQLite synchronous=FULL");

    // The bound: SHA-256 over canonical events of this size (one leaf hash each, plus on
    // average one 65-byte node hash per leaf).
    let sample = {
        let mut e = event(123_456);
        e.seq = 123_456;
        e.canonical()
    };
    let started = Instant::now();
    let mut acc = [0u8; 32];
    for i in 0..events {
        let mut b = sample.clone();
        let at = b.len() - 3;
        b[at] = (i % 251) as u8;
        let leaf = merkle::leaf_hash(&b);
        acc = merkle::node_hash(&acc, &leaf);
    }
    std::hint::black_box(acc);
    let sha_secs = started.elapsed().as_secs_f64();
    let sha_rate = events as f64 / sha_secs;

    let log = AuditLog::open(Box::new(SqliteAuditStore::open(&path)?), signer)?;
    let per = events / producers as u64;
    let started = Instant::now();
    let threads: Vec<_> = (0..producers as u64)
        .map(|t| {
            let log = log.clone();
            std::thread::spawn(move || -> std::result::Result<(), rollguard_audit::LogError> {
                // Each producer keeps up to 4,096 events in flight, then waits for the last
                // to be durable, as a busy server's request handlers would.
                let mut last = None;
                for i in 0..per {
                    last = Some(log.submit(event(t * per + i))?);
                    if i % 4096 == 4095 {
                        log.wait(last.take().expect("submitted"))?;
                    }
                }
                if let Some(l) = last {
                    log.wait(l)?;
                }
                Ok(())
            })
        })
        .collect();
    for t in threads {
        t.join().map_err(|_| "a producer panicked")??;
    }
    let append_secs = started.elapsed().as_secs_f64();
    let total = per * producers as u64;
    log.checkpoint()?;
    log.close();
    drop(log);

    let store = SqliteAuditStore::open(&path)?;
    let started = Instant::now();
    let report = replay(&store, &verifier, &[])?;
    let verify_secs = started.elapsed().as_secs_f64();
    assert_eq!(report.tree.size(), total);
    let bytes = std::fs::metadata(&path)?.len();

    say!();
    say!("| measure | rate | against SHA-256 bound |");
    say!("|---|---|---|");
    say!("| SHA-256, one leaf + one node hash per event (bound) | {:.0} events/s | 1.00× |", sha_rate);
    say!(
        "| durable append (group commit) | {:.0} events/s | {:.2}× |",
        total as f64 / append_secs,
        (total as f64 / append_secs) / sha_rate
    );
    say!(
        "| verify (read, check order, rehash, check checkpoint) | {:.0} events/s | {:.2}× |",
        total as f64 / verify_secs,
        (total as f64 / verify_secs) / sha_rate
    );
    say!(
        "\n{total} events, {:.0} bytes each on disk; append {append_secs:.2} s, verify {verify_secs:.2} s",
        bytes as f64 / total as f64
    );
    Ok(())
}
