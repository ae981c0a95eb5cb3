//! Who a message claims to be from, against where it came from: From, Reply-To and
//! Return-Path domains, display names of organisations, look-alike domains, and the
//! receiving server's SPF, DKIM and DMARC results.

use crate::report::{Finding, FindingKind, Severity};

pub struct Sender<'a> {
    pub from: Option<&'a str>,
    pub display_name: Option<&'a str>,
    pub reply_to: Option<&'a str>,
    pub return_path: Option<&'a str>,
    pub authentication_results: &'a [String],
}

/// Second-level labels under which registrations happen one level down (co.uk, gov.uk…).
const SECOND_LEVEL: &[&str] =
    &["co", "org", "gov", "ac", "ltd", "plc", "net", "sch", "nhs", "police", "me", "com", "edu"];

/// The registrable part of a domain (an approximation of the public-suffix rule that holds
/// for .uk, .au, .nz, .jp-style second levels and single-label TLDs).
pub fn registrable(domain: &str) -> String {
    let d = domain.trim().trim_end_matches('.').to_ascii_lowercase();
    let labels: Vec<&str> = d.split('.').filter(|l| !l.is_empty()).collect();
    let n = labels.len();
    if n <= 2 {
        return labels.join(".");
    }
    let take = if labels[n - 1].len() == 2 && SECOND_LEVEL.contains(&labels[n - 2]) { 3 } else { 2 };
    labels[n - take..].join(".")
}

fn domain_of(address: &str) -> Option<String> {
    let a = address.trim().trim_matches(['<', '>']);
    let (_, d) = a.rsplit_once('@')?;
    (!d.is_empty()).then(|| d.to_ascii_lowercase())
}

/// Characters that look alike, folded to one form (a small confusables table covering
/// digits for letters and the Cyrillic and Greek letters that pass for Latin ones).
fn skeleton(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        let f = match c {
            '0' | 'о' | 'ο' => 'o',
            '1' | 'l' | 'і' | 'ι' | '|' => 'l',
            'а' | 'α' => 'a',
            'е' | 'ε' => 'e',
            'с' => 'c',
            'р' | 'ρ' => 'p',
            'х' | 'χ' => 'x',
            'у' => 'y',
            'ѕ' => 's',
            'ԁ' => 'd',
            'ɡ' => 'g',
            'ո' => 'n',
            '5' => 's',
            '3' => 'e',
            '4' => 'a',
            _ => c,
        };
        out.push(f);
    }
    out.replace("rn", "m").replace("vv", "w").replace("cl", "d")
}

/// Damerau-Levenshtein (optimal string alignment) distance, for short strings.
fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let (n, m) = (a.len(), b.len());
    if n.abs_diff(m) > 3 {
        return n.abs_diff(m);
    }
    let mut d = vec![vec![0usize; m + 1]; n + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=n {
        for j in 1..=m {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            d[i][j] = (d[i - 1][j] + 1).min(d[i][j - 1] + 1).min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d[i][j] = d[i][j].min(d[i - 2][j - 2] + 1);
            }
        }
    }
    d[n][m]
}

/// Whether `candidate` imitates `protected` without being it.
pub fn looks_like(candidate: &str, protected: &str) -> bool {
    let (c, p) = (registrable(candidate), registrable(protected));
    if c == p {
        return false;
    }
    let (cs, ps) = (skeleton(&c), skeleton(&p));
    if cs == ps {
        return true;
    }
    // Same name under another suffix (bbc-news.co vs bbc.co.uk is not this; bbc.co vs bbc.co.uk is).
    let stem = |d: &str| d.split('.').next().unwrap_or("").to_owned();
    let (cst, pst) = (stem(&cs), stem(&ps));
    if cst == pst && cst.len() >= 4 {
        return true;
    }
    // One or two edits away, or the protected name with words added (bbc-news-desk).
    pst.len() >= 5
        && (distance(&cst, &pst) <= if pst.len() >= 8 { 2 } else { 1 }
            || (cst.contains(&pst) && cst.len() > pst.len()))
}

fn finding(kind: FindingKind, severity: Severity, detail: String) -> Finding {
    Finding { kind, severity, detail, url: None }
}

