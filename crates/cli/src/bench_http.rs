//! `rollguard bench http`: point reads over loopback HTTP, driven by wrk, at a register of
//! generated electors. The baseline, run against the same server in the same process, is
//! `/healthz`: the cost of HTTP alone, without authentication, the database or opening sealed
//! fields. Every read is durably audited (its event committed in the register before the
//! response leaves) and charged to the reader's budget, which the benchmark sets, explicitly,
//! to the number of electors it may read. Only successful responses count: the benchmark
//! fails if any request fails.

use crate::commands::write_generated;
use crate::context::{Context, Result};
use crate::output::say;
use rollguard_access::{AccountsConfig, Grant, Permission, Role, Scope};
use rollguard_register::Nation;
use rollguard_store::PrincipalKind;
use std::path::Path;
use std::process::Command;

const AUTHORITY: &str = "BENCH";

struct WrkResult {
    requests_per_sec: f64,
    p50_ms: f64,
    p99_ms: f64,
    /// Responses that were not 2xx, and socket errors (wrk's own counts).
    failed: u64,
    errors: String,
}

fn parse_ms(s: &str) -> Option<f64> {
    let s = s.trim();
    let (num, scale) = if let Some(v) = s.strip_suffix("us") {
        (v, 0.001)
    } else if let Some(v) = s.strip_suffix("ms") {
        (v, 1.0)
    } else if let Some(v) = s.strip_suffix('s') {
        (v, 1000.0)
    } else {
        return None;
    };
    num.parse::<f64>().ok().map(|n| n * scale)
}

fn wrk(url: &str, script: &Path, duration: u64, connections: u32) -> Result<WrkResult> {
    let out = Command::new("wrk")
        .args(["-t2", &format!("-c{connections}"), &format!("-d{duration}s"), "--latency", "-s"])
        .arg(script)
        .arg(url)
        .output()
        .map_err(|e| format!("cannot run wrk ({e}); install it with `apt-get install wrk`"))?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let field =
        |prefix: &str| text.lines().find_map(|l| l.trim().strip_prefix(prefix).map(|v| v.trim().to_owned()));
    let requests_per_sec = field("Requests/sec:")
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| format!("wrk gave no rate:\n{text}"))?;
    let p50_ms = field("50%").and_then(|v| parse_ms(&v)).ok_or("wrk gave no p50")?;
    let p99_ms = field("99%").and_then(|v| parse_ms(&v)).ok_or("wrk gave no p99")?;
    let errors = text
        .lines()
        .filter(|l| l.contains("Non-2xx") || l.contains("Socket errors"))
        .map(str::trim)
        .collect::<Vec<_>>()
        .join("; ");
    // "Non-2xx or 3xx responses: N" and "Socket errors: connect A, read B, write C, timeout D".
    let mut failed = field("Non-2xx or 3xx responses:").and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    if let Some(sock) = field("Socket errors:") {
        failed +=
            sock.split(',').filter_map(|p| p.split_whitespace().last()?.parse::<u64>().ok()).sum::<u64>();
    }
    Ok(WrkResult { requests_per_sec, p50_ms, p99_ms, failed, errors })
}

pub fn run(electors: &u64, seed: u64, duration: u64, connections: u32, dir: Option<&Path>) -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let dir = dir.unwrap_or(tmp.path());
    std::fs::create_dir_all(dir)?;
    for f in ["http.db", "http.db-wal", "http.db-shm", "http.keyring", "read.lua", "health.lua"] {
        let _ = std::fs::remove_file(dir.join(f));
    }
    let n = *electors;
    say!("rollguard bench http: {n} generated electors (seed {seed}), wrk -t2 -c{connections} -d{duration}s");
    let ctx = Context { db: dir.join("http.db"), keyring: dir.join("http.keyring").display().to_string() };
    set_up_register(&ctx, dir, n, seed)?;
    let state = serving_state(&ctx, dir, n)?;
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
    let base = format!("http://{}", listener.local_addr()?);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = std::thread::spawn(move || {
        rt.block_on(rollguard_server::serve(listener, state, async {
            let _ = stop_rx.await;
        }))
    });
    // Warm the caches briefly, then measure the baseline and the reads alternately.
    wrk(&base, &dir.join("read.lua"), 3, connections)?;
    let health = wrk(&base, &dir.join("health.lua"), duration, connections)?;
    let read = wrk(&base, &dir.join("read.lua"), duration, connections)?;
    let _ = stop_tx.send(());
    let _ = server.join();
    report(&read, &health)
}

