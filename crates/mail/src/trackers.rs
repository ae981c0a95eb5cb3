//! Tracker lists in the Adblock syntax that EasyPrivacy and similar lists use: `||host^`,
//! `|` anchors, `*` and `^` wildcards, `@@` exceptions, `$image` and other type options.
//! Each rule's longest literal goes into one Aho-Corasick automaton, so a URL is checked
//! against thousands of rules by one pass plus a few candidate checks.

use aho_corasick::AhoCorasick;

/// What kind of reference a URL is in a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum UrlContext {
    Image,
    Link,
    Stylesheet,
}

#[derive(Debug, Clone)]
struct Rule {
    /// The pattern, lower-cased, with `||` and anchors removed.
    pattern: String,
    host_anchor: bool,
    start_anchor: bool,
    end_anchor: bool,
    /// Contexts the rule applies to; empty means all.
    contexts: Vec<UrlContext>,
    exception: bool,
    /// The rule as written, for findings.
    text: String,
    source: String,
}

/// A list of tracker rules, built from any number of lists.
#[derive(Default)]
pub struct TrackerList {
    rules: Vec<Rule>,
    automaton: Option<AhoCorasick>,
    /// Rule indexes for each automaton pattern.
    by_literal: Vec<Vec<usize>>,
    /// Rules with no literal worth indexing, checked every time.
    unindexed: Vec<usize>,
}

/// Lines of a list that were not understood, with their line numbers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub line: usize,
    pub reason: String,
}

fn parse_rule(line: &str, source: &str) -> Result<Option<Rule>, String> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('!') || line.starts_with('[') {
        return Ok(None);
    }
    if line.contains("##") || line.contains("#@#") || line.contains("#?#") {
        return Ok(None); // element hiding: not about URLs
    }
    let (exception, rest) = match line.strip_prefix("@@") {
        Some(r) => (true, r),
        None => (false, line),
    };
    let (pattern, options) = match rest.rfind('$') {
        Some(i) if !rest[i + 1..].contains('/') => (&rest[..i], Some(&rest[i + 1..])),
        _ => (rest, None),
    };
    let mut contexts = Vec::new();
    if let Some(opts) = options {
        for o in opts.split(',') {
            match o.trim() {
                "image" => contexts.push(UrlContext::Image),
                "stylesheet" => contexts.push(UrlContext::Stylesheet),
                "document" | "subdocument" | "popup" => contexts.push(UrlContext::Link),
                "third-party" | "3p" | "~first-party" | "important" | "match-case" | "all" => {}
                o if o.starts_with("domain=") => {
                    return Err("domain= options depend on the page, not the message".into())
                }
                o if o.starts_with('~') => {}
                "script" | "xmlhttprequest" | "ping" | "media" | "font" | "object" | "other"
                | "websocket" => {
                    // Types that do not occur in mail: the rule never applies.
                    return Ok(None);
                }
                other => return Err(format!("option ${other} is not understood")),
            }
        }
    }
    if pattern.starts_with('/') && pattern.ends_with('/') && pattern.len() > 1 {
        return Err("regular-expression rules are not supported".into());
    }
    let (host_anchor, p) = match pattern.strip_prefix("||") {
        Some(r) => (true, r),
        None => (false, pattern),
    };
    let (start_anchor, p) = match p.strip_prefix('|') {
        Some(r) if !host_anchor => (true, r),
        _ => (false, p),
    };
    let (end_anchor, p) = match p.strip_suffix('|') {
        Some(r) => (true, r),
        None => (false, p),
    };
    if p.is_empty() || p == "*" {
        return Err("the rule matches everything".into());
    }
    Ok(Some(Rule {
        pattern: p.to_ascii_lowercase(),
        host_anchor,
        start_anchor,
        end_anchor,
        contexts,
        exception,
        text: line.to_owned(),
        source: source.to_owned(),
    }))
}

fn is_separator(c: u8) -> bool {
    !(c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.' | b'%'))
}

/// Matches `pat` (with `*` and `^`) at the start of `s`; with `to_end`, it must consume all.
fn glob_at(pat: &[u8], s: &[u8], to_end: bool) -> bool {
    match pat.split_first() {
        None => !to_end || s.is_empty(),
        Some((b'*', rest)) => (0..=s.len()).any(|i| glob_at(rest, &s[i..], to_end)),
        Some((b'^', rest)) => match s.split_first() {
            None => glob_at(rest, s, to_end),
            Some((&c, tail)) => is_separator(c) && glob_at(rest, tail, to_end),
        },
        Some((&p, rest)) => s.first().is_some_and(|&c| c == p) && glob_at(rest, &s[1..], to_end),
    }
}

impl Rule {
    fn applies(&self, ctx: UrlContext) -> bool {
        self.contexts.is_empty() || self.contexts.contains(&ctx)
    }

    fn matches(&self, url: &str) -> bool {
        let u = url.as_bytes();
        let p = self.pattern.as_bytes();
        if self.host_anchor {
            // The pattern starts at the host, or at a label boundary inside it.
            let after_scheme = url.find("://").map(|i| i + 3).unwrap_or(0);
            let host_end =
                url[after_scheme..].find(['/', '?', '#', ':']).map(|i| after_scheme + i).unwrap_or(url.len());
            let mut starts = vec![after_scheme];
            starts.extend(url[after_scheme..host_end].match_indices('.').map(|(i, _)| after_scheme + i + 1));
            return starts.into_iter().any(|s| glob_at(p, &u[s..], self.end_anchor));
        }
        if self.start_anchor {
            return glob_at(p, u, self.end_anchor);
        }
        (0..u.len()).any(|i| glob_at(p, &u[i..], self.end_anchor))
    }

    /// The longest run without wildcards, for the automaton.
    fn literal(&self) -> &str {
        self.pattern.split(['*', '^']).max_by_key(|s| s.len()).unwrap_or("")
    }
}

/// A URL a rule matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackerHit {
    pub rule: String,
    pub source: String,
}

