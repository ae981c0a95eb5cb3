//! Authentication: the login, second-factor and enrolment endpoints, and the [`Caller`]
//! extractor that every protected endpoint takes.

use crate::problem::{ApiError, Problem};
use crate::state::{now_secs, AppState};
use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use rollguard_access::secret::{csrf_token_for, hash_secret};
use rollguard_access::{AccessError, LoginStep, NewSession, Principal};
use rollguard_audit::{Kind, Outcome};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use utoipa::ToSchema;

pub const SESSION_COOKIE: &str = "__Host-rollguard-session";
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The credential a request carries, before it is checked.
pub enum Credential {
    /// `Authorization: Bearer …` (an API token or a session token).
    Bearer(String),
    /// The session cookie: state-changing requests must also carry the CSRF token.
    Cookie(String),
}

impl Credential {
    pub fn from_headers(h: &HeaderMap) -> Option<Self> {
        if let Some(v) = h.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
            return v.strip_prefix("Bearer ").map(|t| Credential::Bearer(t.trim().to_owned()));
        }
        for v in h.get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok()) {
            for c in v.split(';') {
                if let Some((k, val)) = c.trim().split_once('=') {
                    if k == SESSION_COOKIE {
                        return Some(Credential::Cookie(val.to_owned()));
                    }
                }
            }
        }
        None
    }

    pub fn secret(&self) -> &str {
        match self {
            Credential::Bearer(s) | Credential::Cookie(s) => s,
        }
    }
}

/// An authenticated caller, within its rate limit, past the CSRF check.
pub struct Caller(pub Principal);

fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl FromRequestParts<Arc<AppState>> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> Result<Self, ApiError> {
        let cred = Credential::from_headers(&parts.headers).ok_or_else(|| {
            ApiError::unauthorized("log in, or send an API token as `Authorization: Bearer …`")
        })?;
        if let Credential::Cookie(token) = &cred {
            let safe = matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
            let sent = parts.headers.get(CSRF_HEADER).map(|v| v.as_bytes()).unwrap_or_default();
            if !safe && !ct_eq(sent, csrf_token_for(token).as_bytes()) {
                return Err(ApiError::forbidden(format!(
                    "a request authenticated by the session cookie must carry the session's CSRF token in {CSRF_HEADER}"
                )));
            }
        }
        let secret = cred.secret().to_owned();
        let accounts = state.accounts.clone();
        let now = now_secs();
        let client = ClientIp::from_request_parts(parts, state).await?.0;
        let principal = state
            .pool
            .run(move |v| {
                if secret.starts_with("rgt_") {
                    accounts.authenticate_token(v.store_mut(), &secret, now)
                } else {
                    accounts.authenticate_session(v.store_mut(), &secret, now)
                }
            })
            .await?
            .inspect_err(|_| state.lanes.forget(&hash_secret(cred.secret())))?;
        let mut principal = principal;
        principal.client = Some(client.to_string());
        if state.detection.is_blocked(&principal.name) {
            return Err(ApiError::forbidden(
                "this principal is suspended by an automatic response to an alert",
            ));
        }
        state.lanes.remember(hash_secret(cred.secret()), Duration::from_secs(300));
        if let Err(retry) = state.principal_limiter.check(&principal.id) {
            state.metrics.rate_limited.inc();
            return Err(ApiError::too_many(retry));
        }
        Ok(Caller(principal))
    }
}

/// The client address for login throttling.
pub struct ClientIp(pub std::net::IpAddr);

impl FromRequestParts<Arc<AppState>> for ClientIp {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> Result<Self, ApiError> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<crate::PeerAddr>>()
            .map(|c| c.0 .0)
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)));
        let xff = parts.headers.get("x-forwarded-for").and_then(|v| v.to_str().ok());
        Ok(ClientIp(crate::limits::client_ip(peer, xff, &state.config.trusted_proxies)))
    }
}