/// A register of `n` generated electors and a reader with a token; writes the wrk scripts
/// (random point reads with that token, and /healthz).
fn set_up_register(ctx: &Context, dir: &Path, n: u64, seed: u64) -> Result<()> {
    let console = ctx.create()?;
    let (svc, actor) = (&console.svc, &console.actor);
    svc.create_authority(actor, AUTHORITY, "Benchmark", Nation::England)?;
    let mut csv = crate::commands::csv_buffer(n);
    write_generated(n, seed, Nation::England, svc.clock().today(), &mut csv, |_| {})?;
    let report =
        crate::commands::import_with_progress(&console, AUTHORITY, csv.as_slice(), "bench", (None, 0))?;
    drop(csv);
    let staff = vec![Grant { role: Role::RegistrationStaff, scope: Scope::parse(AUTHORITY) }];
    svc.add_principal(actor, "bench-reader", PrincipalKind::Service, staff)?;
    let (_, token) = svc.create_token(
        actor,
        "bench-reader",
        "bench",
        vec![Permission::ElectorRead],
        vec![Scope::parse(AUTHORITY)],
        1,
    )?;
    console.finish()?;
    // Ids carry no order, so the script draws from a list of them (every 1 in `step`).
    let step = (report.ids.len() / 10_000).max(1);
    // Quoted: LuaJIT would print a 52-bit number in exponent form.
    let sample: Vec<String> = report.ids.iter().step_by(step).map(|id| format!("\"{id}\"")).collect();
    std::fs::write(
        dir.join("read.lua"),
        format!(
            "math.randomseed({seed})\n\
             wrk.headers[\"Authorization\"] = \"Bearer {}\"\n\
             ids = {{{}}}\n\
             request = function()\n  return wrk.format(\"GET\", \"/api/v1/authorities/{AUTHORITY}/electors/\" .. ids[math.random(1, #ids)])\nend\n",
            token.expose(),
            sample.join(",")
        ),
    )?;
    std::fs::write(
        dir.join("health.lua"),
        "request = function()\n  return wrk.format(\"GET\", \"/healthz\")\nend\n",
    )?;
    Ok(())
}

/// The server's state: the reader's budget covers the register, its request rate is
/// unbounded, and detection runs the shipped rules but one.
fn serving_state(ctx: &Context, dir: &Path, n: u64) -> Result<std::sync::Arc<rollguard_server::AppState>> {
    // The reader's budget covers every elector it may read, and no more: the benchmark
    // measures reads that succeed, each charged and audited.
    let mut policy = rollguard_service::Policy::default();
    let budget = rollguard_detect::Budget { distinct: n, window_ms: 3_600_000 };
    policy.budgets.insert(Role::RegistrationStaff, vec![budget]);
    say!("reader's budget: {} distinct electors per hour (the whole register), set for this benchmark", n);
    let svc = ctx.service_with(crate::access::serving(4), AccountsConfig::default(), policy)?;
    // The benchmark principal may make as many requests as wrk can send.
    let config = rollguard_server::ServerConfig {
        principal_rate: rollguard_server::limits::Rate { burst: 1_000_000, per_second: 1_000_000.0 },
        ..Default::default()
    };
    // Detection runs, on every read, with the shipped rules but one: the bulk-read rule
    // would (rightly) suspend a reader of the whole register within seconds.
    let rules = dir.join("rules");
    let _ = std::fs::remove_dir_all(&rules);
    std::fs::create_dir_all(&rules)?;
    for (name, text) in rollguard_detect::ruleset::SHIPPED.iter().filter(|(name, _)| *name != "bulk-read.yml")
    {
        std::fs::write(rules.join(name), text)?;
    }
    say!("detection: the shipped rules except bulk-read.yml, over every audited read");
    let detection =
        rollguard_server::detection::DetectionConfig { rules_dir: Some(rules), ..Default::default() };
    let log = crate::access::open_audit_log(ctx, &svc, None)?;
    Ok(rollguard_server::AppState::with_detection(svc, log, config, detection))
}

/// Prints the table; the benchmark is void if any request failed.
fn report(read: &WrkResult, health: &WrkResult) -> Result<()> {
    say!();
    say!("| measure | point read (token, sealed) | /healthz baseline | read / baseline |");
    say!("|---|---|---|---|");
    say!(
        "| requests/s | {:.0} | {:.0} | {:.2}× |",
        read.requests_per_sec,
        health.requests_per_sec,
        read.requests_per_sec / health.requests_per_sec
    );
    say!("| p50 | {:.2} ms | {:.2} ms | {:.2}× |", read.p50_ms, health.p50_ms, read.p50_ms / health.p50_ms);
    say!("| p99 | {:.2} ms | {:.2} ms | {:.2}× |", read.p99_ms, health.p99_ms, read.p99_ms / health.p99_ms);
    if read.failed > 0 || health.failed > 0 {
        return Err(format!(
            "the benchmark is void: {} read and {} baseline requests failed (wrk: reads: {} / baseline: {})",
            read.failed, health.failed, read.errors, health.errors
        )
        .into());
    }
    say!("\nevery request succeeded (each read charged to the budget and its audit event committed first)");
    say!(
        "target: p99 < 3 ms at ≥ 5,000 requests/s: {}",
        if read.p99_ms < 3.0 && read.requests_per_sec >= 5000.0 { "met" } else { "not met" }
    );
    Ok(())
}
