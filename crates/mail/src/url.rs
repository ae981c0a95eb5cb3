//! URLs from messages: host, whether the host is a bare IP address, per-recipient tokens in
//! the path or query, and the URL's template with those tokens removed.

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedUrl {
    pub host: String,
    pub ip_host: bool,
    pub path_segments: Vec<String>,
    pub query: Vec<(String, String)>,
}

/// Parses an http(s) or protocol-relative URL; `None` for anything else.
pub fn parse(raw: &str) -> Option<ParsedUrl> {
    let s = raw.trim();
    let rest = if let Some(r) = s.strip_prefix("//") {
        r
    } else {
        let (scheme, r) = s.split_once("://")?;
        if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
            return None;
        }
        r
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    let hostport = authority.rsplit('@').next().unwrap_or(authority);
    let host = if let Some(v6) = hostport.strip_prefix('[') {
        v6.split(']').next().unwrap_or("").to_owned()
    } else {
        hostport.split(':').next().unwrap_or("").to_owned()
    }
    .to_ascii_lowercase();
    if host.is_empty() {
        return None;
    }
    let ip_host = host.parse::<std::net::IpAddr>().is_ok();
    let tail = &rest[end..];
    let tail = tail.split('#').next().unwrap_or("");
    let (path, query) = tail.split_once('?').unwrap_or((tail, ""));
    Some(ParsedUrl {
        host,
        ip_host,
        path_segments: path.split('/').filter(|s| !s.is_empty()).map(str::to_owned).collect(),
        query: query
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (k.to_owned(), v.to_owned())
            })
            .collect(),
    })
}

/// Shannon entropy in bits per character.
fn entropy(s: &str) -> f64 {
    let mut counts = [0u32; 256];
    for b in s.bytes() {
        counts[b as usize] += 1;
    }
    let n = s.len() as f64;
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = f64::from(c) / n;
            -p * p.log2()
        })
        .sum()
}

/// Whether a path segment or query value looks like a per-recipient token: long, made of
/// token characters, mixing letters and digits (or long hex), and high in entropy. Words,
/// dates and slugs like `2026-11-24-council-news` are not tokens.
pub fn is_token(s: &str) -> bool {
    let s = s.trim_end_matches(".gif").trim_end_matches(".png").trim_end_matches(".jpg");
    if s.len() < 16 || s.len() > 2048 {
        return false;
    }
    if !s
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'=' | b'%' | b'.' | b'~' | b'+'))
    {
        return false;
    }
    // Slugs: words (or numbers) joined by dashes or underscores.
    let words: Vec<&str> = s.split(['-', '_']).collect();
    if words.len() >= 2
        && words.iter().all(|w| {
            w.len() <= 14
                && (w.bytes().all(|b| b.is_ascii_alphabetic()) || w.bytes().all(|b| b.is_ascii_digit()))
        })
    {
        return false;
    }
    let digits = s.bytes().filter(u8::is_ascii_digit).count();
    let letters = s.bytes().filter(u8::is_ascii_alphabetic).count();
    if digits == 0 || letters == 0 {
        // All digits is a number (a date, an id shared by everyone). All letters is a token
        // when it is long, varied and unpronounceable (words are about 40% vowels, random
        // letters about 20%)…
        if letters == 0 {
            return false;
        }
        let vowels = s.bytes().filter(|b| b"aeiouAEIOU".contains(b)).count();
        // …or its case flips often (CamelCase flips about twice a word).
        let flips = s
            .as_bytes()
            .windows(2)
            .filter(|w| {
                w[0].is_ascii_alphabetic()
                    && w[1].is_ascii_alphabetic()
                    && w[0].is_ascii_uppercase() != w[1].is_ascii_uppercase()
            })
            .count();
        return s.len() >= 16 && (vowels * 4 < letters || flips * 3 >= s.len()) && entropy(s) >= 3.3;
    }
    entropy(s) >= 3.3
}

impl ParsedUrl {
    pub fn has_token(&self) -> bool {
        self.path_segments.iter().any(|s| is_token(s)) || self.query.iter().any(|(_, v)| is_token(v))
    }

    /// `host/seg/{token}/seg?key={token}&key2={}`: tokens replaced, other query values blanked,
    /// so the same link sent to many recipients has one template.
    pub fn template(&self) -> String {
        let mut t = self.host.clone();
        for s in &self.path_segments {
            t.push('/');
            t.push_str(if is_token(s) { "{token}" } else { s });
        }
        if !self.query.is_empty() {
            t.push('?');
            let q: Vec<String> = self
                .query
                .iter()
                .map(|(k, v)| format!("{k}={}", if is_token(v) { "{token}" } else { "{}" }))
                .collect();
            t.push_str(&q.join("&"));
        }
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_told_from_words_slugs_and_dates() {
        assert!(is_token("a8F3kQ9zX2mP7vL1"));
        assert!(is_token("5f2b9c1e7a3d4b6c8e0f1a2b3c4d5e6f"));
        assert!(is_token("eyJ1IjoiYWRhQGV4YW1wbGUub3JnIn0"));
        assert!(!is_token("2026-11-24-council-news"));
        assert!(!is_token("newsletter"));
        assert!(!is_token("electoral-register-canvass"));
        assert!(!is_token("20261124"));
        assert!(is_token("qWfRtZkPmNbVcXyHgTdS"), "random letters, no digits");
        assert!(!is_token("ElectoralRegisterCanvass"), "CamelCase words");
    }

    #[test]
    fn templates_remove_tokens_and_keep_structure() {
        let a = parse("http://198.51.100.23/t/a8F3kQ9zX2mP7vL1/open.gif?r=Qm9iQGV4YW1wbGUub3Jn&utm=news")
            .unwrap();
        let b = parse("http://198.51.100.23/t/Z9y8X7w6V5u4T3s2/open.gif?r=QWxpY2VAZXhhbXBsZS5vcmc&utm=news")
            .unwrap();
        assert!(a.ip_host && a.has_token());
        assert_eq!(a.template(), b.template());
        assert_eq!(a.template(), "198.51.100.23/t/{token}/open.gif?r={token}&utm={}");
        assert!(parse("mailto:x@example.org").is_none());
        assert_eq!(parse("//cdn.example:8080/x").unwrap().host, "cdn.example");
    }
}