fn throttle(state: &AppState, ip: &ClientIp) -> Result<(), ApiError> {
    state.login_limiter.check(&ip.0).map_err(|retry| {
        state.metrics.rate_limited.inc();
        ApiError::too_many(retry)
    })
}

/// Runs an account operation on a register connection of the pool.
async fn with_accounts<T, F>(state: &Arc<AppState>, f: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(&rollguard_access::Accounts, &mut rollguard_store::SqliteStore) -> T + Send + 'static,
{
    let accounts = state.accounts.clone();
    Ok(state.pool.run(move |v| f(&accounts, v.store_mut())).await?)
}

/// Counts, logs and audits a failed login step; audits a successful one.
fn counted<T>(
    state: &AppState,
    kind: Kind,
    name: Option<&str>,
    ip: &ClientIp,
    r: Result<T, AccessError>,
) -> Result<T, ApiError> {
    let mut ev = crate::audit::event(kind, if r.is_ok() { Outcome::Success } else { Outcome::Failure }, None);
    ev.principal = name.map(|n| n.trim().chars().take(64).collect());
    ev.client = Some(ip.0.to_string());
    if let Err(e) = &r {
        state.metrics.login_failures.inc();
        tracing::info!(outcome = "refused", reason = %e, "login step");
        ev.detail.insert("reason".into(), e.to_string());
    }
    crate::audit::note(&state.audit, ev);
    r.map_err(ApiError::from)
}

#[derive(Deserialize, ToSchema)]
pub struct PasswordLogin {
    pub name: String,
    pub password: String,
}

#[derive(Serialize, ToSchema)]
pub struct Challenge {
    /// Send back with a TOTP code (`/auth/totp`) or a recovery code (`/auth/recovery`).
    pub challenge: String,
    pub expires_at: i64,
}

#[derive(Deserialize, ToSchema)]
pub struct SecondFactor {
    pub challenge: String,
    pub code: String,
}

#[derive(Serialize, ToSchema)]
pub struct SessionGranted {
    pub principal: String,
    /// Also set as an HttpOnly cookie. Send as `Authorization: Bearer …` from scripts.
    pub session_token: String,
    /// Send in `X-CSRF-Token` on state-changing requests that use the cookie.
    pub csrf_token: String,
    pub expires_at: i64,
}

fn session_response(state: &AppState, s: NewSession, extra: Option<Vec<String>>) -> Response {
    let ev = crate::audit::event(Kind::AuthMfa, Outcome::Success, None)
        .principal(s.principal.clone())
        .detail("session", "opened");
    crate::audit::note(&state.audit, ev);
    let max_age = (s.expires_at - now_secs()).max(0);
    let secure = if state.config.secure_cookies { "; Secure" } else { "" };
    let cookie = format!(
        "{SESSION_COOKIE}={}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}",
        s.token.expose()
    );
    state.lanes.remember(s.token.hash(), Duration::from_secs(300));
    let body = SessionGranted {
        principal: s.principal,
        session_token: s.token.expose().to_owned(),
        csrf_token: s.csrf_token,
        expires_at: s.expires_at,
    };
    let mut resp = match extra {
        None => Json(body).into_response(),
        Some(codes) => Json(Enrolled { session: body, recovery_codes: codes }).into_response(),
    };
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// Step one of a login: name and password. Returns a challenge, never a session.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = PasswordLogin,
    responses((status = 200, body = Challenge), (status = 401, body = Problem), (status = 429, body = Problem)))]
pub async fn login(
    State(state): State<Arc<AppState>>,
    ip: ClientIp,
    Json(req): Json<PasswordLogin>,
) -> Result<Json<Challenge>, ApiError> {
    throttle(&state, &ip)?;
    state.account_limiter.check(&req.name.trim().to_lowercase()).map_err(|retry| {
        state.metrics.rate_limited.inc();
        ApiError::too_many(retry)
    })?;
    let name = req.name.clone();
    let r =
        with_accounts(&state, move |a, store| a.login_password(store, &req.name, &req.password, now_secs()))
            .await?;
    let LoginStep::SecondFactor { challenge, expires_at } =
        counted(&state, Kind::AuthPassword, Some(&name), &ip, r)?;
    Ok(Json(Challenge { challenge: challenge.expose().to_owned(), expires_at }))
}

