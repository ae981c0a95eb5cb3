//! A real server on loopback over a real SQLite register and file keyring, with two
//! authorities of generated electors, an enrolled officer for each, and a service account.
#![allow(dead_code)]

use rollguard_access::{AccountsConfig, Grant, PasswordHasher, Permission, Role, Scope, TotpSecret};
use rollguard_register::{EntryText, FranchiseTable, Nation};
use rollguard_sealing::FileKeyring;
use rollguard_server::detection::DetectionConfig;
use rollguard_server::{AppState, ServerConfig};
use rollguard_service::{Actor, Clock, Policy, Service, Setup, SystemClock};
use rollguard_store::runtime::Connector;
use rollguard_store::{PrincipalKind, RegisterConfig, SqliteStore, Store};
use rollguard_vault::{ImportOptions, CSV_COLUMNS};
use std::io::Write;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use tempfile::TempDir;

pub const PASSWORD: &str = "mossy-harbour-lantern-42";

/// Log lines written by every server in this test process.
pub static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();

#[derive(Clone)]
struct LogWriter(Arc<Mutex<Vec<u8>>>);

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

pub fn capture_logs() {
    LOGS.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let writer = LogWriter(buf.clone());
        let subscriber = tracing_subscriber::fmt()
            .json()
            .with_max_level(tracing::Level::DEBUG)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::set_global_default(subscriber).unwrap();
        buf
    });
}

pub fn logs() -> String {
    String::from_utf8_lossy(&LOGS.get().unwrap().lock().unwrap()).into_owned()
}

/// A clock that runs with another, plus an offset a test can move forward (the next TOTP
/// step, an idle session) without waiting for it.
pub struct TestClock {
    base: Arc<dyn Clock>,
    offset_ms: std::sync::atomic::AtomicI64,
}

impl Clock for TestClock {
    fn now_ms(&self) -> i64 {
        self.base.now_ms() + self.offset_ms.load(std::sync::atomic::Ordering::SeqCst)
    }
}

pub struct Server {
    pub base: String,
    pub dir: TempDir,
    pub e1: Vec<(u64, EntryText)>,
    pub e2: Vec<(u64, EntryText)>,
    pub officer_totp: TotpSecret,
    pub admin_totp: TotpSecret,
    pub approver_totp: TotpSecret,
    pub service_token: String,
    pub supplies_token: String,
    pub analyst_token: String,
    pub agent: ureq::Agent,
    /// The server's own service and log (shared with it).
    pub svc: Service,
    pub log: rollguard_audit::AuditLog,
    /// The server's clock: the clock it was started with, moved on by `advance_secs`.
    pub clock: Arc<TestClock>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

pub fn generated(n: usize, seed: u64) -> Vec<EntryText> {
    let today = time::OffsetDateTime::now_utc().date();
    rollguard_synth::Generator::new(seed, FranchiseTable::default_for(Nation::England), today)
        .take(n)
        .collect()
}

pub fn csv_of(entries: &[EntryText]) -> Vec<u8> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(CSV_COLUMNS.iter().map(|c| c.name)).unwrap();
    for e in entries {
        w.write_record(CSV_COLUMNS.iter().map(|c| (c.get)(e))).unwrap();
    }
    w.into_inner().unwrap()
}

pub fn connector(dir: &std::path::Path) -> Connector {
    let db = dir.join("r.db");
    std::sync::Arc::new(move || Ok(Box::new(SqliteStore::open(&db)?) as Box<dyn Store>))
}

/// The register in `dir` as a service, with `register` connections.
pub fn service(
    dir: &std::path::Path,
    register: RegisterConfig,
    accounts: AccountsConfig,
    policy: Policy,
) -> Service {
    service_with_clock(dir, register, accounts, policy, Arc::new(SystemClock))
}

pub fn service_with_clock(
    dir: &std::path::Path,
    register: RegisterConfig,
    accounts: AccountsConfig,
    policy: Policy,
    clock: Arc<dyn Clock>,
) -> Service {
    let keyring = FileKeyring::open(&dir.join("k.keyring"), None).unwrap();
    Service::open(Setup {
        connect: connector(dir),
        register,
        keyring: Box::new(keyring),
        reopen_keyring: None,
        accounts,
        clock,
        policy,
    })
    .unwrap()
}

