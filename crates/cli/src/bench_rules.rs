//! `rollguard bench rules`: rule evaluation throughput on one core with the shipped rules
//! plus generated ones, against enrichment alone in the same run; then alert latency under
//! load through the live path (audit log → subscription → enrichment → engine).

use crate::context::Result;
use crate::output::say;
use rand::{Rng, SeedableRng};
use rollguard_audit::{AuditLog, Event, Kind, NoteSigner, Outcome};
use rollguard_detect::{Engine, EnrichConfig, Enricher, Observed, RuleSet};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

const KINDS: &[&str] =
    &["elector.read", "elector.search", "elector.write", "auth.password", "auth.mfa", "register.export"];

/// `n` generated rules of the sorts an analyst writes: single-event detections with
/// modifiers, and counting correlations.
pub fn generated_rules(n: usize, seed: u64) -> String {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut out = String::new();
    for i in 0..n {
        let kind = KINDS[rng.gen_range(0..KINDS.len())];
        let extra = match rng.gen_range(0..6) {
            0 => format!("    principal|startswith: svc-{i}\n"),
            1 => format!(
                "    detail.criteria|contains: postcode{}\n",
                if i % 2 == 0 { "" } else { ",surname" }
            ),
            2 => format!("    client|cidr: 10.{}.0.0/16\n", i % 250),
            3 => format!("    elector_count|gte: {}\n", 50 + i),
            4 => format!("    principal|re: '^officer-(x{i}|y{i})$'\n"),
            _ => format!("    authority:\n      - E0700{i:04}\n      - W0600{i:04}\n"),
        };
        if i % 3 == 0 {
            out.push_str(&format!(
                "title: generated correlation {i}\nlevel: medium\ncorrelation:\n  type: {}\n  rules: [gen_base_{i}]\n  group-by: [principal]\n  timespan: 5m\n  condition:\n{}---\n",
                if i % 2 == 0 { "event_count" } else { "value_count" },
                if i % 2 == 0 { format!("    gte: {}\n", 500 + i) } else { format!("    field: electors\n    gt: {}\n", 1000 + i) }
            ));
            out.push_str(&format!(
                "title: generated base {i}\nname: gen_base_{i}\nlogsource:\n  product: rollguard\ndetection:\n  s:\n    kind: {kind}\n    outcome: success\n  condition: s\n---\n"
            ));
        } else {
            out.push_str(&format!(
                "title: generated rule {i}\nlevel: low\nlogsource:\n  product: rollguard\ndetection:\n  s:\n    kind: {kind}\n{extra}  filter:\n    principal|endswith: -test\n  condition: s and not filter\n---\n"
            ));
        }
    }
    out
}

/// A realistic stream: mostly single reads by a few hundred officers from a few dozen
/// offices, some searches, logins, writes; ids scattered (so bulk rules stay quiet).
fn stream(n: usize, seed: u64) -> Vec<Event> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let t0 = 1_800_000_000_000i64;
    (0..n)
        .map(|i| {
            let officer = rng.gen_range(0..300);
            let who = format!("officer-{officer}");
            // Each officer works from one office.
            let office = officer % 40;
            let roll = rng.gen_range(0..1000) / 10;
            let t = t0 + i64::try_from(i / 8).expect("a benchmark stream is short"); // 8,000 events a second
            let mut e = match roll {
                0..=59 => Event::new(t, Kind::ElectorRead, Outcome::Success)
                    .electors([rng.gen_range(1..40_000_000)]),
                60..=74 => {
                    let k = rng.gen_range(0..20);
                    Event::new(t, Kind::ElectorSearch, Outcome::Success)
                        .electors((0..k).map(|_| rng.gen_range(1..40_000_000)))
                        .detail("criteria", "surname,postcode")
                        .detail("results", k.to_string())
                }
                75..=84 => Event::new(
                    t,
                    Kind::AuthPassword,
                    if roll == 84 { Outcome::Failure } else { Outcome::Success },
                ),
                85..=89 => Event::new(t, Kind::AuthMfa, Outcome::Success),
                90..=96 => Event::new(t, Kind::ElectorWrite, Outcome::Success)
                    .electors([rng.gen_range(1..40_000_000)])
                    .detail("change", "amended"),
                _ => Event::new(t, Kind::ApplicationRead, Outcome::Success),
            };
            e.seq = i as u64;
            e.principal = Some(who);
            e.client = Some(format!("192.0.{office}.{}", 10 + officer / 40));
            e.authority = Some("E07000123".into());
            e
        })
        .collect()
}

