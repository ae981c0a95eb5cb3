//! What the replay's attacker does: scans copied files for plaintext, doctors the audit log,
//! mangles a leaked supply and bulk-reads with a stolen session.

use super::harness::Http;
use super::{AUTHORITY, OFFICER};
use crate::context::{Context, Result};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rollguard_store::SqliteAuditStore;
use std::collections::BTreeSet;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Scans every file in `dir` for every elector's surname, first address line, postcode
/// (with and without its space), date of birth and NINO, each value of 7 bytes or more:
/// shorter ones turn up by chance in hundreds of megabytes of ciphertext (at 1,000,000
/// electors, 18 five-byte postcodes did, each amid random bytes). Every elector still has
/// several values scanned (address line, date of birth). Returns (values, hits, bytes).
pub(super) fn plaintext_scan(dir: &Path, csv: &[u8]) -> Result<(usize, usize, u64)> {
    const MIN: usize = 7;
    let mut values: BTreeSet<String> = BTreeSet::new();
    let mut r = csv::Reader::from_reader(csv);
    let headers = r.headers()?.clone();
    let col = |name: &str| headers.iter().position(|h| h == name);
    let (surname, line1, postcode, dob, nino) =
        (col("surname"), col("address_line_1"), col("postcode"), col("date_of_birth"), col("nino"));
    for rec in r.records() {
        let rec = rec?;
        let get = |i: Option<usize>| i.and_then(|i| rec.get(i)).unwrap_or("").trim().to_owned();
        let pc = get(postcode);
        for v in [get(surname), get(line1), get(dob), get(nino), pc.replace(' ', ""), pc] {
            if v.len() >= MIN {
                values.insert(v);
            }
        }
    }
    let list: Vec<&String> = values.iter().collect();
    let ac = aho_corasick::AhoCorasick::new(&list)?;
    let mut hits = 0;
    let mut bytes = 0u64;
    for e in std::fs::read_dir(dir)? {
        let p = e?.path();
        if p.is_file() {
            let b = std::fs::read(&p)?;
            bytes += b.len() as u64;
            for m in ac.find_overlapping_iter(&b) {
                hits += 1;
                // The register is synthetic, so a hit can be shown: which value, where, and
                // the bytes around it (a chance match in ciphertext has no text around it).
                if hits <= 5 {
                    let around = &b[m.start().saturating_sub(8)..(m.end() + 8).min(b.len())];
                    eprintln!(
                        "plaintext scan: {:?} in {} at byte {}: {:?}",
                        list[m.pattern().as_usize()],
                        p.display(),
                        m.start(),
                        String::from_utf8_lossy(around)
                    );
                }
            }
        }
    }
    Ok((list.len(), hits, bytes))
}

