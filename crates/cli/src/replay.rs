//! `rollguard replay 2021`: the 2021 register breach, step by step, against a live server
//! over HTTP. Each step prints what was measured against its target; any miss fails the
//! command.

use crate::commands::{import_with_progress, write_generated};
use crate::context::{Context, Result};
use crate::output::say;
use clap::{Args, ValueEnum};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rollguard_access::{Grant, Permission, Role, Scope};
use rollguard_register::Nation;
use rollguard_service::Clock;
use rollguard_store::{PrincipalKind, SqliteAuditStore};

fn now_ms() -> i64 {
    rollguard_service::SystemClock.now_ms()
}
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Clone, Copy, ValueEnum)]
pub enum Scenario {
    /// The 2021 breach: a copied database, a phished password, a stolen session bulk-reading,
    /// a doctored log, the scope question, a leaked supply.
    #[value(name = "2021")]
    Y2021,
}

#[derive(Args)]
pub struct ReplayArgs {
    scenario: Scenario,
    /// Electors in the register the replay builds.
    #[arg(long, default_value_t = 20_000)]
    electors: u64,
    /// Concurrent connections the attacker reads with.
    #[arg(long, default_value_t = 4)]
    connections: usize,
    /// Work here instead of a temporary directory (kept afterwards).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Also write the results as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
}

const AUTHORITY: &str = "E07000123";
const OFFICER: &str = "officer-ann";
const SUPPLIES: &str = "supplies-svc";

struct Row {
    step: &'static str,
    check: String,
    measured: String,
    target: String,
    pass: bool,
}

