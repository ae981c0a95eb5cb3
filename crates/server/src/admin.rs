//! Administration of principals and API tokens. Administrators hold no personal data by
//! their role; an administrator may grant roles only within the authorities they
//! administer, and a grant of `*` only with administrator@*. Every grant records who made it.

use crate::audit;
use crate::auth::Caller;
use crate::problem::{ApiError, Problem};
use crate::state::{now_secs, AppState};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use rollguard_access::{parse_grant, Grant, Permission, Role, Scope};
use rollguard_audit::{Kind, Outcome};
use rollguard_store::{AccessStore, PrincipalKind};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::ToSchema;

/// Whether the caller may administer `scope` with `permission`.
fn covers(caller: &Caller, permission: Permission, scope: &Scope) -> bool {
    let a = &caller.0.access;
    match scope {
        Scope::Authority(code) => a.allows(permission, code),
        Scope::All => {
            a.grants.iter().any(|g| g.role == Role::Administrator && g.scope == Scope::All)
                && a.allows_anywhere(permission)
        }
    }
}

fn require_anywhere(caller: &Caller, permission: Permission) -> Result<(), ApiError> {
    if caller.0.access.allows_anywhere(permission) {
        Ok(())
    } else {
        Err(ApiError::forbidden(format!("needs {permission}")))
    }
}

fn grants_from(caller: &Caller, list: &[String]) -> Result<Vec<Grant>, ApiError> {
    let mut out = Vec::new();
    for g in list {
        let grant = parse_grant(g).map_err(|e| ApiError::bad_request(format!("grants: {e}")))?;
        if !covers(caller, Permission::UserAdmin, &grant.scope) {
            return Err(ApiError::forbidden(format!(
                "you do not administer authority {}",
                grant.scope.code()
            )));
        }
        out.push(grant);
    }
    Ok(out)
}

#[derive(Serialize, ToSchema)]
pub struct PrincipalOut {
    pub id: u64,
    pub name: String,
    pub kind: String,
    pub state: String,
    pub grants: Vec<String>,
}

/// Principals and their grants.
#[utoipa::path(get, path = "/api/v1/admin/principals", tag = "admin",
    responses((status = 200, body = Vec<PrincipalOut>), (status = 403, body = Problem)))]
pub async fn list_principals(
    State(state): State<Arc<AppState>>,
    caller: Caller,
) -> Result<Json<Vec<PrincipalOut>>, ApiError> {
    require_anywhere(&caller, Permission::UserAdmin)?;
    let list = state.pool.run(|v| v.store().principals()).await?.map_err(|e| {
        tracing::error!(error = %e, "listing principals");
        ApiError::internal()
    })?;
    Ok(Json(
        list.into_iter()
            .map(|p| PrincipalOut {
                id: p.id,
                state: match (p.suspended, p.kind, p.totp_sealed.is_some()) {
                    (true, _, _) => "suspended",
                    (_, PrincipalKind::Human, false) => "not-enrolled",
                    _ => "active",
                }
                .into(),
                name: p.name,
                kind: p.kind.code().into(),
                grants: p.grants.iter().map(|g| format!("{}@{}", g.role, g.authority)).collect(),
            })
            .collect(),
    ))
}

#[derive(Deserialize, ToSchema)]
pub struct NewPrincipal {
    pub name: String,
    /// `human` (enrols with a one-time secret) or `service` (API tokens only).
    pub kind: String,
    /// `role@AUTHORITY` or `role@*`.
    #[serde(default)]
    pub grants: Vec<String>,
}

#[derive(Serialize, ToSchema)]
pub struct PrincipalCreated {
    pub id: u64,
    /// For a person: the one-time enrolment secret, shown once.
    pub enrolment_secret: Option<String>,
}

/// Adds a person or a service account.
#[utoipa::path(post, path = "/api/v1/admin/principals", tag = "admin", request_body = NewPrincipal,
    responses((status = 201, body = PrincipalCreated), (status = 400, body = Problem), (status = 403, body = Problem), (status = 409, body = Problem)))]
