//! Shared server state: the service (register, keys, policies), the audit log, the
//! per-process flood limits, metrics and configuration. Nothing here is state another
//! process or a restart needs: budgets, throttles, suspensions and freezes live in the
//! register; the limits here only protect this process from a flood.

use crate::limits::{KeyedLimiter, Lanes, Rate, TrustedProxy};
use crate::metrics::Metrics;
use rollguard_audit::AuditLog;
use rollguard_service::Service;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

/// Everything `rollguard serve` can be told.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub max_body_bytes: usize,
    pub request_timeout: Duration,
    /// A connection that has not sent a whole request head within this is closed.
    pub header_timeout: Duration,
    /// Connections held open at once; past it, new ones wait to be accepted.
    pub max_connections: usize,
    /// Concurrent requests from recently authenticated callers.
    pub staff_concurrency: usize,
    /// Concurrent requests from everyone else (logins, anonymous, unknown credentials).
    pub general_concurrency: usize,
    /// Login steps per client address (this process's flood guard; attempts per account
    /// are limited in the register).
    pub login_rate: Rate,
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
            header_timeout: Duration::from_secs(10),
            max_connections: 4096,
            staff_concurrency: 256,
            general_concurrency: 64,
            login_rate: Rate { burst: 10, per_second: 10.0 / 60.0 },
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
    pub service: Service,
    /// The audit log as this server holds it (the whole tree, for proofs).
    pub log: AuditLog,
    pub config: ServerConfig,
    pub login_limiter: KeyedLimiter<IpAddr>,
    pub principal_limiter: KeyedLimiter<u64>,
    pub lanes: Lanes,
    pub metrics: Metrics,
    pub detection: crate::detection_config::Detection,
    /// The mail scanner (built-in tracker list; stateless, shared by requests).
    pub mail_scanner: Arc<rollguard_mail::Scanner>,
}

impl AppState {
    /// A server with the shipped rules and no alert sinks.
    pub fn new(service: Service, log: AuditLog, config: ServerConfig) -> Arc<Self> {
        Self::with_detection(service, log, config, crate::detection_config::DetectionConfig::default())
    }

    pub fn with_detection(
        service: Service,
        log: AuditLog,
        config: ServerConfig,
        detection: crate::detection_config::DetectionConfig,
    ) -> Arc<Self> {
        Arc::new(Self {
            detection: crate::detection_config::Detection::new(detection),
            mail_scanner: Arc::new(rollguard_mail::Scanner::new(rollguard_mail::ScanConfig::default())),
            login_limiter: KeyedLimiter::new(config.login_rate, config.limiter_keys),
            principal_limiter: KeyedLimiter::new(config.principal_rate, config.limiter_keys),
            lanes: Lanes::new(config.staff_concurrency, config.general_concurrency, config.limiter_keys),
            metrics: Metrics::default(),
            service,
            log,
            config,
        })
    }
}
