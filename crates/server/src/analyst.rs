//! Audit access for security analysts: events, inclusion and consistency proofs, and the
//! latest signed checkpoint. Scoped to the `audit:read` permission, and every use is itself an
//! audit event.

use crate::audit;
use crate::auth::Caller;
use crate::problem::{ApiError, Problem};
use crate::state::AppState;
use axum::extract::{Path, Query, State};
use axum::Json;
use base64::Engine as _;
use rollguard_access::Permission;
use rollguard_audit::{Kind, Outcome};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::{IntoParams, ToSchema};

fn b64(h: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(h)
}

/// Requires `audit:read`, and records the access (refused or not).
async fn require(state: &Arc<AppState>, caller: &Caller, what: &str) -> Result<(), ApiError> {
    let allowed = caller.0.access.allows_anywhere(Permission::AuditRead);
    let outcome = if allowed { Outcome::Success } else { Outcome::Refused };
    let ev = audit::event(Kind::AuditRead, outcome, Some(&caller.0)).detail("what", what);
    if allowed {
        let seq = audit::submit(&state.audit, ev)?;
        audit::durable(&state.audit, seq).await?;
        Ok(())
    } else {
        audit::note(&state.audit, ev);
        Err(ApiError::forbidden("needs audit:read"))
    }
}

#[derive(Deserialize, IntoParams)]
pub struct EventsQuery {
    /// First event index (default 0).
    pub from: Option<u64>,
    /// At most this many (default 100, at most 1,000).
    pub limit: Option<u64>,
}

#[derive(Serialize, ToSchema)]
pub struct EventsPage {
    /// The events, in canonical form (see docs/audit-events.md).
    #[schema(value_type = Vec<Object>)]
    pub events: Vec<serde_json::Value>,
    /// The number of durable events in the log.
    pub size: u64,
}

/// Audit events, in order.
#[utoipa::path(get, path = "/api/v1/audit/events", tag = "audit", params(EventsQuery),
    responses((status = 200, body = EventsPage), (status = 403, body = Problem)))]
pub async fn events(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Query(q): Query<EventsQuery>,
) -> Result<Json<EventsPage>, ApiError> {
    require(&state, &caller, "events").await?;
    let from = q.from.unwrap_or(0);
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let log = state.audit.clone();
    let (events, size) = tokio::task::spawn_blocking(move || {
        let size = log.size();
        let bodies = log.read(from, (from + limit).min(size));
        (bodies, size)
    })
    .await?;
    let events = events
        .map_err(|e| {
            tracing::error!(error = %e, "reading audit events");
            ApiError::internal()
        })?
        .into_iter()
        .filter_map(|b| serde_json::from_slice(&b).ok())
        .collect();
    Ok(Json(EventsPage { events, size }))
}

#[derive(Serialize, ToSchema)]
pub struct SignedCheckpoint {
    /// The signed note (C2SP tlog-checkpoint).
    pub checkpoint: String,
    /// The log's verifier key.
    pub vkey: String,
}

/// Signs (if the log has grown) and returns the latest checkpoint.
#[utoipa::path(get, path = "/api/v1/audit/checkpoint", tag = "audit",
    responses((status = 200, body = SignedCheckpoint), (status = 403, body = Problem)))]
pub async fn checkpoint(
    State(state): State<Arc<AppState>>,
    caller: Caller,
) -> Result<Json<SignedCheckpoint>, ApiError> {
    require(&state, &caller, "checkpoint").await?;
    let log = state.audit.clone();
    let (note, vkey) = tokio::task::spawn_blocking(move || (log.checkpoint(), log.vkey())).await?;
    let note = note.map_err(|e| {
        tracing::error!(error = %e, "signing a checkpoint");
        ApiError::internal()
    })?;
    Ok(Json(SignedCheckpoint { checkpoint: note, vkey }))
}

#[derive(Deserialize, IntoParams)]
pub struct ProofQuery {
    /// The tree size to prove against (a signed checkpoint's size).
    pub size: u64,
}

#[derive(Serialize, ToSchema)]
pub struct InclusionProof {
    pub index: u64,
    pub size: u64,
    /// The event's canonical bytes, as text.
    pub event: String,
    /// Base64 hashes, leaf to root.
    pub proof: Vec<String>,
}

/// An inclusion proof for one event in the tree of `size` events.
#[utoipa::path(get, path = "/api/v1/audit/proof/{index}", tag = "audit",
    params(("index" = u64, Path, description = "Event index"), ProofQuery),
    responses((status = 200, body = InclusionProof), (status = 400, body = Problem), (status = 403, body = Problem)))]
pub async fn proof(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(index): Path<u64>,
    Query(q): Query<ProofQuery>,
) -> Result<Json<InclusionProof>, ApiError> {
    require(&state, &caller, "proof").await?;
    let log = state.audit.clone();
    let size = q.size;
    let out = tokio::task::spawn_blocking(move || -> Result<InclusionProof, ApiError> {
        if size > log.size() {
            return Err(ApiError::bad_request(format!("size: the log has {} events", log.size())));
        }
        let proof = log.inclusion_proof(index, size).map_err(|e| ApiError::bad_request(e.to_string()))?;
        let body = log
            .read(index, index + 1)
            .map_err(|_| ApiError::internal())?
            .pop()
            .ok_or_else(ApiError::not_found)?;
        Ok(InclusionProof {
            index,
            size,
            event: String::from_utf8_lossy(&body).into_owned(),
            proof: proof.iter().map(|h| b64(h)).collect(),
        })
    })
    .await??;
    Ok(Json(out))
}

#[derive(Deserialize, IntoParams)]
pub struct ConsistencyQuery {
    pub from: u64,
    pub to: u64,
}

#[derive(Serialize, ToSchema)]
pub struct ConsistencyProof {
    pub from: u64,
    pub to: u64,
    pub proof: Vec<String>,
}

/// A consistency proof between two tree sizes.
#[utoipa::path(get, path = "/api/v1/audit/consistency", tag = "audit", params(ConsistencyQuery),
    responses((status = 200, body = ConsistencyProof), (status = 400, body = Problem), (status = 403, body = Problem)))]
pub async fn consistency(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Query(q): Query<ConsistencyQuery>,
) -> Result<Json<ConsistencyProof>, ApiError> {
    require(&state, &caller, "consistency").await?;
    if q.to > state.audit.size() {
        return Err(ApiError::bad_request(format!("to: the log has {} events", state.audit.size())));
    }
    let proof =
        state.audit.consistency_proof(q.from, q.to).map_err(|e| ApiError::bad_request(e.to_string()))?;
    Ok(Json(ConsistencyProof { from: q.from, to: q.to, proof: proof.iter().map(|h| b64(h)).collect() }))
}
