//! Shared server state: a pool of register connections, the account service, limits,
//! metrics and configuration.

use crate::limits::{KeyedLimiter, Lanes, Rate, TrustedProxy};
use crate::metrics::Metrics;
use rollguard_access::Accounts;
use rollguard_store::SqliteStore;
use rollguard_vault::Vault;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Semaphore;

pub type RegisterVault = Vault<SqliteStore>;

/// One vault (and so one SQLite connection) per slot. SQLite in WAL mode lets the readers
/// run side by side; work runs on the blocking thread pool.
pub struct Pool {
    free: Mutex<Vec<RegisterVault>>,
    available: Semaphore,
}

#[derive(Debug, thiserror::Error)]
#[error("a register task failed")]
pub struct TaskFailed;

impl Pool {
    pub fn new(vaults: Vec<RegisterVault>) -> Self {
        let n = vaults.len();
        Self { free: Mutex::new(vaults), available: Semaphore::new(n) }
    }

    /// Runs `f` with a vault of its own, off the async threads.
    pub async fn run<T, F>(self: &Arc<Self>, f: F) -> Result<T, TaskFailed>
    where
        T: Send + 'static,
        F: FnOnce(&mut RegisterVault) -> T + Send + 'static,
    {
        let permit = self.available.acquire().await.map_err(|_| TaskFailed)?;
        let mut vault = self.free.lock().expect("pool lock").pop().ok_or(TaskFailed)?;
        let pool = self.clone();
        let outcome = tokio::task::spawn_blocking(move || {
            let out = f(&mut vault);
            pool.free.lock().expect("pool lock").push(vault);
            out
        })
        .await;
        match outcome {
            Ok(out) => {
                drop(permit);
                Ok(out)
            }
            Err(_) => {
                // The task panicked and its vault is gone: the pool shrinks by one.
                permit.forget();
                tracing::error!("a register task panicked; its connection was dropped");
                Err(TaskFailed)
            }
        }
    }
}

/// Everything `rollguard serve` can be told.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub max_body_bytes: usize,
    pub request_timeout: Duration,
    /// Concurrent requests from recently authenticated callers.
    pub staff_concurrency: usize,
    /// Concurrent requests from everyone else (logins, anonymous, unknown credentials).
    pub general_concurrency: usize,
    /// Login steps per client address.
    pub login_rate: Rate,
    /// Password steps per account name, from anywhere: bounds guessing of one account's
    /// password and (since each code needs a fresh password step) its TOTP codes, however
    /// many addresses an attacker has.
    pub account_login_rate: Rate,
    pub principal_rate: Rate,
    pub limiter_keys: usize,
    pub trusted_proxies: Vec<TrustedProxy>,
    /// Mark cookies Secure (always, except in tests over plain loopback HTTP).
    pub secure_cookies: bool,
    /// How often to sign an audit checkpoint when the log has grown.
    pub checkpoint_every: Duration,
    /// Witnesses: each new checkpoint is written into this directory…
    pub witness_dir: Option<std::path::PathBuf>,
    /// …and POSTed (as text/plain) to this http:// URL.
    pub witness_url: Option<String>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            max_body_bytes: 256 * 1024,
            request_timeout: Duration::from_secs(30),
            staff_concurrency: 256,
            general_concurrency: 64,
            login_rate: Rate { burst: 10, per_second: 10.0 / 60.0 },
            account_login_rate: Rate { burst: 20, per_second: 20.0 / 900.0 },
            principal_rate: Rate { burst: 200, per_second: 100.0 },
            limiter_keys: 100_000,
            trusted_proxies: Vec::new(),
            secure_cookies: true,
            checkpoint_every: Duration::from_secs(10),
            witness_dir: None,
            witness_url: None,
        }
    }
}

pub struct AppState {
    pub pool: Arc<Pool>,
    pub accounts: Arc<Accounts>,
    pub config: ServerConfig,
    pub login_limiter: KeyedLimiter<IpAddr>,
    pub account_limiter: KeyedLimiter<String>,
    pub principal_limiter: KeyedLimiter<u64>,
    pub lanes: Lanes,
    pub metrics: Metrics,
    /// Every access to personal data is an event here before the data leaves.
    pub audit: rollguard_audit::AuditLog,
    pub detection: crate::detection::Detection,
    /// The mail scanner (built-in tracker list; stateless, shared by requests).
    pub mail_scanner: Arc<rollguard_mail::Scanner>,
}

impl AppState {
    /// A server with the shipped rules, default read budgets and no alert sinks.
    pub fn new(
        pool: Pool,
        accounts: Accounts,
        audit: rollguard_audit::AuditLog,
        config: ServerConfig,
    ) -> Arc<Self> {
        Self::with_detection(pool, accounts, audit, config, crate::detection::DetectionConfig::default())
    }

    pub fn with_detection(
        pool: Pool,
        accounts: Accounts,
        audit: rollguard_audit::AuditLog,
        config: ServerConfig,
        detection: crate::detection::DetectionConfig,
    ) -> Arc<Self> {
        Arc::new(Self {
            detection: crate::detection::Detection::new(detection),
            mail_scanner: Arc::new(rollguard_mail::Scanner::new(rollguard_mail::ScanConfig::default())),
            pool: Arc::new(pool),
            accounts: Arc::new(accounts),
            login_limiter: KeyedLimiter::new(config.login_rate, config.limiter_keys),
            account_limiter: KeyedLimiter::new(config.account_login_rate, config.limiter_keys),
            principal_limiter: KeyedLimiter::new(config.principal_rate, config.limiter_keys),
            lanes: Lanes::new(config.staff_concurrency, config.general_concurrency, config.limiter_keys),
            metrics: Metrics::default(),
            audit,
            config,
        })
    }
}

pub fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
