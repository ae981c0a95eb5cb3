//! Webhook: the alert as JSON, POSTed with an HMAC-SHA256 signature over
//! `timestamp "." body` in `X-Rollguard-Signature: sha256=<hex>` and the timestamp in
//! `X-Rollguard-Timestamp` (so a receiver can refuse replays). Connection failures, 429 and
//! 5xx answers are retried with exponential backoff; other answers are final.

use crate::{AlertMessage, Sink, SinkError};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::time::Duration;

pub const SIGNATURE_HEADER: &str = "X-Rollguard-Signature";
pub const TIMESTAMP_HEADER: &str = "X-Rollguard-Timestamp";

pub struct WebhookSink {
    url: String,
    secret: Vec<u8>,
    attempts: u32,
    first_backoff: Duration,
    agent: ureq::Agent,
}

/// The signature header value for `body` sent at `timestamp` (seconds).
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

impl WebhookSink {
    pub fn new(url: &str, secret: Vec<u8>) -> Result<Self, SinkError> {
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(SinkError::Delivery(format!("webhook URL {url} is not http:// or https://")));
        }
        if secret.len() < 16 {
            return Err(SinkError::Delivery("the webhook secret must be at least 16 bytes".into()));
        }
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(10)))
            .http_status_as_error(false)
            .build()
            .into();
        Ok(Self {
            url: url.to_owned(),
            secret,
            attempts: 6,
            first_backoff: Duration::from_millis(250),
            agent,
        })
    }

    /// Attempts and the first wait between them (doubling each time).
    pub fn with_retries(mut self, attempts: u32, first_backoff: Duration) -> Self {
        self.attempts = attempts.max(1);
        self.first_backoff = first_backoff;
        self
    }
}

impl Sink for WebhookSink {
    fn name(&self) -> String {
        format!("webhook:{}", self.url)
    }

    fn deliver(&mut self, msg: &AlertMessage) -> Result<(), SinkError> {
        let body = msg.json();
        let mut wait = self.first_backoff;
        let mut last = String::new();
        for attempt in 1..=self.attempts {
            let ts = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
                .unwrap_or(0);
            let result = self
                .agent
                .post(&self.url)
                .header("Content-Type", "application/json")
                .header(TIMESTAMP_HEADER, ts.to_string())
                .header(SIGNATURE_HEADER, sign(&self.secret, ts, body.as_bytes()))
                .send(body.as_bytes());
            match result {
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    if (200..300).contains(&status) {
                        return Ok(());
                    }
                    last = format!("answered {status}");
                    if !(status == 429 || status >= 500) {
                        break;
                    }
                }
                Err(e) => last = e.to_string(),
            }
            if attempt < self.attempts {
                std::thread::sleep(wait);
                wait = (wait * 2).min(Duration::from_secs(60));
            }
        }
        Err(SinkError::Delivery(format!("webhook {}: {last}", self.url)))
    }
}