/// Step two: the challenge and a TOTP code. A code is accepted once.
#[utoipa::path(post, path = "/api/v1/auth/totp", tag = "auth", request_body = SecondFactor,
    responses((status = 200, body = SessionGranted), (status = 401, body = Problem), (status = 429, body = Problem)))]
pub async fn totp(
    State(state): State<Arc<AppState>>,
    ip: ClientIp,
    Json(req): Json<SecondFactor>,
) -> Result<Response, ApiError> {
    throttle(&state, &ip)?;
    let r = with_accounts(&state, move |a, store| a.login_totp(store, &req.challenge, &req.code, now_secs()))
        .await?;
    Ok(session_response(&state, counted(&state, Kind::AuthMfa, None, &ip, r)?, None))
}

/// Step two with a single-use recovery code instead of TOTP.
#[utoipa::path(post, path = "/api/v1/auth/recovery", tag = "auth", request_body = SecondFactor,
    responses((status = 200, body = SessionGranted), (status = 401, body = Problem), (status = 429, body = Problem)))]
pub async fn recovery(
    State(state): State<Arc<AppState>>,
    ip: ClientIp,
    Json(req): Json<SecondFactor>,
) -> Result<Response, ApiError> {
    throttle(&state, &ip)?;
    let r =
        with_accounts(&state, move |a, store| a.login_recovery(store, &req.challenge, &req.code, now_secs()))
            .await?;
    Ok(session_response(&state, counted(&state, Kind::AuthMfa, None, &ip, r)?, None))
}

#[derive(Deserialize, ToSchema)]
pub struct EnrolStartRequest {
    pub name: String,
    /// The one-time secret `rollguard user add` printed.
    pub enrolment_secret: String,
}

#[derive(Serialize, ToSchema)]
pub struct EnrolStartResponse {
    pub challenge: String,
    /// Base32; add it to an authenticator app, or use the URI.
    pub totp_secret: String,
    pub otpauth_uri: String,
    pub expires_at: i64,
}

#[derive(Deserialize, ToSchema)]
pub struct EnrolFinishRequest {
    pub challenge: String,
    /// The new password: 12 characters or more, not a common password.
    pub password: String,
    /// A current code from the authenticator, proving the secret was saved.
    pub code: String,
}

#[derive(Serialize, ToSchema)]
pub struct Enrolled {
    #[serde(flatten)]
    pub session: SessionGranted,
    /// Shown once. Each works once in place of a TOTP code.
    pub recovery_codes: Vec<String>,
}

/// First login: exchange the enrolment secret for a TOTP secret.
#[utoipa::path(post, path = "/api/v1/auth/enrol/start", tag = "auth", request_body = EnrolStartRequest,
    responses((status = 200, body = EnrolStartResponse), (status = 401, body = Problem), (status = 429, body = Problem)))]
pub async fn enrol_start(
    State(state): State<Arc<AppState>>,
    ip: ClientIp,
    Json(req): Json<EnrolStartRequest>,
) -> Result<Response, ApiError> {
    throttle(&state, &ip)?;
    let name = req.name.clone();
    let r = with_accounts(&state, move |a, store| {
        a.enrol_start(store, &req.name, &req.enrolment_secret, now_secs())
    })
    .await?;
    let s = counted(&state, Kind::AuthEnrol, Some(&name), &ip, r)?;
    let mut resp = Json(EnrolStartResponse {
        challenge: s.challenge.expose().to_owned(),
        totp_secret: s.totp_secret.base32().to_string(),
        otpauth_uri: s.otpauth_uri.to_string(),
        expires_at: s.expires_at,
    })
    .into_response();
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

/// First login, continued: set the password, prove the TOTP secret; returns a session and
/// recovery codes.
#[utoipa::path(post, path = "/api/v1/auth/enrol/finish", tag = "auth", request_body = EnrolFinishRequest,
    responses((status = 200, body = Enrolled), (status = 401, body = Problem), (status = 422, body = Problem), (status = 429, body = Problem)))]
