//! Administration of principals and API tokens over HTTP: parse, call the service, present.
//! The rules (who may grant what, where) are the service's.

use crate::auth::Caller;
use crate::extract::{blocking, ApiJson, ApiPath};
use crate::problem::{ApiError, Problem};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use rollguard_access::{parse_grant, Permission, Scope};
use rollguard_service::{Change, PrincipalAction, PrincipalView};
use rollguard_store::PrincipalKind;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::ToSchema;

#[derive(Serialize, ToSchema)]
pub struct PrincipalOut {
    pub id: u64,
    pub name: String,
    /// `human` or `service`.
    pub kind: String,
    /// `active`, `suspended` or `not-enrolled`.
    pub state: String,
    pub grants: Vec<String>,
}

impl From<PrincipalView> for PrincipalOut {
    fn from(p: PrincipalView) -> Self {
        Self { id: p.id, name: p.name, kind: p.kind.code().into(), state: p.state.into(), grants: p.grants }
    }
}

/// Principals and their grants.
#[utoipa::path(get, path = "/api/v1/admin/principals", tag = "admin", security(("bearer" = []), ("session" = [])),
    responses((status = 200, body = Vec<PrincipalOut>), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 429, body = Problem), (status = 503, body = Problem)))]
pub async fn list_principals(
    State(state): State<Arc<AppState>>,
    caller: Caller,
) -> Result<Json<Vec<PrincipalOut>>, ApiError> {
    let svc = state.service.clone();
    let list = blocking(move || svc.principals(&caller.0)).await?;
    Ok(Json(list.into_iter().map(PrincipalOut::from).collect()))
}

#[derive(Deserialize, ToSchema)]
pub struct NewPrincipal {
    /// 1 to 64 letters, digits, dots, dashes, underscores or @.
    #[schema(inline, value_type = crate::codes::NameText)]
    pub name: String,
    /// `human` (enrols with a one-time secret) or `service` (API tokens only).
    #[schema(inline, value_type = crate::codes::PrincipalKindCode)]
    pub kind: String,
    /// `role@AUTHORITY` or `role@*`.
    #[serde(default)]
    #[schema(value_type = Vec<crate::codes::GrantText>)]
    pub grants: Vec<String>,
}

#[derive(Serialize, ToSchema)]
pub struct PrincipalCreated {
    pub id: u64,
    /// For a person: the one-time enrolment secret, shown once.
    pub enrolment_secret: Option<String>,
}

fn grants(list: &[String]) -> Result<Vec<rollguard_access::Grant>, ApiError> {
    list.iter().map(|g| parse_grant(g).map_err(|e| ApiError::bad_request(format!("grants: {e}")))).collect()
}

/// Adds a person or a service account.
#[utoipa::path(post, path = "/api/v1/admin/principals", tag = "admin", request_body = NewPrincipal,
    security(("bearer" = []), ("session" = [])),
    responses((status = 201, body = PrincipalCreated), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 409, body = Problem), (status = 413, body = Problem),
        (status = 415, body = Problem), (status = 422, body = Problem), (status = 429, body = Problem), (status = 503, body = Problem)))]
pub async fn add_principal(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiJson(req): ApiJson<NewPrincipal>,
) -> Result<(StatusCode, Json<PrincipalCreated>), ApiError> {
    let kind = PrincipalKind::from_code(&req.kind)
        .ok_or_else(|| ApiError::bad_request("kind: `human` or `service`"))?;
    let grants = grants(&req.grants)?;
    let svc = state.service.clone();
    let (id, secret) = blocking(move || svc.add_principal(&caller.0, &req.name, kind, grants)).await?;
    Ok((
        StatusCode::CREATED,
        Json(PrincipalCreated { id, enrolment_secret: secret.map(|s| s.expose().to_owned()) }),
    ))
}

#[derive(Deserialize, ToSchema)]
pub struct GrantChange {
    /// `role@AUTHORITY` or `role@*`.
    #[schema(inline, value_type = crate::codes::GrantText)]
    pub grant: String,
    #[schema(inline, value_type = crate::codes::GrantActionCode)]
    pub action: String,
}

