//! Detection inside the server: a thread reads the audit stream as events are queued, runs
//! the rules, records each alert as an audit event, sends it to the sinks and applies the
//! rule's automatic responses. Read budgets are charged synchronously by the request that
//! would return personal data, so going over is refused before any data leaves.

use crate::audit::now_ms;
use crate::problem::ApiError;
use crate::state::{now_secs, AppState, RegisterVault};
use rollguard_access::{Principal, Role};
use rollguard_alerts::{AlertMessage, Dispatcher, SinkSpec};
use rollguard_audit::{Event, Kind, Outcome};
use rollguard_detect::{
    Alert, Budget, Engine, EnrichConfig, Enricher, Level, Observed, ReadBudgets, Response, RuleError, RuleSet,
};
use rollguard_store::{AccessStore, DetectionStore, ResponseRecord};
use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::{Duration, Instant, SystemTime};

/// The rule id of read-budget alerts.
pub const BUDGET_RULE: &str = "rollguard-read-budget";

/// How detection is set up.
pub struct DetectionConfig {
    /// Sigma rules directory; `None` runs the rules Rollguard ships.
    pub rules_dir: Option<PathBuf>,
    /// How often the rules directory is checked for changes.
    pub reload_every: Duration,
    pub enrich: EnrichConfig,
    /// Distinct electors per window, by role; a principal gets the largest of its roles'.
    /// A role not listed has no budget of its own.
    pub budgets: BTreeMap<Role, Budget>,
    /// What to do when a budget runs out (besides refusing the request and alerting).
    pub budget_response: Vec<Response>,
    pub sinks: Vec<SinkSpec>,
}

impl Default for DetectionConfig {
    fn default() -> Self {
        let mut budgets = BTreeMap::new();
        budgets.insert(Role::RegistrationStaff, Budget { distinct: 600, window_ms: 3_600_000 });
        Self {
            rules_dir: None,
            reload_every: Duration::from_secs(2),
            enrich: EnrichConfig::default(),
            budgets,
            budget_response: vec![Response::SuspendPrincipal],
            sinks: Vec::new(),
        }
    }
}

pub struct Detection {
    budgets: ReadBudgets,
    budget_by_role: BTreeMap<Role, Budget>,
    budget_response: Vec<Response>,
    rules_dir: Option<PathBuf>,
    reload_every: Duration,
    enrich: Mutex<Option<EnrichConfig>>,
    dispatcher: Dispatcher,
    /// Principals cut off by a response, checked on every request before the database is.
    blocked: RwLock<HashSet<String>>,
    exports_frozen: AtomicBool,
    /// New rule sets for the detection thread.
    commands: Mutex<Option<std::sync::mpsc::Sender<RuleSet>>>,
    started: AtomicBool,
    /// Problems with the rules last loaded, for `GET /api/v1/detection/rules`.
    pub rule_errors: Mutex<Vec<RuleError>>,
    pub rules_loaded: AtomicU64,
    pub alerts_raised: AtomicU64,
    /// Events the engine has seen (the audit log's `submitted()` minus this is the lag).
    pub events_seen: AtomicU64,
}

impl Detection {
    pub fn new(config: DetectionConfig) -> Self {
        let mut dispatcher = Dispatcher::default();
        for s in config.sinks {
            dispatcher.add(s.sink, s.min_level);
        }
        Self {
            budgets: ReadBudgets::new(),
            budget_by_role: config.budgets,
            budget_response: config.budget_response,
            rules_dir: config.rules_dir,
            reload_every: config.reload_every,
            enrich: Mutex::new(Some(config.enrich)),
            dispatcher,
            blocked: RwLock::new(HashSet::new()),
            exports_frozen: AtomicBool::new(false),
            commands: Mutex::new(None),
            started: AtomicBool::new(false),
            rule_errors: Mutex::new(Vec::new()),
            rules_loaded: AtomicU64::new(0),
            alerts_raised: AtomicU64::new(0),
            events_seen: AtomicU64::new(0),
        }
    }

    pub fn is_blocked(&self, principal: &str) -> bool {
        self.blocked.read().unwrap_or_else(|p| p.into_inner()).contains(principal)
    }

    pub fn exports_frozen(&self) -> bool {
        self.exports_frozen.load(Ordering::SeqCst)
    }

    /// The budget for a principal: the largest of its roles'.
    pub fn budget_for(&self, p: &Principal) -> Option<Budget> {
        p.access
            .grants
            .iter()
            .filter_map(|g| self.budget_by_role.get(&g.role).copied())
            .max_by_key(|b| b.distinct)
    }

