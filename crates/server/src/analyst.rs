//! Audit access for security analysts: events, inclusion and consistency proofs, and the
//! latest signed checkpoint. Scoped to the `audit:read` permission, and every use is itself an
//! audit event.

use crate::auth::Caller;
use crate::extract::{blocking, ApiPath, ApiQuery};
use crate::problem::{ApiError, Problem};
use crate::state::AppState;
use axum::extract::State;
use axum::Json;
use base64::Engine as _;
use rollguard_service::AuditView;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::{IntoParams, ToSchema};

fn b64(h: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(h)
}

/// Requires `audit:read`, and records the access (refused or not) before anything is shown;
/// gives the events the caller may see (its authorities').
async fn require(state: &Arc<AppState>, caller: Caller, what: &'static str) -> Result<AuditView, ApiError> {
    let svc = state.service.clone();
    blocking(move || svc.audit_access(&caller.0, what)).await
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// First event index (default 0).
    #[param(minimum = 0)]
    pub from: Option<i64>,
    /// At most this many (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u64>,
}

#[derive(Serialize, ToSchema)]
pub struct EventsPage {
    /// The events, in canonical form (see docs/audit-events.md).
    #[schema(value_type = Vec<Object>)]
    pub events: Vec<serde_json::Value>,
    /// The number of sequenced events in the log.
    pub size: u64,
}

/// Audit events, in order: those of the caller's authorities, and those tied to no authority that name only its principals (an analyst of every authority sees all).
#[utoipa::path(get, path = "/api/v1/audit/events", tag = "audit", params(EventsQuery), security(("bearer" = []), ("session" = [])),
    responses((status = 200, body = EventsPage), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 429, body = Problem), (status = 503, body = Problem)))]
pub async fn events(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiQuery(q): ApiQuery<EventsQuery>,
) -> Result<Json<EventsPage>, ApiError> {
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::bad_request("limit: between 1 and 1000"));
    }
    let Ok(from) = u64::try_from(q.from.unwrap_or(0)) else {
        return Err(ApiError::bad_request("from: at least 0"));
    };
    let view = require(&state, caller, "events").await?;
    let log = state.log.clone();
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
        .filter(|b| view.shows(b))
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
#[utoipa::path(get, path = "/api/v1/audit/checkpoint", tag = "audit", security(("bearer" = []), ("session" = [])),
    responses((status = 200, body = SignedCheckpoint), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 429, body = Problem), (status = 503, body = Problem)))]
pub async fn checkpoint(
    State(state): State<Arc<AppState>>,
    caller: Caller,
) -> Result<Json<SignedCheckpoint>, ApiError> {
    require(&state, caller, "checkpoint").await?;
    let (log, register) = (state.log.clone(), state.service.register().clone());
    let (note, vkey) = tokio::task::spawn_blocking(move || (log.checkpoint(&register), log.vkey())).await?;
    let note = note.map_err(|e| {
        tracing::error!(error = %e, "signing a checkpoint");
        ApiError::internal()
    })?;
    Ok(Json(SignedCheckpoint { checkpoint: note, vkey }))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ProofQuery {
    /// The tree size to prove against (a signed checkpoint's size).
    #[param(minimum = 1)]
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
#[utoipa::path(get, path = "/api/v1/audit/proof/{index}", tag = "audit", security(("bearer" = []), ("session" = [])),
    params(("index" = u64, Path, description = "Event index"), ProofQuery),
    responses((status = 200, body = InclusionProof), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem), (status = 429, body = Problem), (status = 503, body = Problem)))]
pub async fn proof(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiPath(index): ApiPath<u64>,
    ApiQuery(q): ApiQuery<ProofQuery>,
) -> Result<Json<InclusionProof>, ApiError> {
    if q.size == 0 {
        return Err(ApiError::bad_request("size: at least 1"));
    }
    let view = require(&state, caller, "proof").await?;
    let log = state.log.clone();
    let size = q.size;
    let out = tokio::task::spawn_blocking(move || -> Result<InclusionProof, ApiError> {
        if size > log.size() {
            return Err(ApiError::not_found_because(format!(
                "no tree of {size} events: the log has {}",
                log.size()
            )));
        }
        if index >= size {
            return Err(ApiError::not_found_because(format!("no event {index} in a tree of {size} events")));
        }
        let proof = log.inclusion_proof(index, size).map_err(|e| {
            tracing::error!(error = %e, "an inclusion proof within the log");
            ApiError::internal()
        })?;
        let body = log
            .read(index, index + 1)
            .map_err(|_| ApiError::internal())?
            .pop()
            .ok_or_else(ApiError::not_found)?;
        if !view.shows(&body) {
            // Another authority's event: as if there were none.
            return Err(ApiError::not_found_because(format!("no event {index} you may read")));
        }
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
#[into_params(parameter_in = Query)]
pub struct ConsistencyQuery {
    /// The older tree size (a checkpoint the caller holds).
    #[param(minimum = 1)]
    pub from: u64,
    /// The newer tree size, at least `from`.
    #[param(minimum = 1)]
    pub to: u64,
}

#[derive(Serialize, ToSchema)]
pub struct ConsistencyProof {
    pub from: u64,
    pub to: u64,
    pub proof: Vec<String>,
}

/// A consistency proof between two tree sizes.
#[utoipa::path(get, path = "/api/v1/audit/consistency", tag = "audit", params(ConsistencyQuery), security(("bearer" = []), ("session" = [])),
    responses((status = 200, body = ConsistencyProof), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem, description = "No tree of that size yet"),
        (status = 422, body = Problem), (status = 429, body = Problem), (status = 503, body = Problem)))]
pub async fn consistency(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiQuery(q): ApiQuery<ConsistencyQuery>,
) -> Result<Json<ConsistencyProof>, ApiError> {
    if q.from == 0 || q.to == 0 {
        return Err(ApiError::bad_request("from and to: at least 1"));
    }
    require(&state, caller, "consistency").await?;
    let size = state.log.size();
    if q.to > size {
        return Err(ApiError::not_found_because(format!("no tree of {} events: the log has {size}", q.to)));
    }
    if q.from > q.to {
        return Err(ApiError::invalid_field(
            "a consistency proof runs from an older tree to a newer one",
            "from",
            "at most `to`",
        ));
    }
    let proof = state.log.consistency_proof(q.from, q.to).map_err(|e| {
        tracing::error!(error = %e, "a consistency proof within the log");
        ApiError::internal()
    })?;
    Ok(Json(ConsistencyProof { from: q.from, to: q.to, proof: proof.iter().map(|h| b64(h)).collect() }))
}