pub fn run(a: ReplayArgs) -> Result<()> {
    let Scenario::Y2021 = a.scenario;
    let temp;
    let dir = match &a.dir {
        Some(d) => {
            std::fs::create_dir_all(d)?;
            d.clone()
        }
        None => {
            temp = tempfile::tempdir()?;
            temp.path().to_owned()
        }
    };
    let data = dir.join("data");
    let keys = dir.join("keys");
    std::fs::create_dir_all(&data)?;
    std::fs::create_dir_all(&keys)?;
    std::fs::set_permissions(&keys, std::os::unix::fs::PermissionsExt::from_mode(0o700))?;
    let ctx = Context {
        db: data.join("register.db"),
        keyring: keys.join("rollguard.keyring").display().to_string(),
    };
    let mut rows: Vec<Row> = Vec::new();

    // ---- Set-up: a register, a canary or two, an officer, a supplies service -------------
    say!("Setting up: {} synthetic electors in {AUTHORITY}…", a.electors);
    let console = ctx.create()?;
    let (svc, actor) = (&console.svc, &console.actor);
    svc.create_authority(actor, AUTHORITY, "Fenmoor District Council (fictional)", Nation::England)?;
    let mut csv = crate::commands::csv_buffer(a.electors);
    write_generated(a.electors, 2021, Nation::England, svc.clock().today(), &mut csv, |_| {})?;
    let report = import_with_progress(&console, AUTHORITY, csv.as_slice(), "generated register", None)?;
    let canaries = svc.plant_canaries(actor, AUTHORITY, 20)?;
    let staff = vec![Grant { role: Role::RegistrationStaff, scope: Scope::parse(AUTHORITY) }];
    let password = crate::demo::random_password();
    svc.add_principal(actor, OFFICER, PrincipalKind::Human, staff)?;
    let (totp, _) = svc.provision_human(actor, OFFICER, &password)?;
    let supplies = vec![Grant { role: Role::SuppliesOfficer, scope: Scope::parse(AUTHORITY) }];
    svc.add_principal(actor, SUPPLIES, PrincipalKind::Service, supplies)?;
    let (_, supplies_token) = svc.create_token(
        actor,
        SUPPLIES,
        "supplies",
        vec![Permission::RegisterExport],
        vec![Scope::parse(AUTHORITY)],
        1,
    )?;
    let supplies_token = supplies_token.expose().to_owned();
    console.finish()?;
    drop(console);

    // ---- Step 1: the database file and its backups, copied --------------------------------
    {
        let console = ctx.open()?;
        console.svc.backup(&console.actor, &data.join("register-backup.db"))?;
        console.finish()?;
    }
    let (values, hits, bytes) = plaintext_scan(&data, &csv)?;
    drop(csv);
    rows.push(Row {
        step: "1",
        check: format!(
            "plaintext scan of the database, WAL, audit log and a backup ({:.1} MB)",
            bytes as f64 / 1e6
        ),
        measured: format!("{hits} hits for {values} names, addresses, dates of birth and NINOs"),
        target: "0 hits".into(),
        pass: hits == 0,
    });

    // ---- The server, with alerts to a JSON-lines file -------------------------------------
    let alerts_path = dir.join("alerts.jsonl");
    let server = Server::start(&ctx, &alerts_path)?;
    let http = Http::new(&server.base);

    // Routine supplies before the breach: two recipients, each watermarked.
    let mut supplies_csv = Vec::new();
    for recipient in ["Fenmoor Independents (Party A)", "Marsh Credit Checks Ltd"] {
        let r = http.get(
            &format!("/api/v1/authorities/{AUTHORITY}/register?kind=full&recipient={}", urlencode(recipient)),
            Some(&supplies_token),
        );
        if r.0 != 200 {
            return Err(format!("supply to {recipient}: HTTP {}: {}", r.0, r.1).into());
        }
        supplies_csv.push((recipient, r.1));
    }

    // ---- Step 2: a phished password alone -------------------------------------------------
    let step =
        http.post("/api/v1/auth/login", None, &serde_json::json!({"name": OFFICER, "password": password}));
    let challenge = serde_json::from_str::<serde_json::Value>(&step.1)
        .ok()
        .and_then(|v| v["challenge"].as_str().map(str::to_owned));
    let no_session =
        http.get(&format!("/api/v1/authorities/{AUTHORITY}/electors/{}", report.first_id), None).0;
    let guessed = http.post(
        "/api/v1/auth/totp",
        None,
        &serde_json::json!({"challenge": challenge.clone().unwrap_or_default(), "code": "000000"}),
    );
    let refused = step.0 == 200
        && step.1.contains("challenge")
        && !step.1.contains("session_token")
        && no_session == 401
        && guessed.0 == 401;
    rows.push(Row {
        step: "2",
        check: "phished password alone".into(),
        measured: format!(
            "password step gives only a challenge; no session (HTTP {no_session}); guessed code HTTP {}",
            guessed.0
        ),
        target: "login refused".into(),
        pass: refused,
    });

    // ---- Step 3: a stolen, valid, MFA-authenticated session bulk-reads --------------------
    let mut session = None;
    for _ in 0..3 {
        let step = http.post(
            "/api/v1/auth/login",
            None,
            &serde_json::json!({"name": OFFICER, "password": password}),
        );
        let challenge: serde_json::Value = serde_json::from_str(&step.1)?;
        let code = totp.code_at(u64::try_from(rollguard_service::SystemClock.now_secs())?);
        let r = http.post(
            "/api/v1/auth/totp",
            None,
            &serde_json::json!({"challenge": challenge["challenge"], "code": code}),
        );
        if r.0 == 200 {
            session =
                serde_json::from_str::<serde_json::Value>(&r.1)?["session_token"].as_str().map(str::to_owned);
            break;
        }
        // The code's time step turned over between reading the clock and the server's check.
        std::thread::sleep(Duration::from_secs(2));
    }
    let session = session.ok_or("the officer could not log in with password and TOTP")?;
    let attack = bulk_read(&server.base, &session, report.first_id, a.electors + 20, a.connections);
    std::thread::sleep(Duration::from_millis(500));
    let alerts = read_alerts(&alerts_path);
    let first_alert =
        alerts.iter().filter(|al| al["principal"] == OFFICER).filter_map(|al| al["raised_at"].as_i64()).min();
    let to_first = first_alert.map(|t| t - attack.started_ms);
    let mut latencies: Vec<i64> =
        alerts.iter().filter_map(|al| Some(al["raised_at"].as_i64()? - al["event_time"].as_i64()?)).collect();
    latencies.sort_unstable();
    // `p` is in [0, 1], so the rank is a whole number from 0 to `len`: nothing to cut or lose.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let pct =
        |p: f64| latencies.get(((latencies.len() as f64 * p).ceil() as usize).saturating_sub(1)).copied();
    let (p50, p99) = (pct(0.50), pct(0.99));
    rows.push(Row {
        step: "3a",
        check: format!("stolen session bulk-reads ({} connections, as fast as served)", a.connections),
        measured: format!(
            "first alert {} after the first read; alert latency p50 {} ms, p99 {} ms over {} alerts",
            to_first.map(|t| format!("{t} ms")).unwrap_or_else(|| "never".into()),
            p50.map(|v| v.to_string()).unwrap_or_else(|| "-".into()),
            p99.map(|v| v.to_string()).unwrap_or_else(|| "-".into()),
            latencies.len()
        ),
        target: "alert p99 < 1,000 ms".into(),
        pass: to_first.is_some_and(|t| t < 1000) && p99.is_some_and(|p| p < 1000),
    });
    let returned = attack.received.lock().map(|r| r.len()).unwrap_or(0);
    rows.push(Row {
        step: "3b",
        check: "records returned before the cut-off".into(),
        measured: format!(
            "{returned} records in {} ms, then cut off (HTTP {}); {} requests refused on the way",
            attack.cut_off_ms.map(|t| t - attack.started_ms).unwrap_or(-1),
            attack.cut_off_status.load(Ordering::SeqCst),
            attack.refused.load(Ordering::SeqCst)
        ),
        target: "≤ 1,000, cut off".into(),
        pass: returned <= 1000 && attack.cut_off_ms.is_some(),
    });
    let received: BTreeSet<u64> =
        attack.received.lock().map(|r| r.iter().copied().collect()).unwrap_or_default();
    let touched_canary = received.iter().any(|id| canaries.contains(id));
    server.stop();

    // ---- Step 4: the attacker doctors its own audit events ---------------------------------
    let audit_path = ctx.audit_path();
    let (deleted_caught, edited_caught) = tamper_and_verify(&ctx, &audit_path)?;
    rows.push(Row {
        step: "4",
        check: "attacker deletes, then edits, its own audit events".into(),
        measured: format!(
            "audit verify: deletion {}, edit {}",
            caught(deleted_caught),
            caught(edited_caught)
        ),
        target: "both caught".into(),
        pass: deleted_caught && edited_caught,
    });

    // ---- Step 5: exactly what did they get? ------------------------------------------------
    let store = SqliteAuditStore::open(&audit_path)?;
    let verifier = crate::audit::log_verifier(&ctx)?;
    rollguard_audit::replay(&store, &verifier, &[])?;
    let scope: BTreeSet<u64> = crate::audit::scope_rows(&store, Some(OFFICER), i64::MIN, i64::MAX, None)?
        .into_iter()
        .map(|r| r.0)
        .collect();
    let missing = received.difference(&scope).count();
    let extra = scope.difference(&received).count();
    rows.push(Row {
        step: "5",
        check: "audit scope --principal of the stolen session".into(),
        measured: format!(
            "{} electors listed; {missing} received but not listed, {extra} listed but not received",
            scope.len()
        ),
        target: "exactly the records returned".into(),
        pass: missing == 0 && extra == 0 && !scope.is_empty(),
    });

    // ---- Step 6: a supply leaks, cut down and reformatted ----------------------------------
    let (recipient, supply) = &supplies_csv[0];
    let leaked = mangle(supply);
    let console = ctx.open()?;
    let registry = console.svc.registry(&console.actor, "leak-trace")?;
    console.finish()?;
    let traced = rollguard_vault::registry::trace(&leaked, &registry);
    let named: Vec<&str> = traced.iter().map(|t| t.recipient.as_str()).collect();
    rows.push(Row {
        step: "6",
        check: "leaked supply: 30% of its rows, shuffled, columns reordered, upper-cased, as TSV".into(),
        measured: format!(
            "leak trace names {:?} ({} watermark entries found)",
            named,
            traced.first().map(|t| t.found.len()).unwrap_or(0)
        ),
        target: format!("names {recipient:?} only"),
        pass: named == [*recipient],
    });

    say!("\nThe 2021 breach, replayed against Rollguard ({} electors):\n", a.electors);
    say!("| step | what | measured | target | result |");
    say!("|---|---|---|---|---|");
    for r in &rows {
        say!(
            "| {} | {} | {} | {} | {} |",
            r.step,
            r.check,
            r.measured,
            r.target,
            if r.pass { "PASS" } else { "FAIL" }
        );
    }
    if touched_canary {
        say!("\n(The bulk read also touched a canary elector before the cut-off.)");
    }
    if let Some(p) = &a.json {
        let list: Vec<_> = rows
            .iter()
            .map(|r| serde_json::json!({"step": r.step, "check": r.check, "measured": r.measured, "target": r.target, "pass": r.pass}))
            .collect();
        std::fs::write(p, serde_json::to_string_pretty(&list)?)?;
    }
    let failed = rows.iter().filter(|r| !r.pass).count();
    if failed > 0 {
        return Err(format!("{failed} step(s) of the replay missed their target").into());
    }
    Ok(())
}

