//! Detection inside the server: a thread reads the sequenced audit log from the position
//! stored in the register, runs the enricher and the rules over each event, and records
//! each alert (an `alert` event) with the rule's automatic responses and the new position,
//! in one write transaction. Alerts reach the sinks when their events come back through the
//! log, so delivery resumes after a restart too.
//!
//! On start the thread replays the stretch of log before its position that the longest
//! correlation window covers, with alerts discarded, so open windows survive a restart.

pub use crate::detection_config::{Detection, DetectionConfig};
use crate::state::AppState;
use rollguard_alerts::AlertMessage;
use rollguard_audit::{Event, Kind};
use rollguard_detect::{Alert, Engine, Enricher, Observed};
use rollguard_service::{apply_response, RESPONSE_READER};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant, SystemTime};

/// Events read from the log at a time.
const BATCH: u64 = 1024;
/// The stored position is moved on at least this often (and with every alert).
const SAVE_EVERY: Duration = Duration::from_secs(1);

/// The detection thread's own state.
struct Reader {
    engine: Engine,
    enricher: Enricher,
    fingerprint: Option<Vec<(String, u64, Option<SystemTime>)>>,
    last_check: Instant,
    position: u64,
    saved: Instant,
}

/// Starts the detection thread for `state` (once).
pub fn start(state: &Arc<AppState>) {
    let det = &state.detection;
    if det.started.swap(true, Ordering::SeqCst) {
        return;
    }
    let (tx, commands) = std::sync::mpsc::channel();
    *det.commands.lock().unwrap_or_else(|p| p.into_inner()) = Some(tx);
    let set = det.load_rules();
    det.note_rules(&set);
    let enricher =
        Enricher::new(det.enrich.lock().unwrap_or_else(|p| p.into_inner()).take().unwrap_or_default());
    let weak: Weak<AppState> = Arc::downgrade(state);
    let spawned = std::thread::Builder::new().name("rg-detect".into()).spawn(move || {
        let Some(mut reader) = weak.upgrade().and_then(|s| begin(&s, Engine::new(set), enricher)) else {
            return;
        };
        loop {
            let Some(state) = weak.upgrade() else { return };
            if state.detection.stop.load(Ordering::SeqCst) {
                return;
            }
            while let Ok(set) = commands.try_recv() {
                reader.engine.replace_rules(set);
            }
            watch_rules(&state, &mut reader);
            let log = state.log.clone();
            drop(state);
            if !log.wait_for(reader.position + 1, Duration::from_millis(200)) {
                if let Some(state) = weak.upgrade() {
                    let at = reader.position;
                    save_if_due(&state, &mut reader, Vec::new(), at);
                }
                continue;
            }
            let Some(state) = weak.upgrade() else { return };
            step(&state, &mut reader);
        }
    });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "could not start detection");
    }
}

/// Where to start, the canaries, and the correlation windows rebuilt from the log.
fn begin(state: &Arc<AppState>, engine: Engine, mut enricher: Enricher) -> Option<Reader> {
    let svc = &state.service;
    let stored = match svc.register().read(|tx| tx.log_position(RESPONSE_READER)) {
        Ok(p) => p,
        Err(e) => {
            tracing::error!(error = %e, "detection cannot read its position; it does not start");
            return None;
        }
    };
    let size = state.log.size();
    // A register that never ran detection starts at the end of its log.
    let position = stored.unwrap_or(size).min(size);
    load_canaries(state, &mut enricher);
    let mut reader = Reader {
        engine,
        enricher,
        fingerprint: state.detection.rules_dir.as_deref().map(dir_fingerprint),
        last_check: Instant::now(),
        position,
        saved: Instant::now(),
    };
    warm_up(state, &mut reader);
    state.detection.position.store(position, Ordering::SeqCst);
    Some(reader)
}

fn load_canaries(state: &AppState, enricher: &mut Enricher) {
    let svc = &state.service;
    match svc.register().read(|tx| -> rollguard_service::Result<Vec<u64>> {
        Ok(svc.keys().vault(tx)?.registry(tx)?.canary_ids())
    }) {
        Ok(ids) => enricher.set_canaries(ids),
        Err(e) => tracing::error!(error = %e, "reading the canaries failed"),
    }
}

