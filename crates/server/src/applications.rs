//! The application workflow: received → identity checked → added (an elector) or rejected.

use crate::audit;
use crate::auth::Caller;
use crate::codes;
use crate::electors::{apply_fields, date_or_today};
use crate::problem::{ApiError, Problem};
use crate::state::{AppState, RegisterVault};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use rollguard_access::Permission;
use rollguard_audit::{Kind, Outcome};
use rollguard_register::{format_date, ElectorNumber, EntryText, IdentityRoute, RejectionReason};
use rollguard_vault::{ApplicationView, CSV_COLUMNS};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;
use utoipa::ToSchema;

fn today() -> rollguard_register::Date {
    time::OffsetDateTime::now_utc().date()
}

/// An application as staff see it. `fields` uses the register CSV column names.
#[derive(Serialize, ToSchema)]
pub struct ApplicationOut {
    pub id: u64,
    pub authority: String,
    pub status: String,
    pub received_on: String,
    pub determined_on: Option<String>,
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

/// Loads an application of this authority; another authority's is "not found".
fn in_authority(v: &RegisterVault, id: u64, authority: &str) -> Result<ApplicationView, ApiError> {
    let a = v.application(id)?;
    if a.authority.eq_ignore_ascii_case(authority) {
        Ok(a)
    } else {
        Err(ApiError::not_found())
    }
}

#[derive(Deserialize, ToSchema)]
pub struct NewApplication {
    /// Register CSV column names and values; `elector_number` may wait until the applicant
    /// is added.
    pub fields: BTreeMap<String, String>,
    pub received_on: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ApplicationCreated {
    pub id: u64,
}

/// Records an application to register.
#[utoipa::path(post, path = "/api/v1/authorities/{authority}/applications", tag = "applications",
    params(("authority" = String, Path, description = "Authority code")), request_body = NewApplication,
    responses((status = 201, body = ApplicationCreated), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn receive(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(authority): Path<String>,
    Json(req): Json<NewApplication>,
) -> Result<(StatusCode, Json<ApplicationCreated>), ApiError> {
    crate::electors::require(&state, &caller, Permission::ApplicationWrite, &authority)?;
    let mut text = EntryText::default();
    apply_fields(&mut text, req.fields)?;
    let received_on = date_or_today("received_on", req.received_on.as_deref())?;
    let code = authority.to_ascii_uppercase();
    let id = state.pool.run(move |v| v.receive_application(&code, &text, received_on, today())).await??;
    Ok((StatusCode::CREATED, Json(ApplicationCreated { id })))
}

/// One application.
#[utoipa::path(get, path = "/api/v1/authorities/{authority}/applications/{id}", tag = "applications",
    params(("authority" = String, Path, description = "Authority code"), ("id" = u64, Path, description = "Application id")),
    responses((status = 200, body = ApplicationOut), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn show(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path((authority, id)): Path<(String, u64)>,
) -> Result<Json<ApplicationOut>, ApiError> {
    crate::electors::require(&state, &caller, Permission::ApplicationRead, &authority)?;
    let (log, who) = (state.audit.clone(), caller.0.clone());
    let a = state
        .pool
        .run(move |v| -> Result<ApplicationView, ApiError> {
            let a = in_authority(v, id, &authority)?;
            let ev = audit::event(Kind::ApplicationRead, Outcome::Success, Some(&who))
                .authority(a.authority.clone())
                .detail("application", id.to_string());
            audit::record(&log, ev)?;
            Ok(a)
        })
        .await??;
    Ok(Json(a.into()))
}

#[derive(Deserialize, ToSchema)]
pub struct IdentityCheck {
    /// national-match, local-data, documentary-evidence or attestation.
    pub route: String,
}

/// Records how the applicant's identity was verified.
#[utoipa::path(post, path = "/api/v1/authorities/{authority}/applications/{id}/identity", tag = "applications",
    params(("authority" = String, Path, description = "Authority code"), ("id" = u64, Path, description = "Application id")),
    request_body = IdentityCheck,
    responses((status = 204, description = "Recorded"), (status = 400, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn identity(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path((authority, id)): Path<(String, u64)>,
    Json(req): Json<IdentityCheck>,
) -> Result<StatusCode, ApiError> {
    crate::electors::require(&state, &caller, Permission::ApplicationWrite, &authority)?;
    let route = codes::parse::<IdentityRoute>("route", &req.route, IdentityRoute::ALL)?;
    state
        .pool
        .run(move |v| -> Result<(), ApiError> {
            in_authority(v, id, &authority)?;
            Ok(v.check_identity(id, route)?)
        })
        .await??;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
pub struct Determination {
    /// `add` or `reject`.
    pub outcome: String,
    /// For `add`, if the application has none yet.
    pub elector_number: Option<String>,
    /// For `reject`: identity-not-verified, not-eligible, not-resident, duplicate or incomplete.
    pub reason: Option<String>,
    pub on: Option<String>,
    #[serde(default)]
    pub allow_possible_duplicate: bool,
}

#[derive(Serialize, ToSchema)]
pub struct Determined {
    pub status: String,
    pub elector_id: Option<u64>,
}

/// Determines an application: adds the applicant to the register, or rejects with a reason.
#[utoipa::path(post, path = "/api/v1/authorities/{authority}/applications/{id}/determination", tag = "applications",
    params(("authority" = String, Path, description = "Authority code"), ("id" = u64, Path, description = "Application id")),
    request_body = Determination,
    responses((status = 200, body = Determined), (status = 400, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn determine(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path((authority, id)): Path<(String, u64)>,
    Json(req): Json<Determination>,
) -> Result<Json<Determined>, ApiError> {
    crate::electors::require(&state, &caller, Permission::ApplicationWrite, &authority)?;
    let on = date_or_today("on", req.on.as_deref())?;
    match req.outcome.as_str() {
        "add" => {
            let number = match req.elector_number.as_deref() {
                Some(n) => Some(
                    ElectorNumber::parse("elector_number", n)
                        .map_err(|e| ApiError::bad_request(format!("elector_number: {}", e.rule)))?,
                ),
                None => None,
            };
            let allow = req.allow_possible_duplicate;
            let (log, who) = (state.audit.clone(), caller.0.clone());
            let elector_id = state
                .pool
                .run(move |v| -> Result<u64, ApiError> {
                    let a = in_authority(v, id, &authority)?;
                    let elector = v.add_from_application(id, number.as_ref(), on, today(), allow)?;
                    let ev = audit::event(Kind::ApplicationWrite, Outcome::Success, Some(&who))
                        .authority(a.authority)
                        .electors([elector])
                        .detail("application", id.to_string())
                        .detail("change", "added");
                    audit::record(&log, ev)?;
                    Ok(elector)
                })
                .await??;
            Ok(Json(Determined { status: "added".into(), elector_id: Some(elector_id) }))
        }
        "reject" => {
            let reason =
                req.reason.as_deref().ok_or_else(|| ApiError::bad_request("reason: required to reject"))?;
            let reason = codes::parse::<RejectionReason>("reason", reason, RejectionReason::ALL)?;
            state
                .pool
                .run(move |v| -> Result<(), ApiError> {
                    in_authority(v, id, &authority)?;
                    Ok(v.reject_application(id, reason, on)?)
                })
                .await??;
            Ok(Json(Determined { status: "rejected".into(), elector_id: None }))
        }
        _ => Err(ApiError::bad_request("outcome: `add` or `reject`")),
    }
}
