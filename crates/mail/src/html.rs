//! Remote references in an HTML body, found by streaming it through `lol_html` (which never
//! builds a tree, and is given a memory cap), plus CSS in `<style>` and `style=""`.

use lol_html::{element, text, HtmlRewriter, MemorySettings, Settings};
use std::cell::RefCell;

/// HTML bodies are read up to this size; the rest is ignored.
const MAX_HTML_BYTES: usize = 4 * 1024 * 1024;
/// References kept per body.
const MAX_REFERENCES: usize = 2_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefKind {
    Image,
    Link,
    /// `url(...)` in CSS (backgrounds).
    CssUrl,
    /// `@import` in CSS.
    CssImport,
    /// `<link rel=stylesheet href=...>`.
    Stylesheet,
}

impl RefKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Image => "image",
            Self::Link => "link",
            Self::CssUrl => "css url()",
            Self::CssImport => "css @import",
            Self::Stylesheet => "stylesheet",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    pub kind: RefKind,
    pub url: String,
    /// An image of 0 or 1 pixel by attribute or style.
    pub tiny: bool,
    /// An image hidden by CSS.
    pub hidden: bool,
}

fn is_remote(url: &str) -> bool {
    let u = url.trim_start().to_ascii_lowercase();
    u.starts_with("http://") || u.starts_with("https://") || u.starts_with("//")
}

/// A length of 0 or 1 (pixels), as an attribute (`1`, `1px`, `0`) or CSS value.
pub(crate) fn tiny_length(v: &str) -> bool {
    let v = v.trim().trim_end_matches("px").trim();
    v.parse::<f32>().is_ok_and(|n| (0.0..=1.0).contains(&n))
}

/// CSS declarations as (property, value), lower-cased.
fn declarations(style: &str) -> Vec<(String, String)> {
    style
        .split(';')
        .filter_map(|d| {
            let (p, v) = d.split_once(':')?;
            Some((p.trim().to_ascii_lowercase(), v.trim().to_ascii_lowercase()))
        })
        .collect()
}

/// (tiny, hidden) from an inline style.
pub(crate) fn style_hides(style: &str) -> (bool, bool) {
    let mut tiny = false;
    let mut hidden = false;
    for (p, v) in declarations(style) {
        match p.as_str() {
            "display" if v.starts_with("none") => hidden = true,
            "visibility" if v.starts_with("hidden") => hidden = true,
            "opacity" if v.trim().parse::<f32>().is_ok_and(|o| o < 0.1) => hidden = true,
            "width" | "height" | "max-width" | "max-height" if tiny_length(&v) => tiny = true,
            _ => {}
        }
    }
    (tiny, hidden)
}

/// Remote `url(...)` and `@import` targets in CSS text.
pub fn css_references(css: &str, out: &mut Vec<Reference>) {
    let lower = css.to_ascii_lowercase();
    let mut at = 0;
    while let Some(i) = lower[at..].find("url(") {
        let start = at + i + 4;
        let end = lower[start..].find(')').map(|e| start + e).unwrap_or(lower.len());
        let target = css[start..end].trim().trim_matches(['"', '\'']).trim();
        let before = lower[..at + i].trim_end();
        let kind = if before.ends_with("@import") { RefKind::CssImport } else { RefKind::CssUrl };
        if is_remote(target) && out.len() < MAX_REFERENCES {
            out.push(Reference { kind, url: target.to_owned(), tiny: false, hidden: false });
        }
        at = end.min(lower.len());
        if at >= lower.len() {
            break;
        }
    }
    // `@import "https://…";` without url().
    let mut at = 0;
    while let Some(i) = lower[at..].find("@import") {
        let start = at + i + 7;
        let rest = css[start..].trim_start();
        if let Some(q) = rest.chars().next().filter(|c| *c == '"' || *c == '\'') {
            let inner = &rest[1..];
            if let Some(e) = inner.find(q) {
                let target = &inner[..e];
                if is_remote(target) && out.len() < MAX_REFERENCES {
                    out.push(Reference {
                        kind: RefKind::CssImport,
                        url: target.to_owned(),
                        tiny: false,
                        hidden: false,
                    });
                }
            }
        }
        at = start;
    }
}

