//! A real server on loopback over a real SQLite register and file keyring, with two
//! authorities of generated electors, an enrolled officer for each, and a service account.
#![allow(dead_code)]

use rollguard_access::{
    Accounts, AccountsConfig, Grant, PasswordHasher, Permission, Role, Scope, TotpSecret,
};
use rollguard_register::{EntryText, FranchiseTable, Nation};
use rollguard_sealing::FileKeyring;
use rollguard_server::detection::DetectionConfig;
use rollguard_server::{AppState, Pool, ServerConfig};
use rollguard_store::{PrincipalKind, SqliteStore};
use rollguard_vault::{ImportOptions, Vault, CSV_COLUMNS};
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

fn capture_logs() {
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

pub struct Server {
    pub base: String,
    pub dir: TempDir,
    pub e1: Vec<(u64, EntryText)>,
    pub e2: Vec<(u64, EntryText)>,
    pub officer_totp: TotpSecret,
    pub admin_totp: TotpSecret,
    pub service_token: String,
    pub supplies_token: String,
    pub analyst_token: String,
    pub agent: ureq::Agent,
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

fn generated(n: usize, seed: u64) -> Vec<EntryText> {
    let today = time::OffsetDateTime::now_utc().date();
    rollguard_synth::Generator::new(seed, FranchiseTable::default_for(Nation::England), today)
        .take(n)
        .collect()
}

fn csv_of(entries: &[EntryText]) -> Vec<u8> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(CSV_COLUMNS.iter().map(|c| c.name)).unwrap();
    for e in entries {
        w.write_record(CSV_COLUMNS.iter().map(|c| (c.get)(e))).unwrap();
    }
    w.into_inner().unwrap()
}

pub fn open_vault(dir: &std::path::Path) -> Vault<SqliteStore> {
    let store = SqliteStore::open(&dir.join("r.db")).unwrap();
    Vault::open(store, Box::new(FileKeyring::open(&dir.join("k.keyring"), None).unwrap())).unwrap()
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
    start_detecting(config, accounts_config, tls, DetectionConfig::default(), |_, _| {})
}

/// A server with its own detection settings; `prepare` runs on the register (with the
/// imported E1 electors) before the server starts.
pub fn start_detecting(
    config: ServerConfig,
    accounts_config: AccountsConfig,
    tls: Option<Arc<tokio_rustls::rustls::ServerConfig>>,
    detection: DetectionConfig,
    prepare: impl FnOnce(&mut Vault<SqliteStore>, &[(u64, EntryText)]),
) -> Server {
    capture_logs();
    let dir = tempfile::tempdir().unwrap();
    FileKeyring::create(&dir.path().join("k.keyring"), None).unwrap();
    let mut vault = open_vault(dir.path());
    let today = time::OffsetDateTime::now_utc().date();
    let mut imported = Vec::new();
    for (code, seed) in [("E1", 11), ("E2", 22)] {
        vault.create_authority(code, code, Nation::England).unwrap();
        let entries = generated(40, seed);
        let opts = ImportOptions { source_name: "t.csv".into(), effective: today, today };
        let r = vault.import_csv(code, csv_of(&entries).as_slice(), &opts, &|_| {}).unwrap();
        imported.push(
            entries.into_iter().enumerate().map(|(i, e)| (r.first_id + i as u64, e)).collect::<Vec<_>>(),
        );
    }
    prepare(&mut vault, &imported[0]);
    let keyring = FileKeyring::open(&dir.path().join("k.keyring"), None).unwrap();
    let accounts = Accounts::open(vault.store_mut(), &keyring, accounts_config).unwrap();
    let now = rollguard_server::state::now_secs();
    let staff = |a: &str| vec![Grant { role: Role::RegistrationStaff, scope: Scope::parse(a) }];
    accounts
        .add_principal(vault.store_mut(), "officer-e1", PrincipalKind::Human, &staff("E1"), "test", now)
        .unwrap();
    let (officer_totp, _) = accounts.provision_human(vault.store_mut(), "officer-e1", PASSWORD, now).unwrap();
    accounts
        .add_principal(vault.store_mut(), "sync-e1", PrincipalKind::Service, &staff("*"), "test", now)
        .unwrap();
    let (_, token) = accounts
        .create_token(
            vault.store_mut(),
            "sync-e1",
            "test",
            &[Permission::ElectorRead],
            &[Scope::parse("E1")],
            3600,
            now,
        )
        .unwrap();
    let admin = vec![Grant { role: Role::Administrator, scope: Scope::parse("E1") }];
    accounts.add_principal(vault.store_mut(), "admin-e1", PrincipalKind::Human, &admin, "test", now).unwrap();
    let (admin_totp, _) = accounts.provision_human(vault.store_mut(), "admin-e1", PASSWORD, now).unwrap();
    let supplies = vec![Grant { role: Role::SuppliesOfficer, scope: Scope::parse("E1") }];
    accounts
        .add_principal(vault.store_mut(), "supplies-e1", PrincipalKind::Service, &supplies, "test", now)
        .unwrap();
    let (_, supplies_token) = accounts
        .create_token(
            vault.store_mut(),
            "supplies-e1",
            "test",
            &[Permission::RegisterExport],
            &[Scope::parse("E1")],
            3600,
            now,
        )
        .unwrap();
    let analyst = vec![Grant { role: Role::SecurityAnalyst, scope: Scope::All }];
    accounts
        .add_principal(vault.store_mut(), "analyst-1", PrincipalKind::Service, &analyst, "test", now)
        .unwrap();
    let (_, analyst_token) = accounts
        .create_token(
            vault.store_mut(),
            "analyst-1",
            "test",
            &[Permission::AuditRead, Permission::AlertRead],
            &[Scope::All],
            3600,
            now,
        )
        .unwrap();
    let mut vaults = vec![vault];
    for _ in 0..2 {
        vaults.push(open_vault(dir.path()));
    }
    let audit_store = rollguard_store::SqliteAuditStore::open(&dir.path().join("r.db.audit")).unwrap();
    let signer = rollguard_audit::NoteSigner::from_seed("rollguard.test/audit", &[3u8; 32]).unwrap();
    let audit = rollguard_audit::AuditLog::open(Box::new(audit_store), signer).unwrap();
    let state = AppState::with_detection(Pool::new(vaults), accounts, audit, config, detection);
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
    let mut it = imported.into_iter();
    Server {
        base: format!("http://{addr}"),
        dir,
        e1: it.next().unwrap(),
        e2: it.next().unwrap(),
        officer_totp,
        admin_totp,
        service_token: token.expose().to_owned(),
        supplies_token: supplies_token.expose().to_owned(),
        analyst_token: analyst_token.expose().to_owned(),
        agent,
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

    /// Password step, then TOTP for the current time step (waiting for the next step if
    /// the current one was used).
    pub fn login(&self) -> Reply {
        self.login_as("officer-e1", &self.officer_totp)
    }

    pub fn login_as(&self, name: &str, totp: &TotpSecret) -> Reply {
        let step =
            self.post("/api/v1/auth/login", &[], serde_json::json!({"name": name, "password": PASSWORD}));
        assert_eq!(step.status, 200, "{}", step.text);
        let now = rollguard_server::state::now_secs() as u64;
        let code = totp.code_at(now);
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

pub fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// Every event in the server's audit log, in order.
#[allow(dead_code)] // not every test binary uses it
pub fn audit_events(s: &Server) -> Vec<rollguard_audit::Event> {
    use rollguard_store::AuditStore;
    let store = rollguard_store::SqliteAuditStore::open(&s.dir.path().join("r.db.audit")).unwrap();
    let mut out = Vec::new();
    store
        .scan(0, u64::MAX, &mut |e| {
            out.push(rollguard_audit::Event::from_canonical(&e.body).unwrap());
            Ok(())
        })
        .unwrap();
    out
}
