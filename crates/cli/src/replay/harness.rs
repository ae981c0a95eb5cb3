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
        self.send_json("POST", path, bearer, body)
    }

    pub(super) fn patch(&self, path: &str, bearer: Option<&str>, body: &serde_json::Value) -> (u16, String) {
        self.send_json("PATCH", path, bearer, body)
    }

    fn send_json(
        &self,
        method: &str,
        path: &str,
        bearer: Option<&str>,
        body: &serde_json::Value,
    ) -> (u16, String) {
        let url = format!("{}{path}", self.base);
        let req = match method {
            "PATCH" => self.agent.patch(url),
            _ => self.agent.post(url),
        };
        let mut req = req.header("content-type", "application/json");
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
    state: std::sync::Arc<rollguard_server::state::AppState>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    pub(super) fn start(ctx: &Context, alerts: &Path) -> Result<Self> {
        let clock = std::sync::Arc::new(rollguard_service::SystemClock);
        Ok(Self::start_on(ctx, alerts, rollguard_service::Policy::default(), (clock, false))?.0)
    }

    /// A server with `policy`, telling the time by `clock`; and its service, to look at
    /// what it recorded.
    pub(super) fn start_on(
        ctx: &Context,
        alerts: &Path,
        policy: rollguard_service::Policy,
        (clock, simulated): (std::sync::Arc<dyn rollguard_service::Clock>, bool),
    ) -> Result<(Self, rollguard_service::Service)> {
        let accounts = rollguard_access::AccountsConfig::default();
        let svc = ctx.service_on_clock(crate::access::serving(4), accounts, policy, clock)?;
        let handle = svc.clone();
        let mut config = rollguard_server::ServerConfig { secure_cookies: false, ..Default::default() };
        if simulated {
            // Simulated days pass in wall-clock seconds, and the per-process flood guards
            // (logins per address, requests per principal) count wall-clock time: a week of an
            // office's work from one loopback address in a minute would look like a flood.
            config.login_rate = rollguard_server::limits::Rate { burst: 10_000, per_second: 1_000.0 };
            config.principal_rate = rollguard_server::limits::Rate { burst: 100_000, per_second: 100_000.0 };
        }
        let state = crate::access::state_with_alert_file(ctx, svc, config, alerts)?;
        let watched = state.clone();
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
        Ok((Self { base, state: watched, stop: Some(tx), thread: Some(thread) }, handle))
    }

    /// Whether detection has read every event the register has committed (nothing waiting
    /// to be sequenced, and its position at the log's end).
    pub(super) fn detected_all(&self) -> Result<bool> {
        let queued = self.state.service.register().read(|tx| tx.outbox_len())?;
        let position = self.state.detection.position.load(std::sync::atomic::Ordering::SeqCst);
        Ok(queued == 0 && position >= self.state.log.size())
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

pub(super) fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
