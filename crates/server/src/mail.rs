//! Mail scanning over HTTP, for a mail gateway or an analyst's tools: the raw message in, the
//! report out. Each scan is an audit event (`mail.scan`) carrying the verdict, the finding
//! kinds, the tracking hosts and the sender's domain (never an address), so detection rules
//! can correlate mail findings with everything else.

use crate::auth::Caller;
use crate::problem::{ApiError, Problem};
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::State;
use axum::Json;
use rollguard_access::Permission;
use rollguard_audit::{Kind, Outcome};
use std::sync::Arc;

/// Largest message accepted (the route's own body limit).
pub const MAX_MESSAGE_BYTES: usize = 16 * 1024 * 1024;

/// Scans one message (the raw RFC 5322 bytes as the body, `message/rfc822`) and returns its
/// verdict and findings. Needs `alert:read`.
#[utoipa::path(post, path = "/api/v1/mail/scan", tag = "mail",
    request_body(content = String, content_type = "message/rfc822", description = "The raw message"),
    responses((status = 200, description = "The report: verdict, findings, tracking hosts, URL templates", body = Object),
        (status = 403, body = Problem), (status = 413, body = Problem)))]
pub async fn scan(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    body: Bytes,
) -> Result<Json<serde_json::Value>, ApiError> {
    if !caller.0.access.allows_anywhere(Permission::AlertRead) {
        return Err(ApiError::forbidden("needs alert:read"));
    }
    if body.is_empty() {
        return Err(ApiError::bad_request("the body must be the raw message"));
    }
    let scanner = state.mail_scanner.clone();
    let report = tokio::task::spawn_blocking(move || scanner.scan("http", &body, false))
        .await
        .map_err(|_| ApiError::internal())?;
    let kinds: std::collections::BTreeSet<String> = report
        .findings
        .iter()
        .filter_map(|f| serde_json::to_value(f.kind).ok().and_then(|v| v.as_str().map(str::to_owned)))
        .collect();
    let mut ev = crate::audit::event(Kind::MailScan, Outcome::Success, Some(&caller.0))
        .detail("verdict", report.verdict.as_str())
        .detail("recipients", report.to.len().to_string());
    if !kinds.is_empty() {
        ev.detail.insert("findings".into(), kinds.into_iter().collect::<Vec<_>>().join(","));
    }
    if !report.tracking_hosts.is_empty() {
        ev.detail.insert("tracking_hosts".into(), report.tracking_hosts.join(","));
    }
    if let Some(d) = &report.sender_domain {
        ev.detail.insert("sender_domain".into(), d.clone());
    }
    crate::audit::note(&state.audit, ev);
    serde_json::to_value(&report).map(Json).map_err(|_| ApiError::internal())
}
