//! Neutralising a message: every HTML part is rewritten without its trackers (pixels, hidden
//! and tokenised images, known tracker URLs, remote CSS), its links are unwrapped from
//! click-trackers or cleaned of token parameters where that is safe, and the part is put
//! back as UTF-8 base64, so the message stays valid MIME. Everything else, attachments
//! included, is copied byte for byte.

use crate::html::{css_references, style_hides, tiny_length, RefKind};
use crate::trackers::{TrackerList, UrlContext};
use crate::url;
use lol_html::html_content::ContentType;
use lol_html::{element, text, HtmlRewriter, MemorySettings, Settings};
use mail_parser::{MessageParser, PartType};
use std::cell::RefCell;

/// What was taken out.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Neutralised {
    pub images_removed: usize,
    pub links_unwrapped: usize,
    pub links_cleaned: usize,
    pub css_removed: usize,
    pub html_parts: usize,
}

impl Neutralised {
    pub fn total(&self) -> usize {
        self.images_removed + self.links_unwrapped + self.links_cleaned + self.css_removed
    }
}

#[derive(Debug, thiserror::Error)]
pub enum NeutraliseError {
    #[error("not a parseable e-mail message")]
    Unparseable,
    #[error("the HTML of part {0} could not be rewritten: {1}")]
    Html(usize, String),
}

fn is_remote(u: &str) -> bool {
    url::parse(u).is_some()
}