fn evaluate(set: RuleSet, events: &[Event]) -> (f64, usize) {
    let mut engine = Engine::new(set);
    let mut enricher = Enricher::new(EnrichConfig::default());
    enricher.set_canaries([7, 11, 13]);
    let started = Instant::now();
    let mut alerts = 0;
    for e in events {
        let mut o = Observed::from_event(e);
        enricher.enrich(&mut o);
        alerts += engine.observe(&o).len();
    }
    (events.len() as f64 / started.elapsed().as_secs_f64(), alerts)
}

pub fn run(events: u64) -> Result<()> {
    let n = usize::try_from(events).map_err(|_| format!("--events {events}: too many for this machine"))?;
    let extra = generated_rules(100, 7);
    let mut sources: Vec<(&str, &str)> = rollguard_detect::ruleset::SHIPPED.to_vec();
    sources.push(("generated.yml", &extra));
    let full = RuleSet::from_sources(sources.iter().copied());
    if !full.errors.is_empty() {
        return Err(format!("generated rules refused: {}", full.errors[0]).into());
    }
    let evs = stream(n, 1);
    throughput(&full, &evs);
    latency_under_load(&full, &evs)
}

/// Rule evaluation on one thread: no rules, the shipped rules, and the shipped plus 100
/// generated, each measured three times, alternating, the best kept (the least disturbed
/// by the rest of a shared machine).
fn throughput(full: &RuleSet, evs: &[Event]) {
    let shipped = RuleSet::shipped();
    say!(
        "rollguard bench rules: {} events, one thread; {} rules ({} shipped + 100 generated as {} documents)",
        evs.len(),
        full.len(),
        shipped.len(),
        full.len() - shipped.len()
    );
    let _ = evaluate(RuleSet::default(), &evs[..evs.len().min(100_000)]);
    let mut best = [0f64; 3];
    let mut alerts = [0usize; 3];
    for _ in 0..3 {
        for (i, set) in [RuleSet::default(), RuleSet::shipped(), full.clone()].into_iter().enumerate() {
            let (rate, a) = evaluate(set, evs);
            best[i] = best[i].max(rate);
            alerts[i] = a;
        }
    }
    say!("  enrichment only (no rules)         {:>12.0} events/s", best[0]);
    say!(
        "  shipped rules ({:>3})               {:>12.0} events/s  ({} alerts)",
        shipped.len(),
        best[1],
        alerts[1]
    );
    say!(
        "  shipped + 100 generated ({:>3})     {:>12.0} events/s  ({} alerts); {:.2}x the time of enrichment alone",
        full.len(),
        best[2],
        alerts[2],
        best[0] / best[2]
    );
    let engine = Engine::new(full.clone());
    say!(
        "  ({} correlations read {} windows: those counting the same events the same way share one)",
        full.correlations(),
        engine.windows()
    );
}

/// Producers' events committed at this rate in all.
const RATE: f64 = 50_000.0;
const PRODUCERS: u64 = 32;
/// Canary elector ids start here, far above the stream's.
const CANARY_BASE: u64 = 90_000_000;

