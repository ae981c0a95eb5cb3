//! The replay's harness: a server on a loopback port and a plain HTTP client.

use crate::context::{Context, Result};
use std::path::Path;
use std::time::Duration;

pub(super) struct Http {
    base: String,
    agent: ureq::Agent,
}

impl Http {
    pub(super) fn new(base: &str) -> Self {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(600)))
            .build()
            .into();
        Self { base: base.to_owned(), agent }
    }

    pub(super) fn get(&self, path: &str, bearer: Option<&str>) -> (u16, String) {
        let mut req = self.agent.get(format!("{}{path}", self.base));
        if let Some(b) = bearer {
            req = req.header("authorization", format!("Bearer {b}"));
        }
        match req.call() {
            // Supplies run to hundreds of megabytes: no body limit here.
            Ok(mut r) => {
                let status = r.status().as_u16();
                match r.body_mut().with_config().limit(u64::MAX).read_to_string() {
                    Ok(body) => (status, body),
                    Err(e) => (0, format!("reading the response: {e}")),
                }
            }
            Err(e) => (0, e.to_string()),
        }
    }

    pub(super) fn post(&self, path: &str, bearer: Option<&str>, body: &serde_json::Value) -> (u16, String) {
        let mut req =
            self.agent.post(format!("{}{path}", self.base)).header("content-type", "application/json");
        if let Some(b) = bearer {
            req = req.header("authorization", format!("Bearer {b}"));
        }
        match req.send(body.to_string()) {
            Ok(mut r) => (r.status().as_u16(), r.body_mut().read_to_string().unwrap_or_default()),
            Err(e) => (0, e.to_string()),
        }
    }
}

/// The server on a loopback port, in its own runtime thread.
pub(super) struct Server {
    pub(super) base: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    pub(super) fn start(ctx: &Context, alerts: &Path) -> Result<Self> {
        let svc = ctx.service_with(
            crate::access::serving(4),
            rollguard_access::AccountsConfig::default(),
            rollguard_service::Policy::default(),
        )?;
        let config = rollguard_server::ServerConfig { secure_cookies: false, ..Default::default() };
        let state = crate::access::state_with_alert_file(ctx, svc, config, alerts)?;
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
        let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
        let base = format!("http://{}", listener.local_addr()?);
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            rt.block_on(async move {
                let stop = async {
                    let _ = rx.await;
                };
                if let Err(e) = rollguard_server::serve(listener, state, stop).await {
                    eprintln!("rollguard: replay server: {e}");
                }
            });
        });
        Ok(Self { base, stop: Some(tx), thread: Some(thread) })
    }

    /// Stops the server and waits until its audit log is closed.
    pub(super) fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