/// Whether an image at `src` is a tracker: tiny or hidden, tokenised, listed, or on a bare IP.
fn tracking_image(src: &str, tiny: bool, hidden: bool, trackers: &TrackerList) -> bool {
    let Some(u) = url::parse(src) else { return false };
    tiny || hidden || u.has_token() || u.ip_host || trackers.check(src, UrlContext::Image).is_some()
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() && s.is_char_boundary(i + 3) {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(if b[i] == b'+' { b' ' } else { b[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A cleaned link, and whether it was unwrapped (true) or had tokens removed (false).
pub fn clean_link(href: &str) -> Option<(String, bool)> {
    let u = url::parse(href)?;
    // A click-tracker that carries the real destination in a parameter: go straight there.
    for (_, v) in &u.query {
        let d = percent_decode(v);
        if (d.starts_with("https://") || d.starts_with("http://")) && url::parse(&d).is_some() {
            return Some((d, true));
        }
    }
    let (base, query) = href.split_once('?').unwrap_or((href, ""));
    if query.is_empty() {
        return None;
    }
    let (query, fragment) = query.split_once('#').map(|(q, f)| (q, Some(f))).unwrap_or((query, None));
    let kept: Vec<&str> = query
        .split('&')
        .filter(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            !(url::is_token(v)
                || k.starts_with("utm_")
                || ["mc_eid", "mc_cid", "_hsenc", "_hsmi", "mkt_tok"].contains(&k))
        })
        .collect();
    if kept.len() == query.split('&').count() {
        return None;
    }
    let mut out = base.to_owned();
    if !kept.is_empty() {
        out.push('?');
        out.push_str(&kept.join("&"));
    }
    if let Some(f) = fragment {
        out.push('#');
        out.push_str(f);
    }
    Some((out, false))
}

/// CSS with every remote `url(...)` and `@import` taken out; returns the CSS and how many.
fn clean_css(css: &str) -> (String, usize) {
    let mut refs = Vec::new();
    css_references(css, &mut refs);
    if refs.is_empty() {
        return (css.to_owned(), 0);
    }
    let mut out = css.to_owned();
    let mut n = 0;
    for r in &refs {
        if r.kind == RefKind::CssImport {
            // Drop the whole @import statement.
            if let Some(at) = out.find(&r.url) {
                let start = out[..at].rfind("@import").unwrap_or(at);
                let end = out[at..].find(';').map(|e| at + e + 1).unwrap_or(out.len());
                out.replace_range(start..end, "");
                n += 1;
            }
        } else if let Some(at) = out.find(&r.url) {
            let start = out[..at].to_ascii_lowercase().rfind("url(").unwrap_or(at);
            let end = out[at..].find(')').map(|e| at + e + 1).unwrap_or(out.len());
            out.replace_range(start..end, "none");
            n += 1;
        }
    }
    (out, n)
}

/// Rewrites one HTML body.
pub fn neutralise_html(
    html: &str,
    trackers: &TrackerList,
    counts: &mut Neutralised,
) -> Result<String, String> {
    let out = RefCell::new(Vec::with_capacity(html.len()));
    let c = RefCell::new(std::mem::take(counts));
    let style_buf = RefCell::new(String::new());
    {
        let settings = Settings::new()
            .with_memory_settings(MemorySettings::new().with_max_allowed_memory_usage(32 * 1024 * 1024))
            .append_element_content_handler(element!("img", |el| {
                let src = el.get_attribute("src").unwrap_or_default();
                if is_remote(&src) {
                    // The same tests the scanner applies (`html::references`).
                    let (style_tiny, hidden) = style_hides(&el.get_attribute("style").unwrap_or_default());
                    let tiny = style_tiny
                        || ["width", "height"]
                            .iter()
                            .any(|a| el.get_attribute(a).is_some_and(|v| tiny_length(&v)));
                    let hidden = hidden || el.get_attribute("hidden").is_some();
                    if tracking_image(&src, tiny, hidden, trackers) {
                        el.remove();
                        c.borrow_mut().images_removed += 1;
                    }
                }
                Ok(())
            }))
            .append_element_content_handler(element!("a[href], area[href]", |el| {
                let href = el.get_attribute("href").unwrap_or_default();
                if let Some((clean, unwrapped)) = clean_link(href.trim()) {
                    el.set_attribute("href", &clean)?;
                    let mut k = c.borrow_mut();
                    if unwrapped {
                        k.links_unwrapped += 1;
                    } else {
                        k.links_cleaned += 1;
                    }
                }
                Ok(())
            }))
            .append_element_content_handler(element!("link[href]", |el| {
                let rel = el.get_attribute("rel").unwrap_or_default().to_ascii_lowercase();
                if rel.contains("stylesheet") && is_remote(&el.get_attribute("href").unwrap_or_default()) {
                    el.remove();
                    c.borrow_mut().css_removed += 1;
                }
                Ok(())
            }))
            .append_element_content_handler(element!("[style]", |el| {
                let style = el.get_attribute("style").unwrap_or_default();
                let (clean, n) = clean_css(&style);
                if n > 0 {
                    el.set_attribute("style", &clean)?;
                    c.borrow_mut().css_removed += n;
                }
                Ok(())
            }))
            .append_element_content_handler(element!("[background]", |el| {
                if is_remote(&el.get_attribute("background").unwrap_or_default()) {
                    el.remove_attribute("background");
                    c.borrow_mut().css_removed += 1;
                }
                Ok(())
            }))
            .append_element_content_handler(text!("style", |t| {
                style_buf.borrow_mut().push_str(t.as_str());
                if t.last_in_text_node() {
                    let css = std::mem::take(&mut *style_buf.borrow_mut());
                    let (clean, n) = clean_css(&css);
                    c.borrow_mut().css_removed += n;
                    t.replace(&clean, ContentType::Html);
                } else {
                    t.remove();
                }
                Ok(())
            }));
        let mut rewriter =
            HtmlRewriter::new(settings, |chunk: &[u8]| out.borrow_mut().extend_from_slice(chunk));
        rewriter.write(html.as_bytes()).map_err(|e| e.to_string())?;
        rewriter.end().map_err(|e| e.to_string())?;
    }
    *counts = c.into_inner();
    String::from_utf8(out.into_inner()).map_err(|e| e.to_string())
}

fn base64_lines(data: &[u8]) -> String {
    use base64::Engine as _;
    let encoded = base64::engine::general_purpose::STANDARD.encode(data);
    let mut s = String::with_capacity(encoded.len() + encoded.len() / 38 + 2);
    // 76-character lines, as MIME asks.
    for line in encoded.as_bytes().chunks(76) {
        s.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
        s.push_str("\r\n");
    }
    s
}

/// The header block with Content-Type and Content-Transfer-Encoding replaced (folded lines
/// included), ending with the blank line.
fn rewrite_part_headers(block: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(block);
    let mut out = String::new();
    let mut skipping = false;
    for line in text.split_inclusive('\n') {
        let bare = line.trim_end_matches(['\r', '\n']);
        if bare.is_empty() {
            continue;
        }
        if line.starts_with([' ', '\t']) {
            if !skipping {
                out.push_str(line);
            }
            continue;
        }
        let name = bare.split(':').next().unwrap_or("").trim().to_ascii_lowercase();
        skipping = name == "content-type" || name == "content-transfer-encoding";
        if !skipping {
            out.push_str(bare);
            out.push_str("\r\n");
        }
    }
    out.push_str("Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n");
    out.into_bytes()
}

/// Neutralises a whole message. The result is a new message; `raw` is not changed.
pub fn neutralise(raw: &[u8], trackers: &TrackerList) -> Result<(Vec<u8>, Neutralised), NeutraliseError> {
    let msg = MessageParser::default().parse(raw).ok_or(NeutraliseError::Unparseable)?;
    let mut counts = Neutralised::default();
    // (header start, body end, replacement) for each top-level HTML part, in order.
    let mut edits: Vec<(usize, usize, Vec<u8>)> = Vec::new();
    for (i, part) in msg.parts.iter().enumerate() {
        let PartType::Html(html) = &part.body else { continue };
        let (h, b, e) = (part.offset_header as usize, part.offset_body as usize, part.offset_end as usize);
        if !(h <= b && b <= e && e <= raw.len()) {
            continue;
        }
        let clean = neutralise_html(html, trackers, &mut counts).map_err(|e| NeutraliseError::Html(i, e))?;
        counts.html_parts += 1;
        let mut replacement = rewrite_part_headers(&raw[h..b]);
        replacement.extend_from_slice(base64_lines(clean.as_bytes()).as_bytes());
        edits.push((h, e, replacement));
    }
    edits.sort_by_key(|e| e.0);
    let mut out = Vec::with_capacity(raw.len() + 256);
    out.extend_from_slice(
        format!(
            "X-Rollguard-Neutralised: {} images removed, {} links unwrapped, {} links cleaned, {} remote CSS removed\r\n",
            counts.images_removed, counts.links_unwrapped, counts.links_cleaned, counts.css_removed
        )
        .as_bytes(),
    );
    let mut at = 0;
    for (start, end, replacement) in edits {
        if start < at {
            continue; // nested inside a part already replaced
        }
        out.extend_from_slice(&raw[at..start]);
        out.extend_from_slice(&replacement);
        at = end;
    }
    out.extend_from_slice(&raw[at..]);
    Ok((out, counts))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn click_trackers_are_unwrapped_and_token_parameters_dropped() {
        assert_eq!(
            clean_link(
                "https://click.example/r?u=https%3A%2F%2Fnews.example%2Fstory%3Fid%3D7&t=a8F3kQ9zX2mP7vL1"
            ),
            Some(("https://news.example/story?id=7".into(), true))
        );
        assert_eq!(
            clean_link("https://news.example/story?id=7&utm_source=mail&rid=a8F3kQ9zX2mP7vL1Zq#top"),
            Some(("https://news.example/story?id=7#top".into(), false))
        );
        assert_eq!(clean_link("https://news.example/story?id=7"), None, "nothing to clean");
    }

    #[test]
    fn css_beacons_are_taken_out_of_styles() {
        let (css, n) = clean_css("@import url(\"https://t.example/a.css\"); .x{background:url(https://t.example/b.png) no-repeat; color:red}");
        assert_eq!(n, 2);
        assert!(!css.contains("t.example") && css.contains("color:red"), "{css}");
    }
}
