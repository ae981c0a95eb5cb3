//! `rollguard serve`: the register over HTTP.
//!
//! Every route but health, readiness, metrics and the OpenAPI document needs an
//! authenticated caller ([`auth::Caller`]): a session that passed a second factor, or a
//! scoped API token. Requests pass through, outermost first: load shedding by lane
//! ([`limits::Lanes`]), a timeout, a body-size limit, then the handler, which checks the
//! caller's permission on the authority in the path. Errors are RFC 9457 problems.
//! Logs carry method, route template, status and timing, never a path, query or body.
#![forbid(unsafe_code)]

pub mod admin;
pub mod analyst;
pub mod applications;
pub mod audit;
pub mod auth;
mod codes;
pub mod detection;
pub mod detection_api;
pub mod electors;
pub mod exports;
pub mod limits;
pub mod mail;
pub mod metrics;
pub mod problem;
pub mod state;
pub mod tls;

use crate::auth::Credential;
use crate::limits::Lane;
use crate::metrics::{LaneLabels, RequestLabels};
use crate::problem::ApiError;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use rollguard_access::secret::hash_secret;
pub use state::{AppState, Pool, ServerConfig};
use std::sync::Arc;
use std::time::Instant;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::router::UtoipaMethodRouterExt;
use utoipa_axum::routes;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Rollguard",
        description = "The electoral register API. Every login needs a second factor; every route is scoped by role and local authority.",
        license(name = "Apache-2.0")
    ),
    tags(
        (name = "auth", description = "Logins (password, then TOTP or a recovery code), enrolment, sessions"),
        (name = "electors", description = "Electors of one local authority"),
        (name = "applications", description = "Applications to register: received, identity checked, determined"),
        (name = "exports", description = "Register supplies, streamed"),
        (name = "admin", description = "Principals, role grants and API tokens"),
        (name = "audit", description = "The audit log for security analysts: events, proofs, checkpoints"),
        (name = "detection", description = "Detection rules, automatic responses and their reversal"),
        (name = "mail", description = "Mail reconnaissance: scan a message for trackers and spoofed senders"),
        (name = "operations", description = "Health, readiness, metrics")
    ),
    components(schemas(problem::Problem, problem::FieldProblem))
)]
struct ApiDoc;

fn api() -> (Router<Arc<AppState>>, utoipa::openapi::OpenApi) {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(auth::login))
        .routes(routes!(auth::totp))
        .routes(routes!(auth::recovery))
        .routes(routes!(auth::enrol_start))
        .routes(routes!(auth::enrol_finish))
        .routes(routes!(auth::logout))
        .routes(routes!(auth::passkey_register_start))
        .routes(routes!(auth::passkey_register_finish))
        .routes(routes!(auth::passkey_start))
        .routes(routes!(auth::passkey_finish))
        .routes(routes!(auth::me))
        .routes(routes!(electors::search, electors::add))
        .routes(routes!(electors::read, electors::amend, electors::delete))
        .routes(routes!(electors::history))
        .routes(routes!(applications::receive))
        .routes(routes!(applications::show))
        .routes(routes!(applications::identity))
        .routes(routes!(applications::determine))
        .routes(routes!(exports::register))
        .routes(routes!(admin::list_principals, admin::add_principal))
        .routes(routes!(admin::change_grant))
        .routes(routes!(admin::principal_action))
        .routes(routes!(admin::list_tokens, admin::create_token))
        .routes(routes!(admin::revoke_token))
        .routes(routes!(analyst::events))
        .routes(routes!(analyst::checkpoint))
        .routes(routes!(analyst::proof))
        .routes(routes!(analyst::consistency))
        .routes(routes!(detection_api::rules))
        .routes(routes!(detection_api::reload))
        .routes(routes!(detection_api::responses))
        .routes(routes!(detection_api::reverse))
        .routes(routes!(mail::scan).layer(DefaultBodyLimit::max(mail::MAX_MESSAGE_BYTES)))
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(metrics_text))
        .split_for_parts()
}

/// The OpenAPI document, as served at `/openapi.json` and checked in as `openapi.json`.
pub fn openapi() -> utoipa::openapi::OpenApi {
    api().1
}

/// Routes outside load shedding, so probes and scrapes answer during a flood.
const UNSHED: [&str; 4] = ["/healthz", "/readyz", "/metrics", "/openapi.json"];

/// The whole application.
pub fn app(state: Arc<AppState>) -> Router {
    let (router, doc) = api();
    let doc = Arc::new(doc);
    router
        .route("/openapi.json", get(move || async move { Json(doc.as_ref().clone()) }))
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "no-route", "No such route") })
        .layer(DefaultBodyLimit::max(state.config.max_body_bytes))
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
        return ApiError::overloaded(1).into_response();
    };
    next.run(req).await
}

async fn timeout(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    match tokio::time::timeout(state.config.request_timeout, next.run(req)).await {
        Ok(r) => r,
        Err(_) => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "timeout", "Request timed out")
            .retry_after(1)
            .into_response(),
    }
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, description = "Alive", body = String)))]
async fn healthz() -> &'static str {
    "ok"
}