/// Replays, with alerts discarded, the events before the position that the longest
/// correlation window reaches back to.
fn warm_up(state: &AppState, reader: &mut Reader) {
    let window = reader.engine.rules().longest_window_ms();
    if reader.position == 0 || window == 0 {
        return;
    }
    let last_time = match state.log.events(reader.position - 1, reader.position) {
        Ok(ev) => ev.first().map(|e| e.time).unwrap_or(0),
        Err(_) => return,
    };
    let horizon = last_time - window;
    // Times follow log order closely enough to search: the first index at the horizon.
    let (mut lo, mut hi) = (0u64, reader.position);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        let t =
            state.log.events(mid, mid + 1).ok().and_then(|e| e.first().map(|e| e.time)).unwrap_or(i64::MAX);
        if t < horizon {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    let mut at = lo;
    while at < reader.position {
        let to = (at + BATCH).min(reader.position);
        let Ok(events) = state.log.events(at, to) else { return };
        for ev in &events {
            let _ = observe(reader, ev);
        }
        at = to;
    }
    tracing::info!(from = lo, to = reader.position, "detection rebuilt its correlation windows from the log");
}

/// Runs the rules over one event; returns the alerts it raises.
fn observe(reader: &mut Reader, ev: &Event) -> Vec<Alert> {
    // Detection's own output is not input: an alert about alerts would feed itself.
    if matches!(ev.kind, Kind::Alert | Kind::Response) {
        return Vec::new();
    }
    let mut o = Observed::from_event(ev);
    reader.enricher.enrich(&mut o);
    reader.engine.observe(&o)
}

/// Processes the next batch of sequenced events.
fn step(state: &Arc<AppState>, reader: &mut Reader) {
    let to = reader.position + BATCH;
    let events = match state.log.events(reader.position, to) {
        Ok(e) => e,
        Err(e) => {
            tracing::error!(error = %e, "detection cannot read the audit log");
            std::thread::sleep(Duration::from_millis(200));
            return;
        }
    };
    let mut raised = Vec::new();
    let mut next = reader.position;
    for ev in &events {
        next = ev.seq + 1;
        match ev.kind {
            Kind::Alert => deliver(state, ev),
            Kind::ConfigChange
                if matches!(
                    ev.detail.get("change").map(String::as_str),
                    Some("canary-plant" | "layout-upgrade")
                ) =>
            {
                load_canaries(state, &mut reader.enricher)
            }
            _ => raised.extend(observe(reader, ev).into_iter().map(|a| (a, ev.seq))),
        }
    }
    save_if_due(state, reader, raised, next);
}

/// Records `raised` alerts with their responses and the position `next`, in one
/// transaction; without alerts, only once in a while. A failed write is tried again: the
/// alerts are not lost, nor raised twice.
fn save_if_due(state: &AppState, reader: &mut Reader, raised: Vec<(Alert, u64)>, next: u64) {
    if raised.is_empty() && (next == reader.position || reader.saved.elapsed() < SAVE_EVERY) {
        reader.position = next;
        state.detection.position.store(next, Ordering::SeqCst);
        return;
    }
    let mut pause = Duration::from_millis(50);
    loop {
        let (svc, alerts) = (state.service.clone(), raised.clone());
        let now_ms = svc.clock().now_ms();
        let written = state.service.register().write(move |tx| -> rollguard_service::Result<()> {
            for (alert, _) in &alerts {
                tx.append_event(&alert.to_event(now_ms).canonical())?;
                for action in &alert.response {
                    apply_response(
                        &svc,
                        tx,
                        *action,
                        alert.principal.as_deref(),
                        &alert.rule,
                        Some(alert.event_seq),
                        now_ms,
                    )?;
                }
            }
            tx.set_log_position(RESPONSE_READER, next, now_ms)?;
            Ok(())
        });
        match written {
            Ok(()) => break,
            Err(e) => {
                tracing::error!(error = %e, "recording alerts failed; trying again");
                if state.detection.stop.load(Ordering::SeqCst) {
                    return;
                }
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_secs(2));
            }
        }
    }
    for (alert, _) in &raised {
        tracing::warn!(rule = %alert.rule, level = %alert.level, title = %alert.title, principal = ?alert.principal, "alert");
    }
    reader.position = next;
    reader.saved = Instant::now();
    state.detection.position.store(next, Ordering::SeqCst);
}

/// Sends an alert read back from the log to the sinks.
fn deliver(state: &AppState, ev: &Event) {
    let Some(alert) = Alert::from_event(ev) else { return };
    let det = &state.detection;
    det.alerts_raised.fetch_add(1, Ordering::Relaxed);
    state
        .metrics
        .alerts
        .get_or_create(&crate::metrics::LevelLabels { level: alert.level.as_str().into() })
        .inc();
    let now = state.service.clock().now_ms();
    state.metrics.alert_latency.observe((now - alert.event_time).max(0) as f64 / 1000.0);
    if alert.rule == rollguard_service::BUDGET_RULE {
        state.metrics.budget_refusals.inc();
    }
    det.dispatcher.send(AlertMessage {
        alert,
        raised_at: ev.time,
        audit_seq: Some(ev.seq),
        host: rollguard_alerts::hostname(),
    });
}

/// Reloads the rules when the directory changes.
fn watch_rules(state: &AppState, reader: &mut Reader) {
    let Some(dir) = state.detection.rules_dir.as_deref() else { return };
    if reader.last_check.elapsed() < state.detection.reload_every {
        return;
    }
    reader.last_check = Instant::now();
    let now = dir_fingerprint(dir);
    if reader.fingerprint.as_ref() != Some(&now) {
        reader.fingerprint = Some(now);
        let set = state.detection.load_rules();
        state.detection.note_rules(&set);
        tracing::info!(rules = set.len(), refused = set.errors.len(), "rules reloaded");
        reader.engine.replace_rules(set);
    }
}

/// Names, sizes and modification times of the rule files: a change to any is a reload.
fn dir_fingerprint(dir: &std::path::Path) -> Vec<(String, u64, Option<SystemTime>)> {
    let mut out: Vec<_> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter_map(|e| {
                    let m = e.metadata().ok()?;
                    Some((e.file_name().to_string_lossy().into_owned(), m.len(), m.modified().ok()))
                })
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}
