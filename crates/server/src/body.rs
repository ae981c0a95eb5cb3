//! Request bodies read whole before the handler runs. A refusal that never looks at the body
//! (401, 403, 429, …) would otherwise be written while the body may still be arriving; hyper
//! then closes the connection without saying so, and a keep-alive client's next request on it
//! fails. Bodies up to the body limit are read first; anything else that is refused unread, or
//! cut off by the shedder or the timeout, is answered with `Connection: close`.

use crate::problem::ApiError;
use crate::state::AppState;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

/// The body's declared length, if it has one.
fn declared_length(headers: &HeaderMap) -> Option<usize> {
    headers.get(header::CONTENT_LENGTH)?.to_str().ok()?.trim().parse().ok()
}

/// Whether a request carries a body (chunked, or a non-zero length).
pub(crate) fn has_body(headers: &HeaderMap) -> bool {
    headers.contains_key(header::TRANSFER_ENCODING) || declared_length(headers).is_some_and(|n| n > 0)
}

/// Tells the client the connection ends with this response.
pub(crate) fn closing(mut response: Response) -> Response {
    response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

pub(crate) async fn read_whole(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    if !has_body(req.headers()) {
        return next.run(req).await;
    }
    match declared_length(req.headers()) {
        Some(n)
            if n <= state.config.max_body_bytes && !req.headers().contains_key(header::TRANSFER_ENCODING) =>
        {
            let (parts, body) = req.into_parts();
            match axum::body::to_bytes(body, n).await {
                Ok(bytes) => next.run(Request::from_parts(parts, Body::from(bytes))).await,
                Err(_) => closing(
                    ApiError::bad_request("the request body ended before its Content-Length").into_response(),
                ),
            }
        }
        // Larger (a route with a limit of its own, such as a mail scan) or chunked: the handler
        // reads it as it needs, and the connection is not reused.
        _ => closing(next.run(req).await),
    }
}
