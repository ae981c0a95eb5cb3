//! One message in, a verdict and its findings out. The message is parsed with
//! `mail-parser`; every HTML part goes through `lol_html` (streaming, with a memory cap), and
//! every remote reference it holds is checked.

use crate::html::{self, Reference};
use crate::report::finish;
pub use crate::report::{Finding, FindingKind, Report, Severity, Verdict};
use crate::sender;
use crate::trackers::{TrackerList, UrlContext};
use crate::url::{self, ParsedUrl};
use mail_parser::{Message, MessageParser, MimeHeaders};

/// What to look for beyond the built-in rules.
pub struct ScanConfig {
    pub trackers: TrackerList,
    /// Shortener and redirector hosts (subdomains match).
    pub redirectors: Vec<String>,
    /// Domains worth impersonating: the institution's own, its partners'.
    pub protected_domains: Vec<String>,
    /// Organisations whose name in a display name must come from their domains, e.g.
    /// ("BBC News", ["bbc.co.uk", "bbc.com"]).
    pub organisations: Vec<(String, Vec<String>)>,
}

impl Default for ScanConfig {
    fn default() -> Self {
        Self {
            trackers: TrackerList::builtin(),
            redirectors: include_str!("../data/redirectors.txt")
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(str::to_owned)
                .collect(),
            protected_domains: Vec::new(),
            organisations: Vec::new(),
        }
    }
}

/// Attachment extensions that run code or hide a page that asks for credentials.
const RISKY_EXTENSIONS: &[(&str, Severity)] = &[
    ("exe", Severity::High),
    ("scr", Severity::High),
    ("com", Severity::High),
    ("bat", Severity::High),
    ("cmd", Severity::High),
    ("pif", Severity::High),
    ("js", Severity::High),
    ("jse", Severity::High),
    ("vbs", Severity::High),
    ("vbe", Severity::High),
    ("wsf", Severity::High),
    ("hta", Severity::High),
    ("lnk", Severity::High),
    ("msi", Severity::High),
    ("jar", Severity::High),
    ("ps1", Severity::High),
    ("iso", Severity::High),
    ("img", Severity::High),
    ("vhd", Severity::High),
    ("vhdx", Severity::High),
    ("one", Severity::High),
    ("docm", Severity::High),
    ("xlsm", Severity::High),
    ("pptm", Severity::High),
    ("dotm", Severity::High),
    ("xlam", Severity::High),
    ("html", Severity::Medium),
    ("htm", Severity::Medium),
    ("shtml", Severity::Medium),
    ("svg", Severity::Medium),
    ("rar", Severity::Low),
    ("7z", Severity::Low),
];

pub struct Scanner {
    config: ScanConfig,
    parser: MessageParser,
}

impl Scanner {
    pub fn new(config: ScanConfig) -> Self {
        Self { config, parser: MessageParser::default() }
    }

    pub fn config(&self) -> &ScanConfig {
        &self.config
    }

    /// Scans one message. Never panics on any input; a message that cannot be parsed gets
    /// a `malformed` finding and the verdict `suspicious`.
    pub fn scan(&self, origin: &str, bytes: &[u8], truncated: bool) -> Report {
        let mut findings = Vec::new();
        let mut report = Report {
            origin: origin.to_owned(),
            message_id: None,
            from: None,
            to: Vec::new(),
            subject: None,
            date: None,
            verdict: Verdict::Clean,
            findings: Vec::new(),
            tracking_hosts: Vec::new(),
            url_templates: Vec::new(),
            sender_domain: None,
            bounce_domain: None,
            simhash: None,
            remote_urls: Vec::new(),
        };
        if truncated {
            findings.push(Finding {
                kind: FindingKind::Malformed,
                severity: Severity::Low,
                detail: format!(
                    "message larger than {} MiB; scanned up to the limit",
                    crate::source::MAX_MESSAGE_BYTES >> 20
                ),
                url: None,
            });
        }
        let Some(msg) = self.parser.parse(bytes) else {
            findings.push(Finding {
                kind: FindingKind::Malformed,
                severity: Severity::Medium,
                detail: "not a parseable e-mail message".into(),
                url: None,
            });
            return finish(report, findings);
        };
        self.check_sender(&msg, &mut report, &mut findings);
        // HTML parts, and the references in them.
        let mut refs: Vec<Reference> = Vec::new();
        for i in 0..msg.html_body_count().min(16) {
            if let Some(h) = msg.body_html(i) {
                refs.extend(html::references(&h));
            }
        }
        for r in &refs {
            self.check_reference(r, &mut findings, &mut report);
        }
        check_attachments(&msg, &mut findings);
        report.tracking_hosts.sort();
        report.tracking_hosts.dedup();
        report.url_templates.sort();
        report.url_templates.dedup();
        finish(report, findings)
    }