/// The register as a server opens it: read connections and a grouped writer.
pub fn serving() -> RegisterConfig {
    RegisterConfig { readers: 3, grouped: true, max_group: 256 }
}

/// The register's audit log, verified, as a server opens it.
pub fn open_log(dir: &std::path::Path, svc: &Service) -> rollguard_audit::AuditLog {
    let path = dir.join("r.db.audit");
    let connect: rollguard_audit::LogConnector = Arc::new(move || {
        Ok(Box::new(rollguard_store::SqliteAuditStore::open(&path)?) as Box<dyn rollguard_store::AuditStore>)
    });
    let signer = rollguard_audit::NoteSigner::from_seed("rollguard.test/audit", &[3u8; 32]).unwrap();
    rollguard_audit::AuditLog::open(svc.register(), connect, signer, &[]).unwrap()
}

pub fn accounts_config() -> AccountsConfig {
    AccountsConfig { hasher: PasswordHasher::new(1024, 1, 1), ..Default::default() }
}

pub fn start(config: ServerConfig, accounts_config: AccountsConfig) -> Server {
    start_with(config, accounts_config, None)
}

pub fn start_with(
    config: ServerConfig,
    accounts_config: AccountsConfig,
    tls: Option<Arc<tokio_rustls::rustls::ServerConfig>>,
) -> Server {
    start_detecting(config, accounts_config, tls, DetectionConfig::default(), |_, _, _| {})
}

/// A server with its own detection settings; `prepare` runs on the register (with the
/// imported E1 electors) before the server starts.
pub fn start_detecting(
    config: ServerConfig,
    accounts_config: AccountsConfig,
    tls: Option<Arc<tokio_rustls::rustls::ServerConfig>>,
    detection: DetectionConfig,
    prepare: impl FnOnce(&Service, &Actor, &[(u64, EntryText)]),
) -> Server {
    start_full(config, accounts_config, tls, detection, Policy::default(), Arc::new(SystemClock), prepare)
}

/// Sets up the register in a new directory: two authorities of generated electors, an
/// enrolled officer and administrator, and service accounts with tokens.
pub struct Prepared {
    pub dir: TempDir,
    pub e1: Vec<(u64, EntryText)>,
    pub e2: Vec<(u64, EntryText)>,
    pub officer_totp: TotpSecret,
    pub admin_totp: TotpSecret,
    pub approver_totp: TotpSecret,
    pub service_token: String,
    pub supplies_token: String,
    pub analyst_token: String,
}

pub fn prepare_register(
    accounts_config: &AccountsConfig,
    prepare: impl FnOnce(&Service, &Actor, &[(u64, EntryText)]),
) -> Prepared {
    prepare_register_in(&std::env::temp_dir(), accounts_config, Arc::new(SystemClock), prepare)
}

