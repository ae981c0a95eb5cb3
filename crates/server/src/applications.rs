//! The application workflow over HTTP: received → identity checked → added (an elector) or
//! rejected. Parse, call the service, present.

use crate::auth::Caller;
use crate::codes;
use crate::electors::{date_field, entry_text};
use crate::extract::{blocking, ApiJson, ApiPath};
use crate::problem::{ApiError, Problem};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use rollguard_register::{format_date, ElectorNumber, IdentityRoute, RejectionReason};
use rollguard_service::Determination;
use rollguard_vault::{ApplicationView, CSV_COLUMNS};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;
use utoipa::ToSchema;

/// An application as staff see it. `fields` uses the register CSV column names.
#[derive(Serialize, ToSchema)]
pub struct ApplicationOut {
    pub id: u64,
    pub authority: String,
    /// `received`, `identity-checked`, `added` or `rejected`.
    pub status: String,
    pub received_on: String,
    pub determined_on: Option<String>,
    #[schema(value_type = crate::columns_doc::ElectorColumns)]
    pub fields: BTreeMap<String, String>,
}

impl From<ApplicationView> for ApplicationOut {
    fn from(a: ApplicationView) -> Self {
        Self {
            id: a.id,
            authority: a.authority,
            status: a.status.code().to_owned(),
            received_on: format_date(a.received_on),
            determined_on: a.determined_on.map(format_date),
            fields: CSV_COLUMNS
                .iter()
                .map(|c| (c.name.to_owned(), (c.get)(&a.applicant).to_owned()))
                .filter(|(_, v)| !v.is_empty())
                .collect(),
        }
    }
}

#[derive(Deserialize, ToSchema)]
pub struct NewApplication {
    #[schema(value_type = crate::columns_doc::ApplicationFields)]
    pub fields: BTreeMap<String, String>,
    /// YYYY-MM-DD (default: today in the UK).
    #[schema(format = Date)]
    pub received_on: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ApplicationCreated {
    pub id: u64,
}

/// Records an application to register.
#[utoipa::path(post, path = "/api/v1/authorities/{authority}/applications", tag = "applications",
    security(("bearer" = []), ("session" = [])),
    params(("authority" = String, Path, description = "Authority code")), request_body = NewApplication,
    responses((status = 201, body = ApplicationCreated, headers(("Location" = String, description = "The application's URL"))),
        (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem), (status = 413, body = Problem),
        (status = 415, body = Problem), (status = 422, body = Problem), (status = 429, body = Problem), (status = 503, body = Problem)))]
pub async fn receive(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiPath(authority): ApiPath<String>,
    ApiJson(req): ApiJson<NewApplication>,
) -> Result<(StatusCode, [(axum::http::HeaderName, String); 1], Json<ApplicationCreated>), ApiError> {
    let text = entry_text(req.fields)?;
    let received_on = date_field("received_on", req.received_on.as_deref())?;
    let svc = state.service.clone();
    let code = authority.to_ascii_uppercase();
    let id = blocking(move || svc.receive_application(&caller.0, &authority, text, received_on)).await?;
    let at = format!("/api/v1/authorities/{code}/applications/{id}");
    Ok((StatusCode::CREATED, [(axum::http::header::LOCATION, at)], Json(ApplicationCreated { id })))
}

/// One application.
#[utoipa::path(get, path = "/api/v1/authorities/{authority}/applications/{id}", tag = "applications",
    security(("bearer" = []), ("session" = [])),
    params(("authority" = String, Path, description = "Authority code"), ("id" = u64, Path, description = "Application id")),
    responses((status = 200, body = ApplicationOut), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem), (status = 429, body = Problem), (status = 503, body = Problem)))]
pub async fn show(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiPath((authority, id)): ApiPath<(String, u64)>,
) -> Result<Json<ApplicationOut>, ApiError> {
    let svc = state.service.clone();
    let a = blocking(move || svc.application(&caller.0, Some(&authority), id)).await?;
    Ok(Json(a.into()))
}