pub async fn enrol_finish(
    State(state): State<Arc<AppState>>,
    ip: ClientIp,
    Json(req): Json<EnrolFinishRequest>,
) -> Result<Response, ApiError> {
    throttle(&state, &ip)?;
    let r = with_accounts(&state, move |a, store| {
        a.enrol_finish(store, &req.challenge, &req.password, &req.code, now_secs())
    })
    .await?;
    let done = counted(&state, Kind::AuthEnrol, None, &ip, r)?;
    let codes = done.recovery_codes.iter().map(|c| c.to_string()).collect();
    Ok(session_response(&state, done.session, Some(codes)))
}

/// Ends the current session.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth",
    responses((status = 204, description = "Logged out"), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn logout(
    State(state): State<Arc<AppState>>,
    Caller(who): Caller,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let Some(cred) = Credential::from_headers(&headers) else {
        return Err(ApiError::unauthorized("no session"));
    };
    let token = cred.secret().to_owned();
    state.lanes.forget(&hash_secret(&token));
    with_accounts(&state, move |a, store| a.logout(store, &token, now_secs())).await??;
    let ev = crate::audit::event(Kind::AuthLogout, Outcome::Success, Some(&who));
    crate::audit::note(&state.audit, ev);
    let mut resp = StatusCode::NO_CONTENT.into_response();
    let secure = if state.config.secure_cookies { "; Secure" } else { "" };
    if let Ok(v) = HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}"
    )) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    Ok(resp)
}

#[derive(Serialize, ToSchema)]
pub struct Me {
    pub name: String,
    pub kind: String,
    /// `role@AUTHORITY` (or `role@*`).
    pub grants: Vec<String>,
    /// For API tokens: the permissions the token is limited to.
    pub token_permissions: Option<Vec<String>>,
}

/// Who the caller is and what it holds.
#[utoipa::path(get, path = "/api/v1/me", tag = "auth", responses((status = 200, body = Me), (status = 401, body = Problem)))]
pub async fn me(Caller(p): Caller) -> Json<Me> {
    Json(Me {
        name: p.name.clone(),
        kind: p.kind.code().to_owned(),
        grants: p.access.grants.iter().map(|g| format!("{}@{}", g.role, g.scope.code())).collect(),
        token_permissions: p
            .access
            .token_scope
            .as_ref()
            .map(|(perms, _)| perms.iter().map(|p| p.code().to_owned()).collect()),
    })
}

#[derive(Serialize, ToSchema)]
pub struct PasskeyOptions {
    /// Send back with the authenticator's answer.
    pub challenge: String,
    /// WebAuthn options for `navigator.credentials.create()` or `.get()`.
    #[schema(value_type = Object)]
    pub options: serde_json::Value,
}

#[derive(Deserialize, ToSchema)]
pub struct PasskeyRegistration {
    pub challenge: String,
    /// A name for the authenticator ("work laptop").
    pub label: String,
    /// The `PublicKeyCredential` from `navigator.credentials.create()`, as JSON.
    #[schema(value_type = Object)]
    pub credential: serde_json::Value,
}

#[derive(Serialize, ToSchema)]
pub struct PasskeyRegistered {
    pub id: u64,
}

#[derive(Deserialize, ToSchema)]
pub struct PasskeyStart {
    /// The challenge from `/auth/login`.
    pub challenge: String,
}

