//! The download of an approved supply, streamed: rows go out as they are opened, so a
//! supply of a large authority never sits whole in memory.

use crate::auth::Caller;
use crate::extract::{blocking, ApiPath};
use crate::problem::{ApiError, Problem};
use crate::state::AppState;
use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use rollguard_vault::RegisterKind;
use std::io::Write;
use std::sync::Arc;
use tokio::sync::mpsc;

/// Forwards written bytes to the response in chunks.
struct ChannelWriter {
    tx: mpsc::Sender<std::io::Result<Vec<u8>>>,
    buf: Vec<u8>,
}

const CHUNK: usize = 64 * 1024;

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.flush()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if !self.buf.is_empty() {
            let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK));
            self.tx
                .blocking_send(Ok(chunk))
                .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "client went away"))?;
        }
        Ok(())
    }
}

/// Collects an approved supply as CSV: once, by whoever asked for it, before its approval
/// lapses. The supply's audit event lists every elector it carries and is durable before
/// the first byte leaves.
#[utoipa::path(get, path = "/api/v1/supplies/{ticket}/register", tag = "exports",
    security(("bearer" = []), ("session" = [])),
    params(("ticket" = String, Path, description = "The approved request's id")),
    responses((status = 200, description = "Register CSV", content_type = "text/csv", body = String),
        (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem, description = "Not approved, refused, already collected or lapsed"),
        (status = 423, body = Problem, description = "Exports are frozen by an automatic response"),
        (status = 429, body = Problem), (status = 503, body = Problem)))]
pub async fn collect_supply(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiPath(ticket): ApiPath<String>,
) -> Result<Response, ApiError> {
    let svc = state.service.clone();
    let supply = blocking(move || svc.collect_supply(&caller.0, &ticket)).await?;
    let (authority, kind) = (supply.authority.clone(), supply.kind);
    let (tx, rx) = mpsc::channel::<std::io::Result<Vec<u8>>>(4);
    tokio::task::spawn_blocking(move || {
        let err_tx = tx.clone();
        let mut w = ChannelWriter { tx, buf: Vec::with_capacity(CHUNK) };
        let r = rollguard_vault::write_register_marked(&supply.electors, supply.kind, &supply.marks, &mut w)
            .map_err(|e| e.to_string())
            .and_then(|n| w.flush().map(|_| n).map_err(|e| e.to_string()));
        if let Err(e) = r {
            tracing::error!(error = %e, "register export stopped");
            let _ = err_tx.blocking_send(Err(std::io::Error::other("export stopped")));
        }
    });
    let stream =
        futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) });
    let mut resp = Body::from_stream(stream).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/csv; charset=utf-8"));
    let code: String = authority.chars().filter(|c| c.is_ascii_alphanumeric()).collect();
    let kind = if kind == RegisterKind::Full { "full" } else { "open" };
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{code}-{kind}-register.csv\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(resp)
}