pub async fn add_principal(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Json(req): Json<NewPrincipal>,
) -> Result<(StatusCode, Json<PrincipalCreated>), ApiError> {
    require_anywhere(&caller, Permission::UserAdmin)?;
    let kind = PrincipalKind::from_code(&req.kind)
        .ok_or_else(|| ApiError::bad_request("kind: `human` or `service`"))?;
    let grants = grants_from(&caller, &req.grants)?;
    let accounts = state.accounts.clone();
    let by = caller.0.name.clone();
    let (id, secret) = state
        .pool
        .run(move |v| accounts.add_principal(v.store_mut(), &req.name, kind, &grants, &by, now_secs()))
        .await?
        .map_err(|e| match e {
            rollguard_access::AccessError::Store(rollguard_store::StoreError::PrincipalExists(n)) => {
                ApiError::new(StatusCode::CONFLICT, "conflict", "Conflict")
                    .detail(format!("a principal named {n} exists"))
            }
            e => e.into(),
        })?;
    let ev = audit::event(Kind::PrincipalChange, Outcome::Success, Some(&caller.0))
        .detail("change", "added")
        .detail("target", id.to_string())
        .detail("kind", kind.code());
    audit::note(&state.audit, ev);
    Ok((
        StatusCode::CREATED,
        Json(PrincipalCreated { id, enrolment_secret: secret.map(|s| s.expose().to_owned()) }),
    ))
}

#[derive(Deserialize, ToSchema)]
pub struct GrantChange {
    /// `role@AUTHORITY` or `role@*`.
    pub grant: String,
    /// `add` or `remove`.
    pub action: String,
}