    /// Loads the rules (directory or shipped).
    pub fn load_rules(&self) -> RuleSet {
        match &self.rules_dir {
            None => RuleSet::shipped(),
            Some(dir) => RuleSet::load_dir(dir).unwrap_or_else(|e| {
                let mut s = RuleSet::default();
                s.errors.push(RuleError {
                    file: dir.display().to_string(),
                    line: 0,
                    reason: format!("cannot read: {e}"),
                });
                s
            }),
        }
    }

    /// Loads the rules again now (the reload endpoint); returns (loaded, errors).
    pub fn reload(&self) -> (usize, Vec<RuleError>) {
        let set = self.load_rules();
        let out = (set.len(), set.errors.clone());
        self.note_rules(&set);
        if let Some(tx) = self.commands.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
            let _ = tx.send(set);
        }
        out
    }

    fn note_rules(&self, set: &RuleSet) {
        for e in &set.errors {
            tracing::warn!(rule_file = %e.file, line = e.line, reason = %e.reason, "rule refused");
        }
        self.rules_loaded.store(set.len() as u64, Ordering::Relaxed);
        *self.rule_errors.lock().unwrap_or_else(|p| p.into_inner()) = set.errors.clone();
    }
}

/// Starts the detection thread for `state` (once); call from inside the runtime.
pub fn start(state: &Arc<AppState>) {
    let det = &state.detection;
    if det.started.swap(true, Ordering::SeqCst) {
        return;
    }
    // Active responses survive a restart: frozen exports stay frozen.
    let st = state.clone();
    let handle = tokio::runtime::Handle::current();
    let events = state.audit.subscribe();
    let (tx, commands) = std::sync::mpsc::channel();
    *det.commands.lock().unwrap_or_else(|p| p.into_inner()) = Some(tx);
    let weak: Weak<AppState> = Arc::downgrade(state);
    let set = det.load_rules();
    det.note_rules(&set);
    let mut enricher =
        Enricher::new(det.enrich.lock().unwrap_or_else(|p| p.into_inner()).take().unwrap_or_default());
    let spawned = std::thread::Builder::new().name("rg-detect".into()).spawn(move || {
        let mut engine = Engine::new(set);
        if let Ok(Ok((frozen, canaries))) = handle.block_on(st.pool.run(active_state)) {
            st.detection.exports_frozen.store(frozen, Ordering::SeqCst);
            enricher.set_canaries(canaries);
        }
        let reload_every = st.detection.reload_every;
        let rules_dir = st.detection.rules_dir.clone();
        drop(st);
        let mut fingerprint = rules_dir.as_deref().map(dir_fingerprint);
        let mut last_check = Instant::now();
        loop {
            match events.recv_timeout(Duration::from_millis(200)) {
                Ok(ev) => {
                    let Some(state) = weak.upgrade() else { return };
                    observe(&state, &handle, &mut engine, &mut enricher, &ev);
                }
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return,
            }
            while let Ok(set) = commands.try_recv() {
                engine.replace_rules(set);
            }
            if let Some(dir) = rules_dir.as_deref() {
                if last_check.elapsed() >= reload_every {
                    last_check = Instant::now();
                    let now = dir_fingerprint(dir);
                    if fingerprint.as_ref() != Some(&now) {
                        fingerprint = Some(now);
                        if let Some(state) = weak.upgrade() {
                            let set = state.detection.load_rules();
                            state.detection.note_rules(&set);
                            tracing::info!(rules = set.len(), refused = set.errors.len(), "rules reloaded");
                            engine.replace_rules(set);
                        }
                    }
                }
            }
        }
    });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "could not start detection");
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

/// Frozen exports and canary ids, from the store.
fn active_state(v: &mut RegisterVault) -> Result<(bool, Vec<u64>), String> {
    let frozen =
        v.store().response_in_force(Response::FreezeExports.as_str(), None).map_err(|e| e.to_string())?;
    let canaries = v.registry().map_err(|e| e.to_string())?.canary_ids();
    Ok((frozen, canaries))
}

fn observe(
    state: &Arc<AppState>,
    handle: &tokio::runtime::Handle,
    engine: &mut Engine,
    enricher: &mut Enricher,
    ev: &Event,
) {
    state.detection.events_seen.fetch_add(1, Ordering::Relaxed);
    // Detection's own output is not input: an alert about alerts would feed itself.
    if matches!(ev.kind, Kind::Alert | Kind::Response) {
        return;
    }
    let mut o = Observed::from_event(ev);
    enricher.enrich(&mut o);
    for alert in engine.observe(&o) {
        raise(state, alert, Some(handle), None);
    }
}

