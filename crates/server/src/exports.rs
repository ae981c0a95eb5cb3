//! Register exports, streamed: rows go out as they are opened, so an export of a large
//! authority never sits whole in memory.

use crate::auth::Caller;
use crate::problem::{ApiError, Problem};
use crate::state::AppState;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use rollguard_access::Permission;
use rollguard_vault::RegisterKind;
use serde::Deserialize;
use std::io::Write;
use std::sync::Arc;
use tokio::sync::mpsc;
use utoipa::IntoParams;

#[derive(Deserialize, IntoParams)]
pub struct ExportQuery {
    /// `full` (every registered elector; anonymous entries as number and N) or `open`.
    pub kind: String,
    /// Who the supply is for (a party, a credit agency…); defaults to the caller. Each
    /// supply carries watermark entries unique to it, recorded against this recipient.
    pub recipient: Option<String>,
}

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

/// The full or open register of an authority as CSV.
#[utoipa::path(get, path = "/api/v1/authorities/{authority}/register", tag = "exports",
    params(("authority" = String, Path, description = "Authority code"), ExportQuery),
    responses((status = 200, description = "Register CSV", content_type = "text/csv", body = String),
        (status = 400, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 423, body = Problem, description = "Exports are frozen by an automatic response")))]
pub async fn register(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(authority): Path<String>,
    Query(q): Query<ExportQuery>,
) -> Result<Response, ApiError> {
    if !caller.0.access.allows(Permission::RegisterExport, &authority) {
        return Err(ApiError::forbidden(format!("no register:export grant for authority {authority}")));
    }
    let kind = match q.kind.as_str() {
        "full" => RegisterKind::Full,
        "open" => RegisterKind::Open,
        _ => return Err(ApiError::bad_request("kind: `full` or `open`")),
    };
    if state.detection.exports_frozen() {
        return Err(ApiError::new(axum::http::StatusCode::LOCKED, "exports-frozen", "Exports are frozen")
            .detail(
                "an automatic response to an alert froze exports; an administrator can lift the freeze",
            ));
    }
    let recipient = q
        .recipient
        .clone()
        .map(|r| r.trim().to_owned())
        .filter(|r| !r.is_empty())
        .unwrap_or_else(|| caller.0.name.clone());
    if recipient.len() > 200 || recipient.chars().any(char::is_control) {
        return Err(ApiError::bad_request("recipient: at most 200 characters, no control characters"));
    }
    let code = authority.to_ascii_uppercase();
    // The export's audit event lists every elector it will carry, and is durable before the
    // first byte leaves. Canary electors are never supplied (a supply is legitimate, and a
    // canary in it would be a false alarm); each supply instead carries its own watermark
    // entries, recorded in the sealed registry first.
    let (log, who) = (state.audit.clone(), caller.0.clone());
    let kind_name = q.kind.clone();
    let (electors, marks, seq) = state
        .pool
        .run(move |v| -> Result<(Vec<rollguard_vault::Elector>, Vec<rollguard_vault::Mark>, u64), ApiError> {
            let table = v.franchise_table(&code)?.clone();
            let mut names = rollguard_synth::Generator::new(
                rand::random(),
                table,
                time::OffsetDateTime::now_utc().date(),
            )
            .map(|t| (t.given_names, t.surname));
            let supply = v.prepare_supply(&code, kind, &recipient, &who.name, &mut names)?;
            let ev = crate::audit::event(
                rollguard_audit::Kind::RegisterExport,
                rollguard_audit::Outcome::Success,
                Some(&who),
            )
            .authority(code)
            .detail("kind", kind_name)
            .detail("recipient", recipient)
            .detail("supply", supply.id)
            .detail("watermarks", supply.marks.len().to_string())
            .detail("count", supply.included.len().to_string())
            .electors(supply.included);
            Ok((supply.electors, supply.marks, crate::audit::submit(&log, ev)?))
        })
        .await??;
    crate::audit::durable(&state.audit, seq).await?;
    let (tx, rx) = mpsc::channel::<std::io::Result<Vec<u8>>>(4);
    tokio::task::spawn_blocking(move || {
        let err_tx = tx.clone();
        let mut w = ChannelWriter { tx, buf: Vec::with_capacity(CHUNK) };
        let r = rollguard_vault::write_register_marked(&electors, kind, &marks, &mut w)
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
    if let Ok(v) =
        HeaderValue::from_str(&format!("attachment; filename=\"{authority}-{}-register.csv\"", q.kind))
    {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(resp)
}
