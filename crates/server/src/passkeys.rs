//! Passkeys over HTTP: registering one from a logged-in session, and signing in with one
//! after the password step.

use crate::auth::{Caller, ClientIp};
use crate::extract::{blocking, ApiJson};
use crate::problem::{ApiError, Problem};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::ToSchema;

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
    #[schema(max_length = 64)]
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
    serde_json::from_value(v).map_err(|_| {
        ApiError::invalid_field(
            "the credential is not a WebAuthn PublicKeyCredential",
            "credential",
            "not a WebAuthn credential",
        )
    })
}

/// Starts registering a passkey for the logged-in person.
#[utoipa::path(post, path = "/api/v1/auth/passkeys/register/start", tag = "auth", security(("bearer" = []), ("session" = [])),
    responses((status = 200, body = PasskeyOptions), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 429, body = Problem), (status = 503, body = Problem)))]
pub async fn passkey_register_start(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    _body: axum::body::Bytes,
) -> Result<Json<PasskeyOptions>, ApiError> {
    let svc = state.service.clone();
    let (challenge, options) = blocking(move || svc.passkey_register_start(&caller.0)).await?;
    Ok(Json(PasskeyOptions { challenge: challenge.expose().to_owned(), options: to_json(&options)? }))
}

/// Verifies the authenticator's answer and keeps the passkey.
#[utoipa::path(post, path = "/api/v1/auth/passkeys/register/finish", tag = "auth", request_body = PasskeyRegistration,
    security(("bearer" = []), ("session" = [])),
    responses((status = 201, body = PasskeyRegistered), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 413, body = Problem), (status = 415, body = Problem),
        (status = 422, body = Problem), (status = 429, body = Problem), (status = 503, body = Problem)))]
pub async fn passkey_register_finish(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiJson(req): ApiJson<PasskeyRegistration>,
) -> Result<(StatusCode, Json<PasskeyRegistered>), ApiError> {
    let cred = credential(req.credential)?;
    let svc = state.service.clone();
    let id =
        blocking(move || svc.passkey_register_finish(&caller.0, &req.challenge, cred, &req.label)).await?;
    Ok((StatusCode::CREATED, Json(PasskeyRegistered { id })))
}

/// Step two with a passkey: exchanges the password step's challenge for WebAuthn options.
#[utoipa::path(post, path = "/api/v1/auth/passkey/start", tag = "auth", request_body = PasskeyStart,
    responses((status = 200, body = PasskeyOptions), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 413, body = Problem), (status = 415, body = Problem),
        (status = 422, body = Problem), (status = 429, body = Problem), (status = 503, body = Problem)))]
pub async fn passkey_start(
    State(state): State<Arc<AppState>>,
    ip: ClientIp,
    ApiJson(req): ApiJson<PasskeyStart>,
) -> Result<Json<PasskeyOptions>, ApiError> {
    state.login_limiter.check(&ip.0).map_err(ApiError::too_many)?;
    let svc = state.service.clone();
    let (challenge, options) =
        blocking(move || svc.passkey_login_start(&req.challenge, &ip.0.to_string())).await?;
    Ok(Json(PasskeyOptions { challenge: challenge.expose().to_owned(), options: to_json(&options)? }))
}

/// Step two with a passkey, finished: the signed assertion gives a session.
#[utoipa::path(post, path = "/api/v1/auth/passkey/finish", tag = "auth", request_body = PasskeyAssertion,
    responses((status = 200, body = crate::auth::SessionGranted), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 413, body = Problem), (status = 415, body = Problem),
        (status = 422, body = Problem), (status = 429, body = Problem), (status = 503, body = Problem)))]
pub async fn passkey_finish(
    State(state): State<Arc<AppState>>,
    ip: ClientIp,
    ApiJson(req): ApiJson<PasskeyAssertion>,
) -> Result<Response, ApiError> {
    state.login_limiter.check(&ip.0).map_err(ApiError::too_many)?;
    let cred = credential(req.credential)?;
    let svc = state.service.clone();
    let session = blocking(move || svc.passkey_login_finish(&req.challenge, cred, &ip.0.to_string())).await?;
    Ok(crate::auth::session_response_for(&state, session))
}
