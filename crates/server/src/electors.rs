//! Elector endpoints, scoped by authority: parse, call the service, present. A caller
//! without the permission on the authority in the path is refused before anything is looked
//! up, and an elector of another authority is "not found" exactly as a missing one is.

use crate::auth::Caller;
use crate::codes;
use crate::extract::{blocking, ApiJson, ApiPath, ApiQuery};
use crate::problem::{ApiError, Problem};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use rollguard_register::{format_date, parse_date, Date, EntryText};
use rollguard_service::{apply_columns, Amendment, NewElector};
use rollguard_vault::{Elector, Search, CSV_COLUMNS};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;
use utoipa::{IntoParams, ToSchema};

/// One version of an elector's entry. `fields` uses the register CSV column names.
#[derive(Serialize, ToSchema)]
pub struct ElectorView {
    pub id: u64,
    pub authority: String,
    pub version: u32,
    /// YYYY-MM-DD
    #[schema(format = Date)]
    pub valid_from: String,
    #[schema(value_type = crate::columns_doc::ElectorColumns)]
    pub fields: BTreeMap<String, String>,
}

impl From<Elector> for ElectorView {
    fn from(e: Elector) -> Self {
        let text = e.entry.to_text();
        let fields = CSV_COLUMNS
            .iter()
            .map(|c| (c.name.to_owned(), (c.get)(&text).to_owned()))
            .filter(|(_, v)| !v.is_empty())
            .collect();
        Self {
            id: e.id,
            authority: e.authority,
            version: e.version,
            valid_from: format_date(e.valid_from),
            fields,
        }
    }
}

/// An optional date field of a request.
pub(crate) fn date_field(field: &str, d: Option<&str>) -> Result<Option<Date>, ApiError> {
    d.map(|d| {
        parse_date(field, d)
            .map_err(|e| ApiError::invalid_field("a date is not valid", field, e.rule.to_string()))
    })
    .transpose()
}

/// An entry's text from `column → value` pairs.
pub(crate) fn entry_text(fields: BTreeMap<String, String>) -> Result<EntryText, ApiError> {
    let mut text = EntryText::default();
    let pairs: Vec<(String, String)> = fields.into_iter().collect();
    apply_columns(&mut text, &pairs).map_err(|e| ApiError::bad_request(format!("fields: {e}")))?;
    Ok(text)
}

/// An elector's current entry.
#[utoipa::path(get, path = "/api/v1/authorities/{authority}/electors/{id}", tag = "electors",
    security(("bearer" = []), ("session" = [])),
    params(("authority" = String, Path, description = "Authority code"), ("id" = u64, Path, description = "Elector id")),
    responses((status = 200, body = ElectorView), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 429, body = Problem, description = "Read budget exhausted, or too many requests"), (status = 503, body = Problem)))]
pub async fn read(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiPath((authority, id)): ApiPath<(String, u64)>,
) -> Result<Json<ElectorView>, ApiError> {
    let svc = state.service.clone();
    let e = blocking(move || svc.elector(&caller.0, Some(&authority), id)).await?;
    Ok(Json(e.into()))
}

#[derive(Deserialize, IntoParams, ToSchema)]
#[into_params(parameter_in = Query)]
pub struct SearchQuery {
    pub surname: Option<String>,
    /// A UK postcode (BS 7666).
    pub postcode: Option<String>,
    /// YYYY-MM-DD
    #[param(format = Date)]
    pub date_of_birth: Option<String>,
    pub elector_number: Option<String>,
}

/// Equality search on the blind indexes; every criterion given must match.
#[utoipa::path(get, path = "/api/v1/authorities/{authority}/electors", tag = "electors",
    security(("bearer" = []), ("session" = [])),
    params(("authority" = String, Path, description = "Authority code"), SearchQuery),
    responses((status = 200, body = Vec<ElectorView>), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 422, body = Problem),
        (status = 429, body = Problem, description = "Read budget exhausted, or too many requests"), (status = 503, body = Problem)))]
pub async fn search(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiPath(authority): ApiPath<String>,
    ApiQuery(q): ApiQuery<SearchQuery>,
) -> Result<Json<Vec<ElectorView>>, ApiError> {
    let search = Search {
        surname: q.surname,
        postcode: q.postcode,
        date_of_birth: q.date_of_birth,
        elector_number: q.elector_number,
    };
    let svc = state.service.clone();
    let found = blocking(move || svc.search_electors(&caller.0, &authority, &search)).await?;
    Ok(Json(found.into_iter().map(ElectorView::from).collect()))
}

#[derive(Deserialize, ToSchema)]
pub struct NewElectorRequest {
    #[schema(value_type = crate::columns_doc::ElectorFields)]
    pub fields: BTreeMap<String, String>,
    /// When the entry takes effect, YYYY-MM-DD (default: today in the UK).
    #[schema(format = Date)]
    pub effective: Option<String>,
    /// Add even though an entry with the same name, birth date and address exists.
    #[serde(default)]
    pub allow_possible_duplicate: bool,
}

#[derive(Serialize, ToSchema)]
pub struct Created {
    pub id: u64,
}