/// Grants or withdraws a role. The grant records who made it.
#[utoipa::path(post, path = "/api/v1/admin/principals/{name}/grants", tag = "admin",
    params(("name" = String, Path, description = "Principal name")), request_body = GrantChange,
    responses((status = 204, description = "Done"), (status = 400, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn change_grant(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(name): Path<String>,
    Json(req): Json<GrantChange>,
) -> Result<StatusCode, ApiError> {
    require_anywhere(&caller, Permission::UserAdmin)?;
    let grant = grants_from(&caller, std::slice::from_ref(&req.grant))?.remove(0);
    let accounts = state.accounts.clone();
    let by = caller.0.name.clone();
    let add = match req.action.as_str() {
        "add" => true,
        "remove" => false,
        _ => return Err(ApiError::bad_request("action: `add` or `remove`")),
    };
    let target_name = name.clone();
    let changed = state
        .pool
        .run(move |v| {
            if add {
                accounts.grant(v.store_mut(), &name, &grant, &by, now_secs()).map(|_| true)
            } else {
                accounts.revoke_grant(v.store_mut(), &name, &grant)
            }
        })
        .await??;
    if changed {
        let ev = audit::event(Kind::GrantChange, Outcome::Success, Some(&caller.0))
            .detail("grant", req.grant.clone())
            .detail("change", req.action.clone())
            .detail("target", target_name);
        audit::note(&state.audit, ev);
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found().detail("the principal does not hold that grant"))
    }
}

#[derive(Deserialize, ToSchema)]
pub struct PrincipalAction {
    /// `suspend`, `restore`, `reset-mfa` or `logout` (end every session).
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
    params(("name" = String, Path, description = "Principal name")), request_body = PrincipalAction,
    responses((status = 200, body = ActionDone), (status = 400, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn principal_action(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(name): Path<String>,
    Json(req): Json<PrincipalAction>,
) -> Result<Json<ActionDone>, ApiError> {
    require_anywhere(&caller, Permission::UserAdmin)?;
    // Only an administrator of every authority the principal holds may act on it.
    let target = {
        let name = name.clone();
        state.pool.run(move |v| v.store().principal_by_name(&name)).await?
    }
    .map_err(|_| ApiError::internal())?
    .ok_or_else(ApiError::not_found)?;
    for g in &target.grants {
        if !covers(&caller, Permission::UserAdmin, &Scope::parse(&g.authority)) {
            return Err(ApiError::forbidden(format!(
                "{name} holds grants outside the authorities you administer"
            )));
        }
    }
    let accounts = state.accounts.clone();
    let action = req.action.clone();
    let done = state
        .pool
        .run(move |v| -> Result<ActionDone, rollguard_access::AccessError> {
            let s = v.store_mut();
            let none = ActionDone { enrolment_secret: None, sessions_ended: None };
            Ok(match action.as_str() {
                "suspend" => accounts.set_suspended(s, &name, true, now_secs()).map(|_| none)?,
                "restore" => accounts.set_suspended(s, &name, false, now_secs()).map(|_| none)?,
                "reset-mfa" => {
                    let secret = accounts.reset_enrolment(s, &name, now_secs())?;
                    ActionDone { enrolment_secret: Some(secret.expose().to_owned()), sessions_ended: None }
                }
                "logout" => ActionDone {
                    enrolment_secret: None,
                    sessions_ended: Some(accounts.revoke_sessions(s, &name, now_secs())?),
                },
                _ => {
                    return Err(rollguard_access::AccessError::Invalid(
                        "action: suspend, restore, reset-mfa or logout".into(),
                    ))
                }
            })
        })
        .await??;
    let ev = audit::event(Kind::PrincipalChange, Outcome::Success, Some(&caller.0))
        .detail("change", req.action.clone())
        .detail("target", target.id.to_string());
    audit::note(&state.audit, ev);
    Ok(Json(done))
}

#[derive(Deserialize, ToSchema)]
pub struct NewToken {
    /// The service account.
    pub principal: String,
    pub label: String,
    /// Permission codes, e.g. `elector:read`.
    pub permissions: Vec<String>,
    /// Authority codes, or `*`.
    pub authorities: Vec<String>,
    /// Lifetime in days (1 to 366).
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
    responses((status = 201, body = TokenCreated), (status = 400, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn create_token(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Json(req): Json<NewToken>,
) -> Result<(StatusCode, Json<TokenCreated>), ApiError> {
    require_anywhere(&caller, Permission::TokenAdmin)?;
    let perms = req
        .permissions
        .iter()
        .map(|p| p.parse::<Permission>().map_err(|e| ApiError::bad_request(format!("permissions: {e}"))))
        .collect::<Result<Vec<_>, _>>()?;
    let scopes: Vec<Scope> = req.authorities.iter().map(|a| Scope::parse(a)).collect();
    for s in &scopes {
        if !covers(&caller, Permission::TokenAdmin, s) {
            return Err(ApiError::forbidden(format!("you do not administer authority {}", s.code())));
        }
    }
    let accounts = state.accounts.clone();
    let (id, token) = state
        .pool
        .run(move |v| {
            accounts.create_token(
                v.store_mut(),
                &req.principal,
                &req.label,
                &perms,
                &scopes,
                req.days * 86400,
                now_secs(),
            )
        })
        .await??;
    let ev = audit::event(Kind::TokenChange, Outcome::Success, Some(&caller.0))
        .detail("change", "created")
        .detail("token", id.to_string());
    audit::note(&state.audit, ev);
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
#[utoipa::path(get, path = "/api/v1/admin/tokens", tag = "admin",
    responses((status = 200, body = Vec<TokenOut>), (status = 403, body = Problem)))]
pub async fn list_tokens(
    State(state): State<Arc<AppState>>,
    caller: Caller,
) -> Result<Json<Vec<TokenOut>>, ApiError> {
    require_anywhere(&caller, Permission::TokenAdmin)?;
    let list = state.pool.run(|v| v.store().tokens()).await?.map_err(|_| ApiError::internal())?;
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
#[utoipa::path(delete, path = "/api/v1/admin/tokens/{id}", tag = "admin",
    params(("id" = u64, Path, description = "Token id")),
    responses((status = 204, description = "Revoked"), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn revoke_token(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<u64>,
) -> Result<StatusCode, ApiError> {
    require_anywhere(&caller, Permission::TokenAdmin)?;
    let accounts = state.accounts.clone();
    let done = state.pool.run(move |v| accounts.revoke_token(v.store_mut(), id, now_secs())).await??;
    if done {
        let ev = audit::event(Kind::TokenChange, Outcome::Success, Some(&caller.0))
            .detail("change", "revoked")
            .detail("token", id.to_string());
        audit::note(&state.audit, ev);
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found())
    }
}