/// Records, sends and acts on an alert. Responses run on `vault` if the caller holds one
/// (a request refusing over budget), else through the pool on `handle`.
pub fn raise(
    state: &Arc<AppState>,
    alert: Alert,
    handle: Option<&tokio::runtime::Handle>,
    vault: Option<&mut RegisterVault>,
) {
    let det = &state.detection;
    let raised_at = now_ms();
    det.alerts_raised.fetch_add(1, Ordering::Relaxed);
    state
        .metrics
        .alerts
        .get_or_create(&crate::metrics::LevelLabels { level: alert.level.as_str().into() })
        .inc();
    state.metrics.alert_latency.observe((raised_at - alert.event_time).max(0) as f64 / 1000.0);
    // Cut the principal off in memory first: the next request is refused even before the
    // database has the suspension.
    let subject = alert.principal.clone();
    if let Some(p) = &subject {
        if alert.response.contains(&Response::SuspendPrincipal) {
            det.blocked.write().unwrap_or_else(|p| p.into_inner()).insert(p.clone());
        }
    }
    if alert.response.contains(&Response::FreezeExports) {
        det.exports_frozen.store(true, Ordering::SeqCst);
    }
    let mut ev = Event::new(raised_at, Kind::Alert, Outcome::Success)
        .detail("rule", alert.rule.clone())
        .detail("title", alert.title.clone())
        .detail("level", alert.level.as_str())
        .detail("event_seq", alert.event_seq.to_string())
        .electors(alert.electors.iter().copied());
    if let Some(p) = &subject {
        ev.detail.insert("subject".into(), p.clone());
    }
    if let Some(a) = &alert.authority {
        ev.authority = Some(a.clone());
    }
    if let Some(c) = alert.count {
        ev.detail.insert("count".into(), c.to_string());
    }
    if let Some(c) = alert.correlation {
        ev.detail.insert("correlation".into(), c.into());
    }
    let audit_seq = state.audit.submit(ev).ok();
    tracing::warn!(rule = %alert.rule, level = %alert.level, title = %alert.title, principal = ?subject, "alert");
    let responses = alert.response.clone();
    let rule = alert.rule.clone();
    det.dispatcher.send(AlertMessage { alert, raised_at, audit_seq, host: rollguard_alerts::hostname() });
    if responses.is_empty() {
        return;
    }
    let apply = {
        let state = state.clone();
        move |v: &mut RegisterVault| {
            for action in &responses {
                if let Err(e) = apply_response(&state, v, *action, subject.as_deref(), &rule, audit_seq) {
                    tracing::error!(error = %e, action = action.as_str(), "automatic response failed");
                }
            }
        }
    };
    match (vault, handle) {
        (Some(v), _) => apply(v),
        (None, Some(h)) => {
            if h.block_on(state.pool.run(apply)).is_err() {
                tracing::error!("automatic response task failed");
            }
        }
        (None, None) => tracing::error!("automatic response had nowhere to run"),
    }
}

fn apply_response(
    state: &AppState,
    v: &mut RegisterVault,
    action: Response,
    subject: Option<&str>,
    rule: &str,
    alert_seq: Option<u64>,
) -> Result<(), String> {
    let now = now_secs();
    if action != Response::FreezeExports && subject.is_none() {
        return Ok(());
    }
    // One live response of a kind per subject: a burst of alerts is not a burst of responses.
    if v.store().response_in_force(action.as_str(), subject).map_err(|e| e.to_string())? {
        return Ok(());
    }
    match action {
        Response::SuspendPrincipal => {
            let name = subject.expect("checked above");
            match state.accounts.set_suspended(v.store_mut(), name, true, now) {
                Ok(()) => {}
                // The alert named someone who is not a principal (a failed login's claim).
                Err(rollguard_access::AccessError::UnknownPrincipal(_)) => return Ok(()),
                Err(e) => return Err(e.to_string()),
            }
        }
        Response::RevokeCredentials => {
            let name = subject.expect("checked above");
            let Some(p) = v.store().principal_by_name(name).map_err(|e| e.to_string())? else {
                return Ok(());
            };
            state.accounts.revoke_sessions(v.store_mut(), name, now).map_err(|e| e.to_string())?;
            v.store_mut().revoke_tokens_of(p.id, now).map_err(|e| e.to_string())?;
        }
        Response::FreezeExports => state.detection.exports_frozen.store(true, Ordering::SeqCst),
    }
    let id = v
        .store_mut()
        .insert_response(&ResponseRecord {
            id: 0,
            action: action.as_str().into(),
            subject: subject.map(str::to_owned),
            rule: rule.into(),
            alert_seq,
            created_at: now,
            reversed_at: None,
            reversed_by: None,
        })
        .map_err(|e| e.to_string())?;
    let mut ev = Event::new(now_ms(), Kind::Response, Outcome::Success)
        .detail("action", action.as_str())
        .detail("change", "applied")
        .detail("response", id.to_string())
        .detail("rule", rule);
    if let Some(s) = subject {
        ev.detail.insert("subject".into(), s.into());
    }
    crate::audit::note(&state.audit, ev);
    Ok(())
}