fn caught(b: bool) -> &'static str {
    if b {
        "caught"
    } else {
        "NOT caught"
    }
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Scans every file in `dir` for every elector's surname, first address line, postcode
/// (with and without its space), date of birth and NINO, each value of 7 bytes or more:
/// shorter ones turn up by chance in hundreds of megabytes of ciphertext (at 1,000,000
/// electors, 18 five-byte postcodes did, each amid random bytes). Every elector still has
/// several values scanned (address line, date of birth). Returns (values, hits, bytes).
fn plaintext_scan(dir: &Path, csv: &[u8]) -> Result<(usize, usize, u64)> {
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
fn tamper_and_verify(ctx: &Context, audit: &Path) -> Result<(bool, bool)> {
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
fn mangle(csv_text: &str) -> String {
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

fn read_alerts(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

struct Attack {
    started_ms: i64,
    cut_off_ms: Option<i64>,
    cut_off_status: AtomicU64,
    refused: AtomicU64,
    received: Mutex<Vec<u64>>,
}

/// Reads electors one after another on `connections` connections until every connection
/// is cut off (401 or 403), or 30 s pass.
fn bulk_read(base: &str, session: &str, first: u64, count: u64, connections: usize) -> Attack {
    let next = AtomicU64::new(first);
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
                    let id = next.fetch_add(1, Ordering::SeqCst);
                    if id >= first + count {
                        break;
                    }
                    let (status, body) =
                        http.get(&format!("/api/v1/authorities/{AUTHORITY}/electors/{id}"), Some(session));
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

struct Http {
    base: String,
    agent: ureq::Agent,
}

impl Http {
    fn new(base: &str) -> Self {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(600)))
            .build()
            .into();
        Self { base: base.to_owned(), agent }
    }

    fn get(&self, path: &str, bearer: Option<&str>) -> (u16, String) {
        let mut req = self.agent.get(format!("{}{path}", self.base));
        if let Some(b) = bearer {
            req = req.header("authorization", format!("Bearer {b}"));
        }
        match req.call() {
            // Supplies run to hundreds of megabytes: no body limit here.
            Ok(mut r) => {
                let status = r.status().as_u16();
                match r.body_mut().with_config().limit(u64::MAX).read_to_string() {
                    Ok(body) => (status, body),
                    Err(e) => (0, format!("reading the response: {e}")),
                }
            }
            Err(e) => (0, e.to_string()),
        }
    }

    fn post(&self, path: &str, bearer: Option<&str>, body: &serde_json::Value) -> (u16, String) {
        let mut req =
            self.agent.post(format!("{}{path}", self.base)).header("content-type", "application/json");
        if let Some(b) = bearer {
            req = req.header("authorization", format!("Bearer {b}"));
        }
        match req.send(body.to_string()) {
            Ok(mut r) => (r.status().as_u16(), r.body_mut().read_to_string().unwrap_or_default()),
            Err(e) => (0, e.to_string()),
        }
    }
}

/// The server on a loopback port, in its own runtime thread.
struct Server {
    base: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    fn start(ctx: &Context, alerts: &Path) -> Result<Self> {
        let svc = ctx.service_with(
            crate::access::serving(4),
            rollguard_access::AccountsConfig::default(),
            rollguard_service::Policy::default(),
        )?;
        let config = rollguard_server::ServerConfig { secure_cookies: false, ..Default::default() };
        let state = crate::access::state_with_alert_file(ctx, svc, config, alerts)?;
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
        let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
        let base = format!("http://{}", listener.local_addr()?);
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            rt.block_on(async move {
                let stop = async {
                    let _ = rx.await;
                };
                if let Err(e) = rollguard_server::serve(listener, state, stop).await {
                    eprintln!("rollguard: replay server: {e}");
                }
            });
        });
        Ok(Self { base, stop: Some(tx), thread: Some(thread) })
    }

    /// Stops the server and waits until its audit log is closed.
    fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
