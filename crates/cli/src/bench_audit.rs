//! `rollguard bench audit`: the durable audit pipeline as use cases drive it. Producer
//! threads each commit write units holding one audit event (as requests do) through the
//! register's grouped writer, while the sequencer moves committed outbox events into the
//! Merkle log; the rate is events per second from the first commit until the last event is
//! in the log, durable. Also measured in the same run: the sequencer alone on a full outbox,
//! full verification, and SHA-256 over event-sized inputs (the physical bound).

use crate::context::Result;
use crate::output::say;
use rollguard_audit::{merkle, replay, sequencer, Event, Kind, NoteSigner, Outcome};
use rollguard_store::runtime::Connector;
use rollguard_store::{Register, RegisterConfig, SqliteAuditStore, SqliteStore, Store};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

fn event(i: u64) -> Vec<u8> {
    let ms = 1_800_000_000_000 + i64::try_from(i).expect("a benchmark counts far fewer events");
    Event::new(ms, Kind::ElectorRead, Outcome::Success)
        .principal("officer-ann")
        .authority("E07000001")
        .electors([1_000_000 + i])
        .detail("route", "/api/v1/authorities/{authority}/electors/{id}")
        .canonical()
}

pub(crate) fn setup(
    dir: &std::path::Path,
    name: &str,
) -> Result<(Register, SqliteAuditStore, std::path::PathBuf)> {
    let db = dir.join(format!("{name}.db"));
    let connect: Connector = {
        let db = db.clone();
        Arc::new(move || Ok(Box::new(SqliteStore::open(&db)?) as Box<dyn Store>))
    };
    let register = Register::open(connect, RegisterConfig { readers: 2, grouped: true, max_group: 512 })?;
    let path = dir.join(format!("{name}.db.audit"));
    let mut log = SqliteAuditStore::open(&path)?;
    sequencer::introduce(&register, &mut log, |_| Ok(rollguard_audit::Frontier::new()))?;
    Ok((register, log, path))
}

/// Units one producer keeps queued.
const IN_FLIGHT: usize = 4096;

/// Each of `producers` threads commits `per` units of one event, waiting for each before the
/// next, as one request at a time would; returns events per second.
fn one_at_a_time(dir: &std::path::Path, producers: u64, per: u64) -> Result<f64> {
    let (register, _log, _) = setup(dir, "sync")?;
    let started = Instant::now();
    let threads: Vec<_> = (0..producers)
        .map(|t| {
            let reg = register.clone();
            std::thread::spawn(move || -> rollguard_store::Result<()> {
                for i in 0..per {
                    let body = event(t * per + i);
                    reg.write(move |tx| tx.append_event(&body).map(|_| ()))?;
                }
                Ok(())
            })
        })
        .collect();
    for t in threads {
        t.join().map_err(|_| "a producer panicked")??;
    }
    let secs = started.elapsed().as_secs_f64();
    register.close();
    #[allow(clippy::cast_precision_loss)] // a rate, not a count
    Ok((producers * per) as f64 / secs)
}

pub fn run(events: u64, producers: usize) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let signer =
        NoteSigner::from_seed("rollguard.local/bench", rollguard_sealing::KeyBytes::random().expose())?;
    say!(
        "rollguard bench audit: {events} events, {producers} producing threads each committing write units of \
         one event ({IN_FLIGHT} in flight each), SQLite synchronous=FULL"
    );
    let sha_rate = sha256_bound(events);
    let pipe = pipe(dir.path(), events, producers as u64)?;
    let total = pipe.total;
    let drain_secs = sequencer_alone(dir.path(), total)?;
    // One unit at a time per thread, 64 threads: each commit's thread hand-offs, unshared.
    let sync_rate = one_at_a_time(dir.path(), 64, (total / 5 / 64).max(1))?;

    let store = SqliteAuditStore::open(&pipe.log)?;
    let started = Instant::now();
    let report = replay(&store, &signer.verifier(), &[])?;
    let verify_secs = started.elapsed().as_secs_f64();
    assert_eq!(report.tree.size(), total);
    let bytes = std::fs::metadata(&pipe.log)?.len();

    let rate = |secs: f64| total as f64 / secs;
    let row = |what: &str, r: f64| say!("| {what} | {r:.0} events/s | {:.2}× |", r / sha_rate);
    say!();
    say!("| measure | rate | against SHA-256 bound |");
    say!("|---|---|---|");
    row("SHA-256, one leaf + one node hash per event (bound)", sha_rate);
    row("durable audit append: commits with events, sequenced into the log", rate(pipe.secs));
    row("of which: use-case commits (grouped writer)", rate(pipe.committed_secs));
    row("64 threads, each waiting for every commit before the next", sync_rate);
    row("sequencer alone (outbox → log, durable)", rate(drain_secs));
    row("verify (read, check order, rehash)", rate(verify_secs));
    say!(
        "\n{total} events, {:.0} bytes each in the log; pipe {:.2} s, sequencer {drain_secs:.2} s, verify {verify_secs:.2} s",
        bytes as f64 / total as f64,
        pipe.secs
    );
    say!(
        "target: audit append ≥ 100,000 events/s: {}",
        if rate(pipe.secs) >= 100_000.0 { "met" } else { "not met" }
    );
    Ok(())
}

