//! RFC 9457 problem details. Every error leaves as `application/problem+json` with a stable
//! `type`, a human title and, for bad input, the fields at fault, never their values.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use rollguard_access::AccessError;
use rollguard_vault::VaultError;
use serde::Serialize;
use utoipa::ToSchema;

/// One bad field: its name and the rule it broke.
#[derive(Debug, Serialize, ToSchema)]
pub struct FieldProblem {
    pub field: String,
    pub rule: String,
}

/// RFC 9457 problem details.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// A URI naming the kind of problem.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldProblem>,
}

#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    kind: &'static str,
    title: &'static str,
    detail: Option<String>,
    errors: Vec<FieldProblem>,
    retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, kind: &'static str, title: &'static str) -> Self {
        Self { status, kind, title, detail: None, errors: Vec::new(), retry_after: None }
    }

    pub fn detail(mut self, d: impl Into<String>) -> Self {
        self.detail = Some(d.into());
        self
    }

    pub fn retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs.max(1));
        self
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }

    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not-found", "Not found")
    }

    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", "Authentication required").detail(detail)
    }

    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", "Not allowed").detail(detail)
    }

    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad-request", "Bad request").detail(detail)
    }

    pub fn too_many(retry: u64) -> Self {
        Self::new(StatusCode::TOO_MANY_REQUESTS, "rate-limited", "Too many requests")
            .detail("slow down and retry after the time given in Retry-After")
            .retry_after(retry)
    }

    pub fn overloaded(retry: u64) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "overloaded", "Server busy")
            .detail("the server is shedding load; retry after the time given in Retry-After")
            .retry_after(retry)
    }

    pub fn internal() -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "Internal error")
            .detail("the error has been logged (without personal data)")
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Problem {
            kind: format!("https://rollguard.invalid/problems/{}", self.kind),
            title: self.title.to_owned(),
            status: self.status.as_u16(),
            detail: self.detail,
            errors: self.errors,
        };
        let mut resp = (self.status, axum::Json(body)).into_response();
        resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
        if let Some(s) = self.retry_after {
            resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        resp
    }
}

impl From<AccessError> for ApiError {
    fn from(e: AccessError) -> Self {
        use AccessError::*;
        match e {
            InvalidCredentials | ChallengeInvalid | SessionInvalid | TokenInvalid => {
                ApiError::unauthorized(e.to_string())
            }
            NotEnrolled | Suspended => ApiError::forbidden(e.to_string()),
            Password(p) => {
                let mut err =
                    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid-input", "Invalid input")
                        .detail("the password does not meet the policy");
                err.errors.push(FieldProblem { field: "password".into(), rule: p.to_string() });
                err
            }
            UnknownPrincipal(_) => ApiError::not_found().detail(e.to_string()),
            Invalid(d) => ApiError::bad_request(d),
            Store(_) | Keyring(_) | Corrupt(_) => {
                tracing::error!(error = %e, "access failure");
                ApiError::internal()
            }
        }
    }
}

impl From<VaultError> for ApiError {
    fn from(e: VaultError) -> Self {
        use VaultError::*;
        match e {
            UnknownElector(_) | UnknownApplication(_) | UnknownAuthority(_) => ApiError::not_found(),
            Invalid(errs) => {
                let mut err =
                    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid-input", "Invalid input")
                        .detail(format!("{} field(s) are invalid", errs.0.len()));
                err.errors = errs
                    .0
                    .iter()
                    .map(|v| FieldProblem { field: v.field.clone(), rule: v.rule.to_string() })
                    .collect();
                err
            }
            EmptySearch => ApiError::bad_request(e.to_string()),
            DuplicateNino { .. }
            | PossibleDuplicate { .. }
            | NothingChanged
            | EffectiveBeforeCurrent
            | NumberRequired
            | Lifecycle(_) => {
                ApiError::new(StatusCode::CONFLICT, "conflict", "Conflict").detail(e.to_string())
            }
            Store(rollguard_store::StoreError::VersionConflict { .. }) => {
                ApiError::new(StatusCode::CONFLICT, "conflict", "Conflict").detail(e.to_string())
            }
            Store(_) | Keyring(_) | Open(_) | Import(_) | Corrupt(_) | Io(_) => {
                tracing::error!(error = %e, "register failure");
                ApiError::internal()
            }
        }
    }
}

impl From<crate::state::TaskFailed> for ApiError {
    fn from(e: crate::state::TaskFailed) -> Self {
        tracing::error!(error = %e, "register task");
        ApiError::internal()
    }
}

impl From<tokio::task::JoinError> for ApiError {
    fn from(e: tokio::task::JoinError) -> Self {
        tracing::error!(error = %e, "blocking task");
        ApiError::internal()
    }
}
