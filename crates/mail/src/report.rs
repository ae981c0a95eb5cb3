//! What a scan says about one message: findings, each with its kind and severity, and the
//! verdict they add up to. Shared by the scanner, the sender checks and campaign clustering.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FindingKind {
    /// A remote image of 0 or 1 pixel, by attribute or style.
    TrackingPixel,
    /// A remote image hidden with CSS or made tiny.
    HiddenImage,
    /// A remote image whose URL carries a per-recipient token.
    TrackingImage,
    /// A link whose URL carries a per-recipient token.
    TrackingLink,
    /// A URL a tracker list names.
    KnownTracker,
    /// A link through a shortener or redirector.
    Redirector,
    /// A remote CSS `background`, `url()` or `@import` that fetches on open.
    CssBeacon,
    /// A remote reference to a bare IP address.
    IpAddressHost,
    FromReplyToMismatch,
    FromReturnPathMismatch,
    DisplayNameImpersonation,
    LookalikeDomain,
    AuthenticationFailure,
    RiskyAttachment,
    /// The message could not be parsed, or was cut at the size limit.
    Malformed,
}

impl FindingKind {
    /// Kinds that report opening or clicking back to the sender.
    pub fn is_tracking(self) -> bool {
        matches!(
            self,
            Self::TrackingPixel
                | Self::HiddenImage
                | Self::TrackingImage
                | Self::TrackingLink
                | Self::KnownTracker
                | Self::CssBeacon
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub kind: FindingKind,
    pub severity: Severity,
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Clean,
    Suspicious,
    Tracking,
    Dangerous,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Clean => "clean",
            Self::Suspicious => "suspicious",
            Self::Tracking => "tracking",
            Self::Dangerous => "dangerous",
        }
    }
}

/// The scan of one message.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub origin: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    pub to: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// Seconds since the epoch, from the Date header.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date: Option<i64>,
    pub verdict: Verdict,
    pub findings: Vec<Finding>,
    /// Hosts of the tracking references (for clustering campaigns).
    pub tracking_hosts: Vec<String>,
    /// Tracking URLs with their tokens replaced by `{token}` (the same template sent to
    /// many recipients is one campaign's infrastructure).
    pub url_templates: Vec<String>,
    /// Registrable domains of the From address and of the Return-Path (bounces).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sender_domain: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bounce_domain: Option<String>,
    /// SimHash of the body text, for grouping messages made from one template.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub simhash: Option<u64>,
    /// Remote images and links (image?, URL), for comparing URLs across messages
    /// ([`crate::campaign::per_recipient_urls`]); not part of the printed report.
    #[serde(skip)]
    pub remote_urls: Vec<(bool, String)>,
}

/// Recomputes a report's verdict from its findings (after findings were added later).
pub fn reassess(report: &mut Report) {
    let findings = std::mem::take(&mut report.findings);
    let verdict =
        finish(Report { findings: Vec::new(), remote_urls: Vec::new(), ..report.clone() }, findings);
    report.verdict = verdict.verdict;
    report.findings = verdict.findings;
}

pub(crate) fn finish(mut report: Report, mut findings: Vec<Finding>) -> Report {
    // One finding per (kind, url): a pixel repeated in a quoted reply is one pixel.
    let mut seen = std::collections::HashSet::new();
    findings.retain(|f| seen.insert((f.kind, f.url.clone(), f.detail.clone())));
    findings.truncate(200);
    let high = findings.iter().any(|f| f.severity == Severity::High);
    let tracking = findings.iter().any(|f| f.kind.is_tracking());
    let medium = findings.iter().any(|f| f.severity >= Severity::Medium);
    report.verdict = if high {
        Verdict::Dangerous
    } else if tracking {
        Verdict::Tracking
    } else if medium {
        Verdict::Suspicious
    } else {
        Verdict::Clean
    };
    report.findings = findings;
    report
}
