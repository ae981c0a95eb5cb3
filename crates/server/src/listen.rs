//! Accepting connections and serving HTTP/1.1 on them, with bounds a slow or silent client
//! cannot get round: a connection must send a whole request head within the header timeout
//! (idle keep-alive connections included), and at most `max_connections` are held at once.

use crate::state::AppState;
use crate::PeerAddr;
use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tower::ServiceExt;

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// Where connections come from.
pub(crate) enum Incoming {
    Plain(TcpListener),
    Tls(crate::tls::TlsListener),
}

impl Incoming {
    async fn accept(&mut self) -> (Box<dyn Io>, SocketAddr) {
        match self {
            Incoming::Plain(l) => loop {
                match l.accept().await {
                    Ok((s, peer)) => {
                        let _ = s.set_nodelay(true);
                        return (Box::new(s), peer);
                    }
                    Err(e) => {
                        // Out of file descriptors and the like: pause rather than spin.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    }
                }
            },
            Incoming::Tls(l) => {
                let (s, peer) = l.next().await;
                (Box::new(s), peer)
            }
        }
    }
}

/// Serves `app` on connections from `incoming` until `shutdown` resolves, then lets the
/// connections in flight finish.
pub(crate) async fn serve(
    mut incoming: Incoming,
    state: Arc<AppState>,
    app: axum::Router,
    shutdown: impl std::future::Future<Output = ()> + Send,
) {
    let permits = Arc::new(tokio::sync::Semaphore::new(state.config.max_connections.max(1)));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut connections = tokio::task::JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
            _ = &mut shutdown => break,
        };
        let (io, peer) = tokio::select! {
            c = incoming.accept() => c,
            _ = &mut shutdown => break,
        };
        let service = app.clone().map_request(move |mut req: hyper::Request<hyper::body::Incoming>| {
            req.extensions_mut().insert(ConnectInfo(PeerAddr(peer)));
            req.map(axum::body::Body::new)
        });
        let header_timeout = state.config.header_timeout;
        let mut stop = stop_rx.clone();
        connections.spawn(async move {
            let _permit = permit;
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder.timer(TokioTimer::new()).header_read_timeout(header_timeout).keep_alive(true);
            let conn = builder
                .serve_connection(TokioIo::new(io), hyper_util::service::TowerToHyperService::new(service));
            tokio::pin!(conn);
            tokio::select! {
                r = conn.as_mut() => {
                    if let Err(e) = r {
                        tracing::debug!(error = %e, "connection ended");
                    }
                }
                _ = async { let _ = stop.wait_for(|s| *s).await; } => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
        });
        // Reap finished connections as we go, so the set does not grow.
        while connections.try_join_next().is_some() {}
    }
    let _ = stop_tx.send(true);
    while connections.join_next().await.is_some() {}
}