    /// The headers that identify the message and its sender, the body's SimHash, and the
    /// sender checks (spoofing, look-alikes, authentication results).
    fn check_sender(&self, msg: &Message<'_>, report: &mut Report, findings: &mut Vec<Finding>) {
        report.message_id = msg.message_id().map(str::to_owned);
        report.subject = msg.subject().map(|s| s.chars().take(300).collect());
        report.date = msg.date().map(|d| d.to_timestamp());
        let from = msg.from().and_then(|a| a.first());
        report.from = from.and_then(|a| a.address()).map(|a| a.to_ascii_lowercase());
        report.to = msg
            .to()
            .map(|a| a.iter().filter_map(|x| x.address()).map(|x| x.to_ascii_lowercase()).collect())
            .unwrap_or_default();
        let from_name = from.and_then(|a| a.name());
        let reply_to = msg.reply_to().and_then(|a| a.first()).and_then(|a| a.address());
        let return_path = msg.return_path().as_text();
        let domain =
            |a: &str| a.trim().trim_matches(['<', '>']).rsplit_once('@').map(|(_, d)| sender::registrable(d));
        report.sender_domain = report.from.as_deref().and_then(domain);
        report.bounce_domain = return_path.and_then(domain);
        if let Some(text) = msg.body_text(0) {
            let cut: String = text.chars().take(200_000).collect();
            report.simhash = crate::simhash::simhash(&cut);
        }
        let auth_results: Vec<String> = msg
            .header_values("Authentication-Results")
            .filter_map(|v| v.as_text().map(str::to_owned))
            .collect();
        findings.extend(sender::check(
            &sender::Sender {
                from: report.from.as_deref(),
                display_name: from_name,
                reply_to,
                return_path,
                authentication_results: &auth_results,
            },
            &self.config.protected_domains,
            &self.config.organisations,
        ));
    }

    fn check_reference(&self, r: &Reference, findings: &mut Vec<Finding>, report: &mut Report) {
        let Some(u) = url::parse(&r.url) else { return };
        if matches!(r.kind, html::RefKind::Image | html::RefKind::Link) && report.remote_urls.len() < 200 {
            report.remote_urls.push((r.kind == html::RefKind::Image, r.url.clone()));
        }
        let ctx = match r.kind {
            html::RefKind::Image | html::RefKind::CssUrl => UrlContext::Image,
            html::RefKind::Link => UrlContext::Link,
            html::RefKind::CssImport | html::RefKind::Stylesheet => UrlContext::Stylesheet,
        };
        let mut tracking = false;
        let mut push = |kind: FindingKind, severity: Severity, detail: String| {
            findings.push(Finding { kind, severity, detail, url: Some(r.url.chars().take(500).collect()) });
        };
        if let Some(hit) = self.config.trackers.check(&r.url, ctx) {
            push(
                FindingKind::KnownTracker,
                Severity::Medium,
                format!("matches {} ({})", hit.rule, hit.source),
            );
            tracking = true;
        }
        match r.kind {
            html::RefKind::Image => {
                if r.tiny {
                    push(FindingKind::TrackingPixel, Severity::Medium, "remote image of 0 or 1 pixel".into());
                    tracking = true;
                } else if r.hidden {
                    push(FindingKind::HiddenImage, Severity::Medium, "remote image hidden with CSS".into());
                    tracking = true;
                }
                if u.has_token() {
                    push(
                        FindingKind::TrackingImage,
                        Severity::Medium,
                        "remote image with a per-recipient token".into(),
                    );
                    tracking = true;
                }
            }
            html::RefKind::Link => {
                if u.has_token() {
                    push(FindingKind::TrackingLink, Severity::Low, "link with a per-recipient token".into());
                    tracking = true;
                }
                if is_redirector(&u, &self.config.redirectors) {
                    push(
                        FindingKind::Redirector,
                        Severity::Low,
                        format!("link through the redirector {}", u.host),
                    );
                }
            }
            html::RefKind::CssUrl | html::RefKind::CssImport | html::RefKind::Stylesheet => {
                push(
                    FindingKind::CssBeacon,
                    Severity::Medium,
                    format!("remote CSS fetched on open ({})", r.kind.as_str()),
                );
                tracking = true;
            }
        }
        if u.ip_host {
            push(
                FindingKind::IpAddressHost,
                Severity::Medium,
                format!("reference to the bare address {}", u.host),
            );
        }
        if tracking {
            report.tracking_hosts.push(u.host.clone());
            report.url_templates.push(u.template());
        }
    }
}

fn is_redirector(u: &ParsedUrl, list: &[String]) -> bool {
    list.iter().any(|h| u.host == *h || u.host.ends_with(&format!(".{h}")))
}

/// Attachments of a risky type, and those that hide one behind a harmless extension.
fn check_attachments(msg: &Message<'_>, findings: &mut Vec<Finding>) {
    for part in msg.attachments().take(256) {
        let name = part.attachment_name().unwrap_or("").to_ascii_lowercase();
        let exts: Vec<&str> = name.rsplit('.').take(3).collect();
        let Some(ext) = exts.first().filter(|_| name.contains('.')) else { continue };
        let Some((_, sev)) = RISKY_EXTENSIONS.iter().find(|(e, _)| e == ext) else { continue };
        let double = exts.len() > 2 && ["pdf", "doc", "docx", "jpg", "png", "txt", "xlsx"].contains(&exts[1]);
        findings.push(Finding {
            kind: FindingKind::RiskyAttachment,
            severity: if double { Severity::High } else { *sev },
            detail: if double {
                format!("attachment {name:?} hides a .{ext} behind a .{} extension", exts[1])
            } else {
                format!("attachment {name:?} (.{ext})")
            },
            url: None,
        });
    }
}