pub fn check(s: &Sender<'_>, protected: &[String], organisations: &[(String, Vec<String>)]) -> Vec<Finding> {
    let mut out = Vec::new();
    let from_domain = s.from.and_then(domain_of);
    if let (Some(fd), Some(rt)) = (&from_domain, s.reply_to.and_then(domain_of)) {
        if registrable(fd) != registrable(&rt) {
            out.push(finding(
                FindingKind::FromReplyToMismatch,
                Severity::Medium,
                format!("replies go to {rt}, not the sender's domain {fd}"),
            ));
        }
    }
    if let (Some(fd), Some(rp)) = (&from_domain, s.return_path.and_then(domain_of)) {
        if registrable(fd) != registrable(&rp) {
            out.push(finding(
                FindingKind::FromReturnPathMismatch,
                Severity::Low,
                format!("bounces go to {rp}, not the sender's domain {fd}"),
            ));
        }
    }
    let mut seen_lookalike = std::collections::BTreeSet::new();
    for d in [from_domain.clone(), s.reply_to.and_then(domain_of)].into_iter().flatten() {
        if d.contains("xn--") {
            out.push(finding(
                FindingKind::LookalikeDomain,
                Severity::Medium,
                format!("internationalised domain {d}"),
            ));
        }
        for p in protected {
            if looks_like(&d, p) && seen_lookalike.insert(d.clone()) {
                out.push(finding(FindingKind::LookalikeDomain, Severity::High, format!("{d} imitates {p}")));
            }
        }
    }
    if let Some(name) = s.display_name {
        let lower = name.to_lowercase();
        for (org, domains) in organisations {
            if !lower.contains(&org.to_lowercase()) {
                continue;
            }
            let genuine = from_domain
                .as_deref()
                .is_some_and(|fd| domains.iter().any(|d| fd == d || fd.ends_with(&format!(".{d}"))));
            if !genuine {
                out.push(finding(
                    FindingKind::DisplayNameImpersonation,
                    Severity::High,
                    format!(
                        "display name {name:?} claims {org}, but the address is at {}",
                        from_domain.as_deref().unwrap_or("no domain")
                    ),
                ));
            }
        }
    }
    for ar in s.authentication_results {
        let lower = ar.to_ascii_lowercase();
        for (method, sev) in
            [("spf", Severity::Medium), ("dkim", Severity::Medium), ("dmarc", Severity::High)]
        {
            for result in ["fail", "softfail", "permerror"] {
                let needle = format!("{method}={result}");
                let hit = lower.match_indices(&needle).any(|(i, _)| {
                    let before_ok = i == 0 || !lower.as_bytes()[i - 1].is_ascii_alphanumeric();
                    let after = lower.as_bytes().get(i + needle.len()).copied();
                    before_ok && !after.is_some_and(|c| c.is_ascii_alphanumeric())
                });
                if hit {
                    let severity = if result == "softfail" { Severity::Low } else { sev };
                    out.push(finding(
                        FindingKind::AuthenticationFailure,
                        severity,
                        format!("{method}={result} in Authentication-Results"),
                    ));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registrable_domains_follow_uk_second_levels() {
        assert_eq!(registrable("news.bbc.co.uk"), "bbc.co.uk");
        assert_eq!(registrable("mail.example.org"), "example.org");
        assert_eq!(registrable("parliament.uk"), "parliament.uk");
        assert_eq!(registrable("members.parliament.uk"), "parliament.uk");
    }

    #[test]
    fn lookalikes_are_caught_and_the_real_domain_is_not() {
        assert!(looks_like("parliarnent.uk", "parliament.uk"), "rn for m");
        assert!(looks_like("par1iament.uk", "parliament.uk"), "1 for l");
        assert!(looks_like("parliament.co", "parliament.uk"), "same name, other suffix");
        assert!(looks_like("theguardlan.com", "theguardian.com"), "one edit");
        assert!(looks_like("reuters-news.com", "reuters.com"), "name with words added");
        assert!(!looks_like("news.parliament.uk", "parliament.uk"), "a subdomain is the real thing");
        assert!(!looks_like("example.org", "parliament.uk"));
    }
}