/// As `prepare_register`, in a new directory under `parent`.
pub fn prepare_register_in(
    parent: &std::path::Path,
    accounts_config: &AccountsConfig,
    clock: Arc<dyn Clock>,
    prepare: impl FnOnce(&Service, &Actor, &[(u64, EntryText)]),
) -> Prepared {
    let dir = tempfile::tempdir_in(parent).unwrap();
    FileKeyring::create(&dir.path().join("k.keyring"), None).unwrap();
    let svc = service_with_clock(
        dir.path(),
        RegisterConfig::default(),
        accounts_config.clone(),
        Policy::default(),
        clock,
    );
    let console = Actor::console();
    let today = svc.clock().today();
    let mut imported = Vec::new();
    for (code, seed) in [("E1", 11), ("E2", 22)] {
        svc.create_authority(&console, code, code, Nation::England).unwrap();
        let entries = generated(40, seed);
        let opts = ImportOptions {
            source_name: "t.csv".into(),
            effective: today,
            today,
            now: svc.clock().now_secs(),
            canaries_per_100k: 0,
        };
        let r = svc.import_csv(&console, code, csv_of(&entries).as_slice(), &opts, &|_| {}).unwrap();
        imported.push(r.ids.iter().copied().zip(entries).collect::<Vec<_>>());
    }
    prepare(&svc, &console, &imported[0]);
    let staff = |a: &str| vec![Grant { role: Role::RegistrationStaff, scope: Scope::parse(a) }];
    svc.add_principal(&console, "officer-e1", PrincipalKind::Human, staff("E1")).unwrap();
    let (officer_totp, _) = svc.provision_human(&console, "officer-e1", PASSWORD).unwrap();
    svc.add_principal(&console, "sync-e1", PrincipalKind::Service, staff("*")).unwrap();
    let token = |name: &str, perms: Vec<Permission>, scope: Scope| {
        svc.create_token(&console, name, "test", perms, vec![scope], 1).unwrap().1.expose().to_owned()
    };
    let service_token = token("sync-e1", vec![Permission::ElectorRead], Scope::parse("E1"));
    let admin = vec![Grant { role: Role::Administrator, scope: Scope::parse("E1") }];
    svc.add_principal(&console, "admin-e1", PrincipalKind::Human, admin).unwrap();
    let (admin_totp, _) = svc.provision_human(&console, "admin-e1", PASSWORD).unwrap();
    let approver = vec![Grant { role: Role::SuppliesApprover, scope: Scope::parse("E1") }];
    svc.add_principal(&console, "approver-e1", PrincipalKind::Human, approver).unwrap();
    let (approver_totp, _) = svc.provision_human(&console, "approver-e1", PASSWORD).unwrap();
    let supplies = vec![Grant { role: Role::SuppliesOfficer, scope: Scope::parse("E1") }];
    svc.add_principal(&console, "supplies-e1", PrincipalKind::Service, supplies).unwrap();
    let supplies_token = token("supplies-e1", vec![Permission::RegisterExport], Scope::parse("E1"));
    let analyst = vec![Grant { role: Role::SecurityAnalyst, scope: Scope::All }];
    svc.add_principal(&console, "analyst-1", PrincipalKind::Service, analyst).unwrap();
    let analyst_token = token("analyst-1", vec![Permission::AuditRead, Permission::AlertRead], Scope::All);
    let mut it = imported.into_iter();
    Prepared {
        dir,
        e1: it.next().unwrap(),
        e2: it.next().unwrap(),
        officer_totp,
        admin_totp,
        approver_totp,
        service_token,
        supplies_token,
        analyst_token,
    }
}

/// A server over a prepared register, with its own policy and clock.
pub fn start_full(
    config: ServerConfig,
    accounts_config: AccountsConfig,
    tls: Option<Arc<tokio_rustls::rustls::ServerConfig>>,
    detection: DetectionConfig,
    policy: Policy,
    clock: Arc<dyn Clock>,
    prepare: impl FnOnce(&Service, &Actor, &[(u64, EntryText)]),
) -> Server {
    capture_logs();
    let p = prepare_register_in(&std::env::temp_dir(), &accounts_config, clock.clone(), prepare);
    serve_prepared(p, config, accounts_config, tls, detection, policy, clock)
}

#[allow(clippy::too_many_arguments)]
pub fn serve_prepared(
    p: Prepared,
    config: ServerConfig,
    accounts_config: AccountsConfig,
    tls: Option<Arc<tokio_rustls::rustls::ServerConfig>>,
    detection: DetectionConfig,
    policy: Policy,
    clock: Arc<dyn Clock>,
) -> Server {
    let clock = Arc::new(TestClock { base: clock, offset_ms: 0.into() });
    let svc = service_with_clock(p.dir.path(), serving(), accounts_config, policy, clock.clone());
    let log = open_log(p.dir.path(), &svc);
    let state = AppState::with_detection(svc.clone(), log.clone(), config, detection);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::spawn(move || {
        let shutdown = async {
            let _ = rx.await;
        };
        match tls {
            Some(tls) => rt.block_on(rollguard_server::serve_tls(listener, tls, state, shutdown)),
            None => rt.block_on(rollguard_server::serve(listener, state, shutdown)),
        }
        .unwrap();
    });
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    Server {
        base: format!("http://{addr}"),
        dir: p.dir,
        e1: p.e1,
        e2: p.e2,
        officer_totp: p.officer_totp,
        admin_totp: p.admin_totp,
        approver_totp: p.approver_totp,
        service_token: p.service_token,
        supplies_token: p.supplies_token,
        analyst_token: p.analyst_token,
        agent,
        svc,
        log,
        clock,
        shutdown: Some(tx),
        thread: Some(thread),
    }
}

pub fn test_config() -> ServerConfig {
    ServerConfig { secure_cookies: false, ..Default::default() }
}

pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: serde_json::Value,
    pub text: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

fn reply(r: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Reply {
    let mut r = r.unwrap();
    let status = r.status().as_u16();
    let headers =
        r.headers().iter().map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_owned())).collect();
    let text = r.body_mut().read_to_string().unwrap_or_default();
    let body = serde_json::from_str(&text).unwrap_or(serde_json::Value::Null);
    Reply { status, headers, body, text }
}

impl Server {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn get(&self, path: &str, headers: &[(&str, &str)]) -> Reply {
        let mut req = self.agent.get(self.url(path));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        reply(req.call())
    }

    pub fn post(&self, path: &str, headers: &[(&str, &str)], body: serde_json::Value) -> Reply {
        self.send("POST", path, headers, Some(body))
    }

    pub fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<serde_json::Value>,
    ) -> Reply {
        let mut req = ureq::http::Request::builder().method(method).uri(self.url(path));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        match body {
            Some(b) => reply(
                self.agent.run(req.header("content-type", "application/json").body(b.to_string()).unwrap()),
            ),
            None => reply(self.agent.run(req.body(()).unwrap())),
        }
    }

    /// Moves the server's clock on by `secs`.
    pub fn advance_secs(&self, secs: i64) {
        self.clock.offset_ms.fetch_add(secs * 1000, std::sync::atomic::Ordering::SeqCst);
    }

    /// Moves the server's clock to the start of the next TOTP step.
    pub fn next_totp_step(&self) {
        self.advance_secs(30 - self.clock.now_secs().rem_euclid(30));
    }

    /// Stops this server (as a shutdown would) and starts a new one on the same register and
    /// log files, with `policy`: nothing of the old process's memory is carried over.
    pub fn restart(mut self, config: ServerConfig, policy: Policy, detection: DetectionConfig) -> Server {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
        let p = Prepared {
            dir: std::mem::replace(&mut self.dir, tempfile::tempdir().unwrap()),
            e1: std::mem::take(&mut self.e1),
            e2: std::mem::take(&mut self.e2),
            officer_totp: std::mem::replace(&mut self.officer_totp, TotpSecret::from_bytes(vec![0; 20])),
            admin_totp: std::mem::replace(&mut self.admin_totp, TotpSecret::from_bytes(vec![0; 20])),
            approver_totp: std::mem::replace(&mut self.approver_totp, TotpSecret::from_bytes(vec![0; 20])),
            service_token: std::mem::take(&mut self.service_token),
            supplies_token: std::mem::take(&mut self.supplies_token),
            analyst_token: std::mem::take(&mut self.analyst_token),
        };
        drop(self);
        serve_prepared(p, config, accounts_config(), None, detection, policy, Arc::new(SystemClock))
    }

    pub fn login(&self) -> Reply {
        self.login_as("officer-e1", &self.officer_totp)
    }

    /// Password step, then TOTP for the server clock's current step.
    pub fn login_as(&self, name: &str, totp: &TotpSecret) -> Reply {
        let step =
            self.post("/api/v1/auth/login", &[], serde_json::json!({"name": name, "password": PASSWORD}));
        assert_eq!(step.status, 200, "{}", step.text);
        let code = totp.code_at(self.clock.now_secs().try_into().unwrap());
        self.post(
            "/api/v1/auth/totp",
            &[],
            serde_json::json!({"challenge": step.body["challenge"], "code": code}),
        )
    }

    pub fn session(&self) -> (String, String) {
        let r = self.login();
        assert_eq!(r.status, 200, "{}", r.text);
        (
            r.body["session_token"].as_str().unwrap().to_owned(),
            r.body["csrf_token"].as_str().unwrap().to_owned(),
        )
    }
}

/// The register columns of `e` that have a value, as an add request's `fields`.
pub fn fields_of(e: &EntryText) -> serde_json::Value {
    let mut m = serde_json::Map::new();
    for c in CSV_COLUMNS {
        let v = (c.get)(e);
        if !v.is_empty() {
            m.insert(c.name.to_owned(), serde_json::json!(v));
        }
    }
    serde_json::Value::Object(m)
}