/// Alert latency under load: events go through the real pipeline (committed by 32 producing
/// threads through the register's grouped writer into the outbox, sequenced into the log,
/// read back by detection) at up to 50,000 events/s in all; every 500th reads a canary, and
/// latency runs from the start of its write to detection raising the alert.
fn latency_under_load(full: &RuleSet, evs: &[Event]) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (register, store, path) = crate::bench_audit::setup(dir.path(), "rules")?;
    let signer =
        NoteSigner::from_seed("rollguard.local/bench", rollguard_sealing::KeyBytes::random().expose())?;
    let connect: rollguard_audit::LogConnector = Arc::new(move || {
        Ok(Box::new(rollguard_store::SqliteAuditStore::open(&path)?) as Box<dyn rollguard_store::AuditStore>)
    });
    drop(store);
    let log = AuditLog::open(&register, connect, signer, &[])?;
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sequencer = rollguard_audit::spawn_sequencer(
        log.clone(),
        register.clone(),
        std::time::Duration::from_millis(20),
        stop.clone(),
    )?;
    let committed: Arc<Mutex<HashMap<u64, Instant>>> = Arc::default();
    let per = evs.len().min(500_000) as u64 / PRODUCERS;
    let canary_ids: Vec<u64> = (0..per * PRODUCERS / 500 + PRODUCERS).map(|k| CANARY_BASE + k).collect();
    let detector = spawn_detector(full.clone(), log, canary_ids, committed.clone(), per * PRODUCERS);
    let started = Instant::now();
    std::thread::scope(|s| {
        for p in 0..PRODUCERS {
            let (register, committed) = (&register, &committed);
            s.spawn(move || produce(register, committed, evs, p, per));
        }
    });
    let mut lat = detector.join().map_err(|_| "the detection thread panicked")?;
    let secs = started.elapsed().as_secs_f64();
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let _ = sequencer.join();
    if lat.is_empty() {
        return Err(format!(
            "the latency measurement is void: none of the {} canary reads raised an alert that detection saw",
            per * PRODUCERS / 500
        )
        .into());
    }
    lat.sort();
    // `p` is in [0, 1], so the rank is a whole number from 0 to `len`: nothing to cut or lose.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let pct = |p: f64| {
        lat.get(((lat.len() as f64 * p).ceil() as usize).saturating_sub(1)).copied().unwrap_or_default()
    };
    say!(
        "  under load: {} events committed, sequenced and run through detection in {:.2} s ({:.0}/s); canary alert latency from the read's write (commit, sequencing, detection) p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms over {} alerts",
        per * PRODUCERS,
        secs,
        (per * PRODUCERS) as f64 / secs,
        pct(0.5).as_secs_f64() * 1000.0,
        pct(0.99).as_secs_f64() * 1000.0,
        lat.last().copied().unwrap_or_default().as_secs_f64() * 1000.0,
        lat.len()
    );
    Ok(())
}

/// Detection reading the sequenced log from position 0: for each critical alert on a canary,
/// the time since that canary's read began its write.
fn spawn_detector(
    set: RuleSet,
    log: AuditLog,
    canary_ids: Vec<u64>,
    committed: Arc<Mutex<HashMap<u64, Instant>>>,
    total: u64,
) -> std::thread::JoinHandle<Vec<std::time::Duration>> {
    std::thread::spawn(move || {
        let mut engine = Engine::new(set);
        let mut enricher = Enricher::new(EnrichConfig::default());
        enricher.set_canaries(canary_ids);
        let mut latencies = Vec::new();
        let mut position = 0;
        while position < total {
            if !log.wait_for(position + 1, std::time::Duration::from_secs(10)) {
                break;
            }
            let Ok(events) = log.events(position, position + 1024) else { break };
            // The log's own index, not the producer's `seq` in the event body.
            position += events.len() as u64;
            for ev in &events {
                let mut o = Observed::from_event(ev);
                enricher.enrich(&mut o);
                for a in engine.observe(&o) {
                    if a.level != rollguard_detect::Level::Critical {
                        continue;
                    }
                    if let Some(t) =
                        ev.electors.first().and_then(|id| committed.lock().expect("times").remove(id))
                    {
                        latencies.push(t.elapsed());
                    }
                }
            }
        }
        latencies
    })
}

/// Producer `p`: commits its `per` events at its share of [`RATE`], every 500th a canary
/// read whose write's start it records.
fn produce(
    register: &rollguard_store::Register,
    committed: &Mutex<HashMap<u64, Instant>>,
    evs: &[Event],
    p: u64,
    per: u64,
) {
    let begun = Instant::now();
    for i in 0..per {
        if i % 20 == 0 {
            let due = std::time::Duration::from_secs_f64(i as f64 / (RATE / PRODUCERS as f64));
            if let Some(wait) = due.checked_sub(begun.elapsed()) {
                std::thread::sleep(wait);
            }
        }
        let k = usize::try_from(p * per + i).expect("below `load`, at most 500,000");
        let mut e = evs[k % evs.len()].clone();
        // Outbox events carry seq 0: the sequencer gives each its log index (the stream's own
        // numbering would be refused as not canonical, and stop the log).
        e.seq = 0;
        let canary = (i % 500 == 499).then(|| CANARY_BASE + (p * per + i) / 500);
        if let Some(id) = canary {
            e.kind = Kind::ElectorRead;
            e.electors = vec![id];
        }
        let body = e.canonical();
        // Timed from the start of the write: detection can see the event before this thread
        // is told its commit is durable.
        if let Some(id) = canary {
            committed.lock().expect("times").insert(id, Instant::now());
        }
        if register.write(move |tx| tx.append_event(&body).map(|_| ())).is_err() {
            if let Some(id) = canary {
                committed.lock().expect("times").remove(&id);
            }
        }
    }
}
