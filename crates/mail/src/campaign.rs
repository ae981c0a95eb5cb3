//! Campaigns across mailboxes: reports joined when they share tracking infrastructure (a URL
//! template with its tokens removed, or a bare-IP tracking host), sender infrastructure
//! (sending and bounce domain), or a template (SimHash of the body within 3 bits). A campaign
//! that reaches many members of a protected group and tracks them is reported as
//! reconnaissance.

use crate::report::{Finding, FindingKind, Report, Severity};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Bodies closer than this (in differing SimHash bits) are one template.
const SIMHASH_BITS: u32 = 3;

pub use crate::simhash::simhash;

#[derive(Debug, Clone, Serialize)]
pub struct Campaign {
    pub id: usize,
    /// `reconnaissance` (tracks many protected recipients) or `campaign`.
    pub kind: &'static str,
    /// For reconnaissance: `high` when the campaign also impersonates or hides its sender
    /// (look-alike domain, display-name impersonation, failed authentication) or tracks
    /// from a bare IP address; `medium` otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub confidence: Option<&'static str>,
    pub messages: usize,
    pub recipients: Vec<String>,
    /// Recipients who are members of the protected group.
    pub protected_recipients: Vec<String>,
    /// Date headers, seconds since the epoch.
    pub first_seen: Option<i64>,
    pub last_seen: Option<i64>,
    pub senders: Vec<String>,
    pub sender_domains: Vec<String>,
    pub tracking_hosts: Vec<String>,
    pub url_templates: Vec<String>,
    /// Finding kinds with how many messages had each.
    pub findings: BTreeMap<String, usize>,
    /// Where the messages are (first 20).
    pub sample_origins: Vec<String>,
    /// What joined the messages.
    pub joined_by: Vec<&'static str>,
}

struct Dsu(Vec<usize>);

impl Dsu {
    fn find(&mut self, x: usize) -> usize {
        let mut r = x;
        while self.0[r] != r {
            r = self.0[r];
        }
        let mut x = x;
        while self.0[x] != r {
            let next = self.0[x];
            self.0[x] = r;
            x = next;
        }
        r
    }

    fn union(&mut self, a: usize, b: usize) {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra != rb {
            self.0[ra] = rb;
        }
    }
}

/// Groups reports into campaigns of two or more messages. `protected` holds the protected
/// group's addresses (lower case); a campaign that tracks at least `min_targets` of them is
/// `reconnaissance`.
pub fn cluster(reports: &[Report], protected: &BTreeSet<String>, min_targets: usize) -> Vec<Campaign> {
    let (mut dsu, reasons) = link(reports);
    let mut groups: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for i in 0..reports.len() {
        groups.entry(dsu.find(i)).or_default().push(i);
    }
    let mut out: Vec<Campaign> = groups
        .into_values()
        .filter(|g| g.len() >= 2)
        .map(|g| campaign_of(&g, reports, &reasons, protected, min_targets))
        .collect();
    // Reconnaissance first, then by reach.
    out.sort_by(|a, b| {
        (b.kind == "reconnaissance")
            .cmp(&(a.kind == "reconnaissance"))
            .then(b.protected_recipients.len().cmp(&a.protected_recipients.len()))
            .then(b.messages.cmp(&a.messages))
    });
    for (i, c) in out.iter_mut().enumerate() {
        c.id = i + 1;
    }
    out
}

/// Why each message was joined to others.
type Reasons = Vec<BTreeSet<&'static str>>;

