//! Mail scanning over HTTP, for a mail gateway or an analyst's tools: the raw message in, the
//! report out. Each scan is an audit event (`mail.scan`) carrying the verdict, the finding
//! kinds, the tracking hosts and the sender's domain (never an address), so detection rules
//! can correlate mail findings with everything else.

use crate::auth::Caller;
use crate::extract::blocking;
use crate::problem::{ApiError, Problem};
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::State;
use axum::Json;
use rollguard_access::Permission;
use rollguard_audit::Kind;
use std::sync::Arc;

/// Largest message accepted (the route's own body limit).
pub const MAX_MESSAGE_BYTES: usize = 16 * 1024 * 1024;

/// Scans one message (the raw RFC 5322 bytes as the body, `message/rfc822`) and returns its
/// verdict and findings. Needs `alert:read`.
/// A whole message as received (RFC 5322), headers and body.
pub struct RawMessage;

impl utoipa::PartialSchema for RawMessage {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .min_length(Some(1))
            .description(Some("A whole message as received (RFC 5322), headers and body"))
            .into()
    }
}
impl utoipa::ToSchema for RawMessage {}

/// The media types a raw message may be sent as.
const MESSAGE_TYPES: [&str; 2] = ["message/rfc822", "text/plain"];

#[utoipa::path(post, path = "/api/v1/mail/scan", tag = "mail",
    request_body(description = "The raw message",
        content((RawMessage = "message/rfc822"), (RawMessage = "text/plain"))),
    security(("bearer" = []), ("session" = [])),
    responses((status = 200, description = "The report: verdict, findings, tracking hosts, URL templates", body = Object),
        (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 413, body = Problem), (status = 429, body = Problem), (status = 503, body = Problem)))]
pub async fn scan(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> Result<Json<serde_json::Value>, ApiError> {
    if !caller.0.allows_anywhere(Permission::AlertRead) {
        return Err(ApiError::forbidden("needs alert:read"));
    }
    let media = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase());
    if !media.as_deref().is_some_and(|m| MESSAGE_TYPES.contains(&m)) {
        return Err(ApiError::new(
            axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "Unsupported media type",
        )
        .detail("send the raw message as message/rfc822 (or text/plain)"));
    }
    if body.is_empty() {
        return Err(ApiError::bad_request("the body must be the raw message"));
    }
    let scanner = state.mail_scanner.clone();
    let report = tokio::task::spawn_blocking(move || scanner.scan("http", &body, false)).await?;
    let kinds: std::collections::BTreeSet<String> = report
        .findings
        .iter()
        .filter_map(|f| serde_json::to_value(f.kind).ok().and_then(|v| v.as_str().map(str::to_owned)))
        .collect();
    let mut detail =
        vec![("verdict", report.verdict.as_str().to_owned()), ("recipients", report.to.len().to_string())];
    if !kinds.is_empty() {
        detail.push(("findings", kinds.into_iter().collect::<Vec<_>>().join(",")));
    }
    if !report.tracking_hosts.is_empty() {
        detail.push(("tracking_hosts", report.tracking_hosts.join(",")));
    }
    if let Some(d) = &report.sender_domain {
        detail.push(("sender_domain", d.clone()));
    }
    let svc = state.service.clone();
    blocking(move || svc.note(&caller.0, Permission::AlertRead, Kind::MailScan, detail)).await?;
    serde_json::to_value(&report).map(Json).map_err(|_| ApiError::internal())
}