/// Every remote reference in an HTML body. Malformed HTML is read as browsers would read
/// it; if the parser gives up (memory cap), what was found so far is returned.
pub fn references(html: &str) -> Vec<Reference> {
    let html = if html.len() > MAX_HTML_BYTES {
        let mut cut = MAX_HTML_BYTES;
        while !html.is_char_boundary(cut) {
            cut -= 1;
        }
        &html[..cut]
    } else {
        html
    };
    let out = RefCell::new(Vec::<Reference>::new());
    let style_text = RefCell::new(String::new());
    {
        let push = |r: Reference| {
            let mut o = out.borrow_mut();
            if o.len() < MAX_REFERENCES {
                o.push(r);
            }
        };
        let settings = Settings::new()
            .with_memory_settings(MemorySettings::new().with_max_allowed_memory_usage(16 * 1024 * 1024))
            .append_element_content_handler(element!("img", |el| {
                let src = el.get_attribute("src").unwrap_or_default();
                if is_remote(&src) {
                    let mut tiny = el.get_attribute("width").is_some_and(|w| tiny_length(&w))
                        || el.get_attribute("height").is_some_and(|h| tiny_length(&h));
                    let mut hidden = el.get_attribute("hidden").is_some();
                    if let Some(style) = el.get_attribute("style") {
                        let (t, h) = style_hides(&style);
                        tiny |= t;
                        hidden |= h;
                    }
                    push(Reference { kind: RefKind::Image, url: src.trim().to_owned(), tiny, hidden });
                }
                Ok(())
            }))
            .append_element_content_handler(element!("a[href], area[href]", |el| {
                let href = el.get_attribute("href").unwrap_or_default();
                if is_remote(&href) {
                    push(Reference {
                        kind: RefKind::Link,
                        url: href.trim().to_owned(),
                        tiny: false,
                        hidden: false,
                    });
                }
                Ok(())
            }))
            .append_element_content_handler(element!("link[href]", |el| {
                let rel = el.get_attribute("rel").unwrap_or_default().to_ascii_lowercase();
                let href = el.get_attribute("href").unwrap_or_default();
                if rel.contains("stylesheet") && is_remote(&href) {
                    push(Reference {
                        kind: RefKind::Stylesheet,
                        url: href.trim().to_owned(),
                        tiny: false,
                        hidden: false,
                    });
                }
                Ok(())
            }))
            .append_element_content_handler(element!("[style]", |el| {
                if let Some(style) = el.get_attribute("style") {
                    let mut found = Vec::new();
                    css_references(&style, &mut found);
                    for r in found {
                        push(r);
                    }
                }
                Ok(())
            }))
            .append_element_content_handler(element!("[background]", |el| {
                let bg = el.get_attribute("background").unwrap_or_default();
                if is_remote(&bg) {
                    push(Reference {
                        kind: RefKind::CssUrl,
                        url: bg.trim().to_owned(),
                        tiny: false,
                        hidden: false,
                    });
                }
                Ok(())
            }))
            .append_element_content_handler(text!("style", |t| {
                let mut s = style_text.borrow_mut();
                if s.len() < MAX_HTML_BYTES {
                    s.push_str(t.as_str());
                }
                Ok(())
            }));
        let mut rewriter = HtmlRewriter::new(settings, |_: &[u8]| {});
        if rewriter.write(html.as_bytes()).is_ok() {
            let _ = rewriter.end();
        }
    }
    let mut refs = out.into_inner();
    css_references(&style_text.into_inner(), &mut refs);
    refs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pixels_hidden_images_links_and_css_are_found() {
        let refs = references(
            r#"<html><head><style>@import url("https://css.example/a.css"); .x{background:url(https://bg.example/b.png)}</style>
            <link rel="stylesheet" href="https://sheet.example/s.css"></head><body>
            <img src="https://a.example/p.gif" width="1" height="1">
            <img src="https://b.example/q.gif" style="display:none">
            <img src="cid:logo@x"><a href="https://c.example/read">read</a>
            <td background="https://d.example/bg.jpg">x</td><div style="background-image:url('https://e.example/e.png')">y</div>"#,
        );
        let kinds: Vec<(RefKind, &str, bool, bool)> =
            refs.iter().map(|r| (r.kind, r.url.as_str(), r.tiny, r.hidden)).collect();
        assert!(kinds.contains(&(RefKind::Image, "https://a.example/p.gif", true, false)));
        assert!(kinds.contains(&(RefKind::Image, "https://b.example/q.gif", false, true)));
        assert!(kinds.contains(&(RefKind::Link, "https://c.example/read", false, false)));
        assert!(kinds.contains(&(RefKind::Stylesheet, "https://sheet.example/s.css", false, false)));
        assert!(kinds.contains(&(RefKind::CssImport, "https://css.example/a.css", false, false)));
        assert!(kinds.contains(&(RefKind::CssUrl, "https://bg.example/b.png", false, false)));
        assert!(kinds.contains(&(RefKind::CssUrl, "https://d.example/bg.jpg", false, false)));
        assert!(kinds.contains(&(RefKind::CssUrl, "https://e.example/e.png", false, false)));
        assert!(!refs.iter().any(|r| r.url.starts_with("cid:")), "embedded images are not remote");
    }

    #[test]
    fn broken_html_does_not_stop_the_scan() {
        let refs =
            references("<img src=\"https://a.example/x.gif\" width=1 <<<>>> <a href='https://b.example/'");
        assert!(refs.iter().any(|r| r.url == "https://a.example/x.gif" && r.tiny));
    }
}