/// Grants or withdraws a role. The grant records who made it.
#[utoipa::path(post, path = "/api/v1/admin/principals/{name}/grants", tag = "admin",
    security(("bearer" = []), ("session" = [])),
    params(("name" = String, Path, description = "Principal name")), request_body = GrantChange,
    responses((status = 204, description = "Done"),
        (status = 202, body = crate::proposals::ProposalOut, description = "Proposed: a role with personal data or administration takes effect when a second administrator approves it"),
        (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem), (status = 413, body = Problem),
        (status = 415, body = Problem), (status = 422, body = Problem), (status = 429, body = Problem), (status = 503, body = Problem)))]
pub async fn change_grant(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiPath(name): ApiPath<String>,
    ApiJson(req): ApiJson<GrantChange>,
) -> Result<Response, ApiError> {
    let grant = grants(std::slice::from_ref(&req.grant))?.remove(0);
    let add = match req.action.as_str() {
        "add" => true,
        "remove" => false,
        _ => return Err(ApiError::bad_request("action: `add` or `remove`")),
    };
    let svc = state.service.clone();
    match blocking(move || svc.change_grant(&caller.0, &name, grant, add)).await? {
        Change::Done(true) => Ok(StatusCode::NO_CONTENT.into_response()),
        Change::Done(false) => Err(ApiError::not_found().detail("the principal does not hold that grant")),
        Change::Proposed(p) => Ok(crate::proposals::accepted(p)),
    }
}

#[derive(Deserialize, ToSchema)]
pub struct PrincipalActionRequest {
    /// `suspend`, `restore`, `reset-mfa` or `logout` (end every session).
    #[schema(inline, value_type = crate::codes::PrincipalActionCode)]
    pub action: String,
}

#[derive(Serialize, ToSchema)]
pub struct ActionDone {
    /// For `reset-mfa`: the new one-time enrolment secret.
    pub enrolment_secret: Option<String>,
    /// For `logout`: sessions ended.
    pub sessions_ended: Option<u64>,
}

/// Suspends, restores, resets the second factor of, or logs out a principal.
#[utoipa::path(post, path = "/api/v1/admin/principals/{name}/actions", tag = "admin",
    security(("bearer" = []), ("session" = [])),
    params(("name" = String, Path, description = "Principal name")), request_body = PrincipalActionRequest,
    responses((status = 200, body = ActionDone),
        (status = 202, body = crate::proposals::ProposalOut, description = "Proposed: a second-factor reset takes effect when a second administrator approves it"),
        (status = 400, body = Problem), (status = 401, body = Problem), (status = 409, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem), (status = 413, body = Problem),
        (status = 415, body = Problem), (status = 422, body = Problem), (status = 429, body = Problem), (status = 503, body = Problem)))]
pub async fn principal_action(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiPath(name): ApiPath<String>,
    ApiJson(req): ApiJson<PrincipalActionRequest>,
) -> Result<Response, ApiError> {
    let action = PrincipalAction::parse(&req.action)
        .ok_or_else(|| ApiError::bad_request("action: suspend, restore, reset-mfa or logout"))?;
    let svc = state.service.clone();
    let done = match blocking(move || svc.principal_action(&caller.0, &name, action)).await? {
        Change::Done(done) => done,
        Change::Proposed(p) => return Ok(crate::proposals::accepted(p)),
    };
    Ok(Json(ActionDone {
        enrolment_secret: done.enrolment_secret.map(|s| s.expose().to_owned()),
        sessions_ended: done.sessions_ended,
    })
    .into_response())
}