/// Polls `f` until it holds (at most 10 s).
pub fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let start = std::time::Instant::now();
    while !f() {
        assert!(start.elapsed() < std::time::Duration::from_secs(10), "timed out waiting for {what}");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

pub fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// Every event in the server's audit log, in order: whatever is committed is sequenced
/// first (the test sequences alongside the server, as a console would).
#[allow(dead_code)] // not every test binary uses it
pub fn audit_events(s: &Server) -> Vec<rollguard_audit::Event> {
    s.log.drain(s.svc.register()).unwrap();
    s.log.events(0, s.log.size()).unwrap()
}

/// Marks existing electors of `authority` as canaries (in the sealed registry).
pub fn mark_canaries(svc: &Service, authority: &str, ids: &[u64]) {
    let (s, authority, ids) = (svc.clone(), authority.to_owned(), ids.to_vec());
    svc.register()
        .write(move |tx| -> rollguard_service::Result<()> {
            let vault = s.keys().vault(&*tx)?;
            vault.record_canaries(tx, &authority, &ids, 0)?;
            Ok(())
        })
        .unwrap();
}

/// A policy whose only budget is `distinct` electors per hour for registration staff, and
/// no district coverage (a test authority's 40 electors are one district).
pub fn budget_policy(distinct: u64) -> Policy {
    let mut p = Policy { coverage: rollguard_detect::DistrictCoverage::OFF, ..Policy::default() };
    p.budgets.clear();
    p.budgets
        .insert(Role::RegistrationStaff, vec![rollguard_detect::Budget { distinct, window_ms: 3_600_000 }]);
    p
}

/// A server with these detection settings and this policy.
pub fn start_policy(
    detection: DetectionConfig,
    policy: Policy,
    prepare: impl FnOnce(&Service, &Actor, &[(u64, EntryText)]),
) -> Server {
    start_full(test_config(), accounts_config(), None, detection, policy, Arc::new(SystemClock), prepare)
}

/// A session of the E1 administrator (the clock moved to a fresh TOTP step first, since a
/// code is good once).
#[allow(dead_code)] // not every test binary uses it
pub fn admin_session(s: &Server) -> String {
    s.next_totp_step();
    let r = s.login_as("admin-e1", &s.admin_totp);
    assert_eq!(r.status, 200, "{}", r.text);
    bearer(r.body["session_token"].as_str().unwrap())
}

/// A session of the E1 supplies approver (on a fresh TOTP step).
#[allow(dead_code)] // not every test binary uses it
pub fn approver_session(s: &Server) -> String {
    s.next_totp_step();
    let r = s.login_as("approver-e1", &s.approver_totp);
    assert_eq!(r.status, 200, "{}", r.text);
    bearer(r.body["session_token"].as_str().unwrap())
}

/// Asks for a supply with the supplies service's token; the request's id.
#[allow(dead_code)] // not every test binary uses it
pub fn ask_supply(s: &Server, kind: &str, recipient: &str) -> String {
    let token = bearer(&s.supplies_token);
    let asked = s.post(
        "/api/v1/authorities/E1/supplies",
        &[("authorization", &token)],
        serde_json::json!({"kind": kind, "recipient": recipient}),
    );
    assert_eq!(asked.status, 201, "{}", asked.text);
    asked.body["id"].as_str().unwrap().to_owned()
}

/// Approves supply request `id` in the session `approver`.
#[allow(dead_code)] // not every test binary uses it
pub fn approve_supply(s: &Server, approver: &str, id: &str) -> Reply {
    s.post(
        &format!("/api/v1/supplies/{id}/decision"),
        &[("authorization", approver)],
        serde_json::json!({"decision": "approve"}),
    )
}

/// Collects supply `id` with the supplies service's token.
#[allow(dead_code)] // not every test binary uses it
pub fn collect_supply(s: &Server, id: &str) -> Reply {
    s.get(&format!("/api/v1/supplies/{id}/register"), &[("authorization", &bearer(&s.supplies_token))])
}

/// A supply as a supplies service gets one: its token asks, the E1 supplies approver approves
/// in her own session (`approver`), the token collects. The collection's reply.
#[allow(dead_code)] // not every test binary uses it
pub fn supply(s: &Server, approver: &str, kind: &str, recipient: &str) -> Reply {
    let id = ask_supply(s, kind, recipient);
    let decided = approve_supply(s, approver, &id);
    assert_eq!(decided.status, 200, "{}", decided.text);
    collect_supply(s, &id)
}