#[derive(Deserialize, ToSchema)]
pub struct IdentityCheck {
    #[schema(inline, value_type = codes::IdentityRouteCode)]
    pub route: String,
}

/// Records how the applicant's identity was verified.
#[utoipa::path(post, path = "/api/v1/authorities/{authority}/applications/{id}/identity", tag = "applications",
    security(("bearer" = []), ("session" = [])),
    params(("authority" = String, Path, description = "Authority code"), ("id" = u64, Path, description = "Application id")),
    request_body = IdentityCheck,
    responses((status = 204, description = "Recorded"), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem),
        (status = 413, body = Problem), (status = 415, body = Problem), (status = 422, body = Problem),
        (status = 429, body = Problem), (status = 503, body = Problem)))]
pub async fn identity(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiPath((authority, id)): ApiPath<(String, u64)>,
    ApiJson(req): ApiJson<IdentityCheck>,
) -> Result<StatusCode, ApiError> {
    let route = codes::parse::<IdentityRoute>("route", &req.route, IdentityRoute::ALL)?;
    let svc = state.service.clone();
    blocking(move || svc.check_identity(&caller.0, Some(&authority), id, route)).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
pub struct DeterminationRequest {
    #[schema(inline, value_type = codes::OutcomeCode)]
    pub outcome: String,
    /// For `add`, if the application has none yet.
    pub elector_number: Option<String>,
    /// For `reject`.
    #[schema(inline, value_type = Option<codes::RejectionReasonCode>)]
    pub reason: Option<String>,
    /// YYYY-MM-DD (default: today in the UK).
    #[schema(format = Date)]
    pub on: Option<String>,
    #[serde(default)]
    pub allow_possible_duplicate: bool,
}

#[derive(Serialize, ToSchema)]
pub struct Determined {
    /// `added` or `rejected`.
    pub status: String,
    pub elector_id: Option<u64>,
}

/// Determines an application: adds the applicant to the register, or rejects with a reason.
#[utoipa::path(post, path = "/api/v1/authorities/{authority}/applications/{id}/determination", tag = "applications",
    security(("bearer" = []), ("session" = [])),
    params(("authority" = String, Path, description = "Authority code"), ("id" = u64, Path, description = "Application id")),
    request_body = DeterminationRequest,
    responses((status = 200, body = Determined), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem),
        (status = 413, body = Problem), (status = 415, body = Problem), (status = 422, body = Problem),
        (status = 429, body = Problem), (status = 503, body = Problem)))]
pub async fn determine(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiPath((authority, id)): ApiPath<(String, u64)>,
    ApiJson(req): ApiJson<DeterminationRequest>,
) -> Result<Json<Determined>, ApiError> {
    let on = date_field("on", req.on.as_deref())?;
    let determination = match req.outcome.as_str() {
        "add" => Determination::Add {
            number: req
                .elector_number
                .as_deref()
                .map(|n| {
                    ElectorNumber::parse("elector_number", n).map_err(|e| {
                        ApiError::invalid_field(
                            "the elector number is not valid",
                            "elector_number",
                            e.rule.to_string(),
                        )
                    })
                })
                .transpose()?,
            on,
            allow_possible_duplicate: req.allow_possible_duplicate,
        },
        "reject" => {
            let reason = req.reason.as_deref().ok_or_else(|| {
                ApiError::invalid_field("a rejection needs its reason", "reason", "is required to reject")
            })?;
            Determination::Reject {
                reason: codes::parse::<RejectionReason>("reason", reason, RejectionReason::ALL)?,
                on,
            }
        }
        _ => return Err(ApiError::bad_request("outcome: `add` or `reject`")),
    };
    let svc = state.service.clone();
    let elector_id = blocking(move || svc.determine(&caller.0, Some(&authority), id, determination)).await?;
    let status = if elector_id.is_some() { "added" } else { "rejected" };
    Ok(Json(Determined { status: status.into(), elector_id }))
}