#[derive(Deserialize, ToSchema)]
pub struct NewToken {
    /// The service account.
    #[schema(inline, value_type = crate::codes::NameText)]
    pub principal: String,
    /// What the token is for.
    #[schema(max_length = 200)]
    pub label: String,
    /// Permission codes, e.g. `elector:read`.
    #[schema(min_items = 1, value_type = Vec<crate::codes::PermissionCode>)]
    pub permissions: Vec<String>,
    /// Authority codes, or `*`.
    #[schema(min_items = 1, value_type = Vec<crate::codes::ScopeText>)]
    pub authorities: Vec<String>,
    /// Lifetime in days.
    #[schema(minimum = 1, maximum = 366)]
    pub days: i64,
}

#[derive(Serialize, ToSchema)]
pub struct TokenCreated {
    pub id: u64,
    /// Shown once; stored only as a hash.
    pub token: String,
}

/// Creates an API token for a service account.
#[utoipa::path(post, path = "/api/v1/admin/tokens", tag = "admin", request_body = NewToken,
    security(("bearer" = []), ("session" = [])),
    responses((status = 201, body = TokenCreated), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem), (status = 413, body = Problem),
        (status = 415, body = Problem), (status = 422, body = Problem), (status = 429, body = Problem), (status = 503, body = Problem)))]
pub async fn create_token(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiJson(req): ApiJson<NewToken>,
) -> Result<(StatusCode, Json<TokenCreated>), ApiError> {
    let perms = req
        .permissions
        .iter()
        .map(|p| p.parse::<Permission>().map_err(|e| ApiError::bad_request(format!("permissions: {e}"))))
        .collect::<Result<Vec<_>, _>>()?;
    if !(1..=366).contains(&req.days) {
        return Err(ApiError::bad_request("days: between 1 and 366"));
    }
    if req.label.chars().count() > 200 {
        return Err(ApiError::bad_request("label: at most 200 characters"));
    }
    if req.permissions.is_empty() || req.authorities.is_empty() {
        return Err(ApiError::bad_request("permissions and authorities: at least one each"));
    }
    let scopes = req
        .authorities
        .iter()
        .map(|a| Scope::parse_code(a).map_err(|e| ApiError::bad_request(format!("authorities: {e}"))))
        .collect::<Result<Vec<_>, _>>()?;
    let svc = state.service.clone();
    let (id, token) =
        blocking(move || svc.create_token(&caller.0, &req.principal, &req.label, perms, scopes, req.days))
            .await?;
    Ok((StatusCode::CREATED, Json(TokenCreated { id, token: token.expose().to_owned() })))
}

#[derive(Serialize, ToSchema)]
pub struct TokenOut {
    pub id: u64,
    pub principal_id: u64,
    pub label: String,
    pub permissions: String,
    pub authorities: String,
    pub expires_at: i64,
    pub revoked: bool,
}

/// API tokens (never their values).
#[utoipa::path(get, path = "/api/v1/admin/tokens", tag = "admin", security(("bearer" = []), ("session" = [])),
    responses((status = 200, body = Vec<TokenOut>), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 429, body = Problem), (status = 503, body = Problem)))]
pub async fn list_tokens(
    State(state): State<Arc<AppState>>,
    caller: Caller,
) -> Result<Json<Vec<TokenOut>>, ApiError> {
    let svc = state.service.clone();
    let list = blocking(move || svc.tokens(&caller.0)).await?;
    Ok(Json(
        list.into_iter()
            .map(|t| TokenOut {
                id: t.id,
                principal_id: t.principal_id,
                label: t.label,
                permissions: t.permissions,
                authorities: t.authorities,
                expires_at: t.expires_at,
                revoked: t.revoked,
            })
            .collect(),
    ))
}

/// Revokes an API token.
#[utoipa::path(delete, path = "/api/v1/admin/tokens/{id}", tag = "admin", security(("bearer" = []), ("session" = [])),
    params(("id" = u64, Path, description = "Token id")),
    responses((status = 204, description = "Revoked"), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem), (status = 429, body = Problem), (status = 503, body = Problem)))]
pub async fn revoke_token(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiPath(id): ApiPath<u64>,
) -> Result<StatusCode, ApiError> {
    let svc = state.service.clone();
    if blocking(move || svc.revoke_token(&caller.0, id)).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found())
    }
}
