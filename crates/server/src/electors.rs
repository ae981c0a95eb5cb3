//! Elector endpoints, scoped by authority. A caller without the permission on the authority
//! in the path is refused before anything is looked up, and an elector of another authority
//! is "not found" exactly as a missing one is, so neither reveals what exists elsewhere.

use crate::audit;
use crate::auth::Caller;
use crate::codes;
use crate::problem::{ApiError, Problem};
use crate::state::AppState;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use rollguard_access::Permission;
use rollguard_audit::{Kind, Outcome};
use rollguard_register::{format_date, parse_date, EntryText};
use rollguard_vault::{Elector, Search, CSV_COLUMNS};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;
use utoipa::{IntoParams, ToSchema};

fn today() -> rollguard_register::Date {
    time::OffsetDateTime::now_utc().date()
}

/// One elector's current entry. `fields` uses the register CSV column names.
#[derive(Serialize, ToSchema)]
pub struct ElectorView {
    pub id: u64,
    pub authority: String,
    pub version: u32,
    pub valid_from: String,
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

/// Checks the caller's permission on the authority; a refusal is itself an audit event.
pub(crate) fn require(
    state: &AppState,
    caller: &Caller,
    permission: Permission,
    authority: &str,
) -> Result<(), ApiError> {
    if caller.0.access.allows(permission, authority) {
        Ok(())
    } else {
        let kind = match permission {
            Permission::ElectorRead => Kind::ElectorRead,
            Permission::ApplicationRead => Kind::ApplicationRead,
            Permission::ApplicationWrite => Kind::ApplicationWrite,
            _ => Kind::ElectorWrite,
        };
        let e = audit::event(kind, Outcome::Refused, Some(&caller.0))
            .authority(authority.to_ascii_uppercase())
            .detail("permission", permission.code());
        audit::note(&state.audit, e);
        Err(ApiError::forbidden(format!("no {permission} grant for authority {authority}")))
    }
}

/// An elector's current entry.
#[utoipa::path(get, path = "/api/v1/authorities/{authority}/electors/{id}", tag = "electors",
    params(("authority" = String, Path, description = "Authority code"), ("id" = u64, Path, description = "Elector id")),
    responses((status = 200, body = ElectorView), (status = 403, body = Problem), (status = 404, body = Problem), (status = 429, body = Problem, description = "Read budget exhausted, or too many requests")))]
pub async fn read(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path((authority, id)): Path<(String, u64)>,
) -> Result<Json<ElectorView>, ApiError> {
    require(&state, &caller, Permission::ElectorRead, &authority)?;
    let (log, who, st) = (state.audit.clone(), caller.0.clone(), state.clone());
    let (e, seq) = state
        .pool
        .run(move |v| -> Result<(Elector, u64), ApiError> {
            let e = in_authority(v, id, &authority)?;
            crate::detection::charge(&st, v, &who, &e.authority, &[id])?;
            let ev = audit::event(Kind::ElectorRead, Outcome::Success, Some(&who))
                .authority(e.authority.clone())
                .electors([id]);
            Ok((e, audit::submit(&log, ev)?))
        })
        .await??;
    audit::durable(&state.audit, seq).await?;
    Ok(Json(e.into()))
}

#[derive(Deserialize, IntoParams)]
pub struct SearchQuery {
    pub surname: Option<String>,
    pub postcode: Option<String>,
    pub date_of_birth: Option<String>,
    pub elector_number: Option<String>,
}

/// Equality search on the blind indexes; every criterion given must match.
#[utoipa::path(get, path = "/api/v1/authorities/{authority}/electors", tag = "electors",
    params(("authority" = String, Path, description = "Authority code"), SearchQuery),
    responses((status = 200, body = Vec<ElectorView>), (status = 400, body = Problem), (status = 403, body = Problem), (status = 422, body = Problem), (status = 429, body = Problem, description = "Read budget exhausted, or too many requests")))]
