//! `rollguard audit …`: verify the audit log offline, sign checkpoints, show the log's key.

use crate::context::{Context, Result};
use crate::output::say;
use clap::Subcommand;
use rollguard_audit::{replay, NoteVerifier, VerifyError};
use rollguard_store::{AuditStore, SqliteAuditStore};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(Subcommand)]
pub enum AuditCmd {
    /// Recompute the tree from every stored event and check every signed checkpoint, and
    /// any witnessed ones given. Reports the first index where they diverge.
    Verify {
        /// A checkpoint kept elsewhere (by a witness). Repeat for several.
        #[arg(long = "checkpoint")]
        checkpoints: Vec<PathBuf>,
        /// Verify with this key (`rollguard audit key` prints it) instead of the keyring:
        /// for an auditor who holds only the log and the key.
        #[arg(long)]
        vkey: Option<String>,
    },
    /// Sign a checkpoint of the log now and print it.
    Checkpoint {
        /// Also write it to this file (for a witness).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Print the log's verifier key (origin, key id, Ed25519 public key).
    Key,
    /// Print events as JSON lines as they are written (Ctrl-C stops).
    Tail {
        /// Start this many events before the end (default: only new ones).
        #[arg(long, default_value_t = 0)]
        last: u64,
    },
    /// An inclusion proof for one event against the latest checkpoint that covers it, as
    /// JSON (vkey, checkpoint, event, proof), checkable with tests/interop/verify_checkpoint.py.
    Proof {
        #[arg(long)]
        index: u64,
    },
    /// Exactly whose records were read: by a principal over a time range, or who read one
    /// elector. Each row names the event that proves it (`audit proof --index N`).
    Scope(ScopeArgs),
}

#[derive(clap::Args)]
pub struct ScopeArgs {
    /// The principal whose reads (of electors and applications) to list.
    #[arg(long, conflicts_with_all = ["elector", "application"])]
    principal: Option<String>,
    /// From this time (RFC 3339, e.g. 2026-11-24T09:00:00Z).
    #[arg(long)]
    from: Option<String>,
    /// Until this time (RFC 3339).
    #[arg(long)]
    to: Option<String>,
    /// List who read this elector instead.
    #[arg(long, conflicts_with = "application")]
    elector: Option<u64>,
    /// List who read this application instead.
    #[arg(long)]
    application: Option<u64>,
    #[arg(long, value_enum, default_value = "csv")]
    format: ScopeFormat,
    /// Instead of the rows, list the affected electors with names and addresses for
    /// notification letters. This opens personal data, so it needs the keyring and is
    /// itself an audit event.
    #[arg(long)]
    notify: bool,
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum ScopeFormat {
    Csv,
    Json,
}

fn parse_time(field: &str, s: &str) -> Result<i64> {
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .map_err(|_| format!("--{field}: expected an RFC 3339 time such as 2026-11-24T09:00:00Z"))?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000)
        .map_err(|_| format!("--{field}: {s} is out of range").into())
}

fn format_time(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_else(|| ms.to_string())
}

/// Opens the log for reading; it must exist.
fn read_log(path: &Path) -> Result<SqliteAuditStore> {
    if !path.exists() {
        return Err(format!("no audit log at {}", path.display()).into());
    }
    Ok(SqliteAuditStore::open_or_create(path, false)?)
}

/// The verifier key of the register's log at `ctx` (from the keyring).
pub fn log_verifier(ctx: &Context) -> Result<NoteVerifier> {
    let mut store = read_log(&ctx.audit_path())?;
    verifier(ctx, &mut store)
}

/// The verifier key of the register's log (from the keyring).
fn verifier(ctx: &Context, store: &mut SqliteAuditStore) -> Result<NoteVerifier> {
    let console = ctx.open()?;
    Ok(crate::context::signer(&console.svc, store)?.verifier())
}

/// Where a verification failure leaves the log: the exact index when one is known, else
/// the range the changed event lies in.
fn where_it_diverges(e: &VerifyError) -> String {
    match e {
        VerifyError::Diverged { from, size } => {
            format!(" (the changed event is among indexes {from} to {})", size - 1)
        }
        other => other
            .first_divergent_index()
            .map(|i| format!(" (first divergent index: {i})"))
            .unwrap_or_default(),
    }
}

/// A personal record an event read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Record {
    Elector(u64),
    Application(u64),
}

/// One read in a breach scope.
#[derive(Debug, Clone)]
pub struct ScopeRow {
    pub record: Record,
    pub time: String,
    /// The event's index in the log (its proof).
    pub seq: u64,
    pub kind: String,
    pub principal: String,
    pub authority: String,
}

