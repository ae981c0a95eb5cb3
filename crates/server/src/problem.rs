//! RFC 9457 problem details. Every error leaves as `application/problem+json` with a stable
//! `type`, a human title and, for bad input, the fields at fault, never their values: the
//! use cases' errors, and axum's own refusals of a malformed request alike.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use rollguard_service::{Condition, ServiceError};
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
    #[schema(minimum = 400, maximum = 599)]
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

    pub fn kind(&self) -> &'static str {
        self.kind
    }

    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not-found", "Not found")
    }

    /// Not found, saying what (only where naming it tells the caller nothing it may not know).
    pub fn not_found_because(detail: impl Into<String>) -> Self {
        Self::not_found().detail(detail)
    }

    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", "Authentication required").detail(detail)
    }

    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", "Not allowed").detail(detail)
    }

    /// 422: well formed, but `field` breaks `rule` (a rule no schema states).
    pub fn invalid_field(detail: &str, field: &str, rule: impl Into<String>) -> Self {
        ServiceError::Invalid { detail: detail.into(), fields: vec![(field.into(), rule.into())] }.into()
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

    pub fn method_not_allowed() -> Self {
        Self::new(StatusCode::METHOD_NOT_ALLOWED, "method-not-allowed", "Method not allowed")
            .detail("this route does not take that method; see /openapi.json")
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

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        use ServiceError::*;
        match e {
            Unauthorized(d) => ApiError::unauthorized(d),
            Forbidden(d) => ApiError::forbidden(d),
            NotFound => ApiError::not_found(),
            Invalid { detail, fields } => {
                let mut err =
                    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid-input", "Invalid input")
                        .detail(detail);
                err.errors = fields.into_iter().map(|(field, rule)| FieldProblem { field, rule }).collect();
                err
            }
            BadRequest(d) => ApiError::bad_request(d),
            Conflict(d) => ApiError::new(StatusCode::CONFLICT, "conflict", "Conflict").detail(d),
            BudgetExhausted { window_secs, .. } => {
                let detail = e.to_string();
                ApiError::new(StatusCode::TOO_MANY_REQUESTS, "read-budget", "Read budget exhausted")
                    .detail(detail)
                    .retry_after(window_secs)
            }
            RateLimited { retry_after } => ApiError::too_many(retry_after),
            ExportsFrozen => ApiError::new(StatusCode::LOCKED, "exports-frozen", "Exports are frozen")
                .detail(e.to_string()),
            Import(i) => ApiError::bad_request(i.to_string()),
            Unavailable { condition, message } => {
                tracing::warn!(condition = ?condition, error = %message, "the register cannot take the request");
                unavailable(condition)
            }
            Internal(m) => {
                tracing::error!(error = %m, "register failure");
                ApiError::internal()
            }
        }
    }
}

/// A 503 that names what is wrong, for callers and for readiness.
pub fn unavailable(condition: Condition) -> ApiError {
    match condition {
        Condition::StorageFull => {
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "storage-full", "The register's storage is full")
                .detail("the disk holding the register or its audit log is full; nothing was changed. Service resumes by itself when space is freed")
                .retry_after(30)
        }
        Condition::Busy => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "busy", "The register is busy")
            .detail("another writer holds the register; nothing was changed, retry shortly")
            .retry_after(1),
        Condition::Down => {
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "The register is unavailable")
                .detail("the register database cannot be reached or written; nothing was changed")
                .retry_after(5)
        }
    }
}

/// A parser's message without the values it quotes: serde names a bad value as
/// `invalid type: string "…", expected …`, and a request may carry personal data.
fn without_values(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) =
        ["invalid type: ", "invalid value: "].iter().filter_map(|m| rest.find(m).map(|i| (i, *m))).min()
    {
        let (i, marker) = at;
        out.push_str(&rest[..i + marker.len() - 2]);
        rest = &rest[i + marker.len()..];
        match rest.find(", expected") {
            Some(j) => rest = &rest[j..],
            None => rest = "",
        }
    }
    out.push_str(rest);
    // Whatever else is in double quotes is input too.
    let mut clean = String::with_capacity(out.len());
    let mut quoted = false;
    for c in out.chars() {
        if c == '"' {
            quoted = !quoted;
            if quoted {
                clean.push_str("\"…\"");
            }
        } else if !quoted {
            clean.push(c);
        }
    }
    clean
}

/// A refusal of the request's shape, with its own status (400, 413, 415, 422).
fn malformed(status: StatusCode, what: &str, text: String) -> ApiError {
    let text = without_values(&text);
    let (kind, title) = match status {
        StatusCode::PAYLOAD_TOO_LARGE => ("too-large", "Request body too large"),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ("unsupported-media-type", "Unsupported media type"),
        StatusCode::UNPROCESSABLE_ENTITY => ("invalid-input", "Invalid input"),
        _ => ("bad-request", "Bad request"),
    };
    let status = if status.is_client_error() { status } else { StatusCode::BAD_REQUEST };
    ApiError::new(status, kind, title).detail(format!("{what}: {text}"))
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        malformed(r.status(), "body", r.body_text())
    }
}

impl From<PathRejection> for ApiError {
    fn from(r: PathRejection) -> Self {
        malformed(StatusCode::BAD_REQUEST, "path", r.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        malformed(StatusCode::BAD_REQUEST, "query", r.body_text())
    }
}

impl From<tokio::task::JoinError> for ApiError {
    fn from(e: tokio::task::JoinError) -> Self {
        tracing::error!(error = %e, "blocking task");
        ApiError::internal()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parser_messages_lose_the_values_they_quote() {
        let m = "Failed to deserialize the JSON body into the target type: fields.surname: invalid type: \
                 string \"Okafor\", expected a map at line 1 column 30";
        let clean = without_values(m);
        assert!(!clean.contains("Okafor"), "{clean}");
        assert!(clean.contains("fields.surname: invalid type, expected a map"), "{clean}");
        assert_eq!(without_values("missing field `name`"), "missing field `name`");
        assert!(!without_values("bad \"Adaeze\" here").contains("Adaeze"));
    }
}
