//! E-mail over SMTP (plain SMTP to a relay, as on a local network or loopback).

use crate::{AlertMessage, Sink, SinkError};
use lettre::message::{header::ContentType, Mailbox, Message};
use lettre::transport::smtp::SmtpTransport;
use lettre::Transport;

pub struct EmailSink {
    relay: String,
    from: Mailbox,
    to: Vec<Mailbox>,
    transport: SmtpTransport,
}

impl EmailSink {
    /// `relay` is `host:port`.
    pub fn new(relay: &str, from: &str, to: &[String]) -> Result<Self, SinkError> {
        let (host, port) = relay
            .rsplit_once(':')
            .and_then(|(h, p)| Some((h.trim_matches(['[', ']']), p.parse::<u16>().ok()?)))
            .ok_or_else(|| SinkError::Delivery(format!("SMTP relay {relay} is not host:port")))?;
        let from: Mailbox =
            from.parse().map_err(|e| SinkError::Delivery(format!("from address {from}: {e}")))?;
        let to = to
            .iter()
            .map(|t| t.parse::<Mailbox>().map_err(|e| SinkError::Delivery(format!("to address {t}: {e}"))))
            .collect::<Result<Vec<_>, _>>()?;
        if to.is_empty() {
            return Err(SinkError::Delivery("the e-mail sink needs at least one to= address".into()));
        }
        let transport = SmtpTransport::builder_dangerous(host)
            .port(port)
            .timeout(Some(std::time::Duration::from_secs(10)))
            .build();
        Ok(Self { relay: relay.to_owned(), from, to, transport })
    }
}

impl Sink for EmailSink {
    fn name(&self) -> String {
        format!("smtp:{}", self.relay)
    }

    fn deliver(&mut self, msg: &AlertMessage) -> Result<(), SinkError> {
        let mut b =
            Message::builder().from(self.from.clone()).subject(format!("Rollguard alert: {}", msg.summary()));
        for t in &self.to {
            b = b.to(t.clone());
        }
        let a = &msg.alert;
        let mut body = format!(
            "{}\n\nLevel: {}\nRule: {}\nPrincipal: {}\nClient: {}\nAuthority: {}\nEvent: audit index {}\n",
            a.title,
            a.level,
            a.rule,
            a.principal.as_deref().unwrap_or("-"),
            a.client.as_deref().unwrap_or("-"),
            a.authority.as_deref().unwrap_or("-"),
            a.event_seq,
        );
        if let Some(c) = a.count {
            body.push_str(&format!("Count: {c}\n"));
        }
        if !a.response.is_empty() {
            let r: Vec<&str> = a.response.iter().map(|r| r.as_str()).collect();
            body.push_str(&format!("Automatic response: {}\n", r.join(", ")));
        }
        body.push_str(&format!("\nAlert JSON:\n{}\n", msg.json()));
        let email = b
            .header(ContentType::TEXT_PLAIN)
            .body(body)
            .map_err(|e| SinkError::Delivery(format!("building the message: {e}")))?;
        self.transport.send(&email).map_err(|e| SinkError::Delivery(format!("SMTP {}: {e}", self.relay)))?;
        Ok(())
    }
}