pub async fn search(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(authority): Path<String>,
    Query(q): Query<SearchQuery>,
) -> Result<Json<Vec<ElectorView>>, ApiError> {
    require(&state, &caller, Permission::ElectorRead, &authority)?;
    let search = Search {
        surname: q.surname,
        postcode: q.postcode,
        date_of_birth: q.date_of_birth,
        elector_number: q.elector_number,
    };
    let code = authority.to_ascii_uppercase();
    let criteria: Vec<&str> = [
        ("surname", search.surname.is_some()),
        ("postcode", search.postcode.is_some()),
        ("date_of_birth", search.date_of_birth.is_some()),
        ("elector_number", search.elector_number.is_some()),
    ]
    .into_iter()
    .filter_map(|(name, given)| given.then_some(name))
    .collect();
    let criteria = criteria.join(",");
    let (log, who, st) = (state.audit.clone(), caller.0.clone(), state.clone());
    let (found, seq) = state
        .pool
        .run(move |v| -> Result<(Vec<Elector>, u64), ApiError> {
            let found = v.search(&code, &search)?;
            let ids: Vec<u64> = found.iter().map(|e| e.id).collect();
            crate::detection::charge(&st, v, &who, &code, &ids)?;
            let ev = audit::event(Kind::ElectorSearch, Outcome::Success, Some(&who))
                .authority(code)
                .electors(found.iter().map(|e| e.id))
                .detail("criteria", criteria)
                .detail("results", found.len().to_string());
            let seq = audit::submit(&log, ev)?;
            Ok((found, seq))
        })
        .await??;
    audit::durable(&state.audit, seq).await?;
    Ok(Json(found.into_iter().map(ElectorView::from).collect()))
}