#[derive(Deserialize, ToSchema)]
pub struct PasskeyAssertion {
    pub challenge: String,
    /// The `PublicKeyCredential` from `navigator.credentials.get()`, as JSON.
    #[schema(value_type = Object)]
    pub credential: serde_json::Value,
}

fn to_json(v: &impl Serialize) -> Result<serde_json::Value, ApiError> {
    serde_json::to_value(v).map_err(|_| ApiError::internal())
}

fn credential<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> Result<T, ApiError> {
    serde_json::from_value(v)
        .map_err(|e| ApiError::bad_request(format!("credential: not a WebAuthn credential ({e})")))
}

/// Starts registering a passkey for the logged-in person.
#[utoipa::path(post, path = "/api/v1/auth/passkeys/register/start", tag = "auth",
    responses((status = 200, body = PasskeyOptions), (status = 400, body = Problem), (status = 401, body = Problem)))]
pub async fn passkey_register_start(
    State(state): State<Arc<AppState>>,
    Caller(me): Caller,
) -> Result<Json<PasskeyOptions>, ApiError> {
    let (challenge, options) =
        with_accounts(&state, move |a, store| a.passkey_register_start(store, &me, now_secs())).await??;
    Ok(Json(PasskeyOptions { challenge: challenge.expose().to_owned(), options: to_json(&options)? }))
}

/// Verifies the authenticator's answer and keeps the passkey.
#[utoipa::path(post, path = "/api/v1/auth/passkeys/register/finish", tag = "auth", request_body = PasskeyRegistration,
    responses((status = 201, body = PasskeyRegistered), (status = 400, body = Problem), (status = 401, body = Problem)))]
pub async fn passkey_register_finish(
    State(state): State<Arc<AppState>>,
    Caller(me): Caller,
    Json(req): Json<PasskeyRegistration>,
) -> Result<(StatusCode, Json<PasskeyRegistered>), ApiError> {
    let cred = credential(req.credential)?;
    let id = with_accounts(&state, move |a, store| {
        a.passkey_register_finish(store, &me, &req.challenge, &cred, &req.label, now_secs())
    })
    .await??;
    Ok((StatusCode::CREATED, Json(PasskeyRegistered { id })))
}

/// Step two with a passkey: exchanges the password step's challenge for WebAuthn options.
#[utoipa::path(post, path = "/api/v1/auth/passkey/start", tag = "auth", request_body = PasskeyStart,
    responses((status = 200, body = PasskeyOptions), (status = 401, body = Problem), (status = 403, body = Problem), (status = 429, body = Problem)))]
pub async fn passkey_start(
    State(state): State<Arc<AppState>>,
    ip: ClientIp,
    Json(req): Json<PasskeyStart>,
) -> Result<Json<PasskeyOptions>, ApiError> {
    throttle(&state, &ip)?;
    let r = with_accounts(&state, move |a, store| a.login_passkey_start(store, &req.challenge, now_secs()))
        .await?;
    let (challenge, options) = counted(&state, Kind::AuthMfa, None, &ip, r)?;
    Ok(Json(PasskeyOptions { challenge: challenge.expose().to_owned(), options: to_json(&options)? }))
}

/// Step two with a passkey, finished: the signed assertion gives a session.
#[utoipa::path(post, path = "/api/v1/auth/passkey/finish", tag = "auth", request_body = PasskeyAssertion,
    responses((status = 200, body = SessionGranted), (status = 400, body = Problem), (status = 401, body = Problem), (status = 429, body = Problem)))]
pub async fn passkey_finish(
    State(state): State<Arc<AppState>>,
    ip: ClientIp,
    Json(req): Json<PasskeyAssertion>,
) -> Result<Response, ApiError> {
    throttle(&state, &ip)?;
    let cred = credential(req.credential)?;
    let r = with_accounts(&state, move |a, store| {
        a.login_passkey_finish(store, &req.challenge, &cred, now_secs())
    })
    .await?;
    Ok(session_response(&state, counted(&state, Kind::AuthMfa, None, &ip, r)?, None))
}