/// Joins messages that share tracking URL templates, tracking IP hosts, sender
/// infrastructure or a body template.
fn link(reports: &[Report]) -> (Dsu, Reasons) {
    let n = reports.len();
    let mut dsu = Dsu((0..n).collect());
    let mut reasons: Reasons = vec![BTreeSet::new(); n];
    join_on(reports, &mut dsu, &mut reasons, "tracking URL template", &|r| r.url_templates.clone());
    join_on(reports, &mut dsu, &mut reasons, "tracking host", &|r| {
        r.tracking_hosts.iter().filter(|h| h.parse::<std::net::IpAddr>().is_ok()).cloned().collect()
    });
    // The same sending address with the same bounce domain (a whole domain would join every
    // correspondent at a large mail provider).
    join_on(
        reports,
        &mut dsu,
        &mut reasons,
        "sender infrastructure",
        &|r| match (&r.from, &r.bounce_domain) {
            (Some(f), b) => vec![format!("{f}|{}", b.as_deref().unwrap_or(""))],
            _ => vec![],
        },
    );
    // Templates: SimHash within a few bits (pairwise; bodies without a hash are skipped).
    let hashed: Vec<(usize, u64)> =
        reports.iter().enumerate().filter_map(|(i, r)| r.simhash.map(|h| (i, h))).collect();
    if hashed.len() <= 20_000 {
        for a in 0..hashed.len() {
            for b in a + 1..hashed.len() {
                if (hashed[a].1 ^ hashed[b].1).count_ones() <= SIMHASH_BITS {
                    dsu.union(hashed[a].0, hashed[b].0);
                    reasons[hashed[a].0].insert("body template");
                    reasons[hashed[b].0].insert("body template");
                }
            }
        }
    }
    (dsu, reasons)
}