/// Which reads a scope lists.
#[derive(Debug, Clone, Copy, Default)]
pub struct ScopeFilter<'a> {
    pub principal: Option<&'a str>,
    /// Milliseconds since the epoch; `None` is unbounded.
    pub from: Option<i64>,
    pub to: Option<i64>,
    /// Only reads of this record.
    pub record: Option<Record>,
}

/// Every successful access to personal data (electors and applications) that `filter`
/// picks, one row per record per event. The caller verifies the log first.
pub fn scope_rows(store: &SqliteAuditStore, filter: ScopeFilter<'_>) -> Result<Vec<ScopeRow>> {
    let mut rows: Vec<ScopeRow> = Vec::new();
    let (from, to) = (filter.from.unwrap_or(i64::MIN), filter.to.unwrap_or(i64::MAX));
    store.scan(0, u64::MAX, &mut |stored| {
        let e = rollguard_audit::Event::from_canonical(&stored.body)
            .map_err(|r| rollguard_store::StoreError::Corrupt(format!("event {}: {r}", stored.index)))?;
        if !e.kind.reads_personal_data() || e.outcome != rollguard_audit::Outcome::Success {
            return Ok(());
        }
        let who = e.principal.clone().unwrap_or_default();
        if e.time < from || e.time > to || filter.principal.is_some_and(|p| p != who) {
            return Ok(());
        }
        let records = e.electors.iter().map(|&id| Record::Elector(id));
        let records = records.chain(e.applications.iter().map(|&id| Record::Application(id)));
        for record in records.filter(|r| filter.record.is_none_or(|x| x == *r)) {
            rows.push(ScopeRow {
                record,
                time: format_time(e.time),
                seq: e.seq,
                kind: e.kind.code(),
                principal: who.clone(),
                authority: e.authority.clone().unwrap_or_default(),
            });
        }
        Ok(())
    })?;
    Ok(rows)
}

pub fn run(ctx: &Context, c: AuditCmd) -> Result<()> {
    let path = ctx.audit_path();
    match c {
        AuditCmd::Verify { checkpoints, vkey } => verify(ctx, &path, &checkpoints, vkey.as_deref()),
        AuditCmd::Checkpoint { out } => {
            let console = ctx.open()?;
            let log = crate::access::open_audit_log(ctx, &console.svc, None)?;
            let note = log.checkpoint(console.svc.register())?;
            if let Some(p) = out {
                std::fs::write(&p, &note)?;
            }
            say!("{note}");
            Ok(())
        }
        AuditCmd::Proof { index } => proof(ctx, &path, index),
        AuditCmd::Scope(args) => scope(ctx, &path, &args),
        AuditCmd::Tail { last } => tail(&path, last),
        AuditCmd::Key => {
            let mut store = read_log(&path)?;
            say!("{}", verifier(ctx, &mut store)?.vkey());
            Ok(())
        }
    }
}

/// `audit verify`: replays the whole log against its signed and witnessed checkpoints.
fn verify(ctx: &Context, path: &Path, checkpoints: &[PathBuf], vkey: Option<&str>) -> Result<()> {
    let mut store = read_log(path)?;
    let verifier = match vkey {
        Some(v) => NoteVerifier::parse(v)?,
        None => verifier(ctx, &mut store)?,
    };
    let witnessed = checkpoints
        .iter()
        .map(|p| std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display())))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let started = Instant::now();
    let r = replay(&store, &verifier, &witnessed)
        .map_err(|e| format!("audit log {} does NOT verify: {e}{}", path.display(), where_it_diverges(&e)))?;
    let secs = started.elapsed().as_secs_f64();
    say!(
        "audit log {}: {} events verified, {} stored and {} witnessed checkpoints match ({:.0} events/s)",
        path.display(),
        r.tree.size(),
        r.checkpoints,
        r.witnessed,
        r.tree.size() as f64 / secs.max(1e-9)
    );
    Ok(())
}

/// `audit proof`: event `index` with its inclusion proof against the first checkpoint that
/// covers it.
fn proof(ctx: &Context, path: &Path, index: u64) -> Result<()> {
    let mut store = read_log(path)?;
    let verifier = verifier(ctx, &mut store)?;
    let report = replay(&store, &verifier, &[])?;
    let checkpoints = store.checkpoints()?;
    let cp = checkpoints
        .iter()
        .find(|c| c.size > index)
        .ok_or_else(|| format!("no checkpoint covers event {index} yet; run `rollguard audit checkpoint`"))?;
    let proof = report.tree.inclusion_proof(index, cp.size)?;
    let mut event = None;
    store.scan(index, index + 1, &mut |e| {
        event = Some(String::from_utf8_lossy(&e.body).into_owned());
        Ok(())
    })?;
    let b64 = |h: &[u8]| base64::Engine::encode(&base64::engine::general_purpose::STANDARD, h);
    let out = serde_json::json!({
        "vkey": verifier.vkey(),
        "checkpoint": cp.note,
        "index": index,
        "event": event.ok_or("event not found")?,
        "proof": proof.iter().map(|h| b64(h)).collect::<Vec<_>>(),
    });
    say!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}