/// Adds an elector.
#[utoipa::path(post, path = "/api/v1/authorities/{authority}/electors", tag = "electors",
    security(("bearer" = []), ("session" = [])),
    params(("authority" = String, Path, description = "Authority code")), request_body = NewElectorRequest,
    responses((status = 201, body = Created, headers(("Location" = String, description = "The new entry's URL"))),
        (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 409, body = Problem), (status = 413, body = Problem),
        (status = 415, body = Problem), (status = 422, body = Problem), (status = 429, body = Problem), (status = 503, body = Problem)))]
pub async fn add(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiPath(authority): ApiPath<String>,
    ApiJson(req): ApiJson<NewElectorRequest>,
) -> Result<(StatusCode, [(axum::http::HeaderName, String); 1], Json<Created>), ApiError> {
    let new = NewElector {
        text: entry_text(req.fields)?,
        effective: date_field("effective", req.effective.as_deref())?,
        allow_possible_duplicate: req.allow_possible_duplicate,
    };
    let svc = state.service.clone();
    let code = authority.to_ascii_uppercase();
    let id = blocking(move || svc.add_elector(&caller.0, &authority, new)).await?;
    let at = format!("/api/v1/authorities/{code}/electors/{id}");
    Ok((StatusCode::CREATED, [(axum::http::header::LOCATION, at)], Json(Created { id })))
}

#[derive(Deserialize, ToSchema)]
pub struct AmendmentRequest {
    #[schema(value_type = crate::columns_doc::ElectorChanges)]
    pub set: BTreeMap<String, String>,
    /// When the change takes effect, YYYY-MM-DD (default: today in the UK).
    #[schema(format = Date)]
    pub effective: Option<String>,
    /// The version the change was made against; if the entry changed meanwhile, 409.
    #[schema(minimum = 1)]
    pub version: Option<u32>,
}

#[derive(Serialize, ToSchema)]
pub struct Versioned {
    pub id: u64,
    pub version: u32,
}

/// Amends an elector: a new version, the old one kept in the history.
#[utoipa::path(patch, path = "/api/v1/authorities/{authority}/electors/{id}", tag = "electors",
    security(("bearer" = []), ("session" = [])),
    params(("authority" = String, Path, description = "Authority code"), ("id" = u64, Path, description = "Elector id")),
    request_body = AmendmentRequest,
    responses((status = 200, body = Versioned), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem),
        (status = 413, body = Problem), (status = 415, body = Problem), (status = 422, body = Problem),
        (status = 429, body = Problem), (status = 503, body = Problem)))]
pub async fn amend(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiPath((authority, id)): ApiPath<(String, u64)>,
    ApiJson(req): ApiJson<AmendmentRequest>,
) -> Result<Json<Versioned>, ApiError> {
    let change = Amendment {
        set: req.set.into_iter().collect(),
        effective: date_field("effective", req.effective.as_deref())?,
        expected_version: req.version,
    };
    let svc = state.service.clone();
    let version = blocking(move || svc.amend_elector(&caller.0, Some(&authority), id, change)).await?;
    Ok(Json(Versioned { id, version }))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeleteQuery {
    /// moved-away, deceased, duplicate, not-eligible, review-outcome, elector-request or court-order.
    #[param(inline, value_type = crate::codes::DeletionReasonCode)]
    pub reason: String,
    /// YYYY-MM-DD (default: today in the UK).
    #[param(format = Date)]
    pub effective: Option<String>,
}

/// Deletes an elector with a reason. The history is kept.
#[utoipa::path(delete, path = "/api/v1/authorities/{authority}/electors/{id}", tag = "electors",
    security(("bearer" = []), ("session" = [])),
    params(("authority" = String, Path, description = "Authority code"), ("id" = u64, Path, description = "Elector id"), DeleteQuery),
    responses((status = 200, body = Versioned), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem),
        (status = 429, body = Problem), (status = 503, body = Problem)))]
pub async fn delete(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiPath((authority, id)): ApiPath<(String, u64)>,
    ApiQuery(q): ApiQuery<DeleteQuery>,
) -> Result<Json<Versioned>, ApiError> {
    let reason = codes::parse::<rollguard_register::DeletionReason>(
        "reason",
        &q.reason,
        rollguard_register::DeletionReason::ALL,
    )?;
    let effective = date_field("effective", q.effective.as_deref())?;
    let svc = state.service.clone();
    let version =
        blocking(move || svc.delete_elector(&caller.0, Some(&authority), id, reason, effective)).await?;
    Ok(Json(Versioned { id, version }))
}

/// Every version of an elector's entry, oldest first.
#[utoipa::path(get, path = "/api/v1/authorities/{authority}/electors/{id}/history", tag = "electors",
    security(("bearer" = []), ("session" = [])),
    params(("authority" = String, Path, description = "Authority code"), ("id" = u64, Path, description = "Elector id")),
    responses((status = 200, body = Vec<ElectorView>), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 429, body = Problem, description = "Read budget exhausted, or too many requests"), (status = 503, body = Problem)))]
pub async fn history(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiPath((authority, id)): ApiPath<(String, u64)>,
) -> Result<Json<Vec<ElectorView>>, ApiError> {
    let svc = state.service.clone();
    let versions = blocking(move || svc.elector_history(&caller.0, Some(&authority), id)).await?;
    Ok(Json(versions.into_iter().map(ElectorView::from).collect()))
}