/// Joins every two messages that share a key, noting `why`.
fn join_on(
    reports: &[Report],
    dsu: &mut Dsu,
    reasons: &mut [BTreeSet<&'static str>],
    why: &'static str,
    key_of: &dyn Fn(&Report) -> Vec<String>,
) {
    let mut first: HashMap<String, usize> = HashMap::new();
    for (i, r) in reports.iter().enumerate() {
        for k in key_of(r) {
            match first.get(&k) {
                Some(&j) => {
                    dsu.union(i, j);
                    reasons[i].insert(why);
                    reasons[j].insert(why);
                }
                None => {
                    first.insert(k, i);
                }
            }
        }
    }
}

/// The campaign made of the messages `g` (indexes into `reports`).
fn campaign_of(
    g: &[usize],
    reports: &[Report],
    reasons: &[BTreeSet<&'static str>],
    protected: &BTreeSet<String>,
    min_targets: usize,
) -> Campaign {
    let set = |f: &dyn Fn(&Report) -> Vec<String>| -> Vec<String> {
        g.iter().flat_map(|&i| f(&reports[i])).collect::<BTreeSet<_>>().into_iter().collect()
    };
    let recipients = set(&|r| r.to.clone());
    let protected_recipients: Vec<String> =
        recipients.iter().filter(|r| protected.contains(*r)).cloned().collect();
    let mut findings: BTreeMap<String, usize> = BTreeMap::new();
    let mut tracking = false;
    for &i in g {
        let kinds: BTreeSet<FindingKind> = reports[i].findings.iter().map(|f| f.kind).collect();
        for k in kinds {
            tracking |= k.is_tracking();
            let name =
                serde_json::to_value(k).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
            *findings.entry(name).or_default() += 1;
        }
    }
    let dates: Vec<i64> = g.iter().filter_map(|&i| reports[i].date).collect();
    let joined_by: BTreeSet<&'static str> = g.iter().flat_map(|&i| reasons[i].iter().copied()).collect();
    let recon = tracking && protected_recipients.len() >= min_targets.max(1);
    let deceptive =
        ["lookalike-domain", "display-name-impersonation", "authentication-failure", "ip-address-host"]
            .iter()
            .any(|k| findings.contains_key(*k));
    Campaign {
        id: 0,
        kind: if recon { "reconnaissance" } else { "campaign" },
        confidence: recon.then_some(if deceptive { "high" } else { "medium" }),
        messages: g.len(),
        protected_recipients,
        recipients,
        first_seen: dates.iter().min().copied(),
        last_seen: dates.iter().max().copied(),
        senders: set(&|r| r.from.clone().into_iter().collect()),
        sender_domains: set(&|r| r.sender_domain.clone().into_iter().collect()),
        tracking_hosts: set(&|r| r.tracking_hosts.clone()),
        url_templates: set(&|r| r.url_templates.clone()),
        findings,
        sample_origins: g.iter().take(20).map(|&i| reports[i].origin.clone()).collect(),
        joined_by: joined_by.into_iter().collect(),
    }
}

/// A URL's shape with every value that could identify a recipient blanked (path segments
/// holding a digit or 12+ characters, and every query value), and the blanked values. `None`
/// when nothing is blanked: such a URL is the same for everyone.
fn loose_template(url: &str) -> Option<(String, Vec<String>)> {
    let u = crate::url::parse(url)?;
    let mut t = u.host.clone();
    let mut values = Vec::new();
    for seg in &u.path_segments {
        t.push('/');
        if seg.len() >= 12 || seg.bytes().any(|b| b.is_ascii_digit()) {
            t.push_str("{}");
            values.push(seg.clone());
        } else {
            t.push_str(seg);
        }
    }
    if !u.query.is_empty() {
        let keys: Vec<&str> = u.query.iter().map(|(k, _)| k.as_str()).collect();
        t.push('?');
        t.push_str(&keys.join("&"));
        values.extend(u.query.iter().map(|(_, v)| v.clone()));
    }
    (!values.is_empty()).then_some((t, values))
}

/// Messages to different recipients whose images or links share a URL template but differ
/// in its values carry per-recipient identifiers, even ones too short or plain to look like
/// tokens (`?uid=10452`). With at least `min_variants` such variants to as many recipients,
/// each message gets a tracking finding for the URL, and the template joins its tracking
/// infrastructure. Returns how many findings were added.
pub fn per_recipient_urls(reports: &mut [Report], min_variants: usize) -> usize {
    // template -> (distinct blanked values, distinct recipients)
    let mut seen: HashMap<String, (BTreeSet<Vec<String>>, BTreeSet<String>)> = HashMap::new();
    for r in reports.iter() {
        let to = r.to.join(",");
        for (_, url) in &r.remote_urls {
            if let Some((t, values)) = loose_template(url) {
                let e = seen.entry(t).or_default();
                e.0.insert(values);
                e.1.insert(to.clone());
            }
        }
    }
    let varying: BTreeSet<&String> = seen
        .iter()
        .filter(|(_, (urls, to))| urls.len() >= min_variants && to.len() >= min_variants)
        .map(|(t, _)| t)
        .collect();
    let mut added = 0;
    for r in reports.iter_mut() {
        let mut new = Vec::new();
        for (image, url) in &r.remote_urls {
            let Some((t, _)) = loose_template(url) else { continue };
            if !varying.contains(&t) {
                continue;
            }
            let kind = if *image { FindingKind::TrackingImage } else { FindingKind::TrackingLink };
            if r.findings.iter().any(|f| f.kind == kind && f.url.as_deref() == Some(url.as_str())) {
                continue;
            }
            let n = seen[&t].0.len();
            new.push(Finding {
                kind,
                severity: if *image { Severity::Medium } else { Severity::Low },
                detail: format!(
                    "the URL differs per recipient: {n} variants of one template across the messages scanned"
                ),
                url: Some(url.chars().take(500).collect()),
            });
            if let Some(u) = crate::url::parse(url) {
                r.tracking_hosts.push(u.host);
            }
            r.url_templates.push(t.clone());
        }
        if !new.is_empty() {
            added += new.len();
            r.findings.extend(new);
            r.tracking_hosts.sort();
            r.tracking_hosts.dedup();
            r.url_templates.sort();
            r.url_templates.dedup();
            crate::report::reassess(r);
        }
    }
    added
}