/// Readiness: the register database answers.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses((status = 200, description = "Ready", body = String), (status = 503, body = problem::Problem)))]
async fn readyz(State(state): State<Arc<AppState>>) -> Result<&'static str, ApiError> {
    match state.pool.run(|v| v.authorities().map(|_| ())).await {
        Ok(Ok(())) => Ok("ready"),
        _ => Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "not-ready", "Not ready").retry_after(5)),
    }
}

/// Prometheus metrics (text exposition format).
#[utoipa::path(get, path = "/metrics", tag = "operations", responses((status = 200, description = "Metrics", body = String)))]
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

impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, tokio::net::TcpListener>>
    for PeerAddr
{
    fn connect_info(s: axum::serve::IncomingStream<'_, tokio::net::TcpListener>) -> Self {
        PeerAddr(*s.remote_addr())
    }
}

impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, tls::TlsListener>> for PeerAddr {
    fn connect_info(s: axum::serve::IncomingStream<'_, tls::TlsListener>) -> Self {
        PeerAddr(*s.remote_addr())
    }
}

/// Signs a checkpoint whenever the audit log has grown, every `checkpoint_every`, and hands
/// each new one to the configured witnesses. An operator who later rewrites the log is caught
/// against a witnessed copy (`rollguard audit verify --checkpoint FILE`).
fn spawn_checkpointer(state: &Arc<AppState>) {
    let log = state.audit.clone();
    let (every, dir, url) =
        (state.config.checkpoint_every, state.config.witness_dir.clone(), state.config.witness_url.clone());
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        let mut signed = u64::MAX;
        loop {
            tick.tick().await;
            if log.size() == signed {
                continue;
            }
            let (l, dir, url) = (log.clone(), dir.clone(), url.clone());
            let done = tokio::task::spawn_blocking(move || -> Result<u64, String> {
                let size = l.size();
                let note = l.checkpoint().map_err(|e| e.to_string())?;
                witness(&note, size, dir.as_deref(), url.as_deref());
                Ok(size)
            })
            .await;
            match done {
                Ok(Ok(size)) => signed = size,
                Ok(Err(e)) => tracing::error!(error = %e, "signing an audit checkpoint failed"),
                Err(_) => tracing::error!("the checkpoint task panicked"),
            }
        }
    });
}

/// Signs a checkpoint covering every event when the server stops, so that nothing written
/// since the last periodic checkpoint can later be edited unnoticed.
async fn final_checkpoint(state: &Arc<AppState>) {
    let log = state.audit.clone();
    let (dir, url) = (state.config.witness_dir.clone(), state.config.witness_url.clone());
    let signed = tokio::task::spawn_blocking(move || -> Result<(), String> {
        // Wait for everything queued to be durable, then sign.
        let queued = log.submitted();
        if queued > 0 {
            log.wait(queued - 1).map_err(|e| e.to_string())?;
        }
        let size = log.size();
        let note = log.checkpoint().map_err(|e| e.to_string())?;
        witness(&note, size, dir.as_deref(), url.as_deref());
        Ok(())
    })
    .await;
    match signed {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::error!(error = %e, "signing the final audit checkpoint failed"),
        Err(_) => tracing::error!("the final checkpoint task panicked"),
    }
}

/// Hands a checkpoint to the witnesses; a witness that cannot be reached is logged, and the
/// next checkpoint tries again.
pub fn witness(note: &str, size: u64, dir: Option<&std::path::Path>, url: Option<&str>) {
    if let Some(dir) = dir {
        let tmp = dir.join(format!(".checkpoint-{size}.tmp"));
        let dest = dir.join(format!("checkpoint-{size:012}"));
        if let Err(e) = std::fs::write(&tmp, note).and_then(|_| std::fs::rename(&tmp, &dest)) {
            tracing::error!(error = %e, "writing a checkpoint to the witness directory");
        }
    }
    if let Some(url) = url {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(std::time::Duration::from_secs(10)))
            .build()
            .into();
        if let Err(e) = agent.post(url).header("content-type", "text/plain; charset=utf-8").send(note) {
            tracing::error!(error = %e, "posting a checkpoint to the witness");
        }
    }
}

/// Serves until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: Arc<AppState>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    spawn_checkpointer(&state);
    detection::start(&state);
    let served = axum::serve(listener, app(state.clone()).into_make_service_with_connect_info::<PeerAddr>())
        .with_graceful_shutdown(shutdown)
        .await;
    final_checkpoint(&state).await;
    served
}

/// Serves over TLS until `shutdown` resolves.
pub async fn serve_tls(
    listener: tokio::net::TcpListener,
    tls: Arc<tokio_rustls::rustls::ServerConfig>,
    state: Arc<AppState>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let listener = tls::TlsListener::new(listener, tls)?;
    spawn_checkpointer(&state);
    detection::start(&state);
    let served = axum::serve(listener, app(state.clone()).into_make_service_with_connect_info::<PeerAddr>())
        .with_graceful_shutdown(shutdown)
        .await;
    final_checkpoint(&state).await;
    served
}