/// Deletes one of the officer's read events from a copy of the log, and edits one in
/// another copy; verifies each. Returns whether each was caught.
pub(super) fn tamper_and_verify(ctx: &Context, audit: &Path) -> Result<(bool, bool)> {
    let verifier = crate::audit::log_verifier(ctx)?;
    let mut results = Vec::new();
    for edit in [false, true] {
        let copy = audit.with_extension(if edit { "edited" } else { "deleted" });
        // A consistent copy, write-ahead log included (the attacker copies the log as SQLite
        // sees it).
        rusqlite::Connection::open(audit)?
            .execute("VACUUM INTO ?1", [copy.to_str().ok_or("path is not UTF-8")?])?;
        let conn = rusqlite::Connection::open(&copy)?;
        let (idx, body): (i64, Vec<u8>) = conn.query_row(
            "SELECT idx, body FROM audit_events WHERE CAST(body AS TEXT) LIKE ?1 ORDER BY idx DESC LIMIT 1",
            // Canonical key order puts `kind` before `principal`.
            [format!("%\"kind\":\"elector.read\"%\"principal\":\"{OFFICER}\"%")],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        if edit {
            // Point the read at another elector: same length, still valid JSON.
            let text = String::from_utf8_lossy(&body).replace("\"electors\":[", "\"electors\":[9");
            conn.execute(
                "UPDATE audit_events SET body = ?2 WHERE idx = ?1",
                rusqlite::params![idx, text.as_bytes()],
            )?;
        } else {
            conn.execute("DELETE FROM audit_events WHERE idx = ?1", [idx])?;
        }
        drop(conn);
        let store = SqliteAuditStore::open(&copy)?;
        results.push(rollguard_audit::replay(&store, &verifier, &[]).is_err());
        let _ = std::fs::remove_file(&copy);
    }
    Ok((results[0], results[1]))
}

/// A leaked copy as a careless recipient might pass it on: 30% of the rows, shuffled, the
/// columns reordered, names upper-cased, tab-separated.
pub(super) fn mangle(csv_text: &str) -> String {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(2021);
    let mut r = csv::Reader::from_reader(csv_text.as_bytes());
    let mut recs: Vec<csv::StringRecord> = r.records().filter_map(|x| x.ok()).collect();
    recs.shuffle(&mut rng);
    recs.truncate(recs.len() * 3 / 10);
    let mut out = String::from("POSTCODE\tNAME\tADDRESS\n");
    for rec in recs {
        let f = |i: usize| rec.get(i).unwrap_or("");
        let address: Vec<&str> = (4..9).map(f).filter(|s| !s.is_empty()).collect();
        out.push_str(&format!(
            "{}\t{} {}\t{}\n",
            f(9),
            f(3).to_uppercase(),
            f(2).to_uppercase(),
            address.join(", ")
        ));
    }
    out
}

pub(super) fn read_alerts(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

pub(super) struct Attack {
    pub started_ms: i64,
    pub cut_off_ms: Option<i64>,
    pub cut_off_status: AtomicU64,
    pub refused: AtomicU64,
    pub received: Mutex<Vec<u64>>,
}

impl Attack {
    /// How it ended: `N {what} in T ms, then cut off (HTTP S); R requests refused on the way`.
    pub(super) fn cut_off_summary(&self, what: &str) -> String {
        format!(
            "{} {what} in {} ms, then cut off (HTTP {}); {} requests refused on the way",
            self.received.lock().map(|r| r.len()).unwrap_or(0),
            self.cut_off_ms.map(|t| t - self.started_ms).unwrap_or(-1),
            self.cut_off_status.load(Ordering::SeqCst),
            self.refused.load(Ordering::SeqCst)
        )
    }
}

/// What a bulk read takes: `electors` or `applications` of the authority.
#[derive(Clone, Copy)]
pub(super) enum Records {
    Electors,
    Applications,
}

/// Reads records one after another on `connections` connections until every connection
/// is cut off (401 or 403), or 30 s pass.
pub(super) fn bulk_read(
    base: &str,
    session: &str,
    (what, ids): (Records, &[u64]),
    connections: usize,
) -> Attack {
    let collection = match what {
        Records::Electors => "electors",
        Records::Applications => "applications",
    };
    let next = AtomicU64::new(0);
    let stop = AtomicBool::new(false);
    let cut = Mutex::new(None::<i64>);
    let attack = Attack {
        started_ms: now_ms(),
        cut_off_ms: None,
        cut_off_status: AtomicU64::new(0),
        refused: AtomicU64::new(0),
        received: Mutex::new(Vec::new()),
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    std::thread::scope(|s| {
        for _ in 0..connections.max(1) {
            s.spawn(|| {
                let http = Http::new(base);
                while !stop.load(Ordering::SeqCst) && Instant::now() < deadline {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(&id) = usize::try_from(i).ok().and_then(|i| ids.get(i)) else { break };
                    let (status, body) = http
                        .get(&format!("/api/v1/authorities/{AUTHORITY}/{collection}/{id}"), Some(session));
                    match status {
                        200 => {
                            if body.contains("\"fields\"") {
                                attack.received.lock().expect("received").push(id);
                            }
                        }
                        401 | 403 => {
                            let mut c = cut.lock().expect("cut");
                            if c.is_none() {
                                *c = Some(now_ms());
                                attack.cut_off_status.store(status.into(), Ordering::SeqCst);
                            }
                            stop.store(true, Ordering::SeqCst);
                        }
                        _ => {
                            // Throttled or over budget: the attacker keeps trying.
                            attack.refused.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                }
            });
        }
    });
    let cut_off_ms = *cut.lock().expect("cut");
    Attack { cut_off_ms, ..attack }
}

fn now_ms() -> i64 {
    rollguard_service::Clock::now_ms(&rollguard_service::SystemClock)
}