#[derive(Deserialize, ToSchema)]
pub struct NewElector {
    /// Register CSV column names and values.
    pub fields: BTreeMap<String, String>,
    /// When the entry takes effect (default: today).
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
    params(("authority" = String, Path, description = "Authority code")), request_body = NewElector,
    responses((status = 201, body = Created), (status = 403, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn add(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(authority): Path<String>,
    Json(req): Json<NewElector>,
) -> Result<(StatusCode, Json<Created>), ApiError> {
    require(&state, &caller, Permission::ElectorWrite, &authority)?;
    let mut text = EntryText::default();
    for (name, value) in req.fields {
        let col = CSV_COLUMNS
            .iter()
            .find(|c| c.name == name)
            .ok_or_else(|| ApiError::bad_request(format!("fields: unknown column `{name}`")))?;
        (col.set)(&mut text, value);
    }
    let effective = match req.effective.as_deref() {
        Some(d) => {
            parse_date("effective", d).map_err(|e| ApiError::bad_request(format!("effective: {}", e.rule)))?
        }
        None => today(),
    };
    let code = authority.to_ascii_uppercase();
    let allow = req.allow_possible_duplicate;
    let (log, who) = (state.audit.clone(), caller.0.clone());
    let fields: Vec<String> =
        CSV_COLUMNS.iter().filter(|c| !(c.get)(&text).is_empty()).map(|c| c.name.to_owned()).collect();
    let id = state
        .pool
        .run(move |v| -> Result<u64, ApiError> {
            let id = v.add(&code, &text, effective, today(), allow)?;
            let mut ev = audit::event(Kind::ElectorWrite, Outcome::Success, Some(&who))
                .authority(code)
                .electors([id])
                .detail("change", "added");
            ev.fields = fields;
            audit::record(&log, ev)?;
            Ok(id)
        })
        .await??;
    Ok((StatusCode::CREATED, Json(Created { id })))
}

/// Applies `column → value` pairs to an entry's text; an unknown column is refused by name.
pub(crate) fn apply_fields(text: &mut EntryText, fields: BTreeMap<String, String>) -> Result<(), ApiError> {
    for (name, value) in fields {
        let col = CSV_COLUMNS
            .iter()
            .find(|c| c.name == name)
            .ok_or_else(|| ApiError::bad_request(format!("fields: unknown column `{name}`")))?;
        (col.set)(text, value);
    }
    Ok(())
}

pub(crate) fn date_or_today(field: &str, d: Option<&str>) -> Result<rollguard_register::Date, ApiError> {
    match d {
        Some(d) => parse_date(field, d).map_err(|e| ApiError::bad_request(format!("{field}: {}", e.rule))),
        None => Ok(today()),
    }
}

/// Reads an elector for a change, as `read` does: another authority's is "not found".
fn in_authority(v: &crate::state::RegisterVault, id: u64, authority: &str) -> Result<Elector, ApiError> {
    let e = v.elector(id)?;
    if e.authority.eq_ignore_ascii_case(authority) {
        Ok(e)
    } else {
        Err(ApiError::not_found())
    }
}

#[derive(Deserialize, ToSchema)]
pub struct Amendment {
    /// Columns to change (register CSV names) and their new values; others stay as they are.
    pub set: BTreeMap<String, String>,
    /// When the change takes effect (default: today).
    pub effective: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct Versioned {
    pub id: u64,
    pub version: u32,
}

/// Amends an elector: a new version, the old one kept in the history.
#[utoipa::path(patch, path = "/api/v1/authorities/{authority}/electors/{id}", tag = "electors",
    params(("authority" = String, Path, description = "Authority code"), ("id" = u64, Path, description = "Elector id")),
    request_body = Amendment,
    responses((status = 200, body = Versioned), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn amend(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path((authority, id)): Path<(String, u64)>,
    Json(req): Json<Amendment>,
) -> Result<Json<Versioned>, ApiError> {
    require(&state, &caller, Permission::ElectorWrite, &authority)?;
    let effective = date_or_today("effective", req.effective.as_deref())?;
    let (log, who) = (state.audit.clone(), caller.0.clone());
    let version = state
        .pool
        .run(move |v| -> Result<u32, ApiError> {
            let current = in_authority(v, id, &authority)?;
            let mut text = current.entry.to_text();
            let fields: Vec<String> = req.set.keys().cloned().collect();
            apply_fields(&mut text, req.set)?;
            let version = v.amend(id, &text, effective, today())?;
            let mut ev = audit::event(Kind::ElectorWrite, Outcome::Success, Some(&who))
                .authority(current.authority)
                .electors([id])
                .detail("change", "amended");
            ev.fields = fields;
            audit::record(&log, ev)?;
            Ok(version)
        })
        .await??;
    Ok(Json(Versioned { id, version }))
}

#[derive(Deserialize, IntoParams)]
pub struct DeleteQuery {
    /// moved-away, deceased, duplicate, not-eligible, review-outcome, elector-request or court-order.
    pub reason: String,
    pub effective: Option<String>,
}

/// Deletes an elector with a reason. The history is kept.
#[utoipa::path(delete, path = "/api/v1/authorities/{authority}/electors/{id}", tag = "electors",
    params(("authority" = String, Path, description = "Authority code"), ("id" = u64, Path, description = "Elector id"), DeleteQuery),
    responses((status = 200, body = Versioned), (status = 400, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn delete(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path((authority, id)): Path<(String, u64)>,
    Query(q): Query<DeleteQuery>,
) -> Result<Json<Versioned>, ApiError> {
    require(&state, &caller, Permission::ElectorWrite, &authority)?;
    let reason = codes::parse::<rollguard_register::DeletionReason>(
        "reason",
        &q.reason,
        rollguard_register::DeletionReason::ALL,
    )?;
    let effective = date_or_today("effective", q.effective.as_deref())?;
    let (log, who) = (state.audit.clone(), caller.0.clone());
    let version = state
        .pool
        .run(move |v| -> Result<u32, ApiError> {
            let current = in_authority(v, id, &authority)?;
            let version = v.delete(id, reason, effective)?;
            let ev = audit::event(Kind::ElectorWrite, Outcome::Success, Some(&who))
                .authority(current.authority)
                .electors([id])
                .detail("change", format!("deleted:{reason}"));
            audit::record(&log, ev)?;
            Ok(version)
        })
        .await??;
    Ok(Json(Versioned { id, version }))
}

/// Every version of an elector's entry, oldest first.
#[utoipa::path(get, path = "/api/v1/authorities/{authority}/electors/{id}/history", tag = "electors",
    params(("authority" = String, Path, description = "Authority code"), ("id" = u64, Path, description = "Elector id")),
    responses((status = 200, body = Vec<ElectorView>), (status = 403, body = Problem), (status = 404, body = Problem), (status = 429, body = Problem, description = "Read budget exhausted, or too many requests")))]
pub async fn history(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path((authority, id)): Path<(String, u64)>,
) -> Result<Json<Vec<ElectorView>>, ApiError> {
    require(&state, &caller, Permission::ElectorRead, &authority)?;
    let (log, who, st) = (state.audit.clone(), caller.0.clone(), state.clone());
    let versions = state
        .pool
        .run(move |v| -> Result<Vec<Elector>, ApiError> {
            let current = in_authority(v, id, &authority)?;
            crate::detection::charge(&st, v, &who, &current.authority, &[id])?;
            let versions = v.history(id)?;
            let ev = audit::event(Kind::ElectorRead, Outcome::Success, Some(&who))
                .authority(current.authority)
                .electors([id])
                .detail("versions", versions.len().to_string());
            audit::record(&log, ev)?;
            Ok(versions)
        })
        .await??;
    Ok(Json(versions.into_iter().map(ElectorView::from).collect()))
}
