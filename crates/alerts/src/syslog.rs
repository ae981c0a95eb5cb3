//! Syslog, RFC 5424: `<PRI>1 TIMESTAMP HOST rollguard - MSGID [SD] MSG`, facility local0 by
//! default, severity from the alert level. Over UDP one datagram per alert; over TCP with
//! octet counting (RFC 6587 §3.4.1), reconnecting when the connection drops.

use crate::{AlertMessage, Sink, SinkError};
use rollguard_detect::Level;
use std::io::Write;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs, UdpSocket};
use std::time::Duration;

/// Private enterprise number for structured data ids. 32473 is reserved for documentation
/// (RFC 5612); deployments with their own number can change it in one place.
pub const SD_ENTERPRISE: u32 = 32473;
const LOCAL0: u8 = 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyslogTransport {
    Udp,
    Tcp,
}

pub struct SyslogSink {
    transport: SyslogTransport,
    target: SocketAddr,
    facility: u8,
    udp: Option<UdpSocket>,
    tcp: Option<TcpStream>,
}

fn severity(level: Level) -> u8 {
    match level {
        Level::Critical => 2,
        Level::High => 3,
        Level::Medium => 4,
        Level::Low => 5,
        Level::Informational => 6,
    }
}

/// Escapes a structured-data parameter value (RFC 5424 §6.3.3).
fn sd_escape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        if matches!(c, '"' | '\\' | ']') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// PRINTUSASCII without spaces, at most `max` characters, or `-`.
fn header_field(v: &str, max: usize) -> String {
    let s: String = v.chars().filter(|c| c.is_ascii_graphic()).take(max).collect();
    if s.is_empty() {
        "-".into()
    } else {
        s
    }
}

/// Formats one RFC 5424 message.
pub fn format_message(msg: &AlertMessage, facility: u8) -> String {
    let pri = facility * 8 + severity(msg.alert.level);
    let ts = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(msg.raised_at) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_else(|| "-".into());
    let mut sd = format!(
        "[rollguard@{SD_ENTERPRISE} rule=\"{}\" level=\"{}\" event_seq=\"{}\"",
        sd_escape(&msg.alert.rule),
        msg.alert.level,
        msg.alert.event_seq
    );
    for (k, v) in [
        ("principal", &msg.alert.principal),
        ("client", &msg.alert.client),
        ("authority", &msg.alert.authority),
    ] {
        if let Some(v) = v {
            sd.push_str(&format!(" {k}=\"{}\"", sd_escape(v)));
        }
    }
    if let Some(seq) = msg.audit_seq {
        sd.push_str(&format!(" audit_seq=\"{seq}\""));
    }
    sd.push(']');
    // MSG is UTF-8, marked with a BOM as §6.4 asks.
    format!(
        "<{pri}>1 {ts} {} rollguard - alert {sd} \u{feff}{} {}",
        header_field(&msg.host, 255),
        msg.summary(),
        msg.json()
    )
}

impl SyslogSink {
    pub fn new(transport: SyslogTransport, target: &str) -> std::io::Result<Self> {
        let target = target.to_socket_addrs()?.next().ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("{target} resolves to no address"))
        })?;
        Ok(Self { transport, target, facility: LOCAL0, udp: None, tcp: None })
    }

    fn send_tcp(&mut self, frame: &[u8]) -> std::io::Result<()> {
        if self.tcp.is_none() {
            let s = TcpStream::connect_timeout(&self.target, Duration::from_secs(5))?;
            s.set_write_timeout(Some(Duration::from_secs(5)))?;
            self.tcp = Some(s);
        }
        let result = self.tcp.as_mut().expect("connected above").write_all(frame);
        if result.is_err() {
            self.tcp = None;
        }
        result
    }
}

impl Sink for SyslogSink {
    fn name(&self) -> String {
        let t = match self.transport {
            SyslogTransport::Udp => "udp",
            SyslogTransport::Tcp => "tcp",
        };
        format!("syslog-{t}:{}", self.target)
    }

    fn deliver(&mut self, msg: &AlertMessage) -> Result<(), SinkError> {
        let line = format_message(msg, self.facility);
        match self.transport {
            SyslogTransport::Udp => {
                if self.udp.is_none() {
                    let bind: SocketAddr =
                        if self.target.is_ipv4() { "0.0.0.0:0".parse() } else { "[::]:0".parse() }
                            .expect("literal address");
                    self.udp = Some(UdpSocket::bind(bind)?);
                }
                self.udp.as_ref().expect("bound above").send_to(line.as_bytes(), self.target)?;
            }
            SyslogTransport::Tcp => {
                let frame = format!("{} {line}", line.len());
                // One retry on a fresh connection: the receiver may have restarted.
                if self.send_tcp(frame.as_bytes()).is_err() {
                    self.send_tcp(frame.as_bytes())?;
                }
            }
        }
        Ok(())
    }
}
