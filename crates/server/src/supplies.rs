//! Supply tickets over HTTP: ask for a supply, decide one as the second person, see where
//! they stand. The download itself is in `exports`. Parse, call the service, present.

use crate::auth::Caller;
use crate::extract::{blocking, ApiJson, ApiPath, ApiQuery};
use crate::problem::{ApiError, Problem};
use crate::state::AppState;
use axum::extract::State;
use axum::http::{header, HeaderName, StatusCode};
use axum::Json;
use rollguard_service::{SupplyOrder, TicketView};
use rollguard_vault::RegisterKind;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::{IntoParams, ToSchema};

/// A supply request and where it stands.
#[derive(Serialize, ToSchema)]
pub struct TicketOut {
    pub id: String,
    pub authority: String,
    /// `full` or `open`.
    #[schema(inline, value_type = crate::codes::RegisterKindCode)]
    pub kind: String,
    pub recipient: String,
    pub purpose: String,
    pub requested_by: String,
    /// Unix seconds.
    pub requested_at: i64,
    /// `requested` (waiting for a second person), `approved` (collect it once, before
    /// `collect_by`), `refused`, `collected` or `expired`.
    #[schema(inline, value_type = TicketStateCode)]
    pub state: String,
    pub decided_by: Option<String>,
    pub decided_at: Option<i64>,
    pub note: Option<String>,
    /// Unix seconds; set once approved.
    pub collect_by: Option<i64>,
    pub collected_at: Option<i64>,
    /// The last supply of the same register to the same recipient within its period: a
    /// second one raises a high alert when collected.
    pub previous_supply: Option<PreviousSupply>,
}

#[derive(Serialize, ToSchema)]
pub struct PreviousSupply {
    pub id: String,
    /// Unix seconds.
    pub made_at: i64,
}

/// Where a supply request stands.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum TicketStateCode {
    Requested,
    Approved,
    Refused,
    Collected,
    Expired,
}

impl From<TicketView> for TicketOut {
    fn from(v: TicketView) -> Self {
        let t = v.ticket;
        let d = t.decision.as_ref();
        Self {
            id: t.id.clone(),
            authority: t.authority,
            kind: t.kind,
            recipient: t.recipient,
            purpose: t.purpose,
            requested_by: t.requested_by,
            requested_at: t.requested_at,
            state: v.state.as_str().to_owned(),
            decided_by: d.map(|d| d.by.clone()),
            decided_at: d.map(|d| d.at),
            note: d.map(|d| d.note.clone()),
            collect_by: d.filter(|d| d.approved).map(|d| d.collect_by),
            collected_at: t.collected.map(|c| c.at),
            previous_supply: v.previous_supply.map(|s| PreviousSupply { id: s.id, made_at: s.made_at }),
        }
    }
}

#[derive(Deserialize, ToSchema)]
pub struct NewSupply {
    /// `full` (every registered elector; anonymous entries as number and N) or `open`.
    #[schema(inline, value_type = crate::codes::RegisterKindCode)]
    pub kind: String,
    /// Who the supply is for (a party, a credit agency…); defaults to the caller. Each
    /// supply carries watermark entries unique to it, recorded against this recipient.
    #[schema(max_length = 200)]
    pub recipient: Option<String>,
    /// Why the recipient is entitled to it, for the approver.
    #[schema(max_length = 200)]
    pub purpose: Option<String>,
}

/// Asks for a supply of an authority's register. A full register then waits for a second
/// person's approval; an open register asked for in a signed-in session is approved at once.
#[utoipa::path(post, path = "/api/v1/authorities/{authority}/supplies", tag = "exports",
    security(("bearer" = []), ("session" = [])),
    params(("authority" = String, Path, description = "Authority code")), request_body = NewSupply,
    responses((status = 201, body = TicketOut, headers(("Location" = String, description = "The request's URL"))),
        (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem),
        (status = 409, body = Problem, description = "Too many of the requester's requests are waiting for a decision"),
        (status = 422, body = Problem), (status = 429, body = Problem),
        (status = 503, body = Problem)))]