impl TrackerList {
    /// Rollguard's own short list of widely used e-mail open and click trackers
    /// (`data/trackers.txt`, written for this project).
    pub fn builtin() -> Self {
        let mut l = Self::default();
        l.add("rollguard built-in", include_str!("../data/trackers.txt"));
        l
    }

    /// Adds a list's rules; returns the lines skipped and why.
    pub fn add(&mut self, source: &str, text: &str) -> Vec<Skipped> {
        let mut skipped = Vec::new();
        for (i, line) in text.lines().enumerate() {
            match parse_rule(line, source) {
                Ok(Some(r)) => self.rules.push(r),
                Ok(None) => {}
                Err(reason) => skipped.push(Skipped { line: i + 1, reason }),
            }
        }
        self.index();
        skipped
    }

    fn index(&mut self) {
        let mut literals: Vec<String> = Vec::new();
        let mut pos: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
        self.by_literal.clear();
        self.unindexed.clear();
        for (i, r) in self.rules.iter().enumerate() {
            let lit = r.literal();
            if lit.len() < 3 {
                self.unindexed.push(i);
                continue;
            }
            let slot = *pos.entry(lit.to_owned()).or_insert_with(|| {
                literals.push(lit.to_owned());
                self.by_literal.push(Vec::new());
                literals.len() - 1
            });
            self.by_literal[slot].push(i);
        }
        self.automaton = AhoCorasick::new(&literals).ok();
    }

    pub fn len(&self) -> usize {
        self.rules.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The first blocking rule matching `url` in `ctx`, unless an exception rule matches too.
    pub fn check(&self, url: &str, ctx: UrlContext) -> Option<TrackerHit> {
        let lower = url.to_ascii_lowercase();
        let mut candidates: Vec<usize> = self.unindexed.clone();
        if let Some(ac) = &self.automaton {
            for m in ac.find_overlapping_iter(&lower) {
                candidates.extend(&self.by_literal[m.pattern().as_usize()]);
            }
        }
        candidates.sort_unstable();
        candidates.dedup();
        let matching = |exception: bool| {
            candidates
                .iter()
                .map(|&i| &self.rules[i])
                .find(|r| r.exception == exception && r.applies(ctx) && r.matches(&lower))
        };
        let hit = matching(false)?;
        if matching(true).is_some() {
            return None;
        }
        Some(TrackerHit { rule: hit.text.clone(), source: hit.source.clone() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(text: &str) -> TrackerList {
        let mut l = TrackerList::default();
        assert!(l.add("test", text).is_empty());
        l
    }

    #[test]
    fn host_anchors_match_the_host_and_its_subdomains_only() {
        let l = list("||track.example^\n");
        assert!(l.check("https://track.example/o.gif", UrlContext::Image).is_some());
        assert!(l.check("https://eu.track.example/o.gif", UrlContext::Image).is_some());
        assert!(l.check("https://nottrack.example/o.gif", UrlContext::Image).is_none());
        assert!(l.check("https://example.org/?u=track.example", UrlContext::Image).is_none());
    }

    #[test]
    fn plain_patterns_wildcards_options_and_exceptions() {
        let l =
            list(".mailer.example/o.php?$image\n-track-email-open?\n/beacon/*/open^\n@@||safe.example^\n");
        assert!(l.check("https://x.mailer.example/o.php?id=1", UrlContext::Image).is_some());
        assert!(l.check("https://x.mailer.example/o.php?id=1", UrlContext::Link).is_none(), "$image only");
        assert!(l.check("https://a.example/b-track-email-open?x", UrlContext::Link).is_some());
        assert!(l.check("https://a.example/beacon/123/open?x", UrlContext::Image).is_some());
        assert!(l.check("https://a.example/beacon/123/opened", UrlContext::Image).is_none());
        assert!(l.check("https://safe.example/beacon/1/open", UrlContext::Image).is_none(), "exception");
    }

    #[test]
    fn rules_that_cannot_apply_to_mail_are_skipped_and_counted() {
        let mut l = TrackerList::default();
        let skipped =
            l.add("t", "||a.example^$domain=b.example\n/ads[0-9]/\n||ok.example^\n! comment\n##.ad\n");
        assert_eq!(skipped.iter().map(|s| s.line).collect::<Vec<_>>(), [1, 2]);
        assert_eq!(l.len(), 1);
    }
}
