//! Authentication over HTTP: the [`Caller`] extractor every protected endpoint takes, and
//! the login, second-factor and enrolment endpoints, each a thin call of the service.

use crate::extract::{blocking, ApiJson};
use crate::problem::{ApiError, Problem};
use crate::state::AppState;
use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use rollguard_access::secret::{csrf_token_for, hash_secret};
use rollguard_access::{LoginStep, NewSession};
use rollguard_service::Actor;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use subtle::ConstantTimeEq;
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
        h.get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(cookie::Cookie::split_parse)
            .filter_map(Result::ok)
            .find(|c| c.name() == SESSION_COOKIE)
            .map(|c| Credential::Cookie(c.value().to_owned()))
    }

    pub fn secret(&self) -> &str {
        match self {
            Credential::Bearer(s) | Credential::Cookie(s) => s,
        }
    }
}

/// An authenticated caller, within its rate limit, past the CSRF check.
pub struct Caller(pub Actor);

impl Caller {
    pub fn name(&self) -> String {
        self.0.name()
    }
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
            if !safe && !bool::from(sent.ct_eq(csrf_token_for(token).as_bytes())) {
                return Err(ApiError::forbidden(format!(
                    "a request authenticated by the session cookie must carry the session's CSRF token in {CSRF_HEADER}"
                )));
            }
        }
        let client = ClientIp::from_request_parts(parts, state).await?.0;
        let (svc, secret) = (state.service.clone(), cred.secret().to_owned());
        let actor = blocking(move || svc.authenticate(&secret, Some(client.to_string())))
            .await
            .inspect_err(|_| state.lanes.forget(&hash_secret(cred.secret())))?;
        state.lanes.remember(hash_secret(cred.secret()), Duration::from_secs(300));
        if let Some(p) = actor.principal() {
            if let Err(retry) = state.principal_limiter.check(&p.id) {
                state.metrics.rate_limited.inc();
                return Err(ApiError::too_many(retry));
            }
        }
        Ok(Caller(actor))
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

/// Counts a failed login step for the metrics.
fn counted<T>(state: &AppState, r: Result<T, ApiError>) -> Result<T, ApiError> {
    if r.is_err() {
        state.metrics.login_failures.inc();
    }
    r
}

#[derive(Deserialize, ToSchema)]
pub struct PasswordLogin {
    #[schema(min_length = 1, max_length = 64)]
    pub name: String,
    #[schema(max_length = 1024)]
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

fn session_cookie(state: &AppState, value: &str, max_age: i64) -> Option<HeaderValue> {
    let c = cookie::Cookie::build((SESSION_COOKIE, value))
        .path("/")
        .http_only(true)
        .same_site(cookie::SameSite::Strict)
        .secure(state.config.secure_cookies)
        .max_age(cookie::time::Duration::seconds(max_age.max(0)))
        .build();
    HeaderValue::from_str(&c.to_string()).ok()
}

/// The response that hands a new session over: the body, and the session cookie.
pub fn session_response_for(state: &AppState, s: NewSession) -> Response {
    session_response(state, s, None)
}

fn session_response(state: &AppState, s: NewSession, extra: Option<Vec<String>>) -> Response {
    let max_age = s.expires_at - state.service.clock().now_secs();
    let cookie = session_cookie(state, s.token.expose(), max_age);
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
    if let Some(v) = cookie {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    resp
}

/// Step one of a login: name and password. Returns a challenge, never a session.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = PasswordLogin,
    responses((status = 200, body = Challenge), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem, description = "Suspended or not enrolled"), (status = 413, body = Problem),
        (status = 415, body = Problem), (status = 422, body = Problem), (status = 429, body = Problem),
        (status = 503, body = Problem)))]
pub async fn login(
    State(state): State<Arc<AppState>>,
    ip: ClientIp,
    ApiJson(req): ApiJson<PasswordLogin>,
) -> Result<Json<Challenge>, ApiError> {
    throttle(&state, &ip)?;
    let svc = state.service.clone();
    let r = blocking(move || svc.login_password(&req.name, &req.password, &ip.0.to_string())).await;
    let LoginStep::SecondFactor { challenge, expires_at } = counted(&state, r)?;
    Ok(Json(Challenge { challenge: challenge.expose().to_owned(), expires_at }))
}

async fn second_factor(
    state: Arc<AppState>,
    ip: ClientIp,
    req: SecondFactor,
    recovery: bool,
) -> Result<Response, ApiError> {
    throttle(&state, &ip)?;
    let svc = state.service.clone();
    let r = blocking(move || svc.login_second_factor(&req.challenge, &req.code, recovery, &ip.0.to_string()))
        .await;
    Ok(session_response(&state, counted(&state, r)?, None))
}

/// Step two: the challenge and a TOTP code. A code is accepted once.
#[utoipa::path(post, path = "/api/v1/auth/totp", tag = "auth", request_body = SecondFactor,
    responses((status = 200, body = SessionGranted), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 413, body = Problem), (status = 415, body = Problem),
        (status = 422, body = Problem), (status = 429, body = Problem), (status = 503, body = Problem)))]
