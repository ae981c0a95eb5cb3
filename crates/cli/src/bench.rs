//! `rollguard bench`: the cost of security as ratios measured in one run. The same generated
//! register goes through the sealed path (validate, seal, blind-index, insert) and through
//! plain SQLite (validate, insert plaintext) with the same engine, settings, table shape and
//! indexes, so machine noise affects both alike.

use crate::commands::write_generated;
use crate::context::{Context, Result};
use crate::output::say;
use crate::progress::bar;
use clap::{Args, ValueEnum};
use rand::{Rng, SeedableRng};
use rollguard_register::normalise::{date_key, identity_key, name_key, postcode_key};
use rollguard_register::{format_date, EntryText, FranchiseTable, Nation};
use rollguard_service::Clock;
use rollguard_store::sqlite::baseline::PlainRow;
use rollguard_store::sqlite::PlainBaseline;
use rollguard_vault::{codec, read_entries, ImportOptions, Search};
use std::path::{Path, PathBuf};
use std::sync::mpsc::sync_channel;
use std::time::{Duration, Instant};

pub(crate) fn today() -> rollguard_register::Date {
    rollguard_service::SystemClock.today()
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum What {
    /// Import only.
    Import,
    /// Import, then point reads.
    Read,
    /// Import, then blind-index searches.
    Search,
    /// Import, reads and searches.
    All,
    /// HTTP point reads over loopback with wrk, against /healthz on the same server.
    Http,
    /// Audit log: durable append rate, verify rate, against SHA-256 throughput.
    Audit,
    /// Detection: rule evaluation rate on one core (shipped + 100 generated rules), and
    /// alert latency under load.
    Rules,
    /// Mail scanning: messages per second on one core (fixtures, plus --dir DIR of mail),
    /// and precision and recall on the labelled fixtures.
    Mail,
}

#[derive(Args)]
pub struct BenchArgs {
    #[arg(value_enum, default_value = "all")]
    what: What,
    /// Electors to generate (for `audit` and `rules`: events).
    #[arg(long, default_value_t = 1_000_000)]
    electors: u64,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Point reads and searches to time, each.
    #[arg(long, default_value_t = 20_000)]
    samples: usize,
    /// Authorities the generated register is split among, each imported from its own file
    /// (as a national register is kept: 40,000,000 electors are 40 authorities of 1,000,000).
    #[arg(long, default_value_t = 1)]
    authorities: u64,
    /// Where to put the two databases (default: a new temporary directory, removed after).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// For `http`: seconds per wrk run.
    #[arg(long, default_value_t = 20)]
    duration: u64,
    /// For `http`: concurrent wrk connections.
    #[arg(long, default_value_t = 8)]
    connections: u32,
}

const AUTHORITY: &str = "BENCH";

struct Percentiles {
    p50: Duration,
    p99: Duration,
}

fn percentiles(mut v: Vec<Duration>) -> Percentiles {
    v.sort();
    // `q` is in [0, 1], so the rank is a whole number from 0 to `len - 1`: nothing to cut or lose.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let at = |q: f64| v[((v.len() as f64 - 1.0) * q).round() as usize];
    Percentiles { p50: at(0.50), p99: at(0.99) }
}

/// Prints the p50 and p99 table rows for one measure, sealed against plain.
fn latency_rows(what: &str, detail: &str, sealed: Vec<Duration>, plain: Vec<Duration>) {
    let (s, p) = (percentiles(sealed), percentiles(plain));
    for (label, s, p) in [("p50", s.p50, p.p50), ("p99", s.p99, p.p99)] {
        say!(
            "| {what} {label}{detail} | {} | {} | {:.2}× |",
            us(s),
            us(p),
            s.as_secs_f64() / p.as_secs_f64()
        );
    }
}

fn us(d: Duration) -> String {
    format!("{:.1} µs", d.as_secs_f64() * 1e6)
}

fn file_bytes(dir: &Path, prefix: &str) -> u64 {
    std::fs::read_dir(dir)
        .map(|it| {
            it.filter_map(|e| e.ok())
                .filter(|e| e.file_name().to_string_lossy().starts_with(prefix))
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

fn flush_files(dir: &Path, prefix: &str) -> Result<()> {
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        if e.file_name().to_string_lossy().starts_with(prefix) {
            std::fs::File::open(e.path())?.sync_all()?;
        }
    }
    Ok(())
}

fn plain_row(id: u64, t: &EntryText, table: &FranchiseTable) -> std::result::Result<PlainRow, String> {
    let (e, nino) = t.validate(table, today()).map_err(|e| e.to_string())?;
    let personal = !e.anonymous;
    Ok(PlainRow {
        id,
        valid_from: format_date(today()),
        franchise: e.franchise.as_str().to_owned(),
        flags: i64::from(e.open_register_opt_out) | (i64::from(e.anonymous) << 1),
        absent_vote: e.absent_vote.as_ref().map(|a| a.kind.code().to_owned()),
        absent_vote_expires: e.absent_vote.as_ref().and_then(|a| a.expires).map(format_date),
        // The very bytes the sealed path seals, so storage compares like with like.
        number: codec::number(&e.number),
        name: codec::name(&e.name),
        previous: codec::previous_names(&e.previous_names),
        address: codec::address(&e.address),
        dob: e.date_of_birth.map(date_key),
        overseas: e.overseas.as_ref().map(codec::overseas),
        contact: codec::contact(&e.contact),
        surname: personal.then(|| name_key(&e.name.surname)),
        postcode: personal.then(|| postcode_key(&e.address.postcode)),
        nino: nino.map(|n| n.normalised().to_owned()),
        identity: identity_key(&e.name, e.date_of_birth, &e.address),
    })
}

/// The plain import, pipelined like the sealed one: a parser thread assigns ids, one
/// validating thread per core builds plaintext rows, and this thread inserts them in one
/// transaction.
fn plain_import(csv: &[u8], baseline: &mut PlainBaseline, first_id: u64) -> Result<u64> {
    let table = FranchiseTable::default_for(Nation::England);
    let workers = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).clamp(1, 8);
    let (work_tx, work_rx) = sync_channel::<Vec<(u64, u64, EntryText)>>(workers * 2);
    let work_rx = std::sync::Arc::new(std::sync::Mutex::new(work_rx));
    // A bad row fails the baseline as it fails the sealed import: skipping it would flatter
    // the baseline's rate.
    let (done_tx, done_rx) = sync_channel::<std::result::Result<Vec<PlainRow>, String>>(workers * 4);
    let n = std::thread::scope(|s| {
        let done_rx = done_rx;
        let parser = s.spawn(move || {
            let mut batch = Vec::with_capacity(2048);
            let mut id = first_id;
            let r = read_entries(csv, "bench", |line, t, _| {
                batch.push((line, id, t));
                id += 1;
                if batch.len() == 2048 {
                    let _ = work_tx.send(std::mem::take(&mut batch));
                }
                Ok(())
            });
            let _ = work_tx.send(batch);
            r
        });
        for _ in 0..workers {
            let (work_rx, done_tx, table) = (work_rx.clone(), done_tx.clone(), &table);
            s.spawn(move || loop {
                let Ok(batch) = work_rx.lock().expect("work queue").recv() else { return };
                let rows = batch
                    .iter()
                    .map(|(line, id, t)| plain_row(*id, t, table).map_err(|e| format!("bench:{line}: {e}")))
                    .collect();
                if done_tx.send(rows).is_err() {
                    return;
                }
            });
        }
        drop((done_tx, work_rx));
        let mut failure = None;
        let mut rows = done_rx.iter().map_while(|batch| batch.map_err(|e| failure = Some(e)).ok()).flatten();
        let n = baseline.import(&mut rows);
        // Dropping the receiver first lets a blocked worker or parser finish.
        drop(rows);
        drop(done_rx);
        parser.join().expect("parser thread")?;
        if let Some(e) = failure {
            return Err(format!("plain baseline refused a row: {e}").into());
        }
        Ok::<_, crate::context::Error>(n?)
    })?;
    Ok(n)
}

pub fn run(a: BenchArgs) -> Result<()> {
    match a.what {
        What::Audit => crate::bench_audit::run(a.electors, 4),
        What::Mail => crate::bench_mail::run(a.samples as u64, a.dir.as_deref()),
        What::Rules => crate::bench_rules::run(a.electors),
        What::Http => {
            crate::bench_http::run(&a.electors, a.seed, a.duration, a.connections, a.dir.as_deref())
        }
        What::Import | What::Read | What::Search | What::All => storage(&a),
    }
}

/// Import, then point reads and searches, sealed against plain SQLite on the same bytes.
fn storage(a: &BenchArgs) -> Result<()> {
    let tmp;
    let dir = match &a.dir {
        Some(d) => {
            std::fs::create_dir_all(d)?;
            d.clone()
        }
        None => {
            tmp = tempfile::tempdir()?;
            tmp.path().to_owned()
        }
    };
    for f in [
        "sealed.db",
        "sealed.db-wal",
        "sealed.db-shm",
        "plain.db",
        "plain.db-wal",
        "plain.db-shm",
        "shell.db",
        "shell.db-wal",
        "shell.db-shm",
        "bench.keyring",
    ] {
        let _ = std::fs::remove_file(dir.join(f));
    }
    let n = a.electors;
    say!(
        "rollguard bench: {n} generated electors (seed {}) in {} authorities, {} cores",
        a.seed,
        a.authorities,
        std::thread::available_parallelism().map(|p| p.get()).unwrap_or(1)
    );
    let parts = generate(a)?;
    say!(
        "generated {:.1} MB of register CSV in memory",
        parts.iter().map(|p| p.csv.len()).sum::<usize>() as f64 / 1e6
    );

    // Plain first, then sealed: the same bytes through both paths.
    let plain_path = dir.join("plain.db");
    let mut plain = PlainBaseline::create(&plain_path)?;
    let t = Instant::now();
    let mut plain_n = 0;
    for p in &parts {
        plain_n += plain_import(&p.csv, &mut plain, plain_n + 1)?;
    }
    let plain_secs = t.elapsed().as_secs_f64();
    plain.checkpoint()?;
    let plain_bytes = file_bytes(&dir, "plain.db");
    // Wait for the baseline's pages to reach the disk, so its write-back does not slow the
    // sealed run that follows.
    flush_files(&dir, "plain.db")?;
    // What a user would build instead: the sqlite3 shell's `.import`, then five indexes.
    let csvs: Vec<&[u8]> = parts.iter().map(|p| p.csv.as_slice()).collect();
    let shell = crate::bench_shell::run(&dir, &csvs)?;
    flush_files(&dir, "shell.db")?;

    let ctx = Context { db: dir.join("sealed.db"), keyring: dir.join("bench.keyring").display().to_string() };
    let console = ctx.create()?;
    let svc = &console.svc;
    for p in &parts {
        svc.create_authority(&console.actor, &p.code, "Benchmark", Nation::England)?;
    }
    let opts = ImportOptions {
        source_name: "bench".into(),
        effective: today(),
        today: today(),
        now: svc.clock().now_secs(),
        // As an operator imports: with canaries planted among the rows.
        canaries_per_100k: rollguard_vault::CANARIES_PER_100K,
    };
    let (mut sealed_secs, mut ids) = (0.0, Vec::new());
    let pb = bar(Some(n), "importing");
    for p in &parts {
        let t = Instant::now();
        let report = svc.import_csv(&console.actor, &p.code, p.csv.as_slice(), &opts, &|_| {})?;
        sealed_secs += t.elapsed().as_secs_f64();
        assert_eq!(report.imported, p.count);
        ids.extend(report.ids);
        pb.set_position(ids.len() as u64);
    }
    pb.finish_and_clear();
    rollguard_store::SqliteStore::open(&ctx.db)?.checkpoint()?;
    let sealed_bytes = file_bytes(&dir, "sealed.db");
    assert_eq!(ids.len() as u64, plain_n);

    let rate = |secs: f64| n as f64 / secs;
    say!();
    say!("| measure | sealed | plain SQLite | sealed / plain |");
    say!("|---|---|---|---|");
    say!(
        "| import rate | {:.0} electors/s | {:.0} electors/s | {:.2}× time |",
        rate(sealed_secs),
        rate(plain_secs),
        sealed_secs / plain_secs
    );
    say!(
        "| storage | {:.0} bytes/elector | {:.0} bytes/elector | {:.2}× |",
        sealed_bytes as f64 / n as f64,
        plain_bytes as f64 / n as f64,
        sealed_bytes as f64 / plain_bytes as f64
    );
    say!(
        "| import against `sqlite3` `.import` + 5 indexes | {:.2} s | {:.2} s | {:.2}× time |",
        sealed_secs,
        shell.secs,
        sealed_secs / shell.secs
    );
    say!(
        "| storage against `sqlite3` `.import` + 5 indexes | {:.0} bytes/elector | {:.0} bytes/elector | {:.2}× |",
        sealed_bytes as f64 / n as f64,
        shell.bytes as f64 / n as f64,
        sealed_bytes as f64 / shell.bytes as f64
    );
    let sealed = Sealed { vault: &svc.keys().current(), register: svc.register(), ids };
    if matches!(a.what, What::Read | What::All) {
        point_reads(a, &sealed, &plain)?;
    }
    if matches!(a.what, What::Search | What::All) {
        searches(a, &parts, &sealed, &plain)?;
    }
    say!("\nsealed import {:.2} s, plain import {:.2} s", sealed_secs, plain_secs);
    if let Some(peak) = peak_resident_bytes() {
        say!("peak resident memory of the whole run: {:.2} GB", peak as f64 / 1e9);
    }
    Ok(())
}

/// One authority's share of the generated register.
struct Part {
    code: String,
    seed: u64,
    count: u64,
    csv: Vec<u8>,
}

/// Generates the register: `--authorities` files of near-equal size, each from its own seed.
fn generate(a: &BenchArgs) -> Result<Vec<Part>> {
    let (n, parts) = (a.electors, a.authorities.max(1));
    let pb = bar(Some(n), "generating");
    let mut done = 0;
    let mut out = Vec::new();
    for k in 0..parts {
        let count = n / parts + u64::from(k < n % parts);
        let code = if parts == 1 { AUTHORITY.to_owned() } else { format!("{AUTHORITY}{k:03}") };
        let seed = a.seed.wrapping_add(k);
        let mut csv = crate::commands::csv_buffer(count);
        write_generated(count, seed, Nation::England, today(), &mut csv, |i| pb.set_position(done + i))?;
        done += count;
        out.push(Part { code, seed, count, csv });
    }
    pb.finish_and_clear();
    Ok(out)
}

/// The process's peak resident set (Linux), for the record of what a run needs.
fn peak_resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kb = status.lines().find_map(|l| l.strip_prefix("VmHWM:"))?.trim().strip_suffix("kB")?.trim();
    kb.parse::<u64>().ok().map(|k| k * 1024)
}

/// The sealed register at the storage boundary: one read transaction per operation,
/// fields opened.
struct Sealed<'a> {
    vault: &'a rollguard_vault::Vault,
    register: &'a rollguard_store::Register,
    /// The imported rows' ids, in the file's order.
    ids: Vec<u64>,
}