/// The bound: SHA-256 over canonical events of this size (one leaf hash each, plus on
/// average one 65-byte node hash per leaf), in events per second.
fn sha256_bound(events: u64) -> f64 {
    let sample = event(123_456);
    let started = Instant::now();
    let mut acc = [0u8; 32];
    for i in 0..events {
        let mut b = sample.clone();
        let at = b.len() - 3;
        b[at] = (i % 251) as u8;
        acc = merkle::node_hash(&acc, &merkle::leaf_hash(&b));
    }
    std::hint::black_box(acc);
    events as f64 / started.elapsed().as_secs_f64()
}

struct Pipe {
    total: u64,
    /// Until the last producer's last commit.
    committed_secs: f64,
    /// Until the last event is in the log.
    secs: f64,
    log: std::path::PathBuf,
}

/// The whole pipe: producers commit, the sequencer follows.
fn pipe(dir: &std::path::Path, events: u64, producers: u64) -> Result<Pipe> {
    let (register, mut log, path) = setup(dir, "pipe")?;
    let done = Arc::new(AtomicBool::new(false));
    let per = events / producers;
    let total = per * producers;
    let started = Instant::now();
    let (seq_register, seq_done) = (register.clone(), done.clone());
    let sequencing = std::thread::spawn(move || -> std::result::Result<u64, String> {
        let mut appended = 0;
        loop {
            let finished = seq_done.load(Ordering::SeqCst);
            let pass =
                sequencer::sequence(&seq_register, &mut log, sequencer::BATCH).map_err(|e| e.to_string())?;
            appended += pass.appended;
            if pass.appended == 0 {
                if finished {
                    return Ok(appended);
                }
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
        }
    });
    let threads: Vec<_> = (0..producers)
        .map(|t| {
            let reg = register.clone();
            std::thread::spawn(move || -> rollguard_store::Result<()> {
                // Up to IN_FLIGHT units queued before waiting for the oldest, as a server's
                // concurrent requests keep the writer busy.
                let mut pending = std::collections::VecDeque::with_capacity(IN_FLIGHT);
                for i in 0..per {
                    let body = event(t * per + i);
                    pending.push_back(reg.submit(move |tx| tx.append_event(&body).map(|_| ())));
                    if pending.len() == IN_FLIGHT {
                        pending.pop_front().expect("full").wait()?;
                    }
                }
                pending.into_iter().try_for_each(|p| p.wait())
            })
        })
        .collect();
    for t in threads {
        t.join().map_err(|_| "a producer panicked")??;
    }
    let committed_secs = started.elapsed().as_secs_f64();
    done.store(true, Ordering::SeqCst);
    let appended = sequencing.join().map_err(|_| "the sequencer panicked")??;
    let secs = started.elapsed().as_secs_f64();
    assert_eq!(appended, total);
    register.close();
    Ok(Pipe { total, committed_secs, secs, log: path })
}

/// The sequencer alone, on an outbox already full of `total` events: seconds to drain it.
fn sequencer_alone(dir: &std::path::Path, total: u64) -> Result<f64> {
    let (register, mut log, _) = setup(dir, "drain")?;
    let mut filler = SqliteStore::open(&dir.join("drain.db"))?;
    let mut tx = filler.write()?;
    for i in 0..total {
        tx.append_event(&event(i))?;
    }
    tx.commit()?;
    let started = Instant::now();
    let drained = sequencer::drain(&register, &mut log)?.appended;
    let secs = started.elapsed().as_secs_f64();
    assert_eq!(drained, total);
    Ok(secs)
}