pub async fn totp(
    State(state): State<Arc<AppState>>,
    ip: ClientIp,
    ApiJson(req): ApiJson<SecondFactor>,
) -> Result<Response, ApiError> {
    second_factor(state, ip, req, false).await
}

/// Step two with a single-use recovery code instead of TOTP.
#[utoipa::path(post, path = "/api/v1/auth/recovery", tag = "auth", request_body = SecondFactor,
    responses((status = 200, body = SessionGranted), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 413, body = Problem), (status = 415, body = Problem),
        (status = 422, body = Problem), (status = 429, body = Problem), (status = 503, body = Problem)))]
pub async fn recovery(
    State(state): State<Arc<AppState>>,
    ip: ClientIp,
    ApiJson(req): ApiJson<SecondFactor>,
) -> Result<Response, ApiError> {
    second_factor(state, ip, req, true).await
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
    responses((status = 200, body = EnrolStartResponse), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 413, body = Problem), (status = 415, body = Problem),
        (status = 422, body = Problem), (status = 429, body = Problem), (status = 503, body = Problem)))]
pub async fn enrol_start(
    State(state): State<Arc<AppState>>,
    ip: ClientIp,
    ApiJson(req): ApiJson<EnrolStartRequest>,
) -> Result<Response, ApiError> {
    throttle(&state, &ip)?;
    let svc = state.service.clone();
    let r = blocking(move || svc.enrol_start(&req.name, &req.enrolment_secret, &ip.0.to_string())).await;
    let s = counted(&state, r)?;
    Ok(Json(EnrolStartResponse {
        challenge: s.challenge.expose().to_owned(),
        totp_secret: s.totp_secret.base32().to_string(),
        otpauth_uri: s.otpauth_uri.to_string(),
        expires_at: s.expires_at,
    })
    .into_response())
}

/// First login, continued: set the password, prove the TOTP secret; returns a session and
/// recovery codes.
#[utoipa::path(post, path = "/api/v1/auth/enrol/finish", tag = "auth", request_body = EnrolFinishRequest,
    responses((status = 200, body = Enrolled), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 413, body = Problem), (status = 415, body = Problem),
        (status = 422, body = Problem), (status = 429, body = Problem), (status = 503, body = Problem)))]
pub async fn enrol_finish(
    State(state): State<Arc<AppState>>,
    ip: ClientIp,
    ApiJson(req): ApiJson<EnrolFinishRequest>,
) -> Result<Response, ApiError> {
    throttle(&state, &ip)?;
    let svc = state.service.clone();
    let r =
        blocking(move || svc.enrol_finish(&req.challenge, &req.password, &req.code, &ip.0.to_string())).await;
    let done = counted(&state, r)?;
    let codes = done.recovery_codes.iter().map(|c| c.to_string()).collect();
    Ok(session_response(&state, done.session, Some(codes)))
}

/// Ends the current session (an API token is not a session: an administrator revokes it).
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", security(("bearer" = []), ("session" = [])),
    responses((status = 204, description = "Logged out"), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 429, body = Problem), (status = 503, body = Problem)))]
pub async fn logout(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    headers: HeaderMap,
    // Read (and ignored) so a client that sends a body keeps its connection reusable.
    _body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let Some(cred) = Credential::from_headers(&headers) else {
        return Err(ApiError::unauthorized("no session"));
    };
    let token = cred.secret().to_owned();
    state.lanes.forget(&hash_secret(&token));
    let svc = state.service.clone();
    blocking(move || svc.logout(&caller.0, &token)).await?;
    let mut resp = StatusCode::NO_CONTENT.into_response();
    if let Some(v) = session_cookie(&state, "", 0) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    Ok(resp)
}

#[derive(Serialize, ToSchema)]
pub struct Me {
    pub name: String,
    /// `human` or `service`.
    pub kind: String,
    /// `role@AUTHORITY` (or `role@*`).
    pub grants: Vec<String>,
    /// For API tokens: the permissions the token is limited to.
    pub token_permissions: Option<Vec<String>>,
}

/// Who the caller is and what it holds.
#[utoipa::path(get, path = "/api/v1/me", tag = "auth", security(("bearer" = []), ("session" = [])),
    responses((status = 200, body = Me), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 429, body = Problem), (status = 503, body = Problem)))]
pub async fn me(Caller(actor): Caller) -> Result<Json<Me>, ApiError> {
    let p = actor.principal().ok_or_else(|| ApiError::unauthorized("not a principal"))?;
    Ok(Json(Me {
        name: p.name.clone(),
        kind: p.kind.code().to_owned(),
        grants: p.access.grants.iter().map(|g| format!("{}@{}", g.role, g.scope.code())).collect(),
        token_permissions: p
            .access
            .token_scope
            .as_ref()
            .map(|(perms, _)| perms.iter().map(|p| p.code().to_owned()).collect()),
    }))
}