/// Point reads of random electors, sealed against plain.
fn point_reads(a: &BenchArgs, sealed: &Sealed<'_>, plain: &PlainBaseline) -> Result<()> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(a.seed ^ 0x5eed);
    let ids: Vec<u64> = (0..a.samples).map(|_| rng.gen_range(0..a.electors)).collect();
    let mut sealed_t = Vec::with_capacity(ids.len());
    let mut plain_t = Vec::with_capacity(ids.len());
    for &i in &ids {
        let t = Instant::now();
        let e = sealed
            .register
            .read(|tx| sealed.vault.elector(tx, sealed.ids[usize::try_from(i).expect("an index")]))?;
        sealed_t.push(t.elapsed());
        std::hint::black_box(e);
        let t = Instant::now();
        let p = plain.get(i + 1)?;
        plain_t.push(t.elapsed());
        std::hint::black_box(p);
    }
    latency_rows("point read", "", sealed_t, plain_t);
    Ok(())
}

/// Surname + postcode searches for random generated electors (anonymous ones cannot be
/// found by name), blind-indexed against plain.
fn searches(a: &BenchArgs, parts: &[Part], sealed: &Sealed<'_>, plain: &PlainBaseline) -> Result<()> {
    let table = FranchiseTable::default_for(Nation::England);
    // Each authority gives its share of the samples, spread through its file.
    let mut samples: Vec<(&str, EntryText)> = Vec::with_capacity(a.samples);
    for p in parts {
        let count = usize::try_from(p.count)
            .map_err(|_| format!("{} electors: too many for this machine", p.count))?;
        let share =
            (a.samples * count).div_ceil(usize::try_from(a.electors.max(1)).unwrap_or(usize::MAX)).max(1);
        let gen = rollguard_synth::Generator::new(p.seed, table.clone(), today());
        let stride = (count / share).max(1);
        samples.extend(
            gen.take(count)
                .step_by(stride)
                .filter(|t| t.anonymous != "Y")
                .take(share)
                .map(|t| (p.code.as_str(), t)),
        );
    }
    let mut sealed_t = Vec::with_capacity(samples.len());
    let mut plain_t = Vec::with_capacity(samples.len());
    let mut found = 0usize;
    for (authority, t) in &samples {
        let q = Search {
            surname: Some(t.surname.clone()),
            postcode: Some(t.postcode.clone()),
            ..Default::default()
        };
        let start = Instant::now();
        let r = sealed.register.read(|tx| sealed.vault.search(tx, authority, &q))?;
        sealed_t.push(start.elapsed());
        found += r.len();
        let pc = rollguard_register::Postcode::parse("postcode", &t.postcode)?;
        let start = Instant::now();
        let p = plain.find(&name_key(&t.surname), &postcode_key(&pc))?;
        plain_t.push(start.elapsed());
        std::hint::black_box(p);
    }
    latency_rows("search", " (surname + postcode)", sealed_t, plain_t);
    say!(
        "\n{} searches returned {found} electors ({:.2} per search).",
        samples.len(),
        found as f64 / samples.len().max(1) as f64
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn generated(count: u64) -> Vec<u8> {
        let mut csv = Vec::new();
        write_generated(count, 3, Nation::England, today(), &mut csv, |_| {}).unwrap();
        csv
    }

    #[test]
    fn the_plain_baseline_imports_every_row() {
        let dir = tempfile::tempdir().unwrap();
        let mut plain = PlainBaseline::create(&dir.path().join("plain.db")).unwrap();
        assert_eq!(plain_import(&generated(3000), &mut plain, 1).unwrap(), 3000);
        // A second file continues the ids, as the next authority's does.
        assert_eq!(plain_import(&generated(500), &mut plain, 3001).unwrap(), 500);
        assert!(plain.get(3500).unwrap().is_some());
    }

    #[test]
    fn the_plain_baseline_refuses_a_bad_row_as_the_sealed_import_does() {
        let csv = String::from_utf8(generated(3000)).unwrap();
        // Line 2501 (row 2500) gets a date of birth that is not a date.
        let mut lines: Vec<String> = csv.lines().map(str::to_owned).collect();
        let header: Vec<&str> = lines[0].split(',').collect();
        let dob = header.iter().position(|h| *h == "date_of_birth").unwrap();
        let mut fields: Vec<String> = lines[2500].split(',').map(str::to_owned).collect();
        fields[dob] = "31/02/1980".into();
        lines[2500] = fields.join(",");
        let dir = tempfile::tempdir().unwrap();
        let mut plain = PlainBaseline::create(&dir.path().join("plain.db")).unwrap();
        let err = plain_import(lines.join("\n").as_bytes(), &mut plain, 1).unwrap_err().to_string();
        assert!(err.contains("bench:2501") && err.contains("date_of_birth"), "{err}");
    }
}
