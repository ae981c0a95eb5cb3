//! Audit events from the server. Reads and changes of personal data are appended and waited
//! for before the response leaves (an event is durable before the data is); refusals and
//! failed logins are submitted without waiting. If the log cannot write, the request fails
//! and no personal data is returned.

use crate::problem::ApiError;
use rollguard_access::Principal;
use rollguard_audit::{AuditLog, Event, Kind, Outcome};

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// An event by `who` (if known).
pub fn event(kind: Kind, outcome: Outcome, who: Option<&Principal>) -> Event {
    let mut e = Event::new(now_ms(), kind, outcome);
    if let Some(p) = who {
        e.principal = Some(p.name.clone());
        e.client = p.client.clone();
        if let rollguard_access::AuthMethod::ApiToken { id } = p.method {
            e.detail.insert("token".into(), id.to_string());
        }
    }
    e
}

/// Appends and waits until durable. Call from a blocking context (a pool task).
pub fn record(log: &AuditLog, e: Event) -> Result<(), ApiError> {
    log.append(e).map(|_| ()).map_err(|err| {
        tracing::error!(error = %err, "audit append failed; refusing the request");
        ApiError::internal()
    })
}

/// Queues an event that must be durable before the response leaves; wait for it with
/// [`durable`] after giving back the register connection, so that many requests share one
/// fsync instead of each holding a connection through its own.
pub fn submit(log: &AuditLog, e: Event) -> Result<u64, ApiError> {
    log.submit(e).map_err(|err| {
        tracing::error!(error = %err, "audit submit failed; refusing the request");
        ApiError::internal()
    })
}

/// Waits until event `seq` is on disk.
pub async fn durable(log: &AuditLog, seq: u64) -> Result<(), ApiError> {
    log.wait_async(seq).await.map_err(|err| {
        tracing::error!(error = %err, "audit write failed; refusing the request");
        ApiError::internal()
    })
}

/// Queues an event without waiting (refusals, failed logins).
pub fn note(log: &AuditLog, e: Event) {
    if let Err(err) = log.submit(e) {
        tracing::error!(error = %err, "audit submit failed");
    }
}
