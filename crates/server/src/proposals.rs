//! Four eyes over HTTP: the proposals waiting for a second administrator, and their decision.
//! A grant of a role with personal data or administration, a second-factor reset and the
//! reversal of an automatic response answer 202 with a proposal; another administrator, in a
//! session that passed a second factor, approves or refuses it here.

use crate::auth::Caller;
use crate::extract::{blocking, ApiJson, ApiPath};
use crate::problem::{ApiError, Problem};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use rollguard_service::ProposalView;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::ToSchema;

#[derive(Serialize, ToSchema)]
pub struct ProposalOut {
    pub id: u64,
    /// `grant`, `reset-mfa` or `reverse-response`.
    pub action: String,
    /// The principal, or the response's id.
    pub target: String,
    /// For a grant, `role@AUTHORITY`; for a reversal, the response's action.
    pub detail: String,
    pub proposed_by: String,
    pub proposed_at: i64,
    /// `pending`, `approved`, `refused` or `expired` (after seven days undecided).
    pub state: String,
    pub decided_by: Option<String>,
}

impl From<ProposalView> for ProposalOut {
    fn from(p: ProposalView) -> Self {
        Self {
            id: p.id,
            action: p.action,
            target: p.target,
            detail: p.detail,
            proposed_by: p.proposed_by,
            proposed_at: p.proposed_at,
            state: p.state.into(),
            decided_by: p.decided_by,
        }
    }
}

/// 202 Accepted with the proposal: the change waits for a second administrator.
pub fn accepted(p: ProposalView) -> Response {
    (StatusCode::ACCEPTED, Json(ProposalOut::from(p))).into_response()
}

/// Proposals the caller could decide (those within its authorities), newest first.
#[utoipa::path(get, path = "/api/v1/admin/proposals", tag = "admin", security(("bearer" = []), ("session" = [])),
    responses((status = 200, body = Vec<ProposalOut>), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 429, body = Problem), (status = 503, body = Problem)))]
pub async fn list_proposals(
    State(state): State<Arc<AppState>>,
    caller: Caller,
) -> Result<Json<Vec<ProposalOut>>, ApiError> {
    let svc = state.service.clone();
    let list = blocking(move || svc.proposals(&caller.0, 1000)).await?;
    Ok(Json(list.into_iter().map(ProposalOut::from).collect()))
}

#[derive(Deserialize, ToSchema)]
pub struct ProposalDecision {
    /// `approve` or `refuse`.
    #[schema(inline, value_type = crate::supplies::DecisionCode)]
    pub decision: String,
}

#[derive(Serialize, ToSchema)]
pub struct ProposalDecided {
    pub proposal: ProposalOut,
    /// For an approved `reset-mfa`: the person's new one-time enrolment secret, shown once,
    /// for the approver to hand over.
    pub enrolment_secret: Option<String>,
}

/// Approves (carrying it out at once) or refuses a proposal. Needs another administrator
/// than its proposer, in a session that passed a second factor, over every authority the
/// change touches.
#[utoipa::path(post, path = "/api/v1/admin/proposals/{id}/decision", tag = "admin",
    security(("bearer" = []), ("session" = [])),
    params(("id" = u64, Path, description = "Proposal id")), request_body = ProposalDecision,
    responses((status = 200, body = ProposalDecided), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem),
        (status = 413, body = Problem), (status = 415, body = Problem), (status = 422, body = Problem),
        (status = 429, body = Problem), (status = 503, body = Problem)))]
pub async fn decide_proposal(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiPath(id): ApiPath<u64>,
    ApiJson(req): ApiJson<ProposalDecision>,
) -> Result<Json<ProposalDecided>, ApiError> {
    let approve = match req.decision.as_str() {
        "approve" => true,
        "refuse" => false,
        _ => {
            return Err(ApiError::invalid_field(
                "decision: `approve` or `refuse`",
                "decision",
                "not approve or refuse",
            ))
        }
    };
    let svc = state.service.clone();
    let d = blocking(move || svc.decide_proposal(&caller.0, id, approve)).await?;
    Ok(Json(ProposalDecided {
        proposal: ProposalOut::from(d.proposal),
        enrolment_secret: d.done.and_then(|d| d.enrolment_secret).map(|s| s.expose().to_owned()),
    }))
}