pub async fn request_supply(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiPath(authority): ApiPath<String>,
    ApiJson(req): ApiJson<NewSupply>,
) -> Result<(StatusCode, [(HeaderName, String); 1], Json<TicketOut>), ApiError> {
    let kind = match req.kind.as_str() {
        "full" => RegisterKind::Full,
        "open" => RegisterKind::Open,
        _ => return Err(ApiError::bad_request("kind: `full` or `open`")),
    };
    let svc = state.service.clone();
    let order = SupplyOrder { authority, kind, recipient: req.recipient, purpose: req.purpose };
    let view = blocking(move || svc.request_supply(&caller.0, order)).await?;
    let location = format!("/api/v1/supplies/{}", view.ticket.id);
    Ok((StatusCode::CREATED, [(header::LOCATION, location)], Json(view.into())))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TicketsQuery {
    /// Only this authority's requests.
    pub authority: Option<String>,
}

/// Supply requests of the authorities where the caller asks for or approves supplies,
/// newest first.
#[utoipa::path(get, path = "/api/v1/supplies", tag = "exports", security(("bearer" = []), ("session" = [])),
    params(TicketsQuery),
    responses((status = 200, body = Vec<TicketOut>), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 429, body = Problem), (status = 503, body = Problem)))]
pub async fn list_supplies(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiQuery(q): ApiQuery<TicketsQuery>,
) -> Result<Json<Vec<TicketOut>>, ApiError> {
    let svc = state.service.clone();
    let views = blocking(move || svc.supply_tickets(&caller.0, q.authority.as_deref())).await?;
    Ok(Json(views.into_iter().map(TicketOut::from).collect()))
}

/// One supply request.
#[utoipa::path(get, path = "/api/v1/supplies/{ticket}", tag = "exports", security(("bearer" = []), ("session" = [])),
    params(("ticket" = String, Path, description = "The request's id")),
    responses((status = 200, body = TicketOut), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 429, body = Problem), (status = 503, body = Problem)))]
pub async fn show_supply(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiPath(ticket): ApiPath<String>,
) -> Result<Json<TicketOut>, ApiError> {
    let svc = state.service.clone();
    Ok(Json(blocking(move || svc.supply_ticket(&caller.0, &ticket)).await?.into()))
}

#[derive(Deserialize, ToSchema)]
pub struct SupplyDecisionIn {
    /// `approve` or `refuse`.
    #[schema(inline, value_type = DecisionCode)]
    pub decision: String,
    /// Why (kept with the decision).
    #[schema(max_length = 200)]
    pub note: Option<String>,
}

/// An approver's answer to a supply request.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum DecisionCode {
    Approve,
    Refuse,
}

/// Approves or refuses a supply request, as the second person: a supplies approver of its
/// authority, signed in with a second factor (never an API token), who did not ask for it and
/// does not administer the authority (an administrator could mint the requester's token).
#[utoipa::path(post, path = "/api/v1/supplies/{ticket}/decision", tag = "exports",
    security(("bearer" = []), ("session" = [])),
    params(("ticket" = String, Path, description = "The request's id")), request_body = SupplyDecisionIn,
    responses((status = 200, body = TicketOut), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem, description = "The request is no longer waiting for a decision"),
        (status = 422, body = Problem), (status = 429, body = Problem), (status = 503, body = Problem)))]
pub async fn decide_supply(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiPath(ticket): ApiPath<String>,
    ApiJson(req): ApiJson<SupplyDecisionIn>,
) -> Result<Json<TicketOut>, ApiError> {
    let approve = match req.decision.as_str() {
        "approve" => true,
        "refuse" => false,
        _ => return Err(ApiError::bad_request("decision: `approve` or `refuse`")),
    };
    let svc = state.service.clone();
    let note = req.note.unwrap_or_default();
    Ok(Json(blocking(move || svc.decide_supply(&caller.0, &ticket, approve, &note)).await?.into()))
}
