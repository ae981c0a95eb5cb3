//! Sink specifications as given on the command line:
//!
//! - `jsonl:PATH`
//! - `syslog-udp:HOST:PORT`, `syslog-tcp:HOST:PORT`
//! - `webhook:URL;secret_file=PATH`
//! - `smtp:HOST:PORT;from=ADDR;to=ADDR[,ADDR…]`
//!
//! Any spec may add `;min_level=LEVEL` (default `low`).

use crate::{EmailSink, JsonLinesSink, Sink, SyslogSink, SyslogTransport, WebhookSink};
use rollguard_detect::Level;
use std::collections::BTreeMap;

pub struct SinkSpec {
    pub sink: Box<dyn Sink>,
    pub min_level: Level,
}

fn level(s: &str) -> Option<Level> {
    Some(match s {
        "informational" => Level::Informational,
        "low" => Level::Low,
        "medium" => Level::Medium,
        "high" => Level::High,
        "critical" => Level::Critical,
        _ => return None,
    })
}

/// Builds a sink from its specification; an error names the part that is wrong.
pub fn parse_sink(spec: &str) -> Result<SinkSpec, String> {
    let mut parts = spec.split(';');
    let head = parts.next().unwrap_or_default();
    let (kind, target) = head.split_once(':').ok_or_else(|| {
        format!("alert sink `{spec}`: expected KIND:TARGET, e.g. jsonl:/var/log/rollguard/alerts.jsonl")
    })?;
    let mut opts = BTreeMap::new();
    for p in parts {
        let (k, v) =
            p.split_once('=').ok_or_else(|| format!("alert sink `{spec}`: option `{p}` is not key=value"))?;
        opts.insert(k.trim().to_owned(), v.trim().to_owned());
    }
    let min_level = match opts.remove("min_level") {
        None => Level::Low,
        Some(l) => level(&l).ok_or_else(|| format!("alert sink `{spec}`: min_level `{l}` is not a level"))?,
    };
    let err = |e: &dyn std::fmt::Display| format!("alert sink `{head}`: {e}");
    let sink: Box<dyn Sink> = match kind {
        "jsonl" => Box::new(JsonLinesSink::open(std::path::Path::new(target)).map_err(|e| err(&e))?),
        "syslog-udp" => Box::new(SyslogSink::new(SyslogTransport::Udp, target).map_err(|e| err(&e))?),
        "syslog-tcp" => Box::new(SyslogSink::new(SyslogTransport::Tcp, target).map_err(|e| err(&e))?),
        "webhook" => {
            let file = opts.remove("secret_file").ok_or_else(|| {
                format!("alert sink `{head}`: a webhook needs ;secret_file=PATH (the HMAC key, never on the command line)")
            })?;
            let secret = std::fs::read(&file).map_err(|e| err(&format!("secret_file {file}: {e}")))?;
            let secret = String::from_utf8_lossy(&secret).trim().as_bytes().to_vec();
            Box::new(WebhookSink::new(target, secret).map_err(|e| err(&e))?)
        }
        "smtp" => {
            let from =
                opts.remove("from").ok_or_else(|| format!("alert sink `{head}`: needs ;from=ADDRESS"))?;
            let to: Vec<String> = opts
                .remove("to")
                .ok_or_else(|| format!("alert sink `{head}`: needs ;to=ADDRESS[,ADDRESS…]"))?
                .split(',')
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect();
            Box::new(EmailSink::new(target, &from, &to).map_err(|e| err(&e))?)
        }
        other => {
            return Err(format!(
            "alert sink `{spec}`: unknown kind `{other}`; use jsonl, syslog-udp, syslog-tcp, webhook or smtp"
        ))
        }
    };
    if let Some(k) = opts.keys().next() {
        return Err(format!("alert sink `{spec}`: unknown option `{k}`"));
    }
    Ok(SinkSpec { sink, min_level })
}