/// Reverses response `id` on behalf of `by`; returns the record as it was.
pub fn reverse(
    state: &AppState,
    v: &mut RegisterVault,
    id: u64,
    by: &str,
) -> Result<ResponseRecord, ApiError> {
    let r = v.store().response(id).map_err(|_| ApiError::internal())?.ok_or_else(ApiError::not_found)?;
    if r.reversed_at.is_some() {
        return Err(ApiError::new(axum::http::StatusCode::CONFLICT, "already-reversed", "Already reversed")
            .detail(format!("response {id} was reversed by {}", r.reversed_by.as_deref().unwrap_or("?"))));
    }
    let now = now_secs();
    match r.action.as_str() {
        "suspend_principal" => {
            if let Some(name) = &r.subject {
                state
                    .accounts
                    .set_suspended(v.store_mut(), name, false, now)
                    .map_err(|_| ApiError::internal())?;
                state.detection.blocked.write().unwrap_or_else(|p| p.into_inner()).remove(name);
            }
        }
        // Revoked sessions and tokens stay revoked (they may be in an attacker's hands);
        // reversing lets the principal sign in and be issued new tokens.
        "revoke_credentials" => {}
        "freeze_exports" => {}
        other => return Err(ApiError::bad_request(format!("unknown response action {other}"))),
    }
    v.store_mut().reverse_response(id, by, now).map_err(|_| ApiError::internal())?;
    if r.action == "freeze_exports" {
        let still = v
            .store()
            .response_in_force(Response::FreezeExports.as_str(), None)
            .map_err(|_| ApiError::internal())?;
        state.detection.exports_frozen.store(still, Ordering::SeqCst);
    }
    let mut ev = Event::new(now_ms(), Kind::Response, Outcome::Success)
        .principal(by)
        .detail("action", r.action.clone())
        .detail("change", "reversed")
        .detail("response", id.to_string())
        .detail("rule", r.rule.clone());
    if let Some(s) = &r.subject {
        ev.detail.insert("subject".into(), s.clone());
    }
    crate::audit::record(&state.audit, ev)?;
    Ok(r)
}

/// Charges a read of `ids` to the caller's budget. Over budget: raises an alert at once,
/// applies the budget response on `v`, and refuses the request.
pub fn charge(
    state: &Arc<AppState>,
    v: &mut RegisterVault,
    who: &Principal,
    authority: &str,
    ids: &[u64],
) -> Result<(), ApiError> {
    let Some(budget) = state.detection.budget_for(who) else { return Ok(()) };
    let now = now_ms();
    match state.detection.budgets.charge(&who.name, budget, ids, now) {
        Ok(_) => Ok(()),
        Err(over) => {
            state.metrics.budget_refusals.inc();
            let alert = Alert {
                rule: BUDGET_RULE.into(),
                title: "Read budget exhausted".into(),
                level: Level::High,
                correlation: None,
                event_time: now,
                event_seq: state.audit.submitted(),
                principal: Some(who.name.clone()),
                client: who.client.clone(),
                authority: Some(authority.to_owned()),
                group: BTreeMap::new(),
                count: Some(over.used),
                electors: Vec::new(),
                response: state.detection.budget_response.clone(),
                tags: vec!["attack.collection".into()],
            };
            raise(state, alert, None, Some(v));
            let e = crate::audit::event(Kind::ElectorRead, Outcome::Refused, Some(who))
                .authority(authority)
                .detail("reason", "read-budget")
                .detail("asked", over.asked.to_string());
            crate::audit::note(&state.audit, e);
            let window = budget.window_ms / 1000;
            Err(ApiError::new(axum::http::StatusCode::TOO_MANY_REQUESTS, "read-budget", "Read budget exhausted")
                .detail(format!(
                    "{} of {} distinct electors already read in the last {window} s; this request would read {} more",
                    over.used, over.limit, over.asked
                ))
                .retry_after(window as u64))
        }
    }
}
