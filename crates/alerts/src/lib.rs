//! Alert delivery. Each sink runs on its own thread behind a bounded queue, so a slow or
//! dead receiver never holds up detection or the other sinks; an alert that cannot be
//! queued is counted as dropped (it is in the audit log regardless).
//!
//! Sinks: JSON lines file, syslog (RFC 5424 over UDP, or TCP with RFC 6587 octet counting),
//! webhook (JSON, HMAC-SHA256 signed, retried with backoff), e-mail over SMTP.
#![forbid(unsafe_code)]

mod email;
mod jsonl;
mod spec;
mod syslog;
mod webhook;

pub use email::EmailSink;
pub use jsonl::JsonLinesSink;
pub use spec::{parse_sink, SinkSpec};
pub use syslog::{SyslogSink, SyslogTransport};
pub use webhook::{sign, WebhookSink};

use rollguard_detect::{Alert, Level};
use serde::Serialize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::sync::Arc;

/// Alerts waiting per sink before new ones are dropped.
const QUEUE: usize = 10_000;

/// An alert as it leaves Rollguard.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertMessage {
    #[serde(flatten)]
    pub alert: Alert,
    /// When detection raised it, ms since the epoch.
    pub raised_at: i64,
    /// Its own index in the audit log (alerts are audit events).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audit_seq: Option<u64>,
    /// The host that raised it.
    pub host: String,
}

impl AlertMessage {
    pub fn json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".into())
    }

    /// A one-line summary for subjects and syslog.
    pub fn summary(&self) -> String {
        let who = self.alert.principal.as_deref().map(|p| format!(" by {p}")).unwrap_or_default();
        format!("[{}] {}{who}", self.alert.level, self.alert.title)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Delivery(String),
}

/// Somewhere alerts go.
pub trait Sink: Send {
    fn name(&self) -> String;
    fn deliver(&mut self, msg: &AlertMessage) -> Result<(), SinkError>;
}

#[derive(Debug, Default)]
pub struct SinkCounters {
    pub delivered: AtomicU64,
    pub failed: AtomicU64,
    pub dropped: AtomicU64,
}

struct Lane {
    tx: SyncSender<Arc<AlertMessage>>,
    min_level: Level,
    counters: Arc<SinkCounters>,
}

/// Fans alerts out to every sink.
#[derive(Default)]
pub struct Dispatcher {
    lanes: Vec<Lane>,
}

impl Dispatcher {
    /// Starts a delivery thread for `sink`, which gets alerts at `min_level` or above.
    pub fn add(&mut self, mut sink: Box<dyn Sink>, min_level: Level) -> Arc<SinkCounters> {
        let (tx, rx) = sync_channel::<Arc<AlertMessage>>(QUEUE);
        let counters = Arc::new(SinkCounters::default());
        let c = counters.clone();
        let name = sink.name();
        let spawned = std::thread::Builder::new().name(format!("rg-alert-{}", name.split(':').next().unwrap_or("sink"))).spawn(
            move || {
                for msg in rx {
                    match sink.deliver(&msg) {
                        Ok(()) => {
                            c.delivered.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(e) => {
                            c.failed.fetch_add(1, Ordering::Relaxed);
                            tracing::error!(sink = %sink.name(), error = %e, rule = %msg.alert.rule, "alert delivery failed");
                        }
                    }
                }
            },
        );
        if let Err(e) = spawned {
            tracing::error!(sink = %name, error = %e, "could not start an alert sink");
        }
        self.lanes.push(Lane { tx, min_level, counters: counters.clone() });
        counters
    }

    pub fn is_empty(&self) -> bool {
        self.lanes.is_empty()
    }

    /// Queues an alert for every sink that wants its level; never blocks.
    pub fn send(&self, msg: AlertMessage) {
        let msg = Arc::new(msg);
        for lane in &self.lanes {
            if msg.alert.level < lane.min_level {
                continue;
            }
            match lane.tx.try_send(msg.clone()) {
                Ok(()) => {}
                Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                    lane.counters.dropped.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }
}

/// This machine's name, for messages.
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".into())
}