/// `audit scope`: the reads of a principal, or of an elector, from a verified log; with
/// `--notify`, the affected electors for notification letters instead.
fn scope(ctx: &Context, path: &Path, a: &ScopeArgs) -> Result<()> {
    if a.principal.is_none() && a.elector.is_none() && a.application.is_none() {
        return Err("give --principal NAME (with --from/--to), --elector ID or --application ID".into());
    }
    let mut store = read_log(path)?;
    let verifier = verifier(ctx, &mut store)?;
    // Scope is only as good as the log: it must verify first.
    replay(&store, &verifier, &[])?;
    let filter = ScopeFilter {
        principal: a.principal.as_deref(),
        from: a.from.as_deref().map(|s| parse_time("from", s)).transpose()?,
        to: a.to.as_deref().map(|s| parse_time("to", s)).transpose()?,
        record: a.elector.map(Record::Elector).or(a.application.map(Record::Application)),
    };
    let rows = scope_rows(&store, filter)?;
    let distinct: BTreeSet<Record> = rows.iter().map(|r| r.record).collect();
    let electors: BTreeSet<u64> =
        distinct.iter().filter_map(|r| if let Record::Elector(id) = r { Some(*id) } else { None }).collect();
    if a.notify {
        return write_notification_list(ctx, electors, a.principal.clone());
    }
    let ids = |r: &ScopeRow| match r.record {
        Record::Elector(id) => (Some(id), None),
        Record::Application(id) => (None, Some(id)),
    };
    match a.format {
        ScopeFormat::Csv => {
            say!("elector_id,application_id,time,principal,kind,authority,event");
            let or_empty = |v: Option<u64>| v.map(|v| v.to_string()).unwrap_or_default();
            for r in &rows {
                let (e, app) = ids(r);
                say!(
                    "{},{},{},{},{},{},{}",
                    or_empty(e),
                    or_empty(app),
                    r.time,
                    r.principal,
                    r.kind,
                    r.authority,
                    r.seq
                );
            }
        }
        ScopeFormat::Json => {
            let list: Vec<_> = rows
                .iter()
                .map(|r| {
                    let (e, app) = ids(r);
                    serde_json::json!({"elector_id": e, "application_id": app, "time": r.time, "principal": r.principal, "kind": r.kind, "authority": r.authority, "event": r.seq})
                })
                .collect();
            say!("{}", serde_json::to_string_pretty(&list)?);
        }
    }
    eprintln!(
        "{} reads of {} distinct electors and {} distinct applications; prove any row with `rollguard audit proof --index EVENT`",
        rows.len(),
        electors.len(),
        distinct.len() - electors.len()
    );
    Ok(())
}

/// The affected electors' names and addresses as CSV on stdout: opening them is itself a
/// use case with its audit event.
fn write_notification_list(ctx: &Context, electors: BTreeSet<u64>, principal: Option<String>) -> Result<()> {
    let console = ctx.open()?;
    let electors =
        console.svc.electors_to_notify(&console.actor, electors.into_iter().collect(), principal)?;
    let mut w = csv::Writer::from_writer(std::io::stdout().lock());
    w.write_record(["elector_id", "authority", "elector_number", "name", "address", "postcode"])?;
    for e in electors {
        let en = &e.entry;
        let (name, address, postcode) = if en.anonymous {
            // Anonymous electors are written to through the ERO's own process.
            ("anonymous entry".to_owned(), String::new(), String::new())
        } else {
            (
                format!("{} {}", en.name.given_names, en.name.surname),
                en.address.lines.join(", "),
                en.address.postcode.to_string(),
            )
        };
        w.write_record([
            e.id.to_string(),
            e.authority.clone(),
            en.number.to_string(),
            name,
            address,
            postcode,
        ])?;
    }
    w.flush()?;
    drop(w);
    console.finish()
}

/// `audit tail`: prints events as they are sequenced, until interrupted.
fn tail(path: &Path, last: u64) -> Result<()> {
    let store = read_log(path)?;
    let mut next = store.len()?.saturating_sub(last);
    loop {
        let len = store.len()?;
        if len > next {
            store.scan(next, len, &mut |e| {
                say!("{}", String::from_utf8_lossy(&e.body));
                Ok(())
            })?;
            next = len;
        }
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
}
