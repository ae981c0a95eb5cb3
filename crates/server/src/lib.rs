//! `rollguard serve`: the register over HTTP. Handlers parse the request, call the one
//! service function of the use case, and present its answer; the rules are the service's.
//!
//! Every route but health, readiness, metrics and the OpenAPI document needs an
//! authenticated caller ([`auth::Caller`]): a session that passed a second factor, or a
//! scoped API token. Requests pass through, outermost first: logging and metrics by route
//! template, load shedding by lane ([`limits::Lanes`]), a timeout, a body-size limit, then
//! the handler. Errors are RFC 9457 problems, axum's own refusals included. Logs carry
//! method, route template, status and timing, never a path, query or body.
#![forbid(unsafe_code)]

pub mod admin;
pub mod analyst;
pub mod applications;
pub mod auth;
mod body;
mod checkpoints;
mod codes;
mod columns_doc;
pub mod detection;
pub mod detection_api;
mod detection_config;
pub mod electors;
pub mod exports;
mod extract;
pub mod limits;
mod listen;
pub mod mail;
pub mod metrics;
mod openapi;
pub mod passkeys;
pub mod problem;
pub mod proposals;
pub mod state;
pub mod supplies;
pub mod tls;

use crate::auth::Credential;
use crate::limits::Lane;
use crate::metrics::{LaneLabels, RequestLabels};
use crate::problem::ApiError;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
pub use checkpoints::witness;
pub use openapi::openapi;
use rollguard_access::secret::hash_secret;
pub use state::{AppState, ServerConfig};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Instant;

/// Routes outside load shedding, so probes and scrapes answer during a flood.
pub(crate) const UNSHED: [&str; 4] = ["/healthz", "/readyz", "/metrics", "/openapi.json"];

/// The whole application.
pub fn app(state: Arc<AppState>) -> Router {
    let (router, doc) = openapi::api();
    let doc = Arc::new(doc);
    router
        .route("/openapi.json", get(move || async move { Json(doc.as_ref().clone()) }))
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "no-route", "No such route") })
        .method_not_allowed_fallback(|| async { ApiError::method_not_allowed() })
        .layer(axum::extract::DefaultBodyLimit::max(state.config.max_body_bytes))
        .layer(axum::middleware::from_fn_with_state(state.clone(), body::read_whole))
        .layer(axum::middleware::from_fn_with_state(state.clone(), timeout))
        .layer(axum::middleware::from_fn_with_state(state.clone(), shed))
        .layer(axum::middleware::from_fn_with_state(state.clone(), observe))
        .with_state(state)
}

/// Logs and counts every request by route template; sets security headers.
async fn observe(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().to_string();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned())
        .unwrap_or_else(|| "(none)".into());
    let mut resp = next.run(req).await;
    let status = resp.status().as_u16();
    let secs = started.elapsed().as_secs_f64();
    state
        .metrics
        .requests
        .get_or_create(&RequestLabels { method: method.clone(), route: route.clone(), status })
        .inc();
    state.metrics.duration.observe(secs);
    tracing::info!(method, route, status, ms = secs * 1000.0, "request");
    let h = resp.headers_mut();
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    h.entry(header::CACHE_CONTROL).or_insert(HeaderValue::from_static("no-store"));
    resp
}

/// Refuses at once (503 + Retry-After) when the request's lane is full.
async fn shed(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    if UNSHED.contains(&req.uri().path()) {
        return next.run(req).await;
    }
    let credential = Credential::from_headers(req.headers()).map(|c| hash_secret(c.secret()));
    let lane = state.lanes.lane_for(credential.as_ref());
    let Some(_permit) = state.lanes.try_enter(lane) else {
        let name = if lane == Lane::Staff { "staff" } else { "general" };
        state.metrics.shed.get_or_create(&LaneLabels { lane: name.into() }).inc();
        let refused = ApiError::overloaded(1).into_response();
        // The body is left unread, so the connection cannot be reused.
        return if body::has_body(req.headers()) { body::closing(refused) } else { refused };
    };
    next.run(req).await
}

async fn timeout(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let with_body = body::has_body(req.headers());
    match tokio::time::timeout(state.config.request_timeout, next.run(req)).await {
        Ok(r) => r,
        Err(_) => {
            let refused = ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "timeout", "Request timed out")
                .retry_after(1)
                .into_response();
            // The body may be half read: the connection cannot be reused.
            if with_body {
                body::closing(refused)
            } else {
                refused
            }
        }
    }
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, description = "Alive", body = String)))]
async fn healthz() -> &'static str {
    "ok"
}

/// Readiness: the register takes writes and the audit log is being sequenced. After a
/// write failed for want of space (or a database that went away), readiness tries a small
/// write itself, so it turns ready again on its own once the condition clears.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses((status = 200, description = "Ready", body = String), (status = 503, body = problem::Problem)))]
async fn readyz(State(state): State<Arc<AppState>>) -> Result<&'static str, ApiError> {
    let (svc, log) = (state.service.clone(), state.log.clone());
    let checked = tokio::task::spawn_blocking(move || svc.readiness(log.failing())).await?;
    checked.map(|()| "ready").map_err(ApiError::from)
}

/// Prometheus metrics (text exposition format).
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Metrics", body = String, content_type = "application/openmetrics-text")))]
async fn metrics_text(State(state): State<Arc<AppState>>) -> Response {
    let mut r = state.metrics.encode().into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
    );
    r
}

/// The address of the connection's other end (a client, or a proxy).
#[derive(Debug, Clone, Copy)]
pub struct PeerAddr(pub std::net::SocketAddr);

/// The background work of a running server: sequencing the audit outbox into the log,
/// detection, and checkpoints.
fn start_background(
    state: &Arc<AppState>,
    stop: &Arc<AtomicBool>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    let sequencer = rollguard_audit::spawn_sequencer(
        state.log.clone(),
        state.service.register().clone(),
        std::time::Duration::from_millis(100),
        stop.clone(),
    )?;
    detection::start(state);
    checkpoints::spawn(state);
    Ok(sequencer)
}

/// Stops the background work: whatever was committed is sequenced, and a final checkpoint
/// covers it, so nothing written since the last periodic checkpoint can later be edited
/// unnoticed.
async fn finish(state: &Arc<AppState>, stop: Arc<AtomicBool>, sequencer: std::thread::JoinHandle<()>) {
    state.detection.stop();
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let _ = tokio::task::spawn_blocking(move || sequencer.join()).await;
    checkpoints::final_checkpoint(state).await;
}

/// Serves until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: Arc<AppState>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let stop = Arc::new(AtomicBool::new(false));
    let sequencer = start_background(&state, &stop)?;
    listen::serve(listen::Incoming::Plain(listener), state.clone(), app(state.clone()), shutdown).await;
    finish(&state, stop, sequencer).await;
    Ok(())
}

/// Serves over TLS until `shutdown` resolves.
pub async fn serve_tls(
    listener: tokio::net::TcpListener,
    tls: Arc<tokio_rustls::rustls::ServerConfig>,
    state: Arc<AppState>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let listener = tls::TlsListener::new(listener, tls)?;
    let stop = Arc::new(AtomicBool::new(false));
    let sequencer = start_background(&state, &stop)?;
    listen::serve(listen::Incoming::Tls(listener), state.clone(), app(state.clone()), shutdown).await;
    finish(&state, stop, sequencer).await;
    Ok(())
}
