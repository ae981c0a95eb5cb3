//! Detection endpoints: the rules loaded (and refused), reloading them, automatic responses
//! and their reversal. Reversal needs an administrator in an MFA session, never an API token.

use crate::auth::Caller;
use crate::extract::{blocking, ApiPath};
use crate::problem::{ApiError, Problem};
use crate::state::AppState;
use axum::extract::State;
use axum::Json;
use rollguard_access::Permission;
use rollguard_audit::Kind;
use serde::Serialize;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use utoipa::ToSchema;

#[derive(Serialize, ToSchema)]
pub struct RefusedRule {
    pub file: String,
    pub line: usize,
    pub reason: String,
}

#[derive(Serialize, ToSchema)]
pub struct RulesStatus {
    /// Rules in force.
    pub loaded: u64,
    /// Rules refused at the last load, with where and why.
    pub refused: Vec<RefusedRule>,
    pub alerts_raised: u64,
    pub exports_frozen: bool,
    /// How far detection has read the audit log…
    pub position: u64,
    /// …and how far the log goes.
    pub log_size: u64,
}

fn require(caller: &Caller, permission: Permission) -> Result<(), ApiError> {
    if caller.0.allows_anywhere(permission) {
        Ok(())
    } else {
        Err(ApiError::forbidden(format!("needs {permission}")))
    }
}

async fn status(state: &Arc<AppState>) -> Result<RulesStatus, ApiError> {
    let svc = state.service.clone();
    let exports_frozen = blocking(move || svc.exports_frozen()).await?;
    let d = &state.detection;
    Ok(RulesStatus {
        loaded: d.rules_loaded.load(Ordering::Relaxed),
        refused: d
            .rule_errors
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|e| RefusedRule { file: e.file.clone(), line: e.line, reason: e.reason.clone() })
            .collect(),
        alerts_raised: d.alerts_raised.load(Ordering::Relaxed),
        exports_frozen,
        position: d.position.load(Ordering::Relaxed),
        log_size: state.log.size(),
    })
}

/// The detection rules in force and those refused.
#[utoipa::path(get, path = "/api/v1/detection/rules", tag = "detection", security(("bearer" = []), ("session" = [])),
    responses((status = 200, body = RulesStatus), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 429, body = Problem), (status = 503, body = Problem)))]
pub async fn rules(
    State(state): State<Arc<AppState>>,
    caller: Caller,
) -> Result<Json<RulesStatus>, ApiError> {
    require(&caller, Permission::AlertRead)?;
    Ok(Json(status(&state).await?))
}

/// Reloads the rules directory now (it is also watched for changes).
#[utoipa::path(post, path = "/api/v1/detection/rules/reload", tag = "detection", security(("bearer" = []), ("session" = [])),
    responses((status = 200, body = RulesStatus), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 429, body = Problem), (status = 503, body = Problem)))]
pub async fn reload(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    // Read (and ignored) so a client that sends `{}` keeps its connection reusable.
    _body: axum::body::Bytes,
) -> Result<Json<RulesStatus>, ApiError> {
    // The rules are every authority's: reloading them needs alert:read everywhere.
    if !caller.0.allows_everywhere(Permission::AlertRead) {
        return Err(ApiError::forbidden("reloading the rules needs alert:read for every authority (*)"));
    }
    let (loaded, refused) = state.detection.reload();
    let detail = vec![
        ("change", "rules-reload".to_owned()),
        ("loaded", loaded.to_string()),
        ("refused", refused.len().to_string()),
    ];
    let svc = state.service.clone();
    blocking(move || svc.note(&caller.0, Permission::AlertRead, Kind::ConfigChange, detail)).await?;
    Ok(Json(status(&state).await?))
}

#[derive(Serialize, ToSchema)]
pub struct ResponseOut {
    pub id: u64,
    /// `suspend_principal`, `revoke_credentials` or `freeze_exports`.
    pub action: String,
    pub subject: Option<String>,
    pub rule: String,
    /// The alert's index in the audit log.
    pub alert_seq: Option<u64>,
    pub created_at: i64,
    pub reversed_at: Option<i64>,
    pub reversed_by: Option<String>,
}

impl From<rollguard_store::ResponseRecord> for ResponseOut {
    fn from(r: rollguard_store::ResponseRecord) -> Self {
        Self {
            id: r.id,
            action: r.action,
            subject: r.subject,
            rule: r.rule,
            alert_seq: r.alert_seq,
            created_at: r.created_at,
            reversed_at: r.reversed_at,
            reversed_by: r.reversed_by,
        }
    }
}

/// Automatic responses, newest first.
#[utoipa::path(get, path = "/api/v1/detection/responses", tag = "detection", security(("bearer" = []), ("session" = [])),
    responses((status = 200, body = Vec<ResponseOut>), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 429, body = Problem), (status = 503, body = Problem)))]
pub async fn responses(
    State(state): State<Arc<AppState>>,
    caller: Caller,
) -> Result<Json<Vec<ResponseOut>>, ApiError> {
    let svc = state.service.clone();
    let list = blocking(move || svc.responses(&caller.0, 1000)).await?;
    Ok(Json(list.into_iter().map(ResponseOut::from).collect()))
}

/// Reverses an automatic response: restores a suspended principal, lets a principal whose
/// credentials were revoked sign in again (revoked sessions and tokens stay revoked), or
/// lifts an export freeze. Needs user:admin in a session that passed MFA, over every
/// authority the response touches; answers 202 with a proposal for a second administrator.
#[utoipa::path(post, path = "/api/v1/detection/responses/{id}/reverse", tag = "detection", security(("bearer" = []), ("session" = [])),
    params(("id" = u64, Path, description = "Response id")),
    responses((status = 200, body = ResponseOut),
        (status = 202, body = crate::proposals::ProposalOut, description = "Proposed: the reversal takes effect when a second administrator approves it"),
        (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem),
        (status = 429, body = Problem), (status = 503, body = Problem)))]
pub async fn reverse(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiPath(id): ApiPath<u64>,
    // Read (and ignored) so a client that sends `{}` keeps its connection reusable.
    _body: axum::body::Bytes,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    let svc = state.service.clone();
    match blocking(move || svc.reverse_response(&caller.0, id)).await? {
        rollguard_service::Change::Done(r) => Ok(Json(ResponseOut::from(r)).into_response()),
        rollguard_service::Change::Proposed(p) => Ok(crate::proposals::accepted(p)),
    }
}
